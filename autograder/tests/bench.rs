//! `autograder bench` and `autograder demo`: what they write and print, never how fast.
//!
//! Speed is measured by `autograder/scripts/perf.sh`, not asserted here: the machine
//! running the tests is shared and busy, so these tests check structure (CSV columns, one
//! SVG line per program, the table) and that mistakes are counted as errors.

use std::path::Path;
use std::process::Output;

use crate::support::*;

/// Runs `autograder ARGS…` and returns its output, failing loudly on a non-zero status.
fn run_ok(args: &[&str]) -> Output {
    autograder().args(args).success().output
}

/// The CSV as rows of fields (no quoting is needed for our labels).
fn read_csv(dir: &Path) -> (String, Vec<Vec<String>>) {
    let text = std::fs::read_to_string(dir.join("bench.csv")).expect("bench.csv written");
    let mut lines = text.lines();
    let header = lines.next().expect("a header").to_string();
    let rows = lines
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect();
    (header, rows)
}

/// Checks that every tag is closed in order (a small well-formedness check: the SVG has
/// no comments, CDATA or processing instructions).
fn assert_well_formed(svg: &str) {
    let mut stack: Vec<String> = Vec::new();
    let mut rest = svg;
    while let Some(open) = rest.find('<') {
        let close = rest[open..].find('>').expect("unclosed tag") + open;
        let tag = &rest[open + 1..close];
        if let Some(name) = tag.strip_prefix('/') {
            assert_eq!(
                stack.pop().as_deref(),
                Some(name.trim()),
                "mismatched </{name}>"
            );
        } else if !tag.ends_with('/') {
            let name = tag.split_whitespace().next().unwrap_or("").to_string();
            stack.push(name);
        }
        rest = &rest[close + 1..];
    }
    assert!(stack.is_empty(), "unclosed tags: {stack:?}");
    assert!(svg
        .trim_start()
        .starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
}

#[test]
fn bench_writes_csv_svg_and_table_with_one_line_per_program() {
    if !require_tool("python3") {
        return;
    }
    let lab1 = package_bin("lab1-solution");
    let python = corpus("lab1/correct_echo.py");
    let out_dir = tempfile::tempdir().unwrap();
    let out = run_ok(&[
        "bench",
        "lab1",
        "--clients",
        "1,2",
        "--duration",
        "0.3",
        "--out",
        out_dir.path().to_str().unwrap(),
        "--",
        lab1.to_str().unwrap(),
        "--",
        "python3",
        python.to_str().unwrap(),
    ]);

    let (header, rows) = read_csv(out_dir.path());
    assert_eq!(
        header,
        "program,clients,requests_per_sec,mb_per_sec,p50_ms,p99_ms,errors,cpu_percent,rss_mb"
    );
    let keys: Vec<(String, String)> = rows.iter().map(|r| (r[0].clone(), r[1].clone())).collect();
    assert_eq!(
        keys,
        [
            ("lab1-solution", "1"),
            ("lab1-solution", "2"),
            ("correct_echo.py", "1"),
            ("correct_echo.py", "2")
        ]
        .map(|(a, b)| (a.to_string(), b.to_string()))
    );
    for r in &rows {
        assert_eq!(r.len(), 9, "{r:?}");
        let rps: f64 = r[2].parse().unwrap();
        assert!(rps > 0.0, "a correct server answers some requests: {r:?}");
        if r[1] == "1" {
            assert_eq!(
                r[6], "0",
                "one client of a correct server sees no error: {r:?}"
            );
        }
    }

    let svg = std::fs::read_to_string(out_dir.path().join("bench.svg")).unwrap();
    assert_well_formed(&svg);
    // Four panels (throughput, p99 latency, the server's CPU and memory), each with one
    // line per program.
    assert_eq!(svg.matches("class=\"series\"").count(), 8);
    assert_eq!(svg.matches("data-program=\"lab1-solution\"").count(), 4);
    assert_eq!(svg.matches("data-program=\"correct_echo.py\"").count(), 4);
    assert!(svg.contains("concurrent clients"));
    assert!(svg.contains("throughput (requests/s)"));
    assert!(svg.contains("p99 latency (ms)"));
    assert!(svg.contains("server CPU (% of one core)"));
    assert!(svg.contains("server memory (RSS, MiB)"));

    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table.contains("program") && table.contains("req/s") && table.contains("p99 ms"),
        "{table}"
    );
    assert_eq!(
        table
            .lines()
            .filter(|l| l.starts_with("correct_echo.py"))
            .count(),
        2,
        "{table}"
    );
}

#[test]
fn bench_counts_errors_of_a_server_that_closes_after_one_read() {
    let buggy = corpus_rust("lab1/one_read.rs");
    let out_dir = tempfile::tempdir().unwrap();
    run_ok(&[
        "bench",
        "lab1",
        "--clients",
        "1",
        "--duration",
        "0.3",
        "--out",
        out_dir.path().to_str().unwrap(),
        "--",
        buggy.to_str().unwrap(),
    ]);
    let (_, rows) = read_csv(out_dir.path());
    assert_eq!(rows.len(), 1);
    let errors: u64 = rows[0][6].parse().unwrap();
    assert!(
        errors > 0,
        "every connection ends in an early close: {rows:?}"
    );
}

