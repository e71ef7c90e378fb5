//! `timeline.html`: one self-contained page a student opens after a run.
//!
//! Everything is inline (CSS, JS, SVG): the page works from a `file://` URL,
//! offline, and can be attached to a CI run as a single artefact. The CSS
//! and the script live in `timeline.css` and `timeline.js` next to this
//! file and are inlined at build time. Every string from the run is
//! escaped, because node and type names come from student code.
//!
//! Each stage gets its checks and an SVG timeline: a lane per node, below
//! them a lane per service the grader runs (the store), and at the bottom
//! the grader's own node; messages as arrows from (sent, sender) to
//! (received, receiver) coloured by kind; fault bands over the lanes they
//! affect; marks of the whole stage as dashed vertical lines, marks of one
//! lane as dots on it; above the axis, a strip with the whole stage. The
//! SVG is drawn in full by this module, so it reads without JS (the
//! grader's own traffic hidden by a class on it, as with JS). The small
//! script opens each timeline on where its stage's story happens (see
//! `default_view`), adds zoom (drag across the plot, the buttons, or the
//! strip), the filters by origin, kind and payload type, and lays labels
//! out again with their measured widths.

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
    let types = Types::collect(report);
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
            ".k{i}{{stroke:{c}}} .hk{i} .k{i}{{display:none}}",
            c = kind_color(kind)
        );
    }
    for i in 0..types.entries.len() {
        let _ = writeln!(out, ".ht{i} .t{i}{{display:none}}");
    }
    out.push_str("</style>\n</head>\n<body>\n");
    header(&mut out, report);
    summary(&mut out, report);
    out.push_str("<main>\n");
    for (i, stage) in report.stages.iter().enumerate() {
        stage_section(&mut out, i, stage, &kinds, &types);
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

fn stage_section(out: &mut String, idx: usize, s: &StageReport, kinds: &Kinds, types: &Types) {
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
    timeline(out, idx, s, kinds, types);
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
/// The overview strip above the axis: the whole stage, the part in view
/// framed in it.
const OV_Y: f64 = 6.0;
const OV_H: f64 = 16.0;
/// Width of one bar of the overview's message density.
const OV_BIN: f64 = 3.0;
const AXIS_H: f64 = 26.0;
/// Top of the first lane: the overview, then the axis labels.
const TOP: f64 = OV_Y + OV_H + AXIS_H;
const LANE_H: f64 = 34.0;
/// Space between groups of lanes (the nodes, the services under them, the
/// grader's own node at the bottom), so that none reads as one more node.
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

/// What a lane stands for; lanes are drawn in this order, each group apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum LaneKind {
    /// A node process of the code under test.
    Node,
    /// A service the grader runs for the nodes (the store).
    Service,
    /// The grader's own node, which drives the stage.
    Control,
}

/// Lanes: node lanes, then service lanes, then the grader's own node, each
/// group below a gap. A name that a message, band or lane mark uses but the
/// lists missed gets a lane too, so nothing is silently left off the
/// picture.
struct Lanes {
    names: Vec<String>,
    kinds: Vec<LaneKind>,
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
        let control: Vec<String> = tl.control.iter().cloned().collect();
        let kind = |n: &str| {
            if find_lane(&control, n).is_some() {
                LaneKind::Control
            } else if find_lane(&tl.services, n).is_some() {
                LaneKind::Service
            } else {
                LaneKind::Node
            }
        };
        let mut lanes: Vec<(LaneKind, String)> = all.into_iter().map(|n| (kind(&n), n)).collect();
        // Stable: each group keeps its order.
        lanes.sort_by_key(|(k, _)| *k);
        let (kinds, names) = lanes.into_iter().unzip();
        Lanes { names, kinds }
    }

    fn index(&self, name: &str) -> Option<usize> {
        find_lane(&self.names, name)
    }

    fn is_service(&self, i: usize) -> bool {
        self.kinds[i] == LaneKind::Service
    }

    fn is_control(&self, i: usize) -> bool {
        self.kinds[i] == LaneKind::Control
    }

    /// Whether lane `i` is the first of a group drawn apart from the lanes
    /// above it.
    fn starts_group(&self, i: usize) -> bool {
        i > 0 && self.kinds[i] != self.kinds[i - 1]
    }

    fn top(&self, i: usize) -> f64 {
        let gaps = (1..=i).filter(|&j| self.starts_group(j)).count();
        TOP + LANE_H * i as f64 + SERVICE_GAP * gaps as f64
    }

    fn center(&self, i: usize) -> f64 {
        self.top(i) + LANE_H / 2.0
    }

    fn bottom(&self) -> f64 {
        match self.names.len() {
            0 => TOP,
            n => self.top(n - 1) + LANE_H,
        }
    }

    /// The origin a message is filtered by: [`GRADER`] when the grader's
    /// own node sends or receives it, else [`NODES`].
    fn origin(&self, m: &TimelineMessage) -> usize {
        let control = |n: &str| self.index(n).is_some_and(|i| self.is_control(i));
        if control(&m.from) || control(&m.to) {
            GRADER
        } else {
            NODES
        }
    }
}

/// Origins, for the origin filter: the code under test's own traffic, and
/// the grader's (its rpc calls, the samplers that read the nodes' state,
/// the exit signals that crash a process), hidden until asked for.
const NODES: usize = 0;
const GRADER: usize = 1;

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

/// Every payload type in the report, grouped by the crate that defines it,
/// in a fixed order, so a type has the same CSS class in every stage.
struct Types {
    entries: Vec<TypeEntry>,
}

/// One entry of the type filter.
#[derive(Debug, Clone, PartialEq)]
struct TypeEntry {
    /// What messages are matched by: the full type name as the trace
    /// records it, or a `#` key for what has no Rust type.
    key: String,
    /// The crate of the type (`contracts`, `netsplit`, `std`), or what
    /// stands in for it.
    group: String,
    /// The name shown: the type without its module paths.
    label: String,
}

/// Keys of the entries that are not Rust types.
const UNTYPED: &str = "#untyped";
const SERVICE_TYPE: &str = "#service:";
/// Groups of those, and of the standard library's types.
const UNTYPED_GROUP: &str = "no payload";
const SERVICE_GROUP: &str = "services";
const STD_GROUP: &str = "std";
const RUNTIME_GROUP: &str = "netsplit";

/// The type filter's key for a message. A service's traffic is one entry
/// per service (its protocol), whatever the command: the trace of a store
/// link names how many RESP messages a chunk held, not a type.
fn type_key(m: &TimelineMessage, services: &[String]) -> String {
    let service = [&m.from, &m.to]
        .into_iter()
        .find(|n| find_lane(services, n).is_some());
    match (service, &m.type_name) {
        (Some(s), _) => format!("{SERVICE_TYPE}{}", service_kind(s)),
        (None, Some(t)) => t.clone(),
        (None, None) => UNTYPED.to_string(),
    }
}

/// The group of a type key: the crate of a type's outer name, the standard
/// library's crates as one, primitives and tuples with them.
fn type_group(key: &str) -> String {
    if key == UNTYPED {
        return UNTYPED_GROUP.into();
    }
    if key.starts_with(SERVICE_TYPE) {
        return SERVICE_GROUP.into();
    }
    let outer = key.split('<').next().unwrap_or(key);
    match outer.split_once("::") {
        Some(("alloc" | "core" | "std", _)) | None => STD_GROUP.into(),
        Some((krate, _)) => krate.to_string(),
    }
}

/// Groups in the order the filter lists them: the part's own crates first,
/// then the runtime's, the standard library's, the services', the rest.
fn group_rank(group: &str) -> u8 {
    match group {
        RUNTIME_GROUP => 1,
        STD_GROUP => 2,
        SERVICE_GROUP => 3,
        UNTYPED_GROUP => 4,
        _ => 0,
    }
}

