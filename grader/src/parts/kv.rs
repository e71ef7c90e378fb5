//! Lab: replicated KV store. One writer registered with `:global`, a copy
//! of the table on every node.
//!
//! Every stage starts its own three nodes and drives them through their
//! replicas (`contracts::kv::KV_SERVER`): puts and gets through the writer,
//! local reads, whole tables. The grader keeps its own model of the table:
//! key → the value of the last put it saw acknowledged. Where the writer is,
//! it asks each node's own `:global` (`global:whereis_name`). That a local
//! read sends nothing, it reads off the fabric's counters; that a put waits
//! for every replica, it shows by slowing one replica's link.

use crate::harness::{ClusterView, Harness, StageError};
use crate::part::{Part, StageDef};
use contracts::kv::{KvCall, KvReply, KV_SERVER, WRITER};
use futures::FutureExt;
use netsplit::gen_server::CallError;
use netsplit::Pid;
use rand::seq::SliceRandom;
use rand::Rng;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The lab, with its three stages.
pub fn part() -> Part {
    Part::lab("kv", "replicated KV store").stages(vec![
        StageDef {
            name: "Single writer",
            points: 40,
            goal: "one writer in :global; a put is in every node's table when it is acknowledged; \
                   local reads send nothing",
            hint: "Problem 1: each node's elector finds the writer :global names or starts one \
                   (gen_server::start_global); the writer copies each write to the replica of \
                   every node, its own included (nodes_and_self), and replies only once all \
                   have confirmed; GetLocal answers from the replica's own table.",
            lesson_anchor: "problem-1-single-writer",
            run: |h| single_writer(h).boxed(),
        },
        StageDef {
            name: "Catch-up",
            points: 30,
            goal:
                "a node cut off by a partition, or restarted empty, catches up once it reconnects",
            hint: "Problem 2: the writer monitors nodes (monitor_nodes in its init); on NodeUp \
                   it syncs with the newcomer's replica (KvCall::Sync), which merges the \
                   writer's table into its own and answers with the result.",
            lesson_anchor: "problem-2-catch-up",
            run: |h| catch_up(h).boxed(),
        },
        StageDef {
            name: "Failover",
            points: 30,
            goal: "when the writer's node dies, a new writer is elected that holds every \
                   acknowledged write, and still does once the old node is back",
            hint: "Problem 3: every elector monitors the writer and, on its Down, elects again \
                   (start_global: one node wins). A new writer's init syncs with every replica \
                   and numbers its writes after the highest it found; a sync merges what the \
                   replicas answer, so the writer :global keeps when two meet learns too.",
            lesson_anchor: "problem-3-failover",
            run: |h| failover(h).boxed(),
        },
    ])
}

const THREE: [&str; 3] = ["n1", "n2", "n3"];
/// The bound of one call to a replica (a put waits for the writer, which
/// waits for every replica).
const CALL: Duration = Duration::from_secs(5);
/// How long a new writer, a catch-up or a convergence may take.
const CONVERGE: Duration = Duration::from_secs(5);
/// The delay put on one replica's link to the writer, each way.
const DELAY: Duration = Duration::from_millis(150);
/// Local reads per node in the traffic check.
const READS: usize = 100;
/// Messages a node may exchange with the others during its local reads
/// anyway: the runtime's ticks (one a second per idle link and direction).
const READ_SLACK: u64 = 8;

/// What the grader saw acknowledged: key → the value of its last
/// acknowledged put.
type Model = BTreeMap<String, String>;

fn short(pid: &Pid) -> String {
    pid.node().short().to_string()
}

fn explain(e: &CallError) -> String {
    match e {
        CallError::Exit(r) => format!("the replica crashed: {r}"),
        CallError::NoProc => {
            "no replica is registered as \"kv\" (did it crash and not restart?)".into()
        }
        CallError::Timeout => format!("no answer within {} s", CALL.as_secs()),
        other => other.to_string(),
    }
}

