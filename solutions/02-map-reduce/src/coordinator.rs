//! The coordinator: splits a job into tasks, hands them to workers, and
//! survives the workers' failures.
//!
//! It is a GenServer that never waits on a worker: it casts tasks out and
//! gets casts back, so a dead, paused or cut-off worker cannot freeze it.

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
        let free: Vec<Pid> = self
            .workers
            .iter()
            .filter(|(_, w)| w.running.is_none())
            .map(|(p, _)| p.clone())
            .collect();
        let Some(job) = self.job.as_mut().filter(|j| !j.finished()) else {
            return;
        };
        let m = job.maps.len() as u32;
        for worker in free {
            let kind = if job.maps_done < m {
                TaskKind::Map
            } else {
                TaskKind::Reduce
            };
            let Some(index) = job
                .tasks(kind)
                .iter()
                .position(|t| matches!(t.state, State::Idle))
            else {
                return;
            };
            let index = index as u32;
            let work = match kind {
                TaskKind::Map => Work::Map {
                    files: job.inputs[index as usize].clone(),
                    reduce_tasks: job.reduces.len() as u32,
                },
                TaskKind::Reduce => Work::Reduce {
                    // Every map task is done here: its output is on that worker.
                    sources: job
                        .maps
                        .iter()
                        .enumerate()
                        .filter_map(|(i, t)| match &t.state {
                            State::Done { worker } => Some((i as u32, worker.clone())),
                            _ => None,
                        })
                        .collect(),
                },
            };
            let id = TaskId {
                job: job.id,
                task: TaskRef { kind, index },
            };
            let task = &mut job.tasks(kind)[index as usize];
            task.attempts += 1;
            let attempt = task.attempts;
            task.state = State::Running {
                worker: worker.clone(),
                attempt,
                since: Instant::now(),
            };
            if let Some(w) = self.workers.get_mut(&worker) {
                w.running = Some(id);
            }
            tracing::debug!("{} attempt {attempt} → {worker}", show(id.task));
            let _ = gen_server::cast(
                ctx.node(),
                &worker,
                &ToWorker::Run(Assignment { id, attempt, work }),
            );
        }
    }

    /// Problem 2: a worker announced itself.
    fn hello(&mut self, worker: Pid, ctx: &Ctx) {
        if !self.workers.contains_key(&worker) {
            // Problem 3: a monitor tells us when it dies or becomes unreachable.
            let mref = ctx.monitor(&worker);
            self.monitors.insert(mref.clone(), worker.clone());
            self.workers.insert(
                worker.clone(),
                Worker {
                    mref,
                    running: None,
                },
            );
            tracing::info!("worker {worker} joined ({} workers)", self.workers.len());
        }
        let _ = gen_server::cast(ctx.node(), &worker, &ToWorker::Welcome);
        if let Some(n) = self.config.start_with {
            if self.jobs_started == 0 && self.workers.len() >= n {
                if let CoordinatorReply::Refused { reason } = self.start_job(ctx) {
                    tracing::error!("cannot start the job: {reason}");
                }
            }
        }
        self.schedule(ctx);
    }

    /// Problems 2 and 4: a task is done. Only the first completion of a task
    /// counts: a duplicate (the late result of a straggler whose task was
    /// given to someone else too) is ignored, so no output is counted twice.
    fn done(&mut self, worker: Pid, id: TaskId, attempt: u32, output: Output, ctx: &Ctx) {
        // Problem 5: only from a worker we count on. One we gave up on (it
        // was cut off) must announce itself again first.
        let Some(w) = self.workers.get_mut(&worker) else {
            tracing::info!(
                "ignoring {} from {worker}: not a worker we count on (yet)",
                show(id.task)
            );
            return;
        };
        if w.running == Some(id) {
            w.running = None;
        }
        let Some(job) = self.job.as_mut().filter(|j| j.id == id.job) else {
            self.schedule(ctx);
            return;
        };
        let task = &mut job.tasks(id.task.kind)[id.task.index as usize];
        if matches!(task.state, State::Done { .. }) {
            tracing::info!(
                "ignoring a duplicate result for {} (attempt {attempt}, from {worker})",
                show(id.task)
            );
            self.schedule(ctx);
            return;
        }
        task.state = State::Done {
            worker: worker.clone(),
        };
        *job.completed_by.entry(worker.node().clone()).or_insert(0) += 1;
        match output {
            Output::Map => job.maps_done += 1,
            Output::Reduce(counts) => {
                job.reduces_done += 1;
                job.results.insert(id.task.index, counts);
            }
        }
        tracing::debug!("{} done by {worker} (attempt {attempt})", show(id.task));
        if job.reduces_done == job.reduces.len() as u32 {
            self.finish();
        }
        self.schedule(ctx);
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

    /// Problem 3: a worker died or became unreachable. Its running task goes
    /// back to the queue, and so do the map tasks it finished: their output
    /// lived on it. (Unless every reduce task is done: then nobody needs it.)
    fn worker_lost(&mut self, worker: Pid, reason: &ExitReason, ctx: &Ctx) {
        self.workers.remove(&worker);
        tracing::warn!(
            "lost worker {worker} ({reason}); {} workers left",
            self.workers.len()
        );
        if let Some(job) = self.job.as_mut().filter(|j| !j.finished()) {
            let mut again = vec![];
            let need_maps = job.reduces_done < job.reduces.len() as u32;
            for kind in [TaskKind::Map, TaskKind::Reduce] {
                for (i, t) in job.tasks(kind).iter_mut().enumerate() {
                    let lost = match &t.state {
                        State::Running { worker: w, .. } => *w == worker,
                        State::Done { worker: w } => {
                            kind == TaskKind::Map && need_maps && *w == worker
                        }
                        State::Idle => false,
                    };
                    if lost {
                        if matches!(t.state, State::Done { .. }) {
                            again.push(format!("map {i} (done)"));
                        } else {
                            again.push(show(TaskRef {
                                kind,
                                index: i as u32,
                            }));
                        }
                        t.state = State::Idle;
                    }
                }
            }
            job.maps_done = job
                .maps
                .iter()
                .filter(|t| matches!(t.state, State::Done { .. }))
                .count() as u32;
            if !again.is_empty() {
                tracing::warn!("to run again: {}", again.join(", "));
            }
        }
        self.schedule(ctx);
    }

    /// Problem 4: a task running for longer than the timeout is handed to
    /// another worker too (the straggler keeps its copy; whichever finishes
    /// first wins). The straggler stays busy until it reports.
    fn check_timeouts(&mut self, ctx: &Ctx) {
        let timeout = self.config.task_timeout;
        let Some(job) = self.running_job() else {
            return;
        };
        let mut late = vec![];
        for kind in [TaskKind::Map, TaskKind::Reduce] {
            for (i, t) in job.tasks(kind).iter_mut().enumerate() {
                if let State::Running {
                    worker,
                    attempt,
                    since,
                } = &t.state
                {
                    if since.elapsed() >= timeout {
                        late.push(format!(
                            "{} (attempt {attempt} on {worker})",
                            show(TaskRef {
                                kind,
                                index: i as u32
                            })
                        ));
                        t.state = State::Idle;
                    }
                }
            }
        }
        if !late.is_empty() {
            tracing::warn!("too slow, giving to another worker: {}", late.join(", "));
            self.schedule(ctx);
        }
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
