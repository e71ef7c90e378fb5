//! Launcher tests with `sh -c` scripts standing in for node programs.

use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use grader::launch::{
    group_alive, pid_alive, registered_groups, Cluster, LaunchError, NodeProcess, NodeSpec,
    NodeState,
};

const T: Duration = Duration::from_secs(5);

fn sh(name: &str, script: &str) -> NodeSpec {
    NodeSpec::new(name, "sh").args(["-c", script])
}

const READY_THEN_SLEEP: &str = r#"echo "starting $0"; touch "$NETSPLIT_READY_FILE"; exec sleep 30"#;

fn proc_state(pid: u32) -> Option<char> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_ascii_whitespace().next()?.chars().next()
}

/// Reads a pid a script wrote to `path`, waiting for it to appear.
async fn read_pid_file(path: &Path) -> u32 {
    let start = Instant::now();
    loop {
        if let Ok(s) = fs::read_to_string(path) {
            if let Ok(pid) = s.trim().parse() {
                return pid;
            }
        }
        assert!(start.elapsed() < T, "{} never written", path.display());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < T, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn becomes_ready_with_env_and_log() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = Cluster::new(dir.path().join("run")).unwrap();
    let script = r#"echo "watch=$NETSPLIT_WATCH_PID ready=$NETSPLIT_READY_FILE extra=$EXTRA"; echo to-stderr >&2; touch "$NETSPLIT_READY_FILE"; exec sleep 30"#;
    let node = cluster
        .spawn(sh("n1@127.0.0.1", script).env("EXTRA", "42"))
        .unwrap();
    assert!(registered_groups().contains(&(node.pid() as i32)));
    node.wait_ready(T).await.unwrap();
    assert!(node.is_ready());
    assert_eq!(node.state(), NodeState::Running);
    assert_eq!(
        node.ready_path(),
        dir.path().join("run").join("n1@127.0.0.1.ready")
    );

    let expected = format!(
        "watch={} ready={} extra=42",
        std::process::id(),
        node.ready_path().display()
    );
    let log_path = node.log_path().to_owned();
    eventually("log lines", || {
        let log = fs::read_to_string(&log_path).unwrap_or_default();
        log.contains(&expected) && log.contains("to-stderr")
    })
    .await;
    assert_eq!(node.tail_log(1).unwrap(), vec!["to-stderr"]);

    cluster.wait_all_ready(T).await.unwrap();
    assert!(matches!(
        cluster.spawn(sh("n1@127.0.0.1", "true")),
        Err(LaunchError::DuplicateName(_))
    ));
}

#[tokio::test]
async fn never_ready_reports_in_plain_english_with_log_tail() {
    let dir = tempfile::tempdir().unwrap();
    let mut node = NodeProcess::spawn(
        sh(
            "slow@127.0.0.1",
            "i=1; while [ $i -le 30 ]; do echo \"log line $i\"; i=$((i+1)); done; exec sleep 30",
        ),
        dir.path(),
    )
    .unwrap();
    let start = Instant::now();
    let err = node
        .wait_ready(Duration::from_millis(500))
        .await
        .unwrap_err();
    assert!(start.elapsed() >= Duration::from_millis(500));
    let LaunchError::NotReady(report) = &err else {
        panic!("unexpected error {err:?}");
    };
    assert!(report.exited.is_none());
    assert_eq!(report.log_tail.len(), 20);
    let text = err.to_string();
    println!("{text}");
    assert!(text.contains("node slow@127.0.0.1 did not become ready within 0.5 seconds"));
    assert!(text.contains("still running"));
    assert!(text.contains("log line 30"));
    assert!(text.contains("log line 11"));
    assert!(!text.contains("log line 10\n"));
    assert!(text.contains(&node.log_path().display().to_string()));
}

#[tokio::test]
async fn exited_before_ready_reports_status_without_waiting_out_the_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let mut node = NodeProcess::spawn(
        sh(
            "crash@127.0.0.1",
            "echo 'panicked at src/main.rs: boom' >&2; exit 3",
        ),
        dir.path(),
    )
    .unwrap();
    let start = Instant::now();
    let err = node.wait_ready(Duration::from_secs(20)).await.unwrap_err();
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "should fail fast"
    );
    let text = err.to_string();
    println!("{text}");
    assert!(text.contains("node crash@127.0.0.1 did not become ready"));
    assert!(text.contains("exited (exit code 3)"));
    assert!(text.contains("20 seconds"));
    assert!(text.contains("panicked at src/main.rs: boom"));
    assert!(matches!(node.state(), NodeState::Exited(s) if s.code() == Some(3)));
}

