//! `:pg` — eventually consistent process groups (Erlang's `pg`).
//!
//! A *scope* is an independent namespace of groups, served on each node by a
//! scope process (registered locally as `pg:<scope>`; the default scope is
//! [`DEFAULT_SCOPE`]). A group is a name with a list of member pids on any
//! node of the cluster.
//!
//! - **Each node is the only writer of its own members.** [`join`] and
//!   [`leave`] accept only local pids; the scope process monitors them, and a
//!   member that exits leaves every group it was in, everywhere.
//! - **Sync on nodeup.** When two nodes' scopes of the same name meet, each
//!   sends the other its local memberships; afterwards every join and leave is
//!   sent to the peers as it happens. When a peer's scope process goes away
//!   (it exits, or its node goes down or is cut off), its members are dropped.
//! - **Reads are local.** [`get_members`], [`get_local_members`] and
//!   [`which_groups`] read this node's view, with no message sent. The view is
//!   eventually consistent: right after a join on one node, another node may
//!   not list it yet; during a partition each side sees only its own side.
//! - A pid joined twice is listed twice and must leave twice. An empty group
//!   and a group that never existed are the same thing.
//! - Hidden nodes take no part (their scopes see and are seen by no one).
//!
//! ```no_run
//! # async fn demo(node: netsplit::Node, ctx: netsplit::Ctx) {
//! use netsplit::pg;
//! pg::join(&node, pg::DEFAULT_SCOPE, "news", ctx.pid()).await.unwrap();
//! for member in pg::get_members(&node, pg::DEFAULT_SCOPE, "news") {
//!     node.send(&member, &"breaking: Rust is fun".to_string()).unwrap();
//! }
//! # }
//! ```
//!
//! Differs from OTP:
//!
//! - a scope must be started with `pg:start_link(Scope)` in OTP. Until it
//!   is, `get_members` and `get_local_members` return `[]`, while
//!   `which_groups` raises (`badarg`: the scope's ETS table does not exist)
//!   and `join`/`leave` exit (`noproc`). Here any call starts the scope on
//!   this node if it is not running ([`start_scope`] does it explicitly); the
//!   view of a scope just started fills in as peers answer;
//! - OTP's `monitor` subscribes the calling process; these functions take a
//!   [`Node`], so the subscriber is an argument (and must be local);
//! - member lists are sorted by pid (OTP leaves their order unspecified), so
//!   two nodes with the same view return the same list.

use crate::exit::ExitReason;
use crate::gen_server::{self, CallError};
use crate::message::Payload;
use crate::node::{Dest, Node};
use crate::pid::{NodeName, Pid, Ref};
use crate::process::{Ctx, ReplyBody, Signal, Target};
use parking_lot::{Mutex, RwLock};
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// The scope OTP's `pg:join/2` and friends use.
pub const DEFAULT_SCOPE: &str = "pg";

const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// The local name of a scope's process.
pub fn scope_process_name(scope: &str) -> String {
    format!("pg:{scope}")
}

/// Why a `:pg` request failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PgError {
    /// Only processes of this node can join or leave through it, and only
    /// local processes can monitor (OTP raises `{nolocal, Pid}`).
    #[error("{0} is not a process of this node")]
    NotLocal(Pid),
    /// The process is not a member of the group (OTP's `not_joined`).
    #[error("the process is not a member of the group")]
    NotJoined,
    /// The scope process did not answer (the node is stopping).
    #[error("the scope process is not running")]
    ScopeDown,
}

/// A group changed: what a [`monitor`] or [`monitor_scope`] subscriber
/// receives as a plain message (OTP's `{Ref, join | leave, Group, Pids}`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PgEvent {
    /// `pids` joined `group`.
    Join {
        /// The reference the monitor call returned.
        mref: Ref,
        /// The group.
        group: String,
        /// The processes that joined (a pid twice if it joined twice).
        pids: Vec<Pid>,
    },
    /// `pids` left `group` (by [`leave`], by exiting, or because their node's
    /// scope became unreachable).
    Leave {
        /// The reference the monitor call returned.
        mref: Ref,
        /// The group.
        group: String,
        /// The processes that left.
        pids: Vec<Pid>,
    },
}

