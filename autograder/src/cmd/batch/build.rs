//! One submission's build: from its own private copy, in a sandbox, with the class's
//! compiled dependencies shared, and its binary moved to a place no other build can write.
//!
//! Why each step:
//!
//! - **A private copy with fresh times.** Cargo decides whether a path package is stale
//!   from file times, not from where the package lives. Thirty copies of the same stub,
//!   downloaded days before grading and built into one shared target directory, look
//!   "fresh" to cargo after the first one: everyone would be graded with one student's
//!   binary. Copying gives every file the time of the copy, which is later than anything
//!   built before it, and each submission gets a target directory of its own anyway.
//! - **Shared dependencies, read-only.** Compiling clap (or tokio) thirty times would cost
//!   minutes per student. The dependencies are compiled once, from the lab's own stub, into
//!   a cache that holds only dependency artifacts (the stub's own are removed), and each
//!   build starts from a copy of it: sharing without anyone writing into the shared part.
//! - **Fixed paths inside the sandbox.** Every build sees its package at `/netlabs/src` and
//!   its target at `/netlabs/target`, exactly like the warm-up build did, so cargo's
//!   fingerprints of the dependencies (which record absolute paths) match.
//! - **The binary copied out.** What is graded is a copy in the submission's `bin/`,
//!   written by the grader, after the build's processes are gone; a symbolic link planted
//!   by a build script cannot make the grader copy somebody else's file.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::os::cargo::{self, BuildFailure, CapturedBuild, SandboxedBuild};
use crate::os::sandbox::{Bwrap, Containment};

/// Where a build's folders are, inside its sandbox.
const SRC: &str = "/netlabs/src";
const TARGET: &str = "/netlabs/target";
const CARGO_HOME: &str = "/netlabs/cargo";
const TOOLCHAIN: &str = "/netlabs/toolchain";

/// A submission larger than this is refused (copies are made of every submission).
pub const MAX_SUBMISSION_BYTES: u64 = 256 << 20;
/// A build may use this much memory (rustc on a large crate needs a few GiB).
const BUILD_MEMORY: u64 = 4 << 30;
/// And this many tasks (cargo, rustc and their threads, build scripts).
const BUILD_TASKS: u64 = 4096;

/// The Rust toolchain the grader was run with, and the registry of downloaded crates.
#[derive(Debug, Clone)]
pub struct Toolchain {
    sysroot: PathBuf,
    registry: PathBuf,
}

