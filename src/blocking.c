/*
 * blocking.c — the C side of the interruptible WASI waits
 * (deps/wasmtime/src/wasi_block.rs).
 */
#include "internal.h"
