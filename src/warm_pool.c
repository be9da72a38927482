/*
 * warm_pool.c — warm instances: stores with the component already instantiated,
 * made ahead of time by a background thread, so that creating a sandbox
 * (and replacing a used instance) does not wait for an instantiation.
 *
 * Each is also warmed up (the guest's `warm-up` export) so the pages an
 * execution writes in the copy-on-write heap are private already; that page
 * faulting is most of a first execution's cost.
 *
 * Only the plain (not fuel-counting) variant is pooled. A warm instance
 * belongs to no sandbox yet: its store data has no sandbox, no deadline
 * callback and an uncapped memory limiter; the sandbox that takes it sets
 * all three (sandbox.c). Instances are never reused after user code ran in
 * them; the pool only moves fresh instantiations off the caller's path.
 *
 * The same thread deletes the stores of used instances (deleting one takes
 * a few hundred microseconds that the caller then does not wait for).
 *
 * The thread works only while the callers rest. Instantiating on the second
 * core while a caller executes on the first costs far more than it saves:
 * both threads fault in one address space, and every copy-on-write fault
 * and every slot reset then interrupts the other core for a TLB shootdown
 * (bench/README.md: 40-70% more CPU per execution for at most a tenth more
 * throughput). So the thread makes an instance, or deletes a used store,
 * only when no caller has executed or instantiated for IDLE_NS; callers
 * that run back to back instantiate inline (one core, no shootdowns), and
 * callers with pauses between requests (the paced case, where a ready
 * instance makes create + run three times faster) find the pool full. A
 * take that waits for an instance (a sandbox out of slots) overrides this.
 * A caller blocked in a callback wait or a sleep rests too (callbacks.c
 * says so around its one blocking wait): an agent's execution that waits
 * seconds for a tool must not keep the pool empty.
 *
 * The thread sleeps while the pool is full and is woken by each take. If an
 * instantiation fails (all sandbox slots in use, say) it waits for the next
 * take instead of retrying in a loop. Warm instances hold sandbox slots, so
 * a sandbox whose own instantiation fails waits briefly for the pool's
 * instance in progress instead (sandbox.c), and the pool never holds more
 * than half of max_sandboxes.
 */
#include "callbacks.h" /* eryx__now_ns */
#include "internal.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#define POOL_MAX 64
#define GRAVEYARD_MAX 16 /* beyond this, callers delete their stores */
/* How long the callers must have rested before the thread works: longer
 * than the gap between back-to-back requests, far shorter than a paced
 * service's. */
#define IDLE_NS 1000000ull

struct eryx_warm_pool {
  eryx_runtime *rt;
  pthread_t thread;
  pthread_mutex_t mu;
  pthread_cond_t cv;    /* wakes the thread */
  pthread_cond_t ready; /* an instance was added, or making one failed */
  bool stop;
  bool failed; /* the last instantiation failed: wait for a take */
  size_t target;
  size_t count;
  eryx_warm *items[POOL_MAX];
  size_t dead_count; /* used stores waiting to be deleted by the thread */
  wasmtime_store_t *dead[GRAVEYARD_MAX];
  unsigned urgent; /* takes waiting for an instance: work even if busy */

  /* Callers at work (executing or instantiating), when the last stopped,
   * and whether the thread waits to hear it (then a caller that stops
   * wakes it). Written without `mu` on each execution. */
  atomic_uint busy;
  _Atomic uint64_t idle_since_ns;
  atomic_bool wants_idle;
};

/* The pool of the execution this thread runs, for eryx__warm_pool_blocked
 * (set while it is busy). */
static _Thread_local eryx_warm_pool *current_pool;

static void busy_add(eryx_warm_pool *p) { atomic_fetch_add(&p->busy, 1); }

static void busy_drop(eryx_warm_pool *p) {
  atomic_store(&p->idle_since_ns, eryx__now_ns());
  if (atomic_fetch_sub(&p->busy, 1) == 1 && atomic_load(&p->wants_idle)) {
    pthread_mutex_lock(&p->mu);
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
  }
}

