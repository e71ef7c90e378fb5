//! Starting node OS processes and injecting process faults into them.
//!
//! # Why process groups, and why so much verifying
//!
//! A graded run launches real node processes and then kills, stops, pauses
//! and restarts them. Two things make that trustworthy:
//!
//! * **Every fault is verified before the call returns.** A test that pauses
//!   a node and immediately asserts on the cluster's reaction must know the
//!   node really is paused, so [`NodeProcess::pause`] returns only once the
//!   kernel reports every process of the node stopped (on Linux, state `T` in
//!   `/proc/<pid>/stat`; on other systems the signal is trusted), and
//!   [`NodeProcess::kill`] only once the node has exited and been reaped.
//! * **Nothing is left behind.** Each node runs in its own process group (its
//!   pid is the group id), and every signal goes to the whole group, so a
//!   helper process the node started dies with it. Dropping a
//!   [`NodeProcess`] or [`Cluster`] kills and reaps the group. For the paths
//!   where no destructor runs, the grader keeps a process-global registry of
//!   live groups that [`install_signal_handler`] kills on Ctrl-C or SIGTERM,
//!   and every child gets `NETSPLIT_WATCH_PID=<grader pid>`, which the
//!   runtime uses to exit when the grader is gone (even if it was SIGKILLed).
//!
//! # Readiness and logs
//!
//! Each child gets `NETSPLIT_READY_FILE=<run dir>/<name>.ready`; the runtime
//! creates that file once the node's application has started, and
//! [`NodeProcess::wait_ready`] waits for it. Stdout and stderr go to
//! `<run dir>/<name>.log`, which can be read while the node runs
//! ([`NodeProcess::tail_log`]); a readiness failure reports, in plain
//! English, the node, the timeout, whether the process had exited (and how),
//! and the last lines of its log.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::{OsStr, OsString};
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;

pub mod guard;

/// Env var naming the grader's pid; the runtime exits when that pid is gone.
pub const WATCH_PID_ENV: &str = "NETSPLIT_WATCH_PID";
/// Env var naming the file the runtime creates once the node is ready.
pub const READY_FILE_ENV: &str = "NETSPLIT_READY_FILE";

/// How many log lines a readiness error quotes.
pub const LOG_TAIL_LINES: usize = 20;

/// How often waits poll the process or the ready file.
const POLL: Duration = Duration::from_millis(10);
/// How long a fault may take to show its effect before it is reported as
/// failed (SIGKILL and SIGSTOP act in microseconds; this is generous).
const VERIFY_TIMEOUT: Duration = Duration::from_secs(5);

// ---------------------------------------------------------------------------
// Process-global registry of live groups
// ---------------------------------------------------------------------------

static LIVE_GROUPS: Mutex<BTreeSet<i32>> = Mutex::new(BTreeSet::new());

fn live_groups() -> std::sync::MutexGuard<'static, BTreeSet<i32>> {
    // A panic while holding this lock cannot leave the set inconsistent.
    LIVE_GROUPS.lock().unwrap_or_else(|e| e.into_inner())
}

fn unregister_group(pgid: i32) {
    live_groups().remove(&pgid);
}

/// Process group ids of every node this process started that is not yet
/// known to be dead.
pub fn registered_groups() -> Vec<i32> {
    live_groups().iter().copied().collect()
}

/// Sends SIGKILL to every registered process group. Safe to call from any
/// thread at any time; it does not wait or reap.
pub fn kill_all_registered() {
    for pgid in registered_groups() {
        let _ = killpg(Pid::from_raw(pgid), Signal::SIGKILL);
    }
}

/// Spawns a task that, on Ctrl-C (SIGINT) or SIGTERM, kills every registered
/// node group and then exits the process (status 130 or 143).
///
/// Destructors do not run when a signal ends the grader, so without this an
/// interrupted run would leave nodes behind until their parent-death
/// safeguard fires. Must be called within a tokio runtime.
pub fn install_signal_handler() -> io::Result<tokio::task::JoinHandle<()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut int = signal(SignalKind::interrupt())?;
    let mut term = signal(SignalKind::terminate())?;
    Ok(tokio::spawn(async move {
        let code = tokio::select! {
            _ = int.recv() => 130,
            _ = term.recv() => 143,
        };
        tracing::warn!("interrupted: killing every node before exiting");
        kill_all_registered();
        std::process::exit(code);
    }))
}

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

