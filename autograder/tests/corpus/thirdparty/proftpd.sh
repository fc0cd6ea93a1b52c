#!/bin/sh
# Runs ProFTPD as a lab 4 server: `sh proftpd.sh {root} {port} [PROFTPD]` (the autograder
# substitutes the placeholders; PROFTPD is the daemon's path, `proftpd` from PATH or
# /usr/sbin by default).
#
# What the lab asks (handouts/lab4.md): anonymous login only (USER anonymous or ftp, any
# password), {root} served as `/`, uploads and new directories allowed. ProFTPD does that
# with an <Anonymous> block: each session chroots into {root} and drops to the anonymous
# user. That user comes from a passwd file of the script's own (AuthUserFile), not from
# the system's or PAM. The configuration, that passwd file, the pid and scoreboard files
# live in a private temporary directory, removed on exit; the log goes to stderr (what
# `--nodaemon` does), where the grader shows it.
#
# Root is needed (the namespace below, chroot, and the switch to the anonymous user). The
# anonymous user is nobody's uid (65534), so {root} is handed to it first, as the grader
# does for `--run-as`.
#
# Signals: SIGTERM is ProFTPD's own graceful stop (it stops accepting and ends), so the
# TERM the grader sends to the process group is enough; this script forwards a TERM or INT
# sent to it alone, and exits when the daemon does.
set -eu
root=$1
port=$2
daemon=${3:-}
if [ -z "$daemon" ]; then
    daemon=$(PATH="$PATH:/usr/sbin:/usr/local/sbin" command -v proftpd) || {
        echo "proftpd.sh: proftpd is not installed" >&2
        exit 127
    }
fi
if [ "$(id -u)" != 0 ]; then
    echo "proftpd.sh: needs root (ProFTPD chroots each anonymous session into the root)" >&2
    exit 1
fi
anon_uid=65534
dir=$(mktemp -d "${TMPDIR:-/tmp}/lab4-proftpd-XXXXXX")
trap 'rm -rf "$dir"' EXIT
chown "$anon_uid:$anon_uid" "$root"
# name:password:uid:gid:gecos:home:shell. `*` is no password: ProFTPD's anonymous login
# does not ask for one (AnonRequirePassword off); any PASS is accepted.
echo "ftp:*:$anon_uid:$anon_uid:anonymous FTP:$root:/bin/false" > "$dir/passwd"
echo "ftp:*:$anon_uid:" > "$dir/group"
# ProFTPD refuses a passwd file that others can read.
chmod 600 "$dir/passwd" "$dir/group"
cat > "$dir/proftpd.conf" <<EOF
ServerType standalone
ServerName "netlabs lab 4 (ProFTPD)"
UseIPv6 off
DefaultAddress 127.0.0.1
SocketBindTight on
Port $port
# Users come from our passwd file only: not from the system, not through PAM. (Before
# User, which names one of them.)
AuthOrder mod_auth_file.c
AuthUserFile $dir/passwd
AuthGroupFile $dir/group
AuthPAM off
# The daemon itself, between sessions: a system user, since ProFTPD looks it up while it
# reads this file, before the passwd file above is in use.
User nobody
Group nogroup
PidFile $dir/proftpd.pid
ScoreboardFile $dir/proftpd.scoreboard
TransferLog NONE
WtmpLog off
# mod_delay pads every login to hide timing: slow for a grader, and it keeps a table file
# in /run; mod_ctrls would bind a control socket in /run (and unlink any one there).
DelayEngine off
ControlsEngine off
UseReverseDNS off
RootLogin off
# Anonymous only: `ftp` is the passwd file's only user, and it is this block's.
<Anonymous $root>
    User ftp
    Group ftp
    UserAlias anonymous ftp
    AnonRequirePassword off
    RequireValidShell off
    AllowOverwrite on
    Umask 022
</Anonymous>
EOF
# ProFTPD's startup binds (and removes) a test socket in /run whatever the configuration
# says, so it runs in a mount namespace of its own (unshare) with a private tmpfs on /run.
# (mount -n: no record of the mount in /run/mount either.)
unshare --mount --propagation private sh -c '
    mount -n -t tmpfs tmpfs /run
    exec "$@"' sh "$daemon" --nodaemon --config "$dir/proftpd.conf" &
pid=$!
trap 'kill -TERM "$pid" 2>/dev/null' TERM INT
# `wait` returns early when a trapped signal arrives; wait again until the daemon is gone.
status=0
while kill -0 "$pid" 2>/dev/null; do
    wait "$pid" || status=$?
done
exit "$status"
