//! Distribution semantics on the simulated network, deterministic under paused time.

mod common;

use common::{eventually, probe};
use netsplit::gen_server::{self, CallError, CallResponse, Caller, Flow, GenServer};
use netsplit::sim::{LinkPolicy, SimNet};
use netsplit::{rpc, Ctx, Dest, ExitReason, NodeDownReason, Signal, Target};
use std::time::Duration;

const S: Duration = Duration::from_secs(1);

/// Echo server: replies to calls, can be told to crash or to hang.
struct Echo;
#[derive(serde::Serialize, serde::Deserialize, Debug, Clone, PartialEq)]
enum Req {
    Echo(String),
    Crash,
    Hang,
    /// Reply with this many bytes.
    Big(usize),
}

impl GenServer for Echo {
    type Call = Req;
    type Reply = String;
    type Cast = String;
    type Info = ();
    async fn handle_call(&mut self, r: Req, _: Caller<String>, _: &Ctx) -> CallResponse<String> {
        match r {
            Req::Echo(s) => CallResponse::Reply(s),
            Req::Crash => panic!("asked to crash"),
            Req::Hang => CallResponse::NoReply,
            Req::Big(n) => CallResponse::Reply("x".repeat(n)),
        }
    }
    async fn handle_cast(&mut self, _: String, _: &Ctx) -> Flow {
        Flow::Continue
    }
}

async fn three(seed: u64) -> (SimNet, netsplit::Node, netsplit::Node, netsplit::Node) {
    let net = SimNet::new(seed);
    let a = net.start_node("a@sim").await.unwrap();
    let b = net.start_node("b@sim").await.unwrap();
    let c = net.start_node("c@sim").await.unwrap();
    (net, a, b, c)
}

#[tokio::test(start_paused = true)]
async fn connections_are_transitive_and_listed() {
    let (_net, a, b, c) = three(1).await;
    assert!(a.connect(b.name()).await);
    assert!(c.connect(b.name()).await);
    // c learns about a through b and connects by itself: a full mesh.
    eventually(2 * S, "full mesh", || {
        a.nodes().len() == 2 && c.nodes().len() == 2
    })
    .await;
    assert_eq!(b.nodes(), vec![a.name().clone(), c.name().clone()]);
}

#[tokio::test(start_paused = true)]
async fn messages_between_two_processes_keep_their_order() {
    let (_net, a, b, _c) = three(2).await;
    let mut p = probe(&b).await;
    let to = p.ctx.pid().clone();
    for i in 0..500u32 {
        a.send(&to, &i).unwrap();
    }
    for i in 0..500u32 {
        match p.next(S).await {
            Signal::Message { payload, .. } => assert_eq!(payload.decode::<u32>().unwrap(), i),
            s => panic!("unexpected {s:?}"),
        }
    }
}

#[tokio::test(start_paused = true)]
async fn calls_reply_and_fail_with_typed_errors() {
    let (_net, a, b, _c) = three(3).await;
    gen_server::start(&b, Echo, Some("echo")).await.unwrap();
    let echo = Dest::Remote("echo".into(), b.name().clone());
    let r: String = gen_server::call(&a, echo.clone(), &Req::Echo("hi".into()), S)
        .await
        .unwrap();
    assert_eq!(r, "hi");
    // Unknown name: NoProc at once, not a timeout.
    let t0 = tokio::time::Instant::now();
    let e =
        gen_server::call::<Req, String>(&a, ("nobody", b.name()), &Req::Echo("x".into()), 10 * S)
            .await;
    assert_eq!(e, Err(CallError::NoProc));
    assert!(t0.elapsed() < S);
    // Wrong request type: Decode, and the server survives.
    let e = gen_server::call::<u64, String>(&a, echo.clone(), &7u64, S).await;
    assert!(matches!(e, Err(CallError::Decode(_))), "{e:?}");
    // Hang: Timeout.
    let e = gen_server::call::<Req, String>(&a, echo.clone(), &Req::Hang, S).await;
    assert_eq!(e, Err(CallError::Timeout));
    // Crash: Exit with the panic as reason.
    let e = gen_server::call::<Req, String>(&a, echo.clone(), &Req::Crash, 10 * S).await;
    match e {
        Err(CallError::Exit(ExitReason::Error(m))) => assert!(m.contains("asked to crash"), "{m}"),
        e => panic!("expected Exit, got {e:?}"),
    }
    assert!(
        b.whereis("echo").is_none(),
        "a panic kills the server process"
    );
    assert!(!b.is_stopped(), "but never the node");
}

