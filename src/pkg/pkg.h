/*
 * pkg.h — Python packages for sandboxes: checked, unpacked once into a
 * content-addressed cache, then mounted read-only (internal).
 *
 *   archive.c  reading a .whl (zip) or .tar.gz/.tgz safely with libarchive:
 *              every member vetted (no absolute path, no "..", no link out
 *              of the package, no special file), caps on bytes written and
 *              on members (zip bombs), all or nothing
 *   wheel.c    a wheel's tags (file name and WHEEL): which Python, which
 *              platform; the install layout (.data/purelib, platlib)
 *   sdist.c    a pure-Python sdist turned into an importable tree with its
 *              metadata; a site-packages tarball taken as it is
 *   cache.c    the cache directory, the sha256 of an archive (memoized by
 *              device, inode, size and mtime), staging + atomic rename
 *
 * The only entry point the rest of the library uses is eryx__pkg_prepare.
 */
#ifndef ERYX_PKG_H
#define ERYX_PKG_H

#include "eryx.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ERYX_PKG_DEFAULT_MAX_BYTES ((uint64_t)1 << 30)
#define ERYX_PKG_DEFAULT_MAX_FILES 100000u

typedef struct eryx__pkg_limits {
  uint64_t max_bytes; /* 0: ERYX_PKG_DEFAULT_MAX_BYTES */
  uint64_t max_files; /* 0: ERYX_PKG_DEFAULT_MAX_FILES */
  bool refuse_native; /* a wheel whose name says WASI native code is
                         refused before anything is unpacked (plain
                         sandboxes: only a factory can link it) */
} eryx__pkg_limits;

typedef struct eryx__pkg {
  char *host_dir;  /* the directory to mount read-only and put on sys.path */
  char *name;      /* distribution or directory name, for messages and the
                      factory manifest (never NULL after success) */
  bool has_native; /* holds extension modules built for WASI (.so): only a
                      factory can link them */
  bool cache_hit;  /* the archive was already unpacked (for benchmarks) */
  bool in_cache;   /* host_dir is a cache entry (not the caller's own
                      directory, used where it is) */
} eryx__pkg;

/* Checks `path` (a .whl, .tar.gz/.tgz or directory) and gives the directory
 * to mount for it, unpacking the archive into the cache first unless it is
 * already there. A directory holding __init__.py is one package: it is
 * copied into the cache under its own name (so the mounted directory holds
 * just it); any other directory is used as it is. Fills `*out` (release
 * with eryx__pkg_clear) or returns ERYX_ERR_PACKAGE naming `path` and the
 * reason, leaving nothing behind in the cache. Thread-safe. */
eryx_error *eryx__pkg_prepare(const char *path, size_t path_len,
                              const eryx__pkg_limits *limits, eryx__pkg *out);

void eryx__pkg_clear(eryx__pkg *p);

/* The cache root: ERYX_CACHE_DIR, else $XDG_CACHE_HOME/eryx, else
 * $HOME/.cache/eryx (malloc'd; NULL when none can be named). */
char *eryx__cache_dir(void);

#endif
