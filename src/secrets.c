/*
 * secrets.c — a sandbox's secrets: their copies, the placeholders of the
 * current execution, and scrubbing.
 *
 * The value of a secret never enters the guest: the guest sees a random
 * placeholder per execution (os.environ[name]), and the network layer puts
 * the value in place of the placeholder in HTTP/1.1 request headers to the
 * secret's allowed hosts (deps/wasmtime/src/net/). A value can come back
 * into the guest only from the network (a server that echoes it), so
 * everything that leaves the guest is scrubbed: each value (as is and as
 * JSON would escape it) and each current placeholder become "[REDACTED]".
 *
 * Scrubbing a stream (what live output handlers get) keeps a carry-over:
 * the tail of what was written that could be the start of a pattern is held
 * back until the next write tells whether it is one, so a value cut between
 * two writes is still caught. Patterns are valid UTF-8, so a match always
 * starts on a character boundary and what is passed on never cuts one.
 */
#include "internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#define PLACEHOLDER_PREFIX "ERYX_SECRET_"
#define PLACEHOLDER_LEN (sizeof PLACEHOLDER_PREFIX - 1 + 32)
#define REDACTED "[REDACTED]"

typedef struct secret_def {
  char *name;
  size_t name_len;
  char *value;
  size_t value_len;
  char *value_json; /* the value as a JSON string's body (NULL: the same) */
  size_t value_json_len;
  eryx_str *hosts; /* each allocated */
  size_t host_count;
  char placeholder[PLACEHOLDER_LEN + 1];
} secret_def;

typedef struct pattern {
  const char *s;
  size_t len;
  bool is_value; /* a value (not a placeholder) */
} pattern;

struct eryx_secrets {
  secret_def *defs;
  size_t count;
  bool scrub[4]; /* ERYX__SCRUB_STDOUT.. */
  pattern *patterns; /* up to 3 per secret */
  size_t pattern_count;
  bool first[256]; /* bytes a pattern starts with */
  eryx_net_secrets *net; /* compiled for the network layer's substitution */
};

static bool env_name_ok(const char *s, size_t n) {
  if (n == 0)
    return false;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    bool alpha = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
    if (!(alpha || (i > 0 && c >= '0' && c <= '9')))
      return false;
  }
  return true;
}

void eryx__secrets_free(eryx_secrets *s) {
  if (!s)
    return;
  for (size_t i = 0; i < s->count; i++) {
    secret_def *d = &s->defs[i];
    free(d->name);
    if (d->value) /* wiped: it is a credential */
      memset(d->value, 0, d->value_len);
    free(d->value);
    if (d->value_json)
      memset(d->value_json, 0, d->value_json_len);
    free(d->value_json);
    for (size_t k = 0; k < d->host_count; k++)
      free((char *)d->hosts[k].data);
    free(d->hosts);
  }
  free(s->defs);
  free(s->patterns);
  eryx__net_secrets_free(s->net);
  free(s);
}

/* A short, printable form of a secret's name for messages. */
#define NAME_ARG(p, n) (int)eryx__utf8_prefix((p) ? (p) : "", (p) ? (n) : 0, 64), (p) ? (p) : ""

