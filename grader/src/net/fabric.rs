//! The network in the middle: TCP proxies the grader owns between every pair
//! of nodes, with a fault policy per direction.
//!
//! # Why a proxy per directed link
//!
//! During a graded run nodes never dial each other directly: they look each
//! other up in the grader's [port mapper](crate::net::port_mapper), which answers a
//! lookup by node A for node B with the port of the proxy listener the
//! [`Fabric`] owns for the directed pair (A, B) (see
//! [`Fabric::route_portmap`]). Knowing who dialed whom from the listener
//! alone means no handshake has to be parsed and no node has to cooperate.
//!
//! # Why policies apply per direction of bytes
//!
//! A node-to-node connection carries traffic both ways, whichever side dialed
//! it. So a [`Policy`] belongs to a directed *link* (A → B) and governs the
//! bytes flowing from A to B on every connection between the two nodes, both
//! those A dialed and those B dialed. That is what makes one-way faults
//! meaningful: [`Policy::Blackhole`] on (A → B) alone lets B's bytes reach A
//! while A's bytes to B vanish, as with an asymmetric real partition.
//!
//! * [`Policy::Pass`]: forward as fast as possible.
//! * [`Policy::Cut`]: every connection between the two nodes is reset at once
//!   (RST, via `SO_LINGER` 0) and new ones are accepted then reset straight
//!   away, as a refused connection would be. A TCP connection cannot be half
//!   reset, so a Cut in either direction kills the pair's connections in both.
//! * [`Policy::Blackhole`]: connections stay open but nothing flows in that
//!   direction. The proxy simply stops reading from the sender, so the bytes
//!   are held in socket buffers (and then the sender's writes block), exactly
//!   as TCP behaves when its packets are dropped: only heartbeat timeouts can
//!   notice. Held bytes are delivered in order if the link is later set back
//!   to pass, so a healed connection's framing is never corrupted. A new
//!   connection dialed across a blackholed direction is accepted and then held
//!   silent: the target is not even dialed until the dialer's bytes could
//!   reach it. Likewise, when a node's socket fails, the proxy tells the other
//!   node (by a reset) only once the failed node's direction is no longer
//!   blackholed.
//! * [`Policy::Latency`]: each chunk is delivered no earlier than the delay
//!   after it was read, in order.
//!
//! [`Fabric::heal`] sets every link back to [`Policy::Pass`] but reconnects
//! nothing: connections that were cut stay dead, and nodes reconnect only if
//! their own code does.
//!
//! # Counting and the event log
//!
//! Per directed link the fabric counts bytes and messages forwarded: the
//! runtime's frames on node links, RESP commands and replies on links to a
//! service ([`Fabric::add_service`]); see [`framing`](super::framing). Service
//! links also log when their messages passed, so the timeline can draw a
//! node's store traffic. Every policy change, partition and heal is logged
//! with a timestamp ([`Fabric::events`]), for drawing timelines later.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io;
use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use parking_lot::{Mutex, RwLock};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};

use crate::net::framing::{Counter, Framing};
use crate::net::port_mapper::PortMapper;

/// Size of one read from a socket in the forwarding path.
const CHUNK: usize = 16 * 1024;
/// Chunks queued between a direction's reader and writer (so at most
/// `CHUNK * QUEUED_CHUNKS` bytes are buffered per direction of a connection,
/// for the delay of [`Policy::Latency`]).
const QUEUED_CHUNKS: usize = 64;
/// How long the proxy waits for a target's real port to accept a connection.
const UPSTREAM_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Message times kept per service link for the timeline; later ones are
/// still counted, only not drawn.
const SERVICE_LOG_LIMIT: usize = 20_000;

/// What happens to bytes flowing over one directed link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Policy {
    /// Forward everything.
    #[default]
    Pass,
    /// Reset every connection between the pair and refuse new ones.
    Cut,
    /// Keep connections open but forward nothing in this direction.
    Blackhole,
    /// Delay each chunk by this much, preserving order.
    Latency(Duration),
}

