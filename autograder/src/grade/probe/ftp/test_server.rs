//! A strict FTP test server for grading clients, on plain threads.
//!
//! Threads, not tokio: the server serves a handful of sessions for a few seconds, the rest
//! of the grader is blocking code with deadlines, and a thread per session keeps this
//! file readable as straight-line code. (Lab 4 itself is where async is taught.)
//!
//! What makes it strict, each to catch a real client mistake:
//!
//! - **Multi-line replies**: the greeting and FEAT span several lines; a client must read
//!   up to the line that starts with the code and a space.
//! - **Replies split across packets**: every reply is written in two or three pieces with
//!   pauses (TCP_NODELAY on), so one `read` never returns a whole reply.
//! - **RFC 959's default type is ASCII**: until the client sends `TYPE I`, downloads turn
//!   LF into CRLF and uploads turn CRLF into LF, exactly as the standard says. A client
//!   that forgets binary type corrupts binary files, as it would against a real server.
//! - **A delay before each transfer** (between RETR and its 150), the lecture's d_prop:
//!   N files take about N·d with a sequential client and about d with a concurrent one.
//! - **Commands must end in CRLF**: a bare LF is answered 500 and recorded.
//!
//! Everything that crosses its connections goes into the test's [`Transcript`], as the
//! server end: control connections `c1`, `c2`, … and data connections `d1`, `d2`, … in
//! the order they were accepted.

use std::collections::BTreeMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::grade::probe::transcript::{self, Call, Event, Side, Transcript};

/// What the server holds and how it behaves.
#[derive(Debug, Clone, Default)]
pub struct Setup {
    /// Files by absolute FTP path (`/a.bin`, `/docs/b.txt`).
    pub files: BTreeMap<String, Vec<u8>>,
    /// Directories by absolute FTP path, besides `/`.
    pub dirs: Vec<String>,
    /// Pause between a RETR and its 150 reply.
    pub delay: Duration,
}

/// What happened, for the probe to check.
#[derive(Debug, Default)]
pub struct Record {
    /// Files uploaded with STOR, by absolute FTP path, as converted by the current type.
    pub uploads: BTreeMap<String, Vec<u8>>,
    /// Protocol violations by the client.
    pub violations: Vec<String>,
    /// When the first control connection arrived.
    pub first_connect: Option<Instant>,
    /// When the last transfer finished (its 226 was sent).
    pub last_transfer_done: Option<Instant>,
    /// How many RETRs completed, and in which type ('A' or 'I').
    pub retrs: Vec<(String, char)>,
    /// How many control connections arrived.
    pub sessions: usize,
    /// The most RETR delays in progress at once.
    pub max_overlap: usize,
    overlap: usize,
}

/// A running test server; stopped when dropped.
#[derive(Debug)]
pub struct TestServer {
    /// Where it listens.
    pub addr: SocketAddr,
    record: Arc<Mutex<Record>>,
    stop: Arc<AtomicBool>,
    accept: Option<thread::JoinHandle<()>>,
}

impl TestServer {
    /// Starts serving `setup` on `host:port`, recording into `transcript` as its server
    /// end.
    ///
    /// # Errors
    /// If the port cannot be bound.
    pub fn start(
        host: &str,
        port: u16,
        setup: Setup,
        transcript: Transcript,
    ) -> std::io::Result<TestServer> {
        transcript.grader_is(Side::Server);
        let listener = TcpListener::bind((host, port))?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let record = Arc::new(Mutex::new(Record::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let setup = Arc::new(setup);
        let data_connections = Arc::new(AtomicUsize::new(0));
        let accept = {
            let (record, stop) = (Arc::clone(&record), Arc::clone(&stop));
            thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            let conn = {
                                let mut r = lock(&record);
                                r.sessions += 1;
                                r.first_connect.get_or_insert_with(Instant::now);
                                format!("c{}", r.sessions)
                            };
                            transcript.event(&conn, Event::Accepted);
                            let (setup, record, stop) =
                                (Arc::clone(&setup), Arc::clone(&record), Arc::clone(&stop));
                            let recorder = Recorder {
                                log: transcript.clone(),
                                conn,
                                data_connections: Arc::clone(&data_connections),
                            };
                            thread::spawn(move || {
                                let _ = stream.set_nonblocking(false);
                                let mut s = Session::new(stream, setup, record, stop, recorder);
                                s.serve();
                                // The session's end drops the stream: the grader closes.
                                s.recorder.event(Event::Close);
                            });
                        }
                        // Polling with a short sleep keeps stopping simple and bounded.
                        Err(e) if e.kind() == ErrorKind::WouldBlock => {
                            thread::sleep(Duration::from_millis(5))
                        }
                        Err(_) => thread::sleep(Duration::from_millis(5)),
                    }
                }
            })
        };
        Ok(TestServer {
            addr,
            record,
            stop,
            accept: Some(accept),
        })
    }

    /// Runs `f` on what has been recorded so far.
    pub fn record<T>(&self, f: impl FnOnce(&Record) -> T) -> T {
        f(&lock(&self.record))
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.accept.take() {
            let _ = h.join();
        }
    }
}

