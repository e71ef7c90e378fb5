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
        control: None,
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
        control: None,
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
        control: None,
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

/// The grader's own node in [`busy_stage`].
pub const CONTROL: &str = "grader@127.0.0.1";

/// A stage shaped like a real one (ping-pong's partition and heal): the
/// mesh forming, a dense burst of pings, a long partition during which the
/// grader's sampler calls every node every 40 ms, a burst after the heal,
/// marks close together and one at the right edge, and the payload types
/// the runtime and the contracts really use.
pub fn busy_stage(number: u32) -> StageReport {
    const PING: &str = "contracts::ping_pong::Ping";
    const COUNTS: &str = "contracts::ping_pong::ConsumerCall";
    const REPLY: &str = "alloc::collections::btree::map::BTreeMap<netsplit::pid::NodeName, u64>";
    const GLOBAL_REQ: &str = "netsplit::global::server::Req";
    const GLOBAL_REP: &str = "netsplit::global::server::Rep";
    const RPC_REQ: &str = "netsplit::rpc::Request";
    const RPC_REP: &str = "netsplit::rpc::Response";
    let nodes = ["n1", "n2", "n3"];
    let mut messages = vec![];
    // The mesh forms: peer lists and the name server's calls, while the
    // grader connects the nodes by rpc.
    for (i, (a, b)) in [("n1", "n2"), ("n1", "n3"), ("n2", "n3")]
        .iter()
        .enumerate()
    {
        let t = 15_000 + i as u64 * 1_500;
        messages.push(msg(t, Some(t + 300), CONTROL, a, "call", Some(RPC_REQ)));
        messages.push(msg(
            t + 900,
            Some(t + 1_100),
            a,
            CONTROL,
            "reply",
            Some(RPC_REP),
        ));
        messages.push(msg(t + 350, Some(t + 500), a, b, "peers", None));
        messages.push(msg(t + 400, Some(t + 600), a, b, "call", Some(GLOBAL_REQ)));
        messages.push(msg(t + 650, Some(t + 800), b, a, "reply", Some(GLOBAL_REP)));
    }
    // A round of pings: every producer abcasts to the other two nodes.
    let ping_burst =
        |messages: &mut Vec<TimelineMessage>, start: u64, rounds: u64, pairs: &[(&str, &str)]| {
            for r in 0..rounds {
                for (j, (a, b)) in pairs.iter().enumerate() {
                    let t = start + r * 110 + j as u64 * 17;
                    messages.push(msg(
                        t,
                        Some(t + 140 + (r % 5) * 30),
                        a,
                        b,
                        "cast",
                        Some(PING),
                    ));
                }
            }
        };
    let all_pairs = [
        ("n1", "n2"),
        ("n1", "n3"),
        ("n2", "n1"),
        ("n2", "n3"),
        ("n3", "n1"),
        ("n3", "n2"),
    ];
    ping_burst(&mut messages, 70_000, 18, &all_pairs);
    // During the partition only n2 and n3 talk.
    ping_burst(&mut messages, 124_000, 8, &[("n2", "n3"), ("n3", "n2")]);
    // The grader's sampler: a call to every consumer every 40 ms.
    let mut t = 75_000;
    while t < 736_000 {
        for (j, n) in nodes.iter().enumerate() {
            let at = t + j as u64 * 200;
            messages.push(msg(at, Some(at + 150), CONTROL, n, "call", Some(COUNTS)));
            messages.push(msg(
                at + 180,
                Some(at + 260),
                n,
                CONTROL,
                "reply",
                Some(REPLY),
            ));
        }
        t += 40_000;
    }
    // After the heal: the name servers sync, then pings flow both ways.
    for (i, (a, b)) in [("n1", "n2"), ("n1", "n3")].iter().enumerate() {
        let t = 738_000 + i as u64 * 400;
        messages.push(msg(t, Some(t + 200), a, b, "call", Some(GLOBAL_REQ)));
        messages.push(msg(t + 250, Some(t + 400), b, a, "reply", Some(GLOBAL_REP)));
    }
    ping_burst(&mut messages, 739_500, 20, &all_pairs);
    messages.sort_by_key(|m| m.sent_us);

    let mut s = stage(number, "Partition and heal", StageStatus::Passed);
    s.duration_ms = 757;
    s.timeline = Timeline {
        nodes: nodes.iter().map(|n| n.to_string()).collect(),
        services: vec![],
        control: Some(CONTROL.into()),
        messages,
        bands: vec![FaultBand {
            kind: FaultKind::Partition,
            label: "partition {n1} | {n2,n3}".into(),
            nodes: nodes.iter().map(|n| n.to_string()).collect(),
            start_us: 72_600,
            end_us: Some(737_700),
        }],
        marks: vec![
            mark(71_800, "pings sent n1:14 n2:23 n3:12", None),
            mark(125_100, "pings sent n1:20 n2:9 n3:11", None),
            mark(737_750, "n1 reconnects to n2 and n3", None),
            mark(737_780, "the healed cluster is one mesh again", None),
            mark(743_300, "pings sent n1:22 n2:17 n3:16", None),
            mark(
                755_000,
                "no count ever went down (sampled every 40 ms)",
                None,
            ),
        ],
    };
    s
}
