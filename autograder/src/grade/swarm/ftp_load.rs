//! The bench's FTP workload (lab 4): each client keeps one control connection logged in
//! and downloads the same `size`-byte file again and again, each time over a fresh
//! passive data connection.
//!
//! One transfer, the unit the bench counts as a request and times:
//!
//! ```text
//! EPSV            → 229 (|||port|)      (PASV → 227 (h,h,h,h,p,p) if EPSV is refused)
//! connect to port                       (the control connection's address)
//! RETR bench.bin  → 150/125
//! read the data connection to its end   (compared byte for byte with the file)
//!                 → 226/250
//! ```
//!
//! The login follows lab 4's server contract (handouts/lab4.md): `USER anonymous` (331 or
//! 230), any password, then `TYPE I` so the bytes arrive unchanged.
//!
//! Why a thread per client with blocking sockets, when the other workloads share a few
//! readiness-loop threads ([`super::load`]): the [`super::Engine`] holds one socket per
//! client, and an FTP client needs two, the second one new for every transfer (a connect
//! that may be refused, then a read to the end that races the control reply). As a
//! state machine that is five phases over two sockets; as a thread it is the straight-line
//! code above. The cost of a thread is a context switch per reply, which matters at
//! tens of thousands of requests per second; an FTP transfer pays a TCP connect, an
//! accept and three replies anyway, so the switch is small beside them. Threads do not
//! scale to thousands of clients, hence [`MAX_CLIENTS`].

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use super::load::{echo_payload, LoadConfig, LoadResult, BENCH_FILE};
use crate::grade::ftp_reply::{parse_epsv, parse_pasv};

/// The most clients the FTP workload runs (one thread each, see the module's comment).
pub const MAX_CLIENTS: usize = 64;

/// Runs the FTP load and returns the merged measurements.
///
/// # Errors
/// When a client thread cannot be created; everything the server does wrong is counted
/// in [`LoadResult::errors`].
pub fn run(config: &LoadConfig) -> io::Result<LoadResult> {
    if config.clients > MAX_CLIENTS {
        return Err(io::Error::other(format!(
            "the FTP workload runs at most {MAX_CLIENTS} clients (a thread each)"
        )));
    }
    let expected: Arc<[u8]> = echo_payload(config.size).into();
    // Every client logs in, then all start the measured window together; the second wait
    // keeps every control connection open until all have finished their window.
    let barrier = Arc::new(Barrier::new(config.clients));
    let mut handles = Vec::new();
    for c in 0..config.clients {
        let config = config.clone();
        let expected = Arc::clone(&expected);
        let barrier = Arc::clone(&barrier);
        handles.push(
            thread::Builder::new()
                .name(format!("ftp client {c}"))
                .spawn(move || FtpClient::new(&config, expected).run(&barrier))?,
        );
    }
    let mut total = LoadResult::default();
    for h in handles {
        let r = h
            .join()
            .map_err(|_| io::Error::other("an FTP client thread panicked"))?;
        total.absorb(r);
    }
    total.latencies_us.sort_unstable();
    Ok(total)
}

/// Why a transfer did not complete.
enum Stop {
    /// The deadline passed while waiting: not the server's fault by itself.
    Deadline,
    /// The server failed (an unexpected reply, wrong bytes, a close, a refused connect).
    Failed,
}

impl From<io::Error> for Stop {
    fn from(e: io::Error) -> Stop {
        // Blocking sockets report an expired read timeout as WouldBlock or TimedOut; the
        // caller decides from the clock whether that was the deadline.
        match e.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => Stop::Deadline,
            _ => Stop::Failed,
        }
    }
}

/// One logged-in control connection.
struct Control {
    reader: BufReader<TcpStream>,
    /// Whether the server refused EPSV once: use PASV from then on.
    pasv_only: bool,
    line: String,
}

struct FtpClient {
    addr: SocketAddr,
    duration: Duration,
    connect_limit: Duration,
    expected: Arc<[u8]>,
    /// Data read buffer: bytes are compared as they arrive, never kept.
    buf: Vec<u8>,
    result: LoadResult,
    measuring: bool,
    answered: u64,
}

impl FtpClient {
    fn new(config: &LoadConfig, expected: Arc<[u8]>) -> FtpClient {
        FtpClient {
            addr: config.addr,
            duration: config.duration,
            connect_limit: config.connect_limit,
            expected,
            buf: vec![0; 256 * 1024],
            result: LoadResult::default(),
            measuring: false,
            answered: 0,
        }
    }

