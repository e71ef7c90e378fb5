//! Part 3, link shortener: every node serves the same links over HTTP, from
//! its own cache when it can, from the store (Redis) when it must.
//!
//! The grader talks to a shortener the way its users do, over HTTP: the
//! status codes below are the contract. It reads the store directly (keys
//! from [`store_key`]) to know the truth, and it derives codes itself with
//! [`derived_code`], so it can plant a collision before a node meets it.
//!
//! # HTTP
//!
//! | request | answer |
//! |---|---|
//! | `POST /` with `url` (and optional `code`), as a form or JSON | `201`, body = the code, `Location: /<code>` |
//! | … the same URL again, no `code` | `201` with the same code |
//! | … a `code` already taken by a different URL | `422` |
//! | … a missing or invalid `url` or `code`, bad JSON, bad encoding | `400`, one line saying why |
//! | … a body over [`MAX_BODY`] bytes | `413` |
//! | … a body neither a form nor JSON | `415` |
//! | … the store unreachable | `503`; nothing is cached or replicated |
//! | `GET /<code>` of a link | `302`, `Location: <url>` |
//! | `GET /<code>` of no link | `404` |
//! | `GET /<code>`, not cached and the store unreachable | `503` within [`STORE_TIMEOUT_MS`] (plus a little) |
//!
//! A create answers `201` only once the store holds the link: the store is
//! the source of truth and a cache only ever holds what the store has. A
//! `503` after the store did not answer in time has an unknown outcome (the
//! command may still run): creates are safe to retry, since the same URL
//! always gets the same code.
//!
//! # Between nodes
//!
//! Every node registers a cache server as [`CACHE`]. How caches fill each
//! other ([`CacheCast`]) is this part's protocol; the grader only calls
//! [`CacheCall::Size`], to say how full a cache was when a check failed.

use netsplit::NodeName;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The name every node registers its cache server under.
pub const CACHE: &str = "shortener_cache";

/// The cache server, with the types of its calls.
pub const CACHE_SERVER: crate::Server<CacheCall, CacheReply> = crate::Server::new(CACHE);

/// The largest request body a node accepts, in bytes.
pub const MAX_BODY: usize = 8 * 1024;
/// The longest URL a node accepts, in bytes.
pub const MAX_URL_LEN: usize = 2048;
/// The longest code, in characters.
pub const MAX_CODE_LEN: usize = 64;
/// How long a node waits for one store command before it gives up (and
/// answers 503).
pub const STORE_TIMEOUT_MS: u64 = 1000;
/// How many derived codes a create tries (see [`derived_code`]) before it
/// gives up.
pub const MAX_ATTEMPTS: u32 = 8;

/// A short link: `code` redirects to `url`. Links never change: once the
/// store holds a code, it means that URL for good.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, Hash)]
pub struct Link {
    /// The short code, e.g. `x7Kp2_Qa`.
    pub code: String,
    /// The absolute http(s) URL it redirects to.
    pub url: String,
}

/// Casts between cache servers.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub enum CacheCast {
    /// Put these links in your cache (a new link, or links you missed).
    Links(Vec<Link>),
    /// The cache on node `0` started or reconnected: send it every link you
    /// hold, as [`CacheCast::Links`].
    SendLinksTo(NodeName),
}

/// Calls a cache server serves.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub enum CacheCall {
    /// How many links are cached on this node: [`CacheReply::Size`].
    Size,
}

/// A cache server's replies.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub enum CacheReply {
    /// Links cached.
    Size(u64),
}

/// The store key of a code: `link:<code>`, whose value is the URL.
pub fn store_key(code: &str) -> String {
    format!("link:{code}")
}

/// True for a code a node accepts: 1 to [`MAX_CODE_LEN`] characters of
/// `A-Z a-z 0-9 _ -`.
pub fn valid_code(code: &str) -> bool {
    !code.is_empty()
        && code.len() <= MAX_CODE_LEN
        && code
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// The code a create without a `code` tries for `url` on attempt `attempt`
/// (0, then 1, 2, … while the store already holds the code for another URL):
/// the first 48 bits of SHA-256 of the URL (of `url`, a newline and the
/// attempt number, after attempt 0), as 8 characters of URL-safe base64.
///
/// The same URL always walks the same sequence, so shortening it twice finds
/// its own code again, and two URLs that collide on one attempt part on the
/// next.
pub fn derived_code(url: &str, attempt: u32) -> String {
    let mut hash = Sha256::new();
    hash.update(url.as_bytes());
    if attempt > 0 {
        hash.update(format!("\n{attempt}").as_bytes());
    }
    let digest = hash.finalize();
    url_safe_base64(&digest[..6])
}

/// Base64 with the URL-safe alphabet (RFC 4648 §5), for whole 3-byte groups.
fn url_safe_base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    bytes
        .chunks(3)
        .flat_map(|c| {
            let n = (c[0] as u32) << 16 | (c[1] as u32) << 8 | c[2] as u32;
            [18, 12, 6, 0].map(|shift| ALPHABET[(n >> shift & 63) as usize] as char)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_codes_are_valid_stable_and_differ_per_attempt() {
        let a = derived_code("https://example.com/", 0);
        assert_eq!(a.len(), 8);
        assert!(valid_code(&a));
        assert_eq!(a, derived_code("https://example.com/", 0));
        assert_ne!(a, derived_code("https://example.com/", 1));
        assert_ne!(a, derived_code("https://example.org/", 0));
    }

    #[test]
    fn base64_is_the_url_safe_alphabet() {
        // RFC 4648 test vector "foobar", and bytes that need '-' and '_'.
        assert_eq!(url_safe_base64(b"foobar"), "Zm9vYmFy");
        assert_eq!(url_safe_base64(&[0xfb, 0xff, 0xbf]), "-_-_");
    }

    #[test]
    fn codes_are_checked() {
        assert!(valid_code("abc_DEF-123"));
        assert!(valid_code(&"a".repeat(MAX_CODE_LEN)));
        assert!(!valid_code(&"a".repeat(MAX_CODE_LEN + 1)));
        assert!(!valid_code(""));
        assert!(!valid_code("a/b"));
        assert!(!valid_code("é"));
        assert!(!valid_code("a b"));
    }
}
