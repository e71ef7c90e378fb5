//! Frames over TCP: a 4-byte big-endian length, then the bytes.

use super::{FrameReader, FrameWriter};
use crate::node::{NodeConfig, StartError};
use crate::pid::NodeName;
use crate::portmap;
use bytes::{Buf, BytesMut};
use parking_lot::Mutex;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufWriter};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};

pub(crate) struct TcpTransport {
    listener: Mutex<Option<TcpListener>>,
    addr: SocketAddr,
    portmap: crate::node::PortmapConfig,
    registration: portmap::Registration,
    busy_wait: Duration,
}

pub(crate) struct TcpAcceptor {
    listener: TcpListener,
    busy_wait: Duration,
}

pub(crate) struct TcpReader {
    rd: OwnedReadHalf,
    buf: BytesMut,
    /// See [`NodeConfig::busy_wait`].
    busy_wait: Duration,
    /// Poll the socket instead of sleeping until then (the last read + `busy_wait`).
    spin_until: Instant,
}

pub(crate) struct TcpWriter(BufWriter<OwnedWriteHalf>);

/// The IP a node listens on when not told: its name's host if that is an IP
/// (`gold@127.0.0.1` listens on loopback only), else every interface.
pub(crate) fn default_listen_ip(name: &NodeName) -> IpAddr {
    match name.host() {
        "localhost" => IpAddr::V4(Ipv4Addr::LOCALHOST),
        h => h.parse().unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
    }
}

impl TcpTransport {
    pub(crate) async fn start(config: &NodeConfig) -> Result<TcpTransport, StartError> {
        let addr = config
            .listen
            .unwrap_or_else(|| SocketAddr::new(default_listen_ip(&config.name), 0));
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|e| StartError::Io(format!("cannot listen on {addr}: {e}")))?;
        let addr = listener
            .local_addr()
            .map_err(|e| StartError::Io(e.to_string()))?;
        let registration =
            portmap::Registration::register(&config.portmap, addr.ip(), &config.name, addr.port())
                .await?;
        Ok(TcpTransport {
            listener: Mutex::new(Some(listener)),
            addr,
            portmap: config.portmap.clone(),
            registration,
            busy_wait: config.busy_wait,
        })
    }

    pub(crate) fn listener(&self) -> Result<TcpAcceptor, StartError> {
        self.listener
            .lock()
            .take()
            .map(|listener| TcpAcceptor {
                listener,
                busy_wait: self.busy_wait,
            })
            .ok_or_else(|| StartError::Io("listener already taken".into()))
    }

    pub(crate) fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    pub(crate) async fn connect(
        &self,
        me: &NodeName,
        peer: &NodeName,
    ) -> io::Result<(FrameReader, FrameWriter)> {
        let port = portmap::lookup(&self.portmap, peer, me).await?;
        let host = peer.host();
        let stream = TcpStream::connect((host, port)).await?;
        Ok(split(stream, self.busy_wait))
    }

    pub(crate) fn stop(&self) {
        self.registration.close();
    }
}

fn split(stream: TcpStream, busy_wait: Duration) -> (FrameReader, FrameWriter) {
    let _ = stream.set_nodelay(true);
    let (rd, wr) = stream.into_split();
    (
        FrameReader::Tcp(TcpReader {
            rd,
            buf: BytesMut::with_capacity(8 * 1024),
            busy_wait,
            spin_until: Instant::now(),
        }),
        // Only the handshake writes through this buffer (then the outbox takes
        // the socket), so it stays small: a pending handshake costs little.
        FrameWriter::Tcp(TcpWriter(BufWriter::with_capacity(1024, wr))),
    )
}

