//! `--capture DIR` on `check` and `grade`: each test's packets in `DIR/TEST-ID.pcap`
//! (see [`crate::os::capture`] for how they are seen) and its I/O graph beside it,
//! `DIR/TEST-ID.svg` ([`crate::cmd::iograph`]).
//!
//! Capturing must start before the grader starts anything it grades (a thread or a
//! program started earlier would stay outside the namespace whose packets are captured),
//! and while the grader has no other thread alive (a user namespace admits only a
//! single-threaded process). The commands call [`start`] after building, which may need
//! crates.io, and before grading. Where capturing is impossible, one line says why, and grading
//! goes on as without `--capture`.

use std::path::Path;
use std::sync::Arc;

use crate::grade::runner::{Outcome, Report};
use crate::os::capture::Capture;

/// Starts capturing into `dir`, or says on standard error (one line) why it cannot;
/// `per` says what gets a file of its own ("test (tests run one at a time)").
pub fn start(dir: &Path, per: &str) -> Option<Arc<Capture>> {
    match Capture::start(dir) {
        Ok(capture) => {
            eprintln!(
                "capture: into {}/, a pcap file and its I/O graph per {per}",
                dir.display()
            );
            Some(Arc::new(capture))
        }
        Err(why) => {
            eprintln!("capture: not possible here, grading without it: {why}");
            None
        }
    }
}

/// Draws the I/O graph beside each test's capture in `report`; a graph that cannot be
/// drawn is said on standard error (the capture itself is still there).
pub fn draw_graphs(capture: &Capture, report: &Report) {
    for result in &report.results {
        let pcap = capture.dir().join(format!("{}.pcap", result.test.id));
        if !pcap.exists() {
            continue;
        }
        let verdict = match result.outcome {
            Outcome::Passed => "passed",
            Outcome::Failed(_) => "failed",
            Outcome::Skipped(_) => "skipped",
            Outcome::NotGraded(_) => "not graded",
        };
        let title = format!(
            "{} {} ({verdict}): bytes per 10 ms",
            report.lab.name, result.test.id
        );
        if let Err(e) = crate::cmd::iograph::write_beside(&pcap, &title) {
            eprintln!("capture: no I/O graph for {}: {e:#}", pcap.display());
        }
    }
}

/// Saves what was captured since `from` as `DIR/NAME.pcap` and draws its graph beside it,
/// saying on standard error where they are (or why not): for runs that are not rubric
/// tests (`bench`).
pub fn save_and_draw(capture: &Capture, name: &str, from: std::time::SystemTime, title: &str) {
    match capture.save(name, from) {
        Ok(saved) => match crate::cmd::iograph::write_beside(&saved.path, title) {
            Ok(svg) => eprintln!(
                "  capture: {} ({} packets{}), I/O graph {}",
                saved.path.display(),
                saved.frames,
                match saved.not_kept {
                    0 => String::new(),
                    n => format!(", {n} more the capture could not keep"),
                },
                svg.display()
            ),
            Err(e) => eprintln!("  capture: {} (no I/O graph: {e:#})", saved.path.display()),
        },
        Err(e) => eprintln!("  capture: {name} could not be saved: {e}"),
    }
}
