//! Part 3, link shortener: every node serves every link over HTTP, from its
//! own cache when it can, from the store when it must.
//!
//! The grader is the shortener's user: it creates links and follows them
//! over HTTP, straight to a node's port. Each node reaches the store through
//! its own link on the fabric, so a stage can cut the store from a node and
//! know that whatever the node still serves came from its own memory. What
//! the store holds (read directly) is the truth a stage compares against.
//! One module per stage.

mod contract;
mod latency;
mod partition;
mod read_through;
mod replication;
mod store_down;
mod warm_up;

use crate::harness::{Harness, StageError, STORE};
use crate::part::{Part, Service, StageDef};
use crate::probes::http::{Exchange, HttpProbe};
use crate::services::redis::Persistence;
use contracts::shortener::{store_key, CacheCall, CacheReply, CACHE_SERVER};
use futures::FutureExt;
use parking_lot::Mutex;
use rand::Rng;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// The part, with its seven stages.
pub fn part() -> Part {
    Part::new(3, "shortener").needs(Service::Redis).stages(vec![
        StageDef {
            name: "HTTP contract",
            points: 15,
            goal: "one node answers every request of the contract with the right status",
            hint: "Problems 1–3 make the basic path work: resolve answers from the cache, \
                   then reads through to the store; create replicates the link it stored. \
                   The statuses themselves come from the provided http.rs.",
            lesson_anchor: "the-http-contract",
            run: |h| contract::stage(h).boxed(),
        },
        StageDef {
            name: "Replication",
            points: 15,
            goal: "with the store cut off, every node still redirects every link",
            hint: "Problem 2: replicate must abcast the new link to the cache of every node, \
                   this one included (nodes_and_self), and the cache server must put what \
                   it receives in the cache; Problem 1: resolve must read the cache first.",
            lesson_anchor: "problem-2-replicate-on-create",
            run: |h| replication::stage(h).boxed(),
        },
        StageDef {
            name: "Read-through",
            points: 15,
            goal: "a node with an empty cache serves every link from the store, and caches it",
            hint: "Problem 3: on a miss, read_through asks the store; a link found there \
                   goes into the cache, so the next request needs no store.",
            lesson_anchor: "problem-3-read-through",
            run: |h| read_through::stage(h).boxed(),
        },
        StageDef {
            name: "Warm-up",
            points: 15,
            goal: "a node that joins or comes back gets every link from its peers",
            hint: "Problem 4: the cache server monitors nodes; on every NodeUp it casts \
                   SendLinksTo(this node) to the newcomer's cache, which answers with \
                   every link it holds (not only the ones it created).",
            lesson_anchor: "problem-4-warm-up",
            run: |h| warm_up::stage(h).boxed(),
        },
        StageDef {
            name: "Partition and heal",
            points: 15,
            goal: "each side serves what it can reach, never a wrong or half-made link; all after heal",
            hint: "A create stores the link first and replicates it only once the store has \
                   it: a node cut from the store must answer 503 and share nothing. After a \
                   heal the nodes reconnect, and Problem 4 brings both sides up to date.",
            lesson_anchor: "partitions",
            run: |h| partition::stage(h).boxed(),
        },
        StageDef {
            name: "Store down",
            points: 15,
            goal: "with the store down, cached links redirect, the rest is a prompt 503",
            hint: "Problem 5: a store error is Resolved::Unavailable (503), never Unknown \
                   (404) and never a panic (500); cached links must not need the store.",
            lesson_anchor: "problem-5-store-failure",
            run: |h| store_down::stage(h).boxed(),
        },
        StageDef {
            name: "Cached latency",
            points: 10,
            goal: "cached redirects stay fast with a slow store, and never touch it",
            hint: "Problem 1: a link in the cache is answered from the cache alone, with no \
                   store command on the way (not even to check it still exists: links never \
                   change).",
            lesson_anchor: "latency",
            run: |h| latency::stage(h).boxed(),
        },
    ])
}

/// How long a cache may take to hear of a new link (an abcast, a nodeup
/// answered): generous, as the deadline only fails a node that never does.
pub(crate) const SPREAD: Duration = Duration::from_secs(5);

/// The links a stage created that the store holds: code → URL.
#[derive(Debug, Default, Clone)]
pub(crate) struct Book(pub(crate) BTreeMap<String, String>);

impl Book {
    pub(crate) fn add(&mut self, code: &str, url: &str) {
        self.0.insert(code.to_string(), url.to_string());
    }

    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }
}

