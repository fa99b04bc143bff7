#!/usr/bin/env bash
# callbacks-policy.sh - where callbacks may go, and how many: POST /v1/callbacks refuses loopback,
# link-local, the etcd endpoints (on loopback and on the bridge address) and the subscriber
# itself by default, and names the rule; the bridge address itself stays allowed; a registration
# planted in etcd behind the API's back is refused at delivery (nothing reaches its receiver);
# subscriber.callback_allow opens exactly those targets; 10,000 registration attempts from one
# owner stop at the cap and the subscriber's thread count stays where it was.
#
#   MDO_BUILD=/work/main/build bash test/integration/callbacks-policy.sh
. "$(dirname "$0")/lib.sh"

[ -x "$MDO" ] || { echo "callbacks-policy: no mdo binary at $MDO" >&2; exit 1; }
ensure_dockerd || exit 1
start_etcd || exit 1
build_test_image || { echo "cannot build the test image" >&2; exit 1; }
GW=$(bridge_gateway)
SPORT=$(free_port)
TOKEN=tok$RANDOM$RANDOM
E=$MDO_TEST_ENV
CFG=$TMP/mdo.yaml
policy_config() { # policy_config [ALLOW_LINE]
    write_config -E "\"$ETCD\", \"$ETCD_GW\"" -s "token: \"$TOKEN\"" ${1:+-s "$1"} <<YAML
services:
  web:
    image: $TEST_IMAGE
    instances: 1
    cpus: 0.1
    mem: 32
    args: [sleep, '3600']
YAML
}
policy_config
unset MDO_ETCD_PREFIX MDO_CONTAINER_NAME MESOS_TASK_ID
export MDO_ETCD=$ETCD MDO_ENVIRONMENT=$E
S=http://127.0.0.1:$SPORT

# receivers: one on loopback (denied by default), one on the bridge address (allowed)
LO_PORT=$(free_port)
/usr/bin/python3 "$TOP/test/integration/callback_target.py" 127.0.0.1 "$LO_PORT" "$TMP/lo.log" ok &
CLEANUP+=("kill $!")
GW_PORT=$(free_port)
/usr/bin/python3 "$TOP/test/integration/callback_target.py" "$GW" "$GW_PORT" "$TMP/gw.log" ok &
CLEANUP+=("kill $!")
: >"$TMP/lo.log"
: >"$TMP/gw.log"
wait_for 10 bash -c "echo >/dev/tcp/127.0.0.1/$LO_PORT && echo >/dev/tcp/$GW/$GW_PORT"
deliveries() { grep -c . "$TMP/$1.log"; }
metric() { curl -s "$S/metrics" | awk -v m="$1" '$1 == m {print $2}'; }
# post SERVICE URL [OWNER]: the HTTP status; the answer in $TMP/body
post() {
    local body
    body=$(jq -cn --arg s "$1" --arg u "$2" --arg o "${3:-}" '{service:$s,url:$u} + (if $o == "" then {} else {owner:$o} end)')
    curl -s -o "$TMP/body" -w '%{http_code}' -H "Authorization: Bearer $TOKEN" -X POST -d "$body" "$S/v1/callbacks"
}
why() { jq -r .error "$TMP/body"; }

start_subscriber || { echo "subscriber did not start" >&2; tail "$TMP/sub.log"; exit 1; }
t_run "launch web (1)" 0 mdo launch web --wait
wait_eq 15 "web registered (1)" 'reg_count web' 1

