//! The commands of the prompt: each one the Rust side of an Erlang call the
//! seed's drills type in iex (`Node.connect/1`, `:global.register_name/2`,
//! `:rpc.call/4`, ...), printing what iex would print.

use crate::library::{self, Kind};
use crate::mailbox::Mailbox;
use crate::out::Out;
use crate::term::{self, Term};
use netsplit::gen_server;
use netsplit::rpc::{self, BadRpc};
use netsplit::{global, pg, Dest, Node, NodeName, Pid};
use std::time::Duration;

/// Every command: its usage line and what it does (the help text).
pub const COMMANDS: &[(&str, &str)] = &[
    ("help [COMMAND]", "this list, or one command's line"),
    (
        "node [PID]",
        "this node's name (Erlang's node()), or the node PID lives on",
    ),
    (
        "nodes [this] [visible] [hidden] [connected]",
        "the connected nodes (Node.list/1); visible by default",
    ),
    (
        "connect NODE",
        "connect to NODE (Node.connect/1): true, or false with the reason on stderr",
    ),
    (
        "disconnect NODE",
        "close the connection to NODE (Node.disconnect/1)",
    ),
    (
        "monitor_node NODE [true|false]",
        "a {nodedown, NODE} message when NODE's connection is lost (once)",
    ),
    (
        "ping NODE",
        "a call to NODE's echo server: pong, or pang with the reason",
    ),
    (
        "cookie [NODE [COOKIE]]",
        "this node's cookie, the one it uses with NODE, or set that one (erlang:set_cookie/2)",
    ),
    ("self", "the shell's own pid (self())"),
    (
        "spawn NODE MOD:FUN [ARGS...]",
        "run a library function as a new process on NODE (Node.spawn/4); prints its pid",
    ),
    (
        "spawn_link NODE MOD:FUN [ARGS...]",
        "the same, linked to the shell",
    ),
    (
        "functions",
        "the library functions every netsplit-node has, for spawn and rpc",
    ),
    (
        "send DEST TERM",
        "send TERM to DEST: a pid, a local name, or {NAME, NODE}",
    ),
    (
        "flush",
        "print every message waiting for the shell, then ok (flush())",
    ),
    (
        "receive [MS]",
        "wait for the next message (5000 ms by default), or timeout",
    ),
    (
        "register NAME",
        "register the shell locally as NAME (Process.register/2)",
    ),
    (
        "whereis NAME",
        "the pid locally registered as NAME, or undefined",
    ),
    (
        "monitor PID|NAME|{NAME, NODE}",
        "monitor a process (Process.monitor/1); prints the reference",
    ),
    ("demonitor REF", "remove a monitor"),
    (
        "link PID",
        "link the shell to PID (the shell traps exits: you get {'EXIT', PID, REASON})",
    ),
    ("unlink PID", "remove the link"),
    (
        "exit PID REASON",
        "send an exit signal to PID (Process.exit/2): normal, kill, or any reason",
    ),
    (
        "global register NAME",
        "register the shell globally as NAME: yes or no",
    ),
    (
        "global whereis NAME",
        "the pid registered globally as NAME, or undefined",
    ),
    (
        "global send NAME TERM",
        "send TERM to the global NAME; prints the pid it went to",
    ),
    ("global unregister NAME", "remove the global name"),
    ("global names", "every global name"),
    ("pg join GROUP", "the shell joins GROUP (scope pg)"),
    ("pg leave GROUP", "the shell leaves GROUP"),
    ("pg members GROUP", "every member of GROUP, on every node"),
    ("pg local GROUP", "the members of GROUP on this node"),
    ("pg groups", "the groups with a member somewhere"),
    (
        "pg send GROUP TERM",
        "send TERM to every member of GROUP; prints the members it went to",
    ),
    (
        "rpc call [-t MS] NODE MOD:FUN [ARGS...]",
        "call a library function on NODE (:rpc.call/4): its value or {badrpc, WHY}",
    ),
    (
        "rpc multicall [-t MS] [[NODE, ...]] MOD:FUN [ARGS...]",
        "call it on every node, this one too (:rpc.multicall/4): {VALUES, BAD_NODES}",
    ),
    ("echo TEXT", "print TEXT (for scripts)"),
    ("sleep MS", "wait MS milliseconds (for scripts)"),
    ("quit", "stop this node (Ctrl-D and Ctrl-C too)"),
];

/// Time allowed to an rpc unless `-t` says otherwise.
const RPC_TIMEOUT: Duration = Duration::from_secs(5);

/// What the loop does after a line.
pub enum Flow {
    /// Read the next line.
    Continue,
    /// Stop the node.
    Quit,
}

