/*
 * sandbox_pool.c — eryx_pool: sandboxes leased to a service, bounded in
 * number, kept ready, waited for, counted.
 *
 * State, under one mutex: the idle sandboxes (a stack: the most recently
 * released is leased first, its pages are warm), the leased ones (a list,
 * so a release can check it was ours), how many are between those states
 * outside the lock (being made, set up for a lease, or cleared after one:
 * `making`), and the counters. idle + leased + making never exceeds
 * max_size. A condition variable wakes acquires waiting for
 * a release or a close.
 *
 * Leasing: take an idle sandbox, or reserve a place and make one with the
 * pool's options (outside the lock: it instantiates). Then
 * eryx__sandbox_lease (sandbox.c) gives it the lease's limits, handlers
 * and callbacks. Releasing resets it to the pool's own settings with a
 * fresh interpreter before it goes back on the stack, so the next lease
 * starts from nothing of this one and does not pay the instantiation.
 *
 * Idle sandboxes past idle_timeout_ms (beyond min_idle) are freed by the
 * pool's own calls (no thread of its own). The acquire latencies of the
 * last WAIT_RING acquisitions give the p50/p99 in the stats.
 */
#include "callbacks.h" /* eryx__now_ns, eryx__deadline_after_ms */
#include "internal.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DEFAULT_MAX_SIZE 10
#define DEFAULT_ACQUIRE_TIMEOUT_MS 30000
#define DEFAULT_IDLE_TIMEOUT_MS 300000
#define WAIT_RING 1024

typedef struct idle_entry {
  eryx_sandbox *sb;
  uint64_t since_ns;
} idle_entry;

struct eryx_pool {
  eryx_runtime *rt;
  const eryx_sandbox_options *base; /* the caller's; outlives the pool */
  uint32_t max_size, min_idle;
  uint64_t acquire_timeout_ms, idle_timeout_ms;

  pthread_mutex_t mu;
  pthread_cond_t cv;
  idle_entry *idle; /* stack, capacity max_size */
  uint32_t idle_count;
  eryx_sandbox **leased; /* capacity max_size */
  uint32_t leased_count;
  uint32_t making; /* places reserved by sandboxes being made */
  bool closed;

  uint64_t acquisitions, creations, evictions, waits;
  double total_wait_ms;
  double ring[WAIT_RING];
  size_t ring_len, ring_next;
};

static eryx_error *check_lease(const eryx_sandbox_options *o) {
  if (!o)
    return NULL;
  if (o->version < 1 || o->version > ERYX_SANDBOX_OPTIONS_VERSION)
    return eryx__error_new(ERYX_ERR_INVALID_ARGUMENT,
                           "unsupported eryx_sandbox_options version %u", o->version);
  const char *pool_field = o->vfs                                    ? "vfs"
                           : o->version >= 3 && o->network           ? "network"
                           : o->version >= 4 && o->secret_count      ? "secrets"
                           : o->version >= 5 && o->package_count     ? "packages"
                           : o->version >= 6 && o->volume_count      ? "volumes"
                           : o->library_count                        ? "libraries"
                           : o->result_variable                      ? "result_variable"
                                                                     : NULL;
  if (pool_field)
    return eryx__error_new(ERYX_ERR_INVALID_ARGUMENT,
                           "a lease's options may only set limits, handlers and "
                           "callbacks; %s is the pool's (eryx_pool_options.sandbox)",
                           pool_field);
  return NULL;
}

/* The pool's options with the lease's limits, handlers and callbacks. */
static eryx_sandbox_options merged(const eryx_pool *p, const eryx_sandbox_options *lease) {
  eryx_sandbox_options m = ERYX_SANDBOX_OPTIONS_INIT;
  if (p->base)
    m = *p->base; /* its version says which fields count, as for any caller */
  if (!lease)
    return m;
  m.timeout_ms = lease->timeout_ms;
  m.max_memory_bytes = lease->max_memory_bytes;
  m.max_fuel = lease->max_fuel;
  m.max_output_bytes = lease->max_output_bytes;
  m.on_stdout = lease->on_stdout;
  m.on_stderr = lease->on_stderr;
  m.output_user_data = lease->output_user_data;
  m.callbacks = lease->callbacks;
  m.callback_count = lease->callback_count;
  m.max_callback_invocations = lease->max_callback_invocations;
  m.callback_timeout_ms = lease->callback_timeout_ms;
  m.on_trace = lease->on_trace;
  m.trace_user_data = lease->trace_user_data;
  if (lease->version >= 8 && m.version >= 8)
    m.count_fuel = lease->count_fuel;
  if (lease->version >= 2 && m.version >= 2) {
    m.max_callback_args_bytes = lease->max_callback_args_bytes;
    m.max_callback_args_in_flight_bytes = lease->max_callback_args_in_flight_bytes;
    m.max_result_bytes = lease->max_result_bytes;
  }
  return m;
}

