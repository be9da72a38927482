/*
 * cache.c — eryx__pkg_prepare: where unpacked packages live, how they get
 * there all or nothing, and the file helpers the other three files share.
 *
 * Layout of the cache (eryx__cache_dir()):
 *   packages/v1/<sha256 of the archive>/     the tree to mount, and in it
 *                                            .eryx-package (name, native)
 *   packages/v1/dir-<sha256 of a tree>/<n>/  a directory package's copy
 *   packages/v1/.tmp-XXXXXX/                 a staging directory (private,
 *                                            mkdtemp), removed when done
 *                                            (or, left by a crash, a day
 *                                            later by the next unpack)
 * An entry is only ever made by rename() of a complete staging tree, so a
 * name in the cache always holds a whole, checked tree; it never changes
 * afterwards. When two processes (or threads) unpack the same archive at
 * once, the first rename wins and the other deletes its copy and uses the
 * winner's. Directories are 0755 and files 0644, whatever the umask.
 *
 * The archive is opened once: hashed through that descriptor, unpacked
 * from it, and refused if it changed meanwhile (its size or times), so
 * the tree always matches the name it gets. The sha256 is memoized by
 * (device, inode, size, mtime, ctime) in a small table under a mutex,
 * together with the name and native flag: a repeated prepare of the same
 * file costs one stat() of it and one of the tree. The first prepare in
 * another process finds the tree by hashing and reads .eryx-package.
 *
 * Directories: one holding __init__.py is a package; it is walked once to
 * hash its names and contents (with its own name: the copy is importable
 * by it) and, when that tree is not cached yet, walked again to copy it,
 * checking that the copy hashes the same. Links in it must lead to a
 * regular file inside it and are copied as that file. Any other directory
 * is used where it is (a site-packages tree), unchecked and uncopied.
 *
 * After the layout (wheel.c, sdist.c), every symbolic link of an unpacked
 * tree is resolved once more, physically, component by component with the
 * links found on the way, as the kernel would: chains of links that are
 * each harmless alone, or a link moved by the layout, cannot lead out.
 *
 * Depth is bounded (ERYX__PKG_DEPTH_MAX directories) so the recursion of
 * the walks is, and they share one path buffer each.
 */
#define _XOPEN_SOURCE 700 /* realpath */
#include "pkg_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define IO_CHUNK (64 * 1024)
#define MEMO_SLOTS 64
#define LINK_HOPS_MAX 32
#define META_MAX 4096
#define SHOWN_MAX 1024

/* ================================================================ messages */

eryx_error *eryx__pkg_fail(const eryx__pkg_job *job, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  char *msg = n >= 0 ? malloc((size_t)n + 1) : NULL;
  if (!msg)
    return eryx__error_new(ERYX_ERR_PACKAGE, "package %s: out of memory", job->shown);
  va_start(ap, fmt);
  vsnprintf(msg, (size_t)n + 1, fmt, ap);
  va_end(ap);
  eryx_error *e = eryx__error_new(ERYX_ERR_PACKAGE, "package %s: %s", job->shown, msg);
  free(msg);
  return e;
}

eryx_error *eryx__pkg_fail_os(const eryx__pkg_job *job, int err, const char *what,
                              const char *host_path) {
  char reason[128];
  if (strerror_r(err, reason, sizeof reason) != 0)
    snprintf(reason, sizeof reason, "error %d", err);
  char q[SHOWN_MAX];
  eryx__pkg_quote(q, sizeof q, host_path, strlen(host_path));
  return eryx__pkg_fail(job, "cannot %s %s: %s", what, q, reason);
}

void eryx__pkg_quote(char *out, size_t cap, const char *s, size_t n) {
  if (cap == 0)
    return;
  bool utf8 = eryx__utf8_valid(s, n);
  size_t len = 0;
  for (size_t i = 0; i < n;) {
    unsigned char c = (unsigned char)s[i];
    char piece[8];
    size_t k = 1;
    if (c == '"' || c == '\\') {
      piece[0] = '\\';
      piece[1] = (char)c;
      k = 2;
    } else if (c < 0x20 || c == 0x7f || (c >= 0x80 && !utf8)) {
      snprintf(piece, sizeof piece, "\\x%02x", c);
      k = 4;
    } else if (c >= 0x80) { /* one whole UTF-8 sequence */
      k = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
      memcpy(piece, s + i, k);
    } else {
      piece[0] = (char)c;
    }
    if (len + k + 4 > cap) { /* room for "..." and the NUL */
      if (cap >= 4) {
        memcpy(out + len, "...", 3);
        len += 3;
      }
      break;
    }
    memcpy(out + len, piece, k);
    len += k;
    i += c >= 0x80 && utf8 ? k : 1;
  }
  out[len < cap ? len : cap - 1] = '\0';
}

/* ============================================================ file helpers */

bool eryx__pkg_join(char out[ERYX__PKG_PATH_MAX], const char *a, const char *b) {
  size_t na = strlen(a), nb = strlen(b);
  if (na + 1 + nb >= ERYX__PKG_PATH_MAX)
    return false;
  memcpy(out, a, na);
  out[na] = '/';
  memcpy(out + na + 1, b, nb + 1);
  return true;
}

