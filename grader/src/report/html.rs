//! `timeline.html`: one self-contained page a student opens after a run.
//!
//! Everything is inline (CSS, JS, SVG): the page works from a `file://` URL,
//! offline, and can be attached to a CI run as a single artefact. The CSS
//! and the script live in `timeline.css` and `timeline.js` next to this
//! file and are inlined at build time. Every string from the run is
//! escaped, because node and type names come from student code.
//!
//! Each stage gets its checks and an SVG timeline: a lane per node, and
//! below them a lane per service the grader runs (the store); messages as
//! arrows from (sent, sender) to (received, receiver) coloured by kind;
//! fault bands over the lanes they affect; marks of the whole stage as
//! dashed vertical lines, marks of one lane as dots on it. The SVG is drawn
//! in full by this module, so it reads without JS; the small script adds
//! zoom (drag across the plot, or the buttons), hiding message kinds, and
//! lays labels out again with their measured widths.

use super::model::{
    CheckKind, FaultBand, FaultKind, Mark, RunReport, StageReport, StageStatus, Timeline,
    TimelineMessage,
};
use std::fmt::Write as _;
use std::io;
use std::path::Path;

/// Renders `report` as one self-contained HTML page.
pub fn render(report: &RunReport) -> String {
    let kinds = Kinds::collect(report);
    let mut out = String::with_capacity(64 * 1024);
    out.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    let _ = writeln!(
        out,
        "<title>{} — {} — {}/{}</title>",
        esc(&report.title),
        esc(&report.target),
        report.score,
        report.max
    );
    out.push_str("<style>\n");
    out.push_str(CSS);
    for (i, kind) in kinds.names.iter().enumerate() {
        let _ = writeln!(
            out,
            ".k{i}{{stroke:{c}}} .h{i} .k{i}{{display:none}}",
            c = kind_color(kind)
        );
    }
    out.push_str("</style>\n</head>\n<body>\n");
    header(&mut out, report);
    summary(&mut out, report);
    out.push_str("<main>\n");
    for (i, stage) in report.stages.iter().enumerate() {
        stage_section(&mut out, i, stage, &kinds);
    }
    out.push_str("</main>\n");
    let _ = writeln!(
        out,
        "<footer>Netsplit grader · results schema v{} · part <code>{}</code></footer>",
        report.schema,
        esc(&report.part)
    );
    out.push_str("<script>\n");
    out.push_str(JS);
    out.push_str("</script>\n</body>\n</html>\n");
    out
}

/// Writes [`render`]'s page to `path`, replacing the file atomically.
pub fn write(report: &RunReport, path: &Path) -> io::Result<()> {
    super::write_atomic(path, render(report).as_bytes())
}

// ---------------------------------------------------------------------------
// Page sections

fn header(out: &mut String, r: &RunReport) {
    let score_class = if r.max > 0 && r.score == r.max {
        "full"
    } else if r.score == 0 {
        "zero"
    } else {
        "some"
    };
    out.push_str("<header>\n<div class=\"head\">\n");
    let _ = writeln!(out, "<h1>{}</h1>", esc(&r.title));
    let _ = writeln!(
        out,
        "<div class=\"score {score_class}\" title=\"points earned / points available\">{}<span>/{}</span></div>",
        r.score, r.max
    );
    out.push_str("</div>\n<dl class=\"meta\">\n");
    let meta = [
        ("Target", esc(&r.target)),
        ("Seed", r.seed.to_string()),
        ("Started", esc(&r.started_at)),
        ("Duration", fmt_ms(r.duration_ms)),
        ("Time scale", format!("×{}", r.time_scale)),
    ];
    for (k, v) in meta {
        let _ = writeln!(out, "<div><dt>{k}</dt><dd>{v}</dd></div>");
    }
    out.push_str("</dl>\n");
    let _ = writeln!(
        out,
        "<div class=\"replay\"><span>Replay</span><code id=\"replay\">{}</code><button type=\"button\" class=\"copy\" data-for=\"replay\">copy</button></div>",
        esc(&r.replay)
    );
    out.push_str("</header>\n");
}

fn summary(out: &mut String, r: &RunReport) {
    out.push_str("<nav class=\"summary\">\n<table>\n<thead><tr><th>Stage</th><th>Status</th><th class=\"num\">Points</th><th class=\"num\">Time</th></tr></thead>\n<tbody>\n");
    for s in &r.stages {
        let _ = writeln!(
            out,
            "<tr><td><a href=\"#stage-{n}\">{n}. {name}</a></td><td>{badge}</td><td class=\"num\">{p}/{m}</td><td class=\"num\">{d}</td></tr>",
            n = s.number,
            name = esc(&s.name),
            badge = badge(s.status),
            p = s.points,
            m = s.max_points,
            d = fmt_ms(s.duration_ms),
        );
    }
    out.push_str("</tbody>\n</table>\n</nav>\n");
}

fn stage_section(out: &mut String, idx: usize, s: &StageReport, kinds: &Kinds) {
    let _ = writeln!(
        out,
        "<section class=\"stage\" id=\"stage-{}\">\n<h2><span class=\"sn\">Stage {}</span> {} {} <span class=\"pts\">{}/{} pts · {}</span></h2>",
        s.number,
        s.number,
        esc(&s.name),
        badge(s.status),
        s.points,
        s.max_points,
        fmt_ms(s.duration_ms)
    );
    if !s.goal.is_empty() {
        let _ = writeln!(out, "<p class=\"goal\">{}</p>", esc(&s.goal));
    }
    if let Some(e) = &s.error {
        let why = match s.status {
            StageStatus::Skipped => "Not run",
            StageStatus::GraderError => "Grader error",
            StageStatus::Inconclusive => "Could not decide",
            StageStatus::Passed | StageStatus::Failed => "Note",
        };
        let _ = writeln!(
            out,
            "<p class=\"error\"><strong>{why}:</strong> {}</p>",
            esc(e)
        );
    }
    if !s.checks.is_empty() {
        checks_table(out, s);
    }
    if !s.latencies.is_empty() {
        latency_table(out, s);
    }
    if s.status == StageStatus::Failed && (!s.hint.is_empty() || !s.lesson.is_empty()) {
        out.push_str("<div class=\"hint\">");
        if !s.hint.is_empty() {
            let _ = write!(out, "<strong>Hint</strong> {}", esc(&s.hint));
        }
        if !s.lesson.is_empty() {
            if is_relative(&s.lesson) {
                let _ = write!(
                    out,
                    " <a class=\"lesson\" href=\"{0}\">Lesson: {0}</a>",
                    esc(&s.lesson)
                );
            } else {
                let _ = write!(
                    out,
                    " <span class=\"lesson\">Lesson: {}</span>",
                    esc(&s.lesson)
                );
            }
        }
        out.push_str("</div>\n");
    }
    timeline(out, idx, s, kinds);
    out.push_str("</section>\n");
}

fn latency_table(out: &mut String, s: &StageReport) {
    out.push_str("<table class=\"latency\">\n<thead><tr><th>Latency of</th><th class=\"num\">Samples</th><th class=\"num\">p50</th><th class=\"num\">p99</th><th class=\"num\">max</th></tr></thead>\n<tbody>\n");
    let ms = |us: u64| format!("{:.2} ms", us as f64 / 1000.0);
    for l in &s.latencies {
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
            esc(&l.name),
            l.count,
            ms(l.p50_us),
            ms(l.p99_us),
            ms(l.max_us)
        );
    }
    out.push_str("</tbody>\n</table>\n");
}

