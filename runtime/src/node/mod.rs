//! The node: one member of a cluster, holding its processes and its connections.
//!
//! A [`Node`] is a cheap handle (an `Arc`); there is no global state, so one test
//! process can run many nodes. Everything a process can do to another — send,
//! monitor, link, exit — goes through the node, which either acts locally or
//! sends a frame over the connection to the other process's node.

mod config;
mod dest;
pub(crate) mod relations;
mod table;

pub use config::{NodeArgs, NodeConfig, PortmapConfig, DEFAULT_PORTMAP_PORT};
pub use dest::Dest;

use crate::dist::{Dist, DistMsg};
use crate::exit::{ExitReason, NodeDownReason};
use crate::message::{Message, Payload};
use crate::pid::{NodeName, Pid, Ref};
use crate::process::{Ctx, ProcShared, ProcTask, ReplyBody, Signal};
use crate::transport::Transport;
use parking_lot::{Mutex, RwLock};
use rustc_hash::FxHashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use tokio::sync::oneshot;

/// A running node. Clone it freely: all clones are the same node.
#[derive(Clone)]
pub struct Node {
    pub(crate) inner: Arc<NodeInner>,
}

pub(crate) struct NodeInner {
    pub(crate) name: NodeName,
    pub(crate) creation: u32,
    pub(crate) config: NodeConfig,
    pub(crate) cookie: String,
    /// Cookies set for single peers with [`Node::set_cookie`].
    pub(crate) peer_cookies: RwLock<std::collections::HashMap<NodeName, String>>,
    next_id: AtomicU64,
    procs: table::ProcTable,
    names: RwLock<FxHashMap<String, Pid>>,
    node_watchers: Mutex<FxHashMap<Pid, bool>>,
    pub(crate) dist: Dist,
    pub(crate) rpc: crate::rpc::Registry,
    pub(crate) trace: Option<crate::trace::Tracer>,
    pub(crate) span: tracing::Span,
    stopped: AtomicBool,
    /// Values that cannot travel in a message (closures) on their way between
    /// two processes of this node; see [`Node::handoff_put`].
    handoff: Mutex<FxHashMap<u64, Box<dyn std::any::Any + Send>>>,
    /// Per-node state of subsystems built on the public mechanisms (`:global`, `:pg`).
    pub(crate) ext: crate::ext::Extensions,
}

/// A process-table entry: a process, or a call's one-shot reply slot.
#[derive(Clone)]
enum Entry {
    Proc(Arc<ProcShared>),
    Slot(Arc<CallSlot>),
}

/// What a call's reply slot can receive.
pub(crate) enum SlotEvent {
    Reply(ReplyBody),
    Down(ExitReason),
}

pub(crate) struct CallSlot {
    tx: Mutex<Option<oneshot::Sender<SlotEvent>>>,
}

/// Why a node could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The configuration is invalid.
    #[error("invalid node configuration: {0}")]
    Config(String),
    /// Another live node already uses this name on this host.
    #[error("the name {0} is already in use by another node on this host (stop it, or pick another --name)")]
    NameInUse(NodeName),
    /// The cookie could not be read or created.
    #[error("cookie: {0}")]
    Cookie(String),
    /// Listening or registering failed.
    #[error("{0}")]
    Io(String),
}

/// Why a send failed. Sends to pids and to remote names never fail (a message to a
/// dead process is dropped, as on the BEAM); only a local name that is not
/// registered is an error (Erlang raises `badarg`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// No process is registered under this name on this node.
    #[error("no process is registered as {0:?} on this node")]
    NoSuchName(String),
}

/// Why a local name could not be registered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegisterError {
    /// Another process already has the name.
    #[error("the name {0:?} is already registered to {1}")]
    NameTaken(String, Pid),
    /// The process already has a name.
    #[error("{0} is already registered as {1:?}")]
    AlreadyNamed(Pid, String),
    /// The pid is not a live process of this node.
    #[error("{0} is not a live local process")]
    NoProc(Pid),
}

