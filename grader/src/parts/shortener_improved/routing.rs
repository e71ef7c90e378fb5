//! Stage 2: routing. A link is cached by its owner alone; a redirect on
//! another node costs one round trip to the owner and no store read; with
//! the owner gone, redirects go on and the links move to their new owners.

use super::{cached, owners, rings_are};
use crate::harness::{Harness, StageError};
use crate::parts::shortener::{create_on_each, serves_all, start, Book, SPREAD};
use crate::services::redis::Persistence;
use netsplit::NodeName;
use std::time::Duration;

const THREE: [&str; 3] = ["n1", "n2", "n3"];
/// Messages a few redirects may cost besides their calls: ticks, and the
/// pushes of their view counts (one per peer per 200 ms in the solution).
/// Far fewer than the calls, so a second call per redirect still shows.
const SLACK: u64 = 8;

pub(super) async fn stage(h: &mut Harness) -> Result<(), StageError> {
    start(h, &THREE, Persistence::None).await?;
    rings_are(h, &THREE, "every node's ring has the three nodes").await?;
    let mut book = Book::default();
    create_on_each(h, &mut book, &THREE, 8).await?;
    let codes: Vec<String> = book.0.keys().cloned().collect();
    let view = h.view();
    let owner = owners(&view, "n1", &codes)
        .await
        .map_err(|e| h.liveness("n1 says who owns each link").actual(e).fails())?;

    // Cached on the owner, and nowhere else.
    let fulls: Vec<(String, NodeName)> = THREE.iter().map(|s| (s.to_string(), h.full(s))).collect();
    let (v, c, o, f) = (view.clone(), codes.clone(), owner.clone(), fulls.clone());
    h.eventually(
        "every link is cached on its owner",
        SPREAD,
        "RingCall::Cached true on the owner of each link",
        move || {
            let (v, c, o, f) = (v.clone(), c.clone(), o.clone(), f.clone());
            async move {
                let mut missing = vec![];
                for (s, full) in &f {
                    let here = cached(&v, s, &c).await?;
                    for i in 0..c.len() {
                        if o[i] == *full && !here[i] {
                            missing.push(format!("{} not cached on its owner {s}", c[i]));
                        }
                    }
                }
                if missing.is_empty() {
                    Ok(())
                } else {
                    Err(missing.join("; "))
                }
            }
        },
    )
    .await?;
    let mut elsewhere = vec![];
    for (s, full) in &fulls {
        let here = cached(&view, s, &codes)
            .await
            .map_err(StageError::Inconclusive)?;
        for i in 0..codes.len() {
            if owner[i] != *full && here[i] {
                elsewhere.push(format!(
                    "{} is cached on {s}, owned by {}",
                    codes[i], owner[i]
                ));
            }
        }
    }
    h.safety("a link is cached on its owner only")
        .no_violations(elsewhere)?;

    serves_all(h, &THREE, &book, SPREAD, "every node redirects every link").await?;

    // The cost of a redirect on a node that does not own the link.
    let n1 = h.full("n1");
    let theirs: Vec<(String, NodeName)> = codes
        .iter()
        .zip(&owner)
        .filter(|(_, o)| **o != n1)
        .map(|(c, o)| (c.clone(), o.clone()))
        .collect();
    let store_before = h.store_traffic("n1").commands;
    let calls_before = h.traffic(&["n1"], &THREE).frames;
    let http = h.http("n1")?;
    for (code, _) in &theirs {
        let _ = http.get(&format!("/{code}")).await;
    }
    let store_after = h.store_traffic("n1").commands;
    h.safety(format!(
        "{} redirects on n1 of links another node owns read nothing from the store",
        theirs.len()
    ))
    .expected("0 store commands (the owners have them cached)")
    .actual(format!("{} store commands", store_after - store_before))
    .holds(store_after == store_before)?;
    let sent = h.traffic(&["n1"], &THREE).frames - calls_before;
    let bound = theirs.len() as u64 + SLACK;
    h.safety("a redirect on a non-owner costs one call to the owner")
        .expected(format!(
            "at most {bound} messages from n1 to the others for {} redirects",
            theirs.len()
        ))
        .actual(format!("{sent} messages"))
        .holds(sent <= bound)?;

    // The owner of some links dies: they still redirect, and move.
    let n3 = h.full("n3");
    let orphans: Vec<String> = codes
        .iter()
        .zip(&owner)
        .filter(|(_, o)| **o == n3)
        .map(|(c, _)| c.clone())
        .collect();
    h.kill("n3").await?;
    rings_are(h, &["n1", "n2"], "n1 and n2 drop n3 from their rings").await?;
    let mut left = Book::default();
    for c in &orphans {
        left.add(c, &book.0[c]);
    }
    serves_all(
        h,
        &["n1", "n2"],
        &left,
        Duration::from_secs(5),
        "the links n3 owned still redirect on n1 and n2 once n3 is killed",
    )
    .await?;
    let now = owners(&view, "n1", &orphans)
        .await
        .map_err(StageError::Inconclusive)?;
    let (v, o, f) = (view.clone(), orphans.clone(), fulls[..2].to_vec());
    h.eventually(
        "after a redirect, each link n3 owned is cached on its new owner",
        SPREAD,
        "RingCall::Cached true on the new owner",
        move || {
            let (v, o, f, now) = (v.clone(), o.clone(), f.clone(), now.clone());
            async move {
                let mut not_moved = vec![];
                for (s, full) in &f {
                    let here = cached(&v, s, &o).await?;
                    for i in 0..o.len() {
                        if now[i] == *full && !here[i] {
                            not_moved.push(format!("{} is not cached on its new owner {s}", o[i]));
                        }
                    }
                }
                if not_moved.is_empty() {
                    Ok(())
                } else {
                    Err(not_moved.join("; "))
                }
            }
        },
    )
    .await
}
