//! `--capture DIR`: each test's packets as a pcap file and its I/O graph beside it, read
//! back with a real tool (`tshark`, Debian's `tshark` package) and held against what the
//! probe says happened; and, where no capture can be made, a grade like any other.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use autograder::grade::probe::bytes::escape;

use crate::support::*;

/// The seed of the known exchange: lab 1's `sequential-clients` against `drops_tail.rs`,
/// whose first client gets part of its bytes back (those up to the last newline) and
/// then the close; the probe stops at that client. Any seed gives one connection; this
/// one gives bytes both ways.
const SEED: &str = "1";

/// What `tshark` prints on standard output for `args` (its warnings go to stderr).
fn tshark(args: &[&str]) -> String {
    let output = Command::new("tshark").args(args).output().unwrap();
    assert!(
        output.status.success(),
        "tshark {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// Whether the grader could capture (it says why not on its first line); under CI it
/// must, elsewhere the test is skipped with that reason.
fn captured(stderr: &str) -> bool {
    if let Some(line) = stderr.lines().find(|l| l.contains("capture: not possible")) {
        assert!(
            std::env::var_os("CI").is_none(),
            "captures must work under CI: {line}"
        );
        eprintln!("skipped: {line}");
        return false;
    }
    true
}

/// Each TCP stream's reassembled bytes, as `tshark -z follow,tcp,raw` gives them: what
/// the side that opened it sent, and what the other side sent.
fn reassembled(pcap: &Path) -> Vec<(Vec<u8>, Vec<u8>)> {
    let file = pcap.to_str().unwrap();
    let streams = tshark(&["-r", file, "-T", "fields", "-e", "tcp.stream"]);
    let count = streams
        .lines()
        .filter_map(|l| l.trim().parse::<usize>().ok())
        .max()
        .map_or(0, |m| m + 1);
    (0..count)
        .map(|stream| {
            let out = tshark(&["-r", file, "-q", "-z", &format!("follow,tcp,raw,{stream}")]);
            let (mut opener, mut other) = (Vec::new(), Vec::new());
            // After the `Node 1:` line, one hex line per segment; the other side's are
            // indented by a tab. Node 0 is the side of the stream's first packet (the SYN).
            let body = out.split_once("Node 1:").expect("a follow report").1;
            for line in body.lines().skip(1) {
                if line.starts_with('=') {
                    break;
                }
                let (into, hex) = match line.strip_prefix('\t') {
                    Some(hex) => (&mut other, hex),
                    None => (&mut opener, line),
                };
                let hex = hex.trim();
                for i in (0..hex.len()).step_by(2) {
                    into.push(u8::from_str_radix(&hex[i..i + 2], 16).unwrap());
                }
            }
            (opener, other)
        })
        .collect()
}

/// A transcript line as the probe writes it for `bytes` sent (`>`) or received (`<`).
fn transcript_line(conn: usize, dir: char, bytes: &[u8]) -> String {
    let shown = &bytes[..bytes.len().min(40)];
    format!(
        "[c{conn}] {dir} {} bytes {}{}",
        bytes.len(),
        escape(shown, 40).replace(" … ", "…"),
        if bytes.len() > shown.len() { "…" } else { "" }
    )
}

/// The transcript's connections (`c1`, `c2`, …) in the feedback.
fn transcript_connections(feedback: &str) -> Vec<String> {
    let mut seen: Vec<String> = Vec::new();
    for line in feedback.lines() {
        if let Some(rest) = line.trim_start().strip_prefix("[c") {
            let conn = rest.split(']').next().unwrap().to_string();
            if !seen.contains(&conn) {
                seen.push(conn);
            }
        }
    }
    seen
}

#[test]
fn a_capture_holds_exactly_the_connections_and_bytes_the_transcript_says() {
    if !require_tool("tshark") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let captures = dir.path().join("captures");
    let program = corpus_rust("lab1/drops_tail.rs");
    let graded = grade(
        "lab1",
        &[
            "--only",
            "sequential-clients",
            "--seed",
            SEED,
            "--capture",
            captures.to_str().unwrap(),
        ],
        &[program.to_str().unwrap()],
    );
    if !captured(&graded.ran.stderr()) {
        return;
    }
    graded.assert_failed_exactly(&["sequential-clients"]);
    let feedback = graded.feedback("sequential-clients");
    let pcap = captures.join("sequential-clients.pcap");
    assert!(
        feedback.contains(&format!("open `{}` in Wireshark", pcap.display())),
        "the feedback must name the capture:\n{feedback}"
    );
    assert!(captures.join("sequential-clients.svg").is_file());

    let streams = reassembled(&pcap);
    let conns = transcript_connections(&feedback);
    assert_eq!(
        streams.len(),
        conns.len(),
        "connections on the wire vs in the transcript:\n{feedback}"
    );
    for (i, (sent, received)) in streams.iter().enumerate() {
        // Both ways, or the exchange would prove half of the claim.
        assert!(!sent.is_empty() && !received.is_empty(), "stream {i}");
        for (dir, bytes) in [('>', sent), ('<', received)] {
            let line = transcript_line(i + 1, dir, bytes);
            assert!(
                feedback.contains(&line),
                "the wire's stream {i} says `{line}`; the transcript:\n{feedback}"
            );
        }
    }
}

/// Nanoseconds from a `frame.time_relative` field (`0.012345678`), without a float.
fn nanos(field: &str) -> u64 {
    let (s, frac) = field.split_once('.').unwrap_or((field, "0"));
    let frac = format!("{frac:0<9}");
    s.parse::<u64>().unwrap() * 1_000_000_000 + frac[..9].parse::<u64>().unwrap()
}

/// The values of `attr="…"` in `element`.
fn attr<'a>(element: &'a str, attr: &str) -> Option<&'a str> {
    let at = element.find(&format!(" {attr}=\""))? + attr.len() + 3;
    Some(&element[at..at + element[at..].find('"')?])
}

