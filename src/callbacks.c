/*
 * callbacks.c — host callbacks: registry, call handles and completions.
 *
 * Lifetimes. An eryx_call is shared by two owners: the host (until it
 * answers with eryx_call_succeed/fail) and the sandbox (until the answer is
 * delivered to Python or the call is cancelled). Answers travel through the
 * eryx_call_queue, which each call also references, so a host answering from
 * another thread after the execution, or the whole sandbox, is gone only
 * touches memory that is still alive; the answer is then dropped.
 *
 * Threads. Everything except eryx_call_succeed/fail/cancelled runs on the
 * thread executing the sandbox. The queue's mutex guards the completion list
 * and each call's `answered` flag; `cancelled` is atomic.
 *
 * Waiting. callback-wait sleeps on the queue's condition variable until an
 * answer arrives, the guest's own timeout, a per-call timeout or the
 * execution's deadline passes: an execution waiting on callbacks uses no CPU.
 * The queue also has an eventfd, readable while answers are queued, so that
 * the network's `wait` (deps/wasmtime/src/net/) can wait on sockets and
 * answers together: signalled with each answer, reset when they are taken.
 *
 * Executions. The queue numbers executions (bumped at begin and at end,
 * under its mutex) and each call remembers the number it started in, so an
 * answer or a suspension that arrives after its execution ended is dropped
 * even if another execution has begun since.
 *
 * Suspension. eryx_call_suspend may come from any thread and the call only
 * holds the queue, so the request is kept there: the first one of an
 * execution is stored and the atomic `suspended` flag set; every place that
 * notices a cancel notices it too (the waits here, the epoch callback and
 * the blocking check via eryx__callbacks_suspended, callback-start), and
 * the execution ends as it does on a cancel.
 *
 * Journals. With a journal (journal.c), each call that passes the host's
 * checks is looked up before the host function would be called: a replayed
 * call is answered at once from the journal through the ordinary queue
 * (the host function and on_cancel never see it). Every answer collected
 * for the guest, and every answer still queued when the execution ends,
 * is recorded in the slot the call got when it started.
 */
#include "callbacks.h"
#include "journal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_MAX_INVOCATIONS 1000
#define DEFAULT_CALLBACK_TIMEOUT_MS 10000
#define DEFAULT_MAX_ARGS_BYTES ((uint64_t)1 << 20)
#define DEFAULT_MAX_ARGS_IN_FLIGHT_BYTES ((uint64_t)16 << 20)

struct eryx_call_queue {
  pthread_mutex_t mu;
  pthread_cond_t cv;   /* signalled when a completion is queued */
  atomic_int refs;     /* the sandbox + each call */
  eryx_completion *head, *tail;
  int efd;             /* eventfd: readable while head != NULL (-1: none
                          yet: made on first use, by the network's wait,
                          so a sandbox without one holds no descriptor) */
  uint64_t execution;  /* under mu: bumped at each begin and end */
  bool executing;      /* under mu: between begin and end */
  atomic_int suspended; /* a suspension was asked for in this execution */
  eryx_suspension *suspension; /* under mu: the first one's record */
};

struct eryx_call {
  eryx_call_queue *q;
  uint64_t id;
  char *name;
  size_t name_len;
  const eryx_cb_def *def; /* only used on the execution thread */
  uint64_t deadline_ns;   /* UINT64_MAX: none */
  char *args;             /* as the host function got them */
  size_t args_len;        /* counted in args_in_flight_bytes while in flight */
  uint64_t execution;     /* the queue's execution number at the start */
  size_t journal_slot;    /* ERYX__JOURNAL_NO_SLOT: not recorded */
  bool replayed;          /* answered from the journal */
  atomic_int refs;        /* host + sandbox */
  atomic_int cancelled;
  bool answered;          /* under q->mu */
  eryx_call *next;        /* in the sandbox's in-flight list */
};

uint64_t eryx__now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t eryx__deadline_after_ms(uint64_t ms) {
  uint64_t now = eryx__now_ns();
  if (ms == UINT64_MAX || ms > (UINT64_MAX - now) / 1000000u)
    return UINT64_MAX;
  return now + ms * 1000000u;
}

/* ------------------------------------------------------------------ queue */

static eryx_call_queue *queue_new(void) {
  eryx_call_queue *q = calloc(1, sizeof *q);
  if (!q)
    return NULL;
  pthread_mutex_init(&q->mu, NULL);
  pthread_condattr_t attr;
  pthread_condattr_init(&attr);
  pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
  pthread_cond_init(&q->cv, &attr);
  pthread_condattr_destroy(&attr);
  atomic_init(&q->refs, 1);
  atomic_init(&q->suspended, 0);
  q->efd = -1;
  return q;
}

/* Under q->mu: the eventfd follows whether answers are queued. */
static void queue_signal(eryx_call_queue *q) {
  if (q->efd >= 0)
    (void)eventfd_write(q->efd, 1);
}

static void queue_reset(eryx_call_queue *q) {
  eventfd_t v;
  if (q->efd >= 0)
    (void)eventfd_read(q->efd, &v);
}

