/*
 * eryx.h — run untrusted Python (CPython 3.14 on WASI) in a Wasmtime sandbox.
 *
 * Objects
 *   eryx_runtime  the engine and the pre-compiled Python component. Create
 *                 one per process and share it: it is thread-safe.
 *   eryx_sandbox  one isolated Python. Every eryx_sandbox_execute() starts
 *                 from a clean interpreter (nothing from the previous run
 *                 remains). Use a sandbox from one thread at a time; many
 *                 sandboxes may run on many threads at once.
 *   eryx_result   what one execution produced (output, result JSON, error).
 *   eryx_error    why an API call failed (bad arguments, missing runtime
 *                 files, host resources exhausted). Python errors are NOT
 *                 eryx_errors: they are reported inside an eryx_result.
 *
 * Conventions
 *   - Functions that can fail return an `eryx_error *`: NULL on success,
 *     otherwise an error the caller owns and frees with eryx_error_free().
 *   - Every string crossing the API has an explicit length in bytes and is
 *     UTF-8. Strings returned by the library are also NUL-terminated and stay
 *     valid until their owner is freed.
 *   - Each type has exactly one `_free` function; passing NULL to it is a
 *     no-op.
 *   - Options structs start with a `version` field; initialize them with the
 *     matching `_INIT` macro (or eryx_*_options_init()) so that fields added
 *     in later versions get their defaults.
 */
#ifndef ERYX_H
#define ERYX_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ERYX_VERSION "0.1.0"

/* The opaque handles, declared up front (each is described below). */
typedef struct eryx_runtime eryx_runtime;
typedef struct eryx_sandbox eryx_sandbox;
typedef struct eryx_session eryx_session;
typedef struct eryx_result eryx_result;
typedef struct eryx_error eryx_error;
typedef struct eryx_call eryx_call;
typedef struct eryx_vfs eryx_vfs;
typedef struct eryx_pool eryx_pool;
typedef struct eryx_journal_options eryx_journal_options; /* a struct, below */

/* ------------------------------------------------------------------ errors */

typedef enum eryx_error_code {
  ERYX_ERR_INVALID_ARGUMENT = 1, /* NULL where a value is required, bad UTF-8,
                                    unknown options version, ...           */
  ERYX_ERR_RUNTIME_FILES = 2,    /* the runtime directory is missing or does
                                    not match this build of the library    */
  ERYX_ERR_WASMTIME = 3,         /* Wasmtime refused an operation          */
  ERYX_ERR_RESOURCES = 4,        /* out of host memory or of sandbox slots */
  ERYX_ERR_INTERNAL = 5,         /* a bug in Eryx: please report it       */
  ERYX_ERR_SNAPSHOT = 6,         /* a snapshot could not be taken (values
                                    that cannot be serialized) or restored
                                    (corrupt, truncated, foreign)          */
  ERYX_ERR_FILES = 7,            /* a file operation on an eryx_vfs failed
                                    (no such file, quota exceeded, ...)    */
  ERYX_ERR_PACKAGE = 8,          /* a package was refused (another platform's
                                    native code, an unsafe or oversized
                                    archive, a corrupt one) or a factory
                                    could not be built; the message names
                                    the file and the reason                */
  ERYX_ERR_POOL_EXHAUSTED = 9,   /* eryx_pool_try_acquire: none free now   */
  ERYX_ERR_POOL_TIMEOUT = 10,    /* eryx_pool_acquire waited its timeout   */
  ERYX_ERR_POOL_CLOSED = 11,     /* the pool was closed                    */
  ERYX_ERR_JOURNAL = 12          /* a replay journal was refused (not a
                                    journal, too large, a bad signature,
                                    recorded for other code); the message
                                    says which                             */
} eryx_error_code;


/* The category of the failure. */
eryx_error_code eryx_error_get_code(const eryx_error *err);

/* A human-readable, NUL-terminated message owned by `err`. `len` (optional)
 * receives its length in bytes. */
const char *eryx_error_message(const eryx_error *err, size_t *len);

void eryx_error_free(eryx_error *err);

/* ----------------------------------------------------------------- runtime */


#define ERYX_RUNTIME_OPTIONS_VERSION 1

typedef struct eryx_runtime_options {
  unsigned int version; /* ERYX_RUNTIME_OPTIONS_VERSION */

  /* Directory holding `eryx.cwasm` (the pre-compiled component) and
   * `python/` (the stdlib tree mounted read-only at /python). NULL: the
   * ERYX_RUNTIME_DIR environment variable, else the directory this library
   * was built with. Need not be NUL-terminated; length in bytes. */
  const char *runtime_dir;
  size_t runtime_dir_len;

  /* Upper bound on sandboxes alive at once (sessions and pooled ones
   * included). Wasmtime's pooling allocator reserves address space for
   * each up front (about 8 GiB of it, never touched until used: it costs
   * no memory), so 10000 is fine on x86-64. Past it, creating one more is
   * ERYX_ERR_RESOURCES naming this option. 0: $ERYX_MAX_SANDBOXES, else
   * 1000. */
  uint32_t max_sandboxes;

  /* Instances a background thread keeps instantiated ahead of time, so that
   * creating a sandbox (or giving a used one its next fresh instance) does
   * not wait for an instantiation. Each holds a sandbox slot and about 2 MB
   * (at most half of max_sandboxes are kept). The thread works only after
   * the callers have rested for a millisecond: requests that arrive back to
   * back instantiate inline, on their own core, which costs half the CPU
   * of competing with the thread (bench/README.md). 0: 2. Negative: none
   * (no thread either). */
  int warm_instances;
} eryx_runtime_options;

#define ERYX_RUNTIME_OPTIONS_INIT {ERYX_RUNTIME_OPTIONS_VERSION, NULL, 0, 0, 0}

/* Loads the runtime. On success `*out` is owned by the caller and released
 * with eryx_runtime_free() once every sandbox created from it is freed.
 * `opts` may be NULL for defaults. Errors: ERYX_ERR_INVALID_ARGUMENT,
 * ERYX_ERR_RUNTIME_FILES, ERYX_ERR_WASMTIME, ERYX_ERR_RESOURCES. */
eryx_error *eryx_runtime_new(const eryx_runtime_options *opts,
                             eryx_runtime **out);

void eryx_runtime_free(eryx_runtime *rt);

/* ----------------------------------------------------------------- sandbox */


/* ---------------------------------------------------------------- callbacks
 *
 * A callback is a host function that sandboxed Python sees as an async
 * function: `await get_time()`, `await echo(message="hi")`; a dotted name
 * ("http.get") becomes a namespace (`await http.get(url=...)`). Arguments are
 * checked on the host, whatever the sandboxed code does: `fn` only ever sees a
 * JSON object (at most max_callback_args_bytes, nested at most 127 levels deep) that
 * satisfies the callback's JSON Schema; anything else is refused before `fn`
 * is called, and Python gets a CallbackError saying why.
 *
 * When Python awaits a callback, `fn` is called on the thread running
 * eryx_sandbox_execute() with the arguments as a JSON object. It must answer
 * exactly once through the `eryx_call` handle, with eryx_call_succeed() or
 * eryx_call_fail(): before it returns, or later from any thread (hand the
 * handle to a thread pool or event loop). Many calls may be in flight at once
 * (asyncio.gather).
 *
 * A call can end before the host answers: the Python task was cancelled, the
 * per-callback timeout passed, or the execution ended. The optional
 * `on_cancel` is then called (on the execution's thread) so the host can stop
 * work; the handle stays valid and must still be answered (the answer is
 * discarded). */