fn checks_table(out: &mut String, s: &StageReport) {
    out.push_str("<table class=\"checks\">\n<thead><tr><th></th><th>Check</th><th>Kind</th><th>Expected</th><th>Actual</th><th class=\"num\">At</th></tr></thead>\n<tbody>\n");
    for c in &s.checks {
        let (cls, sym) = if c.passed {
            ("ok", "✔")
        } else {
            ("bad", "✘")
        };
        let kind = match c.kind {
            CheckKind::Safety => "safety",
            CheckKind::Liveness => "liveness",
        };
        let cell = |v: &Option<String>| match v {
            Some(v) => format!("<code>{}</code>", esc(v)),
            None => "<span class=\"dim\">—</span>".to_string(),
        };
        let _ = writeln!(
            out,
            "<tr class=\"{cls}\"><td class=\"sym\">{sym}</td><td>{}</td><td><span class=\"ck {kind}\">{kind}</span></td><td>{}</td><td>{}</td><td class=\"num\">{}</td></tr>",
            esc(&c.name),
            cell(&c.expected),
            cell(&c.actual),
            fmt_ms(c.at_ms)
        );
    }
    out.push_str("</tbody>\n</table>\n");
}

fn badge(s: StageStatus) -> &'static str {
    match s {
        StageStatus::Passed => "<span class=\"badge passed\">passed</span>",
        StageStatus::Failed => "<span class=\"badge failed\">failed</span>",
        StageStatus::Inconclusive => "<span class=\"badge inconclusive\">inconclusive</span>",
        StageStatus::GraderError => "<span class=\"badge grader_error\">grader error</span>",
        StageStatus::Skipped => "<span class=\"badge skipped\">skipped</span>",
    }
}

// ---------------------------------------------------------------------------
// Timeline

/// SVG geometry, in SVG user units (pixels at 100%).
const W: f64 = 1100.0;
const X0: f64 = 150.0;
const X1: f64 = W - 18.0;
const AXIS_H: f64 = 26.0;
const LANE_H: f64 = 34.0;
/// Space between the node lanes and the service lanes under them, so a
/// service never reads as one more node.
const SERVICE_GAP: f64 = 14.0;
const MARK_ROW_H: f64 = 13.0;
const MARK_ROWS: usize = 4;
const LABEL_CHARS: usize = 22;
/// Baselines of the two label rows inside a lane, from its top: above and
/// below the lane's line, where arrows start and end.
const LANE_LABEL_ROWS: [f64; 2] = [11.0, LANE_H - 4.0];
/// Longest label text drawn, per label kind (the tooltip has all of it).
const BAND_CHARS: usize = 48;
const MARK_CHARS: usize = 40;
const LANE_MARK_CHARS: usize = 32;

/// Lanes: node lanes, then service lanes below a gap. A name that a
/// message, band or lane mark uses but the lists missed gets a lane too, so
/// nothing is silently left off the picture.
struct Lanes {
    names: Vec<String>,
    /// Index of the first service lane (`names.len()` when there is none).
    first_service: usize,
}

impl Lanes {
    fn new(tl: &Timeline) -> Lanes {
        let mut all: Vec<String> = Vec::new();
        let named = tl
            .nodes
            .iter()
            .chain(&tl.services)
            .chain(tl.messages.iter().flat_map(|m| [&m.from, &m.to]))
            .chain(tl.bands.iter().flat_map(|b| b.nodes.iter()))
            .chain(tl.marks.iter().filter_map(|m| m.lane.as_ref()));
        for n in named {
            if find_lane(&all, n).is_none() {
                all.push(n.clone());
            }
        }
        let (services, mut names): (Vec<String>, Vec<String>) = all
            .into_iter()
            .partition(|n| find_lane(&tl.services, n).is_some());
        let first_service = names.len();
        names.extend(services);
        Lanes {
            names,
            first_service,
        }
    }

    fn index(&self, name: &str) -> Option<usize> {
        find_lane(&self.names, name)
    }

    fn is_service(&self, i: usize) -> bool {
        i >= self.first_service
    }

    fn top(&self, i: usize) -> f64 {
        let gap = if self.is_service(i) { SERVICE_GAP } else { 0.0 };
        AXIS_H + LANE_H * i as f64 + gap
    }

    fn center(&self, i: usize) -> f64 {
        self.top(i) + LANE_H / 2.0
    }

    fn bottom(&self) -> f64 {
        match self.names.len() {
            0 => AXIS_H,
            n => self.top(n - 1) + LANE_H,
        }
    }
}

/// Lane of `name` among `names`: exact match, else the unique lane with the
/// same short name (`n1` for `n1@127.0.0.1`).
fn find_lane(names: &[String], name: &str) -> Option<usize> {
    if let Some(i) = names.iter().position(|n| n == name) {
        return Some(i);
    }
    let want = short_name(name);
    let mut it = names
        .iter()
        .enumerate()
        .filter(|(_, n)| short_name(n) == want);
    match (it.next(), it.next()) {
        (Some((i, _)), None) => Some(i),
        _ => None,
    }
}

fn short_name(s: &str) -> &str {
    s.split('@').next().unwrap_or(s)
}

/// What the grader runs behind a service lane, for its label: students
/// should see at a glance that `store` is Redis, not a node of theirs.
fn service_kind(name: &str) -> &'static str {
    match short_name(name) {
        "store" => "redis",
        _ => "service",
    }
}

/// Every message kind in the report, in a fixed order, so a kind has the
/// same CSS class (and colour) in every stage.
struct Kinds {
    names: Vec<String>,
}

const KNOWN_KINDS: [(&str, &str); 12] = [
    ("send", "#4e79a7"),
    ("cast", "#59a14f"),
    ("call", "#f28e2b"),
    ("reply", "#b07aa1"),
    ("monitor", "#76b7b2"),
    ("demonitor", "#9c755f"),
    ("down", "#e15759"),
    ("link", "#d37295"),
    ("unlink", "#a39b96"),
    ("exit", "#8c1c13"),
    ("store", "#b8860b"),
    ("peers", "#8a8a8a"),
];

const OTHER_COLORS: [&str; 6] = [
    "#17becf", "#bcbd22", "#7f3c8d", "#11a579", "#3969ac", "#e68310",
];

fn kind_color(kind: &str) -> &'static str {
    if let Some((_, c)) = KNOWN_KINDS.iter().find(|(k, _)| *k == kind) {
        return c;
    }
    let h = kind.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    OTHER_COLORS[(h % OTHER_COLORS.len() as u64) as usize]
}

impl Kinds {
    fn collect(r: &RunReport) -> Kinds {
        let mut seen: Vec<&str> = Vec::new();
        for m in r.stages.iter().flat_map(|s| &s.timeline.messages) {
            if !seen.contains(&m.kind.as_str()) {
                seen.push(&m.kind);
            }
        }
        let rank = |k: &str| {
            KNOWN_KINDS
                .iter()
                .position(|(n, _)| *n == k)
                .unwrap_or(usize::MAX)
        };
        // Stable: unknown kinds keep their order of appearance.
        seen.sort_by_key(|k| rank(k));
        Kinds {
            names: seen.into_iter().map(String::from).collect(),
        }
    }

