//! Lab 4 rubric, proved both ways, and the reference checked with real FTP clients.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::*;

const SERVER_TESTS: &[&str] = &[
    "greeting-login",
    "retr-pasv",
    "retr-epsv",
    "stor",
    "list-nlst",
    "directories",
    "not-logged-in",
    "error-replies",
    "jail",
    "concurrent-sessions",
    "fragments",
    "vanishing-client",
    "stalled-transfers",
];

fn python_server(mistake: &str) -> Graded {
    let script = corpus("lab4/ftpd.py");
    grade(
        "lab4",
        &["--only", "server"],
        &["python3", script.to_str().unwrap(), "--mistake", mistake],
    )
}

fn python_client(mistake: &str) -> Graded {
    let script = corpus("lab4/ftp_client.py");
    grade(
        "lab4",
        &["--only", "client"],
        &["python3", script.to_str().unwrap(), "--mistake", mistake],
    )
}

#[test]
fn reference_solution_gets_full_marks() {
    let g = grade_bin("lab4", &package_bin("lab4-solution"));
    g.assert_failed_exactly(&[]);
    assert_eq!(g.score(), (135, 135));
}

#[test]
fn untouched_stub_scores_zero_and_names_its_todo() {
    let g = grade_bin("lab4", &package_bin("lab4"));
    assert_eq!(g.score().0, 0, "{}", g.describe());
    let feedback = g.feedback("greeting-login");
    // The server stops at the first `todo!()` it reaches: Step 2's accept loop (Step 1,
    // the wire format, has no code path of its own before it).
    assert!(
        feedback.contains("Step 2 of handouts/lab4.md"),
        "the feedback should name the TODO the server stopped at:\n{feedback}"
    );
    g.assert_golden("lab4", "untouched_stub_scores_zero_and_names_its_todo");
}

#[test]
fn pyftpdlib_gets_full_marks_on_the_server_group() {
    if !require_tool("python3") || !python_has("pyftpdlib") {
        return;
    }
    let g = grade(
        "lab4",
        &["--only", "server"],
        &[
            "python3",
            "-m",
            "pyftpdlib",
            "--port",
            "{port}",
            "--directory",
            "{root}",
            "--write",
            "--interface",
            "127.0.0.1",
        ],
    );
    g.assert_failed_exactly(&[]);
    assert_eq!(g.score(), (95, 95));
}

#[test]
fn pass_before_user_may_be_refused_with_503_or_530() {
    if !require_tool("python3") {
        return;
    }
    // pure-ftpd answers 530 where the reference answers 503: RFC 959 allows both.
    python_server("pass-530").assert_failed_exactly(&[]);
}

#[test]
fn a_placeholder_launched_server_fails_the_client_group_clearly() {
    if !require_tool("python3") {
        return;
    }
    let g = grade(
        "lab4",
        &["--only", "client-missing"],
        &[
            "python3",
            "-m",
            "pyftpdlib",
            "--port",
            "{port}",
            "--directory",
            "{root}",
        ],
    );
    g.assert_failed_exactly(&["client-missing"]);
    assert!(g.feedback("client-missing").contains("--only server"));
}

#[test]
fn a_correct_python_server_and_ftplib_client_get_full_marks() {
    if !require_tool("python3") {
        return;
    }
    python_server("none").assert_failed_exactly(&[]);
    python_client("none").assert_failed_exactly(&[]);
}

/// The tests that open a data connection with PASV.
const USES_PASV: &[&str] = &[
    "retr-pasv",
    "stor",
    "list-nlst",
    "directories",
    "concurrent-sessions",
    "vanishing-client",
];

/// The tests that open a data connection with EPSV.
const USES_EPSV: &[&str] = &[
    "retr-epsv",
    "stor",
    "list-nlst",
    "directories",
    "error-replies",
    "jail",
    "concurrent-sessions",
    "vanishing-client",
    "stalled-transfers",
];

