//! Initial packet protection as any observer can remove it (RFC 9001 5.2 and 5.4, RFC 9369
//! 3.3): secrets from the version's public salt and the client's first destination connection
//! id, HKDF-Expand-Label, AES-128-GCM for the payload and AES-128 on the 16-byte sample for the
//! header. Knows nothing of connections.

use aes::Aes128;
use aes::cipher::{BlockEncrypt, KeyInit, generic_array::GenericArray};
use aes_gcm::aead::AeadInPlace;
use aes_gcm::{Aes128Gcm, Nonce, Tag};
use hkdf::Hkdf;
use sha2::Sha256;

use super::packet::{Form, Header, SAMPLE_LEN, V1, V2, decode_packet_number};

/// RFC 9001 5.2's salt for version 1.
const SALT_V1: [u8; 20] = [
    0x38, 0x76, 0x2c, 0xf7, 0xf5, 0x59, 0x34, 0xb3, 0x4d, 0x17, 0x9a, 0xe6, 0xa4, 0xc8, 0x0c, 0xad,
    0xcc, 0xbb, 0x7f, 0x0a,
];
/// RFC 9369 3.3.1's salt for version 2.
const SALT_V2: [u8; 20] = [
    0x0d, 0xed, 0xe3, 0xde, 0xf7, 0x00, 0xa6, 0xdb, 0x81, 0x93, 0x81, 0xbe, 0x6e, 0x26, 0x9d, 0xcb,
    0xf9, 0xbd, 0x2e, 0xd9,
];
const TAG_LEN: usize = 16;

/// The labels of one version (RFC 9369 3.3.2 renames v1's "quic key" and friends).
struct Labels {
    salt: &'static [u8; 20],
    key: &'static [u8],
    iv: &'static [u8],
    hp: &'static [u8],
}

fn labels(version: u32) -> Option<Labels> {
    match version {
        V1 => Some(Labels {
            salt: &SALT_V1,
            key: b"quic key",
            iv: b"quic iv",
            hp: b"quic hp",
        }),
        V2 => Some(Labels {
            salt: &SALT_V2,
            key: b"quicv2 key",
            iv: b"quicv2 iv",
            hp: b"quicv2 hp",
        }),
        _ => None,
    }
}

/// HKDF-Expand-Label (RFC 8446 7.1) with an empty context.
fn expand_label(prk: &Hkdf<Sha256>, label: &[u8], out: &mut [u8]) {
    let mut info = [0u8; 2 + 1 + 6 + 16 + 1];
    let len = out.len() as u16;
    info[..2].copy_from_slice(&len.to_be_bytes());
    info[2] = (6 + label.len()) as u8;
    info[3..9].copy_from_slice(b"tls13 ");
    info[9..9 + label.len()].copy_from_slice(label);
    info[9 + label.len()] = 0;
    // Lengths of at most 255 × 32 bytes cannot fail; ours are 12 to 32.
    let _ = prk.expand(&info[..10 + label.len()], out);
}

/// One direction's Initial keys.
#[derive(Clone)]
pub struct DirectionKeys {
    aead: Aes128Gcm,
    iv: [u8; 12],
    hp: Aes128,
}

impl std::fmt::Debug for DirectionKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DirectionKeys(..)")
    }
}

/// The secrets and keys of one direction, for tests against the RFCs' vectors.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Material {
    /// client_initial_secret or server_initial_secret.
    pub secret: [u8; 32],
    /// The AEAD key.
    pub key: [u8; 16],
    /// The AEAD IV.
    pub iv: [u8; 12],
    /// The header protection key.
    pub hp: [u8; 16],
}

/// Both directions' Initial keys of one connection.
#[derive(Clone, Debug)]
pub struct InitialKeys {
    /// The client's packets.
    pub client: DirectionKeys,
    /// The server's packets.
    pub server: DirectionKeys,
}

/// The secrets and keys of both directions for `version` and the client's first destination
/// connection id; `None` for a version with no known salt.
pub fn material(version: u32, dcid: &[u8]) -> Option<(Material, Material)> {
    let labels = labels(version)?;
    let (_, initial) = Hkdf::<Sha256>::extract(Some(labels.salt), dcid);
    let side = |label: &[u8]| -> Option<Material> {
        let mut secret = [0u8; 32];
        expand_label(&initial, label, &mut secret);
        let prk = Hkdf::<Sha256>::from_prk(&secret).ok()?;
        let mut m = Material {
            secret,
            key: [0; 16],
            iv: [0; 12],
            hp: [0; 16],
        };
        expand_label(&prk, labels.key, &mut m.key);
        expand_label(&prk, labels.iv, &mut m.iv);
        expand_label(&prk, labels.hp, &mut m.hp);
        Some(m)
    };
    Some((side(b"client in")?, side(b"server in")?))
}

