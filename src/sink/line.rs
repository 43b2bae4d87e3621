//! A line's fixed fields (time, addresses, ports, lengths) built in a stack array, then copied
//! to the output in one piece: integer and address writes into an array cost a fraction of as
//! many small `Vec` appends (each of which is a length check and a call to `memcpy`).

use std::net::IpAddr;

/// Room for the longest head of a text line: two bracketed IPv6 addresses with ports, the
/// time, colour codes, an invalid checksum's found and expected values, fragments and the
/// truncation note, and the longest JSON head (every key, two full-length IPv6 addresses, an
/// invalid checksum, 20-digit numbers: about 530 bytes), with margin. Writes beyond it are
/// dropped, never a panic; tests/json_lines.rs checks that the longest head fits whole.
const CAPACITY: usize = 1024;

/// "00" to "99", for writing two digits at a time.
const PAIRS: &[u8; 200] = b"0001020304050607080910111213141516171819\
2021222324252627282930313233343536373839\
4041424344454647484950515253545556575859\
6061626364656667686970717273747576777879\
8081828384858687888990919293949596979899";

/// "0" to "255" padded to four bytes, the last byte holding the digit count: an IPv4 octet is
/// one four-byte copy and no branch.
const OCTETS: [[u8; 4]; 256] = {
    let mut table = [[0u8; 4]; 256];
    let mut n = 0;
    while n < 256 {
        let (h, t, o) = ((n / 100) as u8, (n / 10 % 10) as u8, (n % 10) as u8);
        table[n] = if n >= 100 {
            [b'0' + h, b'0' + t, b'0' + o, 3]
        } else if n >= 10 {
            [b'0' + t, b'0' + o, 0, 2]
        } else {
            [b'0' + o, 0, 0, 1]
        };
        n += 1;
    }
    table
};

/// Bytes gathered on the stack.
pub struct Line {
    buf: [u8; CAPACITY],
    len: usize,
}

impl std::fmt::Debug for Line {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&String::from_utf8_lossy(self.as_bytes()))
    }
}

impl Default for Line {
    fn default() -> Self {
        Line {
            buf: [0; CAPACITY],
            len: 0,
        }
    }
}

impl Line {
    /// What has been written.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    /// Forgets what was written (the bytes are overwritten, not zeroed).
    #[inline]
    pub fn clear(&mut self) {
        self.len = 0;
    }

    /// Appends one byte.
    #[inline]
    pub fn push(&mut self, byte: u8) {
        if let Some(slot) = self.buf.get_mut(self.len) {
            *slot = byte;
            self.len += 1;
        }
    }

    /// Appends `bytes` (short literals compile to a few stores).
    #[inline]
    pub fn bytes(&mut self, bytes: &[u8]) {
        let end = self.len + bytes.len();
        if let Some(slot) = self.buf.get_mut(self.len..end) {
            slot.copy_from_slice(bytes);
            self.len = end;
        }
    }

    /// Appends `value` in decimal.
    #[inline]
    pub fn decimal(&mut self, value: u64) {
        let digits = match value {
            0..=9 => 1,
            10..=99 => 2,
            100..=999 => 3,
            1_000..=9_999 => 4,
            10_000..=99_999 => 5,
            _ => value.ilog10() as usize + 1,
        };
        let end = self.len + digits;
        let Some(slot) = self.buf.get_mut(self.len..end) else {
            return;
        };
        let mut rest = value;
        let mut at = digits;
        while at >= 2 {
            let pair = (rest % 100) as usize * 2;
            slot[at - 2] = PAIRS[pair];
            slot[at - 1] = PAIRS[pair + 1];
            rest /= 100;
            at -= 2;
        }
        if at == 1 {
            slot[0] = b'0' + (rest % 10) as u8;
        }
        self.len = end;
    }

    /// Appends exactly two digits of `value % 100`.
    #[inline]
    fn pair(&mut self, value: u64) {
        let i = (value % 100) as usize * 2;
        self.bytes(&PAIRS[i..i + 2]);
    }

    /// Appends `HH:MM:SS.nnnnnnnnn`, the UTC time of day of `ts_ns` (nanoseconds since the
    /// epoch), as tcpdump prints with `--time-stamp-precision=nano` and TZ=UTC.
    pub fn time(&mut self, ts_ns: u64) {
        let secs = ts_ns / 1_000_000_000;
        let day = secs % 86_400;
        self.pair(day / 3600);
        self.push(b':');
        self.pair(day / 60 % 60);
        self.push(b':');
        self.pair(day % 60);
        self.push(b'.');
        self.nanos(ts_ns % 1_000_000_000);
    }

    /// Appends nine digits of nanoseconds.
    pub fn nanos(&mut self, nanos: u64) {
        self.push(b'0' + (nanos / 100_000_000 % 10) as u8);
        self.pair(nanos / 1_000_000);
        self.pair(nanos / 10_000);
        self.pair(nanos / 100);
        self.pair(nanos);
    }

