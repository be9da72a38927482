"""CPU-bound pure Python: the sandbox's CPython against native CPython.

The workloads are pyperformance's own benchmark sources (the wheel pinned
by hash in bench/requirements-pyperf.txt, downloaded into a cache, never
installed). A small stand-in for `pyperf` (Runner.bench_func,
bench_time_func, argparser, metadata) runs each benchmark's own
`__main__` block with the default arguments and times a fixed number of
calls after one warm-up call, with time.perf_counter inside the
interpreter, so interpreter start-up and sandbox creation are not counted.
Each run is a fresh interpreter: a new eryx.Sandbox, or a new native
process. eryx and native alternate, several rounds; the table gives the
median (and the range) of the time per call.

    make bench-pyperf                  (or: python bench/bench_pyperf.py)
    python bench/bench_pyperf.py --rounds 5 --only nbody,go --target-ms 300

Native Python: python3.14 if the machine has one (PATH or pyenv), else the
newest of 3.13 .. 3.10; the table says which. --native PATH chooses.
"""

import argparse
import glob
import hashlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import zipfile

import eryx

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REQS = os.path.join(ROOT, "bench", "requirements-pyperf.txt")
CACHE = os.path.join(os.path.expanduser("~"), ".cache", "eryx", "pyperf")

# pyperformance benchmarks that need nothing outside the standard library.
BENCHMARKS = ["nbody", "richards", "float", "fannkuch", "spectral_norm",
              "json_dumps", "json_loads", "regex_v8", "deltablue", "go",
              "chaos", "raytrace", "nqueens", "hexiom", "unpack_sequence"]

# The two loops of issue #20, as sources of the same shape.
MICRO = {
    "micro_genexpr": (
        "import pyperf\n"
        "def f():\n"
        "    return sum(i * i for i in range(1_000_000))\n"
        "if __name__ == '__main__':\n"
        "    pyperf.Runner().bench_func('micro_genexpr', f)\n"),
    "micro_module_for": (
        "import pyperf\n"
        "SRC = 's = 0\\nfor i in range(1_000_000):\\n    s += i * i\\n'\n"
        "CODE = compile(SRC, 'loop', 'exec')\n"
        "def f():\n"
        "    exec(CODE, {})\n"
        "if __name__ == '__main__':\n"
        "    pyperf.Runner().bench_func('micro_module_for', f)\n"),
}

# Runs in both interpreters: a stand-in for pyperf, then the benchmark's
# source as __main__; `result` = seconds per call.
DRIVER = r'''
import argparse, sys, time, types
def _run(src, name, loops):
    out = {}
    class Runner:
        def __init__(self, *a, **k):
            self.metadata = {}
            self.argparser = argparse.ArgumentParser()
        def parse_args(self, args=None):
            return self.argparser.parse_args([])
        def bench_func(self, bname, func, *args, inner_loops=None):
            func(*args)
            t0 = time.perf_counter()
            for _ in range(loops):
                func(*args)
            out["s"] = (time.perf_counter() - t0) / loops
        def bench_time_func(self, bname, func, *args, inner_loops=None):
            func(1, *args)
            out["s"] = func(loops, *args) / loops
    pyperf = types.ModuleType("pyperf")
    pyperf.Runner = Runner
    pyperf.perf_counter = time.perf_counter
    sys.modules["pyperf"] = pyperf
    ns = {"__name__": "__main__", "__file__": name + ".py"}
    exec(compile(src, name + ".py", "exec"), ns)
    return out["s"]
'''


def pinned():
    """(version, sha256) of pyperformance in bench/requirements-pyperf.txt."""
    for line in open(REQS):
        if line.startswith("pyperformance=="):
            spec, h = line.split()
            return spec.split("==")[1], h.split("sha256:")[1]
    raise SystemExit("no pyperformance pin in " + REQS)


def fetch_sources():
    """{name: source} from the pinned pyperformance wheel (downloaded once
    into the cache by pip with --require-hashes; the cached file is
    checked against the same hash on every run)."""
    version, sha = pinned()
    pattern = os.path.join(CACHE, "pyperformance-%s-*.whl" % version)
    if not glob.glob(pattern):
        os.makedirs(CACHE, exist_ok=True)
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps",
                        "--require-hashes", "-r", REQS, "-d", CACHE], check=True)
    wheel = glob.glob(pattern)[0]
    with open(wheel, "rb") as f:
        if hashlib.sha256(f.read()).hexdigest() != sha:
            raise SystemExit("%s does not match the pinned sha256: remove it" % wheel)
    out = {}
    with zipfile.ZipFile(wheel) as z:
        for b in BENCHMARKS:
            p = "pyperformance/data-files/benchmarks/bm_%s/run_benchmark.py" % b
            out[b] = z.read(p).decode()
    out.update(MICRO)
    return out


