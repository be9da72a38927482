/*
 * test_isolation.c — security tests: each one tries a real escape (host
 * files, environment, sockets, the host's terminal) or a leak between
 * executions, and checks that it fails.
 */
#include "harness.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void expect_ok_true(const char *code) {
  eryx_result *r = run_once(code);
  CHECK_MSG(r && eryx_result_status(r) == ERYX_STATUS_OK, "%s", describe(r));
  if (r)
    CHECK_MSG(eryx_result_json(r, NULL) &&
                  strcmp(eryx_result_json(r, NULL), "true") == 0,
              "code: %s\nresult: %s / %s", code,
              eryx_result_json(r, NULL) ? eryx_result_json(r, NULL) : "null",
              describe(r));
  eryx_result_free(r);
}

static void host_files_are_unreachable(void) {
  eryx_result *r = run_once("open('/etc/passwd').read()");
  CHECK_MSG(r && eryx_result_status(r) == ERYX_STATUS_EXCEPTION, "%s", describe(r));
  if (r)
    CHECK_STREQ(eryx_result_error_type(r, NULL), "FileNotFoundError");
  eryx_result_free(r);

  /* Relative paths, traversal out of the stdlib mount, the root, /proc. */
  expect_ok_true("import os\n"
                 "bad = []\n"
                 "for p in ['/etc/passwd', '../../../../etc/passwd', 'etc/passwd',\n"
                 "          '/python/../etc/passwd', '/python/../../etc/passwd',\n"
                 "          '/proc/self/environ', '/dev/mem', '/root', '/tmp/x']:\n"
                 "    try:\n"
                 "        open(p).read(); bad.append(p)\n"
                 "    except OSError:\n"
                 "        pass\n"
                 "try:\n"
                 "    os.listdir('/'); bad.append('listdir /')\n"
                 "except OSError:\n"
                 "    pass\n"
                 "result = bad == []\n");
}

static void stdlib_mount_is_read_only(void) {
  expect_ok_true("import os\n"
                 "assert os.path.exists('/python/json/__init__.py')\n"
                 "blocked = 0\n"
                 "for action in [lambda: open('/python/evil.py', 'w'),\n"
                 "               lambda: open('/python/json/__init__.py', 'a'),\n"
                 "               lambda: os.remove('/python/json/__init__.py'),\n"
                 "               lambda: os.mkdir('/python/newdir')]:\n"
                 "    try:\n"
                 "        action()\n"
                 "    except OSError:\n"
                 "        blocked += 1\n"
                 "result = blocked == 4\n");
}

static void host_environment_is_invisible(void) {
  setenv("ERYX_TEST_HOST_SECRET", "hunter2", 1);
  eryx_result *r = run_once("import os\nresult = dict(os.environ)");
  if (r) {
    CHECK_STREQ(eryx_result_json(r, NULL), "{}");
  }
  eryx_result_free(r);
  expect_ok_true("import os\nresult = os.getenv('ERYX_TEST_HOST_SECRET') is None "
                 "and os.getenv('PATH') is None and os.getenv('HOME') is None");
  unsetenv("ERYX_TEST_HOST_SECRET");
}

static void network_is_off(void) {
  expect_ok_true("import socket\n"
                 "blocked = 0\n"
                 "for attempt in [lambda: socket.create_connection(('127.0.0.1', 22), 1),\n"
                 "                lambda: socket.socket().connect(('localhost', 80)),\n"
                 "                lambda: socket.socket().bind(('0.0.0.0', 8080))]:\n"
                 "    try:\n"
                 "        attempt()\n"
                 "    except OSError:\n"
                 "        blocked += 1\n"
                 "result = blocked == 3\n");
}

/* Runs code while the host's fd 1 and 2 point at a temp file, then checks
 * that nothing the guest wrote reached them. */
