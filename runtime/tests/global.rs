//! `:global` names and locks on the simulated network, deterministic under paused time.

mod common;

use common::{eventually, probe};
use netsplit::gen_server::{self, CallResponse, Caller, Flow, GenServer, ServerStartError};
use netsplit::global::{
    self, GlobalNameConflict, GlobalSendError, LockId, RegisterResult, Resolve,
};
use netsplit::sim::{LinkPolicy, SimNet};
use netsplit::{Ctx, ExitReason, Node, NodeConfig, NodeName, Pid, Signal};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

const S: Duration = Duration::from_secs(1);

async fn nodes(seed: u64, names: &[&str]) -> (SimNet, Vec<Node>) {
    let net = SimNet::new(seed);
    let mut v = vec![];
    for n in names {
        v.push(net.start_node(n).await.unwrap());
    }
    (net, v)
}

/// Three nodes, fully meshed, with merged name tables.
async fn cluster(seed: u64) -> (SimNet, Node, Node, Node) {
    let (net, v) = nodes(seed, &["a@sim", "b@sim", "c@sim"]).await;
    let (a, b, c) = (v[0].clone(), v[1].clone(), v[2].clone());
    assert!(a.connect(b.name()).await && a.connect(c.name()).await);
    eventually(5 * S, "full mesh", || {
        [&a, &b, &c].iter().all(|n| n.nodes().len() == 2)
    })
    .await;
    for n in [&a, &b, &c] {
        global::sync(n).await;
    }
    (net, a, b, c)
}

/// A process that waits until told to stop (or killed).
fn idle(node: &Node) -> Pid {
    node.spawn(|ctx| async move {
        ctx.recv().await;
    })
}

fn everywhere(ns: &[&Node], name: &str) -> Vec<Option<Pid>> {
    ns.iter().map(|n| global::whereis_name(n, name)).collect()
}

#[tokio::test(start_paused = true)]
async fn concurrent_registrations_of_one_name_from_three_nodes_give_exactly_one_yes() {
    let (_net, a, b, c) = cluster(1).await;
    for round in 0..5 {
        let name = format!("leader{round}");
        let (pa, pb, pc) = (idle(&a), idle(&b), idle(&c));
        let (ra, rb, rc) = tokio::join!(
            global::register_name(&a, &name, &pa),
            global::register_name(&b, &name, &pb),
            global::register_name(&c, &name, &pc),
        );
        let results = [(ra, &pa), (rb, &pb), (rc, &pc)];
        let winners: Vec<&Pid> = results
            .iter()
            .filter(|(r, _)| *r == RegisterResult::Yes)
            .map(|(_, p)| *p)
            .collect();
        assert_eq!(winners.len(), 1, "round {round}: {results:?}");
        // A Yes means the name is in every replica already: no waiting.
        let w = Some(winners[0].clone());
        assert_eq!(
            everywhere(&[&a, &b, &c], &name),
            vec![w.clone(), w.clone(), w]
        );
    }
}

#[tokio::test(start_paused = true)]
async fn register_whereis_send_and_the_rules_of_names() {
    let (_net, a, b, c) = cluster(2).await;
    let mut p = probe(&a).await;
    let me = p.ctx.pid().clone();
    assert_eq!(
        global::register_name(&a, "svc", &me).await,
        RegisterResult::Yes
    );
    // Taken: No, from any node.
    let other = idle(&c);
    assert_eq!(
        global::register_name(&c, "svc", &other).await,
        RegisterResult::No
    );
    // A pid with a global name cannot take a second one.
    assert_eq!(
        global::register_name(&b, "svc2", &me).await,
        RegisterResult::No
    );
    assert_eq!(global::registered_names(&c), vec!["svc".to_string()]);
    // whereis is a local read on every node; send reaches the process.
    assert_eq!(global::whereis_name(&b, "svc"), Some(me.clone()));
    assert_eq!(
        global::send(&b, "svc", &"hello".to_string()),
        Ok(me.clone())
    );
    match p.next(S).await {
        Signal::Message { payload, .. } => assert_eq!(payload.decode::<String>().unwrap(), "hello"),
        s => panic!("{s:?}"),
    }
    // Unknown name: an error the caller sees.
    assert_eq!(
        global::send(&b, "nobody", &1u8),
        Err(GlobalSendError::NoSuchName("nobody".into()))
    );
    // re_register moves the name; unregister removes it everywhere.
    assert_eq!(
        global::re_register_name(&b, "svc", &other).await,
        RegisterResult::Yes
    );
    assert_eq!(
        everywhere(&[&a, &b, &c], "svc"),
        vec![Some(other.clone()); 3]
    );
    global::unregister_name(&c, "svc").await;
    assert_eq!(everywhere(&[&a, &b, &c], "svc"), vec![None, None, None]);
    assert!(global::registered_names(&a).is_empty());
    // The pid is free again for a new name.
    assert_eq!(
        global::register_name(&a, "svc2", &me).await,
        RegisterResult::Yes
    );
}

