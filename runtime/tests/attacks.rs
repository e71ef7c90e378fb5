//! A peer without the cookie, sending raw bytes to real node processes on
//! loopback: it must not be able to cut, hold or impersonate anyone.
//!
//! The frames are written by hand here, from the handshake's wire format
//! (postcard: a variant index, then the fields; every frame behind a 4-byte
//! big-endian length), so the test speaks exactly as an outsider would.

mod os_node;

use netsplit::portmap::PortMapper;
use os_node::{Node, T};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_netsplit-node");
/// The handshake's protocol version.
const PROTO: u8 = 2;

/// Asks `c` and returns its answer, failing if a nodedown was printed in
/// between: the attacks must not cost any connection.
fn ask_no_nodedown(n: &mut Node, c: &str) -> String {
    n.answer_unless(c, |l| l.starts_with("nodedown"))
}

fn start(name: &str, portmap: &str) -> Node {
    Node::start(BIN, name, &["--portmap", portmap, "--cookie", "secret"])
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap()
}

/// A port mapper of the test's own and two nodes using it.
fn pair(a: &str, b: &str) -> (tokio::runtime::Runtime, PortMapper, Node, Node) {
    let rt = rt();
    let pm = rt
        .block_on(PortMapper::bind("127.0.0.1:0".parse().unwrap()))
        .unwrap();
    let addr = pm.addr().to_string();
    let (a, b) = (start(a, &addr), start(b, &addr));
    (rt, pm, a, b)
}

fn frame(body: &[u8]) -> Vec<u8> {
    let mut f = (body.len() as u32).to_be_bytes().to_vec();
    f.extend_from_slice(body);
    f
}

/// A Hello claiming to be `name` (which may be anything, valid or not).
fn hello(name: &str) -> Vec<u8> {
    let mut b = vec![0, PROTO, name.len() as u8];
    b.extend_from_slice(name.as_bytes());
    b.push(42); // creation 42 (a varint of one byte)
    b.push(0); // not hidden
    b.extend_from_slice(&[0x5a; 32]); // our challenge
    frame(&b)
}

/// An Ack whose digest is a guess: what a peer without the cookie can send.
fn forged_ack() -> Vec<u8> {
    let mut b = vec![2];
    b.extend_from_slice(&[0; 32]);
    frame(&b)
}

/// Reads one frame's variant index (1 Challenge, 4 Refused), or None at EOF.
fn read_variant(s: &mut TcpStream) -> Option<u8> {
    let mut len = [0u8; 4];
    s.read_exact(&mut len).ok()?;
    let mut body = vec![0u8; u32::from_be_bytes(len) as usize];
    s.read_exact(&mut body).ok()?;
    body.first().copied()
}

fn attacker(port: u16) -> TcpStream {
    let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(T)).unwrap();
    s
}

#[test]
fn a_forged_hello_for_a_connected_peer_costs_that_connection_nothing() {
    let (_rt, _pm, mut gold, mut silver) = pair("gold@127.0.0.1", "silver@127.0.0.1");
    assert_eq!(gold.answer("connect silver@127.0.0.1"), "true");
    silver.expect(T, |l| l == "nodeup gold@127.0.0.1");
    // Claim to be silver, and hold the handshake open for a while.
    let mut s = attacker(gold.port);
    s.write_all(&hello("silver@127.0.0.1")).unwrap();
    assert_eq!(read_variant(&mut s), Some(1), "expected a Challenge");
    for _ in 0..5 {
        assert_eq!(ask_no_nodedown(&mut gold, "ping silver@127.0.0.1"), "pong");
        std::thread::sleep(Duration::from_millis(200));
    }
    // A guessed proof is refused, and the real connection still stands.
    s.write_all(&forged_ack()).unwrap();
    assert_eq!(read_variant(&mut s), Some(4), "expected a refusal");
    assert_eq!(ask_no_nodedown(&mut gold, "nodes"), "[silver@127.0.0.1]");
    assert_eq!(ask_no_nodedown(&mut silver, "ping gold@127.0.0.1"), "pong");
    // Gold says who failed, from where, and does not blame silver.
    let log = gold.stderr_text();
    assert!(
        log.contains("from 127.0.0.1:") && log.contains("claiming to be silver@127.0.0.1"),
        "{log}"
    );
    assert!(!silver.stderr_text().contains("cookie"));
}

