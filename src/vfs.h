/*
 * vfs.h — the in-memory file tree behind a sandbox's mounted directory.
 *
 * Internal interface shared by vfs.c (the tree and its operations),
 * vfs_archive.c (whole-tree export/import for snapshots) and host_imports.c
 * (the guest's `fs` import). Paths here are relative to the tree's root,
 * '/'-separated, without "." or ".." components ("" is the root).
 */
#ifndef ERYX_VFS_H
#define ERYX_VFS_H

#include "internal.h"

#include <pthread.h>
#include <stdatomic.h>

/* Outcome of one operation; the guest maps each to its own errno value. */
typedef enum {
  VFS_OK = 0,
  VFS_ENOENT = 1,
  VFS_EEXIST = 2,
  VFS_ENOTDIR = 3,
  VFS_EISDIR = 4,
  VFS_ENOTEMPTY = 5,
  VFS_ENOSPC = 6,
  VFS_EINVAL = 7,
  VFS_ENAMETOOLONG = 8,
  VFS_ENOMEM = 9,
} vfs_code;

/* Operations of the guest's `fs` import (see guest/wit/sandbox.wit). */
typedef enum {
  VFS_OP_STAT = 1,
  VFS_OP_OPEN = 2,
  VFS_OP_READ = 3,
  VFS_OP_WRITE = 4,
  VFS_OP_TRUNCATE = 5,
  VFS_OP_LIST = 6,
  VFS_OP_MKDIR = 7,
  VFS_OP_RMDIR = 8,
  VFS_OP_UNLINK = 9,
  VFS_OP_RENAME = 10,
  VFS_OP_UTIME = 11,
} vfs_op;

/* OPEN flags. */
#define VFS_O_CREATE 1u
#define VFS_O_EXCL 2u
#define VFS_O_TRUNC 4u
#define VFS_O_WRITE 8u

#define VFS_MAX_PATH 4096
#define VFS_MAX_NAME 255
#define VFS_MAX_ENTRIES 100000
/* Largest file, whatever the quota (also a tree without one): a sparse
 * write or truncate far out never asks the host for more than this. */
#define VFS_MAX_FILE ((uint64_t)1 << 32)
/* What an entry costs against the quota besides its content, so that empty
 * files and long names cannot fill host memory outside the quota. */
#define VFS_ENTRY_COST(path_len) ((uint64_t)(path_len) + 64)

typedef struct vfs_entry {
  char *path; /* NUL-terminated, relative to the root */
  size_t path_len;
  bool dir;
  uint8_t *data;
  size_t size, cap;
  uint64_t mtime_ns;
  uint64_t ino;
  uint32_t holds; /* open WASI descriptors of this file (vfs_wasi.c) */
} vfs_entry;

struct eryx_vfs {
  atomic_int refs;
  pthread_mutex_t lock;
  uint64_t quota;     /* most bytes; UINT64_MAX: none */
  uint64_t used;      /* content + VFS_ENTRY_COST of every entry */
  vfs_entry *entries; /* unordered; the root is implicit */
  size_t count, cap;
  /* Files removed while open (holds > 0): out of the tree's namespace,
   * still counted by the quota, freed at the last release. Never in a
   * snapshot. */
  vfs_entry *orphans;
  size_t orphan_count, orphan_cap;
  uint64_t next_ino;
};

/* One request from the guest. `data` is the WRITE payload. */
typedef struct {
  vfs_op op;
  const char *path, *path2;
  size_t path_len, path2_len;
  uint64_t offset, size;
  const uint8_t *data;
  size_t data_len;
} vfs_request;

/* The answer. `data` (READ bytes, or LIST names each ended by '\0') is
 * malloc'ed and owned by the caller. */
typedef struct {
  vfs_code code;
  bool dir;
  uint64_t size, mtime_ns, ino;
  uint8_t *data;
  size_t data_len;
} vfs_reply;

/* Lookups and changes for vfs_api.c; the caller holds the tree's lock. */
vfs_entry *eryx__vfs_find(eryx_vfs *v, const char *path, size_t len);
/* The parent exists and is a directory (else ENOENT or ENOTDIR). */
vfs_code eryx__vfs_check_parent(eryx_vfs *v, const char *path, size_t len);
/* `e` is strictly below directory `dir` ("" is the root). */
bool eryx__vfs_is_inside(const vfs_entry *e, const char *dir, size_t len);
/* `more` bytes fit in the quota. */
bool eryx__vfs_fits(const eryx_vfs *v, uint64_t more);
vfs_entry *eryx__vfs_add(eryx_vfs *v, const char *path, size_t len, bool dir,
                         vfs_code *code);
/* Removes `e` (the last entry moves into its slot). */
void eryx__vfs_drop(eryx_vfs *v, vfs_entry *e);
/* Removes `e` from the namespace: dropped, or kept as an orphan while it
 * is held open. */
void eryx__vfs_unlink(eryx_vfs *v, vfs_entry *e);
/* Writes into / resizes one entry (a file) within the quota. */
vfs_code eryx__vfs_write_entry(eryx_vfs *v, vfs_entry *e, uint64_t offset,
                               const uint8_t *data, size_t len);
vfs_code eryx__vfs_resize_entry(eryx_vfs *v, vfs_entry *e, uint64_t size);
uint64_t eryx__vfs_now_ns(void);

/* Runs one request under the tree's lock. */
void eryx__vfs_apply(eryx_vfs *vfs, const vfs_request *req, vfs_reply *rep);
/* The same, with the lock already held (vfs_wasi.c). */
void eryx__vfs_apply_locked(eryx_vfs *vfs, const vfs_request *req, vfs_reply *rep);

/* Checks a relative path: no empty, "." or ".." components, limits. */
vfs_code eryx__vfs_check_path(const char *path, size_t len);

/* Takes a reference (a sandbox holds one while it uses the tree). */
eryx_vfs *eryx__vfs_ref(eryx_vfs *vfs);

/* Whole-tree serialization (vfs_archive.c), as ASCII text so it can travel
 * inside a session snapshot. Import replaces the tree's content only when
 * the whole archive is valid and fits the quota. */
eryx_error *eryx__vfs_export_text(eryx_vfs *vfs, eryx_buf *out);
eryx_error *eryx__vfs_import_text(eryx_vfs *vfs, const char *text, size_t len);

/* Import in two steps, for a restore that must change nothing unless every
 * part of it works: stage (checks the whole archive and the quota, builds
 * the new entries; the tree is untouched), then commit (swaps them in;
 * cannot fail; frees `st`) or free the staged entries. */
typedef struct vfs_staged vfs_staged;
eryx_error *eryx__vfs_stage_text(eryx_vfs *vfs, const char *text, size_t len,
                                 vfs_staged **out);
void eryx__vfs_commit(eryx_vfs *vfs, vfs_staged *st);
void eryx__vfs_staged_free(vfs_staged *st);

#endif
