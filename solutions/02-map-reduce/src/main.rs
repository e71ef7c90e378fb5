//! Part 2, map-reduce: word count over a directory of text files, on one
//! machine or spread over a cluster.
//!
//! ```text
//! # one machine, no node (the provided single-node version):
//! cargo run -p map-reduce -- local --input books/ --output counts.tsv
//!
//! # a cluster: one coordinator, any number of workers (the lesson:
//! # docs/src/part-2-map-reduce.md)
//! cargo run -p map-reduce -- --name coord@127.0.0.1 --cookie mr coordinator --input books/ --workers 3
//! cargo run -p map-reduce -- --name w1@127.0.0.1 --cookie mr worker --coordinator coord@127.0.0.1
//! ```
//!
//! The node flags (`--name`, `--cookie`, ...) come before the role. `local`
//! needs none.
//!
//! This file is provided: the command line, node start-up and the shell. The
//! exercise is in `wordcount.rs` (Problem 1), `coordinator.rs` and `worker.rs`.

mod coordinator;
mod protocol;
mod wordcount;
mod worker;

use clap::{Args, Parser, Subcommand};
use contracts::map_reduce::{CoordinatorCall, CoordinatorReply, TaskState, COORDINATOR, WORKER};
use coordinator::{Config, Coordinator};
use netsplit::supervisor::{self, ChildSpec, Strategy, SupervisorSpec};
use netsplit::{gen_server, Node, NodeArgs, NodeName};
use std::path::PathBuf;
use std::time::Duration;
use worker::Worker;

#[derive(Parser)]
#[command(
    version,
    about = "Word count with map-reduce, on one machine or a cluster (part 2 of the Netsplit course)",
    // Without this, `--help` shows NodeArgs' own documentation instead.
    long_about = None,
    after_help = "Without a node: map-reduce local --input DIR [--output FILE] [--map-tasks M] [--reduce-tasks R]"
)]
struct Cli {
    #[command(flatten)]
    node: NodeArgs,
    #[command(subcommand)]
    role: Role,
}

/// `map-reduce local ...`: parsed on its own, since it needs no node name.
#[derive(Parser)]
#[command(
    name = "map-reduce local",
    version,
    about = "Word count in this process, one task after the other (no node)"
)]
struct LocalCli {
    #[command(flatten)]
    job: JobArgs,
}

#[derive(Subcommand)]
enum Role {
    /// Split the input into tasks and hand them to workers (a node).
    Coordinator(CoordinatorArgs),
    /// Run the tasks a coordinator hands out (a node).
    Worker(WorkerArgs),
    /// The whole job in this process, one task after the other (no node
    /// needed: `map-reduce local --input DIR`).
    Local(LocalArgs),
}

#[derive(Args)]
struct JobArgs {
    /// The directory of text files to count (its regular files, not its sub-directories).
    #[arg(long, value_name = "DIR")]
    input: PathBuf,
    /// Where to write the counts (word TAB count, most frequent first).
    #[arg(long, value_name = "FILE", default_value = "word-counts.tsv")]
    output: PathBuf,
    /// M: how many map tasks to split the input into.
    #[arg(long, value_name = "M", default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    map_tasks: u32,
    /// R: how many reduce tasks (partitions of the words).
    #[arg(long, value_name = "R", default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    reduce_tasks: u32,
}

#[derive(Args)]
struct CoordinatorArgs {
    #[command(flatten)]
    job: JobArgs,
    /// Give a running task to another worker too after this many milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 10_000)]
    task_timeout_ms: u64,
    /// Start the job by itself once this many workers have joined (otherwise
    /// type `start`, or let the grader start it).
    #[arg(long, value_name = "N")]
    workers: Option<usize>,
}

#[derive(Args)]
struct WorkerArgs {
    /// The coordinator's node, name@host.
    #[arg(long, value_name = "NODE")]
    coordinator: NodeName,
    /// Make every task take at least this long (a grading aid: it lets the
    /// grader kill or pause a worker in the middle of a task).
    #[arg(long, value_name = "MS", default_value_t = 0)]
    task_delay_ms: u64,
}

#[derive(Args)]
struct LocalArgs {
    #[command(flatten)]
    job: JobArgs,
}

#[tokio::main]
async fn main() {
    // `local` comes first and needs no node flags; everything else is a node.
    if std::env::args_os().nth(1).is_some_and(|a| a == "local") {
        let cli = LocalCli::parse_from(
            std::iter::once("map-reduce local".into()).chain(std::env::args_os().skip(2)),
        );
        local(&cli.job);
        return;
    }
    let cli = Cli::parse();
    let node = cli.node.start_or_exit().await;
    match cli.role {
        Role::Coordinator(args) => coordinator_node(&node, args).await,
        Role::Worker(args) => worker_node(&node, args).await,
        Role::Local(args) => local(&args.job),
    }
    node.stop().await;
}

fn local(j: &JobArgs) {
    // Like a node, a local run launched by the grader ends with the grader.
    netsplit::lifecycle::watch_parent_from_env();
    match wordcount::run_local(&j.input, &j.output, j.map_tasks, j.reduce_tasks) {
        Ok(summary) => summary.print(&format!(
            "local run, {} map and {} reduce tasks one after the other",
            j.map_tasks, j.reduce_tasks
        )),
        Err(e) => {
            eprintln!("error: {e} (input {})", j.input.display());
            std::process::exit(1);
        }
    }
}

