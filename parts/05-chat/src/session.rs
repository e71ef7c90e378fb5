//! A user's session: one process per logged-in user, registered with
//! `:global` as `contracts::chat::user_name`, on the node the client is
//! connected to. It serves the client's commands, and passes on what rooms,
//! other users and the presence tracker send it, each room message once and
//! in order per sender.
//!
//! Lesson: docs/src/part-5-chat.md, "Problem 1, a chat on one node" and "Problem 3, failover".

// Until every hole below is filled in, some imports and arguments are
// unused. Delete this line when you are done: the compiler's warnings then
// help you check your work (an import your own code does not need is one of
// them: delete it too).
#![allow(unused)]

use crate::presence::is_online;
use crate::protocol::{local_room_name, now_us, RoomCall, RoomCast, RoomReply, SessionCast, ROOMS};
use crate::rooms::{RoomsCall, RoomsReply};
use contracts::chat::{
    error, presence_group, room_name, user_name, valid_name, ChatMessage, Command, Cursor,
    ErrorCode, Event, Reply, Request, MAX_TEXT, SCOPE, SEARCH_LIMIT, SEARCH_TIMEOUT_MS,
};
use netsplit::gen_server::{self, CallError, Flow, GenServer, Info};
use netsplit::global::{self, GlobalNameConflict, Resolve};
use netsplit::{pg, Ctx, ExitReason, Node};
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// How long one call to a room may take (it waits for the room's replicas).
const ROOM_TIMEOUT: Duration = Duration::from_secs(3);

/// How long a command waits for a room that is failing over.
const FAILOVER_WAIT: Duration = Duration::from_secs(3);

/// How many messages `history` gives without a `limit`.
const DEFAULT_LIMIT: usize = 50;

/// One user's session.
pub struct Session {
    user: String,
    /// Lines to the client (`client.rs` writes them).
    out: mpsc::Sender<String>,
    /// Rooms joined in this session: only their messages are passed on.
    joined: BTreeSet<String>,
    /// The highest `seq` passed on, per room and sender.
    seen: BTreeMap<String, Cursor>,
}

/// Why a room could not answer.
enum RoomError {
    /// No such room, or not a member.
    NoSuchRoom,
    /// It may have been done or not (its node went down mid-call), or the
    /// room is failing over: the client may retry.
    Unavailable(String),
}

impl Session {
    /// The session of `user`, writing to its client through `out`.
    pub fn new(user: String, out: mpsc::Sender<String>) -> Session {
        Session {
            user,
            out,
            joined: BTreeSet::new(),
            seen: BTreeMap::new(),
        }
    }

    /// Sends one line to the client. False if the client cannot take it
    /// (gone, or so slow its queue is full): the session then ends.
    fn send(&self, reply: Reply) -> bool {
        self.out.try_send(reply.to_line()).is_ok()
    }

    fn event(&self, event: Event) -> bool {
        self.send(Reply::new(None, event))
    }

    /// Passes on a room message unless the session has not joined the room
    /// or has passed it on already.
    fn pass_on(&mut self, msg: ChatMessage) -> bool {
        todo!(
            "Problem 1 (docs/src/part-5-chat.md, 'Problem 1, a chat on one node'): \
             send a room message to the client (self.event) if this session joined \
             its room and has not passed it on already: per room and sender, only a \
             seq above the last one passed on (self.seen). Return false if the client \
             cannot take it"
        )
    }

    /// Calls the room's primary, waiting out a failover (bounded). A `say`
    /// whose room went down mid-call is not retried: it may have been kept.
    async fn room_call(
        &self,
        node: &Node,
        room: &str,
        call: RoomCall,
    ) -> Result<RoomReply, RoomError> {
        todo!(
            "Problem 1 (docs/src/part-5-chat.md, 'Problem 1, a chat on one node'): \
             find the room's primary by its :global name and call it (ROOM_TIMEOUT). \
             While the room has no primary but a process on this node (failing over), \
             or answers NotPrimary or NoProc, wait a little and try again, up to \
             FAILOVER_WAIT. NotMember, or no room at all, is NoSuchRoom. Never retry \
             a Say whose call failed otherwise: it may have been kept"
        )
    }

