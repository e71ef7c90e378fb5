//! Part 5's terminal client (`chat-client`, provided in the starter) with
//! real nodes of the reference solution: two users on two nodes talk, and a
//! client whose node is killed fails over to the next address and resumes,
//! showing every message it missed once and nothing twice.

use grader::harness::{Harness, StageSetup};
use grader::run::output::Output;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

/// A client running with piped stdin (its non-interactive mode), its
/// output collected in a file.
struct Client {
    child: Child,
    stdin: Option<ChildStdin>,
    out: PathBuf,
}

impl Client {
    fn start(binary: &Path, dir: &Path, user: &str, addrs: &[String]) -> Client {
        let out = dir.join(format!("{user}.out"));
        let file = std::fs::File::create(&out).unwrap();
        let mut child = Command::new(binary)
            .arg("--user")
            .arg(user)
            .args(addrs)
            .stdin(Stdio::piped())
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .expect("chat-client starts");
        let stdin = child.stdin.take();
        Client { child, stdin, out }
    }

    fn type_line(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        writeln!(stdin, "{line}").unwrap();
        stdin.flush().unwrap();
    }

    fn output(&self) -> String {
        std::fs::read_to_string(&self.out).unwrap_or_default()
    }

    /// Waits until the output has `text` (bounded), and returns the output.
    async fn wait_for(&self, text: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let out = self.output();
            if out.contains(text) {
                return out;
            }
            assert!(
                Instant::now() < deadline,
                "no {text:?} in the client's output:\n{out}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Closes stdin (end of input) and waits for the client to exit.
    async fn finish(mut self) -> (i32, String) {
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return (status.code().unwrap_or(-1), self.output());
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                panic!(
                    "the client did not exit at the end of its input:\n{}",
                    self.output()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The solution's node binary and the starter's terminal client.
fn binaries() -> (PathBuf, PathBuf) {
    let out = Output::new(false);
    let node =
        grader::builder::build("chat-solution", None, None, &out).expect("the solution builds");
    let client = grader::builder::build_bins("chat", &["chat-client"], None, None, &out)
        .expect("the starter's client builds");
    assert!(client.is_file(), "no {}", client.display());
    (node, client)
}

async fn cluster(node: PathBuf, dir: &Path, shorts: &[&str]) -> (Harness, Vec<String>) {
    let setup = StageSetup {
        binary: node,
        number: 1,
        seed: 1,
        time_scale: 2.0,
        dir: dir.to_path_buf(),
    };
    let mut h = Harness::new(setup, Output::new(false))
        .await
        .expect("harness starts");
    grader::parts::chat::start_nodes(&mut h, shorts)
        .await
        .expect("nodes start");
    h.mesh(shorts).await.expect("the nodes connect");
    let addrs = shorts
        .iter()
        .map(|s| h.endpoint(s, "client").unwrap().to_string())
        .collect();
    (h, addrs)
}

/// Lines of `out` that show a message.
fn messages(out: &str) -> Vec<&str> {
    out.lines()
        .filter(|l| l.starts_with("[general] "))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_users_on_two_nodes_talk() {
    let (node, client) = binaries();
    let dir = tempfile::tempdir().unwrap();
    let (_h, addrs) = cluster(node, dir.path(), &["n1", "n2"]).await;
    let mut bob = Client::start(&client, dir.path(), "bob", &addrs[1..]);
    bob.wait_for("as bob").await;
    bob.type_line("/join general");
    bob.wait_for("* you joined general").await;
    let mut alice = Client::start(&client, dir.path(), "alice", &addrs[..1]);
    alice.type_line("/join general");
    alice.type_line("hello bob");
    alice.type_line("/who");
    alice.type_line("/pm bob are you there?");
    bob.wait_for("[general] alice: hello bob  #1").await;
    bob.wait_for("(pm from alice) are you there?").await;
    bob.type_line("hi alice");
    alice.wait_for("[general] bob: hi alice  #1").await;
    let (code, out) = alice.finish().await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("* in general: alice, bob"), "{out}");
    assert_eq!(
        messages(&out),
        [
            "[general] alice: hello bob  #1",
            "[general] bob: hi alice  #1"
        ],
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_whose_node_dies_resumes_on_the_next_one() {
    let (node, client) = binaries();
    let dir = tempfile::tempdir().unwrap();
    let (mut h, addrs) = cluster(node, dir.path(), &["n1", "n2"]).await;
    // The room lives on n2; carol is on n1 and knows n2's address too.
    let mut bob = Client::start(&client, dir.path(), "bob", &addrs[1..]);
    bob.type_line("/join general");
    bob.wait_for("* you joined general").await;
    let mut carol = Client::start(&client, dir.path(), "carol", &addrs);
    carol.type_line("/join general");
    carol.wait_for("* you joined general").await;
    bob.type_line("before 1");
    bob.type_line("before 2");
    carol.wait_for("bob: before 2").await;

    h.kill("n1").await.expect("n1 is killed");
    bob.type_line("while away 3");
    bob.type_line("while away 4");
    bob.wait_for("bob: while away 4").await;
    let out = carol.wait_for("* rejoined general").await;
    assert!(out.contains("lost the connection"), "{out}");
    bob.type_line("after 5");
    carol.wait_for("bob: after 5").await;
    let (code, out) = carol.finish().await;
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        messages(&out),
        [
            "[general] bob: before 1  #1",
            "[general] bob: before 2  #2",
            "[general] bob: while away 3  #3",
            "[general] bob: while away 4  #4",
            "[general] bob: after 5  #5",
        ],
        "every message once, in order, across the failover:\n{out}"
    );
}
