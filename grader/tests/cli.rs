//! The command line: help, bad input and `list` (no nodes are started here).

use assert_cmd::Command;
use predicates::prelude::PredicateBooleanExt;
use predicates::str::contains;

/// The grader, with its state and run directories in a private temporary
/// directory (dropped with the returned guard).
fn grader() -> (Command, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut c = Command::cargo_bin("grader").expect("the grader binary is built");
    c.env("GRADER_RUNS_DIR", dir.path());
    (c, dir)
}

#[test]
fn help_documents_the_exit_codes_and_the_commands() {
    let (mut cmd, _dir) = grader();
    cmd.arg("--help")
        .assert()
        .success()
        .stdout(contains("Exit codes"))
        .stdout(contains("3  the grader itself failed"))
        .stdout(contains("dev-check"))
        .stdout(contains("watch"))
        .stdout(contains("--solution"))
        .stdout(contains("--seed"));
}

#[test]
fn an_unknown_part_is_a_clear_error_with_exit_code_2() {
    let (mut cmd, _dir) = grader();
    cmd.arg("pong-ping")
        .assert()
        .code(2)
        .stderr(contains("no part called \"pong-ping\""))
        .stderr(contains("ping-pong (1)"));
}

#[test]
fn no_part_at_all_says_what_to_type() {
    let (mut cmd, _dir) = grader();
    cmd.assert()
        .code(2)
        .stderr(contains("cargo grade ping-pong"));
}

#[test]
fn a_nonsense_time_scale_is_refused() {
    let (mut cmd, _dir) = grader();
    cmd.args(["ping-pong", "--time-scale", "0"])
        .assert()
        .code(2)
        .stderr(contains("--time-scale must be a positive number"));
}

/// The grader as [`grader`] gives it, but unable to build: `CARGO` names no
/// program and the target directory is a private one, so a command that
/// gets as far as a build fails at once, and says so on stderr.
fn grader_unable_to_build() -> (Command, tempfile::TempDir) {
    let (mut c, dir) = grader();
    c.env("CARGO_TARGET_DIR", dir.path().join("target"))
        .env("CARGO", dir.path().join("no-cargo-here"))
        .env("GRADER_WATCH_DIR", dir.path())
        .timeout(std::time::Duration::from_secs(30));
    (c, dir)
}

