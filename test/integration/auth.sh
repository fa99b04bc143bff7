#!/usr/bin/env bash
# auth.sh - the trust boundary on a real etcd with auth and TLS (certificates made here with
# openssl), real containers: ops/etcd-auth on a fresh etcd; launch -> subscriber -> applets inside
# a container with the guest identity; the guest can neither write nor read secrets/; no subscriber
# credential in `docker inspect`; register_callback inside the container through the
# subscriber's API with the guest token (never etcd), and the signed delivery; what the guest
# token may not do; a dead first endpoint with auth; then client-certificate TLS (etcd
# --client-cert-auth) for the commands, the subscriber and (etcd.guest.cert/key) the
# containers, the whole chain again. Loopback and the Docker bridge only.
. "$(dirname "$0")/lib.sh"

[ -x "$MDO" ] || { echo "auth: no mdo binary at $MDO: build it first (or set MDO_BUILD)" >&2; exit 1; }
ensure_dockerd || exit 1
# An image tag of this build's own: the lookups inside the container must run this binary, and
# lib.sh's mdo-test:<build dir name> is shared by every checkout whose build dir has that name.
TEST_IMAGE=mdo-test-auth:$(printf %s "$BUILD" | md5sum | cut -c1-12)
build_test_image || { echo "cannot build the test image" >&2; exit 1; }
GW=$(bridge_gateway)
[ -n "$GW" ] || { echo "auth: no Docker bridge address" >&2; exit 1; }
E=$MDO_TEST_ENV
ROOTPW=root-$RANDOM$RANDOM
SUBPW=sub-s3cret-$RANDOM$RANDOM
GUESTPW=guest-$RANDOM$RANDOM
SUBTOKEN=subtok-$RANDOM$RANDOM
GUESTTOKEN=guesttok-$RANDOM$RANDOM

# --- certificates: a CA, etcd's server certificate (loopback and the bridge address, which is
# where containers reach it; clientAuth too: etcd's gateway presents it to etcd's own gRPC
# server), and a client certificate for the subscriber and the commands. The client's has no
# CommonName: etcd 3.4's JSON gateway refuses a client certificate with one under
# --client-cert-auth (HTTP 400 "CommonName of client sending a request against gateway will be
# ignored"); the server's CN names no etcd user.
C=$TMP/certs
mkdir -p "$C"
ossl() { openssl "$@" >>"$TMP/openssl.log" 2>&1; }
ossl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=mdo-test-ca -keyout "$C/ca.key" -out "$C/ca.pem"
cert() { # cert NAME CN EXTFILE-TEXT
    ossl req -newkey rsa:2048 -nodes -subj "/O=mdo-test${2:+/CN=$2}" -keyout "$C/$1.key" -out "$C/$1.csr"
    printf '%s\n' "$3" >"$C/$1.ext"
    ossl x509 -req -in "$C/$1.csr" -CA "$C/ca.pem" -CAkey "$C/ca.key" -CAcreateserial -days 1 \
        -extfile "$C/$1.ext" -out "$C/$1.pem"
}
cert server etcd-server "subjectAltName=IP:127.0.0.1,IP:$GW
extendedKeyUsage=serverAuth,clientAuth"
cert client "" "extendedKeyUsage=clientAuth"
cert guest "" "extendedKeyUsage=clientAuth" # the containers' (etcd.guest.cert/key)
if [ ! -s "$C/server.pem" ] || [ ! -s "$C/client.pem" ] || [ ! -s "$C/guest.pem" ]; then
    echo "auth: openssl could not make the certificates:" >&2; tail "$TMP/openssl.log" >&2; exit 1
