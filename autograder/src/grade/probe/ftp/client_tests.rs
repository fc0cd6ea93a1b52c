//! Probes of the `client` group: the submission runs as a client (`get`, `put`, `ls`)
//! against the strict [`TestServer`].
//!
//! | probe | the mistake it catches |
//! |---|---|
//! | [`get`] | ASCII type on binary files; replies read as one packet; multi-line replies |
//! | [`put`] | uploads altered or cut short; no close to mark the end of the file |
//! | [`ls`] | the listing not printed |
//! | [`missing_file`] | a failure reported as success, or without the server's reply |
//! | [`concurrent_get`] | transfers made one after another |

use std::collections::BTreeMap;
use std::time::Duration;

use super::test_server::{Setup, TestServer};
use crate::grade::probe::{bytes, ClientRun, Ctx};
use crate::grade::probe::{Failure, ProbeResult};

/// How long one run of the client may take.
const RUN_LIMIT: Duration = Duration::from_secs(20);

fn start(ctx: &Ctx, setup: Setup) -> Result<TestServer, Failure> {
    if ctx.program.has_placeholders() {
        return Err(Failure::new(
            "this program was given with placeholders ({port}, {root}), which is a server's command line: the client tests do not apply",
        )
        .detail("The client tests run the program with `get|put|ls --host H --port P …` appended. Grade a server-only program with `--only server`."));
    }
    TestServer::start(&ctx.host, ctx.port, setup, ctx.transcript.clone())
        .map_err(|e| Failure::new(format!("the grader cannot start its FTP test server: {e}")))
}

fn args(ctx: &Ctx, verb: &str) -> Vec<String> {
    vec![
        verb.into(),
        "--host".into(),
        ctx.host.clone(),
        "--port".into(),
        ctx.port.to_string(),
    ]
}

fn binary(ctx: &mut Ctx, len: usize) -> Vec<u8> {
    let mut b = ctx.rng.bytes(len);
    for i in (7..b.len()).step_by(501) {
        b[i] = b'\n';
    }
    b
}

fn run(ctx: &Ctx, server: &TestServer, args: &[String]) -> Result<ClientRun, Failure> {
    let run = ctx.run_client(args, RUN_LIMIT)?;
    let violations = server.record(|r| r.violations.clone());
    // The smallest, not the first: with transfers in parallel the order is the threads',
    // and the same seed must give the same report.
    if let Some(v) = violations.iter().min() {
        return Err(Failure::new(format!("the client broke the protocol: {v}"))
            .detail(format!("command: {}", run.command)));
    }
    Ok(run)
}

fn expect_success(run: &ClientRun) -> Result<(), Failure> {
    if run.status.success() {
        return Ok(());
    }
    Err(
        Failure::new(format!("`{}` {}", run.command, run.describe()))
            .expected("exit status 0")
            .detail(format!("its output:\n{}", run.output)),
    )
}

fn check_file(
    what: &str,
    expected: &[u8],
    got: Option<&[u8]>,
    binary_type: bool,
) -> Result<(), Failure> {
    let Some(got) = got else {
        return Err(Failure::new(format!("{what} is missing")));
    };
    if got == expected {
        return Ok(());
    }
    let mut f = Failure::new(format!("{what} differs from the original"))
        .expected(bytes::describe(expected))
        .got(bytes::describe(got));
    if let Some(diff) = bytes::first_difference(expected, got) {
        f = f.detail(diff);
    }
    if !binary_type {
        f = f.detail("The transfer ran in ASCII type (RFC 959's default), which converts line endings. Send `TYPE I` before every binary transfer.");
    }
    Err(f)
}

