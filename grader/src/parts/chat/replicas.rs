//! Stage 4: replicas. A room has a process in its `:pg` group on every
//! node, each node's view agreeing; a node that joins the cluster later
//! gets one too.

use super::{check_streams, members_on, start, start_nodes, Ledger, User, THREE};
use crate::harness::{Harness, StageError};
use contracts::chat::replica_group;
use netsplit::Pid;
use std::collections::BTreeSet;
use std::time::Duration;

/// Liveness: every node of `seen_from` lists, in the room's group, one
/// process on each node of `hosts`.
async fn replicas_on(
    h: &mut Harness,
    seen_from: &[&str],
    hosts: &[&str],
    what: &str,
) -> Result<(), StageError> {
    let view = h.view();
    let group = replica_group("general");
    let want: BTreeSet<netsplit::NodeName> = hosts.iter().map(|s| h.full(s)).collect();
    let expected = format!(
        "pg:get_members(chat, {group:?}) on each of {} lists one process on each of {}",
        seen_from.join(", "),
        hosts.join(", ")
    );
    let (v, g, w) = (&view, &group, &want);
    h.eventually(what, Duration::from_secs(5), expected, move || async move {
        let mut wrong = vec![];
        for s in seen_from {
            let members: Vec<Pid> = members_on(v, s, g).await?;
            let nodes: Vec<netsplit::NodeName> = members.iter().map(|p| p.node().clone()).collect();
            let distinct: BTreeSet<netsplit::NodeName> = nodes.iter().cloned().collect();
            if distinct != *w || nodes.len() != distinct.len() {
                wrong.push(format!("{s} sees {members:?}"));
            }
        }
        if wrong.is_empty() {
            Ok(())
        } else {
            Err(wrong.join("; "))
        }
    })
    .await
}

pub(super) async fn stage(h: &mut Harness) -> Result<(), StageError> {
    start(h, &THREE).await?;
    let mut alice = User::login(h, "n1", "alice").await?;
    alice.join(h, "general").await?;
    let mut ledger = Ledger::default();
    alice
        .say(h, &mut ledger, "general", "is anyone copying this?")
        .await?;
    replicas_on(
        h,
        &THREE,
        &THREE,
        "a room created on n1 has a process in its group on every node",
    )
    .await?;
    start_nodes(h, &["n4"]).await?;
    h.connect_from(
        "n4",
        &THREE,
        &["n1", "n2", "n3", "n4"],
        "n4 joins the cluster",
    )
    .await?;
    replicas_on(
        h,
        &["n1", "n2", "n3", "n4"],
        &["n1", "n2", "n3", "n4"],
        "n4, joining later, gets a process of the room too",
    )
    .await?;
    check_streams(h, &[&alice], &ledger)
}
