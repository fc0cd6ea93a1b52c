//! Lab 3 rubric, proved both ways: references and correct servers written differently
//! pass, the stub scores zero, and each buggy program fails exactly the tests meant to
//! catch its mistake.

use crate::support::*;

#[test]
fn reference_solution_gets_full_marks() {
    let g = grade_bin("lab3", &package_bin("lab3-solution"));
    g.assert_failed_exactly(&[]);
    assert_eq!(g.score(), (160, 160));
    assert_eq!(g.output.status.code(), Some(0));
}

#[test]
fn untouched_stub_scores_zero_and_names_its_todo() {
    let g = grade_bin("lab3", &package_bin("lab3"));
    assert_eq!(g.score().0, 0, "{}", g.describe());
    assert!(
        g.feedback("echo-short")
            .contains("Step 1 of handouts/lab3.md"),
        "{}",
        g.feedback("echo-short")
    );
}

#[test]
fn a_thread_per_client_server_fails_only_single_thread_and_the_open_files_limit() {
    // Lab 2's reference: correct for lab 2, but one thread per client, and it keeps the
    // usual limit of 1024 open files (lab 2 never needs more).
    let g = grade_bin("lab3", &package_bin("lab2-solution"));
    g.assert_failed_exactly(&["single-thread", "thousand-clients"]);
    assert!(g.feedback("single-thread").contains("threads"));
}

#[test]
fn a_correct_python_selectors_loop_gets_full_marks_and_the_same_on_select_fails_the_scale_test() {
    if !require_tool("python3") {
        return;
    }
    let script = corpus("lab3/readiness_loop.py");
    let script = script.to_str().unwrap();
    grade("lab3", &[], &["python3", script]).assert_failed_exactly(&[]);
    let g = grade("lab3", &[], &["python3", script, "--select"]);
    g.assert_failed_exactly(&["thousand-clients"]);
}

#[test]
fn a_server_that_dies_after_its_first_client_fails_the_test_it_died_in() {
    if !require_tool("python3") {
        return;
    }
    let script = corpus("lab3/readiness_loop.py");
    let g = grade(
        "lab3",
        &["--only", "echo-short"],
        &["python3", script.to_str().unwrap(), "--die-after-one"],
    );
    // The echo was right; the program was not there any more at the end of the test.
    g.assert_failed_exactly(&["echo-short"]);
    assert!(
        g.feedback("echo-short").contains("during the test"),
        "{}",
        g.describe()
    );
}

#[test]
fn a_server_that_keeps_the_usual_open_files_limit_fails_the_scale_test() {
    if !require_tool("python3") {
        return;
    }
    let script = corpus("lab3/correct_asyncio.py");
    let g = grade(
        "lab3",
        &[],
        &["python3", script.to_str().unwrap(), "--keep-file-limit"],
    );
    g.assert_failed_exactly(&["thousand-clients"]);
    assert!(g.feedback("thousand-clients").contains("RLIMIT_NOFILE"));
}

#[test]
fn a_busy_polling_loop_fails_idle_cpu() {
    if !require_tool("python3") {
        return;
    }
    let g = grade(
        "lab3",
        &[],
        &["python3", corpus("lab3/busy_poll.py").to_str().unwrap()],
    );
    g.assert_failed_exactly(&["idle-cpu"]);
}

#[test]
fn a_blocking_send_in_the_loop_fails_the_tests_with_a_client_that_does_not_read() {
    if !require_tool("python3") {
        return;
    }
    let g = grade(
        "lab3",
        &[],
        &["python3", corpus("lab3/blocking_send.py").to_str().unwrap()],
    );
    // Both tests have a client that does not read for a while: the loop, stuck in the
    // send to that client, serves nobody else.
    g.assert_failed_exactly(&["many-clients", "non-reading-client"]);
}

#[test]
fn unbounded_buffering_fails_bounded_memory() {
    if !require_tool("python3") {
        return;
    }
    let g = grade(
        "lab3",
        &[],
        &[
            "python3",
            corpus("lab3/unbounded_buffer.py").to_str().unwrap(),
        ],
    );
    g.assert_failed_exactly(&["bounded-memory"]);
    assert!(g.feedback("bounded-memory").contains("memory grew by"));
}

#[test]
fn a_correct_python_asyncio_server_gets_full_marks() {
    if !require_tool("python3") {
        return;
    }
    let script = corpus("lab3/correct_asyncio.py");
    let g = grade("lab3", &[], &["python3", script.to_str().unwrap()]);
    g.assert_failed_exactly(&[]);
}
