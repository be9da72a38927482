/*
 * vfs_archive.c — a whole eryx_vfs as ASCII text, for snapshots.
 *
 *   ERYXFILES <format> <FNV-1a 64 of the body, 16 hex digits>\n<base64 body>
 *
 * The body lists every entry, sorted by path: kind (u8: 0 file, 1 dir),
 * path length (u32 LE), path, mtime in ns (u64 LE), size (u64 LE), bytes.
 * Text, not bytes, because a session snapshot is text (it crosses the WIT
 * boundary as a string). The checksum catches corruption, not tampering:
 * an archive can only ever fill the tree it is imported into, within its
 * quota, so a forged one gains nothing.
 */
#include "vfs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAGIC "ERYXFILES"
#define FORMAT 1

static uint64_t fnv1a(const uint8_t *p, size_t n) {
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < n; i++) {
    h ^= p[i];
    h *= 1099511628211ull;
  }
  return h;
}

static void put_le(eryx_buf *b, uint64_t v, int bytes) {
  char tmp[8];
  for (int i = 0; i < bytes; i++)
    tmp[i] = (char)(v >> (8 * i));
  eryx__buf_append(b, tmp, (size_t)bytes);
}

static int by_path(const void *a, const void *b) {
  return strcmp((*(vfs_entry *const *)a)->path, (*(vfs_entry *const *)b)->path);
}

eryx_error *eryx__vfs_export_text(eryx_vfs *v, eryx_buf *out) {
  eryx_buf body = {0};
  pthread_mutex_lock(&v->lock);
  vfs_entry **sorted = malloc((v->count ? v->count : 1) * sizeof *sorted);
  if (sorted) {
    for (size_t i = 0; i < v->count; i++)
      sorted[i] = &v->entries[i];
    qsort(sorted, v->count, sizeof *sorted, by_path);
    for (size_t i = 0; i < v->count; i++) {
      vfs_entry *e = sorted[i];
      put_le(&body, e->dir ? 1 : 0, 1);
      put_le(&body, e->path_len, 4);
      eryx__buf_append(&body, e->path, e->path_len);
      put_le(&body, e->mtime_ns, 8);
      put_le(&body, e->size, 8);
      eryx__buf_append(&body, (const char *)e->data, e->size);
    }
  }
  pthread_mutex_unlock(&v->lock);
  free(sorted);
  if (!sorted || body.oom) {
    eryx__buf_free(&body);
    return eryx__error_new(ERYX_ERR_RESOURCES, "out of memory");
  }
  char head[64];
  int n = snprintf(head, sizeof head, "%s %d %016llx\n", MAGIC, FORMAT,
                   (unsigned long long)fnv1a((const uint8_t *)body.data, body.len));
  eryx__buf_append(out, head, (size_t)n);
  size_t n64 = eryx__base64_len(body.len);
  char *text = malloc(n64 ? n64 : 1);
  if (text) {
    eryx__base64_encode(text, (const uint8_t *)body.data, body.len);
    eryx__buf_append(out, text, n64);
    free(text);
  } else {
    out->oom = true;
  }
  eryx__buf_free(&body);
  return out->oom ? eryx__error_new(ERYX_ERR_RESOURCES, "out of memory") : NULL;
}

static uint64_t get_le(const uint8_t *p, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; i++)
    v |= (uint64_t)p[i] << (8 * i);
  return v;
}

static void free_entries(vfs_entry *e, size_t n) {
  for (size_t i = 0; i < n; i++) {
    free(e[i].path);
    free(e[i].data);
  }
  free(e);
}

static int by_entry_path(const void *a, const void *b) {
  return strcmp(((const vfs_entry *)a)->path, ((const vfs_entry *)b)->path);
}

static eryx_error *bad(const char *why) {
  return eryx__error_new(ERYX_ERR_SNAPSHOT, "not a valid file archive: %s", why);
}

/* One entry of the body at `at` (n bytes in all): checks its shape and
 * path, and returns the offset of the next one (0 if it is malformed). */
