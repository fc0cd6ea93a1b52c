//! Step checks: each test exercises one step of `handouts/lab4.md` through the public
//! signatures (`Command::parse`, `Reply::to_wire`, `server::run`, `LineReader::next_line`,
//! `Session::handle`, `jail`, `data::send`/`receive`, `client::Control`, `get`, `put`,
//! `get_all`, `put_all`), so it passes as soon as that step is done, before the whole
//! program works.
//!
//! `cargo run -p autograder -- check lab4` runs them first and shows one line per step.
//! By hand: `cargo test -p lab4 --test steps -- --ignored`. In the stub they are
//! `#[ignore]`d, so that `cargo test --workspace` passes while its steps are `todo!()`;
//! the reference solution runs the same checks as ordinary tests.
//!
//! No check waits without a deadline: every await that depends on the code under test
//! is wrapped in `tokio::time::timeout`. The client's checks talk to a tiny FTP server
//! defined here, which splits its replies into pieces, starts in ASCII type, can refuse
//! EPSV or ask for no password, and, for Step 13, holds every transfer until all of them
//! have started. Only Step 1's checks call `Command::parse`: the others build their
//! commands themselves, so that a slip there shows in Step 1 alone.

use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{
    AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader,
    ReadBuf,
};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use lab4::client::{self, Control, Endpoint};
use lab4::command::Command;
use lab4::data;
use lab4::jail::{self, Jail, JailError};
use lab4::reply::Reply;
use lab4::server;
use lab4::session::{Config, Flow, LineReader, Session, MAX_LINE};
use lab4::trace::Trace;

/// How long any one wait in these checks may take.
const DEADLINE: Duration = Duration::from_secs(5);

/// The largest read buffer a copy may use: "one fixed-size buffer", with room for a
/// `BufReader` or `BufWriter` of a MiB on the file side.
const LARGEST_BUFFER: usize = 1 << 20;

/// Awaits `f`, failing the check if it takes longer than the deadline.
async fn within<T>(what: &str, f: impl Future<Output = T>) -> T {
    match tokio::time::timeout(DEADLINE, f).await {
        Ok(value) => value,
        Err(_) => panic!("{what}: nothing within {} s", DEADLINE.as_secs()),
    }
}

/// `line` as a [`Command`], built here: only Step 1's checks rely on `Command::parse`.
fn command(line: &str) -> Command {
    let (verb, arg) = line.split_once(' ').unwrap_or((line, ""));
    Command {
        verb: verb.to_ascii_uppercase(),
        arg: arg.to_string(),
    }
}

/// Bytes that are not text: every value, in a repeating but not periodic pattern.
fn binary(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
}

/// A connected pair: (the client's end, the server's end).
async fn tcp_pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap())
        .await
        .unwrap();
    let (server_end, _) = listener.accept().await.unwrap();
    client.set_nodelay(true).unwrap();
    server_end.set_nodelay(true).unwrap();
    (client, server_end)
}

/// The settings a server would use, serving `root`.
fn config(root: &Path) -> Arc<Config> {
    config_waiting(root, DEADLINE)
}

/// [`config`], waiting at most `data_timeout` for a data connection.
fn config_waiting(root: &Path, data_timeout: Duration) -> Arc<Config> {
    Arc::new(Config {
        jail: Jail::new(root).unwrap(),
        idle_timeout: Duration::from_secs(30),
        data_timeout,
        trace: Trace::new(false),
    })
}

/// One line from a control connection, without its line ending; `None` at the end.
async fn read_line(from: &mut (impl AsyncBufRead + Unpin)) -> Option<String> {
    let mut line = String::new();
    match from.read_line(&mut line).await {
        Ok(0) | Err(_) => None,
        Ok(_) => Some(line.trim_end_matches(['\r', '\n']).to_string()),
    }
}

/// One reply (all its lines), as a strict client reads it: `None` if the connection
/// ended first.
async fn read_reply(from: &mut (impl AsyncBufRead + Unpin)) -> Option<(u16, Vec<String>)> {
    let first = read_line(from).await?;
    let code: u16 = first.get(..3)?.parse().ok()?;
    let mut lines = vec![first.clone()];
    if first.as_bytes().get(3) == Some(&b'-') {
        loop {
            let line = read_line(from).await?;
            let end = line.starts_with(&format!("{code} "));
            lines.push(line);
            if end {
                break;
            }
        }
    }
    Some((code, lines))
}

/// The root served by a check: a temporary directory with a file and a directory.
fn served_root() -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("hello.txt"), "hello\n").unwrap();
    std::fs::create_dir(root.path().join("sub")).unwrap();
    root
}

/// `server::run` on a fresh listener, as a task.
async fn start_server(
    root: &Path,
    max_sessions: usize,
) -> (SocketAddr, JoinHandle<io::Result<()>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let run = tokio::spawn(server::run(listener, config(root), max_sessions));
    (addr, run)
}

/// A client's control connection: replies in, commands out.
struct ControlClient {
    replies: BufReader<OwnedReadHalf>,
    // Kept open: closing it would end the session.
    _commands: OwnedWriteHalf,
}

impl ControlClient {
    async fn connect(addr: SocketAddr) -> ControlClient {
        let stream = within("connecting", TcpStream::connect(addr))
            .await
            .expect("connect to the server");
        let (read, write) = stream.into_split();
        ControlClient {
            replies: BufReader::new(read),
            _commands: write,
        }
    }

    /// The next reply, or `None` if the server closed the connection first.
    async fn reply(&mut self) -> Option<(u16, Vec<String>)> {
        within("a reply", read_reply(&mut self.replies)).await
    }
}

/// Says why no session could be served: how `run` ended, if it has.
async fn how_run_ended(run: JoinHandle<io::Result<()>>) -> String {
    if !run.is_finished() {
        return "the accept loop is still running".into();
    }
    match run.await {
        Ok(result) => format!("`run` returned {result:?}; it should accept sessions forever"),
        Err(e) if e.is_panic() => {
            let panic = e.into_panic();
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            format!("the accept loop stopped with: {message}")
        }
        Err(e) => format!("the accept loop failed: {e}"),
    }
}

#[test]
#[ignore = "step check: run by `autograder check lab4`"]
fn step1_parse_splits_the_verb_from_the_argument_once() {
    for (line, verb, arg) in [
        ("RETR notes.txt", "RETR", "notes.txt"),
        ("retr notes.txt", "RETR", "notes.txt"),
        ("Type I", "TYPE", "I"),
        ("STOR my file.txt", "STOR", "my file.txt"),
        ("MKD  lead", "MKD", " lead"),
        ("PWD", "PWD", ""),
        ("", "", ""),
    ] {
        assert_eq!(
            Command::parse(line),
            Command {
                verb: verb.into(),
                arg: arg.into()
            },
            "Command::parse({line:?}): the verb in upper case (RFC 959: verbs are \
             case-insensitive), and the argument is everything after the first space, \
             exactly (a file name may hold spaces, even leading ones), or empty"
        );
    }
}

/// The lines of `wire`, each still with its line ending.
fn wire_lines(wire: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(wire)
        .split_inclusive('\n')
        .map(String::from)
        .collect()
}

#[test]
#[ignore = "step check: run by `autograder check lab4`"]
fn step1_to_wire_sends_a_one_line_reply_as_code_space_text_crlf() {
    for (code, text) in [
        (200, "NOOP ok."),
        (530, "Please log in."),
        (257, "\"/\" is it."),
    ] {
        let wire = Reply::new(code, text).to_wire();
        assert_eq!(
            String::from_utf8_lossy(&wire),
            format!("{code} {text}\r\n"),
            "Reply::new({code}, {text:?}).to_wire(): the code, a space, the text and \\r\\n \
             (a strict client refuses a line that ends in a bare \\n)"
        );
    }
}

#[test]
#[ignore = "step check: run by `autograder check lab4`"]
fn step1_to_wire_opens_and_closes_a_multi_line_reply_unmistakably() {
    let texts = [
        "Features:",
        "EPSV",
        "211 looks like the end but is not",
        "End",
    ];
    let reply = Reply::multi(211, texts.map(String::from).to_vec());
    let wire = reply.to_wire();
    let lines = wire_lines(&wire);
    assert_eq!(
        lines.len(),
        texts.len(),
        "Reply::multi(211, {texts:?}).to_wire() is one line per text: {lines:?}"
    );
    assert!(
        lines
            .iter()
            .all(|l| l.ends_with("\r\n") && !l[..l.len() - 2].contains('\r')),
        "every line of a multi-line reply ends in \\r\\n: {lines:?}"
    );
    assert!(
        lines[0].starts_with("211-") && lines[0].contains("Features:"),
        "the first line opens the reply: the code and a hyphen (`211-Features:`), so that a \
         client knows more lines follow: {lines:?}"
    );
    assert_eq!(
        lines.last().map(String::as_str),
        Some("211 End\r\n"),
        "the last line closes the reply: the code and a space, then its text: {lines:?}"
    );
    for (line, text) in lines.iter().zip(texts).skip(1).take(texts.len() - 2) {
        assert!(
            line.trim_end().ends_with(text),
            "an inner line carries its text, `{text}`: {line:?}"
        );
    }
    let closing = lines.iter().filter(|l| l.starts_with("211 ")).count();
    assert_eq!(
        closing, 1,
        "only the last line may start with `211 `: a client stops reading at the first line \
         that does, so an inner line whose text starts like that must not (RFC 959, 4.2, \
         lets inner lines start with anything else, a space for instance): {lines:?}"
    );
}