#[tokio::test(start_paused = true)]
async fn a_name_disappears_everywhere_when_its_process_exits() {
    let (_net, a, b, c) = cluster(3).await;
    let pid = idle(&b);
    assert_eq!(
        global::register_name(&a, "worker", &pid).await,
        RegisterResult::Yes
    );
    b.exit(&pid, ExitReason::Kill);
    eventually(S, "name gone on every node", || {
        everywhere(&[&a, &b, &c], "worker") == vec![None, None, None]
            && global::registered_names(&a).is_empty()
            && global::registered_names(&c).is_empty()
    })
    .await;
    // And it can be taken again.
    let again = idle(&c);
    assert_eq!(
        global::register_name(&c, "worker", &again).await,
        RegisterResult::Yes
    );
}

#[tokio::test(start_paused = true)]
async fn a_name_disappears_when_its_node_goes_down() {
    let (net, a, b, c) = cluster(4).await;
    let on_c = idle(&c);
    assert_eq!(
        global::register_name(&a, "db", &on_c).await,
        RegisterResult::Yes
    );
    let on_b = idle(&b);
    assert_eq!(
        global::register_name(&b, "cache", &on_b).await,
        RegisterResult::Yes
    );
    c.stop().await;
    eventually(5 * S, "c's name gone on a and b", || {
        everywhere(&[&a, &b], "db") == vec![None, None]
    })
    .await;
    // Cut b off: a drops b's name at once (connection reset).
    net.partition(&[&[a.name()], &[b.name()]]);
    eventually(S, "b's name gone on a", || {
        global::whereis_name(&a, "cache").is_none()
    })
    .await;
    assert_eq!(
        global::whereis_name(&b, "cache"),
        Some(on_b),
        "b keeps its own"
    );
}

/// What a clash scenario leaves behind.
struct Clash {
    nodes: Vec<Node>,
    /// The pid registered on the {a, c} side (it runs on c).
    on_c: common::Probe,
    /// The pid registered on the {b} side.
    on_b: common::Probe,
    /// A process on a monitoring both, set up before the heal.
    watcher: common::Probe,
}

/// Partitions {a, c} | {b}; each side registers "leader" (pid on c, pid on b),
/// then the network heals, the nodes reconnect and the tables merge.
async fn clash(seed: u64, resolve: Resolve) -> Clash {
    let (net, a, b, c) = cluster(seed).await;
    net.partition(&[&[a.name(), c.name()], &[b.name()]]);
    eventually(S, "partitioned", || {
        b.nodes().is_empty() && a.nodes() == vec![c.name().clone()]
    })
    .await;
    let on_c = probe(&c).await;
    let on_b = probe(&b).await;
    let (pc, pb) = (on_c.ctx.pid().clone(), on_b.ctx.pid().clone());
    assert_eq!(
        global::register_name_with(&a, "leader", &pc, resolve).await,
        RegisterResult::Yes
    );
    assert_eq!(
        global::register_name_with(&b, "leader", &pb, resolve).await,
        RegisterResult::Yes
    );
    assert_eq!(global::whereis_name(&a, "leader"), Some(pc.clone()));
    assert_eq!(global::whereis_name(&b, "leader"), Some(pb.clone()));
    let watcher = probe(&c).await;
    watcher.ctx.monitor(&pc);
    net.heal();
    assert!(b.connect(a.name()).await);
    eventually(5 * S, "mesh again", || {
        [&a, &b, &c].iter().all(|n| n.nodes().len() == 2)
    })
    .await;
    for n in [&a, &b, &c] {
        global::sync(n).await;
    }
    Clash {
        nodes: vec![a, b, c],
        on_c,
        on_b,
        watcher,
    }
}

