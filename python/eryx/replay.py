"""Replay journals and suspension (liberyx's eryx_*_execute_journal).

    outcome = sandbox.execute_with_journal(code)            # records
    if outcome.suspended:                                   # a callback raised
        store(json.dumps(outcome.journal))                  # SuspendCallback
    ...
    outcome = sandbox.execute_with_journal(code, journal=json.loads(stored))

A journal is every callback call answered during a run (name, canonical
arguments, answer). Given back, the calls that match it (by name and
canonical arguments, first in first out per pair) are answered from it
without calling the host function; the first call that does not match
switches the rest of the run to live calls. With `key` (bytes) the journal
is signed with HMAC-SHA256 and a journal given back must carry a valid
signature made with that key for the same code, else JournalError. The
format, the matching rules and the limits are the C library's (README
"Replay and suspension").
"""

import json
from dataclasses import dataclass
from typing import Any, Dict, Optional

from .errors import EryxError, JournalError
from .result import ExecuteResult


@dataclass(frozen=True)
class SuspendedCallback:
    """The call that suspended the execution: its callback's name, its
    arguments as canonical JSON, and the reason it gave."""

    name: str
    args_json: str
    reason: str

    @property
    def args(self) -> Any:
        return json.loads(self.args_json)


class ReplayOutcome:
    """What execute_with_journal() gives back. Exactly one of `result` and
    `error` is set (`error` is the exception execute() would have raised;
    when `suspended` is set it is an ExecutionError with error_type
    "Suspended": branch on `suspended` first). `journal` is always there
    (a JSON-compatible dict: store it with json.dumps). `replayed_callbacks`
    is how many calls were answered from the journal given."""

    __slots__ = ("result", "error", "journal", "replayed_callbacks", "suspended")

    def __init__(self, result: Optional[ExecuteResult], error: Optional[EryxError],
                 journal: Dict[str, Any], replayed_callbacks: int,
                 suspended: Optional[SuspendedCallback]) -> None:
        self.result = result
        self.error = error
        self.journal = journal
        self.replayed_callbacks = replayed_callbacks
        self.suspended = suspended

    def __repr__(self) -> str:
        what = (f"suspended={self.suspended!r}" if self.suspended is not None
                else f"error={self.error!r}" if self.error is not None
                else f"result={self.result!r}")
        entries = len(self.journal.get("entries", [])) if isinstance(self.journal, dict) else 0
        return (f"ReplayOutcome({what}, journal=<{entries} entries>, "
                f"replayed_callbacks={self.replayed_callbacks})")


def journal_text(journal: Any) -> Optional[str]:
    """The journal argument as the JSON text the library reads."""
    if journal is None:
        return None
    if isinstance(journal, (bytes, bytearray)):
        journal = bytes(journal).decode("utf-8", "strict")
    if isinstance(journal, str):
        return journal
    if not isinstance(journal, dict):
        raise JournalError("journal must be a dict (ReplayOutcome.journal), or its JSON "
                           f"text, not {type(journal).__name__}")
    try:
        return json.dumps(journal, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise JournalError(f"journal cannot be turned into JSON: {exc}") from None


def check_key(key: Any) -> Optional[bytes]:
    if key is None:
        return None
    if isinstance(key, str):
        key = key.encode("utf-8")
    if not isinstance(key, (bytes, bytearray, memoryview)) or not len(key):
        raise TypeError("key must be non-empty bytes (the HMAC key journals are signed with)")
    return bytes(key)
