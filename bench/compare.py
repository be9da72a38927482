"""Side-by-side benchmark: the eryx Python package vs pydantic-monty.

    make bench-compare          (or: build/pyenv/bin/python bench/compare.py)

Each implementation runs in its own venv and its own process: eryx in the
interpreter running this script (build/pyenv, from `make python-install`),
pydantic-monty in build/bench-monty (created here from
bench/requirements-monty.txt, pinned by hash). The same four workloads run
in both, and the table gives median times and the eryx/monty ratio
(below 1: eryx is faster).

Workloads (N iterations each, after warm-up):
  create+pass     a fresh sandbox (eryx.Sandbox / pool.checkout()) running `pass`,
                  back to back
  create+pass paced  the same, one every 10 ms (requests spaced out)
  session print   print('hi') in a warm session, output captured
  one callback    a warm session calling one host function that returns 1
  100 callbacks   asyncio.gather of 100 async host functions, each sleeping 50 ms

The two are different designs: eryx runs real CPython 3.14 compiled to
WebAssembly in-process; monty is a Python-subset interpreter in Rust that
runs in a pool of worker subprocesses (its pool spawns workers ahead, so
its "create" is a checkout of a warm worker).
"""

import json
import os
import platform
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
MONTY_VENV = os.path.join(ROOT, "build", "bench-monty")

WORKLOADS = [("create+pass", 200), ("create+pass paced", 100), ("session print", 500),
             ("one callback", 500), ("100 callbacks", 20)]


def timed(fn, n, gap_s=0.0):
    for _ in range(min(5, n)):
        fn()
    samples = []
    for _ in range(n):
        if gap_s:
            time.sleep(gap_s)
        t = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t) * 1000)
    return statistics.median(samples)


def bench_eryx():
    import asyncio
    import eryx

    async def slow(i: int) -> int:
        await asyncio.sleep(0.05)
        return i

    session = eryx.Session()
    cb_session = eryx.Session(callbacks=[{"name": "f", "fn": lambda: 1},
                                         {"name": "slow", "fn": slow}])
    gather = ("import asyncio\n"
              "r = await asyncio.gather(*[slow(i) for i in range(100)])\n"
              "assert r == list(range(100))")
    create = lambda: eryx.Sandbox().execute("pass")  # noqa: E731
    run = {
        "create+pass": create,
        "create+pass paced": create,
        "session print": lambda: session.execute("print('hi')"),
        "one callback": lambda: cb_session.execute("await f()"),
        "100 callbacks": lambda: cb_session.execute(gather),
    }
    assert session.execute("print('hi')").stdout_text == "hi\n"
    return {name: timed(run[name], n, 0.01 if "paced" in name else 0.0)
            for name, n in WORKLOADS}


def bench_monty():
    import asyncio
    from pydantic_monty import AsyncMonty, Monty

    out = {}
    with Monty() as pool:
        def create():
            with pool.checkout() as s:
                s.feed_run("pass")
        out["create+pass"] = timed(create, WORKLOADS[0][1])
        out["create+pass paced"] = timed(create, WORKLOADS[1][1], 0.01)
        with pool.checkout() as s:
            seen = []
            s.feed_run("print('hi')", print_callback=lambda stream, text: seen.append(text))
            assert "".join(seen) == "hi\n"
            out["session print"] = timed(
                lambda: s.feed_run("print('hi')", print_callback=lambda st, t: None),
                WORKLOADS[2][1])
            out["one callback"] = timed(
                lambda: s.feed_run("f()", external_lookup={"f": lambda: 1}), WORKLOADS[3][1])

    async def slow(i):
        await asyncio.sleep(0.05)
        return i

    # A monty session allows 1000 suspensions in all, so each round takes a
    # fresh worker (a checkout costs ~0.2 ms against the 50 ms measured).
    async def gather_all():
        code = ("import asyncio\n"
                "r = await asyncio.gather(*[slow(i) for i in range(100)])\n"
                "assert r == list(range(100))")
        async with AsyncMonty() as apool:
            samples = []
            for i in range(3 + WORKLOADS[4][1]):
                async with apool.checkout() as s:
                    t = time.perf_counter()
                    await s.feed_run(code, external_lookup={"slow": slow})
                    if i >= 3:
                        samples.append((time.perf_counter() - t) * 1000)
            return statistics.median(samples)

    out["100 callbacks"] = asyncio.run(gather_all())
    return out


def monty_python():
    py = os.path.join(MONTY_VENV, "bin", "python")
    if not os.path.exists(py):
        subprocess.run([sys.executable, "-m", "venv", MONTY_VENV], check=True)
        subprocess.run([py, "-m", "pip", "install", "-q", "--require-hashes", "-r",
                        os.path.join(HERE, "requirements-monty.txt")], check=True)
    return py


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--monty":
        print(json.dumps(bench_monty()), flush=True)
        return
    eryx_ms = bench_eryx()
    # pydantic-monty 1.4.0 sometimes aborts while its process exits, after
    # the figures are printed: judge the run by its output, not its status.
    out = subprocess.run([monty_python(), __file__, "--monty"], capture_output=True,
                         text=True)
    try:
        monty_ms = json.loads(out.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        sys.exit(f"the monty run failed (status {out.returncode}):\n{out.stderr}")
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, "
          f"{platform.system()} {platform.release()}; Python {platform.python_version()}")
    print(f"{'workload':<20}{'eryx ms':>10}{'monty ms':>10}{'eryx/monty':>12}")
    for name, _ in WORKLOADS:
        e, m = eryx_ms[name], monty_ms[name]
        print(f"{name:<20}{e:>10.3f}{m:>10.3f}{e / m:>12.2f}")


if __name__ == "__main__":
    main()