/// How [`Fabric::partition`] and [`Fabric::isolate`] break links between
/// groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartitionMode {
    /// Reset connections between groups, refuse new ones ([`Policy::Cut`]).
    Cut,
    /// Silently forward nothing between groups ([`Policy::Blackhole`]).
    Blackhole,
}

impl PartitionMode {
    fn policy(self) -> Policy {
        match self {
            PartitionMode::Cut => Policy::Cut,
            PartitionMode::Blackhole => Policy::Blackhole,
        }
    }
}

/// Counters of one directed link (A → B).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinkStats {
    /// Bytes forwarded from A to B, over connections dialed by either node.
    pub bytes: u64,
    /// Complete messages forwarded from A to B: frames on node links,
    /// RESP values on service links.
    pub frames: u64,
    /// Connections A dialed to B that the proxy let through.
    pub connections_accepted: u64,
    /// Connections A dialed to B that the proxy refused (the pair was cut).
    pub connections_refused: u64,
    /// Connections A dialed to B that are open right now.
    pub connections_open: u64,
}

/// One entry of the fabric's event log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FabricEvent {
    /// When it happened.
    pub at: Instant,
    /// When it happened, relative to the fabric's creation
    /// ([`Fabric::started_at`]).
    pub since_start: Duration,
    /// What happened.
    pub kind: EventKind,
}

/// What a [`FabricEvent`] records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventKind {
    /// The policy of the directed link `from` → `to` changed.
    PolicyChanged {
        /// Sending node's short name.
        from: String,
        /// Receiving node's short name.
        to: String,
        /// The policy before.
        old: Policy,
        /// The policy after.
        new: Policy,
    },
    /// [`Fabric::partition`] (or [`Fabric::isolate`]) was called; the
    /// resulting [`EventKind::PolicyChanged`] entries follow it.
    Partitioned {
        /// The groups, as given.
        groups: Vec<Vec<String>>,
        /// How links between groups were broken.
        mode: PartitionMode,
    },
    /// [`Fabric::heal`] was called; the resulting
    /// [`EventKind::PolicyChanged`] entries follow it.
    Healed,
}

/// Errors of the fabric's API.
#[derive(Debug, thiserror::Error)]
pub enum FabricError {
    /// A proxy listener could not be created.
    #[error("could not open a proxy listener for {dialer} -> {target}: {source}")]
    Listen {
        /// Dialing node's short name.
        dialer: String,
        /// Target node's short name.
        target: String,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// A node was named in more than one partition group.
    #[error("node `{0}` appears in more than one partition group")]
    NodeInTwoGroups(String),
}

/// Messages on a service link that completed in one forwarded chunk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceTraffic {
    /// When the chunk was forwarded, relative to [`Fabric::started_at`].
    pub since_start: Duration,
    /// Sender: a node, or the service.
    pub from: String,
    /// Receiver: the service, or a node.
    pub to: String,
    /// Messages (commands or replies) the chunk completed.
    pub messages: u64,
    /// Bytes in the chunk.
    pub bytes: u64,
}

/// Shared state of one directed link (from → to).
struct Direction {
    from: String,
    to: String,
    framing: Framing,
    /// Service links only: when messages passed, for the timeline.
    log: Mutex<Vec<(Instant, u64, u64)>>,
    policy: watch::Sender<Policy>,
    bytes: AtomicU64,
    frames: AtomicU64,
    accepted: AtomicU64,
    refused: AtomicU64,
    open: AtomicU64,
}

impl Direction {
    fn new(from: &str, to: &str, framing: Framing) -> Direction {
        Direction {
            from: from.to_owned(),
            to: to.to_owned(),
            framing,
            log: Mutex::new(Vec::new()),
            policy: watch::channel(Policy::Pass).0,
            bytes: AtomicU64::new(0),
            frames: AtomicU64::new(0),
            accepted: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            open: AtomicU64::new(0),
        }
    }

    fn policy(&self) -> Policy {
        *self.policy.borrow()
    }

    fn stats(&self) -> LinkStats {
        LinkStats {
            bytes: self.bytes.load(Ordering::Relaxed),
            frames: self.frames.load(Ordering::Relaxed),
            connections_accepted: self.accepted.load(Ordering::Relaxed),
            connections_refused: self.refused.load(Ordering::Relaxed),
            connections_open: self.open.load(Ordering::Relaxed),
        }
    }
}

