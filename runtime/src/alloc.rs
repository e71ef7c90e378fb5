//! The memory allocator of every binary built on Netsplit.
//!
//! The BEAM ships its own allocators because a runtime of many small, short
//! processes allocates unlike a typical C program. Netsplit makes the same
//! choice with mimalloc, for two reasons measured on the spawn benchmark
//! (`cargo run --release -p netsplit --example bench`):
//!
//! - every process is a tokio task, whose memory is aligned to 128 bytes; the
//!   system allocator on Linux (glibc) serves such requests through its
//!   `memalign` path, which is slow and leaves unused gaps around each block;
//! - under glibc, a second burst of 100k spawns, after the first burst's
//!   processes had exited, was no faster than the first, as if the freed
//!   memory had to be faulted in from the operating system again; under
//!   mimalloc the second burst is about twice as fast as under glibc.
//!
//! Measured on a 2-core virtual machine: 729 → about 580 bytes per idle
//! process, and 100k spawns on a warm heap in 45–85 ms instead of 90–290 ms.
//!
//! A binary that wants another allocator turns the default `mimalloc` feature
//! off (`default-features = false`) and declares its own `#[global_allocator]`;
//! two declarations are a link error.

#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