def find_native():
    cands = [shutil.which("python3.14")]
    pyenv = os.path.join(os.path.expanduser("~"), ".pyenv", "versions")
    for v in ("3.14", "3.13", "3.12", "3.11", "3.10"):
        cands += sorted(glob.glob(os.path.join(pyenv, v + ".*", "bin", "python")))[::-1]
        cands.append(shutil.which("python" + v))
    for c in cands:
        if c and os.access(c, os.X_OK):
            return c
    return sys.executable


def program(src, name, loops):
    return DRIVER + "\nresult = _run(%r, %r, %d)\n" % (src, name, loops)


def run_eryx(src, name, loops):
    sb = eryx.Sandbox(resource_limits=eryx.ResourceLimits(
        execution_timeout_ms=600_000, max_memory_bytes=1 << 30))
    r = sb.execute(program(src, name, loops))  # raises on an error in the guest
    return float(r.result)


def run_native(python, src, name, loops):
    code = program(src, name, loops) + "print(result)\n"
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as f:
        f.write(code)
    try:
        p = subprocess.run([python, "-I", f.name], capture_output=True, text=True)
    finally:
        os.unlink(f.name)
    if p.returncode:
        raise RuntimeError("%s natively: %s" % (name, p.stderr))
    return float(p.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--target-ms", type=float, default=250.0,
                    help="native time of one run's timed calls (sets the loop count)")
    ap.add_argument("--only", help="comma-separated benchmark names")
    ap.add_argument("--native", help="native python to compare with")
    ap.add_argument("--json", action="store_true", help="one JSON line per benchmark too")
    a = ap.parse_args()

    srcs = fetch_sources()
    names = [n for n in srcs if not a.only or n in a.only.split(",")]
    native = a.native or find_native()
    nver = subprocess.run([native, "-c", "import sys; print(sys.version.split()[0])"],
                          capture_output=True, text=True).stdout.strip()
    gver = eryx.Sandbox().execute("import sys; result = sys.version.split()[0]").result

    rows = []
    for n in names:
        # Loop count from one native calibration run, the same for both.
        t1 = run_native(native, srcs[n], n, 1)
        loops = max(1, min(1000, round(a.target_ms / 1000 / t1)))
        e, nat = [], []
        for r in range(a.rounds):
            if r % 2 == 0:
                e.append(run_eryx(srcs[n], n, loops))
                nat.append(run_native(native, srcs[n], n, loops))
            else:
                nat.append(run_native(native, srcs[n], n, loops))
                e.append(run_eryx(srcs[n], n, loops))
        me, mn = statistics.median(e), statistics.median(nat)
        rows.append((n, loops, me, min(e), max(e), mn, min(nat), max(nat), me / mn))
        if a.json:
            print(json.dumps({"bench": n, "loops": loops, "eryx_s": e, "native_s": nat}),
                  flush=True)
        print("%-18s %8.2f ms  %8.2f ms  %.2fx" % (n, me * 1e3, mn * 1e3, me / mn),
              file=sys.stderr, flush=True)

    print()
    print("eryx: CPython %s (wasm32-wasi, Wasmtime); native: CPython %s (%s)%s" % (
        gver, nver, native, "" if nver.startswith("3.14") else
        " - no native 3.14 on this machine"))
    print("machine: %s, %d CPUs, %s; %d rounds, median (min-max) ms per call" % (
        platform.machine(), os.cpu_count(), platform.platform(), a.rounds))
    print()
    print("| benchmark | calls | eryx ms | native ms | ratio |")
    print("| --- | --- | --- | --- | --- |")
    for n, loops, me, el, eh, mn, nl, nh, ratio in rows:
        print("| %s | %d | %.2f (%.2f-%.2f) | %.2f (%.2f-%.2f) | %.2fx |" % (
            n, loops, me * 1e3, el * 1e3, eh * 1e3, mn * 1e3, nl * 1e3, nh * 1e3, ratio))
    ratios = [r[-1] for r in rows if not r[0].startswith("micro_")]
    if ratios:
        print("| geometric mean (pyperformance rows) | | | | %.2fx |" %
              statistics.geometric_mean(ratios))


if __name__ == "__main__":
    main()
