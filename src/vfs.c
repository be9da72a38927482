/*
 * vfs.c — eryx_vfs: the in-memory file tree a sandbox mounts (default
 * "/data"), and the operations behind the guest's `fs` import.
 *
 * Why in host memory and not a host directory: every byte the guest writes
 * passes through eryx__vfs_apply, which refuses growth past the quota
 * before it happens, so the quota cannot be outrun and the host disk is
 * never touched. The guest has no WASI preopen for the mount, so code that
 * bypasses the guest's open/os wrappers finds nothing there at all.
 *
 * The tree is a flat, unordered array of entries keyed by relative path.
 * Trees are small (VFS_MAX_ENTRIES), so linear lookups keep this simple.
 * One mutex serializes all operations: a tree may be shared by sessions on
 * different threads and read by the host meanwhile.
 */
#include "vfs.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DEFAULT_QUOTA ((uint64_t)64 << 20)
#define MAX_READ ((uint64_t)16 << 20) /* per guest READ request */

static uint64_t now_wall_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_REALTIME, &t);
  return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

vfs_code eryx__vfs_check_path(const char *path, size_t len) {
  if (len > VFS_MAX_PATH)
    return VFS_ENAMETOOLONG;
  size_t start = 0;
  for (size_t i = 0; i <= len; i++) {
    if (i < len && path[i] == '\0')
      return VFS_EINVAL;
    if (i < len && path[i] != '/')
      continue;
    size_t n = i - start;
    if (len == 0)
      return VFS_OK; /* the root */
    if (n == 0 || (n == 1 && path[start] == '.') ||
        (n == 2 && path[start] == '.' && path[start + 1] == '.'))
      return VFS_EINVAL;
    if (n > VFS_MAX_NAME)
      return VFS_ENAMETOOLONG;
    start = i + 1;
  }
  return VFS_OK;
}

/* ---- lookups (lock held) ---- */

static vfs_entry *find(eryx_vfs *v, const char *path, size_t len) {
  for (size_t i = 0; i < v->count; i++)
    if (v->entries[i].path_len == len && memcmp(v->entries[i].path, path, len) == 0)
      return &v->entries[i];
  return NULL;
}

/* Length of the parent's path ("" for top-level names). */
static size_t parent_len(const char *path, size_t len) {
  while (len > 0 && path[len - 1] != '/')
    len--;
  return len ? len - 1 : 0;
}

/* The parent must exist and be a directory. */
static vfs_code check_parent(eryx_vfs *v, const char *path, size_t len) {
  size_t plen = parent_len(path, len);
  if (plen == 0)
    return VFS_OK;
  vfs_entry *p = find(v, path, plen);
  if (!p) {
    /* ENOTDIR if some ancestor is a file, as POSIX does. */
    for (size_t l = parent_len(path, plen); l > 0; l = parent_len(path, l)) {
      vfs_entry *a = find(v, path, l);
      if (a && !a->dir)
        return VFS_ENOTDIR;
    }
    return VFS_ENOENT;
  }
  return p->dir ? VFS_OK : VFS_ENOTDIR;
}

static bool is_inside(const vfs_entry *e, const char *dir, size_t len) {
  return len == 0 || (e->path_len > len && memcmp(e->path, dir, len) == 0 &&
                      e->path[len] == '/');
}

static bool has_children(eryx_vfs *v, const char *dir, size_t len) {
  for (size_t i = 0; i < v->count; i++)
    if (is_inside(&v->entries[i], dir, len))
      return true;
  return false;
}

static bool fits(const eryx_vfs *v, uint64_t more) {
  return v->quota == UINT64_MAX || (more <= v->quota && v->used + more <= v->quota);
}

