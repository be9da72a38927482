/*
 * session.c — eryx_session: a sandbox that keeps its instance, and so its
 * Python state, between executions.
 *
 * The sandbox does the work (it runs in "persistent" mode: no fresh instance
 * per execute, and the guest reuses one namespace). This file adds the
 * bookkeeping a REPL needs: the execution count, clearing the namespace,
 * replacing the interpreter, and noticing when a trap replaced it.
 */
#include "internal.h"

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
                       eryx_result **out) {
  if (!s)
    return eryx__error_new(ERYX_ERR_INVALID_ARGUMENT, "session is NULL");
  eryx_error *err = eryx__sandbox_run(s->sb, code, len, clear, out);
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
  eryx_error *err = run(s, code, code_len, false, out);
  if (!err)
    s->count++;
  return err;
}

uint64_t eryx_session_execution_count(const eryx_session *s) { return s ? s->count : 0; }

eryx_error *eryx_session_clear_state(eryx_session *s) {
  eryx_result *r = NULL;
  eryx_error *err = run(s, "", 0, true, &r);
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
