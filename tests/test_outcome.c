/* test_outcome.c — what a hostile or careless guest gets back: text the
 * host cannot take, results json cannot encode, MemoryError, sys.exit(). */
#include "harness.h"

#include <stdio.h>
#include <string.h>

static bool status_is(const eryx_result *r, eryx_status st) {
  return r && eryx_result_status(r) == st;
}

static void count_bytes(void *ud, const char *text, size_t len) {
  (void)text;
  *(size_t *)ud += len;
}

/* Lone surrogates cannot cross the WIT boundary: output keeps them as
 * their backslash escape, on every path to stdout and stderr. */
static void lone_surrogates_in_output_are_escaped(void) {
  eryx_result *r = run_once("import sys\n"
                            "print('a\\ud800b')\n"
                            "sys.stdout.write('\\udfff|\\U0001F600\\n')\n"
                            "print('e\\udc80', file=sys.stderr)\n"
                            "sys.stderr.write('\\ud83d\\ude00\\n')\n");
  CHECK_MSG(status_is(r, ERYX_STATUS_OK), "%s", describe(r));
  if (r) {
    CHECK_STREQ(eryx_result_stdout(r, NULL), "a\\ud800b\n\\udfff|\xf0\x9f\x98\x80\n");
    CHECK_STREQ(eryx_result_stderr(r, NULL), "e\\udc80\n\\ud83d\\ude00\n");
  }
  eryx_result_free(r);

  /* Streamed output (a handler set: every write is handed over at once)
   * and a str subclass take the same path. */
  size_t streamed = 0;
  eryx_sandbox_options o = ERYX_SANDBOX_OPTIONS_INIT;
  o.on_stdout = count_bytes;
  o.output_user_data = &streamed;
  eryx_sandbox *sb = new_sandbox(&o);
  r = run(sb, "class S(str):\n"
              "    def isascii(self): return True\n"
              "import sys\n"
              "for i in range(40):\n"
              "    sys.stdout.write(S('\\ud800'))\n");
  CHECK_MSG(status_is(r, ERYX_STATUS_OK), "%s", describe(r));
  if (r) {
    size_t len;
    eryx_result_stdout(r, &len);
    CHECK_MSG(len == 40 * 6, "len=%zu", len);
    CHECK_MSG(streamed == 40 * 6, "streamed=%zu", streamed);
  }
  eryx_result_free(r);
  eryx_sandbox_free(sb);
}

static void lone_surrogate_in_an_exception_is_escaped(void) {
  eryx_result *r = run_once("x = 1\n"
                            "raise ValueError('no \\udc00 here')\n");
  CHECK_MSG(status_is(r, ERYX_STATUS_EXCEPTION), "%s", describe(r));
  if (r) {
    CHECK_STREQ(eryx_result_error_type(r, NULL), "ValueError");
    CHECK_STREQ(eryx_result_error_message(r, NULL), "no \\udc00 here");
    CHECK_CONTAINS(eryx_result_traceback(r, NULL), "no \\udc00 here");
    CHECK_CONTAINS(eryx_result_stderr(r, NULL), "no \\udc00 here");
    CHECK(eryx_result_error_line(r) == 2);
  }
  eryx_result_free(r);
}

/* A result the host could not be given is a result_error naming why. */
static void expect_result_error(const char *code, const char *why) {
  eryx_result *r = run_once(code);
  CHECK_MSG(status_is(r, ERYX_STATUS_OK), "%s\n%s", code, describe(r));
  if (r) {
    CHECK_MSG(eryx_result_json(r, NULL) == NULL, "%s: json %s", code,
              eryx_result_json(r, NULL));
    CHECK_CONTAINS(eryx_result_json_error(r, NULL), "result variable 'result'");
    CHECK_CONTAINS(eryx_result_json_error(r, NULL), why);
  }
  eryx_result_free(r);
}

static void lone_surrogate_in_the_result_is_a_result_error(void) {
  expect_result_error("result = 'x\\ud800'", "lone surrogate ('\\ud800')");
  expect_result_error("result = {'k\\udfff': 1}", "lone surrogate ('\\udfff')");
  expect_result_error("result = [1, ['\\udc80']]", "lone surrogate");
}