impl Node {
    /// Starts a node on real TCP, registering its name with the port mapper.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), netsplit::StartError> {
    /// use netsplit::{Node, NodeConfig, NodeName};
    /// let name = NodeName::new("gold@127.0.0.1").unwrap();
    /// let node = Node::start(NodeConfig::new(name).cookie("secret")).await?;
    /// let silver = NodeName::new("silver@127.0.0.1").unwrap();
    /// if node.connect(&silver).await {
    ///     println!("connected: {:?}", node.nodes());
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn start(config: NodeConfig) -> Result<Node, StartError> {
        // The standby mapper is on port + 1, and 0 would be a new port at
        // every bind that no other node could find.
        if config.portmap.addr.is_none() && !(1..u16::MAX).contains(&config.portmap.port) {
            return Err(StartError::Config(format!(
                "the port mapper port must be between 1 and {} (its standby takes the next one), not {}",
                u16::MAX - 1,
                config.portmap.port
            )));
        }
        let cookie = match &config.cookie {
            Some(c) => c.clone(),
            None => crate::dist::cookie::default_cookie().map_err(StartError::Cookie)?,
        };
        let transport = crate::transport::tcp::TcpTransport::start(&config).await?;
        Self::start_on(config, cookie, Transport::Tcp(transport)).await
    }

    pub(crate) async fn start_on(
        config: NodeConfig,
        cookie: String,
        transport: Transport,
    ) -> Result<Node, StartError> {
        if config.tick_intensity < 2 {
            return Err(StartError::Config(
                "tick_intensity must be at least 2".into(),
            ));
        }
        let trace = match &config.trace_file {
            Some(p) => Some(crate::trace::Tracer::open(p).map_err(StartError::Io)?),
            None => None,
        };
        let creation = new_creation();
        let span = tracing::info_span!("node", name = %config.name);
        let node = Node {
            inner: Arc::new(NodeInner {
                name: config.name.clone(),
                creation,
                cookie,
                peer_cookies: RwLock::default(),
                next_id: AtomicU64::new(1),
                procs: table::ProcTable::default(),
                names: RwLock::new(FxHashMap::default()),
                node_watchers: Mutex::new(FxHashMap::default()),
                dist: Dist::new(transport),
                rpc: Default::default(),
                trace,
                span,
                stopped: AtomicBool::new(false),
                handoff: Mutex::new(FxHashMap::default()),
                ext: Default::default(),
                config,
            }),
        };
        node.inner.dist.start_listening(&node).await?;
        crate::rpc::start_server(&node);
        crate::global::start_server(&node).await;
        tracing::debug!(parent: &node.inner.span, creation, "node started");
        Ok(node)
    }

    /// This node's name.
    pub fn name(&self) -> &NodeName {
        &self.inner.name
    }

    /// This incarnation's creation number (changes at every start).
    pub fn creation(&self) -> u32 {
        self.inner.creation
    }

    /// The cookie this node proves to every peer that has none of its own
    /// (Erlang's `erlang:get_cookie/0`).
    pub fn cookie(&self) -> &str {
        &self.inner.cookie
    }

    /// The cookie used with `peer` (Erlang's `erlang:get_cookie/1`).
    pub fn cookie_for(&self, peer: &NodeName) -> String {
        self.inner
            .peer_cookies
            .read()
            .get(peer)
            .cloned()
            .unwrap_or_else(|| self.inner.cookie.clone())
    }

    /// Uses `cookie` with `peer` from now on, for the connections this node
    /// opens to it and those it accepts from it (Erlang's
    /// `erlang:set_cookie/2`). A connection already up stays up: the cookie
    /// is only checked by the handshake.
    pub fn set_cookie(&self, peer: &NodeName, cookie: &str) {
        let mut cookies = self.inner.peer_cookies.write();
        if cookie == self.inner.cookie {
            cookies.remove(peer);
        } else {
            cookies.insert(peer.clone(), cookie.to_string());
        }
    }

    /// The configuration the node was started with.
    pub fn config(&self) -> &NodeConfig {
        &self.inner.config
    }

    /// True for a hidden node.
    pub fn is_hidden(&self) -> bool {
        self.inner.config.hidden
    }

