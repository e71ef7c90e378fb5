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
//! There is no separate daemon to install: nodes serve the map in-process.
//! With `--portmap HOST:PORT` ([`PortmapConfig::addr`], as in graded runs) a
//! node registers with that one mapper, asks it about every node and never
//! serves one; everything below about two ports and serving applies to the
//! embedded mode, without it.
//!
//! # Two ports per host
//!
//! Each host has two mapper ports: the primary `P` (`--portmap-port`, 4380
//! by default) and the standby `P+1` (none when `P` is 65535). A process
//! serves one of them at most. A node that finds nothing listening on `P`
//! serves `P`; one that finds `P` held by another process and nothing on
//! `P+1` serves `P+1`: the second node of a host becomes its standby. When
//! the node serving either port exits, the nodes notice their registration
//! connection close, one that serves neither port takes it over, and all
//! re-register — so the map outlives any one node. A node that serves one
//! port never takes the other, so with only two nodes on a host a port whose
//! node exited stays unserved until another node starts there (lookups use
//! the other one meanwhile).
//!
//! Every node registers with each mapper of its host that is there, holding
//! one connection per mapper; each registration is made again on its own
//! after that mapper's takeover. So both tables hold the live nodes, and the
//! host keeps answering lookups while the node serving one port is stopped.
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
//! - Every read from a mapper has a deadline: 1 second per lookup try, 2
//!   seconds for the answer to `ALIVE`. A mapper that accepts connections but
//!   never answers is what a paused node (Ctrl-Z, SIGSTOP) serving the map
//!   looks like, and the errors say so.
//! - **Lookups** ask the primary; if it is silent, unreachable, refuses or
//!   answers `NOTFOUND`, they ask the standby, and succeed on the first
//!   `PORT`. When the primary knows the name, that one exchange is all; a
//!   silent primary costs 1 second before the standby is asked. Two silent
//!   tries in all end a lookup, and so does a round in which a mapper
//!   answered `NOTFOUND` and none knew the name; when neither mapper is
//!   there, it retries for about a second (one may be being taken over).
//!   When no mapper gives a port, the error says what each did: for
//!   instance that the primary is probably paused and that no standby
//!   listens.
//! - **A start** succeeds once at least one mapper accepted the name and none
//!   answered `TAKEN`: a name taken at either mapper is in use (except that a
//!   `TAKEN` in the second after a try the mapper left unanswered may be that
//!   very try, registered late, and is retried). A mapper that is silent,
//!   refuses, or closes without answering does not fail the start when the
//!   other accepted: after its first failed try (2 seconds when silent) the
//!   node starts, logs one warning naming it, and keeps trying it every
//!   second. When no mapper accepts, the node logs a warning at the first
//!   failed try and fails to start after three at each, within about 6
//!   seconds, instead of hanging.
//! - A node whose name was given to another process after a takeover logs one
//!   error saying so, keeps retrying every second, and logs again once it has
//!   its name back.
//!
//! # A stopped node
//!
//! SIGSTOP (`kill -STOP`, a debugger) cannot be caught: a node stopped that
//! way keeps the port it serves (the kernel still accepts connections there,
//! nobody answers them, and no other process can bind it). With the other
//! port served, no single stopped node blocks its host: lookups reach the
//! other mapper (1 second later when the primary is the stopped one), and
//! nodes start (2 seconds later) and register there. What cannot be helped:
//!
//! - With the nodes serving both ports stopped, lookups fail in about 2
//!   seconds and starts in about 6, naming both paused mappers, until one of
//!   those nodes is resumed or killed.
//! - A stopped node serving one port while the other has no node means that
//!   no other node of that host runs (one would have taken the free port):
//!   lookups from other hosts fail the same way, and the next node to start
//!   there serves the free port.
//! - The stopped node's own registrations stay (their connections are still
//!   open): it is still found by name, a connection to it fails only when the
//!   handshake times out, and its name cannot be taken.
//! - Nodes keep retrying a stopped mapper (each try leaves a connection in
//!   its queue, as lookups do); once the queue is full its connections are not
//!   even accepted, which the messages say, with the same outcome.
//! - Other hosts reach the standby on `P+1`: a firewall letting only `P`
//!   through leaves them with the primary alone.
//!
//! Ctrl-Z (SIGTSTP) can be caught: a node suspended that way first closes the
//! mapper it serves, whichever port that is, and a node that serves neither
//! port takes it over as after an exit (see `hand_over_on_suspend`).

