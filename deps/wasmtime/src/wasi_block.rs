//! Interruptible replacements for the WASI functions that can block.
//!
//! Why: an execution's timeout and `eryx_sandbox_cancel` reach running wasm
//! through the epoch deadline, and an epoch deadline only interrupts wasm,
//! never a host call. Wasmtime's synchronous WASI (p2) blocks the guest's
//! thread inside `wasi:io/poll` `poll` and `[method]pollable.block` (every
//! sleep and `select` of wasi-libc ends there) and inside the `blocking-*`
//! stream methods, so user code that reaches them other than through our
//! own `sleep` import (a re-imported `time` module, `select.select`,
//! `select.poll`) could outlive its deadline and ignore a cancel.
//!
//! How: `eryx_linker_add_wasi` adds WASI p2 exactly as the C API's
//! `wasmtime_component_linker_add_wasip2` does, then shadows each of those
//! functions with one that runs the same future from wasmtime-wasi-io,
//! raced against a "stop" future. The stop future asks C (the `check`
//! hook, `eryx__blocking_check` in src/blocking.c) whether this store's
//! execution must end (cancel flag or deadline) and, while it need not,
//! sleeps until the next check (at most one epoch tick, so a cancel lands
//! within a few ms). When C says stop, the wait is dropped and the call
//! returns the trap error C made (which also recorded timeout or cancel).
//! Outside an execution (a warm instance not yet taken by a sandbox) C
//! answers "no limit" and the call behaves exactly like Wasmtime's.
//!
//! Everything else about a call is unchanged: the same futures, the same
//! error conversion, the same results when nothing stops it.
use std::ffi::c_void;
use std::future::Future;
use std::time::Duration;

use wasmtime::component::{ComponentNamedList, Lift, Linker, Lower, Resource, ResourceTable};
use wasmtime::{bail, AsContext, Error, Result, StoreContextMut};
use wasmtime_c_api::{
    wasmtime_component_linker_add_wasip2, wasmtime_component_linker_t, wasmtime_context_get_data,
    wasmtime_error_t, WasmtimeStoreData,
};
use wasmtime_wasi::runtime::in_tokio;
use wasmtime_wasi::WasiView;
use wasmtime_wasi_io::bindings::wasi::io::poll::{Host as _, HostPollable as _};
use wasmtime_wasi_io::bindings::wasi::io::streams::{
    Host as _, HostInputStream as _, HostOutputStream as _, StreamError as WitStreamError,
};
use wasmtime_wasi_io::poll::DynPollable;
use wasmtime_wasi_io::streams::{DynInputStream, DynOutputStream, StreamResult};

/// The interface names wasmtime-wasi 48.0.8 defines. The linker answers
/// every `0.2.x` import with these (semver matching), so shadowing the
/// functions in them covers whichever 0.2 version a guest imports. If a
/// future wasmtime-wasi moves to another patch version, these must follow
/// (`replace` fails, and with it loading the runtime, if they do not).
const POLL: &str = "wasi:io/poll@0.2.12";
const STREAMS: &str = "wasi:io/streams@0.2.12";

/// The C hook (src/blocking.c, passed in by the caller so that this
/// library needs no symbol of liberyx). NULL: go on waiting, ask again
/// after `*wait_ns` (u64::MAX: never, no limit applies). Otherwise the
/// execution must stop and the result is the (owned) error that traps the
/// guest.
pub type CheckFn =
    unsafe extern "C" fn(store_data: *mut c_void, wait_ns: *mut u64) -> *mut wasmtime_error_t;

/// Resolves, with the trap error, once C says the execution must stop.
async fn stop(check: CheckFn, store_data: *mut c_void) -> Error {
    loop {
        let mut wait_ns = 0u64;
        let err = unsafe { check(store_data, &mut wait_ns) };
        if !err.is_null() {
            // Made by wasmtime_error_new, i.e. a Box we now own.
            return Error::from(*unsafe { Box::from_raw(err) });
        }
        if wait_ns == u64::MAX {
            std::future::pending::<()>().await;
        }
        tokio::time::sleep(Duration::from_nanos(wait_ns)).await;
    }
}

/// Runs `op` on the store's resource table (on wasmtime-wasi's Tokio
/// runtime, as Wasmtime's own sync bindings do) unless the execution must
/// stop first.
fn interruptible<'a, F, R>(
    check: CheckFn,
    store: &'a mut StoreContextMut<'_, WasmtimeStoreData>,
    op: impl FnOnce(&'a mut ResourceTable) -> F,
) -> Result<R>
where
    F: Future<Output = R> + 'a,
{
    let store_data = wasmtime_context_get_data(store.as_context());
    let fut = op(store.data_mut().ctx().table);
    in_tokio(async move {
        tokio::select! {
            biased; // a wait that is already over returns its result
            out = fut => Ok(out),
            err = stop(check, store_data) => Err(err),
        }
    })
}

