//! Distribution: connections between nodes, their set-up, liveness and teardown.
//!
//! One connection per pair of nodes carries everything between them, in order.
//! While a connection is being set up, frames queue in its `Pending` state and
//! go out first once it is up; if set-up fails, every monitor and link that was
//! waiting on it fires with `NoConnection` — the same as losing a live one.
//!
//! Invariants of the set-up (see `handshake` for the frames):
//! - Nothing a peer says before it has proven the cookie touches a live
//!   connection: a Hello claiming a connected node's name costs that node
//!   nothing, and one claiming an unconnected node's name cannot hold its
//!   place (the real node's handshake runs beside it, and a local send dials
//!   out rather than wait behind it).
//! - Two nodes that dial each other at once end with one connection: the
//!   larger name's dial wins, checked when a Hello arrives and again once it
//!   is proven.
//! - A live connection is replaced only by a proven one from a new incarnation
//!   (another `creation`), or from the same incarnation when it says it has
//!   lost the old one (Erlang's `alive` check); the old one's NodeDown goes
//!   out before the new one's NodeUp.
//! - On a lost connection, monitors' Down and links' exits are delivered
//!   before NodeDown, as on the BEAM.

pub mod cookie;
pub(crate) mod handshake;
mod protocol;

pub(crate) use protocol::DistMsg;

use crate::exit::{ExitReason, NodeDownReason};
use crate::node::{Node, NodeInner, StartError};
use crate::pid::{NodeName, Pid, Ref};
use crate::process::ReplyBody;
use crate::transport::tcp::TcpOutbox;
use crate::transport::{FrameReader, FrameWriter, Listener, Transport};
use handshake::{Decision, HsError, Me, Peer, Proven, Refusal};
use parking_lot::Mutex;
use rustc_hash::{FxHashMap, FxHashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tracing::Instrument;

/// Room left in a frame for what surrounds a message's payload (pids, names,
/// the message's type name): a payload larger than `max_frame` minus this is
/// not sent.
const FRAME_HEADROOM: usize = 4096;

/// Handshakes from peers that have not proven the cookie yet, at most; more
/// are closed at once, so a flood of them cannot exhaust a node.
const MAX_UNPROVEN: usize = 128;
/// The same, from any one IP address, so that one host's flood leaves room
/// for the others.
const MAX_UNPROVEN_PER_IP: usize = 32;

/// The largest payload a message may carry on `node`'s connections.
fn payload_limit(node: &Node) -> usize {
    node.inner.config.max_frame.saturating_sub(FRAME_HEADROOM)
}

/// What a connection carries besides bytes: the remote relations that must fire
/// when it goes away.
#[derive(Default)]
pub(crate) struct ConnBook {
    /// Monitors held by local processes (or call slots) on the peer's processes.
    pub(crate) out_monitors: FxHashMap<Ref, Pid>,
    /// Monitors held by the peer's processes on local processes: ref → local id.
    pub(crate) in_monitors: FxHashMap<Ref, u64>,
    /// Links between a local process (id) and a peer process.
    pub(crate) links: FxHashSet<(u64, Pid)>,
}

/// Asks a connection task to close with a reason; it answers once cleaned up.
type CloseRequest = oneshot::Sender<(NodeDownReason, oneshot::Sender<()>)>;

pub(crate) struct Conn {
    id: u64,
    peer: NodeName,
    /// The peer incarnation's creation: a proven Hello with another one is a restart.
    creation: u32,
    hidden: bool,
    tx: ConnTx,
    pub(crate) book: Mutex<ConnBook>,
    ctrl: Mutex<Option<CloseRequest>>,
}

impl Conn {
    /// Asks the connection's task to close it with `reason`; the receiver fires
    /// once the task has cleaned up. `None` if it is already closing.
    fn close(&self, reason: NodeDownReason) -> Option<oneshot::Receiver<()>> {
        let ctrl = self.ctrl.lock().take()?;
        let (tx, rx) = oneshot::channel();
        ctrl.send((reason, tx)).ok()?;
        Some(rx)
    }
}

/// Where a connection's outgoing frames go, counted for the tick rule.
struct ConnTx {
    out: Out,
    /// Frames queued so far, ticks included.
    frames: AtomicU64,
}

enum Out {
    /// TCP: encoded straight into the connection's outbox (see [`TcpOutbox`]).
    Tcp(Arc<TcpOutbox>),
    /// Any other transport: whole frames through a channel to the writer task.
    Queue(mpsc::UnboundedSender<Vec<u8>>),
}

impl ConnTx {
    /// Queues `msg`; returns its encoded size. With `inline` (TCP), the caller
    /// then calls [`ConnTx::flush_inline`] once it holds no lock.
    fn send_msg(&self, msg: &DistMsg, inline: bool) -> usize {
        self.frames.fetch_add(1, Ordering::Relaxed);
        match &self.out {
            Out::Tcp(out) => out.push(|buf| encode_into(msg, buf), inline),
            Out::Queue(tx) => {
                let frame = encode(msg);
                let n = frame.len();
                let _ = tx.send(frame);
                n
            }
        }
    }

    /// Queues an already encoded frame.
    fn send_frame(&self, frame: Vec<u8>) {
        self.frames.fetch_add(1, Ordering::Relaxed);
        match &self.out {
            Out::Tcp(out) => {
                out.push(|buf| buf.extend_from_slice(&frame), false);
            }
            Out::Queue(tx) => {
                let _ = tx.send(frame);
            }
        }
    }

    fn flush_inline(&self) {
        if let Out::Tcp(out) = &self.out {
            out.flush_inline();
        }
    }
}

/// Who this node is, for a handshake.
fn me(inner: &NodeInner) -> Me<'_> {
    Me {
        name: &inner.name,
        creation: inner.creation,
        hidden: inner.config.hidden,
        cookie: &inner.cookie,
        peer_cookies: inner.peer_cookies.read().clone(),
    }
}

