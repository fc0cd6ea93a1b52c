//! Running a rubric against a program: one fresh program per test, always torn down.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use crate::grade::probe::Ctx;
use crate::grade::probe::{Failure, Symptom, Verdict};
use crate::grade::rubric::{Kind, Lab, TestCase};
use crate::os::capture::Capture;
use crate::os::harness::{self, describe_status, LaunchError, Placeholders, Program, Spawned};
use crate::rng::Rng;

/// How long a program may take to start listening. Generous: interpreters and JVMs start
/// slowly, and the machine may be busy grading other submissions.
pub const STARTUP_LIMIT: Duration = Duration::from_secs(20);

/// Options of one grading run.
#[derive(Debug, Clone)]
pub struct Options {
    /// Only run tests of this group (or with this id).
    pub only: Option<String>,
    /// Seed for all random choices; printed so a run can be repeated.
    pub seed: u64,
    /// Host the program must listen on.
    pub host: String,
    /// How many tests may run at once (each with its own program instance).
    pub parallel: usize,
    /// Start-up limit and overall budget.
    pub limits: Limits,
    /// Record each test's packets to `DIR/TEST-ID.pcap` (`--capture`); tests then run one
    /// at a time, so that a file holds one test's packets only.
    pub capture: Option<Arc<Capture>>,
}

/// Tests run at once by default: enough to overlap the waiting that dominates most tests,
/// few enough that a 2-core machine is not oversubscribed by the programs under test.
pub const DEFAULT_PARALLEL: usize = 2;

/// How a test ended.
#[derive(Debug)]
pub enum Outcome {
    /// The behaviour is correct.
    Passed,
    /// It is not; the failure explains.
    Failed(Failure),
    /// The test could not run on this machine.
    Skipped(String),
    /// The grader's own trouble (no free port, a fork that failed, a probe that crashed)
    /// kept it from grading this test, twice: not a verdict on the program.
    NotGraded(String),
}

/// One test's result.
#[derive(Debug)]
pub struct TestResult {
    /// The test.
    pub test: &'static TestCase,
    /// How it ended.
    pub outcome: Outcome,
    /// How long it took, start-up included.
    pub elapsed: Duration,
    /// What the program printed, when it matters (on failure).
    pub program_output: Option<String>,
}

impl TestResult {
    /// Points earned.
    pub fn score(&self) -> u32 {
        match self.outcome {
            Outcome::Passed => self.test.points,
            _ => 0,
        }
    }

    /// Points available (skipped tests are not counted).
    pub fn max_score(&self) -> u32 {
        match self.outcome {
            Outcome::Skipped(_) | Outcome::NotGraded(_) => 0,
            _ => self.test.points,
        }
    }
}

/// The result of grading one program on one lab.
#[derive(Debug)]
pub struct Report {
    /// The lab.
    pub lab: &'static Lab,
    /// The program's command line as given.
    pub program: String,
    /// The seed used.
    pub seed: u64,
    /// Per-test results, in rubric order.
    pub results: Vec<TestResult>,
    /// Wall time of the whole run.
    pub elapsed: Duration,
}

impl Report {
    /// Points earned.
    pub fn score(&self) -> u32 {
        self.results.iter().map(TestResult::score).sum()
    }

    /// Points available.
    pub fn max_score(&self) -> u32 {
        self.results.iter().map(TestResult::max_score).sum()
    }

    /// Whether every test that ran passed.
    pub fn full_marks(&self) -> bool {
        self.results
            .iter()
            .all(|r| !matches!(r.outcome, Outcome::Failed(_) | Outcome::NotGraded(_)))
    }

    /// Whether the grader's own trouble kept some test from being graded: then the
    /// report is not a grade ("could not grade", exit status 2).
    pub fn could_not_grade(&self) -> bool {
        self.results
            .iter()
            .any(|r| matches!(r.outcome, Outcome::NotGraded(_)))
    }

