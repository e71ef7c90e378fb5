//! Joining two partitions' name tables when two visible nodes connect.
//!
//! OTP has each side lock its own partition and the two lockers agree on when
//! both hold; here one session, run by the lower-named node of the pair, takes
//! `:global`'s lock on the union of both partitions (boss first, all or
//! nothing, randomized retry), which gives the same guarantee — no name changes
//! on either side while the tables are merged — with one lock holder, so no
//! two-sided handshake. Under the lock it reads the peer's table, resolves
//! clashes (with the resolver of its own side's registration, as OTP uses the
//! resolver found on the lower node), and writes each side's changes to every
//! node of that side, together with the nodes of the other side to learn.

use super::locks::{del_on_nodes, random_sleep, set_on_nodes};
use super::server::{Action, Note, SyncInfo};
use super::{
    call_timeout, shared, GlobalNameConflict, LockId, Op, Rep, Req, Resolve, NAME_SERVER,
    RESERVED_RESOURCE,
};
use crate::gen_server;
use crate::node::{Dest, Node};
use crate::pid::{NodeName, Pid};
use crate::process::Ctx;
use std::collections::{BTreeMap, BTreeSet};

enum Outcome {
    Done,
    Retry,
}

/// The body of a joining session between this node and `peer` (higher-named).
pub(crate) async fn session(ctx: Ctx, peer: NodeName) {
    let node = ctx.node().clone();
    let id = LockId::new(RESERVED_RESOURCE, ctx.pid());
    let g = shared(&node);
    let mut times = 0;
    loop {
        if g.known.read().contains(&peer) || !node.nodes().contains(&peer) {
            break;
        }
        let Some(info) = sync_info(&node, &peer).await else {
            random_sleep(&node, times).await;
            times += 1;
            continue;
        };
        let mut union: BTreeSet<NodeName> = g.known();
        union.insert(node.name().clone());
        union.insert(peer.clone());
        union.extend(info.known);
        let union: Vec<NodeName> = union.into_iter().collect();
        if !set_on_nodes(&node, &id, &union).await {
            random_sleep(&node, times).await;
            times += 1;
            continue;
        }
        let outcome = merge(&node, &id.requester, &peer, &union).await;
        del_on_nodes(&node, &id, &union).await;
        match outcome {
            Outcome::Done => break,
            Outcome::Retry => {
                random_sleep(&node, times).await;
                times += 1;
            }
        }
    }
    let _ = ctx.send(NAME_SERVER, &Note::SessionEnded(peer, ctx.pid().clone()));
}

async fn sync_info(node: &Node, peer: &NodeName) -> Option<SyncInfo> {
    match gen_server::call_noconnect::<Req, Rep>(
        node,
        Dest::Remote(NAME_SERVER.into(), peer.clone()),
        &Req::SyncInfo,
        call_timeout(node),
    )
    .await
    {
        Ok(Rep::Info(i)) => Some(i),
        _ => None,
    }
}

/// With the lock held on `union`: merge the two sides' tables.
async fn merge(node: &Node, by: &Pid, peer: &NodeName, union: &[NodeName]) -> Outcome {
    let g = shared(node);
    let my_known = g.known();
    if my_known.contains(peer) {
        return Outcome::Done;
    }
    let Some(his) = sync_info(node, peer).await else {
        return Outcome::Retry;
    };
    if !my_known.iter().chain(&his.known).all(|n| union.contains(n)) {
        // A side grew while we were locking: lock the larger union.
        return Outcome::Retry;
    }
    let mine: BTreeMap<String, (Pid, Resolve)> = g
        .names
        .read()
        .entries()
        .into_iter()
        .map(|(n, p, r)| (n, (p, r)))
        .collect();
    let (my_ops, his_ops, actions) = resolve(&mine, &his.names);

    let mut my_side: Vec<NodeName> = my_known.iter().cloned().collect();
    my_side.push(node.name().clone());
    let mut his_side: Vec<NodeName> = his.known.clone();
    his_side.push(peer.clone());
    my_side.sort();
    his_side.sort();
    let t = call_timeout(node);
    // The other side first: my side learns only the nodes that applied
    // their changes. A node that did not (not yet connected to this one,
    // so not locked here either) stays unknown, and its own joining
    // session, when its connection comes up, merges it then. Were it
    // learned now, that session would find it known and skip the merge,
    // leaving it with the table it had.
    let to_his = Req::Apply {
        by: by.clone(),
        ops: his_ops,
        nodes: my_side.clone(),
    };
    let got =
        gen_server::multi_call_noconnect::<Req, Rep>(node, &his_side, NAME_SERVER, &to_his, t)
            .await;
    let applied: Vec<NodeName> = got
        .replies
        .into_iter()
        .filter(|(_, rep)| matches!(rep, Rep::Bool(true)))
        .map(|(n, _)| n)
        .collect();
    if !applied.contains(peer) {
        return Outcome::Retry;
    }
    let to_mine = Req::Apply {
        by: by.clone(),
        ops: my_ops,
        nodes: applied,
    };
    gen_server::multi_call_noconnect::<Req, Rep>(node, &my_side, NAME_SERVER, &to_mine, t).await;
    for a in actions {
        a.run(node);
    }
    Outcome::Done
}

