//! The course book's links, checked without building it: mdBook does not check
//! links at all (and quietly creates a chapter that SUMMARY.md names but that
//! is missing), so a broken one would otherwise reach the students.
//!
//! Checked: relative links and images in every page of `docs/src` and in the
//! repository's README (those into `docs/`), anchors against the headings of
//! the page they point to (mdBook's ids), SUMMARY.md's entries, and that
//! every page is listed in SUMMARY.md. Links with a scheme (http, https,
//! mailto) are not followed: the tests run without a network.

use pulldown_cmark::{BrokenLink, Event, LinkType, Options, Parser, Tag, TagEnd};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::fs;
use std::path::{Component, Path, PathBuf};

/// The options mdBook 0.4 parses with (no smart punctuation: it is off by
/// default and would change heading ids).
fn options() -> Options {
    Options::ENABLE_TABLES
        | Options::ENABLE_FOOTNOTES
        | Options::ENABLE_STRIKETHROUGH
        | Options::ENABLE_TASKLISTS
        | Options::ENABLE_HEADING_ATTRIBUTES
}

/// One link or image of a page.
struct Link {
    line: usize,
    dest: String,
}

/// What the checker needs of a page.
#[derive(Default)]
struct Page {
    links: Vec<Link>,
    anchors: HashSet<String>,
    /// `[text][label]` whose label is defined nowhere: mdBook prints it as text.
    undefined_refs: Vec<(usize, String)>,
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset].matches('\n').count() + 1
}

/// mdBook's `normalize_id`: keep alphanumerics, `_` and `-` (lowercased),
/// turn whitespace into `-`, drop the rest.
fn normalize_id(content: &str) -> String {
    content
        .chars()
        .filter_map(|c| {
            if c.is_alphanumeric() || c == '_' || c == '-' {
                Some(c.to_ascii_lowercase())
            } else if c.is_whitespace() {
                Some('-')
            } else {
                None
            }
        })
        .collect()
}

/// mdBook's `id_from_content`. It reads the rendered HTML; here the heading's
/// text and inline HTML stand for it (the entities mdBook strips escape
/// characters that `normalize_id` drops anyway).
fn id_from_content(content: &str) -> String {
    let mut content = content.to_string();
    for tag in [
        "<em>",
        "</em>",
        "<code>",
        "</code>",
        "<strong>",
        "</strong>",
    ] {
        content = content.replace(tag, "");
    }
    normalize_id(content.trim().trim_start_matches('#').trim())
}

/// `id="..."` and `name="..."` in raw HTML (`<a id="x"></a>`): targets too.
fn html_ids(html: &str, into: &mut HashSet<String>) {
    for key in ["id=\"", "name=\""] {
        let mut rest = html;
        while let Some(i) = rest.find(key) {
            let after = &rest[i + key.len()..];
            let preceded_ok = i == 0 || rest[..i].ends_with(|c: char| c.is_whitespace());
            if let Some(end) = after.find('"') {
                if preceded_ok {
                    into.insert(after[..end].to_string());
                }
                rest = &after[end..];
            } else {
                break;
            }
        }
    }
}

fn parse(text: &str) -> Page {
    let mut page = Page::default();
    let mut undefined = Vec::new();
    let callback = |broken: BrokenLink<'_>| {
        // Shortcut and collapsed forms (`[x]`, `[x][]`) are as likely to be
        // plain brackets in prose; only `[text][label]` is surely a link.
        if broken.link_type == LinkType::Reference {
            undefined.push((broken.span.start, broken.reference.to_string()));
        }
        None
    };
    let parser = Parser::new_with_broken_link_callback(text, options(), Some(callback));
    let mut counter: HashMap<String, usize> = HashMap::new();
    // The heading being read: its explicit id, and its content so far.
    let mut heading: Option<(Option<String>, String)> = None;
    for (event, range) in parser.into_offset_iter() {
        match event {
            Event::Start(Tag::Heading { id, .. }) => {
                heading = Some((id.map(|s| s.to_string()), String::new()));
            }
            Event::End(TagEnd::Heading(_)) => {
                let (id, content) = heading.take().expect("a heading was started");
                let id = id.unwrap_or_else(|| {
                    // mdBook's `unique_id_from_content`: -1, -2, ... on repeats.
                    let id = id_from_content(&content);
                    let n = counter.entry(id.clone()).or_insert(0);
                    let unique = if *n == 0 { id } else { format!("{id}-{n}") };
                    *n += 1;
                    unique
                });
                page.anchors.insert(id);
            }
            Event::Text(t) | Event::Code(t) => {
                if let Some((_, content)) = &mut heading {
                    content.push_str(&t);
                }
            }
            Event::InlineHtml(t) | Event::Html(t) => {
                if let Some((_, content)) = &mut heading {
                    content.push_str(&t);
                }
                html_ids(&t, &mut page.anchors);
            }
            Event::SoftBreak | Event::HardBreak => {
                if let Some((_, content)) = &mut heading {
                    content.push('\n');
                }
            }
            Event::Start(Tag::Link { dest_url, .. })
            | Event::Start(Tag::Image { dest_url, .. }) => {
                page.links.push(Link {
                    line: line_of(text, range.start),
                    dest: dest_url.to_string(),
                });
            }
            _ => {}
        }
    }
    page.undefined_refs = undefined
        .into_iter()
        .map(|(at, label)| (line_of(text, at), label))
        .collect();
    page
}

