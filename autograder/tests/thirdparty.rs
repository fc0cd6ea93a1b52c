//! Programs nobody here wrote, graded as the labs' contract asks: each gets exactly the
//! score its design earns. (The FTP servers are in `thirdparty_ftp.rs` and `lab4.rs`, the
//! HTTP servers in `lab5.rs`.)

use crate::support::*;

/// socat as an echo server: a process per connection (`fork`), `cat` in each.
fn socat() -> Vec<&'static str> {
    vec![
        "socat",
        "TCP-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork",
        "EXEC:cat",
    ]
}

#[test]
fn socat_passes_labs_1_and_2_and_fails_lab_3_for_its_design() {
    if !require_tool("socat") {
        return;
    }
    grade("lab1", &[], &socat()).assert_failed_exactly(&[]);
    grade("lab2", &["--only", "server"], &socat()).assert_failed_exactly(&[]);
    // A process per client is not lab 3's model, and socat waits with select(), which
    // cannot watch descriptor 1024 or above: the scale test's client 1024 is dropped.
    let g = grade("lab3", &[], &socat());
    g.assert_failed_exactly(&["single-thread", "thousand-clients"]);
    assert!(g.feedback("single-thread").contains("child process"));
}

#[test]
fn nodes_net_echo_passes_labs_1_and_2_and_fails_only_single_thread_in_lab_3() {
    if !require_tool("node") {
        return;
    }
    let script = corpus("thirdparty/echo.js");
    let argv = ["node", script.to_str().unwrap(), "{port}"];
    grade("lab1", &[], &argv).assert_failed_exactly(&[]);
    grade("lab2", &["--only", "server"], &argv).assert_failed_exactly(&[]);
    // Its JavaScript runs on one thread, but the runtime keeps helper threads (V8's
    // platform workers), which the lab's one-thread rule counts.
    let g = grade("lab3", &[], &argv);
    g.assert_failed_exactly(&["single-thread"]);
    assert!(g.feedback("single-thread").contains("helper threads"));
}