type UpstreamResolver = dyn Fn(&str) -> Option<u16> + Send + Sync;

struct Inner {
    started: Instant,
    directions: Mutex<HashMap<(String, String), Arc<Direction>>>,
    /// Proxy listener port per (dialer, target).
    listeners: Mutex<HashMap<(String, String), u16>>,
    /// Every node short name the fabric has heard of.
    nodes: Mutex<BTreeSet<String>>,
    /// Endpoints that are services, with the framing their links carry.
    services: Mutex<HashMap<String, Framing>>,
    upstream_ports: Mutex<HashMap<String, u16>>,
    upstream_resolver: RwLock<Option<Arc<UpstreamResolver>>>,
    events: Mutex<Vec<FabricEvent>>,
    /// Set to `true` when the [`Fabric`] is dropped; every task watches it.
    shutdown: watch::Sender<bool>,
}

impl Inner {
    fn direction(&self, from: &str, to: &str) -> Arc<Direction> {
        let key = (from.to_owned(), to.to_owned());
        let mut dirs = self.directions.lock();
        if let Some(d) = dirs.get(&key) {
            return d.clone();
        }
        {
            let mut nodes = self.nodes.lock();
            nodes.insert(from.to_owned());
            nodes.insert(to.to_owned());
        }
        let framing = {
            let services = self.services.lock();
            services
                .get(from)
                .or_else(|| services.get(to))
                .copied()
                .unwrap_or_default()
        };
        dirs.entry(key)
            .or_insert_with(|| Arc::new(Direction::new(from, to, framing)))
            .clone()
    }

    fn upstream_port(&self, target: &str) -> Option<u16> {
        if let Some(port) = self.upstream_ports.lock().get(target) {
            return Some(*port);
        }
        let resolver = self.upstream_resolver.read().clone();
        resolver.and_then(|r| r(target))
    }

    fn event(&self, events: &mut Vec<FabricEvent>, kind: EventKind) {
        let at = Instant::now();
        events.push(FabricEvent {
            at,
            since_start: at.saturating_duration_since(self.started),
            kind,
        });
    }

    /// Sets one directed link's policy, logging it if it changed. The caller
    /// holds the event log so a multi-link change is logged contiguously.
    fn set_link_locked(&self, events: &mut Vec<FabricEvent>, from: &str, to: &str, policy: Policy) {
        let dir = self.direction(from, to);
        let mut old = policy;
        let changed = dir.policy.send_if_modified(|p| {
            old = *p;
            if *p == policy {
                false
            } else {
                *p = policy;
                true
            }
        });
        if changed {
            tracing::debug!(from, to, ?old, new = ?policy, "link policy changed");
            self.event(
                events,
                EventKind::PolicyChanged {
                    from: from.to_owned(),
                    to: to.to_owned(),
                    old,
                    new: policy,
                },
            );
        }
    }

    fn proxy_port(self: &Arc<Self>, dialer: &str, target: &str) -> Result<u16, FabricError> {
        let key = (dialer.to_owned(), target.to_owned());
        let mut listeners = self.listeners.lock();
        if let Some(port) = listeners.get(&key) {
            return Ok(*port);
        }
        let listen_err = |source: io::Error| FabricError::Listen {
            dialer: dialer.to_owned(),
            target: target.to_owned(),
            source,
        };
        // A std bind keeps this callable from synchronous code (such as the
        // port mapper's resolver hook); the runtime handle is needed to
        // register the socket with tokio and to spawn the accept loop.
        let handle =
            tokio::runtime::Handle::try_current().map_err(|e| listen_err(io::Error::other(e)))?;
        let std_listener =
            std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).map_err(listen_err)?;
        std_listener.set_nonblocking(true).map_err(listen_err)?;
        let port = std_listener.local_addr().map_err(listen_err)?.port();
        let listener = {
            let _entered = handle.enter();
            TcpListener::from_std(std_listener).map_err(listen_err)?
        };
        let fwd = self.direction(dialer, target);
        let back = self.direction(target, dialer);
        handle.spawn(accept_loop(listener, self.clone(), fwd, back));
        listeners.insert(key, port);
        tracing::debug!(dialer, target, port, "proxy listener opened");
        Ok(port)
    }
}

