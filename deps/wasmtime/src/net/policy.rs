//! The network policy: host patterns, host names and IP literals as the
//! guest spells them, and the vetting of every address before a connect.
//!
//! Rules, in order (see `Policy::check_name` and `Policy::vet`):
//! 1. A blocked pattern that matches the name (or the address) refuses:
//!    block beats allow.
//! 2. With a non-empty `allowed_hosts` and `allow_all_hosts` off, the name
//!    must match an allowed pattern ("localhost" and loopback literals also
//!    pass when `allow_localhost` is on).
//! 3. Every address the name resolves to (an IP literal is its own address)
//!    must be public, unless it is loopback and `allow_localhost` is on, or
//!    an allowed pattern is that very IP literal. IPv4 addresses embedded
//!    in IPv6 (mapped, compatible, NAT64, 6to4) are judged as the IPv4
//!    address they carry.
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// A host as the guest gave it, normalised.
#[derive(Clone, Debug, PartialEq)]
pub enum Host {
    Ip(IpAddr),
    /// Lower case, no trailing dot, labels of [a-z0-9_-].
    Name(String),
}

impl Host {
    pub fn is_loopback_name(&self) -> bool {
        matches!(self, Host::Name(n) if n == "localhost" || n.ends_with(".localhost"))
    }
}

/// Parses an IPv4 literal the way inet_aton (and so getaddrinfo) does:
/// one to four parts, each decimal, octal (leading 0) or hex (0x); the
/// last part fills the remaining bytes ("127.1", "2130706433").
pub fn parse_ipv4_loose(s: &str) -> Option<Ipv4Addr> {
    let parts: Vec<&str> = s.split('.').collect();
    if parts.is_empty() || parts.len() > 4 {
        return None;
    }
    let mut vals = Vec::with_capacity(4);
    for p in &parts {
        let (digits, radix) = if let Some(h) = p.strip_prefix("0x").or_else(|| p.strip_prefix("0X")) {
            (h, 16)
        } else if p.len() > 1 && p.starts_with('0') {
            (&p[1..], 8)
        } else {
            (*p, 10)
        };
        if digits.is_empty() && radix != 8 {
            return None;
        }
        if !digits.chars().all(|c| c.is_digit(radix)) {
            return None;
        }
        let v = if digits.is_empty() { 0 } else { u64::from_str_radix(digits, radix).ok()? };
        if v > u32::MAX as u64 {
            return None;
        }
        vals.push(v as u32);
    }
    let (last, head) = vals.split_last()?;
    if head.iter().any(|&v| v > 255) {
        return None;
    }
    let rest_bits = 8 * (4 - head.len() as u32);
    if rest_bits < 32 && (*last as u64) >= (1u64 << rest_bits) {
        return None;
    }
    let mut n: u32 = 0;
    for (i, v) in head.iter().enumerate() {
        n |= v << (24 - 8 * i as u32);
    }
    Some(Ipv4Addr::from(n | last))
}

/// Normalises a host: an IP literal in any spelling ("[::1]", "0x7f000001",
/// "127.1") or a DNS name. Refuses what getaddrinfo should never see.
pub fn parse_host(input: &str) -> Result<Host, String> {
    if input.is_empty() {
        return Err("empty host name".into());
    }
    if input.len() > 253 {
        return Err("host name longer than 253 bytes".into());
    }
    if input.bytes().any(|b| b == 0 || b.is_ascii_control() || b == b' ') {
        return Err("host name contains a NUL, space or control character".into());
    }
    if let Some(inner) = input.strip_prefix('[') {
        let inner = inner.strip_suffix(']').ok_or("unbalanced '[' in host")?;
        return inner
            .parse::<Ipv6Addr>()
            .map(|a| Host::Ip(IpAddr::V6(a)))
            .map_err(|_| format!("'{inner}' is not an IPv6 address"));
    }
    if input.contains(':') {
        return input
            .parse::<Ipv6Addr>()
            .map(|a| Host::Ip(IpAddr::V6(a)))
            .map_err(|_| format!("'{input}' is not a host name or IP address"));
    }
    let lower = input.to_ascii_lowercase();
    let name = lower.strip_suffix('.').unwrap_or(&lower);
    if let Some(a) = parse_ipv4_loose(name) {
        return Ok(Host::Ip(IpAddr::V4(a)));
    }
    check_name_labels(name, false)?;
    // A name whose last label is numeric is no DNS name (and some resolvers
    // would read it as an address): "1.2.3.4.5", "999.1.1.1".
    let last = name.rsplit('.').next().unwrap_or("");
    if last.bytes().all(|b| b.is_ascii_digit()) || name.starts_with("0x") && !name.contains('.') {
        return Err(format!("'{input}' is neither a valid IPv4 address nor a host name"));
    }
    Ok(Host::Name(name.to_string()))
}

