#!/usr/bin/env python3
"""An FTP client built on Python's ftplib, with one optional mistake (--mistake M):

  none        correct: one session per file, all in threads at once, binary type
  sequential  transfers the files one after another
  ascii       transfers in ASCII type (TYPE A) and keeps the bytes as they arrive
  put-no-close
              sends each upload's bytes but never closes the data connection before
              waiting for the 226 (in stream mode, the close is the end of the file)
  ls-ignores-dir
              `ls DIR` sends a bare LIST: it always prints the root
  missing-exit-0
              reports a failed transfer (the server's 550) but exits with status 0

Usage: ftp_client.py [--mistake M] get|put|ls --host H --port P [--out DIR] FILE...
"""
import ftplib
import os
import sys
import threading

args = sys.argv[1:]
MISTAKE = "none"
if args[:1] == ["--mistake"]:
    MISTAKE, args = args[1], args[2:]
verb, rest = args[0], args[1:]
opts, files = {}, []
while rest:
    if rest[0] in ("--host", "--port", "--out"):
        opts[rest[0]] = rest[1]
        rest = rest[2:]
    else:
        files.append(rest.pop(0))
HOST, PORT, OUT = opts.get("--host", "127.0.0.1"), int(opts.get("--port", 2121)), opts.get("--out", ".")


def session():
    ftp = ftplib.FTP()
    ftp.connect(HOST, PORT, timeout=20)
    ftp.login()
    if MISTAKE == "ascii":
        ftp.voidcmd("TYPE A")
    return ftp


def get(name):
    ftp = session()
    with open(os.path.join(OUT, os.path.basename(name)), "wb") as f:
        if MISTAKE == "ascii":
            conn = ftp.transfercmd("RETR " + name)
            while True:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                f.write(chunk)
            conn.close()
            ftp.voidresp()
        else:
            ftp.retrbinary("RETR " + name, f.write)
    ftp.quit()


def put(path):
    ftp = session()
    with open(path, "rb") as f:
        if MISTAKE == "ascii":
            conn = ftp.transfercmd("STOR " + os.path.basename(path))
            conn.sendall(f.read())
            conn.close()
            ftp.voidresp()
        elif MISTAKE == "put-no-close":
            conn = ftp.transfercmd("STOR " + os.path.basename(path))
            conn.sendall(f.read())
            ftp.voidresp()  # the server is still waiting for the end of the file
            conn.close()
        else:
            ftp.storbinary("STOR " + os.path.basename(path), f)
    ftp.quit()


errors = []


def attempt(fn, arg):
    try:
        fn(arg)
    except Exception as e:  # the reply text is in the exception, e.g. "550 No such file"
        errors.append("%s %s failed: %s" % (verb, arg, e))


if verb == "ls":
    ftp = session()
    ftp.retrlines("LIST " + files[0] if files and MISTAKE != "ls-ignores-dir" else "LIST")
    ftp.quit()
else:
    fn = get if verb == "get" else put
    if MISTAKE == "sequential":
        for f in files:
            attempt(fn, f)
    else:
        threads = [threading.Thread(target=attempt, args=(fn, f)) for f in files]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
for e in errors:
    print(e, file=sys.stderr)
sys.exit(1 if errors and MISTAKE != "missing-exit-0" else 0)
