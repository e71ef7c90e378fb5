//! What the coordinator and the workers say to each other.
//!
//! ```text
//!  worker                          coordinator                       other workers
//!    | -- Hello{worker} ----------------> |  (monitors the worker)
//!    | <------------------------ Welcome |
//!    | <------------------- Run(map task)|
//!    |   map: counts stay HERE, in R partitions
//!    | -- Done{Map} --------------------> |
//!    | <---------------- Run(reduce task) |
//!    | -- Fetch{map i, partition r} ---------------------------------------> |
//!    | <----------------------------------------------- Partition(counts) -- |
//!    | -- Done{Reduce(counts)} ---------> |
//! ```
//!
//! Everything is a cast except `Fetch`: the coordinator never waits on a
//! worker, so a dead or paused worker can never freeze it.
//!
//! Task ids are deterministic: map task 3 of job 1 is `TaskId { job: 1,
//! task: Map 3 }` whichever worker runs it, however many times. That is what
//! makes results idempotent: the coordinator keeps the first result per task
//! id and ignores any other.

use crate::wordcount::{Counts, InputFile};
use contracts::map_reduce::TaskRef;
use netsplit::Pid;
use serde::{Deserialize, Serialize};

/// A task's identity: the same for every attempt at it.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TaskId {
    /// The job it belongs to.
    pub job: u64,
    /// Which task of the job.
    pub task: TaskRef,
}

/// A task handed to a worker.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct Assignment {
    /// Which task.
    pub id: TaskId,
    /// Which attempt at it (1 for the first time it is handed out).
    pub attempt: u32,
    /// What to do.
    pub work: Work,
}

/// The work of a task.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub enum Work {
    /// Count the words of these files into `reduce_tasks` partitions, and keep
    /// the partitions until a reducer fetches them. The files travel in the
    /// message: workers share no file system with the coordinator.
    Map {
        /// The input files of this map task.
        files: Vec<InputFile>,
        /// R: how many partitions to make.
        reduce_tasks: u32,
    },
    /// Fetch partition `id.task.index` of every map task's output from the
    /// worker that holds it, and add them up.
    Reduce {
        /// (map task index, the worker holding its output), for every map task.
        sources: Vec<(u32, Pid)>,
    },
}

/// Casts to the coordinator (registered as `COORDINATOR`).
#[derive(Serialize, Deserialize, Debug, Clone)]
pub enum ToCoordinator {
    /// "I am a worker, give me work." Sent when a worker starts, and again
    /// whenever it has lost the coordinator and reaches it again.
    Hello {
        /// The worker process.
        worker: Pid,
    },
    /// A task is done.
    Done {
        /// Who did it.
        worker: Pid,
        /// Which task.
        id: TaskId,
        /// Which attempt.
        attempt: u32,
        /// Its output: nothing for a map task (its output stays on the
        /// worker), the counts of its partition for a reduce task.
        output: Output,
    },
    /// A task could not be done (a reducer could not fetch some map output).
    Failed {
        /// Who tried.
        worker: Pid,
        /// Which task.
        id: TaskId,
        /// Which attempt.
        attempt: u32,
        /// What went wrong.
        reason: String,
    },
}

/// What a finished task hands to the coordinator.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub enum Output {
    /// A map task: its partitions stay with the worker.
    Map,
    /// A reduce task: the final counts of its partition.
    Reduce(Counts),
}

/// Casts to a worker (to its pid).
#[derive(Serialize, Deserialize, Debug, Clone)]
pub enum ToWorker {
    /// The coordinator has registered (and monitors) this worker.
    Welcome,
    /// Run this task.
    Run(Assignment),
}

/// Calls a worker serves (reducers call the worker that ran a map task).
#[derive(Serialize, Deserialize, Debug, Clone)]
pub enum WorkerCall {
    /// Partition `partition` of the output of map task `map` of job `job`.
    Fetch {
        /// The job.
        job: u64,
        /// The map task's index.
        map: u32,
        /// The partition (the reduce task's index).
        partition: u32,
    },
}

/// A worker's replies.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub enum WorkerReply {
    /// The counts asked for.
    Partition(Counts),
    /// This worker does not have that output (it restarted, or never ran it).
    Missing,
}
