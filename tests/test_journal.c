/*
 * test_journal.c — callback replay journals and suspension
 * (eryx_*_execute_journal, eryx_call_suspend): recording and replaying
 * (host functions counted to prove they are not called), gather batches,
 * misses, failures, suspending inside `fn` and from another thread,
 * resuming past the suspension point, session rollback, signatures and
 * tampering, refused journals, a hostile guest against the caps, pools.
 */
#include "harness.h"

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S(lit) lit, sizeof(lit) - 1

static atomic_int tick_calls, fail_calls, approve_calls, later_calls, cancels;
static atomic_int seq;          /* each live tick answers a new number */
static atomic_int approve_mode; /* 0: suspend inside fn; 1: answer true; 2: park */
static eryx_call *_Atomic parked[8];
static atomic_int parked_count;

/* {"seq": N}, N new at every live call. */
static void tick_fn(void *ud, eryx_call *call, const char *args, size_t len) {
  (void)ud, (void)args, (void)len;
  atomic_fetch_add(&tick_calls, 1);
  char text[64];
  snprintf(text, sizeof text, "{\"seq\": %d}", atomic_fetch_add(&seq, 1) + 1000);
  eryx_error_free(eryx_call_succeed(call, text, strlen(text)));
}

static void fail_fn(void *ud, eryx_call *call, const char *args, size_t len) {
  (void)ud, (void)args, (void)len;
  atomic_fetch_add(&fail_calls, 1);
  eryx_error_free(eryx_call_fail(call, S("NotFound"), S("no such user: 42")));
}

static void park(eryx_call *call) {
  int i = atomic_fetch_add(&parked_count, 1);
  if (i < 8)
    atomic_store(&parked[i], call);
}

static void approve_fn(void *ud, eryx_call *call, const char *args, size_t len) {
  (void)ud, (void)args, (void)len;
  atomic_fetch_add(&approve_calls, 1);
  int mode = atomic_load(&approve_mode);
  if (mode == 0) {
    eryx_error *err = eryx_call_suspend(call, S("waiting for a human"));
    CHECK_MSG(!err, "eryx_call_suspend: %s", eryx_error_message(err, NULL));
    eryx_error_free(err);
  } else if (mode == 1) {
    eryx_error_free(eryx_call_succeed(call, S("true")));
  } else {
    park(call);
  }
}

static void later_fn(void *ud, eryx_call *call, const char *args, size_t len) {
  (void)ud, (void)args, (void)len;
  atomic_fetch_add(&later_calls, 1);
  eryx_error_free(eryx_call_succeed(call, S("null")));
}

/* Answers with its arguments, as they came. */
static void echo_fn(void *ud, eryx_call *call, const char *args, size_t len) {
  (void)ud;
  atomic_fetch_add(&tick_calls, 1);
  eryx_error_free(eryx_call_succeed(call, args, len));
}

static void count_cancel(void *ud, eryx_call *call) {
  (void)ud, (void)call;
  atomic_fetch_add(&cancels, 1);
}

static void reset_counts(void) {
  atomic_store(&tick_calls, 0);
  atomic_store(&fail_calls, 0);
  atomic_store(&approve_calls, 0);
  atomic_store(&later_calls, 0);
  atomic_store(&cancels, 0);
  atomic_store(&approve_mode, 0);
  atomic_store(&parked_count, 0);
}

static eryx_callback cb(const char *name, eryx_callback_fn fn) {
  eryx_callback c = {0};
  c.name = name;
  c.name_len = strlen(name);
  c.fn = fn;
  c.on_cancel = count_cancel;
  return c;
}

static eryx_callback g_cbs[5];

static eryx_sandbox_options options(void) {
  g_cbs[0] = cb("tick", tick_fn);
  g_cbs[1] = cb("fails", fail_fn);
  g_cbs[2] = cb("approve", approve_fn);
  g_cbs[3] = cb("later", later_fn);
  g_cbs[4] = cb("echo", echo_fn);
  eryx_sandbox_options o = ERYX_SANDBOX_OPTIONS_INIT;
  o.callbacks = g_cbs;
  o.callback_count = 5;
  o.timeout_ms = 20000;
  return o;
}

static eryx_sandbox *journal_sandbox(void) {
  eryx_sandbox_options o = options();
  return new_sandbox(&o);
}

/* execute_journal with `journal` (NULL: record only) and `key` (NULL:
 * none); NULL and a recorded failure when the call itself fails. */
static eryx_result *jrun(eryx_sandbox *sb, const char *code, const char *journal,
                         const char *key) {
  if (!sb)
    return NULL;
  eryx_journal_options jo = ERYX_JOURNAL_OPTIONS_INIT;
  jo.journal = journal;
  jo.journal_len = journal ? strlen(journal) : 0;
  jo.key = (const uint8_t *)key;
  jo.key_len = key ? strlen(key) : 0;
  eryx_result *r = NULL;
  eryx_error *err = eryx_sandbox_execute_journal(sb, code, strlen(code), &jo, &r);
  CHECK_MSG(!err, "eryx_sandbox_execute_journal: %s", eryx_error_message(err, NULL));
  eryx_error_free(err);
  return r;
}

/* The journal refused: ERYX_ERR_JOURNAL containing `why`, no result, no
 * host function called. */