void eryx__warm_pool_caller(eryx_warm_pool *p, bool working) {
  if (!p)
    return;
  current_pool = working ? p : NULL;
  if (working)
    busy_add(p);
  else
    busy_drop(p);
}

void eryx__warm_pool_blocked(bool blocked) {
  eryx_warm_pool *p = current_pool;
  if (!p)
    return;
  if (blocked)
    busy_drop(p);
  else
    busy_add(p);
}

/* With `mu` held: 0 when the thread may work now, else how long to wait
 * (UINT64_MAX: until a caller stops). `wants_idle` is set before `busy` is
 * read, and a caller clears `busy` before reading `wants_idle`: one of the
 * two sees the other, so no wake-up is lost. */
static uint64_t idle_wait_ns(eryx_warm_pool *p) {
  if (p->urgent)
    return 0;
  atomic_store(&p->wants_idle, true);
  if (atomic_load(&p->busy))
    return UINT64_MAX;
  uint64_t now = eryx__now_ns(), since = atomic_load(&p->idle_since_ns);
  if (now - since >= IDLE_NS || since > now)
    return 0;
  return IDLE_NS - (now - since);
}

/* `ns` from now on CLOCK_REALTIME, the clock the condition variables use. */
static struct timespec realtime_after(uint64_t ns) {
  struct timespec t;
  clock_gettime(CLOCK_REALTIME, &t);
  t.tv_sec += (time_t)(ns / 1000000000u);
  t.tv_nsec += (long)(ns % 1000000000u);
  if (t.tv_nsec >= 1000000000L) {
    t.tv_sec++;
    t.tv_nsec -= 1000000000L;
  }
  return t;
}

static void wait_ns(eryx_warm_pool *p, uint64_t ns) {
  if (ns == UINT64_MAX) {
    pthread_cond_wait(&p->cv, &p->mu);
    return;
  }
  struct timespec until = realtime_after(ns);
  pthread_cond_timedwait(&p->cv, &p->mu, &until);
}

void eryx__warm_free(eryx_warm *w) {
  if (!w)
    return;
  eryx__instance_free(&w->inst);
  free(w);
}

static eryx_warm *make_warm(eryx_runtime *rt) {
  eryx_warm *w = calloc(1, sizeof *w);
  if (!w)
    return NULL;
  eryx_error *err = eryx__instance_new(rt, &rt->plain, -1, &w->memory, false, NULL, NULL, &w->inst);
  if (err) {
    eryx_error_free(err);
    free(w);
    return NULL;
  }
  /* Pre-fault: run the guest's warm-up (no deadline is set: it is our code
   * and short). A failure only loses the optimization, except a trap,
   * which leaves the instance unusable. */
  wasmtime_context_t *ctx = wasmtime_store_context(w->inst.store);
  wasmtime_component_func_t fn;
  if (wasmtime_component_instance_get_func(&w->inst.instance, ctx, rt->plain.warm_up_index,
                                           &fn)) {
    wasmtime_error_t *werr = wasmtime_component_func_call(&fn, ctx, NULL, 0, NULL, 0);
    if (werr) {
      wasmtime_error_delete(werr);
      eryx__warm_free(w);
      return NULL;
    }
  }
  return w;
}

static void *pool_main(void *arg) {
  eryx_warm_pool *p = arg;
  pthread_mutex_lock(&p->mu);
  while (!p->stop) {
    if (p->dead_count || (p->count < p->target && !p->failed)) {
      uint64_t wait = idle_wait_ns(p);
      if (wait) {
        wait_ns(p, wait);
        continue;
      }
      atomic_store(&p->wants_idle, false);
    }
    if (p->dead_count) {
      wasmtime_store_t *store = p->dead[--p->dead_count];
      pthread_mutex_unlock(&p->mu);
      wasmtime_store_delete(store);
      pthread_mutex_lock(&p->mu);
      continue;
    }
    if (p->count >= p->target || p->failed) {
      pthread_cond_wait(&p->cv, &p->mu);
      continue;
    }
    pthread_mutex_unlock(&p->mu);
    eryx_warm *w = make_warm(p->rt);
    pthread_mutex_lock(&p->mu);
    if (!w)
      p->failed = true;
    else if (p->stop || p->count >= p->target)
      eryx__warm_free(w);
    else
      p->items[p->count++] = w;
    pthread_cond_broadcast(&p->ready);
  }
  pthread_mutex_unlock(&p->mu);
  return NULL;
}

