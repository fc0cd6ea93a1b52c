//! Probes of the `server` group: the strict client ([`super::Session`]) against the
//! submission's FTP server, one behaviour each.
//!
//! | probe | the mistake it catches |
//! |---|---|
//! | [`greeting_and_login`] | no 220 greeting, LF-only line endings, no multi-line FEAT |
//! | [`retr_pasv`], [`retr_epsv`] | text-mode transfers, lost bytes, no close at the end |
//! | [`stor`] | uploads altered or truncated; a shorter upload over a file keeping its tail |
//! | [`listings`] | LIST/NLST missing files |
//! | [`directories`] | CWD/PWD/CDUP/MKD wrong or ignored by later commands; CWD into a file |
//! | [`not_logged_in`] | commands served before login; PASS without USER accepted (503 or 530 refuse it) |
//! | [`error_replies`] | missing files not answered 550; unknown commands not 500/502 |
//! | [`jail`] | `..`, absolute paths, encoded names or symlinks reaching outside the root |
//! | [`concurrent_sessions`] | one session at a time |
//! | [`fragments`] | one read taken for one command |
//! | [`vanishing_client`] | the server dies or stalls when a client resets mid-transfer |

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::{listed_names, receive_and_close, Mode, Session};
use crate::grade::probe::{expect_bytes, Ctx, End, Received};
use crate::grade::probe::{Failure, ProbeResult};

/// Writes a file into the served root (the program reads it from disk).
pub(super) fn put_file(ctx: &Ctx, name: &str, bytes: &[u8]) -> Result<PathBuf, Failure> {
    let path = ctx.root.join(name);
    std::fs::write(&path, bytes)
        .map_err(|e| Failure::new(format!("the grader cannot write {}: {e}", path.display())))?;
    Ok(path)
}

/// Random bytes that surely contain LF, CR LF and bytes that are not UTF-8, so text-mode
/// conversions and text decoding both show.
pub(super) fn binary(ctx: &mut Ctx, len: usize) -> Vec<u8> {
    let mut b = ctx.rng.bytes(len);
    for (i, x) in b.iter_mut().enumerate() {
        match i % 997 {
            10 => *x = b'\n',
            20 => *x = b'\r',
            21 => *x = b'\n',
            30 => *x = 0xff,
            _ => {}
        }
    }
    b
}

/// Three files: empty, small, several MiB.
fn sample_files(ctx: &mut Ctx, tag: &str) -> Vec<(String, Vec<u8>)> {
    let small = ctx.rng.range(100, 4000);
    let large = ctx.rng.range(3 << 20, 5 << 20);
    let tok = ctx.rng.token(6);
    vec![
        (format!("{tag}-empty-{tok}.bin"), Vec::new()),
        (format!("{tag}-small-{tok}.bin"), binary(ctx, small)),
        (format!("{tag}-large-{tok}.bin"), binary(ctx, large)),
    ]
}

fn received(bytes: Vec<u8>) -> Received {
    Received {
        bytes,
        end: End::Eof,
    }
}

/// Greeting, anonymous login, SYST, FEAT (multi-line allowed), TYPE, NOOP, PWD, QUIT.
pub fn greeting_and_login(ctx: &mut Ctx) -> ProbeResult {
    let mut s = Session::login(ctx)?;
    s.expect("SYST", &[215])?;
    s.expect("FEAT", &[211])?;
    s.expect("TYPE I", &[200])?;
    s.expect("TYPE A", &[200])?;
    s.expect("NOOP", &[200])?;
    let pwd = s.expect("PWD", &[257])?;
    if !pwd.lines[0].starts_with("\"/\"") {
        return Err(Failure::new("PWD right after login does not name the root")
            .expected("257 \"/\" … (the path in double quotes, RFC 959 appendix II)")
            .got(pwd.show())
            .into());
    }
    s.quit()?;
    Ok(())
}

fn retr(ctx: &mut Ctx, mode: Mode, tag: &str) -> ProbeResult {
    let files = sample_files(ctx, tag);
    for (name, bytes) in &files {
        put_file(ctx, name, bytes)?;
    }
    let mut s = Session::login(ctx)?;
    s.expect("TYPE I", &[200])?;
    for (name, bytes) in &files {
        let got = s.retr(ctx, name, mode, bytes.len() + 65536)?;
        expect_bytes(&format!("the data of RETR {name}"), bytes, &received(got)).map_err(|f| {
            f.detail("After TYPE I the file must travel unchanged: no line-ending conversion, no text decoding.")
                .reproduce(format!("{} -o got.bin   # then compare with the file", s.curl(&format!("/{name}"))))
        })?;
    }
    s.quit()?;
    Ok(())
}

