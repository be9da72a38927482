/* test_stdlib.c — the whole stdlib: pre-imported modules and ones read from
 * the read-only /python mount at run time. */
#include "harness.h"

#include <string.h>

static void check_code(const char *code, const char *expected_json) {
  eryx_result *r = run_once(code);
  CHECK_MSG(r && eryx_result_status(r) == ERYX_STATUS_OK, "%s\n%s", code, describe(r));
  if (r)
    CHECK_STREQ(eryx_result_json(r, NULL), expected_json);
  eryx_result_free(r);
}

static void pre_imported_modules(void) {
  check_code("import json, re, asyncio, collections, math, datetime\n"
             "result = [json.loads('[1]'), re.findall(r'\\d+', 'a1b22'),\n"
             "          collections.Counter('aab')['a'], math.isqrt(17),\n"
             "          datetime.date(2024, 2, 29).isoformat()]",
             "[[1], [\"1\", \"22\"], 2, 4, \"2024-02-29\"]");
}

static void modules_loaded_at_run_time(void) {
  /* None of these is imported while the snapshot is taken. */
  check_code("import sys\n"
             "fresh = [m for m in ('xml.dom.minidom', 'fractions', 'difflib', 'zoneinfo')\n"
             "         if m not in sys.modules]\n"
             "import xml.dom.minidom, difflib\n"
             "doc = xml.dom.minidom.parseString('<a><b>hi</b></a>')\n"
             "result = [doc.getElementsByTagName('b')[0].firstChild.data,\n"
             "          difflib.SequenceMatcher(None, 'abcd', 'abxd').ratio(),\n"
             "          'xml.dom.minidom' in fresh]",
             "[\"hi\", 0.75, true]");
}

static void decimal_and_hashlib(void) {
  check_code("from decimal import Decimal, getcontext\n"
             "import hashlib\n"
             "getcontext().prec = 30\n"
             "result = [str(Decimal(1) / Decimal(7)), hashlib.sha256(b'eryx').hexdigest()[:16]]",
             "[\"0.142857142857142857142857142857\", \"2d7a508a9f1604f3\"]");
}

static void sqlite3_if_present(void) {
  eryx_result *r = run_once(
      "try:\n"
      "    import sqlite3\n"
      "except ImportError as e:\n"
      "    result = 'absent: ' + str(e)\n"
      "else:\n"
      "    db = sqlite3.connect(':memory:')\n"
      "    db.execute('create table t (x)')\n"
      "    db.executemany('insert into t values (?)', [(1,), (2,), (3,)])\n"
      "    result = db.execute('select sum(x) from t').fetchone()[0]\n");
  CHECK_MSG(r && eryx_result_status(r) == ERYX_STATUS_OK, "%s", describe(r));
  if (r) {
    const char *j = eryx_result_json(r, NULL);
    /* Either it works, or it is reported as missing: never a crash. */
    CHECK_MSG(j && (strcmp(j, "6") == 0 || strncmp(j, "\"absent", 7) == 0),
              "sqlite3: %s", j ? j : "null");
  }
  eryx_result_free(r);
}

static void tracebacks_show_stdlib_paths(void) {
  eryx_result *r = run_once("import json\njson.loads('{bad')");
  if (r) {
    CHECK_STREQ(eryx_result_error_type(r, NULL), "JSONDecodeError");
    CHECK_CONTAINS(eryx_result_traceback(r, NULL), "File \"/python/json/");
    CHECK(eryx_result_error_line(r) == 2);
  }
  eryx_result_free(r);
}

const test_case stdlib_tests[] = {
    {"pre_imported_modules", pre_imported_modules},
    {"modules_loaded_at_run_time", modules_loaded_at_run_time},
    {"decimal_and_hashlib", decimal_and_hashlib},
    {"sqlite3_if_present", sqlite3_if_present},
    {"tracebacks_show_stdlib_paths", tracebacks_show_stdlib_paths},
};
const size_t stdlib_count = sizeof stdlib_tests / sizeof stdlib_tests[0];
