//! The connections of one execution, and every wait they need.
//!
//! Sockets are non-blocking; each wait is poll(2) in slices of at most one
//! epoch tick, asking C's stop check (`eryx__blocking_check`, as the WASI
//! waits of wasi_block.rs do) before each slice, so a wait ends at the
//! execution's deadline and within a tick of a cancel. A stop is returned
//! as `Err` (the trap error C made), everything else as a `NetError`.
//!
//! DNS runs getaddrinfo on a short-lived thread (it cannot be interrupted)
//! and the guest waits for its answer the same way; a lookup the guest no
//! longer waits for finishes alone and is dropped. At most `MAX_LOOKUPS`
//! run at once in the process.
use std::collections::HashMap;
use std::ffi::c_void;
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpStream, ToSocketAddrs};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use openssl::ssl::{ErrorCode, SslStream};
use openssl::x509::X509VerifyResult;
use socket2::{Domain, Protocol, Socket, Type};
use wasmtime::Error;

use super::policy::{parse_host, Host};
use super::secrets::{Installed, Rewriter, Scratch};
use super::{err, CheckFn, NetError, Policy, TlsInfo};

/// Most bytes one `recv` returns, whatever the guest asks for.
pub const MAX_RECV: u32 = 1 << 20;
/// Most entries one `wait` looks at.
const MAX_WAIT: usize = 4096;
/// Most DNS lookups in flight in the whole process.
const MAX_LOOKUPS: usize = 64;
static LOOKUPS: AtomicUsize = AtomicUsize::new(0);

pub type Res<T> = Result<Result<T, NetError>, Error>;

/// Asks C whether the execution must stop, between slices of a wait.
pub struct Waiter {
    pub check: CheckFn,
    pub store_data: *mut c_void,
}

impl Waiter {
    /// Calls `step` with the longest it may wait (None: no limit) until it
    /// returns Some, `until` passes (Ok(None); `step` runs at least once),
    /// or C says stop (Err).
    pub fn run<T>(
        &self,
        until: Option<Instant>,
        mut step: impl FnMut(Option<Duration>) -> Option<T>,
    ) -> Result<Option<T>, Error> {
        let mut first = true;
        loop {
            let mut wait_ns = 0u64;
            let e = unsafe { (self.check)(self.store_data, &mut wait_ns) };
            if !e.is_null() {
                // Made by wasmtime_error_new: a Box we now own.
                return Err(Error::from(*unsafe { Box::from_raw(e) }));
            }
            let mut slice = (wait_ns != u64::MAX).then(|| Duration::from_nanos(wait_ns));
            if let Some(u) = until {
                let now = Instant::now();
                if now >= u && !first {
                    return Ok(None);
                }
                let left = u.saturating_duration_since(now);
                slice = Some(slice.map_or(left, |s| s.min(left)));
            }
            first = false;
            if let Some(v) = step(slice) {
                return Ok(Some(v));
            }
        }
    }

    fn wait_fd(&self, fd: RawFd, events: i16, until: Instant) -> Result<bool, Error> {
        let mut p = [libc::pollfd { fd, events, revents: 0 }];
        Ok(self.run(Some(until), |d| poll_fds(&mut p, d).then_some(()))?.is_some())
    }
}

/// One poll(2) of at most `d` (rounded up to whole ms). True: something is
/// ready (see each revents).
fn poll_fds(fds: &mut [libc::pollfd], d: Option<Duration>) -> bool {
    let ms = match d {
        None => -1,
        Some(d) => d.as_nanos().div_ceil(1_000_000).min(i32::MAX as u128) as i32,
    };
    for f in fds.iter_mut() {
        f.revents = 0;
    }
    let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
    n > 0
}

/// How long an operation may wait.
pub struct Limit {
    until: Instant,
    nonblocking: bool,
    ms: u64,
}

/// `guest`: none: the policy's timeout; some(0): do not wait; else the
/// smaller of the two.
pub fn limit(guest: Option<u32>, policy: Duration) -> Limit {
    let d = match guest {
        None => policy,
        Some(ms) => policy.min(Duration::from_millis(ms as u64)),
    };
    Limit { until: Instant::now() + d, nonblocking: guest == Some(0), ms: d.as_millis() as u64 }
}

