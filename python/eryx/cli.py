"""The `eryx` command (and `python -m eryx`): run Python in a sandbox.

    eryx FILE [ARGS...]          run a script (sys.argv = [FILE, ARGS...])
    eryx - [ARGS...]             read the script from stdin
    eryx -c CODE [ARGS...]       run CODE (sys.argv = ["-c", ARGS...])
    eryx                         the REPL on a terminal; else code from stdin
    eryx run FILE [ARGS...]      the same as eryx FILE (a file named run: ./run)
    eryx repl                    the REPL (also with piped input)
    eryx mcp [--http HOST:PORT]  an MCP server running code in sandboxes
                                 (eryx/mcp_server.py; `eryx serve` is the same)
    eryx serve --http HOST:PORT  the HTTP API (/v1, MCP at /mcp; eryx/serve/),
                                 sessions shared through --store redis://...

The same flags as the C CLI (cli/main.c) and upstream pyeryx's: --timeout,
--max-memory, --net, --allow-host, -v SRC:DST[:ro|:rw], --json, --version,
plus --package, --secret, --result-var and --runtime DIR (a factory built
with `eryx runtime build` or SandboxFactory.save). Options come before the script;
everything after FILE (or after -c CODE) is the script's own arguments.

Exit status, as the C CLI's: 0 success, 1 the code raised (or had a syntax
error), 2 a usage error, 3 a limit ended the run (timeout, memory, fuel,
callback invocations), 4 Eryx itself failed; sys.exit(n) gives n.
"""

import argparse
import base64
import json
import os
import re
import sys
from typing import List, Optional

EXIT_OK, EXIT_PY_ERROR, EXIT_USAGE, EXIT_LIMIT, EXIT_ERYX = 0, 1, 2, 3, 4

_EPILOG = """\
examples:
  eryx script.py a b               run a file (sys.argv = ['script.py', 'a', 'b'])
  eryx -c 'print(1 + 1)'           run a string
  echo 'print(1 + 1)' | eryx -     read code from stdin
  eryx --timeout 5000 script.py    stop it after 5 s
  eryx --allow-host api.example.com -c '...'   network to that host only
  eryx -v ./in:/input:ro script.py mount a host directory read-only
  eryx mcp                         MCP server over stdio (eryx mcp --help)
  eryx serve --http 127.0.0.1:8000 HTTP API (add --help for its flags)

exit status: 0 ok, 1 Python error, 2 usage, 3 limit reached, 4 Eryx failure;
             sys.exit(n): n
"""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # usage errors exit 2, as python's own
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"eryx: {message}\n")


def _positive_ms(text: str) -> int:
    try:
        v = int(text, 10)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of milliseconds: {text!r}") from None
    if v < 1 or v > 2**32 - 1:
        raise argparse.ArgumentTypeError(f"must be 1 to 4294967295 ms, not {text}")
    return v


_SUFFIX = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
_MIN_MEMORY = 32 << 20  # the runtime itself uses about 17 MiB


def parse_bytes(text: str) -> int:
    """BYTES, or with a K / M / G suffix (powers of 1024): 64M."""
    t = text.strip().upper()
    if t.endswith("B") and len(t) > 1 and t[-2] in "KMG":
        t = t[:-1]
    unit = t[-1:] if t[-1:] in ("K", "M", "G") else ""
    digits = t[:-1] if unit else t
    if not digits.isdigit():
        raise argparse.ArgumentTypeError(f"not a size in bytes (e.g. 67108864 or 64M): {text!r}")
    v = int(digits) * _SUFFIX[unit]
    if v < _MIN_MEMORY:
        raise argparse.ArgumentTypeError(
            f"{text} is too little: the runtime needs at least 32M")
    if v > 1 << 32:
        raise argparse.ArgumentTypeError(f"{text} is more than wasm32's 4G")
    return v


