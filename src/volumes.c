/*
 * volumes.c — host directories and files mounted into a sandbox on
 * purpose (eryx_sandbox_options.volumes), checked once when the sandbox is
 * made and then preopened into each of its instances.
 *
 * A directory volume is a WASI preopen of that directory, read-only unless
 * the caller asked for writes. Path resolution inside a preopen is
 * Wasmtime's (cap-std): "..", absolute symlinks and symlinks that lead out
 * of the directory are refused there, so the guest reaches nothing outside
 * it. A file volume cannot be a preopen by itself (only directories are),
 * and preopening its directory would show its neighbours: the file is
 * hard-linked (else copied) alone into a private directory under the cache
 * (volumes/), which is preopened read-only at the guest path's parent and
 * removed with the sandbox. File volumes are read-only: a writable one
 * would let the guest create files in that private directory, which no
 * quota bounds (mount the file's directory writable instead).
 *
 * Guest paths are absolute and normalized, unique, and may not be "/",
 * /python or under it (the stdlib), /packages or under it (packages), a
 * top-level number (a factory's package mounts: /2, /3, ...), or cover or
 * sit under the file tree's mount (/data).
 */
#define _GNU_SOURCE /* realpath */
#include "internal.h"
#include "pkg/pkg.h" /* eryx__cache_dir */

#include <errno.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_VOLUMES 64

static bool under(const char *path, size_t n, const char *dir) {
  size_t d = strlen(dir);
  return n >= d && !memcmp(path, dir, d) && (n == d || path[d] == '/');
}

/* Absolute, no empty, "." or ".." part, no NUL, valid UTF-8, not "/". */
static bool normalized(const char *p, size_t n) {
  if (n < 2 || p[0] != '/' || p[n - 1] == '/' || memchr(p, '\0', n) || !eryx__utf8_valid(p, n))
    return false;
  for (size_t i = 1; i <= n; i++) {
    if (i == n || p[i] == '/') {
      size_t start = i;
      while (start > 0 && p[start - 1] != '/')
        start--;
      size_t len = i - start;
      if (len == 0 || (len == 1 && p[start] == '.') ||
          (len == 2 && p[start] == '.' && p[start + 1] == '.'))
        return false;
    }
  }
  return true;
}

static bool top_level_number(const char *p, size_t n) {
  size_t i = 1;
  while (i < n && p[i] >= '0' && p[i] <= '9')
    i++;
  return i > 1 && (i == n || p[i] == '/');
}

static eryx_error *bad_guest(size_t i, const char *p, size_t n, const char *why) {
  return eryx__error_new(ERYX_ERR_INVALID_ARGUMENT, "volumes[%zu]: guest path \"%.*s\" %s", i,
                         (int)(n > 200 ? 200 : n), p, why);
}

static eryx_error *check_guest(size_t i, const char *p, size_t n, const char *vfs_mount,
                               size_t vfs_len) {
  if (!normalized(p, n))
    return bad_guest(i, p, n, "must be an absolute path like /mnt/data (not /, no . or ..)");
  if (under(p, n, "/python") || under(p, n, "/packages") || top_level_number(p, n))
    return bad_guest(i, p, n,
                     "would shadow the runtime's own mounts (/python, /packages, /<number>)");
  if (vfs_mount && (under(p, n, vfs_mount) ||
                    (vfs_len > n && !memcmp(vfs_mount, p, n) && vfs_mount[n] == '/')))
    return bad_guest(i, p, n, "would shadow the file tree's mount (vfs_mount_path)");
  return NULL;
}

/* A private directory for file volumes: cache/volumes/<pid>-<n>. */
static char *private_dir(void) {
  static atomic_uint counter;
  char *cache = eryx__cache_dir();
  if (!cache)
    return NULL;
  char *root = eryx__path_join(cache, "volumes");
  free(cache);
  if (!root)
    return NULL;
  mkdir(root, 0700);
  char name[64];
  snprintf(name, sizeof name, "%ld-%u", (long)getpid(), atomic_fetch_add(&counter, 1));
  char *dir = eryx__path_join(root, name);
  free(root);
  if (dir && mkdir(dir, 0700) != 0) {
    free(dir);
    return NULL;
  }
  return dir;
}

