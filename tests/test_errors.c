/* test_errors.c — Python failures, API misuse and the timeout. */
#include "harness.h"

#include <stdlib.h>
#include <string.h>

static void exception_with_traceback_and_line(void) {
  eryx_result *r = run_once("print('before')\n"
                            "def divide(a, b):\n"
                            "    return a / b\n"
                            "divide(1, 0)\n"
                            "print('after')\n");
  CHECK_MSG(r && eryx_result_status(r) == ERYX_STATUS_EXCEPTION, "%s", describe(r));
  if (!r)
    return;
  CHECK_STREQ(eryx_result_stdout(r, NULL), "before\n");
  CHECK_STREQ(eryx_result_error_type(r, NULL), "ZeroDivisionError");
  CHECK_STREQ(eryx_result_error_message(r, NULL), "division by zero");
  CHECK(eryx_result_error_line(r) == 3);
  const char *tb = eryx_result_traceback(r, NULL);
  CHECK_CONTAINS(tb, "Traceback (most recent call last)");
  CHECK_CONTAINS(tb, "File \"<sandbox>\", line 4, in <module>");
  CHECK_CONTAINS(tb, "File \"<sandbox>\", line 3, in divide");
  CHECK_CONTAINS(tb, "return a / b");
  /* The runtime's own frames are not shown to the user. */
  CHECK_NOT_CONTAINS(tb, "eryx_guest");
  CHECK_CONTAINS(eryx_result_stderr(r, NULL), "ZeroDivisionError");
  eryx_result_free(r);
}

static void syntax_error(void) {
  eryx_result *r = run_once("x = 1\nif x >\n    pass\n");
  CHECK_MSG(r && eryx_result_status(r) == ERYX_STATUS_SYNTAX, "%s", describe(r));
  if (!r)
    return;
  CHECK_STREQ(eryx_result_error_type(r, NULL), "SyntaxError");
  CHECK(eryx_result_error_line(r) == 2);
  CHECK_CONTAINS(eryx_result_traceback(r, NULL), "line 2");
  eryx_result_free(r);
}

static void custom_exception_and_system_exit(void) {
  eryx_result *r = run_once("class AppError(Exception): pass\nraise AppError('bad input')");
  if (r) {
    CHECK_STREQ(eryx_result_error_type(r, NULL), "AppError");
    CHECK_STREQ(eryx_result_error_message(r, NULL), "bad input");
  }
  eryx_result_free(r);

  r = run_once("import sys\nprint('x')\nsys.exit(0)\nprint('not reached')");
  if (r) {
    CHECK_MSG(eryx_result_status(r) == ERYX_STATUS_OK, "%s", describe(r));
    CHECK_STREQ(eryx_result_stdout(r, NULL), "x\n");
  }
  eryx_result_free(r);

  r = run_once("import sys\nsys.exit(3)");
  if (r) {
    CHECK(eryx_result_status(r) == ERYX_STATUS_EXCEPTION);
    CHECK_STREQ(eryx_result_error_type(r, NULL), "SystemExit");
  }
  eryx_result_free(r);
}

static void empty_code_and_null_bytes(void) {
  eryx_result *r = run_once("");
  CHECK(r && eryx_result_status(r) == ERYX_STATUS_OK);
  eryx_result_free(r);

  eryx_sandbox *sb = new_sandbox(NULL);
  r = NULL;
  eryx_error *err = eryx_sandbox_execute(sb, "x = 1\0y", 7, &r);
  CHECK(!err);
  if (r) {
    CHECK_MSG(eryx_result_status(r) == ERYX_STATUS_SYNTAX, "%s", describe(r));
    CHECK_CONTAINS(eryx_result_error_message(r, NULL), "null");
  }
  eryx_result_free(r);
  eryx_sandbox_free(sb);
}

static void invalid_arguments_are_errors(void) {
  eryx_sandbox *sb = new_sandbox(NULL);
  eryx_result *r = NULL;
  eryx_error *err = eryx_sandbox_execute(sb, "print('\xff')", 10, &r);
  CHECK(err && eryx_error_get_code(err) == ERYX_ERR_INVALID_ARGUMENT);
  CHECK_CONTAINS(eryx_error_message(err, NULL), "UTF-8");
  CHECK(r == NULL);
  eryx_error_free(err);

  err = eryx_sandbox_execute(sb, NULL, 3, &r);
  CHECK(err && eryx_error_get_code(err) == ERYX_ERR_INVALID_ARGUMENT);
  eryx_error_free(err);

  /* The sandbox is still usable afterwards. */
  r = run(sb, "result = 2 + 2");
  if (r)
    CHECK_STREQ(eryx_result_json(r, NULL), "4");
  eryx_result_free(r);
  eryx_sandbox_free(sb);

  eryx_sandbox_options bad = ERYX_SANDBOX_OPTIONS_INIT;
  bad.version = 99;
  eryx_sandbox *sb2 = NULL;
  err = eryx_sandbox_new(g_rt, &bad, &sb2);
  CHECK(err && eryx_error_get_code(err) == ERYX_ERR_INVALID_ARGUMENT && !sb2);
  eryx_error_free(err);
}

