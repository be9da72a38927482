/* test_sessions.c — Python state that persists between executions. */
#include "harness.h"

#include <stdatomic.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void state_persists_across_executions(void) {
  eryx_session *s = new_session(NULL);
  if (!s)
    return;
  expect(s, "import math\n"
            "counter = 1\n"
            "def double(x):\n    return 2 * x\n"
            "class Point:\n    def __init__(self, x, y): self.x, self.y = x, y\n"
            "    def norm(self): return math.hypot(self.x, self.y)\n",
         NULL);
  expect(s, "counter += 1\np = Point(3, 4)\nresult = [counter, double(21)]", "[2, 42]");
  expect(s, "counter += 1\nresult = [counter, p.norm(), math.pi > 3]", "[3, 5.0, true]");
  CHECK(eryx_session_execution_count(s) == 3);
  eryx_session_free(s);
}

static void errors_keep_the_state(void) {
  eryx_session *s = new_session(NULL);
  if (!s)
    return;
  expect(s, "x = 10", NULL);
  eryx_result *r = srun(s, "y = 1\nraise ValueError('oops')");
  CHECK(r && eryx_result_status(r) == ERYX_STATUS_EXCEPTION);
  eryx_result_free(r);
  /* Assignments made before the exception stay, as in a REPL. */
  expect(s, "result = [x, y]", "[10, 1]");
  eryx_session_free(s);
}

static void clear_state_versus_reset(void) {
  eryx_session *s = new_session(NULL);
  if (!s)
    return;
  expect(s, "import builtins\nsecret = 42\nbuiltins.marker = 'patched'", NULL);
  eryx_error *err = eryx_session_clear_state(s);
  CHECK(!err);
  eryx_error_free(err);
  CHECK(eryx_session_execution_count(s) == 0);
  /* The namespace is empty, but the interpreter (and builtins) is the same. */
  expect(s, "result = ['secret' in globals(), marker]", "[false, \"patched\"]");
  err = eryx_session_reset(s);
  CHECK(!err);
  eryx_error_free(err);
  /* A reset gives a new interpreter: the builtins patch is gone too. */
  expect(s, "import builtins\nresult = hasattr(builtins, 'marker')", "false");
  eryx_session_free(s);
}

static void a_timeout_loses_the_state_and_says_so(void) {
  eryx_sandbox_options o = ERYX_SANDBOX_OPTIONS_INIT;
  o.timeout_ms = 100;
  eryx_session *s = new_session(&o);
  if (!s)
    return;
  expect(s, "kept = 1", NULL);
  expect(s, "kept += 1", NULL);
  eryx_result *r = srun(s, "while True: pass");
  CHECK(r && eryx_result_status(r) == ERYX_STATUS_LIMIT);
  eryx_result_free(r);
  expect(s, "result = 'kept' in globals()", "false");
  CHECK_MSG(eryx_session_execution_count(s) == 1, "count %llu",
            (unsigned long long)eryx_session_execution_count(s));
  eryx_session_free(s);
}

static void echo(void *ud, eryx_call *call, const char *args, size_t len) {
  (void)ud;
  eryx_error_free(eryx_call_succeed(call, args, len));
}

static void callbacks_work_in_sessions(void) {
  eryx_callback cb = {0};
  cb.name = "echo";
  cb.name_len = 4;
  cb.fn = echo;
  eryx_sandbox_options o = ERYX_SANDBOX_OPTIONS_INIT;
  o.callbacks = &cb;
  o.callback_count = 1;
  eryx_session *s = new_session(&o);
  if (!s)
    return;
  expect(s, "first = await echo(n=1)", NULL);
  expect(s, "second = await echo(n=2)\nresult = [first['n'], second['n']]", "[1, 2]");
  eryx_session_free(s);
}

static eryx_snapshot *take(eryx_session *s, int skip, eryx_error **err_out) {
  eryx_snapshot *snap = NULL;
  eryx_error *err = eryx_session_snapshot_state(s, skip, &snap);
  if (err_out)
    *err_out = err;
  else {
    CHECK_MSG(!err, "snapshot: %s", eryx_error_message(err, NULL));
    eryx_error_free(err);
  }
  return snap;
}

