//! Part 3, link shortener: one node of the cluster.
//!
//! Every node serves the same links over HTTP, with Redis as the store. Start
//! a Redis and two or three nodes in terminals, then curl them (the lesson:
//! docs/src/part-3-shortener.md):
//!
//! ```text
//! redis-server --port 6379 --save '' --appendonly no
//! cargo run -p shortener -- --name gold@127.0.0.1 --cookie links --http 127.0.0.1:8001
//! cargo run -p shortener -- --name silver@127.0.0.1 --cookie links --http 127.0.0.1:8002 --connect gold@127.0.0.1
//! curl -i -d url=https://example.com/ http://127.0.0.1:8001/
//! ```
//!
//! This file, `http.rs` and `store.rs` are provided: start-up, the HTTP
//! contract and the store's calls. The exercise is in `cache.rs`,
//! `cache_server.rs` and `links.rs`.

mod cache;
mod cache_server;
mod http;
mod links;
mod store;

use cache::Cache;
use cache_server::CacheServer;
use clap::Parser;
use contracts::shortener::CACHE;
use futures::FutureExt;
use links::{Links, Resolved};
use netsplit::supervisor::{self, ChildSpec, Strategy, SupervisorSpec};
use netsplit::{Ctx, ExitReason, Node, NodeArgs, NodeName, Signal};
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use store::Store;

#[derive(Parser)]
#[command(
    version,
    about = "One node of the link shortener (part 3 of the Netsplit course)"
)]
struct Cli {
    #[command(flatten)]
    node: NodeArgs,
    /// Where to serve HTTP (port 0: any free port, printed when ready).
    #[arg(long, default_value = "127.0.0.1:0")]
    http: SocketAddr,
    /// The store.
    #[arg(long, default_value = "redis://127.0.0.1:6379/")]
    redis_url: String,
    /// Nodes to connect to once started (repeat the flag for several).
    #[arg(long = "connect", value_name = "NODE")]
    connect: Vec<NodeName>,
}

const HELP: &str = "commands: add URL [CODE] | get CODE | cache | nodes | connect NODE | \
disconnect NODE | help | quit";

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    let store = match Store::open(&cli.redis_url) {
        Ok(store) => store,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    };
    let http = match tokio::net::TcpListener::bind(cli.http).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!(
                "error: cannot serve HTTP on {}: {e} (is another node using it? --http 127.0.0.1:0 picks a free port)",
                cli.http
            );
            std::process::exit(2);
        }
    };
    let node = cli.node.start_or_exit().await;
    let cache = Cache::default();
    let for_server = cache.clone();
    let tree = SupervisorSpec::new(
        Strategy::OneForOne,
        vec![ChildSpec::gen_server("cache", Some(CACHE), move || {
            CacheServer::new(for_server.clone())
        })],
    )
    // More patient than OTP's default (3 restarts in 5 s): while a todo!() is
    // still in the code, a few messages must not take the whole tree down.
    .intensity(20, 5);
    if let Err(e) = supervisor::start(&node, tree, Some("shortener_sup")).await {
        eprintln!("could not start the supervision tree: {e}");
        std::process::exit(1);
    }
    let links = Links {
        node: node.clone(),
        cache,
        store,
    };
    let http_addr = http.local_addr().expect("a bound listener has an address");
    let app = http::router(links.clone());
    tokio::spawn(async move { axum::serve(http, app).await });
    node.spawn(print_node_events);
    for peer in &cli.connect {
        println!("connect {peer} {}", node.connect(peer).await);
    }
    println!("ready {} http http://{http_addr}/ — {HELP}", node.name());
    node.signal_ready_with(&[("http", http_addr)]);
    shell(&node, &links).await;
    node.stop().await;
}

/// Reads commands from stdin until `quit`. Without a terminal (as under the
/// grader) stdin ends at once and the node serves until it is stopped.
async fn shell(node: &Node, links: &Links) {
    let mut commands = netsplit::shell::Commands::stdin();
    while let Some(line) = commands.next().await {
        // A hole not filled yet panics: say so, and keep the node running.
        let done = AssertUnwindSafe(command(node, links, &line)).catch_unwind();
        match done.await {
            Ok(Flow::Quit) => return,
            Ok(Flow::Next) => {}
            Err(panic) => println!(
                "error: that command panicked: {}",
                netsplit::panic_text(&*panic).unwrap_or("a panic without a message")
            ),
        }
    }
}

/// What the shell does after a command.
enum Flow {
    Next,
    Quit,
}

/// Runs one shell command.
async fn command(node: &Node, links: &Links, line: &str) -> Flow {
    let words: Vec<&str> = line.split_whitespace().collect();
    match words.as_slice() {
        [] => {}
        ["quit"] => return Flow::Quit,
        ["help"] => println!("{HELP}"),
        ["add", url] => add(links, url, None).await,
        ["add", url, code] => add(links, url, Some(code)).await,
        ["get", code] => match links.resolve(code).await {
            Resolved::Found(url) => println!("{code} -> {url}"),
            Resolved::Unknown => println!("{code}: no such link"),
            Resolved::Unavailable(e) => println!("{code}: unavailable: {e}"),
        },
        ["cache"] => println!("links cached on this node: {}", links.cache.len()),
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
    Flow::Next
}

/// The shell's create: no HTTP checks, so only for trying things by hand.
async fn add(links: &Links, url: &str, code: Option<&str>) {
    match links.create(url, code).await {
        Ok(code) => println!("{code} -> {url}"),
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
