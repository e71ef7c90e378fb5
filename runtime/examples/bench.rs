//! Runtime benchmark: `cargo run --release -p netsplit --example bench`.
//!
//! Starts a peer node as a second OS process on loopback and prints one
//! `name value` line per figure:
//!
//! - `call_rtt_p50_us`, `call_rtt_p99_us`: 50k sequential calls to a registered
//!   GenServer on the peer;
//! - `cast_throughput_msgs_per_s`: 1M casts from one sender to one registered
//!   server on the peer, drained by a final call;
//! - `spawn_100k_ms`, `bytes_per_process`: 100k idle local processes: the
//!   median time of five rounds on a warm heap, and the resident memory growth
//!   / 100k of a first round on a fresh heap;
//! - `nodedown_fanout_10k_ms`: 10k local processes each monitoring one process on
//!   the peer; time from the peer's SIGKILL until all 10k have `Down(NoConnection)`.

use netsplit::gen_server::{self, CallResponse, Caller, Flow, GenServer};
use netsplit::portmap::PortMapper;
use netsplit::{Ctx, Dest, ExitReason, Node, NodeConfig, NodeName, Signal};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const PEER_ENV: &str = "NETSPLIT_BENCH_PEER";

struct Sink {
    casts: u64,
}

impl GenServer for Sink {
    type Call = u64;
    type Reply = u64;
    type Cast = u64;
    type Info = ();
    async fn handle_call(&mut self, n: u64, _: Caller<u64>, _: &Ctx) -> CallResponse<u64> {
        CallResponse::Reply(if n == u64::MAX { self.casts } else { n })
    }
    async fn handle_cast(&mut self, _: u64, _: &Ctx) -> Flow {
        self.casts += 1;
        Flow::Continue
    }
}

fn main() {
    if let Ok(portmap) = std::env::var(PEER_ENV) {
        return peer(&portmap);
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    // Run on a worker thread, as processes do (block_on runs outside the pool).
    rt.block_on(async { tokio::spawn(bench()).await.expect("bench task") });
}

/// Spawns `n` processes that wait for a message; the time until the spawning
/// task runs again.
async fn spawn_idle(node: &Node, n: usize) -> (Duration, Vec<netsplit::Pid>) {
    let t0 = Instant::now();
    let mut pids = Vec::with_capacity(n);
    for _ in 0..n {
        pids.push(node.spawn(|ctx| async move {
            ctx.recv().await;
        }));
    }
    tokio::task::yield_now().await;
    (t0.elapsed(), pids)
}

/// Kills `pids` and waits until they are all gone, so the next phase starts
/// on a quiet node.
async fn kill_all(node: &Node, pids: Vec<netsplit::Pid>) {
    for p in &pids {
        node.exit(p, ExitReason::Kill);
    }
    while pids.iter().any(|p| node.is_alive(p)) {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn peer(portmap: &str) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        netsplit::lifecycle::watch_pid(std::os::unix::process::parent_id() as i32);
        let mut cfg = NodeConfig::new(NodeName::new("peer@127.0.0.1").unwrap()).cookie("bench");
        cfg.portmap.addr = Some(portmap.parse().unwrap());
        let node = Node::start(cfg).await.unwrap();
        gen_server::start(&node, Sink { casts: 0 }, Some("sink"))
            .await
            .unwrap();
        let target = node.spawn(|ctx| async move {
            for _ in 0.. {
                ctx.recv().await;
            }
        });
        node.register("target", &target).unwrap();
        println!("ready");
        std::future::pending::<()>().await;
    });
}

fn rss_bytes() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: usize = statm
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

