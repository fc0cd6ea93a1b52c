//! Finding the workspace and building a lab's package with cargo.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context};

/// The netlabs workspace root: `$NETLABS_ROOT`, else the nearest ancestor of the current
/// directory that holds the workspace `Cargo.toml` and `labs/`, else the workspace this
/// autograder was built from.
///
/// # Errors
/// If none of these exists.
pub fn workspace_root() -> anyhow::Result<PathBuf> {
    if let Some(root) = std::env::var_os("NETLABS_ROOT") {
        return Ok(PathBuf::from(root));
    }
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    for dir in cwd.ancestors() {
        if is_workspace(dir) {
            return Ok(dir.to_path_buf());
        }
    }
    let built_from = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    if is_workspace(&built_from) {
        return Ok(built_from.canonicalize().unwrap_or(built_from));
    }
    bail!("cannot find the netlabs workspace: run this inside it, or set NETLABS_ROOT")
}

fn is_workspace(dir: &Path) -> bool {
    dir.join("labs").is_dir()
        && std::fs::read_to_string(dir.join("Cargo.toml"))
            .map(|t| t.contains("[workspace]"))
            .unwrap_or(false)
}

/// Builds binary `package` of the workspace at `root` and returns the executable's path.
///
/// The compiler's messages go to our standard error as they come, so a student sees their
/// errors exactly as `cargo build` shows them.
///
/// # Errors
/// If cargo cannot run or the build fails.
pub fn build(root: &Path, package: &str, release: bool) -> anyhow::Result<PathBuf> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(root)
        .args(["build", "--package", package, "--bin", package])
        .arg("--message-format=json-render-diagnostics")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    if release {
        cmd.arg("--release");
    }
    let mut child = cmd
        .spawn()
        .context("cannot run cargo (is Rust installed?)")?;
    let stdout = child.stdout.take().context("no cargo stdout")?;
    let mut executable = None;
    for line in BufReader::new(stdout).lines() {
        let Ok(line) = line else { break };
        let Ok(msg) = serde_json::from_str::<serde_json::Value>(&line) else {
            continue;
        };
        if msg["reason"] == "compiler-artifact" && msg["target"]["name"] == package {
            if let Some(exe) = msg["executable"].as_str() {
                executable = Some(PathBuf::from(exe));
            }
        }
    }
    let status = child.wait().context("cargo did not finish")?;
    if !status.success() {
        bail!("`cargo build -p {package}` failed: fix the compiler errors above, then run again");
    }
    executable.with_context(|| format!("cargo built {package} but reported no executable"))
}

/// What [`build_captured`] should build, and how.
#[derive(Debug, Clone)]
pub struct CapturedBuild {
    /// The package to build, or `None` for the package (or workspace) at the directory.
    pub package: Option<String>,
    /// Cargo's target directory (`None`: cargo's default, `target/` in the directory).
    pub target_dir: Option<PathBuf>,
    /// Pass `--offline` (no network: only dependencies already downloaded).
    pub offline: bool,
    /// Kill the build (its whole process group) after this long.
    pub limit: std::time::Duration,
    /// Build inside this sandbox (see `batch::build`), else as this process.
    pub sandbox: Option<SandboxedBuild>,
    /// Limits on the build's memory and processes.
    pub contain: crate::os::sandbox::Containment,
}

/// How a build runs in a sandbox: which cargo, and where the folders are inside.
#[derive(Debug, Clone)]
pub struct SandboxedBuild {
    /// The sandbox, with its binds.
    pub bwrap: crate::os::sandbox::Bwrap,
    /// The cargo executable (a path the sandbox sees).
    pub cargo: PathBuf,
    /// Where the package is, inside.
    pub source: PathBuf,
    /// Cargo's target directory inside, and where it is outside.
    pub target_inside: PathBuf,
    /// The same directory, outside.
    pub target_outside: PathBuf,
}

/// Why a captured build produced no executable.
#[derive(Debug)]
pub struct BuildFailure {
    /// One sentence.
    pub summary: String,
    /// The compiler's messages (bounded in size).
    pub log: String,
}

/// Keep this much of a build's messages: the first errors are the useful ones.
const BUILD_LOG_BYTES: usize = 48 * 1024;