    /// The process exit status this report means: 0 full marks, 1 some test failed,
    /// 2 could not grade.
    pub fn exit_code(&self) -> std::process::ExitCode {
        if self.could_not_grade() {
            std::process::ExitCode::from(2)
        } else if self.full_marks() {
            std::process::ExitCode::SUCCESS
        } else {
            std::process::ExitCode::from(1)
        }
    }
}

/// Selects the tests `only` asks for (a group name or a test id, or several separated by
/// commas; see [`TestCase::selected_by`]); all when `None`.
pub fn select(lab: &'static Lab, only: Option<&str>) -> Vec<&'static TestCase> {
    lab.tests
        .iter()
        .filter(|t| only.is_none_or(|o| o.split(',').any(|o| t.selected_by(o))))
        .collect()
}

/// Time limits of a whole run, beyond each test's own.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// How long a program may take to start listening (per test).
    pub startup: Duration,
    /// No test starts once this much time has passed since the first one started; the
    /// remaining tests fail with a message saying so. `None`: no overall budget.
    pub budget: Option<Duration>,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            startup: STARTUP_LIMIT,
            budget: None,
        }
    }
}

/// Grades `program` against `lab`, calling `progress` before and after each test.
pub fn grade(
    lab: &'static Lab,
    program: &Program,
    options: &Options,
    progress: &mut dyn FnMut(Progress<'_>),
) -> Report {
    let limits = options.limits;
    let started = Instant::now();
    let tests = select(lab, options.only.as_deref());
    // Seeds are drawn in rubric order before anything runs, so a test's payloads depend
    // only on the run's seed, not on which worker picks it up.
    let mut seeds = Rng::new(options.seed);
    let rngs: Vec<Rng> = tests.iter().map(|_| seeds.fork()).collect();
    let run_one =
        |index: usize| -> TestResult {
            let test = tests[index];
            match limits.budget {
            Some(budget) if started.elapsed() >= budget => TestResult {
                test,
                outcome: Outcome::Failed(
                    Failure::new(format!(
                        "not run: earlier tests used up the submission's {} s grading budget",
                        budget.as_secs()
                    ))
                    .detail(
                        "Earlier tests probably waited for the program until their time limits.",
                    ),
                ),
                elapsed: Duration::ZERO,
                program_output: None,
            },
            _ => {
                let from = options.capture.as_ref().map(|c| c.mark());
                let attempt =
                    || run_test(lab, test, program, options, rngs[index].clone(), limits.startup);
                // The grader's trouble (a port taken, a fork refused) is often passing: once
                // more, with the same payloads, before the test is reported as not graded.
                let result = match attempt() {
                    result if matches!(result.outcome, Outcome::NotGraded(_)) => attempt(),
                    result => result,
                };
                match (&options.capture, from) {
                    (Some(capture), Some(from)) => with_capture(result, capture, from),
                    _ => result,
                }
            }
        }
        };

    // Tests are independent (each starts its own program on its own port and root), so
    // several can run at once; most of a test's time is spent waiting for the program.
    // Results are still reported in rubric order, as soon as all earlier ones are in.
    let jobs = match options.capture {
        Some(_) => 1,
        None => options.parallel.clamp(1, tests.len().max(1)),
    };
    let next = AtomicUsize::new(0);
    let (tx, rx) = mpsc::channel::<Event>();
    let mut slots: Vec<Option<TestResult>> = tests.iter().map(|_| None).collect();
    thread::scope(|scope| {
        for _ in 0..jobs {
            let tx = tx.clone();
            let (next, run_one, count) = (&next, &run_one, tests.len());
            scope.spawn(move || loop {
                let index = next.fetch_add(1, Ordering::SeqCst);
                if index >= count {
                    break;
                }
                let _ = tx.send(Event::Started(index));
                let _ = tx.send(Event::Done(index, Box::new(run_one(index))));
            });
        }
        drop(tx);
        let mut reported = 0;
        let mut started_ahead = vec![false; tests.len()];
        let announce = |index: usize, progress: &mut dyn FnMut(Progress<'_>)| {
            progress(Progress::Starting {
                index,
                total: tests.len(),
                test: tests[index],
            })
        };
        for event in rx {
            match event {
                Event::Started(index) if index == reported => announce(index, progress),
                Event::Started(index) => started_ahead[index] = true,
                Event::Done(index, result) => slots[index] = Some(*result),
            }
            while let Some(result) = slots.get(reported).and_then(Option::as_ref) {
                progress(Progress::Finished {
                    index: reported,
                    total: tests.len(),
                    result,
                });
                reported += 1;
                if started_ahead.get(reported) == Some(&true) {
                    announce(reported, progress);
                }
            }
        }
    });
    let results: Vec<TestResult> = slots.into_iter().flatten().collect();
    Report {
        lab,
        program: Program::shell_words(&program.argv),
        seed: options.seed,
        results,
        elapsed: started.elapsed(),
    }
}

/// Saves the test's packets (everything since `from`) and, on a failure, says where they
/// are: the feedback's way into Wireshark.
fn with_capture(mut result: TestResult, capture: &Capture, from: SystemTime) -> TestResult {
    let saved = capture.save(result.test.id, from);
    if let Outcome::Failed(failure) = &mut result.outcome {
        failure.details.push(match saved {
            Ok(saved) if saved.frames == 0 => format!(
                "No packet crossed the wire during this test (`{}` is empty).",
                saved.path.display()
            ),
            Ok(saved) => format!(
                "The packets of this test: open `{}` in Wireshark ({} packets{}; its I/O graph is `{}`).",
                saved.path.display(),
                saved.frames,
                match (saved.not_kept, saved.complete) {
                    (0, true) => String::new(),
                    (0, false) => ", perhaps not the last ones: the capture fell behind".into(),
                    (n, _) => format!(", and {n} more the capture could not keep"),
                },
                saved.path.with_extension("svg").display()
            ),
            Err(e) => format!("This test's packets could not be saved: {e}."),
        });
    }
    result
}

/// Messages from the workers to the reporting thread.
enum Event {
    Started(usize),
    Done(usize, Box<TestResult>),
}

/// Progress events, for live output.
#[derive(Debug)]
pub enum Progress<'a> {
    /// A test is about to start.
    Starting {
        /// Position in the run (0-based).
        index: usize,
        /// Number of tests in the run.
        total: usize,
        /// The test.
        test: &'static TestCase,
    },
    /// A test has finished.
    Finished {
        /// Position in the run (0-based).
        index: usize,
        /// Number of tests in the run.
        total: usize,
        /// Its result.
        result: &'a TestResult,
    },
}

