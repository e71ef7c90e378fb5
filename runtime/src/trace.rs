//! An opt-in, structured trace of every frame a node sends or receives.
//!
//! One JSON object per line: `{"t_us":…,"dir":"send","from_node":…,"to_node":…,
//! "kind":"cast","from":…,"to":…,"type":…,"bytes":…}`. The grader reads these to
//! draw message timelines; students can read them with `jq`.

use crate::pid::NodeName;
use parking_lot::Mutex;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

/// Writes trace lines to a file.
pub(crate) struct Tracer {
    out: Mutex<BufWriter<File>>,
}

#[derive(serde::Serialize)]
struct Line<'a> {
    t_us: u128,
    dir: &'a str,
    from_node: &'a str,
    to_node: &'a str,
    kind: &'a str,
    from: Option<String>,
    to: Option<String>,
    #[serde(rename = "type")]
    ty: Option<&'a str>,
    bytes: usize,
}

impl Tracer {
    pub(crate) fn open(path: &Path) -> Result<Tracer, String> {
        let f = File::create(path)
            .map_err(|e| format!("cannot create trace file {}: {e}", path.display()))?;
        Ok(Tracer {
            out: Mutex::new(BufWriter::new(f)),
        })
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn record(
        &self,
        dir: &str,
        from_node: &NodeName,
        to_node: &NodeName,
        kind: &str,
        from: Option<String>,
        to: Option<String>,
        ty: Option<&str>,
        bytes: usize,
    ) {
        if kind == "tick" {
            return;
        }
        let t_us = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_micros())
            .unwrap_or(0);
        let line = Line {
            t_us,
            dir,
            from_node: from_node.as_str(),
            to_node: to_node.as_str(),
            kind,
            from,
            to,
            ty,
            bytes,
        };
        if let Ok(s) = serde_json::to_string(&line) {
            let mut out = self.out.lock();
            let _ = writeln!(out, "{s}");
            let _ = out.flush();
        }
    }
}
