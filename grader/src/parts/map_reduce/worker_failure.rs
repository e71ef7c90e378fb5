//! Stage "Worker failure": a worker killed mid-map, another mid-reduce.

use super::coordinator::{count_done, short};
use super::job::{
    check_output, cluster, maps_held, running, start_job, wait_finished, wait_for, wait_workers,
    Setup,
};
use super::WORKERS;
use crate::harness::{Harness, StageError};
use contracts::map_reduce::TaskKind;
use rand::seq::SliceRandom;
use rand::Rng;
use std::time::Duration;

pub(super) async fn worker_failure(h: &mut Harness) -> Result<(), StageError> {
    let m = h.rng.gen_range(14..=18);
    let setup = Setup {
        workers: &WORKERS,
        m,
        r: h.rng.gen_range(5..=7),
        // Long: only the workers' death may get their tasks run again.
        task_timeout: h.scaled(Duration::from_secs(60)),
        task_delay_ms: 120,
        files: 20,
        kb: 12,
    };
    let job = cluster(h, &setup).await?;
    let id = start_job(h, &job).await?;

    // Mid-map: once a third of the map tasks are done, kill a worker that runs one.
    let third = (m as usize).div_ceil(3);
    let candidates = wait_for(
        h,
        &job.coord,
        "a third of the map tasks are done while workers run more",
        Duration::from_secs(10),
        &format!(
            "at least {third} map tasks done and a worker running one (every task lasts at least \
             --task-delay-ms)"
        ),
        move |s| {
            let j = s.job.as_ref()?;
            let c = running(s, TaskKind::Map);
            (count_done(&j.map_tasks) >= third && !c.is_empty())
                .then(|| (c, count_done(&j.map_tasks)))
        },
    )
    .await?;
    let (cands, done) = candidates;
    let (victim, task) = cands.choose(&mut h.rng).cloned().expect("not empty");
    let first = short(victim.node()).to_string();
    h.mark(format!(
        "{first} runs map {task}, {done}/{m} map tasks done: kill it"
    ));
    h.kill(&first).await?;
    let rest: Vec<&str> = WORKERS.iter().copied().filter(|w| *w != first).collect();
    wait_workers(
        h,
        &job.coord,
        &rest,
        &format!("the coordinator stops counting on the killed {first}"),
    )
    .await?;

    // Mid-reduce: kill a worker that runs a reduce task and holds map output.
    let (victim, task, held) = wait_for(
        h,
        &job.coord,
        "every map task is done (the killed worker's included) and reduce tasks run",
        Duration::from_secs(10),
        "the reduce phase, with a worker running a reduce task and holding map output",
        move |s| {
            let j = s.job.as_ref()?;
            if j.result.is_some() || count_done(&j.map_tasks) < j.map_tasks.len() {
                return None;
            }
            running(s, TaskKind::Reduce)
                .into_iter()
                .map(|(p, t)| {
                    let held = maps_held(j, &p);
                    (p, t, held)
                })
                .find(|(_, _, held)| *held > 0)
        },
    )
    .await?;
    let second = short(victim.node()).to_string();
    h.mark(format!(
        "{second} runs reduce {task} and holds the output of {held} map tasks: kill it"
    ));
    h.kill(&second).await?;
    let last: Vec<&str> = rest.iter().copied().filter(|w| *w != second).collect();
    wait_workers(
        h,
        &job.coord,
        &last,
        &format!("the coordinator stops counting on the killed {second}"),
    )
    .await?;

    wait_finished(
        h,
        &job,
        id,
        Duration::from_secs(10),
        &format!("the job finishes on the one worker left (the map tasks {second} held run again)"),
    )
    .await?;
    check_output(
        h,
        &job.corpus.expected,
        &job.output,
        "after both kills, the job counts every word exactly",
    )
}
