//! Fabric proxies over real sockets on 127.0.0.1.

use std::io::ErrorKind;
use std::time::{Duration, Instant};

use grader::net::fabric::{EventKind, Fabric, PartitionMode, Policy};
use grader::net::port_mapper::PortMapper;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

const T: Duration = Duration::from_secs(5);
/// How long "nothing arrives" is watched for.
const QUIET: Duration = Duration::from_millis(300);

/// An echo server on 127.0.0.1:0; returns its port.
async fn echo_server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                loop {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => {
                            if s.write_all(&buf[..n]).await.is_err() {
                                return;
                            }
                        }
                    }
                }
            });
        }
    });
    port
}

/// A server on 127.0.0.1:0 that hands every accepted socket to the test.
async fn handing_server() -> (u16, mpsc::UnboundedReceiver<TcpStream>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            if tx.send(s).is_err() {
                return;
            }
        }
    });
    (port, rx)
}

async fn connect(port: u16) -> TcpStream {
    TcpStream::connect(("127.0.0.1", port)).await.unwrap()
}

async fn read_exact_timeout(s: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    tokio::time::timeout(T, s.read_exact(&mut buf))
        .await
        .expect("data should arrive")
        .unwrap();
    buf
}

async fn roundtrip(s: &mut TcpStream, msg: &[u8]) {
    s.write_all(msg).await.unwrap();
    assert_eq!(read_exact_timeout(s, msg.len()).await, msg);
}

/// Asserts nothing can be read from `s` for [`QUIET`] (and it is not closed).
async fn assert_silent(s: &mut TcpStream) {
    let mut buf = [0u8; 64];
    match tokio::time::timeout(QUIET, s.read(&mut buf)).await {
        Err(_) => {}
        Ok(r) => panic!("expected silence, got {r:?}"),
    }
}

/// Asserts the connection was reset (or at least closed) by the proxy.
async fn assert_reset(s: &mut TcpStream) {
    let mut buf = [0u8; 64];
    let r = tokio::time::timeout(T, s.read(&mut buf))
        .await
        .expect("connection should be closed promptly");
    match r {
        Err(e) => assert_eq!(e.kind(), ErrorKind::ConnectionReset, "{e}"),
        Ok(n) => panic!("expected a reset, read Ok({n})"),
    }
}

async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < T, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn frame(payload: &[u8]) -> Vec<u8> {
    let mut v = (payload.len() as u32).to_be_bytes().to_vec();
    v.extend_from_slice(payload);
    v
}

#[tokio::test]
async fn pass_forwards_both_ways_and_counts_bytes() {
    let fabric = Fabric::new();
    fabric.set_upstream("b", echo_server().await);
    let port = fabric.proxy_port("a", "b").unwrap();
    assert_eq!(
        fabric.proxy_port("a", "b").unwrap(),
        port,
        "one listener per link"
    );
    assert_ne!(fabric.proxy_port("b", "a").unwrap(), port);

    let mut c = connect(port).await;
    roundtrip(&mut c, b"hello").await;
    roundtrip(&mut c, b"world!").await;
    let (ab, ba) = (fabric.stats("a", "b"), fabric.stats("b", "a"));
    assert_eq!(ab.bytes, 11);
    assert_eq!(ba.bytes, 11);
    assert_eq!(ab.connections_accepted, 1);
    assert_eq!(ab.connections_open, 1);
    drop(c);
    eventually("connection to close", || {
        fabric.stats("a", "b").connections_open == 0
    })
    .await;
}

#[tokio::test]
async fn cut_resets_live_connections_refuses_new_ones_and_heal_allows_new() {
    let fabric = Fabric::new();
    fabric.set_upstream("b", echo_server().await);
    let port = fabric.proxy_port("a", "b").unwrap();
    let mut live = connect(port).await;
    roundtrip(&mut live, b"before").await;

    // Cutting one direction kills the pair's connections: TCP cannot be
    // half-reset.
    fabric.set_link("b", "a", Policy::Cut);
    assert_reset(&mut live).await;

    let mut refused = connect(port).await;
    assert_reset(&mut refused).await;
    assert!(fabric.stats("a", "b").connections_refused >= 1);

    fabric.heal();
    assert_eq!(fabric.link("b", "a"), Policy::Pass);
    let mut fresh = connect(port).await;
    roundtrip(&mut fresh, b"after heal").await;

    let kinds: Vec<EventKind> = fabric.events().into_iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        vec![
            EventKind::PolicyChanged {
                from: "b".into(),
                to: "a".into(),
                old: Policy::Pass,
                new: Policy::Cut
            },
            EventKind::Healed,
            EventKind::PolicyChanged {
                from: "b".into(),
                to: "a".into(),
                old: Policy::Cut,
                new: Policy::Pass
            },
        ]
    );
}