fn run_test(
    lab: &'static Lab,
    test: &'static TestCase,
    program: &Program,
    options: &Options,
    rng: Rng,
    startup: Duration,
) -> TestResult {
    let started = Instant::now();
    let finish = |outcome: Outcome, program_output: Option<String>| TestResult {
        test,
        outcome,
        elapsed: started.elapsed(),
        program_output,
    };
    let root = match tempfile::Builder::new().prefix("netlabs-root-").tempdir() {
        Ok(dir) => dir,
        Err(e) => {
            return finish(
                grader_trouble(format!("cannot create a temporary root: {e}")),
                None,
            )
        }
    };
    let mut values = Placeholders {
        host: options.host.clone(),
        port: 0,
        root: root.path().to_path_buf(),
    };
    // Ports come from a generator of their own, never from the run's seed: graders that
    // share a seed (a batch gives every student the same one) and a network would
    // otherwise pick the same ports in lockstep and keep colliding; and the payloads of a
    // seeded run must not depend on how many ports had to be tried.
    // (A counter separates tests started in the same instant by this process.)
    static STARTED: AtomicUsize = AtomicUsize::new(0);
    let nth = STARTED.fetch_add(1, Ordering::SeqCst) as u64;
    let mut ports = Rng::new(Rng::fresh_seed() ^ nth.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let mut server: Option<Spawned> = None;
    if test.kind == Kind::Server {
        match start_server(lab, program, &mut values, &mut ports, startup) {
            Ok(spawned) => server = Some(spawned),
            Err(StartFailure::Program(failure, output)) => {
                return finish(Outcome::Failed(failure), output)
            }
            Err(StartFailure::Grader(why)) => return finish(Outcome::NotGraded(why), None),
        }
    } else {
        match harness::pick_port(&values.host, &mut ports) {
            Ok(port) => values.port = port,
            Err(e) => return finish(grader_trouble(format!("no free port: {e}")), None),
        }
    }

    // The check after the test gets payloads of its own, drawn from the test's seed.
    let mut after_rng = rng.clone();
    let after_rng = after_rng.fork();
    let mut ctx = Ctx::new(
        &values,
        program.clone(),
        lab.default_port,
        rng,
        test.time_limit,
    );
    ctx.server = server.as_ref().map(Spawned::process);
    let transcript = ctx.transcript.clone();
    let probe = test.probe;
    let (tx, rx) = mpsc::channel();
    // The probe runs on its own thread so that the time limit holds even if a probe is
    // stuck somewhere its own deadlines do not reach. Such a thread is abandoned (its
    // sockets time out on their own) and the program is torn down regardless.
    let handle = thread::Builder::new()
        .name(format!("probe {}", test.id))
        .spawn(move || {
            let result = probe(&mut ctx);
            let _ = tx.send(result);
        });
    // The grader's own trouble is not a verdict: kept apart from the probe's.
    let mut trouble: Option<String> = None;
    let verdict = match handle {
        Err(e) => {
            trouble = Some(format!("the grader could not start the probe: {e}"));
            Ok(())
        }
        Ok(_) => match rx.recv_timeout(test.time_limit + Duration::from_secs(2)) {
            Ok(result) => result,
            Err(mpsc::RecvTimeoutError::Timeout) => Err(Failure::new(format!(
                "the test did not finish within its {} s time limit",
                test.time_limit.as_secs()
            ))
            .detail("The program is probably waiting for something that never happens (or is very slow).")
            .into()),
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                trouble = Some(
                    "the probe crashed: this is a bug in the autograder, please report it".into(),
                );
                Ok(())
            }
        },
    };
    // What crossed the wire, ending when the verdict was known (what follows, the check
    // that the program still serves, has a transcript of its own).
    let exchange = transcript.exchange();

    // A test passes only if, at its end, the program is alive and serving: a crash in the
    // middle (a thread's panic, the process's death) fails the test it happened in.
    let verdict = match (verdict, server.as_mut()) {
        (Ok(()), Some(s)) if !lab.ends_program.contains(&test.id) => {
            still_alive_and_serving(lab, s, &values, program, after_rng)
        }
        (verdict, _) => verdict,
    };
    let (exited_during_test, output, longer_output) = match server.as_mut() {
        Some(s) => {
            // A program that crashed as the probe failed may still be on its way out;
            // give it a moment so the report can say it died (and how).
            let exited = if verdict.is_err() {
                s.wait_timeout(Duration::from_millis(300))
            } else {
                s.try_status()
            };
            s.stop();
            (exited, Some(s.output_tail(30)), Some(s.output_tail(200)))
        }
        None => (None, None, None),
    };
    if let Some(why) = trouble {
        return finish(Outcome::NotGraded(why), output);
    }
    // Its whole output is in by now (teardown joins the readers): a crash it printed during
    // the test fails the test, even when every exchange went right.
    let verdict = match (verdict, &longer_output) {
        (Ok(()), Some(out)) if !lab.ends_program.contains(&test.id) => match crash_line(out) {
            Some(line) => Err(Failure::new(format!(
                "part of the program crashed during the test: {line}"
            ))
            .detail("The test's exchanges went right, but a crash is a failure wherever it happens: a thread that panics while serving one client loses that client's work.")
            .symptom(Symptom::Crashed)
            .into()),
            None => Ok(()),
        },
        (verdict, _) => verdict,
    };
    // The program's own guard may have killed it for its memory during the test: say so
    // first, whatever symptom the probe saw. (Only this test's program: each has its own.)
    if let Some(program) = server.as_ref().filter(|s| s.memory_violation().is_some()) {
        let seen = match verdict {
            Err(Verdict::Fail(seen)) => seen,
            _ => Failure::new("the program was killed during the test"),
        };
        return finish(Outcome::Failed(memory_first(program, seen)), output);
    }
    match verdict {
        Ok(()) => finish(Outcome::Passed, None),
        Err(Verdict::Skip(reason)) => finish(Outcome::Skipped(reason), None),
        Err(Verdict::Fail(mut failure)) => {
            if failure.exchange.is_empty() {
                failure.exchange = exchange;
            }
            if let Some(status) = exited_during_test {
                failure.details.push(format!(
                    "The program {} during the test.",
                    describe_status(status)
                ));
                // The program's end explains what the probe saw (a refused client, a
                // connection closed early): it is the symptom to explain.
                let crashed = longer_output.as_deref().and_then(crash_line).is_some();
                failure.symptom = Some(if crashed || !status.success() {
                    Symptom::Crashed
                } else {
                    Symptom::Exited
                });
            }
            finish(Outcome::Failed(failure), output)
        }
    }
}

