"""`run_python('x = 1')` round trips through the official MCP SDK's client:
`eryx mcp` over stdio and over streamable HTTP, and upstream pyeryx's
`eryx serve` (stdio; its only transport) for comparison when it can be
installed.

Design: each server is started once and warmed up (the first call creates
the session); then ROUNDS calls are timed one after another on the
client's side, from sending tools/call to having the parsed result, so
the numbers include the JSON-RPC framing, the SDK on both ends and the
sandbox's execution. The configurations alternate, three times, and the
best p50 of each is kept (the machine may be shared). Upstream is installed
into a scratch venv (build/upstream-venv) from
bench/requirements-pyeryx-serve.txt: pyeryx[serve] 0.11.0 and its
dependencies pinned by hash, resolved for CPython 3.13 (found on PATH or
under pyenv); when that fails the row says why. The ratio is
upstream's p50 over ours (above 1: ours is faster).

    python bench/bench_mcp.py [ROUNDS]
"""
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time

import anyio
from mcp import Client
from mcp.client.stdio import StdioServerParameters

from benchinfo import cpu_model

HERE = os.path.dirname(os.path.abspath(__file__))
# Outside the source tree (build/ is ignored by git); ERYX_UPSTREAM_VENV moves it.
UPSTREAM_VENV = os.environ.get("ERYX_UPSTREAM_VENV") or os.path.join(
    os.path.dirname(HERE), "build", "upstream-venv")


def machine() -> str:
    return f"{cpu_model()}, {os.cpu_count()} CPUs, {platform.system()} {platform.release()}, " \
           f"Python {platform.python_version()}"


async def measure(client_target, rounds: int):
    async with Client(client_target) as c:
        for _ in range(5):
            r = await c.call_tool("run_python", {"code": "x = 1"})
            assert not r.is_error, r
        times = []
        for _ in range(rounds):
            t = time.perf_counter()
            r = await c.call_tool("run_python", {"code": "x = 1"})
            times.append((time.perf_counter() - t) * 1000)
            assert not r.is_error, r
    times.sort()
    return statistics.median(times), times[min(len(times) - 1, int(len(times) * 0.99))]


def free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_row(rounds: int):
    import socket
    port = free_port()
    p = subprocess.Popen([sys.executable, "-m", "eryx", "mcp", "--http", f"127.0.0.1:{port}"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline or p.poll() is not None:
                    raise RuntimeError("eryx mcp --http did not start")
                time.sleep(0.1)
        return anyio.run(measure, f"http://127.0.0.1:{port}/mcp", rounds)
    finally:
        p.terminate()
        p.wait(10)


def upstream_python():
    """The scratch venv's python with pyeryx[serve], or (None, why)."""
    py = os.path.join(UPSTREAM_VENV, "bin", "python")
    if os.path.exists(py):
        ok = subprocess.run([py, "-c", "import eryx.serve, mcp"], capture_output=True)
        if ok.returncode == 0:
            return py, ""
    import glob
    base = None
    for v in ("3.13",):  # the lock's binary wheels are cp313 builds
        for c in [shutil.which(f"python{v}")] + sorted(glob.glob(os.path.expanduser(
                f"~/.pyenv/versions/{v}.*/bin/python"))):
            if c and subprocess.run([c, "-c", "import venv"], capture_output=True).returncode == 0:
                base = c
                break
        if base:
            break
    if base is None:
        return None, "no Python 3.13 for bench/requirements-pyeryx-serve.txt"
    subprocess.run([base, "-m", "venv", UPSTREAM_VENV], check=True)
    p = subprocess.run([py, "-m", "pip", "install", "-q", "--require-hashes", "-r",
                        os.path.join(HERE, "requirements-pyeryx-serve.txt")],
                       capture_output=True, text=True)
    if p.returncode != 0:
        return None, "pip install of bench/requirements-pyeryx-serve.txt failed: " + (
            p.stderr.strip().splitlines() or ["?"])[-1]
    return py, ""


def main() -> int:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    reps = 3
    print(f"machine: {machine()}")
    print(f"run_python('x = 1') round trip through the mcp SDK's client, {rounds} rounds; "
          f"the configurations alternate {reps} times and the best p50 (with its p99) is "
          f"shown, as other work on the machine adds noise")
    py, why = upstream_python()
    configs = [("eryx mcp (stdio)", lambda: anyio.run(measure, StdioServerParameters(
                   command=sys.executable, args=["-m", "eryx", "mcp"]), rounds)),
               ("eryx mcp --http", lambda: http_row(rounds))]
    if py:
        configs.append(("upstream pyeryx 'eryx serve' (stdio)", lambda: anyio.run(
            measure, StdioServerParameters(command=py, args=["-m", "eryx", "serve"]), rounds)))
    best = {}
    for _ in range(reps):
        for name, fn in configs:
            try:
                got = fn()
            except Exception as exc:  # noqa: BLE001 - reported in the table
                why = f"{name} failed: {type(exc).__name__}: {exc}"
                continue
            if name not in best or got[0] < best[name][0]:
                best[name] = got
    for name, (p50, p99) in best.items():
        print(f"  {name:38s} p50 {p50:8.3f} ms   p99 {p99:8.3f} ms")
    ours = best.get("eryx mcp (stdio)")
    upstream = best.get("upstream pyeryx 'eryx serve' (stdio)")
    if ours and upstream:
        print(f"  ratio upstream/ours (stdio p50): {upstream[0] / ours[0]:.2f} "
              f"(above 1: eryx mcp is faster)")
    else:
        print(f"  upstream: not measured ({why})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
