//! Run directories: `target/grader/<part>/<run>/`, newest kept, oldest pruned.

use crate::part::Graded;
use std::path::PathBuf;

/// Where runs and the state file go: `GRADER_RUNS_DIR`, else target/grader.
pub fn runs_root() -> PathBuf {
    match std::env::var_os("GRADER_RUNS_DIR") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => crate::builder::target_dir().join("grader"),
    }
}

/// The directory of one part's runs.
pub fn part_dir(part: &str) -> PathBuf {
    runs_root().join(part)
}

/// A fresh, unique run directory (created).
pub fn new_run_dir(part: &str, target: &Graded) -> PathBuf {
    let stamp = humantime::format_rfc3339_seconds(std::time::SystemTime::now())
        .to_string()
        .replace([':', '-'], "")
        .replace('T', "-")
        .trim_end_matches('Z')
        .to_string();
    let target = target.to_string().replace(':', "-");
    let base = part_dir(part);
    for i in 0.. {
        let name = if i == 0 {
            format!("{stamp}-{target}")
        } else {
            format!("{stamp}-{target}-{i}")
        };
        let dir = base.join(name);
        if std::fs::create_dir_all(&base).is_ok() && std::fs::create_dir(&dir).is_ok() {
            return dir;
        }
        if i > 1000 {
            break;
        }
    }
    std::env::temp_dir().join(format!("netsplit-grader-{}", std::process::id()))
}

/// Removes all but the `keep` newest run directories of a part.
pub fn prune(part: &str, keep: usize) {
    let Ok(entries) = std::fs::read_dir(part_dir(part)) else {
        return;
    };
    let mut dirs: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    let n = dirs.len().saturating_sub(keep);
    for d in dirs.into_iter().take(n) {
        let _ = std::fs::remove_dir_all(d);
    }
}

/// A path as a student would type it: relative to the current directory
/// when it lies below it.
pub fn display(path: &std::path::Path) -> String {
    std::env::current_dir()
        .ok()
        .and_then(|cwd| path.strip_prefix(cwd).ok().map(|p| p.display().to_string()))
        .unwrap_or_else(|| path.display().to_string())
}