fi
chmod 644 "$C"/*.pem # the CA is bind-mounted into containers, which run as root anyway

# --- etcd on https, loopback and the bridge address, same port (spec.c rewrites the host only)
CPORT=$(free_port)
PPORT=$(free_port)
DEAD=$(free_port)
ETCD=https://127.0.0.1:$CPORT
ETCD_GW=https://$GW:$CPORT
ETCD_DIR=$TMP/etcd
ETCD_PID=
CLEANUP+=('[ -n "$ETCD_PID" ] && kill $ETCD_PID && wait $ETCD_PID')
# run_etcd_tls [--client-cert-auth --trusted-ca-file CA]: etcd 3.4 asks every client for a
# certificate as soon as it has a trusted CA, so server-only TLS gets none
run_etcd_tls() {
    etcd --name t --data-dir "$ETCD_DIR" \
        --listen-client-urls "$ETCD,$ETCD_GW" --advertise-client-urls "$ETCD" \
        --cert-file "$C/server.pem" --key-file "$C/server.key" "$@" \
        --listen-peer-urls "http://127.0.0.1:$PPORT" \
        --initial-advertise-peer-urls "http://127.0.0.1:$PPORT" \
        --initial-cluster "t=http://127.0.0.1:$PPORT" >>"$TMP/etcd.log" 2>&1 &
    ETCD_PID=$!
    try_for 20 ectl endpoint health || { echo "etcd did not start" >&2; tail "$TMP/etcd.log" >&2; return 1; }
}
# root, through TLS with the client certificate (which etcd ignores until --client-cert-auth)
ectl() {
    ETCDCTL_USER=root:$ROOTPW etcdctl --endpoints "$ETCD" --cacert "$C/ca.pem" --cert "$C/client.pem" \
        --key "$C/client.key" "$@" 2>>"$TMP/etcdctl.log"
}
run_etcd_tls || exit 1

SPORT=$(free_port)
# --- before auth: a subscriber without credentials works and says once that the registry is open
cat >"$TMP/open.yaml" <<YAML
environment: $E
etcd: {endpoints: ["$ETCD"], ca: $C/ca.pem}
subscriber: {listen: "127.0.0.1:$SPORT"}
services: {web: {image: $TEST_IMAGE}}
YAML
MDO_CONFIG=$TMP/open.yaml start_subscriber
t_run "open registry: the subscriber stops cleanly" 0 stop_subscriber
t_eq "open registry: one warning" "$(grep -c 'registry is open' "$TMP/sub.log")" 1
mv "$TMP/sub.log" "$TMP/sub-open.log"

# --- ops/etcd-auth on the fresh etcd, twice (idempotent)
export ETCDCTL_ENDPOINTS=$ETCD ETCDCTL_CACERT=$C/ca.pem
t_run "ops/etcd-auth on a fresh etcd" 0 env ETCD_ROOT_PASSWORD="$ROOTPW" MDO_SUB_PASSWORD="$SUBPW" \
    MDO_GUEST_PASSWORD="$GUESTPW" "$TOP/ops/etcd-auth" "$E"
t_run "ops/etcd-auth again (idempotent)" 0 env ETCD_ROOT_PASSWORD="$ROOTPW" MDO_SUB_PASSWORD="$SUBPW" \
    MDO_GUEST_PASSWORD="$GUESTPW" "$TOP/ops/etcd-auth" "$E"
t_run "ops/etcd-auth: no passwords" 2 env -u ETCD_ROOT_PASSWORD "$TOP/ops/etcd-auth" "$E"
unset ETCDCTL_ENDPOINTS ETCDCTL_CACERT
t_run "auth is on: no credentials refused" 1 etcdctl --endpoints "$ETCD" --cacert "$C/ca.pem" get /x
t_run "the subscriber's user writes its environment" 0 etcdctl --endpoints "$ETCD" --cacert "$C/ca.pem" \
    --user "mdo-$E:$SUBPW" put "/mdo/$E/secrets/callbacks/probe" s3
t_run "and not another's" 1 etcdctl --endpoints "$ETCD" --cacert "$C/ca.pem" --user "mdo-$E:$SUBPW" \
    put "/mdo/other-$E/services/x" 1

CFG=$TMP/mdo.yaml
# config ENDPOINTS [extra etcd lines] [extra etcd.guest keys]: mdo's config with the subscriber's
# and the guest's identity; the subscriber listens on the bridge address with its token and the
# guest token, so containers reach it (MDO_SUBSCRIBER_URL)
config() {
    cat <<YAML
environment: $E
etcd:
  endpoints: [$1]
  username: mdo-$E
  password: \${SUBPW}
  ca: $C/ca.pem
  guest: {username: mdo-$E-guest, password: "\${GUESTPW}"${3:+, $3}}
${2:-}
subscriber:
  listen: "$GW:$SPORT"
  token: \${SUBTOKEN}
  guest_token: \${GUESTTOKEN}
  resync: 3
docker:
  pull: never
services:
  web:
    image: $TEST_IMAGE
    ports:
      http: 8080
    instances: 1
    cpus: 0.2
    mem: 64
    args: [sh, -c, 'echo hi >/tmp/index.html; exec httpd -f -p 8080 -h /tmp']
YAML
}
export SUBPW GUESTPW SUBTOKEN GUESTTOKEN
config "\"$ETCD\"" >"$CFG"
SUB_HOST=$GW # start_subscriber's /health check
S=http://$GW:$SPORT
export MDO_CONFIG=$CFG
C1=$E-web-1
P=/mdo/$E/services/web/instances

# --- the chain: launch -> subscriber -> etcd -> get_node_list inside the container
start_subscriber
t_run "launch with auth and TLS" 0 mdo launch web --wait=60
wait_eq 20 "subscriber registered the instance" 'reg_count web' 1
EXT=$(docker port "$C1" 8080/tcp | head -1 | sed 's/.*://')
t_run "get_node_list in the container (guest identity, CA)" 0 docker exec "$C1" get_node_list web http
t_eq "get_node_list answer" "$OUT" "$GW:$EXT"
t_run "get_specific_port in the container" 0 docker exec "$C1" get_specific_port web "$C1" http
t_eq "get_specific_port answer" "$OUT" "$EXT"
t_run "without the guest identity the registry refuses" 3 docker exec "$C1" \
    env -u MDO_ETCD_USERNAME -u MDO_ETCD_PASSWORD get_node_list web
t_run "without the CA the TLS check fails" 3 docker exec "$C1" env -u MDO_ETCD_CA get_node_list web
t_eq "the CA inside is etcd.ca" "$(docker exec "$C1" cat /run/mdo/etcd-ca.pem)" "$(cat "$C/ca.pem")"
t_run "the CA is mounted read-only" 1 docker exec "$C1" sh -c 'echo x >>/run/mdo/etcd-ca.pem'
t_eq "MDO_ETCD_CA" "$(docker exec "$C1" sh -c 'echo $MDO_ETCD_CA')" /run/mdo/etcd-ca.pem
t_eq "MDO_ETCD_USERNAME is the guest" "$(docker exec "$C1" sh -c 'echo $MDO_ETCD_USERNAME')" "mdo-$E-guest"

# --- register_callback through the subscriber's API (guest token), a signed delivery
target() { # target NAME -> ${NAME}_PORT; a receiver on the bridge address, log in $TMP/NAME.log
    local port
    port=$(free_port)
    : >"$TMP/$1.log"
    /usr/bin/python3 "$TOP/test/integration/callback_target.py" "$GW" "$port" "$TMP/$1.log" ok &
    CLEANUP+=("kill $!")
    eval "${1^^}_PORT=$port"
    wait_for 10 bash -c "echo >/dev/tcp/$GW/$port"
}
# signed_ok LOG SECRET: the last delivery's X-Mdo-Signature is the HMAC-SHA256 of its body
signed_ok() {
    tail -1 "$1" | /usr/bin/python3 -c '
import sys, json, hmac, hashlib
d = json.loads(sys.stdin.read())
want = "sha256=" + hmac.new(sys.argv[1].encode(), d["body"].encode(), hashlib.sha256).hexdigest()
print("ok" if hmac.compare_digest(want, d["signature"] or "") else "bad")' "$2"
}
deliveries() { grep -c . "$TMP/$1.log"; }
code() { curl -s -o "$TMP/body" -w '%{http_code}' --max-time 5 "$@"; }
target good
t_eq "MDO_SUBSCRIBER_URL: the bridge address and the listen port" \
    "$(docker exec "$C1" sh -c 'echo $MDO_SUBSCRIBER_URL')" "$S"
t_run "register_callback in the container (guest token, through the API)" 0 docker exec "$C1" \
    register_callback web "http://$GW:$GOOD_PORT/good" --secret cb-s3cret
CB_ID=$OUT
t_match "register_callback prints the id" "$CB_ID" '^[0-9a-f]{16}$'
t_eq "the subscriber wrote the record (owner: the container)" \
    "$(ectl get --print-value-only "/mdo/$E/callbacks/web/$CB_ID" | jq -r '"\(.owner) \(.secret_ref)"')" \
    "$C1 etcd:/mdo/$E/secrets/callbacks/$CB_ID"
t_run "scale web 2" 0 mdo scale web 2 --wait=60
wait_for 20 '[ "$(deliveries good)" -ge 1 ]'
t_eq "the delivery: web, added web-2" \
    "$(tail -1 "$TMP/good.log" | jq -r '.body | fromjson | "\(.service) \(.added | join(","))"')" "web $E-web-2"
t_eq "the delivery is signed with the registration's secret" "$(signed_ok "$TMP/good.log" cb-s3cret)" ok
t_run "scale web 1" 0 mdo scale web 1 --wait=60
wait_eq 20 "web is back to one instance" 'reg_count web' 1
# what the guest token may not do
t_eq "guest token: GET /v1/callbacks refused (403)" \
    "$(code -H "Authorization: Bearer $GUESTTOKEN" "$S/v1/callbacks")" 403
t_eq "guest token: POST for another environment refused (403)" \
    "$(code -H "Authorization: Bearer $GUESTTOKEN" -X POST \
        -d "{\"service\":\"web\",\"url\":\"http://$GW:$GOOD_PORT/x\",\"environment\":\"other-$E\"}" "$S/v1/callbacks")" 403
t_eq "guest token: POST for its own environment (201)" \
    "$(code -H "Authorization: Bearer $GUESTTOKEN" -X POST \
        -d "{\"service\":\"web\",\"url\":\"http://$GW:$GOOD_PORT/own\",\"environment\":\"$E\",\"owner\":\"$C1\"}" "$S/v1/callbacks")" 201
t_eq "no token: 401" "$(code "$S/v1/callbacks")" 401
t_eq "subscriber.token: GET lists both registrations" \
    "$(code -H "Authorization: Bearer $SUBTOKEN" "$S/v1/callbacks") $(jq '.callbacks | length' "$TMP/body")" "200 2"
t_run "register_callback with a wrong token: exit 3" 3 docker exec "$C1" env MDO_SUBSCRIBER_TOKEN=nope \
    register_callback web "http://$GW:$GOOD_PORT/good"
t_match "... and the message names the token" "$ERR" 'MDO_SUBSCRIBER_TOKEN \(HTTP 401'
t_run "register_callback without a subscriber URL: exit 3" 3 docker exec "$C1" env -u MDO_SUBSCRIBER_URL \
    register_callback web "http://$GW:$GOOD_PORT/good"
t_run "register_callback --remove in the container" 0 docker exec "$C1" \
    register_callback web "http://$GW:$GOOD_PORT/own" --remove
t_run "register_callback --remove again: no such registration" 1 docker exec "$C1" \
    register_callback web "http://$GW:$GOOD_PORT/own" --remove

# --- docker inspect: no subscriber credential anywhere
INSPECT=$(docker inspect "$C1")
t_eq "docker inspect: the subscriber's password appears nowhere" "$(grep -c -- "$SUBPW" <<<"$INSPECT")" 0
t_eq "docker inspect: subscriber.token appears nowhere" "$(grep -c -- "$SUBTOKEN" <<<"$INSPECT")" 0
t_eq "docker inspect: MDO_SUBSCRIBER_TOKEN is the guest token" \
    "$(jq -r '.[0].Config.Env[]' <<<"$INSPECT" | grep -c "^MDO_SUBSCRIBER_TOKEN=$GUESTTOKEN\$")" 1
t_eq "docker inspect: no etcd.username value as a credential" \
    "$(jq -r '.[0].Config.Env[]' <<<"$INSPECT" | grep -c "^MDO_ETCD_USERNAME=mdo-$E\$")" 0
t_eq "docker inspect: the guest's password is the injected one" \
    "$(jq -r '.[0].Config.Env[]' <<<"$INSPECT" | grep -c "^MDO_ETCD_PASSWORD=$GUESTPW\$")" 1
t_eq "docker inspect: the CA mount is read-only" \
    "$(jq -r '.[0].Mounts[] | select(.Destination == "/run/mdo/etcd-ca.pem") | .RW' <<<"$INSPECT")" false

# --- the guest identity straight against etcd, on the bridge address as a container would
gcurl() { # gcurl PATH JSON: POST as the guest; prints the HTTP status
    curl -s -o "$TMP/gans" -w '%{http_code}' --max-time 5 --cacert "$C/ca.pem" -H "Authorization: $GTOKEN" \
        -X POST "$ETCD_GW$1" -d "$2"
}
b64() { printf %s "$1" | base64 -w0; }
GTOKEN=$(curl -s --max-time 5 --cacert "$C/ca.pem" -X POST "$ETCD_GW/v3/auth/authenticate" \
    -d "{\"name\":\"mdo-$E-guest\",\"password\":\"$GUESTPW\"}" | jq -r .token)
t_match "the guest authenticates on the gateway" "$GTOKEN" '^[A-Za-z0-9.]+'
KEY=$(b64 "$P/$C1")
t_eq "guest: read services/ allowed" "$(gcurl /v3/kv/range "{\"key\":\"$KEY\"}")" 200
t_match "guest: the record is there" "$(jq -r '.count' "$TMP/gans")" '^1$'
t_eq "guest: put refused" "$(gcurl /v3/kv/put "{\"key\":\"$KEY\",\"value\":\"$(b64 forged)\"}")" 403
t_eq "guest: delete refused" "$(gcurl /v3/kv/deleterange "{\"key\":\"$KEY\"}")" 403
t_eq "guest: read of secrets/ refused" "$(gcurl /v3/kv/range "{\"key\":\"$(b64 "/mdo/$E/secrets/")\",\"range_end\":\"$(b64 "/mdo/$E/secrets0")\"}")" 403
t_eq "guest: put in callbacks/ refused" "$(gcurl /v3/kv/put "{\"key\":\"$(b64 "/mdo/$E/callbacks/web/x")\",\"value\":\"$(b64 x)\"}")" 403
t_eq "the record is unchanged" "$(ectl get --print-value-only "$P/$C1" | jq -r .container)" "$C1"

# --- a dead first endpoint, with auth: a command and the subscriber fail over
stop_subscriber >/dev/null
config "\"https://127.0.0.1:$DEAD\", \"$ETCD\"" >"$CFG"
t_run "status with [dead, live] endpoints and auth" 0 mdo status web
t_match "status lists the instance" "$OUT" "$C1"
start_subscriber
docker rm -f "$C1" >/dev/null
wait_eq 20 "subscriber [dead, live]: removed the killed instance" 'reg_count web' 0
t_run "launch with [dead, live]" 0 mdo launch web --wait=60
wait_eq 20 "subscriber [dead, live]: registered the new instance" 'reg_count web' 1
t_run "get_node_list in the container with [dead, live] injected" 0 docker exec "$C1" get_node_list web
t_eq "get_node_list answer (failover)" "$OUT" "$GW"
stop_subscriber >/dev/null

# --- client-certificate TLS: etcd --client-cert-auth
kill "$ETCD_PID" && wait "$ETCD_PID" 2>/dev/null
ETCD_PID=
run_etcd_tls --client-cert-auth --trusted-ca-file "$C/ca.pem" || exit 1
t_run "client-cert-auth: a command without a certificate is refused" 1 mdo status web
config "\"https://127.0.0.1:$DEAD\", \"$ETCD\"" "  cert: $C/client.pem
  key: $C/client.key" "cert: $C/guest.pem, key: $C/guest.key" >"$CFG"
t_run "client-cert-auth: status with the certificate" 0 mdo status web
t_match "client-cert-auth: status lists the instance" "$OUT" "$C1"
start_subscriber
docker rm -f "$C1" >/dev/null
wait_eq 20 "client-cert-auth subscriber: removed the killed instance" 'reg_count web' 0
t_run "client-cert-auth: launch" 0 mdo launch web --wait=60
wait_eq 20 "client-cert-auth subscriber: registered the new instance" 'reg_count web' 1
# etcd 3.4 demands a certificate on every TLS listener once --client-cert-auth is on: the
# containers present etcd.guest.cert/key, mounted read-only beside the CA
EXT=$(docker port "$C1" 8080/tcp | head -1 | sed 's/.*://')
t_run "client-cert-auth: get_node_list in the container (guest certificate)" 0 docker exec "$C1" get_node_list web http
t_eq "client-cert-auth: get_node_list answer" "$OUT" "$GW:$EXT"
t_run "client-cert-auth: the container without a certificate is refused" 3 docker exec "$C1" \
    env -u MDO_ETCD_CERT -u MDO_ETCD_KEY get_node_list web
t_eq "client-cert-auth: MDO_ETCD_CERT, MDO_ETCD_KEY" \
    "$(docker exec "$C1" sh -c 'echo $MDO_ETCD_CERT $MDO_ETCD_KEY')" "/run/mdo/etcd-cert.pem /run/mdo/etcd-key.pem"
t_eq "client-cert-auth: the certificate inside is etcd.guest.cert" \
    "$(docker exec "$C1" cat /run/mdo/etcd-cert.pem)" "$(cat "$C/guest.pem")"
t_eq "client-cert-auth: the three mounts are read-only" \
    "$(docker inspect "$C1" | jq -r '[.[0].Mounts[] | select(.Destination | startswith("/run/mdo/")) | .RW] | join(",")')" \
    false,false,false
t_eq "client-cert-auth: the subscriber's client key is not in the container" \
    "$(docker inspect "$C1" | grep -c -- "$C/client.key")" 0
# the chain under client-cert TLS: register_callback -> the subscriber -> a signed delivery
t_run "client-cert-auth: register_callback in the container" 0 docker exec "$C1" \
    register_callback web "http://$GW:$GOOD_PORT/tls" --secret tls-s3cret
n=$(deliveries good)
t_run "client-cert-auth: scale web 2" 0 mdo scale web 2 --wait=60
wait_for 20 '[ "$(deliveries good)" -gt "$n" ]'
t_eq "client-cert-auth: the delivery, signed" \
    "$(tail -1 "$TMP/good.log" | jq -r '.path') $(signed_ok "$TMP/good.log" tls-s3cret)" "/tls ok"
t_run "subscriber stops cleanly" 0 stop_subscriber
t_eq "the subscriber's password is in no log line" "$(grep -c -- "$SUBPW" "$TMP/sub.log")" 0
t_eq "neither token is in a log line" "$(grep -c -e "$SUBTOKEN" -e "$GUESTTOKEN" "$TMP/sub.log")" 0
grep -q 'registry is open' "$TMP/sub.log"
t_eq "no 'registry is open' warning with credentials" $? 1
t_done
