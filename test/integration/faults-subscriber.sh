#!/usr/bin/env bash
# faults-subscriber.sh - the subscriber itself fails: SIGKILLed in the middle of a batch (a scale
# from 1 to 20 being registered) and restarted: it converges, with no duplicate and no stale
# record. Then two subscribers, the leader SIGSTOPped for longer than its lease and resumed: by
# etcd's revision history, no registry write after the takeover came from it (every write since
# the new leader key's create_revision is one the new leader logged, none the old one did).
# Counted: records lost, stale and duplicated after each recovery (all 0).
. "$(dirname "$0")/lib.sh"

ensure_dockerd || exit 1
build_test_image || { echo "cannot build the test image" >&2; exit 1; }
start_etcd || exit 1
SPORT=$(free_port)
cat >"$TMP/mdo.yaml" <<YAML
environment: $MDO_TEST_ENV
etcd: {endpoints: ["$ETCD"]}
subscriber: {listen: "127.0.0.1:$SPORT", resync: 2}
docker: {pull: never}
services:
  web:
    image: $TEST_IMAGE
    instances: 1
    cpus: 0.05
    mem: 32
    args: [sleep, "600"]
YAML
export MDO_CONFIG=$TMP/mdo.yaml
P=/mdo/$MDO_TEST_ENV/services/web/instances
LOST=0 STALE=0 DUPS=0 FAULTS_KILL=0 FAULTS_STOP=0

