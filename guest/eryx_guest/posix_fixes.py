"""Workarounds for bugs below Python in the guest's own stack.

The WASI layer under CPython (the preview1 adapter and wasi-libc that
componentize-py links in; upstream Eryx's sandbox has the same) corrupts
the interpreter's memory when os.pread is called a second time on the
descriptor of a directory opened with os.open: the first call fails with
EBADF, the second traps or leaves objects broken (found by
tests/fuzz/fuzz_host.c, seed 615). Only the guest is harmed, never the host,
but user code deserves the error POSIX gives instead.
"""

import errno
import os
import stat

_pread = os.pread


def pread(fd, length, offset, /):
    # Directories are refused before they reach the WASI layer.
    if stat.S_ISDIR(os.fstat(fd).st_mode):
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR))
    return _pread(fd, length, offset)


pread.__doc__ = _pread.__doc__


def install():
    os.pread = pread