static void expect_refused(eryx_sandbox *sb, const char *code, const char *journal,
                           size_t journal_len, const char *key, const char *why) {
  eryx_journal_options jo = ERYX_JOURNAL_OPTIONS_INIT;
  jo.journal = journal;
  jo.journal_len = journal_len;
  jo.key = (const uint8_t *)key;
  jo.key_len = key ? strlen(key) : 0;
  eryx_result *r = NULL;
  int before = atomic_load(&tick_calls);
  eryx_error *err = eryx_sandbox_execute_journal(sb, code, strlen(code), &jo, &r);
  CHECK_MSG(err && eryx_error_get_code(err) == ERYX_ERR_JOURNAL && !r,
            "expected ERYX_ERR_JOURNAL (%s), got %s", why,
            err ? eryx_error_message(err, NULL) : describe(r));
  if (err)
    CHECK_CONTAINS(eryx_error_message(err, NULL), why);
  CHECK(atomic_load(&tick_calls) == before);
  eryx_error_free(err);
  eryx_result_free(r);
}

static char *dup_journal(const eryx_result *r) {
  size_t len = 0;
  const char *j = r ? eryx_result_journal(r, &len) : NULL;
  CHECK_MSG(j && len == strlen(j), "no journal: %s", describe(r));
  return j ? strdup(j) : NULL;
}

static size_t entry_count(const char *journal) {
  json_t *root = journal ? json_loads(journal, 0, NULL) : NULL;
  size_t n = json_array_size(json_object_get(root, "entries"));
  json_decref(root);
  return n;
}

static void expect_ok(const eryx_result *r, const char *json) {
  CHECK_MSG(r && eryx_result_status(r) == ERYX_STATUS_OK, "%s", describe(r));
  if (r && json)
    CHECK_STREQ(eryx_result_json(r, NULL), json);
}

static const char hundred[] = "out = []\n"
                              "for i in range(100):\n"
                              "    out.append((await tick(i=i))['seq'])\n"
                              "result = out\n";

static void record_then_replay_100_callbacks(void) {
  reset_counts();
  eryx_sandbox *sb = journal_sandbox();
  eryx_result *plain = run(sb, "result = await tick(i=0)");
  CHECK(plain && eryx_result_journal(plain, NULL) == NULL &&
        eryx_result_replayed_callbacks(plain) == 0);
  eryx_result_free(plain);
  eryx_result *first = jrun(sb, hundred, NULL, NULL);
  expect_ok(first, NULL);
  CHECK(atomic_load(&tick_calls) == 101);
  CHECK(first && eryx_result_replayed_callbacks(first) == 0);
  char *journal = dup_journal(first);
  CHECK(entry_count(journal) == 100);
  CHECK_CONTAINS(journal, "\"format\":\"eryx-journal\"");
  CHECK_CONTAINS(journal, "\"args\":\"{\\\"i\\\":7}\"");
  CHECK_NOT_CONTAINS(journal, "signature");

  atomic_store(&tick_calls, 0);
  eryx_result *again = jrun(sb, hundred, journal, NULL);
  expect_ok(again, first ? eryx_result_json(first, NULL) : NULL);
  CHECK_MSG(atomic_load(&tick_calls) == 0, "host called %d times on replay",
            atomic_load(&tick_calls));
  CHECK(again && eryx_result_replayed_callbacks(again) == 100 &&
        eryx_result_callback_invocations(again) == 100);
  /* Replayed calls are recorded again: the same journal. */
  CHECK_STREQ(again ? eryx_result_journal(again, NULL) : NULL, journal);
  CHECK(atomic_load(&cancels) == 0);
  eryx_result_free(first);
  eryx_result_free(again);
  free(journal);
  eryx_sandbox_free(sb);
}

static void gather_replays_identical_and_different_calls(void) {
  reset_counts();
  eryx_sandbox *sb = journal_sandbox();
  const char *code = "import asyncio\n"
                     "r = await asyncio.gather(tick(i=1), tick(i=1), tick(i=2), tick(i=1))\n"
                     "result = [x['seq'] for x in r]\n";
  eryx_result *first = jrun(sb, code, NULL, NULL);
  expect_ok(first, NULL);
  char *journal = dup_journal(first);
  json_t *rec = first ? json_loads(eryx_result_json(first, NULL), 0, NULL) : NULL;
  CHECK(json_array_size(rec) == 4);
  atomic_store(&tick_calls, 0);
  eryx_result *again = jrun(sb, code, journal, NULL);
  expect_ok(again, first ? eryx_result_json(first, NULL) : NULL);
  CHECK(again && eryx_result_replayed_callbacks(again) == 4);
  /* Another order: matching does not depend on it; identical calls take
   * their answers first in, first out. */
  const char *reordered = "import asyncio\n"
                          "r = await asyncio.gather(tick(i=2), tick(i=1), tick(i=1), tick(i=1))\n"
                          "result = [x['seq'] for x in r]\n";
  eryx_result *other = jrun(sb, reordered, journal, NULL);
  char want[128];
  snprintf(want, sizeof want, "[%lld, %lld, %lld, %lld]",
           (long long)json_integer_value(json_array_get(rec, 2)),
           (long long)json_integer_value(json_array_get(rec, 0)),
           (long long)json_integer_value(json_array_get(rec, 1)),
           (long long)json_integer_value(json_array_get(rec, 3)));
  expect_ok(other, want);
  CHECK(other && eryx_result_replayed_callbacks(other) == 4);
  /* A replayed call the code cancels before it is delivered: on_cancel is
   * not called (the host never saw it). */
  eryx_result *cancelled = jrun(sb, "import asyncio\n"
                                    "t = asyncio.ensure_future(tick(i=2))\n"
                                    "await asyncio.sleep(0)\n"
                                    "t.cancel()\n"
                                    "result = 1\n",
                                journal, NULL);
  expect_ok(cancelled, "1");
  CHECK_MSG(atomic_load(&tick_calls) == 0 && atomic_load(&cancels) == 0,
            "host calls %d, cancels %d", atomic_load(&tick_calls), atomic_load(&cancels));
  json_decref(rec);
  eryx_result_free(first);
  eryx_result_free(again);
  eryx_result_free(other);
  eryx_result_free(cancelled);
  free(journal);
  eryx_sandbox_free(sb);
}

