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

/* Parses the body into fresh entries; checks paths and parents. */
static eryx_error *parse(const uint8_t *p, size_t n, vfs_entry **out, size_t *count,
                         uint64_t *bytes) {
  size_t cap = 16, k = 0, at = 0;
  vfs_entry *all = malloc(cap * sizeof *all);
  *bytes = 0;
  if (!all)
    return eryx__error_new(ERYX_ERR_RESOURCES, "out of memory");
  eryx_error *err = NULL;
  while (!err && at < n) {
    if (n - at < 5) {
      err = bad("truncated entry");
      break;
    }
    uint8_t kind = p[at];
    uint64_t plen = get_le(p + at + 1, 4);
    at += 5;
    if (kind > 1 || plen == 0 || n - at < plen || n - at - plen < 16) {
      err = bad("truncated entry");
      break;
    }
    const char *path = (const char *)p + at;
    uint64_t size = get_le(p + at + plen + 8, 8);
    if (eryx__vfs_check_path(path, plen) != VFS_OK || !eryx__utf8_valid(path, plen) ||
        (kind == 1 && size != 0) || size > n - at - plen - 16 || k >= VFS_MAX_ENTRIES) {
      err = bad("bad entry");
      break;
    }
    if (k == cap) {
      vfs_entry *q = realloc(all, (cap *= 2) * sizeof *all);
      if (!q) {
        err = eryx__error_new(ERYX_ERR_RESOURCES, "out of memory");
        break;
      }
      all = q;
    }
    vfs_entry *e = &all[k];
    memset(e, 0, sizeof *e);
    e->path = malloc(plen + 1);
    e->data = malloc(size ? size : 1);
    if (!e->path || !e->data) {
      free(e->path);
      free(e->data);
      err = eryx__error_new(ERYX_ERR_RESOURCES, "out of memory");
      break;
    }
    memcpy(e->path, path, plen);
    e->path[plen] = '\0';
    e->path_len = plen;
    e->dir = kind == 1;
    e->mtime_ns = get_le(p + at + plen, 8);
    e->size = e->cap = size;
    memcpy(e->data, p + at + plen + 16, size);
    k++;
    /* Strictly sorted by path (so lookups below can bisect). */
    if (k > 1 && strcmp(all[k - 2].path, e->path) >= 0) {
      err = bad("entries out of order");
      break;
    }
    at += plen + 16 + size;
    *bytes += size + VFS_ENTRY_COST(plen);
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
    free_entries(all, k);
    return err;
  }
  *out = all;
  *count = k;
  return NULL;
}

eryx_error *eryx__vfs_import_text(eryx_vfs *v, const char *text, size_t len) {
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
  size_t body_len = 0;
  bool oom = false;
  const char *b = nl + 1;
  uint8_t *body = eryx__base64_decode(b, len - (size_t)(b - text), &body_len, &oom);
  if (!body)
    return oom ? eryx__error_new(ERYX_ERR_RESOURCES, "out of memory") : bad("bad encoding");
  if (fnv1a(body, body_len) != sum) {
    free(body);
    return bad("checksum mismatch (corrupted)");
  }
  vfs_entry *entries = NULL;
  size_t count = 0;
  uint64_t bytes = 0;
  eryx_error *err = parse(body, body_len, &entries, &count, &bytes);
  free(body);
  if (err)
    return err;
  pthread_mutex_lock(&v->lock);
  if (v->quota != UINT64_MAX && bytes > v->quota) {
    pthread_mutex_unlock(&v->lock);
    free_entries(entries, count);
    return eryx__error_new(ERYX_ERR_FILES,
                           "the snapshot's files (%llu bytes) exceed the quota (%llu bytes)",
                           (unsigned long long)bytes, (unsigned long long)v->quota);
  }
  vfs_entry *old = v->entries;
  size_t old_count = v->count;
  v->entries = entries;
  v->count = v->cap = count;
  v->used = bytes;
  for (size_t i = 0; i < count; i++)
    entries[i].ino = ++v->next_ino;
  pthread_mutex_unlock(&v->lock);
  free_entries(old, old_count);
  return NULL;
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