static vfs_entry *add(eryx_vfs *v, const char *path, size_t len, bool dir,
                      vfs_code *code) {
  if (v->count >= VFS_MAX_ENTRIES || !fits(v, VFS_ENTRY_COST(len))) {
    *code = VFS_ENOSPC;
    return NULL;
  }
  if (v->count == v->cap) {
    size_t cap = v->cap ? v->cap * 2 : 16;
    vfs_entry *p = realloc(v->entries, cap * sizeof *p);
    if (!p) {
      *code = VFS_ENOMEM;
      return NULL;
    }
    v->entries = p;
    v->cap = cap;
  }
  vfs_entry *e = &v->entries[v->count];
  memset(e, 0, sizeof *e);
  e->path = malloc(len + 1);
  if (!e->path) {
    *code = VFS_ENOMEM;
    return NULL;
  }
  memcpy(e->path, path, len);
  e->path[len] = '\0';
  e->path_len = len;
  e->dir = dir;
  e->mtime_ns = now_wall_ns();
  e->ino = ++v->next_ino;
  v->count++;
  v->used += VFS_ENTRY_COST(len);
  return e;
}

static void drop(eryx_vfs *v, vfs_entry *e) {
  v->used -= e->size + VFS_ENTRY_COST(e->path_len);
  free(e->path);
  free(e->data);
  *e = v->entries[--v->count]; /* unordered: move the last one here */
}

/* Sets a file's size (zero-filling growth) within the quota. */
static vfs_code resize(eryx_vfs *v, vfs_entry *e, uint64_t size) {
  if (size > e->size) {
    uint64_t more = size - e->size;
    if (!fits(v, more))
      return VFS_ENOSPC;
    if (size > SIZE_MAX / 2)
      return VFS_ENOMEM;
    if (size > e->cap) {
      size_t cap = e->cap ? e->cap : 64;
      while (cap < size)
        cap *= 2;
      uint8_t *p = realloc(e->data, cap);
      if (!p)
        return VFS_ENOMEM;
      e->data = p;
      e->cap = cap;
    }
    memset(e->data + e->size, 0, (size_t)more);
    v->used += more;
  } else {
    v->used -= e->size - size;
  }
  e->size = (size_t)size;
  return VFS_OK;
}

static void fill_stat(const vfs_entry *e, vfs_reply *rep) {
  rep->dir = e->dir;
  rep->size = e->size;
  rep->mtime_ns = e->mtime_ns;
  rep->ino = e->ino;
}

/* ---- operations (lock held) ---- */

static vfs_code op_open(eryx_vfs *v, const vfs_request *r, vfs_reply *rep) {
  uint64_t flags = r->size;
  if (r->path_len == 0)
    return (flags & (VFS_O_WRITE | VFS_O_CREATE)) ? VFS_EISDIR : VFS_OK;
  vfs_entry *e = find(v, r->path, r->path_len);
  if (e) {
    if ((flags & VFS_O_CREATE) && (flags & VFS_O_EXCL))
      return VFS_EEXIST;
    if (e->dir)
      return (flags & VFS_O_WRITE) ? VFS_EISDIR : (fill_stat(e, rep), VFS_OK);
    if (flags & VFS_O_TRUNC) {
      resize(v, e, 0);
      e->mtime_ns = now_wall_ns();
    }
    fill_stat(e, rep);
    return VFS_OK;
  }
  if (!(flags & VFS_O_CREATE))
    return check_parent(v, r->path, r->path_len) == VFS_ENOTDIR ? VFS_ENOTDIR
                                                                : VFS_ENOENT;
  vfs_code c = check_parent(v, r->path, r->path_len);
  if (c != VFS_OK)
    return c;
  e = add(v, r->path, r->path_len, false, &c);
  if (!e)
    return c;
  fill_stat(e, rep);
  return VFS_OK;
}

