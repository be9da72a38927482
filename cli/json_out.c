/*
 * json_out.c — the CLI's --json output, built with jansson.
 *
 * Every value is a jansson value, so nothing the sandboxed code produces can
 * change the shape of the object: its output is a string, its result goes
 * in parsed (and only when it parses), and text that is not valid UTF-8 has
 * its bad bytes replaced by U+FFFD.
 */
#include "json_out.h"

#include <jansson.h>
#include <limits.h>
#include <openssl/evp.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Length of the well-formed UTF-8 sequence at `p` (`left` bytes there), or
 * 0 if it is not one. */
static size_t utf8_seq(const unsigned char *p, size_t left) {
  unsigned char c = p[0];
  size_t n;
  unsigned char lo = 0x80, hi = 0xbf; /* range of the second byte */
  if (c < 0x80)
    return 1;
  if (c >= 0xc2 && c <= 0xdf) {
    n = 2;
  } else if (c >= 0xe0 && c <= 0xef) {
    n = 3;
    if (c == 0xe0)
      lo = 0xa0;
    if (c == 0xed) /* no surrogates */
      hi = 0x9f;
  } else if (c >= 0xf0 && c <= 0xf4) {
    n = 4;
    if (c == 0xf0)
      lo = 0x90;
    if (c == 0xf4)
      hi = 0x8f;
  } else {
    return 0;
  }
  if (left < n || p[1] < lo || p[1] > hi)
    return 0;
  for (size_t i = 2; i < n; i++)
    if ((p[i] & 0xc0) != 0x80)
      return 0;
  return n;
}

/* A JSON string of the `n` bytes at `s`; bytes that are not well-formed
 * UTF-8 become U+FFFD. NULL when out of memory. */
static json_t *text_value(const char *s, size_t n) {
  json_t *v = json_stringn(s, n);
  if (v)
    return v;
  /* Not valid UTF-8 (or no memory): every bad byte takes 3 bytes. */
  if (n > (SIZE_MAX - 1) / 3)
    return NULL;
  char *fixed = malloc(n * 3 + 1);
  if (!fixed)
    return NULL;
  size_t out = 0;
  const unsigned char *p = (const unsigned char *)s;
  for (size_t i = 0; i < n;) {
    size_t k = utf8_seq(p + i, n - i);
    if (k) {
      memcpy(fixed + out, p + i, k);
      out += k;
      i += k;
    } else {
      memcpy(fixed + out, "\xef\xbf\xbd", 3);
      out += 3;
      i++;
    }
  }
  v = json_stringn(fixed, out);
  free(fixed);
  return v;
}

/* `s` as a JSON string, or null when `s` is NULL. */
static json_t *text_or_null(const char *s, size_t n) {
  return s ? text_value(s, n) : json_null();
}

/* Adds `v` to `obj` under `key` (taking the reference); false if `v` is
 * NULL or the addition failed. */
static bool put(json_t *obj, const char *key, json_t *v) {
  return v && json_object_set_new(obj, key, v) == 0;
}

typedef const char *(*text_getter)(const eryx_result *r, size_t *len);

/* The text field `get` of `r` as a JSON string under `key`. */
static bool put_text(json_t *obj, const char *key, text_getter get, const eryx_result *r) {
  size_t n;
  const char *s = get(r, &n);
  return put(obj, key, text_value(s, n));
}

/* Output as text under `key` (bad bytes as U+FFFD) and, only when it is
 * not valid UTF-8, its exact bytes in base64 under `key`_base64
 * (OpenSSL's encoder). */
static bool put_output(json_t *obj, const char *key, text_getter get, const eryx_result *r) {
  size_t n;
  const char *s = get(r, &n);
  if (!put(obj, key, text_value(s, n)))
    return false;
  json_t *probe = json_stringn(s, n);
  if (probe) { /* valid UTF-8: the text says it all */
    json_decref(probe);
    return true;
  }
  if (n > (size_t)INT_MAX / 4 * 3)
    return false;
  unsigned char *b64 = malloc(4 * ((n + 2) / 3) + 1);
  if (!b64)
    return false;
  int len = EVP_EncodeBlock(b64, (const unsigned char *)s, (int)n);
  char name[32];
  snprintf(name, sizeof name, "%s_base64", key);
  bool ok = len >= 0 && put(obj, name, json_stringn((const char *)b64, (size_t)len));
  free(b64);
  return ok;
}

/* The result variable: its JSON parsed into a value, or, when it does not
 * parse (or cannot be represented, e.g. an integer beyond 64 bits), null
 * with the reason under "result_error". */
static bool put_result(json_t *obj, const eryx_result *r) {
  size_t n, en;
  const char *s = eryx_result_json(r, &n);
  const char *why = eryx_result_json_error(r, &en);
  json_t *value = NULL;
  char msg[256];
  if (s) {
    json_error_t jerr;
    value = json_loadb(s, n, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
    if (!value) {
      snprintf(msg, sizeof msg, "the result is not JSON the CLI can represent: %s "
               "(line %d, column %d)", jerr.text, jerr.line, jerr.column);
      why = msg;
      en = strlen(msg);
    }
  }
  return put(obj, "result", value ? value : json_null()) &&
         put(obj, "result_error", text_or_null(why, en));
}

static json_t *error_object(const eryx_result *r) {
  json_t *e = json_object();
  if (!e)
    return NULL;
  bool ok = put_text(e, "type", eryx_result_error_type, r) &&
            put_text(e, "message", eryx_result_error_message, r) &&
            put_text(e, "traceback", eryx_result_traceback, r) &&
            put(e, "line", json_integer(eryx_result_error_line(r)));
  if (!ok) {
    json_decref(e);
    return NULL;
  }
  return e;
}

int json_write_result(FILE *f, const eryx_result *r) {
  json_t *o = json_object();
  if (!o)
    return -1;
  int code = eryx_result_exit_code(r);
  bool ok =
      put(o, "status", json_string(eryx_status_name(eryx_result_status(r)))) &&
      put_output(o, "stdout", eryx_result_stdout, r) &&
      put_output(o, "stderr", eryx_result_stderr, r) &&
      put_result(o, r) &&
      put(o, "error", eryx_result_status(r) == ERYX_STATUS_OK ? json_null() : error_object(r)) &&
      put(o, "exit_code", code >= 0 ? json_integer(code) : json_null()) &&
      put(o, "duration_ms", json_real(round(eryx_result_duration_ms(r) * 1000) / 1000)) &&
      put(o, "callback_invocations", json_integer(eryx_result_callback_invocations(r))) &&
      put(o, "peak_memory_bytes", json_integer((json_int_t)eryx_result_peak_memory_bytes(r))) &&
      put(o, "fuel_consumed", json_integer((json_int_t)eryx_result_fuel_consumed(r)));
  if (ok)
    ok = json_dumpf(o, f, JSON_COMPACT) == 0 && fputc('\n', f) != EOF;
  json_decref(o);
  return ok ? 0 : -1;
}
