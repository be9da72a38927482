/*
 * wheel.c — which wheels can run in the sandbox, and a wheel's tree laid
 * out as pip would install it.
 *
 * A wheel says what it runs on twice: in its file name,
 *   {dist}-{version}(-{build})?-{python}-{abi}-{platform}.whl
 * where each tag may be a '.'-separated set ("py2.py3"), and in the Tag
 * lines of *.dist-info/WHEEL, one "python-abi-platform" per line. Both are
 * checked (a renamed file cannot smuggle another platform's code in); one
 * acceptable combination in each is enough:
 *   python + abi   py3 or py3N (N <= 14) with abi none; cp3N (N <= 14)
 *                  with abi3 or none; cp314 with cp314
 *   platform       any (pure Python), or wasi_*_wasm32 (WASI native code:
 *                  only a factory can link it); anything else is another
 *                  platform's native code and is refused, naming that
 *                  platform in words ("linux-x86_64").
 * The platform is judged first: for a wheel that fails both, "use the
 * pure-Python wheel or the sdist" is the advice that helps.
 *
 * Layout: what <dist>-<version>.data/purelib and .data/platlib hold is
 * moved to the root (merged into directories already there); the rest of .data
 * (scripts, headers, data files) means nothing inside a sandbox and is
 * dropped.
 */
#include "pkg_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The sandbox's CPython: 3.14. */
#define PY_MINOR 14
#define WHEEL_FILE_MAX (64 * 1024)

typedef enum tag_verdict {
  TAG_PURE,
  TAG_WASI,
  TAG_OTHER_PLATFORM,
  TAG_OTHER_PYTHON,
} tag_verdict;

/* A string with its length: tags are slices of a file name or a line. */
typedef struct slice {
  const char *s;
  size_t n;
} slice;

static bool slice_is(slice t, const char *lit) {
  size_t k = strlen(lit);
  return t.n == k && !memcmp(t.s, lit, k);
}

static bool slice_starts(slice t, const char *lit) {
  size_t k = strlen(lit);
  return t.n >= k && !memcmp(t.s, lit, k);
}

static bool slice_ends(slice t, const char *lit) {
  size_t k = strlen(lit);
  return t.n >= k && !memcmp(t.s + t.n - k, lit, k);
}

/* "<prefix>3" (minor -1) or "<prefix>3N": true and the minor, for a
 * tag of that shape. */
static bool python3_tag(slice t, const char *prefix, int *minor) {
  size_t k = strlen(prefix);
  if (t.n < k + 1 || memcmp(t.s, prefix, k) || t.s[k] != '3')
    return false;
  if (t.n == k + 1) {
    *minor = -1;
    return true;
  }
  if (t.n > k + 3)
    return false;
  int m = 0;
  for (size_t i = k + 1; i < t.n; i++) {
    if (t.s[i] < '0' || t.s[i] > '9')
      return false;
    m = m * 10 + (t.s[i] - '0');
  }
  *minor = m;
  return true;
}

static bool python_abi_ok(slice py, slice abi) {
  int minor;
  if (python3_tag(py, "py", &minor))
    return minor <= PY_MINOR && slice_is(abi, "none");
  if (python3_tag(py, "cp", &minor) && minor >= 0) {
    if (slice_is(abi, "abi3") || slice_is(abi, "none"))
      return minor <= PY_MINOR;
    return minor == PY_MINOR && slice_is(abi, "cp314");
  }
  return false;
}

static bool wasi_platform(slice plat) {
  return slice_starts(plat, "wasi_") && slice_ends(plat, "_wasm32");
}

/* Calls fn for each '.'-separated element of a compressed tag set until
 * it returns true. */
static bool any_in_set(slice set, bool (*fn)(slice, void *), void *ctx) {
  const char *p = set.s, *end = set.s + set.n;
  while (p <= end) {
    const char *dot = memchr(p, '.', (size_t)(end - p));
    slice one = {p, dot ? (size_t)(dot - p) : (size_t)(end - p)};
    if (one.n && fn(one, ctx))
      return true;
    if (!dot)
      break;
    p = dot + 1;
  }
  return false;
}

static bool is_any(slice t, void *ctx) {
  (void)ctx;
  return slice_is(t, "any");
}

static bool is_wasi(slice t, void *ctx) {
  (void)ctx;
  return wasi_platform(t);
}

static bool abi_fits(slice abi, void *py) { return python_abi_ok(*(slice *)py, abi); }

static bool python_fits(slice py, void *abis) {
  return any_in_set(*(slice *)abis, abi_fits, &py);
}

