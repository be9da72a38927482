/*
 * json.c — the little JSON the host needs: a syntax check (callback schemas
 * are rejected at sandbox creation, not at first use inside Python) and
 * string escaping for the JSON the host builds itself. Values are never
 * interpreted in C; Python parses them inside the sandbox.
 */
#include "internal.h"

#include <stdio.h>
#include <string.h>

typedef struct {
  const char *s, *end;
  int depth;
} cursor;

#define MAX_DEPTH 128

static void skip_ws(cursor *c) {
  while (c->s < c->end && (*c->s == ' ' || *c->s == '\t' || *c->s == '\n' || *c->s == '\r'))
    c->s++;
}

static bool value(cursor *c);

static bool literal(cursor *c, const char *word) {
  size_t n = strlen(word);
  if ((size_t)(c->end - c->s) < n || memcmp(c->s, word, n))
    return false;
  c->s += n;
  return true;
}

static bool string(cursor *c) {
  if (c->s >= c->end || *c->s != '"')
    return false;
  c->s++;
  while (c->s < c->end) {
    unsigned char ch = (unsigned char)*c->s++;
    if (ch == '"')
      return true;
    if (ch < 0x20)
      return false;
    if (ch == '\\') {
      if (c->s >= c->end)
        return false;
      char e = *c->s++;
      if (e == 'u') {
        for (int i = 0; i < 4; i++, c->s++)
          if (c->s >= c->end || !strchr("0123456789abcdefABCDEF", *c->s) || !*c->s)
            return false;
      } else if (!strchr("\"\\/bfnrt", e) || !e) {
        return false;
      }
    }
  }
  return false;
}

static bool digits(cursor *c) {
  const char *start = c->s;
  while (c->s < c->end && *c->s >= '0' && *c->s <= '9')
    c->s++;
  return c->s > start;
}

static bool number(cursor *c) {
  if (c->s < c->end && *c->s == '-')
    c->s++;
  if (c->s < c->end && *c->s == '0')
    c->s++;
  else if (!digits(c))
    return false;
  if (c->s < c->end && *c->s == '.') {
    c->s++;
    if (!digits(c))
      return false;
  }
  if (c->s < c->end && (*c->s == 'e' || *c->s == 'E')) {
    c->s++;
    if (c->s < c->end && (*c->s == '+' || *c->s == '-'))
      c->s++;
    if (!digits(c))
      return false;
  }
  return true;
}

static bool container(cursor *c, char close, bool object) {
  if (++c->depth > MAX_DEPTH)
    return false;
  c->s++;
  skip_ws(c);
  if (c->s < c->end && *c->s == close) {
    c->s++;
    c->depth--;
    return true;
  }
  for (;;) {
    if (object) {
      skip_ws(c);
      if (!string(c))
        return false;
      skip_ws(c);
      if (c->s >= c->end || *c->s++ != ':')
        return false;
    }
    if (!value(c))
      return false;
    skip_ws(c);
    if (c->s >= c->end)
      return false;
    char ch = *c->s++;
    if (ch == close) {
      c->depth--;
      return true;
    }
    if (ch != ',')
      return false;
  }
}

static bool value(cursor *c) {
  skip_ws(c);
  if (c->s >= c->end)
    return false;
  switch (*c->s) {
  case '{': return container(c, '}', true);
  case '[': return container(c, ']', false);
  case '"': return string(c);
  case 't': return literal(c, "true");
  case 'f': return literal(c, "false");
  case 'n': return literal(c, "null");
  default: return number(c);
  }
}

bool eryx__json_valid(const char *s, size_t n) {
  cursor c = {s, s + n, 0};
  if (!value(&c))
    return false;
  skip_ws(&c);
  return c.s == c.end;
}

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
