//! Lab 2 rubric, proved both ways: references and correct servers written differently
//! pass, the stub scores zero, and each buggy program fails exactly the tests meant to
//! catch its mistake.

use crate::support::*;

#[test]
fn reference_solution_gets_full_marks() {
    let g = grade_bin("lab2", &package_bin("lab2-solution"));
    g.assert_failed_exactly(&[]);
    assert_eq!(g.score(), (100, 100));
    assert_eq!(g.output.status.code(), Some(0));
}

#[test]
fn untouched_stub_scores_zero_and_names_its_todo() {
    let g = grade_bin("lab2", &package_bin("lab2"));
    assert_eq!(g.score().0, 0, "{}", g.describe());
    assert!(
        g.feedback("echo-short")
            .contains("Step 1 of handouts/lab2.md"),
        "{}",
        g.feedback("echo-short")
    );
}

#[test]
fn the_iterative_lab1_server_fails_the_concurrency_tests() {
    // Lab 1's reference: correct, but one client at a time.
    let g = grade_bin("lab2", &package_bin("lab1-solution"));
    g.assert_failed_exactly(&["stalled-client", "many-clients"]);
    assert!(g
        .feedback("stalled-client")
        .contains("stuck reading from c1"));
}

#[test]
fn one_global_lock_around_each_session_fails_the_concurrency_tests() {
    let g = grade_bin("lab2", &corpus_rust("lab2/global_lock.rs"));
    g.assert_failed_exactly(&["stalled-client", "many-clients"]);
}

#[test]
fn a_pool_of_two_threads_fails_many_clients() {
    let g = grade_bin("lab2", &corpus_rust("lab2/pool_of_two.rs"));
    g.assert_failed_exactly(&["many-clients"]);
    assert!(g
        .feedback("many-clients")
        .contains("c3 got no echo of its first byte"));
}

#[test]
fn threads_sharing_one_buffer_fail_many_clients() {
    let g = grade_bin("lab2", &corpus_rust("lab2/shared_buffer.rs"));
    g.assert_failed_exactly(&["many-clients"]);
    let feedback = g.feedback("many-clients");
    assert!(
        feedback.contains("clients' data got mixed up"),
        "{feedback}"
    );
}

#[test]
fn leaking_descriptors_fails_connection_burst() {
    if !std::path::Path::new("/proc/self/fd").exists() {
        return; // the leak is only visible through /proc
    }
    let g = grade_bin("lab2", &corpus_rust("lab2/leaks_descriptors.rs"));
    g.assert_failed_exactly(&["connection-burst"]);
    assert!(g
        .feedback("connection-burst")
        .contains("open file descriptors"));
}

#[test]
fn a_correct_python_threading_server_gets_full_marks() {
    if !require_tool("python3") {
        return;
    }
    let script = corpus("lab2/correct_threads.py");
    let g = grade("lab2", &[], &["python3", script.to_str().unwrap()]);
    g.assert_failed_exactly(&[]);
}