static void miss_switches_to_live(void) {
  reset_counts();
  eryx_sandbox *sb = journal_sandbox();
  eryx_result *first =
      jrun(sb, "result = [(await tick(i=k))['seq'] for k in (1, 2, 3)]", NULL, NULL);
  expect_ok(first, NULL);
  char *journal = dup_journal(first);
  json_t *rec = first ? json_loads(eryx_result_json(first, NULL), 0, NULL) : NULL;
  atomic_store(&tick_calls, 0);
  eryx_result *r =
      jrun(sb, "result = [(await tick(i=k))['seq'] for k in (1, 9, 2, 3)]", journal, NULL);
  expect_ok(r, NULL);
  CHECK(r && eryx_result_replayed_callbacks(r) == 1);
  CHECK_MSG(atomic_load(&tick_calls) == 3, "host called %d times", atomic_load(&tick_calls));
  json_t *got = r ? json_loads(eryx_result_json(r, NULL), 0, NULL) : NULL;
  CHECK(json_integer_value(json_array_get(got, 0)) == json_integer_value(json_array_get(rec, 0)));
  /* i=2 and i=3 match entries, but replay ended at the miss. */
  CHECK(json_integer_value(json_array_get(got, 2)) != json_integer_value(json_array_get(rec, 1)));
  CHECK(json_integer_value(json_array_get(got, 3)) != json_integer_value(json_array_get(rec, 2)));
  /* The new journal holds all four calls. */
  char *j2 = dup_journal(r);
  CHECK(entry_count(j2) == 4);
  free(j2);
  json_decref(rec);
  json_decref(got);
  eryx_result_free(first);
  eryx_result_free(r);
  free(journal);
  eryx_sandbox_free(sb);
}

static void failures_replay_as_the_same_error(void) {
  reset_counts();
  eryx_sandbox *sb = journal_sandbox();
  const char *code = "try:\n"
                     "    await fails(id=42)\n"
                     "except CallbackError as e:\n"
                     "    result = [str(e), e.error_type, e.callback]\n";
  const char *want = "[\"no such user: 42\", \"NotFound\", \"fails\"]";
  eryx_result *first = jrun(sb, code, NULL, NULL);
  expect_ok(first, want);
  char *journal = dup_journal(first);
  CHECK_CONTAINS(journal, "\"error_type\":\"NotFound\"");
  CHECK_CONTAINS(journal, "\"ok\":false");
  eryx_result *again = jrun(sb, code, journal, NULL);
  expect_ok(again, want);
  CHECK(atomic_load(&fail_calls) == 1);
  CHECK(again && eryx_result_replayed_callbacks(again) == 1);
  /* Uncaught, the replayed failure ends the run the same way; the journal
   * is there for failed runs too. */
  eryx_result *uncaught = jrun(sb, "await fails(id=42)", journal, NULL);
  CHECK_MSG(uncaught && eryx_result_status(uncaught) == ERYX_STATUS_EXCEPTION, "%s",
            describe(uncaught));
  if (uncaught) {
    CHECK_STREQ(eryx_result_error_type(uncaught, NULL), "CallbackError");
    CHECK(eryx_result_replayed_callbacks(uncaught) == 1);
    CHECK(entry_count(eryx_result_journal(uncaught, NULL)) == 1);
  }
  CHECK(atomic_load(&fail_calls) == 1);
  eryx_result_free(first);
  eryx_result_free(again);
  eryx_result_free(uncaught);
  free(journal);
  eryx_sandbox_free(sb);
}

static void expect_suspended(const eryx_result *r, const char *name, const char *args,
                             const char *reason) {
  CHECK_MSG(r && eryx_result_status(r) == ERYX_STATUS_SUSPENDED, "%s", describe(r));
  if (!r)
    return;
  CHECK_STREQ(eryx_status_name(eryx_result_status(r)), "suspended");
  CHECK_STREQ(eryx_result_error_type(r, NULL), "Suspended");
  CHECK_STREQ(eryx_result_error_message(r, NULL), reason);
  CHECK_STREQ(eryx_result_suspended_name(r, NULL), name);
  CHECK_STREQ(eryx_result_suspended_args(r, NULL), args);
  CHECK_STREQ(eryx_result_suspended_reason(r, NULL), reason);
}

static const char approval_code[] = "a = await tick(i=1)\n"
                                    "print('before')\n"
                                    "ok = await approve(what='deploy', n=2)\n"
                                    "print('after')\n"
                                    "await later()\n"
                                    "result = [a['seq'], ok]\n";