typedef void (*eryx_callback_fn)(void *user_data, eryx_call *call,
                                 const char *args_json, size_t args_len);
typedef void (*eryx_cancel_fn)(void *user_data, eryx_call *call);

typedef struct eryx_callback {
  /* [A-Za-z_][A-Za-z0-9_]*, dots between parts. The first part becomes a
   * name in the code's namespace, so it may not be a Python keyword or
   * builtin (`print`, `open`, ...), `invoke`, `list_callbacks`, or start
   * with an underscore (ERYX_ERR_INVALID_ARGUMENT). */
  const char *name;
  size_t name_len;
  const char *description; /* may be NULL */
  size_t description_len;
  /* JSON Schema of the arguments object (NULL: any object), draft 2020-12
   * unless `$schema` names draft 4, 6, 7 or 2019-09. Compiled when the
   * sandbox is created: an invalid schema, a keyword its draft does not
   * define (never silently ignored) or a `$ref` to another document is an
   * ERYX_ERR_INVALID_ARGUMENT then. Property order gives the order of
   * positional arguments. */
  const char *schema_json;
  size_t schema_len;
  eryx_callback_fn fn;
  eryx_cancel_fn on_cancel; /* may be NULL */
  void *user_data;          /* must outlive the sandbox */
} eryx_callback;

/* Answers a call with a JSON value (`json`, `len` bytes; it is parsed inside
 * the sandbox). Thread-safe. Consumes `call`: do not use it afterwards, even
 * on error. Errors: ERYX_ERR_INVALID_ARGUMENT (NULL call or json, invalid
 * UTF-8; the call is then failed with that message instead). */
eryx_error *eryx_call_succeed(eryx_call *call, const char *json, size_t len);

/* Answers a call with a failure: Python sees `eryx.CallbackError` (catchable)
 * carrying `message`; `error_type` (may be NULL) names the kind of failure
 * and is available as `.error_type`. Thread-safe. Consumes `call`. */
eryx_error *eryx_call_fail(eryx_call *call, const char *error_type,
                           size_t error_type_len, const char *message,
                           size_t message_len);

/* Asks to suspend the execution the call belongs to (e.g. to wait for a
 * human's approval, then resume later, maybe in another process: see
 * eryx_sandbox_execute_journal). Like eryx_call_succeed/fail it answers
 * and consumes `call`; call it inside `fn` or later from any thread.
 * The execution then halts at once: no more Python runs, no later
 * callback start reaches a host function (gather siblings included), the
 * calls still in flight are cancelled (on_cancel), and the result has
 * ERYX_STATUS_SUSPENDED, error type "Suspended", `reason` (`reason_len`
 * bytes of UTF-8; NULL: "") as its message, and the call's name and
 * canonical arguments (eryx_result_suspended_name/_args/_reason). The
 * suspended call itself is not journaled. Only the first suspension of an
 * execution counts; one that comes once the execution ended (or once its
 * code has finished) is ignored, as is one of a cancelled call.
 * Thread-safe. Errors: ERYX_ERR_INVALID_ARGUMENT (NULL call; a reason
 * that is not UTF-8: the execution is still suspended, with the bad bytes
 * replaced by U+FFFD), ERYX_ERR_RESOURCES (no memory to keep the name,
 * arguments and reason: the execution is still suspended, they read ""). */
eryx_error *eryx_call_suspend(eryx_call *call, const char *reason, size_t reason_len);

/* The callback's name (NUL-terminated, owned by the call). */
const char *eryx_call_name(const eryx_call *call, size_t *len);

/* Non-zero once the call was cancelled (task cancelled, timed out,
 * execution over): the answer will be discarded. Thread-safe. */
int eryx_call_cancelled(const eryx_call *call);

/* A runtime library: callbacks plus the Python module that wraps them,
 * registered as one unit. Inside the sandbox `import <name>` gives a module
 * whose globals hold the library's callbacks (by their own names) and in
 * which `python_source` has been executed, e.g.
 *     import weather; await weather.forecast("Oslo")
 * The callbacks are also reachable as invoke("<name>.<callback>"). `stubs`
 * is the module's .pyi text; eryx_sandbox_library_stubs() returns all of
 * them together (e.g. to put in an LLM prompt). */
typedef struct eryx_library {
  const char *name; /* a Python identifier, not a stdlib module's name */
  size_t name_len;
  const char *python_source; /* may be NULL: the module holds the callbacks */
  size_t python_source_len;
  const char *stubs; /* may be NULL */
  size_t stubs_len;
  const eryx_callback *callbacks;
  size_t callback_count;
} eryx_library;

/* Receives output as the code produces it: `text` holds `len` bytes (not
 * NUL-terminated, valid only during the call): UTF-8 for what the code
 * printed, exactly the bytes for what it wrote to sys.stdout.buffer or
 * fd 1 (which need not be UTF-8). Called on the thread
 * running eryx_sandbox_execute(), in the order the output was written. */
typedef void (*eryx_output_fn)(void *user_data, const char *text, size_t len);

/* Tracing: events of the user's own code (never the stdlib's or a
 * library's), delivered while it runs, on the executing thread. */
typedef enum eryx_trace_kind {
  ERYX_TRACE_CALL = 1,     /* a function (or the module body) starts  */
  ERYX_TRACE_LINE = 2,     /* a new line is about to run               */
  ERYX_TRACE_RETURN = 3,   /* a function returns (or yields/awaits)    */
  ERYX_TRACE_EXCEPTION = 4 /* an exception is raised in a function     */
} eryx_trace_kind;

typedef struct eryx_trace_event {
  eryx_trace_kind kind;
  uint32_t line;        /* line in the user's code                      */
  const char *function; /* "<module>" for the top level; not
                           NUL-terminated, valid during the call only   */
  size_t function_len;
  const char *detail;   /* EXCEPTION: the exception type's name; else "" */
  size_t detail_len;
} eryx_trace_event;

typedef void (*eryx_trace_fn)(void *user_data, const eryx_trace_event *event);

/* A string with its length in bytes (need not be NUL-terminated). */
typedef struct eryx_str {
  const char *data;
  size_t len;
} eryx_str;

/* Networking: sandboxed code reaches TCP and TLS only through the host,
 * which applies this policy to every connection (see README "Networking").
 *
 * Host patterns (allowed_hosts, blocked_hosts): an exact name
 * ("api.example.com"), an IP literal ("10.0.0.5", "[::1]"), a wildcard
 * ("*.example.com": one or more labels in front, not example.com itself;
 * "api.*.internal": exactly one label in the middle), each with an
 * optional ":port" ("example.com:443", "[::1]:8080"). Case-insensitive.
 *
 * How a connection is judged, in order:
 *  1. A blocked pattern that matches the name or an address refuses it:
 *     block beats allow.
 *  2. With allowed_hosts non-empty and allow_all_hosts off, the name must
 *     match an allowed pattern ("localhost" and loopback IP literals also
 *     pass with allow_localhost; other *.localhost names need a pattern).
 *  3. The host resolves the name itself and refuses every address that is
 *     not public (loopback, private, link-local incl. 169.254.169.254,
 *     CGNAT, multicast, broadcast, unspecified, reserved, documentation
 *     and benchmarking ranges, IPv6 ULA and link-local, and those IPv4
 *     ranges IPv4-mapped, -compatible, NAT64 or 6to4 in IPv6), unless it
 *     is loopback and allow_localhost is on, or an allowed pattern is that
 *     IP literal. It then connects to a vetted address itself (no second
 *     lookup). IP literals in any spelling ("2130706433", "0x7f000001",
 *     "0177.0.0.1", "127.1", "[::ffff:127.0.0.1]") are read as inet_aton
 *     and getaddrinfo would, and get the same checks.
 * So an empty allowed_hosts with networking on means "public hosts only".
 * A refusal reaches the guest as kind "denied" naming the rule.
 *
 * TLS is done by the host with OpenSSL: TLS 1.2 or later, SNI, the chain
 * verified against the system's roots plus root_certs, the host name (or IP)
 * the guest asked for verified against the certificate.
 *
 * Connections belong to one execution: all still open are closed when it
 * ends (in a session too: a connection never outlives the execute that
 * opened it). */
