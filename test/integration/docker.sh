#!/usr/bin/env bash
# docker.sh - the whole chain on the local engine: launch -> Docker -> subscriber -> etcd ->
# lookups inside the containers; scale, kill, reconcile after a subscriber restart, etcd restart.
. "$(dirname "$0")/lib.sh"

ensure_dockerd || exit 1
start_etcd || exit 1
build_test_image || { echo "cannot build the test image" >&2; exit 1; }
GW=$(bridge_gateway)
SPORT=$(free_port)
CFG=$TMP/mdo.yaml
write_config <<YAML
services:
  web:
    image: $TEST_IMAGE
    ports:
      http: 8080
      admin: 9090/udp
    instances: 3
    cpus: 0.2
    mem: 64
    args: [sh, -c, 'echo "hello from \$MDO_CONTAINER_NAME" >/tmp/index.html; exec httpd -f -p 8080 -h /tmp']
    labels:
      tier: front
    environment:
      GREETING: hello
YAML
P=/mdo/$MDO_TEST_ENV/services/web/instances

# names of the running containers of web, and of the registered instances, sorted
docker_names() { docker ps --filter "label=mdo.environment=$MDO_TEST_ENV" --filter label=mdo.service=web --format '{{.Names}}' | sort | tr '\n' ' '; }
reg_names() { ectl get --prefix --keys-only "$P/" | grep . | sed "s|^$P/||" | sort | tr '\n' ' '; }
in_sync() { [ "$(docker_names)" == "$(reg_names)" ] && [ -n "$(docker_names)" ]; }
count_is() { [ "$(reg_count web)" == "$1" ]; }

start_subscriber
t_eq "subscriber answers /health" "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$SPORT/health")" 200

# --- launch 3 ---
t0=$(date +%s.%N)
t_run "launch web --wait" 0 mdo launch web --wait
wait_for 15 count_is 3
t1=$(date +%s.%N)
echo "# figure: launch --wait of 3 instances to 3 records: $(echo "$t1 - $t0" | bc) s"
t_eq "3 records in etcd" "$(reg_count web)" 3
t_eq "registry names = docker names" "$(reg_names)" "$(docker_names)"
for i in 1 2 3; do
    c=$MDO_TEST_ENV-web-$i
    rec=$(ectl get --print-value-only "$P/$c")
    want=$(docker port "$c" 8080/tcp | head -1)
    got=$(echo "$rec" | jq -r '"\(.host):\(.ports.http.external)"')
    t_eq "$c: host:external port = docker port" "$got" "$want"
    t_eq "$c: internal port and udp" "$(echo "$rec" | jq -r '"\(.ports.http.internal) \(.ports.admin.protocol) \(.labels.tier) \(.backend) \(.state)"')" "8080 udp front docker running"
    t_eq "$c: address = docker inspect IP" "$(echo "$rec" | jq -r .address)" "$(docker inspect -f '{{.NetworkSettings.IPAddress}}' "$c")"
done

# --- lookups inside a container ---
want=$(for i in 1 2 3; do docker port "$MDO_TEST_ENV-web-$i" 8080/tcp | head -1; done)
t_run "get_node_list inside a container" 0 docker exec "$MDO_TEST_ENV-web-1" get_node_list web http
t_eq "get_node_list prints the 3 peers" "$OUT" "$want"
t_run "a peer reaches another at its registered address" 0 docker exec "$MDO_TEST_ENV-web-1" timeout 5 wget -O - "http://$(echo "$want" | sed -n 3p)/"
t_eq "the instance that answers is the one registered" "$OUT" "hello from $MDO_TEST_ENV-web-3"
t_run "get_port inside" 0 docker exec "$MDO_TEST_ENV-web-2" get_port http
t_eq "get_port http" "$OUT" 8080
t_run "env injected" 0 docker exec "$MDO_TEST_ENV-web-2" sh -c 'echo $MDO_SERVICE $MDO_CONTAINER_NAME $MDO_HOST_ADDRESS $GREETING $SERVICE_NAME'
t_eq "MDO_* and user env inside" "$OUT" "web $MDO_TEST_ENV-web-2 $GW hello web"
start=$(date +%s%N)
for i in $(seq 20); do docker exec "$MDO_TEST_ENV-web-1" get_node_list web http >/dev/null; done
echo "# figure: docker exec get_node_list, mean of 20 (includes docker exec): $(( ($(date +%s%N) - start) / 20000000 )) ms"
docker exec "$MDO_TEST_ENV-web-1" sh -c 'time get_node_list web http' 2>&1 | grep real | sed 's/^/# figure: get_node_list in-container (busybox time): /'

