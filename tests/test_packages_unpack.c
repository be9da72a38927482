/*
 * test_packages_unpack.c — the package preparer (src/pkg/), driven
 * directly through eryx__pkg_prepare: wheels, sdists and site-packages
 * tarballs crafted here with libarchive's write API, hostile ones (zip
 * slip, links out, special files, bombs, truncation) and directories.
 *
 * Each test gets a fresh cache (ERYX_CACHE_DIR set to a new temporary
 * directory, restored and removed afterwards) and its own work directory
 * for the archives, so that "nothing was left in the cache" can be checked
 * by looking.
 */
#define _XOPEN_SOURCE 700 /* realpath */
#include "harness.h"
#include "pkg/pkg.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <locale.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------ fixtures */

typedef struct fixture {
  char work[64];  /* archives and directories of the test */
  char cache[64]; /* ERYX_CACHE_DIR */
  char *saved_cache_env;
} fixture;

static void rm_rf(const char *path) {
  struct stat st;
  if (lstat(path, &st) != 0)
    return;
  if (S_ISDIR(st.st_mode)) {
    DIR *d = opendir(path);
    struct dirent *e;
    while (d && (e = readdir(d))) {
      if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
        continue;
      char child[PATH_MAX];
      snprintf(child, sizeof child, "%s/%s", path, e->d_name);
      rm_rf(child);
    }
    if (d)
      closedir(d);
    rmdir(path);
  } else {
    unlink(path);
  }
}

static void fixture_begin(fixture *f) {
  const char *old = getenv("ERYX_CACHE_DIR");
  f->saved_cache_env = old ? strdup(old) : NULL;
  snprintf(f->work, sizeof f->work, "/tmp/eryx-pkgtest-XXXXXX");
  snprintf(f->cache, sizeof f->cache, "/tmp/eryx-pkgcache-XXXXXX");
  CHECK(mkdtemp(f->work) != NULL);
  CHECK(mkdtemp(f->cache) != NULL);
  setenv("ERYX_CACHE_DIR", f->cache, 1);
}

static void fixture_end(fixture *f) {
  rm_rf(f->work);
  rm_rf(f->cache);
  if (f->saved_cache_env)
    setenv("ERYX_CACHE_DIR", f->saved_cache_env, 1);
  else
    unsetenv("ERYX_CACHE_DIR");
  free(f->saved_cache_env);
}

/* The cache holds nothing but, at most, an empty packages/v1. */
static bool cache_is_clean(const fixture *f) {
  char path[PATH_MAX];
  const char *levels[] = {"", "/packages", "/packages/v1"};
  for (int i = 0; i < 3; i++) {
    snprintf(path, sizeof path, "%s%s", f->cache, levels[i]);
    DIR *d = opendir(path);
    if (!d)
      return i > 0; /* a level that does not exist is clean */
    struct dirent *e;
    int entries = 0;
    bool expected_only = true;
    while ((e = readdir(d))) {
      if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
        continue;
      entries++;
      if (i == 0 && strcmp(e->d_name, "packages"))
        expected_only = false;
      if (i == 1 && strcmp(e->d_name, "v1"))
        expected_only = false;
      if (i == 2)
        expected_only = false;
    }
    closedir(d);
    if (!expected_only)
      return false;
    if (entries == 0)
      return true;
  }
  return true;
}

/* A whole file (the harness's read_file stops at 64 KiB); caller frees. */
static char *slurp(const char *path, size_t *len) {
  FILE *fp = fopen(path, "rb");
  char *buf = NULL;
  *len = 0;
  if (fp && fseek(fp, 0, SEEK_END) == 0) {
    long size = ftell(fp);
    rewind(fp);
    buf = size >= 0 ? malloc((size_t)size + 1) : NULL;
    if (buf && fread(buf, 1, (size_t)size, fp) == (size_t)size)
      *len = (size_t)size;
  }
  if (fp)
    fclose(fp);
  return buf;
}

static char *find_bytes(char *hay, size_t n, const char *needle, size_t k) {
  for (size_t i = 0; i + k <= n; i++)
    if (!memcmp(hay + i, needle, k))
      return hay + i;
  return NULL;
}

/* The names in packages/v1, sorted, one a line (caller frees). */
static int by_name(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *cache_listing(const fixture *f) {
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/packages/v1", f->cache);
  char *names[64];
  size_t n = 0, total = 1;
  DIR *d = opendir(path);
  struct dirent *e;
  while (d && (e = readdir(d)) && n < 64) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
      continue;
    names[n] = strdup(e->d_name);
    total += strlen(names[n++]) + 1;
  }
  if (d)
    closedir(d);
  qsort(names, n, sizeof *names, by_name);
  char *out = malloc(total);
  out[0] = '\0';
  for (size_t i = 0; i < n; i++) {
    strcat(out, names[i]);
    strcat(out, "\n");
    free(names[i]);
  }
  return out;
}

/* ------------------------------------------------------------ archives */

/* One member: 'f' file (data, len; data NULL: len zero bytes), 'd'
 * directory, 'l' symbolic link to data, 'h' hard link to data, 'c' a
 * character device, 'p' a FIFO. */
typedef struct member {
  char kind;
  const char *name;
  const char *data;
  size_t len;
} member;

#define FILE_(n, text) {'f', (n), (text), sizeof(text) - 1}
#define DIR_(n) {'d', (n), NULL, 0}
#define LINK_(n, to) {'l', (n), (to), 0}

/* Zip members stored rather than deflated (for damaging their bytes). */
static bool zip_store;
/* A ustar tarball with names as raw bytes (no pax, no UTF-8 conversion). */
static bool tar_raw_names;

static bool write_archive(const char *path, bool zip, const member *m, size_t count) {
  /* Names are UTF-8 (zip's flag, pax's charset) whatever our locale. */
  locale_t utf8 = tar_raw_names ? (locale_t)0 : newlocale(LC_CTYPE_MASK, "C.UTF-8", 0);
  locale_t saved = utf8 ? uselocale(utf8) : (locale_t)0;
  struct archive *a = archive_write_new();
  if (zip) {
    archive_write_set_format_zip(a);
    if (zip_store)
      archive_write_set_format_option(a, "zip", "compression", "store");
  } else {
    if (tar_raw_names)
      archive_write_set_format_ustar(a);
    else
      archive_write_set_format_pax_restricted(a);
    archive_write_add_filter_gzip(a);
  }
  bool ok = archive_write_open_filename(a, path) == ARCHIVE_OK;
  static const char zeros[64 * 1024];
  for (size_t i = 0; ok && i < count; i++) {
    struct archive_entry *e = archive_entry_new();
    archive_entry_set_pathname(e, m[i].name);
    archive_entry_set_mtime(e, 1700000000, 0);
    switch (m[i].kind) {
    case 'd':
      archive_entry_set_filetype(e, AE_IFDIR);
      archive_entry_set_perm(e, 0755);
      break;
    case 'l':
      archive_entry_set_filetype(e, AE_IFLNK);
      archive_entry_set_perm(e, 0777);
      archive_entry_set_symlink(e, m[i].data);
      break;
    case 'h':
      archive_entry_set_filetype(e, AE_IFREG);
      archive_entry_set_perm(e, 0644);
      archive_entry_set_hardlink(e, m[i].data);
      break;
    case 'c':
      archive_entry_set_filetype(e, AE_IFCHR);
      archive_entry_set_perm(e, 0644);
      archive_entry_set_rdev(e, 0x0103);
      break;
    case 'p':
      archive_entry_set_filetype(e, AE_IFIFO);
      archive_entry_set_perm(e, 0644);
      break;
    default:
      archive_entry_set_filetype(e, AE_IFREG);
      archive_entry_set_perm(e, 0644);
      archive_entry_set_size(e, (la_int64_t)m[i].len);
    }
    ok = archive_write_header(a, e) == ARCHIVE_OK;
    if (ok && m[i].kind == 'f') {
      for (size_t off = 0; ok && off < m[i].len;) {
        size_t n = m[i].len - off < sizeof zeros ? m[i].len - off : sizeof zeros;
        ok = archive_write_data(a, m[i].data ? m[i].data + off : zeros, n) == (la_ssize_t)n;
        off += n;
      }
    }
    if (!ok)
      fprintf(stderr, "  writing %s: %s\n", m[i].name, archive_error_string(a));
    archive_entry_free(e);
  }
  ok = archive_write_close(a) == ARCHIVE_OK && ok;
  archive_write_free(a);
  if (utf8) {
    uselocale(saved);
    freelocale(utf8);
  }
  return ok;
}

