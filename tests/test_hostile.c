/*
 * test_hostile.c — the host's own checks, tested the way an attacker works:
 * user code imports the generated bindings (`wit_world.imports.host`) and
 * calls the host imports directly, skipping every check in the guest
 * runtime. Each test asserts the safe behaviour and bounds host memory
 * (resident set size of this process) where the attack is about memory.
 */
#include "harness.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define S(lit) lit, sizeof(lit) - 1
#define MiB ((uint64_t)1 << 20)
/* What host RSS may grow by in a memory test: ASan's quarantine keeps up
 * to 256 MiB of freed blocks, far below the gigabytes the attacks try. */
#ifdef __SANITIZE_ADDRESS__
#define RSS_SLACK (320 * MiB)
#else
#define RSS_SLACK 0
#endif

/* ------------------------------------------------------------- output */

static atomic_ullong streamed;

static void count_output(void *ud, const char *text, size_t len) {
  (void)ud, (void)text;
  atomic_fetch_add(&streamed, len);
}

/* 2 GiB through the raw output import: the host keeps (and streams) at
 * most max_output_bytes and says it dropped the rest. */
static void test_raw_output_is_capped(void) {
  eryx_sandbox_options o = ERYX_SANDBOX_OPTIONS_INIT;
  o.max_output_bytes = 1 * MiB;
  o.on_stdout = count_output;
  o.timeout_ms = 60000;
  atomic_store(&streamed, 0);
  eryx_sandbox *sb = new_sandbox(&o);
  reset_peak_rss();
  uint64_t before = rss_bytes();
  eryx_result *r = run(sb,
                       "from wit_world.imports import host\n"
                       "s = 'x' * (1 << 20)\n"
                       "for _ in range(2048):\n"
                       "    host.emit_output(1, s)\n"
                       "host.emit_output(2, 'e' * 100)\n");
  uint64_t grew = peak_rss_bytes() - before; /* the peak: nothing held on the way */
  CHECK_MSG(eryx_result_status(r) == ERYX_STATUS_OK, "%s", describe(r));
  size_t out_len, err_len;
  eryx_result_stdout(r, &out_len);
  eryx_result_stderr(r, &err_len);
  CHECK(out_len + err_len <= 1 * MiB);
  CHECK(out_len == 1 * MiB);
  CHECK(eryx_result_output_truncated(r));
  CHECK(atomic_load(&streamed) <= 1 * MiB);
  CHECK_MSG(grew < 64 * MiB + RSS_SLACK, "host peak RSS grew by %llu MiB",
            (unsigned long long)(grew / MiB));
  eryx_result_free(r);

  /* A stream the runtime never uses ends that execution, clearly. */
  r = run(sb, "from wit_world.imports import host\nhost.emit_output(7, 'junk')\n");
  CHECK(eryx_result_status(r) == ERYX_STATUS_INTERNAL);
  CHECK_CONTAINS(eryx_result_error_message(r, NULL), "stream must be 1");
  eryx_result_free(r);
  r = run(sb, "result = 1");
  CHECK_STREQ(eryx_result_json(r, NULL), "1");
  eryx_result_free(r);
  eryx_sandbox_free(sb);
}

/* Writes that bypass sys.stdout (fd 1 itself) count against the same cap;
 * bytes that are not UTF-8 arrive exactly as written (the result is
 * bytes, as the header says), and nothing past the cap is kept. */
static void test_fd_output_is_capped_and_utf8(void) {
  eryx_sandbox_options o = ERYX_SANDBOX_OPTIONS_INIT;
  o.max_output_bytes = 64 * 1024;
  eryx_sandbox *sb = new_sandbox(&o);
  eryx_result *r = run(sb, "import os\n"
                           "os.write(1, b'a\\xff\\xfeb')\n"
                           "for _ in range(100):\n"
                           "    os.write(1, b'y' * 8000)\n");
  CHECK_MSG(eryx_result_status(r) == ERYX_STATUS_OK, "%s", describe(r));
  size_t len;
  const char *out = eryx_result_stdout(r, &len);
  CHECK(len <= 64 * 1024);
  CHECK(eryx_result_output_truncated(r));
  CHECK(!memcmp(out, "a\xff\xfe" "b", 4));
  eryx_result_free(r);
  eryx_sandbox_free(sb);
}