struct Pending {
    queue: Vec<Vec<u8>>,
    book: ConnBook,
    waiters: Vec<oneshot::Sender<bool>>,
    /// Handshakes in flight that may still bring this connection up.
    attempts: u32,
    /// True when one of them is ours (we dialled).
    initiating: bool,
    /// A proven handshake is bringing the connection up: no other may.
    claimed: bool,
}

impl Pending {
    /// A connection attempt that has just begun: one handshake in flight.
    fn first_attempt(initiating: bool) -> Pending {
        Pending {
            queue: vec![],
            book: ConnBook::default(),
            waiters: vec![],
            attempts: 1,
            initiating,
            claimed: false,
        }
    }

    /// Makes sure one of the attempts is our own dial; true if the caller
    /// must start it. A connection is never left to wait on a handshake that
    /// only the other side began, which may be anyone's.
    fn dial_out(&mut self) -> bool {
        if self.initiating || self.claimed {
            return false;
        }
        self.initiating = true;
        self.attempts += 1;
        true
    }
}

enum PeerState {
    Pending(Pending),
    Up(Arc<Conn>),
}

pub(crate) struct Dist {
    transport: Transport,
    peers: Mutex<FxHashMap<NodeName, PeerState>>,
    next_conn: AtomicU64,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    stopped: AtomicBool,
    /// Incoming handshakes whose peer has not proven the cookie yet.
    unproven: AtomicUsize,
    /// The same, per IP address they come from.
    unproven_by_ip: Mutex<FxHashMap<std::net::IpAddr, usize>>,
    /// When the cap on them was last reported, so a flood logs one line.
    cap_reported: Mutex<Option<std::time::Instant>>,
}

fn encode(msg: &DistMsg) -> Vec<u8> {
    postcard::to_allocvec(msg).expect("distribution frames always serialize")
}

fn encode_into(msg: &DistMsg, buf: &mut Vec<u8>) {
    let v = std::mem::take(buf);
    *buf = postcard::to_extend(msg, v).expect("distribution frames always serialize");
}

impl Dist {
    pub(crate) fn new(transport: Transport) -> Self {
        Dist {
            transport,
            peers: Mutex::new(FxHashMap::default()),
            next_conn: AtomicU64::new(1),
            tasks: Mutex::new(Vec::new()),
            stopped: AtomicBool::new(false),
            unproven: AtomicUsize::new(0),
            unproven_by_ip: Mutex::new(FxHashMap::default()),
            cap_reported: Mutex::new(None),
        }
    }

    pub(crate) fn listen_addr(&self) -> Option<std::net::SocketAddr> {
        self.transport.listen_addr()
    }