# --- idempotent launch ---
ids=$(docker ps -q --filter "label=mdo.environment=$MDO_TEST_ENV" | sort)
t_run "second launch" 0 mdo launch web
t_match "second launch says up to date" "$ERR" "up to date"
t_eq "second launch changed no container" "$(docker ps -q --filter "label=mdo.environment=$MDO_TEST_ENV" | sort)" "$ids"

# --- scale ---
t_run "scale web 1" 0 mdo scale web 1 --wait
wait_for 15 count_is 1
t_eq "scale to 1: 2 records gone" "$(reg_names)" "$MDO_TEST_ENV-web-1 "
t_run "scale web 3" 0 mdo scale web 3 --wait
wait_for 15 count_is 3
t_eq "scale back to 3" "$(reg_count web)" 3

# --- a killed instance is deregistered ---
docker kill "$MDO_TEST_ENV-web-2" >/dev/null
wait_for 10 count_is 2
t_eq "docker kill: deregistered" "$(reg_names)" "$MDO_TEST_ENV-web-1 $MDO_TEST_ENV-web-3 "
t_run "launch brings the killed one back" 0 mdo launch web --wait
wait_for 10 count_is 3
t_eq "relaunched instance registered" "$(reg_count web)" 3

# --- changed config: rolling replacement, one at a time ---
sed -i 's/GREETING: hello/GREETING: bonjour/' "$CFG"
old=$(docker inspect -f '{{.Id}}' "$MDO_TEST_ENV-web-1")
t_run "launch with a changed env replaces instances" 0 mdo launch web --wait
t_match "replacement reported" "$ERR" "replacing"
t_eq "new container under the same name" "$([ "$(docker inspect -f '{{.Id}}' "$MDO_TEST_ENV-web-1")" != "$old" ] && echo new)" new
t_eq "new env inside" "$(docker exec "$MDO_TEST_ENV-web-1" sh -c 'echo $GREETING')" bonjour
wait_for 15 in_sync
t_eq "after the rolling update registry = docker" "$(reg_names)" "$(docker_names)"
t_eq "no -old- container left" "$(docker ps -a --filter "label=mdo.environment=$MDO_TEST_ENV" --format '{{.Names}}' | grep -c old)" 0

# --- rolling restart ---
ids=$(docker ps -q --filter "label=mdo.environment=$MDO_TEST_ENV" | sort)
t_run "restart web" 0 mdo restart web
t_eq "restart: one line per instance" "$(echo "$ERR" | grep -c restarting)" 3
t_eq "restart: every container is new" "$(comm -12 <(echo "$ids") <(docker ps -q --filter "label=mdo.environment=$MDO_TEST_ENV" | sort) | wc -l)" 0
wait_for 15 in_sync
t_eq "after restart registry = docker" "$(reg_names)" "$(docker_names)"
t_run "restart of an unknown service" 1 mdo restart nosuch

# --- reconcile after a subscriber restart ---
stop_subscriber
t_eq "subscriber exits 0 on SIGTERM" "$?" 0
docker rm -f "$MDO_TEST_ENV-web-3" >/dev/null
docker run -d --name "$MDO_TEST_ENV-web-9" --label "mdo.environment=$MDO_TEST_ENV" --label mdo.service=web \
    --label mdo.ports=http:8080/tcp --label mdo.app_version=byhand -p "$GW::8080" \
    "$TEST_IMAGE" httpd -f -p 8080 -h /tmp >/dev/null
start_subscriber
wait_for 15 in_sync
t_eq "reconcile: registry = docker after restart" "$(reg_names)" "$MDO_TEST_ENV-web-1 $MDO_TEST_ENV-web-2 $MDO_TEST_ENV-web-9 "
t_eq "hand-made instance has its port" "$(ectl get --print-value-only "$P/$MDO_TEST_ENV-web-9" | jq -r .ports.http.external)" "$(docker port "$MDO_TEST_ENV-web-9" 8080/tcp | head -1 | cut -d: -f2)"

