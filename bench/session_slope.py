"""How memory grows with the number of idle sessions: PSS of this process
(/proc/self/smaps_rollup) after each checkpoint of N live Sessions that
have each run `x = 1`, and the slope (KB per session) between checkpoints.

    ERYX_MAX_SANDBOXES=10100 build/pyenv/bin/python bench/session_slope.py [N ...]

Default checkpoints: 100 1000 2500 5000 10000. The runtime's pool of
instance slots is 1000 unless ERYX_MAX_SANDBOXES raises it (each slot
reserves address space, not memory). Linux only; about 2 ms per session
to create, and 0.9 MB of memory each (a 10 000-session run needs ~9 GB).
"""

import os
import sys
import time

import compare_worker  # its pss_kb: bench/ is on sys.path when run as a script


def pss_kb() -> int:
    return compare_worker.pss_kb([os.getpid()])


def main() -> None:
    checkpoints = [int(a) for a in sys.argv[1:]] or [100, 1000, 2500, 5000, 10000]
    import eryx
    eryx.Session().execute("pass")  # load the runtime before the baseline
    time.sleep(0.3)
    base = pss_kb()
    sessions = []
    last_n, last_pss = 0, base
    t0 = time.perf_counter()
    print(f"baseline PSS {base / 1024:.1f} MiB "
          f"(ERYX_MAX_SANDBOXES={os.environ.get('ERYX_MAX_SANDBOXES', 'unset')})")
    print("| sessions | PSS added | per session | slope since the last row |")
    print("| --- | --- | --- | --- |")
    for n in checkpoints:
        while len(sessions) < n:
            s = eryx.Session()
            s.execute("x = 1")
            sessions.append(s)
        time.sleep(0.3)  # let the warm-instance thread settle
        pss = pss_kb()
        print(f"| {n} | {(pss - base) / 1024:.1f} MiB | {(pss - base) / n:.0f} KB "
              f"| {(pss - last_pss) / (n - last_n):.0f} KB |", flush=True)
        last_n, last_pss = n, pss
    print(f"({time.perf_counter() - t0:.0f} s to make {len(sessions)} sessions)")


if __name__ == "__main__":
    main()