/// RETR of an empty, a small and a several-MiB binary file through PASV.
pub fn retr_pasv(ctx: &mut Ctx) -> ProbeResult {
    retr(ctx, Mode::Pasv, "pasv")
}

/// The same through EPSV.
pub fn retr_epsv(ctx: &mut Ctx) -> ProbeResult {
    retr(ctx, Mode::Epsv, "epsv")
}

/// STOR of three binary files (EPSV and PASV), checked on disk and with SIZE; then a
/// shorter file stored over the largest must replace it.
pub fn stor(ctx: &mut Ctx) -> ProbeResult {
    let files = sample_files(ctx, "up");
    let mut s = Session::login(ctx)?;
    s.expect("TYPE I", &[200])?;
    for (i, (name, bytes)) in files.iter().enumerate() {
        let mode = if i % 2 == 0 { Mode::Epsv } else { Mode::Pasv };
        s.stor(ctx, name, bytes, mode)?;
        stored_exactly(ctx, &mut s, name, bytes, "")?;
    }
    // Over an existing file: a file opened for writing without truncation keeps the old
    // file's tail after the new bytes. A server may refuse to replace a file (RFC 959
    // allows the refusal, and pure-ftpd never lets anonymous users overwrite), as long
    // as the old file is left whole; if it accepts, the new bytes must replace the old.
    let (name, old) = &files[2];
    let len = ctx.rng.range(1000, 4000);
    let shorter = binary(ctx, len);
    if s.stor_unless_refused(ctx, name, &shorter, Mode::Epsv)? {
        stored_exactly(ctx, &mut s, name, &shorter, " (stored over a larger file of that name)")
            .map_err(|f| f.detail("A STOR over an existing file replaces it: open the target with truncation (File::create, or OpenOptions with .truncate(true)), or write a temporary file and rename it over the target."))?;
    } else {
        stored_exactly(
            ctx,
            &mut s,
            name,
            old,
            " (after the server refused to replace it)",
        )?;
    }
    s.quit()?;
    Ok(())
}

/// After a 226 for STOR `name`: the file in the root holds exactly `bytes`, and SIZE says so.
fn stored_exactly(
    ctx: &Ctx,
    s: &mut Session,
    name: &str,
    bytes: &[u8],
    how: &str,
) -> Result<(), Failure> {
    let on_disk = std::fs::read(ctx.root.join(name)).map_err(|e| {
        Failure::new(format!(
            "after 226 for STOR {name}, the file is not in the root: {e}"
        ))
    })?;
    expect_bytes(
        &format!("the stored file {name}{how}"),
        bytes,
        &received(on_disk),
    )
    .map_err(|f| {
        f.reproduce(format!(
            "curl -T in.bin ftp://127.0.0.1:{}/   # then compare the file in your root",
            ctx.reproduce_port
        ))
    })?;
    let size = s.expect(&format!("SIZE {name}"), &[213])?;
    if size.lines[0].trim() != bytes.len().to_string() {
        return Err(Failure::new(format!("SIZE {name} is wrong"))
            .expected(format!("213 {}", bytes.len()))
            .got(size.show()));
    }
    Ok(())
}

/// LIST shows every file; NLST lists exactly the root's names.
pub fn listings(ctx: &mut Ctx) -> ProbeResult {
    let tok = ctx.rng.token(6);
    let mut names = BTreeSet::new();
    for i in 0..ctx.rng.range(3, 5) {
        let name = format!("file{i}-{tok}.dat");
        let len = ctx.rng.range(0, 3000);
        let bytes = ctx.rng.bytes(len);
        put_file(ctx, &name, &bytes)?;
        names.insert(name);
    }
    let dir = format!("dir-{tok}");
    std::fs::create_dir(ctx.root.join(&dir)).map_err(|e| Failure::new(format!("mkdir: {e}")))?;
    names.insert(dir);
    let mut s = Session::login(ctx)?;
    let list = s.listing(ctx, "LIST", Mode::Epsv)?;
    let long: BTreeSet<String> = listed_names(&list, true).into_iter().collect();
    let missing: Vec<&String> = names.iter().filter(|n| !long.contains(*n)).collect();
    if !missing.is_empty() {
        return Err(Failure::new("LIST does not show every entry of the root")
            .expected(format!("lines ending in each of {names:?}"))
            .got(String::from_utf8_lossy(&list).into_owned())
            .reproduce(s.curl("/"))
            .into());
    }
    let nlst = s.listing(ctx, "NLST", Mode::Pasv)?;
    let short: BTreeSet<String> = listed_names(&nlst, false).into_iter().collect();
    if short != names {
        return Err(
            Failure::new("NLST does not list exactly the names in the root")
                .expected(format!("{names:?}, one per line"))
                .got(String::from_utf8_lossy(&nlst).into_owned())
                .reproduce(format!("curl -l ftp://127.0.0.1:{}/", ctx.reproduce_port))
                .into(),
        );
    }
    s.quit()?;
    Ok(())
}

