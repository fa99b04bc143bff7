#!/usr/bin/env bash
# onehost.sh - ops/one-host for real: etcd and the subscriber as containers that mdo launches,
# then the example service registered through them; run again (nothing changes), scale through
# the containerised subscriber, down. On the release build only (its images carry the binary).
. "$(dirname "$0")/lib.sh"

case $(basename "$BUILD") in
build) ;;
*)
    t_skip 1 "onehost: the one-host images are built from the release binary, not $(basename "$BUILD")"
    t_done
    exit
    ;;
esac
ensure_dockerd || exit 1
GW=$(bridge_gateway)
EPORT=$(free_port)
SPORT=$(free_port)
DIR=$TMP/onehost
ONE=("$TOP/ops/one-host" --dir "$DIR" --env "$MDO_TEST_ENV" --etcd-port "$EPORT" --port "$SPORT" --mdo "$MDO")
CLEANUP+=('"${ONE[@]}" down')
E="etcdctl --endpoints http://$GW:$EPORT"
count() { $E get --prefix --keys-only "/mdo/$MDO_TEST_ENV/services/$1/instances/" | grep -c .; }
ids() { docker ps -q --no-trunc --filter "label=mdo.environment=$MDO_TEST_ENV" | sort | paste -sd,; }

start=$(date +%s.%N)
t_run "one-host up" 0 "${ONE[@]}"
echo "# figure: one-host up (three images built, etcd, subscriber, web 2 --wait): $(echo "$(date +%s.%N) - $start" | bc | cut -c1-5) s"
t_eq "four containers run (etcd, subscriber, web x2)" "$(docker ps -q --filter "label=mdo.environment=$MDO_TEST_ENV" | grep -c .)" 4
t_eq "etcd runs in its container" "$(docker ps --filter "name=^$MDO_TEST_ENV-etcd-1\$" --format '{{.Image}}')" mdo-etcd:onehost
t_match "the subscriber answers /health on the bridge address" "$(curl -s -m 5 "http://$GW:$SPORT/health")" '"status":"ok"'
t_eq "the subscriber runs as the image's non-root user" "$(docker exec "$MDO_TEST_ENV-subscriber-1" busybox id -u)" 10001
wait_eq 20 "web: 2 records, written by the containerised subscriber" "count web" 2
t_eq "etcd and the subscriber are registered too" "$(count etcd),$(count subscriber)" 1,1
wait_eq 20 "web's page lists both peers (get_node_list inside the container)" \
    "docker exec $MDO_TEST_ENV-web-1 cat /tmp/index.html | grep -c '^$GW:'" 2
t_eq "the config holds no secret for others (mode 644 file in a 700 dir)" "$(stat -c %a "$DIR"),$(stat -c %a "$DIR/mdo.yaml")" 700,644

before=$(ids)
t_run "one-host up again" 0 "${ONE[@]}"
t_eq "again: three services up to date" "$(printf "%s\n%s\n" "$OUT" "$ERR" | grep -c "up to date")" 3
t_eq "again: no container replaced" "$(ids)" "$before"

t_run "scale web 3" 0 mdo scale -c "$DIR/mdo.yaml" web 3
wait_eq 30 "the containerised subscriber registers the third" "count web" 3

t_run "one-host down" 0 "${ONE[@]}" down
t_eq "down: nothing of the environment runs" "$(docker ps -aq --filter "label=mdo.environment=$MDO_TEST_ENV" | grep -c .)" 0
t_run "a bad port is a usage error" 2 "$TOP/ops/one-host" --port 70000
t_done
