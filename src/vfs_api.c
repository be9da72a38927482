/*
 * vfs_api.c — the public eryx_vfs functions: creating and freeing trees,
 * and the host's own file operations on them (paths checked and
 * normalized here; the tree itself is vfs.c).
 */
#include "vfs.h"

#include <stdlib.h>
#include <string.h>

#define DEFAULT_QUOTA ((uint64_t)64 << 20)

eryx_vfs *eryx__vfs_ref(eryx_vfs *vfs) {
  atomic_fetch_add(&vfs->refs, 1);
  return vfs;
}

eryx_error *eryx_vfs_new(uint64_t quota_bytes, eryx_vfs **out) {
  if (!out)
    return eryx__error_new(ERYX_ERR_INVALID_ARGUMENT, "out is required");
  *out = NULL;
  eryx_vfs *v = calloc(1, sizeof *v);
  if (!v)
    return eryx__error_new(ERYX_ERR_RESOURCES, "out of memory");
  atomic_init(&v->refs, 1);
  pthread_mutex_init(&v->lock, NULL);
  v->quota = quota_bytes ? quota_bytes : DEFAULT_QUOTA;
  *out = v;
  return NULL;
}

void eryx_vfs_free(eryx_vfs *v) {
  if (!v || atomic_fetch_sub(&v->refs, 1) != 1)
    return;
  for (size_t i = 0; i < v->count; i++) {
    free(v->entries[i].path);
    free(v->entries[i].data);
  }
  for (size_t i = 0; i < v->orphan_count; i++) {
    free(v->orphans[i].path);
    free(v->orphans[i].data);
  }
  free(v->entries);
  free(v->orphans);
  pthread_mutex_destroy(&v->lock);
  free(v);
}

uint64_t eryx_vfs_used_bytes(eryx_vfs *v) {
  pthread_mutex_lock(&v->lock);
  uint64_t n = v->used;
  pthread_mutex_unlock(&v->lock);
  return n;
}

uint64_t eryx_vfs_quota_bytes(const eryx_vfs *v) { return v->quota; }

static const char *code_text(vfs_code c) {
  switch (c) {
  case VFS_OK: return "ok";
  case VFS_ENOENT: return "no such file or directory";
  case VFS_EEXIST: return "already exists";
  case VFS_ENOTDIR: return "not a directory";
  case VFS_EISDIR: return "is a directory";
  case VFS_ENOTEMPTY: return "directory not empty";
  case VFS_ENOSPC: return "quota exceeded";
  case VFS_EINVAL: return "invalid path";
  case VFS_ENAMETOOLONG: return "path too long";
  case VFS_ENOMEM: return "out of memory";
  }
  return "error";
}

/* Host paths may start with '/' (relative to the tree's root either way). */
static eryx_error *host_path(const char *path, size_t *len, const char **rel) {
  if (!path && *len)
    return eryx__error_new(ERYX_ERR_INVALID_ARGUMENT, "path is required");
  const char *p = path ? path : "";
  size_t n = *len;
  while (n && *p == '/') {
    p++;
    n--;
  }
  while (n && p[n - 1] == '/')
    n--;
  vfs_code c = eryx__vfs_check_path(p, n);
  if (c != VFS_OK || !eryx__utf8_valid(p, n))
    return eryx__error_new(ERYX_ERR_INVALID_ARGUMENT, "bad path '%.*s': %s",
                           (int)(*len > 200 ? 200 : *len), p,
                           c != VFS_OK ? code_text(c) : "not UTF-8");
  *rel = p;
  *len = n;
  return NULL;
}

static eryx_error *apply_or_error(eryx_vfs *v, vfs_request *req, vfs_reply *rep) {
  eryx__vfs_apply(v, req, rep);
  if (rep->code == VFS_OK)
    return NULL;
  eryx_error_code code = rep->code == VFS_ENOMEM ? ERYX_ERR_RESOURCES : ERYX_ERR_FILES;
  return eryx__error_new(code, "'%.*s': %s", (int)eryx__utf8_prefix(req->path, req->path_len, 200),
                         req->path, code_text(rep->code));
}

