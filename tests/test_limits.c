/*
 * test_limits.c — code that runs forever, allocates without bound, prints
 * without end or recurses without end must end as a clean, typed result,
 * and the sandbox (and the host) must carry on.
 */
#include "harness.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
  eryx_sandbox *sb;
  int delay_ms;
  double cancelled_at;
  int returned;
} canceller;

static void *cancel_later(void *arg) {
  canceller *c = arg;
  sleep_ms(c->delay_ms);
  c->cancelled_at = now_ms();
  c->returned = eryx_sandbox_cancel(c->sb);
  return NULL;
}

/* Runs `code` and cancels it from another thread after 150 ms; returns the
 * latency from the cancel to the end of the execution. */
static double run_and_cancel(eryx_sandbox *sb, const char *code) {
  canceller c = {sb, 150, 0, 0};
  pthread_t t;
  pthread_create(&t, NULL, cancel_later, &c);
  eryx_result *r = run(sb, code);
  double ended = now_ms();
  pthread_join(t, NULL);
  CHECK(c.returned == 1);
  CHECK_MSG(r && eryx_result_status(r) == ERYX_STATUS_CANCELLED, "%s", describe(r));
  if (r)
    CHECK_STREQ(eryx_result_error_type(r, NULL), "CancelledError");
  eryx_result_free(r);
  return ended - c.cancelled_at;
}

static atomic_int cancels;
static eryx_call *parked;

static void park(void *ud, eryx_call *call, const char *args, size_t len) {
  (void)ud, (void)args, (void)len;
  parked = call;
}

static void on_cancel(void *ud, eryx_call *call) {
  (void)ud, (void)call;
  atomic_fetch_add(&cancels, 1);
}

static void cancel_from_another_thread(void) {
  eryx_callback cb = {0};
  cb.name = "wait_forever";
  cb.name_len = strlen(cb.name);
  cb.fn = park;
  cb.on_cancel = on_cancel;
  eryx_sandbox_options o = ERYX_SANDBOX_OPTIONS_INIT;
  o.callbacks = &cb;
  o.callback_count = 1;
  o.callback_timeout_ms = UINT64_MAX;
  eryx_sandbox *sb = new_sandbox(&o);
  if (!sb)
    return;
  double busy = run_and_cancel(sb, "while True:\n    pass\n");
  double sleeping = run_and_cancel(sb, "import time\ntime.sleep(3600)\n");
  atomic_store(&cancels, 0);
  double waiting = run_and_cancel(sb, "await wait_forever()\n");
  CHECK(atomic_load(&cancels) == 1);
  eryx_error_free(eryx_call_succeed(parked, "1", 1)); /* late answer: dropped */
  fprintf(stderr, "  cancel latency: busy loop %.1f ms, sleep %.1f ms, "
                  "callback wait %.1f ms\n", busy, sleeping, waiting);
  CHECK_MSG(busy < 100 && sleeping < 100 && waiting < 100,
            "cancel took %.1f / %.1f / %.1f ms", busy, sleeping, waiting);

  /* Nothing running: nothing to cancel, and nothing carries over. */
  CHECK(eryx_sandbox_cancel(sb) == 0);
  eryx_result *r = run(sb, "result = 'still works'");
  if (r)
    CHECK_STREQ(eryx_result_json(r, NULL), "\"still works\"");
  eryx_result_free(r);
  eryx_sandbox_free(sb);
}

static eryx_sandbox *with_memory(uint64_t bytes) {
  eryx_sandbox_options o = ERYX_SANDBOX_OPTIONS_INIT;
  o.max_memory_bytes = bytes;
  return new_sandbox(&o);
}

