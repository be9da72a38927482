/*
 * base64.c — standard base64 (RFC 4648, with padding), table-driven.
 *
 * Used where bytes must travel as text: file contents crossing the WIT
 * boundary (an ASCII string is the guest's and the host's fastest path;
 * see the `fs` import) and file archives inside snapshots.
 */
#include "internal.h"

#include <pthread.h>
#include <stdlib.h>

static const char alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t eryx__base64_len(size_t n) { return (n + 2) / 3 * 4; }

size_t eryx__base64_encode(char *dst, const uint8_t *p, size_t n) {
  char *o = dst;
  size_t i = 0;
  for (; i + 3 <= n; i += 3) {
    uint32_t w = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
    *o++ = alphabet[w >> 18];
    *o++ = alphabet[(w >> 12) & 63];
    *o++ = alphabet[(w >> 6) & 63];
    *o++ = alphabet[w & 63];
  }
  if (i < n) {
    uint32_t w = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0);
    *o++ = alphabet[w >> 18];
    *o++ = alphabet[(w >> 12) & 63];
    *o++ = i + 1 < n ? alphabet[(w >> 6) & 63] : '=';
    *o++ = '=';
  }
  return (size_t)(o - dst);
}

static signed char value[256]; /* char -> 6-bit value, or -1 */

static void make_table(void) {
  for (int c = 0; c < 256; c++)
    value[c] = -1;
  for (int k = 0; k < 64; k++)
    value[(unsigned char)alphabet[k]] = (signed char)k;
}

uint8_t *eryx__base64_decode(const char *s, size_t n, size_t *out_len, bool *oom) {
  static pthread_once_t once = PTHREAD_ONCE_INIT;
  pthread_once(&once, make_table);
  *oom = false;
  if (n % 4)
    return NULL;
  uint8_t *out = malloc(n / 4 * 3 + 1);
  if (!out) {
    *oom = true;
    return NULL;
  }
  size_t o = 0;
  for (size_t i = 0; i < n; i += 4) {
    int pad = 0;
    uint32_t w = 0;
    for (int k = 0; k < 4; k++) {
      unsigned char c = (unsigned char)s[i + k];
      int v = value[c];
      if (c == '=' && i + 4 == n && k >= 2 && (k == 3 || s[i + 3] == '=')) {
        v = 0;
        pad++;
      } else if (v < 0 || pad) {
        free(out);
        return NULL;
      }
      w = w << 6 | (uint32_t)v;
    }
    out[o++] = (uint8_t)(w >> 16);
    if (pad < 2)
      out[o++] = (uint8_t)(w >> 8);
    if (pad < 1)
      out[o++] = (uint8_t)w;
  }
  *out_len = o;
  return out;
}
