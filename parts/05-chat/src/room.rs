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
//!
//! Lesson: docs/src/part-5-chat.md, Problems 1, 2, 3 and 5.

// Until every hole below is filled in, some imports and arguments are
// unused. Delete this line when you are done: the compiler's warnings then
// help you check your work (an import your own code does not need is one of
// them: delete it too).
#![allow(unused)]

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
        todo!(
            "Problem 1 (docs/src/part-5-chat.md, 'Problem 1, a chat on one node'): \
             find the room's primary by its :global name (after global::sync) and \
             follow it; if there is none, register the name yourself \
             (Resolve::Notify, for Problem 5) and take over. Two processes may race: \
             the registration decides, and the loser follows the winner"
        )
    }

    /// Becomes a replica of `primary`: monitors it and asks for its state.
    fn follow(&mut self, ctx: &Ctx, primary: Pid) {
        todo!(
            "Problem 1 (docs/src/part-5-chat.md, 'Problem 1, a chat on one node'): \
             become a replica of primary: monitor it (Problem 3 needs the Down), ask \
             it for a snapshot (RoomCast::SyncMe) and remember both in the role"
        )
    }

    /// Just registered the name: gathers what the replicas hold (the old
    /// primary may have reached some and not others), makes sure every node
    /// has a replica, and sends the members the last messages again.
    async fn take_over(&mut self, ctx: &Ctx) {
        // TODO Problem 1 (docs/src/part-5-chat.md, "Problem 1, a chat on one node"):
        // this process just registered the room's name: become the primary.
        // TODO Problem 2 (docs/src/part-5-chat.md, "Problem 2, replicas"): then ask
        // every other node's room directory (ROOMS) to host the room too
        // (RoomsCast::Ensure): its process there follows this one.
        // TODO Problem 3 (docs/src/part-5-chat.md, "Problem 3, failover"): before
        // that, gather the state of every other room process (RoomCall::State, all
        // at once) into this one and send the result to every replica; after, send
        // the members the last RESEND_ON_TAKEOVER messages again.
        let _ = ctx;
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
        // TODO Problem 2 (docs/src/part-5-chat.md, "Problem 2, replicas"): copy op
        // to every other process of the room (RoomCall::Apply), all at once, each
        // call bounded by REPLICA_TIMEOUT; return whether another node has it now (a
        // replica confirmed, or there was none to ask). Until then every change
        // counts as kept.
        let _ = (ctx, op);
        true
    }

    /// Sends a message to every member's session.
    fn deliver(&self, node: &Node, msg: &ChatMessage) {
        todo!(
            "Problem 1 (docs/src/part-5-chat.md, 'Problem 1, a chat on one node'): \
             send the message to every member's session (SessionCast::Deliver) \
             through the member's :global name"
        )
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
        todo!(
            "Problem 1 (docs/src/part-5-chat.md, 'Problem 1, a chat on one node'): \
             serve Join (add the member, copy the change, announce it; answer the \
             messages after `since`, or none and the room's cursor), Leave, Say \
             (append, copy, deliver, answer the message), History and Who"
        )
    }

    /// A change from a primary. A replica applies it; a primary (two exist
    /// for a moment after a partition heals) merges it, and sends its
    /// members what was new.
    fn apply(&mut self, ctx: &Ctx, op: Op) {
        // TODO Problem 2 (docs/src/part-5-chat.md, "Problem 2, replicas"): a replica
        // applies the change to its copy (a Snapshot replaces it). A primary that
        // gets one (two primaries meet after a partition) merges instead, and
        // delivers what was new to its members.
        let _ = (ctx, op);
    }

    /// The loser of a clash handed over its state: merge it, send each side
    /// what it missed, and copy the result to every replica.
    async fn merge(&mut self, ctx: &Ctx, theirs: RoomState) {
        // TODO Problem 5 (docs/src/part-5-chat.md, "Problem 5, partitions"): the
        // loser of a clash sent its state: merge it into this one, deliver to the
        // members every message one side had and the other lacked, in the history's
        // order, and send the result to every replica.
        let _ = (ctx, theirs);
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
                // TODO Problem 3 (docs/src/part-5-chat.md, "Problem 3, failover"): if this
                // is the Down of the primary this replica follows, it died: find the new one
                // or become it (track).
            }
            Info::Msg(conflict) => {
                // TODO Problem 5 (docs/src/part-5-chat.md, "Problem 5, partitions"): two
                // partitions met and conflict.other keeps the room's name: hand this copy
                // over to it (RoomCast::Merge) and follow it.
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
