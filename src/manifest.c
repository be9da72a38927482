/*
 * manifest.c — eryx-runtime.json: what a factory runtime directory says of
 * itself, so that a later process can load it without rebuilding.
 *
 * A runtime directory built with the library has no manifest. A factory's
 * (factory.c) records the versions of Eryx, Wasmtime and componentize-py
 * it was built with, the modules it imported into its snapshot, its
 * packages' file names, and where each package tree is mounted: the
 * snapshot's sys.path names those guest paths, so every instance of the
 * runtime must mount them. Compiled code from another Wasmtime cannot be
 * loaded, and another Eryx's guest may not match this host: both are
 * refused here with the two versions named, before the .cwasm is touched.
 *
 * The file is the host's own, but it is read as untrusted input anyway:
 * every field is type-checked and a mount's directory must be a relative
 * path without "..", inside the runtime directory.
 */
#include "internal.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <wasmtime.h>

#define MANIFEST_NAME "eryx-runtime.json"
#define MANIFEST_FORMAT 1

#ifndef ERYX_COMPONENTIZE_PY_VERSION
#define ERYX_COMPONENTIZE_PY_VERSION ""
#endif

static char *dup_string(json_t *obj, const char *key) {
  const char *v = json_string_value(json_object_get(obj, key));
  return v ? strdup(v) : NULL;
}

/* A JSON array of strings, re-encoded compactly; NULL if not one. */
static char *string_array(json_t *arr) {
  if (!json_is_array(arr))
    return NULL;
  size_t i;
  json_t *v;
  json_array_foreach(arr, i, v) {
    if (!json_is_string(v))
      return NULL;
  }
  return json_dumps(arr, JSON_COMPACT);
}

