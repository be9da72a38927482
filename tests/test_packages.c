/*
 * test_packages.c — packages in sandboxes and sessions (eryx_sandbox_options
 * v5): mounted read-only, on sys.path after the stdlib, importable by the
 * import system and readable by C-level file access, kept across a
 * session's executes and restores; refusals reach the caller as
 * ERYX_ERR_PACKAGE. The unpacking itself (wheels, sdists, zip-slip, bombs)
 * is tested in test_packages_unpack.c.
 */
#include "harness.h"
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A site-packages-like tree with a module, a package with a data file and
 * a lazily imported submodule, and dist-info metadata. */
static char *make_site(void) {
  char *d = make_temp_dir();
  if (!d)
    return NULL;
  write_file_at(d, "greet.py", "def hello(name):\n    return 'hello ' + name\n");
  write_file_at(d, "toolbox/__init__.py", "VERSION = '1.2.3'\n");
  write_file_at(d, "toolbox/later.py", "WHO = 'later'\n");
  write_file_at(d, "toolbox/data.txt", "payload\n");
  write_file_at(d, "toolbox-1.2.3.dist-info/METADATA",
           "Metadata-Version: 2.1\nName: toolbox\nVersion: 1.2.3\n");
  return d;
}

static eryx_sandbox_options with_packages(const eryx_str *pkgs, size_t n) {
  eryx_sandbox_options o = ERYX_SANDBOX_OPTIONS_INIT;
  o.packages = pkgs;
  o.package_count = n;
  return o;
}

static void test_packages_directory_importable(void) {
  char *site = make_site();
  if (!site)
    return;
  eryx_str pkgs[] = {{site, strlen(site)}};
  eryx_sandbox_options o = with_packages(pkgs, 1);
  eryx_sandbox *sb = new_sandbox(&o);
  if (sb) {
    eryx_result *r = run(sb,
                         "import greet, toolbox, toolbox.later, sys, importlib.metadata\n"
                         "import importlib.resources\n"
                         "result = [greet.hello('x'), toolbox.VERSION, toolbox.later.WHO,\n"
                         "  importlib.metadata.version('toolbox'),\n"
                         "  importlib.resources.files('toolbox').joinpath('data.txt').read_text(),\n"
                         "  sys.path.index('/packages/0') > sys.path.index('/python'),\n"
                         "  open(greet.__file__, 'rb').read(5).decode()]\n");
    CHECK_MSG(r && eryx_result_status(r) == ERYX_STATUS_OK, "%s", describe(r));
    CHECK_STREQ(r ? eryx_result_json(r, NULL) : NULL,
                "[\"hello x\", \"1.2.3\", \"later\", \"1.2.3\", \"payload\\n\", true, \"def h\"]");
    eryx_result_free(r);
    /* The next execute is a fresh interpreter: the packages are there too. */
    r = run(sb, "import greet\nresult = greet.hello('again')\n");
    CHECK_STREQ(r ? eryx_result_json(r, NULL) : NULL, "\"hello again\"");
    eryx_result_free(r);
    eryx_sandbox_free(sb);
  }
  eryx__tree_remove(site);
  free(site);
}

static void test_packages_read_only(void) {
  char *site = make_site();
  if (!site)
    return;
  eryx_str pkgs[] = {{site, strlen(site)}};
  eryx_sandbox_options o = with_packages(pkgs, 1);
  eryx_sandbox *sb = new_sandbox(&o);
  if (sb) {
    eryx_result *r = run(sb,
                         "import os, greet\n"
                         "out = []\n"
                         "for attempt in (lambda: open(greet.__file__, 'a').write('x'),\n"
                         "                lambda: open('/packages/0/new.py', 'w'),\n"
                         "                lambda: os.remove(greet.__file__),\n"
                         "                lambda: os.mkdir('/packages/0/d')):\n"
                         "    try:\n"
                         "        attempt(); out.append('written')\n"
                         "    except OSError as e:\n"
                         "        out.append('refused')\n"
                         "result = out\n");
    CHECK_STREQ(r ? eryx_result_json(r, NULL) : NULL,
                "[\"refused\", \"refused\", \"refused\", \"refused\"]");
    eryx_result_free(r);
    eryx_sandbox_free(sb);
  }
  /* And the host files are untouched. */
  char path[512];
  snprintf(path, sizeof path, "%s/new.py", site);
  CHECK(access(path, F_OK) != 0);
  eryx__tree_remove(site);
  free(site);
}

/* A directory holding __init__.py is one package, importable by its name;
 * what lies beside it is not visible. */
