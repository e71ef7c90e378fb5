//! Word count, the map-reduce way, on one machine.
//!
//! The job: read a directory of text files, split the files into M map
//! tasks, and
//!
//! 1. **map**: each map task counts the words of its files and splits the
//!    counts into R partitions by a hash of the word ([`partition_of`]);
//! 2. **shuffle**: reduce task r collects partition r of every map task;
//! 3. **reduce**: it adds them up, giving the final count of every word whose
//!    partition is r.
//!
//! [`run_local`] does all of it in this process, one task after the other:
//! the sequential reference the distributed version must agree with. The
//! distributed version runs the very same [`map`] and [`reduce`] functions,
//! on workers.
//!
//! This file is provided and works, except for one thing: [`words`] does not
//! follow the contract's word rule yet (Problem 1 of the lesson,
//! docs/src/part-2-map-reduce.md). Check it with
//! `cargo run -p map-reduce -- local --input DIR` and `cargo grade map-reduce --stage 1`.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Word → how many times it occurs.
pub type Counts = BTreeMap<String, u64>;

/// One input file: its name and its text.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct InputFile {
    /// The file name (without the directory).
    pub name: String,
    /// Its contents. Invalid UTF-8 became U+FFFD, which separates words.
    pub text: String,
}

/// Reads every regular file of `dir` (not its sub-directories), sorted by name.
pub fn read_input(dir: &Path) -> std::io::Result<Vec<InputFile>> {
    let mut files = vec![];
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if !entry.file_type()?.is_file() {
            continue;
        }
        let bytes = std::fs::read(entry.path())?;
        files.push(InputFile {
            name: entry.file_name().to_string_lossy().into_owned(),
            text: String::from_utf8_lossy(&bytes).into_owned(),
        });
    }
    files.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(files)
}

/// Splits the files into `m` map tasks of about the same size: biggest file
/// first, each to the task with the fewest bytes so far. Deterministic: the
/// same files always give the same tasks. Some tasks may be empty.
pub fn split(files: Vec<InputFile>, m: u32) -> Vec<Vec<InputFile>> {
    let m = m.max(1) as usize;
    let mut tasks: Vec<Vec<InputFile>> = vec![vec![]; m];
    let mut sizes = vec![0usize; m];
    let mut files = files;
    // Stable sort: equal sizes keep their name order.
    files.sort_by_key(|f| std::cmp::Reverse(f.text.len()));
    for f in files {
        let lightest = (0..m).min_by_key(|&i| (sizes[i], i)).unwrap_or(0);
        sizes[lightest] += f.text.len();
        tasks[lightest].push(f);
    }
    tasks
}

/// The words of `text`, in order (see `contracts::map_reduce` for the rule):
/// maximal runs of alphanumeric characters, each lowercased as a whole.
pub fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    // TODO Problem 1 (docs/src/part-2-map-reduce.md, "Problem 1, the word
    // rule"): this splits on whitespace only, so "Hello," and "hello" are
    // two different words, and so are "don't" and "don". Follow the contract
    // instead: every character that is not alphanumeric (char::is_alphanumeric)
    // separates words: punctuation, apostrophes, hyphens, underscores,
    // symbols, emoji. Empty pieces are not words. Lowercase each word as a
    // whole (str::to_lowercase), not char by char: a capital sigma at the end
    // of a word must become 'ς'.
    text.split_whitespace().map(str::to_string)
}

/// Which of the `r` reduce tasks gets `word`: FNV-1a of its UTF-8 bytes,
/// modulo `r`. Every node must agree on it, so it cannot be the hasher of
/// std's `HashMap` (`RandomState`), whose keys are random in every process.
pub fn partition_of(word: &str, r: u32) -> u32 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in word.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    (h % u64::from(r.max(1))) as u32
}