async fn coordinator_node(node: &Node, args: CoordinatorArgs) {
    let config = Config {
        input: args.job.input,
        output: args.job.output,
        map_tasks: args.job.map_tasks,
        reduce_tasks: args.job.reduce_tasks,
        task_timeout: Duration::from_millis(args.task_timeout_ms),
        start_with: args.workers,
    };
    let tree = SupervisorSpec::new(
        Strategy::OneForOne,
        vec![ChildSpec::gen_server(
            "coordinator",
            Some(COORDINATOR),
            move || Coordinator::new(config.clone()),
        )],
    )
    // More patient than OTP's default (3 restarts in 5 s), as in part 1.
    .intensity(20, 5);
    if let Err(e) = supervisor::start(node, tree, Some("map_reduce_sup")).await {
        eprintln!("could not start the coordinator: {e}");
        std::process::exit(1);
    }
    let how = match args.workers {
        Some(n) => format!("the job starts once {n} workers have joined"),
        None => "type `start` to run the job".to_string(),
    };
    println!("ready {} — coordinator; {how}; {HELP}", node.name());
    node.signal_ready();
    shell(node, node.name().clone()).await;
}

async fn worker_node(node: &Node, args: WorkerArgs) {
    let (coordinator, delay) = (
        args.coordinator.clone(),
        Duration::from_millis(args.task_delay_ms),
    );
    let tree = SupervisorSpec::new(
        Strategy::OneForOne,
        vec![ChildSpec::gen_server("worker", Some(WORKER), move || {
            Worker::new(coordinator.clone(), delay)
        })],
    )
    .intensity(20, 5);
    if let Err(e) = supervisor::start(node, tree, Some("map_reduce_sup")).await {
        eprintln!("could not start the worker: {e}");
        std::process::exit(1);
    }
    // The worker announced itself in its init (Problem 2).
    println!("ready {} — worker; {HELP}", node.name());
    node.signal_ready();
    shell(node, args.coordinator).await;
}

const HELP: &str = "commands: start | status | nodes | disconnect NODE | help | quit";

/// Reads commands from stdin until `quit`. Without a terminal (as under the
/// grader) stdin ends at once and the node serves until it is stopped.
/// `start` and `status` go to the coordinator on node `coord`.
async fn shell(node: &Node, coord: NodeName) {
    let mut commands = netsplit::shell::Commands::stdin();
    while let Some(line) = commands.next().await {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            [] => {}
            ["quit"] => return,
            ["help"] => println!("{HELP}"),
            ["start"] => start(node, &coord).await,
            ["status"] => status(node, &coord).await,
            ["nodes"] => {
                let names: Vec<String> = node.nodes().iter().map(ToString::to_string).collect();
                println!("nodes [{}]", names.join(","));
            }
            ["disconnect", peer] => match NodeName::new(peer) {
                Ok(peer) => println!("disconnect {peer} {}", node.disconnect(&peer).await),
                Err(e) => println!("error: {e}"),
            },
            _ => println!("error: unknown command {line:?}; {HELP}"),
        }
    }
}

async fn ask(node: &Node, coord: &NodeName, req: CoordinatorCall) -> Option<CoordinatorReply> {
    match gen_server::call(node, (COORDINATOR, coord), &req, Duration::from_secs(5)).await {
        Ok(r) => Some(r),
        Err(e) => {
            println!("error: the coordinator on {coord} did not answer: {e}");
            None
        }
    }
}

async fn start(node: &Node, coord: &NodeName) {
    match ask(node, coord, CoordinatorCall::Start).await {
        Some(CoordinatorReply::Started { job }) => println!("job {job} started"),
        Some(CoordinatorReply::Busy { job }) => println!("job {job} is still running"),
        Some(CoordinatorReply::Refused { reason }) => println!("error: {reason}"),
        Some(other) => println!("unexpected reply {other:?}"),
        None => {}
    }
}

async fn status(node: &Node, coord: &NodeName) {
    let Some(CoordinatorReply::Status(s)) = ask(node, coord, CoordinatorCall::Status).await else {
        return;
    };
    println!("{} workers:", s.workers.len());
    for w in &s.workers {
        let running = w.running.map(coordinator::show).unwrap_or("-".into());
        println!("  {} running {running}", w.pid);
    }
    let Some(job) = s.job else {
        println!("no job yet");
        return;
    };
    let done = |tasks: &[contracts::map_reduce::TaskInfo]| {
        tasks
            .iter()
            .filter(|t| matches!(t.state, TaskState::Done { .. }))
            .count()
    };
    println!(
        "job {}: map {}/{} done, reduce {}/{} done; completed by {:?}",
        job.id,
        done(&job.map_tasks),
        job.map_tasks.len(),
        done(&job.reduce_tasks),
        job.reduce_tasks.len(),
        job.completed_by
    );
    if let Some(r) = job.result {
        println!(
            "finished in {} ms: {} words, {} distinct, written to {}",
            r.elapsed_ms, r.total_words, r.distinct_words, r.output
        );
    }
}