    fn run(mut self, barrier: &Barrier) -> LoadResult {
        // Phase 1: connect and log in (not measured), retrying until the connect limit.
        let connect_deadline = Instant::now() + self.connect_limit;
        let mut control = None;
        while control.is_none() && Instant::now() < connect_deadline {
            match self.login(connect_deadline) {
                Ok(c) => control = Some(c),
                Err(_) => pause_until(connect_deadline, Duration::from_millis(10)),
            }
        }
        self.result.connected = usize::from(control.is_some());
        barrier.wait();

        // Phase 2: the measured window.
        let start = Instant::now();
        let deadline = start + self.duration;
        self.measuring = true;
        // When the current attempt (login or transfer) began: a client never answered
        // during the whole window was starved, and its wait enters the latency figures.
        let mut attempt_at = start;
        while Instant::now() < deadline {
            let c = match control.take() {
                Some(c) => c,
                None => match self.login(deadline) {
                    Ok(c) => c,
                    Err(Stop::Deadline) if Instant::now() >= deadline => break,
                    Err(_) => {
                        self.result.errors += 1;
                        pause_until(deadline, Duration::from_millis(10));
                        continue;
                    }
                },
            };
            let mut c = c;
            attempt_at = Instant::now();
            match self.transfer(&mut c, deadline) {
                Ok(()) => {
                    let now = Instant::now();
                    if now <= deadline {
                        self.answered += 1;
                        self.result.requests += 1;
                        self.result.bytes += self.expected.len() as u64;
                        self.result.latencies_us.push(micros(now - attempt_at));
                    }
                    control = Some(c);
                }
                // In flight at the window's end: neither counted nor an error.
                Err(Stop::Deadline) if Instant::now() >= deadline => {
                    control = Some(c);
                    break;
                }
                // A failed transfer leaves the session in an unknown state: log in again.
                Err(_) => {
                    self.result.errors += 1;
                    pause_until(deadline, Duration::from_millis(10));
                }
            }
        }
        let end = Instant::now();
        self.result.elapsed = end - start;
        self.result.window = Some((start, end));
        // Starved: never answered, and no failure to explain it (an iterative server
        // serving another client).
        if self.answered == 0 && self.result.errors == 0 {
            self.result.errors += 1;
            self.result.latencies_us.push(micros(end - attempt_at));
        }
        // Keep the control connection open until every client has judged its window (an
        // iterative server freed early would answer another client just before its end).
        barrier.wait();
        drop(control);
        std::mem::take(&mut self.result)
    }

    /// Connects, reads the greeting, logs in anonymously and asks for binary transfers.
    fn login(&mut self, deadline: Instant) -> Result<Control, Stop> {
        let stream = TcpStream::connect_timeout(&self.addr, remaining(deadline)?)?;
        stream.set_nodelay(true)?;
        let mut c = Control {
            reader: BufReader::new(stream),
            pasv_only: false,
            line: String::new(),
        };
        expect(c.reply(deadline)?, &[220])?;
        let user = c.command("USER anonymous", deadline)?;
        if user == 331 {
            expect(c.command("PASS bench@netlabs", deadline)?, &[230, 202])?;
        } else {
            expect(user, &[230])?;
        }
        expect(c.command("TYPE I", deadline)?, &[200])?;
        Ok(c)
    }

    /// One complete RETR of the bench file over a new passive data connection.
    fn transfer(&mut self, c: &mut Control, deadline: Instant) -> Result<(), Stop> {
        let port = c.passive_port(deadline)?;
        let ip = c.reader.get_ref().peer_addr()?.ip();
        let data = TcpStream::connect_timeout(&SocketAddr::new(ip, port), remaining(deadline)?)
            .map_err(|e| match e.kind() {
                io::ErrorKind::TimedOut => Stop::Deadline,
                _ => Stop::Failed,
            })?;
        let first = c.command(&format!("RETR {BENCH_FILE}"), deadline)?;
        let finished = match first {
            125 | 150 => false,
            // Some servers finish small files before saying they started.
            226 | 250 => true,
            _ => return Err(Stop::Failed),
        };
        // `read_file` closes the data connection: some servers (ProFTPD) wait for the
        // client's close before they send the 226.
        self.read_file(data, deadline)?;
        if !finished {
            expect(c.reply(deadline)?, &[226, 250])?;
        }
        Ok(())
    }

