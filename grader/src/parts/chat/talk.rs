//! Stage 2: three users on three nodes share a room; each message reaches
//! every member once, in order per sender.

use super::{check_streams, start, wait_delivered, who, Ledger, User, THREE};
use crate::harness::{Harness, StageError};

pub(super) async fn stage(h: &mut Harness) -> Result<(), StageError> {
    start(h, &THREE).await?;
    let mut users = [
        User::login(h, "n1", "alice").await?,
        User::login(h, "n2", "bob").await?,
        User::login(h, "n3", "carol").await?,
    ];
    for u in users.iter_mut() {
        u.join(h, "general").await?;
    }
    let mut ledger = Ledger::default();
    for round in 1..=5 {
        for u in users.iter_mut() {
            let text = format!("{} says {round}", u.name);
            u.say(h, &mut ledger, "general", &text).await?;
        }
    }
    let all: Vec<&User> = users.iter().collect();
    wait_delivered(
        h,
        &all,
        &ledger.0,
        "every member, on every node, receives every message",
    )
    .await?;
    let members = who(h, &mut users[2], "general").await?;
    h.safety("who, asked on n3, lists the members on every node")
        .equals(
            vec!["alice".to_string(), "bob".to_string(), "carol".to_string()],
            members,
        )?;
    let all: Vec<&User> = users.iter().collect();
    check_streams(h, &all, &ledger)
}
