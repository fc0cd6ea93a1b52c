//! `autograder bench`: the lecture's graph (throughput and latency against concurrent
//! clients) for any server, from one command.
//!
//! For each program and each client count the server is started fresh, by the harness's
//! own start-up path and launch rules (as for `grade`: the lab's `--port {port}` …
//! arguments are appended unless the command uses placeholders), the load generator
//! ([`crate::grade::swarm::load`]) connects that many persistent clients and keeps each one
//! busy for `--duration` seconds, and the server's CPU time and resident memory are
//! sampled through its [`Process`] handle meanwhile. The results go to `bench.csv`,
//! `bench.svg` ([`svg`]) and a table on standard output.
//!
//! ```text
//! autograder bench lab1 --clients 1,2,4,8 --duration 3 --solution lab1,lab2,lab3
//! autograder bench lab5 --size 1048576 -- ./my-http-server -- python3 server.py --port {port} --root {root}
//! autograder bench lab5 --compare 'nginx=sh nginx.sh {port} {root}' --solution lab5
//! autograder bench lab5 --solution lab5:threads,lab5:events --clients 1,10,100,1000,10000
//! autograder bench lab4 --size 1048576 --solution lab4 --compare 'pyftpdlib=python3 -m pyftpdlib --port {port} --directory {root} --interface 127.0.0.1'
//! ```
//!
//! What is measured is each lab's own [`Bench`] (a field of its rubric): echo labs (1–3)
//! measure round trips of `--size` bytes; lab 5 measures keep-alive `GET /bench.bin` of a
//! `--size`-byte file the bench writes into the server's root; lab 4 measures passive
//! `RETR bench.bin` of that file from logged-in anonymous sessions (at most
//! [`ftp_load::MAX_CLIENTS`] clients).

pub mod svg;

use std::fmt::Write as _;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use crate::grade::report::escape;
use crate::grade::rubric::Lab;
use crate::grade::runner::STARTUP_LIMIT;
use crate::grade::swarm::ftp_load;
use crate::grade::swarm::load::{self, Bench, LoadConfig};
use crate::os::harness::{self, describe_status, LaunchError, Placeholders, Program, Spawned};
use crate::os::process::{self, Process};
use crate::rng::Rng;

/// The CSV header; one [`Row`] per line follows.
pub const CSV_HEADER: &str =
    "program,clients,requests_per_sec,mb_per_sec,p50_ms,p99_ms,errors,cpu_percent,rss_mb";

/// A program to measure and the name it has in the table, CSV and graph.
#[derive(Debug, Clone)]
pub struct Target {
    /// Short name (`lab1-solution`, `nginx`, `server.py`).
    pub label: String,
    /// How to start it.
    pub program: Program,
}

impl Target {
    /// A target named after its command: the program's file name, or for an interpreter
    /// (`python3 server.py`) the script's.
    pub fn from_argv(argv: Vec<String>) -> Target {
        Target {
            label: default_label(&argv),
            program: Program::new(argv),
        }
    }
}

fn default_label(argv: &[String]) -> String {
    let base = |s: &str| {
        Path::new(s)
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_else(|| s.to_string())
    };
    let Some(first) = argv.first() else {
        return "program".into();
    };
    let name = base(first);
    let interpreter = [
        "python", "python3", "node", "ruby", "perl", "sh", "bash", "java",
    ]
    .contains(&name.as_str());
    match argv[1..].iter().find(|a| !a.starts_with('-')) {
        Some(script) if interpreter => base(script),
        _ => name,
    }
}

/// Makes labels unique (`x`, `x#2`, …) so every program gets its own line.
pub fn dedup_labels(targets: &mut [Target]) {
    for i in 1..targets.len() {
        let mut n = 1;
        let base = targets[i].label.clone();
        while targets[..i].iter().any(|t| t.label == targets[i].label) {
            n += 1;
            targets[i].label = format!("{base}#{n}");
        }
    }
}

