#!/usr/bin/env bash
# perf.sh — the reference solutions' performance, measured side by side in one run.
#
#   autograder/scripts/perf.sh [OUT_DIR]        (default OUT_DIR: target/perf)
#   DURATION=3 autograder/scripts/perf.sh       (seconds per measurement, default 5)
#   ONLY="lab4 grading" autograder/scripts/perf.sh   (some sections: loadgen lab5 conns
#                                                    echo lab4 grading)
#
# Everything is measured with `autograder bench` (release builds) next to the tools people
# use — nginx, wrk, iperf3, pyftpdlib + curl — where they are installed; what is absent is
# skipped with a note. Each comparison runs its contenders back to back on the same
# machine, because only ratios measured together mean anything on a shared machine.
# Results: OUT_DIR/summary.md (the table handouts/performance.md quotes), plus each
# bench's CSV and SVG under OUT_DIR/<name>/.
#
# Servers are started by the bench itself (own process group, always torn down); the few
# started here (nginx for wrk, iperf3, the FTP servers) are stopped by the exit trap.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:-$root/target/perf}
duration=${DURATION:-5}
cores=$(nproc)
target=${CARGO_TARGET_DIR:-$root/target}
case $target in /*) ;; *) target=$root/$target ;; esac
tmp=$(mktemp -d /tmp/netlabs-perf-XXXXXX)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT
mkdir -p "$out"
summary=$out/summary.md
cd "$root"

have() { command -v "$1" >/dev/null 2>&1; }
note() { printf '%s\n' "$*" | tee -a "$summary"; }
# ratio A B: A/B with two decimals ("n/a" when B is missing or zero).
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 > 0) printf "%.2f", a / b; else print "n/a" }'; }
# csv_get FILE PROGRAM CLIENTS COLUMN: one value from a bench.csv.
csv_get() {
    awk -F, -v p="$2" -v c="$3" -v col="$4" '
        NR == 1 { for (i = 1; i <= NF; i++) idx[$i] = i; next }
        $1 == p && $2 == c { print $(idx[col]); exit }' "$1/bench.csv"
}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# wait_tcp PORT: until something accepts on 127.0.0.1:PORT (bounded: 20 s).
wait_tcp() {
    for _ in $(seq 200); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.1
    done
    echo "nothing listened on port $1 within 20 s" >&2
    return 1
}
solution() { [[ -f solutions/$1/Cargo.toml ]]; }
want() { [[ -z ${ONLY:-} || " $ONLY " == *" $1 "* ]]; }

: > "$summary"
note "# netlabs performance run"
note ""
note "$(date -u '+%Y-%m-%d %H:%M UTC'), $(uname -sr), $cores cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), ${duration} s per measurement."
note ""

echo "Building release binaries …" >&2
packages=(-p autograder)
for lab in lab1 lab2 lab3 lab4 lab5; do solution "$lab" && packages+=(-p "$lab-solution"); done
cargo build --release -q "${packages[@]}"
ag=$target/release/autograder
bench() { "$ag" bench "$@" --duration "$duration"; }
# run_bench NAME ARGS…: a bench into OUT/NAME, its table also kept in OUT/NAME/table.txt.
run_bench() {
    local name=$1; shift
    mkdir -p "$out/$name"
    bench "$@" --out "$out/$name" | tee "$out/$name/table.txt" >&2
}

# nginx from a private prefix, in the foreground (see the script's header).
nginx_at=$root/autograder/scripts/nginx-at.sh
have nginx && nginx_cmd="nginx=sh $nginx_at {port} {root}" || nginx_cmd=""

note "| target | measured (side by side) | ratio | met |"
note "|---|---|---|---|"
row() { note "| $1 | $2 | $3 | $4 |"; }
meets() { awk -v r="$1" -v t="$2" 'BEGIN { if (r == "n/a") print "not measured"; else if (r + 0 >= t + 0) print "yes"; else print "**no**" }'; }

# 1. The load generator against wrk, on the same nginx configuration, alternated.
if ! want loadgen; then :
elif [[ -n $nginx_cmd ]] && have wrk; then
    echo "Load generator vs wrk (nginx, 1 KiB, 64 clients) …" >&2
    mkdir -p "$tmp/www" && head -c 1024 /dev/urandom > "$tmp/www/bench.bin"
    # CPU per request says whether a tool is itself a bottleneck: wrk's from its rusage,
    # the bench's from the "bench cpu N%" it prints (its own process, the server excluded;
    # the connect phase is included, so this slightly overstates the bench's cost).
    ours=(); theirs=(); our_cpu=(); their_cpu=()
    for round in 1 2 3 4 5; do
        port=$(free_port)
        sh "$nginx_at" "$port" "$tmp/www" & pids+=($!); nginx_pid=$!
        wait_tcp "$port"
        /usr/bin/time -f 'cpu %U %S' -o "$tmp/wrk-time" \
            wrk -t"$cores" -c64 -d"${duration}s" "http://127.0.0.1:$port/bench.bin" > "$tmp/wrk-out"
        rps=$(awk '/^Requests\/sec/ { print $2 }' "$tmp/wrk-out")
        theirs+=("$rps")
        their_cpu+=("$(awk -v r="$rps" -v d="$duration" '/^cpu/ { printf "%.1f", ($2 + $3) * 1e6 / (r * d) }' "$tmp/wrk-time")")
        kill "$nginx_pid"; wait "$nginx_pid" 2>/dev/null || true
        mkdir -p "$out/loadgen-$round"
        bench lab5 --clients 64 --out "$out/loadgen-$round" --compare "$nginx_cmd" > /dev/null 2> "$out/loadgen-$round/stderr.txt"
        rps=$(csv_get "$out/loadgen-$round" nginx 64 requests_per_sec)
        ours+=("$rps")
        our_cpu+=("$(sed -n 's/.*bench cpu \([0-9]*\)%.*/\1/p' "$out/loadgen-$round/stderr.txt" | awk -v r="$rps" '{ printf "%.1f", $1 * 1e4 / r }')")
    done
    med() { printf "%s\n" "$@" | sort -g | sed -n 3p; }
    best() { printf "%s\n" "$@" | sort -g | tail -1; }
    r=$(ratio "$(med "${ours[@]}")" "$(med "${theirs[@]}")")
    rb=$(ratio "$(best "${ours[@]}")" "$(best "${theirs[@]}")")
    row "load generator ≥ 0.9× wrk (req/s against nginx, 1 KiB, 64 clients; median of 5 alternated runs)" \
        "bench $(med "${ours[@]}") req/s, wrk $(med "${theirs[@]}") req/s; best runs $(best "${ours[@]}") vs $(best "${theirs[@]}") ($rb×); CPU per request: bench $(med "${our_cpu[@]}") µs, wrk $(med "${their_cpu[@]}") µs (runs: bench ${ours[*]}; wrk ${theirs[*]})" "$r" "$(meets "$r" 0.9)"
