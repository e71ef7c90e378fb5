//! The harness of one stage: a fresh cluster of real node processes behind
//! the fabric, a hidden control node that talks to them directly, and the
//! record of checks, faults and marks the reports are built from.
//!
//! Every fault it injects is verified before it returns (a new pid, a node
//! gone from its peers' lists), so no stage can pass because a fault silently
//! did not happen.

use crate::launch::{Cluster, LaunchError};
use crate::net::fabric::Fabric;
use crate::net::port_mapper::PortMapper;
use crate::report::model::{CheckReport, FaultBand, LinkTraffic, Mark};
use crate::run::output::Output;
use netsplit::{Node, NodeConfig, NodeName};
use rand::rngs::StdRng;
use rand::SeedableRng;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

mod checks;
mod endpoints;
mod faults;
mod nodes;
mod store;
mod view;

pub use checks::{Check, Wait};
pub use view::ClusterView;

pub use store::STORE;

/// The short name of the grader's own (hidden) node.
pub const CONTROL: &str = "grader";
/// The host every node of a graded run lives on.
pub const HOST: &str = "127.0.0.1";
/// How often `eventually` looks again.
const POLL: Duration = Duration::from_millis(50);

/// Why a stage ended early.
#[derive(Debug)]
pub enum StageError {
    /// A check failed; it is recorded in the harness.
    Failed,
    /// The grader could not tell (something outside the code under test).
    Inconclusive(String),
    /// The grader itself failed.
    Grader(String),
}

/// What a stage needs to know about the run it belongs to.
#[derive(Debug, Clone)]
pub struct StageSetup {
    /// The node binary under test.
    pub binary: PathBuf,
    /// The stage's number.
    pub number: u32,
    /// The run's seed (each stage derives its own generator from it).
    pub seed: u64,
    /// Factor applied to every liveness deadline.
    pub time_scale: f64,
    /// Directory for this stage's logs and traces.
    pub dir: PathBuf,
}

/// One stage's cluster and record. Dropping it kills every node.
pub struct Harness {
    setup: StageSetup,
    out: Output,
    /// The stage's random generator, derived from the run's seed.
    pub rng: StdRng,
    cookie: String,
    portmap: PortMapper,
    fabric: Fabric,
    // Declared before `portmap` would be nicer, but drop order does not
    // matter: the cluster kills its nodes synchronously.
    cluster: Cluster,
    control: Node,
    started: Instant,
    started_sys: SystemTime,
    checks: Vec<CheckReport>,
    bands: Vec<FaultBand>,
    marks: Vec<Mark>,
    lanes: Vec<String>,
    /// A node's log was already shown in a failed check.
    log_shown: bool,
    /// The stage's Redis, once [`Harness::start_store`] started it.
    store: Option<crate::services::redis::Redis>,
    /// What the probes did, for the timeline.
    journal: crate::probes::Journal,
    latencies: Vec<crate::report::model::LatencyReport>,
}

/// What a finished stage leaves behind for the report.
pub struct StageRecord {
    /// Checks in order.
    pub checks: Vec<CheckReport>,
    /// Fault bands (open ones closed at the end of the stage).
    pub bands: Vec<FaultBand>,
    /// Marks.
    pub marks: Vec<Mark>,
    /// Node names in order of appearance.
    pub lanes: Vec<String>,
    /// Each node's trace file.
    pub traces: Vec<(String, PathBuf)>,
    /// When the stage started.
    pub started_sys: SystemTime,
    /// What the fabric forwarded per directed link.
    pub traffic: Vec<LinkTraffic>,
    /// Which lanes are services.
    pub services: Vec<String>,
    /// Service traffic and probe events, already on the stage's clock.
    pub extra_messages: Vec<crate::report::model::TimelineMessage>,
    /// Latency summaries the stage recorded.
    pub latencies: Vec<crate::report::model::LatencyReport>,
}

impl Harness {
    /// Starts the port mapper, the fabric and the control node of a stage.
    pub async fn new(setup: StageSetup, out: Output) -> Result<Harness, StageError> {
        let grader =
            |what: &str, e: &dyn std::fmt::Display| StageError::Grader(format!("{what}: {e}"));
        std::fs::create_dir_all(&setup.dir)
            .map_err(|e| grader(&format!("cannot create {}", setup.dir.display()), &e))?;
        let portmap = PortMapper::start()
            .await
            .map_err(|e| grader("cannot start the port mapper", &e))?;
        let fabric = Fabric::new();
        fabric.route_portmap_except(&portmap, &[CONTROL]);
        let cookie = format!("grade-{:016x}", rand::random::<u64>());
        let name = NodeName::new(&format!("{CONTROL}@{HOST}"))
            .map_err(|e| grader("bad control node name", &e))?;
        let mut config = NodeConfig::new(name).cookie(cookie.clone()).hidden(true);
        config.listen = Some(([127, 0, 0, 1], 0).into());
        config.portmap.addr = Some(portmap.addr());
        let control = Node::start(config)
            .await
            .map_err(|e| grader("cannot start the grader's control node", &e))?;
        let cluster =
            Cluster::new(&setup.dir).map_err(|e| grader("cannot create the run directory", &e))?;
        let rng = StdRng::seed_from_u64(
            setup.seed ^ (setup.number as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15),
        );
        Ok(Harness {
            setup,
            out,
            rng,
            cookie,
            portmap,
            fabric,
            cluster,
            control,
            started: Instant::now(),
            started_sys: SystemTime::now(),
            checks: vec![],
            bands: vec![],
            marks: vec![],
            lanes: vec![],
            log_shown: false,
            store: None,
            journal: crate::probes::Journal::new(),
            latencies: vec![],
        })
    }