/// Why a node did not become ready. Its `Display` is a plain-English report
/// meant to be shown to a student as is.
#[derive(Debug, Clone)]
pub struct NotReady {
    /// The node's name.
    pub node: String,
    /// How long the grader was prepared to wait.
    pub timeout: Duration,
    /// `Some` if the process had already exited, with how.
    pub exited: Option<ExitStatus>,
    /// Path of the node's log file.
    pub log_path: PathBuf,
    /// The last lines the node wrote in this incarnation (at most
    /// [`LOG_TAIL_LINES`]).
    pub log_tail: Vec<String>,
}

impl fmt::Display for NotReady {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let timeout = human_duration(self.timeout);
        match self.exited {
            Some(status) => write!(
                f,
                "node {} did not become ready: the process exited ({}) before signalling \
                 readiness (the grader would have waited up to {}).",
                self.node,
                describe_status(status),
                timeout
            )?,
            None => write!(
                f,
                "node {} did not become ready within {}; the process is still running, but it \
                 never signalled readiness.",
                self.node, timeout
            )?,
        }
        if self.log_tail.is_empty() {
            write!(
                f,
                "\nIt wrote nothing to its log ({}).",
                self.log_path.display()
            )
        } else {
            match self.log_tail.len() {
                1 => write!(
                    f,
                    "\nThe last line of its log ({}):",
                    self.log_path.display()
                )?,
                n => write!(
                    f,
                    "\nThe last {n} lines of its log ({}):",
                    self.log_path.display()
                )?,
            }
            for line in &self.log_tail {
                write!(f, "\n    {line}")?;
            }
            Ok(())
        }
    }
}

impl std::error::Error for NotReady {}

/// Errors of the launcher.
#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    /// The node did not become ready in time; see [`NotReady`].
    #[error(transparent)]
    NotReady(Box<NotReady>),
    /// The program could not be started at all.
    #[error("could not start node {node} ({program}): {source}")]
    Spawn {
        /// The node's name.
        node: String,
        /// The program that was to run.
        program: String,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// A file of the run directory could not be created or read.
    #[error("node {node}: could not use {path}: {source}")]
    File {
        /// The node's name.
        node: String,
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// A name that cannot be used as a node name (and file name).
    #[error("invalid node name {0:?}: it must be non-empty and contain no '/' or NUL")]
    InvalidName(String),
    /// [`Cluster::spawn`] with a name already in use.
    #[error("a node named {0} already exists in this cluster")]
    DuplicateName(String),
    /// No node by that name in the cluster.
    #[error("no node named {0} in this cluster")]
    NoSuchNode(String),
    /// The operation needs a running process.
    #[error("node {node} is not running (it exited: {status})")]
    NotRunning {
        /// The node's name.
        node: String,
        /// How it exited, described.
        status: String,
    },
    /// A signal could not be sent.
    #[error("could not send {signal} to node {node}: {source}")]
    Signal {
        /// The node's name.
        node: String,
        /// The signal.
        signal: Signal,
        /// Why.
        #[source]
        source: Errno,
    },
    /// A fault's effect could not be verified in time.
    #[error("node {node}: {what} was not observed within {timeout:?}")]
    NotVerified {
        /// The node's name.
        node: String,
        /// What was expected, in plain words.
        what: &'static str,
        /// How long the grader waited.
        timeout: Duration,
    },
    /// Waiting for or reaping the process failed.
    #[error("node {node}: could not wait for the process: {source}")]
    Wait {
        /// The node's name.
        node: String,
        /// Why.
        #[source]
        source: io::Error,
    },
}

fn human_duration(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        let s = d.as_secs();
        if s == 1 {
            "1 second".to_owned()
        } else {
            format!("{s} seconds")
        }
    } else {
        format!("{:.1} seconds", d.as_secs_f64())
    }
}

/// Describes an exit status in plain words, e.g. `exit code 3` or
/// `killed by signal 9 (SIGKILL)`.
pub fn describe_status(status: ExitStatus) -> String {
    if let Some(code) = status.code() {
        format!("exit code {code}")
    } else if let Some(sig) = status.signal() {
        match Signal::try_from(sig) {
            Ok(s) => format!("killed by signal {sig} ({s})"),
            Err(_) => format!("killed by signal {sig}"),
        }
    } else {
        status.to_string()
    }
}