impl Limit {
    fn expired(&self, what: &str) -> NetError {
        if self.nonblocking {
            err("would-block", format!("{what} would block"))
        } else {
            err("timeout", format!("{what} timed out after {} ms", self.ms))
        }
    }
}

fn io_err(e: &io::Error, what: &str) -> NetError {
    use io::ErrorKind as K;
    let kind = match e.kind() {
        K::ConnectionRefused => "refused",
        K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe => "reset",
        K::TimedOut => "timeout",
        K::NotConnected => "closed",
        _ => match e.raw_os_error() {
            Some(libc::ENETUNREACH | libc::EHOSTUNREACH | libc::ENETDOWN | libc::EADDRNOTAVAIL) => {
                "unreachable"
            }
            _ => "reset",
        },
    };
    err(kind, format!("{what}: {e}"))
}

enum Io<T> {
    Done(T),
    Want(i16),
    Fail(NetError),
}

fn tcp_io(r: io::Result<usize>, want: i16, what: &str) -> Io<usize> {
    match r {
        Ok(n) => Io::Done(n),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock || e.kind() == io::ErrorKind::Interrupted => {
            Io::Want(want)
        }
        Err(e) => Io::Fail(io_err(&e, what)),
    }
}

/// An OpenSSL result; `eof_ok`: a close (with or without close_notify)
/// reads as end of stream, as Python's suppress_ragged_eofs does.
fn ssl_io<T: Default>(r: Result<T, openssl::ssl::Error>, eof_ok: bool, what: &str) -> Io<T> {
    match r {
        Ok(v) => Io::Done(v),
        Err(e) => match e.code() {
            ErrorCode::WANT_READ => Io::Want(libc::POLLIN),
            ErrorCode::WANT_WRITE => Io::Want(libc::POLLOUT),
            ErrorCode::ZERO_RETURN if eof_ok => Io::Done(T::default()),
            ErrorCode::ZERO_RETURN => Io::Fail(err("closed", format!("{what}: the peer closed the TLS session"))),
            ErrorCode::SYSCALL => match e.io_error() {
                Some(io) if io.kind() == io::ErrorKind::WouldBlock => Io::Want(libc::POLLIN | libc::POLLOUT),
                Some(io) => Io::Fail(io_err(io, what)),
                None if eof_ok => Io::Done(T::default()),
                None => Io::Fail(err("closed", format!("{what}: the peer closed the connection"))),
            },
            _ => Io::Fail(err("tls", format!("{what}: {e}"))),
        },
    }
}

/// Runs `op` until it is done or fails, waiting for what it wants.
fn drive<T>(w: &Waiter, fd: RawFd, lim: &Limit, what: &str, mut op: impl FnMut() -> Io<T>) -> Res<T> {
    loop {
        match op() {
            Io::Done(v) => return Ok(Ok(v)),
            Io::Fail(e) => return Ok(Err(e)),
            Io::Want(ev) => {
                if !w.wait_fd(fd, ev, lim.until)? {
                    return Ok(Err(lim.expired(what)));
                }
            }
        }
    }
}

/// Writes all of `bytes`, within `lim` (retrying a TLS write with the same
/// bytes, as OpenSSL wants).
fn write_all(w: &Waiter, fd: RawFd, stream: &mut Stream, lim: &Limit, bytes: &[u8]) -> Res<()> {
    let mut off = 0;
    while off < bytes.len() {
        let r = match stream {
            Stream::Tcp(s) => drive(w, fd, lim, "send", || tcp_io(s.write(&bytes[off..]), libc::POLLOUT, "send"))?,
            Stream::Tls(s, true) => {
                let chunk = &bytes[off..bytes.len().min(off + (64 << 10))];
                drive(w, fd, lim, "send", || ssl_io(s.ssl_write(chunk), false, "send"))?
            }
            Stream::Tls(_, false) => Err(invalid("the TLS handshake is not finished")),
            Stream::Broken(why) => Err(err("closed", why.clone())),
        };
        match r {
            Ok(0) => return Ok(Err(err("reset", "send: the connection took no bytes"))),
            Ok(n) => off += n,
            Err(e) => return Ok(Err(e)),
        }
    }
    Ok(Ok(()))
}

