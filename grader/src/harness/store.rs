//! The stage's store: a real Redis behind the fabric.
//!
//! Each node reaches the store through a proxy of its own, the directed
//! link `nK → store` (and `store → nK` for the replies), so cutting,
//! blackholing, delaying or partitioning a node's store link is the same
//! call as for a node link, and a node cut from the store can only answer
//! from what it holds itself. The store's own faults (kill, pause, restart
//! with or without its data) act on its process. Traffic on store links is
//! counted in RESP messages (commands one way, replies the other).

use super::{secs, Harness, StageError};
use crate::net::fabric::{PartitionMode, Policy};
use crate::net::framing::Framing;
use crate::report::model::{CheckKind, FaultKind, Mark, TimelineMessage};
use crate::services::redis::{Persistence, Redis, RedisError};
use std::time::Duration;

/// The store's name: its lane on the timeline, and the far end of every
/// node's store link on the fabric.
pub const STORE: &str = "store";

/// Messages on one node's store link.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreTraffic {
    /// Commands the node sent.
    pub commands: u64,
    /// Replies it received.
    pub replies: u64,
    /// Bytes both ways.
    pub bytes: u64,
}

impl Harness {
    /// Starts the stage's Redis (exit 2 with the install line if there is no
    /// `redis-server`). Nodes reach it through [`Harness::store_url`].
    pub async fn start_store(&mut self, persistence: Persistence) -> Result<(), StageError> {
        let within = self.scaled(crate::services::redis::READY_WITHIN);
        let redis = Redis::start(STORE, &self.setup.dir, persistence, within)
            .await
            .map_err(store_error)?;
        self.fabric.add_service(STORE, redis.port(), Framing::Resp);
        self.out.line(
            STORE,
            format!(
                "redis-server started (os pid {}, port {})",
                redis.pid(),
                redis.port()
            ),
        );
        self.store = Some(redis);
        if !self.lanes.iter().any(|l| l == STORE) {
            self.lanes.push(STORE.to_string());
        }
        Ok(())
    }

    fn redis(&mut self) -> Result<&mut Redis, StageError> {
        self.store
            .as_mut()
            .ok_or_else(|| StageError::Grader("the stage uses the store before start_store".into()))
    }

    /// The URL node `short` must use for the store (`--redis-url`): its own
    /// proxy on the fabric.
    pub fn store_url(&self, short: &str) -> Result<String, StageError> {
        if self.store.is_none() {
            return Err(StageError::Grader("store_url before start_store".into()));
        }
        let port = self
            .fabric
            .proxy_port(short, STORE)
            .map_err(|e| StageError::Grader(format!("fabric: {e}")))?;
        Ok(format!("redis://127.0.0.1:{port}/"))
    }

    /// A URL that bypasses the fabric, for the grader's own reads of the
    /// store (what the store holds is the truth a stage compares against).
    pub fn store_direct_url(&self) -> Result<String, StageError> {
        self.store
            .as_ref()
            .map(Redis::direct_url)
            .ok_or_else(|| StageError::Grader("store_direct_url before start_store".into()))
    }

    /// What node `short` has exchanged with the store so far.
    pub fn store_traffic(&self, short: &str) -> StoreTraffic {
        let out = self.fabric.stats(short, STORE);
        let back = self.fabric.stats(STORE, short);
        StoreTraffic {
            commands: out.frames,
            replies: back.frames,
            bytes: out.bytes + back.bytes,
        }
    }

    /// Cuts node `short` from the store (its connections reset, new ones
    /// refused) and verifies no connection of its store link is left open.
    pub async fn cut_store(&mut self, short: &str) -> Result<(), StageError> {
        self.store_link(short, Policy::Cut);
        self.verify_store_unreachable(&[short], PartitionMode::Cut)
            .await
    }