# --- refused by default, naming the rule ------------------------------------------------------
t_eq "loopback target: 400" "$(post web "http://127.0.0.1:$LO_PORT/cb")" 400
t_match "... naming the rule and callback_allow" "$(why)" "127\.0\.0\.1.*loopback.*callback_allow"
t_eq "link-local (metadata service): 400" "$(post web http://169.254.169.254/latest/meta-data/)" 400
t_match "... naming the rule" "$(why)" "link-local"
t_eq "the etcd endpoint: 400" "$(post web "$ETCD/v3/kv/put")" 400
t_match "... naming the rule" "$(why)" "etcd endpoint"
t_eq "the etcd endpoint on the bridge address: 400" "$(post web "$ETCD_GW/v3/kv/put")" 400
t_match "... naming the rule" "$(why)" "the etcd endpoint $GW:$ETCD_CPORT"
t_eq "the subscriber itself: 400" "$(post web "$S/v1/callbacks")" 400
t_eq "a name resolving to loopback: 400" "$(post web "http://localhost:$LO_PORT/cb")" 400
t_match "... judged by its address" "$(why)" "localhost \(.*\) is loopback"
t_eq "IPv6 loopback: 400" "$(post web "http://[::1]:$LO_PORT/cb")" 400
t_eq "unspecified: 400" "$(post web "http://0.0.0.0:$LO_PORT/cb")" 400
t_eq "nothing refused was written" "$(ectl get --prefix --keys-only "/mdo/$E/callbacks/" | grep -c .)" 0
t_eq "the bridge address itself is allowed: 201" "$(post web "http://$GW:$GW_PORT/cb")" 201

# --- at delivery: a registration planted behind the API's back ---------------------------------
PLANT=00000000deadbeef
ectl put "/mdo/$E/callbacks/web/$PLANT" "{\"id\":\"$PLANT\",\"service\":\"web\",\"url\":\"http://127.0.0.1:$LO_PORT/planted\",\"secret_ref\":null,\"created\":\"2026-12-01T00:00:00Z\",\"owner\":null}" >/dev/null
t_run "scale web 2" 0 mdo scale web 2 --wait
wait_for 20 '[ "$(deliveries gw)" -ge 1 ]'
wait_for 20 '[ "$(metric mdo_callbacks_denied_total)" -ge 1 ]'
t_eq "the allowed target got the change" "$(deliveries gw)" 1
t_eq "the planted loopback target got nothing" "$(deliveries lo)" 0
t_eq "... refused by the policy at delivery (counted)" "$(metric mdo_callbacks_denied_total)" 1
t_match "... and logged with the rule" "$(grep 'refused by the callback policy' "$TMP/sub.log" | tail -1)" "id=$PLANT .*loopback"

# --- callback_allow opens exactly what it lists --------------------------------------------------
stop_subscriber
policy_config "callback_allow: [127.0.0.1/32, 169.254.169.254/32, $GW/32]"
start_subscriber || echo "the subscriber did not come back (counted below)" >&2
# registered for a service that never changes: nothing is ever sent to these
t_eq "allowed: loopback 201" "$(post quiet "http://127.0.0.1:$LO_PORT/cb")" 201
t_eq "allowed: 169.254.169.254 201" "$(post quiet http://169.254.169.254/latest/meta-data/)" 201
t_eq "allowed: the etcd endpoint 201" "$(post quiet "$ETCD/v3/kv/put")" 201
t_eq "allowed: the etcd endpoint on the bridge 201" "$(post quiet "$ETCD_GW/v3/kv/put")" 201
t_eq "still refused: 169.254.169.253 (not listed)" "$(post quiet http://169.254.169.253/)" 400
t_eq "still refused: 127.0.0.2 (not listed)" "$(post quiet "http://127.0.0.2:$LO_PORT/cb")" 400
for id in $(ectl get --prefix --keys-only "/mdo/$E/callbacks/quiet/" | sed 's#.*/##'); do
    curl -s -o /dev/null -H "Authorization: Bearer $TOKEN" -X DELETE "$S/v1/callbacks/$id"
done
t_eq "(the quiet ones removed)" "$(ectl get --prefix --keys-only "/mdo/$E/callbacks/quiet/" | grep -c .)" 0
t_run "scale web 1" 0 mdo scale web 1 --wait
wait_for 20 '[ "$(deliveries lo)" -ge 1 ]'
t_eq "the planted loopback target, now allowed, gets the change" "$(tail -1 "$TMP/lo.log" | jq -r .path)" /planted