enum Stream {
    Tcp(TcpStream),
    /// The bool: the handshake is done.
    Tls(Box<SslStream<TcpStream>>, bool),
    /// Unusable (a failed handshake); why.
    Broken(String),
}

struct Conn {
    stream: Stream,
    fd: RawFd,
    peer: SocketAddr,
    local: SocketAddr,
    /// The port the guest connected to (the rewriter has the host).
    port: u16,
    /// Some when a secret may go to the target (secrets.rs).
    rw: Option<Rewriter>,
}

/// What one execution's connections added up to (C reads it at the end).
#[repr(C)]
#[derive(Default, Clone, Copy)]
pub struct Stats {
    pub bytes_sent: u64,
    pub bytes_received: u64,
    pub connections: u32,
}

#[derive(Default)]
pub struct Table {
    conns: HashMap<u32, Conn>,
    next: u32,
    pub stats: Stats,
    /// This execution's secrets (eryx__net_table_set_secrets).
    pub secrets: Option<Arc<Installed>>,
}

fn invalid(msg: impl Into<String>) -> NetError {
    err("invalid", msg)
}

fn unknown(h: u32) -> NetError {
    invalid(format!("no connection has handle {h}"))
}

/// A thread that leaves the application's asynchronous signals (SIGINT,
/// SIGTERM, ...) to the application's own threads, as liberyx's threads do
/// (eryx__thread_start in src/runtime.c): it starts with them blocked, so
/// a Ctrl-C can never be taken by a DNS lookup. Synchronous fault signals
/// stay open (Wasmtime's traps need them).
fn spawn_without_signals<F: FnOnce() + Send + 'static>(
    name: &str,
    f: F,
) -> io::Result<std::thread::JoinHandle<()>> {
    // SAFETY: sigset_t is plain data, set up by sigfillset before use; the
    // masks are this thread's own and put back before returning.
    unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        for sig in [libc::SIGSEGV, libc::SIGBUS, libc::SIGILL, libc::SIGFPE, libc::SIGTRAP] {
            libc::sigdelset(&mut all, sig);
        }
        libc::pthread_sigmask(libc::SIG_BLOCK, &all, &mut old);
        let r = std::thread::Builder::new().name(name.into()).spawn(f);
        libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
        r
    }
}

fn resolve(w: &Waiter, name: &str, port: u16, lim: &Limit) -> Res<Vec<IpAddr>> {
    if LOOKUPS.fetch_add(1, Ordering::SeqCst) >= MAX_LOOKUPS {
        LOOKUPS.fetch_sub(1, Ordering::SeqCst);
        return Ok(Err(err("limit", "too many DNS lookups are in flight on this host")));
    }
    let (tx, rx) = mpsc::sync_channel(1);
    let n = name.to_string();
    let spawned = spawn_without_signals("eryx-dns", move || {
        let r = (n.as_str(), port)
            .to_socket_addrs()
            .map(|it| it.map(|a| a.ip()).collect::<Vec<_>>());
        let _ = tx.send(r);
        LOOKUPS.fetch_sub(1, Ordering::SeqCst);
    });
    if spawned.is_err() {
        LOOKUPS.fetch_sub(1, Ordering::SeqCst);
        return Ok(Err(err("dns", format!("cannot resolve '{name}': no thread for the lookup"))));
    }
    let got = w.run(Some(lim.until), |d| {
        let r = match d {
            None => rx.recv().map_err(|_| mpsc::RecvTimeoutError::Disconnected),
            Some(d) => rx.recv_timeout(d),
        };
        match r {
            Ok(v) => Some(v),
            Err(mpsc::RecvTimeoutError::Timeout) => None,
            Err(mpsc::RecvTimeoutError::Disconnected) => Some(Err(io::Error::other("lookup failed"))),
        }
    })?;
    Ok(match got {
        None => Err(lim.expired(&format!("resolving '{name}'"))),
        Some(Err(e)) => Err(err("dns", format!("cannot resolve '{name}': {e}"))),
        Some(Ok(v)) if v.is_empty() => Err(err("dns", format!("'{name}' has no address"))),
        Some(Ok(v)) => Ok(v),
    })
}

