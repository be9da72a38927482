//! Secrets: values that sandboxed code can have sent, in the headers of
//! HTTP/1.1 requests, to the hosts each secret allows, without ever seeing
//! them (issue 18). The guest only holds a placeholder per secret (made by C,
//! new for each execution); this file is the one place where a value leaves
//! the host, and only towards the network.
//!
//! C compiles the secrets once per sandbox (`eryx__net_secrets_new`: name,
//! value, allowed host patterns with the syntax and matcher of the policy's
//! `allowed_hosts`) and installs them, with this execution's placeholders,
//! into each execution's connection table (`eryx__net_table_set_secrets`).
//!
//! A connection whose vetted target (the host name the guest connected to,
//! as policy.rs normalised it, and the port; never a `Host:` header) matches
//! no secret's patterns gets no rewriter: its bytes go out as before. The
//! others get a `Rewriter` on their send path, before TLS: it collects each
//! request head up to its `\r\n\r\n`, parses it with httparse, and replaces
//! the placeholders of the secrets allowed there in header *values* only
//! (never the request line, never header names). The body goes out
//! unchanged while its framing (Content-Length or chunked) is followed to
//! the next pipelined head. Anything it cannot frame for certain switches
//! the connection to pass-through for good: then placeholders go out
//! unchanged and values never.
use std::ffi::c_char;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use super::policy::{Host, Pattern};
use super::EryxStr;

/// Most bytes of a request head the rewriter holds; a longer one is passed
/// through unchanged (and the connection with it).
pub const HEAD_CAP: usize = 64 << 10;
/// Most bytes of a head once its placeholders are replaced; past that the
/// head goes out unchanged and the connection passes through.
const OUT_HEAD_CAP: usize = 256 << 10;
/// Most bytes one `feed` turns out (a head may go past it once).
pub const OUT_CHUNK: usize = 64 << 10;
const MAX_HEADERS: usize = 256;
/// Most bytes of a chunk-size line's extensions, and of all trailers.
const MAX_CHUNK_EXT: usize = 4096;
const MAX_TRAILERS: usize = 64 << 10;
/// Limits on what C hands over.
const MAX_VALUE: usize = 16 << 10;
const MAX_NAME: usize = 256;
const MIN_PLACEHOLDER: usize = 8;
const MAX_PLACEHOLDER: usize = 256;

/// Methods whose requests are rewritten. Not TRACE (the server sends the
/// request back, headers included), not CONNECT (a tunnel follows).
const METHODS: [&[u8]; 7] = [b"GET", b"HEAD", b"POST", b"PUT", b"DELETE", b"OPTIONS", b"PATCH"];
/// Methods whose requests are expected to carry a body: without framing
/// headers they are passed through rather than taken as bodiless.
const BODY_METHODS: [&[u8]; 3] = [b"POST", b"PUT", b"PATCH"];

/// Overwrites `v` with zeros (best effort: not its spare capacity).
pub fn wipe(v: &mut [u8]) {
    for b in v.iter_mut() {
        // SAFETY: a valid &mut u8; volatile so the store is not elided.
        unsafe { std::ptr::write_volatile(b, 0) };
    }
    std::sync::atomic::compiler_fence(std::sync::atomic::Ordering::SeqCst);
}

/// A buffer that may hold secret values: wiped when dropped.
pub struct Scratch(pub Vec<u8>);

impl Drop for Scratch {
    fn drop(&mut self) {
        wipe(&mut self.0);
    }
}

/// One compiled secret. No Debug: the value is printed nowhere.
struct Secret {
    value: Vec<u8>,
    allowed: Vec<Pattern>,
}

impl Drop for Secret {
    fn drop(&mut self) {
        wipe(&mut self.value);
    }
}

/// A sandbox's secrets (`eryx_net_secrets`), in the order C gave them.
pub struct Secrets {
    list: Vec<Secret>,
}

/// What C holds: tables keep their own reference, so C may free this at
/// any time after installing it.
pub struct SecretsHandle(Arc<Secrets>);

/// The secrets of one execution: the compiled ones and their placeholders.
pub struct Installed {
    secrets: Arc<Secrets>,
    placeholders: Vec<Vec<u8>>,
}

