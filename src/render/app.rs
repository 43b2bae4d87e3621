//! The layer above UDP in the text report: a section per protocol seen (DNS: queries,
//! answers, response times, rcodes, the slowest and unanswered questions; RTP: a table of
//! streams, problem streams first) and the verdict's words on what the application did that
//! UDP does not.

use std::io::{self, Write};

use super::format::{count, plural};
use super::text::{heading, item};
use crate::analysis::app::{AppAnalysis, RtpStats};
use crate::app::dns::transactions::UNFRAGMENTED_PAYLOAD;
use crate::app::dns::{DnsStats, ResponseTimes};

/// Response times of a few hundred µs and of seconds, both readable: `0.303 ms`, `1.250 s`.
fn duration_us(us: f64) -> String {
    if us.abs() < 1_000_000.0 {
        format!("{:.3} ms", us / 1_000.0)
    } else {
        format!("{:.3} s", us / 1_000_000.0)
    }
}

fn times(t: &ResponseTimes) -> String {
    format!(
        "min {}, median {}, p95 {}, p99 {}, max {}",
        duration_us(t.min_us),
        duration_us(t.median_us),
        duration_us(t.p95_us),
        duration_us(t.p99_us),
        duration_us(t.max_us)
    )
}

/// The sections of every protocol seen, after the flows.
pub fn write_sections(out: &mut dyn Write, app: &AppAnalysis, color: bool) -> io::Result<()> {
    if let Some(dns) = app.dns() {
        write_dns(out, &dns, color)?;
    }
    if let Some(rtp) = app.rtp() {
        write_rtp(out, &rtp, color)?;
    }
    Ok(())
}

/// `12.345` ms, or `-` when unknown (no clock rate: never guessed).
fn ms(value: Option<f64>) -> String {
    value.map_or_else(|| "-".to_string(), |v| format!("{v:.3}"))
}

fn write_rtp(out: &mut dyn Write, rtp: &RtpStats, color: bool) -> io::Result<()> {
    heading(
        out,
        &format!(
            "rtp: {}, {}, {} lost, {} duplicated, {} reordered",
            plural(rtp.streams, "stream", "streams"),
            plural(rtp.packets, "packet", "packets"),
            count(rtp.lost),
            count(rtp.duplicates),
            count(rtp.reordered)
        ),
        color,
    )?;
    if rtp.evicted > 0 {
        item(
            out,
            &format!(
                "{} closed early: the table of streams was full",
                plural(rtp.evicted, "stream", "streams")
            ),
        )?;
    }
    for s in &rtp.list {
        let jitter = match (s.jitter_ms, s.max_jitter_ms) {
            (Some(j), Some(max)) => format!("jitter {j:.3} ms (max {max:.3})"),
            _ => "jitter in ms unavailable (no clock rate for this payload type; \
                  --rtp-clock PT=RATE)"
                .to_string(),
        };
        let mut line = format!(
            "ssrc 0x{:08x} {} → {} pt {}: {}, {} expected, {} lost, {} duplicated, {} \
             reordered; {jitter}, max gap {} ms; by {}",
            s.ssrc,
            s.src,
            s.dst,
            s.payload_type,
            plural(s.packets, "packet", "packets"),
            count(s.expected),
            count(s.lost),
            count(s.duplicates),
            count(s.reordered),
            ms(s.max_delta_ms),
            s.detected_by
        );
        if s.jumps + s.restarts > 0 {
            line.push_str(&format!(
                " ({} sequence jumps, {} restarts)",
                count(s.jumps),
                count(s.restarts)
            ));
        }
        item(out, &line)?;
        if let Some(r) = &s.rtcp {
            let mut said = Vec::new();
            if let (Some(lost), Some(frac)) = (r.cumulative_lost, r.fraction_lost) {
                said.push(format!(
                    "{} (the last: {lost} lost, {:.1}% lately; the capture saw {} lost)",
                    plural(r.reports, "receiver report", "receiver reports"),
                    frac * 100.0,
                    s.lost
                ));
            }
            if r.sender_reports > 0 {
                said.push(format!(
                    "{} (the last said {} packets sent; the capture saw {})",
                    plural(r.sender_reports, "sender report", "sender reports"),
                    r.sender_packets
                        .map_or_else(|| "?".to_string(), |p| p.to_string()),
                    s.packets
                ));
            }
            if let Some(rtt) = r.rtt_ms {
                said.push(format!("round trip {rtt:.3} ms (LSR/DLSR)"));
            }
            item(out, &format!("  rtcp: {}", said.join(", ")))?;
        }
    }
    if rtp.not_listed > 0 {
        item(
            out,
            &format!(
                "({} more not listed)",
                plural(rtp.not_listed, "stream", "streams")
            ),
        )?;
    }
    Ok(())
}

