"""The host's file tree, mounted at a directory of the sandbox (e.g. /data).

The files live in host memory (src/vfs.c); every operation is one call of
the `fs` host import, which enforces the quota before anything is written.
There is no WASI preopen for the mount, so code that goes around these
wrappers (posix.open, _io.FileIO) finds nothing there: the wrappers are the
only door, and the host checks everything that comes through it.

`install` replaces open() (builtins and io), the path functions of `os`
(os.path, shutil and pathlib call them through the module, so they follow)
and the fd functions for the file descriptors handed out here. Paths
outside the mount go to the original functions unchanged.
"""

import binascii
import builtins
import errno
import io
import operator
import os
import posixpath
import stat as _stat
import sys

from . import text

OP_STAT, OP_OPEN, OP_READ, OP_WRITE, OP_TRUNCATE, OP_LIST = 1, 2, 3, 4, 5, 6
OP_MKDIR, OP_RMDIR, OP_UNLINK, OP_RENAME, OP_UTIME = 7, 8, 9, 10, 11
O_CREATE, O_EXCL, O_TRUNC, O_WRITE = 1, 2, 4, 8

# src/vfs.h codes -> this platform's errno values.
_ERRNO = {1: errno.ENOENT, 2: errno.EEXIST, 3: errno.ENOTDIR, 4: errno.EISDIR,
          5: errno.ENOTEMPTY, 6: errno.ENOSPC, 7: errno.EINVAL,
          8: errno.ENAMETOOLONG, 9: errno.ENOMEM}

_DEV = 0x45525958  # st_dev of every file in the mount ("ERYX")
_FD_BASE = 1 << 30  # our descriptors, far from WASI's small numbers
_CHUNK = 8 << 20  # most bytes per host call

_fs = None  # the `fs` host import, once installed
_mount = None  # e.g. "/data"
_cwd = None  # a directory inside the mount after os.chdir() into it
_fds = {}  # our descriptor -> _RawFile
_next_fd = _FD_BASE
_orig = {}


def _call(op, rel, rel2="", offset=0, size=0, data="", filename=None, filename2=None):
    if text.surrogate_at(rel) >= 0 or text.surrogate_at(rel2) >= 0:
        # A name that is not valid UTF-8 (e.g. from os.fsdecode of bytes)
        # cannot be stored, and could not even be handed to the host.
        raise OSError(errno.EILSEQ, os.strerror(errno.EILSEQ),
                      filename2 if text.surrogate_at(rel) < 0 else filename)
    # Offsets and sizes are u64s at the host: anything else (a float, a
    # negative truncate, a seek past 2**64) could not even be handed over.
    offset, size = operator.index(offset), operator.index(size)
    if not (0 <= offset < 1 << 64 and 0 <= size < 1 << 64):
        raise OSError(errno.EINVAL, os.strerror(errno.EINVAL), filename)
    reply = _fs(op, rel, rel2, offset, size, data)
    if reply.code:
        code = _ERRNO.get(reply.code, errno.EIO)
        msg = os.strerror(code)
        if code == errno.ENOSPC:
            msg += f" (quota of {_mount})"
        if filename2 is not None:
            raise OSError(code, msg, filename, None, filename2)
        raise OSError(code, msg, filename)
    return reply


def _bytes(reply):
    """The bytes of a READ reply (ASCII as is, else base64; see the WIT)."""
    if reply.base64:
        return binascii.a2b_base64(reply.data)
    return reply.data.encode("ascii")


def _resolve(path):
    """The path relative to the mount, or None when it is outside."""
    if isinstance(path, int):
        return None
    p = os.fspath(path)
    if isinstance(p, bytes):
        p = os.fsdecode(p)
    if not isinstance(p, str):
        return None
    if "\0" in p:
        raise ValueError("embedded null character in path")
    if not p.startswith("/"):
        base = _cwd if _cwd is not None else _orig["getcwd"]()
        p = base + "/" + p
    p = "/" + posixpath.normpath(p).lstrip("/")
    if p == _mount:
        return ""
    if p.startswith(_mount + "/"):
        return p[len(_mount) + 1:]
    return None


