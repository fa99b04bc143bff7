#!/usr/bin/env bash
# face.sh - the subscriber's HTTP face against hostile clients, on loopback with its own etcd:
# methods (405 + Allow, HEAD), path tricks, oversized headers and bodies, bodies that are not
# UTF-8 or JSON, keep-alive, 100-continue and chunked bodies at the front (lib/front.c), 1,000
# idle + 50 slowloris + 10 slow-body connections while /health is timed (figures; every build:
# each costs the front a socket, no thread), the token rule off loopback (refused at start
# without one, subscriber.insecure, 401 without the token, /health open), and 5xx bodies that
# name no endpoint when etcd is down.
. "$(dirname "$0")/lib.sh"

ensure_dockerd || exit 1
start_etcd || exit 1
SPORT=$(free_port)
S=http://127.0.0.1:$SPORT
cfg() { # cfg FILE LISTEN [EXTRA-SUBSCRIBER-LINES]
    cat >"$1" <<YAML
environment: $MDO_TEST_ENV
etcd:
  endpoints: ["$ETCD"]
subscriber:
  listen: "$2"
  resync: 600
${3:-}
docker:
  pull: never
services:
  web:
    image: busybox
    instances: 1
YAML
}
cfg "$TMP/lo.yaml" "127.0.0.1:$SPORT"
export MDO_CONFIG=$TMP/lo.yaml
export MDO_LOG=debug # every answer's status is logged: no 5xx may be among them
start_subscriber || { echo "the subscriber did not start" >&2; tail "$TMP/sub.log" >&2; exit 1; }
code() { curl -s -o "$TMP/body" -w '%{http_code}' "$@"; }
allow() { curl -s -o /dev/null -D - "$@" | tr -d '\r' | sed -n 's/^[Aa]llow: //p'; }
# raw REQUEST-BYTES: sends them as they are (printf escapes) and prints the status code
raw() {
    /usr/bin/python3 - "$SPORT" "$1" <<'EOF'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
s.sendall(sys.argv[2].encode("latin-1").decode("unicode_escape").encode("latin-1"))
d = b""
try:
    while True:
        c = s.recv(65536)
        if not c:
            break
        d += c
except OSError:
    pass
print(d.split(b" ", 2)[1].decode() if d.startswith(b"HTTP/") else "closed")
EOF
}

# --- methods ------------------------------------------------------------------------------
t_eq "GET /health: 200" "$(code "$S/health")" 200
t_eq "POST /health: 405" "$(code -X POST -d x "$S/health")" 405
t_eq "... Allow: GET, HEAD" "$(allow -X POST -d x "$S/health")" "GET, HEAD"
t_eq "DELETE /info: 405" "$(code -X DELETE "$S/info")" 405
t_eq "PUT /v1/services/web: 405" "$(code -X PUT -d '{}' "$S/v1/services/web")" 405
t_eq "POST /metrics: 405" "$(code -X POST "$S/metrics")" 405
t_eq "PUT /v1/callbacks: 405" "$(code -X PUT "$S/v1/callbacks")" 405
t_eq "... Allow: GET, POST, DELETE, HEAD" "$(allow -X PUT "$S/v1/callbacks")" "GET, POST, DELETE, HEAD"
t_eq "HEAD /health: 200" "$(curl -s -o /dev/null -w '%{http_code}' -I "$S/health")" 200
t_eq "HEAD /health: no body" "$(curl -s -I "$S/health" | tr -d '\r' | sed '1,/^$/d' | wc -c)" 0
t_eq "HEAD /metrics: 200" "$(curl -s -o /dev/null -w '%{http_code}' -I "$S/metrics")" 200

# --- path tricks: 404 or 400, never a 200 of another route, never a 500 ---------------------
for p in "/v1/services/../health" "/v1/services/%2e%2e/x" "/v1/services/%2E%2E" "//health" \
    "/v1//services" "/v1/services/web%00" "/v1/services/web%2fx" "/health/../info" "/v1/services/./web"; do
    t_eq "GET $p: 404" "$(code --path-as-is "$S$p")" 404
done
t_eq "a NUL in the path: 400" "$(raw 'GET /he\x00alth HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')" 400
t_eq "a control byte in the path: 400" "$(raw 'GET /v1/services/w\x01 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')" 400
t_eq "a non-ASCII byte in the path: 400" "$(raw 'GET /v1/services/w\xe9 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')" 400
t_eq "garbage for a request: 400" "$(raw '\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n')" 400

