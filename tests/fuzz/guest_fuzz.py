# Runs inside the sandbox (tests/fuzz/fuzz_host.c sets SEED, ROUNDS and
# CORPUS before this text): calls every host import directly, as hostile
# code can, with junk made from a seeded random generator and the small JSON
# corpus in tests/fuzz/corpus. Nothing here may crash the host, make it
# grow without bound, block past the deadline or print on its stderr; a
# refusal (an Err, or an error code) is the expected answer. Counts what
# each import answered, so the host can check that the calls really ran.
# A stream or trace kind the runtime never sends traps the guest (a clean
# error of that execution): rare here, so that most runs go the distance.
import random

from componentize_py_types import Err
from wit_world.imports import host, net

rng = random.Random(SEED)
counts = {}


def junk_text():
    kind = rng.randrange(7)
    if kind == 0:
        return rng.choice(CORPUS)
    if kind == 1:  # a corpus entry with bytes flipped, cut or repeated
        s = list(rng.choice(CORPUS))
        for _ in range(rng.randrange(1, 4)):
            if s:
                s[rng.randrange(len(s))] = chr(rng.randrange(32, 0x2FF))
        return "".join(s)[: rng.randrange(1, len(s) + 2)]
    if kind == 2:
        return "".join(chr(rng.randrange(0, 0xD7FF)) for _ in range(rng.randrange(64)))
    if kind == 3:
        return rng.choice(["", "{}", "[]", "null", "{", "}", '"', "\x00", "a" * 70000])
    if kind == 4:
        depth = rng.randrange(1, 3000)
        return "[" * depth + "]" * depth
    if kind == 5:
        return "/".join(rng.choice(["..", ".", "", "a", "b", "\x00", "é", "x" * 300])
                        for _ in range(rng.randrange(1, 6)))
    return '{"' + "k" * rng.randrange(10) + '": ' + rng.choice(CORPUS) + "}"


def junk_u64():
    return rng.choice([0, 1, 2, 255, 256, 2**31, 2**32 - 1, 2**32, 2**63, 2**64 - 1,
                       rng.randrange(2**64)])


def rare(bad, good):
    """Mostly a value the runtime sends; once in a while one it never does."""
    return rng.choice(bad) if rng.random() < 0.002 else rng.choice(good)


def count(name, outcome):
    counts[name + ":" + outcome] = counts.get(name + ":" + outcome, 0) + 1


def net_call():
    op = rng.randrange(7)
    handle = rng.choice([0, 1, 2, 3, 2**32 - 1, rng.randrange(2**32)])
    timeout = rng.choice([None, 0, 1, 50])
    if op == 0:
        return net.connect(rng.choice(["127.0.0.1", "localhost", "10.0.0.1", "[::1]",
                                       "2130706433", "example.invalid", junk_text()]),
                           rng.choice([0, 1, 9, 80, 65535]), timeout)
    if op == 1:
        return net.start_tls(handle, junk_text(), [junk_text()[:300]], timeout)
    if op == 2:
        return net.send(handle, junk_text().encode("utf-8", "replace")[:70000], timeout)
    if op == 3:
        return net.recv(handle, rng.choice([0, 1, 2**20, 2**32 - 1]), timeout)
    if op == 4:
        return net.shutdown(handle, rng.randrange(256))
    if op == 5:
        return net.close(handle)
    return net.wait([(rng.randrange(2**32), rng.randrange(256))
                     for _ in range(rng.randrange(5))], rng.choice([0, 1000, 1_000_000]))


def junk_http():
    """Request heads, bodies and framing, mostly almost right, carrying the
    secret's placeholder, sent in random pieces to the sink."""
    import os
    token = os.environ.get("TOKEN", "")
    parts = []
    for _ in range(rng.randrange(1, 4)):
        method = rng.choice(["GET", "POST", "PUT", "TRACE", "CONNECT", "PRI", junk_text()[:10]])
        version = rng.choice(["HTTP/1.1", "HTTP/1.1", "HTTP/1.0", "HTTP/2.0", "HTTP/9"])
        head = [f"{method} /{rng.choice(['', token, junk_text()[:50]])} {version}"]
        for _ in range(rng.randrange(6)):
            name = rng.choice(["Authorization", "Host", "X-T", "Content-Length",
                               "Transfer-Encoding", "Upgrade", junk_text()[:20]])
            value = rng.choice([f"Bearer {token}", token * 2, str(rng.randrange(-5, 100)),
                                "chunked", "gzip, chunked", junk_text()[:80]])
            head.append(f"{name}: {value}")
        if rng.random() < 0.1:
            head.append(" folded continuation")
        eol = rng.choice(["\r\n"] * 8 + ["\n", "\r"])
        body = rng.choice(["", "5\r\nhello\r\n0\r\n\r\n", "ff\r\nx\r\n", token,
                           "0\r\n\r\n", junk_text()[:200]])
        parts.append(eol.join(head) + eol + eol + body)
    data = "".join(parts).encode("utf-8", "replace")
    h = net.connect("127.0.0.1", SINK_PORT, 1000)
    try:
        i = 0
        while i < len(data):
            k = rng.choice([1, 2, 7, 64, 4096, len(data)])
            net.send(h, data[i:i + k], 1000)
            i += k
        if rng.random() < 0.5:
            net.shutdown(h, 2)
    finally:
        net.close(h)