/* work/<name>, written from `m`. */
static const char *archive_at(const fixture *f, const char *name, bool zip, const member *m,
                              size_t count, char out[PATH_MAX]) {
  snprintf(out, PATH_MAX, "%s/%s", f->work, name);
  CHECK_MSG(write_archive(out, zip, m, count), "cannot write %s", out);
  return out;
}

#define N(arr) (sizeof(arr) / sizeof((arr)[0]))

static eryx_error *prep(const char *path, uint64_t max_bytes, uint64_t max_files,
                        eryx__pkg *out) {
  eryx__pkg_limits limits = {max_bytes, max_files, false};
  return eryx__pkg_prepare(path, strlen(path), &limits, out);
}

/* Prepares `path`, which must succeed. */
static bool prep_ok(const char *path, eryx__pkg *out) {
  eryx_error *err = prep(path, 0, 0, out);
  CHECK_MSG(!err, "prepare %s: %s", path, eryx_error_message(err, NULL));
  bool ok = !err;
  eryx_error_free(err);
  return ok;
}

/* Prepares `path`, which must be refused as ERYX_ERR_PACKAGE with a message
 * naming it and containing `want`; the cache must be left as it was. */
static void prep_refused(const fixture *f, const char *path, uint64_t max_bytes,
                         uint64_t max_files, const char *want) {
  eryx__pkg p;
  char *before = cache_listing(f);
  eryx_error *err = prep(path, max_bytes, max_files, &p);
  char *after = cache_listing(f);
  CHECK_MSG(!strcmp(before, after), "refusing %s changed the cache: [%s] -> [%s]", path,
            before, after);
  free(before);
  free(after);
  CHECK_MSG(err != NULL, "prepare %s succeeded; expected \"%s\"", path, want);
  if (!err) {
    eryx__pkg_clear(&p);
    return;
  }
  const char *msg = eryx_error_message(err, NULL);
  char prefix[PATH_MAX + 16];
  snprintf(prefix, sizeof prefix, "package %s: ", path);
  CHECK(eryx_error_get_code(err) == ERYX_ERR_PACKAGE);
  CHECK_MSG(!strncmp(msg, prefix, strlen(prefix)), "message does not start with \"%s\": %s",
            prefix, msg);
  CHECK_CONTAINS(msg, want);
  CHECK(p.host_dir == NULL && p.name == NULL);
  eryx_error_free(err);
}

/* tree/rel's bytes (NUL-terminated, caller frees), or NULL. */
static char *tree_file(const eryx__pkg *p, const char *rel) {
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/%s", p->host_dir, rel);
  size_t len;
  return read_file(path, &len);
}

static bool tree_has(const eryx__pkg *p, const char *rel) {
  char path[PATH_MAX];
  struct stat st;
  snprintf(path, sizeof path, "%s/%s", p->host_dir, rel);
  return lstat(path, &st) == 0;
}

static void check_tree_file(const eryx__pkg *p, const char *rel, const char *want) {
  char *got = tree_file(p, rel);
  CHECK_MSG(str_eq(got, want), "%s: expected \"%s\", got \"%s\"", rel, want, or_null(got));
  free(got);
}

static const char wheel_file[] = "Wheel-Version: 1.0\nGenerator: test\n"
                                 "Root-Is-Purelib: true\nTag: py3-none-any\n";

/* A minimal valid wheel "<dist>-1.0-<tag>.whl" whose WHEEL says `tag`. */
static const char *small_wheel(const fixture *f, const char *dist, const char *tag,
                               char out[PATH_MAX]) {
  char file_name[256], init[256], dist_info[256], wheel[256];
  snprintf(file_name, sizeof file_name, "%s-1.0-%s.whl", dist, tag);
  snprintf(init, sizeof init, "%s/__init__.py", dist);
  snprintf(dist_info, sizeof dist_info, "%s-1.0.dist-info/METADATA", dist);
  snprintf(wheel, sizeof wheel, "Wheel-Version: 1.0\nTag: %s\n", tag);
  char wheel_path[256];
  snprintf(wheel_path, sizeof wheel_path, "%s-1.0.dist-info/WHEEL", dist);
  member m[] = {
      FILE_(init, "X = 1\n"),
      FILE_(dist_info, "Metadata-Version: 2.1\nName: x\nVersion: 1.0\n"),
      {'f', wheel_path, wheel, strlen(wheel)},
  };
  return archive_at(f, file_name, true, m, N(m), out);
}

/* --------------------------------------------------------------- wheels */

static const member good_wheel[] = {
    FILE_("demo_pkg/__init__.py", "VALUE = 1\n"),
    FILE_("demo_pkg/sub/mod.py", "def f():\n    return 2\n"),
    FILE_("demo_pkg-1.0.dist-info/METADATA",
          "Metadata-Version: 2.1\nName: demo-pkg\nVersion: 1.0\n"),
    {'f', "demo_pkg-1.0.dist-info/WHEEL", wheel_file, sizeof wheel_file - 1},
    FILE_("demo_pkg-1.0.dist-info/RECORD", ""),
    FILE_("demo_pkg-1.0.data/purelib/extra_mod.py", "EXTRA = 3\n"),
    FILE_("demo_pkg-1.0.data/purelib/demo_pkg/from_data.py", "D = 4\n"),
    FILE_("demo_pkg-1.0.data/scripts/demo-tool", "#!python\n"),
};

static bool is_hex_sha(const char *s) {
  if (strlen(s) != 64)
    return false;
  for (; *s; s++)
    if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
      return false;
  return true;
}

