//! The grader-facing contract of every course part: the registered names the
//! grader looks up and the messages it sends and expects back.
//!
//! Starters, solutions and the grader all depend on this crate, so a part and
//! its grader can never disagree about a message. **Read it, never edit it**:
//! the grader is built against this exact version.
//!
//! Besides these messages the grader uses only what every node serves anyway:
//! the runtime's built-in rpc functions (`net_kernel:connect_node`,
//! `erlang:nodes`, `erlang:whereis`, `global:whereis_name`,
//! `pg:get_members`, ...) and exit signals.

#![warn(missing_docs)]

pub mod chat;
pub mod kv;
pub mod lock_manager;
pub mod map_reduce;
pub mod ping_pong;
pub mod shortener;
pub mod shortener_improved;

use std::marker::PhantomData;

/// A registered server and the types of its calls: the reply type travels
/// with the name, so a caller cannot decode a reply as the wrong type (the
/// compiler picks it). `netsplit::gen_server::call` still takes the plain
/// name; the grader calls through these.
pub struct Server<Req, Rep> {
    /// The name it is registered under on every node.
    pub name: &'static str,
    types: PhantomData<fn(Req) -> Rep>,
}

impl<Req, Rep> Server<Req, Rep> {
    /// The server registered as `name`, whose calls take `Req` and get `Rep`.
    pub const fn new(name: &'static str) -> Self {
        Server {
            name,
            types: PhantomData,
        }
    }
}

impl<Req, Rep> Clone for Server<Req, Rep> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<Req, Rep> Copy for Server<Req, Rep> {}

impl<Req, Rep> std::fmt::Debug for Server<Req, Rep> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Server({})", self.name)
    }
}
