"""A correct readiness-loop echo server on Python's `selectors` (epoll on Linux): output
bounded per connection (a connection that has BOUND bytes pending is not read until they
are sent), pending output flushed before the close after a half-close, the open-files
limit raised at start.

With `--select` it is the same loop on select(2) (`selectors.SelectSelector`): select()
cannot watch a descriptor numbered 1024 or above (FD_SETSIZE), so past about a thousand
clients it fails however high the open-files limit is. With `--die-after-one` it exits
(as an unhandled error would) once its first client is served: the exchange went right,
the server is gone. With `--close-at-eof` it reads all it can (until the socket would
block, or the bound) before it writes, as edge-triggered loops do, and closes a connection
as soon as a read returns 0: the output it still holds for that client is lost.
Usage: python3 readiness_loop.py [--select] [--die-after-one] [--close-at-eof] --port N
"""
import selectors
import socket
import sys

from selectors_common import BOUND, listen, port_from_args

sel = selectors.SelectSelector() if "--select" in sys.argv else selectors.DefaultSelector()
server = listen(port_from_args())
sel.register(server, selectors.EVENT_READ, None)


class Conn:
    def __init__(self, sock):
        self.sock = sock
        self.out = bytearray()
        self.eof = False


def close(conn):
    sel.unregister(conn.sock)
    conn.sock.close()


def update(conn):
    # Read only while there is room; write while there is something to send.
    events = 0 if conn.eof or len(conn.out) >= BOUND else selectors.EVENT_READ
    if conn.out:
        events |= selectors.EVENT_WRITE
    if events == 0 and conn.eof:
        try:
            conn.sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        close(conn)
        if "--die-after-one" in sys.argv:
            sys.exit(1)
    else:
        sel.modify(conn.sock, events or selectors.EVENT_WRITE, conn)


def drain_then_close_at_eof(conn):
    """Reads until the socket would block or the bound is reached; True if it closed."""
    while len(conn.out) < BOUND:
        try:
            data = conn.sock.recv(min(65536, BOUND - len(conn.out)))
        except BlockingIOError:
            return False
        if not data:
            close(conn)  # the mistake: conn.out may still hold echo
            return True
        conn.out += data
    return False


while True:
    for key, mask in sel.select():
        if key.data is None:
            while True:
                try:
                    sock, _ = server.accept()
                except BlockingIOError:
                    break
                sock.setblocking(False)
                sel.register(sock, selectors.EVENT_READ, Conn(sock))
            continue
        conn = key.data
        try:
            if mask & selectors.EVENT_READ:
                if "--close-at-eof" in sys.argv:
                    if drain_then_close_at_eof(conn):
                        continue
                else:
                    data = conn.sock.recv(min(65536, BOUND - len(conn.out)))
                    if data:
                        conn.out += data
                    else:
                        conn.eof = True
            if conn.out:
                try:
                    n = conn.sock.send(conn.out)
                    del conn.out[:n]
                except BlockingIOError:
                    pass
            update(conn)
        except OSError:
            close(conn)
