//! The supervisor process: its state, its start, and its receive loop.

use super::calls::{Reply, Request};
use super::{ChildSpec, DynamicSupervisorSpec, Strategy, SupervisorSpec, SupervisorStartError};
use crate::exit::ExitReason;
use crate::message::Payload;
use crate::node::Node;
use crate::pid::Pid;
use crate::process::{Ctx, Exit, ReplyBody, ReplyTo, Signal};
use futures::FutureExt;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::panic::AssertUnwindSafe;
use std::time::Duration;
use tokio::time::Instant;

#[derive(Clone, Copy, Debug)]
pub(super) enum Kind {
    Static(Strategy),
    Dynamic { max_children: Option<usize> },
}

#[derive(Clone, Copy, Debug)]
pub(super) struct Config {
    pub(super) kind: Kind,
    pub(super) max_restarts: u32,
    pub(super) period: Duration,
}

impl Config {
    pub(super) fn from_spec(s: &SupervisorSpec) -> Self {
        Config {
            kind: Kind::Static(s.strategy),
            max_restarts: s.max_restarts,
            period: Duration::from_secs(s.max_seconds),
        }
    }

    pub(super) fn from_dynamic(s: &DynamicSupervisorSpec) -> Self {
        Config {
            kind: Kind::Dynamic {
                max_children: s.max_children,
            },
            max_restarts: s.max_restarts,
            period: Duration::from_secs(s.max_seconds),
        }
    }
}

pub(super) async fn start_opts(
    node: &Node,
    config: Config,
    children: Vec<ChildSpec>,
    name: Option<&str>,
    parent: Option<Pid>,
) -> Result<Pid, SupervisorStartError> {
    for (i, c) in children.iter().enumerate() {
        if children[..i].iter().any(|o| o.id == c.id) {
            return Err(SupervisorStartError::DuplicateChild(c.id.clone()));
        }
    }
    let (ack_tx, ack_rx) = tokio::sync::oneshot::channel();
    let name = name.map(str::to_string);
    let p = parent.clone();
    node.spawn_opts(
        move |ctx: Ctx| async move {
            let give_up = |ctx: &Ctx| {
                if let Some(p) = &p {
                    ctx.unlink(p);
                }
            };
            if let Some(n) = &name {
                if let Err(e) = ctx.register(n) {
                    let other = match e {
                        crate::node::RegisterError::NameTaken(_, pid) => pid,
                        _ => ctx.pid().clone(),
                    };
                    give_up(&ctx);
                    let _ = ack_tx.send(Err(SupervisorStartError::AlreadyStarted(other)));
                    return ExitReason::Normal;
                }
            }
            let mut sup = Sup::new(ctx.clone(), config, p.clone());
            for spec in children {
                let id = spec.id.clone();
                let key = sup.insert(spec);
                if let Err(reason) = sup.start_key(key).await {
                    tracing::error!(
                        "supervisor {}: child {id:?} failed to start: {reason}; stopping",
                        ctx.pid()
                    );
                    sup.children.remove(&key);
                    sup.terminate_all().await;
                    give_up(&ctx);
                    let _ = ack_tx.send(Err(SupervisorStartError::ChildFailed { id, reason }));
                    return ExitReason::Shutdown;
                }
            }
            let _ = ack_tx.send(Ok(ctx.pid().clone()));
            sup.run().await
        },
        parent.as_ref(),
        true,
    );
    ack_rx.await.unwrap_or(Err(SupervisorStartError::Died))
}

pub(super) struct Child {
    pub(super) spec: ChildSpec,
    pub(super) pid: Option<Pid>,
    /// A restart of this child failed and a retry is queued.
    pub(super) restarting: bool,
}

pub(super) struct Sup {
    pub(super) ctx: Ctx,
    pub(super) config: Config,
    pub(super) parent: Option<Pid>,
    /// Children by key; keys grow with insertion, so key order is start order.
    pub(super) children: BTreeMap<u64, Child>,
    pub(super) by_pid: HashMap<Pid, u64>,
    pub(super) next_key: u64,
    pub(super) restarts: VecDeque<Instant>,
    /// Signals received while waiting for a child's `Down`, to handle next.
    pub(super) deferred: VecDeque<Signal>,
}

