"""VfsStorage: file storage that sessions mount (at /data by default).

The files live in host memory, bounded by a quota; the mount is a WASI
preopen served from them, so all of Python in the sandbox uses it as a
directory (open(), os, pathlib, shutil, imports, sqlite3, zipimport,
tempfile). A storage
outlives the sessions that mount it and can be handed to the next one.
Host paths are relative to the storage's root ("/notes.txt" and
"notes.txt" are the same file), whatever the mount path.
"""

from typing import List, Optional, Tuple, Union

from . import _eryx
from .errors import from_native


class VfsStorage:
    def __init__(self, quota_bytes: Optional[int] = None) -> None:
        """`quota_bytes`: most bytes held (None: 64 MiB), counting file
        contents plus each file's or directory's path length and 64 bytes."""
        if quota_bytes is not None and (not isinstance(quota_bytes, int) or quota_bytes <= 0):
            raise ValueError("quota_bytes must be a positive int or None")
        self._native = _eryx.Vfs(quota_bytes or 0)

    def _call(self, name, *args):
        try:
            return getattr(self._native, name)(*args)
        except _eryx.Error as exc:
            raise from_native(exc) from None

    def read(self, path: str) -> bytes:
        return self._call("read", path)

    def read_text(self, path: str, encoding: str = "utf-8") -> str:
        return self.read(path).decode(encoding)

    def write(self, path: str, data: Union[bytes, bytearray, memoryview, str]) -> None:
        """Writes a whole file, creating missing directories. A write past
        the quota raises VfsError and keeps the old content."""
        if isinstance(data, str):
            data = data.encode("utf-8")
        self._call("write", path, data)

    write_text = write

    def mkdir(self, path: str) -> None:
        self._call("mkdir", path)

    def remove(self, path: str) -> None:
        """Removes a file, or a directory with everything in it."""
        self._call("remove", path)

    def files(self) -> List[Tuple[str, bool, int]]:
        """Every entry as (path, is_dir, size), sorted by path."""
        return self._call("list")

    def listdir(self, path: str = "/") -> List[str]:
        prefix = path.strip("/")
        out = []
        for p, _, _ in self.files():
            parent, _, name = p.rpartition("/")
            if parent == prefix:
                out.append(name)
        return out

    def exists(self, path: str) -> bool:
        p = path.strip("/")
        return p == "" or any(e[0] == p for e in self.files())

    @property
    def used_bytes(self) -> int:
        """Bytes held, as counted against the quota."""
        return self._native.used_bytes

    @property
    def quota_bytes(self) -> int:
        return self._native.quota_bytes

    def export(self) -> bytes:
        """All files as bytes (for saving alongside, or another storage)."""
        return self._call("export")

    def import_(self, data: bytes) -> None:
        """Replaces all files with an export's (checked whole first)."""
        self._call("import_", data)
