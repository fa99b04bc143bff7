"""Behaviour per imitated Marathon version (--marathon-version) and the Marathon-faithful
behaviours of issue 12. Each test names the README "Versions" row it proves; the rows cite
Marathon's Scala source at a release tag."""
import http.server
import re
import subprocess
import threading
import time

from conftest import START, CallbackReceiver, Sse, app_def, uid, wait_for

UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


def started_tasks(d, aid, n=1, timeout=30):
    """Tasks with a startedAt (works on versions without `state`)."""
    return wait_for(lambda: (lambda ts: ts if len(ts) >= n else None)(
        [t for t in d.tasks(aid) if t.get("startedAt")]), timeout,
        what="%d started tasks of %s" % (n, aid))


def named_app(aid, **extra):
    return app_def(aid, labels={"mdo.environment": "x"},
                   ports=[{"containerPort": 8080, "hostPort": 0, "name": "http"}], **extra)


def failing_check(grace=0, maxf=1):
    # nothing listens on the container's port: every probe fails
    return [{"protocol": "HTTP", "portIndex": 0, "gracePeriodSeconds": grace,
             "intervalSeconds": 1, "timeoutSeconds": 1, "maxConsecutiveFailures": maxf}]


# ------------------------------------------------------------------ task and app JSON
def test_v07_shape(make_double):
    d = make_double("--marathon-version", "0.7", "--task-delay", "0.1")
    assert d.req("GET", "/v2/info").json["version"] == "0.7.0"
    aid = uid("v07")
    r = d.req("POST", "/v2/apps", named_app(aid))
    assert r.status == 201
    assert "deployments" not in r.json and "tasksRunning" not in r.json   # the bare app
    assert "labels" not in r.json or r.json["labels"] == {}
    t = started_tasks(d, aid)[0]
    assert set(t) == {"id", "host", "ports", "startedAt", "stagedAt", "version", "appId"}
    app = d.app(aid)
    assert not app.get("labels") and "tasksRunning" not in app and "tasksHealthy" not in app
    assert "name" not in app["container"]["portMappings"][0]
    assert d.req("GET", "/v2/apps?label=mdo.environment").json["apps"] == []
    assert d.req("GET", "/v2/events", headers={"Accept": "text/event-stream"}).status == 404
    r = d.req("DELETE", "/v2/apps" + aid)       # 0.7: a deployment result, not 204
    assert r.status == 200 and r.json["deploymentId"]


def test_v06_delete_204(make_double):
    d = make_double("--marathon-version", "0.6", "--task-delay", "0.1")
    aid = uid("v06")
    d.create(app_def(aid), wait=False)
    r = d.req("DELETE", "/v2/apps" + aid)
    assert r.status == 204 and r.body == b""


def test_v08_labels_no_port_names_no_state(make_double):
    d = make_double("--marathon-version", "0.8", "--task-delay", "0.1")
    aid = uid("v08")
    d.create(named_app(aid), wait=False)
    t = started_tasks(d, aid)[0]
    assert "state" not in t and "slaveId" not in t and "ipAddresses" not in t
    assert t["servicePorts"] and t["appId"] == aid
    app = d.app(aid)
    assert app["labels"] == {"mdo.environment": "x"}
    assert "name" not in app["container"]["portMappings"][0]
    assert "tasksRunning" in app and "tasksHealthy" not in app
    assert [a["id"] for a in d.req("GET", "/v2/apps?label=mdo.environment==x").json["apps"]] \
        == [aid]


def test_v016_port_names(make_double):
    d = make_double("--marathon-version", "0.16", "--task-delay", "0.1")
    aid = uid("v016")
    d.create(named_app(aid), wait=False)
    t = started_tasks(d, aid)[0]
    assert d.app(aid)["container"]["portMappings"][0]["name"] == "http"
    assert "state" not in t and t["slaveId"] and t["ipAddresses"]


def test_state_from_112(make_double):
    for ver, has in (("1.1", False), ("1.1.1", False), ("1.1.2", True), ("1.4", True)):
        d = make_double("--marathon-version", ver, "--task-delay", "0.1")
        aid = uid("st")
        d.create(app_def(aid), wait=False)
        t = started_tasks(d, aid)[0]
        assert ("state" in t) == has, (ver, t)
        assert d.req("GET", "/v2/info").json["version"] == \
            {"1.1": "1.1.0", "1.4": "1.4.0"}.get(ver, ver)


