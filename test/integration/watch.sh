#!/usr/bin/env bash
# watch.sh - the watch applet and get_node_list --wait inside real containers on the docker
# backend: a change runs the command once with MDO_CHANGED/MDO_DELTA/MDO_NODES, bursts are
# debounced, reconciles repeat nothing, etcd restarts and compactions lose and repeat nothing,
# $WATCHES, --exit-on-failure, exit codes; --wait answers as soon as the minimum is registered.
#
#   MDO_BUILD=/work/main/build bash test/integration/watch.sh
. "$(dirname "$0")/lib.sh"

[ -x "$MDO" ] || { echo "watch: no mdo binary at $MDO" >&2; exit 1; }
ensure_dockerd || exit 1
start_etcd || exit 1
build_test_image || { echo "cannot build the test image" >&2; exit 1; }
SPORT=$(free_port)
E=$MDO_TEST_ENV
CFG=$TMP/mdo.yaml
write_config -r 3 <<YAML
services:
  db:
    image: $TEST_IMAGE
    ports: {peer: 7000, client: 9042}
    instances: 1
    cpus: 0.1
    mem: 32
    args: [sleep, '3600']
  watcher:
    image: $TEST_IMAGE
    instances: 1
    cpus: 0.1
    mem: 32
    environment:
      WATCHES: "db,burst"
    args:
      - sh
      - -c
      - |
        cat >/tmp/on-change <<'EOF'
        #!/bin/sh
        echo "\$MDO_CHANGED \$MDO_DELTA \$MDO_COUNT [\$MDO_ADDED] [\$MDO_REMOVED] [\$MDO_MOVED] \$MDO_NODES_SEP" >>/tmp/changes
        EOF
        chmod +x /tmp/on-change
        : >/tmp/changes
        # busybox sh runs its own watch applet before PATH: name mdo's explicitly
        exec mdo guest watch --initial --settle 300 -- /tmp/on-change
YAML
unset MDO_ETCD_PREFIX MDO_CONTAINER_NAME MESOS_TASK_ID WATCHES
export MDO_ETCD=$ETCD MDO_ENVIRONMENT=$E
W=$E-watcher-1
KEYS=/mdo/$E/services

start_subscriber || { echo "subscriber did not start" >&2; exit 1; }

changes() { docker exec "$W" cat /tmp/changes; }
nchanges() { changes | grep -c .; }
# record SERVICE CONTAINER EXT
record() {
    printf '{"service":"%s","container":"%s","environment":"%s","host":"10.9.0.1","ports":{"p":{"internal":1,"external":%s,"protocol":"tcp"}},"labels":{},"state":"running","started_at":"2026-01-01T00:00:00Z","app_version":"v","backend":"docker"}' "$1" "$2" "$E" "$3"
}
put() { ectl put "$KEYS/$1/instances/$2" "$(record "$1" "$2" "$3")" >/dev/null; }
# moved NAME PORT: a marker change to burst's NAME; returns once the watcher has run for it
moved() {
    put burst "$1" "$2"
    wait_for 10 "changes | tail -1 | grep -q '^burst +0 .*\\[$1\\] .*:$2'"
}

t_run "launch db (1)" 0 mdo launch db --wait
wait_eq 15 "db registered (1)" 'reg_count db' 1
t_run "launch watcher" 0 mdo launch watcher --wait
wait_for 15 '[ "$(nchanges)" -ge 2 ]'
dbnodes() { # host:peer:client of the registered db instances, comma-joined, sorted by container
    for k in $(ectl get --prefix --keys-only "$KEYS/db/instances/" | grep . | sort); do
        ectl get --print-value-only "$k" | jq -r '"\(.host):\(.ports.peer.external):\(.ports.client.external)"'
    done | paste -sd,
}
t_eq "--initial: one run per service of \$WATCHES" "$(changes)" \
    "db +1 1 [$E-db-1] [] [] $(dbnodes)
burst +0 0 [] [] [] "

