#!/usr/bin/env python3
"""mkcorpus.py - writes the hand-made seed corpus of test/fuzz/corpus/<target>/ (run once; the
files are checked in, and regression inputs are added beside them by hand)."""
import base64, json, os, shutil, sys

top = os.path.dirname(os.path.abspath(__file__))
root = os.path.join(top, "..", "..")
out = os.path.join(top, "corpus")


def put(target, name, data):
    d = os.path.join(out, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def b64(s):
    return base64.b64encode(s.encode() if isinstance(s, str) else s).decode()


# config: every fixture of test/unit/config
cdir = os.path.join(root, "test", "unit", "config")
for f in sorted(os.listdir(cdir)):
    with open(os.path.join(cdir, f), "rb") as fh:
        put("config", f, fh.read())

# sse
put("sse", "marathon", "event: event_stream_attached\r\ndata: {\"remoteAddress\":\"127.0.0.1\"}\r\n\r\n"
    "\r\nevent: status_update_event\r\ndata: {\"a\":1}\r\n\r\n")
put("sse", "multi", "\xef\xbb\xbf: comment\ndata: a\ndata: b\nid: 7\nretry: 10\n\ndata:x\r\rdata\n\n")
put("sse", "nul", b"data: a\x00b\n\nevent: e\ndata: \n\n")

record = {"service": "web", "container": "web-1", "environment": "prod", "host": "10.0.0.7",
          "address": "172.17.0.9", "ports": [{"name": "http", "internal": 80, "external": 31001,
                                               "protocol": "tcp"}],
          "labels": {"tier": "front"}, "state": "running", "started_at": "2026-12-01T10:00:01Z",
          "app_version": "0123456789ab", "backend": "docker"}
rec = json.dumps(record)
hostile = dict(record, service="../x", container="<script>alert(1)</script>",
               labels={"a\"b": "</td><script>x</script>"}, host="h\u0001\"")
cb = {"url": "http://127.0.0.1:8080/hook", "secret_ref": "s1", "owner": "web-1",
      "created": "2026-12-01T10:00:00Z"}

# registry: "<service>/<id>" NUL value
put("registry", "record", "web/0123456789abcdef\0" + rec)
put("registry", "hostile", "../x/..\0" + json.dumps(hostile))
put("registry", "callback", "web/0123456789abcdef\0" + json.dumps(cb))


def kvs(pairs, more=False):
    return json.dumps({"header": {"revision": "12"}, "more": more, "count": str(len(pairs)),
                       "kvs": [{"key": b64(k), "value": b64(v), "create_revision": "3",
                                "mod_revision": "9", "version": "1"} for k, v in pairs]})


inst = "/mdo/prod/services/web/instances/"
listing = kvs([(inst + "web-1", rec), (inst + "web-2", json.dumps(dict(record, container="web-2"))),
               ("/mdo/prod/services/x/instances/../../y", json.dumps(hostile)),
               (inst + "bad", "not json")])
cbs = kvs([("/mdo/prod/callbacks/web/0123456789abcdef", json.dumps(cb))])
# etcd: op byte, answers separated by NUL
for op, name, answers in [(0, "prefix", [listing]), (0, "pages", [kvs([(inst + "a", rec)], True), listing]),
                          (1, "get", [kvs([("/mdo/prod/leader", "x")])]),
                          (2, "txn", ['{"header":{"revision":"5"},"succeeded":true}']),
                          (2, "txn-failed", ['{"header":{"revision":"5"}}']),
                          (3, "lease", ['{"header":{},"ID":"7587862341","TTL":"10"}']),
                          (4, "keepalive", ['{"result":{"ID":"42","TTL":"9"}}']),
                          (6, "reg-list", [listing]), (7, "reg-list-all", [listing]),
                          (8, "reg-stored", [listing]), (9, "cbreg", [cbs]),
                          (3, "error", ['{"error":"etcdserver: too many requests","code":14}'])]:
    put("etcd", name, bytes([op]) + "\0".join(answers).encode())
watch = {"result": {"header": {"revision": "20"}, "events": [
    {"type": "PUT", "kv": {"key": b64(inst + "web-1"), "value": b64(rec), "mod_revision": "20"}},
    {"type": "DELETE", "kv": {"key": b64(inst + "web-2"), "mod_revision": "20"}}]}}
put("etcd", "watch", bytes([5]) + json.dumps(watch).encode())
put("etcd", "watch-created", bytes([5]) + b'{"result":{"header":{"revision":"1"},"created":true}}')
put("etcd", "watch-compacted", bytes([5]) + b'{"result":{"header":{},"canceled":true,"compact_revision":"9","cancel_reason":"compacted"}}')

# docker: events NUL inspect
labels = {"mdo.environment": "prod", "mdo.service": "web", "mdo.app_version": "0123456789ab",
          "mdo.ports": json.dumps([{"name": "http", "port": 80, "protocol": "tcp"}]),
          "mdo.label.tier": "front"}
inspect = {"Id": "0123456789abcdef", "Name": "/prod_web.1",
           "State": {"Running": True, "Restarting": False, "StartedAt": "2026-12-01T09:05:20.1Z",
                     "Health": {"Status": "healthy"}},
           "Config": {"Labels": labels},
           "NetworkSettings": {"IPAddress": "172.17.0.5",
                               "Ports": {"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "32768"}]}}}


def dev(action, name, service="web", **extra):
    a = {"name": name, "mdo.service": service, "mdo.environment": "prod"}
    a.update(extra)
    return json.dumps({"Type": "container", "Action": action, "id": "0123456789abcdef",
                       "Actor": {"ID": "0123456789abcdef", "Attributes": a}}) + "\n"


put("docker_events", "start", dev("start", "prod_web.1") + "\0" + json.dumps(inspect))
put("docker_events", "lifecycle", dev("die", "prod_web.1") + dev("rename", "prod_web.2", oldName="/prod_web.1")
    + dev("health_status: healthy", "prod_web.2") + "garbage\n\n" + "\0" + json.dumps(inspect))
put("docker_events", "hostile", dev("start", "../../x", service="a/b") + dev("die", "x", service="<script>")
    + dev("start", "ok", service="web\u0000") + "\0" + json.dumps(dict(inspect, Name="/../../etc")))

# marathon: app answer for the worker
app = json.load(open(os.path.join(root, "test", "unit", "marathon", "app_tasks.json")))
one = app["apps"][0] if "apps" in app else app
appans = json.dumps({"app": one})
aid = one.get("id", "/prod/web")
task = (one.get("tasks") or [{"id": "prod_web.instance-1._app.1"}])[0]


def mev(kind, **kw):
    e = {"eventType": kind, "appId": aid, "timestamp": "2026-12-01T10:00:01.000Z"}
    e.update(kw)
    return json.dumps(e)


running = mev("status_update_event", taskId=task["id"], taskStatus="TASK_RUNNING", host="10.0.0.7",
              ports=[31001, 31002], version=one.get("version", "2026-12-01T10:00:00.000Z"),
              slaveId="agent0", ipAddresses=[{"ipAddress": "172.17.0.9", "protocol": "IPv4"}])
killed = mev("status_update_event", taskId=task["id"], taskStatus="TASK_KILLED")
health = mev("health_status_changed_event", instanceId=task["id"].replace(".", ".marathon-", 1), alive=True)
unhealthy = mev("unhealthy_task_kill_event", taskId=task["id"])
bad = json.dumps({"eventType": "status_update_event", "appId": "/prod/../x", "taskId": "../../y",
                  "taskStatus": "TASK_RUNNING"})
for n, body in [("running", running), ("killed", killed), ("health", health), ("unhealthy", unhealthy),
                ("hostile", bad)]:
    put("marathon_callback", n, body + "\0" + appans)


def frame(kind, data):
    return "event: %s\r\ndata: %s\r\n\r\n" % (kind, data)


stream = "event: event_stream_attached\r\ndata: {}\r\n\r\n\r\n" + frame("status_update_event", running) \
    + frame("health_status_changed_event", health) + frame("status_update_event", killed) \
    + "data: " + running + "\r\n\r\n"
put("marathon_events", "stream", stream + "\0" + appans)
put("marathon_events", "hostile", frame("status_update_event", bad) + frame("x", "{") + "\0" + appans)

# http: method byte, path \n auth \n body NUL range answer
GET, POST, DELETE, PUT, HEAD = 0, 1, 2, 3, 4
tok = "Bearer sub-token"
for n, m, path, auth, body, ans in [
        ("services", GET, "/v1/services", "", "", listing),
        ("service", GET, "/v1/services/web", "", "", listing),
        ("service-bad", GET, "/v1/services/../../x", "", "", listing),
        ("info", GET, "/info", "", "", listing),
        ("health", HEAD, "/health", "", "", ""),
        ("metrics", GET, "/metrics", "", "", ""),
        ("root", GET, "/nothing/here", "", "", ""),
        ("cb-post", POST, "/v1/callbacks", tok,
         json.dumps({"service": "web", "url": "http://127.0.0.1:9/x", "secret": "s", "owner": "web-1"}), ""),
        ("cb-post-bad", POST, "/v1/callbacks", tok,
         json.dumps({"service": "../web", "url": "javascript:alert(1)", "owner": "a/b"}), ""),
        ("cb-list", GET, "/v1/callbacks", tok, "", cbs),
        ("cb-noauth", GET, "/v1/callbacks", "Bearer x", "", cbs),
        ("cb-delete", DELETE, "/v1/callbacks/0123456789abcdef", tok, "", cbs),
        ("mcb", POST, "/marathon/callback", "", running, ""),
        ("mcb-seed", POST, "/callback", "", bad, "")]:
    put("http", n, bytes([m]) + ("%s\n%s\n%s" % (path, auth, body)).encode() + b"\0" + ans.encode())
