/*
 * snapshot.c — eryx_snapshot: taking and restoring a session's state.
 *
 * The guest does the serializing (dill; see guest/eryx_guest/snapshot.py)
 * and returns ASCII text; this file moves it across the boundary, owns the
 * bytes for the caller and turns guest refusals into ERYX_ERR_SNAPSHOT.
 *
 * A session with a file tree appends the tree (vfs_archive.c) after a
 * newline: "<guest text>\nERYXFILES ...". Guest text never holds a newline
 * (a header line, then base64), so the first "\nERYXFILES " splits them.
 */
#include "vfs.h"

#include <stdlib.h>
#include <string.h>

struct eryx_snapshot {
  char *data;
  size_t len;
  char **skipped;
  size_t *skipped_len;
  size_t skipped_count;
};

void eryx_snapshot_free(eryx_snapshot *snap) {
  if (!snap)
    return;
  for (size_t i = 0; i < snap->skipped_count; i++)
    free(snap->skipped[i]);
  free(snap->skipped);
  free(snap->skipped_len);
  free(snap->data);
  free(snap);
}

const uint8_t *eryx_snapshot_data(const eryx_snapshot *snap, size_t *len) {
  if (len)
    *len = snap->len;
  return (const uint8_t *)snap->data;
}

size_t eryx_snapshot_skipped_count(const eryx_snapshot *snap) {
  return snap->skipped_count;
}

const char *eryx_snapshot_skipped(const eryx_snapshot *snap, size_t i, size_t *len) {
  if (i >= snap->skipped_count) {
    if (len)
      *len = 0;
    return NULL;
  }
  if (len)
    *len = snap->skipped_len[i];
  return snap->skipped[i];
}

/* Fills `snap` from the guest's snapshot-result record. */
static eryx_error *read_snapshot(const wasmtime_component_val_t *rec,
                                 eryx_snapshot *snap) {
  const wasmtime_component_val_t *ok = eryx__val_field(rec, "ok");
  const wasmtime_component_val_t *skipped = eryx__val_field(rec, "skipped");
  if (!ok || ok->kind != WASMTIME_COMPONENT_BOOL || !skipped ||
      skipped->kind != WASMTIME_COMPONENT_LIST)
    return eryx__error_new(ERYX_ERR_INTERNAL, "malformed snapshot result");
  bool fine = true;
  if (!ok->of.boolean) {
    size_t n;
    char *why = eryx__val_dup_string(eryx__val_field(rec, "error"), &n, &fine);
    eryx_error *err = eryx__error_new(ERYX_ERR_SNAPSHOT, "%s", why ? why : "snapshot failed");
    free(why);
    return err;
  }
  snap->data = eryx__val_dup_string(eryx__val_field(rec, "text"), &snap->len, &fine);
  size_t n = skipped->of.list.size;
  snap->skipped = calloc(n ? n : 1, sizeof *snap->skipped);
  snap->skipped_len = calloc(n ? n : 1, sizeof *snap->skipped_len);
  if (!fine || !snap->data || !snap->skipped || !snap->skipped_len)
    return eryx__error_new(ERYX_ERR_RESOURCES, "out of memory");
  for (size_t i = 0; i < n; i++) {
    snap->skipped[i] = eryx__val_dup_string(&skipped->of.list.data[i],
                                            &snap->skipped_len[i], &fine);
    if (!fine)
      return eryx__error_new(ERYX_ERR_RESOURCES, "out of memory");
    snap->skipped_count = i + 1;
  }
  return NULL;
}