static const char defining_code[] =
    "import math, functools\n"
    "rate = 2\n"
    "def scale(x):\n    return x * rate\n"
    "square = lambda v: v * v\n"
    "class Vec:\n"
    "    def __init__(self, x, y): self.x, self.y = x, y\n"
    "    def norm(self): return math.hypot(self.x, self.y)\n"
    "v = Vec(3, 4)\n"
    "data = {'nested': [1, (2, 3), {'k': None}], 'text': 'h\u00e9'}\n"
    "part = functools.partial(scale, 5)\n";

static const char checking_code[] =
    "rate = 10\n"
    "result = [scale(3), square(4), v.norm(), Vec(6, 8).norm(), data, part(),\n"
    "          type(v).__name__]\n";

static const char checked_json[] =
    "[30, 16, 5.0, 10.0, {\"nested\": [1, [2, 3], {\"k\": null}], \"text\": "
    "\"h\xc3\xa9\"}, 50, \"Vec\"]";

static void snapshot_restores_in_a_new_session(void) {
  eryx_session *a = new_session(NULL), *b = new_session(NULL);
  if (!a || !b)
    return;
  expect(a, defining_code, NULL);
  eryx_snapshot *snap = take(a, 0, NULL);
  if (snap) {
    size_t len;
    const uint8_t *data = eryx_snapshot_data(snap, &len);
    CHECK(len > 0 && eryx_snapshot_skipped_count(snap) == 0);
    eryx_error *err = eryx_session_restore_state(b, data, len);
    CHECK_MSG(!err, "restore: %s", eryx_error_message(err, NULL));
    eryx_error_free(err);
    /* Restored functions see the restoring session's (live) variables. */
    expect(b, checking_code, checked_json);
  }
  eryx_snapshot_free(snap);
  eryx_session_free(a);
  eryx_session_free(b);
}

/* The test binary re-run as `test_eryx --restore-check FILE`. */
int restore_check_main(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return 2;
  static char buf[1 << 20];
  size_t len = fread(buf, 1, sizeof buf, f);
  fclose(f);
  eryx_session *s = NULL;
  eryx_error *err = eryx_session_new(g_rt, NULL, &s);
  if (!err)
    err = eryx_session_restore_state(s, (const uint8_t *)buf, len);
  eryx_result *r = NULL;
  if (!err)
    err = eryx_session_execute(s, checking_code, strlen(checking_code), &r);
  if (err) {
    printf("error: %s\n", eryx_error_message(err, NULL));
    return 1;
  }
  printf("%s\n", or_null(eryx_result_json(r, NULL)));
  eryx_result_free(r);
  eryx_session_free(s);
  return 0;
}

static void snapshot_restores_in_another_process(void) {
  eryx_session *a = new_session(NULL);
  if (!a)
    return;
  expect(a, defining_code, NULL);
  eryx_snapshot *snap = take(a, 0, NULL);
  eryx_session_free(a);
  if (!snap)
    return;
  char path[] = "/tmp/eryx-snapshot-XXXXXX";
  int fd = mkstemp(path);
  size_t len;
  const uint8_t *data = eryx_snapshot_data(snap, &len);
  CHECK(fd >= 0 && write(fd, data, len) == (ssize_t)len);
  close(fd);
  eryx_snapshot_free(snap);
  char exe[4096], cmd[8300];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  CHECK(n > 0);
  exe[n > 0 ? n : 0] = '\0';
  snprintf(cmd, sizeof cmd, "'%s' --restore-check '%s'", exe, path);
  FILE *p = popen(cmd, "r");
  char out[4096] = {0};
  size_t got = p ? fread(out, 1, sizeof out - 1, p) : 0;
  int rc = p ? pclose(p) : -1;
  unlink(path);
  CHECK_MSG(rc == 0, "child exited %d: %s", rc, out);
  if (got && out[got - 1] == '\n')
    out[got - 1] = '\0';
  CHECK_STREQ(out, checked_json);
}

