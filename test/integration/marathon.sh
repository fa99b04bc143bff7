#!/usr/bin/env bash
# marathon.sh - the whole chain on Marathon's API: mdo -> marathon-double (tasks are real
# containers) -> subscriber (SSE /v2/events) -> etcd -> lookups inside the tasks. Launch,
# idempotence, rolling update, scale, restart, stop, what mdo sends (schema), 409 locked and
# --force, 401, unreachable URL, the legacy shape; the subscriber's heal paths: killed task,
# dropped stream, lost events + resync.
. "$(dirname "$0")/lib.sh"

ensure_dockerd || exit 1
start_etcd || exit 1
build_test_image || { echo "cannot build the test image" >&2; exit 1; }
SCHEMA=$TOP/test/marathon-double/schema/AppDefinition.json # a copy of ref's, byte for byte
PORT_LO=$((33000 + (RANDOM % 100) * 300))

start_double MAR || exit 1
SPORT=$(free_port)
CFG=$TMP/mdo.yaml
# write_cfg FILE ENV URL [marathon: extra lines]
write_cfg() {
    cat >"$1" <<YAML
environment: $2
scheduler: marathon
etcd:
  endpoints: ["$ETCD_GW"]
marathon:
  url: $3
$4
subscriber:
  listen: "127.0.0.1:$SPORT"
  resync: 3
services:
  web:
    image: $TEST_IMAGE
    ports:
      http: 8080
      admin: 9090/udp
    instances: 3
    cpus: 0.1
    mem: 64
    args: [sh, -c, 'echo "hello from \$MESOS_TASK_ID" >/tmp/index.html; exec httpd -f -p 8080 -h /tmp']
    labels:
      tier: front
    environment:
      GREETING: hello
      API_TOKEN: s3cret-token-value
    health: {http: /index.html, port: http, interval: 1, timeout: 1, grace: 10}
YAML
}
write_cfg "$CFG" "$MDO_TEST_ENV" "$MAR" ""
export MDO_CONFIG=$CFG
APP=/$MDO_TEST_ENV/web
P=/mdo/$MDO_TEST_ENV/services/web/instances

# what the double runs and what the registry says
tasks() { curl -s "$MAR/v2/apps$APP/tasks"; }
task_ids() { tasks | jq -r '.tasks[] | select(.state == "TASK_RUNNING") | .id' | sort | tr '\n' ' '; }
reg_names() { ectl get --prefix --keys-only "$P/" | grep . | sed "s|^$P/||" | sort | tr '\n' ' '; }
in_sync() { local t; t=$(task_ids); [ -n "$t" ] && [ "$t" == "$(reg_names)" ]; }
n_running() { [ "$(tasks | jq '[.tasks[] | select(.state == "TASK_RUNNING")] | length')" == "$1" ]; }
all_healthy() { [ "$(ectl get --prefix --print-value-only "$P/" | jq -r .state | sort -u)" == healthy ]; }
container_of() { curl -s "$MAR/_double/state" | jq -r --arg t "$1" '.containers[$t]'; }
app_version() { curl -s "$MAR/v2/apps$APP" | jq -r .app.version; }
deployments() { curl -s "$MAR/v2/deployments" | jq length; }
faults() { curl -s -X POST -d "$1" "$MAR/_double/faults" >/dev/null; }
count_is() { [ "$(reg_count web)" == "$1" ]; }


# --- what mdo sends: Marathon's schema, secrets redacted ---
t_run "launch --dry-run" 0 mdo launch web --dry-run
t_eq "dry-run: a POST (the app does not exist)" "$(echo "$OUT" | head -1)" "POST /v2/apps"
echo "$OUT" | sed 1d >"$TMP/app.json"
t_run "dry-run body is valid against Marathon's AppDefinition.json" 0 /usr/bin/python3 -c '
import json, sys, jsonschema
jsonschema.Draft4Validator(json.load(open(sys.argv[1]))).validate(json.load(open(sys.argv[2])))' \
    "$SCHEMA" "$TMP/app.json"