static void deeply_nested_results_are_result_errors(void) {
  /* 100 000 levels would exhaust the wasm stack inside json.dumps. */
  expect_result_error("r = []\n[r := [r] for _ in range(100000)]\nresult = r",
                      "nested more than 127 levels deep");
  expect_result_error("r = {}\n[r := {'k': r} for _ in range(100000)]\nresult = r",
                      "nested more than 127 levels deep");
  expect_result_error("r = ()\n[r := (1, r) for _ in range(100000)]\nresult = r",
                      "nested more than 127 levels deep");
  expect_result_error("r = []\n[r := [r] for _ in range(128)]\nresult = r",
                      "nested more than 127 levels deep"); /* 129 levels */
  expect_result_error("r = []\nr.append({'a': r})\nresult = r", "circular reference");

  /* 127 levels (what every JSON library the host might use accepts). */
  eryx_result *r = run_once("r = 1\n[r := [r] for _ in range(127)]\nresult = r");
  CHECK_MSG(status_is(r, ERYX_STATUS_OK), "%s", describe(r));
  if (r) {
    size_t len;
    const char *json = eryx_result_json(r, &len);
    CHECK_MSG(json && len == 127 * 2 + 1 && json[0] == '[' && json[127] == '1',
              "json=%.40s", or_null(json));
  }
  eryx_result_free(r);

  /* Shared but not circular is fine. */
  r = run_once("a = [1]\nresult = [a, a, {'x': a}]");
  if (r)
    CHECK_STREQ(eryx_result_json(r, NULL), "[[1], [1], {\"x\": [1]}]");
  eryx_result_free(r);
}

static void non_finite_numbers_are_result_errors(void) {
  expect_result_error("result = float('nan')", "not JSON compliant");
  expect_result_error("result = [1, float('inf')]", "not JSON compliant");
  expect_result_error("result = {'x': -float('inf')}", "not JSON compliant");
}

/* An uncaught MemoryError is the memory limit; a caught one is nothing. */
static void uncaught_memory_error_is_a_limit(void) {
  eryx_sandbox_options o = ERYX_SANDBOX_OPTIONS_INIT;
  o.max_memory_bytes = 64 << 20;
  eryx_sandbox *sb = new_sandbox(&o);
  eryx_result *r = run(sb, "print('before')\nx = bytearray(100 << 20)\n");
  CHECK_MSG(status_is(r, ERYX_STATUS_LIMIT), "%s", describe(r));
  if (r) {
    CHECK_STREQ(eryx_result_error_type(r, NULL), "MemoryError");
    CHECK_STREQ(eryx_result_stdout(r, NULL), "before\n");
    CHECK(eryx_result_error_line(r) == 2);
    CHECK(eryx_result_exit_code(r) == -1);
  }
  eryx_result_free(r);

  r = run(sb, "try:\n    x = bytearray(100 << 20)\nexcept MemoryError:\n    result = 'caught'\n");
  CHECK_MSG(status_is(r, ERYX_STATUS_OK), "%s", describe(r));
  if (r)
    CHECK_STREQ(eryx_result_json(r, NULL), "\"caught\"");
  eryx_result_free(r);

  /* A class of the user's that is merely called MemoryError is not one. */
  r = run(sb, "class MemoryError(Exception): pass\nraise MemoryError('fake')\n");
  CHECK_MSG(status_is(r, ERYX_STATUS_EXCEPTION), "%s", describe(r));
  eryx_result_free(r);
  eryx_sandbox_free(sb);
}

typedef struct {
  const char *code;
  eryx_status status;
  int exit_code;
  const char *message;
  const char *err;
} exit_case;