/// MKD, CWD into it, PWD, a relative STOR and RETR there, CDUP back, CWD to a missing
/// directory refused.
pub fn directories(ctx: &mut Ctx) -> ProbeResult {
    let tok = ctx.rng.token(6);
    let dir = format!("sub-{tok}");
    let len = ctx.rng.range(1000, 50_000);
    let bytes = binary(ctx, len);
    let mut s = Session::login(ctx)?;
    s.expect("TYPE I", &[200])?;
    s.expect_write(&format!("MKD {dir}"), &[257])?;
    if !ctx.root.join(&dir).is_dir() {
        return Err(Failure::new(format!(
            "after 257 for MKD {dir}, there is no such directory in the root"
        ))
        .into());
    }
    s.expect(&format!("CWD {dir}"), &[250])?;
    let pwd = s.expect("PWD", &[257])?;
    if !pwd.lines[0].starts_with(&format!("\"/{dir}\"")) {
        return Err(
            Failure::new("PWD does not show the directory entered with CWD")
                .expected(format!("257 \"/{dir}\" …"))
                .got(pwd.show())
                .into(),
        );
    }
    s.stor(ctx, "inner.bin", &bytes, Mode::Epsv)?;
    let on_disk = std::fs::read(ctx.root.join(&dir).join("inner.bin")).map_err(|e| {
        Failure::new(format!(
            "STOR inner.bin after CWD {dir} did not create {dir}/inner.bin in the root: {e}"
        ))
        .detail("Relative paths are relative to the session's current directory.")
    })?;
    expect_bytes(
        "the file stored in the subdirectory",
        &bytes,
        &received(on_disk),
    )?;
    let back = s.retr(ctx, "inner.bin", Mode::Pasv, bytes.len() + 1024)?;
    expect_bytes(
        "RETR inner.bin in the subdirectory",
        &bytes,
        &received(back),
    )?;
    s.expect("CDUP", &[200, 250])?;
    let pwd = s.expect("PWD", &[257])?;
    if !pwd.lines[0].starts_with("\"/\"") {
        return Err(Failure::new("CDUP did not go back to the root")
            .expected("257 \"/\" …")
            .got(pwd.show())
            .into());
    }
    let by_path = s.retr(
        ctx,
        &format!("{dir}/inner.bin"),
        Mode::Epsv,
        bytes.len() + 1024,
    )?;
    expect_bytes(&format!("RETR {dir}/inner.bin"), &bytes, &received(by_path))?;
    s.expect(&format!("CWD no-such-dir-{tok}"), &[550])?;
    s.expect(&format!("CWD {dir}/inner.bin"), &[550]).map_err(|f| {
        f.detail("CWD into a file must be refused: check that the path is a directory, not only that it exists.")
    })?;
    s.quit()?;
    Ok(())
}