/// A read-only view of a [`Fabric`]'s counters (see [`Fabric::counters`]).
#[derive(Clone)]
pub struct Counters {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Counters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Counters").finish_non_exhaustive()
    }
}

impl Counters {
    /// Counters of the directed link `from` → `to` (zero if never used).
    pub fn stats(&self, from: &str, to: &str) -> LinkStats {
        let key = (from.to_owned(), to.to_owned());
        self.inner
            .directions
            .lock()
            .get(&key)
            .map_or_else(LinkStats::default, |d| d.stats())
    }
}

/// The grader's network between nodes. See the [module docs](self).
///
/// Dropping it closes every proxy listener and every proxied connection.
pub struct Fabric {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Fabric {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fabric")
            .field("nodes", &*self.inner.nodes.lock())
            .finish_non_exhaustive()
    }
}

impl Default for Fabric {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for Fabric {
    fn drop(&mut self) {
        self.inner.shutdown.send_replace(true);
    }
}

impl Fabric {
    /// An empty fabric: no links, every policy [`Policy::Pass`].
    pub fn new() -> Fabric {
        Fabric {
            inner: Arc::new(Inner {
                started: Instant::now(),
                directions: Mutex::new(HashMap::new()),
                listeners: Mutex::new(HashMap::new()),
                nodes: Mutex::new(BTreeSet::new()),
                services: Mutex::new(HashMap::new()),
                upstream_ports: Mutex::new(HashMap::new()),
                upstream_resolver: RwLock::new(None),
                events: Mutex::new(Vec::new()),
                shutdown: watch::channel(false).0,
            }),
        }
    }

    /// When the fabric was created; event times are relative to it.
    pub fn started_at(&self) -> Instant {
        self.inner.started
    }

    /// Tells the fabric the real port of `target`. Takes precedence over the
    /// [upstream resolver](Self::set_upstream_resolver).
    pub fn set_upstream(&self, target: &str, port: u16) {
        self.inner.nodes.lock().insert(target.to_owned());
        self.inner
            .upstream_ports
            .lock()
            .insert(target.to_owned(), port);
    }

    /// Declares `name` a service listening on `port` (a Redis store): its
    /// links count messages in `framing` and log when they pass, for the
    /// timeline. Nodes reach it through [`proxy_port`](Self::proxy_port)
    /// (node, `name`), so every policy, partition and counter that applies
    /// to a node link applies to a node's service link too. Call it again
    /// with the new port when the service restarts.
    pub fn add_service(&self, name: &str, port: u16, framing: Framing) {
        self.inner.services.lock().insert(name.to_owned(), framing);
        self.set_upstream(name, port);
    }

    /// What passed on service links so far, oldest first.
    pub fn service_traffic(&self) -> Vec<ServiceTraffic> {
        let dirs: Vec<Arc<Direction>> = self.inner.directions.lock().values().cloned().collect();
        let mut out = vec![];
        for d in dirs.iter().filter(|d| d.framing != Framing::LengthPrefixed) {
            for (at, messages, bytes) in d.log.lock().iter() {
                out.push(ServiceTraffic {
                    since_start: at.saturating_duration_since(self.inner.started),
                    from: d.from.clone(),
                    to: d.to.clone(),
                    messages: *messages,
                    bytes: *bytes,
                });
            }
        }
        out.sort_by_key(|t| t.since_start);
        out
    }

    /// A cheap, clonable view of the counters, for probes that poll them
    /// while the fabric itself is borrowed elsewhere.
    pub fn counters(&self) -> Counters {
        Counters {
            inner: self.inner.clone(),
        }
    }

    /// Forgets a port set by [`set_upstream`](Self::set_upstream).
    pub fn remove_upstream(&self, target: &str) {
        self.inner.upstream_ports.lock().remove(target);
    }

