//! Plots as one standalone SVG picture: stacked panels, each with axes of nice ticks and units,
//! step, line, dot and bar series labelled at their right end, and markers, in the ladder's
//! style (its fonts and colours, text escaped through [`xml_escape`]). Same plot, same bytes.
//!
//! Every series and marker group also carries its values (`data-x`, `data-y`) so that a
//! program (and the tests) can read what was drawn without measuring pixels.

use std::io::{self, Write};

use super::format::fit;
use super::svg::xml_escape;

const WIDTH: f64 = 860.0;
/// Left edge of a panel's plotting area (the y tick labels are to its left).
const LEFT: f64 = 78.0;
/// Right edge of the plotting area (the series' labels are to its right).
const RIGHT: f64 = 585.0;
/// Height of a panel's plotting area.
const AREA: f64 = 170.0;
/// Space above the area (panel title) and below it (x ticks and axis name).
const ABOVE: f64 = 44.0;
const BELOW: f64 = 44.0;
const MARGIN: f64 = 20.0;
/// Rows of the picture's title block.
const TITLE_ROW: f64 = 18.0;
/// Characters of a series label (11 px monospace is about 6.8 px a character).
const LABEL_COLS: usize = 39;
/// Vertical room a label needs.
const LABEL_ROW: f64 = 13.0;

/// Series colours, in order: the ladder's client and server colours first.
const PALETTE: [&str; 8] = [
    "#1f5fbf", "#8a3fb5", "#1a7f37", "#c2410c", "#0e7490", "#b4237a", "#6b6b00", "#555555",
];
const LOST_COLOUR: &str = "#cf222e";
const GRID_COLOUR: &str = "#e4e7eb";

/// One picture: a title, a few lines under it, and panels stacked from the top.
#[derive(Clone, Debug, Default)]
pub struct Plot {
    /// The picture's title.
    pub title: String,
    /// Lines under the title: what was chosen (the interval, the decimation) and why.
    pub notes: Vec<String>,
    /// The panels, top to bottom.
    pub panels: Vec<Panel>,
    /// Said instead of panels when there are none.
    pub empty: String,
}

/// One panel: its axes and what is drawn in them.
#[derive(Clone, Debug)]
pub struct Panel {
    /// A class name for programs (`io-datagrams`, `dns-response-time`, ...).
    pub id: &'static str,
    /// Its title, above it.
    pub title: String,
    /// The horizontal axis.
    pub x: Axis,
    /// The vertical axis.
    pub y: Axis,
    /// The series, drawn in order, each in its palette colour.
    pub series: Vec<Series>,
    /// Markers, drawn over the series.
    pub markers: Vec<Markers>,
}

/// An axis: its name and how its values are shown.
#[derive(Clone, Debug)]
pub struct Axis {
    /// Its name (without the unit, which [`Scale`] adds).
    pub name: String,
    /// What its values are.
    pub scale: Scale,
}

/// What an axis's numbers are.
#[derive(Clone, Debug, PartialEq)]
pub enum Scale {
    /// Seconds since the first datagram.
    Seconds,
    /// Milliseconds.
    Milliseconds,
    /// A count (datagrams, queries, packets).
    Count,
    /// Bytes, shown in B, kB or MB as the largest value asks.
    Bytes,
    /// Named slots (a histogram's buckets): value `i` is slot `i`; the labels sit at the
    /// slots' edges, one more than the slots.
    Edges(Vec<String>),
}

/// How a series is drawn.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Shape {
    /// Each value held from its x for `width` (per-interval counts).
    Step {
        /// The interval.
        width: f64,
    },
    /// Points joined by straight lines.
    Line,
    /// Points alone.
    Dots,
    /// Bars over [`Scale::Edges`] slots.
    Bars,
}

/// One series: a label, a shape and its points, x ascending.
#[derive(Clone, Debug)]
pub struct Series {
    /// Its label, drawn at its right end.
    pub label: String,
    /// How it is drawn.
    pub shape: Shape,
    /// Its points.
    pub points: Vec<(f64, f64)>,
}