mutants! { "lab4":
    fn a_server_ending_replies_in_lf_fails_every_server_test: "ftpd.py --mistake lf-endings"
        aims at "greeting-login", fails SERVER_TESTS,
        needs "python3", graded |_| python_server("lf-endings"),
        then |g| { assert!(g.feedback("greeting-login").contains("bare LF")); };

    /// Linux routes 0.0.0.0 to the local machine, so only the address check catches it.
    fn a_server_announcing_its_wildcard_address_fails_the_pasv_tests:
        "ftpd.py --mistake pasv-wildcard" aims at "retr-pasv", fails USES_PASV,
        needs "python3", graded |_| python_server("pasv-wildcard"),
        then |g| { assert!(g.feedback("retr-pasv").contains("names 0.0.0.0"), "{}", g.describe()); };

    fn a_server_filling_in_the_epsv_address_fails_the_epsv_tests:
        "ftpd.py --mistake epsv-address" aims at "retr-epsv", fails USES_EPSV,
        needs "python3", graded |_| python_server("epsv-address"),
        then |g| { assert!(g.feedback("retr-epsv").contains("must be blank"), "{}", g.describe()); };

    fn a_server_translating_line_endings_on_upload_fails_the_upload_tests:
        "ftpd.py --mistake stor-text" aims at "stor",
        fails &["stor", "directories", "stalled-transfers"],
        needs "python3", graded |_| python_server("stor-text");

    fn a_server_that_does_not_truncate_fails_stor: "ftpd.py --mistake stor-no-truncate"
        aims at "stor", fails &["stor"],
        needs "python3", graded |_| python_server("stor-no-truncate"),
        then |g| { assert!(g.feedback("stor").contains("stored over a larger file"), "{}", g.describe()); };

    fn a_server_answering_nlst_with_long_lines_fails_list_nlst: "ftpd.py --mistake nlst-long"
        aims at "list-nlst", fails &["list-nlst"],
        needs "python3", graded |_| python_server("nlst-long");

    /// Without normalisation, CDUP also leaves "/sub/.." as the current directory.
    fn a_server_that_joins_paths_unchecked_fails_jail: "ftpd.py --mistake path-escape"
        aims at "jail", fails &["directories", "jail"],
        needs "python3", graded |_| python_server("path-escape"),
        then |g| { assert!(g.feedback("jail").contains("outside the root"), "{}", g.feedback("jail")); };

    fn a_server_that_lets_cwd_enter_a_file_fails_directories: "ftpd.py --mistake cwd-file"
        aims at "directories", fails &["directories"],
        needs "python3", graded |_| python_server("cwd-file");

    fn a_server_accepting_pass_without_user_fails_not_logged_in: "ftpd.py --mistake pass-first"
        aims at "not-logged-in", fails &["not-logged-in"],
        needs "python3", graded |_| python_server("pass-first"),
        then |g| { assert!(g.feedback("not-logged-in").contains("RFC 959"), "{}", g.describe()); };

    fn a_server_creating_existing_directories_fails_error_replies:
        "ftpd.py --mistake mkd-exist-ok" aims at "error-replies", fails &["error-replies"],
        needs "python3", graded |_| python_server("mkd-exist-ok");

    /// The second session is not greeted while the first is served, so the stalls of
    /// `stalled-transfers` cannot even begin.
    fn a_server_with_one_session_at_a_time_fails_the_concurrency_tests:
        "ftpd.py --mistake one-session" aims at "concurrent-sessions",
        fails &["concurrent-sessions", "stalled-transfers"],
        needs "python3", graded |_| python_server("one-session");

    fn a_server_taking_each_read_as_a_command_fails_fragments: "ftpd.py --mistake one-recv"
        aims at "fragments", fails &["fragments"],
        needs "python3", graded |_| python_server("one-recv");

    /// Two resets kill both pool threads; and stalled downloads occupy them just as well.
    fn a_transfer_pool_whose_workers_die_on_errors_fails_vanishing_client:
        "ftpd.py --mistake transfer-pool" aims at "vanishing-client",
        fails &["vanishing-client", "stalled-transfers"],
        needs "python3", graded |_| python_server("transfer-pool");

    /// One blocked worker is enough here: it was the one polling the sockets (tokio hands
    /// a woken task to the worker that parked last, the one holding the I/O driver), and
    /// the idle workers sleep until someone wakes them. So `concurrent-sessions`, with
    /// its one stalled download, fails too; uploads (below) it never stalls.
    fn sendfile_in_a_task_fails_the_stalled_download_tests:
        "lab4-solution + blocking_send_file.diff" aims at "stalled-transfers",
        fails &["concurrent-sessions", "stalled-transfers"],
        needs "git", graded |_| grade_bin("lab4", &patched_solution("lab4/blocking_send_file.diff")),
        then |g| {
            let feedback = g.feedback("stalled-transfers");
            assert!(feedback.contains("stalled (RETR"), "{feedback}");
            assert!(feedback.contains("only after the grader had resumed"), "{feedback}");
        };

    fn a_blocking_std_copy_in_a_task_fails_only_stalled_transfers:
        "lab4-solution + blocking_receive.diff"
        aims at "stalled-transfers", fails &["stalled-transfers"],
        needs "git", graded |_| grade_bin("lab4", &patched_solution("lab4/blocking_receive.diff")),
        then |g| {
            let feedback = g.feedback("stalled-transfers");
            assert!(feedback.contains("stalled (STOR"), "{feedback}");
            assert!(feedback.contains("only after the grader had resumed"), "{feedback}");
        };

    fn a_client_in_ascii_type_fails_the_binary_transfers: "ftp_client.py --mistake ascii"
        aims at "client-get", fails &["client-get", "client-put", "client-concurrent"],
        needs "python3", graded |_| python_client("ascii"),
        then |g| { assert!(g.feedback("client-get").contains("TYPE I")); };

    /// The test server waits 15 s for the end of each upload before it gives up.
    fn a_client_that_never_closes_its_upload_fails_client_put: "ftp_client.py --mistake put-no-close"
        aims at "client-put", fails &["client-put"],
        needs "python3", graded |_| python_client("put-no-close"),
        then |g| { assert!(g.feedback("client-put").contains("stayed open and silent"), "{}", g.describe()); };

    fn a_client_ignoring_the_ls_argument_fails_client_ls: "ftp_client.py --mistake ls-ignores-dir"
        aims at "client-ls", fails &["client-ls"],
        needs "python3", graded |_| python_client("ls-ignores-dir"),
        then |g| { the_test_servers_transcript_shows_the_listing(&g.feedback("client-ls")); };

    fn a_client_exiting_0_after_a_550_fails_client_missing:
        "ftp_client.py --mistake missing-exit-0" aims at "client-missing", fails &["client-missing"],
        needs "python3", graded |_| python_client("missing-exit-0");

    fn a_client_transferring_one_file_after_another_fails_client_concurrent:
        "ftp_client.py --mistake sequential" aims at "client-concurrent", fails &["client-concurrent"],
        needs "python3", graded |_| python_client("sequential");
}