int eryx__callbacks_fd(const eryx_callbacks *cb) {
  eryx_call_queue *q = cb->queue;
  if (!q)
    return -1;
  pthread_mutex_lock(&q->mu);
  if (q->efd < 0) {
    q->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (q->head)
      queue_signal(q); /* answers already waiting: readable at once */
  }
  int fd = q->efd;
  pthread_mutex_unlock(&q->mu);
  return fd;
}

void eryx__completions_free(eryx_completion *c) {
  while (c) {
    eryx_completion *next = c->next;
    free(c->value);
    free(c->error_type);
    free(c);
    c = next;
  }
}

void eryx__suspension_free(eryx_suspension *s) {
  if (!s)
    return;
  free(s->name);
  free(s->args);
  free(s->reason);
  free(s);
}

static void queue_release(eryx_call_queue *q) {
  if (atomic_fetch_sub(&q->refs, 1) != 1)
    return;
  eryx__completions_free(q->head);
  eryx__suspension_free(q->suspension);
  if (q->efd >= 0)
    close(q->efd);
  pthread_mutex_destroy(&q->mu);
  pthread_cond_destroy(&q->cv);
  free(q);
}

static void call_release(eryx_call *call) {
  if (atomic_fetch_sub(&call->refs, 1) != 1)
    return;
  eryx_call_queue *q = call->q;
  free(call->name);
  free(call->args);
  free(call);
  queue_release(q);
}

/* ---------------------------------------------------------- host answers */

static eryx_error *answer(eryx_call *call, bool ok, const char *type,
                          size_t type_len, const char *value, size_t len) {
  eryx_completion *c = calloc(1, sizeof *c);
  if (c) {
    c->id = call->id;
    c->ok = ok;
    c->value = eryx__strndup(value, len);
    c->value_len = len;
    c->error_type = eryx__strndup(type ? type : "", type ? type_len : 0);
    c->error_type_len = type ? type_len : 0;
  }
  eryx_error *err = NULL;
  if (!c || !c->value || !c->error_type) {
    eryx__completions_free(c);
    c = NULL;
    err = eryx__error_new(ERYX_ERR_RESOURCES, "out of memory queuing an answer");
  }
  eryx_call_queue *q = call->q;
  pthread_mutex_lock(&q->mu);
  bool drop = call->answered || atomic_load(&call->cancelled) || !c ||
              call->execution != q->execution || !q->executing;
  call->answered = true;
  if (!drop) {
    if (q->tail)
      q->tail->next = c;
    else
      q->head = c;
    q->tail = c;
    queue_signal(q);
    pthread_cond_broadcast(&q->cv);
  }
  pthread_mutex_unlock(&q->mu);
  if (drop)
    eryx__completions_free(c);
  call_release(call);
  return err;
}

eryx_error *eryx_call_succeed(eryx_call *call, const char *json, size_t len) {
  if (!call)
    return eryx__error_new(ERYX_ERR_INVALID_ARGUMENT, "call is NULL");
  if (!json || !eryx__utf8_valid(json, len)) {
    static const char msg[] = "the host answered with invalid UTF-8";
    answer(call, false, "HostError", 9, msg, sizeof msg - 1);
    return eryx__error_new(ERYX_ERR_INVALID_ARGUMENT,
                           "eryx_call_succeed: json is NULL or not UTF-8");
  }
  return answer(call, true, NULL, 0, json, len);
}

eryx_error *eryx_call_fail(eryx_call *call, const char *error_type,
                           size_t error_type_len, const char *message,
                           size_t message_len) {
  if (!call)
    return eryx__error_new(ERYX_ERR_INVALID_ARGUMENT, "call is NULL");
  if (!message)
    message_len = 0;
  if (!error_type)
    error_type_len = 0;
  if (!eryx__utf8_valid(message ? message : "", message_len) ||
      !eryx__utf8_valid(error_type ? error_type : "", error_type_len)) {
    static const char msg[] = "the host failed the call with invalid UTF-8";
    answer(call, false, "HostError", 9, msg, sizeof msg - 1);
    return eryx__error_new(ERYX_ERR_INVALID_ARGUMENT,
                           "eryx_call_fail: text is not UTF-8");
  }
  return answer(call, false, error_type, error_type_len, message ? message : "",
                message_len);
}

eryx_error *eryx_call_suspend(eryx_call *call, const char *reason, size_t reason_len) {
  if (!call)
    return eryx__error_new(ERYX_ERR_INVALID_ARGUMENT, "call is NULL");
  if (!reason)
    reason_len = 0;
  eryx_error *err = NULL;
  eryx_buf why = {0};
  if (eryx__utf8_valid(reason ? reason : "", reason_len)) {
    eryx__buf_append(&why, reason ? reason : "", reason_len);
  } else {
    eryx__buf_append_lossy(&why, reason, reason_len);
    err = eryx__error_new(ERYX_ERR_INVALID_ARGUMENT,
                          "eryx_call_suspend: the reason is not UTF-8 (bad bytes were replaced)");
  }
  /* The record is made before the lock; the call's name and arguments
   * stay as they are while the host holds the call. */
  eryx_suspension *s = calloc(1, sizeof *s);
  if (s) {
    s->name = eryx__strndup(call->name, call->name_len);
    s->name_len = call->name_len;
    s->args = eryx__strndup(call->args, call->args_len);
    s->args_len = call->args_len;
    s->reason = why.oom ? NULL : eryx__buf_take(&why, &s->reason_len);
  }
  eryx__buf_free(&why);
  if ((!s || !s->name || !s->args || !s->reason) && !err)
    err = eryx__error_new(ERYX_ERR_RESOURCES,
                          "out of memory recording the suspension (the execution is still "
                          "suspended)");
  eryx_call_queue *q = call->q;
  pthread_mutex_lock(&q->mu);
  bool take = !call->answered && !atomic_load(&call->cancelled) && q->executing &&
              call->execution == q->execution && !atomic_load(&q->suspended);
  call->answered = true;
  if (take) {
    q->suspension = s;
    s = NULL;
    atomic_store(&q->suspended, 1);
    queue_signal(q); /* wakes a network wait, which then sees the flag */
    pthread_cond_broadcast(&q->cv);
  }
  pthread_mutex_unlock(&q->mu);
  eryx__suspension_free(s);
  call_release(call);
  return err;
}

