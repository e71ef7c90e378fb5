//! The coordinator: splits a job into tasks, hands them to workers, and
//! survives the workers' failures.
//!
//! It is a GenServer that never waits on a worker: it casts tasks out and
//! gets casts back, so a dead, paused or cut-off worker cannot freeze it.
//!
//! Lesson: docs/src/part-2-map-reduce.md. What the grader asks and expects
//! is in `contracts::map_reduce`; what workers and the coordinator say to
//! each other is in `protocol.rs` (read both first). Provided: the state,
//! starting a job, failed tasks, writing the result and the status. Yours:
//! the `todo!()`s and TODOs, Problems 2 to 5.

// Until every todo!() below is filled in, some imports and arguments are
// unused. Delete this line when you are done: the compiler's warnings then
// help you check your work (an import your own code does not need is one of
// them: delete it too).
#![allow(unused)]

use crate::protocol::{Assignment, Output, TaskId, ToCoordinator, ToWorker, Work};
use crate::wordcount::{self, Counts, InputFile, Summary};
use contracts::map_reduce::{
    CoordinatorCall, CoordinatorReply, JobInfo, JobResult, JobStatus, TaskInfo, TaskKind, TaskRef,
    TaskState, WorkerInfo,
};
use netsplit::gen_server::{self, CallResponse, Caller, Flow, GenServer, Info};
use netsplit::{Ctx, ExitReason, NodeName, Pid, Ref};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// How often the coordinator looks for tasks that take too long.
const TICK: Duration = Duration::from_millis(100);

/// The job's settings, from the command line.
#[derive(Debug, Clone)]
pub struct Config {
    /// The directory of text files to count.
    pub input: PathBuf,
    /// Where to write the counts.
    pub output: PathBuf,
    /// M.
    pub map_tasks: u32,
    /// R.
    pub reduce_tasks: u32,
    /// After this long, a running task is handed to another worker as well.
    pub task_timeout: Duration,
    /// Start a job by itself once this many workers have joined.
    pub start_with: Option<usize>,
}

/// A worker the coordinator counts on.
struct Worker {
    /// Our monitor on it.
    mref: Ref,
    /// The task it was last given and has not reported on yet.
    running: Option<TaskId>,
}

/// One task of the job.
struct Task {
    /// How many times it was handed out.
    attempts: u32,
    state: State,
}

/// Where a task stands (the contract's `TaskState`, plus what only the
/// coordinator needs: which attempt runs, and since when).
enum State {
    Idle,
    Running {
        worker: Pid,
        attempt: u32,
        since: Instant,
    },
    Done {
        worker: Pid,
    },
}

/// The current job, or the last one.
struct Job {
    id: u64,
    started: Instant,
    /// The files of each map task.
    inputs: Vec<Vec<InputFile>>,
    maps: Vec<Task>,
    reduces: Vec<Task>,
    /// Map tasks done, reduce tasks done.
    maps_done: u32,
    reduces_done: u32,
    /// Each reduce task's output, by reduce task index.
    results: BTreeMap<u32, Counts>,
    /// Completions accepted per worker node.
    completed_by: BTreeMap<NodeName, u32>,
    result: Option<JobResult>,
}

impl Job {
    fn tasks(&mut self, kind: TaskKind) -> &mut Vec<Task> {
        match kind {
            TaskKind::Map => &mut self.maps,
            TaskKind::Reduce => &mut self.reduces,
        }
    }

    fn finished(&self) -> bool {
        self.result.is_some()
    }
}

/// Ticks of the timeout check.
#[derive(Serialize, Deserialize, Debug)]
pub struct Tick;

/// The coordinator's state.
pub struct Coordinator {
    config: Config,
    workers: BTreeMap<Pid, Worker>,
    monitors: HashMap<Ref, Pid>,
    job: Option<Job>,
    jobs_started: u64,
}

impl Coordinator {
    /// A coordinator with no workers and no job yet.
    pub fn new(config: Config) -> Coordinator {
        Coordinator {
            config,
            workers: BTreeMap::new(),
            monitors: HashMap::new(),
            job: None,
            jobs_started: 0,
        }
    }

    /// The running job, if one is running.
    fn running_job(&mut self) -> Option<&mut Job> {
        self.job.as_mut().filter(|j| !j.finished())
    }

