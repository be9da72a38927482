/*
 * bench_oneoff.c — one-off executions back to back on one sandbox, each
 * in a fresh interpreter (the instance the warm-instance thread made
 * ready), from one caller thread: the loop a service runs for stateless
 * requests. Short and free of other work, so that it can run under
 * `perf stat` / `perf record` (bench/README.md shows how and what that
 * found).
 *
 * Prints one JSON object:
 *   {"bench":"oneoff_execute","n":...,"per_s":...,"p50_ms":...,"p99_ms":...}
 *
 * usage: bench_oneoff [EXECUTIONS [WARM]]   (default 1000, at least 3;
 *        WARM: the runtime's warm_instances, -1 to instantiate inline,
 *        default the library's)
 */
#include "bench_util.h"

int main(int argc, char **argv) {
  int n = bench_rounds(argc, argv);
  if (argc < 2)
    n = 1000;
  eryx_runtime_options ro = ERYX_RUNTIME_OPTIONS_INIT;
  if (argc > 2)
    ro.warm_instances = atoi(argv[2]);
  eryx_runtime *rt = NULL;
  eryx_error *err = eryx_runtime_new(&ro, &rt);
  if (err)
    die(err);
  eryx_sandbox *sb = NULL;
  err = eryx_sandbox_new(rt, NULL, &sb);
  if (err)
    die(err);
  run_ms(sb, "pass"); /* the first instance is the one made at create */
  double *v = malloc((size_t)n * sizeof *v);
  if (!v)
    return 1;
  double start = now_ms();
  for (int i = 0; i < n; i++) {
    double t0 = now_ms();
    run_ms(sb, "x = 1");
    v[i] = now_ms() - t0;
  }
  double total = now_ms() - start;
  qsort(v, (size_t)n, sizeof *v, cmp_double);
  printf("{\"bench\":\"oneoff_execute\",\"n\":%d,\"per_s\":%.1f,\"p50_ms\":%.4f,"
         "\"p99_ms\":%.4f}\n",
         n, n * 1000.0 / total, v[n / 2], v[(n * 99) / 100]);
  free(v);
  eryx_sandbox_free(sb);
  eryx_runtime_free(rt);
  return 0;
}