const char *eryx_call_name(const eryx_call *call, size_t *len) {
  if (len)
    *len = call->name_len;
  return call->name;
}

int eryx_call_cancelled(const eryx_call *call) {
  return atomic_load(&((eryx_call *)call)->cancelled);
}

/* --------------------------------------------------------------- registry */

static bool valid_name(const char *s, size_t n) {
  bool at_start = true;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    if (c == '.') {
      if (at_start)
        return false;
      at_start = true;
    } else if (alpha || (!at_start && c >= '0' && c <= '9')) {
      at_start = false;
    } else {
      return false;
    }
  }
  return n > 0 && !at_start;
}

/* Names the first part of a callback name may not take: it is bound in the
 * code's namespace, where it would hide a keyword (unusable), a builtin
 * (`print` would print nothing) or the runtime's own helpers. */
static const char *const reserved_names[] = {
    /* keywords and soft keywords */
    "False", "None", "True", "and", "as", "assert", "async", "await", "break", "case",
    "class", "continue", "def", "del", "elif", "else", "except", "finally", "for", "from",
    "global", "if", "import", "in", "is", "lambda", "match", "nonlocal", "not", "or",
    "pass", "raise", "return", "try", "type", "while", "with", "yield",
    /* the runtime's helpers */
    "invoke", "list_callbacks",
    /* builtins of Python 3.14 */
    "ArithmeticError", "AssertionError", "AttributeError", "BaseException",
    "BaseExceptionGroup", "BlockingIOError", "BrokenPipeError", "BufferError", "BytesWarning",
    "ChildProcessError", "ConnectionAbortedError", "ConnectionError",
    "ConnectionRefusedError", "ConnectionResetError", "DeprecationWarning", "EOFError",
    "Ellipsis", "EncodingWarning", "EnvironmentError", "Exception", "ExceptionGroup",
    "FileExistsError", "FileNotFoundError", "FloatingPointError", "FutureWarning",
    "GeneratorExit", "IOError", "ImportError", "ImportWarning", "IndentationError",
    "IndexError", "InterruptedError", "IsADirectoryError", "KeyError", "KeyboardInterrupt",
    "LookupError", "MemoryError", "ModuleNotFoundError", "NameError", "NotADirectoryError",
    "NotImplemented", "NotImplementedError", "OSError", "OverflowError",
    "PendingDeprecationWarning", "PermissionError", "ProcessLookupError",
    "PythonFinalizationError", "RecursionError", "ReferenceError", "ResourceWarning",
    "RuntimeError", "RuntimeWarning", "StopAsyncIteration", "StopIteration", "SyntaxError",
    "SyntaxWarning", "SystemError", "SystemExit", "TabError", "TimeoutError", "TypeError",
    "UnboundLocalError", "UnicodeDecodeError", "UnicodeEncodeError", "UnicodeError",
    "UnicodeTranslateError", "UnicodeWarning", "UserWarning", "ValueError", "Warning",
    "ZeroDivisionError", "abs", "aiter", "all", "anext", "any", "ascii", "bin", "bool",
    "breakpoint", "bytearray", "bytes", "callable", "chr", "classmethod", "compile",
    "complex", "copyright", "credits", "delattr", "dict", "dir", "divmod", "enumerate",
    "eval", "exec", "exit", "filter", "float", "format", "frozenset", "getattr", "globals",
    "hasattr", "hash", "help", "hex", "id", "input", "int", "isinstance", "issubclass",
    "iter", "len", "license", "list", "locals", "map", "max", "memoryview", "min", "next",
    "object", "oct", "open", "ord", "pow", "print", "property", "quit", "range", "repr",
    "reversed", "round", "set", "setattr", "slice", "sorted", "staticmethod", "str", "sum",
    "super", "tuple", "vars", "zip",
};

/* NULL if the first part of `name` may be bound, else why not. */
static const char *reserved_reason(const char *name, size_t n) {
  size_t first = 0;
  while (first < n && name[first] != '.')
    first++;
  if (name[0] == '_')
    return "names starting with an underscore are reserved";
  for (size_t i = 0; i < sizeof reserved_names / sizeof reserved_names[0]; i++)
    if (strlen(reserved_names[i]) == first && !memcmp(reserved_names[i], name, first))
      return "it would hide a Python keyword, builtin or runtime helper of that name";
  return NULL;
}

