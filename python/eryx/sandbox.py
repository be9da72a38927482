"""Sandbox and Session: Python code run in a WebAssembly sandbox.

Both are thin owners of an `_eryx.Sandbox`. execute() releases the GIL
while the code runs, so threads can run different sandboxes at once. In
the main thread, Ctrl-C during execute() cancels the run and then raises
KeyboardInterrupt (python/src/interrupt.c arranges it).
"""

import asyncio
import concurrent.futures
import dataclasses
import json
import os
import _signal
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Sequence

from . import _eryx
from .callbacks import Dispatcher, normalize
from .errors import (CancelledError, ExecutionError, ResourceLimitError, TimeoutError,
                     from_native)
from .limits import _U64_MAX, ResourceLimits
from .net import NetConfig
from .result import (STATUS_CANCELLED, STATUS_LIMIT, STATUS_OK, STATUS_SUSPENDED,
                     ExecuteResult, trace_adapter)
from .replay import ReplayOutcome, SuspendedCallback, check_key, journal_text
from .vfs import VfsStorage

_RUNTIME_DIR = os.environ.get("ERYX_RUNTIME_DIR") or os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "runtime")
_loaded = False
_load_lock = threading.Lock()

# Exceptions inside the sandbox that mean a limit was hit.
_LIMIT_TYPES = {"MemoryError", "CallbackLimitError", "FuelExhausted"}


def _load_runtime():
    global _loaded
    if _loaded:
        return
    with _load_lock:
        if not _loaded:
            try:
                _eryx.load_runtime(_RUNTIME_DIR)
            except _eryx.Error as exc:
                raise from_native(exc) from None
            _loaded = True


def _result_from(t, counts_fuel: bool = False) -> ExecuteResult:
    r = _plain_result(t, counts_fuel)
    _raise_for(t, r)
    return r


def _plain_result(t, counts_fuel: bool) -> ExecuteResult:
    (status, out, err, rjson, rerr, etype, emsg, tb, line, dur, calls, peak, fuel,
     trunc, exit_code, sent, received, conns) = t[:18]
    return ExecuteResult(out, err, rjson, rerr, dur, calls, peak,
                         fuel if counts_fuel else None, trunc, exit_code, sent, received,
                         conns)


def _error_for(t, r: ExecuteResult):
    """The exception execute() raises for this outcome (None: success)."""
    status, etype, emsg, tb, line = t[0], t[5], t[6], t[7], t[8]
    if status == STATUS_OK:
        return None
    if status == STATUS_SUSPENDED:
        return ExecutionError(emsg or "a callback suspended the execution",
                              error_type="Suspended", result=r)
    if status == STATUS_CANCELLED:
        return CancelledError(emsg or "the execution was cancelled", result=r)
    if status == STATUS_LIMIT and etype == "TimeoutError":
        return TimeoutError(emsg or "the execution timed out", result=r)
    cls = ResourceLimitError if (status == STATUS_LIMIT or etype in _LIMIT_TYPES) \
        else ExecutionError
    return cls(emsg, error_type=etype, traceback=tb, line=line, result=r)


def _raise_for(t, r: ExecuteResult) -> None:
    exc = _error_for(t, r)
    if exc is not None:
        raise exc


def _native_extra(count_fuel, argv) -> dict:
    """Keywords of the extension that are only passed when used."""
    extra = {}
    if count_fuel:
        extra["count_fuel"] = True
    if argv is not None:
        if isinstance(argv, (str, bytes)) or not all(isinstance(a, str) for a in argv):
            raise TypeError("argv must be a list of str (sys.argv inside the sandbox)")
        if argv:
            extra["argv"] = list(argv)
    return extra


def _interruptible() -> bool:
    # _signal.getsignal, not signal.getsignal: the latter wraps the answer
    # in an enum, which took a tenth of a warm session's execute.
    return (threading.current_thread() is threading.main_thread()
            and _signal.getsignal(_signal.SIGINT) is _signal.default_int_handler)


