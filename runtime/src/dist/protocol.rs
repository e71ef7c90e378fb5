//! Frames exchanged between connected nodes after the handshake.

use crate::exit::ExitReason;
use crate::message::Payload;
use crate::node::ExitKind;
use crate::pid::{NodeName, Pid, Ref};
use crate::process::{ReplyBody, Target};
use serde::{Deserialize, Serialize};

/// One frame of the distribution protocol (postcard-encoded, length-prefixed).
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum DistMsg {
    /// Keep-alive, sent only when nothing else was sent for a tick interval.
    Tick,
    /// "These are the visible nodes I know": the receiver connects to the ones it
    /// does not, which is what makes connections transitive.
    Peers(Vec<NodeName>),
    Send {
        to: Pid,
        from: Option<Pid>,
        payload: Payload,
    },
    RegSend {
        to: String,
        from: Option<Pid>,
        payload: Payload,
    },
    Cast {
        to: Pid,
        payload: Payload,
    },
    RegCast {
        to: String,
        payload: Payload,
    },
    /// A call; the receiver monitors the server on behalf of `reply_to` until it replies.
    Call {
        to: Pid,
        reply_to: Pid,
        payload: Payload,
    },
    RegCall {
        to: String,
        reply_to: Pid,
        payload: Payload,
    },
    Reply {
        to: Pid,
        body: ReplyBody,
    },
    Monitor {
        watcher: Pid,
        target: Target,
        mref: Ref,
    },
    Demonitor {
        mref: Ref,
    },
    Down {
        watcher: Pid,
        mref: Ref,
        reason: ExitReason,
    },
    Link {
        from: Pid,
        to: Pid,
    },
    Unlink {
        from: Pid,
        to: Pid,
    },
    Exit {
        from: Pid,
        to: Pid,
        reason: ExitReason,
        kind: ExitKind,
    },
}

impl DistMsg {
    /// The size of the user data this frame carries, if it carries any.
    pub(crate) fn payload_len(&self) -> Option<usize> {
        match self {
            DistMsg::Send { payload, .. }
            | DistMsg::RegSend { payload, .. }
            | DistMsg::Cast { payload, .. }
            | DistMsg::RegCast { payload, .. }
            | DistMsg::Call { payload, .. }
            | DistMsg::RegCall { payload, .. }
            | DistMsg::Reply {
                body: ReplyBody::Ok(payload),
                ..
            } => Some(payload.len()),
            _ => None,
        }
    }

    /// Short label for traces: what kind of frame this is.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            DistMsg::Tick => "tick",
            DistMsg::Peers(_) => "peers",
            DistMsg::Send { .. } | DistMsg::RegSend { .. } => "send",
            DistMsg::Cast { .. } | DistMsg::RegCast { .. } => "cast",
            DistMsg::Call { .. } | DistMsg::RegCall { .. } => "call",
            DistMsg::Reply { .. } => "reply",
            DistMsg::Monitor { .. } => "monitor",
            DistMsg::Demonitor { .. } => "demonitor",
            DistMsg::Down { .. } => "down",
            DistMsg::Link { .. } => "link",
            DistMsg::Unlink { .. } => "unlink",
            DistMsg::Exit { .. } => "exit",
        }
    }

    /// (from, to, message type) for traces.
    pub(crate) fn trace_fields(&self) -> (Option<String>, Option<String>, Option<&str>) {
        let s = |p: &Pid| Some(p.to_string());
        match self {
            DistMsg::Send { to, from, payload } => {
                (from.as_ref().and_then(s), s(to), Some(payload.type_name()))
            }
            DistMsg::RegSend { to, from, payload } => (
                from.as_ref().and_then(s),
                Some(to.clone()),
                Some(payload.type_name()),
            ),
            DistMsg::Cast { to, payload } => (None, s(to), Some(payload.type_name())),
            DistMsg::RegCast { to, payload } => (None, Some(to.clone()), Some(payload.type_name())),
            DistMsg::Call {
                to,
                reply_to,
                payload,
            } => (s(reply_to), s(to), Some(payload.type_name())),
            DistMsg::RegCall {
                to,
                reply_to,
                payload,
            } => (s(reply_to), Some(to.clone()), Some(payload.type_name())),
            DistMsg::Reply { to, body } => (
                None,
                s(to),
                match body {
                    ReplyBody::Ok(p) => Some(p.type_name()),
                    ReplyBody::BadRequest(_) | ReplyBody::TooLarge(..) => None,
                },
            ),
            DistMsg::Monitor { watcher, .. } => (s(watcher), None, None),
            DistMsg::Down { watcher, .. } => (None, s(watcher), None),
            DistMsg::Link { from, to }
            | DistMsg::Unlink { from, to }
            | DistMsg::Exit { from, to, .. } => (s(from), s(to), None),
            DistMsg::Tick | DistMsg::Peers(_) | DistMsg::Demonitor { .. } => (None, None, None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::DistMsg;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2048))]
        /// Whatever bytes a peer sends after the handshake, decoding a frame
        /// returns an error or a message; it never panics.
        #[test]
        fn any_bytes_decode_or_fail_cleanly(bytes in proptest::collection::vec(any::<u8>(), 0..1024)) {
            let _ = postcard::from_bytes::<DistMsg>(&bytes);
        }

        /// The same for a valid frame with bytes flipped: what a corrupted
        /// stream looks like.
        #[test]
        fn corrupted_frames_decode_or_fail_cleanly(
            flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8)
        ) {
            let mut bytes = postcard::to_allocvec(&DistMsg::Peers(vec![
                crate::pid::NodeName::new("gold@127.0.0.1").unwrap(),
                crate::pid::NodeName::new("silver@127.0.0.1").unwrap(),
            ]))
            .unwrap();
            for (i, b) in flips {
                let at = i.index(bytes.len());
                bytes[at] ^= b;
            }
            let _ = postcard::from_bytes::<DistMsg>(&bytes);
        }
    }
}