/* "a.b" is a namespace of "a.b.c": both cannot be callbacks. */
static bool is_prefix_path(const eryx_cb_def *a, const eryx_cb_def *b) {
  return a->name_len < b->name_len && !memcmp(a->name, b->name, a->name_len) &&
         b->name[a->name_len] == '.';
}

/* Copies one definition; a library's callbacks get "<library>." in front. */
static eryx_error *copy_def(eryx_cb_def *d, const eryx_callback *c, size_t i,
                            const eryx_library *lib, int lib_index) {
  d->library = lib_index;
  if (!c->name || !valid_name(c->name, c->name_len))
    return eryx__error_new(ERYX_ERR_INVALID_ARGUMENT,
                           "callback %zu: name must be Python identifiers "
                           "separated by dots",
                           i);
  const char *why = lib ? NULL : reserved_reason(c->name, c->name_len);
  if (why)
    return eryx__error_new(ERYX_ERR_INVALID_ARGUMENT, "callback '%.*s': %s",
                           (int)c->name_len, c->name, why);
  if (!c->fn)
    return eryx__error_new(ERYX_ERR_INVALID_ARGUMENT,
                           "callback '%.*s': fn is NULL", (int)c->name_len, c->name);
  const char *desc = c->description ? c->description : "";
  size_t desc_len = c->description ? c->description_len : 0;
  if (!eryx__utf8_valid(desc, desc_len))
    return eryx__error_new(ERYX_ERR_INVALID_ARGUMENT,
                           "callback '%.*s': description is not UTF-8",
                           (int)c->name_len, c->name);
  const char *schema = c->schema_json ? c->schema_json : "{}";
  size_t schema_len = c->schema_json ? c->schema_len : 2;
  size_t k = 0;
  while (k < schema_len && strchr(" \t\r\n", schema[k]) && schema[k])
    k++;
  if (!eryx__utf8_valid(schema, schema_len) || k == schema_len || schema[k] != '{')
    return eryx__error_new(ERYX_ERR_INVALID_ARGUMENT,
                           "callback '%.*s': schema is not a JSON object",
                           (int)c->name_len, c->name);
  if (c->schema_json) {
    char why_not[512];
    d->validator = eryx__schema_compile(schema, schema_len, 0, why_not, sizeof why_not);
    if (!d->validator)
      return eryx__error_new(ERYX_ERR_INVALID_ARGUMENT, "callback '%.*s': %s",
                             (int)c->name_len, c->name, why_not);
  }
  eryx_buf name = {0};
  if (lib) {
    eryx__buf_append(&name, lib->name, lib->name_len);
    eryx__buf_append(&name, ".", 1);
  }
  eryx__buf_append(&name, c->name, c->name_len);
  d->name = name.oom ? NULL : eryx__buf_take(&name, &d->name_len);
  eryx__buf_free(&name);
  d->description = eryx__strndup(desc, desc_len);
  d->description_len = desc_len;
  d->schema = eryx__strndup(schema, schema_len);
  d->schema_len = schema_len;
  d->fn = c->fn;
  d->on_cancel = c->on_cancel;
  d->user_data = c->user_data;
  if (!d->name || !d->description || !d->schema)
    return eryx__error_new(ERYX_ERR_RESOURCES, "out of memory");
  return NULL;
}

static bool build_list_json(eryx_callbacks *cb, const eryx_library *libs,
                            size_t nlibs) {
  eryx_buf b = {0};
  eryx__buf_append(&b, "{\"callbacks\":[", 14);
  for (size_t i = 0; i < cb->count; i++) {
    const eryx_cb_def *d = &cb->defs[i];
    if (i)
      eryx__buf_append(&b, ",", 1);
    eryx__buf_append(&b, "{\"name\":", 8);
    eryx__json_append_string(&b, d->name, d->name_len);
    eryx__buf_append(&b, ",\"description\":", 15);
    eryx__json_append_string(&b, d->description, d->description_len);
    eryx__buf_append(&b, ",\"schema\":", 10);
    eryx__buf_append(&b, d->schema, d->schema_len);
    if (d->library >= 0) {
      eryx__buf_append(&b, ",\"library\":", 11);
      eryx__json_append_string(&b, libs[d->library].name, libs[d->library].name_len);
    }
    eryx__buf_append(&b, "}", 1);
  }
  eryx__buf_append(&b, "],\"libraries\":[", 15);
  for (size_t i = 0; i < nlibs; i++) {
    if (i)
      eryx__buf_append(&b, ",", 1);
    eryx__buf_append(&b, "{\"name\":", 8);
    eryx__json_append_string(&b, libs[i].name, libs[i].name_len);
    eryx__buf_append(&b, ",\"source\":", 10);
    eryx__json_append_string(&b, libs[i].python_source ? libs[i].python_source : "",
                             libs[i].python_source ? libs[i].python_source_len : 0);
    eryx__buf_append(&b, "}", 1);
  }
  eryx__buf_append(&b, "]}", 2);
  if (b.oom) {
    eryx__buf_free(&b);
    return false;
  }
  cb->list_json = eryx__buf_take(&b, &cb->list_json_len);
  return cb->list_json != NULL;
}