fn lock(r: &Mutex<Record>) -> std::sync::MutexGuard<'_, Record> {
    r.lock().unwrap_or_else(|e| e.into_inner())
}

/// Where a session records what crosses its connections.
struct Recorder {
    log: Transcript,
    /// The control connection's label.
    conn: String,
    /// How many data connections the server has accepted, over every session.
    data_connections: Arc<AtomicUsize>,
}

impl Recorder {
    fn event(&self, event: Event) {
        self.log.event(&self.conn, event);
    }

    /// The label of a data connection just accepted, with its accept recorded.
    fn data_connection(&self) -> String {
        let n = self.data_connections.fetch_add(1, Ordering::SeqCst) + 1;
        let label = format!("d{n}");
        self.log.event(&label, Event::Accepted);
        label
    }
}

struct Session {
    stream: TcpStream,
    recorder: Recorder,
    setup: Arc<Setup>,
    record: Arc<Mutex<Record>>,
    stop: Arc<AtomicBool>,
    pending: Vec<u8>,
    user: bool,
    logged_in: bool,
    binary: bool,
    cwd: String,
    passive: Option<TcpListener>,
    split: usize,
}

/// How long a session waits for the client's next command or data connection.
const PATIENCE: Duration = Duration::from_secs(15);

impl Session {
    fn new(
        stream: TcpStream,
        setup: Arc<Setup>,
        record: Arc<Mutex<Record>>,
        stop: Arc<AtomicBool>,
        recorder: Recorder,
    ) -> Session {
        let _ = stream.set_nodelay(true);
        let _ = stream.set_read_timeout(Some(Duration::from_millis(200)));
        Session {
            stream,
            recorder,
            setup,
            record,
            stop,
            pending: Vec::new(),
            user: false,
            logged_in: false,
            binary: false,
            cwd: "/".into(),
            passive: None,
            split: 0,
        }
    }

    /// Writes a reply in two or three pieces with pauses, so it crosses the wire in
    /// several segments.
    fn reply(&mut self, text: &str) -> bool {
        let started = Instant::now();
        let sent = self.reply_in_pieces(text);
        // One event for the whole reply (spanning its pieces): sessions run at once, and
        // their pieces interleaved would be a transcript nobody can read.
        if sent {
            let r = &self.recorder;
            r.log
                .data_since(&r.conn, Side::Server, text.as_bytes(), Some(started));
        }
        sent
    }

    fn reply_in_pieces(&mut self, text: &str) -> bool {
        let bytes = text.as_bytes();
        self.split += 1;
        let cuts = [bytes.len() / 3 + self.split % 3, (2 * bytes.len()) / 3];
        let mut from = 0;
        for cut in cuts.into_iter().chain([bytes.len()]) {
            let cut = cut.clamp(from, bytes.len());
            if cut > from {
                if let Err(e) = self.stream.write_all(&bytes[from..cut]) {
                    self.recorder.event(Event::failed(Call::Send, &e));
                    return false;
                }
                from = cut;
                if from < bytes.len() {
                    thread::sleep(Duration::from_millis(3));
                }
            }
        }
        true
    }

    fn violation(&self, what: String) {
        lock(&self.record).violations.push(what);
    }