# ------------------------------------------------------------------ task and instance ids
def test_task_ids_per_version(make_double, double, apps):
    grp = "/g%s" % uid("x")[3:]
    for ver, rx in (("1.1", r"^%s_app\.%s$"), ("1.4", r"^%s_app\.%s$"),
                    (None, r"^%s_app\.instance-%s\._app\.1$")):
        d = double if ver is None else make_double("--marathon-version", ver, "--task-delay",
                                                   "0.1")
        aid = grp + "/app"
        if ver is None:
            apps.append(aid)
        d.create(app_def(aid), wait=False)
        t = started_tasks(d, aid)[0]
        assert re.match(rx % (grp.strip("/"), UUID), t["id"]), (ver, t["id"])


def test_instance_ids_in_health_events(make_double):
    for ver, key, form in (("1.1", "taskId", r"^%s\.%s$"),
                           ("1.4", "instanceId", r"^%s\.marathon-%s$"),
                           ("1.10", "instanceId", r"^%s\.instance-%s$")):
        d = make_double("--marathon-version", ver, "--task-delay", "0.1")
        s = d.sse()
        aid = uid("hc")
        d.create(app_def(aid, cmd="exec httpd -f -p 8080 -h /",
                         ports=[{"containerPort": 8080, "hostPort": 0}],
                         healthChecks=[{"protocol": "TCP", "portIndex": 0, "intervalSeconds": 1,
                                        "gracePeriodSeconds": 30}]), wait=False)
        ev = s.wait("health_status_changed_event", lambda e: e["alive"])[0]
        assert key in ev and ({"taskId", "instanceId"} - {key}).isdisjoint(ev), ev
        assert re.match(form % (aid.strip("/"), UUID), ev[key]), ev
        t = started_tasks(d, aid)[0]
        assert t["healthCheckResults"][0][key] == ev[key]
        s.close()


def test_unhealthy_kill_event_names(make_double):
    for ver, etype in (("1.1", "unhealthy_task_kill_event"),
                       ("1.4", "unhealthy_instance_kill_event")):
        d = make_double("--marathon-version", ver, "--task-delay", "0.1")
        s = d.sse()
        aid = uid("uk")
        d.create(app_def(aid, ports=[{"containerPort": 8080, "hostPort": 0}],
                         healthChecks=failing_check()), wait=False)
        ev = s.wait(etype)[0]
        assert ev["appId"] == aid and ev["taskId"]
        assert ("instanceId" in ev) == (ver == "1.4")
        other = {"unhealthy_task_kill_event", "unhealthy_instance_kill_event"} - {etype}
        assert not s.of(other.pop())
        s.close()


# ------------------------------------------------------------------ DELETE, failures, killing
def test_delete_defaults_to_force(double, apps):
    aid = uid("del")
    apps.append(aid)
    # a health check that never passes keeps the start deployment running
    r = double.create(app_def(aid, ports=[{"containerPort": 8080, "hostPort": 0}],
                              healthChecks=failing_check(grace=300)), wait=False)
    dep = r.header("Marathon-Deployment-Id")
    assert any(x["id"] == dep for x in double.deployments())
    assert double.req("PUT", "/v2/apps" + aid, {"instances": 2}).status == 409
    r = double.req("DELETE", "/v2/apps" + aid)      # no ?force: still never 409
    assert r.status == 200, r
    r = double.req("DELETE", "/v2/apps%s?force=false" % aid)
    assert r.status == 404   # already being removed


def test_finished_is_not_last_task_failure(double, apps):
    a0, a3 = uid("fin"), uid("fail")
    apps.extend([a0, a3])
    s = double.sse(["status_update_event"])
    double.create(app_def(a0, cmd="exit 0"), wait=False)
    double.create(app_def(a3, cmd="exit 3"), wait=False)
    s.wait("status_update_event", lambda e: e["appId"] == a0 and
           e["taskStatus"] == "TASK_FINISHED")
    s.wait("status_update_event", lambda e: e["appId"] == a3 and
           e["taskStatus"] == "TASK_FAILED")
    s.close()
    assert "lastTaskFailure" not in double.app(a0)
    f = double.app(a3)["lastTaskFailure"]
    assert f["state"] == "TASK_FAILED" and "status 3" in f["message"]


def test_task_killing_off_by_default(double, make_double, apps):
    assert double.req("GET", "/v2/info").json["marathon_config"]["features"] == []
    for d, want in ((double, ["TASK_KILLED"]),
                    (make_double("--task-killing", "--task-delay", "0.1"),
                     ["TASK_KILLING", "TASK_KILLED"])):
        aid = uid("kill")
        if d is double:
            apps.append(aid)
        d.create(app_def(aid))
        tid = d.tasks(aid)[0]["id"]
        s = d.sse(["status_update_event"])
        time.sleep(0.3)
        assert d.req("DELETE", "/v2/apps%s/tasks/%s" % (aid, tid)).status == 200
        s.wait("status_update_event", lambda e: e["taskId"] == tid and
               e["taskStatus"] == "TASK_KILLED")
        assert [e["taskStatus"] for e in s.of("status_update_event") if e["taskId"] == tid] \
            == want
        s.close()
    assert d.req("GET", "/v2/info").json["marathon_config"]["features"] == ["task_killing"]


