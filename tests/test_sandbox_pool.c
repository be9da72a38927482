/*
 * test_sandbox_pool.c — eryx_pool (sandbox_pool.c): a lease is as fresh as
 * a new sandbox (state, builtins, callbacks, handlers, limits of the last
 * lease gone), exhaustion and acquire timeouts, close() waking waiters,
 * idle eviction, and 8 threads × 200 leases with the invariants checked
 * and the statistics adding up.
 */
#include "harness.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static atomic_int g_calls;
static atomic_int g_printed;

static void count_fn(void *ud, eryx_call *call, const char *args, size_t len) {
  (void)ud, (void)args, (void)len;
  atomic_fetch_add(&g_calls, 1);
  eryx_error_free(eryx_call_succeed(call, "7", 1));
}

static void count_output(void *ud, const char *text, size_t len) {
  (void)ud, (void)text, (void)len;
  atomic_fetch_add(&g_printed, 1);
}

static eryx_pool *new_pool(uint32_t max_size, uint32_t min_idle, uint64_t acquire_ms,
                           uint64_t idle_ms) {
  eryx_pool_options o = ERYX_POOL_OPTIONS_INIT;
  o.max_size = max_size;
  o.min_idle = min_idle;
  o.acquire_timeout_ms = acquire_ms;
  o.idle_timeout_ms = idle_ms;
  eryx_pool *p = NULL;
  eryx_error *err = eryx_pool_new(g_rt, &o, &p);
  CHECK_MSG(!err, "eryx_pool_new: %s", err ? eryx_error_message(err, NULL) : "");
  eryx_error_free(err);
  return p;
}

static eryx_sandbox *lease(eryx_pool *p, const eryx_sandbox_options *o) {
  eryx_sandbox *sb = NULL;
  eryx_error *err = eryx_pool_acquire(p, o, &sb);
  CHECK_MSG(!err, "acquire: %s", err ? eryx_error_message(err, NULL) : "");
  eryx_error_free(err);
  return sb;
}

static const char *json_of(eryx_sandbox *sb, const char *code, eryx_status *status) {
  static char buf[512];
  eryx_result *r = run(sb, code);
  *status = r ? eryx_result_status(r) : ERYX_STATUS_INTERNAL;
  const char *j = r ? eryx_result_json(r, NULL) : NULL;
  snprintf(buf, sizeof buf, "%s", j ? j : "(none)");
  eryx_result_free(r);
  return buf;
}

static void test_pool_lease_is_fresh(void) {
  eryx_pool *p = new_pool(1, 1, 0, 0);
  if (!p)
    return;
  eryx_callback cb = {"tool", 4, NULL, 0, NULL, 0, count_fn, NULL, NULL};
  eryx_sandbox_options first = ERYX_SANDBOX_OPTIONS_INIT;
  first.callbacks = &cb;
  first.callback_count = 1;
  first.on_stdout = count_output;
  first.timeout_ms = 300;
  eryx_sandbox *a = lease(p, &first);
  eryx_status st;
  if (a) {
    CHECK_STREQ(json_of(a, "import builtins, sys\n"
                           "leaked = 'secret state'\n"
                           "print('hi')\n"
                           "result = await tool()\n", &st), "7");
    json_of(a, "import builtins\nbuiltins.len = lambda x: 42\n", &st);
    json_of(a, "import json\njson.dumps = None\n", &st);
    CHECK(atomic_load(&g_calls) == 1 && atomic_load(&g_printed) >= 1);
    /* This lease's timeout applies. */
    json_of(a, "while True:\n    pass\n", &st);
    CHECK(st == ERYX_STATUS_LIMIT);
    eryx_pool_release(p, a);
  }
  /* The next lease (the same sandbox: max_size 1) has none of that. */
  int printed = atomic_load(&g_printed);
  eryx_sandbox *b = lease(p, NULL);
  CHECK(b == a); /* the same object, cleared */
  if (b) {
    CHECK_STREQ(json_of(b, "import json\n"
                           "result = ['leaked' in globals(), len('abc'), json.dumps([1]),\n"
                           "          [c['name'] for c in list_callbacks()]]\n", &st),
                "[false, 3, \"[1]\", []]");
    CHECK(atomic_load(&g_printed) == printed); /* the old handler is gone */
    /* And the default timeout (30 s), not the last lease's 300 ms. */
    CHECK_STREQ(json_of(b, "import time\ntime.sleep(0.5)\nresult = 1\n", &st), "1");
    eryx_pool_release(p, b);
    eryx_pool_release(p, b); /* twice: nothing happens */
  }
  /* A lease may not bring the pool's own settings. */
  eryx_net_options net = ERYX_NET_OPTIONS_INIT;
  eryx_sandbox_options bad = ERYX_SANDBOX_OPTIONS_INIT;
  bad.network = &net;
  eryx_sandbox *c = NULL;
  eryx_error *err = eryx_pool_acquire(p, &bad, &c);
  CHECK(err && eryx_error_get_code(err) == ERYX_ERR_INVALID_ARGUMENT && !c);
  CHECK_CONTAINS(err ? eryx_error_message(err, NULL) : NULL, "network is the pool's");
  eryx_error_free(err);
  eryx_pool_free(p);
}

