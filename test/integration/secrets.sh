#!/usr/bin/env bash
# secrets.sh - a ${VAR} value is a secret wherever mdo puts it (DESIGN §3, §10; lib/redact.h):
# ${PW} in args, the health command, a label, env values whose names do not look secret, the
# etcd and guest passwords and the Marathon URL; a full chain on the local engine (validate,
# launch --dry-run, launch --wait, status, the subscriber and its debug log, every HTTP route,
# restart, scale, stop, an error that quotes a secret) shows it in no stdout, stderr, log line,
# HTTP answer or etcd value; the container still gets the real value.
. "$(dirname "$0")/lib.sh"

ensure_dockerd || exit 1
start_etcd || exit 1
build_test_image || { echo "cannot build the test image" >&2; exit 1; }
SPORT=$(free_port)
E=$MDO_TEST_ENV
# distinctive, and a shape no other output has; PWL is for an image name (lowercase only)
export PW="Pw7-$RANDOM$RANDOM-x9Q-$RANDOM"
export PWL="pwl$RANDOM$RANDOM$RANDOM"
CFG=$TMP/mdo.yaml
# shellcheck disable=SC2016 # ${PW} is for mdo to expand
write_config -e "username: mdo-$E" -e 'password: ${PW}' -e "guest: {username: mdo-$E-guest, password: \"\${PW}\"}" <<YAML
marathon:
  url: "http://admin:\${PW}@127.0.0.1:9"
services:
  web:
    image: $TEST_IMAGE
    ports: {http: 8080}
    instances: 2
    cpus: 0.2
    mem: 64
    args: [sh, -c, 'echo ok >/tmp/index.html; exec httpd -f -p 8080 -h /tmp', '--pass', '\${PW}']
    health: {cmd: "test -n '\${PW}'", interval: 1, timeout: 2, grace: 5}
    labels: {tier: "db-\${PW}"}
    environment: {DB_PASS: "\${PW}", CONN: "user=app pw=\${PW} host=db", PGPASS: "\${PW}"}
  ghost:
    image: "mdo-none/x-\${PWL}:1"
YAML
export MDO_LOG=debug # the most the commands and the subscriber ever say
ALL=$TMP/all-output # everything mdo printed, served or stored, for the last check
: >"$ALL"
P=/mdo/$E/services/web/instances

# leaks FILE-OR-TEXT: how many times PW or PWL occurs
leaks() { grep -o -e "$PW" -e "$PWL" <<<"$1" | wc -l; }
# t_clean DESC: the last t_run's stdout and stderr hold no secret (one check each)
t_clean() {
    t_eq "$1: stdout shows no secret" "$(leaks "$OUT")" 0
    t_eq "$1: stderr shows no secret" "$(leaks "$ERR")" 0
    printf '%s\n%s\n' "$OUT" "$ERR" >>"$ALL"
}
count_is() { [ "$(reg_count web)" == "$1" ]; }
etcd_all() { ectl get --prefix "/mdo/$E/"; }

t0=$SECONDS
t_run "validate" 0 mdo validate
t_clean "validate"

t_run "launch --dry-run" 0 mdo launch web --dry-run
t_clean "launch --dry-run"
t_match "dry-run: args redacted" "$(tr -d ' \t\n' <<<"$OUT")" '"--pass","<redacted>"'
t_match "dry-run: env values redacted whatever their names" "$OUT" '"CONN=user=app pw=<redacted> host=db"'
t_match "dry-run: the label redacted" "$OUT" '"mdo.label.tier":[[:space:]]*"db-<redacted>"'
t_match "dry-run: the health command redacted" "$OUT" "test -n '<redacted>'"

# Marathon's dry-run (no Marathon here: the warning path, which quotes its URL, is covered too)
sed '1i scheduler: marathon' "$CFG" >"$TMP/marathon.yaml"
t_run "marathon launch --dry-run" 0 mdo launch web --dry-run -c "$TMP/marathon.yaml"
t_clean "marathon --dry-run"
t_match "marathon dry-run: env, args, health redacted" "$(tr -d ' \t\n' <<<"$OUT")" '"--pass","<redacted>".*"DB_PASS":"<redacted>".*test-n.<redacted>.'

