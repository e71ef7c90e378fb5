//! The terminal client of the chat cluster (part 5): log in on a node, join
//! rooms, talk, and carry on when that node dies.
//!
//! # Usage
//!
//! ```text
//! chat-client --user alice 127.0.0.1:7001 127.0.0.1:7002
//! cargo run -p chat --bin chat-client -- --user alice 127.0.0.1:7001 127.0.0.1:7002
//! ```
//!
//! Each address is a node's client port. The client connects to the first
//! one that answers, logs in, and says which node it is on. A line that does
//! not start with `/` is said in the current room (the last one joined, or
//! the one picked with `/room`); `/help` lists the commands.
//!
//! On a terminal, lines are edited with history (rustyline) and what arrives
//! is printed above the prompt. Otherwise (stdin piped or a file, as in
//! tests) the client reads commands line by line, prints every event as
//! plain text, and exits at `/quit`, or at the end of input once the last
//! answers are in.
//!
//! # Failover and resume
//!
//! For each room, the client keeps the highest `seq` it has seen of each
//! sender: the room's cursor (`contracts::chat::Cursor`). A message at or
//! below the cursor is not printed: each message shows at most once.
//!
//! When the connection drops, the client tries the addresses in turn,
//! starting with the one after the lost node, logs in again and re-joins each
//! of its rooms with `since` set to the room's cursor. The node first sends
//! every message of the room after the cursor, then the live ones: nothing
//! is missed and nothing is shown twice. If no node answers within 30 s,
//! the client gives up (exit code 1).
//!
//! A fresh `/join` first asks, silently, for the room's history, so the
//! cursor starts where the room is: a resume does not replay what was said
//! before you joined. A `say` that got no answer before the drop may or may
//! not have been kept; the client says so, and the re-join shows it if it
//! was. A login of the same user elsewhere ends this client (exit code 0).

use clap::Parser;
use contracts::chat::{
    valid_name, ChatMessage, Command, Cursor, ErrorCode, Event, Reply, Request, HISTORY_KEPT,
};
use rustyline::{DefaultEditor, ExternalPrinter};
use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::sync::mpsc as sync_mpsc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::{sleep, sleep_until, timeout, Instant};

/// How long a node may take to accept a connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// How long a node may take to answer `login`.
const LOGIN_TIMEOUT: Duration = Duration::from_secs(5);

/// The pause after a failed connection attempt; it doubles after each round
/// of the addresses, up to [`BACKOFF_MAX`].
const BACKOFF_FIRST: Duration = Duration::from_millis(200);

/// The longest pause between two connection attempts.
const BACKOFF_MAX: Duration = Duration::from_secs(2);

/// How long to look for a node that answers before giving up.
const FAILOVER_LIMIT: Duration = Duration::from_secs(30);

/// How many times a re-join is tried while its room fails over (the node
/// waits up to 3 s for the room each time).
const REJOIN_TRIES: u32 = 5;

/// At the end of piped input: how long to wait after the last answer, for
/// the events that follow it (the echo of a `say`, say).
const GRACE: Duration = Duration::from_millis(500);

/// At the end of piped input: the longest wait for the last answers.
const DRAIN_LIMIT: Duration = Duration::from_secs(10);

/// After `/quit`: the longest wait for the node to confirm the logout.
const QUIT_WAIT: Duration = Duration::from_secs(2);

const ABOUT: &str = "\
The terminal client of the chat cluster (part 5 of the Netsplit course).

It connects to the first ADDR that answers and logs in as --user. When that
node goes down, it tries the others (the next one first), logs in again and
re-joins its rooms where it left off: no message is missed or shown twice.

On a terminal, lines are edited with history and events appear above the
prompt. With stdin piped or from a file, commands are read line by line,
events are printed as plain lines, and the client exits at /quit or at the
end of input.";

const AFTER_HELP: &str = "\
Commands (a line without a leading / is said in the current room):
  /join ROOM         join ROOM and make it the current room
  /leave [ROOM]      leave ROOM (default: the current room)
  /room [ROOM]       switch to ROOM among those joined (alone: list them)
  /pm USER TEXT      a private message to USER
  /who [ROOM]        the members of ROOM (default: the current room)
  /history [N]       the last N messages of the current room (default 50)
  /online USER...    whether each USER is online
  /search TEXT       every message of every room that contains TEXT
  /help              this list
  /quit              log out and exit (Ctrl-D too)

Example, with two nodes serving clients on ports 7001 and 7002:
  chat-client --user alice 127.0.0.1:7001 127.0.0.1:7002
  printf '/join general\\nhello\\n' | chat-client --user bob 127.0.0.1:7002

Exit codes: 0 after /quit, at the end of input, or when the user logs in
elsewhere; 1 when no node answers within 30 s, or a node refuses the login for
good (a bad name, a node that fails); 2 for bad arguments.";

/// The in-chat help, printed by `/help`.
const HELP: &str = "\
commands (a line without a leading / is said in the current room):
  /join ROOM   /leave [ROOM]   /room [ROOM]   /pm USER TEXT
  /who [ROOM]  /history [N]    /online USER...  /search TEXT  /help  /quit";

/// The command line.
#[derive(Parser, Debug)]
#[command(version, about = ABOUT.lines().next(), long_about = ABOUT, after_help = AFTER_HELP)]
struct Cli {
    /// Your user name: 1 to 32 letters, digits, - or _
    #[arg(long, value_name = "NAME", value_parser = parse_user)]
    user: String,
    /// The client address (host:port) of a node; give several for failover,
    /// tried in this order
    #[arg(value_name = "ADDR", required = true, value_parser = parse_addr)]
    addrs: Vec<String>,
}