    pub(crate) async fn start_listening(&self, node: &Node) -> Result<(), StartError> {
        let listener = self.transport.listen(&node.inner.name).await?;
        let n = node.clone();
        let task = tokio::spawn(accept_loop(n, listener).instrument(node.inner.span.clone()));
        self.tasks.lock().push(task);
        Ok(())
    }

    /// Queues a frame for `peer`, connecting first if needed; `book_fn` records the
    /// relation the frame creates or ends, atomically with queueing it.
    pub(crate) fn send(
        &self,
        node: &Node,
        peer: &NodeName,
        msg: DistMsg,
        book_fn: impl FnOnce(&mut ConnBook),
    ) {
        self.send_inner(node, peer, msg, book_fn, true)
    }

    /// Like `send`, but never starts a connection (Erlang's `noconnect`).
    /// Without one the frame is dropped, and whatever `book_fn` records is
    /// settled as a lost connection would settle it: a monitor it sets (a
    /// call's) fires `Down(NoConnection)` at once.
    pub(crate) fn send_if_connected(
        &self,
        node: &Node,
        peer: &NodeName,
        msg: DistMsg,
        book_fn: impl FnOnce(&mut ConnBook),
    ) {
        self.send_inner(node, peer, msg, book_fn, false)
    }

    /// A message the peer would refuse, because its frame would exceed the
    /// frame limit, is not sent: the peer would close the connection, taking
    /// every other message, monitor and link on it down too. It is dropped,
    /// as an undeliverable message is, with an error in the log; a call ends
    /// at once with an error, and a reply becomes an error for the caller.
    fn refuse_oversized(
        &self,
        node: &Node,
        peer: &NodeName,
        msg: DistMsg,
        book_fn: impl FnOnce(&mut ConnBook),
        connect: bool,
    ) {
        let len = msg.payload_len().unwrap_or_default();
        let limit = payload_limit(node);
        tracing::error!(
            parent: &node.inner.span,
            "not sending a {} of {len} bytes to {peer}: over the {limit}-byte frame limit \
             (NodeConfig::max_frame); send the data in smaller messages",
            msg.kind()
        );
        match msg {
            DistMsg::Call { reply_to, .. } | DistMsg::RegCall { reply_to, .. } => {
                let reason = ExitReason::error(format!(
                    "the request ({len} bytes) is over the {limit}-byte frame limit; it was not sent"
                ));
                node.deliver_down_local(&reply_to, &Node::slot_ref(&reply_to), reason);
            }
            DistMsg::Reply { to, .. } => {
                let body = ReplyBody::TooLarge(len, limit);
                self.send_inner(node, peer, DistMsg::Reply { to, body }, book_fn, connect);
            }
            _ => {}
        }
    }

    /// [`Dist::send`] if `connect`, else [`Dist::send_if_connected`].
    pub(crate) fn send_inner(
        &self,
        node: &Node,
        peer: &NodeName,
        msg: DistMsg,
        book_fn: impl FnOnce(&mut ConnBook),
        connect: bool,
    ) {
        if msg
            .payload_len()
            .is_some_and(|len| len > payload_limit(node))
        {
            return self.refuse_oversized(node, peer, msg, book_fn, connect);
        }
        // A sender about to wait for the answer writes its frame itself when
        // the connection is idle, rather than waking the writer task.
        let inline = matches!(
            msg,
            DistMsg::Call { .. } | DistMsg::RegCall { .. } | DistMsg::Reply { .. }
        );
        let mut peers = self.peers.lock();
        let bytes = match peers.get_mut(peer) {
            Some(PeerState::Up(c)) => {
                book_fn(&mut c.book.lock());
                let bytes = c.tx.send_msg(&msg, inline);
                if inline {
                    let c = c.clone();
                    drop(peers);
                    c.tx.flush_inline();
                }
                bytes
            }
            Some(PeerState::Pending(p)) => {
                book_fn(&mut p.book);
                let frame = encode(&msg);
                let bytes = frame.len();
                p.queue.push(frame);
                if connect && !self.stopped.load(Ordering::Relaxed) && p.dial_out() {
                    drop(peers);
                    self.spawn_initiator(node, peer.clone());
                }
                bytes
            }
            None if !connect => {
                drop(peers);
                let mut book = ConnBook::default();
                book_fn(&mut book);
                node.connection_lost(book);
                return;
            }
            None => {
                let mut pending = Pending::first_attempt(true);
                book_fn(&mut pending.book);
                if self.stopped.load(Ordering::Relaxed) {
                    drop(peers);
                    node.connection_lost(pending.book);
                    return;
                }
                let frame = encode(&msg);
                let bytes = frame.len();
                pending.queue.push(frame);
                peers.insert(peer.clone(), PeerState::Pending(pending));
                drop(peers);
                self.spawn_initiator(node, peer.clone());
                bytes
            }
        };
        if let Some(t) = &node.inner.trace {
            let (from, to, ty) = msg.trace_fields();
            t.record(
                "send",
                &node.inner.name,
                peer,
                msg.kind(),
                from,
                to,
                ty,
                bytes,
            );
        }
    }

