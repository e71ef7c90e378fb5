//! The HTTP face of a node: the contract of `contracts::shortener`, checked
//! strictly, so whatever a client sends gets a status and a one-line reason,
//! never a hang or a crash.

use crate::links::{CreateError, Links, Resolved};
use crate::store::StoreError;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use contracts::shortener::{valid_code, MAX_BODY, MAX_CODE_LEN, MAX_URL_LEN};
use futures::FutureExt;
use netsplit::panic_text;
use std::future::Future;
use std::panic::AssertUnwindSafe;

/// The routes of a node.
pub fn router(links: Links) -> Router {
    Router::new()
        .route("/", get(usage).post(create))
        .route("/{code}", get(redirect))
        .fallback(|| async { reason(StatusCode::NOT_FOUND, "no such link") })
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(links)
}

async fn usage() -> Response {
    reason(
        StatusCode::OK,
        "POST / with url=<http(s) URL> (and optionally code=<code>) to shorten; GET /<code> to follow",
    )
}

/// `POST /`: shorten a URL.
async fn create(State(links): State<Links>, headers: HeaderMap, body: Bytes) -> Response {
    let fields = match parse_fields(&headers, &body) {
        Ok(f) => f,
        Err((status, why)) => return reason(status, &why),
    };
    let url = match check_url(fields.url.as_deref()) {
        Ok(url) => url,
        Err(why) => return reason(StatusCode::BAD_REQUEST, &why),
    };
    let code = fields.code.filter(|c| !c.is_empty());
    if let Some(code) = &code {
        if !valid_code(code) {
            return reason(
                StatusCode::BAD_REQUEST,
                &format!("a code is 1 to {MAX_CODE_LEN} characters of A-Z a-z 0-9 _ -"),
            );
        }
    }
    guarded(async move {
        match links.create(&url, code.as_deref()).await {
            Ok(code) => {
                let location = format!("/{code}");
                (
                    StatusCode::CREATED,
                    [(header::LOCATION, location)],
                    format!("{code}\n"),
                )
                    .into_response()
            }
            Err(e @ CreateError::Taken(_)) => {
                reason(StatusCode::UNPROCESSABLE_ENTITY, &e.to_string())
            }
            // A command that timed out may still run once the store
            // wakes up: say so. Retrying is safe (same URL, same code).
            Err(e @ CreateError::Store(StoreError::Timeout)) => reason(
                StatusCode::SERVICE_UNAVAILABLE,
                &format!("{e}: the link may or may not exist; retrying is safe"),
            ),
            Err(e) => reason(
                StatusCode::SERVICE_UNAVAILABLE,
                &format!("nothing was created: {e}"),
            ),
        }
    })
    .await
}

/// `GET /<code>`: follow a link.
async fn redirect(State(links): State<Links>, Path(code): Path<String>) -> Response {
    if !valid_code(&code) {
        return reason(StatusCode::NOT_FOUND, "no such link");
    }
    guarded(async move {
        match links.resolve(&code).await {
            Resolved::Found(url) => match HeaderValue::from_str(&url) {
                Ok(location) => (StatusCode::FOUND, [(header::LOCATION, location)]).into_response(),
                Err(_) => reason(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "the stored URL cannot be sent as a Location header",
                ),
            },
            Resolved::Unknown => reason(StatusCode::NOT_FOUND, "no such link"),
            Resolved::Unavailable(e) => reason(
                StatusCode::SERVICE_UNAVAILABLE,
                &format!("this node has no copy of {code:?} and {e}; try again later"),
            ),
        }
    })
    .await
}

/// The fields of a create, from a form or a JSON object.
#[derive(serde::Deserialize, Default)]
struct Fields {
    url: Option<String>,
    code: Option<String>,
}

