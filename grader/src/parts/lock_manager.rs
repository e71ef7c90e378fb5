//! Lab, distributed lock manager: one lock server for the cluster, clients
//! on every node that take locks, and a counter the critical sections update.
//!
//! Every stage starts its own three nodes and drives their clients through
//! `contracts::lock_manager`. Mutual exclusion is observed from outside: a
//! critical section reads a counter and writes it back plus one with two
//! separate calls, so two holders at once leave the counter lower than its
//! number of writes. A waiting acquire runs in a task of its own while the
//! stage injects the fault it waits on, and every wait has a bound.

use crate::harness::{ClusterView, Harness, StageError};
use crate::part::{Part, StageDef};
use contracts::lock_manager::{
    ClientCall, ClientReply, CounterCall, CounterReply, SectionsReport, CLIENT, CLIENT_SERVER,
    COUNTER_SERVER, LOCK_SERVER,
};
use futures::FutureExt;
use netsplit::gen_server::CallError;
use netsplit::Pid;
use rand::seq::SliceRandom;
use rand::Rng;
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;

/// The lab, with its three stages.
pub fn part() -> Part {
    Part::lab("lock-manager", "distributed lock manager").stages(vec![
        StageDef {
            name: "Mutual exclusion",
            points: 40,
            goal: "critical sections from three nodes never overlap, and only the holder \
                   releases a lock",
            hint: "Problem 1: every node must reach the same lock server (find it by its \
                   :global name, start it only if there is none); Acquire grants a lock nobody \
                   holds and puts every other request in line; Release frees the lock only \
                   for its holder and hands it to the first in line.",
            lesson_anchor: "problem-1-mutual-exclusion",
            run: |h| mutual_exclusion(h).boxed(),
        },
        StageDef {
            name: "Holder death",
            points: 30,
            goal: "a lock whose holder dies, or whose holder's node goes down, goes to the \
                   next in line at once",
            hint: "Problem 2: the lock server monitors each holder it grants a lock to; on \
                   the Down of that monitor, whatever its reason (noconnection too), the lock \
                   goes to the next in line, as on a release.",
            lesson_anchor: "problem-2-holder-death",
            run: |h| holder_death(h).boxed(),
        },
        StageDef {
            name: "Timeouts",
            points: 30,
            goal: "an acquire waits no longer than its timeout, and a request that timed out \
                   is never granted later",
            hint: "Problem 3: bound the call to the lock server by the acquire's timeout; when \
                   it times out, withdraw the request, which is still in the server's line, \
                   and have the server give back a lock it granted just as the caller gave up.",
            lesson_anchor: "problem-3-timeouts",
            run: |h| timeouts(h).boxed(),
        },
    ])
}

const THREE: [&str; 3] = ["n1", "n2", "n3"];
/// Timeout of a call that should be answered at once.
const CALL: Duration = Duration::from_secs(5);
/// How long a client may take to acquire a free lock or to release one.
const PROMPT: Duration = Duration::from_secs(1);
/// How long after its holder's death a waiter must have the lock.
const HANDOVER: Duration = Duration::from_secs(3);

fn explain(e: &CallError) -> String {
    match e {
        CallError::Exit(r) => format!("the client crashed: {r}"),
        CallError::NoProc => {
            "no client is registered (did it crash and its supervisor give up?)".into()
        }
        CallError::Timeout => "no answer in time".into(),
        other => other.to_string(),
    }
}

fn show(r: &Result<ClientReply, CallError>) -> String {
    match r {
        Ok(ClientReply::Failed(why)) => format!("Failed: {why}"),
        Ok(reply) => format!("{reply:?}"),
        Err(e) => explain(e),
    }
}

fn short(pid: &Pid) -> String {
    let node = pid.node().as_str();
    node.split('@').next().unwrap_or(node).to_string()
}

async fn acquire(
    view: &ClusterView,
    node: &str,
    lock: &str,
    timeout_ms: u64,
) -> Result<ClientReply, CallError> {
    let req = ClientCall::Acquire {
        lock: lock.to_string(),
        timeout_ms,
    };
    let wait = Duration::from_millis(timeout_ms) + CALL;
    view.ask(node, CLIENT_SERVER, &req, wait).await
}

