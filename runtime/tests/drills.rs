//! The book's Drills chapter, run as written: for each drill, the nodes its
//! `cargo run … netsplit-node -- …` lines start (on a port mapper of the
//! test's own), every `NODE> command` of its transcripts typed into that
//! node's prompt in order, and what each prints compared with the chapter.
//!
//! Rules of the comparison (the chapter's introduction says them too):
//! - `…` in an expected line stands for any text;
//! - pids and references differ from run to run: the first time the chapter
//!   shows one, it stands for whatever the node printed there, and later
//!   commands and answers use that;
//! - `nodeup …` and `nodedown …` lines are events: they must be printed by
//!   that node, but may come a little before or after;
//! - a query (`nodes`, `pg members`, `global whereis`, …) is asked again for
//!   a few seconds until it answers as shown: the mesh, :global and :pg
//!   converge in the background, as the chapter warns.

mod os_node;

use os_node::{mapper, node_dir, NodeProc};
use regex::Regex;
use std::collections::HashMap;
use std::process::Command;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_netsplit-node");
const CHAPTER: &str = include_str!("../../docs/src/drills.md");
const START: &str = "cargo run -q -p netsplit --bin netsplit-node -- ";

/// One `NODE> command` and what the chapter shows after it.
#[derive(Debug)]
struct Step {
    node: String,
    command: String,
    shown: Vec<String>,
}

/// A drill of the chapter: how its nodes start, then its steps.
#[derive(Debug, Default)]
struct Drill {
    starts: Vec<String>,
    steps: Vec<Step>,
}

/// The chapter's drills, by their `## Drill N` headings.
fn drills() -> Vec<(String, Drill)> {
    let mut out: Vec<(String, Drill)> = vec![];
    let mut block: Option<String> = None;
    let prompt = Regex::new(r"^([a-z0-9]+@127\.0\.0\.1)> ?(.*)$").unwrap();
    for raw in CHAPTER.lines() {
        // Blocks may be indented (inside a list item).
        let line = raw.trim_start();
        if let Some(title) = line.strip_prefix("## Drill ") {
            out.push((title.to_string(), Drill::default()));
            continue;
        }
        if line.starts_with("## ") {
            // Sections after the drills (questions, going further) run nothing.
            out.push((String::new(), Drill::default()));
            continue;
        }
        if let Some(kind) = line.strip_prefix("```") {
            block = match block {
                None => Some(kind.trim().to_string()),
                Some(_) => None,
            };
            continue;
        }
        let Some((_, drill)) = out.last_mut() else {
            continue;
        };
        match block.as_deref() {
            Some("sh") => {
                if let Some(args) = line.trim().strip_prefix(START) {
                    drill.starts.push(args.to_string());
                }
            }
            Some("text") => {
                if let Some(c) = prompt.captures(line) {
                    drill.steps.push(Step {
                        node: c[1].to_string(),
                        command: c[2].to_string(),
                        shown: vec![],
                    });
                } else if let Some(step) = drill.steps.last_mut() {
                    step.shown.push(line.to_string());
                }
            }
            _ => {}
        }
    }
    out.retain(|(title, d)| !title.is_empty() && (!d.steps.is_empty() || !d.starts.is_empty()));
    out
}

fn is_event(line: &str) -> bool {
    line.starts_with("nodeup ") || line.starts_with("nodedown ")
}

/// Commands whose answer may take a moment to converge.
fn is_query(command: &str) -> bool {
    [
        "nodes",
        "pg members",
        "pg local",
        "pg groups",
        "global whereis",
        "global names",
        "whereis",
    ]
    .iter()
    .any(|q| command == *q || command.starts_with(&format!("{q} ")))
}

/// Pids and references as the chapter shows them.
fn identities() -> Regex {
    Regex::new(r"#Ref<[^>]+>|<[a-z0-9]+@[^>]+>").unwrap()
}

/// What the chapter's pids and references stand for in this run.
#[derive(Default)]
struct Bindings(HashMap<String, String>);

impl Bindings {
    /// `text` with every bound identity replaced by its value in this run.
    fn apply(&self, text: &str) -> String {
        identities()
            .replace_all(text, |c: &regex::Captures| {
                self.0
                    .get(&c[0])
                    .cloned()
                    .unwrap_or_else(|| c[0].to_string())
            })
            .into_owned()
    }

