/*
 * session.c — eryx_session: a sandbox that keeps its instance, and so its
 * Python state, between executions.
 *
 * The sandbox does the work (it runs in "persistent" mode: no fresh instance
 * per execute, and the guest reuses one namespace). This file adds the
 * bookkeeping a REPL needs: the execution count, clearing the namespace,
 * replacing the interpreter, and noticing when a trap replaced it.
 *
 * Journal executions (eryx_session_execute_journal) add a rollback point: a
 * session with callbacks is snapshot (skipping what cannot be serialized;
 * the file tree is part of the snapshot) before the code runs, and if the
 * run is halted (suspended, timed out, cancelled, trapped: the interpreter
 * is gone) the snapshot is restored, so a run resumed with the journal
 * starts from the state the suspended one started from. The restore goes
 * through eryx_session_restore_state, which keeps the generation: the
 * execution count stays as it was before the call.
 */
#include "callbacks.h"
#include "journal.h"

#include <stdlib.h>

struct eryx_session {
  eryx_sandbox *sb;
  uint64_t count;
  uint64_t generation; /* the sandbox's instance generation we counted in */
};

eryx_error *eryx_session_new(eryx_runtime *rt, const eryx_sandbox_options *opts,
                             eryx_session **out) {
  if (!out)
    return eryx__error_new(ERYX_ERR_INVALID_ARGUMENT, "out is NULL");
  *out = NULL;
  eryx_session *s = calloc(1, sizeof *s);
  if (!s)
    return eryx__error_new(ERYX_ERR_RESOURCES, "out of memory");
  eryx_error *err = eryx_sandbox_new(rt, opts, &s->sb);
  if (err) {
    free(s);
    return err;
  }
  eryx__sandbox_set_persistent(s->sb);
  s->generation = eryx__sandbox_generation(s->sb);
  *out = s;
  return NULL;
}

static eryx_error *run(eryx_session *s, const char *code, size_t len, bool clear,
                       eryx__journal *journal, eryx_result **out) {
  if (!s)
    return eryx__error_new(ERYX_ERR_INVALID_ARGUMENT, "session is NULL");
  eryx_error *err = eryx__sandbox_run(s->sb, code, len, clear, journal, out);
  if (err)
    return err;
  /* A trap in an earlier run replaced the instance before this one: the
   * count restarts with the new interpreter. */
  uint64_t gen = eryx__sandbox_generation(s->sb);
  if (gen != s->generation) {
    s->generation = gen;
    s->count = 0;
  }
  return NULL;
}

eryx_error *eryx_session_execute(eryx_session *s, const char *code, size_t code_len,
                                 eryx_result **out) {
  eryx_error *err = run(s, code, code_len, false, NULL, out);
  if (!err)
    s->count++;
  return err;
}

eryx_error *eryx_session_execute_journal(eryx_session *s, const char *code, size_t code_len,
                                         const eryx_journal_options *opts, eryx_result **out) {
  if (!s || !out || (!code && code_len))
    return eryx__error_new(ERYX_ERR_INVALID_ARGUMENT, "session, code and out are required");
  *out = NULL;
  const eryx_callbacks *cb = eryx__sandbox_callbacks(s->sb);
  eryx__journal *j = NULL;
  eryx_error *err = eryx__journal_open(opts, code, code_len, cb->max_invocations, &j);
  if (err)
    return err;
  eryx_snapshot *before = NULL;
  if (cb->count && (err = eryx_session_snapshot_state(s, 1, &before))) {
    eryx_error *e = eryx__error_new(eryx_error_get_code(err),
                                    "the session's state could not be saved before the run "
                                    "(a halt would roll back to it): %s",
                                    eryx_error_message(err, NULL));
    eryx_error_free(err);
    eryx__journal_free(j);
    return e;
  }
  err = run(s, code, code_len, false, j, out);
  eryx__journal_free(j);
  bool rolled_back = false;
  if (!err && before && eryx__sandbox_halted(s->sb)) {
    size_t len;
    const uint8_t *data = eryx_snapshot_data(before, &len);
    eryx_error *rerr = eryx_session_restore_state(s, data, len);
    rolled_back = rerr == NULL; /* else the session starts over, as on any halt */
    eryx_error_free(rerr);
  }
  eryx_snapshot_free(before);
  if (!err && !rolled_back)
    s->count++;
  return err;
}

uint64_t eryx_session_execution_count(const eryx_session *s) { return s ? s->count : 0; }

eryx_error *eryx_session_clear_state(eryx_session *s) {
  eryx_result *r = NULL;
  eryx_error *err = run(s, "", 0, true, NULL, &r);
  if (!err && eryx_result_status(r) != ERYX_STATUS_OK)
    err = eryx__error_new(ERYX_ERR_INTERNAL, "clearing the session failed: %s",
                          eryx_result_error_message(r, NULL));
  eryx_result_free(r);
  if (!err)
    s->count = 0;
  return err;
}

eryx_error *eryx_session_reset(eryx_session *s) {
  if (!s)
    return eryx__error_new(ERYX_ERR_INVALID_ARGUMENT, "session is NULL");
  eryx_error *err = eryx__sandbox_reinstantiate(s->sb);
  s->generation = eryx__sandbox_generation(s->sb);
  s->count = 0;
  return err;
}

eryx_sandbox *eryx__session_sandbox(eryx_session *s) { return s->sb; }

int eryx_session_cancel(eryx_session *s) { return s ? eryx_sandbox_cancel(s->sb) : 0; }

void eryx_session_set_timeout_ms(eryx_session *s, uint64_t timeout_ms) {
  if (s)
    eryx_sandbox_set_timeout_ms(s->sb, timeout_ms);
}

eryx_error *eryx_session_set_max_fuel(eryx_session *s, uint64_t max_fuel) {
  if (!s)
    return eryx__error_new(ERYX_ERR_INVALID_ARGUMENT, "session is NULL");
  return eryx_sandbox_set_max_fuel(s->sb, max_fuel);
}

uint64_t eryx_session_max_fuel(const eryx_session *s) {
  return s ? eryx_sandbox_max_fuel(s->sb) : 0;
}

uint64_t eryx_session_timeout_ms(const eryx_session *s) {
  return s ? eryx_sandbox_timeout_ms(s->sb) : 0;
}

void eryx_session_free(eryx_session *s) {
  if (!s)
    return;
  eryx_sandbox_free(s->sb);
  free(s);
}
