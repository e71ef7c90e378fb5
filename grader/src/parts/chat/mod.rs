//! Part 5, chat: users and rooms as cluster-wide processes, rooms
//! replicated on every node, failover, heal, resume, presence.
//!
//! The grader is the chat's users: each `User` is a client connection
//! to one node's client port, speaking the contract's JSON lines. Every
//! message a user's `say` got an `ok` for goes in the stage's `Ledger`;
//! the stages then check, from the clients' event streams alone, that each
//! acknowledged message reached every member once, in order per sender,
//! through kills and partitions. The cluster's names are read with the
//! runtime's built-in rpcs (`global:whereis_name`, `pg:get_members`) on
//! each node, so disagreeing views show. One module per stage.

mod failover;
mod history;
mod names;
mod partition;
mod pm;
mod presence;
mod protocol;
mod replicas;
mod restart;
mod resume;
mod search;
mod talk;
mod typing;

use crate::harness::{ClusterView, Harness, StageError};
use crate::part::{Part, StageDef};
use crate::probes::lines::{Event as Line, LineClient};
use contracts::chat::{room_name, ChatMessage, Command, Cursor, Event, Reply, Request};
use futures::FutureExt;
use netsplit::Pid;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

/// The part, with its eleven stages (80 points; the rubric's 20 points of
/// code quality are the instructor's, see [`INSTRUCTOR`]) and two bonus
/// stages, scored apart.
pub fn part() -> Part {
    Part::new(5, "chat")
        .instructor_points(INSTRUCTOR)
        .stages(vec![
        StageDef {
            name: "Protocol",
            points: 5,
            goal: "one node: login, join, say, history, who, logout; a bad line is an error event, never a closed connection",
            hint: "Problem 1: History::append numbers each sender's messages 1, 2, 3 in the room; \
                   the room sends each message to every member; a session passes on the \
                   messages of the rooms it joined.",
            lesson_anchor: "problem-1-a-chat-on-one-node",
            run: |h| protocol::stage(h).boxed(),
        },
        StageDef {
            name: "Talk across nodes",
            points: 15,
            goal: "users on three nodes share a room: every message reaches every member once, in order per sender",
            hint: "Problem 1: the room is found by its :global name (room:NAME) from any node, \
                   and sends each message to each member's :global name (user:NAME): nothing \
                   else changes across nodes.",
            lesson_anchor: "problem-1-a-chat-on-one-node",
            run: |h| talk::stage(h).boxed(),
        },
        StageDef {
            name: "Global names",
            points: 5,
            goal: "one room however many nodes create it at once; a user's name is on its client's node; a second login takes over",
            hint: "Problem 1: take a room's name with register_name and let it decide (exactly one \
                   wins, the others follow it); a login takes user:NAME with re_register_name \
                   and tells the old session it was replaced.",
            lesson_anchor: "problem-1-a-chat-on-one-node",
            run: |h| names::stage(h).boxed(),
        },
        StageDef {
            name: "Replicas",
            points: 10,
            goal: "every node has a replica of each room in its :pg group, a node that joins later too",
            hint: "Problem 2: every room process is in the group room_replica:NAME (scope chat); \
                   the cluster monitor asks each node that comes up to start the rooms this \
                   node hosts.",
            lesson_anchor: "problem-2-replicas",
            run: |h| replicas::stage(h).boxed(),
        },
        StageDef {
            name: "History",
            points: 5,
            goal: "the last N messages and every message after a cursor, in order, from any node",
            hint: "Problem 1: History::last gives the newest N, oldest first; History::since the \
                   messages above the cursor's seq for their sender.",
            lesson_anchor: "problem-1-a-chat-on-one-node",
            run: |h| history::stage(h).boxed(),
        },
        StageDef {
            name: "Private messages",
            points: 5,
            goal: "a pm reaches a user on another node once; a pm to someone offline is an error",
            hint: "Problem 1: a pm is a cast to the recipient's :global name; no such name means \
                   the user is offline.",
            lesson_anchor: "problem-1-a-chat-on-one-node",
            run: |h| pm::stage(h).boxed(),
        },
        StageDef {
            name: "Presence",
            points: 10,
            goal: "users of a dead node go offline everywhere, and online again when they reconnect",
            hint: "Problem 4: a session is a member of online:USER while it lives; the presence \
                   tracker follows the scope's groups (pg::monitor_scope) and tells this node's \
                   sessions when a group fills or empties.",
            lesson_anchor: "problem-4-presence",
            run: |h| presence::stage(h).boxed(),
        },
        StageDef {
            name: "Failover",
            points: 8,
            goal: "the room's node killed: a replica takes the name with every member and every acknowledged message",
            hint: "Problems 2 and 3: the primary copies each change to every replica before it \
                   answers; a replica that sees its primary die registers the name itself, \
                   gathers the other copies and sends the members the last messages again \
                   (a session drops what it has).",
            lesson_anchor: "problem-3-failover",
            run: |h| failover::stage(h).boxed(),
        },
        StageDef {
            name: "Restart",
            points: 4,
            goal: "the killed node comes back: still one room, and its replica has the whole history",
            hint: "Problem 3: a room process that starts finds the primary by name and follows \
                   it, asking for a snapshot: its copy must hold the whole history, not only \
                   what is said after.",
            lesson_anchor: "problem-3-failover",
            run: |h| restart::stage(h).boxed(),
        },
        StageDef {
            name: "Partition and heal",
            points: 8,
            goal: "both sides keep talking; after the heal one room remains, with both histories merged, nothing twice",
            hint: "Problem 5: register rooms with Resolve::Notify; the loser of the clash hands \
                   its state to the winner, which merges the histories by (from, seq) and sends \
                   each side the messages it missed.",
            lesson_anchor: "problem-5-partitions",
            run: |h| partition::stage(h).boxed(),
        },
        StageDef {
            name: "Resume",
            points: 5,
            goal: "a user whose node died reconnects elsewhere and misses nothing, sees nothing twice",
            hint: "Problem 3: a join with `since` answers the messages after the cursor, which \
                   the session passes on before anything live, each (room, sender, seq) once.",
            lesson_anchor: "problem-3-failover",
            run: |h| resume::stage(h).boxed(),
        },
    ])
    .bonus(vec![
        StageDef {
            name: "Search",
            points: 5,
            goal: "one search finds the matches of every room on every node, and answers in bounded time when a node is paused",
            hint: "Bonus: multi_call every node's room directory (RoomsCall::Search) with \
                   SEARCH_TIMEOUT_MS; each answers for the rooms whose primary it runs; \
                   merge, and name the nodes that did not answer.",
            lesson_anchor: "bonus-challenges",
            run: |h| search::stage(h).boxed(),
        },
        StageDef {
            name: "Typing",
            points: 5,
            goal: "a member typing is shown to the room's other members only, and never stored",
            hint: "Bonus: cast RoomCast::Typing to the room; its primary casts SessionCast::Typing \
                   to every other member; nothing goes in the history.",
            lesson_anchor: "bonus-challenges",
            run: |h| typing::stage(h).boxed(),
        },
    ])
}