impl Installed {
    /// The indexes of the secrets allowed at `host:port` (empty: none).
    fn allowed_at(&self, host: &Host, port: u16) -> Vec<usize> {
        (0..self.secrets.list.len())
            .filter(|&i| self.secrets.list[i].allowed.iter().any(|p| p.matches_host(host, port)))
            .collect()
    }
}

// ------------------------------------------------------------------ rewriter

#[derive(Clone, Copy, Debug, PartialEq)]
enum Chunk {
    /// In a chunk-size line: its value so far, hex digits seen, extension
    /// bytes seen (None: not in the extension yet).
    Size { n: u64, digits: u32, ext: Option<usize> },
    SizeLf { n: u64 },
    Data(u64),
    DataCr,
    DataLf,
    /// At the start of a trailer line (or of the final empty line).
    TrailerStart,
    TrailerLine,
    TrailerLf,
    EndLf,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Phase {
    /// Collecting a request head in `buf`.
    Head,
    /// In a Content-Length body: bytes left.
    Length(u64),
    Chunked(Chunk),
    /// For good: bytes go out unchanged.
    Pass,
}

/// The send-path rewriter of one connection (see the top of this file).
pub struct Rewriter {
    set: Arc<Installed>,
    /// The secrets that may go to this connection's target.
    allowed: Vec<usize>,
    phase: Phase,
    /// The head being collected (placeholders only, never a value).
    buf: Vec<u8>,
    /// How much of `buf` `plausible` has looked at; whether the request
    /// line was complete and good by then.
    checked: usize,
    line_ok: bool,
    trailer_bytes: usize,
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

impl Rewriter {
    /// A rewriter for a connection to `host:port`, or None when no secret
    /// may go there (the connection needs none).
    pub fn for_target(set: &Arc<Installed>, host: &Host, port: u16) -> Option<Rewriter> {
        let allowed = set.allowed_at(host, port);
        (!allowed.is_empty()).then(|| Rewriter {
            set: set.clone(),
            allowed,
            phase: Phase::Head,
            buf: Vec::new(),
            checked: 0,
            line_ok: false,
            trailer_bytes: 0,
        })
    }

    /// Whether bytes still go through `feed` (false: pass-through for good,
    /// nothing held).
    pub fn active(&self) -> bool {
        self.phase != Phase::Pass
    }

    /// Bytes of the guest's that were accepted but not sent yet (a head
    /// being collected).
    pub fn pending(&self) -> usize {
        self.buf.len()
    }

    /// TLS starts on the connection: a fresh stream. A rewriter that saw
    /// nothing but whole requests goes on, keeping only the secrets that
    /// the name TLS verifies (`server`) is allowed too; one in the middle of
    /// something switches to pass-through, handing back what it held to be
    /// sent in the clear first. False: no secret is left (drop it).
    pub fn start_tls(&mut self, server: &Host, port: u16, held: &mut Vec<u8>) -> bool {
        if self.phase != Phase::Head || !self.buf.is_empty() {
            self.pass(held);
            return false;
        }
        let set = self.set.clone();
        self.allowed.retain(|&i| set.secrets.list[i].allowed.iter().any(|p| p.matches_host(server, port)));
        (self.checked, self.line_ok) = (0, false);
        !self.allowed.is_empty()
    }

    /// Switches to pass-through for good, moving what it held to `out`.
    pub fn pass(&mut self, out: &mut Vec<u8>) {
        out.append(&mut self.buf);
        self.buf = Vec::new();
        self.phase = Phase::Pass;
    }

    /// Takes bytes of the guest's `data` (returns how many, at least one
    /// when `data` is not empty) and appends what must go out for them to
    /// `out` (about OUT_CHUNK bytes at most; a rewritten head may go past),
    /// which may hold secret values (the caller wipes it).
    pub fn feed(&mut self, data: &[u8], out: &mut Vec<u8>) -> usize {
        let (mut used, start) = (0, out.len());
        while used < data.len() && out.len() - start < OUT_CHUNK {
            let rest = &data[used..];
            let room = OUT_CHUNK - (out.len() - start);
            used += match self.phase {
                Phase::Pass => {
                    let n = rest.len().min(room);
                    out.extend_from_slice(&rest[..n]);
                    n
                }
                Phase::Head => self.head_step(rest, out),
                Phase::Length(left) => {
                    let n = (rest.len().min(room) as u64).min(left);
                    out.extend_from_slice(&rest[..n as usize]);
                    self.phase = if n == left { Phase::Head } else { Phase::Length(left - n) };
                    n as usize
                }
                Phase::Chunked(Chunk::Data(left)) => {
                    let n = (rest.len().min(room) as u64).min(left);
                    out.extend_from_slice(&rest[..n as usize]);
                    self.phase = Phase::Chunked(if n == left { Chunk::DataCr } else { Chunk::Data(left - n) });
                    n as usize
                }
                Phase::Chunked(c) => {
                    out.push(rest[0]);
                    self.phase = match self.chunk_byte(c, rest[0]) {
                        Some(next) => next,
                        None => Phase::Pass,
                    };
                    1
                }
            };
        }
        used
    }

