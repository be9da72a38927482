//! The WIT interface `eryx:sandbox/net` (guest/wit/sandbox.wit): host-mediated
//! TCP and TLS, under a policy the guest cannot talk around.
//!
//! Why in Rust: `list<u8>` crosses as one memcpy through Wasmtime's typed
//! host functions, where the C API would build one value per byte; and
//! OpenSSL has a well-kept Rust binding.
//!
//! The parts: policy.rs (patterns, host names, IP literals, which addresses
//! are public), tls.rs (OpenSSL clients and what `tls-info` reports),
//! conn.rs (one execution's connections and every wait), secrets.rs (the
//! substitution of secrets into HTTP/1.1 request headers on the send path,
//! and its C ABI). This file is the C ABI and the WIT functions.
//!
//! How C and Rust meet (see src/net.c): C compiles a `Policy` per sandbox
//! (`eryx__net_policy_new`) and makes a `Table` per execution
//! (`eryx__net_table_new`, freed with its connections and statistics at
//! the end). The host functions find both from the store's data through
//! the `state` hook C passes to `eryx_linker_add_net`, ask the `check` hook
//! (src/blocking.c) between slices of every wait, and watch the callback
//! queue's eventfd (`callback_fd`) in `wait`. Rust needs no symbol of
//! liberyx: every way back into C is a function pointer.
//!
//! No panic crosses the ABI: every entry point and host function catches
//! unwinding; a panic in a host function traps the guest.
use std::ffi::{c_char, c_int, c_uint, c_void};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

use wasmtime::component::{ComponentType, Lift, Linker, Lower};
use wasmtime::{AsContext, Result, StoreContextMut};
use wasmtime_c_api::{
    wasmtime_component_linker_t, wasmtime_context_get_data, wasmtime_error_t, WasmtimeStoreData,
};

mod conn;
mod policy;
mod secrets;
mod tls;

use conn::{Stats, Table, Waiter};
use policy::{Pattern, Rules};

const NET_INTERFACE: &str = "eryx:sandbox/net@0.1.0";

#[derive(ComponentType, Lift, Lower, Clone, Debug)]
#[component(record)]
pub struct NetError {
    pub kind: String,
    pub message: String,
}

#[derive(ComponentType, Lift, Lower, Clone, Debug)]
#[component(record)]
pub struct TlsInfo {
    pub version: String,
    pub cipher: String,
    pub alpn: String,
    #[component(name = "peer-cert-der")]
    pub peer_cert_der: Vec<u8>,
    #[component(name = "peer-cert-json")]
    pub peer_cert_json: String,
}

pub fn err(kind: &str, message: impl Into<String>) -> NetError {
    NetError { kind: kind.into(), message: message.into() }
}

fn off() -> NetError {
    err(
        "off",
        "networking is off for this sandbox (the host enables it with a network policy)",
    )
}

/// The C hook of src/blocking.c (see wasi_block.rs).
pub use crate::wasi_block::CheckFn;

/// `eryx_str` of include/eryx.h.
#[repr(C)]
pub struct EryxStr {
    data: *const c_char,
    len: usize,
}

/// `eryx_net_options` of include/eryx.h (version 1); the layout must match.
#[repr(C)]
pub struct NetOptions {
    version: c_uint,
    allowed_hosts: *const EryxStr,
    allowed_hosts_count: usize,
    blocked_hosts: *const EryxStr,
    blocked_hosts_count: usize,
    allow_all_hosts: c_int,
    allow_localhost: c_int,
    max_connections: u32,
    connect_timeout_ms: u32,
    io_timeout_ms: u32,
    root_certs: *const EryxStr,
    root_certs_count: usize,
}

/// `eryx_net_hooks` of src/internal.h.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct NetHooks {
    check: CheckFn,
    /// This store's policy and current execution's table (NULL: none).
    state: unsafe extern "C" fn(store_data: *mut c_void, policy: *mut *const Policy, table: *mut *mut Table),
    /// The callback queue's eventfd (readable while an answer waits), or -1.
    callback_fd: unsafe extern "C" fn(store_data: *mut c_void) -> c_int,
}

/// A sandbox's compiled network policy.
pub struct Policy {
    rules: Rules,
    max_connections: u32,
    connect_timeout: Duration,
    io_timeout: Duration,
    tls: tls::Client,
}

const DEFAULT_MAX_CONNECTIONS: u32 = 10;
const DEFAULT_TIMEOUT_MS: u32 = 30_000;

fn slice<'a, T>(p: *const T, n: usize) -> &'a [T] {
    if p.is_null() || n == 0 {
        &[]
    } else {
        // SAFETY: the caller gives `n` readable items at `p`.
        unsafe { std::slice::from_raw_parts(p, n) }
    }
}

