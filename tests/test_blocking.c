/*
 * test_blocking.c — a guest that blocks inside Wasmtime's own WASI (not in
 * our `sleep` import) must still end at its deadline and on cancel, within
 * a few ms, and short waits there must keep their normal length.
 *
 * The paths: `time.sleep` of a re-imported `time` module or of a fresh one
 * from importlib (the guest runtime replaces only the first module's
 * `sleep`), `select.select` and `select.poll().poll` with a timeout and
 * nothing to wait on. All of them end in wasi:io/poll `poll`.
 */
#include "harness.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
  const char *name;
  const char *code;
} wait_path;

/* Each blocks (far) longer than any test may take, in WASI: the sleeps
 * check first that they are CPython's own, not the guest runtime's. */
#define BUILTIN(f) "assert type(" f ").__name__ == 'builtin_function_or_method'\n"
static const wait_path paths[] = {
    {"re-imported time.sleep",
     "import sys\ndel sys.modules['time']\nimport time\n" BUILTIN("time.sleep")
     "time.sleep(1e9)\n"},
    {"time.sleep of a module_from_spec",
     "import importlib.util\n"
     "t = importlib.util.module_from_spec(importlib.util.find_spec('time'))\n"
     BUILTIN("t.sleep") "t.sleep(1e9)\n"},
    {"select.select", "import select\nselect.select([], [], [], 1e6)\n"},
    {"select.poll", "import select\nselect.poll().poll(10**9)\n"},
};
#define NPATHS (sizeof paths / sizeof paths[0])

static void check_runs_again(eryx_sandbox *sb, const char *after) {
  eryx_result *r = run(sb, "result = 'again'");
  CHECK_MSG(r && str_eq(eryx_result_json(r, NULL), "\"again\""), "after %s: %s", after,
            describe(r));
  eryx_result_free(r);
}

static void waits_end_at_the_timeout(void) {
  eryx_sandbox_options o = ERYX_SANDBOX_OPTIONS_INIT;
  o.timeout_ms = 500;
  eryx_sandbox *sb = new_sandbox(&o);
  if (!sb)
    return;
  double took[NPATHS];
  for (size_t i = 0; i < NPATHS; i++) {
    double start = now_ms();
    eryx_result *r = run(sb, paths[i].code);
    took[i] = now_ms() - start;
    CHECK_MSG(r && eryx_result_status(r) == ERYX_STATUS_LIMIT &&
                  str_eq(eryx_result_error_type(r, NULL), "TimeoutError"),
              "%s: %s", paths[i].name, describe(r));
    CHECK_MSG(took[i] >= 500 && took[i] < 1500, "%s: took %.1f ms", paths[i].name, took[i]);
    eryx_result_free(r);
    check_runs_again(sb, paths[i].name);
  }
  fprintf(stderr, "  timeout 500 ms ended after:");
  for (size_t i = 0; i < NPATHS; i++)
    fprintf(stderr, " %s %.1f ms%s", paths[i].name, took[i], i + 1 < NPATHS ? "," : "\n");
  eryx_sandbox_free(sb);
}

typedef struct {
  eryx_sandbox *sb;
  eryx_session *session;
  int delay_ms;
  double cancelled_at;
  int returned;
} canceller;

static void *cancel_later(void *arg) {
  canceller *c = arg;
  sleep_ms(c->delay_ms);
  c->cancelled_at = now_ms();
  c->returned = c->sb ? eryx_sandbox_cancel(c->sb) : eryx_session_cancel(c->session);
  return NULL;
}

static void cancel_reaches_every_wait(void) {
  eryx_sandbox_options o = ERYX_SANDBOX_OPTIONS_INIT;
  o.timeout_ms = 20000; /* the cancel, not the timeout, must end them */
  eryx_sandbox *sb = new_sandbox(&o);
  if (!sb)
    return;
  double latency[NPATHS];
  for (size_t i = 0; i < NPATHS; i++) {
    canceller c = {sb, NULL, 200, 0, 0};
    pthread_t t;
    pthread_create(&t, NULL, cancel_later, &c);
    eryx_result *r = run(sb, paths[i].code);
    double ended = now_ms();
    pthread_join(t, NULL);
    latency[i] = ended - c.cancelled_at;
    CHECK(c.returned == 1);
    CHECK_MSG(r && eryx_result_status(r) == ERYX_STATUS_CANCELLED &&
                  str_eq(eryx_result_error_type(r, NULL), "CancelledError"),
              "%s: %s", paths[i].name, describe(r));
    CHECK_MSG(latency[i] < 100, "%s: cancel took %.1f ms", paths[i].name, latency[i]);
    eryx_result_free(r);
    check_runs_again(sb, paths[i].name);
  }
  fprintf(stderr, "  cancel latency:");
  for (size_t i = 0; i < NPATHS; i++)
    fprintf(stderr, " %s %.1f ms%s", paths[i].name, latency[i], i + 1 < NPATHS ? "," : "\n");
  eryx_sandbox_free(sb);
}

/* With the deadline far away, WASI waits are as long as asked (measured in
 * the guest and on the host), and the stream calls still work. */