/// Checks `--user` up front: a bad name is a usage error, not a failed login.
fn parse_user(name: &str) -> Result<String, String> {
    if valid_name(name) {
        Ok(name.to_string())
    } else {
        Err("a user name is 1 to 32 letters, digits, - or _".to_string())
    }
}

/// Checks that an address is `host:port`; the host is resolved when used.
fn parse_addr(addr: &str) -> Result<String, String> {
    let port = addr
        .rsplit_once(':')
        .filter(|(host, _)| !host.is_empty())
        .and_then(|(_, port)| port.parse::<u16>().ok());
    match port {
        Some(port) if port != 0 => Ok(addr.to_string()),
        _ => Err("expected host:port, e.g. 127.0.0.1:7001".to_string()),
    }
}

/// One line typed (or read), parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Action {
    /// An empty line.
    Nothing,
    /// Text for the current room.
    Say(String),
    /// `/join ROOM`.
    Join(String),
    /// `/leave [ROOM]`: `None` is the current room.
    Leave(Option<String>),
    /// `/pm USER TEXT`.
    Pm {
        to: String,
        text: String,
    },
    /// `/who [ROOM]`: `None` is the current room.
    Who(Option<String>),
    /// `/history [N]`: `None` is the node's default.
    History(Option<usize>),
    /// `/online USER...`: a `presence` command.
    Online(Vec<String>),
    /// `/room [ROOM]`: `None` lists the rooms joined.
    Room(Option<String>),
    /// `/search TEXT`: across every room of the cluster.
    Search(String),
    Help,
    Quit,
}

/// Parses one input line; the error is a hint to print.
fn parse_line(line: &str) -> Result<Action, String> {
    let line = line.trim_end_matches(['\r', '\n']);
    if line.trim().is_empty() {
        return Ok(Action::Nothing);
    }
    let Some(rest) = line.strip_prefix('/') else {
        return Ok(Action::Say(line.to_string()));
    };
    let (name, args) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
    let args = args.trim();
    let words: Vec<&str> = args.split_whitespace().collect();
    match name {
        "join" => match words[..] {
            [room] => name_arg(room, "room").map(Action::Join),
            _ => Err(usage("/join ROOM")),
        },
        "leave" => optional_room(&words, "/leave [ROOM]").map(Action::Leave),
        "room" => optional_room(&words, "/room [ROOM]").map(Action::Room),
        "who" => optional_room(&words, "/who [ROOM]").map(Action::Who),
        "pm" => match args.split_once(char::is_whitespace) {
            Some((to, text)) => Ok(Action::Pm {
                to: name_arg(to, "user")?,
                text: text.trim_start().to_string(),
            }),
            None => Err(usage("/pm USER TEXT")),
        },
        "history" => match words[..] {
            [] => Ok(Action::History(None)),
            [n] => match n.parse::<usize>() {
                Ok(n) if n > 0 => Ok(Action::History(Some(n))),
                _ => Err(usage("/history [N], N a number of messages")),
            },
            _ => Err(usage("/history [N]")),
        },
        "online" if !words.is_empty() => {
            let users = words.iter().map(|u| name_arg(u, "user"));
            users.collect::<Result<_, _>>().map(Action::Online)
        }
        "online" => Err(usage("/online USER...")),
        "search" if !args.is_empty() => Ok(Action::Search(args.to_string())),
        "search" => Err(usage("/search TEXT")),
        "help" => Ok(Action::Help),
        "quit" => Ok(Action::Quit),
        _ => Err(format!("unknown command /{name}; /help lists the commands")),
    }
}

/// An optional room argument, checked.
fn optional_room(words: &[&str], syntax: &str) -> Result<Option<String>, String> {
    match words {
        [] => Ok(None),
        [room] => name_arg(room, "room").map(Some),
        _ => Err(usage(syntax)),
    }
}

/// A user or room name argument, checked before anything is sent.
fn name_arg(name: &str, what: &str) -> Result<String, String> {
    if valid_name(name) {
        Ok(name.to_string())
    } else {
        Err(format!(
            "not a valid {what} name: {name:?} (1 to 32 letters, digits, - or _)"
        ))
    }
}

fn usage(syntax: &str) -> String {
    format!("usage: {syntax}")
}

/// The rooms this client is in, and what it has shown of each.
#[derive(Debug, Default)]
struct Rooms {
    /// The rooms joined (or being joined), oldest first.
    joined: Vec<String>,
    /// Where a plain line is said.
    current: Option<String>,
    /// Per room and sender, the highest `seq` shown (or said before the
    /// join): the resume point.
    cursors: BTreeMap<String, Cursor>,
}

impl Rooms {
    /// Adds `room` (at once, not on `ok`, so the lines typed next go to it).
    fn join(&mut self, room: &str) {
        if !self.is_joined(room) {
            self.joined.push(room.to_string());
        }
        self.current = Some(room.to_string());
    }

    /// Forgets `room` (left, or its join failed); the current room becomes
    /// the last one joined.
    fn leave(&mut self, room: &str) {
        self.joined.retain(|r| r != room);
        self.cursors.remove(room);
        if self.current.as_deref() == Some(room) {
            self.current = self.joined.last().cloned();
        }
    }

