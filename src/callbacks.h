/*
 * callbacks.h — per-sandbox callback state (see callbacks.c).
 */
#ifndef ERYX_CALLBACKS_H
#define ERYX_CALLBACKS_H

#include "internal.h"

typedef struct eryx_cb_def {
  char *name;
  size_t name_len;
  char *description;
  size_t description_len;
  char *schema; /* JSON text, "{}" when none was given */
  size_t schema_len;
  eryx_schema *validator; /* NULL when none was given (any object) */
  eryx_callback_fn fn;
  eryx_cancel_fn on_cancel;
  void *user_data;
  int library; /* index into the libraries, -1 for a plain callback */
} eryx_cb_def;

typedef struct eryx_call_queue eryx_call_queue;
struct eryx__journal;

/* What eryx_call_suspend asked for: the call's name and arguments (as the
 * host function saw them) and the reason; any may be NULL when memory ran
 * out. */
typedef struct eryx_suspension {
  char *name;
  size_t name_len;
  char *args;
  size_t args_len;
  char *reason;
  size_t reason_len;
} eryx_suspension;

void eryx__suspension_free(eryx_suspension *s);

typedef struct eryx_callbacks {
  eryx_cb_def *defs;
  size_t count;
  char *list_json; /* what list-callbacks returns */
  size_t list_json_len;
  char *stubs; /* all libraries' stubs, for the host */
  size_t stubs_len;
  uint32_t max_invocations;
  uint64_t timeout_ms; /* UINT64_MAX: none */
  uint64_t max_args_bytes;           /* one call's arguments */
  uint64_t max_args_in_flight_bytes; /* all calls in flight together */

  /* Per execution: */
  bool executing; /* between begin and end: calls may start */
  const struct eryx_secrets *secrets; /* scrubbed from arguments (NULL: none) */
  uint32_t invocations;
  uint64_t next_id;
  uint64_t args_in_flight_bytes; /* arguments of the calls in `in_flight` */
  eryx_call *in_flight; /* calls started and not yet delivered/cancelled */
  struct eryx__journal *journal; /* this execution's journal (NULL: none) */
  eryx_suspension *suspension;   /* the last execution's, until taken */

  eryx_call_queue *queue; /* shared with every eryx_call handle */
  atomic_int *stop;       /* non-zero: the execution is being interrupted */
} eryx_callbacks;

/* A completion handed to the guest. */
typedef struct eryx_completion {
  uint64_t id;
  bool ok;
  char *value; /* JSON text, or the error message */
  size_t value_len;
  char *error_type;
  size_t error_type_len;
  struct eryx_completion *next;
} eryx_completion;

eryx_error *eryx__callbacks_init(eryx_callbacks *cb, const eryx_sandbox_options *opts);
void eryx__callbacks_free(eryx_callbacks *cb);

/* Starts an execution's accounting (`journal`: records and replays its
 * calls, NULL: none; the caller keeps it) / ends it: answers that arrived
 * but were not collected are journaled, whatever is still in flight is
 * cancelled, a suspension is kept for eryx__callbacks_take_suspension. */
void eryx__callbacks_begin(eryx_callbacks *cb, struct eryx__journal *journal);
void eryx__callbacks_end(eryx_callbacks *cb);

/* Non-zero once a host function asked to suspend the current execution
 * (any thread; reset by begin and end). */
bool eryx__callbacks_suspended(const eryx_callbacks *cb);
/* The suspension of the execution that just ended (caller frees with
 * eryx__suspension_free); NULL when there was none. */
eryx_suspension *eryx__callbacks_take_suspension(eryx_callbacks *cb);

/* callback-start: on success *id is set; otherwise *kind ("unknown",
 * "limit", "invalid" for arguments the host refused, "host") and a
 * malloc'd *message describe the refusal. `args` may be anything the
 * guest sent: it reaches the host function only once it is a JSON object
 * within the size caps that satisfies the callback's schema. */
bool eryx__callbacks_start(eryx_callbacks *cb, const char *name, size_t name_len,
                           const char *args, size_t args_len, uint64_t *id,
                           const char **kind, char **message);
void eryx__callbacks_cancel(eryx_callbacks *cb, uint64_t id);

/* callback-wait: waits until a completion is ready, `until_ns` (monotonic;
 * UINT64_MAX: no limit) passes, `deadline_ns` (the execution's) passes or
 * *stop is set. Returns the completions (caller frees with
 * eryx__completions_free); sets *deadline_hit when the deadline or a stop
 * ended the wait. */
eryx_completion *eryx__callbacks_wait(eryx_callbacks *cb, uint64_t until_ns,
                                      uint64_t deadline_ns, bool *deadline_hit);
void eryx__completions_free(eryx_completion *c);

/* Sleeps until `until_ns` without taking completions; returns true early
 * when *stop is set. */
bool eryx__callbacks_sleep(eryx_callbacks *cb, uint64_t until_ns);

/* An eventfd readable while answers wait to be collected (-1: none). */
int eryx__callbacks_fd(const eryx_callbacks *cb);

/* Wakes any wait of this sandbox (after *stop was set, from any thread). */
void eryx__callbacks_wake(eryx_callbacks *cb);

uint64_t eryx__now_ns(void);
/* The monotonic time `ms` from now; UINT64_MAX (never) for UINT64_MAX or
 * when it would not fit. */
uint64_t eryx__deadline_after_ms(uint64_t ms);

#endif