fn str_bytes(s: &EryxStr) -> &[u8] {
    slice(s.data as *const u8, s.len)
}

fn patterns(list: &[EryxStr], what: &str) -> Result<Vec<Pattern>, String> {
    list.iter()
        .enumerate()
        .map(|(i, s)| {
            let text = std::str::from_utf8(str_bytes(s))
                .map_err(|_| format!("{what}[{i}] is not UTF-8"))?;
            Pattern::parse(text).map_err(|e| format!("{what}[{i}] '{text}': {e}"))
        })
        .collect()
}

fn compile(o: &NetOptions) -> Result<Policy, String> {
    if o.version != 1 {
        return Err(format!("unsupported eryx_net_options version {}", o.version));
    }
    let allowed = patterns(slice(o.allowed_hosts, o.allowed_hosts_count), "allowed_hosts")?;
    let blocked = patterns(slice(o.blocked_hosts, o.blocked_hosts_count), "blocked_hosts")?;
    let roots: Vec<&[u8]> = slice(o.root_certs, o.root_certs_count).iter().map(str_bytes).collect();
    if let Some(i) = roots.iter().position(|r| r.is_empty()) {
        return Err(format!("root_certs[{i}] is empty"));
    }
    let ms = |v: u32| Duration::from_millis(if v == 0 { DEFAULT_TIMEOUT_MS } else { v } as u64);
    Ok(Policy {
        rules: Rules {
            allowed,
            blocked,
            allow_all: o.allow_all_hosts != 0,
            allow_localhost: o.allow_localhost != 0,
        },
        max_connections: if o.max_connections == 0 { DEFAULT_MAX_CONNECTIONS } else { o.max_connections },
        connect_timeout: ms(o.connect_timeout_ms),
        io_timeout: ms(o.io_timeout_ms),
        tls: tls::Client::new(&roots)?,
    })
}

/// Compiles `opts`; NULL with the reason in `msg` (NUL-terminated, at most
/// `cap` bytes) when a pattern or certificate is bad.
#[unsafe(no_mangle)]
pub extern "C" fn eryx__net_policy_new(opts: *const NetOptions, msg: *mut c_char, cap: usize) -> *mut Policy {
    let r = catch_unwind(|| {
        if opts.is_null() {
            return Err("network options are NULL".to_string());
        }
        // SAFETY: the caller gives a valid eryx_net_options.
        compile(unsafe { &*opts })
    });
    match r {
        Ok(Ok(p)) => Box::into_raw(Box::new(p)),
        Ok(Err(e)) => {
            crate::json::write_msg(msg, cap, &e);
            std::ptr::null_mut()
        }
        Err(_) => {
            crate::json::write_msg(msg, cap, "internal error compiling the network policy");
            std::ptr::null_mut()
        }
    }
}

#[unsafe(no_mangle)]
pub extern "C" fn eryx__net_policy_free(p: *mut Policy) {
    if !p.is_null() {
        // SAFETY: made by eryx__net_policy_new.
        let _ = catch_unwind(AssertUnwindSafe(|| drop(unsafe { Box::from_raw(p) })));
    }
}

/// A new, empty connection table (NULL: out of memory).
#[unsafe(no_mangle)]
pub extern "C" fn eryx__net_table_new() -> *mut Table {
    catch_unwind(|| Box::into_raw(Box::<Table>::default())).unwrap_or(std::ptr::null_mut())
}

/// Closes every connection of `t`, frees it and writes what it counted to
/// `stats` (if not NULL).
#[unsafe(no_mangle)]
pub extern "C" fn eryx__net_table_free(t: *mut Table, stats: *mut Stats) {
    if t.is_null() {
        return;
    }
    // SAFETY: made by eryx__net_table_new.
    let t = unsafe { Box::from_raw(t) };
    if !stats.is_null() {
        unsafe { *stats = t.stats };
    }
    let _ = catch_unwind(AssertUnwindSafe(|| drop(t)));
}

type Store<'a> = StoreContextMut<'a, WasmtimeStoreData>;

/// Runs `f` on this store's policy and table ("off" when it has none),
/// catching panics (they trap the guest).
fn with_state<T>(
    hooks: &NetHooks,
    s: &Store<'_>,
    f: impl FnOnce(&Policy, &mut Table, &Waiter) -> Result<Result<T, NetError>>,
) -> Result<(Result<T, NetError>,)> {
    let sd = wasmtime_context_get_data(s.as_context());
    let mut pol: *const Policy = std::ptr::null();
    let mut tab: *mut Table = std::ptr::null_mut();
    unsafe { (hooks.state)(sd, &mut pol, &mut tab) };
    if pol.is_null() {
        return Ok((Err(off()),));
    }
    if tab.is_null() {
        return Ok((Err(err("off", "networking is only available while code executes")),));
    }
    let w = Waiter { check: hooks.check, store_data: sd };
    // SAFETY: both live until the execution ends, and this thread runs it.
    let r = catch_unwind(AssertUnwindSafe(|| f(unsafe { &*pol }, unsafe { &mut *tab }, &w)));
    match r {
        Ok(r) => r.map(|v| (v,)),
        Err(_) => Err(wasmtime::Error::msg("eryx: internal error in the network host")),
    }
}

