//! Grading one part, the one way the command line, `watch` and `dev-check`
//! all do it: check the machine has the services the part needs, build what
//! is graded, run every stage ([`runner::run`](super::runner::run())), write
//! the artefacts, prune old runs.

use super::output::Output;
use super::runner::{self, RunOptions};
use super::{artefacts, runs};
use crate::builder::{self, BuildError};
use crate::mutants::{self, MutantError};
use crate::part::{Graded, Part};
use crate::report::model::RunReport;
use crate::services::MissingProgram;
use std::path::{Path, PathBuf};

/// How many runs of a part are kept under target/grader/<part>/.
const RUNS_KEPT: usize = 20;

/// How a part is graded, apart from what is graded.
#[derive(Debug, Clone)]
pub struct GradeOptions {
    /// Run stages 1..=n (all when None).
    pub stages: Option<u32>,
    /// Run stage n of `stages` alone.
    pub only: bool,
    /// Seed of workloads and fault schedules.
    pub seed: u64,
    /// Factor applied to liveness deadlines.
    pub time_scale: f64,
    /// Keep traces and other raw files after the run.
    pub keep: bool,
    /// Also write the JUnit report here.
    pub junit: Option<PathBuf>,
}

/// A finished run: its report, and where its artefacts are.
#[derive(Debug, Clone)]
pub struct GradedRun {
    /// What happened.
    pub report: RunReport,
    /// results.json, junit.xml, timeline.html and the logs.
    pub run_dir: PathBuf,
}

/// Why a part could not be graded at all.
#[derive(Debug, thiserror::Error)]
pub enum GradeError {
    /// The machine lacks a program the part's stages start.
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    MissingServices(Vec<MissingProgram>),
    /// The graded crate did not build.
    #[error(transparent)]
    Build(#[from] BuildError),
    /// A mutant could not be prepared.
    #[error(transparent)]
    Mutant(#[from] MutantError),
    /// No mutant of that name.
    #[error("{part} has no mutant called {name:?}; known: {known}")]
    UnknownMutant {
        /// The part.
        part: String,
        /// The name asked for.
        name: String,
        /// The names there are.
        known: String,
    },
}

impl GradeError {
    /// The process exit code it stands for: 1 when the student's code does
    /// not compile, 2 when the machine or the request is at fault, 3 when
    /// the grader is.
    pub fn exit_code(&self) -> i32 {
        match self {
            GradeError::Build(BuildError::Compile { .. }) => 1,
            GradeError::MissingServices(_)
            | GradeError::Build(BuildError::NoCargo(_))
            | GradeError::UnknownMutant { .. } => 2,
            GradeError::Build(BuildError::NoBinary { .. }) | GradeError::Mutant(_) => 3,
        }
    }
}

/// Checks the part's services and builds the binary of `target`. A
/// missing service is the machine's fault, not the student's: it is said
/// before a minute of building.
pub fn prepare(part: &Part, target: &Graded, out: &Output) -> Result<PathBuf, GradeError> {
    let missing = part.missing_services();
    if !missing.is_empty() {
        return Err(GradeError::MissingServices(missing));
    }
    match target {
        Graded::Starter | Graded::Solution => {
            Ok(builder::build(part.package(target), None, None, out)?)
        }
        Graded::Mutant(name) => {
            let all = mutants::list(part)?;
            let Some(m) = all.iter().find(|m| m.name == *name) else {
                return Err(GradeError::UnknownMutant {
                    part: part.id.to_string(),
                    name: name.clone(),
                    known: all
                        .iter()
                        .map(|m| m.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                });
            };
            Ok(mutants::build(part, m, out)?)
        }
    }
}

/// Grades `binary` as `target` of `part` in a new run directory: every
/// stage, then results.json, junit.xml and timeline.html; old runs pruned.
pub async fn grade_binary(
    part: &Part,
    target: &Graded,
    binary: &Path,
    opts: &GradeOptions,
    out: &Output,
) -> GradedRun {
    let run_dir = runs::new_run_dir(part.id, target);
    let run = RunOptions {
        target: target.clone(),
        stages: opts.stages,
        only: opts.only,
        seed: opts.seed,
        time_scale: opts.time_scale,
        run_dir: run_dir.clone(),
        keep: opts.keep,
    };
    let report = runner::run(part, binary, &run, out).await;
    if let Err(e) = artefacts::write_all(&report, &run_dir, opts.junit.as_deref()) {
        eprintln!(
            "grader: could not write the reports to {}: {e}",
            run_dir.display()
        );
    }
    runs::prune(part.id, RUNS_KEPT);
    GradedRun { report, run_dir }
}

/// [`prepare`], then [`grade_binary`].
pub async fn grade(
    part: &Part,
    target: &Graded,
    opts: &GradeOptions,
    out: &Output,
) -> Result<GradedRun, GradeError> {
    let binary = prepare(part, target, out)?;
    Ok(grade_binary(part, target, &binary, opts, out).await)
}