static void memory_bombs_stop_at_the_cap(void) {
  eryx_sandbox *sb = with_memory((uint64_t)64 << 20);
  const char *bombs[] = {
      "b = bytearray(500 * 2**20)",
      "chunks = []\nwhile True:\n    chunks.append(bytearray(2**20))\n",
      "s = 'x' * (300 * 2**20)",
  };
  for (size_t i = 0; i < sizeof bombs / sizeof bombs[0]; i++) {
    eryx_result *r = run(sb, bombs[i]);
    CHECK_MSG(r && eryx_result_status(r) == ERYX_STATUS_LIMIT &&
                  str_eq(eryx_result_error_type(r, NULL), "MemoryError"),
              "bomb %zu: %s", i, describe(r));
    eryx_result_free(r);
  }
  /* A MemoryError can be caught, and the sandbox works afterwards. */
  eryx_result *r = run(sb, "try:\n    b = bytearray(500 * 2**20)\n"
                           "except MemoryError:\n    result = 'caught'\n");
  if (r)
    CHECK_STREQ(eryx_result_json(r, NULL), "\"caught\"");
  eryx_result_free(r);
  /* Within the cap, allocation works. */
  r = run(sb, "b = bytearray(20 * 2**20)\nresult = len(b)");
  if (r)
    CHECK_STREQ(eryx_result_json(r, NULL), "20971520");
  eryx_result_free(r);
  eryx_sandbox_free(sb);

  /* A cap too small for the runtime itself is an error, not a crash. */
  eryx_sandbox *tiny = NULL;
  eryx_sandbox_options o = ERYX_SANDBOX_OPTIONS_INIT;
  o.max_memory_bytes = 1 << 20;
  eryx_error *err = eryx_sandbox_new(g_rt, &o, &tiny);
  CHECK(err && !tiny);
  eryx_error_free(err);
}

/* Peak linear memory: the runtime's heap at rest, growth by what Python
 * allocates, never beyond the cap, and a fresh store after a replace. */
static void peak_memory_is_reported(void) {
  const uint64_t cap = (uint64_t)96 << 20;
  eryx_sandbox *sb = with_memory(cap);
  eryx_result *r = run(sb, "pass");
  uint64_t base = r ? eryx_result_peak_memory_bytes(r) : 0;
  CHECK_MSG(base > ((uint64_t)4 << 20) && base < cap, "at rest: %llu",
            (unsigned long long)base);
  eryx_result_free(r);

  r = run(sb, "b = bytearray(40 * 2**20)");
  uint64_t grown = r ? eryx_result_peak_memory_bytes(r) : 0;
  CHECK_MSG(grown >= base + ((uint64_t)40 << 20) && grown <= cap,
            "after 40 MiB: %llu (base %llu)", (unsigned long long)grown,
            (unsigned long long)base);
  eryx_result_free(r);

  /* A bomb stops at the cap: the peak stays within it. */
  r = run(sb, "b = bytearray(500 * 2**20)");
  CHECK(r && eryx_result_status(r) == ERYX_STATUS_LIMIT);
  if (r)
    CHECK(eryx_result_peak_memory_bytes(r) <= cap);
  eryx_result_free(r);

  /* Each execute starts on a fresh instance: back to the resting size. */
  r = run(sb, "pass");
  if (r)
    CHECK_MSG(eryx_result_peak_memory_bytes(r) < base + ((uint64_t)4 << 20),
              "after replace: %llu", (unsigned long long)eryx_result_peak_memory_bytes(r));
  eryx_result_free(r);
  eryx_sandbox_free(sb);
}

static void deep_recursion_is_a_recursion_error(void) {
  eryx_result *r = run_once("def f(n):\n    return f(n + 1)\nf(0)\n");
  CHECK_MSG(r && eryx_result_status(r) == ERYX_STATUS_EXCEPTION, "%s", describe(r));
  if (r)
    CHECK_STREQ(eryx_result_error_type(r, NULL), "RecursionError");
  eryx_result_free(r);
  r = run_once("import sys\nsys.setrecursionlimit(10**6)\n"
               "def f(n):\n    return f(n + 1)\nf(0)\n");
  /* Raising the limit may let the C stack overflow: that must still be a
   * clean result (an exception or a trap), never a host crash. */
  CHECK_MSG(r && eryx_result_status(r) != ERYX_STATUS_OK, "%s", describe(r));
  eryx_result_free(r);
  r = run_once("result = 'fine'");
  if (r)
    CHECK_STREQ(eryx_result_json(r, NULL), "\"fine\"");
  eryx_result_free(r);
}

