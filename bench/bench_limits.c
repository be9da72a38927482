/*
 * bench_limits.c — limit figures, one JSON object per line.
 *
 *   cancel_latency_<where>  time from eryx_sandbox_cancel() to the end of the
 *                           execution, while it spins, sleeps, or waits on a
 *                           callback that never answers, and in WASI's own
 *                           waits (CPython's time.sleep, select, poll)
 *   timeout_overshoot_<where>  how far past a 200 ms timeout those WASI
 *                           waits end
 *   fuel_overhead           the same compute loop with and without a fuel
 *                           budget (fuel-counting code is slower)
 *
 * usage: bench_limits [ROUNDS]   (default 20)
 */
#include "bench_util.h"

/* CPython's own time.sleep (the guest runtime replaces the module's), as
 * test_blocking.c gets it: a fresh module object from the built-in spec. */
#define REIMPORTED_TIME                                                         \
  "import importlib.util\n"                                                  \
  "t = importlib.util.module_from_spec(importlib.util.find_spec('time'))\n"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static eryx_call *parked;

static void never_answers(void *ud, eryx_call *call, const char *args, size_t len) {
  (void)ud, (void)args, (void)len;
  parked = call;
}

typedef struct {
  eryx_sandbox *sb;
  double cancelled_at;
} canceller;

static void *cancel_after_50ms(void *arg) {
  canceller *c = arg;
  struct timespec ts = {0, 50000000L};
  nanosleep(&ts, NULL);
  c->cancelled_at = now_ms();
  eryx_sandbox_cancel(c->sb);
  return NULL;
}

static double one_cancel(eryx_sandbox *sb, const char *code) {
  canceller c = {sb, 0};
  pthread_t t;
  pthread_create(&t, NULL, cancel_after_50ms, &c);
  eryx_result *r;
  eryx_error *err = eryx_sandbox_execute(sb, code, strlen(code), &r);
  double ended = now_ms();
  pthread_join(t, NULL);
  if (err)
    die(err);
  if (eryx_result_status(r) != ERYX_STATUS_CANCELLED) {
    fprintf(stderr, "bench: expected a cancelled run, got %s\n",
            eryx_status_name(eryx_result_status(r)));
    exit(1);
  }
  eryx_result_free(r);
  if (parked) {
    eryx_error_free(eryx_call_succeed(parked, "1", 1));
    parked = NULL;
  }
  return ended - c.cancelled_at;
}

int main(int argc, char **argv) {
  int rounds = bench_rounds(argc, argv);
  eryx_runtime *rt = bench_runtime();
  eryx_error *err = NULL;

  eryx_callback cb = {0};
  cb.name = "wait_forever";
  cb.name_len = strlen(cb.name);
  cb.fn = never_answers;
  eryx_sandbox_options o = ERYX_SANDBOX_OPTIONS_INIT;
  o.callbacks = &cb;
  o.callback_count = 1;
  o.callback_timeout_ms = UINT64_MAX;
  eryx_sandbox *sb;
  if ((err = eryx_sandbox_new(rt, &o, &sb)))
    die(err);
  struct {
    const char *where, *code;
  } cases[] = {{"busy_loop", "while True:\n    pass\n"},
               {"sleep", "import time\ntime.sleep(3600)\n"},
               {"callback_wait", "await wait_forever()\n"},
               /* Waits inside Wasmtime's WASI, not our imports. */
               {"wasi_sleep", REIMPORTED_TIME "t.sleep(3600)\n"},
               {"wasi_select", "import select\nselect.select([], [], [], 3600)\n"},
               {"wasi_poll", "import select\nselect.poll().poll(3600 * 1000)\n"}};
  size_t ncases = sizeof cases / sizeof cases[0];
  double *v = malloc(sizeof(double) * (size_t)rounds);
  for (size_t k = 0; k < ncases; k++) {
    for (int i = 0; i < rounds; i++)
      v[i] = one_cancel(sb, cases[k].code);
    qsort(v, (size_t)rounds, sizeof *v, cmp_double);
    printf("{\"bench\":\"cancel_latency_%s\",\"rounds\":%d,\"p50_ms\":%.3f,"
           "\"max_ms\":%.3f}\n",
           cases[k].where, rounds, v[rounds / 2], v[rounds - 1]);
  }
  eryx_sandbox_free(sb);

  /* A 200 ms timeout on the WASI waits: how far past it the run ends. */
  eryx_sandbox_options to = ERYX_SANDBOX_OPTIONS_INIT;
  to.timeout_ms = 200;
  if ((err = eryx_sandbox_new(rt, &to, &sb)))
    die(err);
  for (size_t k = 3; k < ncases; k++) {
    for (int i = 0; i < rounds; i++) {
      eryx_result *r = NULL;
      double t0 = now_ms();
      if ((err = eryx_sandbox_execute(sb, cases[k].code, strlen(cases[k].code), &r)))
        die(err);
      v[i] = now_ms() - t0 - 200;
      if (eryx_result_status(r) != ERYX_STATUS_LIMIT) {
        fprintf(stderr, "bench: expected a timeout, got %s\n",
                eryx_status_name(eryx_result_status(r)));
        exit(1);
      }
      eryx_result_free(r);
    }
    qsort(v, (size_t)rounds, sizeof *v, cmp_double);
    printf("{\"bench\":\"timeout_overshoot_%s\",\"timeout_ms\":200,\"rounds\":%d,"
           "\"p50_ms\":%.3f,\"max_ms\":%.3f}\n",
           cases[k].where, rounds, v[rounds / 2], v[rounds - 1]);
  }
  eryx_sandbox_free(sb);

  eryx_sandbox_options fo = ERYX_SANDBOX_OPTIONS_INIT;
  fo.max_fuel = (uint64_t)1 << 40;
  eryx_sandbox *plain, *fueled;
  if ((err = eryx_sandbox_new(rt, NULL, &plain)) || (err = eryx_sandbox_new(rt, &fo, &fueled)))
    die(err);
  const char *work = "result = sum(i * i for i in range(300000))";
  double *w = malloc(sizeof(double) * (size_t)rounds);
  for (int i = 0; i < rounds; i++) {
    v[i] = run_ms(plain, work);
    w[i] = run_ms(fueled, work);
  }
  qsort(v, (size_t)rounds, sizeof *v, cmp_double);
  qsort(w, (size_t)rounds, sizeof *w, cmp_double);
  printf("{\"bench\":\"fuel_overhead\",\"rounds\":%d,\"plain_p50_ms\":%.2f,"
         "\"fuel_p50_ms\":%.2f,\"ratio\":%.2f}\n",
         rounds, v[rounds / 2], w[rounds / 2], w[rounds / 2] / v[rounds / 2]);
  free(v);
  free(w);
  eryx_sandbox_free(plain);
  eryx_sandbox_free(fueled);
  eryx_runtime_free(rt);
  return 0;
}
