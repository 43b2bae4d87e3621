//! Property tests: decoding never panics on any bytes for any link type, building then
//! decoding keeps every field, and writing then reading a capture gives the same frames.

mod packets;

use proptest::prelude::*;
use udpscope::decode::{Checksum, Decoded, Decoder};
use udpscope::frame::{Frame, LinkType};
use udpscope::sink::PcapSink;
use udpscope::source::{CaptureFile, FileFormat};

/// Every link type read (the tables', so a new one is covered), and one that is not.
fn links() -> Vec<u32> {
    LinkType::known_numbers().chain([147]).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn decode_never_panics_on_any_bytes(link in prop::sample::select(links()), data in prop::collection::vec(any::<u8>(), 0..200), orig_extra in 0u32..100) {
        let mut decoder = Decoder::new();
        let frame = Frame { link: LinkType::from_number(link), ts_ns: 1, orig_len: data.len() as u32 + orig_extra, data: &data, interface: 0, index: 1 };
        let _ = decoder.decode(&frame);
        // Also behind a valid Ethernet + IPv4 prefix, so the fuzzing reaches UDP and fragments.
        let mut prefixed = packets::ethernet(&[0x45, 0, 0, 60, 0, 1, 0x20, 0, 64, 17, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8]);
        prefixed.extend_from_slice(&data);
        let frame = Frame { link: LinkType::Ethernet, ts_ns: 2, orig_len: prefixed.len() as u32, data: &prefixed, interface: 0, index: 2 };
        let _ = decoder.decode(&frame);
        let _ = decoder.finish();
    }

    #[test]
    fn build_then_decode_keeps_every_field(payload in prop::collection::vec(any::<u8>(), 0..1400), id in any::<u16>(), ttl in 1u8.., sp in 1u16.., dp in 1u16.., src in any::<[u8;4]>(), dst in any::<[u8;4]>()) {
        let mut header = etherparse::Ipv4Header::new(0, ttl, etherparse::IpNumber::UDP, src, dst).unwrap();
        header.identification = id;
        let builder = etherparse::PacketBuilder::ethernet2(packets::MAC1, packets::MAC2)
            .ip(etherparse::IpHeaders::Ipv4(header, Default::default()))
            .udp(sp, dp);
        let mut frame_bytes = Vec::new();
        builder.write(&mut frame_bytes, &payload).unwrap();
        let frame = Frame { link: LinkType::Ethernet, ts_ns: 7, orig_len: frame_bytes.len() as u32, data: &frame_bytes, interface: 0, index: 1 };
        let mut decoder = Decoder::new();
        let Decoded::Datagram(d) = decoder.decode(&frame) else { panic!("not a datagram") };
        prop_assert_eq!(d.ip.src, std::net::IpAddr::from(src));
        prop_assert_eq!(d.ip.dst, std::net::IpAddr::from(dst));
        prop_assert_eq!(d.ip.ttl, ttl);
        prop_assert_eq!(d.ip.ipv4_id, Some(id));
        prop_assert_eq!(d.ip.ipv6_fragment_id, None);
        prop_assert_eq!(d.src_port, sp);
        prop_assert_eq!(d.dst_port, dp);
        prop_assert_eq!(usize::from(d.udp_length), payload.len() + 8);
        prop_assert_eq!(&d.payload[..], &payload[..]);
        prop_assert_eq!(d.checksum, Checksum::Valid);
        prop_assert_eq!(d.ip.header_checksum, Checksum::Valid);
        prop_assert!(!d.truncated);
    }

    #[test]
    fn write_then_read_gives_identical_frames(frames in prop::collection::vec((any::<u64>().prop_map(|t| t % 4_000_000_000_000_000_000), prop::collection::vec(any::<u8>(), 0..300)), 0..20), ng in any::<bool>()) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.cap");
        let format = if ng { FileFormat::PcapNg } else { FileFormat::Pcap };
        let mut sink = PcapSink::create(&path, LinkType::Ethernet, format, udpscope::SNAPLEN).unwrap();
        for (i, (ts, data)) in frames.iter().enumerate() {
            sink.write(&Frame { link: LinkType::Ethernet, ts_ns: *ts, orig_len: data.len() as u32 + 3, data, interface: 0, index: i as u64 + 1 }).unwrap();
        }
        prop_assert_eq!(sink.finish().unwrap(), frames.len() as u64);
        let mut file = CaptureFile::open(&path).unwrap();
        let mut n = 0;
        while let Some(frame) = file.next_frame() {
            let frame = frame.unwrap();
            let (ts, data) = &frames[n];
            prop_assert_eq!(frame.ts_ns, *ts);
            prop_assert_eq!(frame.data, &data[..]);
            prop_assert_eq!(frame.orig_len, data.len() as u32 + 3);
            prop_assert_eq!(frame.link, LinkType::Ethernet);
            n += 1;
        }
        prop_assert_eq!(n, frames.len());
    }
}