/// A put through the replica of `from`: `Ok` once acknowledged.
async fn put(view: &ClusterView, from: &str, key: &str, value: &str) -> Result<(), String> {
    let call = KvCall::Put {
        key: key.into(),
        value: value.into(),
    };
    match view.ask(from, KV_SERVER, &call, CALL).await {
        Ok(KvReply::Done) => Ok(()),
        Ok(KvReply::Failed(why)) => Err(format!("Failed({why:?})")),
        Ok(other) => Err(format!("replied {other:?} instead of Done")),
        Err(e) => Err(explain(&e)),
    }
}

/// A read of `key` on `node`: through the writer (`Get`) or from the
/// node's own table (`GetLocal`).
async fn read(view: &ClusterView, node: &str, call: KvCall) -> Result<Option<String>, String> {
    match view.ask(node, KV_SERVER, &call, CALL).await {
        Ok(KvReply::Value(v)) => Ok(v),
        Ok(KvReply::Failed(why)) => Err(format!("Failed({why:?})")),
        Ok(other) => Err(format!("replied {other:?} instead of Value(..)")),
        Err(e) => Err(explain(&e)),
    }
}

/// Node `node`'s whole table, values only.
async fn table(view: &ClusterView, node: &str) -> Result<Model, String> {
    match view.ask(node, KV_SERVER, &KvCall::Table, CALL).await {
        Ok(KvReply::Table(t)) => Ok(t.into_iter().map(|(k, e)| (k, e.value)).collect()),
        Ok(other) => Err(format!("{node} replied {other:?} instead of Table(..)")),
        Err(e) => Err(format!("{node}: {}", explain(&e))),
    }
}

fn show_value(v: &Option<String>) -> String {
    match v {
        Some(v) => format!("{v:?}"),
        None => "nothing".into(),
    }
}

/// How `seen` differs from `want`, in a few words per key.
fn differences(want: &Model, seen: &Model) -> Vec<String> {
    let mut out = vec![];
    for (k, v) in want {
        match seen.get(k) {
            None => out.push(format!("{k} missing (want {v:?})")),
            Some(s) if s != v => out.push(format!("{k}={s:?}, not {v:?}")),
            Some(_) => {}
        }
    }
    for (k, s) in seen {
        if !want.contains_key(k) {
            out.push(format!("{k}={s:?}, never acknowledged"));
        }
    }
    out
}

fn summary(diffs: &[String]) -> String {
    let shown: Vec<&str> = diffs.iter().take(4).map(String::as_str).collect();
    let more = diffs.len().saturating_sub(4);
    if more > 0 {
        format!("{} (and {more} more)", shown.join(", "))
    } else {
        shown.join(", ")
    }
}

/// `Ok(writer's pid)` when every node of `nodes` names the same writer in
/// its own `:global`, on one of `nodes`; otherwise what they name.
async fn agreed_writer(view: &ClusterView, nodes: &[&str]) -> Result<Pid, String> {
    let mut named = vec![];
    for s in nodes {
        let r: Result<Option<Pid>, _> = view
            .rpc(s, "global", "whereis_name", &WRITER.to_string())
            .await;
        named.push((s, r));
    }
    let first = match &named[0].1 {
        Ok(Some(p)) => Some(p.clone()),
        _ => None,
    };
    let agree = first.as_ref().is_some_and(|p| {
        nodes.contains(&short(p).as_str())
            && named
                .iter()
                .all(|(_, r)| matches!(r, Ok(Some(q)) if q == p))
    });
    if named.iter().all(|(_, r)| matches!(r, Ok(None))) {
        // A writer registered under a local name is the likely mistake.
        let mut local = vec![];
        for s in nodes {
            if let Ok(Some(_)) = view.whereis(s, WRITER).await {
                local.push(*s);
            }
        }
        return Err(if local.is_empty() {
            format!("no node's :global names a {WRITER}: no elector registered one")
        } else {
            format!(
                "no node's :global names a {WRITER}, but {} registered one under a local \
                 name: a local name is known on its own node only (start the writer with \
                 gen_server::start_global)",
                local.join(", ")
            )
        });
    }
    match first {
        Some(p) if agree => Ok(p),
        _ => Err(named
            .iter()
            .map(|(s, r)| match r {
                Ok(Some(p)) => format!("{s} names {p} (on {})", short(p)),
                Ok(None) => format!("{s} names none"),
                Err(e) => format!("{s}: {e}"),
            })
            .collect::<Vec<_>>()
            .join("; ")),
    }
}