impl DirectionKeys {
    fn new(m: &Material) -> Self {
        DirectionKeys {
            aead: Aes128Gcm::new(GenericArray::from_slice(&m.key)),
            iv: m.iv,
            hp: Aes128::new(GenericArray::from_slice(&m.hp)),
        }
    }

    /// The header protection mask of a sample (RFC 9001 5.4.3).
    pub fn mask(&self, sample: &[u8; SAMPLE_LEN]) -> [u8; 16] {
        let mut block = GenericArray::clone_from_slice(sample);
        self.hp.encrypt_block(&mut block);
        block.into()
    }
}

impl InitialKeys {
    /// The keys for `version` and the client's first destination connection id.
    pub fn derive(version: u32, dcid: &[u8]) -> Option<Self> {
        let (client, server) = material(version, dcid)?;
        Some(InitialKeys {
            client: DirectionKeys::new(&client),
            server: DirectionKeys::new(&server),
        })
    }
}

/// A header with its protection removed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Unprotected {
    /// The first byte, unmasked.
    pub first: u8,
    /// The packet number's length on the wire (1 to 4).
    pub pn_len: usize,
    /// The truncated packet number as sent.
    pub truncated: u64,
    /// The packet number recovered against the largest seen.
    pub packet_number: u64,
}

/// Removes header protection (RFC 9001 5.4.1): `None` when the sample does not fit.
pub fn unprotect(
    keys: &DirectionKeys,
    datagram: &[u8],
    header: &Header<'_>,
    largest: Option<u64>,
) -> Option<Unprotected> {
    let sample = header.sample(datagram)?;
    let mask = keys.mask(sample);
    let low = if header.form == Form::Long {
        0x0f
    } else {
        0x1f
    };
    let first = header.first ^ (mask[0] & low);
    let pn_len = usize::from(first & 3) + 1;
    let pn = datagram.get(header.pn_offset..header.pn_offset + pn_len)?;
    let truncated = pn
        .iter()
        .zip(&mask[1..])
        .fold(0u64, |acc, (b, m)| (acc << 8) | u64::from(b ^ m));
    Some(Unprotected {
        first,
        pn_len,
        truncated,
        packet_number: decode_packet_number(largest, truncated, pn_len),
    })
}

/// Why a protected payload could not be opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpenError {
    /// Shorter than the sample or the AEAD tag.
    TooShort,
    /// The AEAD tag did not verify: not this connection's Initial keys (or altered bytes).
    Authentication,
}

/// Decrypts an Initial packet's payload into `plain` (reused; cleared first): removes header
/// protection, rebuilds the header as associated data and opens AES-128-GCM (RFC 9001 5.3).
pub fn open(
    keys: &DirectionKeys,
    datagram: &[u8],
    header: &Header<'_>,
    largest: Option<u64>,
    plain: &mut Vec<u8>,
) -> Result<Unprotected, OpenError> {
    let un = unprotect(keys, datagram, header, largest).ok_or(OpenError::TooShort)?;
    let payload_at = header.pn_offset + un.pn_len;
    let packet = datagram
        .get(header.start..header.end)
        .ok_or(OpenError::TooShort)?;
    let body = datagram
        .get(payload_at..header.end)
        .filter(|b| b.len() >= TAG_LEN)
        .ok_or(OpenError::TooShort)?;
    let (ciphertext, tag) = body.split_at(body.len() - TAG_LEN);
    // The associated data: the header as it was before protection.
    let mut aad = [0u8; 1 + 4 + 1 + 255 + 1 + 255 + 8 + 8 + 4];
    let header_len = payload_at - header.start;
    let Some(aad) = aad.get_mut(..header_len) else {
        // A token too large for the stack buffer: no Initial carries one (they are a few
        // dozen bytes); treat as unopenable rather than allocate for hostile input.
        return Err(OpenError::TooShort);
    };
    aad.copy_from_slice(&packet[..header_len]);
    aad[0] = un.first;
    let pn_at = header.pn_offset - header.start;
    for (i, b) in aad[pn_at..].iter_mut().enumerate() {
        *b = (un.truncated >> (8 * (un.pn_len - 1 - i))) as u8;
    }
    let mut nonce = keys.iv;
    for (n, p) in nonce[4..].iter_mut().zip(un.packet_number.to_be_bytes()) {
        *n ^= p;
    }
    plain.clear();
    plain.extend_from_slice(ciphertext);
    keys.aead
        .decrypt_in_place_detached(Nonce::from_slice(&nonce), aad, plain, Tag::from_slice(tag))
        .map_err(|_| OpenError::Authentication)?;
    Ok(un)
}

