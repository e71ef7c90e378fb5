//! A worker: announces itself to the coordinator, runs the tasks it is
//! given, keeps its map output until reducers have fetched it, and finds its
//! way back to the coordinator when it loses it.
//!
//! The GenServer itself only keeps state and answers quickly: each task runs
//! in a process of its own, so the worker can serve `Fetch` calls from
//! reducers while it is busy (two reducers fetching from each other must not
//! wait on each other).

use crate::protocol::{
    Assignment, Output, TaskId, ToCoordinator, ToWorker, Work, WorkerCall, WorkerReply,
};
use crate::wordcount::{self, Counts};
use contracts::map_reduce::{TaskKind, COORDINATOR};
use netsplit::gen_server::{self, CallResponse, Caller, Flow, GenServer, Info};
use netsplit::{Ctx, ExitReason, NodeName, Pid, Ref};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::time::Duration;

/// How long a reducer waits for one map output.
const FETCH_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a reducer that could not fetch waits before it says so (the
/// coordinator may not have noticed yet that the map output is gone).
const FAILURE_BACKOFF: Duration = Duration::from_millis(200);
/// How long to wait before trying to reach a lost coordinator again.
const REJOIN_EVERY: Duration = Duration::from_millis(500);

/// Messages a worker sends itself.
#[derive(Serialize, Deserialize, Debug)]
pub enum Note {
    /// Time to announce ourselves to the coordinator again.
    Rejoin,
    /// A task process finished.
    Finished {
        /// Which task.
        id: TaskId,
        /// Which attempt.
        attempt: u32,
        /// Its result, or why it failed.
        result: Result<Finished, String>,
    },
}

/// What a task process produced.
#[derive(Serialize, Deserialize, Debug)]
pub enum Finished {
    /// A map task's R partitions.
    Map(Vec<Counts>),
    /// A reduce task's counts.
    Reduce(Counts),
}

/// The worker's state.
pub struct Worker {
    coordinator: NodeName,
    task_delay: Duration,
    /// Our monitor on the coordinator, while we are (or try to be) with it.
    watch: Option<Ref>,
    /// The coordinator has welcomed us (and not been lost since).
    joined: bool,
    /// Map outputs we hold: (job, map task) → its R partitions.
    outputs: HashMap<(u64, u32), Vec<Counts>>,
}

impl Worker {
    /// A worker for the coordinator on node `coordinator`. Every task takes
    /// at least `task_delay` (a grading aid: faults can land mid-task).
    pub fn new(coordinator: NodeName, task_delay: Duration) -> Worker {
        Worker {
            coordinator,
            task_delay,
            watch: None,
            joined: false,
            outputs: HashMap::new(),
        }
    }

    /// Problem 2: monitor the coordinator, then say hello. (The monitor
    /// comes first: if the coordinator is unreachable, its `Down` tells us to
    /// try again.)
    fn join(&mut self, ctx: &Ctx) {
        let coordinator = (COORDINATOR, &self.coordinator);
        self.watch = Some(ctx.monitor(coordinator));
        let hello = ToCoordinator::Hello {
            worker: ctx.pid().clone(),
        };
        let _ = gen_server::cast(ctx.node(), coordinator, &hello);
    }

    /// Problem 2: runs a task in a process of its own, which sends us a
    /// `Note::Finished` when it is done.
    fn run(&mut self, a: Assignment, ctx: &Ctx) {
        // Outputs of older jobs are no longer needed.
        self.outputs.retain(|(job, _), _| *job >= a.id.job);
        let me = ctx.pid().clone();
        let delay = self.task_delay;
        let (id, attempt) = (a.id, a.attempt);
        ctx.node().spawn(move |tctx: Ctx| async move {
            let result = match a.work {
                Work::Map {
                    files,
                    reduce_tasks,
                } => Ok(Finished::Map(wordcount::map(&files, reduce_tasks))),
                Work::Reduce { sources } => fetch_all(&tctx, id, &sources)
                    .await
                    .map(|parts| Finished::Reduce(wordcount::reduce(&parts))),
            };
            let pause = if result.is_ok() {
                delay
            } else {
                FAILURE_BACKOFF
            };
            tokio::time::sleep(pause).await;
            let _ = tctx.send(
                &me,
                &Note::Finished {
                    id,
                    attempt,
                    result,
                },
            );
        });
    }
}

/// Problem 2: partition `id.task.index` of every map task's output, each
/// from the worker that holds it, all at once.
async fn fetch_all(ctx: &Ctx, id: TaskId, sources: &[(u32, Pid)]) -> Result<Vec<Counts>, String> {
    let calls = sources.iter().map(|(map, owner)| async move {
        let req = WorkerCall::Fetch {
            job: id.job,
            map: *map,
            partition: id.task.index,
        };
        let r = gen_server::call::<_, WorkerReply>(ctx.node(), owner, &req, FETCH_TIMEOUT).await;
        (map, owner, r)
    });
    let mut parts = vec![];
    let mut missing = vec![];
    for (map, owner, r) in futures::future::join_all(calls).await {
        match r {
            Ok(WorkerReply::Partition(c)) => parts.push(c),
            Ok(WorkerReply::Missing) => {
                missing.push(format!("map {map}: {owner} does not have it"))
            }
            Err(e) => missing.push(format!("map {map} from {owner}: {e}")),
        }
    }
    if missing.is_empty() {
        Ok(parts)
    } else {
        Err(format!("could not fetch {}", missing.join("; ")))
    }
}

impl GenServer for Worker {
    type Call = WorkerCall;
    type Reply = WorkerReply;
    type Cast = ToWorker;
    type Info = Note;

    async fn init(&mut self, ctx: &Ctx) -> Result<(), ExitReason> {
        self.join(ctx);
        Ok(())
    }

    async fn handle_call(
        &mut self,
        request: WorkerCall,
        _from: Caller<WorkerReply>,
        _ctx: &Ctx,
    ) -> CallResponse<WorkerReply> {
        // Problem 2: a reducer wants one partition of a map output we hold.
        let WorkerCall::Fetch {
            job,
            map,
            partition,
        } = request;
        CallResponse::Reply(
            match self
                .outputs
                .get(&(job, map))
                .and_then(|parts| parts.get(partition as usize))
            {
                Some(counts) => WorkerReply::Partition(counts.clone()),
                None => WorkerReply::Missing,
            },
        )
    }

    async fn handle_cast(&mut self, msg: ToWorker, ctx: &Ctx) -> Flow {
        match msg {
            ToWorker::Welcome => {
                if !self.joined {
                    tracing::info!("joined the coordinator on {}", self.coordinator);
                }
                self.joined = true;
            }
            ToWorker::Run(a) => self.run(a, ctx),
        }
        Flow::Continue
    }

    async fn handle_info(&mut self, info: Info<Note>, ctx: &Ctx) -> Flow {
        match info {
            Info::Msg(Note::Finished {
                id,
                attempt,
                result,
            }) => {
                // Problem 2: keep a map output here; report to the coordinator.
                let worker = ctx.pid().clone();
                let report = match result {
                    Ok(Finished::Map(parts)) => {
                        debug_assert_eq!(id.task.kind, TaskKind::Map);
                        self.outputs.insert((id.job, id.task.index), parts);
                        ToCoordinator::Done {
                            worker,
                            id,
                            attempt,
                            output: Output::Map,
                        }
                    }
                    Ok(Finished::Reduce(counts)) => ToCoordinator::Done {
                        worker,
                        id,
                        attempt,
                        output: Output::Reduce(counts),
                    },
                    Err(reason) => ToCoordinator::Failed {
                        worker,
                        id,
                        attempt,
                        reason,
                    },
                };
                let _ = gen_server::cast(ctx.node(), (COORDINATOR, &self.coordinator), &report);
            }
            Info::Down(d) if Some(&d.mref) == self.watch.as_ref() => {
                // Problem 5: the coordinator is gone or out of reach. It has
                // given up on us (and on our map outputs); knock again until
                // it answers, so that it counts on us again.
                if self.joined {
                    tracing::warn!(
                        "lost the coordinator on {} ({}); trying again every {} ms",
                        self.coordinator,
                        d.reason,
                        REJOIN_EVERY.as_millis()
                    );
                } else {
                    tracing::debug!("cannot reach the coordinator yet ({})", d.reason);
                }
                self.joined = false;
                self.watch = None;
                ctx.send_after(&Note::Rejoin, REJOIN_EVERY);
            }
            Info::Msg(Note::Rejoin) => self.join(ctx),
            _ => {}
        }
        Flow::Continue
    }
}
