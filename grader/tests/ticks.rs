//! The runtime's tick rule over real TCP, through the grader's fabric: a node
//! that stops hearing its peer declares it down between `T - T/4` and
//! `T + T/4` later (net_kernel's bound), whatever the moment of the cut
//! against the ticks, on whichever side stops hearing.

use grader::net::fabric::{Fabric, Policy};
use grader::net::port_mapper::PortMapper;
use netsplit::{Node, NodeConfig, NodeDownReason, NodeName, PortmapConfig, Signal};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

const TICKTIME: Duration = Duration::from_secs(1);

async fn node(name: &str, pm: &PortMapper) -> Node {
    let mut cfg = NodeConfig::new(NodeName::new(name).unwrap()).cookie("ticks");
    cfg.net_ticktime = TICKTIME;
    cfg.portmap = PortmapConfig {
        addr: Some(pm.addr()),
        ..PortmapConfig::default()
    };
    Node::start(cfg).await.unwrap()
}

/// The reason and moment of the first NodeDown `node` sees.
fn watch_nodedown(node: &Node) -> mpsc::UnboundedReceiver<(NodeDownReason, Instant)> {
    let (tx, rx) = mpsc::unbounded_channel();
    node.spawn(move |ctx| async move {
        ctx.monitor_nodes(true);
        loop {
            if let Signal::NodeDown(_, r) = ctx.recv().await {
                let _ = tx.send((r, Instant::now()));
                return;
            }
        }
    });
    rx
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_one_way_silent_cut_is_noticed_within_the_tick_bound() {
    let pm = PortMapper::start().await.unwrap();
    let fabric = Arc::new(Fabric::new());
    fabric.route_portmap(&pm);
    let interval = TICKTIME / 4;
    let phases = 8u32;
    let mut runs = vec![];
    for k in 0..phases {
        // Half the pairs go deaf on the dialling side, half on the other.
        let (deaf, talker) = (format!("d{k}"), format!("t{k}"));
        let d = node(&format!("{deaf}@127.0.0.1"), &pm).await;
        let t = node(&format!("{talker}@127.0.0.1"), &pm).await;
        fabric.add_nodes(&[&deaf, &talker]).unwrap();
        let mut down = watch_nodedown(&d);
        let dialler = if k % 2 == 0 { &d } else { &t };
        let other = if k % 2 == 0 { &t } else { &d };
        assert!(dialler.connect(other.name()).await);
        let fabric = fabric.clone();
        runs.push(tokio::spawn(async move {
            // Idle for a while, then cut at this pair's phase, over two intervals.
            tokio::time::sleep(3 * TICKTIME + 2 * interval * k / phases).await;
            let t0 = Instant::now();
            fabric.set_link(&talker, &deaf, Policy::Blackhole);
            let (reason, at) = tokio::time::timeout(5 * TICKTIME, down.recv())
                .await
                .expect("no nodedown at all")
                .unwrap();
            let keep = (d, t);
            drop(keep);
            (k, reason, at - t0)
        }));
    }
    let mut report = vec![];
    for r in runs {
        report.push(r.await.unwrap());
    }
    // The bound, with room for scheduling on a loaded machine above it, and
    // a little below (a tick checked a few ms early).
    let (lo, hi) = (TICKTIME - TICKTIME / 4, TICKTIME + TICKTIME / 4);
    let slack_lo = Duration::from_millis(40);
    let slack_hi = Duration::from_millis(500);
    for (k, reason, el) in &report {
        assert_eq!(*reason, NodeDownReason::TickTimeout, "pair {k}: {report:?}");
        assert!(
            *el + slack_lo >= lo && *el <= hi + slack_hi,
            "pair {k} noticed the cut after {el:?}, outside {lo:?}..{hi:?}: {report:?}"
        );
    }
}
