//! The `stalled-transfers` probe: waiting on one client must never hold up another.
//!
//! tokio runs every task on a few worker threads, one per core by default. A task that
//! makes a blocking call (a `std::net` read or write, `sendfile` or `std::io::copy` on a
//! blocking socket, `std::thread::sleep`, `std::fs`) keeps its worker until the call
//! returns. Whether the other workers carry on is up to the scheduler: tokio's idle
//! workers sleep until woken, and if the blocked one was polling the sockets, nobody is
//! woken; but that is luck, and `concurrent-sessions` (one stalled download) never stalls
//! an upload. Here the grader stalls as many transfers at once as the machine has cores,
//! each waiting on the grader (downloads it does not read, then uploads it does not
//! finish): a server that blocks a worker per stalled transfer has none left, and another
//! session's replies, timed against `PROMPT`, never come.
//!
//! Any design that never lets one client's wait hold up another passes: tasks that await
//! tokio's sockets, blocking work moved onto tokio's blocking pool (`spawn_blocking`, as
//! the reference's `sendfile` is), a thread per session (Python's ftpd in the corpus), an
//! event loop (pyftpdlib).
//!
//! What no black-box test can catch: a blocking call that returns quickly, such as
//! `std::fs::read` of a file in the page cache. The grader cannot make the disk slow.

use std::time::{Duration, Instant};

use super::server_tests::{binary, put_file};
use super::{Mode, Session};
use crate::grade::probe::{expect_bytes, Conn, Ctx, End, Received, IDLE_LIMIT};
use crate::grade::probe::{Failure, ProbeResult};

/// How long a session may wait for any answer while transfers are stalled. A server that
/// does not block answers in milliseconds, even on a busy machine; one that blocks does
/// not answer until the stalled transfers move again.
const PROMPT: Duration = Duration::from_secs(3);

/// How much of a stalled download arrives before the grader stops reading: proof that
/// the server is sending it.
const DOWNLOAD_START: usize = 64 * 1024;

/// How much of a stalled upload the grader sends before it pauses. Through a small send
/// buffer it only leaves as fast as the server reads it, so once it is sent the server is
/// inside its receive loop.
const UPLOAD_START: usize = 6 << 20;

/// The grader's send buffer on stalled uploads (the kernel doubles it).
const UPLOAD_SEND_BUFFER: usize = 64 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    Download,
    Upload,
}

/// One transfer left waiting on the grader.
#[derive(Debug)]
struct Stalled {
    session: Session,
    data: Conn,
    name: String,
    /// The bytes of a download received so far.
    got: Vec<u8>,
}

/// The transfers stalled so far in one phase of the probe.
#[derive(Debug)]
struct Stalls<'a> {
    direction: Direction,
    /// The file each download fetches, or each upload sends.
    file: &'a [u8],
    list: Vec<Stalled>,
}

/// Sessions stalled per phase: one per core, so that a blocking call in each occupies
/// every worker of tokio's default runtime; at least two, and at most [`MAX_STALLS`].
fn stalls_per_phase() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get().clamp(2, MAX_STALLS))
}

/// The most transfers stalled at once: each holds megabytes of socket buffers, and each
/// upload a file on disk. Beyond this many cores, a runtime with one worker per core keeps
/// some free; tokio's still stalls when the worker polling the sockets blocks, but that
/// is the scheduler's doing, not a guarantee.
const MAX_STALLS: usize = 16;

/// While as many downloads as the machine has cores are stalled, another session gets
/// NOOP, PWD and a small RETR answered at once and a new session is greeted; then the
/// downloads resume and complete. The same with stalled uploads.
pub fn stalled_transfers(ctx: &mut Ctx) -> ProbeResult {
    let stalls = stalls_per_phase();
    let tok = ctx.rng.token(6);
    let big_len = ctx.rng.range(8 << 20, 10 << 20);
    let big = binary(ctx, big_len);
    let small_len = ctx.rng.range(1000, 100_000);
    let small = binary(ctx, small_len);
    let upload_len = ctx
        .rng
        .range(UPLOAD_START + (256 << 10), UPLOAD_START + (1 << 20));
    let upload = binary(ctx, upload_len);
    let big_name = format!("big-{tok}.bin");
    let small_name = format!("small-{tok}.bin");
    put_file(ctx, &big_name, &big)?;
    put_file(ctx, &small_name, &small)?;
    // Everyone logs in before anything stalls: only what happens during the stalls is timed.
    let mut other = logged_in(ctx)?;
    let mut sessions = (0..stalls)
        .map(|_| logged_in(ctx))
        .collect::<Result<Vec<_>, _>>()?;
    for direction in [Direction::Download, Direction::Upload] {
        let file = match direction {
            Direction::Download => &big,
            Direction::Upload => &upload,
        };
        let mut stalled = Stalls {
            direction,
            file,
            list: Vec::new(),
        };
        for (i, s) in sessions.drain(..).enumerate() {
            match direction {
                Direction::Download => stalled.start_download(ctx, s, &big_name)?,
                Direction::Upload => stalled.start_upload(ctx, s, &format!("up{i}-{tok}.bin"))?,
            }
        }
        let newcomer = stalled.serve_others(ctx, &mut other, &small_name, &small)?;
        sessions = stalled.finish(ctx)?;
        newcomer.quit()?;
    }
    for s in sessions {
        s.quit()?;
    }
    other.quit()?;
    Ok(())
}

