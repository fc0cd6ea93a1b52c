"""A correct iterative echo server in Python: proof that grading is language-agnostic.

Usage: python3 correct_echo.py --port N    or    python3 correct_echo.py N
"""
import socket
import sys

args = sys.argv[1:]
port = int(args[args.index("--port") + 1]) if "--port" in args else int(args[0])
server = socket.create_server(("127.0.0.1", port), reuse_port=False)
while True:
    conn, _ = server.accept()
    with conn:
        try:
            while True:
                data = conn.recv(65536)
                if not data:
                    break
                conn.sendall(data)
            conn.shutdown(socket.SHUT_WR)
        except OSError as e:
            print(f"client error: {e}", file=sys.stderr)
