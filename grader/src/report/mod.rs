//! Reports of a graded run: the data model and its renderings.
//!
//! [`model`] is what a run produced; [`json`], [`junit`] and [`html`] render a
//! finished [`model::RunReport`] for machines, CI and people; [`timeline`]
//! turns the nodes' message traces into the timeline the HTML draws.

pub mod html;
pub mod json;
pub mod junit;
pub mod model;
pub mod timeline;

/// Sample reports for the renderers' tests, the browser test among them.
#[doc(hidden)]
pub mod fixtures;

use std::io::{self, Write};
use std::path::Path;

/// Writes `contents` to `path` through a sibling temporary file and a rename,
/// so a reader (or a CI job after an interrupted run) never sees half a report.
fn write_atomic(path: &Path, contents: &[u8]) -> io::Result<()> {
    let name = path.file_name().ok_or_else(|| {
        io::Error::new(io::ErrorKind::InvalidInput, "report path has no file name")
    })?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".{}.tmp", std::process::id()));
    let tmp = path.with_file_name(tmp_name);
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(contents)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}
