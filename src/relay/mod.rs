//! A UDP relay that impairs traffic reproducibly, without privilege: loss (independent or in
//! Gilbert-Elliott bursts), duplicates, delay and jitter, reordering and a rate limit, each
//! decided per datagram from (seed, direction, index) by [`impair`], and logged by [`log`].
//!
//! Like a NAT, it opens one upstream socket per client address, connected to the
//! destination: what comes back on it goes to that client, so several clients share the
//! relay and each gets its own replies. "Up" is client → destination, "down" the way back.
//!
//! One thread, one loop: `ppoll` on the listening socket and every upstream socket, with a
//! timeout to the next delayed copy; `recvmmsg` takes up to [`BATCH`] datagrams per call and
//! `sendmmsg` sends what is due in runs per socket. Datagrams the model leaves alone are sent
//! straight from the receive buffers; the others are copied once and wait in a heap ordered
//! by due time. Nothing a peer sends (any bytes, any size up to 65,507, ICMP errors) stops it.

pub mod impair;
pub mod log;
pub mod units;

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};
use std::io::{BufWriter, Write};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::os::fd::{AsFd, BorrowedFd};
use std::rc::Rc;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::shutdown::Shutdown;
use crate::sys::batch::{self, ReceiveBatch};
use crate::sys::udp;

pub use impair::{Decider, Decision, Direction, Directions, Impairment, Probability};
pub use log::{DirectionStats, Lost, Record, RelayStats};

/// Datagrams per `recvmmsg` call.
pub const BATCH: usize = 64;

/// Receive batches taken from one socket before looking at the others and the timers.
const ROUNDS_PER_WAKE: usize = 8;

/// Client addresses with an upstream socket at once; a new client past this closes the
/// socket of the one silent the longest (a NAT's table is bounded too).
pub const MAX_CLIENTS: usize = 1024;

/// Copies the `--rate` queue holds before it drops: netem's default `limit` (1000 packets).
pub const RATE_QUEUE_LIMIT: f64 = 1000.0;

/// How long a reordered datagram waits for a later one of its flow before it goes anyway.
pub const DEFAULT_REORDER_HOLD: Duration = Duration::from_secs(1);

/// How often the loop looks at the shutdown flag (and flushes the log) when idle.
const SHUTDOWN_POLL: Duration = Duration::from_millis(100);

/// A send blocks at most this long on a full socket buffer; past it the copy is counted as
/// lost to the kernel ([`Lost::Send`]) and the relay goes on.
const SEND_TIMEOUT: Duration = Duration::from_millis(100);

/// Socket buffers asked for (forced when root, else as large as `rmem_max`/`wmem_max` allow):
/// 64-byte datagrams cost ~1 KiB each in a receive queue, so 8 MiB holds ~8,000 of them.
const LISTEN_BUFFER: usize = 8 << 20;
const UPSTREAM_BUFFER: usize = 4 << 20;

/// What the relay does, as plain values (the binary builds this from its flags).
#[derive(Clone, Debug)]
pub struct RelayConfig {
    /// Where datagrams from clients go.
    pub to: SocketAddr,
    /// What to do to them.
    pub impairment: Impairment,
    /// Which directions the impairment (and the rate) applies to.
    pub directions: Directions,
    /// Datagrams per second each impaired direction drains at; `None`: no limit.
    pub rate: Option<f64>,
    /// The seed of every decision.
    pub seed: u64,
    /// How long a reordered datagram waits for a later one ([`DEFAULT_REORDER_HOLD`]).
    pub reorder_hold: Duration,
}

impl RelayConfig {
    /// Forwarding to `to` without impairment, with `seed`.
    pub fn new(to: SocketAddr, seed: u64) -> Self {
        Self {
            to,
            impairment: Impairment::default(),
            directions: Directions::Both,
            rate: None,
            seed,
            reorder_hold: DEFAULT_REORDER_HOLD,
        }
    }
}

