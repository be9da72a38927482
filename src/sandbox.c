/*
 * sandbox.c — eryx_sandbox: one store + one instance of the Python component.
 *
 * A sandbox gives every execute a clean interpreter: the instance that ran
 * user code is dropped and a new one is instantiated before the next run.
 * With the pooling allocator and copy-on-write heap images this costs about
 * as much as clearing a namespace, and unlike clearing a namespace it also
 * undoes changes to builtins, sys.modules and the stdlib.
 *
 * Isolation comes from what the store's WASI context does not grant: no
 * environment variables, no arguments, empty stdin, no network, and only
 * read-only host preopens (the stdlib at /python, packages); the file
 * tree's mount is a preopen served from host memory (vfs_wasi.c), never a
 * host directory. Output written straight
 * to file descriptors 1 and 2 lands in per-store buffers, never on the
 * host's terminal.
 *
 * Deadlines: each execution sets an epoch deadline on its store; when the
 * ticker (runtime.c) reaches it, on_deadline() compares the monotonic clock
 * with the execution's wall-clock deadline and either extends the deadline
 * or interrupts the guest.
 *
 * Suspension (eryx_call_suspend) interrupts like a cancel: the epoch
 * callback and every host wait also look at the callback queue's
 * suspension flag, and the interrupt is then recorded as a suspension.
 */
#include "callbacks.h"
#include "journal.h"
#include "pkg/pkg.h"
#include "vfs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DEFAULT_TIMEOUT_MS 30000
#define DEFAULT_MAX_MEMORY ((uint64_t)128 << 20)
#define DEFAULT_MAX_OUTPUT ((uint64_t)16 << 20)
#define DEFAULT_MAX_RESULT ((uint64_t)16 << 20)
#define NO_DEADLINE_TICKS ((uint64_t)1 << 62)

enum interrupt_reason {
  INTERRUPT_NONE = 0,
  INTERRUPT_TIMEOUT = 1,
  INTERRUPT_CANCEL = 2,
  INTERRUPT_SUSPEND = 3
};

#define UNCOUNTED_FUEL ((uint64_t)1 << 62) /* instantiation, snapshots */

struct eryx_sandbox {
  eryx_runtime *rt;
  const eryx_variant *v; /* plain, or fuel-counting when counts_fuel */
  uint64_t max_fuel;     /* the budget; 0: none */
  bool counts_fuel;      /* max_fuel or count_fuel: the fuel variant */
  eryx_str *argv;        /* sys.argv (owned copies); argc 0: [""] */
  size_t argc;
  char *result_variable;
  size_t result_variable_len;
  uint64_t timeout_ms; /* UINT64_MAX: none */
  uint64_t max_memory_bytes;
  uint64_t max_output_bytes;
  uint64_t max_result_bytes;
  uint64_t max_vfs_bytes; /* 0: the tree's quota alone */
  eryx_output_fn on_stdout, on_stderr;
  void *output_user_data;
  eryx_trace_fn on_trace;
  void *trace_user_data;
  bool echo_expressions;
  eryx_callbacks callbacks;
  eryx_vfs *vfs;             /* NULL: none; a reference we hold */
  char *vfs_mount;           /* "" when there is no vfs */
  size_t vfs_mount_len;
  eryx_net_policy *net_policy; /* NULL: networking off */
  eryx_net_table *net_table;   /* the current execution's connections */
  eryx_secrets *secrets;       /* NULL: none */
  eryx__mounts packages;       /* the sandbox's packages, mounted at
                                  /packages/<i> and put on sys.path */
  eryx__mounts volumes;        /* host directories mounted on purpose */
  eryx__mounts volume_dirs;    /* private directories of file volumes */
  eryx_buf carry[2];           /* stdout, stderr: held back from the
                                  handlers until it is known not to be
                                  the start of a secret */

  wasmtime_store_t *store; /* NULL until instantiated */
  wasmtime_component_instance_t instance;
  wasmtime_component_func_t execute_fn;
  eryx_store_data *data;     /* owned by the store */
  eryx__memory_stats memory; /* of the current store; written by its limiter */
  bool instance_used;        /* ran user code: replace before next run */
  bool persistent;           /* a session's: keep instance and namespace */
  uint64_t generation;       /* bumped at every instantiation */

  uint64_t deadline_ns;      /* monotonic; only read by on_deadline */
  atomic_int interrupted;    /* enum interrupt_reason */
  atomic_bool running;       /* an execute is under way (for cancel) */
};


eryx_callbacks *eryx__sandbox_callbacks(eryx_sandbox *sb) { return &sb->callbacks; }

eryx_vfs *eryx__sandbox_vfs(eryx_sandbox *sb) { return sb->vfs; }

uint64_t eryx__sandbox_max_vfs(const eryx_sandbox *sb) { return sb->max_vfs_bytes; }

const char *eryx__sandbox_vfs_mount(eryx_sandbox *sb, size_t *len) {
  *len = sb->vfs_mount_len;
  return sb->vfs_mount ? sb->vfs_mount : "";
}

const eryx__mounts *eryx__sandbox_packages(eryx_sandbox *sb) { return &sb->packages; }

const eryx_net_policy *eryx__sandbox_net_policy(eryx_sandbox *sb) { return sb->net_policy; }

const eryx_secrets *eryx__sandbox_secrets(eryx_sandbox *sb) { return sb ? sb->secrets : NULL; }

eryx_net_table *eryx__sandbox_net_table(eryx_sandbox *sb) { return sb->net_table; }

/* An absolute, normalized mount path other than "/" and outside /python
 * (the stdlib mount). Trailing slashes are dropped. */
static eryx_error *set_mount(eryx_sandbox *sb, const eryx_sandbox_options *o) {
  const char *p = o->vfs_mount_path ? o->vfs_mount_path : "/data";
  size_t n = o->vfs_mount_path ? o->vfs_mount_path_len : strlen("/data");
  while (n > 1 && p[n - 1] == '/')
    n--;
  bool ok = n > 1 && p[0] == '/' && eryx__utf8_valid(p, n) &&
            eryx__vfs_check_path(p + 1, n - 1) == 0 &&
            !(n >= 7 && memcmp(p, "/python", 7) == 0 && (n == 7 || p[7] == '/'));
  if (!ok)
    return eryx__error_new(ERYX_ERR_INVALID_ARGUMENT,
                           "vfs_mount_path must be an absolute path like /data "
                           "(not /, not under /python, no . or ..)");
  if (!(sb->vfs_mount = eryx__strndup(p, n)))
    return eryx__error_new(ERYX_ERR_RESOURCES, "out of memory");
  sb->vfs_mount_len = n;
  return NULL;
}

uint64_t eryx__sandbox_deadline(eryx_sandbox *sb) { return sb->deadline_ns; }

/* Ends the guest: records a suspension when a host function asked for
 * one, else a timeout, unless a cancel came first. */
wasmtime_error_t *eryx__sandbox_timed_out(eryx_sandbox *sb) {
  int none = INTERRUPT_NONE;
  int why = eryx__callbacks_suspended(&sb->callbacks) ? INTERRUPT_SUSPEND : INTERRUPT_TIMEOUT;
  atomic_compare_exchange_strong(&sb->interrupted, &none, why);
  return wasmtime_error_new("eryx: execution interrupted");
}