/// `--stage N` past a part's last stage is a usage error before any build,
/// on one line that gives the stages there are; not a run of every stage.
/// Returns that line.
fn assert_refused(cmd: &mut Command, stage: u32, part: &str) -> String {
    let p = grader::parts::find(part).unwrap();
    let out = cmd.assert().code(2).get_output().clone();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let range = format!(
        "grader: there is no stage {stage}: {} has stages 1 to {} (",
        p.id,
        p.stages.len()
    );
    assert!(stderr.starts_with(&range), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    for (i, s) in p.stages.iter().enumerate() {
        let named = format!("{} {}", i + 1, s.name);
        assert!(stderr.contains(&named), "{named:?} missing: {stderr}");
    }
    assert!(!stdout.contains("cargo build"), "it built: {stdout}");
    stderr.into_owned()
}

#[test]
fn a_stage_past_the_last_is_refused_before_building() {
    let (mut cmd, _dir) = grader_unable_to_build();
    cmd.args(["ping-pong", "--stage", "99"]);
    assert_refused(&mut cmd, 99, "ping-pong");
    let (mut cmd, _dir) = grader_unable_to_build();
    cmd.args(["watch", "ping-pong", "--stage", "99"]);
    assert_refused(&mut cmd, 99, "ping-pong");
}

/// A bonus stage has no number of its own: it runs after the last stage.
#[test]
fn a_bonus_stage_s_place_is_no_stage_and_the_message_names_the_bonus() {
    let chat = grader::parts::find("chat").unwrap();
    assert!(!chat.bonus.is_empty(), "chat has bonus stages");
    let first_bonus = chat.stages.len() as u32 + 1;
    let (mut cmd, _dir) = grader_unable_to_build();
    cmd.args(["chat", "--solution", "--stage", &first_bonus.to_string()]);
    let stderr = assert_refused(&mut cmd, first_bonus, "chat");
    for b in &chat.bonus {
        assert!(stderr.contains(b.name), "{stderr}");
    }
}

#[test]
fn with_all_the_stage_must_be_one_of_every_part_s() {
    let fewest = grader::parts::all()
        .iter()
        .map(|p| p.stages.len())
        .min()
        .unwrap();
    let too_far = (fewest + 1).to_string();
    let (mut cmd, _dir) = grader_unable_to_build();
    cmd.args(["all", "--solution", "--stage", &too_far])
        .assert()
        .code(2)
        .stderr(contains(format!(
            "grader: there is no stage {too_far} in every part: "
        )))
        .stderr(contains(format!("--stage takes 1 to {fewest}")))
        .stdout(contains("cargo build").not());
}

/// The last stage is a stage: the command goes on to build (which fails
/// here, at once, as it should).
#[test]
fn the_last_stage_is_accepted() {
    let last = grader::parts::find("ping-pong").unwrap().stages.len();
    let (mut cmd, _dir) = grader_unable_to_build();
    cmd.args(["ping-pong", "--stage", &last.to_string()])
        .assert()
        .stderr(contains("could not run cargo"))
        .stderr(contains("there is no stage").not());
}

#[test]
fn list_shows_every_part_even_before_any_grading() {
    let (mut cmd, _dir) = grader();
    cmd.arg("list")
        .assert()
        .success()
        .stdout(contains("ping-pong"))
        .stdout(contains("not graded"))
        .stdout(contains("your work (parts/)"));
    // The columns line up: every score column starts where its header does.
    let (mut cmd, _dir) = grader();
    let out = cmd.arg("list").output().unwrap().stdout;
    let out = String::from_utf8(out).unwrap();
    let header = out.lines().next().unwrap();
    let at = header.find("your work").unwrap();
    for line in out.lines().skip(1) {
        assert_eq!(line.find("not graded"), Some(at), "{out}");
    }
}

#[test]
fn parts_are_found_by_name_number_or_directory() {
    for name in [
        "ping-pong",
        "1",
        "01",
        "01-ping-pong",
        "parts/01-ping-pong/",
    ] {
        assert_eq!(
            grader::parts::find(name).map(|p| p.id),
            Some("ping-pong"),
            "{name}"
        );
    }
    assert!(grader::parts::find("7").is_none());
}

#[test]
fn every_part_has_stages_worth_100_points_with_hints_and_lessons() {
    for part in grader::parts::all() {
        // The rubric's points no stage can grade are the instructor's, and
        // count in the 100; bonus stages are beyond it.
        let instructor = part.instructor.map_or(0, |i| i.points);
        assert_eq!(
            part.max_points(part.stages.len()) + instructor,
            100,
            "{}",
            part.id
        );
        let lesson = grader::builder::workspace_root().join(&part.lesson);
        let text = std::fs::read_to_string(&lesson)
            .unwrap_or_else(|e| panic!("{}: {e}", lesson.display()));
        let has_heading = |anchor: &str| {
            text.lines()
                .any(|l| l.starts_with('#') && slug(l.trim_start_matches('#').trim()) == anchor)
        };
        let anchors = part.instructor.iter().map(|i| i.lesson_anchor);
        for (n, s) in part.stages.iter().chain(&part.bonus).enumerate() {
            assert!(
                !s.goal.is_empty() && !s.hint.is_empty() && s.points > 0,
                "{} stage {}",
                part.id,
                n + 1
            );
            assert!(
                has_heading(s.lesson_anchor),
                "{} has no heading for #{}",
                part.lesson,
                s.lesson_anchor
            );
        }
        for anchor in anchors {
            assert!(
                has_heading(anchor),
                "{} has no heading for #{anchor}",
                part.lesson
            );
        }
    }
}

/// The anchor mdBook gives a heading.
fn slug(heading: &str) -> String {
    heading
        .chars()
        .filter_map(|c| {
            if c.is_alphanumeric() || c == '_' || c == '-' {
                Some(c.to_ascii_lowercase())
            } else if c == ' ' {
                Some('-')
            } else {
                None
            }
        })
        .collect()
}

/// Grades the kit's own starter of part 1 on stages 1 and 2, so it is
/// skipped once a student has filled Problem 1's hole: `cargo test` stays
/// green for their work. Stage 2 fails on Problem 1's hole too: it says so
/// in one line, with Problem 1's lesson, and the hole's message is shown once.
#[test]
fn a_starter_fails_with_a_hint_a_lesson_and_a_replay_command() {
    let consumer = grader::builder::workspace_root().join("parts/01-ping-pong/src/consumer.rs");
    let code = std::fs::read_to_string(&consumer).unwrap();
    if !(grader::devcheck::has_hole(&code) && code.contains("'Problem 1, broadcast'")) {
        eprintln!(
            "skipped: Problem 1's todo!() is gone from {} (the student's work)",
            consumer.display()
        );
        return;
    }
    let (mut cmd, _dir) = grader();
    let out = cmd
        .args(["ping-pong", "--stage", "2", "--seed", "9"])
        .assert()
        .code(1)
        .get_output()
        .stdout
        .clone();
    let out = String::from_utf8(out).unwrap();
    assert!(out.contains("✘"), "{out}");
    assert!(out.contains("hint: Problem 1"), "{out}");
    assert!(
        out.contains("lesson: docs/src/part-1-ping-pong.md#problem-1-broadcast"),
        "{out}"
    );
    assert!(
        out.contains("not yet implemented: Problem 1"),
        "the todo!() message reaches the student: {out}"
    );
    assert!(
        out.contains("replay:  cargo grade ping-pong --seed 9 --stage 1"),
        "{out}"
    );
    assert!(out.contains("score 0/40"), "{out}");
    assert!(
        out.contains(
            "hint: this stage needs Problem 1 first, which is not done yet (see stage 1 above)"
        ),
        "{out}"
    );
    assert!(!out.contains("hint: Problem 2"), "{out}");
    assert_eq!(
        out.matches("For each one, add one to self.sent").count(),
        1,
        "the hole's whole message is shown once: {out}"
    );
}

#[test]
fn repeat_summarizes_stability_and_junit_is_written_where_asked() {
    let (mut cmd, dir) = grader();
    let junit = dir.path().join("out").join("junit.xml");
    cmd.args([
        "ping-pong",
        "--solution",
        "--stage",
        "1",
        "--repeat",
        "2",
        "--seed",
        "3",
        "--junit",
    ])
    .arg(&junit)
    .assert()
    .success()
    .stdout(contains("stability over 2 runs (seed 3)"))
    .stdout(contains("passed 2/2 — passes every time"));
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains("stage 1: Broadcast"), "{xml}");
    // The last score is remembered for `list`.
    let (mut list, _) = grader();
    list.env("GRADER_RUNS_DIR", dir.path())
        .arg("list")
        .assert()
        .success()
        .stdout(contains("20/20"));
}

