/*
 * factory.c — eryx_factory_build: a runtime of its own, with packages on
 * the guest's sys.path and modules imported in its snapshot.
 *
 * The guest component is pre-initialized by componentize-py: the top level
 * of its entry module runs once at build time and the interpreter's heap is
 * snapshotted into the component. A factory runs that step again with an
 * entry module of its own (generated here, below) that imports the guest
 * runtime, puts the package mounts on sys.path, imports what the user
 * asked, and leaves the snapshot as clean as the guest does. componentize-py
 * links any WASI extension modules (.so) it finds on its path into the
 * component at that step.
 *
 * componentize-py mounts each -p directory at /<index> while it runs, and
 * the snapshot remembers those paths (sys.path, modules' __file__), so the
 * factory's instances mount each package tree at the same /<index>
 * (manifest.c records them). The order of -p is: 0 the generated entry
 * module, 1 the guest sources shipped in the base runtime (guest/, with
 * dill), 2.. the packages.
 *
 * Steps (each reported through on_progress): check the options, prepare
 * the packages (pkg/), stage them, run componentize-py in a child process
 * with a clean environment and a deadline, compile the component for both
 * engines (plain and fuel-counting), link the stdlib and guest trees,
 * write the manifest, and rename the staging directory into place: the
 * output directory either holds a whole factory or nothing.
 */
#define _GNU_SOURCE /* memrchr */
#include "internal.h"
#include "callbacks.h" /* eryx__now_ns, eryx__deadline_after_ms */
#include "pkg/pkg.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef ERYX_COMPONENTIZE_PY_VERSION
#define ERYX_COMPONENTIZE_PY_VERSION ""
#endif

#define MAX_FACTORY_PACKAGES 64
#define MAX_FACTORY_IMPORTS 256
#define MAX_IMPORT_LEN 200
#define FIRST_PACKAGE_INDEX 2
#define DEFAULT_TIMEOUT_MS 600000u
#define LOG_TAIL_BYTES 6000

extern char **environ;

typedef struct build {
  const eryx_factory_options *o;
  char *out;       /* the output directory */
  char *stage;     /* where it is built */
  char *base;      /* the base runtime directory */
  char *cpy;       /* the componentize-py executable */
  char **imports;  /* validated module names */
  size_t import_count;
  char **package_names;
  size_t package_count;
  uint64_t started_ns;
} build;

static void progress(build *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void progress(build *b, const char *fmt, ...) {
  if (!b->o->on_progress)
    return;
  char line[1024];
  int n = snprintf(line, sizeof line, "[%6.1f s] ",
                   (double)(eryx__now_ns() - b->started_ns) / 1e9);
  va_list ap;
  va_start(ap, fmt);
  if (n > 0 && (size_t)n < sizeof line)
    vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
  va_end(ap);
  b->o->on_progress(b->o->progress_user_data, line, strlen(line));
}

static char *copy_arg(const char *s, size_t n, const char *what, eryx_error **err) {
  if (!s || !n) {
    *err = eryx__error_new(ERYX_ERR_INVALID_ARGUMENT, "%s is required", what);
    return NULL;
  }
  if (memchr(s, '\0', n) || !eryx__utf8_valid(s, n)) {
    *err = eryx__error_new(ERYX_ERR_INVALID_ARGUMENT, "%s is not UTF-8 text without NUL",
                           what);
    return NULL;
  }
  char *c = eryx__strndup(s, n);
  if (!c)
    *err = eryx__error_new(ERYX_ERR_RESOURCES, "out of memory");
  return c;
}

/* A dotted module name of ASCII identifiers: nothing else may reach the
 * generated entry module's source. */
static bool module_name_ok(const char *s, size_t n) {
  if (n == 0 || n > MAX_IMPORT_LEN)
    return false;
  bool start = true;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    bool alpha = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
    bool digit = c >= '0' && c <= '9';
    if (c == '.') {
      if (start)
        return false;
      start = true;
    } else if (alpha || (digit && !start)) {
      start = false;
    } else {
      return false;
    }
  }
  return !start;
}