    /// Installs the function that gives a target's real port. It is asked
    /// afresh for every new proxied connection, so a restarted node that
    /// registered a new port is reached at the new one.
    pub fn set_upstream_resolver<F>(&self, resolver: F)
    where
        F: Fn(&str) -> Option<u16> + Send + Sync + 'static,
    {
        *self.inner.upstream_resolver.write() = Some(Arc::new(resolver));
    }

    /// The port of the proxy listener for connections `dialer` makes to
    /// `target`, opening it on `127.0.0.1:0` if needed.
    ///
    /// Must be called within a tokio runtime (it spawns the accept loop).
    pub fn proxy_port(&self, dialer: &str, target: &str) -> Result<u16, FabricError> {
        self.inner.proxy_port(dialer, target)
    }

    /// Opens the proxy listeners of every directed pair among `nodes`.
    pub fn add_nodes(&self, nodes: &[&str]) -> Result<(), FabricError> {
        for a in nodes {
            for b in nodes {
                if a != b {
                    self.proxy_port(a, b)?;
                }
            }
        }
        Ok(())
    }

    /// Every node short name the fabric has heard of.
    pub fn nodes(&self) -> BTreeSet<String> {
        self.inner.nodes.lock().clone()
    }

    /// Puts the grader in the middle of `portmap`'s lookups: a `LOOKUP` of a
    /// registered target by a requester is answered with this fabric's proxy
    /// port for (requester, target), and proxies reach targets at the real
    /// port they registered (looked up afresh for each connection). Lookups
    /// of unregistered names still answer `NOTFOUND`.
    ///
    /// The hook holds the fabric weakly: once the fabric is dropped, lookups
    /// answer `NOTFOUND`.
    pub fn route_portmap(&self, portmap: &PortMapper) {
        self.route_portmap_except(portmap, &[]);
    }

    /// Like [`Fabric::route_portmap`], except that lookups made by the
    /// `direct` requesters (the grader's own control node) are answered with
    /// the real port: their connections bypass the fabric, so no fault the
    /// fabric injects ever cuts the grader off, and the grader never becomes a
    /// path between the two sides of a partition.
    pub fn route_portmap_except(&self, portmap: &PortMapper, direct: &[&str]) {
        let direct: BTreeSet<String> = direct.iter().map(|d| d.to_string()).collect();
        let registry = portmap.registry();
        self.set_upstream_resolver(move |target| registry.get(target));
        let registry = portmap.registry();
        let weak: Weak<Inner> = Arc::downgrade(&self.inner);
        portmap.set_resolver(move |requester, target| {
            let real = registry.get(target)?;
            if direct.contains(requester) {
                return Some(real);
            }
            let inner = weak.upgrade()?;
            match inner.proxy_port(requester, target) {
                Ok(port) => Some(port),
                Err(e) => {
                    tracing::warn!(error = %e, "could not open a proxy; answering NOTFOUND");
                    None
                }
            }
        });
    }

    /// Sets the policy of the directed link `from` → `to` only. Calling it on
    /// one direction is how one-way faults are made.
    pub fn set_link(&self, from: &str, to: &str, policy: Policy) {
        let mut events = self.inner.events.lock();
        self.inner.set_link_locked(&mut events, from, to, policy);
    }

    /// Sets the policy of both directions between `a` and `b`.
    pub fn set_both(&self, a: &str, b: &str, policy: Policy) {
        let mut events = self.inner.events.lock();
        self.inner.set_link_locked(&mut events, a, b, policy);
        self.inner.set_link_locked(&mut events, b, a, policy);
    }

    /// The current policy of `from` → `to` ([`Policy::Pass`] if never set).
    pub fn link(&self, from: &str, to: &str) -> Policy {
        let key = (from.to_owned(), to.to_owned());
        self.inner
            .directions
            .lock()
            .get(&key)
            .map_or(Policy::Pass, |d| d.policy())
    }

