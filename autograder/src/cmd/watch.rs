//! `autograder watch LAB`: re-build and re-check the lab every time a file under
//! `labs/LAB` is saved.
//!
//! How it notices a save: it polls the files' contents (a size and a hash each) every few
//! hundred milliseconds, so only a change of the code starts a run, not a write that left
//! it as it was. That is cruder than the kernel's change notifications (inotify),
//! but it works everywhere students work, including network file systems, WSL mounts of
//! Windows folders and editors that save by renaming a new file over the old one, where
//! notifications get lost. Costs stay tiny: a lab is a handful of files.
//!
//! Debouncing: an editor's "save all", a formatter on save or a `git checkout` change
//! several files within a moment; the watcher waits until the folder has been quiet for
//! one poll interval (at most [`MAX_SETTLE`]) and then runs once. A save made while a run
//! is in progress triggers the next run as soon as this one ends.
//!
//! `--manual` does no polling at all: press Enter to re-run. Enter also re-runs at once in
//! the normal mode; `q` then Enter (or end of input in manual mode) quits, as does Ctrl-C.
//!
//! Try it: `cargo run -p autograder -- watch lab1`, then save `labs/lab1/src/server.rs`.

use std::collections::BTreeMap;
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::bail;

use crate::cmd::check;
use crate::grade::rubric::Lab;
use crate::grade::runner::Options;

/// The longest a burst of saves may delay a run.
pub const MAX_SETTLE: Duration = Duration::from_secs(3);

/// How `watch` decides to run again.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Re-run only when Enter is pressed (no polling).
    pub manual: bool,
    /// How often the files are polled.
    pub poll: Duration,
}

/// What the keyboard asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Key {
    Rerun,
    Quit,
}

/// Checks `lab` now and again after every change, until the student quits.
///
/// `options` is called before each run, so that each run gets a fresh seed (unless the
/// student fixed one).
///
/// # Errors
/// If `labs/LAB` does not exist. Build failures are shown and watching goes on.
pub fn watch(
    lab: &'static Lab,
    root: &Path,
    settings: &Settings,
    mut options: impl FnMut() -> Options,
) -> anyhow::Result<()> {
    let dir = root.join("labs").join(lab.name);
    if !dir.is_dir() {
        bail!("there is no {} folder to watch", dir.display());
    }
    let keys = keyboard();
    let clear = std::io::stdout().is_terminal();
    let mut cause = String::from("first run");
    for run in 1.. {
        if clear {
            // Erase the screen and move home, so each run starts on a clean page.
            say!("\x1b[2J\x1b[H");
        }
        sayln!("[watch] run {run} ({cause})");
        let _ = std::io::stdout().flush();
        // Taken before building, so that a save during the run is not missed.
        let before = Snapshot::take(&dir);
        if let Err(e) = check::check(lab, root, &options(), None) {
            sayln!("\n{e:#}");
        }
        sayln!(
            "[watch] {}",
            if settings.manual {
                "press Enter to re-run; q then Enter (or Ctrl-C) quits".to_string()
            } else {
                format!(
                    "waiting for changes under labs/{}; Enter re-runs now, q then Enter \
                     (or Ctrl-C) quits",
                    lab.name
                )
            }
        );
        let _ = std::io::stdout().flush();
        let next = if settings.manual {
            match keys.recv() {
                Ok(Key::Rerun) => Some("Enter pressed".to_string()),
                Ok(Key::Quit) | Err(_) => None,
            }
        } else {
            wait_for_change(&dir, before, settings.poll, &keys)
        };
        match next {
            Some(why) => cause = why,
            None => break,
        }
    }
    sayln!("[watch] bye");
    Ok(())
}

/// Waits until a file under `dir` differs from `before` (then until the changes settle)
/// or a key asks for a run. `None` means quit.
fn wait_for_change(
    dir: &Path,
    before: Snapshot,
    poll: Duration,
    keys: &Receiver<Key>,
) -> Option<String> {
    let mut keyboard_open = true;
    loop {
        if keyboard_open {
            match keys.recv_timeout(poll) {
                Ok(Key::Rerun) => return Some("Enter pressed".to_string()),
                Ok(Key::Quit) => return None,
                Err(RecvTimeoutError::Timeout) => {}
                // Standard input was closed (e.g. run in the background): keep watching
                // files, which is what this mode is for.
                Err(RecvTimeoutError::Disconnected) => keyboard_open = false,
            }
        } else {
            thread::sleep(poll);
        }
        let now = Snapshot::take(dir);
        if let Some(changed) = before.first_difference(&now) {
            settle(dir, now, poll);
            return Some(format!("changed: {}", display_relative(dir, &changed)));
        }
    }
}

/// Waits until two polls in a row see the same files, or [`MAX_SETTLE`] has passed.
fn settle(dir: &Path, mut last: Snapshot, poll: Duration) {
    let deadline = Instant::now() + MAX_SETTLE;
    while Instant::now() < deadline {
        thread::sleep(poll);
        let now = Snapshot::take(dir);
        if now == last {
            return;
        }
        last = now;
    }
}

