//! `autograder bench`: the lecture's graph (throughput and latency against concurrent
//! clients) for any server, from one command.
//!
//! For each program and each client count the server is started fresh (launch rules as
//! for `grade`: the lab's `--port {port}` … arguments are appended unless the command
//! uses placeholders), the load generator ([`load`]) connects that many persistent
//! clients and keeps each one busy for `--duration` seconds, and the server's CPU time
//! and resident memory are sampled from `/proc` meanwhile. The results go to
//! `bench.csv`, `bench.svg` ([`svg`]) and a table on standard output.
//!
//! ```text
//! autograder bench lab1 --clients 1,2,4,8 --duration 3 --solution lab1,lab2,lab3
//! autograder bench lab5 --size 1048576 -- ./my-http-server -- python3 server.py --port {port} --root {root}
//! autograder bench lab5 --compare 'nginx=sh nginx.sh {port} {root}' --solution lab5
//! ```
//!
//! Echo labs (1–3) measure round trips of `--size` bytes; lab 5 measures keep-alive
//! `GET /bench.bin` of a `--size`-byte file the bench writes into the server's root.

pub mod load;
pub mod svg;

use std::fmt::Write as _;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use crate::grade::report::escape;
use crate::grade::runner::STARTUP_LIMIT;
use crate::os::harness::{self, describe_status, Placeholders, Program, Spawned, StartError};
use crate::os::procfs;
use crate::rng::Rng;

pub use load::{LoadConfig, LoadResult, Workload};

/// The name of the file the HTTP workload requests (in the server's root).
pub const BENCH_FILE: &str = "bench.bin";

/// The CSV header; one [`Row`] per line follows.
pub const CSV_HEADER: &str =
    "program,clients,requests_per_sec,mb_per_sec,p50_ms,p99_ms,errors,cpu_percent,rss_mb";

/// How a lab's programs are launched and loaded.
#[derive(Debug, Clone)]
pub struct LabProfile {
    /// `lab1` … `lab5`.
    pub name: String,
    /// Arguments appended to a program without placeholders.
    pub server_args: Vec<String>,
    /// Whether the workload is HTTP (lab 5) rather than echo.
    pub http: bool,
}

impl LabProfile {
    /// The profile of lab `name`: the launch arguments come from the lab's rubric when it
    /// is registered, else from the program contract in the design (they are the same).
    ///
    /// # Errors
    /// For a lab that has no benchmark workload (lab 4's FTP is measured by
    /// `autograder/scripts/perf.sh` with curl instead) or an unknown name.
    pub fn find(name: &str) -> anyhow::Result<LabProfile> {
        let (contract, http): (&[&str], bool) = match name {
            "lab1" | "lab2" | "lab3" => (&["--port", "{port}"], false),
            "lab5" => (&["--port", "{port}", "--root", "{root}"], true),
            "lab4" => bail!(
                "lab4 (FTP) has no bench workload; autograder/scripts/perf.sh measures its \
                 transfer rate with curl and iperf3"
            ),
            _ => bail!("unknown lab `{name}`; bench knows lab1, lab2, lab3 (echo) and lab5 (HTTP)"),
        };
        let server_args = match crate::grade::labs::find(name) {
            Some(lab) => lab.server_args.iter().map(|s| s.to_string()).collect(),
            None => contract.iter().map(|s| s.to_string()).collect(),
        };
        Ok(LabProfile {
            name: name.to_string(),
            server_args,
            http,
        })
    }
}

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
    /// Failed requests and connections (see [`load::LoadResult::errors`]).
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

/// CPU time (user + system) this process has used so far, its children excluded (the
/// server is our child, and its time must not be taken for ours).
fn own_cpu_seconds() -> f64 {
    // SAFETY: getrusage only writes the struct we pass.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(usage.ru_utime) + secs(usage.ru_stime)
}