class Execution:
    """A running execution (from `execute_async`): wait for it with
    `result()` or `await`, stop it with `cancel()`."""

    def __init__(self, owner, code: str):
        self._owner = owner
        self._future: concurrent.futures.Future = concurrent.futures.Future()
        self._started = False
        self._cancel_requested = False
        self._thread = threading.Thread(target=self._run, args=(code,), daemon=True,
                                        name="eryx-execution")
        self._thread.start()

    def _run(self, code):
        if not self._future.set_running_or_notify_cancel():
            return
        # Set before the check: a cancel() that finds us not started knows
        # the check below will see its request.
        self._started = True
        try:
            if self._cancel_requested:
                raise CancelledError("the execution was cancelled before it started")
            self._future.set_result(self._owner._run(code))
        except BaseException as exc:  # noqa: BLE001 - handed to the waiter
            self._future.set_exception(exc)

    def cancel(self) -> bool:
        """Stops the execution, also one that has not quite started yet; it
        then ends with eryx.CancelledError. Returns False if it had ended."""
        self._cancel_requested = True
        deadline = time.monotonic() + 5.0
        while not self._future.done():
            if not self._started or self._owner._native.cancel():
                return True
            # Started but not yet inside the sandbox: try again shortly.
            if time.monotonic() > deadline:
                return False
            time.sleep(0.0005)
        return False

    def done(self) -> bool:
        return self._future.done()

    def result(self, timeout: Optional[float] = None) -> ExecuteResult:
        return self._future.result(timeout)

    def __await__(self):
        return self._wait().__await__()

    async def _wait(self):
        try:
            return await asyncio.wrap_future(self._future)
        except asyncio.CancelledError:
            self.cancel()
            raise


def _normalize_secrets(secrets):
    """{"NAME": {"value": str, "allowed_hosts": [str, ...]}} (upstream's
    shape) into (name, value, hosts) tuples; the host checks the rest."""
    if secrets is None:
        return None
    if not isinstance(secrets, dict):
        raise TypeError("secrets must be a dict of name -> {'value': ..., 'allowed_hosts': [...]}")
    out = []
    for name, spec in secrets.items():
        if not isinstance(name, str):
            raise TypeError("secret names must be str")
        if isinstance(spec, str):
            spec = {"value": spec}
        if not isinstance(spec, dict):
            raise TypeError(f"secret {name!r} must be a dict with 'value' and 'allowed_hosts'")
        unknown = set(spec) - {"value", "allowed_hosts"}
        if unknown:
            raise TypeError(f"secret {name!r}: unknown keys {sorted(unknown)}")
        value = spec.get("value")
        if not isinstance(value, str):
            raise TypeError(f"secret {name!r}: 'value' must be a str")
        hosts = spec.get("allowed_hosts") or []
        if isinstance(hosts, str) or not all(isinstance(h, str) for h in hosts):
            raise TypeError(f"secret {name!r}: 'allowed_hosts' must be a list of str")
        out.append((name, value, list(hosts)))
    return out


def _package_paths(packages, site_packages):
    """site_packages first, then packages, as host path strings."""
    if isinstance(packages, (str, bytes, os.PathLike)):
        raise TypeError("packages must be a list of paths, not one path")
    paths = [] if site_packages is None else [site_packages]
    paths += list(packages or [])
    out = []
    for p in paths:
        p = os.fspath(p)
        if isinstance(p, bytes):
            p = os.fsdecode(p)
        out.append(p)
    return out or None


def _normalize_volumes(volumes):
    """[(host, guest, read_only), ...] (upstream's shape; read_only may be
    left out: True) into (host, guest, writable) tuples."""
    if volumes is None:
        return None
    if isinstance(volumes, (str, bytes, tuple)):
        raise TypeError("volumes must be a list of (host_path, guest_path, read_only)")
    out = []
    for v in volumes:
        if not isinstance(v, (tuple, list)) or len(v) not in (2, 3):
            raise TypeError("each volume must be (host_path, guest_path[, read_only])")
        host, guest = os.fsdecode(os.fspath(v[0])), v[1]
        read_only = v[2] if len(v) == 3 else True
        if not isinstance(guest, str) or not isinstance(read_only, bool):
            raise TypeError("a volume's guest_path must be a str and read_only a bool")
        out.append((host, guest, not read_only))
    return out


