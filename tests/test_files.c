/*
 * test_files.c — the mounted file tree (eryx_vfs): ordinary Python file
 * APIs, persistence, the quota, snapshots, the host API, and attempts to
 * get out of the mount or around the quota.
 */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static eryx_vfs *new_vfs(uint64_t quota) {
  eryx_vfs *v = NULL;
  eryx_error *err = eryx_vfs_new(quota, &v);
  CHECK_MSG(!err, "eryx_vfs_new: %s", eryx_error_message(err, NULL));
  eryx_error_free(err);
  return v;
}

static eryx_session *session_on(eryx_vfs *v, const char *mount) {
  eryx_sandbox_options o = ERYX_SANDBOX_OPTIONS_INIT;
  o.vfs = v;
  o.vfs_mount_path = mount;
  o.vfs_mount_path_len = mount ? strlen(mount) : 0;
  return new_session(&o);
}

/* A new tree and a session on it at /data; false (and both NULL) if either
 * cannot be made. */
static bool tree_and_session(uint64_t quota, eryx_vfs **v, eryx_session **s) {
  *v = new_vfs(quota);
  *s = *v ? session_on(*v, NULL) : NULL;
  if (!*s) {
    eryx_vfs_free(*v);
    *v = NULL;
  }
  return *s != NULL;
}

/* The file's content as a NUL-terminated string (caller frees), or NULL. */
static char *host_read(eryx_vfs *v, const char *path) {
  uint8_t *data = NULL;
  size_t len = 0;
  eryx_error *err = eryx_vfs_read_file(v, path, strlen(path), &data, &len);
  if (err) {
    eryx_error_free(err);
    return NULL;
  }
  char *s = malloc(len + 1);
  memcpy(s, data, len);
  s[len] = '\0';
  eryx_vfs_bytes_free(data);
  return s;
}

static void check_host_file(eryx_vfs *v, const char *path, const char *want) {
  char *got = host_read(v, path);
  CHECK_MSG(str_eq(got, want), "host read of %s: expected \"%s\", got \"%s\"", path,
            want, or_null(got));
  free(got);
}

static void python_file_apis_work_and_persist(void) {
  eryx_vfs *v;
  eryx_session *s;
  if (!tree_and_session(0, &v, &s))
    return;
  expect(s, "import os, pathlib, shutil\n"
            "with open('/data/notes.txt', 'w') as f:\n"
            "    f.write('line 1\\n')\n"
            "with open('/data/notes.txt', 'a') as f:\n"
            "    print('line 2', file=f)\n"
            "os.makedirs('/data/a/b', exist_ok=True)\n"
            "pathlib.Path('/data/a/b/p.json').write_text('{\"k\": 1}')\n"
            "shutil.copy('/data/notes.txt', '/data/a/copy.txt')\n"
            "os.rename('/data/a/copy.txt', '/data/a/moved.txt')\n"
            "fd = os.open('/data/raw.bin', os.O_WRONLY | os.O_CREAT)\n"
            "os.write(fd, bytes(range(256)))\n"
            "os.close(fd)\n"
            "result = sorted(os.listdir('/data'))",
         "[\"a\", \"notes.txt\", \"raw.bin\"]");
  /* The next execution sees all of it, through every API. */
  expect(s, "import os, pathlib, json\n"
            "p = pathlib.Path('/data')\n"
            "result = [open('/data/notes.txt').read(),\n"
            "          json.loads((p / 'a' / 'b' / 'p.json').read_text()),\n"
            "          sorted(x.name for x in (p / 'a').iterdir()),\n"
            "          os.path.getsize('/data/raw.bin'),\n"
            "          open('/data/raw.bin', 'rb').read() == bytes(range(256)),\n"
            "          os.path.isdir('/data/a'), os.path.exists('/data/nope'),\n"
            "          sorted(str(x) for x in p.glob('**/*.txt'))]",
         "[\"line 1\\nline 2\\n\", {\"k\": 1}, [\"b\", \"moved.txt\"], 256, true, true, "
         "false, [\"/data/a/moved.txt\", \"/data/notes.txt\"]]");
  /* Seek, read-write, truncate, relative paths after chdir, os.walk. */
  expect(s, "import os\n"
            "with open('/data/rw.txt', 'w+') as f:\n"
            "    f.write('hello world')\n"
            "    f.seek(6)\n"
            "    w = f.read()\n"
            "    f.truncate(5)\n"
            "os.chdir('/data/a')\n"
            "with open('rel.txt', 'w') as f:\n"
            "    f.write('r')\n"
            "cwd = os.getcwd()\n"
            "os.chdir('/python')\n"
            "walked = sorted(d for d, _, _ in os.walk('/data'))\n"
            "result = [w, open('/data/rw.txt').read(), cwd, open('/data/a/rel.txt').read(), walked]",
         "[\"world\", \"hello\", \"/data/a\", \"r\", [\"/data\", \"/data/a\", \"/data/a/b\"]]");
  /* Errors are the usual OSError subclasses. */
  expect(s, "import os, shutil\n"
            "out = []\n"
            "for f in [lambda: open('/data/missing'), lambda: os.rmdir('/data/a'),\n"
            "          lambda: open('/data/a', 'w'), lambda: os.mkdir('/data/a'),\n"
            "          lambda: open('/data/notes.txt/x', 'w')]:\n"
            "    try:\n"
            "        f()\n"
            "    except OSError as e:\n"
            "        out.append(type(e).__name__)\n"
            "shutil.rmtree('/data/a')\n"
            "result = out + [os.path.exists('/data/a')]",
         "[\"FileNotFoundError\", \"OSError\", \"IsADirectoryError\", \"FileExistsError\", "
         "\"NotADirectoryError\", false]");
  /* The host sees what Python wrote, and Python sees what the host writes. */
  check_host_file(v, "/notes.txt", "line 1\nline 2\n");
  check_host_file(v, "rw.txt", "hello");
  const char *msg = "from the host";
  eryx_error *err = eryx_vfs_write_file(v, "in/host.txt", 11, (const uint8_t *)msg, strlen(msg));
  CHECK(!err);
  eryx_error_free(err);
  expect(s, "result = open('/data/in/host.txt').read()", "\"from the host\"");
  eryx_session_free(s);
  eryx_vfs_free(v);
}