/// The rubric's code-quality points, which no stage can measure.
pub const INSTRUCTOR: crate::part::InstructorPoints = crate::part::InstructorPoints {
    points: 20,
    what: "code quality: clean architecture (10), error handling (5), documentation (5)",
    lesson_anchor: "code-quality-the-instructors-20-points",
};

/// The three nodes most stages run.
pub(crate) const THREE: [&str; 3] = ["n1", "n2", "n3"];

/// How long a message may take to reach every member.
pub(crate) const DELIVERY: Duration = Duration::from_secs(5);

/// How long one command may take to be answered.
const ANSWER: Duration = Duration::from_secs(5);

/// How long a failover may take, from the kill to a room that answers.
pub(crate) const FAILOVER: Duration = Duration::from_secs(8);

/// Starts chat nodes (the client port on a free port), meshes them, and
/// waits until their `:global` tables are merged: until then a name
/// registered on one node may not be on the others yet, and no stage
/// should start before the cluster has settled.
pub(crate) async fn start(h: &mut Harness, shorts: &[&str]) -> Result<(), StageError> {
    start_nodes(h, shorts).await?;
    if shorts.len() > 1 {
        h.mesh(shorts).await?;
        settle(h, shorts).await?;
    }
    Ok(())
}

/// Waits (bounded) until each of `shorts` has merged its `:global` names
/// with every node it is connected to (the runtime's `global:sync`).
pub(crate) async fn settle(h: &mut Harness, shorts: &[&str]) -> Result<(), StageError> {
    for s in shorts {
        let synced: Result<(), _> = h.rpc(s, "global", "sync", &()).await;
        if let Err(e) = synced {
            return Err(h
                .liveness(format!("{s} merges its :global names with the cluster's"))
                .expected("global:sync answered")
                .actual(e)
                .fails());
        }
    }
    Ok(())
}

