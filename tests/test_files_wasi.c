/*
 * test_files_wasi.c — the mount at the WASI level (src/vfs_wasi.c,
 * deps/wasmtime/src/vfs_wasi.rs): CPython's own C code (the import system,
 * sqlite3, zipimport, io.FileIO, os.open) works on the tree, and every
 * escape the Python-level tests try is repeated below Python, through the
 * raw WASI calls that os.* makes.
 */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static eryx_vfs *new_vfs(uint64_t quota) {
  eryx_vfs *v = NULL;
  eryx_error *err = eryx_vfs_new(quota, &v);
  CHECK_MSG(!err, "eryx_vfs_new: %s", eryx_error_message(err, NULL));
  eryx_error_free(err);
  return v;
}

static eryx_session *session_on(eryx_vfs *v) {
  eryx_sandbox_options o = ERYX_SANDBOX_OPTIONS_INIT;
  o.vfs = v;
  return new_session(&o);
}

/* Import, os.open/os.read/os.lseek, io.FileIO, tempfile, logging. */
static void c_level_file_io_works(void) {
  eryx_vfs *v = new_vfs((uint64_t)16 << 20);
  eryx_session *s = v ? session_on(v) : NULL;
  if (!s) {
    eryx_vfs_free(v);
    return;
  }
  expect(s,
         "import os, sys\n"
         "os.makedirs('/data/lib/pkg', exist_ok=True)\n"
         "open('/data/lib/mymod.py', 'w').write('X = 41\\n')\n"
         "open('/data/lib/pkg/__init__.py', 'w').write('from .sub import Y\\n')\n"
         "open('/data/lib/pkg/sub.py', 'w').write('Y = 1\\n')\n"
         "sys.path.insert(0, '/data/lib')\n"
         "import mymod, pkg\n"
         "result = mymod.X + pkg.Y",
         "42");
  expect(s,
         "import os\n"
         "fd = os.open('/data/raw.bin', os.O_RDWR | os.O_CREAT | os.O_TRUNC)\n"
         "os.write(fd, b'0123456789')\n"
         "os.lseek(fd, 3, os.SEEK_SET)\n"
         "a = os.read(fd, 4)\n"
         "end = os.lseek(fd, 0, os.SEEK_END)\n"
         "os.lseek(fd, -2, os.SEEK_END)\n"
         "b = os.read(fd, 10)\n"
         "os.close(fd)\n"
         "import io\n"
         "with io.FileIO('/data/raw.bin', 'r+') as f:\n"
         "    f.seek(0, 2); f.write(b'AB')\n"
         "with open('/data/raw.bin', 'ab') as f:\n"
         "    f.write(b'CD')\n"
         "c = open('/data/raw.bin', 'rb').read()\n"
         "result = [a.decode(), end, b.decode(), c.decode(), os.path.getsize('/data/raw.bin')]",
         "[\"3456\", 10, \"89\", \"0123456789ABCD\", 14]");
  expect(s,
         "import tempfile, os, logging\n"
         "with tempfile.NamedTemporaryFile(dir='/data', delete=False) as t:\n"
         "    t.write(b'tmp')\n"
         "d = tempfile.mkdtemp(dir='/data')\n"
         "h = logging.FileHandler('/data/app.log')\n"
         "log = logging.getLogger('t'); log.addHandler(h); log.warning('hello'); h.close()\n"
         "result = [open(t.name, 'rb').read().decode(), os.path.isdir(d),\n"
         "          open('/data/app.log').read(), sorted(os.listdir('/data'))[:2]]",
         "[\"tmp\", true, \"hello\\n\", [\"app.log\", \"lib\"]]");
  eryx_session_free(s);
  eryx_vfs_free(v);
}



static eryx_session *restored_session(eryx_vfs *v, const uint8_t *snap, size_t len) {
  eryx_session *s = session_on(v);
  if (!s)
    return NULL;
  eryx_error *err = eryx_session_restore_state(s, snap, len);
  CHECK_MSG(!err, "restore: %s", eryx_error_message(err, NULL));
  eryx_error_free(err);
  return s;
}

