//! Real OS processes on loopback: what students and the grader will see.

mod os_node;

use netsplit::portmap::PortMapper;
use os_node::Node;
use std::io::Write;
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_netsplit-node");

/// Starts `netsplit-node` as `name` with a 2 s net_ticktime, a cookie file of
/// its own, and `extra` flags.
fn start(name: &str, extra: &[&str]) -> Node {
    let mut args = vec!["--net-ticktime", "2"];
    args.extend_from_slice(extra);
    Node::start(BIN, name, &args)
}

/// A port mapper of the test's own, on an ephemeral port.
fn mapper(rt: &tokio::runtime::Runtime) -> (PortMapper, String) {
    let pm = rt
        .block_on(PortMapper::bind("127.0.0.1:0".parse().unwrap()))
        .unwrap();
    let addr = pm.addr().to_string();
    (pm, addr)
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap()
}

fn cluster(names: &[&str], extra: &[&str]) -> (tokio::runtime::Runtime, PortMapper, Vec<Node>) {
    let rt = rt();
    let (pm, addr) = mapper(&rt);
    let mut args = vec!["--portmap", addr.as_str(), "--cookie", "test"];
    args.extend_from_slice(extra);
    let nodes = names.iter().map(|n| start(n, &args)).collect();
    (rt, pm, nodes)
}

#[test]
fn three_nodes_form_a_full_mesh_from_one_connect_each() {
    let (_rt, _pm, mut n) = cluster(&["m1@127.0.0.1", "m2@127.0.0.1", "m3@127.0.0.1"], &[]);
    assert_eq!(n[0].answer("connect m2@127.0.0.1"), "true");
    assert_eq!(n[2].answer("connect m2@127.0.0.1"), "true");
    // m1 and m3 never connected to each other explicitly.
    n[0].expect(Duration::from_secs(5), |l| l == "nodeup m3@127.0.0.1");
    assert_eq!(n[0].nodes(), "[m2@127.0.0.1, m3@127.0.0.1]");
    // Each side marks the new connection up on its own: m3 may list m1 a
    // moment after m1 listed m3.
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut seen = n[2].nodes();
    while seen != "[m1@127.0.0.1, m2@127.0.0.1]" && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
        seen = n[2].nodes();
    }
    assert_eq!(seen, "[m1@127.0.0.1, m2@127.0.0.1]");
    assert_eq!(n[0].answer("ping m3@127.0.0.1"), "pong");
}

#[test]
fn kill_9_is_seen_as_connection_closed_promptly() {
    let (_rt, _pm, mut n) = cluster(&["k1@127.0.0.1", "k2@127.0.0.1", "k3@127.0.0.1"], &[]);
    n[0].answer("connect k2@127.0.0.1");
    n[0].answer("connect k3@127.0.0.1");
    n[1].expect(Duration::from_secs(5), |l| l == "nodeup k3@127.0.0.1");
    let t0 = Instant::now();
    n[2].signal(libc::SIGKILL);
    n[0].expect(Duration::from_secs(1), |l| {
        l == "nodedown k3@127.0.0.1 connection_closed"
    });
    n[1].expect(Duration::from_secs(1), |l| {
        l == "nodedown k3@127.0.0.1 connection_closed"
    });
    assert!(t0.elapsed() < Duration::from_secs(1));
}

#[test]
fn sigstop_is_seen_as_tick_timeout_and_nothing_reconnects_after_sigcont() {
    // --net-ticktime 2 with intensity 4: detection between 1.5 s and 2.5 s.
    let (_rt, _pm, mut n) = cluster(&["p1@127.0.0.1", "p2@127.0.0.1"], &[]);
    n[0].answer("connect p2@127.0.0.1");
    n[1].expect(Duration::from_secs(5), |l| l == "nodeup p1@127.0.0.1");
    let t0 = Instant::now();
    n[1].signal(libc::SIGSTOP);
    n[0].expect(Duration::from_secs(4), |l| {
        l == "nodedown p2@127.0.0.1 net_tick_timeout"
    });
    let el = t0.elapsed();
    assert!(
        el >= Duration::from_millis(1400) && el <= Duration::from_millis(3000),
        "detected after {el:?}"
    );
    n[1].signal(libc::SIGCONT);
    // The resumed node finds its connection closed by the peer.
    n[1].expect(Duration::from_secs(4), |l| {
        l.starts_with("nodedown p1@127.0.0.1")
    });
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(n[0].nodes(), "[]", "no automatic reconnect");
    assert_eq!(n[1].nodes(), "[]");
    assert_eq!(n[1].answer("connect p1@127.0.0.1"), "true");
}

