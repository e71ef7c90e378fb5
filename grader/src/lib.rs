//! The Netsplit grader library.
//!
//! The grader runs real node processes of the runtime and sits in the network
//! between them, so it can inject faults and watch what the nodes do:
//!
//! * [`net`]: the port mapper and the fabric, the TCP proxies on every
//!   directed link (node to node, node to service) with per-direction fault
//!   policies (cut, blackhole, latency), traffic counters and an event log.
//! * [`launch`]: starting node and service processes, waiting for readiness,
//!   and killing, stopping, pausing, resuming and restarting them, with no
//!   orphans left behind.
//! * [`services`]: the real services a part needs (Redis), behind the fabric.
//! * [`probes`]: the grader as a user: HTTP requests and JSON-lines clients.
//! * [`harness`]: one stage's cluster, faults and checks.
//! * [`run`]: one graded run, from the stages to the artefacts.

#![warn(missing_docs)]

pub mod builder;
pub mod devcheck;
pub mod features;
pub mod harness;
pub mod launch;
pub mod mutants;
pub mod net;
pub mod part;
pub mod parts;
pub mod probes;
pub mod report;
pub mod run;
pub mod services;
pub mod watch;
