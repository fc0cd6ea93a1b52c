"""Mistake: a readiness loop that reads without blocking, but sends each echo with the
socket switched back to blocking mode. A client that does not read its echo blocks that
send, and with it the whole loop: every other client waits.
"""
import selectors
import socket

from selectors_common import listen, port_from_args

sel = selectors.DefaultSelector()
server = listen(port_from_args())
sel.register(server, selectors.EVENT_READ, None)

while True:
    for key, mask in sel.select():
        if key.data is None:
            while True:
                try:
                    sock, _ = server.accept()
                except BlockingIOError:
                    break
                sock.setblocking(False)
                sel.register(sock, selectors.EVENT_READ, "client")
            continue
        sock = key.fileobj
        try:
            data = sock.recv(65536)
            if data:
                sock.setblocking(True)  # the mistake: wait until the client takes it all
                sock.sendall(data)
                sock.setblocking(False)
                continue
            sock.shutdown(socket.SHUT_WR)
        except BlockingIOError:
            continue
        except OSError:
            pass
        sel.unregister(sock)
        sock.close()