    fn is_joined(&self, room: &str) -> bool {
        self.joined.iter().any(|r| r == room)
    }

    /// Makes `room` the current room, if it is joined.
    fn switch(&mut self, room: &str) -> bool {
        let joined = self.is_joined(room);
        if joined {
            self.current = Some(room.to_string());
        }
        joined
    }

    fn current(&self) -> Option<&str> {
        self.current.as_deref()
    }

    /// Whether `msg` is new, i.e. above the cursor; if so, it moves the
    /// cursor up to it.
    fn is_new(&mut self, msg: &ChatMessage) -> bool {
        let cursor = self.cursors.entry(msg.room.clone()).or_default();
        let last = cursor.entry(msg.from.clone()).or_insert(0);
        if msg.seq <= *last {
            return false;
        }
        *last = msg.seq;
        true
    }

    /// Starts the cursor of `room` at what it had before the join (so a
    /// resume does not replay it), without showing it.
    fn seed(&mut self, room: &str, before: &[ChatMessage]) {
        let cursor = self.cursors.entry(room.to_string()).or_default();
        for msg in before {
            let last = cursor.entry(msg.from.clone()).or_insert(0);
            *last = (*last).max(msg.seq);
        }
    }

    /// The `since` of a re-join: the cursor, if the client knows one.
    fn resume_point(&self, room: &str) -> Option<Cursor> {
        self.cursors.get(room).cloned()
    }
}

/// A command sent, waiting for its answer.
#[derive(Debug, Clone)]
struct Sent {
    command: Command,
    origin: Origin,
}

/// Why a command was sent: it decides what its answer shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    /// Typed by the user.
    Typed,
    /// The silent `history` before a fresh join, which starts its cursor.
    Seed,
    /// A re-join after a failover, and which try it is.
    Resume(u32),
}

/// What a connection to a node ended with.
enum Outcome {
    /// The client is done (`/quit`, or the end of piped input).
    Done,
    /// The node went away: fail over.
    Dropped,
    /// Another login took the user over.
    Replaced(String),
}

/// How the client is winding down, once it reads no more input.
#[derive(Debug, Clone, Copy)]
enum Ending {
    /// `/quit` was sent: wait for the logout, at most until `by`.
    Quit { by: Instant },
    /// Piped input ended: wait for the answers still due, at most until
    /// `by`, then [`GRACE`] after the last one.
    Drain { last_answer: Instant, by: Instant },
}

/// A line from the input thread.
enum Input {
    Line(String),
    End,
}

/// Where output goes: stdout, or above the prompt of the line editor.
enum Printer {
    Plain,
    Terminal(Box<dyn ExternalPrinter + Send>),
}

impl Printer {
    /// Prints one line; a closed stdout is ignored rather than a panic.
    fn line(&mut self, text: &str) {
        match self {
            Printer::Plain => {
                let _ = writeln!(std::io::stdout(), "{text}");
            }
            Printer::Terminal(printer) => {
                let _ = printer.print(format!("{text}\n"));
            }
        }
    }
}

/// Why a node did not let this client in, and whether another try (here
/// or on the next address) may do better.
struct Refused {
    why: String,
    retry: bool,
}

impl Refused {
    fn retry(why: String) -> Refused {
        Refused { why, retry: true }
    }
}

/// One connection to a node, logged in.
struct Connection {
    addr: String,
    lines: Lines<BufReader<OwnedReadHalf>>,
    write: OwnedWriteHalf,
    /// Set when a write failed: the connection is gone.
    lost: bool,
}

impl Connection {
    /// Connects to `addr` and logs in as `user`; the error says why not.
    async fn open(addr: &str, user: &str) -> Result<Connection, Refused> {
        let stream = match timeout(CONNECT_TIMEOUT, TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => stream,
            Ok(Err(e)) => return Err(Refused::retry(e.to_string())),
            Err(_) => return Err(Refused::retry("no answer".to_string())),
        };
        let _ = stream.set_nodelay(true);
        let (read, write) = stream.into_split();
        let mut conn = Connection {
            addr: addr.to_string(),
            lines: BufReader::new(read).lines(),
            write,
            lost: false,
        };
        let user = user.to_string();
        conn.send(&Request::new(Command::Login { user })).await;
        match timeout(LOGIN_TIMEOUT, conn.next()).await {
            Ok(Some(Ok(Reply {
                event: Event::Ok { .. },
                ..
            }))) => Ok(conn),
            Ok(Some(Ok(Reply {
                event: Event::Error { code, reason },
                ..
            }))) => Err(Refused {
                why: format!("login refused ({}): {reason}", code_name(code)),
                // A bad name or a broken node: no other node will do better.
                retry: !matches!(code, ErrorCode::Invalid | ErrorCode::Internal),
            }),
            Ok(Some(Ok(other))) => Err(Refused::retry(format!(
                "unexpected answer to login: {other:?}"
            ))),
            Ok(Some(Err(line))) => Err(Refused::retry(format!(
                "unreadable answer to login: {line}"
            ))),
            Ok(None) => Err(Refused::retry("closed the connection".to_string())),
            Err(_) => Err(Refused::retry("no answer to login".to_string())),
        }
    }

    /// Sends one command; a failure marks the connection lost.
    async fn send(&mut self, request: &Request) {
        let line = request.to_line() + "\n";
        if self.write.write_all(line.as_bytes()).await.is_err() {
            self.lost = true;
        }
    }

