//! The layer above UDP in the text report: a section per protocol seen (DNS: queries,
//! answers, response times, rcodes, the slowest and unanswered questions; RTP: a table of
//! streams, problem streams first) and the verdict's words on what the application did that
//! UDP does not.

use std::io::{self, Write};

use super::format::clock;
use super::format::{count, plural};
use super::text::{heading, item};
use crate::analysis::app::{AppAnalysis, QuicLesson, QuicStats, RtpStats};
use crate::app::dns::transactions::UNFRAGMENTED_PAYLOAD;
use crate::app::dns::{DnsStats, ResponseTimes};
use crate::app::dtls::{DtlsHandshake, DtlsStats};
use crate::app::wireguard::{WireguardSession, WireguardStats};

/// Response times of a few hundred µs and of seconds, both readable: `0.303 ms`, `1.250 s`.
pub(crate) fn duration_us(us: f64) -> String {
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
    if let Some(quic) = app.quic() {
        write_quic(out, &quic, color)?;
    }
    if let Some(dtls) = app.dtls() {
        write_dtls(out, &dtls, color)?;
    }
    if let Some(wireguard) = app.wireguard() {
        write_wireguard(out, &wireguard, color)?;
    }
    Ok(())
}

fn write_wireguard(out: &mut dyn Write, wg: &WireguardStats, color: bool) -> io::Result<()> {
    heading(
        out,
        &format!(
            "wireguard: {}, {} answered, {} unanswered, {}",
            plural(
                wg.initiations,
                "handshake initiation",
                "handshake initiations"
            ),
            count(wg.answered),
            count(wg.unanswered),
            plural(wg.reinitiations, "re-initiation", "re-initiations")
        ),
        color,
    )?;
    if let Some(d) = &wg.handshake_rtt_us {
        item(
            out,
            &format!(
                "handshake round trip: min {}, mean {}, max {} ({})",
                duration_us(d.min_us),
                duration_us(d.mean_us),
                duration_us(d.max_us),
                plural(d.count, "handshake", "handshakes")
            ),
        )?;
    }
    item(
        out,
        &format!(
            "transport: {} ({} keepalives); {}",
            plural(wg.transport_packets, "packet", "packets"),
            count(wg.keepalives),
            plural(wg.cookie_replies, "cookie reply", "cookie replies")
        ),
    )?;
    evicted(
        out,
        wg.evicted,
        ["session", "sessions"],
        "closed",
        "the table of sessions was full",
    )?;
    Ok(())
}

/// "N sessions closed early: the table of sessions was full": what a bounded table let go of
/// before its end, when it let go of anything.
fn evicted(
    out: &mut dyn Write,
    n: u64,
    [one, many]: [&str; 2],
    verb: &str,
    why: &str,
) -> io::Result<()> {
    if n == 0 {
        return Ok(());
    }
    item(
        out,
        &format!("{} {verb} early: {why}", plural(n, one, many)),
    )
}

/// The verdict's sentence for one WireGuard handshake.
fn wireguard_lesson(s: &WireguardSession) -> String {
    let mut parts = vec![format!(
        "{}initiation at {} (frame {}, sender {})",
        if s.reinitiation { "re-" } else { "" },
        clock(s.initiation_ts.0),
        s.initiation_frame,
        s.initiator_index
    )];
    if s.cookie_reply {
        parts.push("a cookie reply first (the responder under load)".to_string());
    }
    match (s.response_frame, s.handshake_rtt_us) {
        (Some(frame), Some(us)) => parts.push(format!(
            "response {} later (frame {frame}, sender {})",
            duration_us(us),
            s.responder_index.as_deref().unwrap_or("?")
        )),
        _ => parts.push("never answered in the capture".to_string()),
    }
    let transport = s.transport_to_initiator + s.transport_to_responder;
    if transport > 0 {
        parts.push(format!(
            "then {} in the session",
            plural(transport, "transport packet", "transport packets")
        ));
    }
    format!(
        "{} → {}: UDP set nothing up; WireGuard did, inside the datagrams: {}",
        s.initiator,
        s.responder,
        parts.join(", ")
    )
}

/// A name from the wire (SNI), as the text policy shows it.
pub(crate) fn shown(name: &str) -> String {
    crate::text::escape(name.as_bytes(), crate::text::QUOTED)
}