#[tokio::test]
async fn blackhole_holds_bytes_keeps_connection_and_delivers_after_heal() {
    let fabric = Fabric::new();
    fabric.set_upstream("b", echo_server().await);
    let port = fabric.proxy_port("a", "b").unwrap();
    let mut c = connect(port).await;
    roundtrip(&mut c, b"warmup").await;

    fabric.set_both("a", "b", Policy::Blackhole);
    c.write_all(b"into the void").await.unwrap();
    assert_silent(&mut c).await;
    assert_eq!(fabric.stats("a", "b").connections_open, 1);
    assert_eq!(
        fabric.stats("a", "b").bytes,
        6,
        "nothing forwarded while blackholed"
    );

    // Held bytes flow again, in order, once the link passes.
    fabric.heal();
    assert_eq!(read_exact_timeout(&mut c, 13).await, b"into the void");
    roundtrip(&mut c, b"and more").await;
}

#[tokio::test]
async fn blackholed_new_connection_is_held_silent_until_heal() {
    let fabric = Fabric::new();
    let (up, mut accepted) = handing_server().await;
    fabric.set_upstream("b", up);
    let port = fabric.proxy_port("a", "b").unwrap();
    fabric.set_both("a", "b", Policy::Blackhole);

    let mut c = connect(port).await;
    c.write_all(b"hi").await.unwrap();
    // The target is not even dialed while the dialer's bytes cannot reach it.
    assert!(tokio::time::timeout(QUIET, accepted.recv()).await.is_err());
    assert_silent(&mut c).await;

    fabric.heal();
    let mut server = tokio::time::timeout(T, accepted.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(read_exact_timeout(&mut server, 2).await, b"hi");
}

#[tokio::test]
async fn one_way_blackhole_blocks_only_that_direction() {
    let fabric = Fabric::new();
    let (up, mut accepted) = handing_server().await;
    fabric.set_upstream("b", up);
    let port = fabric.proxy_port("a", "b").unwrap();
    let mut a = connect(port).await;
    a.write_all(b"hello").await.unwrap();
    let mut b = tokio::time::timeout(T, accepted.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(read_exact_timeout(&mut b, 5).await, b"hello");

    // a -> b blackholed: b hears nothing, a still hears b.
    fabric.set_link("a", "b", Policy::Blackhole);
    a.write_all(b"lost?").await.unwrap();
    assert_silent(&mut b).await;
    b.write_all(b"from b").await.unwrap();
    assert_eq!(read_exact_timeout(&mut a, 6).await, b"from b");

    // Flip it: b -> a blackholed only. The held "lost?" now arrives at b.
    fabric.set_link("a", "b", Policy::Pass);
    fabric.set_link("b", "a", Policy::Blackhole);
    assert_eq!(read_exact_timeout(&mut b, 5).await, b"lost?");
    b.write_all(b"unheard").await.unwrap();
    assert_silent(&mut a).await;
    a.write_all(b"still ok").await.unwrap();
    assert_eq!(read_exact_timeout(&mut b, 8).await, b"still ok");
}

#[tokio::test]
async fn latency_delays_each_direction_and_keeps_order() {
    let fabric = Fabric::new();
    fabric.set_upstream("b", echo_server().await);
    let port = fabric.proxy_port("a", "b").unwrap();
    let mut c = connect(port).await;
    roundtrip(&mut c, b"warmup").await;

    let delay = Duration::from_millis(150);
    fabric.set_link("a", "b", Policy::Latency(delay));
    let start = Instant::now();
    roundtrip(&mut c, b"slow").await;
    let one_way = start.elapsed();
    assert!(one_way >= delay, "{one_way:?} < {delay:?}");

    fabric.set_link("b", "a", Policy::Latency(delay));
    let start = Instant::now();
    // Several writes in a row come back complete and in order.
    let mut expected = Vec::new();
    for i in 0..20u8 {
        let msg = [b'0' + i % 10; 7];
        c.write_all(&msg).await.unwrap();
        expected.extend_from_slice(&msg);
    }
    assert_eq!(read_exact_timeout(&mut c, expected.len()).await, expected);
    let both = start.elapsed();
    assert!(both >= 2 * delay, "{both:?} < {:?}", 2 * delay);
}

#[tokio::test]
async fn frames_are_counted_across_split_chunks() {
    let fabric = Fabric::new();
    fabric.set_upstream("b", echo_server().await);
    let port = fabric.proxy_port("a", "b").unwrap();
    let mut c = connect(port).await;
    c.set_nodelay(true).unwrap();

    let mut stream = Vec::new();
    let payloads: Vec<Vec<u8>> = vec![
        b"first".to_vec(),
        Vec::new(),
        vec![9u8; 5000],
        b"x".to_vec(),
        vec![1u8; 70_000],
    ];
    for p in &payloads {
        stream.extend(frame(p));
    }
    // Write in awkward pieces (splitting headers too), pausing so they really
    // travel as separate chunks.
    let cuts = [1usize, 3, 6, 9, 11, 12, 13, 2000, 5020, 5021, 5024];
    let mut last = 0;
    for &cut in cuts.iter().chain(std::iter::once(&stream.len())) {
        c.write_all(&stream[last..cut]).await.unwrap();
        last = cut;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(read_exact_timeout(&mut c, stream.len()).await, stream);
    eventually("frames counted", || {
        fabric.stats("a", "b").frames == 5 && fabric.stats("b", "a").frames == 5
    })
    .await;
    assert_eq!(fabric.stats("a", "b").bytes, stream.len() as u64);

    // A half-sent frame is not counted, and a garbage length breaks nothing.
    c.write_all(&[0, 0, 0, 10, b'a']).await.unwrap();
    assert_eq!(read_exact_timeout(&mut c, 5).await.len(), 5);
    assert_eq!(fabric.stats("a", "b").frames, 5);
    c.write_all(&[0xff; 64]).await.unwrap();
    assert_eq!(read_exact_timeout(&mut c, 64).await, [0xff; 64]);
}

#[tokio::test]
async fn partition_groups_and_event_log() {
    let fabric = Fabric::new();
    let echo = echo_server().await;
    for n in ["a", "b", "c"] {
        fabric.set_upstream(n, echo);
    }
    let ab = fabric.proxy_port("a", "b").unwrap();
    let bc = fabric.proxy_port("b", "c").unwrap();
    let ca = fabric.proxy_port("c", "a").unwrap();
    let (mut c_ab, mut c_bc, mut c_ca) = (connect(ab).await, connect(bc).await, connect(ca).await);
    roundtrip(&mut c_ab, b"1").await;
    roundtrip(&mut c_bc, b"2").await;
    roundtrip(&mut c_ca, b"3").await;

    fabric
        .partition(&[&["a"], &["b", "c"]], PartitionMode::Cut)
        .unwrap();
    assert_reset(&mut c_ab).await;
    assert_reset(&mut c_ca).await;
    roundtrip(&mut c_bc, b"within group").await;
    assert_eq!(fabric.link("a", "b"), Policy::Cut);
    assert_eq!(fabric.link("c", "a"), Policy::Cut);
    assert_eq!(fabric.link("b", "c"), Policy::Pass);

    assert!(fabric
        .partition(&[&["a"], &["a", "b"]], PartitionMode::Cut)
        .is_err());

    fabric.heal();
    // Healing reconnects nothing, but new connections work.
    let mut again = connect(ab).await;
    roundtrip(&mut again, b"healed").await;

    let events = fabric.events();
    assert!(matches!(
        &events[0].kind,
        EventKind::Partitioned { groups, mode: PartitionMode::Cut } if groups.len() == 2
    ));
    // a<->b and a<->c, both ways: four changes, then heal and four back.
    let changes = |from: usize| {
        events[from..]
            .iter()
            .take_while(|e| matches!(e.kind, EventKind::PolicyChanged { .. }))
            .count()
    };
    assert_eq!(changes(1), 4);
    assert_eq!(events[5].kind, EventKind::Healed);
    assert_eq!(changes(6), 4);
    assert!(events.windows(2).all(|w| w[0].at <= w[1].at));
}

#[tokio::test]
async fn isolate_blackholes_a_node_from_everyone() {
    let fabric = Fabric::new();
    let echo = echo_server().await;
    fabric.set_upstream("b", echo);
    fabric.set_upstream("c", echo);
    fabric.add_nodes(&["a", "b", "c"]).unwrap();
    let mut to_b = connect(fabric.proxy_port("a", "b").unwrap()).await;
    let mut c_to_b = connect(fabric.proxy_port("c", "b").unwrap()).await;
    fabric.isolate("a", PartitionMode::Blackhole);
    to_b.write_all(b"x").await.unwrap();
    assert_silent(&mut to_b).await;
    roundtrip(&mut c_to_b, b"fine").await;
}

#[tokio::test]
async fn dead_target_is_refused() {
    let fabric = Fabric::new();
    // A port nobody listens on: bind, note the port, close.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    fabric.set_upstream("b", port);
    let mut c = connect(fabric.proxy_port("a", "b").unwrap()).await;
    assert_reset(&mut c).await;
    // Unknown target: same.
    let mut c = connect(fabric.proxy_port("a", "nobody").unwrap()).await;
    assert_reset(&mut c).await;
}

#[tokio::test]
async fn routed_through_the_port_mapper() {
    let pm = PortMapper::start().await.unwrap();
    let fabric = Fabric::new();
    fabric.route_portmap(&pm);
    let real = echo_server().await;

    let mut reg = connect(pm.port()).await;
    reg.write_all(format!("ALIVE n2 {real}\n").as_bytes())
        .await
        .unwrap();
    pm.wait_registered("n2", T).await.unwrap();

    let mut q = connect(pm.port()).await;
    q.write_all(b"LOOKUP n2 n1@127.0.0.1\n").await.unwrap();
    let mut reply = String::new();
    q.read_to_string(&mut reply).await.unwrap();
    let proxied: u16 = reply.trim().strip_prefix("PORT ").unwrap().parse().unwrap();
    assert_ne!(proxied, real);
    assert_eq!(proxied, fabric.proxy_port("n1", "n2").unwrap());

    let mut c = connect(proxied).await;
    roundtrip(&mut c, b"via proxy").await;
    assert_eq!(fabric.stats("n1", "n2").bytes, 9);

    let mut q = connect(pm.port()).await;
    q.write_all(b"LOOKUP n9 n1@127.0.0.1\n").await.unwrap();
    let mut reply = String::new();
    q.read_to_string(&mut reply).await.unwrap();
    assert_eq!(reply, "NOTFOUND\n");
}

#[tokio::test]
async fn dropping_the_fabric_closes_everything() {
    let fabric = Fabric::new();
    fabric.set_upstream("b", echo_server().await);
    let port = fabric.proxy_port("a", "b").unwrap();
    let mut c = connect(port).await;
    roundtrip(&mut c, b"x").await;
    drop(fabric);
    let mut buf = [0u8; 8];
    let r = tokio::time::timeout(T, c.read(&mut buf))
        .await
        .expect("connection should be closed");
    assert!(matches!(r, Ok(0) | Err(_)));
    // The listener is gone too (eventually).
    eventually("listener to close", || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err()
    })
    .await;
}

#[tokio::test]
async fn news_of_a_dead_node_is_held_while_its_direction_is_blackholed() {
    let fabric = Fabric::new();
    let (up, mut accepted) = handing_server().await;
    fabric.set_upstream("b", up);
    let port = fabric.proxy_port("a", "b").unwrap();
    let a = connect(port).await;
    let mut b = tokio::time::timeout(T, accepted.recv())
        .await
        .unwrap()
        .unwrap();

    // a's bytes cannot reach b; then a dies abruptly (RST to the proxy).
    fabric.set_link("a", "b", Policy::Blackhole);
    // Linger 0 makes the close a RST; it cannot block with a zero timeout.
    #[allow(deprecated)]
    a.set_linger(Some(Duration::ZERO)).unwrap();
    drop(a);
    // b talks to a; the proxy learns a is dead, but the reset would have to
    // travel a -> b, which is blackholed: b hears nothing.
    b.write_all(b"anyone there?").await.unwrap();
    assert_silent(&mut b).await;

    fabric.set_link("a", "b", Policy::Pass);
    assert_reset(&mut b).await;
}
