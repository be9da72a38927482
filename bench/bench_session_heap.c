/*
 * bench_session_heap.c — the host heap that live sessions hold: N sessions,
 * each created and run once (`x = 1`), all kept; prints what malloc holds
 * per session (mallinfo2). Under glibc's allocation trace it also brackets
 * those N sessions with mtrace()/muntrace(), so bench/session_heap.py can
 * say which code allocated what is still live:
 *
 *   bench_session_heap [N]      (default 35; bench/session_heap.py runs it)
 *
 * Five sessions are made before the N, so first-use allocations of the
 * runtime do not count.
 */
#include "bench_util.h"

#include <malloc.h>
#include <mcheck.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WARM 5

static eryx_session *session_run_once(eryx_runtime *rt) {
  eryx_sandbox_options o = ERYX_SANDBOX_OPTIONS_INIT;
  eryx_session *s;
  eryx_result *r;
  eryx_error *err = eryx_session_new(rt, &o, &s);
  if (err || (err = eryx_session_execute(s, "x = 1", 5, &r)))
    die(err);
  eryx_result_free(r);
  return s;
}

int main(int argc, char **argv) {
  int n = argc > 1 ? atoi(argv[1]) : 35;
  if (n < 1)
    n = 1;
  eryx_runtime *rt = bench_runtime();
  eryx_session **all = calloc((size_t)(n + WARM), sizeof *all);
  for (int i = 0; i < WARM; i++)
    all[i] = session_run_once(rt);
  struct mallinfo2 before = mallinfo2();
  mtrace(); /* a no-op unless libc_malloc_debug.so is preloaded with MALLOC_TRACE set */
  for (int i = WARM; i < n + WARM; i++)
    all[i] = session_run_once(rt);
  muntrace();
  struct mallinfo2 after = mallinfo2();
  printf("{\"bench\":\"session_heap\",\"sessions\":%d,\"malloc_kb_per_session\":%.1f,"
         "\"of_which_mmapped_kb\":%.1f}\n",
         n, (double)(after.uordblks - before.uordblks + after.hblkhd - before.hblkhd) / n / 1024,
         (double)(after.hblkhd - before.hblkhd) / n / 1024);
  for (int i = 0; i < n + WARM; i++)
    eryx_session_free(all[i]);
  free(all);
  eryx_runtime_free(rt);
  return 0;
}
