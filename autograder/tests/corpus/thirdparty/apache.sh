#!/bin/sh
# Runs Apache httpd with the event MPM (Debian package apache2) as a lab 5 server:
#   autograder grade lab5 -- sh apache.sh '{root}' '{port}'
# It writes a configuration into a fresh temporary directory (removed on exit; it also
# holds the pid file and the runtime directory) and runs httpd in the foreground on
# 127.0.0.1:PORT, serving ROOT the way handouts/lab5.md asks: index.html as the index, a
# listing for directories without one, 5 s for an idle keep-alive connection and for a
# request head, symbolic links refused, the media types of the system's table
# (/etc/mime.types), no access log and errors on stderr. Nothing of Debian's
# /etc/apache2 is read.
#
# Signals: the lab contract says SIGTERM means "graceful shutdown"; for httpd TERM means
# "stop at once" and WINCH means "graceful stop" (stop listening, let the requests in
# flight finish, close idle connections, exit). This script forwards a TERM or INT it
# receives as WINCH. (The grader's teardown signals the whole process group, so httpd also
# gets the TERM directly then, and stops at once.)
set -eu
root=$1
port=$2
dir=$(mktemp -d "${TMPDIR:-/tmp}/lab5-apache-XXXXXX")
trap 'rm -rf "$dir"' EXIT
modules=/usr/lib/apache2/modules
# httpd refuses to serve as root: started as root, its children switch to www-data, which
# must be able to read the root (the grader's temporary root is private to its owner).
if [ "$(id -u)" = 0 ]; then
    chmod a+rx "$root"
    user="User www-data
Group www-data"
else
    user=""
fi
cat > "$dir/httpd.conf" <<EOF
ServerRoot "$dir"
ServerName 127.0.0.1
Listen 127.0.0.1:$port
PidFile "$dir/httpd.pid"
DefaultRuntimeDir "$dir"
ErrorLog /dev/stderr
$user
LoadModule mpm_event_module $modules/mod_mpm_event.so
LoadModule authz_core_module $modules/mod_authz_core.so
LoadModule dir_module $modules/mod_dir.so
LoadModule autoindex_module $modules/mod_autoindex.so
LoadModule mime_module $modules/mod_mime.so
LoadModule reqtimeout_module $modules/mod_reqtimeout.so
TypesConfig /etc/mime.types
# The lab's timeouts: an idle keep-alive connection is closed after 5 s, and so is one
# whose request head has not arrived whole 5 s after it began (httpd's defaults: 5 s, and
# 20-40 s with a minimum rate).
KeepAlive On
KeepAliveTimeout 5
RequestReadTimeout header=5 body=10
DocumentRoot "$root"
<Directory />
    Options None
    AllowOverride None
    Require all denied
</Directory>
<Directory "$root">
    # Indexes: a listing for a directory without index.html. No FollowSymLinks: the lab's
    # rule for symbolic links is never to follow them.
    Options Indexes
    AllowOverride None
    Require all granted
    # Not "AllowMethods GET HEAD" (mod_allowmethods), although the lab wants 405 for POST,
    # which httpd's default handler answers with the file: its 405s say "Allow: TRACE"
    # (RFC 9110 section 15.5.6 wants the methods the resource supports), and it answers
    # unknown methods, a lowercase "get" too, with 405 instead of 501 (section 9.1).
</Directory>
DirectoryIndex index.html
EOF
httpd_bin=$(command -v apache2 || command -v httpd)
"$httpd_bin" -f "$dir/httpd.conf" -DFOREGROUND &
pid=$!
trap 'kill -WINCH "$pid" 2>/dev/null' TERM INT
# `wait` returns early when a trapped signal arrives; wait again until httpd is gone.
while kill -0 "$pid" 2>/dev/null; do
    wait "$pid" || true
done