/* A long write to sys.__stdout__ arrives whole (WASI takes at most 8 KiB a
 * write; nothing in between may drop the rest). */
static void test_std_fd_long_write_whole(void) {
  eryx_result *r = run_once("import sys\n"
                            "sys.__stdout__.write('a' * 100000)\n"
                            "sys.__stderr__.write('b' * 50000 + '\\ud800')\n");
  CHECK_MSG(eryx_result_status(r) == ERYX_STATUS_OK, "%s", describe(r));
  size_t out_len, err_len;
  eryx_result_stdout(r, &out_len);
  const char *err = eryx_result_stderr(r, &err_len);
  CHECK_MSG(out_len == 100000, "stdout has %zu bytes", out_len);
  CHECK_MSG(err_len == 50006 && !memcmp(err + 50000, "\\ud800", 6), "stderr has %zu bytes",
            err_len);
  CHECK(!eryx_result_output_truncated(r));
  eryx_result_free(r);
}

/* --------------------------------------------------------- callbacks */

static atomic_int calls_seen;

static void echo_fn(void *ud, eryx_call *call, const char *args, size_t len) {
  (void)ud;
  atomic_fetch_add(&calls_seen, 1);
  eryx_error_free(eryx_call_succeed(call, args, len));
}

static eryx_call *held[256];
static atomic_int held_count;

/* Never answers until the test does: its arguments stay "in flight". */
static void hold_fn(void *ud, eryx_call *call, const char *args, size_t len) {
  (void)ud, (void)args, (void)len;
  int i = atomic_fetch_add(&held_count, 1);
  if (i < 256)
    held[i] = call;
  else
    eryx_error_free(eryx_call_succeed(call, "null", 4));
}

static const char user_schema[] =
    "{\"type\": \"object\", \"properties\": {\"id\": {\"type\": \"integer\", "
    "\"minimum\": 1}}, \"required\": [\"id\"], \"additionalProperties\": false}";

static eryx_sandbox *user_sandbox(void) {
  static eryx_callback cb;
  cb = (eryx_callback){0};
  cb.name = "get_user";
  cb.name_len = 8;
  cb.schema_json = user_schema;
  cb.schema_len = sizeof user_schema - 1;
  cb.fn = echo_fn;
  eryx_sandbox_options o = ERYX_SANDBOX_OPTIONS_INIT;
  o.callbacks = &cb;
  o.callback_count = 1;
  return new_sandbox(&o);
}

/* Through the raw import, arguments the schema refuses never reach the
 * host function: wrong types, unknown keys, values under `minimum`,
 * non-objects, invalid JSON and very deep JSON. */
static void test_raw_callback_args_checked_on_host(void) {
  eryx_sandbox *sb = user_sandbox();
  atomic_store(&calls_seen, 0);
  eryx_result *r = run(
      sb, "from wit_world.imports import host\n"
          "from componentize_py_types import Err\n"
          "bad = ['{\"id\": \"1; DROP TABLE users\"}', '{\"id\": 1, \"admin\": true}',\n"
          "       '{\"id\": 0}', '[1]', '\"x\"', '{', '{\"id\": 1}{', '',\n"
          "       '[' * 100000 + ']' * 100000,\n"
          "       '{\"id\": ' + '[' * 5000 + ']' * 5000 + '}']\n"
          "out = []\n"
          "for b in bad:\n"
          "    try:\n"
          "        host.callback_start('get_user', b)\n"
          "        out.append('accepted')\n"
          "    except Err as e:\n"
          "        out.append(e.value.kind + ': ' + e.value.message)\n"
          "ok = host.callback_start('get_user', '{\"id\": 7}')\n"
          "result = out\n");
  CHECK_MSG(eryx_result_status(r) == ERYX_STATUS_OK, "%s", describe(r));
  const char *json = eryx_result_json(r, NULL);
  CHECK_NOT_CONTAINS(json, "accepted");
  CHECK_CONTAINS(json, "invalid: get_user: argument /id");
  CHECK_CONTAINS(json, "is not of type");
  CHECK_CONTAINS(json, "minimum");
  CHECK_CONTAINS(json, "not valid JSON");
  CHECK_CONTAINS(json, "nested deeper than 127");
  CHECK_CONTAINS(json, "[1] is not of type \\\"object\\\"");
  CHECK(atomic_load(&calls_seen) == 1);
  eryx_result_free(r);

  /* The guest's own (friendlier) check still speaks first on the normal
   * path, and a valid call works. */
  r = run(sb, "try:\n"
              "    await get_user(id='x')\n"
              "except Exception as e:\n"
              "    print(type(e).__name__)\n"
              "result = await get_user(id=3)\n");
  CHECK_MSG(eryx_result_status(r) == ERYX_STATUS_OK, "%s", describe(r));
  CHECK_CONTAINS(eryx_result_stdout(r, NULL), "CallbackError");
  CHECK_STREQ(eryx_result_json(r, NULL), "{\"id\": 3}");
  eryx_result_free(r);
  eryx_sandbox_free(sb);
}