    fn read_line(&mut self) -> Option<Vec<u8>> {
        let started = Instant::now();
        loop {
            if let Some(end) = self.pending.iter().position(|&b| b == b'\n') {
                return Some(self.pending.drain(..=end).collect());
            }
            if self.stop.load(Ordering::SeqCst) || self.pending.len() > 8192 {
                return None;
            }
            if started.elapsed() > PATIENCE {
                self.recorder.event(Event::Silence {
                    waited_ms: transcript::waited_ms(started),
                });
                return None;
            }
            let mut buf = [0u8; 1024];
            match self.stream.read(&mut buf) {
                Ok(0) => {
                    self.recorder.event(Event::Eof);
                    return None;
                }
                Ok(n) => {
                    let r = &self.recorder;
                    r.log.data(&r.conn, Side::Client, &buf[..n]);
                    self.pending.extend_from_slice(&buf[..n]);
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                    ) => {}
                Err(e) => {
                    self.recorder.event(Event::failed(Call::Receive, &e));
                    return None;
                }
            }
        }
    }

    fn path(&self, arg: &str) -> String {
        let mut parts: Vec<&str> = if arg.starts_with('/') {
            Vec::new()
        } else {
            self.cwd.split('/').filter(|p| !p.is_empty()).collect()
        };
        for p in arg.split('/') {
            match p {
                "" | "." => {}
                ".." => {
                    parts.pop();
                }
                p => parts.push(p),
            }
        }
        format!("/{}", parts.join("/"))
    }

    fn is_dir(&self, path: &str) -> bool {
        path == "/" || self.setup.dirs.iter().any(|d| d == path)
    }

    fn serve(&mut self) {
        if !self.reply("220-Welcome to the autograder's strict FTP test server.\r\n220-Replies here span several lines and arrive in pieces.\r\n220 Ready.\r\n") {
            return;
        }
        while let Some(raw) = self.read_line() {
            if !raw.ends_with(b"\r\n") {
                self.violation(format!(
                    "a command ended in a bare LF: {:?}",
                    String::from_utf8_lossy(&raw)
                ));
                if !self.reply("500 Commands end in CRLF.\r\n") {
                    return;
                }
                continue;
            }
            let line = String::from_utf8_lossy(&raw[..raw.len() - 2]).into_owned();
            let (verb, arg) = match line.split_once(' ') {
                Some((v, a)) => (v.to_ascii_uppercase(), a.to_string()),
                None => (line.to_ascii_uppercase(), String::new()),
            };
            if !self.logged_in
                && !matches!(
                    verb.as_str(),
                    "USER" | "PASS" | "QUIT" | "NOOP" | "SYST" | "FEAT"
                )
            {
                if !self.reply("530 Not logged in.\r\n") {
                    return;
                }
                continue;
            }
            let ok = match verb.as_str() {
                "USER" => {
                    self.user = true;
                    self.reply("331 Any password will do.\r\n")
                }
                "PASS" if !self.user => self.reply("503 USER first.\r\n"),
                "PASS" => {
                    self.logged_in = true;
                    self.reply("230 Logged in.\r\n")
                }
                "SYST" => self.reply("215 UNIX Type: L8\r\n"),
                "FEAT" => self.reply("211-Extensions:\r\n EPSV\r\n PASV\r\n SIZE\r\n211 End.\r\n"),
                "NOOP" => self.reply("200 OK.\r\n"),
                "QUIT" => {
                    self.reply("221 Bye.\r\n");
                    return;
                }
                "TYPE" => match arg.to_ascii_uppercase().as_str() {
                    "I" | "L 8" => {
                        self.binary = true;
                        self.reply("200 Binary.\r\n")
                    }
                    "A" | "A N" => {
                        self.binary = false;
                        self.reply("200 ASCII.\r\n")
                    }
                    _ => self.reply("504 Unknown type.\r\n"),
                },
                "PWD" => {
                    let r = format!("257 \"{}\" is current.\r\n", self.cwd);
                    self.reply(&r)
                }
                "CWD" | "CDUP" => {
                    let target = self.path(if verb == "CDUP" { ".." } else { &arg });
                    if self.is_dir(&target) {
                        self.cwd = target;
                        self.reply("250 OK.\r\n")
                    } else {
                        self.reply("550 No such directory.\r\n")
                    }
                }
                "PASV" | "EPSV" => self.passive(verb == "EPSV"),
                "SIZE" => {
                    let p = self.path(&arg);
                    match self.setup.files.get(&p) {
                        Some(f) => {
                            let r = format!("213 {}\r\n", f.len());
                            self.reply(&r)
                        }
                        None => self.reply("550 No such file.\r\n"),
                    }
                }
                "RETR" => self.retr(&arg),
                "STOR" => self.stor(&arg),
                "LIST" | "NLST" => self.list(&arg, verb == "LIST"),
                _ => self.reply("502 Not implemented here.\r\n"),
            };
            if !ok {
                return;
            }
        }
    }

