//! Lab 5 rubric, proved both ways, and the reference proved against real clients: curl,
//! a strict Python client (httpx on h11) and headless Chromium.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::support::*;

/// The Python corpus server with one mistake switched on (or none).
fn corpus_server(mistake: &str) -> Vec<String> {
    let script = corpus("lab5/server.py").to_string_lossy().to_string();
    let mut argv = vec!["python3".to_string(), script];
    if mistake != "none" {
        argv.extend(["--mistake".to_string(), mistake.to_string()]);
    }
    argv
}

/// Grades the corpus server with `mistake` on the tests `expected` (which must fail) plus
/// `controls` (which must pass).
///
/// Each mistake is one switch in a server that otherwise gets full marks (see
/// `python_server_without_mistakes_gets_full_marks`), so only the tests the switch can
/// affect are run: a full run per mistake would take minutes.
fn mistake_fails_exactly(mistake: &str, expected: &[&str], controls: &[&str]) {
    if !require_tool("python3") {
        return;
    }
    let only: Vec<&str> = expected.iter().chain(controls).copied().collect();
    let argv = corpus_server(mistake);
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    let g = grade("lab5", &["--only", &only.join(",")], &argv);
    g.assert_failed_exactly(expected);
    assert_eq!(g.passed().len(), controls.len(), "{}", g.describe());
}

#[test]
fn reference_solution_gets_full_marks() {
    let g = grade_bin("lab5", &package_bin("lab5-solution"));
    g.assert_failed_exactly(&[]);
    assert_eq!(g.score(), (185, 185));
    assert_eq!(g.output.status.code(), Some(0));
}

#[test]
fn untouched_stub_scores_zero_and_names_its_todo() {
    let g = grade_bin("lab5", &package_bin("lab5"));
    assert_eq!(g.score().0, 0, "{}", g.describe());
    let feedback = g.feedback("get-file");
    assert!(
        feedback.contains("Step 1 of handouts/lab5.md"),
        "the feedback should name the stub's first TODO:\n{feedback}"
    );
}

#[test]
fn python_server_without_mistakes_gets_full_marks() {
    if !require_tool("python3") {
        return;
    }
    let argv = corpus_server("none");
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    let g = grade("lab5", &[], &argv);
    g.assert_failed_exactly(&[]);
}

#[test]
fn nginx_gets_full_marks() {
    if !require_tool("nginx") {
        return;
    }
    let launcher = corpus("lab5/nginx.sh").to_string_lossy().to_string();
    let g = grade("lab5", &[], &["sh", &launcher, "{root}", "{port}"]);
    g.assert_failed_exactly(&[]);
}

#[test]
fn pythons_stock_http_server_does_not_get_full_marks() {
    if !require_tool("python3") {
        return;
    }
    let g = grade(
        "lab5",
        &[],
        &[
            "python3",
            "-m",
            "http.server",
            "--bind",
            "127.0.0.1",
            "--directory",
            "{root}",
            "{port}",
        ],
    );
    // It speaks HTTP/1.0 only, so the persistent-connection tests must fail. Its other
    // failures (it has no timeouts, dies on SIGTERM, accepts `Host : x`, ...) vary, so
    // they are not pinned.
    let failed = g.failed();
    // Its content types come from the machine's mime.types, which knows every type the
    // lab asks for: the unknown-type check must use an extension no table knows (it once
    // used `.xyz`, which Debian's table calls chemical/x-xyz).
    assert!(!failed.contains("content-types"), "{}", g.describe());
    for id in [
        "keep-alive",
        "http10",
        "pipelining",
        "concurrent-keep-alive",
    ] {
        assert!(failed.contains(id), "{id} should fail:\n{}", g.describe());
    }
    assert!(g.score().0 < g.score().1);
}

#[test]
fn no_keep_alive_fails_the_persistent_connection_tests() {
    mistake_fails_exactly(
        "no-keep-alive",
        &[
            "keep-alive",
            "http10",
            "pipelining",
            "concurrent-keep-alive",
        ],
        &["get-file", "connection-close", "demo-site"],
    );
}

#[test]
fn serial_keep_alive_fails_the_concurrency_tests() {
    mistake_fails_exactly(
        "serial-keep-alive",
        SERIAL_FAILS,
        &["keep-alive", "pipelining"],
    );
}
const SERIAL_FAILS: &[&str] = &["concurrent-keep-alive", "stalled-client", "many-downloads"];

