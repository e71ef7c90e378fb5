//! Empty on purpose: it gives the crate a host side, so that the
//! `[build-dependencies]` of Cargo.toml unify the features of the
//! proc-macros' dependencies too.

fn main() {}