static void unserializable_values_are_named(void) {
  eryx_session *s = new_session(NULL);
  if (!s)
    return;
  /* dill handles open files and locks; generators and frames it cannot. */
  expect(s, "import sys\n"
            "gen = (i for i in range(3))\n"
            "fr = sys._getframe()\n"
            "fine = [1, 2]\n"
            "fh = open('/python/json/__init__.py')\n", NULL);
  eryx_error *err = NULL;
  eryx_snapshot *snap = take(s, 0, &err);
  CHECK(!snap && err && eryx_error_get_code(err) == ERYX_ERR_SNAPSHOT);
  CHECK_CONTAINS(eryx_error_message(err, NULL), "'gen' (generator");
  CHECK_CONTAINS(eryx_error_message(err, NULL), "'fr' (frame");
  CHECK_NOT_CONTAINS(eryx_error_message(err, NULL), "'fine'");
  eryx_error_free(err);

  snap = take(s, 1, NULL);
  if (snap) {
    CHECK(eryx_snapshot_skipped_count(snap) == 2);
    CHECK_STREQ(eryx_snapshot_skipped(snap, 0, NULL), "gen");
    CHECK_STREQ(eryx_snapshot_skipped(snap, 1, NULL), "fr");
    CHECK(eryx_snapshot_skipped(snap, 2, NULL) == NULL);
    eryx_session *t = new_session(NULL);
    size_t len;
    const uint8_t *data = eryx_snapshot_data(snap, &len);
    err = eryx_session_restore_state(t, data, len);
    CHECK(!err);
    eryx_error_free(err);
    expect(t, "result = [fine, 'gen' in globals(), 'fr' in globals(), fh.readline()[:1]]",
           "[[1, 2], false, false, \"r\"]");
    eryx_session_free(t);
  }
  eryx_snapshot_free(snap);
  eryx_session_free(s);
}

static void bad_snapshots_leave_the_session_intact(void) {
  eryx_session *s = new_session(NULL);
  if (!s)
    return;
  expect(s, "x = 41", NULL);
  eryx_snapshot *snap = take(s, 0, NULL);
  if (!snap)
    return;
  size_t len;
  const uint8_t *data = eryx_snapshot_data(snap, &len);
  char *bad = malloc(len);
  memcpy(bad, data, len);
  /* Change one base64 character mid-payload (not the last ones, whose low
   * bits base64 ignores). */
  bad[len - len / 4] = bad[len - len / 4] == 'A' ? 'B' : 'A';
  struct {
    const char *what;
    const uint8_t *p;
    size_t n;
    const char *message;
  } cases[] = {
      {"corrupted", (const uint8_t *)bad, len, "corrupted"},
      {"truncated", data, len - 8, "corrupted or truncated"},
      {"foreign", (const uint8_t *)"PK\3\4 hello", 10, "not an Eryx snapshot"},
      {"binary", (const uint8_t *)"\xff\xfe\x00", 3, "not an Eryx snapshot"},
      {"empty", (const uint8_t *)"", 0, "not an Eryx snapshot"},
      {"future format", (const uint8_t *)"ERYXSNAP 99 3.14 00\nAAAA", 24, "format 99"},
  };
  expect(s, "x = 42", NULL);
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    eryx_error *err = eryx_session_restore_state(s, cases[i].p, cases[i].n);
    CHECK_MSG(err && eryx_error_get_code(err) == ERYX_ERR_SNAPSHOT &&
                  contains(eryx_error_message(err, NULL), cases[i].message),
              "%s snapshot: %s", cases[i].what, err ? eryx_error_message(err, NULL) : "accepted");
    eryx_error_free(err);
  }
  expect(s, "result = x", "42");
  free(bad);
  eryx_snapshot_free(snap);
  eryx_session_free(s);
}

/* The session `hostile_restores_change_nothing` works on: variables, a
 * patched builtin, files in its tree. */
