//! The Netsplit grader library.
