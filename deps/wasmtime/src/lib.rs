//! Re-export of Wasmtime's C API so cargo produces one static library, plus
//! the one thing Eryx needs that the C API lacks: a store limiter that also
//! reports how much linear memory the store holds (for result statistics).
pub use wasmtime_c_api::*;

mod memory_limiter;
mod json;
mod wasi_block;
