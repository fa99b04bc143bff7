#!/usr/bin/env bash
# guest.sh - the guest applets (DESIGN §7) against a real etcd, from the host and inside a
# real container: output, defaults, exit codes 0/1/2/3/4, --label/--json/--sep/--wait, sorting.
#
#   MDO_BUILD=/work/main/build bash test/integration/guest.sh
. "$(dirname "$0")/lib.sh"

[ -x "$MDO" ] || { echo "guest: no mdo binary at $MDO: build it first (or set MDO_BUILD)" >&2; exit 1; }
ensure_dockerd || exit 1
start_etcd || exit 1

# Only what a test sets explicitly: the caller's own MDO_* must not leak into the answers.
unset MDO_ETCD_PREFIX MDO_SERVICE MDO_CONTAINER_NAME MDO_HOST_ADDRESS SERVICE_NAME \
    MESOS_TASK_ID HOST ETCD_HOST_ADDRESS
export MDO_ETCD=$ETCD MDO_ENVIRONMENT=$MDO_TEST_ENV
E=$MDO_TEST_ENV
KEYS=/mdo/$E/services

# record SERVICE CONTAINER HOST PEER_EXT CLIENT_EXT RACK
record() {
    printf '{"service":"%s","container":"%s","environment":"%s","host":"%s","address":"172.17.0.9",' \
        "$1" "$2" "$E" "$3"
    printf '"ports":{"peer":{"internal":7000,"external":%s,"protocol":"tcp"},' "$4"
    printf '"client-port":{"internal":9042,"external":%s,"protocol":"tcp"}},' "$5"
    printf '"labels":{"rack":"%s","zone":"z1"},"state":"running","started_at":"2026-01-01T00:00:00Z",' "$6"
    printf '"app_version":"v1","backend":"docker"}'
}
put() { ectl put "$KEYS/$1/instances/$2" "$(record "$@")" >/dev/null; }

# Written out of order: the applets sort by container name, not by key or write order.
put db db-b 10.0.0.2 31002 32002 r1
put db db-c 10.0.0.3 31003 32003 r2
put db db-a 10.0.0.1 31001 32001 r1
ALL=$'10.0.0.1:31001:32001\n10.0.0.2:31002:32002\n10.0.0.3:31003:32003'

# --- mdo guest ---------------------------------------------------------------------------------
t_run "guest --list" 0 "$MDO" guest --list
LIST=$OUT
t_eq "guest --list is sorted" "$(sort <<<"$LIST")" "$LIST"
t_eq "guest --list has the 12 applets" "$(grep -c . <<<"$LIST")" 12
for a in $LIST; do
    t_run "$a --help (symlink)" 0 "$BUILD/$a" --help
    t_match "$a --help text" "$OUT" "^usage: $a"
    t_run "guest $a --help" 0 "$MDO" guest "$a" --help
done
t_run "guest: no applet" 2 "$MDO" guest
t_run "guest: unknown applet" 2 "$MDO" guest get_nothing
t_match "guest: unknown applet message" "$ERR" "unknown applet 'get_nothing'"
t_run "guest --help" 0 "$MDO" guest --help

inst=$TMP/bin
mkdir "$inst"
t_run "guest --install" 0 "$MDO" guest --install "$inst"
t_eq "guest --install links every applet" "$(ls "$inst")" "$LIST"
t_eq "guest --install link target" "$(readlink "$inst/get_port")" "$(readlink -f "$MDO")"
ln -sfn /nonexistent/mdo "$inst/get_node_list"
t_run "guest --install again (replaces a stale link)" 0 "$MDO" guest --install "$inst"
t_eq "stale link replaced" "$(readlink "$inst/get_node_list")" "$(readlink -f "$MDO")"
t_run "installed link runs" 0 "$inst/get_node_list" db
t_eq "installed link output" "$OUT" $'10.0.0.1\n10.0.0.2\n10.0.0.3'
rm "$inst/get_port" && echo keep >"$inst/get_port"
t_run "guest --install: a file in the way" 1 "$MDO" guest --install "$inst"
t_eq "guest --install: the file is left alone" "$(cat "$inst/get_port")" keep
t_run "guest --install: missing dir" 1 "$MDO" guest --install "$TMP/nodir"
t_match "guest --install: missing dir message" "$ERR" "nodir"

# --- this container's own facts ----------------------------------------------------------------
t_run "get_environment_name" 0 get_environment_name
t_eq "get_environment_name output" "$OUT" "$E"
t_run "get_environment_name: default" 0 env -u MDO_ENVIRONMENT get_environment_name
t_eq "get_environment_name: default is local" "$OUT" local
t_run "get_environment_name: extra argument" 2 get_environment_name x

