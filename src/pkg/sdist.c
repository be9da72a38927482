/*
 * sdist.c — a tarball turned into a tree to put on sys.path.
 *
 * Two kinds of tarball:
 *   - an sdist: exactly one top-level directory, holding PKG-INFO. Nothing
 *     is built (the sandbox cannot run setup.py, and should not): its
 *     pure-Python part is used as it is. The source root is <top>/src when
 *     that is a directory (and not itself a package named "src"), else
 *     <top>. Kept from it:
 *       * with a *.egg-info directory (in the source root, else in <top>):
 *         that directory (importlib.metadata reads its PKG-INFO), and the
 *         names its top_level.txt lists (<name>/ and <name>.py) when it
 *         has one;
 *       * otherwise, and without top_level.txt: every package directory
 *         (one with __init__.py) and every top-level .py module, except
 *         setup.py, conftest.py and directories named test, tests, docs,
 *         examples or benchmarks.
 *     Without a .egg-info, <Name>-<Version>.dist-info/METADATA (a copy of
 *     PKG-INFO) is written, so that importlib.metadata.version() works;
 *     the directory's name is escaped as wheels' are (runs of characters
 *     other than letters and digits become '_').
 *   - anything else is a site-packages tree (as wasi-wheels ships): used
 *     as it is.
 * Entries are moved (rename) from the unpacked tree into the new one;
 * what is left behind goes with the staging directory.
 */
#include "pkg_internal.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define PKG_INFO_MAX (1024 * 1024)
#define TOP_LEVEL_MAX (64 * 1024)

static bool ends_with(const char *s, const char *suffix) {
  size_t n = strlen(s), k = strlen(suffix);
  return n > k && !strcmp(s + n - k, suffix);
}

/* The value of a header of PKG-INFO (RFC 822 style, up to the first empty
 * line), copied into out; false when it is absent, empty or unusable. */
static bool pkg_info_header(const char *text, size_t len, const char *key, char *out,
                            size_t cap) {
  size_t key_len = strlen(key);
  const char *p = text, *end = text + len;
  while (p < end) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
    while (n && p[n - 1] == '\r')
      n--;
    if (n == 0)
      break; /* the body (the description) starts */
    if (n > key_len && p[key_len] == ':' && !strncasecmp(p, key, key_len)) {
      const char *v = p + key_len + 1;
      size_t vn = n - key_len - 1;
      while (vn && (*v == ' ' || *v == '\t')) {
        v++;
        vn--;
      }
      while (vn && (v[vn - 1] == ' ' || v[vn - 1] == '\t'))
        vn--;
      if (vn == 0 || vn >= cap)
        return false;
      for (size_t i = 0; i < vn; i++)
        if ((unsigned char)v[i] < 0x20 || v[i] == 0x7f)
          return false;
      if (!eryx__utf8_valid(v, vn))
        return false;
      memcpy(out, v, vn);
      out[vn] = '\0';
      return true;
    }
    p = nl ? nl + 1 : end;
  }
  return false;
}

/* The wheel spec's escaping for the name part of a .dist-info directory:
 * each run of characters other than ASCII letters and digits is one '_'.
 * `keep` lists other characters left as they are (for the version). */
static void escape_name(const char *s, const char *keep, char *out, size_t cap) {
  size_t len = 0;
  bool in_run = false;
  for (; *s && len + 1 < cap; s++) {
    if (isalnum((unsigned char)*s) || (*s && strchr(keep, *s))) {
      out[len++] = *s;
      in_run = false;
    } else if (!in_run) {
      out[len++] = '_';
      in_run = true;
    }
  }
  out[len] = '\0';
}

static bool excluded_dir(const char *name) {
  static const char *const names[] = {"test", "tests", "docs", "examples", "benchmarks"};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (!strcmp(name, names[i]))
      return true;
  return false;
}

/* A name top_level.txt may list: one plain path component. */
static bool plain_component(const char *s, size_t n) {
  if (n == 0 || n > ERYX__PKG_COMPONENT_MAX - 3 || s[0] == '.')
    return false;
  for (size_t i = 0; i < n; i++)
    if (s[i] == '/' || s[i] == '\\' || (unsigned char)s[i] < 0x20 || s[i] == 0x7f)
      return false;
  return true;
}

typedef struct layout {
  const eryx__pkg_job *job;
  const char *src_root;
  const char *tree;
  size_t kept; /* importable entries moved into the tree */
} layout;

