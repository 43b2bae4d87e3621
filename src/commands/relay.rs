//! `udpscope relay`: argument glue, the seed, the log file and signals around
//! [`udpscope::relay::run`].

use std::fs::File;
use std::net::UdpSocket;
use std::process::ExitCode;

use udpscope::Error;
use udpscope::relay::{self, Directions, Impairment, Probability, RelayConfig};

use crate::cli::{RelayArgs, RelayDirection};

/// Relays until SIGINT/SIGTERM, then prints the per-direction summary on stderr; exit 0
/// (1 when the log could not be written to the end).
pub fn relay(args: RelayArgs) -> Result<ExitCode, Error> {
    if let Some(burst) = args.loss_burst
        && !(burst.is_finite() && burst >= 1.0)
    {
        return Err(Error::Usage(format!(
            "--loss-burst must be a mean burst length of 1 or more, not {burst}"
        )));
    }
    if let Some(rate) = args.rate
        && !(rate.is_finite() && rate > 0.0)
    {
        return Err(Error::Usage(format!(
            "--rate must be a positive number of datagrams per second, not {rate}"
        )));
    }
    let seed = args.seed.unwrap_or_else(relay::random_seed);
    let config = RelayConfig {
        to: args.to,
        impairment: Impairment {
            loss: args.loss.unwrap_or(Probability::NEVER),
            loss_burst: args.loss_burst,
            duplicate: args.duplicate.unwrap_or(Probability::NEVER),
            reorder: args.reorder.unwrap_or(Probability::NEVER),
            delay: args.delay.unwrap_or_default(),
            jitter: args.jitter.unwrap_or_default(),
        },
        directions: match args.direction {
            RelayDirection::Both => Directions::Both,
            RelayDirection::Up => Directions::Up,
            RelayDirection::Down => Directions::Down,
        },
        rate: args.rate,
        ..RelayConfig::new(args.to, seed)
    };
    let log = match &args.log {
        Some(path) => Some(File::create(path).map_err(|source| Error::Open {
            path: path.clone(),
            source,
        })?),
        None => None,
    };
    let shutdown = crate::shutdown_on_signals()?;
    let socket = UdpSocket::bind(args.listen).map_err(|source| Error::Bind {
        addr: args.listen,
        source,
    })?;
    let local = socket.local_addr().unwrap_or(args.listen);
    eprintln!(
        "udpscope relay: {local} → {} (seed {seed}; --seed {seed} repeats these decisions); Ctrl-C stops.",
        args.to
    );
    let stats = relay::run(config, socket, shutdown, log)?;
    eprintln!("{stats}");
    if let (Some(reason), Some(path)) = (&stats.log_error, &args.log) {
        eprintln!("udpscope: cannot write {}: {reason}", path.display());
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}
