//! `grader watch <part>`: regrade whenever the part's sources change.

use crate::builder;
use crate::part::{Graded, Part};
use crate::run::grade::{self, GradeOptions};
use crate::run::{output::Output, runs};
use notify::{RecursiveMode, Watcher};
use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Changes closer together than this are graded once.
const DEBOUNCE: Duration = Duration::from_millis(400);

/// Grades once, then again after every change, until Ctrl-C.
pub async fn run(
    part: Part,
    target: Graded,
    stages: Option<u32>,
    seed: Option<u64>,
    time_scale: f64,
    poll: bool,
) -> i32 {
    let out = Output::new(true);
    let root = builder::workspace_root();
    let dir = match std::env::var_os("GRADER_WATCH_DIR") {
        // For tools and tests: watch another directory, grade the part as usual.
        Some(d) if !d.is_empty() => std::path::PathBuf::from(d),
        _ => match target {
            Graded::Solution => root.join("solutions").join(&part.dir),
            _ => root.join("parts").join(&part.dir),
        },
    };
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    let handler = move |res: notify::Result<notify::Event>| {
        if let Ok(ev) = res {
            if writes(&ev.kind) && ev.paths.iter().any(|p| relevant(p)) {
                let _ = tx.send(());
            }
        }
    };
    // Keep the watcher alive for the whole loop.
    let _watcher: Box<dyn Watcher> = match make_watcher(handler, poll, &dir) {
        Ok(w) => w,
        Err(e) => {
            eprintln!("watch: cannot watch {}: {e}", dir.display());
            return 2;
        }
    };
    let mut opts = GradeOptions {
        stages,
        only: false,
        seed: 0,
        time_scale,
        keep: false,
        junit: None,
    };
    // What the sources held when the last grade started: only a change of
    // content regrades (not a build reading them, not a save of the same text).
    let mut graded = sources(&dir);
    loop {
        opts.seed = seed.unwrap_or_else(rand::random::<u64>);
        match grade::grade(&part, &target, &opts, &out).await {
            Ok(run) => out.summary(&run.report, &runs::display(&run.run_dir)),
            Err(e) => out.plain(format!("{e}")),
        }
        out.plain(format!(
            "\nwatching {} — save a file to regrade, Ctrl-C to stop",
            dir.display()
        ));
        loop {
            // A save during the grade is already queued: it is looked at now.
            if rx.recv().await.is_none() {
                return 3;
            }
            // Debounce: an editor's save is often several events.
            loop {
                match tokio::time::timeout(DEBOUNCE, rx.recv()).await {
                    Ok(Some(())) => continue,
                    Ok(None) => return 3,
                    Err(_) => break,
                }
            }
            let now = sources(&dir);
            if now != graded {
                graded = now;
                break;
            }
        }
        out.plain("\nchange detected: regrading");
    }
}

/// Events that may change a file's content (not reads, not metadata).
fn writes(kind: &notify::EventKind) -> bool {
    use notify::event::ModifyKind;
    use notify::EventKind;
    match kind {
        EventKind::Create(_) | EventKind::Remove(_) | EventKind::Any => true,
        EventKind::Modify(m) => !matches!(m, ModifyKind::Metadata(_)),
        EventKind::Access(_) | EventKind::Other => false,
    }
}

/// The content of every source file under `dir` (hashed), by path.
fn sources(dir: &Path) -> BTreeMap<PathBuf, u64> {
    let mut found = BTreeMap::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.filter_map(Result::ok) {
            let path = entry.path();
            if path.is_dir() {
                if entry.file_name() != "target" {
                    pending.push(path);
                }
            } else if relevant(&path) {
                if let Ok(bytes) = std::fs::read(&path) {
                    let mut h = std::collections::hash_map::DefaultHasher::new();
                    bytes.hash(&mut h);
                    found.insert(path, h.finish());
                }
            }
        }
    }
    found
}

/// Source files only: not editor swap files, not build output.
fn relevant(p: &Path) -> bool {
    if p.components().any(|c| c.as_os_str() == "target") {
        return false;
    }
    matches!(p.extension().and_then(|e| e.to_str()), Some("rs" | "toml"))
}

fn make_watcher<F>(handler: F, poll: bool, dir: &Path) -> notify::Result<Box<dyn Watcher>>
where
    F: notify::EventHandler + Clone,
{
    let mut w: Box<dyn Watcher> = if poll {
        Box::new(notify::PollWatcher::new(
            handler,
            notify::Config::default().with_poll_interval(Duration::from_millis(500)),
        )?)
    } else {
        match notify::recommended_watcher(handler.clone()) {
            Ok(w) => Box::new(w),
            // No native notifications (e.g. inotify limits reached): poll instead.
            Err(_) => Box::new(notify::PollWatcher::new(
                handler,
                notify::Config::default().with_poll_interval(Duration::from_millis(500)),
            )?),
        }
    };
    w.watch(dir, RecursiveMode::Recursive)?;
    Ok(w)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_sources_trigger_a_regrade() {
        assert!(relevant(Path::new("/x/parts/01-ping-pong/src/producer.rs")));
        assert!(relevant(Path::new("/x/parts/01-ping-pong/Cargo.toml")));
        assert!(!relevant(Path::new(
            "/x/parts/01-ping-pong/src/.producer.rs.swp"
        )));
        assert!(!relevant(Path::new("/x/target/release/build/foo.rs")));
    }

    #[test]
    fn reads_and_metadata_are_not_writes() {
        use notify::event::{AccessKind, CreateKind, DataChange, MetadataKind, ModifyKind};
        use notify::EventKind;
        assert!(!writes(&EventKind::Access(AccessKind::Any)));
        assert!(!writes(&EventKind::Modify(ModifyKind::Metadata(
            MetadataKind::Any
        ))));
        assert!(writes(&EventKind::Modify(ModifyKind::Data(
            DataChange::Content
        ))));
        assert!(writes(&EventKind::Create(CreateKind::File)));
    }

    #[test]
    fn only_a_change_of_content_changes_the_sources() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("lib.rs");
        std::fs::write(&file, "fn a() {}\n").unwrap();
        std::fs::create_dir(dir.path().join("target")).unwrap();
        let before = sources(dir.path());
        assert_eq!(before.len(), 1);
        std::fs::write(&file, "fn a() {}\n").unwrap();
        std::fs::write(dir.path().join("target").join("x.rs"), "built").unwrap();
        assert_eq!(sources(dir.path()), before);
        std::fs::write(&file, "fn b() {}\n").unwrap();
        assert_ne!(sources(dir.path()), before);
    }
}
