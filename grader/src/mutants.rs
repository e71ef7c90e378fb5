//! Mutants: copies of a solution with one deliberate bug, made by applying a
//! patch from `grader/mutants/<part>/<name>.patch`.
//!
//! A patch starts with comment lines naming the stage that must catch it:
//!
//! ```text
//! # stage: 3
//! # The consumer no longer asks the producers for their counts when it starts.
//! --- a/src/consumer.rs
//! +++ b/src/consumer.rs
//! @@ ...
//! ```
//!
//! Each mutated copy is a crate of its own (the workspace's inherited
//! settings written out, path dependencies made absolute, renamed
//! `<part>-mutant-<name>`), and a part's mutants are built together, as one
//! workspace with the repository's Cargo.lock, in one cargo invocation,
//! into a target directory shared by all mutants: only the mutated crates
//! themselves are compiled, side by side.

use crate::builder::{self, BuildError};
use crate::part::Part;
use crate::run::output::Output;
use std::path::{Path, PathBuf};
use toml_edit::{DocumentMut, Item};

/// One mutant of a part's solution.
#[derive(Debug, Clone)]
pub struct Mutant {
    /// File name without `.patch`.
    pub name: String,
    /// The stage that must catch it.
    pub stage: u32,
    /// What the bug is.
    pub description: String,
    /// The patch itself (without the comment lines).
    pub patch: String,
}