/* Creates the missing directories above `path` (lock not held). */
static eryx_error *make_parents(eryx_vfs *v, const char *path, size_t len) {
  for (size_t i = 1; i < len; i++) {
    if (path[i] != '/')
      continue;
    vfs_request req = {.op = VFS_OP_MKDIR, .path = path, .path_len = i};
    vfs_reply rep;
    eryx__vfs_apply(v, &req, &rep);
    if (rep.code != VFS_OK && rep.code != VFS_EEXIST)
      return apply_or_error(v, &req, &rep);
  }
  return NULL;
}

eryx_error *eryx_vfs_mkdir(eryx_vfs *v, const char *path, size_t path_len) {
  const char *rel;
  eryx_error *err = v ? host_path(path, &path_len, &rel)
                      : eryx__error_new(ERYX_ERR_INVALID_ARGUMENT, "vfs is required");
  if (err || path_len == 0)
    return err;
  if ((err = make_parents(v, rel, path_len)))
    return err;
  vfs_request req = {.op = VFS_OP_MKDIR, .path = rel, .path_len = path_len};
  vfs_reply rep;
  eryx__vfs_apply(v, &req, &rep);
  if (rep.code == VFS_EEXIST) {
    req.op = VFS_OP_STAT;
    eryx__vfs_apply(v, &req, &rep);
    if (rep.code == VFS_OK && !rep.dir)
      return eryx__error_new(ERYX_ERR_FILES, "'%.*s': a file is in the way",
                             (int)path_len, rel);
    return NULL;
  }
  return rep.code == VFS_OK ? NULL : apply_or_error(v, &req, &rep);
}

eryx_error *eryx_vfs_write_file(eryx_vfs *v, const char *path, size_t path_len,
                                const uint8_t *data, size_t len) {
  const char *rel;
  if (!v || (!data && len))
    return eryx__error_new(ERYX_ERR_INVALID_ARGUMENT, "vfs and data are required");
  eryx_error *err = host_path(path, &path_len, &rel);
  if (err)
    return err;
  if (path_len == 0)
    return eryx__error_new(ERYX_ERR_FILES, "'/': is a directory");
  if ((err = make_parents(v, rel, path_len)))
    return err;
  /* One step under the lock: the quota is checked and the new content made
   * before the old is dropped, so a refused write loses nothing. */
  pthread_mutex_lock(&v->lock);
  vfs_code c = VFS_OK;
  vfs_entry *e = eryx__vfs_find(v, rel, path_len);
  if (!e) {
    c = eryx__vfs_check_parent(v, rel, path_len);
    if (c == VFS_OK)
      e = eryx__vfs_add(v, rel, path_len, false, &c);
  } else if (e->dir) {
    c = VFS_EISDIR;
  }
  uint8_t *copy = NULL;
  if (c == VFS_OK && !eryx__vfs_fits(v, len > e->size ? len - e->size : 0))
    c = VFS_ENOSPC;
  if (c == VFS_OK && !(copy = malloc(len ? len : 1)))
    c = VFS_ENOMEM;
  if (c == VFS_OK) {
    if (len)
      memcpy(copy, data, len);
    v->used = v->used - e->size + len;
    free(e->data);
    e->data = copy;
    e->size = e->cap = len;
    e->mtime_ns = eryx__vfs_now_ns();
  }
  pthread_mutex_unlock(&v->lock);
  if (c == VFS_OK)
    return NULL;
  return eryx__error_new(c == VFS_ENOMEM ? ERYX_ERR_RESOURCES : ERYX_ERR_FILES,
                         "'%.*s': %s", (int)path_len, rel, code_text(c));
}

