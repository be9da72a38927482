/*
 * precompile.c — build-time tool: compile the guest component to native code
 * (`.cwasm`) with exactly the engine settings the runtime uses, so that
 * eryx_runtime_new() only maps the file instead of compiling 20+ MB of wasm.
 *
 * usage: eryx-precompile [--fuel] IN.wasm OUT.cwasm
 *   --fuel   compile for the fuel-counting engine (eryx-fuel.cwasm)
 */
#include "../src/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail_wasmtime(const char *what, wasmtime_error_t *werr) {
  char *msg = eryx__wasmtime_message(werr);
  fprintf(stderr, "eryx-precompile: %s: %s\n", what, msg ? msg : "");
  free(msg);
  wasmtime_error_delete(werr);
  return 1;
}

static unsigned char *read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return NULL;
  unsigned char *data = NULL;
  long size = -1;
  if (fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) >= 0 &&
      fseek(f, 0, SEEK_SET) == 0 && (data = malloc((size_t)size + 1))) {
    if (fread(data, 1, (size_t)size, f) != (size_t)size) {
      free(data);
      data = NULL;
    }
  }
  fclose(f);
  *len = (size_t)size;
  return data;
}

int main(int argc, char **argv) {
  bool fuel = argc == 4 && !strcmp(argv[1], "--fuel");
  if (argc != 3 + fuel) {
    fprintf(stderr, "usage: eryx-precompile [--fuel] IN.wasm OUT.cwasm\n");
    return 2;
  }
  argv += fuel;
  size_t len;
  unsigned char *wasm = read_file(argv[1], &len);
  if (!wasm) {
    perror(argv[1]);
    return 1;
  }
  wasm_engine_t *engine = wasm_engine_new_with_config(eryx__engine_config(NULL, fuel));
  if (!engine) {
    fprintf(stderr, "eryx-precompile: cannot create the engine\n");
    return 1;
  }
  wasmtime_component_t *component = NULL;
  wasmtime_error_t *werr = wasmtime_component_new(engine, wasm, len, &component);
  free(wasm);
  if (werr)
    return fail_wasmtime("compile", werr);
  wasm_byte_vec_t bytes;
  werr = wasmtime_component_serialize(component, &bytes);
  if (werr)
    return fail_wasmtime("serialize", werr);

  int rc = 0;
  FILE *f = fopen(argv[2], "wb");
  if (!f || fwrite(bytes.data, 1, bytes.size, f) != bytes.size) {
    perror(argv[2]);
    rc = 1;
  }
  if (f && fclose(f) != 0) {
    perror(argv[2]);
    rc = 1;
  }
  wasm_byte_vec_delete(&bytes);
  wasmtime_component_delete(component);
  wasm_engine_delete(engine);
  return rc;
}