#[test]
fn a_body_after_head_fails_the_head_test() {
    mistake_fails_exactly(
        "head-body",
        &["head", "pipelining"],
        &["get-file", "keep-alive"],
    );
}

#[test]
fn checking_dots_before_decoding_fails_path_escape() {
    mistake_fails_exactly(
        "path-escape",
        &["path-escape"],
        &["percent-decoding", "get-file"],
    );
}

#[test]
fn a_thread_that_crashes_on_a_timeout_fails_slow_headers() {
    // The crash closes the connection, which is all the exchange asked for: only the
    // crash itself shows that the program failed.
    mistake_fails_exactly(
        "crash-on-timeout",
        &["slow-headers"],
        &["get-file", "keep-alive"],
    );
    if !require_tool("python3") {
        return;
    }
    let argv = corpus_server("crash-on-timeout");
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    let g = grade("lab5", &["--only", "slow-headers"], &argv);
    let feedback = g.feedback("slow-headers");
    assert!(feedback.contains("crashed during the test"), "{feedback}");
    assert!(feedback.contains("request head timed out"), "{feedback}");
}

#[test]
fn ignoring_connection_close_fails_although_the_idle_timeout_closes() {
    mistake_fails_exactly(
        "ignores-close",
        &["connection-close", "http10"],
        &["keep-alive", "get-file", "idle-timeout"],
    );
}

#[test]
fn a_body_with_error_answers_to_head_fails_head() {
    mistake_fails_exactly("head-error-body", &["head"], &["get-file", "not-found"]);
}

#[test]
fn following_symbolic_links_out_of_the_root_fails_path_escape() {
    mistake_fails_exactly(
        "follows-symlinks",
        &["path-escape"],
        &["percent-decoding", "get-file", "directory-listing"],
    );
}

#[test]
fn binary_files_as_text_fail_the_byte_exact_tests() {
    mistake_fails_exactly(
        "binary-length",
        BINARY_FAILS,
        &["get-file", "content-types"],
    );
}
const BINARY_FAILS: &[&str] = &[
    "get-binary",
    "head",
    "pipelining",
    "range",
    "many-downloads",
    "large-file-memory",
    "graceful-shutdown",
    "demo-site",
];

#[test]
fn dropping_pipelined_requests_fails_pipelining() {
    // The body of a POST arrives with its head and is dropped too: the server then waits
    // for it, and the `methods` test notices.
    mistake_fails_exactly(
        "drops-pipelined",
        &["pipelining", "methods"],
        &["keep-alive", "demo-site"],
    );
}

#[test]
fn a_timeout_per_read_fails_slow_headers() {
    mistake_fails_exactly("per-read-timeout", &["slow-headers"], &["idle-timeout"]);
}

#[test]
fn reading_whole_files_fails_large_file_memory() {
    mistake_fails_exactly(
        "read-whole-file",
        &["large-file-memory"],
        &["get-binary", "range"],
    );
}

#[test]
fn a_small_worker_pool_starves_keep_alive_clients() {
    mistake_fails_exactly("small-pool", SMALL_POOL_FAILS, &["keep-alive", "get-file"]);
}
const SMALL_POOL_FAILS: &[&str] = &["concurrent-keep-alive", "many-downloads"];

#[test]
fn dying_on_sigterm_fails_graceful_shutdown() {
    mistake_fails_exactly("no-graceful", &["graceful-shutdown"], &["get-file"]);
}

// ---------------------------------------------------------------------------------------
// The reference against real clients
// ---------------------------------------------------------------------------------------

/// The reference solution serving `root` on a free port, killed when dropped.
struct Reference {
    child: Child,
    port: u16,
    log: mpsc::Receiver<String>,
}

impl Reference {
    fn start(root: &Path) -> Reference {
        let mut child = Command::new(package_bin("lab5-solution"))
            .args(["--port", "0", "--verbose", "--root"])
            .arg(root)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the reference starts");
        let (tx, rx) = mpsc::channel();
        let stderr = child.stderr.take().expect("piped stderr");
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let first = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("the reference prints where it listens");
        let port = first
            .rsplit(':')
            .next()
            .and_then(|p| p.trim_end_matches('/').parse().ok())
            .unwrap_or_else(|| panic!("no port in {first:?}"));
        Reference {
            child,
            port,
            log: rx,
        }
    }

