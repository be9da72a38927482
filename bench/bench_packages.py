"""Packages and factories, in one run, with native CPython as the peer.

Cases (p50/p99 over N runs, milliseconds; one JSON line each):
  first_use        Sandbox(packages=[jinja2, markupsafe]) + `import jinja2`
                   with an empty ERYX_CACHE_DIR: hash, unpack, mount, execute
  cache_hit        the same once the archives are in the cache
  plain_import     Sandbox(packages=...) + execute(RENDER): imports jinja2
  factory_import   factory.create_sandbox() + execute(RENDER): jinja2 is
                   already in the snapshot
  factory_build    SandboxFactory(packages=..., imports=["jinja2"]), seconds
  plain_print      Sandbox() + execute("print(1)")
  factory_print    factory.create_sandbox() + execute("print(1)"); the goal is
                   equal to plain_print within noise (<= 1 ms apart)
  native_import    `import jinja2` timed inside a fresh `python -c` (the
                   host's CPython, the same pure-Python markupsafe)

    python bench/bench_packages.py [N] [BUILDS]      (with eryx installed)

The packages come from ERYX_TEST_PACKAGES or scripts/fetch-test-packages.sh.
"""

import json
import os
import pathlib
import platform
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile

import eryx

ROOT = pathlib.Path(__file__).resolve().parents[1]

RENDER = """
import jinja2
page = jinja2.Environment(autoescape=True).from_string(
    "<ul>{% for u in users %}<li>{{ u }}</li>{% endfor %}</ul>").render(users=["<a>", "b&c"])
assert page == "<ul><li>&lt;a&gt;</li><li>b&amp;c</li></ul>", page
"""


def packages_dir():
    d = os.environ.get("ERYX_TEST_PACKAGES")
    if d is None:
        d = subprocess.run(["bash", str(ROOT / "scripts" / "fetch-test-packages.sh")],
                           check=True, stdout=subprocess.PIPE, text=True).stdout.strip()
    if not d:
        sys.exit("bench_packages: the package index is unreachable; no packages to measure")
    d = pathlib.Path(d)
    return str(next(d.glob("jinja2-*-py3-none-any.whl"))), str(next(d.glob("markupsafe-*.tar.gz")))