/// What the SVG says: per (client, direction) the bucket numbers, and per (client,
/// side, kind) how many events.
type Buckets = BTreeMap<(String, String), BTreeMap<u64, u64>>;
type Events = BTreeMap<(String, String, String), usize>;

fn read_svg(svg: &str) -> (Buckets, Events) {
    let (mut buckets, mut events) = (Buckets::new(), Events::new());
    let mut client = String::new();
    for element in svg.split('<') {
        if element.starts_with("g class=\"connection\"") {
            client = attr(element, "data-client").unwrap().to_string();
        } else if element.starts_with("polyline class=\"series\"") {
            let cells = attr(element, "data-buckets").unwrap();
            let map = cells
                .split_whitespace()
                .map(|c| {
                    let (i, b) = c.split_once(':').unwrap();
                    (i.parse().unwrap(), b.parse().unwrap())
                })
                .collect();
            let direction = attr(element, "data-direction").unwrap().to_string();
            buckets.insert((client.clone(), direction), map);
        } else if element.starts_with("g class=\"event\"") {
            let key = (
                client.clone(),
                attr(element, "data-side").unwrap().to_string(),
                attr(element, "data-kind").unwrap().to_string(),
            );
            *events.entry(key).or_default() += 1;
        }
    }
    (buckets, events)
}

