//! Bounded UDP sender for tests/bench/capture.sh: COUNT datagrams of SIZE bytes to
//! 127.0.0.1:PORT as fast as one `send` per datagram allows, then one line with the rate.
//!
//! It first binds a receiver on PORT that it never reads: datagrams past its buffer are
//! dropped by the kernel without ICMP, after AF_PACKET has seen them, and cost no reader CPU.
//! Standard library only, so the script builds it with a plain `rustc -O`.
//!
//! With `numbered` after SIZE, each payload starts with its number (8 bytes, little-endian), so
//! that every datagram is told apart by its payload (tests/bench/live_compare.sh).
//!
//! Usage: udp_flood PORT COUNT SIZE [numbered]

use std::net::UdpSocket;
use std::process::ExitCode;
use std::time::Instant;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let parsed = match args.as_slice() {
        [port, count, size] | [port, count, size, _] => port
            .parse::<u16>()
            .ok()
            .zip(count.parse::<u64>().ok())
            .zip(size.parse::<usize>().ok()),
        _ => None,
    };
    let numbered = args.get(3).is_some_and(|a| a == "numbered");
    let Some(((port, count), size)) = parsed.filter(|_| args.len() == 3 || numbered) else {
        eprintln!("usage: udp_flood PORT COUNT SIZE [numbered]");
        return ExitCode::from(2);
    };
    let sockets = UdpSocket::bind(("127.0.0.1", port)).and_then(|rx| {
        let tx = UdpSocket::bind("127.0.0.1:0")?;
        tx.connect(("127.0.0.1", port))?;
        Ok((rx, tx))
    });
    let (_rx, tx) = match sockets {
        Ok(pair) => pair,
        Err(e) => {
            eprintln!("udp_flood: cannot set up 127.0.0.1:{port}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut payload = vec![0x5au8; size];
    let start = Instant::now();
    let mut errors = 0u64;
    for n in 0..count {
        if numbered {
            let bytes = n.to_le_bytes();
            let keep = bytes.len().min(payload.len());
            payload[..keep].copy_from_slice(&bytes[..keep]);
        }
        if tx.send(&payload).is_err() {
            errors += 1;
        }
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "sent {} datagrams in {secs:.3} s: {:.0} pps ({errors} send errors)",
        count - errors,
        (count - errors) as f64 / secs
    );
    ExitCode::SUCCESS
}