    /// The address the node listens on (TCP nodes only).
    pub fn listen_addr(&self) -> Option<std::net::SocketAddr> {
        self.inner.dist.listen_addr()
    }

    /// A span carrying the node's name; instrument your own tasks with it so their
    /// log lines say which node they come from.
    pub fn span(&self) -> &tracing::Span {
        &self.inner.span
    }

    // ---------------------------------------------------------------- processes

    /// Spawns a process running `body`. The process ends when `body` returns
    /// (with `()` meaning `Normal`), panics (an `Error` reason), or is killed by an
    /// exit signal.
    ///
    /// ```no_run
    /// # async fn demo(node: netsplit::Node) {
    /// use netsplit::Signal;
    /// let echo = node.spawn(|ctx| async move {
    ///     while let Signal::Message { from: Some(from), payload } = ctx.recv().await {
    ///         let text: String = payload.decode().unwrap();
    ///         ctx.send(&from, &text).ok();
    ///     }
    /// });
    /// # }
    /// ```
    pub fn spawn<F, Fut>(&self, body: F) -> Pid
    where
        F: FnOnce(Ctx) -> Fut,
        Fut: Future + Send + 'static,
        Fut::Output: Into<ExitReason>,
    {
        self.spawn_opts(body, None, false)
    }

    /// Spawns with options: linked to `link` (a local process) and/or trapping exits
    /// from the very start (so no exit signal can slip in before the body runs).
    pub(crate) fn spawn_opts<F, Fut>(&self, body: F, link: Option<&Pid>, trap_exit: bool) -> Pid
    where
        F: FnOnce(Ctx) -> Fut,
        Fut: Future + Send + 'static,
        Fut::Output: Into<ExitReason>,
    {
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let pid = Pid {
            node: self.inner.name.clone(),
            creation: self.inner.creation,
            id,
        };
        let shared = Arc::new(ProcShared::new(pid.clone()));
        if trap_exit {
            shared.trap_exit.store(true, Ordering::Relaxed);
        }
        self.inner.procs.insert(id, Entry::Proc(shared.clone()));
        if let Some(parent) = link {
            self.link(&shared, parent.clone());
        }
        let fut = body(Ctx::new(self.clone(), shared.clone()));
        tokio::spawn(ProcTask::new(self.clone(), shared, fut));
        pid
    }

    /// True if `pid` is a live process of this node.
    pub fn is_alive(&self, pid: &Pid) -> bool {
        self.local_proc(pid).is_some()
    }

    /// The number of live processes on this node.
    pub fn process_count(&self) -> usize {
        self.inner.procs.count(|e| matches!(e, Entry::Proc(_)))
    }

    /// Sends an exit signal to `pid` (Erlang's `exit/2`) as if from `from`.
    /// `Kill` cannot be trapped; `Normal` is ignored unless the target traps exits.
    pub fn exit(&self, pid: &Pid, reason: ExitReason) {
        let from = self.system_pid();
        self.exit_signal(from, pid, reason, ExitKind::Exit2);
    }

    /// Messages waiting in a local process's mailbox (for diagnostics).
    pub fn mailbox_len(&self, pid: &Pid) -> Option<usize> {
        self.local_proc(pid).map(|p| p.mailbox.len())
    }

    pub(crate) fn local_proc(&self, pid: &Pid) -> Option<Arc<ProcShared>> {
        if pid.node != self.inner.name || pid.creation != self.inner.creation {
            return None;
        }
        self.local_proc_by_id(pid.id)
    }

    fn local_proc_by_id(&self, id: u64) -> Option<Arc<ProcShared>> {
        self.inner.procs.with(id, |e| match e {
            Some(Entry::Proc(p)) => Some(p.clone()),
            _ => None,
        })
    }

    /// A pid standing for "the runtime itself" as the sender of signals that no
    /// process sent (id 0 is never a process).
    pub(crate) fn system_pid(&self) -> Pid {
        Pid {
            node: self.inner.name.clone(),
            creation: self.inner.creation,
            id: 0,
        }
    }

    pub(crate) fn make_ref(&self) -> Ref {
        Ref {
            node: self.inner.name.clone(),
            creation: self.inner.creation,
            id: self.inner.next_id.fetch_add(1, Ordering::Relaxed),
        }
    }