    /// Appends an address: dotted IPv4, bracketed IPv6 (so that `:port` can follow).
    pub fn ip(&mut self, ip: IpAddr) {
        match ip {
            IpAddr::V4(a) => {
                // Built in a local array with its cursor in a register, then copied once:
                // through `self.len`, each octet and dot waited for the previous store.
                let mut text = [0u8; 19];
                let mut at = 0;
                for (i, value) in a.octets().into_iter().enumerate() {
                    let entry = OCTETS[usize::from(value)];
                    // All four bytes are stored (one store); only the digits are kept.
                    if let Some(slot) = text.get_mut(at..at + 4) {
                        slot.copy_from_slice(&entry);
                    }
                    at += usize::from(entry[3]);
                    if i < 3 {
                        if let Some(dot) = text.get_mut(at) {
                            *dot = b'.';
                        }
                        at += 1;
                    }
                }
                self.bytes(&text[..at.min(15)]);
            }
            IpAddr::V6(a) => {
                use std::fmt::Write as _;
                let _ = write!(self, "[{a}]");
            }
        }
    }

    /// Appends the time of day like [`Line::time`], reusing `clock`'s `HH:MM:SS.` when the
    /// second is the one it holds (a busy capture prints many lines per second).
    pub fn time_with(&mut self, ts_ns: u64, clock: &mut Clock) {
        let secs = ts_ns / 1_000_000_000;
        if clock.secs != Some(secs) {
            let mut fresh = Line::default();
            fresh.time(secs * 1_000_000_000);
            clock.prefix.copy_from_slice(&fresh.buf[..9]);
            clock.secs = Some(secs);
        }
        self.bytes(&clock.prefix);
        self.nanos(ts_ns % 1_000_000_000);
    }

    /// Appends the four lowercase hex digits of a 16-bit value.
    pub fn hex16(&mut self, value: u16) {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let digit = |shift: u16| DIGITS[usize::from(value >> shift) & 0xf];
        self.bytes(&[digit(12), digit(8), digit(4), digit(0)]);
    }
}

/// The `HH:MM:SS.` of the last second printed.
#[derive(Clone, Copy, Debug, Default)]
pub struct Clock {
    secs: Option<u64>,
    prefix: [u8; 9],
}

impl std::fmt::Write for Line {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.bytes(s.as_bytes());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shown(write: impl FnOnce(&mut Line)) -> String {
        let mut line = Line::default();
        write(&mut line);
        String::from_utf8(line.as_bytes().to_vec()).unwrap()
    }

    #[test]
    fn decimals_agree_with_display_at_every_width() {
        for value in [
            0,
            7,
            9,
            10,
            99,
            100,
            999,
            1_000,
            65_535,
            99_999,
            100_000,
            4_294_967_295,
            u64::MAX,
        ] {
            assert_eq!(shown(|l| l.decimal(value)), value.to_string());
        }
    }

    #[test]
    fn ipv4_addresses_agree_with_display_for_every_octet_in_every_place() {
        for value in 0..=255u8 {
            for place in 0..4 {
                let mut octets = [1, 22, 255, 0];
                octets[place] = value;
                let ip = std::net::Ipv4Addr::from(octets);
                let mut line = Line::default();
                line.push(b'<');
                line.ip(ip.into());
                line.push(b'>');
                assert_eq!(line.as_bytes(), format!("<{ip}>").as_bytes());
            }
        }
    }

    #[test]
    fn addresses_and_times_read_as_expected() {
        assert_eq!(
            shown(|l| l.ip("192.168.100.4".parse().unwrap())),
            "192.168.100.4"
        );
        assert_eq!(shown(|l| l.ip("0.0.0.0".parse().unwrap())), "0.0.0.0");
        assert_eq!(shown(|l| l.ip("fe80::1".parse().unwrap())), "[fe80::1]");
        assert_eq!(
            shown(|l| l.time(1_700_000_001_000_123_456)),
            "22:13:21.000123456"
        );
        assert_eq!(shown(|l| l.hex16(0x1a2b)), "1a2b");
        for octet in 0..=255u8 {
            let ip = std::net::Ipv4Addr::new(octet, 0, 255, octet);
            assert_eq!(shown(|l| l.ip(ip.into())), ip.to_string());
        }
        let mut clock = Clock::default();
        for ts in [
            1_700_000_001_000_123_456,
            1_700_000_001_999_999_999,
            1_700_000_002_000_000_001,
            5,
        ] {
            assert_eq!(
                shown(|l| l.time_with(ts, &mut clock)),
                shown(|l| l.time(ts))
            );
        }
    }

    #[test]
    fn writes_beyond_the_capacity_are_dropped_without_a_panic() {
        let mut line = Line::default();
        for _ in 0..CAPACITY {
            line.decimal(12_345);
        }
        line.bytes(b"more");
        line.push(b'x');
        assert!(line.as_bytes().len() <= CAPACITY);
    }
}