fn connect_one(w: &Waiter, addr: SocketAddr, lim: &Limit) -> Res<TcpStream> {
    let what = format!("connecting to {addr}");
    let sock = match Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP)) {
        Ok(s) => s,
        Err(e) => return Ok(Err(io_err(&e, &what))),
    };
    if let Err(e) = sock.set_nonblocking(true) {
        return Ok(Err(io_err(&e, &what)));
    }
    match sock.connect(&addr.into()) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {
            if !w.wait_fd(sock.as_raw_fd(), libc::POLLOUT, lim.until)? {
                return Ok(Err(lim.expired(&what)));
            }
            match sock.take_error() {
                Ok(None) => {}
                Ok(Some(e)) | Err(e) => return Ok(Err(io_err(&e, &what))),
            }
        }
        Err(e) => return Ok(Err(io_err(&e, &what))),
    }
    let s: TcpStream = sock.into();
    let _ = s.set_nodelay(true);
    Ok(Ok(s))
}

fn show(a: &SocketAddr) -> String {
    a.to_string() // "ip:port", "[v6]:port"
}

impl Table {
    fn open(&self) -> usize {
        self.conns.values().filter(|c| !matches!(c.stream, Stream::Broken(_))).count()
    }

    fn get(&mut self, h: u32) -> Result<&mut Conn, NetError> {
        self.conns.get_mut(&h).ok_or_else(|| unknown(h))
    }

    fn new_handle(&mut self) -> u32 {
        loop {
            self.next = self.next.wrapping_add(1);
            if self.next != 0 && !self.conns.contains_key(&self.next) {
                return self.next;
            }
        }
    }

    pub fn connect(&mut self, p: &Policy, w: &Waiter, host: &str, port: u16, t: Option<u32>) -> Res<u32> {
        if port == 0 {
            return Ok(Err(invalid("port 0 is not a port one can connect to")));
        }
        let h = match parse_host(host) {
            Ok(h) => h,
            Err(e) => return Ok(Err(invalid(e))),
        };
        if let Err(m) = p.rules.check_name(&h, port) {
            return Ok(Err(err("denied", m)));
        }
        if self.open() >= p.max_connections as usize {
            return Ok(Err(err(
                "limit",
                format!("{} connections are open, the most max_connections allows", p.max_connections),
            )));
        }
        let lim = limit(t, p.connect_timeout);
        let addrs = match &h {
            Host::Ip(ip) => vec![*ip],
            // RFC 6761: localhost names are loopback, never asked of DNS.
            Host::Name(_) if h.is_loopback_name() => {
                vec![IpAddr::V4(Ipv4Addr::LOCALHOST), IpAddr::V6(Ipv6Addr::LOCALHOST)]
            }
            Host::Name(n) => match resolve(w, n, port, &lim)? {
                Ok(v) => v,
                Err(e) => return Ok(Err(e)),
            },
        };
        let mut first_denial = None;
        let mut vetted = Vec::new();
        for ip in addrs {
            match p.rules.vet(ip, port) {
                Ok(()) if !vetted.contains(&ip) => vetted.push(ip),
                Ok(()) => {}
                Err(m) => {
                    first_denial.get_or_insert(m);
                }
            }
        }
        if vetted.is_empty() {
            let m = first_denial.unwrap_or_else(|| "no address to connect to".into());
            return Ok(Err(err("denied", m)));
        }
        let mut last = None;
        for ip in vetted {
            match connect_one(w, SocketAddr::new(ip, port), &lim)? {
                Ok(s) => {
                    let (peer, local) = match (s.peer_addr(), s.local_addr()) {
                        (Ok(a), Ok(b)) => (a, b),
                        (Err(e), _) | (_, Err(e)) => return Ok(Err(io_err(&e, "connected socket"))),
                    };
                    let fd = s.as_raw_fd();
                    let handle = self.new_handle();
                    let rw = self.secrets.as_ref().and_then(|set| Rewriter::for_target(set, &h, port));
                    self.conns.insert(handle, Conn { stream: Stream::Tcp(s), fd, peer, local, port, rw });
                    self.stats.connections += 1;
                    return Ok(Ok(handle));
                }
                Err(e) => {
                    let stop = e.kind == "timeout" || e.kind == "would-block";
                    last = Some(e);
                    if stop {
                        break; // the time is used up
                    }
                }
            }
        }
        Ok(Err(last.unwrap_or_else(|| err("unreachable", "no address answered"))))
    }