fn write_dns(out: &mut dyn Write, dns: &DnsStats, color: bool) -> io::Result<()> {
    heading(
        out,
        &format!(
            "dns: {}, {} answered, {} unanswered, {} re-sent",
            plural(dns.queries, "query", "queries"),
            count(dns.answered),
            count(dns.unanswered),
            count(dns.retransmitted)
        ),
        color,
    )?;
    if dns.unsolicited > 0 {
        item(
            out,
            &format!(
                "{} with no query in the capture",
                plural(dns.unsolicited, "response", "responses")
            ),
        )?;
    }
    if dns.evicted > 0 {
        item(
            out,
            &format!(
                "{} closed early: the table of open queries was full",
                plural(dns.evicted, "query", "queries")
            ),
        )?;
    }
    if let Some(t) = &dns.response_times {
        item(out, &format!("response time: {}", times(t)))?;
    }
    for server in &dns.servers {
        let name = server
            .server
            .map_or_else(|| "other servers".to_string(), |s| s.to_string());
        let mut line = format!(
            "{name}: {}, {} answered",
            plural(server.queries, "query", "queries"),
            count(server.answered)
        );
        if let Some(t) = &server.response_times {
            line.push_str(&format!("; {}", times(t)));
        }
        item(out, &line)?;
    }
    if !dns.rcodes.is_empty() {
        let rcodes: Vec<String> = dns
            .rcodes
            .iter()
            .map(|(name, n)| format!("{name} {}", count(*n)))
            .collect();
        item(out, &format!("responses: {}", rcodes.join(", ")))?;
    }
    item(
        out,
        &format!(
            "{} ({} asked again over TCP), {} larger than {} bytes, {} in IP fragments",
            plural(dns.truncated, "truncated answer", "truncated answers"),
            count(dns.truncated_retried_over_tcp),
            count(dns.responses_over_1232),
            count(UNFRAGMENTED_PAYLOAD as u64),
            count(dns.fragmented_responses)
        ),
    )?;
    for slow in &dns.slowest {
        item(
            out,
            &format!(
                "slow: {} {} {} (frames {} → {})",
                slow.qname.as_deref().unwrap_or("(no question)"),
                slow.qtype.map(|t| t.to_string()).unwrap_or_default(),
                duration_us(slow.rtt_us),
                slow.query_frame,
                slow.response_frame
            ),
        )?;
    }
    for name in &dns.unanswered_names {
        item(
            out,
            &format!(
                "unanswered: {} (×{}{})",
                name.qname,
                count(name.count),
                if dns.unanswered_names_exact {
                    ""
                } else {
                    " at most"
                }
            ),
        )?;
    }
    Ok(())
}

/// The verdict's words for each protocol seen: UDP set nothing up, the application did.
pub fn write_lessons(out: &mut dyn Write, app: &AppAnalysis, color: bool) -> io::Result<()> {
    write_dns_lesson(out, app, color)?;
    let Some(rtp) = app.rtp_lesson() else {
        return Ok(());
    };
    heading(out, "above UDP: RTP shows what UDP does not", color)?;
    item(
        out,
        &format!(
            "UDP delivered these {} with no order or delivery guarantee; RTP's sequence \
             numbers show {} lost, {} reordered and {} duplicated in {}",
            plural(rtp.packets, "packet", "packets"),
            count(rtp.lost),
            count(rtp.reordered),
            count(rtp.duplicates),
            plural(rtp.streams, "stream", "streams")
        ),
    )?;
    let jitter = match rtp.worst_jitter_ms {
        Some(j) => format!(" (interarrival jitter up to {j:.3} ms)"),
        None => String::new(),
    };
    item(
        out,
        &format!(
            "the application (the player's jitter buffer) is what hides it{jitter}: it waits \
             for late packets, puts them back in order and conceals the lost ones"
        ),
    )
}

fn write_dns_lesson(out: &mut dyn Write, app: &AppAnalysis, color: bool) -> io::Result<()> {
    let Some(dns) = app.dns_lesson() else {
        return Ok(());
    };
    heading(out, "above UDP: DNS did what UDP does not", color)?;
    item(
        out,
        &format!(
            "acknowledgement: UDP has none; the answer is the acknowledgement ({} of {} \
             answered), and its id and question tie it to its query",
            count(dns.answered),
            plural(dns.queries, "query", "queries")
        ),
    )?;
    let resent = match dns.waited_s {
        Some(waited) => format!(
            "the client re-sent {} after about {} of silence ({} answered in the end); \
             {} never answered",
            plural(dns.resent, "query", "queries"),
            duration_us(waited * 1e6),
            count(dns.resent_answered),
            count(dns.unanswered)
        ),
        None if dns.unanswered > 0 => format!(
            "no query was re-sent; {} never answered",
            count(dns.unanswered)
        ),
        None => "no query needed re-sending".to_string(),
    };
    item(out, &format!("reliability: UDP re-sends nothing; {resent}"))
}