/// Starts the store and nodes `shorts` (each with its own store link), and
/// meshes them.
pub(crate) async fn start(
    h: &mut Harness,
    shorts: &[&str],
    persistence: Persistence,
) -> Result<(), StageError> {
    h.start_store(persistence).await?;
    start_nodes(h, shorts).await?;
    if shorts.len() > 1 {
        h.mesh(shorts).await?;
    }
    Ok(())
}

/// Starts nodes of a shortener (the store already running): HTTP on a free
/// port, the store through the node's own link. A restart reuses the flags.
/// Public for the shorteners' bench and the lesson test, which start
/// clusters the way the stages do.
pub async fn start_nodes(h: &mut Harness, shorts: &[&str]) -> Result<(), StageError> {
    let mut urls = BTreeMap::new();
    for s in shorts {
        urls.insert(s.to_string(), h.store_url(s)?);
    }
    h.start_nodes_with(shorts, |s| {
        vec![
            "--http".into(),
            "127.0.0.1:0".into(),
            "--redis-url".into(),
            urls[s].clone(),
        ]
    })
    .await
}

/// A fresh URL in normal form (as the `url` crate prints it, so a node's
/// Location must be exactly this string).
pub(crate) fn fresh_url(h: &mut Harness) -> String {
    const SITES: [&str; 4] = [
        "https://example.com",
        "http://example.org",
        "https://docs.example.net",
        "https://www.example.com:8443",
    ];
    let site = SITES[h.rng.gen_range(0..SITES.len())];
    let n: u64 = h.rng.gen();
    format!("{site}/articles/{n:016x}?ref=netsplit")
}

/// Creates a link for `url` on node `short` (a form post) and records it in
/// `book`. Anything but a 201 with the code and its Location fails the
/// stage.
pub(crate) async fn create(
    h: &mut Harness,
    book: &mut Book,
    short: &str,
    url: &str,
    code: Option<&str>,
) -> Result<String, StageError> {
    let http = h.http(short)?;
    let mut fields = vec![("url", url)];
    if let Some(code) = code {
        fields.push(("code", code));
    }
    let ex = http.post_form("/", &fields).await;
    let got = created_code(&ex);
    let what = match code {
        Some(c) => format!("{short} creates a link under the code {c:?}"),
        None => format!("{short} creates a link"),
    };
    match got {
        Some(got) if code.is_none_or(|c| c == got) => {
            book.add(&got, url);
            Ok(got)
        }
        _ => Err(h
            .liveness(what)
            .expected("201, the code as the body, Location: /<code>")
            .actual(format!("POST / url={url}: {}", ex.describe()))
            .fails()),
    }
}

/// The code of a well-formed 201: the body (trimmed), matching Location.
pub(crate) fn created_code(ex: &Exchange) -> Option<String> {
    let code = ex.body.trim();
    (ex.status == Some(201)
        && !code.is_empty()
        && ex.header("location") == Some(format!("/{code}").as_str()))
    .then(|| code.to_string())
}

/// Creates `per_node` links on each of `shorts`, in turns.
pub(crate) async fn create_on_each(
    h: &mut Harness,
    book: &mut Book,
    shorts: &[&str],
    per_node: usize,
) -> Result<(), StageError> {
    for _ in 0..per_node {
        for s in shorts {
            let url = fresh_url(h);
            create(h, book, s, &url, None).await?;
        }
    }
    h.mark(format!("{} links created", book.len()));
    Ok(())
}

/// What one GET of a link said.
pub(crate) enum Followed {
    /// A 302 to the link's URL.
    Right,
    /// A 302 to another URL: a wrong link, the worst a shortener can do.
    Wrong(String),
    /// Anything else (404, 503, a timeout…).
    Missing(String),
}

pub(crate) fn follow(ex: &Exchange, url: &str) -> Followed {
    match (ex.status, ex.header("location")) {
        (Some(302), Some(loc)) if loc == url => Followed::Right,
        (Some(302), _) => Followed::Wrong(ex.describe()),
        _ => Followed::Missing(ex.describe()),
    }
}