# --- sizes and bodies ---------------------------------------------------------------------
big=$(head -c 20000 /dev/zero | tr '\0' a)
t_eq "a 20 KiB header: 431" "$(code -H "X-Big: $big" "$S/health")" 431
t_eq "... the body says why" "$(jq -r .error "$TMP/body")" "request headers too large"
t_eq "8 KiB of headers: 200" "$(code -H "X-Big: ${big:0:8000}" "$S/health")" 200
head -c $((1024 * 1024 + 1)) /dev/zero | tr '\0' a >"$TMP/big.json"
t_eq "a body over 1 MiB: 413" "$(code -X POST --data-binary @"$TMP/big.json" "$S/v1/callbacks")" 413
printf '{"service":"web","url":"http://10.0.0.1/\xff"}' >"$TMP/bad.json"
t_eq "a body that is not UTF-8: 400" "$(code -X POST --data-binary @"$TMP/bad.json" "$S/v1/callbacks")" 400
printf '{"service":"web","url":"http://10.0.0.1/\xc0\xaf"}' >"$TMP/bad.json"
t_eq "an overlong UTF-8 sequence: 400" "$(code -X POST --data-binary @"$TMP/bad.json" "$S/v1/callbacks")" 400
t_eq "a body that is not JSON: 400" "$(code -X POST -d '{"service":' "$S/v1/callbacks")" 400
# --- the front: keep-alive, Expect: 100-continue, chunked bodies -------------------------
t_eq "keep-alive: two requests on one connection" "$(curl -s -o /dev/null -o /dev/null -w '%{num_connects} ' "$S/health" "$S/info")" "1 0 "
head -c 4000 /dev/zero | tr '\0' a >"$TMP/4k.json"
ms=$(curl -s -o "$TMP/body" -w '%{http_code} %{time_total}' -X POST --data-binary @"$TMP/4k.json" "$S/v1/callbacks")
t_eq "a 4 KB body (curl sends Expect: 100-continue): answered" "${ms% *}" 400
t_eq "... without waiting out curl's 1 s for the 100" "$(awk -v t="${ms#* }" 'BEGIN {print (t < 0.9) ? "yes" : t " s"}')" yes
t_eq "a chunked body: 411" "$(code -X POST -H 'Transfer-Encoding: chunked' -d '{}' "$S/v1/callbacks")" 411
t_eq "requests logged" "$(grep -c 'msg="request"' "$TMP/sub.log" | awk '{print ($1 >= 20) ? "yes" : $1}')" yes
# (start_subscriber polls /health until the first reconcile has made it 200: its 503s are fine)
t_eq "no 5xx among them" "$(grep 'msg="request"' "$TMP/sub.log" | grep -v 'path=/health ' | grep 'status=5' | sed 's/.*method=//' | sort | uniq -c)" ""

# --- idle and slow clients: the front holds them, civetweb's few workers never see them -----
{
    pid=$SUB_PID
    rss0=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
    t0=$(date +%s%N)
    /usr/bin/python3 "$TOP/test/integration/slowclients.py" 127.0.0.1 "$SPORT" 1000 50 15 10 >"$TMP/slow.out"
    rss1=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
    kv() { sed -n "s/.*\b$1=\([^ ]*\).*/\1/p" "$TMP/slow.out"; }
    echo "# figure: /health under 1000 idle + 50 slowloris + 10 slow-body connections: max $(kv health_max_ms) ms, p50 $(kv health_p50_ms) ms ($(kv health_n) requests)"
    echo "# figure: subscriber RSS $((rss0 / 1024)) MiB before, $((rss1 / 1024)) MiB with them open; shed after at most $(kv shed_max_s) s (heads), $(kv shed_body_max_s) s (bodies); $((($(date +%s%N) - t0) / 1000000)) ms in all"
    t_eq "1000 idle and 50 slowloris connections accepted" "$(kv opened_idle) $(kv opened_slow)" "1000 50"
    t_eq "... all still open while /health was asked" "$(kv open_idle_at_health) $(kv open_slow_at_health)" "1000 50"
    t_eq "... /health answered all 5 times meanwhile" "$(kv health_ok)" 5
    t_eq "... /health within 1 s each time" "$(awk -v m="$(kv health_max_ms)" 'BEGIN {print (m < 1000) ? "yes" : m " ms"}')" yes
    threads=$(awk '/^Threads/ {print $2}' "/proc/$pid/status")
    echo "# figure: subscriber threads with them open: $threads; load $(cut -d' ' -f1-3 /proc/loadavg)"
    t_eq "... held by fewer than 100 threads" "$([ "$threads" -lt 100 ] && echo yes || echo "$threads")" yes
    t_eq "the idle connections were closed by the subscriber (FRONT_HEAD_MS)" "$(kv shed_idle)" 1000
    t_eq "the slowloris heads were cut off" "$(kv shed_slow)" 50
    t_eq "the slow bodies were cut off (408)" "$(kv shed_body)" 10
    t_eq "RSS grew by less than 64 MiB" "$([ $((rss1 - rss0)) -lt 65536 ] && echo yes || echo "$(((rss1 - rss0) / 1024)) MiB")" yes
    t_eq "the subscriber still answers" "$(code "$S/health")" 200
}
stop_subscriber
t_eq "the loopback subscriber exits 0" "$?" 0
unset MDO_LOG

# --- off loopback: the token rule ---------------------------------------------------------
OPORT=$(free_port)
O=http://127.0.0.1:$OPORT
cfg "$TMP/open.yaml" "0.0.0.0:$OPORT"
t_run "off loopback without a token: refused at start" 1 mdo subscribe -c "$TMP/open.yaml"
t_match "... saying what to set" "$ERR" "subscriber.listen '0.0.0.0:$OPORT' is not a loopback address and subscriber.token is not set.*subscriber.insecure"
cfg "$TMP/insecure.yaml" "0.0.0.0:$OPORT" "  insecure: true"
mdo subscribe -c "$TMP/insecure.yaml" >>"$TMP/insecure.log" 2>&1 &
SUB_PID=$!
wait_for 10 curl -sf "$O/health"
# (right after promotion /health may say 503 for a moment: the takeover's reconcile)
wait_eq 10 "subscriber.insecure: it starts" "code $O/health" 200
t_eq "... and serves /info without a token" "$(code "$O/info")" 200
t_match "... with a warning" "$(cat "$TMP/insecure.log")" "listening off loopback without a token"
stop_subscriber
TOKEN=tok-$RANDOM$RANDOM
cfg "$TMP/tok.yaml" "0.0.0.0:$OPORT" "  token: \"$TOKEN\""
mdo subscribe -c "$TMP/tok.yaml" >>"$TMP/tok.log" 2>&1 &
SUB_PID=$!
wait_for 10 curl -sf "$O/health"
auth=(-H "Authorization: Bearer $TOKEN")
wait_eq 10 "with a token: /health needs none" "code $O/health" 200
for p in /info /v1/services /v1/services/web /metrics /nope; do
    t_eq "with a token: GET $p without it: 401" "$(code "$O$p")" 401
done
t_eq "... with a wrong one: 401" "$(code -H "Authorization: Bearer x$TOKEN" "$O/info")" 401
t_eq "... as Basic: 401" "$(code -u "x:$TOKEN" "$O/info")" 401
t_eq "GET /info with it: 200" "$(code "${auth[@]}" "$O/info")" 200
t_eq "GET /v1/services with it: 200" "$(code "${auth[@]}" "$O/v1/services")" 200
t_eq "GET /metrics with it: 200" "$(code "${auth[@]}" "$O/metrics")" 200
t_eq "GET /v1/callbacks without it: 401" "$(code "$O/v1/callbacks")" 401

# --- etcd down: 5xx bodies name the peer's kind, not its address --------------------------
stop_etcd
EP=${ETCD#http://}
wait_for 15 sh -c "curl -s $O/health | grep -q 'etcd unreachable'"
t_eq "etcd down: /health 503" "$(code "$O/health")" 503
t_match "... naming etcd" "$(cat "$TMP/body")" "etcd unreachable"
t_eq "... no endpoint for a client without the token" "$(grep -c "$EP\|http://" "$TMP/body")" 0
t_eq "... no last_error for it" "$(jq 'has("last_error")' "$TMP/body")" false
t_eq "... last_error for a client with the token" "$(curl -s "${auth[@]}" "$O/health" | jq 'has("last_error")')" true
t_eq "etcd down: /v1/services 503" "$(code "${auth[@]}" "$O/v1/services")" 503
t_eq "... says etcd unavailable" "$(jq -r .error "$TMP/body")" "etcd unavailable"
t_eq "... and no endpoint" "$(grep -c "$EP\|http://" "$TMP/body")" 0
t_eq "etcd down: /info 503" "$(code "${auth[@]}" "$O/info")" 503
t_eq "... and no endpoint" "$(grep -c "$EP\|http://" "$TMP/body")" 0
t_match "the log has the details" "$(grep 'registry read failed' "$TMP/tok.log" | tail -1)" "$EP"
stop_subscriber
t_eq "the token subscriber exits 0 (etcd down)" "$?" 0
t_eq "no error lines in the logs" "$(cat "$TMP"/sub.log "$TMP"/insecure.log "$TMP"/tok.log | grep -c 'level=error')" 0
t_eq "no sanitizer report in the logs" "$(cat "$TMP"/sub.log "$TMP"/insecure.log "$TMP"/tok.log | grep -c 'Sanitizer\|runtime error')" 0
[ -n "${KEEP_TMP:-}" ] && cp -r "$TMP" /tmp/keep-$TEST_NAME
t_done