/// The same numbers counted from `tshark`'s fields: payload bytes per 10 ms from the
/// first frame, per direction, and the events Wireshark's analysis flags.
fn count_with_tshark(pcap: &Path) -> (Buckets, Events) {
    let out = tshark(&[
        "-r",
        pcap.to_str().unwrap(),
        "-T",
        "fields",
        "-E",
        "separator=|",
        "-e",
        "frame.time_relative",
        "-e",
        "ip.src",
        "-e",
        "tcp.srcport",
        "-e",
        "tcp.len",
        "-e",
        "tcp.flags.syn",
        "-e",
        "tcp.flags.ack",
        "-e",
        "tcp.flags.fin",
        "-e",
        "tcp.flags.reset",
        "-e",
        "tcp.analysis.zero_window",
        "-e",
        "tcp.stream",
    ]);
    let (mut buckets, mut events) = (Buckets::new(), Events::new());
    let mut clients: BTreeMap<String, String> = BTreeMap::new();
    for line in out.lines() {
        let f: Vec<&str> = line.split('|').collect();
        let from = format!("{}:{}", f[1], f[2]);
        let flag = |i: usize| f[i] == "1" || f[i] == "True";
        // The stream's client: the sender of its SYN (without ACK).
        let client = clients
            .entry(f[9].to_string())
            .or_insert_with(|| {
                assert!(flag(4) && !flag(5), "a stream starts with its SYN: {line}");
                from.clone()
            })
            .clone();
        let (direction, side) = if from == client {
            ("client-to-server", "client")
        } else {
            ("server-to-client", "server")
        };
        let len: u64 = f[3].parse().unwrap();
        let map = buckets
            .entry((client.clone(), direction.to_string()))
            .or_default();
        if len > 0 {
            *map.entry(nanos(f[0]) / 10_000_000).or_default() += len;
        }
        for (i, kind) in [(6, "FIN"), (7, "RST"), (8, "zero-window")] {
            if flag(i) || (i == 8 && !f[i].is_empty()) {
                let key = (client.clone(), side.to_string(), kind.to_string());
                *events.entry(key).or_default() += 1;
            }
        }
    }
    (buckets, events)
}

#[test]
fn the_io_graph_shows_the_numbers_tshark_counts_in_its_capture() {
    if !require_tool("tshark") {
        return;
    }
    // The lab 1 reference on half-close-flush: a client that reads nothing until the
    // program stops taking its bytes (zero windows, window updates), a half-close (FIN)
    // with output pending, then the echo read slowly.
    let dir = tempfile::tempdir().unwrap();
    let captures = dir.path().join("captures");
    let solution = package_bin("lab1-solution");
    let graded = grade(
        "lab1",
        &[
            "--only",
            "half-close-flush",
            "--capture",
            captures.to_str().unwrap(),
        ],
        &[solution.to_str().unwrap()],
    );
    if !captured(&graded.ran.stderr()) {
        return;
    }
    graded.assert_status(0);
    let pcap = captures.join("half-close-flush.pcap");
    let svg = std::fs::read_to_string(captures.join("half-close-flush.svg")).unwrap();
    let (drawn, marked) = read_svg(&svg);
    let (counted, flagged) = count_with_tshark(&pcap);
    assert!(!counted.is_empty(), "no connection in the capture");
    assert_eq!(drawn, counted, "bytes per 10 ms: the SVG vs tshark");
    // Zero windows, FIN and RST as Wireshark flags them (window updates and
    // retransmissions follow close but not identical rules, and are not compared).
    let compared = |events: &Events| -> Events {
        events
            .iter()
            .filter(|((_, _, kind), _)| ["FIN", "RST", "zero-window"].contains(&kind.as_str()))
            .map(|(k, v)| (k.clone(), *v))
            .collect()
    };
    assert_eq!(compared(&marked), flagged, "events: the SVG vs tshark");
    assert!(
        flagged.keys().any(|(_, _, kind)| kind == "zero-window"),
        "the exchange should close a window: {flagged:?}"
    );
}

#[test]
fn without_the_privileges_to_capture_it_says_why_and_grades_as_usual() {
    // A user who cannot make a user namespace: `nobody`, inside a bubblewrap sandbox that
    // forbids further user namespaces (bwrap --disable-userns). Needs root (runuser).
    if !autograder::os::sandbox::is_root() {
        eprintln!("skipped: needs root, to run the grader as another user");
        return;
    }
    if !require_tool("bwrap") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o777),
    )
    .unwrap();
    // Copies the user can run, wherever the workspace is.
    let grader = dir.path().join("autograder");
    std::fs::copy(env!("CARGO_BIN_EXE_autograder"), &grader).unwrap();
    let program = dir.path().join("drops_tail");
    std::fs::copy(corpus_rust("lab1/drops_tail.rs"), &program).unwrap();
    let captures = dir.path().join("captures");
    let ran = Command::new("runuser")
        .args(["-u", "nobody", "--", "bwrap", "--dev-bind", "/", "/"])
        .args(["--unshare-user", "--disable-userns", "--"])
        .arg(&grader)
        .args([
            "grade",
            "lab1",
            "--only",
            "sequential-clients",
            "--seed",
            SEED,
        ])
        .arg("--capture")
        .arg(&captures)
        .arg("--")
        .arg(&program)
        .current_dir(dir.path())
        .env("HOME", dir.path())
        .code(1);
    let stderr = ran.stderr();
    assert!(
        stderr.lines().next().is_some_and(
            |l| l.starts_with("capture: not possible here") && l.contains("network namespace")
        ),
        "the first line must say why:\n{ran}"
    );
    // Graded as without --capture: the same failure, no file named, nothing written.
    let stdout = ran.stdout();
    assert!(stdout.contains("sequential-clients"), "{ran}");
    assert!(stdout.contains("transcript"), "{ran}");
    assert!(!stdout.contains("Wireshark"), "{ran}");
    assert!(!captures.exists(), "{ran}");
}