    /// One byte of a chunked body outside chunk data. None: not framed for
    /// certain (pass through).
    fn chunk_byte(&mut self, c: Chunk, b: u8) -> Option<Phase> {
        let next = match c {
            Chunk::Size { n, digits, ext: None } if b.is_ascii_hexdigit() => {
                if digits >= 15 {
                    return None;
                }
                let d = (b as char).to_digit(16)? as u64;
                Chunk::Size { n: n * 16 + d, digits: digits + 1, ext: None }
            }
            Chunk::Size { digits: 0, .. } => return None,
            // An extension: ";" right after the size (no whitespace before
            // it, which servers disagree on), then no control byte but HTAB.
            Chunk::Size { n, digits, ext: None } if b == b';' => Chunk::Size { n, digits, ext: Some(0) },
            Chunk::Size { n, .. } if b == b'\r' => Chunk::SizeLf { n },
            Chunk::Size { n, digits, ext: Some(e) }
                if (b >= 0x20 || b == b'\t') && b != 0x7f && e < MAX_CHUNK_EXT =>
            {
                Chunk::Size { n, digits, ext: Some(e + 1) }
            }
            Chunk::Size { .. } => return None,
            Chunk::SizeLf { n: 0 } if b == b'\n' => {
                self.trailer_bytes = 0;
                Chunk::TrailerStart
            }
            Chunk::SizeLf { n } if b == b'\n' => Chunk::Data(n),
            Chunk::DataCr if b == b'\r' => Chunk::DataLf,
            Chunk::DataLf if b == b'\n' => Chunk::Size { n: 0, digits: 0, ext: None },
            Chunk::TrailerStart if b == b'\r' => Chunk::EndLf,
            Chunk::TrailerStart if is_tchar(b) => Chunk::TrailerLine,
            Chunk::TrailerLine if b == b'\r' => Chunk::TrailerLf,
            Chunk::TrailerLine if b != b'\n' => Chunk::TrailerLine,
            Chunk::TrailerLf if b == b'\n' => Chunk::TrailerStart,
            Chunk::EndLf if b == b'\n' => return Some(Phase::Head),
            _ => return None,
        };
        if matches!(next, Chunk::TrailerStart | Chunk::TrailerLine | Chunk::TrailerLf) {
            self.trailer_bytes += 1;
            if self.trailer_bytes > MAX_TRAILERS {
                return None;
            }
        }
        Some(Phase::Chunked(next))
    }

    /// Collects head bytes; on the head's end, rewrites it.
    fn head_step(&mut self, data: &[u8], out: &mut Vec<u8>) -> usize {
        let old = self.buf.len();
        let take = data.len().min(HEAD_CAP - old);
        self.buf.extend_from_slice(&data[..take]);
        let from = old.saturating_sub(3);
        if let Some(i) = find(&self.buf[from..], b"\r\n\r\n") {
            let end = from + i + 4;
            self.buf.truncate(end);
            // Checks the bytes up to the end too (the same rules as below).
            if !self.plausible() {
                self.pass(out);
            } else {
                let head = std::mem::take(&mut self.buf);
                self.checked = 0;
                self.line_ok = false;
                self.finish_head(head, out);
            }
            return end - old;
        }
        if !self.plausible() || self.buf.len() >= HEAD_CAP {
            self.pass(out);
        }
        take
    }