/// Starts the server (on a fresh port, retried when someone else took ours), and says
/// whose fault it is when it does not come up.
fn start_server(
    lab: &Lab,
    program: &Program,
    values: &mut Placeholders,
    ports: &mut Rng,
    startup: Duration,
) -> Result<Spawned, StartFailure> {
    harness::start_server(program, lab.server_args, values, ports, startup).map_err(|e| match e {
        LaunchError::NoPort(e) => StartFailure::Grader(format!("the grader found no free port: {e}")),
        LaunchError::Spawn { shown, error } if harness::is_programs_fault(&error) => {
            StartFailure::Program(
                Failure::new(format!("could not run `{shown}`: {error}"))
                    .detail("Check the path to the program and that it is executable."),
                None,
            )
        }
        // A fork or a sandbox that failed is this machine's, not the program's.
        LaunchError::Spawn { shown, error } => {
            StartFailure::Grader(format!("could not start `{shown}`: {error}"))
        }
        LaunchError::Exited {
            spawned,
            shown,
            status,
        } => {
            let failure = Failure::new(format!(
                "the program {} before it listened on port {}",
                describe_status(status),
                values.port
            ))
            .detail(format!("command: {shown}"));
            StartFailure::Program(
                memory_first(&spawned, failure),
                Some(spawned.output_tail(30)),
            )
        }
        LaunchError::NeverListened {
            spawned,
            shown,
            waited,
        } => {
            let failure = Failure::new(format!(
                "the program did not listen on {}:{} within {} s",
                values.host,
                values.port,
                waited.as_secs()
            ))
            .detail(format!("command: {shown}"))
            .detail("Does it read the port from --port (or the {port} placeholder)? Does it listen on the right host?");
            StartFailure::Program(
                memory_first(&spawned, failure),
                Some(spawned.output_tail(30)),
            )
        }
        LaunchError::PortsTaken => StartFailure::Grader(
            "other programs on this machine kept taking the ports picked for the test".into(),
        ),
    })
}