static eryx_error *copy_secret(const eryx_secret *in, size_t index, secret_def *d) {
  if (!in || in->version < 1 || in->version > ERYX_SECRET_VERSION)
    return eryx__error_new(ERYX_ERR_INVALID_ARGUMENT,
                           "secrets[%zu]: unsupported eryx_secret version %u", index,
                           in ? in->version : 0);
  if (!in->name || !env_name_ok(in->name, in->name_len))
    return eryx__error_new(ERYX_ERR_INVALID_ARGUMENT,
                           "secret '%.*s' (secrets[%zu]): the name must be an environment "
                           "variable name ([A-Za-z_][A-Za-z0-9_]*)",
                           NAME_ARG(in->name, in->name_len), index);
  if (!in->value || in->value_len == 0)
    return eryx__error_new(ERYX_ERR_INVALID_ARGUMENT, "secret '%.*s': the value is empty",
                           (int)in->name_len, in->name);
  bool control = false;
  for (size_t k = 0; k < in->value_len && !control; k++) {
    unsigned char c = (unsigned char)in->value[k];
    control = (c < 0x20 && c != '\t') || c == 0x7f;
  }
  if (control || !eryx__utf8_valid(in->value, in->value_len))
    return eryx__error_new(ERYX_ERR_INVALID_ARGUMENT,
                           "secret '%.*s': the value must be UTF-8 text without control "
                           "characters (CR, LF, NUL, ...: it goes into an HTTP header)",
                           (int)in->name_len, in->name);
  if (in->allowed_hosts_count && !in->allowed_hosts)
    return eryx__error_new(ERYX_ERR_INVALID_ARGUMENT,
                           "secret '%.*s': allowed_hosts is NULL with a non-zero count",
                           (int)in->name_len, in->name);
  for (size_t k = 0; k < in->allowed_hosts_count; k++) {
    const eryx_str *h = &in->allowed_hosts[k];
    if (!h->data || !h->len || !eryx__utf8_valid(h->data, h->len) ||
        memchr(h->data, '\0', h->len))
      return eryx__error_new(ERYX_ERR_INVALID_ARGUMENT,
                             "secret '%.*s': allowed_hosts[%zu] is empty or not text",
                             (int)in->name_len, in->name, k);
  }
  /* The patterns must be ones the network policy reads. */
  if (in->allowed_hosts_count) {
    eryx_net_options no = ERYX_NET_OPTIONS_INIT;
    no.allowed_hosts = in->allowed_hosts;
    no.allowed_hosts_count = in->allowed_hosts_count;
    char why[512] = "";
    eryx_net_policy *p = eryx__net_policy_new(&no, why, sizeof why);
    if (!p)
      return eryx__error_new(ERYX_ERR_INVALID_ARGUMENT, "secret '%.*s': allowed_hosts: %s",
                             (int)in->name_len, in->name, why);
    eryx__net_policy_free(p);
  }
  if (!(d->name = eryx__strndup(in->name, in->name_len)) ||
      !(d->value = eryx__strndup(in->value, in->value_len)))
    return eryx__error_new(ERYX_ERR_RESOURCES, "out of memory");
  d->name_len = in->name_len;
  d->value_len = in->value_len;
  /* As JSON (ensure_ascii, as Python's json writes it) spells the value. */
  eryx_buf j = {0};
  eryx__json_append_string(&j, in->value, in->value_len);
  if (j.oom) {
    eryx__buf_free(&j);
    return eryx__error_new(ERYX_ERR_RESOURCES, "out of memory");
  }
  if (j.len - 2 != in->value_len || memcmp(j.data + 1, in->value, in->value_len)) {
    d->value_json_len = j.len - 2;
    d->value_json = eryx__strndup(j.data + 1, j.len - 2);
  }
  memset(j.data, 0, j.len);
  eryx__buf_free(&j);
  if (d->value_json_len && !d->value_json)
    return eryx__error_new(ERYX_ERR_RESOURCES, "out of memory");
  if (in->allowed_hosts_count &&
      !(d->hosts = calloc(in->allowed_hosts_count, sizeof *d->hosts)))
    return eryx__error_new(ERYX_ERR_RESOURCES, "out of memory");
  for (size_t k = 0; k < in->allowed_hosts_count; k++) {
    const eryx_str *h = &in->allowed_hosts[k];
    char *c = eryx__strndup(h->data, h->len);
    if (!c)
      return eryx__error_new(ERYX_ERR_RESOURCES, "out of memory");
    d->hosts[k] = (eryx_str){c, h->len};
    d->host_count++;
  }
  return NULL;
}

static bool switch_on(int v) { return v >= 0; }

eryx_error *eryx__secrets_from_options(const eryx_sandbox_options *o, eryx_secrets **out) {
  *out = NULL;
  if (!o || o->version < 4 || o->secret_count == 0)
    return NULL;
  if (!o->secrets)
    return eryx__error_new(ERYX_ERR_INVALID_ARGUMENT,
                           "secrets is NULL with a non-zero secret_count");
  eryx_secrets *s = calloc(1, sizeof *s);
  if (!s || !(s->defs = calloc(o->secret_count, sizeof *s->defs)) ||
      !(s->patterns = calloc(o->secret_count * 3, sizeof *s->patterns))) {
    eryx__secrets_free(s);
    return eryx__error_new(ERYX_ERR_RESOURCES, "out of memory");
  }
  s->scrub[ERYX__SCRUB_STDOUT] = switch_on(o->scrub_stdout);
  s->scrub[ERYX__SCRUB_STDERR] = switch_on(o->scrub_stderr);
  s->scrub[ERYX__SCRUB_RESULT] = switch_on(o->scrub_result);
  s->scrub[ERYX__SCRUB_FILES] = switch_on(o->scrub_files);
  for (size_t i = 0; i < o->secret_count; i++) {
    eryx_error *err = copy_secret(&o->secrets[i], i, &s->defs[i]);
    s->count = i + 1; /* what copy_secret filled is freed with the rest */
    for (size_t k = 0; !err && k < i; k++)
      if (s->defs[k].name_len == s->defs[i].name_len &&
          !memcmp(s->defs[k].name, s->defs[i].name, s->defs[i].name_len))
        err = eryx__error_new(ERYX_ERR_INVALID_ARGUMENT, "secret '%s' is given twice",
                              s->defs[i].name);
    if (err) {
      eryx__secrets_free(s);
      return err;
    }
  }
  /* The network layer's own copy (it substitutes; it checks again). */
  eryx_net_secret_spec *specs = calloc(s->count, sizeof *specs);
  if (!specs) {
    eryx__secrets_free(s);
    return eryx__error_new(ERYX_ERR_RESOURCES, "out of memory");
  }
  for (size_t i = 0; i < s->count; i++) {
    secret_def *d = &s->defs[i];
    specs[i] = (eryx_net_secret_spec){{d->name, d->name_len}, {d->value, d->value_len},
                                      d->hosts, d->host_count};
  }
  char why[512] = "";
  s->net = eryx__net_secrets_new(specs, s->count, why, sizeof why);
  free(specs);
  if (!s->net) {
    eryx__secrets_free(s);
    return eryx__error_new(ERYX_ERR_INVALID_ARGUMENT, "%s", why);
  }
  if (!eryx__secrets_renew(s)) {
    eryx__secrets_free(s);
    return eryx__error_new(ERYX_ERR_RESOURCES, "no randomness for the secrets' placeholders");
  }
  *out = s;
  return NULL;
}