/// This check passes before Step 3: the sessions may stop at `next_line`'s `todo!()`
/// once greeted, but the accept loop must go on.
#[tokio::test]
#[ignore = "step check: run by `autograder check lab4`"]
async fn step2_greets_a_second_client_while_the_first_is_connected() {
    let root = served_root();
    let (addr, run) = start_server(root.path(), 8).await;
    let mut first = ControlClient::connect(addr).await;
    let Some((code, _)) = first.reply().await else {
        panic!(
            "the first client got no greeting: {}",
            how_run_ended(run).await
        );
    };
    assert_eq!(code, 220, "the greeting");
    let mut second = ControlClient::connect(addr).await;
    match tokio::time::timeout(DEADLINE, read_reply(&mut second.replies)).await {
        Ok(Some((220, _))) => {}
        other => panic!(
            "the second client got {} instead of a 220 greeting while the first is \
             connected ({}): spawn a task per session (`tokio::spawn`) and go straight back \
             to `accept`, instead of awaiting the session",
            match other {
                Err(_) => format!("nothing for {} s", DEADLINE.as_secs()),
                Ok(reply) => format!("{reply:?}"),
            },
            how_run_ended(run).await
        ),
    }
    drop(first);
}

/// Needs Step 3: the first session must wait for a command (in `next_line`) to keep its
/// slot; until Step 3 is written it stops at once, and the slot is free again.
#[tokio::test]
#[ignore = "step check: run by `autograder check lab4`"]
async fn step2_answers_421_beyond_the_session_limit_and_frees_the_slot() {
    let root = served_root();
    let (addr, _run) = start_server(root.path(), 1).await;
    let mut first = ControlClient::connect(addr).await;
    assert_eq!(
        first.reply().await.map(|r| r.0),
        Some(220),
        "the first greeting"
    );

    let mut second = ControlClient::connect(addr).await;
    let reply = tokio::time::timeout(DEADLINE, read_reply(&mut second.replies))
        .await
        .unwrap_or_else(|_| {
            panic!(
                "a newcomer beyond the session limit got nothing for {} s: answer it 421 and \
                 close it (and spawn each session, so that the accept loop is free to)",
                DEADLINE.as_secs()
            )
        });
    assert!(
        matches!(reply, Some((421, _))),
        "with --max-sessions 1 and one session open, a newcomer must get 421 (it got \
         {reply:?}): hold a semaphore permit for as long as each session's task runs"
    );
    assert_eq!(
        within("the close after 421", read_line(&mut second.replies)).await,
        None,
        "after the 421, close the newcomer's connection"
    );

    // The first client leaves: its session ends, and its slot is free for the next one.
    drop(first);
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let mut next = ControlClient::connect(addr).await;
        match next.reply().await {
            Some((220, _)) => break,
            other => assert!(
                tokio::time::Instant::now() < deadline,
                "after the only session ended, a new client still gets {other:?}: release \
                 the session's permit when its task ends (drop it with the task)"
            ),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The reading half of a fresh control connection, and the client's end.
async fn line_reader_pair() -> (TcpStream, OwnedReadHalf, OwnedWriteHalf) {
    let (client, server_end) = tcp_pair().await;
    let (read, write) = server_end.into_split();
    (client, read, write)
}

/// Waits until `n` bytes are waiting on `read`, without taking them.
async fn arrived(read: &mut OwnedReadHalf, n: usize) {
    within("the client's bytes", async {
        let mut buf = vec![0u8; n];
        while read.peek(&mut buf).await.unwrap() < n {
            tokio::task::yield_now().await;
        }
    })
    .await;
}

#[tokio::test]
#[ignore = "step check: run by `autograder check lab4`"]
async fn step3_returns_a_command_split_across_reads_in_one_piece() {
    let (mut client, mut read, _write) = line_reader_pair().await;
    // The first fragment is all there is when `next_line` first reads: a reader that
    // takes one read for one line returns it alone.
    client.write_all(b"US").await.unwrap();
    arrived(&mut read, 2).await;
    let mut lines = LineReader::new(read);
    let _writer = tokio::spawn(async move {
        for piece in [&b"ER anonym"[..], b"ou", b"s\r\n"] {
            tokio::task::yield_now().await;
            client.write_all(piece).await.unwrap();
        }
        client
    });
    let line = within("a line sent in fragments", lines.next_line()).await;
    let line = line.expect("next_line failed");
    assert_eq!(
        line.as_deref().map(String::from_utf8_lossy),
        Some("USER anonymous".into()),
        "a command arrives in pieces: buffer them until its \\r\\n, and return the line \
         without the \\r\\n"
    );
}

#[tokio::test]
#[ignore = "step check: run by `autograder check lab4`"]
async fn step3_keeps_the_second_of_two_commands_that_arrive_together() {
    let (mut client, mut read, _write) = line_reader_pair().await;
    let both = b"TYPE I\r\nNOOP\r\n";
    client.write_all(both).await.unwrap();
    arrived(&mut read, both.len()).await;
    let mut lines = LineReader::new(read);
    let first = within("the first line", lines.next_line()).await;
    assert_eq!(
        first.expect("next_line failed").as_deref(),
        Some(&b"TYPE I"[..]),
        "the first of two lines that came in one read"
    );
    let second = tokio::time::timeout(DEADLINE, lines.next_line()).await;
    let Ok(second) = second else {
        panic!(
            "the second line never came back: both lines arrived in one read, so the second \
             waits in the buffer (keep what follows a line's \\n for the next call)"
        );
    };
    assert_eq!(
        second.expect("next_line failed").as_deref(),
        Some(&b"NOOP"[..]),
        "the second of two lines that came in one read"
    );
    client.shutdown().await.unwrap();
    let end = within("the end of the commands", lines.next_line()).await;
    assert_eq!(
        end.expect("next_line failed"),
        None,
        "a read of 0 bytes means the client closed: Ok(None)"
    );
}

#[tokio::test]
#[ignore = "step check: run by `autograder check lab4`"]
async fn step3_refuses_a_line_longer_than_max_line() {
    let (mut client, read, _write) = line_reader_pair().await;
    let mut lines = LineReader::new(read);
    // No line ending, and the connection stays open: only the bound ends the wait.
    client.write_all(&vec![b'A'; MAX_LINE + 512]).await.unwrap();
    let result = tokio::time::timeout(DEADLINE, lines.next_line()).await;
    let Ok(result) = result else {
        panic!(
            "{} bytes without a line ending, and next_line still waits for more: refuse a \
             line longer than MAX_LINE ({MAX_LINE}) with an InvalidData error",
            MAX_LINE + 512
        );
    };
    assert_eq!(
        result.map_err(|e| e.kind()).err(),
        Some(io::ErrorKind::InvalidData),
        "a line longer than MAX_LINE is an InvalidData error"
    );
    drop(client);
}

/// A session driven command by command: `Session::handle` on the server's end of a
/// connection, its replies read on the client's end.
struct Dialogue {
    session: Session,
    /// The control connection's address on the server's side.
    local: SocketAddr,
    replies: BufReader<OwnedReadHalf>,
    // Kept open: the session's connection lives as long as the dialogue.
    _commands: OwnedWriteHalf,
    _server_read: OwnedReadHalf,
}

impl Dialogue {
    async fn new(root: &Path) -> Dialogue {
        Dialogue::waiting(root, DEADLINE).await
    }

    /// A dialogue whose session waits at most `data_timeout` for a data connection.
    async fn waiting(root: &Path, data_timeout: Duration) -> Dialogue {
        let (client, server_end) = tcp_pair().await;
        let local = server_end.local_addr().unwrap();
        let peer = server_end.peer_addr().unwrap();
        let (server_read, writer) = server_end.into_split();
        let (read, write) = client.into_split();
        Dialogue {
            session: Session::new(
                writer,
                "s1".into(),
                local,
                peer,
                config_waiting(root, data_timeout),
            ),
            local,
            replies: BufReader::new(read),
            _commands: write,
            _server_read: server_read,
        }
    }

    /// Hands `line` to `handle`; returns what it returned and the reply it sent.
    async fn say(&mut self, line: &str) -> (Flow, u16, Vec<String>) {
        let flow = within(line, self.session.handle(command(line)))
            .await
            .unwrap_or_else(|e| panic!("{line}: handle failed: {e}"));
        let Some((code, lines)) = within(line, read_reply(&mut self.replies)).await else {
            panic!("{line}: no reply");
        };
        (flow, code, lines)
    }

    /// The reply code `handle` sends for `line`.
    async fn code(&mut self, line: &str) -> u16 {
        self.say(line).await.1
    }

    async fn log_in(&mut self) {
        assert_eq!(self.code("USER anonymous").await, 331, "USER anonymous");
        assert_eq!(self.code("PASS me@example.com").await, 230, "PASS");
    }

    /// Logs in and opens a passive data connection (EPSV), connected.
    async fn logged_in_with_data(&mut self, binary: bool) -> TcpStream {
        self.log_in().await;
        let ty = if binary { "TYPE I" } else { "TYPE A" };
        assert_eq!(self.code(ty).await, 200, "{ty}");
        let (_, code, lines) = self.say("EPSV").await;
        assert_eq!(code, 229, "EPSV: {lines:?}");
        let port = data::parse_epsv(&lines[0]).expect("a port in the 229 reply");
        within(
            "the data connection",
            TcpStream::connect(("127.0.0.1", port)),
        )
        .await
        .expect("connect to the passive port")
    }
}

#[tokio::test]
#[ignore = "step check: run by `autograder check lab4`"]
async fn step4_refuses_commands_before_login_with_530() {
    let root = served_root();
    let mut d = Dialogue::new(root.path()).await;
    for command in [
        "PWD",
        "CWD sub",
        "CDUP",
        "TYPE I",
        "PASV",
        "EPSV",
        "LIST",
        "NLST",
        "RETR hello.txt",
        "STOR new.txt",
        "SIZE hello.txt",
        "DELE hello.txt",
        "MKD new",
    ] {
        let code = d.code(command).await;
        assert_eq!(code, 530, "{command} before login: 530 (not logged in)");
    }
    for (command, code) in [("SYST", 215), ("FEAT", 211), ("NOOP", 200)] {
        assert_eq!(
            d.code(command).await,
            code,
            "{command} needs no login: a client asks before it logs in"
        );
    }
    d.log_in().await;
    let (_, code, lines) = d.say("PWD").await;
    assert_eq!(code, 257, "PWD after login");
    assert!(
        lines[0].contains("\"/\""),
        "a new session starts at \"/\": {lines:?}"
    );
    assert!(
        std::fs::read_dir(root.path()).unwrap().count() == 2,
        "a command refused with 530 must not touch the disk"
    );
}

#[tokio::test]
#[ignore = "step check: run by `autograder check lab4`"]
async fn step4_answers_pass_before_user_with_503_and_logs_nobody_in() {
    let root = served_root();
    let mut d = Dialogue::new(root.path()).await;
    let code = d.code("PASS x").await;
    assert!(
        code == 503 || code == 530,
        "PASS before USER: 503 (bad sequence; 530 is allowed too), not {code}"
    );
    assert_eq!(
        d.code("PWD").await,
        530,
        "a PASS without USER must not log the client in"
    );
    assert_eq!(
        d.code("USER bob").await,
        530,
        "only anonymous login is allowed"
    );
    let code = d.code("PASS x").await;
    assert!(
        code == 503 || code == 530,
        "PASS after a refused USER: 503 or 530, not {code}"
    );
    assert_eq!(d.code("PWD").await, 530, "nobody is logged in");
}

#[tokio::test]
#[ignore = "step check: run by `autograder check lab4`"]
async fn step4_lets_anonymous_users_in_with_any_password_and_user_starts_over() {
    let root = served_root();
    let mut d = Dialogue::new(root.path()).await;
    for (user, password) in [
        ("anonymous", "me@example.com"),
        ("FTP", ""),
        ("Anonymous", "x"),
    ] {
        assert_eq!(
            d.code(&format!("USER {user}")).await,
            331,
            "USER {user}: anonymous users are `anonymous` or `ftp`, in any case, and are \
             asked for a password (331)"
        );
        let pass = format!("PASS {password}");
        assert_eq!(
            d.code(pass.trim_end()).await,
            230,
            "{pass:?} after USER {user}: any password will do (230)"
        );
        assert_eq!(d.code("PWD").await, 257, "PWD once logged in as {user}");
    }
    assert_eq!(
        d.code("USER bob").await,
        530,
        "USER bob: only anonymous users are let in"
    );
    assert_eq!(
        d.code("PWD").await,
        530,
        "after a refused USER nobody is logged in: USER starts a new login, so it ends the \
         one before it"
    );
}

#[tokio::test]
#[ignore = "step check: run by `autograder check lab4`"]
async fn step4_answers_501_for_a_missing_argument_502_for_an_unknown_verb_221_for_quit() {
    let root = served_root();
    let mut d = Dialogue::new(root.path()).await;
    d.log_in().await;
    for command in ["RETR", "STOR", "MKD", "CWD"] {
        assert_eq!(
            d.code(command).await,
            501,
            "{command} without its argument: 501"
        );
    }
    let code = d.code("XYZZY").await;
    assert!(
        code == 502 || code == 500,
        "an unknown verb: 502 (not implemented), not {code}"
    );
    assert_eq!(d.code("NOOP").await, 200, "NOOP after an unknown verb");
    let (flow, code, _) = d.say("QUIT").await;
    assert_eq!(code, 221, "QUIT");
    assert_eq!(flow, Flow::Quit, "QUIT ends the command loop");
}

#[test]
#[ignore = "step check: run by `autograder check lab4`"]
fn step5_resolves_relative_and_absolute_paths() {
    for (cwd, arg, expected) in [
        ("/", "a", "/a"),
        ("/a", "b", "/a/b"),
        ("/a/b", "/x", "/x"),
        ("/a", "/", "/"),
        ("/a", ".", "/a"),
        ("/a/b", "..", "/a"),
        ("/", "a/./b/../c", "/a/c"),
        ("/a", "../b", "/b"),
    ] {
        assert_eq!(
            jail::normalize(cwd, arg).as_deref(),
            Ok(expected),
            "normalize({cwd:?}, {arg:?}): a path starting with / starts at the root, any \
             other at the current directory"
        );
    }
}

#[test]
#[ignore = "step check: run by `autograder check lab4`"]
fn step5_collapses_repeated_slashes_and_single_dots() {
    for (cwd, arg, expected) in [
        ("/", "a//b///c", "/a/b/c"),
        ("/", "./a/./", "/a"),
        ("/a/", "b/", "/a/b"),
        ("/", "//x", "/x"),
        ("/", "...", "/..."),
        ("/", "a..b", "/a..b"),
    ] {
        assert_eq!(
            jail::normalize(cwd, arg).as_deref(),
            Ok(expected),
            "normalize({cwd:?}, {arg:?}): empty components and `.` vanish (and `...` is an \
             ordinary name)"
        );
    }
}

#[test]
#[ignore = "step check: run by `autograder check lab4`"]
fn step5_refuses_to_climb_above_the_root() {
    for (cwd, arg) in [
        ("/", ".."),
        ("/", "../x"),
        ("/a", "../../x"),
        ("/", "/../x"),
        ("/", "a/../../b"),
        ("/a/b", "/.."),
    ] {
        assert_eq!(
            jail::normalize(cwd, arg),
            Err(JailError::Outside),
            "normalize({cwd:?}, {arg:?}) climbs above /: refuse it (Outside) rather than \
             stopping at the root, so that the client gets a clear 550"
        );
    }
}

#[test]
#[ignore = "step check: run by `autograder check lab4`"]
fn step5_decodes_nothing_and_refuses_a_nul() {
    for (arg, expected) in [("%2e%2e/x", "/%2e%2e/x"), ("..%2f..", "/..%2f..")] {
        assert_eq!(
            jail::normalize("/", arg).as_deref(),
            Ok(expected),
            "normalize(\"/\", {arg:?}): FTP has no URL encoding, so this is a file name"
        );
    }
    assert_eq!(
        jail::normalize("/", "a\0b"),
        Err(JailError::Invalid),
        "a NUL byte cannot be in a file name: Invalid"
    );
}

/// A root with a file, a directory, and links: one to a file inside, one to a secret
/// beside the root, one to the root's parent, and one into a sibling directory whose name
/// starts like the root's. Returns (the directory around the root, the jail).
fn jail_with_links() -> (tempfile::TempDir, Jail) {
    let outer = tempfile::tempdir().unwrap();
    let root = outer.path().join("root");
    std::fs::create_dir_all(root.join("sub")).unwrap();
    std::fs::write(root.join("file.txt"), "inside").unwrap();
    std::fs::write(root.join("sub/inner.txt"), "inside").unwrap();
    std::fs::write(outer.path().join("secret"), "outside").unwrap();
    std::fs::create_dir(outer.path().join("root-other")).unwrap();
    std::fs::write(outer.path().join("root-other/file"), "outside").unwrap();
    let link = |target: &str, name: &str| std::os::unix::fs::symlink(target, root.join(name));
    link("sub/inner.txt", "inside").unwrap();
    link("../secret", "out").unwrap();
    link("..", "up").unwrap();
    link("../root-other/file", "sibling").unwrap();
    let jail = Jail::new(&root).unwrap();
    (outer, jail)
}

#[test]
#[ignore = "step check: run by `autograder check lab4`"]
fn step6_maps_paths_into_the_root() {
    let (_outer, jail) = jail_with_links();
    let root = jail.root().to_path_buf();
    for (cwd, arg, virt, real) in [
        ("/", "file.txt", "/file.txt", root.join("file.txt")),
        (
            "/sub",
            "inner.txt",
            "/sub/inner.txt",
            root.join("sub/inner.txt"),
        ),
        ("/sub", "/file.txt", "/file.txt", root.join("file.txt")),
        ("/", "/", "/", root.clone()),
        // A link that stays inside is fine; the disk path is where it leads.
        ("/", "inside", "/inside", root.join("sub/inner.txt")),
    ] {
        assert_eq!(
            jail.resolve(cwd, arg),
            Ok((virt.to_string(), real)),
            "resolve({cwd:?}, {arg:?}): the normalised FTP path and the canonical disk path"
        );
    }
}

#[test]
#[ignore = "step check: run by `autograder check lab4`"]
fn step6_resolves_a_new_file_in_an_existing_directory() {
    let (_outer, jail) = jail_with_links();
    let root = jail.root().to_path_buf();
    assert_eq!(
        jail.resolve("/sub", "new.bin"),
        Ok(("/sub/new.bin".to_string(), root.join("sub/new.bin"))),
        "a file that does not exist yet (STOR, MKD): canonicalise its parent, then add the \
         name"
    );
    assert_eq!(
        jail.resolve("/", "missing/new.bin"),
        Err(JailError::NotFound),
        "a new file in a directory that does not exist"
    );
}

#[test]
#[ignore = "step check: run by `autograder check lab4`"]
fn step6_refuses_symbolic_links_that_leave_the_root() {
    let (_outer, jail) = jail_with_links();
    for (arg, what) in [
        ("out", "a link to a file beside the root"),
        ("up/secret", "a file through a link to the root's parent"),
        ("up/new", "a new file through a link to the root's parent"),
        (
            "sibling",
            "a link into a directory whose name starts with the root's (compare paths by \
             components, `Path::starts_with`, not as strings)",
        ),
        ("../secret", "a `..` above the root"),
    ] {
        assert_eq!(
            jail.resolve("/", arg),
            Err(JailError::Outside),
            "resolve(\"/\", {arg:?}), {what}: canonicalise (following every link) and check \
             that the result is still inside the root"
        );
    }
}

/// The address a passive reply announces, read from the reply's first line.
fn announced(code: u16, lines: &[String]) -> Option<SocketAddr> {
    let text = lines.first()?.get(4..)?;
    match code {
        227 => data::parse_pasv(text).map(SocketAddr::V4),
        229 => Some(SocketAddr::new(
            "127.0.0.1".parse().unwrap(),
            data::parse_epsv(text)?,
        )),
        _ => None,
    }
}

#[tokio::test]
#[ignore = "step check: run by `autograder check lab4`"]
async fn step7_pasv_announces_the_control_connections_address_and_a_listening_port() {
    let root = served_root();
    let mut d = Dialogue::new(root.path()).await;
    d.log_in().await;
    let (_, code, lines) = d.say("PASV").await;
    assert_eq!(
        code, 227,
        "PASV after login: 227 (entering passive mode), {lines:?}"
    );
    let Some(addr) = announced(code, &lines) else {
        panic!("PASV's reply names no address (h1,h2,h3,h4,p1,p2): {lines:?}");
    };
    assert_eq!(
        addr.ip(),
        d.local.ip(),
        "PASV must announce the address the client reached the server on (the control \
         connection's local address), so that the client can reach this port too: {lines:?}"
    );
    let connected = within("connecting to the announced port", TcpStream::connect(addr)).await;
    if let Err(e) = connected {
        panic!("nothing listens on {addr}, where PASV sent the client: {e}");
    }
}

#[tokio::test]
#[ignore = "step check: run by `autograder check lab4`"]
async fn step7_epsv_announces_only_the_port() {
    let root = served_root();
    let mut d = Dialogue::new(root.path()).await;
    d.log_in().await;
    let (_, code, lines) = d.say("EPSV").await;
    assert_eq!(
        code, 229,
        "EPSV after login: 229 (entering extended passive mode), {lines:?}"
    );
    let Some(addr) = announced(code, &lines) else {
        panic!("EPSV's reply names no port as `(|||port|)`: {lines:?}");
    };
    assert!(
        lines[0].contains(&format!("(|||{}|)", addr.port())),
        "EPSV's reply names the port alone, the address fields left blank, `(|||port|)` (RFC \
         2428): {lines:?}"
    );
    let connected = within("connecting to the announced port", TcpStream::connect(addr)).await;
    if let Err(e) = connected {
        panic!(
            "nothing listens on port {}, where EPSV sent the client: {e}",
            addr.port()
        );
    }
    assert_eq!(
        d.code("EPSV ALL").await,
        200,
        "EPSV ALL: the client promises to use EPSV only; 200"
    );
}

/// Needs Steps 5-6: LIST goes through the jail.
#[tokio::test]
#[ignore = "step check: run by `autograder check lab4`"]
async fn step7_a_listing_flows_on_the_data_connection_between_150_and_226() {
    let root = served_root();
    let mut d = Dialogue::new(root.path()).await;
    let mut data_conn = d.logged_in_with_data(false).await;
    let (flow, listing) = tokio::time::timeout(DEADLINE, async {
        tokio::join!(d.session.handle(command("NLST")), async {
            let mut got = Vec::new();
            data_conn.read_to_end(&mut got).await.map(|_| got)
        })
    })
    .await
    .unwrap_or_else(|_| {
        panic!(
            "NLST did not finish within {} s, with the client connected to the port EPSV \
             announced: accept that connection (the passive listener) and hand it on",
            DEADLINE.as_secs()
        )
    });
    flow.expect("handle failed");
    let first = within("NLST's first reply", read_reply(&mut d.replies)).await;
    assert!(
        matches!(first, Some((150 | 125, _))),
        "NLST: 150 before the data flows, not {first:?}"
    );
    let last = within("NLST's last reply", read_reply(&mut d.replies)).await;
    assert!(
        matches!(last, Some((226 | 250, _))),
        "NLST: 226 after the listing, not {last:?}"
    );
    let listing =
        String::from_utf8_lossy(&listing.expect("reading the data connection")).into_owned();
    assert_eq!(
        listing, "hello.txt\r\nsub\r\n",
        "the listing, on the data connection"
    );
    assert_eq!(
        d.code("NLST").await,
        425,
        "NLST again without a new EPSV or PASV: a passive listener serves one transfer, so \
         there is none now (425)"
    );
}

/// Needs Steps 5-6: LIST goes through the jail.
#[tokio::test]
#[ignore = "step check: run by `autograder check lab4`"]
async fn step7_a_client_that_never_connects_gets_425_and_the_session_goes_on() {
    let root = served_root();
    let data_timeout = Duration::from_millis(300);
    let mut d = Dialogue::waiting(root.path(), data_timeout).await;
    d.log_in().await;
    assert_eq!(d.code("EPSV").await, 229, "EPSV after login");
    // The client never connects to the passive port.
    let flow = tokio::time::timeout(DEADLINE, d.session.handle(command("LIST"))).await;
    let Ok(flow) = flow else {
        panic!(
            "LIST still waits after {} s for a client that never opens its data connection: \
             wait at most the configured data_timeout ({} ms here), then reply 425",
            DEADLINE.as_secs(),
            data_timeout.as_millis()
        );
    };
    flow.expect("handle failed");
    let first = within("LIST's first reply", read_reply(&mut d.replies)).await;
    assert!(
        matches!(first, Some((150 | 125, _))),
        "LIST: 150 before waiting for the data connection, not {first:?}"
    );
    let last = within("LIST's last reply", read_reply(&mut d.replies)).await;
    assert!(
        matches!(last, Some((425, _))),
        "no data connection within data_timeout: 425 (cannot open data connection), not \
         {last:?}"
    );
    assert_eq!(d.code("NOOP").await, 200, "the session goes on after a 425");
}

/// A reader that hands out `pieces` one at a time (at most as much as the caller's
/// buffer holds), and records the largest buffer it was offered.
struct Pieces {
    pieces: Vec<Vec<u8>>,
    next: usize,
    at: usize,
    largest_buffer: usize,
}

impl Pieces {
    fn new(pieces: Vec<Vec<u8>>) -> Pieces {
        Pieces {
            pieces,
            next: 0,
            at: 0,
            largest_buffer: 0,
        }
    }

    /// `bytes` in pieces of 1,000-9,000 bytes.
    fn of(bytes: &[u8]) -> Pieces {
        let mut pieces = Vec::new();
        let mut rest = bytes;
        let mut size = 1_000;
        while !rest.is_empty() {
            let (piece, after) = rest.split_at(size.min(rest.len()));
            pieces.push(piece.to_vec());
            rest = after;
            size = 1_000 + (size * 7) % 8_000;
        }
        Pieces::new(pieces)
    }
}

impl AsyncRead for Pieces {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.largest_buffer = self.largest_buffer.max(buf.remaining());
        let (next, at) = (self.next, self.at);
        if let Some(piece) = self.pieces.get(next) {
            let n = buf.remaining().min(piece.len() - at);
            buf.put_slice(&piece[at..at + n]);
            self.at += n;
            if self.at == self.pieces[next].len() {
                (self.next, self.at) = (next + 1, 0);
            }
        }
        Poll::Ready(Ok(()))
    }
}

/// A writer that keeps everything and records the largest single write.
#[derive(Default)]
struct Sink {
    bytes: Vec<u8>,
    largest_write: usize,
}

impl AsyncWrite for Sink {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.largest_write = self.largest_write.max(buf.len());
        self.bytes.extend_from_slice(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[tokio::test]
#[ignore = "step check: run by `autograder check lab4`"]
async fn step8_send_streams_a_file_onto_a_socket_through_a_fixed_buffer() {
    let content = binary(4 << 20);
    let mut file = Pieces::of(&content);
    let (mut client, mut server_end) = tcp_pair().await;
    let (sent, received) = within("sending 4 MiB", async {
        tokio::join!(
            async {
                let sent = data::send(&mut file, &mut server_end, false).await;
                server_end.shutdown().await.unwrap();
                sent
            },
            async {
                let mut got = Vec::new();
                client.read_to_end(&mut got).await.map(|_| got)
            }
        )
    })
    .await;
    assert_eq!(
        sent.expect("send failed"),
        content.len() as u64,
        "send returns the number of bytes read"
    );
    let received = received.expect("the client's read");
    assert_eq!(received.len(), content.len(), "bytes sent");
    assert!(
        received == content,
        "the bytes arrived altered (write only the bytes each read returned, `&buf[..n]`)"
    );
    assert!(
        file.largest_buffer <= LARGEST_BUFFER,
        "send read into a buffer of {} bytes: copy through one fixed-size buffer \
         (BUF_SIZE), so that a 1 GiB file does not need 1 GiB of memory",
        file.largest_buffer
    );
}

#[tokio::test]
#[ignore = "step check: run by `autograder check lab4`"]
async fn step8_send_in_ascii_type_ends_every_line_with_crlf() {
    let text = b"one\ntwo\n\nthree\n";
    let mut file = Pieces::new(text.chunks(3).map(<[u8]>::to_vec).collect());
    let mut wire = Sink::default();
    let sent = within("sending text", data::send(&mut file, &mut wire, true)).await;
    assert_eq!(
        String::from_utf8_lossy(&wire.bytes),
        "one\r\ntwo\r\n\r\nthree\r\n",
        "in ASCII type every LF goes on the wire as CRLF"
    );
    assert_eq!(
        sent.expect("send failed"),
        text.len() as u64,
        "send returns the bytes read"
    );
}

/// Needs Steps 4-7: RETR goes through `handle`, the jail and a passive data connection.
#[tokio::test]
#[ignore = "step check: run by `autograder check lab4`"]
async fn step8_retr_sends_the_file_closes_the_data_connection_and_replies_226() {
    let root = served_root();
    let content = binary(1 << 20);
    std::fs::write(root.path().join("sub/file.bin"), &content).unwrap();
    for (binary_type, name, expected) in [
        (true, "sub/file.bin", content.clone()),
        (false, "hello.txt", b"hello\r\n".to_vec()),
    ] {
        let mut d = Dialogue::new(root.path()).await;
        let mut data_conn = d.logged_in_with_data(binary_type).await;
        let retr = format!("RETR {name}");
        let (flow, received) = tokio::time::timeout(DEADLINE, async {
            tokio::join!(d.session.handle(command(&retr)), async {
                let mut got = Vec::new();
                data_conn.read_to_end(&mut got).await.map(|_| got)
            })
        })
        .await
        .unwrap_or_else(|_| {
            panic!(
                "{retr} did not finish within {} s: send the file on the data connection, \
                 close it (in stream mode that marks the end of the file), then reply 226",
                DEADLINE.as_secs()
            )
        });
        flow.expect("handle failed");
        let first = within("RETR's first reply", read_reply(&mut d.replies)).await;
        assert!(
            matches!(first, Some((150 | 125, _))),
            "{retr}: 150 before the data flows, not {first:?}"
        );
        let last = within("RETR's last reply", read_reply(&mut d.replies)).await;
        assert!(
            matches!(last, Some((226 | 250, _))),
            "{retr}: 226 once the data connection is closed, not {last:?}"
        );
        let received = received.expect("reading the data connection");
        assert!(
            received == expected,
            "{retr} ({}): {} bytes arrived, {} expected, or they differ",
            if binary_type { "TYPE I" } else { "TYPE A" },
            received.len(),
            expected.len()
        );
    }
}

/// Needs Steps 4-7: RETR goes through `handle`, the jail and a passive data connection.
#[tokio::test]
#[ignore = "step check: run by `autograder check lab4`"]
async fn step8_retr_of_a_missing_file_or_a_directory_replies_550() {
    let root = served_root();
    let mut d = Dialogue::new(root.path()).await;
    let _data_conn = d.logged_in_with_data(true).await;
    for name in ["missing.txt", "sub", "../outside"] {
        let code = d.code(&format!("RETR {name}")).await;
        assert_eq!(
            code, 550,
            "RETR {name}: 550 (file unavailable), before any 150"
        );
    }
}

#[tokio::test]
#[ignore = "step check: run by `autograder check lab4`"]
async fn step9_receive_copies_every_byte_until_the_sender_closes() {
    let content = binary(3 << 20);
    let (mut client, mut server_end) = tcp_pair().await;
    let sender = {
        let content = content.clone();
        tokio::spawn(async move {
            client.write_all(&content).await.unwrap();
            client.shutdown().await.unwrap();
            client
        })
    };
    let mut file = Sink::default();
    let received = within(
        "receiving 3 MiB",
        data::receive(&mut server_end, &mut file, false),
    )
    .await;
    assert_eq!(
        received.expect("receive failed"),
        content.len() as u64,
        "receive returns the number of bytes written"
    );
    assert!(file.bytes == content, "the bytes arrived altered");
    assert!(
        file.largest_write <= LARGEST_BUFFER,
        "receive wrote {} bytes at once: copy through one fixed-size buffer, so that a \
         1 GiB upload does not need 1 GiB of memory",
        file.largest_write
    );
    drop(sender);
}

#[tokio::test]
#[ignore = "step check: run by `autograder check lab4`"]
async fn step9_receive_in_ascii_type_turns_crlf_into_lf_even_across_reads() {
    let mut wire = Pieces::new(vec![
        b"a\r".to_vec(),
        b"\nb\r\n".to_vec(),
        b"c\rd\r".to_vec(),
    ]);
    let mut file = Sink::default();
    let written = within("receiving text", data::receive(&mut wire, &mut file, true)).await;
    assert_eq!(
        String::from_utf8_lossy(&file.bytes),
        "a\nb\nc\rd\r",
        "CRLF becomes LF, also when the CR ends one read and the LF starts the next; a CR \
         without LF stays, the last one included"
    );
    assert_eq!(
        written.expect("receive failed"),
        8,
        "receive returns the bytes written"
    );
}

/// The names in a directory.
fn names(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

/// Needs Steps 4-7: STOR goes through `handle`, the jail and a passive data connection.
#[tokio::test]
#[ignore = "step check: run by `autograder check lab4`"]
async fn step9_stor_stores_the_upload_under_its_name_and_replies_226() {
    let root = served_root();
    let content = binary(1 << 20);
    let mut d = Dialogue::new(root.path()).await;
    let mut data_conn = d.logged_in_with_data(true).await;
    let (flow, sent) = tokio::time::timeout(DEADLINE, async {
        tokio::join!(d.session.handle(command("STOR up.bin")), async {
            data_conn.write_all(&content).await?;
            // Closing the data connection is the end of the file.
            data_conn.shutdown().await
        })
    })
    .await
    .unwrap_or_else(|_| {
        panic!(
            "STOR did not finish within {} s: receive until the client closes the data \
             connection, then reply 226",
            DEADLINE.as_secs()
        )
    });
    flow.expect("handle failed");
    sent.expect("sending the upload");
    let first = within("STOR's first reply", read_reply(&mut d.replies)).await;
    assert!(
        matches!(first, Some((150 | 125, _))),
        "STOR: 150 before the data flows, not {first:?}"
    );
    let last = within("STOR's last reply", read_reply(&mut d.replies)).await;
    assert!(
        matches!(last, Some((226 | 250, _))),
        "STOR: 226 once the upload is stored, not {last:?}"
    );
    let stored = std::fs::read(root.path().join("up.bin")).unwrap_or_default();
    assert!(
        stored == content,
        "up.bin holds {} bytes, {} were sent, or they differ",
        stored.len(),
        content.len()
    );
    let expected: BTreeSet<String> = ["hello.txt", "sub", "up.bin"].map(String::from).into();
    assert_eq!(
        names(root.path()),
        expected,
        "after the upload, the root holds the file under its name and nothing else (no \
         temporary file left behind)"
    );
}

/// Needs Steps 4-7: STOR goes through `handle`, the jail and a passive data connection.
#[tokio::test]
#[ignore = "step check: run by `autograder check lab4`"]
async fn step9_an_aborted_stor_replies_426_and_keeps_the_old_file() {
    let root = served_root();
    std::fs::write(root.path().join("keep.bin"), "the old content").unwrap();
    let mut d = Dialogue::new(root.path()).await;
    let data_conn = d.logged_in_with_data(true).await;
    let Dialogue {
        session, replies, ..
    } = &mut d;
    let (flow, first) = tokio::time::timeout(DEADLINE, async {
        tokio::join!(session.handle(command("STOR keep.bin")), async {
            let first = read_reply(replies).await;
            let mut data_conn = data_conn;
            let _ = data_conn.write_all(&binary(256 * 1024)).await;
            // SO_LINGER 0: closing sends a reset, the abort a vanishing client causes.
            // (Deprecated in tokio because a non-zero linger blocks; zero does not.)
            #[allow(deprecated)]
            data_conn.set_linger(Some(Duration::ZERO)).unwrap();
            drop(data_conn);
            first
        })
    })
    .await
    .unwrap_or_else(|_| {
        panic!(
            "STOR did not finish within {} s of the client resetting its data connection: \
             a failed read ends the upload with 426",
            DEADLINE.as_secs()
        )
    });
    flow.expect("handle failed");
    assert!(
        matches!(first, Some((150 | 125, _))),
        "STOR: 150 before the data flows, not {first:?}"
    );
    let last = within("STOR's last reply", read_reply(replies)).await;
    assert!(
        matches!(last, Some((426, _))),
        "an upload reset by the client: 426 (transfer aborted), not {last:?}"
    );
    assert_eq!(
        std::fs::read_to_string(root.path().join("keep.bin")).unwrap_or_default(),
        "the old content",
        "an aborted upload must leave the old file as it was: receive into a temporary file \
         and rename it over the target only when the upload is complete"
    );
    let expected: BTreeSet<String> = ["hello.txt", "keep.bin", "sub"].map(String::from).into();
    assert_eq!(
        names(root.path()),
        expected,
        "an aborted upload leaves nothing behind: remove the temporary file"
    );
}

/// How the test server answers, beyond the plain dialogue.
#[derive(Debug, Clone, Copy)]
struct Behaviour {
    /// USER's reply: 331 (send a password), 230 (no password needed) or 530 (refused).
    user_reply: u16,
    /// Whether EPSV is answered (229) or refused (502, which leaves PASV).
    epsv: bool,
    /// With `together` > 0, every RETR or STOR is held until that many have started.
    together: usize,
}

impl Default for Behaviour {
    fn default() -> Behaviour {
        Behaviour {
            user_reply: 331,
            epsv: true,
            together: 0,
        }
    }
}

/// A tiny FTP server for the client's checks: replies split into pieces, a multi-line
/// greeting with lines that look like ends but are not, ASCII type until `TYPE I` (as RFC
/// 959 says: LF goes out as CRLF, and CRLF comes in as LF), a RETR of a file whose name
/// starts with `broken` that stops halfway and replies 426, and the [`Behaviour`] asked for.
struct TestServer {
    files: HashMap<String, Vec<u8>>,
    behaviour: Behaviour,
    uploads: Mutex<HashMap<String, Vec<u8>>>,
    /// Every command line received, in order, from every session.
    commands: Mutex<Vec<String>>,
    started: watch::Sender<usize>,
    /// Set when a transfer waited in vain for the others: the later ones fail at once.
    gave_up: AtomicBool,
    sessions: AtomicUsize,
}

/// The greeting, in the pieces it is sent in. Only its last line ends it: not the one
/// that starts with a space, nor the one with the code and a hyphen, nor the one that
/// starts with another code and a space.
const GREETING: &[&str] = &[
    "22",
    "0-Welcome to the test server.\r\n",
    " 220 is not the end (it starts with a space)\r\n220-nor is this\r\n226 nor",
    " a line with another code\r\n",
    "220 Ready.\r\n",
];

/// FEAT's reply, in pieces.
const FEATURES: &[&str] = &["211-Features:\r\n EP", "SV\r\n PASV\r\n", "211 End\r\n"];

/// Text in its network form (RFC 959's ASCII type): every LF as CRLF.
fn to_network_text(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    for &b in bytes {
        if b == b'\n' {
            out.push(b'\r');
        }
        out.push(b);
    }
    out
}

/// Text back from its network form: every CRLF as LF.
fn from_network_text(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    for (i, &b) in bytes.iter().enumerate() {
        if !(b == b'\r' && bytes.get(i + 1) == Some(&b'\n')) {
            out.push(b);
        }
    }
    out
}

impl TestServer {
    async fn start(files: &[(&str, Vec<u8>)], together: usize) -> (Arc<TestServer>, Endpoint) {
        let behaviour = Behaviour {
            together,
            ..Behaviour::default()
        };
        TestServer::behaving(files, behaviour).await
    }

    async fn behaving(
        files: &[(&str, Vec<u8>)],
        behaviour: Behaviour,
    ) -> (Arc<TestServer>, Endpoint) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = Endpoint {
            host: "127.0.0.1".into(),
            port: listener.local_addr().unwrap().port(),
        };
        let server = Arc::new(TestServer {
            files: files
                .iter()
                .map(|(name, bytes)| (name.to_string(), bytes.clone()))
                .collect(),
            behaviour,
            uploads: Mutex::new(HashMap::new()),
            commands: Mutex::new(Vec::new()),
            started: watch::channel(0).0,
            gave_up: AtomicBool::new(false),
            sessions: AtomicUsize::new(0),
        });
        let accepting = Arc::clone(&server);
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                accepting.sessions.fetch_add(1, Ordering::Relaxed);
                tokio::spawn(Arc::clone(&accepting).session(stream));
            }
        });
        (server, endpoint)
    }

    /// The verbs received so far, with their arguments (`["USER anonymous", "PASS x"]`).
    fn commands(&self) -> Vec<String> {
        self.commands.lock().unwrap().clone()
    }

    /// The verbs received so far.
    fn verbs(&self) -> Vec<String> {
        self.commands().iter().map(|c| command(c).verb).collect()
    }

    /// Sends `pieces` as separate writes.
    async fn send(out: &mut OwnedWriteHalf, pieces: &[&str]) -> io::Result<()> {
        for piece in pieces {
            out.write_all(piece.as_bytes()).await?;
            out.flush().await?;
            tokio::task::yield_now().await;
        }
        Ok(())
    }

    /// Whether every transfer has started (the wait is bounded: three seconds).
    async fn all_started(&self) -> bool {
        let together = self.behaviour.together;
        if together == 0 {
            return true;
        }
        self.started.send_modify(|n| *n += 1);
        if self.gave_up.load(Ordering::Relaxed) {
            return false;
        }
        let mut started = self.started.subscribe();
        let wait = started.wait_for(|n| *n >= together);
        let all = tokio::time::timeout(Duration::from_secs(3), wait)
            .await
            .is_ok();
        if !all {
            self.gave_up.store(true, Ordering::Relaxed);
        }
        all
    }

    async fn session(self: Arc<TestServer>, stream: TcpStream) -> io::Result<()> {
        stream.set_nodelay(true)?;
        let (read, mut out) = stream.into_split();
        let mut commands = BufReader::new(read);
        Self::send(&mut out, GREETING).await?;
        let mut passive: Option<TcpListener> = None;
        let mut binary = false;
        loop {
            let line = tokio::time::timeout(2 * DEADLINE, read_line(&mut commands)).await;
            let Ok(Some(line)) = line else {
                return Ok(());
            };
            self.commands.lock().unwrap().push(line.clone());
            let command = command(&line);
            let reply = match command.verb.as_str() {
                "USER" => match self.behaviour.user_reply {
                    230 => "230 No password needed: logged in.\r\n".to_string(),
                    530 => "530 Not today: this server lets nobody in.\r\n".to_string(),
                    _ => "331 Any password will do.\r\n".to_string(),
                },
                "PASS" if self.behaviour.user_reply == 230 => {
                    "503 Already logged in.\r\n".to_string()
                }
                "PASS" => "230 Logged in.\r\n".to_string(),
                "TYPE" => {
                    binary = command.arg.eq_ignore_ascii_case("I");
                    "200 Type set.\r\n".to_string()
                }
                "NOOP" => "200 NOOP ok.\r\n".to_string(),
                "FEAT" => {
                    Self::send(&mut out, FEATURES).await?;
                    continue;
                }
                "EPSV" if !self.behaviour.epsv => "502 EPSV not here; try PASV.\r\n".to_string(),
                "EPSV" => {
                    let listener = TcpListener::bind("127.0.0.1:0").await?;
                    let port = listener.local_addr()?.port();
                    passive = Some(listener);
                    format!("229 Entering Extended Passive Mode (|||{port}|).\r\n")
                }
                "PASV" => {
                    let listener = TcpListener::bind("127.0.0.1:0").await?;
                    let port = listener.local_addr()?.port();
                    passive = Some(listener);
                    format!(
                        "227 Entering Passive Mode (127,0,0,1,{},{}).\r\n",
                        port >> 8,
                        port & 0xff
                    )
                }
                "RETR" | "STOR" => {
                    let Some(listener) = passive.take() else {
                        Self::send(&mut out, &["425 Use EPSV or PASV first.\r\n"]).await?;
                        continue;
                    };
                    let reply = self.transfer(&command, listener, binary, &mut out).await?;
                    Self::send(&mut out, &[&reply]).await?;
                    continue;
                }
                "QUIT" => {
                    Self::send(&mut out, &["221 Goodbye.\r\n"]).await?;
                    return Ok(());
                }
                _ => "502 Not here.\r\n".to_string(),
            };
            // Every reply in two pieces: a client must not take a segment for a line.
            let (a, b) = reply.split_at(reply.len() / 2);
            Self::send(&mut out, &[a, b]).await?;
        }
    }

    /// Carries out RETR or STOR on the passive `listener`; returns the final reply.
    async fn transfer(
        &self,
        command: &Command,
        listener: TcpListener,
        binary: bool,
        out: &mut OwnedWriteHalf,
    ) -> io::Result<String> {
        let name = command.arg.clone();
        if command.verb == "RETR" && !self.files.contains_key(&name) {
            return Ok("550 No such file.\r\n".into());
        }
        if !self.all_started().await {
            return Ok(format!(
                "425 {name}: this transfer waited 3 s for the other {} to start; start \
                 every transfer before awaiting any\r\n",
                self.behaviour.together - 1
            ));
        }
        Self::send(out, &["150 Opening data connection.\r\n"]).await?;
        let accepted = tokio::time::timeout(DEADLINE, listener.accept()).await;
        let Ok(Ok((mut data_conn, _))) = accepted else {
            return Ok("425 No data connection.\r\n".into());
        };
        if command.verb == "RETR" {
            let content = &self.files[&name];
            if name.starts_with("broken") {
                data_conn.write_all(&content[..content.len() / 2]).await?;
                data_conn.shutdown().await?;
                return Ok("426 Connection closed; transfer aborted.\r\n".into());
            }
            let content = if binary {
                content.clone()
            } else {
                to_network_text(content)
            };
            data_conn.write_all(&content).await?;
            data_conn.shutdown().await?;
        } else {
            let mut got = Vec::new();
            data_conn.read_to_end(&mut got).await?;
            let got = if binary { got } else { from_network_text(&got) };
            self.uploads.lock().unwrap().insert(name, got);
        }
        Ok("226 Transfer complete.\r\n".into())
    }
}

