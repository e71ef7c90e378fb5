//! The faults a stage injects, each verified before it returns: process
//! faults (crash, kill, stop, pause, restart) and network faults (one-way
//! links, latency, partitions), with the bands the timeline draws for them.

use super::{launch_error, Harness, StageError, STORE};
use crate::net::fabric::{PartitionMode, Policy};
use crate::report::model::{CheckKind, FaultBand, FaultKind, Mark};
use netsplit::rpc::{self, BadRpc};
use netsplit::{ExitReason, NodeName, Pid};
use std::time::Duration;

impl Harness {
    pub(super) fn band(&mut self, kind: FaultKind, label: String, nodes: Vec<String>) {
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
    pub(super) fn process_fault(
        &mut self,
        kind: FaultKind,
        who: &str,
        what: &str,
        line: impl AsRef<str>,
    ) {
        self.band(kind, format!("{who} {what}"), vec![who.to_string()]);
        self.out.line(who, line);
    }

    /// Ends the open `kind` bands of `who`'s lane alone.
    pub(super) fn process_fault_over(&mut self, kind: FaultKind, who: &str) {
        let lane = [who.to_string()];
        self.close_bands(|b| b.kind == kind && b.nodes == lane);
    }

    pub(super) fn close_bands(&mut self, pred: impl Fn(&FaultBand) -> bool) {
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
}