// ------------------------------------------------------------------ per-node state

/// The scopes running on a node, and their readable views.
#[derive(Default)]
struct Scopes {
    map: Mutex<FxHashMap<String, Arc<Scope>>>,
}

/// One scope on one node: its process and the views it publishes.
struct Scope {
    server: Pid,
    views: Arc<Views>,
}

#[derive(Default)]
struct Views {
    /// Group → every member known to this node (sorted).
    all: RwLock<FxHashMap<String, Vec<Pid>>>,
    /// Group → this node's members (sorted).
    local: RwLock<FxHashMap<String, Vec<Pid>>>,
}

/// The scope's process on this node, started if it is not running.
fn scope(node: &Node, name: &str) -> Arc<Scope> {
    let scopes = node.inner.ext.get_or_init(Scopes::default);
    let mut map = scopes.map.lock();
    if let Some(s) = map.get(name) {
        if node.is_alive(&s.server) {
            return s.clone();
        }
    }
    let views = Arc::new(Views::default());
    let v = views.clone();
    let n = name.to_string();
    let server = node.spawn(move |ctx| run(ctx, n, v));
    let reg = scope_process_name(name);
    if node.whereis(&reg).is_some_and(|p| !node.is_alive(&p)) {
        node.unregister(&reg);
    }
    if let Err(e) = node.register(&reg, &server) {
        tracing::warn!(parent: node.span(), "pg: cannot register the scope process {reg}: {e}");
    }
    let s = Arc::new(Scope { server, views });
    map.insert(name.to_string(), s.clone());
    s
}

// ------------------------------------------------------------------ API

/// Starts `scope` on this node if it is not running; returns its process.
/// Every other function of this module does it on first use (see the module
/// docs for how this differs from OTP).
pub fn start_scope(node: &Node, scope_name: &str) -> Pid {
    scope(node, scope_name).server.clone()
}

/// Makes local process `pid` a member of `group` in `scope` (OTP's
/// `pg:join/3`). When this returns, this node lists it; the other nodes learn
/// it shortly. Joining twice makes it a member twice.
pub async fn join(node: &Node, scope_name: &str, group: &str, pid: &Pid) -> Result<(), PgError> {
    local_only(node, pid)?;
    let (group, pid) = (group.into(), pid.clone());
    change_membership(node, scope_name, Call::Join { group, pid }).await
}

/// Removes one membership of local process `pid` in `group` (OTP's
/// `pg:leave/3`); [`PgError::NotJoined`] if it was not a member.
pub async fn leave(node: &Node, scope_name: &str, group: &str, pid: &Pid) -> Result<(), PgError> {
    local_only(node, pid)?;
    let (group, pid) = (group.into(), pid.clone());
    change_membership(node, scope_name, Call::Leave { group, pid }).await
}

/// Asks this node's `scope` server to join or leave; `NotJoined` when it refuses.
async fn change_membership(node: &Node, scope_name: &str, call: Call) -> Result<(), PgError> {
    let s = scope(node, scope_name);
    match request(node, &s, &call).await? {
        Reply::Ok => Ok(()),
        _ => Err(PgError::NotJoined),
    }
}

/// Every member of `group` this node knows of, on any node, sorted (a pid
/// joined twice is listed twice). A local read: no message is sent.
pub fn get_members(node: &Node, scope_name: &str, group: &str) -> Vec<Pid> {
    let s = scope(node, scope_name);
    let all = s.views.all.read();
    all.get(group).cloned().unwrap_or_default()
}

/// The members of `group` that run on this node, sorted. A local read.
pub fn get_local_members(node: &Node, scope_name: &str, group: &str) -> Vec<Pid> {
    let s = scope(node, scope_name);
    let local = s.views.local.read();
    local.get(group).cloned().unwrap_or_default()
}

/// Every group of `scope` with at least one member this node knows of, sorted.
pub fn which_groups(node: &Node, scope_name: &str) -> Vec<String> {
    let s = scope(node, scope_name);
    let mut v: Vec<String> = s.views.all.read().keys().cloned().collect();
    v.sort();
    v
}