/// `Control::open` against `server`, failing the check with `why` if it fails.
async fn logged_in(endpoint: &Endpoint, why: &str) -> Control {
    let opened = within(
        "logging in",
        Control::open(endpoint, "c1".into(), Trace::new(false)),
    )
    .await;
    opened.unwrap_or_else(|e| panic!("Control::open failed: {e:#}. {why}"))
}

#[tokio::test]
#[ignore = "step check: run by `autograder check lab4`"]
async fn step10_reads_a_multi_line_greeting_split_across_packets() {
    let (_server, endpoint) = TestServer::start(&[], 0).await;
    let mut control = logged_in(
        &endpoint,
        "The greeting has five lines and only the last, `220 Ready.`, ends it (the others \
         only look like ends); then USER gets 331, PASS 230 and TYPE I 200",
    )
    .await;
    let noop = within("NOOP", control.command("NOOP"))
        .await
        .expect("NOOP's reply");
    assert_eq!(
        noop.code, 200,
        "NOOP's reply came back as {noop}: the replies before it were not read whole"
    );
}

#[tokio::test]
#[ignore = "step check: run by `autograder check lab4`"]
async fn step10_returns_every_line_of_a_multi_line_reply() {
    let (_server, endpoint) = TestServer::start(&[], 0).await;
    let mut control = logged_in(&endpoint, "(See the other Step 10 checks.)").await;
    let features = within("FEAT", control.command("FEAT"))
        .await
        .expect("FEAT's reply");
    assert_eq!(features.code, 211, "FEAT's reply code");
    assert_eq!(
        features.lines.len(),
        4,
        "FEAT's reply has four lines (sent in pieces): {:?}",
        features.lines
    );
    assert!(
        features.lines[0].contains("Features:") && features.lines[3].contains("End"),
        "the first line's and the last line's text: {:?}",
        features.lines
    );
    let text = features.text();
    assert!(
        text.contains("EPSV") && text.contains("PASV"),
        "the inner lines: {:?}",
        features.lines
    );
    let noop = within("NOOP", control.command("NOOP"))
        .await
        .expect("NOOP's reply");
    assert_eq!(noop.code, 200, "the reply after FEAT's is NOOP's: {noop}");
}

