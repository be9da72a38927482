"""One implementation's half of bench/compare.py, run in that implementation's venv.

    <venv>/bin/python bench/compare_worker.py IMPL SIZES_JSON

IMPL is `ours` (this project's `eryx` package), `pyeryx` (upstream's
`eryx` package: the same import name, in its own venv), `monty`
(pydantic-monty) or `native` (the CPU workloads in this interpreter).
SIZES_JSON is a JSON object of the sizes compare.py passes. Prints one JSON
object on its last line: {"info": {...}, "figures": {row: value},
"errors": {row: why}}. bench/compare.py's docstring says what each row
measures.
"""

import asyncio
import gc
import json
import os
import platform
import statistics
import sys
import threading
import time

# The CPU workloads: the same text everywhere (monty runs a Python subset;
# both run there unchanged).
SUM_CODE = "s = sum(i * i for i in range(1000000))\nassert s == 333332833333500000\n"
JSON_CODE = (
    "import json\n"
    "data = [{'id': i, 'name': 'item' + str(i), 'tags': ['a', 'b', 'c'],\n"
    "         'score': i * 0.5, 'ok': i % 2 == 0} for i in range(1000)]\n"
    "for _ in range(100):\n"
    "    out = json.loads(json.dumps(data))\n"
    "assert out == data\n")
GATHER_CODE = ("import asyncio\n"
               "r = await asyncio.gather(*[slow(i=i) for i in range(100)])\n"
               "assert r == list(range(100))\n")


def loop_code(k, body):
    return f"for _ in range({k}):\n    {body}\n"


def ms_since(t):
    return (time.perf_counter() - t) * 1000


def p50(fn, n, gap_s=0.0, warmup=5):
    """Median wall time of fn() in ms over n calls, after `warmup` calls;
    with gap_s, a sleep of that long before each call (not timed)."""
    for _ in range(min(warmup, n)):
        fn()
    samples = []
    for _ in range(n):
        if gap_s:
            time.sleep(gap_s)
        t = time.perf_counter()
        fn()
        samples.append(ms_since(t))
    return statistics.median(samples)


def throughput(make_runner, threads, seconds):
    """Calls per second: `threads` Python threads, each calling its own
    runner (make_runner() is called once per thread, before the clock
    starts) for `seconds`; the total count over the wall time."""
    runners = [make_runner() for _ in range(threads)]
    for r in runners:
        r()
    counts = [0] * threads
    start = threading.Barrier(threads + 1)
    deadline = [0.0]

    def work(i):
        run = runners[i]
        start.wait()
        n = 0
        while time.perf_counter() < deadline[0]:
            run()
            n += 1
        counts[i] = n

    ts = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for t in ts:
        t.start()
    t0 = time.perf_counter()
    deadline[0] = t0 + seconds
    start.wait()
    for t in ts:
        t.join()
    return sum(counts) / (time.perf_counter() - t0)


def marginal(run_k, run_0, k, n):
    """(p50 of an execution making k callbacks - p50 of the same loop making
    none) / k, in ms; the two alternate, n samples each."""
    for _ in range(3):
        run_k()
        run_0()
    a, b = [], []
    for _ in range(n):
        t = time.perf_counter()
        run_k()
        a.append(ms_since(t))
        t = time.perf_counter()
        run_0()
        b.append(ms_since(t))
    return (statistics.median(a) - statistics.median(b)) / k


