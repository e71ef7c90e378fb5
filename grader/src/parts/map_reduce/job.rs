//! A job on a cluster: starting the coordinator and the workers, running a
//! job, waiting on it and checking its output.

use super::coordinator::{count_done, done_by, progress, running_on, short, Coord};
use super::corpus::{write_corpus, Corpus};
use super::reference::{compare_output, Counts};
use super::COORD;
use crate::harness::{Harness, StageError, Wait};
use crate::report::model::CheckKind;
use contracts::map_reduce::{CoordinatorCall, CoordinatorReply, JobInfo, JobStatus, TaskKind};
use netsplit::Pid;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A cluster's settings.
pub(super) struct Setup {
    pub(super) workers: &'static [&'static str],
    pub(super) m: u32,
    pub(super) r: u32,
    pub(super) task_timeout: Duration,
    pub(super) task_delay_ms: u64,
    /// Ordinary files in the corpus, and their largest size in KiB.
    pub(super) files: usize,
    pub(super) kb: usize,
}

/// A started cluster: what it counts and where it writes.
pub(super) struct Job {
    pub(super) corpus: Corpus,
    pub(super) output: PathBuf,
    pub(super) coord: Coord,
}

/// Writes the corpus, starts the coordinator and the workers, and waits
/// until the coordinator counts on every worker.
pub(super) async fn cluster(h: &mut Harness, s: &Setup) -> Result<Job, StageError> {
    let corpus = write_corpus(h, "input", s.files, s.kb)?;
    let output = h.dir().join("word-counts.tsv");
    let coord_args: Vec<String> = vec![
        "coordinator".into(),
        "--input".into(),
        corpus.dir.display().to_string(),
        "--output".into(),
        output.display().to_string(),
        "--map-tasks".into(),
        s.m.to_string(),
        "--reduce-tasks".into(),
        s.r.to_string(),
        "--task-timeout-ms".into(),
        s.task_timeout.as_millis().to_string(),
    ];
    h.mark(format!(
        "corpus: {} files, {} KiB, {} distinct words; M={} R={}, task timeout {} ms, task delay {} ms",
        corpus.files,
        corpus.bytes / 1024,
        corpus.expected.len(),
        s.m,
        s.r,
        s.task_timeout.as_millis(),
        s.task_delay_ms
    ));
    h.start_nodes_with(&[COORD], |_| coord_args.clone()).await?;
    let worker_args: Vec<String> = vec![
        "worker".into(),
        "--coordinator".into(),
        h.full(COORD).to_string(),
        "--task-delay-ms".into(),
        s.task_delay_ms.to_string(),
    ];
    h.start_nodes_with(s.workers, |_| worker_args.clone())
        .await?;
    let coord = Coord::of(h);
    wait_workers(
        h,
        &coord,
        s.workers,
        "the coordinator counts on every worker",
    )
    .await?;
    Ok(Job {
        corpus,
        output,
        coord,
    })
}

/// Liveness: the coordinator lists exactly one worker on each of `nodes`.
pub(super) async fn wait_workers(
    h: &mut Harness,
    coord: &Coord,
    nodes: &[&str],
    what: &str,
) -> Result<(), StageError> {
    let want: BTreeSet<String> = nodes.iter().map(|s| s.to_string()).collect();
    let c = coord.clone();
    h.eventually(
        what,
        Duration::from_secs(5),
        format!("workers on {}", nodes.join(", ")),
        || {
            let (c, want) = (c.clone(), want.clone());
            async move {
                let s = c.status().await?;
                let mut seen: Vec<String> = s
                    .workers
                    .iter()
                    .map(|w| short(w.pid.node()).to_string())
                    .collect();
                seen.sort();
                let set: BTreeSet<String> = seen.iter().cloned().collect();
                if set == want && seen.len() == want.len() {
                    Ok(())
                } else {
                    Err(format!("workers on [{}]", seen.join(", ")))
                }
            }
        },
    )
    .await
}

/// Starts a job; returns its id.
pub(super) async fn start_job(h: &mut Harness, job: &Job) -> Result<u64, StageError> {
    let r = job.coord.call(CoordinatorCall::Start).await;
    match r {
        Ok(CoordinatorReply::Started { job }) => {
            h.mark(format!("job {job} started"));
            Ok(job)
        }
        other => h
            .check(
                CheckKind::Liveness,
                "the coordinator starts a job",
                false,
                Some("Started { job }".into()),
                Some(match other {
                    Ok(r) => format!("{r:?}"),
                    Err(e) => e,
                }),
            )
            .map(|_| 0),
    }
}