    pub(crate) async fn connect(&self, node: &Node, peer: &NodeName) -> bool {
        let (tx, rx) = oneshot::channel();
        {
            let mut peers = self.peers.lock();
            match peers.get_mut(peer) {
                Some(PeerState::Up(_)) => return true,
                Some(PeerState::Pending(p)) => {
                    p.waiters.push(tx);
                    if !self.stopped.load(Ordering::Relaxed) && p.dial_out() {
                        drop(peers);
                        self.spawn_initiator(node, peer.clone());
                    }
                }
                None => {
                    if self.stopped.load(Ordering::Relaxed) {
                        return false;
                    }
                    let mut pending = Pending::first_attempt(true);
                    pending.waiters.push(tx);
                    peers.insert(peer.clone(), PeerState::Pending(pending));
                    drop(peers);
                    self.spawn_initiator(node, peer.clone());
                }
            }
        }
        rx.await.unwrap_or(false)
    }

    fn spawn_initiator(&self, node: &Node, peer: NodeName) {
        let n = node.clone();
        tokio::spawn(async move { initiate(n, peer).await }.instrument(node.inner.span.clone()));
    }

    pub(crate) async fn disconnect(&self, peer: &NodeName) -> bool {
        let conn = match self.peers.lock().get(peer) {
            Some(PeerState::Up(c)) => c.clone(),
            _ => return false,
        };
        let Some(done) = conn.close(NodeDownReason::Disconnect) else {
            return false;
        };
        let _ = done.await;
        true
    }

    pub(crate) fn nodes(&self, hidden: Option<bool>) -> Vec<NodeName> {
        let mut v: Vec<NodeName> = self
            .peers
            .lock()
            .iter()
            .filter_map(|(n, s)| match s {
                PeerState::Up(c) if hidden.is_none_or(|h| h == c.hidden) => Some(n.clone()),
                _ => None,
            })
            .collect();
        v.sort();
        v
    }

    pub(crate) async fn stop(&self) {
        self.stopped.store(true, Ordering::SeqCst);
        for t in self.tasks.lock().drain(..) {
            t.abort();
        }
        self.transport.stop();
        let peers: Vec<NodeName> = self.peers.lock().keys().cloned().collect();
        for p in peers {
            let _ =
                tokio::time::timeout(std::time::Duration::from_secs(1), self.disconnect(&p)).await;
        }
    }

    /// One handshake attempt for `peer` failed: if it was the last, the pending
    /// connection fails as a whole.
    fn attempt_failed(&self, node: &Node, peer: &NodeName) {
        let failed = {
            let mut peers = self.peers.lock();
            match peers.get_mut(peer) {
                Some(PeerState::Pending(p)) => {
                    p.attempts = p.attempts.saturating_sub(1);
                    if p.attempts == 0 {
                        match peers.remove(peer) {
                            Some(PeerState::Pending(p)) => Some(p),
                            _ => None,
                        }
                    } else {
                        None
                    }
                }
                _ => None,
            }
        };
        if let Some(p) = failed {
            for w in p.waiters {
                let _ = w.send(false);
            }
            node.connection_lost(p.book);
        }
    }

    /// The responder's rules when a Hello arrives, before any proof: they
    /// may refuse it, and may record it as an attempt (true) so that the
    /// connection waits for it, but never touch a live connection.
    fn claimed(&self, me: &NodeName, peer: &Peer) -> (Decision, bool) {
        let mut peers = self.peers.lock();
        if self.stopped.load(Ordering::Relaxed) {
            return (
                Decision::Refuse(Refusal::Other("node is stopping".into())),
                false,
            );
        }
        match peers.get_mut(&peer.name) {
            Some(PeerState::Pending(p)) if p.initiating && me > &peer.name => {
                (Decision::Refuse(Refusal::Simultaneous), false)
            }
            Some(PeerState::Pending(p)) => {
                p.attempts += 1;
                (Decision::Accept, true)
            }
            Some(PeerState::Up(_)) => (Decision::Accept, false),
            None => {
                peers.insert(
                    peer.name.clone(),
                    PeerState::Pending(Pending::first_attempt(false)),
                );
                (Decision::Accept, true)
            }
        }
    }