    /// The next event; `Err` holds a line that is not one, `None` means the
    /// connection is closed.
    async fn next(&mut self) -> Option<Result<Reply, String>> {
        match self.lines.next_line().await {
            Ok(Some(line)) => Some(serde_json::from_str(&line).map_err(|_| line)),
            Ok(None) | Err(_) => None,
        }
    }
}

/// The client: the user's rooms and commands in flight, across connections.
struct Client {
    user: String,
    addrs: Vec<String>,
    /// The index in `addrs` of the node in use.
    at: usize,
    rooms: Rooms,
    /// Commands sent and not answered yet, by `ref`.
    pending: BTreeMap<u64, Sent>,
    next_ref: u64,
    input: mpsc::Receiver<Input>,
    /// On a terminal: where to hand the prompt for the next line.
    prompts: Option<sync_mpsc::Sender<String>>,
    out: Printer,
    ending: Option<Ending>,
}

impl Client {
    /// Runs the client to its end: the exit code, and a last word.
    async fn run(mut self) -> (i32, Option<String>) {
        let mut conn = match self.connect(0).await {
            Ok(conn) => conn,
            Err(why) => return (1, Some(why)),
        };
        if self.prompts.is_some() {
            self.print("/join ROOM to start; /help lists the commands");
        }
        self.give_prompt();
        loop {
            match self.serve(&mut conn).await {
                Outcome::Done => return (0, None),
                Outcome::Replaced(reason) => {
                    return (0, Some(format!("error (replaced): {reason}")))
                }
                Outcome::Dropped => {
                    self.print(&format!("lost the connection to {}", conn.addr));
                    self.report_unanswered();
                    conn = match self.connect(self.at + 1).await {
                        Ok(conn) => conn,
                        Err(why) => return (1, Some(why)),
                    };
                }
            }
        }
    }

    /// Finds a node that answers, trying the addresses in turn from
    /// `first`, logs in there and re-joins the rooms.
    async fn connect(&mut self, first: usize) -> Result<Connection, String> {
        let started = Instant::now();
        for attempt in 0.. {
            let at = (first + attempt) % self.addrs.len();
            let addr = self.addrs[at].clone();
            match Connection::open(&addr, &self.user).await {
                Ok(mut conn) => {
                    self.at = at;
                    self.print(&format!("connected to {addr} as {}", self.user));
                    self.resume(&mut conn).await;
                    return Ok(conn);
                }
                Err(Refused { why, retry: false }) => return Err(format!("{addr}: {why}")),
                Err(Refused { why, .. }) => {
                    self.print(&format!("attempt {}: {addr}: {why}", attempt + 1))
                }
            }
            let pause = backoff(attempt, self.addrs.len());
            if started.elapsed() + pause > FAILOVER_LIMIT {
                break;
            }
            sleep(pause).await;
        }
        Err(format!(
            "no node answered within {} s (tried {})",
            FAILOVER_LIMIT.as_secs(),
            self.addrs.join(", ")
        ))
    }

    /// Re-joins every room joined so far, each from its cursor.
    async fn resume(&mut self, conn: &mut Connection) {
        for room in self.rooms.joined.clone() {
            self.rejoin(conn, room, 1).await;
        }
    }

    async fn rejoin(&mut self, conn: &mut Connection, room: String, attempt: u32) {
        let since = self.rooms.resume_point(&room);
        let join = Command::Join { room, since };
        self.send(conn, join, Origin::Resume(attempt)).await;
    }

    /// Serves one connection: input lines and events, until it ends.
    async fn serve(&mut self, conn: &mut Connection) -> Outcome {
        loop {
            if conn.lost {
                return self.lost();
            }
            let deadline = self.deadline();
            let reading = self.ending.is_none();
            tokio::select! {
                reply = conn.next() => match reply {
                    Some(Ok(reply)) => {
                        if let Some(outcome) = self.on_reply(conn, reply).await {
                            return outcome;
                        }
                    }
                    Some(Err(line)) => self.print(&format!("unreadable line from the node: {line}")),
                    None => return self.lost(),
                },
                input = self.input.recv(), if reading => {
                    match input {
                        Some(Input::Line(line)) => self.on_line(conn, &line).await,
                        Some(Input::End) | None => self.on_end(conn).await,
                    }
                    self.give_prompt();
                }
                _ = sleep_until(deadline.unwrap_or_else(Instant::now)), if deadline.is_some() => {
                    return Outcome::Done;
                }
            }
        }
    }

    /// A lost connection is the end when the client was ending anyway.
    fn lost(&self) -> Outcome {
        match self.ending {
            Some(_) => Outcome::Done,
            None => Outcome::Dropped,
        }
    }

    /// When to stop waiting, once ending.
    fn deadline(&self) -> Option<Instant> {
        match self.ending? {
            Ending::Quit { by } => Some(by),
            Ending::Drain { by, .. } if !self.pending.is_empty() => Some(by),
            Ending::Drain { last_answer, by } => Some(by.min(last_answer + GRACE)),
        }
    }

    /// Hands the next prompt (the current room) to the line editor.
    fn give_prompt(&self) {
        if let (Some(prompts), None) = (&self.prompts, self.ending) {
            let _ = prompts.send(format!("{}> ", self.rooms.current().unwrap_or("")));
        }
    }

