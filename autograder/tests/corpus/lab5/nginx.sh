#!/bin/sh
# Runs nginx as a lab 5 server: `sh nginx.sh {root} {port}` (the autograder substitutes
# the placeholders). nginx needs a configuration file, so this writes one from
# nginx.conf.template into a fresh temporary directory that also holds its pid file and
# temp paths, which lets it run without touching /etc or /var.
#
# Signals: the lab contract says SIGTERM means "graceful shutdown", but for nginx TERM
# means "fast shutdown" and QUIT means "graceful". This script forwards a TERM or INT it
# receives as QUIT. (The grader's teardown signals the whole process group, so nginx also
# gets the TERM directly then, and stops at once, as it should.)
set -eu
root=$1
port=$2
here=$(cd "$(dirname "$0")" && pwd)
dir=$(mktemp -d "${TMPDIR:-/tmp}/lab5-nginx-XXXXXX")
trap 'rm -rf "$dir"' EXIT
# Worker processes switch to an unprivileged user when started as root; that user could
# not read the grader's private temporary root, so keep them as root in that case.
if [ "$(id -u)" = 0 ]; then user="user root;"; else user=""; fi
sed -e "s|{root}|$root|g" -e "s|{port}|$port|g" -e "s|{dir}|$dir|g" -e "s|{user}|$user|g" \
    "$here/nginx.conf.template" > "$dir/nginx.conf"
nginx -p "$dir" -c "$dir/nginx.conf" -g 'daemon off;' &
pid=$!
trap 'kill -QUIT "$pid" 2>/dev/null' TERM INT
# `wait` returns early when a trapped signal arrives; wait again until nginx is gone.
while kill -0 "$pid" 2>/dev/null; do
    wait "$pid" || true
done
