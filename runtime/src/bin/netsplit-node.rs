//! `netsplit-node`: start a bare node and drive it from the terminal.
//!
//! The Rust counterpart of `iex --name gold@127.0.0.1` for the first steps of
//! the course: connect nodes, list them, watch nodeup/nodedown.
//!
//! ```text
//! $ netsplit-node --name gold@127.0.0.1 --cookie secret
//! > connect silver@127.0.0.1
//! connect silver@127.0.0.1 true
//! > nodes
//! nodes [silver@127.0.0.1]
//! ```
//!
//! Commands (one per line on stdin): `connect NODE`, `disconnect NODE`,
//! `nodes`, `hidden`, `ping NODE` (a call to NODE's echo server), `quit`.
//! Events are printed as `nodeup NODE` and `nodedown NODE REASON`.

use clap::Parser;
use netsplit::gen_server::{self, CallResponse, Caller, GenServer};
use netsplit::{Ctx, NodeArgs, NodeName, Signal};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};

#[derive(Parser)]
#[command(version, about = "Start a Netsplit node and drive it from stdin")]
struct Cli {
    #[command(flatten)]
    node: NodeArgs,
}

struct Echo;
impl GenServer for Echo {
    type Call = String;
    type Reply = String;
    type Cast = ();
    type Info = ();
    async fn handle_call(&mut self, s: String, _: Caller<String>, _: &Ctx) -> CallResponse<String> {
        CallResponse::Reply(s)
    }
}

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    let node = cli.node.start_or_exit().await;
    gen_server::start(&node, Echo, Some("echo"))
        .await
        .expect("echo server");
    node.spawn(|ctx| async move {
        ctx.monitor_nodes(true);
        for _ in 0.. {
            match ctx.recv().await {
                Signal::NodeUp(n) => println!("nodeup {n}"),
                Signal::NodeDown(n, r) => println!("nodedown {n} {r}"),
                _ => {}
            }
        }
    });
    println!(
        "ready {} {}",
        node.name(),
        node.listen_addr().map(|a| a.port()).unwrap_or(0)
    );
    node.signal_ready();
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let words: Vec<&str> = line.split_whitespace().collect();
        let parse = |s: &str| NodeName::new(s).map_err(|e| e.to_string());
        match words.as_slice() {
            ["connect", n] => match parse(n) {
                Ok(n) => println!("connect {n} {}", node.connect(&n).await),
                Err(e) => println!("error {e}"),
            },
            ["disconnect", n] => match parse(n) {
                Ok(n) => println!("disconnect {n} {}", node.disconnect(&n).await),
                Err(e) => println!("error {e}"),
            },
            ["nodes"] => println!("nodes [{}]", join(&node.nodes())),
            ["hidden"] => println!("hidden [{}]", join(&node.nodes_hidden())),
            ["ping", n] => match parse(n) {
                Ok(n) => {
                    let r = gen_server::call::<String, String>(&node, ("echo", &n), &"ping".into(), Duration::from_secs(5)).await;
                    match r {
                        Ok(s) => println!("pong {n} {s}"),
                        Err(e) => println!("pang {n} {e}"),
                    }
                }
                Err(e) => println!("error {e}"),
            },
            ["quit"] => break,
            [] => {}
            _ => println!("error unknown command {line:?} (try: connect NODE, disconnect NODE, nodes, hidden, ping NODE, quit)"),
        }
    }
    node.stop().await;
}

fn join(v: &[NodeName]) -> String {
    v.iter()
        .map(|n| n.to_string())
        .collect::<Vec<_>>()
        .join(",")
}