static void quota_is_enforced_with_enospc(void) {
  eryx_vfs *v;
  eryx_session *s;
  if (!tree_and_session(1 << 20, &v, &s))
    return;
  /* One big write, many small ones, a sparse seek and a truncate: each
   * stops at the quota with ENOSPC, caught inside Python. */
  expect(s, "import errno, os\n"
            "open('/data/keep.txt', 'w').write('precious')\n"
            "def attempt(fn):\n"
            "    try:\n"
            "        fn()\n"
            "        return 'no error'\n"
            "    except OSError as e:\n"
            "        return errno.errorcode.get(e.errno)\n"
            "def big():\n"
            "    with open('/data/big', 'wb') as f:\n"
            "        f.write(b'x' * (2 << 20))\n"
            "def many():\n"
            "    with open('/data/many', 'wb') as f:\n"
            "        while True:\n"
            "            f.write(b'y' * 4096)\n"
            "def sparse():\n"
            "    with open('/data/sparse', 'wb') as f:\n"
            "        f.seek(10 << 20)\n"
            "        f.write(b'z')\n"
            "def grow():\n"
            "    with open('/data/t', 'wb') as f:\n"
            "        f.truncate(5 << 20)\n"
            "def empties():\n"
            "    os.mkdir('/data/e')\n"
            "    for i in range(100000):\n"
            "        open(f'/data/e/{i:0200}', 'w').close()\n"
            "result = [attempt(big), attempt(many), attempt(sparse), attempt(grow),\n"
            "          open('/data/keep.txt').read()]\n"
            "os.remove('/data/many')\n"
            "result.append(attempt(empties))\n"
            "import shutil\n"
            "shutil.rmtree('/data/e')",
         /* A write() that does not fit is refused whole by the host (ENOSPC
          * in the tree); wasi-libc reports every failure of a stream write
          * as EIO, so Python sees that. Truncate and create say ENOSPC. */
         "[\"EIO\", \"EIO\", \"EIO\", \"ENOSPC\", \"precious\", \"ENOSPC\"]");
  CHECK(eryx_vfs_used_bytes(v) <= (1 << 20));
  /* Freeing space makes room again. */
  expect(s, "import os\n"
            "open('/data/after', 'wb').write(b'a' * 100000)\n"
            "result = os.path.getsize('/data/after')",
         "100000");
  /* A host write beyond the quota fails and keeps the old content. */
  char *big = calloc(2 << 20, 1);
  eryx_error *err = eryx_vfs_write_file(v, "keep.txt", 8, (const uint8_t *)big, 2 << 20);
  CHECK(err && eryx_error_get_code(err) == ERYX_ERR_FILES);
  CHECK_CONTAINS(err ? eryx_error_message(err, NULL) : NULL, "quota");
  eryx_error_free(err);
  free(big);
  check_host_file(v, "keep.txt", "precious");
  eryx_session_free(s);
  eryx_vfs_free(v);
}

