//! Grading one part: every stage in order, each on a fresh cluster, then the
//! reports.

use crate::harness::{Harness, StageError, StageSetup};
use crate::part::{Graded, Part, StageDef};
use crate::report::model::{RunReport, StageReport, StageStatus, Timeline, SCHEMA_VERSION};
use crate::run::output::Output;
use futures::FutureExt;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

/// How one part is graded.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// What is graded.
    pub target: Graded,
    /// Run stages 1..=n (all when None); the bonus stages run too when n
    /// is the last stage or more.
    pub stages: Option<u32>,
    /// Run stage `stages` alone, not those before it (dev-check's mutants:
    /// only the stage a mutant names must fail it).
    pub only: bool,
    /// Seed of workloads and fault schedules.
    pub seed: u64,
    /// Factor applied to liveness deadlines.
    pub time_scale: f64,
    /// Where this run's artefacts go.
    pub run_dir: PathBuf,
    /// Keep traces and other raw files after the run.
    pub keep: bool,
}

/// Checks `--stage N` against every part a command covers, before anything
/// is built: N must be one of each part's stages, numbered from 1 (a bonus
/// stage has no number of its own: it runs after the last). An `Err` is the
/// one-line message for the user, with the valid range, and the stage names
/// when one part is covered.
pub fn check_stage(parts: &[Part], stage: Option<u32>) -> Result<(), String> {
    let Some(n) = stage else {
        return Ok(());
    };
    let short: Vec<&Part> = parts
        .iter()
        .filter(|p| n == 0 || n as usize > p.stages.len())
        .collect();
    if short.is_empty() {
        return Ok(());
    }
    let range = |p: &Part| format!("{} has stages 1 to {}", p.id, p.stages.len());
    if let [part] = parts {
        let names: Vec<String> = part
            .stages
            .iter()
            .enumerate()
            .map(|(i, s)| format!("{} {}", i + 1, s.name))
            .collect();
        let mut names = names.join(", ");
        if !part.bonus.is_empty() {
            let bonus: Vec<&str> = part.bonus.iter().map(|s| s.name).collect();
            names += &format!(
                "; bonus, after stage {}: {}",
                part.stages.len(),
                bonus.join(", ")
            );
        }
        return Err(format!("there is no stage {n}: {} ({names})", range(part)));
    }
    let ranges: Vec<String> = short.iter().map(|p| range(p)).collect();
    let fewest = parts.iter().map(|p| p.stages.len()).min().unwrap_or(0);
    Err(format!(
        "there is no stage {n} in every part: {}; with these parts, --stage takes 1 to {fewest}",
        ranges.join(", ")
    ))
}

/// A stage that runs longer than this (scaled) is stopped: every wait in a
/// stage is bounded, so this only fires on a grader bug.
const STAGE_LIMIT: Duration = Duration::from_secs(180);

