//! Stage 5: partition and heal. {n1} | {n2, n3, store}: n1 keeps what it
//! cached and can create nothing; the other side goes on; after the heal
//! every node serves every link, and nothing refused is served anywhere.

use super::{create_on_each, fresh_url, serves_all, serves_none, start, Book, S, SPREAD};
use crate::harness::{Harness, StageError};
use crate::services::redis::Persistence;
use contracts::shortener::derived_code;

const THREE: [&str; 3] = ["n1", "n2", "n3"];

pub(super) async fn stage(h: &mut Harness) -> Result<(), StageError> {
    start(h, &THREE, Persistence::None).await?;
    let mut before = Book::default();
    create_on_each(h, &mut before, &THREE, 2).await?;
    serves_all(h, &THREE, &before, SPREAD, "every node has the first links").await?;

    h.partition(&[&["n1"], &["n2", "n3", S]]).await?;
    let mut all = before.clone();
    create_on_each(h, &mut all, &["n2", "n3"], 2).await?;
    let refused = refused_creates(h, "n1", 3).await?;
    serves_all(
        h,
        &["n1"],
        &before,
        SPREAD,
        "n1, cut from everyone, serves the links it had cached",
    )
    .await?;
    serves_all(
        h,
        &["n2", "n3"],
        &all,
        SPREAD,
        "n2 and n3 serve every link, old and new",
    )
    .await?;
    unreachable_is_503(h, &all, &before).await?;
    serves_none(
        h,
        &THREE,
        &refused,
        "a create refused during the partition is served nowhere",
    )
    .await?;

    h.heal();
    h.connect_from(
        "n1",
        &["n2", "n3"],
        &THREE,
        "the nodes reconnect after the heal",
    )
    .await?;
    serves_all(
        h,
        &THREE,
        &all,
        SPREAD,
        "after the heal every node serves every link",
    )
    .await?;
    serves_none(
        h,
        &THREE,
        &refused,
        "after the heal, a create refused during the partition is still served nowhere",
    )
    .await
}

/// Creates on `short`, which cannot reach the store: each must be a 503.
/// Returns the codes those links would have had.
async fn refused_creates(
    h: &mut Harness,
    short: &str,
    n: usize,
) -> Result<Vec<String>, StageError> {
    let http = h.http(short)?;
    let mut violations = vec![];
    let mut codes = vec![];
    for _ in 0..n {
        let url = fresh_url(h);
        let ex = http.post_form("/", &[("url", &url)]).await;
        if ex.status != Some(503) {
            violations.push(format!("POST / url={url}: {}", ex.describe()));
        }
        codes.push(derived_code(&url, 0));
    }
    h.safety(format!(
        "a create on {short}, cut from the store, is refused with 503"
    ))
    .expected("503: the store is the source of truth")
    .no_violations(violations)?;
    Ok(codes)
}

/// Safety: n1 has no copy of the links created on the other side and cannot
/// ask the store, so it must say 503, not 404 ("no such link" is false).
async fn unreachable_is_503(h: &mut Harness, all: &Book, before: &Book) -> Result<(), StageError> {
    let http = h.http("n1")?;
    let mut violations = vec![];
    for code in all.0.keys().filter(|c| !before.0.contains_key(*c)) {
        let ex = http.get(&format!("/{code}")).await;
        if ex.status != Some(503) {
            violations.push(format!("/{code} → {}", ex.describe()));
        }
    }
    h.safety("n1 answers 503 for links created on the other side")
        .expected("503 (no copy, no store), never 404 or a redirect")
        .no_violations(violations)
}
