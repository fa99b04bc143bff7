#!/usr/bin/env bash
# marathon-versions.sh - the chain against the double imitating Marathon 0.8, 1.1, 1.4 and 1.10
# (issue 12, fidelity audit F1-F10): launch --wait, registry records, a lookup inside a task
# container, idempotent launch, scale, restart, a killed task healed, stop; then behind a 1.7+
# standby (302 on /v2/events), upgrade.pause with a fixed host port (no extra instance may
# start), and the 403 "Max number of running deployments".
. "$(dirname "$0")/lib.sh"

ensure_dockerd || exit 1
start_etcd || exit 1
build_test_image || { echo "cannot build the test image" >&2; exit 1; }
PORT_LO=$((36000 + (RANDOM % 100) * 200))

# write_cfg FILE ENV URL SPORT API MODE [extra service lines]
write_cfg() {
    cat >"$1" <<YAML
environment: $2
scheduler: marathon
etcd:
  endpoints: ["$ETCD_GW"]
marathon:
  url: $3
  api: $5
subscriber:
  listen: "127.0.0.1:$4"
  public_url: "http://127.0.0.1:$4"
  mode: $6
  resync: 4
services:
  web:
    image: $TEST_IMAGE
    ports:
      http: 8080
      admin: 9090
    instances: 2
    cpus: 0.1
    mem: 64
    args: [sh, -c, 'echo "hello from \$MESOS_TASK_ID" >/tmp/index.html; exec httpd -f -p 8080 -h /tmp']
    health: {http: /index.html, port: http, interval: 1, timeout: 1, grace: 10}
${7:-}
YAML
}

# the chain against one double: chain TAG URL API MODE [STATE_URL (the double that runs the
# containers: the leader behind a standby)]
chain() {
    local tag=$1 url=$2 api=$3 mode=$4 st=${5:-$2} env=${MDO_TEST_ENV}$1 sport cfg pid p old tk c want
    sport=$(free_port)
    cfg=$TMP/$tag.yaml
    p=/mdo/$env/services/web/instances
    write_cfg "$cfg" "$env" "$url" "$sport" "$api" "$mode"
    # running tasks as this Marathon lists them (no state before 1.1.2: started = running)
    tasks() { curl -s "$url/v2/apps/$env/web/tasks"; }
    task_ids() { tasks | jq -r '.tasks[] | select((.state // "TASK_RUNNING") == "TASK_RUNNING" and (.startedAt // "") != "") | .id' | sort | tr '\n' ' '; }
    reg_names() { ectl get --prefix --keys-only "$p/" | grep . | sed "s|^$p/||" | sort | tr '\n' ' '; }
    in_sync() { local t; t=$(task_ids); [ -n "$t" ] && [ "$t" == "$(reg_names)" ]; }
    n_reg() { ectl get --prefix --keys-only "$p/" | grep -c .; }
    mdo subscribe -c "$cfg" >>"$TMP/sub-$tag.log" 2>&1 &
    pid=$!
    CLEANUP+=("kill -TERM $pid")
    # through the standby too: its 302 on /v2/events is followed to the leader (GET /v2/leader)
    wait_for 10 curl -sf "http://127.0.0.1:$sport/health"
    if [ "$tag" == stby ]; then
        wait_eq 10 "stby: the event stream follows the standby's 302 to the leader" \
            "grep -c 'following the leader' '$TMP/sub-$tag.log' | sed 's/^[1-9][0-9]*$/yes/'" yes
    fi

    t_run "$tag: launch --wait" 0 timeout 120 mdo launch web --wait=90 -c "$cfg"
    t_match "$tag: launch followed to 2/2 running, 2 healthy" "$ERR" "2/2 running, 2 healthy"
    wait_eq 20 "$tag: 2 records in the registry" n_reg 2
    wait_for 15 in_sync
    t_eq "$tag: registry names = running task ids" "$(reg_names)" "$(task_ids)"
    tk=$(task_ids | cut -d' ' -f1)
    if [ -n "$tk" ]; then
        want=$(tasks | jq -r --arg t "$tk" '.tasks[] | select(.id == $t) | "\(.ports[0]) \(.ports[1])"')
        t_eq "$tag: record's named ports = the task's host ports (by index)" \
            "$(ectl get --print-value-only "$p/$tk" | jq -r '"\(.ports.http.external) \(.ports.admin.external)"')" "$want"
        t_eq "$tag: record's app_version is mdo's (12 hex)" \
            "$(ectl get --print-value-only "$p/$tk" | jq -r '.app_version | length')" 12
        c=$(curl -s "$st/_double/state" | jq -r --arg t "$tk" '.containers[$t]')
        t_run "$tag: get_node_list inside a task container" 0 docker exec "$c" get_node_list web http
        t_eq "$tag: it lists both instances" "$(echo "$OUT" | grep -c .)" 2
    else
        t_fail "$tag: no running task to look at"
    fi
    t_run "$tag: second launch" 0 mdo launch web -c "$cfg"
    t_match "$tag: second launch is up to date" "$ERR" "up to date"

    t_run "$tag: scale 3 --wait" 0 timeout 120 mdo scale web 3 --wait=90 -c "$cfg"
    wait_eq 20 "$tag: 3 records after scale" n_reg 3
    old=$(task_ids)
    t_run "$tag: restart --wait" 0 timeout 150 mdo restart web --wait=120 -c "$cfg"
    wait_for 20 in_sync
    t_eq "$tag: after restart, registry = tasks" "$(reg_names)" "$(task_ids)"
    t_eq "$tag: restart replaced every task" \
        "$(comm -12 <(echo "$old" | tr ' ' '\n' | grep .) <(task_ids | tr ' ' '\n' | grep .) | wc -l)" 0

    tk=$(task_ids | cut -d' ' -f1)
    c=$(curl -s "$st/_double/state" | jq -r --arg t "$tk" '.containers[$t]')
    docker kill "$c" >/dev/null 2>&1
    healed() { ! reg_names | grep -q "$tk" && [ "$(task_ids | wc -w)" == 3 ] && in_sync; }
    wait_for 30 healed
    t_eq "$tag: a killed task is deregistered, its replacement registered" "$(healed && echo yes)" yes

    t_run "$tag: stop --wait" 0 timeout 60 mdo stop web --wait=50 -c "$cfg"
    wait_eq 20 "$tag: registry empty after stop" n_reg 0
    kill -TERM $pid
    wait $pid
    t_eq "$tag: subscriber exits 0" "$?" 0
    t_eq "$tag: no error lines in its log" "$(grep -c 'level=error' "$TMP/sub-$tag.log")" 0
}