/// A `StreamResult` as the WIT function returns it (what Wasmtime's
/// generated bindings do with `convert_stream_error`).
fn to_wit<T>(
    table: &mut ResourceTable,
    r: StreamResult<T>,
) -> Result<(Result<T, WitStreamError>,)> {
    match r {
        Ok(v) => Ok((Ok(v),)),
        Err(e) => Ok((Err(table.convert_stream_error(e)?),)),
    }
}

type Store<'a> = StoreContextMut<'a, WasmtimeStoreData>;

/// Replaces the function `name` of interface `inst`. Fails if wasmtime-wasi
/// did not define it there (e.g. its WASI version moved on): the new one
/// would then be ignored, silently, in favour of the original.
fn replace<F, P, R>(linker: &mut Linker<WasmtimeStoreData>, inst: &str, name: &str, f: F) -> Result<()>
where
    F: Fn(Store<'_>, P) -> Result<R> + Send + Sync + 'static,
    P: ComponentNamedList + Lift + 'static,
    R: ComponentNamedList + Lower + 'static,
{
    // Without shadowing, defining an existing name fails (and changes nothing).
    linker.allow_shadowing(false);
    if linker.instance(inst)?.func_wrap(name, |_: Store<'_>, (): ()| Ok(())).is_ok() {
        bail!("eryx: WASI has no `{inst}` `{name}` to make interruptible");
    }
    linker.allow_shadowing(true);
    let result = linker.instance(inst)?.func_wrap(name, f);
    linker.allow_shadowing(false);
    result
}

fn shadow(l: &mut Linker<WasmtimeStoreData>, check: CheckFn) -> Result<()> {
    replace(l, POLL, "poll", move |mut s: Store<'_>, (list,): (Vec<Resource<DynPollable>>,)| {
        let ready = interruptible(check, &mut s, |t| t.poll(list))??;
        Ok((ready,))
    })?;
    replace(l, POLL, "[method]pollable.block", move |mut s: Store<'_>, (p,): (Resource<DynPollable>,)| {
        interruptible(check, &mut s, |t| t.block(p))??;
        Ok(())
    })?;

    // Each stream method: run the async version, then convert its error.
    macro_rules! stream_fn {
        ($name:literal, |$t:ident, $($arg:ident: $ty:ty),*| $call:expr) => {
            replace(l, STREAMS, $name, move |mut s: Store<'_>, ($($arg,)*): ($($ty,)*)| {
                let r = interruptible(check, &mut s, |$t| $call)?;
                to_wit(s.data_mut().ctx().table, r)
            })?;
        };
    }
    type In = Resource<DynInputStream>;
    type Out = Resource<DynOutputStream>;
    stream_fn!("[method]input-stream.blocking-read", |t, st: In, n: u64| t.blocking_read(st, n));
    stream_fn!("[method]input-stream.blocking-skip", |t, st: In, n: u64| t.blocking_skip(st, n));
    stream_fn!("[method]output-stream.blocking-write-and-flush",
               |t, st: Out, bytes: Vec<u8>| t.blocking_write_and_flush(st, bytes));
    stream_fn!("[method]output-stream.blocking-write-zeroes-and-flush",
               |t, st: Out, n: u64| t.blocking_write_zeroes_and_flush(st, n));
    stream_fn!("[method]output-stream.blocking-flush", |t, st: Out| t.blocking_flush(st));
    stream_fn!("[method]output-stream.blocking-splice",
               |t, dst: Out, src: In, n: u64| t.blocking_splice(dst, src, n));
    Ok(())
}

/// Adds WASI p2 to `linker` with interruptible blocking functions (see the
/// top of this file) that ask `check` whether to stop. Returns NULL or an
/// owned error. Leaves the linker's shadowing off, as a new linker has it.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn eryx_linker_add_wasi(
    linker: &mut wasmtime_component_linker_t,
    check: CheckFn,
) -> Option<Box<wasmtime_error_t>> {
    if let Some(err) = unsafe { wasmtime_component_linker_add_wasip2(linker) } {
        return Some(err);
    }
    // `wasmtime_component_linker_t` is `#[repr(transparent)]` over the
    // Linker, so a pointer to it is a pointer to the Linker.
    let linker = linker as *mut wasmtime_component_linker_t as *mut Linker<WasmtimeStoreData>;
    let result = shadow(unsafe { &mut *linker }, check);
    result.err().map(|e| Box::new(wasmtime_error_t::from(e)))
}
