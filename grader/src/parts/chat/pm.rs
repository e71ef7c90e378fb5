//! Stage 6: private messages between users on different nodes; a pm to a
//! user who is not online is an error.

use super::{start, User};
use crate::harness::{Harness, StageError};
use contracts::chat::Command;
use std::time::Duration;

pub(super) async fn stage(h: &mut Harness) -> Result<(), StageError> {
    start(h, &["n1", "n2"]).await?;
    let mut alice = User::login(h, "n1", "alice").await?;
    let mut bob = User::login(h, "n2", "bob").await?;
    let pm = |to: &str, text: &str| Command::Pm {
        to: to.into(),
        text: text.into(),
    };
    alice.must(h, pm("bob", "psst, bob")).await?;
    bob.wait_seen(
        h,
        "bob, on n2, receives alice's pm",
        "{\"type\":\"pm\",\"from\":\"alice\",\"to\":\"bob\",\"text\":\"psst, bob\",...}",
        super::DELIVERY,
        |e| {
            e.str("type") == Some("pm")
                && e.str("from") == Some("alice")
                && e.str("text") == Some("psst, bob")
        },
    )
    .await?;
    bob.must(h, pm("alice", "hi alice")).await?;
    alice
        .wait_seen(
            h,
            "alice, on n1, receives bob's answer",
            "{\"type\":\"pm\",\"from\":\"bob\",...}",
            super::DELIVERY,
            |e| e.str("type") == Some("pm") && e.str("from") == Some("bob"),
        )
        .await?;
    let refused = alice.ask(h, pm("nobody", "hello?")).await?;
    h.safety("a pm to a user who is not online is an error (offline)")
        .expected("{\"type\":\"error\",\"code\":\"offline\",...}")
        .actual(match &refused {
            Ok(e) => format!("{e:?}"),
            Err(r) => r.line.clone(),
        })
        .holds(matches!(&refused, Err(r) if r.code == "offline"))?;
    tokio::time::sleep(h.scaled(Duration::from_millis(300))).await;
    let pms = bob.current("pm");
    h.safety("bob receives alice's pm once").equals(
        1,
        pms.iter()
            .filter(|e| e.str("from") == Some("alice"))
            .count(),
    )
}
