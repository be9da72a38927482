/* test_threads.c — one runtime shared by sandboxes on several threads (per-
 * sandbox deadlines under concurrency are tested in test_limits.c). */
#include "harness.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#define THREADS 4
#define RUNS_PER_THREAD 5

typedef struct {
  int id;
  int ok;
} worker;

static void *work(void *arg) {
  worker *w = arg;
  eryx_sandbox *sb = NULL;
  eryx_error *err = eryx_sandbox_new(g_rt, NULL, &sb);
  if (err) {
    eryx_error_free(err);
    return NULL;
  }
  char code[256], want[64];
  for (int i = 0; i < RUNS_PER_THREAD; i++) {
    snprintf(code, sizeof code,
             "import hashlib\n"
             "n = sum(range(%d * 10000))\n"
             "result = [%d, %d, n]", w->id + 1, w->id, i);
    long long n = 0;
    for (long long k = 0; k < (long long)(w->id + 1) * 10000; k++)
      n += k;
    snprintf(want, sizeof want, "[%d, %d, %lld]", w->id, i, n);
    eryx_result *r = NULL;
    err = eryx_sandbox_execute(sb, code, strlen(code), &r);
    if (!err && eryx_result_json(r, NULL) && !strcmp(eryx_result_json(r, NULL), want))
      w->ok++;
    eryx_error_free(err);
    eryx_result_free(r);
  }
  eryx_sandbox_free(sb);
  return NULL;
}

static void sandboxes_on_several_threads_at_once(void) {
  pthread_t t[THREADS];
  worker w[THREADS];
  for (int i = 0; i < THREADS; i++) {
    w[i].id = i;
    w[i].ok = 0;
    CHECK(pthread_create(&t[i], NULL, work, &w[i]) == 0);
  }
  for (int i = 0; i < THREADS; i++) {
    pthread_join(t[i], NULL);
    CHECK_MSG(w[i].ok == RUNS_PER_THREAD, "thread %d: %d/%d runs right", i,
              w[i].ok, RUNS_PER_THREAD);
  }
}

const test_case threads_tests[] = {
    {"sandboxes_on_several_threads_at_once", sandboxes_on_several_threads_at_once},
};
const size_t threads_count = sizeof threads_tests / sizeof threads_tests[0];
