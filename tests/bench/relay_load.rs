//! Load for tests/bench/relay.sh: sends 64-byte datagrams to 127.0.0.1:TARGET for SECS
//! seconds (as fast as `send` allows with PPS 0, else PPS evenly spaced), receives them on
//! 127.0.0.1:SINK, and prints one line: sent, delivered, delivered per second, and the
//! one-way delay of the delivered ones (median and p99, microseconds). Each payload starts
//! with its send time, so sender and receiver (two threads) share one clock.
//!
//! The receiver's buffer is forced to 64 MiB (SO_RCVBUFFORCE, root) so that it is not the
//! bottleneck. Standard library plus one setsockopt, so the script builds it with `rustc -O`.
//!
//! Usage: relay_load TARGET SINK SECS PPS

use std::net::UdpSocket;
use std::os::fd::AsRawFd;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

unsafe extern "C" {
    fn setsockopt(fd: i32, level: i32, name: i32, value: *const i32, len: u32) -> i32;
}
const SOL_SOCKET: i32 = 1;
const SO_RCVBUFFORCE: i32 = 33;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let parsed = match args.as_slice() {
        [target, sink, secs, pps] => Some((
            target.parse::<u16>().ok(),
            sink.parse::<u16>().ok(),
            secs.parse::<f64>().ok(),
            pps.parse::<f64>().ok(),
        )),
        _ => None,
    };
    let Some((Some(target), Some(sink), Some(secs), Some(pps))) = parsed else {
        eprintln!("usage: relay_load TARGET SINK SECS PPS");
        return ExitCode::from(2);
    };
    let secs = secs.clamp(0.1, 60.0);
    let rx = match UdpSocket::bind(("127.0.0.1", sink)) {
        Ok(rx) => rx,
        Err(e) => {
            eprintln!("relay_load: cannot bind 127.0.0.1:{sink}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let size: i32 = 64 << 20;
    // SAFETY: SO_RCVBUFFORCE takes an int; the pointer is to a live i32 of the length given.
    unsafe { setsockopt(rx.as_raw_fd(), SOL_SOCKET, SO_RCVBUFFORCE, &size, 4) };
    let _ = rx.set_read_timeout(Some(Duration::from_millis(100)));
    let start = Instant::now();
    let done = Arc::new(AtomicBool::new(false));
    let receiver = {
        let done = Arc::clone(&done);
        thread::spawn(move || {
            let (mut delays, mut buf) = (Vec::with_capacity(1 << 20), [0u8; 2048]);
            let mut idle_since: Option<Instant> = None;
            loop {
                match rx.recv(&mut buf) {
                    Ok(n) if n >= 8 => {
                        idle_since = None;
                        let sent = u64::from_le_bytes(buf[..8].try_into().unwrap_or([0; 8]));
                        let now = start.elapsed().as_nanos() as u64;
                        delays.push(now.saturating_sub(sent) / 1000);
                    }
                    Ok(_) => {}
                    Err(_) => {
                        // Half a second without a datagram after the sender stopped: done.
                        if done.load(Ordering::SeqCst) {
                            let since = *idle_since.get_or_insert_with(Instant::now);
                            if since.elapsed() > Duration::from_millis(500) {
                                break;
                            }
                        }
                    }
                }
                if start.elapsed() > Duration::from_secs_f64(secs + 10.0) {
                    break;
                }
            }
            delays
        })
    };
    let tx = match UdpSocket::bind("127.0.0.1:0").and_then(|tx| {
        tx.connect(("127.0.0.1", target))?;
        Ok(tx)
    }) {
        Ok(tx) => tx,
        Err(e) => {
            eprintln!("relay_load: cannot connect to 127.0.0.1:{target}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut payload = [0x5au8; 64];
    let (mut sent, end) = (0u64, Duration::from_secs_f64(secs));
    let gap = (pps > 0.0).then(|| Duration::from_secs_f64(1.0 / pps));
    loop {
        let now = start.elapsed();
        if now >= end {
            break;
        }
        if let Some(gap) = gap {
            let due = gap * sent as u32;
            if due > now {
                thread::sleep(due - now);
            }
        }
        payload[..8].copy_from_slice(&(start.elapsed().as_nanos() as u64).to_le_bytes());
        if tx.send(&payload).is_ok() {
            sent += 1;
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    done.store(true, Ordering::SeqCst);
    let mut delays = receiver.join().unwrap_or_default();
    delays.sort_unstable();
    let pick = |q: f64| {
        delays
            .get(((delays.len() as f64 - 1.0) * q).round() as usize)
            .copied()
            .unwrap_or(0)
    };
    println!(
        "sent {sent} delivered {} delivered_per_s {:.0} median_us {} p99_us {}",
        delays.len(),
        delays.len() as f64 / elapsed,
        pick(0.5),
        pick(0.99)
    );
    ExitCode::SUCCESS
}
