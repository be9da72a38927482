/*
 * vfs_wasi.c — the tree operations behind the guest's WASI filesystem view
 * of the mount (wasi:filesystem, served by deps/wasmtime/src/vfs_wasi.rs).
 *
 * Why: the mount is a WASI preopen of our own, so everything in the guest
 * that does file I/O (the import system, sqlite3, io.FileIO, os.open) sees
 * it, while the bytes stay in the host tree with its quota (vfs.c).
 *
 * Rust keeps the descriptors (which entry, read/write, offsets) and calls
 * one hook, eryx__vfs_wasi_call, for each operation; everything the guest
 * sends is checked here. A descriptor names its entry by inode number, not
 * by path, so an open file or directory follows a rename; the root of the
 * tree is inode 0. Rust reports each open and close of a file descriptor
 * (HOLD, RELEASE): a file removed while held becomes an orphan (vfs.h),
 * out of the namespace but still counted by the quota, and is freed with
 * its last descriptor, as POSIX keeps an unlinked open file. Paths are relative to the descriptor's directory and
 * are resolved lexically: "." is skipped, ".." goes up but never above the
 * root of the tree (EPERM), and an absolute path is refused. There are no
 * links in a tree, so nothing can point out of it.
 *
 * Rust never links to liberyx: it gets these functions as pointers
 * (eryx__fs_hooks), like eryx__net_hooks.
 */
#include "vfs.h"

#include <stdlib.h>
#include <string.h>

/* The mount path when the sandbox has a tree, even while it lends the tree
 * to nobody (a restore's trial run: sandbox.c sets its tree aside), so the
 * preopen list an interpreter reads once always has the mount; the tree
 * itself, referenced, only when there is one now. */
/* What Rust holds: the tree (a reference) and the sandbox's own cap on it
 * (max_vfs_bytes). */
typedef struct {
  eryx_vfs *vfs;
  uint64_t cap; /* 0: the tree's quota alone */
} fs_handle;

static void *fs_tree(void *store_data, const char **mount, size_t *mount_len) {
  const eryx_store_data *d = store_data;
  struct eryx_sandbox *sb = d ? d->sandbox : NULL;
  *mount = NULL;
  *mount_len = 0;
  if (!sb)
    return NULL;
  *mount = eryx__sandbox_vfs_mount(sb, mount_len);
  eryx_vfs *v = eryx__sandbox_vfs(sb);
  fs_handle *h = v ? malloc(sizeof *h) : NULL;
  if (!h)
    return NULL;
  h->vfs = eryx__vfs_ref(v);
  h->cap = eryx__sandbox_max_vfs(sb);
  return h;
}

static void fs_release(void *tree) {
  fs_handle *h = tree;
  eryx_vfs_free(h->vfs);
  free(h);
}

static void fs_free(uint8_t *p) { free(p); }

/* The entry `ino`, in the tree or among the files removed while open. */
static vfs_entry *find_ino(eryx_vfs *v, uint64_t ino) {
  for (size_t i = 0; i < v->count; i++)
    if (v->entries[i].ino == ino)
      return &v->entries[i];
  for (size_t i = 0; i < v->orphan_count; i++)
    if (v->orphans[i].ino == ino)
      return &v->orphans[i];
  return NULL;
}

static bool is_orphan(const eryx_vfs *v, const vfs_entry *e) {
  return v->orphan_count && e >= v->orphans && e < v->orphans + v->orphan_count;
}

static void hold(eryx_vfs *v, uint64_t ino, bool more) {
  vfs_entry *e = ino ? find_ino(v, ino) : NULL;
  if (!e)
    return;
  if (more) {
    e->holds++;
    return;
  }
  if (e->holds)
    e->holds--;
  if (e->holds == 0 && is_orphan(v, e)) {
    v->used -= e->size + VFS_ENTRY_COST(e->path_len);
    free(e->path);
    free(e->data);
    *e = v->orphans[--v->orphan_count];
  }
}

/* Operations on the descriptor's own file (no path): on the entry itself,
 * which may have been renamed or removed while open. -1: not one of
 * these. */