use crate::node::{PortmapConfig, StartError};
use crate::pid::NodeName;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch, OwnedSemaphorePermit, Semaphore};
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

/// The standby port next to a host's primary mapper `port`, if there is one.
fn standby_port(port: u16) -> Option<u16> {
    port.checked_add(1)
}

/// The mappers to ask about a node of `host` under `cfg`, in the order to ask
/// them: the one set with `addr`, or the host's primary then its standby.
async fn mapper_addrs(cfg: &PortmapConfig, host: &str) -> io::Result<Vec<SocketAddr>> {
    if let Some(a) = cfg.addr {
        return Ok(vec![a]);
    }
    let host = if host == "localhost" {
        "127.0.0.1"
    } else {
        host
    };
    let primary = tokio::net::lookup_host((host, cfg.port))
        .await?
        .next()
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("cannot resolve host {host}"),
            )
        })?;
    let standby = standby_port(cfg.port).map(|p| SocketAddr::new(primary.ip(), p));
    Ok(std::iter::once(primary).chain(standby).collect())
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

/// Why one lookup try at one mapper found no port.
enum Miss {
    /// It answered `NOTFOUND`.
    NotFound,
    /// No answer in time; `accepted` tells whether the connection was.
    Silent { accepted: bool, err: io::Error },
    /// It answered something that is not an answer to `LOOKUP` (`ERR …` included).
    Bad(io::Error),
    /// Nothing listens there, or it closed the connection without answering.
    Unreachable(io::Error),
}

/// Asks `peer`'s port mapper for its port: the mapper set with `--portmap`,
/// or the primary of `peer`'s host and, when that one does not answer with a
/// port, its standby. Retries for a moment when no mapper answers, since one
/// may be taking over from a node that just exited; gives up sooner on
/// mappers that accept connections but stay silent.
pub(crate) async fn lookup(cfg: &PortmapConfig, peer: &NodeName, me: &NodeName) -> io::Result<u16> {
    let mappers = mapper_addrs(cfg, peer.host()).await?;
    lookup_at(&mappers, peer.short(), me).await
}

/// Asks `mappers` for `short`, the first of them first: succeeds on the first
/// `PORT`. Two silent tries in all end the lookup (a mapper silent once is
/// asked again only if no other mapper has been silent), and so does a round
/// in which one mapper answered `NOTFOUND` and none knew the name.
async fn lookup_at(mappers: &[SocketAddr], short: &str, me: &NodeName) -> io::Result<u16> {
    let n = mappers.len();
    let mut silent_tries = vec![0u32; n];
    let mut misses: Vec<Option<Miss>> = (0..n).map(|_| None).collect();
    let given_up = |silent_tries: &[u32], i: usize| {
        let all: u32 = silent_tries.iter().sum();
        silent_tries[i] >= SILENT_LOOKUPS || (silent_tries[i] > 0 && all >= SILENT_LOOKUPS)
    };
    for attempt in 0..10 {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // In order, except that a mapper that was silent once comes last.
        let mut order: Vec<usize> = (0..n).filter(|&i| !given_up(&silent_tries, i)).collect();
        order.sort_by_key(|&i| silent_tries[i]);
        let mut not_found = false;
        for i in order {
            match lookup_once(mappers[i], short, me).await {
                Ok(port) => return Ok(port),
                Err(miss) => {
                    if matches!(miss, Miss::Silent { .. }) {
                        silent_tries[i] += 1;
                    }
                    not_found |= matches!(miss, Miss::NotFound);
                    misses[i] = Some(miss);
                }
            }
        }
        if not_found {
            break;
        }
        // Every mapper is given up as silent or is not there, one at least
        // silent: the lookup has had its silent tries.
        let unreachable = |i: usize| matches!(misses[i], Some(Miss::Unreachable(_)));
        if (0..n).all(|i| given_up(&silent_tries, i) || unreachable(i))
            && (0..n).any(|i| given_up(&silent_tries, i))
        {
            break;
        }
    }
    Err(lookup_failed(mappers, short, misses))
}