/// Options of one bench run.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// Client counts, one measurement each.
    pub clients: Vec<usize>,
    /// Measured window per client count.
    pub duration: Duration,
    /// Echo bytes per round trip, or the HTTP file's size.
    pub size: usize,
    /// Host the server listens on.
    pub host: String,
    /// Generator threads (default: the number of cores, like `wrk -t`).
    pub threads: usize,
}

/// One line of results.
#[derive(Debug, Clone)]
pub struct Row {
    /// The program's label.
    pub program: String,
    /// Concurrent clients.
    pub clients: usize,
    /// Completed requests (round trips) per second.
    pub requests_per_sec: f64,
    /// Payload megabytes (10^6 bytes) per second.
    pub mb_per_sec: f64,
    /// Median latency.
    pub p50_ms: f64,
    /// 99th-percentile latency.
    pub p99_ms: f64,
    /// Failed requests and connections (see [`crate::grade::swarm::load::LoadResult::errors`]).
    pub errors: u64,
    /// The server's CPU use during the window (100 = one core busy); `None` without /proc.
    pub cpu_percent: Option<f64>,
    /// The server's largest resident memory during the window; `None` without /proc.
    pub rss_mb: Option<f64>,
    /// Clients connected when the window started.
    pub connected: usize,
    /// The server ended during the run (it crashed, or was killed).
    pub server_died: Option<String>,
    /// CPU used by the bench itself (mostly the load generator) during the run, in
    /// percent of one core: near `100 × cores`, the generator may be the bottleneck.
    pub generator_cpu_percent: f64,
}

/// Runs every target at every client count, calling `progress` after each measurement.
///
/// # Errors
/// When a server cannot be started (it is not found, exits at once, or never listens).
pub fn run(
    lab: &Lab,
    targets: &[Target],
    options: &BenchOptions,
    progress: &mut dyn FnMut(&Row),
) -> anyhow::Result<Vec<Row>> {
    // 10,000 clients need 10,000 descriptors on each side (the servers started afterwards
    // get the usual limit back: they must raise it themselves, as in the world).
    process::raise_open_files_limit();
    let mut rng = Rng::new(Rng::fresh_seed());
    let mut rows = Vec::new();
    for target in targets {
        for &clients in &options.clients {
            let row = measure(lab, target, options, clients, &mut rng)?;
            progress(&row);
            rows.push(row);
        }
    }
    Ok(rows)
}

/// A running server under test, with its root directory.
pub struct Server {
    /// The process (group).
    pub spawned: Spawned,
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its root directory (removed when dropped).
    pub root: tempfile::TempDir,
}

/// Starts `program` as `lab`'s server, by the harness's start-up path (a fresh port, the
/// lab's launch rules, retries when the port is taken) in a fresh root that `lab`'s
/// workload is prepared in (`size`: the HTTP file's), and waits until it listens.
///
/// # Errors
/// When it cannot be run, exits, or does not listen within the start-up limit.
pub fn start_server(
    program: &Program,
    lab: &Lab,
    host: &str,
    size: usize,
    rng: &mut Rng,
) -> anyhow::Result<Server> {
    let root = tempfile::Builder::new()
        .prefix("netlabs-bench-")
        .tempdir()
        .context("cannot create a temporary root")?;
    lab.bench
        .prepare(root.path(), size)
        .context("cannot prepare the server's root")?;
    let mut values = Placeholders {
        host: host.to_string(),
        port: 0,
        root: root.path().to_path_buf(),
    };
    let spawned =
        match harness::start_server(program, lab.server_args, &mut values, rng, STARTUP_LIMIT) {
            Ok(spawned) => spawned,
            Err(LaunchError::NoPort(e)) => {
                return Err(anyhow::Error::new(e).context("no free port"))
            }
            Err(LaunchError::Spawn { shown, error }) => {
                return Err(anyhow::Error::new(error).context(format!("cannot run `{shown}`")))
            }
            Err(LaunchError::Exited {
                spawned,
                shown,
                status,
            }) => bail!(
                "`{shown}` {} before it listened on port {}; its last output:\n{}",
                describe_status(status),
                values.port,
                spawned.output_tail(20)
            ),
            Err(LaunchError::NeverListened {
                spawned,
                shown,
                waited,
            }) => bail!(
                "`{shown}` did not listen on {host}:{} within {} s; its last output:\n{}",
                values.port,
                waited.as_secs(),
                spawned.output_tail(20)
            ),
            Err(LaunchError::PortsTaken) => {
                bail!(
                    "other programs kept taking the ports picked for the server; please run again"
                )
            }
        };
    let addr = (host, values.port)
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .with_context(|| format!("cannot resolve {host}"))?;
    Ok(Server {
        spawned,
        addr,
        root,
    })
}

