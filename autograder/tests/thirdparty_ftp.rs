//! Real FTP servers nobody here wrote, graded on lab 4's server group the way pyftpdlib is
//! (in `lab4.rs`): ProFTPD, pure-ftpd and vsftpd from Debian's packages, each launched by
//! a script in `corpus/thirdparty/` that configures it the way handouts/lab4.md asks
//! (anonymous login only, write access, `{root}` served as `/`, loopback only). Each test
//! asserts exactly what its server fails, and why.
//!
//! The three packages conflict with each other (each provides `ftp-server`), so
//! `.ci/ftp-servers` unpacks them under the target directory instead of installing them;
//! an installed daemon is used where none is unpacked. Every one of them chroots its
//! anonymous sessions, so the launchers need root (CI runs as root).

use crate::support::*;

/// The daemon `binary` of Debian's `package`, unpacked by `.ci/ftp-servers` or installed.
/// `None` (the test skips; under CI it fails instead) when there is none, or when the
/// tests do not run as root.
fn ftp_daemon(package: &str, binary: &str) -> Option<String> {
    let unpacked = target_dir()
        .join("ftp-servers")
        .join(package)
        .join("usr/sbin")
        .join(binary);
    let daemon = if unpacked.exists() {
        unpacked.display().to_string()
    } else {
        binary.to_string()
    };
    if !require_tool(&daemon) {
        eprintln!("(`bash .ci/ftp-servers` unpacks Debian's {package} for these tests)");
        return None;
    }
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        assert!(
            std::env::var_os("CI").is_none(),
            "{binary} chroots its anonymous sessions: under CI these tests must run as root"
        );
        eprintln!("skipped: {binary} chroots its anonymous sessions, which needs root");
        return None;
    }
    Some(daemon)
}

/// Grades `corpus/thirdparty/SCRIPT {root} {port} DAEMON` on the server group.
fn grade_server(script: &str, daemon: &str) -> Graded {
    let script = corpus(&format!("thirdparty/{script}"));
    grade(
        "lab4",
        &["--only", "server"],
        &["sh", script.to_str().unwrap(), "{root}", "{port}", daemon],
    )
}

#[test]
fn proftpd_fails_only_fragments_for_a_line_end_split_across_two_reads() {
    let Some(daemon) = ftp_daemon("proftpd-core", "proftpd") else {
        return;
    };
    let g = grade_server("proftpd.sh", &daemon);
    // fragments: USER arrives as "US", "ER anon", "ymous\r", "\n". When a read begins
    // with the LF, ProFTPD 1.3.8 looks for its CR in the byte *before* its buffer
    // (proftpd/proftpd#2020, fixed in 1.3.9a), so it takes the LF for part of the command
    // and answers nothing until the next CRLF. RFC 959 §5.3.1 ends every command at its
    // CRLF, however TCP splits it; handout Step 3: "one read may hold half a command, or
    // three."
    // (A Debian build with the fix would pass it: then this list is empty.)
    g.assert_failed_exactly(&["fragments"]);
    assert!(
        g.feedback("fragments")
            .contains("after USER sent in four fragments"),
        "{}",
        g.describe()
    );
    assert_eq!(g.score(), (90, 95));
    g.assert_golden(
        "lab4",
        "proftpd_fails_only_fragments_for_a_line_end_split_across_two_reads",
    );
}

#[test]
fn pure_ftpd_gets_full_marks_on_the_server_group() {
    let Some(daemon) = ftp_daemon("pure-ftpd", "pure-ftpd") else {
        return;
    };
    let g = grade_server("pure-ftpd.sh", &daemon);
    g.assert_failed_exactly(&[]);
    assert_eq!(g.score(), (95, 95));
}

#[test]
fn vsftpd_fails_the_tests_that_write_into_its_root() {
    let Some(daemon) = ftp_daemon("vsftpd", "vsftpd") else {
        return;
    };
    let g = grade_server("vsftpd.sh", &daemon);
    // vsftpd refuses to run an anonymous session whose chroot the anonymous user can
    // write ("refusing to run with writable root inside chroot()"; its
    // allow_writeable_chroot is for local users only), so its root stays read-only for
    // anonymous users, and every upload or MKD there is refused. RFC 959 allows that
    // (553, 550); the handout does not ("The command line": anonymous users may upload
    // and create directories anywhere in DIR, `/` included), and the feedback says so.
    // stor: STOR into `/` → 553.
    // directories: MKD in `/` → 550.
    // vanishing-client: the STOR it means to reset mid-transfer → 553.
    // stalled-transfers: the uploads it stalls cannot start (STOR → 553).
    g.assert_failed_exactly(&[
        "directories",
        "stalled-transfers",
        "stor",
        "vanishing-client",
    ]);
    for id in ["directories", "stor", "vanishing-client"] {
        assert!(
            g.feedback(id)
                .contains("RFC 959 also lets a server refuse an upload"),
            "{id}: {}",
            g.describe()
        );
    }
    assert_eq!(g.score(), (65, 95));
    g.assert_golden("lab4", "vsftpd_fails_the_tests_that_write_into_its_root");
}
