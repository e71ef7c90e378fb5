//! The transcripts of Parts 3 and 4's "Running nodes by hand" (up to the
//! first subsection) work as written:
//! every `$ curl …` and `$ redis-cli …` shown there is run, in order,
//! against a real Redis and two real nodes of the reference solution (on
//! free ports, put in place of the chapter's 8001, 8002 and 6379), and
//! must print what the chapter shows (status line, the headers shown, the
//! body).

use grader::harness::{Harness, StageSetup};
use grader::run::output::Output;
use grader::services::redis::Persistence;
use std::process::Command;

const SECTION: &str = "## Running nodes by hand";

/// One command of a transcript and what the chapter says it prints.
#[derive(Debug)]
struct Shown {
    command: String,
    output: Vec<String>,
}

/// The `$ …` commands of the section's text blocks, with their output.
fn transcripts(chapter: &str) -> Vec<Shown> {
    let start = chapter.find(SECTION).expect("the chapter has the section");
    let rest = &chapter[start + SECTION.len()..];
    // Up to the next heading: "What the starter does" shows the starter.
    let end = rest.find("\n#").unwrap_or(rest.len());
    let mut shown: Vec<Shown> = vec![];
    let mut in_text = false;
    for line in rest[..end].lines() {
        if line.starts_with("```") {
            in_text = !in_text && line.trim() == "```text";
            continue;
        }
        if !in_text {
            continue;
        }
        if let Some(cmd) = line.strip_prefix("$ ") {
            shown.push(Shown {
                command: cmd.to_string(),
                output: vec![],
            });
        } else if let Some(last) = shown.last_mut() {
            last.output.push(line.to_string());
        }
    }
    shown
        .into_iter()
        .filter(|s| s.command.starts_with("curl ") || s.command.starts_with("redis-cli "))
        .collect()
}

/// Whether `actual` (curl -i or redis-cli output) shows what `shown` does:
/// the same status line, every header shown, the same body.
fn matches(shown: &[String], actual: &str) -> Result<(), String> {
    let actual: Vec<&str> = actual.lines().map(|l| l.trim_end_matches('\r')).collect();
    if !shown.first().is_some_and(|l| l.starts_with("HTTP/")) {
        let want: Vec<&str> = shown.iter().map(String::as_str).collect();
        return (want == actual)
            .then_some(())
            .ok_or_else(|| format!("printed {actual:?}"));
    }
    let split = |lines: Vec<&'_ str>| -> (Vec<String>, Vec<String>) {
        let blank = lines
            .iter()
            .position(|l| l.is_empty())
            .unwrap_or(lines.len());
        let head = lines[..blank]
            .iter()
            .map(|l| l.to_ascii_lowercase())
            .collect();
        let body = lines[blank..]
            .iter()
            .filter(|l| !l.is_empty())
            .map(|l| l.to_string())
            .collect();
        (head, body)
    };
    let (want_head, want_body) = split(shown.iter().map(String::as_str).collect());
    let (head, body) = split(actual.clone());
    if head.first() != want_head.first() {
        return Err(format!("status {:?}, not {:?}", head.first(), want_head[0]));
    }
    if let Some(missing) = want_head[1..].iter().find(|h| !head.contains(h)) {
        return Err(format!("no header {missing:?} in {head:?}"));
    }
    if body != want_body {
        return Err(format!("body {body:?}, not {want_body:?}"));
    }
    Ok(())
}

fn has(program: &str) -> bool {
    Command::new(program).arg("--version").output().is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn part_3s_curls_work_as_written() {
    curls_work_as_written("docs/src/part-3-shortener.md", "shortener-solution").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn part_4s_curls_work_as_written() {
    curls_work_as_written(
        "docs/src/part-4-shortener-improved.md",
        "shortener-improved-solution",
    )
    .await;
}

/// Runs the transcripts of `chapter` against two fresh nodes of `package`.
async fn curls_work_as_written(chapter_path: &str, package: &str) {
    let root = grader::builder::workspace_root();
    let chapter = std::fs::read_to_string(root.join(chapter_path)).unwrap();
    let shown = transcripts(&chapter);
    assert!(
        shown
            .iter()
            .filter(|s| s.command.starts_with("curl"))
            .count()
            >= 8,
        "the section shows fewer curls than expected: {shown:#?}"
    );
    for program in ["curl", "redis-cli"] {
        if !has(program) {
            assert!(
                std::env::var_os("CI").is_none(),
                "{program} is not installed (CI must install it)"
            );
            eprintln!("skipped: {program} is not installed");
            return;
        }
    }
    let out = Output::new(false);
    let binary = grader::builder::build(package, None, None, &out).expect("the solution builds");
    let dir = tempfile::tempdir().unwrap();
    let setup = StageSetup {
        binary,
        number: 1,
        seed: 1,
        time_scale: 2.0,
        dir: dir.path().to_path_buf(),
    };
    let mut h = Harness::new(setup, out).await.expect("harness starts");
    h.start_store(Persistence::None)
        .await
        .expect("redis starts");
    grader::parts::shortener::start_nodes(&mut h, &["n1", "n2"])
        .await
        .expect("nodes start");
    h.mesh(&["n1", "n2"]).await.expect("the nodes connect");
    let http1 = h.endpoint("n1", "http").unwrap().to_string();
    let http2 = h.endpoint("n2", "http").unwrap().to_string();
    let store_port = h
        .store_direct_url()
        .unwrap()
        .rsplit(':')
        .next()
        .unwrap()
        .trim_end_matches('/')
        .to_string();
    let mut failures = vec![];
    for s in &shown {
        let command = s
            .command
            .replace("127.0.0.1:8001", &http1)
            .replace("127.0.0.1:8002", &http2)
            // Quoted replies, as redis-cli prints them on a terminal.
            .replacen(
                "redis-cli ",
                &format!("redis-cli --no-raw -p {store_port} "),
                1,
            );
        // A reader types slower than a node pushes its view counts (every
        // 200 ms in Part 4): give stats that long to settle.
        if command.contains("/stats") {
            tokio::time::sleep(std::time::Duration::from_millis(600)).await;
        }
        let done = Command::new("sh").arg("-c").arg(&command).output().unwrap();
        let printed = String::from_utf8_lossy(&done.stdout);
        if let Err(why) = matches(&s.output, &printed) {
            failures.push(format!("$ {}\n  {why}", s.command));
        }
    }
    assert!(
        failures.is_empty(),
        "{chapter_path}, {SECTION}: commands that do not print what the chapter shows:\n{}",
        failures.join("\n")
    );
}

#[test]
fn transcripts_are_read_with_their_output() {
    let text = "## Running nodes by hand\n\n```text\n$ curl -i x\nHTTP/1.1 201 Created\nlocation: /a\n\na\n$ echo hi\nhi\n```\n\n## Next\n\n```text\n$ curl y\n```\n";
    let shown = transcripts(text);
    assert_eq!(shown.len(), 1, "{shown:?}");
    assert_eq!(shown[0].command, "curl -i x");
    assert!(matches(
        &shown[0].output,
        "HTTP/1.1 201 Created\r\ncontent-type: text/plain\r\nLocation: /a\r\n\r\na\n"
    )
    .is_ok());
    assert!(matches(&shown[0].output, "HTTP/1.1 201 Created\r\n\r\nb\n").is_err());
    assert!(matches(&shown[0].output, "HTTP/1.1 400 Bad Request\r\n\r\na\n").is_err());
}