    /// Serves one input line.
    async fn on_line(&mut self, conn: &mut Connection, line: &str) {
        let action = match parse_line(line) {
            Ok(action) => action,
            Err(hint) => return self.print(&hint),
        };
        let command = match action {
            Action::Nothing => return,
            Action::Help => return self.print(HELP),
            Action::Quit => return self.quit(conn).await,
            Action::Room(room) => return self.switch(room),
            Action::Join(room) => return self.join(conn, room).await,
            Action::Leave(room) => match room.or_else(|| self.current_room()) {
                Some(room) => {
                    self.rooms.leave(&room);
                    Command::Leave { room }
                }
                None => return,
            },
            Action::Say(text) => match self.current_room() {
                Some(room) => Command::Say { room, text },
                None => return,
            },
            Action::Who(room) => match room.or_else(|| self.current_room()) {
                Some(room) => Command::Who { room },
                None => return,
            },
            Action::History(limit) => match self.current_room() {
                Some(room) => Command::History {
                    room,
                    limit,
                    since: None,
                },
                None => return,
            },
            Action::Pm { to, text } => Command::Pm { to, text },
            Action::Online(users) => Command::Presence { users },
            Action::Search(text) => Command::Search { text },
        };
        self.send(conn, command, Origin::Typed).await;
    }

    /// The current room, or a hint to join one.
    fn current_room(&mut self) -> Option<String> {
        let room = self.rooms.current().map(str::to_string);
        if room.is_none() {
            self.print("you are in no room: /join ROOM first");
        }
        room
    }

    /// Joins `room`: first the silent history that starts its cursor, then
    /// the join itself (the node serves them in this order).
    async fn join(&mut self, conn: &mut Connection, room: String) {
        if self.rooms.switch(&room) {
            return self.print(&format!("* already in {room}; talking there now"));
        }
        self.rooms.join(&room);
        let history = Command::History {
            room: room.clone(),
            limit: Some(HISTORY_KEPT),
            since: None,
        };
        self.send(conn, history, Origin::Seed).await;
        let join = Command::Join { room, since: None };
        self.send(conn, join, Origin::Typed).await;
    }

    /// `/room`: switches rooms, or lists them.
    fn switch(&mut self, room: Option<String>) {
        let line = match room {
            Some(room) if self.rooms.switch(&room) => format!("* talking in {room} now"),
            Some(room) => format!("you are not in {room}: /join {room} first"),
            None if self.rooms.joined.is_empty() => "you are in no room: /join ROOM".to_string(),
            None => format!(
                "* talking in {}; joined: {}",
                self.rooms.current().unwrap_or("-"),
                self.rooms.joined.join(", ")
            ),
        };
        self.print(&line);
    }

    /// Logs out, then waits (briefly) for the node to confirm.
    async fn quit(&mut self, conn: &mut Connection) {
        self.send(conn, Command::Logout {}, Origin::Typed).await;
        self.ending = Some(Ending::Quit {
            by: Instant::now() + QUIT_WAIT,
        });
    }

    /// The end of input: on a terminal (Ctrl-D) a quit, otherwise the last
    /// answers are awaited.
    async fn on_end(&mut self, conn: &mut Connection) {
        if self.prompts.is_some() {
            return self.quit(conn).await;
        }
        let now = Instant::now();
        self.ending = Some(Ending::Drain {
            last_answer: now,
            by: now + DRAIN_LIMIT,
        });
    }

    /// Sends `command` with a fresh `ref`, remembered until answered.
    async fn send(&mut self, conn: &mut Connection, command: Command, origin: Origin) {
        self.next_ref += 1;
        let mut request = Request::new(command.clone());
        request.reference = Some(self.next_ref.to_string());
        self.pending.insert(self.next_ref, Sent { command, origin });
        conn.send(&request).await;
    }

    /// Serves one event; `Some` ends the connection.
    async fn on_reply(&mut self, conn: &mut Connection, reply: Reply) -> Option<Outcome> {
        let sent = reply.reference.as_ref().and_then(|r| {
            let sent = self.pending.remove(&r.parse().ok()?);
            if let Some(Ending::Drain { last_answer, .. }) = &mut self.ending {
                *last_answer = Instant::now();
            }
            sent
        });
        match reply.event {
            Event::Message(msg) => {
                if self.rooms.is_new(&msg) {
                    self.print(&show_message(&msg));
                }
            }
            Event::Error {
                code: ErrorCode::Replaced,
                reason,
            } => return Some(Outcome::Replaced(reason)),
            Event::Error { code, reason } => self.on_error(conn, sent, code, reason).await,
            Event::History { room, messages } if is_seed(&sent) => {
                self.rooms.seed(&room, &messages);
            }
            Event::Ok { re, .. } => match sent {
                Some(sent) => {
                    if let Some(line) = confirmation(&sent) {
                        self.print(&line);
                    }
                }
                None => self.print(&format!("ok ({re})")),
            },
            event => {
                for line in show_event(&event) {
                    self.print(&line);
                }
            }
        }
        None
    }

    /// Serves an error: a re-join is retried while its room fails over, a
    /// failed join is forgotten, a failed seed is silent.
    async fn on_error(
        &mut self,
        conn: &mut Connection,
        sent: Option<Sent>,
        code: ErrorCode,
        reason: String,
    ) {
        if let Some(Sent { command, origin }) = sent {
            match (command, origin) {
                (Command::History { room, .. }, Origin::Seed) => {
                    // No such room yet: all its messages will be new.
                    if code == ErrorCode::NoSuchRoom {
                        self.rooms.seed(&room, &[]);
                    }
                    return;
                }
                (Command::Join { room, .. }, Origin::Resume(attempt))
                    if code == ErrorCode::Unavailable && attempt < REJOIN_TRIES =>
                {
                    self.print(&format!("{room} is failing over; trying the re-join again"));
                    return self.rejoin(conn, room, attempt + 1).await;
                }
                (Command::Join { room, .. }, _) => self.rooms.leave(&room),
                _ => {}
            }
        }
        self.print(&format!("error ({}): {reason}", code_name(code)));
    }