/// Events marked where they happened (lost, duplicated, reordered datagrams).
#[derive(Clone, Debug)]
pub struct Markers {
    /// What they are (`lost`): the class and the legend's word.
    pub kind: &'static str,
    /// Their symbol.
    pub symbol: Symbol,
    /// Where: x, and y (`None`: on the panel's floor, for events without a value).
    pub points: Vec<(f64, Option<f64>)>,
    /// How many there were (more than `points` when only some are drawn).
    pub total: u64,
}

/// A marker's symbol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Symbol {
    /// ×, red: lost.
    Cross,
    /// ◇: duplicated.
    Diamond,
    /// △: reordered.
    Triangle,
}

impl Symbol {
    fn colour(self) -> &'static str {
        match self {
            Symbol::Cross => LOST_COLOUR,
            Symbol::Diamond => "#c2410c",
            Symbol::Triangle => "#6f42c1",
        }
    }

    fn glyph(self) -> &'static str {
        match self {
            Symbol::Cross => "×",
            Symbol::Diamond => "◇",
            Symbol::Triangle => "△",
        }
    }

    /// The symbol's path centred at (x, y).
    fn path(self, x: f64, y: f64) -> String {
        match self {
            Symbol::Cross => format!(
                "M{:.1} {:.1}l7 7M{:.1} {:.1}l7 -7",
                x - 3.5,
                y - 3.5,
                x - 3.5,
                y + 3.5
            ),
            Symbol::Diamond => format!("M{:.1} {:.1}l4 4l-4 4l-4 -4z", x, y - 4.0),
            Symbol::Triangle => format!("M{:.1} {:.1}l4 7h-8z", x, y - 4.0),
        }
    }
}

/// Round numbers from about `min` to `max`: steps of 1, 2 or 5 times a power of ten, about
/// `target` of them, covering the range. Returns (first, step, count).
pub fn nice_ticks(min: f64, max: f64, target: usize) -> (f64, f64, usize) {
    let (min, max) = if max > min {
        (min, max)
    } else {
        (min, min + 1.0)
    };
    let rough = (max - min) / target.max(1) as f64;
    let power = 10f64.powf(rough.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * power)
        .find(|s| *s >= rough)
        .unwrap_or(10.0 * power);
    let first = (min / step).floor() * step;
    let count = ((max - first) / step).ceil().max(1.0) as usize;
    (first, step, count.min(50))
}

/// `value` as a tick label with as many decimals as `step` needs.
fn tick_text(value: f64, step: f64) -> String {
    let decimals = if step >= 1.0 {
        0
    } else {
        (-step.log10().floor()) as usize
    };
    let text = format!("{value:.decimals$}");
    // "-0" reads oddly.
    if text.trim_start_matches(['-', '0', '.']).is_empty() {
        "0".to_string()
    } else {
        text
    }
}

/// A count with k or M when it is large (ticks of big counts stay short).
fn count_text(value: f64, step: f64) -> String {
    if value.abs() >= 1e6 && step >= 1e5 {
        format!("{}M", tick_text(value / 1e6, step / 1e6))
    } else if value.abs() >= 1e4 && step >= 1e3 {
        format!("{}k", tick_text(value / 1e3, step / 1e3))
    } else {
        tick_text(value, step)
    }
}

/// The unit an axis's name ends with, and the divisor its values are shown with.
fn unit(scale: &Scale, max: f64) -> (&'static str, f64) {
    match scale {
        Scale::Seconds => ("s", 1.0),
        Scale::Milliseconds => ("ms", 1.0),
        Scale::Count | Scale::Edges(_) => ("", 1.0),
        Scale::Bytes if max >= 1e6 => ("MB", 1e6),
        Scale::Bytes if max >= 1e4 => ("kB", 1e3),
        Scale::Bytes => ("B", 1.0),
    }
}

/// A value as the attribute lists carry it: Rust's shortest exact form.
fn number(v: f64) -> String {
    if v.is_finite() {
        format!("{v}")
    } else {
        "0".to_string()
    }
}

fn panel_height() -> f64 {
    ABOVE + AREA + BELOW
}