    /// Makes sure a room exists (this node's process of it is started) and
    /// has a primary somewhere.
    async fn open_room(&self, node: &Node, room: &str) {
        let _ = gen_server::call::<_, RoomsReply>(
            node,
            ROOMS,
            &RoomsCall::Ensure(room.to_string()),
            ROOM_TIMEOUT,
        )
        .await;
    }

    /// Serves one command; the answer repeats its `ref`.
    async fn command(&mut self, ctx: &Ctx, req: Request) -> Flow {
        let node = ctx.node();
        let r = req.reference.clone();
        let ok = |re: &str| Reply::new(r.clone(), ok_event(re));
        let room_error = |room: &str, e: RoomError| match e {
            RoomError::NoSuchRoom => error(
                r.clone(),
                ErrorCode::NoSuchRoom,
                format!("{room}: no such room, or you are not a member (join it first)"),
            ),
            RoomError::Unavailable(why) => error(
                r.clone(),
                ErrorCode::Unavailable,
                format!("{room} cannot answer now ({why}); retry"),
            ),
        };
        let reply = match req.command {
            Command::Login { .. } => error(
                r.clone(),
                ErrorCode::AlreadyLoggedIn,
                format!("this session is {}'s already", self.user),
            ),
            Command::Join { room, since } => {
                if !valid_name(&room) {
                    invalid(&r, "a room name")
                } else {
                    self.open_room(node, &room).await;
                    let call = RoomCall::Join {
                        user: self.user.clone(),
                        since,
                    };
                    match self.room_call(node, &room, call).await {
                        Ok(RoomReply::Joined(backlog, cursor)) => {
                            self.joined.insert(room.clone());
                            self.seen.insert(room.clone(), cursor);
                            for msg in backlog {
                                if !self.pass_on(msg) {
                                    return Flow::Stop(ExitReason::Normal);
                                }
                            }
                            ok("join")
                        }
                        Ok(other) => unexpected(&r, &other),
                        Err(e) => room_error(&room, e),
                    }
                }
            }
            Command::Leave { room } => {
                let call = RoomCall::Leave {
                    user: self.user.clone(),
                };
                match self.room_call(node, &room, call).await {
                    Ok(_) => {
                        self.joined.remove(&room);
                        self.seen.remove(&room);
                        ok("leave")
                    }
                    Err(e) => room_error(&room, e),
                }
            }
            Command::Say { room, text } => {
                if text.len() > MAX_TEXT {
                    invalid(&r, &format!("a text (at most {MAX_TEXT} bytes)"))
                } else {
                    let call = RoomCall::Say {
                        user: self.user.clone(),
                        text,
                    };
                    match self.room_call(node, &room, call).await {
                        Ok(RoomReply::Unconfirmed(msg)) => error(
                            r.clone(),
                            ErrorCode::Unavailable,
                            format!(
                                "{room}: no other node confirmed a copy of your message #{} in \
                                 time; it may or may not be kept",
                                msg.seq
                            ),
                        ),
                        Ok(RoomReply::Said(msg)) => Reply::new(
                            r.clone(),
                            Event::Ok {
                                re: "say".into(),
                                seq: Some(msg.seq),
                                at: Some(msg.at),
                            },
                        ),
                        Ok(other) => unexpected(&r, &other),
                        Err(e) => room_error(&room, e),
                    }
                }
            }
            Command::Pm { to, text } => {
                let pm = SessionCast::Pm {
                    from: self.user.clone(),
                    text,
                    at: now_us(),
                };
                if !valid_name(&to) {
                    invalid(&r, "a user name")
                } else if global::cast(node, &user_name(&to), &pm).is_err() {
                    error(r.clone(), ErrorCode::Offline, format!("{to} is not online"))
                } else {
                    ok("pm")
                }
            }
            Command::History { room, limit, since } => {
                let call = RoomCall::History {
                    limit: limit.unwrap_or(DEFAULT_LIMIT),
                    since,
                };
                match self.room_call(node, &room, call).await {
                    Ok(RoomReply::Messages(messages)) => {
                        Reply::new(r.clone(), Event::History { room, messages })
                    }
                    Ok(other) => unexpected(&r, &other),
                    Err(e) => room_error(&room, e),
                }
            }
            Command::Who { room } => match self.room_call(node, &room, RoomCall::Who).await {
                Ok(RoomReply::Members(users)) => Reply::new(r.clone(), Event::Who { room, users }),
                Ok(other) => unexpected(&r, &other),
                Err(e) => room_error(&room, e),
            },
            Command::Presence { users } => {
                let users = users
                    .into_iter()
                    .map(|u| {
                        let online = is_online(node, &u);
                        (u, online)
                    })
                    .collect();
                Reply::new(r.clone(), Event::Presence { users })
            }
            Command::Logout {} => {
                self.send(ok("logout"));
                return Flow::Stop(ExitReason::Normal);
            }
            Command::Search { .. } | Command::Typing { .. } => {
                // TODO Bonus (docs/src/part-5-chat.md, "Bonus challenges"): search asks
                // every node's room directory at once (RoomsCall::Search, multi_call,
                // SEARCH_TIMEOUT_MS) and answers Event::Found; typing casts RoomCast::Typing
                // to the room.
                error(
                    r.clone(),
                    ErrorCode::Unsupported,
                    "this node does not do search or typing yet (a bonus)",
                )
            }
        };
        if self.send(reply) {
            Flow::Continue
        } else {
            Flow::Stop(ExitReason::Normal)
        }
    }

