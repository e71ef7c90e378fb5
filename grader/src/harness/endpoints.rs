//! Reaching a node as its users do: its HTTP port, its client port.
//!
//! A node binds its application ports wherever it likes (port 0 is best)
//! and announces them in its ready file (`Node::signal_ready_with`), so the
//! grader never guesses a port. Probes go straight to the node, not through
//! the fabric: the grader is the user, and a user is never partitioned from
//! the node it is talking to unless the stage says so.

use super::{Harness, StageError};
use crate::probes::http::HttpProbe;
use crate::probes::latency::Latencies;
use crate::probes::lines::LineClient;
use crate::probes::Journal;
use crate::report::model::CheckKind;
use std::net::SocketAddr;
use std::time::Duration;

/// How long one HTTP request may take before it counts as unanswered.
pub const HTTP_TIMEOUT: Duration = Duration::from_secs(3);

impl Harness {
    /// The address node `short` announced for `key` (`"http"`, `"client"`)
    /// when it signalled readiness. A node that announced none fails a
    /// liveness check that says what to call.
    pub fn endpoint(&mut self, short: &str, key: &str) -> Result<SocketAddr, StageError> {
        let path = self
            .cluster
            .node(short)
            .ok_or_else(|| StageError::Grader(format!("no node `{short}` in this stage")))?
            .ready_path()
            .to_path_buf();
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let found = parse_endpoint(&text, key);
        match found {
            Some(addr) => Ok(addr),
            None => {
                let actual = if text.trim().is_empty() {
                    "an empty ready file".to_string()
                } else {
                    format!("{:?}", text.trim())
                };
                Err(self.fail(
                    CheckKind::Liveness,
                    format!("{short} announces its `{key}` address when ready"),
                    format!(
                        "a line `{key} <ip:port>` in its ready file (the node calls \
                         node.signal_ready_with(&[(\"{key}\", addr)]) once it listens)"
                    ),
                    actual,
                ))
            }
        }
    }

    /// An HTTP probe of node `short` (its announced `http` address); every
    /// request it sends is drawn on the node's lane.
    pub fn http(&mut self, short: &str) -> Result<HttpProbe, StageError> {
        let addr = self.endpoint(short, "http")?;
        Ok(HttpProbe::new(
            short,
            addr,
            self.scaled(HTTP_TIMEOUT),
            self.journal.clone(),
        ))
    }

    /// A new JSON-lines client connected to node `short`'s announced
    /// `client` address.
    pub async fn line_client(&mut self, short: &str) -> Result<LineClient, StageError> {
        let addr = self.endpoint(short, "client")?;
        let within = self.scaled(Duration::from_secs(3));
        match LineClient::connect(short, addr, within, self.journal.clone()).await {
            Ok(c) => Ok(c),
            Err(e) => Err(self.fail(
                CheckKind::Liveness,
                format!("a client connects to {short} at {addr}"),
                "an accepted connection",
                e.to_string(),
            )),
        }
    }

    /// Puts a latency summary in the stage's report (results.json, the
    /// timeline page) and on the terminal, under `name`.
    pub fn report_latency(&mut self, name: impl Into<String>, latencies: &Latencies) {
        let s = latencies.summary();
        let name = name.into();
        self.say(format!("latency of {name}: {s}"));
        self.latencies.push(crate::report::model::LatencyReport {
            name,
            count: s.count,
            p50_us: s.p50_us,
            p99_us: s.p99_us,
            max_us: s.max_us,
        });
    }

    /// The stage's probe journal, for probes made by hand.
    pub fn journal(&self) -> Journal {
        self.journal.clone()
    }
}

/// The address on the line `key <addr>` of a ready file.
fn parse_endpoint(text: &str, key: &str) -> Option<SocketAddr> {
    text.lines().skip(1).find_map(|l| {
        let (k, v) = l.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok()).flatten()
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn endpoints_are_read_from_the_ready_file() {
        let text = "n1@127.0.0.1 40001\nhttp 127.0.0.1:8080\nclient 127.0.0.1:9090\n";
        assert_eq!(
            super::parse_endpoint(text, "http"),
            Some("127.0.0.1:8080".parse().unwrap())
        );
        assert_eq!(
            super::parse_endpoint(text, "client"),
            Some("127.0.0.1:9090".parse().unwrap())
        );
        assert_eq!(super::parse_endpoint(text, "admin"), None);
        // The first line is the node's own, never an endpoint.
        assert_eq!(super::parse_endpoint("http 1.2.3.4:5\n", "http"), None);
    }
}