impl Toolchain {
    /// The active toolchain (`rustc --print sysroot`, from the grader's own directory, so a
    /// submission's `rust-toolchain.toml` cannot pick another) and `$CARGO_HOME/registry`.
    ///
    /// # Errors
    /// If rustc cannot be run.
    pub fn find() -> anyhow::Result<Toolchain> {
        use anyhow::Context;
        let out = std::process::Command::new("rustc")
            .args(["--print", "sysroot"])
            .output()
            .context("cannot run rustc (is Rust installed?)")?;
        anyhow::ensure!(out.status.success(), "`rustc --print sysroot` failed");
        let sysroot = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        let home = std::env::var_os("CARGO_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
            .context("neither CARGO_HOME nor HOME is set")?;
        Ok(Toolchain {
            sysroot,
            registry: home.join("registry"),
        })
    }

    /// Which toolchain, for the dependency cache's stamp.
    pub fn describe(&self) -> String {
        self.sysroot.display().to_string()
    }

    /// Makes the toolchain and the registry reachable by a sandbox uid that may not walk
    /// the path to them (they usually live in the 0700 home of the user running us): in a
    /// mount namespace of this process's own (root only), binds them read-only below `dir`
    /// (a fresh folder the uid can enter).
    ///
    /// Requires [`crate::os::sandbox::private_mounts`] first.
    ///
    /// # Errors
    /// If the mounts cannot be made.
    pub fn expose(self, dir: &Path) -> io::Result<Toolchain> {
        let sysroot = dir.join("toolchain");
        let registry = dir.join("registry");
        for (from, to) in [(&self.sysroot, &sysroot), (&self.registry, &registry)] {
            fs::create_dir_all(from)?;
            fs::create_dir_all(to)?;
            crate::os::sandbox::bind_read_only(from, to)?;
        }
        Ok(Toolchain { sysroot, registry })
    }

    /// Undoes [`Toolchain::expose`]'s mounts (before their folder is removed).
    pub fn unexpose(&self) {
        for p in [&self.sysroot, &self.registry] {
            crate::os::sandbox::unmount(p);
        }
    }
}

/// A submission's private place: `src/` (its copy), `target/`, `cargo/` (a cargo home of
/// its own, with the registry read-only inside), `bin/` (what is graded).
///
/// As root (in the batch's private mount namespace) the place is a tmpfs of
/// [`SCRATCH_BYTES`]: whatever a submission writes into its own copy is bounded by that, and
/// it vanishes with the mount even if the batch itself is killed.
#[derive(Debug)]
pub struct Scratch {
    dir: PathBuf,
    mounted: bool,
}

/// Size of a submission's private place, when it is a tmpfs: a lab's dependencies
/// (~200 MiB for tokio), its build and its copy, with room to spare.
pub const SCRATCH_BYTES: u64 = 2 << 30;

impl Scratch {
    /// Makes the place at `dir` (which must not exist); a tmpfs when `tmpfs` is set.
    ///
    /// # Errors
    /// If it cannot be created.
    pub fn create(dir: PathBuf, tmpfs: bool) -> io::Result<Scratch> {
        fs::create_dir(&dir)?;
        let mut scratch = Scratch {
            dir,
            mounted: false,
        };
        if tmpfs {
            crate::os::sandbox::mount_tmpfs(&scratch.dir, SCRATCH_BYTES)?;
            scratch.mounted = true;
        }
        for sub in ["src", "target", "cargo/registry", "bin"] {
            fs::create_dir_all(scratch.dir.join(sub))?;
        }
        Ok(scratch)
    }

    /// The private copy of the submission.
    pub fn src(&self) -> PathBuf {
        self.dir.join("src")
    }

    /// Where the graded binary is put.
    pub fn bin(&self) -> PathBuf {
        self.dir.join("bin")
    }

    /// Its root.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if self.mounted {
            crate::os::sandbox::unmount(&self.dir);
        }
        remove_tree(&self.dir);
    }
}

/// Copies the submission at `from` into `to` (an existing, empty folder): regular files
/// with fresh times, folders, and symbolic links as links (never followed: a link to a
/// peer or to `/etc` stays a link, which the sandbox resolves inside its own view).
/// `target/` folders, which hold somebody's earlier build, are left out.
///
/// # Errors
/// A sentence for the student: unreadable, or larger than [`MAX_SUBMISSION_BYTES`].
pub fn private_copy(from: &Path, to: &Path) -> Result<(), String> {
    let mut total = 0u64;
    copy_tree(from, to, &mut total).map_err(|e| format!("cannot copy the submission: {e}"))?;
    if total > MAX_SUBMISSION_BYTES {
        return Err(format!(
            "the submission is larger than {} MiB",
            MAX_SUBMISSION_BYTES >> 20
        ));
    }
    Ok(())
}

fn copy_tree(from: &Path, to: &Path, total: &mut u64) -> io::Result<()> {
    for entry in fs::read_dir(from)? {
        let entry = entry?;
        let name = entry.file_name();
        let (src, dst) = (entry.path(), to.join(&name));
        let kind = entry.file_type()?;
        if kind.is_symlink() {
            std::os::unix::fs::symlink(fs::read_link(&src)?, &dst)?;
        } else if kind.is_dir() {
            // An earlier build (cargo marks its target directories) or version control:
            // neither is the submission's code, and a build must not start from either.
            let is_build =
                src.join("CACHEDIR.TAG").exists() || src.join(".rustc_info.json").exists();
            if is_build || name == ".git" {
                continue;
            }
            fs::create_dir(&dst)?;
            copy_tree(&src, &dst, total)?;
        } else if kind.is_file() {
            *total += fs::copy(&src, &dst)?;
            if *total > MAX_SUBMISSION_BYTES {
                return Ok(());
            }
        }
        // Sockets, fifos and devices are not part of anybody's code.
    }
    Ok(())
}