static void sys_exit_behaves_as_in_cpython(void) {
  static const exit_case cases[] = {
      {"import sys\nprint('out')\nsys.exit()", ERYX_STATUS_OK, 0, "", ""},
      {"import sys\nsys.exit(0)", ERYX_STATUS_OK, 0, "", ""},
      {"import sys\nsys.exit(None)", ERYX_STATUS_OK, 0, "", ""},
      {"raise SystemExit(False)", ERYX_STATUS_OK, 0, "", ""},
      {"import sys\nprint('out')\nsys.exit(3)", ERYX_STATUS_EXCEPTION, 3, "3", ""},
      {"import sys\nsys.exit(255)", ERYX_STATUS_EXCEPTION, 255, "255", ""},
      {"import sys\nsys.exit(256)", ERYX_STATUS_EXCEPTION, 255, "256", ""},
      {"import sys\nsys.exit(-1)", ERYX_STATUS_EXCEPTION, 255, "-1", ""},
      {"raise SystemExit(True)", ERYX_STATUS_EXCEPTION, 1, "True", ""},
      {"import sys\nsys.exit('bye \\ud800')", ERYX_STATUS_EXCEPTION, 1, "bye \\ud800",
       "bye \\ud800\n"},
      {"async def main():\n    raise SystemExit(7)\nawait main()", ERYX_STATUS_EXCEPTION,
       7, "7", ""},
      {"print('no exit')", ERYX_STATUS_OK, -1, "", ""},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const exit_case *c = &cases[i];
    eryx_result *r = run_once(c->code);
    CHECK_MSG(status_is(r, c->status), "%s\n%s", c->code, describe(r));
    if (!r)
      continue;
    CHECK_MSG(eryx_result_exit_code(r) == c->exit_code, "%s: exit code %d", c->code,
              eryx_result_exit_code(r));
    CHECK_MSG(str_eq(eryx_result_error_type(r, NULL),
                     c->status == ERYX_STATUS_OK ? "" : "SystemExit"),
              "%s: %s", c->code, describe(r));
    CHECK_MSG(str_eq(eryx_result_error_message(r, NULL), c->message), "%s: %s", c->code,
              describe(r));
    CHECK_MSG(str_eq(eryx_result_stderr(r, NULL), c->err), "%s: no traceback: %s", c->code,
              describe(r));
    CHECK_STREQ(eryx_result_traceback(r, NULL), "");
    if (strstr(c->code, "print('out')"))
      CHECK_STREQ(eryx_result_stdout(r, NULL), "out\n");
    eryx_result_free(r);
  }

  /* A session goes on after sys.exit, with its state. */
  eryx_session *s = new_session(NULL);
  if (!s)
    return;
  eryx_result *r = srun(s, "x = 41\nimport sys\nsys.exit(2)");
  CHECK_MSG(r && eryx_result_exit_code(r) == 2, "%s", describe(r));
  eryx_result_free(r);
  expect(s, "result = x + 1", "42");
  eryx_session_free(s);
}

/* User code that calls the imports itself with text the host cannot take
 * hurts only its own execution; the sandbox works on the next one. */
static void raw_import_with_a_lone_surrogate_ends_only_that_run(void) {
  static const char *attacks[] = {
      "from wit_world.imports import host\nhost.emit_output(1, '\\ud800')\n",
      "from wit_world.imports import host\nhost.emit_output(2, 'ok\\udfff')\n",
      "from wit_world.imports import host\nhost.emit_trace(1, 1, '\\ud800', '')\n",
      "from wit_world.imports import host\nhost.callback_start('\\ud800', '{}')\n",
  };
  eryx_sandbox *sb = new_sandbox(NULL);
  if (!sb)
    return;
  for (size_t i = 0; i < sizeof attacks / sizeof attacks[0]; i++) {
    eryx_result *r = run(sb, attacks[i]);
    CHECK_MSG(r && eryx_result_status(r) != ERYX_STATUS_OK, "%s\n%s", attacks[i],
              describe(r));
    eryx_result_free(r);
    r = run(sb, "print('still fine')\nresult = 1");
    CHECK_MSG(status_is(r, ERYX_STATUS_OK), "after %s: %s", attacks[i], describe(r));
    if (r)
      CHECK_STREQ(eryx_result_stdout(r, NULL), "still fine\n");
    eryx_result_free(r);
  }
  eryx_sandbox_free(sb);

  /* The same in a session: the run fails cleanly, the session carries on. */
  eryx_session *s = new_session(NULL);
  if (!s)
    return;
  eryx_result *r = srun(s, attacks[0]);
  CHECK_MSG(r && eryx_result_status(r) != ERYX_STATUS_OK, "%s", describe(r));
  eryx_result_free(r);
  expect(s, "result = 'alive'", "\"alive\"");
  eryx_session_free(s);
}