def _stat_result(reply):
    ns = reply.mtime_ns
    secs = ns // 1_000_000_000
    if reply.is_dir:
        mode, nlink = _stat.S_IFDIR | 0o755, 2
    else:
        mode, nlink = _stat.S_IFREG | 0o644, 1
    f = ns / 1e9
    return os.stat_result(
        (mode, reply.ino or 1, _DEV, nlink, 0, 0, reply.size, secs, secs, secs),
        {"st_atime": f, "st_mtime": f, "st_ctime": f,
         "st_atime_ns": ns, "st_mtime_ns": ns, "st_ctime_ns": ns})


# ---------------------------------------------------------------- files

class _RawFile(io.RawIOBase):
    """An open file of the mount: reads and writes go to the host at the
    current position (buffering is added on top by `_open`)."""

    def __init__(self, rel, name, mode, readable, writable, append, fd=None):
        super().__init__()
        self._rel, self.name, self.mode = rel, name, mode
        self._readable, self._writable, self._append = readable, writable, append
        self._pos = 0
        global _next_fd
        if fd is None:
            fd = _next_fd
            _next_fd += 1
        self._fd = fd
        _fds[fd] = self

    def readable(self):
        self._checkClosed()
        return self._readable

    def writable(self):
        self._checkClosed()
        return self._writable

    def seekable(self):
        self._checkClosed()
        return True

    def fileno(self):
        self._checkClosed()
        return self._fd

    def isatty(self):
        self._checkClosed()
        return False

    def _size(self):
        return _call(OP_STAT, self._rel, filename=self.name).size

    def readinto(self, b):
        self._checkClosed()
        if not self._readable:
            raise io.UnsupportedOperation("File not open for reading")
        view = memoryview(b).cast("B")
        want = min(len(view), _CHUNK)
        data = _bytes(_call(OP_READ, self._rel, offset=self._pos, size=want,
                            filename=self.name))
        view[:len(data)] = data
        self._pos += len(data)
        return len(data)

    def readall(self):
        self._checkClosed()
        if not self._readable:
            raise io.UnsupportedOperation("File not open for reading")
        parts = []
        while True:
            data = _bytes(_call(OP_READ, self._rel, offset=self._pos, size=_CHUNK,
                                filename=self.name))
            if not data:
                return b"".join(parts)
            parts.append(data)
            self._pos += len(data)

    def write(self, b):
        self._checkClosed()
        if not self._writable:
            raise io.UnsupportedOperation("File not open for writing")
        data = bytes(memoryview(b).cast("B"))
        if self._append:
            self._pos = self._size()
        written = 0
        for start in range(0, len(data), _CHUNK):
            piece = data[start:start + _CHUNK]
            if piece.isascii():
                _call(OP_WRITE, self._rel, offset=self._pos, data=piece.decode("ascii"),
                      filename=self.name)
            else:
                _call(OP_WRITE, self._rel, offset=self._pos, size=1,
                      data=binascii.b2a_base64(piece, newline=False).decode("ascii"),
                      filename=self.name)
            self._pos += len(piece)
            written += len(piece)
        return written

    def seek(self, pos, whence=0):
        self._checkClosed()
        if whence == 0:
            new = pos
        elif whence == 1:
            new = self._pos + pos
        elif whence == 2:
            new = self._size() + pos
        else:
            raise ValueError(f"invalid whence ({whence}, should be 0, 1 or 2)")
        if new < 0:
            raise OSError(errno.EINVAL, os.strerror(errno.EINVAL), self.name)
        self._pos = new
        return new

    def tell(self):
        self._checkClosed()
        return self._pos

    def truncate(self, size=None):
        self._checkClosed()
        if not self._writable:
            raise io.UnsupportedOperation("File not open for writing")
        size = self._pos if size is None else size
        _call(OP_TRUNCATE, self._rel, size=size, filename=self.name)
        return size

    def close(self):
        if not self.closed:
            _fds.pop(self._fd, None)
        super().close()


