//! Timers: deliver a message later, cancellable.

use crate::message::{Message, Payload};
use crate::node::{Dest, Node};
use crate::pid::Pid;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A pending timer. Dropping it does not cancel it (as in Erlang).
#[derive(Debug)]
pub struct TimerRef {
    fired: Arc<AtomicBool>,
    task: tokio::task::AbortHandle,
}

impl TimerRef {
    /// Cancels the timer. True if it had not fired yet (the message will never arrive).
    pub fn cancel(&self) -> bool {
        let was_pending = !self.fired.swap(true, Ordering::SeqCst);
        self.task.abort();
        was_pending
    }
}

/// Sends `msg` to `dest` after `delay`.
pub(crate) fn send_after<T: Message>(
    node: &Node,
    from: Option<Pid>,
    dest: Dest,
    msg: &T,
    delay: Duration,
) -> TimerRef {
    let payload = Payload::encode(msg);
    let fired = Arc::new(AtomicBool::new(false));
    let f = fired.clone();
    let node = node.clone();
    let task = tokio::spawn(async move {
        tokio::time::sleep(delay).await;
        if !f.swap(true, Ordering::SeqCst) {
            let _ = node.send_payload(from, dest, payload, false);
        }
    });
    TimerRef {
        fired,
        task: task.abort_handle(),
    }
}

impl Node {
    /// Sends `msg` to `dest` after `delay`.
    pub fn send_after<T: Message>(
        &self,
        dest: impl Into<Dest>,
        msg: &T,
        delay: Duration,
    ) -> TimerRef {
        send_after(self, None, dest.into(), msg, delay)
    }
}
