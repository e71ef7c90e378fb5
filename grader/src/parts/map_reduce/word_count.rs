//! Stage "Word count": the single-machine `local` run, checked against the reference.

use super::corpus::write_corpus;
use super::job::check_output;
use crate::harness::{Harness, StageError};
use crate::report::model::CheckKind;
use rand::Rng;
use std::time::{Duration, Instant};

pub(super) async fn word_count(h: &mut Harness) -> Result<(), StageError> {
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