bool eryx__secrets_renew(eryx_secrets *s) {
  static const char hex[] = "0123456789abcdef";
  for (size_t i = 0; i < s->count; i++) {
    uint8_t r[16];
    size_t got = 0;
    while (got < sizeof r) {
      ssize_t n = getrandom(r + got, sizeof r - got, 0);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return false;
      got += (size_t)n;
    }
    char *p = s->defs[i].placeholder;
    memcpy(p, PLACEHOLDER_PREFIX, sizeof PLACEHOLDER_PREFIX - 1);
    for (size_t k = 0; k < sizeof r; k++) {
      p[sizeof PLACEHOLDER_PREFIX - 1 + 2 * k] = hex[r[k] >> 4];
      p[sizeof PLACEHOLDER_PREFIX - 1 + 2 * k + 1] = hex[r[k] & 15];
    }
    p[PLACEHOLDER_LEN] = '\0';
  }
  /* The patterns: every value (and its JSON spelling), every placeholder. */
  s->pattern_count = 0;
  memset(s->first, 0, sizeof s->first);
  for (size_t i = 0; i < s->count; i++) {
    secret_def *d = &s->defs[i];
    s->patterns[s->pattern_count++] = (pattern){d->value, d->value_len, true};
    if (d->value_json)
      s->patterns[s->pattern_count++] = (pattern){d->value_json, d->value_json_len, true};
    s->patterns[s->pattern_count++] = (pattern){d->placeholder, PLACEHOLDER_LEN, false};
  }
  for (size_t i = 0; i < s->pattern_count; i++)
    s->first[(uint8_t)s->patterns[i].s[0]] = true;
  return true;
}

size_t eryx__secrets_count(const eryx_secrets *s) { return s ? s->count : 0; }

bool eryx__secrets_scrubs(const eryx_secrets *s, int what) {
  return s && what >= 0 && what < 4 && s->scrub[what];
}

const char *eryx__secrets_name(const eryx_secrets *s, size_t i, size_t *len) {
  *len = s->defs[i].name_len;
  return s->defs[i].name;
}

const char *eryx__secrets_value(const eryx_secrets *s, size_t i, size_t *len) {
  *len = s->defs[i].value_len;
  return s->defs[i].value;
}

const char *eryx__secrets_placeholder(const eryx_secrets *s, size_t i, size_t *len) {
  *len = PLACEHOLDER_LEN;
  return s->defs[i].placeholder;
}

const eryx_str *eryx__secrets_hosts(const eryx_secrets *s, size_t i, size_t *count) {
  *count = s->defs[i].host_count;
  return s->defs[i].hosts;
}

/* The longest pattern matching at t[i..n) (0: none). With `partial`, sets
 * *could to whether t[i..n) is a proper prefix of a pattern (more text
 * might make it one). */
static size_t match_at(const eryx_secrets *s, const char *t, size_t i, size_t n,
                       bool *could, bool values_only) {
  size_t best = 0;
  if (could)
    *could = false;
  if (!s->first[(uint8_t)t[i]])
    return 0;
  for (size_t k = 0; k < s->pattern_count; k++) {
    const pattern *p = &s->patterns[k];
    if (values_only && !p->is_value)
      continue;
    if (p->len <= n - i) {
      if (p->len > best && !memcmp(t + i, p->s, p->len))
        best = p->len;
    } else if (could && !memcmp(t + i, p->s, n - i)) {
      *could = true;
    }
  }
  return best;
}

