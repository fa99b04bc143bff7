#!/usr/bin/env bash
# keeper.sh - the keeper against peers that misbehave: a Docker engine that accepts and never
# answers (/health still answers at once and names docker; SIGTERM still exits 0 within 5 s);
# two subscribers on one etcd never both lead, also when the leader stalls (SIGSTOP) and comes
# back; a Marathon that accepts and never answers (the same: /health at once, naming marathon;
# SIGTERM exits 0 within 5 s); a container labelled mdo.service=a/b does not make the reconcile passes loop.
. "$(dirname "$0")/lib.sh"

start_etcd || exit 1

# --- a hung engine: a unix socket that accepts and never answers ---
HUNG=$TMP/hung.sock
hung_peer "$HUNG" || { echo "the hung engine did not start" >&2; exit 1; }

PA=$(free_port) PB=$(free_port)
cat >"$TMP/hung.yaml" <<YAML
environment: $MDO_TEST_ENV
etcd: {endpoints: ["$ETCD"]}
subscriber: {resync: 5}
docker: {socket: "$HUNG"}
services:
  web: {image: busybox, instances: 1}
YAML
export MDO_CONFIG=$TMP/hung.yaml
dump_logs() { [ "$T_FAIL" = 0 ] || tail -n 25 "$TMP"/*.log; }
code() { curl -s -m 5 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$1/health"; }
answers() { [ "$(code "$1")" != 000 ]; }
role() { curl -s -m 1 "http://127.0.0.1:$1/health" | jq -r .role 2>/dev/null; }

# The hung Marathon and the a/b label run beside the hung engine's part (t_bg), each with an
# environment of its own (a subshell's MDO_TEST_ENV: one leader key each), ports and files.
hung_marathon() {
    MDO_TEST_ENV=${MDO_TEST_ENV}m
    # --- a hung Marathon: a TCP server that accepts and never answers, as marathon.url ---
    MPORT=$(free_port)
    hung_peer "$MPORT" || { t_fail "the hung Marathon did not start"; return; }
    PM=$(free_port)
    cat >"$TMP/hungm.yaml" <<YAML
environment: $MDO_TEST_ENV
scheduler: marathon
etcd: {endpoints: ["$ETCD"]}
marathon: {url: "http://127.0.0.1:$MPORT"}
subscriber: {resync: 5}
services:
  web: {image: busybox, instances: 1}
YAML
    mdo subscribe -c "$TMP/hungm.yaml" --listen 127.0.0.1:$PM --lease 3 >>"$TMP/m.log" 2>&1 &
    M=$!
    CLEANUP+=("kill -9 \$M")
    wait_for 10 answers $PM
    hung_peer_check $PM marathon Marathon "50 ms" '^0\.0[0-4][0-9]*$'
    sigterm_check $M "Marathon hung"
}
ab_label() {
    MDO_TEST_ENV=${MDO_TEST_ENV}a
    # --- a label mdo.service=a/b: logged once and skipped, the passes do not loop ---
    if ! ensure_dockerd; then
        t_skip 3 "no Docker engine"
        return
    fi
    SPORT=$(free_port)
    IMG=$(docker image ls --format '{{.Repository}}:{{.Tag}}' | grep -m1 '^mdo-test:')
    if [ -z "$IMG" ]; then
        build_test_image || { t_skip 3 "no test image"; return; }
        IMG=$TEST_IMAGE
    fi
    CLEANUP+=("docker rm -f $MDO_TEST_ENV-ab-1")
    docker run -d --name "$MDO_TEST_ENV-ab-1" --label "mdo.environment=$MDO_TEST_ENV" \
        --label mdo.service=a/b "$IMG" sleep 600 >/dev/null
    cat >"$TMP/ab.yaml" <<YAML
environment: $MDO_TEST_ENV
etcd: {endpoints: ["$ETCD"]}
subscriber: {resync: 1, listen: "127.0.0.1:$SPORT"}
services:
  web: {image: busybox, instances: 1}
YAML
    export MDO_CONFIG=$TMP/ab.yaml
    mdo subscribe >>"$TMP/ab.log" 2>&1 &
    SUB_PID=$!
    wait_for 10 answers $SPORT
    reconciles() { curl -s "http://127.0.0.1:$SPORT/metrics" | awk '$1 == "mdo_reconciles_total" {print $2}'; }
    wait_for 10 sh -c "[ \"\$(curl -s http://127.0.0.1:$SPORT/metrics | awk '\$1 == \"mdo_reconciles_total\" {print \$2}')\" -ge 1 ]"
    r0=$(reconciles)
    sleep 4
    r1=$(reconciles)
    echo "# figure: reconcile passes in 4 s with resync 1 and an a/b label: $((r1 - r0))"
    t_match "passes follow the resync, no loop (2..6 in 4 s)" "$((r1 - r0))" '^[2-6]$'
    t_eq "nothing written under services/a" "$(ectl get --prefix --keys-only "/mdo/$MDO_TEST_ENV/services/a" | grep -c .)" 0
    t_eq "the refusal is logged once" "$(grep -c -e 'names cannot be a registry key' -e 'container skipped, not registered' -e 'events of a container skipped' "$TMP/ab.log")" 1
    stop_subscriber
    SUB_PID=
}
t_bg hung-marathon hung_marathon
t_bg ab-label ab_label

mdo subscribe --listen 127.0.0.1:$PA --lease 3 >>"$TMP/a.log" 2>&1 &
A=$!
CLEANUP+=("kill -9 \$A")
wait_for 10 answers $PA
# the first pass is stuck in the engine's listing by now (it names docker after 3 s)
hung_peer_check $PA docker "the Docker engine" "1 s" '^0\.[0-9]+$'
t=$(curl -s -m 5 -o /dev/null -w '%{time_total}' "http://127.0.0.1:$PA/metrics")
echo "# figure: /metrics with a hung Docker engine: $t s"
t_match "/metrics answers within 1 s too" "$t" '^0\.[0-9]+$'
t_eq "it leads all the same (the lease is renewed by its own thread)" "$(role $PA)" leader

# --- a second subscriber: never two leaders, also across a stalled leader ---
mdo subscribe --listen 127.0.0.1:$PB --lease 3 >>"$TMP/b.log" 2>&1 &
B=$!
CLEANUP+=("kill -9 \$B")
wait_for 10 answers $PB
both=0 one=0 none=0 keyok=0 keybad=0 ts=$SECONDS
holder_pid() { ectl get --print-value-only "/mdo/$MDO_TEST_ENV/leader" | jq -r .id 2>/dev/null | sed 's/.*://'; }
sample() { # $1 = how many 0.2 s samples; counts both/one/none and whether the key names the one
    local i ra rb hp
    for ((i = 0; i < $1; i++)); do
        ra=$(role $PA) rb=$(role $PB)
        case "$ra $rb" in
        "leader leader") both=$((both + 1)) ;;
        "leader "*) one=$((one + 1)); hp=$(holder_pid); [ "$hp" = "$A" ] && keyok=$((keyok + 1)) || keybad=$((keybad + 1)) ;;
        *" leader") one=$((one + 1)); hp=$(holder_pid); [ "$hp" = "$B" ] && keyok=$((keyok + 1)) || keybad=$((keybad + 1)) ;;
        *) none=$((none + 1)) ;;
        esac
        sleep 0.2
    done
}
sample 20
# the leader stalls (SIGSTOP) past its lease; the other takes over; the stalled one comes back
if [ "$(role $PA)" = leader ]; then L=$A LP=$PA F=$B FP=$PB; else L=$B LP=$PB F=$A FP=$PA; fi
kill -STOP $L
took=0
for ((i = 0; i < 40; i++)); do # the stalled one cannot answer; the other must take over
    [ "$(role $FP)" = leader ] && { took=1; break; }
    sleep 0.2
done
echo "# figure: the other leads after the leader stalled: $(echo "$i * 0.2" | bc) s (lease 3 s)"
t_eq "the other takes over from a stalled leader" "$took" 1
kill -CONT $L
t_eq "a stalled leader that comes back follows (it stepped down before its TTL)" "$(role $LP)" follower
sample 10
echo "# figure: leadership samples over $((SECONDS - ts)) s: one=$one none=$none both=$both (key named the one: $keyok, not: $keybad)"
t_eq "never two leaders at once" "$both" 0
t_match "one leader most of the time" "$one" '^(2[4-9]|[3-9][0-9]|[1-9][0-9]{2,})$'
t_eq "the leader key always names the subscriber that says leader" "$keybad" 0
t_eq "the follower took over" "$(role $FP)" leader

# --- SIGTERM under the hang: exit 0 within 5 s (the one stuck in a listing is abandoned) ---
sigterm_check $F "the Docker engine hung"
wait_for 8 sh -c "[ \"\$(curl -s -m 2 http://127.0.0.1:$LP/health | jq -r .role)\" = leader ]"
t_eq "the lease was given back: the other leads again soon" "$(role $LP)" leader
kill -TERM $L
wait $L
t_eq "the second one exits 0 as well" "$?" 0
t_eq "no error lines in the logs" "$(cat "$TMP"/a.log "$TMP"/b.log | grep -c 'level=error')" 0

t_bg_wait
dump_logs
t_done
