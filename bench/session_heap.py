"""Where a session's host-side memory goes: build/bench_session_heap makes
N sessions that each run `x = 1` under glibc's allocation trace (mtrace,
through libc_malloc_debug.so); this script groups the blocks still live at
the end by the code that allocated them (addr2line).

    python3 bench/session_heap.py [N]     (default 35; after `make build`)

Prints KB per session and blocks per caller, biggest first, and the biggest
block sizes. Needs glibc's libc_malloc_debug.so.0 and binutils' addr2line
(Linux only). Allocations made through malloc only: Wasmtime's pooled
linear memories and tables are mmap'd and show up in bench/session_pages.py
instead.
"""

import collections
import glob
import os
import subprocess
import sys
import tempfile

BENCH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                     "build", "bench_session_heap")


def live_blocks(path: str) -> dict:
    """{address: (caller, size)} of what the trace allocated and never freed."""
    live = {}
    for line in open(path, errors="replace"):
        p = line.split()
        if len(p) >= 4 and p[-3] == "+":
            live[p[-2]] = (p[1], int(p[-1], 16))
        elif len(p) >= 3 and p[-2] == "-":
            live.pop(p[-1], None)
        elif len(p) >= 4 and p[-3] == ">":  # realloc's new block
            live[p[-2]] = (p[1], int(p[-1], 16))
        elif len(p) >= 3 and p[-2] == "<":  # realloc's old block
            live.pop(p[-1], None)
    return live


def symbol(caller: str) -> str:
    """`file:(sym+off)[0xaddr]` or `file:[0xaddr]` as a function name."""
    if "(" in caller and "+" in caller:
        return caller
    lib, _, addr = caller.rpartition(":[")
    addr = addr.rstrip("]")
    try:
        out = subprocess.run(["addr2line", "-f", "-C", "-e", lib, addr],
                             capture_output=True, text=True, check=True).stdout.split("\n")
        return f"{out[0]} ({os.path.basename(lib)})" if out and out[0] != "??" else caller
    except (OSError, subprocess.CalledProcessError):
        return caller


def main() -> int:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 35
    debug = sorted(glob.glob("/lib/*/libc_malloc_debug.so.0") +
                   glob.glob("/usr/lib/*/libc_malloc_debug.so.0"))
    if not debug:
        print("session_heap: glibc's libc_malloc_debug.so.0 is not on this machine")
        return 1
    with tempfile.TemporaryDirectory() as tmp:
        trace = os.path.join(tmp, "mtrace.log")
        env = dict(os.environ, LD_PRELOAD=debug[0], MALLOC_TRACE=trace)
        print(subprocess.run([BENCH, str(n)], env=env, check=True, capture_output=True,
                             text=True).stdout.strip())
        live = live_blocks(trace)
    by_caller, blocks, by_size = collections.Counter(), collections.Counter(), collections.Counter()
    for caller, size in live.values():
        by_caller[caller] += size
        blocks[caller] += 1
        by_size[size] += size
    total = sum(by_caller.values())
    print(f"{n} sessions, each created and run once: {total / n / 1024:.1f} KB live per "
          f"session in {len(live) / n:.0f} blocks")
    for caller, size in by_caller.most_common(8):
        print(f"  {size / n / 1024:8.1f} KB  {blocks[caller] / n:5.1f} blocks  {symbol(caller)}")
    print("  biggest sizes: " + ", ".join(f"{s} B ({t / n / 1024:.1f} KB/session)"
                                          for s, t in by_size.most_common(6)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
