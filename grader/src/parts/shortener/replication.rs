//! Stage 2: replication. Links created on every node; then no node can reach
//! the store, so whatever a node still serves came from its own cache,
//! filled by messages from the others. The store's counts show the caches
//! were not filled from the store before the cut either.

use super::{create_on_each, serves_all, start, Book, SPREAD};
use crate::harness::{Harness, StageError};
use crate::services::redis::Persistence;
use std::time::Duration;

const THREE: [&str; 3] = ["n1", "n2", "n3"];
const PER_NODE: usize = 4;
/// Store commands a create may cost: SET NX, and a GET when the code is
/// taken.
const COMMANDS_PER_CREATE: u64 = 2;
/// Store commands a new store connection may cost (the client announcing
/// itself: HELLO, CLIENT SETINFO, SELECT).
const COMMANDS_PER_CONNECTION: u64 = 4;

pub(super) async fn stage(h: &mut Harness) -> Result<(), StageError> {
    start(h, &THREE, Persistence::None).await?;
    let mut book = Book::default();
    create_on_each(h, &mut book, &THREE, PER_NODE).await?;
    let before = h.traffic(&THREE, &THREE).bytes;
    // A node that fills its cache by reading the store would do it now.
    tokio::time::sleep(h.scaled(Duration::from_millis(300))).await;
    let mut over = vec![];
    for s in THREE {
        let sent = h.store_traffic(s).commands;
        let connections = h.link_stats(s, super::S).connections_accepted;
        let allowed = PER_NODE as u64 * COMMANDS_PER_CREATE + connections * COMMANDS_PER_CONNECTION;
        h.say(format!(
            "{s}: {sent} store commands for {PER_NODE} creates over {connections} connection(s)"
        ));
        if sent > allowed {
            over.push(format!(
                "{s} sent {sent} commands to the store for its {PER_NODE} creates (at most {allowed})"
            ));
        }
    }
    h.safety("the caches are filled by messages between nodes, not by reading the store")
        .expected(format!(
            "at most {COMMANDS_PER_CREATE} store commands per create (and {COMMANDS_PER_CONNECTION} per connection)"
        ))
        .no_violations(over)?;
    for s in THREE {
        h.cut_store(s).await?;
    }
    serves_all(
        h,
        &THREE,
        &book,
        SPREAD,
        "with the store cut from every node, every node redirects every link",
    )
    .await?;
    let after = h.traffic(&THREE, &THREE).bytes;
    h.say(format!(
        "node-to-node traffic: {before} bytes while creating {} links, {} more while serving them",
        book.len(),
        after - before
    ));
    Ok(())
}
