//! Part 4, improved shortener: links cached by their owner on a consistent
//! hash ring, and view counts as G-counters every node converges on.
//!
//! Part 3's helpers do the HTTP side (`super::shortener`); the ring is read
//! through the contract's ring server on each node, and costs are read on
//! the fabric. One module per stage.

mod counts;
mod efficiency;
mod partition;
mod restart;
mod ring;
mod routing;

use crate::harness::{ClusterView, Harness, StageError};
use crate::part::{Part, Service, StageDef};
use crate::probes::http::HttpProbe;
use contracts::shortener_improved::{RingCall, RingReply, Stats, RING_SERVER};
use futures::FutureExt;
use netsplit::NodeName;
use rand::Rng;
use std::collections::BTreeMap;
use std::time::Duration;

/// The part, with its six stages.
pub fn part() -> Part {
    Part::new(4, "shortener-improved")
        .needs(Service::Redis)
        .stages(vec![
            StageDef {
                name: "Ring",
                points: 15,
                goal: "every node computes the same owners; balanced; a join or leave moves only its share",
                hint: "Problem 1: hash with a function that is the same in every process (no \
                       random seed), give each node many points on the ring, and rebuild the \
                       ring on every NodeUp and every NodeDown.",
                lesson_anchor: "problem-1-the-ring",
                run: |h| ring::stage(h).boxed(),
            },
            StageDef {
                name: "Routing",
                points: 20,
                goal: "a link is cached on its owner only; other nodes ask the owner, then the store",
                hint: "Problem 2: a create casts the link to its owner only; a redirect on another \
                       node calls the owner (bounded), reads the store on a miss or a timeout, \
                       and fills the owner.",
                lesson_anchor: "problem-2-routing",
                run: |h| routing::stage(h).boxed(),
            },
            StageDef {
                name: "Counts",
                points: 15,
                goal: "every node's stats converge to the exact number of redirects served",
                hint: "Problem 3: count a view only when a 302 is served, in this node's own \
                       slot; merge other nodes' counters slot by slot with max, never with +.",
                lesson_anchor: "problem-3-view-counts",
                run: |h| counts::stage(h).boxed(),
            },
            StageDef {
                name: "Partition and heal",
                points: 15,
                goal: "each side counts what it saw; after heal every node has the total; counts never drop",
                hint: "Problem 4: on every NodeUp, ask the newcomer's counter for everything it \
                       holds (SendAllTo): views pushed while apart never reached the other side.",
                lesson_anchor: "partitions",
                run: |h| partition::stage(h).boxed(),
            },
            StageDef {
                name: "Restart",
                points: 20,
                goal: "a node killed and restarted neither loses nor hides views",
                hint: "Problem 4: a restarted node must not start its own slot at 0 under the \
                       old key: count in a slot of its new incarnation (Slot has the creation), \
                       and get the old slots back from its peers on NodeUp.",
                lesson_anchor: "problem-4-restarts",
                run: |h| restart::stage(h).boxed(),
            },
            StageDef {
                name: "Efficiency",
                points: 15,
                goal: "creates, redirects and views cost few messages on the fabric",
                hint: "A create goes to one owner, not to every node; views are pushed in \
                       batches, once per interval, not once per redirect.",
                lesson_anchor: "what-it-costs",
                run: |h| efficiency::stage(h).boxed(),
            },
        ])
}

/// How long counts may take to converge (pushes every 200 ms in the
/// solution; the deadline only fails a node that never converges).
const CONVERGE: Duration = Duration::from_secs(5);

/// Random valid codes, as many as asked.
fn codes(h: &mut Harness, n: usize) -> Vec<String> {
    (0..n)
        .map(|_| {
            let v: u64 = h.rng.gen();
            format!("{v:012x}")
        })
        .collect()
}