/// Writes `plot` as one SVG document.
pub fn write(out: &mut dyn Write, plot: &Plot) -> io::Result<()> {
    writeln!(out, r#"<?xml version="1.0" encoding="UTF-8"?>"#)?;
    write_inline(out, plot)
}

/// Writes `plot` as an `<svg>` element alone, without the XML declaration: for a page that
/// holds it (the HTML report).
pub fn write_inline(out: &mut dyn Write, plot: &Plot) -> io::Result<()> {
    let head = MARGIN + TITLE_ROW * (1 + plot.notes.len()) as f64 + 8.0;
    let body = if plot.panels.is_empty() {
        2.0 * TITLE_ROW
    } else {
        plot.panels.len() as f64 * (panel_height() + MARGIN)
    };
    let height = (head + body + MARGIN).ceil();
    writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="DejaVu Sans Mono, Menlo, Consolas, monospace" font-size="13">"#
    )?;
    writeln!(out, "<title>{}</title>", xml_escape(&plot.title))?;
    writeln!(
        out,
        r#"<rect x="0" y="0" width="{WIDTH}" height="{height}" fill="white"/>"#
    )?;
    let title_cols = ((WIDTH - 2.0 * MARGIN) / 8.6) as usize;
    writeln!(
        out,
        r#"<text class="plot-title" x="{MARGIN}" y="{}" font-weight="bold" font-size="15">{}</text>"#,
        MARGIN + 12.0,
        xml_escape(&fit(&plot.title, title_cols))
    )?;
    let note_cols = ((WIDTH - 2.0 * MARGIN) / 7.3) as usize;
    for (i, note) in plot.notes.iter().enumerate() {
        writeln!(
            out,
            r##"<text class="plot-note" x="{MARGIN}" y="{}" font-size="12" fill="#444">{}</text>"##,
            MARGIN + 12.0 + TITLE_ROW * (i + 1) as f64,
            xml_escape(&fit(note, note_cols))
        )?;
    }
    if plot.panels.is_empty() {
        writeln!(
            out,
            r#"<text class="plot-empty" x="{MARGIN}" y="{}">{}</text>"#,
            head + TITLE_ROW,
            xml_escape(&plot.empty)
        )?;
    }
    let mut top = head;
    for panel in &plot.panels {
        write_panel(out, panel, top)?;
        top += panel_height() + MARGIN;
    }
    writeln!(out, "</svg>")
}

/// The range of the values in `panel` along one axis.
fn range(values: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    values
        .filter(|v| v.is_finite())
        .fold(None, |acc, v| match acc {
            None => Some((v, v)),
            Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
        })
}

