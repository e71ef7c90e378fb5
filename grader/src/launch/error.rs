//! The launcher's errors, and plain-English descriptions of exit statuses.

use std::fmt;
use std::io;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::ExitStatus;
use std::time::Duration;

use nix::errno::Errno;
use nix::sys::signal::Signal;

#[cfg(doc)]
use super::{Cluster, LOG_TAIL_LINES};

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_naturally() {
        assert_eq!(human_duration(Duration::from_secs(1)), "1 second");
        assert_eq!(human_duration(Duration::from_secs(5)), "5 seconds");
        assert_eq!(human_duration(Duration::from_millis(300)), "0.3 seconds");
    }
}