    fn index(&self, kind: &str) -> usize {
        self.names.iter().position(|k| k == kind).unwrap_or(0)
    }
}

fn fault_class(k: FaultKind) -> &'static str {
    match k {
        FaultKind::Partition => "partition",
        FaultKind::Link => "link",
        FaultKind::Latency => "latency",
        FaultKind::Kill => "kill",
        FaultKind::Stop => "stop",
        FaultKind::Pause => "pause",
        FaultKind::Crash => "crash",
        FaultKind::Join => "join",
    }
}

/// Maps times (µs since stage start) to x over the plot area.
struct Scale {
    end_us: u64,
}

impl Scale {
    fn x(&self, t: u64) -> f64 {
        X0 + (t as f64 / self.end_us as f64) * (X1 - X0)
    }
}

// ---------------------------------------------------------------------------
// Label layout. The script (timeline.js, `relabel`) runs the same rules with
// measured text widths whenever the view changes; this copy makes the page
// read well before (or without) it.

/// How a label sits against the time it annotates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fit {
    /// An instant: text to its right, or to its left where the right would
    /// run past the plot.
    Point,
    /// A span starting at the anchor: text at its start, pulled left to stay
    /// inside the plot.
    Span,
}

/// A label to lay out: its anchor's x, its text's width and how it fits.
#[derive(Clone, Copy, Debug)]
struct Label {
    x: f64,
    width: f64,
    fit: Fit,
}

/// Where a label went: its row and the x its text is anchored at (the end
/// of the text when `end`, for a label flipped left of its point).
#[derive(Clone, Copy, Debug, PartialEq)]
struct Placed {
    row: usize,
    x: f64,
    end: bool,
}

/// From an anchor to its text, and between two labels in a row.
const LABEL_DX: f64 = 4.0;
const LABEL_GAP: f64 = 6.0;
/// A character at the labels' 10px font, on the generous side so that
/// estimated labels rather leave a gap than overlap.
const CHAR_W: f64 = 6.2;

fn label_width(text: &str) -> f64 {
    CHAR_W * text.chars().count() as f64
}

/// Lays `labels` out in `rows` rows, greedily from the left: no two overlap
/// and none leaves the plot. A label with no room left is hidden; its mark
/// still carries the text in a tooltip.
fn place_labels(labels: &[Label], rows: usize) -> Vec<Option<Placed>> {
    let (lo, hi) = (X0 + 2.0, X1 - 2.0);
    let extents: Vec<(f64, f64, Placed)> = labels
        .iter()
        .map(|l| {
            let at = |x: f64, end: bool| Placed { row: 0, x, end };
            match l.fit {
                Fit::Span => {
                    let s = (l.x.max(lo) + LABEL_DX).min(hi - l.width).max(lo);
                    (s, s + l.width, at(s, false))
                }
                Fit::Point if l.x + LABEL_DX + l.width <= hi => {
                    let s = l.x + LABEL_DX;
                    (s, s + l.width, at(s, false))
                }
                Fit::Point => {
                    let e = (l.x - LABEL_DX).max(lo + l.width);
                    (e - l.width, e, at(e, true))
                }
            }
        })
        .collect();
    let mut order: Vec<usize> = (0..labels.len()).collect();
    order.sort_by(|&a, &b| extents[a].0.total_cmp(&extents[b].0));
    let mut ends = vec![f64::NEG_INFINITY; rows];
    let mut placed = vec![None; labels.len()];
    for i in order {
        let (start, end, p) = extents[i];
        if let Some(row) = (0..rows).find(|&r| ends[r] + LABEL_GAP <= start) {
            ends[row] = end;
            placed[i] = Some(Placed { row, ..p });
        }
    }
    placed
}

/// One label's `<text>`, with what the script needs to lay it out again:
/// its group (labels that share rows), the rows' baselines and its times.
struct LabelText<'a> {
    class: &'a str,
    group: &'a str,
    rows: &'a [f64],
    at_us: u64,
    /// End of the span, for a [`Fit::Span`] label.
    until_us: Option<u64>,
    anchor_x: f64,
    /// Tooltip and text, both already escaped.
    title: &'a str,
    text: &'a str,
    /// Whether the element before it is a mark line that should reach down
    /// to the label's row.
    tail: bool,
}

fn label_text(out: &mut String, l: &LabelText, placed: Option<Placed>) {
    let (x, y) = match placed {
        Some(p) => (p.x, l.rows[p.row]),
        None => (l.anchor_x + LABEL_DX, l.rows[0]),
    };
    let _ = write!(out, "<text class=\"{}\" x=\"{x:.1}\" y=\"{y}\"", l.class);
    if placed.is_some_and(|p| p.end) {
        out.push_str(" text-anchor=\"end\"");
    }
    if placed.is_none() {
        out.push_str(" visibility=\"hidden\"");
    }
    let _ = write!(out, " data-a=\"{}\"", l.at_us);
    match l.until_us {
        Some(b) => {
            let _ = write!(out, " data-b=\"{b}\" data-fit=\"span\"");
        }
        None => out.push_str(" data-fit=\"pt\""),
    }
    let rows: Vec<String> = l.rows.iter().map(|y| y.to_string()).collect();
    let _ = write!(
        out,
        " data-g=\"{}\" data-ys=\"{}\"{}><title>{}</title>{}</text>",
        l.group,
        rows.join(" "),
        if l.tail { " data-tail=\"\"" } else { "" },
        l.title,
        l.text
    );
}

/// The lane a mark belongs on, if it names one the timeline has.
fn mark_lane(m: &Mark, lanes: &Lanes) -> Option<usize> {
    m.lane.as_deref().and_then(|l| lanes.index(l))
}

/// Baselines of the label rows inside lane `i`.
fn lane_rows(lanes: &Lanes, i: usize) -> [f64; 2] {
    LANE_LABEL_ROWS.map(|dy| lanes.top(i) + dy)
}

/// Lays out the labels that sit inside lanes, lane by lane: fault bands'
/// (on the first lane they cover) and lane marks'. Returns the placements
/// by band index and by mark index.
fn place_lane_labels(
    tl: &Timeline,
    lanes: &Lanes,
    sc: &Scale,
) -> (Vec<Option<Placed>>, Vec<Option<Placed>>) {
    enum Owner {
        Band(usize),
        Mark(usize),
    }
    let mut per_lane: Vec<Vec<(Owner, Label)>> = (0..lanes.names.len()).map(|_| vec![]).collect();
    for (i, b) in tl.bands.iter().enumerate() {
        let lane = band_spans(b, lanes)[0].0;
        let width = label_width(&truncate(&b.label, BAND_CHARS));
        let label = Label {
            x: sc.x(b.start_us),
            width,
            fit: Fit::Span,
        };
        per_lane[lane].push((Owner::Band(i), label));
    }
    for (i, m) in tl.marks.iter().enumerate() {
        if let Some(lane) = mark_lane(m, lanes) {
            let label = Label {
                x: sc.x(m.at_us),
                width: label_width(&truncate(&m.label, LANE_MARK_CHARS)),
                fit: Fit::Point,
            };
            per_lane[lane].push((Owner::Mark(i), label));
        }
    }
    let mut bands = vec![None; tl.bands.len()];
    let mut marks = vec![None; tl.marks.len()];
    for items in per_lane {
        let labels: Vec<Label> = items.iter().map(|(_, l)| *l).collect();
        for ((owner, _), p) in items
            .iter()
            .zip(place_labels(&labels, LANE_LABEL_ROWS.len()))
        {
            match owner {
                Owner::Band(i) => bands[*i] = p,
                Owner::Mark(i) => marks[*i] = p,
            }
        }
    }
    (bands, marks)
}

