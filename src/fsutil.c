/*
 * fsutil.c — whole-directory operations on the host's disk, for factory
 * runtimes (factory.c builds one in a staging directory, eryx_runtime_save
 * copies one): copy a tree, remove a tree, add up a tree's size.
 *
 * Regular files, directories and symbolic links are handled. A link is
 * copied as a link (never followed, so a copy holds nothing from outside
 * the tree); where it may lead is the mount's business: a package tree's
 * links were vetted when it was unpacked (pkg/), and WASI never follows a
 * link out of a preopened directory. A special file is refused. Recursion
 * depth is bounded (MAX_DEPTH).
 */
#define _XOPEN_SOURCE 700
#include "internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_DEPTH 64

char *eryx__path_join(const char *a, const char *b) {
  size_t na = strlen(a), nb = strlen(b);
  while (na > 1 && a[na - 1] == '/')
    na--;
  char *p = malloc(na + 1 + nb + 1);
  if (!p)
    return NULL;
  memcpy(p, a, na);
  p[na] = '/';
  memcpy(p + na + 1, b, nb + 1);
  return p;
}

static eryx_error *io_error(const char *what, const char *path) {
  return eryx__error_new(ERYX_ERR_PACKAGE, "cannot %s %s: %s", what, path, strerror(errno));
}

static eryx_error *copy_file(const char *from, const char *to) {
  int in = open(from, O_RDONLY | O_CLOEXEC);
  if (in < 0)
    return io_error("read", from);
  int out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (out < 0) {
    close(in);
    return io_error("create", to);
  }
  char buf[1 << 16];
  eryx_error *err = NULL;
  for (;;) {
    ssize_t n = read(in, buf, sizeof buf);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      err = io_error("read", from);
      break;
    }
    if (n == 0)
      break;
    for (ssize_t done = 0; done < n;) {
      ssize_t w = write(out, buf + done, (size_t)(n - done));
      if (w < 0 && errno == EINTR)
        continue;
      if (w < 0) {
        err = io_error("write", to);
        break;
      }
      done += w;
    }
    if (err)
      break;
  }
  close(in);
  if (close(out) != 0 && !err)
    err = io_error("write", to);
  return err;
}

static eryx_error *copy_link(const char *from, const char *to) {
  char target[4096];
  ssize_t n = readlink(from, target, sizeof target - 1);
  if (n < 0)
    return io_error("read", from);
  if ((size_t)n == sizeof target - 1)
    return eryx__error_new(ERYX_ERR_PACKAGE, "%s: link target too long", from);
  target[n] = '\0';
  if (symlink(target, to) != 0)
    return io_error("create", to);
  return NULL;
}

static eryx_error *copy_tree(const char *from, const char *to, bool link_files, int depth) {
  if (depth > MAX_DEPTH)
    return eryx__error_new(ERYX_ERR_PACKAGE, "%s: directories nested too deep", from);
  if (mkdir(to, 0755) != 0)
    return io_error("create", to);
  DIR *d = opendir(from);
  if (!d)
    return io_error("read", from);
  eryx_error *err = NULL;
  struct dirent *e;
  while (!err && (e = readdir(d))) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
      continue;
    char *src = eryx__path_join(from, e->d_name), *dst = eryx__path_join(to, e->d_name);
    struct stat st;
    if (!src || !dst)
      err = eryx__error_new(ERYX_ERR_RESOURCES, "out of memory");
    else if (lstat(src, &st) != 0)
      err = io_error("read", src);
    else if (S_ISDIR(st.st_mode))
      err = copy_tree(src, dst, link_files, depth + 1);
    else if (S_ISLNK(st.st_mode))
      err = copy_link(src, dst);
    else if (!S_ISREG(st.st_mode))
      err = eryx__error_new(ERYX_ERR_PACKAGE,
                            "%s is not a regular file, directory or link", src);
    else if (!(link_files && link(src, dst) == 0))
      err = copy_file(src, dst);
    free(src);
    free(dst);
  }
  closedir(d);
  return err;
}

eryx_error *eryx__tree_copy_file(const char *from, const char *to) {
  return copy_file(from, to);
}

eryx_error *eryx__tree_copy(const char *from, const char *to, bool link_files) {
  eryx_error *err = copy_tree(from, to, link_files, 0);
  if (err)
    eryx__tree_remove(to);
  return err;
}

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw) {
  (void)st;
  (void)type;
  (void)ftw;
  remove(path);
  return 0;
}

void eryx__tree_remove(const char *path) {
  nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static _Thread_local uint64_t tree_bytes;

static int add_size(const char *path, const struct stat *st, int type, struct FTW *ftw) {
  (void)path;
  (void)ftw;
  if (type == FTW_F && S_ISREG(st->st_mode))
    tree_bytes += (uint64_t)st->st_size;
  return 0;
}

uint64_t eryx__tree_size(const char *path) {
  tree_bytes = 0;
  nftw(path, add_size, 16, FTW_PHYS);
  return tree_bytes;
}
