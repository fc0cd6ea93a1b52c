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
    // TODO: Step 5 — turn what the client typed into one absolute FTP path, on the
    // string alone (the disk is not touched here): a path is relative to `cwd` unless it
    // starts with `/`, and `.` and `..` mean what they mean in a shell. A `..` that
    // would climb above `/` is refused (Outside), not quietly stopped at the root, so
    // that `RETR ../secret` gets a clear 550. FTP has no URL encoding: `%2e%2e` is an
    // odd file name, nothing more. A NUL cannot be in a file name (Invalid).
    let _ = (cwd, arg);
    todo!("Step 5 of handouts/lab4.md: normalise a path and refuse to climb out")
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
        // TODO: Step 6 — map the FTP path onto the disk so that nothing outside the root
        // is ever reached. A normalised path still can escape: a symbolic link inside the
        // root may point anywhere. So judge where the path really leads, every link
        // followed, and refuse (Outside) what lands outside the root; for a name that does
        // not exist yet (STOR, MKD), judge where its directory really is (NotFound if it
        // has none).
        let _ = (cwd, arg, &self.root);
        todo!("Step 6 of handouts/lab4.md: map an FTP path into the jail")
    }
}