/* Other places user text reaches the host: trace names, callback
 * arguments, file names under the mount, snapshot names. */
typedef struct {
  char names[512];
} trace_names;

static void record_name(void *ud, const eryx_trace_event *ev) {
  trace_names *t = ud;
  if (ev->kind == 1 && strlen(t->names) + ev->function_len + 2 < sizeof t->names) {
    strncat(t->names, ev->function, ev->function_len);
    strcat(t->names, ";");
  }
}

static void lone_surrogates_elsewhere_are_clean_errors(void) {
  trace_names t = {{0}};
  eryx_sandbox_options o = ERYX_SANDBOX_OPTIONS_INIT;
  o.on_trace = record_name;
  o.trace_user_data = &t;
  eryx_sandbox *sb = new_sandbox(&o);
  eryx_result *r = run(sb, "def f(): pass\n"
                           "f.__code__ = f.__code__.replace(co_name='g\\ud800')\n"
                           "f()\n");
  CHECK_MSG(status_is(r, ERYX_STATUS_OK), "%s", describe(r));
  CHECK_CONTAINS(t.names, "g\\ud800;");
  eryx_result_free(r);
  eryx_sandbox_free(sb);

  r = run_once("try:\n"
               "    await invoke('\\ud800')\n"
               "except CallbackError as e:\n"
               "    result = 'no such callback'\n");
  CHECK_MSG(status_is(r, ERYX_STATUS_OK), "%s", describe(r));
  if (r)
    CHECK_STREQ(eryx_result_json(r, NULL), "\"no such callback\"");
  eryx_result_free(r);

  eryx_vfs *v = NULL;
  eryx_error *err = eryx_vfs_new(1 << 20, &v);
  CHECK(!err);
  eryx_error_free(err);
  eryx_sandbox_options fo = ERYX_SANDBOX_OPTIONS_INIT;
  fo.vfs = v;
  sb = new_sandbox(&fo);
  r = run(sb, "import errno, os\n"
              "try:\n"
              "    open(b'/data/\\xff', 'w')\n"
              "except OSError as e:\n"
              "    result = errno.errorcode[e.errno]\n"
              "open('/data/ok.txt', 'w').write('x')\n"
              "try:\n"
              "    os.rename('/data/ok.txt', '/data/\\udcff')\n"
              "except OSError as e:\n"
              "    result += ' ' + errno.errorcode[e.errno]\n");
  CHECK_MSG(status_is(r, ERYX_STATUS_OK), "%s", describe(r));
  if (r)
    CHECK_STREQ(eryx_result_json(r, NULL), "\"EILSEQ EILSEQ\"");
  eryx_result_free(r);
  eryx_sandbox_free(sb);
  eryx_vfs_free(v);

  eryx_session *s = new_session(NULL);
  if (!s)
    return;
  r = srun(s, "globals()['v\\ud800'] = (i for i in [])\nok = 1\n");
  eryx_result_free(r);
  eryx_snapshot *snap = NULL;
  err = eryx_session_snapshot_state(s, 1, &snap);
  CHECK_MSG(!err, "%s", err ? eryx_error_message(err, NULL) : "");
  eryx_error_free(err);
  if (snap) {
    CHECK(eryx_snapshot_skipped_count(snap) == 1);
    CHECK_STREQ(eryx_snapshot_skipped(snap, 0, NULL), "v\\ud800");
  }
  eryx_snapshot_free(snap);
  err = eryx_session_snapshot_state(s, 0, &snap);
  CHECK_MSG(err && contains(eryx_error_message(err, NULL), "v\\ud800"), "%s",
            err ? eryx_error_message(err, NULL) : "no error");
  eryx_error_free(err);
  expect(s, "result = ok", "1");
  eryx_session_free(s);
}