/// Liveness: within a few seconds, every node of `nodes` names the same
/// writer, on one of them. Returns its node.
async fn one_writer(h: &mut Harness, nodes: &[&str], what: &str) -> Result<String, StageError> {
    let view = h.view();
    let expected = match nodes {
        [one] => format!("{one}'s :global names a {WRITER:?} on {one}"),
        _ => format!(
            "{} name the same pid for {WRITER:?} in :global, on one of them",
            nodes.join(", ")
        ),
    };
    let (view, nodes) = (&view, nodes);
    let pid = h
        .eventually(what, CONVERGE, expected, move || async move {
            agreed_writer(view, nodes).await
        })
        .await?;
    let w = short(&pid);
    h.mark(format!("the writer is {pid} on {w}"));
    Ok(w)
}

/// Liveness: each of `puts` (from, key, value) is acknowledged, one after
/// the other; the model learns them.
async fn put_all(
    h: &mut Harness,
    model: &mut Model,
    puts: &[(String, String, String)],
) -> Result<(), StageError> {
    let view = h.view();
    for (from, key, value) in puts {
        if let Err(e) = put(&view, from, key, value).await {
            return Err(h
                .liveness(format!(
                    "a put of {key}={value:?} through {from} is acknowledged"
                ))
                .expected("Done")
                .actual(e)
                .fails());
        }
        model.insert(key.clone(), value.clone());
    }
    Ok(())
}

/// `n` puts, each through a random node of `via`, of keys drawn from
/// `keys`; values say where and when (`n2:7`).
fn plan(h: &mut Harness, n: usize, via: &[&str], keys: &[&str]) -> Vec<(String, String, String)> {
    (0..n)
        .map(|_| {
            let from = via.choose(&mut h.rng).expect("some nodes").to_string();
            let key = keys.choose(&mut h.rng).expect("some keys").to_string();
            let value = format!("{from}:{}", h.rng.gen_range(0..100_000));
            (from, key, value)
        })
        .collect()
}

/// Safety, at once: every table of `nodes` is exactly the model.
async fn tables_are(
    h: &mut Harness,
    nodes: &[&str],
    model: &Model,
    what: &str,
) -> Result<(), StageError> {
    let view = h.view();
    let mut wrong = vec![];
    for s in nodes {
        match table(&view, s).await {
            Ok(t) => {
                let d = differences(model, &t);
                if !d.is_empty() {
                    wrong.push(format!("{s}: {}", summary(&d)));
                }
            }
            Err(e) => wrong.push(e),
        }
    }
    h.safety(what)
        .expected(format!("{} keys, as acknowledged", model.len()))
        .no_violations(wrong)
}

/// Liveness: within a few seconds, every table of `nodes` is exactly the model.
async fn converge(
    h: &mut Harness,
    nodes: &[&str],
    model: &Model,
    what: &str,
) -> Result<(), StageError> {
    let view = h.view();
    let expected = format!(
        "the {} acknowledged keys in the tables of {}",
        model.len(),
        nodes.join(", ")
    );
    let (view, nodes) = (&view, nodes);
    h.eventually(what, CONVERGE, expected, move || async move {
        let mut wrong = vec![];
        for s in nodes {
            match table(view, s).await {
                Ok(t) => {
                    let d = differences(model, &t);
                    if !d.is_empty() {
                        wrong.push(format!("{s}: {}", summary(&d)));
                    }
                }
                Err(e) => wrong.push(e),
            }
        }
        if wrong.is_empty() {
            Ok(())
        } else {
            Err(wrong.join("; "))
        }
    })
    .await
}

