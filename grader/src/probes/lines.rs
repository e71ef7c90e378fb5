//! A JSON-lines client over TCP: what a chat client does, driven by the
//! grader (part 5).
//!
//! A background task reads the connection line by line and appends every
//! line, stamped with its arrival time, to the client's event list, so a
//! stage can send a command on one client and wait, with a bound, for the
//! events it causes on others, then check the whole stream of each client
//! afterwards (order, duplicates, gaps). Every wait is bounded; a closed
//! connection ends every wait at once with what was seen.

use super::Journal;
use parking_lot::Mutex;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::TcpStream;
use tokio::sync::watch;

/// A line longer than this is cut (and marked so): a server that never
/// sends a newline cannot grow the grader's memory without bound.
const LINE_LIMIT: usize = 1 << 20;

/// One line the server sent.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// When it arrived.
    pub at: Instant,
    /// The line, without its newline.
    pub line: String,
    /// The line parsed as JSON, if it is JSON.
    pub json: Option<serde_json::Value>,
}

impl Event {
    /// The string field `key` of a JSON event (`"type"`, `"room"`, …).
    pub fn str(&self, key: &str) -> Option<&str> {
        self.json.as_ref()?.get(key)?.as_str()
    }
}

/// A wait that ended without the event it waited for.
#[derive(Debug, Clone)]
pub struct NotSeen {
    /// Everything that arrived during the wait.
    pub seen: Vec<Event>,
    /// The connection closed (rather than the wait timing out).
    pub closed: bool,
    /// How long it waited.
    pub waited: Duration,
}

impl std::fmt::Display for NotSeen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let how = if self.closed {
            "the connection closed".to_string()
        } else {
            format!("nothing matched within {:.1} s", self.waited.as_secs_f64())
        };
        let shown: Vec<&str> = self
            .seen
            .iter()
            .rev()
            .take(5)
            .map(|e| e.line.as_str())
            .collect();
        if shown.is_empty() {
            write!(f, "{how}; no line arrived")
        } else {
            write!(
                f,
                "{how}; last lines: {}",
                shown.into_iter().rev().collect::<Vec<_>>().join(" | ")
            )
        }
    }
}

#[derive(Debug, Default)]
struct Shared {
    events: Vec<Event>,
    closed: bool,
}

/// One client connection to one node.
#[derive(Debug)]
pub struct LineClient {
    node: String,
    writer: OwnedWriteHalf,
    shared: Arc<Mutex<Shared>>,
    /// Bumped on every arrival (and on close), to wake waits.
    arrivals: watch::Receiver<u64>,
    /// Index of the next event [`LineClient::next_event`] returns.
    cursor: usize,
    journal: Journal,
    reader: tokio::task::JoinHandle<()>,
}

impl Drop for LineClient {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

impl LineClient {
    /// Connects to node `node`'s client port at `addr`, giving up after
    /// `within`.
    pub async fn connect(
        node: &str,
        addr: SocketAddr,
        within: Duration,
        journal: Journal,
    ) -> std::io::Result<LineClient> {
        let stream = tokio::time::timeout(within, TcpStream::connect(addr))
            .await
            .map_err(|_| {
                std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("no connection to {addr} within {within:?}"),
                )
            })??;
        let _ = stream.set_nodelay(true);
        let (read, writer) = stream.into_split();
        let shared = Arc::new(Mutex::new(Shared::default()));
        let (tx, arrivals) = watch::channel(0u64);
        let reader = tokio::spawn(read_lines(
            BufReader::new(read),
            shared.clone(),
            tx,
            journal.clone(),
            node.to_string(),
        ));
        Ok(LineClient {
            node: node.to_string(),
            writer,
            shared,
            arrivals,
            cursor: 0,
            journal,
            reader,
        })
    }

    /// The node it is connected to.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// Sends one JSON value as a line.
    pub async fn send(&mut self, value: &serde_json::Value) -> std::io::Result<()> {
        self.send_line(&value.to_string()).await
    }

    /// Sends `line` and a newline, as is (malformed input included).
    pub async fn send_line(&mut self, line: &str) -> std::io::Result<()> {
        let short: String = line.chars().take(80).collect();
        self.journal.record(&self.node, format!("client → {short}"));
        let mut bytes = Vec::with_capacity(line.len() + 1);
        bytes.extend_from_slice(line.as_bytes());
        bytes.push(b'\n');
        self.writer.write_all(&bytes).await
    }

