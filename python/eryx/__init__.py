"""Eryx: run untrusted Python in a WebAssembly sandbox.

    import eryx

    sandbox = eryx.Sandbox()
    result = sandbox.execute("print('hello')")
    print(result.stdout)

See Sandbox, Session, SandboxFactory, CallbackRegistry, ResourceLimits and VfsStorage.
"""

from .callbacks import Callback, CallbackRegistry
from .errors import (CancelledError, EryxError, ExecutionError, InitializationError,
                     InvalidArgumentError, PackageError, ResourceLimitError, SnapshotError,
                     TimeoutError, VfsError)
from .factory import SandboxFactory
from .limits import ResourceLimits
from .net import NetConfig
from .result import ExecuteResult, TraceEvent
from .sandbox import Execution, Sandbox, Session
from .vfs import VfsStorage

__version__ = "0.1.0"

__all__ = [
    "Callback", "CallbackRegistry", "CancelledError", "EryxError", "ExecuteResult",
    "Execution", "ExecutionError", "InitializationError", "InvalidArgumentError", "NetConfig",
    "PackageError", "ResourceLimitError", "ResourceLimits", "Sandbox", "SandboxFactory",
    "Session", "SnapshotError",
    "TimeoutError", "TraceEvent", "VfsError", "VfsStorage",
]