static vfs_code op_read(eryx_vfs *v, const vfs_request *r, vfs_reply *rep) {
  vfs_entry *e = find(v, r->path, r->path_len);
  if (!e)
    return VFS_ENOENT;
  if (e->dir)
    return VFS_EISDIR;
  uint64_t n = r->size > MAX_READ ? MAX_READ : r->size;
  if (r->offset >= e->size)
    n = 0;
  else if (n > e->size - r->offset)
    n = e->size - r->offset;
  rep->data = malloc(n ? (size_t)n : 1);
  if (!rep->data)
    return VFS_ENOMEM;
  if (n)
    memcpy(rep->data, e->data + r->offset, (size_t)n);
  rep->data_len = (size_t)n;
  fill_stat(e, rep);
  return VFS_OK;
}

static vfs_code op_write(eryx_vfs *v, const vfs_request *r, vfs_reply *rep) {
  vfs_entry *e = find(v, r->path, r->path_len);
  if (!e)
    return VFS_ENOENT;
  if (e->dir)
    return VFS_EISDIR;
  if (r->offset > UINT64_MAX - r->data_len)
    return VFS_EINVAL;
  uint64_t end = r->offset + r->data_len;
  if (end > e->size) {
    vfs_code c = resize(v, e, end);
    if (c != VFS_OK)
      return c;
  }
  if (r->data_len)
    memcpy(e->data + r->offset, r->data, r->data_len);
  e->mtime_ns = now_wall_ns();
  fill_stat(e, rep);
  rep->size = r->data_len; /* bytes written */
  return VFS_OK;
}

static vfs_code op_truncate(eryx_vfs *v, const vfs_request *r, vfs_reply *rep) {
  vfs_entry *e = find(v, r->path, r->path_len);
  if (!e)
    return VFS_ENOENT;
  if (e->dir)
    return VFS_EISDIR;
  vfs_code c = resize(v, e, r->size);
  if (c == VFS_OK) {
    e->mtime_ns = now_wall_ns();
    fill_stat(e, rep);
  }
  return c;
}