impl TcpAcceptor {
    /// The next connection, with the address it comes from.
    pub(crate) async fn accept(
        &mut self,
    ) -> Option<(FrameReader, FrameWriter, Option<SocketAddr>)> {
        loop {
            match self.listener.accept().await {
                Ok((s, from)) => {
                    let (r, w) = split(s, self.busy_wait);
                    return Some((r, w, Some(from)));
                }
                Err(e) => {
                    // Out of file descriptors and the like: back off, keep serving.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            }
        }
    }
}

impl TcpReader {
    /// The next frame, handed to `f` in place (no copy); `Ok(None)` at a clean
    /// end of stream. Cancel-safe: bytes already read stay in the buffer.
    pub(crate) async fn recv_with<R>(
        &mut self,
        max: usize,
        f: impl FnOnce(&[u8]) -> R,
    ) -> io::Result<Option<R>> {
        loop {
            if self.buf.len() >= 4 {
                let len = u32::from_be_bytes(self.buf[..4].try_into().expect("4 bytes")) as usize;
                if len > max {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("frame of {len} bytes exceeds the {max}-byte limit"),
                    ));
                }
                if self.buf.len() >= 4 + len {
                    let r = f(&self.buf[4..4 + len]);
                    self.buf.advance(4 + len);
                    return Ok(Some(r));
                }
                self.buf.reserve(4 + len - self.buf.len());
            } else if self.buf.capacity() - self.buf.len() < 4096 {
                self.buf.reserve(8 * 1024);
            }
            let n = match self.spin_read() {
                Some(Err(e))
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                    ) =>
                {
                    // Let the worker run other tasks (and poll for I/O), then look again.
                    tokio::task::yield_now().await;
                    continue;
                }
                Some(r) => r?,
                // read_buf is cancel-safe: bytes already read stay in `buf`.
                None => self.rd.read_buf(&mut self.buf).await?,
            };
            if n > 0 && !self.busy_wait.is_zero() {
                self.spin_until = Instant::now() + self.busy_wait;
            }
            if n == 0 {
                return if self.buf.is_empty() {
                    Ok(None)
                } else {
                    Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "connection closed mid-frame",
                    ))
                };
            }
        }
    }
}

impl TcpReader {
    /// While busy-waiting, one non-blocking read straight from the socket
    /// (`WouldBlock` when nothing has arrived); `None` once it is time to sleep.
    ///
    /// A plain `recv`, not tokio's readiness: readiness is only refreshed by
    /// whichever worker holds the I/O driver, and that worker may be asleep,
    /// which is the very wake-up this spin avoids. Mixing the two is safe with
    /// edge-triggered polling: bytes that arrive after a read that drained the
    /// socket raise a new edge, so a later `read_buf` still wakes.
    fn spin_read(&mut self) -> Option<io::Result<usize>> {
        use std::io::Read;
        if self.busy_wait.is_zero() || Instant::now() >= self.spin_until {
            return None;
        }
        let len = self.buf.len();
        let room = (self.buf.capacity() - len).min(16 * 1024);
        self.buf.resize(len + room, 0);
        let sock = socket2::SockRef::from(self.rd.as_ref());
        let r = (&*sock).read(&mut self.buf[len..]);
        self.buf.truncate(len + *r.as_ref().unwrap_or(&0));
        Some(r)
    }
}

impl TcpWriter {
    pub(crate) async fn write(&mut self, frame: &[u8]) -> io::Result<()> {
        let len = u32::try_from(frame.len())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "frame too large"))?;
        self.0.write_all(&len.to_be_bytes()).await?;
        self.0.write_all(frame).await
    }

    pub(crate) async fn flush(&mut self) -> io::Result<()> {
        self.0.flush().await
    }
}

/// The sending side of an established connection, shared by every sender.
///
/// Frames are encoded straight into one buffer, in the order they are pushed
/// (which is the order of the connection). Who writes that buffer to the
/// socket depends on whether it is idle: a sender that is about to wait for an
/// answer (a call, a reply) writes it itself, at once, saving a hop through the
/// writer task; otherwise the writer task is woken, and everything pushed while
/// it writes goes out in its next write, so a stream of casts costs one
/// syscall per batch rather than per frame.
pub(crate) struct TcpOutbox {
    wr: OwnedWriteHalf,
    state: Mutex<OutState>,
    wake: tokio::sync::Notify,
}

#[derive(Default)]
struct OutState {
    buf: Vec<u8>,
    /// The writer task owns the socket (it has been woken, or is writing):
    /// nobody else may write, or frames could interleave out of order.
    busy: bool,
    /// A frame could not be framed (over 4 GiB): the connection must close.
    broken: bool,
}

/// Past this, the writer task gives its buffer back instead of keeping it.
const KEEP_BUF: usize = 1 << 20;

impl TcpOutbox {
    /// Takes over the socket from the handshake's writer (which flushed every
    /// frame it wrote, so nothing is left in its buffer).
    pub(crate) fn new(w: TcpWriter) -> Arc<TcpOutbox> {
        debug_assert!(w.0.buffer().is_empty());
        Arc::new(TcpOutbox {
            wr: w.0.into_inner(),
            state: Mutex::new(OutState::default()),
            wake: tokio::sync::Notify::new(),
        })
    }