    /// After a drop: says which commands got no answer (a `say` or a `pm`
    /// may or may not have been done), and forgets them.
    fn report_unanswered(&mut self) {
        let pending = std::mem::take(&mut self.pending);
        for sent in pending.values().filter(|s| s.origin == Origin::Typed) {
            let line = match &sent.command {
                Command::Say { room, text } => format!(
                    "no answer to {text:?} in {room}: if the room kept it, it shows after the re-join"
                ),
                Command::Pm { to, text } => {
                    format!("no answer to the pm to {to} ({text:?}): it may or may not have arrived")
                }
                Command::Who { .. } | Command::History { .. } | Command::Presence { .. } => {
                    format!("no answer to {}: ask again", sent.command.name())
                }
                _ => continue,
            };
            self.print(&line);
        }
    }

    fn print(&mut self, line: &str) {
        self.out.line(line);
    }
}

fn is_seed(sent: &Option<Sent>) -> bool {
    matches!(sent, Some(s) if s.origin == Origin::Seed)
}

/// The pause after failed attempt number `attempt` (from 0) among `addrs`
/// addresses: it doubles after each full round, up to [`BACKOFF_MAX`].
fn backoff(attempt: usize, addrs: usize) -> Duration {
    let round = (attempt / addrs.max(1)).min(16) as u32;
    BACKOFF_FIRST.saturating_mul(1 << round).min(BACKOFF_MAX)
}

/// What the `ok` of a command shows; `say` shows nothing, as the message
/// itself comes back.
fn confirmation(sent: &Sent) -> Option<String> {
    match (&sent.command, sent.origin) {
        (Command::Join { room, .. }, Origin::Resume(_)) => Some(format!("* rejoined {room}")),
        (Command::Join { room, .. }, _) => Some(format!("* you joined {room}")),
        (Command::Leave { room }, _) => Some(format!("* you left {room}")),
        (Command::Pm { to, text }, _) => Some(format!("(pm to {to}) {text}")),
        (Command::Logout {}, _) => Some("logged out".to_string()),
        _ => None,
    }
}

/// A room message, as one line.
fn show_message(msg: &ChatMessage) -> String {
    format!("[{}] {}: {}  #{}", msg.room, msg.from, msg.text, msg.seq)
}

/// Any other event, as lines.
fn show_event(event: &Event) -> Vec<String> {
    let line = match event {
        Event::Message(msg) => show_message(msg),
        Event::Pm { from, text, .. } => format!("(pm from {from}) {text}"),
        Event::Joined { room, user } => format!("* {user} joined {room}"),
        Event::Left { room, user } => format!("* {user} left {room}"),
        Event::Online { user } => format!("* {user} is online"),
        Event::Offline { user } => format!("* {user} went offline"),
        Event::Who { room, users } => format!("* in {room}: {}", users.join(", ")),
        Event::Presence { users } => {
            let each = users.iter().map(|(user, online)| {
                format!("{user} {}", if *online { "online" } else { "offline" })
            });
            format!("* {}", each.collect::<Vec<_>>().join(", "))
        }
        Event::History { room, messages } => return show_history(room, messages),
        Event::Found {
            text,
            messages,
            missing,
            ..
        } => return show_found(text, messages, missing),
        Event::Typing { room, user } => format!("* {user} is typing in {room}"),
        Event::Error { code, reason } => format!("error ({}): {reason}", code_name(*code)),
        Event::Ok { re, .. } => format!("ok ({re})"),
    };
    vec![line]
}

/// The answer to `/history`: a heading, then the messages, oldest first.
fn show_history(room: &str, messages: &[ChatMessage]) -> Vec<String> {
    let heading = format!("* history of {room}: {} messages", messages.len());
    let lines = messages.iter().map(|m| format!("  {}", show_message(m)));
    std::iter::once(heading).chain(lines).collect()
}

/// The answer to `/search`: a heading, the matches, and the nodes that
/// did not answer in time.
fn show_found(text: &str, messages: &[ChatMessage], missing: &[String]) -> Vec<String> {
    let heading = format!("* {} messages contain {text:?}", messages.len());
    let lines = messages.iter().map(|m| format!("  {}", show_message(m)));
    let gaps = (!missing.is_empty()).then(|| {
        format!(
            "  (no answer in time from {}: their rooms' matches may be missing)",
            missing.join(", ")
        )
    });
    std::iter::once(heading).chain(lines).chain(gaps).collect()
}

/// An error code as the protocol spells it (`no_such_room`).
fn code_name(code: ErrorCode) -> String {
    match serde_json::to_value(code) {
        Ok(serde_json::Value::String(name)) => name,
        _ => format!("{code:?}"),
    }
}

