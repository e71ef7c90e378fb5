//! Stage 6: the store down. Paused (it hangs), then killed (it refuses):
//! cached links keep redirecting, the rest is a 503 within the bound, and
//! when the store comes back creates work again with no node restarted.

use super::{create_on_each, fresh_url, serves_all, serves_none, start, Book, SPREAD};
use crate::harness::{secs, Harness, StageError};
use crate::services::redis::Persistence;
use contracts::shortener::{derived_code, STORE_TIMEOUT_MS};
use std::time::Duration;

const TWO: [&str; 2] = ["n1", "n2"];

pub(super) async fn stage(h: &mut Harness) -> Result<(), StageError> {
    start(h, &TWO, Persistence::AppendOnly).await?;
    let mut book = Book::default();
    create_on_each(h, &mut book, &TWO, 3).await?;
    serves_all(h, &TWO, &book, SPREAD, "every node has every link").await?;

    // A command sent to a paused store may still run when it resumes: a
    // create that timed out has an unknown outcome, so it is not checked
    // below (retrying it is safe: the same URL gets the same code).
    h.pause_store().await?;
    serves_all(
        h,
        &TWO,
        &book,
        SPREAD,
        "with the store paused, cached links redirect",
    )
    .await?;
    unavailable(h, "paused").await?;
    h.resume_store().await?;

    // A killed store refuses connections: nothing reached it.
    h.kill_store().await?;
    serves_all(
        h,
        &TWO,
        &book,
        SPREAD,
        "with the store killed, cached links redirect",
    )
    .await?;
    let refused = unavailable(h, "killed").await?;

    h.restart_store(true).await?;
    for s in TWO {
        let url = fresh_url(h);
        let http = h.http(s)?;
        h.eventually(
            format!("{s} creates links again once the store is back, without a restart"),
            Duration::from_secs(5),
            "201",
            || {
                let (http, url) = (http.clone(), url.clone());
                async move {
                    let ex = http.post_form("/", &[("url", &url)]).await;
                    if ex.status == Some(201) {
                        Ok(())
                    } else {
                        Err(ex.describe())
                    }
                }
            },
        )
        .await?;
    }
    serves_none(
        h,
        &TWO,
        &refused,
        "a create refused while the store was down is served nowhere",
    )
    .await
}

/// With the store down (`how`): on every node, an unknown code and a
/// create are each a 503 within the bound. Returns the codes of the
/// refused creates.
async fn unavailable(h: &mut Harness, how: &str) -> Result<Vec<String>, StageError> {
    let bound = h.scaled(Duration::from_millis(STORE_TIMEOUT_MS + 1000));
    let mut violations = vec![];
    let mut codes = vec![];
    for s in TWO {
        let http = h.http(s)?;
        let unknown = derived_code(&fresh_url(h), 0);
        let url = fresh_url(h);
        codes.push(derived_code(&url, 0));
        let get = http.get(&format!("/{unknown}")).await;
        let post = http.post_form("/", &[("url", &url)]).await;
        for (what, ex) in [("GET of an uncached code", get), ("POST /", post)] {
            if ex.status != Some(503) || ex.latency > bound {
                violations.push(format!("{s}: {what}: {}", ex.describe()));
            }
        }
    }
    h.safety(format!(
        "with the store {how}, uncached codes and creates are 503 within {}",
        secs(bound)
    ))
    .expected("503 (never 404: the link may exist; never 500; never a hang)")
    .no_violations(violations)?;
    Ok(codes)
}
