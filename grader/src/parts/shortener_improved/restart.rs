//! Stage 5: restarts. A node's views survive it being killed and started
//! again (a new incarnation): none lost once pushed, none hidden after. A
//! second kill right after a burst may lose what was not pushed yet, never
//! more, and never counts anything twice.

use super::{converge, plan, redirect_all, redirects, Served, CONVERGE};
use crate::harness::{Harness, StageError};
use crate::parts::shortener::{create_on_each, start, Book};
use crate::probes::http::HttpProbe;
use crate::services::redis::Persistence;
use std::collections::BTreeMap;

const THREE: [&str; 3] = ["n1", "n2", "n3"];

pub(super) async fn stage(h: &mut Harness) -> Result<(), StageError> {
    start(h, &THREE, Persistence::None).await?;
    let mut book = Book::default();
    create_on_each(h, &mut book, &THREE, 2).await?;
    let mut served = Served::default();
    for code in book.0.keys() {
        served.0.insert(code.clone(), 0);
    }
    let first = plan(h, &["n1"], &book, 50);
    let others = plan(h, &["n2", "n3"], &book, 30);
    let probes = probes(h)?;
    redirect_all(h, &probes, &book, &first, &mut served).await?;
    redirect_all(h, &probes, &book, &others, &mut served).await?;
    let mut last = BTreeMap::new();
    converge(
        h,
        &THREE,
        &served,
        &served,
        &mut last,
        "every node has n1's views",
    )
    .await?;

    // Every view of n1 was pushed: a restart must lose none, hide none. The
    // new n1 serves before it hears from anyone, as a node does that comes
    // up before the cluster reaches it: its new views start from nothing.
    h.restart("n1").await?;
    last.retain(|(node, _), _| node != "n1");
    let probes = self::probes(h)?;
    let after = plan(h, &["n1"], &book, 40);
    redirect_all(h, &probes, &book, &after, &mut served).await?;
    reconnect(h, "n1").await?;
    converge(
        h,
        &THREE,
        &served,
        &served,
        &mut last,
        "after n1's restart, every node has its views from before and after",
    )
    .await?;

    // A burst, and a kill at once: what n1 had not pushed may be lost.
    let floor = served.clone();
    let burst = plan(h, &["n1"], &book, 30);
    let mut ceiling = served.clone();
    redirect_all(h, &probes, &book, &burst, &mut ceiling).await?;
    h.restart("n1").await?;
    reconnect(h, "n1").await?;
    last.retain(|(node, _), _| node != "n1");
    let probes = self::probes(h)?;
    let later = plan(h, &["n1"], &book, 20);
    let mut low = floor;
    redirect_all(h, &probes, &book, &later, &mut low).await?;
    let mut high = ceiling;
    for (_, code) in &later {
        *high.0.get_mut(code).expect("same links") += 1;
    }
    within(h, &book, &low, &high).await
}

/// Connects node `short`, restarted, to the others again.
async fn reconnect(h: &mut Harness, short: &str) -> Result<(), StageError> {
    let peers: Vec<&str> = THREE.iter().copied().filter(|s| *s != short).collect();
    let what = format!("{short} is back and connected");
    h.connect_from(short, &peers, &THREE, &what).await
}

fn probes(h: &mut Harness) -> Result<BTreeMap<String, HttpProbe>, StageError> {
    THREE
        .iter()
        .map(|s| Ok((s.to_string(), h.http(s)?)))
        .collect()
}

/// Liveness: every node settles, for every code, on one total between
/// `low` and `high`, the same on every node; safety: never above `high`.
async fn within(
    h: &mut Harness,
    book: &Book,
    low: &Served,
    high: &Served,
) -> Result<(), StageError> {
    let probes: Vec<HttpProbe> = probes(h)?.into_values().collect();
    let above = std::sync::Arc::new(parking_lot::Mutex::new(Vec::<String>::new()));
    let (l, hi, codes) = (
        low.clone(),
        high.clone(),
        book.0.keys().cloned().collect::<Vec<_>>(),
    );
    let ab = above.clone();
    let result = h
        .eventually(
            "after a kill right after a burst, every node agrees on a total in the window",
            CONVERGE,
            "for each link, the same total on every node, at least the views pushed \
             before the burst plus every view after the restart, at most every view",
            move || {
                let (probes, l, hi, codes, ab) = (
                    probes.clone(),
                    l.clone(),
                    hi.clone(),
                    codes.clone(),
                    ab.clone(),
                );
                async move {
                    let mut off = vec![];
                    for code in &codes {
                        let mut seen = vec![];
                        for p in &probes {
                            let got = redirects(p, code).await?;
                            if got > hi.0[code] {
                                ab.lock().push(format!(
                                    "{}: {code} at {got}, above {}",
                                    p.node(),
                                    hi.0[code]
                                ));
                            }
                            seen.push(got);
                        }
                        let agree = seen.windows(2).all(|w| w[0] == w[1]);
                        if !agree || seen[0] < l.0[code] || seen[0] > hi.0[code] {
                            off.push(format!(
                                "{code}: {seen:?}, window {}..={}",
                                l.0[code], hi.0[code]
                            ));
                        }
                    }
                    if off.is_empty() {
                        Ok(())
                    } else {
                        Err(off.join("; "))
                    }
                }
            },
        )
        .await;
    let above = std::mem::take(&mut *above.lock());
    h.safety("no view is ever counted twice")
        .no_violations(above)?;
    result
}
