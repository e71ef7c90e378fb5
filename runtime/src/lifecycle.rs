//! How a node process lives inside a launcher: readiness and parent death.

/// If `NETSPLIT_WATCH_PID` is set, exits this OS process as soon as that process
/// is gone — so a node launched by the grader (or a test) never outlives it,
/// even when the launcher is killed with SIGKILL and cannot clean up.
pub fn watch_parent_from_env() {
    let Some(pid) = std::env::var("NETSPLIT_WATCH_PID")
        .ok()
        .and_then(|s| s.parse::<i32>().ok())
    else {
        return;
    };
    watch_pid(pid);
}

/// Exits this process when `pid` no longer exists (polled every 200 ms).
pub fn watch_pid(pid: i32) {
    std::thread::Builder::new()
        .name("netsplit-parent-watch".into())
        .spawn(move || loop {
            // kill(pid, 0) checks existence without sending anything.
            let alive = unsafe { libc::kill(pid, 0) } == 0
                || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM);
            if !alive {
                eprintln!("netsplit: the launching process {pid} is gone; exiting");
                std::process::exit(3);
            }
            std::thread::sleep(std::time::Duration::from_millis(200));
        })
        .expect("spawn watcher thread");
}

/// Writes the ready file named by `NETSPLIT_READY_FILE`, if any.
///
/// Its format, which the grader reads: a first line `<node name> <dist
/// port>`, then one line `<key> <address>` per endpoint the application
/// serves (`http 127.0.0.1:40123`), so a launcher learns ports chosen by the
/// kernel without parsing logs.
pub(crate) fn signal_ready(node: &crate::Node, endpoints: &[(&str, std::net::SocketAddr)]) {
    let Some(path) = std::env::var_os("NETSPLIT_READY_FILE") else {
        return;
    };
    let path = std::path::PathBuf::from(path);
    let tmp = path.with_extension("tmp");
    let mut body = format!(
        "{} {}\n",
        node.name(),
        node.listen_addr().map(|a| a.port()).unwrap_or(0)
    );
    for (key, addr) in endpoints {
        body.push_str(&format!("{key} {addr}\n"));
    }
    // Write then rename: a reader never sees a half-written file.
    if std::fs::write(&tmp, body)
        .and_then(|_| std::fs::rename(&tmp, &path))
        .is_err()
    {
        tracing::error!("cannot write the ready file {}", path.display());
    }
}