fn measure(
    lab: &Lab,
    target: &Target,
    options: &BenchOptions,
    clients: usize,
    rng: &mut Rng,
) -> anyhow::Result<Row> {
    let mut server = start_server(&target.program, lab, &options.host, options.size, rng)
        .with_context(|| format!("cannot start {}", target.label))?;
    let config = LoadConfig {
        addr: server.addr,
        clients,
        duration: options.duration,
        threads: options.threads,
        bench: lab.bench,
        size: options.size,
        // A burst of thousands of connects can overflow a small listen backlog; the
        // kernel retries dropped SYNs after 1 s, 3 s, … so allow for a few retries.
        connect_limit: Duration::from_secs(8) + Duration::from_millis(clients as u64),
    };
    let sampler = Sampler::start(server.spawned.process());
    let (cpu_before, wall_before) = (process::own_cpu_seconds(), Instant::now());
    let result = load::run(&config).context("the load generator failed")?;
    let generator_cpu_percent =
        100.0 * (process::own_cpu_seconds() - cpu_before) / wall_before.elapsed().as_secs_f64();
    let samples = sampler.finish();
    let server_died = server.spawned.try_status().map(describe_status);
    server.spawned.stop();
    let (cpu_percent, rss_mb) = samples.summarise(result.window);
    Ok(Row {
        program: target.label.clone(),
        clients,
        requests_per_sec: result.requests_per_sec(),
        mb_per_sec: result.mb_per_sec(),
        p50_ms: result.latency_ms(0.50),
        p99_ms: result.latency_ms(0.99),
        errors: result.errors,
        cpu_percent,
        rss_mb,
        connected: result.connected,
        server_died,
        generator_cpu_percent,
    })
}

/// One reading of the server's resources.
#[derive(Debug, Clone, Copy)]
struct Sample {
    at: Instant,
    cpu_seconds: f64,
    rss_bytes: u64,
}

/// Samples the CPU time and resident memory of a program's processes every 100 ms, on a
/// thread of its own, until told to stop.
struct Sampler {
    stop: mpsc::Sender<()>,
    handle: thread::JoinHandle<Samples>,
}

struct Samples(Vec<Sample>);

impl Sampler {
    fn start(server: Process) -> Sampler {
        let (stop, stopped) = mpsc::channel::<()>();
        let handle = thread::spawn(move || {
            let mut samples = Vec::new();
            // Finding the group's members scans all of /proc, which costs real CPU on a
            // busy machine (CPU the server under test would not get), so the member list
            // is refreshed once a second and only the members are read every 100 ms.
            let mut members = Vec::new();
            for round in 0u64.. {
                if round % 10 == 0 {
                    members = server.members().unwrap_or_default();
                }
                if let Some(s) = sample(&members) {
                    samples.push(s);
                }
                // The period of the measurement, not a wait for an event: the stop
                // signal ends it at once.
                match stopped.recv_timeout(Duration::from_millis(100)) {
                    Err(mpsc::RecvTimeoutError::Timeout) => continue,
                    _ => break,
                }
            }
            if let Some(s) = sample(&members) {
                samples.push(s);
            }
            Samples(samples)
        });
        Sampler { stop, handle }
    }

    fn finish(self) -> Samples {
        let _ = self.stop.send(());
        self.handle.join().unwrap_or(Samples(Vec::new()))
    }
}

