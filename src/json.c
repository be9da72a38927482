/*
 * json.c — the JSON the host writes itself: string escaping for the texts
 * it builds (the callback list, error details). JSON the host *reads*
 * (schemas, callback arguments, results) is parsed by serde_json in
 * deps/wasmtime/src/json.rs, never here.
 */
#include "internal.h"

#include <stdio.h>
#include <string.h>

void eryx__json_append_string(eryx_buf *b, const char *s, size_t n) {
  eryx__buf_append(b, "\"", 1);
  size_t run = 0; /* bytes copied verbatim in one go */
  for (size_t i = 0; i < n; i++) {
    unsigned char ch = (unsigned char)s[i];
    if (ch >= 0x20 && ch != '"' && ch != '\\')
      continue;
    eryx__buf_append(b, s + run, i - run);
    char esc[8];
    if (ch == '"' || ch == '\\')
      snprintf(esc, sizeof esc, "\\%c", ch);
    else
      snprintf(esc, sizeof esc, "\\u%04x", ch);
    eryx__buf_append(b, esc, strlen(esc));
    run = i + 1;
  }
  eryx__buf_append(b, s + run, n - run);
  eryx__buf_append(b, "\"", 1);
}