    /// Every event so far, oldest first.
    pub fn events(&self) -> Vec<Event> {
        self.shared.lock().events.clone()
    }

    /// Whether the server closed the connection.
    pub fn is_closed(&self) -> bool {
        self.shared.lock().closed
    }

    /// The next event not yet returned by this method, waiting at most
    /// `within` for it.
    pub async fn next_event(&mut self, within: Duration) -> Result<Event, NotSeen> {
        let from = self.cursor;
        let e = self.wait_from(from, within, |_| true).await?;
        self.cursor = e.0 + 1;
        Ok(e.1)
    }

    /// The first event, among those that arrived since the last
    /// [`LineClient::next_event`] (or ever), that matches `pred`, waiting at
    /// most `within`. Moves the cursor past it.
    pub async fn wait_for(
        &mut self,
        within: Duration,
        pred: impl Fn(&Event) -> bool,
    ) -> Result<Event, NotSeen> {
        let from = self.cursor;
        let (i, e) = self.wait_from(from, within, pred).await?;
        self.cursor = i + 1;
        Ok(e)
    }

    async fn wait_from(
        &mut self,
        from: usize,
        within: Duration,
        pred: impl Fn(&Event) -> bool,
    ) -> Result<(usize, Event), NotSeen> {
        let started = Instant::now();
        let deadline = tokio::time::Instant::now() + within;
        let mut checked = from;
        let mut timed_out = false;
        loop {
            {
                let s = self.shared.lock();
                let found = s
                    .events
                    .iter()
                    .enumerate()
                    .skip(checked)
                    .find(|(_, e)| pred(e));
                if let Some((i, e)) = found {
                    return Ok((i, e.clone()));
                }
                checked = s.events.len().max(from);
                // The reader marks the stream closed before it stops sending
                // arrivals, so a closed stream is always seen here.
                if s.closed || timed_out {
                    return Err(NotSeen {
                        seen: s.events.get(from..).unwrap_or(&[]).to_vec(),
                        closed: s.closed,
                        waited: started.elapsed(),
                    });
                }
            }
            let changed = tokio::time::timeout_at(deadline, self.arrivals.changed()).await;
            // One last look after the deadline, for lines that arrived with it.
            timed_out = !matches!(changed, Ok(Ok(())));
        }
    }
}

async fn read_lines(
    mut read: BufReader<tokio::net::tcp::OwnedReadHalf>,
    shared: Arc<Mutex<Shared>>,
    tx: watch::Sender<u64>,
    journal: Journal,
    node: String,
) {
    let mut buf = Vec::new();
    loop {
        buf.clear();
        let got = read_bounded_line(&mut read, &mut buf).await;
        let Ok((n, cut)) = got else { break };
        if n == 0 {
            break;
        }
        while buf.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
            buf.pop();
        }
        let mut line = String::from_utf8_lossy(&buf).into_owned();
        if cut {
            line.push_str(" …(line cut at 1 MiB)");
        }
        let json = serde_json::from_str(&line).ok();
        let short: String = line.chars().take(80).collect();
        journal.record(&node, format!("client ← {short}"));
        shared.lock().events.push(Event {
            at: Instant::now(),
            line,
            json,
        });
        tx.send_modify(|n| *n += 1);
    }
    shared.lock().closed = true;
    tx.send_modify(|n| *n += 1);
}

/// Reads up to and including a newline, keeping at most [`LINE_LIMIT`]
/// bytes (the rest of an overlong line is read and dropped). Returns the
/// bytes read (0 at end of stream) and whether the line was cut.
async fn read_bounded_line(
    read: &mut BufReader<tokio::net::tcp::OwnedReadHalf>,
    buf: &mut Vec<u8>,
) -> std::io::Result<(usize, bool)> {
    let mut total = 0;
    let mut cut = false;
    loop {
        let available = read.fill_buf().await?;
        if available.is_empty() {
            return Ok((total, cut));
        }
        let (take, done) = match available.iter().position(|b| *b == b'\n') {
            Some(i) => (i + 1, true),
            None => (available.len(), false),
        };
        let room = LINE_LIMIT.saturating_sub(buf.len());
        if take > room {
            cut = true;
        }
        buf.extend_from_slice(&available[..take.min(room)]);
        read.consume(take);
        total += take;
        if done {
            return Ok((total, cut));
        }
    }
}