// ---------------------------------------------------------------------------
// Node specification
// ---------------------------------------------------------------------------

/// What to run for one node: its name, program, arguments and extra
/// environment. The child also inherits the grader's environment, plus
/// [`WATCH_PID_ENV`] and [`READY_FILE_ENV`].
#[derive(Debug, Clone)]
pub struct NodeSpec {
    name: String,
    program: OsString,
    args: Vec<OsString>,
    env: Vec<(OsString, OsString)>,
    current_dir: Option<PathBuf>,
    guarded: bool,
}

impl NodeSpec {
    /// A node called `name` (e.g. `n1@127.0.0.1`) running `program`.
    pub fn new(name: impl Into<String>, program: impl AsRef<OsStr>) -> NodeSpec {
        NodeSpec {
            name: name.into(),
            program: program.as_ref().to_owned(),
            args: Vec::new(),
            env: Vec::new(),
            current_dir: None,
            guarded: false,
        }
    }

    /// Gives the process group a guard: a small shell the child forks before
    /// it runs `program`, which kills the whole group as soon as the grader
    /// process is gone, however it went (SIGKILL included, reaped or not).
    /// For programs that do not watch [`WATCH_PID_ENV`] themselves, such as
    /// `redis-server`. See [`guard`].
    pub fn guarded(mut self) -> NodeSpec {
        self.guarded = true;
        self
    }

    /// Appends one argument.
    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> NodeSpec {
        self.args.push(arg.as_ref().to_owned());
        self
    }

    /// Appends arguments.
    pub fn args<I, S>(mut self, args: I) -> NodeSpec
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        self
    }

    /// Sets one environment variable for the child.
    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> NodeSpec {
        self.env
            .push((key.as_ref().to_owned(), value.as_ref().to_owned()));
        self
    }

    /// Runs the child in `dir` instead of the grader's working directory.
    pub fn current_dir(mut self, dir: impl Into<PathBuf>) -> NodeSpec {
        self.current_dir = Some(dir.into());
        self
    }

    /// The node's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The program.
    pub fn program(&self) -> &OsStr {
        &self.program
    }

    /// The arguments.
    pub fn get_args(&self) -> &[OsString] {
        &self.args
    }
}