#[test]
fn watch_grades_then_regrades_when_a_source_changes() {
    use std::io::{BufRead, BufReader};
    let runs = tempfile::tempdir().unwrap();
    let watched = tempfile::tempdir().unwrap();
    let mut child = watch(&["--poll", "--seed", "2"], runs.path(), watched.path());
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut wait_for = |what: &str| {
        for line in lines.by_ref() {
            if line.unwrap().contains(what) {
                return;
            }
        }
        panic!("watch ended before printing {what:?}");
    };
    wait_for("score 20/20");
    wait_for("watching");
    std::fs::write(watched.path().join("lib.rs"), "// changed\n").unwrap();
    wait_for("change detected: regrading");
    wait_for("score 20/20");
    child.kill().unwrap();
    child.wait().unwrap();
}

/// A build reading the sources, or a save of the same text, is no change:
/// watch, with the native watcher, must sit still until the content does
/// change.
#[test]
fn watch_regrades_on_a_change_of_content_only() {
    use std::io::{BufRead, BufReader};
    use std::sync::mpsc;
    use std::time::{Duration, Instant};
    let runs = tempfile::tempdir().unwrap();
    let watched = tempfile::tempdir().unwrap();
    let source = watched.path().join("lib.rs");
    std::fs::write(&source, "// the student's code\n").unwrap();
    let mut child = watch(&["--seed", "4"], runs.path(), watched.path());
    let (tx, rx) = mpsc::channel::<String>();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let wait_for = |what: &str, within: Duration| -> bool {
        let deadline = Instant::now() + within;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match rx.recv_timeout(left) {
                Ok(line) if line.contains(what) => return true,
                Ok(_) => {}
                Err(_) => return false,
            }
        }
        false
    };
    assert!(
        wait_for("watching", Duration::from_secs(120)),
        "no first grade"
    );
    for _ in 0..20 {
        let _ = std::fs::read_to_string(&source).unwrap();
    }
    std::fs::write(&source, "// the student's code\n").unwrap();
    let regraded = wait_for("change detected", Duration::from_secs(3));
    std::fs::write(&source, "// the student's code, changed\n").unwrap();
    let then = wait_for("change detected", Duration::from_secs(10));
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(!regraded, "reads and a same-content save regraded");
    assert!(then, "a change of content did not regrade");
}

/// `grader watch ping-pong --solution --stage 1` with `extra` flags, its
/// runs in `runs`, watching `watched`; stdout piped.
fn watch(extra: &[&str], runs: &std::path::Path, watched: &std::path::Path) -> std::process::Child {
    use std::process::{Command as Std, Stdio};
    Std::new(env!("CARGO_BIN_EXE_grader"))
        .args(["watch", "ping-pong", "--solution", "--stage", "1"])
        .args(extra)
        .env("GRADER_RUNS_DIR", runs)
        .env("GRADER_WATCH_DIR", watched)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}