static void record_wait(eryx_pool *p, double ms, bool waited) {
  p->ring[p->ring_next] = ms;
  p->ring_next = (p->ring_next + 1) % WAIT_RING;
  if (p->ring_len < WAIT_RING)
    p->ring_len++;
  if (waited) {
    p->waits++;
    p->total_wait_ms += ms;
  }
}

/* Idle sandboxes past the timeout, beyond min_idle, taken off the stack
 * into `out` (freed by the caller outside the lock). Oldest are at the
 * bottom of the stack. */
static uint32_t take_expired(eryx_pool *p, eryx_sandbox **out) {
  if (p->idle_timeout_ms == UINT64_MAX)
    return 0;
  uint64_t now = eryx__now_ns();
  uint64_t limit = p->idle_timeout_ms > UINT64_MAX / 1000000u ? UINT64_MAX
                                                               : p->idle_timeout_ms * 1000000u;
  uint32_t n = 0;
  while (p->idle_count > p->min_idle && now - p->idle[0].since_ns >= limit) {
    out[n++] = p->idle[0].sb;
    memmove(&p->idle[0], &p->idle[1], (p->idle_count - 1) * sizeof *p->idle);
    p->idle_count--;
    p->evictions++;
  }
  return n;
}

static uint32_t sweep(eryx_pool *p) {
  eryx_sandbox **expired = malloc(p->max_size * sizeof *expired);
  if (!expired)
    return 0;
  pthread_mutex_lock(&p->mu);
  uint32_t n = take_expired(p, expired);
  pthread_mutex_unlock(&p->mu);
  for (uint32_t i = 0; i < n; i++)
    eryx_sandbox_free(expired[i]);
  free(expired);
  return n;
}

static eryx_error *make_sandbox(eryx_pool *p, eryx_sandbox **out) {
  eryx_sandbox_options m = merged(p, NULL);
  return eryx_sandbox_new(p->rt, p->base ? &m : NULL, out);
}

eryx_error *eryx_pool_new(eryx_runtime *rt, const eryx_pool_options *o, eryx_pool **out) {
  if (!rt || !out)
    return eryx__error_new(ERYX_ERR_INVALID_ARGUMENT, "rt and out are required");
  *out = NULL;
  if (o && (o->version < 1 || o->version > ERYX_POOL_OPTIONS_VERSION))
    return eryx__error_new(ERYX_ERR_INVALID_ARGUMENT, "unsupported eryx_pool_options version %u",
                           o ? o->version : 0);
  eryx_pool_options d = ERYX_POOL_OPTIONS_INIT;
  if (!o)
    o = &d;
  uint32_t max_size = o->max_size ? o->max_size : DEFAULT_MAX_SIZE;
  if (o->min_idle > max_size)
    return eryx__error_new(ERYX_ERR_INVALID_ARGUMENT, "min_idle (%u) is more than max_size (%u)",
                           o->min_idle, max_size);
  if (o->sandbox && o->sandbox->vfs)
    return eryx__error_new(ERYX_ERR_INVALID_ARGUMENT,
                           "a pool's sandboxes cannot share a vfs (each lease would see "
                           "the others' files): use sessions for files");
  for (size_t i = 0; o->sandbox && o->sandbox->version >= 6 && i < o->sandbox->volume_count;
       i++) {
    if (o->sandbox->volumes && o->sandbox->volumes[i].writable)
      return eryx__error_new(ERYX_ERR_INVALID_ARGUMENT,
                             "a pool's sandboxes may share read-only volumes only (a writable "
                             "one would carry files from one lease to the next)");
  }
  eryx_pool *p = calloc(1, sizeof *p);
  if (!p)
    return eryx__error_new(ERYX_ERR_RESOURCES, "out of memory");
  p->rt = rt;
  p->base = o->sandbox;
  p->max_size = max_size;
  p->min_idle = o->min_idle;
  p->acquire_timeout_ms = o->acquire_timeout_ms ? o->acquire_timeout_ms
                                                : DEFAULT_ACQUIRE_TIMEOUT_MS;
  p->idle_timeout_ms = o->idle_timeout_ms ? o->idle_timeout_ms : DEFAULT_IDLE_TIMEOUT_MS;
  p->idle = calloc(max_size, sizeof *p->idle);
  p->leased = calloc(max_size, sizeof *p->leased);
  pthread_mutex_init(&p->mu, NULL);
  pthread_cond_init(&p->cv, NULL);
  eryx_error *err = !p->idle || !p->leased
                        ? eryx__error_new(ERYX_ERR_RESOURCES, "out of memory")
                        : NULL;
  for (uint32_t i = 0; !err && i < p->min_idle; i++) {
    eryx_sandbox *sb = NULL;
    if (!(err = make_sandbox(p, &sb))) {
      p->idle[p->idle_count++] = (idle_entry){sb, eryx__now_ns()};
      p->creations++;
    }
  }
  if (err) {
    eryx_pool_free(p);
    return err;
  }
  *out = p;
  return NULL;
}