/// A seed nobody chose: std's per-process random hasher keys (from the OS's random source),
/// mixed with the time.
pub fn random_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    hasher.finish()
}

/// One client: its address and the upstream socket that speaks for it.
struct Client {
    addr: SocketAddr,
    upstream: UdpSocket,
    last_active: Instant,
    /// Copies held back (reordered), per direction, waiting for a later datagram.
    held: [Vec<Held>; 2],
}

/// A copy held back until a later datagram of its flow is scheduled.
struct Held {
    fate: usize,
    due: Instant,
    bytes: Rc<[u8]>,
}

/// The fate of a datagram not yet complete: some copies still wait for their time.
struct Fate {
    record: log::Record,
    received: Instant,
    outstanding: u8,
    held: bool,
}

/// What waits in the timer heap.
enum Timer {
    /// A copy to send at `due`.
    Copy {
        fate: usize,
        direction: Direction,
        client: SocketAddr,
        bytes: Rc<[u8]>,
        /// It already went through the rate queue.
        rated: bool,
    },
    /// A held datagram's wait is over: release it if no later one did.
    HoldExpiry {
        fate: usize,
        direction: Direction,
        client: SocketAddr,
    },
}

struct Entry {
    due: Instant,
    seq: u64,
    timer: Timer,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        (self.due, self.seq) == (other.due, other.seq)
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    /// Reversed: the heap's top is the earliest, and among equal times the first pushed.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.due, other.seq).cmp(&(self.due, self.seq))
    }
}

/// Where a copy about to be sent came from, to finish its record once sent.
#[derive(Clone, Copy)]
enum Origin {
    /// Untouched by the model: its record is complete once sent.
    Immediate { index: u64, t_us: u64 },
    /// Copy of a scheduled fate, with its delay.
    Scheduled { fate: usize, delay_us: u64 },
}

/// A copy in the send batch.
struct Out<'a> {
    bytes: &'a [u8],
    direction: Direction,
    client: SocketAddr,
    origin: Origin,
}

/// One datagram for [`batch::send_batch_to`]: its bytes and destination (`None`: the
/// connected peer).
type Outgoing<'a> = (&'a [u8], Option<SocketAddr>);

/// The relay's state between wakes.
struct Relay<W: Write> {
    config: RelayConfig,
    start: Instant,
    listen: UdpSocket,
    clients: Vec<Client>,
    by_addr: HashMap<SocketAddr, usize>,
    deciders: [Decider; 2],
    heap: BinaryHeap<Entry>,
    seq: u64,
    fates: Vec<Option<Fate>>,
    free: Vec<usize>,
    rate_free: [Instant; 2],
    /// Copies sent so far per direction (up, down): the next copy's place in the send order.
    sent: [u64; 2],
    log: Option<BufWriter<W>>,
    stats: RelayStats,
}

/// Relays datagrams between clients of `listen` and `config.to` until `shutdown` is set,
/// writing one JSON line per datagram to `log` (see [`Record`]), and returns the counts.
///
/// `listen` is already bound (tests bind port 0). Errors are setup failures only (the
/// socket's options, its address); once running, nothing a peer does ends it. The log failing
/// stops the log, not the relay ([`RelayStats::log_error`]).
pub fn run<W: Write>(
    config: RelayConfig,
    listen: UdpSocket,
    shutdown: Shutdown,
    log: Option<W>,
) -> Result<RelayStats> {
    let local = listen.local_addr().map_err(|source| Error::System {
        what: "cannot read the relay socket's address".into(),
        source,
    })?;
    listen
        .set_write_timeout(Some(SEND_TIMEOUT))
        .map_err(|source| Error::Socket {
            what: "cannot set a send timeout on",
            addr: local,
            source,
        })?;
    udp::enlarge_receive_buffer(&listen, LISTEN_BUFFER);
    batch::enlarge_send_buffer(&listen, LISTEN_BUFFER);
    let now = Instant::now();
    let seed = config.seed;
    let deciders = Direction::ALL
        .map(|d| Decider::new(seed, d, config.impairment, config.directions.contains(d)));
    let mut relay = Relay {
        config,
        start: now,
        listen,
        clients: Vec::new(),
        by_addr: HashMap::new(),
        deciders,
        heap: BinaryHeap::new(),
        seq: 0,
        fates: Vec::new(),
        free: Vec::new(),
        rate_free: [now; 2],
        sent: [0; 2],
        log: log.map(|w| BufWriter::with_capacity(1 << 16, w)),
        stats: RelayStats {
            seed,
            up: DirectionStats::default(),
            down: DirectionStats::default(),
            clients: 0,
            evicted: 0,
            unrelayed: 0,
            log_error: None,
        },
    };
    relay.serve(&shutdown)?;
    Ok(relay.finish())
}

