#!/usr/bin/env bash
# Gradescope runs this once, while it builds the autograder's image (Ubuntu, as root).
# It installs Rust if needed, builds the netlabs autograder from the sources in this bundle,
# and compiles the lab's dependencies once, so that each submission builds quickly.
#
# AUTOGRADER_ROOT (default /autograder) is Gradescope's layout root; set it to try the
# bundle elsewhere: AUTOGRADER_ROOT=/tmp/gs bash setup.sh
set -euo pipefail
ROOT="${AUTOGRADER_ROOT:-/autograder}"
HERE="$(cd "$(dirname "$0")" && pwd)"
LAB="@LAB@"

if ! command -v cargo >/dev/null 2>&1 && [ ! -x "$HOME/.cargo/bin/cargo" ]; then
    if command -v apt-get >/dev/null 2>&1; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            ca-certificates curl build-essential
    fi
    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal
fi
export PATH="$HOME/.cargo/bin:$PATH"

cd "$HERE/netlabs"
cargo build --release --locked -p autograder
install -D -m 755 target/release/autograder "$ROOT/bin/autograder"
# The sandbox, where the container allows one (run_autograder says so in the results if not).
if command -v apt-get >/dev/null 2>&1 && ! command -v bwrap >/dev/null 2>&1; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends bubblewrap || true
fi
# Download and compile the lab's dependencies once: each submission's build starts from a
# copy of them (and has no network).
"$ROOT/bin/autograder" batch "$LAB" --prepare --deps-cache "$ROOT/deps"
