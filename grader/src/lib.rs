//! The Netsplit grader library.
//!
//! The grader runs real node processes of the runtime and sits in the network
//! between them, so it can inject faults and watch what the nodes do:
//!
//! * [`portmap`]: the port mapper nodes use to find each other; the grader
//!   serves it, so it decides which port every lookup answers.
//! * [`fabric`]: TCP proxies for every directed pair of nodes, with per
//!   direction fault policies (cut, blackhole, latency), frame counting and
//!   an event log.
//! * [`launcher`]: starting node processes, waiting for readiness, and
//!   killing, stopping, pausing, resuming and restarting them, with no
//!   orphans left behind.

#![warn(missing_docs)]

pub mod artefacts;
pub mod builder;
pub mod devcheck;
pub mod fabric;
pub mod harness;
pub mod launcher;
pub mod mutants;
pub mod output;
pub mod part;
pub mod parts;
pub mod portmap;
pub mod report;
pub mod runner;
pub mod runs;
pub mod state;
pub mod watch;
