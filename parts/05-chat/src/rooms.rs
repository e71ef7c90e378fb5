//! The room directory of a node: starts this node's process of a room
//! (under the room supervisor) the first time the room is needed here, by a
//! session that joins it or by another node that hosts it.

use crate::protocol::{local_room_name, ROOM_SUP};
use crate::room::Room;
use netsplit::gen_server::{CallResponse, Caller, Flow, GenServer};
use netsplit::supervisor::{self, ChildSpec, Restart};
use netsplit::{Ctx, Node, Pid};
use serde::{Deserialize, Serialize};

/// Calls the directory serves.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub enum RoomsCall {
    /// This node's process of the room, started if needed.
    Ensure(String),
}

/// Casts the directory serves.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub enum RoomsCast {
    /// Another node hosts this room: host a replica here too.
    Ensure(String),
}

/// The directory (registered as `protocol::ROOMS`).
#[derive(Default)]
pub struct Rooms;

/// The rooms this node has a process of, sorted.
pub fn local_rooms(node: &Node) -> Vec<String> {
    let prefix = local_room_name("");
    let mut rooms: Vec<String> = node
        .registered()
        .into_iter()
        .filter_map(|n| n.strip_prefix(&prefix).map(str::to_string))
        .collect();
    rooms.sort();
    rooms
}

/// This node's process of `room`, started if it has none.
async fn ensure(node: &Node, room: &str) -> Option<Pid> {
    let local = local_room_name(room);
    if let Some(pid) = node.whereis(&local) {
        return Some(pid);
    }
    let name = room.to_string();
    let spec = ChildSpec::gen_server(local.clone(), Some(&local), move || Room::new(&name))
        .restart(Restart::Permanent);
    match supervisor::start_child(node, ROOM_SUP, spec).await {
        Ok(pid) => Some(pid),
        Err(e) => {
            tracing::warn!("cannot start room {room}: {e}");
            node.whereis(&local)
        }
    }
}

impl GenServer for Rooms {
    type Call = RoomsCall;
    type Reply = Option<Pid>;
    type Cast = RoomsCast;
    type Info = ();

    async fn handle_call(
        &mut self,
        RoomsCall::Ensure(room): RoomsCall,
        _from: Caller<Option<Pid>>,
        ctx: &Ctx,
    ) -> CallResponse<Option<Pid>> {
        CallResponse::Reply(ensure(ctx.node(), &room).await)
    }

    async fn handle_cast(&mut self, RoomsCast::Ensure(room): RoomsCast, ctx: &Ctx) -> Flow {
        ensure(ctx.node(), &room).await;
        Flow::Continue
    }
}
