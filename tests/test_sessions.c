/* test_sessions.c — Python state that persists between executions. */
#include "harness.h"

#include <string.h>

static eryx_result *srun(eryx_session *s, const char *code) {
  eryx_result *r = NULL;
  eryx_error *err = eryx_session_execute(s, code, strlen(code), &r);
  CHECK_MSG(!err, "eryx_session_execute: %s", eryx_error_message(err, NULL));
  eryx_error_free(err);
  return r;
}

static void expect(eryx_session *s, const char *code, const char *json) {
  eryx_result *r = srun(s, code);
  CHECK_MSG(r && eryx_result_status(r) == ERYX_STATUS_OK, "%s\n%s", code, describe(r));
  const char *got = r ? eryx_result_json(r, NULL) : NULL;
  if (r)
    CHECK_MSG(json ? str_eq(got, json) : got == NULL, "%s\nexpected %s, got %s", code,
              or_null(json), or_null(got));
  eryx_result_free(r);
}

static eryx_session *new_session(const eryx_sandbox_options *o) {
  eryx_session *s = NULL;
  eryx_error *err = eryx_session_new(g_rt, o, &s);
  CHECK_MSG(!err, "eryx_session_new: %s", eryx_error_message(err, NULL));
  eryx_error_free(err);
  return s;
}

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

const test_case sessions_tests[] = {
    {"state_persists_across_executions", state_persists_across_executions},
    {"errors_keep_the_state", errors_keep_the_state},
    {"clear_state_versus_reset", clear_state_versus_reset},
    {"a_timeout_loses_the_state_and_says_so", a_timeout_loses_the_state_and_says_so},
    {"callbacks_work_in_sessions", callbacks_work_in_sessions},
};
const size_t sessions_count = sizeof sessions_tests / sizeof sessions_tests[0];
