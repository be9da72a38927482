"""Running one piece of user code and describing what happened.

The host calls `execute` through the WIT export; this module turns the code
string into an `Outcome`: captured output, the JSON of the result variable,
and for failures the exception type, message, user-facing traceback and line.
Nothing here may let an exception escape: an exception crossing the export
would trap the whole instance.
"""

import ast
import asyncio
import builtins
import gc
import inspect
import itertools
import json
import linecache
import sys
import traceback
import types

from . import callbacks, capture, snapshot, text, trace
from .capture import CaptureWriter, OutputBudget
from .loop import SandboxEventLoop

FILENAME = "<sandbox>"

STATUS_OK = 0
STATUS_SYNTAX = 1
STATUS_EXCEPTION = 2
STATUS_INTERNAL = 3
STATUS_LIMIT = 4  # an uncaught MemoryError: the memory cap was reached

# The host refuses JSON nested deeper than this (src/json.c); the guest
# checks it before json.dumps, whose C recursion would exhaust the wasm
# stack long before Python's recursion limit (a trap, not an error).
MAX_RESULT_DEPTH = 127  # serde_json on the host allows 127

# Taken now, so that user code rebinding the builtin name changes nothing.
_MemoryError = MemoryError

_COMPILE_FLAGS = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT


class Report:
    """Plain fields of an outcome; converted to the WIT record by the caller."""

    __slots__ = ("status", "stdout", "stderr", "result_json", "result_error",
                 "error_type", "error_message", "traceback", "error_line",
                 "output_truncated", "exit_code")

    def __init__(self):
        self.status = STATUS_OK
        self.stdout = ""
        self.stderr = ""
        self.result_json = None
        self.result_error = None
        self.error_type = ""
        self.error_message = ""
        self.traceback = ""
        self.error_line = 0
        self.output_truncated = False
        self.exit_code = None  # 0..255 when the code raised SystemExit


class Runner:
    """Per-instance state: one event loop, created on first use."""

    def __init__(self, emit_output):
        self._emit_output = emit_output
        self._loop = None
        self._session = None  # the session's __main__ module, kept between runs
        self._bound = {}      # names the runtime put in the session namespace

    def _event_loop(self):
        # Creating a loop costs more than a small script: keep one per instance.
        if self._loop is None:
            self._loop = SandboxEventLoop()
            asyncio.set_event_loop(self._loop)
        return self._loop

    def _main_module(self, persistent, clear_first):
        """The user's code runs in a real `__main__` module, so that pickle
        and dill treat what it defines as __main__'s."""
        if persistent and self._session is not None and not clear_first:
            module = self._session
        else:
            module = types.ModuleType("__main__")
            module.__builtins__ = builtins
            if persistent:
                self._session = module
        sys.modules["__main__"] = module
        return module

    def session(self):
        if self._session is None:
            self._main_module(True, False)
            self._bound = callbacks.registry.bind(self._session.__dict__)
        sys.modules["__main__"] = self._session
        return self._session

    def snapshot(self, skip):
        return snapshot.take(self.session(), self._bound, skip)

    def restore(self, text):
        module = self.session()
        values = snapshot.load(text, module)  # raises before any change
        namespace = module.__dict__
        for name in list(snapshot.user_variables(namespace, self._bound)):
            del namespace[name]
        namespace.update(values)

    def warm_up(self):
        """One run() of a small script, minus everything that would call the
        host (callback bindings, libraries; the script prints nothing): the
        pages a run writes become private now, in the pool's thread, instead
        of during a sandbox's first execution (see the `warm-up` export)."""
        self.run("x = [i * 2 for i in range(50)]\nresult = {'k': x, 's': str(x)}",
                 "result", False, 1 << 20, host_calls=False)

    def run(self, code, result_variable, stream, max_output, tracing=False,
            persistent=False, clear_first=False, echo=False, host_calls=True):
        report = Report()
        budget = OutputBudget(max_output)
        out = CaptureWriter(1, budget, self._emit_output, stream)
        err = CaptureWriter(2, budget, self._emit_output, stream)
        saved = sys.stdout, sys.stderr
        sys.stdout, sys.stderr = out, err
        capture.activate(out, err)
        try:
            namespace = self._main_module(persistent, clear_first).__dict__
            bound = callbacks.registry.bind(namespace) if host_calls else {}
            if persistent:
                self._bound = bound
            self._run_into(code, namespace, report, err, tracing, echo, host_calls)
            if report.status == STATUS_OK and result_variable:
                _capture_result(namespace, result_variable, report)
            if persistent and result_variable:
                # Consumed: a later run that does not set it reports no
                # result rather than this one's again.
                namespace.pop(result_variable, None)
        except BaseException as exc:  # noqa: BLE001 - must never escape
            report.status = (STATUS_LIMIT if isinstance(exc, _MemoryError)
                             else STATUS_INTERNAL)
            report.error_type = type(exc).__name__
            report.error_message = _safe_str(exc)
        finally:
            callbacks.pending.clear()  # the host cancels what is in flight
            sys.stdout, sys.stderr = saved
            capture.deactivate()
            _flush_std_fds()
            report.stdout = out.remainder()
            report.stderr = err.remainder()
            report.output_truncated = budget.truncated
        return report

    def _run_into(self, code, namespace, report, err, tracing=False, echo=False,
                  host_calls=True):
        try:
            if host_calls:
                callbacks.registry.install_libraries()
        except BaseException as exc:  # noqa: BLE001 - a broken library
            _describe_error(exc, report, STATUS_EXCEPTION, err, user_only=False)
            return
        _register_source(code)
        try:
            source = _with_echo(code) if echo else code
            compiled = compile(source, FILENAME, "exec", flags=_COMPILE_FLAGS,
                               dont_inherit=True)
        except (SyntaxError, ValueError) as exc:
            _describe_error(exc, report, STATUS_SYNTAX, err)
            return
        if tracing:
            trace.start()
        try:
            value = eval(compiled, namespace)
            if inspect.iscoroutine(value):
                self._event_loop().run_until_complete(value)
            if echo:
                _echo_last(namespace)
        except SystemExit as exc:
            _describe_exit(exc, report, err)
        except BaseException as exc:  # noqa: BLE001
            status = STATUS_LIMIT if isinstance(exc, _MemoryError) else STATUS_EXCEPTION
            try:
                _describe_error(exc, report, status, err)
            except BaseException:  # noqa: BLE001 - e.g. no memory left to format it
                report.status = status
                report.error_type = type(exc).__name__
                report.error_message = _safe_str(exc)
        finally:
            if tracing:
                trace.stop()