#[tokio::test(start_paused = true)]
async fn call_to_a_node_that_dies_mid_call_fails_with_nodedown() {
    let (_net, a, b, _c) = three(4).await;
    gen_server::start(&b, Echo, Some("echo")).await.unwrap();
    assert!(a.connect(b.name()).await);
    let b2 = b.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        b2.stop().await;
    });
    let t0 = tokio::time::Instant::now();
    let e = gen_server::call::<Req, String>(&a, ("echo", b.name()), &Req::Hang, 30 * S).await;
    assert_eq!(e, Err(CallError::NodeDown(b.name().clone())));
    assert!(
        t0.elapsed() < 2 * S,
        "NodeDown must come with the connection loss, not the timeout"
    );
}

#[tokio::test(start_paused = true)]
async fn multi_call_reports_a_dead_node_and_returns_within_its_timeout() {
    let (net, a, b, c) = three(5).await;
    for n in [&a, &b, &c] {
        gen_server::start(n, Echo, Some("echo")).await.unwrap();
    }
    assert!(a.connect(b.name()).await && a.connect(c.name()).await);
    // c goes silent (paused, not closed): only the timeout can end its call.
    net.partition_silent(&[&[a.name(), b.name()], &[c.name()]]);
    let nodes = vec![a.name().clone(), b.name().clone(), c.name().clone()];
    let t0 = tokio::time::Instant::now();
    let r =
        gen_server::multi_call::<Req, String>(&a, &nodes, "echo", &Req::Echo("x".into()), 2 * S)
            .await;
    assert!(t0.elapsed() <= 2 * S + Duration::from_millis(50));
    assert_eq!(r.replies.len(), 2);
    assert_eq!(r.bad_nodes, vec![c.name().clone()]);
}

#[tokio::test(start_paused = true)]
async fn abcast_reaches_every_named_server() {
    let (_net, a, b, c) = three(6).await;
    let mut probes = vec![];
    for n in [&a, &b, &c] {
        let p = probe(n).await;
        p.ctx.register("sink").unwrap();
        probes.push(p);
    }
    let nodes = vec![a.name().clone(), b.name().clone(), c.name().clone()];
    gen_server::abcast(&a, &nodes, "sink", &"ping".to_string());
    for p in &mut probes {
        match p.next(S).await {
            Signal::Cast(pl) => assert_eq!(pl.decode::<String>().unwrap(), "ping"),
            s => panic!("{s:?}"),
        }
    }
}