    /// Cleans up after a process: unregister, fire monitors and links.
    pub(crate) fn process_exited(&self, shared: &Arc<ProcShared>, reason: ExitReason) {
        let (name, rel) = {
            let mut st = shared.state.lock();
            st.alive = false;
            st.pending_exit = None;
            (st.name.take(), st.relations.take())
        };
        let pid = &shared.pid;
        self.inner.procs.remove(pid.id);
        if let Some(n) = &name {
            let mut names = self.inner.names.write();
            if names.get(n) == Some(pid) {
                names.remove(n);
            }
        }
        {
            let mut w = self.inner.node_watchers.lock();
            if !w.is_empty() {
                w.remove(pid);
            }
        }
        match &reason {
            ExitReason::Error(e) => tracing::error!(
                parent: &self.inner.span,
                "process {pid}{} exited: {e}",
                name.as_deref().map(|n| format!(" ({n})")).unwrap_or_default()
            ),
            r => tracing::trace!(parent: &self.inner.span, "process {pid} exited: {r}"),
        }
        let Some(rel) = rel else { return };
        for (mref, watcher) in rel.monitored_by {
            self.send_down(&watcher, mref, reason.clone());
        }
        for link in rel.links {
            self.exit_signal(pid.clone(), &link, reason.clone(), ExitKind::Link);
        }
        for (mref, (target, local_id)) in rel.monitoring {
            self.drop_monitor_at_target(&mref, &target, local_id);
        }
    }

    // ---------------------------------------------------------------- registry

    /// Registers a local process under `name` (Erlang's `register/2`).
    pub fn register(&self, name: &str, pid: &Pid) -> Result<(), RegisterError> {
        let proc_ = self
            .local_proc(pid)
            .ok_or_else(|| RegisterError::NoProc(pid.clone()))?;
        let mut names = self.inner.names.write();
        if let Some(other) = names.get(name) {
            return Err(RegisterError::NameTaken(name.to_string(), other.clone()));
        }
        let mut st = proc_.state.lock();
        if !st.alive {
            return Err(RegisterError::NoProc(pid.clone()));
        }
        if let Some(n) = &st.name {
            return Err(RegisterError::AlreadyNamed(pid.clone(), n.clone()));
        }
        st.name = Some(name.to_string());
        names.insert(name.to_string(), pid.clone());
        Ok(())
    }

    /// Removes a local registration. Returns false if the name was not registered.
    pub fn unregister(&self, name: &str) -> bool {
        let Some(pid) = self.inner.names.write().remove(name) else {
            return false;
        };
        if let Some(p) = self.local_proc(&pid) {
            p.state.lock().name = None;
        }
        true
    }

    /// The pid registered under `name` on this node.
    pub fn whereis(&self, name: &str) -> Option<Pid> {
        self.inner.names.read().get(name).cloned()
    }

    /// All locally registered names.
    pub fn registered(&self) -> Vec<String> {
        let mut v: Vec<String> = self.inner.names.read().keys().cloned().collect();
        v.sort();
        v
    }

    // ---------------------------------------------------------------- sending

    /// Sends `msg` to `dest` from outside any process.
    pub fn send<T: Message>(&self, dest: impl Into<Dest>, msg: &T) -> Result<(), SendError> {
        self.send_payload(None, dest.into(), Payload::encode(msg), false)
    }

