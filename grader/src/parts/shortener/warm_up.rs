//! Stage 4: warm-up. A node whose store link is cut can only learn links
//! from its peers: once it joins late, and once it comes back after a kill
//! while the node that created the newest links is gone.

use super::{create_on_each, serves_all, start, start_nodes, Book, SPREAD};
use crate::harness::{Harness, StageError};
use crate::services::redis::Persistence;

pub(super) async fn stage(h: &mut Harness) -> Result<(), StageError> {
    start(h, &["n1", "n2"], Persistence::None).await?;
    let mut book = Book::default();
    create_on_each(h, &mut book, &["n1", "n2"], 3).await?;

    // A late joiner, without the store.
    h.cut_store("n3").await?;
    start_nodes(h, &["n3"]).await?;
    h.mesh(&["n1", "n2", "n3"]).await?;
    serves_all(
        h,
        &["n3"],
        &book,
        SPREAD,
        "n3 joins late with its store link cut and serves every link",
    )
    .await?;

    // n1 creates more, then dies; n3 comes back (empty, still without the
    // store) and can reach only n2, which must hand over n1's links too.
    create_on_each(h, &mut book, &["n1"], 4).await?;
    serves_all(
        h,
        &["n2"],
        &book,
        SPREAD,
        "n2 has every link before n1 dies",
    )
    .await?;
    h.stop("n1").await?;
    h.restart("n3").await?;
    h.connect_from(
        "n2",
        &["n3"],
        &["n2", "n3"],
        "n3 is back and connected to n2",
    )
    .await?;
    serves_all(
        h,
        &["n3"],
        &book,
        SPREAD,
        "n3, restarted with its store link cut, gets every link from n2, n1's included",
    )
    .await
}
