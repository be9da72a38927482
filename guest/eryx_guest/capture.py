"""Output capture for sandboxed code.

sys.stdout / sys.stderr are replaced by these writers for each execution.
Text is collected in a list and joined once at the end (one host call per
execution, not one per write). When the host asked for streaming, each
write is also forwarded through the `emit-output` import.
"""

import codecs
import io
import os


class _BinaryView(io.RawIOBase):
    """`sys.stdout.buffer`: bytes written here are decoded as UTF-8."""

    def __init__(self, text_writer):
        super().__init__()
        self._text = text_writer
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")

    def writable(self):
        return True

    def write(self, data):
        data = bytes(data)
        self._text.write(self._decoder.decode(data))
        return len(data)

    def flush_decoder(self):
        rest = self._decoder.decode(b"", final=True)
        if rest:
            self._text.write(rest)


class OutputBudget:
    """Bytes of output (stdout + stderr together) an execution may keep."""

    def __init__(self, limit):
        self.remaining = limit
        self.truncated = False

    def take(self, s):
        """Returns the part of `s` that fits, at a character boundary."""
        if self.remaining <= 0:
            self.truncated = True
            return ""
        size = len(s) if s.isascii() else len(s.encode("utf-8", "surrogatepass"))
        if size <= self.remaining:
            self.remaining -= size
            return s
        self.truncated = True
        if s.isascii():
            kept = s[:self.remaining]
        else:
            kept = s.encode("utf-8", "surrogatepass")[:self.remaining].decode(
                "utf-8", "ignore")
        self.remaining = 0
        return kept


class CaptureWriter(io.TextIOBase):
    """A text stream that remembers what it is given, within a budget."""

    def __init__(self, which, budget, emit=None):
        super().__init__()
        self._parts = []
        self._which = which
        self._budget = budget
        self._emit = emit
        self.buffer = _BinaryView(self)

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
            s = self._budget.take(s)
        if s:
            self._parts.append(s)
            if self._emit is not None:
                self._emit(self._which, s)
        return n

    def writelines(self, lines):
        for line in lines:
            self.write(line)

    def flush(self):
        pass

    def getvalue(self):
        self.buffer.flush_decoder()
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


os.write = _write