static eryx_error *check_imports(build *b) {
  const eryx_factory_options *o = b->o;
  if (o->import_count && !o->imports)
    return eryx__error_new(ERYX_ERR_INVALID_ARGUMENT, "imports is NULL with import_count %zu",
                           o->import_count);
  if (o->import_count > MAX_FACTORY_IMPORTS)
    return eryx__error_new(ERYX_ERR_INVALID_ARGUMENT, "at most %d imports",
                           MAX_FACTORY_IMPORTS);
  if (o->import_count && !(b->imports = calloc(o->import_count, sizeof *b->imports)))
    return eryx__error_new(ERYX_ERR_RESOURCES, "out of memory");
  for (size_t i = 0; i < o->import_count; i++) {
    const eryx_str *m = &o->imports[i];
    if (!m->data || !module_name_ok(m->data, m->len))
      return eryx__error_new(ERYX_ERR_INVALID_ARGUMENT,
                             "imports[%zu] \"%.*s\" is not a module name (dotted ASCII "
                             "identifiers such as \"jinja2\" or \"dateutil.parser\")",
                             i, m->data ? (int)(m->len > 80 ? 80 : m->len) : 0,
                             m->data ? m->data : "");
    if (!(b->imports[i] = eryx__strndup(m->data, m->len)))
      return eryx__error_new(ERYX_ERR_RESOURCES, "out of memory");
    b->import_count = i + 1;
  }
  return NULL;
}

static bool is_executable(const char *p) {
  struct stat st;
  return stat(p, &st) == 0 && S_ISREG(st.st_mode) && access(p, X_OK) == 0;
}

/* opts, else $ERYX_COMPONENTIZE_PY, else `componentize-py` on PATH. */
static eryx_error *find_componentize_py(build *b) {
  eryx_error *err = NULL;
  if (b->o->componentize_py) {
    b->cpy = copy_arg(b->o->componentize_py, b->o->componentize_py_len, "componentize_py",
                      &err);
  } else if (getenv("ERYX_COMPONENTIZE_PY") && *getenv("ERYX_COMPONENTIZE_PY")) {
    b->cpy = strdup(getenv("ERYX_COMPONENTIZE_PY"));
  } else {
    const char *path = getenv("PATH");
    char *copy = path ? strdup(path) : NULL, *save = NULL;
    for (char *dir = copy ? strtok_r(copy, ":", &save) : NULL; dir && !b->cpy;
         dir = strtok_r(NULL, ":", &save)) {
      char *cand = eryx__path_join(*dir ? dir : ".", "componentize-py");
      if (cand && is_executable(cand))
        b->cpy = cand;
      else
        free(cand);
    }
    free(copy);
    if (!b->cpy)
      return eryx__error_new(ERYX_ERR_PACKAGE,
                             "building a factory needs componentize-py %s, which is not on "
                             "PATH: install it (Python: pip install 'eryx[factory]'; or pip "
                             "install componentize-py==%s) or set ERYX_COMPONENTIZE_PY",
                             ERYX_COMPONENTIZE_PY_VERSION, ERYX_COMPONENTIZE_PY_VERSION);
  }
  if (err)
    return err;
  if (!b->cpy)
    return eryx__error_new(ERYX_ERR_RESOURCES, "out of memory");
  if (!is_executable(b->cpy))
    return eryx__error_new(ERYX_ERR_PACKAGE,
                           "componentize-py: %s is not an executable file (install "
                           "componentize-py==%s: pip install 'eryx[factory]')",
                           b->cpy, ERYX_COMPONENTIZE_PY_VERSION);
  return NULL;
}

/* Runs argv[0] with a clean environment, standard output and error into
 * `log_path`, for at most `timeout_ms`. *status: the exit status, or -1
 * when it was killed or could not start. */
static eryx_error *run_child(char *const argv[], char *const envp[], const char *log_path,
                             uint64_t timeout_ms, int *status) {
  *status = -1;
  posix_spawn_file_actions_t fa;
  if (posix_spawn_file_actions_init(&fa) != 0)
    return eryx__error_new(ERYX_ERR_RESOURCES, "cannot start %s", argv[0]);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, log_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  pid_t pid;
  int rc = posix_spawn(&pid, argv[0], &fa, NULL, argv, envp);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0)
    return eryx__error_new(ERYX_ERR_PACKAGE, "cannot run %s: %s", argv[0], strerror(rc));
  uint64_t deadline = eryx__deadline_after_ms(timeout_ms);
  for (;;) {
    int ws;
    pid_t w = waitpid(pid, &ws, WNOHANG);
    if (w == pid) {
      *status = WIFEXITED(ws) ? WEXITSTATUS(ws) : -1;
      return NULL;
    }
    if (w < 0 && errno != EINTR)
      return eryx__error_new(ERYX_ERR_PACKAGE, "lost track of %s: %s", argv[0],
                             strerror(errno));
    if (eryx__now_ns() >= deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &ws, 0);
      return eryx__error_new(ERYX_ERR_PACKAGE,
                             "componentize-py did not finish within %llu ms (an import "
                             "that never returns?); raise timeout_ms if it needs longer",
                             (unsigned long long)timeout_ms);
    }
    struct timespec ts = {0, 20 * 1000000L};
    nanosleep(&ts, NULL);
  }
}

