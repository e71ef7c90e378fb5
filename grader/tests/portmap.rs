//! Port mapper over real sockets on 127.0.0.1.

use std::time::Duration;

use grader::net::port_mapper::{PortMapper, PortmapError, MAX_LINE};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

const T: Duration = Duration::from_secs(5);

/// Sends one line and reads every reply line until the server closes.
async fn request(pm: &PortMapper, line: &str) -> Vec<String> {
    let mut s = TcpStream::connect(pm.addr()).await.unwrap();
    s.write_all(line.as_bytes()).await.unwrap();
    let mut out = String::new();
    tokio::time::timeout(T, s.read_to_string(&mut out))
        .await
        .expect("server should close after replying")
        .unwrap();
    out.lines().map(str::to_owned).collect()
}

/// Registers `name` and returns the connection holding the registration.
async fn alive(pm: &PortMapper, name: &str, port: u16) -> (BufReader<TcpStream>, String) {
    let s = TcpStream::connect(pm.addr()).await.unwrap();
    let mut s = BufReader::new(s);
    s.get_mut()
        .write_all(format!("ALIVE {name} {port}\n").as_bytes())
        .await
        .unwrap();
    let mut reply = String::new();
    tokio::time::timeout(T, s.read_line(&mut reply))
        .await
        .unwrap()
        .unwrap();
    (s, reply.trim_end().to_owned())
}

