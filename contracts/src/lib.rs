//! The grader-facing contract of every course part: the registered names the
//! grader looks up and the messages it sends and expects back.
//!
//! Starters, solutions and the grader all depend on this crate, so a part and
//! its grader can never disagree about a message. **Read it, never edit it**:
//! the grader is built against this exact version.
//!
//! Besides these messages the grader uses only what every node serves anyway:
//! the runtime's built-in rpc functions (`net_kernel:connect_node`,
//! `erlang:nodes`, `erlang:whereis`, ...) and exit signals.

#![warn(missing_docs)]

pub mod map_reduce;
pub mod ping_pong;
