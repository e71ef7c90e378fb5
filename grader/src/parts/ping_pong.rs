//! Part 1, ping-pong: producers broadcast numbered pings, consumers count them.
//!
//! Every stage starts its own cluster of real node processes. Expected
//! counts are tracked here, from the grader's own workload: producer node →
//! pings it was told to send.

use crate::harness::{ClusterView, Harness, StageError};
use crate::part::{Part, StageDef};
use crate::report::model::CheckKind;
use contracts::ping_pong::{
    ClusterCounts, ConsumerCall, Counts, Ping, ProducerCall, ProducerReply, CONSUMER,
    CONSUMER_SERVER, PRODUCER_SERVER,
};
use futures::FutureExt;
use netsplit::gen_server::{self, CallError};
use netsplit::NodeName;
use rand::Rng;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The part, with its five stages.
pub fn part() -> Part {
    Part::new(1, "ping-pong").stages(vec![
        StageDef {
            name: "Broadcast",
            points: 20,
            goal: "every consumer counts every producer's pings exactly",
            hint: "Problem 1: SendPings must abcast each ping to the consumer of every \
                       node, this one included (nodes_and_self), and a consumer keeps the \
                       highest count it has seen per producer.",
            lesson_anchor: "problem-1-broadcast",
            run: |h| broadcast(h).boxed(),
        },
        StageDef {
            name: "Counts",
            points: 20,
            goal: "get_counts gathers every consumer's counts and never waits past its timeout",
            hint: "Problem 2: use one multi_call over nodes_and_self with the timeout \
                       from the request; nodes that do not answer go in bad_nodes.",
            lesson_anchor: "problem-2-get_counts",
            run: |h| counts(h).boxed(),
        },
        StageDef {
            name: "Crash recovery",
            points: 20,
            goal: "a restarted consumer catches up by asking every producer",
            hint: "Problem 3: in the consumer's init, abcast SendCountTo(this node) to \
                       every producer; a producer answers with a Ping carrying its count.",
            lesson_anchor: "problem-3-crash-recovery",
            run: |h| crash_recovery(h).boxed(),
        },
        StageDef {
            name: "Late joiner",
            points: 20,
            goal: "a node that joins late catches up with every producer",
            hint: "Problem 4: the producer monitors nodes; on NodeUp it casts its \
                       current count as a Ping to the newcomer's consumer.",
            lesson_anchor: "problem-4-late-joiners",
            run: |h| late_joiner(h).boxed(),
        },
        StageDef {
            name: "Partition and heal",
            points: 20,
            goal: "nothing crosses a partition, counts converge after heal, and never go down",
            hint: "After a heal the nodes reconnect and see NodeUp again: the Problem 4 \
                       push brings both sides up to date. A count must never be replaced by \
                       a smaller one.",
            lesson_anchor: "problem-5-partitions",
            run: |h| partition_and_heal(h).boxed(),
        },
    ])
}

const THREE: [&str; 3] = ["n1", "n2", "n3"];
const CALL: Duration = Duration::from_secs(5);
const CONVERGE: Duration = Duration::from_secs(5);

/// Pings each producer node was told to send.
#[derive(Default, Clone)]
struct Sent(BTreeMap<String, u64>);

impl Sent {
    /// The counts a consumer that saw everything has, for the given producers.
    fn expected(&self, h: &Harness, producers: &[&str]) -> Counts {
        producers
            .iter()
            .filter_map(|p| {
                let n = *self.0.get(*p).unwrap_or(&0);
                (n > 0).then(|| (h.full(p), n))
            })
            .collect()
    }
}

/// Counts without zero entries (a producer never heard of counts 0).
fn normal(c: &Counts) -> Counts {
    c.iter()
        .filter(|(_, v)| **v > 0)
        .map(|(k, v)| (k.clone(), *v))
        .collect()
}

fn show(c: &Counts) -> String {
    let parts: Vec<String> = normal(c)
        .iter()
        .map(|(k, v)| format!("{}={v}", short(k)))
        .collect();
    format!("{{{}}}", parts.join(", "))
}

fn short(n: &NodeName) -> &str {
    n.as_str().split('@').next().unwrap_or(n.as_str())
}

fn explain(e: &CallError) -> String {
    match e {
        CallError::Exit(r) => format!("it crashed: {r}"),
        CallError::NoProc => "no such process is registered (did it crash and not restart?)".into(),
        CallError::Timeout => "no answer in time".into(),
        other => other.to_string(),
    }
}

