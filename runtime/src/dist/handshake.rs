//! The connection handshake: both sides prove they hold the cookie.
//!
//! Each side sends a random 32-byte challenge and answers the other's with
//! HMAC-SHA256(cookie, challenge ‖ names). Erlang does the same dance with MD5
//! over the cookie and challenge; we use an HMAC because MD5 is broken and an
//! HMAC is the standard construction for "prove you know the key". The cookie
//! itself never crosses the wire. As in Erlang, it authenticates but does not
//! encrypt: the traffic after the handshake is in the clear.
//!
//! ```text
//!  initiator                               responder
//!  Hello{name, creation, hidden, c_i}  ->
//!                                      <-  Challenge{name, creation, hidden, c_r, mac(c_i)}  | Refused
//!  Ack{mac(c_r)}                       ->
//!                                      <-  Accepted | Refused(BadCookie)
//! ```

use crate::pid::NodeName;
use crate::transport::{FrameReader, FrameWriter};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

const PROTO: u32 = 1;
/// Handshake frames are small; anything larger is garbage, not a peer.
pub(crate) const MAX_HANDSHAKE_FRAME: usize = 4096;

#[derive(Debug, Serialize, Deserialize)]
enum Hs {
    Hello {
        proto: u32,
        name: NodeName,
        creation: u32,
        hidden: bool,
        challenge: [u8; 32],
    },
    Challenge {
        name: NodeName,
        creation: u32,
        hidden: bool,
        challenge: [u8; 32],
        digest: [u8; 32],
    },
    Ack {
        digest: [u8; 32],
    },
    Accepted,
    Refused(Refusal),
}

/// Why a responder turned a connection down.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Refusal {
    /// Both nodes dialled each other at once; the other connection wins.
    Simultaneous,
    /// The cookies differ.
    BadCookie,
    /// Anything else, explained.
    Other(String),
}

/// What the responder decides when a Hello arrives.
pub(crate) enum Decision {
    Accept,
    Refuse(Refusal),
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum HsError {
    #[error("the cookies differ (every node of a cluster must use the same --cookie)")]
    BadCookie,
    #[error("refused: {0:?}")]
    Refused(Refusal),
    #[error("the node at that address is {got}, not {expected} (a stale port mapper entry?)")]
    WrongPeer { expected: NodeName, got: NodeName },
    #[error("protocol error: {0}")]
    Protocol(String),
    #[error("connection closed during the handshake")]
    Closed,
    #[error("no complete handshake within {0:?} (is the other node paused, or the network cut?)")]
    Timeout(std::time::Duration),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// Who we are, for the handshake.
pub(crate) struct Me<'a> {
    pub name: &'a NodeName,
    pub creation: u32,
    pub hidden: bool,
    pub cookie: &'a str,
}

/// Who the peer turned out to be.
#[derive(Debug, Clone)]
pub(crate) struct Peer {
    pub name: NodeName,
    pub creation: u32,
    pub hidden: bool,
}

/// The keyed digest a side computes over the other's challenge, bound to both names.
fn keyed(
    cookie: &str,
    role: u8,
    challenge: &[u8; 32],
    signer: &NodeName,
    other: &NodeName,
) -> Hmac<Sha256> {
    let mut m =
        Hmac::<Sha256>::new_from_slice(cookie.as_bytes()).expect("HMAC takes any key length");
    m.update(b"netsplit-handshake-v1");
    m.update(&[role]);
    m.update(challenge);
    m.update(signer.as_str().as_bytes());
    m.update(&[0]);
    m.update(other.as_str().as_bytes());
    m
}

fn mac(
    cookie: &str,
    role: u8,
    challenge: &[u8; 32],
    signer: &NodeName,
    other: &NodeName,
) -> [u8; 32] {
    keyed(cookie, role, challenge, signer, other)
        .finalize()
        .into_bytes()
        .into()
}

fn verify(
    cookie: &str,
    role: u8,
    challenge: &[u8; 32],
    signer: &NodeName,
    other: &NodeName,
    digest: &[u8; 32],
) -> bool {
    // verify_slice compares in constant time.
    keyed(cookie, role, challenge, signer, other)
        .verify_slice(digest)
        .is_ok()
}

fn challenge() -> [u8; 32] {
    use rand::RngCore;
    let mut c = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut c);
    c
}

async fn send(w: &mut FrameWriter, m: &Hs) -> Result<(), HsError> {
    let bytes = postcard::to_allocvec(m).map_err(|e| HsError::Protocol(e.to_string()))?;
    w.write(&bytes).await?;
    w.flush().await?;
    Ok(())
}