static tag_verdict judge(slice py, slice abi, slice plat) {
  bool pure = any_in_set(plat, is_any, NULL);
  if (!pure && !any_in_set(plat, is_wasi, NULL))
    return TAG_OTHER_PLATFORM;
  if (!any_in_set(py, python_fits, &abi))
    return TAG_OTHER_PYTHON;
  return pure ? TAG_PURE : TAG_WASI;
}

/* Skips `fields` fields of digits, each followed by '_'. */
static bool skip_numbers(slice *t, int fields) {
  for (int f = 0; f < fields; f++) {
    size_t i = 0;
    while (i < t->n && t->s[i] >= '0' && t->s[i] <= '9')
      i++;
    if (i == 0 || i == t->n || t->s[i] != '_')
      return false;
    t->s += i + 1;
    t->n -= i + 1;
  }
  return true;
}

/* A platform tag in words: "manylinux_2_17_x86_64" is "linux-x86_64". */
static void platform_words(slice plat, char *out, size_t cap) {
  slice arch = plat;
  const char *os = NULL, *extra = "";
  if (slice_starts(plat, "manylinux_") || slice_starts(plat, "musllinux_")) {
    arch.s += 10;
    arch.n -= 10;
    if (skip_numbers(&arch, 2))
      os = "linux";
    extra = plat.s[0] == 'm' && plat.s[1] == 'u' ? " (musl)" : "";
  } else if (slice_starts(plat, "manylinux")) {
    arch.s += 9;
    arch.n -= 9;
    if (skip_numbers(&arch, 1))
      os = "linux";
  } else if (slice_starts(plat, "linux_")) {
    arch.s += 6;
    arch.n -= 6;
    os = "linux";
  } else if (slice_starts(plat, "macosx_")) {
    arch.s += 7;
    arch.n -= 7;
    if (skip_numbers(&arch, 2))
      os = "macos";
  } else if (slice_is(plat, "win32")) {
    snprintf(out, cap, "windows-x86");
    return;
  } else if (slice_starts(plat, "win_")) {
    arch.s += 4;
    arch.n -= 4;
    os = "windows";
  } else if (slice_starts(plat, "android_")) {
    arch.s += 8;
    arch.n -= 8;
    if (skip_numbers(&arch, 1))
      os = "android";
  } else if (slice_starts(plat, "emscripten_") || slice_starts(plat, "pyodide_")) {
    snprintf(out, cap, "emscripten-wasm32 (Pyodide)");
    return;
  }
  if (os && arch.n)
    snprintf(out, cap, "%s-%.*s%s", os, (int)arch.n, arch.s, extra);
  else
    snprintf(out, cap, "%.*s", (int)plat.n, plat.s);
}

/* The first element of a compressed tag set. */
static slice first_of(slice set) {
  const char *dot = memchr(set.s, '.', set.n);
  return (slice){set.s, dot ? (size_t)(dot - set.s) : set.n};
}

static eryx_error *refuse(const eryx__pkg_job *job, tag_verdict v, slice py, slice abi,
                          slice plat, const char *where) {
  char tag[3 * ERYX__PKG_QUOTE_MAX];
  char q[ERYX__PKG_QUOTE_MAX];
  snprintf(tag, sizeof tag, "%.*s-%.*s-%.*s", (int)py.n, py.s, (int)abi.n, abi.s,
           (int)plat.n, plat.s);
  eryx__pkg_quote(q, sizeof q, tag, strlen(tag));
  if (v == TAG_OTHER_PLATFORM) {
    char words[ERYX__PKG_QUOTE_MAX];
    slice first = first_of(plat);
    platform_words(first, words, sizeof words);
    char wq[ERYX__PKG_QUOTE_MAX];
    eryx__pkg_quote(wq, sizeof wq, words, strlen(words));
    return eryx__pkg_fail(job,
                          "native code for %s cannot run in a WASI sandbox (wheel tag "
                          "%s%s); use a pure-Python wheel (py3-none-any) or the "
                          "package's sdist",
                          wq, q, where);
  }
  char built[2 * ERYX__PKG_QUOTE_MAX];
  int minor;
  bool python3 = python3_tag(first_of(py), "py", &minor) ||
                 python3_tag(first_of(py), "cp", &minor);
  if (python3 && minor <= PY_MINOR) /* the Python fits, its ABI does not */
    snprintf(built, sizeof built, "%.*s-%.*s", (int)py.n, py.s, (int)abi.n, abi.s);
  else
    snprintf(built, sizeof built, "%.*s", (int)py.n, py.s);
  char bq[ERYX__PKG_QUOTE_MAX];
  eryx__pkg_quote(bq, sizeof bq, built, strlen(built));
  return eryx__pkg_fail(job,
                        "built for %s; the sandbox runs CPython 3.14 (wheel tag %s%s): "
                        "use a wheel for Python 3 (py3-none-any, or cp314 / abi3 for "
                        "WASI) or the package's sdist",
                        bq, q, where);
}