static void test_pool_exhaustion_and_timeout(void) {
  eryx_pool *p = new_pool(2, 0, 150, 0);
  if (!p)
    return;
  eryx_sandbox *a = lease(p, NULL), *b = lease(p, NULL), *c = NULL;
  CHECK(a && b && a != b);
  eryx_error *err = eryx_pool_try_acquire(p, NULL, &c);
  CHECK(err && eryx_error_get_code(err) == ERYX_ERR_POOL_EXHAUSTED && !c);
  CHECK_CONTAINS(err ? eryx_error_message(err, NULL) : NULL, "max_size");
  eryx_error_free(err);
  double t0 = now_ms();
  err = eryx_pool_acquire(p, NULL, &c);
  double waited = now_ms() - t0;
  CHECK(err && eryx_error_get_code(err) == ERYX_ERR_POOL_TIMEOUT && !c);
  CHECK_CONTAINS(err ? eryx_error_message(err, NULL) : NULL, "acquire_timeout_ms");
  CHECK_MSG(waited >= 140 && waited < 2000, "waited %.0f ms", waited);
  eryx_error_free(err);
  eryx_pool_release(p, a);
  err = eryx_pool_try_acquire(p, NULL, &c);
  CHECK(!err && c == a);
  eryx_error_free(err);
  eryx_pool_stats st;
  eryx_pool_stats_get(p, &st);
  CHECK(st.in_use == 2 && st.idle == 0 && st.total == 2 && st.available == 0);
  CHECK(st.acquisitions == 3 && st.creations == 2);
  eryx_pool_release(p, b);
  eryx_pool_release(p, c);
  eryx_pool_stats_get(p, &st);
  CHECK(st.in_use == 0 && st.idle == 2 && st.available == 2);
  eryx_pool_free(p);
}

typedef struct waiter {
  eryx_pool *p;
  eryx_error_code code;
} waiter;

static void *wait_for_lease(void *arg) {
  waiter *w = arg;
  eryx_sandbox *sb = NULL;
  eryx_error *err = eryx_pool_acquire(w->p, NULL, &sb);
  w->code = err ? eryx_error_get_code(err) : 0;
  eryx_error_free(err);
  if (sb)
    eryx_pool_release(w->p, sb);
  return NULL;
}

static void test_pool_close_wakes_waiters(void) {
  eryx_pool *p = new_pool(1, 0, UINT64_MAX, 0);
  if (!p)
    return;
  eryx_sandbox *a = lease(p, NULL);
  waiter w[3];
  pthread_t t[3];
  for (int i = 0; i < 3; i++) {
    w[i] = (waiter){p, 0};
    pthread_create(&t[i], NULL, wait_for_lease, &w[i]);
  }
  sleep_ms(100);
  eryx_pool_stats st;
  eryx_pool_stats_get(p, &st);
  CHECK(st.in_use == 1);
  eryx_pool_close(p);
  for (int i = 0; i < 3; i++) {
    pthread_join(t[i], NULL);
    CHECK_MSG(w[i].code == ERYX_ERR_POOL_CLOSED, "waiter %d got %d", i, (int)w[i].code);
  }
  CHECK(eryx_pool_is_closed(p));
  /* The lease that was out still works, and is freed when released. */
  eryx_status status;
  if (a)
    CHECK_STREQ(json_of(a, "result = 5", &status), "5");
  eryx_pool_release(p, a);
  eryx_pool_stats_get(p, &st);
  CHECK(st.in_use == 0 && st.idle == 0);
  eryx_sandbox *b = NULL;
  eryx_error *err = eryx_pool_try_acquire(p, NULL, &b);
  CHECK(err && eryx_error_get_code(err) == ERYX_ERR_POOL_CLOSED);
  eryx_error_free(err);
  eryx_pool_free(p);
}

static void test_pool_idle_eviction(void) {
  eryx_pool *p = new_pool(4, 1, 0, 50);
  if (!p)
    return;
  eryx_sandbox *s[3];
  for (int i = 0; i < 3; i++)
    s[i] = lease(p, NULL);
  for (int i = 0; i < 3; i++)
    eryx_pool_release(p, s[i]);
  eryx_pool_stats st;
  eryx_pool_stats_get(p, &st);
  CHECK_MSG(st.idle == 3, "idle %u", st.idle);
  sleep_ms(120);
  uint32_t n = eryx_pool_evict_idle(p);
  eryx_pool_stats_get(p, &st);
  CHECK_MSG(n == 2 && st.idle == 1 && st.evictions == 2, "evicted %u, idle %u", n, st.idle);
  eryx_pool_free(p);
}

/* ---- 8 threads × 200 leases ---- */

typedef struct hammer {
  eryx_pool *p;
  atomic_int *leased_now;
  atomic_int *max_seen;
  int ok;
} hammer;

