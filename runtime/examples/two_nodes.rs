//! Two nodes in one program, over real TCP on loopback:
//! `cargo run -p netsplit --example two_nodes`.
//!
//! Shows the main entry points in order: start nodes, connect, run a GenServer,
//! call it remotely, monitor it, crash it, watch the `Down` arrive, and see a
//! `NodeDown` when the other node stops.

use netsplit::gen_server::{self, CallResponse, Caller, GenServer};
use netsplit::portmap::PortMapper;
use netsplit::{Ctx, Node, NodeConfig, NodeName, Signal};
use std::time::Duration;

/// Counts how many times it was greeted.
struct Greeter {
    greeted: u32,
}

impl GenServer for Greeter {
    type Call = String;
    type Reply = String;
    type Cast = ();
    type Info = ();

    async fn handle_call(
        &mut self,
        who: String,
        _from: Caller<String>,
        ctx: &Ctx,
    ) -> CallResponse<String> {
        self.greeted += 1;
        let reply = format!(
            "hello {who}, from {} (greeting #{})",
            ctx.node().name(),
            self.greeted
        );
        CallResponse::Reply(reply)
    }
}

async fn start(name: &str, portmap: &PortMapper) -> Node {
    let mut config = NodeConfig::new(NodeName::new(name).expect("valid name")).cookie("example");
    // A private port mapper, so this example never clashes with other nodes.
    config.portmap.addr = Some(portmap.addr());
    Node::start(config).await.expect("node starts")
}

#[tokio::main]
async fn main() {
    netsplit::logging::init(&NodeName::new("example@127.0.0.1").unwrap());
    let portmap = PortMapper::bind("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let gold = start("gold@127.0.0.1", &portmap).await;
    let silver = start("silver@127.0.0.1", &portmap).await;

    println!("connect: {}", gold.connect(silver.name()).await);
    println!("gold sees {:?}", gold.nodes());

    let pid = gen_server::start(&silver, Greeter { greeted: 0 }, Some("greeter"))
        .await
        .unwrap();
    let reply: String = gen_server::call(
        &gold,
        ("greeter", silver.name()),
        &"gold".to_string(),
        Duration::from_secs(1),
    )
    .await
    .unwrap();
    println!("{reply}");

    // A process on gold monitors the greeter on silver, and watches nodes.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let target = pid.clone();
    gold.spawn(move |ctx| async move {
        ctx.monitor_nodes(true);
        ctx.monitor(&target);
        for _ in 0..2 {
            let _ = tx.send(ctx.recv().await);
        }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;

    silver.exit(&pid, netsplit::ExitReason::error("crashed on purpose"));
    if let Some(Signal::Down(d)) = rx.recv().await {
        println!("Down: {} exited with {}", d.target, d.reason);
    }
    silver.stop().await;
    if let Some(Signal::NodeDown(n, why)) = rx.recv().await {
        println!("NodeDown: {n} ({why})");
    }
    gold.stop().await;
}