fn define(linker: &mut Linker<WasmtimeStoreData>, hooks: NetHooks) -> Result<()> {
    let mut net = linker.instance(NET_INTERFACE)?;
    net.func_wrap("connect", move |s: Store<'_>, (host, port, t): (String, u16, Option<u32>)| {
        with_state(&hooks, &s, |p, tab, w| tab.connect(p, w, &host, port, t))
    })?;
    net.func_wrap(
        "start-tls",
        move |s: Store<'_>, (h, name, alpn, t): (u32, String, Vec<String>, Option<u32>)| {
            with_state(&hooks, &s, |p, tab, w| tab.start_tls(p, w, h, &name, &alpn, t))
        },
    )?;
    net.func_wrap("send", move |s: Store<'_>, (h, data, t): (u32, Vec<u8>, Option<u32>)| {
        with_state(&hooks, &s, |p, tab, w| tab.send(p, w, h, &data, t))
    })?;
    net.func_wrap("recv", move |s: Store<'_>, (h, max, t): (u32, u32, Option<u32>)| {
        with_state(&hooks, &s, |p, tab, w| tab.recv(p, w, h, max, t))
    })?;
    net.func_wrap("shutdown", move |s: Store<'_>, (h, how): (u32, u8)| {
        with_state(&hooks, &s, |p, tab, w| tab.shutdown(p, w, h, how))
    })?;
    net.func_wrap("close", move |s: Store<'_>, (h,): (u32,)| {
        with_state(&hooks, &s, |_, tab, _| {
            tab.close(h);
            Ok(Ok(()))
        })
        .map(|_| ())
    })?;
    net.func_wrap("addresses", move |s: Store<'_>, (h,): (u32,)| {
        with_state(&hooks, &s, |_, tab, _| Ok(tab.addresses(h)))
    })?;
    // `wait` also works with networking off: an event loop waits on
    // callbacks and timers through it.
    net.func_wrap(
        "wait",
        move |s: Store<'_>, (interest, timeout_ns): (Vec<(u32, u8)>, Option<u64>)| {
            let sd = wasmtime_context_get_data(s.as_context());
            let mut pol: *const Policy = std::ptr::null();
            let mut tab: *mut Table = std::ptr::null_mut();
            unsafe { (hooks.state)(sd, &mut pol, &mut tab) };
            let cb_fd = unsafe { (hooks.callback_fd)(sd) };
            let w = Waiter { check: hooks.check, store_data: sd };
            let r = catch_unwind(AssertUnwindSafe(|| {
                // SAFETY: as in with_state.
                let table = if tab.is_null() { None } else { Some(unsafe { &mut *tab }) };
                Table::wait(table, &w, &interest, timeout_ns, cb_fd)
            }));
            match r {
                Ok(r) => r.map(|v| (v,)),
                Err(_) => Err(wasmtime::Error::msg("eryx: internal error in the network host")),
            }
        },
    )?;
    Ok(())
}

/// Defines `eryx:sandbox/net` on the linker, with the C hooks it calls.
/// NULL on success, else an error the caller owns.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn eryx_linker_add_net(
    linker: *mut wasmtime_component_linker_t,
    hooks: *const NetHooks,
) -> *mut wasmtime_error_t {
    if linker.is_null() || hooks.is_null() {
        return Box::into_raw(Box::new(wasmtime_error_t::from(wasmtime::Error::msg(
            "eryx_linker_add_net: linker and hooks are required",
        ))));
    }
    // SAFETY: `wasmtime_component_linker_t` is `#[repr(transparent)]` over
    // the Linker; the hooks are copied.
    let linker = unsafe { &mut *(linker as *mut Linker<WasmtimeStoreData>) };
    let hooks = unsafe { *hooks };
    match catch_unwind(AssertUnwindSafe(|| define(linker, hooks))) {
        Ok(Ok(())) => std::ptr::null_mut(),
        Ok(Err(e)) => Box::into_raw(Box::new(wasmtime_error_t::from(e))),
        Err(_) => Box::into_raw(Box::new(wasmtime_error_t::from(wasmtime::Error::msg(
            "eryx_linker_add_net: internal error",
        )))),
    }
}