static void escapes_stay_inside(void) {
  char host_path[64];
  snprintf(host_path, sizeof host_path, "/tmp/eryx-escape-%d", (int)getpid());
  unlink(host_path);
  eryx_vfs *v;
  eryx_session *s;
  if (!tree_and_session(0, &v, &s))
    return;
  char code[2048];
  snprintf(code, sizeof code,
           "import os, posix, _io\n"
           "target = '%s'\n"
           "attempts = {\n"
           "  'dotdot': lambda: open('/data/../' + target.lstrip('/'), 'w'),\n"
           "  'absolute': lambda: open(target, 'w'),\n"
           "  'relative': lambda: (os.chdir('/data'), open('../..' + target, 'w')),\n"
           "  'symlink': lambda: os.symlink(target, '/data/link'),\n"
           "  'hardlink': lambda: os.link('/data/f', '/data/g'),\n"
           "  'posix_open': lambda: posix.open('/data/../..' + target, os.O_WRONLY | os.O_CREAT),\n"
           "  'fileio': lambda: _io.FileIO('/data/../../..' + target, 'w'),\n"
           "  'rename_out': lambda: os.rename('/data/f', target),\n"
           "  'stdlib': lambda: open('/python/evil.py', 'w'),\n"
           "  'passwd': lambda: open('/data/../etc/passwd').read(),\n"
           "}\n"
           "open('/data/f', 'w').write('x')\n"
           "out = {}\n"
           "for name, fn in attempts.items():\n"
           "    try:\n"
           "        fn()\n"
           "        out[name] = 'escaped'\n"
           "    except OSError as e:\n"
           "        out[name] = 'refused'\n"
           "os.chdir('/python')\n"
           "result = sorted(k for k, v in out.items() if v != 'refused')",
           host_path);
  expect(s, code, "[]");
  CHECK_MSG(access(host_path, F_OK) != 0, "%s was created on the host", host_path);
  /* Only the one file we wrote is in the tree. */
  expect(s, "import os\nresult = os.listdir('/data')", "[\"f\"]");
  eryx_session_free(s);
  eryx_vfs_free(v);
  unlink(host_path);
}

static void snapshots_include_files(void) {
  eryx_vfs *v;
  eryx_session *s;
  if (!tree_and_session(0, &v, &s))
    return;
  expect(s, "import os\nos.makedirs('/data/d')\n"
            "open('/data/d/x.bin', 'wb').write(bytes(range(256)) * 3)\n"
            "n = 42",
         NULL);
  eryx_snapshot *snap = NULL;
  eryx_error *err = eryx_session_snapshot_state(s, 0, &snap);
  CHECK_MSG(!err, "snapshot: %s", eryx_error_message(err, NULL));
  eryx_error_free(err);
  if (!snap) {
    eryx_session_free(s);
    eryx_vfs_free(v);
    return;
  }
  size_t len;
  const uint8_t *data = eryx_snapshot_data(snap, &len);

  /* Into a new session over a new, empty tree: files and variables. */
  eryx_vfs *v2 = new_vfs(0);
  eryx_session *s2 = session_on(v2, "/data");
  err = eryx_session_restore_state(s2, data, len);
  CHECK_MSG(!err, "restore: %s", eryx_error_message(err, NULL));
  eryx_error_free(err);
  expect(s2, "result = [n, open('/data/d/x.bin', 'rb').read() == bytes(range(256)) * 3]",
         "[42, true]");

  /* A corrupted file part is refused and changes neither files nor state. */
  uint8_t *bad = malloc(len);
  memcpy(bad, data, len);
  bad[len - 3] = bad[len - 3] == 'A' ? 'B' : 'A';
  expect(s2, "open('/data/new.txt', 'w').write('new')\nn = 7\nresult = 'ok'", "\"ok\"");
  err = eryx_session_restore_state(s2, bad, len);
  CHECK(err && eryx_error_get_code(err) == ERYX_ERR_SNAPSHOT);
  eryx_error_free(err);
  expect(s2, "result = [n, open('/data/new.txt').read()]", "[7, \"new\"]");
  free(bad);

  /* A session without file storage refuses a snapshot that has files. */
  eryx_session *plain = new_session(NULL);
  err = eryx_session_restore_state(plain, data, len);
  CHECK(err && eryx_error_get_code(err) == ERYX_ERR_SNAPSHOT);
  CHECK_CONTAINS(err ? eryx_error_message(err, NULL) : NULL, "files");
  eryx_error_free(err);
  eryx_session_free(plain);

  eryx_snapshot_free(snap);
  eryx_session_free(s2);
  eryx_vfs_free(v2);
  eryx_session_free(s);
  eryx_vfs_free(v);
}

