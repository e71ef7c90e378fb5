//! The port mapper: finds a node's port from its name (Erlang's epmd role).
//!
//! Nodes listen on ports the OS picks, so something must map `gold` to a port on
//! each host. The protocol is ASCII lines over TCP, readable with `nc`:
//!
//! ```text
//! ALIVE <short-name> <port>            -> OK | TAKEN   (connection held: the registration
//!                                                       lives exactly as long as it)
//! LOOKUP <short-name> <requester-node> -> PORT <port> | NOTFOUND
//! NAMES                                -> <short-name> <port> ... then END
//! ```
//!
//! Any request may instead be answered `ERR <reason>`, after which the mapper
//! closes the connection. Lookups and `NAMES` are closed right after the answer.
//!
//! Lookups name the requester so that a mapper may answer each node differently;
//! the grader uses that to put a proxy it controls on every link.
//!
//! There is no separate daemon to install: the first node on a host to find the
//! port free serves the map in-process. If that node exits, every other node
//! notices its registration connection close, one of them takes the port over,
//! and all re-register — so the map outlives any one node.
//!
//! # What the server guarantees
//!
//! - **Only the host itself registers.** `ALIVE` is accepted only on a
//!   connection whose peer address is a loopback address or the very address
//!   the connection reached (a node listening on a LAN address registers
//!   through that address). Anything else is answered `ERR` and logged as a
//!   warning that names the address. Lookups and `NAMES` are open to all.
//! - **Unauthenticated work is bounded.** A connection must send its command
//!   line within 5 seconds, or it gets `ERR` and is closed. At most 256
//!   connections that hold no registration (idle ones, lookups, `NAMES`) are
//!   served at once, and at most 512 registrations are held (768 together,
//!   under the usual limit of 1024 open files, so the node serving the map
//!   keeps room for its own connections). A connection past a cap gets `ERR busy …`
//!   and is closed; the mapper logs one warning when a cap is hit, and at most
//!   one every 10 seconds while it stays hit.
//! - Dropping a [`PortMapper`] closes every connection it holds, so the
//!   registered nodes notice and take over.
//!
//! # What a node guarantees as a client
//!
//! - Every read from a mapper has a deadline: 1 second per lookup try (two
//!   silent tries end the lookup), 2 seconds for the answer to `ALIVE`. A
//!   mapper that accepts connections but never answers is what a paused node
//!   (Ctrl-Z, SIGSTOP) serving the map looks like, and the errors say so.
//! - A node that cannot register at start (the mapper is silent, refuses, or
//!   closes without answering) logs a warning at the first failed try and
//!   fails to start after three, within about 6 seconds, instead of hanging.
//! - A node whose name was given to another process after a takeover logs one
//!   error saying so, keeps retrying every second, and logs again once it has
//!   its name back.

use crate::node::{PortmapConfig, StartError};
use crate::pid::NodeName;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, OwnedSemaphorePermit, Semaphore};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::{timeout, timeout_at, Instant};

const MAX_LINE: usize = 1024;

/// How long a new connection to the mapper may take to send its command line.
const FIRST_LINE_TIMEOUT: Duration = Duration::from_secs(5);
/// Connections holding no registration (idle, lookups, `NAMES`) served at once.
const MAX_PENDING: usize = 256;
/// Registrations held at once.
const MAX_REGISTRATIONS: usize = 512;
/// The shortest interval between two warnings of one kind from the server.
const WARN_EVERY: Duration = Duration::from_secs(10);
/// How long the server waits to hand a reply to a client that does not read.
const REPLY_TIMEOUT: Duration = Duration::from_secs(5);

/// How long one lookup try (connect, ask, answer) may take.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(1);
/// Lookup tries that time out before the lookup gives up.
const SILENT_LOOKUPS: u32 = 2;
/// How long a registration try (connect, `ALIVE`, answer) may take.
const REGISTER_TIMEOUT: Duration = Duration::from_secs(2);
/// Registration tries a starting node makes at a mapper that is silent or
/// refuses before the start fails.
const START_TRIES: u32 = 3;
/// How long a running node's name may be refused as `TAKEN` before it says so:
/// a connection that just broke may be seen closed by the mapper a moment late.
const TAKEN_GRACE: Duration = Duration::from_secs(1);
/// How often a running node retries a registration that keeps failing.
const RETRY_QUIETLY: Duration = Duration::from_secs(1);

/// A port mapper server. Nodes embed one on demand; tests and tools can run
/// their own on an ephemeral port and point nodes at it with `--portmap`.
pub struct PortMapper {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

/// What one server allows; see the module documentation.
#[derive(Clone, Copy, Debug)]
struct Limits {
    first_line: Duration,
    max_pending: usize,
    max_registrations: usize,
}

impl Limits {
    const DEFAULT: Limits = Limits {
        first_line: FIRST_LINE_TIMEOUT,
        max_pending: MAX_PENDING,
        max_registrations: MAX_REGISTRATIONS,
    };
}

impl PortMapper {
    /// Binds `addr` (use port 0 for an ephemeral port) and serves until dropped.
    pub async fn bind(addr: SocketAddr) -> io::Result<PortMapper> {
        PortMapper::bind_with(addr, Limits::DEFAULT).await
    }

