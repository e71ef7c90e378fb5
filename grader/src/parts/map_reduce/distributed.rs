//! Stage "Distributed": a coordinator and three workers, no shared file system.

use super::job::{check_output, cluster, start_job, wait_finished, Setup};
use super::{COORD, WORKERS};
use crate::harness::{Harness, StageError};
use crate::report::model::CheckKind;
use rand::Rng;
use std::time::Duration;

pub(super) async fn distributed(h: &mut Harness) -> Result<(), StageError> {
    let setup = Setup {
        workers: &WORKERS,
        m: h.rng.gen_range(9..=14),
        r: h.rng.gen_range(3..=6),
        task_timeout: h.scaled(Duration::from_secs(30)),
        task_delay_ms: 40,
        files: 24,
        kb: 16,
    };
    let job = cluster(h, &setup).await?;
    let id = start_job(h, &job).await?;
    let info = wait_finished(h, &job, id, Duration::from_secs(15), "the job finishes").await?;
    check_output(
        h,
        &job.corpus.expected,
        &job.output,
        "the job counts every word of the corpus exactly",
    )?;
    let by: Vec<String> = WORKERS
        .iter()
        .map(|w| {
            let n = info.completed_by.get(&h.full(w)).copied().unwrap_or(0);
            format!("{w}: {n}")
        })
        .collect();
    let idle: Vec<&str> = WORKERS
        .iter()
        .copied()
        .filter(|w| info.completed_by.get(&h.full(w)).copied().unwrap_or(0) == 0)
        .collect();
    h.check(
        CheckKind::Safety,
        "every worker completed tasks",
        idle.is_empty(),
        Some("at least one task completed by each of w1, w2, w3".into()),
        Some(format!("completed_by {}", by.join(", "))),
    )?;
    // No shared file system: the input travels in messages...
    let shipped = h.traffic(&[COORD], &WORKERS).bytes;
    h.check(
        CheckKind::Safety,
        "the input files travel to the workers in messages (no shared file system)",
        shipped >= job.corpus.bytes,
        Some(format!(
            "at least the corpus's {} bytes sent by the coordinator to the workers",
            job.corpus.bytes
        )),
        Some(format!("{shipped} bytes")),
    )?;
    // ...and map output is fetched from the worker that made it.
    let between = h.traffic(&WORKERS, &WORKERS).bytes;
    h.check(
        CheckKind::Safety,
        "reducers fetch map output from the workers that hold it",
        between > 0,
        Some("messages between workers".into()),
        Some(format!("{between} bytes between workers")),
    )
}
