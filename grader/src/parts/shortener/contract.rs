//! Stage 1: the HTTP contract on one node, good requests and bad.

use super::SPREAD;
use super::{create, fresh_url, serves_all, start, store_get, store_link_count, store_set, Book};
use crate::harness::{Harness, StageError};
use crate::probes::http::{Exchange, HttpProbe};
use crate::services::redis::Persistence;
use contracts::shortener::{derived_code, MAX_BODY, MAX_CODE_LEN, MAX_URL_LEN};
use serde_json::json;

pub(super) async fn stage(h: &mut Harness) -> Result<(), StageError> {
    start(h, &["n1"], Persistence::None).await?;
    let mut book = Book::default();
    let http = h.http("n1")?;

    // Derived codes: the contract's own function, stable for a URL.
    let mut not_derived = vec![];
    let mut not_stable = vec![];
    for _ in 0..4 {
        let url = fresh_url(h);
        let code = create(h, &mut book, "n1", &url, None).await?;
        let want = derived_code(&url, 0);
        if code != want {
            not_derived.push(format!("{url} got {code}, not {want}"));
        }
        let again = create(h, &mut book, "n1", &url, None).await?;
        if again != code {
            not_stable.push(format!("{url}: {code}, then {again}"));
        }
    }
    h.safety("a create without a code gets derived_code(url, 0)")
        .expected("the code contracts::shortener::derived_code gives")
        .no_violations(not_derived)?;
    h.safety("the same URL shortened again gets the same code")
        .no_violations(not_stable)?;

    // JSON, and a URL in another spelling than its normal form.
    let url = fresh_url(h);
    let ex = http.post_json("/", &json!({ "url": url })).await;
    let json_code = super::created_code(&ex);
    h.liveness("a create sent as JSON gets 201 and its code")
        .expected("201, the code as the body, Location: /<code>")
        .actual(ex.describe())
        .holds(json_code.is_some())?;
    book.add(&json_code.unwrap_or_default(), &url);
    let ex = http.post_form("/", &[("url", "HTTPS://Example.COM")]).await;
    let normal = "https://example.com/";
    let code = super::created_code(&ex);
    h.safety("a URL is stored in its normal form")
        .expected(format!("201 with the code derived_code({normal:?}, 0)"))
        .actual(ex.describe())
        .holds(code.as_deref() == Some(derived_code(normal, 0).as_str()))?;
    book.add(&derived_code(normal, 0), normal);

    serves_all(h, &["n1"], &book, SPREAD, "n1 redirects every link").await?;

    custom_codes(h, &http, &mut book).await?;
    collision(h, &http, &mut book).await?;

    let unknown = derived_code(&fresh_url(h), 0);
    let ex = http.get(&format!("/{unknown}")).await;
    h.safety("an unknown code is 404")
        .expected("404")
        .actual(ex.describe())
        .holds(ex.status == Some(404))?;

    bad_requests(h, &http).await?;
    serves_all(
        h,
        &["n1"],
        &book,
        SPREAD,
        "n1 still serves after the bad requests",
    )
    .await?;

    // The store holds what was created, and nothing a refused create sent.
    let mut wrong = vec![];
    for (code, url) in book.0.clone() {
        let held = store_get(h, &code).await?;
        if held.as_deref() != Some(url.as_str()) {
            wrong.push(format!("{code}: {held:?}, not {url:?}"));
        }
    }
    h.safety("the store holds every link created")
        .no_violations(wrong)?;
    // The book holds the planted link too.
    let count = store_link_count(h).await?;
    h.safety("no refused create left anything in the store")
        .expected(format!("{} keys link:*", book.len()))
        .actual(format!("{count} keys link:*"))
        .holds(count == book.len())
}