    async fn bind_with(addr: SocketAddr, limits: Limits) -> io::Result<PortMapper> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let server = Arc::new(Server {
            addr,
            limits,
            table: Mutex::default(),
            pending: Arc::new(Semaphore::new(limits.max_pending)),
            registrations: Arc::new(Semaphore::new(limits.max_registrations)),
            busy: Throttle::default(),
            full: Throttle::default(),
            foreign: Throttle::default(),
            accept: Throttle::default(),
        });
        let task = tokio::spawn(serve(listener, server));
        Ok(PortMapper { addr, task })
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for PortMapper {
    fn drop(&mut self) {
        // The serving task owns the connection tasks (a JoinSet): aborting it
        // closes every connection, registrations included.
        self.task.abort();
    }
}

/// One server's state, shared by its connections.
struct Server {
    addr: SocketAddr,
    limits: Limits,
    /// Short name → (port, id of the connection holding it).
    table: Mutex<HashMap<String, (u16, u64)>>,
    /// A permit per connection that holds no registration.
    pending: Arc<Semaphore>,
    /// A permit per registration.
    registrations: Arc<Semaphore>,
    busy: Throttle,
    full: Throttle,
    foreign: Throttle,
    accept: Throttle,
}

/// Lets one warning of a kind through per [`WARN_EVERY`], counting the others.
#[derive(Default)]
struct Throttle(Mutex<(Option<Instant>, u64)>);

impl Throttle {
    /// `Some(n)`: log now; `n` more happened since the last line. `None`: stay quiet.
    fn hit(&self) -> Option<u64> {
        let mut s = self.0.lock();
        let now = Instant::now();
        match s.0 {
            Some(t) if now.duration_since(t) < WARN_EVERY => {
                s.1 += 1;
                None
            }
            _ => {
                s.0 = Some(now);
                Some(std::mem::take(&mut s.1))
            }
        }
    }
}

/// ` (N more since the last such line)`, or nothing.
fn more(n: u64) -> String {
    if n == 0 {
        String::new()
    } else {
        format!(" ({n} more since the last such line)")
    }
}

/// Whether a connection from `peer` that reached `local` may register a name:
/// only from this host, that is from loopback or from the address it reached.
fn may_register(peer: IpAddr, local: IpAddr) -> bool {
    let peer = peer.to_canonical();
    peer.is_loopback() || peer == local.to_canonical()
}

async fn serve(listener: TcpListener, server: Arc<Server>) {
    let mut conns = JoinSet::new();
    let mut next = 0u64;
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let Ok(slot) = server.pending.clone().try_acquire_owned() else {
                        refuse_busy(&server, stream);
                        continue;
                    };
                    next += 1;
                    conns.spawn(serve_one(stream, peer, server.clone(), next, slot));
                }
                Err(e) => {
                    // Out of file descriptors and the like: back off, keep serving.
                    if let Some(n) = server.accept.hit() {
                        tracing::warn!(
                            "the port mapper on {} cannot accept connections: {e}{}",
                            server.addr,
                            more(n)
                        );
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            // Reap finished connections so the set does not grow.
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
}

/// Turns away a connection past the cap, without waiting on it.
fn refuse_busy(server: &Server, stream: TcpStream) {
    let max = server.limits.max_pending;
    // Never blocks: the send buffer of a fresh connection is empty.
    let _ = stream.try_write(
        format!("ERR busy: {max} connections are already waiting on this port mapper\n").as_bytes(),
    );
    // Drop what the client already sent, so closing sends FIN, not RST.
    let mut sink = [0u8; MAX_LINE];
    let _ = stream.try_read(&mut sink);
    if let Some(n) = server.busy.hit() {
        tracing::warn!(
            "the port mapper on {} has {max} connections open that hold no registration, \
             the most it serves at once: it refuses new ones until some close (each waits \
             at most {:?} for its command); something is opening connections and not \
             using them{}",
            server.addr,
            server.limits.first_line,
            more(n)
        );
    }
}

async fn read_line(r: &mut BufReader<OwnedReadHalf>) -> io::Result<Option<String>> {
    let mut line = Vec::new();
    let n = (&mut *r)
        .take(MAX_LINE as u64 + 1)
        .read_until(b'\n', &mut line)
        .await?;
    if n == 0 {
        return Ok(None);
    }
    if line.len() > MAX_LINE {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "line too long"));
    }
    Ok(Some(String::from_utf8_lossy(&line).trim().to_string()))
}

/// Sends one reply, giving up on a client that does not read it.
async fn reply(wr: &mut OwnedWriteHalf, text: &str) -> bool {
    matches!(
        timeout(REPLY_TIMEOUT, wr.write_all(text.as_bytes())).await,
        Ok(Ok(()))
    )
}

async fn serve_one(
    stream: TcpStream,
    peer: SocketAddr,
    server: Arc<Server>,
    id: u64,
    slot: OwnedSemaphorePermit,
) {
    let local = stream.local_addr().ok();
    let (rd, mut wr) = stream.into_split();
    let mut rd = BufReader::new(rd);
    let first_line = server.limits.first_line;
    let line = match timeout(first_line, read_line(&mut rd)).await {
        Ok(Ok(Some(line))) => line,
        Ok(_) => return,
        Err(_) => {
            reply(&mut wr, &format!("ERR no command within {first_line:?}\n")).await;
            return;
        }
    };
    let words: Vec<&str> = line.split_whitespace().collect();
    match words.as_slice() {
        ["ALIVE", name, port] => {
            let Ok(port) = port.parse::<u16>() else {
                reply(&mut wr, "ERR bad port\n").await;
                return;
            };
            let peer_ip = peer.ip().to_canonical();
            if !local.is_some_and(|l| may_register(peer_ip, l.ip())) {
                reply(
                    &mut wr,
                    &format!(
                        "ERR only processes on this host may register names \
                         (this connection comes from {peer_ip})\n"
                    ),
                )
                .await;
                if let Some(n) = server.foreign.hit() {
                    tracing::warn!(
                        "the port mapper on {} refused `ALIVE {name}` from {peer_ip}: only \
                         processes on this host may register names{}",
                        server.addr,
                        more(n)
                    );
                }
                return;
            }
            enum Outcome {
                Taken,
                Full,
                Registered(OwnedSemaphorePermit),
            }
            let outcome = {
                let mut t = server.table.lock();
                if t.contains_key(*name) {
                    Outcome::Taken
                } else if let Ok(held) = server.registrations.clone().try_acquire_owned() {
                    t.insert(name.to_string(), (port, id));
                    Outcome::Registered(held)
                } else {
                    Outcome::Full
                }
            };
            let held = match outcome {
                Outcome::Taken => {
                    reply(&mut wr, "TAKEN\n").await;
                    return;
                }
                Outcome::Full => {
                    let max = server.limits.max_registrations;
                    reply(
                        &mut wr,
                        &format!("ERR busy: this port mapper already holds {max} registrations\n"),
                    )
                    .await;
                    if let Some(n) = server.full.hit() {
                        tracing::warn!(
                            "the port mapper on {} holds {max} registrations, the most it \
                             allows: it refuses new ones (`ALIVE {name}` was){}",
                            server.addr,
                            more(n)
                        );
                    }
                    return;
                }
                Outcome::Registered(held) => held,
            };
            // A registration counts against its own cap, not the pending one.
            drop(slot);
            if reply(&mut wr, "OK\n").await {
                // Hold until the node goes away.
                let mut sink = [0u8; 64];
                while matches!(rd.read(&mut sink).await, Ok(n) if n > 0) {}
            }
            let mut t = server.table.lock();
            if t.get(*name).is_some_and(|(_, i)| *i == id) {
                t.remove(*name);
            }
            drop(held);
        }
        ["LOOKUP", name, _requester] => {
            let port = server.table.lock().get(*name).map(|(p, _)| *p);
            let answer = match port {
                Some(p) => format!("PORT {p}\n"),
                None => "NOTFOUND\n".to_string(),
            };
            reply(&mut wr, &answer).await;
        }
        ["NAMES"] => {
            let mut out = String::new();
            let mut names: Vec<(String, u16)> = server
                .table
                .lock()
                .iter()
                .map(|(n, (p, _))| (n.clone(), *p))
                .collect();
            names.sort();
            for (n, p) in names {
                out.push_str(&format!("{n} {p}\n"));
            }
            out.push_str("END\n");
            reply(&mut wr, &out).await;
        }
        _ => {
            reply(&mut wr, "ERR unknown command\n").await;
        }
    }
}

/// The mapper address for `host` under `cfg`.
async fn mapper_addr(cfg: &PortmapConfig, host: &str) -> io::Result<SocketAddr> {
    if let Some(a) = cfg.addr {
        return Ok(a);
    }
    let host = if host == "localhost" {
        "127.0.0.1"
    } else {
        host
    };
    tokio::net::lookup_host((host, cfg.port))
        .await?
        .next()
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("cannot resolve host {host}"),
            )
        })
}

