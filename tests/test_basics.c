/* test_basics.c — output, results and top-level await. */
#include "harness.h"

#include <stdlib.h>
#include <string.h>

static void hello_world(void) {
  eryx_result *r = run_once("print('Hello, world!')");
  CHECK_MSG(r && eryx_result_status(r) == ERYX_STATUS_OK, "%s", describe(r));
  if (r)
    CHECK_STREQ(eryx_result_stdout(r, NULL), "Hello, world!\n");
  eryx_result_free(r);
}

static void stdout_and_stderr_are_separate(void) {
  eryx_result *r = run_once("import sys\n"
                            "print('to out')\n"
                            "print('to err', file=sys.stderr)\n"
                            "sys.stdout.write('more out\\n')\n");
  if (!r)
    return;
  CHECK_STREQ(eryx_result_stdout(r, NULL), "to out\nmore out\n");
  CHECK_STREQ(eryx_result_stderr(r, NULL), "to err\n");
  eryx_result_free(r);
}

static void one_megabyte_of_output(void) {
  eryx_result *r = run_once("for i in range(1024):\n"
                            "    print(str(i % 10) * 1023)\n");
  if (!r)
    return;
  size_t len;
  const char *out = eryx_result_stdout(r, &len);
  CHECK_MSG(len == 1024 * 1024, "len=%zu", len);
  CHECK(len == strlen(out));
  CHECK(out[0] == '0' && out[1023] == '\n' && out[1024] == '1');
  eryx_result_free(r);
}

static void bytes_written_to_buffer_are_decoded(void) {
  eryx_result *r = run_once("import sys\n"
                            "sys.stdout.buffer.write('h\\u00e9\\u6f22'.encode())\n"
                            "sys.stdout.buffer.write(b'\\xf0\\x9f')\n"
                            "sys.stdout.buffer.write(b'\\x90\\x8d!')\n");
  if (!r)
    return;
  CHECK_STREQ(eryx_result_stdout(r, NULL), "h\xc3\xa9\xe6\xbc\xa2\xf0\x9f\x90\x8d!");
  eryx_result_free(r);
}

static void result_dict_and_list(void) {
  eryx_result *r = run_once("result = {'name': 'eryx', 'n': [1, 2.5, None, True], "
                            "'u': '\\u00e9\\u6f22'}");
  if (!r)
    return;
  CHECK_STREQ(eryx_result_json(r, NULL),
              "{\"name\": \"eryx\", \"n\": [1, 2.5, null, true], \"u\": "
              "\"\xc3\xa9\xe6\xbc\xa2\"}");
  CHECK(eryx_result_json_error(r, NULL) == NULL);
  eryx_result_free(r);

  r = run_once("result = [x * x for x in range(5)]");
  if (r)
    CHECK_STREQ(eryx_result_json(r, NULL), "[0, 1, 4, 9, 16]");
  eryx_result_free(r);
}

static void result_absent_is_null(void) {
  eryx_result *r = run_once("x = 1");
  if (!r)
    return;
  CHECK(eryx_result_json(r, NULL) == NULL);
  CHECK(eryx_result_json_error(r, NULL) == NULL);
  eryx_result_free(r);
}

static void result_not_json_able_is_a_clear_error(void) {
  eryx_result *r = run_once("print('ran')\nresult = object()");
  if (!r)
    return;
  /* The code itself succeeded; only the result could not be converted. */
  CHECK_MSG(eryx_result_status(r) == ERYX_STATUS_OK, "%s", describe(r));
  CHECK_STREQ(eryx_result_stdout(r, NULL), "ran\n");
  CHECK(eryx_result_json(r, NULL) == NULL);
  CHECK_CONTAINS(eryx_result_json_error(r, NULL), "not JSON-serializable");
  CHECK_CONTAINS(eryx_result_json_error(r, NULL), "object");
  eryx_result_free(r);

  r = run_once("result = float('nan')");
  if (r)
    CHECK_CONTAINS(eryx_result_json_error(r, NULL), "Out of range float");
  eryx_result_free(r);
}

