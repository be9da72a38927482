"""SandboxPool: leases as fresh as new sandboxes, exhaustion and timeouts,
close() waking waiters, idle eviction, many threads, asyncio, stats."""
import asyncio
import threading
import time

import pytest

import eryx


def test_lease_is_fresh():
    printed = []
    calls = []
    pool = eryx.SandboxPool(max_size=1, min_idle=1)

    def tool():
        calls.append(1)
        return 7

    with pool.acquire(callbacks=[{"name": "tool", "fn": tool}], on_stdout=printed.append,
                      resource_limits=eryx.ResourceLimits(execution_timeout_ms=300)) as sb:
        r = sb.execute("import builtins\nleaked = 'state'\nprint('hi')\nresult = await tool()")
        assert r.result == 7 and calls == [1] and printed
        sb.execute("import builtins, json\nbuiltins.len = lambda x: 42\njson.dumps = None")
        with pytest.raises(eryx.TimeoutError):
            sb.execute("while True:\n    pass")
    seen = len(printed)
    with pool.acquire() as sb:
        r = sb.execute("import json, time\ntime.sleep(0.5)\n"
                       "result = ['leaked' in globals(), len('abc'), json.dumps([1]),\n"
                       "          [c['name'] for c in list_callbacks()]]")
        assert r.result == [False, 3, "[1]", []]
        assert len(printed) == seen  # the last lease's handler is gone
        assert sb.callbacks == []
    pool.close()


def test_use_after_release_raises_and_release_is_idempotent():
    pool = eryx.SandboxPool(max_size=1)
    sb = pool.acquire()
    sb.release()
    sb.release()
    with pytest.raises(ValueError):
        sb.execute("x = 1")
    # The next lease is a different object, unaffected.
    with pool.acquire() as other:
        assert other.execute("result = 2").result == 2
    pool.close()


def test_exhaustion_and_timeout():
    pool = eryx.SandboxPool(max_size=2, min_idle=0, acquire_timeout_ms=150)
    a, b = pool.acquire(), pool.acquire()
    assert pool.try_acquire() is None
    t0 = time.monotonic()
    with pytest.raises(eryx.PoolTimeoutError) as e:
        pool.acquire()
    assert 0.14 <= time.monotonic() - t0 < 2
    assert isinstance(e.value, TimeoutError) and isinstance(e.value, eryx.PoolError)
    assert "acquire_timeout_ms" in str(e.value)
    a.release()
    c = pool.try_acquire()
    assert c is not None
    s = pool.stats()
    assert (s.in_use, s.idle, s.total, s.available) == (2, 0, 2, 0)
    b.release()
    c.release()
    s = pool.stats()
    assert (s.in_use, s.idle, s.available) == (0, 2, 2)
    assert s.total_acquisitions == 3 and s.total_creations == 2
    pool.close()


def test_close_wakes_waiters():
    pool = eryx.SandboxPool(max_size=1, min_idle=0, acquire_timeout_ms=None)
    held = pool.acquire()
    errors = []

    def wait():
        try:
            pool.acquire()
        except eryx.EryxError as exc:
            errors.append(type(exc))

    threads = [threading.Thread(target=wait) for _ in range(3)]
    for t in threads:
        t.start()
    time.sleep(0.1)
    pool.close()
    for t in threads:
        t.join(5)
    assert errors == [eryx.PoolClosedError] * 3
    assert pool.is_closed
    assert held.execute("result = 5").result == 5  # a lease out keeps working
    held.release()
    assert pool.stats().in_use == 0
    with pytest.raises(eryx.PoolClosedError):
        pool.acquire()


def test_idle_eviction_keeps_min_idle():
    pool = eryx.SandboxPool(max_size=4, min_idle=1, idle_timeout_ms=50)
    leases = [pool.acquire() for _ in range(3)]
    for sb in leases:
        sb.release()
    assert pool.stats().idle == 3
    time.sleep(0.12)
    assert pool.evict_idle() == 2
    s = pool.stats()
    assert s.idle == 1 and s.evictions == 2
    pool.close()


def test_threads_share_a_pool():
    pool = eryx.SandboxPool(max_size=3, min_idle=1, acquire_timeout_ms=None)
    lock = threading.Lock()
    now = [0]
    most = [0]
    clean = []

    def work():
        for i in range(200):
            with pool.acquire() as sb:
                with lock:
                    now[0] += 1
                    most[0] = max(most[0], now[0])
                if i % 10 == 0:
                    r = sb.execute("result = 'mark' in globals()\nmark = 1")
                    clean.append(r.result is False)
                with lock:
                    now[0] -= 1

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert most[0] <= 3
    assert len(clean) == 160 and all(clean)
    s = pool.stats()
    assert s.total_acquisitions == 1600 and s.in_use == 0
    assert s.total_creations <= 3 and s.total <= 3 and s.idle == s.total
    assert s.wait_count > 0 and s.wait_p99_ms >= s.wait_p50_ms
    assert s.average_wait_time_ms == pytest.approx(s.total_wait_time_ms / s.wait_count)
    pool.close()


def test_asyncio():
    pool = eryx.SandboxPool(max_size=2)

    async def one(n):
        async with pool.acquire_async() as sb:
            return sb.execute(f"result = {n} * 2").result

    async def main():
        results = await asyncio.gather(*(one(n) for n in range(6)))
        sb = await pool.acquire_async()
        sb.release()
        return results

    assert asyncio.run(main()) == [0, 2, 4, 6, 8, 10]
    pool.close()


def test_pool_options_apply_to_every_lease():
    pool = eryx.SandboxPool(max_size=2, result_variable="out",
                            resource_limits=eryx.ResourceLimits(max_output_bytes=10))
    with pool.acquire() as sb:
        r = sb.execute("out = 3\nprint('x' * 100)")
        assert r.result == 3 and r.output_truncated
    with pytest.raises(ValueError):
        eryx.SandboxPool(max_size=0)
    with pytest.raises(eryx.InvalidArgumentError):
        eryx.SandboxPool(max_size=1, min_idle=2)
    pool.close()
