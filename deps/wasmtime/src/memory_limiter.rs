//! `eryx_store_set_memory_limiter`: caps the total linear memory of a store
//! and records its current and peak size in a struct owned by the caller.
//!
//! Why here: the C API's `wasmtime_store_limiter` enforces a cap but cannot
//! tell how much memory a component instance uses, and the C API gives no
//! access to a component's core memories. A `ResourceLimiter` sees every
//! growth (including each memory's initial allocation), so it can keep a
//! running total.
use std::ffi::c_void;
use wasmtime_c_api::wasmtime::{self, ResourceLimiter, Result};
use wasmtime_c_api::{wasmtime_store_t, WasmtimeStore};

/// Mirrors `eryx__memory_stats` in src/internal.h.
#[repr(C)]
pub struct MemoryStats {
    pub current: u64,
    pub peak: u64,
}

struct Limiter {
    /// Total byte cap over all memories of the store; `None` = no cap.
    max: Option<usize>,
    /// Owned by the C caller, which keeps it alive as long as the store.
    stats: *mut MemoryStats,
    /// Bytes approved by the last `memory_growing`, undone if the grow fails.
    pending: u64,
}

// The store (and so the limiter) moves between threads only as a whole, and
// the C side reads `stats` only while no wasm runs in that store.
unsafe impl Send for Limiter {}
unsafe impl Sync for Limiter {}

impl ResourceLimiter for Limiter {
    fn memory_growing(&mut self, current: usize, desired: usize, _max: Option<usize>) -> Result<bool> {
        let stats = unsafe { &mut *self.stats };
        let delta = desired.saturating_sub(current) as u64;
        let total = stats.current.saturating_add(delta);
        if let Some(max) = self.max {
            if total > max as u64 {
                return Ok(false);
            }
        }
        stats.current = total;
        stats.peak = stats.peak.max(total);
        self.pending = delta;
        Ok(true)
    }

    fn memory_grow_failed(&mut self, _error: wasmtime::Error) -> Result<()> {
        let stats = unsafe { &mut *self.stats };
        stats.current = stats.current.saturating_sub(self.pending);
        self.pending = 0;
        Ok(())
    }

    fn table_growing(&mut self, _current: usize, _desired: usize, _max: Option<usize>) -> Result<bool> {
        Ok(true)
    }
}

/// Installs the limiter on `store` (replacing any earlier one). `max_bytes <
/// 0` means no cap. `stats` must stay valid until the store is deleted or
/// the limiter replaced; the caller sets its starting values (a store that
/// already holds memory keeps counting from there).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn eryx_store_set_memory_limiter(
    store: *mut wasmtime_store_t,
    max_bytes: i64,
    stats: *mut c_void,
) {
    let stats = stats as *mut MemoryStats;
    // `wasmtime_store_t` is `#[repr(C)]` with the `Store` as its only field,
    // so a pointer to it is a pointer to the `Store`.
    let store = unsafe { &mut *(store as *mut WasmtimeStore) };
    let limiter: &'static mut Limiter = Box::leak(Box::new(Limiter {
        max: if max_bytes < 0 { None } else { Some(max_bytes as usize) },
        stats,
        pending: 0,
    }));
    let ptr = limiter as *mut Limiter as usize;
    // The closure owns the limiter (freed with the store via `Owner`).
    let owner = Owner(ptr);
    store.limiter(move |_| {
        let _ = &owner;
        unsafe { &mut *(owner.0 as *mut Limiter) as &mut dyn ResourceLimiter }
    });
}

/// Frees the leaked limiter when the store drops the closure holding it.
struct Owner(usize);
impl Drop for Owner {
    fn drop(&mut self) {
        drop(unsafe { Box::from_raw(self.0 as *mut Limiter) });
    }
}