impl<W: Write> Relay<W> {
    fn serve(&mut self, shutdown: &Shutdown) -> Result<()> {
        let mut buffers = ReceiveBatch::new(BATCH);
        let mut ready = Vec::new();
        while !shutdown.is_triggered() {
            self.send_due();
            let now = Instant::now();
            let timeout = self
                .heap
                .peek()
                .map_or(SHUTDOWN_POLL, |e| e.due.saturating_duration_since(now))
                .min(SHUTDOWN_POLL);
            if timeout == SHUTDOWN_POLL {
                self.flush_log();
            }
            {
                let fds: Vec<BorrowedFd<'_>> = std::iter::once(self.listen.as_fd())
                    .chain(self.clients.iter().map(|c| c.upstream.as_fd()))
                    .collect();
                if let Err(source) = batch::wait_readable(&fds, timeout, &mut ready) {
                    return Err(Error::System {
                        what: "cannot wait for the relay's sockets".into(),
                        source,
                    });
                }
            }
            // Upstream sockets first (their indices shift if the listening socket's new
            // clients evict one), then the listening socket.
            for slot in (0..self.clients.len()).rev() {
                if ready.get(slot + 1).copied().unwrap_or(false) {
                    self.receive_down(slot, &mut buffers);
                }
            }
            if ready.first().copied().unwrap_or(false) {
                self.receive_up(&mut buffers);
            }
        }
        self.drop_pending();
        Ok(())
    }

    /// Takes client datagrams from the listening socket and sends them on.
    fn receive_up(&mut self, buffers: &mut ReceiveBatch) {
        for _ in 0..ROUNDS_PER_WAKE {
            // Errors on an unconnected socket are ICMP reports for earlier sends to a client
            // (gone since): counted as down refusals, never fatal.
            let got = match buffers.receive(&self.listen) {
                Ok(n) => n,
                Err(_) => {
                    self.stats.down.refused += 1;
                    continue;
                }
            };
            if got == 0 {
                return;
            }
            let now = Instant::now();
            let mut out = Vec::with_capacity(got);
            for i in 0..buffers.len() {
                let Some((bytes, Some(from))) = buffers.get(i) else {
                    continue;
                };
                if self.client_slot(from, now).is_none() {
                    self.stats.unrelayed += 1;
                    continue;
                }
                self.take(Direction::ToServer, from, bytes, now, &mut out);
            }
            self.send(out);
            if got < BATCH {
                return;
            }
        }
    }

    /// Takes the destination's answers from one client's upstream socket, for that client.
    fn receive_down(&mut self, slot: usize, buffers: &mut ReceiveBatch) {
        for _ in 0..ROUNDS_PER_WAKE {
            let Some(client) = self.clients.get(slot) else {
                return;
            };
            let addr = client.addr;
            let got = match buffers.receive(&client.upstream) {
                Ok(n) => n,
                // ECONNREFUSED: the destination answered an earlier datagram with ICMP port
                // unreachable (nobody listens there, for now). Counted; the socket stays.
                Err(_) => {
                    self.stats.up.refused += 1;
                    continue;
                }
            };
            if got == 0 {
                return;
            }
            let now = Instant::now();
            if let Some(client) = self.clients.get_mut(slot) {
                client.last_active = now;
            }
            let mut out = Vec::with_capacity(got);
            for i in 0..got {
                if let Some((bytes, _)) = buffers.get(i) {
                    self.take(Direction::ToClient, addr, bytes, now, &mut out);
                }
            }
            self.send(out);
            if got < BATCH {
                return;
            }
        }
    }