/// A type name without its module paths:
/// `alloc::collections::btree::map::BTreeMap<netsplit::pid::NodeName, u64>`
/// reads `BTreeMap<NodeName, u64>`.
fn short_type(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut ident = String::new();
    let mut chars = name.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_alphanumeric() || c == '_' {
            ident.push(c);
        } else if c == ':' && chars.peek() == Some(&':') {
            chars.next();
            ident.clear();
        } else {
            out.push_str(&ident);
            ident.clear();
            out.push(c);
        }
    }
    out.push_str(&ident);
    out
}

impl Types {
    fn collect(r: &RunReport) -> Types {
        let mut keys: Vec<String> = Vec::new();
        for s in &r.stages {
            for m in &s.timeline.messages {
                let k = type_key(m, &s.timeline.services);
                if !keys.contains(&k) {
                    keys.push(k);
                }
            }
        }
        let mut entries: Vec<TypeEntry> = keys
            .into_iter()
            .map(|key| {
                let label = if key == UNTYPED {
                    "none".to_string()
                } else if let Some(s) = key.strip_prefix(SERVICE_TYPE) {
                    s.to_string()
                } else {
                    short_type(&key)
                };
                TypeEntry {
                    group: type_group(&key),
                    key,
                    label,
                }
            })
            .collect();
        // Two types that read the same once shortened keep their modules.
        let labels: Vec<String> = entries.iter().map(|e| e.label.clone()).collect();
        for e in &mut entries {
            if labels.iter().filter(|l| **l == e.label).count() > 1 {
                e.label = match e.key.split_once("::") {
                    Some((_, rest)) => rest.to_string(),
                    None => e.key.clone(),
                };
            }
        }
        entries.sort_by(|a, b| {
            (group_rank(&a.group), &a.group, &a.label).cmp(&(
                group_rank(&b.group),
                &b.group,
                &b.label,
            ))
        });
        Types { entries }
    }

    fn index(&self, key: &str) -> usize {
        self.entries.iter().position(|e| e.key == key).unwrap_or(0)
    }
}

/// What the filters of one stage list, with counts: (index, messages).
struct Present {
    kinds: Vec<(usize, usize)>,
    types: Vec<(usize, usize)>,
    origins: [usize; 2],
}