# The chains share nothing but etcd (each has its own double, environment, subscriber, ports
# and files): they run side by side (t_bg), printed and counted in this order by t_bg_wait.
start_double M08 --marathon-version 0.8 || exit 1
t_bg v08 chain v08 "$M08" legacy callback # no /v2/events before 0.9
start_double M11 --marathon-version 1.1 || exit 1
t_bg v11 chain v11 "$M11" legacy events
start_double M14 --marathon-version 1.4 || exit 1
t_bg v14 chain v14 "$M14" legacy events
start_double M110 --marathon-version 1.10 || exit 1
t_bg v110 chain v110 "$M110" v2 events

# --- behind a 1.7+ standby: /v2/events answers 302, the rest is forwarded ---
start_double LEAD --marathon-version 1.10 || exit 1
start_double STBY --marathon-version 1.10 --standby-of "$LEAD" || exit 1
t_eq "the standby answers /v2/events with 302" \
    "$(curl -s -o /dev/null -w '%{http_code}' -H 'Accept: text/event-stream' "$STBY/v2/events")" 302
t_bg stby chain stby "$STBY" v2 events "$LEAD"

# --- upgrade.pause with a fixed host port: mdo lets Marathon kill first, so restart ends ---
start_double FIX --marathon-version 1.10 || exit 1
HP=$((PORT_LO + 50))
write_cfg "$TMP/fix.yaml" "${MDO_TEST_ENV}f" "$FIX" "$(free_port)" v2 events "    host_ports: {http: $HP}
    upgrade: {pause: 1}"
sed -i 's/instances: 2/instances: 1/; s/^      admin: 9090$//' "$TMP/fix.yaml"
t_run "fixed host port: launch --wait" 0 timeout 90 mdo launch web --wait=60 -c "$TMP/fix.yaml"
t_eq "fixed host port: mdo sends minimumHealthCapacity 0, maximumOverCapacity 0 (kill first)" \
    "$(curl -s "$FIX/v2/apps/${MDO_TEST_ENV}f/web" | jq -c '.app.upgradeStrategy | [.minimumHealthCapacity, .maximumOverCapacity]')" '[0,0]'
t_run "fixed host port + upgrade.pause: restart --wait ends" 0 timeout 90 mdo restart web --wait=60 -c "$TMP/fix.yaml"
t_eq "no deployment left behind" "$(curl -s "$FIX/v2/deployments" | jq length)" 0
mdo stop web -c "$TMP/fix.yaml" >/dev/null 2>&1

# --- 403 "Max number (N) of running deployments": Marathon's message, not "access denied" ---
curl -s -X POST -d '{"max_running_deployments": 0}' "$FIX/_double/faults" >/dev/null
write_cfg "$TMP/max.yaml" "${MDO_TEST_ENV}m" "$FIX" "$(free_port)" v2 events
t_run "403 max running deployments: launch fails" 1 mdo launch web -c "$TMP/max.yaml"
t_match "403: Marathon's message is shown" "$ERR" "HTTP 403: Max number \(0\) of running deployments"
t_eq "403: not called an access problem" "$(echo "$ERR" | grep -c 'access denied')" 0
curl -s -X POST -d '{"clear": true}' "$FIX/_double/faults" >/dev/null

t_bg_wait
echo "# figure: $TEST_NAME took $SECONDS s (its five chains side by side)"
[ -n "${KEEP_TMP:-}" ] && cp -r "$TMP" /tmp/keep-$TEST_NAME
t_done