/// Subscribes local process `subscriber` to the changes of `group` (OTP's
/// `pg:monitor/2`): returns a reference and the current members; from then on,
/// every change arrives as a [`PgEvent`] message carrying that reference, in
/// order, with nothing missed between the snapshot and the first event. The
/// subscription ends with [`demonitor`] or when the subscriber exits.
pub async fn monitor(
    node: &Node,
    scope_name: &str,
    group: &str,
    subscriber: &Pid,
) -> Result<(Ref, Vec<Pid>), PgError> {
    local_only(node, subscriber)?;
    let s = scope(node, scope_name);
    match request(
        node,
        &s,
        &Call::Monitor {
            group: Some(group.into()),
            subscriber: subscriber.clone(),
        },
    )
    .await?
    {
        Reply::Monitor(mref, mut groups) => Ok((mref, groups.remove(group).unwrap_or_default())),
        _ => Err(PgError::ScopeDown),
    }
}

/// Like [`monitor`] for every group of the scope (OTP's `pg:monitor_scope/1`):
/// returns every current group with its members.
pub async fn monitor_scope(
    node: &Node,
    scope_name: &str,
    subscriber: &Pid,
) -> Result<(Ref, BTreeMap<String, Vec<Pid>>), PgError> {
    local_only(node, subscriber)?;
    let s = scope(node, scope_name);
    match request(
        node,
        &s,
        &Call::Monitor {
            group: None,
            subscriber: subscriber.clone(),
        },
    )
    .await?
    {
        Reply::Monitor(mref, groups) => Ok((mref, groups)),
        _ => Err(PgError::ScopeDown),
    }
}

/// Ends a subscription made by [`monitor`] or [`monitor_scope`]. True if it
/// was active. Events already sent may still arrive.
pub async fn demonitor(node: &Node, scope_name: &str, mref: &Ref) -> bool {
    let s = scope(node, scope_name);
    matches!(
        request(node, &s, &Call::Demonitor { mref: mref.clone() }).await,
        Ok(Reply::Ok)
    )
}

fn local_only(node: &Node, pid: &Pid) -> Result<(), PgError> {
    if pid.node() == node.name() {
        Ok(())
    } else {
        Err(PgError::NotLocal(pid.clone()))
    }
}

async fn request(node: &Node, s: &Scope, call: &Call) -> Result<Reply, PgError> {
    gen_server::call::<Call, Reply>(node, &s.server, call, CALL_TIMEOUT)
        .await
        .map_err(|e: CallError| {
            tracing::debug!(parent: node.span(), "pg: scope call failed: {e}");
            PgError::ScopeDown
        })
}

// ------------------------------------------------------------------ the scope process

/// Requests from this node's API to its scope process.
#[derive(Clone, Debug, Serialize, Deserialize)]
enum Call {
    Join {
        group: String,
        pid: Pid,
    },
    Leave {
        group: String,
        pid: Pid,
    },
    Monitor {
        group: Option<String>,
        subscriber: Pid,
    },
    Demonitor {
        mref: Ref,
    },
}

#[derive(Clone, Debug, Serialize, Deserialize)]
enum Reply {
    Ok,
    NotJoined,
    Monitor(Ref, BTreeMap<String, Vec<Pid>>),
}

/// Messages between the scope processes of one scope on different nodes.
#[derive(Clone, Debug, Serialize, Deserialize)]
enum Peer {
    /// "I am the scope here; send me your members" (sent on start and nodeup).
    Discover { peer: Pid },
    /// All local memberships of the sender: replaces what the receiver knew.
    Sync {
        peer: Pid,
        groups: Vec<(String, Vec<Pid>)>,
    },
    /// Sender's local `pids` joined `group`.
    Join {
        peer: Pid,
        group: String,
        pids: Vec<Pid>,
    },
    /// Sender's local `pids` left `group`.
    Leave {
        peer: Pid,
        group: String,
        pids: Vec<Pid>,
    },
}

type Groups = FxHashMap<String, Vec<Pid>>;

