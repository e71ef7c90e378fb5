//! One node's OS process: starting it, waiting for it, reading its log, and
//! injecting faults into it.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;

use super::error::{describe_status, LaunchError, NotReady};
use super::groups::{live_groups, unregister_group};
use super::procfs::{group_has_live_members, group_stop_counts};
use super::spec::{validate_name, NodeSpec};
use super::{guard, LOG_TAIL_LINES, POLL, READY_FILE_ENV, VERIFY_TIMEOUT, WATCH_PID_ENV};

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
    pub(super) fn reap_blocking(&mut self) {
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

    pub(super) fn kill_signal_blocking(&self) {
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