/// The mapper at `addr` took the connection but did not answer within `t`.
fn silent(addr: SocketAddr, t: Duration) -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        format!(
            "the port mapper at {addr} accepted the connection but did not answer within \
             {t:?}; the node serving it is probably paused (Ctrl-Z / SIGSTOP): resume it \
             (fg) or stop it"
        ),
    )
}

/// Connecting to the mapper at `addr` did not finish within `t`.
fn unaccepted(addr: SocketAddr, t: Duration) -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        format!(
            "the port mapper at {addr} did not accept the connection within {t:?}: the node \
             serving it may be paused (Ctrl-Z / SIGSTOP) with its backlog full, the host \
             may be down, or a firewall drops the packets"
        ),
    )
}

/// Asks `peer`'s port mapper for its port. Retries for a moment when no mapper
/// answers, since one may be taking over from a node that just exited; gives up
/// sooner on a mapper that accepts connections but stays silent.
pub(crate) async fn lookup(cfg: &PortmapConfig, peer: &NodeName, me: &NodeName) -> io::Result<u16> {
    let addr = mapper_addr(cfg, peer.host()).await?;
    let mut last: Option<io::Error> = None;
    let mut silent_tries = 0;
    for attempt in 0..10 {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        match lookup_once(addr, peer.short(), me).await {
            Ok(Some(p)) => return Ok(p),
            Ok(None) => {
                return Err(io::Error::new(
                    io::ErrorKind::NotFound,
                    format!(
                        "no node named {} is registered with the port mapper at {addr}",
                        peer.short()
                    ),
                ))
            }
            Err(e) if e.kind() == io::ErrorKind::TimedOut => {
                silent_tries += 1;
                if silent_tries >= SILENT_LOOKUPS {
                    return Err(e);
                }
                last = Some(e);
            }
            Err(e) => last = Some(e),
        }
    }
    Err(match last {
        // It answered, or was there and silent: say what it did.
        Some(e)
            if matches!(
                e.kind(),
                io::ErrorKind::InvalidData | io::ErrorKind::TimedOut
            ) =>
        {
            e
        }
        last => io::Error::new(
            io::ErrorKind::ConnectionRefused,
            format!(
                "no port mapper answers at {addr} ({})",
                last.map(|e| e.to_string()).unwrap_or_default()
            ),
        ),
    })
}

async fn lookup_once(addr: SocketAddr, short: &str, me: &NodeName) -> io::Result<Option<u16>> {
    let deadline = Instant::now() + LOOKUP_TIMEOUT;
    let stream = timeout_at(deadline, TcpStream::connect(addr))
        .await
        .map_err(|_| unaccepted(addr, LOOKUP_TIMEOUT))??;
    let (rd, mut wr) = stream.into_split();
    let mut rd = BufReader::new(rd);
    let exchange = async {
        wr.write_all(format!("LOOKUP {short} {me}\n").as_bytes())
            .await?;
        read_line(&mut rd).await
    };
    let line = timeout_at(deadline, exchange)
        .await
        .map_err(|_| silent(addr, LOOKUP_TIMEOUT))??;
    let Some(line) = line else {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!("the port mapper at {addr} closed the connection without answering"),
        ));
    };
    let bad = || {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("bad reply {line:?} from the port mapper at {addr}"),
        )
    };
    match line.split_whitespace().collect::<Vec<_>>().as_slice() {
        ["PORT", p] => p.parse().map(Some).map_err(|_| bad()),
        ["NOTFOUND"] => Ok(None),
        ["ERR", ..] => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "the port mapper at {addr} refused the lookup: {}",
                line.trim_start_matches("ERR").trim()
            ),
        )),
        _ => Err(bad()),
    }
}

/// A node's registration, kept alive (and re-made after a mapper takeover) by a task.
pub(crate) struct Registration {
    task: Mutex<Option<JoinHandle<()>>>,
}

