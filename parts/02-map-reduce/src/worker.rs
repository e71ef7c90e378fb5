//! A worker: announces itself to the coordinator, runs the tasks it is
//! given, keeps its map output until reducers have fetched it, and finds its
//! way back to the coordinator when it loses it.
//!
//! The GenServer itself only keeps state and answers quickly: each task runs
//! in a process of its own, so the worker can serve `Fetch` calls from
//! reducers while it is busy (two reducers fetching from each other must not
//! wait on each other).
//!
//! Lesson: docs/src/part-2-map-reduce.md. The messages are in `protocol.rs`
//! (read it first). Yours: the `todo!()`s and TODOs, Problems 2 and 5.

// Until every todo!() below is filled in, some imports and arguments are
// unused. Delete this line when you are done: the compiler's warnings then
// help you check your work (an import your own code does not need is one of
// them: delete it too).
#![allow(unused)]

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

    /// Problem 2: monitor the coordinator, then say hello.
    fn join(&mut self, ctx: &Ctx) {
        // TODO Problem 2 (docs/src/part-2-map-reduce.md, "Problem 2,
        // distribute the work"): monitor the process registered as
        // COORDINATOR on the coordinator's node (ctx.monitor) and keep the
        // reference in self.watch; then cast it a ToCoordinator::Hello with
        // this process's pid. The monitor comes first: if the coordinator
        // cannot be reached, its Down says so at once.
        // (Not a todo!(): this runs in init, and a panic there would stop the
        // node from starting.)
        tracing::warn!("Problem 2 is not done yet: this worker does not announce itself");
    }

    /// Problem 2: runs a task in a process of its own, which sends us a
    /// `Note::Finished` when it is done.
    fn run(&mut self, a: Assignment, ctx: &Ctx) {
        todo!(
            "Problem 2 (docs/src/part-2-map-reduce.md, 'Problem 2, distribute the work'): run {:?} \
             {} (attempt {}) in a process of its own (ctx.node().spawn), so that this server stays \
             free to serve Fetch calls meanwhile. A map task is wordcount::map over its files; a \
             reduce task is wordcount::reduce over what fetch_all brings back. Then wait \
             self.task_delay (the grader relies on it to catch tasks in the middle) and send \
             Note::Finished to this server's pid.",
            a.id.task.kind,
            a.id.task.index,
            a.attempt
        )
    }
}

/// Problem 2: partition `id.task.index` of every map task's output, each
/// from the worker that holds it, all at once.
async fn fetch_all(ctx: &Ctx, id: TaskId, sources: &[(u32, Pid)]) -> Result<Vec<Counts>, String> {
    todo!(
        "Problem 2 (docs/src/part-2-map-reduce.md, 'Problem 2, distribute the work'): ask each of \
         the {} holders for its part, all at once (gen_server::call with a WorkerCall::Fetch and \
         FETCH_TIMEOUT, under futures::future::join_all). Ok with every partition, or an Err \
         naming what could not be fetched and why (a dead holder, a Missing reply, a timeout).",
        sources.len()
    )
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
        let WorkerCall::Fetch {
            job,
            map,
            partition,
        } = request;
        todo!(
            "Problem 2 (docs/src/part-2-map-reduce.md, 'Problem 2, distribute the work'): a \
             reducer wants partition {partition} of the output of map task {map} of job {job}. \
             Reply with a copy of it if self.outputs holds it (WorkerReply::Partition), else \
             WorkerReply::Missing."
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
                todo!(
                    "Problem 2 (docs/src/part-2-map-reduce.md, 'Problem 2, distribute the work'): \
                     {:?} {} (attempt {attempt}) finished. Keep a map task's partitions in \
                     self.outputs (key: its job and map index): they stay here for reducers to \
                     fetch. Then tell the coordinator (a cast to COORDINATOR on its node): \
                     ToCoordinator::Done with Output::Map or Output::Reduce, or \
                     ToCoordinator::Failed with the error.",
                    id.task.kind,
                    id.task.index
                )
            }
            Info::Down(d) if Some(&d.mref) == self.watch.as_ref() => {
                // TODO Problem 5 (docs/src/part-2-map-reduce.md, "Problem 5,
                // partitions"): the coordinator is gone or out of reach, and
                // it has given up on us. Forget the monitor and try again
                // later: send ourselves Note::Rejoin after REJOIN_EVERY
                // (ctx.send_after). Rejoin calls self.join, which monitors and
                // says hello again, until the coordinator welcomes us back.
                // (Not a todo!(): a panic here would restart the worker.)
                tracing::warn!(
                    "Problem 5 is not done yet: lost the coordinator ({}) and not trying again",
                    d.reason
                );
            }
            Info::Msg(Note::Rejoin) => self.join(ctx),
            _ => {}
        }
        Flow::Continue
    }
}