    fn passive(&mut self, extended: bool) -> bool {
        let ip = self.stream.local_addr().map(|a| a.ip());
        let Ok(listener) = ip.and_then(|ip| TcpListener::bind((ip, 0))) else {
            return self.reply("425 No port.\r\n");
        };
        let Ok(addr) = listener.local_addr() else {
            return self.reply("425 No port.\r\n");
        };
        self.passive = Some(listener);
        let text = match (extended, addr) {
            (true, _) => format!(
                "229 Entering Extended Passive Mode (|||{}|).\r\n",
                addr.port()
            ),
            (false, SocketAddr::V4(a)) => {
                let [h1, h2, h3, h4] = a.ip().octets();
                format!(
                    "227 Entering Passive Mode ({h1},{h2},{h3},{h4},{},{}).\r\n",
                    a.port() >> 8,
                    a.port() & 0xff
                )
            }
            (false, SocketAddr::V6(_)) => "522 Use EPSV.\r\n".to_string(),
        };
        self.reply(&text)
    }

    /// The client's data connection to the passive port, with its label.
    fn accept_data(&mut self) -> Option<(TcpStream, String)> {
        let listener = self.passive.take()?;
        listener.set_nonblocking(true).ok()?;
        let started = Instant::now();
        while started.elapsed() < PATIENCE && !self.stop.load(Ordering::SeqCst) {
            match listener.accept() {
                Ok((s, _)) => {
                    s.set_nonblocking(false).ok()?;
                    s.set_read_timeout(Some(PATIENCE)).ok()?;
                    s.set_write_timeout(Some(PATIENCE)).ok()?;
                    return Some((s, self.recorder.data_connection()));
                }
                Err(_) => thread::sleep(Duration::from_millis(2)),
            }
        }
        None
    }

    /// Sends `bytes` on data connection `label` and closes it (the end of the file in
    /// stream mode), recording both; false if the send failed.
    fn send_and_close(&self, mut data: TcpStream, label: &str, bytes: &[u8]) -> bool {
        let log = &self.recorder.log;
        let sent = match data.write_all(bytes) {
            Ok(()) => {
                log.data(label, Side::Server, bytes);
                true
            }
            Err(e) => {
                log.event(label, Event::failed(Call::Send, &e));
                false
            }
        };
        drop(data);
        log.event(label, Event::Close);
        sent
    }

    /// Reads data connection `label` to its end into `got`, then closes it, recording
    /// what arrived; a read's error (a timeout: the client never closed) ends it early.
    fn receive_and_close(
        &self,
        mut data: TcpStream,
        label: &str,
        got: &mut Vec<u8>,
    ) -> std::io::Result<()> {
        let log = &self.recorder.log;
        let started = Instant::now();
        let mut buf = vec![0u8; 16 << 10];
        let result = loop {
            match data.read(&mut buf) {
                Ok(0) => {
                    log.event(label, Event::Eof);
                    break Ok(());
                }
                Ok(n) => {
                    log.data(label, Side::Client, &buf[..n]);
                    got.extend_from_slice(&buf[..n]);
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => {
                    log.event(
                        label,
                        if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) {
                            Event::Silence {
                                waited_ms: transcript::waited_ms(started),
                            }
                        } else {
                            Event::failed(Call::Receive, &e)
                        },
                    );
                    break Err(e);
                }
            }
        };
        drop(data);
        log.event(label, Event::Close);
        result
    }