/// Runs the stages of `part` against `binary` and returns the report (also
/// written to `opts.run_dir`).
pub async fn run(part: &Part, binary: &Path, opts: &RunOptions, out: &Output) -> RunReport {
    let started = Instant::now();
    let started_at = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
    out.run_header(
        &part.title,
        &opts.target.to_string(),
        opts.seed,
        opts.time_scale,
    );
    // The command line refuses a stage past the last (`check_stage`); a
    // larger number here is a mutant's that names a bonus stage, which runs
    // them all, bonus stages included.
    let n = opts
        .stages
        .map_or(part.stages.len(), |n| (n as usize).min(part.stages.len()));
    let mut stages = vec![];
    // Problems whose missing code made a stage fail, and the first such stage.
    let mut explained = std::collections::BTreeMap::new();
    // The bonus stages come after the others, in a full run only.
    let bonus = if n == part.stages.len() {
        &part.bonus[..]
    } else {
        &[]
    };
    let defs = part.stages.iter().take(n).map(|d| (d, false));
    let defs = defs.chain(bonus.iter().map(|d| (d, true)));
    for (i, (def, is_bonus)) in defs.enumerate() {
        let number = i as u32 + 1;
        if opts.only && opts.stages != Some(number) {
            continue;
        }
        let header = if is_bonus {
            format!("{} (bonus)", def.name)
        } else {
            def.name.to_string()
        };
        out.stage_header(number, &header, def.points, def.goal);
        let setup = StageSetup {
            binary: binary.to_path_buf(),
            number,
            seed: opts.seed,
            time_scale: opts.time_scale,
            dir: opts.run_dir.join(format!("stage-{number}")),
        };
        let t0 = Instant::now();
        let (result, record, trouble, holes) = match Harness::new(setup, out.clone()).await {
            Err(e) => (Err(e), None, vec![], Default::default()),
            Ok(mut h) => {
                let limit = h.scaled(STAGE_LIMIT);
                let r =
                    tokio::time::timeout(limit, AssertUnwindSafe((def.run)(&mut h)).catch_unwind())
                        .await;
                let r = match r {
                    Ok(Ok(r)) => r,
                    Ok(Err(panic)) => Err(StageError::Grader(format!(
                        "the stage panicked: {}",
                        netsplit::panic_text(&*panic).unwrap_or("(no message)")
                    ))),
                    Err(_) => Err(StageError::Inconclusive(format!(
                        "the stage did not finish within {} s",
                        limit.as_secs()
                    ))),
                };
                let (trouble, holes) = if r.is_err() {
                    (h.trouble_lines(2), h.holes_reached())
                } else {
                    (vec![], Default::default())
                };
                (r, Some(h.finish()), trouble, holes)
            }
        };
        let (status, error) = match result {
            Ok(()) => (StageStatus::Passed, None),
            Err(StageError::Failed) => (StageStatus::Failed, None),
            Err(StageError::Inconclusive(e)) => (StageStatus::Inconclusive, Some(e)),
            Err(StageError::Grader(e)) => (StageStatus::GraderError, Some(e)),
        };
        let why = failure_cause(part, def, number, &holes, &mut explained);
        if !why.explained_before {
            for (node, lines) in &trouble {
                for l in lines {
                    out.node_line(node, l);
                }
            }
        }
        let mut timeline = Timeline::default();
        let mut checks = vec![];
        let mut traffic = vec![];
        let mut latencies = vec![];
        if let Some(rec) = record {
            traffic = rec.traffic;
            latencies = rec.latencies;
            timeline.nodes = rec.lanes;
            timeline.services = rec.services;
            timeline.bands = rec.bands;
            timeline.marks = rec.marks;
            crate::run::artefacts::add_messages(&mut timeline, &rec.traces, rec.started_sys);
            timeline.messages.extend(rec.extra_messages);
            timeline.messages.sort_by_key(|m| m.sent_us);
            checks = rec.checks;
            if !opts.keep {
                for (_, t) in &rec.traces {
                    let _ = std::fs::remove_file(t);
                }
            }
        }
        let report = StageReport {
            number,
            name: def.name.to_string(),
            goal: def.goal.to_string(),
            points: if status == StageStatus::Passed {
                def.points
            } else {
                0
            },
            max_points: def.points,
            status,
            duration_ms: t0.elapsed().as_millis() as u64,
            checks,
            hint: why.hint,
            lesson: why.lesson,
            error,
            timeline,
            traffic,
            latencies,
            bonus: is_bonus,
        };
        out.stage_end(&report);
        stages.push(report);
    }
    let graded = |bonus: bool| stages.iter().filter(move |s| s.bonus == bonus);
    let score = graded(false).map(|s| s.points).sum();
    let max = part.max_points(n);
    let bonus_score = graded(true).map(|s| s.points).sum();
    let bonus_max = graded(true).map(|s| s.max_points).sum();
    let replay = replay_command(part, opts, &stages);
    RunReport {
        schema: SCHEMA_VERSION,
        part: part.id.to_string(),
        title: part.title.to_string(),
        target: opts.target.to_string(),
        seed: opts.seed,
        time_scale: opts.time_scale,
        started_at,
        duration_ms: started.elapsed().as_millis() as u64,
        score,
        max,
        replay,
        bonus_score,
        bonus_max,
        instructor: part.instructor.map(|i| {
            format!(
                "+ {} points not graded here, the instructor's: {} (checklist: {}#{})",
                i.points, i.what, part.lesson, i.lesson_anchor
            )
        }),
        stages,
    }
}

/// What a failed stage's report points to: its own problem's hint, or that
/// of an earlier problem whose hole the stage reached.
struct Cause {
    hint: String,
    lesson: String,
    /// An earlier stage already failed on the same hole, and said so.
    explained_before: bool,
}