#[tokio::test(start_paused = true)]
async fn heal_after_a_partition_keeps_the_pid_on_the_lower_node_and_kills_the_other() {
    let mut k = clash(5, Resolve::KeepLowerNode).await;
    let (pc, pb) = (k.on_c.ctx.pid().clone(), k.on_b.ctx.pid().clone());
    let all: Vec<&Node> = k.nodes.iter().collect();
    // b@sim < c@sim: the pid on b survives, although a (the lowest node) sided with c.
    assert_eq!(everywhere(&all, "leader"), vec![Some(pb.clone()); 3]);
    for n in &all {
        assert_eq!(global::registered_names(n), vec!["leader".to_string()]);
    }
    match k.watcher.next(S).await {
        Signal::Down(d) => assert_eq!(d.reason, ExitReason::Killed, "killed with kill"),
        s => panic!("{s:?}"),
    }
    assert!(!k.nodes[2].is_alive(&pc));
    assert!(k.nodes[1].is_alive(&pb));
}
#[tokio::test(start_paused = true)]
async fn the_notify_resolver_tells_the_loser_instead_of_killing_it() {
    let mut k = clash(6, Resolve::Notify).await;
    let (pc, pb) = (k.on_c.ctx.pid().clone(), k.on_b.ctx.pid().clone());
    let all: Vec<&Node> = k.nodes.iter().collect();
    assert_eq!(everywhere(&all, "leader"), vec![Some(pb.clone()); 3]);
    match k.on_c.next(S).await {
        Signal::Message { payload, .. } => assert_eq!(
            payload.decode::<GlobalNameConflict>().unwrap(),
            GlobalNameConflict {
                name: "leader".into(),
                other: pb.clone()
            }
        ),
        s => panic!("{s:?}"),
    }
    assert!(k.nodes[2].is_alive(&pc), "notified, not killed");
    assert!(k.on_b.nothing_for(S).await, "the winner hears nothing");
    assert!(k.watcher.nothing_for(S).await, "the loser lives on");
}

#[tokio::test(start_paused = true)]
async fn the_notify_all_resolver_unregisters_both_and_tells_both() {
    let mut k = clash(7, Resolve::NotifyAll).await;
    let (pc, pb) = (k.on_c.ctx.pid().clone(), k.on_b.ctx.pid().clone());
    let all: Vec<&Node> = k.nodes.iter().collect();
    assert_eq!(everywhere(&all, "leader"), vec![None, None, None]);
    for n in &all {
        assert!(global::registered_names(n).is_empty());
    }
    for (p, other) in [(&mut k.on_c, &pb), (&mut k.on_b, &pc)] {
        match p.next(S).await {
            Signal::Message { payload, .. } => assert_eq!(
                payload.decode::<GlobalNameConflict>().unwrap(),
                GlobalNameConflict {
                    name: "leader".into(),
                    other: other.clone()
                }
            ),
            s => panic!("{s:?}"),
        }
    }
    assert!(k.nodes[1].is_alive(&pb) && k.nodes[2].is_alive(&pc));
}

#[tokio::test(start_paused = true)]
async fn names_registered_on_both_sides_of_a_partition_are_merged_on_heal() {
    let (net, a, b, c) = cluster(8).await;
    net.partition(&[&[a.name()], &[b.name(), c.name()]]);
    eventually(S, "partitioned", || a.nodes().is_empty()).await;
    let (pa, pc) = (idle(&a), idle(&c));
    assert_eq!(
        global::register_name(&a, "left", &pa).await,
        RegisterResult::Yes
    );
    assert_eq!(
        global::register_name(&b, "right", &pc).await,
        RegisterResult::Yes
    );
    net.heal();
    assert!(a.connect(b.name()).await);
    eventually(5 * S, "mesh", || {
        a.nodes().len() == 2 && c.nodes().len() == 2
    })
    .await;
    for n in [&a, &b, &c] {
        global::sync(n).await;
    }
    for n in [&a, &b, &c] {
        assert_eq!(
            global::registered_names(n),
            vec!["left".to_string(), "right".to_string()]
        );
        assert_eq!(global::whereis_name(n, "left"), Some(pa.clone()));
        assert_eq!(global::whereis_name(n, "right"), Some(pc.clone()));
    }
}

