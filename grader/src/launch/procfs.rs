//! Inspecting processes and process groups through `/proc`.

use std::fs;
use std::path::Path;

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;

/// `(pid, pgrp, state)` of every process, from `/proc`. `None` if `/proc` is
/// not available (e.g. macOS).
fn proc_table() -> Option<Vec<(i32, i32, char)>> {
    let dir = fs::read_dir("/proc").ok()?;
    let mut out = Vec::new();
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        let Ok(stat) = fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        if let Some((state, pgrp)) = parse_stat(&stat) {
            out.push((pid, pgrp, state));
        }
    }
    Some(out)
}

/// Extracts `(state, pgrp)` from a `/proc/<pid>/stat` line. The command name
/// is in parentheses and may itself contain spaces or parentheses, so the
/// fields are found after the *last* `')'`.
fn parse_stat(stat: &str) -> Option<(char, i32)> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_ascii_whitespace();
    let state = fields.next()?.chars().next()?;
    let _ppid = fields.next()?;
    let pgrp = fields.next()?.parse().ok()?;
    Some((state, pgrp))
}

/// Whether any non-zombie process is in group `pgid`.
pub(super) fn group_has_live_members(pgid: i32) -> bool {
    match proc_table() {
        Some(table) => table
            .iter()
            .any(|&(_, pgrp, state)| pgrp == pgid && state != 'Z' && state != 'X'),
        // Without /proc, a zombie also counts; callers bound their waits.
        None => killpg(Pid::from_raw(pgid), None::<Signal>).is_ok(),
    }
}

/// How many live processes of group `pgid` are paused, out of how many.
/// `None` if this cannot be checked here (no `/proc`).
pub(super) fn group_stop_counts(pgid: i32) -> Option<(usize, usize)> {
    let table = proc_table()?;
    let mut stopped = 0;
    let mut total = 0;
    for &(pid, pgrp, state) in &table {
        if pgrp != pgid || state == 'Z' || state == 'X' {
            continue;
        }
        total += 1;
        // A process stuck in uninterruptible sleep with the stop pending is
        // as good as stopped; any other state reaches 'T' within moments.
        if state == 'T' || (state == 'D' && stop_pending(pid)) {
            stopped += 1;
        }
    }
    Some((stopped, total))
}

/// Whether `pid` has a SIGSTOP pending, i.e. will stop before it next runs
/// user code.
///
/// Needed because a process can be stuck in the kernel when the stop
/// arrives: a shell in `vfork()` waits (state `D`) for its child to exec, and
/// if that child was stopped first the parent never gets to its own stop. It
/// is nonetheless paused: it runs nothing until SIGCONT (which also discards
/// the pending stop).
fn stop_pending(pid: i32) -> bool {
    let Ok(status) = fs::read_to_string(format!("/proc/{pid}/status")) else {
        return false;
    };
    let bit = 1u64 << (libc::SIGSTOP - 1);
    status.lines().any(|line| {
        let Some(mask) = line
            .strip_prefix("SigPnd:")
            .or_else(|| line.strip_prefix("ShdPnd:"))
        else {
            return false;
        };
        u64::from_str_radix(mask.trim(), 16).is_ok_and(|m| m & bit != 0)
    })
}

/// Whether process `pid` is alive (exists and is not a zombie). Useful in
/// tests and diagnostics.
pub fn pid_alive(pid: u32) -> bool {
    let Ok(pid) = i32::try_from(pid) else {
        return false;
    };
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => parse_stat(&stat).is_some_and(|(state, _)| state != 'Z' && state != 'X'),
        Err(_) if Path::new("/proc/self/stat").exists() => false,
        Err(_) => nix::sys::signal::kill(Pid::from_raw(pid), None::<Signal>).is_ok(),
    }
}

/// Whether any live process is in process group `pgid`.
pub fn group_alive(pgid: u32) -> bool {
    i32::try_from(pgid).is_ok_and(group_has_live_members)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_stat_with_awkward_names() {
        let stat = "1234 (we ird) (name) T 1 1230 1230 0 -1 4194560 ...";
        assert_eq!(parse_stat(stat), Some(('T', 1230)));
        assert_eq!(parse_stat("garbage"), None);
    }
}
