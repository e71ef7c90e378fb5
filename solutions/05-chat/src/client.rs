//! The client port: JSON lines over TCP (`contracts::chat`). One task per
//! connection reads commands and writes events; after `login`, a session
//! process (`session.rs`) serves the commands and sends the events.
//!
//! A line that is not a command gets an error event and the connection
//! stays open; so does a line longer than `MAX_LINE` (the rest of it is
//! read and dropped). The connection closes when the client closes it (the
//! session ends too), or when the session ends (logout, taken over).

use crate::protocol::{SessionCast, USER_SUP};
use crate::session::Session;
use contracts::chat::{error, valid_name, Command, ErrorCode, Event, Reply, Request, MAX_LINE};
use netsplit::gen_server;
use netsplit::supervisor::{self, ChildSpec, Restart};
use netsplit::{ExitReason, Node, Pid};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::OwnedReadHalf;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// How many events may wait for a slow client before its session ends.
const QUEUE: usize = 4096;

/// Serves clients on `listener` until the node stops.
pub async fn serve(node: Node, listener: TcpListener) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                tokio::spawn(connection(node.clone(), stream));
            }
            Err(e) => {
                tracing::warn!("client port: accept failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    }
}

/// What the reader task hands over.
enum Incoming {
    Line(String),
    TooLong,
}

async fn connection(node: Node, stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let (read, mut write) = stream.into_split();
    let (lines_tx, mut lines) = mpsc::channel(64);
    let reader = tokio::spawn(read_lines(read, lines_tx));
    let mut session: Option<(Pid, mpsc::Receiver<String>)> = None;
    loop {
        let out = tokio::select! {
            incoming = lines.recv() => match incoming {
                None => break,
                Some(Incoming::TooLong) => Some(error(
                    None,
                    ErrorCode::BadRequest,
                    format!("line longer than {MAX_LINE} bytes, dropped"),
                ).to_line()),
                Some(Incoming::Line(line)) => handle(&node, &mut session, &line).await,
            },
            event = next_event(&mut session) => match event {
                Some(line) => Some(line),
                None => break,
            },
        };
        if let Some(mut line) = out {
            line.push('\n');
            if write.write_all(line.as_bytes()).await.is_err() {
                break;
            }
        }
    }
    reader.abort();
    if let Some((pid, _)) = session {
        node.exit(&pid, ExitReason::Shutdown);
    }
}

/// The next line the session sends; never, before login.
async fn next_event(session: &mut Option<(Pid, mpsc::Receiver<String>)>) -> Option<String> {
    match session {
        Some((_, events)) => events.recv().await,
        None => std::future::pending().await,
    }
}

/// Serves one line: the answer to write now, if any.
async fn handle(
    node: &Node,
    session: &mut Option<(Pid, mpsc::Receiver<String>)>,
    line: &str,
) -> Option<String> {
    if line.trim().is_empty() {
        return None;
    }
    let req = match Request::parse(line) {
        Ok(req) => req,
        Err(reply) => return Some(reply.to_line()),
    };
    let r = req.reference.clone();
    let answer = match (&req.command, &session) {
        (Command::Login { .. }, Some(_)) => error(
            r,
            ErrorCode::AlreadyLoggedIn,
            "this connection has a session already",
        ),
        (Command::Login { user }, None) if !valid_name(user) => error(
            r,
            ErrorCode::Invalid,
            "not a valid user name: 1 to 32 letters, digits, - or _",
        ),
        (Command::Login { user }, None) => match start_session(node, user).await {
            Ok(started) => {
                *session = Some(started);
                Reply::new(
                    r,
                    Event::Ok {
                        re: "login".into(),
                        seq: None,
                        at: None,
                    },
                )
            }
            Err(why) => error(r, ErrorCode::Internal, why),
        },
        (_, None) => error(
            r,
            ErrorCode::NotLoggedIn,
            format!("log in first: {}", r#"{"type":"login","user":"NAME"}"#),
        ),
        (_, Some((pid, _))) => {
            let _ = gen_server::cast(node, pid, &SessionCast::Command(line.to_string()));
            return None;
        }
    };
    Some(answer.to_line())
}

/// Starts `user`'s session under the session supervisor.
async fn start_session(node: &Node, user: &str) -> Result<(Pid, mpsc::Receiver<String>), String> {
    let (tx, rx) = mpsc::channel(QUEUE);
    let name = user.to_string();
    // The session holds the only sender, so the connection sees the channel
    // close when the session ends (a supervisor keeps its child specs).
    let tx = std::sync::Mutex::new(Some(tx));
    let spec = ChildSpec::gen_server(format!("session:{user}"), None, move || {
        let tx = tx.lock().ok().and_then(|mut t| t.take());
        Session::new(name.clone(), tx.unwrap_or_else(|| mpsc::channel(1).0))
    })
    .restart(Restart::Temporary);
    match supervisor::start_child(node, USER_SUP, spec).await {
        Ok(pid) => Ok((pid, rx)),
        Err(e) => Err(format!("could not start a session: {e}")),
    }
}

/// Reads lines (at most `MAX_LINE` bytes each) until the client closes.
async fn read_lines(read: OwnedReadHalf, to: mpsc::Sender<Incoming>) {
    let mut read = BufReader::new(read);
    let mut line = Vec::new();
    let mut too_long = false;
    loop {
        let Ok(available) = read.fill_buf().await else {
            return;
        };
        if available.is_empty() {
            return;
        }
        let (take, done) = match available.iter().position(|b| *b == b'\n') {
            Some(i) => (i + 1, true),
            None => (available.len(), false),
        };
        if !too_long {
            line.extend_from_slice(&available[..take]);
            if line.len() > MAX_LINE + 1 {
                too_long = true;
                line.clear();
            }
        }
        read.consume(take);
        if done {
            let incoming = if too_long {
                Incoming::TooLong
            } else {
                let text = String::from_utf8_lossy(&line);
                Incoming::Line(text.trim_end_matches(['\n', '\r']).to_string())
            };
            line.clear();
            too_long = false;
            if to.send(incoming).await.is_err() {
                return;
            }
        }
    }
}
