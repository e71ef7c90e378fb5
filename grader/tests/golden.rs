//! The grader's output format, pinned: results.json and the human report of
//! the ping-pong solution for a fixed seed, with volatile fields masked.
//! Set UPDATE_GOLDEN=1 to rewrite the golden files after a deliberate change.

use assert_cmd::Command;
use regex::Regex;
use std::path::PathBuf;

const SEED: &str = "42";

fn golden_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("golden")
}

fn compare(name: &str, actual: &str) {
    let path = golden_dir().join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(golden_dir()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (run with UPDATE_GOLDEN=1 to create it)",
            path.display()
        )
    });
    if expected != actual {
        let diff: Vec<String> = expected
            .lines()
            .zip(actual.lines())
            .enumerate()
            .filter(|(_, (e, a))| e != a)
            .take(10)
            .map(|(i, (e, a))| format!("line {}:\n  golden: {e}\n  actual: {a}", i + 1))
            .collect();
        panic!(
            "{name} differs from the golden file ({} vs {} lines):\n{}",
            expected.lines().count(),
            actual.lines().count(),
            diff.join("\n")
        );
    }
}

/// Times, pids and paths change from run to run; everything else must not.
fn mask(text: &str) -> String {
    let rules = [
        (r#""started_at": "[^"]*""#, r#""started_at": "T""#),
        (r#""(duration_ms|at_ms)": \d+"#, r#""$1": 0"#),
        (r"\d+(\.\d+)? s\)", "N s)"),
        (r"after \d+ ms", "after N ms"),
        (r#""(bytes|frames)": \d+"#, r#""$1": 0"#),
        (r"os pid \d+", "os pid N"),
        (r"<[a-z0-9]+@127\.0\.0\.1\.\d+\.\d+>", "<PID>"),
        (r"reports: .*", "reports: DIR"),
    ];
    let mut out = text.to_string();
    for (re, with) in rules {
        out = Regex::new(re).unwrap().replace_all(&out, with).into_owned();
    }
    out
}

#[test]
fn the_solution_report_for_a_fixed_seed_matches_the_golden_files() {
    let target = tempfile::tempdir().unwrap();
    // Build into the shared target dir (fast when already built) but keep run
    // directories and the state file apart: CARGO_TARGET_DIR would move both.
    let human = Command::cargo_bin("grader")
        .unwrap()
        .args(["ping-pong", "--solution", "--seed", SEED])
        .env("NETSPLIT_TIME_SCALE", "3")
        .env("GRADER_RUNS_DIR", target.path())
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let human = String::from_utf8(human).unwrap();
    compare("ping-pong-solution.human.txt", &mask(&human));

    let json = Command::cargo_bin("grader")
        .unwrap()
        .args([
            "ping-pong",
            "--solution",
            "--seed",
            SEED,
            "--format",
            "json",
        ])
        .env("NETSPLIT_TIME_SCALE", "3")
        .env("GRADER_RUNS_DIR", target.path())
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let json = String::from_utf8(json).unwrap();
    let v: serde_json::Value = serde_json::from_str(&json).expect("--format json prints JSON");
    assert_eq!(v["score"], 100);
    compare("ping-pong-solution.results.json", &mask(&json));

    // The same report was written as an artefact, with the JUnit and HTML files.
    let runs: Vec<_> = std::fs::read_dir(target.path().join("ping-pong"))
        .unwrap()
        .filter_map(Result::ok)
        .collect();
    assert_eq!(runs.len(), 2, "one run directory per grading");
    for run in runs {
        for f in ["results.json", "junit.xml", "timeline.html"] {
            assert!(
                run.path().join(f).is_file(),
                "{} lacks {f}",
                run.path().display()
            );
        }
        let html = std::fs::read_to_string(run.path().join("timeline.html")).unwrap();
        assert_eq!(html.matches("<svg").count(), 5, "one timeline per stage");
    }
}
