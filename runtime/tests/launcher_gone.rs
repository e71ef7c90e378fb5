//! The parent-death safeguard (`NETSPLIT_WATCH_PID`) with real processes:
//! a node must exit once the process it watches has exited, even when that
//! process has not been reaped and lingers as a zombie, which `kill(pid, 0)`
//! still finds. That is what a grader looks like after a SIGKILL while the
//! shell or IDE that started it is not waiting for it.
#![cfg(unix)]

mod os_node;

use os_node::mapper;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_netsplit-node");

/// How long a node may take to notice: it polls every 200 ms.
const NOTICE: Duration = Duration::from_secs(3);

/// Blocks until our child `pid` has exited, without reaping it: it stays a
/// zombie until the test waits for it.
fn wait_exited_unreaped(pid: u32) {
    // SAFETY: a zeroed siginfo_t is a valid buffer for waitid to fill.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    // SAFETY: waitid(2) on a child of ours, with WNOWAIT: nothing is reaped.
    let rc = unsafe {
        libc::waitid(
            libc::P_PID,
            pid as libc::id_t,
            &mut info,
            libc::WEXITED | libc::WNOWAIT,
        )
    };
    assert_eq!(rc, 0, "waitid: {}", std::io::Error::last_os_error());
}

/// Whether `pid` is still in the process table (a zombie counts).
fn in_process_table(pid: u32) -> bool {
    // SAFETY: signal 0 sends nothing.
    unsafe { libc::kill(pid as i32, 0) == 0 }
}

/// The node's log, for failure messages.
fn log(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// What the test started, killed and reaped whatever the outcome.
struct Cleanup {
    /// Children of the test, reaped on drop.
    children: Vec<Child>,
    /// A node started by a child of the test: killed on drop unless it was
    /// seen to exit, and reaped if it became ours (see [`adopt_orphans`]).
    orphan: Option<u32>,
    alive: bool,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let (Some(pid), true) = (self.orphan, self.alive) {
            // SAFETY: kill(2); the node has not been seen to exit, so the
            // pid is still the node's.
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
        }
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        if let Some(pid) = self.orphan {
            // SAFETY: waitpid(2) on one pid; ECHILD at once if it is not ours.
            unsafe { libc::waitpid(pid as i32, std::ptr::null_mut(), 0) };
        }
    }
}

/// Makes orphaned descendants of this test process its children (Linux's
/// child subreaper), so the test reaps the node whose parent exits instead
/// of leaving that to an init process that may not reap at all. Elsewhere
/// the system's init reaps it.
fn adopt_orphans() {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: prctl(2) with PR_SET_CHILD_SUBREAPER takes one integer.
        let rc = unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1) };
        assert_eq!(rc, 0, "prctl: {}", std::io::Error::last_os_error());
    }
}

/// The watched process is the node's parent, a shell that starts the node,
/// waits until it is ready, and exits. The test, the shell's parent, does
/// not reap it until the end, so it stays a zombie the whole time.
#[test]
fn a_node_exits_when_its_parent_exits_even_unreaped() {
    adopt_orphans();
    let (_rt, _pm, addr) = mapper();
    let dir = tempfile::tempdir().unwrap();
    let ready = dir.path().join("node.ready");
    let stderr = dir.path().join("node.log");
    // The node reads its commands from fd 3, the test's pipe: a background
    // job's own stdin would be /dev/null, and the node would quit at EOF.
    let script = r#"
        exec 3<&0
        NETSPLIT_WATCH_PID=$$ NETSPLIT_READY_FILE="$READY" "$@" <&3 3<&- &
        echo "node $!"
        i=0
        while [ ! -e "$READY" ] && [ "$i" -lt 400 ]; do sleep 0.05; i=$((i + 1)); done
        exit 0
    "#;
    let shell = Command::new("sh")
        .args(["-c", script, "sh", BIN])
        .args(["--name", "unreaped@127.0.0.1", "--portmap", &addr])
        .args(["--cookie", "x", "--net-ticktime", "2"])
        .env("READY", &ready)
        .env("NETSPLIT_COOKIE_FILE", dir.path().join("cookie"))
        .env_remove("NETSPLIT_WATCH_PID")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&stderr).unwrap())
        .spawn()
        .unwrap();
    let shell_pid = shell.id();
    let mut cleanup = Cleanup {
        children: vec![],
        orphan: None,
        alive: false,
    };
    let mut shell = shell;
    let out = shell.stdout.take().unwrap();
    cleanup.children.push(shell);
    // The shell's stdout is the node's too: it reaches end-of-file once
    // both have exited.
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for l in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(l).is_err() {
                break;
            }
        }
    });
    let first = lines.recv_timeout(Duration::from_secs(20)).unwrap();
    let node_pid: u32 = first
        .strip_prefix("node ")
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("unexpected first line {first:?}"));
    cleanup.orphan = Some(node_pid);
    cleanup.alive = true;

    wait_exited_unreaped(shell_pid);
    assert!(
        ready.exists(),
        "the node never got ready:\n{}",
        log(&stderr)
    );
    assert!(in_process_table(shell_pid), "the shell was reaped already");
    let deadline = Instant::now() + NOTICE;
    loop {
        match lines.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(_) => continue,
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => panic!(
                "the node outlived its parent (a zombie) by more than {NOTICE:?}:\n{}",
                log(&stderr)
            ),
        }
    }
    cleanup.alive = false;
    assert!(
        log(&stderr).contains(&format!("the launching process {shell_pid} is gone")),
        "{}",
        log(&stderr)
    );
}

/// The watched process is not the node's parent: a process of the test's
/// that has exited and that the test does not reap.
#[test]
fn a_node_exits_when_the_process_it_watches_is_a_zombie() {
    let (_rt, _pm, addr) = mapper();
    let dir = tempfile::tempdir().unwrap();
    let stderr = dir.path().join("node.log");
    let zombie = Command::new("sh").args(["-c", "exit 0"]).spawn().unwrap();
    let zombie_pid = zombie.id();
    let mut cleanup = Cleanup {
        children: vec![zombie],
        orphan: None,
        alive: false,
    };
    wait_exited_unreaped(zombie_pid);
    assert!(in_process_table(zombie_pid));
    let started = Instant::now();
    let node = Command::new(BIN)
        .args(["--name", "zombie-watcher@127.0.0.1", "--portmap", &addr])
        .args(["--cookie", "x", "--net-ticktime", "2"])
        .env("NETSPLIT_WATCH_PID", zombie_pid.to_string())
        .env("NETSPLIT_COOKIE_FILE", dir.path().join("cookie"))
        .env_remove("NETSPLIT_READY_FILE")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&stderr).unwrap())
        .spawn()
        .unwrap();
    cleanup.children.push(node);
    let node = cleanup.children.last_mut().unwrap();
    let status = loop {
        if let Some(s) = node.try_wait().unwrap() {
            break s;
        }
        assert!(
            started.elapsed() < NOTICE,
            "the node outlived the zombie it watches by more than {NOTICE:?}:\n{}",
            log(&stderr)
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(3), "{}", log(&stderr));
    assert!(
        log(&stderr).contains(&format!("the launching process {zombie_pid} is gone")),
        "{}",
        log(&stderr)
    );
}