/// Copies a directory tree keeping modification times (the dependency cache: cargo
/// compares the times of its own records).
///
/// # Errors
/// On any I/O error.
pub fn copy_keeping_times(from: &Path, to: &Path) -> io::Result<()> {
    fs::create_dir_all(to)?;
    for entry in fs::read_dir(from)? {
        let entry = entry?;
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        let kind = entry.file_type()?;
        if kind.is_dir() {
            copy_keeping_times(&src, &dst)?;
        } else if kind.is_symlink() {
            std::os::unix::fs::symlink(fs::read_link(&src)?, &dst)?;
        } else {
            fs::copy(&src, &dst)?;
            let modified = entry.metadata()?.modified()?;
            fs::File::options()
                .write(true)
                .open(&dst)?
                .set_modified(modified)?;
        }
    }
    Ok(())
}

/// Removes a tree that a sandboxed program may have made hard to remove (folders without
/// write or search permission), best effort.
pub fn remove_tree(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    fn open_up(path: &Path) {
        let Ok(meta) = fs::symlink_metadata(path) else {
            return;
        };
        if meta.is_dir() {
            let _ = fs::set_permissions(path, fs::Permissions::from_mode(0o700));
            if let Ok(entries) = fs::read_dir(path) {
                for entry in entries.flatten() {
                    open_up(&entry.path());
                }
            }
        }
    }
    if fs::remove_dir_all(path).is_err() {
        open_up(path);
        let _ = fs::remove_dir_all(path);
    }
}

/// How builds are run: in a sandbox (with this toolchain), or, where none can be made,
/// directly.
#[derive(Debug, Clone)]
pub struct Builder {
    /// The sandbox, where there is one.
    pub sandbox: Option<Bwrap>,
    /// The toolchain a sandboxed build uses (none found: Cargo submissions cannot build).
    pub toolchain: Option<Toolchain>,
    /// The compiled dependencies every build starts from, if they could be prepared.
    pub deps: Option<PathBuf>,
    /// Time limit per build.
    pub limit: Duration,
    /// Pass `--offline` to unsandboxed builds (sandboxed ones always are).
    pub offline: bool,
    /// Make each submission's private place a tmpfs (see [`Scratch`]).
    pub tmpfs: bool,
}

impl Builder {
    /// Builds the package at `scratch.src()` (`package` in a workspace) and returns the
    /// graded binary, copied into `scratch.bin()`.
    ///
    /// # Errors
    /// The compiler's messages, or why the build could not run.
    pub fn build(
        &self,
        scratch: &Scratch,
        within: &Path,
        package: Option<&str>,
        uid: Option<u32>,
    ) -> Result<PathBuf, BuildFailure> {
        let fail = |summary: String| BuildFailure {
            summary,
            log: String::new(),
        };
        let target = scratch.dir().join("target");
        if let Some(deps) = &self.deps {
            copy_keeping_times(deps, &target)
                .map_err(|e| fail(format!("the grader could not prepare the build: {e}")))?;
        }
        if let Some(uid) = uid {
            crate::os::sandbox::chown_tree(scratch.dir(), uid)
                .map_err(|e| fail(format!("the grader could not prepare the build: {e}")))?;
        }
        let sandbox = match (&self.sandbox, &self.toolchain) {
            (Some(s), Some(toolchain)) => Some(self.sandboxed(s, toolchain, scratch, within, uid)),
            (Some(_), None) => {
                return Err(fail(
                    "the grader found no Rust toolchain (rustc) to build this submission with"
                        .into(),
                ))
            }
            (None, _) => None,
        };
        let how = CapturedBuild {
            package: package.map(str::to_string),
            target_dir: Some(target.clone()),
            offline: self.offline,
            limit: self.limit,
            sandbox,
            contain: Containment {
                memory_limit: Some(BUILD_MEMORY),
                max_tasks: Some(BUILD_TASKS),
                // A build may use every core: builds are the grader's work, not a test.
                max_cpus: Some(std::thread::available_parallelism().map_or(2, |n| n.get() as u32)),
                ..Containment::default()
            },
        };
        let built = cargo::build_captured(&scratch.src().join(within), &how)?;
        let name = built
            .file_name()
            .ok_or_else(|| fail("cargo reported a binary without a name".into()))?;
        let graded = scratch.bin().join(name);
        copy_out(&built, &target, &graded).map_err(|e| {
            fail(format!(
                "the built binary could not be taken from the build ({e})"
            ))
        })?;
        Ok(graded)
    }

