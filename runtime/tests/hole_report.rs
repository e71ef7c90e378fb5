//! A `todo!()` reached in a node binary (a starter's hole) is reported in one
//! line, even under `RUST_BACKTRACE=1`; other panics keep their backtrace.
//! The test runs itself again as the node process, with `HOLE_REPORT_CHILD`
//! saying which panic to raise.

use std::process::Command;

fn child_stderr(kind: &str) -> String {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "the_child", "--nocapture", "--test-threads", "1"])
        .env("HOLE_REPORT_CHILD", kind)
        .env("RUST_BACKTRACE", "1")
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Not a test of its own: the child process's body (a no-op otherwise).
#[test]
fn the_child() {
    let Ok(kind) = std::env::var("HOLE_REPORT_CHILD") else {
        return;
    };
    netsplit::logging::init(&netsplit::NodeName::new("holey@127.0.0.1").unwrap());
    let _ = std::thread::spawn(move || {
        if kind == "hole" {
            todo!("Problem 1: count the pings (see the lesson)")
        } else {
            panic!("a real bug")
        }
    })
    .join();
}

#[test]
fn a_hole_is_one_line_whatever_rust_backtrace_says() {
    let err = child_stderr("hole");
    let lines: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("hole") || l.contains("backtrace") || l.contains("panicked"))
        .collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert!(
        lines[0].starts_with("[holey@127.0.0.1] a hole is not filled in yet (")
            && lines[0].contains("hole_report.rs:")
            && lines[0]
                .ends_with("not yet implemented: Problem 1: count the pings (see the lesson)"),
        "{err}"
    );
}

#[test]
fn another_panic_keeps_its_backtrace() {
    let err = child_stderr("bug");
    assert!(
        err.contains("panicked at") && err.contains("a real bug"),
        "{err}"
    );
    assert!(err.contains("stack backtrace"), "{err}");
}