static void check_untouched(eryx_session *s, eryx_vfs *v, const char *what) {
  eryx_result *r = srun(s, "import builtins\n"
                           "result = [x, f(2), hasattr(builtins, 'pwned'), marker,\n"
                           "          open('/data/keep.txt').read(), __import__('os').listdir('/data')]");
  CHECK_MSG(r && eryx_result_status(r) == ERYX_STATUS_OK &&
                str_eq(eryx_result_json(r, NULL),
                       "[42, 4, false, \"kept\", \"precious\", [\"keep.txt\"]]"),
            "after %s: %s / %s", what, describe(r), or_null(r ? eryx_result_json(r, NULL) : NULL));
  eryx_result_free(r);
  uint8_t *data = NULL;
  size_t len = 0;
  eryx_error *err = eryx_vfs_read_file(v, "keep.txt", 8, &data, &len);
  CHECK_MSG(!err && len == 8 && !memcmp(data, "precious", 8), "after %s: host read", what);
  eryx_error_free(err);
  eryx_vfs_bytes_free(data);
}

/* A snapshot in the real format (the right header and checksum) whose
 * body is `pickle_expr`, a pickle built by Python code in a sandbox. */
static char *forge_snapshot(const char *pickle_expr) {
  char code[4096];
  snprintf(code, sizeof code,
           "import base64, hashlib, os, pickle, sys, zlib\n"
           "class R:\n"
           "    def __init__(self, fn, *args): self.fn, self.args = fn, args\n"
           "    def __reduce__(self): return (self.fn, self.args)\n"
           "body = zlib.compress(pickle.dumps(%s))\n"
           "v = sys.version_info\n"
           "result = (f'ERYXSNAP 1 {v[0]}.{v[1]} {hashlib.sha256(body).hexdigest()}\\n'\n"
           "          + base64.b64encode(body).decode())\n",
           pickle_expr);
  eryx_result *r = run_once(code);
  const char *json = r ? eryx_result_json(r, NULL) : NULL;
  CHECK_MSG(json && json[0] == '"', "forging %s: %s", pickle_expr, describe(r));
  char *out = NULL;
  if (json && json[0] == '"') {
    /* The JSON string holds one escape, the "\n" after the header. */
    size_t n = strlen(json);
    out = malloc(n);
    size_t k = 0;
    for (size_t i = 1; i + 1 < n; i++) {
      if (json[i] == '\\' && json[i + 1] == 'n') {
        out[k++] = '\n';
        i++;
      } else {
        out[k++] = json[i];
      }
    }
    out[k] = '\0';
  }
  eryx_result_free(r);
  return out;
}

/* Restores that must fail and change nothing, whatever the input: huge
 * garbage, a real header over a broken or huge body, a truncated or
 * corrupted real snapshot (its Python part or its files), and forged
 * bodies that trap the guest, exhaust its memory, or change the
 * interpreter and the files before failing. */