    /// Whether `actual` is what `shown` shows; binds the identities seen
    /// there for the first time.
    fn matches(&mut self, shown: &str, actual: &str) -> bool {
        let ids = identities();
        let mut pattern = String::from("^");
        let mut fresh = vec![];
        let mut last = 0;
        for m in ids.find_iter(shown) {
            pattern.push_str(&literal(&shown[last..m.start()]));
            match self.0.get(m.as_str()) {
                Some(bound) => pattern.push_str(&regex::escape(bound)),
                None => {
                    fresh.push(m.as_str().to_string());
                    pattern.push_str(if m.as_str().starts_with('#') {
                        "(#Ref<[^>]+>)"
                    } else {
                        "(<[^>]+>)"
                    });
                }
            }
            last = m.end();
        }
        pattern.push_str(&literal(&shown[last..]));
        pattern.push('$');
        let Some(c) = Regex::new(&pattern).unwrap().captures(actual) else {
            return false;
        };
        for (i, id) in fresh.into_iter().enumerate() {
            self.0.entry(id).or_insert_with(|| c[i + 1].to_string());
        }
        true
    }
}

/// Text to match as such, but for `…`, which matches anything.
fn literal(text: &str) -> String {
    text.split('…')
        .map(regex::escape)
        .collect::<Vec<_>>()
        .join(".*")
}