async fn consumer_counts(view: &ClusterView, node: &str) -> Result<Counts, String> {
    view.ask(node, CONSUMER_SERVER, &ConsumerCall::Counts, CALL)
        .await
        .map_err(|e| format!("the consumer on {node} did not answer: {}", explain(&e)))
}

/// Every node of `shorts` sends a random number of pings, concurrently.
async fn ping_round(h: &mut Harness, sent: &mut Sent, shorts: &[&str]) -> Result<(), StageError> {
    let plan: Vec<(String, u64)> = shorts
        .iter()
        .map(|s| (s.to_string(), h.rng.gen_range(3..=25)))
        .collect();
    let view = h.view();
    let view = &view;
    let calls = plan.iter().map(|(s, n)| async move {
        let req = ProducerCall::SendPings(*n);
        view.ask(s, PRODUCER_SERVER, &req, CALL).await
    });
    let results = futures::future::join_all(calls).await;
    let desc: Vec<String> = plan.iter().map(|(s, n)| format!("{s}:{n}")).collect();
    h.mark(format!("pings sent {}", desc.join(" ")));
    for ((s, n), r) in plan.iter().zip(results) {
        let total = sent.0.entry(s.clone()).or_insert(0);
        *total += n;
        let want = *total;
        match r {
            Ok(ProducerReply::Count(c)) if c == want => {}
            Ok(other) => h.check(
                CheckKind::Safety,
                format!("the producer on {s} sends {n} pings and reports its total"),
                false,
                Some(format!("Count({want})")),
                Some(format!("{other:?}")),
            )?,
            Err(e) => h.check(
                CheckKind::Liveness,
                format!("the producer on {s} serves SendPings({n})"),
                false,
                Some(format!("Count({want})")),
                Some(explain(&e)),
            )?,
        }
    }
    Ok(())
}

/// Liveness: every consumer of `consumers` reaches exactly `want(consumer)`.
async fn converge(
    h: &mut Harness,
    what: &str,
    consumers: &[&str],
    want: impl Fn(&str) -> Counts,
) -> Result<(), StageError> {
    let view = h.view();
    let targets: Vec<(String, Counts)> =
        consumers.iter().map(|c| (c.to_string(), want(c))).collect();
    let expected = targets
        .iter()
        .map(|(s, w)| format!("{s}: {}", show(w)))
        .collect::<Vec<_>>()
        .join("; ");
    let (view, targets) = (&view, &targets);
    h.eventually(what, CONVERGE, expected, move || async move {
        let mut ok = true;
        let mut seen = vec![];
        for (s, want) in targets {
            match consumer_counts(view, s).await {
                Ok(c) => {
                    ok &= normal(&c) == *want;
                    seen.push(format!("{s}: {}", show(&c)));
                }
                Err(e) => {
                    ok = false;
                    seen.push(e);
                }
            }
        }
        if ok {
            Ok(())
        } else {
            Err(seen.join("; "))
        }
    })
    .await
}

/// Three meshed nodes whose producers sent `rounds` rounds of pings, every
/// consumer checked exact: where every stage starts.
async fn converged_cluster(h: &mut Harness, rounds: usize) -> Result<Sent, StageError> {
    let mut sent = Sent::default();
    h.start_nodes(&THREE).await?;
    h.mesh(&THREE).await?;
    for _ in 0..rounds {
        ping_round(h, &mut sent, &THREE).await?;
    }
    all_exact(
        h,
        &sent,
        &THREE,
        "every consumer counts every producer's pings exactly",
    )
    .await?;
    Ok(sent)
}

async fn all_exact(
    h: &mut Harness,
    sent: &Sent,
    nodes: &[&str],
    what: &str,
) -> Result<(), StageError> {
    let want = sent.expected(h, nodes);
    converge(h, what, nodes, |_| want.clone()).await
}

// ---------------------------------------------------------------------- stages

async fn broadcast(h: &mut Harness) -> Result<(), StageError> {
    let sent = converged_cluster(h, 3).await?;
    // A ping says "at least this many": a late one, older than what a
    // consumer already has (as a restarted or partitioned producer's can
    // be), must leave its count alone.
    let producer = h.full("n1");
    let count = sent
        .0
        .get("n1")
        .copied()
        .unwrap_or(0)
        .saturating_sub(2)
        .max(1);
    let stale = Ping { producer, count };
    for s in THREE {
        let consumer = h.full(s);
        let _ = gen_server::cast(h.control(), (CONSUMER, &consumer), &stale);
    }
    h.mark(format!(
        "the grader casts every consumer an older ping: n1 at {count}"
    ));
    tokio::time::sleep(h.scaled(Duration::from_millis(300))).await;
    let want = sent.expected(h, &THREE);
    let view = h.view();
    let mut lowered = vec![];
    for s in THREE {
        match consumer_counts(&view, s).await {
            Ok(c) if normal(&c) == want => {}
            Ok(c) => lowered.push(format!("{s} has {}, not {}", show(&c), show(&want))),
            Err(e) => lowered.push(e),
        }
    }
    h.safety("a late ping, older than the count, lowers no count")
        .expected(format!("every consumer still at {}", show(&want)))
        .no_violations(lowered)
}

