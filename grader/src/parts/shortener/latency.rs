//! Stage 7: cached latency. 30 ms on every node's store link: cached
//! redirects must stay fast, and the store's counts prove they never asked
//! it.

use super::{create_on_each, follow, fresh_url, serves_all, start, Book, Followed, SPREAD};
use crate::harness::{Harness, StageError};
use crate::net::fabric::Policy;
use crate::probes::latency::Latencies;
use crate::services::redis::Persistence;
use contracts::shortener::derived_code;
use std::time::Duration;

const THREE: [&str; 3] = ["n1", "n2", "n3"];
const STORE_DELAY: Duration = Duration::from_millis(30);
const P99_BOUND: Duration = Duration::from_millis(5);
const REDIRECTS: usize = 300;

pub(super) async fn stage(h: &mut Harness) -> Result<(), StageError> {
    start(h, &THREE, Persistence::None).await?;
    let mut book = Book::default();
    create_on_each(h, &mut book, &["n1"], 20).await?;
    serves_all(h, &THREE, &book, SPREAD, "every node has every link").await?;
    for s in THREE {
        h.store_link(s, Policy::Latency(STORE_DELAY));
    }
    // The fault itself: a code no node has cached goes to the store.
    let unknown = derived_code(&fresh_url(h), 0);
    let ex = h.http("n1")?.get(&format!("/{unknown}")).await;
    h.liveness("an uncached code goes to the store, 30 ms away")
        .expected(format!("404 after at least {} ms", STORE_DELAY.as_millis()))
        .actual(ex.describe())
        .holds(ex.status == Some(404) && ex.latency >= STORE_DELAY)?;

    let commands = |h: &Harness| -> u64 { THREE.iter().map(|s| h.store_traffic(s).commands).sum() };
    let before = commands(h);
    let probes = THREE
        .iter()
        .map(|s| h.http(s))
        .collect::<Result<Vec<_>, _>>()?;
    let links: Vec<(String, String)> = book.0.clone().into_iter().collect();
    let mut latencies = Latencies::new();
    let mut wrong = vec![];
    for i in 0..REDIRECTS {
        let (code, url) = &links[i % links.len()];
        let ex = probes[i % probes.len()].get(&format!("/{code}")).await;
        match follow(&ex, url) {
            Followed::Right => latencies.record(ex.latency),
            Followed::Wrong(d) | Followed::Missing(d) => wrong.push(format!(
                "{}: /{code} → {d}",
                probes[i % probes.len()].node()
            )),
        }
    }
    h.report_latency("cached redirects, store 30 ms away", &latencies);
    h.safety(format!("{REDIRECTS} cached redirects each go to their URL"))
        .no_violations(wrong)?;
    let bound = h.scaled(P99_BOUND);
    let p99 = latencies.quantile(0.99);
    h.liveness("cached redirects are fast with a slow store")
        .expected(format!("p99 under {:.1} ms", bound.as_secs_f64() * 1e3))
        .actual(format!(
            "p99 {:.2} ms, p50 {:.2} ms",
            p99.as_secs_f64() * 1e3,
            latencies.quantile(0.5).as_secs_f64() * 1e3
        ))
        .holds(p99 < bound)?;
    let after = commands(h);
    h.safety(format!(
        "{REDIRECTS} cached redirects send no command to the store"
    ))
    .expected("0 store commands")
    .actual(format!("{} store commands", after - before))
    .holds(after == before)
}
