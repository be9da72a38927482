"""Side by side, through each project's Python package: this project's `eryx`
(ours), upstream Eryx's `pyeryx`, pydantic-monty, and native CPython for the
CPU rows.

    make bench-compare        (or: build/pyenv/bin/python bench/compare.py)
    build/pyenv/bin/python bench/compare.py --quick            a smoke run (~1 min)
    build/pyenv/bin/python bench/compare.py --json out.json    also every raw figure
    ... --rounds 5 --set pss_n=200 --set cpu_n=9               other sizes

Each implementation runs bench/compare_worker.py in its own venv and its own
process, and the runs alternate: ours, pyeryx, monty, native, ours, pyeryx,
... for --rounds rounds (3). Each run gives one figure per row (a p50 over
many iterations, or a rate); the table shows each row's median over the
rounds. The venvs:

  ours    the interpreter running this script (build/pyenv from
          `make python-install`), with this checkout's `eryx` installed
          (--ours-python: another one with it, e.g. build/pyenv-3.13 from
          `make test-python-versions`, for the same host Python as pyeryx)
  pyeryx  build/bench-pyeryx: Python 3.13 or 3.12 (its wheel is abi3 for
          3.12+) with bench/requirements-pyeryx.txt (pyeryx 0.11.0, by hash)
  monty   build/bench-monty: this interpreter's Python with
          bench/requirements-monty.txt (pydantic-monty 1.4.0, by hash)
  native  this interpreter itself (or --native-python), running the CPU
          rows' code with exec()

A venv that cannot be made (no network, no suitable Python) gives its column
as "n/a (why)"; the other columns are still measured.

Rows (all times are wall time in the host, around the package's call):

  one-off run on a shared Sandbox, back to back, p50
      ours/pyeryx: one eryx.Sandbox, .execute("pass") over and over (every
      execution is a fresh interpreter). monty: `with pool.checkout() as s:
      s.feed_run("pass")` on one Monty() pool (a checkout is a fresh session
      on a warm worker process).
  one-off throughput, 1 / 2 threads (ops/s)
      the same one-off run in a loop for tput_s seconds on 1 and on 2 Python
      threads; each thread has its own Sandbox (a sandbox runs one execution
      at a time; both packages release the GIL while it runs). monty: each
      thread checks out of the shared pool (2 workers on 2 cores: its default
      max_processes is the CPU count).
  create + run, paced every 10 ms, p50
      ours/pyeryx: eryx.Sandbox().execute("pass"), a new Sandbox each time,
      one every 10 ms (the sleep is not timed). monty: the checkout + run
      above, paced the same way (monty has no cheaper or dearer "create").
  warm session `x = 1 + 1`, p50
      eryx.Session().execute("x = 1 + 1") on one session; monty: feed_run on
      one checked-out session.
  callback round trip, marginal
      in a warm session with a host function f (plain, returns 1):
      (p50 of `for _ in range(K): await f()` - p50 of `for _ in range(K):
      pass`) / K, K = cb_k (100), the two alternating, cb_n samples each.
      monty: the same with `f()` (a synchronous external function of a
      sync session; its per-checkout limit of 1000 suspensions raised).
  `gather` of 100 x 50 ms callbacks (ideal 50), p50
      asyncio.gather of 100 calls of an `async def` host function that
      sleeps 50 ms, in a warm session (monty: AsyncMonty).
  PSS per idle session (N = pss_n, 100)
      ours/pyeryx: Pss of /proc/self/smaps_rollup before and after making
      N Sessions that have each run `x = 1` (and are kept), / N. monty: an
      idle session is a checked-out worker process, so: Pss summed over
      this process and all its descendants, before and after checking out N
      sessions (one worker each) that have each run `x = 1`, / N.
  CPU: sum(i*i) over 1e6; json dumps+loads, 1000 dicts x 100
      compare_worker.SUM_CODE and JSON_CODE (a list of 1000 small dicts,
      dumped and loaded 100 times), p50 of cpu_n runs in a warm session;
      native: exec() of the same text in the native interpreter.

Ratios are ours / other: below 1 ours is faster or smaller, except for the
throughput row (ops/s), where above 1 ours is faster.
"""

import argparse
import glob
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time

