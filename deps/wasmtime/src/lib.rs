//! Re-export of Wasmtime's C API so cargo produces one static library.
pub use wasmtime_c_api::*;