t_eq "dry-run: the secret env value is redacted" "$(jq -r .env.API_TOKEN "$TMP/app.json")" "<redacted>"
t_eq "dry-run: the secret appears nowhere" "$(grep -c s3cret "$TMP/app.json")" 0
t_eq "dry-run: app id, network, named ports" \
    "$(jq -c '[.id, .networks[0].mode, [.container.portMappings[] | .name, .containerPort, .hostPort, .protocol]]' "$TMP/app.json")" \
    "[\"$APP\",\"container/bridge\",[\"http\",8080,0,\"tcp\",\"admin\",9090,0,\"udp\"]]"
t_eq "dry-run: env for the container (no MDO_CONTAINER_NAME: Mesos gives MESOS_TASK_ID)" \
    "$(jq -c '[.env.MDO_SERVICE, .env.MDO_ETCD, .env.MDO_PORT_HTTP, .env.MDO_CONTAINER_NAME]' "$TMP/app.json")" \
    "[\"web\",\"$ETCD_GW\",\"8080\",null]"
t_eq "dry-run: health check on the named port's index" \
    "$(jq -c '.healthChecks[0] | [.protocol, .path, .portIndex]' "$TMP/app.json")" '["HTTP","/index.html",0]'
t_eq "dry-run sent nothing" "$(curl -s "$MAR/v2/apps" | jq '.apps | length')" 0
write_cfg "$TMP/legacy.yaml" "${MDO_TEST_ENV}l" "$MAR" "  api: legacy"
t_run "legacy --dry-run" 0 mdo launch web --dry-run -c "$TMP/legacy.yaml"
echo "$OUT" | sed 1d >"$TMP/legacy.json"
t_run "legacy body is valid against the schema too" 0 /usr/bin/python3 -c '
import json, sys, jsonschema
jsonschema.Draft4Validator(json.load(open(sys.argv[1]))).validate(json.load(open(sys.argv[2])))' \
    "$SCHEMA" "$TMP/legacy.json"
t_eq "legacy shape: docker.network BRIDGE + docker.portMappings, no networks" \
    "$(jq -c '[.container.docker.network, (.container.docker.portMappings | length), .networks, .container.portMappings]' "$TMP/legacy.json")" \
    '["BRIDGE",2,null,null]'

# --- beside the main chain (t_bg): parts with doubles, environments and files of their own ---
# (each double is started here, in the main shell, whose cleanup stops it)
start_double SLOW --task-delay 6 || exit 1
start_double AUTH --auth "mdo:pa:ss-w0rd" || exit 1
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 \
    -addext subjectAltName=IP:127.0.0.1 -keyout "$TMP/tls.key" -out "$TMP/tls.crt" 2>/dev/null