/// The error of a lookup of `short` that found no port: what each mapper did.
fn lookup_failed(mappers: &[SocketAddr], short: &str, mut misses: Vec<Option<Miss>>) -> io::Error {
    let primary = mappers[0];
    let p = misses[0].take();
    let not_registered = |at: &str| format!("no node named {short} is registered with {at}");
    let no_answer = |e: Option<io::Error>| {
        io::Error::new(
            io::ErrorKind::ConnectionRefused,
            format!(
                "no port mapper answers at {primary} ({})",
                e.map(|e| e.to_string()).unwrap_or_default()
            ),
        )
    };
    let Some(&standby) = mappers.get(1) else {
        return match p {
            Some(Miss::NotFound) => io::Error::new(
                io::ErrorKind::NotFound,
                not_registered(&format!("the port mapper at {primary}")),
            ),
            Some(Miss::Silent { err, .. } | Miss::Bad(err)) => err,
            Some(Miss::Unreachable(e)) => no_answer(Some(e)),
            None => no_answer(None),
        };
    };
    let s = misses[1].take();
    let refused = |e: &io::Error| e.kind() == io::ErrorKind::ConnectionRefused;
    // What the standby did, said after what the primary did.
    let standby_said = |s: Option<Miss>| match s {
        Some(Miss::Silent { accepted: true, .. }) => format!(
            "the standby port mapper at {standby} did not answer within {LOOKUP_TIMEOUT:?}: \
             the node serving it is probably paused"
        ),
        Some(Miss::Silent {
            accepted: false, ..
        }) => format!(
            "the standby port mapper at {standby} did not accept the connection within \
             {LOOKUP_TIMEOUT:?}"
        ),
        Some(Miss::Bad(e)) => e.to_string(),
        Some(Miss::Unreachable(e)) if refused(&e) => {
            format!("no standby port mapper listens at {standby}")
        }
        Some(Miss::Unreachable(e)) => {
            format!("the standby port mapper at {standby} cannot be reached ({e})")
        }
        Some(Miss::NotFound) => {
            format!("its standby at {standby} has no node named {short} either")
        }
        None => format!("the standby port mapper at {standby} was not asked"),
    };
    let timed_out = |m: &Option<Miss>| matches!(m, Some(Miss::Silent { .. }));
    let bad = |m: &Option<Miss>| matches!(m, Some(Miss::Bad(_)));
    let kind = if timed_out(&p) || timed_out(&s) {
        io::ErrorKind::TimedOut
    } else if bad(&p) || bad(&s) {
        io::ErrorKind::InvalidData
    } else {
        io::ErrorKind::ConnectionRefused
    };
    let msg = match (p, s) {
        (Some(Miss::NotFound), Some(Miss::NotFound)) => {
            let at = format!("the port mapper at {primary} nor with its standby at {standby}");
            return io::Error::new(io::ErrorKind::NotFound, not_registered(&at));
        }
        (Some(Miss::NotFound), s) => {
            let at = format!("the port mapper at {primary}");
            let msg = format!("{}; {}", not_registered(&at), standby_said(s));
            return io::Error::new(io::ErrorKind::NotFound, msg);
        }
        (p, Some(Miss::NotFound)) => {
            let primary_said = match p {
                Some(Miss::Silent { err, .. } | Miss::Bad(err)) => err.to_string(),
                Some(Miss::Unreachable(e)) if refused(&e) => {
                    format!("no port mapper listens at {primary}")
                }
                Some(Miss::Unreachable(e)) => no_answer(Some(e)).to_string(),
                Some(Miss::NotFound) | None => no_answer(None).to_string(),
            };
            let at = format!("the standby port mapper at {standby}");
            let msg = format!("{}; {primary_said}", not_registered(&at));
            return io::Error::new(io::ErrorKind::NotFound, msg);
        }
        (Some(Miss::Silent { err, .. } | Miss::Bad(err)), s) => {
            format!("{err}; {}", standby_said(s))
        }
        (Some(Miss::Unreachable(e)), s) => format!("{}; {}", no_answer(Some(e)), standby_said(s)),
        (None, s) => format!("{}; {}", no_answer(None), standby_said(s)),
    };
    io::Error::new(kind, msg)
}

