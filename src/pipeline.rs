//! The one frame path: a source's frames through decode and filter to every sink of the run.
//!
//! Every command drives its frames through [`Pipeline`]: `read`, `capture`, `demo`, `replay`
//! (and `--dry-run`). The pipeline owns the decoder, the filter, the `-c` limit and the one
//! accounting of skipped frames; the sinks it is built with see the events they asked for
//! ([`Sink::interest`]), in the order they were given: a live capture's file first, so the
//! file holds exactly the frames counted as captured.

use std::ops::ControlFlow;

use crate::app::{AppRecord, Layer, LayerConfig};
use crate::decode::icmp::{PROTO_ICMP, PROTO_ICMPV6};
use crate::decode::{Datagram, DecodeStats, Decoded, Decoder, Skip};
use crate::error::{Error, Result};
use crate::filter::{Filter, Selector};
use crate::frame::Frame;
use crate::shutdown::Shutdown;
use crate::sink::{Interest, Sink};
use crate::source::{Feed, FrameSource};

/// Why a run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    /// The source had nothing more (end of file), or was stopped by the shutdown flag.
    Exhausted,
    /// The `-c` limit of selected datagrams was reached.
    Limit,
    /// A sink asked to stop (`-W` files written, replay interrupted).
    Sink,
}

/// What a finished run hands back.
#[derive(Debug)]
pub struct Outcome {
    /// Frames the source delivered.
    pub frames: u64,
    /// Datagrams selected by the filter (and handed to the sinks).
    pub selected: u64,
    /// Frames the filter expression did not match (handed to no sink).
    pub filtered: u64,
    /// Decoder counters.
    pub stats: DecodeStats,
    /// Why the run ended.
    pub end: End,
}

/// One run: decoder, filter, limit and sinks.
pub struct Pipeline<'s> {
    decoder: Decoder,
    filter: Filter,
    /// The filter expression, run on each frame before any sink sees it.
    selector: Option<Selector>,
    filtered: u64,
    /// Sinks wanting raw frames, and sinks wanting decoded events (indices into `sinks`).
    sinks: Vec<&'s mut dyn Sink>,
    raw: Vec<usize>,
    decoded: Vec<usize>,
    /// Sinks wanting the layer above UDP, and the layer when one does.
    app_sinks: Vec<usize>,
    app: Option<Layer>,
    decode: bool,
    limit: Option<u64>,
    frames: u64,
    selected: u64,
    end: End,
    /// The first sink failure: the run stops on it, and it is what the run returns.
    failure: Option<Error>,
}

impl std::fmt::Debug for Pipeline<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline")
            .field("filter", &self.filter)
            .field("sinks", &self.sinks.len())
            .field("frames", &self.frames)
            .field("selected", &self.selected)
            .finish_non_exhaustive()
    }
}

impl<'s> Pipeline<'s> {
    /// A pipeline selecting with `filter` into `sinks`, stopping after `limit` selected
    /// datagrams.
    pub fn new(filter: Filter, limit: Option<u64>, sinks: Vec<&'s mut dyn Sink>) -> Self {
        let wanting = |wants: fn(Interest) -> bool| {
            sinks
                .iter()
                .enumerate()
                .filter(|(_, s)| wants(s.interest()))
                .map(|(i, _)| i)
                .collect::<Vec<_>>()
        };
        let raw = wanting(|i| i.frames);
        let decoded = wanting(|i| i.decoded);
        let app_sinks = wanting(|i| i.decoded && i.app);
        let lines = app_sinks.iter().any(|&i| sinks[i].reads_dissections());
        let app = (!app_sinks.is_empty()).then(|| Layer::new(&LayerConfig::default()).lines(lines));
        Pipeline {
            decoder: Decoder::new(),
            selector: filter.selector(),
            filtered: 0,
            filter,
            decode: !decoded.is_empty() || limit.is_some(),
            sinks,
            raw,
            decoded,
            app_sinks,
            app,
            limit,
            frames: 0,
            selected: 0,
            end: End::Exhausted,
            failure: None,
        }
    }

    /// Runs the layer above UDP with `config` (`--decode-as`, `--dns-timeout`), when some
    /// sink wants it.
    pub fn with_app(mut self, config: &LayerConfig) -> Self {
        if let Some(layer) = &self.app {
            self.app = Some(Layer::new(config).lines(layer.reads_lines()));
        }
        self
    }

    /// Computes no checksum verdicts (see [`Decoder::skip_checksums`]): for runs that show no
    /// datagram and only copy frames.
    pub fn without_checksums(mut self) -> Self {
        self.decoder.skip_checksums();
        self
    }

    /// Datagrams selected so far.
    pub fn selected(&self) -> u64 {
        self.selected
    }

    /// Frames fed so far.
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// Runs `source` through the pipeline until it ends, the limit is reached, a sink stops
    /// the run, or `shutdown` is triggered. An error of the source (a damaged record) is
    /// returned after every frame before it went through; a sink's failure is returned by
    /// [`Pipeline::finish`].
    pub fn run(&mut self, source: &mut dyn FrameSource, shutdown: &Shutdown) -> Result<()> {
        source.run(self, shutdown)
    }

