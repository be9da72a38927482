//! `eryx_store_limit_handles`: caps how many handles (open files and
//! directories, streams, pollables, ...) one store's WASI resource table may
//! hold.
//!
//! Why: every file the guest opens under a host directory (/python, a
//! package, a volume) is a host file descriptor, and they are a resource of
//! the whole process. Without a cap of its own one sandbox could open
//! files until the process runs out of descriptors (the guest's memory cap
//! does not stop it: an unbuffered open costs the guest a few hundred
//! bytes), and every other sandbox would then fail to start. Wasmtime's
//! default cap is 1 000 000 entries per table. At the cap, the call that
//! needed one more handle traps; the C side reports that as a limit
//! (src/sandbox.c).
use wasmtime_c_api::{wasmtime_store_t, WasmtimeStore};
use wasmtime_wasi::WasiView;

/// Sets the cap. Safety: `store` is a live store whose WASI context was set
/// (`wasmtime_context_set_wasi` succeeded), which `WasiView::ctx` requires.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn eryx_store_limit_handles(store: *mut wasmtime_store_t, max: usize) {
    // `wasmtime_store_t` is `#[repr(C)]` with the `Store` as its only field.
    let store = unsafe { &mut *(store as *mut WasmtimeStore) };
    store.data_mut().ctx().table.set_max_capacity(max);
}
