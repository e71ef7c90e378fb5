//! dev-check's feature check: building any one package of the workspace must
//! resolve every dependency with the features the whole workspace resolves.
//!
//! Cargo enables a dependency's features according to the packages a command
//! selects, so a dependency whose features differ between `cargo run -p
//! ping-pong` and `cargo test --workspace` is compiled twice, with everything
//! above it (libc under tokio under the runtime: minutes on a laptop). The
//! `workspace-hack` crate asks for the union; this check says what to add to
//! it when a new dependency or feature breaks the rule.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

/// The crate that fixes the features; it alone may resolve fewer.
const HACK: &str = "workspace-hack";

/// Each dependency (`name vX.Y.Z`) with the feature lists it is built with
/// (two when the host and the target side differ).
type Resolved = BTreeMap<String, BTreeSet<String>>;

/// Runs the check from the workspace `root`: `Ok` says what was compared,
/// `Err` names each dependency that differs and what to do.
pub fn check(root: &Path) -> Result<String, String> {
    let members = members(root)?;
    let workspace = resolve(root, &["--workspace"])?;
    let mut problems = vec![];
    for member in members.iter().filter(|m| *m != HACK) {
        let alone = resolve(root, &["-p", member])?;
        problems.extend(differences(member, &alone, &workspace));
    }
    if problems.is_empty() {
        Ok(format!(
            "each of {} packages resolves its dependencies with the workspace's features",
            members.len() - usize::from(members.iter().any(|m| m == HACK))
        ))
    } else {
        problems.truncate(12);
        Err(format!(
            "a dependency would be compiled twice, with two feature sets:\n    {}\n    \
             add it to workspace-hack/Cargo.toml with the workspace's features \
             (under [build-dependencies] if only proc-macros or build scripts use it)",
            problems.join("\n    ")
        ))
    }
}

/// One line for each dependency that `member` alone resolves otherwise.
fn differences(member: &str, alone: &Resolved, workspace: &Resolved) -> Vec<String> {
    let mut lines = vec![];
    for (dep, features) in alone {
        let everywhere = workspace.get(dep).cloned().unwrap_or_default();
        if *features != everywhere {
            lines.push(format!(
                "`-p {member}` builds {dep} with {}, the workspace with {}",
                list(features),
                list(&everywhere)
            ));
        }
    }
    lines
}

fn list(features: &BTreeSet<String>) -> String {
    features.iter().cloned().collect::<Vec<_>>().join(" and ")
}

/// The workspace's package names.
fn members(root: &Path) -> Result<Vec<String>, String> {
    let out = cargo(
        root,
        &[
            "metadata",
            "--no-deps",
            "--format-version",
            "1",
            "--offline",
        ],
    )?;
    let meta: serde_json::Value =
        serde_json::from_str(&out).map_err(|e| format!("cargo metadata printed no JSON: {e}"))?;
    let names = meta["packages"]
        .as_array()
        .map(|ps| {
            ps.iter()
                .filter_map(|p| p["name"].as_str().map(str::to_owned))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    if names.is_empty() {
        return Err("cargo metadata listed no package".into());
    }
    Ok(names)
}

/// What `cargo tree` resolves for the packages `select` picks (normal and
/// build dependencies: dev-dependencies are only built by tests, which build
/// the workspace as a whole).
fn resolve(root: &Path, select: &[&str]) -> Result<Resolved, String> {
    let mut args = vec![
        "tree",
        "--offline",
        "--prefix",
        "none",
        "--edges",
        "normal,build",
        "--format",
        "{p} [{f}]",
    ];
    args.extend_from_slice(select);
    Ok(parse_tree(&cargo(root, &args)?))
}

/// Parses `cargo tree --prefix none --format "{p} [{f}]"`.
pub fn parse_tree(text: &str) -> Resolved {
    let mut resolved = Resolved::new();
    for line in text.lines() {
        // Section headers such as `[build-dependencies]`, and blank lines.
        if line.starts_with('[') || line.trim().is_empty() {
            continue;
        }
        let Some(open) = line.rfind(" [") else {
            continue;
        };
        let mut name = line.split(' ').take(2).collect::<Vec<_>>().join(" ");
        if name.is_empty() {
            continue;
        }
        // `{p}` of a path package ends with its directory: the name and
        // version are enough to tell it apart.
        if let Some(paren) = name.find(" (") {
            name.truncate(paren);
        }
        let features = line[open + 1..]
            .split(']')
            .next()
            .map(|f| format!("{f}]"))
            .unwrap_or_default();
        resolved.entry(name).or_default().insert(features);
    }
    resolved
}

fn cargo(root: &Path, args: &[&str]) -> Result<String, String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = Command::new(cargo)
        .args(args)
        .current_dir(root)
        .output()
        .map_err(|e| format!("could not run cargo: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "`cargo {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    const TREE: &str = "\
ping-pong v0.1.0 (/kit/parts/01-ping-pong) [default]
libc v0.2.191 [default,std]
mio v1.2.4 [net,os-ext,os-poll]
libc v0.2.191 [default,std] (*)
serde_derive v1.0.229 (proc-macro) [default]

[build-dependencies]
syn v3.0.9 [default,full]
";

    #[test]
    fn reads_names_versions_and_features() {
        let r = parse_tree(TREE);
        assert_eq!(
            r["libc v0.2.191"],
            BTreeSet::from(["[default,std]".to_string()])
        );
        assert_eq!(
            r["ping-pong v0.1.0"],
            BTreeSet::from(["[default]".to_string()])
        );
        assert_eq!(
            r["serde_derive v1.0.229"],
            BTreeSet::from(["[default]".to_string()])
        );
        assert_eq!(
            r["syn v3.0.9"],
            BTreeSet::from(["[default,full]".to_string()])
        );
        assert_eq!(r.len(), 5, "{r:?}");
    }

    #[test]
    fn a_smaller_feature_set_is_named_with_both_sets() {
        let alone = parse_tree("libc v0.2.191 [default,std]\nmio v1.2.4 [net]\n");
        let all = parse_tree("libc v0.2.191 [default,extra_traits,std]\nmio v1.2.4 [net]\n");
        assert_eq!(
            differences("ping-pong", &alone, &all),
            ["`-p ping-pong` builds libc v0.2.191 with [default,std], \
              the workspace with [default,extra_traits,std]"]
        );
        assert!(differences("ping-pong", &all, &all).is_empty());
    }
}
