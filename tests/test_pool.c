/*
 * test_pool.c — warm instances (warm_pool.c): sandboxes work with the pool off
 * and on, every slot stays usable when few exist (the pool must not starve
 * sandboxes of them), and a pooled instance is as fresh as a new one.
 */
#include "harness.h"

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

const test_case pool_tests[] = {
    {"works_with_the_pool_off_and_on", works_with_the_pool_off_and_on},
    {"every_slot_stays_usable", every_slot_stays_usable},
};
const size_t pool_count = sizeof pool_tests / sizeof pool_tests[0];
