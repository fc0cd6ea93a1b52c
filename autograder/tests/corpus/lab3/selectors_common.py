"""Shared scaffolding of the lab 3 corpus's selectors-based servers (not a server itself).

Each server module defines how a connection reads and writes; this file parses the port,
binds, and accepts. It keeps the buggy programs short, so each shows its one mistake.
"""
import resource
import socket
import sys

BOUND = 64 * 1024


def raise_open_files_limit():
    """Every connection is a file descriptor: raise the soft limit to the hard one."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def port_from_args():
    args = sys.argv[1:]
    return int(args[args.index("--port") + 1]) if "--port" in args else int(args[0])


def listen(port):
    raise_open_files_limit()
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", port))
    server.listen(1024)
    server.setblocking(False)
    return server
