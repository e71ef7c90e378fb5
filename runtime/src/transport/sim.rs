//! The simulated network: in-memory connections whose fate a test decides.

use super::{FrameReader, FrameWriter};
use crate::node::{Node, NodeConfig, StartError};
use crate::pid::NodeName;
use parking_lot::Mutex;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::HashMap;
use std::io;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// What a simulated link does with frames flowing one way.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkPolicy {
    /// Deliver (after the network's delay, unless dropped by its drop rate).
    Pass,
    /// Break: existing connections are reset, new ones refused.
    Cut,
    /// Silently lose every frame; connections stay open until ticks notice.
    Blackhole,
}

/// An in-memory network of nodes for deterministic tests of distributed behaviour.
///
/// Connections behave like TCP (ordered, reliable until broken); the test decides
/// partitions, one-way failures, delays and frame loss. Random choices (delays,
/// drops) come from one seeded generator. Run it under a current-thread tokio
/// runtime with paused time (`#[tokio::test(start_paused = true)]`) and timeouts
/// and ticks cost no wall-clock time.
///
/// ```
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
/// use netsplit::sim::SimNet;
/// let net = SimNet::new(42);
/// let a = net.start_node("a@sim").await.unwrap();
/// let b = net.start_node("b@sim").await.unwrap();
/// assert!(a.connect(b.name()).await);
/// net.partition(&[&[a.name()], &[b.name()]]);
/// # }
/// ```
#[derive(Clone)]
pub struct SimNet {
    inner: Arc<SimInner>,
}

struct SimInner {
    rng: Mutex<StdRng>,
    listeners: Mutex<HashMap<NodeName, mpsc::UnboundedSender<(FrameReader, FrameWriter)>>>,
    policies: Mutex<HashMap<(NodeName, NodeName), LinkPolicy>>,
    delay: Mutex<(Duration, Duration)>,
    drop_rate: Mutex<f64>,
    conns: Mutex<HashMap<u64, SimConn>>,
    next: Mutex<u64>,
}

/// The two directions of one connection: senders into each side's reader.
struct SimConn {
    a: NodeName,
    b: NodeName,
    to_b: mpsc::UnboundedSender<Vec<u8>>,
    to_a: mpsc::UnboundedSender<Vec<u8>>,
}

pub(crate) struct SimEndpoint {
    net: SimNet,
    name: NodeName,
}

pub(crate) struct SimReader {
    net: SimNet,
    conn: u64,
    rx: mpsc::UnboundedReceiver<Vec<u8>>,
}

pub(crate) struct SimWriter {
    net: SimNet,
    conn: u64,
    from: NodeName,
    to: NodeName,
    /// Frames on their way, with their delivery time (kept in order).
    line: mpsc::UnboundedSender<(Instant, Vec<u8>)>,
}

impl SimNet {
    /// A network whose random choices all come from `seed`.
    pub fn new(seed: u64) -> SimNet {
        SimNet {
            inner: Arc::new(SimInner {
                rng: Mutex::new(StdRng::seed_from_u64(seed)),
                listeners: Mutex::default(),
                policies: Mutex::default(),
                delay: Mutex::new((Duration::ZERO, Duration::ZERO)),
                drop_rate: Mutex::new(0.0),
                conns: Mutex::default(),
                next: Mutex::new(0),
            }),
        }
    }

    /// Starts a node named `name` on this network with the course defaults and
    /// cookie `"sim"`.
    pub async fn start_node(&self, name: &str) -> Result<Node, StartError> {
        let name = NodeName::new(name).map_err(|e| StartError::Config(e.to_string()))?;
        self.start_node_with(NodeConfig::new(name).cookie("sim"))
            .await
    }

    /// Starts a node with a full configuration (cookie default `"sim"`).
    pub async fn start_node_with(&self, config: NodeConfig) -> Result<Node, StartError> {
        let cookie = config.cookie.clone().unwrap_or_else(|| "sim".into());
        let ep = SimEndpoint {
            net: self.clone(),
            name: config.name.clone(),
        };
        Node::start_on(config, cookie, super::Transport::Sim(ep)).await
    }

