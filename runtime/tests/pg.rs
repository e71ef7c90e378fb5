//! `:pg` process groups on the simulated network, deterministic under paused time.

mod common;

use common::{eventually, probe, Probe};
use netsplit::pg::{self, PgError, PgEvent, DEFAULT_SCOPE as PG};
use netsplit::sim::SimNet;
use netsplit::{ExitReason, Node, NodeConfig, NodeName, Pid, Ref, Signal};
use std::time::Duration;

const S: Duration = Duration::from_secs(1);

async fn cluster(seed: u64) -> (SimNet, Node, Node, Node) {
    let net = SimNet::new(seed);
    let a = net.start_node("a@sim").await.unwrap();
    let b = net.start_node("b@sim").await.unwrap();
    let c = net.start_node("c@sim").await.unwrap();
    assert!(a.connect(b.name()).await && a.connect(c.name()).await);
    eventually(5 * S, "full mesh", || {
        [&a, &b, &c].iter().all(|n| n.nodes().len() == 2)
    })
    .await;
    (net, a, b, c)
}

fn idle(node: &Node) -> Pid {
    node.spawn(|ctx| async move {
        ctx.recv().await;
    })
}

fn sorted(mut v: Vec<Pid>) -> Vec<Pid> {
    v.sort();
    v
}

/// Waits until every node lists exactly `want` (sorted) in `group`.
async fn members_everywhere(ns: &[&Node], scope: &str, group: &str, want: Vec<Pid>) {
    let want = sorted(want);
    eventually(S, &format!("{group} = {want:?} on every node"), || {
        ns.iter().all(|n| pg::get_members(n, scope, group) == want)
    })
    .await;
}

