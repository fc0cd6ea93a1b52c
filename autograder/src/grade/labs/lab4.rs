//! Lab 4 rubric: the async FTP server (`server` group) and the concurrent FTP client
//! (`client` group).
//!
//! Server tests start the program as `PROGRAM server --port P --root DIR` and probe it
//! with a strict FTP client; client tests start the grader's strict FTP test server and
//! run `PROGRAM get|put|ls --host H --port P …` against it. The corpus under
//! `autograder/tests/corpus/lab4` proves each test catches its mistake, and pyftpdlib and
//! Python's ftplib prove that conforming programs pass.

use std::time::Duration;

use crate::grade::probe::ftp::{client_tests, server_tests, stalled};
use crate::grade::probe::Symptom;
use crate::grade::rubric::{Kind, Lab, TestCase, Visibility};

/// The lab 4 rubric.
pub static LAB: Lab = Lab {
    name: "lab4",
    title: "async FTP server and concurrent client",
    default_port: 2121,
    handout: "handouts/lab4.md",
    server_args: &["server", "--port", "{port}", "--root", "{root}"],
    tests: TESTS,
    still_serves: crate::grade::probe::ftp::Session::still_serves,
    symptom_hints: SESSION_HINTS,
    ends_program: &[],
    bench: crate::grade::swarm::load::Bench::FtpRetr,
};

const RFC959: &str = "RFC 959 (FTP): https://www.rfc-editor.org/rfc/rfc959";