def parse_volume(spec: str):
    """SRC:DST[:ro|:rw] -> (host, guest, read_only); read-only unless :rw."""
    parts = spec.split(":")
    if len(parts) == 3 and parts[2] in ("ro", "rw"):
        return (parts[0], parts[1], parts[2] == "ro")
    if len(parts) == 2 and parts[0] and parts[1]:
        return (parts[0], parts[1], True)
    raise argparse.ArgumentTypeError(f"a volume is SRC:DST[:ro|:rw], not {spec!r}")


def parse_secret(spec: str):
    """NAME=ENVVAR@HOST[,HOST...]: the value comes from the environment
    variable ENVVAR (never from the command line, where `ps` shows it)."""
    name, eq, rest = spec.partition("=")
    var, at, hosts = rest.partition("@")
    if not (name and eq and var and at and hosts):
        raise argparse.ArgumentTypeError(f"--secret wants NAME=ENVVAR@HOST[,HOST...], got {spec!r}")
    value = os.environ.get(var)
    if not value:
        raise argparse.ArgumentTypeError(f"--secret {name}: the environment variable {var} is "
                                         + ("empty" if value == "" else "not set"))
    return name, {"value": value, "allowed_hosts": [h for h in hosts.split(",") if h]}


def build_parser() -> argparse.ArgumentParser:
    from . import __version__
    p = _Parser(prog="eryx", description="Run Python code in an Eryx WebAssembly sandbox.",
                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=_EPILOG)
    p.add_argument("--version", action="version", version=f"eryx {__version__}")
    p.add_argument("-c", metavar="CODE", dest="command", help="run CODE and exit")
    p.add_argument("script", nargs="?", help="a Python file to run ('-': stdin)")
    p.add_argument("args", nargs=argparse.REMAINDER, help="the script's sys.argv[1:]")
    p.add_argument("--json", action="store_true",
                   help="print the result (output, result, error) as one JSON object")
    p.add_argument("--raw-output", action="store_true",
                   help="pass terminal control sequences in the output through (by default, "
                        "on a terminal, they are shown as ^[...)")
    g = p.add_argument_group("limits")
    g.add_argument("--timeout", type=_positive_ms, metavar="MS",
                   help="execution time limit in milliseconds (default 30000)")
    g.add_argument("--max-memory", type=parse_bytes, metavar="BYTES",
                   help="memory limit: bytes, or 64M, 1G (default 128M)")
    g = p.add_argument_group("networking (off by default)")
    g.add_argument("--net", action="store_true", help="allow connections to public hosts")
    g.add_argument("--allow-host", action="append", default=[], metavar="PATTERN",
                   help="allow hosts matching PATTERN (repeatable; implies --net; "
                        "localhost needs naming)")
    g.add_argument("--secret", action="append", default=[], type=parse_secret,
                   metavar="NAME=ENVVAR@HOST[,HOST...]",
                   help="a secret the code can send to HOST but never see (implies --net)")
    g = p.add_argument_group("files and packages")
    g.add_argument("-v", "--volume", action="append", default=[], type=parse_volume,
                   metavar="SRC:DST[:ro|:rw]",
                   help="mount host path SRC at DST (read-only unless :rw)")
    g.add_argument("--package", action="append", default=[], metavar="PATH",
                   help="a .whl, .tar.gz or directory the code can import (repeatable)")
    p.add_argument("--result-var", metavar="NAME", help="variable returned as JSON (default: result)")
    p.add_argument("--runtime", metavar="DIR",
                   help="use the runtime in DIR (from `eryx runtime build` or SandboxFactory.save)")
    return p


def _is_loopback(pattern: str) -> bool:
    host = pattern[1:].split("]")[0] if pattern.startswith("[") else pattern.split(":")[0]
    return host.lower() in ("localhost", "127.0.0.1", "::1")


