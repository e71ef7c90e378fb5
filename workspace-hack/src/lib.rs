//! No code: this crate only fixes the features of the workspace's
//! dependencies (see its Cargo.toml for why).
