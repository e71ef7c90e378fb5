//! `junit.xml`: the run as JUnit XML, for CI systems that display test results.
//!
//! One test suite per graded part, one test case per stage. A failed stage is
//! a JUnit *failure* (the code under test is wrong); a stage the grader could
//! not decide is an *error*, so CI does not blame the student for it.

use super::model::{CheckKind, CheckReport, RunReport, StageReport, StageStatus};
use quick_junit::{NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestSuite};
use std::fmt::Write as _;
use std::io;
use std::path::Path;
use std::time::Duration;

/// Builds the JUnit document for `report`.
///
/// Exposed so tests and tools can inspect the structure rather than the XML.
pub fn to_junit(report: &RunReport) -> Report {
    let suite_name = format!("{} ({})", report.part, report.target);
    let mut suite = TestSuite::new(suite_name.as_str());
    suite.set_time(Duration::from_millis(report.duration_ms));
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(&report.started_at) {
        suite.set_timestamp(t);
    }
    suite.add_properties([
        Property::new("seed", report.seed.to_string()),
        Property::new("replay", report.replay.as_str()),
        Property::new("target", report.target.as_str()),
        Property::new("score", format!("{}/{}", report.score, report.max)),
        Property::new("time_scale", report.time_scale.to_string()),
        Property::new("started_at", report.started_at.as_str()),
    ]);
    for stage in &report.stages {
        let mut case = TestCase::new(
            format!("stage {}: {}", stage.number, stage.name),
            status(stage),
        );
        case.set_classname(suite_name.as_str());
        case.set_time(Duration::from_millis(stage.duration_ms));
        case.set_assertions(stage.checks.len());
        case.add_property(Property::new(
            "points",
            format!("{}/{}", stage.points, stage.max_points),
        ));
        suite.add_test_case(case);
    }
    let mut junit = Report::new(report.title.as_str());
    junit.set_time(Duration::from_millis(report.duration_ms));
    junit.add_test_suite(suite);
    junit
}

/// Renders `report` as JUnit XML.
pub fn to_string(report: &RunReport) -> io::Result<String> {
    to_junit(report).to_string().map_err(io::Error::other)
}

/// Writes `report` as JUnit XML to `path`, replacing the file atomically.
pub fn write(report: &RunReport, path: &Path) -> io::Result<()> {
    let xml = to_string(report)?;
    super::write_atomic(path, xml.as_bytes())
}

/// The JUnit status of one stage, with a message (one line, shown in lists)
/// and a description (the full story, shown when the case is opened).
fn status(stage: &StageReport) -> TestCaseStatus {
    let failed: Vec<&CheckReport> = stage.checks.iter().filter(|c| !c.passed).collect();
    match stage.status {
        StageStatus::Passed => TestCaseStatus::success(),
        StageStatus::Failed => {
            let mut st = TestCaseStatus::non_success(NonSuccessKind::Failure);
            let message = if failed.is_empty() {
                stage.error.clone().unwrap_or_else(|| "stage failed".into())
            } else {
                failed
                    .iter()
                    .map(|c| one_line(c))
                    .collect::<Vec<_>>()
                    .join("; ")
            };
            st.set_message(message);
            st.set_type(match failed.first().map(|c| c.kind) {
                Some(CheckKind::Safety) => "safety",
                Some(CheckKind::Liveness) => "liveness",
                None => "failed",
            });
            st.set_description(description(stage, &failed));
            st
        }
        StageStatus::Inconclusive | StageStatus::GraderError => {
            let mut st = TestCaseStatus::non_success(NonSuccessKind::Error);
            let (ty, fallback) = if stage.status == StageStatus::Inconclusive {
                ("inconclusive", "the grader could not decide this stage")
            } else {
                ("grader_error", "the grader failed")
            };
            st.set_type(ty);
            st.set_message(stage.error.as_deref().unwrap_or(fallback));
            st.set_description(description(stage, &failed));
            st
        }
        StageStatus::Skipped => {
            let mut st = TestCaseStatus::skipped();
            st.set_message(stage.error.as_deref().unwrap_or("not run"));
            st
        }
    }
}

/// "name: expected X, got Y" for a failed check.
fn one_line(c: &CheckReport) -> String {
    let mut s = c.name.clone();
    match (&c.expected, &c.actual) {
        (Some(e), Some(a)) => {
            let _ = write!(s, ": expected {e}, got {a}");
        }
        (Some(e), None) => {
            let _ = write!(s, ": expected {e}");
        }
        (None, Some(a)) => {
            let _ = write!(s, ": got {a}");
        }
        (None, None) => {}
    }
    s
}