/// Liveness: job `id` finishes within `within` (scaled). Returns it.
pub(super) async fn wait_finished(
    h: &mut Harness,
    job: &Job,
    id: u64,
    within: Duration,
    what: &str,
) -> Result<JobInfo, StageError> {
    let c = job.coord.clone();
    let info = h
        .eventually(what, within, format!("job {id} finished"), || {
            let c = c.clone();
            async move {
                let s = c.status().await?;
                match &s.job {
                    Some(j) if j.id == id && j.result.is_some() => Ok(j.clone()),
                    _ => Err(progress(&s)),
                }
            }
        })
        .await?;
    if let Some(r) = &info.result {
        h.mark(format!(
            "job {id} finished in {} ms: {} words, {} distinct",
            r.elapsed_ms, r.total_words, r.distinct_words
        ));
    }
    Ok(info)
}

/// Safety: the output file holds exactly the expected counts.
pub(super) fn check_output(
    h: &mut Harness,
    expected: &Counts,
    path: &Path,
    what: &str,
) -> Result<(), StageError> {
    let verdict = match std::fs::read(path) {
        Ok(bytes) => match String::from_utf8(bytes) {
            Ok(text) => compare_output(expected, &text),
            Err(_) => Err(format!("{} is not UTF-8", path.display())),
        },
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    };
    let total: u64 = expected.values().sum();
    h.check(
        CheckKind::Safety,
        what,
        verdict.is_ok(),
        Some(format!(
            "{} distinct words, {total} in all, each with its exact count",
            expected.len()
        )),
        Some(match verdict {
            Ok(()) => "exactly that".into(),
            Err(e) => e,
        }),
    )
}

/// Polls the coordinator until `pick` finds what it looks for in a status
/// (liveness, within `within`). `waiting` says what is awaited.
pub(super) async fn wait_for<T, F>(
    h: &mut Harness,
    coord: &Coord,
    what: &str,
    within: Duration,
    waiting: &str,
    pick: F,
) -> Result<T, StageError>
where
    F: Fn(&JobStatus) -> Option<T> + Clone + Send + 'static,
    T: Send + 'static,
{
    let c = coord.clone();
    h.eventually_unless(what, within, waiting.to_string(), || {
        let (c, pick) = (c.clone(), pick.clone());
        async move {
            let s = c.status().await.map_err(Wait::NotYet)?;
            if let Some(t) = pick(&s) {
                return Ok(t);
            }
            // A finished job never gets there: say so now, not at the deadline.
            match &s.job {
                Some(j) if j.result.is_some() => {
                    let undone = j.map_tasks.len() - count_done(&j.map_tasks);
                    let why = if undone > 0 {
                        format!(
                            "with {undone} map task(s) not done: its done-count is wrong (a \
                             lost worker's map output not run again, or a result counted \
                             twice), so the output misses words"
                        )
                    } else {
                        "so what this waits for can no longer happen".to_string()
                    };
                    Err(Wait::Never(format!(
                        "the job finished early, {why}: {}",
                        progress(&s)
                    )))
                }
                _ => Err(Wait::NotYet(progress(&s))),
            }
        }
    })
    .await
}

/// Workers (by pid) running a task of `kind` that the task table agrees
/// they run, sorted by node name.
pub(super) fn running(s: &JobStatus, kind: TaskKind) -> Vec<(Pid, u32)> {
    let Some(j) = &s.job else { return vec![] };
    let tasks = match kind {
        TaskKind::Map => &j.map_tasks,
        TaskKind::Reduce => &j.reduce_tasks,
    };
    let mut v: Vec<(Pid, u32)> = s
        .workers
        .iter()
        .filter_map(|w| {
            let t = w.running?;
            let task = tasks.get(t.index as usize)?;
            (t.kind == kind && running_on(&task.state) == Some(&w.pid))
                .then(|| (w.pid.clone(), t.index))
        })
        .collect();
    v.sort_by(|a, b| a.0.node().cmp(b.0.node()));
    v
}

/// Map tasks done by `pid`.
pub(super) fn maps_held(j: &JobInfo, pid: &Pid) -> usize {
    j.map_tasks
        .iter()
        .filter(|t| done_by(&t.state) == Some(pid))
        .count()
}