from benchinfo import cpu_model

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
WORKER = os.path.join(HERE, "compare_worker.py")
PYERYX_VENV = os.path.join(ROOT, "build", "bench-pyeryx")
MONTY_VENV = os.path.join(ROOT, "build", "bench-monty")
PYERYX_VERSION = "0.11.0"
MONTY_VERSION = "1.4.0"

IMPLS = ["ours", "pyeryx", "monty", "native"]

SIZES = {"oneoff_n": 300, "tput_s": 3.0, "paced_n": 150, "session_n": 500, "cb_k": 100,
         "cb_n": 30, "gather_n": 10, "pss_n": 100, "cpu_n": 5}
QUICK = {"oneoff_n": 30, "tput_s": 0.5, "paced_n": 20, "session_n": 100, "cb_k": 100,
         "cb_n": 5, "gather_n": 3, "pss_n": 20, "cpu_n": 1}

# (label, figure keys, unit); two keys make an "a / b" cell.
ROWS = [
    ("one-off run on a shared Sandbox, back to back, p50", ["oneoff_p50"], "ms"),
    ("one-off throughput, 1 / 2 threads (ops/s)", ["throughput_1", "throughput_2"], ""),
    ("create + run, paced every 10 ms, p50", ["create_paced_p50"], "ms"),
    ("warm session `x = 1 + 1`, p50", ["session_p50"], "ms"),
    ("callback round trip, marginal", ["callback_marginal"], "ms"),
    ("`gather` of 100 × 50 ms callbacks (ideal 50), p50", ["gather_p50"], "ms"),
    ("PSS per idle session (N = {pss_n})", ["pss_mb"], "MB"),
    ("CPU: `sum(i*i)` over 1e6, p50", ["cpu_sum"], "ms"),
    ("CPU: json dumps+loads, 1000 dicts × 100, p50", ["cpu_json"], "ms"),
]


def machine():
    return (f"{cpu_model()}, {os.cpu_count()} cores, {platform.system()} {platform.release()} "
            f"{platform.machine()}")


def loadavg():
    try:
        return " ".join(open("/proc/loadavg").read().split()[:3])
    except OSError:
        return "?"


def git_rev():
    p = subprocess.run(["git", "-C", ROOT, "describe", "--always", "--dirty"],
                       capture_output=True, text=True)
    return p.stdout.strip() or "?"


def tail(text, n=1):
    lines = [ln for ln in (text or "").strip().splitlines() if ln.strip()]
    return " | ".join(lines[-n:])[-200:] if lines else "?"


def venv_with(venv, bases, requirements, check):
    """The python of `venv` (made from the first of `bases` that can make a
    venv, then filled from `requirements` by hash) once `check` runs in it,
    or (None, why)."""
    py = os.path.join(venv, "bin", "python")
    if os.path.exists(py) and subprocess.run([py, "-c", check],
                                             capture_output=True).returncode == 0:
        return py, ""
    base = next((b for b in bases if b and subprocess.run(
        [b, "-c", "import venv, ensurepip"], capture_output=True).returncode == 0), None)
    if base is None:
        return None, "no suitable Python to make its venv"
    shutil.rmtree(venv, ignore_errors=True)
    p = subprocess.run([base, "-m", "venv", venv], capture_output=True, text=True)
    if p.returncode != 0:
        return None, "venv failed: " + tail(p.stderr)
    p = subprocess.run([py, "-m", "pip", "install", "-q", "--disable-pip-version-check",
                        "--require-hashes", "-r", requirements],
                       capture_output=True, text=True)
    if p.returncode != 0:
        return None, "pip install failed: " + tail(p.stderr)
    p = subprocess.run([py, "-c", check], capture_output=True, text=True)
    if p.returncode != 0:
        return None, "installed but does not import: " + tail(p.stderr)
    return py, ""


def pyeryx_python():
    bases = []
    for v in ("3.13", "3.12"):
        bases.append(shutil.which(f"python{v}"))
        bases += sorted(glob.glob(os.path.expanduser(f"~/.pyenv/versions/{v}.*/bin/python")),
                        reverse=True)
    return venv_with(PYERYX_VENV, bases, os.path.join(HERE, "requirements-pyeryx.txt"),
                     f"import eryx; assert eryx.__version__ == {PYERYX_VERSION!r}")


