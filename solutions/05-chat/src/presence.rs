//! Presence: who is online. A session is a member of its user's `:pg`
//! group (`contracts::chat::presence_group`) for as long as it lives, so
//! the groups are the truth on every node, and a node that goes down takes
//! its sessions out of them everywhere. This tracker follows the groups and
//! tells this node's sessions when a user comes online or goes offline.

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
    !pg::get_members(node, SCOPE, &presence_group(user)).is_empty()
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
        for other in self.sessions.keys().filter(|o| *o != user) {
            for pid in pg::get_local_members(node, SCOPE, &presence_group(other)) {
                let _ = gen_server::cast(node, &pid, &SessionCast::Presence(user.into(), online));
            }
        }
    }

    fn changed(&mut self, node: &Node, group: &str, joined: usize, left: usize) {
        let Some(user) = group.strip_prefix(&prefix()) else {
            return;
        };
        let before = self.sessions.get(user).copied().unwrap_or(0);
        let after = (before + joined).saturating_sub(left);
        if after == 0 {
            self.sessions.remove(user);
        } else {
            self.sessions.insert(user.to_string(), after);
        }
        if before == 0 && after > 0 {
            self.tell_local_sessions(node, user, true);
        } else if before > 0 && after == 0 {
            self.tell_local_sessions(node, user, false);
        }
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
