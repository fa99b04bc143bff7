"""/v2/events SSE wire details and /v2/eventSubscriptions callbacks (README "Events",
"SSE wire details"; raml/v2/events.raml; legacy/eventSubscriptions.raml; events/*.json)."""
import json
import socket
import threading
import time
import urllib.parse

from marathon.models.events import EventFactory

from conftest import WEB_CMD, CallbackReceiver, app_def, uid, wait_for


def test_sse_accept_header_rule(double):
    for accept in (None, "text/event-stream, */*", "application/json", "*/*"):
        h = {"Accept": accept} if accept else {}
        r = double.req("GET", "/v2/events", headers=h)
        assert r.status == 405, accept
        assert "HTTP ERROR: 405" in r.text and r.header("Content-Type").startswith("text/html")


def test_sse_headers_crlf_attached_and_heartbeat(double):
    s = double.sse()
    assert s.status == 200
    assert s.headers["content-type"].lower() == "text/event-stream;charset=utf-8"
    assert s.headers["connection"].lower() == "close"
    assert "content-length" not in s.headers and "transfer-encoding" not in s.headers
    ev = s.wait("event_stream_attached")[0]
    assert ev["remoteAddress"] == "127.0.0.1" and ev["eventType"] == "event_stream_attached"
    assert ev["timestamp"].endswith("Z")
    # heartbeat: a lone CRLF about every --sse-heartbeat (0.5 s here) seconds
    wait_for(lambda: s.raw.count(b"\r\n\r\n\r\n") >= 1, 5, what="heartbeat")
    body = s.raw.split(b"\r\n\r\n", 1)[1]
    assert body.startswith(b"event: event_stream_attached\r\ndata: {")
    first = body.split(b"\r\n\r\n")[0]
    assert b"\n" not in first.replace(b"\r\n", b"")          # every line ends in CRLF
    assert b"id:" not in body
    json.loads(first.split(b"\r\n")[1][6:])                   # one-line JSON
    s.close()


def test_event_type_filter(double, apps):
    aid = uid("filt")
    apps.append(aid)
    s = double.sse(["deployment_success", "api_post_event"])
    double.create(app_def(aid))
    s.wait("deployment_success")
    s.wait("api_post_event", lambda e: e["appDefinition"]["id"] == aid)
    assert {t for t, _ in s.events} <= {"deployment_success", "api_post_event"}
    s.close()


def test_library_event_stream(double, apps):
    """python3-marathon's event_stream (Accept: text/event-stream, event_type params)."""
    aid = uid("libsse")
    apps.append(aid)
    c = double.client()
    got = []

    def reader():
        try:
            for ev in c.event_stream(event_types=["status_update_event", "deployment_success"]):
                got.append(ev)
        except Exception:
            pass
    threading.Thread(target=reader, daemon=True).start()
    time.sleep(0.3)
    double.create(app_def(aid))
    wait_for(lambda: any(getattr(e, "task_status", None) == "TASK_RUNNING" and e.app_id == aid
                         for e in got), 10)
    assert {type(e).__name__ for e in got} <= {"MarathonStatusUpdateEvent",
                                               "MarathonDeploymentSuccess"}
    double.faults(drop_streams=True)


def test_every_client_gets_the_full_stream(double, apps):
    aid = uid("multi")
    apps.append(aid)
    streams = [double.sse(["status_update_event"]) for _ in range(3)]
    double.create(app_def(aid, instances=2))
    for s in streams:
        s.wait("status_update_event", lambda e: e["appId"] == aid and
               e["taskStatus"] == "TASK_RUNNING", count=2)
    seqs = [[(e["taskId"], e["taskStatus"]) for e in s.of("status_update_event")
             if e["appId"] == aid] for s in streams]
    assert seqs[0] == seqs[1] == seqs[2] and len(seqs[0]) == 4
    for s in streams:
        s.close()