fn percent_decode(s: &str) -> String {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(hi), Some(lo)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push(hi << 4 | lo);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `http:`, `mailto:` and the like: not ours to check.
fn has_scheme(dest: &str) -> bool {
    match dest.find(':') {
        Some(i) => {
            let scheme = &dest[..i];
            !scheme.is_empty()
                && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
        }
        None => false,
    }
}

/// `a/./b/../c` as `a/c`, without touching the file system (the target may
/// not exist: that is what is being checked).
fn lexical(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

struct Checker {
    /// The book's `src` folder.
    src: PathBuf,
    pages: HashMap<PathBuf, Page>,
    /// By file, then line.
    problems: BTreeSet<(PathBuf, usize, String)>,
}

impl Checker {
    fn new(src: &Path) -> Self {
        Checker {
            src: lexical(src),
            pages: HashMap::new(),
            problems: BTreeSet::new(),
        }
    }

    fn page(&mut self, path: &Path) -> &Page {
        self.pages.entry(path.to_path_buf()).or_insert_with(|| {
            let text =
                fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
            parse(&text)
        })
    }

    /// Where a link from `from` leads: the file (an `.html` link to a chapter
    /// means its `.md`) and the anchor, or `None` for links not checked.
    fn resolve(&self, from: &Path, dest: &str) -> Option<(PathBuf, Option<String>)> {
        if has_scheme(dest) || dest.starts_with("//") {
            return None;
        }
        let (path, fragment) = match dest.split_once('#') {
            Some((p, f)) => (p, Some(percent_decode(f))),
            None => (dest, None),
        };
        let path = path.split('?').next().unwrap_or_default();
        let file = if path.is_empty() {
            from.to_path_buf()
        } else if let Some(abs) = path.strip_prefix('/') {
            lexical(&self.src.join(percent_decode(abs)))
        } else {
            lexical(&from.parent().expect("a file").join(percent_decode(path)))
        };
        let file = match file.extension().and_then(|e| e.to_str()) {
            Some("html") if !file.exists() && file.with_extension("md").exists() => {
                file.with_extension("md")
            }
            _ => file,
        };
        Some((file, fragment))
    }

    /// Records a problem, its file shown from the repository root (two above `src`).
    fn problem(&mut self, file: &Path, line: usize, what: String) {
        let root = self
            .src
            .parent()
            .and_then(Path::parent)
            .unwrap_or(&self.src);
        let shown = file.strip_prefix(root).unwrap_or(file);
        self.problems.insert((shown.to_path_buf(), line, what));
    }

    /// Checks the links of `file`; with `only_under`, only those leading there.
    fn check_page(&mut self, file: &Path, only_under: Option<&Path>) {
        let page = self.page(file);
        let links: Vec<(usize, String)> = page
            .links
            .iter()
            .map(|l| (l.line, l.dest.clone()))
            .collect();
        let undefined = page.undefined_refs.clone();
        if only_under.is_none() {
            for (line, label) in undefined {
                self.problem(file, line, format!("reference [{label}] is not defined"));
            }
        }
        for (line, dest) in links {
            if dest.is_empty() {
                if only_under.is_none() {
                    self.problem(file, line, "empty link ()".to_string());
                }
                continue;
            }
            let Some((target, fragment)) = self.resolve(file, &dest) else {
                continue;
            };
            if only_under.is_some_and(|dir| !target.starts_with(dir)) {
                continue;
            }
            if !target.exists() {
                self.problem(file, line, format!("({dest}): no such file"));
                continue;
            }
            let Some(fragment) = fragment else { continue };
            if target.extension().is_some_and(|e| e == "md")
                && target.is_file()
                && !self.page(&target).anchors.contains(&fragment)
            {
                self.problem(
                    file,
                    line,
                    format!("({dest}): no heading with id #{fragment} in that page"),
                );
            }
        }
    }
}

fn markdown_files(dir: &Path, into: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|e| e.expect("a directory entry").path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            markdown_files(&p, into);
        } else if p.extension().is_some_and(|e| e == "md") {
            into.push(lexical(&p));
        }
    }
}

