//! A stage with a real Redis behind the fabric, against real node processes
//! (the `fixture-node` binary: a store client, an HTTP port and a client
//! port), driven through the grader's own HTTP and JSON-lines probes.

use grader::harness::{Harness, StageError, StageSetup, STORE};
use grader::net::fabric::Policy;
use grader::run::output::Output;
use grader::services::redis::Persistence;
use std::time::Duration;

/// The fixture node: a store client, an HTTP port and a client port.
fn fixture_node() -> std::path::PathBuf {
    env!("CARGO_BIN_EXE_fixture-node").into()
}

async fn harness(dir: &std::path::Path) -> Harness {
    let setup = StageSetup {
        binary: fixture_node(),
        number: 1,
        seed: 1,
        time_scale: 2.0,
        dir: dir.to_path_buf(),
    };
    Harness::new(setup, Output::new(false))
        .await
        .expect("harness starts")
}

/// Starts the store and nodes `shorts`, each pointed at its own store link.
async fn cluster_with_store(h: &mut Harness, shorts: &[&str]) {
    h.start_store(Persistence::None)
        .await
        .expect("redis-server starts");
    let urls: Vec<(String, String)> = shorts
        .iter()
        .map(|s| (s.to_string(), h.store_url(s).unwrap()))
        .collect();
    h.start_nodes_with(shorts, |s| {
        let url = &urls.iter().find(|(n, _)| n == s).unwrap().1;
        vec!["--redis-url".into(), url.clone()]
    })
    .await
    .expect("nodes start");
}