/// The prompt's state: the node, the shell's process, the output.
pub struct Shell {
    pub node: Node,
    pub mailbox: Mailbox,
    pub out: Out,
}

impl Shell {
    /// Runs one line and prints what it prints.
    pub async fn run(&self, line: &str) -> Flow {
        let words: Vec<&str> = line.split_whitespace().collect();
        if words.first() == Some(&"quit") {
            return Flow::Quit;
        }
        match self.execute(line.trim(), &words).await {
            Ok(lines) => lines.iter().for_each(|l| self.out.line(l)),
            Err(e) => self.out.line(format!("error: {e}")),
        }
        Flow::Continue
    }

    async fn execute(&self, line: &str, words: &[&str]) -> Result<Vec<String>, String> {
        let one = |s: String| Ok(vec![s]);
        let me = self.mailbox.pid();
        // The text after the first `n` words, for commands that take a term.
        let after = |n: usize| rest_after(line, n);
        match words {
            [] => Ok(vec![]),
            ["help"] => Ok(help()),
            ["help", cmd @ ..] => help_for(&cmd.join(" ")),
            ["node"] => one(self.node.name().to_string()),
            ["node", pid] => {
                let pid: Pid = pid.parse()?;
                one(pid.node().to_string())
            }
            ["nodes", kinds @ ..] => one(self.nodes(kinds)?),
            ["connect", n] => one(self.node.connect(&name(n)?).await.to_string()),
            ["disconnect", n] => one(self.node.disconnect(&name(n)?).await.to_string()),
            ["monitor_node", n, flag @ ..] => {
                let n = name(n)?;
                let on = match flag {
                    [] | ["true"] => true,
                    ["false"] => false,
                    _ => return Err("monitor_node NODE takes true or false".into()),
                };
                // Erlang tries to connect first, as any message to a node does.
                if on {
                    self.node.connect(&n).await;
                }
                self.mailbox.monitor_node(n, on);
                one("true".into())
            }
            ["ping", n] => {
                let n = name(n)?;
                let r = gen_server::call::<String, String>(
                    &self.node,
                    ("echo", &n),
                    &"ping".into(),
                    Duration::from_secs(5),
                )
                .await;
                one(match r {
                    Ok(_) => "pong".into(),
                    Err(e) => format!("pang ({e})"),
                })
            }
            ["cookie"] => one(format!("{:?}", self.node.cookie())),
            ["cookie", n] => one(format!("{:?}", self.node.cookie_for(&name(n)?))),
            ["cookie", n, c] => {
                self.node.set_cookie(&name(n)?, c.trim_matches('"'));
                one("true".into())
            }
            ["self"] => one(me.to_string()),
            ["functions"] => Ok(functions()),
            ["spawn", n, f, ..] => self.spawn(n, f, &after(3), false).await,
            ["spawn_link", n, f, ..] => self.spawn(n, f, &after(3), true).await,
            ["send", ..] => {
                let mut terms = term::parse_all(&after(1), me)?;
                if terms.len() != 2 {
                    return Err(
                        "send takes a destination and one value: send <gold@127.0.0.1.1.5> hello"
                            .into(),
                    );
                }
                let msg = terms.pop().unwrap_or(Term::atom("ok"));
                let dest = dest(&terms[0])?;
                self.node.send(dest, &msg).map_err(|e| e.to_string())?;
                one(msg.to_string())
            }
            ["flush"] => {
                let mut lines = self.mailbox.flush().await;
                lines.push("ok".into());
                Ok(lines)
            }
            ["receive", ms @ ..] => {
                let timeout = match ms {
                    [] => Duration::from_secs(5),
                    [ms] => Duration::from_millis(
                        ms.parse()
                            .map_err(|_| format!("{ms:?} is not a number of milliseconds"))?,
                    ),
                    _ => return Err("receive takes at most a timeout in milliseconds".into()),
                };
                one(self
                    .mailbox
                    .receive(timeout)
                    .await
                    .unwrap_or_else(|| "timeout".into()))
            }
            ["register", n] => {
                self.node.register(n, me).map_err(|e| e.to_string())?;
                one("true".into())
            }
            ["whereis", n] => one(self
                .node
                .whereis(n)
                .map(|p| p.to_string())
                .unwrap_or("undefined".into())),
            ["monitor"] => Err("usage: monitor PID|NAME|{NAME, NODE}".into()),
            ["monitor", ..] => {
                let target = term::parse_one(&after(1), me)?;
                let dest = match &target {
                    Term::Atom(n) => Dest::Name(n.clone()),
                    other => dest(other)?,
                };
                let r = self
                    .mailbox
                    .monitor(dest)
                    .await
                    .ok_or("the shell's process is gone")?;
                one(r.to_string())
            }
            ["demonitor", r] => {
                let r = r.parse()?;
                one(self.mailbox.demonitor(r).await.to_string())
            }
            ["link", pid] => {
                self.mailbox.link(pid.parse()?);
                one("true".into())
            }
            ["unlink", pid] => {
                self.mailbox.unlink(pid.parse()?);
                one("true".into())
            }
            ["exit", _] => {
                Err("usage: exit PID REASON (normal, kill, shutdown, or any other reason)".into())
            }
            ["exit", pid, ..] => {
                let pid: Pid = pid.parse()?;
                let reason = term::parse_one(&after(2), me)?;
                self.node.exit(&pid, reason.to_reason());
                one("true".into())
            }
            ["global", "register", n] => {
                one(match global::register_name(&self.node, n, me).await {
                    global::RegisterResult::Yes => "yes",
                    global::RegisterResult::No => "no",
                }
                .into())
            }
            ["global", "whereis", n] => one(global::whereis_name(&self.node, n)
                .map(|p| p.to_string())
                .unwrap_or("undefined".into())),
            ["global", "send", n, ..] => {
                let msg = term::parse_one(&after(3), me)?;
                let pid = global::send(&self.node, n, &msg).map_err(|e| e.to_string())?;
                one(pid.to_string())
            }
            ["global", "unregister", n] => {
                global::unregister_name(&self.node, n).await;
                one("ok".into())
            }
            ["global", "names"] => one(list(global::registered_names(&self.node))),
            ["pg", "join", g] => {
                pg::join(&self.node, pg::DEFAULT_SCOPE, g, me)
                    .await
                    .map_err(|e| e.to_string())?;
                one("ok".into())
            }
            ["pg", "leave", g] => one(
                match pg::leave(&self.node, pg::DEFAULT_SCOPE, g, me).await {
                    Ok(()) => "ok".into(),
                    Err(_) => "not_joined".into(),
                },
            ),
            ["pg", "members", g] => one(list(pg::get_members(&self.node, pg::DEFAULT_SCOPE, g))),
            ["pg", "local", g] => one(list(pg::get_local_members(
                &self.node,
                pg::DEFAULT_SCOPE,
                g,
            ))),
            ["pg", "groups"] => one(list(pg::which_groups(&self.node, pg::DEFAULT_SCOPE))),
            ["pg", "send", g, ..] => {
                let msg = term::parse_one(&after(3), me)?;
                let members = pg::get_members(&self.node, pg::DEFAULT_SCOPE, g);
                for m in &members {
                    let _ = self.node.send(m, &msg);
                }
                one(list(members))
            }
            ["rpc", "call", ..] => self.rpc_call(&after(2)).await,
            ["rpc", "multicall", ..] => self.rpc_multicall(&after(2)).await,
            ["echo", ..] => one(after(1)),
            ["sleep", ms] => {
                let ms: u64 = ms
                    .parse()
                    .map_err(|_| format!("{ms:?} is not a number of milliseconds"))?;
                tokio::time::sleep(Duration::from_millis(ms)).await;
                one("ok".into())
            }
            [cmd, ..] => match COMMANDS
                .iter()
                .find(|(usage, _)| usage.split(' ').next() == Some(cmd))
            {
                Some((usage, _)) => Err(format!("usage: {usage}")),
                None => Err(format!("unknown command {cmd:?} (help lists them)")),
            },
        }
    }

