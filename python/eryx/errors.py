"""Exceptions raised by Eryx. Every one of them is an `EryxError`."""

import builtins


class EryxError(Exception):
    """Base class of every Eryx exception."""


class InitializationError(EryxError):
    """The runtime or a sandbox could not be created."""


class _Failure(EryxError):
    """An execution that ended in an error. Attributes: `error_type` (the
    exception's name inside the sandbox), `message`, `traceback` (of the
    user's code), `line`, and `result` (the ExecuteResult, with the output
    produced before the error)."""

    def __init__(self, message, *, error_type="", traceback="", line=0, result=None):
        super().__init__(message)
        self.message = message
        self.error_type = error_type
        self.traceback = traceback
        self.line = line
        self.result = result

    @property
    def exit_code(self):
        """The sys.exit() status (error_type "SystemExit"), else None."""
        return self.result.exit_code if self.result is not None else None

    @property
    def stdout(self) -> bytes:
        """The output written before the failure (as ExecuteResult.stdout)."""
        return self.result.stdout if self.result is not None else b""

    @property
    def stderr(self) -> bytes:
        return self.result.stderr if self.result is not None else b""

    @property
    def stdout_text(self) -> str:
        return self.result.stdout_text if self.result is not None else ""

    @property
    def stderr_text(self) -> str:
        return self.result.stderr_text if self.result is not None else ""

    def __str__(self):
        return self.traceback.rstrip() or f"{self.error_type}: {self.message}"


class ExecutionError(_Failure):
    """The sandboxed code failed: a syntax error or an uncaught exception."""


class ResourceLimitError(_Failure):
    """A limit ended the execution: memory, fuel or callback invocations.
    (Not an ExecutionError, as in upstream Eryx; same attributes.)"""


class TimeoutError(EryxError, builtins.TimeoutError):  # noqa: A001 - the API's name
    """The execution ran past its timeout."""

    def __init__(self, message, *, result=None):
        super().__init__(message)
        self.result = result


class CancelledError(EryxError):
    """The execution was cancelled (cancel(), or Ctrl-C in the host)."""

    def __init__(self, message, *, result=None):
        super().__init__(message)
        self.result = result


class SnapshotError(ExecutionError, InitializationError):
    """A session snapshot could not be taken or restored. Both an
    ExecutionError (what upstream Eryx documents) and an InitializationError
    (what upstream pyeryx 0.11 raises for a bad snapshot)."""


class VfsError(EryxError, OSError):
    """A host-side file operation on a VfsStorage failed."""


class InvalidArgumentError(EryxError, ValueError):
    """An argument was refused by the library."""


class PackageError(EryxError):
    """A package was refused (another platform's native code, an unsafe,
    oversized, corrupt or truncated archive: the message names the file and
    the reason), or a SandboxFactory could not be built."""


class JournalError(EryxError, ValueError):
    """A replay journal was refused: not a journal, a wrong version, too
    large, a signature that does not match the key (changed, or signed
    with another key), or recorded for other code (with a key). A
    ValueError, as upstream raises for an invalid journal."""


class SuspendCallback(Exception):
    """Raise from a callback to suspend the execution (e.g. to wait for a
    human's approval): the sandbox halts at once and
    execute_with_journal() returns a ReplayOutcome whose `suspended` names
    the call and carries str(reason). The suspending call is not in the
    journal: it runs live again when the journal is replayed."""


class PoolError(EryxError):
    """Base class of the SandboxPool errors."""


class PoolExhaustedError(PoolError):
    """Every sandbox of the pool is leased (what the C library's
    try_acquire reports; SandboxPool.try_acquire returns None instead)."""


class PoolTimeoutError(PoolError, builtins.TimeoutError):
    """acquire() waited acquire_timeout_ms without a sandbox coming free."""


class PoolClosedError(PoolError):
    """The pool was closed (also while acquire() waited)."""


# _eryx.Error codes (include/eryx.h, eryx_error_code)
_ERR_INVALID_ARGUMENT, _ERR_RUNTIME_FILES, _ERR_WASMTIME = 1, 2, 3
_ERR_RESOURCES, _ERR_INTERNAL, _ERR_SNAPSHOT, _ERR_FILES, _ERR_PACKAGE = 4, 5, 6, 7, 8
_ERR_POOL_EXHAUSTED, _ERR_POOL_TIMEOUT, _ERR_POOL_CLOSED, _ERR_JOURNAL = 9, 10, 11, 12


def from_native(exc):
    """Turns an `_eryx.Error` into the matching public exception."""
    code, message = exc.args if len(exc.args) == 2 else (0, str(exc))
    if code == _ERR_INVALID_ARGUMENT:
        return InvalidArgumentError(message)
    if code == _ERR_SNAPSHOT:
        return SnapshotError(message)
    if code == _ERR_FILES:
        return VfsError(message)
    if code == _ERR_PACKAGE:
        return PackageError(message)
    if code == _ERR_POOL_EXHAUSTED:
        return PoolExhaustedError(message)
    if code == _ERR_POOL_TIMEOUT:
        return PoolTimeoutError(message)
    if code == _ERR_POOL_CLOSED:
        return PoolClosedError(message)
    if code == _ERR_JOURNAL:
        return JournalError(message)
    if code in (_ERR_RUNTIME_FILES, _ERR_WASMTIME, _ERR_RESOURCES):
        return InitializationError(message)
    return EryxError(message)