bool eryx__pkg_is_dir(const char *path) {
  struct stat st;
  return lstat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

bool eryx__pkg_is_file(const char *path) {
  struct stat st;
  return lstat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* mkdir + chmod: 0755 whatever the umask. */
static int make_dir(const char *path) {
  if (mkdir(path, 0755) != 0)
    return -1;
  return chmod(path, 0755);
}

eryx_error *eryx__pkg_mkdirs(const eryx__pkg_job *job, const char *root, const char *rel,
                             size_t rel_len) {
  char path[ERYX__PKG_PATH_MAX];
  size_t root_len = strlen(root);
  if (root_len + 1 + rel_len >= sizeof path)
    return eryx__pkg_fail(job, "a path in the archive is too long for this system");
  memcpy(path, root, root_len);
  path[root_len] = '/';
  memcpy(path + root_len + 1, rel, rel_len);
  for (size_t i = 1; i <= rel_len; i++) {
    if (i < rel_len && rel[i] != '/')
      continue;
    path[root_len + 1 + i] = '\0';
    if (make_dir(path) != 0 && errno != EEXIST)
      return eryx__pkg_fail_os(job, errno, "create", path);
    if (!eryx__pkg_is_dir(path)) { /* it existed: a link is not followed */
      char q[ERYX__PKG_QUOTE_MAX], pq[ERYX__PKG_QUOTE_MAX];
      eryx__pkg_quote(q, sizeof q, rel, rel_len);
      eryx__pkg_quote(pq, sizeof pq, rel, i);
      return eryx__pkg_fail(job,
                            "unsafe archive member \"%s\": its path runs through \"%s\", "
                            "which the archive makes a file or a link; nothing was "
                            "installed (the archive may be malicious: get the package "
                            "from a trusted source)",
                            q, pq);
    }
    if (i < rel_len)
      path[root_len + 1 + i] = '/';
  }
  return NULL;
}

static int by_name(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

void eryx__pkg_list_free(eryx__pkg_list *l) {
  for (size_t i = 0; i < l->count; i++)
    free(l->names[i]);
  free(l->names);
  l->names = NULL;
  l->count = 0;
}

eryx_error *eryx__pkg_list_dir(const eryx__pkg_job *job, const char *dir,
                               eryx__pkg_list *out) {
  out->names = NULL;
  out->count = 0;
  DIR *d = opendir(dir);
  if (!d)
    return eryx__pkg_fail_os(job, errno, "read the directory", dir);
  size_t cap = 0;
  eryx_error *err = NULL;
  for (;;) {
    errno = 0;
    struct dirent *ent = readdir(d);
    if (!ent) {
      if (errno)
        err = eryx__pkg_fail_os(job, errno, "read the directory", dir);
      break;
    }
    if (!strcmp(ent->d_name, ".") || !strcmp(ent->d_name, ".."))
      continue;
    if (out->count == cap) {
      size_t new_cap = cap ? cap * 2 : 16;
      char **p = realloc(out->names, new_cap * sizeof *p);
      if (!p) {
        err = eryx__pkg_fail(job, "out of memory");
        break;
      }
      out->names = p;
      cap = new_cap;
    }
    out->names[out->count] = strdup(ent->d_name);
    if (!out->names[out->count]) {
      err = eryx__pkg_fail(job, "out of memory");
      break;
    }
    out->count++;
  }
  closedir(d);
  if (err) {
    eryx__pkg_list_free(out);
    return err;
  }
  if (out->count > 1)
    qsort(out->names, out->count, sizeof *out->names, by_name);
  return NULL;
}

/* The move's two paths, grown and cut back as it descends. */
typedef struct mover {
  const eryx__pkg_job *job;
  const char *what;
  char src[ERYX__PKG_PATH_MAX];
  char dst[ERYX__PKG_PATH_MAX];
} mover;

static eryx_error *move_at(mover *m, size_t src_len, size_t dst_len, int depth) {
  struct stat ds, ss;
  if (lstat(m->dst, &ds) != 0) {
    if (errno != ENOENT)
      return eryx__pkg_fail_os(m->job, errno, "read", m->dst);
    if (rename(m->src, m->dst) != 0)
      return eryx__pkg_fail_os(m->job, errno, "move", m->src);
    return NULL;
  }
  if (lstat(m->src, &ss) != 0)
    return eryx__pkg_fail_os(m->job, errno, "read", m->src);
  if (!S_ISDIR(ss.st_mode) || !S_ISDIR(ds.st_mode) || depth > ERYX__PKG_DEPTH_MAX) {
    const char *base = strrchr(m->dst, '/');
    char q[ERYX__PKG_QUOTE_MAX];
    eryx__pkg_quote(q, sizeof q, base ? base + 1 : m->dst, strlen(base ? base + 1 : m->dst));
    return eryx__pkg_fail(m->job,
                          "two files would be installed as \"%s\" (one from %s); the "
                          "package is broken: rebuild it",
                          q, m->what);
  }
  eryx__pkg_list l;
  eryx_error *err = eryx__pkg_list_dir(m->job, m->src, &l);
  for (size_t i = 0; !err && i < l.count; i++) {
    size_t n = strlen(l.names[i]);
    if (src_len + 1 + n >= sizeof m->src || dst_len + 1 + n >= sizeof m->dst) {
      err = eryx__pkg_fail(m->job, "a path in the package is too long for this system");
      break;
    }
    m->src[src_len] = m->dst[dst_len] = '/';
    memcpy(m->src + src_len + 1, l.names[i], n + 1);
    memcpy(m->dst + dst_len + 1, l.names[i], n + 1);
    err = move_at(m, src_len + 1 + n, dst_len + 1 + n, depth + 1);
    m->src[src_len] = m->dst[dst_len] = '\0';
  }
  eryx__pkg_list_free(&l);
  if (!err)
    rmdir(m->src); /* emptied; what is left goes with the staging directory */
  return err;
}

eryx_error *eryx__pkg_move(const eryx__pkg_job *job, const char *src, const char *dst,
                           const char *what) {
  mover *m = malloc(sizeof *m);
  if (!m)
    return eryx__pkg_fail(job, "out of memory");
  m->job = job;
  m->what = what;
  size_t src_len = strlen(src), dst_len = strlen(dst);
  eryx_error *err = NULL;
  if (src_len >= sizeof m->src || dst_len >= sizeof m->dst) {
    err = eryx__pkg_fail(job, "a path in the package is too long for this system");
  } else {
    memcpy(m->src, src, src_len + 1);
    memcpy(m->dst, dst, dst_len + 1);
    err = move_at(m, src_len, dst_len, 0);
  }
  free(m);
  return err;
}

eryx_error *eryx__pkg_read_small(const eryx__pkg_job *job, const char *path, size_t max,
                                 char **data, size_t *len) {
  *data = NULL;
  *len = 0;
  int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    return eryx__pkg_fail_os(job, errno, "read", path);
  char *buf = malloc(max + 1);
  if (!buf) {
    close(fd);
    return eryx__pkg_fail(job, "out of memory");
  }
  size_t got = 0;
  eryx_error *err = NULL;
  for (;;) {
    /* One byte more than `max` may be read: that is how "too large" shows. */
    ssize_t n = read(fd, buf + got, max + 1 - got);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      err = eryx__pkg_fail_os(job, errno, "read", path);
      break;
    }
    if (n == 0)
      break;
    got += (size_t)n;
    if (got > max) {
      const char *base = strrchr(path, '/');
      err = eryx__pkg_fail(job, "its %s is larger than %zu bytes; it is not a usable package",
                           base ? base + 1 : path, max);
      break;
    }
  }
  close(fd);
  if (err) {
    free(buf);
    return err;
  }
  buf[got] = '\0';
  *data = buf;
  *len = got;
  return NULL;
}

/* Writes all of buf[0..n) to fd. */
static int write_all(int fd, const char *buf, size_t n) {
  while (n) {
    ssize_t put = write(fd, buf, n);
    if (put < 0 && errno == EINTR)
      continue;
    if (put < 0)
      return -1;
    buf += put;
    n -= (size_t)put;
  }
  return 0;
}

/* A new file for writing, 0644 whatever the umask (-1 and errno). */
static int create_file(const char *path) {
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (fd >= 0 && fchmod(fd, 0644) != 0) {
    int saved = errno;
    close(fd);
    errno = saved;
    return -1;
  }
  return fd;
}

eryx_error *eryx__pkg_copy_file(const eryx__pkg_job *job, const char *src,
                                const char *dst) {
  int in = open(src, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (in < 0)
    return eryx__pkg_fail_os(job, errno, "read", src);
  int out = create_file(dst);
  if (out < 0) {
    eryx_error *err = eryx__pkg_fail_os(job, errno, "create", dst);
    close(in);
    return err;
  }
  char *buf = malloc(IO_CHUNK);
  eryx_error *err = buf ? NULL : eryx__pkg_fail(job, "out of memory");
  while (!err) {
    ssize_t n = read(in, buf, IO_CHUNK);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      err = eryx__pkg_fail_os(job, errno, "read", src);
    else if (n == 0)
      break;
    else if (write_all(out, buf, (size_t)n) != 0)
      err = eryx__pkg_fail_os(job, errno, "write", dst);
  }
  free(buf);
  close(in);
  if (close(out) != 0 && !err)
    err = eryx__pkg_fail_os(job, errno, "write", dst);
  return err;
}

static void rmtree_at(char *path, size_t len, int depth) {
  struct stat st;
  if (lstat(path, &st) != 0)
    return;
  if (!S_ISDIR(st.st_mode)) {
    unlink(path);
    return;
  }
  /* Ours, so at most ERYX__PKG_DEPTH_MAX deep (plus the staging levels);
   * the bound only keeps a tampered tree from exhausting the stack. */
  DIR *d = depth < 2 * ERYX__PKG_DEPTH_MAX ? opendir(path) : NULL;
  if (d) {
    struct dirent *ent;
    while ((ent = readdir(d))) {
      size_t n = strlen(ent->d_name);
      if (!strcmp(ent->d_name, ".") || !strcmp(ent->d_name, "..") ||
          len + 1 + n >= ERYX__PKG_PATH_MAX)
        continue;
      path[len] = '/';
      memcpy(path + len + 1, ent->d_name, n + 1);
      rmtree_at(path, len + 1 + n, depth + 1);
      path[len] = '\0';
    }
    closedir(d);
  }
  rmdir(path);
}

void eryx__pkg_rmtree(const char *path) {
  char *buf = malloc(ERYX__PKG_PATH_MAX);
  size_t len = strlen(path);
  if (buf && len < ERYX__PKG_PATH_MAX) {
    memcpy(buf, path, len + 1);
    rmtree_at(buf, len, 0);
  }
  free(buf);
}

/* ================================================================== walks */

/* A depth-first walk of a tree, children sorted by name, a directory
 * visited before its contents; links are not followed. */
typedef struct walker walker;
struct walker {
  const eryx__pkg_job *job;
  char path[ERYX__PKG_PATH_MAX]; /* root, then the entry being visited */
  size_t root_len;
  eryx_error *(*visit)(walker *w, size_t len, const struct stat *st);
  void *ctx;
};

static eryx_error *walk_dir(walker *w, size_t len, int depth) {
  if (depth > ERYX__PKG_DEPTH_MAX)
    return eryx__pkg_fail(w->job,
                          "is nested more than %d directories deep; it is not a usable "
                          "package",
                          ERYX__PKG_DEPTH_MAX);
  eryx__pkg_list l;
  eryx_error *err = eryx__pkg_list_dir(w->job, w->path, &l);
  for (size_t i = 0; !err && i < l.count; i++) {
    size_t n = strlen(l.names[i]);
    if (len + 1 + n >= sizeof w->path) {
      err = eryx__pkg_fail(w->job, "a path in the package is too long for this system");
      break;
    }
    w->path[len] = '/';
    memcpy(w->path + len + 1, l.names[i], n + 1);
    struct stat st;
    if (lstat(w->path, &st) != 0)
      err = eryx__pkg_fail_os(w->job, errno, "read", w->path);
    else
      err = w->visit(w, len + 1 + n, &st);
    if (!err && S_ISDIR(st.st_mode))
      err = walk_dir(w, len + 1 + n, depth + 1);
    w->path[len] = '\0';
  }
  eryx__pkg_list_free(&l);
  return err;
}

static eryx_error *walk(const eryx__pkg_job *job, const char *root,
                        eryx_error *(*visit)(walker *, size_t, const struct stat *),
                        void *ctx) {
  walker *w = malloc(sizeof *w);
  if (!w)
    return eryx__pkg_fail(job, "out of memory");
  size_t n = strlen(root);
  eryx_error *err = NULL;
  if (n >= sizeof w->path) {
    err = eryx__pkg_fail(job, "its path is too long for this system");
  } else {
    w->job = job;
    memcpy(w->path, root, n + 1);
    w->root_len = n;
    w->visit = visit;
    w->ctx = ctx;
    err = walk_dir(w, n, 0);
  }
  free(w);
  return err;
}

/* ---- links of an unpacked tree, resolved as the kernel would ---- */

typedef enum resolved { RESOLVED, STOPPED, LEAVES, LOOPS } resolved;

typedef struct resolver {
  char path[ERYX__PKG_PATH_MAX]; /* the tree's root, then where we are */
  size_t root_len;
  size_t len;
  int hops;
} resolver;

/* Follows `target` from r->path. STOPPED: the kernel would fail there (a
 * missing name, a file used as a directory), so what follows is out of
 * reach. */
static resolved resolve(resolver *r, const char *target) {
  if (target[0] == '/')
    return LEAVES;
  const char *p = target;
  while (*p) {
    size_t comp = strcspn(p, "/");
    const char *next = p + comp + (p[comp] == '/');
    if (comp == 0 || (comp == 1 && p[0] == '.')) {
      p = next;
      continue;
    }
    if (comp == 2 && p[0] == '.' && p[1] == '.') {
      if (r->len == r->root_len)
        return LEAVES;
      while (r->len > r->root_len && r->path[r->len] != '/')
        r->len--;
      r->path[r->len] = '\0';
      p = next;
      continue;
    }
    if (r->len + 1 + comp >= sizeof r->path)
      return STOPPED;
    size_t before = r->len;
    r->path[r->len] = '/';
    memcpy(r->path + r->len + 1, p, comp);
    r->len += 1 + comp;
    r->path[r->len] = '\0';
    struct stat st;
    if (lstat(r->path, &st) != 0)
      return STOPPED;
    if (S_ISLNK(st.st_mode)) {
      if (++r->hops > LINK_HOPS_MAX)
        return LOOPS;
      char link[ERYX__PKG_MEMBER_MAX + 2];
      ssize_t n = readlink(r->path, link, sizeof link - 1);
      if (n < 0 || (size_t)n >= sizeof link - 1)
        return LEAVES; /* longer than any target an archive may give */
      link[n] = '\0';
      r->len = before;
      r->path[r->len] = '\0';
      resolved inner = resolve(r, link);
      if (inner != RESOLVED)
        return inner;
    } else if (!S_ISDIR(st.st_mode)) {
      while (*next == '/')
        next++;
      if (*next)
        return STOPPED;
    }
    p = next;
  }
  return RESOLVED;
}

static eryx_error *check_link(walker *w, size_t len, const struct stat *st) {
  if (!S_ISLNK(st->st_mode))
    return NULL;
  resolver *r = w->ctx;
  char target[ERYX__PKG_MEMBER_MAX + 2];
  ssize_t n = readlink(w->path, target, sizeof target - 1);
  const char *rel = w->path + w->root_len + 1;
  size_t rel_len = len - w->root_len - 1;
  resolved how = LEAVES;
  if (n >= 0 && (size_t)n < sizeof target - 1) {
    target[n] = '\0';
    const char *slash = strrchr(w->path, '/'); /* never before the root */
    r->root_len = w->root_len;
    r->len = (size_t)(slash - w->path);
    memcpy(r->path, w->path, r->len);
    r->path[r->len] = '\0';
    r->hops = 0;
    how = resolve(r, target);
  }
  if (how == RESOLVED || how == STOPPED)
    return NULL;
  char q[ERYX__PKG_QUOTE_MAX];
  eryx__pkg_quote(q, sizeof q, rel, rel_len);
  return eryx__pkg_fail(w->job,
                        "unsafe archive member \"%s\": %s; nothing was installed (the "
                        "archive may be malicious: get the package from a trusted "
                        "source)",
                        q,
                        how == LOOPS ? "its symbolic links loop"
                                     : "its symbolic link leads out of the package, "
                                       "through other links or where the layout put it");
}

static eryx_error *check_links(const eryx__pkg_job *job, const char *tree) {
  resolver *r = malloc(sizeof *r);
  if (!r)
    return eryx__pkg_fail(job, "out of memory");
  eryx_error *err = walk(job, tree, check_link, r);
  free(r);
  return err;
}

/* ================================================================ hashing */

static void to_hex(const unsigned char *digest, size_t n, char *out) {
  static const char hex[] = "0123456789abcdef";
  for (size_t i = 0; i < n; i++) {
    out[2 * i] = hex[digest[i] >> 4];
    out[2 * i + 1] = hex[digest[i] & 15];
  }
  out[2 * n] = '\0';
}

/* The sha256 of what is left to read on fd, in hex (65 bytes). */
static eryx_error *hash_fd(const eryx__pkg_job *job, int fd, const char *path,
                           char sha[65]) {
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  char *buf = malloc(IO_CHUNK);
  eryx_error *err = NULL;
  if (!ctx || !buf || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL))
    err = eryx__pkg_fail(job, "out of memory (sha256)");
  while (!err) {
    ssize_t n = read(fd, buf, IO_CHUNK);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      err = eryx__pkg_fail_os(job, errno, "read", path);
    else if (n == 0)
      break;
    else
      EVP_DigestUpdate(ctx, buf, (size_t)n);
  }
  unsigned char digest[32];
  unsigned int digest_len = 0;
  if (!err && (!EVP_DigestFinal_ex(ctx, digest, &digest_len) || digest_len != 32))
    err = eryx__pkg_fail(job, "cannot compute a sha256");
  if (!err)
    to_hex(digest, 32, sha);
  EVP_MD_CTX_free(ctx);
  free(buf);
  return err;
}

/* ================================================================== memo */

typedef struct memo_entry {
  bool used;
  dev_t dev;
  ino_t ino;
  off_t size;
  struct timespec mtime, ctime;
  char sha[65];
  char name[ERYX__PKG_NAME_MAX + 1];
  bool native;
} memo_entry;

static memo_entry memo[MEMO_SLOTS];
static size_t memo_next; /* the slot replaced next, round robin */
static pthread_mutex_t memo_mu = PTHREAD_MUTEX_INITIALIZER;

static bool same_time(struct timespec a, struct timespec b) {
  return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec;
}

static bool same_file(const memo_entry *m, const struct stat *st) {
  return m->used && m->dev == st->st_dev && m->ino == st->st_ino &&
         m->size == st->st_size && same_time(m->mtime, st->st_mtim) &&
         same_time(m->ctime, st->st_ctim);
}

static bool memo_find(const struct stat *st, memo_entry *out) {
  bool found = false;
  pthread_mutex_lock(&memo_mu);
  for (size_t i = 0; i < MEMO_SLOTS && !found; i++)
    if (same_file(&memo[i], st)) {
      *out = memo[i];
      found = true;
    }
  pthread_mutex_unlock(&memo_mu);
  return found;
}

static void memo_put(const struct stat *st, const char *sha, const char *name,
                     bool native) {
  pthread_mutex_lock(&memo_mu);
  size_t slot = MEMO_SLOTS;
  for (size_t i = 0; i < MEMO_SLOTS && slot == MEMO_SLOTS; i++)
    if (same_file(&memo[i], st))
      slot = i;
  if (slot == MEMO_SLOTS) {
    slot = memo_next;
    memo_next = (memo_next + 1) % MEMO_SLOTS;
  }
  memo_entry *m = &memo[slot];
  m->used = true;
  m->dev = st->st_dev;
  m->ino = st->st_ino;
  m->size = st->st_size;
  m->mtime = st->st_mtim;
  m->ctime = st->st_ctim;
  memcpy(m->sha, sha, sizeof m->sha);
  snprintf(m->name, sizeof m->name, "%s", name);
  m->native = native;
  pthread_mutex_unlock(&memo_mu);
}

/* =========================================================== the cache */

char *eryx__cache_dir(void) {
  const char *dir = getenv("ERYX_CACHE_DIR");
  if (dir && *dir)
    return strdup(dir);
  const char *base = getenv("XDG_CACHE_HOME");
  const char *tail = "/eryx";
  if (!base || base[0] != '/') { /* the XDG spec: a relative one is ignored */
    base = getenv("HOME");
    tail = "/.cache/eryx";
  }
  if (!base || !*base)
    return NULL;
  size_t nb = strlen(base), nt = strlen(tail);
  char *p = malloc(nb + nt + 1);
  if (!p)
    return NULL;
  memcpy(p, base, nb);
  memcpy(p + nb, tail, nt + 1);
  return p;
}

/* <cache>/packages/v1 into out, made absolute (a mount needs it so). */
static eryx_error *packages_path(const eryx__pkg_job *job, char out[ERYX__PKG_PATH_MAX]) {
  char *cache = eryx__cache_dir();
  if (!cache)
    return eryx__pkg_fail(job,
                          "no cache directory to unpack it in: set ERYX_CACHE_DIR (or "
                          "HOME)");
  char cwd[ERYX__PKG_PATH_MAX] = "";
  if (cache[0] != '/' && !getcwd(cwd, sizeof cwd)) {
    free(cache);
    return eryx__pkg_fail(job, "the cache directory's path is relative and the working "
                               "directory has no name; set ERYX_CACHE_DIR to an absolute "
                               "path");
  }
  int n = snprintf(out, ERYX__PKG_PATH_MAX, "%s%s%s/packages/v1", cwd, cwd[0] ? "/" : "",
                   cache);
  free(cache);
  if (n < 0 || n >= ERYX__PKG_PATH_MAX)
    return eryx__pkg_fail(job, "the cache directory's path is too long (ERYX_CACHE_DIR)");
  return NULL;
}

/* mkdir -p v1, following what exists (the cache itself may be a link). */
static eryx_error *make_packages_dir(const eryx__pkg_job *job, char *v1) {
  for (char *p = v1 + 1;; p++) {
    if (*p != '/' && *p != '\0')
      continue;
    char saved = *p;
    *p = '\0';
    struct stat st;
    if (mkdir(v1, 0755) != 0 &&
        (errno != EEXIST || stat(v1, &st) != 0 || !S_ISDIR(st.st_mode))) {
      int e = errno == EEXIST ? ENOTDIR : errno;
      char q[SHOWN_MAX], reason[128];
      eryx__pkg_quote(q, sizeof q, v1, strlen(v1));
      *p = saved;
      if (strerror_r(e, reason, sizeof reason) != 0)
        snprintf(reason, sizeof reason, "error %d", e);
      return eryx__pkg_fail(job,
                            "cannot create the cache directory %s: %s; set "
                            "ERYX_CACHE_DIR to a writable directory",
                            q, reason);
    }
    *p = saved;
    if (!saved)
      return NULL;
  }
}

/* Staging directories a crashed process left behind: removed once a day
 * old (no unpack takes that long), when a new one is about to be made. */
#define STALE_STAGING_SECONDS (24 * 60 * 60)

static void remove_stale_staging(const char *v1) {
  DIR *d = opendir(v1);
  if (!d)
    return;
  time_t now = time(NULL);
  struct dirent *ent;
  while ((ent = readdir(d))) {
    char path[ERYX__PKG_PATH_MAX];
    struct stat st;
    if (strncmp(ent->d_name, ".tmp-", 5) || !eryx__pkg_join(path, v1, ent->d_name) ||
        lstat(path, &st) != 0 || !S_ISDIR(st.st_mode))
      continue;
    if (now - st.st_mtime > STALE_STAGING_SECONDS)
      eryx__pkg_rmtree(path);
  }
  closedir(d);
}

/* A private staging directory under v1, which is created if needed
 * (mkdtemp: 0700 until published). */
static eryx_error *make_staging(const eryx__pkg_job *job, char *v1,
                                char out[ERYX__PKG_PATH_MAX]) {
  eryx_error *err = make_packages_dir(job, v1);
  if (err)
    return err;
  remove_stale_staging(v1);
  if (!eryx__pkg_join(out, v1, ".tmp-XXXXXX"))
    return eryx__pkg_fail(job, "the cache directory's path is too long (ERYX_CACHE_DIR)");
  if (!mkdtemp(out))
    return eryx__pkg_fail_os(job, errno, "create a staging directory in", v1);
  return NULL;
}

/* Puts the finished `tree` in place as `target`; a tree another process
 * put there first is as good (same content). */
static eryx_error *publish(const eryx__pkg_job *job, const char *tree,
                           const char *target) {
  if (chmod(tree, 0755) != 0)
    return eryx__pkg_fail_os(job, errno, "set the mode of", tree);
  if (rename(tree, target) == 0)
    return NULL;
  if ((errno == EEXIST || errno == ENOTEMPTY) && eryx__pkg_is_dir(target))
    return NULL;
  return eryx__pkg_fail_os(job, errno, "move the unpacked tree to", target);
}

static eryx_error *write_meta(const eryx__pkg_job *job, const char *tree,
                              const char *name, bool native) {
  char path[ERYX__PKG_PATH_MAX];
  if (!eryx__pkg_join(path, tree, ERYX__PKG_META_NAME))
    return eryx__pkg_fail(job, "the cache directory's path is too long (ERYX_CACHE_DIR)");
  char text[ERYX__PKG_NAME_MAX + 64];
  int n = snprintf(text, sizeof text, "eryx-package 1\nname %s\nnative %d\n", name,
                   native ? 1 : 0);
  int fd = create_file(path);
  if (fd < 0 && errno == EEXIST) /* put there by the layout (.data/purelib) */
    return eryx__pkg_fail(job, "holds a file named " ERYX__PKG_META_NAME ", a name Eryx "
                               "reserves for its cache; rename it in the package");
  if (fd < 0)
    return eryx__pkg_fail_os(job, errno, "create", path);
  eryx_error *err = NULL;
  if (write_all(fd, text, (size_t)n) != 0)
    err = eryx__pkg_fail_os(job, errno, "write", path);
  if (close(fd) != 0 && !err)
    err = eryx__pkg_fail_os(job, errno, "write", path);
  return err;
}

static eryx_error *read_meta(const eryx__pkg_job *job, const char *tree,
                             char name[ERYX__PKG_NAME_MAX + 1], bool *native) {
  char path[ERYX__PKG_PATH_MAX];
  char *text = NULL;
  size_t len = 0;
  eryx_error *err = NULL;
  if (!eryx__pkg_join(path, tree, ERYX__PKG_META_NAME))
    err = eryx__pkg_fail(job, "the cache directory's path is too long (ERYX_CACHE_DIR)");
  else
    err = eryx__pkg_read_small(job, path, META_MAX, &text, &len);
  const char *n = text ? strstr(text, "\nname ") : NULL;
  const char *f = text ? strstr(text, "\nnative ") : NULL;
  if (!err && (strncmp(text, "eryx-package 1\n", 15) || !n || !f)) {
    char q[SHOWN_MAX];
    eryx__pkg_quote(q, sizeof q, tree, strlen(tree));
    err = eryx__pkg_fail(job, "the cache entry %s is damaged; delete it and try again", q);
  }
  if (!err) {
    n += 6;
    size_t k = strcspn(n, "\n");
    if (k > ERYX__PKG_NAME_MAX)
      k = ERYX__PKG_NAME_MAX;
    memcpy(name, n, k);
    name[k] = '\0';
    *native = f[8] == '1';
  }
  free(text);
  return err;
}

static eryx_error *fill(const eryx__pkg_job *job, eryx__pkg *out, const char *dir,
                        const char *name, bool native, bool hit) {
  out->host_dir = strdup(dir);
  out->name = strdup(name);
  out->has_native = native;
  out->cache_hit = hit;
  out->in_cache = true; /* every tree but a plain directory's (below) */
  if (!out->host_dir || !out->name) {
    eryx__pkg_clear(out);
    return eryx__pkg_fail(job, "out of memory");
  }
  return NULL;
}

static bool has_suffix_ci(const char *s, size_t n, const char *suffix) {
  size_t k = strlen(suffix);
  return n > k && !strncasecmp(s + n - k, suffix, k);
}

/* A tarball's name from its file name: "foo-1.2.tar.gz" is "foo". */
static void tarball_name(const char *base, char name[ERYX__PKG_NAME_MAX + 1]) {
  size_t n = strlen(base);
  n -= has_suffix_ci(base, n, ".tgz") ? 4 : 7;
  for (size_t i = 0; i + 1 < n; i++)
    if (base[i] == '-' && base[i + 1] >= '0' && base[i + 1] <= '9' && i > 0) {
      n = i;
      break;
    }
  eryx__pkg_quote(name, ERYX__PKG_NAME_MAX + 1, base, n);
}

static bool same_contents(const struct stat *a, const struct stat *b) {
  return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
         same_time(a->st_mtim, b->st_mtim) && same_time(a->st_ctim, b->st_ctim);
}

/* The archive being prepared, open once for hashing and unpacking. */
typedef struct archive_input {
  int fd;
  struct stat opened; /* fstat() before hashing: it must not change */
  eryx__pkg_kind kind;
  const char *base; /* its file name */
  eryx__wheel_name wheel;
} archive_input;

/* Unpacks into staging, lays out, checks and publishes as `target`. */
static eryx_error *unpack_into_cache(const eryx__pkg_job *job, const archive_input *in,
                                     const char *staging, const char *target,
                                     char name[ERYX__PKG_NAME_MAX + 1], bool *native) {
  char raw[ERYX__PKG_PATH_MAX], tree[ERYX__PKG_PATH_MAX];
  if (!eryx__pkg_join(raw, staging, "raw"))
    return eryx__pkg_fail(job, "the cache directory's path is too long (ERYX_CACHE_DIR)");
  if (make_dir(raw) != 0)
    return eryx__pkg_fail_os(job, errno, "create", raw);
  if (lseek(in->fd, 0, SEEK_SET) != 0)
    return eryx__pkg_fail_os(job, errno, "rewind", in->base);
  eryx__pkg_unpacked stats;
  eryx_error *err = eryx__pkg_unpack(job, in->fd, in->kind, raw, &stats);
  if (err)
    return err;
  if (in->kind == ERYX__PKG_WHEEL) {
    *native = in->wheel.native;
    err = eryx__wheel_layout(job, raw, native);
    memcpy(tree, raw, strlen(raw) + 1);
    eryx__pkg_quote(name, ERYX__PKG_NAME_MAX + 1, in->wheel.dist, strlen(in->wheel.dist));
  } else {
    bool is_sdist;
    err = eryx__tarball_layout(job, raw, staging, tree, name, &is_sdist);
    if (!is_sdist)
      tarball_name(in->base, name);
    *native = stats.has_so;
  }
  if (!err)
    err = check_links(job, tree);
  if (!err)
    err = write_meta(job, tree, name, *native);
  /* What was unpacked is what was hashed: the file did not change. */
  struct stat now;
  if (!err && (fstat(in->fd, &now) != 0 || !same_contents(&in->opened, &now)))
    err = eryx__pkg_fail(job, "changed while it was being read; try again");
  if (!err)
    err = publish(job, tree, target);
  return err;
}

static eryx_error *prepare_archive(const eryx__pkg_job *job, const char *path,
                                   const struct stat *st, eryx__pkg_kind kind,
                                   eryx__pkg *out) {
  archive_input in;
  memset(&in, 0, sizeof in);
  const char *slash = strrchr(path, '/');
  in.base = slash ? slash + 1 : path;
  in.kind = kind;
  eryx_error *err = NULL;
  if (kind == ERYX__PKG_WHEEL) {
    err = eryx__wheel_check_name(job, in.base, strlen(in.base), &in.wheel);
    if (err)
      return err;
    if (in.wheel.native && job->refuse_native)
      return eryx__pkg_fail(job, "holds native extensions built for WASI, which a plain "
                                 "sandbox cannot load: build a factory with it "
                                 "(eryx_factory_build; Python: SandboxFactory(packages=[...]))");
  }
  char v1[ERYX__PKG_PATH_MAX], target[ERYX__PKG_PATH_MAX];
  err = packages_path(job, v1);
  if (err)
    return err;

  memo_entry known;
  if (memo_find(st, &known) && eryx__pkg_join(target, v1, known.sha) &&
      eryx__pkg_is_dir(target))
    return fill(job, out, target, known.name, known.native, true);

  /* O_NONBLOCK: should a FIFO have taken the file's place since the
   * stat, opening it must not hang (it is refused just below). */
  in.fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (in.fd < 0)
    return eryx__pkg_fail_os(job, errno, "open", path);
  char sha[65];
  char name[ERYX__PKG_NAME_MAX + 1] = "";
  bool native = false, hit = false;
  if (fstat(in.fd, &in.opened) != 0)
    err = eryx__pkg_fail_os(job, errno, "read", path);
  else if (!S_ISREG(in.opened.st_mode))
    err = eryx__pkg_fail(job, "changed while it was being read; try again");
  if (!err)
    err = hash_fd(job, in.fd, path, sha);
  if (!err && !eryx__pkg_join(target, v1, sha))
    err = eryx__pkg_fail(job, "the cache directory's path is too long (ERYX_CACHE_DIR)");
  if (!err && eryx__pkg_is_dir(target)) {
    hit = true;
    err = read_meta(job, target, name, &native);
  } else if (!err) {
    char staging[ERYX__PKG_PATH_MAX];
    err = make_staging(job, v1, staging);
    if (!err) {
      err = unpack_into_cache(job, &in, staging, target, name, &native);
      eryx__pkg_rmtree(staging);
    }
  }
  close(in.fd);
  if (err)
    return err;
  memo_put(&in.opened, sha, name, native);
  return fill(job, out, target, name, native, hit);
}

/* ------------------------------------------------------ directory inputs */

typedef struct dir_copy {
  EVP_MD_CTX *tree_sha;
  EVP_MD_CTX *file_sha;
  const char *real_root; /* the package directory, resolved */
  const char *dest;      /* where the copy goes; NULL: hash only */
  uint64_t files, bytes;
  bool has_so;
  char *chunk;
} dir_copy;

static void hash_record(EVP_MD_CTX *ctx, char kind, const char *rel, size_t rel_len) {
  unsigned char len_le[8];
  for (int i = 0; i < 8; i++)
    len_le[i] = (unsigned char)((uint64_t)rel_len >> (8 * i));
  EVP_DigestUpdate(ctx, &kind, 1);
  EVP_DigestUpdate(ctx, len_le, 8);
  EVP_DigestUpdate(ctx, rel, rel_len);
}

/* One file of the package (a link already vetted: its target's bytes). */
static eryx_error *copy_entry_file(walker *w, dir_copy *c, const char *rel,
                                   size_t rel_len) {
  const eryx__pkg_job *job = w->job;
  int in = open(w->path, O_RDONLY | O_NONBLOCK | O_CLOEXEC); /* a FIFO: no hang */
  if (in < 0)
    return eryx__pkg_fail_os(job, errno, "read", w->path);
  struct stat st;
  if (fstat(in, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(in);
    return eryx__pkg_fail(job, "changed while it was being read; try again");
  }
  int out = -1;
  char to[ERYX__PKG_PATH_MAX];
  eryx_error *err = NULL;
  if (c->dest) {
    if (!eryx__pkg_join(to, c->dest, rel))
      err = eryx__pkg_fail(job, "a path in the package is too long for this system");
    else if ((out = create_file(to)) < 0)
      err = eryx__pkg_fail_os(job, errno, "create", to);
  }
  if (!err && !EVP_DigestInit_ex(c->file_sha, EVP_sha256(), NULL))
    err = eryx__pkg_fail(job, "cannot compute a sha256");
  while (!err) {
    ssize_t n = read(in, c->chunk, IO_CHUNK);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      err = eryx__pkg_fail_os(job, errno, "read", w->path);
      break;
    }
    if (n == 0)
      break;
    if ((uint64_t)n > job->max_bytes - c->bytes) {
      err = eryx__pkg_fail(job,
                           "holds more than %llu bytes, the cap (max_package_bytes in "
                           "eryx_sandbox_options: raise it if the package is really "
                           "this large)",
                           (unsigned long long)job->max_bytes);
      break;
    }
    c->bytes += (uint64_t)n;
    EVP_DigestUpdate(c->file_sha, c->chunk, (size_t)n);
    if (out >= 0 && write_all(out, c->chunk, (size_t)n) != 0)
      err = eryx__pkg_fail_os(job, errno, "write", to);
  }
  unsigned char digest[32];
  unsigned int digest_len = 0;
  if (!err && (!EVP_DigestFinal_ex(c->file_sha, digest, &digest_len) || digest_len != 32))
    err = eryx__pkg_fail(job, "cannot compute a sha256");
  if (!err) {
    hash_record(c->tree_sha, 'f', rel, rel_len);
    EVP_DigestUpdate(c->tree_sha, digest, 32);
  }
  close(in);
  if (out >= 0 && close(out) != 0 && !err)
    err = eryx__pkg_fail_os(job, errno, "write", to);
  return err;
}

static eryx_error *copy_entry(walker *w, size_t len, const struct stat *st) {
  dir_copy *c = w->ctx;
  const eryx__pkg_job *job = w->job;
  const char *rel = w->path + w->root_len + 1;
  size_t rel_len = len - w->root_len - 1;
  char q[ERYX__PKG_QUOTE_MAX];
  eryx__pkg_quote(q, sizeof q, rel, rel_len);
  if (++c->files > job->max_files)
    return eryx__pkg_fail(job,
                          "holds more than %llu entries, the cap (max_package_files in "
                          "eryx_sandbox_options: raise it if the package is really this "
                          "large)",
                          (unsigned long long)job->max_files);
  if (rel_len > 3 && !strcmp(rel + rel_len - 3, ".so"))
    c->has_so = true;
  if (S_ISDIR(st->st_mode)) {
    hash_record(c->tree_sha, 'd', rel, rel_len);
    char to[ERYX__PKG_PATH_MAX];
    if (c->dest && !eryx__pkg_join(to, c->dest, rel))
      return eryx__pkg_fail(job, "a path in the package is too long for this system");
    if (c->dest && make_dir(to) != 0)
      return eryx__pkg_fail_os(job, errno, "create", to);
    return NULL;
  }
  if (S_ISLNK(st->st_mode)) {
    char resolved_path[PATH_MAX];
    size_t root_len = strlen(c->real_root);
    struct stat target;
    if (!realpath(w->path, resolved_path))
      return eryx__pkg_fail(job,
                            "its symbolic link \"%s\" leads nowhere; remove it or replace "
                            "it with the file it named",
                            q);
    if (strncmp(resolved_path, c->real_root, root_len) || resolved_path[root_len] != '/')
      return eryx__pkg_fail(job,
                            "its symbolic link \"%s\" leads out of the package; copy "
                            "what it names into the package instead",
                            q);
    if (stat(resolved_path, &target) != 0 || !S_ISREG(target.st_mode))
      return eryx__pkg_fail(job,
                            "its symbolic link \"%s\" does not lead to a regular file "
                            "(only those are copied); replace it with what it names",
                            q);
    return copy_entry_file(w, c, rel, rel_len);
  }
  if (S_ISREG(st->st_mode))
    return copy_entry_file(w, c, rel, rel_len);
  return eryx__pkg_fail(job,
                        "\"%s\" in it is a device, FIFO or socket; a package holds only "
                        "files and directories",
                        q);
}

/* Walks the package: its tree's hash (and the copy into c->dest). */
static eryx_error *walk_package(const eryx__pkg_job *job, const char *real,
                                const char *dir_name, dir_copy *c, char sha[65]) {
  c->files = c->bytes = 0;
  c->has_so = false;
  if (!EVP_DigestInit_ex(c->tree_sha, EVP_sha256(), NULL))
    return eryx__pkg_fail(job, "cannot compute a sha256");
  hash_record(c->tree_sha, 'n', dir_name, strlen(dir_name));
  eryx_error *err = walk(job, real, copy_entry, c);
  unsigned char digest[32];
  unsigned int digest_len = 0;
  if (!err && (!EVP_DigestFinal_ex(c->tree_sha, digest, &digest_len) || digest_len != 32))
    err = eryx__pkg_fail(job, "cannot compute a sha256");
  if (!err)
    to_hex(digest, 32, sha);
  return err;
}

static eryx_error *prepare_directory(const eryx__pkg_job *job, const char *path,
                                     eryx__pkg *out) {
  char real[PATH_MAX];
  if (!realpath(path, real))
    return eryx__pkg_fail_os(job, errno, "resolve", path);
  const char *slash = strrchr(real, '/');
  const char *dir_name = slash && slash[1] ? slash + 1 : real;
  char init[ERYX__PKG_PATH_MAX];
  struct stat st;
  if (!eryx__pkg_join(init, real, "__init__.py") || stat(init, &st) != 0 ||
      !S_ISREG(st.st_mode)) {
    eryx_error *used = fill(job, out, real, dir_name, false, false); /* used where it is */
    if (!used)
      out->in_cache = false;
    return used;
  }

  char v1[ERYX__PKG_PATH_MAX], target[ERYX__PKG_PATH_MAX];
  eryx_error *err = packages_path(job, v1);
  if (err)
    return err;
  dir_copy c = {.real_root = real};
  c.tree_sha = EVP_MD_CTX_new();
  c.file_sha = EVP_MD_CTX_new();
  c.chunk = malloc(IO_CHUNK);
  char sha[65], copied_sha[65], entry[sizeof "dir-" + 64];
  if (!c.tree_sha || !c.file_sha || !c.chunk)
    err = eryx__pkg_fail(job, "out of memory");
  if (!err)
    err = walk_package(job, real, dir_name, &c, sha);
  bool hit = false, native = c.has_so;
  if (!err) {
    snprintf(entry, sizeof entry, "dir-%s", sha);
    if (!eryx__pkg_join(target, v1, entry))
      err = eryx__pkg_fail(job, "the cache directory's path is too long (ERYX_CACHE_DIR)");
    else
      hit = eryx__pkg_is_dir(target);
  }
  if (!err && !hit) {
    char staging[ERYX__PKG_PATH_MAX], dest[ERYX__PKG_PATH_MAX];
    err = make_staging(job, v1, staging);
    if (!err) {
      if (!eryx__pkg_join(dest, staging, dir_name))
        err = eryx__pkg_fail(job, "a path in the package is too long for this system");
      else if (make_dir(dest) != 0)
        err = eryx__pkg_fail_os(job, errno, "create", dest);
      c.dest = dest;
      if (!err)
        err = walk_package(job, real, dir_name, &c, copied_sha);
      if (!err && strcmp(sha, copied_sha))
        err = eryx__pkg_fail(job, "changed while it was being copied; try again");
      if (!err)
        err = publish(job, staging, target);
      eryx__pkg_rmtree(staging); /* gone already when published */
    }
  }
  EVP_MD_CTX_free(c.tree_sha);
  EVP_MD_CTX_free(c.file_sha);
  free(c.chunk);
  if (err)
    return err;
  return fill(job, out, target, dir_name, native, hit);
}

/* ============================================================ entry point */

void eryx__pkg_clear(eryx__pkg *p) {
  if (!p)
    return;
  free(p->host_dir);
  free(p->name);
  memset(p, 0, sizeof *p);
}

eryx_error *eryx__pkg_prepare(const char *path, size_t path_len,
                              const eryx__pkg_limits *limits, eryx__pkg *out) {
  if (!out)
    return eryx__error_new(ERYX_ERR_INVALID_ARGUMENT, "eryx__pkg_prepare: out is NULL");
  memset(out, 0, sizeof *out);
  char shown[SHOWN_MAX];
  eryx__pkg_quote(shown, sizeof shown, path ? path : "", path ? path_len : 0);
  eryx__pkg_job job = {.shown = shown};
  job.max_bytes = limits && limits->max_bytes ? limits->max_bytes : ERYX_PKG_DEFAULT_MAX_BYTES;
  job.max_files = limits && limits->max_files ? limits->max_files : ERYX_PKG_DEFAULT_MAX_FILES;
  job.refuse_native = limits && limits->refuse_native;
  if (!path || path_len == 0)
    return eryx__pkg_fail(&job, "no path given; name a .whl, a .tar.gz or a directory");
  if (memchr(path, '\0', path_len))
    return eryx__pkg_fail(&job, "the path holds a NUL byte");
  if (path_len >= ERYX__PKG_PATH_MAX)
    return eryx__pkg_fail(&job, "the path is too long for this system");
  char p[ERYX__PKG_PATH_MAX];
  memcpy(p, path, path_len);
  p[path_len] = '\0';

  struct stat st;
  if (stat(p, &st) != 0) {
    if (errno == ENOENT || errno == ENOTDIR)
      return eryx__pkg_fail(&job, "no such file or directory; check the path");
    return eryx__pkg_fail_os(&job, errno, "read", p);
  }
  eryx_error *err;
  if (S_ISDIR(st.st_mode)) {
    err = prepare_directory(&job, p, out);
  } else if (!has_suffix_ci(p, path_len, ".whl") && !has_suffix_ci(p, path_len, ".tar.gz") &&
             !has_suffix_ci(p, path_len, ".tgz")) {
    return eryx__pkg_fail(&job,
                          "is not a wheel (.whl), a tarball (.tar.gz, .tgz) or a "
                          "directory; give the package in one of those forms");
  } else if (!S_ISREG(st.st_mode)) {
    return eryx__pkg_fail(&job, "is not a regular file; give a .whl, .tar.gz or directory");
  } else {
    eryx__pkg_kind kind =
        has_suffix_ci(p, path_len, ".whl") ? ERYX__PKG_WHEEL : ERYX__PKG_TARBALL;
    err = prepare_archive(&job, p, &st, kind, out);
  }
  if (err)
    eryx__pkg_clear(out);
  return err;
}