static void a_tree_outlives_its_session(void) {
  eryx_vfs *v = new_vfs(0);
  if (!v)
    return;
  eryx_session *a = session_on(v, "/work/files/");
  expect(a, "open('/work/files/handoff.txt', 'w').write('from a')", NULL);
  eryx_session_free(a);
  /* A plain sandbox mounts it too, elsewhere, and sees the same file. */
  eryx_sandbox_options o = ERYX_SANDBOX_OPTIONS_INIT;
  o.vfs = v;
  o.vfs_mount_path = "/mnt";
  o.vfs_mount_path_len = 4;
  eryx_sandbox *sb = new_sandbox(&o);
  eryx_result *r = sb ? run(sb, "result = open('/mnt/handoff.txt').read()") : NULL;
  CHECK_MSG(r && str_eq(eryx_result_json(r, NULL), "\"from a\""), "%s", describe(r));
  eryx_result_free(r);
  eryx_vfs_free(v); /* the sandbox still holds its reference */
  r = sb ? run(sb, "open('/mnt/later.txt', 'w').write('ok')\nresult = 1") : NULL;
  CHECK_MSG(r && str_eq(eryx_result_json(r, NULL), "1"), "%s", describe(r));
  eryx_result_free(r);
  eryx_sandbox_free(sb);

  /* Bad mount paths are refused. */
  const char *bad[] = {"/", "relative", "/python", "/python/lib", "/a/../b", ""};
  eryx_vfs *w = new_vfs(0);
  for (size_t i = 0; w && i < sizeof bad / sizeof bad[0]; i++) {
    eryx_sandbox *x = NULL;
    o.vfs = w;
    o.vfs_mount_path = bad[i];
    o.vfs_mount_path_len = strlen(bad[i]);
    eryx_error *err = eryx_sandbox_new(g_rt, &o, &x);
    CHECK_MSG(err && eryx_error_get_code(err) == ERYX_ERR_INVALID_ARGUMENT && !x,
              "mount '%s' was accepted", bad[i]);
    eryx_error_free(err);
    eryx_sandbox_free(x);
  }
  eryx_vfs_free(w);
}

static void count_entry(void *ud, const char *path, size_t len, int is_dir, uint64_t size) {
  char *out = ud;
  char line[128];
  snprintf(line, sizeof line, "%.*s:%s:%llu;", (int)len, path, is_dir ? "d" : "f",
           (unsigned long long)size);
  strncat(out, line, 1023 - strlen(out));
}

