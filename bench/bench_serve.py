"""`eryx serve --http`: requests/s and p50/p99 of a one-off `x = 1` and of
a session step, 1 copy vs 3 copies behind a client-side round robin, and
the snapshot + store cost of a session step by session size.

Design: real processes (python/tests/serve_util.py): a redis-server on a
loopback port and `python -m eryx serve --http --store redis://` copies;
the client is THREADS threads on this machine, each with its own
keep-alive HTTP connection per copy, sending REQUESTS requests in all
after a warm-up. Latency is per request on the client's side. With 2
cores the client, the copies and Redis share the CPU, so 3 copies measure
contention more than scale-out: each row also prints the CPU the copies +
Redis ("server cores", from /proc/PID/stat) and this client used per
second of wall time; their sum near the core count means CPU-bound.
The size table times the parts directly, in this process: snapshot_state()
of a session holding SIZE random bytes (random: the snapshot compresses),
RedisStore.commit() of that blob, load() + restore_state() (what another
copy pays), and then an HTTP step on a session of that size on one copy
(held live) and round robin on 3 (restored on every step).

    python bench/bench_serve.py [REQUESTS] [THREADS]
"""
import concurrent.futures
import http.client
import json
import os
import platform
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "python", "tests"))

from benchinfo import cpu_model  # noqa: E402
from serve_util import Redis, Server  # noqa: E402

import eryx  # noqa: E402
from eryx.serve.store import RedisStore  # noqa: E402


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p))] * 1000


class Client:
    """One keep-alive connection per (thread, copy)."""

    def __init__(self, bases):
        self.bases = [b.replace("http://", "") for b in bases]
        self.local = threading.local()

    def post(self, i, path, body):
        conns = getattr(self.local, "c", None)
        if conns is None:
            conns = self.local.c = {}
        host = self.bases[i % len(self.bases)]
        c = conns.get(host)
        if c is None:
            c = conns[host] = http.client.HTTPConnection(host, timeout=120)
        c.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
        r = c.getresponse()
        data = r.read()
        if r.status not in (200, 201):
            raise RuntimeError(f"{path}: {r.status} {data[:300]!r}")
        return json.loads(data)