static int32_t on_entry(eryx_vfs *v, const eryx_fs_req *q, eryx_fs_rep *rep) {
  if (q->path_len || !q->ino)
    return -1;
  if (q->op != EFS_STAT && q->op != EFS_READ && q->op != EFS_WRITE &&
      q->op != EFS_SETSIZE && q->op != EFS_UTIME)
    return -1;
  vfs_entry *e = find_ino(v, q->ino);
  if (!e)
    return VFS_ENOENT;
  if (e->dir)
    return q->op == EFS_STAT || q->op == EFS_UTIME ? -1 : VFS_EISDIR;
  vfs_code c = VFS_OK;
  switch (q->op) {
  case EFS_READ:
    if (q->offset < e->size) {
      uint64_t left = e->size - q->offset;
      rep->n = left < q->out_len ? (size_t)left : q->out_len;
      memcpy(q->out, e->data + q->offset, (size_t)rep->n);
    }
    break;
  case EFS_WRITE: {
    uint64_t at = (q->flags & EFS_APPEND) ? e->size : q->offset;
    c = eryx__vfs_write_entry(v, e, at, q->data, q->data_len);
    if (c == VFS_OK) {
      rep->n = q->data_len;
      rep->size = at + q->data_len;
      return VFS_OK;
    }
    return c;
  }
  case EFS_SETSIZE:
    c = eryx__vfs_resize_entry(v, e, q->size);
    if (c == VFS_OK)
      e->mtime_ns = eryx__vfs_now_ns();
    return c;
  case EFS_UTIME:
    if (q->flags & EFS_T_NOW)
      e->mtime_ns = eryx__vfs_now_ns();
    else if (q->flags & EFS_T_SET)
      e->mtime_ns = q->offset;
    return VFS_OK;
  default:
    break;
  }
  rep->dir = 0;
  rep->ino = e->ino;
  rep->size = e->size;
  rep->mtime_ns = e->mtime_ns;
  return c;
}

/* The tree path of `rel` below the entry `ino` (a directory, or the root:
 * 0), into `out` (VFS_MAX_PATH + 1 bytes). */
static vfs_code resolve(eryx_vfs *v, uint64_t ino, const char *rel, size_t rel_len, char *out,
                        size_t *out_len) {
  size_t n = 0;
  if (ino) {
    vfs_entry *d = find_ino(v, ino);
    if (!d)
      return VFS_ENOENT; /* removed while open */
    if (!d->dir && rel_len)
      return VFS_ENOTDIR;
    memcpy(out, d->path, d->path_len);
    n = d->path_len;
  }
  if (rel_len > VFS_MAX_PATH)
    return VFS_ENAMETOOLONG;
  if (rel_len && rel[0] == '/')
    return EFS_EPERM;
  size_t start = 0;
  for (size_t i = 0; i <= rel_len; i++) {
    if (i < rel_len && rel[i] == '\0')
      return VFS_EINVAL;
    if (i < rel_len && rel[i] != '/')
      continue;
    const char *c = rel + start;
    size_t cl = i - start;
    start = i + 1;
    if (cl == 0 || (cl == 1 && c[0] == '.'))
      continue;
    if (cl == 2 && c[0] == '.' && c[1] == '.') {
      if (n == 0)
        return EFS_EPERM; /* above the mount */
      while (n > 0 && out[n - 1] != '/')
        n--;
      if (n > 0)
        n--;
      continue;
    }
    if (cl > VFS_MAX_NAME)
      return VFS_ENAMETOOLONG;
    if (n + (n ? 1 : 0) + cl > VFS_MAX_PATH)
      return VFS_ENAMETOOLONG;
    if (n)
      out[n++] = '/';
    memcpy(out + n, c, cl);
    n += cl;
  }
  out[n] = '\0';
  *out_len = n;
  return VFS_OK;
}

static void stat_of(eryx_vfs *v, const char *path, size_t len, eryx_fs_rep *rep) {
  (void)v;
  if (len == 0) {
    rep->dir = 1;
    rep->ino = 0;
    return;
  }
  vfs_entry *e = eryx__vfs_find(v, path, len);
  rep->dir = e->dir;
  rep->ino = e->ino;
  rep->size = e->size;
  rep->mtime_ns = e->mtime_ns;
}