/* Splits "a-b-c" into three slices; false unless there are exactly three
 * non-empty parts. */
static bool split_triple(slice t, slice parts[3]) {
  const char *p = t.s, *end = t.s + t.n;
  for (int i = 0; i < 3; i++) {
    const char *dash = i < 2 ? memchr(p, '-', (size_t)(end - p)) : NULL;
    if (i < 2 && !dash)
      return false;
    parts[i] = (slice){p, dash ? (size_t)(dash - p) : (size_t)(end - p)};
    if (!parts[i].n || (i == 2 && memchr(p, '-', parts[i].n)))
      return false;
    p = dash ? dash + 1 : end;
  }
  return true;
}

eryx_error *eryx__wheel_check_name(const eryx__pkg_job *job, const char *base,
                                   size_t base_len, eryx__wheel_name *out) {
  memset(out, 0, sizeof *out);
  slice stem = {base, base_len >= 4 ? base_len - 4 : 0};
  slice parts[6];
  size_t count = 0; /* 7: more than six parts */
  const char *p = stem.s, *end = stem.s + stem.n;
  for (;;) {
    if (count == 6) {
      count = 7;
      break;
    }
    const char *dash = memchr(p, '-', (size_t)(end - p));
    parts[count++] = (slice){p, dash ? (size_t)(dash - p) : (size_t)(end - p)};
    if (!dash)
      break;
    p = dash + 1;
  }
  bool shape_ok = count == 5 || count == 6;
  for (size_t i = 0; shape_ok && i < count; i++)
    shape_ok = parts[i].n > 0 && parts[i].n <= ERYX__PKG_NAME_MAX;
  if (shape_ok && count == 6) /* a build tag starts with a digit */
    shape_ok = parts[2].s[0] >= '0' && parts[2].s[0] <= '9';
  if (!shape_ok)
    return eryx__pkg_fail(job,
                          "not a valid wheel file name (expected "
                          "{name}-{version}(-{build})?-{python tag}-{abi tag}-{platform "
                          "tag}.whl); keep the name the wheel was built with");
  slice py = parts[count - 3], abi = parts[count - 2], plat = parts[count - 1];
  tag_verdict v = judge(py, abi, plat);
  if (v == TAG_OTHER_PLATFORM || v == TAG_OTHER_PYTHON)
    return refuse(job, v, py, abi, plat, "");
  memcpy(out->dist, parts[0].s, parts[0].n);
  memcpy(out->version, parts[1].s, parts[1].n);
  out->native = v == TAG_WASI;
  return NULL;
}

static bool ends_with(const char *s, const char *suffix) {
  size_t n = strlen(s), k = strlen(suffix);
  return n > k && !strcmp(s + n - k, suffix);
}

/* Checks the WHEEL file's text: Wheel-Version 1.x, and at least one
 * acceptable Tag line (when it has any). */
static eryx_error *check_wheel_file(const eryx__pkg_job *job, const char *text,
                                    size_t len, const char *dist_info, bool *native) {
  char where[ERYX__PKG_QUOTE_MAX + 32];
  snprintf(where, sizeof where, ", in %s/WHEEL", dist_info);
  bool any_tag = false, accepted = false;
  tag_verdict first_bad = TAG_PURE;
  slice bad[3] = {{"", 0}, {"", 0}, {"", 0}};
  const char *p = text, *end = text + len;
  while (p < end) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    slice line = {p, nl ? (size_t)(nl - p) : (size_t)(end - p)};
    p = nl ? nl + 1 : end;
    while (line.n && (line.s[line.n - 1] == '\r' || line.s[line.n - 1] == ' ' ||
                      line.s[line.n - 1] == '\t'))
      line.n--;
    const char *colon = memchr(line.s, ':', line.n);
    if (!colon)
      continue;
    slice key = {line.s, (size_t)(colon - line.s)};
    slice value = {colon + 1, line.n - key.n - 1};
    while (value.n && (value.s[0] == ' ' || value.s[0] == '\t')) {
      value.s++;
      value.n--;
    }
    if (slice_is(key, "Wheel-Version")) {
      if (!slice_starts(value, "1.") && !slice_is(value, "1")) {
        char q[ERYX__PKG_QUOTE_MAX];
        eryx__pkg_quote(q, sizeof q, value.s, value.n);
        return eryx__pkg_fail(job,
                              "its %s/WHEEL says Wheel-Version %s; only version 1 "
                              "wheels are understood: rebuild it with a current `pip "
                              "wheel`",
                              dist_info, q);
      }
    } else if (slice_is(key, "Tag")) {
      slice parts[3];
      if (!split_triple(value, parts))
        continue;
      any_tag = true;
      tag_verdict v = judge(parts[0], parts[1], parts[2]);
      if (v == TAG_PURE || v == TAG_WASI) {
        if (!accepted || v == TAG_PURE)
          *native = v == TAG_WASI;
        accepted = true;
      } else if (first_bad == TAG_PURE) {
        first_bad = v;
        memcpy(bad, parts, sizeof bad);
      }
    }
  }
  if (any_tag && !accepted)
    return refuse(job, first_bad, bad[0], bad[1], bad[2], where);
  return NULL;
}

