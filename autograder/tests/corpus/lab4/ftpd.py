#!/usr/bin/env python3
"""A small threaded FTP server (RFC 959 subset + EPSV), written the way a student might,
with one optional mistake chosen by --mistake:

  none         correct: a thread per session, jailed paths, CRLF replies
  path-escape  joins paths onto the root without normalising or checking them
  one-session  serves one session at a time (no thread per session)
  lf-endings   ends reply lines with a bare LF instead of CRLF
  pass-530     correct too: refuses PASS before USER with 530, as pure-ftpd does (RFC 959
               §5.4 allows 503 and 530)
  pass-first   accepts PASS without USER: logs the session in
  pasv-wildcard
               binds each passive listener to 0.0.0.0 and tells the client that address
               in the 227 reply (connecting to 0.0.0.0 happens to work on Linux loopback)
  epsv-address fills in the 229 reply's address fields as EPRT's are: (|1|127.0.0.1|port|)
  stor-text    turns CR LF into LF in every upload, even after TYPE I
  stor-no-truncate
               writes uploads straight into the target, opened without truncating it
               (Rust's OpenOptions::new().write(true).create(true)): a shorter upload over
               a longer file leaves the old file's tail
  nlst-long    answers NLST with the same `ls -l` lines as LIST
  cwd-file     CWD checks that the path exists, not that it is a directory
  mkd-exist-ok MKD with makedirs(exist_ok=True) (create_dir_all in Rust): MKD of an
               existing directory succeeds
  one-recv     takes each recv() as one command: fragments are misread, and commands
               that arrive together are lost
  transfer-pool
               hands every RETR and STOR copy to a pool of 2 worker threads of its own;
               a copy that fails (the client reset) raises inside the worker, which dies,
               so after two resets no transfer ever runs again

Usage: ftpd.py [--mistake M] server --port P --root DIR
"""
import os
import queue
import socket
import sys
import threading

args = sys.argv[1:]
MISTAKE = "none"
if args[:1] == ["--mistake"]:
    MISTAKE, args = args[1], args[2:]
assert args[:1] == ["server"], "usage: ftpd.py [--mistake M] server --port P --root DIR"
opts = dict(zip(args[1::2], args[2::2]))
PORT = int(opts["--port"])
ROOT = os.path.realpath(opts["--root"])
EOL = b"\n" if MISTAKE == "lf-endings" else b"\r\n"


class Refused(Exception):
    pass


