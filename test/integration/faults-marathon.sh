#!/usr/bin/env bash
# faults-marathon.sh - scheduler-side faults under a running subscriber (events mode) on the
# Marathon double (issue 13): the SSE stream dropped, 5xx on /v2/* for seconds, slow answers,
# events lost, a Marathon restart (every connection cut, state kept), a failover to the standby
# and back. Each fault is injected while tasks are launched, scaled or killed; the subscriber
# must reconnect with backoff and heal by reconcile: afterwards the registry equals the
# double's running tasks, counted as "lost" (a task with no record) and "stale" (a record with
# no task), both 0. Reconnect and heal times are "# figure:" lines. The fault switches are the
# double's test controls (test/marathon-double/README.md "Fault switches"), not Marathon's.
. "$(dirname "$0")/lib.sh"

ensure_dockerd || exit 1
start_etcd || exit 1
build_test_image || { echo "cannot build the test image" >&2; exit 1; }
PORT_LO=$((33000 + (RANDOM % 100) * 300))

"$TOP/test/marathon-double/start" --port 0 --standby-port 0 --task-delay 0.3 --sse-heartbeat 1 \
    --port-range "$PORT_LO-$((PORT_LO + 99))" >"$TMP/double.out" 2>>"$TMP/double.log" &
MAR_PID=$!
CLEANUP+=("kill -TERM $MAR_PID; wait $MAR_PID")
try_for 10 '[ -n "$(head -1 "$TMP/double.out")" ]' || { echo "marathon-double did not start" >&2; cat "$TMP/double.log" >&2; exit 1; }
MAR=$(head -1 "$TMP/double.out")
STANDBY=$(curl -s "$MAR/_double/state" | jq -r '.listeners[1]')

SPORT=$(free_port)
export MDO_CONFIG=$TMP/mdo.yaml
cat >"$MDO_CONFIG" <<YAML
environment: $MDO_TEST_ENV
scheduler: marathon
etcd:
  endpoints: ["$ETCD_GW"]
marathon:
  url: $MAR
subscriber:
  listen: "127.0.0.1:$SPORT"
  resync: 4
services:
  web:
    image: $TEST_IMAGE
    ports:
      http: 8080
    instances: 2
    cpus: 0.05
    mem: 32
    args: [sh, -c, 'exec httpd -f -p 8080 -h /tmp']
YAML
APP=/$MDO_TEST_ENV/web
P=/mdo/$MDO_TEST_ENV/services/web/instances

faults() { curl -s -X POST -d "$1" "$MAR/_double/faults" >/dev/null; }
running() { curl -s -m 5 "$MAR/v2/apps$APP/tasks" | jq -r '.tasks[] | select(.state == "TASK_RUNNING") | .id' | sort; }
records() { ectl get --prefix --keys-only "$P/" | grep . | sed "s|^$P/||" | sort; }
n_running() { [ "$(running | grep -c .)" == "$1" ]; }
in_sync() { local t; t=$(running); [ -n "$t" ] && [ "$t" == "$(records)" ]; }
container_of() { curl -s "$MAR/_double/state" | jq -r --arg t "$1" '.containers[$t]'; }
connects() { grep -c 'event stream connected' "$TMP/sub.log"; }
ended() { grep -c 'event stream ended, reconnecting' "$TMP/sub.log"; }
now() { date +%s.%N; }
since() { echo "$(now) - $1" | bc; }
declare -A FAULTS=()
LOST=0 STALE=0

# healed WHAT N SECS: waits until N tasks run and the registry equals them, then counts lost
# (running tasks without a record) and stale (records without a running task) as checks
healed() {
    local what=$1 n=$2 t0 lost stale
    t0=$(now)
    wait_for "$3" n_running "$n"
    wait_for "$3" in_sync
    echo "# figure: faults-marathon: $what: registry = tasks $(since "$t0") s after recovery"
    lost=$(comm -23 <(running) <(records) | grep -c .)
    stale=$(comm -13 <(running) <(records) | grep -c .)
    LOST=$((LOST + lost)) STALE=$((STALE + stale))
    t_eq "$what: lost records (tasks without a record)" "$lost" 0
    t_eq "$what: stale records (records without a task)" "$stale" 0
}
# reconnected WHAT C0: waits for a stream connect after the C0th, prints the time it took
reconnected() {
    local t0
    t0=$(now)
    wait_for 30 '[ "$(connects)" -gt '"$2"' ]' &&
        echo "# figure: faults-marathon: $1: stream reconnected $(since "$t0") s after recovery"
}

# fresh_subscriber: a new subscriber, connected. mdo's reconnect backoff restarts only after a
# stream that lasted 30 s (cmd/subscribe.c events_main), so faults in quick succession would
# climb to its 30 s cap; each phase that times a reconnect starts from a fresh one
fresh_subscriber() {
    local c
    [ -n "$SUB_PID" ] && stop_subscriber
    c=$(connects 2>/dev/null || echo 0)
    start_subscriber || exit 1
    try_for 10 '[ "$(connects)" -gt '"$c"' ]'
}

fresh_subscriber
t_run "launch web --wait (2 tasks)" 0 mdo launch web --wait
healed "launch" 2 20
c=$(connects)
t_eq "the subscriber's event stream is connected" "$([ "$c" -ge 1 ] && echo yes)" yes

