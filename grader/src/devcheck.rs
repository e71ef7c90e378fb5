//! `grader dev-check`: the grader grading itself. Every starter must fail
//! every stage, every solution must pass every stage, and every mutant (a
//! solution with one deliberate bug, `grader/mutants/<part>/*.patch`) must be
//! caught by the stage its patch names.
//! With no part named, it also checks that every package resolves its
//! dependencies with the workspace's features ([`crate::features`]).

use crate::mutants::{self, Mutant};
use crate::part::{Graded, Part};
use crate::report::model::{RunReport, StageStatus};
use crate::run::grade::{self, GradeError, GradeOptions};
use crate::run::output::Output;

/// Runs the checks; returns the process exit code (0 when the kit is sound).
pub async fn run(
    part_name: Option<&str>,
    only_mutant: Option<&str>,
    skip_solutions: bool,
    stages: Option<u32>,
    seed: Option<u64>,
    time_scale: f64,
) -> i32 {
    let out = Output::new(true);
    // Every name and number on the command line is checked before anything
    // is built: a typo is a usage error, not a check that passed or failed.
    let parts = match select(part_name, only_mutant, stages) {
        Ok(parts) => parts,
        Err(e) => {
            eprintln!("dev-check: {e}");
            return 2;
        }
    };
    let seed = seed.unwrap_or_else(rand::random::<u64>);
    out.plain(format!("dev-check — seed {seed}"));
    let mut problems: Vec<String> = vec![];
    let mut passed: Vec<String> = vec![];
    // A whole-kit check: the dependencies' features (see `features`).
    if part_name.is_none() && only_mutant.is_none() {
        match crate::features::check(&crate::builder::workspace_root()) {
            Ok(v) => passed.push(format!("dependency features: {v}")),
            Err(v) => problems.push(format!("dependency features: {v}")),
        }
    }
    for part in &parts {
        let opts = |stages, only| GradeOptions {
            stages,
            only,
            seed,
            time_scale,
            keep: false,
            junit: None,
        };
        if only_mutant.is_none() {
            match provided_files_verdict(part) {
                Ok(v) => passed.push(format!("{} provided files: {v}", part.id)),
                Err(v) => problems.push(format!("{} provided files: {v}", part.id)),
            }
            let mut graded = vec![Graded::Starter];
            if !skip_solutions {
                graded.push(Graded::Solution);
            }
            for target in graded {
                let report = match grade::grade(part, &target, &opts(stages, false), &out).await {
                    Ok(run) => run.report,
                    Err(e) => {
                        problems.push(format!("{} {target}: {e}", part.id));
                        continue;
                    }
                };
                let verdict = match target {
                    Graded::Starter => starter_verdict(&report),
                    _ => solution_verdict(&report),
                };
                match verdict {
                    Ok(v) => passed.push(format!("{} {target}: {v}", part.id)),
                    Err(v) => problems.push(format!("{} {target}: {v}", part.id)),
                }
            }
        }
        let list = match mutants::list(part) {
            Ok(l) => l,
            Err(e) => {
                problems.push(format!("{} mutants: {e}", part.id));
                continue;
            }
        };
        if list.len() < 3 && only_mutant.is_none() {
            problems.push(format!(
                "{} has {} mutants; every part needs at least 3",
                part.id,
                list.len()
            ));
        }
        let chosen: Vec<&Mutant> = list
            .iter()
            .filter(|m| only_mutant.is_none_or(|o| o == m.name))
            .collect();
        if chosen.is_empty() {
            continue;
        }
        let missing = part.missing_services();
        if !missing.is_empty() {
            let missing = GradeError::MissingServices(missing);
            problems.push(format!("{} mutants: {missing}", part.id));
            continue;
        }
        // One build for all of them: cargo compiles the mutants side by side.
        out.plain(format!(
            "\nbuilding {} mutants of {}",
            chosen.len(),
            part.id
        ));
        let binaries = mutants::build_all(part, &chosen, &out);
        for (m, binary) in chosen.into_iter().zip(binaries) {
            out.plain(format!(
                "\nmutant {}: {} (must be caught by stage {})",
                m.name, m.description, m.stage
            ));
            let binary = match binary {
                Ok(b) => b,
                Err(e) => {
                    problems.push(format!("{} mutant {}: {e}", part.id, m.name));
                    continue;
                }
            };
            let target = Graded::Mutant(m.name.clone());
            // Only the stage it names must fail it: that stage runs alone.
            let report =
                grade::grade_binary(part, &target, &binary, &opts(Some(m.stage), true), &out)
                    .await
                    .report;
            match mutant_verdict(&report, m) {
                Ok(v) => passed.push(format!("{} mutant {}: {v}", part.id, m.name)),
                Err(v) => problems.push(format!("{} mutant {}: {v}", part.id, m.name)),
            }
        }
    }
    out.plain("\ndev-check summary:");
    for p in &passed {
        out.plain(format!("  ✔ {p}"));
    }
    for p in &problems {
        out.plain(format!("  ✘ {p}"));
    }
    if problems.is_empty() {
        out.plain(format!("dev-check passed (seed {seed})"));
        0
    } else {
        out.plain(format!(
            "dev-check FAILED: {} problem(s); replay with `cargo run -p grader -- dev-check --seed {seed}`",
            problems.len()
        ));
        1
    }
}

