//! The chat's benchmark: `cargo run --release -p grader --example chat_bench`.
//!
//! Builds Part 5's reference solution, starts three nodes behind the
//! grader's fabric (as a stage does), logs 50 users in on each, all in one
//! room, and prints one `part5_…` line per figure:
//!
//! - `fanout_p50_us`, `fanout_p99_us`: from a `say` leaving a client to the
//!   message arriving at a member's client, over every member of every say;
//! - `fanout_last_p50_us`, `fanout_last_p99_us`: the same, to the last of
//!   the 150 members (the say's full fan-out);
//! - `ack_p50_us`, `ack_p99_us`: from the `say` to its `ok` (the copies to
//!   the replicas included);
//! - `msgs_per_say`, `bytes_per_say`: messages and bytes between nodes per
//!   say (every node link, ticks included);
//! - `failover_ms`: from the SIGKILL of the room's node to the first `say`
//!   acknowledged again, from a client on another node (retrying every
//!   20 ms).
//!
//! Figures are from one run on one machine; run it on a quiet one.

use contracts::chat::{room_name, Command, Request};
use grader::harness::{Harness, StageSetup};
use grader::probes::latency::Latencies;
use grader::probes::lines::LineClient;
use grader::run::output::Output;
use netsplit::Pid;
use std::time::{Duration, Instant};

const NODES: [&str; 3] = ["n1", "n2", "n3"];
const USERS_PER_NODE: usize = 50;
const SAYS: usize = 200;
const WAIT: Duration = Duration::from_secs(10);

type Fallible<T> = Result<T, String>;

#[tokio::main]
async fn main() {
    if let Err(e) = run().await {
        eprintln!("chat_bench: {e}");
        std::process::exit(1);
    }
}

fn figure(name: &str, value: f64) {
    println!("part5_{name} {value:.2}");
}

/// Sends `command` with `reference` and waits for its answer; an error
/// event is an error.
async fn ask(client: &mut LineClient, reference: &str, command: Command) -> Fallible<Instant> {
    let mut req = Request::new(command);
    req.reference = Some(reference.to_string());
    client
        .send_line(&req.to_line())
        .await
        .map_err(|e| e.to_string())?;
    let answer = client
        .wait_for(WAIT, |e| e.str("ref") == Some(reference))
        .await
        .map_err(|e| format!("{reference}: {e}"))?;
    if answer.str("type") == Some("error") {
        return Err(format!("{reference}: {}", answer.line));
    }
    Ok(answer.at)
}

async fn run() -> Fallible<()> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let out = Output::new(false);
    let binary =
        grader::builder::build("chat-solution", None, None, &out).map_err(|e| e.to_string())?;
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
    grader::parts::chat::start_nodes(&mut h, &NODES)
        .await
        .map_err(|e| format!("{e:?}"))?;
    h.mesh(&NODES).await.map_err(|e| format!("{e:?}"))?;

    let mut users: Vec<(String, LineClient)> = vec![];
    for i in 0..USERS_PER_NODE * NODES.len() {
        let node = NODES[i % NODES.len()];
        let name = format!("u{i:03}");
        let mut c = h.line_client(node).await.map_err(|e| format!("{e:?}"))?;
        let login = Command::Login { user: name.clone() };
        ask(&mut c, &format!("{name}-login"), login).await?;
        let join = Command::Join {
            room: "bench".into(),
            since: None,
        };
        ask(&mut c, &format!("{name}-join"), join).await?;
        users.push((node.to_string(), c));
    }

    let (mut fanout, mut last, mut ack) = (Latencies::new(), Latencies::new(), Latencies::new());
    let before = h.traffic(&NODES, &NODES);
    for k in 0..SAYS {
        let sender = (k * 7) % users.len();
        let text = format!("m{k}");
        let say = Command::Say {
            room: "bench".into(),
            text: text.clone(),
        };
        let sent = Instant::now();
        let acked = ask(&mut users[sender].1, &format!("say-{k}"), say).await?;
        ack.record(acked - sent);
        let mut slowest = Duration::ZERO;
        for (_, c) in users.iter_mut() {
            let got = c
                .wait_for(WAIT, |e| {
                    e.str("type") == Some("message") && e.str("text") == Some(text.as_str())
                })
                .await
                .map_err(|e| format!("{text}: {e}"))?;
            let took = got.at.saturating_duration_since(sent);
            fanout.record(took);
            slowest = slowest.max(took);
        }
        last.record(slowest);
    }
    let after = h.traffic(&NODES, &NODES);
    let s = fanout.summary();
    figure("fanout_p50_us", s.p50_us as f64);
    figure("fanout_p99_us", s.p99_us as f64);
    let s = last.summary();
    figure("fanout_last_p50_us", s.p50_us as f64);
    figure("fanout_last_p99_us", s.p99_us as f64);
    let s = ack.summary();
    figure("ack_p50_us", s.p50_us as f64);
    figure("ack_p99_us", s.p99_us as f64);
    figure(
        "msgs_per_say",
        (after.frames - before.frames) as f64 / SAYS as f64,
    );
    figure(
        "bytes_per_say",
        (after.bytes - before.bytes) as f64 / SAYS as f64,
    );

    // Failover: kill the room's node, say from a user elsewhere until acked.
    let primary: Option<Pid> = h
        .rpc("n1", "global", "whereis_name", &room_name("bench"))
        .await
        .map_err(|e| e.to_string())?;
    let primary = primary.ok_or("the room has no primary")?;
    let victim = NODES
        .iter()
        .find(|s| h.full(s) == *primary.node())
        .ok_or("the primary is on no node of the bench")?
        .to_string();
    let survivor = users
        .iter()
        .position(|(node, _)| *node != victim)
        .ok_or("no user on another node")?;
    let killed = Instant::now();
    h.kill(&victim).await.map_err(|e| format!("{e:?}"))?;
    let mut tries = 0;
    loop {
        tries += 1;
        let say = Command::Say {
            room: "bench".into(),
            text: format!("after the kill {tries}"),
        };
        match ask(&mut users[survivor].1, &format!("failover-{tries}"), say).await {
            Ok(_) => break,
            Err(e) if killed.elapsed() < WAIT => {
                let _ = e;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) => return Err(format!("no say acknowledged after the kill: {e}")),
        }
    }
    figure("failover_ms", killed.elapsed().as_secs_f64() * 1000.0);
    Ok(())
}