/// Safety, at once: a `Get` of every key of the model, through each node
/// of `via`, answers its acknowledged value: the writer holds them all.
async fn writer_holds(
    h: &mut Harness,
    via: &[&str],
    model: &Model,
    what: &str,
) -> Result<(), StageError> {
    let view = h.view();
    let mut lost = vec![];
    for (key, value) in model {
        for s in via {
            match read(&view, s, KvCall::Get(key.clone())).await {
                Ok(Some(v)) if v == *value => {}
                Ok(v) => lost.push(format!(
                    "Get({key}) through {s} answers {}, acknowledged {value:?}",
                    show_value(&v)
                )),
                Err(e) => lost.push(format!("Get({key}) through {s}: {e}")),
            }
        }
    }
    h.safety(what)
        .expected(format!(
            "the {} acknowledged keys, with their values",
            model.len()
        ))
        .no_violations(lost)
}

/// Puts through random nodes of `via`, one at a time: each must be
/// acknowledged, and at that moment be in the table of every node of
/// `nodes` (asked with `GetLocal`) and be what a `Get` through the writer
/// answers.
async fn puts_seen_everywhere(
    h: &mut Harness,
    model: &mut Model,
    puts: Vec<(String, String, String)>,
    nodes: &[&str],
) -> Result<(), StageError> {
    let view = h.view();
    let mut missing = vec![];
    let mut wrong_get = vec![];
    for (from, key, value) in &puts {
        put_all(
            h,
            model,
            std::slice::from_ref(&(from.clone(), key.clone(), value.clone())),
        )
        .await?;
        for s in nodes {
            match read(&view, s, KvCall::GetLocal(key.clone())).await {
                Ok(Some(v)) if v == *value => {}
                Ok(v) => missing.push(format!(
                    "{key}={value:?} acknowledged through {from}, but {s}'s table has {}",
                    show_value(&v)
                )),
                Err(e) => missing.push(format!("GetLocal({key}) on {s}: {e}")),
            }
        }
        let on = nodes.choose(&mut h.rng).expect("some nodes");
        match read(&view, on, KvCall::Get(key.clone())).await {
            Ok(Some(v)) if v == *value => {}
            Ok(v) => wrong_get.push(format!(
                "Get({key}) through {on} answers {} after {key}={value:?} was acknowledged",
                show_value(&v)
            )),
            Err(e) => wrong_get.push(format!("Get({key}) through {on}: {e}")),
        }
    }
    h.mark(format!("{} puts acknowledged, one at a time", puts.len()));
    h.safety(format!(
        "each acknowledged put is already in the table of {}",
        nodes.join(", ")
    ))
    .expected("every GetLocal right after the ack answers the value put")
    .no_violations(missing)?;
    h.safety("a Get through the writer answers the last acknowledged value")
        .no_violations(wrong_get)
}

// ---------------------------------------------------------------------- stages

/// Three meshed nodes that agree on one writer: where every stage starts.
/// `n1` starts first and, alone, elects a writer of its own; `n2` and `n3`
/// do the same before they connect. When they meet, :global keeps the
/// writer of the node whose name sorts first, so the writer is on `n1`, and
/// a stage knows which writer wins when two meet again.
async fn cluster(h: &mut Harness) -> Result<String, StageError> {
    h.start_nodes(&["n1"]).await?;
    one_writer(h, &["n1"], "n1, alone, elects a writer").await?;
    h.start_nodes(&["n2", "n3"]).await?;
    h.mesh(&THREE).await?;
    one_writer(
        h,
        &THREE,
        "every node's :global names the same writer, on one of the nodes",
    )
    .await
}