def pct(samples, p):
    s = sorted(samples)
    return s[min(len(s) - 1, max(0, -(-len(s) * p // 100) - 1))]


def line(name, samples_s, **extra):
    ms = [x * 1e3 for x in samples_s]
    out = {"bench": name, "n": len(ms), "p50_ms": round(pct(ms, 50), 3),
           "p99_ms": round(pct(ms, 99), 3), **extra}
    print(json.dumps(out), flush=True)
    return out


def timed(f, n):
    out = []
    for _ in range(n):
        t = time.perf_counter()
        f()
        out.append(time.perf_counter() - t)
    return out


def native_site(jinja, msafe, d):
    """jinja2's wheel and markupsafe's sdist (its pure-Python part, as in the
    sandbox) unpacked into a directory for the host's CPython."""
    with zipfile.ZipFile(jinja) as z:
        z.extractall(d)
    with tarfile.open(msafe) as t:
        root = t.getnames()[0].split("/")[0]
        members = [m for m in t.getmembers()
                   if m.name.startswith(f"{root}/src/markupsafe/") and m.isfile()]
        for m in members:
            m_path = pathlib.Path(d) / m.name[len(f"{root}/src/"):]
            m_path.parent.mkdir(parents=True, exist_ok=True)
            m_path.write_bytes(t.extractfile(m).read())
    return d


NATIVE = ("import time; t = time.perf_counter(); import jinja2; "
          "print(time.perf_counter() - t)")


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 50
    builds = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    jinja, msafe = packages_dir()
    pk = [jinja, msafe]
    work = tempfile.mkdtemp(prefix="bench-packages-")
    old_cache = os.environ.get("ERYX_CACHE_DIR")
    try:
        # First use: an empty cache each time.
        def first():
            os.environ["ERYX_CACHE_DIR"] = tempfile.mkdtemp(dir=work)
            eryx.Sandbox(packages=pk).execute("import jinja2")
        line("first_use", timed(first, n), what="create+execute, empty cache")

        os.environ["ERYX_CACHE_DIR"] = os.path.join(work, "cache")
        eryx.Sandbox(packages=pk).execute("import jinja2")
        line("cache_hit", timed(lambda: eryx.Sandbox(packages=pk).execute("import jinja2"), n),
             what="create+execute, cached")
        line("cache_hit_create", timed(lambda: eryx.Sandbox(packages=pk), n),
             what="create only, cached")

        # The factory.
        build_s = []
        factory = None
        for i in range(builds):
            t = time.perf_counter()
            factory = eryx.SandboxFactory(packages=pk, imports=["jinja2"])
            build_s.append(time.perf_counter() - t)
        line("factory_build", build_s, size_bytes=factory.size_bytes)

        plain = line("plain_import",
                     timed(lambda: eryx.Sandbox(packages=pk).execute(RENDER), n),
                     what="Sandbox(packages) + import jinja2 + render")
        fact = line("factory_import",
                    timed(lambda: factory.create_sandbox().execute(RENDER), n),
                    what="factory.create_sandbox() + render (jinja2 pre-imported)")
        print(json.dumps({"bench": "import_speedup",
                          "ratio_p50": round(plain["p50_ms"] / fact["p50_ms"], 2)}), flush=True)

        # print(1): factory against the plain runtime, interleaved so that
        # drift hits both alike.
        m = max(n, 200)
        p_s, f_s = [], []
        for _ in range(m):
            p_s += timed(lambda: eryx.Sandbox().execute("print(1)"), 1)
            f_s += timed(lambda: factory.create_sandbox().execute("print(1)"), 1)
        p = line("plain_print", p_s, what="Sandbox() + print(1)")
        f = line("factory_print", f_s, what="factory.create_sandbox() + print(1)")
        print(json.dumps({"bench": "factory_vs_plain_print",
                          "ratio_p50": round(f["p50_ms"] / p["p50_ms"], 3),
                          "diff_p50_ms": round(f["p50_ms"] - p["p50_ms"], 3),
                          "goal": "equal within noise, <= 1 ms apart"}), flush=True)

        # Native CPython: `import jinja2` timed in-process in a fresh python -c.
        # With its .pyc files written by a first run, and without any (-B,
        # compiling from source each time).
        site = native_site(jinja, msafe, os.path.join(work, "native-site"))
        env = dict(os.environ, PYTHONPATH=site)
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        subprocess.run([sys.executable, "-c", "import jinja2"], env=env, check=True)

        def native(*flags, e=env):
            return float(subprocess.run([sys.executable, *flags, "-c", NATIVE], env=e,
                                        check=True, stdout=subprocess.PIPE, text=True).stdout)
        line("native_import", [native() for _ in range(n)],
             what="import jinja2 in a fresh host CPython, .pyc cached",
             python=sys.version.split()[0])
        src = native_site(jinja, msafe, os.path.join(work, "native-src"))
        env_src = dict(env, PYTHONPATH=src)
        line("native_import_source", [native("-B", e=env_src) for _ in range(n)],
             what="the same compiling from source (-B, no .pyc)",
             python=sys.version.split()[0])
    finally:
        if old_cache is None:
            os.environ.pop("ERYX_CACHE_DIR", None)
        else:
            os.environ["ERYX_CACHE_DIR"] = old_cache
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps({"machine": platform.machine(), "cpus": os.cpu_count(),
                      "python": sys.version.split()[0], "platform": platform.platform(),
                      "note": f"p50/p99 of N={n} runs (print cases: {m}); "
                              f"factory_build over {builds} build(s)"}))


if __name__ == "__main__":
    main()