start_double TLS --tls-cert "$TMP/tls.crt" --tls-key "$TMP/tls.key" || exit 1
start_double OLD --legacy || exit 1
start_double CBM || exit 1
deployments_auth_tls() {
    # --- 409: a deployment holds the app ---
    write_cfg "$TMP/slow.yaml" "${MDO_TEST_ENV}s" "$SLOW" ""
    t_run "launch on a slow Marathon (no wait)" 0 mdo launch web -c "$TMP/slow.yaml"
    sed -i 's/GREETING: hello/GREETING: hola/' "$TMP/slow.yaml"
    t_run "launch while the app is locked" 1 mdo launch web -c "$TMP/slow.yaml"
    dep=$(curl -s "$SLOW/v2/deployments" | jq -r '.[0].id')
    t_match "locked: names the deployment and suggests --force" "$ERR" "locked by deployment $dep.*--force"
    t_eq "locked: one line" "$(echo "$ERR" | wc -l)" 1
    t_run "restart --force overrides the deployment" 0 mdo restart web --force -c "$TMP/slow.yaml"
    t_match "force reported" "$ERR" "overriding deployment"
    t_run "launch --force overrides the deployment" 0 mdo launch web --force -c "$TMP/slow.yaml"
    t_match "launch --force reported" "$ERR" "overriding deployment|up to date"
    t_run "launch --wait waits for the blocking deployment, then updates" 0 mdo launch web --wait=120 -c "$TMP/slow.yaml"
    t_match "waited for the lock" "$ERR" "waiting for deployment|up to date|updated app"
    t_eq "the new env is what runs" "$(curl -s "$SLOW/v2/apps/${MDO_TEST_ENV}s/web" | jq -r .app.env.GREETING)" hola
    t_run "stop on the slow Marathon" 0 mdo stop web -c "$TMP/slow.yaml"

    # --- 401: basic auth ---
    write_cfg "$TMP/noauth.yaml" "${MDO_TEST_ENV}a" "$AUTH" ""
    t_run "no credentials: 401" 1 mdo launch web -c "$TMP/noauth.yaml"
    t_match "401 names the missing settings" "$ERR" "wants credentials \(HTTP 401\): set marathon.username and marathon.password \(or marathon.token\)"
    write_cfg "$TMP/badauth.yaml" "${MDO_TEST_ENV}a" "$AUTH" "  username: mdo
  password: wrong-secret-pw"
    t_run "wrong password: 401" 1 mdo launch web -c "$TMP/badauth.yaml"
    t_match "401 says which credential was refused" "$ERR" "refused marathon.username/marathon.password"
    t_eq "the password is never printed" "$(echo "$ERR" | grep -c wrong-secret-pw)" 0
    write_cfg "$TMP/auth.yaml" "${MDO_TEST_ENV}a" "$AUTH" "  username: mdo
  password: pa:ss-w0rd"
    t_run "right credentials (password with a colon)" 0 mdo launch web --wait -c "$TMP/auth.yaml"
    t_run "status with credentials" 0 mdo status web -c "$TMP/auth.yaml"
    t_match "status lists the tasks through auth" "$OUT" "web: 3 wanted, 3 running"
    t_run "stop with credentials" 0 mdo stop web -c "$TMP/auth.yaml"

    # --- TLS: https with the CA file, refused without it, insecure: true skips the check ---
    t_match "the double serves https" "$TLS" "^https://127.0.0.1:"
    write_cfg "$TMP/tls.yaml" "${MDO_TEST_ENV}t" "$TLS" "  ca: $TMP/tls.crt"
    sed -i 's/instances: 3/instances: 1/' "$TMP/tls.yaml"
    t_run "https with marathon.ca: launch" 0 mdo launch web --wait -c "$TMP/tls.yaml"
    t_run "https with marathon.ca: status" 0 mdo status web -c "$TMP/tls.yaml"
    t_match "https: 1 running" "$OUT" "web: 1 wanted, 1 running"
    write_cfg "$TMP/tls-noca.yaml" "${MDO_TEST_ENV}t" "$TLS" ""
    t_run "https without the CA: refused" 1 mdo status -c "$TMP/tls-noca.yaml"
    t_match "names the URL, the TLS cause and the settings" "$ERR" "cannot reach Marathon at https://127.0.0.1:.*(certificate|SSL).*marathon.ca and marathon.insecure"
    write_cfg "$TMP/tls-insecure.yaml" "${MDO_TEST_ENV}t" "$TLS" "  insecure: true"
    t_run "https with insecure: true" 0 mdo stop web -c "$TMP/tls-insecure.yaml"

    # --- a 0.7-style Marathon (the double's --legacy): DELETE answers 204, no SSE ---
    write_cfg "$TMP/old.yaml" "${MDO_TEST_ENV}o" "$OLD" "  api: legacy"
    t_run "0.7-style Marathon: launch --wait" 0 mdo launch web --wait -c "$TMP/old.yaml"
    t_run "0.7-style Marathon: stop (204, no body)" 0 mdo stop web -c "$TMP/old.yaml"
    t_eq "0.7-style Marathon: app gone" "$(curl -s -o /dev/null -w '%{http_code}' "$OLD/v2/apps/${MDO_TEST_ENV}o/web")" 404
}
callback_mode() {
    # --- callback mode (Marathon up to 1.4): events POSTed to the subscriber, no SSE ---
    CPORT=$(free_port)
    CENV=${MDO_TEST_ENV}c
    write_cfg "$TMP/cb.yaml" "$CENV" "$CBM" ""
    sed -i "s|^  listen: .*|  listen: \"127.0.0.1:$CPORT\"\n  public_url: \"http://127.0.0.1:$CPORT\"\n  mode: callback|; s|^  resync: 3|  resync: 600|; s|instances: 3|instances: 2|" "$TMP/cb.yaml"
    mdo subscribe -c "$TMP/cb.yaml" >>"$TMP/cb.log" 2>&1 &
    CB_PID=$!
    CLEANUP+=("kill -TERM \$CB_PID")
    wait_for 10 curl -sf "http://127.0.0.1:$CPORT/health"
    # the URL registered carries the secret path segment kept in etcd (32 hex digits)
    csecret() { ectl get --print-value-only "/mdo/$CENV/secrets/marathon_callback"; }
    wait_for 10 sh -c "etcdctl --endpoints $ETCD get --print-value-only /mdo/$CENV/secrets/marathon_callback | grep -Eqx '[0-9a-f]{32}'"
    SECRET=$(csecret)
    t_match "callback mode: a 32-hex-digit secret is kept in etcd" "$SECRET" '^[0-9a-f]{32}$'
    CBURL="http://127.0.0.1:$CPORT/marathon/callback/$SECRET"
    subscribed() { curl -s "$CBM/v2/eventSubscriptions" | jq -e --arg u "$CBURL" '.callbackUrls | index($u)' >/dev/null; }
    wait_for 10 subscribed
    t_eq "callback mode: registered with POST /v2/eventSubscriptions" "$(subscribed && echo yes)" yes
    t_eq "callback mode: the bare URL is not registered" "$(curl -s "$CBM/v2/eventSubscriptions" | jq -r '.callbackUrls[]' | grep -c 'callback$')" 0
    t_eq "callback mode: the log does not show the secret" "$(grep -c "$SECRET" "$TMP/cb.log")" 0
    CP=/mdo/$CENV/services/web/instances
    ccount_is() { [ "$(ectl get --prefix --keys-only "$CP/" | grep -c .)" == "$1" ]; }
    t_run "callback mode: launch 2" 0 mdo launch web --wait -c "$TMP/cb.yaml"
    wait_for 15 ccount_is 2
    t_eq "callback mode: registered from callbacks (resync is 600 s)" "$(ectl get --prefix --keys-only "$CP/" | grep -c .)" 2
    ctask=$(curl -s "$CBM/v2/apps/$CENV/web/tasks" | jq -r '.tasks[0].id')
    docker kill "$(docker ps -q --filter "label=marathon-double.task=$ctask" | head -1)" >/dev/null
    gone() { ! ectl get --keys-only "$CP/$ctask" | grep -q .; }
    wait_for 15 gone
    t_eq "callback mode: a killed task is deregistered" "$(gone && echo gone)" gone
    wait_for 20 ccount_is 2
    t_eq "callback mode: its replacement is registered" "$(ectl get --prefix --keys-only "$CP/" | grep -c .)" 2
    # a "down" that comes by callback is a hint: the record goes only when Marathon no longer lists
    # the task (checked by the events worker). A forged TASK_KILLING or health kill for a task that
    # runs leaves it registered; without the secret path segment nothing is taken at all.
    ktask=$(curl -s "$CBM/v2/apps/$CENV/web/tasks" | jq -r '[.tasks[] | select(.state == "TASK_RUNNING")][0].id')
    post_event() { curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' -d "$1" "${2:-$CBURL}"; }
    kgone() { ! ectl get --keys-only "$CP/$ktask" | grep -q .; }
    KILLING="{\"eventType\":\"status_update_event\",\"taskStatus\":\"TASK_KILLING\",\"appId\":\"/$CENV/web\",\"taskId\":\"$ktask\",\"host\":\"h\",\"ports\":[]}"
    t_eq "callback without the secret: 404" "$(post_event "$KILLING" "http://127.0.0.1:$CPORT/marathon/callback")" 404
    t_eq "callback with a wrong secret: 404" "$(post_event "$KILLING" "http://127.0.0.1:$CPORT/marathon/callback/00000000000000000000000000000000")" 404
    t_eq "callback with a longer secret: 404" "$(post_event "$KILLING" "${CBURL}0")" 404
    t_eq "a forged TASK_KILLING (the task runs) is accepted" "$(post_event "$KILLING")" 200
    t_eq "unhealthy_task_kill_event accepted" "$(post_event "{\"eventType\":\"unhealthy_task_kill_event\",\"appId\":\"/$CENV/web\",\"taskId\":\"$ktask\",\"version\":\"v\",\"reason\":\"r\",\"host\":\"h\",\"slaveId\":\"s\"}")" 200
    sleep 1.5 # three checks, a window (200 ms) apart
    t_eq "... and the running task stays registered (Marathon still lists it)" "$(ectl get --keys-only "$CP/$ktask" | grep -c .)" 1
    t_match "... the check is logged" "$(grep 'not confirmed' "$TMP/cb.log" | tail -1)" "task=$ktask"
    t_eq "another environment's event is ignored" "$(post_event "{\"eventType\":\"status_update_event\",\"taskStatus\":\"TASK_KILLED\",\"appId\":\"/other/web\",\"taskId\":\"x\"}")" 200
    t_eq "the seed's POST /callback/<secret> answers" "$(curl -s -o /dev/null -w '%{http_code}' -d '{"eventType":"api_post_event"}' "http://127.0.0.1:$CPORT/callback/$SECRET")" 200
    t_eq "the seed's POST /callback without it: 404" "$(curl -s -o /dev/null -w '%{http_code}' -d '{"eventType":"api_post_event"}' "http://127.0.0.1:$CPORT/callback")" 404
    t_eq "a body that is not an event: 400" "$(curl -s -o /dev/null -w '%{http_code}' -d 'nope' "$CBURL")" 400
    t_eq "GET on the callback route: 405" "$(curl -s -o /dev/null -w '%{http_code}' "$CBURL")" 405
    t_eq "... with Allow: POST" "$(curl -s -o /dev/null -D - "$CBURL" | tr -d '\r' | grep -i '^allow:')" "Allow: POST"
    kill -TERM $CB_PID; wait $CB_PID
    t_eq "callback mode: exits 0 on SIGTERM" "$?" 0
    t_eq "callback mode: unregistered on SIGTERM" "$(subscribed && echo still || echo removed)" removed
    mdo subscribe -c "$TMP/cb.yaml" >>"$TMP/cb.log" 2>&1 &
    CB_PID=$!
    wait_for 10 subscribed
    t_eq "callback mode: restarted, the same secret URL is registered again" "$(subscribed && echo yes)" yes
    t_eq "... the secret in etcd is unchanged" "$(csecret)" "$SECRET"
    kill -TERM $CB_PID; wait $CB_PID
    mdo stop web -c "$TMP/cb.yaml" >/dev/null 2>&1
}
t_bg deployments-auth-tls deployments_auth_tls
t_bg callback-mode callback_mode

start_subscriber
t_eq "subscriber answers /health" "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$SPORT/health")" 200

