//! Connection set-up and teardown on the simulated network, deterministic
//! under paused time: races between nodes dialling each other, the tick
//! rule, and the order in which a lost connection's signals arrive.

mod common;

use common::probe;
use netsplit::sim::{LinkPolicy, SimNet};
use netsplit::{ExitReason, Node, NodeDownReason, Signal};
use std::time::Duration;

const S: Duration = Duration::from_secs(1);

/// Every signal a probe got within `d`, in order.
async fn drain(p: &mut common::Probe, d: Duration) -> Vec<Signal> {
    let mut got = vec![];
    let deadline = tokio::time::Instant::now() + d;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match p.try_next(left).await {
            Some(s) => got.push(s),
            None => return got,
        }
    }
}

/// Nodes that all dial each other at the same moment, over links with random
/// delays, must end with one connection per pair: every node lists every
/// other, and its watcher saw exactly one NodeUp per peer and no NodeDown —
/// not then, and not after the ticks have had time to notice anything.
#[tokio::test(start_paused = true)]
async fn simultaneous_dials_leave_one_connection_per_pair() {
    for seed in 0..40u64 {
        let net = SimNet::new(seed);
        net.set_delay(Duration::ZERO, Duration::from_millis(3));
        let mut nodes: Vec<Node> = vec![];
        for i in 0..4 {
            nodes.push(net.start_node(&format!("n{i}@sim")).await.unwrap());
        }
        let mut watchers = vec![];
        for n in &nodes {
            let p = probe(n).await;
            p.ctx.monitor_nodes(true);
            watchers.push(p);
        }
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
        for (n, w) in nodes.iter().zip(watchers.iter_mut()) {
            let events = drain(w, 3 * n.config().net_ticktime).await;
            let others: Vec<_> = nodes
                .iter()
                .map(|m| m.name().clone())
                .filter(|m| m != n.name())
                .collect();
            assert_eq!(n.nodes(), others, "seed {seed}: {} lists", n.name());
            let mut ups: Vec<_> = events
                .iter()
                .filter_map(|s| match s {
                    Signal::NodeUp(m) => Some(m.clone()),
                    _ => None,
                })
                .collect();
            ups.sort();
            assert_eq!(ups, others, "seed {seed}: {} saw {events:?}", n.name());
            assert!(
                !events.iter().any(|s| matches!(s, Signal::NodeDown(..))),
                "seed {seed}: {} saw {events:?}",
                n.name()
            );
        }
        for n in &nodes {
            n.stop().await;
        }
    }
}

/// net_kernel's tick rule: an idle link carries a tick every interval
/// (`net_ticktime / intensity`), so a node that stops hearing its peer
/// notices between `T - T/4` and `T + T/4` later, whatever the moment of the
/// cut against the ticks. Each side is measured on its own: the link is made
/// to lose frames one way only, so the side that stops hearing is the one
/// whose ticks decide.
#[tokio::test(start_paused = true)]
async fn a_silent_cut_is_noticed_within_the_tick_bound_on_either_side() {
    let phases = 8u32;
    for deaf_side in ["a", "b"] {
        for k in 0..phases {
            let net = SimNet::new(100 + k as u64);
            let a = net.start_node("a@sim").await.unwrap();
            let b = net.start_node("b@sim").await.unwrap();
            let (deaf, talker) = if deaf_side == "a" { (&a, &b) } else { (&b, &a) };
            let mut p = probe(deaf).await;
            p.ctx.monitor_nodes(true);
            assert!(a.connect(b.name()).await);
            let t = a.config().net_ticktime;
            let interval = t / a.config().tick_intensity;
            // Idle for a while, then cut at a phase of our choosing, over two
            // intervals (a link that ticks every other interval shows here).
            tokio::time::sleep(3 * t + 2 * interval * k / phases).await;
            let t0 = tokio::time::Instant::now();
            net.set_link(talker.name(), deaf.name(), LinkPolicy::Blackhole);
            let down = p
                .until(3 * t, |s| match s {
                    Signal::NodeDown(_, r) => Some(r),
                    _ => None,
                })
                .await;
            assert_eq!(down, NodeDownReason::TickTimeout);
            let el = t0.elapsed();
            assert!(
                el >= t - t / 4 && el <= t + t / 4 + Duration::from_millis(20),
                "phase {k}/{phases}: {deaf_side} noticed the cut after {el:?}, outside {:?}..{:?}",
                t - t / 4,
                t + t / 4
            );
        }
    }
}

/// As on the BEAM, a lost connection's monitors fire before the NodeDown.
#[tokio::test(start_paused = true)]
async fn down_reaches_a_monitor_before_nodedown() {
    let net = SimNet::new(7);
    let a = net.start_node("a@sim").await.unwrap();
    let b = net.start_node("b@sim").await.unwrap();
    let target = probe(&b).await;
    let mut p = probe(&a).await;
    p.ctx.monitor_nodes(true);
    assert!(a.connect(b.name()).await);
    assert!(matches!(p.next(S).await, Signal::NodeUp(_)));
    p.ctx.monitor(target.ctx.pid());
    tokio::time::sleep(Duration::from_millis(100)).await;
    net.partition(&[&[a.name()], &[b.name()]]);
    match p.next(S).await {
        Signal::Down(d) => assert_eq!(d.reason, ExitReason::NoConnection),
        s => panic!("expected the monitor's Down first, got {s:?}"),
    }
    assert!(matches!(p.next(S).await, Signal::NodeDown(..)));
}