def test_grace_period_results_alive_false(double, apps):
    aid = uid("grace")
    apps.append(aid)
    s = double.sse(["failed_health_check_event", "health_status_changed_event"])
    double.create(app_def(aid, ports=[{"containerPort": 8080, "hostPort": 0}],
                          healthChecks=failing_check(grace=300)), wait=False)
    res = wait_for(lambda: [t.get("healthCheckResults") for t in double.tasks(aid)
                            if t.get("healthCheckResults")], 20, what="a listed result")[0]
    assert res[0]["alive"] is False and res[0]["consecutiveFailures"] == 0
    assert res[0]["firstSuccess"] is None and res[0]["lastFailure"] is None
    time.sleep(1.5)
    assert double.app(aid)["tasksUnhealthy"] == 1 and double.app(aid)["tasksHealthy"] == 0
    assert not s.of("failed_health_check_event") and not s.of("health_status_changed_event")
    s.close()


# ------------------------------------------------------------------ rolling restarts
def test_restart_full_capacity_starts_one_extra_first(double, apps):
    aid = uid("roll")
    apps.append(aid)
    double.create(app_def(aid, instances=2,
                          upgradeStrategy={"minimumHealthCapacity": 1, "maximumOverCapacity": 0}))
    old = {t["id"] for t in double.tasks(aid)}
    s = double.sse(["status_update_event"])
    time.sleep(0.3)
    r = double.req("POST", "/v2/apps%s/restart" % aid)
    assert r.status == 200
    double.wait_deployed(r.json["deploymentId"], 60)
    seq = [(e["taskId"] in old, e["taskStatus"]) for e in s.of("status_update_event")
           if e["appId"] == aid]
    s.close()
    first_kill = seq.index((True, "TASK_KILLED"))
    # the first thing that happens is an extra (third) instance, running before any kill
    assert seq[:2] == [(False, "TASK_STAGING"), (False, "TASK_RUNNING")], seq
    assert first_kill >= 2, seq
    assert not {t["id"] for t in double.tasks(aid)} & old


def test_restart_full_capacity_fixed_host_port_waits(double, apps):
    aid = uid("pinned")
    apps.append(aid)
    port = 31490
    double.create(app_def(aid, cmd="exec httpd -f -p 8080 -h /",
                          ports=[{"containerPort": 8080, "hostPort": port}],
                          upgradeStrategy={"minimumHealthCapacity": 1, "maximumOverCapacity": 0}))
    old = double.tasks(aid)[0]["id"]
    r = double.req("POST", "/v2/apps%s/restart" % aid)
    dep = r.json["deploymentId"]
    time.sleep(3)
    # the extra instance needs the same host port: Marathon never kills first, so it waits
    assert any(x["id"] == dep for x in double.deployments())
    assert [t["id"] for t in double.tasks(aid)] == [old]
    assert double.req("DELETE", "/v2/deployments/%s?force=true" % dep).status == 202


# ------------------------------------------------------------------ standby
def test_standby_redirects_events_and_forwards_the_rest(double, make_double, apps):
    sb = make_double("--standby-of", double.url)
    r = sb.req("GET", "/v2/events?event_type=status_update_event",
               headers={"Accept": "text/event-stream"})
    assert r.status == 302 and r.body == b""
    assert r.header("Location") == double.url + "/v2/events?event_type=status_update_event"
    aid = uid("sb")
    apps.append(aid)
    r = sb.req("POST", "/v2/apps", app_def(aid))
    assert r.status == 201 and r.header("Marathon-Deployment-Id")
    assert double.app(aid)["id"] == aid                 # created on the leader
    assert sb.req("GET", "/v2/apps" + aid).json["app"]["id"] == aid
    assert sb.req("GET", "/v2/apps/nope").status == 404
    # up to 1.6 a standby forwards the stream itself
    old = make_double("--standby-of", double.url, "--marathon-version", "1.6")
    s = old.sse()
    assert s.status == 200
    s.wait("event_stream_attached")
    s.close()


def test_standby_keeps_auth(make_double):
    leader = make_double("--auth", "u:p")
    sb = make_double("--standby-of", leader.url, "--auth", "u:p")
    assert sb.req("GET", "/v2/apps").status == 200
    assert sb.req("GET", "/v2/apps", auth=None).status == 401
    r = sb.req("GET", "/v2/events", headers={"Accept": "text/event-stream"})
    assert r.status == 302 and r.header("Location").startswith(leader.url)


