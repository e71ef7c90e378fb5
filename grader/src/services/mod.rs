//! Real services the grader runs for a part, next to its nodes.
//!
//! A service is a real program (never a mock), started from PATH on an
//! ephemeral port of 127.0.0.1 with its files in the stage's directory, and
//! stopped with the cluster. Nodes never reach it directly: each node gets
//! its own proxy on the fabric (the directed link `nK → store`), so a stage
//! can cut, blackhole, delay or partition a node's store link like any
//! node link; see [`crate::harness::Harness::start_store`].

pub mod redis;

/// A program a part needs that is not on this machine: what to tell the
/// student, with the one-line install per OS. The run ends with exit 2
/// ("could not tell"): the code under test was never run.
#[derive(Debug, Clone, thiserror::Error)]
#[error(
    "`{program}` was not found on PATH; it is needed to grade {needed_by}.\n  \
     install it: {install}\n  \
     (or point {env} at the binary)"
)]
pub struct MissingProgram {
    /// The program looked for.
    pub program: &'static str,
    /// What needs it ("part 3: shortener").
    pub needed_by: String,
    /// One line per OS.
    pub install: &'static str,
    /// The environment variable that names the binary instead.
    pub env: &'static str,
}

/// Finds `program` in the directories of `PATH`, or takes `env` if set.
pub fn find_program(program: &str, env: &str) -> Option<std::path::PathBuf> {
    if let Some(p) = std::env::var_os(env) {
        let p = std::path::PathBuf::from(p);
        return p.is_file().then_some(p);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(program))
        .find(|p| is_executable(p))
}

fn is_executable(p: &std::path::Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}
