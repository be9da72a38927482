/* test_trace.c — trace events of the user's code, and only of it. */
#include "harness.h"

#include <stdio.h>
#include <string.h>

typedef struct {
  char text[8192]; /* "kind name line;" per event */
  int count;
} trace_log;

static void record(void *ud, const eryx_trace_event *ev) {
  trace_log *log = ud;
  static const char *kinds[] = {"?", "call", "line", "return", "exception"};
  char one[160];
  snprintf(one, sizeof one, "%s %.*s %u%s%.*s;", kinds[ev->kind],
           (int)ev->function_len, ev->function, ev->line, ev->detail_len ? " " : "",
           (int)ev->detail_len, ev->detail);
  if (strlen(log->text) + strlen(one) < sizeof log->text)
    strcat(log->text, one);
  log->count++;
}

static eryx_result *traced(trace_log *log, const char *code) {
  memset(log, 0, sizeof *log);
  eryx_sandbox_options o = ERYX_SANDBOX_OPTIONS_INIT;
  o.on_trace = record;
  o.trace_user_data = log;
  eryx_sandbox *sb = new_sandbox(&o);
  eryx_result *r = run(sb, code);
  eryx_sandbox_free(sb);
  return r;
}

static void trace_events_of_a_small_function(void) {
  trace_log log;
  eryx_result *r = traced(&log, "def add(a, b):\n"
                                "    return a + b\n"
                                "x = add(1, 2)\n"
                                "result = x\n");
  CHECK_MSG(r && eryx_result_status(r) == ERYX_STATUS_OK, "%s", describe(r));
  eryx_result_free(r);
  CHECK_STREQ(log.text, "call <module> 0;line <module> 1;line <module> 3;"
                        "call add 1;line add 2;return add 2;"
                        "line <module> 4;return <module> 4;");
}

static void exceptions_are_traced(void) {
  trace_log log;
  eryx_result *r = traced(&log, "def boom():\n"
                                "    raise KeyError('k')\n"
                                "try:\n"
                                "    boom()\n"
                                "except KeyError:\n"
                                "    pass\n");
  CHECK_MSG(r && eryx_result_status(r) == ERYX_STATUS_OK, "%s", describe(r));
  eryx_result_free(r);
  CHECK_CONTAINS(log.text, "exception boom 2 KeyError;");
  CHECK_CONTAINS(log.text, "exception <module> 4 KeyError;");
}

static void stdlib_code_is_not_traced(void) {
  trace_log log;
  eryx_result *r = traced(&log, "import json, textwrap\n"
                                "s = json.dumps({'a': [1, 2, 3]})\n"
                                "t = textwrap.fill('word ' * 50, 20)\n");
  CHECK_MSG(r && eryx_result_status(r) == ERYX_STATUS_OK, "%s", describe(r));
  eryx_result_free(r);
  /* Only the module body: 3 lines plus its call and return. */
  CHECK_STREQ(log.text, "call <module> 0;line <module> 1;line <module> 2;"
                        "line <module> 3;return <module> 3;");
}

static void no_handler_no_events(void) {
  /* Without a handler nothing is installed: sys.gettrace() stays None. */
  eryx_result *r = run_once("import sys\nresult = sys.gettrace() is None");
  if (r)
    CHECK_STREQ(eryx_result_json(r, NULL), "true");
  eryx_result_free(r);
  trace_log log;
  r = traced(&log, "import sys\nresult = sys.gettrace() is not None");
  if (r)
    CHECK_STREQ(eryx_result_json(r, NULL), "true");
  eryx_result_free(r);
}

const test_case trace_tests[] = {
    {"trace_events_of_a_small_function", trace_events_of_a_small_function},
    {"exceptions_are_traced", exceptions_are_traced},
    {"stdlib_code_is_not_traced", stdlib_code_is_not_traced},
    {"no_handler_no_events", no_handler_no_events},
};
const size_t trace_count = sizeof trace_tests / sizeof trace_tests[0];
