//! The shell's values: a small Erlang-like term, typed at the prompt, sent
//! as a message, and printed back.
//!
//! Rust messages are typed, so the shell needs one type for whatever a user
//! types: `Term`. It travels like any other message (encoded with serde), so
//! `send` from one node's shell and `flush` on another's show the journey a
//! BEAM term makes. Syntax: atoms `hello` or `'EXIT'`, integers `42`,
//! strings `"text"`, pids `<gold@127.0.0.1.1234.5>`, references
//! `#Ref<…>`, tuples `{a, 1}`, lists `[1, 2]`, and `self` for the shell's
//! own pid.

use netsplit::{ExitReason, Pid, Ref};
use serde::{Deserialize, Serialize};
use std::fmt;

/// A value of the shell.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Term {
    /// `hello`, `'EXIT'`, and node names (`silver@127.0.0.1`), as in Erlang.
    Atom(String),
    /// `42`, `-7`.
    Int(i64),
    /// `"text"`.
    Str(String),
    /// `<gold@127.0.0.1.1234.5>`.
    Pid(Pid),
    /// `#Ref<gold@127.0.0.1.1234.5>`.
    Ref(Ref),
    /// `{a, b}`.
    Tuple(Vec<Term>),
    /// `[a, b]`.
    List(Vec<Term>),
}

impl Term {
    /// An atom.
    pub fn atom(s: impl Into<String>) -> Term {
        Term::Atom(s.into())
    }

    /// A tuple.
    pub fn tuple(items: impl IntoIterator<Item = Term>) -> Term {
        Term::Tuple(items.into_iter().collect())
    }

    /// An exit reason as Erlang shows it: `normal`, `noconnection`, or
    /// `{error, "why"}` for a failure.
    pub fn reason(r: &ExitReason) -> Term {
        match r {
            ExitReason::Error(why) => Term::tuple([Term::atom("error"), Term::Str(why.clone())]),
            other => Term::atom(other.to_string()),
        }
    }

    /// The exit reason a term names (`exit PID REASON`): the standard atoms,
    /// anything else as an error with that text.
    pub fn to_reason(&self) -> ExitReason {
        match self {
            Term::Atom(a) if a == "normal" => ExitReason::Normal,
            Term::Atom(a) if a == "shutdown" => ExitReason::Shutdown,
            Term::Atom(a) if a == "kill" => ExitReason::Kill,
            Term::Str(s) => ExitReason::Error(s.clone()),
            other => ExitReason::Error(other.to_string()),
        }
    }
}

/// An atom that prints without quotes: a lowercase letter first, then
/// letters, digits, `_`, `@` and `.` (so node names stay readable).
fn bare_atom(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_alphanumeric() || "_@.-".contains(c))
}

impl fmt::Display for Term {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn seq(f: &mut fmt::Formatter<'_>, items: &[Term]) -> fmt::Result {
            for (i, t) in items.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                write!(f, "{t}")?;
            }
            Ok(())
        }
        match self {
            Term::Atom(a) if bare_atom(a) => f.write_str(a),
            Term::Atom(a) => write!(f, "'{}'", a.replace('\\', "\\\\").replace('\'', "\\'")),
            Term::Int(i) => write!(f, "{i}"),
            Term::Str(s) => write!(f, "{s:?}"),
            Term::Pid(p) => write!(f, "{p}"),
            Term::Ref(r) => write!(f, "{r}"),
            Term::Tuple(items) => {
                f.write_str("{")?;
                seq(f, items)?;
                f.write_str("}")
            }
            Term::List(items) => {
                f.write_str("[")?;
                seq(f, items)?;
                f.write_str("]")
            }
        }
    }
}

/// Parses the terms of `text`, separated by spaces (`self` is `me`).
pub fn parse_all(text: &str, me: &Pid) -> Result<Vec<Term>, String> {
    let mut p = Parser {
        s: text.as_bytes(),
        at: 0,
        me,
    };
    let mut terms = vec![];
    loop {
        p.skip_space();
        if p.at == p.s.len() {
            return Ok(terms);
        }
        terms.push(p.term()?);
    }
}

/// Parses exactly one term.
pub fn parse_one(text: &str, me: &Pid) -> Result<Term, String> {
    let mut terms = parse_all(text, me)?;
    match terms.len() {
        1 => Ok(terms.remove(0)),
        0 => Err("a value is missing".into()),
        n => Err(format!(
            "expected one value, got {n} (wrap them in a tuple: {{a, b}})"
        )),
    }
}

struct Parser<'a> {
    s: &'a [u8],
    at: usize,
    me: &'a Pid,
}

