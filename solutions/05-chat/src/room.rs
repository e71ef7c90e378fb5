//! A room: one process per room on every node that knows it. One of them,
//! the **primary**, holds the room's `:global` name and serves the
//! sessions; the others are **replicas** in the room's `:pg` group and copy
//! every change before the primary answers.
//!
//! - A change (a member, a message) is applied by the primary, copied to
//!   every replica (a call each: the answer to the sender waits for the
//!   copies), then sent to the members' sessions.
//! - When the primary dies, its replicas race to register the name: the
//!   winner gathers the others' copies, merges them and carries on; the
//!   losers follow it.
//! - After a partition heals, `:global` finds the name held twice and tells
//!   the loser (`Resolve::Notify`): the loser hands its state to the winner,
//!   which merges both histories and sends each side what it missed.

use crate::history;
use crate::protocol::{now_us, Op, RoomCall, RoomCast, RoomReply, RoomState, SessionCast, ROOMS};
use contracts::chat::{replica_group, room_name, user_name, ChatMessage, SCOPE};
use netsplit::gen_server::{self, CallResponse, Caller, Flow, GenServer, Info};
use netsplit::global::{self, GlobalNameConflict, RegisterResult, Resolve};
use netsplit::{pg, Ctx, ExitReason, Node, Pid, Ref};
use std::time::Duration;

/// How long the primary waits for one replica to confirm a change.
const REPLICA_TIMEOUT: Duration = Duration::from_secs(1);

/// How long a room waits for `:global` to merge name tables before it
/// looks up or takes its name.
const SYNC_TIMEOUT: Duration = Duration::from_secs(2);

/// How many of the last messages a new primary sends the members again:
/// the old one may have died halfway through sending them (sessions drop
/// the ones they have).
const RESEND_ON_TAKEOVER: usize = 20;

/// Which of the room's processes this one is.
#[derive(Debug)]
enum Role {
    /// Holds the global name: serves sessions, sends changes to replicas.
    Primary,
    /// Copies the primary (monitored, when known).
    Replica(Option<(Pid, Ref)>),
}

/// One room's process on this node.
pub struct Room {
    name: String,
    role: Role,
    state: RoomState,
}

impl Room {
    /// The room `name`'s process for this node; it finds its role once
    /// started.
    pub fn new(name: &str) -> Room {
        Room {
            name: name.to_string(),
            role: Role::Replica(None),
            state: RoomState::default(),
        }
    }

    fn is_primary(&self) -> bool {
        matches!(self.role, Role::Primary)
    }

    /// Follows the primary, or becomes it if there is none.
    async fn track(&mut self, ctx: &Ctx) {
        let node = ctx.node();
        let global = room_name(&self.name);
        sync(node).await;
        for _ in 0..20 {
            match global::whereis_name(node, &global) {
                Some(p) if &p == ctx.pid() => {
                    self.role = Role::Primary;
                    return;
                }
                Some(primary) => {
                    self.follow(ctx, primary);
                    return;
                }
                None => {
                    let won =
                        global::register_name_with(node, &global, ctx.pid(), Resolve::Notify).await;
                    if won == RegisterResult::Yes {
                        self.take_over(ctx).await;
                        return;
                    }
                    sync(node).await;
                }
            }
        }
        tracing::warn!(
            "room {}: found no primary and could not become it",
            self.name
        );
    }

    /// Becomes a replica of `primary`: monitors it and asks for its state.
    fn follow(&mut self, ctx: &Ctx, primary: Pid) {
        if let Role::Replica(Some((_, old))) = &self.role {
            ctx.demonitor(old);
        }
        let mref = ctx.monitor(&primary);
        let _ = gen_server::cast(ctx.node(), &primary, &RoomCast::SyncMe(ctx.pid().clone()));
        self.role = Role::Replica(Some((primary, mref)));
    }

    /// Just registered the name: gathers what the replicas hold (the old
    /// primary may have reached some and not others), makes sure every node
    /// has a replica, and sends the members the last messages again.
    async fn take_over(&mut self, ctx: &Ctx) {
        self.role = Role::Primary;
        let node = ctx.node();
        // All at once: a copy busy finding its own role answers late, and
        // one slow copy must not hold up the others.
        let asks = self.others(ctx).into_iter().map(|other| async move {
            gen_server::call::<_, RoomReply>(node, &other, &RoomCall::State, REPLICA_TIMEOUT).await
        });
        for got in futures::future::join_all(asks).await {
            if let Ok(RoomReply::State(state)) = got {
                self.absorb(&state);
            }
        }
        self.replicate(ctx, Op::Snapshot(self.state.clone())).await;
        gen_server::abcast(
            node,
            &node.nodes(),
            ROOMS,
            &crate::rooms::RoomsCast::Ensure(self.name.clone()),
        );
        for m in self.state.history.last(RESEND_ON_TAKEOVER) {
            self.deliver(node, &m);
        }
        tracing::info!("room {}: primary on {}", self.name, node.name());
    }