else
    row "load generator vs wrk" "skipped: nginx or wrk is not installed" "n/a" "not measured"
fi

# 2. lab5's two concurrency models (thread per connection, the taught one; one readiness
# loop per core, `--model events`) against nginx: the ratio at 64 keep-alive clients on a
# 1 KiB file from 5 rounds that alternate the order of the three (median of the per-round
# ratios), the graph from 1 to 64 and from 1 to 10,000 clients, and 1 MiB throughput.
if ! want lab5; then :
elif solution lab5; then
    echo "lab5-solution (threads, events) vs nginx …" >&2
    compare=(); [[ -n $nginx_cmd ]] && compare=(--compare "$nginx_cmd")
    models=(--solution lab5:threads,lab5:events)
    lab5_exe=$target/release/lab5-solution
    if [[ -n $nginx_cmd ]]; then
        threads_r=(); events_r=(); runs=(); th_us=(); ev_us=(); ng_us=()
        for round in 1 2 3 4 5; do
            contenders=(--compare "lab5-solution:threads=$lab5_exe --model threads"
                        --compare "lab5-solution:events=$lab5_exe --model events" --compare "$nginx_cmd")
            # Odd rounds: threads, events, nginx; even rounds: the reverse.
            if ((round % 2 == 0)); then
                contenders=(--compare "$nginx_cmd" --compare "lab5-solution:events=$lab5_exe --model events"
                            --compare "lab5-solution:threads=$lab5_exe --model threads")
            fi
            mkdir -p "$out/lab5-64-$round"
            bench lab5 --clients 64 --size 1024 --out "$out/lab5-64-$round" "${contenders[@]}" > /dev/null 2> "$out/lab5-64-$round/stderr.txt"
            th=$(csv_get "$out/lab5-64-$round" lab5-solution:threads 64 requests_per_sec)
            ev=$(csv_get "$out/lab5-64-$round" lab5-solution:events 64 requests_per_sec)
            ng=$(csv_get "$out/lab5-64-$round" nginx 64 requests_per_sec)
            threads_r+=("$(ratio "$th" "$ng")"); events_r+=("$(ratio "$ev" "$ng")")
            runs+=("threads $th, events $ev, nginx $ng")
            # Server CPU per request (µs): what a request costs, whatever share of the
            # shared machine each server got (64 threads get more of it than 2 workers).
            us() { awk -v c="$(csv_get "$out/lab5-64-$round" "$1" 64 cpu_percent)" -v r="$(csv_get "$out/lab5-64-$round" "$1" 64 requests_per_sec)" 'BEGIN { if (c != "" && r > 0) printf "%.1f", c * 1e4 / r; else print "n/a" }'; }
            th_us+=("$(us lab5-solution:threads)"); ev_us+=("$(us lab5-solution:events)"); ng_us+=("$(us nginx)")
        done
        median() { printf "%s\n" "$@" | sort -g | sed -n 3p; }
        r=$(median "${events_r[@]}")
        row "lab5-solution --model events ≥ 1.0× nginx, req/s (1 KiB file, 64 keep-alive clients; median of 5 alternated rounds)" "per-round ratios ${events_r[*]} (req/s per round: $(IFS=';'; echo "${runs[*]}"))" "$r" "$(meets "$r" 1.0)"
        r=$(median "${threads_r[@]}")
        row "lab5-solution (threads) ≥ 0.9× nginx, req/s (same rounds)" "per-round ratios ${threads_r[*]}" "$r" "$(meets "$r" 0.9)"
        row "server CPU per request, µs (same rounds; lower is better; ratio: nginx's over ours)" "threads $(median "${th_us[@]}") (${th_us[*]}), events $(median "${ev_us[@]}") (${ev_us[*]}), nginx $(median "${ng_us[@]}") (${ng_us[*]})" "threads $(ratio "$(median "${ng_us[@]}")" "$(median "${th_us[@]}")")×, events $(ratio "$(median "${ng_us[@]}")" "$(median "${ev_us[@]}")")×" "-"
    fi
    run_bench lab5-1k lab5 --clients 1,4,16,64 --size 1024 "${compare[@]}" "${models[@]}"
    run_bench lab5-10k lab5 --clients 1,10,100,1000,10000 --size 1024 "${compare[@]}" "${models[@]}"
    for model in threads events; do
        rps=$(csv_get "$out/lab5-10k" "lab5-solution:$model" 10000 requests_per_sec)
        errors=$(csv_get "$out/lab5-10k" "lab5-solution:$model" 10000 errors)
        rss=$(csv_get "$out/lab5-10k" "lab5-solution:$model" 10000 rss_mb)
        row "lab5-solution ($model) at 10,000 keep-alive clients" "$rps req/s, $errors errors (clients left unanswered), RSS $rss MiB; nginx $(csv_get "$out/lab5-10k" nginx 10000 requests_per_sec) req/s, $(csv_get "$out/lab5-10k" nginx 10000 errors) errors, RSS $(csv_get "$out/lab5-10k" nginx 10000 rss_mb) MiB" "-" "-"
    done
    run_bench lab5-1m lab5 --clients 8 --size 1048576 "${compare[@]}" "${models[@]}"
    ng=$(csv_get "$out/lab5-1m" nginx 8 mb_per_sec)
    for model in threads events; do
        ours=$(csv_get "$out/lab5-1m" "lab5-solution:$model" 8 mb_per_sec)
        r=$(ratio "$ours" "$ng")
        row "lab5-solution ($model) ≥ 1.0× nginx, MB/s (1 MiB file, 8 keep-alive clients)" "lab5 $ours MB/s, nginx ${ng:-n/a} MB/s" "$r" "$(meets "$r" 1.0)"
    done