/// One reading of the processes `members`, summed.
fn sample(members: &[u32]) -> Option<Sample> {
    let at = Instant::now();
    process::usage(members).map(|u| Sample {
        at,
        cpu_seconds: u.cpu_seconds,
        rss_bytes: u.rss_bytes,
    })
}

impl Samples {
    /// CPU% over the samples that bracket the window, and the largest RSS seen in it.
    fn summarise(&self, window: Option<(Instant, Instant)>) -> (Option<f64>, Option<f64>) {
        let Some((start, end)) = window else {
            return (None, None);
        };
        let inside: Vec<&Sample> = self
            .0
            .iter()
            .filter(|s| s.at >= start && s.at <= end + Duration::from_millis(150))
            .collect();
        let rss = inside
            .iter()
            .map(|s| s.rss_bytes)
            .max()
            .map(|b| b as f64 / (1024.0 * 1024.0));
        let cpu = match (inside.first(), inside.last()) {
            (Some(a), Some(b)) if b.at > a.at => {
                Some(100.0 * (b.cpu_seconds - a.cpu_seconds).max(0.0) / (b.at - a.at).as_secs_f64())
            }
            _ => None,
        };
        (cpu, rss)
    }
}

/// The rows as CSV, header first.
pub fn csv(rows: &[Row]) -> String {
    let mut out = format!("{CSV_HEADER}\n");
    for r in rows {
        let opt = |v: Option<f64>, digits: usize| match v {
            Some(v) => format!("{v:.digits$}"),
            None => String::new(),
        };
        let _ = writeln!(
            out,
            "{},{},{:.1},{:.3},{:.3},{:.3},{},{},{}",
            escape::csv(&r.program),
            r.clients,
            r.requests_per_sec,
            r.mb_per_sec,
            r.p50_ms,
            r.p99_ms,
            r.errors,
            opt(r.cpu_percent, 1),
            opt(r.rss_mb, 2),
        );
    }
    out
}