    /// Reads the input and starts a new job.
    fn start_job(&mut self, ctx: &Ctx) -> CoordinatorReply {
        if let Some(job) = self.running_job() {
            return CoordinatorReply::Busy { job: job.id };
        }
        let files = match wordcount::read_input(&self.config.input) {
            Ok(f) => f,
            Err(e) => {
                return CoordinatorReply::Refused {
                    reason: format!("cannot read {}: {e}", self.config.input.display()),
                }
            }
        };
        let (m, r) = (
            self.config.map_tasks.max(1),
            self.config.reduce_tasks.max(1),
        );
        let bytes: usize = files.iter().map(|f| f.text.len()).sum();
        let count = files.len();
        let idle = || Task {
            attempts: 0,
            state: State::Idle,
        };
        self.jobs_started += 1;
        let id = self.jobs_started;
        self.job = Some(Job {
            id,
            started: Instant::now(),
            inputs: wordcount::split(files, m),
            maps: (0..m).map(|_| idle()).collect(),
            reduces: (0..r).map(|_| idle()).collect(),
            maps_done: 0,
            reduces_done: 0,
            results: BTreeMap::new(),
            completed_by: BTreeMap::new(),
            result: None,
        });
        tracing::info!(
            "job {id} started: {count} files ({bytes} bytes) in {m} map tasks, {r} reduce tasks, {} workers",
            self.workers.len()
        );
        self.schedule(ctx);
        CoordinatorReply::Started { job: id }
    }

    /// Problem 2: hands the next task to every worker that has none.
    /// Map tasks first; reduce tasks once every map task is done.
    fn schedule(&mut self, ctx: &Ctx) {
        todo!(
            "Problem 2 (docs/src/part-2-map-reduce.md, 'Problem 2, distribute the work'): give \
             every worker that has no task (its `running` is None) the first idle task of the \
             running job: a map task while some map task is not done, else a reduce task; stop \
             when none is idle. A map task's Work carries its files (job.inputs) and R; a reduce \
             task's, the worker holding the output of each map task. Count the attempt, mark the \
             task Running on that worker (with the time), note it in the worker's `running`, and \
             cast ToWorker::Run to the worker's pid. Never wait on a worker here."
        )
    }

    /// Problem 2: a worker announced itself.
    fn hello(&mut self, worker: Pid, ctx: &Ctx) {
        todo!(
            "Problem 2 (docs/src/part-2-map-reduce.md, 'Problem 2, distribute the work'): {worker} \
             announces itself. A new worker gets a monitor (ctx.monitor), kept in self.monitors, \
             and an entry in self.workers; every worker that says hello gets a ToWorker::Welcome \
             (a cast to its pid). If --workers N was given (self.config.start_with), no job has \
             started yet and N workers are here, start one (self.start_job). Then give out tasks \
             (self.schedule)."
        )
    }

    /// Problems 2 and 4: a task is done.
    fn done(&mut self, worker: Pid, id: TaskId, attempt: u32, output: Output, ctx: &Ctx) {
        todo!(
            "Problem 2 (docs/src/part-2-map-reduce.md, 'Problem 2, distribute the work'): {worker} \
             finished {} (attempt {attempt}) of job {}. Ignore it if {worker} is not one of \
             self.workers (Problem 5) or the job is not the current one. The worker is free again \
             if that was its task. Mark the task Done by {worker} and count it (job.maps_done or \
             job.reduces_done, and job.completed_by for its node); keep a reduce task's counts in \
             job.results. After the last reduce task, write the output (self.finish). Then give \
             out tasks (self.schedule). Problem 4 ('Problem 4, stragglers and idempotent \
             results'): the same task can be reported more than once; a task already done is not \
             counted again. Log what you ignore, as the lesson's checks by hand expect: `ignoring a \
             duplicate result for map 5 (attempt 2, from <pid>)`, and `ignoring map 4 from <pid>: \
             not a worker we count on (yet)`.",
            show(id.task),
            id.job
        )
    }

    /// A task failed: it goes back to the queue.
    fn failed(&mut self, worker: Pid, id: TaskId, attempt: u32, reason: String, ctx: &Ctx) {
        let Some(w) = self.workers.get_mut(&worker) else {
            return;
        };
        if w.running == Some(id) {
            w.running = None;
        }
        tracing::warn!(
            "{} attempt {attempt} failed on {worker}: {reason}",
            show(id.task)
        );
        if let Some(job) = self.job.as_mut().filter(|j| j.id == id.job) {
            let task = &mut job.tasks(id.task.kind)[id.task.index as usize];
            // Only the attempt that failed: a newer copy may be running elsewhere.
            let this_attempt = match &task.state {
                State::Running {
                    worker: w,
                    attempt: a,
                    ..
                } => *w == worker && *a == attempt,
                _ => false,
            };
            if this_attempt {
                task.state = State::Idle;
            }
        }
        self.schedule(ctx);
    }

    /// Problem 3: a worker died or became unreachable.
    fn worker_lost(&mut self, worker: Pid, reason: &ExitReason, ctx: &Ctx) {
        todo!(
            "Problem 3 (docs/src/part-2-map-reduce.md, 'Problem 3, worker failure'): {worker} is \
             gone ({reason}). Forget it. In the running job, a task running on it goes back to \
             Idle, and so does every map task it finished, as long as some reduce task is not \
             done: that output died with it (job.maps_done goes down accordingly). Then give out \
             tasks (self.schedule). Log what happened, as the lesson's checks by hand expect: a \
             warning `lost worker <pid> (<reason>); N workers left`, and one `to run again: map 1 \
             (done), map 4 (running), …` naming the tasks that go back."
        )
    }

