#!/usr/bin/env python3
"""A threaded echo client for lab 2's `client` group, with one optional mistake
(--mistake M):

  none           correct: a thread and a connection per client, all at once; sendall, a
                 recv loop for each chunk's echo, every byte compared; results come back
                 through a queue; exit status 0 only if every byte came back
  serial         runs the clients one after another on the main thread
  no-compare     counts the echo's bytes but never compares them
  exit-0-refused reports a refused connection but does not count it as a failure
  one-recv       takes one recv() as the whole echo of a chunk

Usage: threaded_client.py [--mistake M] client --host H --port P --clients N --bytes B
                          [--rounds R]
"""
import os
import queue
import socket
import sys
import threading
import time

args = sys.argv[1:]
MISTAKE = "none"
if args[:1] == ["--mistake"]:
    MISTAKE, args = args[1], args[2:]
assert args[:1] == ["client"], "usage: threaded_client.py [--mistake M] client --host H ..."
opts = dict(zip(args[1::2], args[2::2]))
HOST = opts.get("--host", "127.0.0.1")
PORT = int(opts.get("--port", "7102"))
CLIENTS = int(opts.get("--clients", "10"))
BYTES = int(opts.get("--bytes", str(1 << 20)))
ROUNDS = int(opts.get("--rounds", "1"))
CHUNK = 8192


class Failed(Exception):
    """One client's failure; its text names the client."""


def recv_exactly(sock, n):
    """The echo of one chunk: recv until n bytes came, or the server closed."""
    if MISTAKE == "one-recv":
        return sock.recv(n)
    parts, got = [], 0
    while got < n:
        part = sock.recv(n - got)
        if not part:
            break
        parts.append(part)
        got += len(part)
    return b"".join(parts)


def one_client(name):
    """Runs one client; returns (bytes echoed, round-trip times) or raises Failed."""
    try:
        sock = socket.create_connection((HOST, PORT), timeout=30)
    except OSError as e:
        raise Failed(f"{name}: cannot connect to {HOST}:{PORT}: {e.strerror or e}")
    times, offset = [], 0
    with sock:
        for _ in range(ROUNDS):
            left = BYTES
            while left:
                chunk = os.urandom(min(CHUNK, left))
                start = time.monotonic()
                sock.sendall(chunk)
                echo = recv_exactly(sock, len(chunk))
                if MISTAKE != "no-compare" and echo != chunk[: len(echo)]:
                    i = next(i for i, (a, b) in enumerate(zip(chunk, echo)) if a != b)
                    raise Failed(f"{name}: mismatch at byte {offset + i}: sent {chunk[i]:#04x}, got {echo[i]:#04x}")
                if len(echo) < len(chunk):
                    raise Failed(f"{name}: the server closed after echoing {offset + len(echo)} bytes")
                times.append(time.monotonic() - start)
                offset += len(chunk)
                left -= len(chunk)
        sock.shutdown(socket.SHUT_WR)
        if sock.recv(1):
            raise Failed(f"{name}: more bytes came back than were sent")
    return offset, times


def worker(name, results):
    try:
        results.put((name, one_client(name), None))
    except (Failed, OSError) as e:
        results.put((name, None, f"{name}: {e}" if isinstance(e, OSError) else str(e)))


def main():
    results = queue.Queue()
    names = [f"c{i}" for i in range(1, CLIENTS + 1)]
    start = time.monotonic()
    if MISTAKE == "serial":
        for name in names:
            worker(name, results)
    else:
        threads = [threading.Thread(target=worker, args=(n, results), name=n) for n in names]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    elapsed = time.monotonic() - start
    by_name = dict((name, (ok, err)) for name, ok, err in (results.get() for _ in names))
    failed = mismatches = total = 0
    for name in names:
        ok, err = by_name[name]
        if err:
            print("FAILED", err, file=sys.stderr)
            refused = "refused" in err.lower()
            if not (MISTAKE == "exit-0-refused" and refused):
                failed += 1
            mismatches += "mismatch" in err
            continue
        n, times = ok
        times.sort()
        p = lambda q: times[min(len(times) - 1, int(q * len(times)))] * 1000 if times else 0.0
        print(f"{name}: {n} bytes, p50 {p(0.5):.3f} ms, p99 {p(0.99):.3f} ms")
        total += n
    print(f"total {total} bytes in {elapsed:.3f} s; {failed} failed, {mismatches} mismatches")
    sys.exit(1 if failed else 0)


main()
