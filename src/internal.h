/*
 * internal.h — declarations shared by the files of liberyx.
 *
 * Each .c file owns one concept; this header is how they meet. Nothing here
 * is part of the public API (see include/eryx.h).
 */
#ifndef ERYX_INTERNAL_H
#define ERYX_INTERNAL_H

#include "eryx.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <wasmtime.h>

/* ---- error.c ---- */
eryx_error *eryx__error_new(eryx_error_code code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Wraps (and frees) a Wasmtime error, prefixing `what`. */
eryx_error *eryx__error_from_wasmtime(wasmtime_error_t *werr, const char *what);
/* Copies a Wasmtime error's message into a malloc'd string (caller frees). */
char *eryx__wasmtime_message(const wasmtime_error_t *werr);

/* ---- buf.c: a growable byte buffer, always NUL-terminated ---- */
typedef struct eryx_buf {
  char *data;
  size_t len;
  size_t cap;
  bool oom; /* an append failed; the buffer holds what fit */
} eryx_buf;

void eryx__buf_append(eryx_buf *b, const char *s, size_t n);
/* Gives up ownership of the bytes (never NULL unless out of memory). */
char *eryx__buf_take(eryx_buf *b, size_t *len);
void eryx__buf_free(eryx_buf *b);

/* Copies n bytes into a fresh NUL-terminated allocation. */
char *eryx__strndup(const char *s, size_t n);
bool eryx__utf8_valid(const char *s, size_t n);
/* The longest prefix of s[0..n) of at most `max` bytes that does not cut a
 * UTF-8 sequence. */
size_t eryx__utf8_prefix(const char *s, size_t n, size_t max);
/* Appends s[0..n) with each byte that is not part of valid UTF-8 replaced
 * by U+FFFD, so the buffer stays valid UTF-8 whatever it is given. */
void eryx__buf_append_lossy(eryx_buf *b, const char *s, size_t n);

/* ---- json.c: JSON the host writes itself ---- */
void eryx__json_append_string(eryx_buf *b, const char *s, size_t n);

/* ---- deps/wasmtime/src/json.rs: JSON the host reads ----
 * Every JSON text from the guest is parsed here (serde_json): syntax,
 * nesting of at most 127 levels (serde_json's limit), numbers that fit a double, no lone
 * surrogates. Messages go to `msg` (NUL-terminated, at most `cap` bytes). */
#define ERYX_JSON_MAX_DEPTH 127
/* 0: acceptable JSON; 1: not, with the reason in `msg`. */
int eryx__json_check(const char *text, size_t len, char *msg, size_t cap);

/* A compiled JSON Schema (the jsonschema crate), owned by the caller. */
typedef struct eryx_schema eryx_schema;
/* `draft`: 0 reads `$schema` (2020-12 when absent); 4, 6, 7, 2019 or 2020
 * forces one. Refuses invalid schemas, unknown keywords and references to
 * other documents. NULL on failure, with the reason in `msg`. */
eryx_schema *eryx__schema_compile(const char *text, size_t len, int draft, char *msg,
                                  size_t cap);
/* 0 valid; 1 not acceptable JSON; 2 refused by the schema (why in `msg`). */
int eryx__schema_validate(const eryx_schema *s, const char *text, size_t len, char *msg,
                          size_t cap);
void eryx__schema_free(eryx_schema *s);

/* ---- base64.c ---- */
/* Encoded length of n bytes; encode writes exactly that many chars (no
 * NUL). decode: NULL on bad input (or OOM, then *oom is set). */
size_t eryx__base64_len(size_t n);
size_t eryx__base64_encode(char *dst, const uint8_t *p, size_t n);
uint8_t *eryx__base64_decode(const char *s, size_t n, size_t *out_len, bool *oom);

/* ---- engine.c: the one engine configuration (also used at build time) ---- */
typedef struct eryx_engine_limits {
  uint32_t max_sandboxes;
} eryx_engine_limits;
/* `fuel`: count instructions (consume_fuel). It changes the generated code,
 * so the component is compiled once per setting (eryx.cwasm and
 * eryx-fuel.cwasm). */
wasm_config_t *eryx__engine_config(const eryx_engine_limits *limits, bool fuel);

/* ---- runtime.c ---- */
/* pthread_create for the library's own threads: asynchronous signals
 * blocked in them (they are the application's), fault signals open. */
int eryx__thread_start(pthread_t *t, void *(*fn)(void *), void *arg);
/* One compiled form of the component and what is needed to instantiate it. */
typedef struct eryx_variant {
  wasm_engine_t *engine;
  wasmtime_component_t *component;
  wasmtime_component_linker_t *linker;
  wasmtime_component_export_index_t *execute_index;
  wasmtime_component_export_index_t *snapshot_index;
  wasmtime_component_export_index_t *restore_index;
  wasmtime_component_export_index_t *warm_up_index;
} eryx_variant;

typedef struct eryx_warm_pool eryx_warm_pool;

/* Host directories mounted read-only into an instance beside /python:
 * a factory's packages (every instance of that runtime) and a sandbox's
 * own packages. */
typedef struct eryx__mount {
  char *host;  /* absolute host path */
  char *guest; /* absolute guest path, e.g. "/2" or "/packages/0" */
  bool writable; /* only for the byte-compiling run over a new cache
                    entry (sandbox.c); every mount code can reach is not */
} eryx__mount;

typedef struct eryx__mounts {
  eryx__mount *items;
  size_t count;
} eryx__mounts;

/* Appends a copy of (host, guest); false when out of memory. */
bool eryx__mounts_add(eryx__mounts *m, const char *host, const char *guest);
void eryx__mounts_free(eryx__mounts *m);

/* ---- volumes.c: host directories and files mounted on purpose ---- */
/* The options' volumes checked and turned into mounts (`out`, with their
 * writable flags); the private directories made for file volumes go into
 * `private_dirs` (removed by eryx__volumes_free). On error the caller
 * still frees both with eryx__volumes_free. */
eryx_error *eryx__volumes_from_options(const eryx_sandbox_options *o, const char *vfs_mount,
                                       size_t vfs_len, eryx__mounts *out,
                                       eryx__mounts *private_dirs);
void eryx__volumes_free(eryx__mounts *mounts, eryx__mounts *private_dirs);

/* ---- manifest.c: eryx-runtime.json, what a factory runtime says of itself ---- */
typedef struct eryx__manifest {
  char *eryx_version;
  char *wasmtime_version;
  char *componentize_py_version;
  char *imports_json;  /* JSON array of module names ("[]") */
  char *packages_json; /* JSON array of package file names ("[]") */
  eryx__mounts mounts; /* host paths made absolute under the runtime dir */
} eryx__manifest;

/* Reads `dir`/eryx-runtime.json into `*m`. A missing file is a plain
 * runtime (empty manifest, NULL error). One written by another Eryx or
 * Wasmtime is ERYX_ERR_RUNTIME_FILES naming both versions. */
eryx_error *eryx__manifest_read(const char *dir, eryx__manifest *m);
/* Writes `dir`/eryx-runtime.json for a factory. `mount_dirs` are relative
 * to `dir`, one per guest path in `mount_guests`. */
eryx_error *eryx__manifest_write(const char *dir, const char *const *imports,
                                 size_t import_count, const char *const *packages,
                                 size_t package_count, const char *const *mount_guests,
                                 const char *const *mount_dirs, size_t mount_count);
void eryx__manifest_free(eryx__manifest *m);

/* ---- deps/wasmtime/src/snapshot_image.rs: build time ----
 * Sets the reference count of every object the guest listed at snapshot
 * time (guest/eryx_guest/heap_image.py) to CPython's immortal value, in the
 * component's memory image, in place. 0: done (*patched and *skipped set;
 * both 0 without a list); -1: a malformed component or list, the reason in
 * `msg` (NUL-terminated, at most `cap` bytes), the bytes unchanged. */
int eryx__snapshot_immortalize(unsigned char *wasm, size_t len, size_t *patched,
                               size_t *skipped, char *msg, size_t cap);

/* ---- factory.c: also used by tools/precompile.c ---- */
/* Makes the guest's snapshot objects immortal (eryx__snapshot_immortalize),
 * in place; a component whose guest left no list is unchanged. */
eryx_error *eryx__snapshot_prepare(unsigned char *wasm, size_t len);
/* Compiles a component with exactly the engine settings the runtime loads
 * it with (engine.c) and writes the .cwasm to `out`. */
eryx_error *eryx__precompile(const unsigned char *wasm, size_t len, const char *out,
                             bool fuel);
/* A whole file, malloc'd (NULL if it cannot be read). */
unsigned char *eryx__read_whole(const char *path, size_t *len);

/* ---- fsutil.c: the few whole-directory operations factories need ---- */
/* Copies the tree `from` into `to` (created; it must not exist), regular
 * files and directories only (a symbolic link is refused). Files are
 * hard-linked when `link_files` and the file system allows, else copied. */
eryx_error *eryx__tree_copy(const char *from, const char *to, bool link_files);
/* Copies one regular file to `to` (created; it must not exist), 0644. */
eryx_error *eryx__tree_copy_file(const char *from, const char *to);
/* Removes the tree at `path` (nothing if it does not exist). */
void eryx__tree_remove(const char *path);
/* Bytes of the regular files under `path`. */
uint64_t eryx__tree_size(const char *path);
/* NULL when `dir` does not exist or is an empty directory (removed, so
 * that a rename can put a new tree there); otherwise an error. */
eryx_error *eryx__check_output_dir(const char *dir);
/* `a` + "/" + `b`, malloc'd (NULL when out of memory). */
char *eryx__path_join(const char *a, const char *b);

struct eryx_runtime {
  eryx_variant plain;
  eryx_warm_pool *pool; /* warm instances of `plain` (NULL: none) */
  eryx_variant *_Atomic fuel; /* loaded on first use (fuel_mu) */
  pthread_mutex_t fuel_mu;
  char *dir;        /* the runtime directory */
  uint32_t max_sandboxes;
  char *stdlib_dir; /* host path mounted read-only at /python */
  eryx__manifest manifest; /* a factory's mounts, imports, packages */

  /* The epoch ticker: one thread for the whole runtime, awake only while
   * at least one execution is running. */
  pthread_t ticker;
  pthread_mutex_t ticker_mu;
  pthread_cond_t ticker_cv;
  unsigned active_executions;
  bool ticker_stop;
};

/* Milliseconds between two epoch ticks: the granularity of timeouts. */
#define ERYX_TICK_MS 2

/* The runtime directory `opts` names (runtime_dir, else ERYX_RUNTIME_DIR,
 * else the library's default); not NUL-terminated. */
eryx_error *eryx__runtime_resolve_dir(const eryx_runtime_options *opts, const char **dir,
                                      size_t *len);

/* runtime_dir.c: the build's runtime directory, or the installed one in an
 * installed copy of the library (never NULL; "" when there is none). */
const char *eryx__default_runtime_dir(void);

/* The plain or the fuel-counting variant (loading the latter if needed). */
eryx_error *eryx__runtime_variant(eryx_runtime *rt, bool fuel, const eryx_variant **out);

void eryx__runtime_execution_begin(eryx_runtime *rt);
void eryx__runtime_execution_end(eryx_runtime *rt);

/* ---- host_imports.c: the WIT `host` interface ---- */
wasmtime_error_t *eryx__define_host_imports(wasmtime_component_linker_t *linker);

/* ---- sandbox.c ---- */
/* Per-store state: everything a host import needs while the guest runs. */
typedef struct eryx_store_data {
  struct eryx_sandbox *sandbox;
  eryx_buf early_stdout; /* output that reached the host during the run:
                            text handed over and fd 1 bytes, in order */
  eryx_buf early_stderr;
  /* The output budget of the current execution (max_output_bytes), shared
   * by everything the guest hands over: emit-output, fd 1/2 and the
   * outcome's own text. Counted here, on the host, whatever the guest
   * runtime believes. */
  uint64_t output_kept;
  bool output_truncated; /* something was dropped */
} eryx_store_data;

/* How many of `n` bytes of output fit in the execution's remaining budget
 * (never cutting a UTF-8 sequence), counted as kept; sets
 * output_truncated when that is fewer than `n`. */
size_t eryx__output_take(eryx_store_data *d, const char *text, size_t n);

uint64_t eryx__sandbox_max_output(const struct eryx_sandbox *sb);

/* Forwards a chunk of output (which: 1 stdout, 2 stderr) to the sandbox's
 * live handler, if it has one. */
/* Keeps text the guest handed over before the end of the run (so that it
 * survives a timeout or cancel) and streams it. */
void eryx__sandbox_keep_output(struct eryx_sandbox *sb, int which, const char *text,
                               size_t len);
void eryx__sandbox_emit(struct eryx_sandbox *sb, int which, const char *text,
                        size_t len);

/* Session support (session.c): a persistent sandbox keeps its instance and
 * Python namespace between executions. `generation` changes whenever the
 * instance is replaced (reset, or after a trap), i.e. when state was lost. */
void eryx__sandbox_set_persistent(struct eryx_sandbox *sb);
/* `journal` (journal.h; NULL: none) records and replays the run's
 * callbacks; its text goes into the result. */
struct eryx__journal;
eryx_error *eryx__sandbox_run(struct eryx_sandbox *sb, const char *code,
                              size_t code_len, bool clear_first,
                              struct eryx__journal *journal, eryx_result **out);
/* True when the last execution was halted (timeout, cancel, suspension,
 * trap): its instance is gone and the next call makes a fresh one. */
bool eryx__sandbox_halted(const struct eryx_sandbox *sb);
eryx_error *eryx__sandbox_reinstantiate(struct eryx_sandbox *sb);
uint64_t eryx__sandbox_generation(const struct eryx_sandbox *sb);

/* Calls a guest export other than `execute` (snapshots) under the
 * sandbox's timeout and cancel; on a trap the instance is dropped and an
 * error returned. *ret must be freed with wasmtime_component_val_delete. */
eryx_error *eryx__sandbox_call(struct eryx_sandbox *sb,
                               const wasmtime_component_export_index_t *export_index,
                               const wasmtime_component_val_t *args, size_t nargs,
                               wasmtime_component_val_t *ret);
const eryx_variant *eryx__sandbox_variant(struct eryx_sandbox *sb);
/* A pool's lease: new limits, handlers and callbacks, and a fresh
 * instance (sandbox.c; see sandbox_pool.c). */
eryx_error *eryx__sandbox_lease(struct eryx_sandbox *sb, const eryx_sandbox_options *o);
/* The sandbox's package mounts (guest paths go on sys.path). */
const eryx__mounts *eryx__sandbox_packages(struct eryx_sandbox *sb);
/* A trial: begin sets the sandbox's instance aside untouched and gives it a
 * fresh one with no file tree mounted (for calls that must not change the
 * session unless they succeed: a restore); end keeps the fresh instance
 * (`keep`, the old one is discarded) or puts the old one back exactly as it
 * was. An instance that never ran anything is used as the fresh one (and
 * replaced by another fresh one on failure). The generation is unchanged
 * either way. Begin fails (and changes nothing) when no instance can be
 * made. */
typedef struct eryx__sandbox_trial eryx__sandbox_trial;
eryx_error *eryx__sandbox_trial_begin(struct eryx_sandbox *sb, eryx__sandbox_trial **out);
void eryx__sandbox_trial_end(struct eryx_sandbox *sb, eryx__sandbox_trial *t, bool keep);
/* The cap on the sandbox's linear memory, in bytes. */
uint64_t eryx__sandbox_max_memory(const struct eryx_sandbox *sb);
struct eryx_sandbox *eryx__session_sandbox(eryx_session *s);

/* Forwards a trace event to the sandbox's handler. */
void eryx__sandbox_trace(struct eryx_sandbox *sb, const eryx_trace_event *ev);

/* Blocks the calling (guest) thread for up to `ns` nanoseconds. Returns an
 * error (which traps the guest) when the execution's deadline passed
 * during the wait, so a sleep is never a way to outlive the timeout. */
wasmtime_error_t *eryx__sandbox_sleep(struct eryx_sandbox *sb, uint64_t ns);

/* The sandbox's callback state and the current execution's deadline
 * (monotonic ns; UINT64_MAX: none). */
struct eryx_callbacks *eryx__sandbox_callbacks(struct eryx_sandbox *sb);
uint64_t eryx__sandbox_deadline(struct eryx_sandbox *sb);
/* The sandbox's mounted file tree (NULL: none). */
eryx_vfs *eryx__sandbox_vfs(struct eryx_sandbox *sb);
/* Records a timeout (a suspension when one was asked for) and returns the
 * error that traps the guest. */
wasmtime_error_t *eryx__sandbox_timed_out(struct eryx_sandbox *sb);
/* The error that traps the guest when the execution was asked to suspend,
 * else NULL (host imports call it to halt at once). */
wasmtime_error_t *eryx__sandbox_check_suspended(struct eryx_sandbox *sb);

/* ---- result.c ---- */
/* What one execution's connections added up to (filled by Rust, see
 * eryx__net_table_free; the layout matches deps/wasmtime/src/net/conn.rs). */
typedef struct eryx_net_stats {
  uint64_t bytes_sent;
  uint64_t bytes_received;
  uint32_t connections;
} eryx_net_stats;

struct eryx_result {
  eryx_status status;
  char *out;
  size_t out_len;
  char *err;
  size_t err_len;
  char *json; /* NULL: no result */
  size_t json_len;
  char *json_error; /* NULL: none */
  size_t json_error_len;
  char *error_type;
  size_t error_type_len;
  char *error_message;
  size_t error_message_len;
  char *traceback;
  size_t traceback_len;
  uint32_t error_line;
  int exit_code; /* -1: the code did not raise SystemExit */
  double duration_ms;
  uint32_t callback_invocations;
  bool output_truncated;
  uint64_t fuel_consumed;
  uint64_t peak_memory_bytes;
  eryx_net_stats net;
  char *journal; /* NULL: not a journal execution */
  size_t journal_len;
  uint32_t replayed_callbacks;
  char *suspended_name; /* NULL unless ERYX_STATUS_SUSPENDED */
  size_t suspended_name_len;
  char *suspended_args;
  size_t suspended_args_len;
  char *suspended_reason;
  size_t suspended_reason_len;
};

/* ---- deps/wasmtime/src/memory_limiter.rs ---- */
/* Linear memory held by one store, summed over its memories. */
typedef struct {
  uint64_t current;
  uint64_t peak;
} eryx__memory_stats;
/* Caps the store's total linear memory at max_bytes (< 0: no cap) and keeps
 * `stats` up to date; `stats` must outlive the store. Growth past the cap
 * fails as memory.grow failure (MemoryError in Python). */
/* deps/wasmtime/src/handle_limit.rs: most entries of the store's WASI
 * resource table (open files, streams, ...); call after the WASI context
 * is set. */
void eryx_store_limit_handles(wasmtime_store_t *store, size_t max);
/* Open files, directories, streams and other WASI handles one sandbox may
 * hold at once: each open file under a host directory is a host file
 * descriptor, a resource of the whole process. */
#define ERYX_MAX_HANDLES 4096

void eryx_store_set_memory_limiter(wasmtime_store_t *store, int64_t max_bytes,
                                   void *stats);

/* ---- instance.c: a store with the component instantiated ---- */
typedef struct eryx_instance {
  wasmtime_store_t *store;
  eryx_store_data *data; /* owned by the store; `sandbox` NULL until taken */
  wasmtime_component_instance_t instance;
  wasmtime_component_func_t execute_fn;
} eryx_instance;
/* `max_memory` < 0: no cap. `stats` must outlive the store (or until the
 * limiter is replaced). */
eryx_error *eryx__instance_new(eryx_runtime *rt, const eryx_variant *v, int64_t max_memory,
                               eryx__memory_stats *stats, bool fuel,
                               const eryx__mounts *extra, const eryx__mounts *extra2,
                               eryx_instance *out);
void eryx__instance_free(eryx_instance *inst);

/* ---- warm_pool.c: warm instances made ahead by a background thread ---- */
typedef struct eryx_warm {
  eryx_instance inst;
  eryx__memory_stats memory; /* what its (uncapped) limiter counted */
} eryx_warm;
/* target 0: no pool (`*out` NULL). */
eryx_error *eryx__warm_pool_new(eryx_runtime *rt, size_t target, eryx_warm_pool **out);
/* A warm instance (owned by the caller), or NULL when none is ready within
 * `timeout_ms` (0: do not wait; waiting is for when the instance being made
 * holds the last sandbox slot). */
eryx_warm *eryx__warm_pool_take(eryx_warm_pool *p, uint64_t timeout_ms);
void eryx__warm_free(eryx_warm *w);
/* Deletes a used store, on the pool's thread when there is one. */
void eryx__warm_pool_discard(eryx_warm_pool *p, wasmtime_store_t *store);
/* A caller starts (`working`) or stops executing or instantiating; the
 * thread works only while none has for a moment. Lock-free; p may be NULL. */
void eryx__warm_pool_caller(eryx_warm_pool *p, bool working);
/* The calling thread's execution blocks (`blocked`) in a wait that uses no
 * CPU, or resumes: it rests meanwhile. Nothing when the thread runs no
 * execution of a runtime with a pool. */
void eryx__warm_pool_blocked(bool blocked);
/* Instances ready now (tests). */
size_t eryx__warm_pool_ready(eryx_warm_pool *p);
void eryx__warm_pool_free(eryx_warm_pool *p);
eryx_warm_pool *eryx__runtime_warm_pool(eryx_runtime *rt);

eryx_result *eryx__result_new(void);
/* Sets the error fields from C strings (copied). Returns false on OOM. */
bool eryx__result_set_error(eryx_result *r, eryx_status status,
                            const char *type, const char *message,
                            const char *traceback);
/* ERYX_STATUS_SUSPENDED, error type "Suspended", the reason as message,
 * and the call's name and canonical arguments (all copied). False: OOM. */
bool eryx__result_set_suspended(eryx_result *r, const char *name, size_t name_len,
                                const char *args, size_t args_len, const char *reason,
                                size_t reason_len);

/* ---- wit_values.c: reading and building component-model values ---- */
void eryx__val_string(wasmtime_component_val_t *v, const char *s, size_t n);
void eryx__val_bool(wasmtime_component_val_t *v, bool b);
/* Looks a field up in a record value; NULL if absent or not a record. */
const wasmtime_component_val_t *eryx__val_field(const wasmtime_component_val_t *rec,
                                                const char *name);
/* Copies a string value (or option<string>: NULL for none) into a fresh
 * NUL-terminated allocation. Sets *ok=false on type mismatch or OOM. */
char *eryx__val_dup_string(const wasmtime_component_val_t *v, size_t *len,
                           bool *ok);

/* ---- blocking.c: interruptible WASI waits (with deps/wasmtime/src/wasi_block.rs) ---- */
/* Asked by the WASI functions that can block while they wait. `store_data`
 * is the store's eryx_store_data. NULL: wait on, ask again after *wait_ns
 * (UINT64_MAX: never; no sandbox, so no limit). Otherwise the execution
 * must stop: the reason is recorded and the returned (owned) error traps
 * the guest. */
typedef wasmtime_error_t *(*eryx_blocking_check_fn)(void *store_data, uint64_t *wait_ns);
wasmtime_error_t *eryx__blocking_check(void *store_data, uint64_t *wait_ns);
/* Adds WASI p2 to the linker like wasmtime_component_linker_add_wasip2, with
 * every WASI function that can block (wasi:io/poll `poll` and
 * `pollable.block`, the `blocking-*` stream methods) asking `check`, so it
 * ends at the execution's deadline and on cancel. Defined in Rust (the hook
 * is passed in so that the Rust library needs no symbol of liberyx). */
wasmtime_error_t *eryx_linker_add_wasi(wasmtime_component_linker_t *linker,
                                       eryx_blocking_check_fn check);

/* ---- net.c + deps/wasmtime/src/net/: the WIT interface `eryx:sandbox/net` ----
 * C owns a compiled policy per sandbox (NULL: networking off) and a
 * connection table per execution; Rust makes and frees both and reaches
 * them from a store through the hooks below (function pointers, because
 * the Rust library cannot link against liberyx's symbols). */
typedef struct eryx_net_policy eryx_net_policy;
typedef struct eryx_net_table eryx_net_table;

/* Compiles the options (patterns, CAs); NULL with the reason in `msg`
 * (NUL-terminated, at most `cap` bytes). */
eryx_net_policy *eryx__net_policy_new(const eryx_net_options *opts, char *msg, size_t cap);
void eryx__net_policy_free(eryx_net_policy *p);
/* An empty table (NULL: out of memory). _free closes every connection and
 * writes the totals to `stats` (may be NULL). */
eryx_net_table *eryx__net_table_new(void);
void eryx__net_table_free(eryx_net_table *t, eryx_net_stats *stats);

/* Secrets (deps/wasmtime/src/net/secrets.rs, issue 18): values the guest
 * can have sent in HTTP/1.1 request header values to the hosts each secret
 * allows, while it only ever holds a placeholder. A sandbox compiles its
 * secrets once; each execution installs them into its table with that
 * execution's placeholders. The substitution happens on the send path of a
 * connection whose vetted target (the host name the guest connected to, and
 * the port) matches the secret's patterns, before TLS; nothing else ever
 * gets a value (no message, log or guest memory). */
typedef struct eryx_net_secrets eryx_net_secrets;

typedef struct eryx_net_secret_spec {
  /* 1 to 256 bytes of UTF-8, no NUL or '='; unique among the secrets. */
  eryx_str name;
  /* 1 to 16 KiB; no control byte but HTAB (a CR or LF would end the
   * header it is put in). */
  eryx_str value;
  /* Patterns with the syntax and matcher of eryx_net_options.allowed_hosts
   * ("api.example.com", "*.example.com:443", "127.0.0.1:8080"). None: the
   * secret goes nowhere. */
  const eryx_str *allowed_hosts;
  size_t allowed_hosts_count;
} eryx_net_secret_spec;

/* Compiles `count` specs (`specs` may be NULL when `count` is 0). Copies
 * everything: the caller keeps, and may wipe, its buffers. NULL with the
 * reason in `msg` (NUL-terminated, at most `cap` bytes; it names the
 * secret, never its value) when a spec or pattern is bad. Thread-safe;
 * the result is immutable and may be shared by threads. */
eryx_net_secrets *eryx__net_secrets_new(const eryx_net_secret_spec *specs, size_t count,
                                        char *msg, size_t cap);
/* Frees (and wipes) them; NULL: nothing. Tables they were installed into
 * keep their own reference, so this may come before those tables' _free. */
void eryx__net_secrets_free(eryx_net_secrets *s);
/* Installs `secrets` into `table` with this execution's placeholders:
 * `placeholders[i]` (8 to 256 printable ASCII bytes without spaces, none
 * part of another) stands for the i-th spec, and `count` must be the number
 * of specs. The table takes its own reference to `secrets` and copies the
 * placeholders (the caller keeps its buffers). Connections the guest opens
 * afterwards use them, so call it before the guest runs. `secrets` NULL
 * with `count` 0 removes them. 0 on success; -1 with the reason in `msg`
 * (nothing changed). Not thread-safe with the execution using `table`. */
int eryx__net_table_set_secrets(eryx_net_table *table, const eryx_net_secrets *secrets,
                                const eryx_str *placeholders, size_t count, char *msg,
                                size_t cap);

typedef struct eryx_net_hooks {
  /* eryx__blocking_check: asked between slices of every wait. */
  eryx_blocking_check_fn check;
  /* The store's sandbox's policy and its current execution's table (each
   * NULL when there is none). */
  void (*state)(void *store_data, const eryx_net_policy **policy, eryx_net_table **table);
  /* The callback queue's eventfd (readable while an answer waits), or -1. */
  int (*callback_fd)(void *store_data);
} eryx_net_hooks;

/* The hooks of net.c. */
extern const eryx_net_hooks eryx__net_hooks;

/* ---- vfs_wasi.c: the mount as a WASI preopen (deps/wasmtime/src/vfs_wasi.rs) ----
 * One request of Rust's on a tree. `ino` names the descriptor's entry (0:
 * the root), `path` a path relative to it ("" the entry itself); RENAME's
 * target is `ino2` + `path2`. READ copies into `out` (`out_len` bytes at
 * most). The result is a vfs_code, or one of the EFS_E* below. */
enum { EFS_STAT = 1, EFS_OPEN, EFS_READ, EFS_WRITE, EFS_SETSIZE, EFS_LIST, EFS_MKDIR,
       EFS_RMDIR, EFS_UNLINK, EFS_RENAME, EFS_UTIME,
       EFS_HOLD,     /* a descriptor of file `ino` was opened ... */
       EFS_RELEASE }; /* ... and closed: a removed file goes with the last */
#define EFS_O_CREATE 1u
#define EFS_O_EXCL 2u
#define EFS_O_TRUNC 4u
#define EFS_O_DIRECTORY 8u
#define EFS_APPEND 16u /* WRITE at the end of the file */
#define EFS_T_NOW 32u  /* UTIME: now */
#define EFS_T_SET 64u  /* UTIME: to `offset` ns */
#define EFS_EPERM 20   /* an absolute path, or ".." above the root */
typedef struct eryx_fs_req {
  uint32_t op, flags;
  uint64_t ino, ino2, offset, size;
  const char *path, *path2;
  size_t path_len, path2_len;
  const uint8_t *data;
  size_t data_len;
  uint8_t *out;
  size_t out_len;
} eryx_fs_req;
typedef struct eryx_fs_rep {
  uint64_t ino, size, mtime_ns, n;
  uint8_t dir;
  uint8_t *list; /* LIST: 'd' or 'f', name, '\0' per child; free with `free` */
  size_t list_len;
} eryx_fs_rep;
typedef struct eryx_fs_hooks {
  /* The store's sandbox's tree with a new reference (NULL: none now) and
   * its mount path ("" when it has no tree; valid while the sandbox lives). */
  void *(*tree)(void *store_data, const char **mount, size_t *mount_len);
  void (*release)(void *tree);
  int32_t (*call)(void *tree, const eryx_fs_req *req, eryx_fs_rep *rep);
  void (*free)(uint8_t *p);
} eryx_fs_hooks;
extern const eryx_fs_hooks eryx__fs_hooks;
const char *eryx__sandbox_vfs_mount(struct eryx_sandbox *sb, size_t *len);
uint64_t eryx__sandbox_max_vfs(const struct eryx_sandbox *sb);
/* After eryx_linker_add_wasi: the mount as a preopen of every store whose
 * sandbox has a tree, and wasi:filesystem on it. Defined in Rust. */
wasmtime_error_t *eryx_linker_add_vfs(wasmtime_component_linker_t *linker,
                                      const eryx_fs_hooks *hooks);

/* net.c: the sandbox's policy from its options (opts->network, version 3);
 * *out NULL when networking is off. */
eryx_error *eryx__net_policy_from_options(const eryx_sandbox_options *opts,
                                          eryx_net_policy **out);
/* The sandbox's policy and current table (sandbox.c). */
const eryx_net_policy *eryx__sandbox_net_policy(struct eryx_sandbox *sb);
eryx_net_table *eryx__sandbox_net_table(struct eryx_sandbox *sb);

/* Defines the interface on the linker (Rust; `hooks` is copied). */
wasmtime_error_t *eryx_linker_add_net(wasmtime_component_linker_t *linker,
                                      const eryx_net_hooks *hooks);

/* ---- secrets.c: a sandbox's secrets, placeholders and scrubbing ---- */
typedef struct eryx_secrets eryx_secrets;
enum { ERYX__SCRUB_STDOUT = 0, ERYX__SCRUB_STDERR, ERYX__SCRUB_RESULT, ERYX__SCRUB_FILES };
/* Checks and copies opts->secrets (version 4); *out NULL when there are
 * none. The placeholders are drawn already. */
eryx_error *eryx__secrets_from_options(const eryx_sandbox_options *opts, eryx_secrets **out);
void eryx__secrets_free(eryx_secrets *s);
/* Fresh placeholders (for each execution); false when the host has no
 * randomness to give. */
bool eryx__secrets_renew(eryx_secrets *s);
size_t eryx__secrets_count(const eryx_secrets *s); /* 0 for NULL */
/* Whether the switch ERYX__SCRUB_* is on (false for NULL). */
bool eryx__secrets_scrubs(const eryx_secrets *s, int what);
const char *eryx__secrets_name(const eryx_secrets *s, size_t i, size_t *len);
const char *eryx__secrets_value(const eryx_secrets *s, size_t i, size_t *len);
const char *eryx__secrets_placeholder(const eryx_secrets *s, size_t i, size_t *len);
const eryx_str *eryx__secrets_hosts(const eryx_secrets *s, size_t i, size_t *count);
/* Replaces, in a malloc'd string (or a static "" when *len is 0), every
 * value and current placeholder by "[REDACTED]"; with `cut_tail`, also a
 * value's start that the text ends with (the text was cut short). False:
 * out of memory (the field is unchanged). A NULL `s` changes nothing. */
bool eryx__scrub_field(const eryx_secrets *s, char **field, size_t *len, bool cut_tail);
/* Appends t[0..n) scrubbed (as is for a NULL `s`). */
void eryx__scrub_append(const eryx_secrets *s, eryx_buf *out, const char *t, size_t n);
/* Streams: appends to `out` what of carry + t[0..n) can be passed on
 * scrubbed, keeping in `carry` a tail that may be a pattern's start. _end
 * passes on the rest and empties `carry`. */
void eryx__scrub_stream(const eryx_secrets *s, eryx_buf *carry, const char *t, size_t n,
                        eryx_buf *out);
void eryx__scrub_stream_end(const eryx_secrets *s, eryx_buf *carry, bool cut_tail,
                            eryx_buf *out);
/* The name of a secret whose value t[0..n) holds (NULL: none). */
const char *eryx__secrets_held_in(const eryx_secrets *s, const char *t, size_t n);
/* Installs the secrets with the current placeholders into an execution's
 * connection table (nothing for a NULL `s` or `table`). */
eryx_error *eryx__secrets_install(const eryx_secrets *s, eryx_net_table *table);
/* The sandbox's secrets (NULL: none). */
const eryx_secrets *eryx__sandbox_secrets(struct eryx_sandbox *sb);

#endif /* ERYX_INTERNAL_H */
