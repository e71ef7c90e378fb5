//! The node specification: what to run for one node.

use std::ffi::{OsStr, OsString};
use std::path::PathBuf;

use super::error::LaunchError;
#[cfg(doc)]
use super::{guard, READY_FILE_ENV, WATCH_PID_ENV};

/// What to run for one node: its name, program, arguments and extra
/// environment. The child also inherits the grader's environment, plus
/// [`WATCH_PID_ENV`] and [`READY_FILE_ENV`].
#[derive(Debug, Clone)]
pub struct NodeSpec {
    pub(super) name: String,
    pub(super) program: OsString,
    pub(super) args: Vec<OsString>,
    pub(super) env: Vec<(OsString, OsString)>,
    pub(super) current_dir: Option<PathBuf>,
    pub(super) guarded: bool,
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

pub(super) fn validate_name(name: &str) -> Result<(), LaunchError> {
    if name.is_empty() || name.contains('/') || name.contains('\0') || name == "." || name == ".." {
        return Err(LaunchError::InvalidName(name.to_owned()));
    }
    Ok(())
}
