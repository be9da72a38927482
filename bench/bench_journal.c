/*
 * bench_journal.c — replay journals and session rollback points, one JSON
 * object per line. Times are wall-clock around the API call (journal
 * loading and serialization included), p50 / min / max over ROUNDS.
 *
 *   callbacks_100_plain     eryx_sandbox_execute of 100 sequential awaits
 *                           of a callback the host answers at once
 *   callbacks_100_recorded  the same through eryx_sandbox_execute_journal
 *                           (record only): the journal's own cost
 *   callbacks_100_replayed  the same with the recorded journal: no host
 *                           function is called
 *   callbacks_100_replayed_signed  recorded and replayed with a key
 *   session_execute         `x += 1` in a session with a callback, its
 *                           state one int, then a dict of 1000 strings
 *   session_snapshot_alone  eryx_session_snapshot_state of that session
 *   session_execute_journal the same through eryx_session_execute_journal:
 *                           the difference is the snapshot taken first
 *   session_suspend_rollback  an execute_journal that suspends, then the
 *                           rollback (snapshot + restore)
 *
 * usage: bench_journal [ROUNDS]   (default 20)
 */
#include "bench_util.h"

#include <stdbool.h>

static void tick(void *ud, eryx_call *call, const char *args, size_t len) {
  (void)ud, (void)args, (void)len;
  eryx_error_free(eryx_call_succeed(call, "{\"ok\": true}", 12));
}

static void hold(void *ud, eryx_call *call, const char *args, size_t len) {
  (void)ud, (void)args, (void)len;
  eryx_error_free(eryx_call_suspend(call, "bench", 5));
}

static const char code[] = "for i in range(100):\n    await tick(i=i)\n";

static void check(eryx_error *err, eryx_result *r, eryx_status want) {
  if (err)
    die(err);
  if (eryx_result_status(r) != want) {
    fprintf(stderr, "bench: status %s: %s\n", eryx_status_name(eryx_result_status(r)),
            eryx_result_error_message(r, NULL));
    exit(1);
  }
}

static void report(const char *name, double *ms, int rounds, const char *extra) {
  qsort(ms, (size_t)rounds, sizeof *ms, cmp_double);
  printf("{\"bench\":\"%s\",\"rounds\":%d,\"p50_ms\":%.3f,\"min_ms\":%.3f,\"max_ms\":%.3f%s}\n",
         name, rounds, ms[rounds / 2], ms[0], ms[rounds - 1], extra);
}

/* One journal execute of `code`; returns its wall time, fills *journal
 * (malloc'd) when asked. */
static double timed(eryx_sandbox *sb, const eryx_journal_options *jo, char **journal,
                    uint32_t *replayed) {
  eryx_result *r = NULL;
  double t0 = now_ms();
  eryx_error *err = jo ? eryx_sandbox_execute_journal(sb, code, strlen(code), jo, &r)
                       : eryx_sandbox_execute(sb, code, strlen(code), &r);
  double ms = now_ms() - t0;
  check(err, r, ERYX_STATUS_OK);
  if (journal) {
    size_t len;
    const char *j = eryx_result_journal(r, &len);
    *journal = malloc(len + 1);
    memcpy(*journal, j, len + 1);
  }
  if (replayed)
    *replayed = eryx_result_replayed_callbacks(r);
  eryx_result_free(r);
  return ms;
}

static double time_session(eryx_session *s, const char *code, bool journal, eryx_status want) {
  eryx_result *r = NULL;
  double t0 = now_ms();
  eryx_error *err = journal ? eryx_session_execute_journal(s, code, strlen(code), NULL, &r)
                            : eryx_session_execute(s, code, strlen(code), &r);
  double ms = now_ms() - t0;
  check(err, r, want);
  eryx_result_free(r);
  return ms;
}

