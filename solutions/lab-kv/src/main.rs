//! Lab: replicated KV store: one node of the cluster.
//!
//! Every node runs a replica (its own copy of the table) and an elector
//! under a supervisor; one elector of the cluster starts the writer. Start
//! two or three in terminals, connect them and type commands (the lesson:
//! docs/src/lab-kv.md):
//!
//! ```text
//! cargo run -p kv -- --name gold@127.0.0.1 --cookie kv
//! cargo run -p kv -- --name silver@127.0.0.1 --cookie kv --connect gold@127.0.0.1
//! ```
//!
//! This file is provided: node start-up, the supervision tree and the shell.
//! The exercise is in `replica.rs`, `writer.rs` and `elector.rs`.

mod elector;
mod replica;
mod writer;

use clap::Parser;
use contracts::kv::{KvCall, KvReply, KV, WRITER};
use elector::{Elector, ELECTOR};
use netsplit::supervisor::{self, ChildSpec, Strategy, SupervisorSpec};
use netsplit::{gen_server, global, Ctx, ExitReason, Node, NodeArgs, NodeName, Signal};
use replica::Replica;
use std::time::Duration;

#[derive(Parser)]
#[command(
    version,
    about = "One node of the replicated KV store (a lab of the Netsplit course)"
)]
struct Cli {
    #[command(flatten)]
    node: NodeArgs,
    /// Nodes to connect to once started (repeat the flag for several).
    #[arg(long = "connect", value_name = "NODE")]
    connect: Vec<NodeName>,
}

const HELP: &str = "commands: put KEY VALUE | get KEY | local KEY | table | writer | nodes | \
connect NODE | disconnect NODE | help | quit";

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    let node = cli.node.start_or_exit().await;
    // The replica starts first: a writer started by this node's elector
    // gathers every replica's table, this node's included.
    let tree = SupervisorSpec::new(
        Strategy::OneForOne,
        vec![
            ChildSpec::gen_server("replica", Some(KV), Replica::default),
            ChildSpec::gen_server("elector", Some(ELECTOR), Elector::default),
        ],
    )
    // More patient than OTP's default (3 restarts in 5 s): while a todo!() is
    // still in the code, a few calls must not take the whole tree down.
    .intensity(20, 5);
    if let Err(e) = supervisor::start(&node, tree, Some("kv_sup")).await {
        eprintln!("could not start the supervision tree: {e}");
        std::process::exit(1);
    }
    node.spawn(print_node_events);
    for peer in &cli.connect {
        println!("connect {peer} {}", node.connect(peer).await);
    }
    println!("ready {} — {HELP}", node.name());
    node.signal_ready();
    shell(&node).await;
    node.stop().await;
}

/// Reads commands from stdin until `quit`. Without a terminal (as under the
/// grader) stdin ends at once and the node serves until it is stopped.
async fn shell(node: &Node) {
    let mut commands = netsplit::shell::Commands::stdin();
    while let Some(line) = commands.next().await {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            [] => {}
            ["quit"] => return,
            ["help"] => println!("{HELP}"),
            ["put", key, value] => {
                let put = KvCall::Put {
                    key: key.to_string(),
                    value: value.to_string(),
                };
                show(ask(node, &put).await);
            }
            ["get", key] => show(ask(node, &KvCall::Get(key.to_string())).await),
            ["local", key] => show(ask(node, &KvCall::GetLocal(key.to_string())).await),
            ["table"] => show(ask(node, &KvCall::Table).await),
            ["writer"] => match global::whereis_name(node, WRITER) {
                Some(pid) => println!("{WRITER} is {pid} on {}", pid.node()),
                None => println!("no {WRITER} is registered"),
            },
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
    }
}

const CALL_TIMEOUT: Duration = Duration::from_secs(5);

/// A call to this node's replica.
async fn ask(node: &Node, call: &KvCall) -> Result<KvReply, String> {
    gen_server::call(node, KV, call, CALL_TIMEOUT)
        .await
        .map_err(|e| format!("the replica did not answer: {e}"))
}

fn show(reply: Result<KvReply, String>) {
    match reply {
        Ok(KvReply::Done) => println!("ok"),
        Ok(KvReply::Value(Some(v))) => println!("{v}"),
        Ok(KvReply::Value(None)) => println!("not found"),
        Ok(KvReply::Table(t)) => {
            for (key, e) in &t {
                println!("{key} = {} (write {})", e.value, e.seq);
            }
            println!("{} keys", t.len());
        }
        Ok(KvReply::Failed(why)) => println!("failed: {why}"),
        Ok(other) => println!("unexpected reply {other:?}"),
        Err(e) => println!("error: {e}"),
    }
}

/// Prints the cluster's comings and goings, as `:net_kernel.monitor_nodes` sees them.
async fn print_node_events(ctx: Ctx) -> ExitReason {
    ctx.monitor_nodes(true);
    loop {
        match ctx.recv().await {
            Signal::NodeUp(n) => println!("nodeup {n}"),
            Signal::NodeDown(n, reason) => println!("nodedown {n} {reason}"),
            _ => {}
        }
    }
}

fn names(nodes: &[NodeName]) -> String {
    let names: Vec<String> = nodes.iter().map(ToString::to_string).collect();
    names.join(",")
}
