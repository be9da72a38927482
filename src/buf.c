/*
 * buf.c — small string helpers: a growable buffer, bounded duplication and
 * UTF-8 validation (every string entering the API is checked once here so
 * the guest never sees invalid text).
 */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

void eryx__buf_append(eryx_buf *b, const char *s, size_t n) {
  if (b->oom || n == 0)
    return;
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + n + 1)
      cap *= 2;
    char *p = realloc(b->data, cap);
    if (!p) {
      b->oom = true;
      return;
    }
    b->data = p;
    b->cap = cap;
  }
  memcpy(b->data + b->len, s, n);
  b->len += n;
  b->data[b->len] = '\0';
}

char *eryx__buf_take(eryx_buf *b, size_t *len) {
  char *p = b->data;
  *len = b->len;
  if (!p)
    p = calloc(1, 1);
  b->data = NULL;
  b->len = b->cap = 0;
  b->oom = false;
  return p;
}

void eryx__buf_free(eryx_buf *b) {
  free(b->data);
  b->data = NULL;
  b->len = b->cap = 0;
  b->oom = false;
}

char *eryx__strndup(const char *s, size_t n) {
  char *p = malloc(n + 1);
  if (!p)
    return NULL;
  if (n)
    memcpy(p, s, n);
  p[n] = '\0';
  return p;
}

/* Length of the valid UTF-8 sequence at the start of s[0..n), 0 if there
 * is none (a stray byte, a cut sequence, an overlong form, a surrogate or
 * a value past U+10FFFF). */
static size_t utf8_sequence(const unsigned char *s, size_t n) {
  unsigned char c = s[0];
  size_t extra;
  uint32_t cp;
  if (c < 0x80)
    return 1;
  if ((c & 0xE0) == 0xC0) {
    extra = 1;
    cp = c & 0x1F;
  } else if ((c & 0xF0) == 0xE0) {
    extra = 2;
    cp = c & 0x0F;
  } else if ((c & 0xF8) == 0xF0) {
    extra = 3;
    cp = c & 0x07;
  } else {
    return 0;
  }
  if (extra >= n)
    return 0;
  for (size_t k = 1; k <= extra; k++) {
    if ((s[k] & 0xC0) != 0x80)
      return 0;
    cp = (cp << 6) | (s[k] & 0x3F);
  }
  if ((extra == 1 && cp < 0x80) || (extra == 2 && cp < 0x800) ||
      (extra == 3 && cp < 0x10000) || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
    return 0;
  return extra + 1;
}

bool eryx__utf8_valid(const char *str, size_t n) {
  const unsigned char *s = (const unsigned char *)str;
  for (size_t i = 0; i < n;) {
    size_t k = utf8_sequence(s + i, n - i);
    if (!k)
      return false;
    i += k;
  }
  return true;
}

size_t eryx__utf8_prefix(const char *str, size_t n, size_t max) {
  const unsigned char *s = (const unsigned char *)str;
  size_t i = 0;
  while (i < n) {
    size_t k = utf8_sequence(s + i, n - i);
    if (!k)
      k = 1; /* a stray byte counts as one (it is replaced when kept) */
    if (i + k > max)
      break;
    i += k;
  }
  return i;
}

void eryx__buf_append_lossy(eryx_buf *b, const char *str, size_t n) {
  const unsigned char *s = (const unsigned char *)str;
  size_t run = 0;
  for (size_t i = 0; i < n;) {
    size_t k = utf8_sequence(s + i, n - i);
    if (k) {
      i += k;
      continue;
    }
    eryx__buf_append(b, str + run, i - run);
    eryx__buf_append(b, "\xEF\xBF\xBD", 3); /* U+FFFD */
    run = ++i;
  }
  eryx__buf_append(b, str + run, n - run);
}