/* sqlite3 on the mount across executes, a package written by the guest,
 * and both after a snapshot restored into a new session on a new tree. */
static void sqlite_and_imports_survive_snapshots(void) {
  eryx_vfs *v = new_vfs((uint64_t)16 << 20);
  eryx_session *s = v ? session_on(v) : NULL;
  if (!s) {
    eryx_vfs_free(v);
    return;
  }
  expect(s,
         "import sqlite3, os\n"
         "db = sqlite3.connect('/data/app.db')\n"
         "db.execute('create table t (k integer primary key, v text)')\n"
         "db.executemany('insert into t (v) values (?)', [(str(i),) for i in range(100)])\n"
         "db.commit()\n"
         "db.close()\n"
         "os.makedirs('/data/lib/agentpkg')\n"
         "open('/data/lib/agentpkg/__init__.py', 'w').write('def f():\\n    return 7\\n')\n"
         "result = os.path.getsize('/data/app.db') > 0",
         "true");
  expect(s,
         "import sqlite3\n"
         "db = sqlite3.connect('/data/app.db')\n"
         "db.execute(\"insert into t (v) values ('more')\")\n"
         "db.commit()\n"
         "result = db.execute('select count(*), max(v) from t').fetchone()",
         "[101, \"more\"]");
  eryx_snapshot *snap = NULL;
  eryx_error *err = eryx_session_snapshot_state(s, 1, &snap);
  CHECK_MSG(!err, "snapshot: %s", eryx_error_message(err, NULL));
  eryx_error_free(err);
  eryx_session_free(s);
  eryx_vfs_free(v);
  if (!snap)
    return;
  eryx_vfs *w = new_vfs((uint64_t)16 << 20);
  size_t len = 0;
  const uint8_t *bytes = eryx_snapshot_data(snap, &len);
  eryx_session *t = w ? restored_session(w, bytes, len) : NULL;
  eryx_snapshot_free(snap);
  if (t) {
    expect(t,
           "import sqlite3, sys\n"
           "sys.path.insert(0, '/data/lib')\n"
           "import agentpkg\n"
           "db = sqlite3.connect('/data/app.db')\n"
           "result = [agentpkg.f(), db.execute('select count(*) from t').fetchone()[0]]",
           "[7, 101]");
    eryx_session_free(t);
  }
  eryx_vfs_free(w);
}

/* zipfile writes an archive on the mount; zipimport imports from it. */
static void zipimport_from_the_mount(void) {
  eryx_vfs *v = new_vfs((uint64_t)16 << 20);
  eryx_session *s = v ? session_on(v) : NULL;
  if (s)
    expect(s,
           "import zipfile, sys\n"
           "with zipfile.ZipFile('/data/lib.zip', 'w') as z:\n"
           "    z.writestr('zmod.py', 'Z = 3\\n')\n"
           "sys.path.insert(0, '/data/lib.zip')\n"
           "import zmod\n"
           "import dbm.dumb, shelve\n"
           "with shelve.Shelf(dbm.dumb.open('/data/shelf', 'c')) as sh:\n"
           "    sh['k'] = [1, 2]\n"
           "with shelve.Shelf(dbm.dumb.open('/data/shelf', 'r')) as sh:\n"
           "    k = sh['k']\n"
           "result = [zmod.Z, zmod.__file__, k]",
           "[3, \"/data/lib.zip/zmod.py\", [1, 2]]");
  eryx_session_free(s);
  eryx_vfs_free(v);
}

/* Below Python: os.* calls reach WASI directly. Every way out is refused,
 * extreme offsets allocate nothing, and a write that does not fit leaves
 * nothing behind. */
