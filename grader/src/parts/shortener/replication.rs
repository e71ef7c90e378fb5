//! Stage 2: replication. Links created on every node; then no node can reach
//! the store, so whatever a node still serves came from its own cache,
//! filled by messages from the others.

use super::{create_on_each, serves_all, start, Book, SPREAD};
use crate::harness::{Harness, StageError};
use crate::services::redis::Persistence;

const THREE: [&str; 3] = ["n1", "n2", "n3"];

pub(super) async fn stage(h: &mut Harness) -> Result<(), StageError> {
    start(h, &THREE, Persistence::None).await?;
    let mut book = Book::default();
    create_on_each(h, &mut book, &THREE, 4).await?;
    let before: u64 = pair_bytes(h);
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
    let after = pair_bytes(h);
    h.say(format!(
        "node-to-node traffic: {before} bytes while creating {} links, {} more while serving them",
        book.len(),
        after - before
    ));
    Ok(())
}

/// Bytes the fabric carried between the nodes so far.
fn pair_bytes(h: &Harness) -> u64 {
    let mut total = 0;
    for a in THREE {
        for b in THREE {
            if a != b {
                total += h.link_bytes(a, b);
            }
        }
    }
    total
}
