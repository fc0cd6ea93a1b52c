//! Probes of lab 2's `client` group: the submission runs as a threaded echo client
//! (`PROGRAM client --host H --port P --clients N --bytes B`) against the
//! strict [`TestServer`].
//!
//! | probe | the mistake it catches |
//! |---|---|
//! | [`every_byte`] | one `recv` taken as the whole echo (short reads); bytes not all sent |
//! | [`all_at_once`] | connections made one after another (a serial client) |
//! | [`altered_byte`] | an echo counted, not compared; a mismatch that still exits 0 |
//! | [`early_close`] | a panic, a hang or success when the server closes part-way |
//! | [`refused`] | a refused connection that exits 0, panics or hangs |
//!
//! Three diagnoses are the client's own [`Symptom`]s, whichever test saw them: a correct
//! echo reported as wrong ([`Symptom::FalseAlarm`]), connections one after another
//! ([`Symptom::Serial`]), a crash instead of a report ([`Symptom::ClientCrashed`]). The
//! rest (an exit status 0 where a failure was due) are each test's own aim, explained by
//! its hints.

pub mod test_server;

use std::time::Duration;

use crate::grade::probe::{ClientRun, Ctx, Failure, ProbeResult, Symptom};
use test_server::{Record, Setup, Spot, TestServer};

/// How long one run of the client may take.
const RUN_LIMIT: Duration = Duration::from_secs(20);

/// How long the gate of [`all_at_once`] waits for every connection. A threaded client
/// opens them all within milliseconds; this is slack for a loaded machine.
const GATE_WAIT: Duration = Duration::from_secs(5);

fn start(ctx: &mut Ctx, mut setup: Setup) -> Result<TestServer, Failure> {
    if ctx.program.has_placeholders() {
        return Err(Failure::new(
            "this program was given with placeholders ({port}, {host}), which is a server's command line: the client tests do not apply",
        )
        .detail("The client tests run the program with `client --host H --port P --clients N --bytes B` appended. Grade a server-only program with `--only server`."));
    }
    setup.seed = ctx.rng.next_u64();
    TestServer::start(&ctx.host, ctx.port, setup, ctx.transcript.clone())
        .map_err(|e| Failure::new(format!("the grader cannot start its echo test server: {e}")))
}

/// The lab's client contract: `client --host H --port P --clients N --bytes B` (the
/// optional `--rounds` is the student's to use by hand; the grader keeps to the contract).
fn args(ctx: &Ctx, clients: usize, bytes: usize) -> Vec<String> {
    vec![
        "client".into(),
        "--host".into(),
        ctx.host.clone(),
        "--port".into(),
        ctx.port.to_string(),
        "--clients".into(),
        clients.to_string(),
        "--bytes".into(),
        bytes.to_string(),
    ]
}

/// Whether the output shows a crash: a Rust panic or a Python traceback.
fn crashed(run: &ClientRun) -> bool {
    run.output.contains("panicked at")
        || run.output.contains("Traceback (most recent call last)")
        || run.status.code().is_none()
}

/// A crash's diagnosis, on `failure`; none for an unfinished step's `todo!()`, which is not a mistake
/// (then `check` names the step, and `grade` gives the test's own first hint).
fn with_crash_symptom(failure: Failure, run: &ClientRun) -> Failure {
    if run.output.contains("not yet implemented") {
        failure
    } else {
        failure.symptom(Symptom::ClientCrashed)
    }
}

/// A failure about `run`, with its output as a detail (where `check` also finds an
/// unfinished step's `todo!()` and names it).
fn about(run: &ClientRun, summary: String) -> Failure {
    Failure::new(summary).detail(format!(
        "command: {}\nits output:\n{}",
        run.command, run.output
    ))
}