async fn lookup_once(addr: SocketAddr, short: &str, me: &NodeName) -> Result<u16, Miss> {
    let deadline = Instant::now() + LOOKUP_TIMEOUT;
    let stream = match timeout_at(deadline, TcpStream::connect(addr)).await {
        Err(_) => {
            let err = unaccepted(addr, LOOKUP_TIMEOUT);
            return Err(Miss::Silent {
                accepted: false,
                err,
            });
        }
        Ok(Err(e)) => return Err(Miss::Unreachable(e)),
        Ok(Ok(s)) => s,
    };
    let (rd, mut wr) = stream.into_split();
    let mut rd = BufReader::new(rd);
    let exchange = async {
        wr.write_all(format!("LOOKUP {short} {me}\n").as_bytes())
            .await?;
        read_line(&mut rd).await
    };
    let line = match timeout_at(deadline, exchange).await {
        Err(_) => {
            let err = silent(addr, LOOKUP_TIMEOUT);
            return Err(Miss::Silent {
                accepted: true,
                err,
            });
        }
        Ok(Err(e)) if e.kind() == io::ErrorKind::InvalidData => return Err(Miss::Bad(e)),
        Ok(Err(e)) => return Err(Miss::Unreachable(e)),
        Ok(Ok(None)) => {
            return Err(Miss::Unreachable(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("the port mapper at {addr} closed the connection without answering"),
            )))
        }
        Ok(Ok(Some(line))) => line,
    };
    let bad = || {
        Miss::Bad(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("bad reply {line:?} from the port mapper at {addr}"),
        ))
    };
    match line.split_whitespace().collect::<Vec<_>>().as_slice() {
        ["PORT", p] => p.parse().map_err(|_| bad()),
        ["NOTFOUND"] => Err(Miss::NotFound),
        ["ERR", ..] => Err(Miss::Bad(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "the port mapper at {addr} refused the lookup: {}",
                line.trim_start_matches("ERR").trim()
            ),
        ))),
        _ => Err(bad()),
    }
}

/// A node's registrations, one per mapper, each kept alive (and re-made after
/// a takeover) by a task of its own.
pub(crate) struct Registration {
    tasks: Mutex<Vec<JoinHandle<()>>>,
    /// Tells the tasks that the start is over (they may still wait on it).
    _started: watch::Sender<bool>,
}

impl Registration {
    /// Registers `name` (listening on `port`) with the mapper set in `cfg`,
    /// or with both mappers of this host: succeeds once one accepted the name
    /// and no other answered `TAKEN`, the others left to keep trying.
    pub(crate) async fn register(
        cfg: &PortmapConfig,
        listen_ip: IpAddr,
        name: &NodeName,
        port: u16,
    ) -> Result<Registration, StartError> {
        let reg_ip = if listen_ip.is_unspecified() {
            IpAddr::V4(Ipv4Addr::LOCALHOST)
        } else {
            listen_ip
        };
        let (mappers, binds) = match cfg.addr {
            Some(a) => (vec![a], vec![]),
            None => {
                let ports: Vec<u16> = std::iter::once(cfg.port)
                    .chain(standby_port(cfg.port))
                    .collect();
                let at = |ip| ports.iter().map(|&p| SocketAddr::new(ip, p)).collect();
                (at(reg_ip), at(listen_ip))
            }
        };
        let host = Arc::new(Host {
            name: name.clone(),
            port,
            up: mappers.iter().map(|_| AtomicBool::new(false)).collect(),
            mappers,
            binds,
            served: Arc::default(),
            serving: tokio::sync::Mutex::new(()),
        });
        SERVED.lock().push(Arc::downgrade(&host.served));
        let (events_tx, events) = mpsc::unbounded_channel();
        let (started_tx, started) = watch::channel(false);
        let tasks: Vec<JoinHandle<()>> = (0..host.mappers.len())
            .map(|i| {
                tokio::spawn(maintain(Slot {
                    host: host.clone(),
                    i,
                    report: Reporter {
                        events: events_tx.clone(),
                        started: started.clone(),
                    },
                    troubles: 0,
                    warned: false,
                }))
            })
            .collect();
        drop(events_tx);
        match start(&host, events).await {
            Ok(()) => {
                let _ = started_tx.send(true);
                Ok(Registration {
                    tasks: Mutex::new(tasks),
                    _started: started_tx,
                })
            }
            Err(e) => {
                for t in tasks {
                    t.abort();
                }
                Err(e)
            }
        }
    }

    pub(crate) fn close(&self) {
        for t in self.tasks.lock().drain(..) {
            t.abort();
        }
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.close();
    }
}

