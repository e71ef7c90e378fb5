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
//!                                      <-  Accepted | Alive | Refused(BadCookie | …)
//!  (after Alive) StillWanted(bool)     ->
//!                                      <-  Accepted | Refused
//! ```
//!
//! `Alive` is Erlang's `alive` status: the responder already has a live
//! connection from the same incarnation of the initiator, and asks whether
//! the initiator still wants this new one (it does when it has lost the old
//! connection and the responder has not noticed yet). It is asked only after
//! the initiator has proven the cookie, so nobody without the cookie can make
//! a node drop a live connection. The responder sends `Accepted` as the first
//! frame of the connection it has already brought up, so the initiator never
//! sees a connection up that its peer does not.

use crate::pid::NodeName;
use crate::transport::{FrameReader, FrameWriter};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use std::collections::HashMap;

const PROTO: u32 = 2;
/// Handshake frames are small; anything larger is garbage, not a peer.
pub(crate) const MAX_HANDSHAKE_FRAME: usize = 4096;

#[derive(Debug, Serialize, Deserialize)]
enum Hs {
    Hello {
        proto: u32,
        /// Validated by the responder, which then says why a name is bad.
        name: String,
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
    /// "I already have a live connection from you: do you still want this one?"
    Alive,
    StillWanted(bool),
}

/// Why a responder turned a connection down.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Refusal {
    /// Both nodes dialled each other at once; the other connection wins.
    Simultaneous,
    /// The cookies differ.
    BadCookie,
    /// A live connection from the same incarnation exists, and the initiator
    /// said it no longer wants this one.
    Duplicate,
    /// Anything else, explained.
    Other(String),
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Simultaneous => {
                f.write_str("both nodes connected at once and the other connection won")
            }
            Refusal::BadCookie => f.write_str("the cookies differ"),
            Refusal::Duplicate => f.write_str("already connected"),
            Refusal::Other(why) => f.write_str(why),
        }
    }
}

/// What the responder decides when a Hello arrives, before any proof.
pub(crate) enum Decision {
    Accept,
    Refuse(Refusal),
}

