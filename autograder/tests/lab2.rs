//! Lab 2 rubric, proved both ways: references and correct servers and clients written
//! differently pass, the stub scores zero, and each buggy program fails exactly the tests
//! meant to catch its mistake. Servers are graded `--only server`, clients `--only client`.

use crate::support::*;

/// A server-only program, graded on the server tests.
fn grade_server(path: &std::path::Path) -> Graded {
    grade("lab2", &["--only", "server"], &[path.to_str().unwrap()])
}

/// The corpus's Python threaded client, with one mistake (or `none`), on the client tests.
fn python_client(mistake: &str) -> Graded {
    let script = corpus("lab2/threaded_client.py");
    grade(
        "lab2",
        &["--only", "client"],
        &["python3", script.to_str().unwrap(), "--mistake", mistake],
    )
}

#[test]
fn reference_solution_gets_full_marks() {
    let g = grade_bin("lab2", &package_bin("lab2-solution"));
    g.assert_failed_exactly(&[]);
    assert_eq!(g.score(), (135, 135));
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
        graded |_| grade_server(&package_bin("lab1-solution")),
        then |g| { assert!(g.feedback("stalled-client").contains("stuck reading from c1")); };

    fn one_global_lock_around_each_session_fails_the_concurrency_tests: "global_lock.rs"
        aims at "stalled-client", fails &["stalled-client", "many-clients"],
        graded |_| grade_server(&corpus_rust("lab2/global_lock.rs"));

    fn a_pool_of_two_threads_fails_many_clients: "pool_of_two.rs"
        aims at "many-clients", fails &["many-clients"],
        graded |_| grade_server(&corpus_rust("lab2/pool_of_two.rs")),
        then |g| {
            assert!(g.feedback("many-clients").contains("c3 got no echo of its first byte"));
        };

    fn threads_sharing_one_buffer_fail_many_clients: "shared_buffer.rs"
        aims at "many-clients", fails &["many-clients"],
        graded |_| grade_server(&corpus_rust("lab2/shared_buffer.rs")),
        then |g| {
            let feedback = g.feedback("many-clients");
            assert!(feedback.contains("clients' data got mixed up"), "{feedback}");
        };

    /// The leak is visible through /proc, which the suite's Linux machines have.
    fn leaking_descriptors_fails_connection_burst: "leaks_descriptors.rs"
        aims at "connection-burst", fails &["connection-burst"],
        graded |_| grade_server(&corpus_rust("lab2/leaks_descriptors.rs")),
        then |g| { assert!(g.feedback("connection-burst").contains("open file descriptors")); };

    fn a_serial_client_fails_client_concurrent: "threaded_client.py --mistake serial"
        aims at "client-concurrent", fails &["client-concurrent"],
        needs "python3", graded |_| python_client("serial"),
        then |g| {
            let feedback = g.feedback("client-concurrent");
            assert!(feedback.contains("only 1 of"), "{feedback}");
        };

    fn a_client_that_never_compares_fails_client_mismatch: "threaded_client.py --mistake no-compare"
        aims at "client-mismatch", fails &["client-mismatch"],
        needs "python3", graded |_| python_client("no-compare"),
        then |g| {
            let feedback = g.feedback("client-mismatch");
            assert!(feedback.contains("exited with status 0 after a mismatch"), "{feedback}");
            the_test_servers_transcript_shows_the_altered_echo(&feedback);
        };

    fn a_client_exiting_0_when_refused_fails_client_refused: "threaded_client.py --mistake exit-0-refused"
        aims at "client-refused", fails &["client-refused"],
        needs "python3", graded |_| python_client("exit-0-refused");

    /// It gives up on the first short read, so it never sends the byte the mismatch test
    /// alters either.
    fn one_recv_per_chunk_fails_the_tests_that_need_every_byte: "threaded_client.py --mistake one-recv"
        aims at "client-echo", fails &["client-echo", "client-concurrent", "client-mismatch"],
        needs "python3", graded |_| python_client("one-recv"),
        then |g| { assert!(g.feedback("client-echo").contains("a difference that was not there")); };

    fn a_client_that_unwraps_fails_early_close_and_refused: "unwrapping_client.rs"
        aims at "client-early-close", fails &["client-early-close", "client-refused"],
        graded |_| grade("lab2", &["--only", "client"], &[corpus_rust("lab2/unwrapping_client.rs").to_str().unwrap()]),
        then |g| { assert!(g.feedback("client-early-close").contains("a crash: a panic")); };
}