docker_list() { docker ps --filter "label=mdo.environment=$MDO_TEST_ENV" --filter label=mdo.service=web --format '{{.Names}}' | sort; }
reg_list() { ectl get --prefix --keys-only "$P/" | grep . | sed "s|^$P/||" | sort; }
in_sync() { [ "$(docker_list)" == "$(reg_list)" ]; }
check_equal() { # check_equal WHAT: lost, stale and duplicated records, counted
    local l s d
    try_for 25 in_sync
    l=$(comm -23 <(docker_list) <(reg_list) | grep -c .)
    s=$(comm -13 <(docker_list) <(reg_list) | grep -c .)
    # a duplicate: two records naming one container (by name or by id)
    d=$(ectl get --prefix --print-value-only "$P/" | jq -r '.container // empty' | sort | uniq -d | grep -c .)
    LOST=$((LOST + l)) STALE=$((STALE + s)) DUPS=$((DUPS + d))
    t_eq "$1: no container left unregistered" "$l" 0
    t_eq "$1: no stale record" "$s" 0
    t_eq "$1: no duplicate record" "$d" 0
    t_match "$1: the registry is not empty" "$(reg_list | grep -c .)" '^[1-9]'
}
sub() { # sub PORT LOG: a subscriber with a 2 s lease; its pid in $!
    mdo subscribe --listen "127.0.0.1:$1" --lease 2 >>"$TMP/$2" 2>&1 &
}
role() { curl -s -m 1 "http://127.0.0.1:$1/health" | jq -r .role 2>/dev/null; }
dump_logs() { [ "$T_FAIL" = 0 ] || tail -n 30 "$TMP"/*.log; }

# --- SIGKILL in the middle of a batch ---
sub "$SPORT" sub.log
SUB_PID=$!
wait_for 10 curl -sf "http://127.0.0.1:$SPORT/health"
t_run "launch web --wait (1 instance)" 0 mdo launch web --wait
try_for 10 '[ "$(reg_list | grep -c .)" = 1 ]'
mdo scale web 20 >"$TMP/scale.out" 2>&1 &
S=$!
try_for 60 '[ "$(reg_list | grep -c .)" -ge 4 ]'
mid=$(reg_list | grep -c .)
kill -KILL "$SUB_PID"
wait "$SUB_PID" 2>/dev/null
FAULTS_KILL=$((FAULTS_KILL + 1))
echo "# figure: subscriber SIGKILLed with $mid of 20 records written"
t_match "killed in the middle of the batch" "$mid" '^([4-9]|1[0-9])$'
wait $S
t_eq "the scale to 20 finished" "$?" 0
sub "$SPORT" sub.log
SUB_PID=$!
t0=$(date +%s.%N)
try_for 30 '[ "$(reg_list | grep -c .)" = 20 ]'
echo "# figure: restarted subscriber to 20 records: $(echo "$(date +%s.%N) - $t0" | bc) s (lease 2 s)"
t_eq "20 containers run" "$(docker_list | grep -c .)" 20
check_equal "restarted after SIGKILL"
kill -TERM "$SUB_PID"
wait "$SUB_PID"
SUB_PID=

# --- two subscribers; the leader SIGSTOPped past its lease, then resumed ---
PA=$(free_port) PB=$(free_port)
sub "$PA" a.log
A=$!
CLEANUP+=("kill -9 $A")
try_for 10 '[ "$(role $PA)" = leader ]'
sub "$PB" b.log
B=$!
CLEANUP+=("kill -9 $B")
wait_for 10 '[ "$(role $PB)" = follower ]'
kill -STOP "$A"
FAULTS_STOP=$((FAULTS_STOP + 1))
wait_for 10 '[ "$(role $PB)" = leader ]'
RB=$(ectl get "/mdo/$MDO_TEST_ENV/leader" -w json | jq -r '.kvs[0].create_revision')
t_eq "the leader key is the new one's" "$(ectl get --print-value-only "/mdo/$MDO_TEST_ENV/leader" | jq -r .id | sed 's/.*://')" "$B"
# while the old leader sleeps, the scheduler changes: both see it when it wakes
for i in 3 4 5; do docker rm -f "$MDO_TEST_ENV-web-$i" >/dev/null; done
try_for 10 '[ "$(reg_list | grep -c .)" = 17 ]'
sleep 1 # past its lease by now (2 s) in any case
na=$(grep -c -e 'msg="registered"' -e 'msg="deregistered"' "$TMP/a.log")
kill -CONT "$A"
# and once more after it woke: its events stream delivers these too
sleep 0.5
for i in 6 7; do docker rm -f "$MDO_TEST_ENV-web-$i" >/dev/null; done
try_for 10 '[ "$(reg_list | grep -c .)" = 15 ]'
sleep 3 # a resync (2 s) of both
t_eq "the one that stalled follows after it woke" "$(role $PA)" follower
t_eq "the new leader still leads" "$(role $PB)" leader
# etcd's history since the takeover: every write there is one B logged, none is one A logged
now=$(ectl get "/mdo/$MDO_TEST_ENV/leader" -w json | jq -r '.header.revision')
timeout 3 etcdctl --endpoints "$ETCD" watch --prefix "/mdo/$MDO_TEST_ENV/services/" --rev "$RB" -w json >"$TMP/history.json" 2>/dev/null
writes=$(jq -r '.Events[]? | "\(.kv.mod_revision) \(.kv.key | @base64d)"' "$TMP/history.json" | sed "s|$P/||" | sort -u)
nw=$(echo "$writes" | grep -c .)
echo "# figure: registry writes between revisions $RB and $now: $nw"
t_match "the history after the takeover holds the removals" "$nw" '^[1-9]'
a_after=$(($(grep -c -e 'msg="registered"' -e 'msg="deregistered"' "$TMP/a.log") - na))
t_eq "the stalled leader logged no write after it woke" "$a_after" 0
unexplained=0
while read -r rev name; do
    [ -n "$name" ] || continue
    grep -Eq "container=$name( |\$)" "$TMP/b.log" || { unexplained=$((unexplained + 1)); echo "  rev $rev $name: not B's"; }
done <<<"$writes"
t_eq "every write after the takeover is the new leader's" "$unexplained" 0
fo=$(curl -s "http://127.0.0.1:$PA/metrics" | awk '$1 == "mdo_registry_dropped_total" || $1 == "mdo_registry_fenced_out_total" {s += $2} END {print s + 0}')
echo "# figure: writes the woken leader dropped or had fenced out: $fo (0: it knew it had lost the lease before it tried)"
check_equal "after the stalled leader came back"
kill -TERM "$A" "$B"
wait "$A"
t_eq "the old leader exits 0" "$?" 0
wait "$B"
t_eq "the new leader exits 0" "$?" 0
echo "# figure: faults injected: subscriber-kill=$FAULTS_KILL leader-stop=$FAULTS_STOP; lost=$LOST stale=$STALE duplicates=$DUPS"
echo "# figure: $TEST_NAME took $SECONDS s"
dump_logs
t_done