/// A logged-in session in binary type, whose replies must come within [`PROMPT`].
fn logged_in(ctx: &mut Ctx) -> Result<Session, Failure> {
    let mut s = Session::login(ctx)?;
    s.expect("TYPE I", &[200])?;
    s.conn().set_idle_limit(PROMPT);
    Ok(s)
}

/// After a reply did not come in time: whether it comes now, with the usual patience.
fn reply_came(s: &mut Session) -> bool {
    s.conn().set_idle_limit(IDLE_LIMIT);
    s.read_reply("after the stalled transfers resumed").is_ok()
}

/// After data did not come (or was not taken) in time: whether it moves now.
fn data_moved(d: &mut Conn) -> bool {
    d.set_idle_limit(IDLE_LIMIT);
    !d.recv_exact(1).bytes.is_empty()
}

impl Stalls<'_> {
    /// "2 downloads were stalled (…)", for messages.
    fn describe(&self) -> String {
        let n = self.list.len();
        let size = format!("{:.1} MiB", self.file.len() as f64 / f64::from(1 << 20));
        let (one, many, how) = match self.direction {
            Direction::Download => (
                "download",
                "downloads",
                format!(
                    "RETR of a {size} file, the grader not reading after {} KiB",
                    DOWNLOAD_START >> 10
                ),
            ),
            Direction::Upload => (
                "upload",
                "uploads",
                format!(
                    "STOR of a {size} file, the grader pausing after {} MiB",
                    UPLOAD_START >> 20
                ),
            ),
        };
        if n == 1 {
            format!("1 {one} was stalled ({how})")
        } else {
            format!("{n} {many} were stalled ({how} each)")
        }
    }

    /// Runs `op`, which waits at most about [`PROMPT`] on `c`. If it fails after that long
    /// while transfers are stalled, the stalls are resumed and `again` tells whether the
    /// answer comes then: the failure says the server was blocked, not dead.
    fn within<C, T>(
        &mut self,
        c: &mut C,
        who: &str,
        what: &str,
        op: impl FnOnce(&mut C) -> Result<T, Failure>,
        again: impl FnOnce(&mut C) -> bool,
    ) -> Result<T, Failure> {
        let asked = Instant::now();
        match op(c) {
            Err(_) if asked.elapsed() >= PROMPT && !self.list.is_empty() => {
                let waited = asked.elapsed();
                let stalled = self.describe();
                self.resume();
                let came = again(c).then(|| asked.elapsed());
                Err(blocked(who, what, waited, &stalled, came))
            }
            other => other,
        }
    }

    /// Lets every stalled transfer go on to its end, ignoring what happens: the probe
    /// has already failed and only wants to see whether the server wakes up.
    fn resume(&mut self) {
        for mut t in self.list.drain(..) {
            match self.direction {
                Direction::Download => {
                    let _ = t.data.recv_to_eof(self.file.len() + 65536);
                    t.data.close(); // some servers reply only once the client has closed
                }
                Direction::Upload => {
                    let until = Instant::now() + IDLE_LIMIT;
                    let _ = t.data.send_until(&self.file[UPLOAD_START..], until);
                    t.data.close();
                }
            }
            let _ = t.session.read_reply("after the data");
        }
    }

    /// Opens a transfer on `s`: `EPSV`, the data connection shaped by `shape` (its buffer
    /// sizes), then `command` answered with 125 or 150. Returns who it is, for messages,
    /// and the data connection.
    fn open_transfer(
        &mut self,
        ctx: &mut Ctx,
        s: &mut Session,
        what: &str,
        command: &str,
        shape: impl FnOnce(&Conn),
    ) -> Result<(String, Conn), Failure> {
        s.conn().set_idle_limit(PROMPT);
        let who = format!(
            "the session starting {what} {} ({})",
            self.list.len() + 1,
            s.conn().label()
        );
        let data = self.within(
            s,
            &who,
            "its reply to `EPSV`",
            |s| s.data(ctx, Mode::Epsv),
            reply_came,
        )?;
        shape(&data);
        self.within(
            s,
            &who,
            &format!("its reply to `{command}`"),
            |s| s.expect(command, &[125, 150]),
            reply_came,
        )?;
        Ok((who, data))
    }

    /// Starts a download of `name` on `s`, and stops reading it after its first bytes.
    fn start_download(&mut self, ctx: &mut Ctx, mut s: Session, name: &str) -> ProbeResult {
        let line = format!("RETR {name}");
        let (who, mut data) = self.open_transfer(ctx, &mut s, "download", &line, |d| {
            d.set_recv_buffer(DOWNLOAD_START)
        })?;
        data.set_idle_limit(PROMPT);
        let first = self.within(
            &mut data,
            &who,
            &format!("the first {} KiB of its download", DOWNLOAD_START >> 10),
            |d| {
                let r = d.recv_exact(DOWNLOAD_START);
                match r.end {
                    End::Complete => Ok(r.bytes),
                    end => Err(Failure::new(format!(
                        "the first {} KiB of `{line}` never arrived ({} bytes, then {end:?})",
                        DOWNLOAD_START >> 10,
                        r.bytes.len()
                    ))),
                }
            },
            data_moved,
        )?;
        data.set_idle_limit(IDLE_LIMIT);
        self.list.push(Stalled {
            session: s,
            data,
            name: name.to_string(),
            got: first,
        });
        Ok(())
    }

    /// Starts an upload as `name` on `s`, and pauses once the server has read most of it.
    fn start_upload(&mut self, ctx: &mut Ctx, mut s: Session, name: &str) -> ProbeResult {
        let line = format!("STOR {name}");
        let (who, mut data) = self.open_transfer(ctx, &mut s, "upload", &line, |d| {
            d.set_send_buffer(UPLOAD_SEND_BUFFER)
        })?;
        let start = &self.file[..UPLOAD_START];
        self.within(
            &mut data,
            &who,
            &format!(
                "the server to read the first {} MiB of its upload",
                UPLOAD_START >> 20
            ),
            |d| d.send_until(start, Instant::now() + PROMPT),
            |d| d.send_until(&[0], Instant::now() + IDLE_LIMIT).is_ok(),
        )?;
        self.list.push(Stalled {
            session: s,
            data,
            name: name.to_string(),
            got: Vec::new(),
        });
        Ok(())
    }

    /// While the transfers are stalled: `other` gets NOOP, PWD and a RETR of `small`
    /// answered in time, and a new session is greeted and logged in. Returns the new one.
    fn serve_others(
        &mut self,
        ctx: &mut Ctx,
        other: &mut Session,
        name: &str,
        small: &[u8],
    ) -> Result<Session, Failure> {
        let who = format!(
            "a session with no transfer of its own ({})",
            other.conn().label()
        );
        for (line, codes) in [("NOOP", &[200][..]), ("PWD", &[257])] {
            self.within(
                other,
                &who,
                &format!("its reply to `{line}`"),
                |s| s.expect(line, codes),
                reply_came,
            )?;
        }
        let mut data = self.within(
            other,
            &who,
            "its reply to `EPSV`",
            |s| s.data(ctx, Mode::Epsv),
            reply_came,
        )?;
        let line = format!("RETR {name}");
        self.within(
            other,
            &who,
            &format!("its reply to `{line}`"),
            |s| s.expect(&line, &[125, 150]),
            reply_came,
        )?;
        data.set_idle_limit(PROMPT);
        let got = self.within(
            &mut data,
            &who,
            &format!("the data of `{line}`"),
            |d| {
                let r = d.recv_to_eof(small.len() + 1024);
                match r.end {
                    End::Eof => Ok(r),
                    ref end => Err(Failure::new(format!(
                        "the data of `{line}` did not end with a close ({} bytes, then {end:?})",
                        r.bytes.len()
                    ))),
                }
            },
            data_moved,
        )?;
        expect_bytes(&format!("the data of `{line}`"), small, &got)?;
        // Our end closes first, as ftplib's and curl's do: some servers (ProFTPD, vsftpd)
        // send the final reply only once the client has closed the data connection.
        data.close();
        self.within(
            other,
            &who,
            &format!("the final reply to `{line}`"),
            |s| {
                let r = s.read_reply(&format!("after the data of {line}"))?;
                s.check(&line, &r, &[226, 250])
            },
            reply_came,
        )?;
        // A newcomer too: the accept loop must be running.
        let mut fresh = Session::on(ctx.connect()?, ctx.reproduce_port);
        fresh.conn().set_idle_limit(PROMPT);
        let who = format!("a new session ({})", fresh.conn().label());
        self.within(
            &mut fresh,
            &who,
            "its greeting",
            |s| {
                let r = s.read_reply("after connecting")?;
                s.check("(the greeting)", &r, &[220])
            },
            reply_came,
        )?;
        let user = self.within(
            &mut fresh,
            &who,
            "its reply to `USER anonymous`",
            |s| s.expect("USER anonymous", &[230, 331]),
            reply_came,
        )?;
        if user.code == 331 {
            self.within(
                &mut fresh,
                &who,
                "its reply to `PASS`",
                |s| s.expect("PASS grader@example.com", &[230]),
                reply_came,
            )?;
        }
        Ok(fresh)
    }

    /// Resumes every stalled transfer and checks that it completes: downloads arrive
    /// whole, uploads are stored whole. Returns their sessions.
    fn finish(&mut self, ctx: &Ctx) -> Result<Vec<Session>, Failure> {
        let mut sessions = Vec::new();
        for (i, mut t) in std::mem::take(&mut self.list).into_iter().enumerate() {
            // Once resumed, a transfer may take its time: the server may sync the file.
            t.session.conn().set_idle_limit(IDLE_LIMIT);
            let line = match self.direction {
                Direction::Download => {
                    let rest = t.data.recv_to_eof(self.file.len() + 65536);
                    let mut all = std::mem::take(&mut t.got);
                    all.extend_from_slice(&rest.bytes);
                    let what = format!("stalled download {} of {}, once resumed", i + 1, t.name);
                    expect_bytes(
                        &what,
                        self.file,
                        &Received {
                            bytes: all,
                            end: rest.end,
                        },
                    )?;
                    // Closed before the final reply, which some servers send only then.
                    t.data.close();
                    format!("RETR {}", t.name)
                }
                Direction::Upload => {
                    t.data.send(&self.file[UPLOAD_START..])?;
                    t.data.close();
                    format!("STOR {}", t.name)
                }
            };
            let done = t.session.read_reply(&format!("after the data of {line}"))?;
            t.session.check(&line, &done, &[226, 250])?;
            if self.direction == Direction::Upload {
                let on_disk = std::fs::read(ctx.root.join(&t.name)).map_err(|e| {
                    Failure::new(format!(
                        "after 226 for the stalled upload {}, the file is not in the root: {e}",
                        t.name
                    ))
                })?;
                expect_bytes(
                    &format!("the stalled upload {} of {}, once resumed", i + 1, t.name),
                    self.file,
                    &Received {
                        bytes: on_disk,
                        end: End::Eof,
                    },
                )?;
            }
            sessions.push(t.session);
        }
        Ok(sessions)
    }
}

