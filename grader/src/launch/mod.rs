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

use std::time::Duration;

mod cluster;
mod error;
mod groups;
pub mod guard;
mod process;
mod procfs;
mod spec;

pub use cluster::Cluster;
pub use error::{describe_status, LaunchError, NotReady};
pub use groups::{install_signal_handler, kill_all_registered, registered_groups};
pub use process::{NodeProcess, NodeState};
pub use procfs::{group_alive, pid_alive};
pub use spec::NodeSpec;

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
