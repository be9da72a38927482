/*
 * test_pool.c — warm instances (warm_pool.c): sandboxes work with the pool off
 * and on, every slot stays usable when few exist (the pool must not starve
 * sandboxes of them), a pooled instance is as fresh as a new one, and the
 * pool's thread works only while the callers rest (idle, or blocked in a
 * sleep or a callback wait), never while one computes.
 */
#include "harness.h"
#include "internal.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static eryx_runtime *runtime_with(int warm, uint32_t max_sandboxes) {
  eryx_runtime_options o = ERYX_RUNTIME_OPTIONS_INIT;
  o.warm_instances = warm;
  o.max_sandboxes = max_sandboxes;
  eryx_runtime *rt = NULL;
  eryx_error *err = eryx_runtime_new(&o, &rt);
  CHECK_MSG(!err, "eryx_runtime_new: %s", eryx_error_message(err, NULL));
  eryx_error_free(err);
  return rt;
}

static bool runs(eryx_sandbox *sb, const char *code, const char *json) {
  eryx_result *r = NULL;
  eryx_error *err = eryx_sandbox_execute(sb, code, strlen(code), &r);
  bool ok = !err && r && str_eq(eryx_result_json(r, NULL), json);
  CHECK_MSG(ok, "%s -> %s", code, err ? eryx_error_message(err, NULL) : describe(r));
  eryx_error_free(err);
  eryx_result_free(r);
  return ok;
}

static void works_with_the_pool_off_and_on(void) {
  int settings[] = {-1, 0, 5};
  for (size_t i = 0; i < 3; i++) {
    eryx_runtime *rt = runtime_with(settings[i], 0);
    for (int k = 0; rt && k < 8; k++) {
      eryx_sandbox *sb = NULL;
      eryx_error *err = eryx_sandbox_new(rt, NULL, &sb);
      CHECK_MSG(!err, "warm=%d: %s", settings[i], eryx_error_message(err, NULL));
      eryx_error_free(err);
      /* A second execute gets a fresh instance (from the pool, when on). */
      if (sb && runs(sb, "import sys\nsys.marker = 1\nresult = 6 * 7", "42"))
        runs(sb, "import sys\nresult = hasattr(sys, 'marker')", "false");
      eryx_sandbox_free(sb);
    }
    eryx_runtime_free(rt);
  }
}

static void every_slot_stays_usable(void) {
  enum { SLOTS = 4 };
  eryx_runtime *rt = runtime_with(0, SLOTS);
  if (!rt)
    return;
  eryx_sandbox *sb[SLOTS + 1] = {0};
  for (int i = 0; i < SLOTS; i++) {
    eryx_error *err = eryx_sandbox_new(rt, NULL, &sb[i]);
    CHECK_MSG(!err, "sandbox %d of %d: %s", i + 1, SLOTS, eryx_error_message(err, NULL));
    eryx_error_free(err);
    if (sb[i])
      runs(sb[i], "result = 1", "1");
  }
  /* All slots are in use now: one more is an error, not a crash or hang. */
  eryx_error *err = eryx_sandbox_new(rt, NULL, &sb[SLOTS]);
  CHECK(err && !sb[SLOTS]);
  /* A limit the caller set, said as such. */
  CHECK(err && eryx_error_get_code(err) == ERYX_ERR_RESOURCES);
  CHECK_CONTAINS(err ? eryx_error_message(err, NULL) : NULL, "max_sandboxes");
  eryx_error_free(err);
  /* Freeing one makes room again. */
  eryx_sandbox_free(sb[0]);
  sb[0] = NULL;
  err = eryx_sandbox_new(rt, NULL, &sb[0]);
  CHECK_MSG(!err, "after a free: %s", eryx_error_message(err, NULL));
  eryx_error_free(err);
  if (sb[0])
    runs(sb[0], "result = 2", "2");
  for (int i = 0; i <= SLOTS; i++)
    eryx_sandbox_free(sb[i]);
  eryx_runtime_free(rt);
}

/* Polls until the pool holds `want` instances or `ms` pass. */
static size_t wait_ready(eryx_runtime *rt, size_t want, long ms) {
  size_t n = 0;
  for (long t = 0; t < ms; t += 5) {
    n = eryx__warm_pool_ready(eryx__runtime_warm_pool(rt));
    if (n >= want)
      break;
    sleep_ms(5);
  }
  return n;
}

typedef struct {
  eryx_sandbox *sb;
  const char *code;
  _Atomic bool done;
} bg_run;

static void *bg_main(void *arg) {
  bg_run *b = arg;
  runs(b->sb, b->code, "1");
  atomic_store(&b->done, true);
  return NULL;
}

/* Takes both warm instances (two sandboxes), then runs `code` in the first
 * on another thread; returns the most instances seen ready while it ran. */
static size_t ready_during(eryx_runtime *rt, const char *code) {
  eryx_sandbox *a = NULL, *b = NULL;
  eryx_error *err = eryx_sandbox_new(rt, NULL, &a);
  if (!err)
    err = eryx_sandbox_new(rt, NULL, &b);
  CHECK_MSG(!err, "eryx_sandbox_new: %s", eryx_error_message(err, NULL));
  eryx_error_free(err);
  size_t most = 0;
  bg_run run = {a, code, false};
  pthread_t t;
  if (!err && pthread_create(&t, NULL, bg_main, &run) == 0) {
    while (!atomic_load(&run.done)) {
      size_t n = eryx__warm_pool_ready(eryx__runtime_warm_pool(rt));
      if (n > most)
        most = n;
      sleep_ms(5);
    }
    pthread_join(t, NULL);
  }
  eryx_sandbox_free(a);
  eryx_sandbox_free(b);
  return most;
}

static void the_thread_works_only_while_callers_rest(void) {
  eryx_runtime *rt = runtime_with(2, 0);
  if (!rt)
    return;
  /* Idle callers: the pool fills. */
  CHECK(wait_ready(rt, 2, 20000) == 2);
  /* A caller computing for 1.5 s: at most the one instance the thread may
   * have begun in the moment before the execution started. */
  size_t busy = ready_during(rt, "import time\nt = time.monotonic() + 1.5\n"
                                 "while time.monotonic() < t: pass\nresult = 1");
  CHECK_MSG(busy <= 1, "%zu instances made while a caller computed", busy);
  CHECK(wait_ready(rt, 2, 20000) == 2);
  /* A caller blocked in a sleep rests: the pool fills meanwhile. */
  size_t asleep = ready_during(rt, "import time\ntime.sleep(3)\nresult = 1");
  CHECK_MSG(asleep == 2, "%zu instances made while a caller slept", asleep);
  eryx_runtime_free(rt);
}

const test_case pool_tests[] = {
    {"the_thread_works_only_while_callers_rest", the_thread_works_only_while_callers_rest},
    {"works_with_the_pool_off_and_on", works_with_the_pool_off_and_on},
    {"every_slot_stays_usable", every_slot_stays_usable},
};
const size_t pool_count = sizeof pool_tests / sizeof pool_tests[0];
