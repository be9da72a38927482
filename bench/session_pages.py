"""Heap pages a session dirties: present pages of the guest's linear
memories (the `.cwasm`-backed mappings) that are no longer the image
file's, counted from /proc/self/pagemap, per session, after N sessions
have each reached one state.

    build/pyenv/bin/python bench/session_pages.py [N]

Also where in the image those pages are (per MiB of the mapping; the live
warm instances count too), and the PSS each session adds, by mapping
(/proc/self/smaps): the guest
heap (`.cwasm`-backed), anonymous memory, the host's malloc heap. States:
created only; after `pass`; after `pass` then `x = 1`. Each state runs in
its own process (a fresh runtime with its default warm instances;
sessions created back to back mostly instantiate inline). Linux only.
"""

import os
import struct
import subprocess
import sys
import time


def dirty_by_mib() -> dict:
    """{MiB offset into a guest-heap mapping: dirty pages there}, summed
    over every such mapping (one per live instance)."""
    by_mib = {}
    fd = os.open("/proc/self/pagemap", os.O_RDONLY)
    try:
        for line in open("/proc/self/maps"):
            parts = line.split()
            if len(parts) < 6 or not parts[5].endswith(".cwasm") or "w" not in parts[1]:
                continue
            lo, hi = (int(x, 16) for x in parts[0].split("-"))
            data = os.pread(fd, (hi - lo) // 4096 * 8, lo // 4096 * 8)
            for i, (v,) in enumerate(struct.iter_unpack("<Q", data)):
                if v >> 63 & 1 and not v >> 61 & 1:  # present, not the file's page
                    by_mib[i // 256] = by_mib.get(i // 256, 0) + 1
    finally:
        os.close(fd)
    return by_mib


def dirty_pages() -> int:
    return sum(dirty_by_mib().values())


def pss_kb() -> dict:
    out = {"guest heap": 0, "anonymous": 0, "host heap": 0}
    kind = None
    for line in open("/proc/self/smaps"):
        parts = line.split()
        if "-" in parts[0] and len(parts) >= 5 and ":" in parts[3]:  # a mapping's header
            name = parts[5] if len(parts) > 5 else ""
            kind = ("guest heap" if name.endswith(".cwasm") else "host heap" if name == "[heap]"
                    else "anonymous" if not name else None)
        elif parts[0] == "Pss:" and kind:
            out[kind] += int(parts[1])
    return out


def one_state(state: str, n: int) -> str:
    import eryx
    before, pss_before = dirty_pages(), pss_kb()
    sessions = []
    for _ in range(n):
        s = eryx.Session()
        if state != "created":
            s.execute("pass")
        if state == "pass, x = 1":
            s.execute("x = 1")
        sessions.append(s)
    time.sleep(0.3)  # let the warm-instance thread settle
    pss = pss_kb()
    parts = ", ".join(f"{k} {(pss[k] - pss_before[k]) / n:.0f} KB" for k in pss)
    by_mib = dirty_by_mib()
    spread = " ".join(f"{by_mib.get(m, 0) / n:.0f}" for m in range(max(by_mib, default=-1) + 1))
    return (f"{(sum(by_mib.values()) - before) / n:.1f} pages; PSS {parts}\n"
            f"{'':>14}dirty pages per session by MiB of the image: {spread}")


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--state":
        print(one_state(sys.argv[2], int(sys.argv[3])))
        return
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    print(f"per session (N = {n}): dirty guest-heap pages; PSS added, by mapping")
    for state in ("created", "pass", "pass, x = 1"):
        out = subprocess.run([sys.executable, __file__, "--state", state, str(n)],
                             check=True, capture_output=True, text=True).stdout
        print(f"{state:>12}: {out.strip()}")


if __name__ == "__main__":
    main()
