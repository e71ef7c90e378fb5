//! Part 5, chat: one node of a fault-tolerant chat cluster.
//!
//! Clients connect to any node's client port and speak JSON lines
//! (`contracts::chat`); the terminal client is `chat-client`. Start two or
//! three nodes in terminals, then a client on each (the lesson:
//! docs/src/part-5-chat.md):
//!
//! ```text
//! cargo run -p chat -- --name gold@127.0.0.1 --cookie chat --client 127.0.0.1:7001
//! cargo run -p chat -- --name silver@127.0.0.1 --cookie chat --client 127.0.0.1:7002 --connect gold@127.0.0.1
//! cargo run -p chat --bin chat-client -- --user alice 127.0.0.1:7001 127.0.0.1:7002
//! ```
//!
//! The supervision tree, one module each:
//!
//! ```text
//! chat_sup (one for one)
//! ├── chat_room_sup   rooms, one process per room on every node (room.rs)
//! ├── chat_user_sup   sessions, one per logged-in user (session.rs)
//! ├── chat_rooms      this node's room directory (rooms.rs)
//! ├── chat_presence   who is online (presence.rs)
//! └── chat_cluster    nodeup / nodedown (cluster.rs)
//! ```
//!
//! This file, `client.rs`, `protocol.rs`, `rooms.rs` and the terminal
//! client are provided. The exercise is in `history.rs`, `room.rs`,
//! `session.rs`, `presence.rs` and `cluster.rs`.

mod client;
mod cluster;
mod history;
mod presence;
mod protocol;
mod room;
mod rooms;
mod session;

use clap::Parser;
use cluster::ClusterMonitor;
use futures::FutureExt;
use netsplit::supervisor::{self, ChildSpec, DynamicSupervisorSpec, Strategy, SupervisorSpec};
use netsplit::{Node, NodeArgs, NodeName};
use presence::Presence;
use protocol::{CLUSTER, PRESENCE, ROOMS, ROOM_SUP, USER_SUP};
use rooms::Rooms;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;

#[derive(Parser)]
#[command(
    version,
    about = "One node of the chat cluster (part 5 of the Netsplit course)"
)]
struct Cli {
    #[command(flatten)]
    node: NodeArgs,
    /// Where to serve clients (port 0: any free port, printed when ready).
    #[arg(long, default_value = "127.0.0.1:0")]
    client: SocketAddr,
    /// Nodes to connect to once started (repeat the flag for several).
    #[arg(long = "connect", value_name = "NODE")]
    connect: Vec<NodeName>,
}

const HELP: &str =
    "commands: rooms | online | nodes | connect NODE | disconnect NODE | help | quit";

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    let listener = match tokio::net::TcpListener::bind(cli.client).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!(
                "error: cannot serve clients on {}: {e} (is another node using it? --client 127.0.0.1:0 picks a free port)",
                cli.client
            );
            std::process::exit(2);
        }
    };
    let node = cli.node.start_or_exit().await;
    let many = DynamicSupervisorSpec::default().intensity(100, 5);
    let tree = SupervisorSpec::new(
        Strategy::OneForOne,
        vec![
            ChildSpec::dynamic_supervisor("rooms_sup", Some(ROOM_SUP), many.clone()),
            ChildSpec::dynamic_supervisor("users_sup", Some(USER_SUP), many),
            ChildSpec::gen_server("rooms", Some(ROOMS), Rooms::default),
            ChildSpec::gen_server("presence", Some(PRESENCE), Presence::default),
            ChildSpec::gen_server("cluster", Some(CLUSTER), ClusterMonitor::default),
        ],
    )
    // More patient than OTP's default (3 restarts in 5 s): while a todo!() is
    // still in the code, a few messages must not take the whole tree down.
    .intensity(20, 5);
    if let Err(e) = supervisor::start(&node, tree, Some("chat_sup")).await {
        eprintln!("could not start the supervision tree: {e}");
        std::process::exit(1);
    }
    let addr = listener
        .local_addr()
        .expect("a bound listener has an address");
    tokio::spawn(client::serve(node.clone(), listener));
    for peer in &cli.connect {
        println!("connect {peer} {}", node.connect(peer).await);
    }
    println!("ready {} client {addr} — {HELP}", node.name());
    node.signal_ready_with(&[("client", addr)]);
    shell(&node).await;
    node.stop().await;
}

/// Reads commands from stdin until `quit`. Without a terminal (as under the
/// grader) stdin ends at once and the node serves until it is stopped.
async fn shell(node: &Node) {
    let mut commands = netsplit::shell::Commands::stdin();
    while let Some(line) = commands.next().await {
        // A hole not filled yet panics: say so, and keep the node running.
        let done = AssertUnwindSafe(command(node, &line)).catch_unwind();
        match done.await {
            Ok(false) => return,
            Ok(true) => {}
            Err(panic) => println!(
                "error: that command panicked: {}",
                netsplit::panic_text(&*panic).unwrap_or("a panic without a message")
            ),
        }
    }
}

/// Runs one shell command; false to quit.
async fn command(node: &Node, line: &str) -> bool {
    let words: Vec<&str> = line.split_whitespace().collect();
    match words.as_slice() {
        [] => {}
        ["quit"] => return false,
        ["help"] => println!("{HELP}"),
        ["rooms"] => {
            let rooms = rooms::local_rooms(node);
            if rooms.is_empty() {
                println!("no rooms on this node yet");
            }
            for room in rooms {
                let global = contracts::chat::room_name(&room);
                let primary = netsplit::global::whereis_name(node, &global);
                let primary = primary.map_or("no primary".to_string(), |p| format!("primary {p}"));
                println!("{room}: {primary}");
            }
        }
        ["online"] => {
            let users: Vec<String> = netsplit::global::registered_names(node)
                .into_iter()
                .filter_map(|n| n.strip_prefix("user:").map(str::to_string))
                .collect();
            println!("online [{}]", users.join(","));
        }
        ["nodes"] => println!("nodes [{}]", names(&node.nodes())),
        ["connect", peer] => match NodeName::new(peer) {
            Ok(peer) => println!("connect {peer} {}", node.connect(&peer).await),
            Err(e) => println!("error: {e}"),
        },
        ["disconnect", peer] => match NodeName::new(peer) {
            Ok(peer) => println!("disconnect {peer} {}", node.disconnect(&peer).await),
            Err(e) => println!("error: {e}"),
        },
        _ => println!("error: unknown command {line:?}; {HELP}"),
    }
    true
}

fn names(nodes: &[NodeName]) -> String {
    let names: Vec<String> = nodes.iter().map(ToString::to_string).collect();
    names.join(",")
}
