//! A real `redis-server`, owned by one stage.
//!
//! Started from PATH (or `REDIS_SERVER`) on an ephemeral port of 127.0.0.1,
//! its working directory under the stage's directory, in a process group of
//! its own with a [guard](crate::launch::guard), so it dies with the grader
//! on every exit path, SIGKILL of the grader included. Ready once it answers
//! PING (through the `redis` crate, as the parts' nodes will talk to it).
//!
//! No persistence unless the stage asks for it: with
//! [`Persistence::AppendOnly`] every acknowledged write is fsynced to an
//! append-only file, so [`Redis::restart`] can keep the data through a
//! SIGKILL, as a real store that lost its process but not its disk would.

use crate::launch::{LaunchError, NodeProcess, NodeSpec};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The binary looked for on PATH.
pub const PROGRAM: &str = "redis-server";
/// Names the binary instead of PATH.
pub const PROGRAM_ENV: &str = "REDIS_SERVER";
/// How to install it, per OS.
pub const INSTALL: &str =
    "Debian/Ubuntu: sudo apt-get install redis-server · macOS: brew install redis";

/// How long a start (or restart) may take to answer PING, unscaled.
pub const READY_WITHIN: Duration = Duration::from_secs(10);
/// Ports tried before giving up when another process takes ours first.
const PORT_ATTEMPTS: usize = 4;

/// What survives a restart of the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Persistence {
    /// Nothing: data lives in memory only, a restart starts empty.
    #[default]
    None,
    /// An append-only file, fsynced on every write: a restart may keep it.
    AppendOnly,
}