/* Under the lock: an idle sandbox (*sb set) or a place to make one (*sb
 * NULL), counted in `making` until it is leased; false: nothing free. */
static bool take_place(eryx_pool *p, eryx_sandbox **sb) {
  *sb = NULL;
  if (p->idle_count) {
    *sb = p->idle[--p->idle_count].sb;
    p->making++;
    return true;
  }
  if (p->leased_count + p->making < p->max_size) {
    p->making++;
    return true;
  }
  return false;
}

static eryx_error *acquire(eryx_pool *p, const eryx_sandbox_options *lease, bool wait,
                           eryx_sandbox **out) {
  if (!p || !out)
    return eryx__error_new(ERYX_ERR_INVALID_ARGUMENT, "pool and out are required");
  *out = NULL;
  eryx_error *err = check_lease(lease);
  if (err)
    return err;
  sweep(p);
  uint64_t start = eryx__now_ns();
  uint64_t deadline = eryx__deadline_after_ms(p->acquire_timeout_ms);
  eryx_sandbox *sb = NULL;
  bool waited = false;
  pthread_mutex_lock(&p->mu);
  for (;;) {
    if (p->closed) {
      pthread_mutex_unlock(&p->mu);
      return eryx__error_new(ERYX_ERR_POOL_CLOSED, "the pool is closed");
    }
    if (take_place(p, &sb))
      break;
    if (!wait) {
      pthread_mutex_unlock(&p->mu);
      return eryx__error_new(ERYX_ERR_POOL_EXHAUSTED,
                             "all %u sandboxes of the pool are leased (max_size)", p->max_size);
    }
    uint64_t now = eryx__now_ns();
    if (now >= deadline) {
      pthread_mutex_unlock(&p->mu);
      return eryx__error_new(ERYX_ERR_POOL_TIMEOUT,
                             "no sandbox of the pool was free within acquire_timeout_ms "
                             "(%llu ms; all %u leased)",
                             (unsigned long long)p->acquire_timeout_ms, p->max_size);
    }
    waited = true;
    if (deadline == UINT64_MAX) {
      pthread_cond_wait(&p->cv, &p->mu);
    } else {
      struct timespec ts;
      clock_gettime(CLOCK_REALTIME, &ts);
      uint64_t left = deadline - now;
      uint64_t ns = (uint64_t)ts.tv_nsec + left % 1000000000u;
      ts.tv_sec += (time_t)(left / 1000000000u + ns / 1000000000u);
      ts.tv_nsec = (long)(ns % 1000000000u);
      pthread_cond_timedwait(&p->cv, &p->mu, &ts);
    }
  }
  bool fresh = sb == NULL;
  pthread_mutex_unlock(&p->mu);

  if (fresh)
    err = make_sandbox(p, &sb);
  if (!err && lease) {
    eryx_sandbox_options m = merged(p, lease);
    err = eryx__sandbox_lease(sb, &m);
  }
  pthread_mutex_lock(&p->mu);
  p->making--;
  if (err) {
    pthread_cond_signal(&p->cv); /* the place is free again */
    pthread_mutex_unlock(&p->mu);
    eryx_sandbox_free(sb);
    return err;
  }
  if (fresh)
    p->creations++;
  p->leased[p->leased_count++] = sb;
  p->acquisitions++;
  record_wait(p, (double)(eryx__now_ns() - start) / 1e6, waited);
  pthread_mutex_unlock(&p->mu);
  *out = sb;
  return NULL;
}