# --- 1. the SSE stream dropped while scaling to 3 ---
c=$(connects)
faults '{"drop_streams": true}'
FAULTS[drop_stream]=$((${FAULTS[drop_stream]:-0} + 1))
t_run "scale web 3 while the stream is down" 0 mdo scale web 3
reconnected "dropped stream" "$c"
healed "dropped stream + scale to 3" 3 20

# --- 2. 5xx on every /v2/* for 3 s (the stream too) while a task is killed ---
c=$(connects) e=$(ended)
faults '{"fail_for_ms": 3000, "fail_status": 503, "fail_path": "^/v2/"}'
faults '{"drop_streams": true}'
FAULTS[http_5xx]=$((${FAULTS[http_5xx]:-0} + 1))
K=$(running | head -1)
docker kill "$(container_of "$K")" >/dev/null
sleep 3
tries=$(($(ended) - e))
t_match "5xx for 3 s: the stream was retried, with backoff (not spinning): $tries attempts" "$tries" '^[2-7]$'
reconnected "5xx for 3 s" "$c"
healed "5xx for 3 s + a killed task" 3 25
t_eq "the killed task has no record" "$(records | grep -c "^$K$")" 0

fresh_subscriber
# --- 3. slow answers: every /v2/* 1.5 s late while scaling to 4, and the stream dropped ---
c=$(connects)
faults '{"delay_ms": 1500, "delay_path": "^/v2/"}'
faults '{"drop_streams": true}'
FAULTS[slow]=$((${FAULTS[slow]:-0} + 1))
t0=$(now)
t_run "scale web 4 on a slow Marathon" 0 mdo scale web 4
echo "# figure: faults-marathon: mdo scale with every answer 1.5 s late: $(since "$t0") s"
reconnected "slow answers" "$c"
healed "slow answers + scale to 4 (delay still on)" 4 30
faults '{"clear": true}'

# --- 4. events lost for 5 s while scaling to 2 and killing a task: the resync (4 s) heals ---
d0=$(grep -c 'reconcile: deregister' "$TMP/sub.log")
faults '{"lose_events_ms": 5000}'
FAULTS[lost_events]=$((${FAULTS[lost_events]:-0} + 1))
t_run "scale web 2 (its events are lost)" 0 mdo scale web 2
try_for 15 n_running 2
K=$(running | head -1)
docker kill "$(container_of "$K")" >/dev/null
try_for 15 '! running | grep -q "^$K$"'
healed "lost events + scale to 2 + a killed task" 2 25
t_eq "healed by a reconcile pass (no event came)" "$([ "$(grep -c 'reconcile: deregister' "$TMP/sub.log")" -gt "$d0" ] && echo yes)" yes

fresh_subscriber
# --- 5. a Marathon restart (every connection cut, 2 s down, state kept) during a scale ---
c=$(connects) e=$(ended)
t_run "scale web 3" 0 mdo scale web 3
faults '{"restart": {"downtime_ms": 2000, "drop_subscriptions": false}}'
FAULTS[restart]=$((${FAULTS[restart]:-0} + 1))
sleep 2
reconnected "restart (2 s down)" "$c"
t_match "restart: reconnect attempts while it was down, with backoff: $(($(ended) - e))" "$(($(ended) - e))" '^[1-6]$'
healed "restart + scale to 3" 3 25

fresh_subscriber
# --- 6. failover to the standby while a task is killed, then back ---
c=$(connects)
K=$(running | head -1)
faults '{"failover": {"downtime_ms": 1000}}'
FAULTS[failover]=$((${FAULTS[failover]:-0} + 1))
docker kill "$(container_of "$K")" >/dev/null
t_eq "the standby leads now" "$(curl -s "$MAR/_double/state" | jq -r .leader)" "$STANDBY"
reconnected "failover to the standby" "$c"
t_match "the subscriber followed the redirect to the new leader" \
    "$(grep -c 'a standby redirected the event stream: following the leader' "$TMP/sub.log")" '^[1-9]'
healed "failover + a killed task" 3 25
c=$(connects)
t_run "scale web 4 through the old leader (forwarded)" 0 mdo scale web 4
healed "scale to 4 on the new leader" 4 25
faults '{"failover": true}'
FAULTS[failover]=$((${FAULTS[failover]:-0} + 1))
t_eq "the first listener leads again" "$(curl -s "$MAR/_double/state" | jq -r .leader)" "$MAR"
reconnected "failback" "$c"
t_run "scale web 2 after the failback" 0 mdo scale web 2
healed "failback + scale to 2" 2 25

# --- totals ---
total=0
for k in "${!FAULTS[@]}"; do
    echo "# figure: faults-marathon: faults injected: $k ${FAULTS[$k]}"
    total=$((total + FAULTS[$k]))
done
echo "# figure: faults-marathon: faults injected in all: $total, records lost: $LOST, stale: $STALE"
t_eq "six kinds of fault were injected" "${#FAULTS[@]}" 6
t_run "stop web" 0 mdo stop web
wait_eq 20 "stop: registry empty" 'records | grep -c .' 0
stop_subscriber
t_eq "subscriber exits 0 on SIGTERM after the faults" "$?" 0
t_eq "no sanitizer report in the subscriber log" "$(grep -c 'Sanitizer\|runtime error' "$TMP/sub.log")" 0
[ -n "${KEEP_TMP:-}" ] && cp -r "$TMP" /tmp/keep-$TEST_NAME
t_done
