//! The network the grader puts between the nodes and their services.
//!
//! * [`port_mapper`]: the port mapper nodes use to find each other; the
//!   grader serves it, so it decides which port every lookup answers.
//! * [`fabric`]: TCP proxies for every directed link (node to node, node to
//!   service), with a fault policy per direction, traffic counters and an
//!   event log.
//! * [`framing`]: how the fabric counts messages in a byte stream (the
//!   nodes' length-prefixed frames, Redis's RESP).

pub mod fabric;
pub mod framing;
pub mod port_mapper;