/* The last LOG_TAIL_BYTES of a log, from its Python traceback when it
 * has one, without the Rust backtrace componentize-py appends. */
static char *log_tail(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return strdup("");
  char *buf = calloc(1, LOG_TAIL_BYTES + 1);
  if (!buf) {
    fclose(f);
    return NULL;
  }
  long size = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : 0;
  long from = size > LOG_TAIL_BYTES ? size - LOG_TAIL_BYTES : 0;
  size_t n = fseek(f, from, SEEK_SET) == 0 ? fread(buf, 1, LOG_TAIL_BYTES, f) : 0;
  fclose(f);
  buf[n] = '\0';
  char *cut = strstr(buf, "\nStack backtrace:");
  if (cut)
    *cut = '\0';
  char *tb = strstr(buf, "Traceback (most recent call last)");
  if (tb && tb != buf)
    memmove(buf, tb, strlen(tb) + 1);
  return buf;
}

static eryx_error *check_version(build *b) {
  char *log = eryx__path_join(b->stage, "componentize-py-version.log");
  if (!log)
    return eryx__error_new(ERYX_ERR_RESOURCES, "out of memory");
  char *argv[] = {b->cpy, "--version", NULL};
  char *envp[] = {"PATH=/usr/bin:/bin", NULL};
  int status;
  eryx_error *err = run_child(argv, envp, log, 60000, &status);
  char *text = err ? NULL : log_tail(log);
  remove(log);
  free(log);
  if (err)
    return err;
  if (!text)
    return eryx__error_new(ERYX_ERR_RESOURCES, "out of memory");
  /* "componentize-py 0.25.1" */
  const char *want = ERYX_COMPONENTIZE_PY_VERSION;
  const char *at = strstr(text, want);
  size_t wl = strlen(want);
  bool ok = status == 0 && at && (at[wl] == '\0' || at[wl] == '\n' || at[wl] == ' ' ||
                                  at[wl] == '\r');
  if (!ok) {
    text[strcspn(text, "\n")] = '\0';
    err = eryx__error_new(ERYX_ERR_PACKAGE,
                          "componentize-py at %s reports \"%.100s\"; the runtime was built "
                          "with componentize-py %s and a factory must use the same (pip "
                          "install componentize-py==%s)",
                          b->cpy, text, want, want);
  }
  free(text);
  return err;
}

static eryx_error *make_dir(const char *path) {
  if (mkdir(path, 0755) != 0 && errno != EEXIST)
    return eryx__error_new(ERYX_ERR_PACKAGE, "cannot create %s: %s", path, strerror(errno));
  return NULL;
}

static eryx_error *write_text(const char *path, const char *text) {
  FILE *f = fopen(path, "wb");
  bool ok = f && fputs(text, f) >= 0;
  if (f && fclose(f) != 0)
    ok = false;
  return ok ? NULL
            : eryx__error_new(ERYX_ERR_PACKAGE, "cannot write %s: %s", path, strerror(errno));
}

static void append_str(eryx_buf *buf, const char *s) { eryx__buf_append(buf, s, strlen(s)); }

/* The entry module componentize-py runs at build time (see the top). The
 * module names were checked to be dotted identifiers (module_name_ok). */