def _parse_mode(mode):
    chars = set(mode)
    if not chars <= set("rwxab+t") or len(mode) != len(chars):
        raise ValueError(f"invalid mode: {mode!r}")
    if sum(c in chars for c in "rwxa") != 1:
        raise ValueError("must have exactly one of create/read/write/append mode")
    if "b" in chars and "t" in chars:
        raise ValueError("can't have text and binary mode at once")
    plus = "+" in chars
    flags = {"r": 0, "w": O_CREATE | O_TRUNC | O_WRITE, "x": O_CREATE | O_EXCL | O_WRITE,
             "a": O_CREATE | O_WRITE}[next(c for c in "rwxa" if c in chars)]
    if plus:
        flags |= O_WRITE
    readable = "r" in chars or plus
    writable = bool(flags & O_WRITE)
    append = "a" in chars
    raw_mode = ("ab" if append else "xb" if "x" in chars else "wb" if "w" in chars
                else "rb") + ("+" if plus else "")
    return flags, readable, writable, append, "b" in chars, raw_mode


def _wrap(raw, mode, binary, buffering, encoding, errors, newline):
    if binary and (encoding is not None or errors is not None or newline is not None):
        raise ValueError("binary mode doesn't take an encoding, errors or newline argument")
    line_buffering = False
    if buffering == 1 and not binary:
        line_buffering, buffering = True, -1
    if buffering < 0:
        buffering = io.DEFAULT_BUFFER_SIZE
    if buffering == 0:
        if not binary:
            raise ValueError("can't have unbuffered text I/O")
        return raw
    if raw._readable and raw._writable:
        buf = io.BufferedRandom(raw, buffering)
    elif raw._writable:
        buf = io.BufferedWriter(raw, buffering)
    else:
        buf = io.BufferedReader(raw, buffering)
    if binary:
        return buf
    text = io.TextIOWrapper(buf, io.text_encoding(encoding), errors, newline, line_buffering)
    text.mode = mode
    return text


def _open(file, mode="r", buffering=-1, encoding=None, errors=None, newline=None,
          closefd=True, opener=None):
    if isinstance(file, int) and file in _fds:
        raw = _fds[file]
        if not closefd:
            raise ValueError("closefd=False is not supported for files of " + _mount)
        binary = "b" in mode
        return _wrap(raw, mode, binary, buffering, encoding, errors, newline)
    rel = _resolve(file)
    if rel is None:
        return _orig["io.open"](file, mode, buffering, encoding, errors, newline, closefd, opener)
    if not isinstance(mode, str):
        raise TypeError(f"open() argument 'mode' must be str, not {type(mode).__name__}")
    flags, readable, writable, append, binary, raw_mode = _parse_mode(mode)
    if binary and (encoding is not None or errors is not None or newline is not None):
        raise ValueError("binary mode doesn't take an encoding, errors or newline argument")
    if not binary and buffering == 0:
        raise ValueError("can't have unbuffered text I/O")
    name = file if isinstance(file, (str, bytes)) else os.fspath(file)
    if opener is not None:
        raw = _open_with(opener, name, mode, flags, readable, writable, append)
    else:
        reply = _call(OP_OPEN, rel, size=flags, filename=name)
        if reply.is_dir:
            raise OSError(errno.EISDIR, os.strerror(errno.EISDIR), name)
        raw = _RawFile(rel, name, raw_mode, readable, writable, append)
    try:
        return _wrap(raw, mode, binary, buffering, encoding, errors, newline)
    except BaseException:
        raw.close()
        raise