static void wasi_level_escapes_and_limits(void) {
  eryx_vfs *v = new_vfs(1 << 20);
  eryx_session *s = v ? session_on(v) : NULL;
  if (!s) {
    eryx_vfs_free(v);
    return;
  }
  uint64_t before = eryx_vfs_used_bytes(v);
  (void)before;
  expect(s,
         "import os, posix, _io, errno\n"
         "def attempt(fn):\n"
         "    try:\n"
         "        fn()\n"
         "        return 'no error'\n"
         "    except (OSError, ValueError, OverflowError) as e:\n"
         "        return type(e).__name__ if not isinstance(e, OSError) else errno.errorcode.get(e.errno)\n"
         "RW = os.O_RDWR | os.O_CREAT\n"
         "open('/data/f', 'w').write('x')\n"
         "out = {\n"
         "  'dotdot': attempt(lambda: posix.open('/data/../../etc/passwd', os.O_RDONLY)),\n"
         "  'deep_dotdot': attempt(lambda: posix.open('/data/a/../../' * 50 + 'etc/passwd', os.O_RDONLY)),\n"
         "  'rel_dotdot': attempt(lambda: (os.chdir('/data'), posix.open('../../../tmp/x', RW))),\n"
         "  'symlink': attempt(lambda: os.symlink('/etc/passwd', '/data/link')),\n"
         "  'hardlink': attempt(lambda: os.link('/data/f', '/data/g')),\n"
         "  'rename_out': attempt(lambda: os.rename('/data/f', '/python/f')),\n"
         "  'rename_in': attempt(lambda: os.rename('/python/os.py', '/data/os.py')),\n"
         "  'nul': attempt(lambda: posix.open('/data/a\\x00b', RW)),\n"
         "  'long_name': attempt(lambda: posix.open('/data/' + 'n' * 300, RW)),\n"
         "  'long_path': attempt(lambda: posix.open('/data/' + 'd/' * 3000 + 'x', RW)),\n"
         "  'readlink': attempt(lambda: os.readlink('/data/f')),\n"
         "}\n"
         "os.chdir('/python')\n"
         "fd = os.open('/data/sparse', RW)\n"
         "out['seek_2_40'] = os.lseek(fd, 1 << 40, os.SEEK_SET) == 1 << 40\n"
         "out['write_2_40'] = attempt(lambda: os.write(fd, b'x'))\n"
         "out['pwrite_2_40'] = attempt(lambda: os.pwrite(fd, b'x', 1 << 40))\n"
         "out['ftruncate_2_40'] = attempt(lambda: os.ftruncate(fd, 1 << 40))\n"
         "out['pread_far'] = len(os.pread(fd, 10, 1 << 62))\n"
         "out['size'] = os.fstat(fd).st_size\n"
         "out['big_write'] = attempt(lambda: os.write(fd, b'y' * (2 << 20)))\n"
         "out['size_after'] = os.fstat(fd).st_size\n"
         "os.close(fd)\n"
         "out['listing'] = sorted(os.listdir('/data'))\n"
         "result = out",
         "{\"dotdot\": \"EPERM\", \"deep_dotdot\": \"EPERM\", \"rel_dotdot\": \"EPERM\", "
         "\"symlink\": \"EPERM\", \"hardlink\": \"EPERM\", \"rename_out\": \"EXDEV\", "
         "\"rename_in\": \"EXDEV\", \"nul\": \"ValueError\", \"long_name\": \"ENAMETOOLONG\", "
         "\"long_path\": \"ENAMETOOLONG\", \"readlink\": \"EINVAL\", \"seek_2_40\": true, "
         "\"write_2_40\": \"EIO\", \"pwrite_2_40\": \"ENOSPC\", \"ftruncate_2_40\": \"ENOSPC\", "
         "\"pread_far\": 0, \"size\": 0, \"big_write\": \"EIO\", \"size_after\": 0, "
         "\"listing\": [\"f\", \"sparse\"]}");
  /* Two small files: nothing of the refused writes was kept. */
  CHECK_MSG(eryx_vfs_used_bytes(v) < 1024, "used %llu", (unsigned long long)eryx_vfs_used_bytes(v));
  eryx_session_free(s);
  eryx_vfs_free(v);
}

/* A sandbox without a tree has no mount; a guest cannot open more than
 * the descriptor cap. */