static int by_name(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Names of a directory's children, sorted, each ended by '\0'. */
static vfs_code op_list(eryx_vfs *v, const vfs_request *r, vfs_reply *rep) {
  if (r->path_len) {
    vfs_entry *d = find(v, r->path, r->path_len);
    if (!d)
      return check_parent(v, r->path, r->path_len) == VFS_ENOTDIR ? VFS_ENOTDIR
                                                                  : VFS_ENOENT;
    if (!d->dir)
      return VFS_ENOTDIR;
  }
  size_t skip = r->path_len ? r->path_len + 1 : 0;
  size_t n = 0, bytes = 0;
  char **names = malloc((v->count ? v->count : 1) * sizeof *names);
  if (!names)
    return VFS_ENOMEM;
  for (size_t i = 0; i < v->count; i++) {
    vfs_entry *e = &v->entries[i];
    if (is_inside(e, r->path, r->path_len) && !memchr(e->path + skip, '/', e->path_len - skip)) {
      names[n++] = e->path + skip;
      bytes += e->path_len - skip + 1;
    }
  }
  qsort(names, n, sizeof *names, by_name);
  rep->data = malloc(bytes ? bytes : 1);
  if (!rep->data) {
    free(names);
    return VFS_ENOMEM;
  }
  size_t at = 0;
  for (size_t i = 0; i < n; i++) {
    size_t l = strlen(names[i]) + 1;
    memcpy(rep->data + at, names[i], l);
    at += l;
  }
  rep->data_len = at;
  free(names);
  return VFS_OK;
}

static vfs_code op_mkdir(eryx_vfs *v, const vfs_request *r, vfs_reply *rep) {
  if (r->path_len == 0 || find(v, r->path, r->path_len))
    return VFS_EEXIST;
  vfs_code c = check_parent(v, r->path, r->path_len);
  if (c != VFS_OK)
    return c;
  vfs_entry *e = add(v, r->path, r->path_len, true, &c);
  if (!e)
    return c;
  fill_stat(e, rep);
  return VFS_OK;
}

static vfs_code op_remove(eryx_vfs *v, const vfs_request *r, bool dir) {
  if (r->path_len == 0)
    return dir ? VFS_EINVAL : VFS_EISDIR; /* the mount itself stays */
  vfs_entry *e = find(v, r->path, r->path_len);
  if (!e)
    return check_parent(v, r->path, r->path_len) == VFS_ENOTDIR ? VFS_ENOTDIR
                                                                : VFS_ENOENT;
  if (dir && !e->dir)
    return VFS_ENOTDIR;
  if (!dir && e->dir)
    return VFS_EISDIR;
  if (dir && has_children(v, r->path, r->path_len))
    return VFS_ENOTEMPTY;
  drop(v, e);
  return VFS_OK;
}

/* POSIX rename: replaces a file, or an empty directory by a directory. */
static vfs_code op_rename(eryx_vfs *v, const vfs_request *r) {
  const char *from = r->path, *to = r->path2;
  size_t flen = r->path_len, tlen = r->path2_len;
  if (flen == 0 || tlen == 0)
    return VFS_EINVAL;
  vfs_entry *src = find(v, from, flen);
  if (!src)
    return VFS_ENOENT;
  if (flen == tlen && memcmp(from, to, flen) == 0)
    return VFS_OK;
  bool src_dir = src->dir;
  /* A directory cannot move inside itself. */
  if (src_dir && tlen > flen && memcmp(to, from, flen) == 0 && to[flen] == '/')
    return VFS_EINVAL;
  vfs_code c = check_parent(v, to, tlen);
  if (c != VFS_OK)
    return c;
  vfs_entry *dst = find(v, to, tlen);
  if (dst) {
    if (src_dir && !dst->dir)
      return VFS_ENOTDIR;
    if (!src_dir && dst->dir)
      return VFS_EISDIR;
    if (dst->dir && has_children(v, to, tlen))
      return VFS_ENOTEMPTY;
  }
  /* Build every new path first, so running out of memory changes nothing. */
  size_t moved = 0;
  for (size_t i = 0; i < v->count; i++)
    if (&v->entries[i] == src || (src_dir && is_inside(&v->entries[i], from, flen)))
      moved++;
  /* Longer names cost more (what `dst` frees is not counted). */
  if (tlen > flen && !fits(v, (uint64_t)(tlen - flen) * moved))
    return VFS_ENOSPC;
  char **paths = calloc(moved, sizeof *paths);
  size_t *idx = calloc(moved, sizeof *idx);
  bool fine = paths && idx;
  size_t k = 0;
  for (size_t i = 0; fine && i < v->count; i++) {
    vfs_entry *e = &v->entries[i];
    if (e != src && !(src_dir && is_inside(e, from, flen)))
      continue;
    size_t rest = e->path_len - flen;
    if (tlen + rest > VFS_MAX_PATH) {
      fine = false;
      c = VFS_ENAMETOOLONG;
      break;
    }
    paths[k] = malloc(tlen + rest + 1);
    if (!paths[k]) {
      fine = false;
      c = VFS_ENOMEM;
      break;
    }
    memcpy(paths[k], to, tlen);
    memcpy(paths[k] + tlen, e->path + flen, rest + 1);
    idx[k++] = i;
  }
  if (!fine) {
    for (size_t i = 0; i < k; i++)
      free(paths[i]);
    free(paths);
    free(idx);
    return c == VFS_OK ? VFS_ENOMEM : c;
  }
  for (size_t i = 0; i < k; i++) {
    vfs_entry *e = &v->entries[idx[i]];
    size_t len = strlen(paths[i]);
    v->used = v->used - VFS_ENTRY_COST(e->path_len) + VFS_ENTRY_COST(len);
    free(e->path);
    e->path = paths[i];
    e->path_len = len;
  }
  free(paths);
  free(idx);
  if (dst)
    drop(v, dst); /* replaced; it was not among the moved entries */
  return VFS_OK;
}

void eryx__vfs_apply(eryx_vfs *v, const vfs_request *r, vfs_reply *rep) {
  memset(rep, 0, sizeof *rep);
  vfs_code c = eryx__vfs_check_path(r->path, r->path_len);
  if (c == VFS_OK && r->op == VFS_OP_RENAME)
    c = eryx__vfs_check_path(r->path2, r->path2_len);
  if (c != VFS_OK) {
    rep->code = c;
    return;
  }
  pthread_mutex_lock(&v->lock);
  vfs_entry *e;
  switch (r->op) {
  case VFS_OP_STAT:
    if (r->path_len == 0) {
      rep->dir = true;
      break;
    }
    e = find(v, r->path, r->path_len);
    if (e)
      fill_stat(e, rep);
    else
      c = check_parent(v, r->path, r->path_len) == VFS_ENOTDIR ? VFS_ENOTDIR : VFS_ENOENT;
    break;
  case VFS_OP_OPEN: c = op_open(v, r, rep); break;
  case VFS_OP_READ: c = op_read(v, r, rep); break;
  case VFS_OP_WRITE: c = op_write(v, r, rep); break;
  case VFS_OP_TRUNCATE: c = op_truncate(v, r, rep); break;
  case VFS_OP_LIST: c = op_list(v, r, rep); break;
  case VFS_OP_MKDIR: c = op_mkdir(v, r, rep); break;
  case VFS_OP_RMDIR: c = op_remove(v, r, true); break;
  case VFS_OP_UNLINK: c = op_remove(v, r, false); break;
  case VFS_OP_RENAME: c = op_rename(v, r); break;
  case VFS_OP_UTIME:
    e = r->path_len ? find(v, r->path, r->path_len) : NULL;
    if (e)
      e->mtime_ns = r->offset;
    else if (r->path_len)
      c = VFS_ENOENT;
    break;
  default: c = VFS_EINVAL;
  }
  pthread_mutex_unlock(&v->lock);
  rep->code = c;
  if (c != VFS_OK) {
    free(rep->data);
    rep->data = NULL;
    rep->data_len = 0;
  }
}

/* ---- the public API ---- */

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
  free(v->entries);
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
  return eryx__error_new(code, "'%.*s': %s", (int)(req->path_len > 200 ? 200 : req->path_len),
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
  vfs_entry *e = find(v, rel, path_len);
  if (!e) {
    c = check_parent(v, rel, path_len);
    if (c == VFS_OK)
      e = add(v, rel, path_len, false, &c);
  } else if (e->dir) {
    c = VFS_EISDIR;
  }
  uint8_t *copy = NULL;
  if (c == VFS_OK && !fits(v, len > e->size ? len - e->size : 0))
    c = VFS_ENOSPC;
  if (c == VFS_OK && !(copy = malloc(len ? len : 1)))
    c = VFS_ENOMEM;
  if (c == VFS_OK) {
    memcpy(copy, data, len);
    v->used = v->used - e->size + len;
    free(e->data);
    e->data = copy;
    e->size = e->cap = len;
    e->mtime_ns = now_wall_ns();
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
  vfs_entry *e = find(v, rel, path_len);
  vfs_code c = !e ? VFS_ENOENT : e->dir || path_len == 0 ? VFS_EISDIR : VFS_OK;
  if (path_len == 0)
    c = VFS_EISDIR;
  if (c == VFS_OK) {
    *data = malloc(e->size ? e->size : 1);
    if (*data) {
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
  vfs_entry *e = path_len ? find(v, rel, path_len) : NULL;
  if (path_len && !e) {
    pthread_mutex_unlock(&v->lock);
    return eryx__error_new(ERYX_ERR_FILES, "'%.*s': %s", (int)path_len, rel,
                           code_text(VFS_ENOENT));
  }
  for (size_t i = v->count; i-- > 0;)
    if (is_inside(&v->entries[i], rel, path_len))
      drop(v, &v->entries[i]);
  if (path_len)
    drop(v, find(v, rel, path_len)); /* moved by the drops above */
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
