/*
 * bench_callbacks.c — callback figures, one JSON object per line.
 *
 *   callback_round_trip     one `await echo(n=i)` answered at once by the
 *                           host, measured as (execute of N sequential calls
 *                           - execute of the same loop without the call) / N
 *   gather_100_x_50ms       asyncio.gather of 100 calls, each answered by a
 *                           host thread after 50 ms; ideal is 50 ms
 *
 * usage: bench_callbacks [ROUNDS]   (default 20)
 */
#include "bench_util.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void echo(void *ud, eryx_call *call, const char *args, size_t len) {
  (void)ud;
  eryx_error_free(eryx_call_succeed(call, args, len));
}

static void *answer_in_50ms(void *arg) {
  struct timespec ts = {0, 50000000L};
  nanosleep(&ts, NULL);
  eryx_error_free(eryx_call_succeed(arg, "1", 1));
  return NULL;
}

static void slow(void *ud, eryx_call *call, const char *args, size_t len) {
  (void)ud, (void)args, (void)len;
  pthread_t t;
  if (pthread_create(&t, NULL, answer_in_50ms, call) != 0) {
    eryx_error_free(eryx_call_fail(call, NULL, 0, "no thread", 9));
    return;
  }
  pthread_detach(t);
}

int main(int argc, char **argv) {
  int rounds = bench_rounds(argc, argv);
  eryx_runtime *rt = bench_runtime();
  eryx_error *err = NULL;
  eryx_callback cbs[2] = {{0}, {0}};
  cbs[0].name = "echo";
  cbs[0].name_len = 4;
  cbs[0].fn = echo;
  cbs[1].name = "slow";
  cbs[1].name_len = 4;
  cbs[1].fn = slow;
  eryx_sandbox_options o = ERYX_SANDBOX_OPTIONS_INIT;
  o.callbacks = cbs;
  o.callback_count = 2;
  o.max_callback_invocations = 100000;
  eryx_sandbox *sb;
  if ((err = eryx_sandbox_new(rt, &o, &sb)))
    die(err);

  const int n = 2000;
  char with[256], without[256];
  snprintf(with, sizeof with, "for i in range(%d):\n    await echo(n=i)\n", n);
  snprintf(without, sizeof without,
           "async def nothing(n):\n    return n\n"
           "for i in range(%d):\n    await nothing(n=i)\n", n);
  double *per_call = malloc(sizeof(double) * (size_t)rounds);
  for (int i = 0; i < rounds; i++)
    per_call[i] = (run_ms(sb, with) - run_ms(sb, without)) * 1000.0 / n;
  qsort(per_call, (size_t)rounds, sizeof *per_call, cmp_double);
  printf("{\"bench\":\"callback_round_trip\",\"calls_per_round\":%d,\"rounds\":%d,"
         "\"p50_us\":%.2f,\"min_us\":%.2f,\"max_us\":%.2f}\n",
         n, rounds, per_call[rounds / 2], per_call[0], per_call[rounds - 1]);

  double *gather = malloc(sizeof(double) * (size_t)rounds);
  const char *code = "import asyncio\n"
                     "r = await asyncio.gather(*(slow() for _ in range(100)))\n"
                     "assert r == [1] * 100\n";
  for (int i = 0; i < rounds; i++)
    gather[i] = run_ms(sb, code);
  qsort(gather, (size_t)rounds, sizeof *gather, cmp_double);
  printf("{\"bench\":\"gather_100_x_50ms\",\"rounds\":%d,\"p50_ms\":%.2f,"
         "\"min_ms\":%.2f,\"max_ms\":%.2f}\n",
         rounds, gather[rounds / 2], gather[0], gather[rounds - 1]);

  free(per_call);
  free(gather);
  eryx_sandbox_free(sb);
  eryx_runtime_free(rt);
  return 0;
}