impl Registration {
    pub(crate) async fn register(
        cfg: &PortmapConfig,
        listen_ip: IpAddr,
        name: &NodeName,
        port: u16,
    ) -> Result<Registration, StartError> {
        let (first_tx, first_rx) = oneshot::channel();
        let cfg = cfg.clone();
        let name = name.clone();
        let task = tokio::spawn(maintain(cfg, listen_ip, name.clone(), port, first_tx));
        match first_rx.await {
            Ok(Ok(())) => Ok(Registration {
                task: Mutex::new(Some(task)),
            }),
            Ok(Err(e)) => {
                task.abort();
                Err(e)
            }
            Err(_) => Err(StartError::Io("port mapper registration task ended".into())),
        }
    }

    pub(crate) fn close(&self) {
        if let Some(t) = self.task.lock().take() {
            t.abort();
        }
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.close();
    }
}

/// What one registration try got.
enum Reply {
    /// `OK`: the registration lives as long as these halves.
    Registered(BufReader<OwnedReadHalf>, OwnedWriteHalf),
    Taken,
    /// `ERR …`, or anything else that is not an answer to `ALIVE`.
    Refused(String),
    /// Connected (or tried to) but no answer in time.
    Silent(io::Error),
    /// Closed before answering.
    Closed,
    /// Nothing listens there.
    Unreachable(io::Error),
}

async fn register_once(addr: SocketAddr, short: &str, port: u16) -> Reply {
    let deadline = Instant::now() + REGISTER_TIMEOUT;
    let stream = match timeout_at(deadline, TcpStream::connect(addr)).await {
        Err(_) => return Reply::Silent(unaccepted(addr, REGISTER_TIMEOUT)),
        Ok(Err(e)) => return Reply::Unreachable(e),
        Ok(Ok(s)) => s,
    };
    let (rd, mut wr) = stream.into_split();
    let mut rd = BufReader::new(rd);
    let exchange = async {
        wr.write_all(format!("ALIVE {short} {port}\n").as_bytes())
            .await?;
        read_line(&mut rd).await
    };
    let answer = timeout_at(deadline, exchange).await;
    match answer {
        Err(_) => Reply::Silent(silent(addr, REGISTER_TIMEOUT)),
        Ok(Ok(Some(line))) => match line.as_str() {
            "OK" => Reply::Registered(rd, wr),
            "TAKEN" => Reply::Taken,
            other => Reply::Refused(other.trim_start_matches("ERR").trim().to_string()),
        },
        Ok(_) => Reply::Closed,
    }
}

async fn maintain(
    cfg: PortmapConfig,
    listen_ip: IpAddr,
    name: NodeName,
    port: u16,
    first: oneshot::Sender<Result<(), StartError>>,
) {
    let mut first = Some(first);
    // When we serve the map, it lives in this task so it dies with the node
    // (and is handed over when the node is suspended: see `hand_over_on_suspend`).
    let served: Arc<Mutex<Option<PortMapper>>> = Arc::default();
    SERVED.lock().push(Arc::downgrade(&served));
    let reg_addr = match cfg.addr {
        Some(a) => a,
        None => {
            let ip = if listen_ip.is_unspecified() {
                IpAddr::V4(Ipv4Addr::LOCALHOST)
            } else {
                listen_ip
            };
            SocketAddr::new(ip, cfg.port)
        }
    };
    let short = name.short();
    // Tries in a row that found nothing listening.
    let mut failures = 0u32;
    // Tries at start that a mapper left unanswered or refused.
    let mut troubles = 0u32;
    // A warning about the current trouble has been logged.
    let mut warned = false;
    // Since when a running node's name has been refused as taken, and whether
    // it said so.
    let mut taken_since: Option<Instant> = None;
    let mut taken_said = false;
    loop {
        let reply = register_once(reg_addr, short, port).await;
        if !matches!(reply, Reply::Unreachable(_)) {
            failures = 0;
        }
        match reply {
            Reply::Registered(mut rd, _wr) => {
                if let Some(f) = first.take() {
                    let _ = f.send(Ok(()));
                } else if taken_said || warned {
                    tracing::info!(
                        "registered with the port mapper at {reg_addr} as {short} again: \
                         other nodes can reach this node by name"
                    );
                }
                troubles = 0;
                warned = false;
                taken_since = None;
                taken_said = false;
                let mut sink = [0u8; 64];
                while matches!(rd.read(&mut sink).await, Ok(n) if n > 0) {}
                tracing::debug!("port mapper registration closed; re-registering");
            }
            Reply::Taken => {
                let since = *taken_since.get_or_insert_with(Instant::now);
                // A try the mapper left unanswered (it was paused) sits in its
                // queue and registers the name for a moment when it resumes:
                // give that the grace before calling the name someone else's.
                let ours_maybe = troubles > 0 && since.elapsed() < TAKEN_GRACE;
                if first.is_some() && !ours_maybe {
                    if let Some(f) = first.take() {
                        let _ = f.send(Err(StartError::NameInUse(name.clone())));
                    }
                    return;
                }
                if first.is_none() && !taken_said && since.elapsed() >= TAKEN_GRACE {
                    tracing::error!(
                        "the port mapper at {reg_addr} gave the name {short} to another \
                         process; other nodes cannot reach this node by name until that \
                         process lets the name go (this node retries every {RETRY_QUIETLY:?}). \
                         `echo NAMES | nc {} {}` shows the port registered as {short}: stop \
                         the process listening on it, or restart this node under another --name",
                        reg_addr.ip(),
                        reg_addr.port()
                    );
                    taken_said = true;
                }
                // Until the grace is over, our own old registration may be what
                // holds the name; after it, retry quietly.
                let wait = if taken_said {
                    RETRY_QUIETLY
                } else {
                    Duration::from_millis(100)
                };
                tokio::time::sleep(wait).await;
            }
            Reply::Silent(e) => {
                if !trouble(&mut first, &mut troubles, &mut warned, e.to_string()).await {
                    return;
                }
            }
            Reply::Refused(why) => {
                let msg =
                    format!("the port mapper at {reg_addr} refused to register {short}: {why}");
                if !trouble(&mut first, &mut troubles, &mut warned, msg).await {
                    return;
                }
            }
            // While starting, a mapper that keeps closing without an answer
            // must not keep the node waiting silently; once running, one such
            // close is the usual sign of a mapper exiting mid-takeover.
            Reply::Closed if first.is_some() => {
                let msg = format!(
                    "the port mapper at {reg_addr} closed the connection without answering \
                     `ALIVE {short}` (is it a Netsplit port mapper?)"
                );
                if !trouble(&mut first, &mut troubles, &mut warned, msg).await {
                    return;
                }
            }
            Reply::Closed => tokio::time::sleep(Duration::from_millis(50)).await,
            Reply::Unreachable(e) => {
                failures += 1;
                let may_serve = cfg.addr.is_none()
                    && served.lock().is_none()
                    && !SUSPENDING.load(std::sync::atomic::Ordering::Acquire);
                if may_serve {
                    let bind = SocketAddr::new(listen_ip, cfg.port);
                    if let Ok(m) = PortMapper::bind(bind).await {
                        tracing::debug!("serving the port mapper on {bind}");
                        *served.lock() = Some(m);
                        hand_over_on_suspend();
                        continue;
                    }
                }
                if failures > 50 {
                    if let Some(f) = first.take() {
                        let _ = f.send(Err(StartError::Io(format!(
                            "cannot reach the port mapper at {reg_addr}: {e} (is --portmap right?)"
                        ))));
                        return;
                    }
                }
                // Jitter so that nodes racing to take over do not collide forever.
                let ms = 20 + rand::random::<u64>() % 80;
                tokio::time::sleep(Duration::from_millis(ms)).await;
            }
        }
    }
}