    /// The slot of `addr`'s client, opening its upstream socket if it is new.
    fn client_slot(&mut self, addr: SocketAddr, now: Instant) -> Option<usize> {
        if let Some(&slot) = self.by_addr.get(&addr) {
            if let Some(client) = self.clients.get_mut(slot) {
                client.last_active = now;
            }
            return Some(slot);
        }
        let upstream = self.open_upstream()?;
        if self.clients.len() >= MAX_CLIENTS {
            self.evict_quietest(now);
        }
        self.by_addr.insert(addr, self.clients.len());
        self.clients.push(Client {
            addr,
            upstream,
            last_active: now,
            held: [Vec::new(), Vec::new()],
        });
        self.stats.clients += 1;
        Some(self.clients.len() - 1)
    }

    fn open_upstream(&self) -> Option<UdpSocket> {
        let any: SocketAddr = match self.config.to {
            SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
            SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
        };
        let socket = UdpSocket::bind(any).ok()?;
        socket.connect(self.config.to).ok()?;
        socket.set_write_timeout(Some(SEND_TIMEOUT)).ok()?;
        udp::enlarge_receive_buffer(&socket, UPSTREAM_BUFFER);
        batch::enlarge_send_buffer(&socket, UPSTREAM_BUFFER);
        Some(socket)
    }

    /// Closes the upstream socket of the client silent the longest; what it held goes now.
    fn evict_quietest(&mut self, now: Instant) {
        let Some(slot) = (0..self.clients.len()).min_by_key(|&i| self.clients[i].last_active)
        else {
            return;
        };
        for direction in Direction::ALL {
            self.release_held(slot, direction, now);
        }
        let client = self.clients.swap_remove(slot);
        self.by_addr.remove(&client.addr);
        if let Some(moved) = self.clients.get(slot) {
            self.by_addr.insert(moved.addr, slot);
        }
        self.stats.evicted += 1;
    }

    fn push(&mut self, due: Instant, timer: Timer) {
        self.seq += 1;
        self.heap.push(Entry {
            due,
            seq: self.seq,
            timer,
        });
    }