    /// Cheap checks on the bytes added since the last call, so that what is
    /// not an HTTP/1.1 request (another protocol, HTTP/2's preface, HTTP/0.9,
    /// bare LFs, folded header lines) is not held back waiting for a head.
    fn plausible(&mut self) -> bool {
        let b = &self.buf;
        let sp = b.iter().take(9).position(|&c| c == b' ');
        let ok_method = match sp {
            Some(i) => METHODS.contains(&&b[..i]),
            None if b.len() < 9 => METHODS.iter().any(|m| m.starts_with(b)),
            None => false,
        };
        if !ok_method {
            return false;
        }
        for i in self.checked..b.len() {
            let c = b[i];
            let prev = if i > 0 { b[i - 1] } else { 0 };
            if (c == b'\n') != (prev == b'\r') {
                return false; // a bare LF, or a CR not followed by LF
            }
            if prev == b'\n' && (c == b' ' || c == b'\t') {
                return false; // a folded (continued) header line
            }
            if c == b'\n' && !self.line_ok {
                if !b[..i - 1].ends_with(b" HTTP/1.1") {
                    return false;
                }
                self.line_ok = true;
            }
        }
        self.checked = b.len();
        true
    }

    /// A complete head (ending in CRLF CRLF): parses it, sets the framing of
    /// what follows and appends it to `out`, rewritten when it can be.
    fn finish_head(&mut self, head: Vec<u8>, out: &mut Vec<u8>) {
        match self.rewrite(&head) {
            Some((framing, rewritten)) => {
                self.phase = framing;
                match rewritten {
                    Some(r) => out.extend_from_slice(&r.0),
                    None => out.extend_from_slice(&head),
                }
            }
            None => {
                out.extend_from_slice(&head);
                self.phase = Phase::Pass;
            }
        }
    }

    /// None: not a head it can frame for certain. Else the phase after it
    /// and the rewritten head (None: nothing to replace).
    fn rewrite(&self, head: &[u8]) -> Option<(Phase, Option<Scratch>)> {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut req = httparse::Request::new(&mut headers);
        match req.parse(head) {
            Ok(httparse::Status::Complete(n)) if n == head.len() => {}
            _ => return None,
        }
        let method = req.method?.as_bytes();
        if !METHODS.contains(&method) || req.version != Some(1) {
            return None;
        }
        let (mut length, mut lengths, mut chunked, mut codings) = (None, 0, false, 0);
        for h in req.headers.iter() {
            let v = h.value;
            if h.name.eq_ignore_ascii_case("content-length") {
                lengths += 1;
                if v.is_empty() || v.len() > 18 || !v.iter().all(u8::is_ascii_digit) {
                    return None;
                }
                length = std::str::from_utf8(v).ok()?.parse::<u64>().ok();
            } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
                codings += 1;
                chunked = v.eq_ignore_ascii_case(b"chunked");
            } else if h.name.eq_ignore_ascii_case("upgrade") {
                return None; // another protocol may follow
            }
        }
        let phase = match (lengths, codings) {
            (0, 0) if BODY_METHODS.contains(&method) => return None,
            (0, 0) => Phase::Head,
            (1, 0) => match length? {
                0 => Phase::Head,
                n => Phase::Length(n),
            },
            (0, 1) if chunked => Phase::Chunked(Chunk::Size { n: 0, digits: 0, ext: None }),
            _ => return None, // both, repeated, or a coding other than chunked alone
        };
        // The value of each header, as offsets into `head`.
        let base = head.as_ptr() as usize;
        let ranges: Vec<(usize, usize)> = req
            .headers
            .iter()
            .map(|h| {
                let s = h.value.as_ptr() as usize - base;
                (s, s + h.value.len())
            })
            .collect();
        Some((phase, self.substitute(head, &ranges)))
    }