/// Builds the binary of the Cargo package or workspace at `dir` without printing anything,
/// within a time limit, for untrusted code (a batch of submissions).
///
/// Cargo runs in a process group of its own (see `sandbox::spawn_contained`), and is
/// killed with everything it started (build scripts, rustc) when the limit passes. The
/// executable is the `bin` target named like the package when there are several.
///
/// # Errors
/// A [`BuildFailure`] with the compiler's messages when the build fails, times out, or
/// produces no single binary.
pub fn build_captured(dir: &Path, how: &CapturedBuild) -> Result<PathBuf, BuildFailure> {
    let fail = |summary: String, log: String| BuildFailure { summary, log };
    let mut args: Vec<String> = vec![
        "build".into(),
        "--message-format=json-render-diagnostics".into(),
    ];
    if let Some(package) = &how.package {
        args.extend([
            "--package".into(),
            package.clone(),
            "--bin".into(),
            package.clone(),
        ]);
    }
    if how.offline || how.sandbox.is_some() {
        args.push("--offline".into());
    }
    let mut cmd = match &how.sandbox {
        Some(sb) => {
            let mut argv = vec![sb.cargo.to_string_lossy().into_owned()];
            argv.extend(args);
            sb.bwrap.command(&argv, &sb.source)
        }
        None => {
            let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
            let mut cmd = Command::new(cargo);
            cmd.current_dir(dir).args(args);
            if let Some(target) = &how.target_dir {
                cmd.env("CARGO_TARGET_DIR", target);
            }
            cmd
        }
    };
    cmd.env("CARGO_TERM_COLOR", "never")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let (mut child, _guard) = crate::os::sandbox::spawn_contained(&mut cmd, false, &how.contain)
        .map_err(|e| {
            fail(
                format!("cannot run cargo (is Rust installed?): {e}"),
                String::new(),
            )
        })?;
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    // Read both pipes on their own threads: a build blocked on a full pipe would look hung.
    let artifacts = std::thread::spawn(move || {
        let mut bins: Vec<(String, PathBuf)> = Vec::new();
        let mut package_name = None;
        for line in stdout.into_iter().flat_map(|s| BufReader::new(s).lines()) {
            let Ok(line) = line else { break };
            let Ok(msg) = serde_json::from_str::<serde_json::Value>(&line) else {
                continue;
            };
            if msg["reason"] != "compiler-artifact" {
                continue;
            }
            let is_bin = msg["target"]["kind"]
                .as_array()
                .is_some_and(|k| k.iter().any(|k| k == "bin"));
            if let (true, Some(exe), Some(name)) = (
                is_bin,
                msg["executable"].as_str(),
                msg["target"]["name"].as_str(),
            ) {
                bins.push((name.to_string(), PathBuf::from(exe)));
                // "path+file:///…/name#0.1.0" or "name 0.1.0 (path+…)": the name either way.
                package_name = msg["package_id"].as_str().map(|id| {
                    let id = id.rsplit('/').next().unwrap_or(id);
                    id.split(['#', ' ', '@']).next().unwrap_or(id).to_string()
                });
            }
        }
        (bins, package_name)
    });
    let log = std::thread::spawn(move || {
        let mut kept = Vec::new();
        let mut total = 0usize;
        if let Some(mut pipe) = stderr {
            let mut buf = [0u8; 8192];
            while let Ok(n) = std::io::Read::read(&mut pipe, &mut buf) {
                if n == 0 {
                    break;
                }
                total += n;
                let room = BUILD_LOG_BYTES.saturating_sub(kept.len());
                kept.extend_from_slice(&buf[..n.min(room)]);
            }
        }
        let mut text = String::from_utf8_lossy(&kept).into_owned();
        if total > kept.len() {
            text.push_str("\n[… later messages not shown]\n");
        }
        text
    });
    let deadline = std::time::Instant::now() + how.limit;
    let (status, killed) = crate::os::sandbox::wait_contained(&mut child, deadline);
    let log = log.join().unwrap_or_default();
    let (mut bins, package_name) = artifacts.join().unwrap_or_default();
    if let Some(sb) = &how.sandbox {
        // Cargo named paths inside the sandbox; only those under its target are ours.
        bins.retain_mut(|(_, exe)| match exe.strip_prefix(&sb.target_inside) {
            Ok(rest) => {
                *exe = sb.target_outside.join(rest);
                true
            }
            Err(_) => false,
        });
    }
    if killed {
        return Err(fail(
            format!(
                "the build did not finish within {} s and was stopped",
                how.limit.as_secs()
            ),
            log,
        ));
    }
    if !status.is_some_and(|s| s.success()) {
        return Err(fail("the build failed (cargo build)".into(), log));
    }
    let chosen = match bins.as_slice() {
        [(_, exe)] => Some(exe.clone()),
        _ => bins
            .iter()
            .find(|(name, _)| {
                Some(name) == how.package.as_ref() || Some(name) == package_name.as_ref()
            })
            .map(|(_, exe)| exe.clone()),
    };
    chosen.ok_or_else(|| {
        let names: Vec<&str> = bins.iter().map(|(n, _)| n.as_str()).collect();
        fail(
            if names.is_empty() {
                "the build succeeded but produced no binary (is there a src/main.rs?)".into()
            } else {
                format!(
                    "the build produced several binaries ({}) and none is named like the package",
                    names.join(", ")
                )
            },
            log,
        )
    })
}