static void suspend_inside_fn(void) {
  reset_counts();
  eryx_sandbox *sb = journal_sandbox();
  eryx_result *r = jrun(sb, approval_code, NULL, NULL);
  expect_suspended(r, "approve", "{\"n\":2,\"what\":\"deploy\"}", "waiting for a human");
  if (r) {
    CHECK_CONTAINS(eryx_result_stdout(r, NULL), "before");
    CHECK_NOT_CONTAINS(eryx_result_stdout(r, NULL), "after");
    CHECK(eryx_result_json(r, NULL) == NULL);
    const char *j = eryx_result_journal(r, NULL);
    CHECK(entry_count(j) == 1);
    CHECK_CONTAINS(j, "\"name\":\"tick\"");
    CHECK_NOT_CONTAINS(j, "approve");
  }
  CHECK(atomic_load(&later_calls) == 0);
  CHECK(atomic_load(&cancels) == 0);
  eryx_result_free(r);

  /* gather siblings: the one after the suspending call never starts. */
  r = jrun(sb, "import asyncio\n"
               "await asyncio.gather(approve(what='x'), later(), later())\n",
           NULL, NULL);
  expect_suspended(r, "approve", "{\"what\":\"x\"}", "waiting for a human");
  CHECK(atomic_load(&later_calls) == 0);
  eryx_result_free(r);

  /* In a plain execute too (no journal then); and the sandbox works on. */
  r = run(sb, "print('x')\nawait approve()\nprint('y')\n");
  expect_suspended(r, "approve", "{}", "waiting for a human");
  CHECK(r && eryx_result_journal(r, NULL) == NULL);
  eryx_result_free(r);
  r = run(sb, "result = 5");
  expect_ok(r, "5");
  CHECK(r && eryx_result_suspended_name(r, NULL) == NULL);
  eryx_result_free(r);
  eryx_sandbox_free(sb);
}

typedef struct {
  int which, delay_ms;
  const char *reason;
} suspender;

static void *suspend_later(void *arg) {
  suspender *s = arg;
  while (atomic_load(&parked_count) <= s->which || !atomic_load(&parked[s->which]))
    sleep_ms(1);
  sleep_ms(s->delay_ms);
  eryx_error *err =
      eryx_call_suspend(atomic_load(&parked[s->which]), s->reason, strlen(s->reason));
  CHECK_MSG(!err, "eryx_call_suspend: %s", eryx_error_message(err, NULL));
  eryx_error_free(err);
  return NULL;
}

static void suspend_from_another_thread(void) {
  reset_counts();
  atomic_store(&approve_mode, 2);
  eryx_sandbox *sb = journal_sandbox();
  suspender s = {0, 50, "approve later"};
  pthread_t t;
  pthread_create(&t, NULL, suspend_later, &s);
  double t0 = now_ms();
  eryx_result *r = jrun(sb, approval_code, NULL, NULL);
  pthread_join(t, NULL);
  expect_suspended(r, "approve", "{\"n\":2,\"what\":\"deploy\"}", "approve later");
  CHECK(now_ms() - t0 < 5000);
  if (r) {
    CHECK_NOT_CONTAINS(eryx_result_stdout(r, NULL), "after");
    CHECK(entry_count(eryx_result_journal(r, NULL)) == 1);
  }
  CHECK(atomic_load(&later_calls) == 0);
  eryx_result_free(r);

  /* While Python computes: the epoch tick notices, as for a cancel. The
   * other calls still in flight are cancelled (on_cancel). */
  atomic_store(&parked_count, 0);
  atomic_store(&parked[0], NULL);
  atomic_store(&parked[1], NULL);
  atomic_store(&cancels, 0);
  pthread_create(&t, NULL, suspend_later, &s);
  r = jrun(sb, "import asyncio\n"
               "t = asyncio.ensure_future(approve(what='y'))\n"
               "u = asyncio.ensure_future(approve(what='z'))\n"
               "await asyncio.sleep(0)\n"
               "n = 0\n"
               "while True:\n"
               "    n += 1\n",
           NULL, NULL);
  pthread_join(t, NULL);
  expect_suspended(r, "approve", "{\"what\":\"y\"}", "approve later");
  CHECK_MSG(atomic_load(&cancels) == 1, "cancels: %d", atomic_load(&cancels));
  eryx_result_free(r);
  eryx_call *other = atomic_load(&parked[1]);
  if (other) /* still the host's: answered late, dropped */
    eryx_error_free(eryx_call_succeed(other, S("1")));

  /* Only the first suspension counts. */
  atomic_store(&parked_count, 0);
  atomic_store(&parked[0], NULL);
  atomic_store(&parked[1], NULL);
  suspender s2 = {1, 80, "second"};
  s.delay_ms = 20;
  s.reason = "first";
  pthread_t t2;
  pthread_create(&t, NULL, suspend_later, &s);
  pthread_create(&t2, NULL, suspend_later, &s2);
  r = jrun(sb, "import asyncio\nawait asyncio.gather(approve(k=1), approve(k=2))\n", NULL,
           NULL);
  pthread_join(t, NULL);
  pthread_join(t2, NULL);
  expect_suspended(r, "approve", "{\"k\":1}", "first");
  eryx_result_free(r);

  /* A suspension after its execution ended is ignored, also while another
   * one runs. */
  atomic_store(&parked_count, 0);
  atomic_store(&parked[0], NULL);
  r = run(sb, "import asyncio\nasyncio.ensure_future(approve())\nawait asyncio.sleep(0)\n"
              "result = 1\n");
  expect_ok(r, "1");
  eryx_result_free(r);
  s.delay_ms = 50;
  s.reason = "too late";
  pthread_create(&t, NULL, suspend_later, &s);
  r = run(sb, "import asyncio\nawait asyncio.sleep(0.2)\nresult = 2\n");
  pthread_join(t, NULL);
  expect_ok(r, "2");
  eryx_result_free(r);
  eryx_sandbox_free(sb);
}

