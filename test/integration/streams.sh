#!/usr/bin/env bash
# streams.sh - honest event streams and honest numbers (issue 10): the Docker stream counts as
# connected only once the engine answered, and a stalled engine (accepts, never answers) is
# noticed by GET /_ping and the stream reconnects; a container labelled mdo.service=a/b is
# logged once and skipped; `mdo status` shows the scaled count as wanted on Docker and on
# Marathon; a burst of 1,000 Marathon events of one app costs a bounded number of app reads
# (counted in the double's request log) and leaves records equal to the reconcile's.
. "$(dirname "$0")/lib.sh"

ensure_dockerd || exit 1
start_etcd || exit 1
build_test_image || { echo "cannot build the test image" >&2; exit 1; }
SPORT=$(free_port)
P=/mdo/$MDO_TEST_ENV/services/web/instances

# The three parts share nothing but etcd: each has its own environment (a subshell's
# MDO_TEST_ENV), port, files and subscriber. The stalled engine and the Marathon burst run
# beside the real engine (t_bg).
stalled_engine() {
    MDO_TEST_ENV=${MDO_TEST_ENV}h HPORT=$(free_port)
    # --- Docker: a stalled engine ---
    HUNG=$TMP/hung.sock
    hung_peer "$HUNG" || { echo "the stalled engine did not start" >&2; exit 1; }
    cat >"$TMP/hung.yaml" <<YAML
environment: $MDO_TEST_ENV
etcd: {endpoints: ["$ETCD"]}
docker: {socket: $HUNG, host_address: 127.0.0.1}
subscriber: {listen: "127.0.0.1:$HPORT", resync: 600}
services:
  web: {image: $TEST_IMAGE, ports: {http: 8080}, instances: 2}
YAML
    MDO_CONFIG=$TMP/hung.yaml mdo subscribe >"$TMP/hung.log" 2>&1 &
    HUNG_SUB=$!
    CLEANUP+=("kill -9 $HUNG_SUB")
    t0=$SECONDS
    wait_for 20 "grep -q 'engine did not answer GET /_ping' $TMP/hung.log"
    echo "# figure: a stalled engine noticed after $((SECONDS - t0)) s (ping every 5 s, 3 s timeout)"
    t_match "stalled engine: the stream ends, the line names the socket and /_ping" \
        "$(grep 'did not answer GET /_ping' "$TMP/hung.log" | head -1)" "level=warn mod=docker .*socket=$HUNG timeout_ms=3000"
    t_eq "stalled engine: the stream never counted as connected" \
        "$(grep -c 'event stream connected' "$TMP/hung.log")" 0
    # SIGTERM under a hung engine is the keeper's (issue 10, "bounded shutdown"), not this test's
    kill -9 $HUNG_SUB
    wait $HUNG_SUB 2>/dev/null
}
marathon_burst() {
    MDO_TEST_ENV=${MDO_TEST_ENV}m
    # --- Marathon: a burst of events, app reads counted in the double's log ---
    PORT_LO=$((34000 + (RANDOM % 100) * 300))
    "$TOP/test/marathon-double/start" --port 0 --port-range "$PORT_LO-$((PORT_LO + 99))" --verbose \
        >"$TMP/double.out" 2>"$TMP/double.log" &
    DPID=$!
    CLEANUP+=("kill -TERM $DPID; wait $DPID")
    try_for 10 "[ -s $TMP/double.out ]"
    MAR=$(head -1 "$TMP/double.out")
    CPORT=$(free_port)
    cat >"$TMP/mar.yaml" <<YAML
environment: $MDO_TEST_ENV
scheduler: marathon
etcd: {endpoints: ["$ETCD_GW"]}
marathon: {url: $MAR}
subscriber: {listen: "127.0.0.1:$CPORT", public_url: "http://127.0.0.1:$CPORT", mode: callback, resync: 600}
services:
  web:
    image: $TEST_IMAGE
    ports: {http: 8080}
    instances: 2
    cpus: 0.1
    mem: 64
    args: [sh, -c, 'exec httpd -f -p 8080 -h /tmp']
YAML
    export MDO_CONFIG=$TMP/mar.yaml
    mdo subscribe >"$TMP/mar-sub.log" 2>&1 &
    SUB_PID=$!
    wait_for 10 curl -sf "http://127.0.0.1:$CPORT/health"
    # the callback route's secret segment, kept in etcd once the subscriber has registered
    wait_for 10 sh -c "etcdctl --endpoints $ETCD get --print-value-only /mdo/$MDO_TEST_ENV/secrets/marathon_callback | grep -q ."
    CBPATH=/marathon/callback/$(ectl get --print-value-only "/mdo/$MDO_TEST_ENV/secrets/marathon_callback")
    t_run "marathon: launch web (2)" 0 mdo launch web --wait=60
    wait_eq 20 "marathon: the double's events registered 2" "reg_count web" 2
    reads() { grep -c "GET /v2/apps/$MDO_TEST_ENV/web?embed=app.tasks" "$TMP/double.log"; }
    sleep 1 # the confirming reads of the launch's events are done
    r0=$(reads)
    out=$(/usr/bin/python3 "$TOP/test/integration/burst.py" "$MAR" "/$MDO_TEST_ENV/web" "127.0.0.1:$CPORT" 1000 "$CBPATH")
    sleep 1 # the last window's read
    r1=$(reads)
    read -r nev secs <<<"$out"
    echo "# figure: marathon burst: $nev events in $secs s ($(echo "$nev / $secs" | bc) events/s), $((r1 - r0)) app reads"
    t_eq "marathon burst: 1000 events accepted" "$nev" 1000
    [ "$((r1 - r0))" -le "$(echo "$secs * 5 + 2" | bc | cut -d. -f1)" ] && [ "$((r1 - r0))" -ge 1 ] &&
        t_pass "marathon burst: $((r1 - r0)) reads for 1000 events in $secs s" ||
        t_fail "marathon burst: $((r1 - r0)) reads for 1000 events in $secs s"
    t_run "marathon: status --json" 0 mdo status web --json
    t_eq "marathon: records from events = the reconcile's, byte for byte (status in_sync)" \
        "$(echo "$OUT" | jq -r '.services[0].instances | map(.in_sync) | all')" true
    t_run "marathon: scale web 3" 0 mdo scale web 3 --wait=60
    t_run "marathon: status" 0 mdo status web
    t_match "marathon status: the scaled count is wanted" "$OUT" "web: 3 wanted, 3 running, [0-9]+ registered \\(config: 2\\)"
    # a bad app id in an event: logged once, skipped
    for i in 1 2 3; do
        curl -s -o /dev/null -d "{\"eventType\":\"status_update_event\",\"appId\":\"/$MDO_TEST_ENV/a/b\",\"taskId\":\"x.$i\",\"taskStatus\":\"TASK_RUNNING\",\"host\":\"h\",\"ports\":[1],\"version\":\"v\"}" \
            "http://127.0.0.1:$CPORT$CBPATH"
    done
    t_eq "marathon: a bad app id is logged once" "$(grep -c 'events of an app skipped' "$TMP/mar-sub.log")" 1
    t_eq "marathon: nothing registered for it" "$(ectl get --prefix --keys-only "/mdo/$MDO_TEST_ENV/services/a/" | grep -c .)" 0
    t0=$(date +%s%N)
    stop_subscriber
    t_eq "marathon subscriber exits 0" $? 0
    echo "# figure: marathon subscriber stop: $((($(date +%s%N) - t0) / 1000000)) ms"
    t_run "marathon: stop web" 0 mdo stop web
}
t_bg stalled-engine stalled_engine
t_bg marathon-burst marathon_burst

