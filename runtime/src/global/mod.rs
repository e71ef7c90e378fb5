//! `:global` — cluster-wide process names and locks (Erlang's `global`).
//!
//! Every node runs a name server (registered locally as [`NAME_SERVER`]) that
//! holds a full replica of the name table of the visible nodes it is
//! connected to, and the locks set on this node. Reading a name is a local read with no network
//! traffic; changing one is serialized cluster-wide by a lock.
//!
//! ```no_run
//! # async fn demo(a: netsplit::Node, b: netsplit::Node, pid: netsplit::Pid) {
//! use netsplit::global::{self, RegisterResult};
//! // On a: register a process under a cluster-wide name.
//! assert_eq!(global::register_name(&a, "counter", &pid).await, RegisterResult::Yes);
//! // On b (connected to a): the name is already in b's replica.
//! global::sync(&b).await;
//! assert_eq!(global::whereis_name(&b, "counter"), Some(pid.clone()));
//! global::send(&b, "counter", &"hello".to_string()).unwrap();
//! # }
//! ```
//!
//! # How it works (and how it matches OTP)
//!
//! - **Registration.** A node's registrar process (registered as
//!   [`REGISTRAR`]) takes the cluster lock — on the *boss* node (the
//!   highest-named one) first, then on every node it knows — checks its own
//!   replica, and writes the name to every known node's replica before
//!   releasing the lock. Two registrations of one name never both succeed
//!   while the nodes are connected.
//! - **Liveness of names.** Every replica monitors the registered process, so
//!   the name disappears everywhere when the process exits, or when its node
//!   goes down (the monitor fires `NoConnection`).
//! - **Joining partitions.** When two visible nodes connect and do not know
//!   each other yet, the lower-named one of the pair locks both sides,
//!   exchanges the two name tables, resolves clashes with the [`Resolve`]
//!   chosen at registration, and writes the merged result to every node of
//!   both sides. Every node ends with the same table.
//!
//!   Differs from OTP in mechanism, not in outcome: OTP has each side's
//!   `locker` lock its own partition and the two lockers wait for each other;
//!   here a single session holds one lock over the union, which needs no
//!   two-sided handshake and cannot deadlock (a refused lock is released and
//!   retried after a random delay). Clash resolution, the choice of resolver
//!   and the final tables are OTP's.
//! - **Locks.** [`set_lock`] / [`del_lock`] / [`trans`] take a [`LockId`] on
//!   a chosen set of nodes; a lock is released when its requester exits or its
//!   requester's node goes down.
//! - **Hidden nodes** take no part: they neither receive nor publish names.
//! - **Overlapping partitions are kept** unless a node is started with
//!   [`NodeConfig::prevent_overlapping_partitions`](crate::NodeConfig) (on by
//!   default in OTP 25): then a node that loses another tells the nodes it
//!   knows, and each one connected to both asks one of them to disconnect,
//!   so that only fully connected partitions remain (OTP's
//!   `lost_connection` / `remove_connection` exchange, with its log lines).
//!   Without it, a node may see both sides of a cut link, and names merge
//!   through it as connections allow.
//!
//! # No fencing
//!
//! A lock is only as good as the connections it was taken over. During a
//! partition, each side can take "the same" lock on the nodes it still sees
//! (the others are silently skipped, as in OTP), and each side can register
//! the same name. Nothing tells a process that it lost the lock when the
//! network heals: `:global` gives mutual exclusion among connected nodes, not
//! a fencing token. That is a lesson of the course, not an accident.

mod locks;
mod registrar;
mod server;
mod sync;

use crate::gen_server::{self, CallError, ServerStartError};
use crate::message::Message;
use crate::node::Node;
use crate::pid::{NodeName, Pid};
use crate::process::Ctx;
use parking_lot::{Mutex, RwLock};
use rand::rngs::StdRng;
use rand::SeedableRng;
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

pub(crate) use server::{Op, Rep, Req};

/// The local name of every node's `:global` name server (as in OTP).
pub const NAME_SERVER: &str = "global_name_server";