static void hostile_restores_change_nothing(void) {
  eryx_vfs *v = NULL;
  CHECK(!eryx_vfs_new(0, &v));
  eryx_sandbox_options o = ERYX_SANDBOX_OPTIONS_INIT;
  o.vfs = v;
  eryx_session *s = v ? new_session(&o) : NULL;
  if (!s) {
    eryx_vfs_free(v);
    return;
  }
  expect(s, "x = 42\ndef f(n): return n * 2\nimport builtins\nbuiltins.marker = 'kept'\n"
            "open('/data/keep.txt', 'w').write('precious')",
         NULL);
  eryx_snapshot *snap = take(s, 0, NULL);
  if (!snap) {
    eryx_session_free(s);
    eryx_vfs_free(v);
    return;
  }
  size_t len;
  const uint8_t *real = eryx_snapshot_data(snap, &len);
  const char *files = strstr((const char *)real, "\nERYXFILES ");
  size_t py_len = files ? (size_t)(files - (const char *)real) : len;
  CHECK(files != NULL);
  uint64_t count = eryx_session_execution_count(s);

  enum { MiB = 1 << 20 };
  size_t big = 200 * MiB;
  char *junk = malloc(big);
  for (size_t i = 0; i < big; i++)
    junk[i] = (char)('!' + i % 90);
  char *header_60 = malloc(60 * MiB), *header_200 = malloc(big);
  const char head[] = "ERYXSNAP 1 3.14 "
                      "0000000000000000000000000000000000000000000000000000000000000000\n";
  memcpy(header_60, head, sizeof head - 1);
  memset(header_60 + sizeof head - 1, 'A', 60 * MiB - (sizeof head - 1));
  memcpy(header_200, head, sizeof head - 1);
  memset(header_200 + sizeof head - 1, 'Q', big - (sizeof head - 1));
  char *flipped_py = malloc(len), *flipped_files = malloc(len);
  memcpy(flipped_py, real, len);
  memcpy(flipped_files, real, len);
  flipped_py[py_len / 2] = flipped_py[py_len / 2] == 'A' ? 'B' : 'A';
  flipped_py[py_len / 2 + 7] = flipped_py[py_len / 2 + 7] == 'z' ? 'y' : 'z';
  size_t in_files = py_len + (len - py_len) * 3 / 4;
  flipped_files[in_files] = flipped_files[in_files] == 'A' ? 'B' : 'A';
  char *forged_exit = forge_snapshot("{'a': R(os._exit, 3)}");
  char *forged_oom = forge_snapshot("{'a': R(bytearray, 1 << 40)}");
  char *forged_grow = forge_snapshot("{'a': R(eval, \"[bytearray(1 << 20) for _ in range(1 << 12)]\")}");
  char *forged_bomb = NULL;
  {
    /* A zlib bomb: 256 MiB of zeros compressed to about 250 KiB. */
    eryx_result *r = run_once(
        "import base64, hashlib, sys, zlib\n"
        "c = zlib.compressobj(9)\n"
        "z = b''.join(c.compress(bytes(1 << 24)) for _ in range(16)) + c.flush()\n"
        "v = sys.version_info\n"
        "result = (f'ERYXSNAP 1 {v[0]}.{v[1]} {hashlib.sha256(z).hexdigest()}@'\n"
        "          + base64.b64encode(z).decode())\n");
    const char *json = r ? eryx_result_json(r, NULL) : NULL;
    CHECK_MSG(json && json[0] == '"', "bomb: %s", describe(r));
    if (json && json[0] == '"') {
      forged_bomb = strdup(json + 1);
      forged_bomb[strlen(forged_bomb) - 1] = '\0';
      *strchr(forged_bomb, '@') = '\n';
    }
    eryx_result_free(r);
  }
  /* Changes the interpreter, writes a file through the raw import, then
   * fails: none of it may survive. */
  char *forged_meddle = forge_snapshot(
      "{'a': R(exec, \"import builtins\\nbuiltins.pwned = 1\\nbuiltins.marker = 'lost'\\n"
      "from wit_world.imports import host\\nhost.fs(2, 'evil', '', 0, 9, '')\\n"
      "host.fs(9, 'keep.txt', '', 0, 0, '')\"), 'b': R(int, 'not a number')}");
  struct {
    const char *what;
    const char *p;
    size_t n;
  } cases[] = {
      {"60 MiB of garbage", junk, 60 * MiB},
      {"200 MiB of garbage", junk, big},
      {"a header over 60 MiB of junk", header_60, 60 * MiB},
      {"a header over 200 MiB of junk", header_200, big},
      {"a truncated snapshot (Python part)", (const char *)real, py_len / 2},
      {"a truncated snapshot (files)", (const char *)real, len - 5},
      {"a snapshot with flipped bytes (Python part)", flipped_py, len},
      {"a snapshot with flipped bytes (files)", flipped_files, len},
      {"a body that exits the guest", forged_exit, forged_exit ? strlen(forged_exit) : 0},
      {"a body that asks for 1 TiB", forged_oom, forged_oom ? strlen(forged_oom) : 0},
      {"a body that fills the memory", forged_grow, forged_grow ? strlen(forged_grow) : 0},
      {"a zlib bomb", forged_bomb, forged_bomb ? strlen(forged_bomb) : 0},
      {"a body that meddles, then fails", forged_meddle,
       forged_meddle ? strlen(forged_meddle) : 0},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    if (!cases[i].p)
      continue;
    eryx_error *err = eryx_session_restore_state(s, (const uint8_t *)cases[i].p, cases[i].n);
    CHECK_MSG(err && eryx_error_get_code(err) == ERYX_ERR_SNAPSHOT, "%s: %s (code %d)",
              cases[i].what, err ? eryx_error_message(err, NULL) : "accepted",
              (int)eryx_error_get_code(err));
    eryx_error_free(err);
    check_untouched(s, v, cases[i].what);
  }
  CHECK_MSG(eryx_session_execution_count(s) == count + sizeof cases / sizeof cases[0],
            "count %llu", (unsigned long long)eryx_session_execution_count(s));
  /* The real snapshot still restores, into the same session. */
  expect(s, "x = 0", NULL);
  eryx_error *err = eryx_session_restore_state(s, real, len);
  CHECK_MSG(!err, "restore: %s", eryx_error_message(err, NULL));
  eryx_error_free(err);
  expect(s, "result = [x, f(3)]", "[42, 6]");
  free(junk);
  free(header_60);
  free(header_200);
  free(flipped_py);
  free(flipped_files);
  free(forged_exit);
  free(forged_oom);
  free(forged_grow);
  free(forged_bomb);
  free(forged_meddle);
  eryx_snapshot_free(snap);
  eryx_session_free(s);
  eryx_vfs_free(v);
}

