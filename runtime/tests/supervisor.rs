//! Supervisors and dynamic supervisors: strategies, restart types, intensity,
//! start failures, shutdown, and remote starts between simulated nodes.

use netsplit::gen_server::{self, CallError, CallResponse, Caller, GenServer};
use netsplit::sim::SimNet;
use netsplit::supervisor::{
    self, ChildCounts, ChildRef, ChildSpec, DynamicSupervisorSpec, RemoteChildSpec, Restart,
    Shutdown, Strategy, SupervisorError, SupervisorSpec, SupervisorStartError,
};
use netsplit::{Ctx, ExitReason, Node, Pid, Signal};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::oneshot;

/// Polls `$cond` (which may `.await`) until it holds, failing after 5 s.
macro_rules! eventually {
    ($what:expr, $cond:expr) => {
        tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                if $cond {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {}", $what))
    };
}

async fn one_node(seed: u64) -> (SimNet, Node) {
    let net = SimNet::new(seed);
    let node = net.start_node("a@sim").await.unwrap();
    (net, node)
}

/// A child that waits for orders: "normal" ends it normally, "crash" with an error.
async fn obedient(ctx: Ctx) -> ExitReason {
    loop {
        if let Signal::Message { payload, .. } = ctx.recv().await {
            match payload.decode::<String>().as_deref() {
                Ok("normal") => return ExitReason::Normal,
                Ok("crash") => return ExitReason::error("crashed on request"),
                _ => {}
            }
        }
    }
}

/// A child that ignores every message.
async fn forever(ctx: Ctx) -> ExitReason {
    loop {
        ctx.recv().await;
    }
}

fn child(id: &str) -> ChildSpec {
    ChildSpec::process(id, obedient)
}

async fn children(node: &Node, sup: &Pid) -> Vec<(String, Option<Pid>)> {
    supervisor::which_children(node, sup).await.unwrap()
}

fn pid_of(children: &[(String, Option<Pid>)], id: &str) -> Option<Pid> {
    children
        .iter()
        .find(|(i, _)| i == id)
        .and_then(|(_, p)| p.clone())
}

fn ids(children: &[(String, Option<Pid>)]) -> Vec<&str> {
    children.iter().map(|(i, _)| i.as_str()).collect()
}

/// Monitors `target` from a helper process; the receiver gets the `Down` reason.
async fn watch(node: &Node, target: &Pid) -> oneshot::Receiver<ExitReason> {
    let (ready_tx, ready_rx) = oneshot::channel();
    let (tx, rx) = oneshot::channel();
    let target = target.clone();
    node.spawn(move |ctx| async move {
        let mref = ctx.monitor(&target);
        let _ = ready_tx.send(());
        loop {
            if let Signal::Down(d) = ctx.recv().await {
                if d.mref == mref {
                    let _ = tx.send(d.reason);
                    return;
                }
            }
        }
    });
    ready_rx.await.unwrap();
    rx
}

async fn down(rx: oneshot::Receiver<ExitReason>) -> ExitReason {
    tokio::time::timeout(Duration::from_secs(5), rx)
        .await
        .expect("no Down within 5 s")
        .unwrap()
}

/// Starts a static supervisor of children "a", "b", "c" and returns it with their pids.
async fn abc(node: &Node, strategy: Strategy) -> (Pid, Vec<Pid>) {
    let spec = SupervisorSpec::new(strategy, vec![child("a"), child("b"), child("c")]);
    let sup = supervisor::start(node, spec, None).await.unwrap();
    let kids = children(node, &sup).await;
    assert_eq!(ids(&kids), ["a", "b", "c"]);
    let pids: Vec<Pid> = kids.into_iter().map(|(_, p)| p.unwrap()).collect();
    for p in &pids {
        assert!(node.is_alive(p));
    }
    (sup, pids)
}

// ------------------------------------------------------------------ strategies

#[tokio::test]
async fn one_for_one_restarts_only_the_crashed_child() {
    let (_net, node) = one_node(1).await;
    let (sup, old) = abc(&node, Strategy::OneForOne).await;

    node.exit(&old[1], ExitReason::error("boom"));
    eventually!(
        "b to be restarted",
        pid_of(&children(&node, &sup).await, "b").is_some_and(|p| p != old[1])
    );

    let now = children(&node, &sup).await;
    assert_eq!(ids(&now), ["a", "b", "c"]);
    assert_eq!(pid_of(&now, "a").as_ref(), Some(&old[0]));
    assert_eq!(pid_of(&now, "c").as_ref(), Some(&old[2]));
    let new_b = pid_of(&now, "b").unwrap();
    assert!(!node.is_alive(&old[1]));
    assert!(node.is_alive(&new_b));
    assert!(node.is_alive(&old[0]) && node.is_alive(&old[2]));
    assert!(node.is_alive(&sup));
}

#[tokio::test]
async fn one_for_all_restarts_every_child() {
    let (_net, node) = one_node(2).await;
    let (sup, old) = abc(&node, Strategy::OneForAll).await;

    node.exit(&old[1], ExitReason::error("boom"));
    eventually!(
        "all children to be restarted",
        children(&node, &sup)
            .await
            .iter()
            .zip(&old)
            .all(|((_, p), o)| p.as_ref().is_some_and(|p| p != o))
    );

    let now = children(&node, &sup).await;
    assert_eq!(ids(&now), ["a", "b", "c"], "start order is kept");
    for (o, (_, n)) in old.iter().zip(&now) {
        assert!(!node.is_alive(o), "old child {o} still alive");
        assert!(node.is_alive(n.as_ref().unwrap()));
    }
    // The new children are started in order: their pids grow.
    let new: Vec<u64> = now.iter().map(|(_, p)| p.as_ref().unwrap().id()).collect();
    assert!(new.windows(2).all(|w| w[0] < w[1]), "{new:?}");
}

#[tokio::test]
async fn rest_for_one_restarts_the_crashed_child_and_later_ones() {
    let (_net, node) = one_node(3).await;
    let (sup, old) = abc(&node, Strategy::RestForOne).await;

    node.exit(&old[1], ExitReason::error("boom"));
    eventually!("b and c to be restarted", {
        let now = children(&node, &sup).await;
        pid_of(&now, "b").is_some_and(|p| p != old[1])
            && pid_of(&now, "c").is_some_and(|p| p != old[2])
    });

    let now = children(&node, &sup).await;
    assert_eq!(
        pid_of(&now, "a").as_ref(),
        Some(&old[0]),
        "a was started before b"
    );
    assert!(node.is_alive(&old[0]));
    assert!(!node.is_alive(&old[1]));
    assert!(!node.is_alive(&old[2]));
    assert!(pid_of(&now, "b").unwrap().id() < pid_of(&now, "c").unwrap().id());
}

// ------------------------------------------------------------------ intensity

#[tokio::test]
async fn exceeding_restart_intensity_stops_the_supervisor_and_its_children() {
    let (_net, node) = one_node(4).await;
    let spec =
        SupervisorSpec::new(Strategy::OneForOne, vec![child("a"), child("b")]).intensity(2, 5);
    let sup = supervisor::start(&node, spec, Some("fragile"))
        .await
        .unwrap();
    let sup_down = watch(&node, &sup).await;
    let b = pid_of(&children(&node, &sup).await, "b").unwrap();

    // Two restarts within the period are allowed...
    let mut a = pid_of(&children(&node, &sup).await, "a").unwrap();
    for _ in 0..2 {
        node.exit(&a, ExitReason::error("boom"));
        eventually!(
            "a to be restarted",
            pid_of(&children(&node, &sup).await, "a").is_some_and(|p| p != a)
        );
        a = pid_of(&children(&node, &sup).await, "a").unwrap();
    }
    assert!(node.is_alive(&sup));

    // ...the third is one too many.
    node.exit(&a, ExitReason::error("boom"));
    assert_eq!(down(sup_down).await, ExitReason::Shutdown);
    assert!(!node.is_alive(&a));
    assert!(
        !node.is_alive(&b),
        "children are terminated before the supervisor exits"
    );
    assert_eq!(node.whereis("fragile"), None);
    assert!(matches!(
        supervisor::which_children(&node, &sup).await,
        Err(SupervisorError::Call(CallError::NoProc))
    ));
}

#[tokio::test]
async fn restarts_older_than_the_period_do_not_count() {
    let (_net, node) = one_node(5).await;
    let spec = SupervisorSpec::new(Strategy::OneForOne, vec![child("a")]).intensity(1, 1);
    let sup = supervisor::start(&node, spec, None).await.unwrap();

    let a = pid_of(&children(&node, &sup).await, "a").unwrap();
    node.exit(&a, ExitReason::error("boom"));
    eventually!(
        "a to be restarted",
        pid_of(&children(&node, &sup).await, "a").is_some_and(|p| p != a)
    );
    // The window must pass for the first restart to be forgotten.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let a = pid_of(&children(&node, &sup).await, "a").unwrap();
    node.exit(&a, ExitReason::error("boom"));
    eventually!(
        "a to be restarted again",
        pid_of(&children(&node, &sup).await, "a").is_some_and(|p| p != a)
    );
    assert!(node.is_alive(&sup));
}

#[tokio::test]
async fn zero_intensity_gives_up_on_the_first_crash() {
    let (_net, node) = one_node(6).await;
    let spec = SupervisorSpec::new(Strategy::OneForOne, vec![child("a")]).intensity(0, 5);
    let sup = supervisor::start(&node, spec, None).await.unwrap();
    let sup_down = watch(&node, &sup).await;
    let a = pid_of(&children(&node, &sup).await, "a").unwrap();
    node.send(&a, &"crash".to_string()).unwrap();
    assert_eq!(down(sup_down).await, ExitReason::Shutdown);
}

// ------------------------------------------------------------------ restart types

#[tokio::test]
async fn restart_types_transient_and_temporary() {
    let (_net, node) = one_node(7).await;
    let spec = SupervisorSpec::new(
        Strategy::OneForOne,
        vec![
            child("trans").restart(Restart::Transient),
            child("temp1").restart(Restart::Temporary),
            child("temp2").restart(Restart::Temporary),
            child("perm"),
        ],
    );
    let sup = supervisor::start(&node, spec, None).await.unwrap();
    let kids = children(&node, &sup).await;
    let perm = pid_of(&kids, "perm").unwrap();

    // Transient, normal exit: not restarted, but its spec stays.
    let trans = pid_of(&kids, "trans").unwrap();
    node.send(&trans, &"normal".to_string()).unwrap();
    eventually!(
        "trans to be stopped",
        pid_of(&children(&node, &sup).await, "trans").is_none()
    );
    assert_eq!(
        ids(&children(&node, &sup).await),
        ["trans", "temp1", "temp2", "perm"]
    );

    // Brought back by hand, then crashing: restarted.
    let trans = supervisor::restart_child(&node, &sup, "trans")
        .await
        .unwrap();
    assert!(node.is_alive(&trans));
    node.send(&trans, &"crash".to_string()).unwrap();
    eventually!(
        "trans to be restarted after a crash",
        pid_of(&children(&node, &sup).await, "trans").is_some_and(|p| p != trans)
    );

    // Transient, exit Shutdown: not restarted.
    let trans = pid_of(&children(&node, &sup).await, "trans").unwrap();
    node.exit(&trans, ExitReason::Shutdown);
    eventually!(
        "trans to stop after Shutdown",
        pid_of(&children(&node, &sup).await, "trans").is_none()
    );

    // Temporary: never restarted, whatever the reason, and forgotten.
    node.send(pid_of(&kids, "temp1").unwrap(), &"normal".to_string())
        .unwrap();
    node.send(pid_of(&kids, "temp2").unwrap(), &"crash".to_string())
        .unwrap();
    eventually!(
        "temporary children to be forgotten",
        ids(&children(&node, &sup).await) == ["trans", "perm"]
    );

    // The permanent child was never touched.
    assert_eq!(pid_of(&children(&node, &sup).await, "perm"), Some(perm));
    assert_eq!(
        supervisor::count_children(&node, &sup).await.unwrap(),
        ChildCounts {
            specs: 2,
            active: 1,
            supervisors: 0,
            workers: 2
        }
    );
}

#[tokio::test]
async fn a_permanent_child_exiting_normally_is_restarted() {
    let (_net, node) = one_node(8).await;
    let sup = supervisor::start(
        &node,
        SupervisorSpec::new(Strategy::OneForOne, vec![child("a")]),
        None,
    )
    .await
    .unwrap();
    let a = pid_of(&children(&node, &sup).await, "a").unwrap();
    node.send(&a, &"normal".to_string()).unwrap();
    eventually!(
        "a to be restarted",
        pid_of(&children(&node, &sup).await, "a").is_some_and(|p| p != a)
    );
}

// ------------------------------------------------------------------ start failures

#[tokio::test]
async fn a_child_start_failure_fails_the_supervisor_start() {
    let (_net, node) = one_node(9).await;
    let first: Arc<Mutex<Option<Pid>>> = Arc::default();
    let seen = first.clone();
    let spec = SupervisorSpec::new(
        Strategy::OneForOne,
        vec![
            ChildSpec::worker("first", move |ctx| {
                let seen = seen.clone();
                async move {
                    let pid = ctx.spawn_link(obedient);
                    *seen.lock().unwrap() = Some(pid.clone());
                    Ok(pid)
                }
            }),
            ChildSpec::worker("second", |_ctx| async { Err(ExitReason::error("nope")) }),
            child("third"),
        ],
    );
    let procs_before = node.process_count();
    let err = supervisor::start(&node, spec, Some("doomed"))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        SupervisorStartError::ChildFailed {
            id: "second".into(),
            reason: ExitReason::error("nope")
        }
    );
    let first = first
        .lock()
        .unwrap()
        .clone()
        .expect("first child was started");
    assert!(!node.is_alive(&first), "the started child is terminated");
    assert_eq!(node.whereis("doomed"), None);
    eventually!(
        "the supervisor process to be gone",
        node.process_count() == procs_before
    );
}