    fn retr(&mut self, arg: &str) -> bool {
        let p = self.path(arg);
        let Some(content) = self.setup.files.get(&p).cloned() else {
            return self.reply("550 No such file.\r\n");
        };
        if self.passive.is_none() {
            return self.reply("425 Use PASV or EPSV first.\r\n");
        }
        {
            let mut r = lock(&self.record);
            r.overlap += 1;
            r.max_overlap = r.max_overlap.max(r.overlap);
        }
        thread::sleep(self.setup.delay);
        lock(&self.record).overlap -= 1;
        if !self.reply("150 Here it comes.\r\n") {
            return false;
        }
        let Some((data, label)) = self.accept_data() else {
            return self.reply("425 No data connection.\r\n");
        };
        let wire = if self.binary {
            content
        } else {
            // ASCII type: the network form of text has CRLF line endings.
            let mut out = Vec::with_capacity(content.len() + content.len() / 32);
            for b in content {
                if b == b'\n' {
                    out.push(b'\r');
                }
                out.push(b);
            }
            out
        };
        let sent = self.send_and_close(data, &label, &wire);
        if !sent {
            return self.reply("426 Transfer aborted.\r\n");
        }
        {
            let mut r = lock(&self.record);
            r.retrs.push((p, if self.binary { 'I' } else { 'A' }));
            r.last_transfer_done = Some(Instant::now());
        }
        self.reply("226 Transfer complete.\r\n")
    }

    fn stor(&mut self, arg: &str) -> bool {
        let p = self.path(arg);
        if self.passive.is_none() {
            return self.reply("425 Use PASV or EPSV first.\r\n");
        }
        if !self.reply("150 Send it.\r\n") {
            return false;
        }
        let Some((data, label)) = self.accept_data() else {
            return self.reply("425 No data connection.\r\n");
        };
        let mut got = Vec::new();
        if let Err(e) = self.receive_and_close(data, &label, &mut got) {
            if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) {
                self.violation(format!(
                    "the data connection of STOR {arg} stayed open and silent for {} s after {} bytes: in stream mode only its close marks the end of the file, so close it before waiting for the 226",
                    PATIENCE.as_secs(),
                    got.len()
                ));
            }
            return self.reply("426 Transfer aborted.\r\n");
        }
        if !self.binary {
            let mut out = Vec::with_capacity(got.len());
            for (i, &b) in got.iter().enumerate() {
                if !(b == b'\r' && got.get(i + 1) == Some(&b'\n')) {
                    out.push(b);
                }
            }
            got = out;
        }
        {
            let mut r = lock(&self.record);
            r.uploads.insert(p, got);
            r.last_transfer_done = Some(Instant::now());
        }
        self.reply("226 Stored.\r\n")
    }

    fn list(&mut self, arg: &str, long: bool) -> bool {
        let arg = if arg.starts_with('-') { "" } else { arg };
        let dir = self.path(arg);
        if !self.is_dir(&dir) {
            return self.reply("550 No such directory.\r\n");
        }
        let prefix = if dir == "/" {
            "/".to_string()
        } else {
            format!("{dir}/")
        };
        let mut lines = String::new();
        let children = self
            .setup
            .files
            .iter()
            .map(|(p, c)| (p.clone(), c.len(), false))
            .chain(self.setup.dirs.iter().map(|d| (d.clone(), 4096, true)));
        for (path, len, is_dir) in children {
            let Some(name) = path.strip_prefix(&prefix) else {
                continue;
            };
            if name.is_empty() || name.contains('/') {
                continue;
            }
            if long {
                let kind = if is_dir { 'd' } else { '-' };
                lines.push_str(&format!(
                    "{kind}rw-r--r-- 1 ftp ftp {len:>10} Jan  1 12:00 {name}\r\n"
                ));
            } else {
                lines.push_str(&format!("{name}\r\n"));
            }
        }
        if self.passive.is_none() {
            return self.reply("425 Use PASV or EPSV first.\r\n");
        }
        if !self.reply("150 Listing.\r\n") {
            return false;
        }
        let Some((data, label)) = self.accept_data() else {
            return self.reply("425 No data connection.\r\n");
        };
        self.send_and_close(data, &label, lines.as_bytes());
        self.reply("226 Listing sent.\r\n")
    }
}