fn timeline(out: &mut String, idx: usize, s: &StageReport, kinds: &Kinds) {
    let tl = &s.timeline;
    let lanes = Lanes::new(tl);
    let id = format!("tl{idx}");

    // Kinds present in this stage, with counts, for the legend.
    let mut present: Vec<(usize, usize)> = Vec::new();
    for m in &tl.messages {
        let k = kinds.index(&m.kind);
        match present.iter_mut().find(|(i, _)| *i == k) {
            Some((_, n)) => *n += 1,
            None => present.push((k, 1)),
        }
    }
    present.sort_unstable();

    out.push_str("<div class=\"tl\">\n");
    if lanes.names.is_empty() {
        let _ = writeln!(
            out,
            "<svg class=\"tl-svg empty\" width=\"{W}\" height=\"40\" viewBox=\"0 0 {W} 40\" role=\"img\" aria-label=\"empty timeline\"><text x=\"12\" y=\"24\" class=\"dim\">No messages or faults were recorded for this stage.</text></svg>"
        );
        out.push_str("</div>\n");
        return;
    }

    legend(out, &id, tl, &lanes, &present, kinds);

    let end_us = time_end(s);
    let sc = Scale { end_us };
    let lanes_bottom = lanes.bottom();
    let (band_labels, mut mark_labels) = place_lane_labels(tl, &lanes, &sc);
    // Marks of the whole stage: labels in rows under the lanes.
    let stage_marks: Vec<usize> = (0..tl.marks.len())
        .filter(|&i| mark_lane(&tl.marks[i], &lanes).is_none())
        .collect();
    let labels: Vec<Label> = stage_marks
        .iter()
        .map(|&i| Label {
            x: sc.x(tl.marks[i].at_us),
            width: label_width(&truncate(&tl.marks[i].label, MARK_CHARS)),
            fit: Fit::Point,
        })
        .collect();
    for (&i, p) in stage_marks.iter().zip(place_labels(&labels, MARK_ROWS)) {
        mark_labels[i] = p;
    }
    let used_rows = stage_marks
        .iter()
        .filter_map(|&i| mark_labels[i])
        .map(|p| p.row + 1)
        .max()
        .unwrap_or(0);
    let height = lanes_bottom + 6.0 + MARK_ROW_H * used_rows as f64;

    let _ = writeln!(
        out,
        "<svg id=\"{id}\" class=\"tl-svg\" width=\"{W}\" height=\"{height}\" viewBox=\"0 0 {W} {height}\" data-x0=\"{X0}\" data-x1=\"{X1}\" data-end=\"{end_us}\" data-top=\"{AXIS_H}\" data-bottom=\"{lanes_bottom}\" role=\"img\" aria-label=\"message timeline of stage {}\">",
        s.number
    );
    // Clip and arrowheads (one marker per kind: SVG 1.1 markers cannot take
    // the line's colour).
    out.push_str("<defs>");
    let _ = write!(
        out,
        "<clipPath id=\"{id}-c\"><rect x=\"{X0}\" y=\"0\" width=\"{}\" height=\"{height}\"/></clipPath>",
        X1 - X0
    );
    for (k, _) in &present {
        let _ = write!(
            out,
            "<marker id=\"{id}-a{k}\" viewBox=\"0 0 6 6\" refX=\"6\" refY=\"3\" markerWidth=\"5\" markerHeight=\"5\" orient=\"auto\"><path d=\"M0,0L6,3L0,6z\" fill=\"{}\"/></marker>",
            kind_color(&kinds.names[*k])
        );
    }
    out.push_str("</defs>\n");

    lanes_group(out, &lanes);

    // Axis ticks (the script redraws them on zoom).
    out.push_str("<g class=\"ax\">");
    let step = nice_step(end_us);
    let mut t = 0;
    while t <= end_us {
        let x = sc.x(t);
        let _ = write!(
            out,
            "<line x1=\"{x:.1}\" y1=\"{}\" x2=\"{x:.1}\" y2=\"{lanes_bottom}\"/><text x=\"{x:.1}\" y=\"{}\">{}</text>",
            AXIS_H - 4.0,
            AXIS_H - 9.0,
            tick_label(t, step)
        );
        t += step;
    }
    out.push_str("</g>\n");

    let _ = writeln!(out, "<g clip-path=\"url(#{id}-c)\">");
    let band_texts = bands(out, tl, &lanes, &sc, &band_labels);
    messages(out, &id, tl, &lanes, &sc, kinds);
    out.push_str(&band_texts);
    marks(out, tl, &lanes, &sc, used_rows, &mark_labels);
    out.push_str("</g>\n");
    let _ = writeln!(
        out,
        "<rect class=\"sel\" x=\"0\" y=\"{AXIS_H}\" width=\"0\" height=\"{}\"/>",
        lanes_bottom - AXIS_H
    );
    out.push_str("</svg>\n</div>\n");
}

fn lanes_group(out: &mut String, lanes: &Lanes) {
    out.push_str("<g class=\"lanes\">");
    for (i, name) in lanes.names.iter().enumerate() {
        let top = lanes.top(i);
        let y = lanes.center(i);
        let svc = lanes.is_service(i);
        let class = if svc {
            " svc"
        } else if i % 2 == 1 {
            " odd"
        } else {
            ""
        };
        if i == lanes.first_service {
            let y = top - SERVICE_GAP / 2.0;
            let _ = write!(
                out,
                "<line class=\"svc-sep\" x1=\"0\" y1=\"{y}\" x2=\"{W}\" y2=\"{y}\"/>"
            );
        }
        let _ = write!(
            out,
            "<rect class=\"lane{class}\" x=\"0\" y=\"{top}\" width=\"{W}\" height=\"{LANE_H}\"/><line class=\"axis-lane{}\" x1=\"{X0}\" y1=\"{y}\" x2=\"{X1}\" y2=\"{y}\"/>",
            if svc { " svc" } else { "" }
        );
        let x = X0 - 8.0;
        let y = y + 4.0;
        if svc {
            let kind = service_kind(name);
            let _ = write!(
                out,
                "<text class=\"ln svc\" x=\"{x}\" y=\"{y}\"><title>{}: a service the grader runs ({kind}), not a node</title>{} <tspan class=\"sk\">({kind})</tspan></text>",
                esc(name),
                esc(&truncate(name, LABEL_CHARS.saturating_sub(kind.len() + 3)))
            );
        } else {
            let _ = write!(
                out,
                "<text class=\"ln\" x=\"{x}\" y=\"{y}\"><title>{}</title>{}</text>",
                esc(name),
                esc(&truncate(name, LABEL_CHARS))
            );
        }
    }
    out.push_str("</g>\n");
}