start_subscriber
t_run "launch web --wait" 0 mdo launch web --wait=60
t_clean "launch --wait"
wait_for 20 count_is 2
t_eq "2 instances registered" "$(reg_count web)" 2
c=$E-web-1
# the container gets what the user asked for: redaction is for mdo's outputs
t_run "env inside the container" 0 docker exec "$c" sh -c 'printf "%s|%s|%s|%s\n" "$DB_PASS" "$CONN" "$PGPASS" "$MDO_ETCD_PASSWORD"'
t_eq "the container has the real values (env, the guest's etcd password)" "$OUT" "$PW|user=app pw=$PW host=db|$PW|$PW"
t_eq "the container's args have the real value" "$(docker inspect -f '{{json .Args}}' "$c" | grep -c -- "$PW")" 1
t_eq "the record's label is redacted, not dropped" "$(ectl get --print-value-only "$P/$c" | jq -r .labels.tier)" "db-<redacted>"

t_run "launch of an image named with a secret fails" 1 mdo launch ghost
t_clean "the failed launch"
t_match "the error quotes the image, redacted" "$ERR" "mdo-none/x-<redacted>:1"

t_run "status" 0 mdo status
t_clean "status"
t_run "status --json" 0 mdo status web --json
t_clean "status --json"
t_eq "status --json: both instances" "$(jq -r '.services[0].instances | length' <<<"$OUT")" 2

# every route the subscriber serves
for r in /health /info /metrics /v1/services /v1/services/web /v1/callbacks /nope; do
    body=$(curl -s -w '\n%{http_code}' "http://127.0.0.1:$SPORT$r")
    t_match "GET $r answers" "${body##*$'\n'}" '^[2-5][0-9][0-9]$'
    t_eq "GET $r shows no secret" "$(leaks "$body")" 0
    printf '%s\n' "$body" >>"$ALL"
done
t_match "/v1/services/web has the redacted label" "$(curl -s "http://127.0.0.1:$SPORT/v1/services/web")" 'db-<redacted>'
t_eq "etcd values (while running): no secret" "$(leaks "$(etcd_all)")" 0
etcd_all >>"$ALL"

t_run "restart web" 0 mdo restart web
t_clean "restart"
t_run "scale web 1" 0 mdo scale web 1 --wait=60
t_clean "scale"
wait_for 20 count_is 1
t_eq "etcd values (after restart and scale): no secret" "$(leaks "$(etcd_all)")" 0
t_eq "no specs key (it held env values in clear)" "$(ectl get --prefix --keys-only "/mdo/$E/specs/" | grep -c .)" 0
etcd_all >>"$ALL"

# an older mdo's specs key is removed by the next launch
ectl put "/mdo/$E/specs/web" "{\"env\":\"$PW\"}" >/dev/null
t_run "launch again" 0 mdo launch web
t_clean "launch again"
t_eq "launch removed the old specs key" "$(ectl get --keys-only "/mdo/$E/specs/web" | grep -c .)" 0

t_run "stop web" 0 mdo stop web
t_clean "stop"
wait_for 20 count_is 0
stop_subscriber
t_eq "the subscriber's log shows no secret" "$(leaks "$(cat "$TMP/sub.log")")" 0
t_match "the subscriber logged at debug" "$(grep -c 'level=debug' "$TMP/sub.log")" '^[1-9]'
t_eq "etcd values (at the end): no secret" "$(leaks "$(etcd_all)")" 0
cat "$TMP/sub.log" >>"$ALL"
t_match "the outputs checked are not empty" "$(wc -c <"$ALL")" '^[0-9]{4,}$'
t_match "and '<redacted>' is what shows instead" "$(grep -c '<redacted>' "$ALL")" '^[1-9]'
echo "# figure: secrets.sh chain: $((SECONDS - t0)) s"
t_done