/// The local name of every node's registrar: the process that registers and
/// unregisters names, one request at a time, under the cluster lock.
pub const REGISTRAR: &str = "global_registrar";

/// The lock resource `:global` itself uses to serialize name changes and the
/// joining of partitions. [`set_lock`] refuses it.
pub const RESERVED_RESOURCE: &str = "$global";

/// How long a caller waits for the registrar (OTP waits forever).
const FOREVER: Duration = Duration::from_secs(365 * 24 * 3600);

/// How a name clash found when two partitions join is resolved. Chosen at
/// registration ([`register_name_with`]), as OTP's `Resolve` function is.
///
/// When the two clashing registrations chose different resolvers, the one
/// chosen on the lower-named node of the pair that detects the clash applies
/// (OTP leaves this undefined).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Resolve {
    /// Keep the pid whose node name sorts lower; kill the other with exit
    /// reason `Kill` and log it. OTP's default `random_exit_name/3`, which,
    /// despite its name, is deterministic in the same way.
    #[default]
    KeepLowerNode,
    /// Keep the pid whose node name sorts lower; send the other a
    /// [`GlobalNameConflict`] message and let it decide what to do (OTP's
    /// `random_notify_name/3`).
    Notify,
    /// Unregister the name, and send both processes a [`GlobalNameConflict`]
    /// (OTP's `notify_all_name/3`).
    NotifyAll,
}

/// The message a process receives when it loses (or, with
/// [`Resolve::NotifyAll`], shares) a name clash: `{global_name_conflict, Name,
/// OtherPid}`.
///
/// Differs from OTP: OTP's `random_notify_name/3` sends only the name; here
/// `other` is always set, so the loser learns who kept the name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GlobalNameConflict {
    /// The name both processes held.
    pub name: String,
    /// The other process that held it.
    pub other: Pid,
}

/// The answer to a registration (`yes` / `no` in OTP).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RegisterResult {
    /// The name is now registered on every node this node knows.
    Yes,
    /// The name was taken, or the pid already has a global name (or the node
    /// is stopping).
    No,
}

/// Why a message could not be sent to a global name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GlobalSendError {
    /// No process is registered under the name (OTP exits with `badarg`).
    #[error("no process is globally registered as {0:?}")]
    NoSuchName(String),
}

/// A lock's identity: which resource, and who asks for it (OTP's
/// `{ResourceId, LockRequesterId}`).
///
/// A resource is held by at most one requester at a time on each node. The
/// requester is also the lock's holder: the lock is released when that process
/// exits or its node goes down.
///
/// Differs from OTP, where the holder is the calling process and the requester
/// id any term: here they are one pid, because these functions take a
/// [`Node`], not the calling process. Typically it is the calling process's
/// own pid (`ctx.pid()`), as `{Resource, self()}` is in Erlang.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct LockId {
    /// What is locked (any string but [`RESERVED_RESOURCE`]).
    pub resource: String,
    /// Who holds it.
    pub requester: Pid,
}

impl LockId {
    /// A lock id for `resource` held by `requester`.
    pub fn new(resource: impl Into<String>, requester: &Pid) -> Self {
        LockId {
            resource: resource.into(),
            requester: requester.clone(),
        }
    }
}

/// [`trans`] could not set the lock within its retries (OTP's `aborted`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("aborted: the lock could not be set within the retries")]
pub struct Aborted;

// ------------------------------------------------------------------ per-node state

/// What a node's `:global` keeps outside its processes, so reads need no message.
/// Only the name server writes the name table and the known set.
pub(crate) struct Shared {
    names: RwLock<NameTable>,
    /// Nodes whose name tables this node has merged with (OTP's `known`).
    known: RwLock<BTreeSet<NodeName>>,
    /// Draws the randomized backoff of lock retries (seedable, per node).
    rng: Mutex<StdRng>,
}

#[derive(Default)]
pub(crate) struct NameTable {
    by_name: BTreeMap<String, (Pid, Resolve)>,
    by_pid: FxHashMap<Pid, BTreeSet<String>>,
}