static void host_api(void) {
  eryx_vfs *v = new_vfs(0);
  if (!v)
    return;
  eryx_error *err = eryx_vfs_mkdir(v, "/x/y", 4);
  CHECK(!err);
  eryx_error_free(err);
  err = eryx_vfs_write_file(v, "x/y/z.txt", 9, (const uint8_t *)"abc", 3);
  CHECK(!err);
  eryx_error_free(err);
  char listing[1024] = "";
  err = eryx_vfs_list(v, count_entry, listing);
  CHECK(!err);
  eryx_error_free(err);
  CHECK_STREQ(listing, "x:d:0;x/y:d:0;x/y/z.txt:f:3;");
  /* Content, plus each entry's path length and 64 bytes. */
  CHECK(eryx_vfs_used_bytes(v) == 3 + (1 + 64) + (3 + 64) + (9 + 64));

  /* Bad paths and missing files are errors, never crashes. */
  const char *bad[] = {"../etc/passwd", "x/../../y", "a//b", "./a"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    err = eryx_vfs_write_file(v, bad[i], strlen(bad[i]), (const uint8_t *)"", 0);
    CHECK_MSG(err && eryx_error_get_code(err) == ERYX_ERR_INVALID_ARGUMENT, "%s", bad[i]);
    eryx_error_free(err);
  }
  uint8_t *data;
  size_t len;
  err = eryx_vfs_read_file(v, "nope", 4, &data, &len);
  CHECK(err && eryx_error_get_code(err) == ERYX_ERR_FILES);
  eryx_error_free(err);
  err = eryx_vfs_read_file(v, "x", 1, &data, &len);
  CHECK(err && eryx_error_get_code(err) == ERYX_ERR_FILES);
  eryx_error_free(err);

  /* Export / import round trip; a truncated archive is refused whole. */
  uint8_t *arch;
  size_t arch_len;
  err = eryx_vfs_export(v, &arch, &arch_len);
  CHECK(!err);
  eryx_error_free(err);
  eryx_vfs *w = new_vfs(0);
  err = eryx_vfs_import(w, arch, arch_len);
  CHECK(!err);
  eryx_error_free(err);
  check_host_file(w, "x/y/z.txt", "abc");
  CHECK(eryx_vfs_used_bytes(w) == eryx_vfs_used_bytes(v));
  err = eryx_vfs_write_file(w, "other", 5, (const uint8_t *)"o", 1);
  eryx_error_free(err);
  err = eryx_vfs_import(w, arch, arch_len - 4);
  CHECK(err && eryx_error_get_code(err) == ERYX_ERR_SNAPSHOT);
  eryx_error_free(err);
  /* A character outside base64, and a flipped one (checksum), likewise. */
  uint8_t *broken = malloc(arch_len);
  memcpy(broken, arch, arch_len);
  broken[arch_len - 6] = '!';
  err = eryx_vfs_import(w, broken, arch_len);
  CHECK(err && eryx_error_get_code(err) == ERYX_ERR_SNAPSHOT);
  eryx_error_free(err);
  broken[arch_len - 6] = arch[arch_len - 6] == 'A' ? 'B' : 'A';
  err = eryx_vfs_import(w, broken, arch_len);
  CHECK(err && eryx_error_get_code(err) == ERYX_ERR_SNAPSHOT);
  CHECK_CONTAINS(err ? eryx_error_message(err, NULL) : NULL, "checksum");
  eryx_error_free(err);
  free(broken);
  check_host_file(w, "other", "o");
  /* Too big for a smaller quota: refused, nothing changes. */
  eryx_vfs *tiny = new_vfs(2);
  err = eryx_vfs_import(tiny, arch, arch_len);
  CHECK(err && eryx_error_get_code(err) == ERYX_ERR_FILES);
  eryx_error_free(err);
  CHECK(eryx_vfs_used_bytes(tiny) == 0);
  eryx_vfs_bytes_free(arch);
  /* A body far larger than the quota is refused before it is decoded:
   * 256 MiB of base64 against a 1 MiB tree, in no time, nothing changed. */
  size_t huge = (size_t)256 << 20;
  char *fake = malloc(huge);
  const char head[] = "ERYXFILES 1 0123456789abcdef\n";
  memset(fake, 'A', huge);
  memcpy(fake, head, sizeof head - 1);
  eryx_vfs *small = new_vfs(1 << 20);
  err = eryx_vfs_write_file(small, "kept", 4, (const uint8_t *)"k", 1);
  eryx_error_free(err);
  err = eryx_vfs_import(small, (const uint8_t *)fake, huge);
  CHECK(err && eryx_error_get_code(err) == ERYX_ERR_FILES);
  CHECK_CONTAINS(err ? eryx_error_message(err, NULL) : NULL, "quota");
  eryx_error_free(err);
  check_host_file(small, "kept", "k");
  free(fake);
  eryx_vfs_free(small);

  err = eryx_vfs_remove(v, "x", 1);
  CHECK(!err);
  eryx_error_free(err);
  listing[0] = '\0';
  err = eryx_vfs_list(v, count_entry, listing);
  eryx_error_free(err);
  CHECK_STREQ(listing, "");
  CHECK(eryx_vfs_used_bytes(v) == 0);
  eryx_vfs_free(tiny);
  eryx_vfs_free(w);
  eryx_vfs_free(v);
}

static double rss_mib(void) { return (double)rss_bytes() / (1 << 20); }
static double peak_rss_mib(void) { return (double)peak_rss_bytes() / (1 << 20); }