/// The end of the time axis: the stage's duration, or later if something
/// happened after it.
fn time_end(s: &StageReport) -> u64 {
    let tl = &s.timeline;
    let latest = tl
        .messages
        .iter()
        .map(|m| m.received_us.unwrap_or(0).max(m.sent_us))
        .chain(
            tl.bands
                .iter()
                .map(|b| b.end_us.unwrap_or(0).max(b.start_us)),
        )
        .chain(tl.marks.iter().map(|m| m.at_us))
        .max()
        .unwrap_or(0);
    s.duration_ms.saturating_mul(1000).max(latest).max(1000)
}

fn legend(
    out: &mut String,
    id: &str,
    tl: &Timeline,
    lanes: &Lanes,
    present: &[(usize, usize)],
    kinds: &Kinds,
) {
    let _ = write!(out, "<div class=\"tl-bar\" data-for=\"{id}\">");
    out.push_str("<span class=\"zoom\"><button type=\"button\" data-z=\"in\" title=\"zoom in\">+</button><button type=\"button\" data-z=\"out\" title=\"zoom out\">−</button><button type=\"button\" data-z=\"left\" title=\"earlier\">◀</button><button type=\"button\" data-z=\"right\" title=\"later\">▶</button><button type=\"button\" data-z=\"reset\" title=\"whole stage\">reset</button></span>");
    let _ = write!(
        out,
        "<span class=\"dim\">{} messages · drag across the plot to zoom</span>",
        tl.messages.len()
    );
    out.push_str("<span class=\"legend\">");
    for (k, n) in present {
        let kind = &kinds.names[*k];
        let _ = write!(
            out,
            "<label title=\"show or hide {0} frames\"><input type=\"checkbox\" checked data-k=\"{k}\"><i class=\"sw\" style=\"background:{1}\"></i>{0} <span class=\"dim\">{n}</span></label>",
            esc(kind),
            kind_color(kind)
        );
    }
    if tl.messages.iter().any(|m| m.received_us.is_none()) {
        out.push_str("<span class=\"lg\"><i class=\"sw lost\"></i>no receive traced</span>");
    }
    let mut faults: Vec<FaultKind> = Vec::new();
    for b in &tl.bands {
        if !faults.contains(&b.kind) {
            faults.push(b.kind);
        }
    }
    for f in faults {
        let c = fault_class(f);
        let _ = write!(
            out,
            "<span class=\"lg\"><i class=\"sw f-{c}\"></i>{c}</span>"
        );
    }
    let (on_lanes, of_stage): (Vec<&Mark>, Vec<&Mark>) =
        tl.marks.iter().partition(|m| mark_lane(m, lanes).is_some());
    if !of_stage.is_empty() {
        out.push_str("<span class=\"lg\"><i class=\"sw mk-sw\"></i>mark</span>");
    }
    if !on_lanes.is_empty() {
        out.push_str("<span class=\"lg\"><i class=\"sw lm-sw\"></i>event on a lane</span>");
    }
    out.push_str("</span></div>\n");
}

/// The runs of lanes band `b` covers, as (first, last) lane indices. A
/// partition is about the links between its groups: one span over every
/// lane it names. Other faults sit on their nodes' lanes only.
fn band_spans(b: &FaultBand, lanes: &Lanes) -> Vec<(usize, usize)> {
    let mut rows: Vec<usize> = b.nodes.iter().filter_map(|n| lanes.index(n)).collect();
    rows.sort_unstable();
    rows.dedup();
    if rows.is_empty() {
        rows = (0..lanes.names.len()).collect();
    }
    if b.kind == FaultKind::Partition {
        return vec![(rows[0], rows[rows.len() - 1])];
    }
    let mut spans: Vec<(usize, usize)> = Vec::new();
    for r in rows {
        match spans.last_mut() {
            // Not across the gap above the service lanes.
            Some((_, hi)) if *hi + 1 == r && lanes.is_service(*hi) == lanes.is_service(r) => {
                *hi = r;
            }
            _ => spans.push((r, r)),
        }
    }
    spans
}

/// Draws the bands; returns their labels, to be drawn over the messages.
fn bands(
    out: &mut String,
    tl: &Timeline,
    lanes: &Lanes,
    sc: &Scale,
    labels: &[Option<Placed>],
) -> String {
    let mut texts = String::from("<g class=\"band-labels\">");
    out.push_str("<g class=\"bands\">");
    for (b, placed) in tl.bands.iter().zip(labels) {
        let end = b.end_us.unwrap_or(sc.end_us).max(b.start_us);
        let (x1, x2) = (sc.x(b.start_us), sc.x(end));
        let title = band_title(b);
        let spans = band_spans(b, lanes);
        let c = fault_class(b.kind);
        for (lo, hi) in &spans {
            let y = lanes.top(*lo) + 1.0;
            let h = lanes.top(*hi) + LANE_H - lanes.top(*lo) - 2.0;
            let _ = write!(
                out,
                "<rect class=\"band f-{c}\" x=\"{x1:.1}\" y=\"{y}\" width=\"{:.1}\" height=\"{h}\" data-a=\"{}\" data-b=\"{end}\"><title>{title}</title></rect>",
                (x2 - x1).max(1.0),
                b.start_us
            );
        }
        let lane = spans[0].0;
        label_text(
            &mut texts,
            &LabelText {
                class: "bl",
                group: &format!("L{lane}"),
                rows: &lane_rows(lanes, lane),
                at_us: b.start_us,
                until_us: Some(end),
                anchor_x: x1,
                title: &title,
                text: &esc(&truncate(&b.label, BAND_CHARS)),
                tail: false,
            },
            *placed,
        );
    }
    out.push_str("</g>\n");
    texts.push_str("</g>\n");
    texts
}

fn band_title(b: &FaultBand) -> String {
    let until = match b.end_us {
        Some(e) => format!("until {}", fmt_us(e)),
        None => "until the end of the stage".into(),
    };
    format!(
        "{} ({}) from {} {}",
        esc(&b.label),
        fault_class(b.kind),
        fmt_us(b.start_us),
        until
    )
}

fn messages(out: &mut String, id: &str, tl: &Timeline, lanes: &Lanes, sc: &Scale, kinds: &Kinds) {
    out.push_str("<g class=\"msgs\">");
    for m in &tl.messages {
        let (Some(fi), Some(ti)) = (lanes.index(&m.from), lanes.index(&m.to)) else {
            continue;
        };
        let k = kinds.index(&m.kind);
        let (y1, y2) = (lanes.center(fi), lanes.center(ti));
        let x1 = sc.x(m.sent_us);
        // Both directions of a store round trip share a kind; say which one.
        let role = match (lanes.is_service(fi), lanes.is_service(ti)) {
            (false, true) => Some("request"),
            (true, false) => Some("reply"),
            _ => None,
        };
        let title = message_title(m, role);
        match m.received_us {
            Some(r) => {
                let _ = write!(
                    out,
                    "<line class=\"m k{k}\" x1=\"{x1:.1}\" y1=\"{y1}\" x2=\"{:.1}\" y2=\"{y2}\" marker-end=\"url(#{id}-a{k})\" data-a=\"{}\" data-b=\"{r}\"><title>{title}</title></line>",
                    sc.x(r),
                    m.sent_us
                );
            }
            None => {
                // A stub a third of the way towards the receiver.
                let _ = write!(
                    out,
                    "<line class=\"m lost k{k}\" x1=\"{x1:.1}\" y1=\"{y1}\" x2=\"{x1:.1}\" y2=\"{:.1}\" data-a=\"{}\"><title>{title}</title></line>",
                    y1 + (y2 - y1) / 3.0,
                    m.sent_us
                );
            }
        }
        out.push('\n');
    }
    out.push_str("</g>\n");
}