    /// Appends one frame whose body `encode` writes; returns the body's length.
    /// With `inline`, the caller must then call [`flush_inline`](Self::flush_inline)
    /// (after releasing its own locks); otherwise the writer task sends it.
    pub(crate) fn push(&self, encode: impl FnOnce(&mut Vec<u8>), inline: bool) -> usize {
        let mut st = self.state.lock();
        let start = st.buf.len();
        st.buf.extend_from_slice(&[0; 4]);
        encode(&mut st.buf);
        let len = st.buf.len() - start - 4;
        match u32::try_from(len) {
            Ok(l) => st.buf[start..start + 4].copy_from_slice(&l.to_be_bytes()),
            Err(_) => {
                st.buf.truncate(start);
                st.broken = true;
            }
        }
        if !inline && !st.busy {
            st.busy = true;
            drop(st);
            self.wake.notify_one();
        }
        len
    }

    /// Writes whatever is queued from the calling thread, if the writer task is
    /// not at it. A write the socket cannot take whole is left to the writer task.
    pub(crate) fn flush_inline(&self) {
        let mut st = self.state.lock();
        if st.busy || st.buf.is_empty() {
            return;
        }
        if !st.broken {
            match self.wr.try_write(&st.buf) {
                Ok(n) if n == st.buf.len() => {
                    st.buf.clear();
                    return;
                }
                Ok(n) => {
                    st.buf.drain(..n);
                }
                // Not writable now, or broken: the writer task waits, or meets
                // the error and reports it.
                Err(_) => {}
            }
        }
        st.busy = true;
        drop(st);
        self.wake.notify_one();
    }

    /// The writer task: writes what is queued whenever it is woken; returns on
    /// the first error.
    pub(crate) async fn run(self: Arc<Self>) -> io::Result<()> {
        let mut out = Vec::new();
        loop {
            self.wake.notified().await;
            loop {
                {
                    let mut st = self.state.lock();
                    if st.broken {
                        return Err(io::Error::new(
                            io::ErrorKind::InvalidInput,
                            "frame too large",
                        ));
                    }
                    if !st.busy {
                        break;
                    }
                    if st.buf.is_empty() {
                        st.busy = false;
                        break;
                    }
                    std::mem::swap(&mut st.buf, &mut out);
                }
                self.write_all(&out).await?;
                out.clear();
                if out.capacity() > KEEP_BUF {
                    out = Vec::new();
                }
            }
        }
    }

    async fn write_all(&self, mut b: &[u8]) -> io::Result<()> {
        while !b.is_empty() {
            match self.wr.try_write(b) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => b = &b[n..],
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.wr.writable().await?,
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    /// Frames written in pieces, with pauses both shorter and longer than the
    /// busy wait, and one frame larger than a spin read, all arrive whole and
    /// in order, and the end of stream is seen: spinning and sleeping reads
    /// hand over to each other without losing or splitting a byte.
    async fn frames_survive_split_writes(busy_wait: Duration) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let frames: Vec<Vec<u8>> = vec![
            b"one".to_vec(),
            vec![7u8; 100_000],
            b"".to_vec(),
            (0..=255u8).collect(),
            b"last".to_vec(),
        ];
        let sent = frames.clone();
        let writer = tokio::spawn(async move {
            let mut s = TcpStream::connect(addr).await.unwrap();
            s.set_nodelay(true).unwrap();
            let mut wire = Vec::new();
            for f in &sent {
                wire.extend_from_slice(&(f.len() as u32).to_be_bytes());
                wire.extend_from_slice(f);
            }
            let pauses = [0u64, 30, 0, 3_000, 10, 0, 2_000];
            for (i, chunk) in wire.chunks(7_001).enumerate() {
                // Cut inside the length prefix too, not only between frames.
                let (a, b) = chunk.split_at(chunk.len().min(3));
                s.write_all(a).await.unwrap();
                s.write_all(b).await.unwrap();
                let pause = pauses[i % pauses.len()];
                tokio::time::sleep(Duration::from_micros(pause)).await;
            }
        });
        let (stream, _) = listener.accept().await.unwrap();
        let (FrameReader::Tcp(mut reader), _) = split(stream, busy_wait) else {
            unreachable!("split gives TCP halves")
        };
        let mut got = Vec::new();
        while let Some(f) = reader.recv_with(1 << 20, |b| b.to_vec()).await.unwrap() {
            got.push(f);
        }
        writer.await.unwrap();
        assert_eq!(got, frames);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn frames_survive_split_writes_while_busy_waiting() {
        frames_survive_split_writes(Duration::from_millis(1)).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn frames_survive_split_writes_without_busy_wait() {
        frames_survive_split_writes(Duration::ZERO).await;
    }
}