fn write_panel(out: &mut dyn Write, panel: &Panel, top: f64) -> io::Result<()> {
    let area_top = top + ABOVE;
    let area_bottom = area_top + AREA;
    // The x range: every point, a step's right end, marker positions; slots for bars.
    let (x_min, x_max) = match &panel.x.scale {
        Scale::Edges(edges) => (0.0, edges.len().saturating_sub(1).max(1) as f64),
        _ => {
            let xs = panel
                .series
                .iter()
                .flat_map(|s| {
                    let width = match s.shape {
                        Shape::Step { width } => width,
                        _ => 0.0,
                    };
                    s.points.iter().flat_map(move |p| [p.0, p.0 + width])
                })
                .chain(
                    panel
                        .markers
                        .iter()
                        .flat_map(|m| m.points.iter().map(|p| p.0)),
                );
            range(xs).unwrap_or((0.0, 1.0))
        }
    };
    let x_min = x_min.min(0.0);
    let ys = panel
        .series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1))
        .chain(
            panel
                .markers
                .iter()
                .flat_map(|m| m.points.iter().filter_map(|p| p.1)),
        );
    let (y_lo, y_hi) = range(ys).unwrap_or((0.0, 1.0));
    let (y_unit, y_div) = unit(&panel.y.scale, y_hi.abs().max(y_lo.abs()));
    let (y_first, y_step, y_count) = nice_ticks(y_lo.min(0.0) / y_div, y_hi / y_div, 4);
    let y_min = y_first * y_div;
    let y_max = (y_first + y_step * y_count as f64) * y_div;
    let (x_first, x_step, x_count) = match &panel.x.scale {
        Scale::Edges(edges) => (0.0, 1.0, edges.len().saturating_sub(1).max(1)),
        _ => nice_ticks(x_min, x_max, 8),
    };
    let x_lo = x_first;
    let x_hi = x_first + x_step * x_count as f64;
    let sx = |x: f64| LEFT + (x - x_lo) / (x_hi - x_lo) * (RIGHT - LEFT);
    let sy = |y: f64| area_bottom - (y - y_min) / (y_max - y_min) * AREA;

    writeln!(out, r#"<g class="panel {}">"#, panel.id)?;
    writeln!(
        out,
        r#"<text class="panel-title" x="{MARGIN}" y="{}" font-weight="bold">{}</text>"#,
        top + 16.0,
        xml_escape(&fit(&panel.title, 95))
    )?;
    // Grid and y ticks.
    for i in 0..=y_count {
        let value = y_first + y_step * i as f64;
        let y = sy(value * y_div);
        writeln!(
            out,
            r#"<line x1="{LEFT}" y1="{y:.1}" x2="{RIGHT}" y2="{y:.1}" stroke="{GRID_COLOUR}"/>"#
        )?;
        let text = match panel.y.scale {
            Scale::Count => count_text(value, y_step),
            _ => tick_text(value, y_step),
        };
        writeln!(
            out,
            r##"<text x="{}" y="{:.1}" text-anchor="end" font-size="11" fill="#444">{text}</text>"##,
            LEFT - 6.0,
            y + 4.0
        )?;
    }
    // x ticks.
    for i in 0..=x_count {
        let value = x_first + x_step * i as f64;
        let x = sx(value);
        let text = match &panel.x.scale {
            Scale::Edges(edges) => edges.get(i).cloned().unwrap_or_default(),
            Scale::Count => count_text(value, x_step),
            _ => tick_text(value, x_step),
        };
        writeln!(
            out,
            r##"<line x1="{x:.1}" y1="{area_bottom}" x2="{x:.1}" y2="{}" stroke="#444"/>"##,
            area_bottom + 4.0
        )?;
        writeln!(
            out,
            r##"<text x="{x:.1}" y="{}" text-anchor="middle" font-size="11" fill="#444">{}</text>"##,
            area_bottom + 16.0,
            xml_escape(&text)
        )?;
    }
    // Axes and their names.
    writeln!(
        out,
        r##"<path d="M{LEFT} {area_top}V{area_bottom}H{RIGHT}" fill="none" stroke="#444"/>"##
    )?;
    let (x_unit, _) = unit(&panel.x.scale, x_hi);
    writeln!(
        out,
        r##"<text class="x-name" x="{}" y="{}" text-anchor="middle" font-size="12" fill="#444">{}</text>"##,
        (LEFT + RIGHT) / 2.0,
        area_bottom + 34.0,
        xml_escape(&with_unit(&panel.x.name, x_unit))
    )?;
    writeln!(
        out,
        r##"<text class="y-name" x="{MARGIN}" y="{}" font-size="12" fill="#444">{}</text>"##,
        area_top - 13.0,
        xml_escape(&with_unit(&panel.y.name, y_unit))
    )?;
    // Series, then their labels at their right ends, pushed apart so that none overlap.
    let mut labels = Vec::new();
    for (i, series) in panel.series.iter().enumerate() {
        let colour = PALETTE[i % PALETTE.len()];
        write_series(out, series, colour, &sx, &sy)?;
        if let Some(&(x, y)) = series.points.last() {
            let x = match series.shape {
                Shape::Step { width } => x + width,
                _ => x,
            };
            labels.push((sy(y), sx(x), colour, series.label.as_str()));
        }
    }
    for (i, markers) in panel.markers.iter().enumerate() {
        write_markers(out, markers, &sx, &sy, area_bottom)?;
        let word = format!(
            "{} {} ({})",
            markers.symbol.glyph(),
            markers.kind,
            markers.total
        );
        writeln!(
            out,
            r#"<text class="marker-legend" x="{}" y="{}" font-size="11" fill="{}">{}</text>"#,
            RIGHT + 12.0,
            area_top + 10.0 + LABEL_ROW * i as f64,
            markers.symbol.colour(),
            xml_escape(&word)
        )?;
    }
    let floor = area_top + 10.0 + LABEL_ROW * panel.markers.len() as f64;
    write_labels(out, &mut labels, floor, area_bottom + 20.0)?;
    writeln!(out, "</g>")
}