fn check_name_labels(name: &str, wildcards: bool) -> Result<(), String> {
    if name.is_empty() {
        return Err("empty host name".into());
    }
    for label in name.split('.') {
        if wildcards && label == "*" {
            continue;
        }
        if label.is_empty() || label.len() > 63 {
            return Err(format!("'{name}' has an empty label or one longer than 63 bytes"));
        }
        if !label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
            return Err(format!("'{name}' has characters a host name cannot have"));
        }
    }
    Ok(())
}

/// What kind of non-public address `ip` is (None: public). `loopback` is
/// set for loopback addresses (the ones `allow_localhost` allows).
pub struct Class {
    pub what: String,
    pub loopback: bool,
}

/// The IPv4 address an IPv6 address carries: IPv4-mapped ::ffff:a.b.c.d,
/// IPv4-compatible ::a.b.c.d, NAT64 64:ff9b::/96 and 64:ff9b:1::/48,
/// 6to4 2002:aabb:ccdd::/48.
pub fn embedded_v4(a: &Ipv6Addr) -> Option<(Ipv4Addr, &'static str)> {
    let s = a.segments();
    let o = a.octets();
    let tail = Ipv4Addr::new(o[12], o[13], o[14], o[15]);
    if s[..5] == [0, 0, 0, 0, 0] && s[5] == 0xffff {
        return Some((tail, "IPv4-mapped"));
    }
    if s[..6] == [0; 6] && !(s[6] == 0 && s[7] <= 1) {
        return Some((tail, "IPv4-compatible"));
    }
    if s[0] == 0x64 && s[1] == 0xff9b && (s[2..6] == [0; 4] || s[2] == 1) {
        return Some((tail, "NAT64"));
    }
    if s[0] == 0x2002 {
        return Some((Ipv4Addr::new(o[2], o[3], o[4], o[5]), "6to4"));
    }
    None
}

fn class_v4(a: Ipv4Addr) -> Option<(&'static str, bool)> {
    let o = a.octets();
    let n = u32::from(a);
    let within = |net: u32, bits: u32| (n ^ net) >> (32 - bits) == 0;
    Some(match () {
        _ if o[0] == 127 => ("loopback", true),
        _ if o[0] == 0 => ("unspecified (0.0.0.0/8)", false),
        _ if o[0] == 10 || within(0xac10_0000, 12) || within(0xc0a8_0000, 16) => ("private", false),
        _ if within(0x6440_0000, 10) => ("shared (CGNAT 100.64.0.0/10)", false),
        _ if within(0xa9fe_0000, 16) => ("link-local", false),
        _ if within(0xc000_0000, 24) => ("IETF protocol (192.0.0.0/24)", false),
        _ if within(0xc000_0200, 24) || within(0xc633_6400, 24) || within(0xcb00_7100, 24) => {
            ("documentation", false)
        }
        _ if within(0xc058_6300, 24) => ("6to4 relay (192.88.99.0/24)", false),
        _ if within(0xc612_0000, 15) => ("benchmarking (198.18.0.0/15)", false),
        _ if n == u32::MAX => ("broadcast", false),
        _ if o[0] >= 224 && o[0] < 240 => ("multicast", false),
        _ if o[0] >= 240 => ("reserved (240.0.0.0/4)", false),
        _ => return None,
    })
}

fn class_v6(a: &Ipv6Addr) -> Option<(&'static str, bool)> {
    let s = a.segments();
    Some(match () {
        _ if a.is_unspecified() => ("unspecified", false),
        _ if a.is_loopback() => ("loopback", true),
        _ if s[0] & 0xfe00 == 0xfc00 => ("unique local (fc00::/7)", false),
        _ if s[0] & 0xffc0 == 0xfe80 => ("link-local", false),
        _ if s[0] & 0xffc0 == 0xfec0 => ("site-local", false),
        _ if s[0] & 0xff00 == 0xff00 => ("multicast", false),
        _ if (s[0] == 0x2001 && s[1] == 0x0db8) || s[0] & 0xfff0 == 0x3ff0 => ("documentation", false),
        _ if s[0] == 0x0100 && s[1..4] == [0, 0, 0] => ("discard-only (100::/64)", false),
        _ if s[0] == 0x2001 && s[1] < 0x0200 => ("IETF protocol (2001::/23)", false),
        _ if s[..6] == [0; 6] => ("reserved (::/96)", false),
        _ if s[0] == 0 => ("reserved (::/8)", false),
        _ => return None,
    })
}

