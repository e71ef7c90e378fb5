//! The cluster monitor: says when nodes come and go, and gives every node
//! that connects a replica of each room this node hosts.
//!
//! Lesson: docs/src/part-5-chat.md, "Problem 2, replicas".

// Until every hole below is filled in, some imports and arguments are
// unused. Delete this line when you are done: the compiler's warnings then
// help you check your work (an import your own code does not need is one of
// them: delete it too).
#![allow(unused)]

use crate::protocol::ROOMS;
use crate::rooms::{local_rooms, RoomsCast};
use netsplit::gen_server::{self, Flow, GenServer, Info};
use netsplit::{Ctx, ExitReason};

/// The monitor (registered as `protocol::CLUSTER`).
#[derive(Default)]
pub struct ClusterMonitor;

impl GenServer for ClusterMonitor {
    type Call = ();
    type Reply = ();
    type Cast = ();
    type Info = ();

    async fn init(&mut self, ctx: &Ctx) -> Result<(), ExitReason> {
        ctx.monitor_nodes(true);
        Ok(())
    }

    async fn handle_info(&mut self, info: Info<()>, ctx: &Ctx) -> Flow {
        match info {
            Info::NodeUp(peer) => {
                println!("nodeup {peer}");
                // TODO Problem 2 (docs/src/part-5-chat.md, "Problem 2, replicas"): {peer}
                // connected: ask its room directory (ROOMS) to host every room this node
                // hosts (RoomsCast::Ensure).
            }
            Info::NodeDown(peer, reason) => println!("nodedown {peer} {reason}"),
            _ => {}
        }
        Flow::Continue
    }
}