# --- launch 3 ---
t0=$(date +%s.%N)
t_run "launch web --wait" 0 mdo launch web --wait
wait_for 20 count_is 3
t1=$(date +%s.%N)
echo "# figure: marathon: launch --wait of 3 instances to 3 records in etcd: $(echo "$t1 - $t0" | bc) s"
t_match "launch says created and follows the deployment" "$ERR" "created app $APP, deployment .*3/3 running, 3 healthy"
t_eq "3 tasks running on the double" "$(tasks | jq '[.tasks[] | select(.state == "TASK_RUNNING")] | length')" 3
t_eq "the double validated and stored mdo's labels" \
    "$(curl -s "$MAR/v2/apps$APP" | jq -r '.app.labels | [."mdo.environment", ."mdo.service", ."mdo.label.tier"] | join(" ")')" \
    "$MDO_TEST_ENV web front"
wait_for 10 in_sync
t_eq "registry names = task ids" "$(reg_names)" "$(task_ids)"
for tid in $(task_ids); do
    rec=$(ectl get --print-value-only "$P/$tid")
    want=$(tasks | jq -r --arg t "$tid" '.tasks[] | select(.id == $t) | "\(.host) \(.ports[0]) \(.ports[1]) \(.ipAddresses[0].ipAddress) \(.startedAt)"')
    t_eq "${tid:0:30}...: host, external ports, address, started_at = the task's" \
        "$(echo "$rec" | jq -r '"\(.host) \(.ports.http.external) \(.ports.admin.external) \(.address) \(.started_at)"')" "$want"
    t_eq "${tid:0:30}...: internal ports, protocol, labels, backend" \
        "$(echo "$rec" | jq -r '"\(.ports.http.internal) \(.ports.admin.internal) \(.ports.admin.protocol) \(.labels.tier) \(.backend) \(.app_version | length)"')" \
        "8080 9090 udp front marathon 12"
