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

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

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

/* Snapshots never hold a secret's value: the guest's part is decoded
 * (base64, then zlib) and searched, and so is every file of the tree; a
 * snapshot holding one is refused (redacting inside pickled data would
 * corrupt it). */
typedef struct {
  eryx_vfs *vfs;
  const eryx_secrets *secrets;
  const char *found;
  char path[200];
} held_ctx;

static void file_holds(void *ud, const char *path, size_t path_len, int is_dir, uint64_t size) {
  held_ctx *c = ud;
  if (c->found || is_dir || !size)
    return;
  uint8_t *data = NULL;
  size_t len = 0;
  eryx_error *err = eryx_vfs_read_file(c->vfs, path, path_len, &data, &len);
  if (!err && (c->found = eryx__secrets_held_in(c->secrets, (const char *)data, len)))
    snprintf(c->path, sizeof c->path, "%.*s", (int)eryx__utf8_prefix(path, path_len, 150),
             path);
  eryx_error_free(err);
  eryx_vfs_bytes_free(data);
}

static eryx_error *check_no_secret(eryx_sandbox *sb, const char *text, size_t len) {
  const eryx_secrets *secrets = eryx__sandbox_secrets(sb);
  if (!secrets)
    return NULL;
  const char *nl = memchr(text, '\n', len);
  const char *body = nl ? nl + 1 : text + len;
  bool oom = false;
  size_t zlen = 0;
  uint8_t *z = eryx__base64_decode(body, (size_t)(text + len - body), &zlen, &oom);
  if (!z)
    return eryx__error_new(oom ? ERYX_ERR_RESOURCES : ERYX_ERR_INTERNAL,
                           "the snapshot could not be checked for secrets");
  eryx_error *err = NULL;
  z_stream zs;
  memset(&zs, 0, sizeof zs);
  unsigned char chunk[65536];
  /* The tail of the previous chunk, so a value across two is found. */
  eryx_buf win = {0};
  int rc = inflateInit(&zs);
  zs.next_in = z;
  zs.avail_in = (uInt)zlen;
  const char *found = NULL;
  while (rc == Z_OK && !found) {
    zs.next_out = chunk;
    zs.avail_out = sizeof chunk;
    rc = inflate(&zs, Z_NO_FLUSH);
    size_t got = sizeof chunk - zs.avail_out;
    eryx__buf_append(&win, (const char *)chunk, got);
    if (win.oom)
      break;
    found = eryx__secrets_held_in(secrets, win.data, win.len);
    size_t keep = win.len < 4096 ? win.len : 4096; /* longer than any header value */
    memmove(win.data, win.data + win.len - keep, keep);
    win.len = keep;
    if (rc == Z_BUF_ERROR && got)
      rc = Z_OK;
  }
  inflateEnd(&zs);
  bool bad = win.oom || (rc != Z_STREAM_END && !found);
  eryx__buf_free(&win);
  free(z);
  if (found)
    return eryx__error_new(ERYX_ERR_SNAPSHOT,
                           "a variable holds the value of secret '%s': snapshots never "
                           "hold a secret (del it first)",
                           found);
  if (bad)
    return eryx__error_new(ERYX_ERR_INTERNAL, "the snapshot could not be checked for secrets");
  eryx_vfs *vfs = eryx__sandbox_vfs(sb);
  if (vfs) {
    held_ctx c = {vfs, secrets, NULL, ""};
    err = eryx_vfs_list(vfs, file_holds, &c);
    if (!err && c.found)
      err = eryx__error_new(ERYX_ERR_SNAPSHOT,
                            "the file '%s' holds the value of secret '%s': snapshots never "
                            "hold a secret",
                            c.path, c.found);
  }
  return err;
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
  if (!err)
    err = check_no_secret(sb, snap->data, snap->len);
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

/* Restores the guest's part of a snapshot (the Python variables). Anything
 * that goes wrong inside, a trap included (the body may make the guest run
 * out of memory), is the snapshot's fault; a timeout or cancel is not. */
static eryx_error *restore_python(eryx_sandbox *sb, const char *text, size_t len) {
  const eryx__mounts *pkgs = eryx__sandbox_packages(sb);
  wasmtime_component_val_t args[2], ret;
  wasmtime_component_val_t *paths = pkgs->count ? calloc(pkgs->count, sizeof *paths) : NULL;
  if (pkgs->count && !paths)
    return eryx__error_new(ERYX_ERR_RESOURCES, "out of memory");
  for (size_t i = 0; i < pkgs->count; i++)
    eryx__val_string(&paths[i], pkgs->items[i].guest, strlen(pkgs->items[i].guest));
  eryx__val_string(&args[0], text, len);
  args[1].kind = WASMTIME_COMPONENT_LIST;
  args[1].of.list.size = pkgs->count;
  args[1].of.list.data = paths;
  memset(&ret, 0, sizeof ret);
  eryx_error *err =
      eryx__sandbox_call(sb, eryx__sandbox_variant(sb)->restore_index, args, 2, &ret);
  free(paths);
  if (err && eryx_error_get_code(err) == ERYX_ERR_WASMTIME) {
    /* Wasmtime's message ends with the cause, after a backtrace. */
    size_t n;
    const char *msg = eryx_error_message(err, &n), *end = msg + n;
    while (end > msg && (end[-1] == '\n' || end[-1] == ' '))
      end--;
    const char *line = end;
    while (line > msg && line[-1] != '\n')
      line--;
    while (line < end && *line == ' ')
      line++;
    eryx_error *e = eryx__error_new(ERYX_ERR_SNAPSHOT,
                                    "the snapshot cannot be restored: it made the sandbox "
                                    "trap (%.*s)",
                                    (int)(end - line), line);
    eryx_error_free(err);
    return e;
  }
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

/* What the host can tell about the guest's part without the guest (see
 * guest/eryx_guest/snapshot.py): "ERYXSNAP <format> <python> <sha256>\n"
 * then base64. The guest checks the rest; this only spares it inputs that
 * cannot be snapshots, or cannot fit in its memory (the text is copied in,
 * then decoded: more than half the memory cap can never restore). */
static eryx_error *precheck_python(eryx_sandbox *sb, const char *text, size_t len) {
  static const char magic[] = "ERYXSNAP ";
  const char *nl = memchr(text, '\n', len < 256 ? len : 256);
  if (len < sizeof magic - 1 || memcmp(text, magic, sizeof magic - 1) != 0 || !nl)
    return eryx__error_new(ERYX_ERR_SNAPSHOT, "not an Eryx snapshot");
  uint64_t cap = eryx__sandbox_max_memory(sb);
  if (len > cap / 2)
    return eryx__error_new(ERYX_ERR_SNAPSHOT,
                           "the snapshot (%zu bytes) is too large for the session's memory "
                           "limit (%llu bytes)",
                           len, (unsigned long long)cap);
  for (const char *p = nl + 1; p < text + len; p++) {
    char c = *p;
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
          c == '+' || c == '/' || c == '='))
      return eryx__error_new(ERYX_ERR_SNAPSHOT, "snapshot is corrupted (bad encoding)");
  }
  return NULL;
}