    /// Feeds one frame through decode, filter and sinks. `Break` once the run should stop.
    pub fn push(&mut self, frame: &Frame<'_>) -> Result<ControlFlow<()>> {
        let flow = self.step(frame);
        match self.failure.take() {
            Some(e) => Err(e),
            None => Ok(flow),
        }
    }

    fn step(&mut self, frame: &Frame<'_>) -> ControlFlow<()> {
        if self.reached_limit() {
            return ControlFlow::Break(());
        }
        self.frames += 1;
        // The expression selects frames, as `tcpdump -r FILE EXPR` does: a frame it does not
        // match is counted and goes to no sink, not even a raw-frame one.
        if let Some(selector) = &mut self.selector {
            match selector.selects(frame) {
                Ok(true) => {}
                Ok(false) => {
                    self.filtered += 1;
                    return ControlFlow::Continue(());
                }
                Err(e) => return self.fail(Error::Filter(e)),
            }
        }
        let mut flow = ControlFlow::Continue(());
        for &i in &self.raw {
            match self.sinks[i].frame(frame) {
                Ok(ControlFlow::Continue(())) => {}
                Ok(ControlFlow::Break(())) => {
                    // The frame still goes to the other sinks: it is in the file.
                    self.end = End::Sink;
                    flow = ControlFlow::Break(());
                }
                Err(e) => return self.fail(e),
            }
        }
        if !self.decode {
            return flow;
        }
        if (frame.orig_len as usize) < frame.data.len() {
            // An inconsistent record header (tcpdump: "[Invalid header: len(40) < caplen(65)]").
            // As Wireshark does, every captured byte is still decoded and the frame is flagged.
            if let Err(e) = self.each(|sink| sink.inconsistent(frame)) {
                return self.fail(e);
            }
        }
        // Counted where it lies: `Decoder::decode` returned it after counting, one more move
        // of the 256-byte value per frame.
        let decoded = self.decoder.decode_uncounted(frame);
        self.decoder.count(&decoded);
        let result = match &decoded {
            Decoded::Datagram(d) => self.datagram(frame, d, &mut flow),
            Decoded::Tcp(segment) => {
                if self.filter.segment(segment) {
                    let result = self.each(|sink| sink.segment(frame, segment));
                    if let (Ok(()), Some(layer), Some(at)) =
                        (&result, &mut self.app, segment.payload_at)
                        && segment.payload_len > 0
                    {
                        let payload = frame.data.get(at..).unwrap_or_default();
                        let payload = &payload[..payload.len().min(segment.payload_len)];
                        let (sinks, app_sinks) = (&mut self.sinks, &self.app_sinks);
                        let mut result = Ok(());
                        layer.observe_tcp(segment, payload, &mut |record| {
                            hand_app_record(sinks, app_sinks, &record, &mut result);
                        });
                        result
                    } else {
                        result
                    }
                } else {
                    Ok(())
                }
            }
            // An error about a datagram of the port belongs with that port's datagrams: the
            // filter looks at the ports of the datagram it quotes.
            Decoded::Icmp(error) => {
                if self.filter.quoted(&error.quoted) {
                    self.each(|sink| sink.icmp(frame, error))
                } else {
                    // Still an ICMP packet in the capture, as it was before errors were decoded.
                    let skip = Skip::NotUdp(if error.version == 4 {
                        PROTO_ICMP
                    } else {
                        PROTO_ICMPV6
                    });
                    self.each(|sink| sink.skipped(frame, &skip))
                }
            }
            // The port of a fragment is known only once its datagram is whole, so every
            // fragment goes on (a `udp port` BPF filter would instead lose all but the first).
            Decoded::FragmentHeld => self.each(|sink| sink.fragment(frame)),
            Decoded::Skipped(skip) => self.each(|sink| sink.skipped(frame, skip)),
        };
        drop(decoded);
        if let Err(e) = result {
            return self.fail(e);
        }
        // An sFlow datagram's other sampled datagrams, each one as any datagram of the frame.
        // Both calls below are asked first with an inlined look at a length: for the usual
        // frame (no sample left, no reassembly given up) the calls themselves, with their large
        // stack frames, held 9% of text `read`'s decoding-thread samples at their entry on 1M
        // datagrams (the thread's total moved less: part of it was waits that moved elsewhere).
        while flow.is_continue() && self.decoder.has_samples() && !self.reached_limit() {
            let Some(d) = self.decoder.next_sampled(frame) else {
                break;
            };
            if let Err(e) = self.datagram(frame, &d, &mut flow) {
                return self.fail(e);
            }
        }
        if self.decoder.has_incomplete()
            && let Err(e) = self.settle_incomplete(false)
        {
            return self.fail(e);
        }
        if self.reached_limit() {
            self.end = End::Limit;
            return ControlFlow::Break(());
        }
        flow
    }