    /// Merges another copy of the room into this one; returns the messages
    /// that were new here.
    fn absorb(&mut self, other: &RoomState) -> Vec<ChatMessage> {
        self.state.members.extend(other.members.iter().cloned());
        self.state.history.merge(&other.history)
    }

    /// The room's other processes (its `:pg` group, this one excepted).
    fn others(&self, ctx: &Ctx) -> Vec<Pid> {
        pg::get_members(ctx.node(), SCOPE, &replica_group(&self.name))
            .into_iter()
            .filter(|p| p != ctx.pid())
            .collect()
    }

    /// Copies `op` to every replica, waiting (bounded) for each to confirm.
    /// True if another node now has it: one replica confirmed, or there is
    /// no other replica to ask (a room alone on its side of the cluster).
    async fn replicate(&self, ctx: &Ctx, op: Op) -> bool {
        let node = ctx.node();
        let call = RoomCall::Apply(op);
        let replicas = self.others(ctx);
        let asked = replicas.len();
        let copies = replicas.into_iter().map(|replica| {
            let call = &call;
            async move {
                let got =
                    gen_server::call::<_, RoomReply>(node, &replica, call, REPLICA_TIMEOUT).await;
                if let Err(e) = &got {
                    tracing::debug!("replica {replica} did not confirm: {e}");
                }
                matches!(got, Ok(RoomReply::Ack))
            }
        });
        let confirmed = futures::future::join_all(copies).await;
        asked == 0 || confirmed.contains(&true)
    }

    /// Sends a message to every member's session.
    fn deliver(&self, node: &Node, msg: &ChatMessage) {
        for member in &self.state.members {
            let _ = global::cast(node, &user_name(member), &SessionCast::Deliver(msg.clone()));
        }
    }

    /// Tells every member but `user` that `user` joined or left.
    fn announce(&self, node: &Node, user: &str, joined: bool) {
        let event = SessionCast::Member {
            room: self.name.clone(),
            user: user.to_string(),
            joined,
        };
        for member in self.state.members.iter().filter(|m| *m != user) {
            let _ = global::cast(node, &user_name(member), &event);
        }
    }

    /// A session's request, on the primary.
    async fn serve(&mut self, ctx: &Ctx, call: RoomCall) -> RoomReply {
        let node = ctx.node();
        match call {
            RoomCall::Join { user, since } => {
                if self.state.members.insert(user.clone()) {
                    self.replicate(ctx, Op::Member(user.clone(), true)).await;
                    self.announce(node, &user, true);
                }
                let h = &self.state.history;
                match since {
                    Some(cursor) => RoomReply::Joined(h.since(&cursor), cursor),
                    None => RoomReply::Joined(vec![], h.cursor()),
                }
            }
            RoomCall::Leave { user } => {
                if !self.state.members.remove(&user) {
                    return RoomReply::NotMember;
                }
                self.replicate(ctx, Op::Member(user.clone(), false)).await;
                self.announce(node, &user, false);
                RoomReply::Ok
            }
            RoomCall::Say { user, text } => {
                if !self.state.members.contains(&user) {
                    return RoomReply::NotMember;
                }
                let msg = self
                    .state
                    .history
                    .append(&self.name, &user, &text, now_us());
                let kept = self.replicate(ctx, Op::Message(msg.clone())).await;
                self.deliver(node, &msg);
                if kept {
                    RoomReply::Said(msg)
                } else {
                    // Not acknowledged: only this node is known to have it.
                    RoomReply::Unconfirmed(msg)
                }
            }
            RoomCall::History { limit, since } => RoomReply::Messages(match since {
                Some(cursor) => self.state.history.since(&cursor),
                None => self.state.history.last(limit),
            }),
            RoomCall::Who => RoomReply::Members(self.state.members.iter().cloned().collect()),
            RoomCall::Apply(_) | RoomCall::State | RoomCall::Search(_) => {
                unreachable!("served by handle_call")
            }
        }
    }

    /// A change from a primary. A replica applies it; a primary (two exist
    /// for a moment after a partition heals) merges it, and sends its
    /// members what was new.
    fn apply(&mut self, ctx: &Ctx, op: Op) {
        match op {
            Op::Member(user, true) => {
                self.state.members.insert(user);
            }
            Op::Member(user, false) => {
                self.state.members.remove(&user);
            }
            Op::Message(msg) => {
                if self.state.history.insert(msg.clone()) && self.is_primary() {
                    self.deliver(ctx.node(), &msg);
                }
            }
            Op::Snapshot(state) if self.is_primary() => {
                for m in self.absorb(&state) {
                    self.deliver(ctx.node(), &m);
                }
            }
            Op::Snapshot(state) => self.state = state,
        }
    }

