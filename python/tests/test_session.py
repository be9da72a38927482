"""Session state, snapshots (also across processes) and VfsStorage."""
import os
import subprocess
import sys

import pytest

import eryx


def test_state_persists_and_counts():
    s = eryx.Session()
    s.execute("import math\nx = 1\ndef f(): return x + 1\nclass C: pass")
    s.execute("x += 1")
    r = s.execute("result = [x, f(), C.__name__, math.floor(2.5)]")
    assert r.result == [2, 3, "C", 2]
    assert s.execution_count == 3


def test_clear_state_and_reset():
    s = eryx.Session()
    s.execute("x = 1")
    s.clear_state()
    with pytest.raises(eryx.ExecutionError):
        s.execute("x")
    s.execute("y = 2")
    s.reset()
    assert s.execution_count == 0
    with pytest.raises(eryx.ExecutionError):
        s.execute("y")


def test_session_timeout():
    s = eryx.Session(execution_timeout_ms=200)
    s.execute("keep = 5")
    with pytest.raises(eryx.TimeoutError):
        s.execute("while True: pass")


def test_snapshot_restores_in_another_process(tmp_path):
    s = eryx.Session()
    s.execute("def greet(n):\n    return f'hello {n}'\nclass P:\n    def __init__(self, v): self.v = v\n"
              "items = [P(1), P(2)]\nsq = lambda v: v * v")
    data = s.snapshot_state()
    assert isinstance(data, bytes)
    path = tmp_path / "snap.bin"
    path.write_bytes(data)
    code = ("import eryx, sys\n"
            "s = eryx.Session()\n"
            "s.restore_state(open(sys.argv[1], 'rb').read())\n"
            "print(s.execute(\"result = [greet('x'), [i.v for i in items], sq(4)]\").result)\n")
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True,
                         text=True, timeout=120, cwd=str(tmp_path))
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "['hello x', [1, 2], 16]"


def test_unserializable_values_and_bad_snapshots():
    s = eryx.Session()
    s.execute("gen = (i for i in range(3))\nok = 1")
    with pytest.raises(eryx.SnapshotError) as e:
        s.snapshot_state()
    assert "gen" in str(e.value)
    data = s.snapshot_state(skip_unserializable=True)
    assert s.last_skipped == ["gen"]
    for bad in (b"garbage", data[:-10], b"\xff" * 10):
        with pytest.raises(eryx.SnapshotError):
            s.restore_state(bad)
    assert s.execute("result = ok").result == 1  # unchanged


def test_vfs_storage_is_shared_with_the_host_and_the_next_session():
    store = eryx.VfsStorage()
    store.write("/input/data.csv", "a,b\n1,2\n")
    s = eryx.Session(vfs=store)
    s.execute("import csv, pathlib\n"
              "rows = list(csv.reader(open('/data/input/data.csv')))\n"
              "pathlib.Path('/data/out').mkdir()\n"
              "open('/data/out/sum.txt', 'w').write(str(int(rows[1][0]) + int(rows[1][1])))")
    assert store.read_text("out/sum.txt") == "3"
    assert store.listdir("/") == ["input", "out"]
    assert store.exists("/out/sum.txt") and not store.exists("nope")
    del s
    s2 = eryx.Session(vfs=store, vfs_mount_path="/work")
    assert s2.execute("result = open('/work/out/sum.txt').read()").result == "3"
    assert s2.vfs is store
    with pytest.raises(eryx.VfsError):
        store.read("missing.txt")


def test_vfs_quota_is_enospc_inside_and_an_error_outside():
    store = eryx.VfsStorage(quota_bytes=100_000)
    s = eryx.Session(vfs=store)
    r = s.execute("import errno, os\ntry:\n    open('/data/big', 'wb').write(b'x' * 200_000)\n"
                  "except OSError as e:\n    result = [errno.errorcode[e.errno]]\n"
                  "result.append(os.path.getsize('/data/big'))\n"
                  "fd = os.open('/data/big', os.O_WRONLY)\n"
                  "try:\n    os.pwrite(fd, b'x' * 200_000, 0)\n"
                  "except OSError as e:\n    result.append(errno.errorcode[e.errno])")
    # The whole write is refused (nothing kept); wasi-libc says EIO for a
    # failed stream write, pwrite says ENOSPC.
    assert r.result == ["EIO", 0, "ENOSPC"]
    assert store.used_bytes <= store.quota_bytes == 100_000
    with pytest.raises(eryx.VfsError):
        store.write("big2", b"y" * 200_000)