/// Starts reading input on its own thread: with the line editor on a
/// terminal, plain lines otherwise. Gives the lines, where to hand prompts
/// (on a terminal), and where to print.
fn start_input() -> (
    mpsc::Receiver<Input>,
    Option<sync_mpsc::Sender<String>>,
    Printer,
) {
    let (lines, input) = mpsc::channel(64);
    if std::io::stdin().is_terminal() {
        match DefaultEditor::new() {
            Ok(mut editor) => {
                // Printing above the prompt needs stdout on the terminal too.
                let out = match editor.create_external_printer() {
                    Ok(printer) => Printer::Terminal(Box::new(printer)),
                    Err(_) => Printer::Plain,
                };
                let (prompts, prompt) = sync_mpsc::channel();
                std::thread::spawn(move || edit_lines(editor, prompt, lines));
                return (input, Some(prompts), out);
            }
            Err(e) => eprintln!("no line editing ({e}); reading plain lines"),
        }
    }
    std::thread::spawn(move || read_lines(lines));
    (input, None, Printer::Plain)
}

/// Reads edited lines, each after the client hands over its prompt (so the
/// prompt shows the current room, and no prompt shows while reconnecting).
fn edit_lines(
    mut editor: DefaultEditor,
    prompts: sync_mpsc::Receiver<String>,
    lines: mpsc::Sender<Input>,
) {
    while let Ok(prompt) = prompts.recv() {
        let input = match editor.readline(&prompt) {
            Ok(line) => {
                if !line.trim().is_empty() {
                    let _ = editor.add_history_entry(line.as_str());
                }
                Input::Line(line)
            }
            // Ctrl-D, Ctrl-C, or a terminal gone: the end.
            Err(_) => Input::End,
        };
        let end = matches!(input, Input::End);
        if lines.blocking_send(input).is_err() || end {
            return;
        }
    }
}

/// Reads plain lines from stdin until its end.
fn read_lines(lines: mpsc::Sender<Input>) {
    for line in std::io::stdin().lines() {
        let Ok(line) = line else { break };
        if lines.blocking_send(Input::Line(line)).is_err() {
            return;
        }
    }
    let _ = lines.blocking_send(Input::End);
}

/// The terminal's settings at start, to put back before exiting: the line
/// editor keeps the terminal raw while it waits for a key, and cannot be
/// interrupted from another thread, so an exit from under it (a failover
/// that gives up, a login elsewhere) would leave the terminal raw.
struct TerminalSettings(Option<String>);

impl TerminalSettings {
    #[cfg(unix)]
    fn save() -> TerminalSettings {
        let saved = std::process::Command::new("stty")
            .arg("-g")
            .stdin(std::process::Stdio::inherit())
            .stderr(std::process::Stdio::null())
            .output();
        let saved = saved.ok().filter(|out| out.status.success());
        TerminalSettings(saved.map(|out| String::from_utf8_lossy(&out.stdout).trim().to_string()))
    }

    #[cfg(not(unix))]
    fn save() -> TerminalSettings {
        TerminalSettings(None)
    }

