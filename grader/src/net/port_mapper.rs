//! The grader's port mapper: how nodes find each other during a graded run.
//!
//! # Why the grader serves it
//!
//! Nodes of the runtime never dial each other by a port they already know:
//! like Erlang nodes asking `epmd`, a node registers its listening port under
//! its short name and asks the port mapper for the port of any node it wants
//! to reach. Because the grader serves the port mapper, it decides every
//! answer. By default a lookup is answered with the target's real port, but
//! the grader installs a [resolver hook](PortMapper::set_resolver) that
//! answers with the port of a proxy it owns for that directed link instead
//! (see [`crate::net::fabric`]). That puts the grader in the middle of every
//! node-to-node connection, which is what lets it partition the cluster.
//!
//! # Wire protocol
//!
//! ASCII lines terminated by `'\n'` (a trailing `'\r'` is tolerated) over TCP
//! on `127.0.0.1`, one command per connection:
//!
//! | request | reply |
//! | --- | --- |
//! | `ALIVE <short-name> <port>` | `OK`, then the connection is held open: the registration lasts exactly as long as it. `TAKEN` (and close) if a live connection already registered that name. |
//! | `LOOKUP <short-name> <requester-full-node-name>` | `PORT <port>` or `NOTFOUND`, then close. |
//! | `NAMES` | one `<short-name> <port>` line per registration (sorted by name), then `END`, then close. |
//! | anything else | `ERR <reason>`, then close. |
//!
//! A line longer than [`MAX_LINE`] bytes closes the connection without a
//! reply. Nothing a client sends can make the server panic, and a bad client
//! only ever loses its own connection.

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::{Mutex, RwLock};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

/// The longest request line accepted, in bytes, not counting the `'\n'`.
pub const MAX_LINE: usize = 1024;

/// How long a fresh connection may take to send its request line. A client
/// that connects and says nothing is dropped after this, so idle sockets
/// cannot pile up.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The hook that decides what `LOOKUP` answers.
///
/// Called as `resolver(requester_short_name, target_short_name)`; `Some(port)`
/// is answered as `PORT <port>`, `None` as `NOTFOUND`. It is called on the
/// server's task, so it must be quick and must not block.
pub type Resolver = dyn Fn(&str, &str) -> Option<u16> + Send + Sync;

/// Errors of the port mapper's owner-side API.
#[derive(Debug, thiserror::Error)]
pub enum PortmapError {
    /// The listening socket could not be set up.
    #[error("could not start the port mapper on 127.0.0.1: {0}")]
    Bind(#[source] io::Error),
    /// [`Registry::wait_for`] gave up.
    #[error("node `{name}` did not register with the port mapper within {timeout:?}")]
    NotRegistered {
        /// The short name waited for.
        name: String,
        /// How long it waited.
        timeout: Duration,
    },
    /// The server was shut down while someone waited on it.
    #[error("the port mapper was shut down")]
    Closed,
}

/// One live registration.
#[derive(Debug, Clone, Copy)]
struct Entry {
    port: u16,
    /// Identifies the connection that made it, so a closing connection only
    /// ever removes its own registration.
    conn_id: u64,
}

struct Shared {
    entries: Mutex<HashMap<String, Entry>>,
    /// Bumped on every change of `entries`, so waiters can sleep until one.
    version: watch::Sender<u64>,
    resolver: RwLock<Option<Arc<Resolver>>>,
    next_conn: AtomicU64,
}

impl Shared {
    fn bump(&self) {
        self.version.send_modify(|v| *v = v.wrapping_add(1));
    }

    fn register(&self, name: &str, port: u16, conn_id: u64) -> bool {
        {
            let mut entries = self.entries.lock();
            if entries.contains_key(name) {
                return false;
            }
            entries.insert(name.to_owned(), Entry { port, conn_id });
        }
        self.bump();
        true
    }

    fn unregister(&self, name: &str, conn_id: u64) {
        let removed = {
            let mut entries = self.entries.lock();
            match entries.get(name) {
                Some(e) if e.conn_id == conn_id => entries.remove(name).is_some(),
                _ => false,
            }
        };
        if removed {
            self.bump();
        }
    }

    fn port_of(&self, name: &str) -> Option<u16> {
        self.entries.lock().get(name).map(|e| e.port)
    }
}

/// A cheap, cloneable read-only view of the port mapper's registrations.
///
/// Hand it to closures (a [`Resolver`], the fabric's upstream lookup) that
/// need the real ports of registered nodes without owning the server.
#[derive(Clone)]
pub struct Registry {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("registrations", &self.snapshot())
            .finish()
    }
}

impl Registry {
    /// The real port registered under `short_name`, if a live connection holds
    /// that registration.
    pub fn get(&self, short_name: &str) -> Option<u16> {
        self.shared.port_of(short_name)
    }

    /// Every current registration: short name → real port.
    pub fn snapshot(&self) -> BTreeMap<String, u16> {
        self.shared
            .entries
            .lock()
            .iter()
            .map(|(k, e)| (k.clone(), e.port))
            .collect()
    }