/* One call's arguments are capped, and so are the arguments of all calls in
 * flight together: 60 calls of 900 KiB do not make the host hold 54 MiB. */
static void test_callback_args_size_caps(void) {
  eryx_callback cb = {0};
  cb.name = "store";
  cb.name_len = 5;
  cb.fn = hold_fn;
  eryx_sandbox_options o = ERYX_SANDBOX_OPTIONS_INIT;
  o.callbacks = &cb;
  o.callback_count = 1;
  o.max_callback_args_bytes = 1 * MiB;
  o.max_callback_args_in_flight_bytes = 8 * MiB;
  eryx_sandbox *sb = new_sandbox(&o);
  atomic_store(&held_count, 0);
  reset_peak_rss();
  uint64_t before = rss_bytes();
  eryx_result *r = run(
      sb, "from wit_world.imports import host\n"
          "from componentize_py_types import Err\n"
          "big = '{\"v\": \"' + 'x' * (2 << 20) + '\"}'\n"
          "try:\n"
          "    host.callback_start('store', big)\n"
          "    first = 'accepted'\n"
          "except Err as e:\n"
          "    first = e.value.kind + ': ' + e.value.message\n"
          "arg = '{\"v\": \"' + 'x' * (900 << 10) + '\"}'\n"
          "started, refused = 0, ''\n"
          "for _ in range(60):\n"
          "    try:\n"
          "        host.callback_start('store', arg)\n"
          "        started += 1\n"
          "    except Err as e:\n"
          "        refused = e.value.kind + ': ' + e.value.message\n"
          "result = [first, started, refused]\n");
  CHECK_MSG(eryx_result_status(r) == ERYX_STATUS_OK, "%s", describe(r));
  const char *json = eryx_result_json(r, NULL);
  CHECK_CONTAINS(json, "limit: arguments of 'store' are");
  CHECK_CONTAINS(json, "max_callback_args_bytes");
  CHECK_CONTAINS(json, ", 9, \"limit: arguments of calls in flight");
  CHECK_CONTAINS(json, "max_callback_args_in_flight_bytes");
  CHECK(atomic_load(&held_count) == 9);
  /* 60 calls of 900 KiB would be 54 MiB held; the host keeps none past the
   * in-flight cap (the guest's own strings are in its linear memory). */
  uint64_t grew = peak_rss_bytes() - before;
  CHECK_MSG(grew < 48 * MiB + RSS_SLACK, "host peak RSS grew by %llu MiB",
            (unsigned long long)(grew / MiB));
  eryx_result_free(r);
  for (int i = 0; i < atomic_load(&held_count) && i < 256; i++)
    eryx_error_free(eryx_call_succeed(held[i], "null", 4));
  eryx_sandbox_free(sb);
}

static eryx_error *try_callback(const char *name, const char *schema) {
  eryx_callback cb = {0};
  cb.name = name;
  cb.name_len = strlen(name);
  cb.schema_json = schema;
  cb.schema_len = schema ? strlen(schema) : 0;
  cb.fn = echo_fn;
  eryx_sandbox_options o = ERYX_SANDBOX_OPTIONS_INIT;
  o.callbacks = &cb;
  o.callback_count = 1;
  eryx_sandbox *sb = NULL;
  eryx_error *err = eryx_sandbox_new(g_rt, &o, &sb);
  eryx_sandbox_free(sb);
  return err;
}

/* Names that would hide a builtin, a keyword or a runtime helper are
 * refused at registration. */
