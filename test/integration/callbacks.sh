#!/usr/bin/env bash
# callbacks.sh - membership callbacks end to end: register_callback inside a real container and
# POST /v1/callbacks (bearer token), deliveries on scale/kill with verified HMAC signatures,
# retries, giving up, /metrics, a hanging target that delays nothing else, owner removal, and
# registrations surviving a subscriber restart.
#
#   MDO_BUILD=/work/main/build bash test/integration/callbacks.sh
. "$(dirname "$0")/lib.sh"

[ -x "$MDO" ] || { echo "callbacks: no mdo binary at $MDO" >&2; exit 1; }
ensure_dockerd || exit 1
start_etcd || exit 1
build_test_image || { echo "cannot build the test image" >&2; exit 1; }
GW=$(bridge_gateway)
SPORT=$(free_port)
TOKEN=tok$RANDOM$RANDOM
GTOKEN=guest$RANDOM$RANDOM
E=$MDO_TEST_ENV
CFG=$TMP/mdo.yaml
# callback_allow: the dead target below is on loopback (denied by default)
write_config -l "$GW:$SPORT" -s "token: \"$TOKEN\"" -s "guest_token: \"$GTOKEN\"" \
    -s "callback_allow: [127.0.0.1/32]" <<YAML
services:
  web:
    image: $TEST_IMAGE
    ports: {http: 8080}
    instances: 1
    cpus: 0.1
    mem: 32
    args: [sh, -c, 'exec httpd -f -p 8080 -h /tmp']
  slow:
    image: $TEST_IMAGE
    instances: 0
    cpus: 0.1
    mem: 32
    args: [sleep, '3600']
YAML
unset MDO_ETCD_PREFIX MDO_CONTAINER_NAME MESOS_TASK_ID
# the subscriber on the bridge address, where containers reach it (MDO_SUBSCRIBER_URL); the
# applet run here as a container would
S=http://$GW:$SPORT
SUB_HOST=$GW
export MDO_ENVIRONMENT=$E MDO_SUBSCRIBER_URL=$S MDO_SUBSCRIBER_TOKEN=$GTOKEN

# receivers on the bridge gateway: reachable from the host and from the containers
target() { # target NAME MODE -> sets ${NAME}_PORT, log in $TMP/NAME.log
    local port
    port=$(free_port)
    /usr/bin/python3 "$TOP/test/integration/callback_target.py" "$GW" "$port" "$TMP/$1.log" "$2" &
    CLEANUP+=("kill $!")
    eval "${1^^}_PORT=$port"
    : >"$TMP/$1.log"
    wait_for 10 bash -c "echo >/dev/tcp/$GW/$port"
}
target good ok
target flaky flaky
target hang hang
DEAD_PORT=$(free_port) # nothing listens there

metric() { curl -s -H "Authorization: Bearer $TOKEN" "$S/metrics" | awk -v m="$1" '$1 == m {print $2}'; }
deliveries() { grep -c . "$TMP/$1.log"; }
# last delivery to a target, as "service added removed count"
last_delivery() {
    tail -1 "$TMP/$1.log" | jq -r '.body | fromjson | "\(.service) \(.added|join(",")) \(.removed|join(",")) \(.instances|length)"'
}

start_subscriber || { echo "subscriber did not start" >&2; tail "$TMP/sub.log"; exit 1; }
t_run "launch web (1)" 0 mdo launch web --wait
wait_eq 15 "web registered (1)" 'reg_count web' 1

# --- POST /v1/callbacks ---------------------------------------------------------------------
code() { curl -s -o "$TMP/body" -w '%{http_code}' "$@"; }
t_eq "POST without the token: 401" "$(code -X POST -d '{"service":"web","url":"http://x/"}' "$S/v1/callbacks")" 401
t_eq "POST with a wrong token: 401" "$(code -H "Authorization: Bearer nope" -X POST -d '{"service":"web","url":"http://x/"}' "$S/v1/callbacks")" 401
t_eq "POST a bad body: 400" "$(code -H "Authorization: Bearer $TOKEN" -X POST -d 'nope' "$S/v1/callbacks")" 400
t_eq "POST a bad url: 400" "$(code -H "Authorization: Bearer $TOKEN" -X POST -d '{"service":"web","url":"ftp://x/"}' "$S/v1/callbacks")" 400
t_eq "POST flaky target: 201" "$(code -H "Authorization: Bearer $TOKEN" -X POST -d "{\"service\":\"web\",\"url\":\"http://$GW:$FLAKY_PORT/flaky\"}" "$S/v1/callbacks")" 201
FLAKY_ID=$(jq -r .id "$TMP/body")
t_match "POST answers an id" "$FLAKY_ID" '^[0-9a-f]{16}$'
t_eq "POST dead target: 201" "$(code -H "Authorization: Bearer $TOKEN" -X POST -d "{\"service\":\"web\",\"url\":\"http://127.0.0.1:$DEAD_PORT/dead\"}" "$S/v1/callbacks")" 201
DEAD_ID=$(jq -r .id "$TMP/body")
t_eq "POST hanging target on slow: 201" "$(code -H "Authorization: Bearer $TOKEN" -X POST -d "{\"service\":\"slow\",\"url\":\"http://$GW:$HANG_PORT/hang\"}" "$S/v1/callbacks")" 201
t_eq "POST same again: same id" "$(code -H "Authorization: Bearer $TOKEN" -X POST -d "{\"service\":\"web\",\"url\":\"http://127.0.0.1:$DEAD_PORT/dead\"}" "$S/v1/callbacks"; jq -r .id "$TMP/body")" "201$DEAD_ID"