/// Runs one drill of the chapter against real nodes.
fn run(title: &str) {
    let all = drills();
    let (_, drill) = all
        .iter()
        .find(|(t, _)| t.starts_with(title))
        .unwrap_or_else(|| panic!("the chapter has no \"## Drill {title}\""));
    assert!(!drill.starts.is_empty(), "Drill {title} starts no node");
    let (_rt, pm, portmap) = mapper();
    let mut nodes: HashMap<String, NodeProc> = HashMap::new();
    for args in &drill.starts {
        let words: Vec<&str> = args.split_whitespace().collect();
        let name = words
            .windows(2)
            .find(|w| w[0] == "--name")
            .map(|w| w[1].to_string())
            .unwrap_or_else(|| panic!("{args:?} names no node"));
        let mut cmd = Command::new(BIN);
        cmd.args(&words).args(["--portmap", &portmap]);
        let (n, _) = NodeProc::start(&name, cmd, node_dir());
        nodes.insert(name, n);
    }
    let mut bound = Bindings::default();
    let mut events: HashMap<String, Vec<String>> = HashMap::new();
    for (k, step) in drill.steps.iter().enumerate() {
        let node = nodes
            .get_mut(&step.node)
            .unwrap_or_else(|| panic!("Drill {title}: {} is not started by the drill", step.node));
        let command = bound.apply(&step.command);
        let want: Vec<&String> = step
            .shown
            .iter()
            .filter(|l| !is_event(l) && !l.is_empty())
            .collect();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let got = ask(
                node,
                &command,
                k,
                events.entry(step.node.clone()).or_default(),
            );
            let same =
                got.len() == want.len() && want.iter().zip(&got).all(|(w, g)| bound.matches(w, g));
            if same {
                break;
            }
            assert!(
                is_query(&command) && Instant::now() < deadline,
                "Drill {title}, {}> {command}:\n  the chapter shows {want:#?}\n  the node printed {got:#?}\n  stderr:\n{}",
                step.node,
                node.stderr_text()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        for e in step.shown.iter().filter(|l| is_event(l)) {
            let e = bound.apply(e);
            let seen = events.entry(step.node.clone()).or_default();
            if !seen.contains(&e) {
                let line = node.expect(Duration::from_secs(10), |l| l == e);
                seen.push(line);
            }
        }
    }
    drop(nodes);
    drop(pm);
}

/// Types `command` and returns what it printed, up to a marker echoed after
/// it; the events among it go to `events`.
fn ask(node: &mut NodeProc, command: &str, k: usize, events: &mut Vec<String>) -> Vec<String> {
    let marker = format!("end-of-step-{k}");
    node.cmd(command);
    node.cmd(&format!("echo {marker}"));
    let echo = format!("> {command}");
    // Events printed since the last step count too.
    loop {
        let line = node.expect(Duration::from_secs(20), |_| true);
        if line.ends_with(&echo) {
            break;
        }
        if is_event(&line) {
            events.push(line);
        }
    }
    let mut got = vec![];
    loop {
        let line = node.expect(Duration::from_secs(20), |_| true);
        if line == marker {
            return got;
        }
        if line.ends_with(&format!("> echo {marker}")) {
            continue;
        }
        if is_event(&line) {
            events.push(line);
        } else {
            got.push(line);
        }
    }
}

#[test]
fn every_drill_of_the_chapter_is_run_by_a_test() {
    let titles: Vec<String> = drills().into_iter().map(|(t, _)| t).collect();
    let numbers: Vec<&str> = titles
        .iter()
        .map(|t| t.split(':').next().unwrap())
        .collect();
    assert_eq!(numbers, ["1", "2", "3", "4", "5", "6", "7"], "{titles:?}");
}

#[test]
fn drill_1_connecting_nodes() {
    run("1:");
}

#[test]
fn drill_2_spawning_on_another_node() {
    run("2:");
}

#[test]
fn drill_3_global_names() {
    run("3:");
}

#[test]
fn drill_4_process_groups() {
    run("4:");
}

#[test]
fn drill_5_monitors_and_links() {
    run("5:");
}

#[test]
fn drill_6_rpc() {
    run("6:");
}

#[test]
fn drill_7_gotchas() {
    run("7:");
}

#[test]
fn identities_bind_on_first_sight_and_are_reused() {
    let mut b = Bindings::default();
    assert!(b.matches("<silver@127.0.0.1.1.6>", "<silver@127.0.0.1.99.12>"));
    assert_eq!(
        b.apply("send <silver@127.0.0.1.1.6> stop"),
        "send <silver@127.0.0.1.99.12> stop"
    );
    assert!(b.matches(
        "{'DOWN', #Ref<gold@127.0.0.1.2.3>, process, <silver@127.0.0.1.1.6>, normal}",
        "{'DOWN', #Ref<gold@127.0.0.1.5.5>, process, <silver@127.0.0.1.99.12>, normal}"
    ));
    assert!(!b.matches("<silver@127.0.0.1.1.6>", "<silver@127.0.0.1.99.13>"));
    assert!(b.matches("{badrpc, …}", "{badrpc, nodedown}"));
    assert!(!b.matches("true", "false"));
}

/// `--script FILE` runs the file's commands first, each shown after the
/// prompt; a `quit` there stops the node, which exits 0 without reading
/// stdin; comment lines and blank lines are skipped, and a `#` inside a
/// command (a reference) belongs to the command.
#[test]
fn a_script_runs_before_the_prompt_and_can_quit() {
    let dir = node_dir();
    let script = dir.path().join("setup.txt");
    std::fs::write(
        &script,
        "# a comment\nnode\n\necho {hello, 42}\ndemonitor #Ref<scripted@127.0.0.1.1.1>\nquit\nnode\n",
    )
    .unwrap();
    let (_rt, _pm, addr) = mapper();
    let out = Command::new(BIN)
        .args(["--name", "scripted@127.0.0.1", "--cookie", "drills"])
        .args(["--portmap", &addr, "--script"])
        .arg(&script)
        .env("NETSPLIT_WATCH_PID", std::process::id().to_string())
        .stdin(std::process::Stdio::piped())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{:?}\n{stdout}", out.status);
    let lines: Vec<&str> = stdout.lines().skip(1).collect();
    assert_eq!(
        lines,
        [
            "scripted@127.0.0.1> # a comment",
            "scripted@127.0.0.1> node",
            "scripted@127.0.0.1",
            "scripted@127.0.0.1> ",
            "scripted@127.0.0.1> echo {hello, 42}",
            "{hello, 42}",
            "scripted@127.0.0.1> demonitor #Ref<scripted@127.0.0.1.1.1>",
            "false",
            "scripted@127.0.0.1> quit",
        ]
    );
}

#[test]
fn a_missing_script_is_a_clear_error_before_the_node_starts() {
    let out = Command::new(BIN)
        .args(["--name", "noscript@127.0.0.1", "--cookie", "drills"])
        .args(["--script", "/nonexistent/setup.txt"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("cannot read the script /nonexistent/setup.txt"),
        "{stderr}"
    );
}
