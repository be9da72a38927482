/*
 * bench_util.h — what every benchmark needs: a monotonic clock in ms, a
 * comparator for sorting samples, and dying on an API error (a benchmark
 * that cannot run should say why and stop, not print figures).
 */
#ifndef ERYX_BENCH_UTIL_H
#define ERYX_BENCH_UTIL_H

#include "eryx.h"

#include <stdio.h>
#include <stdlib.h>
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

/* qsort comparator for doubles, ascending. */
static inline int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

#endif
