"""SandboxPool: sandboxes leased to a service (liberyx's eryx_pool).

    pool = eryx.SandboxPool(max_size=4, min_idle=1)
    with pool.acquire(resource_limits=eryx.ResourceLimits(execution_timeout_ms=1000),
                      callbacks=registry) as sandbox:
        sandbox.execute("print(await lookup(id=3))")
    async with pool.acquire_async() as sandbox:   # without blocking the loop
        ...
    pool.close()

At most max_size leases at once; acquire() waits up to acquire_timeout_ms
(then PoolTimeoutError); idle sandboxes beyond min_idle go after
idle_timeout_ms. A lease is as fresh as a new Sandbox: its own limits,
callbacks and output handlers, a clean interpreter, nothing of the lease
before. Use after release() raises ValueError.
"""

import asyncio
from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence

from . import _eryx
from .callbacks import Dispatcher, normalize
from .errors import PoolExhaustedError, from_native
from .limits import ResourceLimits
from .net import NetConfig
from .result import trace_adapter
from .sandbox import (_Base, _load_runtime, _normalize_secrets, _normalize_volumes,
                      _package_paths)


@dataclass(frozen=True)
class PoolStats:
    """What SandboxPool.stats() returns (names as upstream's, plus
    evictions and the acquire-time percentiles)."""

    idle: int
    in_use: int
    total: int
    available: int
    total_acquisitions: int
    total_creations: int
    evictions: int
    wait_count: int
    total_wait_time_ms: float
    wait_p50_ms: float
    wait_p99_ms: float

    @property
    def average_wait_time_ms(self) -> float:
        return self.total_wait_time_ms / self.wait_count if self.wait_count else 0.0


class PooledSandbox(_Base):
    """A leased sandbox: execute(), execute_async(), cancel() as Sandbox's;
    release() (or leaving the `with` / `async with` block) gives it back."""

    def __init__(self, native, callbacks, pool, limits) -> None:
        self._native = native
        self._callbacks = callbacks
        self._limits = limits
        self._counts_fuel = limits.max_fuel is not None
        self._vfs = None
        self._pool = pool

    def release(self) -> None:
        """Gives the sandbox back to the pool; calling it again does nothing."""
        self._native.release()

    def __enter__(self) -> "PooledSandbox":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()

    async def __aenter__(self) -> "PooledSandbox":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await asyncio.get_running_loop().run_in_executor(None, self.release)



class _AsyncLease:
    """pool.acquire_async(...): awaitable, and an async context manager."""

    def __init__(self, pool, kwargs) -> None:
        self._pool, self._kwargs, self._lease = pool, kwargs, None

    def __await__(self):
        return self._get().__await__()

    async def _get(self) -> PooledSandbox:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, lambda: self._pool.acquire(**self._kwargs))

    async def __aenter__(self) -> PooledSandbox:
        self._lease = await self._get()
        return self._lease

    async def __aexit__(self, *exc: Any) -> None:
        if self._lease is not None:
            await self._lease.__aexit__(*exc)


