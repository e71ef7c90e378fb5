//! Exit reasons and node-down reasons.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The message a panic carried, if it carried one (`panic!("…")`,
/// `todo!("…")`, `expect("…")` all do): what a process's exit reason, a
/// grader's report or an HTTP 500 shows of it.
pub fn panic_text(payload: &(dyn std::any::Any + Send)) -> Option<&str> {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
}

/// Why a process ended, carried by exit signals and `Down` messages.
///
/// The variants mirror the atoms an Erlang programmer meets: `normal`,
/// `shutdown`, `kill`/`killed`, `noproc` and `noconnection`; anything else is an
/// error with a description.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ExitReason {
    /// The process finished its work. Linked processes that do not trap exits ignore it.
    Normal,
    /// An orderly stop requested by a supervisor or by the process itself.
    Shutdown,
    /// Only as the reason of `exit(pid, Kill)`: cannot be trapped; the target dies with `Killed`.
    Kill,
    /// The process was killed by an untrappable `Kill` signal.
    Killed,
    /// The process did not exist (monitoring or linking a dead pid or an unknown name).
    NoProc,
    /// The connection to the process's node was lost (or could not be made).
    NoConnection,
    /// The process failed: a panic, a returned error or a stop with a custom reason.
    Error(String),
}

impl ExitReason {
    /// Builds an error reason from anything printable.
    pub fn error(msg: impl fmt::Display) -> Self {
        ExitReason::Error(msg.to_string())
    }

    /// `Normal` and `Shutdown` are the reasons a supervisor does not treat as a crash
    /// (for transient children) and that are not logged as errors.
    pub fn is_normal_or_shutdown(&self) -> bool {
        matches!(self, ExitReason::Normal | ExitReason::Shutdown)
    }
}

impl fmt::Display for ExitReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExitReason::Normal => f.write_str("normal"),
            ExitReason::Shutdown => f.write_str("shutdown"),
            ExitReason::Kill => f.write_str("kill"),
            ExitReason::Killed => f.write_str("killed"),
            ExitReason::NoProc => f.write_str("noproc"),
            ExitReason::NoConnection => f.write_str("noconnection"),
            ExitReason::Error(e) => write!(f, "error: {e}"),
        }
    }
}

impl fmt::Debug for ExitReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Why a connection to a node went down, as delivered in `NodeDown`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum NodeDownReason {
    /// The TCP connection closed or broke (the peer exited, was killed, or closed it).
    ConnectionClosed,
    /// Nothing arrived from the peer for `net_ticktime` (it is paused, overloaded,
    /// or the network silently drops its traffic).
    TickTimeout,
    /// This node called `disconnect`.
    Disconnect,
}

impl fmt::Display for NodeDownReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NodeDownReason::ConnectionClosed => "connection_closed",
            NodeDownReason::TickTimeout => "net_tick_timeout",
            NodeDownReason::Disconnect => "disconnect",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::panic_text;

    #[test]
    fn a_panic_gives_its_message_whether_literal_or_formatted() {
        let literal = std::panic::catch_unwind(|| panic!("plain")).unwrap_err();
        assert_eq!(panic_text(&*literal), Some("plain"));
        let n = 3;
        let formatted = std::panic::catch_unwind(|| todo!("hole {n}")).unwrap_err();
        assert_eq!(panic_text(&*formatted), Some("not yet implemented: hole 3"));
        let other = std::panic::catch_unwind(|| std::panic::panic_any(7u8)).unwrap_err();
        assert_eq!(panic_text(&*other), None);
    }
}
