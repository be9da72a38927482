"""Where a callback round trip goes, through the Python package: the figures
bench/README.md ("Callbacks") cites, one JSON object per line.

    build/pyenv/bin/python bench/callback_breakdown.py [ROUNDS]   (default 15)

  round_trip_us     (an execution of K sequential `await f()` - the same loop
                    without the call) / K, for a plain and an async f
  dispatch_us       p50 time inside the package's Dispatcher per plain call
                    (the executing thread's share on the host)
  gather            asyncio.gather of 100 calls of an async callback that
                    sleeps D s (D = 0 and 0.05): p50 total, and the spread of
                    the 100 starts as the host saw them (first to last)
  guest_side_us     the same gather seen from the guest: p50 time inside
                    host.callback_start per start, and p50 guest time
                    between two starts

Medians over ROUNDS executions; the wrappers that take the timestamps add
their own microseconds, so compare runs of this script with each other.
"""

import asyncio
import json
import statistics
import sys
import time

import eryx
from eryx import callbacks as host_callbacks

K = 200


def p50(xs):
    return round(statistics.median(xs), 2)


def run_ms(session, code):
    t = time.perf_counter()
    session.execute(code)
    return (time.perf_counter() - t) * 1000


def round_trips(rounds):
    def plain(n: int) -> int:
        return n

    async def coro(n: int) -> int:
        return n

    s = eryx.Session(callbacks=[{"name": "plain", "fn": plain}, {"name": "coro", "fn": coro}])
    out = {}
    for name in ("plain", "coro"):
        with_call = f"for i in range({K}):\n    await {name}(n=i)\n"
        without = f"for i in range({K}):\n    pass\n"
        for _ in range(3):
            s.execute(with_call)
        per = [(run_ms(s, with_call) - run_ms(s, without)) * 1000 / K for _ in range(rounds)]
        out[name] = p50(per)
    print(json.dumps({"bench": "round_trip_us", **out}))


def dispatch_time(rounds):
    spans = []
    inner = host_callbacks.Dispatcher.__call__

    def timed(self, name, args, call):
        t = time.perf_counter()
        inner(self, name, args, call)
        spans.append((time.perf_counter() - t) * 1e6)

    host_callbacks.Dispatcher.__call__ = timed
    try:
        s = eryx.Session(callbacks=[{"name": "plain", "fn": lambda n: n}])
        for _ in range(rounds):
            s.execute(f"for i in range({K}):\n    await plain(n=i)\n")
    finally:
        host_callbacks.Dispatcher.__call__ = inner
    print(json.dumps({"bench": "dispatch_us", "plain_p50": p50(spans)}))


GUEST_TIMING = """
import asyncio, time, statistics
from eryx_guest import callbacks as c
real = c.host
spans = []
class Timed:
    def __getattr__(self, k):
        return getattr(real, k)
    def callback_start(self, name, payload):
        t = time.perf_counter()
        r = real.callback_start(name, payload)
        spans.append((t, time.perf_counter()))
        return r
c.host = Timed()
try:
    await asyncio.gather(*[slow(i=i, d={d}) for i in range(100)])
finally:
    c.host = real
inside = [(b - a) * 1e6 for a, b in spans]
between = [(spans[i + 1][0] - spans[i][1]) * 1e6 for i in range(len(spans) - 1)]
result = [statistics.median(inside), statistics.median(between)]
"""


def gathers(rounds):
    starts = []

    async def slow(i: int, d: float) -> int:
        starts.append(time.perf_counter())
        await asyncio.sleep(d)
        return i

    s = eryx.Session(callbacks=[{"name": "slow", "fn": slow}])
    for d in (0.0, 0.05):
        code = f"import asyncio\nawait asyncio.gather(*[slow(i=i, d={d}) for i in range(100)])\n"
        for _ in range(2):
            s.execute(code)
        totals, spreads, inside, between = [], [], [], []
        for _ in range(rounds):
            starts.clear()
            totals.append(run_ms(s, code))
            spreads.append((starts[-1] - starts[0]) * 1000)
        for _ in range(max(3, rounds // 3)):
            a, b = s.execute(GUEST_TIMING.replace("{d}", str(d))).result
            inside.append(a)
            between.append(b)
        print(json.dumps({"bench": "gather", "sleep_s": d, "total_ms": p50(totals),
                          "start_spread_ms": p50(spreads)}))
        print(json.dumps({"bench": "guest_side_us", "sleep_s": d,
                          "in_callback_start": p50(inside), "between_starts": p50(between)}))


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 15
    round_trips(rounds)
    dispatch_time(rounds)
    gathers(rounds)


if __name__ == "__main__":
    main()