# --- register_callback inside a real container ---------------------------------------------
C1=$E-web-1
t_run "register_callback inside the container" 0 docker exec "$C1" register_callback web "http://$GW:$GOOD_PORT/good" --secret s3cret
GOOD_ID=$OUT
t_match "register_callback prints the id" "$GOOD_ID" '^[0-9a-f]{16}$'
rec=$(ectl get --print-value-only "/mdo/$E/callbacks/web/$GOOD_ID")
t_eq "record: url, owner, secret_ref, no secret" \
    "$(echo "$rec" | jq -r '"\(.url) \(.owner) \(.secret_ref)"') $(echo "$rec" | grep -c s3cret)" \
    "http://$GW:$GOOD_PORT/good $C1 etcd:/mdo/$E/secrets/callbacks/$GOOD_ID 0"
t_eq "secret kept apart" "$(ectl get --print-value-only "/mdo/$E/secrets/callbacks/$GOOD_ID")" s3cret
t_run "register_callback: usage" 2 docker exec "$C1" register_callback web
t_run "register_callback: bad url" 2 docker exec "$C1" register_callback web ftp://x
t_run "register_callback: subscriber down" 3 env MDO_SUBSCRIBER_URL=http://127.0.0.1:1 register_callback web http://x/
t_run "GET /v1/callbacks" 0 curl -sf -H "Authorization: Bearer $TOKEN" "$S/v1/callbacks"
t_eq "GET lists 4 registrations, secrets hidden" "$(echo "$OUT" | jq '.callbacks|length') $(echo "$OUT" | grep -c s3cret)" "4 0"
t_eq "GET: signed flag" "$(echo "$OUT" | jq -r ".callbacks[] | select(.id==\"$GOOD_ID\") | .signed")" true
wait_eq 15 "metrics: 4 registered" 'metric mdo_callbacks_registered' 4

# --- a membership change is delivered, signed --------------------------------------------------
t0=$(date +%s.%N)
t_run "scale web 2" 0 mdo scale web 2 --wait
wait_for 20 '[ "$(deliveries good)" -ge 1 ]'
t1=$(date +%s.%N)
echo "# figure: scale web 1->2 (--wait) to the signed callback received: $(echo "$t1 - $t0" | bc) s"
t_eq "delivery: service, added, removed, instances" "$(last_delivery good)" "web $E-web-2  2"
line=$(tail -1 "$TMP/good.log")
t_eq "signature verifies (HMAC-SHA256 of the body, keyed s3cret)" "$(echo "$line" | /usr/bin/python3 -c '
import sys, json, hmac, hashlib
d = json.loads(sys.stdin.read())
want = "sha256=" + hmac.new(b"s3cret", d["body"].encode(), hashlib.sha256).hexdigest()
print("ok" if hmac.compare_digest(want, d["signature"] or "") else "bad %s %s" % (want, d["signature"]))')" ok
t_eq "content type" "$(echo "$line" | jq -r .content_type)" application/json
body=$(echo "$line" | jq -r .body)
t_eq "body: environment, revision, records" \
    "$(echo "$body" | jq -r '"\(.environment) \(.revision > 0) \([.instances[].container]|join(","))"')" \
    "$E true $E-web-1,$E-web-2"
t_eq "body: instances are registry records" "$(echo "$body" | jq -r '.instances[1].ports.http.external')" \
    "$(ectl get --print-value-only "/mdo/$E/services/web/instances/$E-web-2" | jq -r .ports.http.external)"