struct FailingInit;

impl GenServer for FailingInit {
    type Call = ();
    type Reply = ();
    type Cast = ();
    type Info = ();

    async fn init(&mut self, _ctx: &Ctx) -> Result<(), ExitReason> {
        Err(ExitReason::error("init refused"))
    }
}

#[tokio::test]
async fn gen_server_init_failure_and_panicking_start_fail_the_start() {
    let (_net, node) = one_node(10).await;
    let spec = SupervisorSpec::new(
        Strategy::OneForOne,
        vec![ChildSpec::gen_server("srv", Some("srv"), || FailingInit)],
    );
    let err = supervisor::start(&node, spec, None).await.unwrap_err();
    assert_eq!(
        err,
        SupervisorStartError::ChildFailed {
            id: "srv".into(),
            reason: ExitReason::error("init refused")
        }
    );

    let spec = SupervisorSpec::new(
        Strategy::OneForOne,
        vec![ChildSpec::worker("p", |_ctx| async {
            if true {
                panic!("start went wrong");
            }
            Err(ExitReason::Normal)
        })],
    );
    match supervisor::start(&node, spec, None).await.unwrap_err() {
        SupervisorStartError::ChildFailed { id, reason } => {
            assert_eq!(id, "p");
            assert!(reason.to_string().contains("start went wrong"), "{reason}");
        }
        e => panic!("unexpected {e:?}"),
    }

    let spec = SupervisorSpec::new(Strategy::OneForOne, vec![child("x"), child("x")]);
    assert_eq!(
        supervisor::start(&node, spec, None).await.unwrap_err(),
        SupervisorStartError::DuplicateChild("x".into())
    );
}