def test_snapshot_includes_files():
    store = eryx.VfsStorage()
    s = eryx.Session(vfs=store)
    s.execute("open('/data/f.txt', 'w').write('saved')\nv = 9")
    data = s.snapshot_state()
    other = eryx.Session(vfs=eryx.VfsStorage())
    other.restore_state(data)
    assert other.execute("result = [v, open('/data/f.txt').read()]").result == [9, "saved"]
    with pytest.raises(eryx.SnapshotError):
        eryx.Session().restore_state(data)  # has files, no storage to put them in


def test_bad_snapshots_of_any_size_leave_the_session_as_it_was():
    store = eryx.VfsStorage()
    s = eryx.Session(vfs=store)
    s.execute("x = 41\ndef f(n): return n + 1\nopen('/data/keep.txt', 'w').write('precious')")
    data = s.snapshot_state()
    py_len = data.index(b"\nERYXFILES ")
    mid = py_len // 2
    flipped = data[:mid] + (b"B" if data[mid:mid + 1] == b"A" else b"A") + data[mid + 1:]
    header = b"ERYXSNAP 1 3.14 " + b"0" * 64 + b"\n"
    mib = 1 << 20
    cases = {
        "60 MiB of garbage": bytes(range(33, 123)) * (60 * mib // 90),
        "200 MiB of garbage": bytes(range(33, 123)) * (200 * mib // 90),
        "a header over 60 MiB of junk": header + b"A" * (60 * mib),
        "a header over 200 MiB of junk": header + b"Q" * (200 * mib),
        "truncated": data[:py_len // 2],
        "truncated files": data[:-5],
        "flipped bytes": flipped,
    }
    count = s.execution_count
    for what, bad in cases.items():
        with pytest.raises(eryx.SnapshotError):
            s.restore_state(bad)
        r = s.execute("result = [x, f(1), open('/data/keep.txt').read()]")
        assert r.result == [41, 2, "precious"], what
        assert store.read_text("keep.txt") == "precious", what
    assert s.execution_count == count + len(cases)
    s.execute("x = 0")
    s.restore_state(data)
    assert s.execute("result = x").result == 41


def test_session_keywords_callbacks_output_and_result_variable():
    out, err = [], []

    async def lookup(key: str) -> str:
        return key.upper()

    s = eryx.Session(callbacks=[{"name": "lookup", "fn": lookup}], on_stdout=out.append,
                     on_stderr=err.append, result_variable="answer",
                     resource_limits=eryx.ResourceLimits(max_callback_invocations=5))
    s.execute("import sys\nv = await lookup('a')\nprint(v)\nprint('warn', file=sys.stderr)")
    r = s.execute("answer = v + (await lookup('b'))")
    assert r.result == "AB" and r.callback_invocations == 1
    assert b"".join(out) == b"A\n" and b"".join(err) == b"warn\n"


def test_vfs_export_and_import():
    a = eryx.VfsStorage()
    a.write("d/x.bin", bytes(range(256)))
    b = eryx.VfsStorage()
    b.import_(a.export())
    assert b.read("/d/x.bin") == bytes(range(256))
    assert b.files() == [("d", True, 0), ("d/x.bin", False, 256)]
    with pytest.raises(eryx.SnapshotError):
        b.import_(b"not an archive")
    assert b.read("d/x.bin") == bytes(range(256))
    b.remove("d")
    assert b.files() == [] and b.used_bytes == 0


def test_a_missing_runtime_is_an_initialization_error(tmp_path):
    code = ("import eryx\n"
            "try:\n"
            "    eryx.Sandbox()\n"
            "except eryx.InitializationError as e:\n"
            "    print('InitializationError', isinstance(e, eryx.EryxError))\n")
    env = dict(os.environ, ERYX_RUNTIME_DIR=str(tmp_path))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, timeout=60)
    assert out.stdout.split() == ["InitializationError", "True"], out.stderr


def test_stdlib_file_modules_work_on_the_mount():
    s = eryx.Session(vfs=eryx.VfsStorage())
    r = s.execute(
        "import glob, gzip, os, shutil, tarfile, zipfile\n"
        "os.makedirs('/data/src/sub')\n"
        "for n in 'abc':\n"
        "    open(f'/data/src/{n}.txt', 'w').write(n * 3)\n"
        "shutil.copytree('/data/src', '/data/dst')\n"
        "shutil.move('/data/dst/a.txt', '/data/moved.txt')\n"
        "with zipfile.ZipFile('/data/z.zip', 'w') as z:\n"
        "    z.write('/data/src/b.txt', 'b.txt')\n"
        "with gzip.open('/data/g.gz', 'wt') as g:\n"
        "    g.write('zipped')\n"
        "with tarfile.open('/data/t.tar', 'w') as t:\n"
        "    t.add('/data/src', arcname='src')\n"
        "result = [sorted(glob.glob('/data/src/*.txt')), open('/data/moved.txt').read(),\n"
        "          zipfile.ZipFile('/data/z.zip').read('b.txt').decode(),\n"
        "          gzip.open('/data/g.gz', 'rt').read(),\n"
        "          sorted(tarfile.open('/data/t.tar').getnames()),\n"
        "          os.path.realpath('/data/src/../moved.txt')]")
    assert r.result == [["/data/src/a.txt", "/data/src/b.txt", "/data/src/c.txt"], "aaa", "bbb",
                        "zipped", ["src", "src/a.txt", "src/b.txt", "src/c.txt", "src/sub"],
                        "/data/moved.txt"]


def test_session_timeout_defaults_to_none_and_can_be_set():
    s = eryx.Session()
    assert s.execution_timeout_ms is None
    assert s.execute("import time\ntime.sleep(0.05)\nresult = 1").result == 1
    s.execution_timeout_ms = 150
    assert s.execution_timeout_ms == 150
    with pytest.raises(eryx.TimeoutError):
        s.execute("while True: pass")
    with pytest.raises(ValueError):
        s.execution_timeout_ms = 0
    assert eryx.Session(vfs=eryx.VfsStorage()).vfs_mount_path == "/data"
    assert eryx.Session().vfs_mount_path is None


def test_result_variable_is_consumed_by_each_execute():
    s = eryx.Session()
    assert s.execute("result = {'a': 1}").result == {"a": 1}
    r = s.execute("x = 2")
    assert r.result is None and r.result_json is None


def test_error_classes_match_upstream_hierarchy():
    assert not issubclass(eryx.ResourceLimitError, eryx.ExecutionError)
    assert issubclass(eryx.ResourceLimitError, eryx.EryxError)
    assert issubclass(eryx.SnapshotError, eryx.ExecutionError)
    assert issubclass(eryx.TimeoutError, TimeoutError)


def test_open_with_an_opener_and_dir_fd_on_the_mount():
    s = eryx.Session(vfs=eryx.VfsStorage())
    r = s.execute(
        "import os\n"
        "calls = []\n"
        "def opener(path, flags):\n"
        "    calls.append(path)\n"
        "    return os.open(path, flags, 0o600)\n"
        "with open('/data/o.txt', 'w', opener=opener) as f:\n"
        "    f.write('via opener')\n"
        "try:\n"
        "    open('/data/o.txt', opener=lambda p, f: 12345)\n"
        "    bad = 'accepted'\n"
        "except OSError as e:\n"
        "    bad = 'refused'\n"
        "try:\n"
        "    os.stat('x', dir_fd=3) if False else os.stat('/data/o.txt', dir_fd=3)\n"
        "    dirfd = 'accepted'\n"
        "except NotImplementedError:\n"
        "    dirfd = 'refused'\n"
        "result = [open('/data/o.txt').read(), calls, bad, dirfd]")
    # dir_fd is CPython's own now (the mount is a WASI preopen): with an
    # absolute path it is ignored, as POSIX says.
    assert r.result == ["via opener", ["/data/o.txt"], "refused", "accepted"]


def test_sqlite_and_imports_on_the_mount_survive_a_snapshot():
    s = eryx.Session(vfs=eryx.VfsStorage())
    s.execute("import sqlite3, os\n"
              "db = sqlite3.connect('/data/app.db')\n"
              "db.execute('create table t (x)')\n"
              "db.execute('insert into t values (42)')\n"
              "db.commit()\n"
              "db.close()\n"
              "del db\n"
              "os.makedirs('/data/lib')\n"
              "open('/data/lib/mine.py', 'w').write('V = 5\\n')")
    data = s.snapshot_state()
    s2 = eryx.Session(vfs=eryx.VfsStorage())
    s2.restore_state(data)
    r = s2.execute("import sqlite3, sys\n"
                   "sys.path.insert(0, '/data/lib')\n"
                   "import mine\n"
                   "result = [mine.V, sqlite3.connect('/data/app.db')"
                   ".execute('select x from t').fetchone()[0]]")
    assert r.result == [5, 42]


def test_max_vfs_bytes_caps_what_a_sandbox_writes():
    store = eryx.VfsStorage(quota_bytes=10 << 20)
    s = eryx.Session(vfs=store, resource_limits=eryx.ResourceLimits(max_vfs_bytes=50_000))
    r = s.execute("import os, errno\n"
                  "fd = os.open('/data/f', os.O_RDWR | os.O_CREAT)\n"
                  "try:\n    os.pwrite(fd, b'x' * 100_000, 0)\n    result = 'written'\n"
                  "except OSError as e:\n    result = errno.errorcode[e.errno]")
    assert r.result == "ENOSPC"
    assert store.used_bytes < 1000
    with pytest.raises(ValueError):
        eryx.ResourceLimits(max_vfs_bytes=0)._native()
