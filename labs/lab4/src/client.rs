//! The client: `get`, `put` and `ls`, with several transfers in flight at once.
//!
//! An FTP control connection carries one transfer at a time, so a client that wants
//! several files at once opens one session per file. Each session is a task: connect,
//! log in, switch to binary, open a passive data connection, transfer, quit. All tasks
//! start together ([`tokio::task::JoinSet`]), so while one waits for the server (a reply,
//! the first byte of a file), the others make progress. For N files that each wait d
//! before their data flows, the total is about d, not N·d: the lecture's
//! 2(L/R)+d_prop instead of 2(L/R+d_prop).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::task::JoinSet;

use crate::data;
use crate::reply::Reply;
use crate::trace::Trace;

/// Where the server is.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// Host name or address.
    pub host: String,
    /// Control port.
    pub port: u16,
}

/// A logged-in control connection.
#[derive(Debug)]
pub struct Control {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
    peer: SocketAddr,
    label: String,
    trace: Trace,
}

impl Control {
    /// Connects, reads the greeting, logs in anonymously and switches to binary type.
    ///
    /// # Errors
    /// If the server is unreachable, or any step gets a negative reply (the error text
    /// contains the reply).
    pub async fn open(endpoint: &Endpoint, label: String, trace: Trace) -> Result<Control> {
        let stream = TcpStream::connect((endpoint.host.as_str(), endpoint.port))
            .await
            .with_context(|| format!("cannot connect to {}:{}", endpoint.host, endpoint.port))?;
        let peer = stream.peer_addr()?;
        trace.event(&label, '*', format_args!("connected to {peer}"));
        let (read, writer) = stream.into_split();
        let control = Control {
            reader: BufReader::new(read),
            writer,
            peer,
            label,
            trace,
        };
        // TODO: Step 10 — turn this connection into a session ready for transfers. The
        // server speaks first (220). Log in anonymously: a server may let the user in at
        // once (230) or ask for a password first (331). Then switch to binary type: RFC
        // 959 starts every session in ASCII type, which alters any file that is not text.
        // Any other reply is an error that shows the server's reply (`expect`), so that
        // the user sees why.
        let _ = (control, expect);
        todo!("Step 10 of handouts/lab4.md: log in and switch to binary type")
    }

    /// Reads one reply, single- or multi-line, however its bytes are split into packets.
    ///
    /// # Errors
    /// If the connection closes or the reply is malformed.
    pub async fn read_reply(&mut self) -> Result<Reply> {
        // TODO: Step 10 — read one whole reply, however its bytes are split into packets:
        // one line, or, for a multi-line reply, every line up to the one that closes it
        // (RFC 959, 4.2: the same code followed by a space). The lines in between may
        // look like anything, even like another reply's last line. Return the code and
        // the text of every line.
        let _ = (Self::read_line, reply_code, anyhow!("unused"));
        todo!("Step 10 of handouts/lab4.md: read a single- or multi-line reply")
    }

    async fn read_line(&mut self) -> Result<String> {
        let mut line = Vec::new();
        let n = self.reader.read_until(b'\n', &mut line).await?;
        if n == 0 || !line.ends_with(b"\n") {
            bail!("the server closed the control connection");
        }
        let text = String::from_utf8_lossy(crate::command::strip_line_ending(&line)).into_owned();
        self.trace.event(&self.label, '<', format_args!("{text}"));
        Ok(text)
    }

    /// Sends one command line and reads its reply.
    ///
    /// # Errors
    /// If the connection fails.
    pub async fn command(&mut self, line: &str) -> Result<Reply> {
        let shown = crate::command::Command::parse(line).shown();
        self.trace.event(&self.label, '>', format_args!("{shown}"));
        self.writer
            .write_all(format!("{line}\r\n").as_bytes())
            .await?;
        self.read_reply().await
    }

    /// Asks for a passive data connection (EPSV, or PASV if the server refuses EPSV)
    /// and connects to it.
    ///
    /// # Errors
    /// If both are refused or the connection fails.
    pub async fn open_data(&mut self) -> Result<TcpStream> {
        // TODO: Step 11 — open the data connection for the next transfer: ask the server
        // to listen, with EPSV (RFC 2428, which works over IPv4 and IPv6 alike) or, from a
        // server that refuses it, PASV, and connect where its reply says (`data` reads
        // both replies). EPSV names only a port: the host is the one this control
        // connection reached (`self.peer`).
        let _ = (self.peer, data::parse_epsv, data::parse_pasv);
        todo!("Step 11 of handouts/lab4.md: open a passive data connection")
    }

    /// Sends a transfer command and expects 150 or 125 (the data is about to flow).
    ///
    /// # Errors
    /// With the server's reply if it refuses.
    pub async fn start_transfer(&mut self, line: &str) -> Result<()> {
        let reply = self.command(line).await?;
        if reply.code != 150 && reply.code != 125 {
            bail!("{line}: the server replied {reply}");
        }
        Ok(())
    }

    /// Reads the reply that ends a transfer, expecting 226 or 250.
    ///
    /// # Errors
    /// With the server's reply if the transfer failed.
    pub async fn finish_transfer(&mut self, what: &str) -> Result<()> {
        let reply = self.read_reply().await?;
        if reply.code != 226 && reply.code != 250 {
            bail!("{what}: the server replied {reply}");
        }
        Ok(())
    }

