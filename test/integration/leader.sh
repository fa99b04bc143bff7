#!/usr/bin/env bash
# leader.sh - several subscribers: one leads (etcd lease) and writes; when it dies the other
# takes over within the lease time and the registry stays equal to what runs.
. "$(dirname "$0")/lib.sh"

ensure_dockerd || exit 1
start_etcd || exit 1
build_test_image || exit 1
CFG=$TMP/mdo.yaml
cat >"$CFG" <<YAML
environment: $MDO_TEST_ENV
etcd: {endpoints: ["$ETCD"]}
subscriber: {resync: 30}
docker: {pull: never}
services:
  web:
    image: $TEST_IMAGE
    ports: {http: 8080}
    instances: 2
    args: [httpd, -f, -p, "8080", -h, /tmp]
YAML
export MDO_CONFIG=$CFG
P=/mdo/$MDO_TEST_ENV/services/web/instances
PA=$(free_port) PB=$(free_port)
mdo subscribe --listen 127.0.0.1:$PA --lease 3 >>"$TMP/a.log" 2>&1 &
A=$!
mdo subscribe --listen 127.0.0.1:$PB --lease 3 >>"$TMP/b.log" 2>&1 &
B=$!
CLEANUP+=("kill -9 $A $B")
role() { curl -s "http://127.0.0.1:$1/health" | jq -r .role; }
roles() { echo "$(role $PA) $(role $PB)"; }
one_leader() { case "$(roles)" in "leader follower"|"follower leader") return 0 ;; esac; return 1; }
count_is() { [ "$(reg_count web)" == "$1" ]; }
docker_names() { docker ps --filter "label=mdo.environment=$MDO_TEST_ENV" --format '{{.Names}}' | sort | tr '\n' ' '; }
reg_names() { ectl get --prefix --keys-only "$P/" | grep . | sed "s|^$P/||" | sort | tr '\n' ' '; }

wait_for 15 one_leader
t_match "exactly one leader" "$(roles)" "^(leader follower|follower leader)$"
t_eq "both answer /health 200" "$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:$PA/health) $(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:$PB/health)" "200 200"
t_match "the leader key names the leader" "$(ectl get --print-value-only /mdo/$MDO_TEST_ENV/leader)" '"id":".*:[0-9]+"'
t_run "launch 2" 0 mdo launch web --wait
wait_for 15 count_is 2
t_eq "registered by the leader" "$(reg_names)" "$(docker_names)"
if [ "$(role $PA)" = leader ]; then L=$A LP=$PA F=$B FP=$PB; else L=$B LP=$PB F=$A FP=$PA; fi
t_eq "the follower serves reads too" "$(curl -s http://127.0.0.1:$FP/v1/services/web | jq -r '.services.web | length')" 2

# the leader dies without a word: the follower takes over when the lease runs out
kill -9 $L
t0=$(date +%s.%N)
wait_for 15 sh -c "[ \"\$(curl -s http://127.0.0.1:$FP/health | jq -r .role)\" = leader ]"
echo "# figure: takeover after kill -9 of the leader (lease 3 s): $(echo "$(date +%s.%N) - $t0" | bc) s"
t_eq "follower took over" "$(role $FP)" leader
t_run "scale to 3 after the takeover" 0 mdo scale web 3 --wait
wait_for 15 count_is 3
t_eq "the new leader keeps the registry true" "$(reg_names)" "$(docker_names)"
docker kill "$MDO_TEST_ENV-web-1" >/dev/null
wait_for 10 count_is 2
t_eq "and deregisters" "$(reg_names)" "$(docker_names)"

# a second subscriber again; then the leader stops cleanly: the other takes over at once
mdo subscribe --listen 127.0.0.1:$LP --lease 30 >>"$TMP/c.log" 2>&1 &
C=$!
CLEANUP+=("kill -9 $C")
wait_for 10 curl -sf http://127.0.0.1:$LP/health
t_eq "a newcomer follows" "$(role $LP)" follower
kill -TERM $F
wait $F
t_eq "leader exits 0 on SIGTERM" "$?" 0
wait_for 12 sh -c "[ \"\$(curl -s http://127.0.0.1:$LP/health | jq -r .role)\" = leader ]"
t_eq "resigned lease: the newcomer leads within a tick, not after 30 s" "$(role $LP)" leader
mdo stop web >/dev/null 2>&1
wait_for 10 count_is 0
t_eq "stop: registry empty" "$(reg_count web)" 0
kill -TERM $C; wait $C
t_eq "no error lines in the logs" "$(cat "$TMP"/*.log | grep -c 'level=error')" 0
t_done
