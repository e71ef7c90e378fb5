//! Stage "Churn": workers killed and restarted during the job.

use super::coordinator::{progress, short};
use super::job::{check_output, cluster, start_job, wait_finished, Setup};
use super::WORKERS;
use crate::harness::{Harness, StageError};
use crate::report::model::CheckKind;
use contracts::map_reduce::WORKER;
use netsplit::Pid;
use rand::seq::SliceRandom;
use rand::Rng;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

pub(super) async fn churn(h: &mut Harness) -> Result<(), StageError> {
    let setup = Setup {
        workers: &WORKERS,
        m: 42,
        r: 6,
        task_timeout: h.scaled(Duration::from_secs(60)),
        task_delay_ms: 80,
        files: 40,
        kb: 8,
    };
    let job = cluster(h, &setup).await?;
    let id = start_job(h, &job).await?;
    // Restart workers until the job is done, at most six times.
    let mut during = 0;
    for _ in 0..6 {
        let wait = h.rng.gen_range(150..400);
        tokio::time::sleep(Duration::from_millis(wait)).await;
        let s = job.coord.status().await.unwrap_or_default();
        if s.job.as_ref().is_none_or(|j| j.result.is_some()) {
            break;
        }
        let mut busy: Vec<Pid> = s
            .workers
            .iter()
            .filter(|w| w.running.is_some())
            .map(|w| w.pid.clone())
            .collect();
        busy.sort_by(|a, b| a.node().cmp(b.node()));
        let victim = match busy.choose(&mut h.rng) {
            Some(p) => short(p.node()).to_string(),
            None => WORKERS.choose(&mut h.rng).expect("three").to_string(),
        };
        h.mark(format!("churn: {}; restart {victim}", progress(&s)));
        during += 1;
        h.restart(&victim).await?;
    }
    h.check(
        CheckKind::Liveness,
        "workers were restarted while the job ran",
        during >= 2,
        Some("at least 2 restarts before the job finished".into()),
        Some(format!(
            "{during} (a job this fast ignores --task-delay-ms: every task must take at least that long)"
        )),
    )?;
    wait_finished(
        h,
        &job,
        id,
        Duration::from_secs(20),
        "the job finishes despite the churn",
    )
    .await?;
    check_output(
        h,
        &job.corpus.expected,
        &job.output,
        "after the churn, the job counts every word exactly",
    )?;

    // The coordinator counts on each node's current worker, and on no dead one.
    let mut current: BTreeMap<String, Pid> = BTreeMap::new();
    for w in WORKERS {
        match h.whereis(w, WORKER).await {
            Ok(Some(p)) => {
                current.insert(w.to_string(), p);
            }
            other => {
                return Err(StageError::Inconclusive(format!(
                    "whereis {WORKER} on {w}: {other:?}"
                )))
            }
        }
    }
    let c = job.coord.clone();
    let want: BTreeSet<Pid> = current.values().cloned().collect();
    h.eventually(
        "the coordinator counts on exactly the live workers (each node's newest incarnation)",
        Duration::from_secs(5),
        format!(
            "workers {}",
            want.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
        || {
            let (c, want) = (c.clone(), want.clone());
            async move {
                let s = c.status().await?;
                let seen: BTreeSet<Pid> = s.workers.iter().map(|w| w.pid.clone()).collect();
                if seen == want && s.workers.len() == want.len() {
                    Ok(())
                } else {
                    Err(format!(
                        "workers {}",
                        s.workers
                            .iter()
                            .map(|w| w.pid.to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ))
                }
            }
        },
    )
    .await
}