impl Present {
    fn count(tl: &Timeline, lanes: &Lanes, kinds: &Kinds, types: &Types) -> Present {
        fn bump(list: &mut Vec<(usize, usize)>, i: usize) {
            match list.iter_mut().find(|(j, _)| *j == i) {
                Some((_, n)) => *n += 1,
                None => list.push((i, 1)),
            }
        }
        let mut p = Present {
            kinds: vec![],
            types: vec![],
            origins: [0; 2],
        };
        for m in &tl.messages {
            bump(&mut p.kinds, kinds.index(&m.kind));
            bump(&mut p.types, types.index(&type_key(m, &tl.services)));
            p.origins[lanes.origin(m)] += 1;
        }
        p.kinds.sort_unstable();
        p.types.sort_unstable();
        p
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

/// Maps times (µs since stage start) to x over the plot area, for the view
/// from `t0` to `t1`.
#[derive(Clone, Copy, Debug)]
struct Scale {
    t0: u64,
    t1: u64,
}

impl Scale {
    fn x(&self, t: u64) -> f64 {
        let span = self.t1.saturating_sub(self.t0).max(1) as f64;
        X0 + (t as f64 - self.t0 as f64) / span * (X1 - X0)
    }
}

// ---------------------------------------------------------------------------
// The view a timeline opens on.
//
// A stage is mostly quiet: its messages come in bursts of a few
// milliseconds (a round of pings, the mesh forming, a recovery) between the
// grader's waits, and a fault can last a second. At the scale of the whole
// stage a burst of hundreds of messages is a few pixels wide. So the page
// opens on its first fault (in a stage without faults, its first mark)
// with the burst that leads up to it, and takes in what follows, up to the
// stage's last mark, as long as every burst in view keeps enough width for
// its lines to be told apart. The zoom buttons and the overview strip reach
// the rest. Only the traffic shown by default counts (not the grader's).

/// Sends further apart than this are two bursts.
const BURST_GAP_US: u64 = 2_000;
/// A mark or burst this close before the start of the view is part of it.
const JOIN_US: u64 = 5_000;
/// Fewer messages than this are not a burst: a few lines always read.
const BURST_MIN: usize = 12;
/// Width a burst of n messages needs: 2 px a message, up to 300 px.
const BURST_PX_PER_MESSAGE: f64 = 2.0;
const BURST_PX: f64 = 300.0;
/// A burst sent all at once still counts as lasting this long.
const BURST_MIN_US: u64 = 300;
/// The narrowest view the page opens on.
const MIN_VIEW_US: u64 = 2_000;
/// A view this close to the whole stage opens on the whole stage.
const WHOLE_ENOUGH: f64 = 0.95;

/// A run of sends with no gap longer than [`BURST_GAP_US`], from its first
/// send until nine in ten of its messages have arrived (its lines end
/// there: a busy receiver can take its time).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Burst {
    start: u64,
    end: u64,
    messages: usize,
}

impl Burst {
    /// The widest view (µs) in which this burst keeps the width it needs.
    fn widest_view(&self) -> f64 {
        if self.messages < BURST_MIN {
            return f64::INFINITY;
        }
        let lasts = (self.end - self.start).max(BURST_MIN_US) as f64;
        let needs = (self.messages as f64 * BURST_PX_PER_MESSAGE).min(BURST_PX);
        // Leave room for the view's padding.
        lasts * (X1 - X0) * 0.9 / needs
    }
}

/// The bursts of `sends`, (sent, arrived) sorted by sending time.
fn bursts(sends: &[(u64, u64)]) -> Vec<Burst> {
    let mut out: Vec<Burst> = Vec::new();
    let mut i = 0;
    while i < sends.len() {
        let mut j = i + 1;
        while j < sends.len() && sends[j].0 <= sends[j - 1].0 + BURST_GAP_US {
            j += 1;
        }
        let run = &sends[i..j];
        let last_sent = run[run.len() - 1].0;
        let end = if run.len() < BURST_MIN {
            last_sent
        } else {
            let mut arrived: Vec<u64> = run.iter().map(|(_, r)| *r).collect();
            arrived.sort_unstable();
            arrived[(arrived.len() * 9 / 10).min(arrived.len() - 1)].max(last_sent)
        };
        out.push(Burst {
            start: run[0].0,
            end,
            messages: run.len(),
        });
        i = j;
    }
    out
}

/// The view (µs since the stage start) a stage's timeline opens on; the
/// whole stage when there is nothing to focus on.
fn default_view(tl: &Timeline, lanes: &Lanes, end_us: u64) -> (u64, u64) {
    let whole = (0, end_us);
    let mut sends: Vec<(u64, u64)> = tl
        .messages
        .iter()
        .filter(|m| lanes.origin(m) == NODES)
        .map(|m| {
            let sent = m.sent_us.min(end_us);
            (sent, m.received_us.unwrap_or(sent).clamp(sent, end_us))
        })
        .collect();
    sends.sort_unstable();
    let bursts = bursts(&sends);
    let mut anchors: Vec<u64> = tl
        .marks
        .iter()
        .map(|m| m.at_us)
        .chain(tl.bands.iter().map(|b| b.start_us))
        .chain(tl.bands.iter().filter_map(|b| b.end_us))
        .filter(|&t| t < end_us)
        .collect();
    anchors.sort_unstable();
    let first_fault = tl.bands.iter().map(|b| b.start_us).min();
    let Some(focus) = first_fault
        .or(anchors.first().copied())
        .or(sends.first().map(|s| s.0))
    else {
        return whole;
    };
    let last = anchors.last().copied().unwrap_or(focus);

    // Back over what leads up to the focus: the bursts and marks just
    // before it, as long as the bursts still read with the focus in view.
    let mut a = focus;
    let mut widest = f64::INFINITY;
    loop {
        let before = a;
        for b in &bursts {
            if b.start >= a || b.end + JOIN_US < a {
                continue;
            }
            let w = widest.min(b.widest_view());
            if (focus.max(b.end) - b.start) as f64 <= w {
                a = b.start;
                widest = w;
            }
        }
        for &t in &anchors {
            if t < a && t + JOIN_US >= a {
                a = t;
            }
        }
        if a == before {
            break;
        }
    }
    // The story ends with the burst that answers its last mark.
    let mut z = last.max(focus);
    for b in &bursts {
        if b.start <= z + JOIN_US && b.end > z {
            z = b.end;
        }
    }

    // Take in what follows while every burst in view keeps its width.
    enum Item {
        Burst(Burst),
        Anchor(u64),
    }
    let mut items: Vec<(u64, Item)> = bursts
        .iter()
        .filter(|b| b.end >= a && b.start <= z)
        .map(|b| (b.start, Item::Burst(*b)))
        .chain(
            anchors
                .iter()
                .filter(|&&t| t >= a && t <= z)
                .map(|&t| (t, Item::Anchor(t))),
        )
        .collect();
    items.sort_by_key(|(t, _)| *t);
    let mut reach = focus;
    let mut stopped_at = None;
    for (_, item) in items {
        let (end, w) = match item {
            Item::Burst(b) => (b.end, widest.min(b.widest_view())),
            Item::Anchor(t) => (t, widest),
        };
        if (end.max(a) - a) as f64 > w {
            stopped_at = Some(match item {
                Item::Burst(b) => b.start,
                Item::Anchor(t) => t,
            });
            break;
        }
        widest = w;
        reach = reach.max(end);
    }
    let reached = (reach - a) as f64;
    let span = match stopped_at {
        // As wide as the bursts in view allow, short of what comes next.
        Some(s) if widest.is_finite() => reached.max(widest.min((s - a) as f64)),
        _ => reached,
    };
    // Some context around a story that takes little time, unless a burst
    // needs the view narrower: the story is then in its middle.
    let floor = (end_us as f64 / 10.0)
        .min(widest)
        .max(MIN_VIEW_US.min(end_us) as f64);
    let (start, span) = if span < floor {
        (a as f64 + span / 2.0 - floor / 2.0, floor)
    } else {
        (a as f64, span)
    };
    let pad = (span * 0.05).max(200.0);
    let t0 = (start - pad).max(0.0);
    let t1 = (t0 + span + 2.0 * pad).min(end_us as f64);
    let t0 = (t1 - span - 2.0 * pad).max(0.0);
    if t1 - t0 >= WHOLE_ENOUGH * end_us as f64 {
        return whole;
    }
    (t0.round() as u64, t1.round() as u64)
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

/// A label to lay out: its anchor's x (and its span's end), its text's
/// length, how it fits, and whether a mark's line runs down to it through
/// the rows above its own (a stage mark's label).
#[derive(Clone, Copy, Debug)]
struct Label {
    x: f64,
    until_x: f64,
    chars: usize,
    fit: Fit,
    tail: bool,
}

/// Where a label went: its row, the x its text is anchored at (the end of
/// the text when `end`, for a label flipped left of its point), and how
/// many characters of it are shown (fewer than all, ending with `…`, when
/// it was shortened to fit).
#[derive(Clone, Copy, Debug, PartialEq)]
struct Placed {
    row: usize,
    x: f64,
    end: bool,
    chars: usize,
}

/// From an anchor to its text, and between two labels in a row.
const LABEL_DX: f64 = 4.0;
const LABEL_GAP: f64 = 6.0;
/// Room kept between a mark's line and a label it passes.
const TAIL_GAP: f64 = 3.0;
/// A character at the labels' 10px font, on the generous side so that
/// estimated labels rather leave a gap than overlap.
const CHAR_W: f64 = 6.2;
/// A label is shortened to no fewer characters than this (with its `…`).
const MIN_CHARS: usize = 7;

fn label_width(chars: usize) -> f64 {
    CHAR_W * chars as f64
}

impl Label {
    /// Start, end and flip of the label's text at `width`, or `None` when
    /// its anchor is out of view.
    fn extent(&self, width: f64) -> Option<(f64, f64, bool)> {
        let (lo, hi) = (X0 + 2.0, X1 - 2.0);
        match self.fit {
            Fit::Span => {
                if self.until_x < lo || self.x > hi {
                    return None;
                }
                let s = (self.x.max(lo) + LABEL_DX).min(hi - width).max(lo);
                Some((s, s + width, false))
            }
            Fit::Point if self.x < X0 || self.x > X1 => None,
            Fit::Point if self.x + LABEL_DX + width <= hi => {
                let s = self.x + LABEL_DX;
                Some((s, s + width, false))
            }
            Fit::Point => {
                let e = (self.x - LABEL_DX).max(lo + width);
                Some((e - width, e, true))
            }
        }
    }
}

/// What the labels placed so far take: text boxes per row, and the lines of
/// stage marks, each running down through the rows above its label's.
struct Taken {
    boxes: Vec<Vec<(f64, f64)>>,
    tails: Vec<(f64, usize)>,
}

impl Taken {
    fn free(&self, row: usize, (s, e): (f64, f64), l: &Label) -> bool {
        let clear = |a: f64, b: f64| b + LABEL_GAP <= s || e + LABEL_GAP <= a;
        self.boxes[row].iter().all(|&(a, b)| clear(a, b))
            && self
                .tails
                .iter()
                .all(|&(x, r)| r <= row || x < s - TAIL_GAP || x > e + TAIL_GAP)
            && (!l.tail
                || self.boxes[..row]
                    .iter()
                    .flatten()
                    .all(|&(a, b)| l.x < a - TAIL_GAP || l.x > b + TAIL_GAP))
    }
}

/// Lays `labels` out in `rows` rows: no two overlap, no mark's line crosses
/// another mark's label, and none leaves the plot. A label with no room at
/// its full length is shortened to the room left in the row that has most;
/// with less room than [`MIN_CHARS`] it is hidden. Its mark keeps the whole
/// text in a tooltip either way.
///
/// Labels are placed one by one, each in the first row with room. Marks
/// close together then stack as a staircase, each line passing beside the
/// labels above its own: labels to the right of their marks taken from the
/// right (the leftmost mark's label lowest), labels turned left of their
/// marks at the right edge taken from the left. That order, and plain
/// right to left and left to right, are tried; the one that shows most
/// wins.
fn place_labels(labels: &[Label], rows: usize) -> Vec<Option<Placed>> {
    let mut order: Vec<(f64, usize)> = labels
        .iter()
        .enumerate()
        .filter(|(_, l)| l.extent(label_width(l.chars)).is_some())
        .map(|(i, l)| (l.x, i))
        .collect();
    // By their marks (a label turned left of its mark starts further left
    // the longer it is).
    order.sort_by(|a, b| a.0.total_cmp(&b.0));
    let ltr: Vec<usize> = order.iter().map(|(_, i)| *i).collect();
    let rtl: Vec<usize> = ltr.iter().rev().copied().collect();
    // Labels turned left at the right edge from the left, then the others
    // from the right.
    let flipped = |i: &usize| {
        let l = &labels[*i];
        l.extent(label_width(l.chars))
            .is_some_and(|(_, _, end)| end)
    };
    let mixed: Vec<usize> = ltr
        .iter()
        .filter(|i| flipped(i))
        .chain(rtl.iter().filter(|i| !flipped(i)))
        .copied()
        .collect();
    let shown = |p: &[Option<Placed>]| {
        let placed = p.iter().flatten();
        (
            placed.clone().count(),
            placed.map(|p| p.chars).sum::<usize>(),
        )
    };
    [mixed, rtl, ltr]
        .into_iter()
        .map(|order| place_in_order(labels, rows, order.into_iter()))
        .reduce(|best, p| if shown(&p) > shown(&best) { p } else { best })
        .unwrap_or_default()
}

fn place_in_order(
    labels: &[Label],
    rows: usize,
    order: impl Iterator<Item = usize>,
) -> Vec<Option<Placed>> {
    let mut taken = Taken {
        boxes: vec![vec![]; rows],
        tails: vec![],
    };
    let mut placed = vec![None; labels.len()];
    for i in order {
        let l = &labels[i];
        let fits = |row: usize, chars: usize| {
            l.extent(label_width(chars))
                .filter(|&(s, e, _)| taken.free(row, (s, e), l))
        };
        let full = (0..rows).find_map(|r| fits(r, l.chars).map(|x| (r, l.chars, x)));
        let best = full.or_else(|| {
            (0..rows)
                .filter_map(|r| {
                    // The longest shortened text that fits in row r.
                    let (mut lo, mut hi) = (MIN_CHARS, l.chars.checked_sub(1)?);
                    if hi < lo {
                        return None;
                    }
                    fits(r, lo)?;
                    while lo < hi {
                        let mid = (lo + hi).div_ceil(2);
                        if fits(r, mid).is_some() {
                            lo = mid;
                        } else {
                            hi = mid - 1;
                        }
                    }
                    Some((r, lo, fits(r, lo)?))
                })
                .max_by_key(|(r, chars, _)| (*chars, std::cmp::Reverse(*r)))
        });
        if let Some((row, chars, (s, e, end))) = best {
            taken.boxes[row].push((s, e));
            if l.tail {
                taken.tails.push((l.x, row));
            }
            placed[i] = Some(Placed {
                row,
                x: if end { e } else { s },
                end,
                chars,
            });
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
    /// Tooltip, already escaped.
    title: &'a str,
    /// The text (not escaped), at most as long as its kind allows.
    text: &'a str,
    /// The mark line (its `data-m`) that reaches down to the label's row.
    tail: Option<usize>,
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
        " data-g=\"{}\" data-ys=\"{}\"",
        l.group,
        rows.join(" "),
    );
    if let Some(m) = l.tail {
        let _ = write!(out, " data-tail=\"{m}\"");
    }
    let shown = match placed {
        Some(p) if p.chars < l.text.chars().count() => {
            // Shortened to fit: the script lays it out again from all of it.
            let _ = write!(out, " data-full=\"{}\"", esc(l.text));
            truncate(l.text, p.chars)
        }
        _ => l.text.to_string(),
    };
    let _ = write!(out, "><title>{}</title>{}</text>", l.title, esc(&shown));
}

/// The lane a mark belongs on, if it names one the timeline has.
fn mark_lane(m: &Mark, lanes: &Lanes) -> Option<usize> {
    m.lane.as_deref().and_then(|l| lanes.index(l))
}

/// Baselines of the label rows inside lane `i`.
fn lane_rows(lanes: &Lanes, i: usize) -> [f64; 2] {
    LANE_LABEL_ROWS.map(|dy| lanes.top(i) + dy)
}

/// The labels of a timeline, laid out for one view: fault bands' (on the
/// first lane they cover) and lane marks' inside the lanes, stage marks' in
/// rows under them. By band index and by mark index.
struct Layout {
    bands: Vec<Option<Placed>>,
    marks: Vec<Option<Placed>>,
    /// Rows the stage marks' labels use: all of them when one had to be
    /// shortened or hidden (the script, measuring the real text, may find
    /// room in a row the estimate left empty).
    rows: usize,
}

fn layout_labels(tl: &Timeline, lanes: &Lanes, sc: &Scale, end_us: u64) -> Layout {
    enum Owner {
        Band(usize),
        Mark(usize),
    }
    let mut per_lane: Vec<Vec<(Owner, Label)>> = (0..lanes.names.len()).map(|_| vec![]).collect();
    for (i, b) in tl.bands.iter().enumerate() {
        let lane = band_spans(b, lanes)[0].0;
        let label = Label {
            x: sc.x(b.start_us),
            until_x: sc.x(b.end_us.unwrap_or(end_us)),
            chars: b.label.chars().count().min(BAND_CHARS),
            fit: Fit::Span,
            tail: false,
        };
        per_lane[lane].push((Owner::Band(i), label));
    }
    let mut stage_marks: Vec<(usize, Label)> = vec![];
    for (i, m) in tl.marks.iter().enumerate() {
        let point = |chars: usize, tail: bool| Label {
            x: sc.x(m.at_us),
            until_x: sc.x(m.at_us),
            chars: m.label.chars().count().min(chars),
            fit: Fit::Point,
            tail,
        };
        match mark_lane(m, lanes) {
            Some(lane) => per_lane[lane].push((Owner::Mark(i), point(LANE_MARK_CHARS, false))),
            None => stage_marks.push((i, point(MARK_CHARS, true))),
        }
    }
    let mut out = Layout {
        bands: vec![None; tl.bands.len()],
        marks: vec![None; tl.marks.len()],
        rows: 0,
    };
    for items in per_lane {
        let labels: Vec<Label> = items.iter().map(|(_, l)| *l).collect();
        for ((owner, _), p) in items
            .iter()
            .zip(place_labels(&labels, LANE_LABEL_ROWS.len()))
        {
            match owner {
                Owner::Band(i) => out.bands[*i] = p,
                Owner::Mark(i) => out.marks[*i] = p,
            }
        }
    }
    let labels: Vec<Label> = stage_marks.iter().map(|(_, l)| *l).collect();
    for ((i, l), p) in stage_marks.iter().zip(place_labels(&labels, MARK_ROWS)) {
        out.marks[*i] = p;
        out.rows = match p {
            Some(p) if p.chars == l.chars => out.rows.max(p.row + 1),
            _ => MARK_ROWS,
        };
    }
    out
}

fn timeline(out: &mut String, idx: usize, s: &StageReport, kinds: &Kinds, types: &Types) {
    let tl = &s.timeline;
    let lanes = Lanes::new(tl);
    let id = format!("tl{idx}");

    out.push_str("<div class=\"tl\">\n");
    if lanes.names.is_empty() {
        let _ = writeln!(
            out,
            "<svg class=\"tl-svg empty\" width=\"{W}\" height=\"40\" viewBox=\"0 0 {W} 40\" role=\"img\" aria-label=\"empty timeline\"><text x=\"12\" y=\"24\" class=\"dim\">No messages or faults were recorded for this stage.</text></svg>"
        );
        out.push_str("</div>\n");
        return;
    }

    let present = Present::count(tl, &lanes, kinds, types);
    let end_us = time_end(s);
    let sc = Scale { t0: 0, t1: end_us };
    let (v0, v1) = default_view(tl, &lanes, end_us);
    filter_bar(out, &id, tl, &lanes, &present, kinds, types, end_us);

    let lanes_bottom = lanes.bottom();
    // Drawn for the whole stage, which the page shows without its script;
    // with it, the page opens on the default view, whose stage mark labels
    // may take more rows.
    let layout = layout_labels(tl, &lanes, &sc, end_us);
    let opening = layout_labels(tl, &lanes, &Scale { t0: v0, t1: v1 }, end_us);
    let used_rows = layout.rows.max(opening.rows);
    let height = lanes_bottom + 6.0 + MARK_ROW_H * used_rows as f64;

    let hidden = if present.origins[GRADER] > 0 {
        " ho1"
    } else {
        ""
    };
    let _ = writeln!(
        out,
        "<svg id=\"{id}\" class=\"tl-svg{hidden}\" width=\"{W}\" height=\"{height}\" viewBox=\"0 0 {W} {height}\" data-x0=\"{X0}\" data-x1=\"{X1}\" data-end=\"{end_us}\" data-view=\"{v0} {v1}\" data-top=\"{TOP}\" data-bottom=\"{lanes_bottom}\" data-ov=\"{OV_Y} {OV_H}\" role=\"img\" aria-label=\"message timeline of stage {}\">",
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
    for (k, _) in &present.kinds {
        let _ = write!(
            out,
            "<marker id=\"{id}-a{k}\" viewBox=\"0 0 6 6\" refX=\"6\" refY=\"3\" markerWidth=\"5\" markerHeight=\"5\" orient=\"auto\"><path d=\"M0,0L6,3L0,6z\" fill=\"{}\"/></marker>",
            kind_color(&kinds.names[*k])
        );
    }
    out.push_str("</defs>\n");

    lanes_group(out, &lanes);
    overview(out, tl, &lanes, end_us);

    // Axis ticks (the script redraws them on zoom).
    out.push_str("<g class=\"ax\">");
    let step = nice_step(end_us);
    let mut t = 0;
    while t <= end_us {
        let x = sc.x(t);
        let _ = write!(
            out,
            "<line x1=\"{x:.1}\" y1=\"{}\" x2=\"{x:.1}\" y2=\"{lanes_bottom}\"/><text x=\"{x:.1}\" y=\"{}\">{}</text>",
            TOP - 4.0,
            TOP - 9.0,
            tick_label(t, step)
        );
        t += step;
    }
    out.push_str("</g>\n");

    let _ = writeln!(out, "<g clip-path=\"url(#{id}-c)\">");
    let band_texts = bands(out, tl, &lanes, &sc, &layout.bands);
    messages(out, &id, tl, &lanes, &sc, kinds, types);
    // Mark lines under every label: where one passes a label inside a
    // lane, the label's halo hides it.
    let mark_texts = marks(out, tl, &lanes, &sc, used_rows, &layout.marks);
    out.push_str(&band_texts);
    out.push_str(&mark_texts);
    out.push_str("</g>\n");
    let _ = writeln!(
        out,
        "<rect class=\"sel\" x=\"0\" y=\"{TOP}\" width=\"0\" height=\"{}\"/>",
        lanes_bottom - TOP
    );
    out.push_str("</svg>\n</div>\n");
}

fn lanes_group(out: &mut String, lanes: &Lanes) {
    out.push_str("<g class=\"lanes\">");
    for (i, name) in lanes.names.iter().enumerate() {
        let top = lanes.top(i);
        let y = lanes.center(i);
        let (class, line) = match lanes.kinds[i] {
            LaneKind::Service => (" svc", " svc"),
            LaneKind::Control => (" ctl", " ctl"),
            LaneKind::Node if i % 2 == 1 => (" odd", ""),
            LaneKind::Node => ("", ""),
        };
        if lanes.starts_group(i) {
            let y = top - SERVICE_GAP / 2.0;
            let _ = write!(
                out,
                "<line class=\"svc-sep\" x1=\"0\" y1=\"{y}\" x2=\"{W}\" y2=\"{y}\"/>"
            );
        }
        let _ = write!(
            out,
            "<rect class=\"lane{class}\" x=\"0\" y=\"{top}\" width=\"{W}\" height=\"{LANE_H}\"/><line class=\"axis-lane{line}\" x1=\"{X0}\" y1=\"{y}\" x2=\"{X1}\" y2=\"{y}\"/>"
        );
        let x = X0 - 8.0;
        let y = y + 4.0;
        match lanes.kinds[i] {
            LaneKind::Service => {
                let kind = service_kind(name);
                let _ = write!(
                    out,
                    "<text class=\"ln svc\" x=\"{x}\" y=\"{y}\"><title>{}: a service the grader runs ({kind}), not a node</title>{} <tspan class=\"sk\">({kind})</tspan></text>",
                    esc(name),
                    esc(&truncate(name, LABEL_CHARS.saturating_sub(kind.len() + 3)))
                );
            }
            LaneKind::Control => {
                let _ = write!(
                    out,
                    "<text class=\"ln ctl\" x=\"{x}\" y=\"{y}\"><title>{}: the grader's own node, hidden from the others, which drives the stage; its traffic is under Origin</title>{} <tspan class=\"sk\">(control)</tspan></text>",
                    esc(name),
                    esc(&truncate(short_name(name), LABEL_CHARS - 10))
                );
            }
            LaneKind::Node => {
                let _ = write!(
                    out,
                    "<text class=\"ln\" x=\"{x}\" y=\"{y}\"><title>{}</title>{}</text>",
                    esc(name),
                    esc(&truncate(name, LABEL_CHARS))
                );
            }
        }
    }
    out.push_str("</g>\n");
}

/// The overview strip: the whole stage at a glance (fault bands, marks, and
/// how many messages the filters show, as bars), with the part in view
/// framed. The script keeps the frame and the bars up to date; clicking or
/// dragging in the strip moves the view.
fn overview(out: &mut String, tl: &Timeline, lanes: &Lanes, end_us: u64) {
    let sc = Scale { t0: 0, t1: end_us };
    let _ = write!(
        out,
        "<g class=\"ov\"><title>the whole stage: click or drag to move the view</title><text class=\"ln ov-l\" x=\"{}\" y=\"{}\">whole stage</text><rect class=\"ov-bg\" x=\"{X0}\" y=\"{OV_Y}\" width=\"{}\" height=\"{OV_H}\"/>",
        X0 - 8.0,
        OV_Y + OV_H - 4.0,
        X1 - X0
    );
    for b in &tl.bands {
        let x = sc.x(b.start_us);
        let w = (sc.x(b.end_us.unwrap_or(end_us).max(b.start_us)) - x).max(1.0);
        let _ = write!(
            out,
            "<rect class=\"ov-b f-{}\" x=\"{x:.1}\" y=\"{OV_Y}\" width=\"{w:.1}\" height=\"{OV_H}\"/>",
            fault_class(b.kind)
        );
    }
    let sends: Vec<u64> = tl
        .messages
        .iter()
        .filter(|m| lanes.origin(m) == NODES)
        .map(|m| m.sent_us)
        .collect();
    let _ = write!(
        out,
        "<path class=\"ov-d\" d=\"{}\"/>",
        density_path(&sends, end_us)
    );
    for m in tl.marks.iter().filter(|m| mark_lane(m, lanes).is_none()) {
        let x = sc.x(m.at_us);
        let _ = write!(
            out,
            "<line class=\"ov-m\" x1=\"{x:.1}\" y1=\"{OV_Y}\" x2=\"{x:.1}\" y2=\"{}\"/>",
            OV_Y + OV_H
        );
    }
    let _ = writeln!(
        out,
        "<rect class=\"vp\" x=\"{X0}\" y=\"{}\" width=\"{}\" height=\"{}\"/></g>",
        OV_Y - 1.0,
        X1 - X0,
        OV_H + 2.0
    );
}

/// The overview's bars: messages sent per [`OV_BIN`] pixels of the whole
/// stage, a bar's height growing with the square root of its count (the
/// same rule as the script's).
fn density_path(sends: &[u64], end_us: u64) -> String {
    let bins = ((X1 - X0) / OV_BIN).floor() as usize;
    let mut counts = vec![0usize; bins];
    for &t in sends {
        let i = (t as f64 / end_us.max(1) as f64 * bins as f64) as usize;
        counts[i.min(bins - 1)] += 1;
    }
    let max = counts.iter().copied().max().unwrap_or(0).max(1) as f64;
    let mut d = String::new();
    for (i, &n) in counts.iter().enumerate().filter(|(_, n)| **n > 0) {
        let h = ((n as f64 / max).sqrt() * (OV_H - 2.0)).max(1.5);
        let _ = write!(
            d,
            "M{:.1} {}v-{h:.1}h{}v{h:.1}z",
            X0 + i as f64 * OV_BIN,
            OV_Y + OV_H,
            OV_BIN - 0.5
        );
    }
    d
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

/// The bar above a timeline: zoom, what is in view, and the filters by
/// origin, kind and payload type (a message is drawn when all three show
/// it), then the key to the bands and marks.
#[allow(clippy::too_many_arguments)]
fn filter_bar(
    out: &mut String,
    id: &str,
    tl: &Timeline,
    lanes: &Lanes,
    present: &Present,
    kinds: &Kinds,
    types: &Types,
    end_us: u64,
) {
    let _ = write!(out, "<div class=\"tl-bar\" data-for=\"{id}\">");
    out.push_str("<div class=\"row\"><span class=\"zoom\"><button type=\"button\" data-z=\"in\" title=\"zoom in\">+</button><button type=\"button\" data-z=\"out\" title=\"zoom out\">−</button><button type=\"button\" data-z=\"left\" title=\"earlier\">◀</button><button type=\"button\" data-z=\"right\" title=\"later\">▶</button><button type=\"button\" data-z=\"fit\" title=\"where the stage's story starts, zoomed so that its bursts read (the opening view)\">fit</button><button type=\"button\" data-z=\"reset\" title=\"the whole stage\">all</button></span>");
    let _ = write!(
        out,
        "<span class=\"dim\"><span class=\"vw\">showing the whole stage, {}</span> · {} messages · drag across the plot to zoom, in the strip above it to move</span></div>",
        fmt_ms(end_us / 1000),
        tl.messages.len()
    );

    if !tl.messages.is_empty() {
        out.push_str("<div class=\"row\" data-filter=\"origin\"><span class=\"rh\">Origin</span>");
        let origins = [
            (
                NODES,
                "between nodes",
                "messages between the nodes (and the services they use)".to_string(),
            ),
            (
                GRADER,
                "the grader's own",
                format!(
                    "messages to and from {}, the grader's own node: the rpc calls that drive the nodes, the samplers that read their state, the exit signals that crash a process",
                    esc(tl.control.as_deref().unwrap_or("the grader"))
                ),
            ),
        ];
        for (o, name, title) in origins {
            let n = present.origins[o];
            if n == 0 {
                continue;
            }
            let _ = write!(
                out,
                "<label title=\"{title}\"><input type=\"checkbox\"{} data-f=\"o{o}\">{name} <span class=\"dim\">{n}</span></label>",
                if o == GRADER { "" } else { " checked" }
            );
        }
        out.push_str(
            "</div>\n<div class=\"row\" data-filter=\"kind\"><span class=\"rh\">Kind</span>",
        );
        for (k, n) in &present.kinds {
            let kind = &kinds.names[*k];
            let _ = write!(
                out,
                "<label title=\"show or hide {0} frames\"><input type=\"checkbox\" checked data-f=\"k{k}\"><i class=\"sw\" style=\"background:{1}\"></i>{0} <span class=\"dim\">{n}</span></label>",
                esc(kind),
                kind_color(kind)
            );
        }
        out.push_str(
            "</div>\n<div class=\"row\" data-filter=\"type\"><span class=\"rh\">Type</span>",
        );
        let mut groups: Vec<(&str, Vec<(usize, usize)>)> = Vec::new();
        for &(t, n) in &present.types {
            let g = types.entries[t].group.as_str();
            match groups.iter_mut().find(|(name, _)| *name == g) {
                Some((_, list)) => list.push((t, n)),
                None => groups.push((g, vec![(t, n)])),
            }
        }
        for (gi, (group, list)) in groups.iter().enumerate() {
            out.push_str("<span class=\"tg\">");
            let total: usize = list.iter().map(|(_, n)| n).sum();
            let title = match *group {
                RUNTIME_GROUP => "types of the runtime's own messages: the global name server, rpc, process groups".to_string(),
                STD_GROUP => "types of the standard library, such as the maps and vectors calls answer with".to_string(),
                SERVICE_GROUP => "traffic between the nodes and the services the grader runs".to_string(),
                UNTYPED_GROUP => "frames with no payload: monitors, links, exit signals, the mesh's peer lists".to_string(),
                g => format!("types defined in the crate {}", esc(g)),
            };
            if list.len() > 1 {
                let _ = write!(
                    out,
                    "<label class=\"grp\" title=\"{title}: show or hide them all\"><input type=\"checkbox\" checked data-grp=\"{id}-g{gi}\">{} <span class=\"dim\">{total}</span></label>",
                    esc(group)
                );
            }
            for (t, n) in list {
                let e = &types.entries[*t];
                let tip = if e.key.starts_with('#') {
                    title.clone()
                } else {
                    esc(&e.key)
                };
                let _ = write!(
                    out,
                    "<label title=\"{tip}\"><input type=\"checkbox\" checked data-f=\"t{t}\" data-in=\"{id}-g{gi}\">{} <span class=\"dim\">{n}</span></label>",
                    esc(&e.label)
                );
            }
            out.push_str("</span>");
        }
        out.push_str("</div>\n");
    }

    let mut key = String::new();
    if tl.messages.iter().any(|m| m.received_us.is_none()) {
        key.push_str("<span class=\"lg\"><i class=\"sw lost\"></i>no receive traced</span>");
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
            key,
            "<span class=\"lg\"><i class=\"sw f-{c}\"></i>{c}</span>"
        );
    }
    let (on_lanes, of_stage): (Vec<&Mark>, Vec<&Mark>) =
        tl.marks.iter().partition(|m| mark_lane(m, lanes).is_some());
    if !of_stage.is_empty() {
        key.push_str("<span class=\"lg\"><i class=\"sw mk-sw\"></i>mark</span>");
    }
    if !on_lanes.is_empty() {
        key.push_str("<span class=\"lg\"><i class=\"sw lm-sw\"></i>event on a lane</span>");
    }
    if !key.is_empty() {
        let _ = write!(
            out,
            "<div class=\"row legend\"><span class=\"rh\">Key</span>{key}</div>"
        );
    }
    out.push_str("</div>\n");
}

/// The runs of lanes band `b` covers, as (first, last) lane indices. A
/// partition is about the links between its groups: one span over every
/// lane it names. Other faults sit on their nodes' lanes only.
fn band_spans(b: &FaultBand, lanes: &Lanes) -> Vec<(usize, usize)> {
    let mut rows: Vec<usize> = b.nodes.iter().filter_map(|n| lanes.index(n)).collect();
    rows.sort_unstable();
    rows.dedup();
    if rows.is_empty() {
        rows = (0..lanes.names.len())
            .filter(|&i| !lanes.is_control(i))
            .collect();
    }
    if rows.is_empty() {
        rows = vec![0];
    }
    if b.kind == FaultKind::Partition {
        return vec![(rows[0], rows[rows.len() - 1])];
    }
    let mut spans: Vec<(usize, usize)> = Vec::new();
    for r in rows {
        match spans.last_mut() {
            // Not across the gap above another group of lanes.
            Some((_, hi)) if *hi + 1 == r && !lanes.starts_group(r) => {
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
        let end = b.end_us.unwrap_or(sc.t1).max(b.start_us);
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
                text: &truncate(&b.label, BAND_CHARS),
                tail: None,
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

fn messages(
    out: &mut String,
    id: &str,
    tl: &Timeline,
    lanes: &Lanes,
    sc: &Scale,
    kinds: &Kinds,
    types: &Types,
) {
    out.push_str("<g class=\"msgs\">");
    for m in &tl.messages {
        let (Some(fi), Some(ti)) = (lanes.index(&m.from), lanes.index(&m.to)) else {
            continue;
        };
        let k = kinds.index(&m.kind);
        let t = types.index(&type_key(m, &tl.services));
        let o = lanes.origin(m);
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
                    "<line class=\"m k{k} t{t} o{o}\" x1=\"{x1:.1}\" y1=\"{y1}\" x2=\"{:.1}\" y2=\"{y2}\" marker-end=\"url(#{id}-a{k})\" data-a=\"{}\" data-b=\"{r}\"><title>{title}</title></line>",
                    sc.x(r),
                    m.sent_us
                );
            }
            None => {
                // A stub a third of the way towards the receiver.
                let _ = write!(
                    out,
                    "<line class=\"m lost k{k} t{t} o{o}\" x1=\"{x1:.1}\" y1=\"{y1}\" x2=\"{x1:.1}\" y2=\"{:.1}\" data-a=\"{}\"><title>{title}</title></line>",
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
/// rows under the lanes; lane marks as dots on their lane, labelled inside
/// it. Draws the lines; returns the dots and labels, to be drawn over
/// everything else.
fn marks(
    out: &mut String,
    tl: &Timeline,
    lanes: &Lanes,
    sc: &Scale,
    used_rows: usize,
    labels: &[Option<Placed>],
) -> String {
    let bottom = lanes.bottom();
    let stage_rows: Vec<f64> = (0..used_rows.max(1))
        .map(|r| bottom + MARK_ROW_H * (r as f64 + 1.0))
        .collect();
    out.push_str("<g class=\"mark-lines\">");
    let mut texts = String::from("<g class=\"marks\">");
    for (i, (m, placed)) in tl.marks.iter().zip(labels).enumerate() {
        let x = sc.x(m.at_us);
        let lane = mark_lane(m, lanes);
        let chars = if lane.is_some() {
            LANE_MARK_CHARS
        } else {
            MARK_CHARS
        };
        let text = truncate(&m.label, chars);
        match lane {
            None => {
                let title = format!("{} at {}", esc(&m.label), fmt_us(m.at_us));
                // Down to just above its label's row, or to the lanes' bottom
                // when the label is hidden (the script keeps it so).
                let y2 = match placed {
                    Some(p) => stage_rows[p.row] - MARK_ROW_H + 4.0,
                    None => bottom,
                };
                let _ = write!(
                    out,
                    "<line class=\"mk\" x1=\"{x:.1}\" y1=\"{TOP}\" x2=\"{x:.1}\" y2=\"{y2}\" data-a=\"{}\" data-m=\"{i}\"><title>{title}</title></line>",
                    m.at_us
                );
                label_text(
                    &mut texts,
                    &LabelText {
                        class: "ml",
                        group: "M",
                        rows: &stage_rows,
                        at_us: m.at_us,
                        until_us: None,
                        anchor_x: x,
                        title: &title,
                        text: &text,
                        tail: Some(i),
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
                    texts,
                    "<circle class=\"lm\" cx=\"{x:.1}\" cy=\"{}\" r=\"3.5\" data-a=\"{}\" data-lane=\"{lane}\"><title>{title}</title></circle>",
                    lanes.center(lane),
                    m.at_us
                );
                label_text(
                    &mut texts,
                    &LabelText {
                        class: "lml",
                        group: &format!("L{lane}"),
                        rows: &lane_rows(lanes, lane),
                        at_us: m.at_us,
                        until_us: None,
                        anchor_x: x,
                        title: &title,
                        text: &text,
                        tail: None,
                    },
                    *placed,
                );
            }
        }
    }
    out.push_str("</g>\n");
    texts.push_str("</g>\n");
    texts
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
    use crate::report::fixtures::{busy_stage, sample_report, CONTROL};

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
        assert!(s2.contains("data-f=\"k"));
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
        assert_eq!(attr(lane, "y"), TOP + 3.0 * LANE_H + SERVICE_GAP);
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
        assert_eq!(s4.matches(&format!("<line class=\"m k{k} ")).count(), 6);
        assert!(s4.contains("store request SET · 24 B\nn1@127.0.0.1 → store"));
        assert!(s4.contains("store reply OK · 24 B\nstore → n1@127.0.0.1"));
    }

    fn point(x: f64, chars: usize, tail: bool) -> Label {
        Label {
            x,
            until_x: x,
            chars,
            fit: Fit::Point,
            tail,
        }
    }

    /// The boxes of placed labels: (row, start, end).
    fn boxes(labels: &[Label], placed: &[Option<Placed>]) -> Vec<(usize, f64, f64)> {
        labels
            .iter()
            .zip(placed)
            .filter_map(|(_, p)| {
                let p = (*p)?;
                let w = label_width(p.chars);
                let start = if p.end { p.x - w } else { p.x };
                Some((p.row, start, start + w))
            })
            .collect()
    }

    #[test]
    fn labels_neither_overlap_nor_leave_the_plot() {
        // Crowded points, a long span near the end and a point at the edge.
        let mut labels: Vec<Label> = (0..12)
            .map(|i| point(X0 + 20.0 + 7.0 * f64::from(i), 15, false))
            .collect();
        labels.push(Label {
            x: X1 - 30.0,
            until_x: X1 + 50.0,
            chars: 32,
            fit: Fit::Span,
            tail: false,
        });
        labels.push(point(X1 - 1.0, 19, false));
        labels.push(Label {
            x: X0 - 40.0,
            until_x: X0 + 100.0,
            chars: 10,
            fit: Fit::Span,
            tail: false,
        });
        let placed = place_labels(&labels, 2);
        let boxes = boxes(&labels, &placed);
        for (i, a) in boxes.iter().enumerate() {
            assert!(a.1 >= X0 && a.2 <= X1, "label {a:?} leaves the plot");
            for b in &boxes[i + 1..] {
                assert!(
                    a.0 != b.0 || a.2 <= b.1 || b.2 <= a.1,
                    "labels {a:?} and {b:?} overlap"
                );
            }
        }
        // Two rows take some of the crowded points, shortened where they
        // must be; the others are hidden.
        let crowded = placed[..12].iter().flatten().count();
        assert!((2..12).contains(&crowded), "{placed:?}");
        let edge = placed[13].expect("the edge label has room");
        assert!(edge.end, "turned left of its point");
        assert_eq!(placed[12].map(|p| p.chars), Some(32));
        // Out of view: no label.
        let gone = place_labels(&[point(X0 - 5.0, 10, false), point(X1 + 5.0, 10, false)], 2);
        assert_eq!(gone, [None, None]);
    }

    #[test]
    fn stage_marks_close_together_stack_without_a_line_crossing_a_label() {
        // Four marks a few pixels apart, as at the whole stage's scale, and
        // three turned left at the right edge.
        let labels: Vec<Label> = [300.0, 303.0, 306.0, 309.0, X1 - 20.0, X1 - 14.0, X1 - 8.0]
            .into_iter()
            .map(|x| point(x, 28, true))
            .collect();
        let placed = place_labels(&labels, MARK_ROWS);
        assert!(placed.iter().all(Option::is_some), "{placed:?}");
        let rows: Vec<usize> = placed.iter().flatten().map(|p| p.row).collect();
        assert_eq!(&rows[..4], [3, 2, 1, 0], "a staircase, leftmost lowest");
        assert!(placed[4..].iter().flatten().all(|p| p.end));
        assert_eq!(&rows[4..], [0, 1, 2], "turned left: leftmost highest");
        let boxes = boxes(&labels, &placed);
        for (l, p) in labels.iter().zip(&placed) {
            let p = p.expect("placed");
            for &(row, s, e) in &boxes {
                if row < p.row {
                    assert!(
                        l.x < s - TAIL_GAP || l.x > e + TAIL_GAP,
                        "the line at {} crosses a label in row {row} ({s:.0}..{e:.0})",
                        l.x
                    );
                }
            }
        }
    }

    #[test]
    fn a_label_without_room_is_shortened_then_hidden() {
        // One row: the right label keeps all of its text, the one left of
        // it is cut short before it, the one with no room at all is hidden.
        let labels = [
            point(X0 + 100.0, 30, false),
            point(X0 + 200.0, 30, false),
            point(X0 + 203.0, 30, false),
        ];
        let placed = place_labels(&labels, 1);
        let right = placed[2].expect("the rightmost label");
        assert_eq!(right.chars, 30);
        let cut = placed[0].expect("shortened, not hidden");
        assert!(cut.chars >= MIN_CHARS && cut.chars < 30, "{cut:?}");
        assert!(cut.x + label_width(cut.chars) + LABEL_GAP <= right.x);
        assert_eq!(placed[1], None);

        // Shortened in the page, with its whole text for the script.
        let mut report = sample_report();
        report.stages[0].timeline.marks = vec![
            Mark {
                at_us: 100_000,
                label: "a long mark whose label cannot fit".into(),
                lane: Some("n1".into()),
            },
            Mark {
                at_us: 250_000,
                label: "the next one".into(),
                lane: Some("n1".into()),
            },
            Mark {
                at_us: 252_000,
                label: "and another".into(),
                lane: Some("n1".into()),
            },
        ];
        let html = render(&report);
        let label = element(section(&html, 1), "<text class=\"lml\"", "a long mark");
        // (All of it as far as a lane mark's label goes.)
        assert!(
            label.contains("data-full=\"a long mark whose label cannot …\""),
            "{label}"
        );
        assert!(label.contains("</title>a long mark w…</text>"), "{label}");
    }

    #[test]
    fn types_read_without_their_module_paths_and_group_by_crate() {
        assert_eq!(
            short_type("alloc::collections::btree::map::BTreeMap<netsplit::pid::NodeName, u64>"),
            "BTreeMap<NodeName, u64>"
        );
        assert_eq!(short_type("contracts::ping_pong::Ping"), "Ping");
        assert_eq!(short_type("(u64, alloc::string::String)"), "(u64, String)");
        assert_eq!(type_group("contracts::ping_pong::Ping"), "contracts");
        assert_eq!(type_group("netsplit::rpc::Request"), RUNTIME_GROUP);
        assert_eq!(
            type_group("alloc::vec::Vec<contracts::ping_pong::Ping>"),
            STD_GROUP
        );
        assert_eq!(type_group("u64"), STD_GROUP);
        assert_eq!(type_group(UNTYPED), UNTYPED_GROUP);

        let mut report = sample_report();
        report.stages.push(busy_stage(6));
        let types = Types::collect(&report);
        let groups: Vec<&str> = types.entries.iter().map(|e| e.group.as_str()).collect();
        let mut sorted = groups.clone();
        sorted.sort_by_key(|g| group_rank(g));
        assert_eq!(groups, sorted, "the part's own types first");
        assert_eq!(groups[0], "contracts");
        let store = types.index(&format!("{SERVICE_TYPE}redis"));
        assert_eq!(types.entries[store].label, "redis");
        // A store's traffic is one entry, whatever each chunk held.
        assert!(!types
            .entries
            .iter()
            .any(|e| e.key == "SET" || e.key == "OK"));
    }

    #[test]
    fn the_graders_own_traffic_is_apart_and_hidden_until_asked_for() {
        let mut report = sample_report();
        report.stages.push(busy_stage(6));
        let html = render(&report);
        let s6 = section(&html, 6);
        let tl = &report.stages[5].timeline;
        let lanes = Lanes::new(tl);
        // Its lane comes last, apart, and says whose it is.
        assert_eq!(lanes.names.last().map(String::as_str), Some(CONTROL));
        let ctl = lanes.names.len() - 1;
        assert!(lanes.is_control(ctl) && lanes.starts_group(ctl));
        assert!(s6.contains("<text class=\"ln ctl\""));
        assert!(s6.contains("grader <tspan class=\"sk\">(control)</tspan>"));
        // Its messages carry the origin class, hidden on the svg.
        let grader = tl
            .messages
            .iter()
            .filter(|m| m.from == CONTROL || m.to == CONTROL)
            .count();
        assert!(grader > 50);
        assert_eq!(s6.matches(" o1\"").count(), grader);
        assert_eq!(s6.matches(" o0\"").count(), tl.messages.len() - grader);
        assert!(s6.contains("class=\"tl-svg ho1\""));
        assert!(html.contains(".ho0 .o0,.ho1 .o1{display:none}"));
        // The filters: origin (the grader's unticked), kind, type by crate.
        let bar =
            &s6[s6.find("<div class=\"tl-bar\"").expect("bar")..s6.find("<svg").expect("svg")];
        assert!(bar.contains(&format!(
            "<input type=\"checkbox\" data-f=\"o1\">the grader's own <span class=\"dim\">{grader}</span>"
        )));
        assert!(bar.contains("<input type=\"checkbox\" checked data-f=\"o0\">between nodes"));
        assert!(bar.contains("data-filter=\"kind\""));
        assert!(bar.contains("data-grp=\"tl5-g1\">netsplit"), "{bar}");
        assert!(bar.contains(">BTreeMap&lt;NodeName, u64&gt; <span"));
        assert!(bar.contains("title=\"contracts::ping_pong::Ping\""));
        // Every type's class can be hidden.
        let types = Types::collect(&report);
        for i in 0..types.entries.len() {
            assert!(html.contains(&format!(".ht{i} .t{i}{{display:none}}")));
        }
        // Stages without the grader's traffic hide nothing.
        assert!(!section(&html, 2).contains("ho1"));
    }

    #[test]
    fn a_stage_opens_on_its_story_at_a_zoom_where_bursts_read() {
        let stage = busy_stage(1);
        let tl = &stage.timeline;
        let lanes = Lanes::new(tl);
        let end = time_end(&stage);
        let (a, b) = default_view(tl, &lanes, end);
        // The burst of pings just before the partition, and its start...
        assert!(a <= 70_000 && b >= 72_600, "view {a}..{b}");
        // ...not the mesh forming long before, nor the whole stage.
        assert!(a > 25_000, "view {a}..{b}");
        assert!(b - a < end / 10, "view {a}..{b} of {end}");
        // The burst keeps at least 2 px a message.
        let burst = tl
            .messages
            .iter()
            .filter(|m| (70_000..72_600).contains(&m.sent_us))
            .count() as f64;
        let width = (72_000 - 70_000) as f64 / (b - a) as f64 * (X1 - X0);
        assert!(
            width >= 2.0 * burst.min(150.0),
            "{burst} messages in {width} px"
        );
        // The page opens there.
        let mut report = sample_report();
        report.stages.push(busy_stage(6));
        let html = render(&report);
        assert!(section(&html, 6).contains(&format!("data-view=\"{a} {b}\"")));

        // A lone mark is shown with some context, in the middle.
        let s1 = &report.stages[0];
        let end = time_end(s1);
        let (a, b) = default_view(&s1.timeline, &Lanes::new(&s1.timeline), end);
        assert!(b - a >= end / 10 && b - a < end / 2, "{a}..{b} of {end}");
        assert!((a + b) / 2 - 800_000 < 1_000, "{a}..{b} around 800 ms");
        // A story with few messages, from its first mark to its last.
        let mut s = busy_stage(1);
        s.timeline.bands.clear();
        s.timeline.marks = vec![
            Mark {
                at_us: 100_000,
                label: "one".into(),
                lane: None,
            },
            Mark {
                at_us: 130_000,
                label: "two".into(),
                lane: None,
            },
        ];
        s.timeline
            .messages
            .retain(|m| m.from == CONTROL || m.to == CONTROL);
        let (a, b) = default_view(&s.timeline, &Lanes::new(&s.timeline), time_end(&s));
        assert!(a < 100_000 && b > 130_000 && b - a < 120_000, "{a}..{b}");
        // Nothing at all: the whole stage.
        let empty = Timeline::default();
        assert_eq!(default_view(&empty, &Lanes::new(&empty), 5_000), (0, 5_000));
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