pub fn classify(ip: IpAddr) -> Option<Class> {
    match ip {
        IpAddr::V4(a) => class_v4(a).map(|(w, l)| Class { what: w.into(), loopback: l }),
        IpAddr::V6(a) => {
            if let Some((v4, form)) = embedded_v4(&a) {
                // What an embedded IPv4 address would reach decides; a
                // public one embedded is still only reachable as itself.
                return class_v4(v4).map(|(w, l)| Class {
                    what: format!("{w} ({form} {v4})"),
                    loopback: l,
                });
            }
            class_v6(&a).map(|(w, l)| Class { what: w.into(), loopback: l })
        }
    }
}

/// One allow/block pattern.
#[derive(Debug)]
pub struct Pattern {
    text: String,
    host: PatHost,
    port: Option<u16>,
}

#[derive(Debug)]
enum PatHost {
    Ip(IpAddr),
    /// Labels; "*" matches one label, a leading "*" one or more.
    Name(Vec<String>),
}

fn same_ip(a: IpAddr, b: IpAddr) -> bool {
    let v4 = |ip: IpAddr| match ip {
        IpAddr::V4(v) => Some(v),
        IpAddr::V6(v) => embedded_v4(&v).map(|(x, _)| x),
    };
    a == b || matches!((v4(a), v4(b)), (Some(x), Some(y)) if x == y)
}

impl Pattern {
    pub fn parse(text: &str) -> Result<Pattern, String> {
        let t = text.trim();
        if t.is_empty() {
            return Err("empty pattern".into());
        }
        // Split off ":port": "[v6]:port", "name:port"; a bare IPv6 has no port.
        let (host, port) = if let Some(rest) = t.strip_prefix('[') {
            let end = rest.find(']').ok_or("unbalanced '['")?;
            let after = &rest[end + 1..];
            let port = match after.strip_prefix(':') {
                Some(p) => Some(p),
                None if after.is_empty() => None,
                None => return Err("junk after ']'".into()),
            };
            (&t[..end + 2], port)
        } else if t.matches(':').count() == 1 {
            let (h, p) = t.split_once(':').unwrap();
            (h, Some(p))
        } else {
            (t, None)
        };
        let port = match port {
            None => None,
            Some(p) => match p.parse::<u16>() {
                Ok(n) if n > 0 && p.bytes().all(|b| b.is_ascii_digit()) => Some(n),
                _ => return Err(format!("port '{p}' is not a number from 1 to 65535")),
            },
        };
        let host = if host.contains('*') {
            let lower = host.to_ascii_lowercase();
            let name = lower.strip_suffix('.').unwrap_or(&lower);
            check_name_labels(name, true)?;
            if name.split('.').all(|l| l == "*") && name.contains('.') {
                return Err("a pattern needs at least one label that is not '*'".into());
            }
            PatHost::Name(name.split('.').map(str::to_string).collect())
        } else {
            match parse_host(host)? {
                Host::Ip(ip) => PatHost::Ip(ip),
                Host::Name(n) => PatHost::Name(n.split('.').map(str::to_string).collect()),
            }
        };
        Ok(Pattern { text: t.to_string(), host, port })
    }

    fn port_ok(&self, port: u16) -> bool {
        self.port.is_none_or(|p| p == port)
    }

    pub fn matches_host(&self, host: &Host, port: u16) -> bool {
        if !self.port_ok(port) {
            return false;
        }
        match (&self.host, host) {
            (PatHost::Ip(p), Host::Ip(h)) => same_ip(*p, *h),
            (PatHost::Name(p), Host::Name(h)) => {
                let labels: Vec<&str> = h.split('.').collect();
                match_labels(p, &labels)
            }
            _ => false,
        }
    }

    pub fn matches_ip(&self, ip: IpAddr, port: u16) -> bool {
        self.port_ok(port) && matches!(self.host, PatHost::Ip(p) if same_ip(p, ip))
    }
}

fn match_labels(pat: &[String], host: &[&str]) -> bool {
    let one = |p: &String, h: &str| p == "*" || p == h;
    if pat.first().is_some_and(|p| p == "*") && pat.len() > 1 {
        let rest = &pat[1..];
        host.len() > rest.len()
            && rest.iter().zip(&host[host.len() - rest.len()..]).all(|(p, h)| one(p, h))
    } else {
        pat.len() == host.len() && pat.iter().zip(host).all(|(p, h)| one(p, h))
    }
}

