/*
 * runtime.c — eryx_runtime: the engine, the loaded component, the linker
 * and the epoch ticker, shared by every sandbox.
 *
 * Everything that does not depend on one sandbox is done here, once: the
 * .cwasm is mapped (not read) with wasmtime_component_deserialize_file, the
 * linker with WASI (its blocking calls made interruptible: blocking.c) and
 * our host imports is built, and the `execute` export is resolved to an
 * index. A sandbox then only needs a store, a WASI
 * context and an instantiation.
 *
 * Two compiled forms may exist: eryx.cwasm, and eryx-fuel.cwasm for
 * sandboxes with an instruction budget (fuel counting changes the code, so
 * it needs its own engine); the latter is mapped on first use only.
 *
 * A second thread keeps a few instances instantiated ahead (warm_pool.c).
 *
 * The ticker thread increments the engines' epochs every ERYX_TICK_MS while
 * any execution runs (and briefly after), and sleeps on a condition variable
 * otherwise, so an idle process uses no CPU. Deadlines are per store
 * (sandbox.c), so concurrent executions with different timeouts never
 * affect each other.
 */
#include "internal.h"

#include <signal.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <stdio.h>
#include <unistd.h>

/* After the last execution ends the ticker keeps going this many ticks
 * before it sleeps, so back-to-back executions do not wake it each time. */
#define TICKER_GRACE_TICKS 50

/* Warm instances kept ready by default (eryx_runtime_options). */
#define DEFAULT_WARM 2

static void *ticker_main(void *arg) {
  eryx_runtime *rt = arg;
  struct timespec tick = {0, ERYX_TICK_MS * 1000000L};
  unsigned idle_ticks = 0;
  pthread_mutex_lock(&rt->ticker_mu);
  while (!rt->ticker_stop) {
    if (rt->active_executions == 0 && ++idle_ticks > TICKER_GRACE_TICKS) {
      pthread_cond_wait(&rt->ticker_cv, &rt->ticker_mu);
      idle_ticks = 0;
      continue;
    }
    if (rt->active_executions)
      idle_ticks = 0;
    pthread_mutex_unlock(&rt->ticker_mu);
    nanosleep(&tick, NULL);
    wasmtime_engine_increment_epoch(rt->plain.engine);
    eryx_variant *fuel = atomic_load(&rt->fuel);
    if (fuel)
      wasmtime_engine_increment_epoch(fuel->engine);
    pthread_mutex_lock(&rt->ticker_mu);
  }
  pthread_mutex_unlock(&rt->ticker_mu);
  return NULL;
}

void eryx__runtime_execution_begin(eryx_runtime *rt) {
  eryx__warm_pool_caller(rt->pool, true);
  pthread_mutex_lock(&rt->ticker_mu);
  if (rt->active_executions++ == 0)
    pthread_cond_signal(&rt->ticker_cv);
  pthread_mutex_unlock(&rt->ticker_mu);
}

void eryx__runtime_execution_end(eryx_runtime *rt) {
  pthread_mutex_lock(&rt->ticker_mu);
  rt->active_executions--;
  pthread_mutex_unlock(&rt->ticker_mu);
  eryx__warm_pool_caller(rt->pool, false);
}

eryx_error *eryx__runtime_resolve_dir(const eryx_runtime_options *opts, const char **dir,
                                      size_t *len) {
  if (opts && opts->runtime_dir) {
    *dir = opts->runtime_dir;
    *len = opts->runtime_dir_len;
  } else if (getenv("ERYX_RUNTIME_DIR") && *getenv("ERYX_RUNTIME_DIR")) {
    *dir = getenv("ERYX_RUNTIME_DIR");
    *len = strlen(*dir);
  } else {
    *dir = eryx__default_runtime_dir();
    *len = strlen(*dir);
  }
  if (*len == 0)
    return eryx__error_new(ERYX_ERR_RUNTIME_FILES,
                           "no runtime directory: pass runtime_dir or set "
                           "ERYX_RUNTIME_DIR");
  if (memchr(*dir, '\0', *len))
    return eryx__error_new(ERYX_ERR_INVALID_ARGUMENT,
                           "runtime_dir contains a NUL byte");
  return NULL;
}

static eryx_error *check_is(const char *path, bool want_dir) {
  struct stat st;
  if (stat(path, &st) != 0)
    return eryx__error_new(ERYX_ERR_RUNTIME_FILES, "%s: %s", path,
                           strerror(errno));
  if (want_dir ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode))
    return eryx__error_new(ERYX_ERR_RUNTIME_FILES, "%s: not a %s", path,
                           want_dir ? "directory" : "regular file");
  return NULL;
}