#[tokio::test(start_paused = true)]
async fn monitors_fire_noproc_noconnection_and_exit_reasons() {
    let (net, a, b, _c) = three(7).await;
    let mut p = probe(&a).await;
    // A dead local pid: NoProc at once.
    let dead = a.spawn(|_ctx| async {});
    eventually(S, "dead", || !a.is_alive(&dead)).await;
    let m = p.ctx.monitor(&dead);
    match p.next(S).await {
        Signal::Down(d) => assert_eq!((d.mref, d.reason), (m, ExitReason::NoProc)),
        s => panic!("{s:?}"),
    }
    // A remote process that crashes: its reason.
    let victim = b.spawn(|ctx| async move {
        ctx.recv().await;
        boom();
    });
    let m = p.ctx.monitor(&victim);
    tokio::time::sleep(Duration::from_millis(50)).await;
    b.send(&victim, &()).unwrap();
    match p.next(S).await {
        Signal::Down(d) => {
            assert_eq!(d.mref, m);
            assert_eq!(d.target, Target::Pid(victim.clone()));
            assert!(
                matches!(d.reason, ExitReason::Error(ref e) if e.contains("boom")),
                "{:?}",
                d.reason
            );
        }
        s => panic!("{s:?}"),
    }
    // A remote process when the connection is cut: NoConnection.
    let sleeper = b.spawn(|ctx| async move {
        ctx.recv().await;
    });
    let m = p.ctx.monitor(&sleeper);
    tokio::time::sleep(Duration::from_millis(50)).await;
    net.partition(&[&[a.name()], &[b.name()]]);
    match p.next(S).await {
        Signal::Down(d) => assert_eq!((d.mref, d.reason), (m, ExitReason::NoConnection)),
        s => panic!("{s:?}"),
    }
    // An unreachable node: NoConnection at once (setup refused).
    let m = p.ctx.monitor(("anything", b.name()));
    match p.next(S).await {
        Signal::Down(d) => assert_eq!((d.mref, d.reason), (m, ExitReason::NoConnection)),
        s => panic!("{s:?}"),
    }
    // Monitors are one-shot.
    assert!(p.nothing_for(S).await);
}

#[tokio::test(start_paused = true)]
async fn demonitor_means_no_down() {
    let (_net, a, b, _c) = three(8).await;
    let mut p = probe(&a).await;
    let target = b.spawn(|ctx| async move {
        ctx.recv().await;
    });
    let m = p.ctx.monitor(&target);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(p.ctx.demonitor(&m));
    b.send(&target, &()).unwrap();
    assert!(p.nothing_for(S).await);
}

#[tokio::test(start_paused = true)]
async fn trapped_link_receives_noconnection_on_partition() {
    let (net, a, b, _c) = three(9).await;
    let mut p = probe(&a).await;
    p.ctx.trap_exit(true);
    let remote = b.spawn(|ctx| async move {
        ctx.recv().await;
    });
    p.ctx.link(&remote);
    tokio::time::sleep(Duration::from_millis(50)).await;
    net.partition(&[&[a.name()], &[b.name()]]);
    match p.next(S).await {
        Signal::Exit(e) => assert_eq!(
            (e.from, e.reason),
            (remote.clone(), ExitReason::NoConnection)
        ),
        s => panic!("{s:?}"),
    }
    // On b's side, the linked process did not trap exits, so it died too.
    eventually(S, "remote end of the link died", || !b.is_alive(&remote)).await;
}