    fn sandboxed(
        &self,
        sandbox: &Bwrap,
        toolchain: &Toolchain,
        scratch: &Scratch,
        within: &Path,
        uid: Option<u32>,
    ) -> SandboxedBuild {
        let mut b = Bwrap::new(sandbox.exe.clone(), uid);
        b.share_network = false;
        b.read_only_at
            .push((toolchain.sysroot.clone(), TOOLCHAIN.into()));
        b.writable_at = vec![
            (scratch.src(), SRC.into()),
            (scratch.dir().join("target"), TARGET.into()),
            (scratch.dir().join("cargo"), CARGO_HOME.into()),
        ];
        if toolchain.registry.is_dir() {
            b.read_only_at.push((
                toolchain.registry.clone(),
                format!("{CARGO_HOME}/registry").into(),
            ));
        }
        let path = format!("{TOOLCHAIN}/bin:/usr/local/bin:/usr/bin:/bin");
        b.env = vec![
            ("PATH".into(), path),
            ("HOME".into(), "/tmp".into()),
            ("LANG".into(), "C.UTF-8".into()),
            ("CARGO_HOME".into(), CARGO_HOME.into()),
            ("CARGO_TARGET_DIR".into(), TARGET.into()),
            ("CARGO_NET_OFFLINE".into(), "true".into()),
            // A one-off build gains nothing from incremental state, which only takes room.
            ("CARGO_INCREMENTAL".into(), "0".into()),
            // Nor from debug info: panics still name their file and line (that comes from
            // the panic's location, not from debug info), and compiling and linking are
            // markedly faster without it.
            ("CARGO_PROFILE_DEV_DEBUG".into(), "0".into()),
        ];
        SandboxedBuild {
            bwrap: b,
            cargo: Path::new(TOOLCHAIN).join("bin/cargo"),
            source: Path::new(SRC).join(within),
            target_inside: TARGET.into(),
            target_outside: scratch.dir().join("target"),
        }
    }
}

/// Copies the built binary `built` to `to`, refusing anything that is not a regular file
/// inside `target` once symbolic links are resolved (the build has ended: nothing can
/// change the path between the check and the copy).
fn copy_out(built: &Path, target: &Path, to: &Path) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let real = built.canonicalize()?;
    let target = target.canonicalize()?;
    if !real.starts_with(&target) || !fs::symlink_metadata(&real)?.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "it is not a file of the submission's own build",
        ));
    }
    fs::copy(&real, to)?;
    fs::set_permissions(to, fs::Permissions::from_mode(0o755))
}

/// Compiles the dependencies of `lab`'s stub (from the grader's own workspace) once, in a
/// private place at `work` (like any submission's), the way every submission's build will
/// see them; removes the stub's own artifacts so that only dependencies are shared; and
/// keeps the result in `cache`.
///
/// # Errors
/// Why the cache could not be made (the class is then built without it, only slower).
pub fn warm_deps(
    builder: &Builder,
    lab: &str,
    workspace: &Path,
    work: &Path,
    cache: &Path,
    uid: Option<u32>,
) -> Result<(), String> {
    let template = workspace.join("labs").join(lab);
    if !template.is_dir() {
        return Err(format!(
            "{} has no labs/{lab} to build",
            workspace.display()
        ));
    }
    let scratch = Scratch::create(work.to_path_buf(), builder.tmpfs)
        .map_err(|e| format!("cannot make a place for the warm-up build: {e}"))?;
    private_copy(&template, &scratch.src())?;
    if let Ok(lock) = fs::read(workspace.join("Cargo.lock")) {
        fs::write(scratch.src().join("Cargo.lock"), lock).map_err(|e| e.to_string())?;
    }
    let cold = Builder {
        deps: None,
        ..builder.clone()
    };
    cold.build(&scratch, Path::new(""), None, uid)
        .map_err(|f| format!("{}\n{}", f.summary, f.log))?;
    let built = scratch.dir().join("target");
    prune_package(&built, lab);
    let _ = fs::remove_dir_all(cache);
    copy_keeping_times(&built, cache).map_err(|e| e.to_string())
}

