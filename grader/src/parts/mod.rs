//! The stages of each course part, one module per part.

pub mod map_reduce;
pub mod ping_pong;