pub(crate) fn python_has(module: &str) -> bool {
    let ok = Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "python3 module `{module}` is required under CI"
        );
        eprintln!("skipped: python3 module `{module}` is not installed");
    }
    ok
}

/// The reference server on a free port, serving `root`; killed when dropped.
struct Reference {
    child: Child,
    port: u16,
}

impl Reference {
    fn start(root: &Path) -> Reference {
        Reference::start_with(root, &[])
    }

    fn start_with(root: &Path, extra: &[&str]) -> Reference {
        let exe = package_bin("lab4-solution");
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(exe)
            .args(["server", "--port", &port.to_string(), "--root"])
            .arg(root)
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        // Readiness: the greeting arrives (a real client of ours, served like any other).
        loop {
            if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
                let mut b = [0u8; 3];
                if s.read_exact(&mut b).is_ok() && &b == b"220" {
                    break;
                }
            }
            assert!(Instant::now() < deadline, "the reference never greeted");
            std::thread::sleep(Duration::from_millis(20));
        }
        Reference { child, port }
    }
}

impl Drop for Reference {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn curl_downloads_uploads_and_lists_with_the_reference() {
    if !require_tool("curl") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    std::fs::create_dir(&root).unwrap();
    let payload: Vec<u8> = (0..2_000_000u64).map(|i| (i * 7919 % 251) as u8).collect();
    std::fs::write(root.join("data.bin"), &payload).unwrap();
    let server = Reference::start(&root);
    let url = format!("ftp://127.0.0.1:{}/", server.port);
    let got = dir.path().join("got.bin");
    for extra in [&[][..], &["--disable-epsv"][..]] {
        Command::new("curl")
            .args(["-sS", "--max-time", "20"])
            .args(extra)
            .arg(format!("{url}data.bin"))
            .arg("-o")
            .arg(&got)
            .success();
        assert_eq!(std::fs::read(&got).unwrap(), payload, "curl {extra:?}");
    }
    Command::new("curl")
        .args(["-sS", "--max-time", "20", "-T"])
        .arg(&got)
        .arg(format!("{url}uploaded.bin"))
        .success();
    assert_eq!(std::fs::read(root.join("uploaded.bin")).unwrap(), payload);
    let list = Command::new("curl")
        .args(["-sS", "--max-time", "20", &url])
        .success();
    let text = list.stdout();
    assert!(
        text.contains("data.bin") && text.contains("uploaded.bin"),
        "{list}"
    );
    Command::new("curl")
        .args(["-sS", "--max-time", "20", &format!("{url}missing.bin")])
        .failure();
}

#[test]
fn python_ftplib_works_with_the_reference() {
    if !require_tool("python3") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("hello.txt"), b"hello\n").unwrap();
    let server = Reference::start(dir.path());
    let script = format!(
        r#"
import ftplib, io
f = ftplib.FTP(); f.connect('127.0.0.1', {port}, timeout=20); f.login()
assert f.nlst() == ['hello.txt'], f.nlst()
buf = io.BytesIO(); f.retrbinary('RETR hello.txt', buf.write); assert buf.getvalue() == b'hello\n'
data = bytes(range(256)) * 4000
f.storbinary('STOR up.bin', io.BytesIO(data)); assert f.size('up.bin') == len(data)
f.mkd('sub'); f.cwd('sub'); assert f.pwd() == '/sub'; f.cwd('..')
lines = []; f.retrlines('LIST', lines.append); assert any(l.endswith(' up.bin') for l in lines), lines
try:
    f.retrbinary('RETR ../etc/passwd', print); raise SystemExit('escaped')
except ftplib.error_perm as e:
    assert str(e).startswith('550'), e
f.quit()
"#,
        port = server.port
    );
    Command::new("python3").args(["-c", &script]).success();
    let stored = std::fs::read(dir.path().join("up.bin")).unwrap();
    assert_eq!(stored.len(), 256 * 4000);
}

