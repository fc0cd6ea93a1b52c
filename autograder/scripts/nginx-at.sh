#!/bin/sh
# nginx-at.sh PORT ROOT — nginx in the foreground serving ROOT on 127.0.0.1:PORT, from a
# private prefix inside ROOT (ROOT/.nginx: its config, pid file and logs; no access log;
# it goes away with the bench's temporary root), so it can be
# benchmarked like any lab program:
#
#   autograder bench lab5 --compare "nginx=sh autograder/scripts/nginx-at.sh {port} {root}"
#
# NGINX_WORKERS sets worker_processes (default: auto, one per core).
set -e
port=$1; root=$2; prefix=$root/.nginx
mkdir -p "$prefix"
nginx=$(command -v nginx || echo /usr/sbin/nginx)
# nginx's workers may run as another user: let them read the root.
chmod 755 "$root" "$prefix"
cat > "$prefix/nginx.conf" <<CONF
worker_processes ${NGINX_WORKERS:-auto};
# Each worker raises its own open-files limit (the shell's soft limit is often 1024), as
# a server meant for 10,000 clients must; lab 5's events model does the same.
worker_rlimit_nofile 65536;
pid $prefix/nginx.pid;
error_log $prefix/error.log warn;
events { worker_connections 20000; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 10000000;
    client_body_temp_path $prefix/body;
    proxy_temp_path $prefix/proxy;
    fastcgi_temp_path $prefix/fastcgi;
    uwsgi_temp_path $prefix/uwsgi;
    scgi_temp_path $prefix/scgi;
    server { listen 127.0.0.1:$port; root $root; }
}
CONF
exec "$nginx" -p "$prefix" -c "$prefix/nginx.conf" -g 'daemon off;'