fn message_title(m: &TimelineMessage, role: Option<&str>) -> String {
    let mut t = esc(&m.kind);
    if let Some(role) = role {
        let _ = write!(t, " {role}");
    }
    if let Some(ty) = &m.type_name {
        let _ = write!(t, " {}", esc(ty));
    }
    let _ = write!(
        t,
        " · {} B\n{} → {}\nsent {}",
        m.bytes,
        esc(&m.from),
        esc(&m.to),
        fmt_us(m.sent_us)
    );
    match m.received_us {
        Some(r) => {
            let _ = write!(
                t,
                " · received {} (+{})",
                fmt_us(r),
                fmt_us(r.saturating_sub(m.sent_us))
            );
        }
        None => t.push_str(" · no receive traced"),
    }
    t
}

/// Marks of the whole stage as dashed lines over every lane, their labels in
/// rows under the lanes; lane marks as dots on their lane, labelled inside it.
fn marks(
    out: &mut String,
    tl: &Timeline,
    lanes: &Lanes,
    sc: &Scale,
    used_rows: usize,
    labels: &[Option<Placed>],
) {
    let bottom = lanes.bottom();
    let stage_rows: Vec<f64> = (0..used_rows.max(1))
        .map(|r| bottom + MARK_ROW_H * (r as f64 + 1.0))
        .collect();
    out.push_str("<g class=\"marks\">");
    for (m, placed) in tl.marks.iter().zip(labels) {
        let x = sc.x(m.at_us);
        let lane = mark_lane(m, lanes);
        let chars = if lane.is_some() {
            LANE_MARK_CHARS
        } else {
            MARK_CHARS
        };
        let text = esc(&truncate(&m.label, chars));
        match lane {
            None => {
                let title = format!("{} at {}", esc(&m.label), fmt_us(m.at_us));
                // Down to just above its label's row (the script keeps it so).
                let row = placed.map_or(0, |p| p.row);
                let _ = write!(
                    out,
                    "<line class=\"mk\" x1=\"{x:.1}\" y1=\"{AXIS_H}\" x2=\"{x:.1}\" y2=\"{}\" data-a=\"{}\"><title>{title}</title></line>",
                    stage_rows[row] - MARK_ROW_H + 4.0,
                    m.at_us
                );
                label_text(
                    out,
                    &LabelText {
                        class: "ml",
                        group: "M",
                        rows: &stage_rows,
                        at_us: m.at_us,
                        until_us: None,
                        anchor_x: x,
                        title: &title,
                        text: &text,
                        tail: true,
                    },
                    *placed,
                );
            }
            Some(lane) => {
                let title = format!(
                    "{}\non {} at {}",
                    esc(&m.label),
                    esc(&lanes.names[lane]),
                    fmt_us(m.at_us)
                );
                let _ = write!(
                    out,
                    "<circle class=\"lm\" cx=\"{x:.1}\" cy=\"{}\" r=\"3.5\" data-a=\"{}\" data-lane=\"{lane}\"><title>{title}</title></circle>",
                    lanes.center(lane),
                    m.at_us
                );
                label_text(
                    out,
                    &LabelText {
                        class: "lml",
                        group: &format!("L{lane}"),
                        rows: &lane_rows(lanes, lane),
                        at_us: m.at_us,
                        until_us: None,
                        anchor_x: x,
                        title: &title,
                        text: &text,
                        tail: false,
                    },
                    *placed,
                );
            }
        }
    }
    out.push_str("</g>\n");
}

// ---------------------------------------------------------------------------
// Text helpers

/// Escapes text for HTML element content and double- or single-quoted
/// attributes; drops control characters that HTML does not allow.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\n' | '\t' => out.push(c),
            c if c.is_control() => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// Whether a lesson path can be linked as is: no scheme (`javascript:`,
/// `https:`), not protocol-relative, so the page never leaves the checkout.
fn is_relative(link: &str) -> bool {
    let before = link.split(['/', '?', '#']).next().unwrap_or("");
    !before.contains(':') && !link.starts_with("//") && !link.contains('\\')
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

/// "850 ms", "1.5 s", "2 min 3 s".
fn fmt_ms(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms} ms")
    } else if ms < 60_000 {
        format!("{} s", trim_zeros(&format!("{:.1}", ms as f64 / 1000.0)))
    } else {
        format!("{} min {} s", ms / 60_000, (ms % 60_000) / 1000)
    }
}

/// Precise times for tooltips: "850 µs", "12.345 ms", "1.2346 s".
fn fmt_us(us: u64) -> String {
    if us < 1000 {
        format!("{us} µs")
    } else if us < 1_000_000 {
        format!("{:.3} ms", us as f64 / 1000.0)
    } else {
        format!("{:.4} s", us as f64 / 1_000_000.0)
    }
}

fn trim_zeros(s: &str) -> String {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s.to_string()
    }
}

/// A 1-2-5 step giving about ten ticks over `range_us` (same rule as the script).
fn nice_step(range_us: u64) -> u64 {
    let raw = (range_us as f64 / 10.0).max(1.0);
    let mag = 10f64.powf(raw.log10().floor());
    let norm = raw / mag;
    let f = if norm <= 1.0 {
        1.0
    } else if norm <= 2.0 {
        2.0
    } else if norm <= 5.0 {
        5.0
    } else {
        10.0
    };
    ((f * mag).round() as u64).max(1)
}

/// Tick label in the unit the step calls for (same rule as the script).
fn tick_label(t: u64, step: u64) -> String {
    if t == 0 {
        return "0".into();
    }
    let (div, unit) = if step >= 100_000 {
        (1_000_000.0, "s")
    } else if step >= 100 {
        (1000.0, "ms")
    } else {
        (1.0, "µs")
    };
    let decimals = if (step as f64 / div) >= 1.0 { 0 } else { 1 };
    format!(
        "{} {unit}",
        trim_zeros(&format!("{:.*}", decimals, t as f64 / div))
    )
}

// ---------------------------------------------------------------------------
// Inline assets: separate files so they can be read and linted as CSS and
// JS, still inlined so the page stays one self-contained file.

