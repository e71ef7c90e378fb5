//! The shorteners' benchmark:
//! `cargo run --release -p grader --example shortener_bench [-- 3|4]`.
//!
//! Builds the reference solution of Part 3 and of Part 4 (or the one asked
//! for), starts a real Redis and three nodes behind the grader's fabric (as
//! a stage does), and prints one `part3_…` or `part4_…` line per figure:
//!
//! - `create_p50_us`, `create_p99_us`: sequential creates on one node;
//! - `create_msgs`, `create_bytes`: messages and bytes between nodes per
//!   create (every node link, ticks included);
//! - `bytes_per_cached_link` (Part 3): resident memory growth, per link, of
//!   a node that received 50 000 links by replication only, at rest;
//! - `cached_redirects_per_s`, `cached_p50_us`, `cached_p99_us`: redirects
//!   of links the node has cached (Part 4: links it owns), 16 clients;
//! - `remote_redirects_per_s`, `remote_p50_us`, `remote_p99_us`,
//!   `remote_msgs`, `remote_store_reads` (Part 4): redirects of links
//!   another node owns, 16 clients: one call to the owner each;
//! - `store_redirects_per_s`, `store_p50_us`, `store_p99_us`: codes no node
//!   has cached, so every request asks Redis (404s);
//! - `store_remote_p50_us`, `store_remote_p99_us`: the same, one client,
//!   with 1 ms added each way on the store link (the fabric's timers round
//!   each delay up to the next millisecond);
//! - `store_reads_per_cached_redirect`: store commands per cached redirect;
//! - `count_bytes_per_1k_views` (Part 4): bytes between nodes per thousand
//!   views of owned links (so no lookup travels): the pushes of counts.
//!
//! Figures are from one run on one machine; run it on a quiet one.

use contracts::shortener::derived_code;
use contracts::shortener_improved::{RingCall, RingReply, RING_SERVER};
use grader::harness::{Harness, StageSetup};
use grader::net::fabric::Policy;
use grader::probes::http::HttpProbe;
use grader::probes::latency::Latencies;
use grader::run::output::Output;
use grader::services::redis::Persistence;
use std::sync::Arc;
use std::time::{Duration, Instant};

const NODES: [&str; 3] = ["n1", "n2", "n3"];
const CREATES: usize = 2000;
const MEMORY_LINKS: usize = 50_000;
const CLIENTS: usize = 16;
const LOAD_FOR: Duration = Duration::from_secs(5);
const SETTLE: Duration = Duration::from_secs(1);
/// One way, on the store link: a store on another machine.
const REMOTE_DELAY: Duration = Duration::from_millis(1);

type Fallible<T> = Result<T, String>;

#[tokio::main]
async fn main() {
    let which = std::env::args().nth(1);
    let result = async {
        if which.as_deref() != Some("4") {
            part3().await?;
        }
        if which.as_deref() != Some("3") {
            part4().await?;
        }
        Ok::<(), String>(())
    }
    .await;
    if let Err(e) = result {
        eprintln!("shortener_bench: {e}");
        std::process::exit(1);
    }
}

/// A stage-like cluster of `package`: the store and three meshed nodes.
async fn cluster(package: &str, dir: &std::path::Path) -> Fallible<Harness> {
    let out = Output::new(false);
    let binary = grader::builder::build(package, None, None, &out).map_err(|e| e.to_string())?;
    let setup = StageSetup {
        binary,
        number: 1,
        seed: 1,
        time_scale: 1.0,
        dir: dir.to_path_buf(),
    };
    let mut h = Harness::new(setup, out)
        .await
        .map_err(|e| format!("{e:?}"))?;
    h.start_store(Persistence::None)
        .await
        .map_err(|e| format!("{e:?}"))?;
    grader::parts::shortener::start_nodes(&mut h, &NODES)
        .await
        .map_err(|e| format!("{e:?}"))?;
    h.mesh(&NODES).await.map_err(|e| format!("{e:?}"))?;
    Ok(h)
}

