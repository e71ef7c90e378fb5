//! Turns the nodes' message traces into the messages of a stage's timeline.
//!
//! Each node started with tracing on writes one JSON object per frame it
//! sends or receives (see the runtime's `trace` module):
//! `{"t_us":…,"dir":"send"|"recv","from_node":…,"to_node":…,"kind":…,"type":…,"bytes":…}`,
//! with `t_us` in microseconds since the UNIX epoch. All nodes of a run share
//! one machine, hence one clock, so a sender's and a receiver's times compare.
//!
//! A frame appears twice when both ends trace it: once as a send in the
//! sender's file, once as a receive in the receiver's. The two are paired by
//! what both lines know, (from node, to node, kind, type, bytes), in FIFO
//! order: node connections are TCP, which delivers in order. Frames a fault
//! swallowed keep no receive time. When two frames with the same key are
//! in flight and the earlier one is lost, the pairing cannot tell them
//! apart; the pairs shift by one, which looks the same on a timeline.

use super::model::{Mark, TimelineMessage};
use serde::Deserialize;
use std::collections::{HashMap, VecDeque};
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

/// At most this many messages are kept per stage: beyond it an HTML page
/// gets too heavy to open, and the start of a stage is what explains it.
pub const MAX_MESSAGES: usize = 20_000;

/// A receive may be traced this long before its send: the sender writes its
/// trace line just after queueing the frame, and a fast receiver can record
/// the receive first.
const CLOCK_SLACK_US: u64 = 10_000;

/// The messages of one stage, read from its nodes' traces.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StageTraces {
    /// Messages sorted by send time, at most the cap given to
    /// [`read_traces_capped`] ([`MAX_MESSAGES`] for [`read_traces`]).
    pub messages: Vec<TimelineMessage>,
    /// Messages left out because of the cap (the latest ones).
    pub dropped: usize,
    /// Send time of the first message left out, µs since the stage start.
    pub dropped_from_us: Option<u64>,
    /// Trace lines that could not be read (not JSON, missing fields).
    pub bad_lines: usize,
}

impl StageTraces {
    /// A timeline mark saying where messages stop being shown, if any were
    /// dropped, so the HTML does not suggest the nodes fell silent.
    pub fn cap_mark(&self) -> Option<Mark> {
        let at_us = self.dropped_from_us?;
        Some(Mark {
            at_us,
            label: format!(
                "{} later messages not shown (limit {})",
                self.dropped,
                self.messages.len()
            ),
            lane: None,
        })
    }
}

/// One line of a trace file; fields the timeline does not draw are ignored.
#[derive(Deserialize)]
struct Line {
    t_us: u64,
    dir: String,
    from_node: String,
    to_node: String,
    kind: String,
    #[serde(rename = "type", default)]
    ty: Option<String>,
    #[serde(default)]
    bytes: u64,
}

/// What pairs a send with its receive.
#[derive(Hash, PartialEq, Eq, Clone)]
struct Key {
    from: String,
    to: String,
    kind: String,
    ty: Option<String>,
    bytes: u64,
}

/// Reads the traces of one stage, capped at [`MAX_MESSAGES`].
///
/// `traces` lists each node's name and its trace file; `stage_start` is the
/// instant timeline times count from (earlier events clamp to 0). Missing
/// files and unreadable lines are skipped: a node that crashed mid-line or
/// never traced must not cost the rest of the picture.
pub fn read_traces(traces: &[(String, PathBuf)], stage_start: SystemTime) -> StageTraces {
    read_traces_capped(traces, stage_start, MAX_MESSAGES)
}