/* Directory children as "d" or "f", the name and '\0' each. */
static vfs_code list(eryx_vfs *v, const char *path, size_t len, eryx_fs_rep *rep) {
  vfs_request q = {.op = VFS_OP_LIST, .path = path, .path_len = len};
  vfs_reply r;
  eryx__vfs_apply_locked(v, &q, &r);
  if (r.code != VFS_OK)
    return r.code;
  size_t names = 0;
  for (size_t i = 0; i < r.data_len; i++)
    names += r.data[i] == '\0';
  uint8_t *out = malloc(r.data_len + names + 1);
  if (!out) {
    free(r.data);
    return VFS_ENOMEM;
  }
  char full[VFS_MAX_PATH + VFS_MAX_NAME + 2];
  size_t at = 0;
  for (size_t i = 0; i < r.data_len;) {
    const char *name = (const char *)r.data + i;
    size_t nl = strlen(name);
    size_t fl = 0;
    if (len) {
      memcpy(full, path, len);
      full[len] = '/';
      fl = len + 1;
    }
    memcpy(full + fl, name, nl);
    vfs_entry *e = eryx__vfs_find(v, full, fl + nl);
    out[at++] = e && e->dir ? 'd' : 'f';
    memcpy(out + at, name, nl + 1);
    at += nl + 1;
    i += nl + 1;
  }
  free(r.data);
  rep->list = out;
  rep->list_len = at;
  return VFS_OK;
}