    /// Sets what the link carrying frames from `from` to `to` does.
    /// Cutting resets the connections between the two at once.
    pub fn set_link(&self, from: &NodeName, to: &NodeName, policy: LinkPolicy) {
        self.inner
            .policies
            .lock()
            .insert((from.clone(), to.clone()), policy);
        if policy == LinkPolicy::Cut {
            self.sever(|a, b| (a == from && b == to) || (a == to && b == from));
        }
    }

    /// Splits the nodes into groups: links between groups are cut (connections
    /// reset, new ones refused), links within a group pass.
    pub fn partition(&self, groups: &[&[&NodeName]]) {
        self.partition_with(groups, LinkPolicy::Cut)
    }

    /// Like [`partition`](Self::partition) but links between groups silently lose
    /// frames, so only ticks reveal it (a network that drops, not one that resets).
    pub fn partition_silent(&self, groups: &[&[&NodeName]]) {
        self.partition_with(groups, LinkPolicy::Blackhole)
    }

    fn partition_with(&self, groups: &[&[&NodeName]], policy: LinkPolicy) {
        let mut p = self.inner.policies.lock();
        for (i, g) in groups.iter().enumerate() {
            for (j, h) in groups.iter().enumerate() {
                for a in g.iter() {
                    for b in h.iter() {
                        if a != b {
                            p.insert(
                                ((*a).clone(), (*b).clone()),
                                if i == j { LinkPolicy::Pass } else { policy },
                            );
                        }
                    }
                }
            }
        }
        drop(p);
        if policy == LinkPolicy::Cut {
            let policies = self.inner.policies.lock().clone();
            self.sever(|a, b| policies.get(&(a.clone(), b.clone())) == Some(&LinkPolicy::Cut));
        }
    }

    /// Every link passes again. Nothing reconnects by itself: nodes reconnect
    /// when their code sends, monitors, or calls `connect`.
    pub fn heal(&self) {
        self.inner.policies.lock().clear();
    }

    /// Every frame is delayed by a duration drawn uniformly from `[min, max]`
    /// (order on a connection is kept).
    pub fn set_delay(&self, min: Duration, max: Duration) {
        *self.inner.delay.lock() = (min, max.max(min));
    }

    /// Each frame is lost with probability `p` (a lossy link below the
    /// distribution layer: lost ticks and lost messages, connection kept).
    pub fn set_drop_rate(&self, p: f64) {
        *self.inner.drop_rate.lock() = p.clamp(0.0, 1.0);
    }

    fn policy(&self, from: &NodeName, to: &NodeName) -> LinkPolicy {
        *self
            .inner
            .policies
            .lock()
            .get(&(from.clone(), to.clone()))
            .unwrap_or(&LinkPolicy::Pass)
    }

    fn sever(&self, matches: impl Fn(&NodeName, &NodeName) -> bool) {
        self.inner.conns.lock().retain(|_, c| !matches(&c.a, &c.b));
    }

    fn drop_conn(&self, id: u64) {
        self.inner.conns.lock().remove(&id);
    }
}

impl SimEndpoint {
    pub(crate) fn listen(
        &self,
        me: &NodeName,
    ) -> Result<mpsc::UnboundedReceiver<(FrameReader, FrameWriter)>, StartError> {
        let (tx, rx) = mpsc::unbounded_channel();
        let mut l = self.net.inner.listeners.lock();
        if l.get(me).is_some_and(|t| !t.is_closed()) {
            return Err(StartError::NameInUse(me.clone()));
        }
        l.insert(me.clone(), tx);
        Ok(rx)
    }

