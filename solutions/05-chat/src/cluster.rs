//! The cluster monitor: says when nodes come and go, and gives every node
//! that connects a replica of each room this node hosts.

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
                for room in local_rooms(ctx.node()) {
                    let _ = gen_server::cast(ctx.node(), (ROOMS, &peer), &RoomsCast::Ensure(room));
                }
            }
            Info::NodeDown(peer, reason) => println!("nodedown {peer} {reason}"),
            _ => {}
        }
        Flow::Continue
    }
}