static eryx_error *write_entry_module(build *b, const char *app_dir) {
  eryx_buf src = {0};
  append_str(&src, "\"\"\"Generated by eryx_factory_build: a factory's entry module.\"\"\"\n"
                   "import sys\nimport eryx_guest\n"
                   "from eryx_guest import WitWorld  # noqa: F401\n\n"
                   "sys.path[:] = [\"/python\"");
  for (size_t i = 0; i < b->package_count; i++) {
    char entry[32];
    snprintf(entry, sizeof entry, ", \"/%zu\"", i + FIRST_PACKAGE_INDEX);
    append_str(&src, entry);
  }
  append_str(&src, "]\n");
  for (size_t i = 0; i < b->import_count; i++) {
    append_str(&src, "import ");
    append_str(&src, b->imports[i]);
    append_str(&src, "  # noqa: F401\n");
  }
  append_str(&src, "eryx_guest.finish_snapshot(sys.path)\n");
  char *path = src.oom ? NULL : eryx__path_join(app_dir, "eryx_factory_main.py");
  eryx_error *err = path ? write_text(path, src.data)
                         : eryx__error_new(ERYX_ERR_RESOURCES, "out of memory");
  free(path);
  eryx__buf_free(&src);
  return err;
}

static eryx_error *stage_packages(build *b) {
  const eryx_factory_options *o = b->o;
  if (o->package_count && !o->packages)
    return eryx__error_new(ERYX_ERR_INVALID_ARGUMENT,
                           "packages is NULL with package_count %zu", o->package_count);
  if (o->package_count > MAX_FACTORY_PACKAGES)
    return eryx__error_new(ERYX_ERR_INVALID_ARGUMENT, "at most %d packages",
                           MAX_FACTORY_PACKAGES);
  if (o->package_count &&
      !(b->package_names = calloc(o->package_count, sizeof *b->package_names)))
    return eryx__error_new(ERYX_ERR_RESOURCES, "out of memory");
  char *dir = eryx__path_join(b->stage, "packages");
  eryx_error *err = dir ? make_dir(dir) : eryx__error_new(ERYX_ERR_RESOURCES, "out of memory");
  eryx__pkg_limits lim = {o->max_package_bytes, o->max_package_files, false};
  for (size_t i = 0; !err && i < o->package_count; i++) {
    eryx__pkg pkg;
    if ((err = eryx__pkg_prepare(o->packages[i].data, o->packages[i].len, &lim, &pkg)))
      break;
    char name[32];
    snprintf(name, sizeof name, "%zu", i + FIRST_PACKAGE_INDEX);
    char *to = eryx__path_join(dir, name);
    err = to ? eryx__tree_copy(pkg.host_dir, to, true)
             : eryx__error_new(ERYX_ERR_RESOURCES, "out of memory");
    const char *slash = memrchr(o->packages[i].data, '/', o->packages[i].len);
    const char *base = slash ? slash + 1 : o->packages[i].data;
    size_t base_len = o->packages[i].len - (size_t)(base - o->packages[i].data);
    if (!err && !(b->package_names[i] = eryx__strndup(base, base_len)))
      err = eryx__error_new(ERYX_ERR_RESOURCES, "out of memory");
    if (!err) {
      b->package_count = i + 1;
      progress(b, "package %s%s%s", b->package_names[i],
               pkg.cache_hit ? " (from the cache)" : " (unpacked)",
               pkg.has_native ? ", with WASI extension modules to link" : "");
    }
    free(to);
    eryx__pkg_clear(&pkg);
  }
  free(dir);
  return err;
}