    /// Waits until `short_name` is registered and returns its real port.
    ///
    /// Returns at once if it already is. Fails with
    /// [`PortmapError::NotRegistered`] after `timeout`.
    pub async fn wait_for(&self, short_name: &str, timeout: Duration) -> Result<u16, PortmapError> {
        let mut rx = self.shared.version.subscribe();
        let wait = async {
            loop {
                // Mark the current version seen *before* checking, so a
                // registration racing with the check still wakes us.
                rx.borrow_and_update();
                if let Some(port) = self.get(short_name) {
                    return Ok(port);
                }
                if rx.changed().await.is_err() {
                    return Err(PortmapError::Closed);
                }
            }
        };
        match tokio::time::timeout(timeout, wait).await {
            Ok(r) => r,
            Err(_) => Err(PortmapError::NotRegistered {
                name: short_name.to_owned(),
                timeout,
            }),
        }
    }
}

/// The grader's port-mapper server.
///
/// Dropping it stops the server and closes every connection, which also
/// drops every registration.
pub struct PortMapper {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl std::fmt::Debug for PortMapper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PortMapper")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl PortMapper {
    /// Binds `127.0.0.1:0` (an ephemeral port) and starts serving on the
    /// current tokio runtime.
    pub async fn start() -> Result<PortMapper, PortmapError> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .map_err(PortmapError::Bind)?;
        let addr = listener.local_addr().map_err(PortmapError::Bind)?;
        let (version, _) = watch::channel(0u64);
        let shared = Arc::new(Shared {
            entries: Mutex::new(HashMap::new()),
            version,
            resolver: RwLock::new(None),
            next_conn: AtomicU64::new(1),
        });
        let task = tokio::spawn(serve(listener, shared.clone()));
        tracing::debug!(%addr, "port mapper listening");
        Ok(PortMapper { addr, shared, task })
    }

    /// The address nodes must be told to use (always on `127.0.0.1`).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The port part of [`addr`](Self::addr).
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// A cloneable view of the registrations.
    pub fn registry(&self) -> Registry {
        Registry {
            shared: self.shared.clone(),
        }
    }

    /// Every current registration: short name → real port.
    pub fn registrations(&self) -> BTreeMap<String, u16> {
        self.registry().snapshot()
    }

    /// The real port registered under `short_name`, if any.
    pub fn registered_port(&self, short_name: &str) -> Option<u16> {
        self.shared.port_of(short_name)
    }

    /// Waits up to `timeout` for `short_name` to register; returns its real port.
    pub async fn wait_registered(
        &self,
        short_name: &str,
        timeout: Duration,
    ) -> Result<u16, PortmapError> {
        self.registry().wait_for(short_name, timeout).await
    }

    /// Installs the hook that decides what `LOOKUP` answers, replacing any
    /// previous one. See [`Resolver`].
    pub fn set_resolver<F>(&self, resolver: F)
    where
        F: Fn(&str, &str) -> Option<u16> + Send + Sync + 'static,
    {
        *self.shared.resolver.write() = Some(Arc::new(resolver));
    }

    /// Removes the hook: `LOOKUP` answers the registered real port again.
    pub fn clear_resolver(&self) {
        *self.shared.resolver.write() = None;
    }
}

impl Drop for PortMapper {
    fn drop(&mut self) {
        // Aborting the accept task drops its JoinSet, which aborts every
        // connection task and so closes every registration connection.
        self.task.abort();
    }
}

async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let id = shared.next_conn.fetch_add(1, Ordering::Relaxed);
                    conns.spawn(handle_conn(stream, shared.clone(), id));
                }
                Err(e) => {
                    // Typically EMFILE; back off a little instead of spinning.
                    tracing::warn!(error = %e, "port mapper accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            // Reap finished connection tasks so the set does not grow.
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
}

/// A parsed request line.
#[derive(Debug, PartialEq, Eq)]
enum Request<'a> {
    Alive { name: &'a str, port: u16 },
    Lookup { name: &'a str, requester: &'a str },
    Names,
}

fn valid_short_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
}

fn parse_request(line: &str) -> Result<Request<'_>, String> {
    let mut words = line.split_ascii_whitespace();
    let cmd = words.next().ok_or_else(|| "empty request".to_owned())?;
    let args: Vec<&str> = words.collect();
    match (cmd, args.as_slice()) {
        ("ALIVE", [name, port]) => {
            if !valid_short_name(name) {
                return Err(format!("bad short name {name:?}"));
            }
            let port: u16 = port
                .parse()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| format!("bad port {port:?}"))?;
            Ok(Request::Alive { name, port })
        }
        ("ALIVE", _) => Err("usage: ALIVE <short-name> <port>".to_owned()),
        ("LOOKUP", [name, requester]) => {
            if !valid_short_name(name) {
                return Err(format!("bad short name {name:?}"));
            }
            Ok(Request::Lookup { name, requester })
        }
        ("LOOKUP", _) => Err("usage: LOOKUP <short-name> <requester-full-node-name>".to_owned()),
        ("NAMES", []) => Ok(Request::Names),
        ("NAMES", _) => Err("usage: NAMES".to_owned()),
        _ => Err("unknown command".to_owned()),
    }
}