_LAST = "__eryx_last_value__"


def _with_echo(code):
    """Like the interactive prompt: a final expression statement's value is
    kept (and printed by _echo_last). Returns an AST, or `code` unchanged."""
    tree = ast.parse(code, FILENAME, "exec")
    if tree.body and isinstance(tree.body[-1], ast.Expr):
        last = tree.body[-1]
        assign = ast.Assign(targets=[ast.Name(_LAST, ast.Store())], value=last.value)
        tree.body[-1] = ast.copy_location(assign, last)
        ast.fix_missing_locations(tree)
        return tree
    return code


def _echo_last(namespace):
    if _LAST in namespace:
        value = namespace.pop(_LAST)
        if value is not None:
            namespace["_"] = value
            print(repr(value))


def _flush_std_fds():
    """Text written to sys.__stdout__ is buffered in the guest: push it to
    the host now, or it would be lost with the instance."""
    for stream in (sys.__stdout__, sys.__stderr__):
        try:
            stream.flush()
        except BaseException:  # noqa: BLE001
            pass


def _register_source(code):
    """Let tracebacks show the user's source lines."""
    lines = code.splitlines(keepends=True)
    linecache.cache[FILENAME] = (len(code), None, lines, FILENAME)


def _user_frames(tb):
    """Skip the runtime's own frames: the traceback starts at user code."""
    while tb is not None and tb.tb_frame.f_code.co_filename != FILENAME:
        tb = tb.tb_next
    return tb


def _describe_error(exc, report, status, err, user_only=True):
    report.status = status
    report.error_type = type(exc).__name__
    report.error_message = _safe_str(exc)
    if isinstance(exc, SyntaxError):
        report.error_line = exc.lineno or 0
        exc.__traceback__ = None
        text = "".join(traceback.format_exception_only(exc))
        report.traceback = text
    else:
        tb = _user_frames(exc.__traceback__) if user_only else exc.__traceback__
        exc.__traceback__ = tb
        frames = traceback.extract_tb(tb) if tb is not None else []
        for frame in reversed(frames):
            if frame.filename == FILENAME:
                report.error_line = frame.lineno or 0
                break
        report.traceback = "".join(traceback.format_exception(exc))
    # Like CPython, an uncaught exception is also printed to stderr.
    err.write(report.traceback)