#[tokio::test]
async fn a_taken_name_is_already_started() {
    let (_net, node) = one_node(11).await;
    let spec = || SupervisorSpec::new(Strategy::OneForOne, vec![child("a")]);
    let sup = supervisor::start(&node, spec(), Some("top")).await.unwrap();
    assert_eq!(
        supervisor::start(&node, spec(), Some("top"))
            .await
            .unwrap_err(),
        SupervisorStartError::AlreadyStarted(sup)
    );
}

// ------------------------------------------------------------------ gen_server children

struct Echo;

impl GenServer for Echo {
    type Call = String;
    type Reply = String;
    type Cast = ();
    type Info = ();

    async fn handle_call(
        &mut self,
        req: String,
        _from: Caller<String>,
        _ctx: &Ctx,
    ) -> CallResponse<String> {
        if req == "panic" {
            panic!("asked to panic");
        }
        CallResponse::Reply(req)
    }
}

#[tokio::test]
async fn a_gen_server_that_panics_is_restarted_under_its_name() {
    let (_net, node) = one_node(12).await;
    let spec = SupervisorSpec::new(
        Strategy::OneForOne,
        vec![ChildSpec::gen_server("echo", Some("echo"), || Echo)],
    );
    let sup = supervisor::start(&node, spec, None).await.unwrap();
    let first = node.whereis("echo").unwrap();
    assert_eq!(
        pid_of(&children(&node, &sup).await, "echo"),
        Some(first.clone())
    );
    let t = Duration::from_secs(1);
    let r: String = gen_server::call(&node, "echo", &"hi".to_string(), t)
        .await
        .unwrap();
    assert_eq!(r, "hi");

    let err = gen_server::call::<String, String>(&node, "echo", &"panic".to_string(), t)
        .await
        .unwrap_err();
    assert!(
        matches!(err, CallError::Exit(ExitReason::Error(_))),
        "{err:?}"
    );
    eventually!(
        "echo to be registered again",
        node.whereis("echo").is_some_and(|p| p != first)
    );
    let r: String = gen_server::call(&node, "echo", &"again".to_string(), t)
        .await
        .unwrap();
    assert_eq!(r, "again");
    assert_eq!(
        pid_of(&children(&node, &sup).await, "echo"),
        node.whereis("echo")
    );
}

