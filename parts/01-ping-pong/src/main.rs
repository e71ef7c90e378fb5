//! Part 1, ping-pong: one node of the cluster.
//!
//! Every node runs a consumer and a producer under a supervisor. Start two or
//! three in terminals, connect them and type commands (the lesson:
//! docs/src/part-1-ping-pong.md):
//!
//! ```text
//! cargo run -p ping-pong -- --name gold@127.0.0.1 --cookie pingpong
//! cargo run -p ping-pong -- --name silver@127.0.0.1 --cookie pingpong --connect gold@127.0.0.1
//! ```
//!
//! This file is provided: node start-up, the supervision tree and the shell.
//! The exercise is in `producer.rs` and `consumer.rs`.

mod consumer;
mod producer;

use clap::Parser;
use consumer::Consumer;
use contracts::ping_pong::{Counts, ProducerCall, ProducerReply, CONSUMER, PRODUCER};
use netsplit::supervisor::{self, ChildSpec, Strategy, SupervisorSpec};
use netsplit::{gen_server, Ctx, ExitReason, Node, NodeArgs, NodeName, Signal};
use producer::Producer;
use std::time::{Duration, Instant};

#[derive(Parser)]
#[command(
    version,
    about = "One node of the ping-pong cluster (part 1 of the Netsplit course)"
)]
struct Cli {
    #[command(flatten)]
    node: NodeArgs,
    /// Nodes to connect to once started (repeat the flag for several).
    #[arg(long = "connect", value_name = "NODE")]
    connect: Vec<NodeName>,
}

const HELP: &str = "commands: ping [N] | counts | mine | nodes | connect NODE | disconnect NODE | \
crash consumer|producer | monitors N NODE | help | quit";

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    let node = cli.node.start_or_exit().await;
    // The consumer starts first, so pings sent by our own producer have somewhere to go.
    let tree = SupervisorSpec::new(
        Strategy::OneForOne,
        vec![
            ChildSpec::gen_server("consumer", Some(CONSUMER), Consumer::default),
            ChildSpec::gen_server("producer", Some(PRODUCER), Producer::default),
        ],
    )
    // More patient than OTP's default (3 restarts in 5 s): while a todo!() is
    // still in the code, a few pings must not take the whole tree down.
    .intensity(20, 5);
    if let Err(e) = supervisor::start(&node, tree, Some("ping_pong_sup")).await {
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
            ["ping"] => ping(node, 1).await,
            ["ping", n] => match n.parse() {
                Ok(n) => ping(node, n).await,
                Err(_) => println!("error: N must be a number, got {n:?}"),
            },
            ["counts"] => counts(node).await,
            ["mine"] => mine(node).await,
            ["nodes"] => println!("nodes [{}]", names(&node.nodes())),
            ["connect", peer] => match NodeName::new(peer) {
                Ok(peer) => println!("connect {peer} {}", node.connect(&peer).await),
                Err(e) => println!("error: {e}"),
            },
            ["disconnect", peer] => match NodeName::new(peer) {
                Ok(peer) => println!("disconnect {peer} {}", node.disconnect(&peer).await),
                Err(e) => println!("error: {e}"),
            },
            ["crash", which @ ("consumer" | "producer")] => crash(node, which),
            ["monitors", n, peer] => match (n.parse(), NodeName::new(peer)) {
                (Ok(n), Ok(peer)) => monitors(node, n, peer),
                _ => {
                    println!("error: usage: monitors N NODE (e.g. monitors 5000 silver@127.0.0.1)")
                }
            },
            _ => println!("error: unknown command {line:?}; {HELP}"),
        }
    }
}

const CALL_TIMEOUT: Duration = Duration::from_secs(5);

async fn ping(node: &Node, n: u64) {
    match gen_server::call(node, PRODUCER, &ProducerCall::SendPings(n), CALL_TIMEOUT).await {
        Ok(ProducerReply::Count(total)) => println!("sent {n}, {total} in total"),
        Ok(other) => println!("unexpected reply {other:?}"),
        Err(e) => println!("error: the producer did not answer: {e}"),
    }
}

async fn counts(node: &Node) {
    let req = ProducerCall::GetCounts { timeout_ms: 2000 };
    match gen_server::call(node, PRODUCER, &req, CALL_TIMEOUT).await {
        Ok(ProducerReply::Cluster(c)) => {
            for (consumer, counts) in &c.counts {
                println!("{consumer}: {}", show(counts));
            }
            if !c.bad_nodes.is_empty() {
                println!("no answer from [{}]", names(&c.bad_nodes));
            }
        }
        Ok(other) => println!("unexpected reply {other:?}"),
        Err(e) => println!("error: the producer did not answer: {e}"),
    }
}

async fn mine(node: &Node) {
    let req = contracts::ping_pong::ConsumerCall::Counts;
    match gen_server::call::<_, Counts>(node, CONSUMER, &req, CALL_TIMEOUT).await {
        Ok(counts) => println!("{}: {}", node.name(), show(&counts)),
        Err(e) => println!("error: the consumer did not answer: {e}"),
    }
}

/// Kills a registered process, so its supervisor restarts it (with a new pid).
fn crash(node: &Node, name: &str) {
    match node.whereis(name) {
        Some(pid) => {
            node.exit(&pid, ExitReason::Kill);
            println!("killed {name} {pid}");
        }
        None => println!("no {name} is running"),
    }
}

/// Experiment 1 of the lesson: `n` processes monitor the producer on `peer`;
/// each prints nothing, but the last `Down` reports how long the fan-out took.
fn monitors(node: &Node, n: usize, peer: NodeName) {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(Instant, ExitReason)>();
    for _ in 0..n {
        let tx = tx.clone();
        let peer = peer.clone();
        node.spawn(move |ctx: Ctx| async move {
            ctx.monitor((PRODUCER, &peer));
            loop {
                if let Signal::Down(d) = ctx.recv().await {
                    let _ = tx.send((Instant::now(), d.reason));
                    return ExitReason::Normal;
                }
            }
        });
    }
    println!("{n} processes monitor {PRODUCER} on {peer}; now disconnect or kill that node");
    tokio::spawn(async move {
        let mut first = None;
        for i in 1..=n {
            let Some((at, reason)) = rx.recv().await else {
                return;
            };
            let first = *first.get_or_insert(at);
            if i == n {
                let ms = at.duration_since(first).as_secs_f64() * 1e3;
                println!("all {n} monitors fired ({reason}); first to last took {ms:.1} ms");
            }
        }
    });
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

fn show(counts: &Counts) -> String {
    let parts: Vec<String> = counts.iter().map(|(p, c)| format!("{p}={c}")).collect();
    format!("{{{}}}", parts.join(", "))
}
