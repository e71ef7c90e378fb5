//! The lock server: one process for the whole cluster, registered with
//! `:global` as `LOCK_SERVER`, that decides who holds each lock.
//!
//! A lock is held by one process at a time. The others wait in line, in the
//! order they asked; each gets the lock, in turn, when the one before it
//! releases it or dies.
//!
//! Lesson: docs/src/lab-lock-manager.md. The messages below are this lab's
//! own protocol between `lock_manager.rs` and this server: you may change
//! them, the grader never sees them.

// Until every hole below is filled in, some imports, fields and arguments
// are unused. Delete this line when you are done: the compiler's warnings
// then help you check your work (an import your own code does not need is
// one of them: delete it too).
#![allow(unused)]

use netsplit::gen_server::{CallResponse, Caller, Flow, GenServer, Info};
use netsplit::{Ctx, Pid, Ref};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};

/// Calls the lock server serves. `holder` is the process that is to hold
/// the lock (not necessarily the one that sends the request): the server
/// monitors it, and only it may release the lock.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub enum LockCall {
    /// Give `lock` to `holder`: [`LockReply::Granted`] at once if it is free
    /// (or already `holder`'s), otherwise once it is `holder`'s turn.
    Acquire {
        /// The lock's name.
        lock: String,
        /// Who is to hold it.
        holder: Pid,
    },
    /// `holder` is done with `lock`: [`LockReply::Released`] if it held it
    /// (the next waiter gets it), [`LockReply::NotHeld`] otherwise (and
    /// nothing changes).
    Release {
        /// The lock's name.
        lock: String,
        /// Who holds it.
        holder: Pid,
    },
}

/// The lock server's replies.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub enum LockReply {
    /// The lock is the holder's.
    Granted,
    /// The lock was the holder's, and is released.
    Released,
    /// The holder did not hold the lock.
    NotHeld,
}

/// Casts the lock server serves.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub enum LockCast {
    /// `holder` stopped waiting for `lock` (its acquire timed out): it must
    /// not be given the lock, and if it was given it meanwhile, it gives it
    /// back.
    Withdraw {
        /// The lock's name.
        lock: String,
        /// Who asked for it.
        holder: Pid,
    },
}

/// A process waiting for a lock, and where to send its `Granted`.
struct Waiter {
    holder: Pid,
    from: Caller<LockReply>,
}

/// A lock that is held: by whom, the monitor on the holder, and who waits.
/// A lock nobody holds has no entry.
struct Lock {
    holder: Pid,
    monitor: Ref,
    waiters: VecDeque<Waiter>,
}

/// Every lock that is held, by name.
#[derive(Default)]
pub struct LockServer {
    locks: BTreeMap<String, Lock>,
}

impl LockServer {
    /// The holder of `lock` is gone (released it, died, or withdrew): the
    /// first waiter gets it, or, with nobody waiting, the lock is free.
    fn hand_over(&mut self, lock: &str, ctx: &Ctx) {
        todo!(
            "Problem 1 (docs/src/lab-lock-manager.md, 'Problem 1, mutual exclusion'): the \
             holder of {lock:?} is done with it. Stop watching it (the Lock's monitor). If \
             someone waits, the first in line becomes the holder: monitor it, keep the new \
             monitor, and answer its call with Granted through its Caller. If nobody waits, \
             the lock is free: remove its entry."
        )
    }
}

impl GenServer for LockServer {
    type Call = LockCall;
    type Reply = LockReply;
    type Cast = LockCast;
    type Info = ();

    async fn handle_call(
        &mut self,
        request: LockCall,
        from: Caller<LockReply>,
        ctx: &Ctx,
    ) -> CallResponse<LockReply> {
        match request {
            LockCall::Acquire { lock, holder } => {
                todo!(
                    "Problem 1 (docs/src/lab-lock-manager.md, 'Problem 1, mutual exclusion'): \
                     {holder} asks for {lock:?}. If nobody holds it, it is {holder}'s: record \
                     it with a monitor on {holder} (ctx.monitor; Problem 2 reacts to it) and \
                     answer Granted. If {holder} holds it already, answer Granted. Otherwise \
                     put the request at the end of the line, keeping `from`, and answer \
                     nothing yet (CallResponse::NoReply): hand_over answers it in turn."
                )
            }
            LockCall::Release { lock, holder } => {
                todo!(
                    "Problem 1 (docs/src/lab-lock-manager.md, 'Problem 1, mutual exclusion'): \
                     {holder} releases {lock:?}. Only the holder may: then hand the lock over \
                     and answer Released. From anyone else, change nothing and answer NotHeld."
                )
            }
        }
    }

    async fn handle_cast(&mut self, msg: LockCast, ctx: &Ctx) -> Flow {
        match msg {
            LockCast::Withdraw { lock, holder } => {
                // TODO Problem 3 (docs/src/lab-lock-manager.md, "Problem 3,
                // timeouts"): `holder` gave up waiting for `lock`. Take it out
                // of the line, so it is never granted the lock later. And if
                // it is the holder already (the Granted crossed its timeout),
                // it does not know it holds the lock: hand the lock over.
                // (Not a todo!(): a panic here would crash the server, and lose
                // every lock, at each timeout while you work on Problems 1-2.)
                tracing::warn!(
                    "Problem 3 is not done yet: {holder} gave up waiting for {lock:?} and is \
                     still in line"
                );
            }
        }
        Flow::Continue
    }

    async fn handle_info(&mut self, info: Info<()>, ctx: &Ctx) -> Flow {
        if let Info::Down(down) = info {
            // TODO Problem 2 (docs/src/lab-lock-manager.md, "Problem 2, holder
            // death"): a monitored process is gone (died, or its node went
            // down: the reason is then noconnection). Find the lock whose
            // monitor this Down is (down.mref), if any, and hand that lock
            // over, as on a release.
            // (Not a todo!(): a panic here would crash the server, and lose
            // every lock, at each Down while you work on Problem 1.)
            tracing::warn!(
                "Problem 2 is not done yet: a monitored process is gone ({}), and the lock \
                 it held stays held",
                down.reason
            );
        }
        Flow::Continue
    }
}
