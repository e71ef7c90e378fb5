//! Stage 3: read-through. A restarted node, kept apart from the others so
//! no peer can fill its cache, must serve every link from the store, then
//! again from what that first pass cached, with the store cut.

use super::{create_on_each, fresh_url, serves_all, start, Book, SPREAD};
use crate::harness::{Harness, StageError};
use crate::services::redis::Persistence;
use contracts::shortener::derived_code;

pub(super) async fn stage(h: &mut Harness) -> Result<(), StageError> {
    start(h, &["n1", "n2", "n3"], Persistence::None).await?;
    let mut book = Book::default();
    create_on_each(h, &mut book, &["n1", "n2"], 4).await?;
    // Apart from its peers, the restarted n3 can learn links from the store only.
    h.partition(&[&["n1", "n2"], &["n3"]]).await?;
    h.restart("n3").await?;
    let before = h.store_traffic("n3").commands;
    serves_all(
        h,
        &["n3"],
        &book,
        SPREAD,
        "n3, restarted with an empty cache and apart from its peers, serves every link from the store",
    )
    .await?;
    let asked = h.store_traffic("n3").commands - before;
    h.say(format!(
        "n3 sent {asked} commands to the store for {} links",
        book.len()
    ));
    let unknown = derived_code(&fresh_url(h), 0);
    let ex = h.http("n3")?.get(&format!("/{unknown}")).await;
    h.safety("an unknown code is 404 after asking the store")
        .expected("404")
        .actual(ex.describe())
        .holds(ex.status == Some(404))?;
    h.cut_store("n3").await?;
    serves_all(
        h,
        &["n3"],
        &book,
        SPREAD,
        "with its store link cut, n3 serves every link again, from what it read through",
    )
    .await
}