/// What the tasks of one node's registration share.
struct Host {
    name: NodeName,
    /// The node's own port, the one it registers.
    port: u16,
    /// Where it registers: the mapper set with `--portmap`, or this host's
    /// primary then its standby.
    mappers: Vec<SocketAddr>,
    /// Where this process would serve each of `mappers` (none with `--portmap`).
    binds: Vec<SocketAddr>,
    /// The map this process serves, if any: one of `binds` at most. It lives
    /// here so that it dies with the node (and is handed over when the node is
    /// suspended: see [`hand_over_on_suspend`]).
    served: Arc<Mutex<Option<PortMapper>>>,
    /// Held while deciding whether to serve, so that the tasks cannot make the
    /// process serve two ports.
    serving: tokio::sync::Mutex<()>,
    /// Whether each of `mappers` holds this node's registration right now.
    up: Vec<AtomicBool>,
}

impl Host {
    /// Whether these are the host's own mappers (no `--portmap`).
    fn embedded(&self) -> bool {
        !self.binds.is_empty()
    }

    /// Which of `binds` this process serves, if any.
    fn serves(&self) -> Option<usize> {
        let port = self.served.lock().as_ref()?.addr().port();
        self.binds.iter().position(|b| b.port() == port)
    }

    /// Makes this process serve a mapper port of its host if it serves none
    /// yet: the primary if it is free, else the standby if that is. Returns
    /// which one the process serves now, if any.
    async fn serve(&self) -> Option<usize> {
        if !self.embedded() {
            return None;
        }
        let _one_at_a_time = self.serving.lock().await;
        if let Some(i) = self.serves() {
            return Some(i);
        }
        if SUSPENDING.load(std::sync::atomic::Ordering::Acquire) {
            return None;
        }
        for (i, bind) in self.binds.iter().enumerate() {
            if let Ok(m) = PortMapper::bind(*bind).await {
                tracing::debug!("serving the port mapper on {bind}");
                *self.served.lock() = Some(m);
                hand_over_on_suspend();
                return Some(i);
            }
        }
        None
    }
}

/// What a mapper's task tells the start about that mapper.
enum Event {
    /// It accepted the name.
    Up,
    /// It answered `TAKEN`: the name is in use.
    Taken,
    /// A try went unanswered or was refused; the task tries again.
    Trouble(String),
    /// Tries failed for as long as a start allows.
    Failed(String),
    /// Nothing listens there, and this process serves the other port.
    Absent,
}

/// How a mapper's task reports to the start, and learns that it is over.
struct Reporter {
    events: mpsc::UnboundedSender<(usize, Event)>,
    started: watch::Receiver<bool>,
}

impl Reporter {
    fn starting(&self) -> bool {
        !*self.started.borrow()
    }

    fn send(&self, i: usize, event: Event) {
        let _ = self.events.send((i, event));
    }