struct State {
    scope: String,
    views: Arc<Views>,
    /// This node's memberships, group → pids (with repetitions).
    local: Groups,
    /// One monitor per local member.
    member_mons: FxHashMap<Pid, Ref>,
    /// Peer scope processes: their monitor and their memberships.
    peers: FxHashMap<Pid, (Ref, Groups)>,
    /// Subscriptions: ref → (subscriber, group or the whole scope).
    subs: FxHashMap<Ref, (Pid, Option<String>)>,
    /// One monitor per subscriber, with its number of subscriptions.
    sub_mons: FxHashMap<Pid, (Ref, usize)>,
}

async fn run(ctx: Ctx, scope: String, views: Arc<Views>) -> ExitReason {
    let mut st = State {
        scope,
        views,
        local: Groups::default(),
        member_mons: FxHashMap::default(),
        peers: FxHashMap::default(),
        subs: FxHashMap::default(),
        sub_mons: FxHashMap::default(),
    };
    ctx.monitor_nodes(true);
    for n in ctx.node().nodes() {
        st.discover(&ctx, &n);
    }
    loop {
        match ctx.recv().await {
            Signal::Call(reply_to, payload) => {
                let body = match payload.decode::<Call>() {
                    Ok(call) => ReplyBody::Ok(Payload::encode(&st.handle_call(&ctx, call))),
                    Err(e) => ReplyBody::BadRequest(e),
                };
                ctx.node().send_reply(&reply_to, body);
            }
            Signal::Message { payload, .. } => match payload.decode::<Peer>() {
                Ok(m) => st.handle_peer(&ctx, m),
                Err(e) => tracing::warn!("pg scope {} ignored a message: {e}", st.scope),
            },
            Signal::NodeUp(n) => st.discover(&ctx, &n),
            Signal::Down(d) => {
                if let Target::Pid(pid) = d.target {
                    st.handle_down(&ctx, &d.mref, &pid);
                }
            }
            _ => {}
        }
    }
}

impl State {
    /// Sends to a peer only over an existing visible connection: a scope never
    /// opens a connection by itself (OTP sends with `noconnect`).
    fn send_to(&self, ctx: &Ctx, node: &NodeName, dest: Dest, msg: &Peer) {
        if ctx.node().nodes().contains(node) {
            let _ = ctx.send(dest, msg);
        }
    }

    fn discover(&self, ctx: &Ctx, node: &NodeName) {
        let dest = Dest::Remote(scope_process_name(&self.scope), node.clone());
        self.send_to(
            ctx,
            node,
            dest,
            &Peer::Discover {
                peer: ctx.pid().clone(),
            },
        );
    }

    fn broadcast(&self, ctx: &Ctx, msg: &Peer) {
        for peer in self.peers.keys() {
            self.send_to(ctx, peer.node(), peer.into(), msg);
        }
    }

    fn handle_call(&mut self, ctx: &Ctx, call: Call) -> Reply {
        match call {
            Call::Join { group, pid } => {
                if !self.member_mons.contains_key(&pid) {
                    let mref = ctx.monitor(&pid);
                    self.member_mons.insert(pid.clone(), mref);
                }
                self.local
                    .entry(group.clone())
                    .or_default()
                    .push(pid.clone());
                let pids = vec![pid];
                self.broadcast(
                    ctx,
                    &Peer::Join {
                        peer: ctx.pid().clone(),
                        group: group.clone(),
                        pids: pids.clone(),
                    },
                );
                self.changed(ctx, &group, &pids, &[]);
                Reply::Ok
            }
            Call::Leave { group, pid } => {
                if !remove_one(&mut self.local, &group, &pid) {
                    return Reply::NotJoined;
                }
                if !self.local.values().any(|v| v.contains(&pid)) {
                    if let Some(mref) = self.member_mons.remove(&pid) {
                        ctx.demonitor(&mref);
                    }
                }
                let pids = vec![pid];
                self.broadcast(
                    ctx,
                    &Peer::Leave {
                        peer: ctx.pid().clone(),
                        group: group.clone(),
                        pids: pids.clone(),
                    },
                );
                self.changed(ctx, &group, &[], &pids);
                Reply::Ok
            }
            Call::Monitor { group, subscriber } => {
                let mref = ctx.node().make_ref();
                let entry = self
                    .sub_mons
                    .entry(subscriber.clone())
                    .or_insert_with(|| (ctx.monitor(&subscriber), 0));
                entry.1 += 1;
                let all = self.views.all.read();
                let snapshot: BTreeMap<String, Vec<Pid>> = match &group {
                    Some(g) => all
                        .get(g)
                        .map(|m| (g.clone(), m.clone()))
                        .into_iter()
                        .collect(),
                    None => all.iter().map(|(g, m)| (g.clone(), m.clone())).collect(),
                };
                drop(all);
                self.subs.insert(mref.clone(), (subscriber, group));
                Reply::Monitor(mref, snapshot)
            }
            Call::Demonitor { mref } => match self.subs.remove(&mref) {
                Some((sub, _)) => {
                    self.drop_subscription(ctx, &sub);
                    Reply::Ok
                }
                None => Reply::NotJoined,
            },
        }
    }

