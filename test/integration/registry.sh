#!/usr/bin/env bash
# registry.sh - the etcd client against a real etcd: listings longer than one page (500) come
# back whole and in order, at one revision.
. "$(dirname "$0")/lib.sh"

start_etcd || exit 1
P=/mdo/$MDO_TEST_ENV/services/big/instances
# 1300 records in transactions of 100 puts (etcd allows 128 ops per txn), through the gateway
/usr/bin/python3 - "$ETCD" "$P" <<'PY'
import base64, json, sys, urllib.request
etcd, prefix = sys.argv[1], sys.argv[2]
b64 = lambda s: base64.b64encode(s.encode()).decode()
for b in range(13):
    ops = []
    for i in range(100):
        n = b * 100 + i
        rec = {"service": "big", "container": "c-%05d" % n, "host": "10.0.0.1",
               "ports": {"p": {"internal": 1, "external": 20000 + n, "protocol": "tcp"}}}
        ops.append({"request_put": {"key": b64("%s/c-%05d" % (prefix, n)), "value": b64(json.dumps(rec))}})
    req = urllib.request.Request(etcd + "/v3/kv/txn", json.dumps({"success": ops}).encode())
    urllib.request.urlopen(req, timeout=10).read()
PY
t_eq "1300 records stored" "$(ectl get --prefix --keys-only "$P/" | grep -c .)" 1300
export MDO_ETCD=$ETCD MDO_ENVIRONMENT=$MDO_TEST_ENV
t_run "get_node_list over 3 pages" 0 get_node_list big p
t_eq "every record, once" "$(echo "$OUT" | wc -l)" 1300
t_eq "sorted by container: first" "$(echo "$OUT" | head -1)" "10.0.0.1:20000"
t_eq "sorted by container: last" "$(echo "$OUT" | tail -1)" "10.0.0.1:21299"
t_eq "no duplicates" "$(echo "$OUT" | sort -u | wc -l)" 1300
t_run "--json over 3 pages" 0 get_node_list big --json
t_eq "--json has every record" "$(echo "$OUT" | jq length)" 1300
t_run "--minimum 1301 is not met" 4 get_node_list big --minimum 1301
t_done