# --- Docker: the real engine ---
cat >"$TMP/docker.yaml" <<YAML
environment: $MDO_TEST_ENV
etcd: {endpoints: ["$ETCD_GW"]}
subscriber: {listen: "127.0.0.1:$SPORT", resync: 600}
services:
  web:
    image: $TEST_IMAGE
    ports: {http: 8080}
    instances: 2
    args: [sh, -c, 'exec httpd -f -p 8080 -h /tmp']
YAML
export MDO_CONFIG=$TMP/docker.yaml
start_subscriber
wait_for 10 "grep -q 'mod=docker msg=\"event stream connected\"' $TMP/sub.log"
t_eq "real engine: connected once it answered" "$(grep -c 'mod=docker msg="event stream connected"' "$TMP/sub.log")" 1
t_run "launch web (2)" 0 mdo launch web --wait=60
t_run "scale web 4" 0 mdo scale web 4 --wait=60
t_run "status" 0 mdo status web
t_match "docker status: the scaled count is wanted, the config's beside it" "$OUT" \
    "web: 4 wanted, 4 running, [0-9]+ registered \\(config: 2\\)"
t_run "status --json" 0 mdo status web --json
t_eq "docker status --json: wanted 4, config 2" \
    "$(echo "$OUT" | jq -r '.services[0] | "\(.wanted) \(.config_instances)"')" "4 2"
wait_eq 15 "the events registered 4" "reg_count web" 4
t_run "scale web 1" 0 mdo scale web 1 --wait=60
t_run "status after scale down" 0 mdo status web
t_match "docker status: wanted 1 after a scale down" "$OUT" "web: 1 wanted, 1 running"
t_run "launch web: back to the config" 0 mdo launch web --wait=60
t_run "status after launch" 0 mdo status web
t_match "docker status: launch brings the config's 2 back" "$OUT" "web: 2 wanted, 2 running, [0-9]+ registered"$'\n'

# a container whose service label cannot be a key: logged once, skipped, no spin
BAD=$(docker run -d --name "$MDO_TEST_ENV-bad-1" --label "mdo.environment=$MDO_TEST_ENV" \
    --label "mdo.service=a/b" --label "mdo.app_version=x" --label 'mdo.ports=[]' \
    $TEST_IMAGE sh -c 'sleep 600')
docker restart -t 0 "$BAD" >/dev/null
docker restart -t 0 "$BAD" >/dev/null
sleep 2
t_eq "bad label: one line for all its events" "$(grep -c "${BAD:0:12}" "$TMP/sub.log")" 1
t_eq "bad label: nothing registered under a/b" "$(ectl get --prefix --keys-only "/mdo/$MDO_TEST_ENV/services/a/" | grep -c .)" 0
docker rm -f "$BAD" >/dev/null
stop_subscriber
t_eq "docker subscriber exits 0" $? 0
t_run "stop web" 0 mdo stop web

t_bg_wait
t_done