/// Why a mutant could not be prepared.
#[derive(Debug, thiserror::Error)]
pub enum MutantError {
    /// A file could not be read or written.
    #[error("{0}: {1}")]
    Io(String, std::io::Error),
    /// The patch is malformed or does not apply to the solution.
    #[error("patch {0}: {1}")]
    Patch(String, String),
    /// The mutated crate did not build.
    #[error(transparent)]
    Build(#[from] BuildError),
    /// The batch could not be built at all (cargo did not run).
    #[error("the mutants could not be built: {0}")]
    Batch(String),
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> MutantError {
    let what = what.into();
    move |e| MutantError::Io(what, e)
}

/// The mutants of `part`, sorted by name.
pub fn list(part: &Part) -> Result<Vec<Mutant>, MutantError> {
    let dir = builder::workspace_root()
        .join("grader")
        .join("mutants")
        .join(part.id);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Ok(vec![]);
    };
    let mut out = vec![];
    for e in entries.filter_map(Result::ok) {
        let path = e.path();
        if path.extension().and_then(|x| x.to_str()) != Some("patch") {
            continue;
        }
        let name = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("")
            .to_string();
        let text = std::fs::read_to_string(&path).map_err(io(path.display().to_string()))?;
        out.push(parse(&name, &text)?);
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// Splits a mutant file into its header and its patch.
pub fn parse(name: &str, text: &str) -> Result<Mutant, MutantError> {
    let mut stage = None;
    let mut description = vec![];
    let mut patch = String::new();
    let mut in_header = true;
    for line in text.lines() {
        if in_header {
            if let Some(c) = line.strip_prefix('#') {
                let c = c.trim();
                if let Some(s) = c.strip_prefix("stage:") {
                    stage = s.trim().parse().ok();
                } else if !c.is_empty() {
                    description.push(c.to_string());
                }
                continue;
            }
            in_header = false;
        }
        patch.push_str(line);
        patch.push('\n');
    }
    let stage = stage
        .ok_or_else(|| MutantError::Patch(name.into(), "no `# stage: N` line at the top".into()))?;
    Ok(Mutant {
        name: name.to_string(),
        stage,
        description: description.join(" "),
        patch,
    })
}

/// Splits a multi-file unified diff into (relative path, single-file diff).
fn split_files(name: &str, patch: &str) -> Result<Vec<(String, String)>, MutantError> {
    let mut files: Vec<(String, String)> = vec![];
    let lines: Vec<&str> = patch.lines().collect();
    let mut i = 0;
    while i < lines.len() {
        if lines[i].starts_with("--- ") && i + 1 < lines.len() && lines[i + 1].starts_with("+++ ") {
            let target = lines[i + 1][4..].split('\t').next().unwrap_or("").trim();
            let rel = target.strip_prefix("b/").unwrap_or(target).to_string();
            files.push((rel, String::new()));
        }
        if let Some((_, body)) = files.last_mut() {
            body.push_str(lines[i]);
            body.push('\n');
        }
        i += 1;
    }
    if files.is_empty() {
        return Err(MutantError::Patch(
            name.into(),
            "no file in the patch".into(),
        ));
    }
    Ok(files)
}

/// Copies the part's solution, applies the mutant's patch, and builds it.
/// Returns the binary.
pub fn build(part: &Part, m: &Mutant, out: &Output) -> Result<PathBuf, MutantError> {
    build_all(part, &[m], out)
        .pop()
        .expect("one result per mutant")
}

/// Builds mutants `ms` of `part` in one cargo invocation: each is a crate
/// of its own (package `<part>-mutant-<name>`) in a workspace made for the
/// batch, so cargo compiles them side by side instead of one after the
/// other, and a mutant that does not compile does not stop the rest.
/// Returns one result per mutant, in order.
pub fn build_all(part: &Part, ms: &[&Mutant], out: &Output) -> Vec<Result<PathBuf, MutantError>> {
    let root = builder::workspace_root();
    let batch = builder::target_dir()
        .join("grader")
        .join("mutants")
        .join(part.id);
    let _ = std::fs::remove_dir_all(&batch);
    let mut results: Vec<Result<String, MutantError>> =
        ms.iter().map(|m| prepare(&root, part, m, &batch)).collect();
    let members: Vec<String> = results
        .iter()
        .zip(ms)
        .filter(|(r, _)| r.is_ok())
        .map(|(_, m)| format!("{:?}", m.name))
        .collect();
    let packages: Vec<String> = results
        .iter()
        .filter_map(|r| r.as_ref().ok().cloned())
        .collect();
    let mut binaries = std::collections::HashMap::new();
    if !members.is_empty() {
        let built = write_batch(&root, &batch, &members, &packages).and_then(|()| {
            // The workspace's own target directory: with the same profile
            // (`write_batch`) and the same dependency features
            // (workspace-hack), the mutants reuse every dependency that
            // `cargo grade` compiled, and only the mutants themselves build.
            let target = builder::target_dir();
            let what = format!("{} mutants of {}", members.len(), part.id);
            builder::build_workspace(&batch.join("Cargo.toml"), &target, &what, out)
                .map_err(|e| MutantError::Batch(e.to_string()))
        });
        match built {
            Ok(b) => binaries = b,
            Err(e) => {
                // Said once: a batch error already reads "the mutants could
                // not be built: …".
                let why = match e {
                    MutantError::Batch(why) => why,
                    e => e.to_string(),
                };
                for r in results.iter_mut().filter(|r| r.is_ok()) {
                    *r = Err(MutantError::Batch(why.clone()));
                }
            }
        }
    }
    results
        .into_iter()
        .map(|r| {
            let package = r?;
            binaries
                .remove(&package)
                .ok_or(MutantError::Build(BuildError::Compile { package }))
        })
        .collect()
}

/// The package (and binary) name of mutant `m`'s crate.
fn package_name(part: &Part, m: &Mutant) -> String {
    format!("{}-mutant-{}", part.id, m.name)
}

/// Writes mutant `m` as a crate of the batch workspace: the solution,
/// patched, with a manifest that builds outside the repository's
/// workspace. Returns its package name.
fn prepare(root: &Path, part: &Part, m: &Mutant, batch: &Path) -> Result<String, MutantError> {
    let solution = root.join("solutions").join(&part.dir);
    let work = batch.join(&m.name);
    copy_dir(&solution, &work)?;
    for (rel, patched) in apply(&solution, m)? {
        let path = work.join(&rel);
        std::fs::write(&path, patched).map_err(io(path.display().to_string()))?;
    }
    let package = package_name(part, m);
    standalone_manifest(root, &solution, &work, &package)?;
    Ok(package)
}

/// The files of the solution at `solution` that mutant `m` changes, as it
/// changes them: (path relative to the crate, new contents). A patch that
/// does not apply, or changes nothing, is an error.
pub fn apply(solution: &Path, m: &Mutant) -> Result<Vec<(String, String)>, MutantError> {
    let mut files = vec![];
    for (rel, diff) in split_files(&m.name, &m.patch)? {
        let path = solution.join(&rel);
        let original = std::fs::read_to_string(&path).map_err(io(path.display().to_string()))?;
        let patch = diffy::Patch::from_str(&diff)
            .map_err(|e| MutantError::Patch(m.name.clone(), format!("{rel}: {e}")))?;
        let patched = diffy::apply(&original, &patch).map_err(|e| {
            MutantError::Patch(m.name.clone(), format!("does not apply to {rel}: {e}"))
        })?;
        if patched == original {
            return Err(MutantError::Patch(
                m.name.clone(),
                format!("changes nothing in {rel}"),
            ));
        }
        files.push((rel, patched));
    }
    Ok(files)
}

/// The batch's workspace manifest, and the repository's Cargo.lock, so the
/// mutants build with exactly the dependencies the solution does.
fn write_batch(
    root: &Path,
    batch: &Path,
    members: &[String],
    packages: &[String],
) -> Result<(), MutantError> {
    let mut manifest = format!(
        "# Made by the grader for one build of mutants; rewritten each time.\n\
         [workspace]\nresolver = \"2\"\nmembers = [{}]\n",
        members.join(", ")
    );
    // The workspace's release profile, so the dependencies' artefacts are
    // the ones `cargo grade` built (its per-package overrides name packages
    // the batch does not have, and are left out).
    let ws_path = root.join("Cargo.toml");
    let ws = std::fs::read_to_string(&ws_path).map_err(io(ws_path.display().to_string()))?;
    let ws: DocumentMut = ws.parse().map_err(|e: toml_edit::TomlError| {
        MutantError::Patch(ws_path.display().to_string(), e.to_string())
    })?;
    if let Some(release) = ws
        .get("profile")
        .and_then(|p| p.get("release"))
        .and_then(|r| r.as_table())
    {
        manifest.push_str("\n[profile.release]\n");
        for (key, value) in release.iter().filter(|(k, _)| *k != "package") {
            if let Some(v) = value.as_value() {
                manifest.push_str(&format!("{key} = {}\n", v.to_string().trim()));
            }
        }
    }
    // The mutants themselves at opt-level 1 without debug info: a third
    // faster to compile than the solution's release build (a part's code is
    // not where its time goes: the runtime and every dependency stay fully
    // optimized), for dozens of mutants a run.
    for package in packages {
        manifest.push_str(&format!(
            "\n[profile.release.package.{package:?}]\nopt-level = 1\ndebug = 0\n"
        ));
    }
    let path = batch.join("Cargo.toml");
    std::fs::write(&path, manifest).map_err(io(path.display().to_string()))?;
    std::fs::copy(root.join("Cargo.lock"), batch.join("Cargo.lock")).map_err(io("Cargo.lock"))?;
    Ok(())
}

fn copy_dir(from: &Path, to: &Path) -> Result<(), MutantError> {
    std::fs::create_dir_all(to).map_err(io(to.display().to_string()))?;
    for e in std::fs::read_dir(from).map_err(io(from.display().to_string()))? {
        let e = e.map_err(io(from.display().to_string()))?;
        let (src, dst) = (e.path(), to.join(e.file_name()));
        if src.is_dir() {
            if e.file_name() != "target" {
                copy_dir(&src, &dst)?;
            }
        } else {
            std::fs::copy(&src, &dst).map_err(io(src.display().to_string()))?;
        }
    }
    Ok(())
}

/// Rewrites the copied manifest so it builds outside the repository's
/// workspace: `x.workspace = true` replaced by the workspace's value,
/// relative paths made absolute (relative to the original crate), and the
/// package and its binary renamed `package`.
fn standalone_manifest(
    root: &Path,
    original: &Path,
    work: &Path,
    package: &str,
) -> Result<(), MutantError> {
    let read = |p: &Path| -> Result<DocumentMut, MutantError> {
        let text = std::fs::read_to_string(p).map_err(io(p.display().to_string()))?;
        text.parse::<DocumentMut>()
            .map_err(|e| MutantError::Patch(p.display().to_string(), e.to_string()))
    };
    let ws = read(&root.join("Cargo.toml"))?;
    let mut doc = read(&work.join("Cargo.toml"))?;
    let ws_package = ws["workspace"]["package"]
        .as_table()
        .cloned()
        .unwrap_or_default();
    let ws_deps = ws["workspace"]["dependencies"]
        .as_table()
        .cloned()
        .unwrap_or_default();
    if let Some(pkg) = doc["package"].as_table_mut() {
        let keys: Vec<String> = pkg.iter().map(|(k, _)| k.to_string()).collect();
        for k in keys {
            if is_inherited(&pkg[&k]) {
                if let Some(v) = ws_package.get(&k) {
                    pkg[&k] = v.clone();
                }
            }
        }
    }
    for section in ["dependencies", "dev-dependencies"] {
        let Some(deps) = doc[section].as_table_like_mut() else {
            continue;
        };
        let keys: Vec<String> = deps.iter().map(|(k, _)| k.to_string()).collect();
        for k in keys {
            let Some(item) = deps.get_mut(&k) else {
                continue;
            };
            if is_inherited(item) {
                if let Some(v) = ws_deps.get(&k) {
                    *item = v.clone();
                }
            } else if let Some(t) = item.as_table_like_mut() {
                if let Some(p) = t.get("path").and_then(|p| p.as_str()).map(str::to_string) {
                    let abs = original.join(p);
                    let abs = abs.canonicalize().unwrap_or(abs);
                    t.insert("path", toml_edit::value(abs.display().to_string()));
                }
            }
        }
    }
    doc["package"]["name"] = toml_edit::value(package);
    if let Some(bins) = doc["bin"].as_array_of_tables_mut() {
        for bin in bins.iter_mut() {
            bin["name"] = toml_edit::value(package);
        }
    }
    let out = work.join("Cargo.toml");
    std::fs::write(&out, doc.to_string()).map_err(io(out.display().to_string()))
}

fn is_inherited(item: &Item) -> bool {
    item.as_table_like()
        .and_then(|t| t.get("workspace"))
        .and_then(|w| w.as_bool())
        == Some(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_names_the_stage_and_the_bug() {
        let m = parse(
            "x",
            "# stage: 3\n# The bug.\n--- a/src/a.rs\n+++ b/src/a.rs\n@@ -1 +1 @@\n-a\n+b\n",
        )
        .unwrap();
        assert_eq!(m.stage, 3);
        assert_eq!(m.description, "The bug.");
        assert!(m.patch.starts_with("--- a/src/a.rs"));
        assert!(parse("y", "--- a/x\n+++ b/x\n").is_err());
    }

    /// Every mutant of every part applies to its solution as it is now and
    /// names one of the part's stages: a stale patch is found here, not
    /// after a dev-check's builds.
    #[test]
    fn every_mutant_applies_and_names_a_stage() {
        for part in crate::parts::all() {
            let solution = builder::workspace_root().join("solutions").join(&part.dir);
            let mutants = list(&part).unwrap();
            assert!(mutants.len() >= 3, "{}: {} mutants", part.id, mutants.len());
            for m in &mutants {
                apply(&solution, m).unwrap_or_else(|e| panic!("{}: {e}", part.id));
                assert!(
                    (1..=(part.stages.len() + part.bonus.len()) as u32).contains(&m.stage),
                    "{} mutant {} names stage {}",
                    part.id,
                    m.name,
                    m.stage
                );
                assert!(!m.description.is_empty(), "{} mutant {}", part.id, m.name);
            }
        }
    }

    #[test]
    fn multi_file_patches_are_split_per_file() {
        let p = "--- a/src/a.rs\n+++ b/src/a.rs\n@@ -1 +1 @@\n-a\n+b\n--- a/src/b.rs\n+++ b/src/b.rs\n@@ -1 +1 @@\n-c\n+d\n";
        let files = split_files("x", p).unwrap();
        assert_eq!(files.len(), 2);
        assert_eq!(files[0].0, "src/a.rs");
        assert_eq!(files[1].0, "src/b.rs");
        let patch = diffy::Patch::from_str(&files[1].1).unwrap();
        assert_eq!(diffy::apply("c\n", &patch).unwrap(), "d\n");
    }
}