/// Builds a protected client Initial in `version` as a client would send it (RFC 9001 5):
/// the frames `plain` padded to a 1,200-byte datagram, a 4-byte packet number, AES-128-GCM,
/// header protection. For tests, fuzzing and fixtures; the dissector never seals.
pub fn seal_client_initial(
    version: u32,
    dcid: &[u8],
    scid: &[u8],
    pn: u32,
    plain: &[u8],
) -> Vec<u8> {
    let Some(keys) = InitialKeys::derive(version, dcid) else {
        return Vec::new();
    };
    let bits = super::packet::PacketType::Initial
        .long_bits(version)
        .unwrap_or(0);
    let mut out = vec![0xc3 | (bits << 4)];
    out.extend(version.to_be_bytes());
    out.push(dcid.len().min(255) as u8);
    out.extend(&dcid[..dcid.len().min(255)]);
    out.push(scid.len().min(255) as u8);
    out.extend(&scid[..scid.len().min(255)]);
    out.push(0); // no token
    // Padded so that the datagram is 1,200 bytes (RFC 9000 14.1), at least 20 bytes of payload
    // so that the sample fits; a 2-byte Length varint.
    let header_len = out.len() + 2 + 4;
    let body_len = plain
        .len()
        .max(1200usize.saturating_sub(header_len + TAG_LEN))
        .clamp(20, 16_000);
    let length = (4 + body_len + TAG_LEN) as u16;
    out.extend((0x4000 | length).to_be_bytes());
    let pn_at = out.len();
    out.extend(pn.to_be_bytes());
    let mut body = plain[..plain.len().min(body_len)].to_vec();
    body.resize(body_len, 0);
    let mut nonce = keys.client.iv;
    for (n, p) in nonce[4..].iter_mut().zip(u64::from(pn).to_be_bytes()) {
        *n ^= p;
    }
    let Ok(tag) =
        keys.client
            .aead
            .encrypt_in_place_detached(Nonce::from_slice(&nonce), &out, &mut body)
    else {
        return Vec::new();
    };
    out.extend(&body);
    out.extend(tag.as_slice());
    let sample: [u8; SAMPLE_LEN] = match out[pn_at + 4..pn_at + 4 + SAMPLE_LEN].try_into() {
        Ok(sample) => sample,
        Err(_) => return Vec::new(),
    };
    let mask = keys.client.mask(&sample);
    out[0] ^= mask[0] & 0x0f;
    for i in 0..4 {
        out[pn_at + i] ^= mask[1 + i];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::quic::packet::{Item, packets};

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    const DCID: &str = "8394c8f03e515708";

    #[test]
    fn v1_keys_match_rfc_9001_appendix_a1() {
        let (c, s) = material(V1, &hex(DCID)).unwrap();
        assert_eq!(
            c.secret.to_vec(),
            hex("c00cf151ca5be075ed0ebfb5c80323c4 2d6b7db67881289af4008f1f6c357aea")
        );
        assert_eq!(c.key.to_vec(), hex("1f369613dd76d5467730efcbe3b1a22d"));
        assert_eq!(c.iv.to_vec(), hex("fa044b2f42a3fd3b46fb255c"));
        assert_eq!(c.hp.to_vec(), hex("9f50449e04a0e810283a1e9933adedd2"));
        assert_eq!(
            s.secret.to_vec(),
            hex("3c199828fd139efd216c155ad844cc81 fb82fa8d7446fa7d78be803acdda951b")
        );
        assert_eq!(s.key.to_vec(), hex("cf3a5331653c364c88f0f379b6067e37"));
        assert_eq!(s.iv.to_vec(), hex("0ac1493ca1905853b0bba03e"));
        assert_eq!(s.hp.to_vec(), hex("c206b8d9b9f0f37644430b490eeaa314"));
    }

    #[test]
    fn v2_keys_match_rfc_9369_appendix_a1() {
        let (c, s) = material(V2, &hex(DCID)).unwrap();
        assert_eq!(
            c.secret.to_vec(),
            hex("14ec9d6eb9fd7af83bf5a668bc17a7e2 83766aade7ecd0891f70f9ff7f4bf47b")
        );
        assert_eq!(c.key.to_vec(), hex("8b1a0bc121284290a29e0971b5cd045d"));
        assert_eq!(c.iv.to_vec(), hex("91f73e2351d8fa91660e909f"));
        assert_eq!(c.hp.to_vec(), hex("45b95e15235d6f45a6b19cbcb0294ba9"));
        assert_eq!(
            s.secret.to_vec(),
            hex("0263db1782731bf4588e7e4d93b7463907cb8cd8200b5da55a8bd488eafc37c1")
        );
        assert_eq!(s.key.to_vec(), hex("82db637861d55e1d011f19ea71d5d2a7"));
        assert_eq!(s.iv.to_vec(), hex("dd13c276499c0249d3310652"));
        assert_eq!(s.hp.to_vec(), hex("edf6d05c83121201b436e16877593c3a"));
    }

    /// RFC 9001 A.3 / RFC 9369 A.3: the server's Initial, protected, with its ServerHello.
    fn server_initial(version: u32, protected: &str, plain_start: &str) {
        let keys = InitialKeys::derive(version, &hex(DCID)).unwrap();
        let d = hex(protected);
        let items: Vec<_> = packets(&d, |_| None).collect();
        let [Item::Packet(h)] = items[..] else {
            panic!("{items:?}")
        };
        let mut plain = Vec::new();
        let un = open(&keys.server, &d, &h, None, &mut plain).unwrap();
        assert_eq!(un.packet_number, 1);
        assert_eq!(un.pn_len, 2);
        assert!(plain.starts_with(&hex(plain_start)), "{plain:02x?}");
        // One flipped byte and the tag no longer verifies.
        let mut bad = d.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert_eq!(
            open(&keys.server, &bad, &h, None, &mut plain),
            Err(OpenError::Authentication)
        );
        // The client's keys do not open the server's packet.
        assert_eq!(
            open(&keys.client, &d, &h, None, &mut plain),
            Err(OpenError::Authentication)
        );
    }

    #[test]
    fn v1_server_initial_of_rfc_9001_a3_opens() {
        server_initial(
            V1,
            "cf000000010008f067a5502a4262b500 4075c0d95a482cd0991cd25b0aac406a
             5816b6394100f37a1c69797554780bb3 8cc5a99f5ede4cf73c3ec2493a1839b3
             dbcba3f6ea46c5b7684df3548e7ddeb9 c3bf9c73cc3f3bded74b562bfb19fb84
             022f8ef4cdd93795d77d06edbb7aaf2f 58891850abbdca3d20398c276456cbc4
             2158407dd074ee",
            "02000000000600405a020000560303ee fce7f7b37ba1d1632e96677825ddf739
             88cfc79825df566dc5430b9a045a1200 130100002e00330024001d00209d3c94
             0d89690b84d08a60993c144eca684d10 81287c834d5311bcf32bb9da1a002b00
             020304",
        );
    }

    #[test]
    fn v2_server_initial_of_rfc_9369_a3_opens() {
        server_initial(
            V2,
            "dc6b3343cf0008f067a5502a4262b500 4075d92faaf16f05d8a4398c47089698
             baeea26b91eb761d9b89237bbf872630 17915358230035f7fd3945d88965cf17
             f9af6e16886c61bfc703106fbaf3cb4c fa52382dd16a393e42757507698075b2
             c984c707f0a0812d8cd5a6881eaf21ce da98f4bd23f6fe1a3e2c43edd9ce7ca8
             4bed8521e2e140",
            "02000000000600405a020000560303ee fce7f7b37ba1d1632e96677825ddf739
             88cfc79825df566dc5430b9a045a1200 130100002e00330024001d00209d3c94
             0d89690b84d08a60993c144eca684d10 81287c834d5311bcf32bb9da1a002b00
             020304",
        );
    }

    #[test]
    fn header_protection_sample_of_rfc_9001_a2() {
        // A.2: sample d1b1c98dd7689fb8ec11d242b123dc9b gives mask 437b9aec36.
        let keys = InitialKeys::derive(V1, &hex(DCID)).unwrap();
        let sample: [u8; 16] = hex("d1b1c98dd7689fb8ec11d242b123dc9b").try_into().unwrap();
        assert_eq!(keys.client.mask(&sample)[..5].to_vec(), hex("437b9aec36"));
    }
}
