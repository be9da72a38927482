"""Eryx: run untrusted Python in a WebAssembly sandbox.

    import eryx

    sandbox = eryx.Sandbox()
    result = sandbox.execute("print('hello')")
    print(result.stdout)

See Sandbox, Session, SandboxFactory, SandboxPool, CallbackRegistry, ResourceLimits
and VfsStorage.
"""

from .callbacks import Callback, CallbackRegistry
from .errors import (CancelledError, EryxError, ExecutionError, InitializationError,
                     InvalidArgumentError, JournalError, PackageError, PoolClosedError, PoolError,
                     PoolExhaustedError, PoolTimeoutError, ResourceLimitError, SnapshotError,
                     SuspendCallback, TimeoutError, VfsError)
from .factory import SandboxFactory
from .limits import ResourceLimits
from .net import NetConfig
from .pool import PooledSandbox, PoolStats, SandboxPool
from .replay import ReplayOutcome, SuspendedCallback
from .result import ExecuteResult, TraceEvent
from .sandbox import Execution, Sandbox, Session
from .vfs import VfsStorage

__version__ = "0.1.0"

__all__ = [
    "Callback", "CallbackRegistry", "CancelledError", "EryxError", "ExecuteResult",
    "Execution", "ExecutionError", "InitializationError", "InvalidArgumentError",
    "JournalError", "NetConfig", "ReplayOutcome", "SuspendCallback", "SuspendedCallback",
    "PackageError", "PoolClosedError", "PoolError", "PoolExhaustedError", "PoolStats",
    "PoolTimeoutError", "PooledSandbox", "ResourceLimitError", "ResourceLimits", "Sandbox",
    "SandboxFactory", "SandboxPool", "Session", "SnapshotError", "TimeoutError", "TraceEvent",
    "VfsError", "VfsStorage",
]