/// Before login: 530 for file commands, 503 or 530 for PASS without USER.
pub fn not_logged_in(ctx: &mut Ctx) -> ProbeResult {
    let name = format!("visible-{}.txt", ctx.rng.token(6));
    put_file(ctx, &name, b"only for logged-in users\n")?;
    let mut s = Session::open(ctx)?;
    // RFC 959 §5.4 lists both 503 (bad sequence) and 530 (not logged in) among PASS's
    // replies; servers differ (vsftpd and ProFTPD 503, pure-ftpd 530), and both are right.
    s.expect("PASS secret", &[503, 530]).map_err(|f| {
        f.detail("PASS is only valid right after USER: a PASS out of sequence is refused, with 503 (bad sequence of commands) or 530 (not logged in); RFC 959 §5.4 allows both.")
    })?;
    for line in [
        "PWD",
        "CWD /",
        &format!("RETR {name}"),
        &format!("SIZE {name}"),
        "STOR x.bin",
        "LIST",
        "MKD d",
    ] {
        s.expect(line, &[530]).map_err(|f| {
            f.detail("Until USER and PASS have succeeded, every file-system command must be refused with 530 (not logged in).")
        })?;
    }
    let user = s.expect("USER anonymous", &[230, 331])?;
    if user.code == 331 {
        s.expect("PASS grader@example.com", &[230])?;
    }
    s.expect("PWD", &[257])?;
    s.quit()?;
    Ok(())
}

/// 550 for missing files and directories; 500 or 502 for unknown commands; the session
/// goes on afterwards.
pub fn error_replies(ctx: &mut Ctx) -> ProbeResult {
    let tok = ctx.rng.token(6);
    std::fs::create_dir(ctx.root.join(format!("exists-{tok}")))
        .map_err(|e| Failure::new(format!("mkdir: {e}")))?;
    let mut s = Session::login(ctx)?;
    s.expect("TYPE I", &[200])?;
    s.expect(&format!("XPLODE{}", tok.to_uppercase()), &[500, 502]).map_err(|f| {
        f.detail("An unknown command is answered 502 (not implemented) or 500 (unrecognised), and the session goes on.")
    })?;
    // A data connection first, so that a server that checks for one before the file
    // still reaches the file check.
    let data = s.data(ctx, Mode::Epsv)?;
    s.expect(&format!("RETR missing-{tok}.bin"), &[550])?;
    // Closed at once: some servers (pyftpdlib) delay QUIT while a data connection is open.
    data.close();
    s.expect(&format!("SIZE missing-{tok}.bin"), &[550])?;
    s.expect(&format!("DELE missing-{tok}.bin"), &[550])?;
    s.expect(&format!("CWD missing-{tok}"), &[550])?;
    s.expect(&format!("MKD exists-{tok}"), &[550])?;
    s.expect("NOOP", &[200])?;
    s.quit()?;
    Ok(())
}

/// Removes the files planted outside the root when the probe ends, however it ends.
struct Outside(Vec<PathBuf>);

