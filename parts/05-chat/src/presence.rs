//! Presence: who is online. A session is a member of its user's `:pg`
//! group (`contracts::chat::presence_group`) for as long as it lives, so
//! the groups are the truth on every node, and a node that goes down takes
//! its sessions out of them everywhere. This tracker follows the groups and
//! tells this node's sessions when a user comes online or goes offline.
//!
//! Lesson: docs/src/part-5-chat.md, "Problem 4, presence".

// Until every hole below is filled in, some imports and arguments are
// unused. Delete this line when you are done: the compiler's warnings then
// help you check your work (an import your own code does not need is one of
// them: delete it too).
#![allow(unused)]

use crate::protocol::SessionCast;
use contracts::chat::{presence_group, SCOPE};
use netsplit::gen_server::{self, Flow, GenServer, Info};
use netsplit::pg::{self, PgEvent};
use netsplit::{Ctx, ExitReason, Node};
use std::collections::BTreeMap;

/// The prefix of presence groups.
fn prefix() -> String {
    presence_group("")
}

/// Whether `user` has a session on any node this node sees.
pub fn is_online(node: &Node, user: &str) -> bool {
    // TODO Problem 4 (docs/src/part-5-chat.md, "Problem 4, presence"): whether
    // the user's presence group has a member on any node.
    let _ = (node, user);
    false
}

/// The tracker (registered as `protocol::PRESENCE`).
#[derive(Default)]
pub struct Presence {
    /// Sessions per online user.
    sessions: BTreeMap<String, usize>,
}

impl Presence {
    /// Tells every session of this node that `user` came online or went.
    fn tell_local_sessions(&self, node: &Node, user: &str, online: bool) {
        // TODO Problem 4 (docs/src/part-5-chat.md, "Problem 4, presence"): send
        // SessionCast::Presence to every session of this node (the local members of
        // the presence groups).
        let _ = (node, user, online);
    }

    fn changed(&mut self, node: &Node, group: &str, joined: usize, left: usize) {
        // TODO Problem 4 (docs/src/part-5-chat.md, "Problem 4, presence"): a
        // presence group (online:USER) gained or lost sessions: keep the count per
        // user, and tell this node's sessions when a user's count goes from 0 to
        // more (online) or back to 0 (offline). Other groups of the scope are not
        // presence.
        let _ = (node, group, joined, left);
    }
}

impl GenServer for Presence {
    type Call = ();
    type Reply = ();
    type Cast = ();
    type Info = PgEvent;

    async fn init(&mut self, ctx: &Ctx) -> Result<(), ExitReason> {
        let (_, groups) = pg::monitor_scope(ctx.node(), SCOPE, ctx.pid())
            .await
            .map_err(ExitReason::error)?;
        for (group, members) in groups {
            if let Some(user) = group.strip_prefix(&prefix()) {
                self.sessions.insert(user.to_string(), members.len());
            }
        }
        Ok(())
    }

    async fn handle_info(&mut self, info: Info<PgEvent>, ctx: &Ctx) -> Flow {
        match info {
            Info::Msg(PgEvent::Join { group, pids, .. }) => {
                self.changed(ctx.node(), &group, pids.len(), 0)
            }
            Info::Msg(PgEvent::Leave { group, pids, .. }) => {
                self.changed(ctx.node(), &group, 0, pids.len())
            }
            _ => {}
        }
        Flow::Continue
    }
}