static size_t next_entry(const uint8_t *p, size_t n, size_t at, vfs_entry *e) {
  if (n - at < 5)
    return 0;
  uint8_t kind = p[at];
  uint64_t plen = get_le(p + at + 1, 4);
  at += 5;
  if (kind > 1 || plen == 0 || n - at < plen || n - at - plen < 16)
    return 0;
  const char *path = (const char *)p + at;
  uint64_t size = get_le(p + at + plen + 8, 8);
  if (eryx__vfs_check_path(path, plen) != VFS_OK || !eryx__utf8_valid(path, plen) ||
      (kind == 1 && size != 0) || size > n - at - plen - 16)
    return 0;
  e->path = (char *)path; /* not NUL-terminated: the body's bytes */
  e->path_len = plen;
  e->dir = kind == 1;
  e->mtime_ns = get_le(p + at + plen, 8);
  e->size = size;
  e->data = (uint8_t *)p + at + plen + 16;
  return at + plen + 16 + size;
}

/* Paths compared as strcmp() would (they hold no NUL). */
static int path_cmp(const char *a, size_t alen, const char *b, size_t blen) {
  int c = memcmp(a, b, alen < blen ? alen : blen);
  return c ? c : (alen > blen) - (alen < blen);
}

/* Parses the body into fresh entries; checks paths, order and parents. A
 * first pass only reads, so an archive that is malformed, has too many
 * entries or does not fit `quota` is refused before anything is allocated. */
static eryx_error *parse(const uint8_t *p, size_t n, uint64_t quota, vfs_entry **out,
                         size_t *count, uint64_t *bytes) {
  size_t k = 0;
  uint64_t total = 0;
  vfs_entry prev = {0}, e;
  for (size_t at = 0; at < n; k++) {
    if (!(at = next_entry(p, n, at, &e)))
      return bad("bad or truncated entry");
    if (k >= VFS_MAX_ENTRIES)
      return bad("too many entries");
    /* Strictly sorted by path (so lookups below can bisect). */
    if (k > 0 && path_cmp(prev.path, prev.path_len, e.path, e.path_len) >= 0)
      return bad("entries out of order");
    prev = e;
    total += e.size + VFS_ENTRY_COST(e.path_len);
  }
  if (quota != UINT64_MAX && total > quota)
    return eryx__error_new(ERYX_ERR_FILES,
                           "the snapshot's files (%llu bytes) exceed the quota (%llu bytes)",
                           (unsigned long long)total, (unsigned long long)quota);
  vfs_entry *all = calloc(k ? k : 1, sizeof *all);
  if (!all)
    return eryx__error_new(ERYX_ERR_RESOURCES, "out of memory");
  eryx_error *err = NULL;
  size_t made = 0;
  for (size_t at = 0; made < k; made++) {
    at = next_entry(p, n, at, &e);
    vfs_entry *d = &all[made];
    d->path = malloc(e.path_len + 1);
    d->data = e.size ? malloc(e.size) : NULL;
    if (!d->path || (e.size && !d->data)) {
      free(d->path);
      free(d->data);
      d->path = NULL;
      d->data = NULL;
      err = eryx__error_new(ERYX_ERR_RESOURCES, "out of memory");
      break;
    }
    memcpy(d->path, e.path, e.path_len);
    d->path[e.path_len] = '\0';
    d->path_len = e.path_len;
    d->dir = e.dir;
    d->mtime_ns = e.mtime_ns;
    d->size = d->cap = e.size;
    if (e.size)
      memcpy(d->data, e.data, e.size);
  }
  /* Every parent is a directory of the archive. */
  for (size_t i = 0; !err && i < k; i++) {
    const char *slash = strrchr(all[i].path, '/');
    if (!slash)
      continue;
    char *parent = strndup(all[i].path, (size_t)(slash - all[i].path));
    vfs_entry key = {.path = parent};
    vfs_entry *found = parent ? bsearch(&key, all, k, sizeof *all, by_entry_path) : NULL;
    if (!parent)
      err = eryx__error_new(ERYX_ERR_RESOURCES, "out of memory");
    else if (!found || !found->dir)
      err = bad("an entry has no parent directory");
    free(parent);
  }
  if (err) {
    free_entries(all, made);
    return err;
  }
  *out = all;
  *count = k;
  *bytes = total;
  return NULL;
}

struct vfs_staged {
  vfs_entry *entries;
  size_t count;
  uint64_t bytes;
};

void eryx__vfs_staged_free(vfs_staged *st) {
  if (!st)
    return;
  free_entries(st->entries, st->count);
  free(st);
}