wasmtime_error_t *eryx__sandbox_check_suspended(eryx_sandbox *sb) {
  return sb && eryx__callbacks_suspended(&sb->callbacks) ? eryx__sandbox_timed_out(sb) : NULL;
}

bool eryx__sandbox_halted(const eryx_sandbox *sb) { return sb->store == NULL; }

int eryx_sandbox_cancel(eryx_sandbox *sb) {
  if (!sb || !atomic_load(&sb->running))
    return 0;
  int none = INTERRUPT_NONE;
  atomic_compare_exchange_strong(&sb->interrupted, &none, INTERRUPT_CANCEL);
  /* Running wasm notices at the next epoch tick (on_deadline); a guest
   * blocked in callback-wait or sleep is woken here. */
  eryx__callbacks_wake(&sb->callbacks);
  return 1;
}

wasmtime_error_t *eryx__sandbox_sleep(eryx_sandbox *sb, uint64_t ns) {
  uint64_t now = eryx__now_ns();
  uint64_t until = ns > UINT64_MAX - now ? UINT64_MAX : now + ns;
  bool limited = sb->deadline_ns != UINT64_MAX && until >= sb->deadline_ns;
  if (limited)
    until = sb->deadline_ns;
  bool stopped = eryx__callbacks_sleep(&sb->callbacks, until);
  return stopped || limited ? eryx__sandbox_timed_out(sb) : NULL;
}

static bool scrubs_stream(const eryx_sandbox *sb, int which) {
  return eryx__secrets_scrubs(sb->secrets,
                              which == 1 ? ERYX__SCRUB_STDOUT : ERYX__SCRUB_STDERR);
}

void eryx__sandbox_emit(eryx_sandbox *sb, int which, const char *text,
                        size_t len) {
  eryx_output_fn fn = which == 1 ? sb->on_stdout : sb->on_stderr;
  if (!fn || !len)
    return;
  if (!scrubs_stream(sb, which)) {
    fn(sb->output_user_data, text, len);
    return;
  }
  eryx_buf b = {0};
  eryx__scrub_stream(sb->secrets, &sb->carry[which - 1], text, len, &b);
  if (b.len && !b.oom)
    fn(sb->output_user_data, b.data, b.len);
  eryx__buf_free(&b);
}

/* The end of an execution's streams: what the carry-overs held back. */
static void end_streams(eryx_sandbox *sb, bool truncated) {
  for (int which = 1; which <= 2; which++) {
    eryx_output_fn fn = which == 1 ? sb->on_stdout : sb->on_stderr;
    eryx_buf b = {0};
    eryx__scrub_stream_end(sb->secrets, &sb->carry[which - 1], truncated, &b);
    if (fn && b.len && !b.oom)
      fn(sb->output_user_data, b.data, b.len);
    eryx__buf_free(&b);
  }
}

void eryx__sandbox_trace(eryx_sandbox *sb, const eryx_trace_event *ev) {
  if (!sb->on_trace)
    return;
  if (!sb->secrets) {
    sb->on_trace(sb->trace_user_data, ev);
    return;
  }
  eryx_buf fn = {0}, detail = {0};
  eryx__scrub_append(sb->secrets, &fn, ev->function, ev->function_len);
  eryx__scrub_append(sb->secrets, &detail, ev->detail, ev->detail_len);
  if (!fn.oom && !detail.oom) {
    eryx_trace_event e = *ev;
    e.function = fn.data ? fn.data : "";
    e.function_len = fn.len;
    e.detail = detail.data ? detail.data : "";
    e.detail_len = detail.len;
    sb->on_trace(sb->trace_user_data, &e);
  }
  eryx__buf_free(&fn);
  eryx__buf_free(&detail);
}

size_t eryx__output_take(eryx_store_data *d, const char *text, size_t n) {
  uint64_t cap = d->sandbox ? eryx__sandbox_max_output(d->sandbox) : 0;
  uint64_t room = d->output_kept >= cap ? 0 : cap - d->output_kept;
  size_t keep = n <= room ? n : eryx__utf8_prefix(text, n, (size_t)room);
  if (keep < n)
    d->output_truncated = true;
  d->output_kept += keep;
  return keep;
}

/* emit-output: text the guest hands over during the run, kept (so that it
 * survives a timeout or cancel) and streamed, within the output budget. */
void eryx__sandbox_keep_output(eryx_sandbox *sb, int which, const char *text,
                               size_t len) {
  if (!sb->data || (which != 1 && which != 2))
    return;
  size_t keep = eryx__output_take(sb->data, text, len);
  eryx__buf_append(which == 1 ? &sb->data->early_stdout : &sb->data->early_stderr,
                   text, keep);
  eryx__sandbox_emit(sb, which, text, keep);
}

/* WASI stdout/stderr sinks: keep the bytes (and stream them when asked),
 * and tell the guest everything was written. */
static wasmtime_error_t *on_deadline(wasmtime_context_t *ctx, void *arg,
                                     uint64_t *delta,
                                     wasmtime_update_deadline_kind_t *kind) {
  (void)ctx;
  eryx_sandbox *sb = arg;
  *kind = WASMTIME_UPDATE_DEADLINE_CONTINUE;
  /* Called at every tick while wasm runs: that is how a cancel from another
   * thread reaches code that never calls the host. */
  *delta = 1;
  if (atomic_load(&sb->interrupted) != INTERRUPT_NONE ||
      eryx__callbacks_suspended(&sb->callbacks))
    return eryx__sandbox_timed_out(sb);
  if (eryx__now_ns() >= sb->deadline_ns)
    return eryx__sandbox_timed_out(sb);
  return NULL;
}

static void drop_instance(eryx_sandbox *sb) {
  if (sb->store) {
    sb->data->sandbox = NULL; /* the store may outlive `sb` a little */
    eryx__warm_pool_discard(eryx__runtime_warm_pool(sb->rt), sb->store); /* frees sb->data */
  }
  sb->store = NULL;
  sb->data = NULL;
  sb->instance_used = false;
}

/* A warm instance from the runtime's pool that fits this sandbox (not for
 * fuel counting; not if it already holds more memory than the sandbox's
 * cap), waiting up to `wait_ms` for one being made; NULL if none. */
static eryx_warm *take_warm(eryx_sandbox *sb, uint64_t wait_ms) {
  if (sb->counts_fuel || sb->packages.count || sb->volumes.count) /* warm ones have no mounts */
    return NULL;
  eryx_warm *w = eryx__warm_pool_take(eryx__runtime_warm_pool(sb->rt), wait_ms);
  if (w && w->memory.current > sb->max_memory_bytes) {
    eryx__warm_free(w);
    w = NULL;
  }
  return w;
}

/* Gives the sandbox a fresh instance: a warm one when it can, else a new
 * instantiation. */
