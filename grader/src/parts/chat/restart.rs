//! Stage 9: restart. After a failover, the killed node comes back: the
//! room is still held once, by the same process, and a user on the
//! restarted node gets the whole history and the live messages. Then the
//! two other nodes die: the restarted node's own copy must hold the room,
//! every message included.

use super::{
    check_streams, history, ids, members_on, one_room, start, wait_delivered, Ledger, User,
    FAILOVER, THREE,
};
use crate::harness::{Harness, StageError};
use contracts::chat::replica_group;
use std::time::Duration;

pub(super) async fn stage(h: &mut Harness) -> Result<(), StageError> {
    start(h, &THREE).await?;
    let mut carol = User::login(h, "n1", "carol").await?;
    carol.join(h, "general").await?;
    let mut alice = User::login(h, "n2", "alice").await?;
    let mut bob = User::login(h, "n3", "bob").await?;
    alice.join(h, "general").await?;
    bob.join(h, "general").await?;
    let mut ledger = Ledger::default();
    for round in 1..=2 {
        alice
            .say(h, &mut ledger, "general", &format!("alice {round}"))
            .await?;
        bob.say(h, &mut ledger, "general", &format!("bob {round}"))
            .await?;
    }
    h.kill("n1").await?;
    let primary = one_room(
        h,
        &["n2", "n3"],
        &["n2", "n3"],
        "general",
        FAILOVER,
        "a replica takes the room over",
    )
    .await?;
    // Answered only once the takeover is over: the restarted node must get
    // the history by asking for it, not from the takeover's copies.
    alice
        .say_retrying(h, &mut ledger, "general", "still here", FAILOVER)
        .await?;

    h.restart("n1").await?;
    h.connect_from(
        "n1",
        &["n2", "n3"],
        &THREE,
        "the restarted n1 rejoins the cluster",
    )
    .await?;
    let view = h.view();
    let group = replica_group("general");
    let n1 = h.full("n1");
    let (v, g, n) = (&view, &group, &n1);
    h.eventually(
        "the restarted n1 gets a process of the room",
        Duration::from_secs(5),
        format!("a member on {n1} in pg group {group:?}, seen from n1"),
        move || async move {
            let members = members_on(v, "n1", g).await?;
            if members.iter().any(|p| p.node() == n) {
                Ok(())
            } else {
                Err(format!("{members:?}"))
            }
        },
    )
    .await?;
    // Give a second room every chance to appear before looking.
    tokio::time::sleep(h.scaled(Duration::from_millis(500))).await;
    let now = one_room(
        h,
        &THREE,
        &["n2", "n3"],
        "general",
        Duration::from_secs(3),
        "still one room, on every node's view",
    )
    .await?;
    h.safety("the restarted node does not take the room over: the same process holds it")
        .equals(primary, now)?;

    carol.reconnect(h, "n1").await?;
    carol.join(h, "general").await?;
    let got = history(h, &mut carol, "general", Some(100), None).await?;
    h.safety("a user on the restarted n1 reads the whole history")
        .equals(ids(&ledger.0), ids(&got))?;
    let before = ledger.0.len();
    alice
        .say(h, &mut ledger, "general", "welcome back, n1")
        .await?;
    carol
        .say(h, &mut ledger, "general", "glad to be back")
        .await?;
    let fresh = ledger.0[before..].to_vec();
    wait_delivered(
        h,
        &[&alice, &bob, &carol],
        &fresh,
        "the restarted node's user talks with the others",
    )
    .await?;

    // Both at once, so that neither can repair n1's copy by taking over
    // first: paused, then killed.
    h.pause("n2").await?;
    h.pause("n3").await?;
    h.kill("n2").await?;
    h.kill("n3").await?;
    one_room(
        h,
        &["n1"],
        &["n1"],
        "general",
        FAILOVER,
        "with n2 and n3 dead, n1's copy takes the room",
    )
    .await?;
    let got = history(h, &mut carol, "general", Some(100), None).await?;
    h.safety("the restarted node's copy had recovered the whole history")
        .equals(ids(&ledger.0), ids(&got))?;
    check_streams(h, &[&alice, &bob, &carol], &ledger)
}
