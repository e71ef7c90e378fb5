//! The room directory of a node: starts this node's process of a room
//! (under the room supervisor) the first time the room is needed here, by a
//! session that joins it or by another node that hosts it.

use crate::protocol::{local_room_name, RoomCall, RoomReply, ROOM_SUP};
use crate::room::Room;
use contracts::chat::ChatMessage;
use netsplit::gen_server::{self, CallResponse, Caller, Flow, GenServer};
use netsplit::supervisor::{self, ChildSpec, Restart};
use netsplit::{Ctx, Node, Pid};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Calls the directory serves.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub enum RoomsCall {
    /// This node's process of the room, started if needed.
    Ensure(String),
    /// The messages containing this text (lowercase) in the rooms whose
    /// primary runs on this node (a search asks every node).
    Search(String),
}

/// The directory's answers.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub enum RoomsReply {
    /// This node's process of the room (`None`: it could not start).
    Room(Option<Pid>),
    /// Matches, room by room.
    Found(Vec<ChatMessage>),
}

/// How long the directory waits for one room's matches.
const SEARCH_ONE_ROOM: Duration = Duration::from_millis(500);

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

/// The matches of `text` in this node's rooms (their primaries answer).
async fn search(node: &Node, text: String) -> Vec<ChatMessage> {
    let mut found = vec![];
    for room in local_rooms(node) {
        let Some(pid) = node.whereis(&local_room_name(&room)) else {
            continue;
        };
        let call = RoomCall::Search(text.clone());
        let got = gen_server::call(node, &pid, &call, SEARCH_ONE_ROOM).await;
        if let Ok(RoomReply::Messages(m)) = got {
            found.extend(m);
        }
    }
    found
}

impl GenServer for Rooms {
    type Call = RoomsCall;
    type Reply = RoomsReply;
    type Cast = RoomsCast;
    type Info = ();

    async fn handle_call(
        &mut self,
        call: RoomsCall,
        _from: Caller<RoomsReply>,
        ctx: &Ctx,
    ) -> CallResponse<RoomsReply> {
        CallResponse::Reply(match call {
            RoomsCall::Ensure(room) => RoomsReply::Room(ensure(ctx.node(), &room).await),
            RoomsCall::Search(text) => RoomsReply::Found(search(ctx.node(), text).await),
        })
    }

    async fn handle_cast(&mut self, RoomsCast::Ensure(room): RoomsCast, ctx: &Ctx) -> Flow {
        ensure(ctx.node(), &room).await;
        Flow::Continue
    }
}