    /// Sets both directions of node `short`'s store link (`Blackhole`: the
    /// store seems to hang; `Latency`: a slow store; `Pass`: back to normal).
    pub fn store_link(&mut self, short: &str, policy: Policy) {
        self.fabric.set_both(short, STORE, policy);
        let label = format!("{short} ↔ {STORE}: {policy:?}");
        let kind = if matches!(policy, Policy::Latency(_)) {
            FaultKind::Latency
        } else {
            FaultKind::Link
        };
        if policy == Policy::Pass {
            let pair = [short.to_string(), STORE.to_string()];
            self.close_bands(|b| b.nodes == pair);
        } else {
            self.band(
                kind,
                label.clone(),
                vec![short.to_string(), STORE.to_string()],
            );
        }
        self.out.line("net", label);
    }

    /// Safety of the fault itself: for each of `shorts`, both directions of
    /// its store link break traffic and (for a cut) no connection is left
    /// open, within a few seconds. A stage that claims a node answered
    /// without the store must know the store really was out of its reach.
    pub(super) async fn verify_store_unreachable(
        &mut self,
        shorts: &[&str],
        mode: PartitionMode,
    ) -> Result<(), StageError> {
        let fabric_view: Vec<(String, Policy, Policy)> = shorts
            .iter()
            .map(|s| {
                (
                    s.to_string(),
                    self.fabric.link(s, STORE),
                    self.fabric.link(STORE, s),
                )
            })
            .collect();
        let want = match mode {
            PartitionMode::Cut => Policy::Cut,
            PartitionMode::Blackhole => Policy::Blackhole,
        };
        let wrong: Vec<String> = fabric_view
            .iter()
            .filter(|(_, a, b)| *a != want || *b != want)
            .map(|(s, a, b)| format!("{s}: {a:?}/{b:?}"))
            .collect();
        if !wrong.is_empty() {
            return Err(StageError::Grader(format!(
                "store links not {want:?} after the fault: {}",
                wrong.join(", ")
            )));
        }
        if mode == PartitionMode::Blackhole {
            return Ok(());
        }
        let names: Vec<String> = shorts.iter().map(|s| s.to_string()).collect();
        let fabric = self.fabric.counters();
        self.eventually(
            format!("the store is out of reach of {}", names.join(", ")),
            Duration::from_secs(3),
            "no open connection on their store links",
            || {
                let (fabric, names) = (fabric.clone(), names.clone());
                async move {
                    let open: Vec<String> = names
                        .iter()
                        .filter_map(|s| {
                            let n = fabric.stats(s, STORE).connections_open;
                            (n > 0).then(|| format!("{s}: {n} open"))
                        })
                        .collect();
                    if open.is_empty() {
                        Ok(())
                    } else {
                        Err(open.join(", "))
                    }
                }
            },
        )
        .await
    }

    /// SIGKILLs the store (verified: reaped). Its data is gone unless it
    /// was started with [`Persistence::AppendOnly`].
    pub async fn kill_store(&mut self) -> Result<(), StageError> {
        self.redis()?.kill().await.map_err(store_error)?;
        self.process_fault(FaultKind::Kill, STORE, "killed", "killed (SIGKILL)");
        Ok(())
    }

    /// SIGSTOPs the store (verified by the OS): connections stay open and
    /// nothing answers.
    pub async fn pause_store(&mut self) -> Result<(), StageError> {
        self.redis()?.pause().await.map_err(store_error)?;
        self.process_fault(FaultKind::Pause, STORE, "paused", "paused (SIGSTOP)");
        Ok(())
    }

    /// SIGCONTs the store.
    pub async fn resume_store(&mut self) -> Result<(), StageError> {
        self.redis()?.resume().await.map_err(store_error)?;
        self.process_fault_over(FaultKind::Pause, STORE);
        self.out.line(STORE, "resumed (SIGCONT)");
        Ok(())
    }