_fds = []


def junk_path():
    base = rng.choice(["/data", "/data/", "/data/a", "/data/d/e", "/python", "/", ""])
    return base + rng.choice(["", "/"]) + junk_text()[:rng.choice([10, 300, 5000])]


def wasi_fs_call():
    """The WASI filesystem functions of the mount, reached through os.* (each
    is one or a few wasi:filesystem calls) with junk paths, offsets, sizes
    and flags; also on descriptors that were closed or never opened."""
    import os
    op = rng.randrange(12)
    fd = rng.choice(_fds + [0, 1, 3, 9999, rng.randrange(2**31)]) if rng.random() < 0.8 \
        else -1
    off = rng.choice([0, 1, 4095, 2**31, 2**40, 2**62, 2**63 - 1, rng.randrange(2**63)])
    try:
        if op == 0:
            flags = rng.choice([os.O_RDONLY, os.O_WRONLY, os.O_RDWR]) | \
                rng.choice([0, os.O_CREAT, os.O_CREAT | os.O_EXCL, os.O_TRUNC, os.O_APPEND,
                            os.O_DIRECTORY, rng.randrange(2**31)])
            new = os.open(junk_path(), flags)
            if len(_fds) < 50:
                _fds.append(new)
            else:
                os.close(new)
        elif op == 1:
            os.pwrite(fd, junk_text().encode("utf-8", "replace")[:rng.choice([1, 5000])], off)
        elif op == 2:
            os.pread(fd, rng.choice([0, 1, 2**20, 2**31 - 1]), off)
        elif op == 3:
            os.lseek(fd, off, rng.choice([0, 1, 2, 3, 99]))
            os.write(fd, b"w" * rng.choice([0, 1, 70000]))
        elif op == 4:
            os.ftruncate(fd, rng.choice([0, 5, 2**20, 2**40, off]))
        elif op == 5:
            os.mkdir(junk_path())
        elif op == 6:
            os.rename(junk_path(), junk_path())
        elif op == 7:
            rng.choice([os.unlink, os.rmdir])(junk_path())
        elif op == 8:
            os.listdir(rng.choice([junk_path(), "/data", "/data/d"]))
        elif op == 9:
            os.utime(junk_path(), ns=(rng.randrange(2**63), rng.randrange(2**63)))
        elif op == 10:
            os.stat(junk_path())
            os.fstat(fd)
        else:
            if _fds:
                os.close(_fds.pop(rng.randrange(len(_fds))))
            os.close(fd)
        return "ok"
    except (OSError, ValueError, OverflowError, TypeError):
        return "refused"


def one():
    op = rng.randrange(11)
    try:
        if op == 0:
            host.emit_output(rare([0, 3, 255], [1, 2]), junk_text())
            count("emit-output", "ok")
        elif op == 1:
            host.emit_trace(rare([0, 5, 255], [1, 2, 3, 4]), rng.randrange(2**32),
                            junk_text(), junk_text())
            count("emit-trace", "ok")
        elif op == 2:
            host.sleep(rng.randrange(2_000_000))  # at most 2 ms
            count("sleep", "ok")
        elif op == 3:
            host.list_callbacks()
            count("list-callbacks", "ok")
        elif op == 4:
            name = rng.choice(["echo", "echo", "nope", "", "echo.x", junk_text()])
            host.callback_start(name, junk_text())
            count("callback-start", "ok")
        elif op == 5:
            host.callback_cancel(junk_u64())
            count("callback-cancel", "ok")
        elif op == 6:
            host.callback_wait(rng.choice([0, 1000, 1_000_000]))  # None: until the deadline
            count("callback-wait", "ok")
        elif op == 8:
            net_call()
            count("net", "ok")
        elif op == 9:
            junk_http()
            count("http", "ok")
        elif op == 10:
            count("wasi-fs", wasi_fs_call())
        else:
            reply = host.fs(rng.randrange(256), junk_text(), junk_text(), junk_u64(),
                            junk_u64(), junk_text())
            count("fs", "code%d" % min(reply.code, 1))
    except Err:
        count(["emit-output", "emit-trace", "sleep", "list-callbacks", "callback-start",
               "callback-cancel", "callback-wait", "fs", "net", "http", "wasi-fs"][op],
              "refused")


for _ in range(ROUNDS):
    one()
result = counts