/// Starts chat nodes without connecting them to each other. Public for
/// the terminal client's test, which starts nodes the way the stages do.
pub async fn start_nodes(h: &mut Harness, shorts: &[&str]) -> Result<(), StageError> {
    h.start_nodes_with(shorts, |_| vec!["--client".into(), "127.0.0.1:0".into()])
        .await
}

/// Every message acknowledged by an `ok` in a stage.
#[derive(Debug, Default, Clone)]
pub(crate) struct Ledger(pub(crate) Vec<ChatMessage>);

/// A user of the chat: one client connection at a time, and every event
/// each of its connections received.
pub(crate) struct User {
    pub(crate) name: String,
    pub(crate) node: String,
    client: LineClient,
    /// The events of earlier connections (before a reconnect).
    past: Vec<Line>,
    refs: u64,
}

/// An answer that came back as an error event.
pub(crate) struct Refused {
    pub(crate) code: String,
    pub(crate) line: String,
}

impl User {
    /// Connects `name` to node `node` and logs in.
    pub(crate) async fn login(h: &mut Harness, node: &str, name: &str) -> Result<User, StageError> {
        let client = h.line_client(node).await?;
        let mut user = User {
            name: name.to_string(),
            node: node.to_string(),
            client,
            past: vec![],
            refs: 0,
        };
        user.must(
            h,
            Command::Login {
                user: name.to_string(),
            },
        )
        .await?;
        Ok(user)
    }

    /// Connects again, to node `node` (the old connection is dropped), and
    /// logs in.
    pub(crate) async fn reconnect(
        &mut self,
        h: &mut Harness,
        node: &str,
    ) -> Result<(), StageError> {
        let client = h.line_client(node).await?;
        let old = std::mem::replace(&mut self.client, client);
        self.past.extend(old.events());
        self.node = node.to_string();
        let name = self.name.clone();
        self.must(h, Command::Login { user: name }).await?;
        Ok(())
    }

    /// Sends `command` with a fresh ref, without waiting; the ref is what
    /// [`User::answer`] waits for.
    pub(crate) async fn send(
        &mut self,
        h: &mut Harness,
        command: Command,
    ) -> Result<String, StageError> {
        self.refs += 1;
        let reference = format!("{}-{}", self.name, self.refs);
        let what = command.name();
        let mut req = Request::new(command);
        req.reference = Some(reference.clone());
        match self.client.send_line(&req.to_line()).await {
            Ok(()) => Ok(reference),
            Err(e) => Err(h
                .liveness(format!("{} sends `{what}` to {}", self.name, self.node))
                .expected("the connection open")
                .actual(e)
                .fails()),
        }
    }

    /// Waits for the answer to the command sent with `reference`: `Ok`
    /// with the event, `Err(Refused)` for an error event. No answer within
    /// the bound fails the stage.
    pub(crate) async fn answer(
        &mut self,
        h: &mut Harness,
        reference: &str,
    ) -> Result<Result<Event, Refused>, StageError> {
        let within = h.scaled(ANSWER);
        let got = self
            .client
            .wait_for(within, |e| e.str("ref") == Some(reference))
            .await;
        let answer = match got {
            Ok(a) => a,
            Err(not_seen) => {
                return Err(h
                    .liveness(format!(
                        "{} on {} gets an answer to command {reference}",
                        self.name, self.node
                    ))
                    .expected(format!("an event with \"ref\":\"{reference}\""))
                    .actual(not_seen)
                    .fails())
            }
        };
        match serde_json::from_str::<Reply>(&answer.line) {
            Ok(Reply {
                event: Event::Error { code, .. },
                ..
            }) => Ok(Err(Refused {
                code: serde_json::to_value(code)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default(),
                line: answer.line,
            })),
            Ok(reply) => Ok(Ok(reply.event)),
            Err(e) => Err(h
                .safety(format!("{}'s answers follow the contract", self.name))
                .expected("an event of contracts::chat")
                .actual(format!("{} ({e})", answer.line))
                .fails()),
        }
    }

    /// Sends `command` and waits for its answer.
    pub(crate) async fn ask(
        &mut self,
        h: &mut Harness,
        command: Command,
    ) -> Result<Result<Event, Refused>, StageError> {
        let reference = self.send(h, command).await?;
        self.answer(h, &reference).await
    }