/* 80 files each grown to 60 MiB and truncated back, one at a time, within
 * a 64 MiB quota: half through open(), half through the raw `fs` import.
 * The host must give the memory back with each truncate: before, it kept
 * every file's buffer (80 x 64 MiB resident for ~5 KB of "used" bytes). */
static void host_memory_follows_the_quota(void) {
  eryx_vfs *v;
  eryx_session *s;
  if (!tree_and_session((uint64_t)64 << 20, &v, &s))
    return;
  expect(s, "pass", NULL); /* the instance is made and warm before measuring */
  double before = rss_mib();
  reset_peak_rss();
  expect(s, "from wit_world.imports import host\n"
            "MiB = 1 << 20\n"
            "chunk = b'c' * MiB\n"
            "for i in range(40):\n"
            "    with open(f'/data/f{i}', 'wb') as f:\n"
            "        if i < 4:\n"
            "            for _ in range(60):\n"
            "                f.write(chunk)\n"   /* appends: buffers grow step by step */
            "        elif i % 2:\n"
            "            f.truncate(60 * MiB)\n"
            "        else:\n"
            "            f.seek(60 * MiB - 1)\n"
            "            f.write(b'x')\n"
            "        f.flush()\n"
            "        f.truncate(60)\n"
            "bad = []\n"
            "for i in range(40):\n"
            "    r = f'r{i}'\n"
            "    codes = [host.fs(2, r, '', 0, 9, '').code]\n"              /* create */
            "    if i % 2:\n"
            "        codes.append(host.fs(5, r, '', 0, 60 * MiB, '').code)\n" /* truncate */
            "    else:\n"
            "        codes.append(host.fs(4, r, '', 60 * MiB - 1, 0, 'x').code)\n" /* write */
            "    codes.append(host.fs(5, r, '', 0, 7, '').code)\n"
            "    if codes != [0, 0, 0]:\n"
            "        bad.append((r, codes))\n"
            "result = bad",
         "[]");
  double after = rss_mib(), peak = peak_rss_mib();
  fprintf(stderr, "  host_memory_follows_the_quota: RSS before %.0f MiB, peak %.0f, after %.0f\n",
          before, peak, after);
  /* One 60 MiB file at a time (plus slack and the guest's own growth), and
   * nothing kept afterwards. Under AddressSanitizer, realloc always copies
   * and freed blocks wait in its quarantine (256 MiB) before going back. */
#ifdef __SANITIZE_ADDRESS__
  const double quarantine = 256;
#else
  const double quarantine = 0;
#endif
  CHECK_MSG(peak - before < 128 + quarantine, "peak RSS grew by %.0f MiB", peak - before);
  CHECK_MSG(after - before < 48 + quarantine, "RSS grew by %.0f MiB", after - before);
  /* What the quota counts: 40 x (60 + "fN" + 64) + 40 x (7 + "rN" + 64). */
  uint64_t want = 0;
  for (int i = 0; i < 40; i++) {
    size_t name = i < 10 ? 2 : 3;
    want += 60 + name + 64 + 7 + name + 64;
  }
  CHECK_MSG(eryx_vfs_used_bytes(v) == want, "used %llu, expected %llu",
            (unsigned long long)eryx_vfs_used_bytes(v), (unsigned long long)want);
  expect(s, "import os\nresult = [os.path.getsize('/data/f3'), os.path.getsize('/data/r3'),\n"
            "          open('/data/f0', 'rb').read() == b'c' * 60]",
         "[60, 7, true]");
  eryx_session_free(s);
  eryx_vfs_free(v);
}

/* Calls of the raw `fs` import with every op code and junk in every field:
 * each is an error code (never a trap or a host crash), nothing is
 * allocated beyond what the quota allows, and the tree is unchanged. */
