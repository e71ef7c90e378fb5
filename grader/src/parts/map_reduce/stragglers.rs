//! Stage "Stragglers": a paused worker's task done again elsewhere, in the
//! map phase and in the reduce phase.

use super::coordinator::{count_done, done_by, running_on, short};
use super::job::{check_output, cluster, running, start_job, wait_finished, wait_for, Setup};
use super::WORKERS;
use crate::harness::{Harness, StageError};
use contracts::map_reduce::TaskKind;
use rand::seq::SliceRandom;
use std::time::Duration;

pub(super) async fn stragglers(h: &mut Harness) -> Result<(), StageError> {
    let m = 24;
    let setup = Setup {
        workers: &WORKERS,
        m,
        // Two rounds of reduce tasks at least on three workers, so that one
        // can be caught running.
        r: 6,
        task_timeout: Duration::from_millis(500),
        task_delay_ms: 100,
        files: 30,
        kb: 8,
    };
    let job = cluster(h, &setup).await?;
    let id = start_job(h, &job).await?;

    // Early in the map phase, pause a worker in the middle of a map task.
    let cands = wait_for(
        h,
        &job.coord,
        "a worker runs a map task",
        Duration::from_secs(5),
        "a worker running a map task (every task lasts at least --task-delay-ms)",
        |s| {
            let c = running(s, TaskKind::Map);
            (!c.is_empty()).then_some(c)
        },
    )
    .await?;
    let (pid, task) = cands.choose(&mut h.rng).cloned().expect("not empty");
    let slow = short(pid.node()).to_string();
    h.pause(&slow).await?;
    h.mark(format!("{slow} paused in the middle of map {task}"));

    // Its task must go to someone else and be done there, while the
    // coordinator still counts on it (a timeout, not a lost worker).
    let p = pid.clone();
    let (redone, by) = wait_for(
        h,
        &job.coord,
        &format!("the task of the paused {slow} is given to another worker, who does it"),
        // Well below net_ticktime: the paused node must not be declared down.
        Duration::from_millis(2500),
        &format!("{slow}'s task done by another worker while {slow} is still a worker"),
        move |s| {
            let j = s.job.as_ref()?;
            let me = s.workers.iter().find(|w| w.pid == p)?;
            let t = me.running?;
            let tasks = match t.kind {
                TaskKind::Map => &j.map_tasks,
                TaskKind::Reduce => &j.reduce_tasks,
            };
            let by = done_by(&tasks.get(t.index as usize)?.state)?;
            (*by != p).then(|| (t, short(by.node()).to_string()))
        },
    )
    .await?;
    let left = job
        .coord
        .status()
        .await
        .ok()
        .and_then(|s| s.job)
        .map(|j| j.map_tasks.len() - count_done(&j.map_tasks))
        .unwrap_or(0);
    h.mark(format!(
        "{} {} was done again by {by}; {left} map tasks to go",
        match redone.kind {
            TaskKind::Map => "map",
            TaskKind::Reduce => "reduce",
        },
        redone.index
    ));
    h.resume(&slow).await?;
    h.mark(format!("{slow} resumed: its late result is on its way"));

    // The straggler reports; the coordinator must take it in stride.
    let p = pid.clone();
    wait_for(
        h,
        &job.coord,
        &format!("the coordinator hears the late result of {slow}"),
        Duration::from_secs(3),
        &format!("{slow} no longer running the task it was paused in"),
        move |s| {
            let me = s.workers.iter().find(|w| w.pid == p)?;
            (me.running != Some(redone)).then_some(())
        },
    )
    .await?;

    // The timeout covers reduce tasks too: in the reduce phase, pause a
    // worker in the middle of one.
    let cands = wait_for(
        h,
        &job.coord,
        "a worker runs a reduce task",
        Duration::from_secs(10),
        "a worker running a reduce task (every task lasts at least --task-delay-ms)",
        |s| {
            let c = running(s, TaskKind::Reduce);
            (!c.is_empty()).then_some(c)
        },
    )
    .await?;
    let (pid, task) = cands.choose(&mut h.rng).cloned().expect("not empty");
    let slow = short(pid.node()).to_string();
    h.pause(&slow).await?;
    h.mark(format!("{slow} paused in the middle of reduce {task}"));
    let p = pid.clone();
    let by = wait_for(
        h,
        &job.coord,
        &format!("reduce {task} of the paused {slow} is given to another worker"),
        Duration::from_millis(2500),
        &format!("reduce {task} running on, or done by, a worker other than {slow}"),
        move |s| {
            let j = s.job.as_ref()?;
            let state = &j.reduce_tasks.get(task as usize)?.state;
            let other = running_on(state).or(done_by(state))?;
            (*other != p).then(|| short(other.node()).to_string())
        },
    )
    .await?;
    h.mark(format!("reduce {task} was given to {by}"));
    h.resume(&slow).await?;
    h.mark(format!("{slow} resumed"));
    wait_finished(h, &job, id, Duration::from_secs(15), "the job finishes").await?;
    check_output(
        h,
        &job.corpus.expected,
        &job.output,
        "the straggler's late result changed nothing: every count is exact",
    )
}