static void output_is_cut_at_the_cap(void) {
  eryx_sandbox_options o = ERYX_SANDBOX_OPTIONS_INIT;
  o.max_output_bytes = 1 << 20;
  eryx_sandbox *sb = new_sandbox(&o);
  double t = now_ms();
  /* 1 GB of output, in 1 MB lines. */
  eryx_result *r = run(sb, "line = 'x' * (2**20 - 1)\n"
                           "for i in range(1024):\n"
                           "    print(line)\n"
                           "result = 'finished'\n");
  double took = now_ms() - t;
  CHECK_MSG(r && eryx_result_status(r) == ERYX_STATUS_OK, "%s", describe(r));
  if (r) {
    size_t out_len, err_len;
    eryx_result_stdout(r, &out_len);
    eryx_result_stderr(r, &err_len);
    CHECK_MSG(out_len + err_len == 1 << 20, "kept %zu bytes", out_len + err_len);
    CHECK(eryx_result_output_truncated(r));
    CHECK_STREQ(eryx_result_json(r, NULL), "\"finished\"");
  }
  CHECK_MSG(took < 10000, "1 GB of dropped output took %.0f ms", took);
  eryx_result_free(r);

  /* Raw writes to fd 1 are capped too (WASI accepts them in pieces). */
  r = run(sb, "import _io\n"
              "raw = _io.FileIO(1, 'w', closefd=False)\n"
              "total = 0\n"
              "while total < 2 * 2**20:\n"
              "    total += raw.write(b'y' * 2**16)\n");
  if (r) {
    size_t out_len;
    eryx_result_stdout(r, &out_len);
    CHECK_MSG(out_len <= 1 << 20, "kept %zu bytes", out_len);
    CHECK(eryx_result_output_truncated(r));
  }
  eryx_result_free(r);

  r = run(sb, "print('small')");
  if (r)
    CHECK(!eryx_result_output_truncated(r));
  eryx_result_free(r);
  eryx_sandbox_free(sb);
}

typedef struct {
  uint64_t timeout_ms;
  double took_ms;
  eryx_status status;
} spinner;

static void *spin(void *arg) {
  spinner *s = arg;
  eryx_sandbox_options o = ERYX_SANDBOX_OPTIONS_INIT;
  o.timeout_ms = s->timeout_ms;
  eryx_sandbox *sb = NULL;
  eryx_error *err = eryx_sandbox_new(g_rt, &o, &sb);
  if (err) {
    eryx_error_free(err);
    return NULL;
  }
  eryx_result *r = NULL;
  const char *code = "while True:\n    pass\n";
  err = eryx_sandbox_execute(sb, code, strlen(code), &r);
  if (!err) {
    s->status = eryx_result_status(r);
    s->took_ms = eryx_result_duration_ms(r);
  }
  eryx_error_free(err);
  eryx_result_free(r);
  eryx_sandbox_free(sb);
  return NULL;
}

static void eight_threads_each_stop_at_their_deadline(void) {
  spinner s[8];
  pthread_t t[8];
  for (int i = 0; i < 8; i++) {
    s[i] = (spinner){(uint64_t)(100 + 100 * i), 0, ERYX_STATUS_OK};
    pthread_create(&t[i], NULL, spin, &s[i]);
  }
  for (int i = 0; i < 8; i++)
    pthread_join(t[i], NULL);
  for (int i = 0; i < 8; i++) {
    CHECK(s[i].status == ERYX_STATUS_LIMIT);
    /* 2 cores for 8 spinning threads: allow scheduling slack, but never an
     * early stop (someone else's deadline) or one far past its own. */
    CHECK_MSG(s[i].took_ms >= (double)s[i].timeout_ms &&
                  s[i].took_ms < (double)s[i].timeout_ms + 1000,
              "timeout %llu ms took %.1f ms", (unsigned long long)s[i].timeout_ms,
              s[i].took_ms);
  }
}