    /// The responder's rules once the peer has proven the cookie (`asked`:
    /// and has said it still wants this connection). On `Accept` the
    /// connection is claimed for this handshake; a live one it replaces is
    /// put in `replaced`, for the caller to close first.
    fn proven(
        &self,
        me: &NodeName,
        peer: &Peer,
        asked: bool,
        replaced: &mut Option<Arc<Conn>>,
    ) -> Proven {
        let mut peers = self.peers.lock();
        if self.stopped.load(Ordering::Relaxed) {
            return Proven::Refuse(Refusal::Other("node is stopping".into()));
        }
        match peers.get_mut(&peer.name) {
            Some(PeerState::Up(c)) if c.creation == peer.creation && !asked => Proven::AskAlive,
            Some(PeerState::Up(c)) => {
                // A new incarnation (its node restarted faster than ticks
                // noticed), or the same one that lost the old connection.
                *replaced = Some(c.clone());
                let mut p = Pending::first_attempt(false);
                p.claimed = true;
                peers.insert(peer.name.clone(), PeerState::Pending(p));
                Proven::Accept
            }
            Some(PeerState::Pending(p)) if p.claimed => Proven::Refuse(Refusal::Other(
                "another connection from you is being brought up".into(),
            )),
            Some(PeerState::Pending(p)) if p.initiating && me > &peer.name => {
                Proven::Refuse(Refusal::Simultaneous)
            }
            Some(PeerState::Pending(p)) => {
                p.claimed = true;
                Proven::Accept
            }
            None => {
                let mut p = Pending::first_attempt(false);
                p.claimed = true;
                peers.insert(peer.name.clone(), PeerState::Pending(p));
                Proven::Accept
            }
        }
    }

    /// Whether a connection that we dialled is still wanted: the answer to a
    /// responder's `Alive` question.
    fn still_wanted(&self, peer: &NodeName) -> bool {
        // Claimed: our side is bringing up the peer's own dial instead.
        matches!(self.peers.lock().get(peer), Some(PeerState::Pending(p)) if !p.claimed)
    }

    /// A handshake succeeded: the connection is up. `first` (the responder's
    /// `Accepted`) goes out before anything else on it.
    fn conn_up(
        &self,
        node: &Node,
        peer: Peer,
        reader: FrameReader,
        writer: FrameWriter,
        first: Option<Vec<u8>>,
    ) {
        let (ctrl_tx, ctrl_rx) = oneshot::channel();
        let hidden = peer.hidden || node.is_hidden();
        let (wfail_tx, wfail_rx) = oneshot::channel();
        // Frames queued before the writer task first runs wait for it.
        let (out, writer_task) = match writer {
            FrameWriter::Tcp(w) => {
                let out = TcpOutbox::new(w);
                let o = out.clone();
                let task = tokio::spawn(async move {
                    if o.run().await.is_err() {
                        let _ = wfail_tx.send(());
                    }
                });
                (Out::Tcp(out), task)
            }
            w => {
                let (tx, rx) = mpsc::unbounded_channel();
                let task = tokio::spawn(write_loop(w, rx, wfail_tx));
                (Out::Queue(tx), task)
            }
        };
        let conn = Arc::new(Conn {
            id: self.next_conn.fetch_add(1, Ordering::Relaxed),
            peer: peer.name.clone(),
            creation: peer.creation,
            hidden,
            tx: ConnTx {
                out,
                frames: AtomicU64::new(0),
            },
            book: Mutex::new(ConnBook::default()),
            ctrl: Mutex::new(Some(ctrl_tx)),
        });
        if let Some(f) = first {
            conn.tx.send_frame(f);
        }
        let (waiters, displaced) = {
            let mut peers = self.peers.lock();
            let prev = peers.insert(peer.name.clone(), PeerState::Up(conn.clone()));
            match prev {
                Some(PeerState::Pending(p)) => {
                    *conn.book.lock() = p.book;
                    for f in p.queue {
                        conn.tx.send_frame(f);
                    }
                    (p.waiters, None)
                }
                Some(PeerState::Up(old)) => (vec![], Some(old)),
                None => (vec![], None),
            }
        };
        if let Some(old) = displaced {
            // The set-up rules leave one connection per pair; should two
            // still meet here, the newer one (which the peer also holds) stays.
            tracing::warn!(parent: &node.inner.span, "two connections to {} came up at once; closing the older", peer.name);
            let _ = old.close(NodeDownReason::ConnectionClosed);
        }
        tracing::info!(parent: &node.inner.span, "connected to {} (creation {}){}", peer.name, peer.creation, if hidden { " (hidden)" } else { "" });
        // NodeUp goes out before the first frame from the peer is read: watchers
        // always see nodeup before any message over the new connection.
        node.notify_node_event(&peer.name, hidden, None);
        for w in waiters {
            let _ = w.send(true);
        }
        if !hidden {
            let others: Vec<NodeName> = self
                .nodes(Some(false))
                .into_iter()
                .filter(|n| n != &peer.name)
                .collect();
            conn.tx.send_msg(&DistMsg::Peers(others), false);
        }
        let n = node.clone();
        tokio::spawn(
            async move { run_conn(n, conn, reader, writer_task, wfail_rx, ctrl_rx).await }
                .instrument(node.inner.span.clone()),
        );
    }
}