else
    row "lab5-solution vs nginx" "skipped: solutions/lab5 is not in this workspace" "n/a" "not measured"
fi

# 3. Holding many connections: lab3 (one thread) 10,000, lab2 (threads) 1,000.
if want conns && solution lab3; then
    echo "lab3-solution with 10,000 clients …" >&2
    run_bench lab3-10k lab3 --clients 10000 --solution lab3
    errors=$(csv_get "$out/lab3-10k" lab3-solution 10000 errors)
    rss=$(csv_get "$out/lab3-10k" lab3-solution 10000 rss_mb)
    rps=$(csv_get "$out/lab3-10k" lab3-solution 10000 requests_per_sec)
    met=$(awk -v e="$errors" -v m="$rss" 'BEGIN { print (e == 0 && m <= 16) ? "yes" : "**no**" }')
    row "lab3-solution holds 10,000 echo clients on one thread, RSS ≤ 16 MiB" "$rps round trips/s, $errors errors, RSS $rss MiB" "RSS $(ratio "$rss" 16)× of the budget" "$met"
fi
if want conns && solution lab2; then
    echo "lab2-solution with 1,000 clients …" >&2
    run_bench lab2-1k lab2 --clients 1000 --solution lab2
    errors=$(csv_get "$out/lab2-1k" lab2-solution 1000 errors)
    rps=$(csv_get "$out/lab2-1k" lab2-solution 1000 requests_per_sec)
    rss=$(csv_get "$out/lab2-1k" lab2-solution 1000 rss_mb)
    met=$(awk -v e="$errors" 'BEGIN { print (e == 0) ? "yes" : "**no**" }')
    row "lab2-solution holds 1,000 echo clients" "$rps round trips/s, $errors errors, RSS $rss MiB" "-" "$met"
