//! Lab 1 rubric, proved both ways.

use predicates::prelude::*;

use crate::support::*;

#[test]
fn reference_solution_gets_full_marks() {
    let g = grade_bin("lab1", &package_bin("lab1-solution"));
    g.assert_failed_exactly(&[]);
    assert_eq!(g.score(), (50, 50));
    assert_eq!(g.output.status.code(), Some(0));
}

#[test]
fn untouched_stub_scores_zero_and_names_its_todo() {
    let g = grade_bin("lab1", &package_bin("lab1"));
    assert_eq!(g.score().0, 0, "{}", g.describe());
    assert_eq!(g.output.status.code(), Some(1));
    let feedback = g.feedback("echo-short");
    assert!(
        predicate::str::contains("Step 1 of handouts/lab1.md").eval(&feedback),
        "the feedback should name the stub's first TODO:\n{feedback}"
    );
}

#[test]
fn one_read_per_client_fails_the_streaming_tests() {
    let g = grade_bin("lab1", &corpus_rust("lab1/one_read.rs"));
    g.assert_failed_exactly(&["echo-large-binary", "echo-fragments", "half-close-flush"]);
}

#[test]
fn serving_one_client_then_exiting_fails_every_test() {
    let g = grade_bin("lab1", &corpus_rust("lab1/one_client.rs"));
    // The tests with several clients see it refuse the second; the others see their one
    // exchange go right and then find the server gone: a test passes only if the program
    // still serves at its end.
    g.assert_failed_exactly(ALL_LAB1_TESTS);
    assert!(g
        .feedback("sequential-clients")
        .contains("could not connect"));
    // Found gone, or found not serving as it exits: either way, said to have exited.
    assert!(g
        .feedback("echo-short")
        .contains("exited with status 0 during the test"));
}

/// Every test of lab 1.
const ALL_LAB1_TESTS: &[&str] = &[
    "echo-short",
    "echo-large-binary",
    "echo-fragments",
    "half-close-flush",
    "sequential-clients",
    "connect-and-leave",
    "reset-mid-stream",
];

#[test]
fn dropping_the_unterminated_tail_fails_half_close_flush() {
    let g = grade_bin("lab1", &corpus_rust("lab1/drops_tail.rs"));
    // Every payload but the short text line ends without a newline, so every streaming
    // test loses its tail; the short line (which ends in one) is echoed.
    g.assert_failed_exactly(&[
        "echo-large-binary",
        "echo-fragments",
        "half-close-flush",
        "sequential-clients",
    ]);
    assert!(g
        .feedback("half-close-flush")
        .contains("the program closed the connection"));
}

#[test]
fn panicking_on_a_reset_fails_only_reset_mid_stream() {
    let g = grade_bin("lab1", &corpus_rust("lab1/panics_on_reset.rs"));
    g.assert_failed_exactly(&["reset-mid-stream"]);
    let feedback = g.feedback("reset-mid-stream");
    assert!(feedback.contains("exited with status 101"), "{feedback}");
}

#[test]
fn treating_bytes_as_text_fails_the_binary_tests() {
    let g = grade_bin("lab1", &corpus_rust("lab1/bytes_as_text.rs"));
    g.assert_failed_exactly(&[
        "echo-large-binary",
        "echo-fragments",
        "half-close-flush",
        "sequential-clients",
    ]);
    assert!(g.feedback("echo-large-binary").contains("EF BF BD"));
}

#[test]
fn ignoring_partial_writes_fails_the_slow_reader_test() {
    let g = grade_bin("lab1", &corpus_rust("lab1/ignores_partial_write.rs"));
    g.assert_failed_exactly(&["echo-large-binary"]);
    assert!(g.feedback("echo-large-binary").contains("partial write"));
}

#[test]
fn never_closing_after_eof_fails_every_test() {
    // Never closing after EOF, an iterative server stays with its first client for ever:
    // the close tests see no close, and after every other test a new client is not served.
    let g = grade_bin("lab1", &corpus_rust("lab1/never_closes.rs"));
    g.assert_failed_exactly(ALL_LAB1_TESTS);
    assert!(g.feedback("half-close-flush").contains("never closed"));
}

#[test]
fn a_correct_python_server_gets_full_marks() {
    if !require_tool("python3") {
        return;
    }
    let script = corpus("lab1/correct_echo.py");
    let g = grade("lab1", &[], &["python3", script.to_str().unwrap()]);
    g.assert_failed_exactly(&[]);
    // The same program launched with a placeholder instead of the appended `--port`.
    let g = grade(
        "lab1",
        &["--only", "echo-short"],
        &["python3", script.to_str().unwrap(), "{port}"],
    );
    g.assert_failed_exactly(&[]);
    assert_eq!(g.score(), (5, 5));
}