#[tokio::test]
#[ignore = "step check: run by `autograder check lab4`"]
async fn step10_logs_in_anonymously_then_switches_to_binary_type() {
    let (server, endpoint) = TestServer::start(&[], 0).await;
    let _control = logged_in(&endpoint, "(See the other Step 10 checks.)").await;
    let commands = server.commands();
    let verbs = server.verbs();
    assert_eq!(
        verbs,
        ["USER", "PASS", "TYPE"],
        "Control::open sent {commands:?}: USER, PASS (the server asked for one with 331), \
         then TYPE I"
    );
    assert!(
        commands[0].eq_ignore_ascii_case("USER anonymous")
            || commands[0].eq_ignore_ascii_case("USER ftp"),
        "log in anonymously: {commands:?}"
    );
    assert!(
        commands[2].eq_ignore_ascii_case("TYPE I"),
        "binary type, TYPE I: a session starts in ASCII type (RFC 959), which alters every \
         file that is not text: {commands:?}"
    );
}

#[tokio::test]
#[ignore = "step check: run by `autograder check lab4`"]
async fn step10_sends_no_password_when_user_is_enough() {
    let behaviour = Behaviour {
        user_reply: 230,
        ..Behaviour::default()
    };
    let (server, endpoint) = TestServer::behaving(&[], behaviour).await;
    let _control = logged_in(
        &endpoint,
        "This server answers USER with 230: the user is logged in, no password is needed \
         (and a PASS now gets 503)",
    )
    .await;
    let commands = server.commands();
    assert_eq!(
        server.verbs(),
        ["USER", "TYPE"],
        "after `230` to USER, Control::open sent {commands:?}: the next command is TYPE I"
    );
}