/// Reads one `'\n'`-terminated line of at most [`MAX_LINE`] bytes.
///
/// `Ok(None)` means the connection should just be closed: EOF before a full
/// line, an over-long line, or bytes that are not UTF-8 text.
async fn read_line<R: AsyncRead + Unpin>(reader: &mut BufReader<R>) -> io::Result<Option<String>> {
    let mut buf = Vec::with_capacity(64);
    // +1 so the terminating '\n' of a line of exactly MAX_LINE bytes fits.
    let n = (&mut *reader)
        .take(MAX_LINE as u64 + 1)
        .read_until(b'\n', &mut buf)
        .await?;
    if n == 0 || buf.last() != Some(&b'\n') {
        return Ok(None);
    }
    buf.pop();
    if buf.last() == Some(&b'\r') {
        buf.pop();
    }
    Ok(String::from_utf8(buf).ok())
}

async fn handle_conn(stream: TcpStream, shared: Arc<Shared>, conn_id: u64) {
    if let Err(e) = handle_conn_inner(stream, &shared, conn_id).await {
        tracing::trace!(error = %e, "port mapper connection ended with an error");
    }
}

async fn handle_conn_inner(stream: TcpStream, shared: &Shared, conn_id: u64) -> io::Result<()> {
    let _ = stream.set_nodelay(true);
    let mut stream = BufReader::new(stream);
    let line = match tokio::time::timeout(REQUEST_TIMEOUT, read_line(&mut stream)).await {
        Ok(line) => line?,
        Err(_) => return Ok(()),
    };
    let Some(line) = line else {
        return Ok(());
    };
    let request = match parse_request(&line) {
        Ok(r) => r,
        Err(reason) => {
            // Keep the reason on one line whatever the client sent.
            let reason: String = reason.chars().filter(|c| !c.is_control()).collect();
            stream
                .get_mut()
                .write_all(format!("ERR {reason}\n").as_bytes())
                .await?;
            return Ok(());
        }
    };
    match request {
        Request::Alive { name, port } => {
            if !shared.register(name, port, conn_id) {
                stream.get_mut().write_all(b"TAKEN\n").await?;
                return Ok(());
            }
            tracing::debug!(name, port, "node registered");
            // From here on the registration must be removed however this
            // function is left, including by the task being aborted.
            let _guard = Unregister {
                shared,
                name,
                conn_id,
            };
            stream.get_mut().write_all(b"OK\n").await?;
            // Hold the connection until the node closes it. Anything it sends
            // meanwhile is read and ignored (never buffered), so a chatty
            // client cannot grow our memory.
            let mut sink = [0u8; 256];
            loop {
                if stream.read(&mut sink).await? == 0 {
                    break;
                }
            }
            tracing::debug!(name, "node unregistered");
            Ok(())
        }
        Request::Lookup { name, requester } => {
            let requester_short = requester.split('@').next().unwrap_or(requester);
            let resolver = shared.resolver.read().clone();
            let answer = match resolver {
                Some(resolve) => resolve(requester_short, name),
                None => shared.port_of(name),
            };
            let reply = match answer {
                Some(port) => format!("PORT {port}\n"),
                None => "NOTFOUND\n".to_owned(),
            };
            stream.get_mut().write_all(reply.as_bytes()).await?;
            Ok(())
        }
        Request::Names => {
            let snapshot: BTreeMap<String, u16> = shared
                .entries
                .lock()
                .iter()
                .map(|(k, e)| (k.clone(), e.port))
                .collect();
            let mut reply = String::new();
            for (name, port) in snapshot {
                reply.push_str(&format!("{name} {port}\n"));
            }
            reply.push_str("END\n");
            stream.get_mut().write_all(reply.as_bytes()).await?;
            Ok(())
        }
    }
}

/// Removes a registration when its connection's handler ends, however it ends.
struct Unregister<'a> {
    shared: &'a Shared,
    name: &'a str,
    conn_id: u64,
}

impl Drop for Unregister<'_> {
    fn drop(&mut self) {
        self.shared.unregister(self.name, self.conn_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_requests() {
        assert_eq!(
            parse_request("ALIVE n1 4000"),
            Ok(Request::Alive {
                name: "n1",
                port: 4000
            })
        );
        assert_eq!(
            parse_request("LOOKUP n2 n1@127.0.0.1"),
            Ok(Request::Lookup {
                name: "n2",
                requester: "n1@127.0.0.1"
            })
        );
        assert_eq!(parse_request("NAMES"), Ok(Request::Names));
        for bad in [
            "",
            "ALIVE",
            "ALIVE n1",
            "ALIVE n1 0",
            "ALIVE n1 70000",
            "ALIVE n1 -1",
            "ALIVE n1@host 4000",
            "ALIVE n1 4000 extra",
            "LOOKUP n2",
            "NAMES x",
            "alive n1 4000",
            "HELLO",
        ] {
            assert!(parse_request(bad).is_err(), "{bad:?} should be rejected");
        }
    }
}