static eryx_error *check_library(const eryx_library *lib, size_t i) {
  if (!lib->name || !valid_name(lib->name, lib->name_len) ||
      memchr(lib->name, '.', lib->name_len))
    return eryx__error_new(ERYX_ERR_INVALID_ARGUMENT,
                           "library %zu: name must be a Python identifier", i);
  if (lib->callback_count && !lib->callbacks)
    return eryx__error_new(ERYX_ERR_INVALID_ARGUMENT,
                           "library '%.*s': callbacks is NULL", (int)lib->name_len,
                           lib->name);
  if ((lib->python_source &&
       !eryx__utf8_valid(lib->python_source, lib->python_source_len)) ||
      (lib->stubs && !eryx__utf8_valid(lib->stubs, lib->stubs_len)))
    return eryx__error_new(ERYX_ERR_INVALID_ARGUMENT,
                           "library '%.*s': source or stubs are not UTF-8",
                           (int)lib->name_len, lib->name);
  return NULL;
}

static bool build_stubs(eryx_callbacks *cb, const eryx_library *libs, size_t n) {
  eryx_buf b = {0};
  for (size_t i = 0; i < n; i++) {
    if (i)
      eryx__buf_append(&b, "\n", 1);
    eryx__buf_append(&b, "# module ", 9);
    eryx__buf_append(&b, libs[i].name, libs[i].name_len);
    eryx__buf_append(&b, "\n", 1);
    if (libs[i].stubs)
      eryx__buf_append(&b, libs[i].stubs, libs[i].stubs_len);
    if (b.len && b.data[b.len - 1] != '\n')
      eryx__buf_append(&b, "\n", 1);
  }
  if (b.oom) {
    eryx__buf_free(&b);
    return false;
  }
  cb->stubs = eryx__buf_take(&b, &cb->stubs_len);
  return cb->stubs != NULL;
}

eryx_error *eryx__callbacks_init(eryx_callbacks *cb, const eryx_sandbox_options *opts) {
  memset(cb, 0, sizeof *cb);
  size_t plain = opts ? opts->callback_count : 0;
  size_t nlibs = opts ? opts->library_count : 0;
  const eryx_library *libs = nlibs ? opts->libraries : NULL;
  if (plain && !opts->callbacks)
    return eryx__error_new(ERYX_ERR_INVALID_ARGUMENT,
                           "callback_count is %zu but callbacks is NULL", plain);
  if (nlibs && !libs)
    return eryx__error_new(ERYX_ERR_INVALID_ARGUMENT,
                           "library_count is %zu but libraries is NULL", nlibs);
  size_t n = plain;
  for (size_t i = 0; i < nlibs; i++) {
    eryx_error *err = check_library(&libs[i], i);
    if (err)
      return err;
    for (size_t j = 0; j < i; j++)
      if (libs[j].name_len == libs[i].name_len &&
          !memcmp(libs[j].name, libs[i].name, libs[i].name_len))
        return eryx__error_new(ERYX_ERR_INVALID_ARGUMENT,
                               "two libraries are named '%.*s'", (int)libs[i].name_len,
                               libs[i].name);
    n += libs[i].callback_count;
  }
  cb->max_invocations = opts && opts->max_callback_invocations
                            ? opts->max_callback_invocations
                            : DEFAULT_MAX_INVOCATIONS;
  cb->timeout_ms = opts && opts->callback_timeout_ms ? opts->callback_timeout_ms
                                                     : DEFAULT_CALLBACK_TIMEOUT_MS;
  bool v2 = opts && opts->version >= 2;
  cb->max_args_bytes = v2 && opts->max_callback_args_bytes ? opts->max_callback_args_bytes
                                                           : DEFAULT_MAX_ARGS_BYTES;
  cb->max_args_in_flight_bytes = v2 && opts->max_callback_args_in_flight_bytes
                                     ? opts->max_callback_args_in_flight_bytes
                                     : DEFAULT_MAX_ARGS_IN_FLIGHT_BYTES;
  cb->queue = queue_new();
  cb->defs = n ? calloc(n, sizeof *cb->defs) : NULL;
  if (!cb->queue || (n && !cb->defs))
    return eryx__error_new(ERYX_ERR_RESOURCES, "out of memory");
  size_t lib = 0, in_lib = 0; /* walks the libraries' callbacks after plain ones */
  for (size_t i = 0; i < n; i++) {
    cb->count = i + 1; /* so that free() releases what was copied */
    eryx_error *err;
    if (i < plain) {
      err = copy_def(&cb->defs[i], &opts->callbacks[i], i, NULL, -1);
    } else {
      while (in_lib >= libs[lib].callback_count) {
        lib++;
        in_lib = 0;
      }
      err = copy_def(&cb->defs[i], &libs[lib].callbacks[in_lib], in_lib, &libs[lib],
                     (int)lib);
      in_lib++;
    }
    if (err)
      return err;
    for (size_t j = 0; j < i; j++) {
      const eryx_cb_def *a = &cb->defs[j], *b = &cb->defs[i];
      if ((a->name_len == b->name_len && !memcmp(a->name, b->name, a->name_len)) ||
          is_prefix_path(a, b) || is_prefix_path(b, a))
        return eryx__error_new(ERYX_ERR_INVALID_ARGUMENT,
                               "callbacks '%s' and '%s' clash (same name, or "
                               "one is the other's namespace)",
                               a->name, b->name);
    }
  }
  if (!build_list_json(cb, libs, nlibs) || !build_stubs(cb, libs, nlibs))
    return eryx__error_new(ERYX_ERR_RESOURCES, "out of memory");
  return NULL;
}