#[tokio::test]
#[ignore = "step check: run by `autograder check lab4`"]
async fn step10_a_refused_login_is_an_error_that_shows_the_reply() {
    let behaviour = Behaviour {
        user_reply: 530,
        ..Behaviour::default()
    };
    let (server, endpoint) = TestServer::behaving(&[], behaviour).await;
    let opened = within(
        "logging in",
        Control::open(&endpoint, "c1".into(), Trace::new(false)),
    )
    .await;
    match opened {
        Ok(_) => panic!(
            "Control::open succeeded, but the server refused USER with 530 (it sent {:?})",
            server.commands()
        ),
        Err(e) => assert!(
            format!("{e:#}").contains("530"),
            "the error for a refused login shows the server's reply (530 Not today…), so that \
             the user sees why: `{e:#}`"
        ),
    }
}

/// Downloads `name` through `control`'s own data connection with the given helpers.
async fn retr_through(control: &mut Control, name: &str) -> Vec<u8> {
    let mut data_conn = within("open_data", control.open_data())
        .await
        .unwrap_or_else(|e| panic!("open_data failed: {e:#}"));
    let retr = format!("RETR {name}");
    within(&retr, control.start_transfer(&retr))
        .await
        .unwrap_or_else(|e| panic!("{retr}: {e:#}"));
    let mut got = Vec::new();
    within("the file", data_conn.read_to_end(&mut got))
        .await
        .expect("reading the data connection");
    within("226", control.finish_transfer(&retr))
        .await
        .unwrap_or_else(|e| panic!("{retr}: {e:#}"));
    got
}