    /// [`User::ask`], where an error event fails the stage.
    pub(crate) async fn must(
        &mut self,
        h: &mut Harness,
        command: Command,
    ) -> Result<Event, StageError> {
        let what = format!("{}'s `{}` on {}", self.name, command.name(), self.node);
        match self.ask(h, command).await? {
            Ok(event) => Ok(event),
            Err(refused) => Err(h
                .liveness(format!("{what} succeeds"))
                .expected("an ok answer")
                .actual(refused.line)
                .fails()),
        }
    }

    /// Joins `room` (no resume point).
    pub(crate) async fn join(&mut self, h: &mut Harness, room: &str) -> Result<(), StageError> {
        let room = room.to_string();
        self.must(h, Command::Join { room, since: None }).await?;
        Ok(())
    }

    /// Says `text` in `room`; the acknowledged message goes in `ledger`.
    pub(crate) async fn say(
        &mut self,
        h: &mut Harness,
        ledger: &mut Ledger,
        room: &str,
        text: &str,
    ) -> Result<ChatMessage, StageError> {
        let cmd = Command::Say {
            room: room.to_string(),
            text: text.to_string(),
        };
        match self.must(h, cmd).await? {
            Event::Ok {
                seq: Some(seq),
                at: Some(at),
                ..
            } => Ok(self.acknowledged(ledger, room, text, seq, at)),
            other => Err(h
                .safety(format!(
                    "{}'s `say` is acknowledged with its seq",
                    self.name
                ))
                .expected("{\"type\":\"ok\",\"re\":\"say\",\"seq\":N,\"at\":T}")
                .actual(format!("{other:?}"))
                .fails()),
        }
    }

    /// The message a `say` got an `ok` for, put in `ledger`.
    fn acknowledged(
        &self,
        ledger: &mut Ledger,
        room: &str,
        text: &str,
        seq: u64,
        at: u64,
    ) -> ChatMessage {
        let msg = ChatMessage {
            room: room.to_string(),
            from: self.name.clone(),
            text: text.to_string(),
            seq,
            at,
        };
        ledger.0.push(msg.clone());
        msg
    }

    /// Every event of every connection of this user, oldest first.
    pub(crate) fn events(&self) -> Vec<Line> {
        let mut all = self.past.clone();
        all.extend(self.client.events());
        all
    }

    /// Every room message received, oldest first, with where it arrived.
    pub(crate) fn messages(&self) -> Vec<ChatMessage> {
        self.events()
            .iter()
            .filter(|e| e.str("type") == Some("message"))
            .filter_map(|e| match serde_json::from_str::<Reply>(&e.line) {
                Ok(Reply {
                    event: Event::Message(m),
                    ..
                }) => Some(m),
                _ => None,
            })
            .collect()
    }

    /// The events of type `kind`, of the current connection.
    pub(crate) fn current(&self, kind: &str) -> Vec<Line> {
        self.client
            .events()
            .into_iter()
            .filter(|e| e.str("type") == Some(kind))
            .collect()
    }

    /// The resume point of `room`: the highest seq received of each sender.
    pub(crate) fn cursor(&self, room: &str) -> Cursor {
        let mut c = Cursor::new();
        for m in self.messages().into_iter().filter(|m| m.room == room) {
            let e = c.entry(m.from).or_insert(0);
            *e = (*e).max(m.seq);
        }
        c
    }

    /// Whether the server closed the current connection.
    pub(crate) fn is_closed(&self) -> bool {
        self.client.is_closed()
    }
}

/// Each user's duplicates and out-of-order messages: per room and sender,
/// the seqs a user receives must rise strictly, across its reconnects.
pub(crate) fn order_violations(users: &[&User]) -> Vec<String> {
    let mut out = vec![];
    for u in users {
        let mut last: BTreeMap<(String, String), u64> = BTreeMap::new();
        for m in u.messages() {
            let key = (m.room.clone(), m.from.clone());
            let prev = last.get(&key).copied().unwrap_or(0);
            if m.seq == prev {
                out.push(format!(
                    "{} received {}'s message #{} in {} twice",
                    u.name, m.from, m.seq, m.room
                ));
            } else if m.seq < prev {
                out.push(format!(
                    "{} received {}'s message #{} in {} after #{prev}",
                    u.name, m.from, m.seq, m.room
                ));
            }
            last.insert(key, prev.max(m.seq));
        }
    }
    out
}

