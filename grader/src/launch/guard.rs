//! A guard for process groups whose program cannot watch the grader.
//!
//! Node processes exit by themselves when the grader is gone (the runtime
//! watches [`WATCH_PID_ENV`](super::WATCH_PID_ENV)). A service such as
//! `redis-server` knows nothing of the grader, and if the grader is
//! SIGKILLed no destructor or signal handler of ours runs. So a guarded
//! child forks, before it runs its program, a `/bin/sh` in the same process
//! group that blocks reading a pipe whose only write end the grader holds.
//! The kernel closes that end when the grader process exits, whatever ends
//! it and whether or not its parent reaps it; the read then returns and the
//! shell kills its whole group, the service included.
//!
//! Only async-signal-safe calls run between `fork` and `exec` (`fork`,
//! `dup2`, `execv`, `_exit`), and everything they use is prepared before the
//! first fork. The shell is exec'd, so it keeps none of the grader's
//! close-on-exec descriptors (sockets, listeners): a guard never holds a
//! connection open.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::sync::OnceLock;

/// The descriptor the guard's shell reads: it sees end-of-file only when
/// the grader has exited.
const GUARD_FD: i32 = 3;

/// The pipe every guard reads. The grader keeps both ends for its whole
/// life; both are close-on-exec, so no child it runs inherits the write end.
fn pipe() -> io::Result<&'static (OwnedFd, OwnedFd)> {
    static PIPE: OnceLock<(OwnedFd, OwnedFd)> = OnceLock::new();
    if let Some(p) = PIPE.get() {
        return Ok(p);
    }
    let mut fds = [0; 2];
    // SAFETY: `fds` is a valid array of two descriptors for pipe(2) to fill.
    #[cfg(target_os = "linux")]
    let rc = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
    // Without pipe2 (macOS), a child spawned by another thread in between
    // could inherit the write end; it would only delay its own guard.
    #[cfg(not(target_os = "linux"))]
    let rc = unsafe { libc::pipe(fds.as_mut_ptr()) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: pipe(2) just returned these two descriptors, owned by no one else.
    let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    #[cfg(not(target_os = "linux"))]
    for fd in [&read, &write] {
        // SAFETY: a valid descriptor we own.
        unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC) };
    }
    Ok(PIPE.get_or_init(|| (read, write)))
}

/// Makes `cmd`'s child fork a guard of its process group before it runs.
/// `cmd` must put the child in a group of its own (`process_group(0)`).
pub fn install(cmd: &mut Command) -> io::Result<()> {
    let read_fd = pipe()?.0.as_raw_fd();
    // `read` returns at end-of-file (the grader is gone); `kill 0` then
    // signals every process of the shell's group, which is the child's.
    let sh = CString::new("/bin/sh").expect("no NUL");
    let argv: [CString; 3] = ["netsplit-guard", "-c", "read -r _ <&3; kill -KILL 0"]
        .map(|a| CString::new(a).expect("no NUL"));
    // SAFETY: the closure runs in the child between fork and exec, where only
    // async-signal-safe functions may be called: it calls fork, and in the
    // grandchild dup2, execv and _exit, on memory prepared beforehand (the
    // CStrings moved into the closure) and a pointer array on the stack.
    unsafe {
        cmd.pre_exec(move || {
            // On the stack: no allocation after fork.
            let argv_ptrs = [
                argv[0].as_ptr(),
                argv[1].as_ptr(),
                argv[2].as_ptr(),
                std::ptr::null(),
            ];
            match libc::fork() {
                -1 => Err(io::Error::last_os_error()),
                0 => {
                    if libc::dup2(read_fd, GUARD_FD) == GUARD_FD {
                        libc::execv(sh.as_ptr(), argv_ptrs.as_ptr());
                    }
                    libc::_exit(127)
                }
                _ => Ok(()),
            }
        });
    }
    Ok(())
}