#[test]
fn a_held_forged_hello_does_not_keep_the_real_peer_out() {
    let (_rt, _pm, mut gold, mut silver) = pair("gold2@127.0.0.1", "silver2@127.0.0.1");
    let mut s = attacker(gold.port);
    s.write_all(&hello("silver2@127.0.0.1")).unwrap();
    assert_eq!(read_variant(&mut s), Some(1), "expected a Challenge");
    // The real silver connects while the forgery is held open.
    let t0 = Instant::now();
    assert_eq!(silver.answer("connect gold2@127.0.0.1"), "true");
    assert!(t0.elapsed() < Duration::from_secs(3), "{:?}", t0.elapsed());
    assert_eq!(gold.answer("ping silver2@127.0.0.1"), "pong");
    drop(s);
}

#[test]
fn a_node_does_not_wait_behind_a_forged_hello_to_reach_its_peer() {
    let (_rt, _pm, mut gold, _silver) = pair("gold3@127.0.0.1", "silver3@127.0.0.1");
    let mut s = attacker(gold.port);
    s.write_all(&hello("silver3@127.0.0.1")).unwrap();
    assert_eq!(read_variant(&mut s), Some(1), "expected a Challenge");
    // Gold's own message to silver dials out instead of queueing behind the
    // forgery until it times out.
    let t0 = Instant::now();
    assert_eq!(gold.answer("ping silver3@127.0.0.1"), "pong");
    assert!(t0.elapsed() < Duration::from_secs(3), "{:?}", t0.elapsed());
    drop(s);
}

#[test]
fn names_on_the_wire_are_validated() {
    let (_rt, _pm, mut gold, _silver) = pair("gold4@127.0.0.1", "silver4@127.0.0.1");
    for bad in [
        "evil@127.0.0.1\nERROR a forged log line",
        "no-host-at-all",
        "a@b@c",
    ] {
        let mut s = attacker(gold.port);
        s.write_all(&hello(bad)).unwrap();
        // Closed without a Challenge.
        assert_eq!(read_variant(&mut s), None, "{bad:?} got an answer");
    }
    assert_eq!(gold.answer("nodes"), "[]");
    let log = gold.stderr_text();
    assert!(
        !log.lines().any(|l| l.starts_with("ERROR a forged")),
        "{log}"
    );
    assert!(log.contains("invalid node name"), "{log}");
}

#[test]
fn a_flood_of_silent_connections_is_capped_logged_and_outlived() {
    let (_rt, _pm, gold, mut silver) = pair("gold5@127.0.0.1", "silver5@127.0.0.1");
    let flood: Vec<TcpStream> = (0..100).map(|_| attacker(gold.port)).collect();
    let deadline = Instant::now() + T;
    while !gold.stderr_text().contains("too many incoming connections") {
        assert!(Instant::now() < deadline, "{}", gold.stderr_text());
        std::thread::sleep(Duration::from_millis(50));
    }
    // Connections over the cap are closed at once, not left to use up fds.
    let mut over = attacker(gold.port);
    assert_eq!(read_variant(&mut over), None);
    drop(flood);
    let deadline = Instant::now() + T;
    loop {
        let got = silver.answer("connect gold5@127.0.0.1");
        if got == "true" {
            break;
        }
        assert!(Instant::now() < deadline, "{got}");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        gold.stderr_text()
            .matches("too many incoming connections")
            .count(),
        1,
        "the cap is reported once, not once per connection"
    );
}