done
wait_for 15 all_healthy
t_eq "records are healthy (the app's HTTP check)" "$(ectl get --prefix --print-value-only "$P/" | jq -r .state | sort -u)" healthy

# --- status ---
t_run "status" 0 mdo status
t_match "status: scheduler marathon" "$OUT" "scheduler marathon"
t_match "status: counts" "$OUT" "web: 3 wanted, 3 running, 3 registered"

# --- lookups inside a task's container ---
TID1=$(task_ids | cut -d' ' -f1)
C1=$(container_of "$TID1")
want=$(for t in $(task_ids); do tasks | jq -r --arg t "$t" '.tasks[] | select(.id == $t) | "\(.host):\(.ports[0])"'; done)
t_run "get_node_list inside a task container" 0 docker exec "$C1" get_node_list web http
t_eq "get_node_list prints the 3 peers (host:external, by task id)" "$OUT" "$want"
t_run "get_container_name inside = MESOS_TASK_ID" 0 docker exec "$C1" get_container_name
t_eq "container name is the task id" "$OUT" "$TID1"
t_run "a peer reaches another at its registered address" 0 docker exec "$C1" timeout 5 wget -q -O - "http://$(echo "$want" | sed -n 3p)/"
t_eq "the task that answers is the one registered" "$OUT" "hello from $(task_ids | cut -d' ' -f3)"
t_run "env inside: mdo's and the user's" 0 docker exec "$C1" sh -c 'echo $MDO_SERVICE $GREETING $MDO_PORT_HTTP $MDO_ETCD'
t_eq "MDO_* and user env inside" "$OUT" "web hello 8080 $ETCD_GW"