async fn recv(r: &mut FrameReader) -> Result<Hs, HsError> {
    match r.recv(MAX_HANDSHAKE_FRAME).await? {
        Some(b) => postcard::from_bytes(&b)
            .map_err(|e| HsError::Protocol(format!("malformed handshake frame: {e}"))),
        None => Err(HsError::Closed),
    }
}

/// Runs the initiating side; `expected` is the node we meant to reach.
pub(crate) async fn initiate(
    me: &Me<'_>,
    expected: &NodeName,
    r: &mut FrameReader,
    w: &mut FrameWriter,
) -> Result<Peer, HsError> {
    let c_i = challenge();
    send(
        w,
        &Hs::Hello {
            proto: PROTO,
            name: me.name.clone(),
            creation: me.creation,
            hidden: me.hidden,
            challenge: c_i,
        },
    )
    .await?;
    let (peer, c_r) = match recv(r).await? {
        Hs::Challenge {
            name,
            creation,
            hidden,
            challenge,
            digest,
        } => {
            if &name != expected {
                return Err(HsError::WrongPeer {
                    expected: expected.clone(),
                    got: name,
                });
            }
            if !verify(me.cookie, b'R', &c_i, &name, me.name, &digest) {
                let _ = send(w, &Hs::Refused(Refusal::BadCookie)).await;
                return Err(HsError::BadCookie);
            }
            (
                Peer {
                    name,
                    creation,
                    hidden,
                },
                challenge,
            )
        }
        Hs::Refused(Refusal::BadCookie) => return Err(HsError::BadCookie),
        Hs::Refused(r) => return Err(HsError::Refused(r)),
        other => {
            return Err(HsError::Protocol(format!(
                "expected Challenge, got {other:?}"
            )))
        }
    };
    send(
        w,
        &Hs::Ack {
            digest: mac(me.cookie, b'I', &c_r, me.name, &peer.name),
        },
    )
    .await?;
    match recv(r).await? {
        Hs::Accepted => Ok(peer),
        Hs::Refused(Refusal::BadCookie) => Err(HsError::BadCookie),
        Hs::Refused(r) => Err(HsError::Refused(r)),
        other => Err(HsError::Protocol(format!(
            "expected Accepted, got {other:?}"
        ))),
    }
}

/// Runs the responding side. `decide` sees the Hello before anything is answered
/// and registers the attempt if it accepts; `on_accepted_hello` tells the caller
/// that an attempt was registered (so a later failure must release it).
pub(crate) async fn accept(
    me: &Me<'_>,
    r: &mut FrameReader,
    w: &mut FrameWriter,
    decide: impl FnOnce(&Peer) -> Decision,
    registered: &mut Option<NodeName>,
) -> Result<Peer, HsError> {
    let (peer, c_i) = match recv(r).await? {
        Hs::Hello {
            proto,
            name,
            creation,
            hidden,
            challenge,
        } => {
            if proto != PROTO {
                let why =
                    format!("protocol version {proto} is not supported (this node speaks {PROTO})");
                let _ = send(w, &Hs::Refused(Refusal::Other(why.clone()))).await;
                return Err(HsError::Protocol(why));
            }
            if &name == me.name {
                let _ = send(
                    w,
                    &Hs::Refused(Refusal::Other("that is my own name".into())),
                )
                .await;
                return Err(HsError::Protocol(format!(
                    "a node claims to be me ({name})"
                )));
            }
            (
                Peer {
                    name,
                    creation,
                    hidden,
                },
                challenge,
            )
        }
        other => return Err(HsError::Protocol(format!("expected Hello, got {other:?}"))),
    };
    match decide(&peer) {
        Decision::Accept => *registered = Some(peer.name.clone()),
        Decision::Refuse(why) => {
            let _ = send(w, &Hs::Refused(why.clone())).await;
            return Err(HsError::Refused(why));
        }
    }
    let c_r = challenge();
    let digest = mac(me.cookie, b'R', &c_i, me.name, &peer.name);
    send(
        w,
        &Hs::Challenge {
            name: me.name.clone(),
            creation: me.creation,
            hidden: me.hidden,
            challenge: c_r,
            digest,
        },
    )
    .await?;
    match recv(r).await? {
        Hs::Ack { digest } => {
            if !verify(me.cookie, b'I', &c_r, &peer.name, me.name, &digest) {
                let _ = send(w, &Hs::Refused(Refusal::BadCookie)).await;
                return Err(HsError::BadCookie);
            }
        }
        Hs::Refused(Refusal::BadCookie) => return Err(HsError::BadCookie),
        Hs::Refused(r) => return Err(HsError::Refused(r)),
        other => return Err(HsError::Protocol(format!("expected Ack, got {other:?}"))),
    }
    send(w, &Hs::Accepted).await?;
    Ok(peer)
}