static void packages_wheel_pure_unpacks_and_hits_the_cache(void) {
  fixture f;
  fixture_begin(&f);
  char whl[PATH_MAX];
  archive_at(&f, "demo_pkg-1.0-py3-none-any.whl", true, good_wheel, N(good_wheel), whl);
  eryx__pkg p;
  if (prep_ok(whl, &p)) {
    char v1[PATH_MAX];
    snprintf(v1, sizeof v1, "%s/packages/v1/", f.cache);
    CHECK_MSG(!strncmp(p.host_dir, v1, strlen(v1)) && is_hex_sha(p.host_dir + strlen(v1)),
              "host_dir %s is not %s<sha256>", p.host_dir, v1);
    CHECK_STREQ(p.name, "demo_pkg");
    CHECK(!p.has_native);
    CHECK(!p.cache_hit);
    check_tree_file(&p, "demo_pkg/__init__.py", "VALUE = 1\n");
    check_tree_file(&p, "demo_pkg/sub/mod.py", "def f():\n    return 2\n");
    check_tree_file(&p, "demo_pkg-1.0.dist-info/METADATA",
                    "Metadata-Version: 2.1\nName: demo-pkg\nVersion: 1.0\n");
    check_tree_file(&p, "extra_mod.py", "EXTRA = 3\n");         /* .data/purelib */
    check_tree_file(&p, "demo_pkg/from_data.py", "D = 4\n");    /* merged */
    CHECK(!tree_has(&p, "demo_pkg-1.0.data"));                  /* the rest dropped */
    CHECK(!tree_has(&p, "demo-tool"));
    char path[PATH_MAX];
    struct stat st;
    snprintf(path, sizeof path, "%s/demo_pkg/__init__.py", p.host_dir);
    CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0644);
    CHECK(stat(p.host_dir, &st) == 0 && (st.st_mode & 0777) == 0755);

    /* The same file again: from the memo, the same tree. */
    eryx__pkg again;
    if (prep_ok(whl, &again)) {
      CHECK(again.cache_hit);
      CHECK_STREQ(again.host_dir, p.host_dir);
      CHECK_STREQ(again.name, "demo_pkg");
      eryx__pkg_clear(&again);
    }
    /* A copy (another inode: hashed, found in the cache, metadata read
     * from the tree as another process would). */
    char copy[PATH_MAX];
    snprintf(copy, sizeof copy, "%s/copy", f.work);
    mkdir(copy, 0755);
    snprintf(copy, sizeof copy, "%s/copy/demo_pkg-1.0-py3-none-any.whl", f.work);
    size_t len;
    char *bytes = slurp(whl, &len);
    FILE *out = fopen(copy, "wb");
    CHECK(bytes && out && fwrite(bytes, 1, len, out) == len);
    if (out)
      fclose(out);
    free(bytes);
    if (prep_ok(copy, &again)) {
      CHECK(again.cache_hit);
      CHECK_STREQ(again.host_dir, p.host_dir);
      CHECK_STREQ(again.name, "demo_pkg");
      CHECK(!again.has_native);
      eryx__pkg_clear(&again);
    }
    /* Nothing but the tree in the cache: no staging left over. */
    DIR *d = opendir(v1);
    int entries = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
      entries += e->d_name[0] != '.';
    if (d)
      closedir(d);
    CHECK(entries == 1);
    eryx__pkg_clear(&p);
    CHECK(p.host_dir == NULL && p.name == NULL);
  }
  fixture_end(&f);
}

static void packages_wheel_other_platform_refused(void) {
  fixture f;
  fixture_begin(&f);
  char whl[PATH_MAX];
  small_wheel(&f, "native", "cp314-cp314-manylinux_2_17_x86_64.manylinux2014_x86_64", whl);
  prep_refused(&f, whl, 0, 0, "native code for linux-x86_64 cannot run in a WASI sandbox");
  prep_refused(&f, whl, 0, 0,
               "(wheel tag cp314-cp314-manylinux_2_17_x86_64.manylinux2014_x86_64); use a "
               "pure-Python wheel (py3-none-any) or the package's sdist");
  small_wheel(&f, "mac", "cp312-abi3-macosx_11_0_arm64", whl);
  prep_refused(&f, whl, 0, 0, "native code for macos-arm64");
  small_wheel(&f, "win", "cp314-cp314-win_amd64", whl);
  prep_refused(&f, whl, 0, 0, "native code for windows-amd64");
  small_wheel(&f, "musl", "py3-none-musllinux_1_2_aarch64", whl);
  prep_refused(&f, whl, 0, 0, "native code for linux-aarch64 (musl)");

  /* A renamed wheel: the file name says pure, WHEEL says Linux. */
  static const char linux_wheel[] = "Wheel-Version: 1.0\n"
                                    "Tag: cp314-cp314-manylinux_2_17_x86_64\n";
  member m[] = {
      FILE_("sneaky/__init__.py", ""),
      {'f', "sneaky-1.0.dist-info/WHEEL", linux_wheel, sizeof linux_wheel - 1},
  };
  archive_at(&f, "sneaky-1.0-py3-none-any.whl", true, m, N(m), whl);
  prep_refused(&f, whl, 0, 0, "native code for linux-x86_64");
  prep_refused(&f, whl, 0, 0, "in sneaky-1.0.dist-info/WHEEL");
  CHECK_MSG(cache_is_clean(&f), "the cache is not empty");
  fixture_end(&f);
}

static void packages_wheel_wasi_native_accepted(void) {
  fixture f;
  fixture_begin(&f);
  static const char wasi_wheel[] = "Wheel-Version: 1.0\nRoot-Is-Purelib: false\n"
                                   "Tag: cp314-cp314-wasi_0_0_0_wasm32\n";
  member m[] = {
      FILE_("fast/__init__.py", "from ._speed import go\n"),
      FILE_("fast/_speed.cpython-314-wasm32-wasi.so", "\0asm\1\0\0\0"),
      {'f', "fast-2.0.dist-info/WHEEL", wasi_wheel, sizeof wasi_wheel - 1},
  };
  char whl[PATH_MAX];
  archive_at(&f, "fast-2.0-cp314-cp314-wasi_0_0_0_wasm32.whl", true, m, N(m), whl);
  /* A plain sandbox's prepare refuses it before unpacking anything. */
  eryx__pkg_limits plain = {0, 0, true};
  eryx__pkg p;
  eryx_error *err = eryx__pkg_prepare(whl, strlen(whl), &plain, &p);
  CHECK(err && eryx_error_get_code(err) == ERYX_ERR_PACKAGE);
  CHECK_CONTAINS(err ? eryx_error_message(err, NULL) : NULL, "build a factory with it");
  eryx_error_free(err);
  CHECK_MSG(cache_is_clean(&f), "a refused native wheel left something in the cache");
  if (prep_ok(whl, &p)) {
    CHECK(p.has_native);
    CHECK_STREQ(p.name, "fast");
    CHECK(tree_has(&p, "fast/_speed.cpython-314-wasm32-wasi.so"));
    eryx__pkg_clear(&p);
    if (prep_ok(whl, &p)) { /* the flag survives a cache hit */
      CHECK(p.cache_hit && p.has_native);
      eryx__pkg_clear(&p);
    }
  }
  fixture_end(&f);
}

static void packages_wheel_python_tags(void) {
  fixture f;
  fixture_begin(&f);
  char whl[PATH_MAX];
  small_wheel(&f, "old", "py2-none-any", whl);
  prep_refused(&f, whl, 0, 0, "built for py2; the sandbox runs CPython 3.14");
  small_wheel(&f, "ancient", "cp27-cp27mu-any", whl);
  prep_refused(&f, whl, 0, 0, "built for cp27; the sandbox runs CPython 3.14");
  small_wheel(&f, "future", "cp315-cp315-any", whl);
  prep_refused(&f, whl, 0, 0, "built for cp315;");
  small_wheel(&f, "older_abi", "cp312-cp312-wasi_0_0_0_wasm32", whl);
  prep_refused(&f, whl, 0, 0, "built for cp312-cp312;");
  small_wheel(&f, "pypy", "pp310-pypy310_pp73-any", whl);
  prep_refused(&f, whl, 0, 0, "built for pp310;");

  /* Accepted: any Python 3, the stable ABI, CPython 3.14 itself. */
  const char *good[] = {"py3-none-any", "py2.py3-none-any", "py314-none-any",
                        "py38-none-any", "cp38-abi3-any", "cp314-none-any",
                        "cp314-cp314-wasi_0_0_0_wasm32"};
  for (size_t i = 0; i < N(good); i++) {
    char dist[32];
    snprintf(dist, sizeof dist, "ok%zu", i);
    small_wheel(&f, dist, good[i], whl);
    eryx__pkg p;
    if (prep_ok(whl, &p)) {
      CHECK_MSG(p.has_native == (strstr(good[i], "wasi") != NULL), "%s", good[i]);
      eryx__pkg_clear(&p);
    }
  }
  /* A file both in .data/purelib and at the root. */
  member clash[] = {
      FILE_("clash.py", "1"),
      FILE_("clash-1.0.data/purelib/clash.py", "2"),
      {'f', "clash-1.0.dist-info/WHEEL", wheel_file, sizeof wheel_file - 1},
  };
  archive_at(&f, "clash-1.0-py3-none-any.whl", true, clash, N(clash), whl);
  prep_refused(&f, whl, 0, 0, "two files would be installed as \"clash.py\" (one from purelib)");

  member meta[] = {
      FILE_("meta-1.0.data/purelib/.eryx-package", "name evil\n"),
      {'f', "meta-1.0.dist-info/WHEEL", wheel_file, sizeof wheel_file - 1},
  };
  archive_at(&f, "meta-1.0-py3-none-any.whl", true, meta, N(meta), whl);
  prep_refused(&f, whl, 0, 0, "a name Eryx reserves for its cache");

  /* Not a wheel's file name, and a wheel without WHEEL. */
  member m[] = {FILE_("x/__init__.py", "")};
  archive_at(&f, "x-1.0.whl", true, m, N(m), whl);
  prep_refused(&f, whl, 0, 0, "not a valid wheel file name");
  archive_at(&f, "x-1.0-py3-none-any.whl", true, m, N(m), whl);
  prep_refused(&f, whl, 0, 0, "has no *.dist-info/WHEEL file");
  fixture_end(&f);
}