/// The parts a dev-check run covers, once its arguments are known to name
/// things that exist: the part (all when `None`); the mutant, which must be
/// one of that part's (of some part's, when no part is named: only the parts
/// that have it are checked); and `--stage N`, which must be a stage of
/// every part checked. An `Err` is the message for the user.
pub fn select(
    part_name: Option<&str>,
    only_mutant: Option<&str>,
    stages: Option<u32>,
) -> Result<Vec<Part>, String> {
    let mut parts: Vec<Part> = match part_name {
        None => crate::parts::all(),
        Some(n) => match crate::parts::find(n) {
            Some(p) => vec![p],
            None => {
                return Err(format!(
                    "no part called {n:?}; known: {}",
                    crate::parts::known_names()
                ))
            }
        },
    };
    if let Some(name) = only_mutant {
        // A part whose mutants cannot be read has none to offer here; the
        // reason is shown if no part has the mutant.
        let names = |p: &Part| -> Result<Vec<String>, String> {
            mutants::list(p)
                .map(|l| l.into_iter().map(|m| m.name).collect())
                .map_err(|e| e.to_string())
        };
        let known: Vec<(&'static str, Result<Vec<String>, String>)> =
            parts.iter().map(|p| (p.id, names(p))).collect();
        let has = |id: &str| {
            known
                .iter()
                .any(|(k, l)| *k == id && l.as_ref().is_ok_and(|l| l.iter().any(|m| m == name)))
        };
        parts.retain(|p| has(p.id));
        if parts.is_empty() {
            let listed = |l: &Result<Vec<String>, String>| match l {
                Ok(l) if l.is_empty() => "none".to_string(),
                Ok(l) => l.join(", "),
                Err(e) => format!("none readable ({e})"),
            };
            return Err(match &known[..] {
                [(id, l)] => format!(
                    "{id} has no mutant called {name:?}; its mutants: {}",
                    listed(l)
                ),
                _ => format!(
                    "no part has a mutant called {name:?}; the mutants are {}",
                    known
                        .iter()
                        .map(|(id, l)| format!("{id}: {}", listed(l)))
                        .collect::<Vec<_>>()
                        .join("; ")
                ),
            });
        }
    }
    crate::run::runner::check_stage(&parts, stages)?;
    Ok(parts)
}

fn statuses(r: &RunReport) -> String {
    r.stages
        .iter()
        .map(|s| format!("{}:{:?}", s.number, s.status))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A starter file with no hole in it (see [`has_hole`]) is code the
/// student is given as is: it must be the solution's file byte for byte,
/// or the solution would be graded with code the students never saw. (A
/// dev-check, not a test: a student who filled every hole has a starter
/// with no hole left, and `cargo test` must stay green for them.)
pub fn provided_files_verdict(part: &Part) -> Result<String, String> {
    let root = crate::builder::workspace_root();
    let starter = root.join("parts").join(&part.dir).join("src");
    let solution = root.join("solutions").join(&part.dir).join("src");
    let entries = std::fs::read_dir(&starter).map_err(|e| format!("{}: {e}", starter.display()))?;
    let (mut provided, mut holed, mut differ) = (vec![], 0, vec![]);
    for entry in entries.filter_map(Result::ok) {
        let path = entry.path();
        // src/bin/ holds programs only the starter has (part 5's terminal
        // client): provided, but with no twin to compare.
        if path.is_dir() {
            continue;
        }
        let text =
            std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        if has_hole(&text) {
            holed += 1;
            continue;
        }
        let name = entry.file_name().to_string_lossy().into_owned();
        let twin = solution.join(&name);
        if std::fs::read_to_string(&twin).ok().as_deref() != Some(text.as_str()) {
            differ.push(format!(
                "{} has no hole but differs from {}",
                path.display(),
                twin.display()
            ));
        }
        provided.push(name);
    }
    if !differ.is_empty() {
        return Err(differ.join("; "));
    }
    if provided.is_empty() || holed == 0 {
        return Err(format!(
            "{} provided files and {holed} with holes; a starter needs both",
            provided.len()
        ));
    }
    provided.sort();
    Ok(format!(
        "{} the same in starter and solution; {holed} with holes",
        provided.join(", ")
    ))
}

/// True if `code` has a hole for the student: a line that is a `todo!(…)`
/// call or a `// TODO` comment (not a mention of them in prose).
pub fn has_hole(code: &str) -> bool {
    code.lines()
        .map(str::trim_start)
        .any(|l| l.starts_with("todo!(") || l.starts_with("// TODO "))
}

/// Every stage of a starter must fail (not pass, and not be inconclusive).
pub fn starter_verdict(r: &RunReport) -> Result<String, String> {
    if r.stages.iter().all(|s| s.status == StageStatus::Failed) {
        Ok(format!("fails all {} stages", r.stages.len()))
    } else {
        Err(format!("every stage must fail; got {}", statuses(r)))
    }
}

/// Every stage of a solution must pass.
pub fn solution_verdict(r: &RunReport) -> Result<String, String> {
    if r.stages.iter().all(|s| s.status == StageStatus::Passed) {
        Ok(format!(
            "passes all {} stages, {}/{}",
            r.stages.len(),
            r.score,
            r.max
        ))
    } else {
        Err(format!("every stage must pass; got {}", statuses(r)))
    }
}

/// The stage a mutant names must fail.
pub fn mutant_verdict(r: &RunReport, m: &Mutant) -> Result<String, String> {
    match r.stages.iter().find(|s| s.number == m.stage) {
        Some(s) if s.status == StageStatus::Failed => {
            Ok(format!("caught by stage {} ({})", m.stage, statuses(r)))
        }
        Some(s) => Err(format!(
            "stage {} must fail it, but it was {:?} ({})",
            m.stage,
            s.status,
            statuses(r)
        )),
        None => Err(format!("stage {} was not run", m.stage)),
    }
}
