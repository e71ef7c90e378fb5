//! Stage 5: history. The last N messages, and every message after a
//! cursor, in the room's order, the same asked from either node.

use super::{check_streams, history, ids, start, wait_delivered, Ledger, User};
use crate::harness::{Harness, StageError};
use contracts::chat::{ChatMessage, Cursor};

pub(super) async fn stage(h: &mut Harness) -> Result<(), StageError> {
    start(h, &["n1", "n2"]).await?;
    let mut alice = User::login(h, "n1", "alice").await?;
    let mut bob = User::login(h, "n2", "bob").await?;
    alice.join(h, "general").await?;
    bob.join(h, "general").await?;
    let mut ledger = Ledger::default();
    for i in 1..=12 {
        alice
            .say(h, &mut ledger, "general", &format!("a{i}"))
            .await?;
        bob.say(h, &mut ledger, "general", &format!("b{i}")).await?;
    }
    wait_delivered(h, &[&alice, &bob], &ledger.0, "both receive every message").await?;
    let all = ids(&ledger.0);
    let last10 = history(h, &mut bob, "general", Some(10), None).await?;
    h.safety("history with limit 10, asked on n2, is the last 10 messages, oldest first")
        .equals(all[all.len() - 10..].to_vec(), ids(&last10))?;
    let whole = history(h, &mut alice, "general", Some(100), None).await?;
    h.safety("history with limit 100, asked on n1, is every message in order")
        .equals(all.clone(), ids(&whole))?;
    let texts_ok = whole.iter().zip(&ledger.0).all(|(a, b)| a.text == b.text);
    h.safety("history keeps each message's text")
        .holds(texts_ok)?;
    let cursor = Cursor::from([("alice".to_string(), 8), ("bob".to_string(), 10)]);
    let after: Vec<ChatMessage> = ledger
        .0
        .iter()
        .filter(|m| m.seq > cursor[&m.from])
        .cloned()
        .collect();
    let got = history(h, &mut bob, "general", None, Some(cursor.clone())).await?;
    h.safety(format!(
        "history since {cursor:?} is exactly the messages after it"
    ))
    .equals(ids(&after), ids(&got))?;
    check_streams(h, &[&alice, &bob], &ledger)
}
