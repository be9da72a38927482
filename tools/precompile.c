/*
 * precompile.c — build-time tool: compile the guest component to native code
 * (`.cwasm`) with exactly the engine settings the runtime uses, so that
 * eryx_runtime_new() only maps the file instead of compiling 20+ MB of wasm.
 * First the snapshot's objects are made immortal in the memory image
 * (eryx__snapshot_prepare). Factories (src/factory.c) do both the same way.
 *
 * usage: eryx-precompile [--fuel] IN.wasm OUT.cwasm
 *   --fuel   compile for the fuel-counting engine (eryx-fuel.cwasm)
 */
#include "../src/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
  bool fuel = argc == 4 && !strcmp(argv[1], "--fuel");
  if (argc != 3 + fuel) {
    fprintf(stderr, "usage: eryx-precompile [--fuel] IN.wasm OUT.cwasm\n");
    return 2;
  }
  argv += fuel;
  size_t len;
  unsigned char *wasm = eryx__read_whole(argv[1], &len);
  if (!wasm) {
    perror(argv[1]);
    return 1;
  }
  eryx_error *err = eryx__snapshot_prepare(wasm, len);
  if (!err)
    err = eryx__precompile(wasm, len, argv[2], fuel);
  free(wasm);
  if (err) {
    fprintf(stderr, "eryx-precompile: %s\n", eryx_error_message(err, NULL));
    eryx_error_free(err);
    return 1;
  }
  return 0;
}
