//! `timeline.html`: one self-contained page a student opens after a run.
//!
//! Everything is inline (CSS, JS, SVG): the page works from a `file://` URL,
//! offline, and can be attached to a CI run as a single artefact. Every
//! string from the run is escaped, because node and type names come from
//! student code.
//!
//! Each stage gets its checks and an SVG timeline: a lane per node, messages
//! as arrows from (sent, sender) to (received, receiver) coloured by kind,
//! fault bands over the lanes they affect, and marks as dashed vertical
//! lines. The SVG is drawn in full by this module, so it reads without JS;
//! the small script only adds zoom (drag across the plot, or the buttons)
//! and hiding message kinds.

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
const MARK_ROW_H: f64 = 13.0;
const MARK_ROWS: usize = 4;
const LABEL_CHARS: usize = 22;

/// Lanes: the timeline's nodes, then any node a message or band names that
/// the list missed (so nothing is silently left off the picture).
struct Lanes {
    names: Vec<String>,
}

impl Lanes {
    fn new(tl: &Timeline) -> Lanes {
        let mut lanes = Lanes {
            names: tl.nodes.clone(),
        };
        let extra = tl
            .messages
            .iter()
            .flat_map(|m| [&m.from, &m.to])
            .chain(tl.bands.iter().flat_map(|b| b.nodes.iter()));
        for n in extra {
            if lanes.index(n).is_none() {
                lanes.names.push(n.clone());
            }
        }
        lanes
    }

    /// Lane of `name`: exact match, else the unique lane with the same short
    /// name (`n1` for `n1@127.0.0.1`).
    fn index(&self, name: &str) -> Option<usize> {
        if let Some(i) = self.names.iter().position(|n| n == name) {
            return Some(i);
        }
        let short = |s: &str| s.split('@').next().unwrap_or(s).to_string();
        let want = short(name);
        let mut it = self
            .names
            .iter()
            .enumerate()
            .filter(|(_, n)| short(n) == want);
        match (it.next(), it.next()) {
            (Some((i, _)), None) => Some(i),
            _ => None,
        }
    }

    fn center(i: usize) -> f64 {
        AXIS_H + LANE_H * i as f64 + LANE_H / 2.0
    }
}

/// Every message kind in the report, in a fixed order, so a kind has the
/// same CSS class (and colour) in every stage.
struct Kinds {
    names: Vec<String>,
}