/// Why a server could not be started for a test.
enum StartFailure {
    /// Because of the program: its failure, and its output.
    Program(Failure, Option<String>),
    /// Because of the grader or the machine.
    Grader(String),
}

/// After a passing probe: the program has not exited, and serves a new client.
fn still_alive_and_serving(
    lab: &Lab,
    server: &mut Spawned,
    values: &Placeholders,
    program: &Program,
    rng: Rng,
) -> Result<(), Verdict> {
    if let Some(status) = server.try_status() {
        return Err(Failure::new(format!(
            "the program {} during the test, although the test's exchanges went right",
            describe_status(status)
        ))
        .detail("A server must still be running at the end of every test.")
        .symptom(if status.success() {
            Symptom::Exited
        } else {
            Symptom::Crashed
        })
        .into());
    }
    let mut ctx = Ctx::new(
        values,
        program.clone(),
        lab.default_port,
        rng,
        STILL_SERVES_LIMIT,
    );
    ctx.server = Some(server.process());
    ctx.label_clients("n");
    let port = ctx.addr().port();
    let verdict = (lab.still_serves)(&mut ctx);
    // The exchange that went wrong is the new client's, not the test's (which went right).
    let exchange = ctx.transcript.exchange();
    verdict.map_err(|v| match v {
        Verdict::Fail(f) => {
            let failure = Failure::new(format!(
                "after the test, the program no longer serves a new client: {}",
                f.summary
            ))
            .detail("The test's exchanges went right, but a server must still accept and serve new clients afterwards: is it stuck on an earlier client, or did its accept loop end?");
            // Why the new client waits, when /proc can tell: connections the test's
            // clients closed are still open in the program (it never saw their end).
            let unclosed = server.process().unclosed_connections(port).unwrap_or(0);
            let mut failure = match f.symptom {
                Some(Symptom::Refused) => failure.symptom(Symptom::Refused),
                _ if unclosed > 0 => failure
                    .detail(format!(
                        "The program still holds {unclosed} connection(s) whose clients had closed them (state CLOSE_WAIT): it never noticed that they ended."
                    ))
                    .symptom(Symptom::NeverClosed),
                _ => failure.symptom(Symptom::Stalled),
            };
            // What the new client expected, where it gave up.
            failure.expected = f.expected.clone();
            failure.got = f.got.clone();
            failure.exchange = exchange;
            failure.into()
        }
        skip => skip,
    })
}

