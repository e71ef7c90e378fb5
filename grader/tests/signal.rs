//! `install_signal_handler` kills every registered node group when the
//! grader gets SIGTERM. The "grader" here is this test binary re-executed as a
//! child process, so the signal does not end the test harness itself.

use std::fs;
use std::process::Command;
use std::time::{Duration, Instant};

use grader::launch::{install_signal_handler, pid_alive, NodeProcess, NodeSpec};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

const ROLE_ENV: &str = "GRADER_SIGNAL_TEST_DIR";
const TEST_NAME: &str = "sigterm_kills_every_registered_node";

/// What the re-executed child does: play a grader with one node, then wait to
/// be signalled.
fn fake_grader(dir: &str) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        install_signal_handler().unwrap();
        let node = NodeProcess::spawn(
            NodeSpec::new("n1@127.0.0.1", "sh")
                .args(["-c", r#"touch "$NETSPLIT_READY_FILE"; exec sleep 30"#]),
            dir.as_ref(),
        )
        .unwrap();
        let mut node = node;
        node.wait_ready(Duration::from_secs(5)).await.unwrap();
        fs::write(format!("{dir}/node.pid"), node.pid().to_string()).unwrap();
        tokio::time::sleep(Duration::from_secs(30)).await;
        // Not reached: the signal handler exits the process, so `node` is
        // never dropped and only the handler can have killed it.
        std::process::exit(1);
    });
}

#[test]
fn sigterm_kills_every_registered_node() {
    if let Ok(dir) = std::env::var(ROLE_ENV) {
        fake_grader(&dir);
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut grader = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", TEST_NAME, "--nocapture", "--test-threads=1"])
        .env(ROLE_ENV, dir.path())
        .spawn()
        .unwrap();
    let guard = KillOnDrop(grader.id() as i32);

    let pid_file = dir.path().join("node.pid");
    let start = Instant::now();
    let node_pid: u32 = loop {
        if let Some(pid) = fs::read_to_string(&pid_file)
            .ok()
            .and_then(|s| s.trim().parse().ok())
        {
            break pid;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "child never started its node"
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    assert!(pid_alive(node_pid));

    kill(Pid::from_raw(grader.id() as i32), Signal::SIGTERM).unwrap();
    let status = grader.wait().unwrap();
    std::mem::forget(guard);
    assert_eq!(status.code(), Some(143), "handler exits with 128 + SIGTERM");

    let start = Instant::now();
    while pid_alive(node_pid) {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "node {node_pid} survived"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

struct KillOnDrop(i32);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = kill(Pid::from_raw(self.0), Signal::SIGKILL);
    }
}