// ------------------------------------------------------------------ shutdown

#[tokio::test]
async fn killing_the_supervisor_kills_its_linked_children() {
    let (_net, node) = one_node(13).await;
    let (sup, kids) = abc(&node, Strategy::OneForOne).await;
    let sup_down = watch(&node, &sup).await;
    let child_down = watch(&node, &kids[0]).await;

    node.exit(&sup, ExitReason::Kill);
    assert_eq!(down(sup_down).await, ExitReason::Killed);
    assert_eq!(down(child_down).await, ExitReason::Killed);
    eventually!("every child to die", kids.iter().all(|k| !node.is_alive(k)));
}

#[tokio::test]
async fn the_parent_exiting_stops_the_supervisor_in_reverse_order() {
    let (_net, node) = one_node(14).await;
    // Each child reports, when asked to shut down, in which order it stopped.
    let order: Arc<Mutex<Vec<String>>> = Arc::default();
    let spec_child = |id: &str| {
        let order = order.clone();
        let id = id.to_string();
        ChildSpec::process(id.clone(), move |ctx| {
            let order = order.clone();
            let id = id.clone();
            async move {
                ctx.trap_exit(true);
                loop {
                    if let Signal::Exit(e) = ctx.recv().await {
                        order.lock().unwrap().push(id.clone());
                        return e.reason;
                    }
                }
            }
        })
    };
    let spec = SupervisorSpec::new(
        Strategy::OneForOne,
        vec![spec_child("a"), spec_child("b"), spec_child("c")],
    );
    let (tx, rx) = oneshot::channel();
    let parent = node.spawn(move |ctx| async move {
        let sup = supervisor::start_link(&ctx, spec, None).await.unwrap();
        let _ = tx.send(sup);
        forever(ctx).await
    });
    let sup = rx.await.unwrap();
    // The children trap exits: wait until they all run.
    eventually!(
        "three children",
        children(&node, &sup).await.iter().all(|(_, p)| p.is_some())
    );
    let kids: Vec<Pid> = children(&node, &sup)
        .await
        .into_iter()
        .map(|(_, p)| p.unwrap())
        .collect();
    let sup_down = watch(&node, &sup).await;

    node.exit(&parent, ExitReason::error("parent failed"));
    assert_eq!(down(sup_down).await, ExitReason::error("parent failed"));
    assert!(kids.iter().all(|k| !node.is_alive(k)));
    assert_eq!(*order.lock().unwrap(), ["c", "b", "a"]);
}