static void raw_fs_calls_with_junk_are_errors(void) {
  eryx_vfs *v;
  eryx_session *s;
  if (!tree_and_session(1 << 20, &v, &s))
    return;
  expect(s, "open('/data/f', 'w').write('hello')\nimport os\nos.mkdir('/data/d')", NULL);
  uint64_t used = eryx_vfs_used_bytes(v);
  double before = rss_mib();
  reset_peak_rss();
  expect(s, "from wit_world.imports import host\n"
            "bad = []\n"
            "def want(codes, op, path='f', path2='', offset=0, size=0, data=''):\n"
            "    r = host.fs(op, path, path2, offset, size, data)\n"
            "    if r.code not in codes:\n"
            "        bad.append((op, path[:20], path2[:20], offset, size, data[:20], r.code))\n"
            "    return r\n"
            "EINVAL, ENAMETOOLONG, ENOSPC, ENOENT = 7, 8, 6, 1\n"
            "U64 = (1 << 64) - 1\n"
            /* unknown ops, with every field set and not */
            "for op in [0] + list(range(12, 256)):\n"
            "    want([EINVAL], op)\n"
            "    want([EINVAL], op, 'x' * 5000, 'y', U64, U64, 'z' * 1000)\n"
            /* known ops with junk in fields they do not use, or bad values */
            "for op in range(1, 12):\n"
            "    want([EINVAL], op, 'f', '../x' if op == 10 else 'g', 1, 1, 'd')\n"
            "    want([EINVAL], op, 'f', '', U64, U64, 'junk')\n"
            /* bad paths */
            "paths = ['/f', 'f/', '../f', 'd/../f', 'd//f', '.', '..', 'd/.', 'f\\0g', '\\0',\n"
            "         'a' * 256, 'd/' + 'a' * 300, 'a/' * 3000, 'x' * (1 << 20)]\n"
            "for p in paths:\n"
            "    for op in range(1, 12):\n"
            "        want([EINVAL, ENAMETOOLONG], op, p, p if op == 10 else '')\n"
            "    want([EINVAL, ENAMETOOLONG], 10, 'f', p)\n"
            /* sizes and offsets: reads are capped by the file, writes and
             * truncates by the quota before any allocation */
            "r = want([0], 3, size=1 << 40)\n"
            "if r.data != 'hello': bad.append(('read', r.data[:20]))\n"
            "want([0], 3, offset=U64, size=U64)\n"
            "want([0], 3, offset=1 << 63, size=1 << 40)\n"
            "want([ENOSPC], 4, offset=1 << 63, data='x')\n"
            "want([ENOSPC], 4, offset=1 << 40, data='x')\n"
            "want([EINVAL], 4, offset=U64, data='xy')\n"
            "want([ENOSPC], 5, size=1 << 63)\n"
            "want([ENOSPC], 5, size=U64)\n"
            "want([ENOSPC], 5, size=2 << 20)\n"
            /* the base64 flag: only 0 or 1, and then real base64 */
            "for size, data in [(1, '!!!!'), (1, 'QUJD='), (1, 'QQ'), (2, 'QUJD'), (U64, 'QUJD'),\n"
            "                   (1, '=' * 8), (1, 'QU=D')]:\n"
            "    want([EINVAL], 4, size=size, data=data)\n"
            "want([0], 4, offset=5, size=1, data='')\n"
            /* open flags beyond the four known ones */
            "for flags in [16, 1 << 63, U64]:\n"
            "    want([EINVAL], 2, 'new', size=flags)\n"
            "want([EINVAL], 10, 'f', '')\n"
            "want([EINVAL], 10, '', 'g')\n"
            "want([ENOENT], 1, 'missing')\n"
            "want([0], 11, offset=U64)\n"
            "result = bad",
         "[]");
  double peak = peak_rss_mib();
  CHECK_MSG(peak - before < 64, "peak RSS grew by %.0f MiB", peak - before);
  CHECK_MSG(eryx_vfs_used_bytes(v) == used, "used %llu, was %llu",
            (unsigned long long)eryx_vfs_used_bytes(v), (unsigned long long)used);
  /* The sandbox and the tree still work. */
  expect(s, "import os\nresult = [open('/data/f').read(), sorted(os.listdir('/data'))]",
         "[\"hello\", [\"d\", \"f\"]]");
  eryx_session_free(s);
  eryx_vfs_free(v);
}

const test_case files_tests[] = {
    {"host_memory_follows_the_quota", host_memory_follows_the_quota},
    {"raw_fs_calls_with_junk_are_errors", raw_fs_calls_with_junk_are_errors},
    {"python_file_apis_work_and_persist", python_file_apis_work_and_persist},
    {"quota_is_enforced_with_enospc", quota_is_enforced_with_enospc},
    {"escapes_stay_inside", escapes_stay_inside},
    {"snapshots_include_files", snapshots_include_files},
    {"a_tree_outlives_its_session", a_tree_outlives_its_session},
    {"host_api", host_api},
};
const size_t files_count = sizeof files_tests / sizeof files_tests[0];