/// The rows as an aligned text table.
pub fn table(rows: &[Row]) -> String {
    let header = [
        "program", "clients", "req/s", "MB/s", "p50 ms", "p99 ms", "errors", "cpu %", "rss MB",
    ];
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                r.program.clone(),
                r.clients.to_string(),
                format!("{:.0}", r.requests_per_sec),
                format!("{:.2}", r.mb_per_sec),
                format!("{:.3}", r.p50_ms),
                format!("{:.3}", r.p99_ms),
                r.errors.to_string(),
                r.cpu_percent.map_or("-".into(), |v| format!("{v:.0}")),
                r.rss_mb.map_or("-".into(), |v| format!("{v:.1}")),
            ]
        })
        .collect();
    let widths: Vec<usize> = (0..header.len())
        .map(|i| {
            cells
                .iter()
                .map(|row| row[i].len())
                .chain([header[i].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    let line = |out: &mut String, row: &[String]| {
        for (i, cell) in row.iter().enumerate() {
            if i == 0 {
                let _ = write!(out, "{cell:<w$}", w = widths[i]);
            } else {
                let _ = write!(out, "  {cell:>w$}", w = widths[i]);
            }
        }
        out.push('\n');
    };
    line(
        &mut out,
        &header.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
    );
    for row in &cells {
        line(&mut out, row);
    }
    out
}

/// Writes `bench.csv` and `bench.svg` into `dir` (created if needed); returns their paths.
///
/// # Errors
/// When the directory or files cannot be written.
pub fn write_outputs(dir: &Path, title: &str, rows: &[Row]) -> anyhow::Result<(PathBuf, PathBuf)> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let csv_path = dir.join("bench.csv");
    let svg_path = dir.join("bench.svg");
    std::fs::write(&csv_path, csv(rows))
        .with_context(|| format!("cannot write {}", csv_path.display()))?;
    std::fs::write(&svg_path, svg::chart(title, rows))
        .with_context(|| format!("cannot write {}", svg_path.display()))?;
    Ok((csv_path, svg_path))
}

/// `autograder bench`'s arguments.
#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:\n  \
    autograder bench lab1 --solution lab1,lab2,lab3 --clients 1,2,4,8,16,32\n  \
    autograder bench lab2 --duration 3 -- ./my-server -- python3 echo.py --port {port}\n  \
    autograder bench lab5 --size 1048576 --compare 'nginx=sh nginx.sh {port} {root}' --solution lab5\n  \
    autograder bench lab5 --solution lab5:threads,lab5:events --compare 'nginx=sh nginx.sh {port} {root}'\n  \
    autograder bench lab4 --solution lab4 --compare 'pyftpdlib=python3 -m pyftpdlib --port {port} --directory {root}'\n\n\
    Writes OUT/bench.csv and OUT/bench.svg and prints a table. Echo labs measure round trips \
    of SIZE bytes; lab5 measures keep-alive GETs of a SIZE-byte file written into {root}; \
    lab4 measures passive RETRs of that file by anonymous FTP sessions (up to 64 clients).")]
pub struct BenchArgs {
    /// The lab whose protocol and launch rules to use (lab1, lab2, lab3: echo; lab4: FTP;
    /// lab5: HTTP).
    pub lab: String,
    /// Client counts to measure, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,2,4,8,16,32,64")]
    pub clients: Vec<usize>,
    /// Seconds of load per client count (after all clients have connected).
    #[arg(long, default_value_t = 5.0)]
    pub duration: f64,
    /// Bytes per echo round trip, or the size of the file lab4 or lab5 serves.
    #[arg(long, default_value_t = 1024)]
    pub size: usize,
    /// Directory for bench.csv and bench.svg.
    #[arg(long, default_value = ".")]
    pub out: PathBuf,
    /// Also measure these labs' reference solutions (release builds), e.g. `lab1,lab2`;
    /// `LAB:MODEL` runs a reference in one of its concurrency models
    /// (`lab5:threads,lab5:events`).
    #[arg(long, value_delimiter = ',')]
    pub solution: Vec<String>,
    /// Build the `--solution` references in the dev profile instead of release: quicker
    /// to build, much slower to run (for trying a command out, not for measuring).
    #[arg(long)]
    pub dev_build: bool,
    /// A named program: `NAME=COMMAND ARGS…` (split into words as a shell would: quote with ' or ").
    #[arg(long, value_name = "NAME=COMMAND")]
    pub compare: Vec<String>,
    /// Load-generator threads (default: the number of cores, like `wrk -t`).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Host the servers listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Record each run's packets (one program, one client count) to DIR/PROGRAM-Nclients.pcap
    /// and draw its I/O graph beside it (see `grade --capture`). Capturing costs CPU: such
    /// a run measures less throughput than one without.
    #[arg(long, value_name = "DIR")]
    pub capture: Option<PathBuf>,
    /// Programs to measure, each after its own `--`.
    #[arg(last = true, value_name = "PROGRAM")]
    pub programs: Vec<String>,
}

impl BenchArgs {
    /// Runs the bench and prints the table; the exit status is 0 unless it could not run.
    ///
    /// # Errors
    /// Bad arguments, a build failure, or a server that cannot be started.
    pub fn execute(self) -> anyhow::Result<std::process::ExitCode> {
        let lab = bench_lab(&self.lab)?;
        // First, before anything starts a thread or a program (see cmd::capture).
        let capture = self
            .capture
            .as_deref()
            .and_then(|dir| crate::cmd::capture::start(dir, "program and client count"));
        let mut capture_from = capture.as_ref().map(|c| c.mark());
        if self.clients.is_empty() || self.clients.contains(&0) {
            bail!("--clients needs positive counts, e.g. --clients 1,2,4,8");
        }
        let most = self.clients.iter().copied().max().unwrap_or(0);
        if lab.bench == Bench::FtpRetr && most > ftp_load::MAX_CLIENTS {
            bail!(
                "{} runs at most {} FTP clients (a thread each), not {most}",
                lab.name,
                ftp_load::MAX_CLIENTS
            );
        }
        if !(self.duration > 0.0 && self.duration.is_finite()) {
            bail!("--duration must be a positive number of seconds");
        }
        if self.size == 0 {
            bail!("--size must be at least 1 byte");
        }
        let mut targets = Vec::new();
        let mut built: Vec<(String, PathBuf)> = Vec::new();
        for spec in &self.solution {
            let solution = SolutionSpec::parse(spec)?;
            let package = format!("{}-solution", solution.lab);
            let exe = match built.iter().find(|(p, _)| *p == package) {
                Some((_, exe)) => exe.clone(),
                None => {
                    let root = crate::os::cargo::workspace_root()?;
                    let release = !self.dev_build;
                    let profile = if release { "release" } else { "dev" };
                    eprintln!("Building {package} ({profile}) …");
                    let exe = crate::os::cargo::build(&root, &package, release)?;
                    built.push((package.clone(), exe.clone()));
                    exe
                }
            };
            targets.push(solution.target(&exe));
        }
        for spec in &self.compare {
            let (name, command) = spec
                .split_once('=')
                .filter(|(n, _)| !n.is_empty() && !n.contains(' '))
                .with_context(|| format!("--compare wants NAME=COMMAND, got `{spec}`"))?;
            let argv = split_words(command)?;
            if argv.is_empty() {
                bail!("--compare `{spec}` has no command");
            }
            targets.push(Target {
                label: name.to_string(),
                program: Program::new(argv),
            });
        }
        for argv in self.programs.split(|a| a == "--") {
            if !argv.is_empty() {
                targets.push(Target::from_argv(argv.to_vec()));
            }
        }
        if targets.is_empty() {
            bail!(
                "nothing to measure: give programs after `--` (several: `-- ./a -- ./b`), \
                 --compare NAME=COMMAND, or --solution {}",
                self.lab
            );
        }
        dedup_labels(&mut targets);
        let options = BenchOptions {
            clients: self.clients.clone(),
            duration: Duration::from_secs_f64(self.duration),
            size: self.size,
            host: self.host.clone(),
            threads: self
                .threads
                .unwrap_or_else(|| thread::available_parallelism().map_or(2, |n| n.get())),
        };
        let what = lab.bench.describe(self.size);
        eprintln!(
            "Benchmarking {} program(s) on {}: {what}, {} s per client count",
            targets.len(),
            lab.name,
            self.duration
        );
        let mut progress = |r: &Row| {
            eprintln!(
                "  {:<20} {:>6} clients: {:>10.0} req/s  p99 {:>9.3} ms  errors {}  (bench cpu {:.0}%){}",
                r.program,
                r.clients,
                r.requests_per_sec,
                r.p99_ms,
                r.errors,
                r.generator_cpu_percent,
                match (&r.server_died, r.connected < r.clients) {
                    (Some(how), _) => format!("  (the server {how} during the run)"),
                    (None, true) =>
                        format!("  ({} of {} clients connected)", r.connected, r.clients),
                    _ => String::new(),
                }
            );
            if let (Some(capture), Some(from)) = (&capture, capture_from) {
                let name = format!(
                    "{}-{}clients",
                    r.program.replace(['/', '#'], "_"),
                    r.clients
                );
                crate::cmd::capture::save_and_draw(
                    capture,
                    &name,
                    from,
                    &format!("{name}: bytes per 10 ms"),
                );
                capture_from = Some(capture.mark());
            }
        };
        let rows = run(lab, &targets, &options, &mut progress)?;
        let title = format!("{}: {what}", lab.name);
        let (csv_path, svg_path) = write_outputs(&self.out, &title, &rows)?;
        say!("{}", table(&rows));
        sayln!("wrote {} and {}", csv_path.display(), svg_path.display());
        Ok(std::process::ExitCode::SUCCESS)
    }
}

/// One `--solution` entry: a lab's reference, optionally in one of its concurrency models
/// (`lab5:events` runs `lab5-solution --model events`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SolutionSpec {
    /// The lab (`lab5`).
    pub lab: String,
    /// The value of the reference's `--model`, if one was asked for.
    pub model: Option<String>,
}

impl SolutionSpec {
    /// Parses `LAB` or `LAB:MODEL`.
    ///
    /// # Errors
    /// For an empty lab or model, or a model that is not one word.
    pub fn parse(spec: &str) -> anyhow::Result<SolutionSpec> {
        let (lab, model) = match spec.split_once(':') {
            Some((lab, model)) => (lab, Some(model)),
            None => (spec, None),
        };
        let word = |s: &str| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        };
        if !word(lab) || model.is_some_and(|m| !word(m)) {
            bail!("--solution wants LAB or LAB:MODEL (e.g. lab5:events), got `{spec}`");
        }
        Ok(SolutionSpec {
            lab: lab.to_string(),
            model: model.map(str::to_string),
        })
    }

    /// The target running the reference binary `exe`: labelled `lab5-solution`, or
    /// `lab5-solution:events` with `--model events` before the lab's own arguments.
    pub fn target(&self, exe: &Path) -> Target {
        let mut argv = vec![exe.to_string_lossy().into_owned()];
        let mut label = format!("{}-solution", self.lab);
        if let Some(model) = &self.model {
            argv.extend(["--model".to_string(), model.clone()]);
            label = format!("{label}:{model}");
        }
        Target {
            label,
            program: Program::new(argv),
        }
    }
}

