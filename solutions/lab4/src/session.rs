//! One FTP session: the control connection's command loop and the session's state.
//!
//! Each session is one tokio *task*. Its code reads like a blocking server's (read a
//! command, act, reply, repeat), but every `.await` is a point where the task may pause
//! and let the runtime run other sessions on the same threads. That is why a slow
//! download here never holds up a login there, with no thread per client.
//!
//! The state a session keeps, and the replies that depend on it:
//!
//! | state | set by | commands refused without it |
//! |---|---|---|
//! | user name given | USER | PASS → 503 (bad sequence) |
//! | logged in | PASS | everything but USER, PASS, SYST, FEAT, NOOP, QUIT → 530 |
//! | current directory | CWD, CDUP | — (starts at `/`) |
//! | transfer type | TYPE | — (starts as ASCII, as RFC 959 says) |
//! | passive listener | PASV, EPSV | LIST, NLST, RETR, STOR → 425 |
//!
//! A reply code's first digit tells the client what happened; see [`crate::reply`].

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::fs::File;
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader, BufWriter};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;

use crate::command::{strip_line_ending, Command};
use crate::data::{self, Passive};
use crate::jail::Jail;
use crate::listing;
use crate::reply::{quote_path, Reply};
use crate::trace::Trace;

/// The longest command line accepted; longer ones end the session (no legitimate client
/// sends them, and an unbounded line would let one client use up our memory).
pub const MAX_LINE: usize = 4096;

/// Settings shared by all sessions.
#[derive(Debug)]
pub struct Config {
    /// The served directory.
    pub jail: Jail,
    /// A session that sends nothing for this long is closed with 421.
    pub idle_timeout: Duration,
    /// How long to wait for the client to open a data connection.
    pub data_timeout: Duration,
    /// The `--verbose` trace.
    pub trace: Trace,
}

/// Whether the command loop goes on.
#[derive(Debug, PartialEq, Eq)]
pub enum Flow {
    /// Read the next command.
    Continue,
    /// The client said QUIT: close the connection.
    Quit,
}

/// Reads command lines from the control connection, however the bytes are split into
/// segments: a line may arrive one byte at a time, or several lines in one read.
#[derive(Debug)]
pub struct LineReader {
    half: OwnedReadHalf,
    buf: Vec<u8>,
}

impl LineReader {
    /// Wraps the reading half of a control connection.
    pub fn new(half: OwnedReadHalf) -> LineReader {
        LineReader {
            half,
            buf: Vec::new(),
        }
    }

