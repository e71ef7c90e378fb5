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