const TESTS: &[TestCase] = &[
    TestCase {
        id: "greeting-login",
        name: "greets with 220 and logs in anonymously",
        group: "server",
        points: 5,
        visibility: Visibility::Visible,
        checks: "expects a 220 greeting (multi-line allowed), USER anonymous → 331/230, PASS → \
                 230, SYST → 215, FEAT → 211, TYPE I/A → 200, NOOP → 200, PWD → 257 \"/\", QUIT \
                 → 221 and the close; every reply line must end in CRLF",
        hints: &[
            "Every reply is a three-digit code, a space, text, and \\r\\n; a multi-line reply tells the client where it ends (Step 1), and the login is state the session keeps (Step 4).",
            "A multi-line reply opens with `211-` and ends with a line starting `211 `; no inner line may start like the last one.",
            "`Reply::to_wire`: the first line `{code}-{text}\\r\\n`, each inner line ` {text}\\r\\n` (a leading space), the last `{code} {text}\\r\\n`; USER anonymous answers 331, PASS after it 230.",
            RFC959,
        ],
        time_limit: Duration::from_secs(10),
        kind: Kind::Server,
        probe: server_tests::greeting_and_login,
    },
    TestCase {
        id: "retr-pasv",
        name: "sends files byte for byte over PASV data connections",
        group: "server",
        points: 10,
        visibility: Visibility::Visible,
        checks: "puts an empty, a small and a 3-5 MiB random binary file in the root; after TYPE I, \
                 RETRs each through PASV (227, naming the address of the control connection) \
                 and compares every byte; expects 150/125 before and 226/250 after, and the \
                 data connection closed at the end",
        hints: &[
            "A file travels on a data connection of its own (Step 7): PASV opens a listener on a free port and announces it (227 with h1,h2,h3,h4,p1,p2), the client connects, the server sends the file (Step 8) and closes.",
            "h1-h4 is the address the client reached you on (the control connection's local address), never 0.0.0.0: `Passive::open(self.local.ip(), self.peer.ip())`, then `data::pasv_reply` of its `local_addr()`.",
            "RETR: resolve the path and open the file (550 on failure) before `open_data` (150, then `accept` with the data timeout); `data::send` from the file to the stream, `shutdown()` the stream, then 226 (426 if the copy failed).",
            "Copy through a fixed-size buffer (`vec![0u8; BUF_SIZE]`, `read` then `write_all(&buf[..n])` until a read returns 0); never read the file into memory whole.",
            RFC959,
        ],
        time_limit: Duration::from_secs(20),
        kind: Kind::Server,
        probe: server_tests::retr_pasv,
    },
    TestCase {
        id: "retr-epsv",
        name: "sends files byte for byte over EPSV data connections",
        group: "server",
        points: 10,
        visibility: Visibility::Visible,
        checks: "as retr-pasv, with EPSV (a 229 reply that names only the port and leaves \
                 the address fields blank) instead of PASV",
        hints: &[
            "EPSV's reply names only the port: `229 Entering Extended Passive Mode (|||50123|)`; the client connects to the host of its control connection (Step 7).",
            "`data::epsv_reply(port)` of the passive listener's `local_addr()`; the address fields stay blank even over IPv4.",
            "RFC 2428: https://www.rfc-editor.org/rfc/rfc2428",
        ],
        time_limit: Duration::from_secs(20),
        kind: Kind::Server,
        probe: server_tests::retr_epsv,
    },
    TestCase {
        id: "stor",
        name: "stores uploads byte for byte",
        group: "server",
        points: 10,
        visibility: Visibility::Visible,
        checks: "after TYPE I, STORs an empty, a small and a 3-5 MiB random binary file (EPSV \
                 and PASV), compares each file on disk after 226, and checks SIZE → 213 with its \
                 length; then STORs a shorter file over the largest and expects exactly the new bytes",
        hints: &[
            "Read the data connection until it closes: in stream mode the close is the end of the file (Step 9).",
            "Only reply 226 once the whole file is on disk.",
            "A STOR over an existing file replaces it: create the file with truncation, or rename a temporary file over it.",
            "Step 9's way: `File::create(temp_name(&real))`, `open_data`, `data::receive(&mut stream, &mut file, !self.binary)`, then `tokio::fs::rename(&temp, &real)` and 226; on any error `remove_file(&temp)` and 426.",
            RFC959,
        ],
        time_limit: Duration::from_secs(20),
        kind: Kind::Server,
        probe: server_tests::stor,
    },
    TestCase {
        id: "list-nlst",
        name: "lists the root with LIST and NLST",
        group: "server",
        points: 5,
        visibility: Visibility::Visible,
        checks: "creates 3-5 files and a directory; LIST must show each name at the end of a line, \
                 NLST must list exactly those names, one per line",
        hints: &[
            "Listings travel on a data connection, like files, with 150 before and 226 after: LIST is written for you and goes through your `open_data` (Step 7).",
            "LIST lines look like `ls -l`; NLST lines are bare names, each ending in \\r\\n.",
        ],
        time_limit: Duration::from_secs(10),
        kind: Kind::Server,
        probe: server_tests::listings,
    },
    TestCase {
        id: "directories",
        name: "keeps a current directory (MKD, CWD, PWD, CDUP)",
        group: "server",
        points: 5,
        visibility: Visibility::Visible,
        checks: "MKD → 257, CWD into it → 250, PWD shows it, STOR and RETR of a relative name \
                 there, CDUP back to \"/\", RETR by a path from the root, CWD to a missing directory or \
                 to a file → 550",
        hints: &[
            "The current directory is per session state; relative paths start from it (Step 5's `normalize`).",
            "PWD's reply quotes the path: 257 \"/sub\" is the current directory.",
            "`normalize(cwd, arg)`: a path starting with `/` starts from the root, any other from `cwd`'s components; `..` pops one (CDUP is CWD ..), and the result is `/` joined with what is left.",
        ],
        time_limit: Duration::from_secs(10),
        kind: Kind::Server,
        probe: server_tests::directories,
    },
    TestCase {
        id: "not-logged-in",
        name: "refuses commands before login (530) and PASS before USER (503 or 530)",
        group: "server",
        points: 5,
        visibility: Visibility::Visible,
        checks: "before login: PASS → 503 or 530 (RFC 959 §5.4 allows both); PWD, CWD, RETR, \
                 SIZE, STOR, LIST, MKD → 530; then logs in and PWD works",
        hints: &[
            "Keep a `logged_in` flag per session and check it before every file-system command (Step 4).",
            "503 means bad sequence of commands; 530 means not logged in.",
            "One check in `handle` before the `match` on the verb: every verb but USER, PASS, SYST, FEAT, NOOP and QUIT gets 530 while `!self.logged_in`; `pass` answers 503 while `self.user` is `None`.",
        ],
        time_limit: Duration::from_secs(10),
        kind: Kind::Server,
        probe: server_tests::not_logged_in,
    },
    TestCase {
        id: "error-replies",
        name: "answers missing files with 550 and unknown commands with 502",
        group: "server",
        points: 5,
        visibility: Visibility::Visible,
        checks: "an unknown command → 502 (or 500); RETR, SIZE, DELE of a missing file, CWD to a \
                 missing directory and MKD of an existing one → 550; NOOP still works afterwards",
        hints: &[
            "A failed command is a reply, not the end of the session (Step 4).",
            "5xx codes are permanent failures: 550 means the file is unavailable.",
            "In `handle`, `_ => Reply::new(502, …)` for an unknown verb; the helpers turn every file error into a 550 reply; only a broken control connection returns `Err`.",
        ],
        time_limit: Duration::from_secs(10),
        kind: Kind::Server,
        probe: server_tests::error_replies,
    },
    TestCase {
        id: "jail",
        name: "never reads or writes outside the root",
        group: "server",
        points: 10,
        visibility: Visibility::Visible,
        checks: "plants a secret file beside the root and links to it inside; RETR with `..`, \
                 `/..`, `sub/../..`, an absolute disk path, `%2e%2e`, `..%2f`, a symlink to the \
                 file and through a symlink to the parent, /etc/passwd; CWD `..` and through the \
                 link; STOR to `../` and through the link: the secret never arrives and nothing \
                 is created outside",
        hints: &[
            "Resolve `.` and `..` on the path string first, and refuse to climb above `/` (Step 5).",
            "Then canonicalize the result and check it still starts with the canonical root: that catches symbolic links (Step 6).",
            "`normalize`: a `Vec` of components, `..` pops and an empty pop is `Err(Outside)`, no percent-decoding. `resolve`: push the components onto the root; if the path exists (`symlink_metadata().is_ok()`) `canonicalize()` it, else canonicalize its parent and `join` the name; `Path::starts_with(&self.root)` or `Err(Outside)`.",
            "https://doc.rust-lang.org/std/fs/fn.canonicalize.html",
        ],
        time_limit: Duration::from_secs(15),
        kind: Kind::Server,
        probe: server_tests::jail,
    },
    TestCase {
        id: "concurrent-sessions",
        name: "serves a second session while a first one's transfer is in flight",
        group: "server",
        points: 10,
        visibility: Visibility::Visible,
        checks: "session 1 starts RETR of an 8-10 MiB file and stops reading after 64 KiB; \
                 session 2 must then log in and complete its own RETR; finally session 1's file \
                 must arrive whole",
        hints: &[
            "A session can last hours: accepting the next client must never wait for one to end (Step 2).",
            "Spawn a task per session (`tokio::spawn(async move { session::serve(stream, label, config).await })`) and go straight back to `accept`; never `.await` a session in the accept loop.",
            "Never block the runtime: use tokio's sockets and files, not std's.",
            "https://tokio.rs/tokio/tutorial/spawning",
        ],
        time_limit: Duration::from_secs(30),
        kind: Kind::Server,
        probe: server_tests::concurrent_sessions,
    },
    TestCase {
        id: "fragments",
        name: "reads commands that arrive in fragments or together",
        group: "server",
        points: 5,
        visibility: Visibility::Visible,
        checks: "sends USER and PASS split into 3-4 fragments with pauses, then TYPE I, NOOP and \
                 PWD in one segment, expecting three replies in order",
        hints: &[
            "TCP carries bytes, not messages: one read may hold half a command, or three (Step 3).",
            "Buffer what you read and take one line at a time, up to each \\r\\n.",
            "Keep the bytes after the first line: they are the next command. In `next_line`, `self.buf.iter().position(|&b| b == b'\\n')`; if found, `self.buf.drain(..=end)` is the line; if not, read more and append it to `self.buf`.",
        ],
        time_limit: Duration::from_secs(10),
        kind: Kind::Server,
        probe: server_tests::fragments,
    },
    TestCase {
        id: "vanishing-client",
        name: "keeps serving after clients reset mid-transfer",
        group: "server",
        points: 5,
        visibility: Visibility::Visible,
        checks: "one client resets both connections in the middle of a STOR, another in the \
                 middle of a RETR; two more sessions must then log in, RETR and NLST normally",
        hints: &[
            "A reset is an error of one session: log it and end that task, never the server.",
            "Do not unwrap socket errors inside a session: a failed transfer is a 426 reply, a broken control connection the end of that session's task.",
        ],
        time_limit: Duration::from_secs(20),
        kind: Kind::Server,
        probe: server_tests::vanishing_client,
    },
    TestCase {
        id: "stalled-transfers",
        name: "answers other sessions at once while many transfers wait on their clients",
        group: "server",
        points: 10,
        visibility: Visibility::Visible,
        checks: "stalls as many downloads as the grader's machine has cores (2 to 16; RETR \
                 of an 8-10 MiB file, the grader not reading after 64 KiB); meanwhile another \
                 session must get NOOP, PWD and a small RETR answered, and a new session its \
                 greeting and login, each reply within 3 s; the downloads then resume and \
                 must arrive whole; the same with as many stalled uploads (STOR, the grader \
                 pausing after 6 MiB), which must then be stored whole",
        hints: &[
            "A blocking call in a task (std::net, std::fs, std::thread::sleep, sendfile or std::io::copy on a blocking socket) holds the worker thread that runs it: tokio has one per core, and the grader stalls one transfer per core.",
            "Await tokio's sockets and files; run any blocking call with tokio::task::spawn_blocking.",
            "https://docs.rs/tokio/latest/tokio/task/fn.spawn_blocking.html",
        ],
        time_limit: Duration::from_secs(40),
        kind: Kind::Server,
        probe: stalled::stalled_transfers,
    },
    TestCase {
        id: "client-get",
        name: "get downloads several files byte for byte",
        group: "client",
        points: 10,
        visibility: Visibility::Visible,
        checks: "runs `get --host H --port P --out DIR` with a 1-2 MiB binary file, a text file \
                 and an empty file against the strict test server (multi-line replies, replies \
                 split across packets, ASCII type until TYPE I); expects exit 0 and every file exact",
        hints: &[
            "Read replies line by line until the line that starts with the code and a space (Step 10).",
            "RFC 959's default type is ASCII: send TYPE I before binary transfers (Step 10's `Control::open`).",
            "`get` (Step 12), like `list`: `Control::open`, `open_data`, `start_transfer(\"RETR name\")`, `data::receive` into a temporary file beside the target, `finish_transfer`, then `rename` it.",
            RFC959,
        ],
        time_limit: Duration::from_secs(25),
        kind: Kind::Client,
        probe: client_tests::get,
    },
    TestCase {
        id: "client-put",
        name: "put uploads several files byte for byte",
        group: "client",
        points: 10,
        visibility: Visibility::Visible,
        checks: "runs `put --host H --port P` with a binary, a text (CRLF inside) and an empty \
                 file; expects exit 0 and the server to receive each file exactly",
        hints: &[
            "After the last byte, close the data connection, then read the 226 (Step 12).",
            "TYPE I, or CRLF in your file becomes LF on the server.",
            "`put`: `open_data`, `start_transfer(\"STOR name\")`, `data::send(&mut file, &mut stream, false)`, `stream.shutdown().await` and drop it, then `finish_transfer`.",
        ],
        time_limit: Duration::from_secs(25),
        kind: Kind::Client,
        probe: client_tests::put,
    },
    TestCase {
        id: "client-ls",
        name: "ls prints the server's listing",
        group: "client",
        points: 5,
        visibility: Visibility::Visible,
        checks: "runs `ls --host H --port P` and `ls … DIR`; expects exit 0 and every name of the \
                 root (and of DIR) on the output",
        hints: &[
            "LIST's answer arrives on the data connection (Step 11's `open_data`); print it as it is.",
        ],
        time_limit: Duration::from_secs(25),
        kind: Kind::Client,
        probe: client_tests::ls,
    },
    TestCase {
        id: "client-missing",
        name: "get of a missing file exits non-zero and shows the server's reply",
        group: "client",
        points: 5,
        visibility: Visibility::Visible,
        checks: "runs `get` for a file the server answers 550; expects a non-zero exit status and \
                 the 550 reply in the output",
        hints: &[
            "Turn a 4xx/5xx reply into an error that carries the reply's text, and exit with a failure status.",
            "`start_transfer` already fails with the reply; `get` (Step 12) returns that error, and `main` exits non-zero when any outcome is an `Err`.",
        ],
        time_limit: Duration::from_secs(25),
        kind: Kind::Client,
        probe: client_tests::missing_file,
    },
    TestCase {
        id: "client-concurrent",
        name: "get transfers files concurrently",
        group: "client",
        points: 10,
        visibility: Visibility::Visible,
        checks: "4 files, each delayed 500 ms by the server before its transfer starts; from the \
                 first connection to the last transfer must take less than half of 4 × 500 ms \
                 (+ 300 ms slack); files exact",
        hints: &[
            "One FTP session carries one transfer at a time: use one session per file (Step 13).",
            "Spawn all transfers first, then await them all (JoinSet, or join_all): an `.await` inside the loop that starts them makes them run one after another.",
            "`let mut tasks = JoinSet::new();` then, per file, clone what the task needs (`endpoint.clone()`, `remote.clone()`, `trace.clone()`) and `tasks.spawn(async move { (i, remote.clone(), get(&endpoint, &remote, &out_dir, format!(\"c{}\", i + 1), trace).await) })`; after the loop, `collect(tasks, remotes.len()).await`.",
            "https://docs.rs/tokio/latest/tokio/task/struct.JoinSet.html",
        ],
        time_limit: Duration::from_secs(25),
        kind: Kind::Client,
        probe: client_tests::concurrent_get,
    },
];

