//! `--capture DIR` on `check` and `grade`: each test's packets in `DIR/TEST-ID.pcap`
//! (see [`crate::os::capture`] for how they are seen) and its I/O graph beside it,
//! `DIR/TEST-ID.svg` ([`crate::cmd::iograph`]).
//!
//! Capturing must start before the grader starts anything (a thread or program started
//! earlier would stay outside the namespace whose packets are captured), so the commands
//! call [`start`] first. Where capturing is impossible, one line says why, and grading
//! goes on as without `--capture`.

use std::path::Path;
use std::sync::Arc;

use crate::grade::runner::{Outcome, Report};
use crate::os::capture::Capture;

/// Starts capturing into `dir`, or says on standard error (one line) why it cannot.
pub fn start(dir: &Path) -> Option<Arc<Capture>> {
    match Capture::start(dir) {
        Ok(capture) => {
            eprintln!(
                "capture: each test's packets go to {}/TEST.pcap, its I/O graph to TEST.svg (tests run one at a time)",
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
