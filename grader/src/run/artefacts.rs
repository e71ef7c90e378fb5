//! Writing a run's artefacts: results.json, junit.xml and timeline.html.

use crate::harness;
use crate::report::model::{RunReport, Timeline};
use crate::report::{html, json, junit, timeline};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// Fills a stage timeline's messages from the nodes' traces (plus a mark
/// when some were left out), and names the grader's own node among their
/// ends: the nodes trace what the grader's control node sends them and
/// what they answer it, and the page tells that traffic apart.
pub fn add_messages(t: &mut Timeline, traces: &[(String, PathBuf)], start: SystemTime) {
    t.control = Some(format!("{}@{}", harness::CONTROL, harness::HOST));
    let read = timeline::read_traces(traces, start);
    if let Some(mark) = read.cap_mark() {
        t.marks.push(mark);
    }
    t.messages = read.messages;
}

/// Writes results.json, junit.xml and timeline.html into `dir` (and the
/// JUnit report also to `junit`, when given). Returns the paths written.
pub fn write_all(
    report: &RunReport,
    dir: &Path,
    junit_path: Option<&Path>,
) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let results = dir.join("results.json");
    json::write(report, &results)?;
    let junit_here = dir.join("junit.xml");
    junit::write(report, &junit_here)?;
    let html_path = dir.join("timeline.html");
    html::write(&with_lessons_relative_to(report, dir), &html_path)?;
    let mut written = vec![results, junit_here, html_path];
    if let Some(j) = junit_path {
        if let Some(parent) = j.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)?;
        }
        junit::write(report, j)?;
        written.push(j.to_path_buf());
    }
    Ok(written)
}

/// The report with lesson links rewritten relative to `dir`, so they open
/// from the HTML file (lessons are stored relative to the repository root).
fn with_lessons_relative_to(report: &RunReport, dir: &Path) -> RunReport {
    let root = crate::builder::workspace_root();
    let mut r = report.clone();
    let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    let root = root.canonicalize().unwrap_or(root);
    if let Ok(below) = dir.strip_prefix(&root) {
        let up = "../".repeat(below.components().count());
        for s in &mut r.stages {
            if !s.lesson.is_empty() {
                s.lesson = format!("{up}{}", s.lesson);
            }
        }
    }
    r
}