/// What the responder decides once the initiator has proven the cookie.
pub(crate) enum Proven {
    /// Bring the connection up.
    Accept,
    /// A live connection from the same incarnation exists: ask the initiator.
    AskAlive,
    Refuse(Refusal),
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum HsError {
    #[error("the cookies differ (every node of a cluster must use the same --cookie)")]
    BadCookie,
    #[error("refused: {0}")]
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
    /// Cookies set for single peers (`Node::set_cookie`), which replace
    /// `cookie` with them, both ways.
    pub peer_cookies: HashMap<NodeName, String>,
}

impl Me<'_> {
    /// The cookie to prove, and to expect, with `peer`.
    fn cookie_with(&self, peer: &NodeName) -> &str {
        self.peer_cookies
            .get(peer)
            .map(String::as_str)
            .unwrap_or(self.cookie)
    }
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

/// The frame a responder sends first on a connection it has brought up.
pub(crate) fn accepted_frame() -> Vec<u8> {
    postcard::to_allocvec(&Hs::Accepted).expect("handshake frames always serialize")
}

/// Runs the initiating side; `expected` is the node we meant to reach, and
/// `still_wanted` answers the responder's `Alive` question.
pub(crate) async fn initiate(
    me: &Me<'_>,
    expected: &NodeName,
    r: &mut FrameReader,
    w: &mut FrameWriter,
    still_wanted: impl FnOnce() -> bool,
) -> Result<Peer, HsError> {
    let c_i = challenge();
    send(
        w,
        &Hs::Hello {
            proto: PROTO,
            name: me.name.to_string(),
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
            if !verify(me.cookie_with(&name), b'R', &c_i, &name, me.name, &digest) {
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
        other => return Err(refusal_or(other, "Challenge")),
    };
    send(
        w,
        &Hs::Ack {
            digest: mac(me.cookie_with(&peer.name), b'I', &c_r, me.name, &peer.name),
        },
    )
    .await?;
    match recv(r).await? {
        Hs::Accepted => return Ok(peer),
        Hs::Alive => {}
        other => return Err(refusal_or(other, "Accepted")),
    }
    let wanted = still_wanted();
    send(w, &Hs::StillWanted(wanted)).await?;
    if !wanted {
        return Err(HsError::Refused(Refusal::Duplicate));
    }
    match recv(r).await? {
        Hs::Accepted => Ok(peer),
        other => Err(refusal_or(other, "Accepted")),
    }
}

/// The error for a frame that is not the one expected: a refusal, or garbage.
fn refusal_or(got: Hs, expected: &str) -> HsError {
    match got {
        Hs::Refused(Refusal::BadCookie) => HsError::BadCookie,
        Hs::Refused(r) => HsError::Refused(r),
        other => HsError::Protocol(format!("expected {expected}, got {}", other.kind())),
    }
}

impl Hs {
    fn kind(&self) -> &'static str {
        match self {
            Hs::Hello { .. } => "Hello",
            Hs::Challenge { .. } => "Challenge",
            Hs::Ack { .. } => "Ack",
            Hs::Accepted => "Accepted",
            Hs::Refused(_) => "Refused",
            Hs::Alive => "Alive",
            Hs::StillWanted(_) => "StillWanted",
        }
    }
}

/// Runs the responding side up to the point where the initiator has proven
/// the cookie and wants the connection; the caller then brings it up and
/// sends [`accepted_frame`] first on it. `claimed` sees the Hello before
/// anything is answered (and records the attempt if it accepts); `proven`
/// decides once the initiator is authenticated, and again with `asked` set
/// after the initiator said it still wants this connection. `who` is set to
/// the name the Hello claims, for the caller's log.
pub(crate) async fn accept(
    me: &Me<'_>,
    r: &mut FrameReader,
    w: &mut FrameWriter,
    claimed: impl FnOnce(&Peer) -> Decision,
    mut proven: impl FnMut(&Peer, bool) -> Proven,
    who: &mut Option<NodeName>,
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
            // No answer to a bad name: whoever sent it is not a node of ours.
            let name = NodeName::new(&name).map_err(|e| HsError::Protocol(e.to_string()))?;
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
        other => {
            return Err(HsError::Protocol(format!(
                "expected Hello, got {}",
                other.kind()
            )))
        }
    };
    *who = Some(peer.name.clone());
    if let Decision::Refuse(why) = claimed(&peer) {
        let _ = send(w, &Hs::Refused(why.clone())).await;
        return Err(HsError::Refused(why));
    }
    let c_r = challenge();
    let digest = mac(me.cookie_with(&peer.name), b'R', &c_i, me.name, &peer.name);
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
            if !verify(
                me.cookie_with(&peer.name),
                b'I',
                &c_r,
                &peer.name,
                me.name,
                &digest,
            ) {
                let _ = send(w, &Hs::Refused(Refusal::BadCookie)).await;
                return Err(HsError::BadCookie);
            }
        }
        other => return Err(refusal_or(other, "Ack")),
    }
    // Authenticated from here on.
    let mut asked = false;
    loop {
        match proven(&peer, asked) {
            Proven::Accept => return Ok(peer),
            Proven::Refuse(why) => {
                let _ = send(w, &Hs::Refused(why.clone())).await;
                return Err(HsError::Refused(why));
            }
            Proven::AskAlive if asked => {
                let why =
                    Refusal::Other("the connection state changed during the handshake".into());
                let _ = send(w, &Hs::Refused(why.clone())).await;
                return Err(HsError::Refused(why));
            }
            Proven::AskAlive => {
                send(w, &Hs::Alive).await?;
                match recv(r).await? {
                    Hs::StillWanted(true) => asked = true,
                    Hs::StillWanted(false) => return Err(HsError::Refused(Refusal::Duplicate)),
                    other => return Err(refusal_or(other, "StillWanted")),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Whatever bytes arrive, decoding a handshake frame returns; it never panics.
        #[test]
        fn any_bytes_decode_or_fail_cleanly(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = postcard::from_bytes::<Hs>(&bytes);
        }

        /// A frame that decodes re-encodes to a frame that decodes the same.
        #[test]
        fn decoded_frames_round_trip(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            if let Ok(m) = postcard::from_bytes::<Hs>(&bytes) {
                let again = postcard::to_allocvec(&m).unwrap();
                let back: Hs = postcard::from_bytes(&again).unwrap();
                prop_assert_eq!(format!("{m:?}"), format!("{back:?}"));
            }
        }
    }

    /// Names inside frames (a pid's node, a Peers list) are checked as they
    /// decode; the Hello's name is checked by `accept`, which says why.
    #[test]
    fn a_node_name_of_a_bad_form_does_not_decode() {
        let wire = |name: &str| postcard::to_allocvec(name).unwrap();
        assert!(postcard::from_bytes::<NodeName>(&wire("gold@127.0.0.1")).is_ok());
        for bad in ["gold@127.0.0.1\nERROR forged", "nohost", "a@b@c", "@x"] {
            assert!(
                postcard::from_bytes::<NodeName>(&wire(bad)).is_err(),
                "{bad:?} was accepted"
            );
        }
    }
}