/// Reads one reply's first line from a raw control connection.
fn reply(s: &mut TcpStream) -> String {
    let mut line = Vec::new();
    let mut b = [0u8; 1];
    while !line.ends_with(b"\r\n") {
        assert_eq!(s.read(&mut b).unwrap(), 1, "closed after {line:?}");
        line.push(b[0]);
    }
    String::from_utf8_lossy(&line).into_owned()
}

#[test]
fn the_reference_leaves_no_partial_file_when_an_upload_is_reset() {
    let dir = tempfile::tempdir().unwrap();
    let server = Reference::start(dir.path());
    let mut c = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    while !reply(&mut c).starts_with("220 ") {}
    for cmd in ["USER anonymous", "PASS x", "TYPE I"] {
        c.write_all(format!("{cmd}\r\n").as_bytes()).unwrap();
        reply(&mut c);
    }
    c.write_all(b"EPSV\r\n").unwrap();
    let epsv = reply(&mut c);
    let port: u16 = epsv.split('|').nth(3).unwrap().parse().unwrap();
    let data = TcpStream::connect(("127.0.0.1", port)).unwrap();
    c.write_all(b"STOR partial.bin\r\n").unwrap();
    assert!(reply(&mut c).starts_with("150"));
    (&data).write_all(&vec![7u8; 1 << 20]).unwrap();
    // SO_LINGER 0: close() sends a reset, the server's read fails, the upload is aborted.
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: valid socket and a pointer/length pair describing a live `linger`.
    unsafe {
        use std::os::fd::AsRawFd;
        libc::setsockopt(
            data.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        );
    }
    drop(data);
    let end = reply(&mut c);
    assert!(end.starts_with("426"), "{end}");
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(names.is_empty(), "left behind: {names:?}");
}

