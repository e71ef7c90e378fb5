//! `grader` (run as `cargo grade`): grades the course parts by running real
//! node processes behind a network it controls.

use clap::{Args, Parser, Subcommand, ValueEnum};
use grader::part::{Graded, Part};
use grader::report::model::RunReport;
use grader::run::grade::{self, GradeOptions};
use grader::run::output::Output;
use grader::run::{runner, state};
use grader::{devcheck, watch};
use std::path::PathBuf;
use std::process::ExitCode;

const EXIT_CODES: &str = "\
Exit codes:
  0  every stage passed
  1  the code under test failed a stage (or does not compile)
  2  the grader could not tell (a prerequisite is missing, a node could not be started for
     reasons outside the code under test)
  3  the grader itself failed

Examples:
  cargo grade ping-pong                 grade your work in parts/01-ping-pong
  cargo grade ping-pong --stage 2       only stages 1 and 2
  cargo grade all --solution            grade every reference solution
  cargo grade list                      every part with its last score
  cargo grade watch ping-pong           regrade whenever you save";

#[derive(Parser)]
#[command(
    name = "cargo grade",
    version,
    about = "Grade a Netsplit course part: build it, run real nodes, inject faults, score what they do",
    after_help = EXIT_CODES,
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    grade: GradeArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Every part with its last score.
    List,
    /// Instructor/CI check: every starter fails every stage, every solution
    /// passes every stage, every mutant is caught by the stage meant for it.
    DevCheck(DevCheckArgs),
    /// Regrade a part whenever its sources change.
    Watch(WatchArgs),
}

#[derive(Args, Clone)]
struct GradeArgs {
    /// The part: its name (ping-pong), number (1) or directory (01-ping-pong), or `all`.
    #[arg(value_name = "PART")]
    part: Option<String>,
    /// Grade the reference solution in solutions/ instead of your starter in parts/.
    #[arg(long)]
    solution: bool,
    #[command(flatten)]
    common: CommonArgs,
    /// Run this many times with the same seed and summarize how often each stage passed.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=100))]
    repeat: u32,
    /// Output format on stdout.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    format: Format,
    /// Also write a JUnit XML report here.
    #[arg(long, value_name = "PATH")]
    junit: Option<PathBuf>,
    /// Keep the nodes' message traces in the run directory.
    #[arg(long)]
    keep: bool,
}

#[derive(Args, Clone)]
struct CommonArgs {
    /// Run stages 1 to N only.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    stage: Option<u32>,
    /// Seed of workloads and fault schedules (random when not given; always printed).
    #[arg(long)]
    seed: Option<u64>,
    /// Multiply every liveness deadline by this (for slow machines).
    #[arg(long, env = "NETSPLIT_TIME_SCALE", default_value_t = 1.0)]
    time_scale: f64,
}

#[derive(Args)]
struct DevCheckArgs {
    /// Check one part only.
    part: Option<String>,
    /// Run one mutant only (its file name without .patch).
    #[arg(long)]
    mutant: Option<String>,
    /// Do not grade the solutions here: for a run that has just graded them
    /// with `cargo grade all --solution` (CI), so they are graded once.
    #[arg(long)]
    skip_solutions: bool,
    #[command(flatten)]
    common: CommonArgs,
}

#[derive(Args)]
struct WatchArgs {
    /// The part to watch.
    part: String,
    /// Watch and grade the reference solution instead.
    #[arg(long)]
    solution: bool,
    /// Poll for changes instead of using file-system notifications.
    #[arg(long)]
    poll: bool,
    #[command(flatten)]
    common: CommonArgs,
}

#[derive(ValueEnum, Clone, Copy, PartialEq, Eq)]
enum Format {
    Human,
    Json,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("grader: cannot start the async runtime: {e}");
            return ExitCode::from(3);
        }
    };
    let code = rt.block_on(async {
        if let Err(e) = grader::launch::install_signal_handler() {
            eprintln!("grader: cannot install the Ctrl-C handler: {e}");
            return 3;
        }
        match cli.command {
            Some(Command::List) => list(),
            Some(Command::DevCheck(a)) => {
                let time_scale = match check_scale(a.common.time_scale) {
                    Ok(t) => t,
                    Err(code) => return code,
                };
                devcheck::run(
                    a.part.as_deref(),
                    a.mutant.as_deref(),
                    a.skip_solutions,
                    a.common.stage,
                    a.common.seed,
                    time_scale,
                )
                .await
            }
            Some(Command::Watch(a)) => {
                let Some(part) = find_part(&a.part) else {
                    return 2;
                };
                if let Err(code) = check_stage(std::slice::from_ref(&part), a.common.stage) {
                    return code;
                }
                let target = if a.solution {
                    Graded::Solution
                } else {
                    Graded::Starter
                };
                watch::run(
                    part,
                    target,
                    a.common.stage,
                    a.common.seed,
                    a.common.time_scale,
                    a.poll,
                )
                .await
            }
            None => grade_command(cli.grade).await,
        }
    });
    ExitCode::from(code as u8)
}

fn check_scale(t: f64) -> Result<f64, i32> {
    if t.is_finite() && t > 0.0 {
        Ok(t)
    } else {
        eprintln!("grader: --time-scale must be a positive number, got {t}");
        Err(2)
    }
}