static void writes_to_fd_1_and_2_are_captured(void) {
  char path[] = "/tmp/eryx-test-fd-XXXXXX";
  int tmp = mkstemp(path);
  CHECK(tmp >= 0);
  if (tmp < 0)
    return;
  fflush(stdout);
  fflush(stderr);
  int saved1 = dup(1), saved2 = dup(2);
  dup2(tmp, 1);
  dup2(tmp, 2);
  eryx_result *r = run_once(
      "import os, sys, _io\n"
      "os.write(1, b'os-write-1\\n')\n"
      "os.write(2, b'os-write-2\\n')\n"
      "raw = _io.FileIO(1, 'w', closefd=False); raw.write(b'raw-fd-1\\n')\n"
      "raw2 = _io.FileIO(2, 'w', closefd=False); raw2.write(b'raw-fd-2\\n')\n"
      "print('dunder-out', file=sys.__stdout__)\n"
      "print('dunder-err', file=sys.__stderr__)\n");
  fflush(stdout);
  fflush(stderr);
  dup2(saved1, 1);
  dup2(saved2, 2);
  close(saved1);
  close(saved2);

  char leaked[4096] = {0};
  lseek(tmp, 0, SEEK_SET);
  ssize_t n = read(tmp, leaked, sizeof leaked - 1);
  close(tmp);
  unlink(path);
  CHECK_MSG(n == 0, "the guest wrote to the host's terminal: %s", leaked);
  if (!r)
    return;
  const char *out = eryx_result_stdout(r, NULL);
  const char *err = eryx_result_stderr(r, NULL);
  CHECK_CONTAINS(out, "os-write-1\n");
  CHECK_CONTAINS(out, "raw-fd-1\n");
  CHECK_CONTAINS(out, "dunder-out\n");
  CHECK_CONTAINS(err, "os-write-2\n");
  CHECK_CONTAINS(err, "raw-fd-2\n");
  CHECK_CONTAINS(err, "dunder-err\n");
  CHECK_NOT_CONTAINS(out, "-2\n");
  eryx_result_free(r);
}

static void state_does_not_leak_between_executes(void) {
  eryx_sandbox *sb = new_sandbox(NULL);
  eryx_result *r = run(sb, "import sys, builtins, json\n"
                           "secret = 'from run one'\n"
                           "builtins.len = lambda x: -1\n"
                           "json.dumps = lambda *a, **k: 'patched'\n"
                           "sys.modules['leaky'] = sys\n"
                           "sys.path.append('/evil')\n");
  CHECK_MSG(r && eryx_result_status(r) == ERYX_STATUS_OK, "%s", describe(r));
  eryx_result_free(r);
  r = run(sb, "import sys, json\n"
              "result = ['secret' in globals(), len('abc'), json.dumps(1),\n"
              "          'leaky' in sys.modules, '/evil' in sys.path]\n");
  if (r)
    CHECK_STREQ(eryx_result_json(r, NULL), "[false, 3, \"1\", false, false]");
  eryx_result_free(r);
  eryx_sandbox_free(sb);
}

static void randomness_differs_between_sandboxes(void) {
  const char *code = "import random, os, uuid\n"
                     "result = [random.random(), os.urandom(16).hex(), str(uuid.uuid4())]";
  eryx_result *a = run_once(code), *b = run_once(code);
  if (a && b) {
    CHECK(eryx_result_json(a, NULL) && eryx_result_json(b, NULL));
    CHECK_MSG(strcmp(eryx_result_json(a, NULL), eryx_result_json(b, NULL)) != 0,
              "two sandboxes drew the same numbers: %s", eryx_result_json(a, NULL));
  }
  eryx_result_free(a);
  eryx_result_free(b);
  /* A script can still ask for determinism explicitly. */
  const char *seeded = "import random\nrandom.seed(7)\nresult = random.random()";
  a = run_once(seeded);
  b = run_once(seeded);
  if (a && b)
    CHECK_STREQ(eryx_result_json(a, NULL), eryx_result_json(b, NULL));
  eryx_result_free(a);
  eryx_result_free(b);
}

const test_case isolation_tests[] = {
    {"host_files_are_unreachable", host_files_are_unreachable},
    {"stdlib_mount_is_read_only", stdlib_mount_is_read_only},
    {"host_environment_is_invisible", host_environment_is_invisible},
    {"network_is_off", network_is_off},
    {"writes_to_fd_1_and_2_are_captured", writes_to_fd_1_and_2_are_captured},
    {"state_does_not_leak_between_executes", state_does_not_leak_between_executes},
    {"randomness_differs_between_sandboxes", randomness_differs_between_sandboxes},
};
const size_t isolation_count = sizeof isolation_tests / sizeof isolation_tests[0];