/* A session that has not run code yet restores in its own instance; a
 * failure (here a trap) leaves it as new, and it still restores and runs. */
static void a_new_session_survives_a_bad_restore(void) {
  char *forged = forge_snapshot("{'a': R(os._exit, 3)}");
  eryx_session *s = new_session(NULL), *a = new_session(NULL);
  if (forged && s && a) {
    eryx_error *err = eryx_session_restore_state(s, (const uint8_t *)forged, strlen(forged));
    CHECK_MSG(err && eryx_error_get_code(err) == ERYX_ERR_SNAPSHOT, "%s",
              err ? eryx_error_message(err, NULL) : "accepted");
    eryx_error_free(err);
    CHECK(eryx_session_execution_count(s) == 0);
    expect(a, "z = 5", NULL);
    eryx_snapshot *snap = take(a, 0, NULL);
    size_t len = 0;
    const uint8_t *data = snap ? eryx_snapshot_data(snap, &len) : NULL;
    err = data ? eryx_session_restore_state(s, data, len) : NULL;
    CHECK_MSG(!err, "restore: %s", eryx_error_message(err, NULL));
    eryx_error_free(err);
    expect(s, "result = z * 2", "10");
    CHECK(eryx_session_execution_count(s) == 1);
    eryx_snapshot_free(snap);
  }
  free(forged);
  eryx_session_free(s);
  eryx_session_free(a);
}

/* A restore runs in a fresh instance with no file tree: code in a forged
 * snapshot cannot reach the files, even when the restore succeeds. */
static void a_restore_cannot_touch_the_files(void) {
  eryx_vfs *v = NULL;
  CHECK(!eryx_vfs_new(0, &v));
  eryx_sandbox_options o = ERYX_SANDBOX_OPTIONS_INIT;
  o.vfs = v;
  eryx_session *s = v ? new_session(&o) : NULL;
  char *forged = forge_snapshot(
      "{'y': R(eval, \"[__import__('wit_world.imports', fromlist=['host']).host"
      ".fs(9, 'keep.txt', '', 0, 0, '').code, 7][1]\")}");
  if (s && forged) {
    /* A new session restores in its own, still unused, instance: the file
     * tree is hidden there too. */
    CHECK(!eryx_vfs_write_file(v, "keep.txt", 8, (const uint8_t *)"precious", 8));
    eryx_session *fresh = new_session(&o);
    eryx_error *err = fresh ? eryx_session_restore_state(fresh, (const uint8_t *)forged,
                                                         strlen(forged))
                            : NULL;
    CHECK_MSG(!err, "restore: %s", eryx_error_message(err, NULL));
    eryx_error_free(err);
    if (fresh)
      expect(fresh, "result = [y, open('/data/keep.txt').read()]", "[7, \"precious\"]");
    eryx_session_free(fresh);
    expect(s, "open('/data/keep.txt', 'w').write('precious')\nx = 1", NULL);
    err = eryx_session_restore_state(s, (const uint8_t *)forged, strlen(forged));
    CHECK_MSG(!err, "restore: %s", eryx_error_message(err, NULL));
    eryx_error_free(err);
    /* The forged variables replaced the old ones; the file is still there. */
    expect(s, "result = [y, 'x' in globals(), open('/data/keep.txt').read()]",
           "[7, false, \"precious\"]");
  }
  free(forged);
  eryx_session_free(s);
  eryx_vfs_free(v);
}

