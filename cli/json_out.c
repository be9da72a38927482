/*
 * json_out.c — JSON string escaping for the CLI. Input is valid UTF-8 (the
 * library guarantees it for everything it returns), so only quotes,
 * backslashes and control characters need escaping.
 */
#include "json_out.h"

void json_write_string(FILE *f, const char *s, size_t len) {
  static const char hex[] = "0123456789abcdef";
  fputc('"', f);
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    switch (c) {
    case '"': fputs("\\\"", f); break;
    case '\\': fputs("\\\\", f); break;
    case '\n': fputs("\\n", f); break;
    case '\r': fputs("\\r", f); break;
    case '\t': fputs("\\t", f); break;
    case '\b': fputs("\\b", f); break;
    case '\f': fputs("\\f", f); break;
    default:
      if (c < 0x20) {
        fputs("\\u00", f);
        fputc(hex[c >> 4], f);
        fputc(hex[c & 15], f);
      } else {
        fputc(c, f);
      }
    }
  }
  fputc('"', f);
}