def _sandbox_kwargs(args) -> dict:
    import eryx
    kw = {}
    if args.timeout is not None or args.max_memory is not None:
        limits = eryx.ResourceLimits()
        if args.timeout is not None:
            limits.execution_timeout_ms = args.timeout
        if args.max_memory is not None:
            limits.max_memory_bytes = args.max_memory
        kw["resource_limits"] = limits
    if args.net or args.allow_host or args.secret:
        net = eryx.NetConfig(allowed_hosts=args.allow_host)
        if any(_is_loopback(h) for h in args.allow_host):
            net.allow_localhost()
        kw["network"] = net
    if args.secret:
        kw["secrets"] = dict(args.secret)
    if args.volume:
        kw["volumes"] = args.volume
    if args.package:
        kw["packages"] = args.package
    if args.result_var is not None:
        kw["result_variable"] = args.result_var
    if args.runtime is not None:
        kw["_runtime"] = eryx.SandboxFactory.load(args.runtime)
    return kw


_CONTROLS = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]|\xc2[\x80-\x9f]")


def _shown(m) -> bytes:
    b = m.group()
    if len(b) == 2:  # a C1 control (U+0080..U+009F), obeyed by some terminals
        return b"\\u%04x" % b[1]
    return b"^?" if b == b"\x7f" else b"^" + bytes([b[0] + 64])


def neutralize(chunk: bytes) -> bytes:
    """Control characters shown as `cat -v` shows them (ESC as ^[), so that
    sandbox output cannot drive the terminal; tab, newline and carriage
    return pass. As the C CLI's forward.c."""
    return _CONTROLS.sub(_shown, chunk)


def _writer(stream, raw: bool = False):
    out = getattr(stream, "buffer", None)
    shown = not raw and stream.isatty()

    def write(chunk: bytes) -> None:
        if shown:
            chunk = neutralize(chunk)
        if out is not None:
            out.write(chunk)
            out.flush()
        else:
            stream.write(chunk.decode("utf-8", "replace"))
            stream.flush()
    return write


def _text_fields(obj: dict, name: str, data: bytes) -> None:
    obj[name] = data.decode("utf-8", "replace")
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        obj[name + "_base64"] = base64.b64encode(data).decode("ascii")


def _json_report(result, error, status: str) -> str:
    """The C CLI's --json object (cli/json_out.h), field for field."""
    r = result if result is not None else getattr(error, "result", None)
    o = {"status": status}
    _text_fields(o, "stdout", r.stdout if r is not None else b"")
    _text_fields(o, "stderr", r.stderr if r is not None else b"")
    o["result"] = r.result if r is not None and status == "ok" else None
    o["result_error"] = r.result_error if r is not None else None
    o["error"] = None if error is None else {
        "type": getattr(error, "error_type", "") or type(error).__name__,
        "message": getattr(error, "message", str(error)),
        "traceback": getattr(error, "traceback", ""), "line": getattr(error, "line", 0)}
    o["exit_code"] = r.exit_code if r is not None else None
    o["duration_ms"] = round(r.duration_ms, 3) if r is not None else 0.0
    o["callback_invocations"] = r.callback_invocations if r is not None else 0
    o["peak_memory_bytes"] = r.peak_memory_bytes if r is not None else 0
    o["fuel_consumed"] = (r.fuel_consumed or 0) if r is not None else 0
    return json.dumps(o, ensure_ascii=False)


def _status_of(exc) -> tuple:
    """(exit status, the --json status name) of what execute() raised."""
    import eryx
    if isinstance(exc, (eryx.TimeoutError, eryx.ResourceLimitError)):
        return EXIT_LIMIT, "limit"
    if isinstance(exc, eryx.CancelledError):
        return EXIT_LIMIT, "cancelled"
    if isinstance(exc, eryx.ExecutionError):
        if exc.error_type in ("Trap", "ProtocolError"):
            return EXIT_ERYX, "internal"
        return EXIT_PY_ERROR, "syntax" if exc.error_type == "SyntaxError" else "exception"
    return EXIT_ERYX, "internal"


def _runtime_kwargs(args) -> Optional[dict]:
    """_sandbox_kwargs, or None when --runtime DIR cannot be loaded (said
    on stderr, naming the directory; as the C CLI: exit 4)."""
    import eryx
    try:
        return _sandbox_kwargs(args)
    except eryx.EryxError as exc:
        print(f"eryx: --runtime {args.runtime}: {exc}", file=sys.stderr)
        return None