# ------------------------------------------------------------------ callbacks
class ScriptedReceiver:
    """Answers each callback POST with the next (status, delay) of a script, then 200."""

    def __init__(self, script):
        self.received = []
        script = list(script)
        received = self.received

        class H(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                import json
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
                status, delay = script.pop(0) if script else (200, 0)
                received.append(body)
                time.sleep(delay)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a):
                pass

        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = "http://127.0.0.1:%d/cb" % self.srv.server_address[1]
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def marks(self):
        return [b.get("n") for b in self.received if b.get("eventType") == "mark_event"]

    def close(self):
        self.srv.shutdown()
        self.srv.server_close()


def _emit(d, n):
    assert d.req("POST", "/_double/emit", {"eventType": "mark_event", "fields": {"n": n}},
                 auth=None).status == 200


def test_callback_backoff_skips_events(make_double):
    d = make_double("--callback-slow-timeout", "0.5")
    for script in ([(500, 0)], [(200, 0.8)]):       # a non-2xx, then a slow 2xx
        rx = ScriptedReceiver([(200, 0)] + script)  # the subscribe_event is answered at once
        try:
            assert d.req("POST", "/v2/eventSubscriptions?callbackUrl=" + rx.url).status == 200
            wait_for(lambda: rx.received, 5, what="subscribe_event")
            _emit(d, 1)
            wait_for(lambda: rx.marks() == [1], 5, what="mark 1")
            time.sleep(1.0)                          # the answer is in: backoff 2^1 s
            _emit(d, 2)
            _emit(d, 3)
            time.sleep(0.3)
            assert rx.marks() == [1], "events in backoff must be skipped, not queued"
            time.sleep(1.5)                          # past the 2 s backoff
            _emit(d, 4)
            wait_for(lambda: rx.marks() == [1, 4], 5, what="mark 4 after the backoff")
            time.sleep(0.5)
            assert rx.marks() == [1, 4]
        finally:
            d.req("DELETE", "/v2/eventSubscriptions?callbackUrl=" + rx.url)
            rx.close()


def test_callbacks_per_version(make_double, double):
    rx = CallbackReceiver()
    try:
        for d, status in ((double, 200),
                          (make_double("--marathon-version", "1.4"), 200),
                          (make_double("--marathon-version", "1.5"), 404),
                          (make_double("--marathon-version", "1.10"), 500)):
            r = d.req("POST", "/v2/eventSubscriptions?callbackUrl=" + rx.url)
            assert r.status == status, (d.url, r)
            info = d.req("GET", "/v2/info").json
            assert ("event_subscriber" in info) == (status == 200)
            if status == 500:
                assert r.json == {"message": "URI not found"}
            if status == 200:
                d.req("DELETE", "/v2/eventSubscriptions?callbackUrl=" + rx.url)
    finally:
        rx.close()


def test_event_type_filter_from_1310(make_double):
    for ver, filtered in (("1.3.5", False), ("1.3.10", True)):
        d = make_double("--marathon-version", ver)
        s = Sse(d.url, ["status_update_event"])
        time.sleep(0.3)
        _emit(d, 1)
        time.sleep(0.5)
        assert bool(s.of("mark_event")) == (not filtered), ver
        s.close()


def test_put_merges_before_14(make_double):
    for ver, kept in (("1.3", True), ("1.4", False)):
        d = make_double("--marathon-version", ver, "--task-delay", "0.1")
        aid = uid("put")
        d.create(app_def(aid, env={"OLD": "1"}), wait=False)
        body = app_def(aid, cmd="sleep 999")        # no env: a full replace drops it
        assert d.req("PUT", "/v2/apps%s?partialUpdate=false&force=true" % aid, body).status == 200
        got = d.app(aid)
        assert got["cmd"] == "sleep 999"
        assert (got.get("env") == {"OLD": "1"}) == kept, (ver, got.get("env"))


# ------------------------------------------------------------------ faults, flags
def test_max_running_deployments_403(double, apps):
    double.faults(max_running_deployments=0)
    aid = uid("max")
    try:
        r = double.req("POST", "/v2/apps", app_def(aid))
        assert r.status == 403
        assert r.json["message"].startswith(
            "Max number (0) of running deployments is achieved. Wait for existing deployments")
        assert "--max_running_deployments" in r.json["message"]
        assert double.req("PUT", "/v2/apps%s?force=true" % aid, app_def(aid)).status == 403
        assert double.app(aid) is None
        assert double.req("GET", "/v2/apps").status == 200        # reads are not limited
    finally:
        double.faults(clear=True)
    apps.append(aid)
    assert double.req("POST", "/v2/apps", app_def(aid)).status == 201


def test_bad_version_flag():
    p = subprocess.run([START, "--marathon-version", "one.ten"], capture_output=True, text=True,
                       timeout=30)
    assert p.returncode == 2 and "--marathon-version" in p.stderr