async fn get_counts(
    h: &mut Harness,
    from: &str,
    timeout_ms: u64,
) -> Result<(Result<ClusterCounts, String>, Duration), StageError> {
    let req = ProducerCall::GetCounts { timeout_ms };
    let wait = Duration::from_millis(timeout_ms) + h.scaled(Duration::from_secs(4));
    let t0 = Instant::now();
    let r = h.ask(from, PRODUCER_SERVER, &req, wait).await;
    let took = t0.elapsed();
    let r = match r {
        Ok(ProducerReply::Cluster(c)) => Ok(c),
        Ok(other) => Err(format!("replied {other:?} instead of Cluster(..)")),
        Err(e) => Err(format!("GetCounts on {from}: {}", explain(&e))),
    };
    Ok((r, took))
}

/// Liveness: get_counts on n1 answers within its timeout (plus a scaled
/// margin) while something is wrong with n3.
async fn get_counts_in_time(
    h: &mut Harness,
    timeout_ms: u64,
    situation: &str,
) -> Result<ClusterCounts, StageError> {
    let (r, took) = get_counts(h, "n1", timeout_ms).await?;
    let limit = Duration::from_millis(timeout_ms) + h.scaled(Duration::from_millis(1500));
    let in_time = r.is_ok() && took <= limit;
    // A late answer that came once n1 had declared n3 down was ended by the
    // nodedown (after net_ticktime), not by the request's timeout: say so.
    let ended_by = if !in_time
        && !h
            .view()
            .nodes_of("n1")
            .await
            .is_ok_and(|n| n.iter().any(|m| m == "n3"))
    {
        format!(
            "; by then n1 had declared n3 down (no sign of life for net_ticktime), which is \
             what ended the call: the request's {timeout_ms} ms timeout did not"
        )
    } else {
        String::new()
    };
    h.check(
        CheckKind::Liveness,
        format!("get_counts on n1 returns within its {timeout_ms} ms timeout {situation}"),
        in_time,
        Some(format!("an answer within {} ms", limit.as_millis())),
        Some(match &r {
            Ok(_) => format!("answered after {} ms{ended_by}", took.as_millis()),
            Err(e) => format!("{e} (after {} ms){ended_by}", took.as_millis()),
        }),
    )?;
    Ok(r.unwrap_or_default())
}

fn show_cluster(c: &ClusterCounts) -> String {
    let mut parts: Vec<String> = c
        .counts
        .iter()
        .map(|(n, counts)| format!("{}: {}", short(n), show(counts)))
        .collect();
    let bad: Vec<&str> = c.bad_nodes.iter().map(short).collect();
    parts.push(format!("bad_nodes [{}]", bad.join(",")));
    parts.join("; ")
}

