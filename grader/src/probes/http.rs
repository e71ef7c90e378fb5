//! HTTP requests from the grader to one node's HTTP port.
//!
//! Every request has a timeout and follows no redirect (a shortener's 302 is
//! the answer being graded, not a step to take). An [`Exchange`] keeps what
//! a student needs to see when a check fails: the request line, the status,
//! the headers, the body, how long it took, or why there was no answer.
//! Malformed requests, which no client library will send, go as raw bytes
//! through [`HttpProbe::raw`].

use super::latency::Latencies;
use super::Journal;
use parking_lot::Mutex;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The most of a body an exchange keeps (the rest is counted, not kept).
const BODY_LIMIT: usize = 64 * 1024;

/// One request and what came back.
#[derive(Debug, Clone)]
pub struct Exchange {
    /// The node it went to.
    pub node: String,
    /// `GET`, `POST`, … (`RAW` for [`HttpProbe::raw`]).
    pub method: String,
    /// The path and query.
    pub path: String,
    /// The status, if a response came.
    pub status: Option<u16>,
    /// Response headers, names lowercase, in order.
    pub headers: Vec<(String, String)>,
    /// The body (at most 64 KiB kept), lossily decoded as UTF-8.
    pub body: String,
    /// From sending to the end of the body (or to the error).
    pub latency: Duration,
    /// Why there was no (complete) response: timeout, refused, reset.
    pub error: Option<String>,
}

impl Exchange {
    /// The first header called `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    /// One line for a check's "actual": `302 Location: /x (1.3 ms)`, or
    /// `no response: timed out after 2 s`.
    pub fn describe(&self) -> String {
        match (self.status, &self.error) {
            (Some(status), _) => {
                let mut s = format!("{status}");
                if let Some(loc) = self.header("location") {
                    s.push_str(&format!(" Location: {loc}"));
                }
                let body = self.body.trim();
                if !body.is_empty() {
                    let short: String = body.chars().take(120).collect();
                    let more = if body.chars().count() > 120 {
                        "…"
                    } else {
                        ""
                    };
                    s.push_str(&format!(" body {short:?}{more}"));
                }
                s.push_str(&format!(" ({:.1} ms)", self.latency.as_secs_f64() * 1e3));
                s
            }
            (None, Some(e)) => format!("no response: {e}"),
            (None, None) => "no response".into(),
        }
    }
}

/// Requests to one node. Cheap to clone: clones share the connection pool,
/// the journal and the latency record.
#[derive(Debug, Clone)]
pub struct HttpProbe {
    node: String,
    addr: SocketAddr,
    client: reqwest::Client,
    timeout: Duration,
    journal: Journal,
    latencies: Arc<Mutex<Latencies>>,
}

