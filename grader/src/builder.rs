//! Building the crate under test with cargo, and finding its binary.

use crate::run::output::Output;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The workspace root (the grader is always run from this repository).
pub fn workspace_root() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.parent().unwrap_or(here).to_path_buf()
}

/// The cargo target directory of the workspace.
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(d) => {
            let d = PathBuf::from(d);
            if d.is_absolute() {
                d
            } else {
                workspace_root().join(d)
            }
        }
        None => workspace_root().join("target"),
    }
}

/// Why a build failed.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// cargo could not be run at all.
    #[error("could not run cargo ({0}); is the Rust toolchain installed and on PATH?")]
    NoCargo(std::io::Error),
    /// The code does not compile: the student's problem.
    #[error("`cargo build --release -p {package}` failed: the code does not compile (the compiler's messages are above)")]
    Compile {
        /// The package.
        package: String,
    },
    /// cargo succeeded but named no binary.
    #[error("cargo built {package} but reported no binary for it")]
    NoBinary {
        /// The package.
        package: String,
    },
}

/// Builds `package` in release mode and returns the path of its binary
/// (the one named as the package). `manifest` builds a crate outside the
/// workspace (a mutant) into `target_dir`. Compiler messages go to the
/// terminal as cargo renders them.
pub fn build(
    package: &str,
    manifest: Option<&Path>,
    target_dir: Option<&Path>,
    out: &Output,
) -> Result<PathBuf, BuildError> {
    build_bins(package, &[package], manifest, target_dir, out)
}

/// Like [`build`], building the binaries `bins` of `package` (the first is
/// the one returned; the others land beside it).
///
/// Inside the kit's workspace the grader is selected too (`-p grader`),
/// although only `bins` are built: cargo then resolves the dependencies'
/// features as for the grader itself, so the part reuses every dependency
/// that `cargo grade` compiled for the grader instead of compiling its own
/// copy with another feature set (a first grade would otherwise build tokio,
/// serde and the runtime twice).
pub fn build_bins(
    package: &str,
    bins: &[&str],
    manifest: Option<&Path>,
    target_dir: Option<&Path>,
    out: &Output,
) -> Result<PathBuf, BuildError> {
    let mut cmd = cargo_build(target_dir);
    match manifest {
        Some(m) => {
            cmd.arg("--manifest-path").arg(m);
        }
        None => {
            cmd.args(["-p", package, "-p", "grader"]);
            for b in bins {
                cmd.args(["--bin", b]);
            }
        }
    }
    out.line("build", format!("cargo build --release -p {package}"));
    let package = bins.first().copied().unwrap_or(package);
    let (mut binaries, success) = run_build(cmd)?;
    if !success {
        return Err(BuildError::Compile {
            package: package.to_string(),
        });
    }
    binaries
        .remove(package)
        .ok_or_else(|| BuildError::NoBinary {
            package: package.to_string(),
        })
}

/// Builds every package of the workspace at `manifest` in one cargo
/// invocation (cargo compiles them side by side and shares what they
/// share), going on past a package that does not compile. Returns each
/// binary built, by name: a package missing from it did not build.
pub fn build_workspace(
    manifest: &Path,
    target_dir: &Path,
    what: &str,
    out: &Output,
) -> Result<std::collections::HashMap<String, PathBuf>, BuildError> {
    let mut cmd = cargo_build(Some(target_dir));
    cmd.arg("--manifest-path")
        .arg(manifest)
        .args(["--workspace", "--keep-going"]);
    out.line(
        "build",
        format!("cargo build --release --workspace ({what})"),
    );
    Ok(run_build(cmd)?.0)
}

/// `cargo build --release` with JSON messages on stdout, rendered
/// diagnostics on the terminal.
fn cargo_build(target_dir: Option<&Path>) -> Command {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(workspace_root())
        .args([
            "build",
            "--release",
            "--message-format=json-render-diagnostics",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    if let Some(t) = target_dir {
        cmd.env("CARGO_TARGET_DIR", t);
    }
    cmd
}

/// Runs a build; returns the binaries it reported (target name → path)
/// and whether cargo succeeded.
fn run_build(
    mut cmd: Command,
) -> Result<(std::collections::HashMap<String, PathBuf>, bool), BuildError> {
    let mut child = cmd.spawn().map_err(BuildError::NoCargo)?;
    let mut binaries = std::collections::HashMap::new();
    if let Some(stdout) = child.stdout.take() {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) else {
                continue;
            };
            if v["reason"] == "compiler-artifact" {
                if let (Some(name), Some(exe)) =
                    (v["target"]["name"].as_str(), v["executable"].as_str())
                {
                    binaries.insert(name.to_string(), PathBuf::from(exe));
                }
            }
        }
    }
    let status = child.wait().map_err(BuildError::NoCargo)?;
    Ok((binaries, status.success()))
}
