/*
 * vfs.c — eryx_vfs: the in-memory file tree a sandbox mounts (default
 * "/data"), and the operations behind it: the guest reaches them as a WASI
 * preopen of ours (vfs_wasi.c, deps/wasmtime/src/vfs_wasi.rs) and through
 * the older `fs` import, the host through vfs_api.c.
 *
 * Why in host memory and not a host directory: every byte the guest writes
 * passes through eryx__vfs_apply(_locked), which refuses growth past the
 * quota before it happens, so the quota cannot be outrun and the host disk
 * is never touched.
 *
 * The tree is a flat, unordered array of entries keyed by relative path.
 * Trees are small (VFS_MAX_ENTRIES), so linear lookups keep this simple.
 * One mutex serializes all operations: a tree may be shared by sessions on
 * different threads and read by the host meanwhile. The host's API over
 * the same tree is in vfs_api.c.
 */
#include "vfs.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_READ ((uint64_t)16 << 20) /* per guest READ request */

uint64_t eryx__vfs_now_ns(void) {
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

/* ---- lookups (lock held; vfs.h) ---- */

vfs_entry *eryx__vfs_find(eryx_vfs *v, const char *path, size_t len) {
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
vfs_code eryx__vfs_check_parent(eryx_vfs *v, const char *path, size_t len) {
  size_t plen = parent_len(path, len);
  if (plen == 0)
    return VFS_OK;
  vfs_entry *p = eryx__vfs_find(v, path, plen);
  if (!p) {
    /* ENOTDIR if some ancestor is a file, as POSIX does. */
    for (size_t l = parent_len(path, plen); l > 0; l = parent_len(path, l)) {
      vfs_entry *a = eryx__vfs_find(v, path, l);
      if (a && !a->dir)
        return VFS_ENOTDIR;
    }
    return VFS_ENOENT;
  }
  return p->dir ? VFS_OK : VFS_ENOTDIR;
}

bool eryx__vfs_is_inside(const vfs_entry *e, const char *dir, size_t len) {
  return len == 0 || (e->path_len > len && memcmp(e->path, dir, len) == 0 &&
                      e->path[len] == '/');
}

static bool has_children(eryx_vfs *v, const char *dir, size_t len) {
  for (size_t i = 0; i < v->count; i++)
    if (eryx__vfs_is_inside(&v->entries[i], dir, len))
      return true;
  return false;
}

bool eryx__vfs_fits(const eryx_vfs *v, uint64_t more) {
  return v->quota == UINT64_MAX || (more <= v->quota && v->used + more <= v->quota);
}

vfs_entry *eryx__vfs_add(eryx_vfs *v, const char *path, size_t len, bool dir,
                      vfs_code *code) {
  if (v->count >= VFS_MAX_ENTRIES || !eryx__vfs_fits(v, VFS_ENTRY_COST(len))) {
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
  e->mtime_ns = eryx__vfs_now_ns();
  e->ino = ++v->next_ino;
  v->count++;
  v->used += VFS_ENTRY_COST(len);
  return e;
}

void eryx__vfs_drop(eryx_vfs *v, vfs_entry *e) {
  v->used -= e->size + VFS_ENTRY_COST(e->path_len);
  free(e->path);
  free(e->data);
  *e = v->entries[--v->count]; /* unordered: move the last one here */
}

void eryx__vfs_unlink(eryx_vfs *v, vfs_entry *e) {
  if (e->holds && !e->dir) {
    if (v->orphan_count == v->orphan_cap) {
      size_t cap = v->orphan_cap ? v->orphan_cap * 2 : 8;
      vfs_entry *p = realloc(v->orphans, cap * sizeof *p);
      if (!p) {
        eryx__vfs_drop(v, e); /* no room to keep it: gone, as before */
        return;
      }
      v->orphans = p;
      v->orphan_cap = cap;
    }
    v->orphans[v->orphan_count++] = *e;
    *e = v->entries[--v->count];
    return;
  }
  eryx__vfs_drop(v, e);
}

/* Host memory held for a file's bytes follows its size: growth leaves at
 * most SLACK(size) spare bytes (a quarter of the size, never more than
 * 1 MiB), so appends stay amortized; any shrink that would leave more spare
 * than that gives it back at once. A tree therefore holds at most about
 * 1.25 times what its quota counts, whatever the guest grows and truncates. */
#define MIN_CAP 64
#define MAX_SLACK ((size_t)1 << 20)

static size_t slack(size_t size) { return size / 4 < MAX_SLACK ? size / 4 : MAX_SLACK; }

/* Reallocates `e`'s buffer to exactly `cap` bytes (0 frees it). */
static bool set_cap(vfs_entry *e, size_t cap) {
  if (cap == 0) {
    free(e->data);
    e->data = NULL;
    e->cap = 0;
    return true;
  }
  uint8_t *p = realloc(e->data, cap);
  if (!p)
    return false;
  e->data = p;
  e->cap = cap;
  return true;
}

/* After the size dropped: gives back spare memory beyond the slack (a
 * failed shrink keeps the larger buffer, which still holds the bytes). */
static void trim(vfs_entry *e) {
  if (e->size == 0)
    set_cap(e, 0);
  else if (e->cap - e->size > slack(e->size) + MIN_CAP)
    set_cap(e, e->size);
}

/* Sets a file's size (zero-filling growth) within the quota. */
static vfs_code resize(eryx_vfs *v, vfs_entry *e, uint64_t size) {
  if (size > e->size) {
    uint64_t more = size - e->size;
    if (size > VFS_MAX_FILE || !eryx__vfs_fits(v, more))
      return VFS_ENOSPC;
    if (size > SIZE_MAX / 2)
      return VFS_ENOMEM;
    if (size > e->cap) {
      size_t want = (size_t)size + slack((size_t)size);
      if (!set_cap(e, want < MIN_CAP ? MIN_CAP : want) && !set_cap(e, (size_t)size))
        return VFS_ENOMEM;
    }
    memset(e->data + e->size, 0, (size_t)more);
    v->used += more;
    e->size = (size_t)size;
  } else {
    v->used -= e->size - size;
    e->size = (size_t)size;
    trim(e);
  }
  return VFS_OK;
}

vfs_code eryx__vfs_resize_entry(eryx_vfs *v, vfs_entry *e, uint64_t size) {
  return resize(v, e, size);
}

vfs_code eryx__vfs_write_entry(eryx_vfs *v, vfs_entry *e, uint64_t offset,
                               const uint8_t *data, size_t len) {
  if (offset > UINT64_MAX - len)
    return VFS_EINVAL;
  uint64_t end = offset + len;
  if (end > e->size) {
    vfs_code c = resize(v, e, end);
    if (c != VFS_OK)
      return c;
  }
  if (len)
    memcpy(e->data + offset, data, len);
  e->mtime_ns = eryx__vfs_now_ns();
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
  vfs_entry *e = eryx__vfs_find(v, r->path, r->path_len);
  if (e) {
    if ((flags & VFS_O_CREATE) && (flags & VFS_O_EXCL))
      return VFS_EEXIST;
    if (e->dir)
      return (flags & VFS_O_WRITE) ? VFS_EISDIR : (fill_stat(e, rep), VFS_OK);
    if (flags & VFS_O_TRUNC) {
      resize(v, e, 0);
      e->mtime_ns = eryx__vfs_now_ns();
    }
    fill_stat(e, rep);
    return VFS_OK;
  }
  if (!(flags & VFS_O_CREATE))
    return eryx__vfs_check_parent(v, r->path, r->path_len) == VFS_ENOTDIR ? VFS_ENOTDIR
                                                                : VFS_ENOENT;
  vfs_code c = eryx__vfs_check_parent(v, r->path, r->path_len);
  if (c != VFS_OK)
    return c;
  e = eryx__vfs_add(v, r->path, r->path_len, false, &c);
  if (!e)
    return c;
  fill_stat(e, rep);
  return VFS_OK;
}

static vfs_code op_read(eryx_vfs *v, const vfs_request *r, vfs_reply *rep) {
  vfs_entry *e = eryx__vfs_find(v, r->path, r->path_len);
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
  vfs_entry *e = eryx__vfs_find(v, r->path, r->path_len);
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
  e->mtime_ns = eryx__vfs_now_ns();
  fill_stat(e, rep);
  rep->size = r->data_len; /* bytes written */
  return VFS_OK;
}

static vfs_code op_truncate(eryx_vfs *v, const vfs_request *r, vfs_reply *rep) {
  vfs_entry *e = eryx__vfs_find(v, r->path, r->path_len);
  if (!e)
    return VFS_ENOENT;
  if (e->dir)
    return VFS_EISDIR;
  vfs_code c = resize(v, e, r->size);
  if (c == VFS_OK) {
    e->mtime_ns = eryx__vfs_now_ns();
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
    vfs_entry *d = eryx__vfs_find(v, r->path, r->path_len);
    if (!d)
      return eryx__vfs_check_parent(v, r->path, r->path_len) == VFS_ENOTDIR ? VFS_ENOTDIR
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
    bool child = eryx__vfs_is_inside(e, r->path, r->path_len) &&
                 !memchr(e->path + skip, '/', e->path_len - skip);
    if (child) {
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
  if (r->path_len == 0 || eryx__vfs_find(v, r->path, r->path_len))
    return VFS_EEXIST;
  vfs_code c = eryx__vfs_check_parent(v, r->path, r->path_len);
  if (c != VFS_OK)
    return c;
  vfs_entry *e = eryx__vfs_add(v, r->path, r->path_len, true, &c);
  if (!e)
    return c;
  fill_stat(e, rep);
  return VFS_OK;
}

static vfs_code op_remove(eryx_vfs *v, const vfs_request *r, bool dir) {
  if (r->path_len == 0)
    return dir ? VFS_EINVAL : VFS_EISDIR; /* the mount itself stays */
  vfs_entry *e = eryx__vfs_find(v, r->path, r->path_len);
  if (!e)
    return eryx__vfs_check_parent(v, r->path, r->path_len) == VFS_ENOTDIR ? VFS_ENOTDIR
                                                                : VFS_ENOENT;
  if (dir && !e->dir)
    return VFS_ENOTDIR;
  if (!dir && e->dir)
    return VFS_EISDIR;
  if (dir && has_children(v, r->path, r->path_len))
    return VFS_ENOTEMPTY;
  eryx__vfs_unlink(v, e);
  return VFS_OK;
}

/* POSIX rename: replaces a file, or an empty directory by a directory. */
static vfs_code op_rename(eryx_vfs *v, const vfs_request *r) {
  const char *from = r->path, *to = r->path2;
  size_t flen = r->path_len, tlen = r->path2_len;
  if (flen == 0 || tlen == 0)
    return VFS_EINVAL;
  vfs_entry *src = eryx__vfs_find(v, from, flen);
  if (!src)
    return VFS_ENOENT;
  if (flen == tlen && memcmp(from, to, flen) == 0)
    return VFS_OK;
  bool src_dir = src->dir;
  /* A directory cannot move inside itself. */
  if (src_dir && tlen > flen && memcmp(to, from, flen) == 0 && to[flen] == '/')
    return VFS_EINVAL;
  vfs_code c = eryx__vfs_check_parent(v, to, tlen);
  if (c != VFS_OK)
    return c;
  vfs_entry *dst = eryx__vfs_find(v, to, tlen);
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
    if (&v->entries[i] == src || (src_dir && eryx__vfs_is_inside(&v->entries[i], from, flen)))
      moved++;
  /* Longer names cost more (what `dst` frees is not counted). */
  if (tlen > flen && !eryx__vfs_fits(v, (uint64_t)(tlen - flen) * moved))
    return VFS_ENOSPC;
  char **paths = calloc(moved, sizeof *paths);
  size_t *idx = calloc(moved, sizeof *idx);
  bool fine = paths && idx;
  size_t k = 0;
  for (size_t i = 0; fine && i < v->count; i++) {
    vfs_entry *e = &v->entries[i];
    if (e != src && !(src_dir && eryx__vfs_is_inside(e, from, flen)))
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
    eryx__vfs_unlink(v, dst); /* replaced; it was not among the moved entries */
  return VFS_OK;
}

/* The request is well formed: a known op, normalized paths, and nothing in
 * the fields the op does not use (so a hand-made call cannot smuggle
 * anything past these checks). Sizes and offsets are checked against the
 * file and the quota by each op, before anything is allocated. */
static vfs_code check_request(const vfs_request *r) {
  if (r->op < VFS_OP_STAT || r->op > VFS_OP_UTIME)
    return VFS_EINVAL;
  vfs_code c = eryx__vfs_check_path(r->path, r->path_len);
  if (c != VFS_OK)
    return c;
  if (r->op == VFS_OP_RENAME && (c = eryx__vfs_check_path(r->path2, r->path2_len)) != VFS_OK)
    return c;
  bool offset = r->op == VFS_OP_READ || r->op == VFS_OP_WRITE || r->op == VFS_OP_UTIME;
  bool size = r->op == VFS_OP_READ || r->op == VFS_OP_TRUNCATE || r->op == VFS_OP_OPEN;
  if ((r->op != VFS_OP_RENAME && r->path2_len) || (!offset && r->offset) ||
      (!size && r->size) || (r->op != VFS_OP_WRITE && r->data_len))
    return VFS_EINVAL;
  if (r->op == VFS_OP_OPEN &&
      (r->size & ~(uint64_t)(VFS_O_CREATE | VFS_O_EXCL | VFS_O_TRUNC | VFS_O_WRITE)))
    return VFS_EINVAL;
  return VFS_OK;
}

void eryx__vfs_apply(eryx_vfs *v, const vfs_request *r, vfs_reply *rep) {
  pthread_mutex_lock(&v->lock);
  eryx__vfs_apply_locked(v, r, rep);
  pthread_mutex_unlock(&v->lock);
}

void eryx__vfs_apply_locked(eryx_vfs *v, const vfs_request *r, vfs_reply *rep) {
  memset(rep, 0, sizeof *rep);
  vfs_code c = check_request(r);
  if (c != VFS_OK) {
    rep->code = c;
    return;
  }
  vfs_entry *e;
  switch (r->op) {
  case VFS_OP_STAT:
    if (r->path_len == 0) {
      rep->dir = true;
      break;
    }
    e = eryx__vfs_find(v, r->path, r->path_len);
    if (e)
      fill_stat(e, rep);
    else
      c = eryx__vfs_check_parent(v, r->path, r->path_len) == VFS_ENOTDIR ? VFS_ENOTDIR
                                                                        : VFS_ENOENT;
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
    e = r->path_len ? eryx__vfs_find(v, r->path, r->path_len) : NULL;
    if (e)
      e->mtime_ns = r->offset;
    else if (r->path_len)
      c = VFS_ENOENT;
    break;
  default: c = VFS_EINVAL;
  }
  rep->code = c;
  if (c != VFS_OK) {
    free(rep->data);
    rep->data = NULL;
    rep->data_len = 0;
  }
}
