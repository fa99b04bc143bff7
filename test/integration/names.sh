#!/usr/bin/env bash
# names.sh - names from outside, hostile: real containers (docker run --label, the test image, no
# pull) whose mdo.service, mdo.environment, mdo.ports and mdo.label.* labels and names hold
# slashes, dots, "..", quotes, HTML, control bytes, invalid UTF-8, newlines and 64 KiB strings,
# under a real subscriber and etcd; then hostile HTTP paths and callback registrations. Every one
# is refused or escaped: no etcd key outside <prefix>/<env>/ and its layout, /v1/services and
# /v1/callbacks answer JSON that parses, /info holds no markup from outside, the log no forged line.
. "$(dirname "$0")/lib.sh"

ensure_dockerd || exit 1
start_etcd || exit 1
IMG=$(docker image ls --format '{{.Repository}}:{{.Tag}}' | grep -m1 '^mdo-test:')
if [ -z "$IMG" ]; then
    build_test_image || { echo "cannot build the test image" >&2; exit 1; }
    IMG=$TEST_IMAGE
fi
SPORT=$(free_port)
S=http://127.0.0.1:$SPORT
E=$MDO_TEST_ENV
cat >"$TMP/mdo.yaml" <<YAML
environment: $E
etcd: {endpoints: ["$ETCD"]}
subscriber: {resync: 2, listen: "127.0.0.1:$SPORT", callback_allow: [127.0.0.1/32]}
docker: {pull: never}
services:
  web: {image: $IMG, ports: {http: 8080}}
YAML
export MDO_CONFIG=$TMP/mdo.yaml

big=$(head -c 65536 /dev/zero | tr '\0' a)                 # 64 KiB
script='<script>alert(1)</script>'
ctl=$'web\x01\x7f'
bad8=$'web\xff\xfe'
forge=$'x\nts=2026-12-01T00:00:00Z level=error mod=forged msg="forged"'
n=0
# run NAME LABEL...: a container of this test that sleeps, with the labels given
run() {
    local name=$1
    shift
    local args=(--label "mdo.environment=${RUN_ENV:-$E}")
    for l in "$@"; do args+=(--label "$l"); done
    n=$((n + 1))
    CLEANUP+=("docker rm -f '$name'")
    docker run -d --name "$name" "${args[@]}" "$IMG" sleep 600 >/dev/null 2>"$TMP/run.err" ||
        echo "# docker run $name refused: $(head -c 200 "$TMP/run.err")"
}
t0=$(date +%s.%N)
# refused: the service label breaks the name rule
run "$E-s1" mdo.service=a/b
run "$E-s2" mdo.service=..
run "$E-s3" mdo.service=../../x
run "$E-s4" 'mdo.service=web"q'
run "$E-s5" "mdo.service=$script"
run "$E-s6" "mdo.service=$ctl"
run "$E-s7" "mdo.service=$bad8"
run "$E-s8" "mdo.service=$big"
run "$E-s9" "mdo.service=$forge"
run "$E-s10" mdo.service=Web
run "$E-s11" 'mdo.service=web/../../../other/services/web'
# refused: a port name that is no name
run "$E-p1" mdo.service=web "mdo.ports=[{\"name\":\"<b>\",\"port\":8080,\"protocol\":\"tcp\"}]"
run "$E-p2" mdo.service=web 'mdo.ports=../x:8080/tcp'
# not ours: another environment's label, however it is spelled
RUN_ENV="$E/../x" run "$E-e1" mdo.service=web
RUN_ENV="$E\"" run "$E-e2" mdo.service=web
# registered, names at the edge of the rule: dots inside, a 255-byte name
long=$E-$(head -c 300 /dev/zero | tr '\0' l)
long=${long:0:255}
run "$E-w.1..x" mdo.service=web
run "$long" mdo.service=web
# too long a name (256 bytes): refused
run "${long}m" mdo.service=web
# registered: hostile label values and keys, escaped where they are shown
run "$E-l1" mdo.service=web "mdo.label.html=$script" "mdo.label.q=say \"hi\" & go" \
    "mdo.label.ctl=$ctl" "mdo.label.utf=$bad8" "mdo.label.big=$big" "mdo.label.a/b=slash" \
    "mdo.label.nl=$forge" "mdo.app_version=$script"