    pub(crate) fn send_payload(
        &self,
        from: Option<Pid>,
        dest: Dest,
        payload: Payload,
        cast: bool,
    ) -> Result<(), SendError> {
        let sig = |payload| {
            if cast {
                Signal::Cast(payload)
            } else {
                Signal::Message {
                    from: from.clone(),
                    payload,
                }
            }
        };
        match dest {
            Dest::Pid(pid) => {
                if pid.node == self.inner.name {
                    self.deliver_local(&pid, sig(payload));
                } else {
                    let node = pid.node.clone();
                    let msg = if cast {
                        DistMsg::Cast { to: pid, payload }
                    } else {
                        DistMsg::Send {
                            to: pid,
                            from,
                            payload,
                        }
                    };
                    self.inner.dist.send(self, &node, msg, |_| {});
                }
                Ok(())
            }
            Dest::Name(name) => {
                let pid = self
                    .whereis(&name)
                    .ok_or_else(|| SendError::NoSuchName(name.clone()))?;
                self.deliver_local(&pid, sig(payload));
                Ok(())
            }
            Dest::Remote(name, node) => {
                if node == self.inner.name {
                    // {Name, node()} ! Msg to an unregistered name is dropped silently
                    // for remote-style sends; keep that behaviour for the local node too.
                    if let Some(pid) = self.whereis(&name) {
                        self.deliver_local(&pid, sig(payload));
                    }
                    return Ok(());
                }
                let msg = if cast {
                    DistMsg::RegCast { to: name, payload }
                } else {
                    DistMsg::RegSend {
                        to: name,
                        from,
                        payload,
                    }
                };
                self.inner.dist.send(self, &node, msg, |_| {});
                Ok(())
            }
        }
    }

    /// Delivers a signal to a local pid; silently drops it for a dead or stale pid.
    pub(crate) fn deliver_local(&self, pid: &Pid, sig: Signal) {
        if pid.creation != self.inner.creation {
            return;
        }
        match self.inner.procs.get(pid.id) {
            Some(Entry::Proc(p)) => p.mailbox.push(sig),
            Some(Entry::Slot(s)) => {
                if let Signal::Reply(_, body) = sig {
                    s.fire(SlotEvent::Reply(body));
                }
            }
            None => {}
        }
    }

    pub(crate) fn deliver_local_by_name(&self, name: &str, sig: Signal) -> bool {
        match self.whereis(name) {
            Some(pid) => {
                self.deliver_local(&pid, sig);
                true
            }
            None => false,
        }
    }

    // ---------------------------------------------------------------- calls

    /// Allocates a call reply slot: a pid that only ever receives one reply or one Down.
    pub(crate) fn new_slot(&self) -> (Pid, oneshot::Receiver<SlotEvent>, SlotGuard) {
        let (tx, rx) = oneshot::channel();
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let pid = Pid {
            node: self.inner.name.clone(),
            creation: self.inner.creation,
            id,
        };
        self.inner.procs.insert(
            id,
            Entry::Slot(Arc::new(CallSlot {
                tx: Mutex::new(Some(tx)),
            })),
        );
        let guard = SlotGuard {
            node: self.clone(),
            id,
        };
        (pid, rx, guard)
    }

    /// The monitor reference a call uses: derived from its slot, so both ends know it.
    pub(crate) fn slot_ref(slot: &Pid) -> Ref {
        Ref {
            node: slot.node.clone(),
            creation: slot.creation,
            id: slot.id,
        }
    }

    // ---------------------------------------------------------------- node monitoring

    /// Subscribes (or unsubscribes) a local process to `NodeUp` / `NodeDown`
    /// signals for visible nodes (and hidden ones too if `include_hidden`).
    pub fn monitor_nodes(&self, pid: &Pid, on: bool, include_hidden: bool) {
        let mut w = self.inner.node_watchers.lock();
        if on {
            if self.local_proc(pid).is_some() {
                w.insert(pid.clone(), include_hidden);
            }
        } else {
            w.remove(pid);
        }
    }

    pub(crate) fn notify_node_event(
        &self,
        peer: &NodeName,
        hidden: bool,
        down: Option<NodeDownReason>,
    ) {
        let watchers: Vec<Pid> = self
            .inner
            .node_watchers
            .lock()
            .iter()
            .filter(|(_, all)| !hidden || **all)
            .map(|(p, _)| p.clone())
            .collect();
        for w in watchers {
            let sig = match down {
                None => Signal::NodeUp(peer.clone()),
                Some(r) => Signal::NodeDown(peer.clone(), r),
            };
            self.deliver_local(&w, sig);
        }
    }

    // ---------------------------------------------------------------- connections