    /// Says goodbye; errors are ignored (the work is done).
    pub async fn quit(mut self) {
        let _ = self.command("QUIT").await;
    }
}

fn reply_code(line: &str) -> Option<u16> {
    let digits = line.get(..3)?;
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    match line.as_bytes().get(3) {
        None | Some(b' ') | Some(b'-') => digits.parse().ok(),
        _ => None,
    }
}

fn expect(reply: &Reply, code: u16, step: &str) -> Result<()> {
    if reply.code == code {
        Ok(())
    } else {
        bail!("{step}: the server replied {reply}")
    }
}

/// Downloads `remote` into `out_dir` (under its last path component), through a
/// temporary file renamed on success. Returns the number of bytes.
///
/// # Errors
/// With the server's reply when it refuses, or the I/O error.
pub async fn get(
    endpoint: &Endpoint,
    remote: &str,
    out_dir: &Path,
    label: String,
    trace: Trace,
) -> Result<u64> {
    // TODO: Step 12 — download `remote` in a session of its own: a data connection,
    // RETR, every byte, and the server's final word (226) before it counts as done. It
    // lands in `out_dir` under the last component of its name (never `..`: the server's
    // name must not choose where on this disk it goes), and only once it is complete: a
    // failed download (550 for a missing file, a 426, a lost connection) leaves nothing
    // behind and is an error that carries the server's reply. `list` below is a whole
    // transfer to learn from.
    let _ = (endpoint, remote, out_dir, label, trace);
    todo!("Step 12 of handouts/lab4.md: download one file")
}

/// Uploads `local` under its file name. Returns the number of bytes.
///
/// # Errors
/// With the server's reply when it refuses, or the I/O error.
pub async fn put(endpoint: &Endpoint, local: &Path, label: String, trace: Trace) -> Result<u64> {
    // TODO: Step 12 — upload `local` under its file name in a session of its own: a data
    // connection, STOR, every byte, then the end of the file, and the server's 226. In
    // stream mode the end of the file is the close of the data connection, and the server
    // replies only after it. Return the bytes sent, or an error with the server's reply.
    let _ = (endpoint, local, label, trace);
    todo!("Step 12 of handouts/lab4.md: upload one file")
}

/// Lists `path` (the current directory if empty) with LIST; returns the listing's bytes.
///
/// # Errors
/// With the server's reply when it refuses, or the I/O error.
pub async fn list(endpoint: &Endpoint, path: &str, trace: Trace) -> Result<Vec<u8>> {
    let mut control = Control::open(endpoint, "c1".into(), trace).await?;
    let mut stream = control.open_data().await?;
    let line = if path.is_empty() {
        "LIST".to_string()
    } else {
        format!("LIST {path}")
    };
    control.start_transfer(&line).await?;
    let mut out = Vec::new();
    data::receive(&mut stream, &mut out, false).await?;
    control.finish_transfer(&line).await?;
    control.quit().await;
    Ok(out)
}

/// What happened to each file of a `get` or `put`.
pub type Outcomes = Vec<(String, Result<u64>)>;

// ANCHOR: get_all
/// Downloads every file in `remotes` at once, one session each; results in input order.
pub async fn get_all(
    endpoint: &Endpoint,
    remotes: &[String],
    out_dir: &Path,
    trace: &Trace,
) -> Outcomes {
    // TODO: Step 13 — download every file at once, each in a session of its own (a
    // session carries one transfer at a time) running `get`, labelled `c1`, `c2`, … in
    // the trace. Start every download before waiting for any: then their waits overlap,
    // and N files that each wait d take about d, not N·d (the lecture's 2(L/R)+d_prop
    // instead of 2(L/R+d_prop)). Report them in the order they were named (`collect`).
    let _ = (
        endpoint,
        remotes,
        out_dir,
        trace,
        get,
        collect,
        JoinSet::<()>::new,
    );
    todo!("Step 13 of handouts/lab4.md: download all files concurrently")
}
// ANCHOR_END: get_all

/// Uploads every file in `locals` at once, one session each; results in input order.
pub async fn put_all(endpoint: &Endpoint, locals: &[PathBuf], trace: &Trace) -> Outcomes {
    // TODO: Step 13 — the same for uploads, with `put`: every one started before any is
    // waited for.
    let _ = (endpoint, locals, trace, put);
    todo!("Step 13 of handouts/lab4.md: upload all files concurrently")
}

/// Waits for every task and puts the results back in the order the files were named.
async fn collect(mut tasks: JoinSet<(usize, String, Result<u64>)>, n: usize) -> Outcomes {
    let mut slots: Vec<Option<(String, Result<u64>)>> = (0..n).map(|_| None).collect();
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok((i, name, result)) => slots[i] = Some((name, result)),
            Err(e) => eprintln!("lab4: a transfer task failed: {e}"),
        }
    }
    slots
        .into_iter()
        .enumerate()
        .map(|(i, s)| s.unwrap_or_else(|| (format!("file {}", i + 1), Err(anyhow!("task failed")))))
        .collect()
}
