"""A small, correct HTTP/1.1 file server in Python, with switchable student mistakes.

Usage: python3 server.py [--mistake NAME] --port N --root DIR

Without --mistake it gets full marks on lab 5: proof that the rubric is language-agnostic
and that a server written differently from the reference (Python, sendfile, no shared
code) passes. Each --mistake reproduces one error students make; autograder/tests/lab5.rs
checks that exactly the tests meant to catch it fail. See README.md for the table.
"""
import calendar
import email.utils
import os
import signal
import socket
import sys
import threading
import time
import urllib.parse

MISTAKES = {
    "none", "no-keep-alive", "serial-keep-alive", "head-body", "path-escape",
    "binary-length", "drops-pipelined", "per-read-timeout", "read-whole-file",
    "small-pool", "no-graceful", "follows-symlinks", "head-error-body", "ignores-close",
    "crash-on-timeout", "http10-persistent", "status-http10", "date-not-gmt",
    "last-modified-now", "image-jpg", "post-as-get", "no-idle-timeout", "host-optional",
    "duplicate-host", "enotdir-500", "keeps-query", "latin1-decoding", "no-size-limits",
    "limits-after-head", "version-400", "root-index-only", "raw-links", "no-redirect",
    "ims-subsecond", "ims-text-compare", "range-exclusive-end", "range-no-clamp",
    "large-pool", "case-sensitive-headers",
}
args = sys.argv[1:]
port = int(args[args.index("--port") + 1])
root = os.path.realpath(args[args.index("--root") + 1])
mistake = args[args.index("--mistake") + 1] if "--mistake" in args else "none"
assert mistake in MISTAKES, f"unknown mistake {mistake}"

TIMEOUT = 5.0
MAX_LINE = 8192
MAX_HEAD = 32768
TYPES = {
    "html": "text/html", "css": "text/css", "js": "text/javascript", "json": "application/json",
    "txt": "text/plain", "png": "image/png", "jpg": "image/jpeg", "gif": "image/gif",
    "svg": "image/svg+xml", "ico": "image/x-icon", "pdf": "application/pdf",
    "wasm": "application/wasm",
}
if mistake == "image-jpg":
    TYPES["jpg"] = "image/jpg"  # Mistake: not a registered type (it is image/jpeg).
REASONS = {200: "OK", 206: "Partial Content", 301: "Moved Permanently", 304: "Not Modified",
           400: "Bad Request", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
           408: "Request Timeout", 414: "URI Too Long", 416: "Range Not Satisfiable",
           431: "Request Header Fields Too Large", 500: "Internal Server Error",
           501: "Not Implemented",
           505: "HTTP Version Not Supported"}
TCHARS = set(b"!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")

stopping = threading.Event()
live = set()
live_lock = threading.Lock()


class Bad(Exception):
    def __init__(self, status):
        self.status = status


def field(name):
    """The key under which the header `name` (canonical spelling) is stored."""
    # The mistake: names kept as sent, looked up as spelled here (`host` is not `Host`).
    return name if mistake == "case-sensitive-headers" else name.lower()


def parse_head(buf):
    """Returns (method, target, version, headers, used) or None if incomplete."""
    # The mistakes: no limits, or limits checked only once the head has ended (a line or
    # a head that never ends is buffered for ever).
    limits_early = mistake not in ("no-size-limits", "limits-after-head")
    nl = buf.find(b"\n")
    if limits_early and ((nl < 0 and len(buf) > MAX_LINE) or nl > MAX_LINE):
        raise Bad(414)
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        if limits_early and len(buf) > MAX_HEAD:
            raise Bad(431)
        return None
    if mistake == "limits-after-head" and nl > MAX_LINE:
        raise Bad(414)
    if end > MAX_HEAD and mistake != "no-size-limits":
        raise Bad(431)
    lines = buf[:end].split(b"\r\n")
    parts = lines[0].split(b" ")
    if len(parts) != 3 or not parts[0] or not set(parts[0]) <= TCHARS or parts[0] != parts[0].upper():
        raise Bad(400)
    method, target, version = (p.decode("latin-1") for p in parts)
    if mistake == "version-400" and version not in ("HTTP/1.0", "HTTP/1.1"):
        raise Bad(400)  # Mistake: a version we do not speak is not malformed (505).
    if not version.startswith("HTTP/") or len(version) != 8 or version[6] != ".":
        raise Bad(400)
    if version[5] != "1":
        raise Bad(505)
    headers = {}
    for line in lines[1:]:
        name, sep, value = line.partition(b":")
        if not sep or not name or not set(name) <= TCHARS:
            raise Bad(400)
        key = field(name.decode())
        # The mistake: a second Host overwrites the first, like any other header.
        if key == field("Host") and key in headers and mistake != "duplicate-host":
            raise Bad(400)
        headers[key] = value.strip(b" \t").decode("latin-1")
    # The mistake: Host treated as optional, as in HTTP/1.0.
    if version == "HTTP/1.1" and field("Host") not in headers and mistake != "host-optional":
        raise Bad(400)
    return method, target, version, headers, end + 4


