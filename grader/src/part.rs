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
///
/// One spelling per part: its number and id. Everything else follows from
/// them, so the directory, the packages, the lesson and the title can never
/// disagree (see [`Part::new`]).
pub struct Part {
    /// Id used on the command line, e.g. "ping-pong".
    pub id: &'static str,
    /// Part number (1-based).
    pub number: u32,
    /// Directory name under parts/ and solutions/, e.g. "01-ping-pong".
    pub dir: String,
    /// Title, e.g. "Part 1: ping-pong".
    pub title: String,
    /// Cargo package (and binary) of the starter: the id.
    pub starter_package: String,
    /// Cargo package (and binary) of the solution: the id, then "-solution".
    pub solution_package: String,
    /// The lesson, relative to the repository root.
    pub lesson: String,
    /// Services its stages start (checked before anything is built).
    pub services: Vec<Service>,
    /// Stages, in order; their points and [`Part::instructor`]'s sum to 100.
    pub stages: Vec<StageDef>,
    /// Points of the part's rubric that no stage can grade (part 5's code
    /// quality): printed under the score as the instructor's to give.
    pub instructor: Option<InstructorPoints>,
    /// Bonus stages: run after the others when every stage is run, scored
    /// apart, never in the part's score (part 5's bonus challenges).
    pub bonus: Vec<StageDef>,
    /// A lab (one of the seeds' integration exercises, graded like a part,
    /// shorter, numbered apart) rather than one of the five parts.
    pub lab: bool,
}

/// Points an instructor gives by reading the code, with the lesson section
/// that has their checklist.
#[derive(Debug, Clone, Copy)]
pub struct InstructorPoints {
    /// How many.
    pub points: u32,
    /// What they are for, in one line.
    pub what: &'static str,
    /// Anchor of the checklist in the part's lesson.
    pub lesson_anchor: &'static str,
}

/// A service a part's stages need on the grading machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    /// `redis-server` (parts 3 and 4).
    Redis,
}

impl Part {
    /// Part `number` with id `id`: directory `NN-id` under parts/ and
    /// solutions/, packages `id` and `id-solution`, lesson
    /// `docs/src/part-N-id.md`, title `Part N: id`.
    pub fn new(number: u32, id: &'static str) -> Part {
        Part {
            id,
            number,
            dir: format!("{number:02}-{id}"),
            title: format!("Part {number}: {id}"),
            starter_package: id.to_string(),
            solution_package: format!("{id}-solution"),
            lesson: format!("docs/src/part-{number}-{id}.md"),
            services: vec![],
            stages: vec![],
            instructor: None,
            bonus: vec![],
            lab: false,
        }
    }

    /// A lab: `parts/lab-<id>/` and `solutions/lab-<id>/`, packages `<id>`
    /// and `<id>-solution`, lesson `docs/src/lab-<id>.md`. Labs have no
    /// number (0): they are named by id.
    pub fn lab(id: &'static str, title: &str) -> Part {
        Part {
            dir: format!("lab-{id}"),
            title: format!("Lab: {title}"),
            lesson: format!("docs/src/lab-{id}.md"),
            lab: true,
            ..Part::new(0, id)
        }
    }

    /// The same part, needing `service` on the grading machine.
    pub fn needs(mut self, service: Service) -> Part {
        self.services.push(service);
        self
    }

    /// The same part, with `points` of its rubric left to the instructor.
    pub fn instructor_points(mut self, points: InstructorPoints) -> Part {
        self.instructor = Some(points);
        self
    }

    /// The same part, with these bonus stages.
    pub fn bonus(mut self, stages: Vec<StageDef>) -> Part {
        self.bonus = stages;
        self
    }

    /// The same part, with these stages.
    pub fn stages(mut self, stages: Vec<StageDef>) -> Part {
        self.stages = stages;
        self
    }

    /// What is missing on this machine to grade the part: one message per
    /// missing program, with its install line.
    pub fn missing_services(&self) -> Vec<crate::services::MissingProgram> {
        self.services
            .iter()
            .filter_map(|s| match s {
                Service::Redis => crate::services::redis::binary(&self.title).err(),
            })
            .collect()
    }

    /// The package that is built to grade `target` (a mutant is a patched
    /// copy of the solution).
    pub fn package(&self, target: &Graded) -> &str {
        match target {
            Graded::Starter => &self.starter_package,
            Graded::Solution | Graded::Mutant(_) => &self.solution_package,
        }
    }

    /// Total points of the first `n` stages.
    pub fn max_points(&self, n: usize) -> u32 {
        self.stages.iter().take(n).map(|s| s.points).sum()
    }
}

/// What is being graded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Graded {
    /// The student's crate under parts/.
    Starter,
    /// The reference under solutions/.
    Solution,
    /// A solution with a deliberate bug (dev-check).
    Mutant(String),
}

impl std::fmt::Display for Graded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Graded::Starter => write!(f, "starter"),
            Graded::Solution => write!(f, "solution"),
            Graded::Mutant(m) => write!(f, "mutant:{m}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn everything_about_a_part_follows_from_its_number_and_id() {
        let p = Part::new(3, "shortener").needs(Service::Redis);
        assert_eq!(p.dir, "03-shortener");
        assert_eq!(p.title, "Part 3: shortener");
        assert_eq!(p.starter_package, "shortener");
        assert_eq!(p.solution_package, "shortener-solution");
        assert_eq!(p.lesson, "docs/src/part-3-shortener.md");
        assert_eq!(p.services, vec![Service::Redis]);
        // Every registered part lives where its spelling says.
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        for part in crate::parts::all() {
            for top in ["parts", "solutions"] {
                assert!(
                    root.join(top).join(&part.dir).is_dir(),
                    "{top}/{}",
                    part.dir
                );
            }
            assert!(root.join(&part.lesson).is_file(), "{}", part.lesson);
        }
    }
}