/// Runs every target at every client count, calling `progress` after each measurement.
///
/// # Errors
/// When a server cannot be started (it is not found, exits at once, or never listens).
pub fn run(
    profile: &LabProfile,
    targets: &[Target],
    options: &BenchOptions,
    progress: &mut dyn FnMut(&Row),
) -> anyhow::Result<Vec<Row>> {
    raise_fd_limit();
    let mut rng = Rng::new(Rng::fresh_seed());
    let mut rows = Vec::new();
    for target in targets {
        for &clients in &options.clients {
            let row = measure(profile, target, options, clients, &mut rng)?;
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

/// Starts `program` with the lab's launch rules on a fresh port and root, and waits
/// until it listens. `prepare` may fill the root first.
///
/// # Errors
/// When it cannot be run, exits, or does not listen within the start-up limit.
pub fn start_server(
    program: &Program,
    server_args: &[String],
    host: &str,
    rng: &mut Rng,
    prepare: &dyn Fn(&Path) -> std::io::Result<()>,
) -> anyhow::Result<Server> {
    let root = tempfile::Builder::new()
        .prefix("netlabs-bench-")
        .tempdir()
        .context("cannot create a temporary root")?;
    prepare(root.path()).context("cannot prepare the server's root")?;
    let args: Vec<&str> = server_args.iter().map(String::as_str).collect();
    for _ in 0..4 {
        let port = harness::pick_port(host, rng).context("no free port")?;
        let values = Placeholders {
            host: host.to_string(),
            port,
            root: root.path().to_path_buf(),
        };
        let argv = program.command_line(&args, &values);
        let shown = Program::shell_words(&argv);
        let mut spawned =
            Spawned::start(&argv, &program.cwd).with_context(|| format!("cannot run `{shown}`"))?;
        match spawned.wait_until_listening(host, port, STARTUP_LIMIT) {
            Ok(()) => {
                let addr = (host, port)
                    .to_socket_addrs()
                    .ok()
                    .and_then(|mut a| a.next())
                    .with_context(|| format!("cannot resolve {host}"))?;
                return Ok(Server {
                    spawned,
                    addr,
                    root,
                });
            }
            Err(StartError::PortTaken) => continue,
            Err(StartError::Exited(status)) => {
                spawned.wait_timeout(Duration::from_millis(100));
                bail!(
                    "`{shown}` {} before it listened on port {port}; its last output:\n{}",
                    describe_status(status),
                    spawned.output_tail(20)
                );
            }
            Err(StartError::NeverListened(limit)) => {
                spawned.stop();
                bail!(
                    "`{shown}` did not listen on {host}:{port} within {} s; its last output:\n{}",
                    limit.as_secs(),
                    spawned.output_tail(20)
                );
            }
        }
    }
    bail!("other programs kept taking the ports picked for the server; please run again")
}

fn measure(
    profile: &LabProfile,
    target: &Target,
    options: &BenchOptions,
    clients: usize,
    rng: &mut Rng,
) -> anyhow::Result<Row> {
    let size = options.size;
    let http = profile.http;
    let prepare = move |root: &Path| -> std::io::Result<()> {
        if http {
            std::fs::write(root.join(BENCH_FILE), load::echo_payload(size))?;
        }
        Ok(())
    };
    let mut server = start_server(
        &target.program,
        &profile.server_args,
        &options.host,
        rng,
        &prepare,
    )
    .with_context(|| format!("cannot start {}", target.label))?;
    let workload = if http {
        Workload::Http {
            path: format!("/{BENCH_FILE}"),
        }
    } else {
        Workload::Echo { size }
    };
    let config = LoadConfig {
        addr: server.addr,
        clients,
        duration: options.duration,
        threads: options.threads,
        workload,
        // A burst of thousands of connects can overflow a small listen backlog; the
        // kernel retries dropped SYNs after 1 s, 3 s, … so allow for a few retries.
        connect_limit: Duration::from_secs(8) + Duration::from_millis(clients as u64),
    };
    let sampler = Sampler::start(server.spawned.pid() as i32);
    let (cpu_before, wall_before) = (own_cpu_seconds(), Instant::now());
    let result = load::run(&config).context("the load generator failed")?;
    let generator_cpu_percent =
        100.0 * (own_cpu_seconds() - cpu_before) / wall_before.elapsed().as_secs_f64();
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

/// Samples the CPU time and resident memory of a process group every 100 ms, on a
/// thread of its own, until told to stop.
struct Sampler {
    stop: mpsc::Sender<()>,
    handle: thread::JoinHandle<Samples>,
}

struct Samples(Vec<Sample>);

impl Sampler {
    fn start(pgid: i32) -> Sampler {
        let (stop, stopped) = mpsc::channel::<()>();
        let handle = thread::spawn(move || {
            let mut samples = Vec::new();
            // Finding the group's members scans all of /proc, which costs real CPU on a
            // busy machine (CPU the server under test would not get), so the member list
            // is refreshed once a second and only the members are read every 100 ms.
            let mut members = Vec::new();
            for round in 0u64.. {
                if round % 10 == 0 {
                    members = procfs::group_members(pgid).unwrap_or_default();
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

/// The summed CPU time and RSS of the processes `members` (nginx has workers; threads are
/// included in their process's figures).
fn sample(members: &[u32]) -> Option<Sample> {
    let at = Instant::now();
    let mut cpu_seconds = 0.0;
    let mut rss_bytes = 0;
    let mut any = false;
    for &pid in members {
        if let (Some(cpu), Some(rss)) = (procfs::cpu_seconds(pid), procfs::rss_bytes(pid)) {
            cpu_seconds += cpu;
            rss_bytes += rss;
            any = true;
        }
    }
    any.then_some(Sample {
        at,
        cpu_seconds,
        rss_bytes,
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

/// Lets this process (and the servers it starts, which inherit the limit) open as many
/// sockets as the hard limit allows: 10,000 clients need 10,000 descriptors on each side.
pub fn raise_fd_limit() {
    // SAFETY: getrlimit/setrlimit only read and write the struct we pass.
    unsafe {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
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
    autograder bench lab5 --size 1048576 --compare 'nginx=sh nginx.sh {port} {root}' --solution lab5\n\n\
    Writes OUT/bench.csv and OUT/bench.svg and prints a table. Echo labs measure round trips \
    of SIZE bytes; lab5 measures keep-alive GETs of a SIZE-byte file written into {root}.")]
pub struct BenchArgs {
    /// The lab whose protocol and launch rules to use (lab1, lab2, lab3: echo; lab5: HTTP).
    pub lab: String,
    /// Client counts to measure, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,2,4,8,16,32,64")]
    pub clients: Vec<usize>,
    /// Seconds of load per client count (after all clients have connected).
    #[arg(long, default_value_t = 5.0)]
    pub duration: f64,
    /// Bytes per echo round trip, or the size of the file lab5 serves.
    #[arg(long, default_value_t = 1024)]
    pub size: usize,
    /// Directory for bench.csv and bench.svg.
    #[arg(long, default_value = ".")]
    pub out: PathBuf,
    /// Also measure these labs' reference solutions (release builds), e.g. `lab1,lab2`.
    #[arg(long, value_delimiter = ',')]
    pub solution: Vec<String>,
    /// A named program: `NAME=COMMAND ARGS…` (split into words as a shell would: quote with ' or ").
    #[arg(long, value_name = "NAME=COMMAND")]
    pub compare: Vec<String>,
    /// Load-generator threads (default: the number of cores, like `wrk -t`).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Host the servers listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
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
        let profile = LabProfile::find(&self.lab)?;
        if self.clients.is_empty() || self.clients.contains(&0) {
            bail!("--clients needs positive counts, e.g. --clients 1,2,4,8");
        }
        if !(self.duration > 0.0 && self.duration.is_finite()) {
            bail!("--duration must be a positive number of seconds");
        }
        if self.size == 0 {
            bail!("--size must be at least 1 byte");
        }
        let mut targets = Vec::new();
        for lab in &self.solution {
            let package = format!("{lab}-solution");
            let root = crate::os::cargo::workspace_root()?;
            eprintln!("Building {package} (release) …");
            let exe = crate::os::cargo::build(&root, &package, true)?;
            targets.push(Target {
                label: package,
                program: Program::new(vec![exe.to_string_lossy().into_owned()]),
            });
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
        let what = if profile.http {
            format!("keep-alive GET of a {} file", human_bytes(self.size))
        } else {
            format!("echo round trips of {}", human_bytes(self.size))
        };
        eprintln!(
            "Benchmarking {} program(s) on {}: {what}, {} s per client count",
            targets.len(),
            profile.name,
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
        };
        let rows = run(&profile, &targets, &options, &mut progress)?;
        let title = format!("{}: {what}", profile.name);
        let (csv_path, svg_path) = write_outputs(&self.out, &title, &rows)?;
        say!("{}", table(&rows));
        sayln!("wrote {} and {}", csv_path.display(), svg_path.display());
        Ok(std::process::ExitCode::SUCCESS)
    }
}

/// `1024` → `1 KiB`, for messages and titles.
pub fn human_bytes(n: usize) -> String {
    match n {
        n if n >= 1 << 30 && n % (1 << 30) == 0 => format!("{} GiB", n >> 30),
        n if n >= 1 << 20 && n % (1 << 20) == 0 => format!("{} MiB", n >> 20),
        n if n >= 1 << 10 && n % (1 << 10) == 0 => format!("{} KiB", n >> 10),
        n => format!("{n} B"),
    }
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