impl Drop for Outside {
    fn drop(&mut self) {
        for p in &self.0 {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// Path-escape attempts in several spellings: the secret beside the root never leaks, and
/// nothing is written outside.
pub fn jail(ctx: &mut Ctx) -> ProbeResult {
    let root = ctx.root.clone();
    let parent = root.parent().unwrap_or(Path::new("/")).to_path_buf();
    let root_name = root
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let secret_name = format!("{root_name}-secret.txt");
    let secret = format!("TOP SECRET {}\n", ctx.rng.token(24)).into_bytes();
    let decoy = format!("decoy inside the root {}\n", ctx.rng.token(12)).into_bytes();
    let escape_name = format!("{root_name}-escaped.bin");
    let _cleanup = Outside(vec![parent.join(&secret_name), parent.join(&escape_name)]);
    std::fs::write(parent.join(&secret_name), &secret)
        .map_err(|e| Failure::new(format!("the grader cannot plant the secret: {e}")))?;
    // A file of the same name inside the root: a server that clamps `..` at the root
    // (as `/..` is `/` on Unix) may serve this one; that is inside, so it is fine.
    put_file(ctx, &secret_name, &decoy)?;
    std::fs::create_dir(root.join("sub")).map_err(|e| Failure::new(format!("mkdir: {e}")))?;
    std::os::unix::fs::symlink(parent.join(&secret_name), root.join("link-to-secret"))
        .map_err(|e| Failure::new(format!("symlink: {e}")))?;
    std::os::unix::fs::symlink(&parent, root.join("link-to-parent"))
        .map_err(|e| Failure::new(format!("symlink: {e}")))?;

    let attempts = [
        format!("../{secret_name}"),
        format!("/../{secret_name}"),
        format!("sub/../../{secret_name}"),
        format!("{}", parent.join(&secret_name).display()),
        format!("%2e%2e/{secret_name}"),
        format!("..%2f{secret_name}"),
        format!("%2e%2e%2f{secret_name}"),
        "link-to-secret".to_string(),
        format!("link-to-parent/{secret_name}"),
        "/etc/passwd".to_string(),
    ];
    let passwd = std::fs::read("/etc/passwd").unwrap_or_default();
    let mut s = Session::login(ctx)?;
    s.expect("TYPE I", &[200])?;
    for path in &attempts {
        let data = s.data(ctx, Mode::Epsv)?;
        let line = format!("RETR {path}");
        let reply = s.command(&line)?;
        if reply.code >= 400 {
            continue; // refused: good
        }
        let got = receive_and_close(data, 1 << 20);
        let leaked = !got.bytes.is_empty()
            && (got
                .bytes
                .windows(secret.len())
                .any(|w| w == secret.as_slice())
                || got.bytes == passwd);
        if leaked || (got.bytes != decoy && reply.code < 300) {
            return Err(Failure::new(format!("`{line}` served a file from outside the root"))
                .expected("550 (the path leaves the served directory), or the file of that name inside the root")
                .got(format!("{} and {} bytes: {}", reply.show(), got.bytes.len(), crate::grade::probe::bytes::escape(&got.bytes, 60)))
                .detail("Normalise the path (resolve . and ..) before touching the disk, refuse anything above the root, and check where symbolic links lead (canonicalize, then starts_with(root)).")
                .reproduce(format!("curl --path-as-is ftp://127.0.0.1:{}/../{secret_name}", ctx.reproduce_port))
                .into());
        }
        if reply.code < 200 {
            let done = s.read_reply(&format!("after the data of {line}"))?;
            if done.code >= 400 {
                continue;
            }
        }
    }
    for path in [
        "..".to_string(),
        "link-to-parent".to_string(),
        "../..".to_string(),
    ] {
        let reply = s.command(&format!("CWD {path}"))?;
        if reply.code < 400 {
            // Allowed only if it stayed inside: then the secret's name is the decoy.
            let data = s.data(ctx, Mode::Pasv)?;
            let r = s.command(&format!("RETR {secret_name}"))?;
            if r.code < 400 {
                let got = receive_and_close(data, 1 << 20);
                if got
                    .bytes
                    .windows(secret.len())
                    .any(|w| w == secret.as_slice())
                {
                    return Err(Failure::new(format!(
                        "after `CWD {path}`, RETR served the secret file beside the root"
                    ))
                    .detail(
                        "CWD must not leave the served directory, through `..` or a symbolic link.",
                    )
                    .into());
                }
                if r.code < 200 {
                    s.read_reply("after the data of RETR")?;
                }
            }
            s.expect("CWD /", &[250])?;
        }
    }
    let payload = format!("written by the grader {}\n", ctx.rng.token(8)).into_bytes();
    for path in [
        format!("../{escape_name}"),
        format!("/../{escape_name}"),
        format!("link-to-parent/{escape_name}"),
        parent.join(&escape_name).display().to_string(),
    ] {
        let mut data = s.data(ctx, Mode::Epsv)?;
        let line = format!("STOR {path}");
        let reply = s.command(&line)?;
        if reply.code < 200 {
            let _ = data.send(&payload);
            data.close();
            s.read_reply(&format!("after the data of {line}"))?;
        }
        if parent.join(&escape_name).exists() {
            return Err(
                Failure::new(format!("`{line}` wrote a file outside the root"))
                    .expected("550, or a file inside the served directory")
                    .got(format!(
                        "{} created {}",
                        reply.show(),
                        parent.join(&escape_name).display()
                    ))
                    .into(),
            );
        }
    }
    s.quit()?;
    Ok(())
}

/// While one session's download is stalled mid-transfer, a second session logs in and
/// completes its own download.
pub fn concurrent_sessions(ctx: &mut Ctx) -> ProbeResult {
    let big_len = ctx.rng.range(8 << 20, 10 << 20);
    let big = binary(ctx, big_len);
    let small_len = ctx.rng.range(1000, 100_000);
    let small = binary(ctx, small_len);
    put_file(ctx, "big.bin", &big)?;
    put_file(ctx, "small.bin", &small)?;
    let mut a = Session::login(ctx)?;
    a.expect("TYPE I", &[200])?;
    let mut data = a.data(ctx, Mode::Epsv)?;
    data.set_recv_buffer(64 * 1024);
    a.expect("RETR big.bin", &[125, 150])?;
    let first = data.recv_exact(64 * 1024);
    if first.end != End::Complete {
        return Err(Failure::new("the first 64 KiB of RETR big.bin never arrived").into());
    }
    // Session A's transfer is now in flight and blocked on us. A server that serves one
    // session at a time cannot even greet B.
    let mut b = Session::login(ctx).map_err(|f| {
        f.detail("A second session was opened while the first one's download was in progress: the server must serve both at once (a task per session).")
    })?;
    b.expect("TYPE I", &[200])?;
    let got = b.retr(ctx, "small.bin", Mode::Pasv, small.len() + 1024)?;
    expect_bytes("session 2's RETR small.bin", &small, &received(got))?;
    b.quit()?;
    let rest = receive_and_close(data, big.len() + 65536);
    let mut all = first.bytes;
    all.extend_from_slice(&rest.bytes);
    expect_bytes(
        "session 1's RETR big.bin",
        &big,
        &Received {
            bytes: all,
            end: rest.end,
        },
    )?;
    let done = a.read_reply("after the data of RETR big.bin")?;
    a.check("RETR big.bin", &done, &[226, 250])?;
    a.quit()?;
    Ok(())
}

/// Commands split into tiny fragments, and several commands in one segment.
pub fn fragments(ctx: &mut Ctx) -> ProbeResult {
    let mut s = Session::open(ctx)?;
    let _ = s.conn().stream().set_nodelay(true);
    let pause = std::time::Duration::from_millis(15);
    for piece in [&b"US"[..], b"ER anon", b"ymous\r", b"\n"] {
        s.conn().send(piece)?;
        std::thread::sleep(pause);
    }
    let user = s.read_reply("after USER sent in four fragments")?;
    s.check("USER anonymous", &user, &[230, 331])?;
    if user.code == 331 {
        for piece in [&b"P"[..], b"ASS x@y", b".z\r\n"] {
            s.conn().send(piece)?;
            std::thread::sleep(pause);
        }
        let pass = s.read_reply("after PASS sent in three fragments")?;
        s.check("PASS", &pass, &[230])?;
    }
    s.conn().send(b"TYPE I\r\nNOOP\r\nPWD\r\n")?;
    for (line, codes) in [("TYPE I", &[200][..]), ("NOOP", &[200]), ("PWD", &[257])] {
        let r = s.read_reply(&format!("after {line} (three commands sent in one segment)")).map_err(|f| {
            f.detail("Several commands can arrive in one read: keep what follows the first CRLF for the next command.")
        })?;
        s.check(line, &r, codes)?;
    }
    s.quit()?;
    Ok(())
}

/// Clients that reset mid-upload and mid-download; another session is served meanwhile
/// and afterwards.
pub fn vanishing_client(ctx: &mut Ctx) -> ProbeResult {
    let big_len = ctx.rng.range(4 << 20, 6 << 20);
    let big = binary(ctx, big_len);
    let small = binary(ctx, 5000);
    put_file(ctx, "big.bin", &big)?;
    put_file(ctx, "small.bin", &small)?;
    // A client that dies in the middle of an upload.
    let mut up = Session::login(ctx)?;
    up.expect("TYPE I", &[200])?;
    let mut data = up.data(ctx, Mode::Epsv)?;
    up.expect_write("STOR partial.bin", &[125, 150])?;
    let chunk = binary(ctx, 512 * 1024);
    data.send(&chunk)?;
    data.reset();
    up.reset();
    // One that dies in the middle of a download.
    let mut down = Session::login(ctx)?;
    down.expect("TYPE I", &[200])?;
    let mut data = down.data(ctx, Mode::Pasv)?;
    data.set_recv_buffer(64 * 1024);
    down.expect("RETR big.bin", &[125, 150])?;
    let _ = data.recv_exact(64 * 1024);
    data.reset();
    down.reset();
    // Everyone else is still served.
    for round in 0..2 {
        let mut s = Session::login(ctx).map_err(|f| {
            f.detail("After clients reset their connections mid-transfer the server must keep serving: a reset is an error of one session, not of the server.")
        })?;
        s.expect("TYPE I", &[200])?;
        let mode = if round == 0 { Mode::Epsv } else { Mode::Pasv };
        let got = s.retr(ctx, "small.bin", mode, small.len() + 1024)?;
        expect_bytes("RETR small.bin after the resets", &small, &received(got))?;
        s.listing(ctx, "NLST", mode)?;
        s.quit()?;
    }
    Ok(())
}