    /// Hands a decoded datagram to the sinks, when the filter selects it, and its application
    /// message to the layer above UDP. `flow` breaks when a sink asks to stop.
    fn datagram(
        &mut self,
        frame: &Frame<'_>,
        d: &Datagram<'_>,
        flow: &mut ControlFlow<()>,
    ) -> Result<()> {
        if !self.filter.datagram(d) {
            return Ok(());
        }
        self.selected += 1;
        let mut stop = false;
        let mut result = Ok(());
        let app = self.app.as_mut().and_then(|layer| layer.dissect(d));
        for &i in &self.decoded {
            match self.sinks[i].datagram_app(frame, d, app.as_ref()) {
                Ok(ControlFlow::Continue(())) => {}
                Ok(ControlFlow::Break(())) => stop = true,
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        if let (Ok(()), Some(app), Some(layer)) = (&result, &app, &mut self.app) {
            let (sinks, app_sinks) = (&mut self.sinks, &self.app_sinks);
            layer.observe(d, app, &mut |record| {
                hand_app_record(sinks, app_sinks, &record, &mut result);
            });
        }
        if stop {
            self.end = End::Sink;
            *flow = ControlFlow::Break(());
        }
        result
    }

    fn reached_limit(&self) -> bool {
        self.limit.is_some_and(|l| self.selected >= l)
    }

    /// Hands each decoded-event sink one event; stops at the first failure.
    fn each(&mut self, mut event: impl FnMut(&mut dyn Sink) -> Result<()>) -> Result<()> {
        for &i in &self.decoded {
            event(&mut *self.sinks[i])?;
        }
        Ok(())
    }

    /// Datagrams whose reassembly was given up (or, at the end, never completed). During the
    /// run the caller asks [`Decoder::has_incomplete`] first: for nearly every frame there is
    /// none, and taking, walking and dropping an empty Vec per frame was 6% of read
    /// --summary's decoding thread (perf record, 1M datagrams).
    fn settle_incomplete(&mut self, at_end: bool) -> Result<()> {
        let incomplete = if at_end {
            self.decoder.finish()
        } else {
            self.decoder.take_incomplete()
        };
        for set in &incomplete {
            self.each(|sink| sink.incomplete(set))?;
        }
        Ok(())
    }

    fn fail(&mut self, e: Error) -> ControlFlow<()> {
        self.failure.get_or_insert(e);
        ControlFlow::Break(())
    }

    /// Ends the run: settles unfinished reassembly and finishes every sink (all of them, even
    /// after a failure, so every file is left valid). The first failure is returned.
    pub fn finish(mut self) -> Result<Outcome> {
        if self.failure.is_none()
            && self.decode
            && let Err(e) = self.settle_incomplete(true)
        {
            self.failure = Some(e);
        }
        // Every transaction still open ends with the capture, before the sinks close.
        if self.failure.is_none()
            && let Some(layer) = &mut self.app
        {
            let (sinks, app_sinks) = (&mut self.sinks, &self.app_sinks);
            let mut result = Ok(());
            layer.finish(&mut |record| hand_app_record(sinks, app_sinks, &record, &mut result));
            if let Err(e) = result {
                self.failure = Some(e);
            }
        }
        for sink in &mut self.sinks {
            if let Err(e) = sink.finish() {
                self.failure.get_or_insert(e);
            }
        }
        if let Some(e) = self.failure {
            return Err(e);
        }
        Ok(Outcome {
            frames: self.frames,
            selected: self.selected,
            filtered: self.filtered,
            stats: self.decoder.stats().clone(),
            end: self.end,
        })
    }
}

/// Hands a record the layer finished to the sinks that want it, as the layer finishes it (it
/// is lent, not stored); every sink gets every record, and `result` keeps the first failure.
fn hand_app_record(
    sinks: &mut [&mut dyn Sink],
    app_sinks: &[usize],
    record: &AppRecord<'_>,
    result: &mut Result<()>,
) {
    for &i in app_sinks {
        if let Some(sink) = sinks.get_mut(i)
            && let Err(e) = sink.app_record(record)
            && result.is_ok()
        {
            *result = Err(e);
        }
    }
}

impl Feed for Pipeline<'_> {
    fn frame(&mut self, frame: &Frame<'_>) -> ControlFlow<()> {
        self.step(frame)
    }

    fn note(&mut self, note: &crate::source::Note) {
        for sink in &mut self.sinks {
            if let Err(e) = sink.source_note(note) {
                self.failure.get_or_insert(e);
            }
        }
    }

    fn idle(&mut self) -> ControlFlow<()> {
        for sink in &mut self.sinks {
            if let Err(e) = sink.idle() {
                return self.fail(e);
            }
        }
        ControlFlow::Continue(())
    }

    fn caught_up(&mut self, ts_ns: u64) -> ControlFlow<()> {
        for sink in &mut self.sinks {
            if let Err(e) = sink.caught_up(ts_ns) {
                return self.fail(e);
            }
        }
        ControlFlow::Continue(())
    }
}
