//! The cookie: a shared secret that nodes prove they know without sending it.

use std::io::Write;
use std::path::PathBuf;

/// Where the per-user cookie lives: `$NETSPLIT_COOKIE_FILE`, else `~/.netsplit.cookie`.
pub fn cookie_path() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("NETSPLIT_COOKIE_FILE") {
        return Ok(PathBuf::from(p));
    }
    let home = std::env::var_os("HOME")
        .ok_or("HOME is not set, so there is no ~/.netsplit.cookie; pass --cookie")?;
    Ok(PathBuf::from(home).join(".netsplit.cookie"))
}

/// Reads the per-user cookie, creating it (mode 0600, random) on first use —
/// as Erlang does with `~/.erlang.cookie`.
pub fn default_cookie() -> Result<String, String> {
    read_or_create(&cookie_path()?)
}

pub(crate) fn read_or_create(path: &std::path::Path) -> Result<String, String> {
    match std::fs::read_to_string(path) {
        Ok(s) => {
            let c = s.trim().to_string();
            if c.is_empty() {
                return Err(format!("the cookie file {} is empty", path.display()));
            }
            return Ok(c);
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    }
    use rand::distributions::{Alphanumeric, DistString};
    let cookie = Alphanumeric
        .sample_string(&mut rand::thread_rng(), 20)
        .to_uppercase();
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    match opts.open(path) {
        Ok(mut f) => {
            f.write_all(cookie.as_bytes())
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            Ok(cookie)
        }
        // Another node created it at the same moment: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => read_or_create(path),
        Err(e) => Err(format!("cannot create {}: {e}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn created_once_with_private_mode() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("cookie");
        let a = super::read_or_create(&p).unwrap();
        let b = super::read_or_create(&p).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.len(), 20);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
    }
}
