//! TLS clients with OpenSSL: one connector per policy (TLS 1.2 or later,
//! the system's roots plus the policy's CAs), one `Ssl` per connection
//! (SNI, hostname or IP verification against the name the guest asked for,
//! the guest's ALPN list), and what `tls-info` reports.
use openssl::ssl::{SslConnector, SslMethod, SslRef, SslVersion};
use openssl::x509::{X509NameRef, X509Ref, X509};
use serde_json::{json, Value};

pub struct Client {
    connector: SslConnector,
}

/// Reads one `root_certs` entry: PEM (one or more certificates) or DER.
fn parse_certs(data: &[u8]) -> Result<Vec<X509>, String> {
    if data.windows(10).any(|w| w == b"-----BEGIN") {
        let certs = X509::stack_from_pem(data).map_err(|e| format!("bad PEM: {e}"))?;
        if certs.is_empty() {
            return Err("no certificate in the PEM text".into());
        }
        Ok(certs)
    } else {
        X509::from_der(data)
            .map(|c| vec![c])
            .map_err(|e| format!("neither PEM nor a DER certificate: {e}"))
    }
}

/// Connectors already built, by the digest of their extra roots: sandboxes
/// with the same roots (most often none) share one SSL_CTX and its trust
/// store instead of each building and filling its own. Bounded: past
/// CACHE_MAX distinct root sets the oldest entry goes.
const CACHE_MAX: usize = 16;
static CACHE: std::sync::Mutex<Vec<([u8; 32], SslConnector)>> = std::sync::Mutex::new(Vec::new());

impl Client {
    pub fn new(extra_roots: &[&[u8]]) -> Result<Client, String> {
        let mut h = openssl::sha::Sha256::new();
        for r in extra_roots {
            h.update(&(r.len() as u64).to_le_bytes());
            h.update(r);
        }
        let key = h.finish();
        if let Ok(cache) = CACHE.lock() {
            if let Some((_, c)) = cache.iter().find(|(k, _)| *k == key) {
                return Ok(Client { connector: c.clone() });
            }
        }
        let client = Self::build(extra_roots)?;
        if let Ok(mut cache) = CACHE.lock() {
            if cache.len() >= CACHE_MAX {
                cache.remove(0);
            }
            cache.push((key, client.connector.clone()));
        }
        Ok(client)
    }

    fn build(extra_roots: &[&[u8]]) -> Result<Client, String> {
        let mut b = SslConnector::builder(SslMethod::tls_client())
            .map_err(|e| format!("OpenSSL: {e}"))?;
        b.set_min_proto_version(Some(SslVersion::TLS1_2))
            .map_err(|e| format!("OpenSSL: {e}"))?;
        // SslConnector::builder already loaded the system's default roots.
        for (i, data) in extra_roots.iter().enumerate() {
            let certs = parse_certs(data).map_err(|e| format!("root_certs[{i}]: {e}"))?;
            for c in certs {
                b.cert_store_mut()
                    .add_cert(c)
                    .map_err(|e| format!("root_certs[{i}]: {e}"))?;
            }
        }
        Ok(Client { connector: b.build() })
    }

    /// A client `Ssl` for `server_name` (a name or an IP literal) offering
    /// `alpn`.
    pub fn ssl(&self, server_name: &str, alpn: &[String]) -> Result<openssl::ssl::Ssl, String> {
        let mut cfg = self.connector.configure().map_err(|e| format!("OpenSSL: {e}"))?;
        if !alpn.is_empty() {
            let mut wire = Vec::new();
            for p in alpn {
                if p.is_empty() || p.len() > 255 {
                    return Err("an ALPN protocol name must be 1 to 255 bytes".into());
                }
                wire.push(p.len() as u8);
                wire.extend_from_slice(p.as_bytes());
            }
            if wire.len() > 65535 {
                return Err("the ALPN list is too long".into());
            }
            cfg.set_alpn_protos(&wire).map_err(|e| format!("ALPN: {e}"))?;
        }
        cfg.into_ssl(server_name).map_err(|e| format!("server name: {e}"))
    }
}

fn name_json(n: &X509NameRef) -> Value {
    // As Python: a tuple of RDNs, each a tuple of (long name, value).
    Value::Array(
        n.entries()
            .map(|e| {
                let key = e.object().nid().long_name().unwrap_or("UNDEF").to_string();
                let val = e
                    .data()
                    .to_string()
                    .unwrap_or_else(|_| String::from_utf8_lossy(e.data().as_slice()).into());
                json!([[key, val]])
            })
            .collect(),
    )
}

fn ip_text(b: &[u8]) -> String {
    match b.len() {
        4 => std::net::Ipv4Addr::new(b[0], b[1], b[2], b[3]).to_string(),
        16 => {
            // Python writes every group in full, upper case.
            let g: Vec<String> = b.chunks(2).map(|c| format!("{:X}", u16::from_be_bytes([c[0], c[1]]))).collect();
            g.join(":")
        }
        _ => "<invalid>".into(),
    }
}

/// What Python's `SSLSocket.getpeercert()` returns, as JSON.
pub fn cert_json(c: &X509Ref) -> String {
    let mut o = serde_json::Map::new();
    o.insert("subject".into(), name_json(c.subject_name()));
    o.insert("issuer".into(), name_json(c.issuer_name()));
    o.insert("version".into(), json!(c.version() + 1));
    if let Ok(bn) = c.serial_number().to_bn() {
        if let Ok(h) = bn.to_hex_str() {
            o.insert("serialNumber".into(), json!(h.to_string()));
        }
    }
    o.insert("notBefore".into(), json!(c.not_before().to_string()));
    o.insert("notAfter".into(), json!(c.not_after().to_string()));
    if let Some(sans) = c.subject_alt_names() {
        let list: Vec<Value> = sans
            .iter()
            .filter_map(|g| {
                if let Some(d) = g.dnsname() {
                    Some(json!(["DNS", d]))
                } else if let Some(ip) = g.ipaddress() {
                    Some(json!(["IP Address", ip_text(ip)]))
                } else if let Some(e) = g.email() {
                    Some(json!(["email", e]))
                } else {
                    g.uri().map(|u| json!(["URI", u]))
                }
            })
            .collect();
        if !list.is_empty() {
            o.insert("subjectAltName".into(), Value::Array(list));
        }
    }
    Value::Object(o).to_string()
}

/// (version, cipher, alpn, peer DER, peer JSON) of an established session.
pub fn info(ssl: &SslRef) -> (String, String, String, Vec<u8>, String) {
    let version = ssl.version_str().to_string();
    let cipher = ssl.current_cipher().map(|c| c.name().to_string()).unwrap_or_default();
    let alpn = ssl
        .selected_alpn_protocol()
        .map(|p| String::from_utf8_lossy(p).into_owned())
        .unwrap_or_default();
    let (der, js) = match ssl.peer_certificate() {
        Some(c) => (c.to_der().unwrap_or_default(), cert_json(&c)),
        None => (Vec::new(), "{}".into()),
    };
    (version, cipher, alpn, der, js)
}
