//! `results.json`: the machine-readable rendering of a run.
//!
//! Field order follows the structs in [`model`](super::model), so diffs
//! between two runs' results line up.

use super::model::RunReport;
use std::io;
use std::path::Path;

/// Renders `report` as pretty-printed JSON, fields in declaration order.
///
/// Kept separate from [`write()`] so callers can print or embed the JSON.
pub fn to_string(report: &RunReport) -> String {
    // Every field is a string, integer, float, bool, option, vector or
    // unit-variant enum with derived impls, so serialization cannot fail.
    serde_json::to_string_pretty(report).expect("a RunReport always serializes to JSON")
}

/// Writes `report` as pretty JSON (with a final newline) to `path`.
///
/// The file is replaced atomically, so an interrupted run never leaves a
/// truncated results.json for CI to misread.
pub fn write(report: &RunReport, path: &Path) -> io::Result<()> {
    let mut s = to_string(report);
    s.push('\n');
    super::write_atomic(path, s.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixtures::sample_report;

    #[test]
    fn round_trips_through_serde() {
        let report = sample_report();
        let s = to_string(&report);
        let back: RunReport = serde_json::from_str(&s).expect("parses back");
        // The timeline is drawn in the HTML only; everything else survives.
        let mut without_timeline = report.clone();
        for stage in &mut without_timeline.stages {
            stage.timeline = Default::default();
        }
        assert_eq!(back, without_timeline);
        assert!(!s.contains("\"timeline\""));
    }

    #[test]
    fn has_the_schema_keys_in_struct_order() {
        let s = to_string(&sample_report());
        let v: serde_json::Value = serde_json::from_str(&s).expect("valid JSON");
        let obj = v.as_object().expect("top level is an object");
        for key in [
            "schema",
            "part",
            "title",
            "target",
            "seed",
            "time_scale",
            "started_at",
            "duration_ms",
            "score",
            "max",
            "replay",
            "stages",
        ] {
            assert!(obj.contains_key(key), "missing top-level key {key}");
        }
        assert_eq!(obj.len(), 12, "no extra top-level keys");
        // Declaration order: "schema" comes first and "stages" last.
        let schema_at = s.find("\"schema\"").expect("schema key");
        let part_at = s.find("\"part\"").expect("part key");
        let stages_at = s.find("\"stages\"").expect("stages key");
        assert!(schema_at < part_at && part_at < stages_at);
        // Enums use the snake_case names of the schema.
        assert_eq!(v["stages"][1]["status"], "failed");
        assert_eq!(v["stages"][2]["status"], "grader_error");
        assert_eq!(v["stages"][0]["checks"][0]["kind"], "safety");
        assert!(v["stages"][1].get("timeline").is_none());
        // Pretty-printed.
        assert!(s.contains("\n  \"part\": \"ping-pong\""));
    }

    #[test]
    fn write_creates_the_file_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("results.json");
        let report = sample_report();
        write(&report, &path).expect("writes");
        let text = std::fs::read_to_string(&path).expect("reads back");
        assert!(text.ends_with("}\n"));
        let back: RunReport = serde_json::from_str(&text).expect("parses");
        assert_eq!(back.stages.len(), report.stages.len());
        assert_eq!(back.score, report.score);
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .expect("lists")
            .filter_map(|e| e.ok())
            .map(|e| e.file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("results.json")]);
    }

    #[test]
    fn write_into_a_missing_directory_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("no/such/dir/results.json");
        assert!(write(&sample_report(), &path).is_err());
    }
}