static void variant_free(eryx_variant *v) {
  wasmtime_component_export_index_t *indices[] = {v->execute_index, v->snapshot_index,
                                                  v->restore_index, v->warm_up_index};
  for (size_t i = 0; i < 4; i++)
    if (indices[i])
      wasmtime_component_export_index_delete(indices[i]);
  if (v->linker)
    wasmtime_component_linker_delete(v->linker);
  if (v->component)
    wasmtime_component_delete(v->component);
  if (v->engine)
    wasm_engine_delete(v->engine);
  memset(v, 0, sizeof *v);
}

/* Maps `file` (in the runtime directory) with an engine configured for
 * `fuel` and prepares its linker and export indices. */
static eryx_error *variant_load(eryx_runtime *rt, eryx_variant *v, const char *file,
                                bool fuel) {
  char *cwasm = eryx__path_join(rt->dir, file);
  if (!cwasm)
    return eryx__error_new(ERYX_ERR_RESOURCES, "out of memory");
  eryx_error *err = check_is(cwasm, false);
  if (err) {
    free(cwasm);
    return err;
  }
  eryx_engine_limits limits = {rt->max_sandboxes};
  wasm_config_t *config = eryx__engine_config(&limits, fuel);
  if (!config) {
    free(cwasm);
    return eryx__error_new(ERYX_ERR_RESOURCES, "cannot allocate engine config");
  }
  v->engine = wasm_engine_new_with_config(config); /* takes `config` */
  if (!v->engine) {
    free(cwasm);
    return eryx__error_new(ERYX_ERR_WASMTIME,
                           "cannot create the Wasmtime engine (not enough "
                           "address space for max_sandboxes?)");
  }
  wasmtime_error_t *werr =
      wasmtime_component_deserialize_file(v->engine, cwasm, &v->component);
  if (werr) {
    char *msg = eryx__wasmtime_message(werr);
    wasmtime_error_delete(werr);
    err = eryx__error_new(ERYX_ERR_RUNTIME_FILES,
                          "cannot load %s (was it built by this version of "
                          "Eryx?): %s",
                          cwasm, msg ? msg : "");
    free(msg);
    free(cwasm);
    return err;
  }
  free(cwasm);

  v->linker = wasmtime_component_linker_new(v->engine);
  if ((werr = eryx_linker_add_wasi(v->linker, eryx__blocking_check)))
    return eryx__error_from_wasmtime(werr, "cannot add WASI to the linker");
  if ((werr = eryx_linker_add_vfs(v->linker, &eryx__fs_hooks)))
    return eryx__error_from_wasmtime(werr, "cannot add the file tree to the linker");
  if ((werr = eryx__define_host_imports(v->linker)))
    return eryx__error_from_wasmtime(werr, "cannot define host imports");
  if ((werr = eryx_linker_add_net(v->linker, &eryx__net_hooks)))
    return eryx__error_from_wasmtime(werr, "cannot define the network imports");

  static const char execute[] = "execute", snapshot[] = "snapshot-state",
                    restore[] = "restore-state", warm_up[] = "warm-up";
  v->execute_index = wasmtime_component_get_export_index(
      v->component, NULL, execute, sizeof execute - 1);
  v->snapshot_index = wasmtime_component_get_export_index(
      v->component, NULL, snapshot, sizeof snapshot - 1);
  v->restore_index = wasmtime_component_get_export_index(
      v->component, NULL, restore, sizeof restore - 1);
  v->warm_up_index = wasmtime_component_get_export_index(
      v->component, NULL, warm_up, sizeof warm_up - 1);
  if (!v->execute_index || !v->snapshot_index || !v->restore_index || !v->warm_up_index)
    return eryx__error_new(ERYX_ERR_RUNTIME_FILES,
                           "the component lacks the execute/snapshot-state/"
                           "restore-state/warm-up exports (built by another Eryx?)");
  return NULL;
}

