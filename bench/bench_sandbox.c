/*
 * bench_sandbox.c — sandbox creation, execution and memory figures.
 *
 * Prints one JSON object per line (machine-readable), e.g.
 *   {"bench":"create_execute_pass","n":1000,"p50_ms":0.8,"p99_ms":1.4,...}
 *
 * usage: bench_sandbox [ITERATIONS]   (default 1000)
 *
 * Figures:
 *   runtime_load          eryx_runtime_new (maps the .cwasm)
 *   create                eryx_sandbox_new alone
 *   first_execute         the first `pass` in a new sandbox (page faults)
 *   free                  eryx_sandbox_free (returns the pool slot)
 *   create_execute_pass   new sandbox + execute `pass` + free, end to end,
 *                         back to back (the warm-instance pool cannot keep
 *                         up with a saturating loop on 2 cores: p99 shows it)
 *   paced_create_execute  the same, one every 10 ms (requests arriving
 *                         spaced out: the pool has an instance ready)
 *   execute_again         execute `pass` on a sandbox that already ran
 *                         (includes the fresh instance each execute gets)
 *   execute_print         execute `print('hi')` on a used sandbox
 *   session_execute       `x += 1` in a live session (state kept)
 *   memory_per_sandbox    per live sandbox, N = 1 and 100: RSS (counts the
 *                         shared, read-only snapshot pages once per sandbox,
 *                         so it overstates), PSS (shared pages divided among
 *                         their users) and private dirty memory (what a
 *                         sandbox really adds)
 */
#include "bench_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void report(const char *name, double *v, int n) {
  qsort(v, (size_t)n, sizeof *v, cmp_double);
  double sum = 0;
  for (int i = 0; i < n; i++)
    sum += v[i];
  printf("{\"bench\":\"%s\",\"n\":%d,\"p50_ms\":%.4f,\"p99_ms\":%.4f,"
         "\"mean_ms\":%.4f,\"min_ms\":%.4f}\n",
         name, n, v[n / 2], v[(int)(n * 0.99)], sum / n, v[0]);
}

typedef struct {
  long rss, pss, private_dirty;
} mem_kb;

static mem_kb memory(void) {
  mem_kb m = {-1, -1, -1};
  FILE *f = fopen("/proc/self/smaps_rollup", "r");
  char line[256];
  while (f && fgets(line, sizeof line, f)) {
    sscanf(line, "Rss: %ld kB", &m.rss);
    sscanf(line, "Pss: %ld kB", &m.pss);
    sscanf(line, "Private_Dirty: %ld kB", &m.private_dirty);
  }
  if (f)
    fclose(f);
  return m;
}

int main(int argc, char **argv) {
  int n = argc > 1 ? atoi(argv[1]) : 1000;
  if (n < 10)
    n = 10;
  double *create = malloc(sizeof(double) * (size_t)n);
  double *first = malloc(sizeof(double) * (size_t)n);
  double *total = malloc(sizeof(double) * (size_t)n);
  double *freeing = malloc(sizeof(double) * (size_t)n);
  double *again = malloc(sizeof(double) * (size_t)n);
  double *print = malloc(sizeof(double) * (size_t)n);

  double t0 = now_ms();
  eryx_runtime *rt;
  eryx_error *err = eryx_runtime_new(NULL, &rt);
  if (err)
    die(err);
  double load = now_ms() - t0;
  printf("{\"bench\":\"runtime_load\",\"n\":1,\"p50_ms\":%.4f}\n", load);

  for (int i = 0; i < 20; i++) { /* warm-up: pool slots, page cache */
    eryx_sandbox *sb;
    if ((err = eryx_sandbox_new(rt, NULL, &sb)))
      die(err);
    run_ms(sb, "pass");
    eryx_sandbox_free(sb);
  }

  for (int i = 0; i < n; i++) {
    eryx_sandbox *sb;
    double a = now_ms();
    if ((err = eryx_sandbox_new(rt, NULL, &sb)))
      die(err);
    double b = now_ms();
    run_ms(sb, "pass");
    double c = now_ms();
    eryx_sandbox_free(sb);
    double d = now_ms();
    create[i] = b - a;
    first[i] = c - b;
    total[i] = d - a;
    freeing[i] = d - c;
  }
  report("create", create, n);
  report("first_execute", first, n);
  report("free", freeing, n);
  report("create_execute_pass", total, n);

  int paced_n = n < 200 ? n : 200; /* 10 ms apart: keep it short */
  struct timespec gap = {0, 10 * 1000000L};
  for (int i = 0; i < paced_n; i++) {
    nanosleep(&gap, NULL);
    eryx_sandbox *sb;
    double a = now_ms();
    if ((err = eryx_sandbox_new(rt, NULL, &sb)))
      die(err);
    run_ms(sb, "pass");
    eryx_sandbox_free(sb);
    total[i] = now_ms() - a;
  }
  report("paced_create_execute", total, paced_n);

  eryx_sandbox *sb;
  if ((err = eryx_sandbox_new(rt, NULL, &sb)))
    die(err);
  run_ms(sb, "pass");
  for (int i = 0; i < n; i++) {
    double a = now_ms();
    run_ms(sb, "pass");
    again[i] = now_ms() - a;
  }
  for (int i = 0; i < n; i++) {
    double a = now_ms();
    run_ms(sb, "print('hi')");
    print[i] = now_ms() - a;
  }
  eryx_sandbox_free(sb);
  report("execute_again", again, n);
  report("execute_print", print, n);

  eryx_session *session;
  if ((err = eryx_session_new(rt, NULL, &session)))
    die(err);
  eryx_result *r0;
  if ((err = eryx_session_execute(session, "x = 0", 5, &r0)))
    die(err);
  eryx_result_free(r0);
  for (int i = 0; i < n; i++) {
    double a = now_ms();
    eryx_result *r;
    if ((err = eryx_session_execute(session, "x += 1", 6, &r)))
      die(err);
    again[i] = now_ms() - a;
    eryx_result_free(r);
  }
  eryx_session_free(session);
  report("session_execute", again, n);

  int counts[] = {1, 100};
  for (size_t k = 0; k < 2; k++) {
    int live = counts[k];
    eryx_sandbox **all = calloc((size_t)live, sizeof *all);
    mem_kb before = memory();
    for (int i = 0; i < live; i++) {
      if ((err = eryx_sandbox_new(rt, NULL, &all[i])))
        die(err);
      run_ms(all[i], "x = [i for i in range(100)]");
    }
    mem_kb after = memory();
    printf("{\"bench\":\"memory_per_sandbox\",\"n\":%d,\"rss_kb\":%.1f,"
           "\"pss_kb\":%.1f,\"private_dirty_kb\":%.1f}\n",
           live, (double)(after.rss - before.rss) / live,
           (double)(after.pss - before.pss) / live,
           (double)(after.private_dirty - before.private_dirty) / live);
    for (int i = 0; i < live; i++)
      eryx_sandbox_free(all[i]);
    free(all);
  }
  eryx_runtime_free(rt);
  free(create), free(first), free(total), free(again), free(print), free(freeing);
  return 0;
}