# --- idempotent launch ---
v0=$(app_version)
t_run "second launch" 0 mdo launch web
t_match "second launch says up to date" "$ERR" "web: up to date"
t_eq "second launch sent no PUT (app version unchanged)" "$(app_version)" "$v0"
t_eq "no deployment started" "$(deployments)" 0
t_run "dry-run of an up-to-date app" 0 mdo launch web --dry-run
t_match "dry-run says up to date" "$OUT" "up to date"

# --- a changed config: PUT, rolling replacement ---
old=$(task_ids)
sed -i 's/GREETING: hello/GREETING: bonjour/' "$CFG"
t_run "launch --dry-run of a change shows a PUT" 0 mdo launch web --dry-run
t_eq "the PUT replaces the whole definition" "$(echo "$OUT" | head -1)" "PUT /v2/apps$APP?partialUpdate=false"
t_run "launch with a changed env --wait" 0 mdo launch web --wait
t_match "update reported with both versions" "$ERR" "updated app $APP \(version [0-9a-f]{12} -> [0-9a-f]{12}\)"
new=$(task_ids)
t_eq "3 tasks after the update" "$(echo "$new" | wc -w)" 3
t_eq "every task was replaced" "$(comm -12 <(echo "$old" | tr ' ' '\n' | grep .) <(echo "$new" | tr ' ' '\n' | grep .) | wc -l)" 0
t_eq "new env inside" "$(docker exec "$(container_of "$(echo "$new" | cut -d' ' -f1)")" sh -c 'echo $GREETING')" bonjour
wait_for 15 in_sync
t_eq "after the rolling update registry = tasks" "$(reg_names)" "$(task_ids)"

# --- scale ---
t_run "scale web 5 --wait" 0 mdo scale web 5 --wait
t_match "scale progress" "$ERR" "5/5 running, 5 healthy"
wait_for 15 count_is 5
t_eq "scale to 5: 5 records" "$(reg_count web)" 5
t_run "scale web 2 --wait" 0 mdo scale web 2 --wait
wait_for 15 count_is 2
wait_for 5 in_sync
t_eq "scale to 2: registry = the 2 tasks left" "$(reg_names)" "$(task_ids)"
t_eq "scale: 2 tasks" "$(task_ids | wc -w)" 2