const CSS: &str = include_str!("timeline.css");
const JS: &str = include_str!("timeline.js");

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixtures::sample_report;

    #[test]
    fn latency_summaries_are_shown_under_their_stage() {
        let mut report = sample_report();
        report.stages[0]
            .latencies
            .push(crate::report::model::LatencyReport {
                name: "cached redirects on <n2>".into(),
                count: 200,
                p50_us: 410,
                p99_us: 1900,
                max_us: 2500,
            });
        let html = render(&report);
        assert!(
            html.contains(
                "<td>cached redirects on &lt;n2&gt;</td><td class=\"num\">200</td>\
                 <td class=\"num\">0.41 ms</td><td class=\"num\">1.90 ms</td>\
                 <td class=\"num\">2.50 ms</td>"
            ),
            "no latency row in the page"
        );
        // Only the stage that measured something has the table.
        assert_eq!(html.matches("<table class=\"latency\">").count(), 1);
    }

    #[test]
    fn escapes_student_controlled_names() {
        let mut report = sample_report();
        let evil = "<script>alert(1)</script>";
        let tl = &mut report.stages[1].timeline;
        tl.nodes[0] = evil.to_string();
        tl.messages[0].from = evil.to_string();
        tl.messages[0].type_name = Some("Vec<\"x\" & 'y'>".into());
        report.stages[0].checks[0].actual = Some("</td><img src=x onerror=alert(1)>".into());
        let html = render(&report);
        assert!(!html.contains(evil), "raw script tag leaked");
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert_eq!(
            html.matches("<script").count(),
            1,
            "only the page's own script"
        );
        assert!(html.contains("Vec&lt;&quot;x&quot; &amp; &#39;y&#39;&gt;"));
        assert!(!html.contains("<img"));
    }

    #[test]
    fn one_svg_per_stage_with_messages_bands_and_marks() {
        let report = sample_report();
        let html = render(&report);
        assert_eq!(html.matches("<svg").count(), report.stages.len());
        // Stage 2: two received messages as arrows, one lost stub.
        let s2 = section(&html, 2);
        assert_eq!(s2.matches("<line class=\"m ").count(), 3);
        assert_eq!(s2.matches("<line class=\"m lost").count(), 1);
        assert_eq!(s2.matches("marker-end=").count(), 2);
        assert!(s2.contains("cast kv::Put · 24 B"));
        assert!(s2.contains("sent 10.000 ms · received 10.300 ms (+300 µs)"));
        // A band per fault and the partition spans all three lanes.
        assert_eq!(s2.matches("<rect class=\"band ").count(), 2);
        let lanes3 = format!("height=\"{}\"", LANE_H * 3.0 - 2.0);
        assert!(s2.contains("<rect class=\"band f-partition\""));
        assert!(s2.contains(&lanes3), "partition band covers all lanes");
        assert!(s2.contains("partition {n1} | {n2,n3}"));
        // Lanes in the order given.
        let n1 = s2.find(">n1@127.0.0.1</text>").expect("lane n1");
        let n3 = s2.find(">n3@127.0.0.1</text>").expect("lane n3");
        assert!(n1 < n3);
        // The mark and its label.
        assert_eq!(s2.matches("<line class=\"mk\"").count(), 1);
        assert!(s2.contains(">deadline</text>"));
        // Legend with kind toggles and the fault kinds present.
        assert!(s2.contains("data-k="));
        assert!(s2.contains("sw f-kill"));
        // The skipped stage has no lanes, still an svg.
        assert!(section(&html, 5).contains("No messages or faults"));
    }

    #[test]
    fn no_network_resources() {
        let html = render(&sample_report());
        assert!(!html.contains("http://"));
        assert!(!html.contains("https://"));
        assert!(!html.contains(" src="));
        assert!(!html.contains("@import"));
        for part in html.split("href=\"").skip(1) {
            let target = part.split('"').next().unwrap_or("");
            assert!(
                target.starts_with('#') || is_relative(target),
                "non-relative link {target}"
            );
        }
    }

    #[test]
    fn failed_stage_shows_hint_lesson_and_check_details() {
        let html = render(&sample_report());
        let s2 = section(&html, 2);
        assert!(s2.contains("badge failed"));
        assert!(s2.contains("Monitors must fire when the connection drops."));
        assert!(s2.contains("href=\"lessons/02-monitors.md#nodedown\""));
        assert!(s2.contains("<code>nodedown within 500ms</code>"));
        assert!(s2.contains("<code>no nodedown after 1500ms</code>"));
        assert_eq!(s2.matches("<tr class=\"bad\">").count(), 1);
        assert_eq!(s2.matches("<tr class=\"ok\">").count(), 1);
        let s1 = section(&html, 1);
        assert!(!s1.contains("class=\"hint\""), "no hint on a passed stage");
        let header = &html[..html.find("<main>").unwrap_or(html.len())];
        for needle in [
            "Part 1: ping-pong",
            "solution",
            "42",
            "2<span>/10</span>",
            "2025-01-02T03:04:05Z",
            "--seed 42",
        ] {
            assert!(header.contains(needle), "header lacks {needle}");
        }
        assert!(section(&html, 3).contains("could not bind the proxy port"));
    }

    #[test]
    fn scheme_links_are_not_made_clickable() {
        let mut report = sample_report();
        report.stages[1].lesson = "javascript:alert(1)".into();
        let html = render(&report);
        assert!(!html.contains("href=\"javascript"));
        assert!(html.contains("Lesson: javascript:alert(1)"));
        assert!(!is_relative("https://example.org/x"));
        assert!(!is_relative("//example.org/x"));
        assert!(is_relative("lessons/01.md#a:b"));
    }

    #[test]
    fn unknown_endpoints_get_a_lane_and_short_names_match() {
        let mut report = sample_report();
        let tl = &mut report.stages[0].timeline;
        tl.nodes = vec!["n1".into(), "n2".into()];
        tl.messages[0].to = "n9@127.0.0.1".into();
        let html = render(&report);
        let s1 = section(&html, 1);
        // n1@… and n2@… land on the short lanes; n9 gets a lane of its own.
        assert!(s1.contains(">n9@127.0.0.1</text>"));
        assert_eq!(s1.matches("<text class=\"ln\"").count(), 3);
        assert_eq!(s1.matches("<line class=\"m ").count(), 2);
    }

    #[test]
    fn ticks_and_times_read_well() {
        assert_eq!(nice_step(1_500_000), 200_000);
        assert_eq!(nice_step(10_000_000), 1_000_000);
        assert_eq!(nice_step(3_000), 500);
        assert_eq!(nice_step(0), 1);
        assert_eq!(tick_label(0, 200_000), "0");
        assert_eq!(tick_label(1_200_000, 200_000), "1.2 s");
        assert_eq!(tick_label(2_000_000, 1_000_000), "2 s");
        assert_eq!(tick_label(1_500, 500), "1.5 ms");
        assert_eq!(tick_label(50, 10), "50 µs");
        assert_eq!(fmt_ms(850), "850 ms");
        assert_eq!(fmt_ms(1500), "1.5 s");
        assert_eq!(fmt_ms(2000), "2 s");
        assert_eq!(fmt_ms(123_000), "2 min 3 s");
        assert_eq!(fmt_us(999), "999 µs");
        assert_eq!(fmt_us(12_345), "12.345 ms");
    }

    #[test]
    fn thousands_of_messages_render_compactly() {
        let mut report = sample_report();
        let tl = &mut report.stages[0].timeline;
        let m = tl.messages[0].clone();
        tl.messages = (0..5000)
            .map(|i| TimelineMessage {
                sent_us: i * 100,
                received_us: Some(i * 100 + 50),
                ..m.clone()
            })
            .collect();
        let html = render(&report);
        assert_eq!(section(&html, 1).matches("<line class=\"m ").count(), 5000);
        assert!(html.len() < 5000 * 400, "{} bytes", html.len());
    }

    #[test]
    fn write_creates_the_page() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("timeline.html");
        write(&sample_report(), &path).expect("writes");
        let text = std::fs::read_to_string(&path).expect("reads");
        assert!(text.starts_with("<!DOCTYPE html>"));
        assert!(text.trim_end().ends_with("</html>"));
    }

    #[test]
    fn lane_marks_sit_on_their_lane_only() {
        let report = sample_report();
        let tl = &report.stages[3].timeline;
        let lanes = Lanes::new(tl);
        let html = render(&report);
        let s4 = section(&html, 4);
        // One mark of the whole stage across the lanes; the others are dots.
        assert_eq!(s4.matches("<line class=\"mk\"").count(), 1);
        let lane_marks = tl.marks.iter().filter(|m| m.lane.is_some()).count();
        assert_eq!(s4.matches("<circle class=\"lm\"").count(), lane_marks);
        let dot = element(s4, "<circle class=\"lm\"", "connection refused");
        let n2 = lanes.index("n2").expect("lane n2");
        assert_eq!(attr(dot, "cy"), lanes.center(n2));
        assert_eq!(attr(dot, "data-lane"), n2 as f64);
        // Its label sits inside that lane, with the whole label in a tooltip.
        let label = element(s4, "<text class=\"lml\"", "connection refused");
        let y = attr(label, "y");
        assert!(
            lanes.top(n2) < y && y < lanes.top(n2) + LANE_H,
            "label y {y}"
        );
        assert!(label.contains("<title>GET /kv/a → connection refused\non n2@127.0.0.1 at"));
        let store = lanes.index("store").expect("store lane");
        let flush = element(s4, "<circle class=\"lm\"", "FLUSHDB");
        assert_eq!(attr(flush, "cy"), lanes.center(store));
        // The last mark is near the right edge: its label turns left of it.
        let last = element(s4, "<text class=\"lml\"", "after 1.2 s");
        assert!(last.contains("text-anchor=\"end\""));
        assert!(attr(last, "x") <= X1);
    }

    #[test]
    fn service_lanes_are_drawn_apart_below_the_nodes() {
        let html = render(&sample_report());
        let s4 = section(&html, 4);
        assert_eq!(s4.matches("<rect class=\"lane svc\"").count(), 1);
        assert_eq!(s4.matches("<text class=\"ln svc\"").count(), 1);
        assert_eq!(s4.matches("<text class=\"ln\"").count(), 3);
        let label = element(s4, "<text class=\"ln svc\"", "store");
        assert!(label.contains("store <tspan class=\"sk\">(redis)</tspan>"));
        let lane = element(s4, "<rect class=\"lane svc\"", "");
        assert_eq!(attr(lane, "y"), AXIS_H + 3.0 * LANE_H + SERVICE_GAP);
        // Other stages have no service lane.
        assert!(!section(&html, 2).contains("svc"));

        // A service listed first still goes below the nodes.
        let tl = Timeline {
            nodes: vec!["store".into(), "n1".into(), "n2".into()],
            services: vec!["store".into()],
            ..Timeline::default()
        };
        let lanes = Lanes::new(&tl);
        assert_eq!(lanes.names, ["n1", "n2", "store"]);
        assert!(lanes.is_service(2) && !lanes.is_service(1));
        assert_eq!(lanes.top(2), lanes.top(1) + LANE_H + SERVICE_GAP);
        assert_eq!(lanes.bottom(), lanes.top(2) + LANE_H);
    }

    #[test]
    fn store_messages_have_their_own_colour() {
        let store = kind_color("store");
        let others = KNOWN_KINDS
            .iter()
            .filter(|(k, _)| *k != "store")
            .map(|(_, c)| *c)
            .chain(OTHER_COLORS);
        for c in others {
            assert_ne!(c, store);
        }
        let report = sample_report();
        let html = render(&report);
        let k = Kinds::collect(&report).index("store");
        assert!(html.contains(&format!(".k{k}{{stroke:{store}}}")));
        let s4 = section(&html, 4);
        assert_eq!(s4.matches(&format!("<line class=\"m k{k}\"")).count(), 6);
        assert!(s4.contains("store request SET · 24 B\nn1@127.0.0.1 → store"));
        assert!(s4.contains("store reply OK · 24 B\nstore → n1@127.0.0.1"));
    }

    #[test]
    fn labels_neither_overlap_nor_leave_the_plot() {
        // Crowded points, a long span near the end and a point at the edge.
        let mut labels: Vec<Label> = (0..12)
            .map(|i| Label {
                x: X0 + 20.0 + 7.0 * f64::from(i),
                width: 90.0,
                fit: Fit::Point,
            })
            .collect();
        labels.push(Label {
            x: X1 - 30.0,
            width: 200.0,
            fit: Fit::Span,
        });
        labels.push(Label {
            x: X1 - 1.0,
            width: 120.0,
            fit: Fit::Point,
        });
        labels.push(Label {
            x: X0 - 40.0,
            width: 60.0,
            fit: Fit::Span,
        });
        let placed = place_labels(&labels, 2);
        let boxes: Vec<(usize, f64, f64)> = labels
            .iter()
            .zip(&placed)
            .filter_map(|(l, p)| {
                let p = (*p)?;
                let start = if p.end { p.x - l.width } else { p.x };
                Some((p.row, start, start + l.width))
            })
            .collect();
        for (i, a) in boxes.iter().enumerate() {
            assert!(a.1 >= X0 && a.2 <= X1, "label {a:?} leaves the plot");
            for b in &boxes[i + 1..] {
                assert!(
                    a.0 != b.0 || a.2 <= b.1 || b.2 <= a.1,
                    "labels {a:?} and {b:?} overlap"
                );
            }
        }
        // Two rows take two of the crowded points; the rest are hidden.
        assert_eq!(placed[..12].iter().flatten().count(), 2);
        let edge = placed[13].expect("the edge label has room");
        assert!(edge.end, "turned left of its point");
        assert!(placed[12].is_some() && placed[14].is_some());
    }

    /// The first element starting with `start` (up to its end tag) that
    /// contains `needle`.
    fn element<'a>(html: &'a str, start: &str, needle: &str) -> &'a str {
        let tag = start[1..].split(' ').next().unwrap_or_default();
        let close = format!("</{tag}>");
        html.match_indices(start)
            .map(|(i, _)| {
                let rest = &html[i..];
                let open = rest.find('>').expect("tag ends");
                let len = if rest[..open].ends_with('/') {
                    open + 1
                } else {
                    rest.find(&close).expect("end tag") + close.len()
                };
                &rest[..len]
            })
            .find(|e| e.contains(needle))
            .unwrap_or_else(|| panic!("no {start} with {needle}"))
    }

    /// A numeric attribute of the element `tag` starts with.
    fn attr(tag: &str, name: &str) -> f64 {
        let key = format!(" {name}=\"");
        let at = tag
            .find(&key)
            .unwrap_or_else(|| panic!("no {name} in {tag}"))
            + key.len();
        let value = &tag[at..at + tag[at..].find('"').expect("closing quote")];
        value
            .parse()
            .unwrap_or_else(|_| panic!("{name}={value} is not a number"))
    }

    /// The HTML of stage `n`'s section.
    fn section(html: &str, n: u32) -> &str {
        let start = html
            .find(&format!("<section class=\"stage\" id=\"stage-{n}\">"))
            .expect("stage section");
        let end = html[start..]
            .find("</section>")
            .map_or(html.len(), |e| start + e);
        &html[start..end]
    }
}
