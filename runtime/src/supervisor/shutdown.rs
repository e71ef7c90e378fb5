//! Terminating children: one, or all in reverse start order, each with its
//! `Shutdown` (OTP's `shutdown/2`).

use super::process::Sup;
use super::{Restart, Shutdown};
use crate::exit::ExitReason;
use crate::pid::{Pid, Ref};
use crate::process::Signal;
use std::collections::HashMap;
use tokio::time::Instant;

impl Sup {
    /// Terminates child `key` if it runs; forgets it if it is temporary.
    pub(super) async fn terminate_key(&mut self, key: u64) {
        let Some(child) = self.children.get_mut(&key) else {
            return;
        };
        child.restarting = false;
        let pid = child.pid.take();
        let shutdown = child.spec.shutdown;
        let id = child.spec.id.clone();
        if child.spec.restart == Restart::Temporary {
            self.children.remove(&key);
        }
        if let Some(pid) = pid {
            self.by_pid.remove(&pid);
            self.shutdown_children(vec![(id, pid, shutdown)]).await;
        }
    }

    /// Terminates every child: in reverse start order, one by one, for a static
    /// supervisor; all at once for a dynamic one.
    pub(super) async fn terminate_all(&mut self) {
        let running: Vec<(String, Pid, Shutdown)> = self
            .children
            .values_mut()
            .filter_map(|c| {
                c.restarting = false;
                c.pid
                    .take()
                    .map(|p| (c.spec.id.clone(), p, c.spec.shutdown))
            })
            .collect();
        self.by_pid.clear();
        if self.is_dynamic() {
            self.shutdown_children(running).await;
        } else {
            for child in running.into_iter().rev() {
                self.shutdown_children(vec![child]).await;
            }
        }
    }

    /// Stops these children (OTP's `shutdown/2`): monitor, unlink, exit
    /// `Shutdown` (or `Kill`), then `Kill` on timeout; returns once every one is
    /// gone. Other signals that arrive meanwhile are kept for later.
    async fn shutdown_children(&mut self, children: Vec<(String, Pid, Shutdown)>) {
        struct Pending {
            id: String,
            pid: Pid,
            shutdown: Shutdown,
            deadline: Option<Instant>,
        }
        let mut pending: HashMap<Ref, Pending> = HashMap::new();
        for (id, pid, shutdown) in children {
            let mref = self.ctx.monitor(&pid);
            self.ctx.unlink(&pid);
            let deadline = match shutdown {
                Shutdown::BrutalKill => {
                    self.ctx.exit(&pid, ExitReason::Kill);
                    None
                }
                Shutdown::Timeout(d) => {
                    self.ctx.exit(&pid, ExitReason::Shutdown);
                    Some(Instant::now() + d)
                }
                Shutdown::Infinity => {
                    self.ctx.exit(&pid, ExitReason::Shutdown);
                    None
                }
            };
            pending.insert(
                mref,
                Pending {
                    id,
                    pid,
                    shutdown,
                    deadline,
                },
            );
        }
        while !pending.is_empty() {
            let next = pending.values().filter_map(|p| p.deadline).min();
            let sig = match next {
                Some(at) => match tokio::time::timeout_at(at, self.ctx.recv()).await {
                    Ok(s) => s,
                    Err(_) => {
                        let now = Instant::now();
                        for p in pending.values_mut() {
                            if p.deadline.is_some_and(|d| d <= now) {
                                tracing::warn!(
                                    "supervisor {}: child {:?} ({}) did not stop in time; killing it",
                                    self.ctx.pid(),
                                    p.id,
                                    p.pid
                                );
                                p.deadline = None;
                                self.ctx.exit(&p.pid, ExitReason::Kill);
                            }
                        }
                        continue;
                    }
                },
                None => self.ctx.recv().await,
            };
            match sig {
                Signal::Down(d) if pending.contains_key(&d.mref) => {
                    let p = pending.remove(&d.mref).expect("checked above");
                    let expected = match p.shutdown {
                        Shutdown::BrutalKill => d.reason == ExitReason::Killed,
                        _ => d.reason == ExitReason::Shutdown,
                    };
                    // NoProc: it had already exited (its exit signal is queued).
                    if !expected && d.reason != ExitReason::NoProc {
                        tracing::warn!(
                            "supervisor {}: child {:?} ({}) shut down with reason {}",
                            self.ctx.pid(),
                            p.id,
                            p.pid,
                            d.reason
                        );
                    }
                }
                other => self.deferred.push_back(other),
            }
        }
    }
}
