//! The stages of each course part, one module per part.

pub mod ping_pong;