async fn bench() {
    let pm = PortMapper::bind("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .env(PEER_ENV, pm.addr().to_string())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("start peer");
    // A blocking read must not run on a worker thread: the port mapper task
    // spawned just above would wait behind it, and the peer could never register.
    let stdout = child.stdout.take().unwrap();
    let line = tokio::task::spawn_blocking(move || {
        use std::io::BufRead;
        let mut line = String::new();
        std::io::BufReader::new(stdout)
            .read_line(&mut line)
            .map(|_| line)
    })
    .await
    .unwrap()
    .unwrap();
    assert_eq!(line.trim(), "ready", "peer did not start");
    let mut cfg = NodeConfig::new(NodeName::new("bench@127.0.0.1").unwrap()).cookie("bench");
    cfg.portmap.addr = Some(pm.addr());
    let node = Node::start(cfg).await.unwrap();
    let peer = NodeName::new("peer@127.0.0.1").unwrap();
    assert!(node.connect(&peer).await, "cannot connect to the peer");
    let sink = Dest::Remote("sink".into(), peer.clone());

    // Spawning idle processes. Memory is measured on the first round, while the
    // heap is fresh: memory freed by later phases would be reused and hide what
    // the processes really cost. Time is the median of the rounds after it, on
    // a warm heap: the first round mostly measures how fast the operating
    // system hands out fresh pages, which on a virtual machine varies several
    // times over from one run to the next.
    const N: usize = 100_000;
    const TIMED_ROUNDS: usize = 5;
    let before = rss_bytes();
    let (_, pids) = spawn_idle(&node, N).await;
    let grown = rss_bytes().saturating_sub(before);
    kill_all(&node, pids).await;
    let mut times = Vec::with_capacity(TIMED_ROUNDS);
    for _ in 0..TIMED_ROUNDS {
        let (el, pids) = spawn_idle(&node, N).await;
        times.push(el);
        kill_all(&node, pids).await;
    }
    times.sort();
    println!(
        "spawn_100k_ms {:.1}",
        times[TIMED_ROUNDS / 2].as_secs_f64() * 1e3
    );
    println!("bytes_per_process {}", grown / N);

    // Calls.
    let t = Duration::from_secs(5);
    for i in 0..2_000u64 {
        let _: u64 = gen_server::call(&node, sink.clone(), &i, t).await.unwrap();
    }
    let mut rtts = Vec::with_capacity(50_000);
    for i in 0..50_000u64 {
        let t0 = Instant::now();
        let r: u64 = gen_server::call(&node, sink.clone(), &i, t).await.unwrap();
        rtts.push(t0.elapsed());
        assert_eq!(r, i);
    }
    rtts.sort();
    println!(
        "call_rtt_p50_us {:.1}",
        rtts[rtts.len() / 2].as_secs_f64() * 1e6
    );
    println!(
        "call_rtt_p99_us {:.1}",
        rtts[rtts.len() * 99 / 100].as_secs_f64() * 1e6
    );

    // Casts, drained by a call (messages between two processes stay ordered).
    const CASTS: u64 = 1_000_000;
    let t0 = Instant::now();
    for i in 0..CASTS {
        gen_server::cast(&node, sink.clone(), &i).unwrap();
    }
    let got: u64 = gen_server::call(&node, sink.clone(), &u64::MAX, Duration::from_secs(120))
        .await
        .unwrap();
    let el = t0.elapsed();
    assert_eq!(got, CASTS);
    println!(
        "cast_throughput_msgs_per_s {:.0}",
        CASTS as f64 / el.as_secs_f64()
    );

    // NodeDown fan-out.
    const W: usize = 10_000;
    let downs = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(tokio::sync::Notify::new());
    let armed = Arc::new(AtomicUsize::new(0));
    for _ in 0..W {
        let (downs, done, armed) = (downs.clone(), done.clone(), armed.clone());
        let peer = peer.clone();
        node.spawn(move |ctx| async move {
            ctx.monitor(("target", &peer));
            armed.fetch_add(1, Ordering::Relaxed);
            if let Signal::Down(d) = ctx.recv().await {
                assert_eq!(d.reason, ExitReason::NoConnection);
                if downs.fetch_add(1, Ordering::AcqRel) + 1 == W {
                    done.notify_one();
                }
            }
        });
    }
    while armed.load(Ordering::Relaxed) < W {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Make sure every monitor reached the peer before it dies.
    let _: u64 = gen_server::call(&node, sink.clone(), &1u64, t)
        .await
        .unwrap();
    let t0 = Instant::now();
    child.kill().unwrap();
    tokio::time::timeout(Duration::from_secs(30), done.notified())
        .await
        .expect("not every Down arrived");
    println!(
        "nodedown_fanout_10k_ms {:.1}",
        t0.elapsed().as_secs_f64() * 1e3
    );
    let _ = child.wait();
    node.stop().await;
}