    /// Splits the named nodes into `groups`: links between nodes of different
    /// groups get `mode`'s policy, links within a group are set to
    /// [`Policy::Pass`]. Links involving nodes not named in any group are left
    /// as they are.
    pub fn partition(&self, groups: &[&[&str]], mode: PartitionMode) -> Result<(), FabricError> {
        let mut group_of: BTreeMap<&str, usize> = BTreeMap::new();
        for (i, group) in groups.iter().enumerate() {
            for node in group.iter() {
                if group_of.insert(node, i).is_some_and(|g| g != i) {
                    return Err(FabricError::NodeInTwoGroups((*node).to_owned()));
                }
            }
        }
        let mut events = self.inner.events.lock();
        self.inner.event(
            &mut events,
            EventKind::Partitioned {
                groups: groups
                    .iter()
                    .map(|g| g.iter().map(|n| (*n).to_owned()).collect())
                    .collect(),
                mode,
            },
        );
        for (a, ga) in &group_of {
            for (b, gb) in &group_of {
                if a == b {
                    continue;
                }
                let policy = if ga == gb {
                    Policy::Pass
                } else {
                    mode.policy()
                };
                self.inner.set_link_locked(&mut events, a, b, policy);
            }
        }
        Ok(())
    }

    /// Cuts `node` off from every other node the fabric knows (both
    /// directions). Links among the others are left as they are.
    pub fn isolate(&self, node: &str, mode: PartitionMode) {
        let others: Vec<String> = self.nodes().into_iter().filter(|n| n != node).collect();
        let mut events = self.inner.events.lock();
        self.inner.event(
            &mut events,
            EventKind::Partitioned {
                groups: vec![vec![node.to_owned()], others.clone()],
                mode,
            },
        );
        for other in &others {
            self.inner
                .set_link_locked(&mut events, node, other, mode.policy());
            self.inner
                .set_link_locked(&mut events, other, node, mode.policy());
        }
    }

    /// Sets every link back to [`Policy::Pass`]. Reconnects nothing.
    pub fn heal(&self) {
        let mut events = self.inner.events.lock();
        self.inner.event(&mut events, EventKind::Healed);
        let dirs: Vec<Arc<Direction>> = self.inner.directions.lock().values().cloned().collect();
        for dir in dirs {
            self.inner
                .set_link_locked(&mut events, &dir.from, &dir.to, Policy::Pass);
        }
    }

    /// Counters of the directed link `from` → `to` (zero if never used).
    pub fn stats(&self, from: &str, to: &str) -> LinkStats {
        self.counters().stats(from, to)
    }

    /// Counters of every directed link, keyed by (from, to).
    pub fn all_stats(&self) -> BTreeMap<(String, String), LinkStats> {
        self.inner
            .directions
            .lock()
            .iter()
            .map(|(k, d)| (k.clone(), d.stats()))
            .collect()
    }