static void test_reserved_callback_names(void) {
  const char *bad[] = {"print", "open", "invoke", "list_callbacks", "len.x",
                       "class", "__import__", "_private", "Exception"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    eryx_error *err = try_callback(bad[i], NULL);
    CHECK_MSG(err && eryx_error_get_code(err) == ERYX_ERR_INVALID_ARGUMENT,
              "name %s was accepted", bad[i]);
    if (err && bad[i][0] != '_')
      CHECK_CONTAINS(eryx_error_message(err, NULL), "would hide");
    eryx_error_free(err);
  }
  const char *good[] = {"printer", "open_file", "tools.print", "get"};
  for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
    eryx_error *err = try_callback(good[i], NULL);
    CHECK_MSG(!err, "name %s refused: %s", good[i], eryx_error_message(err, NULL));
    eryx_error_free(err);
  }
}

/* Schemas are compiled by a real validator when the sandbox is made:
 * invalid ones, unknown keywords and remote references are refused. */
static void test_schemas_refused_at_registration(void) {
  struct {
    const char *schema, *why;
  } bad[] = {
      {"{\"type\": \"objectt\"}", "invalid schema"},
      {"{\"type\": \"object\", \"properties\": {\"n\": {\"type\": \"integer\", "
       "\"minimun\": 1}}}",
       "unsupported keyword \"minimun\""},
      {"{\"properties\": {\"a\": {\"$ref\": \"http://example.com/s.json\"}}}", ""},
      {"{\"type\": \"object\", \"prefixItems\": [], \"$schema\": "
       "\"http://json-schema.org/draft-07/schema#\"}",
       "unsupported keyword \"prefixItems\" for draft 7"},
      {"{\"$schema\": \"http://example.com/my-draft\"}", "unsupported \"$schema\""},
      {"{\"minimum\": \"one\"}", "invalid schema"},
      {"{\"a\": ", "not valid JSON"},
      {"[]", "not a JSON object"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    eryx_error *err = try_callback("get", bad[i].schema);
    CHECK_MSG(err && eryx_error_get_code(err) == ERYX_ERR_INVALID_ARGUMENT,
              "schema %s was accepted", bad[i].schema);
    if (err)
      CHECK_CONTAINS(eryx_error_message(err, NULL), bad[i].why);
    eryx_error_free(err);
  }
  const char *good[] = {
      "{}",
      "{\"type\": \"object\", \"$defs\": {\"id\": {\"type\": \"integer\"}}, "
      "\"properties\": {\"id\": {\"$ref\": \"#/$defs/id\"}}, \"title\": \"t\"}",
      "{\"$schema\": \"http://json-schema.org/draft-07/schema#\", \"definitions\": "
      "{\"x\": {\"type\": \"string\"}}, \"dependencies\": {\"a\": [\"b\"]}}",
  };
  for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
    eryx_error *err = try_callback("get", good[i]);
    CHECK_MSG(!err, "schema %s refused: %s", good[i], eryx_error_message(err, NULL));
    eryx_error_free(err);
  }
}

/* ------------------------------------------------------------ results */

/* The result text is the guest's word: code that replaces the runtime's
 * encoder can hand the host anything, and the host refuses what is not
 * JSON any parser reads. */
static void test_result_text_checked_on_host(void) {
  struct {
    const char *fake, *why;
  } cases[] = {
      {"'not json'", "not valid JSON"},
      {"'1' * 5001", "number out of range"},
      {"'[' * 200 + ']' * 200", "nested deeper than 127"},
      {"'\"\\\\ud800\"'", "hex escape"}, /* a lone surrogate */
      {"'{\"stdout\": 1} trailing'", "not valid JSON"},
  };
  eryx_sandbox *sb = new_sandbox(NULL);
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char code[256];
    snprintf(code, sizeof code,
             "import json\njson.dumps = lambda *a, **k: %s\nresult = 1\n", cases[i].fake);
    eryx_result *r = run(sb, code);
    CHECK_MSG(eryx_result_status(r) == ERYX_STATUS_OK, "%s", describe(r));
    CHECK_MSG(eryx_result_json(r, NULL) == NULL, "case %zu: result %s", i,
              eryx_result_json(r, NULL));
    CHECK_CONTAINS(eryx_result_json_error(r, NULL), cases[i].why);
    eryx_result_free(r);
  }
  eryx_sandbox_free(sb);
}