static void test_packages_single_package_dir(void) {
  test_cache tc;
  char *d = make_temp_dir();
  if (!d || !test_cache_begin(&tc)) {
    free(d);
    test_cache_end(&tc);
    return;
  }
  /* Its copy goes into a cache of this test's own. */
  write_file_at(d, "mylib/__init__.py", "from .core import answer\n");
  write_file_at(d, "mylib/core.py", "def answer():\n    return 42\n");
  write_file_at(d, "sibling.py", "X = 1\n");
  char pkg[512];
  snprintf(pkg, sizeof pkg, "%s/mylib", d);
  eryx_str pkgs[] = {{pkg, strlen(pkg)}};
  eryx_sandbox_options o = with_packages(pkgs, 1);
  eryx_sandbox *sb = new_sandbox(&o);
  if (sb) {
    eryx_result *r = run(sb,
                         "import mylib, mylib.core, os\n"
                         "try:\n"
                         "    import sibling\n"
                         "    seen = True\n"
                         "except ImportError:\n"
                         "    seen = False\n"
                         "# byte-compiled once into the cache entry, loaded from there\n"
                         "cached = mylib.core.__spec__.cached\n"
                         "result = [mylib.answer(), seen, os.path.exists(cached),\n"
                         "          type(mylib.core.__loader__).__name__]\n");
    CHECK_STREQ(r ? eryx_result_json(r, NULL) : NULL,
                "[42, false, true, \"SourceFileLoader\"]");
    eryx_result_free(r);
    /* And the mount stays read-only for the code. */
    r = run(sb, "import mylib, os\n"
                "try:\n"
                "    open(os.path.dirname(mylib.__file__) + '/x.py', 'w')\n"
                "    result = 'written'\n"
                "except OSError:\n"
                "    result = 'refused'\n");
    CHECK_STREQ(r ? eryx_result_json(r, NULL) : NULL, "\"refused\"");
    eryx_result_free(r);
    eryx_sandbox_free(sb);
  }
  test_cache_end(&tc);
  eryx__tree_remove(d);
  free(d);
}

static void test_packages_session_and_restore(void) {
  char *site = make_site();
  if (!site)
    return;
  eryx_str pkgs[] = {{site, strlen(site)}};
  eryx_sandbox_options o = with_packages(pkgs, 1);
  eryx_session *s = new_session(&o);
  if (s) {
    expect(s, "import greet\nx = greet.hello('a')\nresult = x", "\"hello a\"");
    expect(s, "import toolbox.later\nresult = [x, toolbox.later.WHO]", "[\"hello a\", \"later\"]");
    eryx_snapshot *snap = NULL;
    eryx_error *err = eryx_session_snapshot_state(s, 0, &snap);
    CHECK_MSG(!err, "%s", err ? eryx_error_message(err, NULL) : "");
    eryx_error_free(err);
    eryx_session *s2 = new_session(&o);
    if (snap && s2) {
      size_t len;
      const uint8_t *data = eryx_snapshot_data(snap, &len);
      /* Restored into a session that ran code: a fresh interpreter. */
      expect(s2, "y = 1\nresult = y", "1");
      err = eryx_session_restore_state(s2, data, len);
      CHECK_MSG(!err, "%s", err ? eryx_error_message(err, NULL) : "");
      eryx_error_free(err);
      expect(s2, "import greet\nresult = [x, greet.hello('b')]", "[\"hello a\", \"hello b\"]");
    }
    eryx_snapshot_free(snap);
    eryx_session_free(s2);
    eryx_session_free(s);
  }
  eryx__tree_remove(site);
  free(site);
}

static void test_packages_order_and_several(void) {
  char *a = make_temp_dir(), *b = make_temp_dir();
  if (!a || !b) {
    free(a);
    free(b);
    return;
  }
  write_file_at(a, "shared.py", "WHO = 'first'\n");
  write_file_at(b, "shared.py", "WHO = 'second'\n");
  write_file_at(b, "only_b.py", "WHO = 'b'\n");
  eryx_str pkgs[] = {{a, strlen(a)}, {b, strlen(b)}};
  eryx_sandbox_options o = with_packages(pkgs, 2);
  eryx_sandbox *sb = new_sandbox(&o);
  if (sb) {
    eryx_result *r = run(sb, "import shared, only_b\nresult = [shared.WHO, only_b.WHO]\n");
    CHECK_STREQ(r ? eryx_result_json(r, NULL) : NULL, "[\"first\", \"b\"]");
    eryx_result_free(r);
    eryx_sandbox_free(sb);
  }
  eryx__tree_remove(a);
  eryx__tree_remove(b);
  free(a);
  free(b);
}

static void test_packages_refusals(void) {
  eryx_str missing[] = {{"/nonexistent/pkg.whl", strlen("/nonexistent/pkg.whl")}};
  eryx_sandbox_options o = with_packages(missing, 1);
  eryx_sandbox *sb = NULL;
  eryx_error *err = eryx_sandbox_new(g_rt, &o, &sb);
  CHECK(err && eryx_error_get_code(err) == ERYX_ERR_PACKAGE && !sb);
  CHECK_CONTAINS(err ? eryx_error_message(err, NULL) : NULL, "/nonexistent/pkg.whl");
  eryx_error_free(err);
  err = eryx_session_new(g_rt, &o, (eryx_session **)&sb);
  CHECK(err && eryx_error_get_code(err) == ERYX_ERR_PACKAGE);
  eryx_error_free(err);
  /* NULL list with a count. */
  o.packages = NULL;
  err = eryx_sandbox_new(g_rt, &o, &sb);
  CHECK(err && eryx_error_get_code(err) == ERYX_ERR_INVALID_ARGUMENT);
  eryx_error_free(err);
  /* An older options version ignores the fields. */
  o.version = 4;
  err = eryx_sandbox_new(g_rt, &o, &sb);
  CHECK(!err && sb);
  eryx_error_free(err);
  eryx_sandbox_free(sb);
}

const test_case packages_tests[] = {
    {"packages: a directory is importable, with metadata and resources",
     test_packages_directory_importable},
    {"packages: mounted read-only", test_packages_read_only},
    {"packages: a directory with __init__.py is one package", test_packages_single_package_dir},
    {"packages: sessions keep them, also after a restore", test_packages_session_and_restore},
    {"packages: several, in the order given", test_packages_order_and_several},
    {"packages: refusals are ERYX_ERR_PACKAGE naming the file", test_packages_refusals},
};
const size_t packages_count = sizeof packages_tests / sizeof *packages_tests;
