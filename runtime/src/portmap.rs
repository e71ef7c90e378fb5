//! The port mapper: finds a node's port from its name (Erlang's epmd role).
//!
//! Nodes listen on ports the OS picks, so something must map `gold` to a port on
//! each host. The protocol is ASCII lines over TCP, readable with `nc`:
//!
//! ```text
//! ALIVE <short-name> <port>            -> OK | TAKEN   (connection held: the registration
//!                                                       lives exactly as long as it)
//! LOOKUP <short-name> <requester-node> -> PORT <port> | NOTFOUND
//! NAMES                                -> <short-name> <port> ... then END
//! ```
//!
//! Lookups name the requester so that a mapper may answer each node differently;
//! the grader uses that to put a proxy it controls on every link.
//!
//! There is no separate daemon to install: the first node on a host to find the
//! port free serves the map in-process. If that node exits, every other node
//! notices its registration connection close, one of them takes the port over,
//! and all re-register — so the map outlives any one node.

use crate::node::{PortmapConfig, StartError};
use crate::pid::NodeName;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

const MAX_LINE: usize = 1024;

/// A port mapper server. Nodes embed one on demand; tests and tools can run
/// their own on an ephemeral port and point nodes at it with `--portmap`.
pub struct PortMapper {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

type Table = Arc<Mutex<HashMap<String, (u16, u64)>>>;

impl PortMapper {
    /// Binds `addr` (use port 0 for an ephemeral port) and serves until dropped.
    pub async fn bind(addr: SocketAddr) -> io::Result<PortMapper> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(serve(listener));
        Ok(PortMapper { addr, task })
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for PortMapper {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(listener: TcpListener) {
    let table: Table = Arc::default();
    let mut next = 0u64;
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        };
        next += 1;
        tokio::spawn(serve_one(stream, table.clone(), next));
    }
}

async fn read_line(
    r: &mut BufReader<tokio::net::tcp::OwnedReadHalf>,
) -> io::Result<Option<String>> {
    let mut line = Vec::new();
    let n = (&mut *r)
        .take(MAX_LINE as u64 + 1)
        .read_until(b'\n', &mut line)
        .await?;
    if n == 0 {
        return Ok(None);
    }
    if line.len() > MAX_LINE {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "line too long"));
    }
    Ok(Some(String::from_utf8_lossy(&line).trim().to_string()))
}

async fn serve_one(stream: TcpStream, table: Table, id: u64) {
    let (rd, mut wr) = stream.into_split();
    let mut rd = BufReader::new(rd);
    let Ok(Some(line)) = read_line(&mut rd).await else {
        return;
    };
    let words: Vec<&str> = line.split_whitespace().collect();
    match words.as_slice() {
        ["ALIVE", name, port] => {
            let Ok(port) = port.parse::<u16>() else {
                let _ = wr.write_all(b"ERR bad port\n").await;
                return;
            };
            let taken = {
                let mut t = table.lock();
                if t.contains_key(*name) {
                    true
                } else {
                    t.insert(name.to_string(), (port, id));
                    false
                }
            };
            if taken {
                let _ = wr.write_all(b"TAKEN\n").await;
                return;
            }
            if wr.write_all(b"OK\n").await.is_ok() {
                // Hold until the node goes away.
                let mut sink = [0u8; 64];
                while matches!(rd.read(&mut sink).await, Ok(n) if n > 0) {}
            }
            let mut t = table.lock();
            if t.get(*name).is_some_and(|(_, i)| *i == id) {
                t.remove(*name);
            }
        }
        ["LOOKUP", name, _requester] => {
            let port = table.lock().get(*name).map(|(p, _)| *p);
            let reply = match port {
                Some(p) => format!("PORT {p}\n"),
                None => "NOTFOUND\n".to_string(),
            };
            let _ = wr.write_all(reply.as_bytes()).await;
        }
        ["NAMES"] => {
            let mut out = String::new();
            let mut names: Vec<(String, u16)> = table
                .lock()
                .iter()
                .map(|(n, (p, _))| (n.clone(), *p))
                .collect();
            names.sort();
            for (n, p) in names {
                out.push_str(&format!("{n} {p}\n"));
            }
            out.push_str("END\n");
            let _ = wr.write_all(out.as_bytes()).await;
        }
        _ => {
            let _ = wr.write_all(b"ERR unknown command\n").await;
        }
    }
}

/// The mapper address for `host` under `cfg`.
async fn mapper_addr(cfg: &PortmapConfig, host: &str) -> io::Result<SocketAddr> {
    if let Some(a) = cfg.addr {
        return Ok(a);
    }
    let host = if host == "localhost" {
        "127.0.0.1"
    } else {
        host
    };
    tokio::net::lookup_host((host, cfg.port))
        .await?
        .next()
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("cannot resolve host {host}"),
            )
        })
}