static void result_variable_is_configurable(void) {
  eryx_sandbox_options opts = ERYX_SANDBOX_OPTIONS_INIT;
  opts.result_variable = "answer";
  opts.result_variable_len = 6;
  eryx_sandbox *sb = new_sandbox(&opts);
  eryx_result *r = run(sb, "result = 1\nanswer = {'v': 42}");
  if (r)
    CHECK_STREQ(eryx_result_json(r, NULL), "{\"v\": 42}");
  eryx_result_free(r);
  eryx_sandbox_free(sb);

  opts.result_variable = "";
  opts.result_variable_len = 0;
  sb = new_sandbox(&opts);
  r = run(sb, "result = 1");
  if (r)
    CHECK(eryx_result_json(r, NULL) == NULL);
  eryx_result_free(r);
  eryx_sandbox_free(sb);
}

static void top_level_await(void) {
  eryx_result *r = run_once("import asyncio\n"
                            "async def twice(x):\n"
                            "    await asyncio.sleep(0.01)\n"
                            "    return 2 * x\n"
                            "vals = await asyncio.gather(twice(1), twice(2))\n"
                            "result = vals\n");
  CHECK_MSG(r && eryx_result_status(r) == ERYX_STATUS_OK, "%s", describe(r));
  if (r)
    CHECK_STREQ(eryx_result_json(r, NULL), "[2, 4]");
  eryx_result_free(r);
}

static void asyncio_run_works(void) {
  eryx_result *r = run_once("import asyncio, time\n"
                            "async def main():\n"
                            "    t = time.monotonic()\n"
                            "    await asyncio.sleep(0.05)\n"
                            "    return time.monotonic() - t\n"
                            "result = asyncio.run(main()) >= 0.05\n");
  CHECK_MSG(r && eryx_result_status(r) == ERYX_STATUS_OK, "%s", describe(r));
  if (r)
    CHECK_STREQ(eryx_result_json(r, NULL), "true");
  eryx_result_free(r);
}

static void streamed(void *ud, const char *text, size_t len) {
  char *buf = ud;
  size_t used = strlen(buf);
  if (used + len + 1 < 4096) {
    memcpy(buf + used, text, len);
    buf[used + len] = '\0';
  }
}

static void output_streams_to_handlers(void) {
  static char seen[4096];
  seen[0] = '\0';
  eryx_sandbox_options opts = ERYX_SANDBOX_OPTIONS_INIT;
  opts.on_stdout = streamed;
  opts.on_stderr = streamed;
  opts.output_user_data = seen;
  eryx_sandbox *sb = new_sandbox(&opts);
  eryx_result *r = run(sb, "import sys, os\n"
                           "print('one')\n"
                           "print('two', file=sys.stderr)\n"
                           "os.write(1, b'three\\n')\n"
                           "print('four')\n");
  CHECK_STREQ(seen, "one\ntwo\nthree\nfour\n");
  if (r)
    CHECK_STREQ(eryx_result_stdout(r, NULL), "one\nthree\nfour\n");
  eryx_result_free(r);
  eryx_sandbox_free(sb);
}

/* Bytes that are not UTF-8 survive exactly, in order with the text, in
 * the result and in what the handler is given. */
static void non_utf8_bytes_survive_in_order(void) {
  static char seen[4096];
  seen[0] = '\0';
  eryx_sandbox_options opts = ERYX_SANDBOX_OPTIONS_INIT;
  opts.on_stdout = streamed;
  opts.output_user_data = seen;
  eryx_sandbox *sb = new_sandbox(&opts);
  eryx_result *r = run(sb, "import sys, os\n"
                           "print('a')\n"
                           "sys.stdout.buffer.write(b'\\xff\\xfe')\n"
                           "print('b')\n"
                           "os.write(1, b'\\xc3(')\n"
                           "sys.stdout.write('c\\n')\n"
                           "sys.stderr.buffer.write(b'\\x80\\n')\n");
  static const char want[] = "a\n\xff\xfe" "b\n\xc3(c\n";
  if (r) {
    size_t n;
    const char *out = eryx_result_stdout(r, &n);
    CHECK_MSG(n == sizeof want - 1 && !memcmp(out, want, n), "stdout: %.*s", (int)n, out);
    CHECK_STREQ(eryx_result_stderr(r, NULL), "\x80\n");
  }
  CHECK_STREQ(seen, want);
  eryx_result_free(r);
  eryx_sandbox_free(sb);

  /* The output budget counts them too. */
  eryx_sandbox_options small = ERYX_SANDBOX_OPTIONS_INIT;
  small.max_output_bytes = 100;
  sb = new_sandbox(&small);
  r = run(sb, "import sys\nfor _ in range(50):\n    sys.stdout.buffer.write(b'\\xff' * 10)\n");
  if (r) {
    size_t n;
    eryx_result_stdout(r, &n);
    CHECK(n == 100 && eryx_result_output_truncated(r));
  }
  eryx_result_free(r);
  eryx_sandbox_free(sb);
}