#[test]
fn a_correct_python_threading_server_gets_full_marks() {
    if !require_tool("python3") {
        return;
    }
    let script = corpus("lab2/correct_threads.py");
    let g = grade(
        "lab2",
        &["--only", "server"],
        &["python3", script.to_str().unwrap()],
    );
    g.assert_failed_exactly(&[]);
    assert_eq!(g.score(), (100, 100));
}

#[test]
fn a_correct_python_threading_client_gets_full_marks_on_the_client_group() {
    if !require_tool("python3") {
        return;
    }
    let g = python_client("none");
    g.assert_failed_exactly(&[]);
    assert_eq!(g.score(), (35, 35));
}

#[test]
fn a_placeholder_launched_server_fails_the_client_group_clearly() {
    if !require_tool("python3") {
        return;
    }
    let script = corpus("lab2/correct_threads.py");
    let g = grade(
        "lab2",
        &["--only", "client-refused"],
        &["python3", script.to_str().unwrap(), "{port}"],
    );
    g.assert_failed_exactly(&["client-refused"]);
    assert!(g.feedback("client-refused").contains("--only server"));
}

/// A client test's transcript is the test server's record, with the roles right: each
/// connection in the record's head opens with the program's connect, its first bytes are
/// the program's (`<`),
/// and their echo goes back (`>`) with the same count; the byte the server altered on
/// purpose is kept from the middle, on the connection the failure names.
fn the_test_servers_transcript_shows_the_altered_echo(feedback: &str) {
    let lines = transcript_lines(feedback);
    assert!(!lines.is_empty(), "no transcript:\n{feedback}");
    let count = |line: &str| -> usize {
        line.split(' ')
            .nth(2)
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    // The head: the record's first events, before any left out.
    let head: Vec<&String> = lines.iter().take_while(|l| !l.starts_with('…')).collect();
    let mut compared = 0;
    for conn in (1..=4).map(|i| format!("[c{i}]")) {
        let mine: Vec<&&String> = head.iter().filter(|l| l.starts_with(&conn)).collect();
        let Some(first) = mine.first() else { continue };
        assert_eq!(
            first.as_str(),
            format!("{conn} < connect (accepted by the grader's test server)"),
            "{feedback}"
        );
        let sent = mine.iter().find(|l| l.contains(" bytes "));
        let echoed = mine
            .iter()
            .find(|l| l.contains(" > ") && l.contains(" bytes "));
        if let (Some(sent), Some(echoed)) = (sent, echoed) {
            assert!(
                sent.contains(" < "),
                "the program sends first: {sent}\n{feedback}"
            );
            assert_eq!(count(sent), count(echoed), "{sent}\n{echoed}\n{feedback}");
            assert!(count(sent) > 0, "{sent}");
            compared += 1;
        }
    }
    assert!(
        compared > 0,
        "no connection's first chunk and echo kept:\n{feedback}"
    );
    // `… the server altered byte N of connection K's echo …`
    let said = feedback.split("the server altered byte ").nth(1).unwrap();
    let (offset, rest) = said.split_once(" of connection ").unwrap();
    let connection = rest.split('\'').next().unwrap();
    let altered = format!("[c{connection}] > on purpose: altered byte {offset} of the echo");
    assert!(
        lines.iter().any(|l| l.starts_with(&altered)),
        "{altered}\n{feedback}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.ends_with("< EOF (the program closed)")),
        "{feedback}"
    );
}