#[test]
fn bench_counts_the_clients_an_iterative_server_starves() {
    // Lab 1 serves one connection until it closes: of 3 clients, 2 never get an answer.
    // That is causality, not timing: the bench keeps every connection open to the end.
    let lab1 = package_bin("lab1-solution");
    let out_dir = tempfile::tempdir().unwrap();
    run_ok(&[
        "bench",
        "lab1",
        "--clients",
        "3",
        "--duration",
        "0.3",
        "--out",
        out_dir.path().to_str().unwrap(),
        "--",
        lab1.to_str().unwrap(),
    ]);
    let (_, rows) = read_csv(out_dir.path());
    assert_eq!(rows[0][6], "2", "{rows:?}");
    let svg = std::fs::read_to_string(out_dir.path().join("bench.svg")).unwrap();
    assert!(svg.contains("2 err"), "the graph marks the errors");
}

#[test]
fn bench_http_follows_keep_alive_and_connection_close() {
    if !require_tool("python3") {
        return;
    }
    // Python's http.server answers HTTP/1.0 and closes after each answer: the bench must
    // reconnect without counting errors, and count the file's bytes.
    let out_dir = tempfile::tempdir().unwrap();
    run_ok(&[
        "bench",
        "lab5",
        "--clients",
        "2",
        "--duration",
        "0.3",
        "--size",
        "2048",
        "--out",
        out_dir.path().to_str().unwrap(),
        "--compare",
        "pyhttp=python3 -m http.server {port} --bind {host} --directory {root}",
    ]);
    let (_, rows) = read_csv(out_dir.path());
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0][0], "pyhttp");
    assert_eq!(rows[0][6], "0", "{rows:?}");
    let rps: f64 = rows[0][2].parse().unwrap();
    let mbps: f64 = rows[0][3].parse().unwrap();
    assert!(rps > 0.0 && mbps > 0.0, "{rows:?}");
}

#[test]
fn bench_draws_both_models_of_the_lab5_reference_on_one_graph() {
    // `lab5:MODEL` runs the reference with `--model MODEL`; a dev build keeps the test
    // cheap (the numbers are not looked at, only that both models answer and are drawn).
    let out_dir = tempfile::tempdir().unwrap();
    run_ok(&[
        "bench",
        "lab5",
        "--solution",
        "lab5:threads,lab5:events",
        "--dev-build",
        "--clients",
        "1,3",
        "--duration",
        "0.3",
        "--out",
        out_dir.path().to_str().unwrap(),
    ]);
    let (_, rows) = read_csv(out_dir.path());
    let keys: Vec<(&str, &str)> = rows.iter().map(|r| (&*r[0], &*r[1])).collect();
    assert_eq!(
        keys,
        [
            ("lab5-solution:threads", "1"),
            ("lab5-solution:threads", "3"),
            ("lab5-solution:events", "1"),
            ("lab5-solution:events", "3")
        ]
    );
    for r in &rows {
        assert_eq!(r[6], "0", "a correct server sees no errors: {r:?}");
        assert!(r[2].parse::<f64>().unwrap() > 0.0, "{r:?}");
    }
    let svg = std::fs::read_to_string(out_dir.path().join("bench.svg")).unwrap();
    assert_well_formed(&svg);
    for model in ["threads", "events"] {
        assert_eq!(
            svg.matches(&format!("data-program=\"lab5-solution:{model}\""))
                .count(),
            4,
            "one line per panel for {model}"
        );
    }
}

#[test]
fn bench_ftp_downloads_from_the_lab4_reference_and_pyftpdlib() {
    // Each client logs in once and repeats passive RETRs of a file the bench writes into
    // {root}; every byte is compared, so a correct server shows transfers and no errors.
    // pyftpdlib (a server nobody here wrote, launched with placeholders) joins when
    // installed, as it is under CI.
    let with_pyftpdlib = require_tool("python3") && crate::lab4::python_has("pyftpdlib");
    let out_dir = tempfile::tempdir().unwrap();
    let mut args = vec![
        "bench",
        "lab4",
        "--solution",
        "lab4",
        "--dev-build",
        "--clients",
        "1,2",
        "--duration",
        "0.3",
        "--size",
        "70000",
        "--out",
        out_dir.path().to_str().unwrap(),
    ];
    if with_pyftpdlib {
        args.extend([
            "--compare",
            "pyftpdlib=python3 -m pyftpdlib --port {port} --directory {root} --interface 127.0.0.1",
        ]);
    }
    run_ok(&args);
    let (_, rows) = read_csv(out_dir.path());
    let mut programs = vec!["lab4-solution"];
    if with_pyftpdlib {
        programs.push("pyftpdlib");
    }
    let keys: Vec<(&str, &str)> = rows.iter().map(|r| (&*r[0], &*r[1])).collect();
    let expected: Vec<(&str, &str)> = programs
        .iter()
        .flat_map(|p| [(*p, "1"), (*p, "2")])
        .collect();
    assert_eq!(keys, expected);
    for r in &rows {
        assert_eq!(r[6], "0", "a correct server sees no errors: {r:?}");
        let rps: f64 = r[2].parse().unwrap();
        let mbps: f64 = r[3].parse().unwrap();
        assert!(rps > 0.0 && mbps > 0.0, "{r:?}");
    }
    let svg = std::fs::read_to_string(out_dir.path().join("bench.svg")).unwrap();
    assert_well_formed(&svg);
    assert!(
        svg.contains("passive RETR of a"),
        "the title names the workload"
    );
}