/// The compiled rules (without TLS and limits, see `super::Policy`).
pub struct Rules {
    pub allowed: Vec<Pattern>,
    pub blocked: Vec<Pattern>,
    pub allow_all: bool,
    pub allow_localhost: bool,
}

impl Rules {
    /// Rules 1 and 2, on the name (or literal) before any resolution.
    pub fn check_name(&self, host: &Host, port: u16) -> Result<(), String> {
        if let Some(p) = self.blocked.iter().find(|p| p.matches_host(host, port)) {
            return Err(format!("blocked by pattern '{}'", p.text));
        }
        if self.allowed.is_empty() || self.allow_all {
            return Ok(());
        }
        if self.allowed.iter().any(|p| p.matches_host(host, port)) {
            return Ok(());
        }
        // allow_localhost stands for the patterns "localhost" and the
        // loopback addresses (other *.localhost names need a pattern).
        let loopback = match host {
            Host::Ip(ip) => classify(*ip).is_some_and(|c| c.loopback),
            Host::Name(n) => n == "localhost",
        };
        if loopback && self.allow_localhost {
            return Ok(());
        }
        let shown = match host {
            Host::Ip(IpAddr::V6(a)) => format!("[{a}]:{port}"),
            Host::Ip(a) => format!("{a}:{port}"),
            Host::Name(n) => format!("{n}:{port}"),
        };
        Err(format!("{shown} is not in allowed_hosts"))
    }

    /// Rule 3 (and rule 1 for IP patterns), on one resolved address.
    pub fn vet(&self, ip: IpAddr, port: u16) -> Result<(), String> {
        if let Some(p) = self.blocked.iter().find(|p| p.matches_ip(ip, port)) {
            return Err(format!("blocked by pattern '{}'", p.text));
        }
        let Some(class) = classify(ip) else { return Ok(()) };
        if class.loopback && self.allow_localhost {
            return Ok(());
        }
        if self.allowed.iter().any(|p| p.matches_ip(ip, port)) {
            return Ok(());
        }
        if class.loopback {
            Err(format!("{ip} is a {} address; allow_localhost is off", class.what))
        } else {
            Err(format!(
                "{ip} is a {} address, not a public one; only an allowed_hosts entry naming this IP allows it",
                class.what
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loose_ipv4() {
        let lo = Some(Ipv4Addr::new(127, 0, 0, 1));
        for s in ["2130706433", "0x7f000001", "0177.0.0.1", "127.1", "127.0.1", "0x7f.1"] {
            assert_eq!(parse_ipv4_loose(s), lo, "{s}");
        }
        assert_eq!(parse_ipv4_loose("256.0.0.1"), None);
        assert_eq!(parse_ipv4_loose("1.2.3.4.5"), None);
        assert_eq!(parse_ipv4_loose("127.0.0.256"), None);
    }

    #[test]
    fn classes() {
        for s in ["127.0.0.1", "10.1.2.3", "169.254.169.254", "100.64.0.1", "::ffff:127.0.0.1",
                  "::127.0.0.1", "64:ff9b::7f00:1", "fd00::1", "fe80::1", "::", "0.0.0.0",
                  "255.255.255.255", "224.0.0.1", "192.0.2.1", "198.18.0.1", "2002:7f00:1::"] {
            let ip: IpAddr = s.parse().unwrap();
            assert!(classify(ip).is_some(), "{s}");
        }
        for s in ["8.8.8.8", "2606:4700::1111", "1.1.1.1"] {
            assert!(classify(s.parse().unwrap()).is_none(), "{s}");
        }
    }

    #[test]
    fn patterns() {
        let p = Pattern::parse("*.example.com").unwrap();
        let h = |s: &str| parse_host(s).unwrap();
        assert!(p.matches_host(&h("a.example.com"), 1));
        assert!(p.matches_host(&h("a.b.example.com"), 1));
        assert!(!p.matches_host(&h("example.com"), 1));
        let p = Pattern::parse("api.*.internal:443").unwrap();
        assert!(p.matches_host(&h("api.x.internal"), 443));
        assert!(!p.matches_host(&h("api.x.internal"), 80));
        assert!(!p.matches_host(&h("api.x.y.internal"), 443));
        let p = Pattern::parse("[::1]:8080").unwrap();
        assert!(p.matches_host(&h("[::1]"), 8080));
        assert!(Pattern::parse("a b").is_err());
        assert!(Pattern::parse("x:0").is_err());
    }
}