/// Custom codes: taken by the same URL is fine, by another is 422.
async fn custom_codes(
    h: &mut Harness,
    http: &HttpProbe,
    book: &mut Book,
) -> Result<(), StageError> {
    let url = fresh_url(h);
    let other = fresh_url(h);
    let n: u32 = rand::Rng::gen(&mut h.rng);
    let code = format!("talk-{n:08x}_X");
    create(h, book, "n1", &url, Some(&code)).await?;
    let mut violations = vec![];
    let again = http.post_form("/", &[("url", &url), ("code", &code)]).await;
    if super::created_code(&again).as_deref() != Some(code.as_str()) {
        violations.push(format!(
            "the same URL under the same code again: {}, not 201",
            again.describe()
        ));
    }
    let taken = http
        .post_form("/", &[("url", &other), ("code", &code)])
        .await;
    if taken.status != Some(422) {
        violations.push(format!(
            "another URL under the taken code: {}, not 422",
            taken.describe()
        ));
    }
    let json = http
        .post_json("/", &json!({ "url": other, "code": code }))
        .await;
    if json.status != Some(422) {
        violations.push(format!("the same, as JSON: {}, not 422", json.describe()));
    }
    h.safety("a custom code is kept; taken by another URL, it is 422")
        .no_violations(violations)?;
    serves_all(
        h,
        &["n1"],
        book,
        SPREAD,
        "a custom code still goes to its first URL",
    )
    .await
}

/// A collision planted in the store: the URL's derived code already holds
/// another URL. The node must move on to the next attempt, never overwrite.
async fn collision(h: &mut Harness, http: &HttpProbe, book: &mut Book) -> Result<(), StageError> {
    let url = fresh_url(h);
    let first = derived_code(&url, 0);
    let planted = "https://planted.example/collision";
    store_set(h, &first, planted).await?;
    h.mark(format!("collision planted: {first} → {planted}"));
    book.add(&first, planted);
    let ex = http.post_form("/", &[("url", &url)]).await;
    let code = super::created_code(&ex);
    let next = derived_code(&url, 1);
    h.safety("a derived code taken by another URL moves on to the next attempt")
        .expected(format!(
            "201 with {next} (derived_code(url, 1)); {first} keeps pointing at {planted}"
        ))
        .actual(ex.describe())
        .holds(code.as_deref() == Some(next.as_str()))?;
    book.add(&next, &url);
    let again = http.post_form("/", &[("url", &url)]).await;
    h.safety("the colliding URL shortened again finds its own code")
        .expected(format!("201 with {next}"))
        .actual(again.describe())
        .holds(super::created_code(&again).as_deref() == Some(next.as_str()))?;
    let held = store_get(h, &first).await?;
    h.safety("the planted link is not overwritten")
        .expected(format!("{first} holds {planted:?} in the store"))
        .actual(format!("{held:?}"))
        .holds(held.as_deref() == Some(planted))
}

/// One bad request and the status it must get.
struct Bad {
    what: &'static str,
    want: Want,
    ex: Exchange,
}

enum Want {
    Status(u16),
    /// Any 4xx (what hyper itself answers to malformed HTTP varies).
    ClientError,
}