static void no_tree_no_mount(void) {
  eryx_result *r = run_once("import os\nresult = os.path.exists('/data')");
  CHECK_MSG(r && str_eq(eryx_result_json(r, NULL), "false"), "%s", describe(r));
  eryx_result_free(r);
  eryx_vfs *v = new_vfs(1 << 20);
  eryx_session *s = v ? session_on(v) : NULL;
  if (s)
    expect(s,
           "import os\n"
           "open('/data/f', 'w').close()\n"
           "fds = []\n"
           "err = None\n"
           "try:\n"
           "    for i in range(5000):\n"
           "        fds.append(os.open('/data/f', os.O_RDONLY))\n"
           "except OSError as e:\n"
           "    err = e.errno\n"
           "n = len(fds)\n"
           "for fd in fds:\n"
           "    os.close(fd)\n"
           "result = [n <= 1024, err is not None, open('/data/f').read()]",
           "[true, true, \"\"]");
  eryx_session_free(s);
  eryx_vfs_free(v);
}


/* max_vfs_bytes caps what the sandbox may put in a larger tree (the
 * tree's quota still counts), and a tree without a quota still never
 * grows a file to 2^40 bytes of host memory. */
static void max_vfs_bytes_and_no_quota(void) {
  eryx_vfs *v = new_vfs((uint64_t)64 << 20);
  eryx_sandbox_options o = ERYX_SANDBOX_OPTIONS_INIT;
  o.vfs = v;
  o.max_vfs_bytes = 64 << 10;
  eryx_session *s = v ? new_session(&o) : NULL;
  if (s)
    expect(s,
           "import os, errno\n"
           "def attempt(fn):\n"
           "    try:\n"
           "        fn()\n"
           "        return 'no error'\n"
           "    except OSError as e:\n"
           "        return errno.errorcode.get(e.errno)\n"
           "fd = os.open('/data/f', os.O_RDWR | os.O_CREAT)\n"
           "a = attempt(lambda: os.pwrite(fd, b'x' * 40000, 0))\n"
           "b = attempt(lambda: os.pwrite(fd, b'y' * 40000, 40000))\n"
           "c = attempt(lambda: os.ftruncate(fd, 1 << 20))\n"
           "size = os.fstat(fd).st_size\n"
           "os.close(fd)\n"
           "result = [a, b, c, size]",
           "[\"no error\", \"ENOSPC\", \"ENOSPC\", 40000]");
  /* The host itself may still fill the tree to its quota. */
  static uint8_t big[100000];
  eryx_error *err = v ? eryx_vfs_write_file(v, "g", 1, big, sizeof big) : NULL;
  CHECK_MSG(!err, "host write: %s", eryx_error_message(err, NULL));
  eryx_error_free(err);
  eryx_session_free(s);
  eryx_vfs_free(v);

  eryx_vfs *u = new_vfs(UINT64_MAX);
  eryx_session *t = u ? session_on(u) : NULL;
  uint64_t rss = rss_bytes();
  if (t)
    expect(t,
           "import os, errno\n"
           "fd = os.open('/data/sparse', os.O_RDWR | os.O_CREAT)\n"
           "out = []\n"
           "for f in (lambda: os.pwrite(fd, b'x', 1 << 40), lambda: os.ftruncate(fd, 1 << 40),\n"
           "          lambda: os.ftruncate(fd, (1 << 32) + 1)):\n"
           "    try:\n"
           "        f()\n"
           "        out.append('no error')\n"
           "    except OSError as e:\n"
           "        out.append(errno.errorcode.get(e.errno))\n"
           "out.append(os.fstat(fd).st_size)\n"
           "result = out",
           "[\"ENOSPC\", \"ENOSPC\", \"ENOSPC\", 0]");
  CHECK_MSG(rss_bytes() < rss + ((uint64_t)256 << 20), "RSS grew by %llu MiB",
            (unsigned long long)((rss_bytes() - rss) >> 20));
  eryx_session_free(t);
  eryx_vfs_free(u);
}


/* os.pread on a directory's descriptor, twice: the WASI layer under
 * CPython would corrupt the interpreter (fuzz seed 615); the guest refuses
 * it first (guest/eryx_guest/posix_fixes.py), and files still work. */