static eryx_error *instantiate(eryx_sandbox *sb) {
  int64_t mem = sb->max_memory_bytes > INT64_MAX ? -1 : (int64_t)sb->max_memory_bytes;
  eryx_instance inst;
  eryx_warm *w = take_warm(sb, 0);
  if (!w) {
    sb->memory = (eryx__memory_stats){0, 0};
    eryx__warm_pool_caller(eryx__runtime_warm_pool(sb->rt), true);
    eryx_error *err = eryx__instance_new(sb->rt, sb->v, mem, &sb->memory, sb->counts_fuel,
                                         &sb->packages, &sb->volumes, &inst);
    eryx__warm_pool_caller(eryx__runtime_warm_pool(sb->rt), false);
    /* Out of slots because the pool is filling one? Take that one. */
    if (err && (w = take_warm(sb, 2000))) {
      eryx_error_free(err);
      err = NULL;
    }
    if (err)
      return err;
  }
  if (w) {
    inst = w->inst;
    sb->memory = w->memory;
  }
  /* Now this sandbox's: its limits, its deadline checks, its output. */
  eryx_store_set_memory_limiter(inst.store, mem, &sb->memory);
  free(w); /* its stats were only read by the limiter just replaced */
  wasmtime_store_epoch_deadline_callback(inst.store, on_deadline, sb, NULL);
  inst.data->sandbox = sb;
  sb->store = inst.store;
  sb->data = inst.data;
  sb->instance = inst.instance;
  sb->execute_fn = inst.execute_fn;
  sb->instance_used = false;
  sb->generation++;
  return NULL;
}

uint64_t eryx__sandbox_max_output(const eryx_sandbox *sb) { return sb->max_output_bytes; }

uint64_t eryx__sandbox_max_memory(const eryx_sandbox *sb) { return sb->max_memory_bytes; }

void eryx__sandbox_set_persistent(eryx_sandbox *sb) { sb->persistent = true; }

const eryx_variant *eryx__sandbox_variant(eryx_sandbox *sb) { return sb->v; }

/* Gives the store `fuel` to spend, when this sandbox counts fuel. */
static void refuel(eryx_sandbox *sb, uint64_t fuel) {
  if (sb->counts_fuel) {
    wasmtime_error_t *werr = wasmtime_context_set_fuel(wasmtime_store_context(sb->store), fuel);
    if (werr)
      wasmtime_error_delete(werr);
  }
}

static uint64_t fuel_left(eryx_sandbox *sb) {
  uint64_t left = 0;
  if (sb->counts_fuel && sb->store) {
    wasmtime_error_t *werr = wasmtime_context_get_fuel(wasmtime_store_context(sb->store), &left);
    if (werr)
      wasmtime_error_delete(werr);
  }
  return left;
}

/* Calls into the guest under this sandbox's limits: a fresh deadline, the
 * epoch callback at every tick (timeouts and cancels), `fuel` to spend when
 * the sandbox counts fuel, and the ticker running. Every guest call goes
 * through here. */
static wasmtime_error_t *guarded_call(eryx_sandbox *sb, const wasmtime_component_func_t *fn,
                                      const wasmtime_component_val_t *args, size_t nargs,
                                      wasmtime_component_val_t *ret, uint64_t fuel) {
  wasmtime_context_t *ctx = wasmtime_store_context(sb->store);
  atomic_store(&sb->interrupted, INTERRUPT_NONE);
  sb->deadline_ns = eryx__deadline_after_ms(sb->timeout_ms);
  wasmtime_context_set_epoch_deadline(ctx, 1);
  refuel(sb, fuel);
  eryx__runtime_execution_begin(sb->rt);
  atomic_store(&sb->running, true);
  wasmtime_error_t *werr = wasmtime_component_func_call(fn, ctx, args, nargs, ret, 1);
  atomic_store(&sb->running, false);
  eryx__runtime_execution_end(sb->rt);
  return werr;
}

eryx_error *eryx__sandbox_call(eryx_sandbox *sb,
                               const wasmtime_component_export_index_t *export_index,
                               const wasmtime_component_val_t *args, size_t nargs,
                               wasmtime_component_val_t *ret) {
  if (!sb->store) {
    eryx_error *err = instantiate(sb);
    if (err)
      return err;
  }
  wasmtime_component_func_t fn;
  if (!wasmtime_component_instance_get_func(&sb->instance, wasmtime_store_context(sb->store),
                                            export_index, &fn))
    return eryx__error_new(ERYX_ERR_RUNTIME_FILES, "missing guest export");
  wasmtime_error_t *werr = guarded_call(sb, &fn, args, nargs, ret, UNCOUNTED_FUEL);
  if (!werr)
    return NULL;
  int why = atomic_load(&sb->interrupted);
  drop_instance(sb); /* a trapped instance must not run again */
  if (why != INTERRUPT_NONE) {
    wasmtime_error_delete(werr);
    return eryx__error_new(ERYX_ERR_RESOURCES, "%s",
                           why == INTERRUPT_CANCEL    ? "cancelled"
                           : why == INTERRUPT_SUSPEND ? "suspended"
                                                      : "timed out");
  }
  return eryx__error_from_wasmtime(werr, "the sandbox trapped");
}

uint64_t eryx__sandbox_generation(const eryx_sandbox *sb) { return sb->generation; }

eryx_error *eryx__sandbox_reinstantiate(eryx_sandbox *sb) {
  drop_instance(sb);
  return instantiate(sb);
}

/* The current instance is set aside as it is (nothing runs in it) and a
 * fresh one takes its place, without the file tree; trial_end keeps one of
 * the two and discards the other. Both stores' limiters write sb->memory,
 * but only the one that runs. An instance that never ran anything holds
 * nothing a fresh one would not: the trial then runs in it, and a failure
 * replaces it with a fresh one (the same state, without a second instance
 * in the common "new session, then restore" case). */
struct eryx__sandbox_trial {
  bool in_place;
  wasmtime_store_t *store;
  wasmtime_component_instance_t instance;
  wasmtime_component_func_t execute_fn;
  eryx_store_data *data;
  eryx__memory_stats memory;
  bool instance_used;
  uint64_t generation;
  eryx_vfs *vfs;
};

eryx_error *eryx__sandbox_trial_begin(eryx_sandbox *sb, eryx__sandbox_trial **out) {
  eryx__sandbox_trial *t = calloc(1, sizeof *t);
  if (!(*out = t))
    return eryx__error_new(ERYX_ERR_RESOURCES, "out of memory");
  *t = (eryx__sandbox_trial){sb->store && !sb->instance_used, sb->store, sb->instance,
                             sb->execute_fn, sb->data, sb->memory, sb->instance_used,
                             sb->generation, sb->vfs};
  sb->vfs = NULL; /* the fs import finds no tree while the trial runs */
  if (t->in_place)
    return NULL;
  sb->store = NULL;
  sb->data = NULL;
  eryx_error *err = instantiate(sb);
  if (err) {
    eryx__sandbox_trial_end(sb, t, false);
    *out = NULL;
  }
  return err;
}

