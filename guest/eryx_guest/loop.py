"""The sandbox's asyncio event loop and host-mediated sleeping.

WASI has no socketpair(), so asyncio's default selector loop cannot even be
created. SandboxEventLoop keeps BaseEventLoop's scheduling and replaces the
selector with a wait that goes through the host: the host bounds every wait
by the execution's deadline (a wasm epoch deadline cannot interrupt a guest
blocked inside a host call, so no guest wait may block on its own).
"""

import asyncio
import asyncio.unix_events
import time

from wit_world.imports import host

from . import callbacks, capture


def host_sleep(seconds):
    """Replacement for time.sleep: the host wakes us at the deadline."""
    seconds = float(seconds)
    if seconds != seconds:
        raise ValueError("Invalid value NaN (not a number)")
    if seconds < 0:
        raise ValueError("sleep length must be non-negative")
    if seconds > 0:
        capture.flush_all()
        host.sleep(min(int(seconds * 1e9), 2**63 - 1))


class _HostSelector:
    """What BaseEventLoop._run_once needs from a selector: a timed wait."""

    def select(self, timeout):
        if callbacks.pending:
            # Host calls in flight: wait for their answers (or the timeout).
            ns = None if timeout is None else max(0, min(int(timeout * 1e9), 2**63 - 1))
            capture.flush_all()
            callbacks.deliver(host.callback_wait(ns))
            return []
        if timeout is None:
            # Nothing is scheduled and nothing can wake the loop up.
            raise RuntimeError(
                "event loop deadlock: awaiting something that nothing will complete")
        if timeout > 0:
            host_sleep(timeout)
        return []

    def close(self):
        pass


class SandboxEventLoop(asyncio.BaseEventLoop):
    def __init__(self):
        super().__init__()
        self._selector = _HostSelector()

    def _process_events(self, event_list):
        pass

    def _write_to_self(self):
        # Only called to wake a loop blocked in select() from another
        # thread; the sandbox has no threads.
        pass


def install():
    """Make time.sleep, asyncio.run() and new_event_loop() use the host."""
    time.sleep = host_sleep
    asyncio.unix_events._UnixDefaultEventLoopPolicy._loop_factory = SandboxEventLoop
    asyncio.unix_events.SelectorEventLoop = SandboxEventLoop
    asyncio.unix_events.EventLoop = SandboxEventLoop
    asyncio.EventLoop = SandboxEventLoop
    asyncio.SelectorEventLoop = SandboxEventLoop