fn display_relative(dir: &Path, path: &Path) -> String {
    let lab_root = dir.parent().and_then(Path::parent).unwrap_or(dir);
    path.strip_prefix(lab_root)
        .unwrap_or(path)
        .display()
        .to_string()
}

/// Lines typed on standard input: empty → re-run, `q` → quit. The channel closes at the
/// end of input.
fn keyboard() -> Receiver<Key> {
    let (tx, rx) = mpsc::channel();
    // The thread blocks in `read` for the whole session; it is never joined, and it ends
    // with the process.
    let _ = thread::Builder::new()
        .name("watch keyboard".into())
        .spawn(move || {
            for line in std::io::stdin().lock().lines() {
                let Ok(line) = line else { break };
                let key = match line.trim() {
                    "q" | "quit" | "exit" => Key::Quit,
                    _ => Key::Rerun,
                };
                if tx.send(key).is_err() || key == Key::Quit {
                    break;
                }
            }
        });
    rx
}

/// The state of the watched files: path → (size, a hash of the contents).
///
/// Contents, not modification times: editors that save twice (format on save), a save
/// without a change and `touch` leave the code as it was, and must not start a run.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Snapshot(BTreeMap<PathBuf, (u64, u64)>);

impl Snapshot {
    /// Reads the state of every file under `dir`, skipping build output, hidden files and
    /// editor scratch files (`.x.swp`, `x~`, vim's `4913`), which change without a save.
    pub fn take(dir: &Path) -> Snapshot {
        let mut files = BTreeMap::new();
        let mut pending = vec![dir.to_path_buf()];
        while let Some(d) = pending.pop() {
            // A folder that vanished mid-walk (an editor's rename dance) is just skipped:
            // the next poll sees the settled state.
            let Ok(entries) = std::fs::read_dir(&d) else {
                continue;
            };
            for entry in entries.flatten() {
                let name = entry.file_name();
                let name = name.to_string_lossy();
                if ignored(&name) {
                    continue;
                }
                let Ok(meta) = entry.metadata() else { continue };
                if meta.is_dir() {
                    pending.push(entry.path());
                } else {
                    // A file being rewritten may read short; the next poll sees it whole.
                    let contents = std::fs::read(entry.path()).unwrap_or_default();
                    files.insert(entry.path(), (meta.len(), fnv1a(&contents)));
                }
            }
        }
        Snapshot(files)
    }

    /// A file that was added, removed or changed between `self` and `later`.
    pub fn first_difference(&self, later: &Snapshot) -> Option<PathBuf> {
        let changed_or_removed = self
            .0
            .iter()
            .find(|(path, state)| later.0.get(*path) != Some(state))
            .map(|(path, _)| path.clone());
        changed_or_removed.or_else(|| {
            later
                .0
                .keys()
                .find(|path| !self.0.contains_key(*path))
                .cloned()
        })
    }
}

/// FNV-1a: a fast hash, enough to tell an edited file from an unchanged one.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

fn ignored(name: &str) -> bool {
    name == "target"
        || name.starts_with('.')
        || name.ends_with('~')
        || name.ends_with(".swp")
        || name.ends_with(".swx")
        || name.ends_with(".tmp")
        || name == "4913"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_snapshot_sees_edits_additions_and_removals_but_not_scratch_files() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        std::fs::create_dir(&src).unwrap();
        std::fs::write(src.join("a.rs"), "fn a() {}").unwrap();
        let first = Snapshot::take(dir.path());
        assert_eq!(first, Snapshot::take(dir.path()));

        std::fs::write(src.join(".a.rs.swp"), "scratch").unwrap();
        std::fs::write(src.join("a.rs~"), "backup").unwrap();
        std::fs::create_dir(dir.path().join("target")).unwrap();
        std::fs::write(dir.path().join("target/x"), "build output").unwrap();
        assert_eq!(first.first_difference(&Snapshot::take(dir.path())), None);

        // Saved again, unchanged (format on save, `touch`): not an edit.
        std::fs::write(src.join("a.rs"), "fn a() {}").unwrap();
        let f = std::fs::File::options()
            .append(true)
            .open(src.join("a.rs"))
            .unwrap();
        f.set_modified(std::time::SystemTime::now() + Duration::from_secs(5))
            .unwrap();
        assert_eq!(first.first_difference(&Snapshot::take(dir.path())), None);

        std::fs::write(src.join("a.rs"), "fn a() { todo!() }").unwrap();
        let edited = Snapshot::take(dir.path());
        assert_eq!(first.first_difference(&edited), Some(src.join("a.rs")));

        std::fs::write(src.join("b.rs"), "").unwrap();
        let added = Snapshot::take(dir.path());
        assert_eq!(edited.first_difference(&added), Some(src.join("b.rs")));
        assert_eq!(added.first_difference(&edited), Some(src.join("b.rs")));
    }
}
