/*
 * error.c — eryx_error: a code and a message, owned by the caller.
 *
 * Allocation failure while building an error must still yield an error the
 * caller can inspect, so a static fallback object is returned then; freeing
 * it is a no-op.
 */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct eryx_error {
  eryx_error_code code;
  char *message;
  size_t message_len;
};

static char oom_message[] = "out of memory while reporting an error";
static eryx_error oom_error = {ERYX_ERR_RESOURCES, oom_message,
                               sizeof(oom_message) - 1};

eryx_error *eryx__error_new(eryx_error_code code, const char *fmt, ...) {
  eryx_error *e = malloc(sizeof *e);
  if (!e)
    return &oom_error;
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  e->message = n >= 0 ? malloc((size_t)n + 1) : NULL;
  if (!e->message) {
    free(e);
    return &oom_error;
  }
  va_start(ap, fmt);
  vsnprintf(e->message, (size_t)n + 1, fmt, ap);
  va_end(ap);
  e->code = code;
  e->message_len = (size_t)n;
  return e;
}

char *eryx__wasmtime_message(const wasmtime_error_t *werr) {
  wasm_name_t msg;
  wasmtime_error_message(werr, &msg);
  char *s = eryx__strndup(msg.data ? msg.data : "", msg.size);
  wasm_byte_vec_delete(&msg);
  return s;
}

eryx_error *eryx__error_from_wasmtime(wasmtime_error_t *werr,
                                      const char *what) {
  char *msg = eryx__wasmtime_message(werr);
  wasmtime_error_delete(werr);
  eryx_error *e = eryx__error_new(ERYX_ERR_WASMTIME, "%s: %s", what,
                                  msg ? msg : "(no message)");
  free(msg);
  return e;
}

eryx_error_code eryx_error_get_code(const eryx_error *err) {
  return err ? err->code : ERYX_ERR_INVALID_ARGUMENT;
}

const char *eryx_error_message(const eryx_error *err, size_t *len) {
  if (!err) {
    if (len)
      *len = 0;
    return "";
  }
  if (len)
    *len = err->message_len;
  return err->message;
}

void eryx_error_free(eryx_error *err) {
  if (!err || err == &oom_error)
    return;
  free(err->message);
  free(err);
}