/// Messages that name the same (room, sender, seq) with different texts,
/// across every user's stream and the ledger: two messages numbered alike.
pub(crate) fn identity_violations(users: &[&User], ledger: &Ledger) -> Vec<String> {
    let mut text: BTreeMap<(String, String, u64), String> = BTreeMap::new();
    let mut out = vec![];
    let all = ledger
        .0
        .iter()
        .cloned()
        .chain(users.iter().flat_map(|u| u.messages()));
    for m in all {
        let key = (m.room.clone(), m.from.clone(), m.seq);
        match text.get(&key) {
            Some(t) if *t != m.text => out.push(format!(
                "{}'s message #{} in {} is both {:?} and {:?}",
                m.from, m.seq, m.room, t, m.text
            )),
            Some(_) => {}
            None => {
                text.insert(key, m.text);
            }
        }
    }
    out
}

/// Safety, at the end of a stage: every user received each message at
/// most once, in order per sender, and no two messages share a number.
pub(crate) fn check_streams(
    h: &mut Harness,
    users: &[&User],
    ledger: &Ledger,
) -> Result<(), StageError> {
    h.safety("every client received each message once at most, in order per sender")
        .expected("per room and sender, strictly rising seqs on every client")
        .no_violations(order_violations(users))?;
    h.safety("a (room, sender, seq) names one message")
        .expected("the same text wherever a message number is seen")
        .no_violations(identity_violations(users, ledger))
}

/// What `user` has not received of `wanted`.
fn missing<'a>(user: &User, wanted: &'a [ChatMessage]) -> Vec<&'a ChatMessage> {
    let got: BTreeSet<(String, String, u64)> = user
        .messages()
        .into_iter()
        .map(|m| (m.room, m.from, m.seq))
        .collect();
    wanted
        .iter()
        .filter(|m| !got.contains(&(m.room.clone(), m.from.clone(), m.seq)))
        .collect()
}

/// Liveness: within [`DELIVERY`], each of `users` has received every
/// message of `wanted`.
pub(crate) async fn wait_delivered(
    h: &mut Harness,
    users: &[&User],
    wanted: &[ChatMessage],
    what: &str,
) -> Result<(), StageError> {
    let expected = format!("{} messages on each client", wanted.len());
    h.eventually(what, DELIVERY, expected, || async move {
        let short: Vec<String> = users
            .iter()
            .filter_map(|u| {
                let m = missing(u, wanted);
                (!m.is_empty()).then(|| {
                    let first: Vec<String> = m
                        .iter()
                        .take(4)
                        .map(|m| format!("{}#{}", m.from, m.seq))
                        .collect();
                    format!(
                        "{} (on {}) lacks {} of {}: {}",
                        u.name,
                        u.node,
                        m.len(),
                        wanted.len(),
                        first.join(", ")
                    )
                })
            })
            .collect();
        if short.is_empty() {
            Ok(())
        } else {
            Err(short.join("; "))
        }
    })
    .await
}

/// The messages of a `history` answer.
pub(crate) async fn history(
    h: &mut Harness,
    user: &mut User,
    room: &str,
    limit: Option<usize>,
    since: Option<Cursor>,
) -> Result<Vec<ChatMessage>, StageError> {
    let cmd = Command::History {
        room: room.to_string(),
        limit,
        since,
    };
    match user.must(h, cmd).await? {
        Event::History { messages, .. } => Ok(messages),
        other => Err(h
            .safety(format!(
                "{}'s `history` is answered with a history event",
                user.name
            ))
            .expected("{\"type\":\"history\",...}")
            .actual(format!("{other:?}"))
            .fails()),
    }
}

/// The members of `room`, as `who` answers on `user`'s node.
pub(crate) async fn who(
    h: &mut Harness,
    user: &mut User,
    room: &str,
) -> Result<Vec<String>, StageError> {
    let cmd = Command::Who {
        room: room.to_string(),
    };
    match user.must(h, cmd).await? {
        Event::Who { users, .. } => Ok(users),
        other => Err(h
            .safety(format!(
                "{}'s `who` is answered with a who event",
                user.name
            ))
            .expected("{\"type\":\"who\",...}")
            .actual(format!("{other:?}"))
            .fails()),
    }
}

/// `(from, seq)` of each message: what a history is compared by.
pub(crate) fn ids(messages: &[ChatMessage]) -> Vec<String> {
    messages
        .iter()
        .map(|m| format!("{}#{}", m.from, m.seq))
        .collect()
}