static bool safe_relative(const char *p) {
  if (!*p || *p == '/')
    return false;
  for (const char *c = p; *c;) {
    const char *end = strchr(c, '/');
    size_t n = end ? (size_t)(end - c) : strlen(c);
    if (n == 0 || (n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
      return false;
    c += n + (end ? 1 : 0);
  }
  return true;
}

static eryx_error *bad(const char *path, const char *what) {
  return eryx__error_new(ERYX_ERR_RUNTIME_FILES, "%s: %s", path, what);
}

static eryx_error *read_mounts(const char *dir, const char *path, json_t *arr,
                               eryx__mounts *out) {
  if (!json_is_array(arr))
    return bad(path, "\"mounts\" is not a list");
  size_t i;
  json_t *m;
  json_array_foreach(arr, i, m) {
    const char *guest = json_string_value(json_object_get(m, "guest"));
    const char *rel = json_string_value(json_object_get(m, "dir"));
    if (!guest || !rel || guest[0] != '/' || !safe_relative(guest + 1) || !safe_relative(rel))
      return bad(path, "a mount is not {\"guest\": \"/abs\", \"dir\": \"relative\"}");
    char *host = eryx__path_join(dir, rel);
    if (!host)
      return eryx__error_new(ERYX_ERR_RESOURCES, "out of memory");
    struct stat st;
    bool is_dir = stat(host, &st) == 0 && S_ISDIR(st.st_mode);
    bool ok = is_dir && eryx__mounts_add(out, host, guest);
    free(host);
    if (!is_dir)
      return eryx__error_new(ERYX_ERR_RUNTIME_FILES,
                             "%s names the package directory %s, which is missing", path, rel);
    if (!ok)
      return eryx__error_new(ERYX_ERR_RESOURCES, "out of memory");
  }
  return NULL;
}

eryx_error *eryx__manifest_read(const char *dir, eryx__manifest *m) {
  memset(m, 0, sizeof *m);
  char *path = eryx__path_join(dir, MANIFEST_NAME);
  if (!path)
    return eryx__error_new(ERYX_ERR_RESOURCES, "out of memory");
  struct stat st;
  if (stat(path, &st) != 0) { /* a plain runtime */
    free(path);
    m->imports_json = strdup("[]");
    m->packages_json = strdup("[]");
    return m->imports_json && m->packages_json
               ? NULL
               : eryx__error_new(ERYX_ERR_RESOURCES, "out of memory");
  }
  json_error_t jerr;
  json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
  eryx_error *err = NULL;
  if (!root) {
    err = eryx__error_new(ERYX_ERR_RUNTIME_FILES, "%s: not valid JSON (line %d: %s)", path,
                          jerr.line, jerr.text);
    goto out;
  }
  json_t *format = json_object_get(root, "format");
  if (!json_is_integer(format) || json_integer_value(format) != MANIFEST_FORMAT) {
    err = bad(path, "unknown format (written by another Eryx?)");
    goto out;
  }
  m->eryx_version = dup_string(root, "eryx_version");
  m->wasmtime_version = dup_string(root, "wasmtime_version");
  m->componentize_py_version = dup_string(root, "componentize_py_version");
  if (!m->eryx_version || !m->wasmtime_version || !m->componentize_py_version) {
    err = bad(path, "lacks eryx_version, wasmtime_version or componentize_py_version");
    goto out;
  }
  if (strcmp(m->eryx_version, ERYX_VERSION) || strcmp(m->wasmtime_version, WASMTIME_VERSION)) {
    err = eryx__error_new(ERYX_ERR_RUNTIME_FILES,
                          "%s was built by Eryx %s with Wasmtime %s; this is Eryx %s with "
                          "Wasmtime %s, which cannot load it: build the factory again "
                          "with this version",
                          dir, m->eryx_version, m->wasmtime_version, ERYX_VERSION,
                          WASMTIME_VERSION);
    goto out;
  }
  m->imports_json = string_array(json_object_get(root, "imports"));
  m->packages_json = string_array(json_object_get(root, "packages"));
  if (!m->imports_json || !m->packages_json) {
    err = bad(path, "\"imports\" or \"packages\" is not a list of strings");
    goto out;
  }
  err = read_mounts(dir, path, json_object_get(root, "mounts"), &m->mounts);
out:
  json_decref(root);
  free(path);
  if (err)
    eryx__manifest_free(m);
  return err;
}

static json_t *strings(const char *const *v, size_t n) {
  json_t *arr = json_array();
  for (size_t i = 0; arr && i < n; i++)
    json_array_append_new(arr, json_string(v[i]));
  return arr;
}

eryx_error *eryx__manifest_write(const char *dir, const char *const *imports,
                                 size_t import_count, const char *const *packages,
                                 size_t package_count, const char *const *mount_guests,
                                 const char *const *mount_dirs, size_t mount_count) {
  json_t *mounts = json_array();
  for (size_t i = 0; mounts && i < mount_count; i++)
    json_array_append_new(mounts, json_pack("{s:s, s:s}", "guest", mount_guests[i], "dir",
                                            mount_dirs[i]));
  json_t *root = json_pack("{s:i, s:s, s:s, s:s, s:o, s:o, s:o}", "format", MANIFEST_FORMAT,
                           "eryx_version", ERYX_VERSION, "wasmtime_version", WASMTIME_VERSION,
                           "componentize_py_version", ERYX_COMPONENTIZE_PY_VERSION,
                           "imports", strings(imports, import_count), "packages",
                           strings(packages, package_count), "mounts", mounts);
  char *path = eryx__path_join(dir, MANIFEST_NAME);
  int rc = root && path ? json_dump_file(root, path, JSON_INDENT(2) | JSON_SORT_KEYS) : -1;
  json_decref(root);
  eryx_error *err = rc == 0 ? NULL
                            : eryx__error_new(ERYX_ERR_PACKAGE, "cannot write %s",
                                              path ? path : MANIFEST_NAME);
  free(path);
  return err;
}

void eryx__manifest_free(eryx__manifest *m) {
  free(m->eryx_version);
  free(m->wasmtime_version);
  free(m->componentize_py_version);
  free(m->imports_json);
  free(m->packages_json);
  eryx__mounts_free(&m->mounts);
  memset(m, 0, sizeof *m);
}