class _Base:
    _native: Any

    def _setup(self, *, session, limits, callbacks, on_stdout, on_stderr, on_trace,
               result_variable, vfs, vfs_mount_path, network=None, timeout_override=None,
               secrets=None, scrub_stdout=True, scrub_stderr=True, scrub_result=True,
               scrub_files=True, packages=None, site_packages=None, runtime=None,
               volumes=None, count_fuel=False, echo=False, argv=None, mcp=None):
        # `runtime`: a SandboxFactory, kept alive as long as this sandbox
        # (its directory holds the package trees instances mount).
        self._factory = runtime
        if runtime is None:
            _load_runtime()
        else:
            runtime = runtime._runtime
        if limits is None:
            limits = ResourceLimits()
        elif not isinstance(limits, ResourceLimits):
            raise TypeError("resource_limits must be an eryx.ResourceLimits")
        native = limits._native()
        self._limits = limits
        self._counts_fuel = bool(count_fuel) or limits.max_fuel is not None
        if timeout_override is not None:
            native["timeout_ms"] = ResourceLimits(execution_timeout_ms=timeout_override) \
                ._native()["timeout_ms"]
        for name, fn in (("on_stdout", on_stdout), ("on_stderr", on_stderr),
                         ("on_trace", on_trace)):
            if fn is not None and not callable(fn):
                raise TypeError(f"{name} must be callable")
        if network is not None and not isinstance(network, NetConfig):
            raise TypeError("network must be an eryx.NetConfig or None")
        if vfs is not None and not isinstance(vfs, VfsStorage):
            raise TypeError("vfs must be an eryx.VfsStorage")
        if vfs_mount_path is not None and vfs is None:
            raise ValueError("vfs_mount_path needs a vfs")
        if result_variable is not None and not isinstance(result_variable, str):
            raise TypeError("result_variable must be a str")
        cbs = normalize(callbacks)
        if mcp is not None:  # an eryx.mcp.MCPManager: its servers' tools as callbacks
            if not hasattr(mcp, "callbacks") or not hasattr(mcp, "server_names"):
                raise TypeError("mcp must be an eryx.mcp.MCPManager")
            cbs = normalize(cbs + mcp.callbacks())
        self._mcp = mcp
        self._callbacks = cbs
        self._vfs = vfs
        try:
            self._native = _eryx.Sandbox(
                session=session, **native,
                callbacks=[cb._native() for cb in cbs] if cbs else None,
                dispatch=Dispatcher(cbs) if cbs else None,
                on_stdout=on_stdout, on_stderr=on_stderr,
                on_trace=trace_adapter(on_trace) if on_trace else None,
                result_variable=result_variable,
                vfs=vfs._native if vfs is not None else None,
                vfs_mount_path=vfs_mount_path,
                network=network._native() if network is not None else None,
                secrets=_normalize_secrets(secrets),
                scrub_stdout=bool(scrub_stdout), scrub_stderr=bool(scrub_stderr),
                scrub_result=bool(scrub_result), scrub_files=bool(scrub_files),
                packages=_package_paths(packages, site_packages),
                runtime=runtime, volumes=_normalize_volumes(volumes), echo=bool(echo),
                **_native_extra(count_fuel, argv))
        except _eryx.Error as exc:
            raise from_native(exc) from None

    def _run(self, code: str, interruptible: bool = False) -> ExecuteResult:
        if not isinstance(code, str):
            raise TypeError(f"code must be a str, not {type(code).__name__}")
        try:
            t = self._native.execute(code, interruptible)
        except _eryx.Error as exc:
            raise from_native(exc) from None
        return _result_from(t, self._counts_fuel)

    def execute(self, code: str) -> ExecuteResult:
        """Runs `code` and returns its output and statistics. Raises
        ExecutionError (the code failed), TimeoutError, ResourceLimitError or
        CancelledError; all are EryxError."""
        return self._run(code, _interruptible())

    def execute_with_journal(self, code: str, journal: Any = None, *,
                             key: Optional[bytes] = None) -> ReplayOutcome:
        """Runs `code` like execute(), recording the callback calls answered
        in a journal, and answering from `journal` (a ReplayOutcome.journal
        of an earlier run, maybe of another process) the calls that match
        it. Does not raise for the code's failures: the outcome carries the
        error, the journal and what suspended (see eryx.replay). `key`:
        sign the new journal and accept only a journal signed with it for
        this code. A journal that is refused raises JournalError (a
        ValueError) before any code runs."""
        if not isinstance(code, str):
            raise TypeError(f"code must be a str, not {type(code).__name__}")
        text, k = journal_text(journal), check_key(key)
        try:
            t = self._native.execute_journal(code, _interruptible(), text, k)
        except _eryx.Error as exc:
            raise from_native(exc) from None
        r = _plain_result(t, self._counts_fuel)
        err = _error_for(t, r)
        jtext, replayed, sname, sargs, sreason = t[18:23]
        suspended = SuspendedCallback(sname, sargs or "{}", sreason or "") \
            if sname is not None else None
        return ReplayOutcome(None if err is not None else r, err,
                             json.loads(jtext) if jtext else {}, replayed, suspended)

    def execute_async(self, code: str) -> Execution:
        """Starts `code` in the background and returns its Execution handle
        (cancel(), result(), or `await` it)."""
        return Execution(self, code)

    def cancel(self) -> bool:
        """Stops the running execution (from any thread); returns True if
        one was running."""
        return bool(self._native.cancel())

    @property
    def callbacks(self) -> List[Any]:
        return list(self._callbacks)

    def _repr_fields(self) -> str:
        limits = getattr(self, "_limits", None)
        parts = [f"resource_limits={limits!r}"] if limits is not None else []
        cbs = getattr(self, "_callbacks", [])
        if cbs:
            parts.append(f"callbacks=[{', '.join(cb.name for cb in cbs)}]")
        return ", ".join(parts)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._repr_fields()})"


