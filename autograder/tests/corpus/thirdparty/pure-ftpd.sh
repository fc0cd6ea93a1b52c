#!/bin/sh
# Runs pure-ftpd as a lab 4 server: `sh pure-ftpd.sh {root} {port} [PURE_FTPD]` (the
# autograder substitutes the placeholders; PURE_FTPD is the daemon's path, `pure-ftpd` from
# PATH or /usr/sbin by default).
#
# What the lab asks (handouts/lab4.md): anonymous login only (USER anonymous or ftp, any
# password), {root} served as `/`, uploads and new directories allowed: `-e` (anonymous
# only) and `-M` (anonymous users may create directories). pure-ftpd takes everything on
# its command line, so no configuration file is needed.
#
# pure-ftpd has no option for the anonymous root: it chroots each anonymous session into
# the home directory of the system user `ftp`, and drops to that user. So the daemon runs
# in a mount namespace of its own (unshare), where a copy of /etc/passwd with an `ftp`
# user whose home is {root} is mounted over the real one; the system's files are never
# touched, and the copy lives in a private temporary directory that is removed on exit.
# Logging goes nowhere (`-f none`: pure-ftpd only logs to syslog).
#
# Root is needed (the namespace, chroot, and the switch to the anonymous user). The
# anonymous user is nobody's uid (65534), so {root} is handed to it first, as the grader
# does for `--run-as`.
#
# Signals: pure-ftpd stops on SIGTERM, which the grader sends to the whole process group;
# this script forwards a TERM or INT sent to it alone, and exits when the daemon does.
set -eu
root=$1
port=$2
daemon=${3:-}
if [ -z "$daemon" ]; then
    daemon=$(PATH="$PATH:/usr/sbin:/usr/local/sbin" command -v pure-ftpd) || {
        echo "pure-ftpd.sh: pure-ftpd is not installed" >&2
        exit 127
    }
fi
if [ "$(id -u)" != 0 ]; then
    echo "pure-ftpd.sh: needs root (pure-ftpd chroots each anonymous session into the root)" >&2
    exit 1
fi
anon_uid=65534
dir=$(mktemp -d "${TMPDIR:-/tmp}/lab4-pure-ftpd-XXXXXX")
trap 'rm -rf "$dir"' EXIT
chown "$anon_uid:$anon_uid" "$root"
grep -v '^ftp:' /etc/passwd > "$dir/passwd"
echo "ftp:x:$anon_uid:$anon_uid:anonymous FTP:$root:/usr/sbin/nologin" >> "$dir/passwd"
chmod 644 "$dir/passwd"
# In the namespace, /run is a private tmpfs too: pure-ftpd keeps a scoreboard file per
# session in /run/pure-ftpd. (mount -n: no record in /run/mount either.) The daemon's
# flags: -S the address, -4 IPv4 only, -H no reverse DNS, -e anonymous only, -M anonymous
# users may create directories, -f none no syslog, -g the pid file in our directory.
unshare --mount --propagation private sh -c '
    mount -n -t tmpfs tmpfs /run
    mount -n --bind "$1" /etc/passwd
    shift
    exec "$@"' sh "$dir/passwd" \
    "$daemon" -S "127.0.0.1,$port" -4 -H -e -M -f none -g "$dir/pure-ftpd.pid" &
pid=$!
trap 'kill -TERM "$pid" 2>/dev/null' TERM INT
# `wait` returns early when a trapped signal arrives; wait again until the daemon is gone.
status=0
while kill -0 "$pid" 2>/dev/null; do
    wait "$pid" || status=$?
done
exit "$status"
