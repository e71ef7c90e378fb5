//! Part 2, map-reduce: a coordinator hands word-count tasks to workers.
//!
//! One node runs the coordinator, registered as [`COORDINATOR`]; every other
//! node runs a worker, registered as [`WORKER`]. The grader starts a job with
//! [`CoordinatorCall::Start`], follows it with [`CoordinatorCall::Status`], and
//! compares the output file the coordinator writes with its own count.
//!
//! How workers and the coordinator talk to each other (announcing, assigning
//! tasks, reporting, fetching map output) is not part of this contract: it is
//! the part's own protocol (`src/protocol.rs` of the part).
//!
//! # What a word is
//!
//! A word is a maximal run of characters for which [`char::is_alphanumeric`]
//! is true, lowercased as a whole with [`str::to_lowercase`]. Everything else
//! separates words: spaces, punctuation, apostrophes, hyphens, symbols, emoji.
//! Files are read as UTF-8 (an invalid byte sequence becomes U+FFFD, a
//! separator). So:
//!
//! | text                   | words                          |
//! |------------------------|--------------------------------|
//! | `Hello, hello!`        | `hello` ×2                     |
//! | `don't stop`           | `don`, `t`, `stop`             |
//! | `well-known 3rd 2024`  | `well`, `known`, `3rd`, `2024` |
//! | `Straße ÉCOLE naïve`   | `straße`, `école`, `naïve`     |
//! | `東京タワー 🙂 ok`      | `東京タワー`, `ok`              |
//! | `ΟΔΥΣΣΕΥΣ`             | `οδυσσευς` (final sigma)       |
//!
//! Lowercase the word, not each character on its own: `str::to_lowercase`
//! knows that a capital sigma at the end of a word becomes `ς`, `char`'s does
//! not.
//!
//! # The output file
//!
//! UTF-8 text, one line per distinct word: the word, a tab, its count, a
//! newline (`straße\t3\n`). Sorted by count, highest first, then by word.
//! Every word appears once. An empty input gives an empty file.

use netsplit::{NodeName, Pid};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The name the coordinator registers under, on its node.
pub const COORDINATOR: &str = "coordinator";
/// The name every worker registers under, on its node.
pub const WORKER: &str = "worker";

/// The coordinator, with the types of its calls.
pub const COORDINATOR_SERVER: crate::Server<CoordinatorCall, CoordinatorReply> =
    crate::Server::new(COORDINATOR);

/// Calls the coordinator serves for the grader (and for its own shell).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub enum CoordinatorCall {
    /// Read the input directory, split it into map tasks, start a new job and
    /// reply [`CoordinatorReply::Started`] at once (the job runs on while
    /// workers do it). If a job is still running, reply
    /// [`CoordinatorReply::Busy`]; if the input cannot be read,
    /// [`CoordinatorReply::Refused`].
    Start,
    /// Reply [`CoordinatorReply::Status`] at once, whatever the job is doing.
    Status,
}

/// The coordinator's replies.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub enum CoordinatorReply {
    /// A new job started, with this id (1 for the first job, then 2, …).
    Started {
        /// The job's id.
        job: u64,
    },
    /// A job is still running; wait for it to finish.
    Busy {
        /// The running job's id.
        job: u64,
    },
    /// The job could not start.
    Refused {
        /// Why, in plain words.
        reason: String,
    },
    /// What the coordinator knows right now.
    Status(JobStatus),
}

/// The coordinator's view of its workers and of its current (or last) job.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, Default)]
pub struct JobStatus {
    /// The workers the coordinator counts on right now: announced, and not
    /// known to be dead or unreachable. A restarted worker announces itself
    /// again, with a new pid.
    pub workers: Vec<WorkerInfo>,
    /// The current job, or the last one if none is running; `None` before the
    /// first `Start`.
    pub job: Option<JobInfo>,
}

/// One worker, as the coordinator sees it.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct WorkerInfo {
    /// The worker's pid (its node is `pid.node()`).
    pub pid: Pid,
    /// The task it was last given and has not reported on yet, if any. A
    /// straggler keeps its task here even after the task was given to
    /// another worker.
    pub running: Option<TaskRef>,
}

/// Which task: map task `index` (0..M) or reduce task `index` (0..R).
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TaskRef {
    /// Map or reduce.
    pub kind: TaskKind,
    /// Its number within its kind.
    pub index: u32,
}

/// The two kinds of task.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TaskKind {
    /// Counts the words of some input files, into R partitions.
    Map,
    /// Sums one partition over every map task's output.
    Reduce,
}

/// One job: its tasks and, once finished, its result.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct JobInfo {
    /// The job's id.
    pub id: u64,
    /// The M map tasks, in order.
    pub map_tasks: Vec<TaskInfo>,
    /// The R reduce tasks, in order.
    pub reduce_tasks: Vec<TaskInfo>,
    /// How many task completions were accepted from each worker node in this
    /// job (duplicates and late results that were ignored do not count).
    pub completed_by: BTreeMap<NodeName, u32>,
    /// Set once every reduce task is done and the output file is written.
    pub result: Option<JobResult>,
}

/// One task of a job.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct TaskInfo {
    /// How many times it was handed to a worker (0 while never assigned).
    pub attempts: u32,
    /// Where it stands.
    pub state: TaskState,
}

/// Where a task stands.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub enum TaskState {
    /// Waiting for a worker (never assigned, or to be run again).
    Idle,
    /// Its latest attempt runs on this worker.
    Running {
        /// The worker.
        worker: Pid,
    },
    /// Done by this worker. A map task's output lives there: if that worker
    /// is lost before every reduce task is done, the map task is run again.
    Done {
        /// The worker.
        worker: Pid,
    },
}

/// A finished job.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct JobResult {
    /// From `Start` to the output file written, in milliseconds.
    pub elapsed_ms: u64,
    /// Words counted (the sum of all counts).
    pub total_words: u64,
    /// Distinct words (lines in the output file).
    pub distinct_words: u64,
    /// The ten most frequent words, as in the output file.
    pub top: Vec<(String, u64)>,
    /// The output file's path.
    pub output: String,
}