static const char resume_code[] = "a = await tick(i=1)\n"
                                  "b = await tick(i=2)\n"
                                  "ok = await approve(what='deploy')\n"
                                  "c = await tick(i=3)\n"
                                  "result = [a['seq'], b['seq'], ok, c['seq']]\n";

static void resume_continues_past_the_suspension(void) {
  reset_counts();
  eryx_sandbox *sb = journal_sandbox();
  eryx_result *r = jrun(sb, resume_code, NULL, "k3y");
  expect_suspended(r, "approve", "{\"what\":\"deploy\"}", "waiting for a human");
  char *journal = dup_journal(r);
  json_t *done = r ? json_loads(eryx_result_journal(r, NULL), 0, NULL) : NULL;
  eryx_result_free(r);
  eryx_sandbox_free(sb);
  CHECK(atomic_load(&tick_calls) == 2);

  /* Later, in another sandbox: the human said yes. */
  atomic_store(&approve_mode, 1);
  atomic_store(&tick_calls, 0);
  sb = journal_sandbox();
  r = jrun(sb, resume_code, journal, "k3y");
  CHECK_MSG(r && eryx_result_status(r) == ERYX_STATUS_OK, "%s", describe(r));
  CHECK(r && eryx_result_replayed_callbacks(r) == 2);
  CHECK_MSG(atomic_load(&tick_calls) == 1, "tick called %d times", atomic_load(&tick_calls));
  CHECK(atomic_load(&approve_calls) == 2);
  json_t *got = r ? json_loads(eryx_result_json(r, NULL), 0, NULL) : NULL;
  json_t *e0 = json_array_get(json_object_get(done, "entries"), 0);
  char want[64];
  snprintf(want, sizeof want, "{\"seq\": %lld}",
           (long long)json_integer_value(json_array_get(got, 0)));
  CHECK_STREQ(json_string_value(json_object_get(e0, "value")), want);
  CHECK(json_is_true(json_array_get(got, 2)));
  if (r)
    CHECK(entry_count(eryx_result_journal(r, NULL)) == 4);
  json_decref(got);
  json_decref(done);
  eryx_result_free(r);
  free(journal);
  eryx_sandbox_free(sb);
}

static eryx_result *sjrun(eryx_session *s, const char *code, const char *journal) {
  eryx_journal_options jo = ERYX_JOURNAL_OPTIONS_INIT;
  jo.journal = journal;
  jo.journal_len = journal ? strlen(journal) : 0;
  eryx_result *r = NULL;
  eryx_error *err = eryx_session_execute_journal(s, code, strlen(code), &jo, &r);
  CHECK_MSG(!err, "eryx_session_execute_journal: %s", eryx_error_message(err, NULL));
  eryx_error_free(err);
  return r;
}

static void session_rolls_back_after_a_halt(void) {
  reset_counts();
  eryx_vfs *vfs = NULL;
  eryx_error_free(eryx_vfs_new(0, &vfs));
  eryx_sandbox_options o = options();
  o.vfs = vfs;
  o.timeout_ms = 2000;
  eryx_session *s = new_session(&o);
  if (!s) {
    eryx_vfs_free(vfs);
    return;
  }
  expect(s, "counter = 0\nimport os", NULL);
  const char *code = "counter += 1\n"
                     "open('/data/log.txt', 'a').write('x')\n"
                     "await tick(i=1)\n"
                     "ok = await approve()\n"
                     "result = [counter, open('/data/log.txt').read()]\n";
  eryx_result *r = sjrun(s, code, NULL);
  expect_suspended(r, "approve", "{}", "waiting for a human");
  char *journal = dup_journal(r);
  eryx_result_free(r);
  /* As before the call: the variable and the file. */
  expect(s, "result = [counter, os.path.exists('/data/log.txt')]", "[0, false]");
  CHECK(eryx_session_execution_count(s) == 2);

  atomic_store(&approve_mode, 1);
  atomic_store(&tick_calls, 0);
  r = sjrun(s, code, journal);
  expect_ok(r, "[1, \"x\"]");
  CHECK(r && eryx_result_replayed_callbacks(r) == 1);
  CHECK(atomic_load(&tick_calls) == 0);
  eryx_result_free(r);
  expect(s, "result = counter", "1");

  /* A timeout rolls back too; an exception keeps its effects. */
  r = sjrun(s, "counter += 100\nwhile True:\n    pass\n", NULL);
  CHECK_MSG(r && eryx_result_status(r) == ERYX_STATUS_LIMIT, "%s", describe(r));
  eryx_result_free(r);
  expect(s, "result = counter", "1");
  r = sjrun(s, "counter += 10\nraise ValueError('kept')\n", NULL);
  CHECK_MSG(r && eryx_result_status(r) == ERYX_STATUS_EXCEPTION, "%s", describe(r));
  eryx_result_free(r);
  expect(s, "result = counter", "11");
  free(journal);
  eryx_session_free(s);
  eryx_vfs_free(vfs);
}