def run_once(code: str, argv: List[str], args) -> int:
    import eryx
    kw = _runtime_kwargs(args)
    if kw is None:
        return EXIT_ERYX
    if not args.json:
        kw["on_stdout"] = _writer(sys.stdout, args.raw_output)
        kw["on_stderr"] = _writer(sys.stderr, args.raw_output)
    try:
        sandbox = eryx.Sandbox(argv=argv, **kw)
    except (eryx.InvalidArgumentError, eryx.PackageError, TypeError, ValueError) as exc:
        print(f"eryx: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except eryx.EryxError as exc:
        print(f"eryx: {exc}", file=sys.stderr)
        return EXIT_ERYX
    result, error = None, None
    try:
        result = sandbox.execute(code)
        rc, status = EXIT_OK, "ok"
    except KeyboardInterrupt:
        print("eryx: interrupted", file=sys.stderr)
        return 130
    except eryx.EryxError as exc:
        error = exc
        rc, status = _status_of(exc)
        if not args.json:
            if rc == EXIT_LIMIT:
                print(f"eryx: {getattr(exc, 'error_type', '') or type(exc).__name__}: "
                      f"{getattr(exc, 'message', exc)}", file=sys.stderr)
            elif rc == EXIT_ERYX:
                print(f"eryx: sandbox failure: {exc}", file=sys.stderr)
    r = result if result is not None else getattr(error, "result", None)
    if r is not None and r.exit_code is not None:  # sys.exit(n): n, as python
        rc = r.exit_code
    if args.json:
        print(_json_report(result, error, status))
    return rc


def main(argv: Optional[List[str]] = None) -> int:
    words = sys.argv[1:] if argv is None else list(argv)
    # Subcommands come first (`./mcp` runs a file of that name).
    if words and words[0] == "serve" and any(w == "--http" or w.startswith("--http=")
                                             for w in words[1:]):
        from .serve import main as serve_main  # the HTTP API (eryx/serve/)
        return serve_main(words[1:], prog="eryx serve")
    if words and words[0] in ("mcp", "serve"):
        from .mcp_server import main as mcp_main
        return mcp_main(words[1:], prog=f"eryx {words[0]}")
    parser = build_parser()
    args = parser.parse_args(words)
    repl = False
    if args.command is None and args.script in ("run", "repl"):  # the C CLI's words
        if args.script == "repl":  # options may follow it: parse again without it
            i = len(words) - len(args.args) - 1
            args = parser.parse_args(words[:i] + words[i + 1:])
            if args.script is not None or args.command is not None:
                parser.error("eryx repl takes the sandbox options only (no script or -c)")
            repl = True
        elif not args.args:
            parser.error("run needs a FILE")
        else:
            args.script, args.args = args.args[0], args.args[1:]
    if repl or (args.command is None and args.script is None and sys.stdin.isatty()):
        if args.json or args.result_var is not None:
            parser.error("the REPL echoes values; --json and --result-var are for a script")
        from .repl import run_repl
        kwargs = _runtime_kwargs(args)
        if kwargs is None:
            return EXIT_ERYX
        return run_repl(kwargs, raw_output=args.raw_output)
    if args.command is not None:
        code, script_argv = args.command, ["-c"] + ([args.script] if args.script else []) + args.args
    elif args.script is not None:
        script_argv = [args.script] + args.args
        if args.script == "-":
            code = sys.stdin.read()
        else:
            try:
                with open(args.script, encoding="utf-8") as f:
                    code = f.read()
            except (OSError, UnicodeDecodeError) as exc:
                print(f"eryx: {args.script}: {getattr(exc, 'strerror', None) or exc}",
                      file=sys.stderr)
                return EXIT_USAGE
    else:
        code, script_argv = sys.stdin.read(), ["-"]
    return run_once(code, script_argv, args)


if __name__ == "__main__":
    sys.exit(main())