fn parse_fields(headers: &HeaderMap, body: &[u8]) -> Result<Fields, (StatusCode, String)> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/x-www-form-urlencoded");
    let media = content_type.split(';').next().unwrap_or("").trim();
    let bad = |why: String| (StatusCode::BAD_REQUEST, why);
    match media.to_ascii_lowercase().as_str() {
        "application/json" => {
            serde_json::from_slice(body).map_err(|e| bad(format!("bad JSON: {e}")))
        }
        "application/x-www-form-urlencoded" => {
            if std::str::from_utf8(body).is_err() {
                return Err(bad("the form is not UTF-8".into()));
            }
            let mut fields = Fields::default();
            for (key, value) in url::form_urlencoded::parse(body) {
                // Lossy decoding marks bytes that were not UTF-8 once decoded.
                if value.contains('\u{FFFD}') {
                    return Err(bad(format!("field {key:?} is not UTF-8 once decoded")));
                }
                match key.as_ref() {
                    "url" => fields.url = Some(value.into_owned()),
                    "code" => fields.code = Some(value.into_owned()),
                    _ => {}
                }
            }
            Ok(fields)
        }
        other => Err((
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("send the fields as a form or as JSON, not {other:?}"),
        )),
    }
}

/// The URL in its normal form (as `url::Url` prints it), if it is an
/// absolute http or https URL with a host.
fn check_url(url: Option<&str>) -> Result<String, String> {
    let url = url.filter(|u| !u.is_empty()).ok_or("missing field `url`")?;
    if url.len() > MAX_URL_LEN {
        return Err(format!("the URL is longer than {MAX_URL_LEN} bytes"));
    }
    let parsed = url::Url::parse(url).map_err(|e| format!("not an absolute URL: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() {
        return Err("only http and https URLs with a host can be shortened".into());
    }
    Ok(parsed.to_string())
}

/// A response with a one-line plain-text body.
fn reason(status: StatusCode, why: &str) -> Response {
    (status, format!("{why}\n")).into_response()
}

/// Runs a handler's body, turning a panic (a `todo!()` not done yet, a bug)
/// into a 500 that says so, instead of a connection closed without a word.
async fn guarded(body: impl Future<Output = Response>) -> Response {
    match AssertUnwindSafe(body).catch_unwind().await {
        Ok(response) => response,
        Err(panic) => reason(
            StatusCode::INTERNAL_SERVER_ERROR,
            &format!(
                "this node panicked: {}",
                panic_text(&*panic).unwrap_or("a panic without a message")
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked_and_normalised() {
        assert_eq!(
            check_url(Some("https://example.com")).unwrap(),
            "https://example.com/"
        );
        assert!(check_url(None).is_err());
        assert!(check_url(Some("")).is_err());
        assert!(check_url(Some("/relative")).is_err());
        assert!(check_url(Some("ftp://example.com/")).is_err());
        assert!(check_url(Some("javascript:alert(1)")).is_err());
        assert!(check_url(Some(&format!("https://e.com/{}", "a".repeat(MAX_URL_LEN)))).is_err());
    }

    #[test]
    fn fields_come_from_forms_and_json() {
        let mut h = HeaderMap::new();
        let f = parse_fields(&h, b"url=https%3A%2F%2Fa.com%2F&code=x").unwrap();
        assert_eq!(f.url.as_deref(), Some("https://a.com/"));
        assert_eq!(f.code.as_deref(), Some("x"));
        assert!(parse_fields(&h, b"url=%FF").is_err());
        h.insert(
            header::CONTENT_TYPE,
            "application/json; charset=utf-8".parse().unwrap(),
        );
        let f = parse_fields(&h, br#"{"url":"https://a.com/"}"#).unwrap();
        assert_eq!(f.url.as_deref(), Some("https://a.com/"));
        assert_eq!(
            parse_fields(&h, b"{").err().unwrap().0,
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            parse_fields(&h, br#"{"url":3}"#).err().unwrap().0,
            StatusCode::BAD_REQUEST
        );
        h.insert(header::CONTENT_TYPE, "text/xml".parse().unwrap());
        assert_eq!(
            parse_fields(&h, b"<a/>").err().unwrap().0,
            StatusCode::UNSUPPORTED_MEDIA_TYPE
        );
    }
}