    /// The next line without its line ending, or `None` when the client has closed.
    ///
    /// # Errors
    /// I/O errors, and `InvalidData` for a line longer than [`MAX_LINE`].
    pub async fn next_line(&mut self) -> io::Result<Option<Vec<u8>>> {
        loop {
            if let Some(end) = self.buf.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=end).collect();
                return Ok(Some(strip_line_ending(&line).to_vec()));
            }
            if self.buf.len() > MAX_LINE {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "command line too long",
                ));
            }
            let mut chunk = [0u8; 1024];
            let n = self.half.read(&mut chunk).await?;
            if n == 0 {
                // The client closed. A last line without a line ending is incomplete: a
                // command is only a command once its CRLF has arrived.
                return Ok(None);
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

/// Serves one control connection until QUIT, a timeout, or the client goes away.
///
/// `greeting` is the first reply (220, or 421 when the server is full).
///
/// # Errors
/// I/O errors on the control connection; the caller logs them.
pub async fn serve(stream: TcpStream, label: String, config: Arc<Config>) -> io::Result<()> {
    let local = stream.local_addr()?;
    let peer = stream.peer_addr()?;
    let (read, write) = stream.into_split();
    let mut lines = LineReader::new(read);
    let mut session = Session::new(write, label, local, peer, config.clone());
    session
        .reply(Reply::multi(
            220,
            vec![
                "Welcome to the lab 4 FTP server.".into(),
                "Anonymous login only: USER anonymous, any password.".into(),
                "Ready.".into(),
            ],
        ))
        .await?;
    loop {
        let line = match tokio::time::timeout(config.idle_timeout, lines.next_line()).await {
            Err(_) => {
                session
                    .reply(Reply::new(421, "Idle timeout: closing control connection."))
                    .await?;
                break;
            }
            Ok(Ok(Some(line))) => line,
            Ok(Ok(None)) => {
                session.note(format_args!("client closed the control connection"));
                break;
            }
            Ok(Err(e)) if e.kind() == io::ErrorKind::InvalidData => {
                session
                    .reply(Reply::new(500, "Command line too long."))
                    .await?;
                break;
            }
            Ok(Err(e)) => return Err(e),
        };
        let command = Command::parse(&String::from_utf8_lossy(&line));
        session.received(&command);
        if session.handle(command).await? == Flow::Quit {
            break;
        }
    }
    session.writer.shutdown().await.ok();
    Ok(())
}

/// Unique suffixes for temporary upload files.
static UPLOADS: AtomicU64 = AtomicU64::new(0);

/// One session's state; see the module documentation.
#[derive(Debug)]
pub struct Session {
    writer: OwnedWriteHalf,
    label: String,
    local: SocketAddr,
    peer: SocketAddr,
    config: Arc<Config>,
    user: Option<String>,
    logged_in: bool,
    cwd: String,
    binary: bool,
    passive: Option<Passive>,
}

impl Session {
    /// A fresh session: not logged in, at `/`, ASCII type, no passive listener.
    pub fn new(
        writer: OwnedWriteHalf,
        label: String,
        local: SocketAddr,
        peer: SocketAddr,
        config: Arc<Config>,
    ) -> Session {
        Session {
            writer,
            label,
            local,
            peer,
            config,
            user: None,
            logged_in: false,
            cwd: "/".to_string(),
            binary: false,
            passive: None,
        }
    }

    fn note(&self, what: std::fmt::Arguments<'_>) {
        self.config.trace.event(&self.label, '*', what);
    }

    fn received(&self, command: &Command) {
        self.config
            .trace
            .event(&self.label, '<', format_args!("{}", command.shown()));
    }

    /// Sends a reply (all its lines, CRLF-terminated).
    ///
    /// # Errors
    /// If the control connection is broken.
    pub async fn reply(&mut self, reply: Reply) -> io::Result<()> {
        for line in String::from_utf8_lossy(&reply.to_wire()).lines() {
            self.config
                .trace
                .event(&self.label, '>', format_args!("{line}"));
        }
        self.writer.write_all(&reply.to_wire()).await
    }

    /// Carries out one command and sends its reply.
    ///
    /// # Errors
    /// Only errors of the control connection; everything else becomes a reply code.
    pub async fn handle(&mut self, cmd: Command) -> io::Result<Flow> {
        const NEEDS_LOGIN: &[&str] = &[
            "TYPE", "PWD", "CWD", "CDUP", "PASV", "EPSV", "LIST", "NLST", "RETR", "STOR", "SIZE",
            "DELE", "MKD",
        ];
        const NEEDS_ARG: &[&str] = &["USER", "CWD", "RETR", "STOR", "SIZE", "DELE", "MKD", "TYPE"];
        let verb = cmd.verb.as_str();
        if NEEDS_LOGIN.contains(&verb) && !self.logged_in {
            self.reply(Reply::new(530, "Please log in with USER and PASS first."))
                .await?;
            return Ok(Flow::Continue);
        }
        if NEEDS_ARG.contains(&verb) && cmd.arg.is_empty() {
            self.reply(Reply::new(501, format!("{verb} needs an argument.")))
                .await?;
            return Ok(Flow::Continue);
        }
        let arg = cmd.arg.as_str();
        let reply = match verb {
            "USER" => self.user(arg),
            "PASS" => self.pass(),
            "SYST" => Reply::new(215, "UNIX Type: L8"),
            "FEAT" => Reply::multi(
                211,
                vec![
                    "Features:".into(),
                    "EPSV".into(),
                    "PASV".into(),
                    "SIZE".into(),
                    "End".into(),
                ],
            ),
            "NOOP" => Reply::new(200, "NOOP ok."),
            "QUIT" => {
                self.reply(Reply::new(221, "Goodbye.")).await?;
                return Ok(Flow::Quit);
            }
            "TYPE" => self.set_type(arg),
            "PWD" => Reply::new(
                257,
                format!("{} is the current directory.", quote_path(&self.cwd)),
            ),
            "CWD" => self.cwd(arg),
            "CDUP" => self.cwd(".."),
            "PASV" => self.pasv().await,
            "EPSV" => self.epsv(arg).await,
            "LIST" | "NLST" => return self.list(arg, verb == "LIST").await,
            "RETR" => return self.retr(arg).await,
            "STOR" => return self.stor(arg).await,
            "SIZE" => self.size(arg).await,
            "DELE" => self.dele(arg).await,
            "MKD" => self.mkd(arg).await,
            "" => Reply::new(500, "Empty command line."),
            _ => Reply::new(502, format!("Command {verb} not implemented.")),
        };
        self.reply(reply).await?;
        Ok(Flow::Continue)
    }

    fn user(&mut self, name: &str) -> Reply {
        self.logged_in = false;
        if name.eq_ignore_ascii_case("anonymous") || name.eq_ignore_ascii_case("ftp") {
            self.user = Some(name.to_string());
            Reply::new(331, "Anonymous login ok, send any password.")
        } else {
            self.user = None;
            Reply::new(530, "Only anonymous login is allowed.")
        }
    }

    fn pass(&mut self) -> Reply {
        if self.user.is_none() {
            return Reply::new(503, "Login with USER first.");
        }
        self.logged_in = true;
        Reply::new(230, "Logged in.")
    }

    fn set_type(&mut self, arg: &str) -> Reply {
        match arg.to_ascii_uppercase().as_str() {
            "I" | "L 8" => {
                self.binary = true;
                Reply::new(200, "Type set to I (binary).")
            }
            "A" | "A N" => {
                self.binary = false;
                Reply::new(200, "Type set to A (ASCII).")
            }
            _ => Reply::new(504, format!("Type {arg} not supported.")),
        }
    }

    /// Resolves a path argument, answering 550 on refusal.
    fn resolve(&self, arg: &str) -> Result<(String, std::path::PathBuf), Reply> {
        self.config.jail.resolve(&self.cwd, arg).map_err(|e| {
            self.note(format_args!("refused path {arg:?}: {e}"));
            Reply::new(550, format!("{e}."))
        })
    }

    fn cwd(&mut self, arg: &str) -> Reply {
        match self.resolve(arg) {
            Ok((virt, real)) if real.is_dir() => {
                self.cwd = virt;
                Reply::new(
                    250,
                    format!("Directory changed to {}.", quote_path(&self.cwd)),
                )
            }
            Ok(_) => Reply::new(550, "Not a directory."),
            Err(reply) => reply,
        }
    }

    async fn pasv(&mut self) -> Reply {
        let IpAddr::V4(_) = self.local.ip() else {
            return Reply::new(522, "PASV is IPv4 only; use EPSV.");
        };
        match Passive::open(self.local.ip(), self.peer.ip()).await {
            Ok(p) => match p.local_addr() {
                Ok(SocketAddr::V4(addr)) => {
                    self.note(format_args!("data: listening on {addr}"));
                    self.passive = Some(p);
                    data::pasv_reply(addr)
                }
                _ => Reply::new(425, "Cannot open a passive port."),
            },
            Err(e) => Reply::new(425, format!("Cannot open a passive port: {e}.")),
        }
    }

    async fn epsv(&mut self, arg: &str) -> Reply {
        if arg.eq_ignore_ascii_case("ALL") {
            return Reply::new(200, "EPSV ALL ok.");
        }
        match Passive::open(self.local.ip(), self.peer.ip()).await {
            Ok(p) => match p.local_addr() {
                Ok(addr) => {
                    self.note(format_args!("data: listening on {addr}"));
                    self.passive = Some(p);
                    data::epsv_reply(addr.port())
                }
                Err(e) => Reply::new(425, format!("Cannot open a passive port: {e}.")),
            },
            Err(e) => Reply::new(425, format!("Cannot open a passive port: {e}.")),
        }
    }

    /// Sends 150, then waits for the client's data connection; on failure sends 425
    /// and returns `None`.
    async fn open_data(&mut self, what: &str) -> io::Result<Option<TcpStream>> {
        let Some(passive) = self.passive.take() else {
            self.reply(Reply::new(425, "Use PASV or EPSV first."))
                .await?;
            return Ok(None);
        };
        let mode = if self.binary { "BINARY" } else { "ASCII" };
        self.reply(Reply::new(
            150,
            format!("Opening {mode} mode data connection for {what}."),
        ))
        .await?;
        match passive.accept(self.config.data_timeout).await {
            Ok(stream) => {
                self.note(format_args!(
                    "data: connection from {}",
                    stream.peer_addr().map_or("?".into(), |a| a.to_string())
                ));
                Ok(Some(stream))
            }
            Err(e) => {
                self.reply(Reply::new(
                    425,
                    format!("Cannot open data connection: {e}."),
                ))
                .await?;
                Ok(None)
            }
        }
    }

    async fn list(&mut self, arg: &str, long: bool) -> io::Result<Flow> {
        // Clients often send `LIST -la`; options are not paths, so they are ignored.
        let arg = if arg.starts_with('-') { "" } else { arg };
        let path = if arg.is_empty() { "." } else { arg };
        let listing = match self.resolve(path) {
            Ok((_, real)) => listing::lines(&real, long).await,
            Err(reply) => return self.finish(reply).await,
        };
        let Ok(lines) = listing else {
            return self
                .finish(Reply::new(550, "No such file or directory."))
                .await;
        };
        if self.passive.is_none() {
            return self
                .finish(Reply::new(425, "Use PASV or EPSV first."))
                .await;
        }
        let Some(mut stream) = self.open_data("the listing").await? else {
            return Ok(Flow::Continue);
        };
        let mut text = String::new();
        for line in &lines {
            text.push_str(line);
            text.push_str("\r\n");
        }
        let sent = async {
            stream.write_all(text.as_bytes()).await?;
            stream.shutdown().await
        }
        .await;
        let reply = match sent {
            Ok(()) => Reply::new(226, format!("Listing sent ({} entries).", lines.len())),
            Err(e) => Reply::new(426, format!("Listing aborted: {e}.")),
        };
        self.finish(reply).await
    }

    async fn finish(&mut self, reply: Reply) -> io::Result<Flow> {
        self.reply(reply).await?;
        Ok(Flow::Continue)
    }

    async fn retr(&mut self, arg: &str) -> io::Result<Flow> {
        let real = match self.resolve(arg) {
            Ok((_, real)) => real,
            Err(reply) => return self.finish(reply).await,
        };
        let file = match File::open(&real).await {
            Ok(f) if real.is_file() => f,
            _ => return self.finish(Reply::new(550, "No such file.")).await,
        };
        if self.passive.is_none() {
            return self
                .finish(Reply::new(425, "Use PASV or EPSV first."))
                .await;
        }
        let Some(mut stream) = self.open_data(arg).await? else {
            return Ok(Flow::Continue);
        };
        let result = if self.binary {
            // The fast path: the bytes go as they are, so the kernel can move them with
            // sendfile(2) on a blocking thread (see `data::send_file` for why).
            let file = file.into_std().await;
            data::send_file(file, stream, self.config.idle_timeout).await
        } else {
            // ASCII needs every LF looked at, so the bytes pass through our buffer; the
            // BufReader makes each hop to the blocking pool read 1 MiB, not 64 KiB.
            async {
                let mut file = BufReader::with_capacity(data::FILE_BUF_SIZE, file);
                let n = data::send(&mut file, &mut stream, true).await?;
                // Stream mode: closing the data connection marks the end of the file.
                stream.shutdown().await?;
                Ok::<u64, io::Error>(n)
            }
            .await
        };
        let reply = match result {
            Ok(n) => {
                self.note(format_args!("data: sent {n} bytes, closed"));
                Reply::new(226, format!("Transfer complete ({n} bytes)."))
            }
            Err(e) => {
                self.note(format_args!("data: transfer failed: {e}"));
                Reply::new(426, format!("Connection closed; transfer aborted: {e}."))
            }
        };
        self.finish(reply).await
    }

    async fn stor(&mut self, arg: &str) -> io::Result<Flow> {
        let real = match self.resolve(arg) {
            Ok((_, real)) => real,
            Err(reply) => return self.finish(reply).await,
        };
        if real.is_dir() {
            return self.finish(Reply::new(550, "Is a directory.")).await;
        }
        if self.passive.is_none() {
            return self
                .finish(Reply::new(425, "Use PASV or EPSV first."))
                .await;
        }
        // Upload into a hidden temporary file beside the target, and rename it over the
        // target only once the whole file has arrived: an aborted upload never leaves a
        // truncated file under the real name (and never destroys the old one).
        let temp = temp_name(&real);
        // Buffered so that each hop to the blocking pool writes 1 MiB (the socket side
        // reads at most 64 KiB at a time); `data::receive` flushes it at the end.
        let mut file = match File::create(&temp).await {
            Ok(f) => BufWriter::with_capacity(data::FILE_BUF_SIZE, f),
            Err(e) => {
                return self
                    .finish(Reply::new(550, format!("Cannot create file: {e}.")))
                    .await
            }
        };
        let Some(mut stream) = self.open_data(arg).await? else {
            drop(file);
            let _ = tokio::fs::remove_file(&temp).await;
            return Ok(Flow::Continue);
        };
        let result = async {
            let n = data::receive(&mut stream, &mut file, !self.binary).await?;
            file.get_ref().sync_all().await?;
            tokio::fs::rename(&temp, &real).await?;
            Ok::<u64, io::Error>(n)
        }
        .await;
        let reply = match result {
            Ok(n) => {
                self.note(format_args!("data: received {n} bytes, stored"));
                Reply::new(226, format!("Transfer complete ({n} bytes)."))
            }
            Err(e) => {
                self.note(format_args!(
                    "data: upload failed: {e}; temporary file removed"
                ));
                drop(file);
                let _ = tokio::fs::remove_file(&temp).await;
                Reply::new(426, format!("Connection closed; transfer aborted: {e}."))
            }
        };
        self.finish(reply).await
    }

    async fn size(&mut self, arg: &str) -> Reply {
        match self.resolve(arg) {
            Ok((_, real)) => match tokio::fs::metadata(&real).await {
                Ok(m) if m.is_file() => Reply::new(213, m.len().to_string()),
                _ => Reply::new(550, "No such file."),
            },
            Err(reply) => reply,
        }
    }

    async fn dele(&mut self, arg: &str) -> Reply {
        match self.resolve(arg) {
            Ok((_, real)) if real.is_file() => match tokio::fs::remove_file(&real).await {
                Ok(()) => Reply::new(250, "File deleted."),
                Err(e) => Reply::new(550, format!("Cannot delete: {e}.")),
            },
            Ok(_) => Reply::new(550, "No such file."),
            Err(reply) => reply,
        }
    }

    async fn mkd(&mut self, arg: &str) -> Reply {
        match self.resolve(arg) {
            Ok((virt, real)) => match tokio::fs::create_dir(&real).await {
                Ok(()) => Reply::new(257, format!("{} created.", quote_path(&virt))),
                Err(e) => Reply::new(550, format!("Cannot create directory: {e}.")),
            },
            Err(reply) => reply,
        }
    }
}

/// A hidden name beside `target` for an upload in progress.
fn temp_name(target: &Path) -> std::path::PathBuf {
    let n = UPLOADS.fetch_add(1, Ordering::Relaxed);
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    target.with_file_name(format!(".{name}.upload-{}-{n}", std::process::id()))
}