    fn nodes(&self, kinds: &[&str]) -> Result<String, String> {
        let kinds = if kinds.is_empty() {
            &["visible"][..]
        } else {
            kinds
        };
        // In the order of the kinds asked, as Node.list/1; each kind sorted.
        let mut names: Vec<NodeName> = vec![];
        for k in kinds {
            let mut these = match *k {
                "this" => vec![self.node.name().clone()],
                "visible" => self.node.nodes(),
                "hidden" => self.node.nodes_hidden(),
                "connected" => self.node.nodes_connected(),
                other => {
                    return Err(format!(
                        "{other:?} is not this, visible, hidden or connected"
                    ))
                }
            };
            these.sort();
            these.retain(|n| !names.contains(n));
            names.extend(these);
        }
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        Ok(format!("[{}]", names.join(", ")))
    }

    async fn spawn(&self, n: &str, f: &str, args: &str, link: bool) -> Result<Vec<String>, String> {
        let n = name(n)?;
        let (m, fun) = mod_fun(f)?;
        let args = term::parse_all(args, self.mailbox.pid())?;
        let linked_to = link.then(|| self.mailbox.pid().clone());
        let pid = rpc::spawn_opts(&self.node, &n, m, fun, &args, linked_to)
            .await
            .map_err(|e| badrpc(&e).to_string())?;
        if link {
            self.mailbox.link(pid.clone());
        }
        Ok(vec![pid.to_string()])
    }