    /// The event log so far, oldest first.
    pub fn events(&self) -> Vec<FabricEvent> {
        self.inner.events.lock().clone()
    }
}

/// Makes closing `stream` send a RST instead of a FIN.
fn set_linger_zero(stream: &TcpStream) {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: the fd is a valid socket owned by `stream` for the duration of
    // the call, and the option value points to a properly sized `linger`.
    let rc = unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            std::ptr::from_ref(&linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        tracing::trace!(error = %io::Error::last_os_error(), "SO_LINGER failed");
    }
}

async fn wait_shutdown(rx: &mut watch::Receiver<bool>) {
    // An error means the fabric is gone altogether: also a shutdown.
    let _ = rx.wait_for(|down| *down).await;
}

/// Resolves once either direction of a pair is cut.
async fn wait_cut(a: &Direction, b: &Direction) {
    let mut ra = a.policy.subscribe();
    let mut rb = b.policy.subscribe();
    loop {
        if *ra.borrow_and_update() == Policy::Cut || *rb.borrow_and_update() == Policy::Cut {
            return;
        }
        tokio::select! {
            r = ra.changed() => if r.is_err() { std::future::pending::<()>().await },
            r = rb.changed() => if r.is_err() { std::future::pending::<()>().await },
        }
    }
}

/// Resolves once `dir` is not blackholed.
async fn wait_not_blackholed(rx: &mut watch::Receiver<Policy>) {
    loop {
        if *rx.borrow_and_update() != Policy::Blackhole {
            return;
        }
        if rx.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

async fn accept_loop(
    listener: TcpListener,
    inner: Arc<Inner>,
    fwd: Arc<Direction>,
    back: Arc<Direction>,
) {
    let mut shutdown = inner.shutdown.subscribe();
    loop {
        let accepted = tokio::select! {
            _ = wait_shutdown(&mut shutdown) => return,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((client, _)) => {
                if fwd.policy() == Policy::Cut || back.policy() == Policy::Cut {
                    fwd.refused.fetch_add(1, Ordering::Relaxed);
                    set_linger_zero(&client);
                    drop(client);
                    continue;
                }
                fwd.accepted.fetch_add(1, Ordering::Relaxed);
                tokio::spawn(run_conn(client, inner.clone(), fwd.clone(), back.clone()));
            }
            Err(e) => {
                tracing::warn!(error = %e, from = %fwd.from, to = %fwd.to, "proxy accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// Which node's socket of a proxied connection something happened to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Dialer,
    Target,
}

enum End {
    Graceful,
    Shutdown,
    Cut,
    Failed(Side),
}

struct OpenGuard<'a>(&'a Direction);

impl Drop for OpenGuard<'_> {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::Relaxed);
    }
}

async fn run_conn(client: TcpStream, inner: Arc<Inner>, fwd: Arc<Direction>, back: Arc<Direction>) {
    fwd.open.fetch_add(1, Ordering::Relaxed);
    let _open = OpenGuard(&fwd);
    let mut shutdown = inner.shutdown.subscribe();
    let _ = client.set_nodelay(true);

    // Phase 1: dial the target, once the dialer's bytes could reach it.
    let established = tokio::select! {
        _ = wait_shutdown(&mut shutdown) => return,
        _ = wait_cut(&fwd, &back) => None,
        upstream = establish(&inner, &fwd) => match upstream {
            Some(upstream) => Some(upstream),
            None => {
                // The target is unreachable. A refusal travels target ->
                // dialer, so it is reported only when that way is open.
                let mut back_rx = back.policy.subscribe();
                tokio::select! {
                    _ = wait_shutdown(&mut shutdown) => return,
                    _ = wait_cut(&fwd, &back) => {},
                    _ = wait_not_blackholed(&mut back_rx) => {},
                }
                None
            }
        },
    };
    let Some(upstream) = established else {
        set_linger_zero(&client);
        return;
    };

    // Phase 2: pump both ways. The sockets stay owned here so that however
    // the pumps end, this function decides between FIN and RST.
    let (mut client_r, mut client_w) = client.into_split();
    let (mut up_r, mut up_w) = upstream.into_split();
    let end = {
        let to_target = pump(&mut client_r, &mut up_w, &fwd, Side::Dialer, Side::Target);
        let to_dialer = pump(&mut up_r, &mut client_w, &back, Side::Target, Side::Dialer);
        tokio::select! {
            _ = wait_shutdown(&mut shutdown) => End::Shutdown,
            _ = wait_cut(&fwd, &back) => End::Cut,
            r = async { tokio::try_join!(to_target, to_dialer) } => match r {
                Ok(_) => End::Graceful,
                Err(side) => End::Failed(side),
            },
        }
    };
    match end {
        End::Graceful | End::Shutdown => {}
        End::Cut => {
            tracing::trace!(from = %fwd.from, to = %fwd.to, "connection cut");
        }
        End::Failed(side) => {
            // The failed node's reset travels from it to the other node:
            // deliver it only when that direction is not blackholed.
            let news = match side {
                Side::Dialer => &fwd,
                Side::Target => &back,
            };
            let mut rx = news.policy.subscribe();
            tokio::select! {
                _ = wait_shutdown(&mut shutdown) => {},
                _ = wait_cut(&fwd, &back) => {},
                _ = wait_not_blackholed(&mut rx) => {},
            }
        }
    }
    if !matches!(end, End::Graceful) {
        // Reset both sockets. Dropping a write half would first send a FIN
        // (a clean EOF), so forget the write halves and let the read halves'
        // drop close the sockets with SO_LINGER 0, i.e. a RST.
        set_linger_zero(client_r.as_ref());
        set_linger_zero(up_r.as_ref());
        client_w.forget();
        up_w.forget();
    }
}

/// Waits until `fwd` (dialer → target) is not blackholed, then connects to
/// the target's current real port. `None` if that fails.
async fn establish(inner: &Inner, fwd: &Direction) -> Option<TcpStream> {
    let mut rx = fwd.policy.subscribe();
    wait_not_blackholed(&mut rx).await;
    let Some(port) = inner.upstream_port(&fwd.to) else {
        tracing::debug!(target_node = %fwd.to, "no upstream port known; refusing");
        return None;
    };
    let connect = TcpStream::connect((Ipv4Addr::LOCALHOST, port));
    match tokio::time::timeout(UPSTREAM_CONNECT_TIMEOUT, connect).await {
        Ok(Ok(stream)) => {
            let _ = stream.set_nodelay(true);
            Some(stream)
        }
        Ok(Err(e)) => {
            tracing::debug!(target_node = %fwd.to, port, error = %e, "upstream connect failed");
            None
        }
        Err(_) => None,
    }
}

struct Chunk {
    data: Vec<u8>,
    read_at: Instant,
}

/// Forwards one direction of a connection under `dir`'s policy until the
/// reader reaches EOF (then shuts down the writer). `Err` names the side
/// whose socket failed. [`Policy::Cut`] is handled by the caller.
async fn pump<R, W>(
    reader: &mut R,
    writer: &mut W,
    dir: &Direction,
    read_side: Side,
    write_side: Side,
) -> Result<(), Side>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let (tx, mut rx) = mpsc::channel::<Chunk>(QUEUED_CHUNKS);
    let mut read_policy = dir.policy.subscribe();
    let mut write_policy = dir.policy.subscribe();

    let reading = async move {
        let mut buf = vec![0u8; CHUNK];
        loop {
            // While blackholed, do not even read: the bytes stay in socket
            // buffers and TCP backpressure reaches the sender.
            wait_not_blackholed(&mut read_policy).await;
            let n = reader.read(&mut buf).await.map_err(|_| read_side)?;
            if n == 0 {
                return Ok(());
            }
            let chunk = Chunk {
                data: buf[..n].to_vec(),
                read_at: Instant::now(),
            };
            if tx.send(chunk).await.is_err() {
                return Ok(());
            }
        }
    };

    let writing = async move {
        let mut frames = Counter::new(dir.framing);
        while let Some(chunk) = rx.recv().await {
            loop {
                let policy = *write_policy.borrow_and_update();
                let wait_until = match policy {
                    Policy::Pass => break,
                    // The caller tears the connection down; never forward.
                    Policy::Cut => std::future::pending::<Option<Instant>>().await,
                    Policy::Blackhole => None,
                    Policy::Latency(delay) => {
                        let due = chunk.read_at + delay;
                        if Instant::now() >= due {
                            break;
                        }
                        Some(due)
                    }
                };
                // Wait for the deadline or a policy change, whichever first.
                let sleep = async {
                    match wait_until {
                        Some(due) => tokio::time::sleep_until(due.into()).await,
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    _ = sleep => {},
                    r = write_policy.changed() => if r.is_err() { std::future::pending::<()>().await },
                }
            }
            writer
                .write_all(&chunk.data)
                .await
                .map_err(|_| write_side)?;
            dir.bytes
                .fetch_add(chunk.data.len() as u64, Ordering::Relaxed);
            let done = frames.feed(&chunk.data);
            if done > 0 {
                dir.frames.fetch_add(done, Ordering::Relaxed);
                if dir.framing != Framing::LengthPrefixed {
                    let mut log = dir.log.lock();
                    if log.len() < SERVICE_LOG_LIMIT {
                        log.push((Instant::now(), done, chunk.data.len() as u64));
                    }
                }
            }
        }
        // The sender closed its side: pass the FIN on.
        writer.shutdown().await.map_err(|_| write_side)
    };

    tokio::try_join!(reading, writing).map(|_| ())
}
