//! Drill 3 of the distribution chapter: global registration and a distributed
//! counter registered with `:global`, used from every node.
//!
//! Start one node per terminal (they find each other through the port mapper):
//!
//! ```text
//! cargo run -p netsplit --example global_counter -- --name a@127.0.0.1 --cookie demo
//! cargo run -p netsplit --example global_counter -- --name b@127.0.0.1 --cookie demo --connect a@127.0.0.1
//! cargo run -p netsplit --example global_counter -- --name c@127.0.0.1 --cookie demo --connect a@127.0.0.1
//! ```
//!
//! Then type commands (one per line):
//!
//! | command            | Elixir                                              | prints |
//! |--------------------|-----------------------------------------------------|--------|
//! | `register NAME`    | `:global.register_name(NAME, self())`               | `register NAME yes\|no` |
//! | `where NAME`       | `:global.whereis_name(NAME)`                        | `where NAME PID\|undefined` |
//! | `send NAME TEXT`   | `send(:global.whereis_name(NAME), TEXT)`            | `sent NAME PID` (the owner prints `got TEXT from NODE`) |
//! | `names`            | `:global.registered_names()`                        | `names [..]` |
//! | `start`            | `DistributedCounter.start_link()`                   | `started PID` or `already_started PID` |
//! | `inc`              | `DistributedCounter.increment()` (a cast)           | `inc ok` |
//! | `get`              | `DistributedCounter.get()` (a call)                 | `count N` |
//! | `connect NODE`, `nodes`, `sync`, `quit` | `Node.connect/1`, `Node.list/0`, `:global.sync()` | |
//!
//! Try the chapter's questions: `start` on two nodes (one `already_started`),
//! `inc` from everywhere and `get` anywhere, then stop (Ctrl-C) the node that
//! runs the counter: its name disappears (`where counter` → `undefined`) and
//! `start` elsewhere begins again from 0.

use clap::Parser;
use netsplit::gen_server::{self, CallResponse, Caller, Flow, GenServer, ServerStartError};
use netsplit::global::{self, RegisterResult};
use netsplit::{Ctx, Node, NodeArgs, NodeName, Signal};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};

/// The counter's global name.
const COUNTER: &str = "counter";

#[derive(Parser)]
#[command(about = "Drill 3: a distributed counter registered with :global")]
struct Cli {
    #[command(flatten)]
    node: NodeArgs,
    /// Connect to this node at start (repeatable).
    #[arg(long)]
    connect: Vec<NodeName>,
}

/// `DistributedCounter`: casts increment, calls read.
struct Counter(u64);

impl GenServer for Counter {
    type Call = ();
    type Reply = u64;
    type Cast = u64;
    type Info = ();

    async fn handle_call(&mut self, _: (), _: Caller<u64>, _: &Ctx) -> CallResponse<u64> {
        CallResponse::Reply(self.0)
    }

    async fn handle_cast(&mut self, n: u64, _: &Ctx) -> Flow {
        self.0 += n;
        Flow::Continue
    }
}

/// What a globally registered shell process receives from `send`.
#[derive(serde::Serialize, serde::Deserialize)]
struct Note {
    text: String,
    from: NodeName,
}

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    let node = cli.node.start_or_exit().await;
    // The "shell" process: what `self()` is in iex. It prints what it receives.
    let shell = node.spawn(|ctx| async move {
        ctx.monitor_nodes(true);
        for _ in 0.. {
            match ctx.recv().await {
                Signal::Message { payload, .. } => match payload.decode::<Note>() {
                    Ok(n) => println!("got {} from {}", n.text, n.from),
                    Err(e) => println!("got something else: {e}"),
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
    global::sync(&node).await;
    println!("ready {}", node.name());
    node.signal_ready();

    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["register", name] => {
                let r = global::register_name(&node, name, &shell).await;
                println!("register {name} {}", if r == RegisterResult::Yes { "yes" } else { "no" });
            }
            ["where", name] => match global::whereis_name(&node, name) {
                Some(pid) => println!("where {name} {pid}"),
                None => println!("where {name} undefined"),
            },
            ["send", name, text @ ..] => {
                let note = Note {
                    text: text.join(" "),
                    from: node.name().clone(),
                };
                match global::send(&node, name, &note) {
                    Ok(pid) => println!("sent {name} {pid}"),
                    Err(e) => println!("error {e}"),
                }
            }
            ["names"] => println!("names [{}]", global::registered_names(&node).join(",")),
            ["start"] => match gen_server::start_global(&node, Counter(0), COUNTER).await {
                Ok(pid) => println!("started {pid}"),
                Err(ServerStartError::AlreadyStarted(pid)) => println!("already_started {pid}"),
                Err(e) => println!("error {e}"),
            },
            ["inc"] => match global::cast(&node, COUNTER, &1u64) {
                Ok(()) => println!("inc ok"),
                Err(e) => println!("error {e}"),
            },
            ["get"] => {
                match global::call::<(), u64>(&node, COUNTER, &(), Duration::from_secs(5)).await {
                    Ok(n) => println!("count {n}"),
                    Err(e) => println!("error {e}"),
                }
            }
            ["connect", peer] => match NodeName::new(peer) {
                Ok(p) => println!("connect {p} {}", node.connect(&p).await),
                Err(e) => println!("error {e}"),
            },
            ["nodes"] => println!("nodes [{}]", join(&node)),
            ["sync"] => {
                global::sync(&node).await;
                println!("synced");
            }
            ["quit"] => break,
            [] => {}
            _ => println!("error unknown command {line:?} (try: register, where, send, names, start, inc, get, connect, nodes, sync, quit)"),
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
