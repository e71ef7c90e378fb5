//! A process's mailbox: an unbounded FIFO plus the wakers that tie it to the task.
//!
//! Two wakers, because a process can be waiting on its mailbox inside a
//! combinator (`select!`, `join!`) whose waker differs from the task's: the
//! receive waker is the one the `recv` future registered; the task waker is the
//! one the process wrapper registered, and it is the one a kill must wake even
//! when the process is blocked on something else entirely (a sleep, a call).

use super::Signal;
use futures::task::AtomicWaker;
use parking_lot::Mutex;
use std::collections::VecDeque;
use std::future::poll_fn;
use std::task::Poll;

#[derive(Default)]
pub(crate) struct Mailbox {
    queue: Mutex<VecDeque<Signal>>,
    recv_waker: AtomicWaker,
    pub(crate) task_waker: AtomicWaker,
}

impl Mailbox {
    /// Queues a signal and wakes the receiver. Only the `recv` waker: whoever
    /// is waiting on the mailbox registered it (the process, or the combinator
    /// it awaits `recv` inside); the task waker is for kills alone.
    pub(crate) fn push(&self, sig: Signal) {
        self.queue.lock().push_back(sig);
        self.recv_waker.wake();
    }

    pub(crate) fn try_pop(&self) -> Option<Signal> {
        self.queue.lock().pop_front()
    }

    pub(crate) async fn pop(&self) -> Signal {
        poll_fn(|cx| {
            if let Some(s) = self.try_pop() {
                return Poll::Ready(s);
            }
            self.recv_waker.register(cx.waker());
            // A push between the failed pop and the registration would be lost
            // without this second look.
            match self.try_pop() {
                Some(s) => Poll::Ready(s),
                None => Poll::Pending,
            }
        })
        .await
    }

    pub(crate) fn len(&self) -> usize {
        self.queue.lock().len()
    }

    /// Removes every queued signal for which `keep` is false.
    pub(crate) fn retain(&self, keep: impl FnMut(&Signal) -> bool) {
        self.queue.lock().retain(keep);
    }
}