static eryx_error *run_componentize(build *b) {
  eryx_error *err = NULL;
  char *app = eryx__path_join(b->stage, "app"), *venv = eryx__path_join(b->stage, "venv");
  char *site = venv ? eryx__path_join(venv, "lib/python3.14/site-packages") : NULL;
  char *wit = eryx__path_join(b->base, "guest/wit"), *guest = eryx__path_join(b->base, "guest");
  char *wasm = eryx__path_join(b->stage, "eryx.wasm");
  char *log = eryx__path_join(b->stage, "componentize-py.log");
  char *venv_env = venv ? malloc(strlen(venv) + 16) : NULL;
  char **args = calloc(16 + 2 * b->package_count, sizeof *args);
  char **pkg_dirs = calloc(b->package_count + 1, sizeof *pkg_dirs);
  if (!app || !venv || !site || !wit || !guest || !wasm || !log || !venv_env || !args ||
      !pkg_dirs) {
    err = eryx__error_new(ERYX_ERR_RESOURCES, "out of memory");
    goto out;
  }
  /* An empty venv: componentize-py adds $VIRTUAL_ENV's site-packages to
   * the guest's path, and must not add the build machine's. */
  if ((err = make_dir(app)) || (err = make_dir(venv)))
    goto out;
  {
    char *lib = eryx__path_join(venv, "lib"), *py = eryx__path_join(venv, "lib/python3.14");
    err = !lib || !py ? eryx__error_new(ERYX_ERR_RESOURCES, "out of memory") : make_dir(lib);
    if (!err)
      err = make_dir(py);
    if (!err)
      err = make_dir(site);
    free(lib);
    free(py);
    if (err)
      goto out;
  }
  struct stat st;
  if (stat(wit, &st) != 0 || !S_ISDIR(st.st_mode)) {
    err = eryx__error_new(ERYX_ERR_RUNTIME_FILES,
                          "the base runtime %s has no guest sources (guest/): it was built "
                          "before factories existed; build it again",
                          b->base);
    goto out;
  }
  if ((err = write_entry_module(b, app)))
    goto out;
  sprintf(venv_env, "VIRTUAL_ENV=%s", venv);
  for (size_t i = 0; i < b->package_count; i++) {
    char name[48];
    snprintf(name, sizeof name, "packages/%zu", i + FIRST_PACKAGE_INDEX);
    if (!(pkg_dirs[i] = eryx__path_join(b->stage, name))) {
      err = eryx__error_new(ERYX_ERR_RESOURCES, "out of memory");
      goto out;
    }
  }
  size_t n = 0;
  char *fixed[] = {b->cpy, "-q", "-d", wit, "-w", "sandbox", "componentize",
                   "eryx_factory_main", "-p", app, "-p", guest};
  for (size_t i = 0; i < sizeof fixed / sizeof *fixed; i++)
    args[n++] = fixed[i];
  for (size_t i = 0; i < b->package_count; i++) {
    args[n++] = "-p";
    args[n++] = pkg_dirs[i];
  }
  args[n++] = "-o";
  args[n++] = wasm;
  args[n] = NULL;
  const char *home = getenv("HOME");
  char *home_env = malloc(strlen(home ? home : "/") + 8);
  if (!home_env) {
    err = eryx__error_new(ERYX_ERR_RESOURCES, "out of memory");
    goto out;
  }
  sprintf(home_env, "HOME=%s", home ? home : "/");
  char *envp[] = {"PATH=/usr/local/bin:/usr/bin:/bin", home_env, venv_env, "RUST_BACKTRACE=0",
                  "RUST_LIB_BACKTRACE=0", NULL};
  int status;
  uint64_t timeout = b->o->timeout_ms ? b->o->timeout_ms : DEFAULT_TIMEOUT_MS;
  err = run_child(args, envp, log, timeout, &status);
  free(home_env);
  if (!err && (status != 0 || stat(wasm, &st) != 0)) {
    char *tail = log_tail(log);
    err = eryx__error_new(ERYX_ERR_PACKAGE,
                          "componentize-py failed (exit status %d) while building the "
                          "factory's snapshot%s:\n%s",
                          status, b->import_count ? " (an import failed?)" : "",
                          tail ? tail : "");
    free(tail);
  }
out:
  for (size_t i = 0; pkg_dirs && i < b->package_count; i++)
    free(pkg_dirs[i]);
  free(pkg_dirs);
  free(args);
  free(app);
  free(venv);
  free(site);
  free(wit);
  free(guest);
  free(wasm);
  free(log);
  free(venv_env);
  return err;
}

unsigned char *eryx__read_whole(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return NULL;
  unsigned char *data = NULL;
  long size = -1;
  if (fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
      (data = malloc((size_t)size + 1))) {
    if (fread(data, 1, (size_t)size, f) != (size_t)size) {
      free(data);
      data = NULL;
    }
  }
  fclose(f);
  *len = size < 0 ? 0 : (size_t)size;
  return data;
}

eryx_error *eryx__snapshot_prepare(unsigned char *wasm, size_t len) {
  char msg[256];
  size_t patched = 0, skipped = 0;
  if (eryx__snapshot_immortalize(wasm, len, &patched, &skipped, msg, sizeof msg) != 0)
    return eryx__error_new(ERYX_ERR_PACKAGE, "cannot prepare the component's snapshot: %s", msg);
  return NULL;
}

