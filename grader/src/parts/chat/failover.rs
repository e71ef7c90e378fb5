//! Stage 8: failover. The node that holds a room is killed (SIGKILL): a
//! replica on another node takes the room's name within a deadline, with
//! every member and every message acknowledged before the kill, and the
//! room carries on.

use super::{
    check_streams, history, ids, one_room, start, wait_delivered, who, Ledger, User, FAILOVER,
};
use crate::harness::{Harness, StageError};
use contracts::chat::ChatMessage;
use std::collections::BTreeSet;

pub(super) async fn stage(h: &mut Harness) -> Result<(), StageError> {
    start(h, &super::THREE).await?;
    // carol creates the room on n1, so n1 holds it.
    let mut carol = User::login(h, "n1", "carol").await?;
    carol.join(h, "general").await?;
    one_room(
        h,
        &super::THREE,
        &["n1"],
        "general",
        std::time::Duration::from_secs(3),
        "the room created on n1 is held on n1",
    )
    .await?;
    let mut alice = User::login(h, "n2", "alice").await?;
    let mut bob = User::login(h, "n3", "bob").await?;
    alice.join(h, "general").await?;
    bob.join(h, "general").await?;
    let mut ledger = Ledger::default();
    for round in 1..=3 {
        carol
            .say(h, &mut ledger, "general", &format!("carol {round}"))
            .await?;
        alice
            .say(h, &mut ledger, "general", &format!("alice {round}"))
            .await?;
        bob.say(h, &mut ledger, "general", &format!("bob {round}"))
            .await?;
    }
    wait_delivered(
        h,
        &[&alice, &bob, &carol],
        &ledger.0,
        "every member receives every message",
    )
    .await?;

    h.kill("n1").await?;
    one_room(
        h,
        &["n2", "n3"],
        &["n2", "n3"],
        "general",
        FAILOVER,
        "a replica on n2 or n3 takes the room's name",
    )
    .await?;
    let members = who(h, &mut alice, "general").await?;
    h.safety("the room keeps its members through the failover")
        .equals(
            vec!["alice".to_string(), "bob".to_string(), "carol".to_string()],
            members,
        )?;
    let kept = history(h, &mut bob, "general", Some(100), None).await?;
    let have: BTreeSet<String> = ids(&kept).into_iter().collect();
    let lost: Vec<String> = ids(&ledger.0)
        .into_iter()
        .filter(|id| !have.contains(id))
        .collect();
    h.safety("no message acknowledged before the kill is lost")
        .expected(format!("all {} in the history", ledger.0.len()))
        .no_violations(lost.iter().map(|id| format!("{id} is gone")).collect())?;

    let before = ledger.0.len();
    for round in 1..=2 {
        alice
            .say_retrying(
                h,
                &mut ledger,
                "general",
                &format!("alice after {round}"),
                FAILOVER,
            )
            .await?;
        bob.say_retrying(
            h,
            &mut ledger,
            "general",
            &format!("bob after {round}"),
            FAILOVER,
        )
        .await?;
    }
    let after: Vec<ChatMessage> = ledger.0[before..].to_vec();
    wait_delivered(
        h,
        &[&alice, &bob],
        &after,
        "the room carries on: alice and bob hear each other",
    )
    .await?;
    check_streams(h, &[&alice, &bob], &ledger)
}