async fn accept_loop(node: Node, mut listener: Listener) {
    loop {
        let Some((r, w, from)) = listener.accept().await else {
            return;
        };
        let Some(slot) = Unproven::take(&node, from) else {
            report_cap(&node);
            continue;
        };
        let n = node.clone();
        tokio::spawn(
            async move { accept_one(n, r, w, from, slot).await }
                .instrument(node.inner.span.clone()),
        );
    }
}

/// One incoming handshake counted against the caps until its peer has
/// proven the cookie (or it ends).
struct Unproven {
    node: Node,
    ip: Option<std::net::IpAddr>,
}

impl Unproven {
    /// A slot, or `None` if a cap is reached.
    fn take(node: &Node, from: Option<std::net::SocketAddr>) -> Option<Unproven> {
        let dist = &node.inner.dist;
        let ip = from.map(|a| a.ip());
        let mut by_ip = dist.unproven_by_ip.lock();
        if dist.unproven.load(Ordering::Acquire) >= MAX_UNPROVEN {
            return None;
        }
        if let Some(ip) = ip {
            let n = by_ip.entry(ip).or_insert(0);
            if *n >= MAX_UNPROVEN_PER_IP {
                return None;
            }
            *n += 1;
        }
        dist.unproven.fetch_add(1, Ordering::AcqRel);
        Some(Unproven {
            node: node.clone(),
            ip,
        })
    }
}