    /// Waits until the node has started. If its start fails instead, the
    /// task is aborted meanwhile.
    async fn started(&mut self) {
        if self.started.wait_for(|s| *s).await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// How the start stands at one mapper.
enum Progress {
    /// No word yet.
    Pending,
    Up,
    Trouble(String),
    Failed(String),
    Absent,
}

/// Decides the start from what the mappers' tasks report: it fails at the
/// first `TAKEN`; it succeeds once one mapper accepted the name and each
/// other has accepted it too, has had a failed try, or is not there; it
/// fails once every mapper has failed or is not there.
async fn start(
    host: &Host,
    mut events: mpsc::UnboundedReceiver<(usize, Event)>,
) -> Result<(), StartError> {
    let n = host.mappers.len();
    let mut progress: Vec<Progress> = (0..n).map(|_| Progress::Pending).collect();
    let mut warned = vec![false; n];
    while let Some((i, event)) = events.recv().await {
        progress[i] = match event {
            Event::Taken => return Err(StartError::NameInUse(host.name.clone())),
            Event::Up => Progress::Up,
            Event::Trouble(msg) => Progress::Trouble(msg),
            Event::Failed(msg) => Progress::Failed(msg),
            Event::Absent => Progress::Absent,
        };
        if progress.iter().any(|p| matches!(p, Progress::Pending)) {
            continue;
        }
        if let Some(up) = progress.iter().position(|p| matches!(p, Progress::Up)) {
            for (j, p) in progress.iter().enumerate() {
                if let Progress::Trouble(msg) | Progress::Failed(msg) = p {
                    if !warned[j] {
                        tracing::warn!(
                            "{msg}; this node registered with the port mapper at {} only, \
                             and keeps trying at {} (every {RETRY_QUIETLY:?})",
                            host.mappers[up],
                            host.mappers[j]
                        );
                    }
                }
            }
            return Ok(());
        }
        if progress
            .iter()
            .all(|p| matches!(p, Progress::Failed(_) | Progress::Absent))
        {
            let failed: Vec<&str> = progress
                .iter()
                .filter_map(|p| match p {
                    Progress::Failed(msg) => Some(msg.as_str()),
                    _ => None,
                })
                .collect();
            let msg = if failed.is_empty() {
                let at: Vec<String> = host.mappers.iter().map(|a| a.to_string()).collect();
                format!("no port mapper listens at {}", at.join(" nor at "))
            } else {
                failed.join("; and ")
            };
            return Err(StartError::Io(msg));
        }
        for (j, p) in progress.iter().enumerate() {
            if let Progress::Trouble(msg) = p {
                if !warned[j] {
                    tracing::warn!("{msg}; trying again");
                    warned[j] = true;
                }
            }
        }
    }
    Err(StartError::Io("port mapper registration task ended".into()))
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

/// One mapper's registration task.
struct Slot {
    host: Arc<Host>,
    /// Which of `host.mappers` it registers with.
    i: usize,
    report: Reporter,
    /// Tries at start that the mapper left unanswered or refused.
    troubles: u32,
    /// A warning about the current trouble has been logged (or left to the start).
    warned: bool,
}

impl Slot {
    /// Another mapper of this host that holds this node's registration now.
    fn other_up(&self) -> Option<SocketAddr> {
        let host = &self.host;
        (0..host.mappers.len())
            .find(|&j| j != self.i && host.up[j].load(std::sync::atomic::Ordering::Acquire))
            .map(|j| host.mappers[j])
    }

    /// A registration try failed with `msg` (the mapper is silent or
    /// refuses). While starting, reports it, and after [`START_TRIES`]
    /// reports a failure and waits for the start to go on without this
    /// mapper; once running, warns once per episode. Then waits before the
    /// next try.
    async fn trouble(&mut self, msg: String) {
        if self.report.starting() {
            self.troubles += 1;
            // The start says it, once.
            self.warned = true;
            if self.troubles >= START_TRIES {
                self.report.send(self.i, Event::Failed(msg));
                self.report.started().await;
                tokio::time::sleep(RETRY_QUIETLY).await;
            } else {
                self.report.send(self.i, Event::Trouble(msg));
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            return;
        }
        if !self.warned {
            match self.other_up() {
                Some(other) => tracing::warn!(
                    "{msg}; until it answers, other nodes find this node through the port \
                     mapper at {other} only (retrying every {RETRY_QUIETLY:?})"
                ),
                None => tracing::warn!(
                    "{msg}; until it answers, this node is not registered and other nodes \
                     cannot reach it by name (retrying every {RETRY_QUIETLY:?})"
                ),
            }
            self.warned = true;
        }
        tokio::time::sleep(RETRY_QUIETLY).await;
    }
}

async fn maintain(mut slot: Slot) {
    let host = slot.host.clone();
    let reg_addr = host.mappers[slot.i];
    let short = host.name.short();
    // Tries in a row that found nothing listening.
    let mut failures = 0u32;
    // The start was told that nothing listens here.
    let mut absent_said = false;
    // Since when a running node's name has been refused as taken, and whether
    // it said so.
    let mut taken_since: Option<Instant> = None;
    let mut taken_said = false;
    // Closes without an answer in a row.
    let mut closes = 0u32;
    loop {
        let reply = register_once(reg_addr, short, host.port).await;
        if !matches!(reply, Reply::Unreachable(_)) {
            failures = 0;
        }
        closes = if matches!(reply, Reply::Closed) {
            closes + 1
        } else {
            0
        };
        match reply {
            Reply::Registered(mut rd, _wr) => {
                if slot.report.starting() {
                    slot.report.send(slot.i, Event::Up);
                } else if taken_said || slot.warned {
                    tracing::info!(
                        "registered with the port mapper at {reg_addr} as {short} again: \
                         other nodes can reach this node by name"
                    );
                }
                slot.troubles = 0;
                slot.warned = false;
                taken_since = None;
                taken_said = false;
                let up = &host.up[slot.i];
                up.store(true, std::sync::atomic::Ordering::Release);
                let mut sink = [0u8; 64];
                while matches!(rd.read(&mut sink).await, Ok(n) if n > 0) {}
                up.store(false, std::sync::atomic::Ordering::Release);
                tracing::debug!("port mapper registration at {reg_addr} closed; re-registering");
            }
            Reply::Taken => {
                let since = *taken_since.get_or_insert_with(Instant::now);
                // A try the mapper left unanswered (it was paused) sits in its
                // queue and registers the name for a moment when it resumes:
                // give that the grace before calling the name someone else's.
                let ours_maybe = slot.troubles > 0 && since.elapsed() < TAKEN_GRACE;
                if slot.report.starting() && !ours_maybe {
                    slot.report.send(slot.i, Event::Taken);
                    // The start fails, and this task with it, unless it was over.
                    slot.report.started().await;
                    continue;
                }
                if !slot.report.starting() && !taken_said && since.elapsed() >= TAKEN_GRACE {
                    let (ip, port) = (reg_addr.ip(), reg_addr.port());
                    let fix = format!(
                        "`echo NAMES | nc {ip} {port}` shows the port registered as {short}: \
                         stop the process listening on it, or restart this node under another \
                         --name"
                    );
                    match slot.other_up() {
                        Some(other) => tracing::error!(
                            "the port mapper at {reg_addr} gave the name {short} to another \
                             process; nodes that it answers reach that process instead of this \
                             node until that process lets the name go (the port mapper at \
                             {other} still has this node; this node retries every \
                             {RETRY_QUIETLY:?}). {fix}"
                        ),
                        None => tracing::error!(
                            "the port mapper at {reg_addr} gave the name {short} to another \
                             process; other nodes cannot reach this node by name until that \
                             process lets the name go (this node retries every \
                             {RETRY_QUIETLY:?}). {fix}"
                        ),
                    }
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
            Reply::Silent(e) => slot.trouble(e.to_string()).await,
            Reply::Refused(why) => {
                let msg =
                    format!("the port mapper at {reg_addr} refused to register {short}: {why}");
                slot.trouble(msg).await;
            }
            // While starting, a mapper that keeps closing without an answer
            // must not keep the node waiting silently; once running, one such
            // close is the usual sign of a mapper exiting mid-takeover. On a
            // host's ports, a few in a row are something else listening there
            // (the standby port may be any program's), tried once a second.
            Reply::Closed if slot.report.starting() || (host.embedded() && closes > 3) => {
                let msg = format!(
                    "the port mapper at {reg_addr} closed the connection without answering \
                     `ALIVE {short}` (is it a Netsplit port mapper?)"
                );
                slot.trouble(msg).await;
            }
            Reply::Closed => tokio::time::sleep(Duration::from_millis(50)).await,
            Reply::Unreachable(e) => {
                failures += 1;
                match host.serve().await {
                    // This process serves it now: register with ourselves.
                    Some(j) if j == slot.i => continue,
                    // This process serves the other port (one at most): this
                    // one waits for another node of the host to serve it.
                    Some(_) => {
                        if slot.report.starting() && !absent_said {
                            slot.report.send(slot.i, Event::Absent);
                            absent_said = true;
                        }
                        let ms = 400 + rand::random::<u64>() % 200;
                        tokio::time::sleep(Duration::from_millis(ms)).await;
                        continue;
                    }
                    None => {}
                }
                if failures > 50 && slot.report.starting() {
                    slot.report.send(
                        slot.i,
                        Event::Failed(format!(
                            "cannot reach the port mapper at {reg_addr}: {e} (is --portmap right?)"
                        )),
                    );
                    slot.report.started().await;
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
/// stops: a suspended node that kept serving its host's primary or standby
/// port would leave lookups there unanswered until `fg`. Its listener closes,
/// another node of the host that serves neither port takes it over as after
/// an exit, and on `fg` this node registers with that one. Installed once,
/// when the process first serves a map. SIGSTOP cannot be caught: a node
/// stopped that way keeps its port, and the host's other mapper stands in
/// (see the module documentation).
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
            msg.starts_with(&format!(
                "the port mapper at 127.0.0.1:{p} accepted the connection"
            )),
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
        assert!(
            msg.contains(&format!("127.0.0.1:{p}")) && msg.contains(paused),
            "{msg}"
        );
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
        for (p, s) in [
            (Fake::Answer("OK"), Fake::Answer("TAKEN")),
            (Fake::Answer("TAKEN"), Fake::Answer("OK")),
        ] {
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
