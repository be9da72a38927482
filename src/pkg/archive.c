/*
 * archive.c — a wheel (zip) or a tarball (gzip'd tar) read into a staging
 * directory, safely, with libarchive's read API.
 *
 * One pass over the archive. Each member's header is vetted before anything
 * is written for it:
 *   - its name: valid UTF-8 (WASI paths are strings), no control
 *     character, not absolute, no ".." component, at most 1024 bytes, 255
 *     per component and 64 components; "./" and empty components are
 *     dropped, so "./pkg//a.py" is "pkg/a.py";
 *   - its kind: regular files, directories, symbolic links and hard links
 *     only; devices, FIFOs and sockets are refused, as are encrypted
 *     members;
 *   - a symbolic link's target: relative, and staying inside the package
 *     when resolved from the link's own directory;
 *   - a hard link's target: a regular file written earlier.
 * Regular files are written here (O_CREAT|O_EXCL|O_NOFOLLOW, 0644), with
 * each byte counted against max_bytes as it is written, whatever the
 * header says; members are counted against max_files. Symbolic links are
 * only recorded, and made after every file: no write ever goes through a
 * link the archive made, and a member whose path runs through a link, or
 * a name used twice, is refused (O_EXCL, and directories made with lstat
 * checks). cache.c checks the finished tree's links once more, physically,
 * after the layout has moved things around.
 *
 * Any libarchive failure, at a header or in the data (a CRC, a truncated
 * last member), refuses the archive as corrupt. Nothing is cleaned up
 * here: the caller deletes the staging directory on failure.
 */
#include "pkg_internal.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DATA_CHUNK (64 * 1024)

/* A symbolic link to make once every file is written. */
typedef struct pending_link {
  char *path;   /* normalized member name */
  char *target; /* as in the archive (vetted) */
} pending_link;

typedef struct unpack_state {
  const eryx__pkg_job *job;
  struct archive *ar;
  const char *dest;
  eryx__pkg_unpacked *stats;
  pending_link *links;
  size_t link_count, link_cap;
  char *chunk; /* DATA_CHUNK bytes */
} unpack_state;

static eryx_error *corrupt(unpack_state *st) {
  const char *why = archive_error_string(st->ar);
  return eryx__pkg_fail(st->job,
                        "corrupt or truncated archive: %s; download the package again",
                        why ? why : "unknown libarchive error");
}

static eryx_error *unsafe(unpack_state *st, const char *name, size_t name_len,
                          const char *reason) {
  char q[ERYX__PKG_QUOTE_MAX];
  eryx__pkg_quote(q, sizeof q, name, name_len);
  return eryx__pkg_fail(st->job,
                        "unsafe archive member \"%s\": %s; nothing was installed "
                        "(the archive may be malicious: get the package from a "
                        "trusted source)",
                        q, reason);
}

/* The name's bytes are acceptable as a path on the host and in WASI. */
static const char *bad_name_bytes(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c < 0x20 || c == 0x7f)
      return "its name holds a control character";
  }
  if (!eryx__utf8_valid(s, n))
    return "its name is not valid UTF-8";
  return NULL;
}

/* Normalizes a member name into out[ERYX__PKG_MEMBER_MAX + 1]: "" is the
 * package root. NULL, or the reason it is refused. */
static const char *normalize_name(const char *name, char *out, size_t *out_len) {
  size_t n = strlen(name);
  if (n > ERYX__PKG_MEMBER_MAX)
    return "its name is longer than 1024 bytes";
  const char *why = bad_name_bytes(name, n);
  if (why)
    return why;
  if (name[0] == '/')
    return "its path is absolute";
  size_t len = 0, depth = 0;
  const char *p = name, *end = name + n;
  while (p < end) {
    const char *slash = memchr(p, '/', (size_t)(end - p));
    size_t comp = slash ? (size_t)(slash - p) : (size_t)(end - p);
    if (comp == 2 && p[0] == '.' && p[1] == '.')
      return "its path has a \"..\" component (it would be written outside the package)";
    if (comp > ERYX__PKG_COMPONENT_MAX)
      return "a component of its name is longer than 255 bytes";
    if (comp > 0 && !(comp == 1 && p[0] == '.')) {
      if (++depth > ERYX__PKG_DEPTH_MAX)
        return "it is nested more than 64 directories deep";
      if (len)
        out[len++] = '/';
      memcpy(out + len, p, comp);
      len += comp;
    }
    p += comp + (slash ? 1 : 0);
  }
  out[len] = '\0';
  *out_len = len;
  return NULL;
}