#[tokio::test]
async fn kill_is_verified_and_takes_the_whole_group() {
    let dir = tempfile::tempdir().unwrap();
    let gc_file = dir.path().join("gc.pid");
    let script = format!(
        r#"sleep 30 & echo $! > "{}"; touch "$NETSPLIT_READY_FILE"; wait"#,
        gc_file.display()
    );
    let mut node = NodeProcess::spawn(sh("k@127.0.0.1", &script), dir.path()).unwrap();
    node.wait_ready(T).await.unwrap();
    let pid = node.pid();
    let grandchild = read_pid_file(&gc_file).await;
    assert!(pid_alive(grandchild));

    let status = node.kill().await.unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(9));
    assert!(!pid_alive(pid));
    assert!(!pid_alive(grandchild), "grandchild must die with the group");
    assert!(!group_alive(pid));
    assert!(!registered_groups().contains(&(pid as i32)));
    assert!(matches!(node.state(), NodeState::Exited(_)));
    // Killing again is harmless.
    node.kill().await.unwrap();
}

#[tokio::test]
async fn pause_and_resume_are_verified() {
    let dir = tempfile::tempdir().unwrap();
    let mut node = NodeProcess::spawn(sh("p@127.0.0.1", READY_THEN_SLEEP), dir.path()).unwrap();
    node.wait_ready(T).await.unwrap();
    let pid = node.pid();

    node.pause().await.unwrap();
    assert_eq!(proc_state(pid), Some('T'));
    assert_eq!(node.state(), NodeState::Paused);

    node.resume().await.unwrap();
    assert_ne!(proc_state(pid), Some('T'));
    assert_eq!(node.state(), NodeState::Running);

    // A paused node can still be killed.
    node.pause().await.unwrap();
    node.kill().await.unwrap();
    assert!(!pid_alive(pid));
    assert!(node.pause().await.is_err(), "cannot pause an exited node");
}

#[tokio::test]
async fn stop_is_graceful_then_forceful() {
    let dir = tempfile::tempdir().unwrap();
    let graceful = r#"trap 'echo got TERM; exit 0' TERM; touch "$NETSPLIT_READY_FILE"; while true; do sleep 0.05; done"#;
    let mut node = NodeProcess::spawn(sh("g@127.0.0.1", graceful), dir.path()).unwrap();
    node.wait_ready(T).await.unwrap();
    // Even when paused, SIGTERM gets acted on (stop also sends SIGCONT).
    node.pause().await.unwrap();
    let status = node.stop(T).await.unwrap();
    assert_eq!(status.code(), Some(0));
    assert!(fs::read_to_string(node.log_path())
        .unwrap()
        .contains("got TERM"));

    let stubborn = r#"trap '' TERM; touch "$NETSPLIT_READY_FILE"; while true; do sleep 0.05; done"#;
    let mut node = NodeProcess::spawn(sh("s@127.0.0.1", stubborn), dir.path()).unwrap();
    node.wait_ready(T).await.unwrap();
    let pid = node.pid();
    let start = Instant::now();
    let status = node.stop(Duration::from_millis(300)).await.unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(9));
    assert!(start.elapsed() >= Duration::from_millis(300));
    assert!(!group_alive(pid));
}