def monty_python():
    # requirements-monty.txt's hashes are of CPython 3.11 wheels: this interpreter's.
    return venv_with(MONTY_VENV, [sys.executable], os.path.join(HERE, "requirements-monty.txt"),
                     f"import pydantic_monty as m; assert m.__version__ == {MONTY_VERSION!r}")


def ours_python(py):
    if not os.access(py, os.X_OK):
        return None, f"no interpreter {py}"
    p = subprocess.run([py, "-c", "import eryx; eryx.Sandbox().execute('pass')"],
                       capture_output=True, text=True)
    if p.returncode != 0:
        return None, "eryx does not run in " + py + " (make python-install): " + tail(p.stderr)
    return py, ""


def run_worker(py, impl, sizes, timeout):
    """One run: its JSON (figures, errors, info), or raises RuntimeError."""
    try:
        p = subprocess.run([py, WORKER, impl, json.dumps(sizes)], capture_output=True,
                           text=True, timeout=timeout, cwd=HERE)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"timed out after {timeout} s") from None
    except OSError as exc:
        raise RuntimeError(f"cannot start {py}: {exc}") from None
    # pydantic-monty 1.4.0 sometimes aborts while its process exits, after
    # the figures are printed: judge a run by its output, not its status.
    for line in reversed(p.stdout.strip().splitlines()):
        try:
            out = json.loads(line)
        except ValueError:
            continue
        if isinstance(out, dict) and "figures" in out:
            out["status"] = p.returncode
            return out
    raise RuntimeError(f"exit status {p.returncode}: {tail(p.stderr, 2)}")