impl NameTable {
    fn get(&self, name: &str) -> Option<&(Pid, Resolve)> {
        self.by_name.get(name)
    }

    fn has_name(&self, pid: &Pid) -> bool {
        self.by_pid.contains_key(pid)
    }

    fn insert(&mut self, name: &str, pid: &Pid, resolve: Resolve) {
        self.remove(name);
        self.by_name
            .insert(name.to_string(), (pid.clone(), resolve));
        self.by_pid
            .entry(pid.clone())
            .or_default()
            .insert(name.to_string());
    }

    fn remove(&mut self, name: &str) -> Option<(Pid, Resolve)> {
        let old = self.by_name.remove(name)?;
        if let Some(set) = self.by_pid.get_mut(&old.0) {
            set.remove(name);
            if set.is_empty() {
                self.by_pid.remove(&old.0);
            }
        }
        Some(old)
    }

    fn entries(&self) -> Vec<(String, Pid, Resolve)> {
        self.by_name
            .iter()
            .map(|(n, (p, r))| (n.clone(), p.clone(), *r))
            .collect()
    }
}

impl Shared {
    fn new(name: &NodeName) -> Self {
        Shared {
            names: RwLock::new(NameTable::default()),
            known: RwLock::new(BTreeSet::new()),
            rng: Mutex::new(StdRng::seed_from_u64(stable_hash(name.as_str()))),
        }
    }

    fn known(&self) -> BTreeSet<NodeName> {
        self.known.read().clone()
    }
}

