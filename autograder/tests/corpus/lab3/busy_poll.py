"""Mistake: non-blocking sockets and bounded buffers, all correct, but no readiness call:
the loop tries every socket in turn and goes round again at once, for ever. It serves
everybody, and keeps a CPU at 100% even when nobody sends anything.
"""
import socket

from selectors_common import BOUND, listen, port_from_args

server = listen(port_from_args())
conns = []  # [socket, pending output, client half-closed]

while True:
    try:
        sock, _ = server.accept()
        sock.setblocking(False)
        conns.append([sock, bytearray(), False])
    except BlockingIOError:
        pass
    for conn in list(conns):
        sock, out, eof = conn
        try:
            if not eof and len(out) < BOUND:
                try:
                    data = sock.recv(BOUND - len(out))
                    if data:
                        out += data
                    else:
                        conn[2] = eof = True
                except BlockingIOError:
                    pass
            if out:
                try:
                    del out[: sock.send(out)]
                except BlockingIOError:
                    pass
            if eof and not out:
                sock.shutdown(socket.SHUT_WR)
                sock.close()
                conns.remove(conn)
        except OSError:
            sock.close()
            conns.remove(conn)
