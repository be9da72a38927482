/*
 * host_imports.c — the host side of the WIT interface `eryx:sandbox/host`.
 *
 * Functions are defined once on the runtime's linker; the per-sandbox state
 * they need comes from the calling store's data (eryx_store_data).
 */
#include "internal.h"

#include <string.h>

#define HOST_INTERFACE "eryx:sandbox/host@0.1.0"

static eryx_store_data *store_data(wasmtime_context_t *ctx) {
  return wasmtime_context_get_data(ctx);
}

/* emit-output: func(which: u8, text: string) */
static wasmtime_error_t *emit_output(void *env, wasmtime_context_t *ctx,
                                     const wasmtime_component_func_type_t *ty,
                                     wasmtime_component_val_t *args,
                                     size_t nargs,
                                     wasmtime_component_val_t *results,
                                     size_t nresults) {
  (void)env, (void)ty, (void)results, (void)nresults;
  if (nargs != 2 || args[0].kind != WASMTIME_COMPONENT_U8 ||
      args[1].kind != WASMTIME_COMPONENT_STRING)
    return wasmtime_error_new("emit-output: unexpected arguments");
  eryx_store_data *d = store_data(ctx);
  eryx__sandbox_emit(d->sandbox, args[0].of.u8, args[1].of.string.data,
                     args[1].of.string.size);
  return NULL;
}

/* sleep: func(duration-ns: u64) */
static wasmtime_error_t *sleep_fn(void *env, wasmtime_context_t *ctx,
                                  const wasmtime_component_func_type_t *ty,
                                  wasmtime_component_val_t *args, size_t nargs,
                                  wasmtime_component_val_t *results,
                                  size_t nresults) {
  (void)env, (void)ty, (void)results, (void)nresults;
  if (nargs != 1 || args[0].kind != WASMTIME_COMPONENT_U64)
    return wasmtime_error_new("sleep: unexpected arguments");
  return eryx__sandbox_sleep(store_data(ctx)->sandbox, args[0].of.u64);
}

static const struct {
  const char *name;
  wasmtime_component_func_callback_t fn;
} host_funcs[] = {
    {"emit-output", emit_output},
    {"sleep", sleep_fn},
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