/// A control connection the reference has greeted with 220. With a session limit, a
/// slot freed by a client that just left may take the server a moment to notice, so a
/// 421 is retried until a deadline.
fn greeted(port: u16) -> TcpStream {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let greeting = reply(&mut c);
        if greeting.starts_with("220") {
            while !greeting.starts_with("220 ") && !reply(&mut c).starts_with("220 ") {}
            return c;
        }
        assert!(Instant::now() < deadline, "never welcomed: {greeting}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A logged-in control connection to the reference.
fn login(port: u16) -> TcpStream {
    let mut c = greeted(port);
    for cmd in ["USER anonymous", "PASS x"] {
        c.write_all(format!("{cmd}\r\n").as_bytes()).unwrap();
        reply(&mut c);
    }
    c
}

#[test]
fn the_reference_closes_an_idle_session_with_421() {
    let dir = tempfile::tempdir().unwrap();
    let server = Reference::start_with(dir.path(), &["--idle-timeout", "1"]);
    let mut c = login(server.port);
    let started = Instant::now();
    // Say nothing: the next thing to arrive must be a 421, then the close.
    let closing = reply(&mut c);
    assert!(closing.starts_with("421"), "{closing}");
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "closed before the timeout"
    );
    let mut rest = Vec::new();
    c.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty(), "bytes after the 421: {rest:?}");
}

#[test]
fn the_reference_answers_421_beyond_its_session_limit() {
    let dir = tempfile::tempdir().unwrap();
    let server = Reference::start_with(dir.path(), &["--max-sessions", "1"]);
    let mut first = login(server.port);
    first.write_all(b"NOOP\r\n").unwrap();
    assert!(reply(&mut first).starts_with("200"));
    let mut second = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    second
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let refused = reply(&mut second);
    assert!(refused.starts_with("421"), "{refused}");
    // The first session is unaffected, and once it quits a new one is welcome.
    first.write_all(b"QUIT\r\n").unwrap();
    assert!(reply(&mut first).starts_with("221"));
    drop(first);
    greeted(server.port);
}

/// A client test's transcript is the test server's record, with the roles right: the
/// program's commands are `<`, the replies `>`, and the listing's data connection is a
/// connection of its own (`d1`), opened by the program after the 150 and closed by the
/// server before its 226.
fn the_test_servers_transcript_shows_the_listing(feedback: &str) {
    let lines = transcript_lines(feedback);
    let at = |want: &str| {
        lines
            .iter()
            .position(|l| l.starts_with(want))
            .unwrap_or_else(|| panic!("no `{want}` in the transcript:\n{feedback}"))
    };
    let order = [
        at("[c1] < connect (accepted by the grader's test server)"),
        at("[c1] > 128 bytes b\"220-Welcome"),
        at("[c1] < 16 bytes b\"USER anonymous\\r\\n\""),
        at("[c1] < 6 bytes b\"PASV\\r\\n\""),
        at("[c1] < 6 bytes b\"LIST\\r\\n\""),
        at("[c1] > 14 bytes b\"150 Listing.\\r\\n\""),
        at("[d1] < connect (accepted by the grader's test server)"),
        at("[d1] > "),
        at("[d1] > close"),
        at("[c1] > 19 bytes b\"226 Listing sent.\\r\\n\""),
    ];
    assert!(
        order.windows(2).all(|w| w[0] < w[1]),
        "{order:?}\n{feedback}"
    );
    let listing = &lines[order[7]];
    assert!(
        listing.contains(" bytes b\"-rw-r--r-- 1 ftp ftp"),
        "{feedback}"
    );
}
