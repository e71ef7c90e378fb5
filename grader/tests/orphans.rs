//! No node outlives the grader: not when it is interrupted (Ctrl-C), not when
//! it is SIGKILLed mid-stage (each node watches its parent and exits).
#![cfg(target_os = "linux")]

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Processes whose environment holds `marker` (our nodes inherit it).
fn marked_processes(marker: &str) -> Vec<u32> {
    let needle = format!("GRADER_ORPHAN_TEST={marker}");
    let mut found = vec![];
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return found;
    };
    for e in entries.filter_map(Result::ok) {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        if let Ok(env) = std::fs::read(e.path().join("environ")) {
            if env.split(|b| *b == 0).any(|v| v == needle.as_bytes()) {
                found.push(pid);
            }
        }
    }
    found
}

/// Starts the grader on the solution and returns once its first node runs.
fn grader_with_nodes_running(marker: &str, runs: &std::path::Path) -> Child {
    let mut child = Command::new(env!("CARGO_BIN_EXE_grader"))
        .args(["ping-pong", "--solution", "--seed", "5"])
        .env("GRADER_RUNS_DIR", runs)
        .env("GRADER_ORPHAN_TEST", marker)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("grader starts");
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let line = lines.next().expect("grader output").expect("readable");
        if line.contains("[n3] started") {
            break;
        }
        assert!(Instant::now() < deadline, "no node started");
    }
    // Keep draining stdout so the grader never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    assert!(
        marked_processes(marker).len() >= 3,
        "the nodes carry the marker"
    );
    child
}

fn assert_no_orphans(marker: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left = marked_processes(marker);
        if left.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "processes left behind after the grader ended: {left:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn ctrl_c_kills_every_node_and_exits_130() {
    let marker = format!("int-{}", std::process::id());
    let runs = tempfile::tempdir().unwrap();
    let mut grader = grader_with_nodes_running(&marker, runs.path());
    kill(Pid::from_raw(grader.id() as i32), Signal::SIGINT).unwrap();
    let status = grader.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    assert_no_orphans(&marker);
}

#[test]
fn sigkill_of_the_grader_leaves_no_node_behind() {
    let marker = format!("kill-{}", std::process::id());
    let runs = tempfile::tempdir().unwrap();
    let mut grader = grader_with_nodes_running(&marker, runs.path());
    grader.kill().unwrap();
    grader.wait().unwrap();
    assert_no_orphans(&marker);
}

/// Starts a process that holds a Redis through the grader's service code;
/// returns it and the redis-server's pid.
fn store_holder(dir: &std::path::Path) -> (Child, i32) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_fixture-store-holder"))
        .arg(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the store holder starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let pid: i32 = line
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no redis pid in {line:?}"));
    assert!(alive(pid), "redis-server {pid} runs");
    (child, pid)
}

fn alive(pid: i32) -> bool {
    // A zombie has exited: only a process with a state other than Z counts.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit(')')
                .next()
                .map(|r| !r.trim_start().starts_with('Z'))
        })
        .unwrap_or(false)
}

fn assert_gone(pid: i32, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while alive(pid) {
        assert!(
            Instant::now() < deadline,
            "redis-server {pid} outlived {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn no_redis_server_outlives_a_sigkilled_grader_even_unreaped() {
    let dir = tempfile::tempdir().unwrap();
    let (mut holder, redis) = store_holder(dir.path());
    kill(Pid::from_raw(holder.id() as i32), Signal::SIGKILL).unwrap();
    // The holder is a zombie now (not waited for): the guard must not need
    // its parent to reap it.
    assert_gone(redis, "a SIGKILLed grader that nobody reaped");
    holder.wait().unwrap();
}

#[test]
fn no_redis_server_outlives_an_interrupted_grader() {
    let dir = tempfile::tempdir().unwrap();
    let (mut holder, redis) = store_holder(dir.path());
    kill(Pid::from_raw(holder.id() as i32), Signal::SIGINT).unwrap();
    let status = holder.wait().unwrap();
    assert_eq!(status.code(), Some(130), "{status:?}");
    assert_gone(redis, "an interrupted grader");
}
