//! Per-node extension slots: state a subsystem keeps for one node (the
//! `:global` name table, the `:pg` scopes), found from the [`crate::Node`]
//! handle without any process-global table, so many nodes can share one OS
//! process (as they do on the simulated network).

use parking_lot::Mutex;
use rustc_hash::FxHashMap;
use std::any::{Any, TypeId};
use std::sync::Arc;

/// One value per type, created on first use.
#[derive(Default)]
pub(crate) struct Extensions {
    slots: Mutex<FxHashMap<TypeId, Arc<dyn Any + Send + Sync>>>,
}

impl Extensions {
    /// The node's value of type `T`, created by `init` the first time it is asked for.
    pub(crate) fn get_or_init<T: Any + Send + Sync>(&self, init: impl FnOnce() -> T) -> Arc<T> {
        let slot = self
            .slots
            .lock()
            .entry(TypeId::of::<T>())
            .or_insert_with(|| Arc::new(init()))
            .clone();
        slot.downcast::<T>()
            .unwrap_or_else(|_| unreachable!("an extension slot holds the type it is keyed by"))
    }
}
