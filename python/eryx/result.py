"""ExecuteResult and TraceEvent: what an execution gives back."""

import json
from dataclasses import dataclass, field
from typing import Any, Optional

# eryx_status (include/eryx.h)
STATUS_OK, STATUS_SYNTAX, STATUS_EXCEPTION = 0, 1, 2
STATUS_LIMIT, STATUS_INTERNAL, STATUS_CANCELLED, STATUS_SUSPENDED = 3, 4, 5, 6


@dataclass
class ExecuteResult:
    """The output and statistics of one execution, as upstream pyeryx 0.11
    gives them: `stdout` / `stderr` are the bytes the code wrote (bytes
    written to sys.stdout.buffer or fd 1 that are not UTF-8 survive as they
    are), `stdout_text` / `stderr_text` the same decoded as UTF-8 with
    U+FFFD for what is not; `str(result)` is `stdout_text`. `fuel_consumed`
    is None unless the sandbox counts fuel (max_fuel or count_fuel).
    `result` is the value of the result variable, parsed from JSON
    (None when it was not set; `result_error` says why when it could not be
    turned into JSON). `exit_code` is the status the code asked for with
    sys.exit() (0..255; None when it did not call it): sys.exit(0) is a
    normal result, any other code raises ExecutionError (error_type
    "SystemExit") with this result attached."""

    stdout: bytes = b""
    stderr: bytes = b""
    result_json: Optional[str] = None
    result_error: Optional[str] = None
    duration_ms: float = 0.0
    callback_invocations: int = 0
    peak_memory_bytes: Optional[int] = None
    fuel_consumed: Optional[int] = None
    output_truncated: bool = False
    exit_code: Optional[int] = None
    net_bytes_sent: int = 0
    net_bytes_received: int = 0
    net_connections: int = 0
    _parsed: Any = field(default=None, repr=False, compare=False)

    @property
    def stdout_text(self) -> str:
        return self.stdout.decode("utf-8", "replace")

    @property
    def stderr_text(self) -> str:
        return self.stderr.decode("utf-8", "replace")

    @property
    def result(self) -> Any:
        if self._parsed is None and self.result_json is not None:
            try:
                self._parsed = json.loads(self.result_json)
            except (ValueError, RecursionError) as exc:
                # The host only passes JSON it parsed itself; this is a
                # difference between its parser and Python's.
                from .errors import ExecutionError
                raise ExecutionError(f"the result could not be read as JSON: {exc}",
                                     error_type="ResultError") from None
        return self._parsed

    def __str__(self) -> str:
        return self.stdout_text

    def __repr__(self) -> str:
        def cut(text, n=50):
            return text if len(text) <= n else text[:n] + "..."
        rj = None if self.result_json is None else cut(self.result_json)
        return (f"ExecuteResult(stdout={cut(self.stdout_text)!r}, "
                f"stderr={cut(self.stderr_text)!r}, duration_ms={self.duration_ms:.2f}, "
                f"callback_invocations={self.callback_invocations}, "
                f"peak_memory_bytes={self.peak_memory_bytes}, "
                f"fuel_consumed={self.fuel_consumed}, result={rj!r}, "
                f"result_error={self.result_error!r}"
                + (", output_truncated=True" if self.output_truncated else "")
                + (f", exit_code={self.exit_code}" if self.exit_code is not None else "")
                + ")")


_KINDS = {1: "call", 2: "line", 3: "return", 4: "exception"}


@dataclass(frozen=True)
class TraceEvent:
    """One event of the user's code: `kind` is "call", "line", "return" or
    "exception"; `detail` is the exception's type name for "exception"."""

    kind: str
    line: int
    function: str
    detail: str = ""


def trace_adapter(handler):
    def on_trace(kind, line, function, detail):
        handler(TraceEvent(_KINDS.get(kind, str(kind)), line, function, detail))
    return on_trace