/// Set while the process hands its maps over and stops: it must not take
/// one back before it has stopped.
static SUSPENDING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// The maps this process serves, for [`hand_over_on_suspend`].
static SERVED: Mutex<Vec<std::sync::Weak<Mutex<Option<PortMapper>>>>> = Mutex::new(Vec::new());

/// Makes Ctrl-Z (SIGTSTP) hand the port mapper over before the process
/// stops: a suspended node that kept serving it would leave every other node
/// of its host unreachable by name until `fg`. Its listener closes, another
/// node of the host takes the port over as after an exit, and on `fg` this
/// node registers with that one. Installed once, when the process first
/// serves a map; SIGSTOP cannot be caught, so a node stopped that way (as
/// the grader does, with a mapper of its own) still blocks its host's map.
fn hand_over_on_suspend() {
    #[cfg(unix)]
    {
        static INSTALLED: std::sync::Once = std::sync::Once::new();
        INSTALLED.call_once(|| {
            use tokio::signal::unix::{signal, SignalKind};
            let Ok(mut tstp) = signal(SignalKind::from_raw(libc::SIGTSTP)) else {
                return;
            };
            tokio::spawn(async move {
                while tstp.recv().await.is_some() {
                    SUSPENDING.store(true, std::sync::atomic::Ordering::Release);
                    let given_up: Vec<PortMapper> = {
                        let mut slots = SERVED.lock();
                        slots.retain(|w| w.strong_count() > 0);
                        slots
                            .iter()
                            .filter_map(|w| w.upgrade()?.lock().take())
                            .collect()
                    };
                    if !given_up.is_empty() {
                        tracing::info!(
                            "suspended: handing the port mapper over to the other nodes of this host"
                        );
                        drop(given_up);
                        // Let the runtime close the listener and its connections.
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    // SAFETY: raise(3) stops this process as SIGTSTP's default would.
                    unsafe { libc::raise(libc::SIGSTOP) };
                    // Resumed (fg).
                    SUSPENDING.store(false, std::sync::atomic::Ordering::Release);
                }
            });
        });
    }
}

/// A registration try failed with `msg` (the mapper is silent or refuses):
/// warns once per episode, fails the start after [`START_TRIES`], and waits
/// before the next try. Returns false when the start has failed.
async fn trouble(
    first: &mut Option<oneshot::Sender<Result<(), StartError>>>,
    troubles: &mut u32,
    warned: &mut bool,
    msg: String,
) -> bool {
    if first.is_some() {
        *troubles += 1;
        if *troubles >= START_TRIES {
            if let Some(f) = first.take() {
                let _ = f.send(Err(StartError::Io(msg)));
            }
            return false;
        }
        if !*warned {
            tracing::warn!("{msg}; trying again");
            *warned = true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    } else {
        if !*warned {
            tracing::warn!(
                "{msg}; until it answers, this node is not registered and other nodes \
                 cannot reach it by name (retrying every {RETRY_QUIETLY:?})"
            );
            *warned = true;
        }
        tokio::time::sleep(RETRY_QUIETLY).await;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Instant as StdInstant;

    fn loopback() -> SocketAddr {
        "127.0.0.1:0".parse().unwrap()
    }

    /// Sends `line` on a new connection and returns the first reply line
    /// (empty at end of stream) with the connection.
    async fn ask(
        addr: SocketAddr,
        line: &str,
    ) -> (String, BufReader<OwnedReadHalf>, OwnedWriteHalf) {
        let s = TcpStream::connect(addr).await.unwrap();
        let (rd, mut wr) = s.into_split();
        wr.write_all(line.as_bytes()).await.unwrap();
        let mut rd = BufReader::new(rd);
        let got = timeout(Duration::from_secs(5), read_line(&mut rd))
            .await
            .expect("the mapper answers")
            .unwrap_or_default()
            .unwrap_or_default();
        (got, rd, wr)
    }

    /// Whether the server closes `rd` within `within`.
    async fn closed(rd: &mut BufReader<OwnedReadHalf>, within: Duration) -> bool {
        let mut sink = [0u8; 64];
        let until = Instant::now() + within;
        loop {
            match timeout_at(until, rd.read(&mut sink)).await {
                Ok(Ok(0)) | Ok(Err(_)) => return true,
                Ok(Ok(_)) => {}
                Err(_) => return false,
            }
        }
    }

    #[test]
    fn only_this_host_may_register() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        // Loopback, whatever address the connection reached.
        assert!(may_register(ip("127.0.0.1"), ip("127.0.0.1")));
        assert!(may_register(ip("127.0.0.2"), ip("127.0.0.1")));
        assert!(may_register(ip("::1"), ip("::1")));
        assert!(may_register(
            ip("::ffff:127.0.0.1"),
            ip("::ffff:192.168.1.10")
        ));
        // A node on a LAN address registers through that address.
        assert!(may_register(ip("192.168.1.10"), ip("192.168.1.10")));
        assert!(may_register(ip("::ffff:192.168.1.10"), ip("192.168.1.10")));
        // Anything else is another host.
        assert!(!may_register(ip("192.168.1.11"), ip("192.168.1.10")));
        assert!(!may_register(ip("192.168.1.11"), ip("127.0.0.1")));
        assert!(!may_register(ip("fe80::1"), ip("fe80::2")));
    }

    #[tokio::test]
    async fn a_throttle_lets_one_line_through_per_interval() {
        let t = Throttle::default();
        assert_eq!(t.hit(), Some(0));
        assert_eq!(t.hit(), None);
        assert_eq!(t.hit(), None);
        // As if the interval had passed.
        t.0.lock().0 = Some(Instant::now() - WARN_EVERY);
        assert_eq!(t.hit(), Some(2));
        assert_eq!(t.hit(), None);
    }

    #[tokio::test]
    async fn connections_past_the_pending_cap_get_err_busy_until_one_closes() {
        let limits = Limits {
            max_pending: 2,
            ..Limits::DEFAULT
        };
        let pm = PortMapper::bind_with(loopback(), limits).await.unwrap();
        let idle1 = TcpStream::connect(pm.addr()).await.unwrap();
        let _idle2 = TcpStream::connect(pm.addr()).await.unwrap();
        let (got, mut rd, _wr) = ask(pm.addr(), "NAMES\n").await;
        assert!(got.starts_with("ERR busy"), "{got:?}");
        assert!(closed(&mut rd, Duration::from_secs(2)).await);
        drop(idle1);
        let until = StdInstant::now() + Duration::from_secs(5);
        loop {
            let (got, _, _) = ask(pm.addr(), "NAMES\n").await;
            if got == "END" {
                break;
            }
            assert!(StdInstant::now() < until, "still refused: {got:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    #[tokio::test]
    async fn registrations_past_their_cap_get_err_busy_and_do_not_count_as_pending() {
        let limits = Limits {
            max_pending: 1,
            max_registrations: 2,
            ..Limits::DEFAULT
        };
        let pm = PortMapper::bind_with(loopback(), limits).await.unwrap();
        let (a, _a_rd, _a_wr) = ask(pm.addr(), "ALIVE a 1\n").await;
        let (b, _b_rd, b_wr) = ask(pm.addr(), "ALIVE b 2\n").await;
        assert_eq!((a.as_str(), b.as_str()), ("OK", "OK"));
        let (c, mut c_rd, _c_wr) = ask(pm.addr(), "ALIVE c 3\n").await;
        assert!(c.starts_with("ERR busy"), "{c:?}");
        assert!(closed(&mut c_rd, Duration::from_secs(2)).await);
        // Two registrations, and the one pending slot is still free for a lookup.
        let (got, _, _) = ask(pm.addr(), "LOOKUP b x@127.0.0.1\n").await;
        assert_eq!(got, "PORT 2");
        drop(b_wr);
        let until = StdInstant::now() + Duration::from_secs(5);
        loop {
            let (got, _c_rd, _c_wr) = ask(pm.addr(), "ALIVE c 3\n").await;
            if got == "OK" {
                break;
            }
            assert!(StdInstant::now() < until, "still refused: {got:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    #[tokio::test]
    async fn a_silent_mapper_ends_a_lookup_in_about_two_seconds_naming_a_pause() {
        // Listens, so connections complete, but never accepts nor answers:
        // what a stopped process's socket does.
        let silent = std::net::TcpListener::bind(loopback()).unwrap();
        let cfg = PortmapConfig {
            addr: Some(silent.local_addr().unwrap()),
            ..PortmapConfig::default()
        };
        let peer = NodeName::new("gold@127.0.0.1").unwrap();
        let me = NodeName::new("silver@127.0.0.1").unwrap();
        let t0 = StdInstant::now();
        let e = lookup(&cfg, &peer, &me).await.unwrap_err();
        let took = t0.elapsed();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut, "{e}");
        let msg = e.to_string();
        assert!(msg.contains("did not answer within 1s"), "{msg}");
        assert!(msg.contains("probably paused (Ctrl-Z / SIGSTOP)"), "{msg}");
        assert!(
            took >= Duration::from_millis(1900) && took < Duration::from_secs(4),
            "{took:?}"
        );
    }

    #[tokio::test]
    async fn a_silent_mapper_fails_a_start_within_seconds() {
        let silent = std::net::TcpListener::bind(loopback()).unwrap();
        let cfg = PortmapConfig {
            addr: Some(silent.local_addr().unwrap()),
            ..PortmapConfig::default()
        };
        let name = NodeName::new("gold@127.0.0.1").unwrap();
        let t0 = StdInstant::now();
        let r = Registration::register(&cfg, Ipv4Addr::LOCALHOST.into(), &name, 1).await;
        let took = t0.elapsed();
        let Err(StartError::Io(msg)) = r else {
            panic!("registered with a silent mapper")
        };
        assert!(msg.contains("did not answer within 2s"), "{msg}");
        assert!(msg.contains("resume it (fg) or stop it"), "{msg}");
        assert!(took < Duration::from_secs(9), "{took:?}");
    }

    #[tokio::test]
    async fn a_refusing_mapper_fails_a_start_with_its_reason() {
        let l = TcpListener::bind(loopback()).await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((s, _)) = l.accept().await {
                let (rd, mut wr) = s.into_split();
                let _ = read_line(&mut BufReader::new(rd)).await;
                let _ = wr.write_all(b"ERR no room\n").await;
            }
        });
        let cfg = PortmapConfig {
            addr: Some(addr),
            ..PortmapConfig::default()
        };
        let name = NodeName::new("gold@127.0.0.1").unwrap();
        let r = timeout(
            Duration::from_secs(5),
            Registration::register(&cfg, Ipv4Addr::LOCALHOST.into(), &name, 1),
        )
        .await
        .expect("the start fails soon");
        let Err(StartError::Io(msg)) = r else {
            panic!("registered with a refusing mapper")
        };
        assert_eq!(
            msg,
            format!("the port mapper at {addr} refused to register gold: no room")
        );
    }

    #[tokio::test]
    async fn a_listener_that_closes_without_answering_fails_a_start() {
        let l = TcpListener::bind(loopback()).await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((s, _)) = l.accept().await {
                drop(s);
            }
        });
        let cfg = PortmapConfig {
            addr: Some(addr),
            ..PortmapConfig::default()
        };
        let name = NodeName::new("gold@127.0.0.1").unwrap();
        let r = timeout(
            Duration::from_secs(5),
            Registration::register(&cfg, Ipv4Addr::LOCALHOST.into(), &name, 1),
        )
        .await
        .expect("the start fails soon");
        let Err(StartError::Io(msg)) = r else {
            panic!("registered with a listener that never answers")
        };
        assert!(
            msg.contains("closed the connection without answering"),
            "{msg}"
        );
    }

    /// Two listeners on loopback ports P and P+1: where a host's primary and
    /// standby port mappers would be.
    fn adjacent() -> (std::net::TcpListener, std::net::TcpListener) {
        loop {
            let a = std::net::TcpListener::bind(loopback()).unwrap();
            let p = a.local_addr().unwrap().port();
            if p == u16::MAX {
                continue;
            }
            if let Ok(b) = std::net::TcpListener::bind(("127.0.0.1", p + 1)) {
                return (a, b);
            }
        }
    }

    /// A stand-in for a mapper on a listener of the test's own.
    enum Fake {
        /// Holds the listener and never accepts: connections complete (the
        /// kernel queues them) and get no answer, as with a stopped process.
        Silent,
        /// Closes the listener: nothing listens on the port any more.
        Gone,
        /// Answers every request with this line (then holds the connection
        /// until the client closes it).
        Answer(&'static str),
    }

    /// Plays `fake` on `l`; returns how many requests it answered so far, and
    /// what must live as long as the stand-in.
    fn play(l: std::net::TcpListener, fake: Fake) -> (Arc<AtomicUsize>, Box<dyn Send>) {
        let asked = Arc::new(AtomicUsize::new(0));
        let keep: Box<dyn Send> = match fake {
            Fake::Silent => Box::new(l),
            Fake::Gone => Box::new(()),
            Fake::Answer(line) => {
                l.set_nonblocking(true).unwrap();
                let l = TcpListener::from_std(l).unwrap();
                let n = asked.clone();
                let task = tokio::spawn(async move {
                    while let Ok((s, _)) = l.accept().await {
                        let n = n.clone();
                        tokio::spawn(async move {
                            let (rd, mut wr) = s.into_split();
                            let mut rd = BufReader::new(rd);
                            if let Ok(Some(_)) = read_line(&mut rd).await {
                                n.fetch_add(1, Ordering::SeqCst);
                                let _ = wr.write_all(format!("{line}\n").as_bytes()).await;
                                let mut sink = [0u8; 64];
                                while matches!(rd.read(&mut sink).await, Ok(k) if k > 0) {}
                            }
                        });
                    }
                });
                Box::new(AbortOnDrop(task))
            }
        };
        (asked, keep)
    }

    struct AbortOnDrop(JoinHandle<()>);

    impl Drop for AbortOnDrop {
        fn drop(&mut self) {
            self.0.abort();
        }
    }

    /// Embedded mode (no `--portmap`) with the primary on `primary`'s port.
    fn embedded(primary: &std::net::TcpListener) -> PortmapConfig {
        PortmapConfig {
            addr: None,
            port: primary.local_addr().unwrap().port(),
        }
    }

    /// Looks `gold@127.0.0.1` up with the primary playing `p` and the standby
    /// `s`; returns the result, how long it took, and how many requests each
    /// answered.
    async fn look_up_with(p: Fake, s: Fake) -> (io::Result<u16>, Duration, [usize; 2], [u16; 2]) {
        let (pl, sl) = adjacent();
        let cfg = embedded(&pl);
        let ports = [cfg.port, cfg.port + 1];
        let (p_asked, _p) = play(pl, p);
        let (s_asked, _s) = play(sl, s);
        let peer = NodeName::new("gold@127.0.0.1").unwrap();
        let me = NodeName::new("silver@127.0.0.1").unwrap();
        let t0 = StdInstant::now();
        let r = lookup(&cfg, &peer, &me).await;
        let took = t0.elapsed();
        let asked = [
            p_asked.load(Ordering::SeqCst),
            s_asked.load(Ordering::SeqCst),
        ];
        (r, took, asked, ports)
    }

    #[tokio::test]
    async fn a_lookup_asks_the_standby_only_when_the_primary_does_not_know() {
        // The primary knows: the standby is not asked.
        let (r, _, asked, _) = look_up_with(Fake::Answer("PORT 7"), Fake::Answer("PORT 8")).await;
        assert_eq!((r.unwrap(), asked), (7, [1, 0]));
        // The primary does not (it may have just taken the port over and not
        // heard from every node yet): the standby does.
        let (r, took, asked, _) =
            look_up_with(Fake::Answer("NOTFOUND"), Fake::Answer("PORT 8")).await;
        assert_eq!((r.unwrap(), asked), (8, [1, 1]));
        assert!(took < Duration::from_millis(500), "{took:?}");
        // A mapper set with `addr` is the only one asked, whatever listens next to it.
        let (pl, sl) = adjacent();
        let cfg = PortmapConfig {
            addr: Some(pl.local_addr().unwrap()),
            ..PortmapConfig::default()
        };
        let (_, _p) = play(pl, Fake::Answer("NOTFOUND"));
        let (next_asked, _s) = play(sl, Fake::Answer("PORT 8"));
        let peer = NodeName::new("gold@127.0.0.1").unwrap();
        let me = NodeName::new("silver@127.0.0.1").unwrap();
        let e = lookup(&cfg, &peer, &me).await.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound, "{e}");
        assert_eq!(next_asked.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn a_silent_primary_is_passed_over_for_the_standby_after_one_try() {
        let (r, took, asked, _) = look_up_with(Fake::Silent, Fake::Answer("PORT 8")).await;
        assert_eq!((r.unwrap(), asked[1]), (8, 1));
        assert!(
            took >= Duration::from_millis(900) && took < Duration::from_millis(1800),
            "{took:?}"
        );
    }

    #[tokio::test]
    async fn an_unreachable_primary_is_passed_over_for_the_standby_at_once() {
        let (r, took, asked, _) = look_up_with(Fake::Gone, Fake::Answer("PORT 8")).await;
        assert_eq!((r.unwrap(), asked[1]), (8, 1));
        assert!(took < Duration::from_millis(500), "{took:?}");
    }

    #[tokio::test]
    async fn when_both_mappers_fail_a_lookup_says_what_each_did() {
        let paused = "probably paused (Ctrl-Z / SIGSTOP)";
        // Silent primary, no standby: two silent tries, as with one mapper.
        let (r, took, _, [p, s]) = look_up_with(Fake::Silent, Fake::Gone).await;
        let e = r.unwrap_err();
        let msg = e.to_string();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut, "{msg}");
        assert!(
            msg.starts_with(&format!("the port mapper at 127.0.0.1:{p} accepted the connection")),
            "{msg}"
        );
        assert!(msg.contains(paused), "{msg}");
        assert!(
            msg.ends_with(&format!("no standby port mapper listens at 127.0.0.1:{s}")),
            "{msg}"
        );
        assert!(
            took >= Duration::from_millis(1900) && took < Duration::from_secs(4),
            "{took:?}"
        );
        // Both silent: one try each.
        let (r, took, _, [p, s]) = look_up_with(Fake::Silent, Fake::Silent).await;
        let e = r.unwrap_err();
        let msg = e.to_string();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut, "{msg}");
        assert!(msg.contains(&format!("127.0.0.1:{p}")) && msg.contains(paused), "{msg}");
        assert!(
            msg.contains(&format!(
                "the standby port mapper at 127.0.0.1:{s} did not answer within 1s"
            )),
            "{msg}"
        );
        assert!(
            took >= Duration::from_millis(1900) && took < Duration::from_secs(4),
            "{took:?}"
        );
        // Not found at the primary, no standby: at once.
        let (r, took, _, [p, s]) = look_up_with(Fake::Answer("NOTFOUND"), Fake::Gone).await;
        let e = r.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound, "{e}");
        assert_eq!(
            e.to_string(),
            format!(
                "no node named gold is registered with the port mapper at 127.0.0.1:{p}; \
                 no standby port mapper listens at 127.0.0.1:{s}"
            )
        );
        assert!(took < Duration::from_millis(500), "{took:?}");
        // Not found at either.
        let (r, _, _, [p, s]) =
            look_up_with(Fake::Answer("NOTFOUND"), Fake::Answer("NOTFOUND")).await;
        assert_eq!(
            r.unwrap_err().to_string(),
            format!(
                "no node named gold is registered with the port mapper at 127.0.0.1:{p} \
                 nor with its standby at 127.0.0.1:{s}"
            )
        );
        // Nothing at the primary, not found at the standby.
        let (r, _, _, [p, s]) = look_up_with(Fake::Gone, Fake::Answer("NOTFOUND")).await;
        let e = r.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound, "{e}");
        assert_eq!(
            e.to_string(),
            format!(
                "no node named gold is registered with the standby port mapper at \
                 127.0.0.1:{s}; no port mapper listens at 127.0.0.1:{p}"
            )
        );
        // Nothing at either: retried for a moment (a takeover may be under way).
        let (r, took, _, [p, s]) = look_up_with(Fake::Gone, Fake::Gone).await;
        let e = r.unwrap_err();
        let msg = e.to_string();
        assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused, "{msg}");
        assert!(
            msg.starts_with(&format!("no port mapper answers at 127.0.0.1:{p} (")),
            "{msg}"
        );
        assert!(
            msg.ends_with(&format!("no standby port mapper listens at 127.0.0.1:{s}")),
            "{msg}"
        );
        assert!(
            took >= Duration::from_millis(800) && took < Duration::from_secs(3),
            "{took:?}"
        );
    }

    #[tokio::test]
    async fn a_start_with_a_silent_primary_registers_with_the_standby() {
        let (pl, sl) = adjacent();
        let cfg = embedded(&pl);
        let (_, _p) = play(pl, Fake::Silent);
        let (s_asked, _s) = play(sl, Fake::Answer("OK"));
        let name = NodeName::new("gold@127.0.0.1").unwrap();
        let t0 = StdInstant::now();
        let r = timeout(
            Duration::from_secs(10),
            Registration::register(&cfg, Ipv4Addr::LOCALHOST.into(), &name, 1),
        )
        .await
        .expect("the start ends");
        let took = t0.elapsed();
        assert!(r.is_ok(), "{:?}", r.err());
        assert_eq!(s_asked.load(Ordering::SeqCst), 1);
        // One silent try at the primary, no more.
        assert!(
            took >= Duration::from_millis(1900) && took < Duration::from_secs(3),
            "{took:?}"
        );
    }

    #[tokio::test]
    async fn a_name_taken_at_either_mapper_is_in_use() {
        for (p, s) in [(Fake::Answer("OK"), Fake::Answer("TAKEN")), (Fake::Answer("TAKEN"), Fake::Answer("OK"))] {
            let (pl, sl) = adjacent();
            let cfg = embedded(&pl);
            let (_, _p) = play(pl, p);
            let (_, _s) = play(sl, s);
            let name = NodeName::new("gold@127.0.0.1").unwrap();
            let r = timeout(
                Duration::from_secs(5),
                Registration::register(&cfg, Ipv4Addr::LOCALHOST.into(), &name, 1),
            )
            .await
            .expect("the start ends");
            assert!(matches!(r, Err(StartError::NameInUse(_))), "{:?}", r.err());
        }
    }
}