def pss_kb(pids):
    """Sum of Pss (kB) over /proc/PID/smaps_rollup of `pids`."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1])
                        break
        except OSError:
            pass
    return total


def descendants(root):
    """root and every process below it (from /proc/*/stat parent ids)."""
    children = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(name))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


def cpu_rows(run, z, figures, errors):
    """The two CPU workloads through run(code): p50 ms over z["cpu_n"] runs."""
    for row, code in (("cpu_sum", SUM_CODE), ("cpu_json", JSON_CODE)):
        guarded(row, lambda: p50(lambda: run(code), z["cpu_n"], warmup=1), figures, errors)


def guarded(row, fn, figures, errors):
    try:
        figures[row] = fn()
    except Exception as exc:  # noqa: BLE001 - one row failing is reported, the rest go on
        first = (str(exc).strip().splitlines() or [""])[0][:160]
        errors[row] = f"{type(exc).__name__}: {first}"
        print(f"{row}: {errors[row]}", file=sys.stderr)


# ---------------------------------------------------------------- eryx (ours and upstream)

def bench_eryx(z, figures, errors):
    """ours and pyeryx: the same calls, as both packages take them."""
    import eryx

    async def slow(i: int) -> int:
        await asyncio.sleep(0.05)
        return i

    def one() -> int:
        return 1

    shared = eryx.Sandbox()
    assert shared.execute("print('hi')").stdout_text == "hi\n"
    guarded("oneoff_p50", lambda: p50(lambda: shared.execute("pass"), z["oneoff_n"]),
            figures, errors)

    def runner():
        sb = eryx.Sandbox()  # one per thread: a sandbox runs one execution at a time
        return lambda: sb.execute("pass")
    for threads in (1, 2):
        guarded(f"throughput_{threads}", lambda: throughput(runner, threads, z["tput_s"]),
                figures, errors)

    guarded("create_paced_p50",
            lambda: p50(lambda: eryx.Sandbox().execute("pass"), z["paced_n"], gap_s=0.01),
            figures, errors)

    session = eryx.Session()
    session.execute("x = 1 + 1")
    assert session.execute("print(x)").stdout_text == "2\n"
    guarded("session_p50", lambda: p50(lambda: session.execute("x = 1 + 1"), z["session_n"]),
            figures, errors)

    cb = eryx.Session(callbacks=[{"name": "f", "fn": one, "description": "1"},
                                 {"name": "slow", "fn": slow, "description": "sleeps"}])
    assert cb.execute("print(await f())").stdout_text == "1\n"
    k = z["cb_k"]
    with_k, with_0 = loop_code(k, "await f()"), loop_code(k, "pass")
    guarded("callback_marginal",
            lambda: marginal(lambda: cb.execute(with_k), lambda: cb.execute(with_0), k,
                             z["cb_n"]), figures, errors)
    guarded("gather_p50", lambda: p50(lambda: cb.execute(GATHER_CODE), z["gather_n"],
                                      warmup=2), figures, errors)
    del cb, session

    def pss():
        warm = eryx.Session()
        warm.execute("x = 1")
        gc.collect()
        time.sleep(0.3)  # let ours' warm-instance thread finish refilling
        before = pss_kb([os.getpid()])
        sessions = []
        for _ in range(z["pss_n"]):
            s = eryx.Session()
            s.execute("x = 1")
            sessions.append(s)
        gc.collect()
        time.sleep(0.3)
        after = pss_kb([os.getpid()])
        return (after - before) / 1024 / len(sessions)
    guarded("pss_mb", pss, figures, errors)

    cpu = eryx.Session()
    cpu_rows(cpu.execute, z, figures, errors)
    return {"package": eryx.__file__, "version": getattr(eryx, "__version__", "?")}


# ---------------------------------------------------------------- pydantic-monty

def bench_monty(z, figures, errors):
    import pydantic_monty
    from pydantic_monty import AsyncMonty, Monty

    def one():
        return 1

    many = {"max_suspensions": 10 ** 9}  # default 1000 per checkout
    with Monty() as pool:
        # A checkout is monty's fresh sandbox: a new REPL session on a warm
        # worker process (state does not carry over).
        def checkout_run():
            with pool.checkout() as s:
                s.feed_run("pass")
        with pool.checkout() as s:
            seen = []
            s.feed_run("print('hi')", print_callback=lambda stream, text: seen.append(text))
            assert "".join(seen) == "hi\n"
        guarded("oneoff_p50", lambda: p50(checkout_run, z["oneoff_n"]), figures, errors)
        for threads in (1, 2):
            guarded(f"throughput_{threads}",
                    lambda: throughput(lambda: checkout_run, threads, z["tput_s"]),
                    figures, errors)
        guarded("create_paced_p50", lambda: p50(checkout_run, z["paced_n"], gap_s=0.01),
                figures, errors)
        with pool.checkout(limits=many) as s:
            s.feed_run("x = 1 + 1")
            assert s.feed_run("x") == 2
            guarded("session_p50", lambda: p50(lambda: s.feed_run("x = 1 + 1"),
                                               z["session_n"]), figures, errors)
            k = z["cb_k"]
            with_k, with_0 = loop_code(k, "f()"), loop_code(k, "pass")
            lookup = {"f": one}
            assert s.feed_run("f()", external_lookup=lookup) == 1
            guarded("callback_marginal",
                    lambda: marginal(lambda: s.feed_run(with_k, external_lookup=lookup),
                                     lambda: s.feed_run(with_0, external_lookup=lookup),
                                     k, z["cb_n"]), figures, errors)
        with pool.checkout() as s:
            cpu_rows(s.feed_run, z, figures, errors)

    async def slow(i):
        await asyncio.sleep(0.05)
        return i

    async def gather():
        async with AsyncMonty() as apool:
            async with apool.checkout(limits=many) as s:
                samples = []
                for i in range(2 + z["gather_n"]):
                    t = time.perf_counter()
                    await s.feed_run(GATHER_CODE, external_lookup={"slow": slow})
                    if i >= 2:
                        samples.append(ms_since(t))
                return statistics.median(samples)
    guarded("gather_p50", lambda: asyncio.run(gather()), figures, errors)

    def pss():
        # monty's idle session is a checked-out worker process: the PSS of
        # this process and all its descendants, before and after.
        n = z["pss_n"]
        with Monty(min_processes=1, max_processes=n + 1) as mpool:
            with mpool.checkout() as s:
                s.feed_run("x = 1")
            time.sleep(0.2)
            gc.collect()
            before = pss_kb(descendants(os.getpid()))
            held = []
            try:
                for _ in range(n):
                    s = mpool.checkout()
                    s.__enter__()
                    held.append(s)
                    s.feed_run("x = 1")
                gc.collect()
                time.sleep(0.2)
                after = pss_kb(descendants(os.getpid()))
                workers = len({s.worker_pid for s in held})
            finally:
                for s in held:
                    s.__exit__(None, None, None)
        if workers != n:
            raise RuntimeError(f"{n} sessions on {workers} workers")
        return (after - before) / 1024 / n
    guarded("pss_mb", pss, figures, errors)
    return {"package": pydantic_monty.__file__, "version": pydantic_monty.__version__}


# ---------------------------------------------------------------- native CPython

def bench_native(z, figures, errors):
    def run(code):
        exec(compile(code, "<bench>", "exec"), {"__name__": "__bench__"})
    cpu_rows(run, z, figures, errors)
    return {}


def main():
    impl, z = sys.argv[1], json.loads(sys.argv[2])
    figures, errors = {}, {}
    bench = {"ours": bench_eryx, "pyeryx": bench_eryx, "monty": bench_monty,
             "native": bench_native}[impl]
    t = time.perf_counter()
    info = bench(z, figures, errors)
    info.update(python=platform.python_version(), executable=sys.executable,
                seconds=round(time.perf_counter() - t, 1))
    print(json.dumps({"info": info, "figures": figures, "errors": errors}), flush=True)


if __name__ == "__main__":
    main()
