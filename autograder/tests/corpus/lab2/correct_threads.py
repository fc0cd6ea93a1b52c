"""A correct thread-per-connection echo server in Python (socketserver).

Proof that lab 2 grading is language-agnostic.
Usage: python3 correct_threads.py --port N    or    python3 correct_threads.py N
"""
import socket
import socketserver
import sys


class Echo(socketserver.BaseRequestHandler):
    def handle(self):
        try:
            while True:
                data = self.request.recv(65536)
                if not data:
                    break
                self.request.sendall(data)
            self.request.shutdown(socket.SHUT_WR)
        except OSError as e:
            print(f"client error: {e}", file=sys.stderr)


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


args = sys.argv[1:]
port = int(args[args.index("--port") + 1]) if "--port" in args else int(args[0])
with Server(("127.0.0.1", port), Echo) as server:
    server.serve_forever()