#define ERYX_NET_OPTIONS_VERSION 1

typedef struct eryx_net_options {
  unsigned int version; /* ERYX_NET_OPTIONS_VERSION */
  /* Patterns a host must match (empty: any public host). */
  const eryx_str *allowed_hosts;
  size_t allowed_hosts_count;
  /* Patterns that are always refused. */
  const eryx_str *blocked_hosts;
  size_t blocked_hosts_count;
  /* Non-zero: any public host, whatever allowed_hosts says (private
   * addresses still need allow_localhost or an IP-literal pattern). */
  int allow_all_hosts;
  /* Non-zero: "localhost" and loopback addresses (127.0.0.0/8, ::1) are
   * allowed (any *.localhost name is loopback, never asked of DNS). */
  int allow_localhost;
  /* Most connections open at once per execution. 0: 10. */
  uint32_t max_connections;
  /* Longest a connect (resolution included) may take. 0: 30000 ms. */
  uint32_t connect_timeout_ms;
  /* Longest one send, recv or TLS handshake may wait. 0: 30000 ms. */
  uint32_t io_timeout_ms;
  /* Extra trusted CAs, each PEM (one or more certificates) or DER, added
   * to the system's roots. */
  const eryx_str *root_certs;
  size_t root_certs_count;
} eryx_net_options;

#define ERYX_NET_OPTIONS_INIT                                                  \
  {ERYX_NET_OPTIONS_VERSION, NULL, 0, NULL, 0, 0, 0, 0, 0, 0, NULL, 0}

/* A secret: a credential sandboxed code can use on its allowed hosts but
 * never sees (see README "Secrets"). At each execution the guest finds
 * os.environ[name] set to a fresh random placeholder
 * ("ERYX_SECRET_" + 32 hex digits); the value itself never enters the
 * sandbox. The host's network layer puts the value in place of the
 * placeholder only in HTTP/1.1 request header values sent to a host that
 * matches one of allowed_hosts (the same patterns as eryx_net_options;
 * the connection must also be allowed by the sandbox's network policy).
 * A secret with no allowed hosts is never substituted anywhere.
 * Everything is copied when the sandbox is created. */
#define ERYX_SECRET_VERSION 1

typedef struct eryx_secret {
  unsigned int version; /* ERYX_SECRET_VERSION */
  /* An environment variable name: [A-Za-z_][A-Za-z0-9_]*, unique. */
  const char *name;
  size_t name_len;
  /* The credential: non-empty UTF-8 without control characters (CR, LF,
   * NUL, ...; tab is fine): it goes into a header. */
  const char *value;
  size_t value_len;
  const eryx_str *allowed_hosts;
  size_t allowed_hosts_count;
} eryx_secret;

#define ERYX_SECRET_INIT {ERYX_SECRET_VERSION, NULL, 0, NULL, 0, NULL, 0}

/* The scrub switches of eryx_sandbox_options (version 4). 0 is the
 * default, which is on: a zeroed struct scrubs. */
#define ERYX_SCRUB_DEFAULT 0
#define ERYX_SCRUB_ON 1
#define ERYX_SCRUB_OFF (-1)

/* A host directory or file mounted into the sandbox (see README
 * "Volumes"). A directory is read-only unless `writable`; nothing outside
 * it is reachable ("..", and symbolic links leading out, are refused
 * inside). A single file is always read-only. The guest path is absolute
 * and may not be "/", under /python or /packages, a top-level number, or
 * cover or sit under the file tree's mount (/data by default). */
#define ERYX_VOLUME_VERSION 1

typedef struct eryx_volume {
  unsigned int version; /* ERYX_VOLUME_VERSION */
  const char *host_path;
  size_t host_path_len;
  const char *guest_path;
  size_t guest_path_len;
  int writable; /* non-zero: the code may change the directory's files */
} eryx_volume;

#define ERYX_VOLUME_INIT {ERYX_VOLUME_VERSION, NULL, 0, NULL, 0, 0}

#define ERYX_SANDBOX_OPTIONS_VERSION 8