/* Compiles the component with exactly the engine settings the runtime
 * loads it with (engine.c). */
eryx_error *eryx__precompile(const unsigned char *wasm, size_t len, const char *out,
                             bool fuel) {
  wasm_engine_t *engine = wasm_engine_new_with_config(eryx__engine_config(NULL, fuel));
  if (!engine)
    return eryx__error_new(ERYX_ERR_WASMTIME, "cannot create a Wasmtime engine");
  wasmtime_component_t *component = NULL;
  wasmtime_error_t *werr = wasmtime_component_new(engine, wasm, len, &component);
  eryx_error *err = NULL;
  wasm_byte_vec_t bytes = {0, NULL};
  if (!werr)
    werr = wasmtime_component_serialize(component, &bytes);
  if (werr) {
    err = eryx__error_from_wasmtime(werr, "cannot compile the factory's component");
  } else {
    FILE *f = fopen(out, "wb");
    bool ok = f && fwrite(bytes.data, 1, bytes.size, f) == bytes.size;
    if (f && fclose(f) != 0)
      ok = false;
    if (!ok)
      err = eryx__error_new(ERYX_ERR_PACKAGE, "cannot write %s: %s", out, strerror(errno));
  }
  if (bytes.data)
    wasm_byte_vec_delete(&bytes);
  if (component)
    wasmtime_component_delete(component);
  wasm_engine_delete(engine);
  return err;
}

static eryx_error *compile_both(build *b) {
  char *wasm_path = eryx__path_join(b->stage, "eryx.wasm");
  char *plain = eryx__path_join(b->stage, "eryx.cwasm");
  char *fuel = eryx__path_join(b->stage, "eryx-fuel.cwasm");
  size_t len = 0;
  unsigned char *wasm = wasm_path ? eryx__read_whole(wasm_path, &len) : NULL;
  eryx_error *err = NULL;
  if (!wasm_path || !plain || !fuel)
    err = eryx__error_new(ERYX_ERR_RESOURCES, "out of memory");
  else if (!wasm)
    err = eryx__error_new(ERYX_ERR_PACKAGE, "cannot read %s", wasm_path);
  if (!err)
    err = eryx__snapshot_prepare(wasm, len);
  if (!err) {
    progress(b, "compiling the component (%.1f MB) with Wasmtime", (double)len / 1e6);
    err = eryx__precompile(wasm, len, plain, false);
  }
  if (!err) {
    progress(b, "compiling the fuel-counting variant");
    err = eryx__precompile(wasm, len, fuel, true);
  }
  free(wasm);
  if (wasm_path)
    remove(wasm_path); /* only the compiled forms are loaded */
  free(wasm_path);
  free(plain);
  free(fuel);
  return err;
}

/* The stdlib and guest trees, hard-linked from the base when possible. */
static eryx_error *link_base_trees(build *b) {
  static const char *const trees[] = {"python", "guest"};
  for (size_t i = 0; i < 2; i++) {
    char *from = eryx__path_join(b->base, trees[i]), *to = eryx__path_join(b->stage, trees[i]);
    eryx_error *err = from && to ? eryx__tree_copy(from, to, true)
                                 : eryx__error_new(ERYX_ERR_RESOURCES, "out of memory");
    free(from);
    free(to);
    if (err)
      return err;
  }
  return NULL;
}

static eryx_error *finish(build *b) {
  const char *scratch[] = {"app", "venv"};
  for (size_t i = 0; i < 2; i++) {
    char *p = eryx__path_join(b->stage, scratch[i]);
    if (p)
      eryx__tree_remove(p);
    free(p);
  }
  char *log = eryx__path_join(b->stage, "componentize-py.log");
  if (log)
    remove(log);
  free(log);
  char **guests = calloc(b->package_count + 1, sizeof *guests);
  char **dirs = calloc(b->package_count + 1, sizeof *dirs);
  eryx_error *err = NULL;
  for (size_t i = 0; guests && dirs && i < b->package_count; i++) {
    guests[i] = malloc(24);
    dirs[i] = malloc(40);
    if (!guests[i] || !dirs[i])
      break;
    snprintf(guests[i], 24, "/%zu", i + FIRST_PACKAGE_INDEX);
    snprintf(dirs[i], 40, "packages/%zu", i + FIRST_PACKAGE_INDEX);
  }
  bool ok = guests && dirs;
  for (size_t i = 0; ok && i < b->package_count; i++)
    ok = guests[i] && dirs[i];
  if (!ok)
    err = eryx__error_new(ERYX_ERR_RESOURCES, "out of memory");
  else
    err = eryx__manifest_write(b->stage, (const char *const *)b->imports, b->import_count,
                               (const char *const *)b->package_names, b->package_count,
                               (const char *const *)guests, (const char *const *)dirs,
                               b->package_count);
  for (size_t i = 0; guests && dirs && i < b->package_count; i++) {
    free(guests[i]);
    free(dirs[i]);
  }
  free(guests);
  free(dirs);
  if (!err && (err = eryx__check_output_dir(b->out)) == NULL && rename(b->stage, b->out) != 0)
    err = eryx__error_new(ERYX_ERR_PACKAGE, "cannot move the factory to %s: %s", b->out,
                          strerror(errno));
  return err;
}

