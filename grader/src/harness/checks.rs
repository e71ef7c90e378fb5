//! The check vocabulary of a stage.
//!
//! A check is **safety** (something bad never happened: nothing lost,
//! nothing crossed a partition, no count went down) or **liveness**
//! (something good happened in time: converged within a deadline). Each
//! records what was expected and what was seen, for the student's report,
//! and a failed one ends the stage with `Err(StageError::Failed)`, so a
//! stage reads as a list of `?`-terminated checks.

use super::{secs, Harness, StageError, POLL};
use crate::report::model::{CheckKind, CheckReport};
use std::fmt::Display;
use std::time::{Duration, Instant};

/// How many violations a failed [`Check::no_violations`] lists.
const VIOLATIONS_SHOWN: usize = 8;

/// A check being described; decided by [`Check::holds`],
/// [`Check::no_violations`] or [`Check::equals`].
#[must_use = "a check is recorded only when it is decided"]
pub struct Check<'h> {
    harness: &'h mut Harness,
    kind: CheckKind,
    name: String,
    expected: Option<String>,
    actual: Option<String>,
}

impl Check<'_> {
    /// What should be seen.
    pub fn expected(mut self, e: impl Display) -> Self {
        self.expected = Some(e.to_string());
        self
    }

    /// What was seen.
    pub fn actual(mut self, a: impl Display) -> Self {
        self.actual = Some(a.to_string());
        self
    }

    /// Decides the check: it passed if `passed`.
    pub fn holds(self, passed: bool) -> Result<(), StageError> {
        self.harness
            .check(self.kind, self.name, passed, self.expected, self.actual)
    }

    /// Passes when `expected == actual`; both are shown (`{:?}`) either way.
    pub fn equals<T: PartialEq + std::fmt::Debug>(
        self,
        expected: T,
        actual: T,
    ) -> Result<(), StageError> {
        let passed = expected == actual;
        self.expected(format!("{expected:?}"))
            .actual(format!("{actual:?}"))
            .holds(passed)
    }

    /// Passes when `violations` is empty; otherwise the first few are the
    /// actual value, with how many there were in all.
    pub fn no_violations(self, violations: Vec<String>) -> Result<(), StageError> {
        let passed = violations.is_empty();
        let actual = if passed {
            "none".to_string()
        } else {
            let shown: Vec<&str> = violations
                .iter()
                .take(VIOLATIONS_SHOWN)
                .map(String::as_str)
                .collect();
            let more = violations.len().saturating_sub(VIOLATIONS_SHOWN);
            let tail = if more > 0 {
                format!(" (and {more} more)")
            } else {
                String::new()
            };
            format!(
                "{} violation(s): {}{tail}",
                violations.len(),
                shown.join("; ")
            )
        };
        let expected = self
            .expected
            .clone()
            .unwrap_or_else(|| "no violation".into());
        self.expected(expected).actual(actual).holds(passed)
    }

    /// Records the check as failed and returns the error that ends the
    /// stage: `return Err(h.safety("…").expected(…).actual(…).fails())`.
    pub fn fails(self) -> StageError {
        match self
            .harness
            .check(self.kind, self.name, false, self.expected, self.actual)
        {
            Err(e) => e,
            Ok(()) => StageError::Grader("a failed check passed".into()),
        }
    }
}

impl Harness {
    /// A safety check: something bad never happened.
    pub fn safety(&mut self, name: impl Into<String>) -> Check<'_> {
        self.described(CheckKind::Safety, name.into())
    }

    /// A liveness check: something good happened (use [`Harness::eventually`]
    /// when it must happen within a deadline).
    pub fn liveness(&mut self, name: impl Into<String>) -> Check<'_> {
        self.described(CheckKind::Liveness, name.into())
    }

    fn described(&mut self, kind: CheckKind, name: String) -> Check<'_> {
        Check {
            harness: self,
            kind,
            name,
            expected: None,
            actual: None,
        }
    }

    /// Records a decided check; `Err(Failed)` if it did not hold.
    pub fn check(
        &mut self,
        kind: CheckKind,
        name: impl Into<String>,
        passed: bool,
        expected: Option<String>,
        actual: Option<String>,
    ) -> Result<(), StageError> {
        let report = CheckReport {
            name: name.into(),
            kind,
            passed,
            expected,
            actual,
            at_ms: self.started.elapsed().as_millis() as u64,
        };
        self.out.check(self.setup.number, &report);
        self.checks.push(report);
        if passed {
            Ok(())
        } else {
            Err(StageError::Failed)
        }
    }

    /// Records a failed check and returns the error that ends the stage:
    /// `return Err(h.fail(...))`, with no `unreachable!()` after it.
    pub fn fail(
        &mut self,
        kind: CheckKind,
        name: impl Into<String>,
        expected: impl Into<String>,
        actual: impl Into<String>,
    ) -> StageError {
        self.described(kind, name.into())
            .expected(expected.into())
            .actual(actual.into())
            .fails()
    }

    /// Liveness: polls `probe` until it returns `Ok`, for at most `within`
    /// (scaled). `probe` returns `Err(what it saw)` while not there yet; the
    /// last one is reported as the actual value on failure.
    ///
    /// `probe` may borrow anything the harness does not own, such as a
    /// [`ClusterView`](super::ClusterView):
    /// `let v = &view; h.eventually(…, move || async move { v.nodes_of("n1").await … })`.
    /// (It is a closure returning a future rather than an `async` closure:
    /// the futures of `AsyncFnMut` closures cannot yet be proven `Send`,
    /// which every stage future must be.)
    pub async fn eventually<T, F, Fut>(
        &mut self,
        name: impl Into<String>,
        within: Duration,
        expected: impl Into<String>,
        mut probe: F,
    ) -> Result<T, StageError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, String>>,
    {
        self.eventually_unless(name, within, expected, move || {
            let f = probe();
            async move { f.await.map_err(Wait::NotYet) }
        })
        .await
    }

    /// Like [`Harness::eventually`], but `probe` may also say that what it
    /// waits for can no longer happen ([`Wait::Never`]): the check fails at
    /// once with that, instead of at the deadline with a misleading timeout.
    pub async fn eventually_unless<T, F, Fut>(
        &mut self,
        name: impl Into<String>,
        within: Duration,
        expected: impl Into<String>,
        mut probe: F,
    ) -> Result<T, StageError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, Wait>>,
    {
        let name = name.into();
        let within = self.scaled(within);
        let deadline = Instant::now() + within;
        let _spinner = self.out.spinner(&name);
        let mut last;
        loop {
            match probe().await {
                Ok(v) => {
                    self.check(CheckKind::Liveness, name, true, None, None)?;
                    return Ok(v);
                }
                Err(Wait::NotYet(seen)) => last = seen,
                Err(Wait::Never(why)) => {
                    return Err(self.fail(CheckKind::Liveness, name, expected, why));
                }
            }
            if Instant::now() >= deadline {
                break;
            }
            tokio::time::sleep(POLL).await;
        }
        let name = format!("{name} (within {})", secs(within));
        Err(self.fail(CheckKind::Liveness, name, expected, last))
    }
}

/// What an [`Harness::eventually_unless`] probe saw when it was not there.
pub enum Wait {
    /// Not yet: what it saw (reported if the deadline passes).
    NotYet(String),
    /// It cannot happen any more, and why: the check fails at once.
    Never(String),
}