static void argv_is_sys_argv(void) {
  eryx_result *r = run_once("import sys\nresult = sys.argv");
  if (r)
    CHECK_STREQ(eryx_result_json(r, NULL), "[\"\"]");
  eryx_result_free(r);
  eryx_str argv[] = {{"prog.py", 7}, {"a b", 3}, {"\xc3\xa9", 2}};
  eryx_sandbox_options opts = ERYX_SANDBOX_OPTIONS_INIT;
  opts.argv = argv;
  opts.argc = 3;
  eryx_sandbox *sb = new_sandbox(&opts);
  r = run(sb, "import sys\nresult = list(sys.argv)\nsys.argv.append('x')");
  if (r)
    CHECK_STREQ(eryx_result_json(r, NULL), "[\"prog.py\", \"a b\", \"\xc3\xa9\"]");
  eryx_result_free(r);
  r = run(sb, "import sys\nresult = len(sys.argv)"); /* each run gets its own copy */
  if (r)
    CHECK_STREQ(eryx_result_json(r, NULL), "3");
  eryx_result_free(r);
  eryx_sandbox_free(sb);
  eryx_str bad[] = {{"\xff", 1}};
  opts.argv = bad;
  opts.argc = 1;
  eryx_sandbox *nope = NULL;
  eryx_error *err = eryx_sandbox_new(g_rt, &opts, &nope);
  CHECK(err && eryx_error_get_code(err) == ERYX_ERR_INVALID_ARGUMENT && !nope);
  CHECK_CONTAINS(eryx_error_message(err, NULL), "argv[0]");
  eryx_error_free(err);
}

static void count_fuel_without_a_budget(void) {
  eryx_result *r = run_once("x = 1");
  if (r)
    CHECK(eryx_result_fuel_consumed(r) == 0); /* not counted unless asked */
  eryx_result_free(r);
  eryx_sandbox_options opts = ERYX_SANDBOX_OPTIONS_INIT;
  opts.count_fuel = 1;
  eryx_sandbox *sb = new_sandbox(&opts);
  eryx_result *small = run(sb, "x = 1");
  eryx_result *big = run(sb, "s = 0\nfor i in range(200000):\n    s += i\nresult = s");
  if (small && big) {
    uint64_t a = eryx_result_fuel_consumed(small), b = eryx_result_fuel_consumed(big);
    CHECK_MSG(a > 0 && b > 10 * a, "fuel %llu then %llu", (unsigned long long)a,
              (unsigned long long)b);
    CHECK(eryx_result_status(big) == ERYX_STATUS_OK);
  }
  eryx_result_free(small);
  eryx_result_free(big);
  eryx_sandbox_free(sb);
}

const test_case basics_tests[] = {
    {"hello_world", hello_world},
    {"stdout_and_stderr_are_separate", stdout_and_stderr_are_separate},
    {"one_megabyte_of_output", one_megabyte_of_output},
    {"bytes_written_to_buffer_are_decoded", bytes_written_to_buffer_are_decoded},
    {"result_dict_and_list", result_dict_and_list},
    {"result_absent_is_null", result_absent_is_null},
    {"result_not_json_able_is_a_clear_error", result_not_json_able_is_a_clear_error},
    {"result_variable_is_configurable", result_variable_is_configurable},
    {"top_level_await", top_level_await},
    {"asyncio_run_works", asyncio_run_works},
    {"output_streams_to_handlers", output_streams_to_handlers},
    {"non_utf8_bytes_survive_in_order", non_utf8_bytes_survive_in_order},
    {"argv_is_sys_argv", argv_is_sys_argv},
    {"count_fuel_without_a_budget", count_fuel_without_a_budget},
};
const size_t basics_count = sizeof basics_tests / sizeof basics_tests[0];
