"""Mistake: a correct readiness loop, except that it never stops reading. A client that
sends without reading its echo makes the server queue everything in memory.
"""
import selectors
import socket

from selectors_common import listen, port_from_args

sel = selectors.DefaultSelector()
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
    events = 0 if conn.eof else selectors.EVENT_READ  # the mistake: no bound on conn.out
    if conn.out:
        events |= selectors.EVENT_WRITE
    if events == 0:
        try:
            conn.sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        close(conn)
    else:
        sel.modify(conn.sock, events, conn)


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
                data = conn.sock.recv(65536)
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
