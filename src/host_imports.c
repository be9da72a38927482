/*
 * host_imports.c — the host side of the WIT interface `eryx:sandbox/host`.
 *
 * Functions are defined once on the runtime's linker; the per-sandbox state
 * they need comes from the calling store's data (eryx_store_data).
 */
#include "callbacks.h"
#include "vfs.h"

#include <stdlib.h>

#include <string.h>

#define HOST_INTERFACE "eryx:sandbox/host@0.1.0"

/* Every import has Wasmtime's host-function signature; most use only part
 * of it. */
#define UNUSED __attribute__((unused))
#define HOST_IMPORT(name)                                                     \
  static wasmtime_error_t *name(                                              \
      UNUSED void *env, wasmtime_context_t *ctx,                              \
      UNUSED const wasmtime_component_func_type_t *ty,                        \
      UNUSED wasmtime_component_val_t *args, UNUSED size_t nargs,             \
      UNUSED wasmtime_component_val_t *results, UNUSED size_t nresults)

static eryx_store_data *store_data(wasmtime_context_t *ctx) {
  return wasmtime_context_get_data(ctx);
}

/* emit-output: func(which: u8, text: string) */
HOST_IMPORT(emit_output) {
  if (nargs != 2 || args[0].kind != WASMTIME_COMPONENT_U8 ||
      args[1].kind != WASMTIME_COMPONENT_STRING)
    return wasmtime_error_new("emit-output: unexpected arguments");
  /* The runtime only ever sends 1 or 2: anything else is code calling the
   * import itself, and it ends that execution with this message. */
  if (args[0].of.u8 != 1 && args[0].of.u8 != 2)
    return wasmtime_error_new("emit-output: the stream must be 1 (stdout) or 2 (stderr)");
  eryx__sandbox_keep_output(store_data(ctx)->sandbox, args[0].of.u8,
                            args[1].of.string.data, args[1].of.string.size);
  /* Text written before a suspension was noticed is kept; then it halts. */
  return eryx__sandbox_check_suspended(store_data(ctx)->sandbox);
}

/* emit-trace: func(kind: u8, line: u32, function: string, detail: string) */
HOST_IMPORT(emit_trace) {
  if (nargs != 4 || args[0].kind != WASMTIME_COMPONENT_U8 ||
      args[1].kind != WASMTIME_COMPONENT_U32 ||
      args[2].kind != WASMTIME_COMPONENT_STRING ||
      args[3].kind != WASMTIME_COMPONENT_STRING)
    return wasmtime_error_new("emit-trace: unexpected arguments");
  if (args[0].of.u8 < ERYX_TRACE_CALL || args[0].of.u8 > ERYX_TRACE_EXCEPTION)
    return wasmtime_error_new("emit-trace: the kind must be 1 to 4");
  eryx_trace_event ev = {(eryx_trace_kind)args[0].of.u8, args[1].of.u32,
                         args[2].of.string.data, args[2].of.string.size,
                         args[3].of.string.data, args[3].of.string.size};
  eryx__sandbox_trace(store_data(ctx)->sandbox, &ev);
  return NULL;
}

/* sleep: func(duration-ns: u64) */
HOST_IMPORT(sleep_fn) {
  if (nargs != 1 || args[0].kind != WASMTIME_COMPONENT_U64)
    return wasmtime_error_new("sleep: unexpected arguments");
  return eryx__sandbox_sleep(store_data(ctx)->sandbox, args[0].of.u64);
}

/* Every string handed back to the guest must be valid UTF-8 (Wasmtime's C
 * API aborts the process on one that is not): text built from what the
 * guest sent, such as a name cut short in a message, is repaired here. */
static void set_string(wasmtime_component_val_t *v, const char *s, size_t n) {
  v->kind = WASMTIME_COMPONENT_STRING;
  if (eryx__utf8_valid(s, n)) {
    wasm_byte_vec_new(&v->of.string, n, s); /* copied; Wasmtime frees it */
    return;
  }
  eryx_buf b = {0};
  eryx__buf_append_lossy(&b, s, n);
  if (b.oom)
    wasm_byte_vec_new(&v->of.string, 0, "");
  else
    wasm_byte_vec_new(&v->of.string, b.len, b.data);
  eryx__buf_free(&b);
}

static void set_field(wasmtime_component_valrecord_entry_t *e, const char *name) {
  wasm_byte_vec_new(&e->name, strlen(name), name);
}

/* list-callbacks: func() -> string */
HOST_IMPORT(list_callbacks) {
  if (nresults != 1)
    return wasmtime_error_new("list-callbacks: unexpected signature");
  eryx_callbacks *cb = eryx__sandbox_callbacks(store_data(ctx)->sandbox);
  set_string(&results[0], cb->list_json, cb->list_json_len);
  return NULL;
}

/* callback-start: func(name: string, args-json: string)
 *   -> result<u64, start-error> */
