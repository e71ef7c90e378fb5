//! The `:global` and `:pg` examples (drills 3 and 4 of the distribution chapter)
//! run as real node processes on loopback, driven through their stdin.

mod os_node;

use os_node::{mapper, node_dir, NodeProc, T};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// Builds the examples once per test binary and returns their paths. Cargo
/// releases its lock while tests run; under `cargo test` (all targets) the
/// examples are already built and this is a no-op. Same profile as the tests,
/// same target directory (inherited through the environment).
fn example(name: &str) -> PathBuf {
    static BUILT: OnceLock<Vec<(String, PathBuf)>> = OnceLock::new();
    let built = BUILT.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut args = vec![
            "build",
            "-p",
            "netsplit",
            "--example",
            "global_counter",
            "--example",
            "pg_pubsub",
            "--message-format=json-render-diagnostics",
        ];
        if !cfg!(debug_assertions) {
            args.push("--release");
        }
        let out = Command::new(cargo)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .args(args)
            .stderr(Stdio::inherit())
            .output()
            .expect("run cargo to build the examples");
        assert!(out.status.success(), "building the examples failed");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| v["reason"] == "compiler-artifact")
            .filter_map(|v| {
                let exe = v["executable"].as_str()?;
                Some((
                    v["target"]["name"].as_str()?.to_string(),
                    PathBuf::from(exe),
                ))
            })
            .collect()
    });
    built
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, p)| p.clone())
        .unwrap_or_else(|| panic!("example {name} was not built: {built:?}"))
}

/// Starts `exe` (an example node) as `name`, connected to `connect` if given.
fn start(exe: &PathBuf, name: &str, portmap: &str, connect: Option<&str>) -> NodeProc {
    let mut cmd = Command::new(exe);
    cmd.args(["--name", name, "--cookie", "test", "--portmap", portmap])
        .args(["--net-ticktime", "2"]);
    if let Some(c) = connect {
        cmd.args(["--connect", c]);
    }
    NodeProc::start(name, cmd, node_dir()).0
}

/// Three nodes of `example`, the second and third connected to the first, meshed.
fn three(example_name: &str, prefix: &str, pm: &str) -> Vec<NodeProc> {
    let exe = example(example_name);
    let first = format!("{prefix}1@127.0.0.1");
    let mut v = vec![start(&exe, &first, pm, None)];
    for i in 2..=3 {
        let name = format!("{prefix}{i}@127.0.0.1");
        v.push(start(&exe, &name, pm, Some(&first)));
    }
    let all: Vec<String> = (1..=3).map(|i| format!("{prefix}{i}@127.0.0.1")).collect();
    for (i, n) in v.iter_mut().enumerate() {
        let others: Vec<&str> = all
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .map(|(_, s)| s.as_str())
            .collect();
        n.ask_until("nodes", "nodes ", &format!("nodes [{}]", others.join(",")));
    }
    v
}

#[test]
fn drill_3_a_globally_registered_counter_used_from_three_nodes() {
    let (_rt, _pm, addr) = mapper();
    let mut n = three("global_counter", "gc", &addr);
    for p in n.iter_mut() {
        assert_eq!(p.ask("sync", "synced"), "synced");
    }

    // register / whereis / send, as in the drill's iex session.
    assert_eq!(n[0].ask("register shell", "register"), "register shell yes");
    assert_eq!(n[1].ask("register shell", "register"), "register shell no");
    let owner = n[0].ask("where shell", "where").replace("where shell ", "");
    assert!(owner.contains("gc1@127.0.0.1"), "{owner}");
    assert_eq!(
        n[2].ask("where shell", "where"),
        format!("where shell {owner}")
    );
    n[1].ask("send shell hello", "sent");
    n[0].expect(T, |l| l == "got hello from gc2@127.0.0.1");
    assert!(n[1].ask("send nobody hi", "error").contains("no process"));

    // Lookup-or-start from all three nodes at once: exactly one starts it.
    for p in n.iter_mut() {
        p.cmd("start");
    }
    let answers: Vec<String> = n
        .iter_mut()
        .map(|p| {
            p.expect(T, |l| {
                l.starts_with("started") || l.starts_with("already_started")
            })
        })
        .collect();
    let started: Vec<&String> = answers
        .iter()
        .filter(|a| a.starts_with("started"))
        .collect();
    assert_eq!(started.len(), 1, "{answers:?}");
    let pid = started[0].replace("started ", "");
    for a in &answers {
        assert!(
            a.ends_with(&pid),
            "every node names the same counter: {answers:?}"
        );
    }
    let host = n
        .iter()
        .position(|p| pid.contains(&format!("<{}.", p.name)))
        .expect("the counter runs on one of the nodes");

    // Increment from every node, read from every node.
    for p in n.iter_mut() {
        for _ in 0..5 {
            assert_eq!(p.ask("inc", "inc"), "inc ok");
        }
    }
    for p in n.iter_mut() {
        p.ask_until("get", "count", "count 15");
    }

    // The counter's node dies: its name disappears everywhere, and the counter
    // can be started again elsewhere (from zero: the state died with it).
    n[host].kill();
    let mut rest: Vec<NodeProc> = n
        .into_iter()
        .enumerate()
        .filter(|(i, _)| *i != host)
        .map(|(_, p)| p)
        .collect();
    for p in rest.iter_mut() {
        p.ask_until("where counter", "where", "where counter undefined");
    }
    assert!(rest[0].ask("start", "started").starts_with("started "));
    rest[1].ask_until("get", "count", "count 0");
}

#[test]
fn drill_4_pub_sub_over_pg_across_three_nodes() {
    let (_rt, _pm, addr) = mapper();
    let mut n = three("pg_pubsub", "ps", &addr);

    let s1 = n[0]
        .ask("sub news", "subscribed")
        .replace("subscribed news ", "");
    let s2 = n[1]
        .ask("sub news", "subscribed")
        .replace("subscribed news ", "");
    n[2].ask_until("members news", "members", &{
        let mut v = [s1.clone(), s2.clone()];
        v.sort();
        format!("members news 2 [{}]", v.join(","))
    });

    // Publish from the third node: both subscribers get it.
    assert_eq!(
        n[2].ask("pub news Breaking: Rust is awesome", "published"),
        "published news 2"
    );
    for p in &mut n[..2] {
        p.expect(T, |l| {
            l == "got news Breaking: Rust is awesome from ps3@127.0.0.1"
        });
    }

    // Watch the group from node 1, unsubscribe node 2: a leave event, one member left.
    assert_eq!(
        n[0].ask("watch news", "watching")
            .matches("@127.0.0.1")
            .count(),
        2
    );
    assert_eq!(n[1].ask("unsub news", "unsubscribed"), "unsubscribed news");
    n[0].expect(T, |l| l == format!("event leave news {s2}"));
    n[2].ask_until("members news", "members", &format!("members news 1 [{s1}]"));
    assert_eq!(
        n[2].ask("pub news only one", "published"),
        "published news 1"
    );
    n[0].expect(T, |l| l == "got news only one from ps3@127.0.0.1");

    // Subscribe again on node 2, then kill node 2: join, then leave when it dies.
    let s2b = n[1]
        .ask("sub news", "subscribed")
        .replace("subscribed news ", "");
    n[0].expect(T, |l| l == format!("event join news {s2b}"));
    n[1].kill();
    n[0].expect(T, |l| l == format!("event leave news {s2b}"));
    n[2].ask_until("members news", "members", &format!("members news 1 [{s1}]"));
    assert_eq!(n[2].ask("groups", "groups"), "groups [news]");
}