/// [`read_traces`] with an explicit cap on the number of messages kept.
pub fn read_traces_capped(
    traces: &[(String, PathBuf)],
    stage_start: SystemTime,
    limit: usize,
) -> StageTraces {
    let start_us = stage_start
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
        .unwrap_or(0);
    let labels: Vec<&str> = traces.iter().map(|(n, _)| n.as_str()).collect();
    let mut bad_lines = 0;
    let mut sends = Vec::new();
    let mut recvs = Vec::new();
    for (_, path) in traces {
        let Ok(file) = std::fs::File::open(path) else {
            continue;
        };
        let mut reader = BufReader::new(file);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match reader.read_until(b'\n', &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
            let text = buf.trim_ascii();
            if text.is_empty() {
                continue;
            }
            let Ok(line) = serde_json::from_slice::<Line>(text) else {
                bad_lines += 1;
                continue;
            };
            let from = canonical(&line.from_node, &labels);
            let to = canonical(&line.to_node, &labels);
            if from == to || from.is_empty() || to.is_empty() {
                continue;
            }
            let key = Key {
                from,
                to,
                kind: line.kind,
                ty: line.ty,
                bytes: line.bytes,
            };
            match line.dir.as_str() {
                "send" => sends.push((line.t_us, key)),
                "recv" => recvs.push((line.t_us, key)),
                _ => bad_lines += 1,
            }
        }
    }
    // Stable: lines of one file keep their order when times tie.
    sends.sort_by_key(|(t, _)| *t);
    recvs.sort_by_key(|(t, _)| *t);

    let mut received: Vec<Option<u64>> = vec![None; sends.len()];
    let mut waiting: HashMap<&Key, VecDeque<usize>> = HashMap::new();
    for (i, (_, key)) in sends.iter().enumerate() {
        waiting.entry(key).or_default().push_back(i);
    }
    let mut unsent = Vec::new();
    for (t, key) in &recvs {
        let paired = waiting.get_mut(key).and_then(|q| {
            let i = *q.front()?;
            (sends[i].0 <= t.saturating_add(CLOCK_SLACK_US)).then(|| q.pop_front())?
        });
        match paired {
            Some(i) => received[i] = Some(*t),
            // The sender did not trace this frame (or the pairing ran out):
            // still show it, as sent when it arrived.
            None => unsent.push((*t, key)),
        }
    }

    let rel = |t: u64| t.saturating_sub(start_us);
    let message = |sent: u64, recv: Option<u64>, key: &Key| TimelineMessage {
        sent_us: rel(sent),
        received_us: recv.map(rel),
        from: key.from.clone(),
        to: key.to.clone(),
        kind: key.kind.clone(),
        type_name: key.ty.clone(),
        bytes: key.bytes,
    };
    let mut all: Vec<(u64, Option<u64>, &Key)> = sends
        .iter()
        .zip(&received)
        .map(|((t, k), r)| (*t, *r, k))
        .chain(unsent.into_iter().map(|(t, k)| (t, Some(t), k)))
        .collect();
    all.sort_by_key(|(t, _, _)| *t);
    let dropped = all.len().saturating_sub(limit);
    let dropped_from_us = all.get(limit).map(|(t, _, _)| rel(*t));
    all.truncate(limit);
    StageTraces {
        messages: all.into_iter().map(|(t, r, k)| message(t, r, k)).collect(),
        dropped,
        dropped_from_us,
        bad_lines,
    }
}