# --- hostile registry content is healed by the periodic resync (resync: 5) ---
good=$(ectl get --print-value-only "$P/$MDO_TEST_ENV-web-2")
ectl put "$P/$MDO_TEST_ENV-web-2" '{not json' >/dev/null
ectl put "$P/$MDO_TEST_ENV-ghost-1" '{"service":"web","container":"x","host":"h"}' >/dev/null
ectl put "$P/$MDO_TEST_ENV-web-77" '[]' >/dev/null
healed() { [ "$(ectl get --print-value-only "$P/$MDO_TEST_ENV-web-2")" == "$good" ] && [ "$(reg_names)" == "$(docker_names)" ]; }
wait_for 15 healed
t_eq "a garbage value of a running instance is rewritten" "$(ectl get --print-value-only "$P/$MDO_TEST_ENV-web-2")" "$good"
t_eq "garbage and foreign keys of no instance are removed, the rest untouched" "$(reg_names)" "$(docker_names)"

# --- etcd goes away under a running subscriber, and comes back ---
stop_etcd
docker rm -f "$MDO_TEST_ENV-web-9" >/dev/null
wait_for 10 sh -c "curl -s http://127.0.0.1:$SPORT/health | grep -q 'etcd unreachable'"
t_match "/health says etcd is unreachable" "$(curl -s "http://127.0.0.1:$SPORT/health")" "etcd unreachable"
t_eq "/health is 503 meanwhile" "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$SPORT/health")" 503
run_etcd
wait_for 30 in_sync
t_eq "after etcd is back, registry = docker (no restart)" "$(reg_names)" "$MDO_TEST_ENV-web-1 $MDO_TEST_ENV-web-2 "
wait_for 10 curl -sf "http://127.0.0.1:$SPORT/health"
t_eq "/health is 200 again" "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$SPORT/health")" 200
t_eq "subscriber still the same process" "$(kill -0 "$SUB_PID" && echo alive)" alive

# --- the HTTP side ---
t_match "/info lists the instances" "$(curl -s "http://127.0.0.1:$SPORT/info")" "$MDO_TEST_ENV-web-2"
t_eq "/v1/services/web JSON" "$(curl -s "http://127.0.0.1:$SPORT/v1/services/web" | jq -r '.services.web | length')" 2
t_eq "unknown route 404" "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$SPORT/nope")" 404
t_eq "POST to a GET route is 405" "$(curl -s -o /dev/null -w '%{http_code}' -d x "http://127.0.0.1:$SPORT/v1/services")" 405

# --- status ---
t_run "status" 0 mdo status
t_match "status shows counts (web-3 removed behind mdo: the engine keeps 2)" "$OUT" "web: 2 wanted, 2 running, 2 registered \\(config: 3\\)"
t_run "status --json" 0 mdo status web --json
t_eq "status --json in sync" "$(echo "$OUT" | jq -r '.services[0].instances | map(.in_sync) | all')" true

# --- bad input: one line, exit 1, nothing done ---
t_run "unknown service" 1 mdo launch nosuch
t_match "unknown service message" "$ERR" "unknown service 'nosuch'.*has: web"
t_run "negative count" 1 mdo scale web -1
t_match "negative count message" "$ERR" "0 to 1000"
t_run "huge count" 1 mdo scale web 100000
t_run "scale needs N" 2 mdo scale web
sed "s|$ETCD|http://127.0.0.1:1|" "$CFG" >"$TMP/noetcd.yaml"
t_run "etcd unreachable: launch needs no etcd" 0 mdo launch web -c "$TMP/noetcd.yaml"
t_eq "etcd unreachable: launch warns of nothing" "$(grep -ci 'warning\|etcd' <<<"$ERR")" 0
t_eq "etcd unreachable: launch brought web back to the config's 3" "$(docker ps -q --filter "label=mdo.environment=$MDO_TEST_ENV" | wc -l)" 3
t_run "etcd unreachable: status fails" 1 mdo status web -c "$TMP/noetcd.yaml"
t_match "names etcd and the cause" "$ERR" "etcd unreachable.*127.0.0.1:1"
t_eq "etcd unreachable: one line" "$(echo "$ERR" | wc -l)" 1
printf 'docker:\n  socket: /nonexistent.sock\n' >>"$TMP/nodocker.yaml"
sed '/^docker:/,/^services:/{/^services:/!d}' "$CFG" >>"$TMP/nodocker.yaml"
t_run "docker unreachable: launch fails" 1 mdo launch web -c "$TMP/nodocker.yaml"
t_match "names Docker and the fix" "$ERR" "cannot reach Docker at /nonexistent.sock.*dockerd"
sed -i 's|image: .*|image: mdo-no-such-image:never|' "$TMP/noetcd.yaml"
sed "s|http://127.0.0.1:1|$ETCD|" "$TMP/noetcd.yaml" >"$TMP/noimage.yaml"
sed -i "s/environment: $MDO_TEST_ENV/environment: ${MDO_TEST_ENV}x/" "$TMP/noimage.yaml"
t_run "missing image with pull: never" 1 mdo launch web -c "$TMP/noimage.yaml"
t_match "names the image and the fix" "$ERR" "image 'mdo-no-such-image:never' is not on this Docker engine"
t_eq "no registry traffic: nothing was created" "$(docker ps -aq --filter "label=mdo.environment=${MDO_TEST_ENV}x" | wc -l)" 0