/* The result variable is consumed by each execution; the timeout can be
 * changed between executions. */
static void result_is_consumed_and_timeout_changes(void) {
  eryx_session *s = new_session(NULL);
  if (!s)
    return;
  expect(s, "result = 1", "1");
  expect(s, "x = 2", NULL); /* not the previous execution's result */
  CHECK(eryx_session_timeout_ms(s) == 30000);
  eryx_session_set_timeout_ms(s, 100);
  eryx_result *r = srun(s, "while True: pass");
  CHECK_MSG(r && eryx_result_status(r) == ERYX_STATUS_LIMIT, "%s", describe(r));
  eryx_result_free(r);
  eryx_session_set_timeout_ms(s, UINT64_MAX);
  CHECK(eryx_session_timeout_ms(s) == UINT64_MAX);
  expect(s, "import time\ntime.sleep(0.2)\nresult = 'slept'", "\"slept\"");
  eryx_session_free(s);
}

static atomic_int restore_calls;

static void count_call(void *ud, eryx_call *call, const char *args, size_t len) {
  (void)ud, (void)args, (void)len;
  atomic_fetch_add(&restore_calls, 1);
  eryx_error_free(eryx_call_succeed(call, "null", 4));
}

/* Code a forged snapshot runs while it is restored cannot start host
 * callbacks: no execution accounts for them (limits, timeouts, cancel). */
static void a_restore_cannot_call_callbacks(void) {
  char *forged = forge_snapshot(
      "{'a': R(eval, \"__import__('wit_world.imports', fromlist=['host']).host"
      ".callback_start('note', '{}')\")}");
  eryx_callback cb = {0};
  cb.name = "note";
  cb.name_len = 4;
  cb.fn = count_call;
  eryx_sandbox_options o = ERYX_SANDBOX_OPTIONS_INIT;
  o.callbacks = &cb;
  o.callback_count = 1;
  eryx_session *s = new_session(&o);
  atomic_store(&restore_calls, 0);
  if (forged) {
    eryx_error *err = eryx_session_restore_state(s, (const uint8_t *)forged, strlen(forged));
    CHECK(err != NULL);
    if (err)
      CHECK_CONTAINS(eryx_error_message(err, NULL), "only be called while code executes");
    eryx_error_free(err);
  }
  CHECK(atomic_load(&restore_calls) == 0);
  expect(s, "result = await note()", "null"); /* calls work while code executes */
  CHECK(atomic_load(&restore_calls) == 1);
  eryx_session_free(s);
  free(forged);
}

const test_case sessions_tests[] = {
    {"sessions_restore_cannot_call_callbacks", a_restore_cannot_call_callbacks},
    {"hostile_restores_change_nothing", hostile_restores_change_nothing},
    {"a_restore_cannot_touch_the_files", a_restore_cannot_touch_the_files},
    {"a_new_session_survives_a_bad_restore", a_new_session_survives_a_bad_restore},
    {"result_is_consumed_and_timeout_changes", result_is_consumed_and_timeout_changes},
    {"snapshot_restores_in_a_new_session", snapshot_restores_in_a_new_session},
    {"snapshot_restores_in_another_process", snapshot_restores_in_another_process},
    {"unserializable_values_are_named", unserializable_values_are_named},
    {"bad_snapshots_leave_the_session_intact", bad_snapshots_leave_the_session_intact},
    {"state_persists_across_executions", state_persists_across_executions},
    {"errors_keep_the_state", errors_keep_the_state},
    {"clear_state_versus_reset", clear_state_versus_reset},
    {"a_timeout_loses_the_state_and_says_so", a_timeout_loses_the_state_and_says_so},
    {"callbacks_work_in_sessions", callbacks_work_in_sessions},
};
const size_t sessions_count = sizeof sessions_tests / sizeof sessions_tests[0];