#[tokio::test]
async fn restart_removes_stale_ready_file_and_starts_a_new_process() {
    let dir = tempfile::tempdir().unwrap();
    // Becomes ready only after a moment, so a stale ready file would be seen.
    let script = r#"echo "run $$"; sleep 0.3; touch "$NETSPLIT_READY_FILE"; exec sleep 30"#;
    let mut cluster = Cluster::new(dir.path()).unwrap();
    cluster.spawn(sh("r@127.0.0.1", script)).unwrap();
    let node = cluster.node_mut("r@127.0.0.1").unwrap();
    node.wait_ready(T).await.unwrap();
    let old_pid = node.pid();

    node.restart().await.unwrap();
    assert!(!pid_alive(old_pid));
    assert!(!group_alive(old_pid));
    assert_ne!(node.pid(), old_pid);
    assert_eq!(node.incarnation(), 2);
    assert!(!node.is_ready(), "stale ready file must be gone");
    node.wait_ready(T).await.unwrap();
    assert_eq!(node.state(), NodeState::Running);

    let log = fs::read_to_string(node.log_path()).unwrap();
    assert!(log.contains(&format!("run {old_pid}")));
    assert!(log.contains(&format!("run {}", node.pid())));
    assert!(log.contains("restarting r@127.0.0.1 (incarnation 2)"));
    assert_eq!(
        node.tail_current_log(10).unwrap()[0],
        "--- grader: restarting r@127.0.0.1 (incarnation 2) ---"
    );
}

#[tokio::test]
async fn dropping_the_cluster_leaves_no_process_behind() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = Cluster::new(dir.path().join("run")).unwrap();
    let mut leaders = Vec::new();
    let mut grandchildren = Vec::new();
    for i in 0..3 {
        let gc_file = dir.path().join(format!("gc{i}.pid"));
        // The grandchild ignores SIGTERM and outlives a crashing parent's
        // shell, yet shares its group.
        let script = format!(
            r#"(trap '' TERM; exec sleep 30) & echo $! > "{}"; touch "$NETSPLIT_READY_FILE"; exec sleep 30"#,
            gc_file.display()
        );
        let node = cluster
            .spawn(sh(&format!("d{i}@127.0.0.1"), &script))
            .unwrap();
        leaders.push(node.pid());
        grandchildren.push(gc_file);
    }
    cluster.wait_all_ready(T).await.unwrap();
    let mut gc_pids = Vec::new();
    for f in &grandchildren {
        gc_pids.push(read_pid_file(f).await);
    }
    for &pid in leaders.iter().chain(&gc_pids) {
        assert!(pid_alive(pid));
    }

    drop(cluster);
    for &pid in &leaders {
        assert!(!pid_alive(pid), "leader {pid} survived");
        assert!(!group_alive(pid), "group {pid} survived");
        assert!(!registered_groups().contains(&(pid as i32)));
        // Reaped, not a zombie: it is no longer our child at all.
        let r = nix::sys::wait::waitpid(
            nix::unistd::Pid::from_raw(pid as i32),
            Some(nix::sys::wait::WaitPidFlag::WNOHANG),
        );
        assert_eq!(r, Err(nix::errno::Errno::ECHILD));
    }
    for &pid in &gc_pids {
        assert!(!pid_alive(pid), "grandchild {pid} survived");
    }
}

#[tokio::test]
async fn orphaned_grandchild_of_an_exited_node_is_swept_on_drop() {
    let dir = tempfile::tempdir().unwrap();
    let gc_file = dir.path().join("gc.pid");
    // The node exits at once but leaves a helper running in its group.
    let script = format!(
        r#"sleep 30 & echo $! > "{}"; touch "$NETSPLIT_READY_FILE"; exit 0"#,
        gc_file.display()
    );
    let mut node = NodeProcess::spawn(sh("o@127.0.0.1", &script), dir.path()).unwrap();
    let gc = read_pid_file(&gc_file).await;
    let pid = node.pid();
    eventually("node exit", || matches!(node.state(), NodeState::Exited(_))).await;
    assert!(pid_alive(gc));
    assert!(group_alive(pid));
    drop(node);
    assert!(!pid_alive(gc));
    assert!(!group_alive(pid));
}

#[tokio::test]
async fn spawn_errors_are_plain() {
    let dir = tempfile::tempdir().unwrap();
    let err = NodeProcess::spawn(
        NodeSpec::new("x@127.0.0.1", "/definitely/not/a/program"),
        dir.path(),
    )
    .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("could not start node x@127.0.0.1"), "{text}");
    assert!(matches!(
        NodeProcess::spawn(sh("a/b", "true"), dir.path()),
        Err(LaunchError::InvalidName(_))
    ));
}