static void missing_runtime_dir_is_reported(void) {
  eryx_runtime_options o = ERYX_RUNTIME_OPTIONS_INIT;
  o.runtime_dir = "/nonexistent/eryx-runtime";
  o.runtime_dir_len = strlen(o.runtime_dir);
  eryx_runtime *rt = NULL;
  eryx_error *err = eryx_runtime_new(&o, &rt);
  CHECK(err && eryx_error_get_code(err) == ERYX_ERR_RUNTIME_FILES && !rt);
  CHECK_CONTAINS(eryx_error_message(err, NULL), "/nonexistent/eryx-runtime/");
  eryx_error_free(err);
}

static void timeout_stops_a_busy_loop_and_sandbox_recovers(void) {
  eryx_sandbox_options opts = ERYX_SANDBOX_OPTIONS_INIT;
  opts.timeout_ms = 200;
  eryx_sandbox *sb = new_sandbox(&opts);
  eryx_result *r = run(sb, "print('started')\nwhile True:\n    pass\n");
  CHECK_MSG(r && eryx_result_status(r) == ERYX_STATUS_LIMIT, "%s", describe(r));
  if (r) {
    CHECK_STREQ(eryx_result_error_type(r, NULL), "TimeoutError");
    CHECK(eryx_result_duration_ms(r) >= 200);
    CHECK_MSG(eryx_result_duration_ms(r) < 2000, "took %.1f ms",
              eryx_result_duration_ms(r));
  }
  eryx_result_free(r);
  r = run(sb, "result = 'alive'");
  if (r)
    CHECK_STREQ(eryx_result_json(r, NULL), "\"alive\"");
  eryx_result_free(r);
  eryx_sandbox_free(sb);
}

static void timeout_stops_a_long_sleep(void) {
  eryx_sandbox_options opts = ERYX_SANDBOX_OPTIONS_INIT;
  opts.timeout_ms = 300;
  eryx_sandbox *sb = new_sandbox(&opts);
  eryx_result *r = run(sb, "import time\ntime.sleep(3600)\n");
  CHECK_MSG(r && eryx_result_status(r) == ERYX_STATUS_LIMIT, "%s", describe(r));
  if (r)
    CHECK_MSG(eryx_result_duration_ms(r) < 3000, "took %.1f ms",
              eryx_result_duration_ms(r));
  eryx_result_free(r);
  r = run(sb, "import asyncio\nawait asyncio.sleep(3600)\n");
  CHECK_MSG(r && eryx_result_status(r) == ERYX_STATUS_LIMIT, "%s", describe(r));
  eryx_result_free(r);
  eryx_sandbox_free(sb);
}

static void awaiting_forever_is_reported(void) {
  eryx_result *r = run_once("import asyncio\nawait asyncio.get_running_loop().create_future()");
  CHECK_MSG(r && eryx_result_status(r) == ERYX_STATUS_EXCEPTION, "%s", describe(r));
  if (r)
    CHECK_CONTAINS(eryx_result_error_message(r, NULL), "deadlock");
  eryx_result_free(r);
}

const test_case errors_tests[] = {
    {"exception_with_traceback_and_line", exception_with_traceback_and_line},
    {"syntax_error", syntax_error},
    {"custom_exception_and_system_exit", custom_exception_and_system_exit},
    {"empty_code_and_null_bytes", empty_code_and_null_bytes},
    {"invalid_arguments_are_errors", invalid_arguments_are_errors},
    {"missing_runtime_dir_is_reported", missing_runtime_dir_is_reported},
    {"timeout_stops_a_busy_loop_and_sandbox_recovers",
     timeout_stops_a_busy_loop_and_sandbox_recovers},
    {"timeout_stops_a_long_sleep", timeout_stops_a_long_sleep},
    {"awaiting_forever_is_reported", awaiting_forever_is_reported},
};
const size_t errors_count = sizeof errors_tests / sizeof errors_tests[0];
