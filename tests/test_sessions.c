/* test_sessions.c — Python state that persists between executions. */
#include "harness.h"

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

const test_case sessions_tests[] = {
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