# --- restart ---
old=$(task_ids)
t_run "restart web" 0 mdo restart web
t_match "restart reports the deployment" "$ERR" "restarting, deployment"
replaced() { local t; t=$(task_ids); [ "$(echo "$t" | wc -w)" == 2 ] && [ -z "$(comm -12 <(echo "$old" | tr ' ' '\n' | grep .) <(echo "$t" | tr ' ' '\n' | grep .))" ] && [ "$(deployments)" == 0 ]; }
wait_for 30 replaced
t_eq "restart replaced both tasks" "$(replaced && echo yes)" yes
wait_for 10 in_sync
t_eq "after restart registry = tasks" "$(reg_names)" "$(task_ids)"

# --- a killed task: deregistered, its replacement registered ---
TK=$(task_ids | cut -d' ' -f1)
docker kill "$(container_of "$TK")" >/dev/null
gone_and_back() { ! reg_names | grep -q "$TK" && n_running 2 && in_sync; }
wait_for 20 gone_and_back
t_eq "killed task deregistered, relaunched task registered" "$(gone_and_back && echo yes)" yes
t_match "the kill came as an event (not only a resync)" "$(grep "deregistered.*$TK" "$TMP/sub.log")" "deregistered"

# --- the stream dropped: reconnect + reconcile heals what happened meanwhile ---
faults '{"drop_streams": true}'
mdo scale web 3 >/dev/null 2>&1
wait_for 20 sh -c "[ \"\$(curl -s $MAR/v2/apps$APP/tasks | jq '[.tasks[] | select(.state == \"TASK_RUNNING\")] | length')\" = 3 ]"
wait_for 15 in_sync
t_eq "after a dropped stream, registry = tasks" "$(reg_names)" "$(task_ids)"
t_match "the subscriber reconnected" "$(grep -c 'event stream connected' "$TMP/sub.log")" "^[2-9]"

# --- events lost on purpose: the periodic resync (3 s) heals ---
faults '{"lose_events": {"status_update_event": 100, "health_status_changed_event": 100}}'
old=$(task_ids)
t_run "scale web 4 --wait (its events are lost)" 0 mdo scale web 4 --wait
NEWT=$(comm -13 <(echo "$old" | tr ' ' '\n' | grep .) <(task_ids | tr ' ' '\n' | grep .))
t_eq "one new task" "$(echo "$NEWT" | grep -c .)" 1
wait_for 15 in_sync
t_eq "resync registered it" "$(reg_names)" "$(task_ids)"
t_match "by a reconcile" "$(grep "reconcile: register.*container=$NEWT" "$TMP/sub.log")" "reconcile: register"
t_eq "not by an event (they were lost)" "$(grep -c "msg=\"registered\".*container=$NEWT" "$TMP/sub.log")" 0
faults '{"clear": true}'

# --- an empty listing (a Marathon between leaders): held back, reported, nothing removed ---
health() { curl -s "http://127.0.0.1:$SPORT/health"; }
held_seen() { health | jq -e '(.held // []) | length > 0' >/dev/null; }
before=$(reg_names)
faults '{"empty_apps": 1}'
wait_for 10 held_seen
t_eq "/health reports the held-back removals" "$(health | jq -r '.held | length')" 4
t_match "and says why" "$(health | jq -r '.reasons | join(",")')" "mass removal held back"
t_eq "/health is 503 meanwhile" "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$SPORT/health")" 503
t_eq "nothing removed on one empty listing" "$(reg_names)" "$before"
wait_for 10 sh -c "! curl -s http://127.0.0.1:$SPORT/health | jq -e '(.held // []) | length > 0' >/dev/null"
t_eq "the next listing disagrees: released, still nothing removed" "$(reg_names)" "$before"
t_eq "/health is 200 again" "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$SPORT/health")" 200