t_run "get_service_name" 0 env MDO_SERVICE=web SERVICE_NAME=seed get_service_name
t_eq "get_service_name output" "$OUT" web
t_run "get_service_name: seed's SERVICE_NAME" 0 env SERVICE_NAME=seed get_service_name
t_eq "get_service_name: seed's output" "$OUT" seed
t_run "get_service_name: not set" 1 get_service_name
t_match "get_service_name: message" "$ERR" "^get_service_name: .*MDO_SERVICE"
t_eq "get_service_name: nothing on stdout" "$OUT" ""

t_run "get_container_name" 0 env MDO_CONTAINER_NAME=web-1 MESOS_TASK_ID=t get_container_name
t_eq "get_container_name output" "$OUT" web-1
t_run "get_container_name: Marathon" 0 env MESOS_TASK_ID=web.123 get_container_name
t_eq "get_container_name: Marathon output" "$OUT" web.123
t_run "get_container_name: not set" 1 get_container_name

t_run "get_container_host_address" 0 env MDO_HOST_ADDRESS=10.1.1.1 HOST=h get_container_host_address
t_eq "get_container_host_address output" "$OUT" 10.1.1.1
t_run "get_container_host_address: Marathon" 0 env HOST=10.2.2.2 get_container_host_address
t_eq "get_container_host_address: Marathon output" "$OUT" 10.2.2.2
t_run "get_container_host_address: not set" 1 get_container_host_address
# Marathon with --env_vars_prefix MARATHON_: HOST and PORT0 come prefixed
t_run "get_container_host_address: Marathon --env_vars_prefix" 0 env MARATHON_HOST=10.3.3.3 MARATHON_PORT0=31000 get_container_host_address
t_eq "get_container_host_address: prefixed output" "$OUT" 10.3.3.3
t_run "get_container_host_address: a *HOST without its PORT0/PORTS is not it" 1 env X_HOST=10.4.4.4 get_container_host_address
t_run "get_container_host_address: two prefixes, not ours to choose" 1 env A_HOST=1.1.1.1 A_PORTS=1 B_HOST=2.2.2.2 B_PORT0=2 get_container_host_address

t_run "get_container_internal_address (host)" 0 get_container_internal_address
t_match "get_container_internal_address: an IPv4, not loopback" "$OUT" '^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$'
[[ $OUT == 127.* ]] && t_fail "get_container_internal_address is loopback" "$OUT"

t_run "get_port" 0 env MDO_PORT_CLIENT_PORT=9042 get_port client-port
t_eq "get_port output (name mangled)" "$OUT" 9042
t_run "get_port: default" 0 get_port client-port 1234
t_eq "get_port: default output" "$OUT" 1234
t_run "get_port: set wins over default" 0 env MDO_PORT_PEER=7000 get_port peer 1
t_eq "get_port: set wins output" "$OUT" 7000
t_run "get_port: not found" 1 get_port nope
t_match "get_port: not found message" "$ERR" "MDO_PORT_NOPE"
t_run "get_port: usage" 2 get_port
t_run "get_port: too many arguments" 2 get_port a b c

# --- get_node_list -----------------------------------------------------------------------------
t_run "get_node_list with ports" 0 get_node_list db peer client-port
t_eq "get_node_list: host:ext:ext sorted by container" "$OUT" "$ALL"
t_run "get_node_list: port order as given" 0 get_node_list db client-port peer
t_eq "get_node_list: port order output" "$OUT" $'10.0.0.1:32001:31001\n10.0.0.2:32002:31002\n10.0.0.3:32003:31003'
t_run "get_node_list: hosts only" 0 get_node_list db
t_eq "get_node_list: hosts only output" "$OUT" $'10.0.0.1\n10.0.0.2\n10.0.0.3'
t_run "get_node_list through mdo guest" 0 "$MDO" guest get_node_list db peer client-port
t_eq "get_node_list through mdo guest output" "$OUT" "$ALL"
t_run "get_node_list --sep" 0 get_node_list db peer --sep ,
t_eq "get_node_list --sep output" "$OUT" "10.0.0.1:31001,10.0.0.2:31002,10.0.0.3:31003"
get_node_list db --sep ' ' >"$TMP/sep"
t_eq "get_node_list --sep ends with one newline" "$(od -An -c <"$TMP/sep")" \
    "$(printf '10.0.0.1 10.0.0.2 10.0.0.3\n' | od -An -c)"