/// A register that does read-modify-write in two calls: without a lock,
/// concurrent increments are lost.
struct Cell(u64);
#[derive(serde::Serialize, serde::Deserialize)]
enum CellReq {
    Get,
    Set(u64),
}
impl GenServer for Cell {
    type Call = CellReq;
    type Reply = u64;
    type Cast = ();
    type Info = ();
    async fn handle_call(&mut self, r: CellReq, _: Caller<u64>, _: &Ctx) -> CallResponse<u64> {
        if let CellReq::Set(v) = r {
            self.0 = v;
        }
        CallResponse::Reply(self.0)
    }
}

#[tokio::test(start_paused = true)]
async fn trans_gives_mutual_exclusion_under_contention_from_three_nodes() {
    let (_net, a, b, c) = cluster(9).await;
    let cell = gen_server::start(&a, Cell(0), None).await.unwrap();
    let inside = Arc::new(AtomicUsize::new(0));
    let max_inside = Arc::new(AtomicUsize::new(0));
    const WORKERS: usize = 2;
    const ROUNDS: u64 = 5;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    for n in [&a, &b, &c] {
        for _ in 0..WORKERS {
            let (cell, inside, max_inside, tx) =
                (cell.clone(), inside.clone(), max_inside.clone(), tx.clone());
            n.spawn(move |ctx| async move {
                let node = ctx.node().clone();
                let id = LockId::new("counter", ctx.pid());
                for _ in 0..ROUNDS {
                    let r = global::trans(
                        &node,
                        &id,
                        || async {
                            let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
                            max_inside.fetch_max(now, Ordering::SeqCst);
                            let v: u64 = gen_server::call(&node, &cell, &CellReq::Get, S)
                                .await
                                .unwrap();
                            tokio::time::sleep(Duration::from_millis(20)).await;
                            let _: u64 = gen_server::call(&node, &cell, &CellReq::Set(v + 1), S)
                                .await
                                .unwrap();
                            inside.fetch_sub(1, Ordering::SeqCst);
                        },
                        None,
                        u32::MAX,
                    )
                    .await;
                    assert!(r.is_ok());
                }
                tx.send(()).unwrap();
            });
        }
    }
    for _ in 0..3 * WORKERS {
        tokio::time::timeout(600 * S, rx.recv())
            .await
            .expect("workers finish")
            .unwrap();
    }
    let total: u64 = gen_server::call(&a, &cell, &CellReq::Get, S).await.unwrap();
    assert_eq!(total, 3 * WORKERS as u64 * ROUNDS, "no increment lost");
    assert_eq!(
        max_inside.load(Ordering::SeqCst),
        1,
        "never two holders at once"
    );
}

#[tokio::test(start_paused = true)]
async fn without_the_lock_the_same_workload_loses_increments() {
    // The control experiment for the test above: it proves the workload races.
    let (_net, a, b, c) = cluster(10).await;
    let cell = gen_server::start(&a, Cell(0), None).await.unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    for n in [&a, &b, &c] {
        let (cell, tx) = (cell.clone(), tx.clone());
        n.spawn(move |ctx| async move {
            let node = ctx.node().clone();
            for _ in 0..5 {
                let v: u64 = gen_server::call(&node, &cell, &CellReq::Get, S)
                    .await
                    .unwrap();
                tokio::time::sleep(Duration::from_millis(20)).await;
                let _: u64 = gen_server::call(&node, &cell, &CellReq::Set(v + 1), S)
                    .await
                    .unwrap();
            }
            tx.send(()).unwrap();
        });
    }
    for _ in 0..3 {
        rx.recv().await.unwrap();
    }
    let total: u64 = gen_server::call(&a, &cell, &CellReq::Get, S).await.unwrap();
    assert!(total < 15, "expected lost updates, got {total}");
}

#[tokio::test(start_paused = true)]
async fn a_lock_is_released_when_its_holder_dies() {
    let (_net, a, b, _c) = cluster(11).await;
    let holder = idle(&a);
    let hid = LockId::new("printer", &holder);
    assert!(global::set_lock(&a, &hid, None, 0).await);
    let other = idle(&b);
    let oid = LockId::new("printer", &other);
    assert!(
        !global::set_lock(&b, &oid, None, 0).await,
        "held by another requester"
    );
    a.exit(&holder, ExitReason::Kill);
    // Once every node has seen the holder's Down, the lock is free.
    assert!(global::set_lock(&b, &oid, None, 10).await);
    global::del_lock(&b, &oid, None).await;
}