    /// Every log line so far.
    fn log_lines(&self) -> Vec<String> {
        self.log.try_iter().collect()
    }
}

impl Drop for Reference {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn demo_root() -> (tempfile::TempDir, autograder::probe::http::site::Site) {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = autograder::rng::Rng::new(5);
    let site = autograder::probe::http::site::write(dir.path(), &mut rng).unwrap();
    (dir, site)
}

#[test]
fn curl_reuses_one_connection_and_gets_exact_bytes() {
    if !require_tool("curl") {
        return;
    }
    let (root, site) = demo_root();
    let server = Reference::start(root.path());
    let out_dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new("curl");
    cmd.args(["-sS", "-v", "--fail"]);
    for (i, r) in site.resources.iter().enumerate() {
        cmd.arg(format!("http://127.0.0.1:{}{}", server.port, r.url))
            .arg("-o")
            .arg(out_dir.path().join(i.to_string()));
    }
    let out = cmd.output().expect("curl runs");
    let verbose = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "curl failed:\n{verbose}");
    for (i, r) in site.resources.iter().enumerate() {
        let got = std::fs::read(out_dir.path().join(i.to_string())).unwrap();
        assert!(got == r.bytes, "{} differs", r.url);
    }
    assert!(
        verbose.matches("Re-using existing connection").count() >= site.resources.len() - 1,
        "curl should reuse its connection for every later URL:\n{verbose}"
    );
}

#[test]
fn a_strict_python_client_gets_exact_bytes() {
    if !require_tool("python3") {
        return;
    }
    let (root, site) = demo_root();
    let server = Reference::start(root.path());
    let out = Command::new("python3")
        .arg(corpus("lab5/strict_client.py"))
        .arg(server.port.to_string())
        .arg(root.path())
        .args(
            site.resources
                .iter()
                .map(|r| format!("{}={}", r.url, r.file)),
        )
        .output()
        .expect("python3 runs");
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    if out.status.code() == Some(3) {
        // httpx is missing: a skip locally, a failure under CI.
        assert!(
            std::env::var_os("CI").is_none(),
            "httpx is required under CI:\n{text}"
        );
        eprintln!("skipped: {text}");
        return;
    }
    assert!(out.status.success(), "the strict client failed:\n{text}");
    assert!(
        text.contains(&format!("OK {}", site.resources.len())),
        "{text}"
    );
}

#[test]
fn headless_chromium_loads_the_demo_site() {
    let browser = ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|b| {
            Command::new("sh")
                .args(["-c", &format!("command -v {b}")])
                .output()
                .is_ok_and(|o| o.status.success())
        });
    let Some(browser) = browser else {
        assert!(
            std::env::var_os("CI").is_none(),
            "Chromium is required under CI but is not installed"
        );
        eprintln!("skipped: Chromium is not installed");
        return;
    };
    let (root, site) = demo_root();
    let server = Reference::start(root.path());
    let profile = tempfile::tempdir().unwrap();
    let out = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--virtual-time-budget=10000",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg("--dump-dom")
        .arg(format!("http://127.0.0.1:{}/", server.port))
        .output()
        .expect("chromium runs");
    let dom = String::from_utf8_lossy(&out.stdout);
    // The page checks every resource but itself.
    let expected = format!("RESULT: PASS {n}/{n}", n = site.resources.len() - 1);
    assert!(
        dom.contains(&expected),
        "the page's own check did not pass (expected {expected:?}):\n{}\nchromium stderr:\n{}",
        dom.lines()
            .filter(|l| l.contains("RESULT"))
            .collect::<Vec<_>>()
            .join("\n"),
        String::from_utf8_lossy(&out.stderr)
    );
    // The server's log: every request the browser made was answered with a success.
    let log = server.log_lines();
    let requests: Vec<&String> = log.iter().filter(|l| l.contains("\" ")).collect();
    assert!(
        requests.len() > site.resources.len(),
        "too few requests logged:\n{}",
        log.join("\n")
    );
    for line in &requests {
        assert!(
            line.contains("\" 200 ") || line.contains("\" 304 ") || line.contains("\" 206 "),
            "a request the browser made was not answered with success: {line}\n{}",
            log.join("\n")
        );
    }
}

/// Filled in as the mutants move into `mutants!` rows.
pub const MUTANTS: &[crate::support::Mutant] = &[];