def test_event_types_of_an_app_lifecycle_parse_with_library(double):
    aid = uid("life")
    s = double.sse()
    watcher = double.sse(["event_stream_detached", "event_stream_attached"])
    hc = {"protocol": "TCP", "portIndex": 0, "intervalSeconds": 1, "gracePeriodSeconds": 5}
    r = double.create(app_def(aid, cmd=WEB_CMD, ports=[
        {"containerPort": 0}], healthChecks=[hc]))
    dep = r.header("Marathon-Deployment-Id")
    r = double.req("DELETE", "/v2/apps" + aid)
    double.wait_deployed(r.json["deploymentId"])
    s.wait("app_terminated_event", lambda e: e["appId"] == aid)
    seen = {t for t, _ in s.events}
    assert seen >= {"event_stream_attached", "api_post_event", "deployment_info",
                    "deployment_step_success", "deployment_success", "status_update_event",
                    "instance_changed_event", "add_health_check_event",
                    "health_status_changed_event", "remove_health_check_event",
                    "app_terminated_event"}
    succ = [d for d in s.of("deployment_success") if d["id"] == dep][0]
    assert succ["plan"]["id"] == dep and succ["plan"]["target"]["apps"][0]["id"] == aid
    info = [d for d in s.of("deployment_info") if d["plan"]["id"] == dep][0]
    assert info["currentStep"]["actions"][0]["app"] == aid
    steps = [d for d in s.of("deployment_step_success") if d["plan"]["id"] == dep]
    assert len(steps) == 2
    ef = EventFactory()
    for t, d in list(s.events):
        obj = ef.process(d)                      # the library understands every body
        assert obj.event_type == t
    s.close()
    det = watcher.wait("event_stream_detached")[0]
    assert det["remoteAddress"] == "127.0.0.1"
    watcher.close()


def test_http_callbacks(double, apps):
    aid = uid("cb")
    apps.append(aid)
    rx = CallbackReceiver()
    dead = "http://127.0.0.1:9/dead"     # nothing listens: must not block the others
    c = double.client()
    try:
        assert c.create_event_subscription(dead)["eventType"] == "subscribe_event"
        res = c.create_event_subscription(rx.url)
        assert res["callbackUrl"] == rx.url and res["clientIp"] == "127.0.0.1"
        assert res["eventType"] == "subscribe_event"
        assert set(c.list_event_subscriptions()) >= {rx.url, dead}
        double.create(app_def(aid))
        wait_for(lambda: [e for e in rx.of("status_update_event") if e["appId"] == aid and
                          e["taskStatus"] == "TASK_RUNNING"], 10)
        assert rx.of("subscribe_event")[0]["callbackUrl"] == rx.url
        path, ctype, _ = rx.received[0]
        assert path == "/callback" and ctype == "application/json"
        res = c.delete_event_subscription(rx.url)
        assert res["eventType"] == "unsubscribe_event" and res["callbackUrl"] == rx.url
        assert rx.url not in c.list_event_subscriptions()
        n = len(rx.received)
        double.req("PUT", "/v2/apps" + aid, {"instances": 2})
        time.sleep(1.0)
        assert len(rx.received) == n
    finally:
        c.delete_event_subscription(dead)
        rx.close()
    r = double.req("GET", "/v2/eventSubscriptions")
    assert dead not in r.json["callbackUrls"]


def test_slow_consumer_is_disconnected(make_double):
    d = make_double("--sse-max-outstanding", "20", "--sse-heartbeat", "60")
    u = urllib.parse.urlsplit(d.url)
    sock = socket.create_connection((u.hostname, u.port))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.sendall(b"GET /v2/events HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n")
    wait_for(lambda: d.req("GET", "/_double/faults").json["streams"] == 1, 5)
    fields = {"slaveId": "x" * 500, "executorId": "e", "message": "m"}
    for _ in range(40):   # never read: the socket fills, then the queue, then it is closed
        d.req("POST", "/_double/emit", {"eventType": "framework_message_event", "count": 100,
                                        "fields": fields}, auth=None)
        if d.req("GET", "/_double/faults").json["streams"] == 0:
            break
    wait_for(lambda: d.req("GET", "/_double/faults").json["streams"] == 0, 10,
             what="slow consumer to be dropped")
    sock.settimeout(10)
    while sock.recv(65536):       # drains what was sent, then EOF
        pass
    sock.close()
