//! Lab 2 rubric, proved both ways: references and correct servers written differently
//! pass, the stub scores zero, and each buggy program fails exactly the tests meant to
//! catch its mistake.

use crate::support::*;

#[test]
fn reference_solution_gets_full_marks() {
    let g = grade_bin("lab2", &package_bin("lab2-solution"));
    g.assert_failed_exactly(&[]);
    assert_eq!(g.score(), (100, 100));
    g.assert_status(0);
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
    g.assert_golden("lab2", "untouched_stub_scores_zero_and_names_its_todo");
}

mutants! { "lab2":
    /// Lab 1's reference: correct, but one client at a time.
    fn the_iterative_lab1_server_fails_the_concurrency_tests: "lab1-solution"
        aims at "stalled-client", fails &["stalled-client", "many-clients"],
        graded |_| grade_bin("lab2", &package_bin("lab1-solution")),
        then |g| { assert!(g.feedback("stalled-client").contains("stuck reading from c1")); };

    fn one_global_lock_around_each_session_fails_the_concurrency_tests: "global_lock.rs"
        aims at "stalled-client", fails &["stalled-client", "many-clients"],
        graded |_| grade_bin("lab2", &corpus_rust("lab2/global_lock.rs"));

    fn a_pool_of_two_threads_fails_many_clients: "pool_of_two.rs"
        aims at "many-clients", fails &["many-clients"],
        graded |_| grade_bin("lab2", &corpus_rust("lab2/pool_of_two.rs")),
        then |g| {
            assert!(g.feedback("many-clients").contains("c3 got no echo of its first byte"));
        };

    fn threads_sharing_one_buffer_fail_many_clients: "shared_buffer.rs"
        aims at "many-clients", fails &["many-clients"],
        graded |_| grade_bin("lab2", &corpus_rust("lab2/shared_buffer.rs")),
        then |g| {
            let feedback = g.feedback("many-clients");
            assert!(feedback.contains("clients' data got mixed up"), "{feedback}");
        };

    /// The leak is visible through /proc, which the suite's Linux machines have.
    fn leaking_descriptors_fails_connection_burst: "leaks_descriptors.rs"
        aims at "connection-burst", fails &["connection-burst"],
        graded |_| grade_bin("lab2", &corpus_rust("lab2/leaks_descriptors.rs")),
        then |g| { assert!(g.feedback("connection-burst").contains("open file descriptors")); };
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