HOST_IMPORT(callback_start) {
  if (nargs != 2 || nresults != 1 || args[0].kind != WASMTIME_COMPONENT_STRING ||
      args[1].kind != WASMTIME_COMPONENT_STRING)
    return wasmtime_error_new("callback-start: unexpected arguments");
  eryx_callbacks *cb = eryx__sandbox_callbacks(store_data(ctx)->sandbox);
  uint64_t id = 0;
  const char *kind = NULL;
  char *message = NULL;
  bool ok = eryx__callbacks_start(cb, args[0].of.string.data, args[0].of.string.size,
                                  args[1].of.string.data, args[1].of.string.size,
                                  &id, &kind, &message);
  /* A host function that suspended (in `fn`, or on another thread since):
   * not one more line of Python runs. */
  wasmtime_error_t *halt = eryx__sandbox_check_suspended(store_data(ctx)->sandbox);
  if (halt) {
    free(message);
    return halt;
  }
  wasmtime_component_val_t inner;
  if (ok) {
    inner.kind = WASMTIME_COMPONENT_U64;
    inner.of.u64 = id;
  } else {
    inner.kind = WASMTIME_COMPONENT_RECORD;
    wasmtime_component_valrecord_new_uninit(&inner.of.record, 2);
    set_field(&inner.of.record.data[0], "kind");
    set_string(&inner.of.record.data[0].val, kind, strlen(kind));
    set_field(&inner.of.record.data[1], "message");
    const char *m = message ? message : "out of memory";
    set_string(&inner.of.record.data[1].val, m, strlen(m));
    free(message);
  }
  results[0].kind = WASMTIME_COMPONENT_RESULT;
  results[0].of.result.is_ok = ok;
  results[0].of.result.val = wasmtime_component_val_new(&inner);
  return NULL;
}

/* callback-cancel: func(id: u64) */
HOST_IMPORT(callback_cancel) {
  if (nargs != 1 || args[0].kind != WASMTIME_COMPONENT_U64)
    return wasmtime_error_new("callback-cancel: unexpected arguments");
  eryx__callbacks_cancel(eryx__sandbox_callbacks(store_data(ctx)->sandbox),
                         args[0].of.u64);
  return NULL;
}

/* callback-wait: func(timeout-ns: option<u64>) -> list<completion> */
HOST_IMPORT(callback_wait) {
  if (nargs != 1 || nresults != 1 || args[0].kind != WASMTIME_COMPONENT_OPTION)
    return wasmtime_error_new("callback-wait: unexpected arguments");
  struct eryx_sandbox *sb = store_data(ctx)->sandbox;
  uint64_t until = UINT64_MAX;
  if (args[0].of.option) {
    uint64_t ns = args[0].of.option->of.u64, now = eryx__now_ns();
    until = ns > UINT64_MAX - now ? UINT64_MAX : now + ns;
  }
  bool deadline_hit = false;
  eryx_completion *done = eryx__callbacks_wait(
      eryx__sandbox_callbacks(sb), until, eryx__sandbox_deadline(sb), &deadline_hit);
  if (deadline_hit)
    return eryx__sandbox_timed_out(sb);
  size_t n = 0;
  for (eryx_completion *c = done; c; c = c->next)
    n++;
  results[0].kind = WASMTIME_COMPONENT_LIST;
  wasmtime_component_vallist_new_uninit(&results[0].of.list, n);
  size_t i = 0;
  for (eryx_completion *c = done; c; c = c->next, i++) {
    wasmtime_component_val_t *v = &results[0].of.list.data[i];
    v->kind = WASMTIME_COMPONENT_RECORD;
    wasmtime_component_valrecord_new_uninit(&v->of.record, 4);
    wasmtime_component_valrecord_entry_t *f = v->of.record.data;
    set_field(&f[0], "id");
    f[0].val.kind = WASMTIME_COMPONENT_U64;
    f[0].val.of.u64 = c->id;
    set_field(&f[1], "ok");
    f[1].val.kind = WASMTIME_COMPONENT_BOOL;
    f[1].val.of.boolean = c->ok;
    set_field(&f[2], "value");
    set_string(&f[2].val, c->value, c->value_len);
    set_field(&f[3], "error-type");
    set_string(&f[3].val, c->error_type, c->error_type_len);
  }
  eryx__completions_free(done);
  return NULL;
}

static void set_u64_field(wasmtime_component_valrecord_entry_t *e, const char *name,
                          uint64_t v) {
  set_field(e, name);
  e->val.kind = WASMTIME_COMPONENT_U64;
  e->val.of.u64 = v;
}

/* File bytes cross the boundary as text: as they are when all ASCII (the
 * fastest path on both sides), else as base64 (non-ASCII text is slow to
 * lower in the guest, and a list<u8> costs one value per byte in the
 * host's API). */