    async fn rpc_call(&self, rest: &str) -> Result<Vec<String>, String> {
        let (timeout, rest) = timeout_flag(rest)?;
        let mut words = rest.splitn(3, char::is_whitespace);
        let (Some(n), Some(f)) = (words.next(), words.next()) else {
            return Err("usage: rpc call [-t MS] NODE MOD:FUN [ARGS...]".into());
        };
        let n = name(n)?;
        let (m, fun) = mod_fun(f)?;
        let args = term::parse_all(words.next().unwrap_or(""), self.mailbox.pid())?;
        let r = rpc::call::<Vec<Term>, Term>(&self.node, &n, m, fun, &args, timeout).await;
        Ok(vec![r.unwrap_or_else(|e| badrpc(&e)).to_string()])
    }

    async fn rpc_multicall(&self, rest: &str) -> Result<Vec<String>, String> {
        let (timeout, rest) = timeout_flag(rest)?;
        let rest = rest.trim_start();
        let (nodes, rest) = if rest.starts_with('[') {
            let end = rest.find(']').ok_or("the list of nodes has no closing ]")?;
            let listed = term::parse_one(&rest[..=end], self.mailbox.pid())?;
            let Term::List(items) = listed else {
                unreachable!("a [ parses as a list")
            };
            let nodes = items
                .iter()
                .map(|t| match t {
                    Term::Atom(a) => name(a),
                    other => Err(format!("{other} is not a node name")),
                })
                .collect::<Result<Vec<_>, _>>()?;
            (nodes, &rest[end + 1..])
        } else {
            let mut all = vec![self.node.name().clone()];
            all.extend(self.node.nodes());
            (all, rest)
        };
        let mut words = rest.trim_start().splitn(2, char::is_whitespace);
        let Some(f) = words.next().filter(|f| !f.is_empty()) else {
            return Err("usage: rpc multicall [-t MS] [[NODE, ...]] MOD:FUN [ARGS...]".into());
        };
        let (m, fun) = mod_fun(f)?;
        let args = term::parse_all(words.next().unwrap_or(""), self.mailbox.pid())?;
        let r = rpc::multicall::<Vec<Term>, Term>(&self.node, &nodes, m, fun, &args, timeout).await;
        // Erlang's shape: {Results, BadNodes}, a failed function's
        // {badrpc, ...} among the results.
        let values = r
            .results
            .into_iter()
            .map(|(_, v)| v.unwrap_or_else(|e| badrpc(&e)))
            .collect();
        let bad = r
            .bad_nodes
            .iter()
            .map(|n| Term::atom(n.to_string()))
            .collect();
        Ok(vec![
            Term::tuple([Term::List(values), Term::List(bad)]).to_string()
        ])
    }
}

/// The text after the first `n` words of `line`, spacing kept.
fn rest_after(line: &str, n: usize) -> String {
    let mut rest = line.trim_start();
    for _ in 0..n {
        rest = rest.trim_start();
        let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        rest = &rest[end..];
    }
    rest.trim().to_string()
}

fn name(s: &str) -> Result<NodeName, String> {
    NodeName::new(s).map_err(|e| e.to_string())
}

fn mod_fun(f: &str) -> Result<(&str, &str), String> {
    f.split_once(':')
        .filter(|(m, fun)| !m.is_empty() && !fun.is_empty())
        .ok_or_else(|| {
            format!("{f:?} is not MODULE:FUNCTION (for example math:sum; `functions` lists them)")
        })
}

/// `-t MS` at the start of `rest`, or the default timeout.
fn timeout_flag(rest: &str) -> Result<(Duration, String), String> {
    let rest = rest.trim_start();
    match rest.strip_prefix("-t ") {
        Some(r) => {
            let r = r.trim_start();
            let end = r.find(char::is_whitespace).unwrap_or(r.len());
            let ms: u64 = r[..end]
                .parse()
                .map_err(|_| format!("-t takes milliseconds, not {:?}", &r[..end]))?;
            Ok((Duration::from_millis(ms), r[end..].trim_start().to_string()))
        }
        None => Ok((RPC_TIMEOUT, rest.to_string())),
    }
}