/* Names beyond ASCII, whatever the process's locale (the tests run in
 * the C locale): UTF-8 ones are kept, others refused. */
static void packages_utf8_names(void) {
  fixture f;
  fixture_begin(&f);
  member w[] = {
      FILE_("uni/__init__.py", ""),
      FILE_("uni/donn\xc3\xa9" "es.py", "D = 1\n"),
      {'f', "uni-1.0.dist-info/WHEEL", wheel_file, sizeof wheel_file - 1},
  };
  char whl[PATH_MAX], tgz[PATH_MAX];
  archive_at(&f, "uni-1.0-py3-none-any.whl", true, w, N(w), whl);
  archive_at(&f, "uni.tar.gz", false, w, N(w), tgz);
  const char *paths[] = {whl, tgz};
  for (int i = 0; i < 2; i++) {
    eryx__pkg p;
    if (prep_ok(paths[i], &p)) {
      check_tree_file(&p, "uni/donn\xc3\xa9" "es.py", "D = 1\n");
      eryx__pkg_clear(&p);
    }
  }
  member latin1[] = {FILE_("uni/donn\xe9" "es.py", "")};
  tar_raw_names = true;
  archive_at(&f, "latin1.tar.gz", false, latin1, N(latin1), tgz);
  tar_raw_names = false;
  prep_refused(&f, tgz, 0, 0, "\"uni/donn\\xe9es.py\": its name is not valid UTF-8");
  fixture_end(&f);
}

/* ------------------------------------------------------ hostile archives */

static void packages_zip_slip_refused(void) {
  fixture f;
  fixture_begin(&f);
  char whl[PATH_MAX];
  member up[] = {
      FILE_("ok/__init__.py", ""),
      FILE_("../evil.py", "import os\n"),
      {'f', "ok-1.0.dist-info/WHEEL", wheel_file, sizeof wheel_file - 1},
  };
  archive_at(&f, "ok-1.0-py3-none-any.whl", true, up, N(up), whl);
  prep_refused(&f, whl, 0, 0, "unsafe archive member \"../evil.py\": its path has a \"..\"");
  char evil[PATH_MAX];
  snprintf(evil, sizeof evil, "%s/packages/evil.py", f.cache);
  CHECK(access(evil, F_OK) != 0);

  member deep[] = {FILE_("ok/../../../../../tmp/evil.py", "")};
  archive_at(&f, "deep-1.0-py3-none-any.whl", true, deep, N(deep), whl);
  prep_refused(&f, whl, 0, 0, "\"..\" component");

  member abs[] = {
      FILE_("ok/__init__.py", ""),
      FILE_("/abs.py", ""),
  };
  archive_at(&f, "abs-1.0-py3-none-any.whl", true, abs, N(abs), whl);
  prep_refused(&f, whl, 0, 0, "unsafe archive member \"/abs.py\": its path is absolute");

  member control[] = {FILE_("ok/a\nb.py", "")};
  archive_at(&f, "ctl-1.0-py3-none-any.whl", true, control, N(control), whl);
  prep_refused(&f, whl, 0, 0, "\"ok/a\\x0ab.py\": its name holds a control character");
  CHECK_MSG(cache_is_clean(&f), "the cache is not empty");
  fixture_end(&f);
}

static void packages_tar_slip_sdist_refused(void) {
  fixture f;
  fixture_begin(&f);
  char tgz[PATH_MAX];
  member m[] = {
      FILE_("evil-1.0/PKG-INFO", "Metadata-Version: 2.1\nName: evil\nVersion: 1.0\n"),
      FILE_("evil-1.0/evil/__init__.py", ""),
      FILE_("evil-1.0/../../../evil.py", "import os\n"),
  };
  archive_at(&f, "evil-1.0.tar.gz", false, m, N(m), tgz);
  prep_refused(&f, tgz, 0, 0, "\"evil-1.0/../../../evil.py\": its path has a \"..\"");
  char escaped[PATH_MAX];
  snprintf(escaped, sizeof escaped, "%s/evil.py", f.cache);
  CHECK(access(escaped, F_OK) != 0);
  CHECK_MSG(cache_is_clean(&f), "the cache is not empty");
  fixture_end(&f);
}

static void packages_links_leading_out_refused(void) {
  fixture f;
  fixture_begin(&f);
  char tgz[PATH_MAX];
  member to_etc[] = {FILE_("pkg/__init__.py", ""), LINK_("pkg/etc", "/etc")};
  archive_at(&f, "etc.tar.gz", false, to_etc, N(to_etc), tgz);
  prep_refused(&f, tgz, 0, 0, "\"pkg/etc\": it is a symbolic link to an absolute path");

  member up[] = {FILE_("pkg/__init__.py", ""), LINK_("pkg/up", "../../outside")};
  archive_at(&f, "up.tar.gz", false, up, N(up), tgz);
  prep_refused(&f, tgz, 0, 0, "\"pkg/up\": it is a symbolic link leading out of the package");

  /* Each harmless alone: s/t/l is the root; s/t/m = l/.. is then above it. */
  member chain[] = {FILE_("s/t/x.py", ""), LINK_("s/t/l", "../.."), LINK_("s/t/m", "l/..")};
  archive_at(&f, "chain.tar.gz", false, chain, N(chain), tgz);
  prep_refused(&f, tgz, 0, 0, "\"s/t/m\": its symbolic link leads out of the package");

  /* A member written through a link of the archive. */
  member through[] = {LINK_("pkg", "elsewhere"), FILE_("pkg/x.py", "")};
  archive_at(&f, "through.tar.gz", false, through, N(through), tgz);
  prep_refused(&f, tgz, 0, 0, "\"pkg\": it is a symbolic link, and other members");
  member file_dir[] = {FILE_("a", ""), FILE_("a/c", "")};
  archive_at(&f, "filedir.tar.gz", false, file_dir, N(file_dir), tgz);
  prep_refused(&f, tgz, 0, 0, "its path runs through \"a\", which the archive makes");

  member hard_out[] = {FILE_("pkg/__init__.py", ""), {'h', "pkg/h.py", "../etc/passwd", 0}};
  archive_at(&f, "hard.tar.gz", false, hard_out, N(hard_out), tgz);
  prep_refused(&f, tgz, 0, 0, "\"pkg/h.py\": it is a hard link to something that is not");

  member dev[] = {FILE_("pkg/__init__.py", ""), {'c', "pkg/null", NULL, 0}};
  archive_at(&f, "dev.tar.gz", false, dev, N(dev), tgz);
  prep_refused(&f, tgz, 0, 0, "\"pkg/null\": it is a character device");

  member fifo[] = {{'p', "pkg/pipe", NULL, 0}};
  archive_at(&f, "fifo.tar.gz", false, fifo, N(fifo), tgz);
  prep_refused(&f, tgz, 0, 0, "\"pkg/pipe\": it is a FIFO");

  member twice[] = {FILE_("pkg/a.py", "1"), FILE_("pkg/a.py", "2")};
  archive_at(&f, "twice.tar.gz", false, twice, N(twice), tgz);
  prep_refused(&f, tgz, 0, 0, "two members of that name");

  char deep_name[400] = "";
  for (int i = 0; i < 65; i++)
    strcat(deep_name, "d/");
  strcat(deep_name, "x.py");
  member deep[] = {{'f', deep_name, "", 0}};
  archive_at(&f, "deep.tar.gz", false, deep, N(deep), tgz);
  prep_refused(&f, tgz, 0, 0, "it is nested more than 64 directories deep");

  archive_at(&f, "empty.tar.gz", false, NULL, 0, tgz);
  prep_refused(&f, tgz, 0, 0, "is an empty archive");

  member reserved[] = {FILE_(".eryx-package", "name evil\n")};
  archive_at(&f, "reserved.tar.gz", false, reserved, N(reserved), tgz);
  prep_refused(&f, tgz, 0, 0, "Eryx reserves that name");
  CHECK_MSG(cache_is_clean(&f), "the cache is not empty");
  fixture_end(&f);
}