/* Numbers the host takes as u32/u64 that user code can set to anything:
 * a clean error (or 0), never a trap. */
static void out_of_range_numbers_are_clean_errors(void) {
  static const char *lines[] = {
      "raise SyntaxError('x', ('f', -5, 0, ''))",
      "e = SyntaxError('y')\ne.lineno = 2**40\nraise e",
      "e = SyntaxError('y')\ne.lineno = 'abc'\nraise e",
  };
  for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
    eryx_result *r = run_once(lines[i]);
    CHECK_MSG(status_is(r, ERYX_STATUS_EXCEPTION), "%s\n%s", lines[i], describe(r));
    if (r) {
      CHECK_STREQ(eryx_result_error_type(r, NULL), "SyntaxError");
      CHECK(eryx_result_error_line(r) == 0);
    }
    eryx_result_free(r);
  }

  eryx_vfs *v = NULL;
  eryx_error *err = eryx_vfs_new(1 << 20, &v);
  CHECK(!err);
  eryx_error_free(err);
  eryx_sandbox_options o = ERYX_SANDBOX_OPTIONS_INIT;
  o.vfs = v;
  eryx_sandbox *sb = new_sandbox(&o);
  eryx_result *r = run(sb, "import errno, os\n"
                           "out = []\n"
                           "def attempt(f):\n"
                           "    try:\n"
                           "        f()\n"
                           "    except OSError as e:\n"
                           "        out.append(errno.errorcode[e.errno])\n"
                           "    except (TypeError, OverflowError) as e:\n"
                           "        out.append(type(e).__name__)\n"
                           "f = open('/data/a', 'w')\n"
                           "f.write('hello')\n"
                           "attempt(lambda: f.truncate(-1))\n"
                           "attempt(lambda: f.truncate(1.5))\n"
                           "f.close()\n"
                           "attempt(lambda: os.truncate('/data/a', 2**64))\n"
                           "attempt(lambda: os.utime('/data/a', ns=(0, 2**70)))\n"
                           "fd = os.open('/data/a', os.O_RDWR)\n"
                           "attempt(lambda: os.lseek(fd, 2**64, 0))\n"
                           "os.lseek(fd, 2**63 - 1, 0)\n"
                           "attempt(lambda: os.write(fd, b'x'))\n"
                           "os.close(fd)\n"
                           "result = [out, open('/data/a').read()]\n");
  CHECK_MSG(status_is(r, ERYX_STATUS_OK), "%s", describe(r));
  if (r)
    CHECK_STREQ(eryx_result_json(r, NULL),
                "[[\"EINVAL\", \"TypeError\", \"OverflowError\", \"OverflowError\", \"EIO\"], "
                "\"hello\"]");
  eryx_result_free(r);
  eryx_sandbox_free(sb);
  eryx_vfs_free(v);
}

const test_case outcome_tests[] = {
    {"outcome_surrogates_in_output", lone_surrogates_in_output_are_escaped},
    {"outcome_surrogate_in_exception", lone_surrogate_in_an_exception_is_escaped},
    {"outcome_surrogate_in_result", lone_surrogate_in_the_result_is_a_result_error},
    {"outcome_deep_result", deeply_nested_results_are_result_errors},
    {"outcome_non_finite_result", non_finite_numbers_are_result_errors},
    {"outcome_memory_error_is_a_limit", uncaught_memory_error_is_a_limit},
    {"outcome_sys_exit", sys_exit_behaves_as_in_cpython},
    {"outcome_raw_import_attack", raw_import_with_a_lone_surrogate_ends_only_that_run},
    {"outcome_surrogates_elsewhere", lone_surrogates_elsewhere_are_clean_errors},
    {"outcome_out_of_range_numbers", out_of_range_numbers_are_clean_errors},
};
const size_t outcome_count = sizeof outcome_tests / sizeof outcome_tests[0];