#[tokio::test]
#[ignore = "step check: run by `autograder check lab4`"]
async fn step11_connects_to_the_port_that_epsv_announces() {
    let content = binary(100 * 1024);
    let (server, endpoint) = TestServer::start(&[("a.bin", content.clone())], 0).await;
    let mut control = logged_in(&endpoint, "(See the Step 10 checks.)").await;
    let got = retr_through(&mut control, "a.bin").await;
    assert!(
        server.verbs().contains(&"EPSV".to_string()),
        "open_data asks the server for a passive port with EPSV first: {:?}",
        server.commands()
    );
    assert!(
        got == content,
        "{} bytes arrived on the data connection, {} were sent, or they differ",
        got.len(),
        content.len()
    );
}

#[tokio::test]
#[ignore = "step check: run by `autograder check lab4`"]
async fn step11_falls_back_to_pasv_when_the_server_refuses_epsv() {
    let content = binary(100 * 1024);
    let behaviour = Behaviour {
        epsv: false,
        ..Behaviour::default()
    };
    let (server, endpoint) = TestServer::behaving(&[("a.bin", content.clone())], behaviour).await;
    let mut control = logged_in(&endpoint, "(See the Step 10 checks.)").await;
    let got = retr_through(&mut control, "a.bin").await;
    let verbs = server.verbs();
    assert!(
        verbs.contains(&"PASV".to_string()),
        "this server answers EPSV with 502: then ask with PASV (its 227 reply names the \
         address and the port): {:?}",
        server.commands()
    );
    assert!(got == content, "the file arrived altered over PASV");
}

