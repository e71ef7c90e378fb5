//! Drill 4 of the distribution chapter: a pub-sub system over `:pg` process groups.
//!
//! Start one node per terminal:
//!
//! ```text
//! cargo run -p netsplit --example pg_pubsub -- --name a@127.0.0.1 --cookie demo
//! cargo run -p netsplit --example pg_pubsub -- --name b@127.0.0.1 --cookie demo --connect a@127.0.0.1
//! cargo run -p netsplit --example pg_pubsub -- --name c@127.0.0.1 --cookie demo --connect a@127.0.0.1
//! ```
//!
//! Then type commands (one per line):
//!
//! | command            | Elixir (`PubSub` of the drill)                 | prints |
//! |--------------------|------------------------------------------------|--------|
//! | `sub TOPIC`        | `PubSub.subscribe(topic)`: a subscriber process joins the group | `subscribed TOPIC PID` |
//! | `unsub TOPIC`      | `PubSub.unsubscribe(topic)`                    | `unsubscribed TOPIC` |
//! | `pub TOPIC TEXT`   | `PubSub.publish(topic, text)`                  | `published TOPIC N` (N members); each subscriber prints `got TOPIC TEXT from NODE` |
//! | `members TOPIC`    | `:pg.get_members(topic)`                       | `members TOPIC N [..]` |
//! | `groups`           | `:pg.which_groups()`                           | `groups [..]` |
//! | `watch TOPIC`      | `:pg.monitor(topic)`                           | `watching TOPIC [..]`, then `event join\|leave TOPIC PIDS` |
//! | `connect NODE`, `nodes`, `quit` | `Node.connect/1`, `Node.list/0`   | |
//!
//! Things to try: subscribe on two nodes and publish from a third; stop a
//! subscriber's node and watch it leave the group on the others; partition the
//! nodes (stop one with Ctrl-Z, resume with `fg`) and see the membership views
//! diverge and converge again — `:pg` is eventually consistent by design.

use clap::Parser;
use netsplit::pg::{self, PgEvent, DEFAULT_SCOPE};
use netsplit::{ExitReason, Node, NodeArgs, NodeName, Pid, Signal};
use std::collections::HashMap;
use tokio::io::{AsyncBufReadExt, BufReader};

#[derive(Parser)]
#[command(about = "Drill 4: pub-sub over :pg process groups")]
struct Cli {
    #[command(flatten)]
    node: NodeArgs,
    /// Connect to this node at start (repeatable).
    #[arg(long)]
    connect: Vec<NodeName>,
}

/// What a publisher sends to every subscriber: `{:message, topic, message}`.
#[derive(serde::Serialize, serde::Deserialize)]
struct Published {
    topic: String,
    text: String,
    from: NodeName,
}

fn pids(v: &[Pid]) -> String {
    v.iter()
        .map(|p| p.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    let node = cli.node.start_or_exit().await;
    pg::start_scope(&node, DEFAULT_SCOPE);
    // Prints node events, and the group events of `watch`.
    let watcher = node.spawn(|ctx| async move {
        ctx.monitor_nodes(true);
        for _ in 0.. {
            match ctx.recv().await {
                Signal::Message { payload, .. } => match payload.decode::<PgEvent>() {
                    Ok(PgEvent::Join { group, pids: p, .. }) => {
                        println!("event join {group} {}", pids(&p))
                    }
                    Ok(PgEvent::Leave { group, pids: p, .. }) => {
                        println!("event leave {group} {}", pids(&p))
                    }
                    Err(_) => {}
                },
                Signal::NodeUp(n) => println!("nodeup {n}"),
                Signal::NodeDown(n, r) => println!("nodedown {n} {r}"),
                _ => {}
            }
        }
    });
    for peer in &cli.connect {
        println!("connect {peer} {}", node.connect(peer).await);
    }
    println!("ready {}", node.name());
    node.signal_ready();

    // This node's subscriber process per topic.
    let mut subscribers: HashMap<String, Pid> = HashMap::new();
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["sub", topic] => {
                if let Some(pid) = subscribers.get(*topic) {
                    println!("subscribed {topic} {pid}");
                    continue;
                }
                let pid = node.spawn(|ctx| async move {
                    for _ in 0.. {
                        if let Signal::Message { payload, .. } = ctx.recv().await {
                            if let Ok(m) = payload.decode::<Published>() {
                                println!("got {} {} from {}", m.topic, m.text, m.from);
                            }
                        }
                    }
                });
                match pg::join(&node, DEFAULT_SCOPE, topic, &pid).await {
                    Ok(()) => {
                        println!("subscribed {topic} {pid}");
                        subscribers.insert(topic.to_string(), pid);
                    }
                    Err(e) => println!("error {e}"),
                }
            }
            ["unsub", topic] => match subscribers.remove(*topic) {
                Some(pid) => {
                    let _ = pg::leave(&node, DEFAULT_SCOPE, topic, &pid).await;
                    node.exit(&pid, ExitReason::Kill);
                    println!("unsubscribed {topic}");
                }
                None => println!("error not subscribed to {topic}"),
            },
            ["pub", topic, text @ ..] => {
                let msg = Published {
                    topic: topic.to_string(),
                    text: text.join(" "),
                    from: node.name().clone(),
                };
                let members = pg::get_members(&node, DEFAULT_SCOPE, topic);
                for pid in &members {
                    let _ = node.send(pid, &msg);
                }
                println!("published {topic} {}", members.len());
            }
            ["members", topic] => {
                let m = pg::get_members(&node, DEFAULT_SCOPE, topic);
                println!("members {topic} {} [{}]", m.len(), pids(&m));
            }
            ["groups"] => println!("groups [{}]", pg::which_groups(&node, DEFAULT_SCOPE).join(",")),
            ["watch", topic] => match pg::monitor(&node, DEFAULT_SCOPE, topic, &watcher).await {
                Ok((_, m)) => println!("watching {topic} [{}]", pids(&m)),
                Err(e) => println!("error {e}"),
            },
            ["connect", peer] => match NodeName::new(peer) {
                Ok(p) => println!("connect {p} {}", node.connect(&p).await),
                Err(e) => println!("error {e}"),
            },
            ["nodes"] => println!("nodes [{}]", join(&node)),
            ["quit"] => break,
            [] => {}
            _ => println!("error unknown command {line:?} (try: sub, unsub, pub, members, groups, watch, connect, nodes, quit)"),
        }
    }
    node.stop().await;
}

fn join(node: &Node) -> String {
    node.nodes()
        .iter()
        .map(|n| n.to_string())
        .collect::<Vec<_>>()
        .join(",")
}