/// Compares this side's table with the peer's: the changes each side must
/// make, and what must be done to the losers of clashes. Runs on the lower
/// node of the pair, so every clash is resolved once, with this side's resolver.
pub(crate) fn resolve(
    mine: &BTreeMap<String, (Pid, Resolve)>,
    his: &[(String, Pid, Resolve)],
) -> (Vec<Op>, Vec<Op>, Vec<Action>) {
    let mut my_ops = vec![];
    let mut his_ops = vec![];
    let mut actions = vec![];
    let his_names: BTreeSet<&str> = his.iter().map(|(n, _, _)| n.as_str()).collect();
    for (name, his_pid, his_resolve) in his {
        match mine.get(name) {
            None => my_ops.push(Op::Insert(name.clone(), his_pid.clone(), *his_resolve)),
            Some((my_pid, _)) if my_pid == his_pid => {}
            Some((my_pid, my_resolve)) => {
                let (keep, lose) = lower_node_first(my_pid, his_pid);
                let keep_resolve = if keep == my_pid {
                    *my_resolve
                } else {
                    *his_resolve
                };
                match my_resolve {
                    Resolve::KeepLowerNode | Resolve::Notify => {
                        let op = Op::Insert(name.clone(), keep.clone(), keep_resolve);
                        if keep == my_pid {
                            his_ops.push(op);
                        } else {
                            my_ops.push(op);
                        }
                        actions.push(if *my_resolve == Resolve::KeepLowerNode {
                            Action::Kill {
                                name: name.clone(),
                                keep: keep.clone(),
                                kill: lose.clone(),
                            }
                        } else {
                            Action::Notify {
                                to: lose.clone(),
                                msg: GlobalNameConflict {
                                    name: name.clone(),
                                    other: keep.clone(),
                                },
                            }
                        });
                    }
                    Resolve::NotifyAll => {
                        my_ops.push(Op::Delete(name.clone()));
                        his_ops.push(Op::Delete(name.clone()));
                        for (to, other) in [(my_pid, his_pid), (his_pid, my_pid)] {
                            actions.push(Action::Notify {
                                to: to.clone(),
                                msg: GlobalNameConflict {
                                    name: name.clone(),
                                    other: other.clone(),
                                },
                            });
                        }
                    }
                }
            }
        }
    }
    for (name, (pid, resolve)) in mine {
        if !his_names.contains(name.as_str()) {
            his_ops.push(Op::Insert(name.clone(), pid.clone(), *resolve));
        }
    }
    (my_ops, his_ops, actions)
}

/// OTP's `minmax/2`: the pid on the lower-named node first (whole pids break a tie).
fn lower_node_first<'a>(a: &'a Pid, b: &'a Pid) -> (&'a Pid, &'a Pid) {
    if (a.node(), a) <= (b.node(), b) {
        (a, b)
    } else {
        (b, a)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pid(node: &str, id: u64) -> Pid {
        Pid {
            node: NodeName::new(node).unwrap(),
            creation: 1,
            id,
        }
    }

    #[test]
    fn clashes_keep_the_lower_node_and_new_names_cross_over() {
        let a = pid("a@x", 1);
        let c = pid("c@x", 2);
        let mine: BTreeMap<_, _> = [
            ("leader".to_string(), (c.clone(), Resolve::KeepLowerNode)),
            ("only_mine".to_string(), (c.clone(), Resolve::Notify)),
        ]
        .into();
        let his = vec![
            ("leader".to_string(), a.clone(), Resolve::KeepLowerNode),
            ("only_his".to_string(), a.clone(), Resolve::NotifyAll),
        ];
        let (my_ops, his_ops, actions) = resolve(&mine, &his);
        assert_eq!(
            my_ops,
            vec![
                Op::Insert("leader".into(), a.clone(), Resolve::KeepLowerNode),
                Op::Insert("only_his".into(), a.clone(), Resolve::NotifyAll),
            ]
        );
        assert_eq!(
            his_ops,
            vec![Op::Insert("only_mine".into(), c.clone(), Resolve::Notify)]
        );
        assert!(
            matches!(&actions[..], [Action::Kill { keep, kill, .. }] if keep == &a && kill == &c)
        );
    }

    #[test]
    fn notify_all_deletes_on_both_sides_and_tells_both() {
        let a = pid("a@x", 1);
        let b = pid("b@x", 2);
        let mine: BTreeMap<_, _> = [("n".to_string(), (b.clone(), Resolve::NotifyAll))].into();
        let his = vec![("n".to_string(), a.clone(), Resolve::KeepLowerNode)];
        let (my_ops, his_ops, actions) = resolve(&mine, &his);
        assert_eq!(my_ops, vec![Op::Delete("n".into())]);
        assert_eq!(his_ops, vec![Op::Delete("n".into())]);
        assert_eq!(actions.len(), 2);
    }
}