    /// Problem 4: a task running for longer than the timeout is handed to
    /// another worker too.
    fn check_timeouts(&mut self, ctx: &Ctx) {
        // TODO Problem 4 (docs/src/part-2-map-reduce.md, "Problem 4,
        // stragglers and idempotent results"): in the running job, every task
        // that has been Running for longer than self.config.task_timeout goes
        // back to Idle, so that schedule gives it to another worker. Leave the
        // slow worker's `running` alone: it is still busy with its copy, and
        // whichever copy finishes first wins. Then give out tasks
        // (self.schedule). Log a warning the lesson's check by hand looks
        // for: `too slow, giving to another worker: map 5 (attempt 1 on <pid>)`.
        // (Not a todo!(): this runs on every tick, and a panic here would
        // stop the coordinator while you work on the other problems.)
        static WARNED: std::sync::Once = std::sync::Once::new();
        WARNED.call_once(|| {
            tracing::warn!(
                "Problem 4 is not done yet: a slow task is never given to another worker"
            )
        });
    }

    /// Every reduce task is done: write the output.
    fn finish(&mut self) {
        let output = self.config.output.clone();
        let Some(job) = self.job.as_mut() else { return };
        // Partitions never share a word: the output is all of them together.
        let mut counts = Counts::new();
        for partition in job.results.values() {
            counts.extend(partition.iter().map(|(w, n)| (w.clone(), *n)));
        }
        if let Err(e) = wordcount::write_output(&output, &counts) {
            tracing::error!("cannot write {}: {e}", output.display());
        }
        let summary = Summary::of(&counts, job.started.elapsed(), &output);
        summary.print(&format!("job {}", job.id));
        job.result = Some(JobResult {
            elapsed_ms: summary.elapsed.as_millis() as u64,
            total_words: summary.total_words,
            distinct_words: summary.distinct_words,
            top: summary.top,
            output: output.display().to_string(),
        });
    }

    /// What the grader (and the shell) see.
    fn status(&self) -> JobStatus {
        JobStatus {
            workers: self
                .workers
                .iter()
                .map(|(pid, w)| WorkerInfo {
                    pid: pid.clone(),
                    running: w.running.map(|id| id.task),
                })
                .collect(),
            job: self.job.as_ref().map(|j| JobInfo {
                id: j.id,
                map_tasks: j.maps.iter().map(info).collect(),
                reduce_tasks: j.reduces.iter().map(info).collect(),
                completed_by: j.completed_by.clone(),
                result: j.result.clone(),
            }),
        }
    }
}

fn info(t: &Task) -> TaskInfo {
    TaskInfo {
        attempts: t.attempts,
        state: match &t.state {
            State::Idle => TaskState::Idle,
            State::Running { worker, .. } => TaskState::Running {
                worker: worker.clone(),
            },
            State::Done { worker } => TaskState::Done {
                worker: worker.clone(),
            },
        },
    }
}

/// "map 3", "reduce 1".
pub fn show(t: TaskRef) -> String {
    match t.kind {
        TaskKind::Map => format!("map {}", t.index),
        TaskKind::Reduce => format!("reduce {}", t.index),
    }
}

impl GenServer for Coordinator {
    type Call = CoordinatorCall;
    type Reply = CoordinatorReply;
    type Cast = ToCoordinator;
    type Info = Tick;

    async fn init(&mut self, ctx: &Ctx) -> Result<(), ExitReason> {
        ctx.send_after(&Tick, TICK);
        Ok(())
    }

    async fn handle_call(
        &mut self,
        request: CoordinatorCall,
        _from: Caller<CoordinatorReply>,
        ctx: &Ctx,
    ) -> CallResponse<CoordinatorReply> {
        CallResponse::Reply(match request {
            CoordinatorCall::Start => self.start_job(ctx),
            CoordinatorCall::Status => CoordinatorReply::Status(self.status()),
        })
    }

    async fn handle_cast(&mut self, msg: ToCoordinator, ctx: &Ctx) -> Flow {
        match msg {
            ToCoordinator::Hello { worker } => self.hello(worker, ctx),
            ToCoordinator::Done {
                worker,
                id,
                attempt,
                output,
            } => self.done(worker, id, attempt, output, ctx),
            ToCoordinator::Failed {
                worker,
                id,
                attempt,
                reason,
            } => self.failed(worker, id, attempt, reason, ctx),
        }
        Flow::Continue
    }

    async fn handle_info(&mut self, info: Info<Tick>, ctx: &Ctx) -> Flow {
        match info {
            Info::Msg(Tick) => {
                self.check_timeouts(ctx);
                ctx.send_after(&Tick, TICK);
            }
            Info::Down(d) => {
                if let Some(worker) = self.monitors.remove(&d.mref) {
                    if self.workers.get(&worker).map(|w| &w.mref) == Some(&d.mref) {
                        self.worker_lost(worker, &d.reason, ctx);
                    }
                }
            }
            _ => {}
        }
        Flow::Continue
    }
}