void eryx__callbacks_free(eryx_callbacks *cb) {
  if (cb->queue)
    eryx__callbacks_end(cb);
  eryx__suspension_free(cb->suspension);
  for (size_t i = 0; i < cb->count; i++) {
    free(cb->defs[i].name);
    free(cb->defs[i].description);
    free(cb->defs[i].schema);
    eryx__schema_free(cb->defs[i].validator);
  }
  free(cb->defs);
  free(cb->list_json);
  free(cb->stubs);
  if (cb->queue)
    queue_release(cb->queue);
  memset(cb, 0, sizeof *cb);
}

/* ------------------------------------------------------------ executions */

/* on_cancel is for calls the host has not answered yet (a replayed call
 * was answered by the journal, a suspended one by the suspension). */
static void cancel_call(eryx_call *call) {
  pthread_mutex_lock(&call->q->mu);
  bool answered = call->answered;
  atomic_store(&call->cancelled, 1);
  pthread_mutex_unlock(&call->q->mu);
  if (!answered && !call->replayed && call->def->on_cancel)
    call->def->on_cancel(call->def->user_data, call);
}

static void journal_dropped(eryx_callbacks *cb, const eryx_call *call) {
  if (cb->journal)
    eryx__journal_call_dropped(cb->journal, call->journal_slot);
}

static void journal_answered(eryx_callbacks *cb, const eryx_call *call,
                             const eryx_completion *c) {
  if (cb->journal)
    eryx__journal_call_answered(cb->journal, call->journal_slot, c->ok, c->error_type,
                                c->error_type_len, c->value, c->value_len);
}

/* Unlinks `*p` from the in-flight list (its arguments stop counting). */
static eryx_call *unlink_call(eryx_callbacks *cb, eryx_call **p) {
  eryx_call *call = *p;
  *p = call->next;
  cb->args_in_flight_bytes -= call->args_len;
  return call;
}

/* Unlinks `id` from the in-flight list; NULL if it is not there. */
static eryx_call *take_in_flight(eryx_callbacks *cb, uint64_t id) {
  for (eryx_call **p = &cb->in_flight; *p; p = &(*p)->next)
    if ((*p)->id == id)
      return unlink_call(cb, p);
  return NULL;
}

void eryx__callbacks_begin(eryx_callbacks *cb, struct eryx__journal *journal) {
  cb->invocations = 0;
  cb->executing = true;
  cb->journal = journal;
  eryx__suspension_free(cb->suspension);
  cb->suspension = NULL;
  eryx_call_queue *q = cb->queue;
  pthread_mutex_lock(&q->mu);
  q->execution++;
  q->executing = true;
  atomic_store(&q->suspended, 0);
  pthread_mutex_unlock(&q->mu);
}

void eryx__callbacks_end(eryx_callbacks *cb) {
  cb->executing = false;
  /* From here on answers and suspensions are dropped as they come. */
  eryx_call_queue *q = cb->queue;
  pthread_mutex_lock(&q->mu);
  q->execution++;
  q->executing = false;
  eryx_completion *stale = q->head;
  q->head = q->tail = NULL;
  queue_reset(q);
  eryx_suspension *susp = q->suspension;
  q->suspension = NULL;
  atomic_store(&q->suspended, 0);
  pthread_mutex_unlock(&q->mu);
  /* Answers that arrived but were never collected were still answered
   * during the run: journaled, then dropped. */
  for (eryx_completion *c = cb->journal ? stale : NULL; c; c = c->next)
    for (eryx_call *call = cb->in_flight; call; call = call->next)
      if (call->id == c->id)
        journal_answered(cb, call, c);
  eryx__completions_free(stale);
  while (cb->in_flight) {
    eryx_call *call = unlink_call(cb, &cb->in_flight);
    journal_dropped(cb, call);
    cancel_call(call);
    call_release(call);
  }
  cb->journal = NULL;
  eryx__suspension_free(cb->suspension);
  cb->suspension = susp;
}

eryx_suspension *eryx__callbacks_take_suspension(eryx_callbacks *cb) {
  eryx_suspension *s = cb->suspension;
  cb->suspension = NULL;
  return s;
}

bool eryx__callbacks_suspended(const eryx_callbacks *cb) {
  return cb->queue && atomic_load(&cb->queue->suspended) != 0;
}

static bool stopping(const eryx_callbacks *cb) {
  return (cb->stop && atomic_load(cb->stop) != 0) || eryx__callbacks_suspended(cb);
}

/* The host's own checks of a call's arguments, whoever sent them: sizes
 * first (nothing is parsed past a cap), then JSON and the schema. Returns
 * true when the call may go ahead; else sets *kind and a malloc'd
 * *message naming what was wrong. */
