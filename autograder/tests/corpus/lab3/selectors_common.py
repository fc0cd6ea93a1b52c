"""Shared scaffolding of the lab 3 corpus's selectors-based servers (not a server itself).

Each server module defines how a connection reads and writes; this file parses the port,
binds, and accepts. It keeps the buggy programs short, so each shows its one mistake.
"""
import socket
import sys

BOUND = 64 * 1024


def port_from_args():
    args = sys.argv[1:]
    return int(args[args.index("--port") + 1]) if "--port" in args else int(args[0])


def listen(port):
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", port))
    server.listen(1024)
    server.setblocking(False)
    return server