/* The journal with one change made by `edit` (a jansson tree). */
static char *tampered(const char *journal, void (*edit)(json_t *root)) {
  json_t *root = json_loads(journal, 0, NULL);
  if (!root)
    return NULL;
  edit(root);
  char *text = json_dumps(root, JSON_COMPACT | JSON_SORT_KEYS);
  json_decref(root);
  return text;
}

static void change_answer(json_t *root) {
  json_t *e = json_array_get(json_object_get(root, "entries"), 0);
  json_object_set_new(e, "value", json_string("{\"seq\": 1}"));
}

static void drop_entry(json_t *root) { json_array_remove(json_object_get(root, "entries"), 0); }

static void change_signature(json_t *root) {
  char sig[80];
  snprintf(sig, sizeof sig, "%s", json_string_value(json_object_get(root, "signature")));
  sig[0] = sig[0] == '0' ? '1' : '0';
  json_object_set_new(root, "signature", json_string(sig));
}

static void unsign(json_t *root) { json_object_del(root, "signature"); }

static void signed_journals(void) {
  reset_counts();
  eryx_sandbox *sb = journal_sandbox();
  const char *code = "result = [(await tick(i=k))['seq'] for k in range(3)]";
  eryx_result *first = jrun(sb, code, NULL, "secret key");
  expect_ok(first, NULL);
  char *journal = dup_journal(first);
  CHECK_CONTAINS(journal, "\"signature\":\"");
  atomic_store(&tick_calls, 0);
  eryx_result *again = jrun(sb, code, journal, "secret key");
  expect_ok(again, first ? eryx_result_json(first, NULL) : NULL);
  CHECK(again && eryx_result_replayed_callbacks(again) == 3 && atomic_load(&tick_calls) == 0);
  /* Signed again, over the same content: the same text. */
  CHECK_STREQ(again ? eryx_result_journal(again, NULL) : NULL, journal);

  if (journal) {
    const char *mismatch = "the journal's signature does not match";
    char *t = tampered(journal, change_answer);
    expect_refused(sb, code, t, t ? strlen(t) : 0, "secret key", mismatch);
    free(t);
    t = tampered(journal, drop_entry);
    expect_refused(sb, code, t, t ? strlen(t) : 0, "secret key", mismatch);
    free(t);
    t = tampered(journal, change_signature);
    expect_refused(sb, code, t, t ? strlen(t) : 0, "secret key", mismatch);
    free(t);
    t = tampered(journal, unsign);
    expect_refused(sb, code, t, t ? strlen(t) : 0, "secret key", "the journal is not signed");
    free(t);
    expect_refused(sb, code, journal, strlen(journal), "another key", mismatch);
    expect_refused(sb, "result = 1", journal, strlen(journal), "secret key",
                   "the journal was recorded for different code");
  }
  /* Without a key, a signed journal is accepted, for other code too. */
  eryx_result *keyless =
      jrun(sb, "result = [(await tick(i=k))['seq'] for k in range(2)]", journal, NULL);
  expect_ok(keyless, NULL);
  CHECK(keyless && eryx_result_replayed_callbacks(keyless) == 2);
  CHECK(keyless && !contains(eryx_result_journal(keyless, NULL), "signature"));
  CHECK(atomic_load(&tick_calls) == 0);
  eryx_result_free(first);
  eryx_result_free(again);
  eryx_result_free(keyless);
  free(journal);
  eryx_sandbox_free(sb);
}