want_web="$long $E-l1 $E-w.1..x"
echo "# figure: $n hostile containers started in $(echo "$(date +%s.%N) - $t0" | bc) s"

start_subscriber
P=/mdo/$E/services/web/instances
web_names() { ectl get --prefix --keys-only "$P/" | grep . | sed "s|^$P/||" | sort | tr '\n' ' ' | sed 's/ $//'; }
wait_eq 20 "only the containers whose names pass the rules are registered" web_names "$(echo "$want_web" | tr ' ' '\n' | sort | tr '\n' ' ' | sed 's/ $//')"
sleep 2 # another pass (resync 2): whatever it would add is there too

# every key in this etcd: the layout, nothing else (the etcd is this test's own)
keys=$(ectl get --prefix --keys-only "" | grep .)
re="^/mdo/$E/(services/[a-z0-9]([-a-z0-9]*[a-z0-9])?/instances/[A-Za-z0-9_-][A-Za-z0-9._-]{0,254}|leader|callbacks/[a-z0-9-]+/[0-9a-f]+|secrets/callbacks/[0-9a-f]+)\$"
t_eq "no etcd key outside /mdo/$E/ and its layout" "$(echo "$keys" | grep -Ev "$re" | head -c 300)" ""
t_eq "no key holds '..' as a segment, a quote, '<' or a control byte" "$(echo "$keys" | grep -E '/\.\.(/|$)|["<]|[[:cntrl:]]' | head -c 300)" ""
t_eq "one service registered" "$(ectl get --prefix --keys-only "/mdo/$E/services/" | grep . | cut -d/ -f5 | sort -u)" web

# the hostile labels are data: stored whole, the same bytes back
rec=$(ectl get --print-value-only "$P/$E-l1")
t_eq "an HTML label value round-trips" "$(echo "$rec" | jq -r .labels.html)" "$script"
t_eq "a quoted label value round-trips" "$(echo "$rec" | jq -r .labels.q)" 'say "hi" & go'
t_eq "a 64 KiB label value is kept whole" "$(echo "$rec" | jq -r .labels.big | wc -c)" 65537
t_eq "a label value with a newline round-trips" "$(echo "$rec" | jq -r .labels.nl)" "$forge"
t_eq "a control byte in a label is escaped in the record" "$(echo "$rec" | grep -c $'\x01')" 0

# the HTTP face: JSON that parses, HTML with no markup from outside
curl -s "$S/v1/services" >"$TMP/services.json"
t_eq "/v1/services is JSON" "$(jq -e . "$TMP/services.json" >/dev/null && echo ok)" ok
t_eq "/v1/services names web only" "$(jq -r '.services | keys | join(",")' "$TMP/services.json")" web
t_eq "/v1/services: 3 instances" "$(jq '.services.web | length' "$TMP/services.json")" 3
t_eq "/v1/services gives the HTML label back as data" "$(jq -r --arg c "$E-l1" '.services.web[] | select(.container == $c) | .labels.html' "$TMP/services.json")" "$script"
curl -s "$S/info" >"$TMP/info.html"
t_eq "/info lists the 3 instances" "$(grep -o '<p>[0-9]* instances</p>' "$TMP/info.html")" "<p>3 instances</p>"
t_eq "/info holds no <script (case aside)" "$(grep -ci '<script' "$TMP/info.html")" 0
t_eq "/info holds no control byte" "$(tr -d '\n' <"$TMP/info.html" | grep -c '[[:cntrl:]]')" 0

