//! Part 5, chat: the client protocol every node speaks on its client port,
//! and the cluster-wide names the grader reads.
//!
//! # The client protocol
//!
//! JSON lines over TCP: one JSON object per line, each way. A node prints
//! its client address in its readiness line and announces it in its ready
//! file under `client` (`node.signal_ready_with(&[("client", addr)])`).
//!
//! Every line a client sends is a [`Command`], tagged by `"type"`, with the
//! protocol version `"v"` (optional, [`VERSION`] if absent) and an optional
//! `"ref"` that the answer repeats:
//!
//! ```text
//! {"v":1,"type":"login","user":"alice"}
//! {"v":1,"type":"join","room":"general"}
//! {"v":1,"type":"say","room":"general","text":"hello","ref":"7"}
//! {"v":1,"type":"history","room":"general","limit":20}
//! {"v":1,"type":"history","room":"general","since":{"bob":3}}
//! ```
//!
//! Every line a node sends is an [`Event`], also tagged by `"type"`, with
//! `"v"`. Answers ([`Event::Ok`], [`Event::History`], [`Event::Who`],
//! [`Event::Presence`], [`Event::Error`]) repeat the command's `ref`; the
//! other events arrive whenever they happen:
//!
//! ```text
//! {"v":1,"type":"ok","re":"say","ref":"7","seq":4,"at":1767225600000123}
//! {"v":1,"type":"message","room":"general","from":"alice","text":"hello","seq":4,"at":1767225600000123}
//! {"v":1,"type":"error","code":"bad_json","reason":"expected value at line 1 column 1"}
//! ```
//!
//! A malformed line, an unknown command or a command out of turn gets an
//! [`Event::Error`]; the connection stays open. The node closes it only on
//! `logout`, when another login takes the user over, or when it stops.
//!
//! # What a client can count on
//!
//! - **Sequence numbers.** Each message of a room carries `seq`, numbered
//!   per sender within the room: 1, 2, 3, … for alice's messages in
//!   "general", whichever node served them. `(room, from, seq)` names a
//!   message uniquely.
//! - **Exactly once, in order per sender.** A session receives the messages
//!   of the rooms it joined, each once, and those of one sender in `seq`
//!   order. A session does not receive messages of a room it has not joined
//!   in this session, even if its user is a member.
//! - **Acknowledged means kept.** Once `ok` for a `say` has arrived, the
//!   message is in the room's history on at least two nodes (if the cluster
//!   has two): killing any one node does not lose it.
//! - **Resume.** `join` with `since` (the highest `seq` the client saw of
//!   each sender) first delivers every message of the room after those, in
//!   order, then the live ones: a client that reconnects to another node
//!   misses nothing and sees nothing twice.
//!
//! # Names in the cluster
//!
//! A logged-in user is one process registered with `:global` as
//! [`user_name`], on the node the client is connected to. A room is one
//! process registered as [`room_name`], with a replica on every other node
//! in the `:pg` group [`replica_group`] of scope [`SCOPE`]. The grader reads
//! them with the runtime's built-in rpc functions (`global:whereis_name`,
//! `pg:get_members`), so they must be exactly these names.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The protocol version this contract defines.
pub const VERSION: u32 = 1;

/// The `:pg` scope of the chat's groups.
pub const SCOPE: &str = "chat";

/// The longest line a node must accept (a longer one is an error event).
pub const MAX_LINE: usize = 16 * 1024;

/// The longest user or room name.
pub const MAX_NAME: usize = 32;

/// The longest message text, in bytes.
pub const MAX_TEXT: usize = 4000;

/// How many messages a room keeps (older ones are dropped from history).
pub const HISTORY_KEPT: usize = 1000;

/// The most messages a `search` answers.
pub const SEARCH_LIMIT: usize = 100;

/// How long a `search` waits for the other nodes before answering with
/// what it has.
pub const SEARCH_TIMEOUT_MS: u64 = 1000;

/// The `:global` name of user `user`'s process.
pub fn user_name(user: &str) -> String {
    format!("user:{user}")
}

/// The `:global` name of room `room`'s process.
pub fn room_name(room: &str) -> String {
    format!("room:{room}")
}

