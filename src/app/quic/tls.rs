//! The TLS 1.3 hellos a QUIC Initial carries (RFC 8446 4.1.2, 4.1.3), read for the few fields
//! an observer sees: the ClientHello's server name (RFC 6066 3) and ALPN list (RFC 7301), the
//! ServerHello's cipher suite and selected version. A small bounds-checked reader over the
//! reassembled CRYPTO bytes (no record layer in QUIC); everything else is skipped.

use crate::text;

/// A handshake message that is not whole yet, or is not what it should be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hello<T> {
    /// More CRYPTO bytes are needed.
    Incomplete,
    /// The message was read.
    Read(T),
    /// Not a hello, or its fields do not fit its length.
    Malformed(&'static str),
}

/// What a ClientHello tells an observer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClientHello {
    /// The server name, escaped by the text policy (no raw control bytes).
    pub sni: Option<String>,
    /// The protocols offered, escaped by the text policy.
    pub alpn: Vec<String>,
}

/// What a ServerHello tells an observer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServerHello {
    /// The cipher suite chosen.
    pub cipher_suite: u16,
    /// The supported_versions extension's choice (0x0304 for TLS 1.3).
    pub version: Option<u16>,
}

const CLIENT_HELLO: u8 = 1;
const SERVER_HELLO: u8 = 2;
const EXT_SERVER_NAME: u16 = 0;
const EXT_ALPN: u16 = 16;
const EXT_SUPPORTED_VERSIONS: u16 = 43;
/// ALPN names kept from one hello.
const MAX_ALPN: usize = 16;

/// A cursor of big-endian TLS fields that cannot read past its slice (QUIC's CRYPTO stream
/// and DTLS's handshake fragments both read hellos with it).
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    /// A reader at the start of `buf`.
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Reader { buf, at: 0 }
    }
    pub(crate) fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let out = self.buf.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        Some(out)
    }
    pub(crate) fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }
    pub(crate) fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|b| u16::from_be_bytes([b[0], b[1]]))
    }
    pub(crate) fn vec8(&mut self) -> Option<&'a [u8]> {
        let n = self.u8()?;
        self.take(usize::from(n))
    }
    pub(crate) fn vec16(&mut self) -> Option<&'a [u8]> {
        let n = self.u16()?;
        self.take(usize::from(n))
    }
    pub(crate) fn done(&self) -> bool {
        self.at >= self.buf.len()
    }
}

/// The first handshake message of `crypto` with the type `want`, once it is whole.
fn message(crypto: &[u8], want: u8) -> Hello<&[u8]> {
    let Some(header) = crypto.get(..4) else {
        return Hello::Incomplete;
    };
    if header[0] != want {
        return Hello::Malformed("not the expected handshake message");
    }
    let len = usize::from(header[1]) << 16 | usize::from(header[2]) << 8 | usize::from(header[3]);
    match crypto.get(4..4 + len) {
        Some(body) => Hello::Read(body),
        None => Hello::Incomplete,
    }
}

/// Extensions of a hello body after its fixed fields, as (type, data) pairs.
fn extensions<'a>(r: &mut Reader<'a>, mut each: impl FnMut(u16, &'a [u8])) -> Option<()> {
    if r.done() {
        return Some(());
    }
    let list = r.vec16()?;
    let mut e = Reader { buf: list, at: 0 };
    while !e.done() {
        let kind = e.u16()?;
        let data = e.vec16()?;
        each(kind, data);
    }
    Some(())
}

/// Reads a ClientHello from the start of the client's Initial CRYPTO stream.
pub fn client_hello(crypto: &[u8]) -> Hello<ClientHello> {
    let body = match message(crypto, CLIENT_HELLO) {
        Hello::Read(body) => body,
        Hello::Incomplete => return Hello::Incomplete,
        Hello::Malformed(why) => return Hello::Malformed(why),
    };
    let mut hello = ClientHello::default();
    let mut r = Reader { buf: body, at: 0 };
    let mut bad = None;
    let read = (|| {
        r.take(2 + 32)?; // legacy_version, random
        r.vec8()?; // legacy_session_id
        r.vec16()?; // cipher_suites
        r.vec8()?; // legacy_compression_methods
        extensions(&mut r, |kind, data| match kind {
            EXT_SERVER_NAME => {
                let mut s = Reader { buf: data, at: 0 };
                let name = (|| {
                    let list = s.vec16()?;
                    let mut l = Reader { buf: list, at: 0 };
                    while !l.done() {
                        let kind = l.u8()?;
                        let name = l.vec16()?;
                        if kind == 0 {
                            return Some(name);
                        }
                    }
                    None
                })();
                match name {
                    Some(name) => hello.sni = Some(text::escape(name, text::LINE)),
                    None => bad = Some("server_name extension malformed"),
                }
            }
            EXT_ALPN => {
                let mut a = Reader { buf: data, at: 0 };
                let ok = (|| {
                    let list = a.vec16()?;
                    let mut l = Reader { buf: list, at: 0 };
                    while !l.done() {
                        let name = l.vec8()?;
                        if hello.alpn.len() < MAX_ALPN {
                            hello.alpn.push(text::escape(name, text::LINE));
                        }
                    }
                    Some(())
                })();
                if ok.is_none() {
                    bad = Some("alpn extension malformed");
                }
            }
            _ => {}
        })
    })();
    match (read, bad) {
        (Some(()), None) => Hello::Read(hello),
        (_, Some(why)) => Hello::Malformed(why),
        (None, None) => Hello::Malformed("client hello fields past its length"),
    }
}