#[tokio::test]
async fn stop_and_shutdown_timeouts() {
    let (_net, node) = one_node(15).await;
    // A child that ignores Shutdown: killed after its timeout.
    let stubborn = ChildSpec::process("stubborn", |ctx| async move {
        ctx.trap_exit(true);
        forever(ctx).await
    })
    .shutdown(Shutdown::Timeout(Duration::from_millis(100)));
    let brutal = child("brutal").shutdown(Shutdown::BrutalKill);
    let spec = SupervisorSpec::new(Strategy::OneForOne, vec![stubborn, brutal, child("plain")]);
    let sup = supervisor::start(&node, spec, Some("s")).await.unwrap();
    let kids = children(&node, &sup).await;
    let stubborn = pid_of(&kids, "stubborn").unwrap();
    let brutal = pid_of(&kids, "brutal").unwrap();
    let plain = pid_of(&kids, "plain").unwrap();
    let stubborn_down = watch(&node, &stubborn).await;
    let brutal_down = watch(&node, &brutal).await;
    let plain_down = watch(&node, &plain).await;

    // terminate_child keeps the spec; restart_child brings it back.
    supervisor::terminate_child(&node, "s", "plain")
        .await
        .unwrap();
    assert_eq!(down(plain_down).await, ExitReason::Shutdown);
    assert_eq!(pid_of(&children(&node, &sup).await, "plain"), None);
    assert_eq!(
        supervisor::delete_child(&node, "s", "brutal").await,
        Err(SupervisorError::Running)
    );
    let plain = supervisor::restart_child(&node, "s", "plain")
        .await
        .unwrap();
    assert_eq!(
        supervisor::restart_child(&node, "s", "plain").await,
        Err(SupervisorError::Running)
    );
    supervisor::terminate_child(&node, "s", &plain)
        .await
        .unwrap();
    supervisor::delete_child(&node, "s", "plain").await.unwrap();
    assert_eq!(ids(&children(&node, &sup).await), ["stubborn", "brutal"]);
    assert_eq!(
        supervisor::terminate_child(&node, "s", "nobody").await,
        Err(SupervisorError::NotFound(ChildRef::Id("nobody".into())))
    );

    // start_child appends to a static supervisor; ids must be new.
    let late = supervisor::start_child(&node, "s", child("late"))
        .await
        .unwrap();
    assert_eq!(
        supervisor::start_child(&node, "s", child("late")).await,
        Err(SupervisorError::AlreadyStarted(late.clone()))
    );
    assert_eq!(
        ids(&children(&node, &sup).await),
        ["stubborn", "brutal", "late"]
    );

    let sup_down = watch(&node, &sup).await;
    let started = tokio::time::Instant::now();
    supervisor::stop(&node, "s", ExitReason::Shutdown)
        .await
        .unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(100),
        "waited for stubborn"
    );
    assert_eq!(down(brutal_down).await, ExitReason::Killed);
    assert_eq!(down(stubborn_down).await, ExitReason::Killed);
    assert_eq!(down(sup_down).await, ExitReason::Shutdown);
    assert!(!node.is_alive(&late));
}