    fn micros_since_start(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.start).as_micros()).unwrap_or(u64::MAX)
    }

    /// Decides the fate of one received datagram: straight into `out` when the model leaves
    /// it alone, else copied into the heap (or held back).
    fn take<'a>(
        &mut self,
        direction: Direction,
        client: SocketAddr,
        bytes: &'a [u8],
        now: Instant,
        out: &mut Vec<Out<'a>>,
    ) {
        self.stats.direction_mut(direction).received += 1;
        let decision = self.deciders[direction.index()].decide();
        let rated = self.config.rate.is_some() && self.config.directions.contains(direction);
        let t_us = self.micros_since_start(now);
        if decision.is_immediate() && !rated {
            out.push(Out {
                bytes,
                direction,
                client,
                origin: Origin::Immediate {
                    index: decision.index,
                    t_us,
                },
            });
            // The copy goes now: a held datagram of this flow goes right after it.
            self.release_by(client, direction, now);
            return;
        }
        let record = log::Record {
            direction,
            index: decision.index,
            client,
            t_us,
            len: bytes.len(),
            copies: 0,
            delays_us: [0; impair::MAX_COPIES],
            send_seq: [0; impair::MAX_COPIES],
            reordered: decision.reordered,
            lost: 0,
            lost_to: None,
        };
        let fate = self.new_fate(Fate {
            record,
            received: now,
            outstanding: decision.copies() as u8,
            held: decision.reordered,
        });
        if decision.copies() == 0 {
            self.complete(fate);
            return;
        }
        let shared: Rc<[u8]> = Rc::from(bytes);
        let mut latest = now;
        let slot = self.by_addr.get(&client).copied();
        for delay in decision.delays() {
            let due = now + *delay;
            latest = latest.max(due);
            if decision.reordered
                && let Some(c) = slot.and_then(|s| self.clients.get_mut(s))
            {
                c.held[direction.index()].push(Held {
                    fate,
                    due,
                    bytes: Rc::clone(&shared),
                });
                continue;
            }
            self.push(
                due,
                Timer::Copy {
                    fate,
                    direction,
                    client,
                    bytes: Rc::clone(&shared),
                    rated: false,
                },
            );
        }
        if decision.reordered {
            self.push(
                latest + self.config.reorder_hold,
                Timer::HoldExpiry {
                    fate,
                    direction,
                    client,
                },
            );
        } else {
            self.release_by(client, direction, latest);
        }
    }

    /// A datagram of `client`'s flow in `direction` was scheduled to go by `latest`: the
    /// copies held back in that flow go after it.
    fn release_by(&mut self, client: SocketAddr, direction: Direction, latest: Instant) {
        if let Some(&slot) = self.by_addr.get(&client) {
            if self.clients[slot].held[direction.index()].is_empty() {
                return;
            }
            self.release_held(slot, direction, latest);
        }
    }

    fn release_held(&mut self, slot: usize, direction: Direction, latest: Instant) {
        let Some(c) = self.clients.get_mut(slot) else {
            return;
        };
        let client = c.addr;
        let held = std::mem::take(&mut c.held[direction.index()]);
        for h in held {
            if let Some(Some(f)) = self.fates.get_mut(h.fate) {
                f.held = false;
            }
            self.push(
                h.due.max(latest),
                Timer::Copy {
                    fate: h.fate,
                    direction,
                    client,
                    bytes: h.bytes,
                    rated: false,
                },
            );
        }
    }

    fn new_fate(&mut self, fate: Fate) -> usize {
        match self.free.pop() {
            Some(id) => {
                self.fates[id] = Some(fate);
                id
            }
            None => {
                self.fates.push(Some(fate));
                self.fates.len() - 1
            }
        }
    }

    /// Sends every copy whose time has come.
    fn send_due(&mut self) {
        let now = Instant::now();
        let mut due = Vec::new();
        while let Some(top) = self.heap.peek() {
            if top.due > now || due.len() >= 4 * BATCH {
                break;
            }
            let Some(entry) = self.heap.pop() else { break };
            match entry.timer {
                Timer::HoldExpiry {
                    fate,
                    direction,
                    client,
                } => {
                    let still_held = matches!(self.fates.get(fate), Some(Some(f)) if f.held);
                    if still_held && let Some(&slot) = self.by_addr.get(&client) {
                        self.release_held(slot, direction, entry.due);
                    }
                }
                Timer::Copy {
                    fate,
                    direction,
                    client,
                    bytes,
                    rated,
                } => {
                    let rate = self
                        .config
                        .rate
                        .filter(|_| !rated && self.config.directions.contains(direction));
                    if let Some(pps) = rate {
                        // A queue draining at `pps`: this copy leaves when the one before it
                        // has, and is dropped when the queue already holds the limit.
                        let free = &mut self.rate_free[direction.index()];
                        let leaves = (*free).max(entry.due);
                        let queued =
                            leaves.saturating_duration_since(entry.due).as_secs_f64() * pps;
                        if queued >= RATE_QUEUE_LIMIT {
                            self.stats.direction_mut(direction).rate_dropped += 1;
                            self.lose(fate, Lost::Rate);
                            continue;
                        }
                        *free = leaves + Duration::from_secs_f64(1.0 / pps);
                        if leaves > now {
                            self.push(
                                leaves,
                                Timer::Copy {
                                    fate,
                                    direction,
                                    client,
                                    bytes,
                                    rated: true,
                                },
                            );
                            continue;
                        }
                    }
                    let received = match self.fates.get(fate) {
                        Some(Some(f)) => f.received,
                        _ => continue,
                    };
                    let delay_us =
                        u64::try_from(entry.due.saturating_duration_since(received).as_micros())
                            .unwrap_or(u64::MAX);
                    due.push((bytes, direction, client, fate, delay_us));
                }
            }
        }
        if due.is_empty() {
            return;
        }
        let out: Vec<Out<'_>> = due
            .iter()
            .map(|(bytes, direction, client, fate, delay_us)| Out {
                bytes,
                direction: *direction,
                client: *client,
                origin: Origin::Scheduled {
                    fate: *fate,
                    delay_us: *delay_us,
                },
            })
            .collect();
        // `out` borrows `due`'s bytes; the Rc keeps them alive through the send.
        let results = self.send_copies(&out);
        let origins: Vec<(Direction, SocketAddr, Origin, usize, bool)> = out
            .iter()
            .zip(results)
            .map(|(o, sent)| (o.direction, o.client, o.origin, o.bytes.len(), sent))
            .collect();
        drop(out);
        for (direction, client, origin, len, sent) in origins {
            self.finish_copy(direction, client, origin, len, sent);
        }
    }

    /// Sends a batch and finishes the records of its copies.
    fn send(&mut self, out: Vec<Out<'_>>) {
        if out.is_empty() {
            return;
        }
        let results = self.send_copies(&out);
        for (o, sent) in out.iter().zip(results) {
            self.finish_copy(o.direction, o.client, o.origin, o.bytes.len(), sent);
        }
    }

    /// Hands `out` to the kernel in runs of copies that leave by the same socket; true for
    /// each copy sent.
    fn send_copies(&mut self, out: &[Out<'_>]) -> Vec<bool> {
        let mut results = vec![false; out.len()];
        let mut start = 0;
        while start < out.len() {
            let first = &out[start];
            let end = start
                + out[start..]
                    .iter()
                    .take_while(|o| {
                        o.direction == first.direction
                            && (o.direction == Direction::ToClient || o.client == first.client)
                    })
                    .count();
            let run = &out[start..end];
            let (socket, messages): (Option<&UdpSocket>, Vec<Outgoing<'_>>) = match first.direction
            {
                Direction::ToServer => (
                    self.by_addr
                        .get(&first.client)
                        .and_then(|&s| self.clients.get(s))
                        .map(|c| &c.upstream),
                    run.iter().map(|o| (o.bytes, None)).collect(),
                ),
                Direction::ToClient => (
                    Some(&self.listen),
                    run.iter().map(|o| (o.bytes, Some(o.client))).collect(),
                ),
            };
            if let Some(socket) = socket {
                let (sent, refused) = send_all(socket, &messages, &mut results[start..end]);
                // ECONNREFUSED on an upstream socket: the destination said nobody listens.
                let stats = self.stats.direction_mut(first.direction);
                stats.refused += refused;
                let _ = sent;
            }
            start = end;
        }
        results
    }

    fn finish_copy(
        &mut self,
        direction: Direction,
        client: SocketAddr,
        origin: Origin,
        len: usize,
        sent: bool,
    ) {
        if !sent {
            self.stats.direction_mut(direction).send_failed += 1;
        }
        // The copy's place in this direction's send order (only copies the kernel took).
        let send_seq = self.sent[direction.index()];
        if sent {
            self.sent[direction.index()] += 1;
        }
        match origin {
            Origin::Immediate { index, t_us } => {
                let record = log::Record {
                    direction,
                    index,
                    client,
                    t_us,
                    len,
                    copies: u8::from(sent),
                    delays_us: [0; impair::MAX_COPIES],
                    send_seq: [send_seq; impair::MAX_COPIES],
                    reordered: false,
                    lost: u8::from(!sent),
                    lost_to: (!sent).then_some(Lost::Send),
                };
                self.write_record(&record);
            }
            Origin::Scheduled { fate, delay_us } => {
                if sent {
                    if let Some(Some(f)) = self.fates.get_mut(fate) {
                        let copy = usize::from(f.record.copies).min(impair::MAX_COPIES - 1);
                        f.record.delays_us[copy] = delay_us;
                        f.record.send_seq[copy] = send_seq;
                        f.record.copies += 1;
                        f.outstanding = f.outstanding.saturating_sub(1);
                    }
                    self.complete_if_done(fate);
                } else {
                    self.lose(fate, Lost::Send);
                }
            }
        }
    }

    /// One copy of `fate` will not be sent.
    fn lose(&mut self, fate: usize, why: Lost) {
        if let Some(Some(f)) = self.fates.get_mut(fate) {
            f.record.lost += 1;
            f.record.lost_to.get_or_insert(why);
            f.outstanding = f.outstanding.saturating_sub(1);
        }
        self.complete_if_done(fate);
    }

    fn complete_if_done(&mut self, fate: usize) {
        if matches!(self.fates.get(fate), Some(Some(f)) if f.outstanding == 0) {
            self.complete(fate);
        }
    }

    /// Writes the record of a fate whose copies are all sent or lost, and frees its slot.
    fn complete(&mut self, fate: usize) {
        let Some(f) = self.fates.get_mut(fate).and_then(Option::take) else {
            return;
        };
        self.free.push(fate);
        self.write_record(&f.record);
    }

    fn write_record(&mut self, record: &log::Record) {
        self.stats.direction_mut(record.direction).count(record);
        if let Some(out) = &mut self.log
            && let Err(e) = record.write_json(out)
        {
            self.stats.log_error = Some(e.to_string());
            self.log = None;
        }
    }

    fn flush_log(&mut self) {
        if let Some(out) = &mut self.log
            && let Err(e) = out.flush()
        {
            self.stats.log_error = Some(e.to_string());
            self.log = None;
        }
    }

    /// At stop: the copies still waiting are not sent; their records say so.
    fn drop_pending(&mut self) {
        let mut waiting: Vec<(usize, Direction)> = Vec::new();
        for entry in std::mem::take(&mut self.heap)
            .into_sorted_vec()
            .into_iter()
            .rev()
        {
            if let Timer::Copy {
                fate, direction, ..
            } = entry.timer
            {
                waiting.push((fate, direction));
            }
        }
        for client in &mut self.clients {
            for direction in Direction::ALL {
                for h in client.held[direction.index()].drain(..) {
                    waiting.push((h.fate, direction));
                }
            }
        }
        for (fate, direction) in waiting {
            self.stats.direction_mut(direction).unsent_at_stop += 1;
            self.lose(fate, Lost::Shutdown);
        }
    }

    fn finish(mut self) -> RelayStats {
        self.flush_log();
        self.stats
    }
}

/// Sends every message, retrying past partial batches; an ECONNREFUSED (the kernel reports a
/// pending ICMP error instead of sending) is counted and the message tried once more, any
/// other error loses that message only. Returns (sent, refusals).
fn send_all(socket: &UdpSocket, messages: &[Outgoing<'_>], results: &mut [bool]) -> (u64, u64) {
    let (mut i, mut sent, mut refused, mut retried) = (0, 0u64, 0u64, false);
    // Each pass sends at least one message or moves past one: bounded by 2 × len passes.
    while i < messages.len() {
        match batch::send_batch_to(socket, &messages[i..]) {
            Ok(0) => i += 1,
            Ok(n) => {
                let end = (i + n).min(messages.len());
                results[i..end].iter_mut().for_each(|r| *r = true);
                sent += (end - i) as u64;
                i = end;
                retried = false;
            }
            Err(e) if e.raw_os_error() == Some(libc::ECONNREFUSED) && !retried => {
                refused += 1;
                retried = true;
            }
            Err(e) => {
                if e.raw_os_error() == Some(libc::ECONNREFUSED) {
                    refused += 1;
                }
                i += 1;
                retried = false;
            }
        }
    }
    (sent, refused)
}
