//! Stage 6: what it costs. Messages between nodes, counted on the fabric,
//! per create, per redirect and per counted view, each under a bound that
//! Part 3's full replication (creates) or a push per view (views) exceeds.

use super::{owners, plan, redirect_all, Served};
use crate::harness::{Harness, StageError};
use crate::parts::shortener::{create_on_each, start, Book};
use crate::services::redis::Persistence;
use std::collections::BTreeMap;
use std::time::Duration;

const THREE: [&str; 3] = ["n1", "n2", "n3"];
/// Full replication costs 2 per create on three nodes; one cast to the
/// owner costs 2/3 on average.
const PER_CREATE: f64 = 1.0;
/// A non-owner's redirect is one call and its reply.
const PER_REDIRECT: f64 = 2.0;
/// A push per view costs 2 on three nodes; a push per interval, a few per
/// batch of hundreds.
const PER_VIEW: f64 = 0.25;

pub(super) async fn stage(h: &mut Harness) -> Result<(), StageError> {
    start(h, &THREE, Persistence::None).await?;
    settle(h).await;

    let before = h.traffic(&THREE, &THREE).frames;
    let mut book = Book::default();
    create_on_each(h, &mut book, &THREE, 20).await?;
    let creates = book.len() as f64;
    let per_create = (h.traffic(&THREE, &THREE).frames - before) as f64 / creates;
    bounded(
        h,
        "per create",
        per_create,
        PER_CREATE,
        "a cast to the owner",
    )?;
    settle(h).await;

    let probes: BTreeMap<String, _> = THREE
        .iter()
        .map(|s| Ok((s.to_string(), h.http(s)?)))
        .collect::<Result<_, StageError>>()?;
    let mut served = Served::default();

    // Views alone: every redirect on the link's owner, so no lookup travels.
    let codes: Vec<String> = book.0.keys().cloned().collect();
    let owner = owners(&h.view(), "n1", &codes)
        .await
        .map_err(StageError::Inconclusive)?;
    let short_of = |n: &netsplit::NodeName| n.as_str().split('@').next().unwrap_or("").to_string();
    let on_owners: Vec<(String, String)> = (0..300)
        .map(|i| {
            let k = i % codes.len();
            (short_of(&owner[k]), codes[k].clone())
        })
        .collect();
    let before = h.traffic(&THREE, &THREE).frames;
    redirect_all(h, &probes, &book, &on_owners, &mut served).await?;
    settle(h).await;
    let per_view = (h.traffic(&THREE, &THREE).frames - before) as f64 / on_owners.len() as f64;
    bounded(h, "per counted view", per_view, PER_VIEW, "batched pushes")?;

    // Redirects anywhere: lookups plus their views.
    let anywhere = plan(h, &THREE, &book, 300);
    let before = h.traffic(&THREE, &THREE).frames;
    redirect_all(h, &probes, &book, &anywhere, &mut served).await?;
    settle(h).await;
    let per_redirect = (h.traffic(&THREE, &THREE).frames - before) as f64 / anywhere.len() as f64;
    bounded(
        h,
        "per redirect",
        per_redirect,
        PER_REDIRECT,
        "at most one call to the owner",
    )
}

/// Lets pushes in flight land, so a phase is charged for its own messages.
async fn settle(h: &Harness) {
    tokio::time::sleep(h.scaled(Duration::from_millis(600))).await;
}

fn bounded(
    h: &mut Harness,
    what: &str,
    value: f64,
    bound: f64,
    how: &str,
) -> Result<(), StageError> {
    h.say(format!("messages {what}: {value:.3} (bound {bound})"));
    h.safety(format!("messages between nodes {what}, {how}"))
        .expected(format!("at most {bound}"))
        .actual(format!("{value:.3}"))
        .holds(value <= bound)
}
