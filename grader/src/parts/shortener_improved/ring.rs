//! Stage 1: the ring's properties, asked of every node: agreement, balance,
//! and a join or a leave moving only the share it should.

use super::{codes, owners, rings_are};
use crate::harness::{Harness, StageError};
use crate::parts::shortener::{start, start_nodes};
use crate::services::redis::Persistence;
use netsplit::NodeName;
use std::collections::BTreeMap;

const FOUR: [&str; 4] = ["n1", "n2", "n3", "n4"];
const FIVE: [&str; 5] = ["n1", "n2", "n3", "n4", "n5"];
const CODES: usize = 10_000;
/// The busiest node may own at most this many times its fair share.
const BALANCE: f64 = 1.3;

pub(super) async fn stage(h: &mut Harness) -> Result<(), StageError> {
    start(h, &FOUR, Persistence::None).await?;
    rings_are(h, &FOUR, "every node's ring has the four nodes").await?;
    let codes = codes(h, CODES);
    let four = agreed(h, &FOUR, &codes).await?;
    balanced(h, &four, FOUR.len())?;

    start_nodes(h, &["n5"]).await?;
    h.mesh(&FIVE).await?;
    rings_are(h, &FIVE, "every node's ring has n5 once it joined").await?;
    let five = agreed(h, &FIVE, &codes).await?;
    balanced(h, &five, FIVE.len())?;
    let n5 = h.full("n5");
    let moved: Vec<usize> = (0..codes.len()).filter(|&i| four[i] != five[i]).collect();
    let elsewhere: Vec<String> = moved
        .iter()
        .filter(|&&i| five[i] != n5)
        .take(8)
        .map(|&i| format!("{} moved from {} to {}", codes[i], four[i], five[i]))
        .collect();
    h.safety("when n5 joins, every code that moves goes to n5")
        .no_violations(elsewhere)?;
    let limit = (BALANCE * CODES as f64 / FIVE.len() as f64) as usize;
    h.safety("when n5 joins, at most its share of the codes move")
        .expected(format!("at most {limit} of {CODES} ({BALANCE}/5)"))
        .actual(format!("{} moved", moved.len()))
        .holds(moved.len() <= limit)?;

    h.stop("n5").await?;
    rings_are(h, &FOUR, "every node's ring drops n5 once it left").await?;
    let after = agreed(h, &FOUR, &codes).await?;
    let wrong: Vec<String> = (0..codes.len())
        .filter(|&i| five[i] != n5 && after[i] != five[i])
        .take(8)
        .map(|i| format!("{} moved from {} to {}", codes[i], five[i], after[i]))
        .collect();
    h.safety("when n5 leaves, only its codes move")
        .no_violations(wrong)?;
    h.safety("when n5 leaves, every code is back with its owner before n5 joined")
        .holds(after == four)
}

/// Safety: every node of `shorts` gives the same owner for every code, a
/// member of the ring. Returns those owners.
async fn agreed(
    h: &mut Harness,
    shorts: &[&str],
    codes: &[String],
) -> Result<Vec<NodeName>, StageError> {
    let view = h.view();
    let mut all = vec![];
    for s in shorts {
        match owners(&view, s, codes).await {
            Ok(o) => all.push(o),
            Err(e) => {
                return Err(h
                    .liveness(format!("{s} says who owns {} codes", codes.len()))
                    .expected("an answer to RingCall::Owners")
                    .actual(e)
                    .fails())
            }
        }
    }
    let mut disagreements = vec![];
    for (s, theirs) in shorts.iter().zip(&all).skip(1) {
        let differ = (0..codes.len()).filter(|&i| theirs[i] != all[0][i]).count();
        if differ > 0 {
            let i = (0..codes.len())
                .find(|&i| theirs[i] != all[0][i])
                .unwrap_or(0);
            disagreements.push(format!(
                "{s} differs from {} on {differ} codes (e.g. {}: {} vs {})",
                shorts[0], codes[i], theirs[i], all[0][i]
            ));
        }
    }
    h.safety(format!(
        "all {} nodes agree on the owner of each of {} codes",
        shorts.len(),
        codes.len()
    ))
    .no_violations(disagreements)?;
    Ok(all.swap_remove(0))
}

/// Safety: no node owns more than `BALANCE` times its fair share.
fn balanced(h: &mut Harness, owners: &[NodeName], n: usize) -> Result<(), StageError> {
    let mut load: BTreeMap<&NodeName, usize> = BTreeMap::new();
    for o in owners {
        *load.entry(o).or_insert(0) += 1;
    }
    let mean = owners.len() as f64 / n as f64;
    let busiest = load.values().copied().max().unwrap_or(0);
    let shown: Vec<String> = load.iter().map(|(k, v)| format!("{k}: {v}")).collect();
    h.safety(format!(
        "the {} codes are balanced over {n} nodes",
        owners.len()
    ))
    .expected(format!(
        "the busiest owns at most {:.0} ({BALANCE}× the mean)",
        BALANCE * mean
    ))
    .actual(shown.join(", "))
    .holds(load.len() == n && busiest as f64 <= BALANCE * mean)
}
