//! The human report: streaming lines prefixed by where they come from,
//! `[stage 3]`, `[n2]`, `[net]`, coloured only on a terminal.

use crate::report::model::{CheckKind, CheckReport, RunReport, StageReport, StageStatus};
use anstyle::{AnsiColor, Style};
use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::time::Duration;

/// Where human lines go. Cheap to clone.
#[derive(Clone)]
pub struct Output {
    inner: Arc<Inner>,
}

struct Inner {
    /// False for `--format json`: nothing is streamed.
    enabled: bool,
    /// Spinners only on an interactive terminal.
    spinners: bool,
    /// Problems whose hole message has been shown in full in this run.
    holes_shown: std::sync::Mutex<std::collections::BTreeSet<u32>>,
}

const DIM: Style = Style::new().dimmed();
const BOLD: Style = Style::new().bold();
const GREEN: Style = AnsiColor::Green.on_default();
const RED: Style = AnsiColor::Red.on_default().bold();
const YELLOW: Style = AnsiColor::Yellow.on_default();
const CYAN: Style = AnsiColor::Cyan.on_default();

impl Output {
    /// Human output on stdout (`enabled`), or silence (for `--format json`).
    pub fn new(enabled: bool) -> Output {
        Output {
            inner: Arc::new(Inner {
                enabled,
                spinners: enabled && std::io::stderr().is_terminal(),
                holes_shown: Default::default(),
            }),
        }
    }

    fn emit(&self, line: String) {
        if self.inner.enabled {
            // anstream strips the colour codes when stdout is not a terminal.
            let mut out = anstream::stdout();
            let _ = writeln!(out, "{line}");
            let _ = out.flush();
        }
    }

    /// A plain line.
    pub fn plain(&self, text: impl AsRef<str>) {
        self.emit(text.as_ref().to_string());
    }

    /// `text` with the message of a hole already shown in this run cut short.
    fn once(&self, text: &str) -> String {
        let mut shown = self
            .inner
            .holes_shown
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        crate::run::holes::abbreviate(text, &mut shown)
    }

    /// A line of a node's log, a hole's message shown once in the run.
    pub fn node_line(&self, node: &str, text: &str) {
        let text = self.once(text);
        self.line(node, text);
    }

    /// A line from `origin` ("stage 3", "n2", "net", "build").
    pub fn line(&self, origin: &str, text: impl AsRef<str>) {
        let style = match origin {
            "net" => YELLOW,
            o if o.starts_with("stage") => BOLD,
            _ => CYAN,
        };
        self.emit(format!("{style}[{origin}]{style:#} {}", text.as_ref()));
    }

    /// The start of a run.
    pub fn run_header(&self, title: &str, target: &str, seed: u64, time_scale: f64) {
        self.emit(format!(
            "{BOLD}grading {title} ({target}){BOLD:#} — seed {seed}, time scale {time_scale}"
        ));
    }

    /// The start of a stage.
    pub fn stage_header(&self, number: u32, name: &str, points: u32, goal: &str) {
        self.emit(String::new());
        self.line(
            &format!("stage {number}"),
            format!("{BOLD}{name}{BOLD:#} ({points} points): {goal}"),
        );
    }

    /// A decided check.
    pub fn check(&self, number: u32, check: &CheckReport) {
        let origin = format!("stage {number}");
        let kind = match check.kind {
            CheckKind::Safety => "safety",
            CheckKind::Liveness => "liveness",
        };
        if check.passed {
            self.line(
                &origin,
                format!("{GREEN}✔{GREEN:#} {} {DIM}({kind}){DIM:#}", check.name),
            );
        } else {
            self.line(
                &origin,
                format!("{RED}✘ {}{RED:#} {DIM}({kind}){DIM:#}", check.name),
            );
            if let Some(e) = &check.expected {
                self.emit(format!("           expected: {e}"));
            }
            if let Some(a) = &check.actual {
                for (i, l) in self.once(a).lines().enumerate() {
                    let label = if i == 0 { "actual:  " } else { "         " };
                    self.emit(format!("           {label} {l}"));
                }
            }
        }
    }

    /// The end of a stage.
    pub fn stage_end(&self, stage: &StageReport) {
        let origin = format!("stage {}", stage.number);
        let secs = stage.duration_ms as f64 / 1000.0;
        match stage.status {
            StageStatus::Passed => self.line(
                &origin,
                format!(
                    "{GREEN}passed{GREEN:#} — {}/{} points {DIM}({secs:.1} s){DIM:#}",
                    stage.points, stage.max_points
                ),
            ),
            status => {
                let word = match status {
                    StageStatus::Failed => "failed",
                    StageStatus::Inconclusive => "could not tell",
                    StageStatus::GraderError => "grader error",
                    _ => "skipped",
                };
                if let Some(e) = &stage.error {
                    for (i, l) in e.lines().enumerate() {
                        if i == 0 {
                            self.line(&origin, format!("{RED}{l}{RED:#}"));
                        } else {
                            self.emit(format!("           {l}"));
                        }
                    }
                }
                self.line(
                    &origin,
                    format!(
                        "{RED}{word}{RED:#} — 0/{} points {DIM}({secs:.1} s){DIM:#}",
                        stage.max_points
                    ),
                );
                if status == StageStatus::Failed {
                    self.emit(format!("           {BOLD}hint:{BOLD:#} {}", stage.hint));
                    self.emit(format!("           {BOLD}lesson:{BOLD:#} {}", stage.lesson));
                }
            }
        }
    }

    /// The summary at the end of a run.
    pub fn summary(&self, report: &RunReport, artefacts: &str) {
        self.emit(String::new());
        let style = if report.score == report.max {
            GREEN
        } else {
            RED
        };
        self.emit(format!(
            "{BOLD}score{BOLD:#} {style}{}/{}{style:#} — {} ({}) — seed {}",
            report.score, report.max, report.title, report.target, report.seed
        ));
        if report.bonus_max > 0 {
            self.emit(format!(
                "      bonus {}/{} (beyond the score)",
                report.bonus_score, report.bonus_max
            ));
        }
        if let Some(line) = &report.instructor {
            self.emit(format!("      {DIM}{line}{DIM:#}"));
        }
        self.emit(format!("reports: {artefacts}"));
        if report.score < report.max {
            self.emit(format!("replay:  {}", report.replay));
        }
    }

    /// A spinner on stderr while waiting for something (terminal only).
    pub fn spinner(&self, what: &str) -> Spinner {
        if !self.inner.spinners {
            return Spinner(None);
        }
        let bar = indicatif::ProgressBar::new_spinner();
        bar.set_message(what.to_string());
        bar.enable_steady_tick(Duration::from_millis(120));
        Spinner(Some(bar))
    }
}

/// A running spinner; cleared when dropped.
pub struct Spinner(Option<indicatif::ProgressBar>);

impl Drop for Spinner {
    fn drop(&mut self) {
        if let Some(bar) = &self.0 {
            bar.finish_and_clear();
        }
    }
}