eryx_error *eryx__warm_pool_new(eryx_runtime *rt, size_t target, eryx_warm_pool **out) {
  *out = NULL;
  if (target == 0)
    return NULL;
  eryx_warm_pool *p = calloc(1, sizeof *p);
  if (!p)
    return eryx__error_new(ERYX_ERR_RESOURCES, "out of memory");
  p->rt = rt;
  p->target = target > POOL_MAX ? POOL_MAX : target;
  pthread_mutex_init(&p->mu, NULL);
  pthread_cond_init(&p->cv, NULL);
  pthread_cond_init(&p->ready, NULL);
  if (eryx__thread_start(&p->thread, pool_main, p) != 0) {
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    pthread_cond_destroy(&p->ready);
    free(p);
    return eryx__error_new(ERYX_ERR_RESOURCES, "cannot start the warm-instance thread");
  }
  *out = p;
  return NULL;
}

eryx_warm *eryx__warm_pool_take(eryx_warm_pool *p, uint64_t timeout_ms) {
  if (!p)
    return NULL;
  struct timespec until = realtime_after(timeout_ms * 1000000u);
  /* A take is a caller at work too: the thread waits for the next rest. */
  atomic_store(&p->idle_since_ns, eryx__now_ns());
  pthread_mutex_lock(&p->mu);
  p->failed = false; /* a slot may have come free: try again */
  if (timeout_ms)
    p->urgent++;
  pthread_cond_signal(&p->cv);
  /* Until an instance is there, or the thread tried and failed. */
  while (timeout_ms && p->count == 0 && !p->failed && !p->stop &&
         pthread_cond_timedwait(&p->ready, &p->mu, &until) == 0) {
  }
  if (timeout_ms)
    p->urgent--;
  eryx_warm *w = p->count ? p->items[--p->count] : NULL;
  pthread_cond_signal(&p->cv);
  pthread_mutex_unlock(&p->mu);
  return w;
}

void eryx__warm_pool_discard(eryx_warm_pool *p, wasmtime_store_t *store) {
  if (p) {
    pthread_mutex_lock(&p->mu);
    bool queued = p->dead_count < GRAVEYARD_MAX && !p->stop;
    if (queued) {
      p->dead[p->dead_count++] = store;
      p->failed = false; /* its slot comes free: a refill may work now */
      pthread_cond_signal(&p->cv);
    }
    pthread_mutex_unlock(&p->mu);
    if (queued)
      return;
  }
  wasmtime_store_delete(store);
}

size_t eryx__warm_pool_ready(eryx_warm_pool *p) {
  if (!p)
    return 0;
  pthread_mutex_lock(&p->mu);
  size_t n = p->count;
  pthread_mutex_unlock(&p->mu);
  return n;
}

void eryx__warm_pool_free(eryx_warm_pool *p) {
  if (!p)
    return;
  pthread_mutex_lock(&p->mu);
  p->stop = true;
  pthread_cond_signal(&p->cv);
  pthread_mutex_unlock(&p->mu);
  pthread_join(p->thread, NULL);
  for (size_t i = 0; i < p->count; i++)
    eryx__warm_free(p->items[i]);
  for (size_t i = 0; i < p->dead_count; i++)
    wasmtime_store_delete(p->dead[i]);
  pthread_mutex_destroy(&p->mu);
  pthread_cond_destroy(&p->cv);
  pthread_cond_destroy(&p->ready);
  free(p);
}
