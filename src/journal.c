/*
 * journal.c — callback replay journals: loading (and verifying) the journal
 * an execution is given, matching its calls against it, and recording the
 * journal it hands back.
 *
 * Format (README "Replay and suspension"): one JSON object,
 *   {"code_sha256": "<64 hex>", "entries": [...], "format": "eryx-journal",
 *    "signature": "<64 hex>" (only when signed), "truncated": false,
 *    "version": 1}
 * each entry {"args": "<canonical JSON text>", "name": "...", "ok": true,
 * "value": "<the answer's JSON text>"} or, for a failure, "ok": false with
 * "error_type" and "message" instead of "value". Arguments and answers are
 * kept as text (strings), never as parsed trees: a journal in memory costs
 * about its size, and an answer replays byte for byte as the host gave it.
 * The text is jansson's compact serialization with sorted keys, which is
 * also the canonical form the signature (HMAC-SHA256, OpenSSL) covers,
 * computed over the object without its "signature" member.
 *
 * Replay. The loaded entries are sorted by key (name, canonical arguments)
 * and then by position, so the entries of one key form a run in which a
 * cursor marks the next unused one: lookups are a binary search, and
 * identical calls take their entries first in, first out whatever order
 * the calls start in. The first miss ends replay for the execution.
 *
 * Recording. Each call gets a slot in start order; the slot holds the
 * canonical arguments while the call is in flight and becomes an entry
 * when the call is answered (an entry tree of strings, counted by its
 * serialized size). Calls that end unanswered leave an empty slot, which
 * is skipped. The kept entries never exceed ERYX_JOURNAL_MAX_BYTES: when
 * one would not fit, the journal is cut before it (every slot from there
 * on is dropped, later ones are not recorded, and "truncated" is set), so
 * a journal is always a complete record of the calls up to its end.
 *
 * Hostile input. The guest decides the arguments (at most
 * max_callback_args_bytes each, checked before they get here) and the
 * journal may come from anyone: it is capped in bytes, in entries
 * (max_callback_invocations) and, before jansson parses it, in structure
 * (a valid journal has a few JSON values per entry, so a text of mostly
 * tiny values, which would cost a parser many times its size, is refused
 * by counting them first).
 */
#include "journal.h"

#include <jansson.h>
#include <limits.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdlib.h>
#include <string.h>

#define FORMAT "eryx-journal"
#define FORMAT_VERSION 1
#define DUMP_FLAGS (JSON_COMPACT | JSON_SORT_KEYS)
/* Room kept for the header (format, version, hash, signature, flag). */
#define HEADER_RESERVE 1024
#define ENTRIES_CAP (ERYX_JOURNAL_MAX_BYTES - HEADER_RESERVE)
/* '{', '[', ',' and ':' outside strings: at most 11 per entry (5 members
 * and a separator), 13 for the header. */
#define STRUCTURE_PER_ENTRY 12
#define STRUCTURE_BASE 16

typedef struct loaded {
  const char *name; /* these point into the journal's tree */
  size_t name_len;
  const char *args;
  size_t args_len;
  eryx__journal_answer answer;
  size_t index; /* position in the journal */
} loaded;

typedef struct slot {
  bool pending;  /* started, not answered yet */
  char *name;    /* pending: the call's key */
  size_t name_len;
  char *args;
  size_t args_len;
  json_t *entry; /* answered and kept: the entry as written */
  size_t cost;   /* its bytes in the text (with a separator) */
} slot;

struct eryx__journal {
  uint8_t code_sha[32];
  uint8_t *key; /* NULL: not signed */
  size_t key_len;

  json_t *root;     /* the journal given (NULL: none) */
  loaded *entries;  /* its entries, in order */
  loaded **sorted;  /* by key, then position */
  size_t *cursor;   /* at the first position of each key's run: its next */
  size_t count;
  bool replaying;
  uint32_t replayed;

  slot *slots;
  size_t nslots, cap_slots;
  size_t cutoff; /* slots from here on are not kept */
  size_t bytes;  /* of the kept entries */
  bool truncated;
};

/* ------------------------------------------------------------- helpers */