typedef struct eryx_sandbox_options {
  unsigned int version; /* ERYX_SANDBOX_OPTIONS_VERSION */

  /* Name of the variable whose value is returned as JSON. NULL: "result".
   * An empty string (len 0, non-NULL) disables result capture. In a session
   * the variable is consumed by each execution (removed from the namespace),
   * so a later execution that does not set it reports no result. */
  const char *result_variable;
  size_t result_variable_len;

  /* Wall-clock limit of one execution in milliseconds. 0: 30000.
   * UINT64_MAX: no limit. */
  uint64_t timeout_ms;

  /* Most linear memory the Python heap may grow to, in bytes. Beyond it
   * allocations fail inside Python: a MemoryError, which code can catch;
   * uncaught, it ends the run with ERYX_STATUS_LIMIT, error type
   * "MemoryError". 0: 128 MiB. UINT64_MAX:
   * wasm32's 4 GiB. Must leave room for the runtime's own ~17 MiB. */
  uint64_t max_memory_bytes;

  /* Instruction budget ("fuel") per execution, for limits that do not
   * depend on the machine's speed. 0: none. The first sandbox asking for
   * fuel maps a second compiled form of the runtime (eryx-fuel.cwasm);
   * fuel-counting code runs somewhat slower. When the budget runs out the
   * execution ends with ERYX_STATUS_LIMIT, error type "FuelExhausted". */
  uint64_t max_fuel;

  /* Most bytes of stdout + stderr kept (and streamed) per execution; the
   * rest is dropped and the result says so (eryx_result_output_truncated).
   * 0: 16 MiB. */
  uint64_t max_output_bytes;

  /* Optional live output handlers (NULL: none). The result still holds the
   * full text. `output_user_data` is passed to both and must outlive the
   * sandbox. */
  eryx_output_fn on_stdout;
  eryx_output_fn on_stderr;
  void *output_user_data;

  /* Callbacks offered to the code (copied; names must be unique). */
  const eryx_callback *callbacks;
  size_t callback_count;
  /* Most callback invocations one execution may start. 0: 1000. */
  uint32_t max_callback_invocations;
  /* Longest one call may take before Python gets a CallbackTimeoutError and
   * the host's on_cancel is called. 0: 10000 ms. UINT64_MAX: no limit. */
  uint64_t callback_timeout_ms;

  /* Runtime libraries (copied). */
  const eryx_library *libraries;
  size_t library_count;

  /* Non-zero: like Python's interactive prompt, when the code ends with an
   * expression its value (if not None) is printed with repr() and kept in
   * `_`. For REPLs. */
  int echo_expressions;

  /* Optional trace handler (NULL: no tracing, and no cost).
   * `trace_user_data` must outlive the sandbox. */
  eryx_trace_fn on_trace;
  void *trace_user_data;

  /* Optional file storage (see eryx_vfs below) mounted at `vfs_mount_path`
   * (NULL: "/data"), an absolute path other than "/" and outside /python.
   * The sandbox holds a reference to `vfs` until it is freed. */
  eryx_vfs *vfs;
  const char *vfs_mount_path;
  size_t vfs_mount_path_len;

  /* ---- version 2: what the host keeps of what the guest hands over ---- */
  /* Most bytes of one callback invocation's JSON arguments; a larger call
   * is refused before the host function sees it (CallbackError in Python,
   * naming this limit). 0: 1 MiB. */
  uint64_t max_callback_args_bytes;
  /* Most bytes of arguments of all calls in flight at once (started, not
   * yet answered or cancelled). 0: 16 MiB. */
  uint64_t max_callback_args_in_flight_bytes;
  /* Most bytes of the result variable's JSON text; a larger result is a
   * result error (eryx_result_json_error). 0: 16 MiB. */
  uint64_t max_result_bytes;

  /* ---- version 3 ---- */
  /* The network policy (copied; see eryx_net_options). NULL: networking is
   * off, and every connect fails with kind "off". A bad pattern or
   * certificate is ERYX_ERR_INVALID_ARGUMENT naming it. */
  const eryx_net_options *network;

  /* ---- version 4: secrets ---- */
  /* Secrets offered to the code (copied; see eryx_secret). A bad one is
   * ERYX_ERR_INVALID_ARGUMENT naming it. */
  const eryx_secret *secrets;
  size_t secret_count;
  /* Where the host replaces each secret's value and its current
   * placeholder by "[REDACTED]" (ERYX_SCRUB_DEFAULT/ON: scrub, the
   * default; ERYX_SCRUB_OFF: leave as is). Only with secrets.
   *   scrub_stdout, scrub_stderr: the result's text and what streaming
   *     handlers get (also when a value is split across writes);
   *   scrub_result: the result variable's JSON;
   *   scrub_files: what the code writes to the eryx_vfs.
   * Always scrubbed, whatever these say: error type, message and
   * traceback, trace events, callback arguments before the host function
   * sees them, and snapshots (which never hold a value). */
  int scrub_stdout;
  int scrub_stderr;
  int scrub_result;
  int scrub_files;

  /* ---- version 5: packages (see README "Packages") ---- */
  /* Python packages the code can import, each a host path (copied):
   *   - a wheel (.whl): pure Python (py3-none-any, ...). A wheel with
   *     another platform's native code is refused; one with WASI native
   *     code (wasi_0_0_0_wasm32) needs a factory (eryx_factory_build);
   *   - a .tar.gz / .tgz: a pure-Python sdist (its importable part and its
   *     metadata are used) or a tarball of a site-packages tree;
   *   - a directory: a site-packages-like tree put on sys.path as it is, or,
   *     when it holds __init__.py, one package (importable by its name).
   * Archives are checked and unpacked once into a cache named by their
   * sha256 (ERYX_CACHE_DIR, else $XDG_CACHE_HOME/eryx, else ~/.cache/eryx)
   * and never half-installed: members with absolute paths, ".." or links
   * leading out of the package, special files, corrupt or truncated
   * archives and archives past the caps below are refused, naming the file
   * and the reason (ERYX_ERR_PACKAGE). Each package is mounted read-only
   * (C-level reads work too) and put on sys.path after the stdlib, in this
   * order; importlib.metadata sees their metadata. */
  const eryx_str *packages;
  size_t package_count;
  /* Caps on what one archive may unpack to: bytes of its files (counted as
   * written, whatever its headers claim) and number of members.
   * 0: 1 GiB and 100000. */
  uint64_t max_package_bytes;
  uint64_t max_package_files;

  /* ---- version 6: host volumes ---- */
  /* Copied; checked when the sandbox is made (ERYX_ERR_INVALID_ARGUMENT
   * naming the volume and the reason). */
  const eryx_volume *volumes;
  size_t volume_count;

  /* ---- version 7 ---- */
  /* Most bytes the tree (`vfs`) may hold when this sandbox writes to it,
   * counted as the tree's quota counts (content and metadata): a write,
   * truncate or create that would go past it fails with ENOSPC and changes
   * nothing, even if the tree's own quota is larger. 0: the tree's quota
   * alone. */
  uint64_t max_vfs_bytes;

  /* ---- version 8 ---- */
  /* Non-zero: count fuel (eryx_result_fuel_consumed) without a budget.
   * Fuel-counting code runs about 20% slower (build/bench_limits,
   * fuel_overhead) and cannot start from a warm instance, so it is off
   * unless asked for; max_fuel implies it. */
  int count_fuel;
  /* sys.argv of every execution (copied; each entry UTF-8 without NUL, at
   * most 4096 entries and 1 MiB in all). NULL: [""] (as CPython without a
   * script). */
  const eryx_str *argv;
  size_t argc;
} eryx_sandbox_options;

#define ERYX_SANDBOX_OPTIONS_INIT                                              \
  {ERYX_SANDBOX_OPTIONS_VERSION, NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, NULL, 0, 0,  \
   0, NULL, 0, 0, NULL, NULL, NULL, NULL, 0, 0, 0, 0, NULL, NULL, 0,                \
   ERYX_SCRUB_DEFAULT, ERYX_SCRUB_DEFAULT, ERYX_SCRUB_DEFAULT, ERYX_SCRUB_DEFAULT,   \
   NULL, 0, 0, 0, NULL, 0, 0, 0, NULL, 0}

/* Creates a sandbox. `rt` must outlive it. `opts` may be NULL for defaults;
 * it is copied and need not outlive the call. On success `*out` is owned by
 * the caller (eryx_sandbox_free). Errors: ERYX_ERR_INVALID_ARGUMENT,
 * ERYX_ERR_RESOURCES (all sandbox slots in use), ERYX_ERR_WASMTIME. */
eryx_error *eryx_sandbox_new(eryx_runtime *rt, const eryx_sandbox_options *opts,
                             eryx_sandbox **out);

void eryx_sandbox_free(eryx_sandbox *sb);

/* Asks the execution now running in `sb` to stop; it ends promptly with
 * ERYX_STATUS_CANCELLED, also while it waits on callbacks or sleeps. Safe to
 * call from any thread while `sb` is alive. Returns 1 if an execution was
 * running, 0 if none was (nothing happens then: a cancel does not carry
 * over to a later execution). */
int eryx_sandbox_cancel(eryx_sandbox *sb);

/* The timeout of later executions: same values as
 * eryx_sandbox_options.timeout_ms (0: 30000; UINT64_MAX: none). Not while
 * an execution runs in `sb`. The getter gives UINT64_MAX for none. */
void eryx_sandbox_set_timeout_ms(eryx_sandbox *sb, uint64_t timeout_ms);
uint64_t eryx_sandbox_timeout_ms(const eryx_sandbox *sb);

/* The fuel budget of later executions (0: none, fuel still counted). Only
 * for a sandbox that counts fuel (made with max_fuel or count_fuel: the
 * fuel-counting code cannot be switched on later without a new
 * interpreter); else ERYX_ERR_INVALID_ARGUMENT. Not while an execution
 * runs in `sb`. The getter gives 0 for none. */
eryx_error *eryx_sandbox_set_max_fuel(eryx_sandbox *sb, uint64_t max_fuel);
uint64_t eryx_sandbox_max_fuel(const eryx_sandbox *sb);

/* The .pyi stubs of all the sandbox's libraries, each headed by a comment
 * naming its module ("" when there are none). Owned by `sb`. */