eryx_error *eryx__vfs_stage_text(eryx_vfs *v, const char *text, size_t len,
                                 vfs_staged **out) {
  *out = NULL;
  const char *nl = memchr(text, '\n', len);
  unsigned format = 0;
  unsigned long long sum = 0;
  char magic[16];
  if (!nl || nl - text > 60)
    return bad("no header");
  char head[64];
  memcpy(head, text, (size_t)(nl - text));
  head[nl - text] = '\0';
  if (sscanf(head, "%15s %u %llx", magic, &format, &sum) != 3 || strcmp(magic, MAGIC) != 0)
    return bad("no header");
  if (format != FORMAT)
    return eryx__error_new(ERYX_ERR_SNAPSHOT,
                           "file archive format %u is not supported (this Eryx reads %d)",
                           format, FORMAT);
  const char *b = nl + 1;
  size_t b_len = len - (size_t)(b - text);
  /* The quota counts at least every byte of the body (each entry costs its
   * path + 64 bytes against 21 bytes of header + path in the body), so a
   * body too large for the quota is refused without decoding it. */
  uint64_t least = b_len / 4 * 3;
  least = least > 2 ? least - 2 : 0;
  if (v->quota != UINT64_MAX && least > v->quota)
    return eryx__error_new(ERYX_ERR_FILES,
                           "the snapshot's files (over %llu bytes) exceed the quota "
                           "(%llu bytes)",
                           (unsigned long long)least, (unsigned long long)v->quota);
  size_t body_len = 0;
  bool oom = false;
  uint8_t *body = eryx__base64_decode(b, b_len, &body_len, &oom);
  if (!body)
    return oom ? eryx__error_new(ERYX_ERR_RESOURCES, "out of memory") : bad("bad encoding");
  if (fnv1a(body, body_len) != sum) {
    free(body);
    return bad("checksum mismatch (corrupted)");
  }
  vfs_staged *st = calloc(1, sizeof *st);
  eryx_error *err = st ? parse(body, body_len, v->quota, &st->entries, &st->count, &st->bytes)
                       : eryx__error_new(ERYX_ERR_RESOURCES, "out of memory");
  free(body);
  if (err) {
    free(st);
    return err;
  }
  *out = st;
  return NULL;
}

void eryx__vfs_commit(eryx_vfs *v, vfs_staged *st) {
  pthread_mutex_lock(&v->lock);
  vfs_entry *old = v->entries, *orphans = v->orphans;
  size_t old_count = v->count, orphan_count = v->orphan_count;
  /* Files removed while open go too: descriptors of the old tree find
   * nothing now (ENOENT). */
  v->orphans = NULL;
  v->orphan_count = v->orphan_cap = 0;
  v->entries = st->entries;
  v->count = v->cap = st->count;
  v->used = st->bytes;
  for (size_t i = 0; i < st->count; i++)
    st->entries[i].ino = ++v->next_ino;
  pthread_mutex_unlock(&v->lock);
  free_entries(old, old_count);
  free_entries(orphans, orphan_count);
  free(st);
}

eryx_error *eryx__vfs_import_text(eryx_vfs *v, const char *text, size_t len) {
  vfs_staged *st;
  eryx_error *err = eryx__vfs_stage_text(v, text, len, &st);
  if (!err)
    eryx__vfs_commit(v, st);
  return err;
}

eryx_error *eryx_vfs_export(eryx_vfs *v, uint8_t **data, size_t *len) {
  if (!v || !data || !len)
    return eryx__error_new(ERYX_ERR_INVALID_ARGUMENT, "vfs, data and len are required");
  eryx_buf out = {0};
  eryx_error *err = eryx__vfs_export_text(v, &out);
  if (err) {
    eryx__buf_free(&out);
    *data = NULL;
    *len = 0;
    return err;
  }
  *data = (uint8_t *)eryx__buf_take(&out, len);
  return *data ? NULL : eryx__error_new(ERYX_ERR_RESOURCES, "out of memory");
}

eryx_error *eryx_vfs_import(eryx_vfs *v, const uint8_t *data, size_t len) {
  if (!v || (!data && len))
    return eryx__error_new(ERYX_ERR_INVALID_ARGUMENT, "vfs and data are required");
  return eryx__vfs_import_text(v, data ? (const char *)data : "", len);
}