impl HttpProbe {
    /// A probe of node `node`'s HTTP server at `addr`; every request is
    /// abandoned after `timeout`.
    pub fn new(node: &str, addr: SocketAddr, timeout: Duration, journal: Journal) -> HttpProbe {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timeout)
            .connect_timeout(timeout)
            .no_proxy()
            .build()
            .expect("a client without TLS or proxies always builds");
        HttpProbe {
            node: node.to_string(),
            addr,
            client,
            timeout,
            journal,
            latencies: Arc::default(),
        }
    }

    /// The node it probes.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// The address it sends to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Latencies of every request that got a response so far.
    pub fn latencies(&self) -> Latencies {
        self.latencies.lock().clone()
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> Exchange {
        self.send("GET", path, self.client.get(self.url(path)))
            .await
    }

    /// `POST path` with a form body (`application/x-www-form-urlencoded`).
    pub async fn post_form(&self, path: &str, fields: &[(&str, &str)]) -> Exchange {
        self.send("POST", path, self.client.post(self.url(path)).form(fields))
            .await
    }

    /// `POST path` with a JSON body.
    pub async fn post_json(&self, path: &str, body: &serde_json::Value) -> Exchange {
        self.send("POST", path, self.client.post(self.url(path)).json(body))
            .await
    }

    /// `POST path` with any body and content type (bad JSON, odd encodings).
    pub async fn post_bytes(&self, path: &str, content_type: &str, body: Vec<u8>) -> Exchange {
        let req = self
            .client
            .post(self.url(path))
            .header("content-type", content_type)
            .body(body);
        self.send("POST", path, req).await
    }

    async fn send(&self, method: &str, path: &str, req: reqwest::RequestBuilder) -> Exchange {
        let started = Instant::now();
        let mut ex = Exchange {
            node: self.node.clone(),
            method: method.to_string(),
            path: path.to_string(),
            status: None,
            headers: vec![],
            body: String::new(),
            latency: Duration::ZERO,
            error: None,
        };
        match req.send().await {
            Ok(resp) => {
                ex.status = Some(resp.status().as_u16());
                ex.headers = resp
                    .headers()
                    .iter()
                    .map(|(k, v)| {
                        (
                            k.as_str().to_string(),
                            String::from_utf8_lossy(v.as_bytes()).into_owned(),
                        )
                    })
                    .collect();
                match resp.bytes().await {
                    Ok(b) => {
                        ex.body =
                            String::from_utf8_lossy(&b[..b.len().min(BODY_LIMIT)]).into_owned()
                    }
                    Err(e) => ex.error = Some(describe_error(&e, self.timeout)),
                }
            }
            Err(e) => ex.error = Some(describe_error(&e, self.timeout)),
        }
        ex.latency = started.elapsed();
        self.finish(&ex);
        ex
    }

    fn finish(&self, ex: &Exchange) {
        if ex.status.is_some() && ex.error.is_none() {
            self.latencies.lock().record(ex.latency);
        }
        let path: String = ex.path.chars().take(60).collect();
        let outcome = match ex.status {
            Some(s) => s.to_string(),
            None => "no response".into(),
        };
        self.journal.record(
            &self.node,
            format!(
                "{} {path} → {outcome} ({:.1} ms)",
                ex.method,
                ex.latency.as_secs_f64() * 1e3
            ),
        );
    }

    /// Writes `request` as is on a fresh connection and reads the response
    /// until the server closes, the response is complete, or the timeout:
    /// for requests a client library refuses to send (a bad request line, a
    /// header without a colon, a body longer than its Content-Length says).
    pub async fn raw(&self, request: &[u8]) -> Exchange {
        let started = Instant::now();
        let mut ex = Exchange {
            node: self.node.clone(),
            method: "RAW".into(),
            path: String::from_utf8_lossy(request.split(|b| *b == b'\n').next().unwrap_or(&[]))
                .trim()
                .chars()
                .take(80)
                .collect(),
            status: None,
            headers: vec![],
            body: String::new(),
            latency: Duration::ZERO,
            error: None,
        };
        let attempt = async {
            let mut sock = tokio::net::TcpStream::connect(self.addr).await?;
            sock.write_all(request).await?;
            let mut buf = Vec::new();
            let mut chunk = [0u8; 8192];
            loop {
                let n = match sock.read(&mut chunk).await {
                    Ok(n) => n,
                    // A server that answers then resets still answered.
                    Err(e)
                        if !buf.is_empty() && e.kind() == std::io::ErrorKind::ConnectionReset =>
                    {
                        0
                    }
                    Err(e) => return Err(e),
                };
                if n == 0 {
                    break;
                }
                buf.extend_from_slice(&chunk[..n]);
                if response_complete(&buf) || buf.len() > BODY_LIMIT {
                    break;
                }
            }
            Ok::<_, std::io::Error>(buf)
        };
        match tokio::time::timeout(self.timeout, attempt).await {
            Ok(Ok(buf)) => parse_raw_response(&buf, &mut ex),
            Ok(Err(e)) => ex.error = Some(e.to_string()),
            Err(_) => ex.error = Some(format!("timed out after {:?}", self.timeout)),
        }
        ex.latency = started.elapsed();
        self.finish(&ex);
        ex
    }
}

fn describe_error(e: &reqwest::Error, timeout: Duration) -> String {
    if e.is_timeout() {
        format!("timed out after {timeout:?}")
    } else if e.is_connect() {
        "connection refused or failed".into()
    } else {
        // The innermost cause says the most (reset, unexpected EOF).
        let mut cause: &dyn std::error::Error = e;
        while let Some(next) = cause.source() {
            cause = next;
        }
        cause.to_string()
    }
}

/// Whether `buf` holds a whole response: headers and a body as long as
/// Content-Length says (no length: complete once the headers are).
fn response_complete(buf: &[u8]) -> bool {
    let Some(end) = find(buf, b"\r\n\r\n") else {
        return false;
    };
    let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
    let len = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok());
    match len {
        Some(n) => buf.len() >= end + 4 + n,
        None => !head.contains("transfer-encoding: chunked") || buf.ends_with(b"0\r\n\r\n"),
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn parse_raw_response(buf: &[u8], ex: &mut Exchange) {
    if buf.is_empty() {
        ex.error = Some("the server closed the connection without a response".into());
        return;
    }
    let end = find(buf, b"\r\n\r\n").unwrap_or(buf.len());
    let head = String::from_utf8_lossy(&buf[..end]);
    let mut lines = head.lines();
    let status_line = lines.next().unwrap_or("");
    ex.status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok());
    if ex.status.is_none() {
        ex.error = Some(format!("not an HTTP response: {status_line:?}"));
    }
    ex.headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let body = buf.get(end + 4..).unwrap_or(&[]);
    ex.body = String::from_utf8_lossy(body).into_owned();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_responses_are_parsed_and_known_complete() {
        let resp = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 3\r\nX-A: b\r\n\r\nbad";
        assert!(response_complete(resp));
        assert!(!response_complete(&resp[..resp.len() - 1]));
        let mut ex = Exchange {
            node: "n1".into(),
            method: "RAW".into(),
            path: String::new(),
            status: None,
            headers: vec![],
            body: String::new(),
            latency: Duration::from_millis(2),
            error: None,
        };
        parse_raw_response(resp, &mut ex);
        assert_eq!(ex.status, Some(400));
        assert_eq!(ex.header("x-a"), Some("b"));
        assert_eq!(ex.body, "bad");
        assert_eq!(ex.describe(), "400 body \"bad\" (2.0 ms)");
        parse_raw_response(b"garbage", &mut ex);
        assert!(ex.error.unwrap().contains("not an HTTP response"));
    }
}