eryx_error *eryx_vfs_read_file(eryx_vfs *v, const char *path, size_t path_len,
                               uint8_t **data, size_t *len) {
  const char *rel;
  if (!v || !data || !len)
    return eryx__error_new(ERYX_ERR_INVALID_ARGUMENT, "vfs, data and len are required");
  *data = NULL;
  *len = 0;
  eryx_error *err = host_path(path, &path_len, &rel);
  if (err)
    return err;
  pthread_mutex_lock(&v->lock);
  vfs_entry *e = eryx__vfs_find(v, rel, path_len);
  vfs_code c = !e ? VFS_ENOENT : e->dir || path_len == 0 ? VFS_EISDIR : VFS_OK;
  if (path_len == 0)
    c = VFS_EISDIR;
  if (c == VFS_OK) {
    *data = malloc(e->size ? e->size : 1);
    if (*data) {
      if (e->size)
        memcpy(*data, e->data, e->size);
      *len = e->size;
    } else {
      c = VFS_ENOMEM;
    }
  }
  pthread_mutex_unlock(&v->lock);
  if (c == VFS_OK)
    return NULL;
  return eryx__error_new(c == VFS_ENOMEM ? ERYX_ERR_RESOURCES : ERYX_ERR_FILES,
                         "'%.*s': %s", (int)path_len, rel, code_text(c));
}

void eryx_vfs_bytes_free(uint8_t *data) { free(data); }

eryx_error *eryx_vfs_remove(eryx_vfs *v, const char *path, size_t path_len) {
  const char *rel;
  eryx_error *err = v ? host_path(path, &path_len, &rel)
                      : eryx__error_new(ERYX_ERR_INVALID_ARGUMENT, "vfs is required");
  if (err)
    return err;
  pthread_mutex_lock(&v->lock);
  vfs_entry *e = path_len ? eryx__vfs_find(v, rel, path_len) : NULL;
  if (path_len && !e) {
    pthread_mutex_unlock(&v->lock);
    return eryx__error_new(ERYX_ERR_FILES, "'%.*s': %s", (int)path_len, rel,
                           code_text(VFS_ENOENT));
  }
  for (size_t i = v->count; i-- > 0;)
    if (eryx__vfs_is_inside(&v->entries[i], rel, path_len))
      eryx__vfs_drop(v, &v->entries[i]);
  if (path_len)
    eryx__vfs_drop(v, eryx__vfs_find(v, rel, path_len)); /* moved by the drops above */
  pthread_mutex_unlock(&v->lock);
  return NULL;
}

typedef struct {
  char *path;
  size_t len;
  bool dir;
  uint64_t size;
} listed;

static int by_path(const void *a, const void *b) {
  return strcmp(((const listed *)a)->path, ((const listed *)b)->path);
}

eryx_error *eryx_vfs_list(eryx_vfs *v, eryx_vfs_entry_fn fn, void *user) {
  if (!v || !fn)
    return eryx__error_new(ERYX_ERR_INVALID_ARGUMENT, "vfs and fn are required");
  /* Copied first, so `fn` runs without the lock and may use the tree. */
  pthread_mutex_lock(&v->lock);
  size_t n = v->count;
  listed *all = calloc(n ? n : 1, sizeof *all);
  bool fine = all != NULL;
  for (size_t i = 0; fine && i < n; i++) {
    vfs_entry *e = &v->entries[i];
    all[i].path = malloc(e->path_len + 1);
    fine = all[i].path != NULL;
    if (fine) {
      memcpy(all[i].path, e->path, e->path_len + 1);
      all[i].len = e->path_len;
      all[i].dir = e->dir;
      all[i].size = e->size;
    }
  }
  pthread_mutex_unlock(&v->lock);
  if (fine) {
    qsort(all, n, sizeof *all, by_path);
    for (size_t i = 0; i < n; i++)
      fn(user, all[i].path, all[i].len, all[i].dir, all[i].size);
  }
  for (size_t i = 0; all && i < n; i++)
    free(all[i].path);
  free(all);
  return fine ? NULL : eryx__error_new(ERYX_ERR_RESOURCES, "out of memory");
}