# --- a scale runs the command once per settled change --------------------------------------
t0=$(date +%s.%N)
t_run "scale db 3" 0 mdo scale db 3 --wait
wait_for 20 bash -c "docker exec $W cat /tmp/changes | tail -1 | grep -q '^db .* 3 '"
t1=$(date +%s.%N)
echo "# figure: scale db 1->3 returned to the watch command having run with 3 instances: $(echo "$t1 - $t0" | bc) s (settle 300 ms)"
last=$(changes | tail -1)
t_match "last run: MDO_CHANGED=db, count 3" "$last" "^db \\+[12] 3 "
t_eq "the deltas of the runs add up to +2" "$(changes | awk '$1 == "db" && NR > 2 {s += $2} END {print s}')" 2
t_eq "MDO_NODES_SEP = the registry's host:peer:client, sorted" "${last##* }" "$(dbnodes)"
n=$(nchanges)
# the subscriber reconciles every 3 s: rewrites of equal records are no change. The sign that
# two passes ran is mdo_reconciles_total; the check that they made no db run comes once the
# watcher has run for the burst below (it sees events in revision order).
metric() { curl -s "http://127.0.0.1:$SPORT/metrics" | awk -v m="$1" '$1 == m {print $2}'; }
r=$(metric mdo_reconciles_total)
wait_for 15 '[ "$(metric mdo_reconciles_total)" -ge $((${r:-0} + 2)) ]'

# --- a burst is one run ------------------------------------------------------------------------
# The next parts write records of a service nobody runs ("burst") straight into etcd: the
# subscriber would rightly remove them, so it rests meanwhile.
stop_subscriber
t_eq "subscriber exits 0 (clean under ASan too)" "$?" 0
for i in 1 2 3 4 5; do put burst b$i 100$i; done
wait_for 10 bash -c "docker exec $W cat /tmp/changes | tail -1 | grep -q '^burst'"
t_eq "no repeated run after reconciles" "$(changes | tail -n +$((n + 1)) | grep -c '^db')" 0
t_eq "burst run's names and nodes" "$(changes | grep '^burst' | tail -1)" "burst +5 5 [b1 b2 b3 b4 b5] [] [] 10.9.0.1:1001,10.9.0.1:1002,10.9.0.1:1003,10.9.0.1:1004,10.9.0.1:1005"
# marker: a moved instance. Once its run is there, any run the burst caused would be too.
put burst b1 2001
wait_for 10 bash -c "docker exec $W cat /tmp/changes | tail -1 | grep -q '^burst +0 5 \[\] \[\] \[b1\]'"
t_match "a moved instance: +0 and MDO_MOVED" "$(changes | tail -1)" '^burst \+0 5 \[\] \[\] \[b1\] 10\.9\.0\.1:2001,'
t_eq "5 puts in a burst: one run (before the moved one)" "$(changes | grep -c '^burst')" 3
ectl put "$KEYS/burst/instances/b1" "$(record burst b1 2001)" >/dev/null
ectl put "$KEYS/other/instances/x" "$(record other x 1)" >/dev/null
n=$(nchanges)
moved b1 2002 # marker
t_eq "an equal rewrite or another service: no run (only the marker's)" "$(changes | tail -n +$((n + 1)) | grep -c .)" 1

# --- etcd restarts ----------------------------------------------------------------------------
stop_etcd
run_etcd
ectl del "$KEYS/burst/instances/b5" >/dev/null
wait_for 15 bash -c "docker exec $W cat /tmp/changes | tail -1 | grep -q '^burst -1 4'"
t_eq "after an etcd restart: the next change runs once" "$(changes | grep -c '^burst -1 4')" 1
# a change made while the watcher is frozen and its stream is broken is not lost, and nothing
# is repeated: it re-watches from the revision after the last event it saw
docker pause "$W" >/dev/null
stop_etcd
run_etcd
ectl del "$KEYS/burst/instances/b4" >/dev/null
docker unpause "$W" >/dev/null
wait_for 15 bash -c "docker exec $W cat /tmp/changes | tail -1 | grep -q '^burst -1 3'"
t_eq "a change while the stream was down: run once" "$(changes | grep -c '^burst -1 3')" 1
# ... and when that revision is compacted away meanwhile, a fresh listing finds the change
docker pause "$W" >/dev/null
stop_etcd
run_etcd
ectl del "$KEYS/burst/instances/b3" >/dev/null
put burst b9 1009
rev=$(ectl get / -w json | jq -r .header.revision)
ectl compact "$rev" >/dev/null
docker unpause "$W" >/dev/null
wait_for 15 bash -c "docker exec $W cat /tmp/changes | tail -1 | grep -q '^burst +0 3 \[b9\] \[b3\]'"
t_match "after a compaction: one run with the net change" "$(changes | tail -1)" '^burst \+0 3 \[b9\] \[b3\] \[\]'
n=$(nchanges)
moved b1 2003 # marker
t_eq "nothing repeated after the re-listing (only the marker's run)" "$(changes | tail -n +$((n + 1)) | grep -c .)" 1
t_eq "the watcher survived (one process, never restarted)" "$(docker inspect -f '{{.RestartCount}} {{.State.Running}}' "$W")" "0 true"

