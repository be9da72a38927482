"""ResourceLimits: what one execution may use."""

from dataclasses import dataclass
from typing import Optional

_U64_MAX = 2**64 - 1
_U32_MAX = 2**32 - 1


@dataclass
class ResourceLimits:
    """Limits of one execution. `None` means no limit.

    - execution_timeout_ms: wall-clock time of one execute();
    - callback_timeout_ms: longest one callback invocation may take;
    - max_memory_bytes: the sandbox's linear memory (the runtime itself
      uses about 17 MiB of it); beyond it Python raises MemoryError;
    - max_callback_invocations: callback calls per execution;
    - max_fuel: an instruction budget, for limits that do not depend on the
      machine's speed (fuel-counting code runs somewhat slower);
    - max_output_bytes: stdout + stderr kept per execution (the rest is
      dropped, `output_truncated` says so);
    - max_callback_args_bytes: JSON arguments of one callback call;
    - max_callback_args_in_flight_bytes: arguments of all calls in flight;
    - max_result_bytes: JSON text of the result variable (a larger result
      is a `result_error`);
    - max_package_bytes, max_package_files: what one package archive may
      unpack to (zip bombs are refused with a PackageError naming the cap);
    - max_vfs_bytes: most bytes the sandbox's VfsStorage may hold when the
      sandbox writes to it (content and metadata, as its quota counts);
      past it a write fails with OSError and changes nothing. None: the
      storage's own quota alone.
    All of them are enforced by the host, whatever the sandboxed code does.
    """

    execution_timeout_ms: Optional[int] = 30_000
    callback_timeout_ms: Optional[int] = 10_000
    max_memory_bytes: Optional[int] = 128 * 1024 * 1024
    max_callback_invocations: Optional[int] = 1000
    max_fuel: Optional[int] = None
    max_output_bytes: Optional[int] = 16 * 1024 * 1024
    max_callback_args_bytes: Optional[int] = 1024 * 1024
    max_callback_args_in_flight_bytes: Optional[int] = 16 * 1024 * 1024
    max_result_bytes: Optional[int] = 16 * 1024 * 1024
    max_package_bytes: Optional[int] = 1024 * 1024 * 1024
    max_package_files: Optional[int] = 100_000
    max_vfs_bytes: Optional[int] = None

    @classmethod
    def unlimited(cls) -> "ResourceLimits":
        """No timeout, no callback timeout, wasm32's full 4 GiB of memory,
        no invocation cap, no fuel budget, no caps on output, callback
        arguments or results."""
        return cls(None, None, None, None, None, None, None, None, None, None, None)

    def _native(self) -> dict:
        def positive(name, value, none, cap):
            if value is None:
                return none
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"ResourceLimits.{name} must be a positive int or None, "
                                 f"not {value!r}")
            return min(value, cap)

        return {
            "timeout_ms": positive("execution_timeout_ms", self.execution_timeout_ms,
                                   _U64_MAX, _U64_MAX),
            "callback_timeout_ms": positive("callback_timeout_ms", self.callback_timeout_ms,
                                            _U64_MAX, _U64_MAX),
            "max_memory_bytes": positive("max_memory_bytes", self.max_memory_bytes,
                                         _U64_MAX, _U64_MAX),
            "max_callback_invocations": positive("max_callback_invocations",
                                                 self.max_callback_invocations,
                                                 _U32_MAX, _U32_MAX),
            "max_fuel": positive("max_fuel", self.max_fuel, 0, _U64_MAX),
            "max_vfs_bytes": positive("max_vfs_bytes", self.max_vfs_bytes, 0, _U64_MAX),
            **{name: positive(name, getattr(self, name), _U64_MAX, _U64_MAX)
               for name in ("max_output_bytes", "max_callback_args_bytes",
                            "max_callback_args_in_flight_bytes", "max_result_bytes",
                            "max_package_bytes", "max_package_files")},
        }
