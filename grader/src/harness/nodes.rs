//! Starting a stage's nodes, meshing them, and talking to them from the
//! grader's control node.

use super::{launch_error, secs, Harness, StageError, POLL};
use crate::launch::{LaunchError, NodeSpec};
use crate::report::model::CheckKind;
use netsplit::gen_server::{self, CallError};
use netsplit::rpc::{self, BadRpc};
use netsplit::{Message, Node, NodeName, Pid};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

impl Harness {
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

    /// Every counter of the directed link `from` → `to` (a node or the
    /// store at either end) so far in this stage, over connections dialed by
    /// either (the grader's own connections bypass the fabric and are not
    /// counted).
    pub fn link_stats(&self, from: &str, to: &str) -> crate::net::fabric::LinkStats {
        self.fabric.stats(from, to)
    }

    /// Every counter of the links from any of `from` to any of `to`, summed
    /// (a node's link to itself left out): what a group of nodes sent
    /// another, or each other.
    pub fn traffic(&self, from: &[&str], to: &[&str]) -> crate::net::fabric::LinkStats {
        let mut sum = crate::net::fabric::LinkStats::default();
        for a in from {
            for b in to.iter().filter(|b| *b != a) {
                let s = self.fabric.stats(a, b);
                sum.bytes += s.bytes;
                sum.frames += s.frames;
                sum.connections_accepted += s.connections_accepted;
                sum.connections_refused += s.connections_refused;
                sum.connections_open += s.connections_open;
            }
        }
        sum
    }

    /// The OS pid of node `short`'s current process, if it was started.
    pub fn os_pid(&self, short: &str) -> Option<u32> {
        self.cluster.node(short).map(|n| n.pid())
    }

    /// The log file of a node.
    pub fn log_path(&self, short: &str) -> PathBuf {
        self.setup.dir.join(format!("{short}.log"))
    }

    /// Connects the nodes into one full mesh (the first node connects to the
    /// others, as `net_kernel:connect_node` would) and checks every node lists
    /// every other one.
    pub async fn mesh(&mut self, shorts: &[&str]) -> Result<(), StageError> {
        self.connect_from(
            shorts[0],
            &shorts[1..],
            shorts,
            "the nodes form a full mesh",
        )
        .await
    }

    /// Node `from` connects to each of `peers` (`net_kernel:connect_node`,
    /// as after a heal or a restart, when nothing reconnects by itself),
    /// then liveness: `all` form one full mesh.
    pub async fn connect_from(
        &mut self,
        from: &str,
        peers: &[&str],
        all: &[&str],
        what: &str,
    ) -> Result<(), StageError> {
        for peer in peers {
            let peer = self.full(peer);
            let _: Result<bool, _> = self.rpc(from, "net_kernel", "connect_node", &peer).await;
        }
        self.wait_connected(all, what).await
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