#[tokio::test(start_paused = true)]
async fn an_untrapped_link_propagates_death_and_kill_is_untrappable() {
    let (_net, a, b, _c) = three(10).await;
    let parent = a.spawn(|ctx| async move {
        ctx.recv().await;
    });
    let child = b.spawn(|ctx| async move {
        ctx.recv().await;
    });
    // Link from the child to the remote parent, then crash the child.
    let mut p = probe(&a).await;
    p.ctx.monitor(&parent);
    let c2 = child.clone();
    b.spawn(move |ctx| async move {
        ctx.exit(&c2, ExitReason::error("crash"));
    });
    // Parent is not linked yet: survives.
    assert!(p.nothing_for(Duration::from_millis(200)).await);
    let linker = a.spawn(|ctx| async move {
        ctx.trap_exit(true);
        for _ in 0.. {
            ctx.recv().await;
        }
    });
    // Kill cannot be trapped.
    let mut q = probe(&a).await;
    q.ctx.monitor(&linker);
    tokio::time::sleep(Duration::from_millis(10)).await;
    a.exit(&linker, ExitReason::Kill);
    match q.next(S).await {
        Signal::Down(d) => assert_eq!(d.reason, ExitReason::Killed),
        s => panic!("{s:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn a_stale_incarnation_pid_is_not_delivered() {
    let net = SimNet::new(11);
    let a = net.start_node("a@sim").await.unwrap();
    let b = net.start_node("b@sim").await.unwrap();
    let old = probe(&b).await;
    let old_pid = old.ctx.pid().clone();
    assert!(a.connect(b.name()).await);
    b.stop().await;
    eventually(5 * S, "a sees b down", || a.nodes().is_empty()).await;
    // Same name, new incarnation; its first process gets the same id as before.
    let b2 = net.start_node("b@sim").await.unwrap();
    assert_ne!(b2.creation(), b.creation());
    let mut fresh = probe(&b2).await;
    assert_eq!(
        fresh.ctx.pid().id(),
        old_pid.id(),
        "same process number on purpose"
    );
    a.send(&old_pid, &"for the old one".to_string()).unwrap();
    a.send(fresh.ctx.pid(), &"for the new one".to_string())
        .unwrap();
    match fresh.next(S).await {
        Signal::Message { payload, .. } => {
            assert_eq!(payload.decode::<String>().unwrap(), "for the new one")
        }
        s => panic!("{s:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn nodeup_precedes_messages_and_nodedown_follows_them() {
    let (net, a, b, _c) = three(12).await;
    let mut p = probe(&a).await;
    p.ctx.monitor_nodes(true);
    p.ctx.register("watcher").unwrap();
    // b's first contact is a message: NodeUp must come first.
    for i in 0..10u32 {
        b.send(("watcher", a.name()), &i).unwrap();
    }
    assert!(matches!(p.next(S).await, Signal::NodeUp(n) if &n == b.name()));
    for i in 0..10u32 {
        match p.next(S).await {
            Signal::Message { payload, .. } => assert_eq!(payload.decode::<u32>().unwrap(), i),
            s => panic!("{s:?}"),
        }
    }
    // Silent partition: only ticks notice, with reason TickTimeout, within T..T+T/I.
    let t0 = tokio::time::Instant::now();
    net.partition_silent(&[&[a.name()], &[b.name()]]);
    match p.next(10 * S).await {
        Signal::NodeDown(n, r) => {
            assert_eq!(&n, b.name());
            assert_eq!(r, NodeDownReason::TickTimeout);
        }
        s => panic!("{s:?}"),
    }
    let t = a.config().net_ticktime;
    let el = t0.elapsed();
    assert!(
        el >= t - t / 4 && el <= t + t / 4 + Duration::from_millis(50),
        "detected after {el:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn nothing_reconnects_by_itself_after_heal() {
    let (net, a, b, _c) = three(13).await;
    assert!(a.connect(b.name()).await);
    net.partition(&[&[a.name()], &[b.name()]]);
    eventually(S, "down", || a.nodes().is_empty()).await;
    net.heal();
    tokio::time::sleep(10 * S).await;
    assert!(
        a.nodes().is_empty() && b.nodes().is_empty(),
        "no automatic reconnect"
    );
    // A send reconnects (implicit connect).
    a.send(("rex", b.name()), &()).unwrap();
    eventually(S, "reconnected by a send", || {
        a.nodes() == vec![b.name().clone()]
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn disconnect_reports_disconnect_locally_and_connection_closed_remotely() {
    let (_net, a, b, _c) = three(14).await;
    let mut pa = probe(&a).await;
    pa.ctx.monitor_nodes(true);
    let mut pb = probe(&b).await;
    pb.ctx.monitor_nodes(true);
    assert!(a.connect(b.name()).await);
    assert!(matches!(pa.next(S).await, Signal::NodeUp(_)));
    assert!(matches!(pb.next(S).await, Signal::NodeUp(_)));
    assert!(a.disconnect(b.name()).await);
    assert!(matches!(
        pa.next(S).await,
        Signal::NodeDown(_, NodeDownReason::Disconnect)
    ));
    assert!(matches!(
        pb.next(S).await,
        Signal::NodeDown(_, NodeDownReason::ConnectionClosed)
    ));
}

#[tokio::test(start_paused = true)]
async fn hidden_nodes_are_not_listed_nor_meshed() {
    let net = SimNet::new(15);
    let a = net.start_node("a@sim").await.unwrap();
    let b = net.start_node("b@sim").await.unwrap();
    let name = netsplit::NodeName::new("h@sim").unwrap();
    let h = net
        .start_node_with(netsplit::NodeConfig::new(name).cookie("sim").hidden(true))
        .await
        .unwrap();
    assert!(a.connect(b.name()).await);
    assert!(h.connect(a.name()).await);
    tokio::time::sleep(2 * S).await;
    assert_eq!(
        a.nodes(),
        vec![b.name().clone()],
        "hidden node not in nodes()"
    );
    assert_eq!(a.nodes_hidden(), vec![h.name().clone()]);
    assert!(
        b.nodes_hidden().is_empty(),
        "the hidden node was not meshed to b"
    );
    assert!(h.nodes().is_empty() && h.nodes_hidden() == vec![a.name().clone()]);
}

#[tokio::test(start_paused = true)]
async fn a_wrong_cookie_is_refused() {
    let net = SimNet::new(16);
    let a = net.start_node("a@sim").await.unwrap();
    let name = netsplit::NodeName::new("x@sim").unwrap();
    let x = net
        .start_node_with(netsplit::NodeConfig::new(name).cookie("other"))
        .await
        .unwrap();
    assert!(!x.connect(a.name()).await);
    assert!(!a.connect(x.name()).await);
    assert!(a.nodes().is_empty() && x.nodes().is_empty());
}

/// Erlang's `erlang:set_cookie(Node, Cookie)`: one peer's cookie, used both
/// ways, while every other peer keeps the node's own.
#[tokio::test(start_paused = true)]
async fn a_cookie_set_for_one_peer_is_used_with_that_peer_only() {
    let net = SimNet::new(27);
    let a = net.start_node("a@sim").await.unwrap();
    let b = net.start_node("b@sim").await.unwrap();
    let name = netsplit::NodeName::new("x@sim").unwrap();
    let x = net
        .start_node_with(netsplit::NodeConfig::new(name).cookie("other"))
        .await
        .unwrap();
    assert_eq!(a.cookie(), "sim");
    // a dials x with x's cookie: accepted; b still has the common one.
    a.set_cookie(x.name(), "other");
    assert_eq!(a.cookie_for(x.name()), "other");
    assert_eq!(a.cookie_for(b.name()), "sim");
    assert!(a.connect(x.name()).await);
    assert!(!b.connect(x.name()).await, "b has no cookie for x");
    assert!(a.disconnect(x.name()).await);
    // Incoming too: x dials a, and a expects x's cookie from x.
    assert!(x.connect(a.name()).await);
    // Setting the node's own cookie back removes the exception.
    assert!(x.disconnect(a.name()).await);
    a.set_cookie(x.name(), "sim");
    assert_eq!(a.cookie_for(x.name()), "sim");
    assert!(!a.connect(x.name()).await);
    assert!(!x.connect(a.name()).await);
    assert!(a.connect(b.name()).await);
}

#[tokio::test(start_paused = true)]
async fn simultaneous_connects_end_in_one_connection() {
    let net = SimNet::new(17);
    let a = net.start_node("a@sim").await.unwrap();
    let b = net.start_node("b@sim").await.unwrap();
    let (x, y) = tokio::join!(a.connect(b.name()), b.connect(a.name()));
    assert!(x && y);
    assert_eq!(a.nodes(), vec![b.name().clone()]);
    assert_eq!(b.nodes(), vec![a.name().clone()]);
}

#[tokio::test(start_paused = true)]
async fn one_way_blackhole_is_detected_by_the_starved_side() {
    let (net, a, b, _c) = three(18).await;
    assert!(a.connect(b.name()).await);
    net.set_link(a.name(), b.name(), LinkPolicy::Blackhole);
    eventually(10 * S, "b declares a down", || b.nodes().is_empty()).await;
}

#[tokio::test(start_paused = true)]
async fn rpc_calls_named_functions() {
    let (_net, a, b, _c) = three(19).await;
    b.rpc_register("math", "add", |_n, (x, y): (i64, i64)| async move { x + y });
    b.rpc_register("math", "fail", |_n, (): ()| async move { boom() });
    let r: i64 = rpc::call(&a, b.name(), "math", "add", &(2i64, 40i64), S)
        .await
        .unwrap();
    assert_eq!(r, 42);
    let e = rpc::call::<(), ()>(&a, b.name(), "math", "sub", &(), S).await;
    assert_eq!(e, Err(rpc::BadRpc::Undef("math".into(), "sub".into())));
    let e = rpc::call::<(), ()>(&a, b.name(), "math", "fail", &(), S).await;
    assert!(matches!(e, Err(rpc::BadRpc::Exit(_))), "{e:?}");
    let ghost = netsplit::NodeName::new("ghost@sim").unwrap();
    let nodes = vec![b.name().clone(), ghost.clone()];
    let m = rpc::multicall::<(i64, i64), i64>(&a, &nodes, "math", "add", &(1, 1), S).await;
    assert_eq!(m.results, vec![(b.name().clone(), Ok(2))]);
    assert_eq!(m.bad_nodes, vec![ghost]);
}

#[tokio::test(start_paused = true)]
async fn remote_spawn_runs_on_the_target_node() {
    let (_net, a, b, _c) = three(20).await;
    b.rpc_register_spawn(
        "demo",
        "greeter",
        |ctx: Ctx, to: netsplit::Pid| async move {
            ctx.send(&to, &format!("hello from {}", ctx.node().name()))
                .unwrap();
        },
    );
    let mut p = probe(&a).await;
    let pid = rpc::spawn(&a, b.name(), "demo", "greeter", p.ctx.pid())
        .await
        .unwrap();
    assert_eq!(pid.node(), b.name());
    match p.next(S).await {
        Signal::Message { payload, .. } => {
            assert_eq!(payload.decode::<String>().unwrap(), "hello from b@sim")
        }
        s => panic!("{s:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn timers_fire_and_cancel() {
    let net = SimNet::new(21);
    let a = net.start_node("a@sim").await.unwrap();
    let mut p = probe(&a).await;
    let _t1 = p.ctx.send_after(&1u8, Duration::from_millis(100));
    let t2 = p.ctx.send_after(&2u8, Duration::from_millis(200));
    assert!(t2.cancel());
    match p.next(S).await {
        Signal::Message { payload, .. } => assert_eq!(payload.decode::<u8>().unwrap(), 1),
        s => panic!("{s:?}"),
    }
    assert!(p.nothing_for(S).await);
}

#[tokio::test(start_paused = true)]
async fn registered_names_are_local_and_vanish_with_the_process() {
    let net = SimNet::new(22);
    let a = net.start_node("a@sim").await.unwrap();
    let pid = gen_server::start(&a, Echo, Some("echo")).await.unwrap();
    assert_eq!(a.whereis("echo"), Some(pid.clone()));
    let again = gen_server::start(&a, Echo, Some("echo")).await;
    assert_eq!(
        again,
        Err(gen_server::ServerStartError::AlreadyStarted(pid.clone()))
    );
    a.exit(&pid, ExitReason::Kill);
    eventually(S, "name released", || a.whereis("echo").is_none()).await;
    assert_eq!(
        a.send("echo", &1u8),
        Err(netsplit::SendError::NoSuchName("echo".into()))
    );
}

fn boom() {
    panic!("boom")
}

#[tokio::test(start_paused = true)]
async fn rpc_cast_runs_the_function_without_an_answer() {
    let (_net, a, b, _c) = three(23).await;
    let mut p = probe(&a).await;
    b.rpc_register("notify", "hello", |node, to: netsplit::Pid| async move {
        node.send(&to, &"cast ran".to_string()).unwrap();
    });
    rpc::cast(&a, b.name(), "notify", "hello", p.ctx.pid());
    match p.next(S).await {
        Signal::Message { payload, .. } => {
            assert_eq!(payload.decode::<String>().unwrap(), "cast ran")
        }
        s => panic!("{s:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn a_message_over_the_frame_limit_is_not_sent_and_the_connection_stays_up() {
    // The receiver would close a connection that carries an oversized frame,
    // taking every monitor and link on it down: the sender refuses instead.
    let net = SimNet::new(25);
    let config = |name: &str| {
        let mut c = netsplit::NodeConfig::new(netsplit::NodeName::new(name).unwrap()).cookie("sim");
        c.max_frame = 64 * 1024;
        c
    };
    let a = net.start_node_with(config("a@sim")).await.unwrap();
    let b = net.start_node_with(config("b@sim")).await.unwrap();
    gen_server::start(&b, Echo, Some("echo")).await.unwrap();
    let mut p = probe(&b).await;
    let to = p.ctx.pid().clone();
    a.send(&to, &"x".repeat(100_000)).unwrap();
    a.send(&to, &"small".to_string()).unwrap();
    match p.next(S).await {
        Signal::Message { payload, .. } => {
            let got = payload.decode::<String>().unwrap();
            assert!(got == "small", "a {}-byte message arrived", got.len());
        }
        s => panic!("unexpected {s:?}"),
    }
    let echo = Dest::Remote("echo".into(), b.name().clone());
    // Calls `req` and checks it fails with an error naming `what` (the
    // request or the reply) and the frame limit.
    let refused = |req: Req, what: &'static str| {
        let (a, echo) = (a.clone(), echo.clone());
        async move {
            match gen_server::call::<Req, String>(&a, echo, &req, 10 * S).await {
                Err(CallError::Exit(ExitReason::Error(e))) => {
                    assert!(e.contains(what) && e.contains("frame limit"), "{e}")
                }
                r => panic!(
                    "expected the {what} to be refused, got {:?}",
                    r.map(|s| s.len())
                ),
            }
        }
    };
    let t0 = tokio::time::Instant::now();
    refused(Req::Echo("y".repeat(100_000)), "request").await;
    assert!(
        t0.elapsed() < S,
        "the refused call waited {:?}",
        t0.elapsed()
    );
    refused(Req::Big(100_000), "reply").await;
    assert!(
        t0.elapsed() < S,
        "the refused reply took {:?}",
        t0.elapsed()
    );
    // Nothing else was disturbed: same connection, still serving.
    assert_eq!(a.nodes(), vec![b.name().clone()]);
    let ok: String = gen_server::call(&a, echo, &Req::Big(10), S).await.unwrap();
    assert_eq!(ok, "xxxxxxxxxx");
    assert!(
        p.nothing_for(S).await,
        "the oversized message arrived after all"
    );
}

#[tokio::test(start_paused = true)]
async fn the_trace_records_every_frame_sent_and_received_with_its_size() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.trace.jsonl");
    let net = SimNet::new(24);
    let mut cfg =
        netsplit::NodeConfig::new(netsplit::NodeName::new("a@sim").unwrap()).cookie("sim");
    cfg.trace_file = Some(path.clone());
    let a = net.start_node_with(cfg).await.unwrap();
    let b = net.start_node("b@sim").await.unwrap();
    gen_server::start(&b, Echo, Some("echo")).await.unwrap();
    let r: String = gen_server::call(&a, ("echo", b.name()), &Req::Echo("hi".into()), S)
        .await
        .unwrap();
    assert_eq!(r, "hi");
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let find = |dir: &str, kind: &str| {
        lines
            .iter()
            .find(|l| l["dir"] == dir && l["kind"] == kind)
            .unwrap_or_else(|| panic!("no {dir} {kind} in {lines:#?}"))
    };
    let call = find("send", "call");
    assert_eq!(call["to_node"], "b@sim");
    assert_eq!(call["to"], "echo");
    assert!(call["type"].as_str().unwrap().ends_with("Req"), "{call}");
    assert!(call["bytes"].as_u64().unwrap() > 0, "{call}");
    let reply = find("recv", "reply");
    assert_eq!(reply["from_node"], "b@sim");
    assert!(reply["bytes"].as_u64().unwrap() > 0);
}

#[tokio::test(start_paused = true)]
async fn every_node_serves_the_builtin_control_functions() {
    let (_net, a, b, c) = three(31).await;
    // a drives b by rpc alone: b connects to c, as net_kernel:connect_node would.
    let ok: bool = rpc::call(&a, b.name(), "net_kernel", "connect_node", c.name(), S)
        .await
        .unwrap();
    assert!(ok);
    let peers: Vec<netsplit::NodeName> = rpc::call(&a, b.name(), "erlang", "nodes", &(), S)
        .await
        .unwrap();
    assert!(peers.contains(c.name()), "{peers:?}");
    let pid = b.spawn(|ctx| async move {
        ctx.recv().await;
        ExitReason::Normal
    });
    b.register("worker", &pid).unwrap();
    let found: Option<netsplit::Pid> =
        rpc::call(&a, b.name(), "erlang", "whereis", &"worker".to_string(), S)
            .await
            .unwrap();
    assert_eq!(found, Some(pid));
    let none: Option<netsplit::Pid> =
        rpc::call(&a, b.name(), "erlang", "whereis", &"nobody".to_string(), S)
            .await
            .unwrap();
    assert_eq!(none, None);
    let ok: bool = rpc::call(&a, b.name(), "erlang", "disconnect_node", c.name(), S)
        .await
        .unwrap();
    assert!(ok);
    eventually(S, "b and c disconnected", || !b.nodes().contains(c.name())).await;
}

#[tokio::test(start_paused = true)]
async fn global_and_pg_views_are_readable_by_rpc() {
    let (_net, a, b, c) = three(32).await;
    assert!(b.connect(c.name()).await);
    netsplit::global::sync(&b).await;
    netsplit::global::sync(&c).await;
    let pid = c.spawn(|ctx| async move {
        ctx.recv().await;
        ExitReason::Normal
    });
    let yes = netsplit::global::register_name(&c, "room:general", &pid).await;
    assert_eq!(yes, netsplit::global::RegisterResult::Yes);
    netsplit::pg::join(&c, "chat", "room_replica:general", &pid)
        .await
        .unwrap();
    // a is not connected to c: it reads b's views, as a grader reads each node's.
    let name = "room:general".to_string();
    let found: Option<netsplit::Pid> = rpc::call(&a, b.name(), "global", "whereis_name", &name, S)
        .await
        .unwrap();
    assert_eq!(found, Some(pid.clone()));
    let names: Vec<String> = rpc::call(&a, b.name(), "global", "registered_names", &(), S)
        .await
        .unwrap();
    assert_eq!(names, vec![name]);
    let group = ("chat".to_string(), "room_replica:general".to_string());
    let mut members: Vec<netsplit::Pid> = vec![];
    for _ in 0..50 {
        members = rpc::call(&a, b.name(), "pg", "get_members", &group, S)
            .await
            .unwrap();
        if !members.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(members, vec![pid]);
    let groups: Vec<String> = rpc::call(&a, b.name(), "pg", "which_groups", &"chat".to_string(), S)
        .await
        .unwrap();
    assert_eq!(groups, vec!["room_replica:general".to_string()]);
}

/// A server whose init panics, as a starter's `todo!()` in init does.
struct PanicsInInit;

impl GenServer for PanicsInInit {
    type Call = ();
    type Reply = ();
    type Cast = ();
    type Info = ();
    async fn init(&mut self, _ctx: &Ctx) -> Result<(), ExitReason> {
        panic!("not yet implemented: log in");
    }
}

#[tokio::test(start_paused = true)]
async fn a_panic_in_init_is_the_start_error_with_its_message() {
    let (_net, a, _b, _c) = three(33).await;
    let got = gen_server::start(&a, PanicsInInit, Some("doomed")).await;
    match got {
        Err(gen_server::ServerStartError::InitFailed(ExitReason::Error(why))) => {
            assert!(why.contains("not yet implemented: log in"), "{why}")
        }
        other => panic!("expected InitFailed with the panic's message, got {other:?}"),
    }
    assert_eq!(a.whereis("doomed"), None);
}
