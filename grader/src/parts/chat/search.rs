//! Bonus stage: search across the cluster. Two rooms held on two nodes:
//! one search, from a third node, finds every matching message of both,
//! and names the nodes that answered; with one node paused, the search
//! still answers within its bound and names that node as missing.

use super::{one_room, start, wait_delivered, Ledger, User, THREE};
use crate::harness::{Harness, StageError};
use contracts::chat::{ChatMessage, Command, Event, SEARCH_TIMEOUT_MS};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

/// Sends a search; the messages, the nodes that answered and those missing.
async fn search(
    h: &mut Harness,
    user: &mut User,
    text: &str,
) -> Result<(Vec<ChatMessage>, Vec<String>, Vec<String>), StageError> {
    let cmd = Command::Search {
        text: text.to_string(),
    };
    match user.must(h, cmd).await? {
        Event::Found {
            messages,
            answered,
            missing,
            ..
        } => Ok((messages, answered, missing)),
        other => Err(h
            .safety(format!(
                "{}'s `search` is answered with a found event",
                user.name
            ))
            .expected("{\"type\":\"found\",...}")
            .actual(format!("{other:?}"))
            .fails()),
    }
}

fn ids(messages: &[ChatMessage]) -> BTreeSet<String> {
    messages
        .iter()
        .map(|m| format!("{}/{}#{}", m.room, m.from, m.seq))
        .collect()
}

pub(super) async fn stage(h: &mut Harness) -> Result<(), StageError> {
    start(h, &THREE).await?;
    let mut alice = User::login(h, "n1", "alice").await?;
    let mut bob = User::login(h, "n2", "bob").await?;
    let mut carol = User::login(h, "n3", "carol").await?;
    alice.join(h, "red").await?;
    bob.join(h, "blue").await?;
    let within = Duration::from_secs(3);
    one_room(h, &THREE, &["n1"], "red", within, "red is held on n1").await?;
    one_room(h, &THREE, &["n2"], "blue", within, "blue is held on n2").await?;
    let mut ledger = Ledger::default();
    for (i, text) in ["the Kettle is on", "no tea", "kettle again"]
        .iter()
        .enumerate()
    {
        alice.say(h, &mut ledger, "red", text).await?;
        bob.say(h, &mut ledger, "blue", &format!("{text} ({i})"))
            .await?;
    }
    wait_delivered(
        h,
        &[&alice],
        &ledger.0[..1],
        "alice receives her own message",
    )
    .await?;
    let wanted: Vec<ChatMessage> = ledger
        .0
        .iter()
        .filter(|m| m.text.to_lowercase().contains("kettle"))
        .cloned()
        .collect();

    let (found, answered, missing) = search(h, &mut carol, "KETTLE").await?;
    h.safety(
        "a search on n3 finds every message of both rooms that contains the text, ignoring case",
    )
    .equals(ids(&wanted), ids(&found))?;
    let everyone: Vec<String> = THREE.iter().map(|s| h.full(s).to_string()).collect();
    h.safety("every node answered the search")
        .equals((everyone.clone(), vec![]), (answered, missing))?;

    h.pause("n2").await?;
    let asked = Instant::now();
    let (found, _, missing) = search(h, &mut carol, "kettle").await?;
    let took = asked.elapsed();
    let bound = h.scaled(Duration::from_millis(SEARCH_TIMEOUT_MS + 1000));
    h.liveness(format!(
        "with n2 paused, the search still answers within {} s",
        bound.as_secs_f64()
    ))
    .expected(format!("at most {bound:?}"))
    .actual(format!("{took:?}"))
    .holds(took <= bound)?;
    let paused = vec![h.full("n2").to_string()];
    h.safety("the answer names the paused node as missing")
        .equals(paused, missing)?;
    let red: Vec<ChatMessage> = wanted.iter().filter(|m| m.room == "red").cloned().collect();
    h.safety("and still has the matches of the room held on n1")
        .holds(ids(&red).is_subset(&ids(&found)))?;
    h.resume("n2").await
}
