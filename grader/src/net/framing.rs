//! Counting messages in a byte stream the fabric forwards, whatever the
//! chunk boundaries.
//!
//! Node links carry the runtime's frames (a 4-byte big-endian length, then
//! the payload); links to a Redis store carry RESP. Both counters are small
//! state machines fed the bytes as they pass: no length, however absurd,
//! allocates or fails anything, so a node sending garbage only skews its own
//! counts.

/// How the messages of a link are delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Framing {
    /// The runtime's frames: node to node.
    #[default]
    LengthPrefixed,
    /// Redis's protocol (RESP2 and RESP3): node to store. A request is one
    /// command, a reply one top-level value.
    Resp,
}

/// A message counter for one direction of one connection.
#[derive(Debug, Clone)]
pub enum Counter {
    /// See [`FrameCounter`].
    Frames(FrameCounter),
    /// See [`RespCounter`].
    Resp(RespCounter),
}

impl Counter {
    /// A counter at the start of a stream of this framing.
    pub fn new(framing: Framing) -> Counter {
        match framing {
            Framing::LengthPrefixed => Counter::Frames(FrameCounter::new()),
            Framing::Resp => Counter::Resp(RespCounter::new()),
        }
    }

    /// Consumes the next bytes; returns how many messages they completed.
    pub fn feed(&mut self, data: &[u8]) -> u64 {
        match self {
            Counter::Frames(c) => c.feed(data),
            Counter::Resp(c) => c.feed(data),
        }
    }
}

/// Counts complete frames (4-byte big-endian length, then payload) in a byte
/// stream fed in arbitrary chunks.
#[derive(Debug, Default, Clone)]
pub struct FrameCounter {
    header: [u8; 4],
    header_len: usize,
    remaining: u64,
}

impl FrameCounter {
    /// A counter at the start of a stream.
    pub fn new() -> FrameCounter {
        FrameCounter::default()
    }

    /// Consumes the next bytes of the stream; returns how many frames they
    /// completed. Any length is accepted; nothing is allocated.
    pub fn feed(&mut self, mut data: &[u8]) -> u64 {
        let mut frames = 0;
        while !data.is_empty() {
            if self.remaining > 0 {
                let take = self.remaining.min(data.len() as u64);
                self.remaining -= take;
                data = &data[take as usize..];
                if self.remaining == 0 {
                    frames += 1;
                }
                continue;
            }
            let take = (4 - self.header_len).min(data.len());
            self.header[self.header_len..self.header_len + take].copy_from_slice(&data[..take]);
            self.header_len += take;
            data = &data[take..];
            if self.header_len == 4 {
                self.header_len = 0;
                self.remaining = u64::from(u32::from_be_bytes(self.header));
                if self.remaining == 0 {
                    frames += 1;
                }
            }
        }
        frames
    }
}

/// Open aggregates deeper than this are not tracked (no honest client nests
/// so deep); their elements still count, as top-level values would.
const MAX_DEPTH: usize = 64;
/// A header line longer than this is not a RESP header: it is skipped.
const MAX_HEADER: usize = 32;

/// Counts complete top-level RESP values (a command, or a reply) in a byte
/// stream fed in arbitrary chunks.
#[derive(Debug, Default, Clone)]
pub struct RespCounter {
    /// What the next bytes are.
    state: RespState,
    /// The current header line (type byte excluded), up to [`MAX_HEADER`].
    line: Vec<u8>,
    /// Elements still expected by each open aggregate, innermost last.
    open: Vec<u64>,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum RespState {
    /// At the first byte of a value.
    #[default]
    Type,
    /// In the header line of a value of this type byte, up to `\n`.
    Line(u8),
    /// In a bulk payload: this many bytes left, its `\r\n` included.
    Bulk(u64),
}

impl RespCounter {
    /// A counter at the start of a stream.
    pub fn new() -> RespCounter {
        RespCounter::default()
    }

    /// Consumes the next bytes of the stream; returns how many top-level
    /// values they completed.
    pub fn feed(&mut self, mut data: &[u8]) -> u64 {
        let mut done = 0;
        while let Some((&b, rest)) = data.split_first() {
            match self.state {
                RespState::Bulk(left) => {
                    let take = left.min(data.len() as u64);
                    data = &data[take as usize..];
                    if take == left {
                        self.state = RespState::Type;
                        done += self.complete();
                    } else {
                        self.state = RespState::Bulk(left - take);
                    }
                    continue;
                }
                RespState::Type => {
                    self.line.clear();
                    self.state = RespState::Line(b);
                }
                RespState::Line(kind) => {
                    if b == b'\n' {
                        self.state = RespState::Type;
                        done += self.header(kind);
                    } else if b != b'\r' && self.line.len() < MAX_HEADER {
                        self.line.push(b);
                    }
                }
            }
            data = rest;
        }
        done
    }