eryx_error *eryx_session_snapshot_state(eryx_session *s, int skip_unserializable,
                                        eryx_snapshot **out) {
  if (!s || !out)
    return eryx__error_new(ERYX_ERR_INVALID_ARGUMENT, "session and out are required");
  *out = NULL;
  eryx_sandbox *sb = eryx__session_sandbox(s);
  wasmtime_component_val_t arg, ret;
  eryx__val_bool(&arg, skip_unserializable != 0);
  memset(&ret, 0, sizeof ret);
  eryx_error *err =
      eryx__sandbox_call(sb, eryx__sandbox_variant(sb)->snapshot_index, &arg, 1, &ret);
  if (err)
    return err;
  eryx_snapshot *snap = calloc(1, sizeof *snap);
  err = snap ? read_snapshot(&ret, snap)
             : eryx__error_new(ERYX_ERR_RESOURCES, "out of memory");
  wasmtime_component_val_delete(&ret);
  eryx_vfs *vfs = eryx__sandbox_vfs(sb);
  if (!err && vfs) {
    eryx_buf all = {0};
    eryx__buf_append(&all, snap->data, snap->len);
    eryx__buf_append(&all, "\n", 1);
    err = eryx__vfs_export_text(vfs, &all);
    if (!err && all.oom)
      err = eryx__error_new(ERYX_ERR_RESOURCES, "out of memory");
    if (!err) {
      free(snap->data);
      snap->data = eryx__buf_take(&all, &snap->len);
    }
    eryx__buf_free(&all);
  }
  if (err) {
    eryx_snapshot_free(snap);
    return err;
  }
  *out = snap;
  return NULL;
}

/* Restores the guest's part of a snapshot (the Python variables). */
static eryx_error *restore_python(eryx_sandbox *sb, const char *text, size_t len) {
  wasmtime_component_val_t arg, ret;
  eryx__val_string(&arg, text, len);
  memset(&ret, 0, sizeof ret);
  eryx_error *err =
      eryx__sandbox_call(sb, eryx__sandbox_variant(sb)->restore_index, &arg, 1, &ret);
  if (err)
    return err;
  bool fine = true;
  size_t n;
  char *why = eryx__val_dup_string(&ret, &n, &fine);
  wasmtime_component_val_delete(&ret);
  if (why) {
    err = eryx__error_new(ERYX_ERR_SNAPSHOT, "%s", why);
    free(why);
  } else if (!fine) {
    err = eryx__error_new(ERYX_ERR_INTERNAL, "malformed restore result");
  }
  return err;
}

eryx_error *eryx_session_restore_state(eryx_session *s, const uint8_t *data,
                                       size_t len) {
  if (!s || (!data && len))
    return eryx__error_new(ERYX_ERR_INVALID_ARGUMENT, "session and data are required");
  const char *text = data ? (const char *)data : "";
  /* Snapshots are ASCII; anything else cannot be one (and could not cross
   * the boundary as a string). */
  for (size_t i = 0; i < len; i++)
    if (data[i] == 0 || data[i] > 0x7f)
      return eryx__error_new(ERYX_ERR_SNAPSHOT, "not an Eryx snapshot");
  eryx_sandbox *sb = eryx__session_sandbox(s);
  eryx_vfs *vfs = eryx__sandbox_vfs(sb);
  static const char marker[] = "\nERYXFILES ";
  const size_t mlen = sizeof marker - 1;
  size_t py_len = len;
  const char *files = NULL;
  for (size_t i = 0; i + mlen <= len; i++)
    if (memcmp(text + i, marker, mlen) == 0) {
      files = text + i + 1;
      py_len = i;
      break;
    }
  if (!files)
    return restore_python(sb, text, len);
  if (!vfs)
    return eryx__error_new(ERYX_ERR_SNAPSHOT,
                           "the snapshot holds files but the session has no file "
                           "storage (eryx_sandbox_options.vfs)");
  /* Files first (the archive is checked whole before anything changes);
   * if the Python state then fails to restore, the old files go back. */
  eryx_buf old = {0};
  eryx_error *err = eryx__vfs_export_text(vfs, &old);
  if (!err)
    err = eryx__vfs_import_text(vfs, files, len - (size_t)(files - text));
  if (!err) {
    err = restore_python(sb, text, py_len);
    if (err) {
      eryx_error *back = eryx__vfs_import_text(vfs, old.data, old.len);
      eryx_error_free(back); /* cannot fail: the same tree, same quota */
    }
  }
  eryx__buf_free(&old);
  return err;
}
