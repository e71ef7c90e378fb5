//! Part 2, map-reduce: a coordinator hands word-count tasks to workers.
//!
//! Every stage writes a seeded corpus of text files into its directory,
//! counts its words with the grader's own implementation of the contract's
//! word rule ([`reference_count`], written apart from the part's code on
//! purpose), and compares the output file the part writes with that count,
//! word by word.
//!
//! Faults are timed from the coordinator's `Status`: the grader waits until
//! the job is where it wants it (a third of the map tasks done, the reduce
//! phase, ...), picks a worker that is running a task, and strikes. Workers
//! get `--task-delay-ms`, so every task lasts long enough to be struck.

use crate::harness::{Harness, StageError};
use crate::part::{Part, StageDef};
use crate::report::model::CheckKind;
use contracts::map_reduce::{
    CoordinatorCall, CoordinatorReply, JobInfo, JobStatus, TaskKind, TaskState, COORDINATOR, WORKER,
};
use futures::FutureExt;
use netsplit::gen_server::{self, CallError};
use netsplit::{Node, NodeName, Pid};
use rand::seq::SliceRandom;
use rand::Rng;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The part, with its six stages.
pub fn part() -> Part {
    Part::new(2, "map-reduce").stages(vec![
        StageDef {
            name: "Word count",
            points: 10,
            goal: "the single-machine word count follows the contract's word rule exactly",
            hint: "Problem 1: a word is a maximal run of char::is_alphanumeric characters \
                       (apostrophes, hyphens, underscores and all punctuation split words), \
                       lowercased as a whole with str::to_lowercase. Try it: \
                       cargo run -p map-reduce -- local --input DIR.",
            lesson_anchor: "problem-1-the-word-rule",
            run: |h| word_count(h).boxed(),
        },
        StageDef {
            name: "Distributed",
            points: 20,
            goal: "a coordinator and three workers count the corpus exactly, every worker \
                       doing some of the work, with no shared file system",
            hint: "Problem 2: the worker announces itself (Hello) and monitors the \
                       coordinator; the coordinator hands map tasks to free workers, then \
                       reduce tasks once every map task is done; map output stays on the \
                       worker and reducers fetch it from there.",
            lesson_anchor: "problem-2-distribute-the-work",
            run: |h| distributed(h).boxed(),
        },
        StageDef {
            name: "Worker failure",
            points: 20,
            goal: "a worker killed mid-map and another killed mid-reduce: the job still \
                       ends, with exact counts",
            hint: "Problem 3: monitor every worker. On its Down, put its running task \
                       back in the queue, and its finished map tasks too: their output died \
                       with it, and reduce tasks still need it.",
            lesson_anchor: "problem-3-worker-failure",
            run: |h| worker_failure(h).boxed(),
        },
        StageDef {
            name: "Stragglers",
            points: 20,
            goal: "a paused worker's task is given to another worker after the timeout, \
                       and its late result, once it resumes, changes nothing",
            hint: "Problem 4: on every tick, give a task that has run longer than the \
                       task timeout to another worker; accept only the first completion of \
                       a task and ignore any other (count tasks, not messages).",
            lesson_anchor: "problem-4-stragglers-and-idempotent-results",
            run: |h| stragglers(h).boxed(),
        },
        StageDef {
            name: "Partition",
            points: 15,
            goal: "a worker cut off from the coordinator mid-job: exact counts; after the \
                       heal the worker rejoins and works again",
            hint: "Problem 5: a cut-off worker is a lost worker to the coordinator (its \
                       monitor fires). The worker's monitor on the coordinator fires too: it \
                       must keep trying to announce itself until it is welcomed again.",
            lesson_anchor: "problem-5-partitions",
            run: |h| partition(h).boxed(),
        },
        StageDef {
            name: "Churn",
            points: 15,
            goal: "workers killed and restarted again and again during the job: exact \
                       counts in bounded time, and the coordinator counts on exactly the \
                       live workers",
            hint: "Problem 6: nothing new if Problems 2 to 5 hold: every restart is a \
                       lost worker (its running task and its map output run again) followed \
                       by a new worker with a new pid. Keep workers by pid, so a Down or a \
                       result always names the incarnation it is about.",
            lesson_anchor: "problem-6-churn",
            run: |h| churn(h).boxed(),
        },
    ])
}

