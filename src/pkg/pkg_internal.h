/*
 * pkg_internal.h — what the four files of the package preparer share
 * (see pkg.h for the whole picture).
 *
 * Every function here that can fail returns an eryx_error (NULL: success)
 * whose message already starts with "package <path>: ", made by
 * eryx__pkg_fail from the job being prepared. Paths on the host are plain
 * NUL-terminated strings held in buffers of ERYX__PKG_PATH_MAX bytes;
 * anything that would not fit is refused, never cut.
 *
 * Ownership: a job belongs to eryx__pkg_prepare (cache.c) and lives on its
 * stack for the length of one call; nothing here keeps a pointer to it.
 */
#ifndef ERYX_PKG_INTERNAL_H
#define ERYX_PKG_INTERNAL_H

#include "../internal.h"
#include "pkg.h"

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#define ERYX__PKG_PATH_MAX PATH_MAX
/* The longest member name accepted in an archive, and the longest link
 * target: far beyond any real package, short enough to bound the work. */
#define ERYX__PKG_MEMBER_MAX 1024
/* One path component (NAME_MAX on Linux). */
#define ERYX__PKG_COMPONENT_MAX 255
/* Directories one inside the other, at most: bounds every walk's
 * recursion (real packages nest a dozen deep at most). */
#define ERYX__PKG_DEPTH_MAX 64
/* A distribution name or version (wheel file names, PKG-INFO). */
#define ERYX__PKG_NAME_MAX 200
/* The file every unpacked tree holds, with what a cache hit needs to know
 * without unpacking again (the name and the native flag). Members of that
 * name are refused. */
#define ERYX__PKG_META_NAME ".eryx-package"

/* One call of eryx__pkg_prepare: the path for messages and the caps. */
typedef struct eryx__pkg_job {
  const char *shown; /* the path as given, escaped for messages */
  uint64_t max_bytes;
  uint64_t max_files;
  bool refuse_native;
} eryx__pkg_job;

/* ---- cache.c: messages ---- */

/* "package <path>: " + the formatted text, as ERYX_ERR_PACKAGE. */
eryx_error *eryx__pkg_fail(const eryx__pkg_job *job, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* "package <path>: cannot <what> <host path>: <strerror(err)>". */
eryx_error *eryx__pkg_fail_os(const eryx__pkg_job *job, int err, const char *what,
                              const char *host_path);
/* Writes s[0..n) into out (at most cap bytes, NUL-terminated) with control
 * characters, quotes and backslashes escaped, and bytes that are not valid
 * UTF-8 written as \xNN; a long name is cut with "...". For naming archive
 * members, whose names cannot be trusted, in messages. */
#define ERYX__PKG_QUOTE_MAX 200
void eryx__pkg_quote(char *out, size_t cap, const char *s, size_t n);

/* ---- cache.c: files in a staging directory ---- */

/* out = a + "/" + b; false (out untouched) when it would not fit. */
bool eryx__pkg_join(char out[ERYX__PKG_PATH_MAX], const char *a, const char *b);
/* Creates the directories of `rel` (a normalized relative path) under
 * `root`, each 0755. A component that exists but is not a directory (a
 * file, or a link: never followed) is refused, naming `member`. */
eryx_error *eryx__pkg_mkdirs(const eryx__pkg_job *job, const char *root, const char *rel,
                             size_t rel_len);
/* The entries of a directory (not "." or ".."), sorted by name; release
 * with eryx__pkg_list_free. */
typedef struct eryx__pkg_list {
  char **names;
  size_t count;
} eryx__pkg_list;
eryx_error *eryx__pkg_list_dir(const eryx__pkg_job *job, const char *dir,
                               eryx__pkg_list *out);
void eryx__pkg_list_free(eryx__pkg_list *l);
/* lstat() without following a link: true when `path` is a directory /
 * a regular file. */
bool eryx__pkg_is_dir(const char *path);
bool eryx__pkg_is_file(const char *path);
/* Moves `src` to `dst` (rename), merging into an existing directory entry
 * by entry; two files of the same name are refused (`what` names the
 * move in that message). */
eryx_error *eryx__pkg_move(const eryx__pkg_job *job, const char *src, const char *dst,
                           const char *what);
/* Reads a whole small file (at most `max` bytes, else refused) into a
 * NUL-terminated malloc'd buffer owned by the caller. */
eryx_error *eryx__pkg_read_small(const eryx__pkg_job *job, const char *path, size_t max,
                                 char **data, size_t *len);
/* Copies a regular file (the new one is 0644). */
eryx_error *eryx__pkg_copy_file(const eryx__pkg_job *job, const char *src,
                                const char *dst);
/* Removes a tree, never following links; best effort, silent. */
void eryx__pkg_rmtree(const char *path);

/* ---- archive.c ---- */

typedef enum eryx__pkg_kind {
  ERYX__PKG_WHEEL,   /* zip */
  ERYX__PKG_TARBALL, /* gzip'd tar */
} eryx__pkg_kind;

typedef struct eryx__pkg_unpacked {
  uint64_t members;
  uint64_t bytes; /* bytes of file data written */
  bool has_so;    /* a member's name ends in ".so" */
} eryx__pkg_unpacked;

/* Reads the archive open on `fd` (from its start) into the empty
 * directory `dest`, vetting every member and counting against the job's
 * caps. On failure `dest` may hold part of the archive: the caller
 * deletes it (all or nothing is the caller's staging). */
eryx_error *eryx__pkg_unpack(const eryx__pkg_job *job, int fd, eryx__pkg_kind kind,
                             const char *dest, eryx__pkg_unpacked *out);

/* ---- wheel.c ---- */

typedef struct eryx__wheel_name {
  char dist[ERYX__PKG_NAME_MAX + 1];
  char version[ERYX__PKG_NAME_MAX + 1];
  bool native; /* its platform tag is WASI's */
} eryx__wheel_name;

/* Parses a wheel's file name (the base name, without directories) and
 * checks its tags: refused unless it is for CPython 3.14 (or any Python 3)
 * on any platform or WASI. No file is read. */
eryx_error *eryx__wheel_check_name(const eryx__pkg_job *job, const char *base,
                                   size_t base_len, eryx__wheel_name *out);
/* Checks the unpacked wheel's *.dist-info/WHEEL (its version and Tag
 * lines, as the file name's) and lays the tree out as installed:
 * .data/purelib and .data/platlib merged into the root, the rest of .data
 * dropped. Sets *native when the tags are WASI's. */
eryx_error *eryx__wheel_layout(const eryx__pkg_job *job, const char *tree, bool *native);

/* ---- sdist.c ---- */

/* Turns an unpacked tarball in `raw` into the tree to mount. An sdist (one
 * top directory holding PKG-INFO) gives a new tree in `staging`/tree with
 * its importable part and its metadata, and its name from PKG-INFO
 * (*is_sdist set); anything else is a site-packages tree, used as it is
 * (tree = raw, name left empty). */
eryx_error *eryx__tarball_layout(const eryx__pkg_job *job, const char *raw,
                                 const char *staging, char tree[ERYX__PKG_PATH_MAX],
                                 char name[ERYX__PKG_NAME_MAX + 1], bool *is_sdist);

#endif
