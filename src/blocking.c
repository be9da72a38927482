/*
 * blocking.c — the C side of the interruptible WASI waits
 * (deps/wasmtime/src/wasi_block.rs).
 *
 * Why: an epoch deadline only interrupts running wasm, not a host call. A
 * guest blocked inside Wasmtime's own WASI (a `poll` from a re-imported
 * time.sleep or from select, a blocking stream call) would outlive its
 * timeout and ignore eryx_sandbox_cancel. The Rust side replaces those WASI
 * functions with versions that race the real wait against this check,
 * asked again after at most one epoch tick (ERYX_TICK_MS) while the wait
 * goes on; when it says stop, the wait is abandoned and the guest traps.
 */
#include "callbacks.h"

wasmtime_error_t *eryx__blocking_check(void *store_data, uint64_t *wait_ns) {
  const eryx_store_data *d = store_data;
  struct eryx_sandbox *sb = d ? d->sandbox : NULL;
  if (!sb) { /* a warm instance no sandbox has taken yet: no limits */
    *wait_ns = UINT64_MAX;
    return NULL;
  }
  atomic_int *stop = eryx__sandbox_callbacks(sb)->stop;
  uint64_t deadline = eryx__sandbox_deadline(sb), now = eryx__now_ns();
  if ((stop && atomic_load(stop)) || now >= deadline ||
      eryx__callbacks_suspended(eryx__sandbox_callbacks(sb)))
    return eryx__sandbox_timed_out(sb); /* keeps a cancel that came first */
  uint64_t tick = (uint64_t)ERYX_TICK_MS * 1000000u;
  *wait_ns = deadline - now < tick ? deadline - now : tick;
  return NULL;
}