/* Moves src_root/name into the tree when it exists as `want_dir` says. */
static eryx_error *keep(layout *l, const char *name, bool want_dir, bool importable) {
  char from[ERYX__PKG_PATH_MAX], to[ERYX__PKG_PATH_MAX];
  if (!eryx__pkg_join(from, l->src_root, name) || !eryx__pkg_join(to, l->tree, name))
    return eryx__pkg_fail(l->job, "a path in the sdist is too long for this system");
  if (want_dir ? !eryx__pkg_is_dir(from) : !eryx__pkg_is_file(from))
    return NULL;
  if (eryx__pkg_is_dir(to) || eryx__pkg_is_file(to))
    return NULL; /* listed twice */
  eryx_error *err = eryx__pkg_move(l->job, from, to, "the sdist");
  if (!err && importable)
    l->kept++;
  return err;
}

/* The names top_level.txt lists, each as a package and as a module. */
static eryx_error *keep_listed(layout *l, const char *text, size_t len) {
  const char *p = text, *end = text + len;
  eryx_error *err = NULL;
  while (!err && p < end) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    const char *s = p;
    size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
    p = nl ? nl + 1 : end;
    while (n && isspace((unsigned char)*s)) {
      s++;
      n--;
    }
    while (n && isspace((unsigned char)s[n - 1]))
      n--;
    if (!plain_component(s, n))
      continue;
    char name[ERYX__PKG_COMPONENT_MAX + 1];
    memcpy(name, s, n);
    name[n] = '\0';
    err = keep(l, name, true, true);
    if (!err) {
      memcpy(name + n, ".py", 4);
      err = keep(l, name, false, true);
    }
  }
  return err;
}

/* Package directories and top-level modules, less tests, docs and setup. */
static eryx_error *keep_importable(layout *l, const eryx__pkg_list *entries) {
  eryx_error *err = NULL;
  for (size_t i = 0; !err && i < entries->count; i++) {
    const char *name = entries->names[i];
    if (name[0] == '.')
      continue;
    char path[ERYX__PKG_PATH_MAX], init[ERYX__PKG_PATH_MAX];
    if (!eryx__pkg_join(path, l->src_root, name))
      continue;
    if (eryx__pkg_is_dir(path)) {
      if (!excluded_dir(name) && eryx__pkg_join(init, path, "__init__.py") &&
          eryx__pkg_is_file(init))
        err = keep(l, name, true, true);
    } else if (ends_with(name, ".py") && strcmp(name, "setup.py") &&
               strcmp(name, "conftest.py")) {
      err = keep(l, name, false, true);
    }
  }
  return err;
}

/* The first *.egg-info directory in `dir` (its path and name), if any. */
static eryx_error *find_egg_info(const eryx__pkg_job *job, const char *dir,
                                 char path[ERYX__PKG_PATH_MAX],
                                 char name[ERYX__PKG_COMPONENT_MAX + 1], bool *found) {
  eryx__pkg_list entries;
  eryx_error *err = eryx__pkg_list_dir(job, dir, &entries);
  *found = false;
  for (size_t i = 0; !err && i < entries.count && !*found; i++) {
    if (ends_with(entries.names[i], ".egg-info") &&
        strlen(entries.names[i]) <= ERYX__PKG_COMPONENT_MAX &&
        eryx__pkg_join(path, dir, entries.names[i]) && eryx__pkg_is_dir(path)) {
      strcpy(name, entries.names[i]);
      *found = true;
    }
  }
  eryx__pkg_list_free(&entries);
  return err;
}

