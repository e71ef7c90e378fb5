//! Stage 3: view counts. Seeded redirects over every node, mixed with what
//! must not count (unknown codes, creates, stats); every node's stats
//! converge to the exact number of redirects served, never above it.

use super::{converge, plan, redirect_all, Served};
use crate::harness::{Harness, StageError};
use crate::parts::shortener::{create, create_on_each, fresh_url, start, Book};
use crate::services::redis::Persistence;
use contracts::shortener::derived_code;
use std::collections::BTreeMap;

const THREE: [&str; 3] = ["n1", "n2", "n3"];

pub(super) async fn stage(h: &mut Harness) -> Result<(), StageError> {
    start(h, &THREE, Persistence::None).await?;
    let mut book = Book::default();
    create_on_each(h, &mut book, &THREE, 3).await?;
    let probes: BTreeMap<String, _> = THREE
        .iter()
        .map(|s| Ok((s.to_string(), h.http(s)?)))
        .collect::<Result<_, StageError>>()?;
    let mut served = Served::default();
    for code in book.0.keys() {
        served.0.insert(code.clone(), 0);
    }
    for _ in 0..3 {
        let round = plan(h, &THREE, &book, 70);
        redirect_all(h, &probes, &book, &round, &mut served).await?;
        // What must not count: unknown codes, stats, creates.
        for s in THREE {
            let unknown = derived_code(&fresh_url(h), 0);
            let _ = probes[s].get(&format!("/{unknown}")).await;
            for code in book.0.keys().take(3) {
                let _ = probes[s].get(&format!("/{code}/stats")).await;
            }
            let url = fresh_url(h);
            let mut extra = Book::default();
            create(h, &mut extra, s, &url, None).await?;
        }
    }
    let total: u64 = served.0.values().sum();
    h.mark(format!("{total} redirects served"));
    let mut last = BTreeMap::new();
    converge(
        h,
        &THREE,
        &served.clone(),
        &served,
        &mut last,
        "every node's stats show every redirect, exactly",
    )
    .await
}
