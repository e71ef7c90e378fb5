//! The corpus: seeded text files written to disk, with their expected count.

use super::reference::{reference_count, Counts};
use crate::harness::{Harness, StageError};
use rand::seq::SliceRandom;
use rand::Rng;
use std::path::PathBuf;

/// A corpus written to disk, and its expected count.
pub(super) struct Corpus {
    pub(super) dir: PathBuf,
    pub(super) files: usize,
    pub(super) bytes: u64,
    pub(super) expected: Counts,
}

const COMMON: &[&str] = &[
    "the",
    "of",
    "and",
    "to",
    "in",
    "a",
    "is",
    "that",
    "it",
    "was",
    "for",
    "on",
    "with",
    "as",
    "map",
    "reduce",
    "node",
    "worker",
    "task",
    "word",
    "count",
    "partition",
    "message",
    "failure",
];
const UNICODE: &[&str] = &[
    "straße",
    "école",
    "naïve",
    "café",
    "über",
    "ñandú",
    "façade",
    "smörgåsbord",
    "οδυσσευς",
    "σοφία",
    "москва",
    "данные",
    "東京",
    "日本語",
    "タワー",
    "서울",
    "ça",
    "åre",
];
const SEPARATORS: &[&str] = &[
    " ", " ", " ", " ", " ", " ", ", ", ". ", "\n", "'", "-", " — ", "… ", " (", ") ", "\t",
    "\r\n", "  ", "!? ", " 🙂 ", "\u{a0}", "/", "_", "; ", ": ", "\"",
];
/// Always in the corpus: every example of the contract, and then some.
const EDGE_CASES: &str = "Hello, hello! don't stop. well-known 3rd 2024\n\
    Straße ÉCOLE naïve 東京タワー 🙂 ok ΟΔΥΣΣΕΥΣ ΣΟΦΟΣ\n\
    snake_case CamelCase MiXeD e-mail: a.b@c.d x86_64 C3PO 1,000,000 3.14\n\
    «guillemets» „quotes“ 'single' \"double\" (parens) [brackets] {braces}\n\
    tabs\tand\u{a0}non-breaking\u{2009}spaces — dashes – and…ellipses\r\n\
    STRASSE strasse Straße straße ÇA ça Ça\n";

fn vocabulary(rng: &mut impl Rng) -> Vec<String> {
    const SYLLABLES: &[&str] = &[
        "ka", "lo", "mi", "ner", "ta", "su", "ri", "on", "el", "dra", "pho", "vin", "qu", "ex",
        "zu", "ma", "ti", "ber", "sa", "go",
    ];
    let mut v: Vec<String> = COMMON.iter().map(|s| s.to_string()).collect();
    v.extend(UNICODE.iter().map(|s| s.to_string()));
    for _ in 0..1200 {
        let n = rng.gen_range(1..=4);
        v.push((0..n).map(|_| *SYLLABLES.choose(rng).unwrap()).collect());
    }
    for _ in 0..30 {
        v.push(match rng.gen_range(0..3) {
            0 => rng.gen_range(0..100_000u32).to_string(),
            1 => format!("{}th", rng.gen_range(4..100)),
            _ => format!("v{}", rng.gen_range(1..20)),
        });
    }
    v
}

/// One word of running text: a word of the vocabulary (frequent ones more
/// often), in a random case.
fn token(rng: &mut impl Rng, vocab: &[String]) -> String {
    let u: f64 = rng.gen();
    let w = &vocab[((u * u * u) * vocab.len() as f64) as usize % vocab.len()];
    match rng.gen_range(0..20) {
        0..=12 => w.clone(),
        13..=17 => {
            let mut c = w.chars();
            match c.next() {
                Some(f) => f.to_uppercase().chain(c).collect(),
                None => String::new(),
            }
        }
        _ => w.to_uppercase(),
    }
}

fn text(rng: &mut impl Rng, vocab: &[String], bytes: usize) -> String {
    let mut s = String::with_capacity(bytes + 64);
    while s.len() < bytes {
        s.push_str(&token(rng, vocab));
        s.push_str(SEPARATORS.choose(rng).unwrap());
    }
    s
}

/// Writes a seeded corpus to `<stage dir>/<name>`: `n` ordinary files of
/// 2–`kb` KiB, one big file, the edge cases, two empty files, one with only
/// punctuation, one with invalid UTF-8, one that does not end with a newline.
pub(super) fn write_corpus(
    h: &mut Harness,
    name: &str,
    n: usize,
    kb: usize,
) -> Result<Corpus, StageError> {
    let dir = h.dir().join(name);
    let grader = |e: std::io::Error| StageError::Grader(format!("cannot write the corpus: {e}"));
    std::fs::create_dir_all(&dir).map_err(grader)?;
    let rng = &mut h.rng;
    let vocab = vocabulary(rng);
    let mut files: Vec<(String, Vec<u8>)> = vec![];
    for i in 0..n {
        let size = rng.gen_range(2..=kb.max(2)) * 1024;
        files.push((
            format!("text-{i:02}.txt"),
            text(rng, &vocab, size).into_bytes(),
        ));
    }
    files.push((
        "big.txt".into(),
        text(rng, &vocab, kb * 8 * 1024).into_bytes(),
    ));
    files.push(("edge-cases.txt".into(), EDGE_CASES.as_bytes().to_vec()));
    files.push(("empty-1.txt".into(), vec![]));
    files.push(("empty-2.txt".into(), vec![]));
    files.push((
        "punctuation-only.txt".into(),
        ",.;:!? — … 🙂 «» \"' \t\r\n".as_bytes().to_vec(),
    ));
    let mut bad = b"valid words, then bad bytes: abc\xffdef \xc3\x28 ok \xe2\x82 end\n".to_vec();
    bad.extend_from_slice(text(rng, &vocab, 512).as_bytes());
    files.push(("invalid-utf8.txt".into(), bad));
    let mut tail = text(rng, &vocab, 700);
    tail.push_str("LastWord");
    files.push(("no-newline.txt".into(), tail.into_bytes()));
    let mut bytes = 0;
    for (name, body) in &files {
        std::fs::write(dir.join(name), body).map_err(grader)?;
        bytes += body.len() as u64;
    }
    // The expected count, from what is on disk, read the contract's way.
    let texts: Vec<String> = files
        .iter()
        .map(|(_, b)| String::from_utf8_lossy(b).into_owned())
        .collect();
    let expected = reference_count(texts.iter().map(String::as_str));
    Ok(Corpus {
        dir,
        files: files.len(),
        bytes,
        expected,
    })
}
