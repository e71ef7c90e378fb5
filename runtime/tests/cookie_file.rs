//! A node started without `--cookie` reads the cookie file: what a student
//! sees when that file is unusable. Each case must end the node at once
//! with exit code 2 and one line on stderr that names the file and the fix
//! (no panic, no stack overflow, no `Debug` dump).
#![cfg(unix)]

use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_netsplit-node");

/// Runs `netsplit-node` with the cookie file `cookie` and no other cookie;
/// returns its exit code and stderr. The node must fail before it needs a
/// port mapper (the one it is given has just closed); it is killed if it is
/// still running after 20 s.
fn start_with_cookie_file(name: &str, cookie: &Path) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    let stderr = dir.path().join("stderr");
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut child = Command::new(BIN)
        .args(["--name", name, "--portmap", &closed.to_string()])
        .env("NETSPLIT_COOKIE_FILE", cookie)
        .env("NETSPLIT_WATCH_PID", std::process::id().to_string())
        .env_remove("NETSPLIT_COOKIE")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&stderr).unwrap())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{name} did not exit on a bad cookie file");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    (status.code(), std::fs::read_to_string(&stderr).unwrap())
}

/// The one line the node printed, checked to be the only one.
fn one_line(stderr: &str) -> &str {
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "expected one line on stderr:\n{stderr}");
    lines[0]
}

#[test]
fn a_dangling_symlink_as_cookie_file_is_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let cookie = dir.path().join("cookie");
    let missing = dir.path().join("missing");
    std::os::unix::fs::symlink(&missing, &cookie).unwrap();
    let (code, stderr) = start_with_cookie_file("dangling@127.0.0.1", &cookie);
    assert_eq!(code, Some(2), "{stderr}");
    let line = one_line(&stderr);
    assert!(
        line.starts_with("could not start node dangling@127.0.0.1: "),
        "{line}"
    );
    assert!(
        line.contains(&format!(
            "{} is a symlink to a missing file ({})",
            cookie.display(),
            missing.display()
        )),
        "{line}"
    );
    assert!(line.contains("remove it or point it at a cookie"), "{line}");
    assert!(
        !missing.exists(),
        "the node created a file through the link"
    );
}

#[test]
fn a_cookie_file_others_can_read_is_refused_with_the_chmod_to_run() {
    let dir = tempfile::tempdir().unwrap();
    let cookie = dir.path().join("cookie");
    {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&cookie)
            .unwrap();
        f.write_all(b"SECRET\n").unwrap();
    }
    std::fs::set_permissions(&cookie, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (code, stderr) = start_with_cookie_file("shared@127.0.0.1", &cookie);
    assert_eq!(code, Some(2), "{stderr}");
    let line = one_line(&stderr);
    assert!(
        line.starts_with("could not start node shared@127.0.0.1: "),
        "{line}"
    );
    assert!(
        line.contains(&format!("`chmod 600 {}`", cookie.display())),
        "{line}"
    );
}
