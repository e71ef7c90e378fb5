//! The cookie: a shared secret that nodes prove they know without sending it.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

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

/// How many times [`read_or_create`] looks for the file again after finding
/// that another node created it first. One look is enough unless the file
/// is being created and deleted over and over; the bound only keeps that
/// from looping.
const CREATE_ATTEMPTS: usize = 5;

/// Reads the cookie in `path`, or creates it if there is no file there.
///
/// Refuses, as Erlang does, a file that other users can read or write: the
/// cookie would not be a secret. Every error is one sentence that names the
/// file and says what to do.
pub(crate) fn read_or_create(path: &Path) -> Result<String, String> {
    for _ in 0..CREATE_ATTEMPTS {
        if let Some(cookie) = read_existing(path)? {
            return Ok(cookie);
        }
        if let Some(cookie) = create(path)? {
            return Ok(cookie);
        }
        // Another node created the file between our read and our create:
        // read theirs.
    }
    Err(format!(
        "the cookie file {} keeps appearing and disappearing; pass --cookie, or check what else writes it",
        path.display()
    ))
}

/// The cookie in `path`, `None` if there is no file there.
fn read_existing(path: &Path) -> Result<Option<String>, String> {
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            // A symlink whose target is missing is not "no file": creating
            // the cookie would fail (or, through the link, write it
            // somewhere unexpected), so say what is there.
            return match std::fs::read_link(path) {
                Ok(target) => Err(format!(
                    "the cookie file {} is a symlink to a missing file ({}); remove it or point it at a cookie",
                    path.display(),
                    target.display()
                )),
                Err(_) => Ok(None),
            };
        }
        Err(e) => {
            return Err(format!(
                "cannot read the cookie file {}: {e}",
                path.display()
            ))
        }
    };
    let meta = file
        .metadata()
        .map_err(|e| format!("cannot read the cookie file {}: {e}", path.display()))?;
    if !meta.is_file() {
        return Err(format!(
            "the cookie file {} is not a file; remove it, or pass --cookie",
            path.display()
        ));
    }
    check_private(path, &meta)?;
    let mut text = String::new();
    (&file)
        .read_to_string(&mut text)
        .map_err(|e| format!("cannot read the cookie file {}: {e}", path.display()))?;
    let cookie = text.trim();
    if cookie.is_empty() {
        return Err(format!("the cookie file {} is empty", path.display()));
    }
    Ok(Some(cookie.to_string()))
}

/// Refuses a cookie file that anyone but its owner may read or write (the
/// mode of the file itself, through any symlink).
#[cfg(unix)]
fn check_private(path: &Path, meta: &std::fs::Metadata) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(format!(
            "the cookie file {} is accessible by other users (mode {mode:03o}), so it is no secret; make it yours only with `chmod 600 {}`",
            path.display(),
            shell_quoted(path)
        ));
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private(_: &Path, _: &std::fs::Metadata) -> Result<(), String> {
    Ok(())
}

/// `path` as a shell word: as is when it is made of ordinary characters,
/// else in single quotes, so the command in a message can be pasted.
#[cfg(unix)]
fn shell_quoted(path: &Path) -> String {
    let s = path.display().to_string();
    let plain = |c: char| c.is_ascii_alphanumeric() || "/._-+,:@%~".contains(c);
    if !s.is_empty() && s.chars().all(plain) {
        s
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// Creates `path` with a new random cookie, readable by its owner only;
/// `None` if a file (or a symlink) is already there.
fn create(path: &Path) -> Result<Option<String>, String> {
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
                .map_err(|e| format!("cannot write the cookie file {}: {e}", path.display()))?;
            Ok(Some(cookie))
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(None),
        Err(e) => Err(format!(
            "cannot create the cookie file {}: {e}",
            path.display()
        )),
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

    /// A symlink to nothing used to recurse until the stack overflowed
    /// (open: not found; create: already exists; and again).
    #[cfg(unix)]
    #[test]
    fn a_dangling_symlink_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("cookie");
        let gone = dir.path().join("gone");
        std::os::unix::fs::symlink(&gone, &p).unwrap();
        let err = super::read_or_create(&p).unwrap_err();
        assert!(
            err.contains(&format!(
                "{} is a symlink to a missing file ({})",
                p.display(),
                gone.display()
            )),
            "{err}"
        );
        assert!(err.contains("remove it or point it at a cookie"), "{err}");
        // Nothing was created through the link.
        assert!(!gone.exists());
    }

    #[test]
    fn a_directory_is_not_a_cookie_file() {
        let dir = tempfile::tempdir().unwrap();
        let err = super::read_or_create(dir.path()).unwrap_err();
        assert!(err.contains("is not a file"), "{err}");
    }

    #[cfg(unix)]
    #[test]
    fn a_symlink_to_a_private_cookie_is_followed() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real");
        private_file(&real, "SECRET\n");
        let p = dir.path().join("cookie");
        std::os::unix::fs::symlink(&real, &p).unwrap();
        assert_eq!(super::read_or_create(&p).unwrap(), "SECRET");
    }

    #[cfg(unix)]
    #[test]
    fn a_cookie_others_can_read_or_write_is_refused_with_the_fix() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        for mode in [0o644, 0o640, 0o604, 0o620, 0o602, 0o666] {
            let p = dir.path().join(format!("cookie-{mode:o}"));
            private_file(&p, "SECRET");
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
            let err = super::read_or_create(&p).unwrap_err();
            assert!(
                err.contains(&format!("`chmod 600 {}`", p.display())),
                "{mode:o}: {err}"
            );
            assert!(err.contains(&format!("mode {mode:o}")), "{err}");
            // Refused, not rewritten.
            assert_eq!(std::fs::read_to_string(&p).unwrap(), "SECRET");
        }
        // The command it gives is a command a shell takes as is.
        let p = dir.path().join("my cookie's file");
        private_file(&p, "SECRET");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = super::read_or_create(&p).unwrap_err();
        let quoted = format!("'{}'", p.display().to_string().replace('\'', "'\\''"));
        assert!(err.contains(&format!("`chmod 600 {quoted}`")), "{err}");
        let status = std::process::Command::new("sh")
            .args(["-c", &format!("chmod 600 {quoted}")])
            .status()
            .unwrap();
        assert!(status.success());
        assert_eq!(super::read_or_create(&p).unwrap(), "SECRET");
    }

    /// Writes `text` to a new file at `path`, mode 0600.
    #[cfg(unix)]
    fn private_file(path: &std::path::Path, text: &str) {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .unwrap();
        f.write_all(text.as_bytes()).unwrap();
    }
}