/// Exit status 0, and every connection's bytes came back: what a correct run ends with.
fn expect_every_byte(
    run: &ClientRun,
    clients: usize,
    per_client: u64,
    record: &Record,
) -> ProbeResult {
    if crashed(run) {
        return Err(with_crash_symptom(
            about(
                run,
                format!("`{}` crashed ({})", run.command, run.describe()),
            )
            .expected("every client's echo read and compared, and exit status 0")
            .got("a crash: a panic, a traceback or a signal"),
            run,
        )
        .into());
    }
    let connections = record.connections.len();
    if connections != clients {
        return Err(about(
            run,
            format!("the client made {connections} connections for --clients {clients}"),
        )
        .expected(format!("{clients} connections, one per client"))
        .into());
    }
    let short = record
        .connections
        .iter()
        .enumerate()
        .find(|(_, c)| c.received != per_client);
    if !run.status.success() {
        let got = match short {
            Some((i, c)) => format!(
                "a failure status, with connection {} stopped after sending {} of its {per_client} bytes: the client saw a difference that was not there (one `recv` taken for a whole chunk's echo?)",
                i + 1,
                c.received
            ),
            None => "a failure status: the client saw a difference that was not there".to_string(),
        };
        return Err(about(
            run,
            format!(
                "`{}` {} although the server echoed every byte it received, unchanged",
                run.command,
                run.describe()
            ),
        )
        .expected("exit status 0: every byte came back")
        .got(got)
        .symptom(Symptom::FalseAlarm)
        .into());
    }
    if let Some((i, c)) = short {
        return Err(about(
            run,
            format!("connection {} sent {} bytes, not {per_client}, and the client exited with status 0", i + 1, c.received),
        )
        .expected(format!("--bytes = {per_client} bytes on each connection"))
        .into());
    }
    for (i, c) in record.connections.iter().enumerate() {
        if c.echoed != c.received {
            return Err(about(
                run,
                format!(
                    "connection {} did not read its whole echo: {} of {} bytes went back before it closed ({})",
                    i + 1,
                    c.echoed,
                    c.received,
                    c.error.as_deref().unwrap_or("closed")
                ),
            )
            .into());
        }
    }
    Ok(())
}

/// A run whose server misbehaved on purpose: the client must exit non-zero, without
/// crashing, and (where `says` is given) say so with that word.
fn expect_reported(run: &ClientRun, what: &str, says: Option<&str>) -> ProbeResult {
    if crashed(run) {
        return Err(with_crash_symptom(
            about(
                run,
                format!("`{}` crashed ({}) on {what}", run.command, run.describe()),
            )
            .expected(format!(
                "a message that names the client and {what}, and a failure exit status"
            ))
            .got("a crash: a panic, a traceback or a signal"),
            run,
        )
        .into());
    }
    if run.status.success() {
        return Err(about(
            run,
            format!("`{}` exited with status 0 after {what}", run.command),
        )
        .expected("a non-zero exit status: not every byte came back")
        .into());
    }
    if let Some(word) = says {
        if !run.output.to_lowercase().contains(word) {
            return Err(about(
                run,
                format!(
                    "`{}` failed ({}) but its output does not say `{word}`",
                    run.command,
                    run.describe()
                ),
            )
            .expected(format!(
                "a message about {what} that says `{word}` and names the client"
            ))
            .into());
        }
    }
    Ok(())
}

/// 3-5 clients, 200-600 KiB each, against a server that reads and echoes in small random
/// pieces: exit 0, and every byte of every connection went and came back.
pub fn every_byte(ctx: &mut Ctx) -> ProbeResult {
    let clients = ctx.rng.range(3, 5);
    let bytes = ctx.rng.range(200 << 10, 600 << 10);
    let server = start(ctx, Setup::default())?;
    let run = ctx.run_client(&args(ctx, clients, bytes), RUN_LIMIT)?;
    server.record(|r| expect_every_byte(&run, clients, bytes as u64, r))
}