fn with_unit(name: &str, unit: &str) -> String {
    if unit.is_empty() {
        name.to_string()
    } else {
        format!("{name} ({unit})")
    }
}

fn write_series(
    out: &mut dyn Write,
    series: &Series,
    colour: &str,
    sx: &dyn Fn(f64) -> f64,
    sy: &dyn Fn(f64) -> f64,
) -> io::Result<()> {
    let xs: Vec<String> = series.points.iter().map(|p| number(p.0)).collect();
    let ys: Vec<String> = series.points.iter().map(|p| number(p.1)).collect();
    let shape = match series.shape {
        Shape::Step { .. } => "step",
        Shape::Line => "line",
        Shape::Dots => "dots",
        Shape::Bars => "bars",
    };
    writeln!(
        out,
        r#"<g class="series {shape}" data-label="{}" data-x="{}" data-y="{}">"#,
        xml_escape(&series.label),
        xs.join(" "),
        ys.join(" ")
    )?;
    let mut d = String::new();
    match series.shape {
        Shape::Step { width } => {
            // Each value across its interval; drops to zero where intervals are missing.
            let base = sy(0.0);
            let mut pen: Option<f64> = None;
            for &(x, y) in &series.points {
                let (x0, x1, y) = (sx(x), sx(x + width), sy(y));
                match pen {
                    Some(end) if (end - x0).abs() < 0.05 => d.push_str(&format!("V{y:.1}")),
                    Some(_) => d.push_str(&format!("V{base:.1}M{x0:.1} {base:.1}V{y:.1}")),
                    None => d.push_str(&format!("M{x0:.1} {base:.1}V{y:.1}")),
                }
                d.push_str(&format!("H{x1:.1}"));
                pen = Some(x1);
            }
            if pen.is_some() {
                d.push_str(&format!("V{base:.1}"));
            }
            writeln!(
                out,
                r#"<path d="{d}" fill="none" stroke="{colour}" stroke-width="1.5"/>"#
            )?;
        }
        Shape::Line => {
            for (i, &(x, y)) in series.points.iter().enumerate() {
                let c = if i == 0 { 'M' } else { 'L' };
                d.push_str(&format!("{c}{:.1} {:.1}", sx(x), sy(y)));
            }
            writeln!(
                out,
                r#"<path d="{d}" fill="none" stroke="{colour}" stroke-width="1.5"/>"#
            )?;
        }
        Shape::Dots => {
            // One path of zero-length strokes with round caps: a dot each, in few bytes.
            for &(x, y) in &series.points {
                d.push_str(&format!("M{:.1} {:.1}h0", sx(x), sy(y)));
            }
            writeln!(
                out,
                r#"<path d="{d}" fill="none" stroke="{colour}" stroke-width="3.5" stroke-linecap="round"/>"#
            )?;
        }
        Shape::Bars => {
            let base = sy(0.0);
            for &(x, y) in &series.points {
                let (x0, x1) = (sx(x) + 2.0, sx(x + 1.0) - 2.0);
                d.push_str(&format!(
                    "M{x0:.1} {base:.1}V{:.1}H{x1:.1}V{base:.1}z",
                    sy(y)
                ));
            }
            writeln!(
                out,
                r#"<path d="{d}" fill="{colour}" fill-opacity="0.75" stroke="{colour}"/>"#
            )?;
        }
    }
    writeln!(out, "</g>")
}