    fn restore(&self) {
        if let Some(settings) = &self.0 {
            let _ = std::process::Command::new("stty")
                .arg(settings)
                .stdin(std::process::Stdio::inherit())
                .status();
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let cli = Cli::parse();
    let terminal = std::io::stdin().is_terminal();
    let settings = if terminal {
        TerminalSettings::save()
    } else {
        TerminalSettings(None)
    };
    let (input, prompts, out) = start_input();
    let client = Client {
        user: cli.user,
        addrs: cli.addrs,
        at: 0,
        rooms: Rooms::default(),
        pending: BTreeMap::new(),
        next_ref: 0,
        input,
        prompts,
        out,
        ending: None,
    };
    let (code, last_word) = client.run().await;
    settings.restore();
    if let Some(text) = last_word {
        // On a terminal, the prompt may still be on the last line.
        let text = if terminal { format!("\n{text}") } else { text };
        if code == 0 {
            let _ = writeln!(std::io::stdout(), "{text}");
        } else {
            let _ = writeln!(std::io::stderr(), "{text}");
        }
    }
    std::process::exit(code);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(room: &str, from: &str, seq: u64) -> ChatMessage {
        ChatMessage {
            room: room.into(),
            from: from.into(),
            text: format!("{from}{seq}"),
            seq,
            at: seq,
        }
    }

    #[test]
    fn plain_lines_are_said_and_blank_lines_do_nothing() {
        assert_eq!(
            parse_line("hello there"),
            Ok(Action::Say("hello there".into()))
        );
        assert_eq!(parse_line(" hi\r\n"), Ok(Action::Say(" hi".into())));
        assert_eq!(parse_line(""), Ok(Action::Nothing));
        assert_eq!(parse_line("   "), Ok(Action::Nothing));
    }

    #[test]
    fn commands_parse_with_their_arguments() {
        let cases = [
            ("/join general", Action::Join("general".into())),
            ("/leave", Action::Leave(None)),
            ("/leave random", Action::Leave(Some("random".into()))),
            ("/room general", Action::Room(Some("general".into()))),
            ("/room", Action::Room(None)),
            ("/search two words", Action::Search("two words".into())),
            ("/who", Action::Who(None)),
            ("/who general", Action::Who(Some("general".into()))),
            ("/history", Action::History(None)),
            ("/history 5", Action::History(Some(5))),
            (
                "/online bob carol",
                Action::Online(vec!["bob".into(), "carol".into()]),
            ),
            (
                "/pm bob  see you at  noon",
                Action::Pm {
                    to: "bob".into(),
                    text: "see you at  noon".into(),
                },
            ),
            ("/help", Action::Help),
            ("/quit", Action::Quit),
        ];
        for (line, action) in cases {
            assert_eq!(parse_line(line), Ok(action), "{line}");
        }
    }

    #[test]
    fn bad_commands_give_a_hint() {
        for line in [
            "/join",
            "/join a b",
            "/join no/slash",
            "/leave a b",
            "/pm bob",
            "/pm",
            "/pm b@d hi",
            "/history x",
            "/history 0",
            "/online",
            "/dance",
            "/",
        ] {
            assert!(parse_line(line).is_err(), "{line}");
        }
        assert_eq!(
            parse_line("/dance"),
            Err("unknown command /dance; /help lists the commands".into())
        );
    }

    #[test]
    fn a_message_at_or_below_the_cursor_is_skipped() {
        let mut rooms = Rooms::default();
        assert!(rooms.is_new(&msg("general", "bob", 1)));
        assert!(rooms.is_new(&msg("general", "bob", 2)));
        assert!(!rooms.is_new(&msg("general", "bob", 2)));
        assert!(!rooms.is_new(&msg("general", "bob", 1)));
        // Each sender and each room has its own numbering.
        assert!(rooms.is_new(&msg("general", "carol", 1)));
        assert!(rooms.is_new(&msg("random", "bob", 1)));
        assert!(rooms.is_new(&msg("general", "bob", 3)));
    }

    #[test]
    fn a_rejoin_resumes_from_the_cursor() {
        let mut rooms = Rooms::default();
        rooms.join("general");
        // Never seen, not seeded: no cursor, a plain join.
        assert_eq!(rooms.resume_point("general"), None);
        rooms.seed(
            "general",
            &[msg("general", "bob", 4), msg("general", "eve", 2)],
        );
        assert!(rooms.is_new(&msg("general", "bob", 5)));
        assert!(!rooms.is_new(&msg("general", "eve", 2)));
        let cursor = Cursor::from([("bob".into(), 5), ("eve".into(), 2)]);
        assert_eq!(rooms.resume_point("general"), Some(cursor));
        // The backlog of the re-join shows once, even if it comes twice.
        assert!(rooms.is_new(&msg("general", "eve", 3)));
        assert!(!rooms.is_new(&msg("general", "eve", 3)));
    }

    #[test]
    fn a_seed_never_lowers_the_cursor() {
        let mut rooms = Rooms::default();
        assert!(rooms.is_new(&msg("general", "bob", 7)));
        rooms.seed("general", &[msg("general", "bob", 3)]);
        assert!(!rooms.is_new(&msg("general", "bob", 7)));
        // A room with no messages yet: an empty cursor, so all come after.
        rooms.seed("new", &[]);
        assert_eq!(rooms.resume_point("new"), Some(Cursor::new()));
    }

    #[test]
    fn leaving_forgets_the_room_and_picks_the_last_joined() {
        let mut rooms = Rooms::default();
        assert_eq!(rooms.current(), None);
        rooms.join("a");
        rooms.join("b");
        rooms.join("c");
        assert_eq!(rooms.current(), Some("c"));
        assert!(rooms.switch("a"));
        assert!(!rooms.switch("nowhere"));
        assert_eq!(rooms.current(), Some("a"));
        assert!(rooms.is_new(&msg("a", "bob", 1)));
        rooms.leave("a");
        assert_eq!(rooms.current(), Some("c"));
        assert_eq!(rooms.resume_point("a"), None);
        assert_eq!(rooms.joined, ["b", "c"]);
        rooms.leave("b");
        rooms.leave("c");
        assert_eq!(rooms.current(), None);
    }

    #[test]
    fn events_read_as_short_lines() {
        assert_eq!(
            show_message(&msg("general", "bob", 3)),
            "[general] bob: bob3  #3"
        );
        let pm = Event::Pm {
            from: "alice".into(),
            to: "bob".into(),
            text: "hi".into(),
            at: 1,
        };
        assert_eq!(show_event(&pm), ["(pm from alice) hi"]);
        let error = Event::Error {
            code: ErrorCode::NoSuchRoom,
            reason: "join it first".into(),
        };
        assert_eq!(show_event(&error), ["error (no_such_room): join it first"]);
        let history = Event::History {
            room: "general".into(),
            messages: vec![msg("general", "bob", 1)],
        };
        assert_eq!(
            show_event(&history),
            [
                "* history of general: 1 messages",
                "  [general] bob: bob1  #1"
            ]
        );
    }

    #[test]
    fn the_backoff_doubles_each_round_up_to_a_bound() {
        assert_eq!(backoff(0, 2), BACKOFF_FIRST);
        assert_eq!(backoff(1, 2), BACKOFF_FIRST);
        assert_eq!(backoff(2, 2), BACKOFF_FIRST * 2);
        assert_eq!(backoff(1000, 2), BACKOFF_MAX);
    }

    #[test]
    fn the_command_line_is_checked() {
        let ok = Cli::try_parse_from(["chat-client", "--user", "alice", "127.0.0.1:7001"]);
        assert_eq!(ok.unwrap().addrs, ["127.0.0.1:7001"]);
        for args in [
            &["chat-client", "--user", "alice"][..],
            &["chat-client", "--user", "al ice", "127.0.0.1:7001"],
            &["chat-client", "--user", "alice", "127.0.0.1"],
            &["chat-client", "--user", "alice", "host:http"],
            &["chat-client", "127.0.0.1:7001"],
        ] {
            let err = Cli::try_parse_from(args).unwrap_err();
            assert_eq!(err.exit_code(), 2, "{args:?}");
        }
    }
}
