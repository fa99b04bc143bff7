#!/usr/bin/env bash
# cli.sh - the command line contract (DESIGN §2): dispatch, help, usage errors, validate, dry-run
. "$(dirname "$0")/lib.sh"

t_run "mdo version" 0 mdo version
t_match "version text" "$OUT" '^mdo [0-9]+\.[0-9]+\.[0-9]+$'
t_run "mdo help" 0 mdo help
for c in launch scale restart stop status subscribe validate guest; do
    t_match "help lists $c" "$OUT" "  $c "
done
t_run "no arguments: usage on stderr, exit 2" 2 mdo
t_match "usage on stderr" "$ERR" "usage: mdo COMMAND"
t_run "unknown command: exit 2" 2 mdo frobnicate
t_match "unknown command named" "$ERR" "unknown command 'frobnicate'"
t_eq "unknown command: nothing on stdout" "$OUT" ""
for c in launch scale restart stop status subscribe validate; do
    t_run "mdo $c --help" 0 mdo $c --help
    t_match "$c --help starts with its usage" "$OUT" "^usage: mdo $c"
    t_run "mdo help $c" 0 mdo help $c
done
t_run "help for an unknown command" 2 mdo help nope
t_run "launch without a service: exit 2" 2 mdo launch
t_match "says what is missing" "$ERR" "name a service, or --all"
t_run "unknown option: exit 2" 2 mdo status --frob
t_match "names the option" "$ERR" "unknown option '--frob'"
t_run "option without its value: exit 2" 2 mdo launch web -c
t_run "bad --wait value" 2 mdo launch web --wait=abc
t_match "bad --wait value: message" "$ERR" "^mdo launch: --wait takes seconds 1..86400, got 'abc'"
t_run "scale: a negative count reaches the range check" 1 mdo scale web -1
t_match "scale: negative count message" "$ERR" "^mdo scale: instance count must be a whole number from 0 to 1000, got '-1'"
t_run "validate --config=FILE" 1 mdo validate --config=/nonexistent.yaml
t_match "validate: --config=FILE is read" "$ERR" "/nonexistent.yaml"
t_run "validate: -c without its FILE" 2 mdo validate -c
t_match "validate: -c message" "$ERR" "^mdo validate: option '-c' needs a FILE"
t_run "stop: a name against the rule" 2 mdo stop Web
t_match "stop: ... message" "$ERR" "^mdo stop: service 'Web' is not a valid name"

# applets through a symlink and through `mdo guest`
ln -s "$MDO" "$TMP/get_environment_name"
t_run "applet through a symlink" 0 env MDO_ENVIRONMENT=prod "$TMP/get_environment_name"
t_eq "symlink applet output" "$OUT" prod
t_run "applet through mdo guest" 0 env MDO_ENVIRONMENT=prod mdo guest get_environment_name
t_eq "mdo guest output" "$OUT" prod

# config discovery and validate
cd "$TMP"
t_run "no config anywhere" 1 env -u MDO_CONFIG mdo validate
t_match "names the file it looked for" "$ERR" "mdo.yaml"
cp "$TOP/examples/seed-config.yaml" config.yaml
t_run "the seed's ./config.yaml is found" 0 env -u MDO_CONFIG mdo validate
t_eq "seed validates" "$OUT" ok
printf 'services:\n  web:\n    image: x\n    instances: -1\n    imgae: y\n' >mdo.yaml
t_run "./mdo.yaml wins over ./config.yaml" 1 env -u MDO_CONFIG mdo validate
t_match "every problem, with file:line:col" "$ERR" "mdo.yaml:4:16: .*instances.*mdo.yaml:5:5: .*imgae.*did you mean 'image'"
t_run "MDO_CONFIG wins over ./mdo.yaml" 0 env MDO_CONFIG=config.yaml mdo validate
t_run "-c wins over MDO_CONFIG" 0 env MDO_CONFIG=mdo.yaml mdo validate -c config.yaml
cd "$TOP"

# --dry-run of the seed: what each service would become; nothing is sent
if ensure_dockerd; then
    t_run "launch --all --dry-run on the seed" 0 mdo launch --all --dry-run -c examples/seed-config.yaml
    t_eq "one create request per instance (cassandra has 2)" "$(echo "$OUT" | grep -c '^POST /containers/create')" 7
    t_match "cassandra's ports-hard become fixed host ports" "$(echo "$OUT" | tr -d ' \t\n')" '"9042/tcp":\[\{"HostIp":"[0-9.]+","HostPort":"9042"\}\]'
    t_match "and a warning that one host runs one of them" "$ERR" "cassandra: fixed host ports.*only one instance"
    t_match "the seed's integer env reaches the container" "$OUT" '"MIN_NODES=2"'
    t_match "seed images are named as written" "$OUT" 'localhost:5000/cassandra-processor-s'
    t_eq "dry-run created nothing" "$(docker ps -aq --filter label=mdo.environment=local --filter label=mdo.service=cassandra | wc -l)" 0
    printf 'environment: dry\ndocker: {pull: never}\nservices:\n  s:\n    image: x\n    environment: {DB_PASSWORD: hunter2, PLAIN: visible}\n' >"$TMP/secret.yaml"
    t_run "dry-run with a secret" 0 mdo launch s --dry-run -c "$TMP/secret.yaml"
    t_match "secret redacted" "$OUT" 'DB_PASSWORD=<redacted>'
    t_eq "secret value absent" "$(echo "$OUT" | grep -c hunter2)" 0
    t_match "plain value shown" "$OUT" 'PLAIN=visible'
else
    t_skip 11 "launch --dry-run (no Docker engine answers and dockerd did not start)"
fi
t_done
