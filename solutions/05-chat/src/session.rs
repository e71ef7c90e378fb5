//! A user's session: one process per logged-in user, registered with
//! `:global` as `contracts::chat::user_name`, on the node the client is
//! connected to. It serves the client's commands, and passes on what rooms,
//! other users and the presence tracker send it, each room message once and
//! in order per sender.

use crate::history;
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
        if !self.joined.contains(&msg.room) {
            return true;
        }
        let last = self
            .seen
            .entry(msg.room.clone())
            .or_default()
            .entry(msg.from.clone())
            .or_insert(0);
        if msg.seq <= *last {
            return true;
        }
        *last = msg.seq;
        self.event(Event::Message(msg))
    }

    /// Calls the room's primary, waiting out a failover (bounded). A `say`
    /// whose room went down mid-call is not retried: it may have been kept.
    async fn room_call(
        &self,
        node: &Node,
        room: &str,
        call: RoomCall,
    ) -> Result<RoomReply, RoomError> {
        let retry_unclear = !matches!(call, RoomCall::Say { .. });
        let deadline = Instant::now() + FAILOVER_WAIT;
        let mut why = String::new();
        while Instant::now() < deadline {
            let Some(primary) = global::whereis_name(node, &room_name(room)) else {
                if node.whereis(&local_room_name(room)).is_none() {
                    return Err(RoomError::NoSuchRoom);
                }
                why = format!("room {room} has no primary yet (failing over)");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            };
            match gen_server::call::<_, RoomReply>(node, &primary, &call, ROOM_TIMEOUT).await {
                Ok(RoomReply::NotPrimary) => why = format!("{primary} is no longer the primary"),
                Ok(RoomReply::NotMember) => return Err(RoomError::NoSuchRoom),
                Ok(reply) => return Ok(reply),
                Err(CallError::NoProc) => why = format!("{primary} has exited"),
                Err(e @ CallError::NodeDown(_)) if retry_unclear => why = e.to_string(),
                Err(e) => return Err(RoomError::Unavailable(e.to_string())),
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err(RoomError::Unavailable(why))
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
            // Bonus: one request to every node's room directory at once,
            // each answering for the rooms whose primary it runs.
            Command::Search { text } if text.trim().is_empty() => {
                invalid(&r, "search text (it is empty)")
            }
            Command::Search { text } => Reply::new(r.clone(), search(node, text).await),
            // Bonus: ephemeral, so a cast to the room and nothing kept.
            Command::Typing { room } => {
                let typing = RoomCast::Typing(self.user.clone());
                if !self.joined.contains(&room) {
                    room_error(&room, RoomError::NoSuchRoom)
                } else if global::cast(node, &room_name(&room), &typing).is_err() {
                    room_error(&room, RoomError::Unavailable("no primary".into()))
                } else {
                    ok("typing")
                }
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

/// The messages containing `text` in every room of the cluster, from every
/// node that answers within `SEARCH_TIMEOUT_MS`.
async fn search(node: &Node, text: String) -> Event {
    let nodes = node.nodes_and_self();
    let call = RoomsCall::Search(text.to_lowercase());
    let within = Duration::from_millis(SEARCH_TIMEOUT_MS);
    let got = gen_server::multi_call::<_, RoomsReply>(node, &nodes, ROOMS, &call, within).await;
    let mut messages = vec![];
    let mut answered = vec![];
    for (from, reply) in got.replies {
        if let RoomsReply::Found(m) = reply {
            messages.extend(m);
        }
        answered.push(from.to_string());
    }
    messages.sort_by(|a, b| history::key(a).cmp(&history::key(b)));
    messages.dedup_by(|a, b| a.room == b.room && a.from == b.from && a.seq == b.seq);
    let extra = messages.len().saturating_sub(SEARCH_LIMIT);
    messages.drain(..extra);
    answered.sort();
    let mut missing: Vec<String> = got.bad_nodes.iter().map(ToString::to_string).collect();
    missing.sort();
    Event::Found {
        text,
        messages,
        answered,
        missing,
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
        let node = ctx.node();
        pg::join(node, SCOPE, &presence_group(&self.user), ctx.pid())
            .await
            .map_err(ExitReason::error)?;
        let name = user_name(&self.user);
        let old = global::whereis_name(node, &name);
        global::re_register_name_with(node, &name, ctx.pid(), Resolve::Notify).await;
        if let Some(old) = old.filter(|p| p != ctx.pid()) {
            let _ = gen_server::cast(node, &old, &SessionCast::Replaced);
        }
        Ok(())
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