impl Drop for Unproven {
    fn drop(&mut self) {
        let dist = &self.node.inner.dist;
        let mut by_ip = dist.unproven_by_ip.lock();
        if let Some(ip) = self.ip {
            if let Some(n) = by_ip.get_mut(&ip) {
                *n -= 1;
                if *n == 0 {
                    by_ip.remove(&ip);
                }
            }
        }
        dist.unproven.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Logs, at most every 10 s, that incoming handshakes are being turned away.
fn report_cap(node: &Node) {
    let mut last = node.inner.dist.cap_reported.lock();
    let now = std::time::Instant::now();
    if last.is_none_or(|t| now.duration_since(t) >= std::time::Duration::from_secs(10)) {
        *last = Some(now);
        tracing::warn!(parent: &node.inner.span, "too many incoming connections have not proven the cookie yet ({MAX_UNPROVEN} in all or {MAX_UNPROVEN_PER_IP} from one address); closing new ones until they finish or time out (a flood from another host?)");
    }
}

/// Where an incoming connection comes from, for the log.
fn origin(from: Option<std::net::SocketAddr>, who: Option<&NodeName>) -> String {
    let addr = from.map(|a| format!(" from {a}")).unwrap_or_default();
    match who {
        Some(n) => format!("connection{addr} claiming to be {n}"),
        None => format!("connection{addr}"),
    }
}

async fn accept_one(
    node: Node,
    mut r: FrameReader,
    mut w: FrameWriter,
    from: Option<std::net::SocketAddr>,
    slot: Unproven,
) {
    let inner = &node.inner;
    let dist = &inner.dist;
    let me = me(inner);
    let mut who = None;
    let mut registered = false;
    let mut replaced = None;
    let res = tokio::time::timeout(
        inner.config.setup_time,
        handshake::accept(
            &me,
            &mut r,
            &mut w,
            |p| {
                let (d, reg) = dist.claimed(&inner.name, p);
                registered = reg;
                d
            },
            |p, asked| dist.proven(&inner.name, p, asked, &mut replaced),
            &mut who,
        ),
    )
    .await
    .unwrap_or(Err(HsError::Timeout(inner.config.setup_time)));
    drop(slot);
    match res {
        Ok(peer) => {
            // Close the connection this one replaces before it is up, so
            // watchers see the old one's NodeDown first.
            if let Some(done) = replaced.and_then(|old| old.close(NodeDownReason::ConnectionClosed))
            {
                let _ = tokio::time::timeout(std::time::Duration::from_secs(1), done).await;
            }
            dist.conn_up(&node, peer, r, w, Some(handshake::accepted_frame()));
        }
        Err(e) => {
            let span = &inner.span;
            let origin = origin(from, who.as_ref());
            match &e {
                HsError::Refused(Refusal::Simultaneous | Refusal::Duplicate) => {
                    tracing::debug!(parent: span, "{origin}: {e}")
                }
                HsError::BadCookie => tracing::error!(parent: span, "{origin} refused: {e}"),
                _ => tracing::warn!(parent: span, "{origin} failed: {e}"),
            }
            if registered {
                if let Some(p) = &who {
                    dist.attempt_failed(&node, p);
                }
            }
        }
    }
}

async fn initiate(node: Node, peer: NodeName) {
    let inner = &node.inner;
    let me = me(inner);
    let attempt = async {
        let (mut r, mut w) = inner
            .dist
            .transport
            .connect(&inner.name, &peer)
            .await
            .map_err(HsError::Io)?;
        let p = handshake::initiate(&me, &peer, &mut r, &mut w, || {
            inner.dist.still_wanted(&peer)
        })
        .await?;
        Ok::<_, HsError>((p, r, w))
    };
    let outcome = tokio::time::timeout(inner.config.setup_time, attempt)
        .await
        .unwrap_or(Err(HsError::Timeout(inner.config.setup_time)));
    match outcome {
        Ok((p, r, w)) => inner.dist.conn_up(&node, p, r, w, None),
        Err(HsError::Refused(Refusal::Simultaneous)) => {
            // The peer's own connection to us wins; give it the set-up time to arrive.
            let deadline = tokio::time::Instant::now() + inner.config.setup_time;
            while tokio::time::Instant::now() < deadline {
                if !matches!(
                    inner.dist.peers.lock().get(&peer),
                    Some(PeerState::Pending(_))
                ) {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
            inner.dist.attempt_failed(&node, &peer);
        }
        Err(HsError::Refused(Refusal::Duplicate)) => {
            // We are connected already, by the peer's own dial.
            tracing::debug!(parent: &inner.span, "connection to {peer} not needed: already connected");
            inner.dist.attempt_failed(&node, &peer);
        }
        Err(e) => {
            let span = &inner.span;
            match &e {
                HsError::BadCookie => {
                    tracing::error!(parent: span, "connection to {peer} refused: {e}")
                }
                // The port mapper's own errors say what to check; a bare
                // refusal or "not found" gets the usual two questions.
                HsError::Io(io)
                    if matches!(
                        io.kind(),
                        std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::NotFound
                    ) =>
                {
                    tracing::warn!(parent: span, "cannot connect to {peer}: {io} (is it running? same port mapper?)")
                }
                HsError::Io(io) => tracing::warn!(parent: span, "cannot connect to {peer}: {io}"),
                _ => tracing::warn!(parent: span, "connection to {peer} failed: {e}"),
            }
            inner.dist.attempt_failed(&node, &peer);
        }
    }
}

async fn write_loop(
    mut w: FrameWriter,
    mut rx: mpsc::UnboundedReceiver<Vec<u8>>,
    failed: oneshot::Sender<()>,
) {
    while let Some(frame) = rx.recv().await {
        let mut ok = w.write(&frame).await.is_ok();
        let mut batch = 0;
        while ok && batch < 1024 {
            match rx.try_recv() {
                Ok(f) => ok = w.write(&f).await.is_ok(),
                Err(_) => break,
            }
            batch += 1;
        }
        if !ok || w.flush().await.is_err() {
            let _ = failed.send(());
            return;
        }
    }
}

async fn run_conn(
    node: Node,
    conn: Arc<Conn>,
    mut reader: FrameReader,
    writer_task: JoinHandle<()>,
    mut writer_failed: oneshot::Receiver<()>,
    mut ctrl: oneshot::Receiver<(NodeDownReason, oneshot::Sender<()>)>,
) {
    let inner = &node.inner;
    let interval = inner.config.tick_interval();
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let intensity = inner.config.tick_intensity;
    let max_frame = inner.config.max_frame;
    let mut silent = 0u32;
    let mut heard = false;
    // Frames queued as of the last check, counting the tick it sent if any.
    let mut queued_at_check = conn.tx.frames.load(Ordering::Relaxed);
    let mut done = None;
    let reason = loop {
        tokio::select! {
            biased;
            r = &mut ctrl => match r {
                Ok((why, d)) => { done = Some(d); break why; }
                Err(_) => break NodeDownReason::Disconnect,
            },
            _ = &mut writer_failed => break NodeDownReason::ConnectionClosed,
            f = reader.recv_with(max_frame, |b| (postcard::from_bytes::<DistMsg>(b), b.len())) => match f {
                Ok(Some((decoded, len))) => {
                    heard = true;
                    match decoded {
                        Ok(msg) => {
                            if let Some(t) = &inner.trace {
                                let (from, to, ty) = msg.trace_fields();
                                t.record("recv", &conn.peer, &inner.name, msg.kind(), from, to, ty, len);
                            }
                            if let DistMsg::Peers(list) = &msg {
                                mesh_with(&node, list);
                            }
                            node.handle_dist(msg, &conn.book);
                        }
                        Err(e) => {
                            tracing::error!(parent: &inner.span, "malformed frame from {} ({e}); closing the connection", conn.peer);
                            break NodeDownReason::ConnectionClosed;
                        }
                    }
                }
                Ok(None) => break NodeDownReason::ConnectionClosed,
                Err(e) => {
                    tracing::debug!(parent: &inner.span, "connection to {} broke: {e}", conn.peer);
                    break NodeDownReason::ConnectionClosed;
                }
            },
            _ = ticker.tick() => {
                if heard { silent = 0; } else { silent += 1; }
                heard = false;
                if silent >= intensity {
                    break NodeDownReason::TickTimeout;
                }
                // net_kernel's rule: tick when nothing but our own last tick
                // went out since the previous check, so an idle link carries
                // one tick per interval (a tick does not silence the next).
                let queued = conn.tx.frames.load(Ordering::Relaxed);
                if queued == queued_at_check {
                    conn.tx.send_msg(&DistMsg::Tick, false);
                    queued_at_check = queued + 1;
                } else {
                    queued_at_check = queued;
                }
            }
        }
    };
    writer_task.abort();
    drop(reader);
    let book = {
        let mut peers = inner.dist.peers.lock();
        if matches!(peers.get(&conn.peer), Some(PeerState::Up(c)) if c.id == conn.id) {
            peers.remove(&conn.peer);
        }
        std::mem::take(&mut *conn.book.lock())
    };
    match reason {
        NodeDownReason::TickTimeout => {
            tracing::warn!(parent: &inner.span, "node {} down: no sign of life for {:?} (net_ticktime)", conn.peer, inner.config.net_ticktime)
        }
        r => tracing::info!(parent: &inner.span, "node {} down: {r}", conn.peer),
    }
    // Monitors' Down and links' exits before NodeDown, as on the BEAM.
    node.connection_lost(book);
    node.notify_node_event(&conn.peer, conn.hidden, Some(reason));
    if let Some(d) = done {
        let _ = d.send(());
    }
}

/// Connects to the visible nodes a new peer knows and we do not: the transitive mesh.
fn mesh_with(node: &Node, list: &[NodeName]) {
    if node.is_hidden() {
        return;
    }
    for n in list {
        if n == &node.inner.name {
            continue;
        }
        let known = node.inner.dist.peers.lock().contains_key(n);
        if !known {
            let node = node.clone();
            let n = n.clone();
            tokio::spawn(async move {
                node.connect(&n).await;
            });
        }
    }
}
