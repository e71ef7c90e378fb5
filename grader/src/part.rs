//! Parts and their stages: what the grader knows about each course part.

use crate::harness::{Harness, StageError};
use futures::future::BoxFuture;

/// The body of a stage: drives a fresh cluster through its harness and
/// records checks on it. `Err(StageError::Failed)` once a check fails.
pub type StageFn = for<'a> fn(&'a mut Harness) -> BoxFuture<'a, Result<(), StageError>>;

/// One numbered stage of a part.
pub struct StageDef {
    /// Short name, e.g. "Broadcast".
    pub name: &'static str,
    /// Points for passing it.
    pub points: u32,
    /// What the student's code must do, in one line.
    pub goal: &'static str,
    /// Where to look when it fails.
    pub hint: &'static str,
    /// Anchor of the lesson section that explains it (appended to the part's lesson).
    pub lesson_anchor: &'static str,
    /// The stage itself.
    pub run: StageFn,
}

/// A course part the grader can grade.
pub struct Part {
    /// Id used on the command line, e.g. "ping-pong".
    pub id: &'static str,
    /// Part number (1-based).
    pub number: u32,
    /// Directory name under parts/ and solutions/, e.g. "01-ping-pong".
    pub dir: &'static str,
    /// Title, e.g. "Part 1: ping-pong".
    pub title: &'static str,
    /// Cargo package (and binary) of the starter.
    pub starter_package: &'static str,
    /// Cargo package (and binary) of the solution.
    pub solution_package: &'static str,
    /// The lesson, relative to the repository root.
    pub lesson: &'static str,
    /// Stages, in order; points sum to 100.
    pub stages: Vec<StageDef>,
}

impl Part {
    /// Total points of the first `n` stages.
    pub fn max_points(&self, n: usize) -> u32 {
        self.stages.iter().take(n).map(|s| s.points).sum()
    }

    /// The lesson link of stage `i` (0-based).
    pub fn lesson_link(&self, i: usize) -> String {
        format!("{}#{}", self.lesson, self.stages[i].lesson_anchor)
    }
}

/// Every part the grader knows, in course order.
pub fn all() -> Vec<Part> {
    vec![
        crate::parts::ping_pong::part(),
        crate::parts::map_reduce::part(),
    ]
}

/// Finds a part by id ("ping-pong"), number ("1", "01") or directory name
/// ("01-ping-pong").
pub fn find(name: &str) -> Option<Part> {
    let name = name.trim().trim_end_matches('/');
    let name = name.rsplit('/').next().unwrap_or(name);
    all()
        .into_iter()
        .find(|p| p.id == name || p.dir == name || name.parse::<u32>().ok() == Some(p.number))
}

/// The names the command line accepts, for error messages.
pub fn known_names() -> String {
    all()
        .iter()
        .map(|p| format!("{} ({})", p.id, p.number))
        .collect::<Vec<_>>()
        .join(", ")
}

/// What is being graded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// The student's crate under parts/.
    Starter,
    /// The reference under solutions/.
    Solution,
    /// A solution with a deliberate bug (dev-check).
    Mutant(String),
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Starter => write!(f, "starter"),
            Target::Solution => write!(f, "solution"),
            Target::Mutant(m) => write!(f, "mutant:{m}"),
        }
    }
}