/// How long the check after a test may take.
const STILL_SERVES_LIMIT: Duration = Duration::from_secs(5);

/// The first line of `output` that shows a crash: a Rust panic, or a Python exception that
/// nothing caught (a thread's traceback).
fn crash_line(output: &str) -> Option<String> {
    let lines: Vec<&str> = output.lines().collect();
    let at = lines.iter().position(|l| {
        l.contains("panicked at") || l.starts_with("Traceback (most recent call last)")
    })?;
    // A panic's message is on the line after its location; a traceback's cause is last.
    let cause = if lines[at].contains("panicked at") {
        lines.get(at + 1)
    } else {
        lines[at..].iter().rev().find(|l| !l.starts_with(' '))
    };
    Some(match cause {
        Some(c) if !c.trim().is_empty() => format!("{} {}", lines[at].trim(), c.trim()),
        _ => lines[at].trim().to_string(),
    })
}

/// When the program's guard killed it for its memory, that is the failure, whatever else
/// was seen (`seen` becomes a detail).
fn memory_first(program: &Spawned, seen: Failure) -> Failure {
    let Some(why) = program.memory_violation() else {
        return seen;
    };
    let mut failure = Failure::new(why).detail(format!("What the test saw: {}", seen.summary));
    failure.exchange = seen.exchange.clone();
    failure.detail(
        "Look for memory that grows without bound: a buffer that is never cleared, \
         a whole stream read into memory, a connection list that is never pruned.",
    )
}

fn grader_trouble(message: String) -> Outcome {
    Outcome::NotGraded(message)
}

#[cfg(test)]
mod crash_tests {
    use super::crash_line;

    #[test]
    fn a_panic_or_an_uncaught_exception_is_found_with_its_cause() {
        let rust = "listening\nthread 'conn' panicked at src/connection.rs:42:9:\ncalled `Option::unwrap()` on a `None` value\n";
        assert_eq!(
            crash_line(rust).as_deref(),
            Some("thread 'conn' panicked at src/connection.rs:42:9: called `Option::unwrap()` on a `None` value")
        );
        let python = "Exception in thread Thread-3:\nTraceback (most recent call last):\n  File \"s.py\", line 9, in serve\n    int(x)\nValueError: invalid literal\n";
        assert_eq!(
            crash_line(python).as_deref(),
            Some("Traceback (most recent call last): ValueError: invalid literal")
        );
        assert_eq!(crash_line("client error: connection reset\n"), None);
    }
}