const char *eryx_sandbox_library_stubs(const eryx_sandbox *sb, size_t *len);

/* --------------------------------------------------------------- factories
 *
 * A factory is a runtime of its own: the guest component re-initialized
 * with packages on its sys.path and modules already imported in its
 * snapshot, then pre-compiled. It is a runtime directory like the one the
 * library was built with, so it is used through eryx_runtime_new() with
 * runtime_dir set to it; every sandbox and session made from that runtime
 * starts with those modules in sys.modules (importing them costs nothing).
 * The directory holds everything (compiled code, stdlib, packages,
 * manifest): copy or move it anywhere (eryx_runtime_save), and load it in a
 * later process without rebuilding. One built by another version of Eryx
 * or of Wasmtime is refused by eryx_runtime_new (ERYX_ERR_RUNTIME_FILES,
 * saying both versions).
 *
 * Building runs componentize-py (the version the library was built with)
 * and Wasmtime's compiler: several seconds. */

/* Called at each step of a build with a line of text (valid during the
 * call only). */
typedef void (*eryx_progress_fn)(void *user_data, const char *line, size_t len);

#define ERYX_FACTORY_OPTIONS_VERSION 1

typedef struct eryx_factory_options {
  unsigned int version; /* ERYX_FACTORY_OPTIONS_VERSION */
  /* Where the new runtime directory goes: created, must not exist or be an
   * empty directory. Required. */
  const char *output_dir;
  size_t output_dir_len;
  /* Packages, as eryx_sandbox_options.packages (WASI native wheels are
   * allowed here: their extensions are linked into the component). */
  const eryx_str *packages;
  size_t package_count;
  uint64_t max_package_bytes;
  uint64_t max_package_files;
  /* Modules imported while the snapshot is taken ("jinja2",
   * "dateutil.parser"). An import that fails fails the build, with the
   * Python traceback in the message. */
  const eryx_str *imports;
  size_t import_count;
  /* The runtime to start from (its stdlib and guest sources). NULL: as
   * eryx_runtime_options.runtime_dir. */
  const char *base_runtime_dir;
  size_t base_runtime_dir_len;
  /* The componentize-py executable. NULL: $ERYX_COMPONENTIZE_PY, else
   * `componentize-py` on PATH. Its version must be the one the runtime was
   * built with. */
  const char *componentize_py;
  size_t componentize_py_len;
  /* Optional progress lines (NULL: none). */
  eryx_progress_fn on_progress;
  void *progress_user_data;
  /* Longest componentize-py may run (the imports included) before the
   * build is abandoned. 0: 600000 ms. */
  uint64_t timeout_ms;
} eryx_factory_options;

#define ERYX_FACTORY_OPTIONS_INIT                                              \
  {ERYX_FACTORY_OPTIONS_VERSION, NULL, 0, NULL, 0, 0, 0, NULL, 0, NULL, 0, NULL, 0, \
   NULL, NULL, 0}

/* Builds a factory runtime into opts->output_dir. Nothing is left there on
 * failure. Errors: ERYX_ERR_INVALID_ARGUMENT, ERYX_ERR_PACKAGE (a package
 * refused, componentize-py missing or failing, an import failing),
 * ERYX_ERR_RUNTIME_FILES (the base runtime), ERYX_ERR_WASMTIME. */
eryx_error *eryx_factory_build(const eryx_factory_options *opts);

/* Copies the runtime's directory to `dir` (created; must not exist or be
 * empty), so that eryx_runtime_new() can load it from there. */
eryx_error *eryx_runtime_save(const eryx_runtime *rt, const char *dir, size_t dir_len);

/* Bytes of files in the runtime's directory. */
uint64_t eryx_runtime_size_bytes(const eryx_runtime *rt);

/* The runtime's directory (owned by `rt`). */
const char *eryx_runtime_dir(const eryx_runtime *rt, size_t *len);

/* Modules a factory runtime imported into its snapshot, as a JSON array of
 * strings ("[]" for a plain runtime); and its packages' file names, the
 * same way. Owned by `rt`. */
const char *eryx_runtime_imports_json(const eryx_runtime *rt, size_t *len);
const char *eryx_runtime_packages_json(const eryx_runtime *rt, size_t *len);

/* ------------------------------------------------------------------- pools
 *
 * A pool leases sandboxes to a service: at most max_size at once, a few
 * kept ready (min_idle), an acquire that waits (up to acquire_timeout_ms)
 * when all are leased, idle ones beyond min_idle freed after
 * idle_timeout_ms, and statistics. A leased sandbox is indistinguishable
 * from a new one: it has the lease's limits, handlers and callbacks and a
 * fresh interpreter; nothing of an earlier lease (state, output handlers,
 * callbacks, limits) remains. Sandboxes of a pool have no file tree (give
 * a lease's code files through callbacks, or use sessions).
 *
 * Thread-safe: many threads may acquire and release at once; each leased
 * sandbox is used by one thread at a time, like any sandbox. Idle
 * sandboxes are freed lazily, by the pool's own calls (acquire, release,
 * stats, evict_idle): an idle pool costs no CPU. */
#define ERYX_POOL_OPTIONS_VERSION 1

typedef struct eryx_pool_options {
  unsigned int version; /* ERYX_POOL_OPTIONS_VERSION */
  /* Most sandboxes leased and idle at once. 0: 10. */
  uint32_t max_size;
  /* Idle sandboxes made at once and kept (at most max_size). */
  uint32_t min_idle;
  /* Longest eryx_pool_acquire waits for a free sandbox. 0: 30000 ms.
   * UINT64_MAX: no limit. */
  uint64_t acquire_timeout_ms;
  /* Idle sandboxes beyond min_idle are freed after this long.
   * 0: 300000 ms. UINT64_MAX: never. */
  uint64_t idle_timeout_ms;
  /* The options every sandbox of the pool is made with (NULL: defaults):
   * network, secrets, packages, result variable, and the limits, handlers
   * and callbacks of leases that give none. Not copied: it (and what it
   * points to) must stay valid until eryx_pool_free. A vfs is refused. */
  const eryx_sandbox_options *sandbox;
} eryx_pool_options;

#define ERYX_POOL_OPTIONS_INIT {ERYX_POOL_OPTIONS_VERSION, 0, 1, 0, 0, NULL}

typedef struct eryx_pool_stats {
  uint32_t idle;       /* ready, not leased */
  uint32_t in_use;     /* leased */
  uint32_t total;      /* idle + in_use (+ being made) */
  uint32_t available;  /* leases that could start now: max_size - in_use */
  uint64_t acquisitions; /* successful acquires */
  uint64_t creations;  /* sandboxes made */
  uint64_t evictions;  /* idle sandboxes freed by idle_timeout_ms */
  uint64_t waits;      /* acquires that had to wait */
  double total_wait_ms; /* time those waited, in all */
  double wait_p50_ms;  /* time acquires took (the last 1024): median */
  double wait_p99_ms;  /* and 99th percentile */
} eryx_pool_stats;

/* Creates a pool (making min_idle sandboxes now). `rt` and
 * opts->sandbox must outlive it. Errors: as eryx_sandbox_new, and
 * ERYX_ERR_INVALID_ARGUMENT (min_idle > max_size, a vfs). */
eryx_error *eryx_pool_new(eryx_runtime *rt, const eryx_pool_options *opts, eryx_pool **out);

