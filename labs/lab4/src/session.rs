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
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
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
        // TODO: Step 3 — return the next command, whatever TCP did to it. TCP carries
        // bytes, not messages: one read may hold part of a line, or the end of one line
        // and two more. A command exists only once its \n has arrived, and whatever
        // follows it is the start of the next one, for the next call. Ok(None) when the
        // client has closed; a line longer than MAX_LINE is an InvalidData error, so that
        // one client cannot make us buffer without end.
        let _ = (&mut self.half, &mut self.buf, strip_line_ending, MAX_LINE);
        todo!("Step 3 of handouts/lab4.md: read one command line, however it is fragmented")
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
        // TODO: Step 4 — carry out one command and send its reply, keeping the state in
        // the table at the top of this file. Nothing that touches files or transfers is
        // done for a client that has not logged in (530). A command that lacks its
        // argument, or one this server does not know, is answered (501, 502) and the
        // session goes on: a client's mistake never ends it. QUIT says goodbye (221) and
        // ends the command loop. Each verb's work is in the helper below named after it.
        let _ = (
            cmd,
            Self::user,
            Self::pass,
            Self::set_type,
            Self::cwd,
            Self::pasv,
            Self::epsv,
        );
        let _ = (
            Self::list,
            Self::retr,
            Self::stor,
            Self::size,
            Self::dele,
            Self::mkd,
            quote_path,
        );
        todo!("Step 4 of handouts/lab4.md: dispatch commands and keep the login state")
    }

    fn user(&mut self, name: &str) -> Reply {
        // TODO: Step 4 — USER starts a login, and so ends any login before it. Only
        // anonymous users (`anonymous` or `ftp`, in any case) are let in: remember the
        // name and ask for a password (331); any other name is refused (530).
        let _ = name;
        todo!("Step 4 of handouts/lab4.md: USER")
    }

    fn pass(&mut self) -> Reply {
        // TODO: Step 4 — PASS completes a login, but only one that an accepted USER has
        // begun (503, bad sequence, otherwise: a PASS alone logs nobody in). Anonymous
        // users may give any password (230).
        let _ = (&self.user, self.logged_in);
        todo!("Step 4 of handouts/lab4.md: PASS")
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
        // TODO: Step 7 — get ready for the next transfer's data connection: listen on a
        // fresh port (`Passive::open`) and tell the client where (227,
        // `data::pasv_reply`). It must be an address the client can reach, the one it
        // reached us on, never 0.0.0.0. PASV can only name an IPv4 address (522 on IPv6:
        // the client should use EPSV); a port that cannot be opened is 425.
        let _ = (self.local, self.peer, data::pasv_reply);
        todo!("Step 7 of handouts/lab4.md: PASV")
    }

    async fn epsv(&mut self, arg: &str) -> Reply {
        // TODO: Step 7 — the same as PASV, as RFC 2428 has it: the reply (229,
        // `data::epsv_reply`) names only the port, and the client connects to the host
        // it already reached, so it works over IPv4 and IPv6 alike. `EPSV ALL` only
        // promises that the client will use EPSV from now on: 200.
        let _ = (arg, data::epsv_reply);
        todo!("Step 7 of handouts/lab4.md: EPSV")
    }

    /// Sends 150, then waits for the client's data connection; on failure sends 425
    /// and returns `None`.
    async fn open_data(&mut self, what: &str) -> io::Result<Option<TcpStream>> {
        // TODO: Step 7 — the data connection of one transfer. Without a passive listener
        // (no PASV or EPSV since the last transfer: a listener serves one transfer only)
        // the answer is 425. Otherwise announce the transfer (150, saying what and in
        // which type) and wait for the client to connect, but not forever: a client that
        // does not come within `data_timeout` gets 425 and the session goes on.
        let _ = what;
        todo!("Step 7 of handouts/lab4.md: accept the data connection")
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
        // TODO: Step 8 — send the file `arg` names and say how it went: 550 (before any
        // data connection) if the jail refuses the path or it is not a regular file;
        // otherwise 150, every byte on the data connection (in its network form in ASCII
        // type, unchanged after TYPE I), the end of the file, and 226, or 426 if the
        // transfer broke. In stream mode the end of the file is the close of the data
        // connection. Other sessions must go on meanwhile, whatever the file's size and
        // however slowly this client reads.
        let _ = arg;
        todo!("Step 8 of handouts/lab4.md: RETR")
    }

    async fn stor(&mut self, arg: &str) -> io::Result<Flow> {
        // TODO: Step 9 — store what the client sends on the data connection under the
        // name `arg`, until it closes the data connection (the end of the file), and
        // reply 226 once it is all on disk; a directory or a path the jail refuses is
        // 550. An upload over an existing file replaces it. An upload that breaks (426)
        // must leave the disk as it was: no partial file under the name, and the old
        // file, if any, intact. So the file may take its name only once it is complete.
        let _ = (arg, temp_name, &UPLOADS);
        todo!("Step 9 of handouts/lab4.md: STOR, atomically")
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