    /// The loser of a clash handed over its state: merge it, send each side
    /// what it missed, and copy the result to every replica.
    async fn merge(&mut self, ctx: &Ctx, theirs: RoomState) {
        let node = ctx.node();
        let missed_there: Vec<ChatMessage> = self
            .state
            .history
            .last(usize::MAX)
            .into_iter()
            .filter(|m| !theirs.history.contains(&m.from, m.seq))
            .collect();
        let missed_here = self.absorb(&theirs);
        let mut resend: Vec<ChatMessage> = missed_there.into_iter().chain(missed_here).collect();
        resend.sort_by(|a, b| history::key(a).cmp(&history::key(b)));
        for m in &resend {
            self.deliver(node, m);
        }
        self.replicate(ctx, Op::Snapshot(self.state.clone())).await;
        tracing::info!(
            "room {}: merged a clashing copy ({} messages resent)",
            self.name,
            resend.len()
        );
    }
}

impl GenServer for Room {
    type Call = RoomCall;
    type Reply = RoomReply;
    type Cast = RoomCast;
    type Info = GlobalNameConflict;

    async fn init(&mut self, ctx: &Ctx) -> Result<(), ExitReason> {
        pg::join(ctx.node(), SCOPE, &replica_group(&self.name), ctx.pid())
            .await
            .map_err(ExitReason::error)?;
        // Finding the role talks to other nodes: after init, so a slow
        // cluster never holds up whoever started the room.
        gen_server::cast(ctx.node(), ctx.pid(), &RoomCast::Track).map_err(ExitReason::error)?;
        Ok(())
    }

    async fn handle_call(
        &mut self,
        call: RoomCall,
        _from: Caller<RoomReply>,
        ctx: &Ctx,
    ) -> CallResponse<RoomReply> {
        let reply = match call {
            RoomCall::Apply(op) => {
                self.apply(ctx, op);
                RoomReply::Ack
            }
            RoomCall::State => RoomReply::State(self.state.clone()),
            RoomCall::Search(text) if self.is_primary() => {
                let all = self.state.history.last(usize::MAX).into_iter();
                RoomReply::Messages(
                    all.filter(|m| m.text.to_lowercase().contains(&text))
                        .collect(),
                )
            }
            RoomCall::Search(_) => RoomReply::Messages(vec![]),
            call if self.is_primary() => self.serve(ctx, call).await,
            _ => RoomReply::NotPrimary,
        };
        CallResponse::Reply(reply)
    }

    async fn handle_cast(&mut self, cast: RoomCast, ctx: &Ctx) -> Flow {
        match cast {
            RoomCast::Track => self.track(ctx).await,
            RoomCast::SyncMe(replica) if self.is_primary() => {
                let op = RoomCall::Apply(Op::Snapshot(self.state.clone()));
                let _ =
                    gen_server::call::<_, RoomReply>(ctx.node(), &replica, &op, REPLICA_TIMEOUT)
                        .await;
            }
            RoomCast::SyncMe(_) => {}
            RoomCast::Typing(user) if self.state.members.contains(&user) => {
                let typing = SessionCast::Typing {
                    room: self.name.clone(),
                    user: user.clone(),
                };
                for member in self.state.members.iter().filter(|m| **m != user) {
                    let _ = global::cast(ctx.node(), &user_name(member), &typing);
                }
            }
            RoomCast::Typing(_) => {}
            RoomCast::Merge(theirs) if self.is_primary() => self.merge(ctx, theirs).await,
            RoomCast::Merge(theirs) => {
                // Not the primary any more: pass it on to whoever is.
                match global::whereis_name(ctx.node(), &room_name(&self.name)) {
                    Some(p) if &p != ctx.pid() => {
                        let _ = gen_server::cast(ctx.node(), &p, &RoomCast::Merge(theirs));
                    }
                    _ => {
                        self.absorb(&theirs);
                    }
                }
            }
        }
        Flow::Continue
    }

    async fn handle_info(&mut self, info: Info<GlobalNameConflict>, ctx: &Ctx) -> Flow {
        match info {
            Info::Down(down) => {
                let ours = matches!(&self.role, Role::Replica(Some((_, r))) if *r == down.mref);
                if ours {
                    self.role = Role::Replica(None);
                    self.track(ctx).await;
                }
            }
            Info::Msg(conflict) => {
                // Lost the name to `other` when two partitions met.
                tracing::info!(
                    "room {}: {} keeps the name; handing this copy over",
                    self.name,
                    conflict.other
                );
                let theirs = self.state.clone();
                let _ = gen_server::cast(ctx.node(), &conflict.other, &RoomCast::Merge(theirs));
                self.role = Role::Replica(None);
                self.follow(ctx, conflict.other);
            }
            _ => {}
        }
        Flow::Continue
    }
}

/// Waits, within [`SYNC_TIMEOUT`], until this node's `:global` names are
/// merged with every node it is connected to: a room must not take a name
/// another side already holds. Bounded, so that a sync that never ends
/// (a peer paused mid-merge) cannot hold the room up for good.
async fn sync(node: &Node) {
    if tokio::time::timeout(SYNC_TIMEOUT, global::sync(node))
        .await
        .is_err()
    {
        tracing::warn!("global::sync took over {SYNC_TIMEOUT:?}; going on without it");
    }
}