static long private_kb(void) {
  FILE *f = fopen("/proc/self/smaps_rollup", "r");
  char line[256];
  long kb = -1, v;
  while (f && fgets(line, sizeof line, f))
    if (sscanf(line, "Private_Dirty: %ld kB", &v) == 1)
      kb = v;
  if (f)
    fclose(f);
  return kb;
}

static void a_thousand_timeouts_leave_memory_flat(void) {
  eryx_sandbox_options o = ERYX_SANDBOX_OPTIONS_INIT;
  o.timeout_ms = 3;
  eryx_sandbox *sb = new_sandbox(&o);
  long before = 0;
  int limited = 0;
  for (int i = 0; i < 1000; i++) {
    if (i == 100)
      before = private_kb();
    eryx_result *r = run(sb, "x = []\nwhile True:\n    x.append(len(x))\n");
    limited += r && eryx_result_status(r) == ERYX_STATUS_LIMIT;
    eryx_result_free(r);
  }
  long after = private_kb();
  CHECK_MSG(limited == 1000, "%d of 1000 runs hit the timeout", limited);
#ifndef __SANITIZE_ADDRESS__
  CHECK_MSG(after - before < 16 * 1024, "private memory grew by %ld kB over 900 "
            "timeouts", after - before);
#else
  /* ASan quarantines freed memory, so memory grows without a leak here;
   * in this build LeakSanitizer checks for leaks when the tests exit. */
  (void)before, (void)after;
#endif
  eryx_sandbox_free(sb);
}

/* Output written before a run is cut off is part of the result. */
static void output_before_a_timeout_is_kept(void) {
  eryx_sandbox_options o = ERYX_SANDBOX_OPTIONS_INIT;
  o.timeout_ms = 250;
  eryx_sandbox *sb = new_sandbox(&o);
  eryx_result *r = run(sb, "import sys\n"
                           "print('started')\n"
                           "print('warning', file=sys.stderr)\n"
                           "while True:\n    pass\n");
  CHECK_MSG(r && eryx_result_status(r) == ERYX_STATUS_LIMIT, "%s", describe(r));
  if (r) {
    CHECK_STREQ(eryx_result_stdout(r, NULL), "started\n");
    CHECK_STREQ(eryx_result_stderr(r, NULL), "warning\n");
  }
  eryx_result_free(r);

  /* A run printing all the time: what reaches the result has no gaps, and
   * at most the last few ms of it are missing. */
  r = run(sb, "i = 0\nwhile True:\n    print(i)\n    i += 1\n");
  CHECK_MSG(r && eryx_result_status(r) == ERYX_STATUS_LIMIT, "%s", describe(r));
  if (r) {
    const char *p = eryx_result_stdout(r, NULL);
    long expect = 0;
    bool in_order = true;
    while (*p) {
      char *end;
      long v = strtol(p, &end, 10);
      if (*end == '\0')
        break; /* the run was cut mid-line: a partial last line is fine */
      if (end == p || *end != '\n' || v != expect) {
        in_order = false;
        break;
      }
      expect++;
      p = end + 1;
    }
    CHECK_MSG(in_order && expect > 100, "%ld lines kept in order: %s", expect,
              in_order ? "yes" : "no");
  }
  eryx_result_free(r);
  eryx_sandbox_free(sb);
}