/* Appends t[0..n) scrubbed to `out`; returns where it stopped: n, or the
 * start of a tail that could still become a pattern when `hold` is set.
 * `cut_tail`: a tail that is the start of a value is redacted (the text
 * was cut there, by a budget: what is left of a value is still a value's
 * part). */
static size_t scrub_into(const eryx_secrets *s, eryx_buf *out, const char *t, size_t n,
                         bool hold, bool cut_tail, size_t *hits) {
  size_t i = 0, plain = 0;
  while (i < n) {
    bool could = false;
    size_t m = match_at(s, t, i, n, hold || cut_tail ? &could : NULL, false);
    if (m) {
      eryx__buf_append(out, t + plain, i - plain);
      eryx__buf_append(out, REDACTED, sizeof REDACTED - 1);
      i += m;
      plain = i;
      (*hits)++;
      continue;
    }
    if (could && hold) {
      eryx__buf_append(out, t + plain, i - plain);
      return i;
    }
    if (could && cut_tail) {
      bool value_prefix = false;
      match_at(s, t, i, n, &value_prefix, true);
      if (value_prefix) {
        eryx__buf_append(out, t + plain, i - plain);
        eryx__buf_append(out, REDACTED, sizeof REDACTED - 1);
        (*hits)++;
        return n;
      }
    }
    i++;
  }
  eryx__buf_append(out, t + plain, n - plain);
  return n;
}

bool eryx__scrub_field(const eryx_secrets *s, char **field, size_t *len, bool cut_tail) {
  if (!s || !*field || !*len)
    return true;
  eryx_buf b = {0};
  size_t hits = 0;
  scrub_into(s, &b, *field, *len, false, cut_tail, &hits);
  if (b.oom) {
    eryx__buf_free(&b);
    return false;
  }
  if (!hits) {
    eryx__buf_free(&b);
    return true;
  }
  free(*field);
  *field = eryx__buf_take(&b, len);
  return *field != NULL;
}

void eryx__scrub_append(const eryx_secrets *s, eryx_buf *out, const char *t, size_t n) {
  size_t hits = 0;
  if (!s)
    eryx__buf_append(out, t, n);
  else
    scrub_into(s, out, t, n, false, false, &hits);
}

void eryx__scrub_stream(const eryx_secrets *s, eryx_buf *carry, const char *t, size_t n,
                        eryx_buf *out) {
  size_t hits = 0;
  if (!carry->len) {
    size_t stop = scrub_into(s, out, t, n, true, false, &hits);
    eryx__buf_append(carry, t + stop, n - stop);
    return;
  }
  eryx__buf_append(carry, t, n);
  eryx_buf all = *carry;
  *carry = (eryx_buf){0};
  size_t stop = scrub_into(s, out, all.data, all.len, true, false, &hits);
  eryx__buf_append(carry, all.data + stop, all.len - stop);
  eryx__buf_free(&all);
}

void eryx__scrub_stream_end(const eryx_secrets *s, eryx_buf *carry, bool cut_tail,
                            eryx_buf *out) {
  size_t hits = 0;
  scrub_into(s, out, carry->data ? carry->data : "", carry->len, false, cut_tail, &hits);
  eryx__buf_free(carry);
}

const char *eryx__secrets_held_in(const eryx_secrets *s, const char *t, size_t n) {
  if (!s)
    return NULL;
  for (size_t i = 0; i < n; i++) {
    if (!s->first[(uint8_t)t[i]])
      continue;
    for (size_t k = 0; k < s->count; k++) {
      const secret_def *d = &s->defs[k];
      if ((d->value_len <= n - i && !memcmp(t + i, d->value, d->value_len)) ||
          (d->value_json && d->value_json_len <= n - i &&
           !memcmp(t + i, d->value_json, d->value_json_len)))
        return d->name;
    }
  }
  return NULL;
}

eryx_error *eryx__secrets_install(const eryx_secrets *s, eryx_net_table *table) {
  if (!s || !table)
    return NULL;
  eryx_str *ph = calloc(s->count, sizeof *ph);
  if (!ph)
    return eryx__error_new(ERYX_ERR_RESOURCES, "out of memory");
  for (size_t i = 0; i < s->count; i++)
    ph[i] = (eryx_str){s->defs[i].placeholder, PLACEHOLDER_LEN};
  char why[512] = "";
  int rc = eryx__net_table_set_secrets(table, s->net, ph, s->count, why, sizeof why);
  free(ph);
  return rc == 0 ? NULL : eryx__error_new(ERYX_ERR_INTERNAL, "secrets: %s", why);
}
