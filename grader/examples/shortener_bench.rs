//! Part 3's benchmark: `cargo run --release -p grader --example shortener_bench`.
//!
//! Builds the reference shortener, starts a real Redis and three nodes
//! behind the grader's fabric (as a stage does), and prints one
//! `name value` line per figure:
//!
//! - `create_p50_us`, `create_p99_us`: sequential creates on one node (a
//!   SET NX through the node's store link, then an abcast);
//! - `create_msgs_per_node`, `create_bytes_per_node`: what one create costs
//!   on each node-to-node link (frames and bytes the fabric forwarded, ticks
//!   included, over every create);
//! - `cached_redirects_per_s`, `cached_p50_us`, `cached_p99_us`: redirects
//!   of cached links on one node, from 16 concurrent clients;
//! - `store_redirects_per_s`, `store_p50_us`, `store_p99_us`: the same
//!   load on codes no node has cached, so every request asks Redis (the
//!   cost a cache saves; 404s, the same HTTP path as a read-through);
//! - `store_remote_p50_us`, `store_remote_p99_us`: one client, on codes no node
//!   has cached, with 1 ms added each way on the node's store link (a
//!   store on another machine; the fabric's timers round each delay up to
//!   the next millisecond, so expect 2 to 4 ms more than without);
//! - `bytes_per_cached_link`: resident memory growth of a node that
//!   received 50 000 links by replication only, per link (measured
//!   at rest, before any other load).
//!
//! Figures are from one run on one machine; run it on a quiet one.

use contracts::shortener::derived_code;
use grader::harness::{Harness, StageSetup};
use grader::net::fabric::Policy;
use grader::probes::latency::Latencies;
use grader::run::output::Output;
use grader::services::redis::Persistence;
use std::sync::Arc;
use std::time::{Duration, Instant};

const NODES: [&str; 3] = ["n1", "n2", "n3"];
const CREATES: usize = 2000;
const MEMORY_LINKS: usize = 50_000;
const SETTLE: Duration = Duration::from_secs(1);
const CLIENTS: usize = 16;
const LOAD_FOR: Duration = Duration::from_secs(5);
/// One way, on the store link: a store on another machine of the room.
const REMOTE_DELAY: Duration = Duration::from_millis(1);

#[tokio::main]
async fn main() {
    if let Err(e) = run().await {
        eprintln!("shortener_bench: {e}");
        std::process::exit(1);
    }
}

