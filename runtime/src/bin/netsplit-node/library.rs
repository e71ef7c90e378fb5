//! The functions every `netsplit-node` offers to the others: what a drill
//! spawns or calls by name.
//!
//! A closure cannot travel to another machine in Rust (nor, reliably, in
//! Erlang: the seed's "use MFA, not lambdas"), so each function is
//! registered under `module:function` on every node, and a caller sends only
//! the name and the arguments. The node that runs it needs the same code: a
//! node without a function answers `undef`.

use crate::out::Out;
use crate::term::Term;
use netsplit::{Ctx, ExitReason, Node, Pid, Signal};
use std::time::Duration;

/// A function of the library, for `functions` and the help text.
pub struct Function {
    /// `module:function`.
    pub name: &'static str,
    /// Its arguments, as typed after the name.
    pub args: &'static str,
    /// `call` (rpc) or `spawn` (a process).
    pub kind: Kind,
    /// What it does.
    pub doc: &'static str,
}

/// How a function is used.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// With `rpc call` and `rpc multicall`: returns a value.
    Call,
    /// With `spawn`: runs as a new process on that node.
    Spawn,
}

/// Every function of the library.
pub const FUNCTIONS: &[Function] = &[
    Function { name: "erlang:node", args: "", kind: Kind::Call, doc: "the name of the node it runs on" },
    Function { name: "erlang:nodes", args: "", kind: Kind::Call, doc: "the nodes that node is connected to" },
    Function { name: "erlang:whereis", args: "NAME", kind: Kind::Call, doc: "the pid registered locally as NAME there, or undefined" },
    Function { name: "erlang:schedulers_online", args: "", kind: Kind::Call, doc: "the cores that node runs processes on" },
    Function { name: "erlang:error", args: "REASON", kind: Kind::Call, doc: "fails (panics) with REASON" },
    Function { name: "math:sum", args: "FROM TO", kind: Kind::Call, doc: "FROM + … + TO" },
    Function { name: "math:factorial", args: "N", kind: Kind::Call, doc: "N! (fails above 20!)" },
    Function { name: "timer:sleep", args: "MS", kind: Kind::Call, doc: "waits MS milliseconds, then returns ok" },
    Function { name: "io:format", args: "TEXT", kind: Kind::Call, doc: "prints TEXT on the terminal of the node it runs on" },
    Function { name: "drill:hello", args: "PID", kind: Kind::Spawn, doc: "sends {hello, NODE} to PID and ends" },
    Function { name: "drill:factorial", args: "PID N", kind: Kind::Spawn, doc: "sends {result, NODE, N!} to PID and ends" },
    Function { name: "drill:sum", args: "PID FROM TO", kind: Kind::Spawn, doc: "sends {result, NODE, FROM + … + TO} to PID and ends" },
    Function { name: "drill:big", args: "PID BYTES", kind: Kind::Spawn, doc: "sends a string of BYTES bytes to PID and ends" },
    Function { name: "drill:wait", args: "", kind: Kind::Spawn, doc: "waits: stop ends it (normal), crash makes it fail, {ping, PID} answers {pong, NODE}" },
    Function { name: "drill:counter", args: "NAME", kind: Kind::Spawn, doc: "a counter registered globally as NAME: increment, {get, PID} answers {count, N}, stop, crash" },
];