/// Asks `peer`'s port mapper for its port. Retries for a moment when no mapper
/// answers, since one may be taking over from a node that just exited.
pub(crate) async fn lookup(cfg: &PortmapConfig, peer: &NodeName, me: &NodeName) -> io::Result<u16> {
    let addr = mapper_addr(cfg, peer.host()).await?;
    let mut last = None;
    for attempt in 0..10 {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        match lookup_once(addr, peer.short(), me).await {
            Ok(Some(p)) => return Ok(p),
            Ok(None) => {
                return Err(io::Error::new(
                    io::ErrorKind::NotFound,
                    format!(
                        "no node named {} is registered with the port mapper at {addr}",
                        peer.short()
                    ),
                ))
            }
            Err(e) => last = Some(e),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::ConnectionRefused,
        format!(
            "no port mapper answers at {addr} ({})",
            last.map(|e| e.to_string()).unwrap_or_default()
        ),
    ))
}

async fn lookup_once(addr: SocketAddr, short: &str, me: &NodeName) -> io::Result<Option<u16>> {
    let stream = TcpStream::connect(addr).await?;
    let (rd, mut wr) = stream.into_split();
    wr.write_all(format!("LOOKUP {short} {me}\n").as_bytes())
        .await?;
    let mut rd = BufReader::new(rd);
    let line = read_line(&mut rd).await?.unwrap_or_default();
    match line.split_whitespace().collect::<Vec<_>>().as_slice() {
        ["PORT", p] => p.parse().map(Some).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("bad port mapper reply {line:?}"),
            )
        }),
        ["NOTFOUND"] => Ok(None),
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("bad port mapper reply {line:?}"),
        )),
    }
}

/// A node's registration, kept alive (and re-made after a mapper takeover) by a task.
pub(crate) struct Registration {
    task: Mutex<Option<JoinHandle<()>>>,
}

impl Registration {
    pub(crate) async fn register(
        cfg: &PortmapConfig,
        listen_ip: IpAddr,
        name: &NodeName,
        port: u16,
    ) -> Result<Registration, StartError> {
        let (first_tx, first_rx) = oneshot::channel();
        let cfg = cfg.clone();
        let name = name.clone();
        let task = tokio::spawn(maintain(cfg, listen_ip, name.clone(), port, first_tx));
        match first_rx.await {
            Ok(Ok(())) => Ok(Registration {
                task: Mutex::new(Some(task)),
            }),
            Ok(Err(e)) => {
                task.abort();
                Err(e)
            }
            Err(_) => Err(StartError::Io("port mapper registration task ended".into())),
        }
    }

    pub(crate) fn close(&self) {
        if let Some(t) = self.task.lock().take() {
            t.abort();
        }
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.close();
    }
}

async fn maintain(
    cfg: PortmapConfig,
    listen_ip: IpAddr,
    name: NodeName,
    port: u16,
    first: oneshot::Sender<Result<(), StartError>>,
) {
    let mut first = Some(first);
    // When we serve the map, it lives in this task so it dies with the node.
    let mut served: Option<PortMapper> = None;
    let reg_addr = match cfg.addr {
        Some(a) => a,
        None => {
            let ip = if listen_ip.is_unspecified() {
                IpAddr::V4(Ipv4Addr::LOCALHOST)
            } else {
                listen_ip
            };
            SocketAddr::new(ip, cfg.port)
        }
    };
    let mut failures = 0u32;
    loop {
        match TcpStream::connect(reg_addr).await {
            Ok(stream) => {
                failures = 0;
                let (rd, mut wr) = stream.into_split();
                let mut rd = BufReader::new(rd);
                let ok = wr
                    .write_all(format!("ALIVE {} {port}\n", name.short()).as_bytes())
                    .await
                    .is_ok();
                let reply = if ok {
                    read_line(&mut rd).await.ok().flatten()
                } else {
                    None
                };
                match reply.as_deref() {
                    Some("OK") => {
                        if let Some(f) = first.take() {
                            let _ = f.send(Ok(()));
                        }
                        let mut sink = [0u8; 64];
                        while matches!(rd.read(&mut sink).await, Ok(n) if n > 0) {}
                        tracing::debug!("port mapper registration closed; re-registering");
                    }
                    Some("TAKEN") => {
                        if let Some(f) = first.take() {
                            let _ = f.send(Err(StartError::NameInUse(name.clone())));
                            return;
                        }
                        // Our old registration has not been dropped yet by a new mapper.
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    _ => tokio::time::sleep(Duration::from_millis(50)).await,
                }
            }
            Err(e) => {
                failures += 1;
                let may_serve = cfg.addr.is_none() && served.is_none();
                if may_serve {
                    let bind = SocketAddr::new(listen_ip, cfg.port);
                    if let Ok(m) = PortMapper::bind(bind).await {
                        tracing::debug!("serving the port mapper on {bind}");
                        served = Some(m);
                        continue;
                    }
                }
                if failures > 50 {
                    if let Some(f) = first.take() {
                        let _ = f.send(Err(StartError::Io(format!(
                            "cannot reach the port mapper at {reg_addr}: {e} (is --portmap right?)"
                        ))));
                        return;
                    }
                }
                // Jitter so that nodes racing to take over do not collide forever.
                let ms = 20 + rand::random::<u64>() % 80;
                tokio::time::sleep(Duration::from_millis(ms)).await;
            }
        }
    }
}