/// FNV-1a: a seed that is the same for a node name in every run (unlike
/// `std`'s hasher, which promises no stability).
fn stable_hash(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

pub(crate) fn shared(node: &Node) -> Arc<Shared> {
    node.inner.ext.get_or_init(|| Shared::new(node.name()))
}

/// Timeout of one request between name servers.
fn call_timeout(node: &Node) -> Duration {
    node.config().setup_time * 2
}

/// Starts a node's name server and registrar (at node start).
pub(crate) async fn start_server(node: &Node) {
    if let Err(e) = gen_server::start(node, server::NameServer::new(node), Some(NAME_SERVER)).await
    {
        tracing::error!(parent: node.span(), "cannot start {NAME_SERVER}: {e}");
    }
    if let Err(e) = gen_server::start(node, registrar::Registrar, Some(REGISTRAR)).await {
        tracing::error!(parent: node.span(), "cannot start {REGISTRAR}: {e}");
    }
}

// ------------------------------------------------------------------ names

/// Registers `pid` under the cluster-wide `name`, with the default resolver
/// [`Resolve::KeepLowerNode`] (OTP's `register_name/2`).
///
/// Returns [`RegisterResult::Yes`] once the name is in the replica of every
/// node this node knows; [`RegisterResult::No`] if the name is taken or `pid`
/// already has a global name. Registrations are serialized cluster-wide: of
/// concurrent registrations of one name among connected nodes, exactly one
/// gets `Yes`. Waits as long as the cluster lock is contended (OTP: forever).
pub async fn register_name(node: &Node, name: &str, pid: &Pid) -> RegisterResult {
    register_name_with(node, name, pid, Resolve::default()).await
}

/// Like [`register_name`], choosing how a clash with the same name registered
/// in another partition is resolved when the partitions join (OTP's
/// `register_name/3`).
pub async fn register_name_with(
    node: &Node,
    name: &str,
    pid: &Pid,
    resolve: Resolve,
) -> RegisterResult {
    register(node, name, pid, resolve, false).await
}

/// Registers `pid` under `name` whether or not the name is taken (the old
/// holder simply loses it) — OTP's `re_register_name/2`. Always `Yes` unless
/// the node is stopping. As in OTP, it does not check whether `pid` already
/// has another global name: afterwards it may have two.
pub async fn re_register_name(node: &Node, name: &str, pid: &Pid) -> RegisterResult {
    re_register_name_with(node, name, pid, Resolve::default()).await
}

/// [`re_register_name`] with a chosen clash resolver.
pub async fn re_register_name_with(
    node: &Node,
    name: &str,
    pid: &Pid,
    resolve: Resolve,
) -> RegisterResult {
    register(node, name, pid, resolve, true).await
}

/// A registration through this node's registrar; `force` takes the name from
/// its holder instead of refusing.
async fn register(
    node: &Node,
    name: &str,
    pid: &Pid,
    resolve: Resolve,
    force: bool,
) -> RegisterResult {
    let name = name.to_string();
    let pid = pid.clone();
    registrar_call(
        node,
        registrar::RegReq::Register {
            name,
            pid,
            resolve,
            force,
        },
    )
    .await
}

/// Removes `name` from every known node's replica (OTP's `unregister_name/1`).
/// Does nothing if the name is not registered.
pub async fn unregister_name(node: &Node, name: &str) {
    if shared(node).names.read().get(name).is_none() {
        return;
    }
    registrar_call(
        node,
        registrar::RegReq::Unregister {
            name: name.to_string(),
        },
    )
    .await;
}

async fn registrar_call(node: &Node, req: registrar::RegReq) -> RegisterResult {
    match gen_server::call::<_, bool>(node, REGISTRAR, &req, FOREVER).await {
        Ok(true) => RegisterResult::Yes,
        _ => RegisterResult::No,
    }
}

/// The pid registered under `name`, read from this node's replica: no message
/// is sent (OTP's `whereis_name/1`). A local process that has already exited
/// reads as `None` even before its name is removed, as in OTP.
pub fn whereis_name(node: &Node, name: &str) -> Option<Pid> {
    let pid = shared(node).names.read().get(name)?.0.clone();
    if pid.node() == node.name() && !node.is_alive(&pid) {
        return None;
    }
    Some(pid)
}

/// Every name in this node's replica, sorted (OTP's `registered_names/0`).
pub fn registered_names(node: &Node) -> Vec<String> {
    shared(node).names.read().by_name.keys().cloned().collect()
}

/// Sends `msg` to the process registered as `name` and returns its pid
/// (OTP's `send/2`). An unknown name is an error the caller sees, as OTP's
/// `badarg` exit is; delivery itself is not guaranteed (as for any send).
pub fn send<T: Message>(node: &Node, name: &str, msg: &T) -> Result<Pid, GlobalSendError> {
    let pid = whereis_name(node, name).ok_or_else(|| GlobalSendError::NoSuchName(name.into()))?;
    let _ = node.send(&pid, msg);
    Ok(pid)
}

/// Casts `msg` to the GenServer registered as `name` (Elixir's
/// `GenServer.cast({:global, name}, msg)`).
///
/// Differs from OTP, whose cast to an unknown global name is silently
/// dropped: here it is reported, like [`send`]; ignore it with `let _ =` if
/// you want OTP's behaviour.
pub fn cast<T: Message>(node: &Node, name: &str, msg: &T) -> Result<(), GlobalSendError> {
    let pid = whereis_name(node, name).ok_or_else(|| GlobalSendError::NoSuchName(name.into()))?;
    let _ = gen_server::cast(node, &pid, msg);
    Ok(())
}

/// Calls the GenServer registered as `name` (Elixir's
/// `GenServer.call({:global, name}, req, timeout)`): an unknown name fails
/// at once with [`CallError::NoProc`]; otherwise as [`gen_server::call`].
pub async fn call<Req: Message, Rep: Message>(
    node: &Node,
    name: &str,
    request: &Req,
    timeout: Duration,
) -> Result<Rep, CallError> {
    let pid = whereis_name(node, name).ok_or(CallError::NoProc)?;
    gen_server::call(node, &pid, request, timeout).await
}

/// Waits until this node has merged name tables with every visible node it is
/// connected to now (or lost the connection to it) — OTP's `global:sync/0`.
/// Useful after `connect`, before relying on names registered elsewhere.
pub async fn sync(node: &Node) {
    let _ = gen_server::call::<_, Rep>(node, NAME_SERVER, &Req::AwaitSynced(node.nodes()), FOREVER)
        .await;
}

/// Re-seeds the generator of this node's randomized lock backoff. Each node
/// is seeded from its name, so runs are reproducible; use this to explore
/// other interleavings.
pub fn seed(node: &Node, seed: u64) {
    *shared(node).rng.lock() = StdRng::seed_from_u64(seed);
}

/// Registers the calling process under `name` for `gen_server::start_global`:
/// `Err(AlreadyStarted(holder))` when another process has the name.
pub(crate) async fn register_self(ctx: &Ctx, name: &str) -> Result<(), ServerStartError> {
    for _ in 0..10 {
        if register_name(ctx.node(), name, ctx.pid()).await == RegisterResult::Yes {
            return Ok(());
        }
        if let Some(holder) = whereis_name(ctx.node(), name) {
            return Err(ServerStartError::AlreadyStarted(holder));
        }
        // The holder exited between the two reads: try again.
    }
    Err(ServerStartError::InitFailed(crate::ExitReason::error(
        format!("could not register the global name {name:?}"),
    )))
}

// ------------------------------------------------------------------ locks

/// Sets the lock `id` on `nodes` (default: this node and every visible node it
/// is connected to), retrying up to `retries` times with randomized backoff;
/// true once set (OTP's `set_lock/3`).
///
/// The lock is taken on the highest-named node first, then on the others; if
/// any refuses (another requester holds the resource), what was taken is
/// released and the attempt retried after a random sleep of up to 1/4 s,
/// doubling at each retry up to 8 s (OTP's schedule). Nodes that cannot be
/// reached are skipped, as in OTP — hence no fencing across partitions (see
/// the module docs). With `retries == 0` it tries once; `u32::MAX` is, in
/// practice, forever (OTP's `infinity`).
///
/// The same requester may set a lock it already holds. Differs from OTP,
/// which records each holding process once: here each `set_lock` is counted
/// and needs its own [`del_lock`], so nested [`trans`] on one id are safe.
/// A requester that is a dead local process is refused at once.
pub async fn set_lock(node: &Node, id: &LockId, nodes: Option<&[NodeName]>, retries: u32) -> bool {
    if id.resource == RESERVED_RESOURCE {
        tracing::warn!(parent: node.span(), "set_lock: the resource {RESERVED_RESOURCE:?} is reserved for :global itself");
        return false;
    }
    if id.requester.node() == node.name() && !node.is_alive(&id.requester) {
        return false;
    }
    let nodes = target_nodes(node, nodes);
    let mut left = retries;
    let mut times = 1;
    loop {
        if locks::set_on_nodes(node, id, &nodes).await {
            return true;
        }
        if left == 0 {
            return false;
        }
        left -= 1;
        locks::random_sleep(node, times).await;
        times = times.saturating_add(1);
    }
}

/// Releases one hold of the lock `id` on `nodes` (default: this node and every
/// visible node it is connected to) — OTP's `del_lock/2`. Releasing a lock that
/// is not held does nothing.
pub async fn del_lock(node: &Node, id: &LockId, nodes: Option<&[NodeName]>) {
    let nodes = target_nodes(node, nodes);
    locks::del_on_nodes(node, id, &nodes).await;
}

/// Sets the lock `id` on `nodes` (as [`set_lock`]), runs `f` while holding it,
/// and releases it — also if `f` panics or the future is dropped (OTP's
/// `trans/4`). `Err(Aborted)` if the lock could not be set within `retries`.
pub async fn trans<T, F, Fut>(
    node: &Node,
    id: &LockId,
    f: F,
    nodes: Option<&[NodeName]>,
    retries: u32,
) -> Result<T, Aborted>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = T>,
{
    let nodes = target_nodes(node, nodes);
    if !set_lock(node, id, Some(&nodes), retries).await {
        return Err(Aborted);
    }
    let mut guard = locks::Release::new(node, id, nodes);
    let out = f().await;
    guard.release().await;
    Ok(out)
}

fn target_nodes(node: &Node, nodes: Option<&[NodeName]>) -> Vec<NodeName> {
    let mut v = match nodes {
        Some(n) => n.to_vec(),
        None => node.nodes_and_self(),
    };
    v.sort();
    v.dedup();
    v
}
