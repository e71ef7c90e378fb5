//! Stage 11: resume. carol's node dies while the room goes on talking;
//! she reconnects to another node and joins with the cursor of what she
//! saw: she must get every message she missed, then the live ones, none
//! twice.

use super::{check_streams, one_room, start, wait_delivered, Ledger, User, THREE};
use crate::harness::{Harness, StageError};
use contracts::chat::Command;
use std::time::Duration;

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
    let mut carol = User::login(h, "n1", "carol").await?;
    let mut alice = User::login(h, "n3", "alice").await?;
    carol.join(h, "general").await?;
    alice.join(h, "general").await?;
    let mut ledger = Ledger::default();
    for i in 1..=3 {
        alice
            .say(h, &mut ledger, "general", &format!("alice {i}"))
            .await?;
        bob.say(h, &mut ledger, "general", &format!("bob {i}"))
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
    for i in 4..=6 {
        alice
            .say(h, &mut ledger, "general", &format!("alice {i}"))
            .await?;
        bob.say(h, &mut ledger, "general", &format!("bob {i}"))
            .await?;
    }
    carol.reconnect(h, "n3").await?;
    let since = carol.cursor("general");
    let join = Command::Join {
        room: "general".into(),
        since: Some(since),
    };
    // Live messages go on while carol's join is served.
    let r = carol.send(h, join).await?;
    alice.say(h, &mut ledger, "general", "alice 7").await?;
    bob.say(h, &mut ledger, "general", "bob 7").await?;
    if let Err(refused) = carol.answer(h, &r).await? {
        return Err(h
            .liveness("carol's join with a resume point succeeds on n3")
            .expected("ok")
            .actual(refused.line)
            .fails());
    }
    for i in 8..=9 {
        alice
            .say(h, &mut ledger, "general", &format!("alice {i}"))
            .await?;
        bob.say(h, &mut ledger, "general", &format!("bob {i}"))
            .await?;
    }
    wait_delivered(
        h,
        &[&carol],
        &ledger.0,
        "carol, back on n3, has every message: before, while away, and after",
    )
    .await?;
    check_streams(h, &[&alice, &bob, &carol], &ledger)
}