/// `--stage N` must be a stage of every part graded: said before building.
fn check_stage(parts: &[Part], stage: Option<u32>) -> Result<(), i32> {
    runner::check_stage(parts, stage).map_err(|e| {
        eprintln!("grader: {e}");
        2
    })
}

fn find_part(name: &str) -> Option<Part> {
    let p = grader::parts::find(name);
    if p.is_none() {
        eprintln!(
            "grader: no part called {name:?}. Known parts: {}, or `all`.",
            grader::parts::known_names()
        );
    }
    p
}

fn list() -> i32 {
    let st = state::State::load();
    // The student's crate is graded as "your work"; the reference as
    // "solution" (`--solution`).
    println!(
        "{:<3} {:<20} {:>6}  {:<24} solution (--solution)",
        "#", "part", "stages", "your work (parts/)"
    );
    for p in grader::parts::all() {
        let show = |t: &str| {
            st.parts
                .get(p.id)
                .and_then(|m| m.get(t))
                .map(|l| format!("{}/{} ({})", l.score, l.max, l.at.get(..10).unwrap_or("")))
                .unwrap_or_else(|| "not graded".into())
        };
        let stages = match p.bonus.len() {
            0 => p.stages.len().to_string(),
            b => format!("{}+{b}", p.stages.len()),
        };
        let number = match p.lab {
            false => p.number.to_string(),
            true => "lab".to_string(),
        };
        println!(
            "{:<3} {:<20} {:>6}  {:<24} {}",
            number,
            p.id,
            stages,
            show("starter"),
            show("solution")
        );
    }
    0
}

async fn grade_command(args: GradeArgs) -> i32 {
    let Some(name) = args.part.clone() else {
        eprintln!("grader: which part? e.g. `cargo grade ping-pong` (or `cargo grade list`).");
        return 2;
    };
    let time_scale = match check_scale(args.common.time_scale) {
        Ok(t) => t,
        Err(code) => return code,
    };
    let parts = if name == "all" {
        grader::parts::all()
    } else {
        match find_part(&name) {
            Some(p) => vec![p],
            None => return 2,
        }
    };
    if let Err(code) = check_stage(&parts, args.common.stage) {
        return code;
    }
    let out = Output::new(args.format == Format::Human);
    let target = if args.solution {
        Graded::Solution
    } else {
        Graded::Starter
    };
    let seed = args.common.seed.unwrap_or_else(rand::random::<u64>);
    let mut reports: Vec<RunReport> = vec![];
    let mut code = 0;
    let opts = GradeOptions {
        stages: args.common.stage,
        only: false,
        seed,
        time_scale,
        keep: args.keep,
        junit: args.junit.clone(),
    };
    for part in &parts {
        let binary = match grade::prepare(part, &target, &out) {
            Ok(b) => b,
            Err(e) => {
                eprintln!("grader: {e}");
                code = code.max(e.exit_code());
                continue;
            }
        };
        let mut runs = vec![];
        for i in 0..args.repeat {
            if args.repeat > 1 {
                out.plain(format!("\nrun {} of {}", i + 1, args.repeat));
            }
            let run = grade::grade_binary(part, &target, &binary, &opts, &out).await;
            let report = run.report;
            out.summary(&report, &grader::run::runs::display(&run.run_dir));
            state::State::record(
                part.id,
                &target.to_string(),
                state::Last {
                    score: report.score,
                    max: report.max,
                    stages: report.stages.len() as u32,
                    seed: report.seed,
                    at: report.started_at.clone(),
                },
            );
            runs.push(report);
        }
        if args.repeat > 1 {
            print_flakiness(&out, &runs);
        }
        code = code.max(runner::exit_code(&runs));
        reports.extend(runs);
    }
    if args.format == Format::Json {
        let v = if reports.len() == 1 {
            serde_json::to_string_pretty(&reports[0])
        } else {
            serde_json::to_string_pretty(&reports)
        };
        match v {
            Ok(s) => println!("{s}"),
            Err(e) => {
                eprintln!("grader: cannot encode the report: {e}");
                return 3;
            }
        }
    }
    if parts.len() > 1 && args.format == Format::Human {
        out.plain("");
        for r in &reports {
            out.plain(format!("{:<22} {}/{}", r.part, r.score, r.max));
        }
    }
    code
}

fn print_flakiness(out: &Output, runs: &[RunReport]) {
    out.plain(format!(
        "\nstability over {} runs (seed {}):",
        runs.len(),
        runs[0].seed
    ));
    for (i, s) in runs[0].stages.iter().enumerate() {
        let passed = runs
            .iter()
            .filter(|r| {
                r.stages
                    .get(i)
                    .is_some_and(|s| s.status == grader::report::model::StageStatus::Passed)
            })
            .count();
        let verdict = match passed {
            0 => "fails every time",
            p if p == runs.len() => "passes every time",
            _ => "FLAKY",
        };
        out.plain(format!(
            "  stage {} {:<20} passed {passed}/{} — {verdict}",
            s.number,
            s.name,
            runs.len()
        ));
    }
}