eryx_error *eryx__runtime_variant(eryx_runtime *rt, bool fuel, const eryx_variant **out) {
  if (!fuel) {
    *out = &rt->plain;
    return NULL;
  }
  eryx_variant *v = atomic_load(&rt->fuel);
  if (v) {
    *out = v;
    return NULL;
  }
  eryx_error *err = NULL;
  pthread_mutex_lock(&rt->fuel_mu);
  v = atomic_load(&rt->fuel);
  if (!v) {
    v = calloc(1, sizeof *v);
    err = v ? variant_load(rt, v, "eryx-fuel.cwasm", true)
            : eryx__error_new(ERYX_ERR_RESOURCES, "out of memory");
    if (err) {
      if (v)
        variant_free(v);
      free(v);
      v = NULL;
    } else {
      atomic_store(&rt->fuel, v);
    }
  }
  pthread_mutex_unlock(&rt->fuel_mu);
  *out = v;
  return err;
}

static void stop_ticker(eryx_runtime *rt) {
  pthread_mutex_lock(&rt->ticker_mu);
  rt->ticker_stop = true;
  pthread_cond_signal(&rt->ticker_cv);
  pthread_mutex_unlock(&rt->ticker_mu);
  pthread_join(rt->ticker, NULL);
}

eryx_warm_pool *eryx__runtime_warm_pool(eryx_runtime *rt) { return rt->pool; }

static eryx_error *load(eryx_runtime *rt, const eryx_runtime_options *opts) {
  const char *dir;
  size_t dir_len;
  eryx_error *err = eryx__runtime_resolve_dir(opts, &dir, &dir_len);
  if (err)
    return err;
  rt->dir = eryx__strndup(dir, dir_len);
  rt->stdlib_dir = rt->dir ? eryx__path_join(rt->dir, "python") : NULL;
  if (!rt->dir || !rt->stdlib_dir)
    return eryx__error_new(ERYX_ERR_RESOURCES, "out of memory");
  if ((err = check_is(rt->stdlib_dir, true)))
    return err;
  if ((err = eryx__manifest_read(rt->dir, &rt->manifest)))
    return err;
  rt->max_sandboxes = opts ? opts->max_sandboxes : 0;
  if (!rt->max_sandboxes && getenv("ERYX_MAX_SANDBOXES")) {
    char *end;
    unsigned long n = strtoul(getenv("ERYX_MAX_SANDBOXES"), &end, 10);
    if (*end || n == 0 || n > 1000000)
      return eryx__error_new(ERYX_ERR_INVALID_ARGUMENT,
                             "ERYX_MAX_SANDBOXES must be a whole number from 1 to 1000000");
    rt->max_sandboxes = (uint32_t)n;
  }
  return variant_load(rt, &rt->plain, "eryx.cwasm", false);
}

/* Starts one of the library's own threads (the epoch ticker, the
 * warm-instance thread) with the process's asynchronous signals blocked,
 * so that a SIGINT, SIGTERM or SIGCHLD meant for the application goes to
 * one of its threads (a REPL waiting for input must see its Ctrl-C). The
 * signals Wasmtime traps with (SIGSEGV, SIGBUS, SIGILL, SIGFPE) stay
 * open: wasm runs on the warm-instance thread. */
int eryx__thread_start(pthread_t *t, void *(*fn)(void *), void *arg) {
  sigset_t all, old;
  sigfillset(&all);
  sigdelset(&all, SIGSEGV);
  sigdelset(&all, SIGBUS);
  sigdelset(&all, SIGILL);
  sigdelset(&all, SIGFPE);
  sigdelset(&all, SIGTRAP);
  pthread_sigmask(SIG_BLOCK, &all, &old);
  int rc = pthread_create(t, NULL, fn, arg);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  return rc;
}