    /// A header line of type `kind` ended: opens an aggregate, starts a bulk
    /// payload, or completes a simple value.
    fn header(&mut self, kind: u8) -> u64 {
        let len = std::str::from_utf8(&self.line)
            .ok()
            .and_then(|s| s.parse::<i64>().ok());
        match (kind, len) {
            // Bulk strings, bulk errors, verbatim strings.
            (b'$' | b'!' | b'=', Some(n)) if n >= 0 => {
                self.state = RespState::Bulk(n as u64 + 2);
                0
            }
            // Arrays, sets, pushes; maps and attributes hold pairs.
            (b'*' | b'~' | b'>' | b'%' | b'|', Some(n)) if n > 0 => {
                let n = if matches!(kind, b'%' | b'|') {
                    2 * n
                } else {
                    n
                };
                if self.open.len() < MAX_DEPTH {
                    self.open.push(n as u64);
                    0
                } else {
                    self.complete()
                }
            }
            // Simple values, nulls, empty aggregates, and inline commands
            // (a line with no type byte, as `redis-cli` may send).
            _ => self.complete(),
        }
    }

    /// One value ended; returns 1 if that closed a top-level value.
    fn complete(&mut self) -> u64 {
        loop {
            let Some(left) = self.open.last_mut() else {
                return 1;
            };
            *left -= 1;
            if *left > 0 {
                return 0;
            }
            self.open.pop();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(payload: &[u8]) -> Vec<u8> {
        let mut v = (payload.len() as u32).to_be_bytes().to_vec();
        v.extend_from_slice(payload);
        v
    }

    #[test]
    fn counts_frames_across_any_split() {
        let mut stream = Vec::new();
        stream.extend(frame(b"hello"));
        stream.extend(frame(b""));
        stream.extend(frame(&[7u8; 300]));
        stream.extend(frame(b"x"));
        // Every way of cutting the stream in two, and byte by byte.
        for cut in 0..=stream.len() {
            let mut c = FrameCounter::new();
            let n = c.feed(&stream[..cut]) + c.feed(&stream[cut..]);
            assert_eq!(n, 4, "split at {cut}");
        }
        let mut c = FrameCounter::new();
        let n: u64 = stream.iter().map(|b| c.feed(std::slice::from_ref(b))).sum();
        assert_eq!(n, 4);
    }

    #[test]
    fn partial_frame_is_not_counted_and_huge_lengths_are_harmless() {
        let mut c = FrameCounter::new();
        assert_eq!(c.feed(&[0, 0, 0, 3, b'a', b'b']), 0);
        assert_eq!(c.feed(b"c"), 1);
        let mut c = FrameCounter::new();
        assert_eq!(c.feed(&[0xff, 0xff, 0xff, 0xff]), 0);
        assert_eq!(c.feed(&[0u8; 4096]), 0);
    }

    /// Feeds `stream` cut at every point, then byte by byte; each must count `want`.
    fn resp_counts(stream: &[u8], want: u64) {
        for cut in 0..=stream.len() {
            let mut c = RespCounter::new();
            let n = c.feed(&stream[..cut]) + c.feed(&stream[cut..]);
            assert_eq!(
                n,
                want,
                "split at {cut} of {:?}",
                String::from_utf8_lossy(stream)
            );
        }
        let mut c = RespCounter::new();
        let n: u64 = stream.iter().map(|b| c.feed(std::slice::from_ref(b))).sum();
        assert_eq!(n, want);
    }

    #[test]
    fn counts_redis_commands_across_any_split() {
        // SET k v, then GET k, as redis-rs writes them.
        let cmds = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n";
        resp_counts(cmds, 2);
        // A bulk payload that contains CRLF and type bytes is opaque.
        resp_counts(b"*2\r\n$3\r\nGET\r\n$6\r\n*1\r\n+x\r\n", 1);
    }

    #[test]
    fn counts_redis_replies_of_every_type() {
        let replies = b"+OK\r\n$-1\r\n:42\r\n-ERR no\r\n$5\r\nhello\r\n*0\r\n*-1\r\n\
            *2\r\n*1\r\n:1\r\n$1\r\nx\r\n%1\r\n+k\r\n+v\r\n_\r\n#t\r\n,1.5\r\n~1\r\n+a\r\n";
        // OK, nil, 42, ERR, hello, [], nil array, [[1], x], {k: v}, null,
        // true, 1.5, set{a}.
        resp_counts(replies, 13);
    }

    #[test]
    fn inline_commands_and_garbage_are_harmless() {
        resp_counts(b"PING\r\n", 1);
        let mut c = RespCounter::new();
        // A huge bulk length only swallows what follows.
        assert_eq!(c.feed(b"$99999999999\r\n"), 0);
        assert_eq!(c.feed(&[0u8; 4096]), 0);
        // Deep nesting is not tracked past the limit and allocates nothing more.
        let mut c = RespCounter::new();
        let deep = b"*1\r\n".repeat(1000);
        c.feed(&deep);
        assert!(c.open.len() <= MAX_DEPTH);
    }
}