static void packages_links_inside_allowed(void) {
  fixture f;
  fixture_begin(&f);
  char tgz[PATH_MAX];
  member m[] = {
      FILE_("pkg/__init__.py", "A = 1\n"),
      LINK_("pkg/alias.py", "__init__.py"),
      LINK_("pkg/sub/up.py", "../__init__.py"),
      LINK_("pkg_link", "pkg"),
      {'h', "pkg/hard.py", "pkg/__init__.py", 0},
  };
  archive_at(&f, "links.tar.gz", false, m, N(m), tgz);
  eryx__pkg p;
  if (prep_ok(tgz, &p)) {
    char path[PATH_MAX], target[64];
    snprintf(path, sizeof path, "%s/pkg/alias.py", p.host_dir);
    ssize_t n = readlink(path, target, sizeof target - 1);
    CHECK(n == 11 && !memcmp(target, "__init__.py", 11));
    check_tree_file(&p, "pkg/alias.py", "A = 1\n");
    check_tree_file(&p, "pkg/sub/up.py", "A = 1\n");
    check_tree_file(&p, "pkg_link/__init__.py", "A = 1\n");
    check_tree_file(&p, "pkg/hard.py", "A = 1\n");
    eryx__pkg_clear(&p);
  }
  /* In a wheel too (zip symbolic links, as Info-ZIP writes them). */
  member w[] = {
      FILE_("lnk/__init__.py", "B = 2\n"),
      LINK_("lnk/again.py", "__init__.py"),
      {'f', "lnk-1.0.dist-info/WHEEL", wheel_file, sizeof wheel_file - 1},
  };
  char whl[PATH_MAX];
  archive_at(&f, "lnk-1.0-py3-none-any.whl", true, w, N(w), whl);
  if (prep_ok(whl, &p)) {
    check_tree_file(&p, "lnk/again.py", "B = 2\n");
    eryx__pkg_clear(&p);
  }
  member w_out[] = {
      FILE_("lnk/__init__.py", ""),
      LINK_("lnk/passwd", "/etc/passwd"),
      {'f', "lnk-1.0.dist-info/WHEEL", wheel_file, sizeof wheel_file - 1},
  };
  archive_at(&f, "lnkout-1.0-py3-none-any.whl", true, w_out, N(w_out), whl);
  prep_refused(&f, whl, 0, 0, "symbolic link to an absolute path");
  fixture_end(&f);
}

static void packages_bombs_refused(void) {
  fixture f;
  fixture_begin(&f);
  char whl[PATH_MAX];
  member big[] = {
      {'f', "bomb/zeros.bin", NULL, 2u << 20},
      {'f', "bomb-1.0.dist-info/WHEEL", wheel_file, sizeof wheel_file - 1},
  };
  archive_at(&f, "bomb-1.0-py3-none-any.whl", true, big, N(big), whl);
  struct stat st;
  CHECK(stat(whl, &st) == 0 && st.st_size < 64 * 1024); /* it compresses well */
  prep_refused(&f, whl, 1u << 20, 0, "unpacks to more than 1048576 bytes, the cap");
  prep_refused(&f, whl, 1u << 20, 0, "max_package_bytes in eryx_sandbox_options");
  eryx__pkg p;
  eryx_error *err = prep(whl, 4u << 20, 0, &p); /* under a raised cap it is fine */
  CHECK_MSG(!err, "%s", eryx_error_message(err, NULL));
  eryx_error_free(err);
  eryx__pkg_clear(&p);

  member many[20];
  char names[20][32];
  for (int i = 0; i < 20; i++) {
    snprintf(names[i], sizeof names[i], "many/m%02d.py", i);
    many[i] = (member){'f', names[i], "", 0};
  }
  archive_at(&f, "many-1.0-py3-none-any.whl", true, many, N(many), whl);
  prep_refused(&f, whl, 0, 10, "has more than 10 members, the cap");
  prep_refused(&f, whl, 0, 10, "max_package_files in eryx_sandbox_options");
  fixture_end(&f);
}

/* The first half of `path`'s bytes written to `out`. */
static void cut_in_half(const char *path, const char *out) {
  size_t len;
  char *bytes = slurp(path, &len);
  FILE *fp = fopen(out, "wb");
  CHECK(bytes && fp && fwrite(bytes, 1, len / 2, fp) == len / 2);
  if (fp)
    fclose(fp);
  free(bytes);
}

static void packages_truncated_refused(void) {
  fixture f;
  fixture_begin(&f);
  /* Big enough to span several gzip blocks and zip members. */
  static char text[64 * 1024];
  for (size_t i = 0; i < sizeof text; i++)
    text[i] = (char)('a' + (i * 7919 + i / 13) % 26);
  member m[] = {
      {'f', "cut/__init__.py", text, sizeof text},
      {'f', "cut/b.py", text, sizeof text},
      {'f', "cut-1.0.dist-info/WHEEL", wheel_file, sizeof wheel_file - 1},
  };
  char whl[PATH_MAX], half[PATH_MAX];
  archive_at(&f, "cut-1.0-py3-none-any.whl", true, m, N(m), whl);
  snprintf(half, sizeof half, "%s/half/cut-1.0-py3-none-any.whl", f.work);
  char dir[PATH_MAX];
  snprintf(dir, sizeof dir, "%s/half", f.work);
  mkdir(dir, 0755);
  cut_in_half(whl, half);
  prep_refused(&f, half, 0, 0, "corrupt or truncated archive: ");

  char tgz[PATH_MAX];
  archive_at(&f, "cut.tar.gz", false, m, N(m), tgz);
  snprintf(half, sizeof half, "%s/half/cut.tar.gz", f.work);
  cut_in_half(tgz, half);
  prep_refused(&f, half, 0, 0, "corrupt or truncated archive: ");

  /* Damage inside the last member's data: its CRC no longer matches. */
  member stored[] = {
      {'f', "crc-1.0.dist-info/WHEEL", wheel_file, sizeof wheel_file - 1},
      {'f', "crc/__init__.py", text, sizeof text},
  };
  zip_store = true;
  archive_at(&f, "crc-1.0-py3-none-any.whl", true, stored, N(stored), whl);
  zip_store = false;
  size_t len;
  char *bytes = slurp(whl, &len);
  char *hit = bytes ? find_bytes(bytes, len, text + 1000, 64) : NULL;
  CHECK(hit != NULL);
  if (hit) {
    hit[10] ^= 0x20;
    FILE *fp = fopen(whl, "wb");
    CHECK(fp && fwrite(bytes, 1, len, fp) == len);
    if (fp)
      fclose(fp);
    prep_refused(&f, whl, 0, 0, "corrupt or truncated archive: ");
  }
  free(bytes);
  /* Not an archive at all. */
  snprintf(half, sizeof half, "%s/half/html-1.0-py3-none-any.whl", f.work);
  FILE *fp = fopen(half, "wb");
  if (fp) {
    fputs("<html>404 Not Found</html>\n", fp);
    fclose(fp);
  }
  prep_refused(&f, half, 0, 0, "corrupt or truncated archive: ");
  CHECK_MSG(cache_is_clean(&f), "the cache is not empty");
  fixture_end(&f);
}