/// Registers the library on `node`.
pub fn register(node: &Node, out: &Out) {
    node.rpc_register("erlang", "node", |n: Node, _: Vec<Term>| async move {
        Term::atom(n.name().to_string())
    });
    node.rpc_register("erlang", "nodes", |n: Node, _: Vec<Term>| async move {
        Term::List(
            n.nodes()
                .iter()
                .map(|m| Term::atom(m.to_string()))
                .collect(),
        )
    });
    node.rpc_register("erlang", "whereis", |n: Node, args: Vec<Term>| async move {
        match args.as_slice() {
            [Term::Atom(name)] => n
                .whereis(name)
                .map(Term::Pid)
                .unwrap_or(Term::atom("undefined")),
            _ => panic!("erlang:whereis takes a name: rpc call NODE erlang:whereis rex"),
        }
    });
    node.rpc_register(
        "erlang",
        "schedulers_online",
        |_: Node, _: Vec<Term>| async move {
            let cores = std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1);
            Term::Int(cores as i64)
        },
    );
    node.rpc_register("erlang", "error", |_: Node, args: Vec<Term>| async move {
        let why: Vec<String> = args.iter().map(Term::to_string).collect();
        panic!("{}", why.join(" "));
        #[allow(unreachable_code)]
        Term::atom("ok")
    });
    node.rpc_register("math", "sum", |_: Node, args: Vec<Term>| async move {
        match args.as_slice() {
            [Term::Int(a), Term::Int(b)] => Term::Int(sum(*a, *b)),
            _ => panic!("math:sum takes two integers: rpc call NODE math:sum 1 1000"),
        }
    });
    node.rpc_register("math", "factorial", |_: Node, args: Vec<Term>| async move {
        match args.as_slice() {
            [Term::Int(n)] => Term::Int(factorial(*n)),
            _ => panic!("math:factorial takes an integer: rpc call NODE math:factorial 10"),
        }
    });
    node.rpc_register("timer", "sleep", |_: Node, args: Vec<Term>| async move {
        match args.as_slice() {
            [Term::Int(ms)] if *ms >= 0 => {
                tokio::time::sleep(Duration::from_millis(*ms as u64)).await;
                Term::atom("ok")
            }
            _ => panic!("timer:sleep takes milliseconds: rpc call NODE timer:sleep 1000"),
        }
    });
    let printer = out.clone();
    node.rpc_register("io", "format", move |_: Node, args: Vec<Term>| {
        let printer = printer.clone();
        async move {
            let text: Vec<String> = args
                .iter()
                .map(|t| match t {
                    Term::Str(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect();
            printer.line(text.join(" "));
            Term::atom("ok")
        }
    });

    node.rpc_register_spawn("drill", "hello", |ctx: Ctx, args: Vec<Term>| async move {
        ended(hello(&ctx, &args))
    });
    node.rpc_register_spawn(
        "drill",
        "factorial",
        |ctx: Ctx, args: Vec<Term>| async move { ended(answer_factorial(&ctx, &args)) },
    );
    node.rpc_register_spawn("drill", "sum", |ctx: Ctx, args: Vec<Term>| async move {
        ended(answer_sum(&ctx, &args))
    });
    node.rpc_register_spawn("drill", "big", |ctx: Ctx, args: Vec<Term>| async move {
        ended(answer_big(&ctx, &args))
    });
    node.rpc_register_spawn("drill", "wait", |ctx: Ctx, _: Vec<Term>| async move {
        loop {
            let Some(t) = next_term(&ctx).await else {
                continue;
            };
            match t {
                Term::Atom(a) if a == "stop" => return ExitReason::Normal,
                Term::Atom(a) if a == "crash" => panic!("asked to crash"),
                Term::Tuple(ref items) if items.len() == 2 && items[0] == Term::atom("ping") => {
                    if let Term::Pid(p) = &items[1] {
                        send(&ctx, p, Term::tuple([Term::atom("pong"), here(&ctx)]));
                    }
                }
                _ => {}
            }
        }
    });
    node.rpc_register_spawn("drill", "counter", |ctx: Ctx, args: Vec<Term>| async move {
        let Some(Term::Atom(name)) = args.first() else {
            return ExitReason::error(
                "drill:counter takes a name: spawn NODE drill:counter counter",
            );
        };
        if netsplit::global::register_name(ctx.node(), name, ctx.pid()).await
            != netsplit::global::RegisterResult::Yes
        {
            return ExitReason::error(format!("the global name {name} is taken"));
        }
        let mut count = 0i64;
        loop {
            let Some(t) = next_term(&ctx).await else {
                continue;
            };
            match t {
                Term::Atom(a) if a == "increment" => count += 1,
                Term::Atom(a) if a == "stop" => return ExitReason::Normal,
                Term::Atom(a) if a == "crash" => panic!("asked to crash"),
                Term::Tuple(ref items) if items.len() == 2 && items[0] == Term::atom("get") => {
                    if let Term::Pid(p) = &items[1] {
                        send(
                            &ctx,
                            p,
                            Term::tuple([Term::atom("count"), Term::Int(count)]),
                        );
                    }
                }
                _ => {}
            }
        }
    });
}

fn hello(ctx: &Ctx, args: &[Term]) -> Result<(), ExitReason> {
    let to = reply_to(args, "drill:hello PID")?;
    send(ctx, &to, Term::tuple([Term::atom("hello"), here(ctx)]));
    Ok(())
}

fn answer_factorial(ctx: &Ctx, args: &[Term]) -> Result<(), ExitReason> {
    let to = reply_to(args, "drill:factorial PID N")?;
    let Some(Term::Int(n)) = args.get(1) else {
        return Err(ExitReason::error(
            "drill:factorial takes a pid and a number: spawn NODE drill:factorial self 10",
        ));
    };
    let result = Term::Int(factorial(*n));
    send(
        ctx,
        &to,
        Term::tuple([Term::atom("result"), here(ctx), result]),
    );
    Ok(())
}

fn answer_sum(ctx: &Ctx, args: &[Term]) -> Result<(), ExitReason> {
    let to = reply_to(args, "drill:sum PID FROM TO")?;
    let (Some(Term::Int(a)), Some(Term::Int(b))) = (args.get(1), args.get(2)) else {
        return Err(ExitReason::error(
            "drill:sum takes a pid and two numbers: spawn NODE drill:sum self 1 1000000",
        ));
    };
    let result = Term::Int(sum(*a, *b));
    send(
        ctx,
        &to,
        Term::tuple([Term::atom("result"), here(ctx), result]),
    );
    Ok(())
}

fn answer_big(ctx: &Ctx, args: &[Term]) -> Result<(), ExitReason> {
    let to = reply_to(args, "drill:big PID BYTES")?;
    let Some(Term::Int(n)) = args
        .get(1)
        .filter(|t| matches!(t, Term::Int(0..=100_000_000)))
    else {
        return Err(ExitReason::error(
            "drill:big takes a pid and a size up to 100000000: spawn NODE drill:big self 1000000",
        ));
    };
    send(ctx, &to, Term::Str("x".repeat(*n as usize)));
    Ok(())
}

/// A process's exit reason from how its body ended.
fn ended(r: Result<(), ExitReason>) -> ExitReason {
    r.err().unwrap_or(ExitReason::Normal)
}

/// The next message that is a term (other signals are ignored).
async fn next_term(ctx: &Ctx) -> Option<Term> {
    match ctx.recv().await {
        Signal::Message { payload, .. } => payload.decode::<Term>().ok(),
        _ => None,
    }
}

fn here(ctx: &Ctx) -> Term {
    Term::atom(ctx.node().name().to_string())
}

fn send(ctx: &Ctx, to: &Pid, msg: Term) {
    let _ = ctx.send(to, &msg);
}

/// The pid a drill function answers to: its first argument.
fn reply_to(args: &[Term], usage: &str) -> Result<Pid, ExitReason> {
    match args.first() {
        Some(Term::Pid(p)) => Ok(p.clone()),
        _ => Err(ExitReason::error(format!(
            "{usage}: the first argument is the pid to answer (self, in the shell)"
        ))),
    }
}

fn sum(a: i64, b: i64) -> i64 {
    // Gauss, in i128 so a large range does not overflow on the way.
    let (a, b) = (a as i128, b as i128);
    if b < a {
        return 0;
    }
    ((a + b) * (b - a + 1) / 2) as i64
}

fn factorial(n: i64) -> i64 {
    (1..=n.max(1))
        .try_fold(1i64, |acc, k| acc.checked_mul(k))
        .unwrap_or_else(|| panic!("{n}! does not fit in 64 bits"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_and_factorials() {
        assert_eq!(sum(1, 1000), 500500);
        assert_eq!(sum(1, 1_000_000), 500000500000);
        assert_eq!(sum(5, 4), 0);
        assert_eq!(factorial(10), 3628800);
        assert_eq!(factorial(0), 1);
        assert!(std::panic::catch_unwind(|| factorial(21)).is_err());
    }
}