static void bad_journals_are_refused(void) {
  reset_counts();
  eryx_sandbox_options o = options();
  o.max_callback_invocations = 3;
  eryx_sandbox *sb = new_sandbox(&o);
  if (!sb)
    return;
  const char *code = "await tick(i=1)";
  eryx_result *r = jrun(sb, code, NULL, NULL);
  char *good = dup_journal(r);
  eryx_result_free(r);
  if (!good) {
    eryx_sandbox_free(sb);
    return;
  }
  expect_refused(sb, code, S("not json at all"), NULL, "the journal is not JSON");
  expect_refused(sb, code, "", 0, NULL, "the journal is not JSON");
  expect_refused(sb, code, S("[1, 2]"), NULL, "not a JSON object");
  expect_refused(sb, code, S("{\"format\": \"something-else\", \"version\": 1}"), NULL,
                 "not an Eryx journal");
  char text[4096];
  snprintf(text, sizeof text, "%s", good);
  char *v = strstr(text, "\"version\":1");
  if (v) {
    v[10] = '2';
    expect_refused(sb, code, text, strlen(text), NULL, "version is 2");
  }
  expect_refused(sb, code,
                 S("{\"format\":\"eryx-journal\",\"version\":1,\"code_sha256\":\"00\","
                   "\"truncated\":false,\"entries\":[]}"),
                 NULL, "code_sha256");
  static const char sha[] = "\"code_sha256\":\"0000000000000000000000000000000000000000000000"
                            "000000000000000000\"";
  const char *shapes[][2] = {
      {"\"entries\":{}", "\"entries\" is not an array"},
      {"\"entries\":[1]", "entry 0 is malformed: it is not an object"},
      {"\"entries\":[{\"name\":\"tick\",\"args\":\"{}\"}]", "\"ok\" is not true or false"},
      {"\"entries\":[{\"name\":\"tick\",\"args\":{},\"ok\":true,\"value\":\"1\"}]",
       "\"args\" is not a string"},
      {"\"entries\":[{\"name\":\"tick\",\"args\":\"{}\",\"ok\":true}]", "\"value\""},
      {"\"entries\":[{\"name\":\"tick\",\"args\":\"{}\",\"ok\":true,\"value\":\"1\","
       "\"extra\":1}]",
       "fields other than"},
      {"\"entries\":[{\"name\":\"tick\",\"args\":\"{}\",\"ok\":false,\"message\":\"m\"}]",
       "\"error_type\" and \"message\""},
      {"\"entries\":[],\"extra\":true", "unknown field \"extra\""},
      {"\"entries\":[],\"truncated\":true,\"truncated\":false", "not JSON"},
      {"\"entries\":[{},{},{},{}]", "4 entries, more than max_callback_invocations (3)"},
  };
  for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
    snprintf(text, sizeof text,
             "{\"format\":\"eryx-journal\",\"version\":1,%s,%s%s}", sha, shapes[i][0],
             strstr(shapes[i][0], "truncated") ? "" : ",\"truncated\":false");
    expect_refused(sb, code, text, strlen(text), NULL, shapes[i][1]);
  }
  /* Too large, and too many tiny values for its entries (a parser bomb). */
  size_t big = ERYX_JOURNAL_MAX_BYTES + 1;
  char *huge = malloc(big);
  if (huge) {
    memset(huge, ' ', big);
    expect_refused(sb, code, huge, big, NULL, "more than ERYX_JOURNAL_MAX_BYTES");
    size_t n = 1 << 20;
    huge[0] = '[';
    for (size_t i = 1; i < n - 1; i += 2) {
      huge[i] = '0';
      huge[i + 1] = ',';
    }
    huge[n - 2] = '0';
    huge[n - 1] = ']';
    expect_refused(sb, code, huge, n, NULL, "more JSON values than 3 entries");
    free(huge);
  }
  /* Options. */
  eryx_journal_options jo = ERYX_JOURNAL_OPTIONS_INIT;
  eryx_result *out = NULL;
  jo.version = 99;
  eryx_error *err = eryx_sandbox_execute_journal(sb, code, strlen(code), &jo, &out);
  CHECK(err && eryx_error_get_code(err) == ERYX_ERR_INVALID_ARGUMENT && !out);
  eryx_error_free(err);
  jo.version = ERYX_JOURNAL_OPTIONS_VERSION;
  jo.key = (const uint8_t *)"";
  err = eryx_sandbox_execute_journal(sb, code, strlen(code), &jo, &out);
  CHECK(err && eryx_error_get_code(err) == ERYX_ERR_INVALID_ARGUMENT && !out);
  eryx_error_free(err);
  jo.key = NULL;
  jo.journal_len = 5;
  err = eryx_sandbox_execute_journal(sb, code, strlen(code), &jo, &out);
  CHECK(err && eryx_error_get_code(err) == ERYX_ERR_INVALID_ARGUMENT && !out);
  eryx_error_free(err);
  err = eryx_call_suspend(NULL, S("x"));
  CHECK(err && eryx_error_get_code(err) == ERYX_ERR_INVALID_ARGUMENT);
  eryx_error_free(err);
  /* The good one still works, and an empty record-only run too. */
  r = jrun(sb, code, good, NULL);
  CHECK(r && eryx_result_replayed_callbacks(r) == 1);
  eryx_result_free(r);
  r = NULL;
  err = eryx_sandbox_execute_journal(sb, code, strlen(code), NULL, &r);
  CHECK(!err && r && eryx_result_journal(r, NULL));
  eryx_error_free(err);
  eryx_result_free(r);
  free(good);
  eryx_sandbox_free(sb);
}