async fn release(view: &ClusterView, node: &str, lock: &str) -> Result<ClientReply, CallError> {
    let req = ClientCall::Release {
        lock: lock.to_string(),
    };
    view.ask(node, CLIENT_SERVER, &req, CALL).await
}

/// Liveness: the client on `node` takes the free `lock` promptly.
async fn acquired(h: &mut Harness, node: &str, lock: &str) -> Result<(), StageError> {
    h.mark(format!("{node} acquires {lock}"));
    let r = acquire(&h.view(), node, lock, h.scaled(PROMPT).as_millis() as u64).await;
    h.liveness(format!(
        "the client on {node} acquires the free lock {lock:?}"
    ))
    .expected("Acquired")
    .actual(show(&r))
    .holds(matches!(r, Ok(ClientReply::Acquired)))
}

/// Liveness: the client on `node` releases `lock`, which it holds.
async fn released(h: &mut Harness, node: &str, lock: &str) -> Result<(), StageError> {
    h.mark(format!("{node} releases {lock}"));
    let r = release(&h.view(), node, lock).await;
    h.liveness(format!(
        "the client on {node} releases {lock:?}, which it holds"
    ))
    .expected("Released")
    .actual(show(&r))
    .holds(matches!(r, Ok(ClientReply::Released)))
}

/// An acquire by the client on `node`, waiting in a task of its own.
fn waiting_acquire(
    h: &mut Harness,
    node: &str,
    lock: &str,
    timeout_ms: u64,
) -> JoinHandle<Result<ClientReply, CallError>> {
    h.mark(format!(
        "{node} asks for {lock}, waiting up to {timeout_ms} ms"
    ));
    let (view, node, lock) = (h.view(), node.to_string(), lock.to_string());
    tokio::spawn(async move { acquire(&view, &node, &lock, timeout_ms).await })
}

/// Safety: 300 ms after `waiter` asked for `lock`, held by `holder`, it is
/// still waiting.
async fn still_waiting(
    h: &mut Harness,
    waiting: &mut JoinHandle<Result<ClientReply, CallError>>,
    waiter: &str,
    holder: &str,
    lock: &str,
) -> Result<(), StageError> {
    tokio::time::sleep(Duration::from_millis(300)).await;
    let name = format!("while {holder} holds {lock:?}, the acquire from {waiter} waits");
    if !waiting.is_finished() {
        return h.safety(name).holds(true);
    }
    let r = join(waiting).await?;
    h.safety(name)
        .expected(format!("no answer yet: {holder} has not released {lock:?}"))
        .actual(format!("{} after 300 ms", show(&r)))
        .holds(false)
}

async fn join(
    waiting: &mut JoinHandle<Result<ClientReply, CallError>>,
) -> Result<Result<ClientReply, CallError>, StageError> {
    waiting
        .await
        .map_err(|e| StageError::Grader(format!("acquire task: {e}")))
}

/// Liveness: the `waiting` acquire answers `Acquired` within `within`
/// (scaled) of `since`; `why_not` says what it means if it is still waiting.
async fn granted_within(
    h: &mut Harness,
    mut waiting: JoinHandle<Result<ClientReply, CallError>>,
    since: Instant,
    within: Duration,
    name: String,
    why_not: &str,
) -> Result<(), StageError> {
    let within = h.scaled(within);
    let left = within.saturating_sub(since.elapsed());
    let r = tokio::time::timeout(left, &mut waiting).await;
    let took = since.elapsed();
    let actual = match r {
        Err(_) => {
            waiting.abort();
            format!("still waiting {:.1} s later: {why_not}", took.as_secs_f64())
        }
        Ok(joined) => {
            let r = joined.map_err(|e| StageError::Grader(format!("acquire task: {e}")))?;
            if matches!(r, Ok(ClientReply::Acquired)) {
                return h.liveness(name).holds(true);
            }
            format!("{} after {} ms", show(&r), took.as_millis())
        }
    };
    h.liveness(name)
        .expected(format!("Acquired within {} ms", within.as_millis()))
        .actual(actual)
        .holds(false)
}