    /// The full node name of a short one: `n1` → `n1@127.0.0.1`.
    pub fn full(&self, short: &str) -> NodeName {
        full_name(short)
    }

    /// The grader's hidden node, for calls the helpers below do not cover.
    pub fn control(&self) -> &Node {
        &self.control
    }

    /// `d` scaled by `--time-scale`: use for every liveness deadline.
    pub fn scaled(&self, d: Duration) -> Duration {
        d.mul_f64(self.setup.time_scale)
    }

    fn since_start_us(&self) -> u64 {
        self.started.elapsed().as_micros() as u64
    }

    fn origin(&self) -> String {
        format!("stage {}", self.setup.number)
    }

    /// A progress line of this stage.
    pub fn say(&self, text: impl AsRef<str>) {
        self.out.line(&self.origin(), text);
    }

    /// A timeline mark (and a progress line).
    pub fn mark(&mut self, label: impl Into<String>) {
        let label = label.into();
        self.say(&label);
        let at_us = self.since_start_us();
        self.marks.push(Mark {
            at_us,
            label,
            lane: None,
        });
    }

    /// Ends the stage: kills the nodes and hands over what the report needs.
    pub fn finish(mut self) -> StageRecord {
        self.close_bands(|_| true);
        self.cluster.shutdown();
        drop(self.store.take());
        let extra_messages = self.service_messages();
        self.probe_marks();
        let services = if self.lanes.iter().any(|l| l == STORE) {
            vec![STORE.to_string()]
        } else {
            vec![]
        };
        let traces = self
            .lanes
            .iter()
            .filter(|s| !services.contains(s))
            .map(|s| (s.clone(), self.setup.dir.join(format!("{s}.trace.jsonl"))))
            .collect();
        let traffic = self
            .fabric
            .all_stats()
            .into_iter()
            .filter(|(_, st)| st.bytes > 0)
            .map(|((from, to), st)| LinkTraffic {
                from,
                to,
                bytes: st.bytes,
                frames: st.frames,
            })
            .collect();
        StageRecord {
            latencies: std::mem::take(&mut self.latencies),
            traffic,
            services,
            extra_messages,
            checks: std::mem::take(&mut self.checks),
            bands: std::mem::take(&mut self.bands),
            marks: std::mem::take(&mut self.marks),
            lanes: std::mem::take(&mut self.lanes),
            traces,
            started_sys: self.started_sys,
        }
    }

    /// Lines of the nodes' logs that show something went wrong (panics,
    /// errors), at most `per_node` per node: shown when a stage fails.
    pub fn trouble_lines(&self, per_node: usize) -> Vec<(String, Vec<String>)> {
        if self.log_shown {
            return vec![];
        }
        self.lanes
            .iter()
            .map(|s| (s.clone(), trouble_in(&self.log_path(s), per_node)))
            .filter(|(_, l)| !l.is_empty())
            .collect()
    }

    /// The problems whose holes the nodes' logs show reached (see
    /// [`crate::run::holes`]).
    pub fn holes_reached(&self) -> std::collections::BTreeSet<u32> {
        self.lanes
            .iter()
            .filter_map(|s| std::fs::read_to_string(self.log_path(s)).ok())
            .flat_map(|log| crate::run::holes::holes_in(&log))
            .collect()
    }
}

/// Up to `n` lines of a log that mention a panic or an error, oldest first.
pub fn trouble_in(path: &Path, n: usize) -> Vec<String> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return vec![];
    };
    let mut hits: Vec<String> = text
        .lines()
        .filter(|l| l.contains("panicked") || l.contains("ERROR"))
        .map(|l| l.chars().take(300).collect())
        .collect();
    hits.dedup();
    hits.truncate(n);
    hits
}

/// The full node name of a short one: `n1` → `n1@127.0.0.1`.
fn full_name(short: &str) -> NodeName {
    NodeName::new(&format!("{short}@{HOST}")).expect("short names are valid")
}

pub(crate) fn secs(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

fn launch_error(e: LaunchError) -> StageError {
    StageError::Grader(format!("launcher: {e}"))
}
