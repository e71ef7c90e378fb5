//! Bonus stage: typing indicators. A member typing is shown to the other
//! members, on other nodes, and to no one else; it is never stored.

use super::{history, start, User, DELIVERY};
use crate::harness::{Harness, StageError};
use contracts::chat::Command;
use std::time::Duration;

pub(super) async fn stage(h: &mut Harness) -> Result<(), StageError> {
    start(h, &["n1", "n2"]).await?;
    let mut alice = User::login(h, "n1", "alice").await?;
    let mut bob = User::login(h, "n2", "bob").await?;
    let mut carol = User::login(h, "n2", "carol").await?;
    alice.join(h, "general").await?;
    bob.join(h, "general").await?;
    carol.join(h, "elsewhere").await?;
    let typing = Command::Typing {
        room: "general".into(),
    };
    alice.must(h, typing).await?;
    bob.wait_seen(
        h,
        "bob, on n2, sees alice typing",
        "{\"type\":\"typing\",\"room\":\"general\",\"user\":\"alice\"}",
        DELIVERY,
        |e| e.str("type") == Some("typing") && e.str("user") == Some("alice"),
    )
    .await?;
    tokio::time::sleep(h.scaled(Duration::from_millis(300))).await;
    let to_self = alice.current("typing").len();
    let to_outsider = carol.current("typing").len();
    h.safety("the typist and users outside the room are not told")
        .equals((0, 0), (to_self, to_outsider))?;
    let kept = history(h, &mut bob, "general", None, None).await?;
    h.safety("typing is never stored: the room's history stays empty")
        .equals(0, kept.len())
}