/// The map function: counts the words of `files` and splits the counts into
/// `r` partitions (partition `i` holds the words `w` with
/// `partition_of(w, r) == i`).
pub fn map(files: &[InputFile], r: u32) -> Vec<Counts> {
    let mut parts = vec![Counts::new(); r.max(1) as usize];
    for f in files {
        for w in words(&f.text) {
            let p = partition_of(&w, r) as usize;
            *parts[p].entry(w).or_insert(0) += 1;
        }
    }
    parts
}

/// The reduce function: adds up counts (partition r of every map task).
pub fn reduce<'a>(parts: impl IntoIterator<Item = &'a Counts>) -> Counts {
    let mut total = Counts::new();
    for part in parts {
        for (w, n) in part {
            *total.entry(w.clone()).or_insert(0) += n;
        }
    }
    total
}

/// The counts in output order: highest count first, then by word.
pub fn ranked(counts: &Counts) -> Vec<(&str, u64)> {
    let mut v: Vec<(&str, u64)> = counts.iter().map(|(w, n)| (w.as_str(), *n)).collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    v
}

/// The `n` most frequent words.
pub fn top(counts: &Counts, n: usize) -> Vec<(String, u64)> {
    ranked(counts)
        .into_iter()
        .take(n)
        .map(|(w, c)| (w.to_string(), c))
        .collect()
}

/// Writes the output file: `word<TAB>count` lines, in [`ranked`] order.
pub fn write_output(path: &Path, counts: &Counts) -> std::io::Result<()> {
    let mut out = String::new();
    for (w, n) in ranked(counts) {
        out.push_str(w);
        out.push('\t');
        out.push_str(&n.to_string());
        out.push('\n');
    }
    // Write then rename: a reader never sees half a file.
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, out)?;
    std::fs::rename(&tmp, path)
}

/// What a finished job found.
#[derive(Debug, Clone)]
pub struct Summary {
    /// Words counted.
    pub total_words: u64,
    /// Distinct words.
    pub distinct_words: u64,
    /// The ten most frequent.
    pub top: Vec<(String, u64)>,
    /// How long it took.
    pub elapsed: Duration,
    /// Where the counts were written.
    pub output: PathBuf,
}

impl Summary {
    /// Sums up `counts`, written to `output` after `elapsed`.
    pub fn of(counts: &Counts, elapsed: Duration, output: &Path) -> Summary {
        Summary {
            total_words: counts.values().sum(),
            distinct_words: counts.len() as u64,
            top: top(counts, 10),
            elapsed,
            output: output.to_path_buf(),
        }
    }

    /// Prints it for a human.
    pub fn print(&self, what: &str) {
        println!(
            "{what}: {} words, {} distinct, in {:.1} ms; counts written to {}",
            self.total_words,
            self.distinct_words,
            self.elapsed.as_secs_f64() * 1e3,
            self.output.display()
        );
        for (i, (w, n)) in self.top.iter().enumerate() {
            println!("{:>3}. {w} {n}", i + 1);
        }
    }
}

/// The whole job in this process: read, split into `m` map tasks, map each,
/// shuffle into `r` partitions, reduce each, write the output.
pub fn run_local(input: &Path, output: &Path, m: u32, r: u32) -> std::io::Result<Summary> {
    let t0 = Instant::now();
    let tasks = split(read_input(input)?, m);
    let mapped: Vec<Vec<Counts>> = tasks.iter().map(|files| map(files, r)).collect();
    let mut counts = Counts::new();
    for p in 0..r.max(1) as usize {
        // Shuffle: partition p of every map task goes to reduce task p.
        let reduced = reduce(mapped.iter().map(|parts| &parts[p]));
        counts.extend(reduced);
    }
    write_output(output, &counts)?;
    Ok(Summary::of(&counts, t0.elapsed(), output))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_is_deterministic_and_loses_nothing() {
        let files: Vec<InputFile> = (0..7)
            .map(|i| InputFile {
                name: format!("f{i}"),
                text: "x ".repeat(i * 3),
            })
            .collect();
        let a = split(files.clone(), 3);
        assert_eq!(a, split(files, 3));
        assert_eq!(a.iter().map(Vec::len).sum::<usize>(), 7);
    }
}
