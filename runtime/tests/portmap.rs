//! The port mapper over real TCP on loopback: who may register, how long it
//! waits, how much it serves at once, and what nodes see when the node
//! serving it is paused. Ephemeral ports only; every process a test starts is
//! killed (and resumed first, if paused) when the test ends, pass or fail.

mod os_node;

use netsplit::portmap::PortMapper;
use os_node::{node_dir, NodeProc, T};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_netsplit-node");

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap()
}

/// A port nothing listens on right now, on `ip`.
fn free_port(ip: IpAddr) -> u16 {
    let l = std::net::TcpListener::bind((ip, 0)).unwrap();
    l.local_addr().unwrap().port()
}

/// A port P such that nothing listens on P nor on P+1 right now, on `ip`: a
/// host's primary and standby port mapper ports.
fn free_pair(ip: IpAddr) -> u16 {
    loop {
        let l = std::net::TcpListener::bind((ip, 0)).unwrap();
        let p = l.local_addr().unwrap().port();
        if p < u16::MAX && std::net::TcpListener::bind((ip, p + 1)).is_ok() {
            return p;
        }
    }
}

/// The names `NAMES` lists at `at`, sorted; `None` if nothing answers there.
fn names(at: SocketAddr) -> Option<Vec<String>> {
    let mut s = TcpStream::connect_timeout(&at, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    s.write_all(b"NAMES\n").ok()?;
    let mut text = String::new();
    let _ = s.read_to_string(&mut text);
    if !text.ends_with("END\n") {
        return None;
    }
    let mut out: Vec<String> = text
        .lines()
        .filter(|l| *l != "END")
        .filter_map(|l| l.split(' ').next().map(str::to_string))
        .collect();
    out.sort();
    Some(out)
}

/// Waits until `NAMES` at `at` lists exactly `want` (sorted), at most `T`.
fn names_become(at: SocketAddr, want: &[&str]) {
    let until = Instant::now() + T;
    loop {
        let got = names(at);
        if got.as_deref().is_some_and(|g| g == want) {
            return;
        }
        assert!(
            Instant::now() < until,
            "the port mapper at {at} lists {got:?}, want {want:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// This machine's address on its network, if it has one besides loopback:
/// the source it would use towards a documentation address (no packet is sent).
fn lan_ip() -> Option<IpAddr> {
    let s = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    s.connect("198.51.100.1:9").ok()?;
    let ip = s.local_addr().ok()?.ip();
    (!ip.is_loopback() && !ip.is_unspecified()).then_some(ip)
}

/// A connection to `to` from `from` (any port), with reads that give up after 10 s.
fn dial_from(from: IpAddr, to: SocketAddr) -> TcpStream {
    let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    s.bind(&SocketAddr::new(from, 0).into()).unwrap();
    s.connect(&to.into()).unwrap();
    let s: TcpStream = s.into();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s
}

fn dial(to: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(to).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s
}

/// Reads one line (without its newline); empty at end of stream.
fn line(s: &mut TcpStream) -> String {
    let mut out = Vec::new();
    let mut b = [0u8; 1];
    loop {
        match s.read(&mut b) {
            Ok(0) => break,
            Ok(_) if b[0] == b'\n' => break,
            Ok(_) => out.push(b[0]),
            Err(e) => panic!("no reply from the port mapper: {e}"),
        }
    }
    String::from_utf8_lossy(&out).trim().to_string()
}

/// Sends `req` on a new connection from loopback and returns the first reply line.
fn ask(to: SocketAddr, req: &str) -> (String, TcpStream) {
    let mut s = dial(to);
    s.write_all(format!("{req}\n").as_bytes()).unwrap();
    (line(&mut s), s)
}

/// Whether the peer closes `s` within `within` (whatever it sends first).
fn closes_within(s: &mut TcpStream, within: Duration) -> bool {
    s.set_read_timeout(Some(within)).unwrap();
    let mut sink = [0u8; 256];
    let until = Instant::now() + within;
    loop {
        match s.read(&mut sink) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
            Err(_) => return false,
        }
        if Instant::now() > until {
            return false;
        }
    }
}

/// Starts `netsplit-node` as `name` with `extra` flags; returns it with its port.
fn start(name: &str, extra: &[&str]) -> (NodeProc, u16) {
    let mut args = vec!["--cookie", "test"];
    args.extend_from_slice(extra);
    let n = os_node::Node::start(BIN, name, &args);
    (n.proc, n.port)
}

/// Waits until `f(log)` holds for what `node` logged, at most `within`.
fn logged(node: &NodeProc, within: Duration, f: impl Fn(&str) -> bool) -> String {
    let until = Instant::now() + within;
    loop {
        let log = node.stderr_text();
        if f(&log) {
            return log;
        }
        assert!(
            Instant::now() < until,
            "{}: the expected log line did not come; stderr:\n{log}",
            node.name
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn count(log: &str, needle: &str) -> usize {
    log.lines().filter(|l| l.contains(needle)).count()
}

/// A node process stopped with SIGSTOP; resumed when dropped (then killed and
/// reaped by its own drop), so a failing test leaves nothing stopped behind.
struct Paused(Option<NodeProc>);

impl Paused {
    fn pause(node: NodeProc) -> Paused {
        node.signal(libc::SIGSTOP);
        Paused(Some(node))
    }

    /// Ctrl-Z: SIGTSTP, after which the node stops itself.
    fn suspend(node: NodeProc) -> Paused {
        node.signal(libc::SIGTSTP);
        Paused(Some(node))
    }

    /// SIGCONT; the node runs on.
    fn resume(mut self) -> NodeProc {
        let node = self.0.take().unwrap();
        node.signal(libc::SIGCONT);
        node
    }
}

impl Drop for Paused {
    fn drop(&mut self) {
        if let Some(node) = &self.0 {
            node.signal(libc::SIGCONT);
        }
    }
}

/// A node process started by hand (one that may never print `ready`), with
/// its log in a file; killed and reaped when dropped.
struct Spawned {
    child: Child,
    _dir: tempfile::TempDir,
    stderr: std::path::PathBuf,
}

impl Spawned {
    fn start(name: &str, extra: &[&str]) -> Spawned {
        let dir = node_dir();
        let stderr = dir.path().join("stderr.log");
        let child = Command::new(BIN)
            .args(["--name", name, "--cookie", "test"])
            .args(extra)
            .env("NETSPLIT_COOKIE_FILE", dir.path().join("cookie"))
            .env("NETSPLIT_WATCH_PID", std::process::id().to_string())
            .env_remove("NETSPLIT_PORTMAP")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .unwrap();
        Spawned {
            child,
            _dir: dir,
            stderr,
        }
    }

    fn log(&self) -> String {
        read(&self.stderr)
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_default()
}

/// Finding: any client could register any name, so `ALIVE victim 9` from
/// another host took a name the real node then could not have.
#[test]
fn only_processes_on_this_host_may_register_names() {
    let Some(lan) = lan_ip() else {
        eprintln!(
            "skipped: this machine has no address besides loopback to stand for another host"
        );
        return;
    };
    let lo = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let port = free_port(lo);
    let p = port.to_string();
    let flags = ["--portmap-port", p.as_str()];
    // This node serves the mapper on 127.0.0.1:port.
    let (owner, _) = start("owner@127.0.0.1", &flags);
    let mapper = SocketAddr::new(lo, port);

    // A connection from an address that is neither loopback nor the one it
    // reached: to the mapper, another host. Kept open, as an attacker would.
    let mut foreign = dial_from(lan, mapper);
    foreign.write_all(b"ALIVE victim 9\n").unwrap();
    let got = line(&mut foreign);
    assert!(
        got.starts_with("ERR ") && got.contains(&lan.to_string()),
        "{got:?}"
    );
    assert!(closes_within(&mut foreign, Duration::from_secs(2)));
    assert_eq!(ask(mapper, "LOOKUP victim x@127.0.0.1").0, "NOTFOUND");
    logged(&owner, T, |l| {
        l.lines().any(|l| {
            l.contains(" WARN ") && l.contains("ALIVE victim") && l.contains(&lan.to_string())
        })
    });
    // So the real node gets its name.
    let (_victim, victim_port) = start("victim@127.0.0.1", &flags);
    assert_eq!(
        ask(mapper, "LOOKUP victim x@127.0.0.1").0,
        format!("PORT {victim_port}")
    );

    // A node named by its LAN address serves and registers through that
    // address, and anything on this host may register through it too.
    let lan_port = free_port(lan);
    let lp = lan_port.to_string();
    let name = format!("lan@{lan}");
    let (_lan_node, lan_node_port) = start(&name, &["--portmap-port", lp.as_str()]);
    let lan_mapper = SocketAddr::new(lan, lan_port);
    let mut s = dial_from(lan, lan_mapper);
    s.write_all(format!("LOOKUP lan x@{lan}\n").as_bytes())
        .unwrap();
    assert_eq!(line(&mut s), format!("PORT {lan_node_port}"));
    let mut s = dial_from(lan, lan_mapper);
    s.write_all(b"ALIVE lan2 9\n").unwrap();
    assert_eq!(line(&mut s), "OK");
}

#[test]
fn a_registration_lasts_exactly_as_long_as_its_connection() {
    let rt = rt();
    let pm = rt
        .block_on(PortMapper::bind("127.0.0.1:0".parse().unwrap()))
        .unwrap();
    let m = pm.addr();
    let (ok, held) = ask(m, "ALIVE keep 7001");
    assert_eq!(ok, "OK");
    assert_eq!(ask(m, "LOOKUP keep x@127.0.0.1").0, "PORT 7001");
    let (taken, mut second) = ask(m, "ALIVE keep 7002");
    assert_eq!(taken, "TAKEN");
    assert!(closes_within(&mut second, Duration::from_secs(2)));
    let (first, mut names) = ask(m, "NAMES");
    assert_eq!(
        (first.as_str(), line(&mut names).as_str()),
        ("keep 7001", "END")
    );
    assert!(closes_within(&mut names, Duration::from_secs(2)));
    drop(held);
    let until = Instant::now() + Duration::from_secs(5);
    while ask(m, "LOOKUP keep x@127.0.0.1").0 != "NOTFOUND" {
        assert!(
            Instant::now() < until,
            "the registration outlived its connection"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(ask(m, "ALIVE keep 7003").0, "OK");
}

/// Dropping a mapper must close its registrations, or the nodes holding them
/// never notice that it is gone.
#[test]
fn dropping_a_port_mapper_ends_its_registrations() {
    let rt = rt();
    let pm = rt
        .block_on(PortMapper::bind("127.0.0.1:0".parse().unwrap()))
        .unwrap();
    let (ok, mut held) = ask(pm.addr(), "ALIVE gone 7001");
    assert_eq!(ok, "OK");
    drop(pm);
    assert!(closes_within(&mut held, Duration::from_secs(3)));
}

/// Finding: a connection that never sent a command was kept forever.
#[test]
fn a_connection_that_sends_no_command_is_closed_after_five_seconds() {
    let rt = rt();
    let pm = rt
        .block_on(PortMapper::bind("127.0.0.1:0".parse().unwrap()))
        .unwrap();
    let t0 = Instant::now();
    let mut quiet = dial(pm.addr());
    let mut partial = dial(pm.addr());
    partial.write_all(b"LOOKUP gold").unwrap(); // no newline
    for s in [&mut quiet, &mut partial] {
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut got = String::new();
        let _ = s.read_to_string(&mut got);
        let took = t0.elapsed();
        assert!(got.starts_with("ERR "), "{got:?} after {took:?}");
        assert!(
            took >= Duration::from_millis(4500) && took < Duration::from_secs(8),
            "closed after {took:?}"
        );
    }
}

/// Finding: nothing capped idle connections; about a thousand took all of
/// a node's file descriptors, silently.
#[test]
fn idle_connections_past_the_cap_are_refused_with_one_warning() {
    let lo = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let port = free_port(lo);
    let p = port.to_string();
    let (mut node, node_port) = start("capped@127.0.0.1", &["--portmap-port", p.as_str()]);
    let mapper = SocketAddr::new(lo, port);
    let idle: Vec<TcpStream> = (0..256).map(|_| dial(mapper)).collect();
    for _ in 0..20 {
        let mut s = dial(mapper);
        s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        let got = line(&mut s);
        assert!(got.starts_with("ERR busy"), "{got:?}");
        assert!(closes_within(&mut s, Duration::from_secs(2)));
    }
    let log = logged(&node, T, |l| l.contains("hold no registration"));
    assert_eq!(count(&log, "hold no registration"), 1, "{log}");
    // The node itself is fine, and the mapper serves again once they go.
    assert_eq!(node.answer("nodes"), "[]");
    drop(idle);
    let until = Instant::now() + Duration::from_secs(5);
    loop {
        let (got, _) = ask(mapper, "LOOKUP capped x@127.0.0.1");
        if got == format!("PORT {node_port}") {
            break;
        }
        assert!(Instant::now() < until, "still {got:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn registrations_past_the_cap_are_refused_with_one_warning() {
    let lo = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let port = free_port(lo);
    let p = port.to_string();
    let (node, _) = start("regcap@127.0.0.1", &["--portmap-port", p.as_str()]);
    let mapper = SocketAddr::new(lo, port);
    let mut held = Vec::new();
    let refused = loop {
        let (got, s) = ask(mapper, &format!("ALIVE r{} 1", held.len()));
        if got != "OK" {
            break got;
        }
        held.push(s);
        assert!(held.len() <= 600, "no cap on registrations");
    };
    // 512 in all, the node's own included.
    assert_eq!(held.len(), 511);
    assert!(refused.starts_with("ERR busy"), "{refused:?}");
    for i in 0..5 {
        let (got, _) = ask(mapper, &format!("ALIVE more{i} 1"));
        assert!(got.starts_with("ERR busy"), "{got:?}");
    }
    let log = logged(&node, T, |l| {
        l.contains("registrations, the most it allows")
    });
    assert_eq!(count(&log, "registrations, the most it allows"), 1, "{log}");
    // Lookups are not registrations: still served.
    assert_eq!(ask(mapper, "LOOKUP r0 x@127.0.0.1").0, "PORT 1");
    held.pop();
    let until = Instant::now() + Duration::from_secs(5);
    while ask(mapper, "ALIVE late 1").0 != "OK" {
        assert!(Instant::now() < until, "the freed slot did not come back");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Finding: a node whose name went to another process after a takeover
/// looped on `TAKEN` without a word.
#[test]
fn a_node_whose_name_was_given_away_says_so_once_and_keeps_trying() {
    // A mapper of the test's own: `OK` to the first registration, which it
    // then drops; `TAKEN` to every try for a while; then `OK` again.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    listener.set_nonblocking(true).unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<&'static str>();
    let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
    let fake = std::thread::spawn(move || {
        let give_up = Instant::now() + Duration::from_secs(60);
        let next = || loop {
            match listener.accept() {
                Ok((s, _)) => {
                    s.set_nonblocking(false).unwrap();
                    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                    return Some(BufReader::new(s));
                }
                Err(_) if Instant::now() < give_up => std::thread::sleep(Duration::from_millis(5)),
                Err(_) => return None,
            }
        };
        let alive = |s: &mut BufReader<TcpStream>| {
            let mut l = String::new();
            let _ = s.read_line(&mut l);
            l.starts_with("ALIVE given ")
        };
        let mut first = next()?;
        assert!(alive(&mut first));
        first.get_mut().write_all(b"OK\n").unwrap();
        go_rx.recv().ok()?;
        drop(first);
        let t0 = Instant::now();
        let mut tries = 0;
        while t0.elapsed() < Duration::from_millis(3500) {
            let mut s = next()?;
            if alive(&mut s) {
                tries += 1;
                let _ = s.get_mut().write_all(b"TAKEN\n");
            }
        }
        tx.send("taken").ok()?;
        let mut back = next()?;
        assert!(alive(&mut back));
        back.get_mut().write_all(b"OK\n").unwrap();
        let _ = go_rx.recv(); // hold it until the test is done
        Some(tries)
    });
    let a = addr.to_string();
    let (node, _) = start("given@127.0.0.1", &["--portmap", a.as_str()]);
    go_tx.send(()).unwrap();
    assert_eq!(rx.recv_timeout(T), Ok("taken"));
    let said = "gave the name given to another process";
    let log = logged(&node, T, |l| l.contains(" again"));
    assert_eq!(count(&log, said), 1, "{log}");
    assert!(
        log.lines()
            .any(|l| l.contains(" ERROR ") && l.contains(said) && l.contains("until")),
        "{log}"
    );
    drop(go_tx);
    let tries = fake.join().unwrap().expect("the fake mapper ran");
    assert!(tries >= 3, "only {tries} tries while the name was taken");
}

/// Finding: a node serving the mapper, once paused (Ctrl-Z), blocked its
/// whole host without a word: lookups and registrations waited forever on a
/// socket that accepts connections but never answers. With a standby, one
/// paused node no longer blocks anything (see below); both paused still do,
/// and then the nodes name the cause and give up within seconds.
#[test]
fn with_both_map_nodes_paused_the_cause_is_named() {
    let lo = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let port = free_pair(lo);
    let p = port.to_string();
    let flags = ["--portmap-port", p.as_str()];
    let (serving, _) = start("serving@127.0.0.1", &flags);
    let (standby, _) = start("standby@127.0.0.1", &flags);
    let (mut other, _) = start("other@127.0.0.1", &flags);
    names_become(
        SocketAddr::new(lo, port + 1),
        &["other", "serving", "standby"],
    );
    let paused = [Paused::pause(serving), Paused::pause(standby)];
    let cause = "accepted the connection but did not answer within";
    let advice = "probably paused (Ctrl-Z / SIGSTOP): resume it (fg) or stop it";

    // A lookup through the paused mappers fails soon (one silent try at
    // each), naming both.
    let t0 = Instant::now();
    assert_eq!(other.answer("connect serving@127.0.0.1"), "false");
    let took = t0.elapsed();
    assert!(took < Duration::from_millis(4500), "connect took {took:?}");
    let standby_silent = format!(
        "the standby port mapper at 127.0.0.1:{} did not answer within 1s",
        port + 1
    );
    let log = logged(&other, T, |l| l.contains(&standby_silent));
    assert!(log.contains(cause) && log.contains(advice), "{log}");

    // A node starting meanwhile warns within seconds, then gives up.
    let mut late = Spawned::start("late@127.0.0.1", &flags);
    let t0 = Instant::now();
    while !late.log().contains(cause) {
        assert!(
            t0.elapsed() < Duration::from_secs(5),
            "no warning yet; stderr:\n{}",
            late.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let status = loop {
        if let Some(s) = late.child.try_wait().unwrap() {
            break s;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(12),
            "still starting; stderr:\n{}",
            late.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(!status.success());
    let log = late.log();
    assert!(
        log.contains("could not start node late@127.0.0.1") && log.contains(advice),
        "{log}"
    );
    for at in [port, port + 1] {
        let silent = format!("the port mapper at 127.0.0.1:{at} {cause}");
        assert!(log.contains(&silent), "{log}");
    }

    // One that is still trying when the mappers' nodes are resumed starts.
    let dir = node_dir();
    let log_file = dir.path().join("stderr.log");
    let starting = std::thread::spawn(move || {
        let mut cmd = Command::new(BIN);
        cmd.args(["--name", "resumed@127.0.0.1", "--cookie", "test"])
            .args(["--portmap-port", &port.to_string()])
            .env("NETSPLIT_COOKIE_FILE", dir.path().join("cookie"));
        NodeProc::start("resumed@127.0.0.1", cmd, dir)
    });
    let t0 = Instant::now();
    while !read(&log_file).contains(cause) {
        assert!(t0.elapsed() < Duration::from_secs(5), "no warning yet");
        std::thread::sleep(Duration::from_millis(50));
    }
    let _resumed_nodes = paused.map(Paused::resume);
    let (_resumed, _) = starting.join().expect("the node starts once resumed");
    assert_eq!(other.answer("connect resumed@127.0.0.1"), "true");
}

/// Finding: a node serving the map and stopped with SIGSTOP (which cannot be
/// caught) blocked its whole host: lookups through it failed and no node
/// could start there until it was resumed.
#[test]
fn a_node_stopped_while_serving_the_map_leaves_its_host_to_the_standby() {
    let lo = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let port = free_pair(lo);
    let p = port.to_string();
    let flags = ["--portmap-port", p.as_str()];
    let (primary, _) = start("prim@127.0.0.1", &flags);
    let (mut second, _) = start("second@127.0.0.1", &flags);
    let (mut third, _) = start("third@127.0.0.1", &flags);
    // The second node serves the standby port, and all three registered there.
    let standby = SocketAddr::new(lo, port + 1);
    names_become(standby, &["prim", "second", "third"]);
    let paused = Paused::pause(primary);

    // A running node reaches one it was never connected to, through the standby.
    let t0 = Instant::now();
    assert_eq!(second.answer("connect third@127.0.0.1"), "true");
    let connect_took = t0.elapsed();
    assert!(connect_took < Duration::from_secs(3), "{connect_took:?}");

    // A node starting now starts within a few seconds, warns once naming the
    // silent mapper, and reaches a running node.
    let t0 = Instant::now();
    let (mut fourth, _) = start("fourth@127.0.0.1", &flags);
    let start_took = t0.elapsed();
    assert!(start_took < Duration::from_secs(5), "{start_took:?}");
    let silent = format!("the port mapper at 127.0.0.1:{port} accepted the connection");
    let log = logged(&fourth, T, |l| l.contains(&silent));
    assert_eq!(count(&log, &silent), 1, "{log}");
    assert!(
        log.lines().any(|l| l.contains(" WARN ")
            && l.contains(&silent)
            && l.contains(&format!("127.0.0.1:{} only", port + 1))),
        "{log}"
    );
    let t0 = Instant::now();
    assert_eq!(fourth.answer("connect second@127.0.0.1"), "true");
    let second_connect_took = t0.elapsed();
    eprintln!(
        "with the primary stopped: connect {connect_took:?}, start {start_took:?}, \
         connect from the new node {second_connect_took:?}"
    );

    // Resumed, the stopped node is found by name again.
    let _primary = paused.resume();
    third.answer_until("connect prim@127.0.0.1", "true");
}

#[test]
fn when_the_standby_node_exits_another_node_takes_its_port_over() {
    let lo = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let port = free_pair(lo);
    let p = port.to_string();
    let flags = ["--portmap-port", p.as_str()];
    let (primary, _) = start("sprim@127.0.0.1", &flags);
    let (second, _) = start("ssecond@127.0.0.1", &flags);
    let (_third, _) = start("sthird@127.0.0.1", &flags);
    let standby = SocketAddr::new(lo, port + 1);
    names_become(standby, &["sprim", "ssecond", "sthird"]);
    drop(second); // SIGKILL: the standby it served dies with it
                  // The third node serves the standby now (the first still serves the
                  // primary: a process serves one port at most), and the first registered
                  // with it again.
    names_become(standby, &["sprim", "sthird"]);
    names_become(SocketAddr::new(lo, port), &["sprim", "sthird"]);
    // It stands in: with the primary stopped, a new node starts and finds it.
    let paused = Paused::pause(primary);
    let t0 = Instant::now();
    let (mut late, _) = start("slate@127.0.0.1", &flags);
    assert!(t0.elapsed() < Duration::from_secs(5), "{:?}", t0.elapsed());
    assert_eq!(late.answer("connect sthird@127.0.0.1"), "true");
    drop(paused);
}

#[test]
fn ctrl_z_on_the_node_serving_the_standby_hands_it_over() {
    let lo = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let port = free_pair(lo);
    let p = port.to_string();
    let flags = ["--portmap-port", p.as_str()];
    let (_primary, _) = start("zprim@127.0.0.1", &flags);
    let (second, _) = start("zsecond@127.0.0.1", &flags);
    let (_third, _) = start("zthird@127.0.0.1", &flags);
    let standby = SocketAddr::new(lo, port + 1);
    names_become(standby, &["zprim", "zsecond", "zthird"]);
    // A registration of the test's own, which ends with the map that holds it.
    let (ok, mut probe) = ask(standby, "ALIVE probe 1");
    assert_eq!(ok, "OK");
    let suspended = Paused::suspend(second);
    assert!(
        closes_within(&mut probe, T),
        "the standby was not handed over"
    );
    // The third node serves it now (the first serves the primary), and the
    // others registered there again. (The suspended node may have too, in
    // the moment between closing its map and stopping.)
    let until = Instant::now() + T;
    loop {
        let got = names(standby);
        let has = |n: &str| got.as_ref().is_some_and(|g| g.iter().any(|x| x == n));
        if has("zprim") && has("zthird") && !has("probe") {
            break;
        }
        assert!(Instant::now() < until, "the standby lists {got:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
    let second = suspended.resume();
    logged(&second, T, |l| l.contains("handing the port mapper over"));
    // Resumed, it is registered with the node that serves the standby now.
    names_become(standby, &["zprim", "zsecond", "zthird"]);
}

/// Port 0 would bind a new port at every try that no other node could
/// find (the node spun, serving and losing its mapper): refused up front,
/// on the command line and through the API.
#[test]
fn a_port_mapper_port_of_zero_is_refused() {
    let out = Command::new(BIN)
        .args([
            "--name",
            "zero@127.0.0.1",
            "--cookie",
            "c",
            "--portmap-port",
            "0",
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--portmap-port"), "{stderr}");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut config =
        netsplit::NodeConfig::new(netsplit::NodeName::new("zero@127.0.0.1").unwrap()).cookie("c");
    config.portmap.port = 0;
    let Err(err) = rt.block_on(netsplit::Node::start(config)) else {
        panic!("a node started with port mapper port 0");
    };
    assert!(err.to_string().contains("between 1 and 65534"), "{err}");
}
