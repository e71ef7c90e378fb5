//! Stage 4: partition and heal. {n1} | {n2, n3}, the store reachable from
//! both sides: each side counts what it saw and no more; after the heal
//! every node has the total; no count ever goes down.

use super::{converge, plan, redirect_all, Served};
use crate::harness::{Harness, StageError};
use crate::parts::shortener::{create_on_each, start, Book};
use crate::services::redis::Persistence;
use std::collections::BTreeMap;

const THREE: [&str; 3] = ["n1", "n2", "n3"];

pub(super) async fn stage(h: &mut Harness) -> Result<(), StageError> {
    start(h, &THREE, Persistence::None).await?;
    let mut book = Book::default();
    create_on_each(h, &mut book, &THREE, 2).await?;
    let probes: BTreeMap<String, _> = THREE
        .iter()
        .map(|s| Ok((s.to_string(), h.http(s)?)))
        .collect::<Result<_, StageError>>()?;
    let mut before = Served::default();
    for code in book.0.keys() {
        before.0.insert(code.clone(), 0);
    }
    let first = plan(h, &THREE, &book, 60);
    redirect_all(h, &probes, &book, &first, &mut before).await?;
    let mut last = BTreeMap::new();
    converge(
        h,
        &THREE,
        &before,
        &before,
        &mut last,
        "every node has the first views",
    )
    .await?;

    h.partition(&[&["n1"], &["n2", "n3"]]).await?;
    let (mut alone, mut pair) = (before.clone(), before.clone());
    let on_n1 = plan(h, &["n1"], &book, 40);
    redirect_all(h, &probes, &book, &on_n1, &mut alone).await?;
    let on_pair = plan(h, &["n2", "n3"], &book, 60);
    redirect_all(h, &probes, &book, &on_pair, &mut pair).await?;
    let mut all = alone.clone();
    for (code, n) in &pair.0 {
        *all.0.get_mut(code).expect("same links") += n - before.0[code];
    }
    converge(
        h,
        &["n1"],
        &alone,
        &alone,
        &mut last,
        "n1, alone, counts what it served",
    )
    .await?;
    converge(
        h,
        &["n2", "n3"],
        &pair,
        &pair,
        &mut last,
        "n2 and n3 count what they served",
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
    converge(
        h,
        &THREE,
        &all,
        &all,
        &mut last,
        "after the heal, every node has every view of both sides",
    )
    .await
}
