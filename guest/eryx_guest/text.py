"""Text that crosses the WIT boundary.

A component-model string holds Unicode scalar values only: a Python str
with a lone surrogate (U+D800..U+DFFF, as in '\\ud800', or a byte smuggled
in by the 'surrogateescape' error handler) cannot be lowered, and trying
traps the whole instance. Every string the runtime hands to the host goes
through `clean` (or is checked with `surrogate_at`) first.

Output keeps such a character visible as its backslash escape: print('\\ud800')
writes the six characters `\\ud800`.
"""

import re

_SURROGATE = re.compile("[\ud800-\udfff]")


def u32(n):
    """`n` when it is an int that fits a WIT u32, else 0 (a line number
    from user code, e.g. SyntaxError.lineno, can be anything)."""
    return n if type(n) is int and 0 <= n <= 0xFFFFFFFF else 0


def surrogate_at(s):
    """Index of the first lone surrogate in the str `s`, or -1."""
    if s.isascii():
        return -1
    m = _SURROGATE.search(s)
    return -1 if m is None else m.start()


def escape(s):
    """`s` with every lone surrogate written as a backslash escape (the
    rest unchanged)."""
    return s.encode("utf-8", "backslashreplace").decode("utf-8")


def clean(s):
    """`s` as an exact str that the host can be given."""
    return clean_sized(s)[0]


def clean_sized(s):
    """(clean(s), its size in UTF-8 bytes) with one encoding at most."""
    if type(s) is not str:
        s = str.__str__(s) if isinstance(s, str) else ""
    if s.isascii():
        return s, len(s)
    try:
        return s, len(s.encode("utf-8"))
    except UnicodeEncodeError:
        s = escape(s)
        return s, len(s.encode("utf-8"))