/// Why the store could not be started or controlled.
#[derive(Debug, thiserror::Error)]
pub enum RedisError {
    /// `redis-server` is not installed.
    #[error(transparent)]
    Missing(#[from] super::MissingProgram),
    /// Starting, signalling or reaping its process failed.
    #[error("redis-server: {0}")]
    Launch(#[from] LaunchError),
    /// It ran but never answered PING.
    #[error("redis-server did not answer PING on 127.0.0.1:{port} within {within:?}: {why}\n  last lines of its log ({log}):\n{tail}")]
    NotReady {
        /// The port it was told to listen on.
        port: u16,
        /// How long we waited.
        within: Duration,
        /// The last error seen.
        why: String,
        /// Its log file.
        log: String,
        /// The log's last lines, indented.
        tail: String,
    },
    /// A restart that keeps data was asked of a store without persistence.
    #[error("cannot keep the store's data across a restart without Persistence::AppendOnly")]
    NoPersistence,
    /// Its directory could not be prepared.
    #[error("cannot prepare {path}: {source}")]
    Dir {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// The binary to run, or what to tell the student when there is none.
pub fn binary(needed_by: &str) -> Result<PathBuf, super::MissingProgram> {
    super::find_program(PROGRAM, PROGRAM_ENV).ok_or_else(|| super::MissingProgram {
        program: PROGRAM,
        needed_by: needed_by.to_string(),
        install: INSTALL,
        env: PROGRAM_ENV,
    })
}

/// One running `redis-server`.
#[derive(Debug)]
pub struct Redis {
    process: NodeProcess,
    port: u16,
    data_dir: PathBuf,
    persistence: Persistence,
    /// How long a start or restart may take to answer PING.
    ready_within: Duration,
}

impl Redis {
    /// Starts `redis-server` as service `name` (its log is `<name>.log` in
    /// `run_dir`, its files in `<run_dir>/<name>/`) and waits until it
    /// answers PING, for at most `ready_within` (a stage passes
    /// [`READY_WITHIN`] scaled by `--time-scale`).
    pub async fn start(
        name: &str,
        run_dir: &Path,
        persistence: Persistence,
        ready_within: Duration,
    ) -> Result<Redis, RedisError> {
        let program = binary("this stage")?;
        let data_dir = run_dir.join(name);
        std::fs::create_dir_all(&data_dir).map_err(|source| RedisError::Dir {
            path: data_dir.clone(),
            source,
        })?;
        let mut last = None;
        for _ in 0..PORT_ATTEMPTS {
            let port = free_port().map_err(|source| RedisError::Dir {
                path: data_dir.clone(),
                source,
            })?;
            let spec = NodeSpec::new(name, &program)
                .args(server_args(port, &data_dir, persistence))
                .guarded();
            let process = NodeProcess::spawn(spec, run_dir)?;
            let mut redis = Redis {
                process,
                port,
                data_dir: data_dir.clone(),
                persistence,
                ready_within,
            };
            match redis.wait_ready().await {
                Ok(()) => return Ok(redis),
                // Someone took the port between our probe and its bind.
                Err(e) if redis.process.try_exit_status().is_some() && redis.lost_port() => {
                    last = Some(e)
                }
                Err(e) => return Err(e),
            }
        }
        Err(last.expect("at least one attempt"))
    }

    /// The port it listens on (stable across restarts).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A URL that reaches it directly, bypassing the fabric: for the
    /// grader's own checks, never for a node.
    pub fn direct_url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Its OS pid (the current incarnation's).
    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// SIGKILLs it (verified: reaped, group empty).
    pub async fn kill(&mut self) -> Result<(), RedisError> {
        self.process.kill().await?;
        Ok(())
    }

    /// SIGSTOPs it (verified by the OS): it holds connections but answers
    /// nothing, like a store stuck in a long fsync.
    pub async fn pause(&mut self) -> Result<(), RedisError> {
        Ok(self.process.pause().await?)
    }

    /// SIGCONTs it.
    pub async fn resume(&mut self) -> Result<(), RedisError> {
        Ok(self.process.resume().await?)
    }

    /// Kills it and starts it again on the same port; `keep_data` keeps the
    /// append-only file (needs [`Persistence::AppendOnly`]), otherwise the
    /// new store starts empty. Waits until it answers PING.
    pub async fn restart(&mut self, keep_data: bool) -> Result<(), RedisError> {
        if keep_data && self.persistence != Persistence::AppendOnly {
            return Err(RedisError::NoPersistence);
        }
        self.process.kill().await?;
        if !keep_data {
            let dir_err = |source| RedisError::Dir {
                path: self.data_dir.clone(),
                source,
            };
            std::fs::remove_dir_all(&self.data_dir).map_err(dir_err)?;
            std::fs::create_dir_all(&self.data_dir).map_err(dir_err)?;
        }
        self.process.restart().await?;
        self.wait_ready().await
    }

    /// Whether it is running and not paused, as far as the grader knows.
    pub fn is_running(&mut self) -> bool {
        matches!(self.process.state(), crate::launch::NodeState::Running)
    }

    async fn wait_ready(&mut self) -> Result<(), RedisError> {
        let deadline = Instant::now() + self.ready_within;
        let url = self.direct_url();
        loop {
            let why = match ping(&url, Duration::from_millis(500)).await {
                Ok(()) => return Ok(()),
                Err(e) => e,
            };
            let exited = self.process.try_exit_status();
            if exited.is_some() || Instant::now() >= deadline {
                let tail = self.process.tail_current_log(15).unwrap_or_default();
                let why = match exited {
                    Some(status) => {
                        format!("it exited ({})", crate::launch::describe_status(status))
                    }
                    None => why,
                };
                return Err(RedisError::NotReady {
                    port: self.port,
                    within: self.ready_within,
                    why,
                    log: self.process.log_path().display().to_string(),
                    tail: tail
                        .iter()
                        .map(|l| format!("    {l}"))
                        .collect::<Vec<_>>()
                        .join("\n"),
                });
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Whether its log says another process had its port.
    fn lost_port(&self) -> bool {
        self.process
            .tail_current_log(40)
            .unwrap_or_default()
            .iter()
            .any(|l| l.contains("Address already in use"))
    }
}

/// One PING over a fresh connection, bounded by `within`.
pub async fn ping(url: &str, within: Duration) -> Result<(), String> {
    let client = redis::Client::open(url).map_err(|e| e.to_string())?;
    let attempt = async {
        let mut conn = client
            .get_multiplexed_async_connection()
            .await
            .map_err(|e| e.to_string())?;
        let pong: String = redis::cmd("PING")
            .query_async(&mut conn)
            .await
            .map_err(|e| e.to_string())?;
        if pong == "PONG" {
            Ok(())
        } else {
            Err(format!("PING answered {pong:?}"))
        }
    };
    match tokio::time::timeout(within, attempt).await {
        Ok(r) => r,
        Err(_) => Err(format!("no answer within {within:?}")),
    }
}

fn server_args(port: u16, dir: &Path, persistence: Persistence) -> Vec<String> {
    let mut args = vec![
        "--port".to_string(),
        port.to_string(),
        "--bind".into(),
        "127.0.0.1".into(),
        "--dir".into(),
        dir.display().to_string(),
        "--daemonize".into(),
        "no".into(),
        // Loopback only, no password: nodes connect as they would in a workshop.
        "--protected-mode".into(),
        "no".into(),
        "--save".into(),
        String::new(),
        "--logfile".into(),
        String::new(),
    ];
    match persistence {
        Persistence::None => args.extend(["--appendonly".into(), "no".into()]),
        Persistence::AppendOnly => args.extend([
            "--appendonly".into(),
            "yes".into(),
            "--appendfsync".into(),
            "always".into(),
        ]),
    }
    args
}

/// A port of 127.0.0.1 free right now (the kernel's choice).
fn free_port() -> std::io::Result<u16> {
    let l = std::net::TcpListener::bind(("127.0.0.1", 0))?;
    l.local_addr().map(|a| a.port())
}
