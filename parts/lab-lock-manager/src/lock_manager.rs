//! The lock manager's API, for any process on any node: find the lock
//! server, acquire, release, and run a function under a lock.
//!
//! Lesson: docs/src/lab-lock-manager.md. The names the grader uses are in
//! `contracts::lock_manager` (read it first). Run `cargo grade lock-manager`
//! to check your work; each problem has its own grader stage.

// Until every hole below is filled in, some imports and arguments are
// unused. Delete this line when you are done: the compiler's warnings then
// help you check your work (an import your own code does not need is one of
// them: delete it too).
#![allow(unused)]

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
    todo!(
        "Problem 1 (docs/src/lab-lock-manager.md, 'Problem 1, mutual exclusion'): return the \
         pid registered cluster-wide as {LOCK_SERVER:?} (global::whereis_name). If there is \
         none, let :global catch up with the nodes we are connected to (global::sync, at most \
         SYNC_TIMEOUT) and look again; if there is still none, start a LockServer registered \
         under that global name (gen_server::start_global). Losing that race to another node \
         is fine: AlreadyStarted carries the winner's pid."
    )
}

/// Takes `lock` for `holder`, waiting at most `timeout` while another
/// process holds it. `Ok(())` once `holder` holds it.
pub async fn acquire(
    node: &Node,
    lock: &str,
    holder: &Pid,
    timeout: Duration,
) -> Result<(), LockError> {
    todo!(
        "Problem 1 (docs/src/lab-lock-manager.md, 'Problem 1, mutual exclusion'): ask the \
         lock server for {lock:?} on behalf of {holder} (LockCall::Acquire), waiting at most \
         {timeout:?} for its answer. Granted is Ok(()). If the call times out, withdraw the \
         request (Problem 3) and return LockError::TimedOut; any other failure is \
         LockError::Unavailable, saying why."
    )
}

/// Problem 3: tells the lock server that `holder` no longer waits for
/// `lock`, so that it is not given the lock later (and gives it back if the
/// grant crossed the timeout).
fn withdraw(node: &Node, server: &Pid, lock: &str, holder: &Pid) {
    // TODO Problem 3 (docs/src/lab-lock-manager.md, "Problem 3, timeouts"):
    // the call that asked for `lock` has timed out, but the request it
    // carried is still in the server's line. Tell the server `holder` gave
    // up (LockCast::Withdraw), without waiting for an answer.
    tracing::warn!(
        "Problem 3 is not done yet: {holder} gave up waiting for {lock:?}, and the lock server \
         does not know"
    );
}

/// Releases `lock`, held by `holder`. `Ok(true)` if it was `holder`'s,
/// `Ok(false)` if not (then nothing changed).
pub async fn release(node: &Node, lock: &str, holder: &Pid) -> Result<bool, LockError> {
    todo!(
        "Problem 1 (docs/src/lab-lock-manager.md, 'Problem 1, mutual exclusion'): tell the \
         lock server that {holder} releases {lock:?} (LockCall::Release), waiting at most \
         RELEASE_TIMEOUT. Released is Ok(true), NotHeld is Ok(false), anything else \
         LockError::Unavailable."
    )
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
    todo!(
        "Problem 1 (docs/src/lab-lock-manager.md, 'Problem 1, mutual exclusion'): acquire \
         {lock:?} for the calling process (ctx.pid()), run f, release the lock, and return \
         what f returned. A failed acquire is the error, and f does not run. A failed release \
         does not undo f: log it (tracing::warn!) and return f's result."
    )
}