/// Liveness: within `within`, every node of `shorts` redirects every link of
/// `book` to its URL. Safety, checked too: no answer along the way was a
/// redirect to another URL.
pub(crate) async fn serves_all(
    h: &mut Harness,
    shorts: &[&str],
    book: &Book,
    within: Duration,
    what: &str,
) -> Result<(), StageError> {
    let probes: Vec<HttpProbe> = shorts.iter().map(|s| h.http(s)).collect::<Result<_, _>>()?;
    let wrong = Arc::new(Mutex::new(Vec::<String>::new()));
    let view = h.view();
    let expected = format!(
        "302 to the link's URL for each of the {} links, on {}",
        book.len(),
        shorts.join(", ")
    );
    let served = h
        .eventually(what, within, expected, || {
            let (probes, book, wrong, view) =
                (probes.clone(), book.clone(), wrong.clone(), view.clone());
            async move {
                let mut short_of = vec![];
                for p in &probes {
                    let gets = book.0.iter().map(|(code, url)| {
                        let p = p.clone();
                        async move { (code, url, p.get(&format!("/{code}")).await) }
                    });
                    let mut first = None;
                    let mut missing = 0;
                    for (code, url, ex) in futures::future::join_all(gets).await {
                        match follow(&ex, url) {
                            Followed::Right => {}
                            Followed::Wrong(d) => wrong
                                .lock()
                                .push(format!("{}: /{code} → {d}, not {url}", p.node())),
                            Followed::Missing(d) => {
                                missing += 1;
                                first.get_or_insert(format!("/{code} → {d}"));
                            }
                        }
                    }
                    if let Some(first) = first {
                        let size = match cache_size(&view, p.node()).await {
                            Some(size) => format!("; {size}"),
                            None => String::new(),
                        };
                        short_of.push(format!(
                            "{} serves {} of {} (e.g. {first}{size})",
                            p.node(),
                            book.len() - missing,
                            book.len()
                        ));
                    }
                }
                if short_of.is_empty() {
                    Ok(())
                } else {
                    Err(short_of.join("; "))
                }
            }
        })
        .await;
    let wrong = std::mem::take(&mut *wrong.lock());
    h.safety(format!("{what}: never a redirect to a wrong URL"))
        .expected("every 302 goes to the URL the link was created with")
        .no_violations(wrong)?;
    served
}

/// Safety: no node of `shorts` redirects any of `codes` (links that must not
/// exist: refused creates). A 404 or a 503 is fine.
pub(crate) async fn serves_none(
    h: &mut Harness,
    shorts: &[&str],
    codes: &[String],
    what: &str,
) -> Result<(), StageError> {
    let mut violations = vec![];
    for s in shorts {
        let http = h.http(s)?;
        for code in codes {
            let ex = http.get(&format!("/{code}")).await;
            if ex.status == Some(302) {
                violations.push(format!("{s}: /{code} → {}", ex.describe()));
            }
        }
    }
    h.safety(what)
        .expected("404 or 503 for every refused create, on every node")
        .no_violations(violations)
}

/// "its cache holds N links" for a failure message, or why it is unknown;
/// nothing for a node with no Part 3 cache server (Part 4's nodes).
pub(crate) async fn cache_size(view: &crate::harness::ClusterView, short: &str) -> Option<String> {
    match view
        .ask(
            short,
            CACHE_SERVER,
            &CacheCall::Size,
            Duration::from_secs(1),
        )
        .await
    {
        Ok(CacheReply::Size(n)) => Some(format!("its cache holds {n} links")),
        Err(netsplit::gen_server::CallError::NoProc) => None,
        Err(e) => Some(format!(
            "its cache server did not say how many links it holds: {e}"
        )),
    }
}

/// The store itself, read directly: the URL `code` holds.
pub(crate) async fn store_get(h: &Harness, code: &str) -> Result<Option<String>, StageError> {
    h.store_query("reading the store", redis::cmd("GET").arg(store_key(code)))
        .await
}

/// The store itself, written directly (a collision planted by the grader).
pub(crate) async fn store_set(h: &Harness, code: &str, url: &str) -> Result<(), StageError> {
    h.store_query(
        "writing the store",
        redis::cmd("SET").arg(store_key(code)).arg(url),
    )
    .await
}

/// How many links the store holds (keys `link:*`).
pub(crate) async fn store_link_count(h: &Harness) -> Result<usize, StageError> {
    let keys: Vec<String> = h
        .store_query("reading the store", redis::cmd("KEYS").arg(store_key("*")))
        .await?;
    Ok(keys.len())
}

/// The fabric's name for the store, for partition groups.
pub(crate) const S: &str = STORE;