void eryx__sandbox_trial_end(eryx_sandbox *sb, eryx__sandbox_trial *t, bool keep) {
  sb->vfs = t->vfs;
  if (keep) {
    if (sb->data) { /* what the trial printed belongs to no execution */
      eryx__buf_free(&sb->data->early_stdout);
      eryx__buf_free(&sb->data->early_stderr);
    }
    if (t->store && !t->in_place) {
      t->data->sandbox = NULL;
      eryx__warm_pool_discard(eryx__runtime_warm_pool(sb->rt), t->store);
    }
    sb->instance_used = true; /* it holds state now */
  } else if (t->in_place) {
    drop_instance(sb);
    eryx_error_free(instantiate(sb)); /* if it fails, the next call tries again */
  } else {
    drop_instance(sb);
    sb->store = t->store;
    sb->instance = t->instance;
    sb->execute_fn = t->execute_fn;
    sb->data = t->data;
    sb->memory = t->memory;
    sb->instance_used = t->instance_used;
  }
  sb->generation = t->generation; /* replaced on purpose: nothing was lost */
  free(t);
}

/* Each package checked (and unpacked into the cache once), then mounted
 * read-only at /packages/<i>. A WASI native wheel needs a factory, which
 * links its extensions into the component. */
#define ERYX_MAX_PACKAGES 64
#define BYTE_COMPILE_TIMEOUT_MS 120000

/* A package tree just unpacked into the cache is byte-compiled once, by
 * the sandbox's own CPython 3.14 (the host has no 3.14 to do it), in a
 * throwaway sandbox that mounts the tree writable and runs only this
 * code: no user code ever sees a writable mount. The .pyc files are
 * unchecked-hash ones (the tree never changes after it is published), so
 * every later sandbox imports the package without compiling it: that is
 * most of the time `import jinja2` took. A failure costs only speed. */
static void byte_compile(eryx_runtime *rt, const char *host_dir) {
  /* The tree is not on sys.path here: nothing of the package is imported
   * (compileall only reads it), so its code never runs with it writable. */
  static const char code[] =
      "import sys\nsys.path[:] = ['/python']\n"
      "import compileall, py_compile\n"
      "compileall.compile_dir('/packages/0', quiet=2, workers=1,\n"
      "    invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)\n";
  eryx_sandbox_options o = ERYX_SANDBOX_OPTIONS_INIT;
  o.timeout_ms = BYTE_COMPILE_TIMEOUT_MS;
  eryx_sandbox *sb = NULL;
  eryx_error *err = eryx_sandbox_new(rt, &o, &sb);
  if (!err) {
    drop_instance(sb);
    if (!eryx__mounts_add(&sb->packages, host_dir, "/packages/0")) {
      eryx_sandbox_free(sb);
      return;
    }
    sb->packages.items[0].writable = true;
    err = instantiate(sb);
  }
  eryx_result *r = NULL;
  if (!err)
    err = eryx_sandbox_execute(sb, code, sizeof code - 1, &r);
  eryx_result_free(r);
  eryx_error_free(err);
  eryx_sandbox_free(sb);
}

static eryx_error *set_packages(eryx_sandbox *sb, const eryx_sandbox_options *o) {
  if (!o || o->version < 5 || !o->package_count)
    return NULL;
  if (!o->packages)
    return eryx__error_new(ERYX_ERR_INVALID_ARGUMENT, "packages is NULL with package_count %zu",
                           o->package_count);
  if (o->package_count > ERYX_MAX_PACKAGES)
    return eryx__error_new(ERYX_ERR_INVALID_ARGUMENT, "at most %d packages per sandbox",
                           ERYX_MAX_PACKAGES);
  eryx__pkg_limits lim = {o->max_package_bytes, o->max_package_files, true};
  for (size_t i = 0; i < o->package_count; i++) {
    eryx__pkg pkg;
    eryx_error *err = eryx__pkg_prepare(o->packages[i].data, o->packages[i].len, &lim, &pkg);
    if (err)
      return err;
    if (pkg.has_native) {
      err = eryx__error_new(ERYX_ERR_PACKAGE,
                            "package %.*s: holds native extensions built for WASI, which a "
                            "plain sandbox cannot load: build a factory with it "
                            "(eryx_factory_build; Python: SandboxFactory(packages=[...]))",
                            (int)o->packages[i].len, o->packages[i].data);
      eryx__pkg_clear(&pkg);
      return err;
    }
    if (!pkg.cache_hit && pkg.in_cache) /* never the caller's own directory */
      byte_compile(sb->rt, pkg.host_dir);
    char guest[32];
    snprintf(guest, sizeof guest, "/packages/%zu", i);
    bool ok = eryx__mounts_add(&sb->packages, pkg.host_dir, guest);
    eryx__pkg_clear(&pkg);
    if (!ok)
      return eryx__error_new(ERYX_ERR_RESOURCES, "out of memory");
  }
  return NULL;
}

#define MAX_ARGC 4096
#define MAX_ARGV_BYTES ((size_t)1 << 20)

static void free_argv(eryx_sandbox *sb) {
  for (size_t i = 0; i < sb->argc; i++)
    free((char *)sb->argv[i].data);
  free(sb->argv);
  sb->argv = NULL;
  sb->argc = 0;
}

/* sys.argv: checked (UTF-8, no NUL, bounded) and copied. */
static eryx_error *copy_argv(eryx_sandbox *sb, const eryx_str *argv, size_t argc) {
  if (!argc)
    return NULL;
  if (!argv || argc > MAX_ARGC)
    return eryx__error_new(ERYX_ERR_INVALID_ARGUMENT,
                           "argv: %zu entries (at most %d, and argv must not be NULL)", argc,
                           MAX_ARGC);
  size_t total = 0;
  for (size_t i = 0; i < argc; i++) {
    if ((!argv[i].data && argv[i].len) || argv[i].len > MAX_ARGV_BYTES - total ||
        !eryx__utf8_valid(argv[i].data ? argv[i].data : "", argv[i].len) ||
        (argv[i].len && memchr(argv[i].data, '\0', argv[i].len)))
      return eryx__error_new(ERYX_ERR_INVALID_ARGUMENT,
                             "argv[%zu] is not UTF-8 text without NUL, or argv is over "
                             "1 MiB in all",
                             i);
    total += argv[i].len;
  }
  if (!(sb->argv = calloc(argc, sizeof *sb->argv)))
    return eryx__error_new(ERYX_ERR_RESOURCES, "out of memory");
  for (size_t i = 0; i < argc; i++) {
    char *copy = eryx__strndup(argv[i].data ? argv[i].data : "", argv[i].len);
    if (!copy) {
      sb->argc = i;
      free_argv(sb);
      return eryx__error_new(ERYX_ERR_RESOURCES, "out of memory");
    }
    sb->argv[i] = (eryx_str){copy, argv[i].len};
  }
  sb->argc = argc;
  return NULL;
}

