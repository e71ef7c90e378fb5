//! Talking to the coordinator, and reading its `Status`.

use super::{CALL, COORD};
use crate::harness::{ClusterView, Harness};
use contracts::map_reduce::{
    CoordinatorCall, CoordinatorReply, JobStatus, TaskKind, TaskState, COORDINATOR,
    COORDINATOR_SERVER,
};
use netsplit::gen_server::CallError;
use netsplit::{NodeName, Pid};

/// The grader's handle on the coordinator.
#[derive(Clone)]
pub(super) struct Coord {
    view: ClusterView,
}

impl Coord {
    pub(super) fn of(h: &Harness) -> Coord {
        Coord { view: h.view() }
    }

    pub(super) async fn call(&self, req: CoordinatorCall) -> Result<CoordinatorReply, String> {
        self.view
            .ask(COORD, COORDINATOR_SERVER, &req, CALL)
            .await
            .map_err(|e| format!("the coordinator did not answer {req:?}: {}", explain(&e)))
    }

    pub(super) async fn status(&self) -> Result<JobStatus, String> {
        match self.call(CoordinatorCall::Status).await? {
            CoordinatorReply::Status(s) => Ok(s),
            other => Err(format!("Status was answered with {other:?}")),
        }
    }
}

fn explain(e: &CallError) -> String {
    match e {
        CallError::Exit(r) => format!("it crashed ({r})"),
        CallError::NoProc => {
            format!("nothing is registered as {COORDINATOR:?} (did it crash? see the node's log)")
        }
        CallError::Timeout => "no answer in time (is it blocked waiting on a worker?)".into(),
        other => other.to_string(),
    }
}

pub(super) fn short(n: &NodeName) -> &str {
    n.short()
}

pub(super) fn done_by(state: &TaskState) -> Option<&Pid> {
    match state {
        TaskState::Done { worker } => Some(worker),
        _ => None,
    }
}

pub(super) fn running_on(state: &TaskState) -> Option<&Pid> {
    match state {
        TaskState::Running { worker } => Some(worker),
        _ => None,
    }
}

pub(super) fn count_done(tasks: &[contracts::map_reduce::TaskInfo]) -> usize {
    tasks.iter().filter(|t| done_by(&t.state).is_some()).count()
}

/// "map 5/16 done, reduce 0/6 done; w1 runs map 3, w2 idle".
pub(super) fn progress(s: &JobStatus) -> String {
    let workers: Vec<String> = s
        .workers
        .iter()
        .map(|w| match w.running {
            Some(t) => format!(
                "{} runs {} {}",
                short(w.pid.node()),
                match t.kind {
                    TaskKind::Map => "map",
                    TaskKind::Reduce => "reduce",
                },
                t.index
            ),
            None => format!("{} is idle", short(w.pid.node())),
        })
        .collect();
    let workers = if workers.is_empty() {
        "no workers".to_string()
    } else {
        workers.join(", ")
    };
    match &s.job {
        None => format!("no job; {workers}"),
        Some(j) => format!(
            "job {}: map {}/{} done, reduce {}/{} done{}; {workers}",
            j.id,
            count_done(&j.map_tasks),
            j.map_tasks.len(),
            count_done(&j.reduce_tasks),
            j.reduce_tasks.len(),
            if j.result.is_some() { ", finished" } else { "" }
        ),
    }
}
