/*
 * test_factory.c — eryx_factory_build and factory runtimes: a package
 * imported into the snapshot is in sys.modules before the user's first
 * line, its other modules import lazily from the mounted tree, the runtime
 * directory loads again after a save (as a later process would), a version
 * mismatch is refused naming both versions, and a build that fails leaves
 * nothing behind.
 *
 * One factory is built for the whole suite (it takes seconds) with the
 * componentize-py of the build's own venv (ERYX_TEST_COMPONENTIZE_PY).
 */
#include "harness.h"
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef ERYX_TEST_COMPONENTIZE_PY
#define ERYX_TEST_COMPONENTIZE_PY "componentize-py"
#endif

static char *g_work;       /* a temporary directory for the suite */
static char *g_factory;    /* the factory runtime directory, once built */
static eryx_runtime *g_frt; /* that runtime, loaded */
static int g_progress_lines;

static char *path_in(const char *rel) {
  char *p = malloc(strlen(g_work) + strlen(rel) + 2);
  if (p)
    sprintf(p, "%s/%s", g_work, rel);
  return p;
}

static void count_progress(void *ud, const char *line, size_t len) {
  (void)ud;
  CHECK(line && len == strlen(line) && len > 0);
  g_progress_lines++;
}

static eryx_factory_options factory_options(const char *out, const eryx_str *pkgs, size_t np,
                                            const eryx_str *imports, size_t ni) {
  eryx_factory_options o = ERYX_FACTORY_OPTIONS_INIT;
  o.output_dir = out;
  o.output_dir_len = strlen(out);
  o.packages = pkgs;
  o.package_count = np;
  o.imports = imports;
  o.import_count = ni;
  o.componentize_py = ERYX_TEST_COMPONENTIZE_PY;
  o.componentize_py_len = strlen(ERYX_TEST_COMPONENTIZE_PY);
  return o;
}

/* Builds the suite's factory once: a package `shapes` (imported into the
 * snapshot, with a submodule `shapes.extra` that is not) and a module
 * counting how often its top level ran. */
static bool ensure_factory(void) {
  if (g_frt)
    return true;
  if (g_factory)
    return false; /* tried and failed */
  char tmpl[] = "/tmp/eryx-factory-test-XXXXXX";
  if (!mkdtemp(tmpl))
    return false;
  g_work = strdup(tmpl);
  write_file_at(g_work, "site/shapes/__init__.py",
           "import sys\nLOADED_AT_BUILD = 'eryx_factory_main' in sys.modules\n"
           "def area(w, h):\n    return w * h\n");
  write_file_at(g_work, "site/shapes/extra.py", "def perimeter(w, h):\n    return 2 * (w + h)\n");
  write_file_at(g_work, "site/shapes-0.3.dist-info/METADATA",
           "Metadata-Version: 2.1\nName: shapes\nVersion: 0.3\n");
  /* A link inside the package is copied as a link and still works. */
  char *alias = path_in("site/shapes/alias.py");
  CHECK(alias && symlink("extra.py", alias) == 0);
  free(alias);
  char *site = path_in("site");
  g_factory = path_in("factory");
  eryx_str pkgs[] = {{site, strlen(site)}};
  eryx_str imports[] = {{"shapes", 6}, {"json.decoder", 12}};
  eryx_factory_options o = factory_options(g_factory, pkgs, 1, imports, 2);
  o.on_progress = count_progress;
  double t0 = now_ms();
  eryx_error *err = eryx_factory_build(&o);
  CHECK_MSG(!err, "factory build: %s", err ? eryx_error_message(err, NULL) : "");
  eryx_error_free(err);
  printf("  (factory built in %.1f s, %d progress lines)\n", (now_ms() - t0) / 1000.0,
         g_progress_lines);
  free(site);
  if (err)
    return false;
  eryx_runtime_options ro = ERYX_RUNTIME_OPTIONS_INIT;
  ro.runtime_dir = g_factory;
  ro.runtime_dir_len = strlen(g_factory);
  err = eryx_runtime_new(&ro, &g_frt);
  CHECK_MSG(!err, "load: %s", err ? eryx_error_message(err, NULL) : "");
  eryx_error_free(err);
  return g_frt != NULL;
}

static eryx_result *run_in(eryx_runtime *rt, const char *code) {
  eryx_sandbox *sb = NULL;
  eryx_error *err = eryx_sandbox_new(rt, NULL, &sb);
  CHECK_MSG(!err, "%s", err ? eryx_error_message(err, NULL) : "");
  eryx_error_free(err);
  eryx_result *r = sb ? run(sb, code) : NULL;
  eryx_sandbox_free(sb);
  return r;
}

