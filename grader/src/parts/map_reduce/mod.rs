//! Part 2, map-reduce: a coordinator hands word-count tasks to workers.
//!
//! Every stage writes a seeded corpus of text files into its directory,
//! counts its words with the grader's own implementation of the contract's
//! word rule ([`reference_count`], written apart from the part's code on
//! purpose), and compares the output file the part writes with that count,
//! word by word.
//!
//! Faults are timed from the coordinator's `Status`: the grader waits until
//! the job is where it wants it (a third of the map tasks done, the reduce
//! phase, ...), picks a worker that is running a task, and strikes. Workers
//! get `--task-delay-ms`, so every task lasts long enough to be struck.

use crate::part::{Part, StageDef};
use futures::FutureExt;
use std::time::Duration;

mod coordinator;
mod corpus;
mod job;
mod reference;

mod churn;
mod distributed;
mod partition;
mod stragglers;
mod word_count;
mod worker_failure;

pub use reference::{compare_output, reference_count, Counts};

use churn::churn;
use distributed::distributed;
use partition::partition;
use stragglers::stragglers;
use word_count::word_count;
use worker_failure::worker_failure;

/// The part, with its six stages.
pub fn part() -> Part {
    Part::new(2, "map-reduce").stages(vec![
        StageDef {
            name: "Word count",
            points: 10,
            goal: "the single-machine word count follows the contract's word rule exactly",
            hint: "Problem 1: a word is a maximal run of char::is_alphanumeric characters \
                       (apostrophes, hyphens, underscores and all punctuation split words), \
                       lowercased as a whole with str::to_lowercase. Try it: \
                       cargo run -p map-reduce -- local --input DIR.",
            lesson_anchor: "problem-1-the-word-rule",
            run: |h| word_count(h).boxed(),
        },
        StageDef {
            name: "Distributed",
            points: 20,
            goal: "a coordinator and three workers count the corpus exactly, every worker \
                       doing some of the work, with no shared file system",
            hint: "Problem 2: the worker announces itself (Hello) and monitors the \
                       coordinator; the coordinator hands map tasks to free workers, then \
                       reduce tasks once every map task is done; map output stays on the \
                       worker and reducers fetch it from there.",
            lesson_anchor: "problem-2-distribute-the-work",
            run: |h| distributed(h).boxed(),
        },
        StageDef {
            name: "Worker failure",
            points: 20,
            goal: "a worker killed mid-map and another killed mid-reduce: the job still \
                       ends, with exact counts",
            hint: "Problem 3: monitor every worker. On its Down, put its running task \
                       back in the queue, and its finished map tasks too: their output died \
                       with it, and reduce tasks still need it.",
            lesson_anchor: "problem-3-worker-failure",
            run: |h| worker_failure(h).boxed(),
        },
        StageDef {
            name: "Stragglers",
            points: 20,
            goal: "a paused worker's task is given to another worker after the timeout, \
                       and its late result, once it resumes, changes nothing",
            hint: "Problem 4: on every tick, give a task that has run longer than the \
                       task timeout to another worker; accept only the first completion of \
                       a task and ignore any other (count tasks, not messages).",
            lesson_anchor: "problem-4-stragglers-and-idempotent-results",
            run: |h| stragglers(h).boxed(),
        },
        StageDef {
            name: "Partition",
            points: 15,
            goal: "a worker cut off from the coordinator mid-job: exact counts; after the \
                       heal the worker rejoins and works again",
            hint: "Problem 5: a cut-off worker is a lost worker to the coordinator (its \
                       monitor fires). The worker's monitor on the coordinator fires too: it \
                       must keep trying to announce itself until it is welcomed again.",
            lesson_anchor: "problem-5-partitions",
            run: |h| partition(h).boxed(),
        },
        StageDef {
            name: "Churn",
            points: 15,
            goal: "workers killed and restarted again and again during the job: exact \
                       counts in bounded time, and the coordinator counts on exactly the \
                       live workers",
            hint: "Problem 6: nothing new if Problems 2 to 5 hold: every restart is a \
                       lost worker (its running task and its map output run again) followed \
                       by a new worker with a new pid. Keep workers by pid, so a Down or a \
                       result always names the incarnation it is about.",
            lesson_anchor: "problem-6-churn",
            run: |h| churn(h).boxed(),
        },
    ])
}

const COORD: &str = "coord";
const WORKERS: [&str; 3] = ["w1", "w2", "w3"];
const CALL: Duration = Duration::from_secs(5);