impl Parser<'_> {
    fn skip_space(&mut self) {
        while self.at < self.s.len() && self.s[self.at].is_ascii_whitespace() {
            self.at += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.at).copied()
    }

    fn rest(&self) -> &str {
        std::str::from_utf8(&self.s[self.at..]).unwrap_or("")
    }

    fn term(&mut self) -> Result<Term, String> {
        self.skip_space();
        match self.peek() {
            None => Err("a value is missing at the end".into()),
            Some(b'{') => Ok(Term::Tuple(self.seq(b'}')?)),
            Some(b'[') => Ok(Term::List(self.seq(b']')?)),
            Some(b'"') => self.string(),
            Some(b'\'') => self.quoted_atom(),
            Some(b'<') => {
                let text = self.until(b'>')?;
                text.parse().map(Term::Pid)
            }
            Some(b'#') => {
                let text = self.until(b'>')?;
                text.parse().map(Term::Ref)
            }
            Some(c) if c == b'-' || c.is_ascii_digit() => {
                let word = self.word();
                word.parse()
                    .map(Term::Int)
                    .map_err(|_| format!("{word:?} is not a number"))
            }
            Some(c) if c.is_ascii_lowercase() => {
                let word = self.word();
                Ok(if word == "self" {
                    Term::Pid(self.me.clone())
                } else {
                    Term::Atom(word)
                })
            }
            Some(_) => Err(format!(
                "cannot read a value at {:?} (an atom starts with a lowercase letter; quote text: \"Hello\")",
                self.rest()
            )),
        }
    }

    /// An atom or number: up to a space or a delimiter.
    fn word(&mut self) -> String {
        let start = self.at;
        while let Some(c) = self.peek() {
            if c.is_ascii_whitespace() || b",{}[]".contains(&c) {
                break;
            }
            self.at += 1;
        }
        String::from_utf8_lossy(&self.s[start..self.at]).into_owned()
    }

    /// Everything up to and including `end` (pids and refs).
    fn until(&mut self, end: u8) -> Result<String, String> {
        let start = self.at;
        while let Some(c) = self.peek() {
            self.at += 1;
            if c == end {
                return Ok(String::from_utf8_lossy(&self.s[start..self.at]).into_owned());
            }
        }
        Err(format!(
            "{:?} has no closing '{}'",
            String::from_utf8_lossy(&self.s[start..]),
            end as char
        ))
    }

    fn seq(&mut self, close: u8) -> Result<Vec<Term>, String> {
        self.at += 1;
        let mut items = vec![];
        loop {
            self.skip_space();
            if self.peek() == Some(close) {
                self.at += 1;
                return Ok(items);
            }
            if !items.is_empty() {
                if self.peek() != Some(b',') {
                    return Err(format!(
                        "expected ',' or '{}' at {:?}",
                        close as char,
                        self.rest()
                    ));
                }
                self.at += 1;
            }
            items.push(self.term()?);
        }
    }

    fn string(&mut self) -> Result<Term, String> {
        self.quoted(b'"').map(Term::Str)
    }

    fn quoted_atom(&mut self) -> Result<Term, String> {
        self.quoted(b'\'').map(Term::Atom)
    }

    fn quoted(&mut self, q: u8) -> Result<String, String> {
        self.at += 1;
        let mut out = vec![];
        while let Some(c) = self.peek() {
            self.at += 1;
            match c {
                b'\\' => {
                    let Some(e) = self.peek() else { break };
                    self.at += 1;
                    out.push(match e {
                        b'n' => b'\n',
                        b't' => b'\t',
                        other => other,
                    });
                }
                c if c == q => return Ok(String::from_utf8_lossy(&out).into_owned()),
                c => out.push(c),
            }
        }
        Err(format!("a {} is not closed", q as char))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn me() -> Pid {
        "<gold@127.0.0.1.7.1>".parse().unwrap()
    }

    #[test]
    fn terms_print_as_they_are_typed() {
        for text in [
            "hello",
            "'EXIT'",
            "42",
            "-7",
            "\"Hello everyone\"",
            "{hello, silver@127.0.0.1}",
            "[1, 2, {a, \"b\"}]",
            "<silver@127.0.0.1.99.12>",
            "#Ref<silver@127.0.0.1.99.3>",
            "{}",
            "[]",
        ] {
            let t = parse_one(text, &me()).unwrap();
            assert_eq!(t.to_string(), text);
        }
    }

    #[test]
    fn self_is_the_shells_pid_and_values_split_on_spaces() {
        let terms = parse_all("self 10 {x,y}", &me()).unwrap();
        assert_eq!(
            terms,
            [
                Term::Pid(me()),
                Term::Int(10),
                Term::tuple([Term::atom("x"), Term::atom("y")])
            ]
        );
    }

    #[test]
    fn mistakes_are_explained() {
        for (text, says) in [
            ("Hello", "lowercase"),
            ("{a b}", "expected ','"),
            ("\"open", "not closed"),
            ("<gold@h.1", "no closing"),
            ("a b", "expected one value"),
            ("12x", "not a number"),
        ] {
            let e = parse_one(text, &me()).unwrap_err();
            assert!(e.contains(says), "{text}: {e}");
        }
    }

    #[test]
    fn exit_reasons_round_trip_through_terms() {
        assert_eq!(
            Term::reason(&ExitReason::NoConnection).to_string(),
            "noconnection"
        );
        assert_eq!(
            Term::reason(&ExitReason::error("asked to crash")).to_string(),
            "{error, \"asked to crash\"}"
        );
        assert_eq!(Term::atom("kill").to_reason(), ExitReason::Kill);
        assert_eq!(Term::atom("boom").to_reason(), ExitReason::error("boom"));
    }
}