    pub(crate) fn connect(
        &self,
        me: &NodeName,
        peer: &NodeName,
    ) -> io::Result<(FrameReader, FrameWriter)> {
        let net = &self.net;
        if net.policy(me, peer) == LinkPolicy::Cut || net.policy(peer, me) == LinkPolicy::Cut {
            return Err(io::Error::new(
                io::ErrorKind::ConnectionRefused,
                "network partitioned",
            ));
        }
        let listener = net.inner.listeners.lock().get(peer).cloned();
        let Some(listener) = listener else {
            return Err(io::Error::new(
                io::ErrorKind::ConnectionRefused,
                format!("no node {peer} on the simulated network"),
            ));
        };
        let id = {
            let mut n = net.inner.next.lock();
            *n += 1;
            *n
        };
        let (to_b, rx_b) = mpsc::unbounded_channel();
        let (to_a, rx_a) = mpsc::unbounded_channel();
        net.inner.conns.lock().insert(
            id,
            SimConn {
                a: me.clone(),
                b: peer.clone(),
                to_b,
                to_a,
            },
        );
        let side_a = (
            FrameReader::Sim(SimReader {
                net: net.clone(),
                conn: id,
                rx: rx_a,
            }),
            FrameWriter::Sim(SimWriter::new(net, id, me, peer)),
        );
        let side_b = (
            FrameReader::Sim(SimReader {
                net: net.clone(),
                conn: id,
                rx: rx_b,
            }),
            FrameWriter::Sim(SimWriter::new(net, id, peer, me)),
        );
        if listener.send(side_b).is_err() {
            net.drop_conn(id);
            return Err(io::Error::new(
                io::ErrorKind::ConnectionRefused,
                format!("{peer} is not listening"),
            ));
        }
        Ok(side_a)
    }

    pub(crate) fn stop(&self) {
        self.net.inner.listeners.lock().remove(&self.name);
        let me = self.name.clone();
        self.net.sever(|a, b| *a == me || *b == me);
    }
}

impl SimWriter {
    fn new(net: &SimNet, conn: u64, from: &NodeName, to: &NodeName) -> SimWriter {
        let (line, mut rx) = mpsc::unbounded_channel::<(Instant, Vec<u8>)>();
        let n = net.clone();
        let f = from.clone();
        tokio::spawn(async move {
            while let Some((at, frame)) = rx.recv().await {
                tokio::time::sleep_until(at).await;
                let tx = n.inner.conns.lock().get(&conn).map(|c| {
                    if c.a == f {
                        c.to_b.clone()
                    } else {
                        c.to_a.clone()
                    }
                });
                match tx {
                    Some(tx) if tx.send(frame).is_ok() => {}
                    _ => return,
                }
            }
        });
        SimWriter {
            net: net.clone(),
            conn,
            from: from.clone(),
            to: to.clone(),
            line,
        }
    }

    pub(crate) fn write(&mut self, frame: &[u8]) -> io::Result<()> {
        if !self.net.inner.conns.lock().contains_key(&self.conn) {
            return Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "connection reset",
            ));
        }
        match self.net.policy(&self.from, &self.to) {
            LinkPolicy::Cut => {
                self.net.drop_conn(self.conn);
                Err(io::Error::new(
                    io::ErrorKind::ConnectionReset,
                    "network partitioned",
                ))
            }
            LinkPolicy::Blackhole => Ok(()),
            LinkPolicy::Pass => {
                let (delay, lost) = {
                    let (min, max) = *self.net.inner.delay.lock();
                    let p = *self.net.inner.drop_rate.lock();
                    let mut rng = self.net.inner.rng.lock();
                    let d = if max > min {
                        rng.gen_range(min..=max)
                    } else {
                        min
                    };
                    (d, p > 0.0 && rng.gen_bool(p))
                };
                if !lost {
                    let _ = self.line.send((Instant::now() + delay, frame.to_vec()));
                }
                Ok(())
            }
        }
    }
}

impl SimReader {
    pub(crate) async fn recv(&mut self) -> io::Result<Option<Vec<u8>>> {
        Ok(self.rx.recv().await)
    }
}

impl Drop for SimReader {
    fn drop(&mut self) {
        self.net.drop_conn(self.conn);
    }
}

impl Drop for SimWriter {
    fn drop(&mut self) {
        self.net.drop_conn(self.conn);
    }
}