static void session_bench(eryx_runtime *rt, const eryx_sandbox_options *o, const char *setup,
                          const char *label, double *ms, int rounds) {
  eryx_session *s;
  eryx_error *err = eryx_session_new(rt, o, &s);
  if (err)
    die(err);
  time_session(s, setup, false, ERYX_STATUS_OK);
  size_t snap_len = 0;
  eryx_snapshot *snap = NULL;
  if ((err = eryx_session_snapshot_state(s, 1, &snap)))
    die(err);
  eryx_snapshot_data(snap, &snap_len);
  eryx_snapshot_free(snap);
  char extra[128];
  snprintf(extra, sizeof extra, ",\"state\":\"%s\",\"snapshot_bytes\":%zu", label, snap_len);
  for (int i = 0; i < rounds; i++) {
    double t0 = now_ms();
    if ((err = eryx_session_snapshot_state(s, 1, &snap)))
      die(err);
    ms[i] = now_ms() - t0;
    eryx_snapshot_free(snap);
  }
  report("session_snapshot_alone", ms, rounds, extra);
  for (int i = 0; i < rounds; i++)
    ms[i] = time_session(s, "x += 1", false, ERYX_STATUS_OK);
  report("session_execute", ms, rounds, extra);
  for (int i = 0; i < rounds; i++)
    ms[i] = time_session(s, "x += 1", true, ERYX_STATUS_OK);
  report("session_execute_journal", ms, rounds, extra);
  for (int i = 0; i < rounds; i++)
    ms[i] = time_session(s, "x += 1\nawait hold()\n", true, ERYX_STATUS_SUSPENDED);
  report("session_suspend_rollback", ms, rounds, extra);
  /* The rollbacks undid their `x += 1`. */
  eryx_result *r = NULL;
  err = eryx_session_execute(s, "result = x", 10, &r);
  check(err, r, ERYX_STATUS_OK);
  char want[32];
  snprintf(want, sizeof want, "%d", 2 * rounds);
  if (strcmp(eryx_result_json(r, NULL), want) != 0) {
    fprintf(stderr, "bench: x is %s after the rollbacks, not %s\n", eryx_result_json(r, NULL),
            want);
    exit(1);
  }
  eryx_result_free(r);
  eryx_session_free(s);
}

int main(int argc, char **argv) {
  int rounds = bench_rounds(argc, argv);
  eryx_runtime *rt = bench_runtime();
  eryx_error *err = NULL;
  eryx_callback cbs[2] = {{0}, {0}};
  cbs[0].name = "tick";
  cbs[0].name_len = 4;
  cbs[0].fn = tick;
  cbs[1].name = "hold";
  cbs[1].name_len = 4;
  cbs[1].fn = hold;
  eryx_sandbox_options o = ERYX_SANDBOX_OPTIONS_INIT;
  o.callbacks = cbs;
  o.callback_count = 2;
  eryx_sandbox *sb;
  if ((err = eryx_sandbox_new(rt, &o, &sb)))
    die(err);

  double *ms = malloc(sizeof(double) * (size_t)rounds);
  char *journal = NULL, *signed_journal = NULL;
  eryx_journal_options rec = ERYX_JOURNAL_OPTIONS_INIT;
  eryx_journal_options rec_key = ERYX_JOURNAL_OPTIONS_INIT;
  rec_key.key = (const uint8_t *)"bench key";
  rec_key.key_len = 9;
  timed(sb, &rec, &journal, NULL);
  timed(sb, &rec_key, &signed_journal, NULL);
  char extra[96];
  snprintf(extra, sizeof extra, ",\"journal_bytes\":%zu", strlen(journal));

  for (int i = 0; i < rounds; i++)
    ms[i] = timed(sb, NULL, NULL, NULL);
  report("callbacks_100_plain", ms, rounds, "");
  for (int i = 0; i < rounds; i++)
    ms[i] = timed(sb, &rec, NULL, NULL);
  report("callbacks_100_recorded", ms, rounds, extra);
  eryx_journal_options rep = ERYX_JOURNAL_OPTIONS_INIT;
  rep.journal = journal;
  rep.journal_len = strlen(journal);
  uint32_t replayed = 0;
  for (int i = 0; i < rounds; i++)
    ms[i] = timed(sb, &rep, NULL, &replayed);
  if (replayed != 100) {
    fprintf(stderr, "bench: %u calls replayed, not 100\n", replayed);
    return 1;
  }
  report("callbacks_100_replayed", ms, rounds, "");
  eryx_journal_options rep_key = rec_key;
  rep_key.journal = signed_journal;
  rep_key.journal_len = strlen(signed_journal);
  for (int i = 0; i < rounds; i++)
    ms[i] = timed(sb, &rep_key, NULL, NULL);
  report("callbacks_100_replayed_signed", ms, rounds, "");
  eryx_sandbox_free(sb);

  /* Sessions: what the rollback point costs, by the size of the state. */
  session_bench(rt, &o, "x = 0\n", "one int", ms, rounds);
  session_bench(rt, &o, "state = {str(i): 'value %d' % i for i in range(1000)}\nx = 0\n",
                "1000 strings", ms, rounds);
  free(journal);
  free(signed_journal);
  free(ms);
  eryx_runtime_free(rt);
  return 0;
}
