//! Lab, distributed lock manager: one node of the cluster.
//!
//! Every node runs a counter and a client under a supervisor; the cluster's
//! one lock server is started by the first lock request, on the node that
//! makes it. Start two or three nodes in terminals, connect them and type
//! commands (the lesson: docs/src/lab-lock-manager.md):
//!
//! ```text
//! cargo run -p lock-manager -- --name gold@127.0.0.1 --cookie locks
//! cargo run -p lock-manager -- --name silver@127.0.0.1 --cookie locks --connect gold@127.0.0.1
//! ```
//!
//! This file is provided, as are `counter.rs` and `client.rs`. The exercise
//! is in `lock_manager.rs` and `lock_server.rs`.

mod client;
mod counter;
mod lock_manager;
mod lock_server;

use clap::Parser;
use client::Client;
use contracts::lock_manager::{
    ClientCall, ClientReply, CounterCall, CounterReply, CLIENT, COUNTER, LOCK_SERVER,
};
use counter::Counter;
use netsplit::supervisor::{self, ChildSpec, Strategy, SupervisorSpec};
use netsplit::{gen_server, global, Ctx, ExitReason, Node, NodeArgs, NodeName, Signal};
use std::time::Duration;

#[derive(Parser)]
#[command(
    version,
    about = "One node of the lock manager's cluster (a lab of the Netsplit course)"
)]
struct Cli {
    #[command(flatten)]
    node: NodeArgs,
    /// Nodes to connect to once started (repeat the flag for several).
    #[arg(long = "connect", value_name = "NODE")]
    connect: Vec<NodeName>,
}

const HELP: &str =
    "commands: acquire LOCK [MS] | release LOCK | sections LOCK N [HOLD_MS] [NODE] | \
counter [NODE] | server | nodes | connect NODE | crash client | help | quit";

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    let node = cli.node.start_or_exit().await;
    let tree = SupervisorSpec::new(
        Strategy::OneForOne,
        vec![
            ChildSpec::gen_server("counter", Some(COUNTER), Counter::default),
            ChildSpec::gen_server("client", Some(CLIENT), Client::default),
        ],
    )
    // More patient than OTP's default (3 restarts in 5 s): while a todo!() is
    // still in the code, a few requests must not take the whole tree down.
    .intensity(20, 5);
    if let Err(e) = supervisor::start(&node, tree, Some("lock_manager_sup")).await {
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
            ["acquire", lock] => acquire(node, lock, "5000").await,
            ["acquire", lock, ms] => acquire(node, lock, ms).await,
            ["release", lock] => {
                let req = ClientCall::Release {
                    lock: lock.to_string(),
                };
                ask_client(node, &req, Duration::from_secs(10)).await;
            }
            ["sections", lock, n, rest @ ..] if rest.len() <= 2 => {
                sections(node, lock, n, rest).await
            }
            ["counter"] => counter(node, node.name().clone()).await,
            ["counter", peer] => match NodeName::new(peer) {
                Ok(peer) => counter(node, peer).await,
                Err(e) => println!("error: {e}"),
            },
            ["server"] => match global::whereis_name(node, LOCK_SERVER) {
                Some(pid) => println!("the lock server is {pid} on {}", pid.node()),
                None => println!("no lock server yet: the first acquire starts one"),
            },
            ["nodes"] => {
                let names: Vec<String> = node.nodes().iter().map(ToString::to_string).collect();
                println!("nodes [{}]", names.join(","));
            }
            ["connect", peer] => match NodeName::new(peer) {
                Ok(peer) => println!("connect {peer} {}", node.connect(&peer).await),
                Err(e) => println!("error: {e}"),
            },
            ["crash", "client"] => match node.whereis(CLIENT) {
                Some(pid) => {
                    node.exit(&pid, ExitReason::Kill);
                    println!("killed {CLIENT} {pid}");
                }
                None => println!("no {CLIENT} is running"),
            },
            _ => println!("error: unknown command {line:?}; {HELP}"),
        }
    }
}

async fn acquire(node: &Node, lock: &str, ms: &str) {
    let Ok(timeout_ms) = ms.parse::<u64>() else {
        println!("error: MS must be a number of milliseconds, got {ms:?}");
        return;
    };
    let req = ClientCall::Acquire {
        lock: lock.to_string(),
        timeout_ms,
    };
    let wait = Duration::from_millis(timeout_ms) + Duration::from_secs(10);
    ask_client(node, &req, wait).await;
}

async fn sections(node: &Node, lock: &str, n: &str, rest: &[&str]) {
    let usage = "error: usage: sections LOCK N [HOLD_MS] [NODE] (e.g. sections db 20 10)";
    let (Ok(count), Ok(hold_ms)) = (
        n.parse::<u32>(),
        rest.first().map_or(Ok(20), |h| h.parse::<u64>()),
    ) else {
        println!("{usage}");
        return;
    };
    let counter = match rest.get(1) {
        None => node.name().clone(),
        Some(peer) => match NodeName::new(peer) {
            Ok(peer) => peer,
            Err(e) => {
                println!("error: {e}");
                return;
            }
        },
    };
    let req = ClientCall::Sections {
        lock: lock.to_string(),
        count,
        hold_ms,
        counter,
        timeout_ms: 5000,
    };
    let per_section = hold_ms.saturating_add(5000);
    let wait = Duration::from_millis(per_section.saturating_mul(u64::from(count)))
        + Duration::from_secs(10);
    ask_client(node, &req, wait).await;
}

const CALL_TIMEOUT: Duration = Duration::from_secs(5);

async fn ask_client(node: &Node, req: &ClientCall, timeout: Duration) {
    match gen_server::call::<_, ClientReply>(node, CLIENT, req, timeout).await {
        Ok(ClientReply::Sections(r)) => {
            print!("done {}, timed out {}", r.done, r.timed_out);
            match r.error {
                Some(e) => println!(", stopped: {e}"),
                None => println!(),
            }
        }
        Ok(reply) => println!("{reply:?}"),
        Err(e) => println!("error: the client did not answer: {e}"),
    }
}

async fn counter(node: &Node, at: NodeName) {
    match gen_server::call(node, (COUNTER, &at), &CounterCall::Stats, CALL_TIMEOUT).await {
        Ok(CounterReply::Stats { value, writes }) => {
            println!("counter on {at}: value {value}, writes {writes}")
        }
        Ok(other) => println!("unexpected reply {other:?}"),
        Err(e) => println!("error: the counter on {at} did not answer: {e}"),
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