static eryx_error *run_build(build *b) {
  const eryx_factory_options *o = b->o;
  eryx_error *err = NULL;
  if (!(b->out = copy_arg(o->output_dir, o->output_dir_len, "output_dir", &err)))
    return err;
  size_t ol = strlen(b->out);
  while (ol > 1 && b->out[ol - 1] == '/')
    b->out[--ol] = '\0';
  if ((err = eryx__check_output_dir(b->out)) || (err = check_imports(b)))
    return err;
  eryx_runtime_options ro = ERYX_RUNTIME_OPTIONS_INIT;
  ro.runtime_dir = o->base_runtime_dir;
  ro.runtime_dir_len = o->base_runtime_dir_len;
  const char *base;
  size_t base_len;
  if ((err = eryx__runtime_resolve_dir(&ro, &base, &base_len)))
    return err;
  if (!(b->base = eryx__strndup(base, base_len)))
    return eryx__error_new(ERYX_ERR_RESOURCES, "out of memory");
  if ((err = find_componentize_py(b)))
    return err;

  static atomic_uint counter;
  b->stage = malloc(ol + 48);
  if (!b->stage)
    return eryx__error_new(ERYX_ERR_RESOURCES, "out of memory");
  snprintf(b->stage, ol + 48, "%s.building-%ld-%u", b->out, (long)getpid(),
           atomic_fetch_add(&counter, 1));
  eryx__tree_remove(b->stage);
  if ((err = make_dir(b->stage)))
    return err;
  if ((err = check_version(b)))
    return err;
  progress(b, "building a factory in %s from %s (componentize-py %s)", b->out, b->base,
           ERYX_COMPONENTIZE_PY_VERSION);
  if ((err = stage_packages(b)))
    return err;
  progress(b, "componentize-py: initializing the interpreter%s%s", b->import_count ? " and importing " : "",
           b->import_count ? b->imports[0] : "");
  for (size_t i = 1; i < b->import_count; i++)
    progress(b, "  and importing %s", b->imports[i]);
  if ((err = run_componentize(b)))
    return err;
  if ((err = compile_both(b)))
    return err;
  progress(b, "linking the stdlib and guest trees");
  if ((err = link_base_trees(b)))
    return err;
  if ((err = finish(b)))
    return err;
  progress(b, "done: %s (%.1f MB)", b->out, (double)eryx__tree_size(b->out) / 1e6);
  return NULL;
}

eryx_error *eryx_factory_build(const eryx_factory_options *o) {
  if (!o)
    return eryx__error_new(ERYX_ERR_INVALID_ARGUMENT, "options are required (output_dir)");
  if (o->version < 1 || o->version > ERYX_FACTORY_OPTIONS_VERSION)
    return eryx__error_new(ERYX_ERR_INVALID_ARGUMENT,
                           "unsupported eryx_factory_options version %u", o->version);
  build b = {.o = o, .started_ns = eryx__now_ns()};
  eryx_error *err = run_build(&b);
  if (err && b.stage)
    eryx__tree_remove(b.stage); /* nothing half-built is left */
  free(b.out);
  free(b.stage);
  free(b.base);
  free(b.cpy);
  for (size_t i = 0; i < b.import_count; i++)
    free(b.imports[i]);
  free(b.imports);
  for (size_t i = 0; i < b.package_count; i++)
    free(b.package_names[i]);
  free(b.package_names);
  return err;
}