class Sandbox(_Base):
    """An isolated CPython: every execute() starts from a clean state.

    Keyword arguments: resource_limits (ResourceLimits), callbacks (a
    CallbackRegistry or a list of {"name", "fn", "description"?,
    "schema"?}), on_stdout / on_stderr (called with the bytes as they are written),
    on_trace (called with TraceEvents of the user's code), result_variable
    (the variable returned as `result`; default "result"), vfs /
    vfs_mount_path (file storage mounted at /data by default), network (a
    NetConfig: networking is off without one), secrets ({"NAME": {"value":
    ..., "allowed_hosts": [...]}}: the code sees os.environ["NAME"] as a
    placeholder, the host puts the value in HTTP headers to those hosts
    only), scrub_stdout / scrub_stderr / scrub_result / scrub_files (replace
    secrets by "[REDACTED]" there; all True by default), packages (paths of
    .whl, .tar.gz/.tgz or directories the code can import; see README
    "Packages") and site_packages (a directory of installed packages, put
    on sys.path first), volumes ([(host_path, guest_path, read_only)]: host
    directories or files mounted where you say; see README "Volumes"), mcp
    (an eryx.mcp.MCPManager: its servers' tools become callbacks,
    `await mcp["server"].tool(...)`; see eryx/mcp.py).
    """

    def __init__(self, *, resource_limits: Optional[ResourceLimits] = None,
                 network: Any = None, callbacks: Any = None,
                 on_stdout: Optional[Callable[[bytes], Any]] = None,
                 on_stderr: Optional[Callable[[bytes], Any]] = None,
                 result_variable: Optional[str] = None,
                 on_trace: Optional[Callable[[Any], Any]] = None,
                 vfs: Optional[VfsStorage] = None,
                 vfs_mount_path: Optional[str] = None,
                 secrets: Optional[Dict[str, Any]] = None,
                 scrub_stdout: bool = True, scrub_stderr: bool = True,
                 scrub_result: bool = True, scrub_files: bool = True,
                 packages: Optional[Sequence[Any]] = None,
                 site_packages: Any = None, volumes: Optional[Sequence[Any]] = None,
                 count_fuel: bool = False, argv: Optional[Sequence[str]] = None,
                 mcp: Any = None, _runtime: Any = None) -> None:
        self._setup(session=False, limits=resource_limits, callbacks=callbacks,
                    on_stdout=on_stdout, on_stderr=on_stderr, on_trace=on_trace,
                    result_variable=result_variable, vfs=vfs,
                    vfs_mount_path=vfs_mount_path, network=network, secrets=secrets,
                    scrub_stdout=scrub_stdout, scrub_stderr=scrub_stderr,
                    scrub_result=scrub_result, scrub_files=scrub_files,
                    packages=packages, site_packages=site_packages, runtime=_runtime,
                    volumes=volumes, count_fuel=count_fuel, argv=argv, mcp=mcp)


