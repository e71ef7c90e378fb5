//! # netsplit — BEAM-style distribution for Rust
//!
//! Named nodes that connect over TCP, lightweight processes with mailboxes,
//! GenServers, monitors and links that work across nodes, supervisors, rpc,
//! cluster-wide names and locks (`:global`) and process groups (`:pg`) —
//! with Erlang/OTP's semantics, so what you learn here holds on the BEAM.
//!
//! | Erlang/Elixir                 | netsplit                                   |
//! |-------------------------------|--------------------------------------------|
//! | `iex --name gold@127.0.0.1`   | [`NodeArgs::start`] / [`Node::start`]      |
//! | `Node.connect/1`, `Node.list/0` | [`Node::connect`], [`Node::nodes`]       |
//! | `spawn/1`, `send/2`           | [`Node::spawn`], [`Ctx::send`]             |
//! | `Process.monitor/1`, `link/1` | [`Ctx::monitor`], [`Ctx::link`]            |
//! | `GenServer.call/cast`         | [`gen_server::call`], [`gen_server::cast`] |
//! | `GenServer.abcast/multi_call` | [`gen_server::abcast`], [`gen_server::multi_call`] |
//! | `:net_kernel.monitor_nodes/1` | [`Ctx::monitor_nodes`]                     |
//! | `:rpc.call/4`                 | [`rpc::call`]                              |
//! | `:global.register_name/2`     | [`global::register_name`], [`global::whereis_name`] |
//! | `:global.trans/2`             | [`global::trans`], [`global::set_lock`]    |
//! | `:pg.join/3`, `:pg.get_members/2` | [`pg::join`], [`pg::get_members`]      |
//! | `Supervisor`                  | [`supervisor`]                             |
//!
//! Guarantees, as on the BEAM: messages between two processes arrive in the order
//! sent, or not at all if the connection breaks; a `NodeUp` arrives before any
//! message over the new connection and a `NodeDown` after every message of the
//! old one; every monitor fires exactly one `Down`. Not guaranteed: delivery.
//! A message to a dead process, or across a broken connection, is lost silently.

#![warn(missing_docs)]

mod alloc;
pub(crate) mod dist;
mod exit;
mod ext;
pub mod gen_server;
pub mod global;
pub mod lifecycle;
pub mod logging;
mod message;
mod node;
pub mod pg;
mod pid;
pub mod portmap;
mod process;
pub mod rpc;
pub mod shell;
pub mod sim;
pub mod supervisor;
mod timer;
mod trace;
mod transport;

pub use exit::{panic_text, ExitReason, NodeDownReason};
pub use message::{DecodeError, Message, Payload};
pub use node::{
    Dest, Node, NodeArgs, NodeConfig, PortmapConfig, RegisterError, SendError, StartError,
    DEFAULT_PORTMAP_PORT,
};
pub use pid::{BadNodeName, NodeName, Pid, Ref};
pub use process::{Ctx, Down, Exit, Signal, Target};
pub use timer::TimerRef;