    /// Tells the client another session took over, and ends this one.
    fn replaced(&self) -> Flow {
        self.send(error(
            None,
            ErrorCode::Replaced,
            format!("{} logged in elsewhere; this session ends", self.user),
        ));
        Flow::Stop(ExitReason::Normal)
    }
}

fn ok_event(re: &str) -> Event {
    Event::Ok {
        re: re.to_string(),
        seq: None,
        at: None,
    }
}

fn invalid(r: &Option<String>, what: &str) -> Reply {
    error(
        r.clone(),
        ErrorCode::Invalid,
        format!("not a valid {what}: names are 1 to 32 letters, digits, - or _"),
    )
}

fn unexpected(r: &Option<String>, reply: &RoomReply) -> Reply {
    error(
        r.clone(),
        ErrorCode::Unavailable,
        format!("the room gave an unexpected answer ({reply:?}); retry"),
    )
}

impl GenServer for Session {
    type Call = ();
    type Reply = ();
    type Cast = SessionCast;
    type Info = GlobalNameConflict;

    /// Logs in: online first (so a takeover never shows the user offline),
    /// then the name, taken from any older session, which is told to end.
    async fn init(&mut self, ctx: &Ctx) -> Result<(), ExitReason> {
        todo!(
            "Problem 1 (docs/src/part-5-chat.md, 'Problem 1, a chat on one node'): \
             log in: join the user's presence group (presence_group, scope SCOPE), \
             then take the user's :global name with re_register_name \
             (Resolve::Notify) and tell the session that had it, if any, that it was \
             replaced (SessionCast::Replaced)"
        )
    }

    async fn handle_cast(&mut self, cast: SessionCast, ctx: &Ctx) -> Flow {
        let delivered = match cast {
            SessionCast::Command(line) => match Request::parse(&line) {
                Ok(req) => return self.command(ctx, req).await,
                Err(reply) => self.send(*reply),
            },
            SessionCast::Deliver(msg) => self.pass_on(msg),
            SessionCast::Member { room, user, joined } => {
                if !self.joined.contains(&room) {
                    true
                } else if joined {
                    self.event(Event::Joined { room, user })
                } else {
                    self.event(Event::Left { room, user })
                }
            }
            SessionCast::Pm { from, text, at } => self.event(Event::Pm {
                from,
                to: self.user.clone(),
                text,
                at,
            }),
            SessionCast::Presence(user, true) => self.event(Event::Online { user }),
            SessionCast::Presence(user, false) => self.event(Event::Offline { user }),
            SessionCast::Replaced => return self.replaced(),
            SessionCast::Typing { room, user } if self.joined.contains(&room) => {
                self.event(Event::Typing { room, user })
            }
            SessionCast::Typing { .. } => true,
        };
        if delivered {
            Flow::Continue
        } else {
            Flow::Stop(ExitReason::Normal)
        }
    }

    async fn handle_info(&mut self, info: Info<GlobalNameConflict>, _ctx: &Ctx) -> Flow {
        match info {
            // Two partitions each had a session of this user; the other keeps the name.
            Info::Msg(_) => self.replaced(),
            _ => Flow::Continue,
        }
    }
}