    pub fn start_tls(
        &mut self,
        p: &Policy,
        w: &Waiter,
        h: u32,
        server_name: &str,
        alpn: &[String],
        t: Option<u32>,
    ) -> Res<TlsInfo> {
        let name = server_name
            .strip_prefix('[')
            .and_then(|s| s.strip_suffix(']'))
            .unwrap_or(server_name);
        if let Err(e) = parse_host(name) {
            return Ok(Err(invalid(format!("server-name: {e}"))));
        }
        if alpn.len() > 64 {
            return Ok(Err(invalid("more than 64 ALPN protocols")));
        }
        let c = match self.get(h) {
            Ok(c) => c,
            Err(e) => return Ok(Err(e)),
        };
        // A new stream for the rewriter: it goes on only for the secrets
        // also allowed at the name TLS verifies; what it held goes out in
        // the clear first, as the guest sent it before TLS.
        if let (Stream::Tcp(_), Some(rw), Ok(server)) = (&c.stream, c.rw.as_mut(), parse_host(name)) {
            let mut held = Scratch(Vec::new());
            if !rw.start_tls(&server, c.port, &mut held.0) {
                c.rw = None;
            }
            if !held.0.is_empty() {
                let lim = limit(None, p.io_timeout);
                if let Err(e) = write_all(w, c.fd, &mut c.stream, &lim, &held.0)? {
                    c.stream = Stream::Broken(format!("unusable: sending what preceded TLS failed: {}", e.message));
                    return Ok(Err(e));
                }
            }
        }
        match std::mem::replace(&mut c.stream, Stream::Broken(String::new())) {
            Stream::Tcp(tcp) => {
                let ssl = match p.tls.ssl(name, alpn) {
                    Ok(s) => s,
                    Err(e) => {
                        c.stream = Stream::Tcp(tcp);
                        return Ok(Err(invalid(e)));
                    }
                };
                match SslStream::new(ssl, tcp) {
                    Ok(s) => c.stream = Stream::Tls(Box::new(s), false),
                    Err(e) => {
                        c.stream = Stream::Broken(format!("TLS setup failed: {e}"));
                        return Ok(Err(err("tls", format!("TLS setup failed: {e}"))));
                    }
                }
            }
            Stream::Tls(s, false) => c.stream = Stream::Tls(s, false), // go on with the handshake
            Stream::Tls(s, true) => {
                c.stream = Stream::Tls(s, true);
                return Ok(Err(invalid("the connection already speaks TLS")));
            }
            Stream::Broken(why) => {
                c.stream = Stream::Broken(why.clone());
                return Ok(Err(err("closed", why)));
            }
        }
        let lim = limit(t, p.io_timeout);
        let fd = c.fd;
        let Stream::Tls(s, _) = &mut c.stream else { unreachable!() };
        let r = drive(w, fd, &lim, "the TLS handshake", || match s.connect() {
            Ok(()) => Io::Done(()),
            Err(e) => {
                let v = s.ssl().verify_result();
                if v != X509VerifyResult::OK {
                    return Io::Fail(err("tls-verify", format!("certificate verify failed: {}", v.error_string())));
                }
                match ssl_io::<()>(Err(e), false, "the TLS handshake") {
                    Io::Fail(mut e) if e.kind == "closed" => {
                        e.message = "the TLS handshake failed: the server closed the connection".into();
                        Io::Fail(e)
                    }
                    other => other,
                }
            }
        })?;
        match r {
            Ok(()) => {
                let (version, cipher, alpn, der, js) = super::tls::info(s.ssl());
                c.stream = match std::mem::replace(&mut c.stream, Stream::Broken(String::new())) {
                    Stream::Tls(s, _) => Stream::Tls(s, true),
                    other => other,
                };
                Ok(Ok(TlsInfo { version, cipher, alpn, peer_cert_der: der, peer_cert_json: js }))
            }
            Err(e) if e.kind == "would-block" => Ok(Err(e)),
            Err(e) => {
                c.stream = Stream::Broken(format!("unusable after a failed TLS handshake: {}", e.message));
                Ok(Err(e))
            }
        }
    }