/// Removes from a target directory everything that belongs to package `name` (its
/// fingerprints, objects, binaries and dep-info), keeping the dependencies'.
fn prune_package(target: &Path, name: &str) {
    let ours = |file: &str| {
        let stem = file.strip_prefix("lib").unwrap_or(file);
        stem == name
            || stem.starts_with(&format!("{name}-"))
            || stem.starts_with(&format!("{name}."))
    };
    let mut stack = vec![target.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let file = entry.file_name().to_string_lossy().into_owned();
            let path = entry.path();
            if ours(&file) {
                remove_tree(&path);
                let _ = fs::remove_file(&path);
            } else if entry.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(path);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_private_copy_has_fresh_times_and_leaves_builds_and_links_alone() {
        let tmp = tempfile::tempdir().unwrap();
        let (from, to) = (tmp.path().join("from"), tmp.path().join("to"));
        fs::create_dir_all(from.join("src")).unwrap();
        fs::create_dir_all(from.join("target/debug")).unwrap();
        fs::write(
            from.join("target/CACHEDIR.TAG"),
            "Signature: 8a477f597d28d172789f06886806bc55",
        )
        .unwrap();
        fs::write(from.join("src/main.rs"), "fn main() {}").unwrap();
        fs::write(from.join("target/debug/lab1"), "old binary").unwrap();
        std::os::unix::fs::symlink("/etc/passwd", from.join("src/link")).unwrap();
        let three_days_ago = std::time::SystemTime::now() - Duration::from_secs(3 * 86400);
        fs::File::options()
            .write(true)
            .open(from.join("src/main.rs"))
            .unwrap()
            .set_modified(three_days_ago)
            .unwrap();
        fs::create_dir(&to).unwrap();
        let before = std::time::SystemTime::now() - Duration::from_secs(1);
        private_copy(&from, &to).unwrap();
        let copied = fs::metadata(to.join("src/main.rs"))
            .unwrap()
            .modified()
            .unwrap();
        assert!(copied >= before, "the copy kept the old time");
        assert!(!to.join("target").exists(), "an earlier build was copied");
        assert_eq!(
            fs::read_link(to.join("src/link")).unwrap(),
            Path::new("/etc/passwd")
        );
    }

    #[test]
    fn pruning_keeps_dependencies_only() {
        let tmp = tempfile::tempdir().unwrap();
        let t = tmp.path();
        for f in [
            "debug/lab1",
            "debug/lab1.d",
            "debug/deps/lab1-0123.d",
            "debug/deps/liblab1-0123.rlib",
            "debug/deps/libclap-99.rlib",
            "debug/.fingerprint/lab1-0123/bin-lab1",
            "debug/.fingerprint/clap-99/lib-clap",
            "debug/deps/lab10-1.d",
        ] {
            let p = t.join(f);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(p, "").unwrap();
        }
        prune_package(t, "lab1");
        assert!(t.join("debug/deps/libclap-99.rlib").exists());
        assert!(t.join("debug/.fingerprint/clap-99/lib-clap").exists());
        assert!(
            t.join("debug/deps/lab10-1.d").exists(),
            "another package was pruned"
        );
        for gone in [
            "debug/lab1",
            "debug/lab1.d",
            "debug/deps/lab1-0123.d",
            "debug/deps/liblab1-0123.rlib",
            "debug/.fingerprint/lab1-0123",
        ] {
            assert!(!t.join(gone).exists(), "{gone} is left");
        }
    }
}