/* Moves .data/purelib and .data/platlib into the root; drops the rest. */
static eryx_error *install_data_dir(const eryx__pkg_job *job, const char *tree,
                                    const char *data_dir) {
  static const char *const kept[] = {"purelib", "platlib"};
  eryx_error *err = NULL;
  for (size_t k = 0; k < 2 && !err; k++) {
    char from_dir[ERYX__PKG_PATH_MAX];
    if (!eryx__pkg_join(from_dir, data_dir, kept[k]) || !eryx__pkg_is_dir(from_dir))
      continue;
    eryx__pkg_list l;
    err = eryx__pkg_list_dir(job, from_dir, &l);
    for (size_t i = 0; !err && i < l.count; i++) {
      char from[ERYX__PKG_PATH_MAX], to[ERYX__PKG_PATH_MAX];
      if (!eryx__pkg_join(from, from_dir, l.names[i]) ||
          !eryx__pkg_join(to, tree, l.names[i]))
        err = eryx__pkg_fail(job, "a path in the wheel is too long for this system");
      else
        err = eryx__pkg_move(job, from, to, kept[k]);
    }
    eryx__pkg_list_free(&l);
  }
  if (!err)
    eryx__pkg_rmtree(data_dir);
  return err;
}

eryx_error *eryx__wheel_layout(const eryx__pkg_job *job, const char *tree, bool *native) {
  eryx__pkg_list top;
  eryx_error *err = eryx__pkg_list_dir(job, tree, &top);
  if (err)
    return err;
  /* The one *.dist-info holding WHEEL. */
  const char *dist_info = NULL;
  size_t dist_infos = 0;
  for (size_t i = 0; i < top.count; i++) {
    char path[ERYX__PKG_PATH_MAX];
    if (ends_with(top.names[i], ".dist-info") && eryx__pkg_join(path, tree, top.names[i]) &&
        eryx__pkg_is_dir(path)) {
      dist_info = top.names[i];
      dist_infos++;
    }
  }
  char wheel_path[ERYX__PKG_PATH_MAX], dist_dir[ERYX__PKG_PATH_MAX];
  if (dist_infos > 1) {
    err = eryx__pkg_fail(job,
                         "has %zu *.dist-info directories; a wheel has one: rebuild it "
                         "with `pip wheel`",
                         dist_infos);
  } else if (!dist_info || !eryx__pkg_join(dist_dir, tree, dist_info) ||
             !eryx__pkg_join(wheel_path, dist_dir, "WHEEL") ||
             !eryx__pkg_is_file(wheel_path)) {
    err = eryx__pkg_fail(job,
                         "has no *.dist-info/WHEEL file, so it is not a wheel; rebuild "
                         "it with `pip wheel` or use the package's sdist");
  }
  if (!err) {
    char *text = NULL;
    size_t len = 0;
    err = eryx__pkg_read_small(job, wheel_path, WHEEL_FILE_MAX, &text, &len);
    if (!err) {
      char q[ERYX__PKG_QUOTE_MAX];
      eryx__pkg_quote(q, sizeof q, dist_info, strlen(dist_info));
      bool wheel_native = false;
      err = check_wheel_file(job, text, len, q, &wheel_native);
      *native = *native || wheel_native;
    }
    free(text);
  }
  for (size_t i = 0; !err && i < top.count; i++) {
    char path[ERYX__PKG_PATH_MAX];
    if (ends_with(top.names[i], ".data") && eryx__pkg_join(path, tree, top.names[i]) &&
        eryx__pkg_is_dir(path))
      err = install_data_dir(job, tree, path);
  }
  eryx__pkg_list_free(&top);
  return err;
}
