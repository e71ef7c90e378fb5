//! The grader's own word count, and the comparison of an output file with it.

use std::collections::BTreeMap;

/// Word → count.
pub type Counts = BTreeMap<String, u64>;

/// The grader's own word count, by the contract's rule: a word is a maximal
/// run of `char::is_alphanumeric` characters, lowercased as a whole with
/// `str::to_lowercase`.
pub fn reference_count<'a>(texts: impl IntoIterator<Item = &'a str>) -> Counts {
    fn flush(word: &mut String, counts: &mut Counts) {
        if !word.is_empty() {
            *counts.entry(word.to_lowercase()).or_insert(0) += 1;
            word.clear();
        }
    }
    let mut counts = Counts::new();
    let mut word = String::new();
    for text in texts {
        for c in text.chars() {
            if c.is_alphanumeric() {
                word.push(c);
            } else {
                flush(&mut word, &mut counts);
            }
        }
        flush(&mut word, &mut counts);
    }
    counts
}

/// Parses an output file (`word<TAB>count` lines) and compares it with
/// `expected`. `Err` describes the first differences.
pub fn compare_output(expected: &Counts, text: &str) -> Result<(), String> {
    let mut got = Counts::new();
    let mut first_line: BTreeMap<String, usize> = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        let Some((word, count)) = line.split_once('\t') else {
            return Err(format!("line {n} is not word<TAB>count: {line:?}"));
        };
        let Ok(count) = count.trim_end_matches('\r').parse::<u64>() else {
            return Err(format!("line {n}: {count:?} is not a count"));
        };
        if let Some(before) = first_line.insert(word.to_string(), n) {
            return Err(format!(
                "{word:?} appears twice, on lines {before} and {n} (every word must appear once)"
            ));
        }
        got.insert(word.to_string(), count);
    }
    // The most frequent words first: they say the most about what is wrong.
    let mut wrong: Vec<(u64, String)> = vec![];
    let mut missing: Vec<(u64, String)> = vec![];
    let mut extra: Vec<(u64, String)> = vec![];
    for (w, e) in expected {
        match got.get(w) {
            Some(g) if g == e => {}
            Some(g) => wrong.push((*e, format!("{w:?}: {g} instead of {e}"))),
            None => missing.push((*e, format!("{w:?} ({e})"))),
        }
    }
    for (w, g) in &got {
        if !expected.contains_key(w) {
            extra.push((*g, format!("{w:?} ({g})")));
        }
    }
    if wrong.is_empty() && missing.is_empty() && extra.is_empty() {
        return Ok(());
    }
    let mut parts = vec![];
    for (list, what) in [
        (&mut wrong, "with a wrong count"),
        (&mut missing, "missing"),
        (&mut extra, "that are not words of the corpus"),
    ] {
        if list.is_empty() {
            continue;
        }
        list.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        let eg: Vec<&str> = list.iter().take(3).map(|(_, s)| s.as_str()).collect();
        parts.push(format!("{} {what}, e.g. {}", list.len(), eg.join(", ")));
    }
    Err(format!(
        "of {} expected words: {}",
        expected.len(),
        parts.join("; ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<(String, u64)> {
        reference_count([text]).into_iter().collect()
    }

    #[test]
    fn the_reference_follows_the_contract_examples() {
        let w = |s: &str| s.to_string();
        assert_eq!(words("Hello, hello!"), [(w("hello"), 2)]);
        assert_eq!(
            words("don't stop"),
            [(w("don"), 1), (w("stop"), 1), (w("t"), 1)]
        );
        assert_eq!(
            words("well-known 3rd 2024"),
            [
                (w("2024"), 1),
                (w("3rd"), 1),
                (w("known"), 1),
                (w("well"), 1)
            ]
        );
        assert_eq!(
            words("Straße ÉCOLE naïve"),
            [(w("naïve"), 1), (w("straße"), 1), (w("école"), 1)]
        );
        assert_eq!(
            words("東京タワー 🙂 ok"),
            [(w("ok"), 1), (w("東京タワー"), 1)]
        );
        assert_eq!(words("ΟΔΥΣΣΕΥΣ"), [(w("οδυσσευς"), 1)]);
        assert!(words(" \t—…🙂").is_empty());
    }

    #[test]
    fn the_output_comparison_names_what_is_wrong() {
        let expected = reference_count(["a b b c"]);
        assert!(compare_output(&expected, "b\t2\na\t1\nc\t1\n").is_ok());
        let e = compare_output(&expected, "b\t4\na\t1\n").unwrap_err();
        assert!(
            e.contains("1 with a wrong count, e.g. \"b\": 4 instead of 2"),
            "{e}"
        );
        assert!(e.contains("1 missing, e.g. \"c\" (1)"), "{e}");
        let e = compare_output(&expected, "b\t2\na\t1\nc\t1\nB\t1\n").unwrap_err();
        assert!(
            e.contains("1 that are not words of the corpus, e.g. \"B\" (1)"),
            "{e}"
        );
        assert!(compare_output(&expected, "b\t2\nb\t2\n")
            .unwrap_err()
            .contains("twice"));
        assert!(compare_output(&expected, "b 2\n")
            .unwrap_err()
            .contains("line 1"));
        assert!(compare_output(&Counts::new(), "").is_ok());
    }
}