def httpdate(t=None):
    """An IMF-fixdate (`t` in seconds since the epoch; now by default)."""
    # The mistake: Python's default is RFC 2822's `-0000`, not `GMT`.
    return email.utils.formatdate(t, usegmt=mistake != "date-not-gmt")


def head_bytes(status, headers, keep):
    # The mistake: the status line of an HTTP/1.0 server (lab 4's v1, say).
    version = "HTTP/1.0" if mistake == "status-http10" else "HTTP/1.1"
    lines = [f"{version} {status} {REASONS.get(status, 'Unknown')}",
             f"Date: {httpdate()}", "Server: corpus-server.py"]
    lines += [f"{k}: {v}" for k, v in headers]
    lines.append("Connection: keep-alive" if keep else "Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def error(status, extra=()):
    body = f"<h1>{status} {REASONS.get(status, '')}</h1>\n".encode()
    return status, [("Content-Type", "text/html"), ("Content-Length", str(len(body))), *extra], body


def resolve(target):
    """Maps a target to ('file'|'dir'|'redirect', value) or raises Bad."""
    # The mistake: the query string taken for part of the file name.
    path = target if mistake == "keeps-query" else target.split("?", 1)[0].split("#", 1)[0]
    if "://" in path:
        path = "/" + path.split("://", 1)[1].partition("/")[2]
    if not path.startswith("/"):
        raise Bad(400)
    if mistake == "path-escape":
        # Mistake: checks for ".." before decoding, so %2e%2e slips through.
        if "/../" in path + "/":
            raise Bad(403)
        decoded = urllib.parse.unquote(path)
        full = os.path.join(root, decoded.lstrip("/"))
    else:
        # The mistake: each %XX made a character of its own (in Rust, `byte as char`), so
        # the UTF-8 bytes of a name like `é` (%C3%A9) become two characters.
        encoding = "latin-1" if mistake == "latin1-decoding" else "utf-8"
        decoded = urllib.parse.unquote(path, encoding=encoding)
        if "\0" in decoded or ".." in decoded.split("/"):
            raise Bad(403)
        full = os.path.join(root, *[s for s in decoded.split("/") if s not in ("", ".")])
    # A symbolic link in the root may lead anywhere: where the path really ends must still
    # be below the root (unless the mistake is to trust the path's text).
    real = os.path.realpath(full)
    trusts_text = mistake in ("follows-symlinks", "path-escape")
    if not trusts_text and real != root and not real.startswith(root + os.sep):
        raise Bad(403)
    if mistake == "enotdir-500":
        # Mistake: only "no such file" is a 404; any other error from the file system
        # (here ENOTDIR, for /file.txt/more) is taken for the server's own fault.
        try:
            os.stat(full)
        except FileNotFoundError:
            raise Bad(404)
        except OSError:
            raise Bad(500)
    if os.path.isdir(full):
        # The mistake: a directory without its trailing slash served as it is.
        if not path.endswith("/") and mistake != "no-redirect":
            return "redirect", path + "/"
        return "dir", full
    if os.path.isfile(full):
        return "file", full
    raise Bad(404)


def listing(directory, url):
    names = sorted(os.listdir(directory))
    # The mistake: names put in links as they are (a space is not allowed in a URL).
    href = (lambda n: n) if mistake == "raw-links" else urllib.parse.quote
    items = "".join(
        f'<li><a href="{href(n)}{"/" if os.path.isdir(os.path.join(directory, n)) else ""}">{n}</a></li>\n'
        for n in names)
    return f"<!DOCTYPE html><html><body><h1>{url}</h1><ul>\n{items}</ul></body></html>\n".encode()


def respond(method, target, headers):
    """Returns (status, headers, body) where body is bytes or (path, start, length)."""
    # The mistake: every method served like GET.
    if method not in ("GET", "HEAD") and mistake != "post-as-get":
        return error(405, [("Allow", "GET, HEAD")])
    kind, value = resolve(target)
    if kind == "redirect":
        return error(301, [("Location", value)])
    if kind == "dir":
        index = os.path.join(value, "index.html")
        # The mistake: `/` is mapped to /index.html, every other directory is listed.
        index_here = mistake != "root-index-only" or value == root
        if not os.path.isfile(index) or not index_here:
            body = listing(value, target)
            return 200, [("Content-Type", "text/html"), ("Content-Length", str(len(body)))], body
        value = index
    st = os.stat(value)
    mtime = int(st.st_mtime)
    # The mistake: the time of the response, not of the file.
    lm = httpdate(None if mistake == "last-modified-now" else mtime)
    ext = value.rsplit(".", 1)[-1].lower() if "." in os.path.basename(value) else ""
    hs = [("Content-Type", TYPES.get(ext, "application/octet-stream")), ("Last-Modified", lm)]
    ims = headers.get(field("If-Modified-Since"))
    if ims and mistake == "ims-text-compare":
        # Mistake: the dates compared as text ("Sat, ..." sorts after "Mon, ...").
        if ims >= lm:
            return 304, hs, b""
    elif ims:
        try:
            since = calendar.timegm(email.utils.parsedate(ims)[:6])
            # The mistake: the file's time with its fraction of a second, against a date
            # that has whole seconds only: never "not modified".
            if (st.st_mtime if mistake == "ims-subsecond" else mtime) <= since:
                return 304, hs, b""
        except (TypeError, ValueError):
            pass
    size = st.st_size
    start, length, status = 0, size, 200
    rng = headers.get(field("Range"), "")
    if rng.startswith("bytes=") and "," not in rng:
        a, _, b = rng[6:].partition("-")
        try:
            if a == "":
                n = int(b)
                start, length, status = max(0, size - n), min(n, size), 206
            else:
                first = int(a)
                if first >= size:
                    return error(416, [("Content-Range", f"bytes */{size}")])
                if mistake == "range-exclusive-end" and b:
                    # Mistake: the end taken as exclusive, like a slice's.
                    last = min(int(b), size) - 1
                elif mistake == "range-no-clamp" and b:
                    last = int(b)  # Mistake: an end past the file is not cut to its size.
                else:
                    last = min(int(b), size - 1) if b else size - 1
                start, length, status = first, last - first + 1, 206
        except ValueError:
            pass
        if status == 206:
            hs.append(("Content-Range", f"bytes {start}-{start + length - 1}/{size}"))
    if mistake == "binary-length":
        # Mistake: the file as text; Content-Length counts characters.
        with open(value, "rb") as f:
            f.seek(start)
            text = f.read(length).decode("utf-8", errors="replace")
        hs.append(("Content-Length", str(len(text))))
        return status, hs, text.encode("utf-8")
    hs.append(("Content-Length", str(length)))
    return status, hs, (value, start, length)


def send(conn, status, hs, body, method, keep):
    head = head_bytes(status, hs, keep)
    # The mistakes: a body for HEAD, or for HEAD's error answers only.
    head_body = mistake == "head-body" or (mistake == "head-error-body" and status >= 400)
    if (method == "HEAD" and not head_body) or status == 304:
        conn.sendall(head)
        return
    if isinstance(body, bytes):
        conn.sendall(head + body)
        return
    path, start, length = body
    with open(path, "rb") as f:
        if mistake == "read-whole-file":
            data = f.read()  # Mistake: the whole file in memory.
            conn.sendall(head + data[start:start + length])
            return
        conn.sendall(head)
        if length:
            conn.sendfile(f, start, length)


def serve(conn):
    buf = b""
    with live_lock:
        live.add(conn)
    try:
        while True:
            deadline = time.monotonic() + TIMEOUT
            try:
                while True:
                    parsed = parse_head(buf)
                    if parsed:
                        break
                    if stopping.is_set() and not buf:
                        return
                    left = TIMEOUT if mistake == "per-read-timeout" else deadline - time.monotonic()
                    if mistake == "no-idle-timeout" and not buf:
                        # Mistake: the head's deadline starts at its first byte, so a
                        # connection waiting for its next request waits for ever.
                        deadline = time.monotonic() + TIMEOUT
                        left = None
                    elif left <= 0:
                        if mistake == "crash-on-timeout":
                            # Mistake: the timeout is an error nobody catches; the thread
                            # dies (and its connection with it), the server lives on.
                            raise RuntimeError("request head timed out")
                        return
                    conn.settimeout(left)
                    try:
                        data = conn.recv(65536)
                    except socket.timeout:
                        if mistake == "per-read-timeout":
                            return
                        continue
                    if not data:
                        return
                    buf += data
            except Bad as e:
                # A refused HEAD still gets headers only: its method is readable.
                head = buf.startswith(b"HEAD ") and mistake != "head-error-body"
                send(conn, *error(e.status), "HEAD" if head else "GET", False)
                linger(conn)
                return
            method, target, version, headers, used = parsed
            buf = b"" if mistake == "drops-pipelined" else buf[used:]
            length = int(headers.get(field("Content-Length"), "0") or 0)
            while len(buf) < length:
                data = conn.recv(65536)
                if not data:
                    return
                buf += data
            buf = buf[length:]
            conn_opts = [o.strip().lower() for o in headers.get(field("Connection"), "").split(",")]
            # The mistake: HTTP/1.0 kept open by default, like HTTP/1.1.
            if version != "HTTP/1.0" or mistake == "http10-persistent":
                keep = "close" not in conn_opts
            else:
                keep = "keep-alive" in conn_opts
            if mistake == "ignores-close":
                # Mistake: every connection is kept alive until the idle timeout ends it.
                keep = True
            keep = keep and not stopping.is_set() and mistake != "no-keep-alive"
            try:
                status, hs, body = respond(method, target, headers)
            except Bad as e:
                status, hs, body = error(e.status)
            conn.settimeout(30)
            send(conn, status, hs, body, method, keep)
            if not keep:
                linger(conn)
                return
    except OSError:
        pass
    finally:
        with live_lock:
            live.discard(conn)
        conn.close()


def linger(conn):
    """Half-close, then wait briefly for the client's close (avoids resetting our reply)."""
    try:
        conn.shutdown(socket.SHUT_WR)
        conn.settimeout(2)
        while conn.recv(65536):
            pass
    except OSError:
        pass


listener = socket.create_server(("127.0.0.1", port), backlog=1024)


def on_term(signum, frame):
    stopping.set()
    try:
        listener.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


if mistake != "no-graceful":
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)

pool = []
if mistake in ("small-pool", "large-pool"):
    # Mistake: a fixed pool of workers (4, or 64: more than a few browsers need), each
    # serving one connection until it closes.
    import queue
    jobs = queue.Queue()

    def worker():
        while True:
            conn = jobs.get()
            if conn is None:
                return
            serve(conn)

    pool = [threading.Thread(target=worker, daemon=True)
            for _ in range(4 if mistake == "small-pool" else 64)]
    for t in pool:
        t.start()

threads = []
while not stopping.is_set():
    try:
        conn, _ = listener.accept()
    except OSError:
        if stopping.is_set():
            break
        continue
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if mistake == "serial-keep-alive":
        serve(conn)  # Mistake: one connection at a time, kept alive.
    elif pool:
        jobs.put(conn)
    else:
        t = threading.Thread(target=serve, args=(conn,), daemon=True)
        t.start()
        threads = [x for x in threads if x.is_alive()] + [t]
listener.close()
with live_lock:
    for c in list(live):
        try:
            c.shutdown(socket.SHUT_RD)
        except OSError:
            pass
for _ in pool:
    jobs.put(None)
for t in threads + pool:
    t.join()