/*
 * Restoring never touches the session until every part has worked: the
 * files are checked and staged on the host, the Python state is restored
 * into a fresh instance (a trial: the session's own instance is set aside,
 * untouched), and only then are both swapped in. On any failure, whatever
 * the input (garbage, a broken or huge body, one that makes the guest trap
 * or run out of memory), the staged files are dropped and the old instance
 * goes back: variables, files and interpreter exactly as they were.
 */
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
  for (const char *nl = memchr(text, '\n', len); nl && !files;
       nl = memchr(nl + 1, '\n', len - (size_t)(nl + 1 - text)))
    if (len - (size_t)(nl - text) >= mlen && memcmp(nl, marker, mlen) == 0) {
      files = nl + 1;
      py_len = (size_t)(nl - text);
    }
  eryx_error *err = precheck_python(sb, text, py_len);
  if (err)
    return err;
  if (files && !vfs)
    return eryx__error_new(ERYX_ERR_SNAPSHOT,
                           "the snapshot holds files but the session has no file "
                           "storage (eryx_sandbox_options.vfs)");
  vfs_staged *staged = NULL;
  if (files && (err = eryx__vfs_stage_text(vfs, files, len - (size_t)(files - text), &staged)))
    return err;
  eryx__sandbox_trial *trial = NULL;
  err = eryx__sandbox_trial_begin(sb, &trial);
  if (!err) {
    err = restore_python(sb, text, py_len);
    if (!err && staged) {
      eryx__vfs_commit(vfs, staged);
      staged = NULL;
    }
    eryx__sandbox_trial_end(sb, trial, err == NULL);
  }
  eryx__vfs_staged_free(staged);
  return err;
}