def _open_with(opener, name, mode, flags, readable, writable, append):
    """open(..., opener=f): f(path, os_flags) must give a descriptor of the
    mount (os.open does); its file is then used as opened."""
    os_flags = (os.O_RDWR if readable and writable else os.O_WRONLY if writable
                else os.O_RDONLY)
    if flags & O_CREATE:
        os_flags |= os.O_CREAT
    if flags & O_EXCL:
        os_flags |= os.O_EXCL
    if flags & O_TRUNC:
        os_flags |= os.O_TRUNC
    if append:
        os_flags |= os.O_APPEND
    fd = opener(name, os_flags)
    raw = _fds.get(fd) if isinstance(fd, int) else None
    if raw is None:
        raise OSError(errno.EBADF, f"the opener did not return a descriptor of {_mount}",
                      name)
    return raw


# ------------------------------------------------------------ os functions

def _path_fn(name, impl):
    """Calls `impl(rel, path, ...)` for paths in the mount, else the
    original os function."""
    orig = getattr(os, name)
    _orig[name] = orig

    def wrapper(path, *args, **kwargs):
        if isinstance(path, int) and path in _fds and name in ("stat", "lstat"):
            return _fd_fstat(_fds[path])
        rel = _resolve(path)
        if rel is None:
            return orig(path, *args, **kwargs)
        if kwargs.get("dir_fd") is not None:
            raise NotImplementedError(f"os.{name}(dir_fd=...) is not supported in {_mount}")
        return impl(rel, path, *args, **kwargs)

    wrapper.__name__ = wrapper.__qualname__ = name
    wrapper.__doc__ = orig.__doc__
    setattr(os, name, wrapper)


def _fd_fn(name, impl):
    """Calls `impl(raw, ...)` for our descriptors, else the original."""
    orig = getattr(os, name)
    _orig[name] = orig

    def wrapper(fd, *args, **kwargs):
        raw = _fds.get(fd) if isinstance(fd, int) else None
        if raw is None:
            return orig(fd, *args, **kwargs)
        return impl(raw, *args, **kwargs)

    wrapper.__name__ = wrapper.__qualname__ = name
    wrapper.__doc__ = orig.__doc__
    setattr(os, name, wrapper)


def _stat_impl(rel, path, *, dir_fd=None, follow_symlinks=True):
    return _stat_result(_call(OP_STAT, rel, filename=path))


def _listdir_names(rel, path):
    data = _call(OP_LIST, rel, filename=path).data
    return [n for n in data.split("\0") if n]


def _listdir_impl(rel, path):
    names = _listdir_names(rel, path)
    if isinstance(os.fspath(path), bytes):
        return [os.fsencode(n) for n in names]
    return names


class _DirEntry:
    """Stands in for os.DirEntry (which cannot be created from Python)."""

    __slots__ = ("name", "path", "_rel", "_stat")

    def __init__(self, name, path, rel):
        self.name, self.path, self._rel, self._stat = name, path, rel, None

    def stat(self, *, follow_symlinks=True):
        if self._stat is None:
            self._stat = _stat_result(_call(OP_STAT, self._rel, filename=self.path))
        return self._stat

    def is_dir(self, *, follow_symlinks=True):
        try:
            return _stat.S_ISDIR(self.stat().st_mode)
        except FileNotFoundError:
            return False

    def is_file(self, *, follow_symlinks=True):
        try:
            return _stat.S_ISREG(self.stat().st_mode)
        except FileNotFoundError:
            return False

    def is_symlink(self):
        return False

    def is_junction(self):
        return False

    def inode(self):
        return self.stat().st_ino

    def __fspath__(self):
        return self.path

    def __repr__(self):
        return f"<DirEntry {self.name!r}>"


class _ScandirIterator:
    def __init__(self, entries):
        self._it = iter(entries)

    def __iter__(self):
        return self

    def __next__(self):
        return next(self._it)

    def close(self):
        self._it = iter(())

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _scandir_impl(rel, path):
    names = _listdir_names(rel, path)
    p = os.fspath(path)
    entries = []
    for n in names:
        child = n if isinstance(p, str) else os.fsencode(n)
        full = posixpath.join(p, child)
        entries.append(_DirEntry(child, full, (rel + "/" + n) if rel else n))
    return _ScandirIterator(entries)