static void test_result_size_cap(void) {
  eryx_sandbox_options o = ERYX_SANDBOX_OPTIONS_INIT;
  o.max_result_bytes = 1 * MiB;
  eryx_sandbox *sb = new_sandbox(&o);
  eryx_result *r = run(sb, "result = 'x' * (2 << 20)");
  CHECK_MSG(eryx_result_status(r) == ERYX_STATUS_OK, "%s", describe(r));
  CHECK(eryx_result_json(r, NULL) == NULL);
  CHECK_CONTAINS(eryx_result_json_error(r, NULL), "max_result_bytes");
  eryx_result_free(r);
  r = run(sb, "result = 'x' * 1000");
  CHECK(eryx_result_json(r, NULL) != NULL);
  eryx_result_free(r);
  eryx_sandbox_free(sb);
}

/* ------------------------------------------------------------- inputs */

/* Timeouts too large to add to the clock mean "no deadline", never "at
 * once". */
static void test_huge_timeouts(void) {
  uint64_t values[] = {(uint64_t)1 << 62, (uint64_t)INT64_MAX, UINT64_MAX - 1};
  for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
    eryx_sandbox_options o = ERYX_SANDBOX_OPTIONS_INIT;
    o.timeout_ms = values[i];
    o.callback_timeout_ms = values[i];
    eryx_sandbox *sb = new_sandbox(&o);
    eryx_result *r = run(sb, "import time\ntime.sleep(0.05)\nresult = 1");
    CHECK_MSG(eryx_result_status(r) == ERYX_STATUS_OK, "timeout %llu: %s",
              (unsigned long long)values[i], describe(r));
    eryx_result_free(r);
    eryx_sandbox_free(sb);
  }
}

/* Host file descriptors are the whole process's: one sandbox opening
 * files without end (unbuffered, so its memory cap does not stop it) hits
 * its own handle cap, reported as a limit, and other sandboxes still work. */
static void open_files_without_end_hits_the_handle_cap(void) {
  eryx_sandbox *sb = new_sandbox(NULL);
  if (!sb)
    return;
  eryx_result *r = run(sb, "fs = []\n"
                           "while True:\n"
                           "    fs.append(open('/python/os.py', 'rb', buffering=0))\n");
  CHECK_MSG(r && eryx_result_status(r) == ERYX_STATUS_LIMIT, "%s", describe(r));
  CHECK_STREQ(r ? eryx_result_error_type(r, NULL) : NULL, "HandleLimitError");
  CHECK_CONTAINS(r ? eryx_result_error_message(r, NULL) : NULL, "4096");
  eryx_result_free(r);
  /* The same sandbox runs again, and so does a new one. */
  r = run(sb, "result = len(open('/python/os.py').read()) > 0");
  CHECK_STREQ(r ? eryx_result_json(r, NULL) : NULL, "true");
  eryx_result_free(r);
  eryx_sandbox_free(sb);
  r = run_once("result = 1");
  CHECK_STREQ(r ? eryx_result_json(r, NULL) : NULL, "1");
  eryx_result_free(r);
}

const test_case hostile_tests[] = {
    {"hostile: open files without end hits the handle cap", open_files_without_end_hits_the_handle_cap},
    {"hostile_raw_output_is_capped", test_raw_output_is_capped},
    {"hostile_fd_output_is_capped_and_utf8", test_fd_output_is_capped_and_utf8},
    {"hostile_std_fd_long_write_whole", test_std_fd_long_write_whole},
    {"hostile_raw_callback_args_checked_on_host", test_raw_callback_args_checked_on_host},
    {"hostile_callback_args_size_caps", test_callback_args_size_caps},
    {"hostile_reserved_callback_names", test_reserved_callback_names},
    {"hostile_schemas_refused_at_registration", test_schemas_refused_at_registration},
    {"hostile_result_text_checked_on_host", test_result_text_checked_on_host},
    {"hostile_result_size_cap", test_result_size_cap},
    {"hostile_huge_timeouts", test_huge_timeouts},
};
const size_t hostile_count = sizeof hostile_tests / sizeof hostile_tests[0];
