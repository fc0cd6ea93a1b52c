//! Lab 3 rubric, proved both ways: references and correct servers written differently
//! pass, the stub scores zero, and each buggy program fails exactly the tests meant to
//! catch its mistake.

use crate::support::*;

#[test]
fn reference_solution_gets_full_marks() {
    let g = grade_bin("lab3", &package_bin("lab3-solution"));
    g.assert_failed_exactly(&[]);
    assert_eq!(g.score(), (160, 160));
    g.assert_status(0);
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
    g.assert_golden("lab3", "untouched_stub_scores_zero_and_names_its_todo");
}

/// The readiness loop in Python with `flag` switched on.
fn readiness_loop(flag: &str) -> Graded {
    let script = corpus("lab3/readiness_loop.py");
    grade("lab3", &[], &["python3", script.to_str().unwrap(), flag])
}

#[test]
fn a_correct_python_selectors_loop_gets_full_marks() {
    let script = corpus("lab3/readiness_loop.py");
    grade("lab3", &[], &["python3", script.to_str().unwrap()]).assert_failed_exactly(&[]);
}

mutants! { "lab3":
    /// Lab 2's reference: correct for lab 2, but one thread per client, and it keeps the
    /// usual limit of 1024 open files (lab 2 never needs more).
    fn a_thread_per_client_server_fails_only_single_thread_and_the_open_files_limit:
        "lab2-solution" aims at "single-thread", fails &["single-thread", "thousand-clients"],
        graded |_| grade_bin("lab3", &package_bin("lab2-solution")),
        then |g| { assert!(g.feedback("single-thread").contains("threads")); };

    fn the_same_loop_on_select_fails_the_scale_test: "readiness_loop.py --select"
        aims at "thousand-clients", fails &["thousand-clients"],
        graded |_| readiness_loop("--select");

    /// The echo was right; the program was not there any more at the end of the test.
    fn a_server_that_dies_after_its_first_client_fails_the_test_it_died_in:
        "readiness_loop.py --die-after-one" aims at "echo-short", fails &["echo-short"],
        graded |_| {
            let script = corpus("lab3/readiness_loop.py");
            grade(
                "lab3",
                &["--only", "echo-short"],
                &["python3", script.to_str().unwrap(), "--die-after-one"],
            )
        },
        then |g| { assert!(g.feedback("echo-short").contains("during the test"), "{}", g.describe()); };

    fn a_server_that_keeps_the_usual_open_files_limit_fails_the_scale_test:
        "correct_asyncio.py --keep-file-limit" aims at "thousand-clients",
        fails &["thousand-clients"],
        graded |_| {
            let script = corpus("lab3/correct_asyncio.py");
            grade("lab3", &[], &["python3", script.to_str().unwrap(), "--keep-file-limit"])
        },
        then |g| { assert!(g.feedback("thousand-clients").contains("RLIMIT_NOFILE")); };

    fn a_busy_polling_loop_fails_idle_cpu: "busy_poll.py" aims at "idle-cpu", fails &["idle-cpu"],
        graded |_| grade("lab3", &[], &["python3", corpus("lab3/busy_poll.py").to_str().unwrap()]);

    /// Both tests have a client that does not read for a while: the loop, stuck in the
    /// send to that client, serves nobody else.
    fn a_blocking_send_in_the_loop_fails_the_tests_with_a_client_that_does_not_read:
        "blocking_send.py" aims at "non-reading-client",
        fails &["many-clients", "non-reading-client"],
        graded |_| grade("lab3", &[], &["python3", corpus("lab3/blocking_send.py").to_str().unwrap()]);

    /// Its output is queued while the client is slow; closing at the read of 0 loses it.
    /// (Short exchanges that half-close at once lose theirs when the loop happens to read
    /// the bytes and the 0 in one go, so the tests made of them are left out here.)
    fn closing_at_eof_with_output_pending_fails_half_close_flush: "readiness_loop.py --close-at-eof"
        aims at "half-close-flush", fails &["half-close-flush"],
        graded |_| {
            let script = corpus("lab3/readiness_loop.py");
            grade(
                "lab3",
                &["--only", "half-close-flush,echo-short,echo-large-binary,many-clients"],
                &["python3", script.to_str().unwrap(), "--close-at-eof"],
            )
        },
        then |g| {
            let feedback = g.feedback("half-close-flush");
            assert!(feedback.contains("received only the first"), "{feedback}");
        };

    fn unbounded_buffering_fails_bounded_memory: "unbounded_buffer.py"
        aims at "bounded-memory", fails &["bounded-memory"],
        graded |_| grade("lab3", &[], &["python3", corpus("lab3/unbounded_buffer.py").to_str().unwrap()]),
        then |g| { assert!(g.feedback("bounded-memory").contains("memory grew by")); };
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