/* Leases a sandbox, waiting up to acquire_timeout_ms when max_size are
 * leased. `lease` (NULL: the pool's own) gives this lease's limits
 * (timeout_ms, max_memory_bytes, max_fuel, max_output_bytes,
 * max_callback_invocations, callback_timeout_ms and the version 2 caps;
 * 0 means the library's default, as in any eryx_sandbox_options), its
 * output and trace handlers and its callbacks (copied); its other fields
 * must be unset (network, secrets, packages, vfs: the pool's).
 * `*out` belongs to the pool: use it, then give it back with
 * eryx_pool_release (never eryx_sandbox_free). Errors:
 * ERYX_ERR_POOL_TIMEOUT, ERYX_ERR_POOL_CLOSED (also when the pool is
 * closed while waiting), ERYX_ERR_INVALID_ARGUMENT, and those of
 * eryx_sandbox_new. */
eryx_error *eryx_pool_acquire(eryx_pool *p, const eryx_sandbox_options *lease,
                              eryx_sandbox **out);

/* Like eryx_pool_acquire without waiting: ERYX_ERR_POOL_EXHAUSTED when
 * none is free now. */
eryx_error *eryx_pool_try_acquire(eryx_pool *p, const eryx_sandbox_options *lease,
                                  eryx_sandbox **out);

/* Gives a leased sandbox back (the pool clears it for the next lease, or
 * frees it once the pool is closed). `sb` must not be used afterwards.
 * Releasing something that is not one of this pool's leases does
 * nothing. Not while `sb` executes. */
void eryx_pool_release(eryx_pool *p, eryx_sandbox *sb);

/* Frees idle sandboxes past idle_timeout_ms (keeping min_idle); returns
 * how many. */
uint32_t eryx_pool_evict_idle(eryx_pool *p);

void eryx_pool_stats_get(eryx_pool *p, eryx_pool_stats *out);

/* Refuses new leases from now on, wakes waiting acquires
 * (ERYX_ERR_POOL_CLOSED) and frees the idle sandboxes. Leases out keep
 * working and are freed when released. */
void eryx_pool_close(eryx_pool *p);
int eryx_pool_is_closed(eryx_pool *p);

/* Closes the pool and frees it, with any sandbox still leased (which must
 * then not be used). */
void eryx_pool_free(eryx_pool *p);

/* ---------------------------------------------------------------- sessions
 *
 * A session is a sandbox whose Python state (variables, functions, classes,
 * imports) persists from one execute to the next, for REPL-style use. It
 * takes the same options as a sandbox (callbacks, limits, handlers,
 * tracing). If an execution is ended by a limit, a cancel or a trap, the
 * interpreter cannot continue: the session then starts over from a fresh
 * interpreter (its state is lost) and its execution count restarts at 0. */


/* Creates a session; same ownership and errors as eryx_sandbox_new(). */
eryx_error *eryx_session_new(eryx_runtime *rt, const eryx_sandbox_options *opts,
                             eryx_session **out);

/* Runs `code` in the session's namespace; like eryx_sandbox_execute(). */
eryx_error *eryx_session_execute(eryx_session *s, const char *code, size_t code_len,
                                 eryx_result **out);

/* Runs `code` in the session like eryx_session_execute(), recording and
 * replaying a journal like eryx_sandbox_execute_journal() (same options,
 * ownership and errors). When the session has callbacks, its state is
 * snapshot first (eryx_session_snapshot_state with skip_unserializable:
 * the user's variables and the files of its eryx_vfs), and if the
 * execution is halted (suspended, timed out, cancelled, trapped) that
 * state is restored: the session is as it was before the call, so a
 * resumed run does not apply the replayed calls' effects twice (variables
 * that could not be serialized are lost then; the interpreter is a new
 * one, as after any restore; the execution count is kept; should the
 * restore itself fail, e.g. for a state too large to restore, the session
 * starts over as after any halt). A code that ends by itself (also with
 * an exception) keeps its effects as usual.
 * Cost: one snapshot per call on a session with callbacks (README
 * "Replay and suspension" has figures), one restore after a halt. Errors
 * also: those of the snapshot (e.g. ERYX_ERR_SNAPSHOT when a variable
 * holds a secret's value), before any code runs. Without callbacks
 * nothing is taken and a halt loses the state as with
 * eryx_session_execute(). */
eryx_error *eryx_session_execute_journal(eryx_session *s, const char *code,
                                         size_t code_len,
                                         const eryx_journal_options *opts,
                                         eryx_result **out);

/* Executions since the session started (or last lost or reset its state). */
uint64_t eryx_session_execution_count(const eryx_session *s);

/* Drops the user's variables, functions and classes, keeping the
 * interpreter (modules stay imported). Errors: as eryx_session_execute. */
eryx_error *eryx_session_clear_state(eryx_session *s);

/* Replaces the interpreter with a fresh one. Errors: ERYX_ERR_RESOURCES,
 * ERYX_ERR_WASMTIME (the session is then unusable until a reset works). */
eryx_error *eryx_session_reset(eryx_session *s);

/* Snapshots: the session's user variables (functions, lambdas and classes
 * defined in the session included) as bytes that restore in another
 * session, also in another process. */
typedef struct eryx_snapshot eryx_snapshot;

/* Takes a snapshot. If some variables cannot be serialized (a generator, an
 * open file, ...) it fails with ERYX_ERR_SNAPSHOT naming each variable and
 * why, unless `skip_unserializable` is non-zero: then they are left out and
 * listed by eryx_snapshot_skipped(). On success `*out` is owned by the
 * caller (eryx_snapshot_free). */
eryx_error *eryx_session_snapshot_state(eryx_session *s, int skip_unserializable,
                                        eryx_snapshot **out);

/* The snapshot's bytes (owned by `snap`). */
const uint8_t *eryx_snapshot_data(const eryx_snapshot *snap, size_t *len);

/* Names of the variables left out (NULL past the end; owned by `snap`). */
size_t eryx_snapshot_skipped_count(const eryx_snapshot *snap);
const char *eryx_snapshot_skipped(const eryx_snapshot *snap, size_t i, size_t *len);

void eryx_snapshot_free(eryx_snapshot *snap);

/* Replaces the session's user variables (and, when the snapshot has files,
 * the whole content of the session's eryx_vfs) with those of a snapshot.
 * Does not count as an execution; the execution count is kept.
 *
 * Nothing changes unless the whole restore works, whatever the input (it
 * may come from anyone). The files are checked and staged on the host; the
 * Python state is restored into a fresh interpreter while the session's own
 * is set aside untouched (that interpreter has no file tree mounted, so
 * code in a forged snapshot cannot reach the files); only when both worked
 * are they swapped in and the old interpreter freed. After a successful
 * restore the interpreter is therefore a new one (patches to builtins or
 * modules made before are gone); after a failed one the session is exactly
 * as it was: variables, files and interpreter.
 *
 * Errors, each leaving the session unchanged: ERYX_ERR_SNAPSHOT for
 * anything that is not a good snapshot (garbage of any size; a truncated,
 * corrupted or foreign snapshot; one larger than half of max_memory_bytes,
 * which could not be decoded inside; one whose body makes the guest fail,
 * run out of memory or trap); ERYX_ERR_FILES when its files exceed the
 * tree's quota; ERYX_ERR_RESOURCES when the restore timed out or was
 * cancelled, or no fresh instance could be made (max_sandboxes in use).
 *
 * Cost: restoring into a session that has run code takes a fresh instance
 * (a warm one from the pool, else an instantiation) and pays that
 * interpreter's first restore, a few ms instead of a fraction of one; for
 * the length of the call both instances exist. A session that has not run
 * code yet (eryx_session_new, then restore) restores in its own instance. */
