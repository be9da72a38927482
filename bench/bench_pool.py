"""SandboxPool against a plain Sandbox per request, in one run.

One-off executions (a small script with a callback) per second, with 1
and 2 threads: each request either creates a Sandbox() or leases one from
a SandboxPool(max_size = threads). Then the pool saturated: 8 threads on
a pool of 2, with the acquire wait's p50/p99 from the pool's own stats.
Prints one JSON line per case, then one describing the machine.

    make bench-pool        (or: python bench/bench_pool.py, with eryx installed)
"""

import json
import os
import platform
import threading
import time

import eryx

CODE = "x = await add(a=1, b=2)\nprint(x)\nresult = x"
SECONDS = 3.0


def callbacks():
    return [{"name": "add", "fn": lambda a, b: a + b, "description": "a + b"}]


def run_for(threads, one):
    done = [0] * threads
    stop = time.monotonic() + SECONDS

    def work(i):
        while time.monotonic() < stop:
            one()
            done[i] += 1

    ts = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    t0 = time.monotonic()
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return sum(done) / (time.monotonic() - t0)


def plain():
    r = eryx.Sandbox(callbacks=callbacks()).execute(CODE)
    assert r.result == 3


def pooled(pool):
    def one():
        with pool.acquire(callbacks=callbacks()) as sb:
            assert sb.execute(CODE).result == 3
    return one


def main():
    for threads in (1, 2):
        plain_rate = run_for(threads, plain)
        pool = eryx.SandboxPool(max_size=threads, min_idle=threads)
        pool_rate = run_for(threads, pooled(pool))
        pool.close()
        print(json.dumps({"case": "one-off execution with a callback", "threads": threads,
                          "plain_sandbox_per_s": round(plain_rate, 1),
                          "pooled_per_s": round(pool_rate, 1),
                          "pooled_vs_plain": round(pool_rate / plain_rate, 2)}))
    pool = eryx.SandboxPool(max_size=2, min_idle=2, acquire_timeout_ms=None)
    rate = run_for(8, pooled(pool))
    s = pool.stats()
    pool.close()
    print(json.dumps({"case": "saturated: 8 threads, max_size 2", "per_s": round(rate, 1),
                      "acquisitions": s.total_acquisitions, "waits": s.wait_count,
                      "acquire_p50_ms": round(s.wait_p50_ms, 3),
                      "acquire_p99_ms": round(s.wait_p99_ms, 3),
                      "creations": s.total_creations}))
    print(json.dumps({"machine": platform.machine(), "cpus": os.cpu_count(),
                      "kernel": platform.release(), "python": platform.python_version()}))


if __name__ == "__main__":
    main()
