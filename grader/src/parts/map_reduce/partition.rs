//! Stage "Partition": a worker cut off from the coordinator mid-job, then one
//! cut off from the other workers while the coordinator still counts on it.

use super::coordinator::{count_done, short};
use super::job::{
    check_output, cluster, maps_held, running, start_job, wait_finished, wait_for, wait_workers,
    Setup,
};
use super::{COORD, WORKERS};
use crate::harness::{Harness, StageError};
use crate::report::model::CheckKind;
use contracts::map_reduce::TaskKind;
use rand::Rng;
use std::time::Duration;

pub(super) async fn partition(h: &mut Harness) -> Result<(), StageError> {
    let m = h.rng.gen_range(14..=18);
    let setup = Setup {
        workers: &WORKERS,
        m,
        r: h.rng.gen_range(4..=6),
        task_timeout: h.scaled(Duration::from_secs(60)),
        task_delay_ms: 100,
        files: 20,
        kb: 12,
    };
    let job = cluster(h, &setup).await?;
    let id = start_job(h, &job).await?;

    let quarter = (m as usize).div_ceil(4);
    let (pid, task) = wait_for(
        h,
        &job.coord,
        "a quarter of the map tasks are done while workers run more",
        Duration::from_secs(10),
        "a worker running a map task and holding the output of another",
        move |s| {
            let j = s.job.as_ref()?;
            if count_done(&j.map_tasks) < quarter {
                return None;
            }
            running(s, TaskKind::Map)
                .into_iter()
                .find(|(p, _)| maps_held(j, p) > 0)
        },
    )
    .await?;
    let cut = short(pid.node()).to_string();
    h.mark(format!(
        "{cut} runs map {task} and holds map output: cut it off from the coordinator"
    ));
    h.partition(&[&[COORD], &[cut.as_str()]]).await?;
    let rest: Vec<&str> = WORKERS.iter().copied().filter(|w| *w != cut).collect();
    wait_workers(
        h,
        &job.coord,
        &rest,
        &format!("the coordinator stops counting on the cut-off {cut}"),
    )
    .await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    h.heal();
    wait_workers(
        h,
        &job.coord,
        &WORKERS,
        &format!("after the heal, {cut} announces itself again and is counted on"),
    )
    .await?;
    wait_finished(h, &job, id, Duration::from_secs(15), "the job finishes").await?;
    check_output(
        h,
        &job.corpus.expected,
        &job.output,
        "after the partition, the job counts every word exactly",
    )?;

    // A second job: the healed worker works again, and the count is exact
    // again. Half-way through its map phase, a worker holding map output is
    // cut off from the other workers, not from the coordinator, which still
    // counts on it: its output cannot be fetched, and reducers must fail
    // their task rather than leave that output out.
    let id2 = start_job(h, &job).await?;
    let half = (m as usize).div_ceil(2);
    let holder = wait_for(
        h,
        &job.coord,
        "half of the second job's map tasks are done",
        Duration::from_secs(10),
        "half of the map tasks done, by a worker that holds their output",
        move |s| {
            let j = s.job.as_ref().filter(|j| j.id == id2)?;
            if count_done(&j.map_tasks) < half {
                return None;
            }
            s.workers
                .iter()
                .map(|w| w.pid.clone())
                .find(|p| maps_held(j, p) > 0)
        },
    )
    .await?;
    let apart = short(holder.node()).to_string();
    let others: Vec<&str> = WORKERS.iter().copied().filter(|w| *w != apart).collect();
    h.mark(format!(
        "{apart} holds map output: cut it off from the other workers, not from the coordinator"
    ));
    h.partition(&[&[apart.as_str()], &others]).await?;
    tokio::time::sleep(h.scaled(Duration::from_millis(1500))).await;
    h.heal();
    let info = wait_finished(
        h,
        &job,
        id2,
        Duration::from_secs(15),
        "a second job finishes",
    )
    .await?;
    check_output(
        h,
        &job.corpus.expected,
        &job.output,
        &format!(
            "the second job counts every word exactly (no reducer left out the output {apart} \
             held while it could not be fetched)"
        ),
    )?;
    let n = info.completed_by.get(&h.full(&cut)).copied().unwrap_or(0);
    h.check(
        CheckKind::Safety,
        format!("{cut}, back from the partition, completes tasks of the second job"),
        n > 0,
        Some("at least one task".into()),
        Some(format!("completed_by {:?}", info.completed_by)),
    )
}