/// Multi-line text: goal, error, every failed check, hint and lesson.
fn description(stage: &StageReport, failed: &[&CheckReport]) -> String {
    let mut s = format!("Goal: {}\n", stage.goal);
    if let Some(e) = &stage.error {
        let _ = writeln!(s, "Error: {e}");
    }
    for c in failed {
        let kind = match c.kind {
            CheckKind::Safety => "safety",
            CheckKind::Liveness => "liveness",
        };
        let _ = writeln!(s, "\nFailed {kind} check at {} ms: {}", c.at_ms, c.name);
        if let Some(e) = &c.expected {
            let _ = writeln!(s, "  expected: {e}");
        }
        if let Some(a) = &c.actual {
            let _ = writeln!(s, "  actual:   {a}");
        }
    }
    if !stage.hint.is_empty() {
        let _ = writeln!(s, "\nHint: {}", stage.hint);
    }
    if !stage.lesson.is_empty() {
        let _ = writeln!(s, "Lesson: {}", stage.lesson);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixtures::sample_report;

    fn parsed() -> (String, Report) {
        let xml = to_string(&sample_report()).expect("serializes");
        let back = Report::deserialize_from_str(&xml).expect("valid JUnit XML");
        (xml, back)
    }

    #[test]
    fn one_suite_per_part_one_case_per_stage() {
        let (xml, back) = parsed();
        assert!(xml.starts_with("<?xml"));
        assert_eq!(back.test_suites.len(), 1);
        let suite = &back.test_suites[0];
        assert_eq!(suite.name.as_str(), "ping-pong (solution)");
        let names: Vec<&str> = suite.test_cases.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "stage 1: Ping",
                "stage 2: Partition",
                "stage 3: Crash",
                "stage 4: Restart",
                "stage 5: Heal"
            ]
        );
        assert_eq!(xml.matches("<testcase ").count(), 5);
        assert_eq!(suite.test_cases[1].time, Some(Duration::from_millis(1500)));
        assert_eq!(suite.failures, 1);
        assert_eq!(suite.errors, 2);
        assert!(
            suite.timestamp.is_some(),
            "started_at becomes the timestamp"
        );
    }

    #[test]
    fn statuses_map_to_failure_error_and_skipped() {
        let (xml, back) = parsed();
        assert_eq!(xml.matches("<failure").count(), 1);
        assert_eq!(xml.matches("<error").count(), 2);
        assert_eq!(xml.matches("<skipped").count(), 1);
        let cases = &back.test_suites[0].test_cases;
        assert!(matches!(cases[0].status, TestCaseStatus::Success { .. }));
        match &cases[1].status {
            TestCaseStatus::NonSuccess {
                kind: NonSuccessKind::Failure,
                message,
                ty,
                description,
                ..
            } => {
                let message = message.as_ref().expect("message").as_str();
                assert_eq!(
                    message,
                    "n1 sees n3 down: expected nodedown within 500ms, got no nodedown after 1500ms"
                );
                assert_eq!(ty.as_ref().map(|t| t.as_str()), Some("liveness"));
                let d = description.as_ref().expect("description").as_str();
                assert!(d.contains("expected: nodedown within 500ms"), "{d}");
                assert!(d.contains("actual:   no nodedown after 1500ms"), "{d}");
                assert!(d.contains("Hint: Monitors must fire"), "{d}");
                assert!(d.contains("Lesson: lessons/02-monitors.md#nodedown"), "{d}");
                assert!(
                    !d.contains("nothing crosses"),
                    "passed checks are left out: {d}"
                );
            }
            other => panic!("stage 2 should be a failure, got {other:?}"),
        }
        match &cases[2].status {
            TestCaseStatus::NonSuccess {
                kind: NonSuccessKind::Error,
                message,
                ty,
                ..
            } => {
                assert_eq!(
                    message.as_ref().map(|m| m.as_str()),
                    Some("could not bind the proxy port")
                );
                assert_eq!(ty.as_ref().map(|t| t.as_str()), Some("grader_error"));
            }
            other => panic!("stage 3 should be an error, got {other:?}"),
        }
        assert!(matches!(
            cases[3].status,
            TestCaseStatus::NonSuccess {
                kind: NonSuccessKind::Error,
                ..
            }
        ));
        assert!(matches!(cases[4].status, TestCaseStatus::Skipped { .. }));
    }

    #[test]
    fn properties_carry_seed_and_replay() {
        let (_, back) = parsed();
        let props = &back.test_suites[0].properties;
        let get = |k: &str| {
            props
                .iter()
                .find(|p| p.name.as_str() == k)
                .map(|p| p.value.as_str().to_string())
        };
        assert_eq!(get("seed").as_deref(), Some("42"));
        assert_eq!(
            get("replay").as_deref(),
            Some("cargo run -p grader -- ping-pong --seed 42 --target solution")
        );
        assert_eq!(get("score").as_deref(), Some("2/10"));
    }

    #[test]
    fn markup_in_names_is_escaped() {
        let mut report = sample_report();
        report.stages[1].checks[1].actual = Some("<b>&\"oops\"</b>".into());
        report.stages[0].name = "a<b".into();
        let xml = to_string(&report).expect("serializes");
        let back = Report::deserialize_from_str(&xml).expect("still valid XML");
        assert_eq!(
            back.test_suites[0].test_cases[0].name.as_str(),
            "stage 1: a<b"
        );
        assert!(!xml.contains("<b>"));
    }

    #[test]
    fn write_produces_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("junit.xml");
        write(&sample_report(), &path).expect("writes");
        let text = std::fs::read_to_string(&path).expect("reads");
        assert!(Report::deserialize_from_str(&text).is_ok());
    }
}