static void set_base64(wasmtime_component_val_t *v, const uint8_t *p, size_t n) {
  size_t len = eryx__base64_len(n);
  v->kind = WASMTIME_COMPONENT_STRING;
  wasm_byte_vec_new_uninitialized(&v->of.string, len);
  eryx__base64_encode(v->of.string.data, p, n);
}

/* fs: func(op: u8, path: string, path2: string, offset: u64, size: u64,
 *          data: string) -> fs-reply */
HOST_IMPORT(fs) {
  if (nargs != 6 || nresults != 1 || args[0].kind != WASMTIME_COMPONENT_U8 ||
      args[1].kind != WASMTIME_COMPONENT_STRING || args[2].kind != WASMTIME_COMPONENT_STRING ||
      args[3].kind != WASMTIME_COMPONENT_U64 || args[4].kind != WASMTIME_COMPONENT_U64 ||
      args[5].kind != WASMTIME_COMPONENT_STRING)
    return wasmtime_error_new("fs: unexpected arguments");
  eryx_vfs *vfs = eryx__sandbox_vfs(store_data(ctx)->sandbox);
  vfs_request req = {(vfs_op)args[0].of.u8,
                     args[1].of.string.data, args[2].of.string.data,
                     args[1].of.string.size, args[2].of.string.size,
                     args[3].of.u64, args[4].of.u64, NULL, 0};
  vfs_reply rep = {0};
  uint8_t *payload = NULL;
  bool oom = false;
  /* Every field is checked by eryx__vfs_apply; for WRITE, `size` is the
   * base64 flag (0 or 1), consumed here. */
  bool base64 = req.op == VFS_OP_WRITE && req.size == 1;
  if (req.op == VFS_OP_WRITE && req.size <= 1)
    req.size = 0;
  if (!vfs) {
    rep.code = VFS_ENOENT;
  } else if (base64 &&
             !(payload = eryx__base64_decode(args[5].of.string.data, args[5].of.string.size,
                                             &req.data_len, &oom))) {
    rep.code = oom ? VFS_ENOMEM : VFS_EINVAL;
  } else {
    if (!base64) { /* ASCII, as is (any other op: must be empty) */
      req.data = (const uint8_t *)args[5].of.string.data;
      req.data_len = args[5].of.string.size;
    } else {
      req.data = payload;
    }
    eryx__vfs_apply(vfs, &req, &rep);
  }
  free(payload);
  results[0].kind = WASMTIME_COMPONENT_RECORD;
  wasmtime_component_valrecord_new_uninit(&results[0].of.record, 7);
  wasmtime_component_valrecord_entry_t *f = results[0].of.record.data;
  set_field(&f[0], "code");
  f[0].val.kind = WASMTIME_COMPONENT_U8;
  f[0].val.of.u8 = (uint8_t)rep.code;
  set_field(&f[1], "is-dir");
  f[1].val.kind = WASMTIME_COMPONENT_BOOL;
  f[1].val.of.boolean = rep.dir;
  set_u64_field(&f[2], "size", rep.size);
  set_u64_field(&f[3], "mtime-ns", rep.mtime_ns);
  set_u64_field(&f[4], "ino", rep.ino);
  set_field(&f[5], "data");
  bool ascii = true;
  for (size_t i = 0; ascii && i < rep.data_len; i++)
    ascii = rep.data[i] < 0x80;
  if (req.op == VFS_OP_READ && !ascii)
    set_base64(&f[5].val, rep.data, rep.data_len);
  else
    set_string(&f[5].val, (const char *)rep.data, rep.data_len);
  set_field(&f[6], "base64");
  f[6].val.kind = WASMTIME_COMPONENT_BOOL;
  f[6].val.of.boolean = req.op == VFS_OP_READ && !ascii;
  free(rep.data);
  return NULL;
}

static const struct {
  const char *name;
  wasmtime_component_func_callback_t fn;
} host_funcs[] = {
    {"emit-output", emit_output},
    {"emit-trace", emit_trace},
    {"sleep", sleep_fn},
    {"list-callbacks", list_callbacks},
    {"callback-start", callback_start},
    {"callback-cancel", callback_cancel},
    {"callback-wait", callback_wait},
    {"fs", fs},
};

wasmtime_error_t *eryx__define_host_imports(wasmtime_component_linker_t *linker) {
  wasmtime_component_linker_instance_t *root =
      wasmtime_component_linker_root(linker);
  wasmtime_component_linker_instance_t *host = NULL;
  wasmtime_error_t *err = wasmtime_component_linker_instance_add_instance(
      root, HOST_INTERFACE, strlen(HOST_INTERFACE), &host);
  for (size_t i = 0; !err && i < sizeof host_funcs / sizeof host_funcs[0]; i++)
    err = wasmtime_component_linker_instance_add_func(
        host, host_funcs[i].name, strlen(host_funcs[i].name), host_funcs[i].fn,
        NULL, NULL);
  if (host)
    wasmtime_component_linker_instance_delete(host);
  wasmtime_component_linker_instance_delete(root);
  return err;
}
