"""The `eryx` REPL: a Session driven line by line from a terminal.

Line editing and history come from the host's `readline` module (GNU
readline or libedit, whichever CPython was built with) when it is there.
Input is collected until it is a complete statement, judged by the host's
`codeop` (as CPython's own REPL does), so an open bracket or an indented
block waits for more lines and a syntax error is reported at once instead
of leaving the prompt stuck in `...`; the sandbox's compiler has the last
word. Ctrl-C clears the line (or stops the running code), Ctrl-D or
exit() / quit() leaves. Tab completes names of the session's namespace and
builtins.

CPython's readline module looks at signals only when its wait for a key
is interrupted, so a Ctrl-C arriving in the instant between the prompt
being drawn and that wait starting is acted on at the next key; the C
CLI's REPL (cli/editor.c) has no such window.
"""

import codeop
import sys

_BANNER = 'Eryx {version} (sandboxed CPython 3.14; WebAssembly)\nType "exit()" or Ctrl-D to quit.'


def _complete_names(session, prefix: str):
    code = ("import builtins as _b\n"
            f"result = sorted(n for n in set(dir()) | set(dir(_b)) if n.startswith({prefix!r}) "
            "and not n.startswith('_'))\n"
            "del _b")
    try:
        return session.execute(code).result or []
    except Exception:  # noqa: BLE001 - completion must never break the prompt
        return []


def _install_readline(session) -> None:
    try:
        import readline
    except ImportError:
        return
    matches = []

    def complete(text, state):
        nonlocal matches
        if state == 0:
            matches = _complete_names(session, text) if text.isidentifier() or not text else []
        return matches[state] if state < len(matches) else None
    readline.set_completer(complete)
    readline.set_completer_delims(" \t\n`~!@#$%^&*()-=+[{]}\\|;:'\",<>/?")
    if "libedit" in (readline.__doc__ or ""):
        readline.parse_and_bind("bind ^I rl_complete")
    else:
        readline.parse_and_bind("tab: complete")


def _complete(source: str) -> bool:
    """True when `source` should run now (complete, or an error the
    sandbox will report); False when more lines are needed."""
    try:
        return codeop.compile_command(source, "<stdin>", "single") is not None
    except (SyntaxError, OverflowError, ValueError):
        return True


def run_repl(kwargs: dict, raw_output: bool = False) -> int:
    import eryx
    from .cli import _writer
    write_out, write_err = _writer(sys.stdout, raw_output), _writer(sys.stderr, raw_output)
    limits = kwargs.pop("resource_limits", None)
    try:
        session = eryx.Session(resource_limits=limits, on_stdout=write_out,
                               on_stderr=write_err, _echo=True, **kwargs)
    except (eryx.InvalidArgumentError, eryx.PackageError, TypeError, ValueError) as exc:
        print(f"eryx: {exc}", file=sys.stderr)
        return 2
    except eryx.EryxError as exc:
        print(f"eryx: {exc}", file=sys.stderr)
        return 4
    _install_readline(session)
    tty = sys.stdin.isatty()
    if tty:  # piped input gets no banner or prompts, as the C CLI's REPL
        print(_BANNER.format(version=eryx.__version__))
    lines = []
    ended = False
    while not ended:
        try:
            line = input(("... " if lines else ">>> ") if tty else "")
        except EOFError:
            if tty:
                print()
            if not lines:
                return 0
            ended, line = True, ""  # input ended inside a block: run what there is
        except KeyboardInterrupt:
            print("\nKeyboardInterrupt")
            lines.clear()
            continue
        lines.append(line)
        source = "\n".join(lines)
        if not ended and not _complete(source):
            continue
        lines.clear()
        if not source.strip():
            continue
        try:
            r = session.execute(source)
        except KeyboardInterrupt:
            print("\nKeyboardInterrupt", file=sys.stderr)
            continue
        except eryx.EryxError as exc:
            r = getattr(exc, "result", None)
            if r is None or r.exit_code is None:
                if isinstance(exc, (eryx.TimeoutError, eryx.ResourceLimitError,
                                    eryx.CancelledError)):
                    print(f"{type(exc).__name__}: {exc} (the session starts over)",
                          file=sys.stderr)
                continue
        if r.exit_code is not None:
            return r.exit_code
    return 0