fi

# 4. The lecture's graph: labs 1, 2, 3 on one picture.
echo_labs=(); for lab in lab1 lab2 lab3; do solution "$lab" && echo_labs+=("$lab"); done
if want echo && ((${#echo_labs[@]})); then
    echo "Echo servers, 1 to 64 clients …" >&2
    labs_csv=$(IFS=,; echo "${echo_labs[*]}")
    run_bench echo lab1 --clients 1,2,4,8,16,32,64 --solution "$labs_csv"
fi

# 5. lab4: a 1 GiB download, against iperf3's single-stream loopback rate and pyftpdlib.
if want lab4 && solution lab4; then
    echo "lab4: 1 GiB transfers …" >&2
    mkdir -p "$tmp/ftp" "$tmp/got"
    head -c 1073741824 /dev/urandom > "$tmp/ftp/big.bin"
    gib=1073741824
    iperf="n/a"
    if have iperf3 && have python3; then
        port=$(free_port)
        # Not `-1`: the readiness probe's connection would be taken as the one test.
        iperf3 -s -p "$port" > /dev/null 2>&1 & pids+=($!); iperf_pid=$!
        wait_tcp "$port"
        iperf=$(iperf3 -c 127.0.0.1 -p "$port" -t "$duration" -J |
            python3 -c 'import json,sys; print("%.0f" % (json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"] / 8e6))')
        kill "$iperf_pid"; wait "$iperf_pid" 2>/dev/null || true
    fi
    curl_ftp() { curl -s -o /dev/null -w '%{speed_download}' "ftp://127.0.0.1:$1/big.bin" | awk '{ printf "%.0f", $1 / 1e6 }'; }
    port=$(free_port)
    "$target/release/lab4-solution" server --port "$port" --root "$tmp/ftp" 2>/dev/null & pids+=($!); lab4_pid=$!
    wait_tcp "$port"
    lab4_curl="n/a"; have curl && lab4_curl=$(curl_ftp "$port")
    start=$(date +%s.%N)
    "$target/release/lab4-solution" get --port "$port" --out "$tmp/got" big.bin
    end=$(date +%s.%N)
    lab4_own=$(awk -v s="$start" -v e="$end" -v b="$gib" 'BEGIN { printf "%.0f", b / (e - s) / 1e6 }')
    rm -f "$tmp/got/big.bin"
    kill "$lab4_pid"; wait "$lab4_pid" 2>/dev/null || true
    py="n/a"
    if have curl && python3 -c 'import pyftpdlib' 2>/dev/null; then
        port=$(free_port)
        python3 -m pyftpdlib -i 127.0.0.1 -p "$port" -d "$tmp/ftp" 2>/dev/null & pids+=($!); py_pid=$!
        wait_tcp "$port"
        py=$(curl_ftp "$port")
        kill "$py_pid"; wait "$py_pid" 2>/dev/null || true
    fi
    r=$(ratio "$lab4_curl" "$iperf")
    row "lab4-solution 1 GiB server → client ≥ 0.8× iperf3 single stream" "lab4 server + curl $lab4_curl MB/s (lab4 client, to disk: $lab4_own MB/s); iperf3 $iperf MB/s" "$r" "$(meets "$r" 0.8)"
    r=$(ratio "$lab4_curl" "$py")
    row "lab4-solution ahead of pyftpdlib (both with curl)" "lab4 $lab4_curl MB/s, pyftpdlib $py MB/s" "$r" "$(meets "$r" 1.0)"
    rm -f "$tmp/ftp/big.bin"
    # Many small transfers (FTP's per-transfer cost: passive listener, connect, replies).
    ftp_compare=()
    python3 -c 'import pyftpdlib' 2>/dev/null &&
        ftp_compare=(--compare "pyftpdlib=python3 -m pyftpdlib --port {port} --directory {root} --interface 127.0.0.1")
    run_bench lab4-1k lab4 --clients 1,4,16,64 --size 1024 --solution lab4 "${ftp_compare[@]}"
    ours=$(csv_get "$out/lab4-1k" lab4-solution 16 requests_per_sec)
    theirs=$(csv_get "$out/lab4-1k" pyftpdlib 16 requests_per_sec)
    r=$(ratio "$ours" "$theirs")
    row "lab4-solution ahead of pyftpdlib, transfers/s (1 KiB RETRs, 16 clients, \`autograder bench lab4\`)" "lab4 $ours/s, pyftpdlib ${theirs:-n/a}/s" "$r" "$(meets "$r" 1.0)"
fi

# 6. Grading time: every registered lab's reference, built beforehand (build time is not
# grading time), graded one after another.
want grading && echo "Grading the references …" >&2
total=0; graded=()
for lab in lab1 lab2 lab3 lab4 lab5; do
    want grading || continue
    solution "$lab" || continue
    "$ag" list "$lab" > /dev/null 2>&1 || continue
    cargo build -q -p "$lab-solution"
    start=$(date +%s.%N)
    "$ag" grade "$lab" --solution > "$out/grade-$lab.txt" 2>&1 || echo "  $lab: not full marks, see $out/grade-$lab.txt" >&2
    end=$(date +%s.%N)
    secs=$(awk -v s="$start" -v e="$end" 'BEGIN { printf "%.1f", e - s }')
    total=$(awk -v t="$total" -v s="$secs" 'BEGIN { printf "%.1f", t + s }')
    graded+=("$lab $secs s")
done
met=$(awk -v t="$total" -v n="${#graded[@]}" 'BEGIN { print (n == 5 && t <= 30) ? "yes" : (t <= 30 ? "yes for the " n " registered labs" : "**no**") }')
want grading && row "grading all references ≤ 30 s in total on $cores cores" "$total s (${graded[*]})" "$(ratio "$total" 30)× of the budget" "$met"

note ""
note "Graphs: $out/echo/bench.svg, $out/lab5-1k/bench.svg, $out/lab5-10k/bench.svg, $out/lab4-1k/bench.svg; tables: $out/*/table.txt"
echo "Wrote $summary" >&2