/// Reads a ServerHello from the start of the server's Initial CRYPTO stream.
pub fn server_hello(crypto: &[u8]) -> Hello<ServerHello> {
    let body = match message(crypto, SERVER_HELLO) {
        Hello::Read(body) => body,
        Hello::Incomplete => return Hello::Incomplete,
        Hello::Malformed(why) => return Hello::Malformed(why),
    };
    let mut r = Reader { buf: body, at: 0 };
    let read = (|| {
        r.take(2 + 32)?;
        r.vec8()?;
        let cipher_suite = r.u16()?;
        r.u8()?;
        let mut version = None;
        extensions(&mut r, |kind, data| {
            if kind == EXT_SUPPORTED_VERSIONS && data.len() == 2 {
                version = Some(u16::from_be_bytes([data[0], data[1]]));
            }
        })?;
        Some(ServerHello {
            cipher_suite,
            version,
        })
    })();
    match read {
        Some(hello) => Hello::Read(hello),
        None => Hello::Malformed("server hello fields past its length"),
    }
}

/// The IANA name of the TLS 1.3 cipher suites QUIC uses (RFC 9001 5.3), else hex.
pub fn cipher_suite_name(suite: u16) -> String {
    match suite {
        0x1301 => "TLS_AES_128_GCM_SHA256".to_string(),
        0x1302 => "TLS_AES_256_GCM_SHA384".to_string(),
        0x1303 => "TLS_CHACHA20_POLY1305_SHA256".to_string(),
        0x1304 => "TLS_AES_128_CCM_SHA256".to_string(),
        other => format!("0x{other:04x}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client_hello_bytes(sni: &[u8], alpn: &[&[u8]]) -> Vec<u8> {
        let mut ext = Vec::new();
        let mut name = vec![0u8];
        name.extend((sni.len() as u16).to_be_bytes());
        name.extend(sni);
        let mut sn = (name.len() as u16).to_be_bytes().to_vec();
        sn.extend(name);
        ext.extend(0u16.to_be_bytes());
        ext.extend((sn.len() as u16).to_be_bytes());
        ext.extend(sn);
        let mut list = Vec::new();
        for p in alpn {
            list.push(p.len() as u8);
            list.extend(*p);
        }
        let mut al = (list.len() as u16).to_be_bytes().to_vec();
        al.extend(list);
        ext.extend(16u16.to_be_bytes());
        ext.extend((al.len() as u16).to_be_bytes());
        ext.extend(al);
        let mut body = vec![3, 3];
        body.extend([0u8; 32]);
        body.push(0);
        body.extend([0, 2, 0x13, 0x01]);
        body.extend([1, 0]);
        body.extend((ext.len() as u16).to_be_bytes());
        body.extend(ext);
        let mut m = vec![1, 0];
        m.extend((body.len() as u16).to_be_bytes());
        m.extend(body);
        m
    }

    #[test]
    fn client_hello_gives_sni_and_alpn_once_whole() {
        let m = client_hello_bytes(b"example.com", &[b"h3", b"hq-interop"]);
        assert_eq!(client_hello(&m[..m.len() - 1]), Hello::Incomplete);
        let Hello::Read(h) = client_hello(&m) else {
            panic!()
        };
        assert_eq!(h.sni.as_deref(), Some("example.com"));
        assert_eq!(h.alpn, ["h3", "hq-interop"]);
    }

    #[test]
    fn hostile_names_are_escaped_and_lying_lengths_refused() {
        let m = client_hello_bytes(b"evil\x1b[2J\xe2\x80\xae.test", &[b"h\x003"]);
        let Hello::Read(h) = client_hello(&m) else {
            panic!()
        };
        let sni = h.sni.unwrap();
        assert!(!sni.contains('\x1b') && !sni.contains('\u{202e}'), "{sni}");
        assert!(!h.alpn[0].contains('\0'));
        let mut m = client_hello_bytes(b"a", &[b"h3"]);
        // The extensions' length says more than the body holds.
        let at = m.len() - 2 - 5 - 2 - 4 - 6 - 2;
        m[at] = 0xff;
        assert!(matches!(client_hello(&m), Hello::Malformed(_)));
        assert!(matches!(client_hello(&[2, 0, 0, 0]), Hello::Malformed(_)));
    }

    #[test]
    fn server_hello_of_rfc_9001_a3() {
        // The CRYPTO frame's data of RFC 9001 A.3.
        let hex = "020000560303eefce7f7b37ba1d1632e96677825ddf73988cfc79825df566dc5430b9a045a1200130100002e00330024001d00209d3c940d89690b84d08a60993c144eca684d1081287c834d5311bcf32bb9da1a002b00020304";
        let b: Vec<u8> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect();
        assert_eq!(
            server_hello(&b),
            Hello::Read(ServerHello {
                cipher_suite: 0x1301,
                version: Some(0x0304)
            })
        );
        assert_eq!(cipher_suite_name(0x1301), "TLS_AES_128_GCM_SHA256");
    }
}