static void hostile_guest_stays_within_the_caps(void) {
  reset_counts();
  eryx_sandbox_options o = options();
  o.max_callback_args_bytes = (uint64_t)4 << 20;
  o.max_callback_invocations = 50;
  o.timeout_ms = 60000;
  eryx_sandbox *sb = new_sandbox(&o);
  /* 3 MiB of arguments per call, 8 calls: 24 MiB asked, echoed back. */
  const char *flood = "big = 'x' * (3 << 20)\n"
                      "for i in range(8):\n"
                      "    await echo(s=big, i=i)\n";
  eryx_result *r = jrun(sb, flood, NULL, NULL);
  expect_ok(r, NULL);
  size_t len = 0;
  const char *j = r ? eryx_result_journal(r, &len) : NULL;
  CHECK_MSG(j && len <= ERYX_JOURNAL_MAX_BYTES, "journal of %zu bytes", len);
  CHECK_CONTAINS(j, "\"truncated\":true");
  size_t kept = entry_count(j);
  CHECK_MSG(kept >= 1 && kept < 8, "%zu entries kept", kept);
  /* What was kept is a prefix: it replays, the rest runs live. */
  char *journal = j ? strdup(j) : NULL;
  eryx_result_free(r);
  atomic_store(&tick_calls, 0);
  r = jrun(sb, flood, journal, NULL);
  expect_ok(r, NULL);
  CHECK(r && eryx_result_replayed_callbacks(r) == kept);
  CHECK(atomic_load(&tick_calls) == (int)(8 - kept));
  eryx_result_free(r);
  free(journal);

  /* Odd arguments: an integer beyond 64 bits (kept as exact text), NUL
   * characters, deep nesting, astral characters, floats; a lone surrogate
   * is refused by the host's checks and never journaled. */
  const char *odd = "import asyncio\n"
                    "deep = []\n"
                    "for _ in range(100):\n"
                    "    deep = [deep]\n"
                    "args = [{'n': 10 ** 30}, {'s': 'a\\x00b'}, {'d': deep},\n"
                    "        {'e': '\\U0001f40d \\u00e9'}, {'f': [0.1, 1e300, -0.0]},\n"
                    "        {'z': 1, 'a': {'y': 2, 'b': 3}}]\n"
                    "out = [await echo(**a) for a in args]\n"
                    "try:\n"
                    "    await echo(s='\\ud800')\n"
                    "except CallbackError:\n"
                    "    out.append('refused')\n"
                    "result = [out[0]['n'] == 10 ** 30, out[1]['s'], len(out)]\n";
  atomic_store(&tick_calls, 0);
  r = jrun(sb, odd, NULL, NULL);
  expect_ok(r, "[true, \"a\\u0000b\", 7]");
  journal = dup_journal(r);
  CHECK(entry_count(journal) == 6);
  CHECK_CONTAINS(journal, "1000000000000000000000000000000");
  CHECK_CONTAINS(journal, "\"args\":\"{\\\"a\\\":{\\\"b\\\":3,\\\"y\\\":2},\\\"z\\\":1}\"");
  eryx_result_free(r);
  atomic_store(&tick_calls, 0);
  r = jrun(sb, odd, journal, NULL);
  expect_ok(r, "[true, \"a\\u0000b\", 7]");
  CHECK(r && eryx_result_replayed_callbacks(r) == 6);
  CHECK(atomic_load(&tick_calls) == 0);
  eryx_result_free(r);
  free(journal);
  eryx_sandbox_free(sb);
}

static void pooled_sandboxes_journal(void) {
  reset_counts();
  eryx_sandbox_options base = options();
  eryx_pool_options po = ERYX_POOL_OPTIONS_INIT;
  po.max_size = 1;
  po.sandbox = &base;
  eryx_pool *p = NULL;
  eryx_error *err = eryx_pool_new(g_rt, &po, &p);
  CHECK_MSG(!err, "eryx_pool_new: %s", eryx_error_message(err, NULL));
  eryx_error_free(err);
  if (!p)
    return;
  eryx_sandbox *sb = NULL;
  eryx_error_free(eryx_pool_acquire(p, NULL, &sb));
  eryx_result *r = jrun(sb, hundred, NULL, NULL);
  expect_ok(r, NULL);
  char *journal = dup_journal(r);
  char *want = r && eryx_result_json(r, NULL) ? strdup(eryx_result_json(r, NULL)) : NULL;
  eryx_result_free(r);
  eryx_pool_release(p, sb);
  sb = NULL;
  atomic_store(&tick_calls, 0);
  eryx_error_free(eryx_pool_acquire(p, NULL, &sb));
  r = jrun(sb, hundred, journal, NULL);
  expect_ok(r, want);
  CHECK(r && eryx_result_replayed_callbacks(r) == 100 && atomic_load(&tick_calls) == 0);
  eryx_result_free(r);
  /* A suspension in a pooled sandbox; the next lease is fresh. */
  r = jrun(sb, "await approve()", NULL, NULL);
  expect_suspended(r, "approve", "{}", "waiting for a human");
  eryx_result_free(r);
  eryx_pool_release(p, sb);
  sb = NULL;
  eryx_error_free(eryx_pool_acquire(p, NULL, &sb));
  r = jrun(sb, "result = (await tick(i=0))['seq'] > 0", NULL, NULL);
  expect_ok(r, "true");
  eryx_result_free(r);
  eryx_pool_release(p, sb);
  eryx_pool_free(p);
  free(journal);
  free(want);
}

const test_case journal_tests[] = {
    {"journal: record then replay 100 callbacks", record_then_replay_100_callbacks},
    {"journal: gather replays identical and different calls",
     gather_replays_identical_and_different_calls},
    {"journal: a miss switches to live", miss_switches_to_live},
    {"journal: failures replay as the same error", failures_replay_as_the_same_error},
    {"journal: suspend inside fn", suspend_inside_fn},
    {"journal: suspend from another thread", suspend_from_another_thread},
    {"journal: resume continues past the suspension", resume_continues_past_the_suspension},
    {"journal: a session rolls back after a halt", session_rolls_back_after_a_halt},
    {"journal: signed journals, tampering, keys, code", signed_journals},
    {"journal: bad journals are refused", bad_journals_are_refused},
    {"journal: a hostile guest stays within the caps", hostile_guest_stays_within_the_caps},
    {"journal: pooled sandboxes", pooled_sandboxes_journal},
};
const size_t journal_count = sizeof journal_tests / sizeof journal_tests[0];