    /// Connects to `peer` (Erlang's `net_kernel:connect_node/1`). True if connected
    /// (or already was). A visible node then also connects to the peer's peers.
    pub async fn connect(&self, peer: &NodeName) -> bool {
        if *peer == self.inner.name {
            return true;
        }
        self.inner.dist.connect(self, peer).await
    }

    /// Closes the connection to `peer` (Erlang's `disconnect_node/1`). Local
    /// watchers get `NodeDown(Disconnect)`; the peer sees `ConnectionClosed`.
    /// Nothing reconnects by itself.
    pub async fn disconnect(&self, peer: &NodeName) -> bool {
        self.inner.dist.disconnect(peer).await
    }

    /// The visible nodes this node is connected to (Erlang's `Node.list()`).
    pub fn nodes(&self) -> Vec<NodeName> {
        self.inner.dist.nodes(Some(false))
    }

    /// The hidden nodes this node is connected to.
    pub fn nodes_hidden(&self) -> Vec<NodeName> {
        self.inner.dist.nodes(Some(true))
    }

    /// Every connected node, visible or hidden.
    pub fn nodes_connected(&self) -> Vec<NodeName> {
        self.inner.dist.nodes(None)
    }

    /// True once `stop` has been called.
    pub fn is_stopped(&self) -> bool {
        self.inner.stopped.load(Ordering::Relaxed)
    }

    /// Stops the node: every process is killed, every connection closed, the name
    /// unregistered from the port mapper. Peers see `NodeDown(ConnectionClosed)`.
    pub async fn stop(&self) {
        if self.inner.stopped.swap(true, Ordering::SeqCst) {
            return;
        }
        let procs: Vec<Arc<ProcShared>> = self.inner.procs.collect(|e| match e {
            Entry::Proc(p) => Some(p.clone()),
            Entry::Slot(_) => None,
        });
        for p in procs {
            p.kill(ExitReason::Killed);
        }
        self.inner.dist.stop().await;
        tokio::task::yield_now().await;
    }

    /// Parks a local value (say, a closure) under a fresh key, so a message can
    /// carry the key to a process of this node that takes the value back.
    pub(crate) fn handoff_put(&self, value: Box<dyn std::any::Any + Send>) -> u64 {
        let key = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        self.inner.handoff.lock().insert(key, value);
        key
    }

    /// Takes a parked value back (once).
    pub(crate) fn handoff_take(&self, key: u64) -> Option<Box<dyn std::any::Any + Send>> {
        self.inner.handoff.lock().remove(&key)
    }

    /// Writes the ready file named by `NETSPLIT_READY_FILE`, if any: the grader's
    /// signal that this node's application has started. Call it once your
    /// supervision tree is up.
    pub fn signal_ready(&self) {
        crate::lifecycle::signal_ready(self, &[]);
    }

    /// Like [`Node::signal_ready`], also announcing the addresses the
    /// application serves, by name (`("http", addr)`, `("client", addr)`):
    /// the grader reaches a node's HTTP or client port through these, so a
    /// node can bind port 0 and still be found.
    pub fn signal_ready_with(&self, endpoints: &[(&str, std::net::SocketAddr)]) {
        crate::lifecycle::signal_ready(self, endpoints);
    }
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Node({})", self.inner.name)
    }
}

/// Removes a call's slot when the call ends, however it ends.
pub(crate) struct SlotGuard {
    node: Node,
    id: u64,
}

impl Drop for SlotGuard {
    fn drop(&mut self) {
        self.node.inner.procs.remove(self.id);
    }
}

impl CallSlot {
    fn fire(&self, ev: SlotEvent) {
        if let Some(tx) = self.tx.lock().take() {
            let _ = tx.send(ev);
        }
    }
}

/// How an exit signal was caused (it changes how the receiver treats it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) enum ExitKind {
    /// A linked process ended: only acted on if the link still exists.
    Link,
    /// Linking to something that does not exist (or cannot be reached).
    LinkFailed,
    /// `exit(pid, reason)`.
    Exit2,
}

fn new_creation() -> u32 {
    use rand::Rng;
    // Any non-zero value that differs between starts; randomness makes a
    // collision between two incarnations of one name vanishingly unlikely.
    rand::thread_rng().gen_range(1..u32::MAX)
}