/// The `:pg` group (in [`SCOPE`]) of room `room`'s replicas.
pub fn replica_group(room: &str) -> String {
    format!("room_replica:{room}")
}

/// The `:pg` group (in [`SCOPE`]) of user `user`'s sessions: presence.
pub fn presence_group(user: &str) -> String {
    format!("online:{user}")
}

/// Whether `name` is a valid user or room name: 1 to [`MAX_NAME`] ASCII
/// letters, digits, `-` or `_`.
pub fn valid_name(name: &str) -> bool {
    (1..=MAX_NAME).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The highest `seq` seen of each sender in one room: a resume point.
pub type Cursor = BTreeMap<String, u64>;

/// One line from a client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Request {
    /// Protocol version; [`VERSION`] if absent.
    #[serde(default = "version")]
    pub v: u32,
    /// Repeated in the answer, so a client can match answers to commands.
    #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// The command.
    #[serde(flatten)]
    pub command: Command,
}

fn version() -> u32 {
    VERSION
}

/// What a client asks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Command {
    /// Start a session as `user` (taking over any other session of that
    /// user). Must come first.
    Login {
        /// The user's name ([`valid_name`]).
        user: String,
    },
    /// Become a member of `room` (creating it if needed) and receive its
    /// messages in this session. With `since`, first receive every message
    /// after that cursor.
    Join {
        /// The room ([`valid_name`]).
        room: String,
        /// Resume point: deliver the room's messages after it first.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        since: Option<Cursor>,
    },
    /// Stop being a member of `room`.
    Leave {
        /// The room.
        room: String,
    },
    /// Send `text` to every member of `room` (the sender included).
    Say {
        /// The room, which the user must have joined.
        room: String,
        /// The message (at most [`MAX_TEXT`] bytes).
        text: String,
    },
    /// A private message to one user, on any node.
    Pm {
        /// The recipient, who must be online.
        to: String,
        /// The message.
        text: String,
    },
    /// The room's messages: the last `limit` (default 50), or every one
    /// after `since`.
    History {
        /// The room.
        room: String,
        /// At most this many, the newest.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        limit: Option<usize>,
        /// Every message after this cursor (then `limit` is ignored).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        since: Option<Cursor>,
    },
    /// The members of `room`.
    Who {
        /// The room.
        room: String,
    },
    /// Whether each of `users` is online.
    Presence {
        /// The users asked about.
        users: Vec<String>,
    },
    /// End the session (the node closes the connection after `ok`).
    Logout {},
    /// Bonus: every message of every room, cluster-wide, whose text
    /// contains `text` (ignoring case). Answered within a bound, by every
    /// node that could answer in time ([`Event::Found`]).
    Search {
        /// What to look for (not empty).
        text: String,
    },
    /// Bonus: tell the other members of `room` that this user is typing.
    /// Ephemeral: never stored, never in history.
    Typing {
        /// The room, which the user must have joined.
        room: String,
    },
}

impl Command {
    /// The command's name, as in `"type"` (and in an `ok`'s `re`).
    pub fn name(&self) -> &'static str {
        match self {
            Command::Login { .. } => "login",
            Command::Join { .. } => "join",
            Command::Leave { .. } => "leave",
            Command::Say { .. } => "say",
            Command::Pm { .. } => "pm",
            Command::History { .. } => "history",
            Command::Who { .. } => "who",
            Command::Presence { .. } => "presence",
            Command::Logout {} => "logout",
            Command::Search { .. } => "search",
            Command::Typing { .. } => "typing",
        }
    }
}

/// One message of a room, as history and `message` events carry it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ChatMessage {
    /// The room.
    pub room: String,
    /// The sender.
    pub from: String,
    /// The text.
    pub text: String,
    /// The sender's sequence number in this room (1, 2, 3, …).
    pub seq: u64,
    /// When the room accepted it: microseconds since the Unix epoch, never
    /// lower than the message before it in the room's history.
    pub at: u64,
}

/// One line from a node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reply {
    /// Protocol version: [`VERSION`].
    pub v: u32,
    /// The `ref` of the command this answers, if it had one.
    #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// The event.
    #[serde(flatten)]
    pub event: Event,
}