static void output_before_a_cancel_is_kept(void) {
  eryx_callback cb = {0};
  cb.name = "wait_forever";
  cb.name_len = strlen(cb.name);
  cb.fn = park;
  eryx_sandbox_options o = ERYX_SANDBOX_OPTIONS_INIT;
  o.callbacks = &cb;
  o.callback_count = 1;
  o.callback_timeout_ms = UINT64_MAX;
  eryx_sandbox *sb = new_sandbox(&o);
  canceller c = {sb, 150, 0, 0};
  pthread_t t;
  pthread_create(&t, NULL, cancel_later, &c);
  eryx_result *r = run(sb, "print('before the wait')\nawait wait_forever()\n");
  pthread_join(t, NULL);
  CHECK_MSG(r && eryx_result_status(r) == ERYX_STATUS_CANCELLED, "%s", describe(r));
  if (r)
    CHECK_STREQ(eryx_result_stdout(r, NULL), "before the wait\n");
  eryx_result_free(r);
  eryx_error_free(eryx_call_succeed(parked, "1", 1));
  eryx_sandbox_free(sb);
}

static eryx_result *with_fuel(uint64_t fuel, const char *code) {
  eryx_sandbox_options o = ERYX_SANDBOX_OPTIONS_INIT;
  o.max_fuel = fuel;
  eryx_sandbox *sb = new_sandbox(&o);
  eryx_result *r = run(sb, code);
  eryx_sandbox_free(sb);
  return r;
}

static void fuel_is_a_deterministic_limit(void) {
  /* An endless loop ends when the budget is spent, not at a wall-clock
   * deadline. */
  eryx_result *r = with_fuel(50000000, "print('begun')\nwhile True:\n    pass\n");
  CHECK_MSG(r && eryx_result_status(r) == ERYX_STATUS_LIMIT, "%s", describe(r));
  if (r) {
    CHECK_STREQ(eryx_result_error_type(r, NULL), "FuelExhausted");
    CHECK(eryx_result_fuel_consumed(r) == 50000000);
    CHECK_STREQ(eryx_result_stdout(r, NULL), "begun\n");
  }
  eryx_result_free(r);

  /* The same work costs the same fuel every time. */
  const char *work = "result = sum(i * i for i in range(20000))";
  eryx_result *a = with_fuel(1000000000, work), *b = with_fuel(1000000000, work);
  if (a && b) {
    CHECK_MSG(eryx_result_status(a) == ERYX_STATUS_OK, "%s", describe(a));
    CHECK(eryx_result_fuel_consumed(a) > 0);
    CHECK_MSG(eryx_result_fuel_consumed(a) == eryx_result_fuel_consumed(b),
              "fuel %llu vs %llu", (unsigned long long)eryx_result_fuel_consumed(a),
              (unsigned long long)eryx_result_fuel_consumed(b));
  }
  eryx_result_free(a);
  eryx_result_free(b);

  /* Without a budget nothing is counted. */
  r = run_once("x = 1");
  if (r)
    CHECK(eryx_result_fuel_consumed(r) == 0);
  eryx_result_free(r);
}

const test_case limits_tests[] = {
    {"fuel_is_a_deterministic_limit", fuel_is_a_deterministic_limit},
    {"output_before_a_timeout_is_kept", output_before_a_timeout_is_kept},
    {"output_before_a_cancel_is_kept", output_before_a_cancel_is_kept},
    {"cancel_from_another_thread", cancel_from_another_thread},
    {"memory_bombs_stop_at_the_cap", memory_bombs_stop_at_the_cap},
    {"peak_memory_is_reported", peak_memory_is_reported},
    {"deep_recursion_is_a_recursion_error", deep_recursion_is_a_recursion_error},
    {"output_is_cut_at_the_cap", output_is_cut_at_the_cap},
    {"eight_threads_each_stop_at_their_deadline", eight_threads_each_stop_at_their_deadline},
    {"a_thousand_timeouts_leave_memory_flat", a_thousand_timeouts_leave_memory_flat},
};
const size_t limits_count = sizeof limits_tests / sizeof limits_tests[0];