    fn drop_subscription(&mut self, ctx: &Ctx, sub: &Pid) {
        if let Some(e) = self.sub_mons.get_mut(sub) {
            e.1 -= 1;
            if e.1 == 0 {
                let (mref, _) = self.sub_mons.remove(sub).expect("present");
                ctx.demonitor(&mref);
            }
        }
    }

    fn handle_peer(&mut self, ctx: &Ctx, msg: Peer) {
        let visible = |p: &Pid| ctx.node().nodes().contains(p.node());
        match msg {
            Peer::Discover { peer } => {
                if !visible(&peer) {
                    return;
                }
                let groups: Vec<(String, Vec<Pid>)> = self
                    .local
                    .iter()
                    .map(|(g, m)| (g.clone(), m.clone()))
                    .collect();
                self.send_to(
                    ctx,
                    peer.node(),
                    (&peer).into(),
                    &Peer::Sync {
                        peer: ctx.pid().clone(),
                        groups,
                    },
                );
                if !self.peers.contains_key(&peer) {
                    self.add_peer(ctx, &peer);
                    self.send_to(
                        ctx,
                        peer.node(),
                        (&peer).into(),
                        &Peer::Discover {
                            peer: ctx.pid().clone(),
                        },
                    );
                }
            }
            Peer::Sync { peer, groups } => {
                if !self.peers.contains_key(&peer) {
                    if !visible(&peer) {
                        return;
                    }
                    self.add_peer(ctx, &peer);
                }
                let new: Groups = groups.into_iter().filter(|(_, m)| !m.is_empty()).collect();
                let old = std::mem::replace(
                    &mut self.peers.get_mut(&peer).expect("added").1,
                    new.clone(),
                );
                let mut names: Vec<&String> = old.keys().chain(new.keys()).collect();
                names.sort();
                names.dedup();
                for g in names {
                    let before = old.get(g).cloned().unwrap_or_default();
                    let after = new.get(g).cloned().unwrap_or_default();
                    let joined = multiset_minus(&after, &before);
                    let left = multiset_minus(&before, &after);
                    if !joined.is_empty() || !left.is_empty() {
                        self.changed(ctx, g, &joined, &left);
                    }
                }
            }
            Peer::Join { peer, group, pids } => {
                let Some((_, groups)) = self.peers.get_mut(&peer) else {
                    return; // not synced yet: its Sync will carry this join
                };
                groups
                    .entry(group.clone())
                    .or_default()
                    .extend(pids.iter().cloned());
                self.changed(ctx, &group, &pids, &[]);
            }
            Peer::Leave { peer, group, pids } => {
                let Some((_, groups)) = self.peers.get_mut(&peer) else {
                    return;
                };
                let mut left = vec![];
                for p in pids {
                    if remove_one(groups, &group, &p) {
                        left.push(p);
                    }
                }
                if !left.is_empty() {
                    self.changed(ctx, &group, &[], &left);
                }
            }
        }
    }