eryx_error *eryx_pool_acquire(eryx_pool *p, const eryx_sandbox_options *lease,
                              eryx_sandbox **out) {
  return acquire(p, lease, true, out);
}

eryx_error *eryx_pool_try_acquire(eryx_pool *p, const eryx_sandbox_options *lease,
                                  eryx_sandbox **out) {
  return acquire(p, lease, false, out);
}

void eryx_pool_release(eryx_pool *p, eryx_sandbox *sb) {
  if (!p || !sb)
    return;
  pthread_mutex_lock(&p->mu);
  uint32_t i = 0;
  while (i < p->leased_count && p->leased[i] != sb)
    i++;
  if (i == p->leased_count) { /* not ours, or released already */
    pthread_mutex_unlock(&p->mu);
    return;
  }
  p->leased[i] = p->leased[--p->leased_count];
  p->making++; /* its place stays taken while it is cleared */
  bool closed = p->closed;
  pthread_mutex_unlock(&p->mu);

  /* Back to the pool's own settings, with a fresh interpreter. */
  eryx_error *err = NULL;
  if (!closed) {
    eryx_sandbox_options m = merged(p, NULL);
    err = eryx__sandbox_lease(sb, &m);
  }
  pthread_mutex_lock(&p->mu);
  p->making--;
  bool keep = !closed && !p->closed && !err && p->idle_count < p->max_size;
  if (keep)
    p->idle[p->idle_count++] = (idle_entry){sb, eryx__now_ns()};
  pthread_cond_signal(&p->cv);
  pthread_mutex_unlock(&p->mu);
  eryx_error_free(err);
  if (!keep)
    eryx_sandbox_free(sb);
  sweep(p);
}

uint32_t eryx_pool_evict_idle(eryx_pool *p) { return p ? sweep(p) : 0; }

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

void eryx_pool_stats_get(eryx_pool *p, eryx_pool_stats *out) {
  if (!out)
    return;
  memset(out, 0, sizeof *out);
  if (!p)
    return;
  sweep(p);
  double sorted[WAIT_RING];
  pthread_mutex_lock(&p->mu);
  out->idle = p->idle_count;
  out->in_use = p->leased_count;
  out->total = p->idle_count + p->leased_count + p->making;
  out->available = p->max_size - p->leased_count;
  out->acquisitions = p->acquisitions;
  out->creations = p->creations;
  out->evictions = p->evictions;
  out->waits = p->waits;
  out->total_wait_ms = p->total_wait_ms;
  size_t n = p->ring_len;
  memcpy(sorted, p->ring, n * sizeof *sorted);
  pthread_mutex_unlock(&p->mu);
  if (n) {
    qsort(sorted, n, sizeof *sorted, cmp_double);
    out->wait_p50_ms = sorted[n / 2];
    out->wait_p99_ms = sorted[(n * 99) / 100 < n ? (n * 99) / 100 : n - 1];
  }
}

void eryx_pool_close(eryx_pool *p) {
  if (!p)
    return;
  pthread_mutex_lock(&p->mu);
  p->closed = true;
  uint32_t n = p->idle_count;
  idle_entry *idle = p->idle;
  p->idle = calloc(p->max_size, sizeof *p->idle);
  if (!p->idle) { /* keep the old array: free its sandboxes below anyway */
    p->idle = idle;
    idle = NULL;
  }
  p->idle_count = 0;
  pthread_cond_broadcast(&p->cv);
  pthread_mutex_unlock(&p->mu);
  for (uint32_t i = 0; i < n; i++)
    eryx_sandbox_free(idle ? idle[i].sb : p->idle[i].sb);
  free(idle);
}

int eryx_pool_is_closed(eryx_pool *p) {
  if (!p)
    return 1;
  pthread_mutex_lock(&p->mu);
  int closed = p->closed;
  pthread_mutex_unlock(&p->mu);
  return closed;
}

void eryx_pool_free(eryx_pool *p) {
  if (!p)
    return;
  eryx_pool_close(p);
  for (uint32_t i = 0; i < p->leased_count; i++)
    eryx_sandbox_free(p->leased[i]);
  free(p->leased);
  free(p->idle);
  pthread_mutex_destroy(&p->mu);
  pthread_cond_destroy(&p->cv);
  free(p);
}
