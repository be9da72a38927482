/*
 * instance.c — one store with the component instantiated in it: what a
 * sandbox runs in. Made by a sandbox directly, or ahead of time by the
 * warm-instance pool (warm_pool.c) with no sandbox yet; sandbox.c then attaches
 * the sandbox, its deadline callback and its memory cap.
 */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

#define NO_DEADLINE_TICKS ((uint64_t)1 << 62)
#define UNCOUNTED_FUEL ((uint64_t)1 << 62)

static void store_data_free(void *p) {
  eryx_store_data *d = p;
  eryx__buf_free(&d->early_stdout);
  eryx__buf_free(&d->early_stderr);
  free(d);
}

/* fd 1/2 writes (bytes that are not UTF-8 from sys.stdout.buffer or
 * os.write, which the guest sends this way after the text before them;
 * C-level writes): kept exactly, in the same ordered stream as the text
 * the guest hands over, within the execution's output budget. */
static void capture_fd(eryx_store_data *d, int which, const unsigned char *bytes,
                       size_t n) {
  if (!d->sandbox) /* a warm instance not yet taken: nobody to tell */
    return;
  size_t keep = eryx__output_take(d, (const char *)bytes, n);
  eryx__buf_append(which == 1 ? &d->early_stdout : &d->early_stderr, (const char *)bytes,
                   keep);
  eryx__sandbox_emit(d->sandbox, which, (const char *)bytes, keep);
}

static ptrdiff_t capture_fd1(void *arg, const unsigned char *bytes, size_t n) {
  capture_fd(arg, 1, bytes, n);
  return (ptrdiff_t)n;
}

static ptrdiff_t capture_fd2(void *arg, const unsigned char *bytes, size_t n) {
  capture_fd(arg, 2, bytes, n);
  return (ptrdiff_t)n;
}

/* Read-only preopens: the runtime's own (a factory's packages) and the
 * sandbox's packages. */
static bool preopen_all(wasi_config_t *wasi, const eryx__mounts *m, const char **failed) {
  for (size_t i = 0; m && i < m->count; i++) {
    if (!wasi_config_preopen_dir(wasi, m->items[i].host, m->items[i].guest,
                                 m->items[i].writable)) {
      *failed = m->items[i].host;
      return false;
    }
  }
  return true;
}

/* Every slot of the pooling allocator taken is a limit the caller set (or
 * can raise), not a Wasmtime failure: say which. */
static eryx_error *instantiate_error(eryx_runtime *rt, wasmtime_error_t *werr) {
  char *msg = eryx__wasmtime_message(werr);
  bool full = msg && strstr(msg, "maximum concurrent");
  free(msg);
  if (!full)
    return eryx__error_from_wasmtime(werr, "cannot instantiate the sandbox");
  wasmtime_error_delete(werr);
  return eryx__error_new(ERYX_ERR_RESOURCES,
                         "all %u sandbox slots are in use (sandboxes, sessions, pooled and "
                         "warm instances): free some, or raise "
                         "eryx_runtime_options.max_sandboxes",
                         rt->max_sandboxes ? rt->max_sandboxes : 1000u);
}

eryx_error *eryx__instance_new(eryx_runtime *rt, const eryx_variant *v, int64_t max_memory,
                               eryx__memory_stats *stats, bool fuel,
                               const eryx__mounts *extra, const eryx__mounts *extra2,
                               eryx_instance *out) {
  eryx_store_data *d = calloc(1, sizeof *d);
  if (!d)
    return eryx__error_new(ERYX_ERR_RESOURCES, "out of memory");
  wasmtime_store_t *store = wasmtime_store_new(v->engine, d, store_data_free);
  if (!store) {
    store_data_free(d);
    return eryx__error_new(ERYX_ERR_RESOURCES, "cannot create a store");
  }
  wasmtime_context_t *ctx = wasmtime_store_context(store);

  wasi_config_t *wasi = wasi_config_new();
  wasi_config_set_stdout_custom(wasi, capture_fd1, d, NULL);
  wasi_config_set_stderr_custom(wasi, capture_fd2, d, NULL);
  if (!wasi_config_preopen_dir(wasi, rt->stdlib_dir, "/python", false)) {
    wasi_config_delete(wasi);
    wasmtime_store_delete(store);
    return eryx__error_new(ERYX_ERR_RUNTIME_FILES, "cannot open %s", rt->stdlib_dir);
  }
  const char *failed = NULL;
  if (!preopen_all(wasi, &rt->manifest.mounts, &failed) || !preopen_all(wasi, extra, &failed) ||
      !preopen_all(wasi, extra2, &failed)) {
    wasi_config_delete(wasi);
    wasmtime_store_delete(store);
    return eryx__error_new(ERYX_ERR_PACKAGE, "cannot open the mounted directory %s", failed);
  }
  wasmtime_error_t *werr = wasmtime_context_set_wasi(ctx, wasi); /* takes wasi */
  if (werr) {
    wasmtime_store_delete(store);
    return eryx__error_from_wasmtime(werr, "cannot configure WASI");
  }
  eryx_store_limit_handles(store, ERYX_MAX_HANDLES);
  eryx_store_set_memory_limiter(store, max_memory, stats);
  /* Instantiation runs guest start code: no deadline yet. */
  wasmtime_context_set_epoch_deadline(ctx, NO_DEADLINE_TICKS);
  if (fuel) {
    wasmtime_error_t *ferr = wasmtime_context_set_fuel(ctx, UNCOUNTED_FUEL);
    if (ferr)
      wasmtime_error_delete(ferr);
  }
  werr = wasmtime_component_linker_instantiate(v->linker, ctx, v->component, &out->instance);
  if (werr) {
    wasmtime_store_delete(store);
    return instantiate_error(rt, werr);
  }
  if (!wasmtime_component_instance_get_func(&out->instance, ctx, v->execute_index,
                                            &out->execute_fn)) {
    wasmtime_store_delete(store);
    return eryx__error_new(ERYX_ERR_RUNTIME_FILES, "the instance has no `execute` function");
  }
  out->store = store;
  out->data = d;
  return NULL;
}

void eryx__instance_free(eryx_instance *inst) {
  if (inst->store)
    wasmtime_store_delete(inst->store); /* frees inst->data */
  inst->store = NULL;
  inst->data = NULL;
}

bool eryx__mounts_add(eryx__mounts *m, const char *host, const char *guest) {
  eryx__mount *items = realloc(m->items, (m->count + 1) * sizeof *items);
  if (!items)
    return false;
  m->items = items;
  char *h = strdup(host), *g = strdup(guest);
  if (!h || !g) {
    free(h);
    free(g);
    return false;
  }
  items[m->count++] = (eryx__mount){h, g, false};
  return true;
}

void eryx__mounts_free(eryx__mounts *m) {
  for (size_t i = 0; i < m->count; i++) {
    free(m->items[i].host);
    free(m->items[i].guest);
  }
  free(m->items);
  m->items = NULL;
  m->count = 0;
}