eryx_error *eryx_session_restore_state(eryx_session *s, const uint8_t *data,
                                       size_t len);

/* Like eryx_sandbox_set_timeout_ms() / eryx_sandbox_timeout_ms(). */
void eryx_session_set_timeout_ms(eryx_session *s, uint64_t timeout_ms);
uint64_t eryx_session_timeout_ms(const eryx_session *s);

/* Like eryx_sandbox_set_max_fuel() / eryx_sandbox_max_fuel(). */
eryx_error *eryx_session_set_max_fuel(eryx_session *s, uint64_t max_fuel);
uint64_t eryx_session_max_fuel(const eryx_session *s);

/* Like eryx_sandbox_cancel(), for the session's running execution. */
int eryx_session_cancel(eryx_session *s);

void eryx_session_free(eryx_session *s);

/* ------------------------------------------------------------ file storage
 *
 * An eryx_vfs is a tree of files and directories held in host memory that
 * sandboxes and sessions mount as a directory (eryx_sandbox_options.vfs;
 * "/data" by default). Python code inside uses it with the ordinary open(),
 * os, os.path, pathlib and shutil; nothing else in a sandbox is writable.
 * File contents count against a byte quota, checked before every write, so
 * a write past it fails inside Python with OSError(ENOSPC) and changes
 * nothing; the host disk is never used. Symbolic links are not supported.
 *
 * A tree outlives the sandboxes that use it and can be handed from one
 * session to the next; it is reference-counted (each sandbox using it holds
 * a reference) and every function below is thread-safe. Sessions with a
 * tree include its files in their snapshots.
 *
 * Host paths are relative to the tree's root; a leading '/' is allowed
 * ("/a/b.txt" and "a/b.txt" name the same file). "." and ".." components
 * are refused with ERYX_ERR_INVALID_ARGUMENT.
 */

/* Creates an empty tree. `quota_bytes`: most bytes it may hold, counting
 * file contents plus, for each file or directory, its path's length and 64
 * bytes (so empty files and long names are bounded too); 0: 64 MiB;
 * UINT64_MAX: no quota. At most 100000 files and directories, each at most
 * 4 GiB (also without a quota: a write far out fails with ENOSPC). The host
 * memory a tree holds follows what the quota counts: a file's buffer keeps
 * at most a quarter of its size (and at most 1 MiB) spare, and shrinking or
 * truncating a file gives the rest back at once.
 * `*out` is owned by the caller (eryx_vfs_free). */
eryx_error *eryx_vfs_new(uint64_t quota_bytes, eryx_vfs **out);

/* Drops the caller's reference; the tree is freed once no sandbox uses it. */
void eryx_vfs_free(eryx_vfs *vfs);

/* Writes a whole file (replacing it), creating missing parent directories.
 * Errors: ERYX_ERR_FILES (quota exceeded: the old content is kept; a
 * directory or file in the way), ERYX_ERR_INVALID_ARGUMENT. */
eryx_error *eryx_vfs_write_file(eryx_vfs *vfs, const char *path, size_t path_len,
                                const uint8_t *data, size_t len);

/* Reads a whole file into `*data` (owned by the caller: eryx_vfs_bytes_free)
 * and its length into `*len`. Errors: ERYX_ERR_FILES (no such file, a
 * directory), ERYX_ERR_INVALID_ARGUMENT. */
eryx_error *eryx_vfs_read_file(eryx_vfs *vfs, const char *path, size_t path_len,
                               uint8_t **data, size_t *len);
void eryx_vfs_bytes_free(uint8_t *data);

/* Creates a directory and its missing parents (an existing one is fine). */
eryx_error *eryx_vfs_mkdir(eryx_vfs *vfs, const char *path, size_t path_len);

/* Removes a file, or a directory with everything in it ("" or "/": empties
 * the tree). Errors: ERYX_ERR_FILES (no such path). */
eryx_error *eryx_vfs_remove(eryx_vfs *vfs, const char *path, size_t path_len);

/* Calls `fn` for every file and directory, sorted by path. The arguments
 * are valid during the call only; `fn` may use the tree. */
typedef void (*eryx_vfs_entry_fn)(void *user_data, const char *path, size_t path_len,
                                  int is_dir, uint64_t size);
eryx_error *eryx_vfs_list(eryx_vfs *vfs, eryx_vfs_entry_fn fn, void *user_data);

/* Bytes held (as counted against the quota), and the quota (UINT64_MAX:
 * none). */
uint64_t eryx_vfs_used_bytes(eryx_vfs *vfs);
uint64_t eryx_vfs_quota_bytes(const eryx_vfs *vfs);

/* The whole tree as bytes (ASCII text, checksummed), owned by the caller
 * (eryx_vfs_bytes_free); and back. Import replaces the tree's content only
 * if the archive is valid and fits the quota: otherwise ERYX_ERR_SNAPSHOT
 * (corrupt, foreign) or ERYX_ERR_FILES (too big), and nothing changes. */
eryx_error *eryx_vfs_export(eryx_vfs *vfs, uint8_t **data, size_t *len);
eryx_error *eryx_vfs_import(eryx_vfs *vfs, const uint8_t *data, size_t len);

/* ----------------------------------------------------------------- results */


typedef enum eryx_status {
  ERYX_STATUS_OK = 0,        /* the code ran to completion                 */
  ERYX_STATUS_SYNTAX = 1,    /* the code did not compile                   */
  ERYX_STATUS_EXCEPTION = 2, /* an exception escaped the code              */
  ERYX_STATUS_LIMIT = 3,     /* a limit (e.g. the timeout) ended the run   */
  ERYX_STATUS_INTERNAL = 4,  /* the sandbox itself failed (trap, bug)      */
  ERYX_STATUS_CANCELLED = 5, /* eryx_sandbox_cancel() stopped the run      */
  ERYX_STATUS_SUSPENDED = 6  /* a host function called eryx_call_suspend() */
} eryx_status;

/* Runs `code` (UTF-8, `code_len` bytes) as the body of
 * a fresh `__main__` module; top-level `await` is allowed. Python failures
 * (syntax errors, exceptions, limits) are reported in the result, with
 * whatever output was captured. On success `*out` is owned by the caller
 * (eryx_result_free). Errors: ERYX_ERR_INVALID_ARGUMENT (NULL, invalid
 * UTF-8), ERYX_ERR_RESOURCES, ERYX_ERR_WASMTIME (the sandbox could not be
 * re-created). Not thread-safe for one `sb`. */
eryx_error *eryx_sandbox_execute(eryx_sandbox *sb, const char *code,
                                 size_t code_len, eryx_result **out);

