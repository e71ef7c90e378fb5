//! One graded run, from the command line to the artefacts.
//!
//! * [`grade`]: the one pipeline: services checked, build, stages, artefacts.
//! * [`runner`]: every stage of a part in order, each on a fresh cluster.
//! * [`output`]: the streaming human report on the terminal.
//! * [`runs`]: where a run's artefacts go, and keeping the last few.
//! * [`artefacts`]: the files a run leaves (results.json, junit.xml, timeline).
//! * [`state`]: the best score per part, for `cargo grade list`.

pub mod artefacts;
pub mod grade;
pub mod holes;
pub mod output;
pub mod runner;
pub mod runs;
pub mod state;