# a registration without a secret is sent unsigned; the flaky one got it after 2 retries
wait_for 20 '[ "$(deliveries flaky)" -ge 1 ]'
t_eq "flaky target: delivered after retries" "$(deliveries flaky)" 1
t_eq "flaky target: unsigned" "$(tail -1 "$TMP/flaky.log" | jq -r .signature)" null
t_match "metrics: retries counted" "$(metric mdo_callbacks_retries_total)" '^([2-9]|[1-9][0-9]+)$'
wait_for 20 '[ "$(metric mdo_callbacks_failed_total)" -ge 1 ]'
t_eq "metrics: the dead target given up once" "$(metric mdo_callbacks_failed_total)" 1
t_match "metrics: sent" "$(metric mdo_callbacks_sent_total)" '^[2-9]$'
# a reconcile pass (resync 5 s) after that delivery rewrites equal records: no change, so no
# delivery. The positive sign that it ran is mdo_reconciles_total; the check comes after web's
# next delivery below (a delivery the pass made would be queued before that one).
r=$(metric mdo_reconciles_total)
wait_for 15 '[ "$(metric mdo_reconciles_total)" -gt "${r:-0}" ]'

# --- a hanging target delays nothing else ------------------------------------------------------
# slow's only target never answers; web's change right after must still be registered and
# delivered at once.
t_run "scale slow 1" 0 mdo scale slow 1 --wait
wait_eq 15 "slow registered (1)" 'reg_count slow' 1
t0=$(date +%s.%N)
mdo scale web 3 >/dev/null 2>&1
wait_eq 20 "web registered while slow's target hangs" 'reg_count web' 3
t1=$(date +%s.%N)
wait_eq 20 "web's callback delivered while slow's target hangs" 'last_delivery good' "web $E-web-3  3"
t2=$(date +%s.%N)
t_match "... and slow's hanging delivery is still pending then" "$(metric mdo_callbacks_pending)" "^[1-9]"
reg_s=$(echo "$t1 - $t0" | bc)
cb_s=$(echo "$t2 - $t0" | bc)
echo "# figure: with a hanging target on slow: web scale 2->3 registered in $reg_s s, its callback in $cb_s s (the hanging POST's own timeout is 5 s)"
t_eq "no delivery when nothing changed (the reconcile between the scales rewrote nothing)" "$(deliveries good)" 2

# --- owner removal --------------------------------------------------------------------------
docker kill "$C1" >/dev/null
wait_eq 15 "the killed owner is deregistered" 'reg_count web' 2
wait_for 10 bash -c "! etcdctl --endpoints $ETCD get --keys-only /mdo/$E/callbacks/web/$GOOD_ID | grep -q ."
t_eq "the dead owner's registration is removed" "$(ectl get --keys-only "/mdo/$E/callbacks/web/$GOOD_ID" | grep -c .)" 0
t_eq "and its secret" "$(ectl get --keys-only "/mdo/$E/secrets/callbacks/$GOOD_ID" | grep -c .)" 0
t_eq "registrations without an owner stay" "$(ectl get --keys-only --prefix "/mdo/$E/callbacks/" | grep -c .)" 3
t_match "owner removal counted" "$(curl -s -H "Authorization: Bearer $TOKEN" "$S/metrics" | grep '^mdo_callbacks_owner_removed_total')" ' 1$'

# --- registrations survive a subscriber restart ----------------------------------------------
n=$(deliveries flaky)
stop_subscriber
start_subscriber || echo "the subscriber did not come back (counted above)" >&2
t_run "scale web 3 again" 0 mdo scale web 3 --wait
wait_for 20 '[ "$(deliveries flaky)" -gt "$n" ]'
t_match "after a subscriber restart the registration still delivers" "$(tail -1 "$TMP/flaky.log" | jq -r '.body|fromjson|"\(.service) \(.added|length) \(.removed|length) \(.instances|length)"')" "^web 1 0 3$"

# --- DELETE ---------------------------------------------------------------------------------
t_eq "DELETE without the token: 401" "$(code -X DELETE "$S/v1/callbacks/$FLAKY_ID")" 401
t_eq "DELETE: 200" "$(code -H "Authorization: Bearer $TOKEN" -X DELETE "$S/v1/callbacks/$FLAKY_ID")" 200
t_eq "DELETE again: 404" "$(code -H "Authorization: Bearer $TOKEN" -X DELETE "$S/v1/callbacks/$FLAKY_ID")" 404
t_eq "PUT: 405" "$(code -H "Authorization: Bearer $TOKEN" -X PUT "$S/v1/callbacks")" 405
t_run "register_callback --remove" 0 register_callback web "http://127.0.0.1:$DEAD_PORT/dead" --remove --owner ''
t_eq "register_callback --remove: its id" "$OUT" "$DEAD_ID"
t_run "register_callback --remove again: not found" 1 register_callback web "http://127.0.0.1:$DEAD_PORT/dead" --remove
stop_subscriber
t_eq "subscriber exits 0 on SIGTERM with a hanging delivery" "$?" 0
# a failing run keeps its logs for a look
[ "$T_FAIL" = 0 ] || { rm -rf /tmp/mdo-callbacks-failed; cp -r "$TMP" /tmp/mdo-callbacks-failed; echo "# logs kept in /tmp/mdo-callbacks-failed"; }
t_done