# --- caps: 10,000 attempts from one owner ----------------------------------------------------------
case $(basename "$BUILD") in
build) N=10000 ;;
*) N=1000 ;; # the sanitizer builds: the same checks, fewer attempts (CI budget)
esac
OWNER=$E-web-1
PID=$SUB_PID
threads() { awk '/^Threads:/ {print $2}' "/proc/$PID/status"; }
T0=$(threads)
t0=$(date +%s.%N)
res=$(/usr/bin/python3 - "$SPORT" "$TOKEN" "$N" "$OWNER" "$GW" "$PID" <<'PY'
import http.client, json, sys, threading, time
port, token, n, owner, gw, pid = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5], sys.argv[6]
most, done = [0], [False]
def sample():
    while not done[0]:
        for line in open("/proc/%s/status" % pid):
            if line.startswith("Threads:"):
                most[0] = max(most[0], int(line.split()[1]))
        time.sleep(0.02)
th = threading.Thread(target=sample)
th.start()
c = http.client.HTTPConnection("127.0.0.1", int(port), timeout=30)
codes = {}
for i in range(n):
    body = json.dumps({"service": "cap-%d" % (i % 10), "url": "http://%s:9/cb/%d" % (gw, i), "owner": owner})
    c.request("POST", "/v1/callbacks", body, {"Authorization": "Bearer " + token, "Content-Type": "application/json"})
    r = c.getresponse()
    r.read()
    codes[r.status] = codes.get(r.status, 0) + 1
done[0] = True
th.join()
print(codes.get(201, 0), codes.get(429, 0), n - codes.get(201, 0) - codes.get(429, 0), most[0])
PY
)
t1=$(date +%s.%N)
read -r ok capped other most <<<"$res"
T1=$(threads)
echo "# figure: $N registration attempts from one owner: $ok accepted, $capped refused (429) in $(echo "$t1 - $t0" | bc) s; subscriber threads $T0 before, at most $most during, $T1 after"
t_eq "one owner: 64 accepted (callback_max_per_owner), the rest 429" "$ok $capped $other" "64 $((N - 64)) 0"
t_eq "64 registrations of that owner in etcd" "$(ectl get --prefix --print-value-only "/mdo/$E/callbacks/" | jq -r .owner | grep -cx "$OWNER")" 64
t_match "the thread count stayed where it was (no thread per registration)" "$most $((most - T0))" '^[1-9][0-9]* (-[0-9]+|[0-4])$'
code=$(post cap-0 "http://$GW:9/cb/extra" "$OWNER")
t_eq "the 429 names the cap" "$code $(why | grep -o 'callback_max_per_owner (64)')" "429 callback_max_per_owner (64)"
t_eq "registering one of them again is not one more: 201" "$(post cap-0 "http://$GW:9/cb/0" "$OWNER")" 201
t_eq "another owner is not capped by the first's count" "$(post cap-0 "http://$GW:9/cb/other" "$E-web-9")" 201
for i in $(seq 1 20); do post cap-x "http://$GW:9/x/$i" "$E-web-9" >/dev/null; done
t_eq "one service: 16 registrations at most (callback_max_per_service)" "$(ectl get --prefix --keys-only "/mdo/$E/callbacks/cap-x/" | grep -c .)" 16
t_match "... the 17th and later answered 429 naming that cap" "$(post cap-x "http://$GW:9/x/99" "$E-web-9") $(why)" "^429 .*callback_max_per_service \(16\)"

stop_subscriber
t_eq "subscriber exits 0" "$?" 0
[ "$T_FAIL" = 0 ] || { rm -rf /tmp/mdo-callbacks-policy-failed; cp -r "$TMP" /tmp/mdo-callbacks-policy-failed; echo "# logs kept in /tmp/mdo-callbacks-policy-failed"; }
t_done