/// Three meshed nodes, in a random order.
async fn three_nodes(h: &mut Harness) -> Result<[&'static str; 3], StageError> {
    h.start_nodes(&THREE).await?;
    h.mesh(&THREE).await?;
    let mut order = THREE;
    order.shuffle(&mut h.rng);
    Ok(order)
}

// ---------------------------------------------------------------------- stages

async fn mutual_exclusion(h: &mut Harness) -> Result<(), StageError> {
    let [a, b, c] = three_nodes(h).await?;
    let counter = THREE[h.rng.gen_range(0..THREE.len())];
    let lock = "db";

    // Two runs of critical sections per node, all at once, on one lock.
    let plan: Vec<(&str, u32, u64)> = THREE
        .iter()
        .flat_map(|s| [*s, *s])
        .map(|s| (s, h.rng.gen_range(6..=10), h.rng.gen_range(5..=15)))
        .collect();
    let total: u32 = plan.iter().map(|(_, n, _)| n).sum();
    let desc: Vec<String> = plan
        .iter()
        .map(|(s, n, ms)| format!("{s}:{n}×{ms}ms"))
        .collect();
    h.mark(format!(
        "{total} critical sections on lock {lock:?}, counter on {counter}: {}",
        desc.join(" ")
    ));
    let view = h.view();
    let counter_node = h.full(counter);
    let wait = h.scaled(Duration::from_secs(20));
    let runs = plan.iter().map(|(s, count, hold_ms)| {
        let req = ClientCall::Sections {
            lock: lock.to_string(),
            count: *count,
            hold_ms: *hold_ms,
            counter: counter_node.clone(),
            timeout_ms: 3000,
        };
        let view = &view;
        async move { view.ask(s, CLIENT_SERVER, &req, wait).await }
    });
    let results = futures::future::join_all(runs).await;
    let mut done = 0;
    // What went wrong, with the nodes of the runs it went wrong on (a hole
    // makes every run fail alike: say it once).
    let mut problems: Vec<(String, Vec<&str>)> = vec![];
    for ((s, count, _), r) in plan.iter().zip(&results) {
        let problem = match r {
            Ok(ClientReply::Sections(SectionsReport {
                done: d,
                timed_out,
                error,
            })) => {
                done += d;
                let stop = error
                    .as_ref()
                    .map(|e| format!(", stopped: {e}"))
                    .unwrap_or_default();
                (*d != *count || *timed_out > 0 || error.is_some()).then(|| {
                    format!("{d} of {count} done, {timed_out} waited over 3 s for the lock{stop}")
                })
            }
            other => Some(show(other)),
        };
        if let Some(p) = problem {
            match problems.iter_mut().find(|(q, _)| *q == p) {
                Some((_, runs)) => runs.push(s),
                None => problems.push((p, vec![s])),
            }
        }
    }
    let problems = problems
        .into_iter()
        .map(|(p, runs)| match runs.len() == plan.len() {
            true => format!("every run: {p}"),
            false => format!("{}: {p}", runs.join(", ")),
        })
        .collect();
    h.liveness("every critical section gets the lock within 3 s")
        .expected(format!("all {total} sections done"))
        .no_violations(problems)?;

    let stats = view
        .ask(counter, COUNTER_SERVER, &CounterCall::Stats, CALL)
        .await;
    let (value, writes) = match stats {
        Ok(CounterReply::Stats { value, writes }) => (value, writes),
        other => {
            return Err(StageError::Inconclusive(format!(
                "the counter on {counter} did not give its stats: {other:?}"
            )))
        }
    };
    let done = u64::from(done);
    let lost = writes.saturating_sub(value);
    h.safety(format!(
        "no update is lost: the counter on {counter} counts every critical section"
    ))
    .expected(format!("value {done} after {done} writes"))
    .actual(if lost > 0 {
        format!(
            "value {value} after {writes} writes: {lost} update(s) lost: critical sections \
             overlapped, two holders at once"
        )
    } else {
        format!("value {value} after {writes} writes")
    })
    .holds(value == done && writes == done)?;

    // A release from a process that does not hold the lock changes nothing.
    let lock = "stray";
    acquired(h, a, lock).await?;
    h.mark(format!("{b}, which does not hold {lock}, releases it"));
    let r = release(&view, b, lock).await;
    h.safety(format!(
        "a release from {b}, which does not hold {lock:?}, is refused"
    ))
    .expected("NotHeld")
    .actual(match &r {
        Ok(ClientReply::Released) => {
            format!("Released: {b} freed the lock {a} holds, which now has no holder or the next in line")
        }
        _ => show(&r),
    })
    .holds(matches!(r, Ok(ClientReply::NotHeld)))?;
    let r = acquire(&view, c, lock, 300).await;
    h.safety(format!(
        "{lock:?} is still {a}'s: an acquire from {c} with a 300 ms timeout times out"
    ))
    .expected("TimedOut")
    .actual(show(&r))
    .holds(matches!(r, Ok(ClientReply::TimedOut)))?;
    released(h, a, lock).await
}

