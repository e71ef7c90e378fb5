//! Holes a starter still has: which problem a failure really comes from.
//!
//! A stage fails for its own problem, or because an earlier problem is not
//! done yet: the stage that casts pings cannot pass while Problem 1's
//! `todo!()` is there, whatever Problem 2 does. A hole names its problem in
//! its message (`not yet implemented: Problem 1 (…)`), and a hole that must
//! not panic logs `Problem 2 is not done yet: …` instead; the runner reads
//! them in the nodes' logs, shows the hint of the problem that owns the
//! failure, and says once, not five times, that the later stages need it.

use std::collections::BTreeSet;

const PANIC: &str = "not yet implemented: Problem ";

/// The problems whose holes `text` shows reached.
pub fn holes_in(text: &str) -> BTreeSet<u32> {
    let mut found = BTreeSet::new();
    for (i, _) in text.match_indices(PANIC) {
        if let Some(n) = leading_number(&text[i + PANIC.len()..]) {
            found.insert(n);
        }
    }
    for (i, _) in text.match_indices(" is not done yet") {
        let before = &text[..i];
        if let Some(at) = before.rfind("Problem ") {
            let digits = &before[at + "Problem ".len()..];
            if !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit()) {
                if let Ok(n) = digits.parse() {
                    found.insert(n);
                }
            }
        }
    }
    found
}

/// The problem a lesson anchor is about: `problem-3-crash-recovery` → 3.
pub fn problem_of(anchor: &str) -> Option<u32> {
    leading_number(anchor.strip_prefix("problem-")?)
}

fn leading_number(s: &str) -> Option<u32> {
    let digits: String = s.chars().take_while(|c| c.is_ascii_digit()).collect();
    digits.parse().ok()
}

/// `text` with the message of every hole already in `shown` cut short,
/// and the holes it shows in full added to `shown`.
pub fn abbreviate(text: &str, shown: &mut BTreeSet<u32>) -> String {
    let Some(i) = text.find(PANIC) else {
        return text.to_string();
    };
    let Some(n) = leading_number(&text[i + PANIC.len()..]) else {
        return text.to_string();
    };
    if shown.insert(n) {
        return text.to_string();
    }
    format!("{}{PANIC}{n} (the hole shown above)", &text[..i])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holes_are_found_in_panics_and_in_warnings() {
        let log = "ERROR process <a> exited: panicked: not yet implemented: Problem 1 (docs…): send 3 pings\n\
                   WARN Problem 2 is not done yet: this worker does not announce itself\n\
                   INFO Problem 12 of the lesson";
        assert_eq!(holes_in(log), BTreeSet::from([1, 2]));
        assert!(holes_in("all good").is_empty());
    }

    #[test]
    fn anchors_name_their_problem() {
        assert_eq!(problem_of("problem-3-crash-recovery"), Some(3));
        assert_eq!(problem_of("problem-12-x"), Some(12));
        assert_eq!(problem_of("search"), None);
    }

    #[test]
    fn a_hole_is_shown_in_full_once() {
        let mut shown = BTreeSet::new();
        let first = "it crashed: not yet implemented: Problem 1 (docs): send 18 pings";
        assert_eq!(abbreviate(first, &mut shown), first);
        assert_eq!(
            abbreviate(
                "it crashed: not yet implemented: Problem 1 (docs): send 4 pings",
                &mut shown
            ),
            "it crashed: not yet implemented: Problem 1 (the hole shown above)"
        );
        let other = "not yet implemented: Problem 2 (docs): gather";
        assert_eq!(abbreviate(other, &mut shown), other);
    }
}
