//! Transports: how frames get from one node to another.
//!
//! Two are built in: real TCP (with a port mapper to find nodes by name), and an
//! in-memory simulated network ([`crate::sim::SimNet`]) whose partitions, delays
//! and drops a test controls. Both move *frames* (length-delimited byte strings),
//! in order, over a connection that either works or breaks — the guarantees of a
//! TCP connection, which is what Erlang distribution relies on.

pub(crate) mod sim;
pub(crate) mod tcp;

use crate::node::StartError;
use crate::pid::NodeName;
use std::io;
use tokio::sync::mpsc;

pub(crate) enum Transport {
    Tcp(tcp::TcpTransport),
    Sim(sim::SimEndpoint),
}

pub(crate) enum FrameReader {
    Tcp(tcp::TcpReader),
    Sim(sim::SimReader),
}

pub(crate) enum FrameWriter {
    Tcp(tcp::TcpWriter),
    Sim(sim::SimWriter),
}

pub(crate) enum Listener {
    Tcp(tcp::TcpAcceptor),
    Sim(mpsc::UnboundedReceiver<(FrameReader, FrameWriter)>),
}

impl Transport {
    pub(crate) async fn listen(&self, me: &NodeName) -> Result<Listener, StartError> {
        match self {
            Transport::Tcp(t) => t.listener().map(Listener::Tcp),
            Transport::Sim(s) => s.listen(me).map(Listener::Sim),
        }
    }

    pub(crate) async fn connect(
        &self,
        me: &NodeName,
        peer: &NodeName,
    ) -> io::Result<(FrameReader, FrameWriter)> {
        match self {
            Transport::Tcp(t) => t.connect(me, peer).await,
            Transport::Sim(s) => s.connect(me, peer),
        }
    }

    pub(crate) fn listen_addr(&self) -> Option<std::net::SocketAddr> {
        match self {
            Transport::Tcp(t) => Some(t.local_addr()),
            Transport::Sim(_) => None,
        }
    }

    pub(crate) fn stop(&self) {
        match self {
            Transport::Tcp(t) => t.stop(),
            Transport::Sim(s) => s.stop(),
        }
    }
}

impl Listener {
    /// The next connection, with the address it comes from where there is one.
    pub(crate) async fn accept(
        &mut self,
    ) -> Option<(FrameReader, FrameWriter, Option<std::net::SocketAddr>)> {
        match self {
            Listener::Tcp(a) => a.accept().await,
            Listener::Sim(rx) => rx.recv().await.map(|(r, w)| (r, w, None)),
        }
    }
}

impl FrameReader {
    /// The next frame, handed to `f`; `Ok(None)` at a clean end of stream.
    /// Cancel-safe: a frame half-read when the future is dropped is finished by
    /// the next call.
    pub(crate) async fn recv_with<R>(
        &mut self,
        max: usize,
        f: impl FnOnce(&[u8]) -> R,
    ) -> io::Result<Option<R>> {
        match self {
            FrameReader::Tcp(r) => r.recv_with(max, f).await,
            FrameReader::Sim(r) => Ok(r.recv().await?.map(|b| f(&b))),
        }
    }

    /// The next frame, copied out.
    pub(crate) async fn recv(&mut self, max: usize) -> io::Result<Option<Vec<u8>>> {
        self.recv_with(max, |b| b.to_vec()).await
    }
}

impl FrameWriter {
    /// Buffers one frame.
    pub(crate) async fn write(&mut self, frame: &[u8]) -> io::Result<()> {
        match self {
            FrameWriter::Tcp(w) => w.write(frame).await,
            FrameWriter::Sim(w) => w.write(frame),
        }
    }

    /// Pushes buffered frames out.
    pub(crate) async fn flush(&mut self) -> io::Result<()> {
        match self {
            FrameWriter::Tcp(w) => w.flush().await,
            FrameWriter::Sim(_) => Ok(()),
        }
    }
}