/// `get` of three files (binary, text, empty) into `--out`, byte for byte.
pub fn get(ctx: &mut Ctx) -> ProbeResult {
    let tok = ctx.rng.token(6);
    let big = ctx.rng.range(1 << 20, 2 << 20);
    let files = vec![
        (format!("data-{tok}.bin"), binary(ctx, big)),
        (
            format!("notes-{tok}.txt"),
            format!("line one\nline two {tok}\n").into_bytes(),
        ),
        (format!("empty-{tok}.bin"), Vec::new()),
    ];
    let setup = Setup {
        files: files
            .iter()
            .map(|(n, c)| (format!("/{n}"), c.clone()))
            .collect(),
        ..Setup::default()
    };
    let server = start(ctx, setup)?;
    let out = ctx.root.join("out");
    std::fs::create_dir_all(&out).map_err(|e| Failure::new(format!("mkdir: {e}")))?;
    let mut a = args(ctx, "get");
    a.extend(["--out".to_string(), out.display().to_string()]);
    a.extend(files.iter().map(|(n, _)| n.clone()));
    let run = run(ctx, &server, &a)?;
    expect_success(&run)?;
    let binary_type = server.record(|r| r.retrs.iter().all(|(_, t)| *t == 'I'));
    for (name, content) in &files {
        let got = std::fs::read(out.join(name)).ok();
        check_file(
            &format!("the downloaded {name}"),
            content,
            got.as_deref(),
            binary_type,
        )?;
    }
    Ok(())
}

/// `put` of three local files (binary, text, empty), byte for byte on the server.
pub fn put(ctx: &mut Ctx) -> ProbeResult {
    let tok = ctx.rng.token(6);
    let big = ctx.rng.range(1 << 20, 2 << 20);
    let files = vec![
        (format!("upload-{tok}.bin"), binary(ctx, big)),
        (
            format!("text-{tok}.txt"),
            format!("one\r\ntwo\nthree {tok}\r\n").into_bytes(),
        ),
        (format!("empty-{tok}.bin"), Vec::new()),
    ];
    let dir = ctx.root.join("in");
    std::fs::create_dir_all(&dir).map_err(|e| Failure::new(format!("mkdir: {e}")))?;
    let mut a = args(ctx, "put");
    for (name, content) in &files {
        std::fs::write(dir.join(name), content).map_err(|e| Failure::new(format!("write: {e}")))?;
        a.push(dir.join(name).display().to_string());
    }
    let server = start(ctx, Setup::default())?;
    let run = run(ctx, &server, &a)?;
    expect_success(&run)?;
    let uploads: BTreeMap<String, Vec<u8>> = server.record(|r| r.uploads.clone());
    for (name, content) in &files {
        let got = uploads.get(&format!("/{name}"));
        check_file(&format!("the uploaded {name} (as the server received it)"), content, got.map(|v| v.as_slice()), true)
            .map_err(|f| f.detail("Send TYPE I before STOR, send every byte, then close the data connection: in stream mode the close marks the end of the file."))?;
    }
    Ok(())
}

/// `ls` prints the names of the root, and `ls DIR` those of a directory.
pub fn ls(ctx: &mut Ctx) -> ProbeResult {
    let tok = ctx.rng.token(6);
    let root_names = [format!("alpha-{tok}.txt"), format!("beta-{tok}.bin")];
    let inner = format!("inner-{tok}.dat");
    let dir = format!("docs-{tok}");
    let mut files: BTreeMap<String, Vec<u8>> = root_names
        .iter()
        .map(|n| (format!("/{n}"), b"x".to_vec()))
        .collect();
    files.insert(format!("/{dir}/{inner}"), b"y".to_vec());
    let server = start(
        ctx,
        Setup {
            files,
            dirs: vec![format!("/{dir}")],
            ..Setup::default()
        },
    )?;
    let run_root = run(ctx, &server, &args(ctx, "ls"))?;
    expect_success(&run_root)?;
    for name in root_names.iter().chain([&dir]) {
        if !run_root.output.contains(name.as_str()) {
            return Err(
                Failure::new(format!("`{}` does not print {name}", run_root.command))
                    .expected("the server's listing of the root on standard output")
                    .got(run_root.output.clone())
                    .into(),
            );
        }
    }
    let mut a = args(ctx, "ls");
    a.push(dir.clone());
    let run_dir = run(ctx, &server, &a)?;
    expect_success(&run_dir)?;
    if !run_dir.output.contains(&inner) {
        return Err(
            Failure::new(format!("`{}` does not print {inner}", run_dir.command))
                .got(run_dir.output.clone())
                .into(),
        );
    }
    Ok(())
}

