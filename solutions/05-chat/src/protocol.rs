//! What the processes of this part say to each other. The client protocol
//! (what a node says to its clients) is `contracts::chat`.

use contracts::chat::{ChatMessage, Cursor};
use netsplit::Pid;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::time::{SystemTime, UNIX_EPOCH};

/// The local name of every node's room directory (`rooms.rs`).
pub const ROOMS: &str = "chat_rooms";

/// The local name of every node's dynamic supervisor of rooms.
pub const ROOM_SUP: &str = "chat_room_sup";

/// The local name of every node's dynamic supervisor of sessions.
pub const USER_SUP: &str = "chat_user_sup";

/// The local name of every node's presence tracker (`presence.rs`).
pub const PRESENCE: &str = "chat_presence";

/// The local name of every node's cluster monitor (`cluster.rs`).
pub const CLUSTER: &str = "chat_cluster";

/// The local name of room `room`'s process on this node (primary or
/// replica: every node that knows the room runs one).
pub fn local_room_name(room: &str) -> String {
    format!("room_local:{room}")
}

/// Everything a room is: what replicas copy, what a promoted replica
/// starts from, what two rooms merge after a partition.
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq, Eq)]
pub struct RoomState {
    /// Who is a member (by user name: a member stays one across sessions).
    pub members: BTreeSet<String>,
    /// The messages.
    pub history: crate::history::History,
}

/// Calls a room serves. The first five come from sessions and only the
/// primary serves them; `Apply` and `State` go from a primary to its
/// replicas.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub enum RoomCall {
    /// Make `user` a member; with `since`, answer the messages after it.
    Join {
        /// Who joins.
        user: String,
        /// Resume point.
        since: Option<Cursor>,
    },
    /// `user` is no longer a member.
    Leave {
        /// Who leaves.
        user: String,
    },
    /// `user` says `text`.
    Say {
        /// The sender (a member).
        user: String,
        /// The text.
        text: String,
    },
    /// The last `limit` messages, or those after `since`.
    History {
        /// How many, at most.
        limit: usize,
        /// Or after this.
        since: Option<Cursor>,
    },
    /// The members.
    Who,
    /// Replica: apply this change (answered `Ack` once applied).
    Apply(Op),
    /// Replica: your whole state (a promoted replica collects them).
    State,
    /// The messages whose text contains this (lowercase), if this process
    /// is the primary; none from a replica, so each room answers once.
    Search(String),
}

/// A room's answers.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub enum RoomReply {
    /// Done.
    Ok,
    /// Joined: the messages after `since` (oldest first), and the cursor
    /// the session starts from (`since`, or the room as it is now).
    Joined(Vec<ChatMessage>, Cursor),
    /// The message as the room numbered and stamped it.
    Said(ChatMessage),
    /// Numbered and stamped, but no replica confirmed its copy in time:
    /// not acknowledged (it may be kept, or lost with this node).
    Unconfirmed(ChatMessage),
    /// Messages, oldest first.
    Messages(Vec<ChatMessage>),
    /// The members, sorted.
    Members(Vec<String>),
    /// Replica: applied.
    Ack,
    /// Replica: its state.
    State(RoomState),
    /// The user is not a member (say, leave).
    NotMember,
    /// This process is a replica: ask the primary (`:global`).
    NotPrimary,
}

/// A change a primary sends its replicas.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// A member joined (`true`) or left (`false`).
    Member(String, bool),
    /// A new message.
    Message(ChatMessage),
    /// Replace your state with this one (a new replica, after a merge).
    Snapshot(RoomState),
}

/// Casts a room serves.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub enum RoomCast {
    /// Find the primary, or become it (sent to itself after start).
    Track,
    /// A replica asks its primary for a snapshot.
    SyncMe(Pid),
    /// The loser of a name clash hands its state to the winner.
    Merge(RoomState),
    /// This member is typing: tell the others (bonus; never stored).
    Typing(String),
}

/// Casts a session serves.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub enum SessionCast {
    /// A line from the session's client that parsed as a command (sent by
    /// `client.rs`; the line itself, as the contract's types travel as JSON
    /// only).
    Command(String),
    /// A message of a room (from the room's primary).
    Deliver(ChatMessage),
    /// A member joined or left a room.
    Member {
        /// The room.
        room: String,
        /// The member.
        user: String,
        /// Joined (`true`) or left.
        joined: bool,
    },
    /// A private message for this user.
    Pm {
        /// The sender.
        from: String,
        /// The text.
        text: String,
        /// When the sender's node accepted it.
        at: u64,
    },
    /// A user came online (`true`) or went offline (from `presence.rs`).
    Presence(String, bool),
    /// Another session of this user logged in: tell the client and stop.
    Replaced,
    /// A member of a room is typing (bonus).
    Typing {
        /// The room.
        room: String,
        /// Who.
        user: String,
    },
}

/// Microseconds since the Unix epoch: the clock of messages' `at`.
pub fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}