static eryx_error *sdist_layout(const eryx__pkg_job *job, const char *top,
                                const char *staging, char tree[ERYX__PKG_PATH_MAX],
                                char name[ERYX__PKG_NAME_MAX + 1]) {
  char pkg_info[ERYX__PKG_PATH_MAX], src[ERYX__PKG_PATH_MAX], init[ERYX__PKG_PATH_MAX];
  if (!eryx__pkg_join(pkg_info, top, "PKG-INFO") || !eryx__pkg_join(src, top, "src") ||
      !eryx__pkg_join(init, src, "__init__.py") || !eryx__pkg_join(tree, staging, "tree"))
    return eryx__pkg_fail(job, "a path in the sdist is too long for this system");
  char *info = NULL;
  size_t info_len = 0;
  eryx_error *err = eryx__pkg_read_small(job, pkg_info, PKG_INFO_MAX, &info, &info_len);
  if (err)
    return err;
  char version[ERYX__PKG_NAME_MAX + 1];
  if (!pkg_info_header(info, info_len, "Name", name, ERYX__PKG_NAME_MAX + 1) ||
      !pkg_info_header(info, info_len, "Version", version, sizeof version)) {
    free(info);
    return eryx__pkg_fail(job,
                          "its PKG-INFO has no usable Name and Version, so it is not a "
                          "valid sdist; use the package's wheel");
  }
  free(info);

  layout l = {.job = job, .tree = tree};
  l.src_root = eryx__pkg_is_dir(src) && !eryx__pkg_is_file(init) ? src : top;
  if (mkdir(tree, 0755) != 0 || chmod(tree, 0755) != 0)
    return eryx__pkg_fail_os(job, errno, "create", tree);

  eryx__pkg_list entries;
  err = eryx__pkg_list_dir(job, l.src_root, &entries);
  if (err)
    return err;
  /* setuptools writes the .egg-info beside the packages; some trees have
   * it at the top instead. */
  char egg_info[ERYX__PKG_PATH_MAX], egg_name[ERYX__PKG_COMPONENT_MAX + 1];
  bool has_egg_info = false;
  err = find_egg_info(job, l.src_root, egg_info, egg_name, &has_egg_info);
  if (!err && !has_egg_info && l.src_root != top)
    err = find_egg_info(job, top, egg_info, egg_name, &has_egg_info);
  bool listed = false;
  char top_level[ERYX__PKG_PATH_MAX];
  if (!err && has_egg_info && eryx__pkg_join(top_level, egg_info, "top_level.txt") &&
      eryx__pkg_is_file(top_level)) {
    char *text = NULL;
    size_t len = 0;
    err = eryx__pkg_read_small(job, top_level, TOP_LEVEL_MAX, &text, &len);
    if (!err)
      err = keep_listed(&l, text, len);
    free(text);
    listed = true;
  }
  if (!err && !listed)
    err = keep_importable(&l, &entries);
  eryx__pkg_list_free(&entries);
  if (!err && l.kept == 0)
    err = eryx__pkg_fail(job,
                         "is an sdist with no pure-Python package or module in it (none "
                         "listed in top_level.txt, no directory with __init__.py, no "
                         ".py module); use the package's wheel");
  if (!err && has_egg_info) {
    char to[ERYX__PKG_PATH_MAX];
    if (!eryx__pkg_join(to, tree, egg_name))
      return eryx__pkg_fail(job, "a path in the sdist is too long for this system");
    return eryx__pkg_move(job, egg_info, to, "the sdist");
  }
  if (err)
    return err;

  /* No metadata of its own: <Name>-<Version>.dist-info/METADATA. */
  char escaped_name[ERYX__PKG_NAME_MAX + 1], escaped_version[ERYX__PKG_NAME_MAX + 1];
  char dist_info[2 * ERYX__PKG_NAME_MAX + 16];
  escape_name(name, "", escaped_name, sizeof escaped_name);
  escape_name(version, ".+!", escaped_version, sizeof escaped_version);
  snprintf(dist_info, sizeof dist_info, "%s-%s.dist-info", escaped_name, escaped_version);
  char dir[ERYX__PKG_PATH_MAX], metadata[ERYX__PKG_PATH_MAX];
  if (!eryx__pkg_join(dir, tree, dist_info) || !eryx__pkg_join(metadata, dir, "METADATA"))
    return eryx__pkg_fail(job, "a path in the sdist is too long for this system");
  if (mkdir(dir, 0755) != 0 || chmod(dir, 0755) != 0)
    return eryx__pkg_fail_os(job, errno, "create", dir);
  return eryx__pkg_copy_file(job, pkg_info, metadata);
}

eryx_error *eryx__tarball_layout(const eryx__pkg_job *job, const char *raw,
                                 const char *staging, char tree[ERYX__PKG_PATH_MAX],
                                 char name[ERYX__PKG_NAME_MAX + 1], bool *is_sdist) {
  *is_sdist = false;
  name[0] = '\0';
  eryx__pkg_list top;
  eryx_error *err = eryx__pkg_list_dir(job, raw, &top);
  if (err)
    return err;
  char top_dir[ERYX__PKG_PATH_MAX], pkg_info[ERYX__PKG_PATH_MAX];
  if (top.count == 1 && eryx__pkg_join(top_dir, raw, top.names[0]) &&
      eryx__pkg_is_dir(top_dir) && eryx__pkg_join(pkg_info, top_dir, "PKG-INFO") &&
      eryx__pkg_is_file(pkg_info))
    *is_sdist = true;
  eryx__pkg_list_free(&top);
  if (*is_sdist)
    return sdist_layout(job, top_dir, staging, tree, name);
  if (strlen(raw) >= ERYX__PKG_PATH_MAX)
    return eryx__pkg_fail(job, "a path in the tarball is too long for this system");
  strcpy(tree, raw);
  return NULL;
}
