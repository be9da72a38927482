"""SandboxFactory: a runtime of its own, with packages installed and
modules already imported, so that its sandboxes start as fast as plain
ones with those modules loaded.

    factory = eryx.SandboxFactory(packages=["jinja2-3.1.6-py3-none-any.whl",
                                            "markupsafe-3.0.3.tar.gz"],
                                  imports=["jinja2"])
    sandbox = factory.create_sandbox()
    factory.save("/srv/eryx/jinja-runtime")
    later = eryx.SandboxFactory.load("/srv/eryx/jinja-runtime")

Building (eryx_factory_build in liberyx) runs componentize-py, the version
the runtime was built with: install it with `pip install 'eryx[factory]'`.
A factory is a runtime directory; save() copies it, load() maps it again
in any later process without rebuilding.
"""

import json
import os
import shutil
import sysconfig
import tempfile
import threading
from typing import Any, Callable, List, Optional, Sequence

from . import _eryx
from .errors import PackageError, from_native
from .limits import ResourceLimits
from .sandbox import _RUNTIME_DIR, Sandbox, Session, _package_paths


def _componentize_py() -> Optional[str]:
    """The componentize-py of this environment (the `factory` extra), or
    on PATH; None lets liberyx say how to install it."""
    env = os.environ.get("ERYX_COMPONENTIZE_PY")
    if env:
        return env
    scripts = sysconfig.get_path("scripts")
    return shutil.which("componentize-py", path=scripts) or shutil.which("componentize-py")


def _cache_dir() -> str:
    root = os.environ.get("ERYX_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "eryx")
    return os.path.join(root, "factories")


class SandboxFactory:
    """Builds (or loads) a runtime with `packages` on sys.path and
    `imports` imported in its snapshot.

    packages: paths of .whl, .tar.gz/.tgz or directories, as Sandbox's;
    site_packages: a directory of installed packages (first on the path);
    imports: module names ("jinja2", "dateutil.parser"); progress: called
    with a line of text at each step of the build (it takes seconds);
    resource_limits: only its max_package_bytes / max_package_files apply.
    Raises PackageError when a package is refused, componentize-py is
    missing, or an import fails (the message has the traceback).
    """

    def __init__(self, *, packages: Optional[Sequence[Any]] = None,
                 imports: Optional[Sequence[str]] = None, site_packages: Any = None,
                 progress: Optional[Callable[[str], Any]] = None,
                 resource_limits: Optional[ResourceLimits] = None,
                 timeout_ms: Optional[int] = None, _dir: Optional[str] = None) -> None:
        if _dir is not None:  # load()
            self._owned_dir = None
            self._open(_dir)
            return
        if isinstance(imports, str):
            raise TypeError("imports must be a list of module names, not one str")
        imports = list(imports or [])
        if not all(isinstance(m, str) for m in imports):
            raise TypeError("imports must be a list of str")
        if progress is not None and not callable(progress):
            raise TypeError("progress must be callable")
        limits = (resource_limits or ResourceLimits())._native()
        cache = _cache_dir()
        os.makedirs(cache, exist_ok=True)
        # The build goes into a fresh directory of ours (removed when this
        # object goes away unless saved elsewhere: save() copies).
        work = tempfile.mkdtemp(prefix="factory-", dir=cache)
        out = os.path.join(work, "runtime")
        try:
            _eryx.build_factory(
                out, _package_paths(packages, site_packages) or [], imports,
                base_runtime_dir=_RUNTIME_DIR, componentize_py=_componentize_py(),
                progress=progress, max_package_bytes=limits["max_package_bytes"],
                max_package_files=limits["max_package_files"],
                timeout_ms=timeout_ms or 0)
        except _eryx.Error as exc:
            shutil.rmtree(work, ignore_errors=True)
            raise from_native(exc) from None
        except BaseException:
            shutil.rmtree(work, ignore_errors=True)
            raise
        self._owned_dir = work
        try:
            self._open(out)
        except BaseException:
            shutil.rmtree(work, ignore_errors=True)
            raise

    def _open(self, path: str) -> None:
        try:
            self._runtime = _eryx.Runtime(os.fspath(path))
        except _eryx.Error as exc:
            raise from_native(exc) from None
        self._lock = threading.Lock()

    @classmethod
    def load(cls, path: Any) -> "SandboxFactory":
        """A factory saved before (or built by `eryx runtime build`), in
        this or any later process; no rebuild. One built by another Eryx or
        Wasmtime version raises InitializationError naming both."""
        return cls(_dir=os.fspath(path))

    def save(self, path: Any) -> None:
        """Copies the factory's directory to `path` (created; it must not
        exist or be empty)."""
        try:
            self._runtime.save(os.fspath(path))
        except _eryx.Error as exc:
            raise from_native(exc) from None

    @property
    def size_bytes(self) -> int:
        """Bytes of the factory's directory (compiled code, stdlib,
        packages)."""
        return self._runtime.size_bytes

    @property
    def path(self) -> str:
        return self._runtime.dir

    @property
    def imports(self) -> List[str]:
        """The modules imported in the factory's snapshot."""
        return json.loads(self._runtime.imports_json)

    @property
    def packages(self) -> List[str]:
        """The file names of the factory's packages."""
        return json.loads(self._runtime.packages_json)

    def create_sandbox(self, **kwargs: Any) -> Sandbox:
        """A Sandbox on this factory's runtime; same keywords as Sandbox
        (packages= adds more packages on top of the factory's)."""
        return Sandbox(**kwargs, _runtime=self)

    def create_session(self, **kwargs: Any) -> Session:
        """A Session on this factory's runtime; same keywords as Session."""
        return Session(**kwargs, _runtime=self)

    def __del__(self) -> None:
        owned = getattr(self, "_owned_dir", None)
        if owned:
            # Only once no sandbox holds this factory (each keeps it alive);
            # a saved copy is independent.
            shutil.rmtree(owned, ignore_errors=True)