# --- apps without mdo's labels are ignored quietly ---
curl -s -X POST -H 'Content-Type: application/json' "$MAR/v2/apps" -d "{\"id\":\"/$MDO_TEST_ENV/foreign\",\"instances\":1,\"cpus\":0.1,\"mem\":32,\"container\":{\"type\":\"DOCKER\",\"docker\":{\"image\":\"$TEST_IMAGE\"}},\"args\":[\"sleep\",\"600\"]}" >/dev/null
foreign_runs() { curl -s "$MAR/v2/apps/$MDO_TEST_ENV/foreign/tasks" | jq -e '[.tasks[] | select(.state == "TASK_RUNNING")] | length == 1' >/dev/null; }
wait_for 20 foreign_runs
# the sign that the subscriber looked: two more reconcile passes (the second began after it ran)
reconciles() { curl -s "http://127.0.0.1:$SPORT/metrics" | awk '$1 == "mdo_reconciles_total" {print $2}'; }
r=$(reconciles)
wait_for 15 '[ "$(reconciles)" -ge $((${r:-0} + 2)) ]'
t_eq "an app without mdo's labels is not registered" "$(ectl get --prefix --keys-only "/mdo/$MDO_TEST_ENV/services/foreign/" | grep -c .)" 0
t_eq "and not warned about" "$(grep -c 'foreign' "$TMP/sub.log")" 0
curl -s -X DELETE "$MAR/v2/apps/$MDO_TEST_ENV/foreign?force=true" >/dev/null

# --- unreachable Marathon ---
write_cfg "$TMP/down.yaml" "${MDO_TEST_ENV}d" "http://mdo:hidden-pw@127.0.0.1:1" ""
t_run "unreachable Marathon: launch fails" 1 mdo launch web -c "$TMP/down.yaml"
t_match "names Marathon, the URL and the cause" "$ERR" "cannot reach Marathon at http://127.0.0.1:1: .*(refused|connect)"
t_eq "credentials in the URL are not printed" "$(echo "$ERR" | grep -c hidden-pw)" 0
t_run "unreachable Marathon: --dry-run still shows the body" 0 mdo launch web --dry-run -c "$TMP/down.yaml"
t_eq "dry-run offline prints a POST" "$(echo "$OUT" | head -1)" "POST /v2/apps"
t_run "scale of a service not launched" 1 mdo scale web 2 -c "$TMP/legacy.yaml"
t_match "not launched message" "$ERR" "service not launched.*mdo launch web"

# --- legacy shape accepted by the double ---
t_run "legacy api: launch --wait" 0 mdo launch web --wait -c "$TMP/legacy.yaml"
t_eq "legacy: stored with docker.network BRIDGE" "$(curl -s "$MAR/v2/apps/${MDO_TEST_ENV}l/web" | jq -r '.app.container.docker.network')" BRIDGE
t_run "legacy: second launch" 0 mdo launch web -c "$TMP/legacy.yaml"
t_match "legacy: up to date" "$ERR" "up to date"
t_run "legacy: status" 0 mdo status web -c "$TMP/legacy.yaml"
t_match "legacy: 3 running with their ports" "$OUT" "web: 3 wanted, 3 running"
t_run "legacy: stop" 0 mdo stop web -c "$TMP/legacy.yaml"

# --- stop ---
t_run "stop web" 0 mdo stop web
t_match "stop reports the deployment" "$ERR" "removing app $APP"
t_eq "stop: the app is gone" "$(curl -s -o /dev/null -w '%{http_code}' "$MAR/v2/apps$APP")" 404
no_containers() { [ "$(curl -s "$MAR/_double/state" | jq '[.containers[] | select(. != null)] | length')" == 0 ] && [ "$(docker ps -q --filter "label=marathon-double.app=$APP" | wc -l)" == 0 ]; }
wait_for 30 no_containers
t_eq "stop: no container left" "$(no_containers && echo none)" none
wait_for 15 count_is 0
t_eq "stop: registry empty" "$(reg_count web)" 0
t_run "stop again is fine" 0 mdo stop web
t_match "nothing to stop" "$ERR" "nothing to stop"

stop_subscriber
t_eq "subscriber exits 0 on SIGTERM" "$?" 0

# the parts run beside the chain: their output and counts
t_bg_wait
t_eq "no error lines in the subscriber log" "$(cat "$TMP/sub.log" "$TMP/cb.log" | grep -c 'level=error')" 0
t_eq "no sanitizer report in the subscriber log" "$(grep -c 'Sanitizer\|runtime error' "$TMP/sub.log")" 0
[ -n "${KEEP_TMP:-}" ] && cp -r "$TMP" /tmp/keep-$TEST_NAME
t_done