async fn part3() -> Fallible<()> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let mut h = cluster("shortener-solution", dir.path()).await?;
    let n1 = h.http("n1").map_err(|e| format!("{e:?}"))?;
    let fig = |name: &str, v: f64| figure("part3", name, v);

    // Memory first, at rest: n2 gets links by replication only.
    let pid = h.os_pid("n2").ok_or("n2 has no pid")?;
    tokio::time::sleep(SETTLE).await;
    let before = rss_bytes(pid)?;
    let url = |i: usize| format!("https://bench.example/memory/{i:08}/some/typical/path?q=1");
    create_many(&n1, (0..MEMORY_LINKS).map(url).collect()).await?;
    let n2 = h.http("n2").map_err(|e| format!("{e:?}"))?;
    let last = derived_code(&url(MEMORY_LINKS - 1), 0);
    let deadline = Instant::now() + Duration::from_secs(10);
    while n2.get(&format!("/{last}")).await.status != Some(302) {
        if Instant::now() > deadline {
            return Err("n2 never got the last link".into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(SETTLE).await;
    let after = rss_bytes(pid)?;
    fig(
        "bytes_per_cached_link",
        after.saturating_sub(before) as f64 / MEMORY_LINKS as f64,
    );

    let codes = creates(&mut h, &n1, "part3").await?;
    let before = h.store_traffic("n1").commands;
    let (rate, lat) = load(&n1, Arc::new(codes), 302, CLIENTS).await?;
    fig("cached_redirects_per_s", rate);
    fig("cached_p50_us", micros(lat.quantile(0.5)));
    fig("cached_p99_us", micros(lat.quantile(0.99)));
    let reads = h.store_traffic("n1").commands - before;
    fig(
        "store_reads_per_cached_redirect",
        reads as f64 / lat.count() as f64,
    );
    uncached(&mut h, &n1, "part3").await
}

async fn part4() -> Fallible<()> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let mut h = cluster("shortener-improved-solution", dir.path()).await?;
    let n1 = h.http("n1").map_err(|e| format!("{e:?}"))?;
    let fig = |name: &str, v: f64| figure("part4", name, v);
    let deadline = Instant::now() + Duration::from_secs(10);
    while members(&h, "n1").await? < NODES.len() {
        if Instant::now() > deadline {
            return Err("n1's ring never had the three nodes".into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let codes = creates(&mut h, &n1, "part4").await?;
    let owners = match h
        .ask(
            "n1",
            RING_SERVER,
            &RingCall::Owners(codes.clone()),
            Duration::from_secs(5),
        )
        .await
    {
        Ok(RingReply::Owners(o)) => o,
        other => return Err(format!("n1 did not say who owns the links: {other:?}")),
    };
    let (mine, theirs): (Vec<_>, Vec<_>) = codes
        .iter()
        .zip(&owners)
        .partition(|(_, o)| o.as_str() == h.full("n1").as_str());
    let mine: Vec<String> = mine.into_iter().map(|(c, _)| c.clone()).collect();
    let theirs: Vec<String> = theirs.into_iter().map(|(c, _)| c.clone()).collect();
    // Every link once, so every owner has it cached before the loads.
    for c in &codes {
        let _ = n1.get(&format!("/{c}")).await;
    }
    tokio::time::sleep(SETTLE).await;

    let (store0, bytes0) = (h.store_traffic("n1").commands, between_nodes(&h).1);
    let (rate, lat) = load(&n1, Arc::new(mine), 302, CLIENTS).await?;
    tokio::time::sleep(SETTLE).await;
    let (store1, bytes1) = (h.store_traffic("n1").commands, between_nodes(&h).1);
    fig("cached_redirects_per_s", rate);
    fig("cached_p50_us", micros(lat.quantile(0.5)));
    fig("cached_p99_us", micros(lat.quantile(0.99)));
    fig(
        "store_reads_per_cached_redirect",
        (store1 - store0) as f64 / lat.count() as f64,
    );
    fig(
        "count_bytes_per_1k_views",
        (bytes1 - bytes0) as f64 * 1000.0 / lat.count() as f64,
    );

    let (frames0, store0) = (between_nodes(&h).0, h.store_traffic("n1").commands);
    let (rate, lat) = load(&n1, Arc::new(theirs), 302, CLIENTS).await?;
    let (frames1, store1) = (between_nodes(&h).0, h.store_traffic("n1").commands);
    fig("remote_redirects_per_s", rate);
    fig("remote_p50_us", micros(lat.quantile(0.5)));
    fig("remote_p99_us", micros(lat.quantile(0.99)));
    fig(
        "remote_msgs",
        (frames1 - frames0) as f64 / lat.count() as f64,
    );
    fig(
        "remote_store_reads",
        (store1 - store0) as f64 / lat.count() as f64,
    );
    uncached(&mut h, &n1, "part4").await
}

/// The members of node `short`'s ring (Part 4).
async fn members(h: &Harness, short: &str) -> Fallible<usize> {
    match h
        .ask(
            short,
            RING_SERVER,
            &RingCall::Members,
            Duration::from_secs(2),
        )
        .await
    {
        Ok(RingReply::Members(m)) => Ok(m.len()),
        other => Err(format!("{short}'s ring server: {other:?}")),
    }
}

/// `CREATES` sequential creates on `n1`: their latency and cost between
/// nodes. Returns the codes.
async fn creates(h: &mut Harness, n1: &HttpProbe, part: &str) -> Fallible<Vec<String>> {
    let before = between_nodes(h);
    let mut lat = Latencies::new();
    let mut codes = Vec::with_capacity(CREATES);
    for i in 0..CREATES {
        let ex = n1
            .post_form(
                "/",
                &[("url", &format!("https://bench.example/create/{i}"))],
            )
            .await;
        if ex.status != Some(201) {
            return Err(format!("a create failed: {}", ex.describe()));
        }
        lat.record(ex.latency);
        codes.push(ex.body.trim().to_string());
    }
    let after = between_nodes(h);
    figure(part, "create_p50_us", micros(lat.quantile(0.5)));
    figure(part, "create_p99_us", micros(lat.quantile(0.99)));
    figure(
        part,
        "create_msgs",
        (after.0 - before.0) as f64 / CREATES as f64,
    );
    figure(
        part,
        "create_bytes",
        (after.1 - before.1) as f64 / CREATES as f64,
    );
    Ok(codes)
}

/// Redirects of codes nobody has: every one asks Redis, fast and slow.
async fn uncached(h: &mut Harness, n1: &HttpProbe, part: &str) -> Fallible<()> {
    let none: Vec<String> = (0..CREATES)
        .map(|i| derived_code(&format!("https://bench.example/none/{i}"), 0))
        .collect();
    let none = Arc::new(none);
    let (rate, lat) = load(n1, none.clone(), 404, CLIENTS).await?;
    figure(part, "store_redirects_per_s", rate);
    figure(part, "store_p50_us", micros(lat.quantile(0.5)));
    figure(part, "store_p99_us", micros(lat.quantile(0.99)));
    // One client: the fabric delays a link's bytes in order, so a delayed
    // link carries less than a real one would; latency is what it shows.
    h.store_link("n1", Policy::Latency(REMOTE_DELAY));
    let (_, lat) = load(n1, none, 404, 1).await?;
    figure(part, "store_remote_p50_us", micros(lat.quantile(0.5)));
    figure(part, "store_remote_p99_us", micros(lat.quantile(0.99)));
    h.store_link("n1", Policy::Pass);
    Ok(())
}

/// Creates a link for each URL, `CLIENTS` at a time.
async fn create_many(n1: &HttpProbe, urls: Vec<String>) -> Fallible<()> {
    let urls = Arc::new(urls);
    let tasks = (0..CLIENTS).map(|c| {
        let (n1, urls) = (n1.clone(), urls.clone());
        async move {
            for url in urls.iter().skip(c).step_by(CLIENTS) {
                let ex = n1.post_form("/", &[("url", url)]).await;
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
    Ok(())
}

/// `clients` concurrent clients GET codes of `codes` for `LOAD_FOR`; every
/// answer must be `status`. Requests per second, and their latencies.
async fn load(
    probe: &HttpProbe,
    codes: Arc<Vec<String>>,
    status: u16,
    clients: usize,
) -> Fallible<(f64, Latencies)> {
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

/// (messages, bytes) the fabric carried between the nodes, every direction.
fn between_nodes(h: &Harness) -> (u64, u64) {
    let s = h.traffic(&NODES, &NODES);
    (s.frames, s.bytes)
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn figure(part: &str, name: &str, value: f64) {
    println!("{part}_{name} {value:.2}");
}

/// Resident memory of `pid` (`ps -o rss=`, which Linux and macOS share).
fn rss_bytes(pid: u32) -> Fallible<u64> {
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