async fn single_writer(h: &mut Harness) -> Result<(), StageError> {
    let w = cluster(h).await?;
    let mut model = Model::new();
    let keys = ["k1", "k2", "k3", "k4", "k5"];
    let puts = plan(h, 8, &THREE, &keys);
    puts_seen_everywhere(h, &mut model, puts, &THREE).await?;

    // Every node at once, on a few shared keys: one writer puts them in one
    // order, the same on every replica, and a node's later put of a key
    // wins over its own earlier one.
    let shared = ["s1", "s2", "s3"];
    let mut plans: Vec<(&str, Vec<(String, String)>)> = vec![];
    for s in THREE {
        let p = (0..10)
            .map(|i| {
                let key = shared.choose(&mut h.rng).expect("keys").to_string();
                (key, format!("{s}:burst{i}"))
            })
            .collect();
        plans.push((s, p));
    }
    let view = h.view();
    let results = futures::future::join_all(plans.iter().map(|(s, p)| {
        let view = &view;
        async move {
            for (key, value) in p {
                if let Err(e) = put(view, s, key, value).await {
                    return Err(format!("the put of {key}={value:?} through {s}: {e}"));
                }
            }
            Ok(())
        }
    }))
    .await;
    h.mark("30 puts from every node at once, on 3 shared keys");
    if let Some(Err(e)) = results.into_iter().find(Result::is_err) {
        return Err(h
            .liveness("every put of the concurrent burst is acknowledged")
            .expected("Done for each")
            .actual(e)
            .fails());
    }
    let tables: Vec<(&str, Result<Model, String>)> = {
        let mut v = vec![];
        for s in THREE {
            v.push((s, table(&view, s).await));
        }
        v
    };
    let mut disagree = vec![];
    let first = tables[0].1.clone().unwrap_or_default();
    for (s, t) in &tables {
        match t {
            Ok(t) if *t == first => {}
            Ok(t) => disagree.push(format!(
                "{s} differs from n1: {}",
                summary(&differences(&first, t))
            )),
            Err(e) => disagree.push(e.clone()),
        }
    }
    for key in shared {
        // Each node put its values of `key` in order: the one that stays
        // is some node's last.
        let finals: BTreeSet<String> = plans
            .iter()
            .map(|(_, p)| p)
            .filter_map(|p| {
                p.iter()
                    .rev()
                    .find(|(k, _)| k == key)
                    .map(|(_, v)| v.clone())
            })
            .collect();
        if finals.is_empty() {
            continue;
        }
        match first.get(key) {
            Some(v) if finals.contains(v) => {}
            v => disagree.push(format!(
                "{key} is {} on n1, which is no node's last put of it ({})",
                show_value(&v.cloned()),
                finals.iter().cloned().collect::<Vec<_>>().join(" or ")
            )),
        }
        match read(&view, &w, KvCall::Get(key.to_string())).await {
            Ok(v) if v.as_ref() == first.get(key) => {}
            Ok(v) => disagree.push(format!(
                "Get({key}) through {w} answers {}, the tables hold {}",
                show_value(&v),
                show_value(&first.get(key).cloned())
            )),
            Err(e) => disagree.push(format!("Get({key}) through {w}: {e}")),
        }
        if let Some(v) = first.get(key) {
            model.insert(key.to_string(), v.clone());
        }
    }
    h.safety("after concurrent puts, every table is the same, and Get agrees with it")
        .expected("one order of the writes, the same everywhere")
        .no_violations(disagree)?;
    tables_are(
        h,
        &THREE,
        &model,
        "every table holds exactly the acknowledged writes",
    )
    .await?;

    // Local reads: from each node's own table, not a message to anyone.
    for s in THREE.iter().filter(|s| **s != w) {
        let others: Vec<&str> = THREE.iter().copied().filter(|o| o != s).collect();
        let traffic =
            |h: &Harness| h.traffic(&[s], &others).frames + h.traffic(&others, &[s]).frames;
        let keys: Vec<&String> = model.keys().collect();
        let mut wrong = vec![];
        let before = traffic(h);
        let t0 = Instant::now();
        for i in 0..READS {
            let key = keys[i % keys.len()];
            match read(&view, s, KvCall::GetLocal(key.clone())).await {
                Ok(v) if v.as_ref() == model.get(key) => {}
                Ok(v) => wrong.push(format!("{key}: {}", show_value(&v))),
                Err(e) => wrong.push(format!("{key}: {e}")),
            }
        }
        let took = t0.elapsed();
        let sent = traffic(h) - before;
        h.safety(format!(
            "{READS} local reads on {s} answer the acknowledged values"
        ))
        .no_violations(wrong)?;
        h.safety(format!(
            "{READS} local reads on {s} send no message to another node"
        ))
        .expected(format!(
            "at most {READ_SLACK} messages between {s} and the others (the runtime's ticks)"
        ))
        .actual(format!("{sent} messages in {} ms", took.as_millis()))
        .holds(sent <= READ_SLACK)?;
    }

    // A put waits for every replica: slow down one replica's link to the
    // writer, and each put must still be in that replica's table when it is
    // acknowledged.
    let mut others: Vec<&str> = all_but(&w);
    others.shuffle(&mut h.rng);
    let (slow, from) = (others[0], others[1]);
    h.latency(&w, slow, DELAY);
    let mut early = vec![];
    let mut fastest = Duration::MAX;
    for i in 0..4 {
        let key = keys.choose(&mut h.rng).expect("keys").to_string();
        let value = format!("{from}:slow{i}");
        let t0 = Instant::now();
        put_all(
            h,
            &mut model,
            &[(from.to_string(), key.clone(), value.clone())],
        )
        .await?;
        let took = t0.elapsed();
        match read(&view, slow, KvCall::GetLocal(key.clone())).await {
            Ok(Some(v)) if v == value => fastest = fastest.min(took),
            Ok(v) => early.push(format!(
                "{key}={value:?} acknowledged after {} ms, when {slow}'s table still had {}",
                took.as_millis(),
                show_value(&v)
            )),
            Err(e) => early.push(format!("GetLocal({key}) on {slow}: {e}")),
        }
    }
    h.mark(format!("4 puts through {from} with {slow}'s link slowed"));
    h.safety(format!(
        "with {slow}'s link to the writer slowed by {} ms each way, each put is in {slow}'s \
         table when it is acknowledged",
        DELAY.as_millis()
    ))
    .expected("the writer replies once every replica confirmed")
    .no_violations(early)?;
    if fastest < DELAY {
        return Err(StageError::Inconclusive(format!(
            "a put reached {slow} and was acknowledged in {} ms, less than the {} ms the \
             grader's network should delay {w} → {slow}: the delay did not take effect",
            fastest.as_millis(),
            DELAY.as_millis()
        )));
    }
    Ok(())
}

