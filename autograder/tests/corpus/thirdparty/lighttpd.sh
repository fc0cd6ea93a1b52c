#!/bin/sh
# Runs lighttpd (Debian package lighttpd) as a lab 5 server:
#   autograder grade lab5 -- sh lighttpd.sh '{root}' '{port}'
# It writes a configuration into a fresh temporary directory (removed on exit) and runs
# lighttpd in the foreground on 127.0.0.1:PORT, serving ROOT the way handouts/lab5.md asks:
# index.html as the index, a listing for directories without one, 5 s for an idle
# keep-alive connection and for a request head, symbolic links refused, the media types
# of the system's table (/etc/mime.types), and no log file anywhere (errors go to stderr).
#
# Signals: the lab contract says SIGTERM means "graceful shutdown"; for lighttpd TERM means
# "stop at once" and INT means "stop accepting, finish what is in flight, then exit". This
# script forwards a TERM or INT it receives as INT. (The grader's teardown signals the whole
# process group, so lighttpd also gets the TERM directly then, and stops at once.)
set -eu
root=$1
port=$2
dir=$(mktemp -d "${TMPDIR:-/tmp}/lab5-lighttpd-XXXXXX")
trap 'rm -rf "$dir"' EXIT
# Started as root, lighttpd stays root unless told to switch user (as nginx.sh keeps nginx's
# workers root): an unprivileged user could not read the grader's private temporary root.
cat > "$dir/lighttpd.conf" <<EOF
server.bind = "127.0.0.1"
server.port = $port
server.document-root = "$root"
server.upload-dirs = ( "$dir" )
# No server.errorlog: in the foreground, lighttpd writes its errors to stderr.
server.modules = ( "mod_indexfile", "mod_dirlisting", "mod_staticfile" )
index-file.names = ( "index.html" )
dir-listing.activate = "enable"
dir-listing.encoding = "utf-8"
# The lab's rule for symbolic links: never followed (lighttpd's default follows them, out
# of the root too).
server.follow-symlink = "disable"
# The lab's timeouts: an idle keep-alive connection and a request head that has not
# arrived whole are closed after 5 s (lighttpd's defaults are 5 s and 60 s).
server.max-keep-alive-idle = 5
server.max-read-idle = 5
# A path below a regular file (/page.html/more) names nothing: 404, as the lab asks
# (lighttpd's default serves the file and calls the rest "path info").
static-file.disable-pathinfo = "enable"
EOF
# Media types from /etc/mime.types, through the script Debian's own configuration uses.
perl /usr/share/lighttpd/create-mime.conf.pl >> "$dir/lighttpd.conf"
lighttpd -D -f "$dir/lighttpd.conf" &
pid=$!
trap 'kill -INT "$pid" 2>/dev/null' TERM INT
# `wait` returns early when a trapped signal arrives; wait again until lighttpd is gone.
while kill -0 "$pid" 2>/dev/null; do
    wait "$pid" || true
done
