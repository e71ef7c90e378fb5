//! `netsplit-node`: a bare node with a prompt, the kit's `iex --name`.
//!
//! Every drill of the course is done by hand with it: connect nodes, spawn a
//! function on another node and get its reply, register names with :global,
//! join :pg groups, monitor and link across nodes, rpc with every badrpc,
//! cookies. `help` lists the commands; the book's Drills chapter walks
//! through them.
//!
//! ```text
//! $ netsplit-node --name gold@127.0.0.1 --cookie secret
//! gold@127.0.0.1> connect silver@127.0.0.1
//! true
//! gold@127.0.0.1> nodes
//! [silver@127.0.0.1]
//! ```
//!
//! On a terminal, lines are edited with history. Without one (stdin a pipe
//! or a file), or with `--script FILE`, each command is printed after the
//! prompt before its output, so a run reads like a terminal session. Events
//! (`nodeup NODE`, `nodedown NODE REASON`) are printed as they happen.

mod commands;
mod library;
mod mailbox;
mod out;
mod term;

use clap::Parser;
use commands::{Flow, Shell};
use mailbox::Mailbox;
use netsplit::gen_server::{self, CallResponse, Caller, GenServer};
use netsplit::{Ctx, NodeArgs};
use out::Out;
use std::io::IsTerminal;
use std::path::PathBuf;
use tokio::sync::mpsc;

#[derive(Parser)]
#[command(
    version,
    about = "Start a Netsplit node and drive it from a prompt (type help)"
)]
struct Cli {
    #[command(flatten)]
    node: NodeArgs,
    /// Run the commands of FILE first (one per line; a line starting with # is a comment),
    /// then read more from stdin.
    #[arg(long, value_name = "FILE")]
    script: Option<PathBuf>,
}

/// The server `ping` calls.
struct Echo;
impl GenServer for Echo {
    type Call = String;
    type Reply = String;
    type Cast = ();
    type Info = ();
    async fn handle_call(&mut self, s: String, _: Caller<String>, _: &Ctx) -> CallResponse<String> {
        CallResponse::Reply(s)
    }
}

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    let script = match &cli.script {
        Some(path) => match std::fs::read_to_string(path) {
            Ok(text) => text.lines().map(str::to_owned).collect(),
            Err(e) => {
                eprintln!(
                    "netsplit-node: cannot read the script {}: {e}",
                    path.display()
                );
                std::process::exit(2);
            }
        },
        None => vec![],
    };
    let node = cli.node.start_or_exit().await;
    if let Err(e) = gen_server::start(&node, Echo, Some("echo")).await {
        eprintln!("netsplit-node: cannot start the echo server: {e}");
        std::process::exit(1);
    }
    let out = Out::default();
    library::register(&node, &out);
    let mailbox = Mailbox::start(&node, out.clone());
    println!(
        "ready {} {}",
        node.name(),
        node.listen_addr().map(|a| a.port()).unwrap_or(0)
    );
    node.signal_ready();
    let shell = Shell {
        node: node.clone(),
        mailbox,
        out: out.clone(),
    };
    let prompt = format!("{}> ", node.name());
    let mut quit = false;
    for line in &script {
        out.line(format!("{prompt}{line}"));
        if let Flow::Quit = run(&shell, line).await {
            quit = true;
            break;
        }
    }
    if !quit {
        let mut input = input(&prompt, &out);
        loop {
            let line = tokio::select! {
                line = input.recv() => line,
                // Without a terminal, Ctrl-C reaches the process as SIGINT.
                _ = tokio::signal::ctrl_c() => None,
            };
            let Some((line, echo)) = line else { break };
            if echo {
                out.line(format!("{prompt}{line}"));
            }
            if let Flow::Quit = run(&shell, &line).await {
                break;
            }
        }
    }
    node.stop().await;
}

/// Runs a line; one that starts with `#` is a comment (a `#` further on
/// belongs to the command: `demonitor #Ref<…>`).
async fn run(shell: &Shell, line: &str) -> Flow {
    if line.trim_start().starts_with('#') {
        return Flow::Continue;
    }
    shell.run(line).await
}

/// Lines typed at the prompt (rustyline, on a terminal) or read from a
/// pipe, with whether to print them after the prompt (a pipe's: nobody saw
/// them typed); `None` at the end.
fn input(prompt: &str, out: &Out) -> mpsc::Receiver<(String, bool)> {
    let (tx, rx) = mpsc::channel(16);
    if std::io::stdin().is_terminal() && std::io::stdout().is_terminal() {
        match rustyline::DefaultEditor::new() {
            Ok(mut editor) => {
                if let Ok(printer) = editor.create_external_printer() {
                    out.use_terminal(Box::new(printer));
                }
                let prompt = prompt.to_string();
                std::thread::spawn(move || {
                    // Ctrl-D, Ctrl-C or a terminal gone end the loop.
                    while let Ok(line) = editor.readline(&prompt) {
                        if !line.trim().is_empty() {
                            let _ = editor.add_history_entry(line.as_str());
                        }
                        if tx.blocking_send((line, false)).is_err() {
                            return;
                        }
                    }
                });
                return rx;
            }
            Err(e) => eprintln!("netsplit-node: no line editing ({e}); reading plain lines"),
        }
    }
    std::thread::spawn(move || {
        for line in std::io::stdin().lines() {
            let Ok(line) = line else { break };
            if tx.blocking_send((line, true)).is_err() {
                return;
            }
        }
    });
    rx
}