static int32_t run(eryx_vfs *v, const eryx_fs_req *q, eryx_fs_rep *rep) {
  if (q->op == EFS_HOLD || q->op == EFS_RELEASE) {
    hold(v, q->ino, q->op == EFS_HOLD);
    return VFS_OK;
  }
  int32_t direct = on_entry(v, q, rep);
  if (direct >= 0)
    return direct;
  char path[VFS_MAX_PATH + 1], path2[VFS_MAX_PATH + 1];
  size_t len = 0, len2 = 0;
  vfs_code c = resolve(v, q->ino, q->path, q->path_len, path, &len);
  if (c != VFS_OK)
    return c;
  vfs_request r = {.path = path, .path_len = len};
  vfs_reply out;
  vfs_entry *e;
  switch (q->op) {
  case EFS_STAT:
    if (len && !eryx__vfs_find(v, path, len))
      return eryx__vfs_check_parent(v, path, len) == VFS_ENOTDIR ? VFS_ENOTDIR : VFS_ENOENT;
    stat_of(v, path, len, rep);
    return VFS_OK;
  case EFS_OPEN: {
    if (q->flags & ~(uint32_t)(EFS_O_CREATE | EFS_O_EXCL | EFS_O_TRUNC | EFS_O_DIRECTORY))
      return VFS_EINVAL;
    e = len ? eryx__vfs_find(v, path, len) : NULL;
    bool is_dir = len == 0 || (e && e->dir);
    if ((q->flags & EFS_O_DIRECTORY) && (len == 0 || e) && !is_dir)
      return VFS_ENOTDIR;
    if (is_dir && (q->flags & EFS_O_CREATE) && (q->flags & EFS_O_EXCL))
      return VFS_EEXIST;
    if (is_dir) {
      if (q->flags & EFS_O_TRUNC)
        return VFS_EISDIR;
      stat_of(v, path, len, rep);
      return VFS_OK;
    }
    if (!e && (q->flags & EFS_O_DIRECTORY))
      return (q->flags & EFS_O_CREATE) ? VFS_EINVAL : VFS_ENOENT;
    r.op = VFS_OP_OPEN;
    r.size = ((q->flags & EFS_O_CREATE) ? VFS_O_CREATE : 0) |
             ((q->flags & EFS_O_EXCL) ? VFS_O_EXCL : 0) |
             ((q->flags & EFS_O_TRUNC) ? VFS_O_TRUNC | VFS_O_WRITE : 0);
    eryx__vfs_apply_locked(v, &r, &out);
    if (out.code != VFS_OK)
      return out.code;
    stat_of(v, path, len, rep);
    return VFS_OK;
  }
  case EFS_READ: {
    e = len ? eryx__vfs_find(v, path, len) : NULL;
    if (!e || e->dir)
      return e ? VFS_EISDIR : (len ? VFS_ENOENT : VFS_EISDIR);
    size_t n = 0;
    if (q->offset < e->size) {
      uint64_t left = e->size - q->offset;
      n = left < q->out_len ? (size_t)left : q->out_len;
      memcpy(q->out, e->data + q->offset, n);
    }
    rep->n = n;
    rep->size = e->size;
    return VFS_OK;
  }
  case EFS_WRITE:
    e = len ? eryx__vfs_find(v, path, len) : NULL;
    if (!e || e->dir)
      return e ? VFS_EISDIR : (len ? VFS_ENOENT : VFS_EISDIR);
    r.op = VFS_OP_WRITE;
    r.offset = (q->flags & EFS_APPEND) ? e->size : q->offset;
    r.data = q->data;
    r.data_len = q->data_len;
    eryx__vfs_apply_locked(v, &r, &out);
    if (out.code == VFS_OK) {
      rep->n = q->data_len;
      rep->size = r.offset + q->data_len; /* the end of what was written */
    }
    return out.code;
  case EFS_SETSIZE:
    if (len == 0)
      return VFS_EISDIR;
    r.op = VFS_OP_TRUNCATE;
    r.size = q->size;
    eryx__vfs_apply_locked(v, &r, &out);
    return out.code;
  case EFS_LIST:
    return list(v, path, len, rep);
  case EFS_MKDIR:
    r.op = VFS_OP_MKDIR;
    eryx__vfs_apply_locked(v, &r, &out);
    return out.code;
  case EFS_RMDIR:
  case EFS_UNLINK:
    r.op = q->op == EFS_RMDIR ? VFS_OP_RMDIR : VFS_OP_UNLINK;
    eryx__vfs_apply_locked(v, &r, &out);
    return out.code;
  case EFS_RENAME:
    if ((c = resolve(v, q->ino2, q->path2, q->path2_len, path2, &len2)) != VFS_OK)
      return c;
    r.op = VFS_OP_RENAME;
    r.path2 = path2;
    r.path2_len = len2;
    eryx__vfs_apply_locked(v, &r, &out);
    return out.code;
  case EFS_UTIME:
    if (len == 0)
      return VFS_OK;
    if (!(e = eryx__vfs_find(v, path, len)))
      return VFS_ENOENT;
    if (q->flags & EFS_T_NOW)
      e->mtime_ns = eryx__vfs_now_ns();
    else if (q->flags & EFS_T_SET)
      e->mtime_ns = q->offset;
    return VFS_OK;
  default:
    return VFS_EINVAL;
  }
}

static int32_t fs_call(void *tree, const eryx_fs_req *q, eryx_fs_rep *rep) {
  fs_handle *h = tree;
  eryx_vfs *v = h->vfs;
  memset(rep, 0, sizeof *rep);
  if ((q->path_len && !q->path) || (q->path2_len && !q->path2) ||
      (q->data_len && !q->data) || (q->out_len && !q->out))
    return VFS_EINVAL;
  pthread_mutex_lock(&v->lock);
  /* The sandbox's cap is the quota of this call: every check of growth
   * (eryx__vfs_fits) reads v->quota, under the lock held here. */
  uint64_t quota = v->quota;
  if (h->cap && h->cap < quota)
    v->quota = h->cap;
  int32_t c = run(v, q, rep);
  v->quota = quota;
  pthread_mutex_unlock(&v->lock);
  if (c != VFS_OK) {
    free(rep->list);
    rep->list = NULL;
    rep->list_len = 0;
  }
  return c;
}

const eryx_fs_hooks eryx__fs_hooks = {
    .tree = fs_tree,
    .release = fs_release,
    .call = fs_call,
    .free = fs_free,
};
