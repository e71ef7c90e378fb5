//! The harness of one stage: a fresh cluster of real node processes behind
//! the fabric, a hidden control node that talks to them directly, and the
//! record of checks, faults and marks the reports are built from.
//!
//! Every fault it injects is verified before it returns (a new pid, a node
//! gone from its peers' lists), so no stage can pass because a fault silently
//! did not happen.

use crate::launch::{Cluster, LaunchError, NodeSpec};
use crate::net::fabric::{Fabric, PartitionMode, Policy};
use crate::net::port_mapper::PortMapper;
use crate::report::model::{CheckKind, CheckReport, FaultBand, FaultKind, LinkTraffic, Mark};
use crate::run::output::Output;
use netsplit::gen_server::{self, CallError};
use netsplit::rpc::{self, BadRpc};
use netsplit::{ExitReason, Message, Node, NodeConfig, NodeName, Pid};
use rand::rngs::StdRng;
use rand::SeedableRng;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

mod checks;
mod endpoints;
mod store;
mod view;

pub use checks::Check;
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
        })
    }

    /// The full node name of a short one: `n1` → `n1@127.0.0.1`.
    pub fn full(&self, short: &str) -> NodeName {
        NodeName::new(&format!("{short}@{HOST}")).expect("short names are valid")
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

    // ------------------------------------------------------------------ nodes

    /// This stage's directory (logs, traces; a good place for input files).
    pub fn dir(&self) -> &Path {
        &self.setup.dir
    }

    fn spec(&self, short: &str, extra: Vec<String>) -> NodeSpec {
        let trace = self.setup.dir.join(format!("{short}.trace.jsonl"));
        NodeSpec::new(short, &self.setup.binary)
            .arg("--name")
            .arg(self.full(short).as_str())
            .arg("--cookie")
            .arg(&self.cookie)
            .arg("--portmap")
            .arg(self.portmap.addr().to_string())
            .arg("--trace")
            .arg(trace)
            .env("NO_COLOR", "1")
            // The panic message is what a student needs; backtraces bury it.
            .env("RUST_BACKTRACE", "0")
            .args(extra)
    }

    /// Starts nodes (one process each), waits until each is ready, and
    /// connects the control node to each. A node that does not come up fails
    /// the stage with its last log lines.
    pub async fn start_nodes(&mut self, shorts: &[&str]) -> Result<(), StageError> {
        self.start_nodes_with(shorts, |_| vec![]).await
    }

    /// Like [`Harness::start_nodes`], with extra command-line arguments per
    /// node (after the node flags: `--name`, `--cookie`, `--portmap`,
    /// `--trace`). A restart reuses them.
    pub async fn start_nodes_with(
        &mut self,
        shorts: &[&str],
        extra: impl Fn(&str) -> Vec<String>,
    ) -> Result<(), StageError> {
        for short in shorts {
            let spec = self.spec(short, extra(short));
            self.cluster.spawn(spec).map_err(launch_error)?;
            if !self.lanes.iter().any(|l| l == short) {
                self.lanes.push(short.to_string());
            }
        }
        let ready_within = self.scaled(Duration::from_secs(15));
        for short in shorts {
            let r = self.cluster.node_mut(short).map_err(launch_error)?;
            let res = r.wait_ready(ready_within).await;
            let pid = r.pid();
            match res {
                Ok(()) => self.out.line(short, format!("started (os pid {pid})")),
                Err(LaunchError::NotReady(why)) => {
                    self.log_shown = true;
                    return self.check(
                        CheckKind::Liveness,
                        format!("node {short} starts and signals readiness"),
                        false,
                        None,
                        Some(why.to_string()),
                    );
                }
                Err(e) => return Err(launch_error(e)),
            }
        }
        for short in shorts {
            self.fabric
                .add_nodes(&self.lanes.iter().map(String::as_str).collect::<Vec<_>>())
                .map_err(|e| StageError::Grader(format!("fabric: {e}")))?;
            let full = self.full(short);
            if !self.control.connect(&full).await {
                return Err(StageError::Inconclusive(format!(
                    "the grader's control node could not connect to {full}, although it \
                     signalled readiness (see {})",
                    self.log_path(short).display()
                )));
            }
        }
        Ok(())
    }

    /// Runs the binary under test once as a plain command, not a node: only
    /// `args`, no node flags (for a part's single-machine mode). Like a node
    /// it runs in its own process group, cannot outlive the grader, and logs
    /// to `<short>.log` (`short` must be new in this stage). Waits at most
    /// `within` (scaled) for it to exit: a command still running then is
    /// killed and fails a liveness check. Returns its exit status.
    pub async fn run_command(
        &mut self,
        short: &str,
        args: Vec<String>,
        within: Duration,
    ) -> Result<std::process::ExitStatus, StageError> {
        let spec = NodeSpec::new(short, &self.setup.binary)
            .env("NO_COLOR", "1")
            .env("RUST_BACKTRACE", "0")
            .args(args);
        self.cluster.spawn(spec).map_err(launch_error)?;
        if !self.lanes.iter().any(|l| l == short) {
            self.lanes.push(short.to_string());
        }
        let within = self.scaled(within);
        let deadline = Instant::now() + within;
        loop {
            let node = self.cluster.node_mut(short).map_err(launch_error)?;
            if let Some(status) = node.try_exit_status() {
                return Ok(status);
            }
            if Instant::now() >= deadline {
                node.kill().await.map_err(launch_error)?;
                return self
                    .check(
                        CheckKind::Liveness,
                        format!("`{short}` finishes"),
                        false,
                        Some(format!("an exit within {}", secs(within))),
                        Some("still running; killed".into()),
                    )
                    .map(|_| unreachable!("a failed check returns Err"));
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Bytes the fabric has forwarded from node `from` to node `to` so far
    /// in this stage, over connections dialed by either (the grader's own
    /// connections bypass the fabric and are not counted).
    pub fn link_bytes(&self, from: &str, to: &str) -> u64 {
        self.fabric.stats(from, to).bytes
    }

    /// Every counter of the directed link `from` → `to` (a node or the
    /// store at either end).
    pub fn link_stats(&self, from: &str, to: &str) -> crate::net::fabric::LinkStats {
        self.fabric.stats(from, to)
    }

    /// The log file of a node.
    pub fn log_path(&self, short: &str) -> PathBuf {
        self.setup.dir.join(format!("{short}.log"))
    }

    /// Connects the nodes into one full mesh (the first node connects to the
    /// others, as `net_kernel:connect_node` would) and checks every node lists
    /// every other one.
    pub async fn mesh(&mut self, shorts: &[&str]) -> Result<(), StageError> {
        let first = shorts[0];
        for other in &shorts[1..] {
            let peer = self.full(other);
            let _: Result<bool, _> = self.rpc(first, "net_kernel", "connect_node", &peer).await;
        }
        self.wait_connected(shorts, "the nodes form a full mesh")
            .await
    }

    /// Liveness: within a few seconds, each of `shorts` lists exactly the
    /// others (among those of `shorts`) as connected.
    pub async fn wait_connected(&mut self, shorts: &[&str], what: &str) -> Result<(), StageError> {
        let expected = describe_views(shorts, |s| others(shorts, s));
        let within = Duration::from_secs(5);
        let fulls: Vec<(String, NodeName)> = shorts
            .iter()
            .map(|s| (s.to_string(), self.full(s)))
            .collect();
        let control = self.control.clone();
        self.eventually(what, within, expected, || {
            let control = control.clone();
            let fulls = fulls.clone();
            async move { views_match(&control, &fulls, |me| others_full(&fulls, me)).await }
        })
        .await
    }

    /// A GenServer call from the control node to `name` on node `short`.
    pub async fn call<Req: Message, Rep: Message>(
        &self,
        short: &str,
        name: &str,
        req: &Req,
        timeout: Duration,
    ) -> Result<Rep, CallError> {
        let full = self.full(short);
        gen_server::call(&self.control, (name, &full), req, timeout).await
    }

    /// An rpc from the control node to node `short`.
    pub async fn rpc<A: Message, R: Message>(
        &self,
        short: &str,
        module: &str,
        fun: &str,
        args: &A,
    ) -> Result<R, BadRpc> {
        let full = self.full(short);
        rpc::call(
            &self.control,
            &full,
            module,
            fun,
            args,
            self.scaled(Duration::from_secs(5)),
        )
        .await
    }

    /// The pid registered as `name` on `short`, if any.
    pub async fn whereis(&self, short: &str, name: &str) -> Result<Option<Pid>, BadRpc> {
        self.rpc(short, "erlang", "whereis", &name.to_string())
            .await
    }

    // ------------------------------------------------------------------ faults

    fn band(&mut self, kind: FaultKind, label: String, nodes: Vec<String>) {
        let start_us = self.since_start_us();
        self.bands.push(FaultBand {
            kind,
            label,
            nodes,
            start_us,
            end_us: None,
        });
    }

    /// A fault on one process (a node or the store): its band on that lane
    /// alone, `<who> <what>`, and `line` on its progress lane.
    fn process_fault(&mut self, kind: FaultKind, who: &str, what: &str, line: impl AsRef<str>) {
        self.band(kind, format!("{who} {what}"), vec![who.to_string()]);
        self.out.line(who, line);
    }

    /// Ends the open `kind` bands of `who`'s lane alone.
    fn process_fault_over(&mut self, kind: FaultKind, who: &str) {
        let lane = [who.to_string()];
        self.close_bands(|b| b.kind == kind && b.nodes == lane);
    }

    fn close_bands(&mut self, pred: impl Fn(&FaultBand) -> bool) {
        let now = self.since_start_us();
        for b in self.bands.iter_mut().filter(|b| b.end_us.is_none()) {
            if pred(b) {
                b.end_us = Some(now);
            }
        }
    }

    /// Kills the registered process `name` on `short` with an untrappable
    /// exit signal and waits for its supervisor to register a new one.
    /// Returns the new pid.
    pub async fn crash(&mut self, short: &str, name: &str) -> Result<Pid, StageError> {
        let old = match self.whereis(short, name).await {
            Ok(Some(pid)) => pid,
            Ok(None) => {
                return self
                    .check(
                        CheckKind::Liveness,
                        format!("{name} is registered on {short}"),
                        false,
                        Some(format!("a process registered as {name:?}")),
                        Some("no such name".into()),
                    )
                    .map(|_| unreachable!());
            }
            Err(e) => {
                return Err(StageError::Inconclusive(format!(
                    "whereis {name} on {short}: {e}"
                )))
            }
        };
        self.control.exit(&old, ExitReason::Kill);
        let at_us = self.since_start_us();
        self.marks.push(Mark {
            at_us,
            label: format!("crash {name} on {short}"),
            lane: None,
        });
        self.bands.push(FaultBand {
            kind: FaultKind::Crash,
            label: format!("{name} killed"),
            nodes: vec![short.to_string()],
            start_us: at_us,
            end_us: Some(at_us),
        });
        self.out
            .line(short, format!("killed {name} {old} (exit signal kill)"));
        let control = self.control.clone();
        let full = self.full(short);
        let name_s = name.to_string();
        let old_c = old.clone();
        let within = self.scaled(Duration::from_secs(5));
        let new = self
            .eventually(
                format!("{name} on {short} is restarted by its supervisor (a new pid)"),
                Duration::from_secs(5),
                format!("a pid other than {old}"),
                || {
                    let (control, full, name_s, old_c) =
                        (control.clone(), full.clone(), name_s.clone(), old_c.clone());
                    async move {
                        let r: Result<Option<Pid>, BadRpc> =
                            rpc::call(&control, &full, "erlang", "whereis", &name_s, within).await;
                        match r {
                            Ok(Some(p)) if p != old_c => Ok(p),
                            Ok(Some(p)) => Err(format!("still {p}")),
                            Ok(None) => Err("nothing registered".into()),
                            Err(e) => Err(format!("whereis failed: {e}")),
                        }
                    }
                },
            )
            .await?;
        self.out.line(short, format!("{name} restarted as {new}"));
        Ok(new)
    }

    /// SIGKILLs node `short` and waits until the control node has seen it go.
    pub async fn kill(&mut self, short: &str) -> Result<(), StageError> {
        let node = self.cluster.node_mut(short).map_err(launch_error)?;
        node.kill().await.map_err(launch_error)?;
        self.process_fault(FaultKind::Kill, short, "killed", "killed (SIGKILL)");
        self.wait_gone(short).await
    }

    /// SIGSTOPs node `short` (verified by the OS).
    pub async fn pause(&mut self, short: &str) -> Result<(), StageError> {
        let node = self.cluster.node_mut(short).map_err(launch_error)?;
        node.pause().await.map_err(launch_error)?;
        self.process_fault(FaultKind::Pause, short, "paused", "paused (SIGSTOP)");
        Ok(())
    }

    /// SIGCONTs node `short` (verified by the OS).
    pub async fn resume(&mut self, short: &str) -> Result<(), StageError> {
        let node = self.cluster.node_mut(short).map_err(launch_error)?;
        node.resume().await.map_err(launch_error)?;
        self.process_fault_over(FaultKind::Pause, short);
        self.out.line(short, "resumed (SIGCONT)");
        Ok(())
    }

    /// SIGTERMs node `short` (SIGKILL after a grace period) and waits until
    /// the control node has seen it go.
    pub async fn stop(&mut self, short: &str) -> Result<(), StageError> {
        let node = self.cluster.node_mut(short).map_err(launch_error)?;
        node.stop(Duration::from_secs(5))
            .await
            .map_err(launch_error)?;
        self.process_fault(FaultKind::Stop, short, "stopped", "stopped (SIGTERM)");
        self.wait_gone(short).await
    }

    /// Liveness: the control node no longer lists `short` as connected.
    async fn wait_gone(&mut self, short: &str) -> Result<(), StageError> {
        let full = self.full(short);
        let control = self.control.clone();
        self.eventually(
            format!("{short} is seen down"),
            Duration::from_secs(5),
            "disconnected",
            || {
                let (control, full) = (control.clone(), full.clone());
                async move {
                    if control.nodes_connected().contains(&full) {
                        Err("still connected".to_string())
                    } else {
                        Ok(())
                    }
                }
            },
        )
        .await
    }

    /// Kills node `short` and starts it again under the same name: a new
    /// incarnation (verified: its pids carry a new creation), with empty
    /// state, connected to no one but the grader.
    pub async fn restart(&mut self, short: &str) -> Result<(), StageError> {
        let before = self.whereis(short, rpc::REX).await.ok().flatten();
        let node = self.cluster.node_mut(short).map_err(launch_error)?;
        node.restart().await.map_err(launch_error)?;
        let incarnation = node.incarnation();
        self.process_fault(
            FaultKind::Kill,
            short,
            "restarted",
            format!("killed and restarted (incarnation {incarnation})"),
        );
        let ready_within = self.scaled(Duration::from_secs(15));
        let node = self.cluster.node_mut(short).map_err(launch_error)?;
        if let Err(e) = node.wait_ready(ready_within).await {
            self.log_shown = true;
            return self.check(
                CheckKind::Liveness,
                format!("node {short} starts again and signals readiness"),
                false,
                None,
                Some(e.to_string()),
            );
        }
        self.process_fault_over(FaultKind::Kill, short);
        let full = self.full(short);
        let control = self.control.clone();
        // The old connection may still be closing: retry the connect briefly.
        self.eventually(
            format!("the grader reaches the new {short}"),
            Duration::from_secs(5),
            "connected",
            || {
                let (control, full) = (control.clone(), full.clone());
                async move {
                    if control.connect(&full).await {
                        Ok(())
                    } else {
                        Err("cannot connect".to_string())
                    }
                }
            },
        )
        .await?;
        let after = self.whereis(short, rpc::REX).await.ok().flatten();
        let renewed = match (&before, &after) {
            (Some(b), Some(a)) => b.creation() != a.creation(),
            (None, Some(_)) => true,
            _ => false,
        };
        self.check(
            CheckKind::Liveness,
            format!("{short} runs as a new incarnation"),
            renewed,
            Some("a creation other than the old one".into()),
            Some(format!("before {before:?}, after {after:?}")),
        )
    }

    /// Sets one direction of the link `from` → `to` (a one-way fault:
    /// `Blackhole` holds bytes silently, so only ticks can tell; `Cut` resets).
    pub fn one_way(&mut self, from: &str, to: &str, policy: Policy) {
        self.fabric.set_link(from, to, policy);
        let label = format!("{from} → {to}: {policy:?}");
        self.band(
            FaultKind::Link,
            label.clone(),
            vec![from.to_string(), to.to_string()],
        );
        self.out.line("net", label);
    }

    /// Adds `delay` to both directions between `a` and `b`.
    pub fn latency(&mut self, a: &str, b: &str, delay: Duration) {
        self.fabric.set_both(a, b, Policy::Latency(delay));
        let label = format!("latency {a} ↔ {b}: {} ms", delay.as_millis());
        self.band(
            FaultKind::Latency,
            label.clone(),
            vec![a.to_string(), b.to_string()],
        );
        self.out.line("net", label);
    }

    /// Splits the cluster into `groups` by cutting every link between them
    /// (connections reset, new ones refused), then checks that no node still
    /// lists a node of another group.
    pub async fn partition(&mut self, groups: &[&[&str]]) -> Result<(), StageError> {
        self.partition_with(groups, PartitionMode::Cut).await
    }

    /// Like [`Harness::partition`], with a choice of mode: `Blackhole` holds
    /// traffic silently, so nodes only notice when their ticks time out
    /// (`net_ticktime`, 4 s by default).
    pub async fn partition_with(
        &mut self,
        groups: &[&[&str]],
        mode: PartitionMode,
    ) -> Result<(), StageError> {
        let label = format!(
            "partition {}",
            groups
                .iter()
                .map(|g| format!("{{{}}}", g.join(",")))
                .collect::<Vec<_>>()
                .join(" | ")
        );
        self.fabric
            .partition(groups, mode)
            .map_err(|e| StageError::Grader(format!("fabric: {e}")))?;
        let nodes: Vec<String> = groups
            .iter()
            .flat_map(|g| g.iter().map(|s| s.to_string()))
            .collect();
        self.band(FaultKind::Partition, label.clone(), nodes);
        self.out.line("net", &label);
        let mut fulls: Vec<(String, NodeName)> = vec![];
        let mut group_of: Vec<(NodeName, usize)> = vec![];
        for (i, g) in groups.iter().enumerate() {
            // The store is no node: its side is verified on its links below.
            for s in g.iter().filter(|s| **s != STORE) {
                fulls.push((s.to_string(), self.full(s)));
                group_of.push((self.full(s), i));
            }
        }
        let expected = "no node lists a node on the other side".to_string();
        let control = self.control.clone();
        let within = match mode {
            PartitionMode::Cut => Duration::from_secs(10),
            // Silence is noticed after net_ticktime (4 s) plus a tick interval.
            PartitionMode::Blackhole => Duration::from_secs(15),
        };
        self.eventually("the partition takes effect", within, expected, || {
            let (control, fulls, group_of) = (control.clone(), fulls.clone(), group_of.clone());
            async move {
                let mut bad = vec![];
                for (short, full) in &fulls {
                    let mine = group_of.iter().find(|(n, _)| n == full).map(|(_, g)| *g);
                    let seen: Result<Vec<NodeName>, BadRpc> = rpc::call(
                        &control,
                        full,
                        "erlang",
                        "nodes",
                        &(),
                        Duration::from_secs(2),
                    )
                    .await;
                    match seen {
                        Ok(seen) => {
                            for n in seen {
                                let theirs =
                                    group_of.iter().find(|(m, _)| *m == n).map(|(_, g)| *g);
                                if theirs.is_some() && theirs != mine {
                                    bad.push(format!("{short} still lists {n}"));
                                }
                            }
                        }
                        Err(e) => bad.push(format!("{short}: {e}")),
                    }
                }
                if bad.is_empty() {
                    Ok(())
                } else {
                    Err(bad.join("; "))
                }
            }
        })
        .await?;
        if let Some(side) = groups.iter().position(|g| g.contains(&STORE)) {
            let cut_off: Vec<&str> = groups
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != side)
                .flat_map(|(_, g)| g.iter().copied())
                .collect();
            self.verify_store_unreachable(&cut_off, mode).await?;
        }
        Ok(())
    }

    /// Lets every link pass again. Reconnects nothing: like a real network
    /// coming back, nodes stay apart until something connects them.
    pub fn heal(&mut self) {
        self.fabric.heal();
        self.close_bands(|b| b.kind == FaultKind::Partition);
        self.out.line("net", "heal: every link passes again");
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

fn secs(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

fn others<'a>(all: &[&'a str], me: &str) -> Vec<&'a str> {
    all.iter().copied().filter(|s| *s != me).collect()
}

fn others_full(all: &[(String, NodeName)], me: &NodeName) -> Vec<NodeName> {
    all.iter()
        .map(|(_, n)| n.clone())
        .filter(|n| n != me)
        .collect()
}

fn describe_views<'a>(shorts: &[&'a str], f: impl Fn(&str) -> Vec<&'a str>) -> String {
    shorts
        .iter()
        .map(|s| format!("{s} lists [{}]", f(s).join(",")))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Ok if every node's `erlang:nodes` equals `want(node)` (as sets).
async fn views_match(
    control: &Node,
    fulls: &[(String, NodeName)],
    want: impl Fn(&NodeName) -> Vec<NodeName>,
) -> Result<(), String> {
    let mut seen_all = vec![];
    let mut ok = true;
    for (short, full) in fulls {
        let seen: Result<Vec<NodeName>, BadRpc> = rpc::call(
            control,
            full,
            "erlang",
            "nodes",
            &(),
            Duration::from_secs(2),
        )
        .await;
        match seen {
            Ok(mut seen) => {
                seen.sort();
                let mut w = want(full);
                w.sort();
                ok &= seen == w;
                let names: Vec<String> = seen
                    .iter()
                    .map(|n| n.as_str().split('@').next().unwrap_or("").to_string())
                    .collect();
                seen_all.push(format!("{short} lists [{}]", names.join(",")));
            }
            Err(e) => {
                ok = false;
                seen_all.push(format!("{short}: {e}"));
            }
        }
    }
    if ok {
        Ok(())
    } else {
        Err(seen_all.join("; "))
    }
}

fn launch_error(e: LaunchError) -> StageError {
    StageError::Grader(format!("launcher: {e}"))
}