t_run "get_node_list --sep=S" 0 get_node_list db --sep=';'
t_eq "get_node_list --sep=S output" "$OUT" "10.0.0.1;10.0.0.2;10.0.0.3"
t_run "get_node_list --label" 0 get_node_list db peer --label rack=r1
t_eq "get_node_list --label output" "$OUT" $'10.0.0.1:31001\n10.0.0.2:31002'
t_run "get_node_list --label twice (all must match)" 0 get_node_list db --label rack=r2 --label zone=z1
t_eq "get_node_list --label twice output" "$OUT" 10.0.0.3
t_run "get_node_list --label: none match" 0 get_node_list db --label zone=z9
t_eq "get_node_list --label: none match output" "$OUT" ""
t_run "get_node_list --label --minimum" 4 get_node_list db --label rack=r1 --minimum 3
t_run "get_node_list --minimum met" 0 get_node_list db peer --minimum 3
t_eq "get_node_list --minimum met output" "$OUT" $'10.0.0.1:31001\n10.0.0.2:31002\n10.0.0.3:31003'
t_run "get_node_list --minimum not met" 4 get_node_list db peer --minimum 4
t_eq "get_node_list --minimum not met: nothing on stdout" "$OUT" ""
t_match "get_node_list --minimum not met: message" "$ERR" "^get_node_list: service 'db' has 3 .*4"
t_run "get_node_list: unknown port" 1 get_node_list db peer nope
t_eq "get_node_list: unknown port: nothing on stdout" "$OUT" ""
t_match "get_node_list: unknown port message" "$ERR" "service 'db' has no port 'nope'"
t_run "get_node_list: unknown service is an empty list" 0 get_node_list nosuch
t_eq "get_node_list: unknown service output" "$OUT" ""
t_run "get_node_list: unknown service --minimum 1" 4 get_node_list nosuch --minimum 1
t_run "get_node_list: other environment is empty" 0 env MDO_ENVIRONMENT=${E}x get_node_list db
t_eq "get_node_list: other environment output" "$OUT" ""
t_run "get_node_list: prefix with a trailing /" 0 env MDO_ETCD_PREFIX=/mdo/ get_node_list db
t_eq "get_node_list: prefix with a trailing / output" "$OUT" $'10.0.0.1\n10.0.0.2\n10.0.0.3'
# names that break names.h's rule were never registered: "not found", no key built
t_run "get_node_list: a name against the rule is an empty list" 0 get_node_list Db
t_eq "get_node_list: a name against the rule: output" "$OUT" ""
t_run "get_specific_host: a container name against the rule" 1 get_specific_host db 'db"x'
t_match "get_specific_host: ... is not found" "$ERR" "^get_specific_host: service 'db' has no instance"
t_run "get_specific_port: ... takes the default" 0 get_specific_port db .. peer 7
t_eq "get_specific_port: ... default output" "$OUT" 7
t_run "MDO_ETCD_PREFIX without a leading /" 3 env MDO_ETCD_PREFIX=mdo get_node_list db
t_match "MDO_ETCD_PREFIX without a leading /: message" "$ERR" "MDO_ETCD_PREFIX 'mdo'"
t_run "MDO_ENVIRONMENT against the rule" 3 env MDO_ENVIRONMENT=Prod get_node_list db
t_run "register_callback: a service name against the rule" 2 register_callback Db http://127.0.0.1:1/
t_match "register_callback: ... message" "$ERR" "^register_callback: service 'Db' is not a valid name"
t_run "get_node_list: --minimum -1 reaches the range check" 2 get_node_list db --minimum -1
t_match "get_node_list: --minimum -1 message" "$ERR" "^get_node_list: --minimum wants a count, not '-1'"
t_run "get_node_list: seed's ETCD_HOST_ADDRESS" 0 env -u MDO_ETCD ETCD_HOST_ADDRESS=${ETCD#http://} get_node_list db
t_eq "get_node_list: seed's ETCD_HOST_ADDRESS output" "$OUT" $'10.0.0.1\n10.0.0.2\n10.0.0.3'

t_run "get_node_list --json" 0 get_node_list db --json
t_eq "get_node_list --json: one line" "$(grep -c . <<<"$OUT")" 1
want=$(ectl get --prefix --print-value-only "$KEYS/db/instances/" | /usr/bin/python3 -c '
import json, sys
recs = [json.loads(l) for l in sys.stdin if l.strip()]
print(json.dumps(sorted(recs, key=lambda r: r["container"]), sort_keys=True))')
got=$(/usr/bin/python3 -c 'import json, sys; print(json.dumps(json.load(sys.stdin), sort_keys=True))' <<<"$OUT")
t_eq "get_node_list --json: the records as stored, sorted" "$got" "$want"
t_run "get_node_list --json --label" 0 get_node_list db --json --label rack=r2
t_eq "get_node_list --json --label: containers" \
    "$(/usr/bin/python3 -c 'import json, sys; print([r["container"] for r in json.load(sys.stdin)])' <<<"$OUT")" "['db-c']"
t_run "get_node_list --json: empty" 0 get_node_list nosuch --json
t_eq "get_node_list --json: empty output" "$OUT" "[]"

t_run "get_node_list: usage (no service)" 2 get_node_list
t_run "get_node_list: usage (bad --minimum)" 2 get_node_list db --minimum x
t_run "get_node_list: usage (--minimum without value)" 2 get_node_list db --minimum
t_run "get_node_list: usage (bad --label)" 2 get_node_list db --label rack
t_run "get_node_list: usage (bad --wait)" 2 get_node_list db --wait -1
t_run "get_node_list: usage (unknown option)" 2 get_node_list db --bogus
t_match "get_node_list: usage message" "$ERR" "^get_node_list: unknown option '--bogus'"
t_run "get_node_list: usage (service with /)" 2 get_node_list a/b

DOWN=http://127.0.0.1:$(free_port)
t_run "get_node_list: registry down" 3 env MDO_ETCD=$DOWN get_node_list db
t_match "get_node_list: registry down names the endpoint" "$ERR" "^get_node_list: .*${DOWN#http://}"
t_eq "get_node_list: registry down: nothing on stdout" "$OUT" ""
t_run "get_node_list: no registry configured" 3 env -u MDO_ETCD get_node_list db
t_match "get_node_list: no registry message" "$ERR" "MDO_ETCD"
t_run "get_node_list: failover to the second endpoint" 0 env MDO_ETCD=$DOWN,$ETCD get_node_list db
t_eq "get_node_list: failover output" "$OUT" $'10.0.0.1\n10.0.0.2\n10.0.0.3'

# --wait: a fourth instance appears after ~1 s; the applet returns once it is there.
(sleep 1; put db db-d 10.0.0.4 31004 32004 r2) &
writer=$!
start=$(date +%s%N)
t_run "get_node_list --wait: minimum met while waiting" 0 get_node_list db peer --minimum 4 --wait 15
ms=$((($(date +%s%N) - start) / 1000000))
wait $writer
t_eq "get_node_list --wait output" "$OUT" $'10.0.0.1:31001\n10.0.0.2:31002\n10.0.0.3:31003\n10.0.0.4:31004'
echo "# figure: get_node_list --wait returned $ms ms after it began; the 4th record was written after about 1000 ms"
start=$(date +%s%N)
t_run "get_node_list --wait: gives up" 4 get_node_list db --minimum 9 --wait 1
ms=$((($(date +%s%N) - start) / 1000000))
t_eq "get_node_list --wait gives up: nothing on stdout" "$OUT" ""
echo "# figure: get_node_list --wait 1 gave up after $ms ms"
start=$(date +%s%N)
t_run "get_node_list --wait: registry down stays 3" 3 env MDO_ETCD=$DOWN get_node_list db --wait 1
ms=$((($(date +%s%N) - start) / 1000000))
echo "# figure: get_node_list --wait 1 with the registry down returned after $ms ms"
ectl del "$KEYS/db/instances/db-d" >/dev/null

# a record that is not one is skipped, not fatal; a key below an instance is not an instance
ectl put "$KEYS/db/instances/db-bad" 'not json' >/dev/null
ectl put "$KEYS/db/instances/db-a/extra" '{}' >/dev/null
t_run "get_node_list: bad record skipped" 0 get_node_list db
t_eq "get_node_list: bad record skipped output" "$OUT" $'10.0.0.1\n10.0.0.2\n10.0.0.3'
t_match "get_node_list: bad record named on stderr" "$ERR" "db-bad"
ectl del "$KEYS/db/instances/db-bad" >/dev/null
ectl del "$KEYS/db/instances/db-a/extra" >/dev/null

# --- get_specific_* ----------------------------------------------------------------------------
t_run "get_specific_host" 0 get_specific_host db db-b
t_eq "get_specific_host output" "$OUT" 10.0.0.2
t_run "get_specific_host: no such instance" 1 get_specific_host db db-x
t_match "get_specific_host: message" "$ERR" "^get_specific_host: service 'db' has no instance 'db-x'"
t_run "get_specific_host: usage" 2 get_specific_host db
t_run "get_specific_host: registry down" 3 env MDO_ETCD=$DOWN get_specific_host db db-b

t_run "get_specific_port" 0 get_specific_port db db-c client-port
t_eq "get_specific_port output (external)" "$OUT" 32003
t_run "get_specific_port: no such port" 1 get_specific_port db db-c nope
t_match "get_specific_port: no such port message" "$ERR" "no port 'nope'"
t_run "get_specific_port: default for a missing port" 0 get_specific_port db db-c nope 99
t_eq "get_specific_port: default output" "$OUT" 99
t_run "get_specific_port: default for a missing instance" 0 get_specific_port db db-x peer 98
t_eq "get_specific_port: default for a missing instance output" "$OUT" 98
t_run "get_specific_port: registry down beats the default" 3 env MDO_ETCD=$DOWN get_specific_port db db-c peer 99
t_eq "get_specific_port: registry down: nothing on stdout" "$OUT" ""
t_run "get_specific_port: usage" 2 get_specific_port db db-c

t_run "get_specific_exposed_port" 0 get_specific_exposed_port db db-a client-port
t_eq "get_specific_exposed_port output (internal)" "$OUT" 9042
t_run "get_specific_exposed_port: default" 0 get_specific_exposed_port db db-a nope 5
t_eq "get_specific_exposed_port: default output" "$OUT" 5
t_run "get_specific_exposed_port: not found" 1 get_specific_exposed_port db db-a nope
t_run "get_specific_exposed_port: usage" 2 get_specific_exposed_port db db-a peer 1 2

# --- inside a real container -------------------------------------------------------------------
if ! build_test_image; then
    t_fail "build the test image" "docker/build-image --binary $MDO failed"
    t_done
    exit
fi
drun() {
    docker run --rm --pull never --label mdo.environment="$E" -e MDO_ETCD="$ETCD_GW" \
        -e MDO_ENVIRONMENT="$E" "$@"
}
t_run "container: get_node_list" 0 drun "$TEST_IMAGE" get_node_list db peer client-port
t_eq "container: get_node_list output" "$OUT" "$ALL"
t_run "container: mdo guest get_node_list --sep" 0 drun "$TEST_IMAGE" mdo guest get_node_list db --sep ,
t_eq "container: mdo guest get_node_list output" "$OUT" "10.0.0.1,10.0.0.2,10.0.0.3"
t_run "container: get_specific_port" 0 drun "$TEST_IMAGE" get_specific_port db db-b peer
t_eq "container: get_specific_port output" "$OUT" 31002
t_run "container: get_port" 0 drun -e MDO_PORT_CLIENT_PORT=9042 "$TEST_IMAGE" get_port client-port
t_eq "container: get_port output" "$OUT" 9042
t_run "container: registry down" 3 drun -e MDO_ETCD=http://127.0.0.1:1 "$TEST_IMAGE" get_node_list db

cid=$(docker run -d --pull never --label mdo.environment="$E" -e MDO_ETCD="$ETCD_GW" \
    -e MDO_ENVIRONMENT="$E" "$TEST_IMAGE" sleep 300)
ip=$(docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$cid")
t_run "container: get_container_internal_address" 0 docker exec "$cid" get_container_internal_address
t_eq "container: get_container_internal_address is docker's IP" "$OUT" "$ip"
t_run "container: guest --install" 0 docker exec "$cid" sh -c 'mkdir /tmp/b && mdo guest --install /tmp/b && /tmp/b/get_node_list db'
t_eq "container: installed applet output" "$OUT" $'10.0.0.1\n10.0.0.2\n10.0.0.3'
# Start-up cost as a script sees it (a figure, not a pass/fail): ten runs inside the container.
docker exec "$cid" sh -c 'time get_node_list db peer client-port >/dev/null' 2>"$TMP/time1"
docker exec "$cid" sh -c 'time sh -c "i=0; while [ \$i -lt 100 ]; do get_node_list db peer client-port; i=\$((i + 1)); done" >/dev/null' 2>"$TMP/time100"
echo "# figure: in-container get_node_list, one run: $(tr '\n' ' ' <"$TMP/time1")"
echo "# figure: in-container get_node_list, 100 runs: $(tr '\n' ' ' <"$TMP/time100")"
docker rm -f "$cid" >/dev/null

t_done
