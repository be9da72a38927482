/*
 * bench_util.h — what every benchmark needs: a monotonic clock in ms, a
 * comparator for sorting samples, dying on an API error, its rounds and
 * runtime, and running code
 * that must succeed (a benchmark that cannot run should say why and stop,
 * not print figures).
 */
#ifndef ERYX_BENCH_UTIL_H
#define ERYX_BENCH_UTIL_H

#include "eryx.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static inline double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static inline void die(eryx_error *err) {
  fprintf(stderr, "bench: %s\n", eryx_error_message(err, NULL));
  exit(1);
}

/* The rounds a benchmark runs: argv[1], at least 3 (default 20). */
static inline int bench_rounds(int argc, char **argv) {
  int rounds = argc > 1 ? atoi(argv[1]) : 20;
  return rounds < 3 ? 3 : rounds;
}

/* The runtime a benchmark runs in (the default one), or it stops. */
static inline eryx_runtime *bench_runtime(void) {
  eryx_runtime *rt = NULL;
  eryx_error *err = eryx_runtime_new(NULL, &rt);
  if (err)
    die(err);
  return rt;
}

/* qsort comparator for doubles, ascending. */
static inline int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* Executes `code` in `sb`; stops the benchmark unless it ran to completion.
 * Returns the execution's own duration in ms. */
static inline double run_ms(eryx_sandbox *sb, const char *code) {
  eryx_result *r;
  eryx_error *err = eryx_sandbox_execute(sb, code, strlen(code), &r);
  if (err)
    die(err);
  if (eryx_result_status(r) != ERYX_STATUS_OK) {
    fprintf(stderr, "bench: %s failed: %s\n%s", code, eryx_result_error_message(r, NULL),
            eryx_result_traceback(r, NULL));
    exit(1);
  }
  double ms = eryx_result_duration_ms(r);
  eryx_result_free(r);
  return ms;
}

#endif