/* --------------------------------------------------------------- tarballs */

static void packages_sdist_src_layout_with_egg_info(void) {
  fixture f;
  fixture_begin(&f);
  static const char pkg_info[] = "Metadata-Version: 2.1\nName: MarkupSafe\n"
                                 "Version: 2.1.5\nSummary: Safely add untrusted strings\n\n"
                                 "Long description.\n";
  member m[] = {
      FILE_("._markupsafe-2.1.5", "\0\5\26\7"), /* macOS tar's AppleDouble file */
      DIR_("markupsafe-2.1.5/"),
      {'f', "markupsafe-2.1.5/PKG-INFO", pkg_info, sizeof pkg_info - 1},
      FILE_("markupsafe-2.1.5/setup.py", "from setuptools import setup\nsetup()\n"),
      FILE_("markupsafe-2.1.5/setup.cfg", "[metadata]\n"),
      FILE_("markupsafe-2.1.5/src/markupsafe/__init__.py", "class Markup(str): pass\n"),
      FILE_("markupsafe-2.1.5/src/markupsafe/_native.py", "def escape(s): return s\n"),
      FILE_("markupsafe-2.1.5/src/markupsafe/_speedups.c", "/* C */\n"),
      {'f', "markupsafe-2.1.5/src/MarkupSafe.egg-info/PKG-INFO", pkg_info,
       sizeof pkg_info - 1},
      FILE_("markupsafe-2.1.5/src/MarkupSafe.egg-info/top_level.txt", "markupsafe\n"),
      FILE_("markupsafe-2.1.5/src/MarkupSafe.egg-info/SOURCES.txt", "setup.py\n"),
      FILE_("markupsafe-2.1.5/src/other/__init__.py", ""), /* not listed */
      FILE_("markupsafe-2.1.5/tests/test_escape.py", "def test(): pass\n"),
      FILE_("markupsafe-2.1.5/docs/index.rst", "MarkupSafe\n"),
  };
  char tgz[PATH_MAX];
  archive_at(&f, "MarkupSafe-2.1.5.tar.gz", false, m, N(m), tgz);
  eryx__pkg p;
  if (prep_ok(tgz, &p)) {
    CHECK_STREQ(p.name, "MarkupSafe");
    CHECK(!p.has_native);
    check_tree_file(&p, "markupsafe/__init__.py", "class Markup(str): pass\n");
    CHECK(tree_has(&p, "markupsafe/_native.py"));
    check_tree_file(&p, "MarkupSafe.egg-info/PKG-INFO", pkg_info);
    CHECK(tree_has(&p, "MarkupSafe.egg-info/top_level.txt"));
    CHECK(!tree_has(&p, "other"));
    CHECK(!tree_has(&p, "setup.py"));
    CHECK(!tree_has(&p, "tests"));
    CHECK(!tree_has(&p, "docs"));
    CHECK(!tree_has(&p, "src"));
    CHECK(!tree_has(&p, "PKG-INFO"));
    CHECK(!tree_has(&p, "markupsafe-2.1.5"));
    CHECK(!tree_has(&p, "MarkupSafe-2.1.5.dist-info"));
    eryx__pkg_clear(&p);
    if (prep_ok(tgz, &p)) {
      CHECK(p.cache_hit);
      CHECK_STREQ(p.name, "MarkupSafe");
      eryx__pkg_clear(&p);
    }
  }
  /* The .egg-info at the top, the package under src/. */
  member top_egg[] = {
      FILE_("topegg-1.0/PKG-INFO", "Name: topegg\nVersion: 1.0\n"),
      FILE_("topegg-1.0/src/topegg/__init__.py", "T = 1\n"),
      FILE_("topegg-1.0/topegg.egg-info/PKG-INFO", "Name: topegg\nVersion: 1.0\n"),
      FILE_("topegg-1.0/topegg.egg-info/top_level.txt", "topegg\n\n../evil\n"),
  };
  archive_at(&f, "topegg-1.0.tar.gz", false, top_egg, N(top_egg), tgz);
  if (prep_ok(tgz, &p)) {
    check_tree_file(&p, "topegg/__init__.py", "T = 1\n");
    CHECK(tree_has(&p, "topegg.egg-info/top_level.txt"));
    CHECK(!tree_has(&p, "topegg-1.0.dist-info"));
    eryx__pkg_clear(&p);
  }
  fixture_end(&f);
}

static void packages_sdist_without_egg_info_gets_metadata(void) {
  fixture f;
  fixture_begin(&f);
  static const char pkg_info[] = "Metadata-Version: 1.1\r\nName: simple-pkg.extra\r\n"
                                 "Version: 1.0.post1\r\n\r\nbody\r\n";
  member m[] = {
      {'f', "simple-pkg-1.0/PKG-INFO", pkg_info, sizeof pkg_info - 1},
      FILE_("simple-pkg-1.0/setup.py", "setup()\n"),
      FILE_("simple-pkg-1.0/conftest.py", ""),
      FILE_("simple-pkg-1.0/simple.py", "S = 1\n"),
      FILE_("simple-pkg-1.0/pkg/__init__.py", "P = 1\n"),
      FILE_("simple-pkg-1.0/pkg/deep/__init__.py", ""),
      FILE_("simple-pkg-1.0/notapkg/data.txt", "x\n"),
      FILE_("simple-pkg-1.0/tests/__init__.py", ""),
      FILE_("simple-pkg-1.0/examples/__init__.py", ""),
      FILE_("simple-pkg-1.0/benchmarks/__init__.py", ""),
      FILE_("simple-pkg-1.0/docs/conf.py", ""),
  };
  char tgz[PATH_MAX];
  archive_at(&f, "simple-pkg-1.0.tgz", false, m, N(m), tgz);
  eryx__pkg p;
  if (prep_ok(tgz, &p)) {
    CHECK_STREQ(p.name, "simple-pkg.extra");
    check_tree_file(&p, "simple.py", "S = 1\n");
    check_tree_file(&p, "pkg/__init__.py", "P = 1\n");
    CHECK(tree_has(&p, "pkg/deep/__init__.py"));
    check_tree_file(&p, "simple_pkg_extra-1.0.post1.dist-info/METADATA", pkg_info);
    const char *absent[] = {"setup.py", "conftest.py", "notapkg", "tests",
                            "examples", "benchmarks", "docs",        "PKG-INFO"};
    for (size_t i = 0; i < N(absent); i++)
      CHECK_MSG(!tree_has(&p, absent[i]), "%s was kept", absent[i]);
    eryx__pkg_clear(&p);
  }
  /* An sdist with nothing importable, and one without a Version. */
  member none[] = {
      FILE_("cext-1.0/PKG-INFO", "Name: cext\nVersion: 1.0\n"),
      FILE_("cext-1.0/setup.py", ""),
      FILE_("cext-1.0/cext.c", ""),
  };
  archive_at(&f, "cext-1.0.tar.gz", false, none, N(none), tgz);
  prep_refused(&f, tgz, 0, 0, "is an sdist with no pure-Python package or module");
  member no_version[] = {
      FILE_("nov-1.0/PKG-INFO", "Name: nov\n\nVersion: 1.0\n"),
      FILE_("nov-1.0/nov.py", ""),
  };
  archive_at(&f, "nov-1.0.tar.gz", false, no_version, N(no_version), tgz);
  prep_refused(&f, tgz, 0, 0, "no usable Name and Version");
  fixture_end(&f);
}