/// Node `short`'s owner of each code.
async fn owners(
    view: &ClusterView,
    short: &str,
    codes: &[String],
) -> Result<Vec<NodeName>, String> {
    let req = RingCall::Owners(codes.to_vec());
    match view
        .ask(short, RING_SERVER, &req, Duration::from_secs(5))
        .await
    {
        Ok(RingReply::Owners(o)) if o.len() == codes.len() => Ok(o),
        Ok(other) => Err(format!("{short} answered Owners with {}", brief(&other))),
        Err(e) => Err(format!("{short}'s ring server did not answer: {e}")),
    }
}

/// Whether node `short` caches each code.
async fn cached(view: &ClusterView, short: &str, codes: &[String]) -> Result<Vec<bool>, String> {
    let req = RingCall::Cached(codes.to_vec());
    match view
        .ask(short, RING_SERVER, &req, Duration::from_secs(5))
        .await
    {
        Ok(RingReply::Cached(c)) if c.len() == codes.len() => Ok(c),
        Ok(other) => Err(format!("{short} answered Cached with {}", brief(&other))),
        Err(e) => Err(format!("{short}'s ring server did not answer: {e}")),
    }
}

/// The members of node `short`'s ring.
async fn members(view: &ClusterView, short: &str) -> Result<Vec<NodeName>, String> {
    match view
        .ask(
            short,
            RING_SERVER,
            &RingCall::Members,
            Duration::from_secs(2),
        )
        .await
    {
        Ok(RingReply::Members(m)) => Ok(m),
        Ok(other) => Err(format!("{short} answered Members with {}", brief(&other))),
        Err(e) => Err(format!("{short}'s ring server did not answer: {e}")),
    }
}

fn brief(r: &RingReply) -> String {
    match r {
        RingReply::Owners(o) => format!("{} owners", o.len()),
        RingReply::Cached(c) => format!("{} answers", c.len()),
        RingReply::Members(m) => format!("{} members", m.len()),
    }
}

/// Liveness: every node of `shorts` has exactly `shorts` as its ring.
async fn rings_are(h: &mut Harness, shorts: &[&str], what: &str) -> Result<(), StageError> {
    let view = h.view();
    let want: Vec<NodeName> = {
        let mut w: Vec<NodeName> = shorts.iter().map(|s| h.full(s)).collect();
        w.sort();
        w
    };
    let shown: Vec<String> = want.iter().map(|n| n.to_string()).collect();
    let shorts: Vec<String> = shorts.iter().map(|s| s.to_string()).collect();
    h.eventually(
        what,
        Duration::from_secs(5),
        format!("every ring is [{}]", shown.join(", ")),
        || {
            let (view, want, shorts) = (view.clone(), want.clone(), shorts.clone());
            async move {
                let mut wrong = vec![];
                for s in &shorts {
                    let m = members(&view, s).await?;
                    if m != want {
                        let m: Vec<String> = m.iter().map(|n| n.to_string()).collect();
                        wrong.push(format!("{s}'s ring is [{}]", m.join(", ")));
                    }
                }
                if wrong.is_empty() {
                    Ok(())
                } else {
                    Err(wrong.join("; "))
                }
            }
        },
    )
    .await
}

/// The redirects a node reports for `code` (`GET /<code>/stats`).
async fn redirects(http: &HttpProbe, code: &str) -> Result<u64, String> {
    let ex = http.get(&format!("/{code}/stats")).await;
    if ex.status != Some(200) {
        return Err(format!(
            "{}: /{code}/stats → {}",
            http.node(),
            ex.describe()
        ));
    }
    serde_json::from_str::<Stats>(&ex.body)
        .map(|s| s.redirects)
        .map_err(|e| {
            format!(
                "{}: /{code}/stats is not {{\"code\", \"url\", \"redirects\"}}: {e} ({})",
                http.node(),
                ex.describe()
            )
        })
}

/// Redirects served per code, as the grader counted its own 302s.
#[derive(Debug, Default, Clone)]
struct Served(BTreeMap<String, u64>);