class Session:
    def __init__(self, sock):
        self.sock = sock
        self.buf = b""
        self.user = False
        self.logged_in = False
        self.cwd = "/"
        self.binary = False
        self.pasv = None

    def reply(self, code, text):
        self.sock.sendall(b"%d %s" % (code, text.encode()) + EOL)

    def line(self):
        if MISTAKE == "one-recv":
            chunk = self.sock.recv(4096)
            if not chunk:
                return None
            return chunk.split(b"\n")[0].rstrip(b"\r").decode("utf-8", "replace")
        while b"\n" not in self.buf:
            chunk = self.sock.recv(4096)
            if not chunk:
                return None
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line.rstrip(b"\r").decode("utf-8", "replace")

    def real(self, arg, new=False):
        if MISTAKE == "path-escape":
            base = arg if arg.startswith("/") else os.path.join(self.cwd, arg)
            return os.path.join(ROOT, base.lstrip("/")), base
        parts = [] if arg.startswith("/") else [p for p in self.cwd.split("/") if p]
        for p in arg.split("/"):
            if p in ("", "."):
                continue
            if p == "..":
                if not parts:
                    raise Refused()
                parts.pop()
            else:
                parts.append(p)
        virtual = "/" + "/".join(parts)
        path = os.path.join(ROOT, *parts)
        check = os.path.realpath(path if os.path.lexists(path) or not new else os.path.dirname(path))
        if check != ROOT and not check.startswith(ROOT + os.sep):
            raise Refused()
        return path, virtual

    def data(self):
        if self.pasv is None:
            self.reply(425, "Use PASV or EPSV first.")
            return None
        self.reply(150, "Opening data connection.")
        listener, self.pasv = self.pasv, None
        listener.settimeout(20)
        try:
            conn, _ = listener.accept()
        except OSError:
            self.reply(425, "No data connection.")
            return None
        finally:
            listener.close()
        return conn

    def transfer(self, copy):
        """Runs copy(), the loop that moves a file over the data connection."""
        if MISTAKE != "transfer-pool":
            copy()
            return
        done = threading.Event()

        def job():
            copy()
            done.set()

        JOBS.put(job)
        done.wait()

    def run(self):
        self.reply(220, "ftpd.py ready.")
        while True:
            line = self.line()
            if line is None:
                return
            verb, _, arg = line.partition(" ")
            verb = verb.upper()
            try:
                if not self.handle(verb, arg):
                    return
            except Refused:
                self.reply(550, "Permission denied.")
            except FileNotFoundError:
                self.reply(550, "No such file or directory.")
            except OSError as e:
                self.reply(550, str(e))

    def handle(self, verb, arg):
        open_verbs = ("USER", "PASS", "QUIT", "NOOP", "SYST", "FEAT")
        if not self.logged_in and verb not in open_verbs:
            self.reply(530, "Not logged in.")
        elif verb == "USER":
            self.user = True
            self.reply(331, "Send password.")
        elif verb == "PASS":
            if not self.user and MISTAKE == "pass-530":
                self.reply(530, "Login with USER first.")
            elif not self.user and MISTAKE != "pass-first":
                self.reply(503, "USER first.")
            else:
                self.logged_in = True
                self.reply(230, "Logged in.")
        elif verb == "QUIT":
            self.reply(221, "Bye.")
            return False
        elif verb == "NOOP":
            self.reply(200, "OK.")
        elif verb == "SYST":
            self.reply(215, "UNIX Type: L8")
        elif verb == "FEAT":
            self.sock.sendall(b"211-Features:" + EOL + b" EPSV" + EOL + b" SIZE" + EOL)
            self.reply(211, "End")
        elif verb == "TYPE":
            self.binary = arg.upper() == "I"
            self.reply(200, "Type set.")
        elif verb == "PWD":
            self.reply(257, '"%s" is the current directory.' % self.cwd)
        elif verb in ("CWD", "CDUP"):
            path, virtual = self.real(".." if verb == "CDUP" else arg)
            if not (os.path.exists(path) if MISTAKE == "cwd-file" else os.path.isdir(path)):
                raise FileNotFoundError()
            self.cwd = virtual
            self.reply(250, "OK.")
        elif verb in ("PASV", "EPSV"):
            listener = socket.socket()
            listener.bind(("0.0.0.0" if MISTAKE == "pasv-wildcard" else self.sock.getsockname()[0], 0))
            listener.listen(1)
            self.pasv = listener
            host, port = listener.getsockname()
            if verb == "EPSV" and MISTAKE == "epsv-address":
                self.reply(229, "Entering Extended Passive Mode (|1|%s|%d|)." % (host, port))
            elif verb == "EPSV":
                self.reply(229, "Entering Extended Passive Mode (|||%d|)." % port)
            else:
                self.reply(227, "Entering Passive Mode (%s,%d,%d)." % (host.replace(".", ","), port >> 8, port & 255))
        elif verb in ("LIST", "NLST"):
            path, _ = self.real("" if arg.startswith("-") else arg or ".")
            names = sorted(os.listdir(path)) if os.path.isdir(path) else [os.path.basename(path)]
            conn = self.data()
            if conn:
                for n in names:
                    if verb == "LIST" or MISTAKE == "nlst-long":
                        st = os.stat(os.path.join(path, n)) if os.path.isdir(path) else os.stat(path)
                        n = "-rw-r--r-- 1 ftp ftp %d Jan  1 00:00 %s" % (st.st_size, n)
                    conn.sendall(n.encode() + b"\r\n")
                conn.close()
                self.reply(226, "Done.")
        elif verb == "RETR":
            path, _ = self.real(arg)
            with open(path, "rb") as f:
                conn = self.data()
                if conn:

                    def copy():
                        while True:
                            chunk = f.read(65536)
                            if not chunk:
                                break
                            conn.sendall(chunk if self.binary else chunk.replace(b"\n", b"\r\n"))
                        conn.close()

                    self.transfer(copy)
                    self.reply(226, "Done.")
        elif verb == "STOR":
            path, _ = self.real(arg, new=True)
            if MISTAKE == "stor-no-truncate":
                tmp = path
                f = os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT, 0o644), "wb")
            else:
                tmp = os.path.join(os.path.dirname(path), ".upload-" + os.path.basename(path))
                f = open(tmp, "wb")
            with f:
                conn = self.data()
                if conn:

                    def copy():
                        while True:
                            chunk = conn.recv(65536)
                            if not chunk:
                                break
                            f.write(chunk.replace(b"\r\n", b"\n") if MISTAKE == "stor-text" else chunk)
                        conn.close()

                    try:
                        self.transfer(copy)
                    except OSError:
                        os.unlink(tmp)
                        self.reply(426, "Aborted.")
                        return True
            if conn:
                if tmp != path:
                    os.rename(tmp, path)
                self.reply(226, "Stored.")
            else:
                os.unlink(tmp)
        elif verb == "SIZE":
            path, _ = self.real(arg)
            if not os.path.isfile(path):
                raise FileNotFoundError()
            self.reply(213, str(os.path.getsize(path)))
        elif verb == "DELE":
            path, _ = self.real(arg)
            os.unlink(path)
            self.reply(250, "Deleted.")
        elif verb == "MKD":
            path, virtual = self.real(arg, new=True)
            if MISTAKE == "mkd-exist-ok":
                os.makedirs(path, exist_ok=True)
            else:
                os.mkdir(path)
            self.reply(257, '"%s" created.' % virtual)
        else:
            self.reply(502, "Not implemented.")
        return True


def serve(sock):
    try:
        Session(sock).run()
    except OSError:
        pass
    finally:
        sock.close()


# transfer-pool: the worker threads that run every transfer's copy loop.
JOBS = queue.Queue()


def transfer_worker():
    while True:
        job = JOBS.get()
        job()  # the mistake: an exception here ends this worker thread for good


if MISTAKE == "transfer-pool":
    for _ in range(2):
        threading.Thread(target=transfer_worker, daemon=True).start()

listener = socket.socket()
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind(("127.0.0.1", PORT))
listener.listen(64)
while True:
    sock, _ = listener.accept()
    if MISTAKE == "one-session":
        serve(sock)
    else:
        threading.Thread(target=serve, args=(sock,), daemon=True).start()