/// What a node tells a client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// A command succeeded. For `say`, `seq` and `at` are the message's.
    Ok {
        /// The command's name.
        re: String,
        /// `say`: the message's sequence number.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        seq: Option<u64>,
        /// `say`: when the room accepted it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        at: Option<u64>,
    },
    /// A message of a room this session joined.
    Message(ChatMessage),
    /// A private message (to or from this user).
    Pm {
        /// The sender.
        from: String,
        /// The recipient.
        to: String,
        /// The text.
        text: String,
        /// When the sender's node accepted it (µs since the epoch).
        at: u64,
    },
    /// `user` became a member of `room`.
    Joined {
        /// The room.
        room: String,
        /// The new member.
        user: String,
    },
    /// `user` is no longer a member of `room`.
    Left {
        /// The room.
        room: String,
        /// The member who left.
        user: String,
    },
    /// A user came online (a session started on some node).
    Online {
        /// The user.
        user: String,
    },
    /// A user went offline (logged out, or their node went down).
    Offline {
        /// The user.
        user: String,
    },
    /// The answer to `history`: oldest first.
    History {
        /// The room.
        room: String,
        /// The messages.
        messages: Vec<ChatMessage>,
    },
    /// The answer to `who`: the members, sorted.
    Who {
        /// The room.
        room: String,
        /// Its members.
        users: Vec<String>,
    },
    /// The answer to `presence`.
    Presence {
        /// Each user asked about, and whether it is online.
        users: BTreeMap<String, bool>,
    },
    /// The answer to `search`: the matching messages of every room,
    /// oldest first, at most [`SEARCH_LIMIT`], and which nodes answered.
    Found {
        /// What was looked for.
        text: String,
        /// The matches.
        messages: Vec<ChatMessage>,
        /// The nodes that answered in time.
        answered: Vec<String>,
        /// The nodes that did not (down, paused, cut off): their rooms'
        /// matches may be missing.
        missing: Vec<String>,
    },
    /// `user` is typing in `room` (bonus).
    Typing {
        /// The room.
        room: String,
        /// Who is typing.
        user: String,
    },
    /// A command failed, or a line was not understood.
    Error {
        /// What kind of failure (see [`ErrorCode`]).
        code: ErrorCode,
        /// For a person: what happened and what to do.
        reason: String,
    },
}

/// The kinds of [`Event::Error`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The line is not JSON, or not a command this version knows.
    BadRequest,
    /// The `v` field names a version this node does not speak.
    Version,
    /// The command needs a session: log in first.
    NotLoggedIn,
    /// `login` in a session that has one.
    AlreadyLoggedIn,
    /// A user or room name, or a text, breaks the rules.
    Invalid,
    /// The room is unknown, or the user is not a member of it.
    NoSuchRoom,
    /// A private message to a user who is not online.
    Offline,
    /// The cluster could not serve it now (the room is failing over): retry.
    Unavailable,
    /// Another login took this user over (the connection closes next).
    Replaced,
    /// This node does not do that (a bonus it has not built).
    Unsupported,
    /// The node failed while serving it (a bug in the node, such as a
    /// `todo!()` not filled in): retrying will not help.
    Internal,
}

impl Reply {
    /// An event of this version, answering `reference`.
    pub fn new(reference: Option<String>, event: Event) -> Reply {
        Reply {
            v: VERSION,
            reference,
            event,
        }
    }

    /// The reply as one line of JSON, without its newline.
    pub fn to_line(&self) -> String {
        serde_json::to_string(self).expect("a reply always serializes")
    }
}

impl Request {
    /// A command of this version with no `ref`.
    pub fn new(command: Command) -> Request {
        Request {
            v: VERSION,
            reference: None,
            command,
        }
    }

    /// The request as one line of JSON, without its newline.
    pub fn to_line(&self) -> String {
        serde_json::to_string(self).expect("a request always serializes")
    }