#[tokio::test(start_paused = true)]
async fn a_lock_is_released_when_its_holders_node_goes_down() {
    let (_net, a, b, c) = cluster(12).await;
    let holder = idle(&c);
    assert!(global::set_lock(&c, &LockId::new("r", &holder), None, 0).await);
    let other = idle(&a);
    let oid = LockId::new("r", &other);
    let nodes = [a.name().clone(), b.name().clone()];
    assert!(!global::set_lock(&a, &oid, Some(&nodes), 0).await);
    c.stop().await;
    assert!(global::set_lock(&a, &oid, Some(&nodes), 10).await);
}

#[tokio::test(start_paused = true)]
async fn a_requester_may_set_a_lock_again_and_each_hold_needs_its_release() {
    let (_net, a, b, _c) = cluster(13).await;
    let me = idle(&a);
    let id = LockId::new("res", &me);
    assert!(global::set_lock(&a, &id, None, 0).await);
    assert!(
        global::set_lock(&a, &id, None, 0).await,
        "re-entrant for the same requester"
    );
    let rival = LockId::new("res", &idle(&b));
    global::del_lock(&a, &id, None).await;
    assert!(
        !global::set_lock(&b, &rival, None, 0).await,
        "still held once"
    );
    global::del_lock(&a, &id, None).await;
    assert!(
        global::set_lock(&b, &rival, None, 0).await,
        "free after the second release"
    );
}

#[tokio::test(start_paused = true)]
async fn trans_aborts_when_the_lock_stays_taken_and_reserved_resources_are_refused() {
    let (_net, a, b, _c) = cluster(14).await;
    let holder = idle(&a);
    assert!(global::set_lock(&a, &LockId::new("busy", &holder), None, 0).await);
    let t0 = tokio::time::Instant::now();
    let r = global::trans(&b, &LockId::new("busy", &idle(&b)), || async { 1 }, None, 3).await;
    assert_eq!(r, Err(global::Aborted));
    // Three retries with backoff: at least a little time passed, bounded by 1/4+1/2+1+2 s.
    let el = t0.elapsed();
    assert!(
        el > Duration::ZERO && el <= Duration::from_millis(3750) + S,
        "{el:?}"
    );
    let me = idle(&a);
    assert!(!global::set_lock(&a, &LockId::new(global::RESERVED_RESOURCE, &me), None, 0).await);
}

#[tokio::test(start_paused = true)]
async fn both_sides_of_a_partition_can_hold_the_same_lock() {
    // No fencing: a lock covers the nodes a requester can reach, nothing more.
    let (net, a, b, c) = cluster(15).await;
    net.partition(&[&[a.name()], &[b.name(), c.name()]]);
    eventually(S, "partitioned", || a.nodes().is_empty()).await;
    let left = LockId::new("the-db", &idle(&a));
    let right = LockId::new("the-db", &idle(&b));
    assert!(global::set_lock(&a, &left, None, 0).await);
    assert!(global::set_lock(&b, &right, None, 0).await);
    // Naming every node does not help: the unreachable ones are skipped.
    let every = [a.name().clone(), b.name().clone(), c.name().clone()];
    let right2 = LockId::new("other", &idle(&c));
    let left2 = LockId::new("other", &idle(&a));
    assert!(global::set_lock(&a, &left2, Some(&every), 0).await);
    assert!(global::set_lock(&c, &right2, Some(&every), 0).await);
}

#[tokio::test(start_paused = true)]
async fn releasing_a_lock_after_a_partition_does_not_reconnect_the_lost_nodes() {
    // :global never opens a connection by itself: a release after the
    // partition healed must not quietly rejoin the cluster the user split.
    let (net, a, b, c) = cluster(17).await;
    let every = [a.name().clone(), b.name().clone(), c.name().clone()];
    let id = LockId::new("the-db", &idle(&a));
    assert!(global::set_lock(&a, &id, None, 0).await);
    net.partition(&[&[a.name()], &[b.name(), c.name()]]);
    eventually(5 * S, "partitioned", || {
        a.nodes().is_empty() && b.nodes() == vec![c.name().clone()]
    })
    .await;
    net.heal();
    global::del_lock(&a, &id, Some(&every)).await;
    tokio::time::sleep(5 * S).await;
    assert!(a.nodes().is_empty(), "a reconnected: {:?}", a.nodes());
    assert_eq!(b.nodes(), vec![c.name().clone()]);
    // b and c let go of a's lock when they lost a: it is free on their side.
    let other = LockId::new("the-db", &idle(&b));
    assert!(global::set_lock(&b, &other, None, 0).await);
}