def _mkdir_impl(rel, path, mode=0o777, *, dir_fd=None):
    _call(OP_MKDIR, rel, filename=path)


def _rmdir_impl(rel, path, *, dir_fd=None):
    _call(OP_RMDIR, rel, filename=path)


def _unlink_impl(rel, path, *, dir_fd=None):
    _call(OP_UNLINK, rel, filename=path)


def _rename_fn(name):
    orig = getattr(os, name)
    _orig[name] = orig

    def wrapper(src, dst, *, src_dir_fd=None, dst_dir_fd=None):
        a, b = _resolve(src), _resolve(dst)
        if a is None and b is None:
            return orig(src, dst, src_dir_fd=src_dir_fd, dst_dir_fd=dst_dir_fd)
        if a is None or b is None:
            raise OSError(errno.EXDEV, os.strerror(errno.EXDEV), src, None, dst)
        _call(OP_RENAME, a, b, filename=src, filename2=dst)

    wrapper.__name__ = wrapper.__qualname__ = name
    setattr(os, name, wrapper)


def _links_refused(name):
    orig = getattr(os, name)
    _orig[name] = orig

    def wrapper(src, dst, *args, **kwargs):
        if _resolve(dst) is not None or (name == "link" and _resolve(src) is not None):
            raise OSError(errno.EPERM, f"links are not supported in {_mount}", dst)
        return orig(src, dst, *args, **kwargs)

    wrapper.__name__ = wrapper.__qualname__ = name
    setattr(os, name, wrapper)


def _readlink_impl(rel, path, *, dir_fd=None):
    _call(OP_STAT, rel, filename=path)
    raise OSError(errno.EINVAL, os.strerror(errno.EINVAL), path)


def _utime_impl(rel, path, times=None, *, ns=None, dir_fd=None, follow_symlinks=True):
    if ns is not None:
        mtime = ns[1]
    elif times is not None:
        mtime = int(times[1] * 1_000_000_000)
    else:
        import time
        mtime = time.time_ns()
    _call(OP_UTIME, rel, offset=max(0, mtime), filename=path)


def _chmod_impl(rel, path, mode, *, dir_fd=None, follow_symlinks=True):
    _call(OP_STAT, rel, filename=path)  # permissions are not kept


def _access_impl(rel, path, mode, *, dir_fd=None, effective_ids=False, follow_symlinks=True):
    try:
        _call(OP_STAT, rel, filename=path)
        return True
    except OSError:
        return False


def _truncate_impl(rel, path, length):
    reply = _call(OP_STAT, rel, filename=path)
    if reply.is_dir:
        raise OSError(errno.EISDIR, os.strerror(errno.EISDIR), path)
    _call(OP_TRUNCATE, rel, size=length, filename=path)


def _os_open_impl(rel, path, flags, mode=0o777, *, dir_fd=None):
    acc = flags & (os.O_RDONLY | os.O_WRONLY | os.O_RDWR)
    readable = acc in (os.O_RDONLY, os.O_RDWR) or acc == 0
    writable = bool(flags & (os.O_WRONLY | os.O_RDWR))
    if acc == os.O_WRONLY:
        readable = False
    f = 0
    if flags & os.O_CREAT:
        f |= O_CREATE
    if flags & os.O_EXCL:
        f |= O_EXCL
    if flags & os.O_TRUNC:
        f |= O_TRUNC
    if writable:
        f |= O_WRITE
    reply = _call(OP_OPEN, rel, size=f, filename=path)
    if reply.is_dir and writable:
        raise OSError(errno.EISDIR, os.strerror(errno.EISDIR), path)
    append = bool(flags & os.O_APPEND)
    mode_s = ("ab" if append else "wb" if writable and not readable else "rb") + \
        ("+" if readable and writable else "")
    return _RawFile(rel, os.fspath(path), mode_s, readable, writable, append).fileno()