async fn holder_death(h: &mut Harness) -> Result<(), StageError> {
    let [first, _, _] = three_nodes(h).await?;

    // The first lock request starts the lock server; find where it runs.
    acquired(h, first, "warm-up").await?;
    released(h, first, "warm-up").await?;
    let view = h.view();
    let v = &view;
    let server: Pid = h
        .eventually(
            format!(
                "every node finds the one lock server, registered with :global as {LOCK_SERVER:?}"
            ),
            Duration::from_secs(5),
            "the same pid from global:whereis_name on n1, n2 and n3",
            move || async move {
                let mut seen = vec![];
                for s in THREE {
                    let r: Result<Option<Pid>, _> = v
                        .rpc(s, "global", "whereis_name", &LOCK_SERVER.to_string())
                        .await;
                    seen.push((s, r));
                }
                let pids: Vec<&Pid> = seen
                    .iter()
                    .filter_map(|(_, r)| r.as_ref().ok()?.as_ref())
                    .collect();
                if pids.len() == THREE.len() && pids.iter().all(|p| *p == pids[0]) {
                    return Ok(pids[0].clone());
                }
                Err(seen
                    .iter()
                    .map(|(s, r)| match r {
                        Ok(Some(p)) => format!("{s}: {p}"),
                        Ok(None) => format!("{s}: no such name"),
                        Err(e) => format!("{s}: {e}"),
                    })
                    .collect::<Vec<_>>()
                    .join("; "))
            },
        )
        .await?;
    let Some(s) = THREE.iter().copied().find(|n| *n == short(&server)) else {
        return Err(StageError::Inconclusive(format!(
            "the lock server {server} runs on none of n1, n2, n3"
        )));
    };
    let mut others: Vec<&str> = THREE.iter().copied().filter(|n| *n != s).collect();
    others.shuffle(&mut h.rng);
    let (holder, waiter) = (others[0], others[1]);
    h.mark(format!(
        "the lock server runs on {s}; {holder} holds, {waiter} waits"
    ));

    // The holder process dies.
    acquired(h, holder, "a").await?;
    let mut waiting = waiting_acquire(h, waiter, "a", 8000);
    still_waiting(h, &mut waiting, waiter, holder, "a").await?;
    let since = Instant::now();
    h.crash(holder, CLIENT).await?;
    granted_within(
        h,
        waiting,
        since,
        HANDOVER,
        format!(
            "once the client on {holder}, which held \"a\", is killed, the waiting {waiter} \
             gets \"a\""
        ),
        "the lock server did not free \"a\" when its holder died",
    )
    .await?;

    // The holder's node dies.
    acquired(h, holder, "b").await?;
    let mut waiting = waiting_acquire(h, waiter, "b", 8000);
    still_waiting(h, &mut waiting, waiter, holder, "b").await?;
    let since = Instant::now();
    h.kill(holder).await?;
    granted_within(
        h,
        waiting,
        since,
        HANDOVER,
        format!(
            "once {holder}, whose client held \"b\", is killed, the waiting {waiter} gets \"b\""
        ),
        "the lock server did not free \"b\" when its holder's node went down (the Down's \
         reason is noconnection)",
    )
    .await?;

    // A death frees the dead holder's locks, and no other.
    let (ra, rb) = futures::join!(acquire(&view, s, "a", 300), acquire(&view, s, "b", 300));
    h.safety(format!(
        "both locks are still {waiter}'s: acquires of \"a\" and \"b\" from {s} time out"
    ))
    .expected("TimedOut, TimedOut")
    .actual(format!("{}, {}", show(&ra), show(&rb)))
    .holds(matches!(
        (&ra, &rb),
        (Ok(ClientReply::TimedOut), Ok(ClientReply::TimedOut))
    ))
}