/// The name a trace uses for a node, as the caller names it: traces carry full
/// names (`n1@127.0.0.1`), and a caller may label lanes with the short `n1`.
fn canonical(name: &str, labels: &[&str]) -> String {
    if labels.contains(&name) {
        return name.to_string();
    }
    let short = |s: &str| s.split('@').next().unwrap_or(s).to_string();
    let mine = short(name);
    let mut matches = labels.iter().filter(|l| short(l) == mine);
    match (matches.next(), matches.next()) {
        (Some(only), None) => (*only).to_string(),
        _ => name.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::time::Duration;

    const START: u64 = 1_700_000_000_000_000;

    fn start() -> SystemTime {
        UNIX_EPOCH + Duration::from_micros(START)
    }

    fn line(
        t: u64,
        dir: &str,
        from: &str,
        to: &str,
        kind: &str,
        ty: Option<&str>,
        bytes: u64,
    ) -> String {
        serde_json::json!({
            "t_us": START + t, "dir": dir, "from_node": from, "to_node": to,
            "kind": kind, "from": null, "to": "<0.1.0>", "type": ty, "bytes": bytes,
        })
        .to_string()
    }

    fn file(dir: &tempfile::TempDir, name: &str, lines: &[String]) -> PathBuf {
        let path = dir.path().join(name);
        let mut f = std::fs::File::create(&path).expect("create");
        for l in lines {
            writeln!(f, "{l}").expect("write");
        }
        path
    }

    const A: &str = "a@127.0.0.1";
    const B: &str = "b@127.0.0.1";

    #[test]
    fn pairs_sends_with_receives_in_fifo_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = file(
            &dir,
            "a.jsonl",
            &[
                line(100, "send", A, B, "cast", Some("P"), 10),
                line(200, "send", A, B, "cast", Some("P"), 10),
                line(250, "send", A, B, "call", Some("Q"), 7),
                line(900, "recv", B, A, "reply", Some("R"), 3),
            ],
        );
        let b = file(
            &dir,
            "b.jsonl",
            &[
                line(150, "recv", A, B, "cast", Some("P"), 10),
                line(260, "recv", A, B, "cast", Some("P"), 10),
                line(300, "recv", A, B, "call", Some("Q"), 7),
                line(800, "send", B, A, "reply", Some("R"), 3),
            ],
        );
        let got = read_traces(&[(A.into(), a), (B.into(), b)], start());
        let view: Vec<_> = got
            .messages
            .iter()
            .map(|m| {
                (
                    m.sent_us,
                    m.received_us,
                    m.from.as_str(),
                    m.to.as_str(),
                    m.kind.as_str(),
                )
            })
            .collect();
        assert_eq!(
            view,
            [
                (100, Some(150), A, B, "cast"),
                (200, Some(260), A, B, "cast"),
                (250, Some(300), A, B, "call"),
                (800, Some(900), B, A, "reply"),
            ]
        );
        assert_eq!(got.messages[0].type_name.as_deref(), Some("P"));
        assert_eq!(got.messages[0].bytes, 10);
        assert_eq!((got.dropped, got.bad_lines), (0, 0));
    }

    #[test]
    fn a_lost_frame_keeps_no_receive_time_and_keys_must_match() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = file(
            &dir,
            "a.jsonl",
            &[
                line(100, "send", A, B, "cast", Some("P"), 10),
                line(120, "send", A, B, "cast", Some("P"), 11),
            ],
        );
        // Only the 11-byte frame arrived.
        let b = file(
            &dir,
            "b.jsonl",
            &[line(130, "recv", A, B, "cast", Some("P"), 11)],
        );
        let got = read_traces(&[(A.into(), a), (B.into(), b)], start());
        assert_eq!(got.messages.len(), 2);
        assert_eq!(
            (got.messages[0].bytes, got.messages[0].received_us),
            (10, None)
        );
        assert_eq!(
            (got.messages[1].bytes, got.messages[1].received_us),
            (11, Some(130))
        );
    }

    #[test]
    fn receiver_only_traces_still_show_messages() {
        let dir = tempfile::tempdir().expect("tempdir");
        let b = file(
            &dir,
            "b.jsonl",
            &[line(500, "recv", A, B, "send", Some("P"), 4)],
        );
        let got = read_traces(&[(B.into(), b)], start());
        assert_eq!(got.messages.len(), 1);
        let m = &got.messages[0];
        assert_eq!((m.sent_us, m.received_us), (500, Some(500)));
        assert_eq!((m.from.as_str(), m.to.as_str()), (A, B));
    }

    #[test]
    fn a_receive_never_pairs_with_a_later_send() {
        let dir = tempfile::tempdir().expect("tempdir");
        // The sender's trace started late: its only send is long after the receive.
        let a = file(
            &dir,
            "a.jsonl",
            &[line(1_000_000, "send", A, B, "cast", None, 4)],
        );
        let b = file(&dir, "b.jsonl", &[line(10, "recv", A, B, "cast", None, 4)]);
        let got = read_traces(&[(A.into(), a), (B.into(), b)], start());
        let view: Vec<_> = got
            .messages
            .iter()
            .map(|m| (m.sent_us, m.received_us))
            .collect();
        assert_eq!(view, [(10, Some(10)), (1_000_000, None)]);
    }

    #[test]
    fn tolerates_garbage_lines_and_missing_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut lines = vec![
            "not json".to_string(),
            "{\"t_us\": 5}".to_string(),
            String::new(),
            line(100, "send", A, B, "cast", None, 1),
        ];
        lines.push(line(110, "sideways", A, B, "cast", None, 1));
        let a = file(&dir, "a.jsonl", &lines);
        // A line cut short by a SIGKILL, and bytes that are not UTF-8.
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&a)
            .expect("open");
        f.write_all(b"\xff\xfe\n{\"t_us\":12,\"dir\":\"se")
            .expect("write");
        drop(f);
        let missing = dir.path().join("never-written.jsonl");
        let got = read_traces(&[(A.into(), a), (B.into(), missing)], start());
        assert_eq!(got.messages.len(), 1);
        assert_eq!(got.messages[0].sent_us, 100);
        assert_eq!(got.bad_lines, 5);
    }

    #[test]
    fn times_are_relative_to_the_stage_start_and_saturate() {
        let dir = tempfile::tempdir().expect("tempdir");
        let early = serde_json::json!({
            "t_us": START - 5_000, "dir": "send", "from_node": A, "to_node": B,
            "kind": "cast", "type": null, "bytes": 1,
        })
        .to_string();
        let a = file(
            &dir,
            "a.jsonl",
            &[early, line(2_500_000, "send", A, B, "exit", None, 2)],
        );
        let got = read_traces(&[(A.into(), a)], start());
        let sent: Vec<u64> = got.messages.iter().map(|m| m.sent_us).collect();
        assert_eq!(sent, [0, 2_500_000]);
    }

    #[test]
    fn full_names_map_to_the_callers_short_labels() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = file(&dir, "a.jsonl", &[line(1, "send", A, B, "cast", None, 1)]);
        let b = file(&dir, "b.jsonl", &[line(2, "recv", A, B, "cast", None, 1)]);
        let got = read_traces(&[("a".into(), a), ("b".into(), b)], start());
        assert_eq!(got.messages.len(), 1);
        let m = &got.messages[0];
        assert_eq!(
            (m.from.as_str(), m.to.as_str(), m.received_us),
            ("a", "b", Some(2))
        );
    }

    #[test]
    fn the_cap_keeps_the_earliest_and_counts_the_rest() {
        let dir = tempfile::tempdir().expect("tempdir");
        let lines: Vec<String> = (0..10)
            .rev()
            .map(|i| line(i * 100, "send", A, B, "cast", None, 1))
            .collect();
        let a = file(&dir, "a.jsonl", &lines);
        let got = read_traces_capped(&[(A.into(), a)], start(), 4);
        let sent: Vec<u64> = got.messages.iter().map(|m| m.sent_us).collect();
        assert_eq!(sent, [0, 100, 200, 300]);
        assert_eq!(got.dropped, 6);
        assert_eq!(got.dropped_from_us, Some(400));
        let mark = got.cap_mark().expect("a mark when messages were dropped");
        assert_eq!(mark.at_us, 400);
        assert!(mark.label.contains("6 later messages"), "{}", mark.label);
    }

    #[test]
    fn frames_to_self_are_not_messages_between_nodes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = file(&dir, "a.jsonl", &[line(1, "send", A, A, "cast", None, 1)]);
        assert!(read_traces(&[(A.into(), a)], start()).messages.is_empty());
    }
}