    /// Parses one line; the error is an event to send back (boxed: an
    /// event is large, and the error path is the rare one).
    pub fn parse(line: &str) -> Result<Request, Box<Reply>> {
        let value: serde_json::Value = serde_json::from_str(line).map_err(|e| {
            Box::new(error(
                None,
                ErrorCode::BadRequest,
                format!("not JSON ({e}); send one JSON object per line"),
            ))
        })?;
        let reference = value
            .get("ref")
            .and_then(|r| r.as_str())
            .map(str::to_string);
        if let Some(v) = value.get("v") {
            if v.as_u64() != Some(u64::from(VERSION)) {
                return Err(Box::new(error(
                    reference,
                    ErrorCode::Version,
                    format!("this node speaks version {VERSION} of the protocol, not {v}"),
                )));
            }
        }
        serde_json::from_value(value).map_err(|e| {
            Box::new(error(
                reference,
                ErrorCode::BadRequest,
                format!("not a command of version {VERSION}: {e}"),
            ))
        })
    }
}

/// An error event answering `reference`.
pub fn error(reference: Option<String>, code: ErrorCode, reason: impl Into<String>) -> Reply {
    Reply::new(
        reference,
        Event::Error {
            code,
            reason: reason.into(),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_command_reads_with_or_without_version_and_ref() {
        let r = Request::parse(r#"{"type":"login","user":"alice"}"#).unwrap();
        assert_eq!(r.v, VERSION);
        assert_eq!(r.reference, None);
        assert_eq!(
            r.command,
            Command::Login {
                user: "alice".into()
            }
        );
        let r = Request::parse(r#"{"v":1,"ref":"x","type":"history","room":"a","since":{"b":2}}"#)
            .unwrap();
        assert_eq!(r.reference.as_deref(), Some("x"));
        let since = Cursor::from([("b".to_string(), 2)]);
        assert_eq!(
            r.command,
            Command::History {
                room: "a".into(),
                limit: None,
                since: Some(since)
            }
        );
        let back = Request::parse(&r.to_line()).unwrap();
        assert_eq!(back, r);
    }

    #[test]
    fn bad_lines_are_error_events_that_keep_the_ref() {
        for (line, code) in [
            ("hello", ErrorCode::BadRequest),
            (r#"{"type":"dance"}"#, ErrorCode::BadRequest),
            (r#"{"type":"login"}"#, ErrorCode::BadRequest),
            (
                r#"{"type":"login","user":"a","extra":1}"#,
                ErrorCode::BadRequest,
            ),
            (
                r#"{"v":2,"ref":"r","type":"login","user":"a"}"#,
                ErrorCode::Version,
            ),
        ] {
            let e = Request::parse(line).unwrap_err();
            match e.event {
                Event::Error { code: c, .. } => assert_eq!(c, code, "{line}"),
                other => panic!("{line}: {other:?}"),
            }
        }
        let e = Request::parse(r#"{"v":2,"ref":"r","type":"login","user":"a"}"#).unwrap_err();
        assert_eq!(e.reference.as_deref(), Some("r"));
    }

    #[test]
    fn events_are_flat_json_objects() {
        let m = Reply::new(
            None,
            Event::Message(ChatMessage {
                room: "general".into(),
                from: "alice".into(),
                text: "hi".into(),
                seq: 3,
                at: 10,
            }),
        );
        let v: serde_json::Value = serde_json::from_str(&m.to_line()).unwrap();
        assert_eq!(v["type"], "message");
        assert_eq!(v["v"], 1);
        assert_eq!(v["seq"], 3);
        assert_eq!(v["from"], "alice");
        let e = error(Some("9".into()), ErrorCode::NotLoggedIn, "log in first");
        let v: serde_json::Value = serde_json::from_str(&e.to_line()).unwrap();
        assert_eq!(v["code"], "not_logged_in");
        assert_eq!(v["ref"], "9");
    }

    #[test]
    fn names_follow_the_rules() {
        assert!(valid_name("alice_2"));
        assert!(!valid_name(""));
        assert!(!valid_name("a b"));
        assert!(!valid_name(&"x".repeat(MAX_NAME + 1)));
        assert_eq!(room_name("general"), "room:general");
        assert_eq!(replica_group("general"), "room_replica:general");
    }
}