    pub fn send(&mut self, p: &Policy, w: &Waiter, h: u32, data: &[u8], t: Option<u32>) -> Res<u32> {
        let c = match self.get(h) {
            Ok(c) => c,
            Err(e) => return Ok(Err(e)),
        };
        if data.is_empty() {
            return Ok(Ok(0));
        }
        let fd = c.fd;
        let mut lim = limit(t, p.io_timeout);
        if let Some(rw) = c.rw.as_mut().filter(|r| r.active()) {
            match &c.stream {
                Stream::Tls(_, false) => return Ok(Err(invalid("the TLS handshake is not finished"))),
                Stream::Broken(why) => return Ok(Err(err("closed", why.clone()))),
                _ => {}
            }
            // What the rewriter turns out must go out whole (it cannot be
            // taken back): a non-blocking send first checks that the socket
            // has room, then finishes within the policy's I/O timeout, as a
            // TLS send does. Failing part way, the connection is closed.
            if lim.nonblocking && !w.wait_fd(fd, libc::POLLOUT, lim.until)? {
                return Ok(Err(lim.expired("send")));
            }
            if lim.nonblocking {
                lim = limit(None, p.io_timeout);
            }
            let mut out = Scratch(Vec::new());
            let n = rw.feed(data, &mut out.0);
            if !out.0.is_empty() {
                if let Err(e) = write_all(w, fd, &mut c.stream, &lim, &out.0)? {
                    c.stream = Stream::Broken(format!("unusable after a send that failed part way: {}", e.message));
                    return Ok(Err(e));
                }
            }
            self.stats.bytes_sent += n as u64;
            return Ok(Ok(n as u32));
        }
        let r = match &mut c.stream {
            Stream::Tcp(s) => drive(w, fd, &lim, "send", || tcp_io(s.write(data), libc::POLLOUT, "send"))?,
            Stream::Tls(s, true) => {
                // OpenSSL wants a write it could not finish retried with the
                // same bytes, so once one starts it is finished here (within
                // the policy's I/O timeout) even for a non-blocking send;
                // a non-blocking send first checks that the socket has room.
                if lim.nonblocking && !w.wait_fd(fd, libc::POLLOUT, lim.until)? {
                    return Ok(Err(lim.expired("send")));
                }
                if lim.nonblocking {
                    lim = limit(None, p.io_timeout);
                }
                let chunk = &data[..data.len().min(64 << 10)];
                drive(w, fd, &lim, "send", || ssl_io(s.ssl_write(chunk), false, "send"))?
            }
            Stream::Tls(_, false) => return Ok(Err(invalid("the TLS handshake is not finished"))),
            Stream::Broken(why) => return Ok(Err(err("closed", why.clone()))),
        };
        if let Ok(n) = r {
            self.stats.bytes_sent += n as u64;
        }
        Ok(r.map(|n| n as u32))
    }

    pub fn recv(&mut self, p: &Policy, w: &Waiter, h: u32, max: u32, t: Option<u32>) -> Res<Vec<u8>> {
        let c = match self.get(h) {
            Ok(c) => c,
            Err(e) => return Ok(Err(e)),
        };
        if max == 0 {
            return Ok(Ok(Vec::new()));
        }
        let mut buf = vec![0u8; max.min(MAX_RECV) as usize];
        let fd = c.fd;
        let lim = limit(t, p.io_timeout);
        let r = match &mut c.stream {
            Stream::Tcp(s) => drive(w, fd, &lim, "recv", || tcp_io(s.read(&mut buf), libc::POLLIN, "recv"))?,
            Stream::Tls(s, true) => drive(w, fd, &lim, "recv", || ssl_io(s.ssl_read(&mut buf), true, "recv"))?,
            Stream::Tls(_, false) => return Ok(Err(invalid("the TLS handshake is not finished"))),
            Stream::Broken(why) => return Ok(Err(err("closed", why.clone()))),
        };
        Ok(r.map(|n| {
            self.stats.bytes_received += n as u64;
            buf.truncate(n);
            buf
        }))
    }