/// The three nodes but `one`.
fn all_but(one: &str) -> Vec<&'static str> {
    THREE.iter().copied().filter(|s| *s != one).collect()
}

async fn catch_up(h: &mut Harness) -> Result<(), StageError> {
    let w = cluster(h).await?;
    let mut model = Model::new();
    let keys = ["k1", "k2", "k3", "k4", "k5", "k6"];
    let puts = plan(h, 8, &THREE, &keys);
    put_all(h, &mut model, &puts).await?;
    tables_are(
        h,
        &THREE,
        &model,
        "every table holds the acknowledged writes",
    )
    .await?;

    // A replica's node is cut off; the writer's side goes on writing.
    let others: Vec<&str> = all_but(&w);
    let cut = *others.choose(&mut h.rng).expect("two others");
    let side: Vec<&str> = all_but(cut);
    let both = side.join(" and ");
    h.partition(&[&side, &[cut]]).await?;
    let puts = plan(h, 8, &side, &keys);
    put_all(h, &mut model, &puts).await?;
    h.mark(format!("8 puts through {both} while {cut} is cut off"));
    tables_are(
        h,
        &side,
        &model,
        &format!("during the partition, {both} hold every acknowledged write"),
    )
    .await?;
    h.heal();
    h.mark(format!("{cut} reconnects"));
    h.connect_from(cut, &side, &THREE, "the healed cluster is one mesh again")
        .await?;
    one_writer(
        h,
        &THREE,
        "after the heal, every node's :global names one writer",
    )
    .await?;
    converge(
        h,
        &THREE,
        &model,
        &format!("{cut}, back from the partition, catches up: every table holds every acknowledged write"),
    )
    .await?;
    let puts = plan(h, 4, &THREE, &keys);
    puts_seen_everywhere(h, &mut model, puts, &THREE).await?;

    // A replica's node comes back empty: killed and started again.
    let w = one_writer(h, &THREE, "every node's :global still names one writer").await?;
    let others: Vec<&str> = all_but(&w);
    let again = *others.choose(&mut h.rng).expect("two others");
    let rest: Vec<&str> = all_but(again);
    h.restart(again).await?;
    h.connect_from(again, &rest, &THREE, "the restarted node joins the mesh")
        .await?;
    one_writer(
        h,
        &THREE,
        "with the restarted node in, every node's :global names one writer",
    )
    .await?;
    converge(
        h,
        &THREE,
        &model,
        &format!("{again}, restarted with an empty table, catches up"),
    )
    .await?;
    let puts = plan(h, 4, &THREE, &keys);
    puts_seen_everywhere(h, &mut model, puts, &THREE).await
}