/* jansson's text of `v` (flags as json_dumpb), malloc'd and NUL-terminated. */
static char *dump(const json_t *v, size_t flags, size_t *len) {
  size_t n = json_dumpb(v, NULL, 0, flags);
  char *buf = n ? malloc(n + 1) : NULL;
  if (!buf)
    return NULL;
  if (json_dumpb(v, buf, n, flags) != n) {
    free(buf);
    return NULL;
  }
  buf[n] = '\0';
  *len = n;
  return buf;
}

static void to_hex(const uint8_t *p, size_t n, char *out) {
  static const char digits[] = "0123456789abcdef";
  for (size_t i = 0; i < n; i++) {
    out[2 * i] = digits[p[i] >> 4];
    out[2 * i + 1] = digits[p[i] & 15];
  }
  out[2 * n] = '\0';
}

/* Lowercase hex of exactly `n` bytes. */
static bool from_hex(const char *s, size_t len, uint8_t *out, size_t n) {
  if (len != 2 * n)
    return false;
  for (size_t i = 0; i < len; i++) {
    char c = s[i];
    int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
    if (v < 0)
      return false;
    if (i % 2)
      out[i / 2] = (uint8_t)(out[i / 2] | v);
    else
      out[i / 2] = (uint8_t)(v << 4);
  }
  return true;
}

/* HMAC-SHA256 of the canonical text of `root` (which must not hold the
 * signature). */
static bool mac_of(const eryx__journal *j, const json_t *root, uint8_t mac[32]) {
  size_t n;
  char *text = dump(root, DUMP_FLAGS, &n);
  if (!text)
    return false;
  unsigned int mac_len = 0;
  bool ok = HMAC(EVP_sha256(), j->key, (int)j->key_len, (const unsigned char *)text, n, mac,
                 &mac_len) != NULL &&
            mac_len == 32;
  OPENSSL_cleanse(text, n);
  free(text);
  return ok;
}

static bool str_is(const json_t *v, const char *s) {
  return json_is_string(v) && json_string_length(v) == strlen(s) &&
         memcmp(json_string_value(v), s, strlen(s)) == 0;
}

static int key_cmp(const char *an, size_t anl, const char *aa, size_t aal, const char *bn,
                   size_t bnl, const char *ba, size_t bal) {
  if (anl != bnl)
    return anl < bnl ? -1 : 1;
  int c = memcmp(an, bn, anl);
  if (c)
    return c;
  if (aal != bal)
    return aal < bal ? -1 : 1;
  return memcmp(aa, ba, aal);
}

static int sorted_cmp(const void *pa, const void *pb) {
  const loaded *a = *(const loaded *const *)pa, *b = *(const loaded *const *)pb;
  int c = key_cmp(a->name, a->name_len, a->args, a->args_len, b->name, b->name_len, b->args,
                  b->args_len);
  if (c)
    return c;
  return (a->index > b->index) - (a->index < b->index);
}