/// Follows each `(node, code)` of `plan` once; every answer must be a 302
/// to the link's URL (a failed check otherwise). Adds them to `served`.
async fn redirect_all(
    h: &mut Harness,
    probes: &BTreeMap<String, HttpProbe>,
    book: &super::shortener::Book,
    plan: &[(String, String)],
    served: &mut Served,
) -> Result<(), StageError> {
    let mut wrong = vec![];
    for (node, code) in plan {
        let ex = probes[node].get(&format!("/{code}")).await;
        match super::shortener::follow(&ex, &book.0[code]) {
            super::shortener::Followed::Right => *served.0.entry(code.clone()).or_insert(0) += 1,
            super::shortener::Followed::Wrong(d) | super::shortener::Followed::Missing(d) => {
                wrong.push(format!("{node}: /{code} → {d}"))
            }
        }
    }
    h.safety(format!("{} redirects each go to their URL", plan.len()))
        .no_violations(wrong)
}

/// A random plan of `n` redirects over `nodes` and the links of `book`.
fn plan(
    h: &mut Harness,
    nodes: &[&str],
    book: &super::shortener::Book,
    n: usize,
) -> Vec<(String, String)> {
    let codes: Vec<&String> = book.0.keys().collect();
    (0..n)
        .map(|_| {
            let node = nodes[h.rng.gen_range(0..nodes.len())].to_string();
            let code = codes[h.rng.gen_range(0..codes.len())].clone();
            (node, code)
        })
        .collect()
}

/// Liveness, with safety sampled along the way: within `CONVERGE`, every
/// node of `shorts` reports `want` redirects for every code; no report is
/// ever above `ceiling` (more views than were served) and none goes down
/// from one sample to the next (`last`, kept across calls).
async fn converge(
    h: &mut Harness,
    shorts: &[&str],
    want: &Served,
    ceiling: &Served,
    last: &mut BTreeMap<(String, String), u64>,
    what: &str,
) -> Result<(), StageError> {
    let probes: Vec<HttpProbe> = shorts.iter().map(|s| h.http(s)).collect::<Result<_, _>>()?;
    let seen = std::sync::Arc::new(parking_lot::Mutex::new((
        last.clone(),
        Vec::<String>::new(),
    )));
    let expected = format!(
        "every node reports {} for the {} links",
        describe(want),
        want.0.len()
    );
    let result = h
        .eventually(what, CONVERGE, expected, || {
            let (probes, want, ceiling, seen) =
                (probes.clone(), want.clone(), ceiling.clone(), seen.clone());
            async move {
                let mut off = vec![];
                for p in &probes {
                    for (code, n) in &want.0 {
                        let got = redirects(p, code).await?;
                        let mut s = seen.lock();
                        let key = (p.node().to_string(), code.clone());
                        let cap = ceiling.0.get(code).copied().unwrap_or(0);
                        if got > cap {
                            s.1.push(format!(
                                "{}: {code} at {got}, more than the {cap} served",
                                p.node()
                            ));
                        }
                        if let Some(&before) = s.0.get(&key) {
                            if got < before {
                                s.1.push(format!(
                                    "{}: {code} went down from {before} to {got}",
                                    p.node()
                                ));
                            }
                        }
                        s.0.insert(key, got);
                        if got != *n {
                            off.push(format!("{}: {code} at {got}, not {n}", p.node()));
                        }
                    }
                }
                if off.is_empty() {
                    Ok(())
                } else {
                    let more = off.len().saturating_sub(4);
                    off.truncate(4);
                    let tail = if more > 0 {
                        format!(" (and {more} more)")
                    } else {
                        String::new()
                    };
                    Err(format!("{}{tail}", off.join("; ")))
                }
            }
        })
        .await;
    let (samples, violations) = std::mem::take(&mut *seen.lock());
    *last = samples;
    h.safety(format!(
        "{what}: never more views than served, never a count going down"
    ))
    .no_violations(violations)?;
    result
}

fn describe(s: &Served) -> String {
    let total: u64 = s.0.values().sum();
    format!("{total} redirects in all")
}
