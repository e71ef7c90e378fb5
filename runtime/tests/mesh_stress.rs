//! Many meshes formed at once over real TCP on loopback, under CPU load:
//! every node's view must be consistent every time — each lists every other,
//! its watcher saw one NodeUp per peer and no NodeDown, and :global syncs.

use netsplit::portmap::PortMapper;
use netsplit::{global, Node, NodeConfig, NodeName, PortmapConfig, Signal};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

const ROUNDS: usize = 12;
const NODES: usize = 5;

async fn node(name: &str, pm: &PortMapper) -> Node {
    let mut cfg = NodeConfig::new(NodeName::new(name).unwrap()).cookie("stress");
    cfg.portmap = PortmapConfig {
        addr: Some(pm.addr()),
        ..PortmapConfig::default()
    };
    Node::start(cfg).await.unwrap()
}

/// Every node event `node` sees, as text.
fn watch(node: &Node) -> mpsc::UnboundedReceiver<String> {
    let (tx, rx) = mpsc::unbounded_channel();
    node.spawn(move |ctx| async move {
        ctx.monitor_nodes(true);
        loop {
            let e = match ctx.recv().await {
                Signal::NodeUp(n) => format!("up {n}"),
                Signal::NodeDown(n, r) => format!("down {n} {r}"),
                _ => continue,
            };
            if tx.send(e).is_err() {
                return;
            }
        }
    });
    rx
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn meshes_formed_by_simultaneous_dials_are_consistent_under_load() {
    let pm = PortMapper::bind("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    // Two threads that keep the cores busy, so set-ups interleave badly.
    let stop = Arc::new(AtomicBool::new(false));
    let burners: Vec<_> = (0..2)
        .map(|_| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut x = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
                    std::hint::black_box(x);
                }
            })
        })
        .collect();
    for round in 0..ROUNDS {
        let mut nodes = vec![];
        let mut watchers = vec![];
        for i in 0..NODES {
            let n = node(&format!("r{round}n{i}@127.0.0.1"), &pm).await;
            watchers.push(watch(&n));
            nodes.push(n);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        // Every node dials every other at the same moment.
        let mut dials = vec![];
        for a in &nodes {
            for b in &nodes {
                if a.name() != b.name() {
                    let (a, b) = (a.clone(), b.name().clone());
                    dials.push(tokio::spawn(async move { a.connect(&b).await }));
                }
            }
        }
        for d in dials {
            d.await.unwrap();
        }
        for n in &nodes {
            let synced = tokio::time::timeout(Duration::from_secs(10), global::sync(n)).await;
            assert!(
                synced.is_ok(),
                "round {round}: global sync on {} hung",
                n.name()
            );
        }
        // A duplicate connection closed late would show as a NodeDown now.
        tokio::time::sleep(Duration::from_millis(300)).await;
        for (n, w) in nodes.iter().zip(watchers.iter_mut()) {
            let others: Vec<NodeName> = nodes
                .iter()
                .map(|m| m.name().clone())
                .filter(|m| m != n.name())
                .collect();
            let mut events = vec![];
            while let Ok(e) = w.try_recv() {
                events.push(e);
            }
            let mut want: Vec<String> = others.iter().map(|o| format!("up {o}")).collect();
            want.sort();
            let mut got = events.clone();
            got.sort();
            assert_eq!(got, want, "round {round}: {} saw {events:?}", n.name());
            assert_eq!(n.nodes(), others, "round {round}: {} lists", n.name());
        }
        for n in &nodes {
            n.stop().await;
        }
    }
    stop.store(true, Ordering::Relaxed);
    for b in burners {
        b.join().unwrap();
    }
}