struct Counter(u64);
impl GenServer for Counter {
    type Call = ();
    type Reply = u64;
    type Cast = u64;
    type Info = ();
    async fn handle_call(&mut self, _: (), _: Caller<u64>, _: &Ctx) -> CallResponse<u64> {
        CallResponse::Reply(self.0)
    }
    async fn handle_cast(&mut self, n: u64, _: &Ctx) -> Flow {
        self.0 += n;
        Flow::Continue
    }
}

#[tokio::test(start_paused = true)]
async fn a_globally_named_gen_server_is_started_once_and_reached_from_every_node() {
    let (_net, a, b, c) = cluster(16).await;
    let (ra, rb, rc) = tokio::join!(
        gen_server::start_global(&a, Counter(0), "counter"),
        gen_server::start_global(&b, Counter(0), "counter"),
        gen_server::start_global(&c, Counter(0), "counter"),
    );
    let started: Vec<Pid> = [&ra, &rb, &rc]
        .iter()
        .filter_map(|r| r.as_ref().ok().cloned())
        .collect();
    assert_eq!(started.len(), 1, "{ra:?} {rb:?} {rc:?}");
    let pid = started[0].clone();
    for r in [ra, rb, rc] {
        assert!(r == Ok(pid.clone()) || r == Err(ServerStartError::AlreadyStarted(pid.clone())));
    }
    for n in [&a, &b, &c] {
        global::cast(n, "counter", &1u64).unwrap();
    }
    // c's cast and call travel in order; a's and b's casts arrive when they arrive.
    let deadline = tokio::time::Instant::now() + S;
    let mut total = 0;
    while total < 3 && tokio::time::Instant::now() < deadline {
        total = global::call::<(), u64>(&c, "counter", &(), S)
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(total, 3);
    assert_eq!(
        global::call::<(), u64>(&a, "nobody", &(), S).await,
        Err(gen_server::CallError::NoProc)
    );
}

#[tokio::test(start_paused = true)]
async fn hidden_nodes_take_no_part_in_global() {
    let net = SimNet::new(17);
    let a = net.start_node("a@sim").await.unwrap();
    let b = net.start_node("b@sim").await.unwrap();
    let h = net
        .start_node_with(
            NodeConfig::new(NodeName::new("h@sim").unwrap())
                .cookie("sim")
                .hidden(true),
        )
        .await
        .unwrap();
    assert!(a.connect(b.name()).await && h.connect(a.name()).await);
    global::sync(&a).await;
    let pa = idle(&a);
    assert_eq!(
        global::register_name(&a, "x", &pa).await,
        RegisterResult::Yes
    );
    assert_eq!(global::whereis_name(&b, "x"), Some(pa));
    tokio::time::sleep(2 * S).await;
    assert_eq!(
        global::whereis_name(&h, "x"),
        None,
        "a hidden node gets no names"
    );
    let ph = idle(&h);
    assert_eq!(
        global::register_name(&h, "y", &ph).await,
        RegisterResult::Yes
    );
    tokio::time::sleep(2 * S).await;
    assert_eq!(global::whereis_name(&a, "y"), None, "nor publishes any");
}

#[tokio::test(start_paused = true)]
async fn three_partitions_with_one_name_each_heal_to_the_lowest_nodes_pid() {
    let (net, a, b, c) = cluster(18).await;
    net.partition(&[&[a.name()], &[b.name()], &[c.name()]]);
    eventually(S, "partitioned", || {
        [&a, &b, &c].iter().all(|n| n.nodes().is_empty())
    })
    .await;
    let mut watcher = probe(&b).await;
    let mut pids = vec![];
    for n in [&c, &b, &a] {
        let p = idle(n);
        assert_eq!(
            global::register_name(n, "leader", &p).await,
            RegisterResult::Yes
        );
        pids.push(p);
    }
    let (pc, pb, pa) = (pids[0].clone(), pids[1].clone(), pids[2].clone());
    watcher.ctx.monitor(&pb);
    net.heal();
    // Heal in two steps: c joins b first, then a joins them.
    assert!(c.connect(b.name()).await);
    global::sync(&c).await;
    global::sync(&b).await;
    assert_eq!(everywhere(&[&b, &c], "leader"), vec![Some(pb.clone()); 2]);
    eventually(S, "c's pid killed", || !c.is_alive(&pc)).await;
    assert!(a.connect(c.name()).await);
    eventually(5 * S, "mesh", || {
        [&a, &b, &c].iter().all(|n| n.nodes().len() == 2)
    })
    .await;
    for n in [&a, &b, &c] {
        global::sync(n).await;
    }
    assert_eq!(
        everywhere(&[&a, &b, &c], "leader"),
        vec![Some(pa.clone()); 3]
    );
    match watcher.next(S).await {
        Signal::Down(d) => assert_eq!(d.reason, ExitReason::Killed),
        s => panic!("{s:?}"),
    }
    assert!(a.is_alive(&pa));
}

/// Four meshed nodes with random per-frame delays (1–30 ms), name tables merged.
async fn delayed_cluster(seed: u64) -> (SimNet, Vec<Node>) {
    let (net, ns) = nodes(seed, &["a@sim", "b@sim", "c@sim", "d@sim"]).await;
    net.set_delay(Duration::from_millis(1), Duration::from_millis(30));
    for n in &ns[1..] {
        assert!(n.connect(ns[0].name()).await);
    }
    eventually(5 * S, "mesh", || ns.iter().all(|n| n.nodes().len() == 3)).await;
    for n in &ns {
        global::sync(n).await;
    }
    (net, ns)
}

fn tables(ns: &[Node]) -> Vec<Vec<(String, Option<Pid>)>> {
    ns.iter()
        .map(|n| {
            global::registered_names(n)
                .into_iter()
                .map(|k| {
                    let w = global::whereis_name(n, &k);
                    (k, w)
                })
                .collect()
        })
        .collect()
}

#[tokio::test(start_paused = true)]
async fn with_random_network_delays_registration_stays_exclusive_and_merges_converge() {
    for seed in 100..110 {
        let (net, ns) = delayed_cluster(seed).await;
        let pids: Vec<Pid> = ns.iter().map(idle).collect();
        let rs = futures::future::join_all(
            ns.iter()
                .zip(&pids)
                .map(|(n, p)| global::register_name(n, "x", p)),
        )
        .await;
        let yes = rs.iter().filter(|r| **r == RegisterResult::Yes).count();
        assert_eq!(yes, 1, "seed {seed}: {rs:?}");
        // Partition {a, c} | {b, d}; "y" on both sides (pids on c and d); heal
        // while every node registers "z".
        net.partition(&[&[ns[0].name(), ns[2].name()], &[ns[1].name(), ns[3].name()]]);
        eventually(5 * S, "partitioned", || {
            ns[0].nodes().len() == 1 && ns[1].nodes().len() == 1
        })
        .await;
        let (on_c, on_d) = (idle(&ns[2]), idle(&ns[3]));
        assert_eq!(
            global::register_name(&ns[0], "y", &on_c).await,
            RegisterResult::Yes
        );
        assert_eq!(
            global::register_name(&ns[1], "y", &on_d).await,
            RegisterResult::Yes
        );
        net.heal();
        let zs: Vec<Pid> = ns.iter().map(idle).collect();
        let (connected, _) = tokio::join!(
            ns[1].connect(ns[0].name()),
            futures::future::join_all(
                ns.iter()
                    .zip(&zs)
                    .map(|(n, p)| global::register_name(n, "z", p))
            ),
        );
        assert!(connected);
        eventually(10 * S, "mesh", || ns.iter().all(|n| n.nodes().len() == 3)).await;
        for n in &ns {
            global::sync(n).await;
        }
        eventually(
            10 * S,
            &format!("seed {seed}: one table everywhere"),
            || {
                let t = tables(&ns);
                t.iter().all(|x| *x == t[0]) && t[0].iter().all(|(_, p)| p.is_some())
            },
        )
        .await;
        assert_eq!(
            global::registered_names(&ns[3]),
            vec!["x".to_string(), "y".to_string(), "z".to_string()]
        );
        assert_eq!(
            global::whereis_name(&ns[3], "y"),
            Some(on_c),
            "seed {seed}: c < d"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn with_random_network_delays_locks_stay_exclusive() {
    for seed in 200..205 {
        let (_net, ns) = delayed_cluster(seed).await;
        let inside = Arc::new(AtomicUsize::new(0));
        let max_inside = Arc::new(AtomicUsize::new(0));
        let count = Arc::new(AtomicUsize::new(0));
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        for n in &ns {
            for _ in 0..3 {
                let (inside, max_inside, count, tx) = (
                    inside.clone(),
                    max_inside.clone(),
                    count.clone(),
                    tx.clone(),
                );
                n.spawn(move |ctx| async move {
                    let node = ctx.node().clone();
                    let id = LockId::new("r", ctx.pid());
                    for _ in 0..3 {
                        let body = || async {
                            let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
                            max_inside.fetch_max(now, Ordering::SeqCst);
                            tokio::time::sleep(Duration::from_millis(15)).await;
                            count.fetch_add(1, Ordering::SeqCst);
                            inside.fetch_sub(1, Ordering::SeqCst);
                        };
                        global::trans(&node, &id, body, None, u32::MAX)
                            .await
                            .unwrap();
                    }
                    tx.send(()).unwrap();
                });
            }
        }
        for _ in 0..12 {
            tokio::time::timeout(3600 * S, rx.recv())
                .await
                .unwrap()
                .unwrap();
        }
        assert_eq!(count.load(Ordering::SeqCst), 36, "seed {seed}");
        assert_eq!(max_inside.load(Ordering::SeqCst), 1, "seed {seed}");
    }
}

/// A heal that reaches one node of the other side before another: a joins
/// b (which knows c) while a and c still cannot talk, then a and c connect.
/// The first merge cannot reach c, so it must not count c as merged: the
/// second connection's merge then fixes c's table.
#[tokio::test(start_paused = true)]
async fn a_node_the_first_merge_could_not_reach_is_merged_when_it_connects() {
    let (net, a, b, c) = cluster(21).await;
    net.partition(&[&[a.name()], &[b.name(), c.name()]]);
    eventually(S, "partitioned", || a.nodes().is_empty()).await;
    let (pa, pc) = (idle(&a), idle(&c));
    let notify = Resolve::Notify;
    assert_eq!(
        global::register_name_with(&a, "room", &pa, notify).await,
        RegisterResult::Yes
    );
    assert_eq!(
        global::register_name_with(&c, "room", &pc, notify).await,
        RegisterResult::Yes
    );
    net.heal();
    net.set_link(a.name(), c.name(), LinkPolicy::Cut);
    net.set_link(c.name(), a.name(), LinkPolicy::Cut);
    assert!(a.connect(b.name()).await);
    eventually(5 * S, "a and b merged", || {
        global::whereis_name(&b, "room") == Some(pa.clone())
    })
    .await;
    tokio::time::sleep(S).await;
    net.set_link(a.name(), c.name(), LinkPolicy::Pass);
    net.set_link(c.name(), a.name(), LinkPolicy::Pass);
    assert!(a.connect(c.name()).await);
    for n in [&a, &b, &c] {
        global::sync(n).await;
    }
    eventually(5 * S, "every node keeps a's pid", || {
        everywhere(&[&a, &b, &c], "room") == vec![Some(pa.clone()); 3]
    })
    .await;
}

/// a, b, c meshed; a disconnects b. With OTP 25's prevention of overlapping
/// partitions, c, connected to both, must not stay a bridge: every node ends
/// alone. Without it (the kit's default), a–c and c–b stay up.
#[tokio::test(start_paused = true)]
async fn overlapping_partitions_are_prevented_only_when_asked() {
    for prevent in [true, false] {
        let net = SimNet::new(if prevent { 41 } else { 42 });
        let mut v = vec![];
        for n in ["a@sim", "b@sim", "c@sim"] {
            let mut cfg = NodeConfig::new(NodeName::new(n).unwrap());
            cfg.prevent_overlapping_partitions = prevent;
            v.push(net.start_node_with(cfg).await.unwrap());
        }
        let (a, b, c) = (&v[0], &v[1], &v[2]);
        assert!(a.connect(b.name()).await);
        assert!(a.connect(c.name()).await);
        eventually(5 * S, "a full mesh", || b.nodes().len() == 2).await;
        for n in [a, b, c] {
            global::sync(n).await;
        }
        assert!(a.disconnect(b.name()).await);
        if prevent {
            eventually(5 * S, "every node alone", || {
                [a, b, c].iter().all(|n| n.nodes().is_empty())
            })
            .await;
        } else {
            tokio::time::sleep(2 * S).await;
            assert_eq!(a.nodes(), vec![c.name().clone()]);
            assert_eq!(b.nodes(), vec![c.name().clone()]);
            assert_eq!(c.nodes().len(), 2);
        }
    }
}