static bool refuse_args(eryx_callbacks *cb, const eryx_cb_def *def, const char *args,
                        size_t args_len, const char **kind, char **message) {
  char text[700];
  *message = NULL;
  if (args_len > cb->max_args_bytes) {
    *kind = "limit";
    snprintf(text, sizeof text,
             "arguments of '%s' are %zu bytes, over max_callback_args_bytes (%llu)",
             def->name, args_len, (unsigned long long)cb->max_args_bytes);
  } else if (args_len > cb->max_args_in_flight_bytes - cb->args_in_flight_bytes) {
    *kind = "limit";
    snprintf(text, sizeof text,
             "arguments of calls in flight would exceed max_callback_args_in_flight_bytes "
             "(%llu; %llu held, this call %zu): await some calls first",
             (unsigned long long)cb->max_args_in_flight_bytes,
             (unsigned long long)cb->args_in_flight_bytes, args_len);
  } else {
    char why[512];
    size_t k = 0;
    while (k < args_len && strchr(" \t\r\n", args[k]) && args[k])
      k++;
    int rc = def->validator
                 ? eryx__schema_validate(def->validator, args, args_len, why, sizeof why)
                 : eryx__json_check(args, args_len, why, sizeof why);
    if (rc == 0 && (k == args_len || args[k] != '{')) {
      rc = 2;
      snprintf(why, sizeof why, "arguments must be a JSON object");
    }
    if (rc == 0)
      return true;
    *kind = "invalid";
    snprintf(text, sizeof text, "%s: %s", def->name, why);
  }
  *message = eryx__strndup(text, strlen(text));
  return false;
}

bool eryx__callbacks_start(eryx_callbacks *cb, const char *name, size_t name_len,
                           const char *args, size_t args_len, uint64_t *id,
                           const char **kind, char **message) {
  char text[256];
  if (!cb->executing) { /* a snapshot restore or warm-up: nobody accounts for it */
    *kind = "host";
    snprintf(text, sizeof text, "callbacks can only be called while code executes");
    *message = eryx__strndup(text, strlen(text));
    return false;
  }
  if (stopping(cb)) { /* cancelled or suspended: nothing more starts */
    *kind = "host";
    snprintf(text, sizeof text, "the execution is stopping");
    *message = eryx__strndup(text, strlen(text));
    return false;
  }
  const eryx_cb_def *def = NULL;
  for (size_t i = 0; i < cb->count && !def; i++)
    if (cb->defs[i].name_len == name_len && !memcmp(cb->defs[i].name, name, name_len))
      def = &cb->defs[i];
  if (!def) {
    *kind = "unknown";
    snprintf(text, sizeof text, "no callback named '%.*s'",
             (int)eryx__utf8_prefix(name, name_len, 100), name);
    *message = eryx__strndup(text, strlen(text));
    return false;
  }
  if (cb->invocations >= cb->max_invocations) {
    *kind = "limit";
    snprintf(text, sizeof text,
             "callback invocation limit reached (%u per execution)",
             cb->max_invocations);
    *message = eryx__strndup(text, strlen(text));
    return false;
  }
  /* The host function never sees a secret: values and placeholders are
   * redacted first (within the size cap), and the result is what is
   * checked. */
  eryx_buf scrubbed = {0};
  if (cb->secrets && args_len <= cb->max_args_bytes) {
    eryx__scrub_append(cb->secrets, &scrubbed, args, args_len);
    if (scrubbed.oom) {
      eryx__buf_free(&scrubbed);
      *kind = "host";
      *message = eryx__strndup("out of memory", 13);
      return false;
    }
    args = scrubbed.data ? scrubbed.data : "";
    args_len = scrubbed.len;
  }
  if (!refuse_args(cb, def, args, args_len, kind, message)) {
    eryx__buf_free(&scrubbed);
    if (!*message)
      *message = eryx__strndup("out of memory", 13);
    return false;
  }
  /* Replay: the journal may hold this call's answer. On a journal error
   * (out of memory) the call simply runs live. */
  size_t slot = ERYX__JOURNAL_NO_SLOT;
  const eryx__journal_answer *replay = NULL;
  if (cb->journal)
    (void)eryx__journal_call_start(cb->journal, def->name, def->name_len, args, args_len, &slot,
                                   &replay);
  eryx_call *call = calloc(1, sizeof *call);
  char *args_copy = call ? eryx__strndup(args, args_len) : NULL;
  if (!call || !args_copy || !(call->name = eryx__strndup(def->name, def->name_len))) {
    free(call);
    free(args_copy);
    eryx__buf_free(&scrubbed);
    if (cb->journal)
      eryx__journal_call_dropped(cb->journal, slot);
    *kind = "host";
    *message = eryx__strndup("out of memory", 13);
    return false;
  }
  cb->invocations++;
  call->args = args_copy;
  call->execution = cb->queue->execution; /* only this thread changes it */
  call->journal_slot = slot;
  call->replayed = replay != NULL;
  call->q = cb->queue;
  atomic_fetch_add(&cb->queue->refs, 1);
  call->id = ++cb->next_id;
  call->name_len = def->name_len;
  call->def = def;
  call->args_len = args_len;
  cb->args_in_flight_bytes += args_len;
  call->deadline_ns = eryx__deadline_after_ms(cb->timeout_ms);
  atomic_init(&call->refs, 2);
  atomic_init(&call->cancelled, 0);
  call->next = cb->in_flight;
  cb->in_flight = call;
  *id = call->id;
  /* The host may answer (and release its reference) before this returns;
   * the sandbox's reference keeps `call` alive. */
  eryx__buf_free(&scrubbed);
  if (replay) /* answered as the host did then; the host's reference ends */
    eryx_error_free(answer(call, replay->ok, replay->error_type, replay->error_type_len,
                           replay->value, replay->value_len));
  else
    def->fn(def->user_data, call, call->args, args_len);
  return true;
}