    fn add_peer(&mut self, ctx: &Ctx, peer: &Pid) {
        let mref = ctx.monitor(peer);
        self.peers.insert(peer.clone(), (mref, Groups::default()));
    }

    fn handle_down(&mut self, ctx: &Ctx, mref: &Ref, pid: &Pid) {
        if self.member_mons.get(pid) == Some(mref) {
            // A local member exited: it leaves every group, everywhere.
            self.member_mons.remove(pid);
            let mut groups: Vec<(String, Vec<Pid>)> = vec![];
            for (g, members) in self.local.iter_mut() {
                let before = members.len();
                members.retain(|m| m != pid);
                if members.len() != before {
                    groups.push((g.clone(), vec![pid.clone(); before - members.len()]));
                }
            }
            self.local.retain(|_, m| !m.is_empty());
            groups.sort();
            for (g, pids) in groups {
                self.broadcast(
                    ctx,
                    &Peer::Leave {
                        peer: ctx.pid().clone(),
                        group: g.clone(),
                        pids: pids.clone(),
                    },
                );
                self.changed(ctx, &g, &[], &pids);
            }
        } else if self.peers.get(pid).is_some_and(|(r, _)| r == mref) {
            // A peer scope is gone (it exited, or its node is unreachable).
            let (_, groups) = self.peers.remove(pid).expect("present");
            let mut groups: Vec<(String, Vec<Pid>)> = groups.into_iter().collect();
            groups.sort();
            for (g, pids) in groups {
                self.changed(ctx, &g, &[], &pids);
            }
        } else if self.sub_mons.get(pid).is_some_and(|(r, _)| r == mref) {
            self.sub_mons.remove(pid);
            self.subs.retain(|_, (s, _)| s != pid);
        }
    }

    /// Republishes `group`'s views and tells its subscribers what changed.
    fn changed(&mut self, ctx: &Ctx, group: &str, joined: &[Pid], left: &[Pid]) {
        self.local.retain(|_, m| !m.is_empty());
        for (_, groups) in self.peers.values_mut() {
            groups.retain(|_, m| !m.is_empty());
        }
        let mut local = self.local.get(group).cloned().unwrap_or_default();
        local.sort();
        let mut all = local.clone();
        for (_, groups) in self.peers.values() {
            if let Some(m) = groups.get(group) {
                all.extend(m.iter().cloned());
            }
        }
        all.sort();
        publish(&self.views.local, group, local);
        publish(&self.views.all, group, all);
        for (mref, (sub, g)) in &self.subs {
            if g.as_deref().is_some_and(|g| g != group) {
                continue;
            }
            if !joined.is_empty() {
                let _ = ctx.send(
                    sub,
                    &PgEvent::Join {
                        mref: mref.clone(),
                        group: group.to_string(),
                        pids: joined.to_vec(),
                    },
                );
            }
            if !left.is_empty() {
                let _ = ctx.send(
                    sub,
                    &PgEvent::Leave {
                        mref: mref.clone(),
                        group: group.to_string(),
                        pids: left.to_vec(),
                    },
                );
            }
        }
    }
}

fn publish(view: &RwLock<FxHashMap<String, Vec<Pid>>>, group: &str, members: Vec<Pid>) {
    let mut v = view.write();
    if members.is_empty() {
        v.remove(group);
    } else {
        v.insert(group.to_string(), members);
    }
}

/// Removes one occurrence of `pid` from `group`; false if it was not there.
fn remove_one(groups: &mut Groups, group: &str, pid: &Pid) -> bool {
    let Some(members) = groups.get_mut(group) else {
        return false;
    };
    let Some(i) = members.iter().position(|m| m == pid) else {
        return false;
    };
    members.remove(i);
    if members.is_empty() {
        groups.remove(group);
    }
    true
}

/// `a` minus `b`, counting repetitions.
fn multiset_minus(a: &[Pid], b: &[Pid]) -> Vec<Pid> {
    let mut rest = b.to_vec();
    let mut out = vec![];
    for p in a {
        match rest.iter().position(|q| q == p) {
            Some(i) => {
                rest.swap_remove(i);
            }
            None => out.push(p.clone()),
        }
    }
    out
}