async fn wait_gone(pm: &PortMapper, name: &str) {
    tokio::time::timeout(T, async {
        while pm.registered_port(name).is_some() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("registration should vanish");
}

#[tokio::test]
async fn alive_lookup_names() {
    let pm = PortMapper::start().await.unwrap();
    assert!(pm.addr().ip().is_loopback());
    let (_c1, r1) = alive(&pm, "n1", 4001).await;
    let (_c2, r2) = alive(&pm, "n2", 4002).await;
    assert_eq!((r1.as_str(), r2.as_str()), ("OK", "OK"));

    assert_eq!(
        request(&pm, "LOOKUP n2 n1@127.0.0.1\n").await,
        ["PORT 4002"]
    );
    assert_eq!(
        request(&pm, "LOOKUP n1 n2@127.0.0.1\r\n").await,
        ["PORT 4001"]
    );
    assert_eq!(request(&pm, "LOOKUP n9 n1@127.0.0.1\n").await, ["NOTFOUND"]);
    assert_eq!(request(&pm, "NAMES\n").await, ["n1 4001", "n2 4002", "END"]);

    let regs = pm.registrations();
    assert_eq!(regs.get("n1"), Some(&4001));
    assert_eq!(regs.get("n2"), Some(&4002));
}

#[tokio::test]
async fn registration_lasts_as_long_as_its_connection() {
    let pm = PortMapper::start().await.unwrap();
    let (conn, reply) = alive(&pm, "n1", 5000).await;
    assert_eq!(reply, "OK");
    assert_eq!(pm.registered_port("n1"), Some(5000));
    // Chatter on the held connection is ignored and does not unregister.
    let mut conn = conn.into_inner();
    conn.write_all(b"whatever\n").await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(pm.registered_port("n1"), Some(5000));

    drop(conn);
    wait_gone(&pm, "n1").await;
    assert_eq!(request(&pm, "LOOKUP n1 n2@127.0.0.1\n").await, ["NOTFOUND"]);
    assert_eq!(request(&pm, "NAMES\n").await, ["END"]);

    // The name is free again.
    let (_c, reply) = alive(&pm, "n1", 5001).await;
    assert_eq!(reply, "OK");
    assert_eq!(pm.registered_port("n1"), Some(5001));
}

#[tokio::test]
async fn duplicate_name_is_taken() {
    let pm = PortMapper::start().await.unwrap();
    let (_first, r) = alive(&pm, "n1", 6000).await;
    assert_eq!(r, "OK");
    let (mut second, r) = alive(&pm, "n1", 6001).await;
    assert_eq!(r, "TAKEN");
    // The refused connection is closed, and the first registration stands.
    let mut rest = Vec::new();
    tokio::time::timeout(T, second.read_to_end(&mut rest))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(pm.registered_port("n1"), Some(6000));
    // Closing the refused connection must not remove the first one.
    drop(second);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(pm.registered_port("n1"), Some(6000));
}

#[tokio::test]
async fn malformed_input_gets_err_and_server_keeps_serving() {
    let pm = PortMapper::start().await.unwrap();
    let (_c, _) = alive(&pm, "ok", 7000).await;
    for bad in [
        "HELLO\n",
        "\n",
        "ALIVE\n",
        "ALIVE x notaport\n",
        "ALIVE x 0\n",
        "ALIVE x 99999\n",
        "ALIVE a@b 1\n",
        "LOOKUP\n",
        "NAMES extra\n",
    ] {
        let reply = request(&pm, bad).await;
        assert_eq!(reply.len(), 1, "{bad:?} -> {reply:?}");
        assert!(reply[0].starts_with("ERR "), "{bad:?} -> {reply:?}");
    }
    // Binary garbage (not UTF-8): closed without crashing anything.
    let mut s = TcpStream::connect(pm.addr()).await.unwrap();
    s.write_all(&[0xff, 0xfe, 0x00, b'\n']).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(T, s.read_to_end(&mut out))
        .await
        .unwrap()
        .unwrap();

    // Over-long line: closed without a reply.
    let mut s = TcpStream::connect(pm.addr()).await.unwrap();
    let long = vec![b'A'; MAX_LINE + 10];
    // The server may close (and reset) before all bytes are written.
    let _ = s.write_all(&long).await;
    let mut out = Vec::new();
    let _ = tokio::time::timeout(T, s.read_to_end(&mut out))
        .await
        .expect("over-long line should close the connection");
    assert!(out.is_empty());

    // A line of exactly MAX_LINE bytes is still read (and rejected as unknown).
    let mut exact = "X".repeat(MAX_LINE);
    exact.push('\n');
    assert!(request(&pm, &exact).await[0].starts_with("ERR "));

    // EOF without newline: just closed.
    let mut s = TcpStream::connect(pm.addr()).await.unwrap();
    s.write_all(b"NAMES").await.unwrap();
    s.shutdown().await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(T, s.read_to_end(&mut out))
        .await
        .unwrap()
        .unwrap();
    assert!(out.is_empty());

    // Still serving, registration intact.
    assert_eq!(
        request(&pm, "LOOKUP ok n1@127.0.0.1\n").await,
        ["PORT 7000"]
    );
}

#[tokio::test]
async fn resolver_hook_decides_lookups() {
    let pm = PortMapper::start().await.unwrap();
    let (_c, _) = alive(&pm, "n2", 8000).await;
    let registry = pm.registry();
    pm.set_resolver(move |requester, target| {
        if requester == "n3" {
            return None; // n3 may not see anyone
        }
        registry
            .get(target)
            .map(|_| 10_000 + requester.len() as u16)
    });
    assert_eq!(
        request(&pm, "LOOKUP n2 n1@127.0.0.1\n").await,
        ["PORT 10002"]
    );
    assert_eq!(request(&pm, "LOOKUP n2 n3@127.0.0.1\n").await, ["NOTFOUND"]);
    assert_eq!(
        request(&pm, "LOOKUP nope n1@127.0.0.1\n").await,
        ["NOTFOUND"]
    );

    // The hook sees the requester's short name, whatever its host part.
    let (tx, rx) = std::sync::mpsc::channel();
    let tx = std::sync::Mutex::new(tx);
    pm.set_resolver(move |requester, target| {
        let _ = tx
            .lock()
            .unwrap()
            .send((requester.to_owned(), target.to_owned()));
        Some(1)
    });
    assert_eq!(request(&pm, "LOOKUP n2 alpha@somehost\n").await, ["PORT 1"]);
    assert_eq!(rx.recv().unwrap(), ("alpha".to_owned(), "n2".to_owned()));

    pm.clear_resolver();
    assert_eq!(
        request(&pm, "LOOKUP n2 n1@127.0.0.1\n").await,
        ["PORT 8000"]
    );
}

#[tokio::test]
async fn wait_registered_times_out_or_returns_port() {
    let pm = PortMapper::start().await.unwrap();
    let err = pm
        .wait_registered("late", Duration::from_millis(100))
        .await
        .unwrap_err();
    assert!(matches!(err, PortmapError::NotRegistered { .. }));
    assert!(err.to_string().contains("late"));

    let addr = pm.addr();
    let registrar = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(b"ALIVE late 9100\n").await.unwrap();
        // Hold the registration a while.
        tokio::time::sleep(Duration::from_secs(2)).await;
        drop(s);
    });
    assert_eq!(pm.wait_registered("late", T).await.unwrap(), 9100);
    registrar.abort();
}

#[tokio::test]
async fn dropping_the_server_closes_registrations() {
    let pm = PortMapper::start().await.unwrap();
    let (mut conn, r) = alive(&pm, "n1", 4000).await;
    assert_eq!(r, "OK");
    drop(pm);
    let mut rest = Vec::new();
    tokio::time::timeout(T, conn.read_to_end(&mut rest))
        .await
        .expect("registration connection should be closed")
        .unwrap();
}
