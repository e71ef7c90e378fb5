//! Frames over TCP: a 4-byte big-endian length, then the bytes.

use super::{FrameReader, FrameWriter};
use crate::node::{NodeConfig, StartError};
use crate::pid::NodeName;
use crate::portmap;
use bytes::{Buf, BytesMut};
use parking_lot::Mutex;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufWriter};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};

pub(crate) struct TcpTransport {
    listener: Mutex<Option<TcpListener>>,
    addr: SocketAddr,
    portmap: crate::node::PortmapConfig,
    registration: portmap::Registration,
}

pub(crate) struct TcpAcceptor(TcpListener);

pub(crate) struct TcpReader {
    rd: OwnedReadHalf,
    buf: BytesMut,
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
        })
    }

    pub(crate) fn listener(&self) -> Result<TcpAcceptor, StartError> {
        self.listener
            .lock()
            .take()
            .map(TcpAcceptor)
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
        Ok(split(stream))
    }

    pub(crate) fn stop(&self) {
        self.registration.close();
    }
}

fn split(stream: TcpStream) -> (FrameReader, FrameWriter) {
    let _ = stream.set_nodelay(true);
    let (rd, wr) = stream.into_split();
    (
        FrameReader::Tcp(TcpReader {
            rd,
            buf: BytesMut::with_capacity(8 * 1024),
        }),
        FrameWriter::Tcp(TcpWriter(BufWriter::with_capacity(64 * 1024, wr))),
    )
}

impl TcpAcceptor {
    pub(crate) async fn accept(&mut self) -> Option<(FrameReader, FrameWriter)> {
        loop {
            match self.0.accept().await {
                Ok((s, _)) => return Some(split(s)),
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
    pub(crate) async fn recv(&mut self, max: usize) -> io::Result<Option<Vec<u8>>> {
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
                    self.buf.advance(4);
                    return Ok(Some(self.buf.split_to(len).to_vec()));
                }
                self.buf.reserve(4 + len - self.buf.len());
            }
            // read_buf is cancel-safe: bytes already read stay in `buf`.
            if self.rd.read_buf(&mut self.buf).await? == 0 {
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
