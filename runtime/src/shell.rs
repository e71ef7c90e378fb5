//! Commands typed on stdin, for the small shells of the course's node binaries.

use tokio::io::{AsyncBufReadExt, BufReader, Lines, Stdin};

/// Lines read from stdin, one command each.
pub struct Commands {
    lines: Lines<BufReader<Stdin>>,
}

impl Commands {
    /// Commands from this process's stdin.
    pub fn stdin() -> Commands {
        Commands {
            lines: BufReader::new(tokio::io::stdin()).lines(),
        }
    }

    /// The next line, or `None` once the node should stop: on Ctrl-C (or
    /// SIGINT), or when stdin ends — which, without a terminal (as under the
    /// grader), is at once — after the next Ctrl-C, so the node keeps
    /// serving until it is stopped.
    pub async fn next(&mut self) -> Option<String> {
        let line = tokio::select! {
            line = self.lines.next_line() => line,
            _ = tokio::signal::ctrl_c() => return None,
        };
        match line {
            Ok(Some(line)) => Some(line),
            _ => {
                let _ = tokio::signal::ctrl_c().await;
                None
            }
        }
    }
}
