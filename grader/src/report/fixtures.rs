//! A small but complete report shared by the renderers' tests.

use super::model::*;

fn msg(
    sent: u64,
    recv: Option<u64>,
    from: &str,
    to: &str,
    kind: &str,
    ty: Option<&str>,
) -> TimelineMessage {
    TimelineMessage {
        sent_us: sent,
        received_us: recv,
        from: from.into(),
        to: to.into(),
        kind: kind.into(),
        type_name: ty.map(Into::into),
        bytes: 24,
    }
}

fn stage(number: u32, name: &str, status: StageStatus) -> StageReport {
    StageReport {
        number,
        name: name.into(),
        goal: format!("goal of {name}"),
        points: if status == StageStatus::Passed { 2 } else { 0 },
        max_points: 2,
        status,
        duration_ms: 1500,
        checks: vec![],
        hint: String::new(),
        lesson: String::new(),
        error: None,
        timeline: Timeline::default(),
        traffic: vec![],
        latencies: vec![],
        bonus: false,
    }
}

fn mark(at_us: u64, label: &str, lane: Option<&str>) -> Mark {
    Mark {
        at_us,
        label: label.into(),
        lane: lane.map(Into::into),
    }
}

/// Three nodes and the grader's store: requests and replies to it, a node
/// killed for good, a mark of the whole stage and lane marks, some close
/// together and one at the right edge (the layout's hard cases).
fn store_timeline(nodes: &[String]) -> Timeline {
    let (n1, n2, n3) = (nodes[0].as_str(), nodes[1].as_str(), nodes[2].as_str());
    Timeline {
        nodes: [nodes, &["store".to_string()]].concat(),
        services: vec!["store".into()],
        messages: vec![
            msg(40_000, Some(41_500), n1, "store", "store", Some("SET")),
            msg(42_000, Some(43_000), "store", n1, "store", Some("OK")),
            msg(60_000, Some(62_000), n1, n3, "cast", Some("kv::Replicate")),
            msg(90_000, Some(91_000), n3, "store", "store", Some("GET")),
            msg(92_000, Some(93_500), "store", n3, "store", Some("bulk")),
            msg(150_000, Some(152_000), n2, n1, "call", Some("kv::Get")),
            msg(153_000, Some(155_000), n1, n2, "reply", Some("kv::Value")),
            msg(400_000, None, n1, n2, "call", Some("kv::Get")),
            msg(
                1_200_000,
                Some(1_202_000),
                n3,
                "store",
                "store",
                Some("GET"),
            ),
            msg(
                1_203_000,
                Some(1_204_500),
                "store",
                n3,
                "store",
                Some("bulk"),
            ),
        ],
        bands: vec![FaultBand {
            kind: FaultKind::Kill,
            label: "kill n2".into(),
            nodes: vec![n2.to_string()],
            start_us: 300_000,
            end_us: None,
        }],
        marks: vec![
            mark(5_000, "FLUSHDB", Some("store")),
            mark(38_000, "PUT /kv/a = 1", Some("n1")),
            mark(45_000, "GET /kv/a → 200 \"1\"", Some("n1")),
            mark(52_000, "GET /kv/b → 404", Some("n1")),
            mark(140_000, "GET /kv/a → 200 \"1\"", Some("n2")),
            mark(350_000, "restart n2", None),
            mark(420_000, "GET /kv/a → connection refused", Some("n2")),
            mark(1_480_000, "GET /kv/a → 200 \"1\" after 1.2 s", Some("n3")),
        ],
    }
}

/// Five stages, one per status; the failed one has a full timeline, the
/// inconclusive one a timeline with the grader's store.
pub fn sample_report() -> RunReport {
    let nodes = vec![
        "n1@127.0.0.1".to_string(),
        "n2@127.0.0.1".to_string(),
        "n3@127.0.0.1".to_string(),
    ];
    let mut s1 = stage(1, "Ping", StageStatus::Passed);
    s1.checks = vec![CheckReport {
        name: "every ping answered".into(),
        kind: CheckKind::Safety,
        passed: true,
        expected: Some("100 pongs".into()),
        actual: Some("100 pongs".into()),
        at_ms: 800,
    }];
    s1.timeline = Timeline {
        nodes: nodes[..2].to_vec(),
        services: vec![],
        messages: vec![
            msg(
                1_000,
                Some(1_400),
                "n1@127.0.0.1",
                "n2@127.0.0.1",
                "send",
                Some("ping::Ping"),
            ),
            msg(
                1_500,
                Some(1_900),
                "n2@127.0.0.1",
                "n1@127.0.0.1",
                "reply",
                Some("ping::Pong"),
            ),
        ],
        bands: vec![],
        marks: vec![Mark {
            at_us: 800_000,
            label: "check passed".into(),
            lane: None,
        }],
    };

    let mut s2 = stage(2, "Partition", StageStatus::Failed);
    s2.checks = vec![
        CheckReport {
            name: "nothing crosses the partition".into(),
            kind: CheckKind::Safety,
            passed: true,
            expected: None,
            actual: None,
            at_ms: 1200,
        },
        CheckReport {
            name: "n1 sees n3 down".into(),
            kind: CheckKind::Liveness,
            passed: false,
            expected: Some("nodedown within 500ms".into()),
            actual: Some("no nodedown after 1500ms".into()),
            at_ms: 1500,
        },
    ];
    s2.hint = "Monitors must fire when the connection drops.".into();
    s2.lesson = "lessons/02-monitors.md#nodedown".into();
    s2.timeline = Timeline {
        nodes: nodes.clone(),
        services: vec![],
        messages: vec![
            msg(
                10_000,
                Some(10_300),
                "n1@127.0.0.1",
                "n2@127.0.0.1",
                "cast",
                Some("kv::Put"),
            ),
            msg(
                20_000,
                None,
                "n1@127.0.0.1",
                "n3@127.0.0.1",
                "monitor",
                None,
            ),
            msg(
                900_000,
                Some(900_000),
                "n3@127.0.0.1",
                "n2@127.0.0.1",
                "down",
                None,
            ),
        ],
        bands: vec![
            FaultBand {
                kind: FaultKind::Partition,
                label: "partition {n1} | {n2,n3}".into(),
                nodes: nodes.clone(),
                start_us: 100_000,
                end_us: Some(700_000),
            },
            FaultBand {
                kind: FaultKind::Kill,
                label: "kill n3".into(),
                nodes: vec![nodes[2].clone()],
                start_us: 1_000_000,
                end_us: None,
            },
        ],
        marks: vec![Mark {
            at_us: 500_000,
            label: "deadline".into(),
            lane: None,
        }],
    };

    let mut s3 = stage(3, "Crash", StageStatus::GraderError);
    s3.error = Some("could not bind the proxy port".into());
    let mut s4 = stage(4, "Restart", StageStatus::Inconclusive);
    s4.error = Some("n2 never came up".into());
    s4.timeline = store_timeline(&nodes);
    let s5 = stage(5, "Heal", StageStatus::Skipped);

    RunReport {
        schema: SCHEMA_VERSION,
        part: "ping-pong".into(),
        title: "Part 1: ping-pong".into(),
        target: "solution".into(),
        seed: 42,
        time_scale: 1.0,
        started_at: "2025-01-02T03:04:05Z".into(),
        duration_ms: 6000,
        score: 2,
        max: 10,
        replay: "cargo run -p grader -- ping-pong --seed 42 --target solution".into(),
        instructor: None,
        bonus_score: 0,
        bonus_max: 0,
        stages: vec![s1, s2, s3, s4, s5],
    }
}