static void *hammer_main(void *arg) {
  hammer *h = arg;
  for (int i = 0; i < 200; i++) {
    eryx_sandbox *sb = NULL;
    eryx_error *err = eryx_pool_acquire(h->p, NULL, &sb);
    if (err) {
      eryx_error_free(err);
      continue;
    }
    int now = atomic_fetch_add(h->leased_now, 1) + 1;
    int seen = atomic_load(h->max_seen);
    while (now > seen && !atomic_compare_exchange_weak(h->max_seen, &seen, now)) {
    }
    /* Every fourth lease runs code; each checks it starts clean. */
    if (i % 4 == 0) {
      eryx_result *r = NULL;
      const char *code = "result = 'mark' in globals()\nmark = 1\n";
      err = eryx_sandbox_execute(sb, code, strlen(code), &r);
      if (!err && str_eq(eryx_result_json(r, NULL), "false"))
        h->ok++;
      eryx_error_free(err);
      eryx_result_free(r);
    } else {
      h->ok++;
    }
    atomic_fetch_sub(h->leased_now, 1);
    eryx_pool_release(h->p, sb);
  }
  return NULL;
}

static void test_pool_threads(void) {
  eryx_pool *p = new_pool(3, 1, UINT64_MAX, 0);
  if (!p)
    return;
  atomic_int leased_now = 0, max_seen = 0;
  hammer h[8];
  pthread_t t[8];
  for (int i = 0; i < 8; i++) {
    h[i] = (hammer){p, &leased_now, &max_seen, 0};
    pthread_create(&t[i], NULL, hammer_main, &h[i]);
  }
  int ok = 0;
  for (int i = 0; i < 8; i++) {
    pthread_join(t[i], NULL);
    ok += h[i].ok;
  }
  CHECK_MSG(ok == 1600, "%d of 1600 leases went right", ok);
  CHECK_MSG(atomic_load(&max_seen) <= 3, "%d leased at once (max_size 3)", atomic_load(&max_seen));
  eryx_pool_stats st;
  eryx_pool_stats_get(p, &st);
  CHECK(st.acquisitions == 1600);
  CHECK_MSG(st.creations <= 3 && st.total <= 3 && st.in_use == 0, "creations %llu total %u",
            (unsigned long long)st.creations, st.total);
  CHECK(st.idle == st.total);
  CHECK(st.waits > 0 && st.total_wait_ms > 0 && st.wait_p99_ms >= st.wait_p50_ms);
  eryx_pool_free(p);
}

static void test_pool_bad_options(void) {
  eryx_pool_options o = ERYX_POOL_OPTIONS_INIT;
  o.max_size = 2;
  o.min_idle = 3;
  eryx_pool *p = NULL;
  eryx_error *err = eryx_pool_new(g_rt, &o, &p);
  CHECK(err && eryx_error_get_code(err) == ERYX_ERR_INVALID_ARGUMENT && !p);
  eryx_error_free(err);
  eryx_vfs *vfs = NULL;
  eryx_error_free(eryx_vfs_new(0, &vfs));
  eryx_sandbox_options so = ERYX_SANDBOX_OPTIONS_INIT;
  so.vfs = vfs;
  o = (eryx_pool_options)ERYX_POOL_OPTIONS_INIT;
  o.sandbox = &so;
  err = eryx_pool_new(g_rt, &o, &p);
  CHECK(err && eryx_error_get_code(err) == ERYX_ERR_INVALID_ARGUMENT && !p);
  CHECK_CONTAINS(err ? eryx_error_message(err, NULL) : NULL, "vfs");
  eryx_error_free(err);
  eryx_vfs_free(vfs);
  /* Options every sandbox gets: here a result variable. */
  so = (eryx_sandbox_options)ERYX_SANDBOX_OPTIONS_INIT;
  so.result_variable = "out";
  so.result_variable_len = 3;
  o.sandbox = &so;
  err = eryx_pool_new(g_rt, &o, &p);
  CHECK(!err);
  eryx_error_free(err);
  eryx_sandbox *sb = p ? lease(p, NULL) : NULL;
  eryx_status st;
  if (sb)
    CHECK_STREQ(json_of(sb, "out = [1]", &st), "[1]");
  eryx_pool_release(p, sb);
  eryx_pool_free(p);
}

const test_case sandbox_pool_tests[] = {
    {"sandbox pool: a lease is as fresh as a new sandbox", test_pool_lease_is_fresh},
    {"sandbox pool: exhaustion and acquire timeout", test_pool_exhaustion_and_timeout},
    {"sandbox pool: close wakes waiters", test_pool_close_wakes_waiters},
    {"sandbox pool: idle eviction keeps min_idle", test_pool_idle_eviction},
    {"sandbox pool: 8 threads x 200 leases", test_pool_threads},
    {"sandbox pool: options", test_pool_bad_options},
};
const size_t sandbox_pool_count = sizeof sandbox_pool_tests / sizeof *sandbox_pool_tests;