/// The failure of a session kept waiting while transfers were stalled.
fn blocked(
    who: &str,
    what: &str,
    waited: Duration,
    stalled: &str,
    came: Option<Duration>,
) -> Failure {
    Failure::new(format!(
        "{who} waited {:.1} s for {what} while {stalled}: something in the server blocks the thread that runs the other sessions' tasks (std::fs, std::thread::sleep, a blocking socket)",
        waited.as_secs_f64()
    ))
    .expected(format!(
        "an answer within {} s: the stalled transfers wait on the grader, never on the server",
        PROMPT.as_secs()
    ))
    .got(match came {
        Some(at) => format!(
            "nothing; the answer came only after the grader had resumed the stalled transfers, {:.1} s after it was asked for",
            at.as_secs_f64()
        ),
        None => "nothing, even after the grader resumed the stalled transfers".to_string(),
    })
    .detail(format!(
        "tokio runs tasks on a few worker threads, by default one per core; the grader stalls {} transfers at once. A task that makes a blocking call (a std::net read or write, sendfile or std::io::copy on a blocking socket, std::thread::sleep, std::fs) keeps its worker until the call returns, and one blocked worker can leave the idle ones asleep (they wait for the one that polls the sockets); with one stalled transfer per worker, none is left for anyone else. Await tokio's sockets and files instead, or run the blocking call on tokio's blocking pool with tokio::task::spawn_blocking.",
        stalls_per_phase()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_blocked_session_is_told_what_held_it_up() {
        let f = blocked(
            "a session with no transfer of its own (c1)",
            "its reply to `NOOP`",
            Duration::from_millis(3050),
            "2 downloads were stalled (RETR of a 9.0 MiB file, the grader not reading after 64 KiB each)",
            Some(Duration::from_millis(3140)),
        );
        let text = format!("{f:?}");
        assert!(
            text.contains("waited 3.0 s for its reply to `NOOP` while 2 downloads"),
            "{text}"
        );
        assert!(text.contains("3.1 s after it was asked for"), "{text}");
    }

    #[test]
    fn stalls_are_described_by_count_and_kind() {
        let file = vec![0u8; 9 << 20];
        let mut stalls = Stalls {
            direction: Direction::Upload,
            file: &file,
            list: Vec::new(),
        };
        assert!(stalls
            .describe()
            .starts_with("0 uploads were stalled (STOR of a 9.0 MiB file"));
        stalls.direction = Direction::Download;
        assert!(stalls.describe().contains("not reading after 64 KiB each"));
    }
}