# --- stop ---
t_run "stop web" 0 mdo stop web
t_eq "stop: no container left" "$(docker ps -aq --filter "label=mdo.environment=$MDO_TEST_ENV" | wc -l)" 0
wait_for 10 count_is 0
t_eq "stop: registry empty" "$(reg_count web)" 0
t_eq "stop: spec removed" "$(ectl get --keys-only "/mdo/$MDO_TEST_ENV/specs/web" | grep -c .)" 0
t_run "stop again is fine" 0 mdo stop web
echo "# figure: subscriber RSS after the suite: $(grep -h VmRSS /proc/$SUB_PID/status | tr -s ' \t' ' '), peak $(grep -h VmHWM /proc/$SUB_PID/status | tr -s ' \t' ' ')"
stop_subscriber
t_eq "no error lines in the subscriber log" "$(grep -c 'level=error' "$TMP/sub.log")" 0

# --- etcd.prefix with a trailing '/' (F12): one keyspace for the subscriber and the applets ---
# The prefix is normalised once in the loader: "/pfx/" writes /pfx/<env>/services/..., never
# /pfx//<env>/..., and the containers' MDO_ETCD_PREFIX=/pfx/ reads the same keys.
E=$MDO_TEST_ENV
sed -e "s|^  endpoints: .*|&\n  prefix: /pfx/|" -e 's/instances: 3/instances: 1/' "$CFG" >"$TMP/pfx.yaml"
export MDO_CONFIG=$TMP/pfx.yaml
start_subscriber || echo "the subscriber with etcd.prefix /pfx/ did not start (counted above)" >&2
t_run "prefix /pfx/: launch web --wait" 0 mdo launch web --wait
wait_eq 15 "prefix /pfx/: the instance is registered under /pfx/<env>/services/web/instances/" \
    'ectl get --prefix --keys-only "/pfx/$E/services/web/instances/" | grep -c .' 1
t_eq "prefix /pfx/: no key has '//'" "$(ectl get --prefix --keys-only /pfx/ | grep -c //)" 0
t_eq "prefix /pfx/: the leader key is /pfx/<env>/leader" "$(ectl get --keys-only "/pfx/$E/leader" | grep -c .)" 1
want=$(docker port "$E-web-1" 8080/tcp | head -1) # what the record must say: Docker's answer
t_match "prefix /pfx/: Docker published the port" "$want" '^[0-9.]+:[0-9]+$'
t_match "prefix /pfx/: the container is told MDO_ETCD_PREFIX=/pfx (or /pfx/)" "$(docker exec "$E-web-1" sh -c 'echo "$MDO_ETCD_PREFIX"')" '^/pfx/?$'
t_run "prefix /pfx/: get_node_list inside the container" 0 docker exec "$E-web-1" get_node_list web http
t_eq "prefix /pfx/: ... reads the subscriber's record" "$OUT" "$want"
t_run "prefix /pfx/: get_node_list on the host, MDO_ETCD_PREFIX=/pfx/" 0 \
    env MDO_ETCD="$ETCD" MDO_ENVIRONMENT="$E" MDO_ETCD_PREFIX=/pfx/ get_node_list web http
t_eq "prefix /pfx/: ... reads it too" "$OUT" "$want"
t_run "prefix /pfx/: stop web" 0 mdo stop web
wait_eq 10 "prefix /pfx/: stop leaves no key under /pfx/ but the running subscriber's leader key" \
    'ectl get --prefix --keys-only /pfx/ | grep . | grep -vc "^/pfx/$E/leader\$"' 0
stop_subscriber
t_eq "prefix /pfx/: subscriber exits 0" "$?" 0
[ -n "${KEEP_TMP:-}" ] && cp -r "$TMP" /tmp/keep-$TEST_NAME
t_done