async fn bad_requests(h: &mut Harness, http: &HttpProbe) -> Result<(), StageError> {
    let form = "application/x-www-form-urlencoded";
    let json_type = "application/json";
    let ok_url = "https://example.com/ok";
    let long_url = format!("https://example.com/{}", "a".repeat(MAX_URL_LEN));
    let long_code = "c".repeat(MAX_CODE_LEN + 1);
    let big = format!("url={}", "b".repeat(MAX_BODY + 1024));
    let long_path = format!(
        "GET /{} HTTP/1.1\r\nHost: n1\r\nConnection: close\r\n\r\n",
        "p".repeat(16 * 1024)
    );
    let cases = vec![
        Bad {
            what: "no url field",
            want: Want::Status(400),
            ex: http.post_form("/", &[("code", "nourl")]).await,
        },
        Bad {
            what: "an ftp URL",
            want: Want::Status(400),
            ex: http
                .post_form("/", &[("url", "ftp://example.com/file")])
                .await,
        },
        Bad {
            what: "a relative URL",
            want: Want::Status(400),
            ex: http.post_form("/", &[("url", "/just/a/path")]).await,
        },
        Bad {
            what: "a javascript: URL",
            want: Want::Status(400),
            ex: http.post_form("/", &[("url", "javascript:alert(1)")]).await,
        },
        Bad {
            what: "a URL longer than MAX_URL_LEN",
            want: Want::Status(400),
            ex: http.post_form("/", &[("url", &long_url)]).await,
        },
        Bad {
            what: "a code with a space and a '!'",
            want: Want::Status(400),
            ex: http
                .post_form("/", &[("url", ok_url), ("code", "bad code!")])
                .await,
        },
        Bad {
            what: "a code longer than MAX_CODE_LEN",
            want: Want::Status(400),
            ex: http
                .post_form("/", &[("url", ok_url), ("code", &long_code)])
                .await,
        },
        Bad {
            what: "a code with a '/'",
            want: Want::Status(400),
            ex: http
                .post_form("/", &[("url", ok_url), ("code", "a/b")])
                .await,
        },
        Bad {
            what: "JSON cut short",
            want: Want::Status(400),
            ex: http.post_bytes("/", json_type, b"{\"url\":".to_vec()).await,
        },
        Bad {
            what: "JSON with a number for url",
            want: Want::Status(400),
            ex: http
                .post_bytes("/", json_type, b"{\"url\":3}".to_vec())
                .await,
        },
        Bad {
            what: "JSON that is an array",
            want: Want::Status(400),
            ex: http.post_bytes("/", json_type, b"[1,2]".to_vec()).await,
        },
        Bad {
            what: "a form whose url is not UTF-8 once decoded",
            want: Want::Status(400),
            ex: http.post_bytes("/", form, b"url=%FF%FE".to_vec()).await,
        },
        Bad {
            what: "a body that is not UTF-8",
            want: Want::Status(400),
            ex: http
                .post_bytes("/", form, vec![b'u', b'r', b'l', b'=', 0xC3, 0x28])
                .await,
        },
        Bad {
            what: "a body over MAX_BODY",
            want: Want::Status(413),
            ex: http.post_bytes("/", form, big.into_bytes()).await,
        },
        Bad {
            what: "a text/xml body",
            want: Want::Status(415),
            ex: http.post_bytes("/", "text/xml", b"<url/>".to_vec()).await,
        },
        Bad {
            what: "a code longer than MAX_CODE_LEN, followed",
            want: Want::Status(404),
            ex: http.get(&format!("/{long_code}")).await,
        },
        Bad {
            what: "a request line that is not HTTP",
            want: Want::ClientError,
            ex: http.raw(b"GARBAGE\r\n\r\n").await,
        },
        Bad {
            what: "a Content-Length that is not a number",
            want: Want::ClientError,
            ex: http
                .raw(b"POST / HTTP/1.1\r\nHost: n1\r\nContent-Length: abc\r\n\r\nurl=x")
                .await,
        },
        Bad {
            what: "a 16 KiB path",
            want: Want::ClientError,
            ex: http.raw(long_path.as_bytes()).await,
        },
        Bad {
            what: "a path with a bad percent-escape",
            want: Want::ClientError,
            ex: http
                .raw(b"GET /%ZZ%C3 HTTP/1.1\r\nHost: n1\r\nConnection: close\r\n\r\n")
                .await,
        },
    ];
    let violations: Vec<String> = cases
        .iter()
        .filter(|c| match c.want {
            Want::Status(s) => c.ex.status != Some(s),
            Want::ClientError => !matches!(c.ex.status, Some(400..=499)),
        })
        .map(|c| {
            let want = match c.want {
                Want::Status(s) => s.to_string(),
                Want::ClientError => "a 4xx".into(),
            };
            format!("{}: {}, not {want}", c.what, c.ex.describe())
        })
        .collect();
    let missing_reason: Vec<String> = cases
        .iter()
        .filter(|c| matches!(c.want, Want::Status(400 | 413 | 415)) && c.ex.body.trim().is_empty())
        .map(|c| format!("{}: an empty body", c.what))
        .collect();
    h.safety(format!("{} bad requests each get their 4xx", cases.len()))
        .no_violations(violations)?;
    h.safety("a refused create says why")
        .expected("a one-line reason as the body")
        .no_violations(missing_reason)
}
