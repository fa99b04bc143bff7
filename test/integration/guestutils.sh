#!/usr/bin/env bash
# guestutils.sh - guest/guestutils.py (maestro-ng's helpers over mdo) through a Python start
# script written as a maestro-ng user writes one (guestutils_test.py), against a real etcd.
#
#   MDO_BUILD=/work/main/build bash test/integration/guestutils.sh
. "$(dirname "$0")/lib.sh"

[ -x "$MDO" ] || { echo "guestutils: no mdo binary at $MDO" >&2; exit 1; }
start_etcd || exit 1
unset MDO_ETCD_PREFIX MESOS_TASK_ID HOST ETCD_HOST_ADDRESS SERVICE_NAME MDO_BINARY
E=$MDO_TEST_ENV
# zk N HOST CLIENT PEER ELECTION RACK
zk() {
    ectl put "/mdo/$E/services/zookeeper/instances/zk-$1" "$(printf '{"service":"zookeeper","container":"zk-%s","environment":"%s","host":"%s","ports":{"client":{"internal":2181,"external":%s,"protocol":"tcp"},"peer":{"internal":2888,"external":%s,"protocol":"tcp"},"election":{"internal":3888,"external":%s,"protocol":"tcp"}},"labels":{"rack":"%s"},"state":"running","started_at":"2026-01-01T00:00:00Z","app_version":"v1","backend":"docker"}' "$1" "$E" "$2" "$3" "$4" "$5" "$6")" >/dev/null
}
zk 3 10.0.0.3 32183 32890 33890 r2
zk 1 10.0.0.1 32181 32888 33888 r1
zk 2 10.0.0.2 32182 32889 33889 r1
run() {
    env MDO_ETCD="$ETCD" MDO_ENVIRONMENT="$E" MDO_SERVICE=kafka MDO_CONTAINER_NAME=kafka-1 \
        MDO_HOST_ADDRESS=10.0.0.9 MDO_PORT_BROKER=9092 GUESTUTILS_DIR="$TOP/guest" \
        PYTHONDONTWRITEBYTECODE=1 \
        "$@"
}
run /usr/bin/python3 "$TOP/test/integration/guestutils_test.py" >"$TMP/py.out" 2>&1
rc=$?
while IFS= read -r line; do
    case $line in
    "ok - "*) t_pass "${line#ok - }" ;;
    "not ok - "*) t_fail "${line#not ok - }" ;;
    *) echo "$line" ;;
    esac
done <"$TMP/py.out"
t_eq "the script exits 0" "$rc" 0
# stdlib only, any Python 3: no import outside the standard library
t_eq "stdlib only" "$(grep -E '^(import|from) ' "$TOP/guest/guestutils.py" | grep -vE '^import (os|shutil|subprocess)$')" ""
t_run "it parses" 0 /usr/bin/python3 -c 'import ast, sys; ast.parse(open(sys.argv[1]).read())' "$TOP/guest/guestutils.py"
t_done
