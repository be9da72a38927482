/*
 * result.c — eryx_result: the immutable report of one execution.
 *
 * Every string field is a separate allocation owned by the result; fields
 * that have "no value" are either NULL (json, json_error) or "" (the rest),
 * as documented in eryx.h.
 */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

static char empty[] = "";

eryx_result *eryx__result_new(void) {
  eryx_result *r = calloc(1, sizeof *r);
  if (!r)
    return NULL;
  r->out = r->err = r->error_type = r->error_message = r->traceback = empty;
  r->exit_code = -1;
  return r;
}

static bool set_text(char **field, size_t *len, const char *s) {
  if (*field != empty)
    free(*field);
  *field = empty;
  *len = 0;
  if (!s || !*s)
    return true;
  size_t n = strlen(s);
  char *p = eryx__strndup(s, n);
  if (!p)
    return false;
  *field = p;
  *len = n;
  return true;
}

bool eryx__result_set_error(eryx_result *r, eryx_status status,
                            const char *type, const char *message,
                            const char *traceback) {
  r->status = status;
  return set_text(&r->error_type, &r->error_type_len, type) &&
         set_text(&r->error_message, &r->error_message_len, message) &&
         set_text(&r->traceback, &r->traceback_len, traceback);
}

bool eryx__result_set_suspended(eryx_result *r, const char *name, size_t name_len,
                                const char *args, size_t args_len, const char *reason,
                                size_t reason_len) {
  if (!eryx__result_set_error(r, ERYX_STATUS_SUSPENDED, "Suspended", NULL, ""))
    return false;
  if (reason_len) { /* may hold NUL bytes: copied by length */
    if (!(r->error_message = eryx__strndup(reason, reason_len))) {
      r->error_message = empty;
      return false;
    }
    r->error_message_len = reason_len;
  }
  r->suspended_name = eryx__strndup(name, name_len);
  r->suspended_args = eryx__strndup(args, args_len);
  r->suspended_reason = eryx__strndup(reason, reason_len);
  r->suspended_name_len = name_len;
  r->suspended_args_len = args_len;
  r->suspended_reason_len = reason_len;
  return r->suspended_name && r->suspended_args && r->suspended_reason;
}

static const char *get(const char *s, size_t n, size_t *len) {
  if (len)
    *len = s ? n : 0;
  return s;
}

eryx_status eryx_result_status(const eryx_result *r) { return r->status; }

const char *eryx_status_name(eryx_status status) {
  switch (status) {
  case ERYX_STATUS_OK:
    return "ok";
  case ERYX_STATUS_SYNTAX:
    return "syntax";
  case ERYX_STATUS_EXCEPTION:
    return "exception";
  case ERYX_STATUS_LIMIT:
    return "limit";
  case ERYX_STATUS_INTERNAL:
    return "internal";
  case ERYX_STATUS_CANCELLED:
    return "cancelled";
  case ERYX_STATUS_SUSPENDED:
    return "suspended";
  }
  return "unknown";
}

const char *eryx_result_stdout(const eryx_result *r, size_t *len) {
  return get(r->out, r->out_len, len);
}
const char *eryx_result_stderr(const eryx_result *r, size_t *len) {
  return get(r->err, r->err_len, len);
}
const char *eryx_result_json(const eryx_result *r, size_t *len) {
  return get(r->json, r->json_len, len);
}
const char *eryx_result_json_error(const eryx_result *r, size_t *len) {
  return get(r->json_error, r->json_error_len, len);
}
const char *eryx_result_error_type(const eryx_result *r, size_t *len) {
  return get(r->error_type, r->error_type_len, len);
}
const char *eryx_result_error_message(const eryx_result *r, size_t *len) {
  return get(r->error_message, r->error_message_len, len);
}
const char *eryx_result_traceback(const eryx_result *r, size_t *len) {
  return get(r->traceback, r->traceback_len, len);
}
uint32_t eryx_result_error_line(const eryx_result *r) { return r->error_line; }
int eryx_result_exit_code(const eryx_result *r) { return r->exit_code; }
double eryx_result_duration_ms(const eryx_result *r) { return r->duration_ms; }
uint64_t eryx_result_fuel_consumed(const eryx_result *r) { return r->fuel_consumed; }
uint64_t eryx_result_peak_memory_bytes(const eryx_result *r) {
  return r->peak_memory_bytes;
}
int eryx_result_output_truncated(const eryx_result *r) {
  return r->output_truncated;
}
uint32_t eryx_result_callback_invocations(const eryx_result *r) {
  return r->callback_invocations;
}

const char *eryx_result_journal(const eryx_result *r, size_t *len) {
  return get(r->journal, r->journal_len, len);
}
uint32_t eryx_result_replayed_callbacks(const eryx_result *r) {
  return r->replayed_callbacks;
}
const char *eryx_result_suspended_name(const eryx_result *r, size_t *len) {
  return get(r->suspended_name, r->suspended_name_len, len);
}
const char *eryx_result_suspended_args(const eryx_result *r, size_t *len) {
  return get(r->suspended_args, r->suspended_args_len, len);
}
const char *eryx_result_suspended_reason(const eryx_result *r, size_t *len) {
  return get(r->suspended_reason, r->suspended_reason_len, len);
}

uint64_t eryx_result_net_bytes_sent(const eryx_result *r) { return r->net.bytes_sent; }

uint64_t eryx_result_net_bytes_received(const eryx_result *r) {
  return r->net.bytes_received;
}

uint32_t eryx_result_net_connections(const eryx_result *r) { return r->net.connections; }

void eryx_result_free(eryx_result *r) {
  if (!r)
    return;
  char *fields[] = {r->out,        r->err,           r->error_type,
                    r->error_message, r->traceback,  r->json,
                    r->json_error};
  for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
    if (fields[i] != empty)
      free(fields[i]);
  free(r->journal);
  free(r->suspended_name);
  free(r->suspended_args);
  free(r->suspended_reason);
  free(r);
}
