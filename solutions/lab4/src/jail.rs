//! The root directory as a jail: FTP paths in, checked disk paths out.
//!
//! A client names files with FTP paths: absolute (`/docs/a.txt`, relative to the root
//! we serve, not to the machine's `/`) or relative to the session's current directory.
//! Two steps keep every access inside the root:
//!
//! 1. **Lexical normalisation** ([`normalize`]): resolve `.` and `..` on the *string*,
//!    before the disk is touched. A `..` that would climb above `/` is refused instead of
//!    being silently clamped, so `RETR ../secret` gets a clear 550.
//! 2. **Symlink check** ([`Jail::resolve`]): a link inside the root may point anywhere,
//!    so the path is canonicalised (all links followed) and must still lie under the
//!    canonical root. For a file that does not exist yet (STOR, MKD) the parent directory
//!    is checked instead.
//!
//! No percent-decoding happens anywhere: FTP has no URL encoding, so `%2e%2e` is just a
//! strange file name, and treating it as one is what keeps it harmless.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// Why a path was refused. Every variant is answered with 550.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JailError {
    /// The path climbs above the root, or a link leads outside it.
    Outside,
    /// The path (or the parent of a new file) does not exist.
    NotFound,
    /// The path contains a byte a file name cannot hold (NUL).
    Invalid,
}

impl fmt::Display for JailError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            JailError::Outside => "Permission denied: path is outside the served directory",
            JailError::NotFound => "No such file or directory",
            JailError::Invalid => "Invalid path",
        })
    }
}

/// Resolves `arg` against the current directory `cwd` into an absolute FTP path such as
/// `/a/b`, without touching the disk.
///
/// # Errors
/// [`JailError::Outside`] if a `..` climbs above `/`; [`JailError::Invalid`] for a NUL.
pub fn normalize(cwd: &str, arg: &str) -> Result<String, JailError> {
    if arg.contains('\0') {
        return Err(JailError::Invalid);
    }
    let mut parts: Vec<&str> = Vec::new();
    if !arg.starts_with('/') {
        parts.extend(cwd.split('/').filter(|p| !p.is_empty()));
    }
    for part in arg.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    return Err(JailError::Outside);
                }
            }
            name => parts.push(name),
        }
    }
    Ok(format!("/{}", parts.join("/")))
}

/// The served directory.
#[derive(Debug, Clone)]
pub struct Jail {
    root: PathBuf,
}

impl Jail {
    /// A jail rooted at `root` (which must exist; it is canonicalised once, here).
    ///
    /// # Errors
    /// If `root` does not exist or cannot be resolved.
    pub fn new(root: &Path) -> io::Result<Jail> {
        Ok(Jail {
            root: root.canonicalize()?,
        })
    }

    /// The canonical root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Maps `arg` (relative to `cwd`) onto the disk and checks it stays inside the root.
    ///
    /// Returns the normalised FTP path and the disk path. An existing path comes back
    /// canonical (links followed); a new one as its canonical parent plus its name.
    ///
    /// # Errors
    /// See [`JailError`].
    pub fn resolve(&self, cwd: &str, arg: &str) -> Result<(String, PathBuf), JailError> {
        let virtual_path = normalize(cwd, arg)?;
        let mut real = self.root.clone();
        real.extend(virtual_path.split('/').filter(|p| !p.is_empty()));
        let checked = if real.symlink_metadata().is_ok() {
            // Exists (perhaps as a link): follow every link and look where we land. A
            // dangling link fails here too, which is what we want.
            real.canonicalize().map_err(|_| JailError::NotFound)?
        } else {
            let name = real.file_name().ok_or(JailError::NotFound)?.to_owned();
            let parent = real.parent().ok_or(JailError::NotFound)?;
            parent
                .canonicalize()
                .map_err(|_| JailError::NotFound)?
                .join(name)
        };
        if checked.starts_with(&self.root) {
            Ok((virtual_path, checked))
        } else {
            Err(JailError::Outside)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_dots_and_refuses_climbing_out() {
        assert_eq!(normalize("/", "a/./b/../c").unwrap(), "/a/c");
        assert_eq!(normalize("/a", "b").unwrap(), "/a/b");
        assert_eq!(normalize("/a", "/x").unwrap(), "/x");
        assert_eq!(normalize("/a", "..").unwrap(), "/");
        assert_eq!(normalize("/", "..").unwrap_err(), JailError::Outside);
        assert_eq!(normalize("/a", "../../x").unwrap_err(), JailError::Outside);
        assert_eq!(normalize("/", "/../x").unwrap_err(), JailError::Outside);
        // No URL decoding: this is a file name, not a parent directory.
        assert_eq!(normalize("/", "%2e%2e/x").unwrap(), "/%2e%2e/x");
    }

    #[test]
    fn refuses_symlinks_that_leave_the_root() {
        let outer = tempfile::tempdir().unwrap();
        let root = outer.path().join("root");
        std::fs::create_dir(&root).unwrap();
        std::fs::write(outer.path().join("secret"), "s").unwrap();
        std::fs::write(root.join("ok"), "o").unwrap();
        std::os::unix::fs::symlink("../secret", root.join("link")).unwrap();
        std::os::unix::fs::symlink("..", root.join("up")).unwrap();
        let jail = Jail::new(&root).unwrap();
        assert!(jail.resolve("/", "ok").is_ok());
        assert_eq!(jail.resolve("/", "link").unwrap_err(), JailError::Outside);
        assert_eq!(
            jail.resolve("/", "up/secret").unwrap_err(),
            JailError::Outside
        );
        assert_eq!(jail.resolve("/", "up/new").unwrap_err(), JailError::Outside);
        assert_eq!(
            jail.resolve("/", "no/such").unwrap_err(),
            JailError::NotFound
        );
        let (v, p) = jail.resolve("/", "new-file").unwrap();
        assert_eq!(v, "/new-file");
        assert_eq!(p, jail.root().join("new-file"));
    }
}