# hostile paths: never a 200; a JSON answer parses, any other (civetweb's own) echoes nothing
for p in "/v1/services/a%2Fb" "/v1/services/..%2F..%2Fx" "/v1/services/%2e%2e" \
    "/v1/services/%3Cscript%3E" "/v1/services/web%22q" "/v1/services/web%0Ats=x" "/v1/services/$big" \
    "/v1/services/web/../../x" "/v1/services/%ff%fe" "/v1/callbacks/..%2F..%2Fx" "/v1/callbacks/%3Cb%3E" \
    "/%3Cscript%3Ealert(1)%3C/script%3E"; do
    m=GET
    [ "${p#/v1/callbacks}" != "$p" ] && m=DELETE
    code=$(curl -s --path-as-is -o "$TMP/ans" -D "$TMP/hdr" -w '%{http_code}' -X $m "$S$p")
    ok=no
    if grep -qi '^content-type: application/json' "$TMP/hdr"; then
        jq -e . "$TMP/ans" >/dev/null 2>&1 && ok=yes
    elif ! grep -qi -e '<script' -e aaaaaaaaaaaaaaaa "$TMP/ans"; then
        ok=yes
    fi
    case $code in 4??) ;; *) ok="status $code" ;; esac
    t_eq "$m ${p:0:40}: refused (4xx), the answer parses or echoes nothing" "$ok" yes
done
t_eq "GET /info/<script>: the page, no markup from the path" "$(curl -s "$S/info/%3Cscript%3E" | grep -ci '<script')" 0
# the server takes paths undecoded (civetweb's decode_url: no) and refuses any escape: a NUL
# cannot cut a path short
t_eq "GET /v1/services/web%00x: refused (404)" "$(curl -s -o /dev/null -w '%{http_code}' "$S/v1/services/web%00x")" 404

# callback registrations: refused unless every part passes its rule
post() { curl -s -o "$TMP/ans" -w '%{http_code}' -H 'Content-Type: application/json' --data-binary @- "$S/v1/callbacks"; }
cbj() { jq -cn --arg s "$1" --arg u "$2" --arg o "$3" '{service: $s, url: $u} + (if $o == "" then {} else {owner: $o} end)'; }
ok_url=http://127.0.0.1:9/hook
i=0
while IFS=$'\t' read -r svc url owner; do
    i=$((i + 1))
    t_eq "callback $i ($(printf %q "${svc:0:20}") $(printf %q "${url:0:30}") ${owner:0:10}): 400" "$(cbj "$svc" "$url" "$owner" | post)" 400
done <<EOF
../x	$ok_url	
a/b	$ok_url	
$script	$ok_url	
$big	$ok_url	
web	javascript:alert(1)	
web	file:///etc/passwd	
web	http://127.0.0.1:9/$big	
web	http://127.0.0.1:9/a$(printf '\x01')b	
web	http://a"b/	
web	/relative	
web	$ok_url	a/b
web	$ok_url	..
web	$ok_url	$script
EOF
t_eq "a body that is no JSON: 400" "$(printf '{"service":"web","url":"%s' "$ok_url" | post)" 400
t_eq "invalid UTF-8 in the body: 400" "$(printf '{"service":"web\xff","url":"%s"}' "$ok_url" | post)" 400
# accepted with markup in its query: stored under the layout, answered as data
q="$ok_url?x=%3Cscript%3E&q=%22"
t_eq "a callback URL with markup in its query: 201" "$(cbj web "$q" "" | post)" 201
id=$(jq -r .id "$TMP/ans")
t_match "its id is hex" "$id" '^[0-9a-f]+$'
t_eq "its key is under callbacks/web/" "$(ectl get --prefix --keys-only "/mdo/$E/callbacks/" | grep .)" "/mdo/$E/callbacks/web/$id"
curl -s "$S/v1/callbacks" >"$TMP/cbs.json"
t_eq "GET /v1/callbacks is JSON with the URL as data" "$(jq -r '.callbacks[0].url // .[0].url' "$TMP/cbs.json")" "$q"
keys=$(ectl get --prefix --keys-only "" | grep .)
t_eq "still no etcd key outside the layout" "$(echo "$keys" | grep -Ev "$re" | head -c 300)" ""

# the log: every hostile value escaped, no line forged, the subscriber alive and well
t_eq "no forged log line" "$(grep -c 'mod=forged' "$TMP/sub.log")" 0
t_eq "no control byte in the log" "$(tr -d '\n' <"$TMP/sub.log" | grep -c '[[:cntrl:]]')" 0
t_eq "the subscriber still answers /health" "$(curl -s -o /dev/null -w '%{http_code}' "$S/health")" 200
t_eq "and is still running" "$(kill -0 "$SUB_PID" 2>/dev/null && echo yes)" yes
stop_subscriber
t_eq "it exits 0 on SIGTERM" "$?" 0
SUB_PID=
t_done