/// One node's puts during the failover: (key, value, acknowledged, when
/// the answer came).
type Burst = Vec<(String, String, bool, Instant)>;

/// The most puts one survivor makes during the failover.
const BURST_MAX: usize = 300;

async fn failover(h: &mut Harness) -> Result<(), StageError> {
    let w = cluster(h).await?;
    let mut model = Model::new();
    let keys = ["k1", "k2", "k3", "k4", "k5", "k6"];
    let puts = plan(h, 10, &THREE, &keys);
    put_all(h, &mut model, &puts).await?;
    tables_are(
        h,
        &THREE,
        &model,
        "every table holds the acknowledged writes",
    )
    .await?;

    // The survivors keep putting, each its own keys, while the writer's
    // node is killed, until the new writer has taken a few puts.
    let survivors: Vec<&str> = all_but(&w);
    let window = h.scaled(Duration::from_secs(10));
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = vec![];
    for s in &survivors {
        let (view, s, stop) = (h.view(), s.to_string(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let mut done: Burst = vec![];
            let t0 = Instant::now();
            for i in 0..BURST_MAX {
                if stop.load(Ordering::Relaxed) || t0.elapsed() > window {
                    break;
                }
                let (key, value) = (format!("f-{s}-{i}"), format!("{s}:f{i}"));
                let ok = put(&view, &s, &key, &value).await.is_ok();
                done.push((key, value, ok, Instant::now()));
                // A pace a person could type at, and no spinning while
                // there is no writer.
                tokio::time::sleep(Duration::from_millis(if ok { 5 } else { 20 })).await;
            }
            done
        }));
    }
    let delay = h.rng.gen_range(30..150);
    tokio::time::sleep(Duration::from_millis(delay)).await;
    h.mark(format!(
        "puts through {} in flight",
        survivors.join(" and ")
    ));
    let killed_at = Instant::now();
    let killed = h.kill(&w).await;
    let elected = match killed {
        Ok(()) => {
            let what = format!(
                "after {w} dies, {} name a new writer, on one of them",
                survivors.join(" and ")
            );
            one_writer(h, &survivors, &what).await
        }
        Err(e) => Err(e),
    };
    if elected.is_ok() {
        // Let the new writer take some of the burst too.
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    stop.store(true, Ordering::Relaxed);
    let (mut tried, mut acked, mut after) = (0, 0, 0);
    // Puts that failed: each may or may not have been stored.
    let mut unknown = Model::new();
    for t in tasks {
        let burst = t
            .await
            .map_err(|e| StageError::Grader(format!("put task: {e}")))?;
        for (key, value, ok, at) in burst {
            tried += 1;
            if ok {
                acked += 1;
                after += usize::from(at > killed_at);
                model.insert(key, value);
            } else {
                unknown.insert(key, value);
            }
        }
    }
    elected?;
    h.mark(format!(
        "{acked} of {tried} puts of the burst acknowledged, {after} of them after {w} was killed"
    ));

    // Nothing acknowledged is lost: not in the new writer, not in a replica.
    let view = h.view();
    let mut lost = vec![];
    for (key, value) in &model {
        for s in &survivors {
            match read(&view, s, KvCall::Get(key.clone())).await {
                Ok(Some(v)) if v == *value => {}
                Ok(v) => lost.push(format!(
                    "Get({key}) through {s} answers {}, acknowledged {value:?}",
                    show_value(&v)
                )),
                Err(e) => lost.push(format!("Get({key}) through {s}: {e}")),
            }
            match read(&view, s, KvCall::GetLocal(key.clone())).await {
                Ok(Some(v)) if v == *value => {}
                Ok(v) => lost.push(format!(
                    "{s}'s table has {key}={}, acknowledged {value:?}",
                    show_value(&v)
                )),
                Err(e) => lost.push(format!("GetLocal({key}) on {s}: {e}")),
            }
        }
    }
    h.safety(format!(
        "every acknowledged put survives the death of {w}: through the new writer and in \
         every survivor's table"
    ))
    .expected(format!(
        "the {} acknowledged keys, with their values",
        model.len()
    ))
    .no_violations(lost)?;

    // A put the old writer never acknowledged may have reached one replica
    // and not the other; the replicas must still end up alike.
    let expected = format!("{} hold the same table", survivors.join(" and "));
    let (v, sv) = (&view, &survivors);
    let agreed = h
        .eventually(
            "the survivors' tables agree (the new writer sent them what it gathered)",
            CONVERGE,
            expected,
            move || async move {
                let a = table(v, sv[0]).await?;
                let b = table(v, sv[1]).await?;
                if a == b {
                    Ok(a)
                } else {
                    Err(format!(
                        "{} vs {}: {}",
                        sv[1],
                        sv[0],
                        summary(&differences(&a, &b))
                    ))
                }
            },
        )
        .await?;
    // A failed put that the survivors agree on is now there for good: from
    // here on it counts as written. One they hold with another value than
    // the one put was never written by anyone.
    let mut invented = vec![];
    for (key, value) in unknown {
        match agreed.get(&key) {
            Some(v) if *v == value => {
                model.insert(key, value);
            }
            Some(v) => invented.push(format!(
                "{key}={v:?}, but the only put of {key} was {value:?}"
            )),
            None => {}
        }
    }
    h.safety("the tables hold no value that was never put")
        .no_violations(invented)?;

    let puts = plan(h, 6, &survivors, &keys);
    puts_seen_everywhere(h, &mut model, puts, &survivors).await?;

    // The old writer's node comes back, empty, and starts a writer of its
    // own before it connects. When it joins, :global finds two writers and
    // keeps one: the one on the node whose name sorts first, which may well
    // be the newcomer. The writer kept must hold every acknowledged write.
    h.restart(&w).await?;
    h.connect_from(&w, &survivors, &THREE, "the restarted node joins the mesh")
        .await?;
    one_writer(
        h,
        &THREE,
        &format!("with {w} back, every node's :global names one writer"),
    )
    .await?;
    writer_holds(
        h,
        &THREE,
        &model,
        &format!("the writer :global kept once {w} came back holds every acknowledged write"),
    )
    .await?;
    converge(
        h,
        &THREE,
        &model,
        &format!("{w}, back with an empty table, catches up"),
    )
    .await?;
    let puts = plan(h, 4, &THREE, &keys);
    puts_seen_everywhere(h, &mut model, puts, &THREE).await
}