def fmt(v, unit=""):
    if v is None:
        return "—"
    a = abs(v)
    s = (f"{v:.0f}" if a >= 100 else f"{v:.1f}" if a >= 10 else
         f"{v:.2f}" if a >= 1 else f"{v:.3f}" if a >= 0.01 else f"{v:.4f}")
    return f"{s} {unit}".strip()


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="small sizes and 1 round (smoke run)")
    ap.add_argument("--rounds", type=int, help="alternating rounds (default 3; --quick: 1)")
    ap.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                    help=f"override a size ({', '.join(SIZES)})")
    ap.add_argument("--only", help="comma-separated implementations to run "
                    f"(of {','.join(IMPLS)})")
    ap.add_argument("--json", metavar="FILE", help="also write every figure as JSON")
    ap.add_argument("--ours-python", default=sys.executable, metavar="PY",
                    help="the interpreter with this checkout's eryx (default: this one)")
    ap.add_argument("--native-python", default=sys.executable, metavar="PY",
                    help="the interpreter for the native CPU rows (default: this one)")
    ap.add_argument("--timeout", type=float, default=600, help="seconds per run (600)")
    args = ap.parse_args()

    sizes = dict(QUICK if args.quick else SIZES)
    for item in args.set:
        name, _, value = item.partition("=")
        if name not in SIZES:
            ap.error(f"--set: unknown size {name!r}")
        sizes[name] = type(SIZES[name])(value)
    rounds = args.rounds or (1 if args.quick else 3)
    only = IMPLS if not args.only else [i.strip() for i in args.only.split(",")]
    for impl in only:
        if impl not in IMPLS:
            ap.error(f"--only: unknown implementation {impl!r}")

    started = time.time()
    load_start = loadavg()
    unavailable, pythons = {}, {}
    # abspath, not realpath: a venv's python is a symlink that must stay one.
    ours_py, native_py = os.path.abspath(args.ours_python), os.path.abspath(args.native_python)
    setups = {"ours": lambda: ours_python(ours_py), "pyeryx": pyeryx_python,
              "monty": monty_python,
              "native": lambda: (native_py, "") if os.access(native_py, os.X_OK)
              else (None, f"no interpreter {native_py}")}
    for impl in IMPLS:
        if impl not in only:
            unavailable[impl] = "not run (--only)"
            continue
        py, why = setups[impl]()
        if py is None:
            unavailable[impl] = why
            print(f"{impl}: n/a ({why})", file=sys.stderr)
        else:
            pythons[impl] = py

    runs = {impl: [] for impl in IMPLS}
    failures = {impl: [] for impl in IMPLS}
    infos = {}
    for r in range(rounds):
        for impl in IMPLS:
            if impl not in pythons:
                continue
            print(f"round {r + 1}/{rounds}: {impl} ...", file=sys.stderr, flush=True)
            try:
                out = run_worker(pythons[impl], impl, sizes, args.timeout)
            except RuntimeError as exc:
                failures[impl].append(str(exc))
                print(f"  {impl} failed: {exc}", file=sys.stderr)
                continue
            runs[impl].append(out)
            infos[impl] = out["info"]
            for row, why in out["errors"].items():
                print(f"  {impl} {row}: {why}", file=sys.stderr)
    for impl in list(pythons):
        if not runs[impl]:
            unavailable[impl] = "every run failed: " + (failures[impl] or ["?"])[-1]

    medians, ranges, errors = {}, {}, {}
    for impl in IMPLS:
        medians[impl], ranges[impl], errors[impl] = {}, {}, {}
        for out in runs[impl]:
            for row, why in out["errors"].items():
                errors[impl].setdefault(row, why)
        keys = {k for out in runs[impl] for k in out["figures"]}
        for k in keys:
            vals = [out["figures"][k] for out in runs[impl] if k in out["figures"]]
            medians[impl][k] = statistics.median(vals)
            ranges[impl][k] = [min(vals), max(vals)]

    load_end = loadavg()
    elapsed = time.time() - started

    def cell(impl, keys, unit):
        if impl in unavailable:
            return "not run" if unavailable[impl] == "not run (--only)" else "n/a"
        vals = [medians[impl].get(k) for k in keys]
        if all(v is None for v in vals):
            why = next((errors[impl][k] for k in keys if k in errors[impl]), None)
            return f"n/a ({why})" if why else "—"
        return " / ".join(fmt(v, unit if len(keys) == 1 else "") for v in vals)

    def ratio_cell(other, keys):
        rs = [ratio(medians["ours"].get(k), medians[other].get(k)) for k in keys]
        return "—" if all(x is None for x in rs) else " / ".join(
            "—" if x is None else f"{x:.2f}" for x in rs)

    print(f"machine: {machine()}; load average {load_start} at start, {load_end} at end "
          f"({elapsed / 60:.1f} min)")
    versions = []
    for impl in IMPLS:
        info = infos.get(impl)
        if impl == "ours" and info:
            versions.append(f"ours: eryx {info.get('version')} ({git_rev()}), "
                            f"Python {info['python']}")
        elif impl == "pyeryx" and info:
            versions.append(f"pyeryx {info.get('version')} on Python {info['python']}")
        elif impl == "monty" and info:
            versions.append(f"pydantic-monty {info.get('version')} on Python {info['python']}")
        elif impl == "native" and info:
            versions.append(f"native: CPython {info['python']} ({info['executable']})")
    print("; ".join(versions))
    print(f"medians over {rounds} alternating run(s) ({', '.join(i for i in IMPLS if i in pythons)}"
          f", ...); sizes: {', '.join(f'{k}={v}' for k, v in sizes.items())}")
    print()
    print("| workload | ours | pyeryx | monty | native | ours/pyeryx | ours/monty | ours/native |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for label, keys, unit in ROWS:
        cpu = keys[0].startswith("cpu_")
        cells = [cell(impl, keys, unit) if (cpu or impl != "native") else "—"
                 for impl in IMPLS]
        ratios = [ratio_cell("pyeryx", keys), ratio_cell("monty", keys),
                  ratio_cell("native", keys) if cpu else "—"]
        print(f"| {label.format(**sizes)} | " + " | ".join(cells + ratios) + " |")
    print()
    for impl in IMPLS:
        if impl in unavailable and unavailable[impl] != "not run (--only)":
            print(f"{impl}: n/a ({unavailable[impl]})")
    print("Ratios are ours / other: below 1 ours is faster (or smaller), except "
          "throughput (ops/s): above 1 ours is faster.")

    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": machine(), "load_start": load_start, "load_end": load_end,
                       "seconds": round(elapsed, 1), "rounds": rounds, "sizes": sizes,
                       "unavailable": unavailable, "failures": failures, "medians": medians,
                       "ranges": ranges,
                       "errors": errors, "runs": runs, "revision": git_rev()}, f, indent=1)


if __name__ == "__main__":
    main()