async fn timeouts(h: &mut Harness) -> Result<(), StageError> {
    let [a, b, c] = three_nodes(h).await?;
    let view = h.view();
    let lock = "t";

    // A waiter gets the lock the moment it is free, well before its timeout.
    acquired(h, a, lock).await?;
    let mut waiting = waiting_acquire(h, b, lock, 3000);
    still_waiting(h, &mut waiting, b, a, lock).await?;
    released(h, a, lock).await?;
    let since = Instant::now();
    granted_within(
        h,
        waiting,
        since,
        PROMPT,
        format!("the waiting {b}, whose timeout is 3 s, gets {lock:?} as soon as {a} releases it"),
        "the lock was free, yet the waiter was not given it",
    )
    .await?;
    released(h, b, lock).await?;

    // A waiter whose timeout passes first answers TimedOut, at its timeout.
    acquired(h, a, lock).await?;
    let timeout_ms = h.rng.gen_range(300..=700);
    let limit = Duration::from_millis(timeout_ms) + h.scaled(Duration::from_millis(500));
    h.mark(format!(
        "{b} asks for {lock} with a {timeout_ms} ms timeout"
    ));
    let t0 = Instant::now();
    let r = acquire(&view, b, lock, timeout_ms).await;
    let took = t0.elapsed();
    let answer = format!("{} after {} ms", show(&r), took.as_millis());
    h.liveness(format!(
        "the acquire from {b} answers within its {timeout_ms} ms timeout"
    ))
    .expected(format!("an answer within {} ms", limit.as_millis()))
    .actual(match &r {
        Err(CallError::Timeout) => format!(
            "no answer after {} ms: the acquire waits past its timeout",
            took.as_millis()
        ),
        _ => answer.clone(),
    })
    .holds(r.is_ok() && took <= limit)?;
    h.safety(format!(
        "an acquire from {b} with a {timeout_ms} ms timeout, while {a} holds {lock:?}, \
         answers TimedOut"
    ))
    .expected("TimedOut")
    .actual(&answer)
    .holds(matches!(r, Ok(ClientReply::TimedOut)))?;
    let early = Duration::from_millis(timeout_ms.saturating_sub(20));
    h.safety(format!(
        "the acquire from {b} waits its {timeout_ms} ms before giving up"
    ))
    .expected(format!("TimedOut after {timeout_ms} ms or more"))
    .actual(&answer)
    .holds(took >= early)?;

    // The request that timed out is never granted: once a releases, the
    // lock is free for anyone.
    released(h, a, lock).await?;
    h.mark(format!("{c} asks for {lock} with a 1500 ms timeout"));
    let t0 = Instant::now();
    let r = acquire(&view, c, lock, 1500).await;
    let took = t0.elapsed();
    let ok = matches!(r, Ok(ClientReply::Acquired));
    let mut actual = format!("{} after {} ms", show(&r), took.as_millis());
    if !ok {
        // Who has it? Ask the client whose acquire timed out.
        if let Ok(ClientReply::Released) = release(&view, b, lock).await {
            actual.push_str(&format!(
                "; {b}'s client held {lock:?}: its acquire had answered TimedOut, yet its \
                 request stayed in line and was granted when {a} released"
            ));
        }
    }
    h.safety(format!(
        "{lock:?} is free once {a} releases it: the request of {b}, which timed out, is not \
         granted; an acquire from {c} gets it"
    ))
    .expected("Acquired")
    .actual(actual)
    .holds(ok)
}