const KNOWN_KINDS: [(&str, &str); 11] = [
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

    legend(out, &id, tl, &present, kinds);

    let end_us = time_end(s);
    let sc = Scale { end_us };
    let lanes_bottom = AXIS_H + LANE_H * lanes.names.len() as f64;
    let mark_rows = mark_rows(&tl.marks, &sc);
    let used_rows = mark_rows.iter().map(|r| r + 1).max().unwrap_or(0);
    let height = lanes_bottom
        + if used_rows > 0 {
            6.0 + MARK_ROW_H * used_rows as f64
        } else {
            6.0
        };

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

    // Lanes.
    out.push_str("<g class=\"lanes\">");
    for (i, name) in lanes.names.iter().enumerate() {
        let top = AXIS_H + LANE_H * i as f64;
        let y = Lanes::center(i);
        let _ = write!(
            out,
            "<rect class=\"lane{}\" x=\"0\" y=\"{top}\" width=\"{W}\" height=\"{LANE_H}\"/><line class=\"axis-lane\" x1=\"{X0}\" y1=\"{y}\" x2=\"{X1}\" y2=\"{y}\"/><text class=\"ln\" x=\"{}\" y=\"{}\"><title>{}</title>{}</text>",
            if i % 2 == 1 { " odd" } else { "" },
            X0 - 8.0,
            y + 4.0,
            esc(name),
            esc(&truncate(name, LABEL_CHARS))
        );
    }
    out.push_str("</g>\n");

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
    bands(out, tl, &lanes, &sc);
    messages(out, &id, tl, &lanes, &sc, kinds);
    marks(out, tl, &sc, lanes_bottom, &mark_rows);
    out.push_str("</g>\n");
    let _ = writeln!(
        out,
        "<rect class=\"sel\" x=\"0\" y=\"{AXIS_H}\" width=\"0\" height=\"{}\"/>",
        lanes_bottom - AXIS_H
    );
    out.push_str("</svg>\n</div>\n");
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

fn legend(out: &mut String, id: &str, tl: &Timeline, present: &[(usize, usize)], kinds: &Kinds) {
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
    if !tl.marks.is_empty() {
        out.push_str("<span class=\"lg\"><i class=\"sw mk-sw\"></i>mark</span>");
    }
    out.push_str("</span></div>\n");
}

fn bands(out: &mut String, tl: &Timeline, lanes: &Lanes, sc: &Scale) {
    out.push_str("<g class=\"bands\">");
    for (n, b) in tl.bands.iter().enumerate() {
        let end = b.end_us.unwrap_or(sc.end_us).max(b.start_us);
        let (x1, x2) = (sc.x(b.start_us), sc.x(end));
        let title = band_title(b);
        let mut rows: Vec<usize> = b.nodes.iter().filter_map(|n| lanes.index(n)).collect();
        rows.sort_unstable();
        rows.dedup();
        if rows.is_empty() {
            rows = (0..lanes.names.len()).collect();
        }
        // A partition is about the links between its groups: one band over
        // every lane it names. Other faults sit on their nodes' lanes only.
        let spans: Vec<(usize, usize)> = if b.kind == FaultKind::Partition {
            vec![(rows[0], rows[rows.len() - 1])]
        } else {
            let mut spans: Vec<(usize, usize)> = Vec::new();
            for r in rows {
                match spans.last_mut() {
                    Some((_, hi)) if *hi + 1 == r => *hi = r,
                    _ => spans.push((r, r)),
                }
            }
            spans
        };
        let c = fault_class(b.kind);
        for (lo, hi) in &spans {
            let y = AXIS_H + LANE_H * *lo as f64 + 1.0;
            let h = LANE_H * (hi - lo + 1) as f64 - 2.0;
            let _ = write!(
                out,
                "<rect class=\"band f-{c}\" x=\"{x1:.1}\" y=\"{y}\" width=\"{:.1}\" height=\"{h}\" data-a=\"{}\" data-b=\"{end}\"><title>{title}</title></rect>",
                (x2 - x1).max(1.0),
                b.start_us
            );
        }
        let top = AXIS_H + LANE_H * spans[0].0 as f64;
        let _ = write!(
            out,
            "<text class=\"bl\" x=\"{:.1}\" y=\"{}\" data-a=\"{}\" data-dx=\"3\"><title>{title}</title>{}</text>",
            x1 + 3.0,
            top + 10.0 + 11.0 * (n % 2) as f64,
            b.start_us,
            esc(&truncate(&b.label, 48))
        );
    }
    out.push_str("</g>\n");
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
        let (y1, y2) = (Lanes::center(fi), Lanes::center(ti));
        let x1 = sc.x(m.sent_us);
        let title = message_title(m);
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

fn message_title(m: &TimelineMessage) -> String {
    let mut t = esc(&m.kind);
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

/// Label rows for marks, greedily, so labels close in time do not overlap.
fn mark_rows(marks: &[Mark], sc: &Scale) -> Vec<usize> {
    let mut order: Vec<usize> = (0..marks.len()).collect();
    order.sort_by_key(|&i| marks[i].at_us);
    let mut row_end = [f64::NEG_INFINITY; MARK_ROWS];
    let mut rows = vec![0; marks.len()];
    for i in order {
        let x = sc.x(marks[i].at_us);
        let width = 6.0 * truncate(&marks[i].label, 40).chars().count() as f64 + 10.0;
        let row = (0..MARK_ROWS)
            .find(|&r| row_end[r] <= x)
            .unwrap_or_else(|| {
                (0..MARK_ROWS)
                    .min_by(|&a, &b| row_end[a].total_cmp(&row_end[b]))
                    .unwrap_or(0)
            });
        row_end[row] = x + width;
        rows[i] = row;
    }
    rows
}

fn marks(out: &mut String, tl: &Timeline, sc: &Scale, lanes_bottom: f64, rows: &[usize]) {
    out.push_str("<g class=\"marks\">");
    for (m, row) in tl.marks.iter().zip(rows) {
        let x = sc.x(m.at_us);
        let title = format!("{} at {}", esc(&m.label), fmt_us(m.at_us));
        let _ = write!(
            out,
            "<line class=\"mk\" x1=\"{x:.1}\" y1=\"{AXIS_H}\" x2=\"{x:.1}\" y2=\"{}\" data-a=\"{}\"><title>{title}</title></line><text class=\"ml\" x=\"{:.1}\" y=\"{}\" data-a=\"{}\" data-dx=\"2\"><title>{title}</title>{}</text>",
            lanes_bottom + MARK_ROW_H * (*row as f64) + 4.0,
            m.at_us,
            x + 2.0,
            lanes_bottom + MARK_ROW_H * (*row as f64 + 1.0),
            m.at_us,
            esc(&truncate(&m.label, 40))
        );
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
// Inline assets

const CSS: &str = r#"
:root{--fg:#1d232b;--dim:#6b7480;--line:#dde1e6;--bg:#fff;--soft:#f5f7f9;
--pass:#1a7f37;--fail:#cf222e;--inc:#9a6700;--gerr:#8250df;--skip:#6e7781}
*{box-sizing:border-box}
body{margin:0;color:var(--fg);background:var(--bg);font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
code,pre{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,"Liberation Mono",monospace;font-size:12.5px}
header,nav,main,footer{max-width:1140px;margin:0 auto;padding:0 20px}
header{padding-top:20px}
.head{display:flex;align-items:baseline;justify-content:space-between;gap:16px}
h1{font-size:22px;margin:0}
.score{font-size:30px;font-weight:700}.score span{font-size:18px;color:var(--dim);font-weight:400}
.score.full{color:var(--pass)}.score.zero{color:var(--fail)}.score.some{color:var(--inc)}
.meta{display:flex;flex-wrap:wrap;gap:4px 22px;margin:8px 0}
.meta div{display:flex;gap:6px}.meta dt{color:var(--dim)}.meta dd{margin:0;font-weight:600}
.replay{display:flex;align-items:center;gap:8px;background:var(--soft);border:1px solid var(--line);border-radius:6px;padding:6px 8px;margin:8px 0 4px}
.replay span{color:var(--dim)}.replay code{flex:1;overflow-x:auto;white-space:nowrap}
button{font:inherit;font-size:12px;border:1px solid var(--line);background:#fff;border-radius:4px;padding:1px 8px;cursor:pointer}
button:hover{background:var(--soft)}
table{border-collapse:collapse;width:100%}
th{text-align:left;font-weight:600;color:var(--dim);font-size:12px}
th,td{padding:4px 8px;border-bottom:1px solid var(--line);vertical-align:top}
.num{text-align:right;white-space:nowrap}
.summary{margin:14px auto}.summary a{color:inherit;text-decoration:none}.summary a:hover{text-decoration:underline}
.badge{display:inline-block;font-size:11px;font-weight:600;text-transform:uppercase;letter-spacing:.03em;color:#fff;border-radius:10px;padding:1px 8px;vertical-align:middle}
.badge.passed{background:var(--pass)}.badge.failed{background:var(--fail)}.badge.inconclusive{background:var(--inc)}.badge.grader_error{background:var(--gerr)}.badge.skipped{background:var(--skip)}
.stage{border-top:2px solid var(--line);padding:10px 0 18px}
h2{font-size:18px;margin:6px 0}h2 .sn{color:var(--dim);font-weight:400}h2 .pts{font-size:13px;color:var(--dim);font-weight:400;margin-left:6px}
.goal{margin:4px 0 10px}
.error{background:#fff8e6;border-left:3px solid var(--inc);padding:6px 10px}
.checks{margin:8px 0}.checks code{white-space:pre-wrap;word-break:break-word}
.checks .sym{width:1.5em;font-weight:700}.checks .ok .sym{color:var(--pass)}.checks .bad .sym{color:var(--fail)}.checks .bad{background:#fff5f5}
.ck{font-size:11px;border-radius:3px;padding:0 5px;border:1px solid var(--line)}.ck.safety{color:#0b5cad}.ck.liveness{color:#8a4b00}
.hint{background:#f0f6ff;border-left:3px solid #0b5cad;padding:6px 10px;margin:8px 0}.hint a{margin-left:6px}
.dim{color:var(--dim);fill:var(--dim)}
.tl{margin-top:10px}
.tl-bar{display:flex;flex-wrap:wrap;align-items:center;gap:4px 12px;font-size:12px;margin-bottom:4px}
.tl-bar .zoom{display:inline-flex;gap:2px}
.legend{display:flex;flex-wrap:wrap;gap:2px 12px}
.legend label,.legend .lg{display:inline-flex;align-items:center;gap:4px;cursor:default}.legend label{cursor:pointer}
.sw{display:inline-block;width:14px;height:4px;border-radius:1px}
.sw.lost{background:repeating-linear-gradient(90deg,#888 0 3px,transparent 3px 5px)}
.sw.mk-sw{width:2px;height:12px;background:#555}
.legend .sw[class*=" f-"]{height:10px;opacity:.45}
.tl-svg{display:block;max-width:100%;height:auto;border:1px solid var(--line);border-radius:4px;user-select:none;cursor:crosshair;background:#fff}
.tl-svg.empty{cursor:default}
.tl-svg text{font-size:11px;fill:var(--fg)}
.lanes rect{fill:#fff}.lanes rect.odd{fill:#f7f8fa}
.axis-lane{stroke:#c9ced4;stroke-width:1}
.ln{text-anchor:end;font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
.ax line{stroke:#eceef1;stroke-width:1}.ax text{text-anchor:middle;fill:var(--dim)!important;font-size:10px}
.m{stroke-width:1.1;opacity:.8;fill:none}.m:hover{stroke-width:3;opacity:1}
.m.lost{stroke-dasharray:3 2}
.band{fill-opacity:.16;stroke-opacity:.5;stroke-width:1}
.bl{font-size:10px!important;fill:#333!important}
.f-partition{fill:#e15759;stroke:#e15759;background:#e15759}.f-link{fill:#f28e2b;stroke:#f28e2b;background:#f28e2b}
.f-latency{fill:#d4a72c;stroke:#d4a72c;background:#d4a72c}.f-kill{fill:#333;stroke:#333;background:#333}
.f-stop{fill:#7b3294;stroke:#7b3294;background:#7b3294}.f-pause{fill:#4e79a7;stroke:#4e79a7;background:#4e79a7}
.f-crash{fill:#c51b7d;stroke:#c51b7d;background:#c51b7d}.f-join{fill:#59a14f;stroke:#59a14f;background:#59a14f}
.mk{stroke:#555;stroke-width:1;stroke-dasharray:4 3}
.ml{font-size:10px!important;fill:#444!important}
.sel{fill:#0b5cad;fill-opacity:.12;stroke:#0b5cad;stroke-opacity:.5;visibility:hidden}
footer{color:var(--dim);font-size:12px;padding:16px 20px 30px}
"#;

const JS: &str = r#"(function(){
"use strict";
function nice(r){var raw=Math.max(r/10,1),mag=Math.pow(10,Math.floor(Math.log10(raw))),n=raw/mag;
  return Math.max(1,Math.round((n<=1?1:n<=2?2:n<=5?5:10)*mag));}
function trim(s){return s.indexOf(".")<0?s:s.replace(/0+$/,"").replace(/\.$/,"");}
function label(t,step){if(t===0)return "0";var d,u;
  if(step>=100000){d=1e6;u="s";}else if(step>=100){d=1e3;u="ms";}else{d=1;u="\u00b5s";}
  return trim((t/d).toFixed(step/d>=1?0:1))+" "+u;}
function Timeline(svg){
  var me=this;this.svg=svg;this.ns=svg.namespaceURI;
  this.x0=+svg.getAttribute("data-x0");this.x1=+svg.getAttribute("data-x1");
  this.end=+svg.getAttribute("data-end");this.top=+svg.getAttribute("data-top");
  this.bottom=+svg.getAttribute("data-bottom");this.t0=0;this.t1=this.end;
  this.els=Array.prototype.slice.call(svg.querySelectorAll("[data-a]"));
  this.ax=svg.querySelector(".ax");this.sel=svg.querySelector(".sel");
  var start=null;
  svg.addEventListener("mousedown",function(e){
    if(e.button!==0)return;var x=me.px(e);if(x<me.x0||x>me.x1)return;
    start=x;me.sel.setAttribute("x",x);me.sel.setAttribute("width",0);
    me.sel.style.visibility="visible";e.preventDefault();});
  window.addEventListener("mousemove",function(e){if(start===null)return;
    var x=Math.min(Math.max(me.px(e),me.x0),me.x1);
    me.sel.setAttribute("x",Math.min(x,start));me.sel.setAttribute("width",Math.abs(x-start));});
  window.addEventListener("mouseup",function(e){if(start===null)return;
    var x=Math.min(Math.max(me.px(e),me.x0),me.x1),a=Math.min(x,start),b=Math.max(x,start);
    start=null;me.sel.style.visibility="hidden";
    if(b-a>4)me.zoom(me.t(a),me.t(b));});
  svg.addEventListener("dblclick",function(){me.zoom(0,me.end);});
}
Timeline.prototype.px=function(e){var p=this.svg.createSVGPoint();p.x=e.clientX;p.y=e.clientY;
  return p.matrixTransform(this.svg.getScreenCTM().inverse()).x;};
Timeline.prototype.t=function(x){return this.t0+(x-this.x0)/(this.x1-this.x0)*(this.t1-this.t0);};
Timeline.prototype.x=function(t){return this.x0+(t-this.t0)/(this.t1-this.t0)*(this.x1-this.x0);};
Timeline.prototype.zoom=function(a,b){
  var span=Math.max(b-a,20);if(span>=this.end){a=0;span=this.end;}
  a=Math.min(Math.max(a,0),this.end-span);this.t0=a;this.t1=a+span;this.layout();};
Timeline.prototype.act=function(z){var c=(this.t0+this.t1)/2,s=this.t1-this.t0;
  if(z==="in")this.zoom(c-s/4,c+s/4);else if(z==="out")this.zoom(c-s,c+s);
  else if(z==="left")this.zoom(this.t0-s/2,this.t1-s/2);else if(z==="right")this.zoom(this.t0+s/2,this.t1+s/2);
  else this.zoom(0,this.end);};
Timeline.prototype.layout=function(){
  for(var i=0;i<this.els.length;i++){var el=this.els[i],a=+el.getAttribute("data-a"),
      bs=el.getAttribute("data-b"),b=bs===null?a:+bs,tag=el.tagName.toLowerCase();
    if(tag==="line"){el.setAttribute("x1",this.x(a).toFixed(1));el.setAttribute("x2",this.x(b).toFixed(1));}
    else if(tag==="rect"){var xa=this.x(a);el.setAttribute("x",xa.toFixed(1));el.setAttribute("width",Math.max(1,this.x(b)-xa).toFixed(1));}
    else if(tag==="text"){el.setAttribute("x",(this.x(a)+(+(el.getAttribute("data-dx")||0))).toFixed(1));}}
  while(this.ax.firstChild)this.ax.removeChild(this.ax.firstChild);
  var step=nice(this.t1-this.t0);
  for(var t=Math.ceil(this.t0/step)*step;t<=this.t1;t+=step){var x=this.x(t).toFixed(1),
      l=document.createElementNS(this.ns,"line"),tx=document.createElementNS(this.ns,"text");
    l.setAttribute("x1",x);l.setAttribute("x2",x);l.setAttribute("y1",this.top-4);l.setAttribute("y2",this.bottom);
    tx.setAttribute("x",x);tx.setAttribute("y",this.top-9);tx.textContent=label(Math.round(t),step);
    this.ax.appendChild(l);this.ax.appendChild(tx);}};
var bars=document.querySelectorAll(".tl-bar");
for(var i=0;i<bars.length;i++)(function(bar){
  var svg=document.getElementById(bar.getAttribute("data-for"));if(!svg)return;
  var tl=new Timeline(svg);
  bar.addEventListener("click",function(e){var z=e.target.getAttribute&&e.target.getAttribute("data-z");if(z)tl.act(z);});
  bar.addEventListener("change",function(e){var k=e.target.getAttribute("data-k");
    if(k!==null)svg.classList.toggle("h"+k,!e.target.checked);});
})(bars[i]);
var copies=document.querySelectorAll("button.copy");
for(var j=0;j<copies.length;j++)copies[j].addEventListener("click",function(e){
  var b=e.target,el=document.getElementById(b.getAttribute("data-for"));if(!el)return;
  var done=function(){b.textContent="copied";setTimeout(function(){b.textContent="copy";},1500);};
  if(navigator.clipboard&&navigator.clipboard.writeText){navigator.clipboard.writeText(el.textContent).then(done,function(){});}
  else{var r=document.createRange();r.selectNodeContents(el);var s=window.getSelection();s.removeAllRanges();s.addRange(r);}});
})();
"#;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixtures::sample_report;

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
