#!/bin/sh
# Runs vsftpd as a lab 4 server: `sh vsftpd.sh {root} {port} [VSFTPD]` (the autograder
# substitutes the placeholders; VSFTPD is the daemon's path, `vsftpd` from PATH or
# /usr/sbin by default).
#
# What the lab asks (handouts/lab4.md): anonymous login only (USER anonymous or ftp, any
# password), {root} served as `/`, uploads and new directories allowed anywhere in it.
# vsftpd comes as close as it can with anon_root and the anon_* write options: each
# session chroots into {root} and runs as the anonymous user (ftp_username, `ftp`). What
# it will not do is let anonymous users write into that root itself: it refuses to run an
# anonymous session whose chroot the anonymous user can write (allow_writeable_chroot is
# for local users only). So {root} stays root's, readable by all, and vsftpd refuses
# uploads and MKD in `/` (tests/thirdparty_ftp.rs expects exactly that).
#
# vsftpd changes into the anonymous user's home directory before it changes into
# anon_root, and fails the login if that home does not exist (nobody's is /nonexistent).
# So, as for pure-ftpd, the daemon runs in a mount namespace of its own (unshare), where a
# copy of /etc/passwd with an `ftp` user (nobody's uid, 65534) whose home is {root} is
# mounted over the real one; the system's files are never touched. PAM is only for local
# users, which are off. The configuration, the passwd copy and vsftpd's empty directory
# live in a private temporary directory that is removed on exit; nothing is logged.
#
# Root is needed (the namespace, chroot, and the switch to the anonymous user).
#
# Signals: vsftpd stops on SIGTERM, which the grader sends to the whole process group;
# this script forwards a TERM or INT sent to it alone, and exits when the daemon does.
set -eu
root=$1
port=$2
daemon=${3:-}
if [ -z "$daemon" ]; then
    daemon=$(PATH="$PATH:/usr/sbin:/usr/local/sbin" command -v vsftpd) || {
        echo "vsftpd.sh: vsftpd is not installed" >&2
        exit 127
    }
fi
if [ "$(id -u)" != 0 ]; then
    echo "vsftpd.sh: needs root (vsftpd chroots each anonymous session into the root)" >&2
    exit 1
fi
dir=$(mktemp -d "${TMPDIR:-/tmp}/lab4-vsftpd-XXXXXX")
trap 'rm -rf "$dir"' EXIT
anon_uid=65534
# The root stays root's, readable by all (see above).
chmod 755 "$root"
grep -v '^ftp:' /etc/passwd > "$dir/passwd"
echo "ftp:x:$anon_uid:$anon_uid:anonymous FTP:$root:/usr/sbin/nologin" >> "$dir/passwd"
chmod 644 "$dir/passwd"
# vsftpd's unprivileged helper chroots into an empty directory that nobody can write.
mkdir "$dir/empty"
cat > "$dir/vsftpd.conf" <<EOF
listen=YES
listen_ipv6=NO
listen_address=127.0.0.1
listen_port=$port
background=NO
# Anonymous only, rooted at {root}, with write access (below the root: see above).
anonymous_enable=YES
local_enable=NO
ftp_username=ftp
anon_root=$root
write_enable=YES
anon_upload_enable=YES
anon_mkdir_write_enable=YES
anon_other_write_enable=YES
# Uploads readable by everyone: vsftpd serves anonymous users world-readable files only.
anon_umask=022
nopriv_user=nobody
secure_chroot_dir=$dir/empty
xferlog_enable=NO
syslog_enable=NO
EOF
# (mount -n: no record of the mount in /run/mount.)
unshare --mount --propagation private sh -c '
    mount -n --bind "$1" /etc/passwd
    shift
    exec "$@"' sh "$dir/passwd" "$daemon" "$dir/vsftpd.conf" &
pid=$!
trap 'kill -TERM "$pid" 2>/dev/null' TERM INT
# `wait` returns early when a trapped signal arrives; wait again until the daemon is gone.
status=0
while kill -0 "$pid" 2>/dev/null; do
    wait "$pid" || status=$?
done
exit "$status"