async fn store_status(h: &mut Harness, short: &str) -> Option<u16> {
    h.http(short).unwrap().get("/store").await.status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_cut_from_the_store_cannot_reach_it_while_the_others_can() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = harness(dir.path()).await;
    let three = ["n1", "n2", "n3"];
    cluster_with_store(&mut h, &three).await;
    for n in three {
        assert_eq!(
            store_status(&mut h, n).await,
            Some(200),
            "{n} reaches the store"
        );
    }
    let before = h.store_traffic("n1");
    assert!(before.commands >= 1 && before.replies >= 1, "{before:?}");

    h.cut_store("n1").await.unwrap();
    let ex = h.http("n1").unwrap().get("/store").await;
    assert_eq!(
        ex.status,
        Some(503),
        "n1 still reached the store: {}",
        ex.describe()
    );
    for n in ["n2", "n3"] {
        assert_eq!(
            store_status(&mut h, n).await,
            Some(200),
            "{n} lost the store too"
        );
    }
    // Nothing of n1's reached the store while it was cut.
    let after = h.store_traffic("n1");
    assert_eq!(after.commands, before.commands, "{before:?} → {after:?}");
    assert!(
        h.link_stats("n1", STORE).connections_refused >= 1,
        "n1's new connections to the store were refused"
    );

    // Healed, it reaches the store again with nothing restarted.
    h.store_link("n1", Policy::Pass);
    assert_eq!(store_status(&mut h, "n1").await, Some(200));

    // A partition that puts the store on one side cuts the other side off.
    h.mesh(&three).await.unwrap();
    h.partition(&[&["n1"], &["n2", "n3", STORE]]).await.unwrap();
    assert_eq!(store_status(&mut h, "n1").await, Some(503));
    assert_eq!(store_status(&mut h, "n2").await, Some(200));
    h.heal();

    let record = h.finish();
    assert_eq!(record.services, vec![STORE.to_string()]);
    assert!(record.lanes.iter().any(|l| l == STORE));
    // Store traffic is counted per link (RESP messages) and drawn on its lane.
    let n2_out = record
        .traffic
        .iter()
        .find(|t| t.from == "n2" && t.to == STORE);
    assert!(
        n2_out.is_some_and(|t| t.frames >= 2 && t.bytes > 0),
        "{:?}",
        record.traffic
    );
    assert!(record
        .extra_messages
        .iter()
        .any(|m| m.kind == "store" && m.to == STORE));
    // Every HTTP request is a mark on its node's lane.
    let n1_marks = record
        .marks
        .iter()
        .filter(|m| m.lane.as_deref() == Some("n1") && m.label.starts_with("GET /store"))
        .count();
    assert_eq!(n1_marks, 4, "{:?}", record.marks);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_can_be_killed_paused_and_restarted_with_or_without_its_data() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = harness(dir.path()).await;
    h.start_store(Persistence::AppendOnly).await.unwrap();
    let url = h.store_direct_url().unwrap();
    let set = |v: &'static str| {
        let url = url.clone();
        async move {
            let c = redis::Client::open(url.as_str()).unwrap();
            let mut conn = c.get_multiplexed_async_connection().await.unwrap();
            redis::cmd("SET")
                .arg("k")
                .arg(v)
                .query_async::<()>(&mut conn)
                .await
                .unwrap();
        }
    };
    set("one").await;
    h.kill_store().await.unwrap();
    assert!(
        grader::services::redis::ping(&url, Duration::from_millis(300))
            .await
            .is_err()
    );
    h.restart_store(true).await.unwrap();
    h.check_store_holds("k", "one").await.unwrap();

    // Paused: connections hang, nothing answers; resumed: it answers again.
    h.pause_store().await.unwrap();
    let r = grader::services::redis::ping(&url, Duration::from_millis(300)).await;
    assert!(r.is_err(), "a paused store answered");
    h.resume_store().await.unwrap();
    grader::services::redis::ping(&url, Duration::from_secs(2))
        .await
        .unwrap();

    // Restarted without its data: empty.
    h.restart_store(false).await.unwrap();
    let r = h.check_store_holds("k", "one").await;
    assert!(
        matches!(r, Err(StageError::Failed)),
        "the data survived: {r:?}"
    );
    let _ = h.finish();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probes_record_statuses_redirects_latency_and_client_events() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = harness(dir.path()).await;
    h.start_store(Persistence::None).await.unwrap();
    let url = h.store_url("n1").unwrap();
    h.start_nodes_with(&["n1"], |_| vec!["--redis-url".into(), url.clone()])
        .await
        .unwrap();
    let http = h.http("n1").unwrap();
    let ex = http.get("/ping").await;
    assert_eq!((ex.status, ex.body.as_str()), (Some(200), "pong"));
    // A redirect is an answer, not followed.
    let ex = http.get("/go").await;
    assert_eq!(ex.status, Some(302));
    assert_eq!(ex.header("Location"), Some("/ping"));
    assert_eq!(http.get("/nothing-here").await.status, Some(404));
    // Malformed requests go raw and still get a status.
    let ex = http
        .raw(b"GET /ping HTTP/1.1\r\nno colon here\r\n\r\n")
        .await;
    assert_eq!(ex.status, Some(400), "{}", ex.describe());
    assert!(http.latencies().summary().count >= 3);
    h.report_latency("requests to n1", &http.latencies());

    let mut client = h.line_client("n1").await.unwrap();
    client
        .send(&serde_json::json!({"type": "hello"}))
        .await
        .unwrap();
    let e = client.next_event(Duration::from_secs(2)).await.unwrap();
    assert_eq!(e.str("type"), Some("echo"));
    client.send_line("not json").await.unwrap();
    let e = client
        .wait_for(Duration::from_secs(2), |e| e.str("type") == Some("error"))
        .await
        .unwrap();
    assert_eq!(e.json.unwrap()["code"], "bad_json");
    // Nothing more comes: the wait ends at its bound, with what it saw.
    let miss = client
        .next_event(Duration::from_millis(200))
        .await
        .unwrap_err();
    assert!(!miss.closed && miss.seen.is_empty(), "{miss}");

    // A request to a paused node times out instead of hanging.
    h.pause("n1").await.unwrap();
    let ex = http.get("/ping").await;
    assert_eq!(ex.status, None);
    assert!(
        ex.error.as_deref().unwrap_or("").contains("timed out"),
        "{}",
        ex.describe()
    );
    h.resume("n1").await.unwrap();
    let record = h.finish();
    let measured = &record.latencies[0];
    assert_eq!(measured.name, "requests to n1");
    assert!(measured.count >= 3 && measured.p50_us > 0 && measured.max_us >= measured.p99_us);
    assert!(record
        .marks
        .iter()
        .any(|m| m.lane.as_deref() == Some("n1") && m.label.starts_with("client ←")));
}
