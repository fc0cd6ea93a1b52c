#!/usr/bin/env python3
"""A tiny FTP server that logs anyone in and then gets downloads wrong, for the bench's
tests (`autograder/tests/bench.rs`): the bench must count its transfers as errors and
finish on time, not hang or count them as done; and one correct mode the bench must not
fault. One mode, chosen by --mode:

  pasv     correct, but refuses EPSV (502) and offers PASV only, as some old servers do
  linger   correct, but sends the 226 only once the client has closed the data
           connection (as ProFTPD and vsftpd do): a client that waits for the 226 first
           waits forever

  refuse   answers every RETR with 550 (as if the file were missing)
  corrupt  sends the file with its first byte changed
  short    sends all of the file but its last byte, then 226
  silent   answers RETR with 150 and then nothing: neither data nor a final reply

It speaks just enough FTP for a client that logs in, sets TYPE I and downloads through
EPSV or PASV: USER, PASS, TYPE, EPSV, PASV, RETR, QUIT; anything else gets 502.

Usage: bench_ftpd.py --mode M server --port P --root DIR
"""
import os
import socket
import sys
import threading

args = sys.argv[1:]
assert args[:1] == ["--mode"], "usage: bench_ftpd.py --mode M server --port P --root DIR"
MODE, args = args[1], args[2:]
assert MODE in ("pasv", "linger", "refuse", "corrupt", "short", "silent"), MODE
opts = dict(zip(args[1::2], args[2::2]))
PORT = int(opts["--port"])
ROOT = os.path.realpath(opts["--root"])


def session(sock):
    lines = sock.makefile("rb")
    passive = None

    def reply(text):
        sock.sendall(text.encode() + b"\r\n")

    reply("220 bench stub ready")
    for raw in lines:
        verb, _, arg = raw.decode().strip().partition(" ")
        verb = verb.upper()
        if verb == "USER":
            reply("331 any password")
        elif verb == "PASS":
            reply("230 logged in")
        elif verb == "TYPE":
            reply("200 ok")
        elif verb == "PASV":
            passive = socket.create_server(("127.0.0.1", 0))
            port = passive.getsockname()[1]
            reply("227 Entering Passive Mode (127,0,0,1,%d,%d)." % (port >> 8, port & 255))
        elif verb == "EPSV" and MODE != "pasv":
            passive = socket.create_server(("127.0.0.1", 0))
            reply("229 Entering Extended Passive Mode (|||%d|)" % passive.getsockname()[1])
        elif verb == "RETR" and passive is not None:
            conn, _ = passive.accept()
            passive.close()
            passive = None
            if MODE == "refuse":
                conn.close()
                reply("550 no such file")
                continue
            reply("150 here it comes")
            if MODE == "silent":
                threading.Event().wait()  # holds the session (and the data connection) forever
            with open(os.path.join(ROOT, os.path.basename(arg)), "rb") as f:
                data = f.read()
            if MODE == "corrupt":
                data = bytes([data[0] ^ 0xFF]) + data[1:]
            elif MODE == "short":
                data = data[:-1]
            conn.sendall(data)
            if MODE == "linger":
                conn.shutdown(socket.SHUT_WR)
                try:
                    while conn.recv(65536):
                        pass
                except ConnectionResetError:
                    pass  # a reset is a close too
            conn.close()
            reply("226 done")
        elif verb == "QUIT":
            reply("221 bye")
            break
        else:
            reply("502 not implemented")
    sock.close()


listener = socket.create_server(("127.0.0.1", PORT))
while True:
    client, _ = listener.accept()
    threading.Thread(target=session, args=(client,), daemon=True).start()
