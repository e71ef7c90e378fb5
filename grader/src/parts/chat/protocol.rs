//! Stage 1: the protocol on one node. Bad lines get error events and the
//! connection stays open; a room numbers each sender's messages from 1;
//! history, who and logout answer as the contract says.

use super::{check_streams, history, ids, start, wait_delivered, who, Ledger, User};
use crate::harness::{Harness, StageError};
use crate::probes::lines::Event as Line;
use contracts::chat::Command;
use std::time::Duration;

pub(super) async fn stage(h: &mut Harness) -> Result<(), StageError> {
    start(h, &["n1"]).await?;
    let mut raw = h.line_client("n1").await?;
    let within = h.scaled(Duration::from_secs(3));
    for (line, code, what) in [
        (
            r#"{"v":1,"type":"join","room":"general","ref":"p1"}"#,
            "not_logged_in",
            "a command before login",
        ),
        ("this is not json", "bad_request", "a line that is not JSON"),
        (
            r#"{"v":1,"type":"dance","ref":"p3"}"#,
            "bad_request",
            "an unknown command",
        ),
        (
            r#"{"v":2,"type":"login","user":"eve","ref":"p4"}"#,
            "version",
            "a command of another protocol version",
        ),
    ] {
        let sent = raw.send_line(line).await;
        let got = match sent {
            Ok(()) => raw
                .wait_for(within, |e: &Line| e.str("type").is_some())
                .await
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        let ok =
            matches!(&got, Ok(e) if e.str("type") == Some("error") && e.str("code") == Some(code));
        h.safety(format!("{what} gets an error event ({code})"))
            .expected(format!(
                "{{\"type\":\"error\",\"code\":\"{code}\",...}}, the connection open"
            ))
            .actual(match got {
                Ok(e) => e.line,
                Err(e) => e,
            })
            .holds(ok)?;
    }
    h.safety("the connection stays open after bad lines")
        .expected("open")
        .actual(if raw.is_closed() {
            "closed by the node"
        } else {
            "open"
        })
        .holds(!raw.is_closed())?;
    drop(raw);

    let mut alice = User::login(h, "n1", "alice").await?;
    let mut bob = User::login(h, "n1", "bob").await?;
    alice.join(h, "general").await?;
    bob.join(h, "general").await?;
    let mut ledger = Ledger::default();
    for (i, text) in ["hello", "anyone?", "ah, bob"].iter().enumerate() {
        alice.say(h, &mut ledger, "general", text).await?;
        if i < 2 {
            bob.say(h, &mut ledger, "general", &format!("bob here {i}"))
                .await?;
        }
    }
    let seqs: Vec<String> = ids(&ledger.0);
    h.safety("each sender's messages are numbered 1, 2, 3, … in the room")
        .equals(
            vec!["alice#1", "bob#1", "alice#2", "bob#2", "alice#3"],
            seqs.iter().map(String::as_str).collect(),
        )?;
    wait_delivered(
        h,
        &[&alice, &bob],
        &ledger.0,
        "both members receive every message",
    )
    .await?;
    let got = history(h, &mut bob, "general", None, None).await?;
    h.safety("history gives the room's messages, oldest first")
        .equals(ids(&ledger.0), ids(&got))?;
    let members = who(h, &mut alice, "general").await?;
    h.safety("who lists the room's members, sorted")
        .equals(vec!["alice".to_string(), "bob".to_string()], members)?;
    let refused = alice
        .ask(
            h,
            Command::Say {
                room: "elsewhere".into(),
                text: "x".into(),
            },
        )
        .await?;
    h.safety("saying in a room one has not joined is an error (no_such_room)")
        .expected("{\"type\":\"error\",\"code\":\"no_such_room\",...}")
        .actual(match &refused {
            Ok(e) => format!("{e:?}"),
            Err(r) => r.line.clone(),
        })
        .holds(matches!(&refused, Err(r) if r.code == "no_such_room"))?;
    bob.must(h, Command::Logout {}).await?;
    let view = &bob;
    h.eventually(
        "after logout the node closes the connection",
        Duration::from_secs(3),
        "closed",
        move || async move {
            if view.is_closed() {
                Ok(())
            } else {
                Err("still open".to_string())
            }
        },
    )
    .await?;
    check_streams(h, &[&alice, &bob], &ledger)
}