    /// Starts the store again (after [`Harness::kill_store`], or killing it
    /// first) on the same port, keeping its data or not, and waits until it
    /// answers PING. The nodes are not told: their clients must reconnect.
    pub async fn restart_store(&mut self, keep_data: bool) -> Result<(), StageError> {
        let started = std::time::Instant::now();
        self.redis()?
            .restart(keep_data)
            .await
            .map_err(store_error)?;
        self.process_fault_over(FaultKind::Kill, STORE);
        let what = if keep_data { "with its data" } else { "empty" };
        let pid = self.redis()?.pid();
        self.out.line(
            STORE,
            format!(
                "restarted {what} (os pid {pid}, in {})",
                secs(started.elapsed())
            ),
        );
        Ok(())
    }

    /// Store traffic as timeline messages on the stage's clock.
    pub(super) fn service_messages(&self) -> Vec<TimelineMessage> {
        let offset = self
            .fabric
            .started_at()
            .saturating_duration_since(self.started);
        self.fabric
            .service_traffic()
            .into_iter()
            .map(|t| {
                let at = (offset + t.since_start).as_micros() as u64;
                TimelineMessage {
                    sent_us: at,
                    received_us: Some(at),
                    from: t.from,
                    to: t.to,
                    kind: "store".into(),
                    type_name: Some(if t.messages == 1 {
                        "1 RESP message".into()
                    } else {
                        format!("{} RESP messages", t.messages)
                    }),
                    bytes: t.bytes,
                }
            })
            .collect()
    }

    /// The probes' journal as marks on the nodes' lanes.
    pub(super) fn probe_marks(&mut self) {
        let (entries, dropped) = self.journal.entries();
        for e in entries {
            self.marks.push(Mark {
                at_us: e.at.saturating_duration_since(self.started).as_micros() as u64,
                label: e.label,
                lane: Some(e.lane),
            });
        }
        if dropped > 0 {
            let at_us = self.since_start_us();
            self.marks.push(Mark {
                at_us,
                label: format!("{dropped} later probe events not shown"),
                lane: None,
            });
        }
    }

    /// Records that a check about the store could not be decided because the
    /// store itself failed (not the code under test).
    pub fn store_inconclusive(&self, what: &str, e: impl std::fmt::Display) -> StageError {
        StageError::Inconclusive(format!("{what}: the store failed: {e}"))
    }

    /// Runs `cmd` on the store directly, bypassing the fabric: the grader's
    /// own reads and writes of the truth (`what` names it in the error). A
    /// store that fails here makes the check inconclusive: it says nothing
    /// about the code under test.
    pub async fn store_query<T: redis::FromRedisValue>(
        &self,
        what: &str,
        cmd: &redis::Cmd,
    ) -> Result<T, StageError> {
        let url = self.store_direct_url()?;
        let result: Result<T, redis::RedisError> = async {
            let client = redis::Client::open(url.as_str())?;
            let mut conn = client.get_multiplexed_async_connection().await?;
            cmd.query_async(&mut conn).await
        }
        .await;
        result.map_err(|e| self.store_inconclusive(what, e))
    }

    /// Safety: the store holds `key` with `value` (read directly, bypassing
    /// the fabric).
    pub async fn check_store_holds(&mut self, key: &str, value: &str) -> Result<(), StageError> {
        let got: Option<String> = self
            .store_query("reading the store", redis::cmd("GET").arg(key))
            .await?;
        self.check(
            CheckKind::Safety,
            format!("the store holds {key}"),
            got.as_deref() == Some(value),
            Some(value.to_string()),
            Some(format!("{got:?}")),
        )
    }
}

fn store_error(e: RedisError) -> StageError {
    match e {
        RedisError::Missing(m) => StageError::Inconclusive(m.to_string()),
        RedisError::NotReady { .. } | RedisError::Dir { .. } => {
            StageError::Inconclusive(e.to_string())
        }
        RedisError::Launch(_) | RedisError::NoPersistence => StageError::Grader(e.to_string()),
    }
}