/// Where `send` delivers: a pid, a local name, or `{Name, Node}`.
fn dest(t: &Term) -> Result<Dest, String> {
    match t {
        Term::Pid(p) => Ok(Dest::Pid(p.clone())),
        Term::Atom(n) => Ok(Dest::Name(n.clone())),
        Term::Tuple(items) => match items.as_slice() {
            [Term::Atom(n), Term::Atom(node)] => Ok(Dest::Remote(n.clone(), name(node)?)),
            _ => Err(format!(
                "{t} is not a destination (a pid, a name, or {{NAME, NODE}})"
            )),
        },
        other => Err(format!(
            "{other} is not a destination (a pid, a name, or {{NAME, NODE}})"
        )),
    }
}

/// A failed rpc as Erlang returns it: `{badrpc, Reason}`.
fn badrpc(e: &BadRpc) -> Term {
    let why = match e {
        BadRpc::NodeDown(_) => Term::atom("nodedown"),
        BadRpc::Timeout => Term::atom("timeout"),
        BadRpc::Undef(m, f) => Term::tuple([
            Term::atom("EXIT"),
            Term::tuple([Term::atom("undef"), Term::atom(format!("{m}:{f}"))]),
        ]),
        BadRpc::Exit(r) => Term::tuple([Term::atom("EXIT"), Term::reason(r)]),
    };
    Term::tuple([Term::atom("badrpc"), why])
}

/// A list as the shell prints it, sorted so that two runs (and two nodes)
/// print the same list the same way.
fn list<T: std::fmt::Display>(items: impl IntoIterator<Item = T>) -> String {
    let mut items: Vec<String> = items.into_iter().map(|i| i.to_string()).collect();
    items.sort();
    format!("[{}]", items.join(", "))
}

fn help() -> Vec<String> {
    let width = COMMANDS.iter().map(|(u, _)| u.len()).max().unwrap_or(0);
    let mut lines: Vec<String> = COMMANDS
        .iter()
        .map(|(u, d)| format!("{u:width$}  {d}"))
        .collect();
    lines.push(String::new());
    lines.push("Values: atoms (hello), numbers (42), \"strings\", pids (<gold@127.0.0.1.1234.5>), {tuples}, [lists], self.".into());
    lines.push("The drills chapter of the book walks through them.".into());
    lines
}

fn help_for(cmd: &str) -> Result<Vec<String>, String> {
    let found: Vec<String> = COMMANDS
        .iter()
        .filter(|(u, _)| u.starts_with(cmd))
        .map(|(u, d)| format!("{u}  {d}"))
        .collect();
    if found.is_empty() {
        Err(format!("no command {cmd:?} (help lists them)"))
    } else {
        Ok(found)
    }
}

fn functions() -> Vec<String> {
    let mut lines = vec![];
    for (kind, title) in [
        (Kind::Call, "with rpc call / rpc multicall:"),
        (Kind::Spawn, "with spawn:"),
    ] {
        lines.push(title.to_string());
        for f in library::FUNCTIONS.iter().filter(|f| f.kind == kind) {
            let usage = format!("{} {}", f.name, f.args);
            lines.push(format!("  {usage:28}{}", f.doc));
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rest_of_a_line_keeps_its_spacing() {
        assert_eq!(
            rest_after("send  <a@b.1.2>  {x, y}", 1),
            "<a@b.1.2>  {x, y}"
        );
        assert_eq!(rest_after("global send counter increment", 3), "increment");
        assert_eq!(rest_after("flush", 1), "");
    }

    #[test]
    fn timeouts_and_function_names_are_read() {
        let (t, rest) = timeout_flag("-t 100 silver@h timer:sleep 500").unwrap();
        assert_eq!(
            (t, rest.trim()),
            (Duration::from_millis(100), "silver@h timer:sleep 500")
        );
        assert_eq!(timeout_flag("n@h m:f").unwrap().0, RPC_TIMEOUT);
        assert!(timeout_flag("-t x n@h m:f").is_err());
        assert_eq!(mod_fun("math:sum"), Ok(("math", "sum")));
        assert!(mod_fun("sum").unwrap_err().contains("MODULE:FUNCTION"));
    }

    #[test]
    fn badrpc_looks_like_erlangs() {
        assert_eq!(badrpc(&BadRpc::Timeout).to_string(), "{badrpc, timeout}");
        assert_eq!(
            badrpc(&BadRpc::Undef("nosuch".into(), "fun".into())).to_string(),
            "{badrpc, {'EXIT', {undef, 'nosuch:fun'}}}"
        );
    }

    #[test]
    fn every_command_has_help() {
        for (usage, doc) in COMMANDS {
            assert!(!doc.is_empty(), "{usage}");
            assert!(help_for(usage.split(' ').next().unwrap()).is_ok());
        }
    }
}