#[tokio::test]
#[ignore = "step check: run by `autograder check lab4`"]
async fn step12_get_downloads_a_file_under_the_last_component_of_its_name() {
    let files = [
        ("a.bin", binary(300 * 1024)),
        ("docs/notes.txt", b"line 1\nline 2\n".to_vec()),
        ("empty", Vec::new()),
    ];
    let (_server, endpoint) = TestServer::start(&files, 0).await;
    let out = tempfile::tempdir().unwrap();
    for (remote, content) in &files {
        let got = within(
            remote,
            client::get(
                &endpoint,
                remote,
                out.path(),
                "c1".into(),
                Trace::new(false),
            ),
        )
        .await;
        let n = got.unwrap_or_else(|e| panic!("get {remote} failed: {e:#}"));
        assert_eq!(n, content.len() as u64, "get {remote}: the byte count");
        let name = remote.rsplit('/').next().unwrap();
        let stored = std::fs::read(out.path().join(name)).unwrap_or_default();
        assert!(
            stored == *content,
            "get {remote}: {name} in the output directory holds {} bytes, {} were sent, or \
             they differ",
            stored.len(),
            content.len()
        );
    }
    let expected: BTreeSet<String> = ["a.bin", "notes.txt", "empty"].map(String::from).into();
    assert_eq!(
        names(out.path()),
        expected,
        "the downloads under the last component of their names, and nothing else (no \
         temporary file left behind)"
    );
}