eryx_error *eryx_sandbox_new(eryx_runtime *rt, const eryx_sandbox_options *opts,
                             eryx_sandbox **out) {
  if (!rt || !out)
    return eryx__error_new(ERYX_ERR_INVALID_ARGUMENT, "rt and out are required");
  *out = NULL;
  if (opts && (opts->version < 1 || opts->version > ERYX_SANDBOX_OPTIONS_VERSION))
    return eryx__error_new(ERYX_ERR_INVALID_ARGUMENT,
                           "unsupported eryx_sandbox_options version %u",
                           opts->version);
  const char *rv = "result";
  size_t rv_len = 6;
  if (opts && opts->result_variable) {
    rv = opts->result_variable;
    rv_len = opts->result_variable_len;
    if (!eryx__utf8_valid(rv, rv_len) || memchr(rv, '\0', rv_len))
      return eryx__error_new(ERYX_ERR_INVALID_ARGUMENT,
                             "result_variable is not valid UTF-8 text");
  }

  eryx_sandbox *sb = calloc(1, sizeof *sb);
  if (!sb || !(sb->result_variable = eryx__strndup(rv, rv_len))) {
    free(sb);
    return eryx__error_new(ERYX_ERR_RESOURCES, "out of memory");
  }
  sb->rt = rt;
  sb->result_variable_len = rv_len;
  sb->max_fuel = opts ? opts->max_fuel : 0;
  sb->counts_fuel = sb->max_fuel || (opts && opts->version >= 8 && opts->count_fuel);
  eryx_error *verr = eryx__runtime_variant(rt, sb->counts_fuel, &sb->v);
  if (verr) {
    free(sb->result_variable);
    free(sb);
    return verr;
  }
  sb->timeout_ms = opts && opts->timeout_ms ? opts->timeout_ms : DEFAULT_TIMEOUT_MS;
  sb->max_memory_bytes =
      opts && opts->max_memory_bytes ? opts->max_memory_bytes : DEFAULT_MAX_MEMORY;
  sb->max_output_bytes =
      opts && opts->max_output_bytes ? opts->max_output_bytes : DEFAULT_MAX_OUTPUT;
  sb->max_vfs_bytes = opts && opts->version >= 7 ? opts->max_vfs_bytes : 0;
  sb->max_result_bytes = opts && opts->version >= 2 && opts->max_result_bytes
                             ? opts->max_result_bytes
                             : DEFAULT_MAX_RESULT;
  sb->deadline_ns = UINT64_MAX;
  if (opts) {
    sb->on_stdout = opts->on_stdout;
    sb->on_stderr = opts->on_stderr;
    sb->output_user_data = opts->output_user_data;
    sb->on_trace = opts->on_trace;
    sb->echo_expressions = opts->echo_expressions != 0;
    sb->trace_user_data = opts->trace_user_data;
  }
  eryx_error *cerr = opts && opts->vfs ? set_mount(sb, opts) : NULL;
  if (!cerr && opts && opts->vfs)
    sb->vfs = eryx__vfs_ref(opts->vfs);
  if (!cerr)
    cerr = eryx__net_policy_from_options(opts, &sb->net_policy);
  if (!cerr)
    cerr = eryx__secrets_from_options(opts, &sb->secrets);
  if (!cerr)
    cerr = set_packages(sb, opts);
  if (!cerr)
    cerr = eryx__volumes_from_options(opts, sb->vfs ? sb->vfs_mount : "/data",
                                      sb->vfs ? sb->vfs_mount_len : 5, &sb->volumes,
                                      &sb->volume_dirs);
  if (!cerr && opts && opts->version >= 8)
    cerr = copy_argv(sb, opts->argv, opts->argc);
  if (!cerr)
    cerr = eryx__callbacks_init(&sb->callbacks, opts);
  if (cerr) {
    eryx_sandbox_free(sb);
    return cerr;
  }
  sb->callbacks.stop = &sb->interrupted;
  sb->callbacks.secrets = sb->secrets;

  eryx_error *err = instantiate(sb);
  if (err) {
    eryx_sandbox_free(sb);
    return err;
  }
  *out = sb;
  return NULL;
}

/* A pool's lease (sandbox_pool.c): the per-lease settings of `o` (limits,
 * output and trace handlers, callbacks) replace the sandbox's, and the
 * sandbox gets a fresh instance, so nothing of an earlier lease remains.
 * Everything else (network, secrets, packages, result variable) is the
 * pool's and stays. Not while an execution runs. */
eryx_error *eryx__sandbox_lease(eryx_sandbox *sb, const eryx_sandbox_options *o) {
  bool counts = o->max_fuel || (o->version >= 8 && o->count_fuel);
  bool fuel_changed = counts != sb->counts_fuel;
  const eryx_variant *v = sb->v;
  if (fuel_changed) {
    eryx_error *err = eryx__runtime_variant(sb->rt, counts, &v);
    if (err)
      return err;
  }
  eryx_callbacks fresh;
  memset(&fresh, 0, sizeof fresh);
  eryx_error *err = eryx__callbacks_init(&fresh, o);
  if (err)
    return err;
  eryx__callbacks_free(&sb->callbacks);
  sb->callbacks = fresh;
  sb->callbacks.stop = &sb->interrupted;
  sb->callbacks.secrets = sb->secrets;
  sb->max_fuel = o->max_fuel;
  sb->counts_fuel = counts;
  sb->v = v;
  sb->timeout_ms = o->timeout_ms ? o->timeout_ms : DEFAULT_TIMEOUT_MS;
  sb->max_memory_bytes = o->max_memory_bytes ? o->max_memory_bytes : DEFAULT_MAX_MEMORY;
  sb->max_output_bytes = o->max_output_bytes ? o->max_output_bytes : DEFAULT_MAX_OUTPUT;
  sb->max_result_bytes =
      o->version >= 2 && o->max_result_bytes ? o->max_result_bytes : DEFAULT_MAX_RESULT;
  sb->on_stdout = o->on_stdout;
  sb->on_stderr = o->on_stderr;
  sb->output_user_data = o->output_user_data;
  sb->on_trace = o->on_trace;
  sb->trace_user_data = o->trace_user_data;
  eryx__buf_free(&sb->carry[0]);
  eryx__buf_free(&sb->carry[1]);
  /* An instance that has run nothing (a lease taken from the idle stack)
   * only needs the new memory cap; one that ran code is replaced. */
  if (sb->store && !sb->instance_used && !fuel_changed &&
      sb->memory.current <= sb->max_memory_bytes) {
    int64_t mem = sb->max_memory_bytes > INT64_MAX ? -1 : (int64_t)sb->max_memory_bytes;
    eryx_store_set_memory_limiter(sb->store, mem, &sb->memory);
    return NULL;
  }
  drop_instance(sb);
  return instantiate(sb);
}

void eryx_sandbox_free(eryx_sandbox *sb) {
  if (!sb)
    return;
  drop_instance(sb);
  eryx__callbacks_free(&sb->callbacks);
  eryx__net_policy_free(sb->net_policy);
  eryx__secrets_free(sb->secrets);
  eryx__mounts_free(&sb->packages);
  eryx__volumes_free(&sb->volumes, &sb->volume_dirs);
  eryx__buf_free(&sb->carry[0]);
  eryx__buf_free(&sb->carry[1]);
  eryx_vfs_free(sb->vfs);
  free(sb->vfs_mount);
  free(sb->result_variable);
  free_argv(sb);
  free(sb);
}