async fn run() -> Result<(), String> {
    let out = Output::new(false);
    let binary = grader::builder::build("shortener-solution", None, None, &out)
        .map_err(|e| e.to_string())?;
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let setup = StageSetup {
        binary,
        number: 1,
        seed: 1,
        time_scale: 1.0,
        dir: dir.path().to_path_buf(),
    };
    let mut h = Harness::new(setup, out)
        .await
        .map_err(|e| format!("{e:?}"))?;
    h.start_store(Persistence::None)
        .await
        .map_err(|e| format!("{e:?}"))?;
    let mut urls = std::collections::BTreeMap::new();
    for s in NODES {
        urls.insert(s, h.store_url(s).map_err(|e| format!("{e:?}"))?);
    }
    h.start_nodes_with(&NODES, |s| {
        vec![
            "--http".into(),
            "127.0.0.1:0".into(),
            "--redis-url".into(),
            urls[s].clone(),
        ]
    })
    .await
    .map_err(|e| format!("{e:?}"))?;
    h.mesh(&NODES).await.map_err(|e| format!("{e:?}"))?;
    let n1 = h.http("n1").map_err(|e| format!("{e:?}"))?;

    // Memory: n2 gets links by replication only.
    let pid = h.os_pid("n2").ok_or("n2 has no pid")?;
    // Freed memory goes back to the system after a moment: measure at rest.
    tokio::time::sleep(SETTLE).await;
    let before = rss_bytes(pid)?;
    let body = |i: usize| format!("https://bench.example/memory/{i:08}/some/typical/path?q=1");
    let batches = MEMORY_LINKS / CLIENTS;
    let tasks = (0..CLIENTS).map(|c| {
        let n1 = n1.clone();
        async move {
            for i in 0..batches {
                let url = body(c * batches + i);
                let ex = n1.post_form("/", &[("url", &url)]).await;
                if ex.status != Some(201) {
                    return Err(format!("a create failed: {}", ex.describe()));
                }
            }
            Ok(())
        }
    });
    for r in futures::future::join_all(tasks).await {
        r?;
    }
    let n2 = h.http("n2").map_err(|e| format!("{e:?}"))?;
    let last = derived_code(&body(MEMORY_LINKS - 1), 0);
    let deadline = Instant::now() + Duration::from_secs(10);
    while n2.get(&format!("/{last}")).await.status != Some(302) {
        if Instant::now() > deadline {
            return Err("n2 never got the last link".into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(SETTLE).await;
    let after = rss_bytes(pid)?;
    figure(
        "bytes_per_cached_link",
        after.saturating_sub(before) as f64 / (CLIENTS * batches) as f64,
    );
    // Creates: latency, and what each costs between nodes.
    let links_before = (h.link_stats("n1", "n2"), h.link_stats("n1", "n3"));
    let mut creates = Latencies::new();
    let mut codes = Vec::with_capacity(CREATES);
    for i in 0..CREATES {
        let url = format!("https://bench.example/create/{i}");
        let ex = n1.post_form("/", &[("url", &url)]).await;
        if ex.status != Some(201) {
            return Err(format!("a create failed: {}", ex.describe()));
        }
        creates.record(ex.latency);
        codes.push(ex.body.trim().to_string());
    }
    let links_after = (h.link_stats("n1", "n2"), h.link_stats("n1", "n3"));
    let frames = (links_after.0.frames - links_before.0.frames)
        + (links_after.1.frames - links_before.1.frames);
    let bytes =
        (links_after.0.bytes - links_before.0.bytes) + (links_after.1.bytes - links_before.1.bytes);
    let per_link = (NODES.len() - 1) as f64 * CREATES as f64;
    figure("create_p50_us", micros(creates.quantile(0.5)));
    figure("create_p99_us", micros(creates.quantile(0.99)));
    figure("create_msgs_per_node", frames as f64 / per_link);
    figure("create_bytes_per_node", bytes as f64 / per_link);

    // Cached redirects against redirects that need the store.
    let cached = Arc::new(codes);
    let (rate, lat) = load(&n1, cached.clone(), 302, CLIENTS).await?;
    figure("cached_redirects_per_s", rate);
    figure("cached_p50_us", micros(lat.quantile(0.5)));
    figure("cached_p99_us", micros(lat.quantile(0.99)));
    let uncached: Vec<String> = (0..CREATES)
        .map(|i| derived_code(&format!("https://bench.example/none/{i}"), 0))
        .collect();
    let uncached = Arc::new(uncached);
    let (rate, lat) = load(&n1, uncached.clone(), 404, CLIENTS).await?;
    figure("store_redirects_per_s", rate);
    figure("store_p50_us", micros(lat.quantile(0.5)));
    figure("store_p99_us", micros(lat.quantile(0.99)));
    h.store_link("n1", Policy::Latency(REMOTE_DELAY));
    // One client: the fabric delays a link's bytes in order, so a delayed
    // link carries less than a real one would; latency is what it shows.
    let (_, lat) = load(&n1, uncached.clone(), 404, 1).await?;
    figure("store_remote_p50_us", micros(lat.quantile(0.5)));
    figure("store_remote_p99_us", micros(lat.quantile(0.99)));

    Ok(())
}

/// `clients` concurrent clients GET codes of `codes` for `LOAD_FOR`; every
/// answer must be `status`. Requests per second, and their latencies.
async fn load(
    probe: &grader::probes::http::HttpProbe,
    codes: Arc<Vec<String>>,
    status: u16,
    clients: usize,
) -> Result<(f64, Latencies), String> {
    let started = Instant::now();
    let tasks = (0..clients).map(|c| {
        let (probe, codes) = (probe.clone(), codes.clone());
        async move {
            let mut lat = Latencies::new();
            let mut i = c * 7919;
            while started.elapsed() < LOAD_FOR {
                let code = &codes[i % codes.len()];
                i += 13;
                let ex = probe.get(&format!("/{code}")).await;
                if ex.status != Some(status) {
                    return Err(format!("/{code}: {}, not {status}", ex.describe()));
                }
                lat.record(ex.latency);
            }
            Ok(lat)
        }
    });
    let mut all = Latencies::new();
    for r in futures::future::join_all(tasks).await {
        all.merge(&r?);
    }
    let rate = all.count() as f64 / started.elapsed().as_secs_f64();
    Ok((rate, all))
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn figure(name: &str, value: f64) {
    println!("{name} {value:.1}");
}

/// Resident memory of `pid` (`ps -o rss=`, which Linux and macOS share).
fn rss_bytes(pid: u32) -> Result<u64, String> {
    let out = std::process::Command::new("ps")
        .args(["-o", "rss=", "-p", &pid.to_string()])
        .output()
        .map_err(|e| format!("ps: {e}"))?;
    let kib: u64 = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .map_err(|e| format!("ps -o rss= -p {pid}: {e}"))?;
    Ok(kib * 1024)
}
