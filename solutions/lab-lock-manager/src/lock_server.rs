//! The lock server: one process for the whole cluster, registered with
//! `:global` as `LOCK_SERVER`, that decides who holds each lock.
//!
//! A lock is held by one process at a time. The others wait in line, in the
//! order they asked; each gets the lock, in turn, when the one before it
//! releases it or dies.

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
        let Some(l) = self.locks.get_mut(lock) else {
            return;
        };
        ctx.demonitor(&l.monitor);
        match l.waiters.pop_front() {
            Some(next) => {
                // Problem 2: the new holder is watched from now on, like the first.
                l.monitor = ctx.monitor(&next.holder);
                l.holder = next.holder;
                next.from.reply(ctx.node(), &LockReply::Granted);
            }
            None => {
                self.locks.remove(lock);
            }
        }
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
            LockCall::Acquire { lock, holder } => match self.locks.get_mut(&lock) {
                // Problem 1: free, so it is the holder's now. Problem 2: watch
                // the holder, so that its death frees the lock.
                None => {
                    let monitor = ctx.monitor(&holder);
                    let waiters = VecDeque::new();
                    let held = Lock {
                        holder,
                        monitor,
                        waiters,
                    };
                    self.locks.insert(lock, held);
                    CallResponse::Reply(LockReply::Granted)
                }
                Some(l) if l.holder == holder => CallResponse::Reply(LockReply::Granted),
                // Problem 1: held by another: wait in line, and answer when
                // it is this holder's turn (hand_over replies).
                Some(l) => {
                    l.waiters.push_back(Waiter { holder, from });
                    CallResponse::NoReply
                }
            },
            LockCall::Release { lock, holder } => match self.locks.get(&lock) {
                // Problem 1: only the holder releases.
                Some(l) if l.holder == holder => {
                    self.hand_over(&lock, ctx);
                    CallResponse::Reply(LockReply::Released)
                }
                _ => CallResponse::Reply(LockReply::NotHeld),
            },
        }
    }

    async fn handle_cast(&mut self, msg: LockCast, ctx: &Ctx) -> Flow {
        match msg {
            LockCast::Withdraw { lock, holder } => {
                // Problem 3: the waiter gave up. Take it out of the line; and if
                // its Granted crossed its timeout, it holds a lock it does not
                // know it has: take that back too.
                let Some(l) = self.locks.get_mut(&lock) else {
                    return Flow::Continue;
                };
                l.waiters.retain(|w| w.holder != holder);
                if l.holder == holder {
                    self.hand_over(&lock, ctx);
                }
            }
        }
        Flow::Continue
    }

    async fn handle_info(&mut self, info: Info<()>, ctx: &Ctx) -> Flow {
        // Problem 2: a holder died, or its node went down: its lock goes to
        // the next in line.
        if let Info::Down(down) = info {
            let held = self
                .locks
                .iter()
                .find(|(_, l)| l.monitor == down.mref)
                .map(|(name, _)| name.clone());
            if let Some(lock) = held {
                tracing::info!(
                    "the holder of {lock:?} is gone ({}): the lock goes to the next in line",
                    down.reason
                );
                self.hand_over(&lock, ctx);
            }
        }
        Flow::Continue
    }
}