    /// `head` with the allowed placeholders replaced in the `ranges`; None
    /// when there is none to replace, or when the result would be too long
    /// (then the head goes out unchanged).
    fn substitute(&self, head: &[u8], ranges: &[(usize, usize)]) -> Option<Scratch> {
        let set = &self.set;
        let hit = |at: usize, end: usize| {
            self.allowed.iter().copied().find(|&i| {
                let p = &set.placeholders[i];
                at + p.len() <= end && head[at..].starts_with(p)
            })
        };
        // First the size, then the bytes.
        let mut size = head.len();
        let mut any = false;
        for &(s, e) in ranges {
            let mut at = s;
            while at < e {
                match hit(at, e) {
                    Some(i) => {
                        size = size - set.placeholders[i].len() + set.secrets.list[i].value.len();
                        at += set.placeholders[i].len();
                        any = true;
                    }
                    None => at += 1,
                }
            }
        }
        if !any || size > OUT_HEAD_CAP {
            return None;
        }
        let mut out = Scratch(Vec::with_capacity(size));
        let mut copied = 0;
        for &(s, e) in ranges {
            let mut at = s;
            while at < e {
                match hit(at, e) {
                    Some(i) => {
                        out.0.extend_from_slice(&head[copied..at]);
                        out.0.extend_from_slice(&set.secrets.list[i].value);
                        at += set.placeholders[i].len();
                        copied = at;
                    }
                    None => at += 1,
                }
            }
        }
        out.0.extend_from_slice(&head[copied..]);
        Some(out)
    }
}

// --------------------------------------------------------------------- C ABI

/// `eryx_net_secret_spec` of src/internal.h; the layout must match.
#[repr(C)]
pub struct SecretSpec {
    name: EryxStr,
    value: EryxStr,
    allowed_hosts: *const EryxStr,
    allowed_hosts_count: usize,
}

fn compile(specs: &[SecretSpec]) -> Result<Secrets, String> {
    let mut list = Vec::with_capacity(specs.len());
    let mut names: Vec<&[u8]> = Vec::new();
    for (i, s) in specs.iter().enumerate() {
        let name = super::str_bytes(&s.name);
        let name = std::str::from_utf8(name).map_err(|_| format!("secrets[{i}]: the name is not UTF-8"))?;
        if name.is_empty() || name.len() > MAX_NAME || name.contains(['\0', '=']) {
            return Err(format!(
                "secrets[{i}]: a name is 1 to {MAX_NAME} bytes without NUL or '='"
            ));
        }
        if names.contains(&name.as_bytes()) {
            return Err(format!("secrets[{i}]: the name '{name}' is given twice"));
        }
        names.push(name.as_bytes());
        let value = super::str_bytes(&s.value);
        // A value goes into a header: a CR or LF would start another.
        if value.is_empty() || value.len() > MAX_VALUE {
            return Err(format!("secret '{name}': the value must be 1 to {MAX_VALUE} bytes"));
        }
        if value.iter().any(|&b| (b < 0x20 && b != b'\t') || b == 0x7f) {
            return Err(format!(
                "secret '{name}': the value has a control character (CR, LF, NUL, ...), which no header value may hold"
            ));
        }
        let allowed = super::patterns(
            super::slice(s.allowed_hosts, s.allowed_hosts_count),
            &format!("secret '{name}': allowed_hosts"),
        )?;
        list.push(Secret { value: value.to_vec(), allowed });
    }
    Ok(Secrets { list })
}

/// Compiles `count` secrets (everything is copied); NULL with the reason in
/// `msg` (NUL-terminated, at most `cap` bytes; it never holds a value) when
/// one is bad.
#[unsafe(no_mangle)]
pub extern "C" fn eryx__net_secrets_new(
    specs: *const SecretSpec,
    count: usize,
    msg: *mut c_char,
    cap: usize,
) -> *mut SecretsHandle {
    let r = catch_unwind(|| {
        if specs.is_null() && count > 0 {
            return Err("secrets are NULL".to_string());
        }
        compile(super::slice(specs, count))
    });
    match r {
        Ok(Ok(s)) => Box::into_raw(Box::new(SecretsHandle(Arc::new(s)))),
        Ok(Err(e)) => {
            crate::json::write_msg(msg, cap, &e);
            std::ptr::null_mut()
        }
        Err(_) => {
            crate::json::write_msg(msg, cap, "internal error compiling the secrets");
            std::ptr::null_mut()
        }
    }
}

/// Frees what eryx__net_secrets_new made (NULL: nothing); tables it was
/// installed into keep their own reference.
#[unsafe(no_mangle)]
pub extern "C" fn eryx__net_secrets_free(s: *mut SecretsHandle) {
    if !s.is_null() {
        // SAFETY: made by eryx__net_secrets_new.
        let _ = catch_unwind(AssertUnwindSafe(|| drop(unsafe { Box::from_raw(s) })));
    }
}

fn check_placeholders(list: &[&[u8]]) -> Result<(), String> {
    for (i, p) in list.iter().enumerate() {
        if p.len() < MIN_PLACEHOLDER || p.len() > MAX_PLACEHOLDER || !p.iter().all(|b| b.is_ascii_graphic()) {
            return Err(format!(
                "placeholders[{i}]: a placeholder is {MIN_PLACEHOLDER} to {MAX_PLACEHOLDER} printable ASCII bytes without spaces"
            ));
        }
        for (j, q) in list.iter().enumerate() {
            if i != j && find(q, p).is_some() {
                return Err(format!("placeholders[{i}] is the same as, or part of, placeholders[{j}]"));
            }
        }
    }
    Ok(())
}

/// Installs `secrets` into `table` with this execution's placeholders
/// (`placeholders[i]` stands for the i-th secret; `count` must be the number
/// of secrets); connections opened afterwards use them. The table takes its
/// own reference to the secrets and copies the placeholders. `secrets`
/// NULL (and `count` 0) removes them. 0 on success; -1 with the reason in
/// `msg` (nothing installed).
#[unsafe(no_mangle)]
pub extern "C" fn eryx__net_table_set_secrets(
    table: *mut super::conn::Table,
    secrets: *const SecretsHandle,
    placeholders: *const EryxStr,
    count: usize,
    msg: *mut c_char,
    cap: usize,
) -> i32 {
    let r = catch_unwind(AssertUnwindSafe(|| {
        if table.is_null() {
            return Err("the connection table is NULL".to_string());
        }
        // SAFETY: made by eryx__net_table_new, not in use by another thread.
        let table = unsafe { &mut *table };
        if secrets.is_null() {
            if count != 0 {
                return Err("placeholders without secrets".to_string());
            }
            table.secrets = None;
            return Ok(());
        }
        // SAFETY: made by eryx__net_secrets_new.
        let s = unsafe { &*secrets };
        if count != s.0.list.len() {
            return Err(format!("{count} placeholders for {} secrets", s.0.list.len()));
        }
        if placeholders.is_null() && count > 0 {
            return Err("placeholders are NULL".to_string());
        }
        let list: Vec<&[u8]> = super::slice(placeholders, count).iter().map(super::str_bytes).collect();
        check_placeholders(&list)?;
        table.secrets = Some(Arc::new(Installed {
            secrets: s.0.clone(),
            placeholders: list.iter().map(|p| p.to_vec()).collect(),
        }));
        Ok(())
    }));
    let e = match r {
        Ok(Ok(())) => return 0,
        Ok(Err(e)) => e,
        Err(_) => "internal error installing the secrets".to_string(),
    };
    crate::json::write_msg(msg, cap, &e);
    -1
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::policy::parse_host;

    const PH: &[u8] = b"ERYX_SECRET_0123456789abcdef";

    fn rw(patterns: &[&str]) -> Rewriter {
        let s = Secrets {
            list: vec![Secret {
                value: b"tok3n".to_vec(),
                allowed: patterns.iter().map(|p| Pattern::parse(p).unwrap()).collect(),
            }],
        };
        let set = Arc::new(Installed { secrets: Arc::new(s), placeholders: vec![PH.to_vec()] });
        Rewriter::for_target(&set, &parse_host("api.example.com").unwrap(), 443).unwrap()
    }

    fn send_all(r: &mut Rewriter, data: &[u8], step: usize) -> Vec<u8> {
        let mut out = Vec::new();
        let mut at = 0;
        while at < data.len() {
            let end = (at + step).min(data.len());
            at += r.feed(&data[at..end], &mut out);
        }
        out
    }

    fn req(head_extra: &str, body: &str) -> Vec<u8> {
        let ph = std::str::from_utf8(PH).unwrap();
        format!("POST /{ph} HTTP/1.1\r\nHost: api\r\nAuthorization: Bearer {ph}\r\n{head_extra}\r\n{body}")
            .into_bytes()
    }

    #[test]
    fn header_value_only() {
        for step in [1, 2, 7, 1000] {
            let mut r = rw(&["api.example.com"]);
            let out = send_all(&mut r, &req("Content-Length: 5\r\n", "abcde"), step);
            let s = String::from_utf8(out).unwrap();
            assert!(s.contains("Authorization: Bearer tok3n\r\n"), "{s}");
            assert!(s.starts_with("POST /ERYX_SECRET_"), "{s}");
            assert!(s.ends_with("abcde"));
            assert!(r.active() && r.pending() == 0);
        }
    }

    #[test]
    fn no_target_no_rewriter() {
        let s = Secrets { list: vec![Secret { value: b"v".to_vec(), allowed: vec![] }] };
        let set = Arc::new(Installed { secrets: Arc::new(s), placeholders: vec![PH.to_vec()] });
        assert!(Rewriter::for_target(&set, &parse_host("api.example.com").unwrap(), 443).is_none());
    }

    #[test]
    fn pipelined_and_chunked() {
        let mut r = rw(&["*.example.com"]);
        let mut data = req("Transfer-Encoding: chunked\r\n", "3;x=y\r\nabc\r\n0\r\nT: 1\r\n\r\n");
        data.extend(req("Content-Length: 3\r\n", "xyz"));
        data.extend(req("Content-Length: 0\r\n", ""));
        for step in [1, 5, 100000] {
            let mut r2 = rw(&["*.example.com"]);
            let s = String::from_utf8(send_all(&mut r2, &data, step)).unwrap();
            assert_eq!(s.matches("Bearer tok3n").count(), 3, "{s}");
        }
        let _ = send_all(&mut r, &data, 3);
        assert!(r.active());
    }

    #[test]
    fn pass_through_cases() {
        let ph = std::str::from_utf8(PH).unwrap();
        let cases = [
            format!("GET / HTTP/1.1\r\nX: a\r\n b\r\nAuthorization: {ph}\r\n\r\n"),
            format!("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\nAuthorization: {ph}\r\n\r\n"),
            format!("GET / HTTP/1.0\r\nAuthorization: {ph}\r\n\r\n"),
            format!("TRACE / HTTP/1.1\r\nAuthorization: {ph}\r\n\r\n"),
            format!("CONNECT a:1 HTTP/1.1\r\nAuthorization: {ph}\r\n\r\n"),
            format!("GET / HTTP/1.1\nAuthorization: {ph}\r\n\r\n"),
            format!("GET / HTTP/1.1\r\nUpgrade: h2c\r\nAuthorization: {ph}\r\n\r\n"),
            format!("POST / HTTP/1.1\r\nAuthorization: {ph}\r\n\r\n"),
            format!("POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\nAuthorization: {ph}\r\n\r\n"),
            format!("POST / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\nAuthorization: {ph}\r\n\r\n"),
            format!("POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\nAuthorization: {ph}\r\n\r\n"),
            format!("HELLO {ph}\r\n\r\n"),
        ];
        for c in &cases {
            for step in [1, 4096] {
                let mut r = rw(&["api.example.com"]);
                let out = send_all(&mut r, c.as_bytes(), step);
                assert_eq!(out, c.as_bytes(), "{c}");
                assert!(!r.active(), "{c}");
            }
        }
        // A body that looks like a head is a body.
        let mut r = rw(&["api.example.com"]);
        let inner = format!("GET / HTTP/1.1\r\nAuthorization: {ph}\r\n\r\n");
        let data = req(&format!("Content-Length: {}\r\n", inner.len()), &inner);
        let s = String::from_utf8(send_all(&mut r, &data, 3)).unwrap();
        assert_eq!(s.matches("tok3n").count(), 1);
        assert!(s.ends_with(&inner));
        // A bad chunk: pass-through for the rest.
        let mut r = rw(&["api.example.com"]);
        let mut data = req("Transfer-Encoding: chunked\r\n", "zz\r\n");
        data.extend(inner.as_bytes());
        let s = String::from_utf8(send_all(&mut r, &data, 1)).unwrap();
        assert_eq!(s.matches("tok3n").count(), 1);
        assert!(!r.active());
    }

    #[test]
    fn head_cap() {
        let mut r = rw(&["api.example.com"]);
        let mut data = b"GET / HTTP/1.1\r\nX: ".to_vec();
        data.extend(std::iter::repeat_n(b'a', HEAD_CAP));
        let out = send_all(&mut r, &data, 1000);
        assert_eq!(out, data);
        assert!(!r.active());
    }
}
