//! The stage harness against real node processes (the ping-pong solution
//! serves as an ordinary node): every fault it injects takes effect and is
//! verified, and what it records is what the report shows.

use contracts::ping_pong::{ProducerCall, ProducerReply, CONSUMER, PRODUCER};
use grader::harness::{Harness, StageSetup};
use grader::net::fabric::PartitionMode;
use grader::report::model::FaultKind;
use grader::run::output::Output;
use std::time::{Duration, Instant};

async fn harness(dir: &std::path::Path) -> Harness {
    let out = Output::new(false);
    let binary = grader::builder::build("ping-pong-solution", None, None, &out)
        .expect("the solution builds");
    let setup = StageSetup {
        binary,
        number: 1,
        seed: 3,
        time_scale: 2.0,
        dir: dir.to_path_buf(),
    };
    Harness::new(setup, out).await.expect("harness starts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_take_effect_and_are_verified() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = harness(dir.path()).await;
    let three = ["n1", "n2", "n3"];
    h.start_nodes(&three).await.unwrap();
    h.mesh(&three).await.unwrap();
    // The grader is connected to every node but listed by none: it is hidden.
    let seen: Vec<netsplit::NodeName> = h.rpc("n1", "erlang", "nodes", &()).await.unwrap();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert!(seen.iter().all(|n| !n.as_str().starts_with("grader@")));

    // Crash: a new pid, registered again by the supervisor.
    let old = h.whereis("n2", CONSUMER).await.unwrap().unwrap();
    let new = h.crash("n2", CONSUMER).await.unwrap();
    assert_ne!(old, new);
    assert_eq!(h.whereis("n2", CONSUMER).await.unwrap(), Some(new));

    // Pause: a paused node does not answer, a resumed one does.
    h.pause("n3").await.unwrap();
    let r = h
        .call::<_, ProducerReply>(
            "n3",
            PRODUCER,
            &ProducerCall::CurrentCount,
            Duration::from_millis(300),
        )
        .await;
    assert!(r.is_err(), "a paused node answered: {r:?}");
    h.resume("n3").await.unwrap();
    let r = h
        .call::<_, ProducerReply>(
            "n3",
            PRODUCER,
            &ProducerCall::CurrentCount,
            Duration::from_secs(5),
        )
        .await;
    assert_eq!(r, Ok(ProducerReply::Count(0)));

    // Restart: same name, new incarnation, and nobody but the grader connected.
    h.restart("n2").await.unwrap();
    let peers: Vec<netsplit::NodeName> = h.rpc("n2", "erlang", "nodes", &()).await.unwrap();
    assert!(
        peers.is_empty(),
        "a restarted node reconnected by itself: {peers:?}"
    );
    h.mesh(&three).await.unwrap();

    // Latency on n1 <-> n2 slows n1's multi_call to n2's consumer.
    h.latency("n1", "n2", Duration::from_millis(150));
    let t0 = Instant::now();
    let r = h
        .call::<_, ProducerReply>(
            "n1",
            PRODUCER,
            &ProducerCall::GetCounts { timeout_ms: 3000 },
            Duration::from_secs(5),
        )
        .await;
    assert!(matches!(r, Ok(ProducerReply::Cluster(_))), "{r:?}");
    assert!(
        t0.elapsed() >= Duration::from_millis(300),
        "latency not applied: {:?}",
        t0.elapsed()
    );
    h.heal();

    // A silent partition is only noticed through ticks, and it is noticed.
    h.partition_with(&[&["n1"], &["n2", "n3"]], PartitionMode::Blackhole)
        .await
        .unwrap();
    let n1_peers: Vec<netsplit::NodeName> = h.rpc("n1", "erlang", "nodes", &()).await.unwrap();
    assert!(n1_peers.is_empty(), "{n1_peers:?}");
    h.heal();

    // Kill: the node is gone and seen gone.
    h.kill("n3").await.unwrap();
    assert!(!h
        .control()
        .nodes_connected()
        .iter()
        .any(|n| n.as_str().starts_with("n3@")));

    let record = h.finish();
    assert!(record.checks.iter().all(|c| c.passed));
    let kinds: Vec<FaultKind> = record.bands.iter().map(|b| b.kind).collect();
    for k in [
        FaultKind::Crash,
        FaultKind::Pause,
        FaultKind::Kill,
        FaultKind::Latency,
        FaultKind::Partition,
    ] {
        assert!(kinds.contains(&k), "no {k:?} band in {kinds:?}");
    }
    assert!(
        record.bands.iter().all(|b| b.end_us.is_some()),
        "bands are closed at the end"
    );
    assert_eq!(record.lanes, vec!["n1", "n2", "n3"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_cannot_start_fails_the_check_with_its_log() {
    let dir = tempfile::tempdir().unwrap();
    let out = Output::new(false);
    // `false` exits at once without signalling readiness.
    let setup = StageSetup {
        binary: "false".into(),
        number: 1,
        seed: 1,
        time_scale: 1.0,
        dir: dir.path().to_path_buf(),
    };
    let mut h = Harness::new(setup, out).await.unwrap();
    let r = h.start_nodes(&["n1"]).await;
    assert!(
        matches!(r, Err(grader::harness::StageError::Failed)),
        "{r:?}"
    );
    let record = h.finish();
    let check = &record.checks[0];
    assert!(!check.passed);
    assert!(check.name.contains("n1 starts"), "{}", check.name);
    let actual = check.actual.as_deref().unwrap_or("");
    assert!(actual.contains("exited"), "{actual}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checks_record_expected_and_actual_and_end_the_stage_when_they_fail() {
    use grader::harness::StageError;
    use grader::report::model::CheckKind;
    let dir = tempfile::tempdir().unwrap();
    let mut h = harness(dir.path()).await;
    h.safety("counts agree").equals(3, 3).unwrap();
    let r = h
        .liveness("it answered")
        .expected("an answer")
        .actual("none")
        .holds(false);
    assert!(matches!(r, Err(StageError::Failed)));
    let many: Vec<String> = (1..=10).map(|i| format!("n{i} went down")).collect();
    let r = h.safety("no count went down").no_violations(many);
    assert!(matches!(r, Err(StageError::Failed)));
    h.safety("nothing crossed").no_violations(vec![]).unwrap();
    let e = h.fail(CheckKind::Safety, "a wrong redirect", "302 /a", "302 /b");
    assert!(matches!(e, StageError::Failed));
    // A view answers while the harness records checks.
    let view = h.view();
    assert_eq!(view.full("n1").as_str(), "n1@127.0.0.1");
    let v = &view;
    let seen = h
        .eventually(
            "the view is usable inside eventually",
            Duration::from_secs(1),
            "",
            move || async move { Ok::<_, String>(v.reaches("n9")) },
        )
        .await
        .unwrap();
    assert!(!seen);

    let checks = h.finish().checks;
    let names: Vec<(&str, bool)> = checks.iter().map(|c| (c.name.as_str(), c.passed)).collect();
    assert_eq!(
        names,
        [
            ("counts agree", true),
            ("it answered", false),
            ("no count went down", false),
            ("nothing crossed", true),
            ("a wrong redirect", false),
            ("the view is usable inside eventually", true),
        ]
    );
    assert_eq!(checks[0].expected.as_deref(), Some("3"));
    assert_eq!(checks[1].kind, CheckKind::Liveness);
    let listed = checks[2].actual.as_deref().unwrap();
    assert!(
        listed.starts_with("10 violation(s): n1 went down; "),
        "{listed}"
    );
    assert!(listed.ends_with("(and 2 more)"), "{listed}");
    assert_eq!(checks[3].actual.as_deref(), Some("none"));
    assert_eq!(checks[4].actual.as_deref(), Some("302 /b"));
}

/// A wait whose probe says its goal can no longer happen fails at once, with
/// that reason, not at its deadline with a misleading timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wait_that_can_no_longer_succeed_fails_at_once_saying_why() {
    use grader::harness::{StageError, Wait};
    let dir = tempfile::tempdir().unwrap();
    let mut h = harness(dir.path()).await;
    let t0 = Instant::now();
    let mut polls = 0;
    let r: Result<(), StageError> = h
        .eventually_unless(
            "every map task is done",
            Duration::from_secs(30),
            "16/16",
            || {
                polls += 1;
                let n = polls;
                async move {
                    Err(if n < 3 {
                        Wait::NotYet(format!("poll {n}"))
                    } else {
                        Wait::Never("the job finished early".into())
                    })
                }
            },
        )
        .await;
    assert!(matches!(r, Err(StageError::Failed)));
    assert!(t0.elapsed() < Duration::from_secs(5), "{:?}", t0.elapsed());
    let checks = h.finish().checks;
    assert_eq!(checks.len(), 1);
    assert_eq!(checks[0].name, "every map task is done");
    assert_eq!(checks[0].actual.as_deref(), Some("the job finished early"));
}
