//! Stage 7: presence. Everyone online is shown online; the users of a node
//! that dies are shown offline everywhere within a bound, by event and by
//! query, and online again once they reconnect elsewhere.

use super::{start, User, THREE};
use crate::harness::{Harness, StageError};
use contracts::chat::{Command, Event};
use std::collections::BTreeMap;
use std::time::Duration;

/// How long after its node's death a user may still be shown online.
const OFFLINE_WITHIN: Duration = Duration::from_secs(5);

async fn presence_of(
    h: &mut Harness,
    user: &mut User,
    users: &[&str],
) -> Result<BTreeMap<String, bool>, StageError> {
    let cmd = Command::Presence {
        users: users.iter().map(|u| u.to_string()).collect(),
    };
    match user.must(h, cmd).await? {
        Event::Presence { users } => Ok(users),
        other => Err(h
            .safety(format!(
                "{}'s `presence` is answered with a presence event",
                user.name
            ))
            .actual(format!("{other:?}"))
            .fails()),
    }
}

fn table(pairs: &[(&str, bool)]) -> BTreeMap<String, bool> {
    pairs.iter().map(|(u, o)| (u.to_string(), *o)).collect()
}

pub(super) async fn stage(h: &mut Harness) -> Result<(), StageError> {
    start(h, &THREE).await?;
    let mut alice = User::login(h, "n1", "alice").await?;
    let mut bob = User::login(h, "n2", "bob").await?;
    let mut carol = User::login(h, "n3", "carol").await?;
    let asked = ["alice", "bob", "carol", "zed"];
    let got = presence_of(h, &mut bob, &asked).await?;
    h.safety("presence, asked on n2, shows the three users online and zed offline")
        .equals(
            table(&[
                ("alice", true),
                ("bob", true),
                ("carol", true),
                ("zed", false),
            ]),
            got,
        )?;

    h.kill("n1").await?;
    for u in [&mut bob, &mut carol] {
        let what = format!("{} (on {}) is told alice went offline", u.name, u.node);
        u.wait_seen(
            h,
            what,
            "{\"type\":\"offline\",\"user\":\"alice\"}",
            OFFLINE_WITHIN,
            |e| e.str("type") == Some("offline") && e.str("user") == Some("alice"),
        )
        .await?;
    }
    let got = presence_of(h, &mut carol, &["alice", "bob"]).await?;
    h.safety("presence, asked on n3 after n1 died, shows alice offline")
        .equals(table(&[("alice", false), ("bob", true)]), got)?;

    alice.reconnect(h, "n2").await?;
    for u in [&mut bob, &mut carol] {
        let what = format!("{} is told alice is back online", u.name);
        u.wait_seen(
            h,
            what,
            "{\"type\":\"online\",\"user\":\"alice\"} after the offline one",
            OFFLINE_WITHIN,
            |e| e.str("type") == Some("online") && e.str("user") == Some("alice"),
        )
        .await?;
    }
    let got = presence_of(h, &mut carol, &["alice"]).await?;
    h.safety("presence shows alice online once she reconnected on n2")
        .equals(table(&[("alice", true)]), got)
}