static void packages_site_packages_tarball_as_is(void) {
  fixture f;
  fixture_begin(&f);
  member m[] = {
      FILE_("./numpy_like/__init__.py", "from ._core import *\n"),
      FILE_("./numpy_like/_core.cpython-314-wasm32-wasi.so", "\0asm"),
      FILE_("numpy_like-1.0.dist-info/METADATA", "Name: numpy-like\nVersion: 1.0\n"),
      FILE_("six.py", "SIX = 6\n"),
      DIR_("empty/"),
  };
  char tgz[PATH_MAX];
  archive_at(&f, "wasi-site.tar.gz", false, m, N(m), tgz);
  eryx__pkg p;
  if (prep_ok(tgz, &p)) {
    CHECK_STREQ(p.name, "wasi-site");
    CHECK(p.has_native);
    check_tree_file(&p, "numpy_like/__init__.py", "from ._core import *\n");
    check_tree_file(&p, "six.py", "SIX = 6\n");
    CHECK(tree_has(&p, "numpy_like-1.0.dist-info/METADATA"));
    CHECK(tree_has(&p, "empty"));
    eryx__pkg_clear(&p);
  }
  /* One top directory but no PKG-INFO: a tree too. */
  member one[] = {FILE_("solo/__init__.py", "")};
  archive_at(&f, "solo-0.3.tar.gz", false, one, N(one), tgz);
  if (prep_ok(tgz, &p)) {
    CHECK_STREQ(p.name, "solo");
    CHECK(!p.has_native);
    CHECK(tree_has(&p, "solo/__init__.py"));
    eryx__pkg_clear(&p);
  }
  fixture_end(&f);
}

/* ------------------------------------------------------------ directories */

static void write_text(const char *path, const char *text) {
  FILE *fp = fopen(path, "w");
  CHECK_MSG(fp != NULL, "cannot write %s", path);
  if (fp) {
    fputs(text, fp);
    fclose(fp);
  }
}

static void packages_directory_package_copied(void) {
  fixture f;
  fixture_begin(&f);
  char dir[256], path[PATH_MAX];
  snprintf(dir, sizeof dir, "%s/src/mypkg", f.work);
  snprintf(path, sizeof path, "%s/src", f.work);
  mkdir(path, 0755);
  mkdir(dir, 0755);
  snprintf(path, sizeof path, "%s/sub", dir);
  mkdir(path, 0755);
  snprintf(path, sizeof path, "%s/__init__.py", dir);
  write_text(path, "M = 1\n");
  snprintf(path, sizeof path, "%s/sub/x.py", dir);
  write_text(path, "X = 2\n");
  snprintf(path, sizeof path, "%s/link.py", dir);
  CHECK(symlink("sub/x.py", path) == 0);

  eryx__pkg p;
  if (prep_ok(dir, &p)) {
    char want[PATH_MAX];
    snprintf(want, sizeof want, "%s/packages/v1/dir-", f.cache);
    CHECK_MSG(!strncmp(p.host_dir, want, strlen(want)) &&
                  is_hex_sha(p.host_dir + strlen(want)),
              "host_dir %s", p.host_dir);
    CHECK_STREQ(p.name, "mypkg");
    CHECK(!p.cache_hit);
    check_tree_file(&p, "mypkg/__init__.py", "M = 1\n");
    check_tree_file(&p, "mypkg/sub/x.py", "X = 2\n");
    check_tree_file(&p, "mypkg/link.py", "X = 2\n");
    struct stat st;
    snprintf(path, sizeof path, "%s/mypkg/link.py", p.host_dir);
    CHECK(lstat(path, &st) == 0 && S_ISREG(st.st_mode)); /* copied as a file */
    eryx__pkg again;
    if (prep_ok(dir, &again)) {
      CHECK(again.cache_hit);
      CHECK_STREQ(again.host_dir, p.host_dir);
      eryx__pkg_clear(&again);
    }
    /* Changed content: another entry. */
    snprintf(path, sizeof path, "%s/sub/x.py", dir);
    write_text(path, "X = 3\n");
    if (prep_ok(dir, &again)) {
      CHECK(!again.cache_hit);
      CHECK(strcmp(again.host_dir, p.host_dir) != 0);
      check_tree_file(&again, "mypkg/link.py", "X = 3\n");
      eryx__pkg_clear(&again);
    }
    eryx__pkg_clear(&p);
  }
  /* A link out of the package is refused; so is a directory over the caps. */
  snprintf(path, sizeof path, "%s/passwd", dir);
  CHECK(symlink("/etc/passwd", path) == 0);
  eryx_error *err = prep(dir, 0, 0, &p);
  CHECK_CONTAINS(eryx_error_message(err, NULL), "symbolic link \"passwd\" leads out");
  eryx_error_free(err);
  unlink(path);
  snprintf(path, sizeof path, "%s/pipe", dir);
  CHECK(mkfifo(path, 0644) == 0);
  err = prep(dir, 0, 0, &p);
  CHECK_CONTAINS(eryx_error_message(err, NULL), "\"pipe\" in it is a device, FIFO or socket");
  eryx_error_free(err);
  unlink(path);
  err = prep(dir, 0, 2, &p);
  CHECK_CONTAINS(eryx_error_message(err, NULL), "more than 2 entries, the cap");
  eryx_error_free(err);
  err = prep(dir, 5, 0, &p);
  CHECK_CONTAINS(eryx_error_message(err, NULL), "more than 5 bytes, the cap");
  eryx_error_free(err);
  fixture_end(&f);
}

static void packages_plain_directory_used_as_is(void) {
  fixture f;
  fixture_begin(&f);
  char dir[256], path[PATH_MAX];
  snprintf(dir, sizeof dir, "%s/site-packages", f.work);
  mkdir(dir, 0755);
  snprintf(path, sizeof path, "%s/mod.py", dir);
  write_text(path, "");
  snprintf(path, sizeof path, "%s/site-packages/../site-packages/", f.work);
  eryx__pkg p;
  if (prep_ok(path, &p)) {
    char real[PATH_MAX];
    CHECK(realpath(dir, real) != NULL);
    CHECK_STREQ(p.host_dir, real);
    CHECK_STREQ(p.name, "site-packages");
    CHECK(!p.cache_hit && !p.has_native);
    CHECK(cache_is_clean(&f));
    eryx__pkg_clear(&p);
  }
  fixture_end(&f);
}

static void packages_bad_inputs_refused(void) {
  fixture f;
  fixture_begin(&f);
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/missing-1.0-py3-none-any.whl", f.work);
  prep_refused(&f, path, 0, 0, "no such file or directory; check the path");
  snprintf(path, sizeof path, "%s/thing.zip", f.work);
  write_text(path, "PK");
  prep_refused(&f, path, 0, 0, "is not a wheel (.whl), a tarball (.tar.gz, .tgz) or a directory");
  snprintf(path, sizeof path, "%s/fifo-1.0-py3-none-any.whl", f.work);
  CHECK(mkfifo(path, 0644) == 0);
  prep_refused(&f, path, 0, 0, "is not a regular file");
  eryx__pkg p;
  eryx_error *err = eryx__pkg_prepare("", 0, NULL, &p);
  CHECK_CONTAINS(eryx_error_message(err, NULL), "no path given");
  eryx_error_free(err);
  /* The length is what counts, not a NUL. */
  snprintf(path, sizeof path, "%s/thing.zipXYZ", f.work);
  err = eryx__pkg_prepare(path, strlen(path) - 3, NULL, &p);
  CHECK(eryx_error_get_code(err) == ERYX_ERR_PACKAGE);
  CHECK_CONTAINS(eryx_error_message(err, NULL), "thing.zip: is not a wheel");
  eryx_error_free(err);
  fixture_end(&f);
}