eryx_error *eryx_runtime_new(const eryx_runtime_options *opts,
                             eryx_runtime **out) {
  if (!out)
    return eryx__error_new(ERYX_ERR_INVALID_ARGUMENT, "out is NULL");
  *out = NULL;
  if (opts && (opts->version < 1 || opts->version > ERYX_RUNTIME_OPTIONS_VERSION))
    return eryx__error_new(ERYX_ERR_INVALID_ARGUMENT,
                           "unsupported eryx_runtime_options version %u",
                           opts->version);
  eryx_runtime *rt = calloc(1, sizeof *rt);
  if (!rt)
    return eryx__error_new(ERYX_ERR_RESOURCES, "out of memory");
  pthread_mutex_init(&rt->ticker_mu, NULL);
  pthread_cond_init(&rt->ticker_cv, NULL);
  pthread_mutex_init(&rt->fuel_mu, NULL);

  eryx_error *err = load(rt, opts);
  bool ticking = false;
  if (!err) {
    ticking = eryx__thread_start(&rt->ticker, ticker_main, rt) == 0;
    if (!ticking)
      err = eryx__error_new(ERYX_ERR_RESOURCES, "cannot start the epoch ticker");
  }
  int warm = opts ? opts->warm_instances : 0;
  size_t target = warm < 0 ? 0 : warm == 0 ? DEFAULT_WARM : (size_t)warm;
  size_t slots = rt->max_sandboxes ? rt->max_sandboxes : 1000;
  if (target > slots / 2)
    target = slots / 2; /* warm instances hold slots */
  if (!err)
    err = eryx__warm_pool_new(rt, target, &rt->pool);
  if (err) {
    if (ticking)
      stop_ticker(rt);
    variant_free(&rt->plain);
    eryx__manifest_free(&rt->manifest);
    free(rt->dir);
    free(rt->stdlib_dir);
    pthread_mutex_destroy(&rt->ticker_mu);
    pthread_cond_destroy(&rt->ticker_cv);
    pthread_mutex_destroy(&rt->fuel_mu);
    free(rt);
    return err;
  }
  *out = rt;
  return NULL;
}

void eryx_runtime_free(eryx_runtime *rt) {
  if (!rt)
    return;
  eryx__warm_pool_free(rt->pool);
  stop_ticker(rt);
  variant_free(&rt->plain);
  eryx_variant *fuel = atomic_load(&rt->fuel);
  if (fuel) {
    variant_free(fuel);
    free(fuel);
  }
  eryx__manifest_free(&rt->manifest);
  free(rt->dir);
  free(rt->stdlib_dir);
  pthread_mutex_destroy(&rt->fuel_mu);
  pthread_mutex_destroy(&rt->ticker_mu);
  pthread_cond_destroy(&rt->ticker_cv);
  free(rt);
}

const char *eryx_runtime_dir(const eryx_runtime *rt, size_t *len) {
  if (len)
    *len = rt ? strlen(rt->dir) : 0;
  return rt ? rt->dir : "";
}

const char *eryx_runtime_imports_json(const eryx_runtime *rt, size_t *len) {
  const char *s = rt && rt->manifest.imports_json ? rt->manifest.imports_json : "[]";
  if (len)
    *len = strlen(s);
  return s;
}

const char *eryx_runtime_packages_json(const eryx_runtime *rt, size_t *len) {
  const char *s = rt && rt->manifest.packages_json ? rt->manifest.packages_json : "[]";
  if (len)
    *len = strlen(s);
  return s;
}

uint64_t eryx_runtime_size_bytes(const eryx_runtime *rt) {
  return rt ? eryx__tree_size(rt->dir) : 0;
}

/* An empty directory may be replaced; anything else in the way is not. */
eryx_error *eryx__check_output_dir(const char *dir) {
  struct stat st;
  if (lstat(dir, &st) != 0)
    return NULL;
  if (S_ISDIR(st.st_mode) && rmdir(dir) == 0)
    return NULL;
  return eryx__error_new(ERYX_ERR_INVALID_ARGUMENT,
                         "%s already exists and is not an empty directory: choose a new path",
                         dir);
}

eryx_error *eryx_runtime_save(const eryx_runtime *rt, const char *dir, size_t dir_len) {
  if (!rt || !dir || !dir_len)
    return eryx__error_new(ERYX_ERR_INVALID_ARGUMENT, "rt and dir are required");
  while (dir_len > 1 && dir[dir_len - 1] == '/')
    dir_len--;
  if (memchr(dir, '\0', dir_len))
    return eryx__error_new(ERYX_ERR_INVALID_ARGUMENT, "dir holds a NUL byte");
  char *to = eryx__strndup(dir, dir_len), *tmp = malloc(dir_len + 32);
  eryx_error *err = !to || !tmp ? eryx__error_new(ERYX_ERR_RESOURCES, "out of memory")
                                : eryx__check_output_dir(to);
  if (!err) {
    /* Staged beside the target, then renamed: never half a runtime there. */
    snprintf(tmp, dir_len + 32, "%s.tmp-%ld", to, (long)getpid());
    eryx__tree_remove(tmp);
    err = eryx__tree_copy(rt->dir, tmp, false);
    if (!err && rename(tmp, to) != 0) {
      err = eryx__error_new(ERYX_ERR_PACKAGE, "cannot move the copy to %s: %s", to,
                            strerror(errno));
      eryx__tree_remove(tmp);
    }
  }
  free(tmp);
  free(to);
  return err;
}