class SandboxPool:
    """A pool of sandboxes to lease (see the module's text).

    max_size: most leases at once (default 10); min_idle: sandboxes kept
    ready (default 1); acquire_timeout_ms (default 30000; None: wait
    forever); idle_timeout_ms (default 300000; None: never evict).
    The other keywords are every sandbox's, as Sandbox's: resource_limits
    (the default of leases that give none), network, secrets, scrub_*,
    packages, site_packages, result_variable, volumes (read-only ones only:
    a writable one would carry files between leases). A SandboxFactory's
    create_pool() makes one on the factory's runtime.
    """

    def __init__(self, *, max_size: int = 10, min_idle: int = 1,
                 acquire_timeout_ms: Optional[int] = 30_000,
                 idle_timeout_ms: Optional[int] = 300_000,
                 resource_limits: Optional[ResourceLimits] = None,
                 network: Optional[NetConfig] = None, secrets: Any = None,
                 scrub_stdout: bool = True, scrub_stderr: bool = True,
                 scrub_result: bool = True, scrub_files: bool = True,
                 packages: Optional[Sequence[Any]] = None, site_packages: Any = None,
                 result_variable: Optional[str] = None,
                 volumes: Optional[Sequence[Any]] = None, _factory: Any = None) -> None:
        for name, v in (("max_size", max_size), ("min_idle", min_idle)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 0 or v >= 2**32:
                raise ValueError(f"{name} must be an int from 0 to 2**32-1")
        if max_size == 0:
            raise ValueError("max_size must be at least 1")

        def ms(name, v):
            if v is None:
                return 2**64 - 1
            if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
                raise ValueError(f"{name} must be a positive int or None")
            return v

        if network is not None and not isinstance(network, NetConfig):
            raise TypeError("network must be an eryx.NetConfig or None")
        self._limits = resource_limits or ResourceLimits()
        if not isinstance(self._limits, ResourceLimits):
            raise TypeError("resource_limits must be an eryx.ResourceLimits")
        self._factory = _factory
        if _factory is None:
            _load_runtime()
        base = self._limits._native()
        base.pop("max_vfs_bytes")  # pools have no file tree
        try:
            self._native = _eryx.Pool(
                runtime=_factory._runtime if _factory is not None else None,
                max_size=max_size, min_idle=min_idle,
                acquire_timeout_ms=ms("acquire_timeout_ms", acquire_timeout_ms),
                idle_timeout_ms=ms("idle_timeout_ms", idle_timeout_ms),
                **base, result_variable=result_variable,
                network=network._native() if network is not None else None,
                secrets=_normalize_secrets(secrets),
                scrub_stdout=bool(scrub_stdout), scrub_stderr=bool(scrub_stderr),
                scrub_result=bool(scrub_result), scrub_files=bool(scrub_files),
                packages=_package_paths(packages, site_packages),
                volumes=_normalize_volumes(volumes))
        except _eryx.Error as exc:
            raise from_native(exc) from None

    def _lease(self, try_only, resource_limits, callbacks, on_stdout, on_stderr, on_trace):
        limits = self._limits if resource_limits is None else resource_limits
        if not isinstance(limits, ResourceLimits):
            raise TypeError("resource_limits must be an eryx.ResourceLimits")
        for name, fn in (("on_stdout", on_stdout), ("on_stderr", on_stderr),
                         ("on_trace", on_trace)):
            if fn is not None and not callable(fn):
                raise TypeError(f"{name} must be callable")
        native = limits._native()
        for key in ("max_package_bytes", "max_package_files", "max_vfs_bytes"):
            native.pop(key)  # the pool's, not a lease's
        cbs = normalize(callbacks)
        try:
            sb = _eryx.Sandbox(
                pool=self._native, try_only=try_only, **native,
                callbacks=[cb._native() for cb in cbs] if cbs else None,
                dispatch=Dispatcher(cbs) if cbs else None,
                on_stdout=on_stdout, on_stderr=on_stderr,
                on_trace=trace_adapter(on_trace) if on_trace else None)
        except _eryx.Error as exc:
            raise from_native(exc) from None
        return PooledSandbox(sb, cbs, self, limits)

    def acquire(self, *, resource_limits: Optional[ResourceLimits] = None,
                callbacks: Any = None, on_stdout: Optional[Callable[[bytes], Any]] = None,
                on_stderr: Optional[Callable[[bytes], Any]] = None,
                on_trace: Optional[Callable[[Any], Any]] = None) -> PooledSandbox:
        """Leases a sandbox, waiting (the GIL released) up to
        acquire_timeout_ms: PoolTimeoutError after that, PoolClosedError if
        the pool is or gets closed."""
        return self._lease(False, resource_limits, callbacks, on_stdout, on_stderr, on_trace)

    def try_acquire(self, *, resource_limits: Optional[ResourceLimits] = None,
                    callbacks: Any = None, on_stdout: Optional[Callable[[bytes], Any]] = None,
                    on_stderr: Optional[Callable[[bytes], Any]] = None,
                    on_trace: Optional[Callable[[Any], Any]] = None
                    ) -> Optional[PooledSandbox]:
        """A lease if one is free now, else None."""
        try:
            return self._lease(True, resource_limits, callbacks, on_stdout, on_stderr,
                               on_trace)
        except PoolExhaustedError:
            return None

    def acquire_async(self, **kwargs: Any) -> _AsyncLease:
        """acquire() for asyncio, waiting in a worker thread: `await
        pool.acquire_async()` or `async with pool.acquire_async() as sb`."""
        return _AsyncLease(self, kwargs)

    def stats(self) -> PoolStats:
        s = self._native.stats()
        return PoolStats(s["idle"], s["in_use"], s["total"], s["available"],
                         s["acquisitions"], s["creations"], s["evictions"], s["waits"],
                         s["total_wait_ms"], s["wait_p50_ms"], s["wait_p99_ms"])

    def evict_idle(self) -> int:
        """Frees idle sandboxes past idle_timeout_ms (keeping min_idle)."""
        return self._native.evict_idle()

    def close(self) -> None:
        """No new leases; waiting acquires get PoolClosedError; idle
        sandboxes are freed; leases out keep working until released."""
        self._native.close()

    @property
    def is_closed(self) -> bool:
        return self._native.is_closed

    def __enter__(self) -> "SandboxPool":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        s = self.stats()
        return (f"<eryx.SandboxPool in_use={s.in_use} idle={s.idle} total={s.total}"
                f"{' closed' if self.is_closed else ''}>")