#[tokio::test]
#[ignore = "step check: run by `autograder check lab4`"]
async fn step12_a_failed_download_leaves_nothing_and_shows_the_reply() {
    let (_server, endpoint) = TestServer::start(&[("broken.bin", binary(200 * 1024))], 0).await;
    let out = tempfile::tempdir().unwrap();
    for (remote, code, what) in [
        ("missing.txt", "550", "a missing file"),
        ("broken.bin", "426", "a transfer the server aborts halfway"),
    ] {
        let got = within(
            remote,
            client::get(
                &endpoint,
                remote,
                out.path(),
                "c1".into(),
                Trace::new(false),
            ),
        )
        .await;
        match got {
            Ok(n) => panic!("get {remote} ({what}) succeeded with {n} bytes; it must fail"),
            Err(e) => assert!(
                format!("{e:#}").contains(code),
                "get {remote} ({what}): the error shows the server's reply ({code}): `{e:#}`"
            ),
        }
    }
    assert_eq!(
        names(out.path()),
        BTreeSet::new(),
        "a failed download leaves nothing in the output directory: no partial file under \
         its name, no temporary file"
    );
}

#[tokio::test]
#[ignore = "step check: run by `autograder check lab4`"]
async fn step12_put_uploads_a_file_and_ends_it_by_closing_the_data_connection() {
    let dir = tempfile::tempdir().unwrap();
    let files = [
        ("up.bin", binary(300 * 1024)),
        ("up.txt", b"line 1\r\nline 2\n".to_vec()),
        ("up-empty", Vec::new()),
    ];
    let (server, endpoint) = TestServer::start(&[], 0).await;
    for (name, content) in &files {
        let local = dir.path().join(name);
        std::fs::write(&local, content).unwrap();
        let sent = tokio::time::timeout(
            DEADLINE,
            client::put(&endpoint, &local, "c1".into(), Trace::new(false)),
        )
        .await
        .unwrap_or_else(|_| {
            panic!(
                "put {name} did not finish within {} s: the server replies 226 only once the \
                 data connection is closed, which is the end of the file in stream mode",
                DEADLINE.as_secs()
            )
        });
        let n = sent.unwrap_or_else(|e| panic!("put {name} failed: {e:#}"));
        assert_eq!(n, content.len() as u64, "put {name}: the byte count");
        let uploads = server.uploads.lock().unwrap();
        assert!(
            uploads.get(*name) == Some(content),
            "put {name}: the server received {:?} bytes, {} were sent, or they differ",
            uploads.get(*name).map(Vec::len),
            content.len()
        );
    }
}

/// Each download is a `get` (Step 12).
#[tokio::test]
#[ignore = "step check: run by `autograder check lab4`"]
async fn step13_get_all_starts_every_download_before_any_finishes() {
    let files = [
        ("a.bin", binary(200 * 1024)),
        ("notes.txt", b"line 1\nline 2\r\n".to_vec()),
        ("empty.txt", Vec::new()),
    ];
    let (server, endpoint) = TestServer::start(&files, files.len()).await;
    let out = tempfile::tempdir().unwrap();
    let remotes: Vec<String> = files.iter().map(|(name, _)| name.to_string()).collect();
    let outcomes = tokio::time::timeout(
        4 * DEADLINE,
        client::get_all(&endpoint, &remotes, out.path(), &Trace::new(false)),
    )
    .await
    .expect("get_all did not finish");
    let named: Vec<&str> = outcomes.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(
        named, remotes,
        "the outcomes, in the order the files were named"
    );
    for ((name, result), (_, content)) in outcomes.iter().zip(&files) {
        match result {
            Ok(n) => assert_eq!(*n, content.len() as u64, "{name}: the byte count"),
            Err(e) => panic!(
                "{name} failed: {e:#}\n(the test server starts no transfer until all {} \
                 have started: {} sessions were opened)",
                files.len(),
                server.sessions.load(Ordering::Relaxed)
            ),
        }
        let got = std::fs::read(out.path().join(name)).unwrap_or_default();
        assert!(got == *content, "{name} arrived altered");
    }
}

/// Each upload is a `put` (Step 12).
#[tokio::test]
#[ignore = "step check: run by `autograder check lab4`"]
async fn step13_put_all_starts_every_upload_before_any_finishes() {
    let dir = tempfile::tempdir().unwrap();
    let files = [
        ("up.bin", binary(200 * 1024)),
        ("up.txt", b"line 1\r\nline 2\n".to_vec()),
        ("up-empty", Vec::new()),
    ];
    let mut locals: Vec<PathBuf> = Vec::new();
    for (name, content) in &files {
        std::fs::write(dir.path().join(name), content).unwrap();
        locals.push(dir.path().join(name));
    }
    let (server, endpoint) = TestServer::start(&[], files.len()).await;
    let outcomes = tokio::time::timeout(
        4 * DEADLINE,
        client::put_all(&endpoint, &locals, &Trace::new(false)),
    )
    .await
    .expect("put_all did not finish");
    assert_eq!(outcomes.len(), files.len(), "one outcome per file");
    for (((shown, result), (name, content)), local) in outcomes.iter().zip(&files).zip(&locals) {
        assert!(
            shown.ends_with(name) || Path::new(shown) == local,
            "the outcomes, in the order the files were named: {shown} for {name}"
        );
        if let Err(e) = result {
            panic!(
                "{name} failed: {e:#}\n(the test server starts no transfer until all {} have \
                 started: {} sessions were opened)",
                files.len(),
                server.sessions.load(Ordering::Relaxed)
            );
        }
        let uploads = server.uploads.lock().unwrap();
        assert!(
            uploads.get(*name) == Some(content),
            "{name} arrived altered, or not at all"
        );
    }
}
