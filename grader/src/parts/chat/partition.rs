//! Stage 10: partition and heal. {n1} | {n2, n3}, the room held on n2:
//! both sides keep talking (n1's replica takes the name on its side). On
//! heal, the name is held twice; one process must survive, holding both
//! histories merged, in order per sender, nothing twice, and each side
//! must receive what the other said.

use super::{
    check_streams, history, ids, one_room, start, wait_delivered, Ledger, User, FAILOVER, THREE,
};
use crate::harness::{Harness, StageError};
use contracts::chat::ChatMessage;
use std::collections::BTreeMap;
use std::time::Duration;

/// Violations of "each message once, each sender's in seq order" in a
/// history, and messages of `ledger` it lacks.
fn history_violations(history: &[ChatMessage], ledger: &[ChatMessage]) -> Vec<String> {
    let mut out = vec![];
    let mut last: BTreeMap<&str, u64> = BTreeMap::new();
    for m in history {
        let prev = last.get(m.from.as_str()).copied().unwrap_or(0);
        if m.seq <= prev {
            out.push(format!("{}#{} after {}#{prev}", m.from, m.seq, m.from));
        }
        last.insert(&m.from, prev.max(m.seq));
    }
    let have: Vec<String> = ids(history);
    for id in ids(ledger) {
        if !have.contains(&id) {
            out.push(format!("{id} is missing"));
        }
    }
    out
}

pub(super) async fn stage(h: &mut Harness) -> Result<(), StageError> {
    start(h, &THREE).await?;
    let mut bob = User::login(h, "n2", "bob").await?;
    bob.join(h, "general").await?;
    one_room(
        h,
        &THREE,
        &["n2"],
        "general",
        Duration::from_secs(3),
        "the room created on n2 is held on n2",
    )
    .await?;
    let mut alice = User::login(h, "n1", "alice").await?;
    let mut carol = User::login(h, "n3", "carol").await?;
    alice.join(h, "general").await?;
    carol.join(h, "general").await?;
    let mut ledger = Ledger::default();
    for u in [&mut alice, &mut bob, &mut carol] {
        let text = format!("{} before", u.name);
        u.say(h, &mut ledger, "general", &text).await?;
    }
    wait_delivered(
        h,
        &[&alice, &bob, &carol],
        &ledger.0,
        "every member receives every message",
    )
    .await?;

    h.partition(&[&["n1"], &["n2", "n3"]]).await?;
    let mut apart_n1 = Ledger::default();
    let mut apart_pair = Ledger::default();
    for i in 1..=3 {
        alice
            .say_retrying(
                h,
                &mut apart_n1,
                "general",
                &format!("alice alone {i}"),
                FAILOVER,
            )
            .await?;
        bob.say(h, &mut apart_pair, "general", &format!("bob apart {i}"))
            .await?;
    }
    carol
        .say(h, &mut apart_pair, "general", "carol apart")
        .await?;
    wait_delivered(
        h,
        &[&alice],
        &apart_n1.0,
        "alone on n1, alice's room still works",
    )
    .await?;
    wait_delivered(
        h,
        &[&bob, &carol],
        &apart_pair.0,
        "on the other side, bob and carol still talk",
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
    ledger.0.extend(apart_n1.0);
    ledger.0.extend(apart_pair.0);
    one_room(
        h,
        &THREE,
        &THREE,
        "general",
        Duration::from_secs(8),
        "after the heal one room remains, the same on every node",
    )
    .await?;
    wait_delivered(
        h,
        &[&alice, &bob, &carol],
        &ledger.0,
        "after the heal each side receives what the other said",
    )
    .await?;
    for u in [&mut alice, &mut bob, &mut carol] {
        let got = history(h, u, "general", Some(100), None).await?;
        let node = u.node.clone();
        h.safety(format!(
            "the merged history, asked on {node}, has both sides' messages once each, in order per sender"
        ))
        .expected(format!("{} messages", ledger.0.len()))
        .no_violations(history_violations(&got, &ledger.0))?;
        h.safety(format!(
            "the merged history, asked on {node}, holds nothing else"
        ))
        .equals(ledger.0.len(), got.len())?;
    }
    check_streams(h, &[&alice, &bob, &carol], &ledger)
}