fn write_markers(
    out: &mut dyn Write,
    markers: &Markers,
    sx: &dyn Fn(f64) -> f64,
    sy: &dyn Fn(f64) -> f64,
    floor: f64,
) -> io::Result<()> {
    let xs: Vec<String> = markers.points.iter().map(|p| number(p.0)).collect();
    let ys: Vec<String> = markers
        .points
        .iter()
        .map(|p| p.1.map(number).unwrap_or_else(|| "-".to_string()))
        .collect();
    let colour = markers.symbol.colour();
    writeln!(
        out,
        r#"<g class="markers {}" data-total="{}" data-x="{}" data-y="{}">"#,
        markers.kind,
        markers.total,
        xs.join(" "),
        ys.join(" ")
    )?;
    let mut d = String::new();
    for &(x, y) in &markers.points {
        let y = y.map(sy).unwrap_or(floor - 6.0);
        d.push_str(&markers.symbol.path(sx(x), y));
    }
    let fill = if markers.symbol == Symbol::Cross {
        "none"
    } else {
        "white"
    };
    writeln!(
        out,
        r#"<path d="{d}" fill="{fill}" stroke="{colour}" stroke-width="1.5"/>"#
    )?;
    writeln!(out, "</g>")
}

/// Writes series labels at the right of the area, each as near its series' end as the ones
/// around it allow: sorted by height, then pushed down, then up, a row apart.
fn write_labels(
    out: &mut dyn Write,
    labels: &mut [(f64, f64, &str, &str)],
    top: f64,
    bottom: f64,
) -> io::Result<()> {
    labels.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut ys: Vec<f64> = labels.iter().map(|l| l.0 + 4.0).collect();
    let mut floor = top;
    for y in ys.iter_mut() {
        *y = y.max(floor);
        floor = *y + LABEL_ROW;
    }
    let mut ceiling = bottom;
    for y in ys.iter_mut().rev() {
        *y = y.min(ceiling);
        ceiling = *y - LABEL_ROW;
    }
    for ((end_y, end_x, colour, text), y) in labels.iter().zip(ys) {
        writeln!(
            out,
            r#"<path d="M{end_x:.1} {end_y:.1}L{:.1} {:.1}" stroke="{colour}" stroke-width="0.6" stroke-dasharray="2 2"/>"#,
            RIGHT + 8.0,
            y - 4.0
        )?;
        writeln!(
            out,
            r#"<text class="series-label" x="{}" y="{y:.1}" font-size="11" fill="{colour}">{}</text>"#,
            RIGHT + 10.0,
            xml_escape(&fit(text, LABEL_COLS))
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_one_two_five_steps_covering_the_range() {
        assert_eq!(nice_ticks(0.0, 9.3, 5), (0.0, 2.0, 5));
        assert_eq!(nice_ticks(0.0, 0.042, 4), (0.0, 0.02, 3));
        let (first, step, count) = nice_ticks(-3.0, 117.0, 4);
        assert_eq!((first, step), (-50.0, 50.0));
        assert!(first + step * count as f64 >= 117.0);
        // An empty range still has ticks, around it.
        let (first, step, count) = nice_ticks(5.0, 5.0, 4);
        assert!(count >= 1 && first <= 5.0 && first + step * count as f64 >= 6.0);
    }

    #[test]
    fn tick_labels_have_the_decimals_their_step_needs() {
        assert_eq!(tick_text(0.25, 0.05), "0.25");
        assert_eq!(tick_text(-0.0, 0.5), "0");
        assert_eq!(count_text(2_000_000.0, 500_000.0), "2.0M");
        assert_eq!(count_text(40_000.0, 10_000.0), "40k");
    }

    #[test]
    fn hostile_labels_are_escaped_and_the_document_is_the_same_twice() {
        let plot = Plot {
            title: "t <&>".into(),
            notes: vec!["\u{1}".into()],
            panels: vec![Panel {
                id: "p",
                title: "<script>".into(),
                x: Axis {
                    name: "time".into(),
                    scale: Scale::Seconds,
                },
                y: Axis {
                    name: "n".into(),
                    scale: Scale::Count,
                },
                series: vec![Series {
                    label: "\"><script>alert(1)</script>".into(),
                    shape: Shape::Step { width: 1.0 },
                    points: vec![(0.0, 1.0), (2.0, 3.0)],
                }],
                markers: vec![],
            }],
            empty: String::new(),
        };
        let mut a = Vec::new();
        write(&mut a, &plot).unwrap();
        let text = String::from_utf8(a.clone()).unwrap();
        assert!(!text.contains("<script>"));
        assert!(!text.contains('\u{1}'));
        let mut b = Vec::new();
        write(&mut b, &plot).unwrap();
        assert_eq!(a, b);
    }
}