static void short_waits_keep_their_length(void) {
  eryx_sandbox *sb = new_sandbox(NULL);
  if (!sb)
    return;
  double start = now_ms();
  eryx_result *r = run(sb, "import sys, select\n"
                           "from time import monotonic\n"
                           "del sys.modules['time']\n"
                           "import time\n"
                           BUILTIN("time.sleep")
                           "a = monotonic(); time.sleep(0.2); s = monotonic() - a\n"
                           "a = monotonic(); r = select.select([], [], [], 0.1)\n"
                           "sel = monotonic() - a\n"
                           "a = monotonic(); p = select.poll().poll(100)\n"
                           "pl = monotonic() - a\n"
                           "result = [s, sel, pl, r == ([], [], []) and p == []]\n");
  double took = now_ms() - start;
  double s = 0, sel = 0, pl = 0;
  char ok[8] = "";
  const char *json = r ? eryx_result_json(r, NULL) : NULL;
  CHECK_MSG(json && sscanf(json, "[%lf, %lf, %lf, %7[a-z]]", &s, &sel, &pl, ok) == 4,
            "%s", describe(r));
  CHECK_STREQ(ok, "true");
  fprintf(stderr, "  sleep(0.2) took %.1f ms, select 0.1 s %.1f ms, poll 100 ms %.1f ms\n",
          s * 1e3, sel * 1e3, pl * 1e3);
  CHECK_MSG(s >= 0.2 && s < 0.3, "sleep(0.2) took %.3f s", s);
  CHECK_MSG(sel >= 0.1 && sel < 0.2, "select(0.1) took %.3f s", sel);
  CHECK_MSG(pl >= 0.1 && pl < 0.2, "poll(100) took %.3f s", pl);
  CHECK_MSG(took >= 400 && took < 1500, "the execution took %.1f ms", took);
  eryx_result_free(r);

  /* Raw fd I/O goes through the (replaced) blocking stream calls. */
  r = run(sb, "import os\nos.write(1, b'raw\\n')\nresult = os.read(0, 10).decode()");
  CHECK_MSG(r && eryx_result_status(r) == ERYX_STATUS_OK, "%s", describe(r));
  if (r) {
    CHECK_STREQ(eryx_result_stdout(r, NULL), "raw\n");
    CHECK_STREQ(eryx_result_json(r, NULL), "\"\"");
  }
  eryx_result_free(r);
  eryx_sandbox_free(sb);
}

typedef struct {
  uint64_t timeout_ms;
  double took_ms;
  eryx_status status;
} waiter;

static void *wait_in_select(void *arg) {
  waiter *w = arg;
  eryx_sandbox_options o = ERYX_SANDBOX_OPTIONS_INIT;
  o.timeout_ms = w->timeout_ms;
  eryx_sandbox *sb = new_sandbox(&o);
  if (!sb)
    return NULL;
  double start = now_ms();
  eryx_result *r = run(sb, paths[2].code);
  w->took_ms = now_ms() - start;
  w->status = r ? eryx_result_status(r) : ERYX_STATUS_INTERNAL;
  eryx_result_free(r);
  eryx_sandbox_free(sb);
  return NULL;
}

/* Deadlines are per sandbox in WASI waits too. */
static void concurrent_waits_end_at_their_own_deadline(void) {
  waiter w[4];
  pthread_t t[4];
  for (int i = 0; i < 4; i++) {
    w[i] = (waiter){(uint64_t)(300 * (i + 1)), 0, ERYX_STATUS_OK};
    pthread_create(&t[i], NULL, wait_in_select, &w[i]);
  }
  for (int i = 0; i < 4; i++)
    pthread_join(t[i], NULL);
  for (int i = 0; i < 4; i++) {
    CHECK(w[i].status == ERYX_STATUS_LIMIT);
    CHECK_MSG(w[i].took_ms >= (double)w[i].timeout_ms &&
                  w[i].took_ms < (double)w[i].timeout_ms + 500,
              "timeout %llu ms took %.1f ms", (unsigned long long)w[i].timeout_ms,
              w[i].took_ms);
  }
}

static void sessions_report_and_recover(void) {
  eryx_sandbox_options o = ERYX_SANDBOX_OPTIONS_INIT;
  o.timeout_ms = 300;
  eryx_session *s = new_session(&o);
  if (!s)
    return;
  expect(s, "kept = 1", NULL);
  double start = now_ms();
  eryx_result *r = srun(s, paths[2].code);
  double took = now_ms() - start;
  CHECK_MSG(r && eryx_result_status(r) == ERYX_STATUS_LIMIT &&
                str_eq(eryx_result_error_type(r, NULL), "TimeoutError"),
            "%s", describe(r));
  CHECK_MSG(took < 1000, "took %.1f ms", took);
  eryx_result_free(r);
  expect(s, "result = 'kept' in globals()", "false");
  expect(s, "kept = 2", NULL);

  eryx_session_set_timeout_ms(s, 20000);
  canceller c = {NULL, s, 200, 0, 0};
  pthread_t t;
  pthread_create(&t, NULL, cancel_later, &c);
  r = srun(s, paths[0].code);
  double latency = now_ms() - c.cancelled_at;
  pthread_join(t, NULL);
  CHECK(c.returned == 1);
  CHECK_MSG(r && eryx_result_status(r) == ERYX_STATUS_CANCELLED, "%s", describe(r));
  CHECK_MSG(latency < 100, "cancel took %.1f ms", latency);
  eryx_result_free(r);
  expect(s, "x = 41", NULL);
  expect(s, "result = x + 1", "42");
  eryx_session_free(s);
}

const test_case blocking_tests[] = {
    {"blocking_waits_end_at_the_timeout", waits_end_at_the_timeout},
    {"blocking_cancel_reaches_every_wait", cancel_reaches_every_wait},
    {"blocking_short_waits_keep_their_length", short_waits_keep_their_length},
    {"blocking_concurrent_waits_end_at_their_own_deadline",
     concurrent_waits_end_at_their_own_deadline},
    {"blocking_sessions_report_and_recover", sessions_report_and_recover},
};
const size_t blocking_count = sizeof blocking_tests / sizeof blocking_tests[0];