/// The lab `name`, if it has a bench workload.
///
/// # Errors
/// For an unknown lab, or one whose rubric says it is measured elsewhere (lab 4's FTP).
pub fn bench_lab(name: &str) -> anyhow::Result<&'static Lab> {
    let measured: Vec<&str> = crate::grade::labs::LABS
        .iter()
        .filter(|l| !matches!(l.bench, Bench::Elsewhere(_)))
        .map(|l| l.name)
        .collect();
    let Some(lab) = crate::grade::labs::find(name) else {
        bail!("unknown lab `{name}`; bench knows {}", measured.join(", "));
    };
    if let Bench::Elsewhere(why) = lab.bench {
        bail!("{name} has no bench workload: {why}");
    }
    Ok(lab)
}

/// Splits a command line into words as a POSIX shell would (quotes with ' or ", and
/// backslash escapes; no variables or globs: a program's arguments, not a script), with
/// `shlex`.
///
/// # Errors
/// On an unterminated quote or a trailing backslash.
pub fn split_words(s: &str) -> anyhow::Result<Vec<String>> {
    shlex::split(s).with_context(|| {
        format!("cannot split `{s}` into words: an unterminated quote or a trailing backslash")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_name_the_program_or_the_script() {
        let argv = |s: &str| s.split(' ').map(String::from).collect::<Vec<_>>();
        assert_eq!(default_label(&argv("/x/y/lab1-solution")), "lab1-solution");
        assert_eq!(
            default_label(&argv("python3 -u /t/echo.py --port {port}")),
            "echo.py"
        );
        let mut ts = vec![
            Target::from_argv(argv("./srv")),
            Target::from_argv(argv("/other/srv")),
        ];
        dedup_labels(&mut ts);
        assert_eq!(ts[1].label, "srv#2");
    }

    #[test]
    fn solution_specs_name_a_lab_and_perhaps_a_model() {
        let events = SolutionSpec::parse("lab5:events").unwrap();
        assert_eq!(events.model.as_deref(), Some("events"));
        let target = events.target(Path::new("/t/lab5-solution"));
        assert_eq!(target.label, "lab5-solution:events");
        assert_eq!(
            target.program.argv,
            ["/t/lab5-solution", "--model", "events"]
        );
        assert_eq!(SolutionSpec::parse("lab1").unwrap().model, None);
        for bad in ["", "lab5:", ":events", "lab5:a b", "lab5:x:y"] {
            assert!(SolutionSpec::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn splits_words_with_quotes() {
        assert_eq!(
            split_words("sh -c 'exec nginx -g \"daemon off;\"' x").unwrap(),
            ["sh", "-c", "exec nginx -g \"daemon off;\"", "x"]
        );
        assert_eq!(
            split_words(r"./srv --root my\ files").unwrap(),
            ["./srv", "--root", "my files"]
        );
        assert!(split_words("a 'b").is_err());
    }
}