void eryx_sandbox_set_timeout_ms(eryx_sandbox *sb, uint64_t timeout_ms) {
  if (sb)
    sb->timeout_ms = timeout_ms ? timeout_ms : DEFAULT_TIMEOUT_MS;
}

uint64_t eryx_sandbox_timeout_ms(const eryx_sandbox *sb) { return sb ? sb->timeout_ms : 0; }

eryx_error *eryx_sandbox_set_max_fuel(eryx_sandbox *sb, uint64_t max_fuel) {
  if (!sb)
    return eryx__error_new(ERYX_ERR_INVALID_ARGUMENT, "sandbox is NULL");
  if (!sb->counts_fuel)
    return eryx__error_new(ERYX_ERR_INVALID_ARGUMENT,
                           "this sandbox does not count fuel: create it with max_fuel or "
                           "count_fuel to change its fuel budget later");
  sb->max_fuel = max_fuel;
  return NULL;
}

uint64_t eryx_sandbox_max_fuel(const eryx_sandbox *sb) { return sb ? sb->max_fuel : 0; }

const char *eryx_sandbox_library_stubs(const eryx_sandbox *sb, size_t *len) {
  if (len)
    *len = sb->callbacks.stubs_len;
  return sb->callbacks.stubs ? sb->callbacks.stubs : "";
}

/* Moves the guest's outcome record into `r`. */
static bool read_outcome(const wasmtime_component_val_t *rec, eryx_result *r) {
  const wasmtime_component_val_t *status = eryx__val_field(rec, "status");
  const wasmtime_component_val_t *line = eryx__val_field(rec, "error-line");
  if (!status || status->kind != WASMTIME_COMPONENT_U8 || !line ||
      line->kind != WASMTIME_COMPONENT_U32)
    return false;
  switch (status->of.u8) {
  case 0: r->status = ERYX_STATUS_OK; break;
  case 1: r->status = ERYX_STATUS_SYNTAX; break;
  case 2: r->status = ERYX_STATUS_EXCEPTION; break;
  case 4: r->status = ERYX_STATUS_LIMIT; break; /* an uncaught MemoryError */
  default: r->status = ERYX_STATUS_INTERNAL; break;
  }
  r->error_line = line->of.u32;
  /* sys.exit(): option<u8>, so always a status in 0..255. */
  const wasmtime_component_val_t *code = eryx__val_field(rec, "exit-code");
  if (!code || code->kind != WASMTIME_COMPONENT_OPTION ||
      (code->of.option && code->of.option->kind != WASMTIME_COMPONENT_U8))
    return false;
  r->exit_code = code->of.option ? code->of.option->of.u8 : -1;
  const wasmtime_component_val_t *trunc = eryx__val_field(rec, "output-truncated");
  if (!trunc || trunc->kind != WASMTIME_COMPONENT_BOOL)
    return false;
  r->output_truncated = trunc->of.boolean;

  struct {
    const char *name;
    char **field;
    size_t *len;
  } strings[] = {
      {"stdout", &r->out, &r->out_len},
      {"stderr", &r->err, &r->err_len},
      {"result-json", &r->json, &r->json_len},
      {"result-error", &r->json_error, &r->json_error_len},
      {"error-type", &r->error_type, &r->error_type_len},
      {"error-message", &r->error_message, &r->error_message_len},
      {"traceback", &r->traceback, &r->traceback_len},
  };
  bool ok = true;
  for (size_t i = 0; i < sizeof strings / sizeof strings[0]; i++) {
    size_t len;
    char *s = eryx__val_dup_string(eryx__val_field(rec, strings[i].name), &len,
                                   &ok);
    if (!ok)
      return false;
    /* Keep the invariant that an empty field is the static default
     * ("" or NULL) set by eryx__result_new. */
    if (s && len > 0) {
      *strings[i].field = s;
      *strings[i].len = len;
    } else {
      free(s);
    }
  }
  return true;
}

/* The result variable's JSON is the guest's word: the host parses it
 * (serde_json) and checks its size; a result it refuses becomes a result
 * error, so a caller only ever sees JSON that any parser reads. */
static bool check_result(eryx_sandbox *sb, eryx_result *r) {
  if (!r->json)
    return true;
  char why[600];
  if (r->json_len > sb->max_result_bytes)
    snprintf(why, sizeof why, "the result is %zu bytes of JSON, over max_result_bytes (%llu)",
             r->json_len, (unsigned long long)sb->max_result_bytes);
  else if (eryx__json_check(r->json, r->json_len, why, sizeof why) == 0)
    return true;
  free(r->json);
  r->json = NULL;
  r->json_len = 0;
  if (r->json_error)
    free(r->json_error);
  r->json_error = eryx__strndup(why, strlen(why));
  r->json_error_len = r->json_error ? strlen(why) : 0;
  return r->json_error != NULL;
}

/* scrub_files: after each execution, no file of the tree holds a secret's
 * value or placeholder (a whole-file pass, so a value written in pieces is
 * caught too). A file the redaction would push over the quota is emptied. */
typedef struct {
  eryx_vfs *vfs;
  const eryx_secrets *secrets;
} scrub_files_ctx;

static void scrub_one_file(void *ud, const char *path, size_t path_len, int is_dir,
                           uint64_t size) {
  scrub_files_ctx *c = ud;
  if (is_dir || size == 0)
    return;
  uint8_t *data = NULL;
  size_t len = 0;
  eryx_error *err = eryx_vfs_read_file(c->vfs, path, path_len, &data, &len);
  if (err) {
    eryx_error_free(err);
    return;
  }
  eryx_buf b = {0};
  eryx__scrub_append(c->secrets, &b, (const char *)data, len);
  bool changed = b.oom || b.len != len || memcmp(b.data, data, len) != 0;
  if (changed) {
    err = b.oom ? eryx__error_new(ERYX_ERR_RESOURCES, "out of memory")
                : eryx_vfs_write_file(c->vfs, path, path_len, (const uint8_t *)b.data, b.len);
    if (err) {
      eryx_error_free(err);
      eryx_error_free(eryx_vfs_write_file(c->vfs, path, path_len, (const uint8_t *)"", 0));
    }
  }
  eryx__buf_free(&b);
  eryx_vfs_bytes_free(data);
}

static void scrub_files(eryx_sandbox *sb) {
  if (!sb->vfs || !eryx__secrets_scrubs(sb->secrets, ERYX__SCRUB_FILES))
    return;
  scrub_files_ctx c = {sb->vfs, sb->secrets};
  eryx_error_free(eryx_vfs_list(sb->vfs, scrub_one_file, &c));
}

/* What the guest reported, with every secret's value and placeholder
 * redacted (the result JSON only with scrub_result; it is checked as JSON
 * after that). Output is scrubbed once assembled. */
static bool scrub_outcome(eryx_sandbox *sb, eryx_result *r) {
  const eryx_secrets *s = sb->secrets;
  if (!s)
    return true;
  bool ok = eryx__scrub_field(s, &r->error_type, &r->error_type_len, false) &&
            eryx__scrub_field(s, &r->error_message, &r->error_message_len, false) &&
            eryx__scrub_field(s, &r->traceback, &r->traceback_len, false) &&
            eryx__scrub_field(s, &r->json_error, &r->json_error_len, false);
  if (ok && eryx__secrets_scrubs(s, ERYX__SCRUB_RESULT))
    ok = eryx__scrub_field(s, &r->json, &r->json_len, false);
  return ok;
}

