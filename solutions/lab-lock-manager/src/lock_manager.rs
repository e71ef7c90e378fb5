//! The lock manager's API, for any process on any node: find the lock
//! server, acquire, release, and run a function under a lock.

use crate::lock_server::{LockCall, LockCast, LockReply, LockServer};
use contracts::lock_manager::LOCK_SERVER;
use netsplit::gen_server::{self, CallError, ServerStartError};
use netsplit::{global, Ctx, Node, Pid};
use std::future::Future;
use std::time::Duration;

/// How long a release waits for the lock server's answer.
const RELEASE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long finding the lock server waits for `:global` to merge with the
/// nodes this node is connected to.
const SYNC_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a lock request did not succeed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockError {
    /// The lock did not come within the timeout. The caller does not hold it,
    /// and the lock server will not give it to it later.
    TimedOut,
    /// The lock server could not be found or started, did not answer, or
    /// answered something unexpected.
    Unavailable(String),
}

impl std::fmt::Display for LockError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LockError::TimedOut => write!(f, "timed out"),
            LockError::Unavailable(why) => write!(f, "the lock server is unavailable: {why}"),
        }
    }
}

/// The cluster's lock server: the one registered with `:global`, or, if
/// there is none yet, a new one started on this node and registered
/// (lookup-or-start, as `GenServer.start_link(…, name: {:global, …})` from
/// any node).
pub async fn lock_server(node: &Node) -> Result<Pid, LockError> {
    if let Some(pid) = global::whereis_name(node, LOCK_SERVER) {
        return Ok(pid);
    }
    // Names registered on the nodes we have just connected to may not be in
    // our replica yet: merge first, or we could start a second server.
    if tokio::time::timeout(SYNC_TIMEOUT, global::sync(node))
        .await
        .is_err()
    {
        tracing::warn!("global::sync took over {SYNC_TIMEOUT:?}; going on without it");
    }
    if let Some(pid) = global::whereis_name(node, LOCK_SERVER) {
        return Ok(pid);
    }
    match gen_server::start_global(node, LockServer::default(), LOCK_SERVER).await {
        Ok(pid) | Err(ServerStartError::AlreadyStarted(pid)) => Ok(pid),
        Err(e) => Err(LockError::Unavailable(format!(
            "could not start the lock server: {e}"
        ))),
    }
}

/// Takes `lock` for `holder`, waiting at most `timeout` while another
/// process holds it. `Ok(())` once `holder` holds it.
pub async fn acquire(
    node: &Node,
    lock: &str,
    holder: &Pid,
    timeout: Duration,
) -> Result<(), LockError> {
    let server = lock_server(node).await?;
    let request = LockCall::Acquire {
        lock: lock.to_string(),
        holder: holder.clone(),
    };
    match gen_server::call(node, &server, &request, timeout).await {
        Ok(LockReply::Granted) => Ok(()),
        Ok(other) => Err(LockError::Unavailable(format!(
            "it answered {other:?} to an acquire"
        ))),
        // Problem 3: the call gave up, but the request is still in the
        // server's line: withdraw it.
        Err(CallError::Timeout) => {
            withdraw(node, &server, lock, holder);
            Err(LockError::TimedOut)
        }
        Err(e) => Err(LockError::Unavailable(e.to_string())),
    }
}

/// Problem 3: tells the lock server that `holder` no longer waits for
/// `lock`, so that it is not given the lock later (and gives it back if the
/// grant crossed the timeout).
fn withdraw(node: &Node, server: &Pid, lock: &str, holder: &Pid) {
    let withdrawal = LockCast::Withdraw {
        lock: lock.to_string(),
        holder: holder.clone(),
    };
    let _ = gen_server::cast(node, server, &withdrawal);
}

/// Releases `lock`, held by `holder`. `Ok(true)` if it was `holder`'s,
/// `Ok(false)` if not (then nothing changed).
pub async fn release(node: &Node, lock: &str, holder: &Pid) -> Result<bool, LockError> {
    let server = lock_server(node).await?;
    let request = LockCall::Release {
        lock: lock.to_string(),
        holder: holder.clone(),
    };
    match gen_server::call(node, &server, &request, RELEASE_TIMEOUT).await {
        Ok(LockReply::Released) => Ok(true),
        Ok(LockReply::NotHeld) => Ok(false),
        Ok(other) => Err(LockError::Unavailable(format!(
            "it answered {other:?} to a release"
        ))),
        Err(e) => Err(LockError::Unavailable(e.to_string())),
    }
}

/// Runs `f` while the calling process holds `lock` (waiting at most
/// `timeout` for it), then releases it. If `f` panics, the process dies,
/// and the lock server's monitor frees the lock.
pub async fn with_lock<T, F, Fut>(
    ctx: &Ctx,
    lock: &str,
    timeout: Duration,
    f: F,
) -> Result<T, LockError>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = T>,
{
    acquire(ctx.node(), lock, ctx.pid(), timeout).await?;
    let out = f().await;
    if let Err(e) = release(ctx.node(), lock, ctx.pid()).await {
        tracing::warn!("could not release {lock:?}: {e}");
    }
    Ok(out)
}
