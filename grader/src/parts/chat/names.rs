//! Stage 3: global names. Three nodes create the same room at once: one
//! room, found from every node. A user's name is held by a session on its
//! client's node; a second login of the user takes the name over and ends
//! the first session.

use super::{check_streams, one_room, start, wait_delivered, whereis_on, who, Ledger, User, THREE};
use crate::harness::{Harness, StageError};
use contracts::chat::{user_name, Command};
use netsplit::Pid;
use std::time::Duration;

pub(super) async fn stage(h: &mut Harness) -> Result<(), StageError> {
    start(h, &THREE).await?;
    let mut users = [
        User::login(h, "n1", "alice").await?,
        User::login(h, "n2", "bob").await?,
        User::login(h, "n3", "carol").await?,
    ];
    // The three joins leave before any is answered: the room does not
    // exist yet, and every node may try to create it.
    let mut refs = vec![];
    for u in users.iter_mut() {
        let join = Command::Join {
            room: "lobby".into(),
            since: None,
        };
        refs.push(u.send(h, join).await?);
    }
    for (u, r) in users.iter_mut().zip(&refs) {
        if let Err(refused) = u.answer(h, r).await? {
            return Err(h
                .liveness(format!(
                    "{} joins a room created by three nodes at once",
                    u.name
                ))
                .expected("ok")
                .actual(refused.line)
                .fails());
        }
    }
    one_room(
        h,
        &THREE,
        &THREE,
        "lobby",
        Duration::from_secs(3),
        "every node finds the one room lobby under the same pid",
    )
    .await?;
    let members = who(h, &mut users[0], "lobby").await?;
    h.safety("the room created at once on three nodes has all three members")
        .equals(
            vec!["alice".to_string(), "bob".to_string(), "carol".to_string()],
            members,
        )?;
    let mut ledger = Ledger::default();
    let said = users[1].say(h, &mut ledger, "lobby", "one room?").await?;
    let all: Vec<&User> = users.iter().collect();
    wait_delivered(h, &all, &[said], "a message in the room reaches all three").await?;

    let view = h.view();
    for u in &users {
        let seen = match whereis_on(&view, &THREE, &user_name(&u.name)).await {
            Ok(seen) => seen,
            Err(e) => {
                return Err(h
                    .liveness("every node answers global:whereis_name")
                    .actual(e)
                    .fails())
            }
        };
        let home = h.full(&u.node);
        let pids: Vec<&Option<Pid>> = seen.values().collect();
        let one = pids.windows(2).all(|w| w[0] == w[1]);
        let on_home = matches!(pids.first(), Some(Some(p)) if *p.node() == home);
        h.safety(format!(
            "{} is registered globally as {:?}, on {} (its client's node), the same pid everywhere",
            u.name,
            user_name(&u.name),
            u.node
        ))
        .expected(format!("one pid on {home}"))
        .actual(format!("{seen:?}"))
        .holds(one && on_home)?;
    }

    // alice logs in again, on n2: the new session takes the name over.
    let mut again = User::login(h, "n2", "alice").await?;
    users[0]
        .wait_seen(
            h,
            "alice's first session is told it was replaced",
            "{\"type\":\"error\",\"code\":\"replaced\",...}",
            Duration::from_secs(3),
            |e| e.str("code") == Some("replaced"),
        )
        .await?;
    let home = h.full("n2");
    let name = user_name("alice");
    let (v, n, hm) = (&view, &name, &home);
    h.eventually(
        "after a second login on n2, every node finds alice there",
        Duration::from_secs(3),
        format!("whereis_name({name:?}) on {home} from every node"),
        move || async move {
            let seen = whereis_on(v, &THREE, n).await?;
            if seen
                .values()
                .all(|p| matches!(p, Some(p) if p.node() == hm))
            {
                Ok(())
            } else {
                Err(format!("{seen:?}"))
            }
        },
    )
    .await?;
    again.join(h, "lobby").await?;
    let said = users[2]
        .say(h, &mut ledger, "lobby", "welcome back")
        .await?;
    wait_delivered(
        h,
        &[&again],
        &[said],
        "alice's new session receives the room's messages",
    )
    .await?;
    let all: Vec<&User> = users.iter().chain([&again]).collect();
    check_streams(h, &all, &ledger)
}
