//! The store: Redis, the source of truth for every link.
//!
//! Every command has a deadline ([`STORE_TIMEOUT_MS`]): a store that is
//! down, cut off or paused is an error after at most that long, never a
//! request that hangs. The connection is made on first use and remade after
//! a failure, so a node starts without its store and recovers when the
//! store comes back, with no restart.

use contracts::shortener::{store_key, Link, STORE_TIMEOUT_MS};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use std::time::Duration;

/// A handle on the store. Cheap to clone: clones share one connection.
#[derive(Clone)]
pub struct Store {
    conn: ConnectionManager,
}

/// Why the store did not answer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No answer within [`STORE_TIMEOUT_MS`].
    #[error("the store did not answer within {STORE_TIMEOUT_MS} ms")]
    Timeout,
    /// The connection failed, or the store answered with an error.
    #[error("the store failed: {0}")]
    Redis(#[from] redis::RedisError),
}

/// What [`Store::claim`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The code was free and now holds the URL.
    Claimed,
    /// The code already held this same URL.
    AlreadyOurs,
    /// The code holds another URL (returned).
    TakenBy(String),
}

impl Store {
    /// A store at `url` (`redis://host:port/`). Connects on first use.
    pub fn open(url: &str) -> Result<Store, String> {
        let client =
            redis::Client::open(url).map_err(|e| format!("bad --redis-url {url:?}: {e}"))?;
        let timeout = Duration::from_millis(STORE_TIMEOUT_MS);
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            // Retry briefly, then fail the command: the next one tries again.
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(100));
        let conn = ConnectionManager::new_lazy_with_config(client, config)
            .map_err(|e| format!("cannot use the store at {url}: {e}"))?;
        Ok(Store { conn })
    }

    /// The URL of `code`, or `None` if the store has no such link.
    pub async fn get(&self, code: &str) -> Result<Option<String>, StoreError> {
        let mut cmd = redis::cmd("GET");
        cmd.arg(store_key(code));
        self.run(cmd).await
    }

    /// Sets `link` only if its code is free (`SET key url NX`), and says
    /// what the code holds now.
    pub async fn claim(&self, link: &Link) -> Result<Claim, StoreError> {
        let mut set = redis::cmd("SET");
        set.arg(store_key(&link.code)).arg(&link.url).arg("NX");
        let set: Option<String> = self.run(set).await?;
        if set.is_some() {
            return Ok(Claim::Claimed);
        }
        match self.get(&link.code).await? {
            Some(url) if url == link.url => Ok(Claim::AlreadyOurs),
            Some(url) => Ok(Claim::TakenBy(url)),
            // Deleted between the two commands: claim it again.
            None => Box::pin(self.claim(link)).await,
        }
    }

    /// Runs `cmd` within the deadline. A connection found broken (the store
    /// restarted since the last command) is remade and the command sent
    /// once more, so a store that came back costs no failed request. Every
    /// command here may safely run twice.
    async fn run<T: redis::FromRedisValue>(&self, cmd: redis::Cmd) -> Result<T, StoreError> {
        let mut conn = self.conn.clone();
        let timeout = Duration::from_millis(STORE_TIMEOUT_MS);
        let attempts = async {
            match cmd.query_async(&mut conn).await {
                Err(e) if e.is_io_error() || e.is_connection_dropped() => {
                    cmd.query_async(&mut conn).await
                }
                result => result,
            }
        };
        match tokio::time::timeout(timeout, attempts).await {
            Ok(Err(e)) if e.is_timeout() => Err(StoreError::Timeout),
            Ok(result) => Ok(result?),
            Err(_) => Err(StoreError::Timeout),
        }
    }
}