fn write_dtls(out: &mut dyn Write, dtls: &DtlsStats, color: bool) -> io::Result<()> {
    heading(
        out,
        &format!(
            "dtls: {}, {} complete, {} re-sent",
            plural(dtls.associations, "association", "associations"),
            count(dtls.complete),
            plural(dtls.flights_resent, "flight", "flights")
        ),
        color,
    )?;
    let versions: Vec<String> = dtls
        .versions
        .iter()
        .map(|(v, n)| format!("{v} {}", count(*n)))
        .collect();
    item(out, &format!("versions: {}", versions.join(", ")))?;
    item(
        out,
        &format!(
            "{} in all, {} re-sent ({} handshake {} again); {} asked for a cookie first",
            plural(dtls.flights, "flight", "flights"),
            count(dtls.flights_resent),
            count(dtls.fragments_resent),
            if dtls.fragments_resent == 1 {
                "fragment"
            } else {
                "fragments"
            },
            plural(dtls.cookie_rounds, "server", "servers")
        ),
    )?;
    if let Some(d) = &dtls.handshake_us {
        item(
            out,
            &format!(
                "handshake duration: min {}, mean {}, max {} ({})",
                duration_us(d.min_us),
                duration_us(d.mean_us),
                duration_us(d.max_us),
                plural(d.count, "handshake", "handshakes")
            ),
        )?;
    }
    item(
        out,
        &format!(
            "after the handshake: {}, {}; {} malformed",
            plural(
                dtls.application_records,
                "application data record",
                "application data records"
            ),
            plural(dtls.alerts, "alert", "alerts"),
            plural(dtls.malformed, "datagram", "datagrams")
        ),
    )?;
    if !dtls.server_names.is_empty() {
        let names: Vec<String> = dtls
            .server_names
            .iter()
            .map(|(name, n)| format!("{} ×{}", shown(name), count(*n)))
            .collect();
        item(out, &format!("server names: {}", names.join(", ")))?;
    }
    evicted(
        out,
        dtls.evicted,
        ["association", "associations"],
        "closed",
        "the table of associations was full",
    )?;
    Ok(())
}