def cpu_seconds(pids):
    """utime + stime of these processes (and their threads), in seconds."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


def run_load(client, n_requests, threads, make_request, pids=()):
    lat = []
    lock = threading.Lock()
    per = n_requests // threads

    def worker(w):
        mine = []
        for j in range(per):
            t0 = time.perf_counter()
            make_request(w, j)
            mine.append(time.perf_counter() - t0)
        with lock:
            lat.extend(mine)
    t0, c0, s0 = time.perf_counter(), time.process_time(), cpu_seconds(pids)
    with concurrent.futures.ThreadPoolExecutor(threads) as ex:
        list(ex.map(worker, range(threads)))
    wall = time.perf_counter() - t0
    client_cpu = (time.process_time() - c0) / wall
    server_cpu = (cpu_seconds(pids) - s0) / wall
    return len(lat) / wall, pct(lat, 0.5), pct(lat, 0.99), server_cpu, client_cpu


def throughput(redis, n_copies, requests, threads):
    copies = [Server("--store", redis.url, "--pool-size", "4", "--max-live", "64").start()
              for _ in range(n_copies)]
    try:
        client = Client([c.base for c in copies])
        # one-off
        for i in range(20):
            client.post(i, "/v1/execute", {"code": "x = 1"})
        pids = [c.proc.pid for c in copies] + [redis.proc.pid]
        oneoff = run_load(client, requests, threads,
                          lambda w, j: client.post(w + j, "/v1/execute", {"code": "x = 1"}),
                          pids)
        # session step: each thread owns 2 sessions, steps alternate copies
        sids = [[client.post(w, "/v1/sessions", {})["id"] for _ in range(2)]
                for w in range(threads)]
        for w in range(threads):
            for s in sids[w]:
                client.post(w, f"/v1/sessions/{s}/execute", {"code": "n = 0"})

        def step(w, j):
            r = client.post(w + j, f"/v1/sessions/{sids[w][j % 2]}/execute",
                            {"code": "n += 1"})
            assert r["error"] is None, r
        sess = run_load(client, requests, threads, step, pids)
        return oneoff, sess
    finally:
        for c in copies:
            c.stop()


def size_table(redis):
    rows = []
    store = RedisStore(redis.url, prefix="bench:")
    one = Server("--store", redis.url, "--max-session-bytes", "64M",
                 "--max-body-bytes", "1M").start()
    three = [one] + [Server("--store", redis.url, "--max-session-bytes", "64M").start()
                     for _ in range(2)]
    try:
        for label, size in (("1 KB", 1 << 10), ("1 MB", 1 << 20), ("10 MB", 10 << 20)):
            s = eryx.Session(execution_timeout_ms=60000,
                             resource_limits=eryx.ResourceLimits(
                                 execution_timeout_ms=60000, max_memory_bytes=512 << 20))
            s.execute(f"import os\nstate = os.urandom({size})")
            n = 10 if size > (1 << 20) else 30
            t = time.perf_counter()
            for _ in range(n):
                blob = s.snapshot_state()
            snap = (time.perf_counter() - t) / n * 1000
            store.create("b", {"owner": "x"}, 60000)
            tok = store.lease_acquire("b", 60000)
            t = time.perf_counter()
            for v in range(n):
                store.commit("b", tok, v, blob, 60000)
            commit = (time.perf_counter() - t) / n * 1000
            t = time.perf_counter()
            for _ in range(n):
                s2 = eryx.Session(resource_limits=eryx.ResourceLimits(
                    execution_timeout_ms=60000, max_memory_bytes=512 << 20))
                s2.restore_state(store.load("b")["blob"])
            restore = (time.perf_counter() - t) / n * 1000
            store.lease_release("b", tok)
            store.delete("b")
            # HTTP: one copy (live) vs round robin over three (restore each step)
            client = Client([c.base for c in three])
            sid = client.post(0, "/v1/sessions", {"limits": {"max_memory_bytes": 128 << 20}})["id"]
            client.post(0, f"/v1/sessions/{sid}/execute",
                        {"code": f"import os\nstate = os.urandom({size})\nn = 0"})
            lat1, lat3 = [], []
            for j in range(n):
                t = time.perf_counter()
                client.post(0, f"/v1/sessions/{sid}/execute", {"code": "n += 1"})
                lat1.append(time.perf_counter() - t)
            for j in range(n):
                t = time.perf_counter()
                client.post(j + 1, f"/v1/sessions/{sid}/execute", {"code": "n += 1"})
                lat3.append(time.perf_counter() - t)
            rows.append((label, len(blob), snap, commit, restore, pct(lat1, 0.5),
                         pct(lat3, 0.5)))
    finally:
        for c in three:
            c.stop()
        store.close()
    return rows


def main():
    requests = int(sys.argv[1]) if len(sys.argv) > 1 else 800
    threads = int(sys.argv[2]) if len(sys.argv) > 2 else 8
    print(f"machine: {cpu_model()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
          f"{requests} requests from {threads} client threads per row")
    redis = Redis().start()
    try:
        print(f"\n{'':28} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'server':>8} "
              f"{'client':>8}")
        print(f"{'':28} {'':>8} {'':>8} {'':>8} {'cores':>8} {'cores':>8}")
        for n in (1, 3):
            oneoff, sess = throughput(redis, n, requests, threads)
            for name, row in (("one-off x = 1", oneoff), ("session step", sess)):
                label = f"{name}, {n} cop{'y' if n == 1 else 'ies'}"
                print(f"{label:28} {row[0]:8.0f} {row[1]:8.1f} {row[2]:8.1f} {row[3]:8.2f} "
                      f"{row[4]:8.2f}")
        print(f"\n{'state':6} {'snapshot':>10} {'snapshot':>9} {'commit':>8} {'load+':>9} "
              f"{'step p50':>9} {'step p50':>10}")
        print(f"{'':6} {'bytes':>10} {'ms':>9} {'ms':>8} {'restore':>9} {'1 copy':>9} "
              f"{'3 copies':>10}")
        for label, nbytes, snap, commit, restore, p1, p3 in size_table(redis):
            print(f"{label:6} {nbytes:10d} {snap:9.2f} {commit:8.2f} {restore:9.2f} "
                  f"{p1:9.1f} {p3:10.1f}")
    finally:
        redis.stop()


if __name__ == "__main__":
    main()