static void test_factory_preimported(void) {
  if (!ensure_factory())
    return;
  CHECK(g_progress_lines >= 4);
  eryx_result *r = run_in(g_frt,
                          "import sys\n"
                          "before = ['shapes' in sys.modules, 'json.decoder' in sys.modules]\n"
                          "import shapes, shapes.extra, shapes.alias, importlib.metadata\n"
                          "result = before + [shapes.LOADED_AT_BUILD, shapes.area(3, 4),\n"
                          "  shapes.extra.perimeter(3, 4), importlib.metadata.version('shapes'),\n"
                          "  shapes.alias.perimeter(1, 2)]\n");
  CHECK_MSG(r && eryx_result_status(r) == ERYX_STATUS_OK, "%s", describe(r));
  CHECK_STREQ(r ? eryx_result_json(r, NULL) : NULL, "[true, true, true, 12, 14, \"0.3\", 6]");
  eryx_result_free(r);
  /* The factory's own snapshot step made its imports immortal too
   * (heap_image.py: one list, the base's marker erased). */
  r = run_in(g_frt, "import sys, shapes, json\n"
                    "result = [sys._is_immortal(o) for o in (shapes, shapes.area, json.dumps)]\n");
  CHECK_STREQ(r ? eryx_result_json(r, NULL) : NULL, "[true, true, true]");
  eryx_result_free(r);
  size_t len;
  CHECK_STREQ(eryx_runtime_imports_json(g_frt, &len), "[\"shapes\",\"json.decoder\"]");
  CHECK_STREQ(eryx_runtime_packages_json(g_frt, &len), "[\"site\"]");
  CHECK_STREQ(eryx_runtime_imports_json(g_rt, &len), "[]");
  CHECK(eryx_runtime_size_bytes(g_frt) > 10u * 1000 * 1000);
  /* The plain runtime does not have it. */
  r = run_once("import sys\nresult = 'shapes' in sys.modules\n");
  CHECK_STREQ(r ? eryx_result_json(r, NULL) : NULL, "false");
  eryx_result_free(r);
}

static void test_factory_sessions_packages_and_fuel(void) {
  if (!ensure_factory())
    return;
  eryx_session *s = NULL;
  eryx_error *err = eryx_session_new(g_frt, NULL, &s);
  CHECK_MSG(!err, "%s", err ? eryx_error_message(err, NULL) : "");
  eryx_error_free(err);
  if (s) {
    expect(s, "import shapes\nx = shapes.area(2, 5)\nresult = x", "10");
    expect(s, "result = x + 1", "11");
    eryx_session_free(s);
  }
  /* The fuel-counting variant was compiled too. */
  eryx_sandbox_options o = ERYX_SANDBOX_OPTIONS_INIT;
  o.max_fuel = 1000000000;
  eryx_sandbox *sb = NULL;
  err = eryx_sandbox_new(g_frt, &o, &sb);
  CHECK_MSG(!err, "%s", err ? eryx_error_message(err, NULL) : "");
  eryx_error_free(err);
  if (sb) {
    eryx_result *r = run(sb, "import sys\nresult = 'shapes' in sys.modules\n");
    CHECK_STREQ(r ? eryx_result_json(r, NULL) : NULL, "true");
    eryx_result_free(r);
    eryx_sandbox_free(sb);
  }
}

static void test_factory_save_load_and_versions(void) {
  if (!ensure_factory())
    return;
  char *copy = path_in("saved");
  eryx_error *err = eryx_runtime_save(g_frt, copy, strlen(copy));
  CHECK_MSG(!err, "save: %s", err ? eryx_error_message(err, NULL) : "");
  eryx_error_free(err);
  /* Saving over a directory that is not empty is refused. */
  err = eryx_runtime_save(g_frt, copy, strlen(copy));
  CHECK(err && eryx_error_get_code(err) == ERYX_ERR_INVALID_ARGUMENT);
  CHECK_CONTAINS(err ? eryx_error_message(err, NULL) : NULL, "not an empty directory");
  eryx_error_free(err);
  eryx_runtime_options ro = ERYX_RUNTIME_OPTIONS_INIT;
  ro.runtime_dir = copy;
  ro.runtime_dir_len = strlen(copy);
  ro.warm_instances = -1;
  eryx_runtime *rt = NULL;
  err = eryx_runtime_new(&ro, &rt);
  CHECK_MSG(!err, "load the copy: %s", err ? eryx_error_message(err, NULL) : "");
  eryx_error_free(err);
  if (rt) {
    eryx_result *r = run_in(rt, "import sys, shapes.extra\n"
                                "result = [shapes.extra.perimeter(1, 1), shapes.__file__]\n");
    CHECK_STREQ(r ? eryx_result_json(r, NULL) : NULL, "[4, \"/2/shapes/__init__.py\"]");
    eryx_result_free(r);
    eryx_runtime_free(rt);
  }
  /* Another version's factory is refused, naming both versions. */
  char *manifest = malloc(strlen(copy) + 32);
  sprintf(manifest, "%s/eryx-runtime.json", copy);
  size_t len;
  char *text = read_file(manifest, &len);
  CHECK(text && strstr(text, "\"wasmtime_version\": \"" WASMTIME_VERSION "\""));
  if (text) {
    char *at = strstr(text, WASMTIME_VERSION);
    if (at)
      memcpy(at, "11.0.0", 6); /* same length as "48.0.8" */
    FILE *f = fopen(manifest, "w");
    if (f) {
      fputs(text, f);
      fclose(f);
    }
    rt = NULL;
    err = eryx_runtime_new(&ro, &rt);
    CHECK(err && eryx_error_get_code(err) == ERYX_ERR_RUNTIME_FILES && !rt);
    CHECK_CONTAINS(err ? eryx_error_message(err, NULL) : NULL, "11.0.");
    CHECK_CONTAINS(err ? eryx_error_message(err, NULL) : NULL, WASMTIME_VERSION);
    eryx_error_free(err);
    eryx_runtime_free(rt);
  }
  free(text);
  free(manifest);
  free(copy);
}