/// Every problem of the book under `book` (its `src` folder) and of the
/// links from `readme` into `book`, as `file:line: what`.
fn check(book: &Path, readme: Option<&Path>) -> Vec<String> {
    let src = book.join("src");
    let summary = lexical(&src.join("SUMMARY.md"));
    let mut checker = Checker::new(&src);
    if !summary.is_file() {
        return vec![format!("{}: missing", summary.display())];
    }

    // SUMMARY.md: each entry exists, and every page is an entry.
    let entries: Vec<(usize, String)> = checker
        .page(&summary)
        .links
        .iter()
        .map(|l| (l.line, l.dest.clone()))
        .collect();
    let mut listed = HashSet::new();
    for (line, dest) in entries {
        if dest.is_empty() {
            continue; // a draft chapter: mdBook shows it greyed out
        }
        match checker.resolve(&summary, &dest) {
            Some((file, _)) if file.is_file() => {
                listed.insert(file);
            }
            Some(_) => checker.problem(
                &summary,
                line,
                format!("({dest}): SUMMARY.md entry for a missing file"),
            ),
            None => {}
        }
    }
    let mut pages = Vec::new();
    markdown_files(&checker.src.clone(), &mut pages);
    for page in &pages {
        if *page != summary && !listed.contains(page) {
            checker.problem(page, 1, "chapter not listed in SUMMARY.md".to_string());
        }
    }

    for page in &pages {
        if *page != summary {
            checker.check_page(page, None);
        }
    }
    if let Some(readme) = readme {
        checker.check_page(&lexical(readme), Some(&lexical(book)));
    }
    checker
        .problems
        .into_iter()
        .map(|(file, line, what)| format!("{}:{line}: {what}", file.display()))
        .collect()
}

#[test]
fn the_book_has_no_broken_links() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let problems = check(&root.join("docs"), Some(&root.join("README.md")));
    assert!(
        problems.is_empty(),
        "{} broken link(s) in the book:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

// The checker itself, on small books that are broken on purpose.

fn book(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (path, text) in files {
        let p = dir.path().join(path);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, text).unwrap();
    }
    dir
}

const SUMMARY: &str = "# Summary\n\n[Intro](intro.md)\n- [A](a.md)\n- [Soon]()\n";

#[test]
fn a_sound_book_passes() {
    let dir = book(&[
        ("docs/src/SUMMARY.md", SUMMARY),
        (
            "docs/src/intro.md",
            "# Intro\n\nSee [A](a.md), [its setup](a.md#set-up--run), [again](a.md#again-1),\n\
             [B's](a.md#bs-part-2-rust), [the id](a.md#custom), [here](#intro),\n\
             [html](a.html#again), [raw](a.md#raw), [web](https://example.com/x.md#nope),\n\
             [mail](mailto:x@example.com), [code](../../src/lib.rs).\n\n\
             ```md\n[not a link](missing.md)\n```\n\n`[nor this](missing.md)`\n",
        ),
        (
            "docs/src/a.md",
            "# A\n\n## Set up & run\n\n## Again\n\n## Again\n\n## B's *part* 2: `Rust`\n\n\
             ## Whatever {#custom}\n\n<a id=\"raw\"></a>\n",
        ),
        ("src/lib.rs", ""),
        (
            "README.md",
            "[book](docs/src/intro.md#intro) [other](nowhere.md)\n",
        ),
    ]);
    let problems = check(
        &dir.path().join("docs"),
        Some(&dir.path().join("README.md")),
    );
    assert_eq!(problems, Vec::<String>::new());
}

#[test]
fn every_kind_of_breakage_is_reported_with_its_line() {
    let dir = book(&[
        (
            "docs/src/SUMMARY.md",
            "# Summary\n\n- [A](a.md)\n- [Gone](gone.md)\n",
        ),
        (
            "docs/src/a.md",
            "# A\n\n## Same\n\n## Same\n\n[x](b.md)\n[y](#same-2)\n[z](#whatever)\n\
             [w][nolabel]\n[v]()\n",
        ),
        ("docs/src/orphan.md", "# Orphan\n"),
        (
            "README.md",
            "\n[book](docs/src/a.md#nope)\n[b](docs/src/missing.md)\n",
        ),
    ]);
    let problems = check(
        &dir.path().join("docs"),
        Some(&dir.path().join("README.md")),
    );
    assert_eq!(
        problems,
        vec![
            "README.md:2: (docs/src/a.md#nope): no heading with id #nope in that page",
            "README.md:3: (docs/src/missing.md): no such file",
            "docs/src/SUMMARY.md:4: (gone.md): SUMMARY.md entry for a missing file",
            "docs/src/a.md:7: (b.md): no such file",
            "docs/src/a.md:8: (#same-2): no heading with id #same-2 in that page",
            "docs/src/a.md:9: (#whatever): no heading with id #whatever in that page",
            "docs/src/a.md:10: reference [nolabel] is not defined",
            "docs/src/a.md:11: empty link ()",
            "docs/src/orphan.md:1: chapter not listed in SUMMARY.md",
        ]
    );
}
