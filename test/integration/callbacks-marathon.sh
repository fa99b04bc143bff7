#!/usr/bin/env bash
# callbacks-marathon.sh - watch, get_node_list --wait and callbacks on the marathon backend
# (test/marathon-double: tasks are real containers with Mesos' environment): a task registers a
# signed callback (owner = MESOS_TASK_ID) and runs `watch`; a scale is delivered to both.
. "$(dirname "$0")/lib.sh"

[ -x "$MDO" ] || { echo "callbacks-marathon: no mdo binary at $MDO" >&2; exit 1; }
ensure_dockerd || exit 1
start_etcd || exit 1
build_test_image || { echo "cannot build the test image" >&2; exit 1; }
GW=$(bridge_gateway)
PORT_LO=$((36000 + (RANDOM % 100) * 200))
"$TOP/test/marathon-double/start" --port 0 --port-range "$PORT_LO-$((PORT_LO + 99))" \
    >"$TMP/double.out" 2>>"$TMP/double.log" &
DPID=$!
CLEANUP+=("kill -TERM $DPID; wait $DPID")
wait_for 10 test -s "$TMP/double.out" || { echo "marathon-double did not start" >&2; exit 1; }
MAR=$(head -1 "$TMP/double.out")
SPORT=$(free_port)
TPORT=$(free_port)
E=$MDO_TEST_ENV
cat >"$TMP/mdo.yaml" <<YAML
environment: $E
scheduler: marathon
etcd:
  endpoints: ["$ETCD_GW"]
marathon:
  url: $MAR
subscriber: # on the bridge address: the task's register_callback calls it (MDO_SUBSCRIBER_URL)
  listen: "$GW:$SPORT"
  public_url: "http://$GW:$SPORT"
  token: "tok-$RANDOM$RANDOM"
  guest_token: "guest-$RANDOM$RANDOM"
  resync: 3
services:
  web:
    image: $TEST_IMAGE
    ports: {http: 8080}
    instances: 1
    cpus: 0.1
    mem: 32
    args:
      - sh
      - -c
      - |
        : >/tmp/changes
        register_callback web "http://$GW:$TPORT/cb" --secret m4r >/tmp/cb.id 2>&1
        mdo guest watch web --settle 300 -- sh -c 'echo "\$MDO_DELTA \$MDO_COUNT" >>/tmp/changes' &
        exec httpd -f -p 8080 -h /tmp
YAML
export MDO_CONFIG=$TMP/mdo.yaml MDO_ETCD=$ETCD MDO_ENVIRONMENT=$E
/usr/bin/python3 "$TOP/test/integration/callback_target.py" "$GW" "$TPORT" "$TMP/cb.log" ok &
CLEANUP+=("kill $!")
: >"$TMP/cb.log"
mdo subscribe >>"$TMP/sub.log" 2>&1 &
SUB_PID=$!
CLEANUP+=("kill \$SUB_PID")
wait_for 10 curl -sf "http://$GW:$SPORT/health" || { echo "subscriber did not start" >&2; tail "$TMP/sub.log"; exit 1; }

t_run "marathon: launch web (1)" 0 mdo launch web --wait
wait_eq 20 "marathon: web registered (1)" 'reg_count web' 1
TASK=$(ectl get --prefix --keys-only "/mdo/$E/services/web/instances/" | grep . | sed 's|.*/||')
C=$(docker ps -q --filter "label=marathon-double.task=$TASK" | head -1)
wait_for 10 docker exec "$C" grep -q . /tmp/cb.id
id=$(docker exec "$C" cat /tmp/cb.id)
t_match "marathon: register_callback inside a task" "$id" '^[0-9a-f]{16}$'
t_eq "marathon: the owner is the Mesos task id" "$(ectl get --print-value-only "/mdo/$E/callbacks/web/$id" | jq -r .owner)" "$TASK"
docker exec "$C" sh -c 'get_node_list web http --minimum 3 --wait 30 >/tmp/nl 2>&1; echo rc=$? >>/tmp/nl' &
NL=$!
t0=$(date +%s.%N)
t_run "marathon: scale web 3" 0 mdo scale web 3 --wait
wait_for 30 '[ "$(grep -c . "$TMP/cb.log")" -ge 1 ]'
echo "# figure: marathon scale 1->3 to the first callback: $(echo "$(date +%s.%N) - $t0" | bc) s"
wait_eq 20 "marathon: web registered (3)" 'reg_count web' 3
wait $NL
t_eq "marathon: get_node_list --wait inside a task returned the 3" "$(docker exec "$C" cat /tmp/nl | tail -1) $(docker exec "$C" grep -c : /tmp/nl)" "rc=0 3"
wait_for 20 bash -c "docker exec $C tail -1 /tmp/changes | grep -q ' 3$'"
t_eq "marathon: watch ran with the 3 (deltas add up to +2)" "$(docker exec "$C" awk '{s += $1} END {print s, $2}' /tmp/changes)" "2 3"
wait_for 20 bash -c "tail -1 $TMP/cb.log | jq -r .body | jq -e '.instances|length == 3' >/dev/null"
line=$(tail -1 "$TMP/cb.log")
t_eq "marathon: the callback's last delivery lists the 3 tasks" "$(echo "$line" | jq -r '.body|fromjson|[.instances[].container]|sort|join(" ")')" \
    "$(ectl get --prefix --keys-only "/mdo/$E/services/web/instances/" | grep . | sed 's|.*/||' | sort | paste -sd' ')"
t_eq "marathon: backend marathon in the records" "$(echo "$line" | jq -r '.body|fromjson|[.instances[].backend]|unique|join(",")')" marathon
t_eq "marathon: signature verifies" "$(echo "$line" | /usr/bin/python3 -c '
import sys, json, hmac, hashlib
d = json.loads(sys.stdin.read())
print(hmac.compare_digest("sha256=" + hmac.new(b"m4r", d["body"].encode(), hashlib.sha256).hexdigest(), d["signature"] or ""))')" True
kill -TERM "$SUB_PID"
wait "$SUB_PID"
t_eq "subscriber exits 0" "$?" 0
t_done