void eryx__callbacks_cancel(eryx_callbacks *cb, uint64_t id) {
  eryx_call *call = take_in_flight(cb, id);
  if (!call)
    return; /* already answered and delivered */
  journal_dropped(cb, call);
  cancel_call(call);
  call_release(call);
}

static eryx_completion *timeout_completion(eryx_call *call, uint64_t timeout_ms) {
  eryx_completion *c = calloc(1, sizeof *c);
  char text[160];
  snprintf(text, sizeof text, "callback '%s' did not answer within %llu ms",
           call->name, (unsigned long long)timeout_ms);
  if (c) {
    c->id = call->id;
    c->value = eryx__strndup(text, strlen(text));
    c->value_len = strlen(text);
    c->error_type = eryx__strndup("CallbackTimeout", 15);
    c->error_type_len = 15;
  }
  return c;
}

/* Moves the queued answers of calls still in flight to the returned list;
 * answers of calls the guest cancelled meanwhile are dropped. */
static eryx_completion *collect(eryx_callbacks *cb, eryx_completion *queued) {
  eryx_completion *out = NULL, **tail = &out;
  while (queued) {
    eryx_completion *c = queued;
    queued = c->next;
    c->next = NULL;
    eryx_call *call = take_in_flight(cb, c->id);
    if (!call) {
      eryx__completions_free(c);
      continue;
    }
    journal_answered(cb, call, c);
    call_release(call);
    *tail = c;
    tail = &c->next;
  }
  return out;
}

/* The one place an execution blocks for callbacks and sleeps; the warm
 * pool may work meanwhile (warm_pool.c). */
static void timed_wait(eryx_call_queue *q, uint64_t wake) {
  eryx__warm_pool_blocked(true);
  if (wake == UINT64_MAX) {
    pthread_cond_wait(&q->cv, &q->mu);
  } else {
    struct timespec ts = {(time_t)(wake / 1000000000u), (long)(wake % 1000000000u)};
    pthread_cond_timedwait(&q->cv, &q->mu, &ts);
  }
  eryx__warm_pool_blocked(false);
}

void eryx__callbacks_wake(eryx_callbacks *cb) {
  pthread_mutex_lock(&cb->queue->mu);
  pthread_cond_broadcast(&cb->queue->cv);
  pthread_mutex_unlock(&cb->queue->mu);
}

bool eryx__callbacks_sleep(eryx_callbacks *cb, uint64_t until_ns) {
  eryx_call_queue *q = cb->queue;
  pthread_mutex_lock(&q->mu);
  while (!stopping(cb) && eryx__now_ns() < until_ns)
    timed_wait(q, until_ns);
  bool stopped = stopping(cb);
  pthread_mutex_unlock(&q->mu);
  return stopped;
}

eryx_completion *eryx__callbacks_wait(eryx_callbacks *cb, uint64_t until_ns,
                                      uint64_t deadline_ns, bool *deadline_hit) {
  *deadline_hit = false;
  eryx_call_queue *q = cb->queue;
  for (;;) {
    uint64_t now = eryx__now_ns();
    /* Per-call timeouts are answered here, on the execution thread. */
    eryx_completion *timed_out = NULL, **tail = &timed_out;
    uint64_t next_call_deadline = UINT64_MAX;
    for (eryx_call **p = &cb->in_flight; *p;) {
      eryx_call *call = *p;
      if (call->deadline_ns <= now) {
        unlink_call(cb, p);
        journal_dropped(cb, call);
        cancel_call(call);
        eryx_completion *c = timeout_completion(call, cb->timeout_ms);
        call_release(call);
        if (c) {
          *tail = c;
          tail = &c->next;
        }
        continue;
      }
      if (call->deadline_ns < next_call_deadline)
        next_call_deadline = call->deadline_ns;
      p = &(*p)->next;
    }

    pthread_mutex_lock(&q->mu);
    eryx_completion *queued = q->head;
    q->head = q->tail = NULL;
    uint64_t wake = until_ns;
    if (deadline_ns < wake)
      wake = deadline_ns;
    if (next_call_deadline < wake)
      wake = next_call_deadline;
    if (!queued && !timed_out && now < wake && !stopping(cb)) {
      timed_wait(q, wake);
      queued = q->head;
      q->head = q->tail = NULL;
    }
    queue_reset(q);
    pthread_mutex_unlock(&q->mu);

    eryx_completion *ready = collect(cb, queued);
    if (ready || timed_out) {
      *tail = ready;
      return timed_out;
    }
    now = eryx__now_ns();
    if (now >= deadline_ns || stopping(cb)) {
      *deadline_hit = true;
      return NULL;
    }
    if (now >= until_ns)
      return NULL;
    /* Woken without answers (spurious, a cancelled call's answer, or a call
     * deadline): look again. */
  }
}