eryx_error *eryx__volumes_from_options(const eryx_sandbox_options *o, const char *vfs_mount,
                                       size_t vfs_len, eryx__mounts *out,
                                       eryx__mounts *private_dirs) {
  if (!o || o->version < 6 || !o->volume_count)
    return NULL;
  if (!o->volumes)
    return eryx__error_new(ERYX_ERR_INVALID_ARGUMENT, "volumes is NULL with volume_count %zu",
                           o->volume_count);
  if (o->volume_count > MAX_VOLUMES)
    return eryx__error_new(ERYX_ERR_INVALID_ARGUMENT, "at most %d volumes", MAX_VOLUMES);
  for (size_t i = 0; i < o->volume_count; i++) {
    const eryx_volume *v = &o->volumes[i];
    if (v->version < 1 || v->version > ERYX_VOLUME_VERSION)
      return eryx__error_new(ERYX_ERR_INVALID_ARGUMENT, "volumes[%zu]: unsupported version %u",
                             i, v->version);
    eryx_error *err = check_guest(i, v->guest_path ? v->guest_path : "",
                                  v->guest_path ? v->guest_path_len : 0, vfs_mount, vfs_len);
    if (err)
      return err;
    for (size_t j = 0; j < i; j++) {
      const eryx_volume *w = &o->volumes[j];
      size_t a = v->guest_path_len, b = w->guest_path_len;
      bool nested = (a <= b && !memcmp(v->guest_path, w->guest_path, a) &&
                     (a == b || w->guest_path[a] == '/')) ||
                    (b < a && !memcmp(v->guest_path, w->guest_path, b) &&
                     v->guest_path[b] == '/');
      if (nested)
        return bad_guest(i, v->guest_path, a, "is, or is inside or around, another volume's");
    }
    if (!v->host_path || !v->host_path_len || memchr(v->host_path, '\0', v->host_path_len))
      return eryx__error_new(ERYX_ERR_INVALID_ARGUMENT, "volumes[%zu]: host_path is required",
                             i);
    char *host = eryx__strndup(v->host_path, v->host_path_len);
    char *guest = eryx__strndup(v->guest_path, v->guest_path_len);
    char real[PATH_MAX];
    struct stat st;
    if (!host || !guest) {
      free(host);
      free(guest);
      return eryx__error_new(ERYX_ERR_RESOURCES, "out of memory");
    }
    if (!realpath(host, real) || stat(real, &st) != 0) {
      err = eryx__error_new(ERYX_ERR_INVALID_ARGUMENT, "volumes[%zu]: %s: %s", i, host,
                            strerror(errno));
    } else if (S_ISDIR(st.st_mode)) {
      if (!eryx__mounts_add(out, real, guest))
        err = eryx__error_new(ERYX_ERR_RESOURCES, "out of memory");
      else
        out->items[out->count - 1].writable = v->writable != 0;
    } else if (!S_ISREG(st.st_mode)) {
      err = eryx__error_new(ERYX_ERR_INVALID_ARGUMENT,
                            "volumes[%zu]: %s is neither a directory nor a regular file", i,
                            host);
    } else if (v->writable) {
      err = eryx__error_new(ERYX_ERR_INVALID_ARGUMENT,
                            "volumes[%zu]: a single file (%s) can only be mounted read-only; "
                            "mount its directory to write to it",
                            i, host);
    } else {
      /* A file alone in a private directory, preopened at its parent. */
      char *slash = strrchr(guest, '/');
      if (slash == guest) {
        err = bad_guest(i, guest, strlen(guest),
                        "is a file directly under /: mount it in a directory (/mnt/...)");
      } else {
        *slash = '\0';
        const char *name = slash + 1;
        char *dir = private_dir();
        char *link_path = dir ? eryx__path_join(dir, name) : NULL;
        if (!dir || !link_path) {
          err = eryx__error_new(ERYX_ERR_RESOURCES, "cannot make a directory for volumes[%zu]",
                                i);
        } else if (link(real, link_path) != 0) {
          err = eryx__tree_copy_file(real, link_path);
        }
        if (dir && !eryx__mounts_add(private_dirs, dir, guest))
          err = err ? err : eryx__error_new(ERYX_ERR_RESOURCES, "out of memory");
        if (!err && !eryx__mounts_add(out, dir, guest))
          err = eryx__error_new(ERYX_ERR_RESOURCES, "out of memory");
        free(link_path);
        free(dir);
      }
    }
    free(host);
    free(guest);
    if (err)
      return err;
  }
  /* What is preopened may not overlap either: two files in one guest
   * directory, or a file's directory around another volume. */
  for (size_t i = 0; i < out->count; i++) {
    for (size_t j = 0; j < i; j++) {
      const char *a = out->items[i].guest, *b = out->items[j].guest;
      size_t na = strlen(a), nb = strlen(b);
      if (under(a, na, b) || under(b, nb, a))
        return eryx__error_new(ERYX_ERR_INVALID_ARGUMENT,
                               "volumes mounted at %s and %s overlap (two single files "
                               "in one directory? mount the directory instead)",
                               a, b);
    }
  }
  return NULL;
}

void eryx__volumes_free(eryx__mounts *mounts, eryx__mounts *private_dirs) {
  for (size_t i = 0; i < private_dirs->count; i++)
    eryx__tree_remove(private_dirs->items[i].host);
  eryx__mounts_free(private_dirs);
  eryx__mounts_free(mounts);
}
