//! The WIT interface `eryx:sandbox/net` (guest/wit/sandbox.wit): host-mediated
//! TCP and TLS.
//!
//! Why in Rust: `list<u8>` crosses as one memcpy through Wasmtime's typed
//! host functions, where the C API would build one value per byte.
//!
//! This first version is the interface with networking off: every call is
//! refused with kind "off", so a component built against the world
//! instantiates and sandboxed code gets a clear error.
use wasmtime::component::{ComponentType, Lift, Linker, Lower};
use wasmtime::{Result, StoreContextMut};
use wasmtime_c_api::{wasmtime_component_linker_t, wasmtime_error_t, WasmtimeStoreData};

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

fn off() -> NetError {
    NetError {
        kind: "off".into(),
        message: "networking is off for this sandbox (the host enables it with a network policy)"
            .into(),
    }
}

type Store<'a> = StoreContextMut<'a, WasmtimeStoreData>;

fn define(linker: &mut Linker<WasmtimeStoreData>) -> Result<()> {
    let mut net = linker.instance(NET_INTERFACE)?;
    net.func_wrap("connect", |_: Store<'_>, (_h, _p, _t): (String, u16, Option<u32>)| {
        Ok((Err::<u32, _>(off()),))
    })?;
    net.func_wrap(
        "start-tls",
        |_: Store<'_>, (_h, _n, _a, _t): (u32, String, Vec<String>, Option<u32>)| {
            Ok((Err::<TlsInfo, _>(off()),))
        },
    )?;
    net.func_wrap("send", |_: Store<'_>, (_h, _d, _t): (u32, Vec<u8>, Option<u32>)| {
        Ok((Err::<u32, _>(off()),))
    })?;
    net.func_wrap("recv", |_: Store<'_>, (_h, _m, _t): (u32, u32, Option<u32>)| {
        Ok((Err::<Vec<u8>, _>(off()),))
    })?;
    net.func_wrap("shutdown", |_: Store<'_>, (_h, _how): (u32, u8)| {
        Ok((Err::<(), _>(off()),))
    })?;
    net.func_wrap("close", |_: Store<'_>, (_h,): (u32,)| Ok(()))?;
    net.func_wrap("addresses", |_: Store<'_>, (_h,): (u32,)| {
        Ok((Err::<(String, String), _>(off()),))
    })?;
    net.func_wrap(
        "wait",
        |_: Store<'_>, (_i, _t): (Vec<(u32, u8)>, Option<u64>)| Ok((Vec::<(u32, u8)>::new(),)),
    )?;
    Ok(())
}

/// Defines `eryx:sandbox/net` on the linker. NULL on success, else an error
/// the caller owns.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn eryx_linker_add_net(
    linker: *mut wasmtime_component_linker_t,
) -> *mut wasmtime_error_t {
    // `wasmtime_component_linker_t` is `#[repr(transparent)]` over the Linker.
    let linker = unsafe { &mut *(linker as *mut Linker<WasmtimeStoreData>) };
    match define(linker) {
        Ok(()) => std::ptr::null_mut(),
        Err(e) => Box::into_raw(Box::new(wasmtime_error_t::from(e))),
    }
}