#[tokio::test]
async fn nested_supervisors() {
    let (_net, node) = one_node(16).await;
    let inner = SupervisorSpec::new(Strategy::OneForOne, vec![child("leaf")]).intensity(0, 5);
    let spec = SupervisorSpec::new(
        Strategy::OneForOne,
        vec![
            ChildSpec::supervisor("inner", Some("inner"), inner),
            child("sibling"),
        ],
    );
    let top = supervisor::start(&node, spec, None).await.unwrap();
    assert_eq!(
        supervisor::count_children(&node, &top).await.unwrap(),
        ChildCounts {
            specs: 2,
            active: 2,
            supervisors: 1,
            workers: 1
        }
    );
    let inner1 = node.whereis("inner").unwrap();
    let leaf = pid_of(&children(&node, &inner1).await, "leaf").unwrap();
    // The leaf's crash exceeds the inner supervisor's intensity (0): the inner
    // supervisor exits with Shutdown and the top one restarts it.
    node.exit(&leaf, ExitReason::error("boom"));
    eventually!(
        "the inner supervisor to be restarted",
        node.whereis("inner").is_some_and(|p| p != inner1)
    );
    let inner2 = node.whereis("inner").unwrap();
    let leaf2 = pid_of(&children(&node, &inner2).await, "leaf").unwrap();
    assert_ne!(leaf, leaf2);
    assert!(node.is_alive(&top));
}

// ------------------------------------------------------------------ dynamic supervisors