char *eryx__journal_canonical_args(const char *args, size_t len, size_t *out_len) {
  json_error_t jerr;
  json_t *v = json_loadb(args ? args : "", len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
  char *out = NULL;
  if (v) {
    out = dump(v, DUMP_FLAGS | JSON_ENCODE_ANY, out_len);
    json_decref(v);
  }
  if (!out) { /* jansson cannot hold it (an integer beyond 64 bits) */
    out = eryx__strndup(args ? args : "", len);
    *out_len = len;
  }
  return out;
}

/* --------------------------------------------------------------- loading */

/* '{', '[', ',' and ':' outside strings (a bound on the values jansson
 * would build). */
static size_t structure_count(const char *s, size_t n) {
  size_t count = 0;
  bool in_string = false;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (in_string) {
      if (c == '\\')
        i++;
      else if (c == '"')
        in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[' || c == ',' || c == ':') {
      count++;
    }
  }
  return count;
}

/* NULL if `e` is a well-formed entry (then `*out` is filled), else what is
 * wrong with it. */
static const char *check_entry(const json_t *e, loaded *out) {
  if (!json_is_object(e))
    return "it is not an object";
  const json_t *name = json_object_get(e, "name"), *args = json_object_get(e, "args"),
               *ok = json_object_get(e, "ok");
  if (!json_is_string(name) || json_string_length(name) == 0)
    return "\"name\" is not a non-empty string";
  if (!json_is_string(args))
    return "\"args\" is not a string";
  if (!json_is_boolean(ok))
    return "\"ok\" is not true or false";
  out->name = json_string_value(name);
  out->name_len = json_string_length(name);
  out->args = json_string_value(args);
  out->args_len = json_string_length(args);
  out->answer.ok = json_is_true(ok);
  if (out->answer.ok) {
    const json_t *value = json_object_get(e, "value");
    if (!json_is_string(value))
      return "\"value\" (an answer's JSON text) is not a string";
    if (json_object_size(e) != 4)
      return "a success has fields other than name, args, ok and value";
    out->answer.value = json_string_value(value);
    out->answer.value_len = json_string_length(value);
    out->answer.error_type = "";
    out->answer.error_type_len = 0;
  } else {
    const json_t *type = json_object_get(e, "error_type"),
                 *message = json_object_get(e, "message");
    if (!json_is_string(type) || !json_is_string(message))
      return "a failure needs \"error_type\" and \"message\" strings";
    if (json_object_size(e) != 5)
      return "a failure has fields other than name, args, ok, error_type and message";
    out->answer.value = json_string_value(message);
    out->answer.value_len = json_string_length(message);
    out->answer.error_type = json_string_value(type);
    out->answer.error_type_len = json_string_length(type);
  }
  return NULL;
}

static const char *const top_fields[] = {"code_sha256", "entries", "format",
                                         "signature",   "truncated", "version"};

static eryx_error *load(eryx__journal *j, const char *text, size_t len, uint32_t max_entries) {
  if (len > ERYX_JOURNAL_MAX_BYTES)
    return eryx__error_new(ERYX_ERR_JOURNAL,
                           "the journal is %zu bytes, more than ERYX_JOURNAL_MAX_BYTES (%zu)", len,
                           ERYX_JOURNAL_MAX_BYTES);
  if (structure_count(text, len) > STRUCTURE_BASE + STRUCTURE_PER_ENTRY * (size_t)max_entries)
    return eryx__error_new(ERYX_ERR_JOURNAL,
                           "the journal is not a journal: it holds more JSON values than %u "
                           "entries (max_callback_invocations) can",
                           max_entries);
  json_error_t jerr;
  j->root = json_loadb(text, len, JSON_ALLOW_NUL | JSON_REJECT_DUPLICATES, &jerr);
  if (!j->root)
    return eryx__error_new(ERYX_ERR_JOURNAL, "the journal is not JSON: %s (line %d, column %d)",
                           jerr.text, jerr.line, jerr.column);
  json_t *root = j->root;
  if (!json_is_object(root))
    return eryx__error_new(ERYX_ERR_JOURNAL, "the journal is not a JSON object");
  if (!str_is(json_object_get(root, "format"), FORMAT))
    return eryx__error_new(ERYX_ERR_JOURNAL,
                           "the journal is not an Eryx journal (its \"format\" is not \"" FORMAT
                           "\")");
  const json_t *version = json_object_get(root, "version");
  if (!json_is_integer(version))
    return eryx__error_new(ERYX_ERR_JOURNAL, "the journal's \"version\" is not an integer");
  if (json_integer_value(version) != FORMAT_VERSION)
    return eryx__error_new(ERYX_ERR_JOURNAL,
                           "the journal's format version is %lld; this library reads version %d",
                           (long long)json_integer_value(version), FORMAT_VERSION);
  for (void *it = json_object_iter(root); it; it = json_object_iter_next(root, it)) {
    const char *k = json_object_iter_key(it);
    size_t klen = json_object_iter_key_len(it), f = 0;
    while (f < sizeof top_fields / sizeof top_fields[0] &&
           !(strlen(top_fields[f]) == klen && memcmp(top_fields[f], k, klen) == 0))
      f++;
    if (f == sizeof top_fields / sizeof top_fields[0])
      return eryx__error_new(ERYX_ERR_JOURNAL, "the journal has an unknown field \"%.*s\"",
                             (int)eryx__utf8_prefix(k, klen, 100), k);
  }
  const json_t *sha = json_object_get(root, "code_sha256");
  uint8_t digest[32];
  if (!json_is_string(sha) ||
      !from_hex(json_string_value(sha), json_string_length(sha), digest, sizeof digest))
    return eryx__error_new(ERYX_ERR_JOURNAL,
                           "the journal's \"code_sha256\" is not 64 lowercase hex digits");
  if (!json_is_boolean(json_object_get(root, "truncated")))
    return eryx__error_new(ERYX_ERR_JOURNAL, "the journal's \"truncated\" is not true or false");
  const json_t *sig = json_object_get(root, "signature");
  if (sig && !json_is_string(sig))
    return eryx__error_new(ERYX_ERR_JOURNAL, "the journal's \"signature\" is not a string");
  const json_t *entries = json_object_get(root, "entries");
  if (!json_is_array(entries))
    return eryx__error_new(ERYX_ERR_JOURNAL, "the journal's \"entries\" is not an array");
  size_t n = json_array_size(entries);
  if (n > max_entries)
    return eryx__error_new(ERYX_ERR_JOURNAL,
                           "the journal holds %zu entries, more than max_callback_invocations "
                           "(%u)",
                           n, max_entries);
  j->entries = calloc(n ? n : 1, sizeof *j->entries);
  j->sorted = calloc(n ? n : 1, sizeof *j->sorted);
  j->cursor = calloc(n ? n : 1, sizeof *j->cursor);
  if (!j->entries || !j->sorted || !j->cursor)
    return eryx__error_new(ERYX_ERR_RESOURCES, "out of memory loading the journal");
  for (size_t i = 0; i < n; i++) {
    const char *why = check_entry(json_array_get(entries, i), &j->entries[i]);
    if (why)
      return eryx__error_new(ERYX_ERR_JOURNAL, "the journal's entry %zu is malformed: %s", i,
                             why);
    j->entries[i].index = i;
    j->sorted[i] = &j->entries[i];
    j->cursor[i] = i;
  }
  j->count = n;
  qsort(j->sorted, n, sizeof *j->sorted, sorted_cmp);
  return NULL;
}

/* With a key: the signature, then the code's hash. */
static eryx_error *verify(eryx__journal *j) {
  json_t *sig = json_object_get(j->root, "signature");
  if (!sig)
    return eryx__error_new(ERYX_ERR_JOURNAL, "the journal is not signed");
  uint8_t want[32], got[32];
  bool well_formed =
      from_hex(json_string_value(sig), json_string_length(sig), want, sizeof want);
  json_object_del(j->root, "signature"); /* what the signature covers */
  if (!mac_of(j, j->root, got))
    return eryx__error_new(ERYX_ERR_RESOURCES, "out of memory checking the journal");
  if (!well_formed || CRYPTO_memcmp(want, got, sizeof got) != 0)
    return eryx__error_new(ERYX_ERR_JOURNAL,
                           "the journal's signature does not match: it was changed or signed "
                           "with another key");
  const json_t *sha = json_object_get(j->root, "code_sha256");
  uint8_t digest[32];
  from_hex(json_string_value(sha), json_string_length(sha), digest, sizeof digest);
  if (memcmp(digest, j->code_sha, sizeof digest) != 0)
    return eryx__error_new(ERYX_ERR_JOURNAL, "the journal was recorded for different code");
  return NULL;
}

eryx_error *eryx__journal_open(const eryx_journal_options *opts, const char *code,
                               size_t code_len, uint32_t max_entries, eryx__journal **out) {
  *out = NULL;
  if (opts) {
    if (opts->version < 1 || opts->version > ERYX_JOURNAL_OPTIONS_VERSION)
      return eryx__error_new(ERYX_ERR_INVALID_ARGUMENT,
                             "unsupported eryx_journal_options version %u", opts->version);
    if (!opts->journal && opts->journal_len)
      return eryx__error_new(ERYX_ERR_INVALID_ARGUMENT,
                             "journal is NULL with journal_len %zu", opts->journal_len);
    if (!opts->key && opts->key_len)
      return eryx__error_new(ERYX_ERR_INVALID_ARGUMENT, "key is NULL with key_len %zu",
                             opts->key_len);
    if (opts->key && (opts->key_len == 0 || opts->key_len > INT_MAX))
      return eryx__error_new(ERYX_ERR_INVALID_ARGUMENT,
                             "the journal key must be 1 to INT_MAX bytes, not %zu",
                             opts->key_len);
  }
  eryx__journal *j = calloc(1, sizeof *j);
  if (!j)
    return eryx__error_new(ERYX_ERR_RESOURCES, "out of memory");
  j->cutoff = SIZE_MAX;
  eryx_error *err = NULL;
  if (!EVP_Digest(code ? code : "", code_len, j->code_sha, NULL, EVP_sha256(), NULL))
    err = eryx__error_new(ERYX_ERR_RESOURCES, "cannot hash the code (OpenSSL)");
  if (!err && opts && opts->key) {
    if ((j->key = malloc(opts->key_len))) {
      memcpy(j->key, opts->key, opts->key_len);
      j->key_len = opts->key_len;
    } else {
      err = eryx__error_new(ERYX_ERR_RESOURCES, "out of memory");
    }
  }
  if (!err && opts && opts->journal) {
    err = load(j, opts->journal, opts->journal_len, max_entries);
    if (!err && j->key)
      err = verify(j);
    j->replaying = j->count > 0;
  }
  if (err) {
    eryx__journal_free(j);
    return err;
  }
  *out = j;
  return NULL;
}

static void slot_clear(slot *s) {
  free(s->name);
  free(s->args);
  json_decref(s->entry);
  memset(s, 0, sizeof *s);
}

void eryx__journal_free(eryx__journal *j) {
  if (!j)
    return;
  for (size_t i = 0; i < j->nslots; i++)
    slot_clear(&j->slots[i]);
  free(j->slots);
  free(j->entries);
  free(j->sorted);
  free(j->cursor);
  json_decref(j->root);
  if (j->key)
    OPENSSL_cleanse(j->key, j->key_len);
  free(j->key);
  free(j);
}

/* ---------------------------------------------------------- executions */

/* The first unused entry for this key, taken; NULL when there is none. */
static const loaded *take_entry(eryx__journal *j, const char *name, size_t name_len,
                                const char *args, size_t args_len) {
  size_t lo = 0, hi = j->count;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    const loaded *e = j->sorted[mid];
    if (key_cmp(e->name, e->name_len, e->args, e->args_len, name, name_len, args, args_len) < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  if (lo == j->count)
    return NULL;
  size_t next = j->cursor[lo]; /* lo is the first of its key's run */
  if (next >= j->count)
    return NULL;
  const loaded *e = j->sorted[next];
  if (key_cmp(e->name, e->name_len, e->args, e->args_len, name, name_len, args, args_len) != 0)
    return NULL;
  j->cursor[lo] = next + 1;
  return e;
}

/* Drops every slot from `k` on; nothing from there is recorded any more. */
static void cut(eryx__journal *j, size_t k) {
  for (size_t i = k; i < j->nslots; i++) {
    if (j->slots[i].entry)
      j->bytes -= j->slots[i].cost;
    slot_clear(&j->slots[i]);
  }
  if (k < j->cutoff)
    j->cutoff = k;
  j->truncated = true;
}

bool eryx__journal_call_start(eryx__journal *j, const char *name, size_t name_len,
                              const char *args, size_t args_len, size_t *slot_out,
                              const eryx__journal_answer **replay) {
  *slot_out = ERYX__JOURNAL_NO_SLOT;
  *replay = NULL;
  size_t key_len = 0;
  char *key = eryx__journal_canonical_args(args, args_len, &key_len);
  if (!key) {
    j->replaying = false;
    cut(j, j->nslots);
    return false;
  }
  if (j->replaying) {
    const loaded *e = take_entry(j, name, name_len, key, key_len);
    if (e) {
      *replay = &e->answer;
      j->replayed++;
    } else {
      j->replaying = false; /* a miss: the rest runs live */
    }
  }
  if (j->nslots >= j->cutoff) {
    free(key);
    return true;
  }
  if (j->nslots == j->cap_slots) {
    size_t cap = j->cap_slots ? 2 * j->cap_slots : 16;
    slot *grown = realloc(j->slots, cap * sizeof *grown);
    if (!grown) {
      free(key);
      cut(j, j->nslots);
      return false;
    }
    j->slots = grown;
    j->cap_slots = cap;
  }
  slot *s = &j->slots[j->nslots];
  memset(s, 0, sizeof *s);
  if (!(s->name = eryx__strndup(name, name_len))) {
    free(key);
    cut(j, j->nslots);
    return false;
  }
  s->name_len = name_len;
  s->args = key;
  s->args_len = key_len;
  s->pending = true;
  *slot_out = j->nslots++;
  return true;
}

/* The entry a slot becomes; NULL when out of memory or for text jansson
 * will not hold. */
static json_t *make_entry(const slot *s, bool ok, const char *type, size_t type_len,
                          const char *value, size_t value_len) {
  json_t *e = json_object();
  int bad = !e;
  if (e) {
    bad |= json_object_set_new(e, "name", json_stringn(s->name, s->name_len));
    bad |= json_object_set_new(e, "args", json_stringn(s->args, s->args_len));
    bad |= json_object_set_new(e, "ok", json_boolean(ok));
    if (ok) {
      bad |= json_object_set_new(e, "value", json_stringn(value, value_len));
    } else {
      bad |= json_object_set_new(e, "error_type", json_stringn(type ? type : "", type_len));
      bad |= json_object_set_new(e, "message", json_stringn(value, value_len));
    }
  }
  if (bad) {
    json_decref(e);
    return NULL;
  }
  return e;
}

void eryx__journal_call_answered(eryx__journal *j, size_t i, bool ok, const char *error_type,
                                 size_t error_type_len, const char *value, size_t value_len) {
  if (i >= j->nslots || !j->slots[i].pending)
    return;
  slot *s = &j->slots[i];
  json_t *e = i < j->cutoff ? make_entry(s, ok, error_type, error_type_len, value ? value : "",
                                         value ? value_len : 0)
                            : NULL;
  size_t cost = e ? json_dumpb(e, NULL, 0, DUMP_FLAGS) + 1 : 0;
  if (!e || cost == 1) {
    json_decref(e);
    cut(j, i);
    return;
  }
  /* Earlier calls first: entries after this one make room if they must. */
  if (j->bytes + cost > ENTRIES_CAP)
    cut(j, i + 1);
  if (j->bytes + cost > ENTRIES_CAP) {
    json_decref(e);
    cut(j, i);
    return;
  }
  free(s->name);
  free(s->args);
  s->name = s->args = NULL;
  s->pending = false;
  s->entry = e;
  s->cost = cost;
  j->bytes += cost;
}

void eryx__journal_call_dropped(eryx__journal *j, size_t i) {
  if (i < j->nslots && j->slots[i].pending)
    slot_clear(&j->slots[i]);
}

uint32_t eryx__journal_replayed(const eryx__journal *j) { return j->replayed; }

char *eryx__journal_text(eryx__journal *j, size_t *len) {
  json_t *root = json_object(), *entries = json_array();
  char hex[65];
  to_hex(j->code_sha, sizeof j->code_sha, hex);
  int bad = !root || !entries;
  for (size_t i = 0; !bad && i < j->nslots && i < j->cutoff; i++)
    if (j->slots[i].entry)
      bad |= json_array_append(entries, j->slots[i].entry);
  if (!bad) {
    bad |= json_object_set_new(root, "format", json_string(FORMAT));
    bad |= json_object_set_new(root, "version", json_integer(FORMAT_VERSION));
    bad |= json_object_set_new(root, "code_sha256", json_string(hex));
    bad |= json_object_set_new(root, "truncated", json_boolean(j->truncated));
    bad |= json_object_set(root, "entries", entries);
  }
  if (!bad && j->key) {
    uint8_t mac[32];
    char sig[65];
    bad = !mac_of(j, root, mac);
    if (!bad) {
      to_hex(mac, sizeof mac, sig);
      bad |= json_object_set_new(root, "signature", json_string(sig));
    }
  }
  char *text = bad ? NULL : dump(root, DUMP_FLAGS, len);
  json_decref(entries);
  json_decref(root);
  return text;
}