class Session(_Base):
    """A sandbox whose Python state (variables, functions, classes, imports)
    persists across execute() calls, with snapshots.

    `execution_timeout_ms` limits each execute(); None (as in upstream
    Eryx) means no timeout, unless `resource_limits` sets one. It can be
    changed later through the property of the same name. The other keywords
    are Sandbox's. The result variable is consumed by each execute(), so a
    later run that does not set it has `result` None.
    """

    def __init__(self, *, execution_timeout_ms: Optional[int] = None,
                 max_fuel: Optional[int] = None,
                 callbacks: Any = None,
                 on_stdout: Optional[Callable[[bytes], Any]] = None,
                 on_stderr: Optional[Callable[[bytes], Any]] = None,
                 result_variable: Optional[str] = None,
                 vfs: Optional[VfsStorage] = None,
                 vfs_mount_path: Optional[str] = None,
                 resource_limits: Optional[ResourceLimits] = None,
                 on_trace: Optional[Callable[[Any], Any]] = None,
                 network: Optional[NetConfig] = None,
                 secrets: Optional[Dict[str, Any]] = None,
                 scrub_stdout: bool = True, scrub_stderr: bool = True,
                 scrub_result: bool = True, scrub_files: bool = True,
                 packages: Optional[Sequence[Any]] = None,
                 site_packages: Any = None, volumes: Optional[Sequence[Any]] = None,
                 count_fuel: bool = False, argv: Optional[Sequence[str]] = None,
                 mcp: Any = None, _runtime: Any = None, _echo: bool = False) -> None:
        if resource_limits is None:
            resource_limits = ResourceLimits(execution_timeout_ms=None)
        if max_fuel is not None:
            if not isinstance(resource_limits, ResourceLimits):
                raise TypeError("resource_limits must be an eryx.ResourceLimits")
            resource_limits = dataclasses.replace(resource_limits, max_fuel=max_fuel)
        self._vfs_mount_path = (vfs_mount_path or "/data") if vfs is not None else None
        self._setup(session=True, limits=resource_limits, callbacks=callbacks,
                    on_stdout=on_stdout, on_stderr=on_stderr, on_trace=on_trace,
                    result_variable=result_variable, vfs=vfs,
                    vfs_mount_path=vfs_mount_path, network=network,
                    timeout_override=execution_timeout_ms, secrets=secrets,
                    scrub_stdout=scrub_stdout, scrub_stderr=scrub_stderr,
                    scrub_result=scrub_result, scrub_files=scrub_files,
                    packages=packages, site_packages=site_packages, runtime=_runtime,
                    volumes=volumes, count_fuel=count_fuel, argv=argv, echo=_echo, mcp=mcp)

    @property
    def execution_timeout_ms(self) -> Optional[int]:
        """Timeout of each execute() in ms, or None for none."""
        ms = self._native.timeout_ms
        return None if ms == _U64_MAX else ms

    @execution_timeout_ms.setter
    def execution_timeout_ms(self, value: Optional[int]) -> None:
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                  or value <= 0):
            raise ValueError("execution_timeout_ms must be a positive int or None")
        self._native.timeout_ms = _U64_MAX if value is None else value

    @property
    def fuel_limit(self) -> Optional[int]:
        """The fuel budget of each execute() (max_fuel), or None. Settable
        (None: no budget, fuel still counted) on a session that counts fuel
        (created with max_fuel or count_fuel=True), as upstream's."""
        fuel = self._native.max_fuel
        return fuel or None

    @fuel_limit.setter
    def fuel_limit(self, value: Optional[int]) -> None:
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                  or value <= 0):
            raise ValueError("fuel_limit must be a positive int or None")
        try:
            self._native.max_fuel = 0 if value is None else value
        except _eryx.Error as exc:
            raise from_native(exc) from None
        self._limits = dataclasses.replace(self._limits, max_fuel=value)

    def _repr_fields(self) -> str:
        return f"execution_count={self.execution_count}, " + super()._repr_fields()

    @property
    def vfs_mount_path(self) -> Optional[str]:
        """Where the VFS is mounted ("/data" by default), or None without one."""
        return self._vfs_mount_path

    def _session_call(self, name, *args):
        try:
            return getattr(self._native, name)(*args)
        except _eryx.Error as exc:
            raise from_native(exc) from None

    @property
    def execution_count(self) -> int:
        return self._native.execution_count

    @property
    def vfs(self) -> Optional[VfsStorage]:
        return self._vfs

    def clear_state(self) -> None:
        """Drops the user's variables; imported modules stay loaded."""
        self._session_call("clear_state")

    def reset(self) -> None:
        """Starts over with a fresh interpreter."""
        self._session_call("reset")

    def snapshot_state(self, *, skip_unserializable: bool = False) -> bytes:
        """The session's variables (and mounted files) as bytes that
        restore_state() accepts, also in another process. Values that
        cannot be serialized make it fail naming them, unless
        `skip_unserializable` (then see `last_skipped`)."""
        data, skipped = self._session_call("snapshot", skip_unserializable)
        self.last_skipped: List[str] = skipped
        return data

    def restore_state(self, snapshot: bytes) -> None:
        """Replaces the session's variables (and files) with a snapshot's;
        on error (SnapshotError) the session is unchanged."""
        if not isinstance(snapshot, (bytes, bytearray, memoryview)):
            raise TypeError("snapshot must be bytes")
        self._session_call("restore", snapshot)
