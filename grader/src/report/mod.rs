//! Reports of a graded run: the data model and its renderings.

pub mod model;
