//! A UDP relay that impairs traffic reproducibly: loss, bursts, duplicates, delay, jitter,
//! reordering and a rate limit, decided per datagram from a seed (see [`impair`]).

pub mod impair;
pub mod units;