/// What a symptom means for an async FTP server, whichever test saw it. Only the
/// symptoms whose cause does not depend on the command: for a wrong reply or transfer,
/// each test's own hints say more.
const SESSION_HINTS: &[(Symptom, &[&str])] = &[
    (
        Symptom::Crashed,
        &[
            "Your server crashed during the test; its last output lines show where. One \
             session's trouble (a reset, a missing file, a bad command) must end that \
             session at most, never the server.",
            "In a session task, turn errors into replies (550, 501, 426) or into the end of \
             that task: `?` inside the task's own function, logged where it is spawned; no \
             `unwrap()` on I/O.",
        ],
    ),
    (
        Symptom::Exited,
        &["Your server exited during the test: it must serve sessions until it is stopped."],
    ),
    (
        Symptom::Refused,
        &[
            "A client could not connect: the server was gone or no longer accepting. Is the \
             accept loop (Step 2) still running after a session ends or fails?",
            "A failed `accept` or session must not end `server::run`: match the accept's \
             error and `continue`, and handle each session's `Result` inside its own task.",
        ],
    ),
    (
        Symptom::Stalled,
        &[
            "A session was kept waiting while the server dealt with another: something holds \
             the runtime's threads (a blocking call in a task: std::fs, std::thread::sleep, a \
             std socket) or sessions are served one at a time.",
            "Spawn a task per session (Step 2), use tokio's async I/O inside it (Steps 8 and \
             9: `tokio::fs`, `AsyncReadExt::read`, `AsyncWriteExt::write_all`), and move \
             unavoidable blocking work to `tokio::task::spawn_blocking`.",
        ],
    ),
];