/* The whole output of one stream: what reached the host during the run
 * (text the guest handed over and bytes written to fd 1/2, in the order
 * they came), then the rest it returned at the end (`*text`, which takes
 * what is left of the output budget). Empties the buffer. */
static bool assemble_output(eryx_store_data *d, char **text, size_t *len, eryx_buf *early) {
  bool ok = true;
  size_t keep = eryx__output_take(d, *text, *len);
  if (early->len || keep < *len) {
    eryx_buf b = {0};
    eryx__buf_append(&b, early->data, early->len);
    eryx__buf_append(&b, *text, keep);
    if (b.oom) {
      eryx__buf_free(&b);
      ok = false;
    } else {
      if (*len)
        free(*text); /* "" defaults are static and never freed */
      *text = eryx__buf_take(&b, len);
    }
  }
  eryx__buf_free(early);
  return ok;
}

eryx_error *eryx_sandbox_execute(eryx_sandbox *sb, const char *code,
                                 size_t code_len, eryx_result **out) {
  return eryx__sandbox_run(sb, code, code_len, false, NULL, out);
}

eryx_error *eryx_sandbox_execute_journal(eryx_sandbox *sb, const char *code, size_t code_len,
                                         const eryx_journal_options *opts, eryx_result **out) {
  if (!sb || !out || (!code && code_len))
    return eryx__error_new(ERYX_ERR_INVALID_ARGUMENT, "sandbox, code and out are required");
  *out = NULL;
  eryx__journal *j = NULL;
  eryx_error *err =
      eryx__journal_open(opts, code, code_len, sb->callbacks.max_invocations, &j);
  if (!err)
    err = eryx__sandbox_run(sb, code, code_len, false, j, out);
  eryx__journal_free(j);
  return err;
}

/* The suspended call's name, canonical arguments and reason into `r`. */
static bool set_suspended(eryx_result *r, const eryx_suspension *s) {
  size_t args_len = 0;
  char *args = s && s->args ? eryx__journal_canonical_args(s->args, s->args_len, &args_len)
                            : NULL;
  bool ok = (!s || !s->args || args) &&
            eryx__result_set_suspended(r, s && s->name ? s->name : "", s && s->name ? s->name_len : 0,
                                       args ? args : "", args_len,
                                       s && s->reason ? s->reason : "",
                                       s && s->reason ? s->reason_len : 0);
  free(args);
  return ok;
}