/// The pid each node's `:global` view has for `name`.
pub(crate) async fn whereis_on(
    view: &ClusterView,
    shorts: &[&str],
    name: &str,
) -> Result<BTreeMap<String, Option<Pid>>, String> {
    let mut out = BTreeMap::new();
    for s in shorts {
        let pid: Option<Pid> = view
            .rpc(s, "global", "whereis_name", &name.to_string())
            .await
            .map_err(|e| format!("global:whereis_name on {s}: {e}"))?;
        out.insert(s.to_string(), pid);
    }
    Ok(out)
}

/// Liveness: within `within`, every node of `shorts` has the same pid for
/// room `room`, on one of `hosts`. Returns it.
pub(crate) async fn one_room(
    h: &mut Harness,
    shorts: &[&str],
    hosts: &[&str],
    room: &str,
    within: Duration,
    what: &str,
) -> Result<Pid, StageError> {
    let view = h.view();
    let name = room_name(room);
    let hosts: Vec<netsplit::NodeName> = hosts.iter().map(|s| h.full(s)).collect();
    let expected = format!(
        "every node's whereis_name({name:?}) is one pid, on {}",
        hosts
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(" or ")
    );
    let (v, n, hosts) = (&view, &name, &hosts);
    h.eventually(what, within, expected, move || async move {
        let seen = whereis_on(v, shorts, n).await?;
        let pids: BTreeSet<Option<Pid>> = seen.values().cloned().collect();
        match pids.iter().next() {
            Some(Some(pid)) if pids.len() == 1 && hosts.contains(pid.node()) => Ok(pid.clone()),
            _ => Err(format!("{seen:?}")),
        }
    })
    .await
}

/// The members of group `group` of scope chat, as node `short` sees them.
pub(crate) async fn members_on(
    view: &ClusterView,
    short: &str,
    group: &str,
) -> Result<Vec<Pid>, String> {
    let args = (contracts::chat::SCOPE.to_string(), group.to_string());
    view.rpc(short, "pg", "get_members", &args)
        .await
        .map_err(|e| format!("pg:get_members on {short}: {e}"))
}

impl User {
    /// Says `text`, retrying while the room answers `unavailable` (a
    /// failover under way), up to `within`. Anything else than an `ok` or
    /// `unavailable` fails the stage.
    pub(crate) async fn say_retrying(
        &mut self,
        h: &mut Harness,
        ledger: &mut Ledger,
        room: &str,
        text: &str,
        within: Duration,
    ) -> Result<ChatMessage, StageError> {
        let deadline = Instant::now() + h.scaled(within);
        loop {
            let cmd = Command::Say {
                room: room.to_string(),
                text: text.to_string(),
            };
            let what = format!(
                "{}'s `say` in {room} on {} is acknowledged (retried while unavailable, up to {})",
                self.name,
                self.node,
                crate::harness::secs(h.scaled(within))
            );
            match self.ask(h, cmd).await? {
                Ok(Event::Ok {
                    seq: Some(seq),
                    at: Some(at),
                    ..
                }) => return Ok(self.acknowledged(ledger, room, text, seq, at)),
                Err(r) if r.code == "unavailable" && Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(r) => {
                    return Err(h
                        .liveness(what)
                        .expected("ok with the message's seq")
                        .actual(r.line)
                        .fails())
                }
                Ok(other) => {
                    return Err(h
                        .liveness(what)
                        .expected("ok with the message's seq")
                        .actual(format!("{other:?}"))
                        .fails())
                }
            }
        }
    }

    /// Liveness: within `within`, the current connection has received an
    /// event matching `pred`. Looks at every event of the connection, so
    /// one that came before an answer counts.
    pub(crate) async fn wait_seen(
        &self,
        h: &mut Harness,
        what: impl Into<String>,
        expected: &str,
        within: Duration,
        pred: impl Fn(&Line) -> bool,
    ) -> Result<(), StageError> {
        let client = &self.client;
        let pred = &pred;
        h.eventually(what, within, expected, move || async move {
            let events = client.events();
            if events.iter().any(pred) {
                return Ok(());
            }
            let last: Vec<String> = events
                .iter()
                .rev()
                .take(5)
                .map(|e| e.line.clone())
                .collect();
            Err(if last.is_empty() {
                "no event".to_string()
            } else {
                format!("last events, newest first: {}", last.join(" | "))
            })
        })
        .await
    }
}