#[test]
fn an_unprivileged_user_captures_through_a_user_namespace() {
    // `nobody`, where the kernel allows unprivileged user namespaces (most distributions):
    // the grader makes one, and the packet socket inside it, without root.
    if !autograder::os::sandbox::is_root() {
        eprintln!("skipped: needs root, to run the grader as another user");
        return;
    }
    if !require_tool("tshark") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o777),
    )
    .unwrap();
    let grader = dir.path().join("autograder");
    std::fs::copy(env!("CARGO_BIN_EXE_autograder"), &grader).unwrap();
    let program = dir.path().join("drops_tail");
    std::fs::copy(corpus_rust("lab1/drops_tail.rs"), &program).unwrap();
    let captures = dir.path().join("captures");
    let ran = Command::new("runuser")
        .args(["-u", "nobody", "--"])
        .arg(&grader)
        .args([
            "grade",
            "lab1",
            "--only",
            "sequential-clients",
            "--seed",
            SEED,
        ])
        .arg("--capture")
        .arg(&captures)
        .arg("--")
        .arg(&program)
        .current_dir(dir.path())
        .env("HOME", dir.path())
        .code(1);
    let stderr = ran.stderr();
    if let Some(line) = stderr.lines().find(|l| l.contains("capture: not possible")) {
        // A kernel policy, not a missing tool: reported, not failed, even under CI.
        eprintln!("skipped: this kernel refuses unprivileged user namespaces: {line}");
        return;
    }
    let pcap = captures.join("sequential-clients.pcap");
    assert!(
        ran.stdout()
            .contains(&format!("open `{}` in Wireshark", pcap.display())),
        "{ran}"
    );
    // The files are the user's own (its uid mapped to itself in the namespace).
    use std::os::unix::fs::MetadataExt;
    assert_eq!(std::fs::metadata(&pcap).unwrap().uid(), 65534, "{ran}");
    let streams = reassembled(&pcap);
    assert_eq!(streams.len(), 1, "{ran}");
    assert!(!streams[0].0.is_empty(), "{ran}");
}

#[test]
fn check_captures_after_building_and_running_the_step_checks() {
    // `check` builds the lab (which may need crates.io) and runs its step checks before
    // the grader moves into a namespace with nothing but a loopback; capturing must still
    // start there, with those children and their reader threads gone.
    let dir = tempfile::tempdir().unwrap();
    let captures = dir.path().join("captures");
    let out = autograder()
        .args(["check", "lab1", "--capture", captures.to_str().unwrap()])
        .code(1);
    if !captured(&out.stderr()) {
        return;
    }
    assert!(
        out.stdout()
            .contains("Step checks (labs/lab1/tests/steps.rs)"),
        "{out}"
    );
    for test in ["echo-short", "half-close-flush", "connect-and-leave"] {
        assert!(
            captures.join(format!("{test}.pcap")).is_file(),
            "no capture for {test}:\n{out}"
        );
    }
    assert!(
        out.stdout()
            .contains(&format!("{}", captures.join("echo-short.pcap").display())),
        "the first failure's feedback names its capture:\n{out}"
    );
}