const COORD: &str = "coord";
const WORKERS: [&str; 3] = ["w1", "w2", "w3"];
const CALL: Duration = Duration::from_secs(5);

/// Word → count.
pub type Counts = BTreeMap<String, u64>;

// ------------------------------------------------------------------ the reference

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

// ------------------------------------------------------------------ the corpus

/// A corpus written to disk, and its expected count.
struct Corpus {
    dir: PathBuf,
    files: usize,
    bytes: u64,
    expected: Counts,
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
fn write_corpus(h: &mut Harness, name: &str, n: usize, kb: usize) -> Result<Corpus, StageError> {
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

// ------------------------------------------------------------------ talking to the coordinator

/// The grader's handle on the coordinator.
#[derive(Clone)]
struct Coord {
    control: Node,
    name: NodeName,
}

impl Coord {
    fn of(h: &Harness) -> Coord {
        Coord {
            control: h.control().clone(),
            name: h.full(COORD),
        }
    }

    async fn call(&self, req: CoordinatorCall) -> Result<CoordinatorReply, String> {
        gen_server::call::<_, CoordinatorReply>(
            &self.control,
            (COORDINATOR, &self.name),
            &req,
            CALL,
        )
        .await
        .map_err(|e| format!("the coordinator did not answer {req:?}: {}", explain(&e)))
    }

    async fn status(&self) -> Result<JobStatus, String> {
        match self.call(CoordinatorCall::Status).await? {
            CoordinatorReply::Status(s) => Ok(s),
            other => Err(format!("Status was answered with {other:?}")),
        }
    }
}

fn explain(e: &CallError) -> String {
    match e {
        CallError::Exit(r) => format!("it crashed ({r})"),
        CallError::NoProc => {
            format!("nothing is registered as {COORDINATOR:?} (did it crash? see the node's log)")
        }
        CallError::Timeout => "no answer in time (is it blocked waiting on a worker?)".into(),
        other => other.to_string(),
    }
}

fn short(n: &NodeName) -> &str {
    n.short()
}

fn done_by(state: &TaskState) -> Option<&Pid> {
    match state {
        TaskState::Done { worker } => Some(worker),
        _ => None,
    }
}

fn running_on(state: &TaskState) -> Option<&Pid> {
    match state {
        TaskState::Running { worker } => Some(worker),
        _ => None,
    }
}

fn count_done(tasks: &[contracts::map_reduce::TaskInfo]) -> usize {
    tasks.iter().filter(|t| done_by(&t.state).is_some()).count()
}

/// "map 5/16 done, reduce 0/6 done; w1 runs map 3, w2 idle".
fn progress(s: &JobStatus) -> String {
    let workers: Vec<String> = s
        .workers
        .iter()
        .map(|w| match w.running {
            Some(t) => format!(
                "{} runs {} {}",
                short(w.pid.node()),
                match t.kind {
                    TaskKind::Map => "map",
                    TaskKind::Reduce => "reduce",
                },
                t.index
            ),
            None => format!("{} is idle", short(w.pid.node())),
        })
        .collect();
    let workers = if workers.is_empty() {
        "no workers".to_string()
    } else {
        workers.join(", ")
    };
    match &s.job {
        None => format!("no job; {workers}"),
        Some(j) => format!(
            "job {}: map {}/{} done, reduce {}/{} done{}; {workers}",
            j.id,
            count_done(&j.map_tasks),
            j.map_tasks.len(),
            count_done(&j.reduce_tasks),
            j.reduce_tasks.len(),
            if j.result.is_some() { ", finished" } else { "" }
        ),
    }
}

// ------------------------------------------------------------------ a job on a cluster

/// A cluster's settings.
struct Setup {
    workers: &'static [&'static str],
    m: u32,
    r: u32,
    task_timeout: Duration,
    task_delay_ms: u64,
    /// Ordinary files in the corpus, and their largest size in KiB.
    files: usize,
    kb: usize,
}

/// A started cluster: what it counts and where it writes.
struct Job {
    corpus: Corpus,
    output: PathBuf,
    coord: Coord,
}

/// Writes the corpus, starts the coordinator and the workers, and waits
/// until the coordinator counts on every worker.
async fn cluster(h: &mut Harness, s: &Setup) -> Result<Job, StageError> {
    let corpus = write_corpus(h, "input", s.files, s.kb)?;
    let output = h.dir().join("word-counts.tsv");
    let coord_args: Vec<String> = vec![
        "coordinator".into(),
        "--input".into(),
        corpus.dir.display().to_string(),
        "--output".into(),
        output.display().to_string(),
        "--map-tasks".into(),
        s.m.to_string(),
        "--reduce-tasks".into(),
        s.r.to_string(),
        "--task-timeout-ms".into(),
        s.task_timeout.as_millis().to_string(),
    ];
    h.mark(format!(
        "corpus: {} files, {} KiB, {} distinct words; M={} R={}, task timeout {} ms, task delay {} ms",
        corpus.files,
        corpus.bytes / 1024,
        corpus.expected.len(),
        s.m,
        s.r,
        s.task_timeout.as_millis(),
        s.task_delay_ms
    ));
    h.start_nodes_with(&[COORD], |_| coord_args.clone()).await?;
    let worker_args: Vec<String> = vec![
        "worker".into(),
        "--coordinator".into(),
        h.full(COORD).to_string(),
        "--task-delay-ms".into(),
        s.task_delay_ms.to_string(),
    ];
    h.start_nodes_with(s.workers, |_| worker_args.clone())
        .await?;
    let coord = Coord::of(h);
    wait_workers(
        h,
        &coord,
        s.workers,
        "the coordinator counts on every worker",
    )
    .await?;
    Ok(Job {
        corpus,
        output,
        coord,
    })
}

/// Liveness: the coordinator lists exactly one worker on each of `nodes`.
async fn wait_workers(
    h: &mut Harness,
    coord: &Coord,
    nodes: &[&str],
    what: &str,
) -> Result<(), StageError> {
    let want: BTreeSet<String> = nodes.iter().map(|s| s.to_string()).collect();
    let c = coord.clone();
    h.eventually(
        what,
        Duration::from_secs(5),
        format!("workers on {}", nodes.join(", ")),
        || {
            let (c, want) = (c.clone(), want.clone());
            async move {
                let s = c.status().await?;
                let mut seen: Vec<String> = s
                    .workers
                    .iter()
                    .map(|w| short(w.pid.node()).to_string())
                    .collect();
                seen.sort();
                let set: BTreeSet<String> = seen.iter().cloned().collect();
                if set == want && seen.len() == want.len() {
                    Ok(())
                } else {
                    Err(format!("workers on [{}]", seen.join(", ")))
                }
            }
        },
    )
    .await
}

/// Starts a job; returns its id.
async fn start_job(h: &mut Harness, job: &Job) -> Result<u64, StageError> {
    let r = job.coord.call(CoordinatorCall::Start).await;
    match r {
        Ok(CoordinatorReply::Started { job }) => {
            h.mark(format!("job {job} started"));
            Ok(job)
        }
        other => h
            .check(
                CheckKind::Liveness,
                "the coordinator starts a job",
                false,
                Some("Started { job }".into()),
                Some(match other {
                    Ok(r) => format!("{r:?}"),
                    Err(e) => e,
                }),
            )
            .map(|_| 0),
    }
}

/// Liveness: job `id` finishes within `within` (scaled). Returns it.
async fn wait_finished(
    h: &mut Harness,
    job: &Job,
    id: u64,
    within: Duration,
    what: &str,
) -> Result<JobInfo, StageError> {
    let c = job.coord.clone();
    let info = h
        .eventually(what, within, format!("job {id} finished"), || {
            let c = c.clone();
            async move {
                let s = c.status().await?;
                match &s.job {
                    Some(j) if j.id == id && j.result.is_some() => Ok(j.clone()),
                    _ => Err(progress(&s)),
                }
            }
        })
        .await?;
    if let Some(r) = &info.result {
        h.mark(format!(
            "job {id} finished in {} ms: {} words, {} distinct",
            r.elapsed_ms, r.total_words, r.distinct_words
        ));
    }
    Ok(info)
}

/// Safety: the output file holds exactly the expected counts.
fn check_output(
    h: &mut Harness,
    expected: &Counts,
    path: &Path,
    what: &str,
) -> Result<(), StageError> {
    let verdict = match std::fs::read(path) {
        Ok(bytes) => match String::from_utf8(bytes) {
            Ok(text) => compare_output(expected, &text),
            Err(_) => Err(format!("{} is not UTF-8", path.display())),
        },
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    };
    let total: u64 = expected.values().sum();
    h.check(
        CheckKind::Safety,
        what,
        verdict.is_ok(),
        Some(format!(
            "{} distinct words, {total} in all, each with its exact count",
            expected.len()
        )),
        Some(match verdict {
            Ok(()) => "exactly that".into(),
            Err(e) => e,
        }),
    )
}

/// Polls the coordinator until `pick` finds what it looks for in a status
/// (liveness, within `within`). `waiting` says what is awaited.
async fn wait_for<T, F>(
    h: &mut Harness,
    coord: &Coord,
    what: &str,
    within: Duration,
    waiting: &str,
    pick: F,
) -> Result<T, StageError>
where
    F: Fn(&JobStatus) -> Option<T> + Clone + Send + 'static,
    T: Send + 'static,
{
    let c = coord.clone();
    h.eventually(what, within, waiting.to_string(), || {
        let (c, pick) = (c.clone(), pick.clone());
        async move {
            let s = c.status().await?;
            pick(&s).ok_or_else(|| progress(&s))
        }
    })
    .await
}

/// Workers (by pid) running a task of `kind` that the task table agrees
/// they run, sorted by node name.
fn running(s: &JobStatus, kind: TaskKind) -> Vec<(Pid, u32)> {
    let Some(j) = &s.job else { return vec![] };
    let tasks = match kind {
        TaskKind::Map => &j.map_tasks,
        TaskKind::Reduce => &j.reduce_tasks,
    };
    let mut v: Vec<(Pid, u32)> = s
        .workers
        .iter()
        .filter_map(|w| {
            let t = w.running?;
            let task = tasks.get(t.index as usize)?;
            (t.kind == kind && running_on(&task.state) == Some(&w.pid))
                .then(|| (w.pid.clone(), t.index))
        })
        .collect();
    v.sort_by(|a, b| a.0.node().cmp(b.0.node()));
    v
}

/// Map tasks done by `pid`.
fn maps_held(j: &JobInfo, pid: &Pid) -> usize {
    j.map_tasks
        .iter()
        .filter(|t| done_by(&t.state) == Some(pid))
        .count()
}

// ---------------------------------------------------------------------- stages

async fn word_count(h: &mut Harness) -> Result<(), StageError> {
    let corpus = write_corpus(h, "input", 24, 24)?;
    h.mark(format!(
        "corpus: {} files, {} KiB, {} distinct words, {} in all",
        corpus.files,
        corpus.bytes / 1024,
        corpus.expected.len(),
        corpus.expected.values().sum::<u64>()
    ));
    let (m, r) = (h.rng.gen_range(3..=9u32), h.rng.gen_range(2..=5u32));
    for (i, (m, r)) in [(1, 1), (m, r)].into_iter().enumerate() {
        let label = format!("local-{}", i + 1);
        let output = h.dir().join(format!("{label}.tsv"));
        let args: Vec<String> = vec![
            "local".into(),
            "--input".into(),
            corpus.dir.display().to_string(),
            "--output".into(),
            output.display().to_string(),
            "--map-tasks".into(),
            m.to_string(),
            "--reduce-tasks".into(),
            r.to_string(),
        ];
        h.mark(format!("run: map-reduce {}", args.join(" ")));
        let t0 = Instant::now();
        let status = h.run_command(&label, args, Duration::from_secs(20)).await?;
        let took = t0.elapsed();
        if !status.success() {
            let log = h.log_path(&label);
            let tail: Vec<String> = std::fs::read_to_string(&log)
                .unwrap_or_default()
                .lines()
                .rev()
                .take(4)
                .map(str::to_string)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            h.check(
                CheckKind::Liveness,
                format!("`local` with M={m}, R={r} runs to the end"),
                false,
                Some("exit status 0".into()),
                Some(format!(
                    "{status}; its last lines: {} (all of it in {})",
                    tail.join(" | "),
                    log.display()
                )),
            )?;
        }
        h.mark(format!("local run took {} ms", took.as_millis()));
        check_output(
            h,
            &corpus.expected,
            &output,
            &format!("`local` with M={m}, R={r} counts every word of the corpus exactly"),
        )?;
    }
    Ok(())
}

async fn distributed(h: &mut Harness) -> Result<(), StageError> {
    let setup = Setup {
        workers: &WORKERS,
        m: h.rng.gen_range(9..=14),
        r: h.rng.gen_range(3..=6),
        task_timeout: h.scaled(Duration::from_secs(30)),
        task_delay_ms: 40,
        files: 24,
        kb: 16,
    };
    let job = cluster(h, &setup).await?;
    let id = start_job(h, &job).await?;
    let info = wait_finished(h, &job, id, Duration::from_secs(15), "the job finishes").await?;
    check_output(
        h,
        &job.corpus.expected,
        &job.output,
        "the job counts every word of the corpus exactly",
    )?;
    let by: Vec<String> = WORKERS
        .iter()
        .map(|w| {
            let n = info.completed_by.get(&h.full(w)).copied().unwrap_or(0);
            format!("{w}: {n}")
        })
        .collect();
    let idle: Vec<&str> = WORKERS
        .iter()
        .copied()
        .filter(|w| info.completed_by.get(&h.full(w)).copied().unwrap_or(0) == 0)
        .collect();
    h.check(
        CheckKind::Safety,
        "every worker completed tasks",
        idle.is_empty(),
        Some("at least one task completed by each of w1, w2, w3".into()),
        Some(format!("completed_by {}", by.join(", "))),
    )?;
    // No shared file system: the input travels in messages...
    let shipped: u64 = WORKERS.iter().map(|w| h.link_bytes(COORD, w)).sum();
    h.check(
        CheckKind::Safety,
        "the input files travel to the workers in messages (no shared file system)",
        shipped >= job.corpus.bytes,
        Some(format!(
            "at least the corpus's {} bytes sent by the coordinator to the workers",
            job.corpus.bytes
        )),
        Some(format!("{shipped} bytes")),
    )?;
    // ...and map output is fetched from the worker that made it.
    let mut between = 0;
    for w in WORKERS {
        for o in WORKERS.iter().filter(|o| **o != w) {
            between += h.link_bytes(w, o);
        }
    }
    h.check(
        CheckKind::Safety,
        "reducers fetch map output from the workers that hold it",
        between > 0,
        Some("messages between workers".into()),
        Some(format!("{between} bytes between workers")),
    )
}

async fn worker_failure(h: &mut Harness) -> Result<(), StageError> {
    let m = h.rng.gen_range(14..=18);
    let setup = Setup {
        workers: &WORKERS,
        m,
        r: h.rng.gen_range(5..=7),
        // Long: only the workers' death may get their tasks run again.
        task_timeout: h.scaled(Duration::from_secs(60)),
        task_delay_ms: 120,
        files: 20,
        kb: 12,
    };
    let job = cluster(h, &setup).await?;
    let id = start_job(h, &job).await?;

    // Mid-map: once a third of the map tasks are done, kill a worker that runs one.
    let third = (m as usize).div_ceil(3);
    let candidates = wait_for(
        h,
        &job.coord,
        "a third of the map tasks are done while workers run more",
        Duration::from_secs(10),
        &format!(
            "at least {third} map tasks done and a worker running one (every task lasts at least \
             --task-delay-ms)"
        ),
        move |s| {
            let j = s.job.as_ref()?;
            let c = running(s, TaskKind::Map);
            (count_done(&j.map_tasks) >= third && !c.is_empty())
                .then(|| (c, count_done(&j.map_tasks)))
        },
    )
    .await?;
    let (cands, done) = candidates;
    let (victim, task) = cands.choose(&mut h.rng).cloned().expect("not empty");
    let first = short(victim.node()).to_string();
    h.mark(format!(
        "{first} runs map {task}, {done}/{m} map tasks done: kill it"
    ));
    h.kill(&first).await?;
    let rest: Vec<&str> = WORKERS.iter().copied().filter(|w| *w != first).collect();
    wait_workers(
        h,
        &job.coord,
        &rest,
        &format!("the coordinator stops counting on the killed {first}"),
    )
    .await?;

    // Mid-reduce: kill a worker that runs a reduce task and holds map output.
    let (victim, task, held) = wait_for(
        h,
        &job.coord,
        "every map task is done (the killed worker's included) and reduce tasks run",
        Duration::from_secs(10),
        "the reduce phase, with a worker running a reduce task and holding map output",
        move |s| {
            let j = s.job.as_ref()?;
            if j.result.is_some() || count_done(&j.map_tasks) < j.map_tasks.len() {
                return None;
            }
            running(s, TaskKind::Reduce)
                .into_iter()
                .map(|(p, t)| {
                    let held = maps_held(j, &p);
                    (p, t, held)
                })
                .find(|(_, _, held)| *held > 0)
        },
    )
    .await?;
    let second = short(victim.node()).to_string();
    h.mark(format!(
        "{second} runs reduce {task} and holds the output of {held} map tasks: kill it"
    ));
    h.kill(&second).await?;
    let last: Vec<&str> = rest.iter().copied().filter(|w| *w != second).collect();
    wait_workers(
        h,
        &job.coord,
        &last,
        &format!("the coordinator stops counting on the killed {second}"),
    )
    .await?;

    wait_finished(
        h,
        &job,
        id,
        Duration::from_secs(10),
        &format!("the job finishes on the one worker left (the map tasks {second} held run again)"),
    )
    .await?;
    check_output(
        h,
        &job.corpus.expected,
        &job.output,
        "after both kills, the job counts every word exactly",
    )
}

async fn stragglers(h: &mut Harness) -> Result<(), StageError> {
    let m = 24;
    let setup = Setup {
        workers: &WORKERS,
        m,
        r: 4,
        task_timeout: Duration::from_millis(500),
        task_delay_ms: 100,
        files: 30,
        kb: 8,
    };
    let job = cluster(h, &setup).await?;
    let id = start_job(h, &job).await?;

    // Early in the map phase, pause a worker in the middle of a map task.
    let cands = wait_for(
        h,
        &job.coord,
        "a worker runs a map task",
        Duration::from_secs(5),
        "a worker running a map task (every task lasts at least --task-delay-ms)",
        |s| {
            let c = running(s, TaskKind::Map);
            (!c.is_empty()).then_some(c)
        },
    )
    .await?;
    let (pid, task) = cands.choose(&mut h.rng).cloned().expect("not empty");
    let slow = short(pid.node()).to_string();
    h.pause(&slow).await?;
    h.mark(format!("{slow} paused in the middle of map {task}"));

    // Its task must go to someone else and be done there, while the
    // coordinator still counts on it (a timeout, not a lost worker).
    let p = pid.clone();
    let (redone, by) = wait_for(
        h,
        &job.coord,
        &format!("the task of the paused {slow} is given to another worker, who does it"),
        // Well below net_ticktime: the paused node must not be declared down.
        Duration::from_millis(2500),
        &format!("{slow}'s task done by another worker while {slow} is still a worker"),
        move |s| {
            let j = s.job.as_ref()?;
            let me = s.workers.iter().find(|w| w.pid == p)?;
            let t = me.running?;
            let tasks = match t.kind {
                TaskKind::Map => &j.map_tasks,
                TaskKind::Reduce => &j.reduce_tasks,
            };
            let by = done_by(&tasks.get(t.index as usize)?.state)?;
            (*by != p).then(|| (t, short(by.node()).to_string()))
        },
    )
    .await?;
    let left = job
        .coord
        .status()
        .await
        .ok()
        .and_then(|s| s.job)
        .map(|j| j.map_tasks.len() - count_done(&j.map_tasks))
        .unwrap_or(0);
    h.mark(format!(
        "{} {} was done again by {by}; {left} map tasks to go",
        match redone.kind {
            TaskKind::Map => "map",
            TaskKind::Reduce => "reduce",
        },
        redone.index
    ));
    h.resume(&slow).await?;
    h.mark(format!("{slow} resumed: its late result is on its way"));

    // The straggler reports; the coordinator must take it in stride.
    let p = pid.clone();
    wait_for(
        h,
        &job.coord,
        &format!("the coordinator hears the late result of {slow}"),
        Duration::from_secs(3),
        &format!("{slow} no longer running the task it was paused in"),
        move |s| {
            let me = s.workers.iter().find(|w| w.pid == p)?;
            (me.running != Some(redone)).then_some(())
        },
    )
    .await?;
    wait_finished(h, &job, id, Duration::from_secs(15), "the job finishes").await?;
    check_output(
        h,
        &job.corpus.expected,
        &job.output,
        "the straggler's late result changed nothing: every count is exact",
    )
}

async fn partition(h: &mut Harness) -> Result<(), StageError> {
    let m = h.rng.gen_range(14..=18);
    let setup = Setup {
        workers: &WORKERS,
        m,
        r: h.rng.gen_range(4..=6),
        task_timeout: h.scaled(Duration::from_secs(60)),
        task_delay_ms: 100,
        files: 20,
        kb: 12,
    };
    let job = cluster(h, &setup).await?;
    let id = start_job(h, &job).await?;

    let quarter = (m as usize).div_ceil(4);
    let (pid, task) = wait_for(
        h,
        &job.coord,
        "a quarter of the map tasks are done while workers run more",
        Duration::from_secs(10),
        "a worker running a map task and holding the output of another",
        move |s| {
            let j = s.job.as_ref()?;
            if count_done(&j.map_tasks) < quarter {
                return None;
            }
            running(s, TaskKind::Map)
                .into_iter()
                .find(|(p, _)| maps_held(j, p) > 0)
        },
    )
    .await?;
    let cut = short(pid.node()).to_string();
    h.mark(format!(
        "{cut} runs map {task} and holds map output: cut it off from the coordinator"
    ));
    h.partition(&[&[COORD], &[cut.as_str()]]).await?;
    let rest: Vec<&str> = WORKERS.iter().copied().filter(|w| *w != cut).collect();
    wait_workers(
        h,
        &job.coord,
        &rest,
        &format!("the coordinator stops counting on the cut-off {cut}"),
    )
    .await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    h.heal();
    wait_workers(
        h,
        &job.coord,
        &WORKERS,
        &format!("after the heal, {cut} announces itself again and is counted on"),
    )
    .await?;
    wait_finished(h, &job, id, Duration::from_secs(15), "the job finishes").await?;
    check_output(
        h,
        &job.corpus.expected,
        &job.output,
        "after the partition, the job counts every word exactly",
    )?;

    // A second job: the healed worker works again, and the count is exact again.
    let id2 = start_job(h, &job).await?;
    let info = wait_finished(
        h,
        &job,
        id2,
        Duration::from_secs(15),
        "a second job finishes",
    )
    .await?;
    check_output(
        h,
        &job.corpus.expected,
        &job.output,
        "the second job counts every word exactly",
    )?;
    let n = info.completed_by.get(&h.full(&cut)).copied().unwrap_or(0);
    h.check(
        CheckKind::Safety,
        format!("{cut}, back from the partition, completes tasks of the second job"),
        n > 0,
        Some("at least one task".into()),
        Some(format!("completed_by {:?}", info.completed_by)),
    )
}

async fn churn(h: &mut Harness) -> Result<(), StageError> {
    let setup = Setup {
        workers: &WORKERS,
        m: 42,
        r: 6,
        task_timeout: h.scaled(Duration::from_secs(60)),
        task_delay_ms: 80,
        files: 40,
        kb: 8,
    };
    let job = cluster(h, &setup).await?;
    let id = start_job(h, &job).await?;
    // Restart workers until the job is done, at most six times.
    let mut during = 0;
    for _ in 0..6 {
        let wait = h.rng.gen_range(150..400);
        tokio::time::sleep(Duration::from_millis(wait)).await;
        let s = job.coord.status().await.unwrap_or_default();
        if s.job.as_ref().is_none_or(|j| j.result.is_some()) {
            break;
        }
        let mut busy: Vec<Pid> = s
            .workers
            .iter()
            .filter(|w| w.running.is_some())
            .map(|w| w.pid.clone())
            .collect();
        busy.sort_by(|a, b| a.node().cmp(b.node()));
        let victim = match busy.choose(&mut h.rng) {
            Some(p) => short(p.node()).to_string(),
            None => WORKERS.choose(&mut h.rng).expect("three").to_string(),
        };
        h.mark(format!("churn: {}; restart {victim}", progress(&s)));
        during += 1;
        h.restart(&victim).await?;
    }
    h.check(
        CheckKind::Liveness,
        "workers were restarted while the job ran",
        during >= 2,
        Some("at least 2 restarts before the job finished".into()),
        Some(format!(
            "{during} (a job this fast ignores --task-delay-ms: every task must take at least that long)"
        )),
    )?;
    wait_finished(
        h,
        &job,
        id,
        Duration::from_secs(20),
        "the job finishes despite the churn",
    )
    .await?;
    check_output(
        h,
        &job.corpus.expected,
        &job.output,
        "after the churn, the job counts every word exactly",
    )?;

    // The coordinator counts on each node's current worker, and on no dead one.
    let mut current: BTreeMap<String, Pid> = BTreeMap::new();
    for w in WORKERS {
        match h.whereis(w, WORKER).await {
            Ok(Some(p)) => {
                current.insert(w.to_string(), p);
            }
            other => {
                return Err(StageError::Inconclusive(format!(
                    "whereis {WORKER} on {w}: {other:?}"
                )))
            }
        }
    }
    let c = job.coord.clone();
    let want: BTreeSet<Pid> = current.values().cloned().collect();
    h.eventually(
        "the coordinator counts on exactly the live workers (each node's newest incarnation)",
        Duration::from_secs(5),
        format!(
            "workers {}",
            want.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
        || {
            let (c, want) = (c.clone(), want.clone());
            async move {
                let s = c.status().await?;
                let seen: BTreeSet<Pid> = s.workers.iter().map(|w| w.pid.clone()).collect();
                if seen == want && s.workers.len() == want.len() {
                    Ok(())
                } else {
                    Err(format!(
                        "workers {}",
                        s.workers
                            .iter()
                            .map(|w| w.pid.to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ))
                }
            }
        },
    )
    .await
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