/* ------------------------------------------------- replay and suspension
 *
 * An execution can record a journal of its callback calls, and a later
 * execution of the same code can be given that journal to replay them: a
 * call that matches a recorded one is answered from the journal without
 * calling the host function. With eryx_call_suspend this gives durable,
 * resumable runs: a host function suspends the run (say, to ask a human),
 * the host keeps the journal (any storage, any process), and when the
 * answer is known it executes the same code again with the journal: the
 * calls before the suspension replay at once and the code runs on past it.
 * See README "Replay and suspension" for the format and the rules.
 *
 * Recording: every call answered during the run by the host function
 * (succeeded or failed), in the order the calls started, with its name, its
 * canonical arguments (parsed by jansson and written back compact with
 * sorted keys; the exact text when jansson cannot read them, e.g. an
 * integer beyond 64 bits) and its answer (the JSON text, or the failure's
 * error type and message). Not recorded: callback timeouts, cancelled
 * calls, calls the host's own checks refused, the suspended call. The
 * journal is at most ERYX_JOURNAL_MAX_BYTES of text: recording stops at
 * the first call that would not fit (the journal then says
 * "truncated": true; later calls simply run live on replay).
 *
 * Replay: a call that passes the host's checks (schema, sizes,
 * max_callback_invocations: replayed calls count) and whose name and
 * canonical arguments match an unused entry with that key takes the
 * earliest such entry (first in, first out per key, whatever order the
 * calls start in, so asyncio.gather batches replay); the host function and
 * its on_cancel are not called. The first call that matches nothing ends
 * replay: it and every later call of the execution run live. Replayed
 * calls are recorded again, so a resumed run's journal is complete.
 *
 * Signing: with a key, the journal recorded is signed (HMAC-SHA256 over
 * its canonical serialization without the signature), and the journal
 * given must carry a valid signature made with that key and have been
 * recorded for the same code (it holds the code's sha256). Without a key
 * any well-formed journal is accepted, for any code: a journal is then
 * trusted input (whoever writes it decides what the callbacks "answered").
 */
#define ERYX_JOURNAL_OPTIONS_VERSION 1

/* Most bytes of journal text, recorded or accepted: 16 MiB. */
#define ERYX_JOURNAL_MAX_BYTES ((size_t)16 << 20)

struct eryx_journal_options {
  unsigned int version; /* ERYX_JOURNAL_OPTIONS_VERSION */
  /* A journal to replay: JSON text from an earlier result
   * (eryx_result_journal), maybe of another process. NULL: record only.
   * At most ERYX_JOURNAL_MAX_BYTES and max_callback_invocations entries. */
  const char *journal;
  size_t journal_len;
  /* A secret key (1 to INT_MAX bytes; NULL: none) to sign the recorded
   * journal with and to check the given one against. */
  const uint8_t *key;
  size_t key_len;
};

#define ERYX_JOURNAL_OPTIONS_INIT {ERYX_JOURNAL_OPTIONS_VERSION, NULL, 0, NULL, 0}

/* Runs `code` like eryx_sandbox_execute() and records its journal
 * (eryx_result_journal), replaying opts->journal if given. `opts` NULL:
 * record only; it need not outlive the call. Each call starts with fresh
 * replay state. Works on any sandbox, pooled ones (eryx_pool_acquire)
 * included. Ownership as eryx_sandbox_execute(). Errors, before any code
 * runs: ERYX_ERR_INVALID_ARGUMENT (NULL arguments, an unknown options
 * version, a NULL journal or key with a length, an empty key),
 * ERYX_ERR_JOURNAL (the journal is not JSON, not an Eryx journal, of
 * another version, malformed, too large, holds more entries than
 * max_callback_invocations; with a key: "the journal is not signed", "the
 * journal's signature does not match: it was changed or signed with
 * another key", "the journal was recorded for different code"); then as
 * eryx_sandbox_execute(). */
eryx_error *eryx_sandbox_execute_journal(eryx_sandbox *sb, const char *code,
                                         size_t code_len,
                                         const eryx_journal_options *opts,
                                         eryx_result **out);

eryx_status eryx_result_status(const eryx_result *r);

/* A short name of the status: "ok", "syntax", "exception", "limit",
 * "internal", "cancelled", "suspended". Static storage. */
const char *eryx_status_name(eryx_status status);

/* Everything the code wrote to sys.stdout / sys.stderr (or to file
 * descriptors 1 / 2), in order: the bytes it wrote, which are UTF-8 for
 * text it printed and exactly what it gave for bytes (sys.stdout.buffer,
 * os.write), so not necessarily valid UTF-8. Also NUL-terminated. Never
 * NULL. */
const char *eryx_result_stdout(const eryx_result *r, size_t *len);
const char *eryx_result_stderr(const eryx_result *r, size_t *len);

/* JSON text of the result variable, or NULL when the code did not set it,
 * when it could not be converted (see eryx_result_json_error) or when the
 * execution failed. */
const char *eryx_result_json(const eryx_result *r, size_t *len);

/* Why the result variable could not be converted to JSON, or NULL. */
const char *eryx_result_json_error(const eryx_result *r, size_t *len);

/* For a failed execution: the Python exception type ("ZeroDivisionError",
 * "SyntaxError"; for limits "TimeoutError"), its message, the formatted
 * traceback of the user's code, and the line in the user's code (0 if
 * unknown). Empty strings (never NULL) when the execution succeeded. */
const char *eryx_result_error_type(const eryx_result *r, size_t *len);
const char *eryx_result_error_message(const eryx_result *r, size_t *len);
const char *eryx_result_traceback(const eryx_result *r, size_t *len);
uint32_t eryx_result_error_line(const eryx_result *r);

/* The exit status the code asked for by raising SystemExit (sys.exit),
 * as CPython's interpreter would exit with it: 0..255, or -1 when the code
 * did not end that way. sys.exit(), sys.exit(0) and sys.exit(None) are a
 * success (ERYX_STATUS_OK, exit status 0); any other exit is
 * ERYX_STATUS_EXCEPTION with error type "SystemExit", the code as the
 * message and no traceback: sys.exit(n) gives n (n outside 0..255 gives
 * 255, never a false success), sys.exit("text") prints the text to stderr
 * and gives 1. */
int eryx_result_exit_code(const eryx_result *r);

/* Wall-clock time of the execution in milliseconds (guest call only). */
double eryx_result_duration_ms(const eryx_result *r);

/* Non-zero when output beyond max_output_bytes was dropped. */
int eryx_result_output_truncated(const eryx_result *r);

/* Fuel the execution used (0 unless the sandbox counts fuel: max_fuel or
 * count_fuel). */
uint64_t eryx_result_fuel_consumed(const eryx_result *r);

/* Largest total size of the sandbox's WebAssembly linear memory, in bytes,
 * by the end of the execution (linear memory never shrinks, so for a session
 * this is the size reached so far). Includes the runtime's own heap image. */
uint64_t eryx_result_peak_memory_bytes(const eryx_result *r);

/* How many callback invocations the execution started. */
uint32_t eryx_result_callback_invocations(const eryx_result *r);

/* The journal an eryx_*_execute_journal() recorded, as JSON text (owned by
 * `r`), also when the code failed, hit a limit or was suspended; NULL for
 * a plain execute. */
const char *eryx_result_journal(const eryx_result *r, size_t *len);

/* How many of the execution's callback calls were answered from the
 * journal it was given (0 for a plain execute). */
uint32_t eryx_result_replayed_callbacks(const eryx_result *r);

/* For ERYX_STATUS_SUSPENDED: the suspended call's callback name, its
 * canonical arguments (JSON text, as in the journal) and the reason the
 * host gave (owned by `r`); NULL for any other status. */
const char *eryx_result_suspended_name(const eryx_result *r, size_t *len);
const char *eryx_result_suspended_args(const eryx_result *r, size_t *len);
const char *eryx_result_suspended_reason(const eryx_result *r, size_t *len);

/* Network traffic of the execution: bytes the code sent and received
 * (payload, after TLS decryption) and connections it opened. */
uint64_t eryx_result_net_bytes_sent(const eryx_result *r);
uint64_t eryx_result_net_bytes_received(const eryx_result *r);
uint32_t eryx_result_net_connections(const eryx_result *r);

void eryx_result_free(eryx_result *r);

#ifdef __cplusplus
}
#endif

#endif /* ERYX_H */