#[test]
fn bench_ftp_measures_servers_that_refuse_epsv_or_reply_after_the_close() {
    if !require_tool("python3") {
        return;
    }
    // Correct servers written differently: `pasv` refuses EPSV (the bench falls back to
    // PASV); `linger` sends the 226 only after the client closed the data connection
    // (ProFTPD, vsftpd), so a bench that read the 226 first would complete nothing.
    let stub = corpus("lab4/bench_ftpd.py");
    for mode in ["pasv", "linger"] {
        let out_dir = tempfile::tempdir().unwrap();
        run_ok(&[
            "bench",
            "lab4",
            "--clients",
            "2",
            "--duration",
            "0.3",
            "--out",
            out_dir.path().to_str().unwrap(),
            "--",
            "python3",
            stub.to_str().unwrap(),
            "--mode",
            mode,
        ]);
        let (_, rows) = read_csv(out_dir.path());
        assert_eq!(rows[0][6], "0", "{mode}: {rows:?}");
        assert!(rows[0][2].parse::<f64>().unwrap() > 0.0, "{mode}: {rows:?}");
    }
}

#[test]
fn bench_ftp_counts_refused_corrupt_short_and_stalled_downloads_as_errors() {
    if !require_tool("python3") {
        return;
    }
    // Each mode gets downloads wrong in one way; none may count as a transfer, and the
    // stalled one (150, then nothing) must end with the window instead of hanging.
    let stub = corpus("lab4/bench_ftpd.py");
    for mode in ["refuse", "corrupt", "short", "silent"] {
        let out_dir = tempfile::tempdir().unwrap();
        run_ok(&[
            "bench",
            "lab4",
            "--clients",
            "2",
            "--duration",
            "0.3",
            "--out",
            out_dir.path().to_str().unwrap(),
            "--",
            "python3",
            stub.to_str().unwrap(),
            "--mode",
            mode,
        ]);
        let (_, rows) = read_csv(out_dir.path());
        assert_eq!(rows.len(), 1, "{mode}");
        let errors: u64 = rows[0][6].parse().unwrap();
        assert!(errors >= 2, "{mode}: every client fails: {rows:?}");
        assert_eq!(rows[0][2], "0.0", "{mode}: no transfer completes: {rows:?}");
    }
}

#[test]
fn bench_rejects_what_it_cannot_measure_with_a_clear_message() {
    for (args, message) in [
        (
            vec!["bench", "lab4", "--clients", "1,65", "--", "x"],
            "at most 64 FTP clients",
        ),
        (vec!["bench", "lab1"], "nothing to measure"),
        (
            vec!["bench", "lab1", "--clients", "0", "--", "x"],
            "positive counts",
        ),
        (
            vec!["bench", "lab1", "--compare", "noequals", "--", "x"],
            "NAME=COMMAND",
        ),
        (
            vec!["bench", "lab5", "--solution", "lab5:"],
            "LAB or LAB:MODEL",
        ),
    ] {
        let out = autograder().args(&args).code(2);
        assert!(out.stderr().contains(message), "{out}");
    }
}

#[test]
fn bench_reports_a_server_that_exits_at_once() {
    let out = autograder()
        .args([
            "bench",
            "lab1",
            "--clients",
            "1",
            "--duration",
            "0.2",
            "--",
            "sh",
            "-c",
            "echo no such luck >&2; exit 3",
        ])
        .code(2);
    let stderr = out.stderr();
    assert!(
        stderr.contains("exited with status 3") && stderr.contains("no such luck"),
        "{out}"
    );
}

#[test]
fn demo_shows_the_iterative_server_serving_clients_one_at_a_time() {
    let lab1 = package_bin("lab1-solution");
    let out = run_ok(&[
        "demo",
        "concurrency",
        "--clients",
        "2",
        "--no-bench",
        "--program",
        &format!("iterative={}", lab1.display()),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    // The second client cannot finish before the first has left: causality, not timing.
    assert!(stdout.contains("iterative"), "{stdout}");
    assert!(stdout.contains("client 2  done"), "{stdout}");
    assert!(
        stdout.contains("one at a time: each client waited for the one before"),
        "{stdout}"
    );
}