def _chdir_impl(rel, path):
    global _cwd
    reply = _call(OP_STAT, rel, filename=path)
    if not reply.is_dir:
        raise OSError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), path)
    _cwd = _mount + ("/" + rel if rel else "")


def _chdir(path):
    global _cwd
    if isinstance(path, int):
        return _orig["chdir"](path)
    rel = _resolve(path)
    if rel is not None:
        return _chdir_impl(rel, path)
    # Back out of the mount to the real working directory: WASI cannot
    # chdir to "/" (no preopen there), and there is nothing to change.
    p = os.fsdecode(os.fspath(path))
    if _cwd is not None and not p.startswith("/"):
        p = _cwd + "/" + p
    if "/" + posixpath.normpath(p).lstrip("/") == _orig["getcwd"]():
        _cwd = None
        return
    _orig["chdir"](path)
    _cwd = None


def _getcwd():
    return _cwd if _cwd is not None else _orig["getcwd"]()


def _getcwdb():
    return os.fsencode(_getcwd())


def _fd_read(raw, n):
    return raw.read(n) if n else b""


def _fd_write(raw, data):
    return raw.write(data)


def _fd_close(raw):
    raw.close()


def _fd_fstat(raw):
    return _stat_result(_call(OP_STAT, raw._rel, filename=raw.name))


def _fd_lseek(raw, pos, how):
    return raw.seek(pos, how)


def _fd_ftruncate(raw, length):
    raw.truncate(length)


def _fd_noop(raw, *args):
    return None


def _fd_isatty(raw):
    return False


def install(mount, fs):
    """Routes file operations under `mount` to the host (idempotent)."""
    global _fs, _mount
    if _fs is not None:
        return
    _fs, _mount = fs, mount
    _orig["io.open"] = io.open
    builtins.open = io.open = _open
    for name, impl in [("stat", _stat_impl), ("lstat", _stat_impl),
                       ("listdir", _listdir_impl), ("scandir", _scandir_impl),
                       ("mkdir", _mkdir_impl), ("rmdir", _rmdir_impl),
                       ("remove", _unlink_impl), ("unlink", _unlink_impl),
                       ("readlink", _readlink_impl), ("utime", _utime_impl),
                       ("chmod", _chmod_impl), ("access", _access_impl),
                       ("truncate", _truncate_impl), ("open", _os_open_impl)]:
        if hasattr(os, name):
            _path_fn(name, impl)
    # listdir() and scandir() default to the current directory.
    for name in ("listdir", "scandir"):
        fn = getattr(os, name)

        def with_default(path=".", _fn=fn):
            return _fn(path)

        with_default.__name__ = with_default.__qualname__ = name
        setattr(os, name, with_default)
    for name in ("rename", "replace"):
        _rename_fn(name)
    for name in ("symlink", "link"):
        if hasattr(os, name):
            _links_refused(name)
    for name, impl in [("read", _fd_read), ("write", _fd_write), ("close", _fd_close),
                       ("fstat", _fd_fstat), ("lseek", _fd_lseek),
                       ("ftruncate", _fd_ftruncate), ("fsync", _fd_noop),
                       ("fdatasync", _fd_noop), ("isatty", _fd_isatty)]:
        if hasattr(os, name):
            _fd_fn(name, impl)
    _orig["chdir"], _orig["getcwd"] = os.chdir, os.getcwd
    os.chdir, os.getcwd, os.getcwdb = _chdir, _getcwd, _getcwdb
    # shutil picks its rmtree at import time; the fd-based one would use
    # WASI descriptors that do not exist for the mount.
    shutil = sys.modules.get("shutil")
    if shutil is not None:
        shutil._use_fd_functions = False
        shutil._rmtree_impl = shutil._rmtree_unsafe