/// The verdict's sentence for one DTLS association: what the application set up where UDP
/// set up nothing.
fn dtls_lesson(a: &DtlsHandshake) -> String {
    let mut parts = Vec::new();
    match (&a.client_hello_ts, a.client_hello_frame) {
        (Some(ts), Some(frame)) => {
            let mut hello = format!("ClientHello at {} (frame {frame}", clock(ts.0));
            if let Some(sni) = &a.sni {
                hello.push_str(&format!(", SNI {}", shown(sni)));
            }
            hello.push(')');
            parts.push(hello);
        }
        _ => parts.push("its ClientHello before the capture began".to_string()),
    }
    if a.hello_verify_request {
        parts.push(match a.cookie_client_hello_frame {
            Some(frame) => {
                format!("a cookie round (HelloVerifyRequest, ClientHello again in frame {frame})")
            }
            None => "a cookie asked for (HelloVerifyRequest) and never returned".to_string(),
        });
    }
    if let Some(us) = a.server_response_us {
        parts.push(format!("the server's answer {} later", duration_us(us)));
    }
    match (a.handshake_us, a.complete) {
        (Some(us), true) => parts.push(format!("handshake done in {}", duration_us(us))),
        (Some(us), false) => parts.push(format!(
            "no encrypted end seen ({} of handshake)",
            duration_us(us)
        )),
        _ => {}
    }
    parts.push(format!(
        "{} re-sent by DTLS's own timer",
        plural(u64::from(a.flights_resent), "flight", "flights")
    ));
    if a.application_records > 0 {
        parts.push(format!(
            "then {}",
            plural(
                a.application_records,
                "application data record",
                "application data records"
            )
        ));
    }
    format!(
        "{} → {}: UDP set nothing up; DTLS {} did, inside the datagrams: {}",
        a.client,
        a.server,
        a.version.as_deref().unwrap_or("(version unseen)"),
        parts.join(", ")
    )
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
    evicted(
        out,
        rtp.evicted,
        ["stream", "streams"],
        "closed",
        "the table of streams was full",
    )?;
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

fn write_quic(out: &mut dyn Write, quic: &QuicStats, color: bool) -> io::Result<()> {
    heading(
        out,
        &format!(
            "quic: {}, {} answered, {} completed",
            plural(quic.connections, "connection", "connections"),
            count(quic.answered),
            count(quic.completed)
        ),
        color,
    )?;
    let versions: Vec<String> = quic
        .versions
        .iter()
        .map(|(v, n)| format!("{} {}", version_word(v), count(*n)))
        .collect();
    item(out, &format!("versions: {}", versions.join(", ")))?;
    if let Some(t) = &quic.handshake_rtt_us {
        item(
            out,
            &format!(
                "handshake round trip (client Initial → server's first packet): min {}, median {}, max {}",
                duration_us(t.min_us),
                duration_us(t.median_us),
                duration_us(t.max_us)
            ),
        )?;
    }
    item(
        out,
        &format!(
            "Initials re-sent: {} by clients, {} by servers; {}, {}, {}",
            count(quic.initial_retransmissions_client),
            count(quic.initial_retransmissions_server),
            plural(quic.retries, "Retry", "Retries"),
            plural(
                quic.version_negotiations,
                "version negotiation",
                "version negotiations"
            ),
            plural(quic.migrations, "migration", "migrations")
        ),
    )?;
    for name in &quic.server_names {
        item(
            out,
            &format!(
                "server name {}: {}",
                name.sni.as_deref().unwrap_or("(none)"),
                plural(name.connections, "connection", "connections")
            ),
        )?;
    }
    if !quic.alpn.is_empty() {
        let alpn: Vec<String> = quic
            .alpn
            .iter()
            .map(|(a, n)| format!("{a} {}", count(*n)))
            .collect();
        item(out, &format!("ALPN offered: {}", alpn.join(", ")))?;
    }
    if quic.undecryptable_initials > 0 || quic.malformed > 0 {
        item(
            out,
            &format!(
                "{} the Initial keys did not open, {} with malformed Initial frames or hellos",
                plural(quic.undecryptable_initials, "Initial", "Initials"),
                plural(quic.malformed, "connection", "connections")
            ),
        )?;
    }
    evicted(
        out,
        quic.evicted,
        ["connection", "connections"],
        "finished",
        "the connection table was full",
    )?;
    Ok(())
}

/// `v1`, `v2`, or the version as given.
pub(crate) fn version_word(version: &str) -> String {
    match version {
        "0x00000001" => "v1".to_string(),
        "0x6b3343cf" => "v2".to_string(),
        other => other.to_string(),
    }
}

/// The verdict's line for one QUIC connection: UDP set nothing up, QUIC did.
pub fn quic_lesson_line(c: &QuicLesson) -> String {
    let mut said = Vec::new();
    if let Some(sni) = &c.sni {
        said.push(format!("SNI {sni}"));
    }
    if let Some(alpn) = &c.alpn {
        said.push(format!("ALPN {alpn}"));
    }
    let mut line = format!(
        "UDP set nothing up; QUIC {} did, inside the datagrams: client Initial at {}",
        version_word(&c.version),
        clock(c.client_initial_ts_ns)
    );
    if !said.is_empty() {
        line.push_str(&format!(" ({})", said.join(", ")));
    }
    if let Some(vn) = &c.version_negotiation {
        line.push_str(&format!(
            ", version negotiation (server offered {})",
            vn.iter()
                .map(|v| version_word(v))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    match c.handshake_rtt_us {
        Some(rtt) => line.push_str(&format!(
            ", server's answer {} later{}",
            duration_us(rtt),
            if c.retry { " (a Retry)" } else { "" }
        )),
        None => line.push_str(", no answer from the server"),
    }
    if let Some(done) = c.completion_us {
        line.push_str(&format!(
            ", first 1-RTT from the server {} after",
            duration_us(done)
        ));
    }
    if c.client_resent > 0 {
        line.push_str(&format!(
            ", {} re-sent by the client after loss",
            plural(c.client_resent, "Initial", "Initials")
        ));
    }
    if c.server_resent > 0 {
        line.push_str(&format!(
            ", {} re-sent by the server",
            plural(c.server_resent, "Initial", "Initials")
        ));
    }
    line
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
    evicted(
        out,
        dns.evicted,
        ["query", "queries"],
        "closed",
        "the table of open queries was full",
    )?;
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

/// The verdict's words on one protocol: a heading and its lines.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Lesson {
    /// `above UDP: DNS did what UDP does not`.
    pub heading: String,
    /// One sentence each.
    pub lines: Vec<String>,
}

/// The verdict's words for each protocol seen: UDP set nothing up, the application did.
pub fn write_lessons(out: &mut dyn Write, app: &AppAnalysis, color: bool) -> io::Result<()> {
    for lesson in lessons(app) {
        heading(out, &lesson.heading, color)?;
        for line in &lesson.lines {
            item(out, line)?;
        }
    }
    Ok(())
}

/// The lessons of every protocol seen, in the report's order (computed once; the text and
/// HTML reports show the same words).
pub(crate) fn lessons(app: &AppAnalysis) -> Vec<Lesson> {
    [
        dns_lesson(app),
        rtp_lesson(app),
        quic_lesson(app),
        handshake_lessons(app),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// Each flow whose application built a handshake inside the datagrams, one line per protocol's
/// association (DTLS...). Flows with none (the lab's chat) get no line: nothing above UDP set
/// anything up there, and the verdict's "handshake: none" stands.
fn handshake_lessons(app: &AppAnalysis) -> Option<Lesson> {
    let mut lines: Vec<String> = app.dtls_handshakes().iter().map(dtls_lesson).collect();
    if let Some(stats) = app.dtls()
        && stats.associations > app.dtls_handshakes().len() as u64
    {
        lines.push(format!(
            "and {} more DTLS {}",
            count(stats.associations - app.dtls_handshakes().len() as u64),
            if stats.associations - app.dtls_handshakes().len() as u64 == 1 {
                "association"
            } else {
                "associations"
            }
        ));
    }
    lines.extend(app.wireguard_sessions().iter().map(wireguard_lesson));
    if let Some(stats) = app.wireguard() {
        let more = stats.initiations - app.wireguard_sessions().len() as u64;
        if more > 0 {
            lines.push(format!(
                "and {} more WireGuard {}",
                count(more),
                if more == 1 { "handshake" } else { "handshakes" }
            ));
        }
    }
    (!lines.is_empty()).then(|| Lesson {
        heading: "above UDP: handshakes the applications built".to_string(),
        lines,
    })
}

/// RTP's lines: what its numbers show and what hides it.
fn rtp_lesson(app: &AppAnalysis) -> Option<Lesson> {
    let rtp = app.rtp_lesson()?;
    let jitter = match rtp.worst_jitter_ms {
        Some(j) => format!(" (interarrival jitter up to {j:.3} ms)"),
        None => String::new(),
    };
    Some(Lesson {
        heading: "above UDP: RTP shows what UDP does not".to_string(),
        lines: vec![
            format!(
                "UDP delivered these {} with no order or delivery guarantee; RTP's sequence \
                 numbers show {} lost, {} reordered and {} duplicated in {}",
                plural(rtp.packets, "packet", "packets"),
                count(rtp.lost),
                count(rtp.reordered),
                count(rtp.duplicates),
                plural(rtp.streams, "stream", "streams")
            ),
            format!(
                "the application (the player's jitter buffer) is what hides it{jitter}: it \
                 waits for late packets, puts them back in order and conceals the lost ones"
            ),
        ],
    })
}

/// QUIC's lines: one per connection (the first few), each the handshake QUIC built.
fn quic_lesson(app: &AppAnalysis) -> Option<Lesson> {
    let quic = app.quic_lessons()?;
    let mut lines: Vec<String> = quic
        .connections
        .iter()
        .map(|c| format!("{} → {}: {}", c.client, c.server, quic_lesson_line(c)))
        .collect();
    if quic.more > 0 {
        lines.push(format!(
            "and {} more (see the quic section)",
            plural(quic.more, "connection", "connections")
        ));
    }
    Some(Lesson {
        heading: "above UDP: QUIC built the handshake UDP does not have".to_string(),
        lines,
    })
}

fn dns_lesson(app: &AppAnalysis) -> Option<Lesson> {
    let dns = app.dns_lesson()?;
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
    Some(Lesson {
        heading: "above UDP: DNS did what UDP does not".to_string(),
        lines: vec![
            format!(
                "acknowledgement: UDP has none; the answer is the acknowledgement ({} of {} \
                 answered), and its id and question tie it to its query",
                count(dns.answered),
                plural(dns.queries, "query", "queries")
            ),
            format!("reliability: UDP re-sends nothing; {resent}"),
        ],
    })
}