#[test]
fn a_wrong_cookie_is_refused_and_both_sides_say_why() {
    let rt = rt();
    let (_pm, addr) = mapper(&rt);
    let mut a = start("c1@127.0.0.1", &["--portmap", &addr, "--cookie", "right"]);
    let mut b = start("c2@127.0.0.1", &["--portmap", &addr, "--cookie", "wrong"]);
    assert_eq!(b.answer("connect c1@127.0.0.1"), "false");
    assert_eq!(a.nodes(), "[]");
    std::thread::sleep(Duration::from_millis(300));
    for (who, text) in [("c1", a.stderr_text()), ("c2", b.stderr_text())] {
        assert!(
            text.contains("cookies differ"),
            "{who} did not log the cookie mismatch:\n{text}"
        );
    }
}

#[test]
fn a_hidden_node_is_not_listed_and_not_meshed() {
    let rt = rt();
    let (_pm, addr) = mapper(&rt);
    let base = ["--portmap", addr.as_str(), "--cookie", "test"];
    let mut a = start("h1@127.0.0.1", &base);
    let mut b = start("h2@127.0.0.1", &base);
    let mut h = start("hid@127.0.0.1", &[&base[..], &["--hidden"]].concat());
    a.answer("connect h2@127.0.0.1");
    assert_eq!(h.answer("connect h1@127.0.0.1"), "true");
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(a.nodes(), "[h2@127.0.0.1]");
    assert_eq!(a.answer("nodes hidden"), "[hid@127.0.0.1]");
    assert_eq!(b.answer("nodes hidden"), "[]");
    assert_eq!(h.nodes(), "[]");
}

#[test]
fn garbage_on_the_node_port_leaves_the_node_serving() {
    let (_rt, _pm, mut n) = cluster(&["g1@127.0.0.1", "g2@127.0.0.1"], &[]);
    let port = n[0].port;
    let mut junk: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    junk[..4].copy_from_slice(&u32::MAX.to_be_bytes()); // a huge frame length
    for chunk in [&junk[..], &junk[4..], b"GET / HTTP/1.1\r\n\r\n"] {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        let _ = s.write_all(chunk);
        drop(s);
    }
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(n[1].answer("connect g1@127.0.0.1"), "true");
    assert_eq!(n[1].answer("ping g1@127.0.0.1"), "pong");
}

#[test]
fn the_port_mapper_outlives_the_node_that_served_it() {
    // No --portmap: nodes share a per-host mapper on a port of our choosing,
    // served by whichever node got there first.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let p = port.to_string();
    let args = ["--portmap-port", p.as_str(), "--cookie", "test"];
    let first = start("pm1@127.0.0.1", &args);
    let mut second = start("pm2@127.0.0.1", &args);
    drop(first); // SIGKILL: the mapper it served dies with it
    std::thread::sleep(Duration::from_millis(500));
    let mut third = start("pm3@127.0.0.1", &args);
    assert_eq!(third.answer("connect pm2@127.0.0.1"), "true");
    assert_eq!(second.nodes(), "[pm3@127.0.0.1]");
    // And a duplicate name is refused with a clear message.
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .args(["--name", "pm2@127.0.0.1"])
        .args(args)
        .env("NETSPLIT_COOKIE_FILE", dir.path().join("c"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("already in use"), "{err}");
}

#[test]
fn a_node_exits_when_its_launcher_is_gone() {
    // NETSPLIT_WATCH_PID names a process that exits at once.
    let mut short = Command::new("true").spawn().unwrap();
    let gone = short.id();
    short.wait().unwrap();
    let rt = rt();
    let (_pm, addr) = mapper(&rt);
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(BIN)
        .args([
            "--name",
            "orphan@127.0.0.1",
            "--portmap",
            &addr,
            "--cookie",
            "x",
        ])
        .env("NETSPLIT_WATCH_PID", gone.to_string())
        .env("NETSPLIT_COOKIE_FILE", dir.path().join("c"))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the node outlived its launcher");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = SocketAddr::from(([127, 0, 0, 1], 0));
}

#[test]
fn ctrl_z_on_the_node_serving_the_port_mapper_hands_the_map_over() {
    // As in the setup chapter's demo: the first node serves the host's map,
    // and is suspended with Ctrl-Z (SIGTSTP).
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let p = port.to_string();
    let args = ["--portmap-port", p.as_str(), "--cookie", "test"];
    let mut first = start("tz1@127.0.0.1", &args);
    let _second = start("tz2@127.0.0.1", &args);
    first.signal(libc::SIGTSTP);
    std::thread::sleep(Duration::from_millis(500));
    // A node started now gets the map from another node, and reaches others.
    let t0 = Instant::now();
    let mut third = start("tz3@127.0.0.1", &args);
    assert!(t0.elapsed() < Duration::from_secs(5), "{:?}", t0.elapsed());
    assert_eq!(third.answer("connect tz2@127.0.0.1"), "true");
    // After fg, the first node is registered again and reachable by name.
    first.signal(libc::SIGCONT);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let got = third.answer("connect tz1@127.0.0.1");
        if got == "true" {
            break;
        }
        assert!(Instant::now() < deadline, "{got}\n{}", first.stderr_text());
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(first.answer("ping tz2@127.0.0.1"), "pong");
}