eryx_error *eryx__sandbox_run(eryx_sandbox *sb, const char *code, size_t code_len,
                              bool clear_first, eryx__journal *journal, eryx_result **out) {
  if (!sb || !out || (!code && code_len))
    return eryx__error_new(ERYX_ERR_INVALID_ARGUMENT,
                           "sandbox, code and out are required");
  *out = NULL;
  if (!code)
    code = "";
  if (!eryx__utf8_valid(code, code_len))
    return eryx__error_new(ERYX_ERR_INVALID_ARGUMENT,
                           "code is not valid UTF-8");

  if ((sb->instance_used && !sb->persistent) || !sb->store) {
    drop_instance(sb);
    eryx_error *err = instantiate(sb);
    if (err)
      return err;
  }
  eryx_result *r = eryx__result_new();
  if (!r)
    return eryx__error_new(ERYX_ERR_RESOURCES, "out of memory");

  /* A fresh placeholder per secret for this execution: os.environ. */
  size_t nsec = eryx__secrets_count(sb->secrets);
  if (nsec && !eryx__secrets_renew(sb->secrets)) {
    eryx_result_free(r);
    return eryx__error_new(ERYX_ERR_RESOURCES, "no randomness for the secrets' placeholders");
  }
  wasmtime_component_val_t *env_items = nsec ? calloc(nsec, 3 * sizeof *env_items) : NULL;
  if (nsec && !env_items) {
    eryx_result_free(r);
    return eryx__error_new(ERYX_ERR_RESOURCES, "out of memory");
  }
  for (size_t i = 0; i < nsec; i++) {
    wasmtime_component_val_t *pair = env_items + nsec + 2 * i;
    size_t nl, pl;
    const char *name = eryx__secrets_name(sb->secrets, i, &nl);
    const char *ph = eryx__secrets_placeholder(sb->secrets, i, &pl);
    eryx__val_string(&pair[0], name, nl);
    eryx__val_string(&pair[1], ph, pl);
    env_items[i].kind = WASMTIME_COMPONENT_TUPLE;
    env_items[i].of.tuple.size = 2;
    env_items[i].of.tuple.data = pair;
  }
  wasmtime_component_val_t *path_items =
      sb->packages.count ? calloc(sb->packages.count, sizeof *path_items) : NULL;
  if (sb->packages.count && !path_items) {
    eryx_result_free(r);
    free(env_items);
    return eryx__error_new(ERYX_ERR_RESOURCES, "out of memory");
  }
  for (size_t i = 0; i < sb->packages.count; i++)
    eryx__val_string(&path_items[i], sb->packages.items[i].guest,
                     strlen(sb->packages.items[i].guest));
  wasmtime_component_val_t *argv_items = sb->argc ? calloc(sb->argc, sizeof *argv_items) : NULL;
  if (sb->argc && !argv_items) {
    eryx_result_free(r);
    free(env_items);
    free(path_items);
    return eryx__error_new(ERYX_ERR_RESOURCES, "out of memory");
  }
  for (size_t i = 0; i < sb->argc; i++)
    eryx__val_string(&argv_items[i], sb->argv[i].data, sb->argv[i].len);
  wasmtime_component_valrecord_entry_t opt_fields[11];
  opt_fields[0].name.data = "result-variable";
  opt_fields[0].name.size = strlen("result-variable");
  eryx__val_string(&opt_fields[0].val, sb->result_variable,
                   sb->result_variable_len);
  opt_fields[1].name.data = "stream-output";
  opt_fields[1].name.size = strlen("stream-output");
  eryx__val_bool(&opt_fields[1].val, sb->on_stdout || sb->on_stderr);
  opt_fields[2].name.data = "max-output";
  opt_fields[2].name.size = strlen("max-output");
  opt_fields[2].val.kind = WASMTIME_COMPONENT_U64;
  opt_fields[2].val.of.u64 = sb->max_output_bytes;
  opt_fields[3].name.data = "trace";
  opt_fields[3].name.size = strlen("trace");
  eryx__val_bool(&opt_fields[3].val, sb->on_trace != NULL);
  opt_fields[4].name.data = "persistent";
  opt_fields[4].name.size = strlen("persistent");
  eryx__val_bool(&opt_fields[4].val, sb->persistent);
  opt_fields[5].name.data = "clear-first";
  opt_fields[5].name.size = strlen("clear-first");
  eryx__val_bool(&opt_fields[5].val, clear_first);
  opt_fields[6].name.data = "echo";
  opt_fields[6].name.size = strlen("echo");
  eryx__val_bool(&opt_fields[6].val, sb->echo_expressions);
  opt_fields[7].name.data = "vfs-mount";
  opt_fields[7].name.size = strlen("vfs-mount");
  eryx__val_string(&opt_fields[7].val, sb->vfs_mount ? sb->vfs_mount : "",
                   sb->vfs_mount_len);
  opt_fields[8].name.data = "environ";
  opt_fields[8].name.size = strlen("environ");
  opt_fields[8].val.kind = WASMTIME_COMPONENT_LIST;
  opt_fields[8].val.of.list.size = nsec;
  opt_fields[8].val.of.list.data = env_items;
  opt_fields[9].name.data = "sys-path";
  opt_fields[9].name.size = strlen("sys-path");
  opt_fields[9].val.kind = WASMTIME_COMPONENT_LIST;
  opt_fields[9].val.of.list.size = sb->packages.count;
  opt_fields[9].val.of.list.data = path_items;
  opt_fields[10].name.data = "argv";
  opt_fields[10].name.size = strlen("argv");
  opt_fields[10].val.kind = WASMTIME_COMPONENT_LIST;
  opt_fields[10].val.of.list.size = sb->argc;
  opt_fields[10].val.of.list.data = argv_items;
  wasmtime_component_val_t args[2];
  eryx__val_string(&args[0], code, code_len);
  args[1].kind = WASMTIME_COMPONENT_RECORD;
  args[1].of.record.size = 11;
  args[1].of.record.data = opt_fields;
  wasmtime_component_val_t ret;
  memset(&ret, 0, sizeof ret);

  sb->data->output_kept = 0;
  sb->data->output_truncated = false;
  uint64_t start = eryx__now_ns();
  eryx__callbacks_begin(&sb->callbacks, journal);
  /* Connections belong to this execution: all are closed when it ends. */
  if (sb->net_policy && !(sb->net_table = eryx__net_table_new())) {
    eryx_result_free(r);
    free(env_items);
    free(path_items);
    free(argv_items);
    eryx__callbacks_end(&sb->callbacks);
    return eryx__error_new(ERYX_ERR_RESOURCES, "out of memory");
  }
  eryx_error *ierr = eryx__secrets_install(sb->secrets, sb->net_table);
  if (ierr) {
    eryx__net_table_free(sb->net_table, NULL);
    sb->net_table = NULL;
    eryx_result_free(r);
    free(env_items);
    free(path_items);
    free(argv_items);
    eryx__callbacks_end(&sb->callbacks);
    return ierr;
  }
  wasmtime_error_t *werr = guarded_call(sb, &sb->execute_fn, args, 2, &ret,
                                        sb->max_fuel ? sb->max_fuel : UNCOUNTED_FUEL);
  free(env_items);
  free(path_items);
  free(argv_items);
  eryx__net_table_free(sb->net_table, &r->net);
  sb->net_table = NULL;
  uint64_t left = fuel_left(sb);
  r->fuel_consumed =
      sb->counts_fuel ? (sb->max_fuel ? sb->max_fuel : UNCOUNTED_FUEL) - left : 0;
  eryx__callbacks_end(&sb->callbacks); /* cancels calls still in flight */
  eryx_suspension *suspension = eryx__callbacks_take_suspension(&sb->callbacks);
  r->callback_invocations = sb->callbacks.invocations;
  r->peak_memory_bytes = sb->memory.peak;
  r->duration_ms = (double)(eryx__now_ns() - start) / 1e6;
  sb->instance_used = true;

  bool ok = true;
  if (werr) {
    char *msg = eryx__wasmtime_message(werr);
    wasmtime_error_delete(werr);
    int why = atomic_load(&sb->interrupted);
    if (why == INTERRUPT_NONE && sb->max_fuel && left == 0) {
      char text[96];
      snprintf(text, sizeof text, "execution used its fuel budget of %llu",
               (unsigned long long)sb->max_fuel);
      ok = eryx__result_set_error(r, ERYX_STATUS_LIMIT, "FuelExhausted", text, "");
    } else if (why == INTERRUPT_CANCEL) {
      ok = eryx__result_set_error(r, ERYX_STATUS_CANCELLED, "CancelledError",
                                  "the execution was cancelled", "");
    } else if (why == INTERRUPT_SUSPEND) {
      ok = set_suspended(r, suspension);
    } else if (why == INTERRUPT_TIMEOUT) {
      char text[96];
      snprintf(text, sizeof text, "execution exceeded the timeout of %llu ms",
               (unsigned long long)sb->timeout_ms);
      ok = eryx__result_set_error(r, ERYX_STATUS_LIMIT, "TimeoutError", text, "");
    } else if (msg && strstr(msg, "resource table has no free keys")) {
      char text[160];
      snprintf(text, sizeof text,
               "the code holds the most open files, streams and other handles one "
               "sandbox may (%d): close some",
               ERYX_MAX_HANDLES);
      ok = eryx__result_set_error(r, ERYX_STATUS_LIMIT, "HandleLimitError", text, "");
    } else {
      ok = eryx__result_set_error(r, ERYX_STATUS_INTERNAL, "Trap",
                                  msg ? msg : "the sandbox trapped", "");
    }
    free(msg);
  } else {
    ok = read_outcome(&ret, r) && scrub_outcome(sb, r) && check_result(sb, r);
    wasmtime_component_val_delete(&ret);
    if (!ok)
      eryx__result_set_error(r, ERYX_STATUS_INTERNAL, "ProtocolError",
                             "the guest returned a malformed outcome", "");
  }
  if (sb->data) {
    eryx_store_data *d = sb->data;
    ok = assemble_output(d, &r->out, &r->out_len, &d->early_stdout) &&
         assemble_output(d, &r->err, &r->err_len, &d->early_stderr) && ok;
    /* The host's count decides, whatever the guest reported. */
    r->output_truncated = r->output_truncated || d->output_truncated;
  }
  if (sb->secrets) {
    scrub_files(sb);
    end_streams(sb, r->output_truncated);
    if (eryx__secrets_scrubs(sb->secrets, ERYX__SCRUB_STDOUT))
      ok = eryx__scrub_field(sb->secrets, &r->out, &r->out_len, r->output_truncated) && ok;
    if (eryx__secrets_scrubs(sb->secrets, ERYX__SCRUB_STDERR))
      ok = eryx__scrub_field(sb->secrets, &r->err, &r->err_len, r->output_truncated) && ok;
  }
  eryx__suspension_free(suspension);
  if (journal) {
    r->replayed_callbacks = eryx__journal_replayed(journal);
    r->journal = eryx__journal_text(journal, &r->journal_len); /* NULL: out of memory */
  }
  if (werr)
    drop_instance(sb); /* a trapped instance must not run again */
  if ((!ok && r->status == ERYX_STATUS_OK) || (journal && !r->journal)) {
    eryx_result_free(r);
    return eryx__error_new(ERYX_ERR_RESOURCES, "out of memory");
  }
  *out = r;
  return NULL;
}
