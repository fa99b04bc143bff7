# lib.sh - what every integration test sources: counters, real etcd and dockerd, cleanup.
#
#   . "$(dirname "$0")/lib.sh"
#   t_eq "3 records" "$(reg_count web)" 3
#   wait_eq 15 "3 records" 'reg_count web' 3    # the same, retried until it holds (15 s)
#   t_done            # prints "<name>: N passed, N failed, N skipped", exits 1 if any failed
#
# Each test file gets its own environment name (MDO_TEST_ENV) so its containers and registry keys
# never meet another test's; everything it starts is removed on exit (trap).
set -u

TEST_NAME=$(basename "$0" .sh)
TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${MDO_BUILD:-$TOP/build}
MDO=$BUILD/mdo
export PATH="$BUILD:$PATH"
TMP=$(mktemp -d /tmp/mdo-test.XXXXXX)
MDO_TEST_ENV=t$$$RANDOM
T_PASS=0
T_FAIL=0
T_SKIP=0
CLEANUP=()

t_pass() { T_PASS=$((T_PASS + 1)); echo "ok - $1"; }
t_fail() { T_FAIL=$((T_FAIL + 1)); echo "not ok - $1"; shift; [ $# -gt 0 ] && printf '  %s\n' "$@"; }
# t_eq DESC GOT WANT
t_eq() {
    if [ "$2" == "$3" ]; then t_pass "$1"; else t_fail "$1" "got:      $2" "expected: $3"; fi
}
# t_match DESC GOT REGEX
t_match() {
    if [[ "$2" =~ $3 ]]; then t_pass "$1"; else t_fail "$1" "got:      $2" "expected: /$3/"; fi
}
# t_run DESC WANT_EXIT CMD... : runs CMD, checks its exit status; output in $OUT, $ERR
# (through files of this (sub)shell's own: a test may run parts side by side)
t_run() {
    local desc=$1 want=$2 rc o=$TMP/out.$BASHPID e=$TMP/err.$BASHPID
    shift 2
    "$@" >"$o" 2>"$e"
    rc=$?
    OUT=$(cat "$o")
    ERR=$(cat "$e")
    if [ "$rc" == "$want" ]; then t_pass "$desc"; else
        t_fail "$desc" "exit $rc, expected $want" "stdout: ${OUT:0:500}" "stderr: ${ERR:0:500}"
    fi
}
# t_skip N DESC: N checks that cannot run here (DESC says why); printed and counted
t_skip() { T_SKIP=$((T_SKIP + $1)); echo "skipped - $1 checks: $2"; }
# try_for SECS CMD... : runs CMD every 0.1 s until it succeeds; 1 on timeout, uncounted.
# CMD is a command with its arguments, or ONE string, which is eval'ed on every try:
#   try_for 15 '[ "$(reg_count db)" = 1 ]'      # re-evaluated each try
# (never `try_for 15 test "$(reg_count db)" = 1`: the shell expands that once, before the call)
try_for() {
    local end=$((SECONDS + $1))
    shift
    while ! if [ $# = 1 ]; then eval "$1"; else "$@"; fi >/dev/null 2>&1; do
        [ $SECONDS -ge $end ] && return 1
        sleep 0.1
    done
}
# wait_for SECS CMD... : try_for, and a timeout is a counted failed check naming CMD
wait_for() {
    local secs=$1
    try_for "$@" && return 0
    shift
    t_fail "timed out after $secs s waiting for: $*"
    return 1
}
# wait_eq SECS DESC CMD WANT : a check: CMD (a string, eval'ed each try) prints WANT within SECS
wait_eq() {
    local end=$((SECONDS + $1)) got
    while got=$(eval "$3" 2>/dev/null); [ "$got" != "$4" ]; do
        if [ $SECONDS -ge $end ]; then
            t_fail "$2" "got:      $got" "expected: $4 (within $1 s)"
            return 1
        fi
        sleep 0.1
    done
    t_pass "$2"
}
t_done() {
    echo "$TEST_NAME: $T_PASS passed, $T_FAIL failed, $T_SKIP skipped"
    [ "$T_FAIL" == 0 ]
}

cleanup() {
    local i
    for ((i = ${#CLEANUP[@]} - 1; i >= 0; i--)); do eval "${CLEANUP[$i]}" >/dev/null 2>&1; done
    if docker info >/dev/null 2>&1; then
        docker ps -aq --filter "label=mdo.environment=$MDO_TEST_ENV" | xargs -r docker rm -f >/dev/null 2>&1
    fi
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
    /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# start_dockerd: dockerd in the background, detached, with no descriptor of ours but stdio: an
# inherited one would keep the flock of /tmp/mdo-integration.lock (test/run runs under it) held
# by dockerd, and containerd, for as long as they run, so every later test would wait forever.
start_dockerd() {
    (
        for fd in /proc/$BASHPID/fd/*; do
            fd=${fd##*/}
            [ "$fd" -gt 2 ] && eval "exec $fd>&-"
        done
        dockerd >/var/log/mdo-dockerd.log 2>&1 &
    )
}
# ensure_dockerd: a Docker engine answers, started here if none did.
ensure_dockerd() {
    docker info >/dev/null 2>&1 && return 0
    start_dockerd
    try_for 60 docker info || { echo "dockerd did not start: see /var/log/mdo-dockerd.log" >&2; return 1; }
}

# bridge_gateway: the docker0 address (containers reach the host there)
bridge_gateway() {
    local gw
    gw=$(docker network inspect bridge --format '{{range .IPAM.Config}}{{.Gateway}}{{end}}' 2>/dev/null)
    [ -n "$gw" ] || gw=$(ip -4 -o addr show docker0 2>/dev/null | awk '{print $4}' | cut -d/ -f1)
    echo "$gw"
}

# start_etcd: an etcd of this test's own on free ports, on loopback and on the bridge gateway so
# containers reach it. Sets ETCD (loopback URL), ETCD_GW (gateway URL), ETCD_PID, ETCD_DIR.
start_etcd() {
    local cport pport gw
    cport=$(free_port)
    pport=$(free_port)
    gw=$(bridge_gateway)
    ETCD_DIR=$TMP/etcd
    ETCD=http://127.0.0.1:$cport
    ETCD_GW=http://$gw:$cport
    [ -n "$gw" ] || ETCD_GW=$ETCD # no Docker bridge (yet): loopback only
    ETCD_CPORT=$cport ETCD_PPORT=$pport
    run_etcd
    CLEANUP+=("kill \$ETCD_PID; wait \$ETCD_PID")
}
run_etcd() {
    etcd --name t --data-dir "$ETCD_DIR" \
        --listen-client-urls "$(echo "$ETCD,$ETCD_GW" | tr ',' '\n' | sort -u | paste -sd,)" \
        --advertise-client-urls "$ETCD" \
        --listen-peer-urls "http://127.0.0.1:$ETCD_PPORT" \
        --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PPORT" \
        --initial-cluster "t=http://127.0.0.1:$ETCD_PPORT" >>"$TMP/etcd.log" 2>&1 &
    ETCD_PID=$!
    wait_for 20 etcdctl --endpoints "$ETCD" endpoint health || { echo "etcd did not start" >&2; tail "$TMP/etcd.log" >&2; return 1; }
}
stop_etcd() { kill "$ETCD_PID"; wait "$ETCD_PID" 2>/dev/null; }

# build_test_image: the offline image $TEST_IMAGE with mdo and busybox, once per build and tag
# (auth.sh has a tag of its own: one stamp for both let the second image keep an old binary)
TEST_IMAGE=mdo-test:${BUILD##*/}  # one per build: plain and ASan binaries differ
build_test_image() {
    local stamp=$BUILD/.test-image-stamp-${TEST_IMAGE//[^A-Za-z0-9_.-]/_}
    if [ -f "$stamp" ] && [ "$stamp" -nt "$MDO" ] && docker image inspect $TEST_IMAGE >/dev/null 2>&1; then
        return 0
    fi
    "$TOP/docker/build-image" --tag $TEST_IMAGE --binary "$MDO" >/dev/null && touch "$stamp"
}

# start_subscriber: `mdo subscribe` (config from $MDO_CONFIG) in the background, logging to
# $TMP/sub.log, its pid in $SUB_PID; returns once /health answers on $SPORT (1 if it never does)
# at ${SUB_HOST:-127.0.0.1} (set SUB_HOST to the bridge address for a subscriber containers reach).
# stop_subscriber: SIGTERM, and returns its exit status. Either way it is killed on exit.
start_subscriber() {
    mdo subscribe >>"$TMP/sub.log" 2>&1 &
    SUB_PID=$!
    wait_for 10 curl -sf "http://${SUB_HOST:-127.0.0.1}:$SPORT/health"
}
stop_subscriber() { kill -TERM "$SUB_PID" 2>/dev/null; wait "$SUB_PID"; }
SUB_PID=
CLEANUP+=('[ -n "$SUB_PID" ] && kill $SUB_PID')

# etcd helpers
ectl() { etcdctl --endpoints "$ETCD" "$@"; }
# reg_count SERVICE: how many instance records the registry holds for it
reg_count() { ectl get --prefix --keys-only "/mdo/$MDO_TEST_ENV/services/$1/instances/" | grep -c . ; }

# write_config [-l LISTEN] [-r RESYNC] [-E ENDPOINTS] [-e ETCD_LINE]... [-s SUBSCRIBER_LINE]... <<YAML
# services:
#   web: ...
# YAML
# The config head most tests share, then stdin (the services and any other top-level keys), into
# $CFG (default $TMP/mdo.yaml), exported as MDO_CONFIG: this test's environment; etcd at ENDPOINTS
# (default "$ETCD") with ETCD_LINEs (username, guest...); a subscriber on LISTEN (default
# 127.0.0.1:$SPORT) resyncing every RESYNC s (default 5) with SUBSCRIBER_LINEs (token...); local
# images only (docker: {pull: never}). Block style, one key a line: tests sed it.
write_config() {
    local listen="127.0.0.1:${SPORT:-}" resync=5 endpoints="\"${ETCD:-}\"" etcd= sub= opt OPTIND=1
    while getopts "l:r:E:e:s:" opt; do
        case $opt in
        l) listen=$OPTARG ;;
        r) resync=$OPTARG ;;
        E) endpoints=$OPTARG ;;
        e) etcd+="  $OPTARG"$'\n' ;;
        s) sub+="  $OPTARG"$'\n' ;;
        *) echo "write_config: bad option" >&2; return 2 ;;
        esac
    done
    : "${CFG:=$TMP/mdo.yaml}"
    export MDO_CONFIG=$CFG
    {
        printf 'environment: %s\netcd:\n  endpoints: [%s]\n%s' "$MDO_TEST_ENV" "$endpoints" "$etcd"
        printf 'subscriber:\n  listen: "%s"\n  resync: %s\n%s' "$listen" "$resync" "$sub"
        printf 'docker:\n  pull: never\n'
        cat
    } >"$CFG"
}

# hung_peer ADDR: a peer that accepts connections and never answers (never reads, never closes):
# on the unix socket ADDR when it is a path, else on 127.0.0.1:ADDR. Returns once it listens
# (1 if it does not within 10 s), its pid in HUNG_PID; killed on exit.
hung_peer() {
    /usr/bin/python3 - "$1" <<'PY' >>"$TMP/hung-peer.log" 2>&1 &
import socket, sys
a = sys.argv[1]
if a.startswith("/"):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(a)
else:
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", int(a)))
s.listen(64)
print("listening", a, flush=True)
held = []
while True:
    c, _ = s.accept()
    held.append(c)  # never read, never answered, never closed
PY
    HUNG_PID=$!
    CLEANUP+=("kill $HUNG_PID")
    try_for 10 "grep -qxF 'listening $1' '$TMP/hung-peer.log'"
}

# hung_peer_check PORT PEER WHAT WITHIN MAX_RE: 3 checks on the subscriber at 127.0.0.1:PORT while
# its peer PEER (docker|marathon; WHAT names it in the messages) hangs: once /health names PEER
# (15 s at most), /health answers WITHIN (text) = in a time matching MAX_RE (seconds, as curl's
# time_total), names PEER, and is 503.
hung_peer_check() {
    local port=$1 peer=$2 what=$3 within=$4 re=$5 t
    wait_for 15 "curl -s -m 2 http://127.0.0.1:$port/health | jq -e '.reasons | tostring | test(\"$peer\")'"
    t=$(curl -s -m 5 -o "$TMP/health-$peer.json" -w '%{time_total}' "http://127.0.0.1:$port/health")
    echo "# figure: /health with $what hung: $t s"
    t_match "/health answers within $within with $what hung" "$t" "$re"
    t_match "/health names $peer as the peer at fault" "$(jq -c .reasons "$TMP/health-$peer.json")" "$peer"
    t_eq "/health is 503 with $what hung" "$(curl -s -m 5 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/health")" 503
}

# sigterm_check PID WHAT: 2 checks: SIGTERM to the subscriber PID (a child of this shell) makes it
# exit 0 within 5 s (WHAT: the condition it is under, for the messages)
sigterm_check() {
    local t0 rc dt
    t0=$(date +%s.%N)
    kill -TERM "$1"
    wait "$1"
    rc=$?
    dt=$(echo "$(date +%s.%N) - $t0" | bc)
    echo "# figure: SIGTERM to exit with $2: $dt s"
    t_eq "SIGTERM with $2: exit 0" "$rc" 0
    t_match "SIGTERM with $2: within 5 s" "$dt" '^[0-4]?\.[0-9]+$'
}

# t_bg NAME CMD... : runs CMD (a function of the test, with checks of its own) in a background
# subshell, beside what the test does next; its output goes to $TMP/bg-NAME.out, and what it adds
# to CLEANUP is done when it ends. t_bg_wait: waits for every one, then prints their output in the
# order they were started and adds their counts (one that ended without its counts is a failed
# check). What runs side by side must share no file, port, environment name or process.
T_BG=()
t_bg() {
    local name=$1
    shift
    (
        bg_from=${#CLEANUP[@]} T_PASS=0 T_FAIL=0 T_SKIP=0
        trap 'for ((j = ${#CLEANUP[@]} - 1; j >= bg_from; j--)); do eval "${CLEANUP[$j]}" >/dev/null 2>&1; done' EXIT
        trap 'exit 130' INT TERM
        "$@"
        echo "t_bg-counts $T_PASS $T_FAIL $T_SKIP"
    ) >"$TMP/bg-$name.out" 2>&1 &
    T_BG+=("$name:$!")
    CLEANUP+=("kill $!")
}
t_bg_wait() {
    local b name counts p f s
    for b in "${T_BG[@]}"; do
        name=${b%%:*}
        wait "${b#*:}"
        grep -v '^t_bg-counts ' "$TMP/bg-$name.out"
        counts=$(grep '^t_bg-counts ' "$TMP/bg-$name.out" | tail -1)
        if [ -n "$counts" ]; then
            read -r _ p f s <<<"$counts"
            T_PASS=$((T_PASS + p)) T_FAIL=$((T_FAIL + f)) T_SKIP=$((T_SKIP + s))
        else
            t_fail "$name (run beside the rest) ended before it counted its checks"
        fi
    done
    T_BG=()
}

# start_double VAR [ARGS...]: a marathon-double (test/marathon-double) with host ports from
# $PORT_LO (which it moves on by 100 for the next one); its URL in $VAR, its pid in ${VAR}_PID;
# stopped on exit (SIGTERM: it removes its containers). 1 if it does not start within 10 s.
start_double() {
    local var=$1 pid url i
    shift
    "$TOP/test/marathon-double/start" --port 0 --port-range "$PORT_LO-$((PORT_LO + 99))" "$@" \
        >"$TMP/double-$var.out" 2>>"$TMP/double-$var.log" &
    pid=$!
    PORT_LO=$((PORT_LO + 100))
    CLEANUP+=("kill -TERM $pid; wait $pid")
    for i in $(seq 100); do
        url=$(head -1 "$TMP/double-$var.out" 2>/dev/null)
        [ -n "$url" ] && break
        sleep 0.1
    done
    [ -n "$url" ] || { echo "marathon-double did not start" >&2; cat "$TMP/double-$var.log" >&2; return 1; }
    printf -v "$var" '%s' "$url"
    printf -v "${var}_PID" '%s' "$pid"
}