async fn next_event(p: &mut Probe) -> PgEvent {
    match p.next(S).await {
        Signal::Message { payload, .. } => payload.decode::<PgEvent>().unwrap(),
        s => panic!("expected a pg event, got {s:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn joins_and_leaves_propagate_and_a_double_join_needs_two_leaves() {
    let (_net, a, b, c) = cluster(1).await;
    let all = [&a, &b, &c];
    for n in all {
        pg::start_scope(n, PG);
    }
    let (pa, pb) = (idle(&a), idle(&b));
    pg::join(&a, PG, "workers", &pa).await.unwrap();
    // Local view is updated when join returns.
    assert_eq!(pg::get_local_members(&a, PG, "workers"), vec![pa.clone()]);
    pg::join(&b, PG, "workers", &pb).await.unwrap();
    pg::join(&b, PG, "workers", &pb).await.unwrap();
    members_everywhere(
        &all,
        PG,
        "workers",
        vec![pa.clone(), pb.clone(), pb.clone()],
    )
    .await;
    assert_eq!(pg::which_groups(&c, PG), vec!["workers".to_string()]);
    assert!(pg::get_local_members(&c, PG, "workers").is_empty());

    pg::leave(&b, PG, "workers", &pb).await.unwrap();
    members_everywhere(&all, PG, "workers", vec![pa.clone(), pb.clone()]).await;
    pg::leave(&b, PG, "workers", &pb).await.unwrap();
    members_everywhere(&all, PG, "workers", vec![pa.clone()]).await;
    assert_eq!(
        pg::leave(&b, PG, "workers", &pb).await,
        Err(PgError::NotJoined)
    );
    pg::leave(&a, PG, "workers", &pa).await.unwrap();
    members_everywhere(&all, PG, "workers", vec![]).await;
    // Empty and missing groups are the same thing.
    for n in all {
        assert!(pg::which_groups(n, PG).is_empty());
        assert_eq!(
            pg::get_members(n, PG, "workers"),
            pg::get_members(n, PG, "never")
        );
    }
}

#[tokio::test(start_paused = true)]
async fn only_local_pids_may_join_or_leave() {
    let (_net, a, b, _c) = cluster(2).await;
    let remote = idle(&b);
    assert_eq!(
        pg::join(&a, PG, "g", &remote).await,
        Err(PgError::NotLocal(remote.clone()))
    );
    assert_eq!(
        pg::leave(&a, PG, "g", &remote).await,
        Err(PgError::NotLocal(remote.clone()))
    );
    assert_eq!(
        pg::monitor(&a, PG, "g", &remote).await.map(|_| ()),
        Err(PgError::NotLocal(remote))
    );
}

#[tokio::test(start_paused = true)]
async fn scopes_are_independent() {
    let (_net, a, b, _c) = cluster(3).await;
    for n in [&a, &b] {
        pg::start_scope(n, "chat");
        pg::start_scope(n, "jobs");
    }
    let p = idle(&a);
    pg::join(&a, "chat", "room", &p).await.unwrap();
    members_everywhere(&[&a, &b], "chat", "room", vec![p.clone()]).await;
    assert!(pg::get_members(&b, "jobs", "room").is_empty());
    assert!(pg::which_groups(&b, "jobs").is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_member_that_exits_is_removed_everywhere() {
    let (_net, a, b, c) = cluster(4).await;
    let all = [&a, &b, &c];
    for n in all {
        pg::start_scope(n, PG);
    }
    let p = idle(&b);
    let q = idle(&b);
    for g in ["x", "y"] {
        pg::join(&b, PG, g, &p).await.unwrap();
    }
    pg::join(&b, PG, "x", &p).await.unwrap();
    pg::join(&b, PG, "x", &q).await.unwrap();
    members_everywhere(&all, PG, "x", vec![p.clone(), p.clone(), q.clone()]).await;
    b.exit(&p, ExitReason::Kill);
    members_everywhere(&all, PG, "x", vec![q.clone()]).await;
    members_everywhere(&all, PG, "y", vec![]).await;
    assert_eq!(pg::which_groups(&a, PG), vec!["x".to_string()]);
}

#[tokio::test(start_paused = true)]
async fn members_of_a_node_that_goes_down_are_dropped() {
    let (_net, a, b, c) = cluster(5).await;
    for n in [&a, &b, &c] {
        pg::start_scope(n, PG);
    }
    let (pa, pc) = (idle(&a), idle(&c));
    pg::join(&a, PG, "g", &pa).await.unwrap();
    pg::join(&c, PG, "g", &pc).await.unwrap();
    members_everywhere(&[&a, &b, &c], PG, "g", vec![pa.clone(), pc.clone()]).await;
    c.stop().await;
    members_everywhere(&[&a, &b], PG, "g", vec![pa.clone()]).await;
}

#[tokio::test(start_paused = true)]
async fn partition_then_heal_resyncs_both_sides() {
    let (net, a, b, c) = cluster(6).await;
    let all = [&a, &b, &c];
    for n in all {
        pg::start_scope(n, PG);
    }
    let (pa, pb, pc) = (idle(&a), idle(&b), idle(&c));
    pg::join(&a, PG, "g", &pa).await.unwrap();
    pg::join(&c, PG, "g", &pc).await.unwrap();
    members_everywhere(&all, PG, "g", vec![pa.clone(), pc.clone()]).await;

    net.partition(&[&[a.name()], &[b.name(), c.name()]]);
    // Each side drops the other's members ...
    members_everywhere(&[&a], PG, "g", vec![pa.clone()]).await;
    members_everywhere(&[&b, &c], PG, "g", vec![pc.clone()]).await;
    // ... and changes go on independently on each side.
    pg::join(&b, PG, "g", &pb).await.unwrap();
    pg::leave(&c, PG, "g", &pc).await.unwrap();
    let pa2 = idle(&a);
    pg::join(&a, PG, "h", &pa2).await.unwrap();
    members_everywhere(&[&b, &c], PG, "g", vec![pb.clone()]).await;
    assert!(
        pg::get_members(&a, PG, "h") == vec![pa2.clone()]
            && pg::get_members(&b, PG, "h").is_empty()
    );

    net.heal();
    assert!(a.connect(b.name()).await);
    eventually(5 * S, "mesh", || all.iter().all(|n| n.nodes().len() == 2)).await;
    members_everywhere(&all, PG, "g", vec![pa.clone(), pb.clone()]).await;
    members_everywhere(&all, PG, "h", vec![pa2.clone()]).await;
}

fn join_of(ev: &PgEvent, mref: &Ref) -> Option<(String, Vec<Pid>)> {
    match ev {
        PgEvent::Join {
            mref: m,
            group,
            pids,
        } if m == mref => Some((group.clone(), pids.clone())),
        _ => None,
    }
}

fn leave_of(ev: &PgEvent, mref: &Ref) -> Option<(String, Vec<Pid>)> {
    match ev {
        PgEvent::Leave {
            mref: m,
            group,
            pids,
        } if m == mref => Some((group.clone(), pids.clone())),
        _ => None,
    }
}

#[tokio::test(start_paused = true)]
async fn monitor_returns_members_then_delivers_join_and_leave_events() {
    let (net, a, b, c) = cluster(7).await;
    for n in [&a, &b, &c] {
        pg::start_scope(n, PG);
    }
    let early = idle(&b);
    pg::join(&b, PG, "g", &early).await.unwrap();
    members_everywhere(&[&a], PG, "g", vec![early.clone()]).await;

    let mut sub = probe(&a).await;
    let (mref, now) = pg::monitor(&a, PG, "g", sub.ctx.pid()).await.unwrap();
    assert_eq!(now, vec![early.clone()]);

    // A local join, a remote join, a join to another group (not reported).
    let la = idle(&a);
    pg::join(&a, PG, "g", &la).await.unwrap();
    assert_eq!(
        join_of(&next_event(&mut sub).await, &mref),
        Some(("g".into(), vec![la.clone()]))
    );
    let rc = idle(&c);
    pg::join(&c, PG, "other", &rc).await.unwrap();
    pg::join(&c, PG, "g", &rc).await.unwrap();
    assert_eq!(
        join_of(&next_event(&mut sub).await, &mref),
        Some(("g".into(), vec![rc.clone()]))
    );
    // A remote leave.
    pg::leave(&b, PG, "g", &early).await.unwrap();
    assert_eq!(
        leave_of(&next_event(&mut sub).await, &mref),
        Some(("g".into(), vec![early.clone()]))
    );
    // Its node cut off: leave; healed and reconnected: join again.
    net.partition(&[&[a.name(), b.name()], &[c.name()]]);
    assert_eq!(
        leave_of(&next_event(&mut sub).await, &mref),
        Some(("g".into(), vec![rc.clone()]))
    );
    net.heal();
    assert!(a.connect(c.name()).await);
    assert_eq!(
        join_of(&next_event(&mut sub).await, &mref),
        Some(("g".into(), vec![rc.clone()]))
    );
    // A remote member's exit.
    c.exit(&rc, ExitReason::Kill);
    assert_eq!(
        leave_of(&next_event(&mut sub).await, &mref),
        Some(("g".into(), vec![rc.clone()]))
    );

    assert!(pg::demonitor(&a, PG, &mref).await);
    assert!(!pg::demonitor(&a, PG, &mref).await);
    pg::leave(&a, PG, "g", &la).await.unwrap();
    assert!(sub.nothing_for(S).await, "no events after demonitor");
}

#[tokio::test(start_paused = true)]
async fn monitor_scope_reports_every_group() {
    let (_net, a, b, _c) = cluster(8).await;
    for n in [&a, &b] {
        pg::start_scope(n, PG);
    }
    let x = idle(&b);
    pg::join(&b, PG, "x", &x).await.unwrap();
    members_everywhere(&[&a], PG, "x", vec![x.clone()]).await;
    let mut sub = probe(&a).await;
    let (mref, groups) = pg::monitor_scope(&a, PG, sub.ctx.pid()).await.unwrap();
    assert_eq!(
        groups.into_iter().collect::<Vec<_>>(),
        vec![("x".to_string(), vec![x.clone()])]
    );
    let y = idle(&b);
    pg::join(&b, PG, "y", &y).await.unwrap();
    assert_eq!(
        join_of(&next_event(&mut sub).await, &mref),
        Some(("y".into(), vec![y.clone()]))
    );
    b.exit(&x, ExitReason::Kill);
    assert_eq!(
        leave_of(&next_event(&mut sub).await, &mref),
        Some(("x".into(), vec![x.clone()]))
    );
}

#[tokio::test(start_paused = true)]
async fn a_scope_started_late_catches_up_with_its_peers() {
    let (_net, a, b, _c) = cluster(9).await;
    pg::start_scope(&a, "late");
    let p = idle(&a);
    pg::join(&a, "late", "g", &p).await.unwrap();
    // b's scope starts on first use: empty at first, then filled by a's answer.
    let first = pg::get_members(&b, "late", "g");
    assert!(first.is_empty() || first == vec![p.clone()]);
    members_everywhere(&[&b], "late", "g", vec![p.clone()]).await;
}

#[tokio::test(start_paused = true)]
async fn hidden_nodes_take_no_part_in_pg() {
    let net = SimNet::new(10);
    let a = net.start_node("a@sim").await.unwrap();
    let h = net
        .start_node_with(
            NodeConfig::new(NodeName::new("h@sim").unwrap())
                .cookie("sim")
                .hidden(true),
        )
        .await
        .unwrap();
    assert!(h.connect(a.name()).await);
    pg::start_scope(&a, PG);
    pg::start_scope(&h, PG);
    let (pa, ph) = (idle(&a), idle(&h));
    pg::join(&a, PG, "g", &pa).await.unwrap();
    pg::join(&h, PG, "g", &ph).await.unwrap();
    tokio::time::sleep(2 * S).await;
    assert_eq!(pg::get_members(&a, PG, "g"), vec![pa]);
    assert_eq!(pg::get_members(&h, PG, "g"), vec![ph]);
}

#[tokio::test(start_paused = true)]
async fn with_random_network_delays_views_converge_after_churn_and_a_partition() {
    for seed in 300..306 {
        let net = SimNet::new(seed);
        net.set_delay(Duration::from_millis(1), Duration::from_millis(30));
        let mut ns = vec![];
        for n in ["a@sim", "b@sim", "c@sim", "d@sim"] {
            ns.push(net.start_node(n).await.unwrap());
        }
        for n in &ns {
            pg::start_scope(n, PG);
        }
        for n in &ns[1..] {
            assert!(n.connect(ns[0].name()).await);
        }
        eventually(5 * S, "mesh", || ns.iter().all(|n| n.nodes().len() == 3)).await;
        // Churn on every node at once: join p twice and q once, then q leaves.
        let mut expected = vec![];
        let mut churn = vec![];
        for n in &ns {
            let (p, q) = (idle(n), idle(n));
            expected.extend([p.clone(), p.clone()]);
            churn.push(async move {
                pg::join(n, PG, "g", &p).await.unwrap();
                pg::join(n, PG, "g", &q).await.unwrap();
                pg::join(n, PG, "g", &p).await.unwrap();
                pg::leave(n, PG, "g", &q).await.unwrap();
            });
        }
        futures::future::join_all(churn).await;
        let all: Vec<&Node> = ns.iter().collect();
        members_everywhere(&all, PG, "g", expected.clone()).await;
        // Partition {a, b} | {c, d}, churn on one side, heal.
        net.partition(&[&[ns[0].name(), ns[1].name()], &[ns[2].name(), ns[3].name()]]);
        let r = idle(&ns[3]);
        pg::join(&ns[3], PG, "g", &r).await.unwrap();
        let gone = pg::get_local_members(&ns[2], PG, "g")[0].clone();
        ns[2].exit(&gone, ExitReason::Kill);
        expected.retain(|p| p != &gone);
        expected.push(r);
        // That side no longer lists a's and b's members; a and b no longer list c's and d's.
        let on = |nodes: &[&Node]| -> Vec<Pid> {
            let names: Vec<&NodeName> = nodes.iter().map(|n| n.name()).collect();
            expected
                .iter()
                .filter(|p| names.contains(&p.node()))
                .cloned()
                .collect()
        };
        members_everywhere(&all[2..], PG, "g", on(&all[2..])).await;
        members_everywhere(&all[..2], PG, "g", on(&all[..2])).await;
        net.heal();
        assert!(ns[2].connect(ns[0].name()).await);
        eventually(10 * S, "mesh", || ns.iter().all(|n| n.nodes().len() == 3)).await;
        members_everywhere(&all, PG, "g", expected.clone()).await;
    }
}