def _exit_status(code):
    """The process exit status CPython gives `sys.exit(code)`, kept within
    0..255: None is 0, an int is itself (out of range: 255, so that a
    failure never reads as success), anything else is 1."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code if 0 <= code <= 255 else 255
    return 1


def _describe_exit(exc, report, err):
    """sys.exit() as CPython's interpreter treats it: no traceback; 0 is
    success; a code that is not an int is printed to stderr (status 1)."""
    code = exc.code
    report.exit_code = _exit_status(code)
    if report.exit_code == 0:
        return
    report.status = STATUS_EXCEPTION
    report.error_type = type(exc).__name__
    report.error_message = _safe_str(code)
    for frame in reversed(traceback.extract_tb(_user_frames(exc.__traceback__))):
        if frame.filename == FILENAME:
            report.error_line = frame.lineno or 0
            break
    if code is not None and not isinstance(code, int):
        err.write(report.error_message + "\n")


_CONTAINERS = (list, tuple, dict)  # what json's encoder descends into
_EXACT = frozenset(_CONTAINERS)


def _containers_among(objs):
    """The lists, tuples and dicts (or subclasses) among `objs`, found by C
    loops: no Python code runs per object."""
    types = list(map(type, objs))
    kinds = {t for t in set(types) if issubclass(t, _CONTAINERS)}
    if not kinds:
        return []
    return list(itertools.compress(objs, map(kinds.__contains__, types)))


def _next_level(level):
    """The containers one level below those of `level`, each once."""
    if set(map(type, level)) <= _EXACT:
        refs = gc.get_referents(*level)  # items, dict keys and values
    else:
        exact = list(itertools.compress(level, map(_EXACT.__contains__, map(type, level))))
        refs = gc.get_referents(*exact) if exact else []
        for c in level:  # subclasses, walked as json's encoder walks them
            if type(c) in _EXACT:
                continue
            if isinstance(c, dict):
                refs.extend(v for _, v in c.items())
            else:
                refs.extend((list if isinstance(c, list) else tuple).__iter__(c))
    kids = _containers_among(refs)
    if len(set(map(id, kids))) < len(kids):  # shared: keep each once
        kids = list(dict(zip(map(id, kids), kids)).values())
    return kids


def _cycle_or_depth(value, limit):
    """Why `value` (known to be nested more than `limit` levels when its
    shared parts are followed) cannot be encoded: a depth-first walk that
    tells a circular reference from real depth."""
    def children(v):
        if isinstance(v, dict):
            vals = v.values() if type(v) is dict else [i[1] for i in v.items()]
        else:
            vals = v
        return [c for c in vals if isinstance(c, _CONTAINERS)]

    on_path = {id(value)}
    stack = [(value, iter(children(value)))]
    while stack:
        child = next(stack[-1][1], None)
        if child is None:
            on_path.discard(id(stack.pop()[0]))
            continue
        if id(child) in on_path:
            return "it contains a circular reference"
        if len(stack) >= limit:
            break
        on_path.add(id(child))
        stack.append((child, iter(children(child))))
    return f"it is nested more than {limit} levels deep"


def _nesting_problem(value, limit):
    """Why json.dumps cannot take `value` because of its shape (nested
    deeper than `limit`, or circular), or None. Level by level, without
    recursion: json's C encoder recurses on the wasm stack, which a deep
    value exhausts (a trap) before any RecursionError."""
    if not isinstance(value, _CONTAINERS):
        return None
    level = [value]
    for _ in range(limit):
        level = _next_level(level)
        if not level:
            return None
    return _cycle_or_depth(value, limit)


def _capture_result(namespace, name, report):
    if name not in namespace:
        return
    value = namespace[name]
    try:
        problem = _nesting_problem(value, MAX_RESULT_DEPTH)
        if problem is None:
            encoded = json.dumps(value, ensure_ascii=False, allow_nan=False)
            if type(encoded) is not str:  # json.dumps replaced by user code
                raise TypeError(f"json.dumps gave {type(encoded).__name__}, not str")
            at = text.surrogate_at(encoded)
            if at < 0:
                report.result_json = encoded
                return
            problem = (f"it contains a lone surrogate ({encoded[at]!r}), "
                       f"which is not valid Unicode text")
        report.result_error = f"result variable {name!r} is not JSON-serializable: {problem}"
    except BaseException as exc:  # noqa: BLE001
        report.result_error = (f"result variable {name!r} is not JSON-serializable: "
                               f"{type(exc).__name__}: {_safe_str(exc)}")


def _safe_str(exc):
    try:
        return str(exc)
    except BaseException:  # noqa: BLE001
        return f"<unprintable {type(exc).__name__}>"