/// `get` of a file the server does not have: non-zero exit, the 550 reply shown.
pub fn missing_file(ctx: &mut Ctx) -> ProbeResult {
    let server = start(ctx, Setup::default())?;
    let out = ctx.root.join("out");
    std::fs::create_dir_all(&out).map_err(|e| Failure::new(format!("mkdir: {e}")))?;
    let mut a = args(ctx, "get");
    a.extend([
        "--out".to_string(),
        out.display().to_string(),
        format!("missing-{}.bin", ctx.rng.token(6)),
    ]);
    let run = run(ctx, &server, &a)?;
    if run.status.success() {
        return Err(Failure::new("getting a missing file exited with status 0")
            .expected("a non-zero exit status and the server's 550 reply")
            .got(format!("output:\n{}", run.output))
            .into());
    }
    if !run.output.contains("550") {
        return Err(
            Failure::new("the failure message does not show the server's reply")
                .expected("the output to contain the server's reply (550 …)")
                .got(run.describe())
                // A detail, as in `expect_success`: `check` finds a `todo!()` panic there
                // and names the unfinished step instead of giving this test's hint.
                .detail(format!("its output:\n{}", run.output))
                .into(),
        );
    }
    Ok(())
}

/// Files that each wait `d` at the server before their data flows: a concurrent client
/// finishes all of them in well under N·d.
pub fn concurrent_get(ctx: &mut Ctx) -> ProbeResult {
    const N: usize = 4;
    let delay = Duration::from_millis(500);
    let tok = ctx.rng.token(6);
    let mut files = Vec::new();
    for i in 0..N {
        let len = ctx.rng.range(100_000, 300_000);
        files.push((format!("part{i}-{tok}.bin"), binary(ctx, len)));
    }
    let setup = Setup {
        files: files
            .iter()
            .map(|(n, c)| (format!("/{n}"), c.clone()))
            .collect(),
        delay,
        ..Setup::default()
    };
    let server = start(ctx, setup)?;
    let out = ctx.root.join("out");
    std::fs::create_dir_all(&out).map_err(|e| Failure::new(format!("mkdir: {e}")))?;
    let mut a = args(ctx, "get");
    a.extend(["--out".to_string(), out.display().to_string()]);
    a.extend(files.iter().map(|(n, _)| n.clone()));
    let run = run(ctx, &server, &a)?;
    expect_success(&run)?;
    for (name, content) in &files {
        let got = std::fs::read(out.join(name)).ok();
        check_file(
            &format!("the downloaded {name}"),
            content,
            got.as_deref(),
            true,
        )?;
    }
    let (span, overlap) = server.record(|r| {
        let span = match (r.first_connect, r.last_transfer_done) {
            (Some(a), Some(b)) => b.saturating_duration_since(a),
            _ => Duration::MAX,
        };
        (span, r.max_overlap)
    });
    // Sequential: at least N·d. Concurrent: about d. Half of N·d plus slack for a busy
    // machine separates the two with a wide margin on either side.
    let limit = delay * N as u32 / 2 + Duration::from_millis(300);
    if span >= limit {
        return Err(Failure::new(format!(
            "{N} files that each wait {} ms at the server took {:.2} s from the first connection to the last transfer",
            delay.as_millis(),
            span.as_secs_f64()
        ))
        .expected(format!("well under N·d = {:.1} s (less than {:.2} s): the transfers overlap", (delay * N as u32).as_secs_f64(), limit.as_secs_f64()))
        .got(format!("at most {overlap} transfer(s) waiting at once"))
        .detail("Start every transfer before waiting for any: one task (and one FTP session) per file, e.g. with tokio::spawn or a JoinSet.")
        .into());
    }
    Ok(())
}