/// The cause to report for stage `number` (`def`), given the holes its run
/// reached; records in `explained` the hole that made it fail.
fn failure_cause(
    part: &Part,
    def: &StageDef,
    number: u32,
    holes: &std::collections::BTreeSet<u32>,
    explained: &mut std::collections::BTreeMap<u32, u32>,
) -> Cause {
    use crate::run::holes::problem_of;
    let own = problem_of(def.lesson_anchor);
    let lesson = |anchor: &str| format!("{}#{anchor}", part.lesson);
    let Some(&first) = holes.iter().next() else {
        return Cause {
            hint: def.hint.to_string(),
            lesson: lesson(def.lesson_anchor),
            explained_before: false,
        };
    };
    let before = explained.get(&first).copied();
    explained.entry(first).or_insert(number);
    if own.is_some_and(|o| first >= o) {
        // Its own hole (or a later one): its own hint says what to do.
        return Cause {
            hint: def.hint.to_string(),
            lesson: lesson(def.lesson_anchor),
            explained_before: false,
        };
    }
    let owner = part
        .stages
        .iter()
        .find(|d| problem_of(d.lesson_anchor) == Some(first))
        .unwrap_or(def);
    let hint = match before {
        Some(k) => format!(
            "this stage needs Problem {first} first, which is not done yet (see stage {k} above)"
        ),
        None => format!(
            "this stage needs Problem {first} first, which is not done yet (its todo!() was              reached). {}",
            owner.hint
        ),
    };
    Cause {
        hint,
        lesson: lesson(owner.lesson_anchor),
        explained_before: before.is_some(),
    }
}

/// The command that reruns the first stage that did not pass, with the same seed.
fn replay_command(part: &Part, opts: &RunOptions, stages: &[StageReport]) -> String {
    let mut cmd = format!("cargo grade {}", part.id);
    match &opts.target {
        Graded::Starter => {}
        Graded::Solution => cmd.push_str(" --solution"),
        Graded::Mutant(m) => {
            cmd = format!("cargo run -p grader -- dev-check {} --mutant {m}", part.id)
        }
    }
    cmd.push_str(&format!(" --seed {}", opts.seed));
    if opts.time_scale != 1.0 {
        cmd.push_str(&format!(" --time-scale {}", opts.time_scale));
    }
    // A bonus stage is replayed by the full run: `--stage` stops before it.
    let first_bad = stages
        .iter()
        .find(|s| s.status != StageStatus::Passed && !s.bonus);
    if let Some(s) = first_bad {
        cmd.push_str(&format!(" --stage {}", s.number));
    } else if let Some(n) = opts.stages {
        cmd.push_str(&format!(" --stage {n}"));
    }
    cmd
}

/// The process exit code for a set of reports: 3 if the grader failed, else
/// 1 if the code under test failed a stage, else 2 if a stage could not
/// tell, else 0. A bonus stage is optional: only a grader error in one
/// counts.
pub fn exit_code<'a>(reports: impl IntoIterator<Item = &'a RunReport>) -> i32 {
    let mut code = 0;
    for r in reports {
        for s in &r.stages {
            let c = match s.status {
                StageStatus::GraderError => 3,
                _ if s.bonus => 0,
                StageStatus::Failed => 1,
                StageStatus::Inconclusive => 2,
                StageStatus::Passed | StageStatus::Skipped => 0,
            };
            code = match (code, c) {
                (3, _) | (_, 3) => 3,
                (1, _) | (_, 1) => 1,
                (2, _) | (_, 2) => 2,
                _ => 0,
            };
        }
    }
    code
}

#[cfg(test)]
mod tests {
    use super::exit_code;
    use crate::report::model::StageStatus;

    #[test]
    fn a_failed_bonus_stage_does_not_fail_the_run_but_a_grader_error_in_one_does() {
        let mut report = crate::report::fixtures::sample_report();
        for s in &mut report.stages {
            s.status = StageStatus::Passed;
        }
        assert_eq!(exit_code([&report]), 0);
        let last = report.stages.last_mut().unwrap();
        last.bonus = true;
        last.status = StageStatus::Failed;
        assert_eq!(exit_code([&report]), 0);
        report.stages.last_mut().unwrap().status = StageStatus::GraderError;
        assert_eq!(exit_code([&report]), 3);
        report.stages.last_mut().unwrap().bonus = false;
        report.stages.last_mut().unwrap().status = StageStatus::Failed;
        assert_eq!(exit_code([&report]), 1);
    }
}