async fn counts(h: &mut Harness) -> Result<(), StageError> {
    let sent = converged_cluster(h, 1).await?;
    let want = sent.expected(h, &THREE);
    let fulls: Vec<NodeName> = THREE.iter().map(|s| h.full(s)).collect();

    for from in THREE {
        let (r, _) = get_counts(h, from, 1000).await?;
        let expected_all: BTreeMap<NodeName, Counts> =
            fulls.iter().map(|n| (n.clone(), want.clone())).collect();
        let expected = ClusterCounts {
            counts: expected_all.clone(),
            bad_nodes: vec![],
        };
        let ok = matches!(&r, Ok(c) if c.bad_nodes.is_empty()
            && c.counts.len() == 3
            && c.counts.iter().all(|(n, v)| expected_all.get(n) == Some(&normal(v))));
        h.check(
            CheckKind::Safety,
            format!("get_counts on {from} returns every node's counts"),
            ok,
            Some(show_cluster(&expected)),
            Some(r.map(|c| show_cluster(&c)).unwrap_or_else(|e| e)),
        )?;
    }

    // A node that is connected but does not answer: get_counts must give up on it.
    h.pause("n3").await?;
    let timeout_ms = 1000;
    let c = get_counts_in_time(h, timeout_ms, "while n3 is paused").await?;
    let n3 = h.full("n3");
    let ok = c.bad_nodes.contains(&n3)
        && !c.counts.contains_key(&n3)
        && ["n1", "n2"]
            .iter()
            .all(|s| c.counts.get(&h.full(s)).map(normal) == Some(want.clone()));
    h.check(
        CheckKind::Safety,
        "get_counts reports the paused n3 in bad_nodes and the others' counts exactly",
        ok,
        Some(format!("n1: {w}; n2: {w}; bad_nodes [n3]", w = show(&want))),
        Some(show_cluster(&c)),
    )?;
    h.resume("n3").await?;

    // A node that is gone: get_counts answers for the rest, without waiting on it.
    h.kill("n3").await?;
    let c = get_counts_in_time(h, timeout_ms, "after n3 was killed").await?;
    let ok = !c.counts.contains_key(&n3)
        && ["n1", "n2"]
            .iter()
            .all(|s| c.counts.get(&h.full(s)).map(normal) == Some(want.clone()));
    h.check(
        CheckKind::Safety,
        "after n3 is killed, get_counts returns n1's and n2's counts exactly",
        ok,
        Some(format!(
            "n1: {w}; n2: {w}; n3 absent or in bad_nodes",
            w = show(&want)
        )),
        Some(show_cluster(&c)),
    )
}

async fn crash_recovery(h: &mut Harness) -> Result<(), StageError> {
    let mut sent = converged_cluster(h, 1).await?;

    // A crash while nothing is in flight: the new consumer must ask.
    h.crash("n2", CONSUMER).await?;
    let want = sent.expected(h, &THREE);
    converge(
        h,
        "the restarted consumer on n2 catches up with every producer",
        &["n2"],
        |_| want.clone(),
    )
    .await?;

    // A crash while pings are in flight.
    let burst: Vec<(String, u64)> = ["n1", "n3"]
        .iter()
        .map(|s| (s.to_string(), h.rng.gen_range(150..=300)))
        .collect();
    let mut tasks = vec![];
    for (s, n) in &burst {
        let (view, s, n) = (h.view(), s.clone(), *n);
        tasks.push(tokio::spawn(async move {
            view.ask(&s, PRODUCER_SERVER, &ProducerCall::SendPings(n), CALL)
                .await
        }));
    }
    let delay = h.rng.gen_range(0..15);
    tokio::time::sleep(Duration::from_millis(delay)).await;
    h.mark(format!("{} and {} pings in flight", burst[0].1, burst[1].1));
    h.crash("n2", CONSUMER).await?;
    for ((s, n), t) in burst.iter().zip(tasks) {
        let total = sent.0.entry(s.clone()).or_insert(0);
        *total += n;
        let want = *total;
        let r = t
            .await
            .map_err(|e| StageError::Grader(format!("ping task: {e}")))?;
        if !matches!(r, Ok(ProducerReply::Count(c)) if c == want) {
            h.check(
                CheckKind::Liveness,
                format!("the producer on {s} serves SendPings({n})"),
                false,
                Some(format!("Count({want})")),
                Some(match r {
                    Ok(other) => format!("{other:?}"),
                    Err(e) => explain(&e),
                }),
            )?;
        }
    }
    all_exact(
        h,
        &sent,
        &THREE,
        "after a crash during a burst of pings, every consumer's counts are exact",
    )
    .await
}

async fn late_joiner(h: &mut Harness) -> Result<(), StageError> {
    let mut sent = converged_cluster(h, 2).await?;

    h.start_nodes(&["n4"]).await?;
    h.mark("n4 joins after the pings were sent");
    let four = ["n1", "n2", "n3", "n4"];
    h.connect_from("n4", &["n1"], &four, "n4 joins the mesh")
        .await?;
    let want = sent.expected(h, &four);
    converge(
        h,
        "the late joiner n4 catches up with every producer",
        &["n4"],
        |_| want.clone(),
    )
    .await?;

    ping_round(h, &mut sent, &four).await?;
    all_exact(
        h,
        &sent,
        &four,
        "with n4 in, every consumer's counts are exact",
    )
    .await
}

/// What the sampler saw: counts that went down, and the highest count seen
/// per (consumer, producer).
type Sampled = (Vec<String>, BTreeMap<(String, String), u64>);

/// Polls every consumer while a stage runs and remembers every count it saw
/// go down: the "never backwards" safety property.
struct Sampler {
    stop: Arc<tokio::sync::Notify>,
    task: tokio::task::JoinHandle<Sampled>,
}