static void packages_cache_dir_from_the_environment(void) {
  const char *names[] = {"ERYX_CACHE_DIR", "XDG_CACHE_HOME", "HOME"};
  char *saved[3];
  for (int i = 0; i < 3; i++) {
    const char *v = getenv(names[i]);
    saved[i] = v ? strdup(v) : NULL;
  }
  setenv("ERYX_CACHE_DIR", "/c/eryx", 1);
  setenv("XDG_CACHE_HOME", "/x", 1);
  setenv("HOME", "/h", 1);
  char *dir = eryx__cache_dir();
  CHECK_STREQ(dir, "/c/eryx");
  free(dir);
  unsetenv("ERYX_CACHE_DIR");
  dir = eryx__cache_dir();
  CHECK_STREQ(dir, "/x/eryx");
  free(dir);
  setenv("XDG_CACHE_HOME", "relative", 1); /* ignored, as the XDG spec says */
  dir = eryx__cache_dir();
  CHECK_STREQ(dir, "/h/.cache/eryx");
  free(dir);
  unsetenv("XDG_CACHE_HOME");
  unsetenv("HOME");
  dir = eryx__cache_dir();
  CHECK(dir == NULL);
  free(dir);
  for (int i = 0; i < 3; i++) {
    if (saved[i])
      setenv(names[i], saved[i], 1);
    else
      unsetenv(names[i]);
    free(saved[i]);
  }
}

/* Several threads unpacking the same new archive at once: all get the
 * same tree, and no staging directory is left behind. */
typedef struct racer {
  const char *path;
  eryx__pkg pkg;
  eryx_error *err;
} racer;

static void *race(void *arg) {
  racer *r = arg;
  r->err = eryx__pkg_prepare(r->path, strlen(r->path), NULL, &r->pkg);
  return NULL;
}

static void packages_concurrent_prepares_agree(void) {
  fixture f;
  fixture_begin(&f);
  char whl[PATH_MAX];
  archive_at(&f, "demo_pkg-1.0-py3-none-any.whl", true, good_wheel, N(good_wheel), whl);
  enum { RACERS = 6 };
  racer r[RACERS];
  pthread_t t[RACERS];
  for (int i = 0; i < RACERS; i++) {
    r[i] = (racer){.path = whl};
    CHECK(pthread_create(&t[i], NULL, race, &r[i]) == 0);
  }
  for (int i = 0; i < RACERS; i++)
    pthread_join(t[i], NULL);
  for (int i = 0; i < RACERS; i++) {
    CHECK_MSG(!r[i].err, "%s", eryx_error_message(r[i].err, NULL));
    CHECK_STREQ(r[i].pkg.host_dir, r[0].pkg.host_dir);
    eryx_error_free(r[i].err);
  }
  char v1[PATH_MAX];
  snprintf(v1, sizeof v1, "%s/packages/v1", f.cache);
  DIR *d = opendir(v1);
  int entries = 0;
  struct dirent *e;
  while (d && (e = readdir(d)))
    entries += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
  if (d)
    closedir(d);
  CHECK_MSG(entries == 1, "%d entries in %s", entries, v1);
  for (int i = 0; i < RACERS; i++)
    eryx__pkg_clear(&r[i].pkg);
  fixture_end(&f);
}

/* A relative ERYX_CACHE_DIR still gives an absolute directory to mount. */
static void packages_relative_cache_dir(void) {
  fixture f;
  fixture_begin(&f);
  char whl[PATH_MAX], cwd[PATH_MAX];
  small_wheel(&f, "rel", "py3-none-any", whl);
  CHECK(getcwd(cwd, sizeof cwd) != NULL);
  CHECK(chdir(f.cache) == 0);
  setenv("ERYX_CACHE_DIR", "relative/cache", 1);
  eryx__pkg p;
  if (prep_ok(whl, &p)) {
    char want[PATH_MAX];
    snprintf(want, sizeof want, "%s/relative/cache/packages/v1/", f.cache);
    CHECK_MSG(!strncmp(p.host_dir, want, strlen(want)), "host_dir %s", p.host_dir);
    check_tree_file(&p, "rel/__init__.py", "X = 1\n");
    eryx__pkg_clear(&p);
  }
  CHECK(chdir(cwd) == 0);
  fixture_end(&f);
}

/* A staging directory a crashed process left a day ago goes; a fresh one
 * (another process's, at work) stays. */
static void packages_stale_staging_removed(void) {
  fixture f;
  fixture_begin(&f);
  char v1[256], stale[512], fresh[512], inner[600];
  snprintf(v1, sizeof v1, "%s/packages", f.cache);
  mkdir(v1, 0755);
  snprintf(v1, sizeof v1, "%s/packages/v1", f.cache);
  mkdir(v1, 0755);
  snprintf(stale, sizeof stale, "%s/.tmp-crashed", v1);
  snprintf(fresh, sizeof fresh, "%s/.tmp-working", v1);
  mkdir(stale, 0700);
  mkdir(fresh, 0700);
  snprintf(inner, sizeof inner, "%s/half.py", stale);
  write_text(inner, "partial");
  struct timespec old_times[2] = {{time(NULL) - 2 * 24 * 3600, 0},
                                  {time(NULL) - 2 * 24 * 3600, 0}};
  CHECK(utimensat(AT_FDCWD, stale, old_times, 0) == 0);
  char whl[PATH_MAX];
  small_wheel(&f, "stale", "py3-none-any", whl);
  eryx__pkg p;
  if (prep_ok(whl, &p))
    eryx__pkg_clear(&p);
  CHECK(access(stale, F_OK) != 0);
  CHECK(access(fresh, F_OK) == 0);
  fixture_end(&f);
}

const test_case packages_unpack_tests[] = {
    {"packages_wheel_pure_unpacks_and_hits_the_cache",
     packages_wheel_pure_unpacks_and_hits_the_cache},
    {"packages_wheel_other_platform_refused", packages_wheel_other_platform_refused},
    {"packages_wheel_wasi_native_accepted", packages_wheel_wasi_native_accepted},
    {"packages_wheel_python_tags", packages_wheel_python_tags},
    {"packages_utf8_names", packages_utf8_names},
    {"packages_zip_slip_refused", packages_zip_slip_refused},
    {"packages_tar_slip_sdist_refused", packages_tar_slip_sdist_refused},
    {"packages_links_leading_out_refused", packages_links_leading_out_refused},
    {"packages_links_inside_allowed", packages_links_inside_allowed},
    {"packages_bombs_refused", packages_bombs_refused},
    {"packages_truncated_refused", packages_truncated_refused},
    {"packages_sdist_src_layout_with_egg_info", packages_sdist_src_layout_with_egg_info},
    {"packages_sdist_without_egg_info_gets_metadata",
     packages_sdist_without_egg_info_gets_metadata},
    {"packages_site_packages_tarball_as_is", packages_site_packages_tarball_as_is},
    {"packages_directory_package_copied", packages_directory_package_copied},
    {"packages_plain_directory_used_as_is", packages_plain_directory_used_as_is},
    {"packages_bad_inputs_refused", packages_bad_inputs_refused},
    {"packages_cache_dir_from_the_environment", packages_cache_dir_from_the_environment},
    {"packages_concurrent_prepares_agree", packages_concurrent_prepares_agree},
    {"packages_stale_staging_removed", packages_stale_staging_removed},
    {"packages_relative_cache_dir", packages_relative_cache_dir},
};
const size_t packages_unpack_count = sizeof packages_unpack_tests / sizeof packages_unpack_tests[0];
