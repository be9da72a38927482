"""Output capture for sandboxed code.

sys.stdout / sys.stderr are replaced by these writers for each execution.
Text is collected in a list and handed to the host through `emit-output`:
on every write when the host streams output; otherwise on each of the first
EAGER_WRITES writes of a run (a script that prints and then hangs keeps
its output), then at most every FLUSH_SECONDS or FLUSH_BYTES, and before
the guest blocks (flush_all). What the host already has survives a timeout or a
cancel; the rest comes back with the outcome. Few host calls, little lost.

Text the host cannot take (a lone surrogate, '\\ud800') is written as its
backslash escape, so print('\\ud800') outputs the six characters \\ud800.
Bytes that are not UTF-8 (sys.stdout.buffer, os.write) are kept exactly.
"""

import io
import os
import time

from . import text

EAGER_WRITES = 16
FLUSH_SECONDS = 0.02
FLUSH_BYTES = 64 * 1024


class _BinaryView(io.RawIOBase):
    """`sys.stdout.buffer` (and where os.write(1, ...) goes): bytes that are
    UTF-8 join the text stream; others go to the WASI descriptor as they
    are, after the text written before them, so the host keeps them exactly
    and in order (it captures the descriptors into the same stream)."""

    def __init__(self, text_writer):
        super().__init__()
        self._text = text_writer

    def writable(self):
        return True

    def write(self, data):
        data = bytes(data)
        try:
            self._text.write(data.decode("utf-8"))
        except UnicodeDecodeError:
            self._text.hand_over()
            self._text._budget.take_bytes(len(data))
            view = memoryview(data)
            while view:
                n = _os_write(self._text._which, view)
                view = view[n:]
        return len(data)

    def flush_decoder(self):
        pass


class OutputBudget:
    """Bytes of output (stdout + stderr together) an execution may keep."""

    def __init__(self, limit):
        self.remaining = limit
        self.truncated = False

    def take_bytes(self, n):
        """Counts raw bytes the host keeps (and cuts) itself."""
        if n > self.remaining:
            self.truncated = True
        self.remaining = max(0, self.remaining - n)

    def take(self, s, size):
        """Returns the part of `s` (valid text of `size` UTF-8 bytes) that
        fits, at a character boundary."""
        if self.remaining <= 0:
            self.truncated = True
            return ""
        if size <= self.remaining:
            self.remaining -= size
            return s
        self.truncated = True
        if s.isascii():
            kept = s[:self.remaining]
        else:
            kept = s.encode("utf-8")[:self.remaining].decode("utf-8", "ignore")
        self.remaining = 0
        return kept


class CaptureWriter(io.TextIOBase):
    """A text stream that remembers what it is given, within a budget."""

    def __init__(self, which, budget, emit, stream=False):
        super().__init__()
        self._parts = []
        self._pending = 0
        self._which = which
        self._budget = budget
        self._emit = emit          # hands text to the host
        self._stream = stream      # hand over every write
        self._last_flush = 0.0
        self._writes = 0
        self._buffer = None

    @property
    def buffer(self):
        """`sys.stdout.buffer`, made on first use (most runs never touch it)."""
        if self._buffer is None:
            self._buffer = _BinaryView(self)
        return self._buffer

    # -- TextIO surface used by print(), logging, traceback, ... --
    @property
    def encoding(self):
        return "utf-8"

    @property
    def errors(self):
        return "strict"

    def writable(self):
        return True

    def isatty(self):
        return False

    def fileno(self):
        raise io.UnsupportedOperation("captured stream has no file descriptor")

    def write(self, s):
        if not isinstance(s, str):
            raise TypeError(f"write() argument must be str, not {type(s).__name__}")
        n = len(s)
        if s:
            # A lone surrogate would trap the instance at the host call:
            # it is written as its backslash escape (see text.py).
            s, size = text.clean_sized(s)
            s = self._budget.take(s, size)
        if s:
            self._parts.append(s)
            self._pending += len(s)
            self._writes += 1
            if (self._stream or self._writes <= EAGER_WRITES
                    or self._pending >= FLUSH_BYTES
                    or time.monotonic() - self._last_flush >= FLUSH_SECONDS):
                self.hand_over()
        return n

    def hand_over(self):
        """Gives the host what it does not have yet."""
        if self._parts:
            text = "".join(self._parts)
            self._parts.clear()
            self._pending = 0
            self._emit(self._which, text)
        self._last_flush = time.monotonic()

    def writelines(self, lines):
        for line in lines:
            self.write(line)

    def flush(self):
        pass

    def remainder(self):
        """What was written and not handed over yet."""
        if self._buffer is not None:
            self._buffer.flush_decoder()
        return "".join(self._parts)


# os.write(1, ...) / os.write(2, ...) go to the current capture, so their text
# keeps its place among print()s. Lower-level writes to the descriptors still
# reach the host, which captures WASI stdout/stderr too: nothing escapes.
_active = {1: None, 2: None}
_os_write = os.write


def _write(fd, data):
    target = _active.get(fd) if isinstance(fd, int) else None
    if target is None:
        return _os_write(fd, data)
    return target.buffer.write(memoryview(data).tobytes())


def activate(out, err):
    _active[1], _active[2] = out, err


def deactivate():
    _active[1] = _active[2] = None


def flush_all():
    """Called before the guest blocks: the host gets everything so far."""
    for writer in (_active[1], _active[2]):
        if writer is not None:
            writer.hand_over()


os.write = _write
