//! Re-export of Wasmtime's C API so cargo produces one static library, plus
//! what Eryx needs that the C API lacks: a store limiter that reports the
//! linear memory a store holds (memory_limiter), JSON and JSON Schema checks
//! (json), WASI waits that end at the deadline (wasi_block), the typed
//! network imports (net), the file tree as a WASI preopen (vfs_wasi) and a
//! cap on a store's WASI handles (handle_limit); and at build time, the
//! immortal reference counts of the guest's snapshot (snapshot_image).
pub use wasmtime_c_api::*;

mod memory_limiter;
mod json;
mod wasi_block;
mod net;
mod vfs_wasi;
mod handle_limit;
mod snapshot_image;
