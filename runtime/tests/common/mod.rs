//! Test helpers: a probe process whose mailbox the test can read.
#![allow(dead_code)]

use netsplit::{Ctx, Node, Signal};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// A process that forwards every signal it receives to the test.
pub struct Probe {
    pub ctx: Ctx,
    rx: mpsc::UnboundedReceiver<Signal>,
}

pub async fn probe(node: &Node) -> Probe {
    let (tx, rx) = mpsc::unbounded_channel();
    let (ctx_tx, ctx_rx) = oneshot::channel();
    node.spawn(move |ctx| async move {
        let _ = ctx_tx.send(ctx.clone());
        loop {
            let s = ctx.recv().await;
            if tx.send(s).is_err() {
                break;
            }
        }
    });
    Probe {
        ctx: ctx_rx.await.unwrap(),
        rx,
    }
}

impl Probe {
    pub async fn next(&mut self, within: Duration) -> Signal {
        tokio::time::timeout(within, self.rx.recv())
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "probe {} received nothing within {within:?}",
                    self.ctx.pid()
                )
            })
            .expect("probe died")
    }

    /// The next signal within `within`, if one comes.
    pub async fn try_next(&mut self, within: Duration) -> Option<Signal> {
        tokio::time::timeout(within, self.rx.recv())
            .await
            .ok()
            .flatten()
    }

    pub async fn nothing_for(&mut self, d: Duration) -> bool {
        tokio::time::timeout(d, self.rx.recv()).await.is_err()
    }

    /// Skips signals until one matches.
    pub async fn until<T>(
        &mut self,
        within: Duration,
        mut f: impl FnMut(Signal) -> Option<T>,
    ) -> T {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let s = self.next(left).await;
            if let Some(t) = f(s) {
                return t;
            }
        }
    }
}

/// Waits until `f` holds, checking every 10 ms, at most `within`.
pub async fn eventually(within: Duration, what: &str, mut f: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + within;
    while !f() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "not true within {within:?}: {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
