//! The shell's own process: the `self` of the prompt.
//!
//! As in iex, the shell is a process with a pid and a mailbox. What others
//! send it waits there until `flush` or `receive`; it traps exits, so a
//! linked process that dies shows up as an `{'EXIT', Pid, Reason}` message
//! instead of killing the shell; and it prints nodeup and nodedown as they
//! happen. Monitors and links are made by this process (they belong to a
//! process), so the commands reach it through a channel.

use crate::out::Out;
use crate::term::Term;
use netsplit::{Ctx, Dest, Node, NodeName, Pid, Ref, Signal, Target};
use std::collections::{HashSet, VecDeque};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// Longest message `flush` prints whole; longer ones are cut, with their size.
const SHOWN: usize = 400;

/// What the prompt asks of the shell's process.
enum Req {
    Monitor(Dest, oneshot::Sender<Ref>),
    Demonitor(Ref, oneshot::Sender<bool>),
    Link(Pid),
    Unlink(Pid),
    MonitorNode(NodeName, bool),
    Flush(oneshot::Sender<Vec<String>>),
    Receive(Duration, oneshot::Sender<Option<String>>),
}

/// A handle on the shell's process.
pub struct Mailbox {
    pid: Pid,
    tx: mpsc::UnboundedSender<Req>,
}

impl Mailbox {
    /// Starts the shell's process on `node`.
    pub fn start(node: &Node, out: Out) -> Mailbox {
        let (tx, rx) = mpsc::unbounded_channel();
        let pid = node.spawn(move |ctx| run(ctx, rx, out));
        Mailbox { pid, tx }
    }

    /// The shell's pid.
    pub fn pid(&self) -> &Pid {
        &self.pid
    }

    async fn ask<T>(&self, req: impl FnOnce(oneshot::Sender<T>) -> Req) -> Option<T> {
        let (tx, rx) = oneshot::channel();
        self.tx.send(req(tx)).ok()?;
        rx.await.ok()
    }

    /// Monitors `dest`; the `'DOWN'` message comes to the mailbox.
    pub async fn monitor(&self, dest: Dest) -> Option<Ref> {
        self.ask(|tx| Req::Monitor(dest, tx)).await
    }

    /// Removes a monitor; false if it was not (or no longer) active.
    pub async fn demonitor(&self, mref: Ref) -> bool {
        self.ask(|tx| Req::Demonitor(mref, tx))
            .await
            .unwrap_or(false)
    }

    /// Links the shell to `pid`.
    pub fn link(&self, pid: Pid) {
        let _ = self.tx.send(Req::Link(pid));
    }

    /// Removes the link to `pid`.
    pub fn unlink(&self, pid: Pid) {
        let _ = self.tx.send(Req::Unlink(pid));
    }

    /// Erlang's `monitor_node(Node, Flag)`: a `{nodedown, Node}` message
    /// when the connection to `node` is lost (once).
    pub fn monitor_node(&self, node: NodeName, on: bool) {
        let _ = self.tx.send(Req::MonitorNode(node, on));
    }

    /// Every message waiting, oldest first, and an empty mailbox.
    pub async fn flush(&self) -> Vec<String> {
        self.ask(Req::Flush).await.unwrap_or_default()
    }

    /// The oldest message, waiting at most `timeout` for one.
    pub async fn receive(&self, timeout: Duration) -> Option<String> {
        self.ask(|tx| Req::Receive(timeout, tx)).await.flatten()
    }
}

async fn run(ctx: Ctx, mut rx: mpsc::UnboundedReceiver<Req>, out: Out) {
    ctx.trap_exit(true);
    ctx.monitor_nodes(true);
    let mut mail: VecDeque<String> = VecDeque::new();
    let mut watched: HashSet<NodeName> = HashSet::new();
    let mut waiting: Option<(oneshot::Sender<Option<String>>, tokio::time::Instant)> = None;
    loop {
        let deadline = waiting.as_ref().map(|(_, d)| *d);
        tokio::select! {
            signal = ctx.recv() => {
                let text = match signal {
                    Signal::NodeUp(n) => {
                        out.line(format!("nodeup {n}"));
                        continue;
                    }
                    Signal::NodeDown(n, why) => {
                        out.line(format!("nodedown {n} {why}"));
                        if !watched.remove(&n) {
                            continue;
                        }
                        nodedown_message(&n)
                    }
                    other => shown(other),
                };
                match waiting.take() {
                    Some((tx, _)) => { let _ = tx.send(Some(text)); }
                    None => mail.push_back(text),
                }
            }
            req = rx.recv() => {
                let Some(req) = req else { return };
                match req {
                    Req::Monitor(dest, tx) => { let _ = tx.send(ctx.monitor(dest)); }
                    Req::Demonitor(r, tx) => { let _ = tx.send(ctx.demonitor(&r)); }
                    Req::Link(p) => ctx.link(&p),
                    Req::Unlink(p) => ctx.unlink(&p),
                    Req::MonitorNode(n, on) => {
                        let up = ctx.node().nodes_connected().contains(&n);
                        if on && !up {
                            // As in Erlang: a node that cannot be reached
                            // is reported down at once.
                            mail.push_back(nodedown_message(&n));
                        } else if on {
                            watched.insert(n);
                        } else {
                            watched.remove(&n);
                        }
                    }
                    Req::Flush(tx) => { let _ = tx.send(mail.drain(..).collect()); }
                    Req::Receive(timeout, tx) => match mail.pop_front() {
                        Some(m) => { let _ = tx.send(Some(m)); }
                        None => waiting = Some((tx, tokio::time::Instant::now() + timeout)),
                    },
                }
            }
            _ = sleep_until(deadline) => {
                if let Some((tx, _)) = waiting.take() {
                    let _ = tx.send(None);
                }
            }
        }
    }
}

/// Erlang's `{nodedown, Node}`, as `monitor_node` delivers it.
fn nodedown_message(n: &NodeName) -> String {
    Term::tuple([Term::atom("nodedown"), Term::atom(n.to_string())]).to_string()
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// A signal as the shell prints it.
fn shown(signal: Signal) -> String {
    let text = match signal {
        Signal::Message { payload, .. } => match payload.decode::<Term>() {
            Ok(t) => t.to_string(),
            Err(_) => format!("#Message<{}, {} bytes>", payload.type_name(), payload.len()),
        },
        Signal::Down(d) => {
            let target = match d.target {
                Target::Pid(p) => Term::Pid(p),
                Target::Name(name, node) => {
                    Term::tuple([Term::atom(name), Term::atom(node.to_string())])
                }
            };
            Term::tuple([
                Term::atom("DOWN"),
                Term::Ref(d.mref),
                Term::atom("process"),
                target,
                Term::reason(&d.reason),
            ])
            .to_string()
        }
        Signal::Exit(e) => Term::tuple([
            Term::atom("EXIT"),
            Term::Pid(e.from),
            Term::reason(&e.reason),
        ])
        .to_string(),
        Signal::Cast(p) | Signal::Call(_, p) => {
            format!(
                "#Message<{}, {} bytes> (a GenServer request; the shell is no server)",
                p.type_name(),
                p.len()
            )
        }
        other => format!("{other:?}"),
    };
    cut(text)
}

/// A long message cut to its first `SHOWN` characters, with its full size.
fn cut(text: String) -> String {
    if text.chars().count() <= SHOWN {
        return text;
    }
    let head: String = text.chars().take(SHOWN).collect();
    format!("{head}… ({} bytes in all)", text.len())
}
