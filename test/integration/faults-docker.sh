#!/usr/bin/env bash
# faults-docker.sh - dockerd restarted under a running subscriber (local Docker backend, issue
# 13). mdo's containers have RestartPolicy unless-stopped, so the engine starts them again (with
# new host ports unless live-restore kept them running); a container of this test without a
# restart policy stays stopped unless live-restore is on. Either way, after recovery the
# registry must equal `docker ps` (names and published ports), with 0 lost and 0 stale records;
# the subscriber's event stream reconnects with backoff. dockerd is shared: this test runs only
# under /tmp/mdo-integration.lock (test/run is run under it), starts dockerd again the way
# lib.sh's ensure_dockerd does, and waits for it. It runs on every build (~20 s each: the
# subscriber's stream and reconcile under the sanitizers too).
. "$(dirname "$0")/lib.sh"

ensure_dockerd || exit 1
start_etcd || exit 1
build_test_image || { echo "cannot build the test image" >&2; exit 1; }
SPORT=$(free_port)
write_config <<YAML
services:
  web:
    image: $TEST_IMAGE
    ports:
      http: 8080
    instances: 3
    cpus: 0.1
    mem: 32
    args: [sh, -c, 'exec httpd -f -p 8080 -h /tmp']
YAML

# name and published http port of every running container of this test / every record
running() { docker ps --filter "label=mdo.environment=$MDO_TEST_ENV" --format '{{.Names}} {{.Ports}}' | sed -E 's/ .*:([0-9]+)->8080\/tcp.*/ \1/; s/ $//' | sort; }
records() {
    local p=/mdo/$MDO_TEST_ENV/services
    ectl get --prefix "$p/" -w json | jq -r '.kvs[]? | (.key | @base64d) as $k | (.value | @base64d | fromjson) as $v | "\($k | split("/") | last) \($v.ports.http.external // "")"' | sed 's/ $//' | sort
}
in_sync() { local r; r=$(running); [ "$r" == "$(records)" ]; }
connects() { grep -c 'event stream connected' "$TMP/sub.log"; }
ended() { grep -c 'event stream ended, reconnecting' "$TMP/sub.log"; }
now() { date +%s.%N; }

start_subscriber || exit 1
t_run "launch web --wait (3 containers)" 0 mdo launch web --wait
wait_for 15 in_sync
# a container of this test without a restart policy, labelled like mdo's
SOLO=$MDO_TEST_ENV-solo-1
docker run -d --name "$SOLO" --label "mdo.environment=$MDO_TEST_ENV" --label mdo.service=solo \
    --entrypoint /bin/sh "$TEST_IMAGE" -c 'exec sleep 600' >/dev/null
wait_for 15 in_sync
t_eq "before: registry = docker ps (4 containers)" "$(records | grep -c .)" 4
t_eq "before: the restart policy of mdo's containers" "$(docker inspect -f '{{.HostConfig.RestartPolicy.Name}}' "$MDO_TEST_ENV-web-1")" unless-stopped
LIVE=$(docker info --format '{{.LiveRestoreEnabled}}')
before=$(running)

# --- restart dockerd: stop it, wait until it is gone, start it as ensure_dockerd does ---
DPID=$(cat /var/run/docker.pid 2>/dev/null || pgrep -xo dockerd)
c0=$(connects) e0=$(ended)
t0=$(now)
kill -TERM "$DPID"
try_for 60 '! kill -0 '"$DPID" || { echo "dockerd did not stop" >&2; exit 1; }
t_down=$(now)
echo "# figure: faults-docker: dockerd stopped in $(echo "$t_down - $t0" | bc) s (live-restore $LIVE)"
sleep 2 # the subscriber retries against a missing engine meanwhile
t_eq "/health says the subscriber is degraded while the engine is away" \
    "$(curl -s -m 5 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$SPORT/health")" 503
ensure_dockerd || { t_fail "dockerd did not come back"; t_done; exit 1; }
t_up=$(now)
echo "# figure: faults-docker: dockerd answered again $(echo "$t_up - $t_down" | bc) s after it stopped"

# --- recovery ---
if [ "$LIVE" == true ]; then
    want_solo=1 # live-restore: nothing stopped
else
    want_solo=0 # no restart policy: it stays stopped, its record must go
fi
wait_eq 30 "the engine restarted mdo's 3 containers (unless-stopped)" \
    "docker ps -q --filter label=mdo.environment=$MDO_TEST_ENV --filter label=mdo.service=web | grep -c ." 3
t_eq "the container without a restart policy runs: $want_solo (live-restore $LIVE)" \
    "$(docker ps -q --filter "name=^$SOLO\$" | grep -c .)" "$want_solo"
wait_for 30 '[ "$(connects)" -gt '"$c0"' ]' &&
    echo "# figure: faults-docker: the subscriber's docker event stream reconnected $(echo "$(now) - $t_up" | bc) s after dockerd answered"
t_match "it retried with backoff while dockerd was away: $(($(ended) - e0)) attempts" "$(($(ended) - e0))" '^([1-9]|1[0-9])$'
t_heal=$(now)
wait_for 30 in_sync
echo "# figure: faults-docker: registry = docker ps $(echo "$(now) - $t_up" | bc) s after dockerd answered"
lost=$(comm -23 <(running) <(records) | grep -c .)
stale=$(comm -13 <(running) <(records) | grep -c .)
t_eq "after the restart: lost records (running containers without a record)" "$lost" 0
t_eq "after the restart: stale records (records without a running container, or an old port)" "$stale" 0
t_eq "after the restart: registry = docker ps, names and published ports" "$(records)" "$(running)"
t_eq "the solo container's record: $want_solo" "$(records | grep -c "^$SOLO")" "$want_solo"
if [ "$LIVE" == true ]; then
    t_eq "live-restore: ports unchanged" "$(running)" "$before"
else
    t_eq "the records hold the ports the engine gave after the restart" \
        "$(records | grep "^$MDO_TEST_ENV-web" | grep -c .)" 3
fi
t_eq "/health is 200 again" "$(curl -s -m 5 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$SPORT/health")" 200

# --- and it keeps working: a scale after the restart is seen ---
t_run "scale web 2 after the restart" 0 mdo scale web 2
wait_for 20 in_sync
t_eq "after the scale: registry = docker ps" "$(records)" "$(running)"
echo "# figure: faults-docker: faults injected: dockerd_restart 1, records lost: $lost, stale: $stale"
docker rm -f "$SOLO" >/dev/null 2>&1
t_run "stop web" 0 mdo stop web
wait_eq 20 "stop: registry empty" 'records | grep -c .' 0
stop_subscriber
t_eq "subscriber exits 0 on SIGTERM after the engine restart" "$?" 0
[ -n "${KEEP_TMP:-}" ] && cp -r "$TMP" /tmp/keep-$TEST_NAME
t_done