static void test_factory_failures_leave_nothing(void) {
  if (!ensure_factory())
    return;
  /* An import that fails: the traceback is in the message. */
  char *out = path_in("broken");
  eryx_str imports[] = {{"no_such_module_here", 19}};
  eryx_factory_options o = factory_options(out, NULL, 0, imports, 1);
  eryx_error *err = eryx_factory_build(&o);
  CHECK(err && eryx_error_get_code(err) == ERYX_ERR_PACKAGE);
  CHECK_CONTAINS(err ? eryx_error_message(err, NULL) : NULL, "ModuleNotFoundError");
  CHECK_CONTAINS(err ? eryx_error_message(err, NULL) : NULL, "no_such_module_here");
  eryx_error_free(err);
  CHECK(access(out, F_OK) != 0);
  /* Nor a staging directory beside it. */
  char cmd[600];
  snprintf(cmd, sizeof cmd, "ls -d %s.building-* >/dev/null 2>&1", out);
  CHECK(system(cmd) != 0);
  /* A module name that is not one never reaches the generated source. */
  eryx_str bad[] = {{"os; import shutil", 17}};
  o = factory_options(out, NULL, 0, bad, 1);
  err = eryx_factory_build(&o);
  CHECK(err && eryx_error_get_code(err) == ERYX_ERR_INVALID_ARGUMENT);
  CHECK_CONTAINS(err ? eryx_error_message(err, NULL) : NULL, "is not a module name");
  eryx_error_free(err);
  /* No componentize-py there. */
  o = factory_options(out, NULL, 0, NULL, 0);
  o.componentize_py = "/nonexistent/componentize-py";
  o.componentize_py_len = strlen(o.componentize_py);
  err = eryx_factory_build(&o);
  CHECK(err && eryx_error_get_code(err) == ERYX_ERR_PACKAGE);
  CHECK_CONTAINS(err ? eryx_error_message(err, NULL) : NULL, "eryx[factory]");
  eryx_error_free(err);
  /* An output directory that holds something. */
  o = factory_options(g_factory, NULL, 0, NULL, 0);
  err = eryx_factory_build(&o);
  CHECK(err && eryx_error_get_code(err) == ERYX_ERR_INVALID_ARGUMENT);
  eryx_error_free(err);
  CHECK(access(out, F_OK) != 0);
  free(out);
  /* Missing options. */
  err = eryx_factory_build(NULL);
  CHECK(err && eryx_error_get_code(err) == ERYX_ERR_INVALID_ARGUMENT);
  eryx_error_free(err);
}

/* Last in the suite: frees what the others shared. */
static void test_factory_cleanup(void) {
  eryx_runtime_free(g_frt);
  g_frt = NULL;
  if (g_work)
    eryx__tree_remove(g_work);
  free(g_work);
  free(g_factory);
  g_work = g_factory = NULL;
}

const test_case factory_tests[] = {
    {"factory: imported modules are in sys.modules, others import lazily",
     test_factory_preimported},
    {"factory: sessions and the fuel-counting variant", test_factory_sessions_packages_and_fuel},
    {"factory: save, load elsewhere, version mismatch refused",
     test_factory_save_load_and_versions},
    {"factory: failures are clear and leave nothing", test_factory_failures_leave_nothing},
    {"factory: cleanup", test_factory_cleanup},
};
const size_t factory_count = sizeof factory_tests / sizeof *factory_tests;
