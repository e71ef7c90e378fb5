//! What a graded run produced, independent of how it is shown.
//!
//! The human report streams while the run goes on; everything else
//! (results.json, junit.xml, the HTML timeline) is rendered from a finished
//! [`RunReport`]. Field names are the results.json schema: change them only
//! together with the golden tests.

use serde::{Deserialize, Serialize};

/// Bumped whenever results.json changes shape.
pub const SCHEMA_VERSION: u32 = 1;

/// One graded run of one part.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct RunReport {
    /// results.json schema version.
    pub schema: u32,
    /// Part id, e.g. "ping-pong".
    pub part: String,
    /// Part title, e.g. "Part 1: ping-pong".
    pub title: String,
    /// What was graded: "starter", "solution" or `mutant:NAME`.
    pub target: String,
    /// The seed that drove workloads and fault schedules.
    pub seed: u64,
    /// Factor applied to every liveness deadline.
    pub time_scale: f64,
    /// Wall-clock start, RFC 3339 UTC.
    pub started_at: String,
    /// Total duration in milliseconds.
    pub duration_ms: u64,
    /// Points earned.
    pub score: u32,
    /// Points available in the stages that were run.
    pub max: u32,
    /// The command that replays this run exactly.
    pub replay: String,
    /// Points of the bonus stages: earned, and available (both 0 when no
    /// bonus stage ran).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub bonus_score: u32,
    /// Points the bonus stages that ran offered.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub bonus_max: u32,
    /// Points of the rubric left to the instructor, if the part has some:
    /// one line saying how many, for what, and where the checklist is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instructor: Option<String>,
    /// Stages in order.
    pub stages: Vec<StageReport>,
}

/// Outcome of one stage.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum StageStatus {
    /// Every check passed.
    Passed,
    /// A check failed: the code under test is wrong (or too slow).
    Failed,
    /// The grader could not tell (a prerequisite missing, a node that never
    /// came up for reasons outside the code under test).
    Inconclusive,
    /// The grader itself failed.
    GraderError,
    /// Not run (an earlier stage could not run, or `--stage` stopped before it).
    Skipped,
}

/// One stage of a part.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct StageReport {
    /// 1-based stage number.
    pub number: u32,
    /// Short name, e.g. "Broadcast".
    pub name: String,
    /// One-line goal.
    pub goal: String,
    /// Points earned (all or nothing).
    pub points: u32,
    /// Points available.
    pub max_points: u32,
    /// Outcome.
    pub status: StageStatus,
    /// Duration in milliseconds.
    pub duration_ms: u64,
    /// Checks, in the order they ran.
    pub checks: Vec<CheckReport>,
    /// What to look at when the stage fails.
    pub hint: String,
    /// Where the lesson explains it (relative to the repository root).
    pub lesson: String,
    /// Why the stage could not run, for `Inconclusive` / `GraderError`.
    pub error: Option<String>,
    /// Messages between nodes and fault bands, for the HTML timeline. Not in
    /// results.json: thousands of timing-dependent entries belong in the
    /// picture, not in the machine-readable verdict.
    #[serde(skip_serializing, default)]
    pub timeline: Timeline,
    /// What crossed each directed link between nodes, as the fabric counted
    /// it (links that carried nothing are left out).
    #[serde(default)]
    pub traffic: Vec<LinkTraffic>,
    /// Latency summaries the stage measured (HTTP redirects, a say's
    /// fan-out), each under the name the stage gave it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub latencies: Vec<LatencyReport>,
    /// A bonus stage: its points are not in the run's score, but in
    /// [`RunReport::bonus_score`].
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub bonus: bool,
}

/// One latency summary of a stage, in microseconds.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct LatencyReport {
    /// What was timed, e.g. "cached redirects on n2".
    pub name: String,
    /// How many samples.
    pub count: u64,
    /// Median.
    pub p50_us: u64,
    /// 99th percentile.
    pub p99_us: u64,
    /// Slowest.
    pub max_us: u64,
}

/// Bytes and frames the fabric forwarded over one directed link in a stage.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct LinkTraffic {
    /// Sending node.
    pub from: String,
    /// Receiving node.
    pub to: String,
    /// Bytes forwarded.
    pub bytes: u64,
    /// Complete frames (messages, ticks included) forwarded.
    pub frames: u64,
}

/// Safety checks must hold at every moment; liveness checks must come true
/// within a deadline. A slow machine may fail liveness, never safety.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum CheckKind {
    /// Nothing bad happened (nothing lost, nothing crossed a partition, nothing went backwards).
    Safety,
    /// Something good happened in time.
    Liveness,
}

/// One check inside a stage.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct CheckReport {
    /// What was checked, in a sentence.
    pub name: String,
    /// Safety or liveness.
    pub kind: CheckKind,
    /// Whether it held.
    pub passed: bool,
    /// The expected value or condition, when there is one to show.
    pub expected: Option<String>,
    /// What was observed.
    pub actual: Option<String>,
    /// Milliseconds since the stage started when the check was decided.
    pub at_ms: u64,
}

/// Everything the HTML timeline draws for one stage. Times are microseconds
/// since the stage started.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default)]
pub struct Timeline {
    /// Node names, in display order (the lanes).
    pub nodes: Vec<String>,
    /// Which of `nodes` are services the grader runs (a Redis store), not
    /// node processes: their lanes are drawn apart.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub services: Vec<String>,
    /// The grader's own node (its hidden control node), whose messages to
    /// and from the nodes are the grader's traffic, not the code under
    /// test's: the page draws its lane apart and hides its traffic until
    /// asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control: Option<String>,
    /// Messages between nodes, from the nodes' traces.
    pub messages: Vec<TimelineMessage>,
    /// Faults, each over a span of time.
    pub bands: Vec<FaultBand>,
    /// Instant annotations: "check X passed", "pings sent".
    pub marks: Vec<Mark>,
}

/// One message that crossed from one node to another.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct TimelineMessage {
    /// When it was sent (µs since stage start).
    pub sent_us: u64,
    /// When it was received, if the receiver traced it.
    pub received_us: Option<u64>,
    /// Sending node.
    pub from: String,
    /// Receiving node.
    pub to: String,
    /// Kind of frame: "send", "cast", "call", "reply", "monitor", "exit", ...
    pub kind: String,
    /// Rust type name of the payload, when there is one.
    pub type_name: Option<String>,
    /// Payload size in bytes.
    pub bytes: u64,
}

/// What kind of fault a band shows.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// Links cut or blackholed between groups of nodes.
    Partition,
    /// One-way link fault.
    Link,
    /// Added latency.
    Latency,
    /// SIGKILL (the band lasts until the node is back, if it comes back).
    Kill,
    /// SIGTERM.
    Stop,
    /// SIGSTOP until SIGCONT.
    Pause,
    /// A registered process killed by an exit signal.
    Crash,
    /// A node started after the others.
    Join,
}

/// A fault over a span of time, on some nodes.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct FaultBand {
    /// What kind of fault.
    pub kind: FaultKind,
    /// Human description, e.g. "partition {n1} | {n2,n3}".
    pub label: String,
    /// Nodes affected.
    pub nodes: Vec<String>,
    /// Start (µs since stage start).
    pub start_us: u64,
    /// End, or None if it lasted until the end of the stage.
    pub end_us: Option<u64>,
}

/// An instant annotation on the timeline.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Mark {
    /// When (µs since stage start).
    pub at_us: u64,
    /// What happened.
    pub label: String,
    /// The lane (a node's or a service's short name) it belongs on; `None`
    /// for a mark of the whole stage (drawn across every lane).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lane: Option<String>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}
