"""A session's lease, held while one copy of `eryx serve` works on it.

Design:
- `async with hold(store, sid, ...) as lease` acquires the store's lease
  (SET NX PX with a fencing token, see store.py), renews it every third of
  its time while the body runs, and releases it (only if still ours) at the
  end, also when the body fails.
- A lease somebody else holds is waited for, polling with backoff, up to
  `wait_s` (the server's --busy-wait); then SessionBusy, which the HTTP
  layer answers 409 "session busy". wait_s 0 answers at once.
- If a renewal finds the lease gone (this copy stalled past PX), `lost` is
  set; the commit then fails with LeaseLost anyway, because the store
  checks the token atomically. Renewal is an optimisation of liveness, the
  fencing token is what guarantees safety.
- Store calls are blocking (redis-py); they run on worker threads so the
  event loop keeps serving.
"""

import asyncio
import time


class SessionBusy(Exception):
    """Another request holds the session's lease."""


class Lease:
    def __init__(self, store, sid: str, px: int) -> None:
        self.store, self.sid, self.px = store, sid, px
        self.token = None
        self.lost = False
        self._task = None

    async def _renewer(self) -> None:
        while True:
            await asyncio.sleep(self.px / 3000)
            try:
                ok = await asyncio.to_thread(self.store.lease_renew, self.sid, self.token,
                                             self.px)
            except Exception:  # noqa: BLE001 - the store is down: the commit will say so
                continue
            if not ok:
                self.lost = True
                return


class hold:  # noqa: N801 - used as `async with hold(...)`
    def __init__(self, store, sid: str, px: int, wait_s: float) -> None:
        self.lease = Lease(store, sid, px)
        self.wait_s = wait_s

    async def __aenter__(self) -> Lease:
        lease = self.lease
        deadline = time.monotonic() + self.wait_s
        delay = 0.005
        while True:
            token = await asyncio.to_thread(lease.store.lease_acquire, lease.sid, lease.px)
            if token is not None:
                lease.token = token
                break
            if time.monotonic() + delay > deadline:
                raise SessionBusy(
                    f"session {lease.sid!r} is busy: another request is running on it"
                    + (f" and did not finish within {self.wait_s:g} s" if self.wait_s else ""))
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.1)
        lease._task = asyncio.ensure_future(lease._renewer())
        return lease

    async def __aexit__(self, *exc) -> None:
        lease = self.lease
        if lease._task is not None:
            lease._task.cancel()
        try:
            await asyncio.to_thread(lease.store.lease_release, lease.sid, lease.token)
        except Exception:  # noqa: BLE001 - unreachable store: the lease expires by itself
            pass