    pub fn shutdown(&mut self, p: &Policy, w: &Waiter, h: u32, how: u8) -> Res<()> {
        let c = match self.get(h) {
            Ok(c) => c,
            Err(e) => return Ok(Err(e)),
        };
        let how = match how {
            1 => Shutdown::Read,
            2 => Shutdown::Write,
            3 => Shutdown::Both,
            _ => return Ok(Err(invalid(format!("shutdown: how must be 1, 2 or 3, not {how}")))),
        };
        // The end of what the guest sends: a head still being collected goes
        // out as it is (there is no more of it).
        if let Some(rw) = c.rw.as_mut().filter(|r| r.pending() > 0 && how != Shutdown::Read) {
            let mut held = Scratch(Vec::new());
            rw.pass(&mut held.0);
            let lim = limit(None, p.io_timeout);
            if let Err(e) = write_all(w, c.fd, &mut c.stream, &lim, &held.0)? {
                return Ok(Err(e));
            }
        }
        Ok(Self::shutdown_stream(c, how))
    }

    fn shutdown_stream(c: &mut Conn, how: Shutdown) -> Result<(), NetError> {
        let tcp = match &mut c.stream {
            Stream::Tcp(s) => s,
            Stream::Tls(s, done) => {
                if *done && how != Shutdown::Read {
                    let _ = s.shutdown(); // close_notify, best effort
                }
                s.get_mut()
            }
            Stream::Broken(why) => return Err(err("closed", why.clone())),
        };
        match tcp.shutdown(how) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(()),
            Err(e) => Err(io_err(&e, "shutdown")),
        }
    }

    pub fn close(&mut self, h: u32) {
        self.conns.remove(&h);
    }

    pub fn addresses(&mut self, h: u32) -> Result<(String, String), NetError> {
        let c = self.get(h)?;
        Ok((show(&c.peer), show(&c.local)))
    }

    /// `wait`: the entries that are ready (unknown handles and broken
    /// connections count as ready, so that the next call reports them).
    pub fn wait(
        table: Option<&mut Table>,
        w: &Waiter,
        interest: &[(u32, u8)],
        timeout_ns: Option<u64>,
        callback_fd: RawFd,
    ) -> Result<Vec<(u32, u8)>, Error> {
        let mut ready = Vec::new();
        let mut fds = Vec::new();
        let mut watched = Vec::new();
        for &(h, want) in interest.iter().take(MAX_WAIT) {
            let want = want & 3;
            if want == 0 {
                continue;
            }
            let c = table.as_ref().and_then(|t| t.conns.get(&h));
            match c.map(|c| (&c.stream, c.fd)) {
                None | Some((Stream::Broken(_), _)) => ready.push((h, want)),
                Some((Stream::Tls(s, true), _)) if want & 1 != 0 && s.ssl().pending() > 0 => ready.push((h, 1)),
                Some((_, fd)) => {
                    let mut ev = 0;
                    if want & 1 != 0 {
                        ev |= libc::POLLIN;
                    }
                    if want & 2 != 0 {
                        ev |= libc::POLLOUT;
                    }
                    fds.push(libc::pollfd { fd, events: ev, revents: 0 });
                    watched.push((h, want));
                }
            }
        }
        let now = Instant::now();
        let until = if !ready.is_empty() {
            Some(now)
        } else {
            timeout_ns.and_then(|ns| now.checked_add(Duration::from_nanos(ns)))
        };
        if callback_fd >= 0 {
            fds.push(libc::pollfd { fd: callback_fd, events: libc::POLLIN, revents: 0 });
        }
        w.run(until, |d| poll_fds(&mut fds, d).then_some(()))?;
        for (i, &(h, want)) in watched.iter().enumerate() {
            let r = fds[i].revents;
            let mut got = 0u8;
            if r & (libc::POLLIN | libc::POLLHUP | libc::POLLERR | libc::POLLNVAL) != 0 {
                got |= 1;
            }
            if r & (libc::POLLOUT | libc::POLLHUP | libc::POLLERR | libc::POLLNVAL) != 0 {
                got |= 2;
            }
            if got & want != 0 {
                ready.push((h, got & want));
            }
        }
        Ok(ready)
    }
}