# --- host side: options, exit codes ------------------------------------------------------------
t_run "watch: no command" 2 watch db
t_run "watch: no service, no \$WATCHES" 2 watch -- true
t_run "watch: bad --settle" 2 watch db --settle x -- true
t_run "watch: unknown option" 2 watch db --nope -- true
t_run "watch: a service name against the rule" 2 watch db,Db -- true
t_match "watch: ... message" "$ERR" "^watch: service 'Db' is not a valid name"
t_run "watch: -- CMD takes CMD's own options" 3 env -u MDO_ETCD watch db -- true --help
t_run "watch: no registry configured" 3 env -u MDO_ETCD watch db -- true
t_run "watch --help" 0 watch --help
t_match "watch --help text" "$OUT" '^usage: watch'
timeout 20 watch burst --settle 100 --exit-on-failure -- sh -c 'exit 7' 2>"$TMP/w.err" &
WP=$!
# the watch reacts only to changes after its first listing: change b7 until it does
nudge() { put burst "$1" $((1100 + RANDOM % 800)); sleep 0.3; }
wait_for 10 'nudge b7; ! kill -0 $WP 2>/dev/null'
wait $WP
t_eq "--exit-on-failure: exits with the command's status" "$?" 7
watch burst --settle 100 -- sh -c 'echo run >>"$0"; exit 1' "$TMP/runs" 2>"$TMP/w2.err" &
WP=$!
wait_for 10 'nudge b8; [ -s "$TMP/runs" ]'
r=$(grep -c run "$TMP/runs")
put burst b8 1018
wait_eq 5 "without it: a failing command does not stop the watch" \
    '[ "$(grep -c run "$TMP/runs")" -gt "$r" ] && echo another run' "another run"
kill -TERM $WP
wait $WP
t_eq "SIGTERM: exit 0" "$?" 0
t_match "a failing command is reported on stderr" "$(cat "$TMP/w2.err")" "exited with status 1 \\(going on\\)"
start_subscriber || { echo "subscriber did not start" >&2; exit 1; }
# --- get_node_list --wait inside a container -------------------------------------------------
# times from /proc/uptime: the host and the container share the kernel's clock
docker exec "$W" sh -c 'get_node_list db peer --minimum 4 --wait 30 >/tmp/nl 2>&1; echo "rc=$?" >>/tmp/nl; cut -d" " -f1 /proc/uptime >/tmp/nl.t' &
NL=$!
wait_for 10 "docker exec $W ps | grep -q '[g]et_node_list db peer'"
t_eq "--wait is still waiting with 3 of 4 (running, nothing printed)" "$(docker exec "$W" cat /tmp/nl 2>/dev/null)" ""
mdo scale db 4 >/dev/null 2>&1
wait_for 15 '[ "$(reg_count db)" = 4 ]'
treg=$(cut -d' ' -f1 /proc/uptime)
wait $NL
tnl=$(docker exec "$W" cat /tmp/nl.t)
t_eq "--wait returns the 4 as soon as they are registered" "$(docker exec "$W" cat /tmp/nl | tail -1) $(docker exec "$W" grep -c : /tmp/nl)" "rc=0 4"
echo "# figure: get_node_list --wait returned $(echo "$tnl - $treg" | bc) s after the 4th record was seen on the host (negative: before the host's etcdctl poll saw it)"
t_run "--wait, minimum already met: at once" 0 docker exec "$W" get_node_list db --minimum 2 --wait 30
t_eq "--wait, minimum met: the list" "$(grep -c . <<<"$OUT")" 4
s=$SECONDS
t_run "--wait times out: exit 4" 4 docker exec "$W" get_node_list db --minimum 9 --wait 2
echo "# figure: get_node_list --wait 2 (minimum not met) timed out after $((SECONDS - s)) s"
t_eq "--wait timed out: nothing on stdout" "$OUT" ""
t_run "--wait, registry down: exit 3" 3 docker exec "$W" env MDO_ETCD=http://127.0.0.1:1 get_node_list db --minimum 1 --wait 1

docker stop -t 5 "$W" >/dev/null
t_eq "the container's watch exits 0 on docker stop" "$(docker inspect -f '{{.State.ExitCode}}' "$W")" 0
t_done
