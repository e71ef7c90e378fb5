//! The in-memory simulated network, for deterministic multi-node tests.
pub use crate::transport::sim::{LinkPolicy, SimNet};