impl Sup {
    fn new(ctx: Ctx, config: Config, parent: Option<Pid>) -> Self {
        Sup {
            ctx,
            config,
            parent,
            children: BTreeMap::new(),
            by_pid: HashMap::new(),
            next_key: 0,
            restarts: VecDeque::new(),
            deferred: VecDeque::new(),
        }
    }

    pub(super) fn me(&self) -> &Pid {
        self.ctx.pid()
    }

    pub(super) fn is_dynamic(&self) -> bool {
        matches!(self.config.kind, Kind::Dynamic { .. })
    }

    pub(super) fn insert(&mut self, spec: ChildSpec) -> u64 {
        let key = self.next_key;
        self.next_key += 1;
        self.children.insert(
            key,
            Child {
                spec,
                pid: None,
                restarting: false,
            },
        );
        key
    }

    async fn run(mut self) -> ExitReason {
        loop {
            let sig = match self.deferred.pop_front() {
                Some(s) => s,
                None => self.ctx.recv().await,
            };
            match sig {
                Signal::Exit(Exit { from, reason }) => {
                    let from_parent = self.parent.as_ref() == Some(&from);
                    let from_runtime = from.id() == 0 && reason != ExitReason::Normal;
                    if from_parent || from_runtime {
                        tracing::debug!(
                            "supervisor {}: exit signal from {from} ({reason}); shutting down",
                            self.me()
                        );
                        self.terminate_all().await;
                        return reason;
                    }
                    match self.by_pid.get(&from).copied() {
                        Some(key) => {
                            if let Some(r) = self.child_exited(key, from, reason).await {
                                return r;
                            }
                        }
                        None => tracing::debug!(
                            "supervisor {}: ignored exit signal from {from} ({reason})",
                            self.me()
                        ),
                    }
                }
                Signal::Call(reply_to, payload) => match payload.decode::<Request>() {
                    Ok(Request::Stop(reason)) => {
                        self.terminate_all().await;
                        self.reply(&reply_to, Reply::Done);
                        return reason;
                    }
                    Ok(req) => {
                        let reply = self.handle_call(req).await;
                        self.reply(&reply_to, reply);
                    }
                    Err(e) => self
                        .ctx
                        .node()
                        .send_reply(&reply_to, ReplyBody::BadRequest(e)),
                },
                Signal::Message {
                    from: Some(from),
                    payload,
                } if from == *self.me() && payload.is::<Retry>() => {
                    if let Ok(Retry(key)) = payload.decode() {
                        if let Some(r) = self.retry(key).await {
                            return r;
                        }
                    }
                }
                other => tracing::debug!("supervisor {}: ignored {other:?}", self.me()),
            }
        }
    }

    fn reply(&self, to: &ReplyTo, reply: Reply) {
        self.ctx
            .node()
            .send_reply(to, ReplyBody::Ok(Payload::encode(&reply)));
    }

    /// Runs child `key`'s start function; records and links the new pid.
    pub(super) async fn start_key(&mut self, key: u64) -> Result<Pid, ExitReason> {
        let start = self.children.get(&key).map(|c| c.spec.start.clone());
        let Some(start) = start else {
            return Err(ExitReason::NoProc);
        };
        let res = AssertUnwindSafe(start(&self.ctx)).catch_unwind().await;
        let pid = match res {
            Ok(Ok(pid)) => pid,
            Ok(Err(reason)) => return Err(reason),
            Err(panic) => return Err(ExitReason::Error(crate::process::panic_message(&panic))),
        };
        // The start function should have linked it; linking again is harmless
        // and catches a child that was not (or has already died).
        self.ctx.link(&pid);
        if let Some(c) = self.children.get_mut(&key) {
            c.pid = Some(pid.clone());
            c.restarting = false;
        }
        self.by_pid.insert(pid.clone(), key);
        Ok(pid)
    }
}

/// A restart to try again (sent by a supervisor to itself).
#[derive(Serialize, Deserialize)]
pub(super) struct Retry(pub(super) u64);