    /// Reads the data connection to its end, comparing with the file as bytes arrive,
    /// and closes it.
    fn read_file(&mut self, mut data: TcpStream, deadline: Instant) -> Result<(), Stop> {
        let mut got = 0;
        loop {
            data.set_read_timeout(Some(remaining(deadline)?))?;
            let n = match data.read(&mut self.buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e.into()),
            };
            if self.expected.get(got..got + n) != Some(&self.buf[..n]) {
                return Err(Stop::Failed);
            }
            got += n;
        }
        // End the connection with a reset rather than a FIN. The server closed first, so
        // an orderly close would leave its socket in TIME_WAIT for 60 s: one per transfer,
        // and at thousands of transfers per second on loopback they fill the ephemeral
        // port range within seconds, after which every `bind` of a passive port searches
        // longer (measured: 4,100 transfers/s at 64 clients on a clean machine, 1,000 for
        // any client count after the runs before it). Each measurement would measure the
        // ones before it. The reset comes after the server's FIN: most servers have
        // closed the socket by then, so only their kernel sees it; one that reads until
        // the client closes (ProFTPD, vsftpd) takes it for that close and sends its 226.
        let _ = socket2::SockRef::from(&data).set_linger(Some(Duration::ZERO));
        if got == self.expected.len() {
            Ok(())
        } else {
            Err(Stop::Failed)
        }
    }
}

impl Control {
    /// Sends one command and returns its reply's code.
    fn command(&mut self, line: &str, deadline: Instant) -> Result<u16, Stop> {
        self.reader
            .get_mut()
            .write_all(format!("{line}\r\n").as_bytes())?;
        self.reply(deadline)
    }

    /// Reads one reply (multi-line ones too: `ddd-` … `ddd `) and returns its code; the
    /// last line's text stays in `self.line`.
    fn reply(&mut self, deadline: Instant) -> Result<u16, Stop> {
        let mut first: Option<u16> = None;
        loop {
            self.reader
                .get_ref()
                .set_read_timeout(Some(remaining(deadline)?))?;
            self.line.clear();
            if self.reader.read_line(&mut self.line)? == 0 || self.line.len() > 8192 {
                return Err(Stop::Failed);
            }
            let code = self.line.get(..3).and_then(|c| c.parse::<u16>().ok());
            let separator = self.line.as_bytes().get(3).copied();
            match (first, code) {
                // A single-line reply, or the last line of a multi-line one.
                (None, Some(code)) if separator != Some(b'-') => return Ok(code),
                (Some(f), Some(code)) if code == f && separator == Some(b' ') => return Ok(f),
                (None, Some(code)) => first = Some(code),
                (None, None) => return Err(Stop::Failed),
                // An inner line of a multi-line reply.
                (Some(_), _) => {}
            }
        }
    }

    /// Asks for a passive data port: EPSV, or PASV from a server that refuses EPSV.
    fn passive_port(&mut self, deadline: Instant) -> Result<u16, Stop> {
        if !self.pasv_only {
            match self.command("EPSV", deadline)? {
                229 => return parse_epsv(&self.line).ok_or(Stop::Failed),
                500..=599 => self.pasv_only = true,
                _ => return Err(Stop::Failed),
            }
        }
        expect(self.command("PASV", deadline)?, &[227])?;
        // Like curl, connect to the control connection's address, not the one named (a
        // server behind NAT may name one the client cannot reach).
        let [_, _, _, _, p1, p2] = parse_pasv(&self.line).ok_or(Stop::Failed)?;
        Ok(u16::from(p1) << 8 | u16::from(p2))
    }
}

fn expect(code: u16, wanted: &[u16]) -> Result<(), Stop> {
    if wanted.contains(&code) {
        Ok(())
    } else {
        Err(Stop::Failed)
    }
}

/// The time left before `deadline` (as a socket timeout, never zero), or [`Stop::Deadline`].
fn remaining(deadline: Instant) -> Result<Duration, Stop> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        Err(Stop::Deadline)
    } else {
        Ok(left)
    }
}

/// A short back-off after a failure, so a broken server is not hammered; never past the
/// deadline. (A pause between attempts, not a wait for an event.)
fn pause_until(deadline: Instant, pause: Duration) {
    thread::sleep(pause.min(deadline.saturating_duration_since(Instant::now())));
}

fn micros(d: Duration) -> u32 {
    u32::try_from(d.as_micros()).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_passive_replies() {
        // The replies as this client reads them: a whole line, code and CR LF included.
        assert_eq!(
            parse_epsv("229 Entering Extended Passive Mode (|||50123|)\r\n"),
            Some(50123)
        );
        assert_eq!(parse_epsv("229 ok (!!!2121!)"), Some(2121));
        assert_eq!(parse_epsv("229 nothing here"), None);
        assert_eq!(
            parse_pasv("227 Entering Passive Mode (127,0,0,1,195,80).\r\n"),
            Some([127, 0, 0, 1, 195, 80])
        );
        assert_eq!(parse_pasv("227 =10,1,2,3,0,21"), Some([10, 1, 2, 3, 0, 21]));
        assert_eq!(parse_pasv("227 (1,2,3)"), None);
    }
}
