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

/// Exits this process when `pid` has exited (polled every 200 ms).
///
/// "Exited" does not wait for the process to be reaped: a launcher that
/// dies while its own parent is not waiting for it stays a zombie, which
/// `kill(pid, 0)` still finds. So when `pid` is this process's parent, the
/// test is that the parent changed (the kernel hands a child to another
/// process as soon as its parent exits, before any reaping); for any other
/// `pid`, a zombie counts as gone.
pub fn watch_pid(pid: i32) {
    // SAFETY: getppid(2) has no preconditions and cannot fail.
    let parent = unsafe { libc::getppid() } == pid;
    std::thread::Builder::new()
        .name("netsplit-parent-watch".into())
        .spawn(move || loop {
            if gone(pid, parent) {
                eprintln!("netsplit: the launching process {pid} is gone; exiting");
                std::process::exit(3);
            }
            std::thread::sleep(std::time::Duration::from_millis(200));
        })
        .expect("spawn watcher thread");
}

/// Whether `pid` has exited; `parent` says it was this process's parent
/// when the watch began.
fn gone(pid: i32, parent: bool) -> bool {
    if parent {
        // SAFETY: as above.
        return unsafe { libc::getppid() } != pid;
    }
    // kill(pid, 0) checks existence without sending anything; EPERM means
    // the process exists but belongs to someone else.
    // SAFETY: signal 0 sends nothing.
    let exists = unsafe { libc::kill(pid, 0) } == 0
        || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM);
    !exists || is_zombie(pid)
}

/// Whether `pid` is a zombie: it has exited and its parent has not reaped
/// it yet.
#[cfg(target_os = "linux")]
fn is_zombie(pid: i32) -> bool {
    // The state is the first field after the command name, which is in
    // parentheses and may itself contain spaces and parentheses.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            let rest = &stat[stat.rfind(')')? + 1..];
            rest.split_ascii_whitespace().next()?.chars().next()
        })
        .is_some_and(|state| state == 'Z' || state == 'X')
}

/// Whether `pid` is a zombie: it has exited and its parent has not reaped
/// it yet.
#[cfg(target_os = "macos")]
fn is_zombie(pid: i32) -> bool {
    let mut info = std::mem::MaybeUninit::<libc::proc_bsdinfo>::zeroed();
    let size = std::mem::size_of::<libc::proc_bsdinfo>() as libc::c_int;
    // A non-zero `arg` makes PROC_PIDTBSDINFO find zombies too (without
    // it, a zombie is "no such process" here, and alive to kill(2)).
    // SAFETY: the buffer is a proc_bsdinfo of the size passed, which
    // proc_pidinfo fills for PROC_PIDTBSDINFO; it is read only if it did.
    let n = unsafe {
        libc::proc_pidinfo(
            pid,
            libc::PROC_PIDTBSDINFO,
            1,
            info.as_mut_ptr().cast(),
            size,
        )
    };
    // SAFETY: proc_pidinfo wrote `n` bytes, the whole structure.
    n == size && unsafe { info.assume_init() }.pbi_status == libc::SZOMB
}

/// Elsewhere there is no portable way to tell a zombie: an unreaped
/// launcher that is not this process's parent is taken for alive.
#[cfg(not(any(target_os = "linux", target_os = "macos")))]
fn is_zombie(_pid: i32) -> bool {
    false
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
