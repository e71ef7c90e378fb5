//! `dev-check`'s command line: a part, mutant or stage that does not exist
//! is a usage error (exit code 2, the valid names on stderr) before anything
//! is built, never a check that "passed" having checked nothing.
//!
//! Every grader here runs with `CARGO` naming no program and a target
//! directory of its own: if it tried to build anything, the build would
//! fail at once (and show in the output) instead of compiling a part.

use assert_cmd::Command;
use predicates::prelude::{Predicate, PredicateBooleanExt};
use predicates::str::contains;

/// `grader dev-check` with `args`, unable to build, its runs and target
/// directory in a private temporary directory (dropped with the guard).
fn dev_check(args: &[&str]) -> (Command, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut c = Command::cargo_bin("grader").expect("the grader binary is built");
    c.env("GRADER_RUNS_DIR", dir.path().join("runs"))
        .env("CARGO_TARGET_DIR", dir.path().join("target"))
        .env("CARGO", dir.path().join("no-cargo-here"))
        .arg("dev-check")
        .args(args)
        .timeout(std::time::Duration::from_secs(60));
    (c, dir)
}

/// Nothing was built or graded, and nothing claims the kit is sound.
fn checked_nothing() -> impl Predicate<str> {
    contains("dev-check passed")
        .or(contains("building"))
        .or(contains("cargo build"))
        .not()
}

#[test]
fn an_unknown_mutant_of_a_part_is_an_error_listing_its_mutants() {
    let (mut cmd, _dir) = dev_check(&["ping-pong", "--mutant", "nosuchmutant"]);
    cmd.assert()
        .code(2)
        .stderr(contains(
            "dev-check: ping-pong has no mutant called \"nosuchmutant\"; its mutants: ",
        ))
        .stderr(contains("1-count-overwritten"))
        .stderr(contains("3-no-catch-up"))
        .stdout(checked_nothing());
}

#[test]
fn an_unknown_mutant_of_any_part_is_an_error_listing_every_part_s_mutants() {
    let (mut cmd, _dir) = dev_check(&["--mutant", "nosuchmutant"]);
    cmd.assert()
        .code(2)
        .stderr(contains(
            "dev-check: no part has a mutant called \"nosuchmutant\"",
        ))
        .stderr(contains("ping-pong: 1-count-overwritten"))
        .stderr(contains("map-reduce: "))
        .stderr(contains("chat: "))
        .stdout(checked_nothing());
}

/// A mutant named without a part is run in the part that has it; the other
/// parts, which have no mutant by that name, are not problems of the kit.
/// (Its build fails here, on purpose: that is the one problem reported.)
#[test]
fn a_mutant_named_without_its_part_is_looked_for_in_the_part_that_has_it() {
    let (mut cmd, _dir) = dev_check(&["--mutant", "1-count-overwritten", "--seed", "1"]);
    let out = cmd.assert().code(1).get_output().clone();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("building 1 mutants of ping-pong"),
        "{stdout}"
    );
    assert!(!stdout.contains("has no mutant called"), "{stdout}");
    assert!(
        stdout.contains("dev-check FAILED: 1 problem(s)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("ping-pong mutant 1-count-overwritten: the mutants could not be built: could not run cargo"),
        "{stdout}"
    );
    assert!(
        !stdout.contains("could not be built: the mutants could not be built"),
        "the reason is given twice: {stdout}"
    );
}

#[test]
fn a_stage_past_the_last_is_refused_with_the_valid_range() {
    let (mut cmd, _dir) = dev_check(&["ping-pong", "--stage", "99"]);
    let stages = grader::parts::find("ping-pong").unwrap().stages.len();
    cmd.assert()
        .code(2)
        .stderr(contains(format!(
            "dev-check: there is no stage 99: ping-pong has stages 1 to {stages}"
        )))
        .stdout(checked_nothing());
}

#[test]
fn a_stage_some_part_lacks_is_refused_for_all_parts_with_the_common_range() {
    let fewest = grader::parts::all()
        .iter()
        .map(|p| p.stages.len())
        .min()
        .unwrap();
    let too_far = (fewest + 1).to_string();
    let (mut cmd, _dir) = dev_check(&["--stage", &too_far, "--skip-solutions"]);
    cmd.assert()
        .code(2)
        .stderr(contains(format!(
            "dev-check: there is no stage {too_far} in every part: "
        )))
        .stderr(contains(format!("--stage takes 1 to {fewest}")))
        .stdout(checked_nothing());
}

#[test]
fn stage_zero_and_an_unknown_part_are_refused_too() {
    let (mut cmd, _dir) = dev_check(&["ping-pong", "--stage", "0"]);
    cmd.assert().code(2).stdout(checked_nothing());
    let (mut cmd, _dir) = dev_check(&["pong-ping"]);
    cmd.assert()
        .code(2)
        .stderr(contains("dev-check: no part called \"pong-ping\""))
        .stderr(contains("ping-pong (1)"))
        .stdout(checked_nothing());
}