/// The remote worker: registers its unique name, then obeys.
fn register_worker(node: &Node) {
    node.rpc_register_spawn("worker", "run", |ctx, name: String| async move {
        ctx.register(&name).unwrap();
        obedient(ctx).await
    });
}

#[tokio::test]
async fn dynamic_supervisor_local_and_remote_children() {
    let net = SimNet::new(17);
    let a = net.start_node("a@sim").await.unwrap();
    let b = net.start_node("b@sim").await.unwrap();
    assert!(b.connect(a.name()).await);
    register_worker(&a);
    let dsup = supervisor::start_dynamic(&a, DynamicSupervisorSpec::default(), Some("dsup"))
        .await
        .unwrap();
    assert!(children(&a, &dsup).await.is_empty());

    // Local: a ChildSpec given on the supervisor's node.
    let local = supervisor::start_child(&a, "dsup", child("local"))
        .await
        .unwrap();
    assert_eq!(local.node(), a.name());

    // A ChildSpec cannot travel to another node.
    assert_eq!(
        supervisor::start_child(&b, ("dsup", a.name()), child("nope")).await,
        Err(SupervisorError::NotLocal)
    );

    // Remote: from b, a worker registered on a, started on a under dsup.
    let remote_sup = ("dsup", a.name());
    let w1 = supervisor::start_child_remote(&b, remote_sup, "worker", "run", &"job-1".to_string())
        .await
        .unwrap();
    assert_eq!(
        w1.node(),
        a.name(),
        "the child lives on the supervisor's node"
    );
    assert!(a.is_alive(&w1));
    assert_eq!(a.whereis("job-1"), Some(w1.clone()));
    let kids = supervisor::which_children(&b, remote_sup).await.unwrap();
    assert_eq!(ids(&kids), ["local", "worker:run"]);

    // It crashes (an exit signal from b): restarted on a, under its name again.
    b.exit(&w1, ExitReason::error("boom"));
    eventually!(
        "the remote child to be restarted",
        pid_of(
            &supervisor::which_children(&b, remote_sup).await.unwrap(),
            "worker:run"
        )
        .is_some_and(|p| p != w1)
    );
    let w2 = pid_of(
        &supervisor::which_children(&b, remote_sup).await.unwrap(),
        "worker:run",
    )
    .unwrap();
    assert_eq!(w2.node(), a.name());
    assert!(!a.is_alive(&w1));
    assert!(a.is_alive(&w2));
    eventually!(
        "job-1 to be registered again",
        a.whereis("job-1") == Some(w2.clone())
    );
    assert_eq!(
        pid_of(&children(&a, &dsup).await, "local"),
        Some(local.clone()),
        "one-for-one"
    );

    // A transient remote child that finishes normally is forgotten.
    let spec = RemoteChildSpec::new("worker", "run", &"job-2".to_string())
        .id("job-2")
        .restart(Restart::Transient);
    let w3 = supervisor::start_remote_child(&b, remote_sup, spec)
        .await
        .unwrap();
    b.send(&w3, &"normal".to_string()).unwrap();
    eventually!(
        "job-2 to be forgotten",
        ids(&supervisor::which_children(&b, remote_sup).await.unwrap()) == ["local", "worker:run"]
    );

    // Errors: unknown function, terminate by pid, restart_child unsupported.
    assert_eq!(
        supervisor::start_child_remote(&b, remote_sup, "worker", "missing", &()).await,
        Err(SupervisorError::Undef("worker".into(), "missing".into()))
    );
    assert_eq!(
        supervisor::start_child_remote(&b, remote_sup, "worker", "run", &42u32)
            .await
            .map_err(|e| matches!(e, SupervisorError::StartFailed(_))),
        Err(true),
        "arguments of the wrong type fail the start"
    );
    assert!(matches!(
        supervisor::restart_child(&b, remote_sup, "local").await,
        Err(SupervisorError::NotSupported(_))
    ));
    supervisor::terminate_child(&b, remote_sup, &local)
        .await
        .unwrap();
    assert!(!a.is_alive(&local));
    assert_eq!(ids(&children(&a, &dsup).await), ["worker:run"]);

    // Killing the dynamic supervisor kills its children.
    a.exit(&dsup, ExitReason::Kill);
    eventually!("the remote child to die", !a.is_alive(&w2));
    assert_eq!(a.whereis("job-1"), None);
}