/// 12-20 clients against a server that answers nobody until all of them are connected.
pub fn all_at_once(ctx: &mut Ctx) -> ProbeResult {
    let clients = ctx.rng.range(12, 20);
    let bytes = ctx.rng.range(32 << 10, 64 << 10);
    let setup = Setup {
        gate: clients,
        gate_wait: GATE_WAIT,
        ..Setup::default()
    };
    let server = start(ctx, setup)?;
    let run = ctx.run_client(&args(ctx, clients, bytes), RUN_LIMIT);
    server.record(|r| {
        let Some(open) = r.gate_gave_up_at else {
            return expect_every_byte(&run?, clients, bytes as u64, r);
        };
        // The gate's news comes first, whether the client then ended or had to be stopped.
        let mut failure = Failure::new(format!(
            "only {open} of {clients} connections were open at once after {} s: the test server answers nobody until all {clients} are connected",
            GATE_WAIT.as_secs()
        ))
        .expected(format!("{clients} connections open at the same time, one per client thread"))
        .got(format!(
            "{open} open when the test server gave up, {} made in all: the clients did not run at the same time",
            r.connections.len()
        ))
        .symptom(Symptom::Serial);
        failure = match &run {
            Ok(run) => failure.detail(format!("command: {}\nits output:\n{}", run.command, run.output)),
            Err(stopped) => failure.detail(stopped.summary.clone()),
        };
        Err(failure.into())
    })
}

/// 3-4 clients; the server alters one byte of one connection's echo.
pub fn altered_byte(ctx: &mut Ctx) -> ProbeResult {
    let clients = ctx.rng.range(3, 4);
    let bytes = ctx.rng.range(64 << 10, 128 << 10);
    let spot = Spot {
        connection: ctx.rng.range(0, clients - 1),
        offset: ctx.rng.range(1000, bytes - 1) as u64,
    };
    let setup = Setup {
        corrupt: Some(spot),
        ..Setup::default()
    };
    let server = start(ctx, setup)?;
    let run = ctx.run_client(&args(ctx, clients, bytes), RUN_LIMIT)?;
    let Some((spot, sent, got)) = server.record(|r| r.corrupted) else {
        if crashed(&run) {
            return expect_reported(&run, "a mismatch", None);
        }
        let sent = server.record(|r| r.connections.get(spot.connection).map_or(0, |c| c.received));
        return Err(about(
            &run,
            format!(
                "the client ended before connection {} sent byte {} for the test server to alter (it sent {sent} bytes): it gave up on an echo that was not altered",
                spot.connection + 1,
                spot.offset
            ),
        )
        .expected("every client sends all its bytes, and reads and compares their echo")
        .into());
    };
    let what = format!(
        "a mismatch (the server altered byte {} of connection {}'s echo: 0x{sent:02x} came back as 0x{got:02x})",
        spot.offset,
        spot.connection + 1
    );
    expect_reported(&run, &what, Some("mismatch"))
}

/// 3 clients; the server closes one connection part-way through its echo.
pub fn early_close(ctx: &mut Ctx) -> ProbeResult {
    let clients = 3;
    let bytes = ctx.rng.range(64 << 10, 128 << 10);
    let spot = Spot {
        connection: ctx.rng.range(0, clients - 1),
        offset: ctx.rng.range(1000, bytes / 2) as u64,
    };
    let setup = Setup {
        cut: Some(spot),
        ..Setup::default()
    };
    let server = start(ctx, setup)?;
    let run = ctx.run_client(&args(ctx, clients, bytes), RUN_LIMIT)?;
    let what = match server.record(|r| r.cut_at) {
        Some(at) => format!(
            "an early close (the server closed connection {} after echoing {} of its {bytes} bytes)",
            at.connection + 1,
            at.offset
        ),
        None => "an early close".to_string(),
    };
    expect_reported(&run, &what, None)
}

/// Nothing listens on the port: every connection is refused.
pub fn refused(ctx: &mut Ctx) -> ProbeResult {
    if ctx.program.has_placeholders() {
        return start(ctx, Setup::default()).map(|_| ()).map_err(Into::into);
    }
    // The port given to this test is free, and stays so: nobody listens there.
    let run = ctx.run_client(&args(ctx, 3, 1000), Duration::from_secs(10))?;
    expect_reported(
        &run,
        &format!(
            "a refused connection (nothing listens on port {})",
            ctx.port
        ),
        Some("refused"),
    )
}
