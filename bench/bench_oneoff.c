/*
 * bench_oneoff.c — one-off executions back to back, each in a fresh
 * interpreter, from THREADS caller threads (each with its own sandbox):
 * the loop a service runs for stateless requests. Short and free of other
 * work, so that it can run under `perf stat` / `perf record`
 * (bench/README.md shows how and what that found).
 *
 * With PACE_MS, each caller sleeps that long between executions (not
 * timed): requests spaced out, where the warm-instance thread has time to
 * make the next instance while the callers rest.
 *
 * Prints one JSON object (per_s counts all threads; p50/p99 over all
 * executions):
 *   {"bench":"oneoff_execute","n":...,"threads":...,"pace_ms":...,
 *    "per_s":...,"p50_ms":...,"p99_ms":...}
 *
 * usage: bench_oneoff [EXECUTIONS [WARM [THREADS [PACE_MS]]]]
 *        EXECUTIONS per thread (default 1000, at least 3); WARM: the
 *        runtime's warm_instances, -1 to instantiate inline, 0 (default)
 *        the library's; THREADS default 1; PACE_MS default 0
 */
#include "bench_util.h"

#include <pthread.h>
#include <time.h>

typedef struct {
  eryx_runtime *rt;
  int n;
  int pace_ms;
  double *v; /* n latencies */
} caller;

static void *caller_main(void *arg) {
  caller *c = arg;
  eryx_sandbox *sb = NULL;
  eryx_error *err = eryx_sandbox_new(c->rt, NULL, &sb);
  if (err)
    die(err);
  run_ms(sb, "pass"); /* the first instance is the one made at create */
  struct timespec pause = {c->pace_ms / 1000, (long)(c->pace_ms % 1000) * 1000000L};
  for (int i = 0; i < c->n; i++) {
    if (c->pace_ms)
      nanosleep(&pause, NULL);
    double t0 = now_ms();
    run_ms(sb, "x = 1");
    c->v[i] = now_ms() - t0;
  }
  eryx_sandbox_free(sb);
  return NULL;
}

int main(int argc, char **argv) {
  int n = bench_rounds(argc, argv);
  if (argc < 2)
    n = 1000;
  eryx_runtime_options ro = ERYX_RUNTIME_OPTIONS_INIT;
  if (argc > 2)
    ro.warm_instances = atoi(argv[2]);
  int threads = argc > 3 ? atoi(argv[3]) : 1;
  int pace_ms = argc > 4 ? atoi(argv[4]) : 0;
  if (threads < 1 || threads > 64 || pace_ms < 0) {
    fprintf(stderr, "bench_oneoff: THREADS must be 1..64 and PACE_MS >= 0\n");
    return 2;
  }
  eryx_runtime *rt = NULL;
  eryx_error *err = eryx_runtime_new(&ro, &rt);
  if (err)
    die(err);
  size_t total_n = (size_t)n * (size_t)threads;
  double *v = malloc(total_n * sizeof *v);
  caller *c = calloc((size_t)threads, sizeof *c);
  pthread_t *t = calloc((size_t)threads, sizeof *t);
  if (!v || !c || !t)
    return 1;
  double start = now_ms();
  for (int i = 0; i < threads; i++) {
    c[i] = (caller){rt, n, pace_ms, v + (size_t)i * (size_t)n};
    if (pthread_create(&t[i], NULL, caller_main, &c[i]) != 0)
      return 1;
  }
  for (int i = 0; i < threads; i++)
    pthread_join(t[i], NULL);
  double total = now_ms() - start;
  qsort(v, total_n, sizeof *v, cmp_double);
  printf("{\"bench\":\"oneoff_execute\",\"n\":%d,\"threads\":%d,\"pace_ms\":%d,"
         "\"per_s\":%.1f,\"p50_ms\":%.4f,\"p99_ms\":%.4f}\n",
         n, threads, pace_ms, (double)total_n * 1000.0 / total, v[total_n / 2],
         v[(total_n * 99) / 100]);
  free(t);
  free(c);
  free(v);
  eryx_runtime_free(rt);
  return 0;
}