impl Sampler {
    fn start(h: &Harness, nodes: &[&str]) -> Sampler {
        let view = h.view();
        let targets: Vec<String> = nodes.iter().map(|s| s.to_string()).collect();
        let stop = Arc::new(tokio::sync::Notify::new());
        let stopped = stop.clone();
        let task = tokio::spawn(async move {
            let mut highest: BTreeMap<(String, String), u64> = BTreeMap::new();
            let mut went_down = vec![];
            loop {
                for s in &targets {
                    let Ok(c) = consumer_counts(&view, s).await else {
                        continue;
                    };
                    for (p, v) in c {
                        let key = (s.clone(), short(&p).to_string());
                        let before = highest.entry(key).or_insert(0);
                        if v < *before {
                            went_down.push(format!(
                                "{s}'s count for {} went from {before} to {v}",
                                short(&p)
                            ));
                        }
                        *before = (*before).max(v);
                    }
                }
                tokio::select! {
                    _ = stopped.notified() => return (went_down, highest),
                    _ = tokio::time::sleep(Duration::from_millis(40)) => {}
                }
            }
        });
        Sampler { stop, task }
    }

    async fn finish(self) -> Result<Sampled, StageError> {
        self.stop.notify_one();
        self.task
            .await
            .map_err(|e| StageError::Grader(format!("sampler: {e}")))
    }
}

async fn partition_and_heal(h: &mut Harness) -> Result<(), StageError> {
    let mut sent = converged_cluster(h, 1).await?;
    let sampler = Sampler::start(h, &THREE);
    let before = sent.clone();

    h.partition(&[&["n1"], &["n2", "n3"]]).await?;
    ping_round(h, &mut sent, &THREE).await?;
    // Each side converges on its own pings...
    let (b, s) = (before.clone(), sent.clone());
    let mut n1_view = b.expected(h, &["n2", "n3"]);
    n1_view.extend(s.expected(h, &["n1"]));
    let mut big_view = b.expected(h, &["n1"]);
    big_view.extend(s.expected(h, &["n2", "n3"]));
    converge(
        h,
        "during the partition, each side counts its own side's pings",
        &THREE,
        |c| {
            if c == "n1" {
                n1_view.clone()
            } else {
                big_view.clone()
            }
        },
    )
    .await?;
    // ...and nothing crosses: watch a little longer.
    let view = h.view();
    let mut crossed = vec![];
    for _ in 0..6 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        for c in THREE {
            let want = if c == "n1" { &n1_view } else { &big_view };
            if let Ok(seen) = consumer_counts(&view, c).await {
                if normal(&seen) != *want {
                    crossed.push(format!("{c}: {}", show(&seen)));
                }
            }
        }
    }
    crossed.dedup();
    h.check(
        CheckKind::Safety,
        "no ping crosses the partition",
        crossed.is_empty(),
        Some(format!(
            "n1: {}; n2, n3: {}",
            show(&n1_view),
            show(&big_view)
        )),
        Some(if crossed.is_empty() {
            "as expected".into()
        } else {
            crossed.join("; ")
        }),
    )?;

    h.heal();
    h.mark("n1 reconnects to n2 and n3");
    h.connect_from(
        "n1",
        &["n2", "n3"],
        &THREE,
        "the healed cluster is one mesh again",
    )
    .await?;
    all_exact(
        h,
        &sent,
        &THREE,
        "after the heal, every consumer's counts are exact",
    )
    .await?;
    ping_round(h, &mut sent, &THREE).await?;
    all_exact(h, &sent, &THREE, "pings after the heal are counted exactly").await?;

    let (went_down, highest) = sampler.finish().await?;
    h.check(
        CheckKind::Safety,
        "no count ever went down (sampled every 40 ms)",
        went_down.is_empty(),
        Some("counts only grow".into()),
        Some(if went_down.is_empty() {
            "none did".into()
        } else {
            went_down.join("; ")
        }),
    )?;
    let over: Vec<String> = highest
        .iter()
        .filter(|((_, p), v)| **v > *sent.0.get(p).unwrap_or(&0))
        .map(|((c, p), v)| {
            format!(
                "{c} counted {v} pings from {p}, which sent {}",
                sent.0.get(p).unwrap_or(&0)
            )
        })
        .collect();
    h.check(
        CheckKind::Safety,
        "no count ever exceeded the pings actually sent",
        over.is_empty(),
        Some("counts ≤ pings sent".into()),
        Some(if over.is_empty() {
            "none did".into()
        } else {
            over.join("; ")
        }),
    )
}
