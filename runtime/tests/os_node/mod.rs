//! A node run as a child OS process: commands go to its stdin, its stdout is
//! read line by line, its stderr (the log) goes to a file shown when a test
//! fails. Shared by the test binaries that start real processes; each uses
//! part of it.
#![allow(dead_code)]

use netsplit::portmap::PortMapper;
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long a node may take to answer by default: generous, for debug builds
/// of several nodes sharing two cores with the other tests of the run.
pub const T: Duration = Duration::from_secs(20);

/// One node process; killed (and reaped) when dropped, whatever the test did.
pub struct NodeProc {
    pub name: String,
    child: Child,
    stdin: ChildStdin,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
    stderr: PathBuf,
    /// Kept so the directory lives as long as the node.
    _dir: tempfile::TempDir,
}

impl Drop for NodeProc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A directory of the node's own, for its log and any file it needs.
pub fn node_dir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

impl NodeProc {
    /// Starts `cmd` (program and arguments already set) as node `name`, with
    /// its log in `dir`, exiting if this test process dies; returns it with
    /// its `ready …` line once it prints one.
    pub fn start(name: &str, mut cmd: Command, dir: tempfile::TempDir) -> (NodeProc, String) {
        let stderr = dir.path().join("stderr.log");
        cmd.env("NETSPLIT_WATCH_PID", std::process::id().to_string())
            .env_remove("NETSPLIT_COOKIE")
            .env_remove("NETSPLIT_PORTMAP")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr).unwrap());
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        let stdin = child.stdin.take().unwrap();
        let out = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for l in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(l).is_err() {
                    break;
                }
            }
        });
        let mut n = NodeProc {
            name: name.into(),
            child,
            stdin,
            lines,
            seen: vec![],
            stderr,
            _dir: dir,
        };
        let ready = n.expect(T, |l| l.starts_with("ready "));
        (n, ready)
    }

    /// Sends one command line.
    pub fn cmd(&mut self, c: &str) {
        writeln!(self.stdin, "{c}").unwrap();
        self.stdin.flush().unwrap();
    }

    /// Waits for an output line matching `f`, skipping others; on timeout,
    /// fails showing everything the node printed and logged.
    pub fn expect(&mut self, within: Duration, f: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) => {
                    self.seen.push(l.clone());
                    if f(&l) {
                        return l;
                    }
                }
                Err(_) => panic!(
                    "{}: expected line not seen within {within:?}; stdout so far:\n{}\nstderr:\n{}",
                    self.name,
                    self.seen.join("\n"),
                    self.stderr_text()
                ),
            }
        }
    }

    /// Sends a command and returns the first line starting with `prefix`.
    pub fn ask(&mut self, c: &str, prefix: &str) -> String {
        self.cmd(c);
        self.expect(T, |l| l.starts_with(prefix))
    }

    /// Sends a command to a `netsplit-node` and returns its answer: the first
    /// line after the command's echo (`NAME> c`) that is not an event
    /// (`nodeup …`, `nodedown …`).
    pub fn answer(&mut self, c: &str) -> String {
        self.answer_unless(c, |_| false)
    }

    /// Like [`answer`](Self::answer), failing at once on a line `bad` accepts
    /// (an event the test forbids).
    pub fn answer_unless(&mut self, c: &str, bad: impl Fn(&str) -> bool) -> String {
        self.cmd(c);
        let echo = format!("> {c}");
        let name = self.name.clone();
        self.expect(T, |l| {
            assert!(!bad(l), "{name} printed {l:?}");
            l.ends_with(&echo)
        });
        self.expect(T, |l| {
            assert!(!bad(l), "{name} printed {l:?}");
            !l.starts_with("nodeup ") && !l.starts_with("nodedown ")
        })
    }

    /// Asks `c` (a `netsplit-node` command) until the answer is `want`, at most `T`.
    pub fn answer_until(&mut self, c: &str, want: &str) {
        self.until(c, want, |n| n.answer(c))
    }

    /// Asks `c` until the answer is `want` (the cluster converges), at most `T`.
    pub fn ask_until(&mut self, c: &str, prefix: &str, want: &str) {
        self.until(c, want, |n| n.ask(c, prefix))
    }

    fn until(&mut self, c: &str, want: &str, ask: impl Fn(&mut Self) -> String) {
        let deadline = Instant::now() + T;
        loop {
            let got = ask(self);
            if got == want {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{}: `{c}` still answers {got:?}, want {want:?}",
                self.name
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Sends a Unix signal to the process.
    pub fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on a pid this test spawned and has not reaped yet.
        unsafe { libc::kill(self.child.id() as i32, sig) };
    }

    /// Kills the process and reaps it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Everything the node logged so far.
    pub fn stderr_text(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }
}

/// A `netsplit-node` process and the port its ready line names.
pub struct Node {
    pub proc: NodeProc,
    pub port: u16,
}

impl std::ops::Deref for Node {
    type Target = NodeProc;
    fn deref(&self) -> &NodeProc {
        &self.proc
    }
}

impl std::ops::DerefMut for Node {
    fn deref_mut(&mut self) -> &mut NodeProc {
        &mut self.proc
    }
}

impl Node {
    /// Starts the node binary `bin` as `name` with `args` after `--name`,
    /// and a cookie file of its own (used unless `args` give `--cookie`).
    pub fn start(bin: &str, name: &str, args: &[&str]) -> Node {
        let dir = node_dir();
        let mut cmd = Command::new(bin);
        cmd.args(["--name", name])
            .args(args)
            .env("NETSPLIT_COOKIE_FILE", dir.path().join("cookie"));
        let (proc, ready) = NodeProc::start(name, cmd, dir);
        let port = ready.rsplit(' ').next().unwrap().parse().unwrap();
        Node { proc, port }
    }

    /// The `nodes` command's answer.
    pub fn nodes(&mut self) -> String {
        self.answer("nodes")
    }
}

/// A port mapper of the test's own on an ephemeral port, the runtime that
/// serves it (keep both alive as long as the nodes), and its address.
pub fn mapper() -> (tokio::runtime::Runtime, PortMapper, String) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let pm = rt
        .block_on(PortMapper::bind("127.0.0.1:0".parse().unwrap()))
        .unwrap();
    let addr = pm.addr().to_string();
    (rt, pm, addr)
}