fn validate_name(name: &str) -> Result<(), LaunchError> {
    if name.is_empty() || name.contains('/') || name.contains('\0') || name == "." || name == ".." {
        return Err(LaunchError::InvalidName(name.to_owned()));
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// One node process
// ---------------------------------------------------------------------------

/// What a node's process is doing, as far as the grader knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeState {
    /// Running (or at least not stopped by the grader and not exited).
    Running,
    /// Stopped by [`NodeProcess::pause`].
    Paused,
    /// Exited, with this status.
    Exited(ExitStatus),
}

/// One node's OS process (its current incarnation) and its files.
///
/// Dropping it SIGKILLs the process group and reaps the node.
#[derive(Debug)]
pub struct NodeProcess {
    spec: NodeSpec,
    log_path: PathBuf,
    ready_path: PathBuf,
    child: Child,
    pid: i32,
    paused: bool,
    exit: Option<ExitStatus>,
    /// Where this incarnation's output starts in the log.
    log_offset: u64,
    /// How many times this node has been started.
    incarnation: u32,
    /// Set once the node is reaped and its group verified empty: from then
    /// on its pid may be reused by an unrelated process, so it must never be
    /// signalled again.
    group_gone: bool,
}

impl NodeProcess {
    /// Starts `spec` with its files in `run_dir` (which must exist):
    /// `<name>.log` (appended to) and `<name>.ready` (removed first if stale).
    pub fn spawn(spec: NodeSpec, run_dir: &Path) -> Result<NodeProcess, LaunchError> {
        validate_name(&spec.name)?;
        let log_path = run_dir.join(format!("{}.log", spec.name));
        let ready_path = run_dir.join(format!("{}.ready", spec.name));
        let (child, log_offset) = start(&spec, &log_path, &ready_path, 1)?;
        Ok(NodeProcess {
            pid: child.id() as i32,
            child,
            spec,
            log_path,
            ready_path,
            paused: false,
            exit: None,
            log_offset,
            incarnation: 1,
            group_gone: false,
        })
    }

    /// The node's name.
    pub fn name(&self) -> &str {
        &self.spec.name
    }

    /// What it runs.
    pub fn spec(&self) -> &NodeSpec {
        &self.spec
    }

    /// The current incarnation's pid, which is also its process group id.
    pub fn pid(&self) -> u32 {
        self.pid as u32
    }

    /// How many times the node has been started (1 before any restart).
    pub fn incarnation(&self) -> u32 {
        self.incarnation
    }

    /// The node's log file (stdout and stderr of every incarnation).
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// The file whose appearance means the node is ready.
    pub fn ready_path(&self) -> &Path {
        &self.ready_path
    }

    /// Whether the ready file exists.
    pub fn is_ready(&self) -> bool {
        self.ready_path.exists()
    }

    /// The process's exit status, if it has exited (reaping it if so).
    pub fn try_exit_status(&mut self) -> Option<ExitStatus> {
        if self.exit.is_none() {
            if let Ok(Some(status)) = self.child.try_wait() {
                self.exit = Some(status);
                self.paused = false;
            }
        }
        self.exit
    }

    /// What the process is doing.
    pub fn state(&mut self) -> NodeState {
        match self.try_exit_status() {
            Some(status) => NodeState::Exited(status),
            None if self.paused => NodeState::Paused,
            None => NodeState::Running,
        }
    }

    /// The last `n` lines of the whole log (all incarnations).
    pub fn tail_log(&self, n: usize) -> io::Result<Vec<String>> {
        tail_lines(&self.log_path, 0, n)
    }

    /// The last `n` lines the current incarnation wrote.
    pub fn tail_current_log(&self, n: usize) -> io::Result<Vec<String>> {
        tail_lines(&self.log_path, self.log_offset, n)
    }

    /// Waits up to `timeout` for the ready file. Fails early if the process
    /// exits first; the error is a [`NotReady`] report.
    pub async fn wait_ready(&mut self, timeout: Duration) -> Result<(), LaunchError> {
        let deadline = Instant::now() + timeout;
        loop {
            if self.is_ready() {
                return Ok(());
            }
            let exited = self.try_exit_status();
            // One last look: the node may have become ready and then exited.
            if exited.is_some() && self.is_ready() {
                return Ok(());
            }
            if exited.is_some() || Instant::now() >= deadline {
                return Err(LaunchError::NotReady(Box::new(NotReady {
                    node: self.spec.name.clone(),
                    timeout,
                    exited,
                    log_path: self.log_path.clone(),
                    log_tail: self.tail_current_log(LOG_TAIL_LINES).unwrap_or_default(),
                })));
            }
            tokio::time::sleep(POLL).await;
        }
    }

    fn signal_group(&self, signal: Signal) -> Result<(), LaunchError> {
        if self.group_gone {
            return Ok(());
        }
        match killpg(Pid::from_raw(self.pid), signal) {
            // ESRCH: the group is already gone; nothing to signal.
            Ok(()) | Err(Errno::ESRCH) => Ok(()),
            Err(source) => Err(LaunchError::Signal {
                node: self.spec.name.clone(),
                signal,
                source,
            }),
        }
    }

    fn not_running(&self, status: ExitStatus) -> LaunchError {
        LaunchError::NotRunning {
            node: self.spec.name.clone(),
            status: describe_status(status),
        }
    }

    /// Polls until the node's own process has exited (and is reaped).
    async fn wait_exit(&mut self, timeout: Duration) -> Result<Option<ExitStatus>, LaunchError> {
        let deadline = Instant::now() + timeout;
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => {
                    self.exit = Some(status);
                    self.paused = false;
                    return Ok(Some(status));
                }
                Ok(None) => {}
                Err(source) => {
                    return Err(LaunchError::Wait {
                        node: self.spec.name.clone(),
                        source,
                    })
                }
            }
            if Instant::now() >= deadline {
                return Ok(None);
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Polls until no live (non-zombie) process is left in the group.
    async fn wait_group_gone(&mut self) -> Result<(), LaunchError> {
        if self.group_gone {
            return Ok(());
        }
        let deadline = Instant::now() + VERIFY_TIMEOUT;
        while group_has_live_members(self.pid) {
            if Instant::now() >= deadline {
                return Err(LaunchError::NotVerified {
                    node: self.spec.name.clone(),
                    what: "the end of every process in the node's group",
                    timeout: VERIFY_TIMEOUT,
                });
            }
            tokio::time::sleep(POLL).await;
        }
        self.group_gone = true;
        unregister_group(self.pid);
        Ok(())
    }

    /// SIGKILLs the whole process group; returns once the node has exited and
    /// no process of its group is alive. Harmless if it already exited.
    pub async fn kill(&mut self) -> Result<ExitStatus, LaunchError> {
        self.signal_group(Signal::SIGKILL)?;
        let status = self.wait_exit(VERIFY_TIMEOUT).await?;
        let Some(status) = status else {
            return Err(LaunchError::NotVerified {
                node: self.spec.name.clone(),
                what: "the node's exit after SIGKILL",
                timeout: VERIFY_TIMEOUT,
            });
        };
        self.wait_group_gone().await?;
        tracing::debug!(node = %self.spec.name, status = %describe_status(status), "node killed");
        Ok(status)
    }

    /// Graceful stop: SIGTERM to the group (with SIGCONT, so a paused node can
    /// act on it), then SIGKILL if the node has not exited after `grace`.
    /// Any process of the group still alive after the node exits is killed
    /// too. Returns the node's exit status.
    pub async fn stop(&mut self, grace: Duration) -> Result<ExitStatus, LaunchError> {
        if let Some(status) = self.try_exit_status() {
            self.signal_group(Signal::SIGKILL)?;
            self.wait_group_gone().await?;
            return Ok(status);
        }
        self.signal_group(Signal::SIGTERM)?;
        self.signal_group(Signal::SIGCONT)?;
        self.paused = false;
        let status = match self.wait_exit(grace).await? {
            Some(status) => status,
            None => return self.kill().await,
        };
        // Sweep stragglers the node left in its group.
        self.signal_group(Signal::SIGKILL)?;
        self.wait_group_gone().await?;
        Ok(status)
    }

    /// SIGSTOPs the group; returns once every process of it is stopped.
    pub async fn pause(&mut self) -> Result<(), LaunchError> {
        if let Some(status) = self.try_exit_status() {
            return Err(self.not_running(status));
        }
        self.signal_group(Signal::SIGSTOP)?;
        self.paused = true;
        self.wait_group_state(true, "every process of the node stopped")
            .await
    }

    /// SIGCONTs the group; returns once no process of it is stopped.
    pub async fn resume(&mut self) -> Result<(), LaunchError> {
        if let Some(status) = self.try_exit_status() {
            return Err(self.not_running(status));
        }
        self.signal_group(Signal::SIGCONT)?;
        self.paused = false;
        self.wait_group_state(false, "every process of the node running again")
            .await
    }

    async fn wait_group_state(
        &mut self,
        stopped: bool,
        what: &'static str,
    ) -> Result<(), LaunchError> {
        let deadline = Instant::now() + VERIFY_TIMEOUT;
        loop {
            match group_stop_counts(self.pid) {
                // Unverifiable here: trust the signal.
                None => return Ok(()),
                Some((n, total)) if stopped && total > 0 && n == total => return Ok(()),
                Some((0, _)) if !stopped => return Ok(()),
                Some(_) => {}
            }
            if let Some(status) = self.try_exit_status() {
                return Err(self.not_running(status));
            }
            if Instant::now() >= deadline {
                return Err(LaunchError::NotVerified {
                    node: self.spec.name.clone(),
                    what,
                    timeout: VERIFY_TIMEOUT,
                });
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Kills the node (verified), removes its stale ready file and starts it
    /// again with the same name, program, arguments and environment. Returns
    /// once the new process is started; wait for it with
    /// [`wait_ready`](Self::wait_ready).
    pub async fn restart(&mut self) -> Result<(), LaunchError> {
        self.kill().await?;
        let incarnation = self.incarnation + 1;
        let (child, log_offset) = start(&self.spec, &self.log_path, &self.ready_path, incarnation)?;
        self.pid = child.id() as i32;
        self.child = child;
        self.paused = false;
        self.exit = None;
        self.log_offset = log_offset;
        self.incarnation = incarnation;
        self.group_gone = false;
        tracing::debug!(node = %self.spec.name, pid = self.pid, "node restarted");
        Ok(())
    }

    /// Synchronous teardown used by `Drop`: SIGKILL is sent by the caller
    /// (see [`kill_signal_blocking`](Self::kill_signal_blocking)).
    fn reap_blocking(&mut self) {
        if self.group_gone {
            return;
        }
        if self.exit.is_none() {
            if let Ok(status) = self.child.wait() {
                self.exit = Some(status);
            }
        }
        let deadline = Instant::now() + VERIFY_TIMEOUT;
        while group_has_live_members(self.pid) && Instant::now() < deadline {
            let _ = killpg(Pid::from_raw(self.pid), Signal::SIGKILL);
            std::thread::sleep(POLL);
        }
        self.group_gone = true;
        unregister_group(self.pid);
    }

    fn kill_signal_blocking(&self) {
        if !self.group_gone {
            let _ = killpg(Pid::from_raw(self.pid), Signal::SIGKILL);
        }
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        self.kill_signal_blocking();
        self.reap_blocking();
    }
}

/// Spawns one incarnation. Returns the child and the log offset where its
/// output starts.
fn start(
    spec: &NodeSpec,
    log_path: &Path,
    ready_path: &Path,
    incarnation: u32,
) -> Result<(Child, u64), LaunchError> {
    let file_err = |path: &Path, source: io::Error| LaunchError::File {
        node: spec.name.clone(),
        path: path.to_owned(),
        source,
    };
    match fs::remove_file(ready_path) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(file_err(ready_path, e)),
    }
    let mut log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(log_path)
        .map_err(|e| file_err(log_path, e))?;
    let offset = log
        .seek(SeekFrom::End(0))
        .map_err(|e| file_err(log_path, e))?;
    if incarnation > 1 {
        // Mark the boundary for a human reading the log.
        writeln!(
            log,
            "--- grader: restarting {} (incarnation {incarnation}) ---",
            spec.name
        )
        .map_err(|e| file_err(log_path, e))?;
    }
    let stderr = log.try_clone().map_err(|e| file_err(log_path, e))?;

    let mut cmd = Command::new(&spec.program);
    cmd.args(&spec.args)
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .env(WATCH_PID_ENV, std::process::id().to_string())
        .env(READY_FILE_ENV, ready_path)
        .stdin(Stdio::null())
        .stdout(Stdio::from(log))
        .stderr(Stdio::from(stderr))
        .process_group(0);
    if let Some(dir) = &spec.current_dir {
        cmd.current_dir(dir);
    }
    if spec.guarded {
        guard::install(&mut cmd).map_err(|source| LaunchError::Spawn {
            node: spec.name.clone(),
            program: "the group's guard (/bin/sh)".into(),
            source,
        })?;
    }
    // Hold the registry lock across spawn so a concurrent
    // kill_all_registered() cannot miss a group that is just starting.
    let mut groups = live_groups();
    let child = cmd.spawn().map_err(|source| LaunchError::Spawn {
        node: spec.name.clone(),
        program: spec.program.to_string_lossy().into_owned(),
        source,
    })?;
    groups.insert(child.id() as i32);
    drop(groups);
    tracing::debug!(node = %spec.name, pid = child.id(), "node started");
    Ok((child, offset))
}

// ---------------------------------------------------------------------------
// /proc inspection
// ---------------------------------------------------------------------------

/// `(pid, pgrp, state)` of every process, from `/proc`. `None` if `/proc` is
/// not available (e.g. macOS).
fn proc_table() -> Option<Vec<(i32, i32, char)>> {
    let dir = fs::read_dir("/proc").ok()?;
    let mut out = Vec::new();
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        let Ok(stat) = fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        if let Some((state, pgrp)) = parse_stat(&stat) {
            out.push((pid, pgrp, state));
        }
    }
    Some(out)
}

/// Extracts `(state, pgrp)` from a `/proc/<pid>/stat` line. The command name
/// is in parentheses and may itself contain spaces or parentheses, so the
/// fields are found after the *last* `')'`.
fn parse_stat(stat: &str) -> Option<(char, i32)> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_ascii_whitespace();
    let state = fields.next()?.chars().next()?;
    let _ppid = fields.next()?;
    let pgrp = fields.next()?.parse().ok()?;
    Some((state, pgrp))
}

/// Whether any non-zombie process is in group `pgid`.
fn group_has_live_members(pgid: i32) -> bool {
    match proc_table() {
        Some(table) => table
            .iter()
            .any(|&(_, pgrp, state)| pgrp == pgid && state != 'Z' && state != 'X'),
        // Without /proc, a zombie also counts; callers bound their waits.
        None => killpg(Pid::from_raw(pgid), None::<Signal>).is_ok(),
    }
}

/// How many live processes of group `pgid` are paused, out of how many.
/// `None` if this cannot be checked here (no `/proc`).
fn group_stop_counts(pgid: i32) -> Option<(usize, usize)> {
    let table = proc_table()?;
    let mut stopped = 0;
    let mut total = 0;
    for &(pid, pgrp, state) in &table {
        if pgrp != pgid || state == 'Z' || state == 'X' {
            continue;
        }
        total += 1;
        // A process stuck in uninterruptible sleep with the stop pending is
        // as good as stopped; any other state reaches 'T' within moments.
        if state == 'T' || (state == 'D' && stop_pending(pid)) {
            stopped += 1;
        }
    }
    Some((stopped, total))
}

/// Whether `pid` has a SIGSTOP pending, i.e. will stop before it next runs
/// user code.
///
/// Needed because a process can be stuck in the kernel when the stop
/// arrives: a shell in `vfork()` waits (state `D`) for its child to exec, and
/// if that child was stopped first the parent never gets to its own stop. It
/// is nonetheless paused: it runs nothing until SIGCONT (which also discards
/// the pending stop).
fn stop_pending(pid: i32) -> bool {
    let Ok(status) = fs::read_to_string(format!("/proc/{pid}/status")) else {
        return false;
    };
    let bit = 1u64 << (libc::SIGSTOP - 1);
    status.lines().any(|line| {
        let Some(mask) = line
            .strip_prefix("SigPnd:")
            .or_else(|| line.strip_prefix("ShdPnd:"))
        else {
            return false;
        };
        u64::from_str_radix(mask.trim(), 16).is_ok_and(|m| m & bit != 0)
    })
}

/// Whether process `pid` is alive (exists and is not a zombie). Useful in
/// tests and diagnostics.
pub fn pid_alive(pid: u32) -> bool {
    let Ok(pid) = i32::try_from(pid) else {
        return false;
    };
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => parse_stat(&stat).is_some_and(|(state, _)| state != 'Z' && state != 'X'),
        Err(_) if Path::new("/proc/self/stat").exists() => false,
        Err(_) => nix::sys::signal::kill(Pid::from_raw(pid), None::<Signal>).is_ok(),
    }
}

/// Whether any live process is in process group `pgid`.
pub fn group_alive(pgid: u32) -> bool {
    i32::try_from(pgid).is_ok_and(group_has_live_members)
}

/// Reads the last `n` lines of `path` from `offset` on (at most the last
/// 64 KiB are read, so a huge log costs nothing). Invalid UTF-8 is replaced.
fn tail_lines(path: &Path, offset: u64, n: usize) -> io::Result<Vec<String>> {
    const WINDOW: u64 = 64 * 1024;
    let mut file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let len = file.metadata()?.len();
    let start = offset.max(len.saturating_sub(WINDOW)).min(len);
    file.seek(SeekFrom::Start(start))?;
    let mut buf = Vec::new();
    file.take(len - start).read_to_end(&mut buf)?;
    let text = String::from_utf8_lossy(&buf);
    let mut lines: Vec<&str> = text.lines().collect();
    // When the window started mid-file, its first line is probably partial.
    if start > offset && lines.len() > 1 {
        lines.remove(0);
    }
    let skip = lines.len().saturating_sub(n);
    Ok(lines[skip..].iter().map(|l| (*l).to_owned()).collect())
}

// ---------------------------------------------------------------------------
// Cluster
// ---------------------------------------------------------------------------

/// The nodes of one run, sharing one run directory.
///
/// Dropping it SIGKILLs every node's group first and then reaps them all, so
/// teardown takes one kill latency, not one per node.
#[derive(Debug)]
pub struct Cluster {
    run_dir: PathBuf,
    nodes: BTreeMap<String, NodeProcess>,
}

impl Cluster {
    /// A cluster whose files go to `run_dir` (created if missing).
    pub fn new(run_dir: impl Into<PathBuf>) -> Result<Cluster, LaunchError> {
        let run_dir = run_dir.into();
        fs::create_dir_all(&run_dir).map_err(|source| LaunchError::File {
            node: "(none)".to_owned(),
            path: run_dir.clone(),
            source,
        })?;
        Ok(Cluster {
            run_dir,
            nodes: BTreeMap::new(),
        })
    }

    /// The run directory.
    pub fn run_dir(&self) -> &Path {
        &self.run_dir
    }

    /// Starts a node. Names must be unique within the cluster.
    pub fn spawn(&mut self, spec: NodeSpec) -> Result<&mut NodeProcess, LaunchError> {
        if self.nodes.contains_key(&spec.name) {
            return Err(LaunchError::DuplicateName(spec.name));
        }
        let name = spec.name.clone();
        let node = NodeProcess::spawn(spec, &self.run_dir)?;
        Ok(self.nodes.entry(name).or_insert(node))
    }

    /// The node called `name`.
    pub fn node(&self, name: &str) -> Option<&NodeProcess> {
        self.nodes.get(name)
    }

    /// The node called `name`, mutably (to inject faults).
    pub fn node_mut(&mut self, name: &str) -> Result<&mut NodeProcess, LaunchError> {
        self.nodes
            .get_mut(name)
            .ok_or_else(|| LaunchError::NoSuchNode(name.to_owned()))
    }

    /// Every node's name, sorted.
    pub fn names(&self) -> Vec<String> {
        self.nodes.keys().cloned().collect()
    }

    /// Every node, by name.
    pub fn nodes_mut(&mut self) -> impl Iterator<Item = &mut NodeProcess> {
        self.nodes.values_mut()
    }

    /// Waits until every node is ready, sharing one `timeout`. The first
    /// failure is returned.
    pub async fn wait_all_ready(&mut self, timeout: Duration) -> Result<(), LaunchError> {
        let deadline = Instant::now() + timeout;
        for node in self.nodes.values_mut() {
            let left = deadline.saturating_duration_since(Instant::now());
            node.wait_ready(left).await.map_err(|e| match e {
                // Report the overall timeout, not what was left of it.
                LaunchError::NotReady(mut r) => {
                    r.timeout = timeout;
                    LaunchError::NotReady(r)
                }
                other => other,
            })?;
        }
        Ok(())
    }

    /// Kills (verified) and forgets the node called `name`.
    pub async fn remove(&mut self, name: &str) -> Result<ExitStatus, LaunchError> {
        let mut node = self
            .nodes
            .remove(name)
            .ok_or_else(|| LaunchError::NoSuchNode(name.to_owned()))?;
        node.kill().await
    }

    /// Kills every node and reaps them (blocking briefly).
    pub fn shutdown(&mut self) {
        for node in self.nodes.values() {
            node.kill_signal_blocking();
        }
        for node in self.nodes.values_mut() {
            node.reap_blocking();
        }
        self.nodes.clear();
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.shutdown();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_stat_with_awkward_names() {
        let stat = "1234 (we ird) (name) T 1 1230 1230 0 -1 4194560 ...";
        assert_eq!(parse_stat(stat), Some(('T', 1230)));
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn tail_reads_last_lines_from_offset() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        fs::write(&path, "a\nb\nc\nd\n").unwrap();
        assert_eq!(tail_lines(&path, 0, 2).unwrap(), vec!["c", "d"]);
        assert_eq!(tail_lines(&path, 4, 10).unwrap(), vec!["c", "d"]);
        assert_eq!(tail_lines(&path, 0, 10).unwrap(), vec!["a", "b", "c", "d"]);
        assert!(tail_lines(&dir.path().join("missing"), 0, 3)
            .unwrap()
            .is_empty());
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(human_duration(Duration::from_secs(1)), "1 second");
        assert_eq!(human_duration(Duration::from_secs(5)), "5 seconds");
        assert_eq!(human_duration(Duration::from_millis(300)), "0.3 seconds");
    }
}