#[tokio::test]
async fn dynamic_supervisor_limits_and_intensity() {
    let (_net, node) = one_node(18).await;
    let base = node.process_count();
    let spec = DynamicSupervisorSpec::default()
        .max_children(2)
        .intensity(1, 5);
    let dsup = supervisor::start_dynamic(&node, spec, None).await.unwrap();
    let sup_down = watch(&node, &dsup).await;
    assert_eq!(
        supervisor::start_child(
            &node,
            &dsup,
            ChildSpec::worker("bad", |_| async { Err(ExitReason::error("no")) })
        )
        .await,
        Err(SupervisorError::StartFailed(ExitReason::error("no")))
    );
    let c1 = supervisor::start_child(&node, &dsup, child("w"))
        .await
        .unwrap();
    let c2 = supervisor::start_child(&node, &dsup, child("w"))
        .await
        .unwrap();
    assert_eq!(
        supervisor::start_child(&node, &dsup, child("w")).await,
        Err(SupervisorError::MaxChildren)
    );
    assert_eq!(
        supervisor::count_children(&node, &dsup)
            .await
            .unwrap()
            .active,
        2
    );

    node.exit(&c1, ExitReason::error("boom"));
    eventually!("c1 to be restarted", {
        let k = children(&node, &dsup).await;
        k.len() == 2 && k.iter().all(|(_, p)| p.as_ref().is_some_and(|p| *p != c1))
    });
    assert!(node.is_alive(&c2));
    // The second restart within 5 s exceeds an intensity of 1.
    node.exit(&c2, ExitReason::error("boom"));
    assert_eq!(down(sup_down).await, ExitReason::Shutdown);
    assert!(!node.is_alive(&c2));
    eventually!("every process to be gone", node.process_count() == base);
}

// ------------------------------------------------------------------ failed restarts

/// A child whose n-th start (from 1) fails when `fails(n)`.
fn flaky(id: &str, starts: Arc<Mutex<u32>>, fails: fn(u32) -> bool) -> ChildSpec {
    ChildSpec::worker(id, move |ctx| {
        let starts = starts.clone();
        async move {
            let n = {
                let mut s = starts.lock().unwrap();
                *s += 1;
                *s
            };
            if fails(n) {
                Err(ExitReason::error(format!("start {n} failed")))
            } else {
                Ok(ctx.spawn_link(obedient))
            }
        }
    })
}

#[tokio::test]
async fn a_failed_restart_is_retried() {
    let (_net, node) = one_node(19).await;
    let starts: Arc<Mutex<u32>> = Arc::default();
    let spec = SupervisorSpec::new(
        Strategy::OneForOne,
        vec![flaky("f", starts.clone(), |n| n == 2), child("other")],
    );
    let sup = supervisor::start(&node, spec, None).await.unwrap();
    let f = pid_of(&children(&node, &sup).await, "f").unwrap();
    node.exit(&f, ExitReason::error("boom"));
    // Start 2 (the restart) fails; the retry (start 3) succeeds.
    eventually!(
        "f to be running again",
        pid_of(&children(&node, &sup).await, "f").is_some_and(|p| p != f)
    );
    assert_eq!(*starts.lock().unwrap(), 3);
    assert!(node.is_alive(&sup));
}

#[tokio::test]
async fn restarts_that_keep_failing_exhaust_the_intensity() {
    let (_net, node) = one_node(20).await;
    let starts: Arc<Mutex<u32>> = Arc::default();
    let spec = SupervisorSpec::new(
        Strategy::OneForOne,
        vec![child("before"), flaky("f", starts.clone(), |n| n > 1)],
    )
    .intensity(3, 5);
    let sup = supervisor::start(&node, spec, None).await.unwrap();
    let before = pid_of(&children(&node, &sup).await, "before").unwrap();
    let sup_down = watch(&node, &sup).await;
    let f = pid_of(&children(&node, &sup).await, "f").unwrap();
    node.exit(&f, ExitReason::error("boom"));
    assert_eq!(down(sup_down).await, ExitReason::Shutdown);
    // The crash's restart and two retries were allowed; the third retry was not.
    assert_eq!(*starts.lock().unwrap(), 4);
    assert!(!node.is_alive(&before));
}