/* A relative link target resolved from the directory of the member at
 * `path` stays inside the package (lexically; cache.c checks the result
 * physically once the tree is complete). */
static bool target_stays_inside(const char *path, size_t path_len, const char *target) {
  size_t depth = 0; /* components of the link's directory */
  for (size_t i = 0; i < path_len; i++)
    depth += path[i] == '/';
  const char *p = target;
  while (*p) {
    size_t comp = strcspn(p, "/");
    if (comp == 2 && p[0] == '.' && p[1] == '.') {
      if (depth == 0)
        return false;
      depth--;
    } else if (comp > 0 && !(comp == 1 && p[0] == '.')) {
      depth++;
    }
    p += comp + (p[comp] == '/');
  }
  return true;
}

static bool ends_with(const char *s, size_t n, const char *suffix) {
  size_t k = strlen(suffix);
  return n >= k && !memcmp(s + n - k, suffix, k);
}

/* The member's data, written to a new file at dest/path. */
static eryx_error *write_file(unpack_state *st, const char *path, size_t path_len) {
  char full[ERYX__PKG_PATH_MAX];
  if (!eryx__pkg_join(full, st->dest, path))
    return unsafe(st, path, path_len, "its path is too long for this system");
  int fd = open(full, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (fd < 0) {
    if (errno == EEXIST)
      return unsafe(st, path, path_len, "the archive holds two members of that name");
    return eryx__pkg_fail_os(st->job, errno, "create", full);
  }
  eryx_error *err = NULL;
  if (fchmod(fd, 0644) != 0)
    err = eryx__pkg_fail_os(st->job, errno, "set the mode of", full);
  while (!err) {
    la_ssize_t got = archive_read_data(st->ar, st->chunk, DATA_CHUNK);
    if (got == 0)
      break;
    if (got < 0) {
      err = corrupt(st);
      break;
    }
    if ((uint64_t)got > st->job->max_bytes - st->stats->bytes) {
      err = eryx__pkg_fail(st->job,
                           "unpacks to more than %llu bytes, the cap "
                           "(max_package_bytes in eryx_sandbox_options: raise it if "
                           "the package is trusted and really this large)",
                           (unsigned long long)st->job->max_bytes);
      break;
    }
    st->stats->bytes += (uint64_t)got;
    for (la_ssize_t off = 0; off < got && !err;) {
      ssize_t put = write(fd, st->chunk + off, (size_t)(got - off));
      if (put < 0 && errno == EINTR)
        continue;
      if (put < 0)
        err = eryx__pkg_fail_os(st->job, errno, "write", full);
      else
        off += put;
    }
  }
  if (close(fd) != 0 && !err)
    err = eryx__pkg_fail_os(st->job, errno, "write", full);
  return err;
}

static eryx_error *hard_link(unpack_state *st, const char *path, size_t path_len,
                             const char *target_name) {
  char target[ERYX__PKG_MEMBER_MAX + 1];
  size_t target_len;
  const char *why = normalize_name(target_name, target, &target_len);
  if (why || target_len == 0)
    return unsafe(st, path, path_len,
                  "it is a hard link to something that is not a member of the archive");
  char from[ERYX__PKG_PATH_MAX], to[ERYX__PKG_PATH_MAX];
  if (!eryx__pkg_join(from, st->dest, target) || !eryx__pkg_join(to, st->dest, path))
    return unsafe(st, path, path_len, "its path is too long for this system");
  /* Only links are pending, so an existing regular file here is one this
   * archive wrote, and no directory on the way is a link. */
  if (!eryx__pkg_is_file(from))
    return unsafe(st, path, path_len,
                  "it is a hard link to something that is not a regular file written "
                  "earlier in the archive");
  if (link(from, to) != 0) {
    if (errno == EEXIST)
      return unsafe(st, path, path_len, "the archive holds two members of that name");
    return eryx__pkg_fail_os(st->job, errno, "create the hard link", to);
  }
  return NULL;
}

static eryx_error *defer_symlink(unpack_state *st, const char *path, size_t path_len,
                                 const char *target) {
  if (!target || !*target)
    return unsafe(st, path, path_len, "it is a symbolic link with no target");
  size_t n = strlen(target);
  if (n > ERYX__PKG_MEMBER_MAX)
    return unsafe(st, path, path_len, "its link target is longer than 1024 bytes");
  if (bad_name_bytes(target, n))
    return unsafe(st, path, path_len,
                  "its link target holds a control character or is not UTF-8");
  if (target[0] == '/')
    return unsafe(st, path, path_len,
                  "it is a symbolic link to an absolute path (outside the package)");
  if (!target_stays_inside(path, path_len, target))
    return unsafe(st, path, path_len, "it is a symbolic link leading out of the package");
  if (st->link_count == st->link_cap) {
    size_t cap = st->link_cap ? st->link_cap * 2 : 16;
    pending_link *p = realloc(st->links, cap * sizeof *p);
    if (!p)
      return eryx__pkg_fail(st->job, "out of memory");
    st->links = p;
    st->link_cap = cap;
  }
  pending_link *l = &st->links[st->link_count];
  l->path = eryx__strndup(path, path_len);
  l->target = eryx__strndup(target, n);
  if (!l->path || !l->target) {
    free(l->path);
    free(l->target);
    return eryx__pkg_fail(st->job, "out of memory");
  }
  st->link_count++;
  return NULL;
}

static eryx_error *make_pending_links(unpack_state *st) {
  for (size_t i = 0; i < st->link_count; i++) {
    const pending_link *l = &st->links[i];
    size_t path_len = strlen(l->path);
    const char *slash = strrchr(l->path, '/');
    if (slash) {
      eryx_error *err = eryx__pkg_mkdirs(st->job, st->dest, l->path,
                                         (size_t)(slash - l->path));
      if (err)
        return err;
    }
    char full[ERYX__PKG_PATH_MAX];
    if (!eryx__pkg_join(full, st->dest, l->path))
      return unsafe(st, l->path, path_len, "its path is too long for this system");
    if (symlink(l->target, full) != 0) {
      if (errno == EEXIST && eryx__pkg_is_dir(full))
        return unsafe(st, l->path, path_len,
                      "it is a symbolic link, and other members are written inside a "
                      "directory of that name (through the link)");
      if (errno == EEXIST)
        return unsafe(st, l->path, path_len,
                      "the archive holds two members of that name");
      return eryx__pkg_fail_os(st->job, errno, "create the symbolic link", full);
    }
  }
  return NULL;
}

/* One member: vetted, then written (or its link recorded). */
static eryx_error *unpack_member(unpack_state *st, struct archive_entry *e) {
  const char *raw = archive_entry_pathname_utf8(e);
  if (!raw) /* not convertible in this locale: the bytes as stored */
    raw = archive_entry_pathname(e);
  if (!raw)
    return corrupt(st);
  if (++st->stats->members > st->job->max_files)
    return eryx__pkg_fail(st->job,
                          "has more than %llu members, the cap (max_package_files in "
                          "eryx_sandbox_options: raise it if the package is trusted "
                          "and really this large)",
                          (unsigned long long)st->job->max_files);
  char path[ERYX__PKG_MEMBER_MAX + 1];
  size_t path_len = 0;
  const char *why = normalize_name(raw, path, &path_len);
  if (why)
    return unsafe(st, raw, strlen(raw), why);
  if (archive_entry_is_encrypted(e))
    return unsafe(st, path, path_len, "it is encrypted");
  if (!strcmp(path, ERYX__PKG_META_NAME))
    return unsafe(st, path, path_len, "Eryx reserves that name for its cache");

  const char *hardlink = archive_entry_hardlink_utf8(e);
  if (!hardlink)
    hardlink = archive_entry_hardlink(e);
  mode_t type = archive_entry_filetype(e);
  if (!hardlink && type != AE_IFREG && type != AE_IFDIR && type != AE_IFLNK) {
    const char *what = type == AE_IFCHR    ? "it is a character device"
                       : type == AE_IFBLK  ? "it is a block device"
                       : type == AE_IFIFO  ? "it is a FIFO"
                       : type == AE_IFSOCK ? "it is a socket"
                                           : "it is a file of an unknown kind";
    return unsafe(st, path, path_len, what);
  }
  if (path_len == 0) {
    if (type == AE_IFDIR && !hardlink)
      return NULL; /* "./": the root itself */
    return unsafe(st, raw, strlen(raw), "it names the package root but is not a directory");
  }
  if (ends_with(path, path_len, ".so"))
    st->stats->has_so = true;

  /* Its directory, then the member itself. */
  size_t parent_len = type == AE_IFDIR && !hardlink ? path_len : 0;
  if (!parent_len) {
    const char *slash = strrchr(path, '/');
    parent_len = slash ? (size_t)(slash - path) : 0;
  }
  if (parent_len) {
    eryx_error *err = eryx__pkg_mkdirs(st->job, st->dest, path, parent_len);
    if (err)
      return err;
  }
  if (hardlink)
    return hard_link(st, path, path_len, hardlink);
  if (type == AE_IFDIR)
    return NULL;
  if (type == AE_IFLNK) {
    const char *target = archive_entry_symlink_utf8(e);
    if (!target)
      target = archive_entry_symlink(e);
    return defer_symlink(st, path, path_len, target);
  }
  return write_file(st, path, path_len);
}

eryx_error *eryx__pkg_unpack(const eryx__pkg_job *job, int fd, eryx__pkg_kind kind,
                             const char *dest, eryx__pkg_unpacked *out) {
  memset(out, 0, sizeof *out);
  unpack_state st = {.job = job, .dest = dest, .stats = out};
  st.chunk = malloc(DATA_CHUNK);
  st.ar = archive_read_new();
  if (!st.chunk || !st.ar) {
    free(st.chunk);
    if (st.ar)
      archive_read_free(st.ar);
    return eryx__pkg_fail(job, "out of memory");
  }
  if (kind == ERYX__PKG_WHEEL) {
    /* The central directory is what pip and zipfile read: the seekable
     * reader uses it too, and a zip cut short has none. */
    archive_read_support_format_zip_seekable(st.ar);
  } else {
    archive_read_support_filter_gzip(st.ar);
    archive_read_support_format_tar(st.ar);
  }
  eryx_error *err = NULL;
  if (archive_read_open_fd(st.ar, fd, DATA_CHUNK) != ARCHIVE_OK)
    err = corrupt(&st);
  while (!err) {
    struct archive_entry *e;
    int rc = archive_read_next_header(st.ar, &e);
    if (rc == ARCHIVE_EOF)
      break;
    if (rc != ARCHIVE_OK && rc != ARCHIVE_WARN) {
      err = corrupt(&st);
      break;
    }
    err = unpack_member(&st, e);
    /* Whatever the member's kind, its data is read to the end, so a
     * damaged member is found even when nothing of it was written. */
    if (!err && archive_read_data_skip(st.ar) < ARCHIVE_WARN)
      err = corrupt(&st);
  }
  if (!err)
    err = make_pending_links(&st);
  if (!err && out->members == 0)
    err = eryx__pkg_fail(job, "is an empty archive; it is not a usable package");
  archive_read_free(st.ar);
  for (size_t i = 0; i < st.link_count; i++) {
    free(st.links[i].path);
    free(st.links[i].target);
  }
  free(st.links);
  free(st.chunk);
  return err;
}