static void pread_on_a_directory_is_refused(void) {
  eryx_vfs *v = new_vfs((uint64_t)1 << 20);
  eryx_session *s = v ? session_on(v) : NULL;
  if (!s) {
    eryx_vfs_free(v);
    return;
  }
  expect(s,
         "import os\n"
         "out = []\n"
         "for path in ('/python', '/data'):\n"
         "    fd = os.open(path, os.O_RDONLY)\n"
         "    for _ in range(3):\n"
         "        try:\n"
         "            os.pread(fd, 0, 0)\n"
         "        except OSError as e:\n"
         "            out.append(type(e).__name__)\n"
         "    os.close(fd)\n"
         "fd = os.open('/data/f', os.O_RDWR | os.O_CREAT)\n"
         "os.write(fd, b'abcdef')\n"
         "out.append(os.pread(fd, 3, 2).decode())\n"
         "out.append(b'x'.decode() + str(len(bytes(range(50)))))\n"
         "result = out",
         "[\"IsADirectoryError\", \"IsADirectoryError\", \"IsADirectoryError\", "
         "\"IsADirectoryError\", \"IsADirectoryError\", \"IsADirectoryError\", \"cde\", "
         "\"x50\"]");
  eryx_session_free(s);
  eryx_vfs_free(v);
}

/* An open file follows a rename, and outlives its removal until closed
 * (tempfile.TemporaryFile removes its file at once). */
static void open_files_follow_renames(void) {
  eryx_vfs *v = new_vfs((uint64_t)16 << 20);
  eryx_session *s = v ? session_on(v) : NULL;
  if (s)
    expect(s,
           "import os, tempfile\n"
           "f = open('/data/a.txt', 'w+')\n"
           "f.write('one'); f.flush()\n"
           "os.rename('/data/a.txt', '/data/b.txt')\n"
           "f.write('two'); f.flush(); f.seek(0)\n"
           "moved = f.read()\n"
           "f.close()\n"
           "with tempfile.TemporaryFile(dir='/data') as t:\n"
           "    t.write(b'scratch' * 1000); t.seek(0)\n"
           "    scratch = len(t.read())\n"
           "    gone = os.listdir('/data')\n"
           "g = open('/data/c.txt', 'w+')\n"
           "g.write('kept')\n"
           "g.flush()\n"
           "os.remove('/data/c.txt')\n"
           "open('/data/c.txt', 'w').write('new')\n"
           "g.seek(0)\n"
           "old = g.read()\n"
           "g.close()\n"
           "result = [moved, open('/data/b.txt').read(), scratch, gone, old,\n"
           "          open('/data/c.txt').read(), sorted(os.listdir('/data'))]",
           "[\"onetwo\", \"onetwo\", 7000, [\"b.txt\"], \"kept\", \"new\", [\"b.txt\", \"c.txt\"]]");
  /* What removed files held open took is given back at their close. */
  CHECK_MSG(v && eryx_vfs_used_bytes(v) < 300, "used %llu",
            (unsigned long long)(v ? eryx_vfs_used_bytes(v) : 0));
  eryx_session_free(s);
  eryx_vfs_free(v);
}

const test_case files_wasi_tests[] = {
    {"files_wasi_c_level_file_io_works", c_level_file_io_works},
    {"files_wasi_sqlite_and_imports_survive_snapshots", sqlite_and_imports_survive_snapshots},
    {"files_wasi_zipimport_from_the_mount", zipimport_from_the_mount},
    {"files_wasi_escapes_and_limits", wasi_level_escapes_and_limits},
    {"files_wasi_no_tree_no_mount", no_tree_no_mount},
    {"files_wasi_max_vfs_bytes_and_no_quota", max_vfs_bytes_and_no_quota},
    {"files_wasi_open_files_follow_renames", open_files_follow_renames},
    {"files_wasi_pread_on_a_directory_is_refused", pread_on_a_directory_is_refused},
};
const size_t files_wasi_count = sizeof files_wasi_tests / sizeof files_wasi_tests[0];

