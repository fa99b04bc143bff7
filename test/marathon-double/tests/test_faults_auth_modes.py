"""Fault switches (/_double/faults), basic auth, legacy and optional modes."""
import http.client
import time

import pytest
from marathon.exceptions import InternalServerError, MarathonError

from conftest import CallbackReceiver, Sse, app_def, uid, wait_for


# ---------------------------------------------------------------- faults
def test_drop_streams(double):
    s = double.sse()
    s.wait("event_stream_attached")
    res = double.faults(drop_streams=True)
    assert res["dropped_streams"] >= 1
    assert s.closed.wait(5)
    s2 = double.sse()
    assert s2.status == 200
    s2.wait("event_stream_attached")
    s2.close()


def test_delay_responses(double):
    double.faults(delay_ms=400)
    try:
        t0 = time.time()
        assert double.req("GET", "/ping").status == 200
        assert time.time() - t0 >= 0.4
        double.faults(delay_ms=400, delay_path="^/v2/info$")
        t0 = time.time()
        double.req("GET", "/ping")
        assert time.time() - t0 < 0.3
        t0 = time.time()
        double.req("GET", "/v2/info")
        assert time.time() - t0 >= 0.4
    finally:
        double.faults(clear=True)
    t0 = time.time()
    double.req("GET", "/v2/info")
    assert time.time() - t0 < 0.3


def test_fail_next_requests(double):
    double.faults(fail_next=2, fail_status=503)
    assert [double.req("GET", "/ping").status for _ in range(3)] == [503, 503, 200]
    double.faults(fail_next=-1, fail_status=500, fail_path="^/v2/apps")
    try:
        r = double.req("GET", "/v2/apps")
        assert r.status == 500 and "message" in r.json
        assert double.req("GET", "/v2/tasks").status == 200
        with pytest.raises(InternalServerError):
            double.client().list_apps()
        assert double.req("GET", "/_double/faults").json["faults"]["fail_next"] == -1
    finally:
        double.faults(clear=True)
    assert double.req("GET", "/v2/apps").status == 200


def test_empty_apps_listing(double, apps):
    aid = uid("empty")
    apps.append(aid)
    r = double.create(app_def(aid))
    assert r.status == 201
    double.faults(empty_apps=1)
    try:
        assert double.req("GET", "/v2/apps").json == {"apps": []}   # as between two leaders
        assert double.req("GET", "/v2/apps/" + aid.lstrip("/")).status == 200
        assert any(a["id"] == aid for a in double.req("GET", "/v2/apps").json["apps"])
    finally:
        double.faults(clear=True)


def test_lose_next_event_of_a_type(double, apps):
    aid = uid("lose")
    apps.append(aid)
    s = double.sse(["status_update_event", "deployment_success"])
    double.faults(lose_events={"status_update_event": 1})
    r = double.create(app_def(aid))
    s.wait("deployment_success", lambda e: e["id"] == r.header("Marathon-Deployment-Id"))
    tid = double.tasks(aid)[0]["id"]
    seq = [e["taskStatus"] for e in s.of("status_update_event") if e["taskId"] == tid]
    assert seq == ["TASK_RUNNING"]               # the TASK_STAGING update was lost
    assert double.req("GET", "/_double/faults").json["lose_events"] == {"status_update_event": 0}
    s.close()


def test_restart_keeps_apps_drops_streams_and_subscriptions(double, apps):
    aid = uid("restart")
    apps.append(aid)
    double.create(app_def(aid))
    tid = double.tasks(aid)[0]["id"]
    rx = CallbackReceiver()
    try:
        double.client().create_event_subscription(rx.url)
        s = double.sse()
        s.wait("event_stream_attached")
        double.faults(restart={"downtime_ms": 600})
        assert s.closed.wait(5)
        with pytest.raises((ConnectionError, http.client.HTTPException, OSError)):
            double.req("GET", "/ping", timeout=3)
        time.sleep(0.7)
        assert double.req("GET", "/ping").status == 200
        assert rx.url not in double.req("GET", "/v2/eventSubscriptions").json["callbackUrls"]
        t = double.tasks(aid)
        assert [x["id"] for x in t] == [tid] and t[0]["state"] == "TASK_RUNNING"
    finally:
        rx.close()
        double.faults(clear=True)


def test_unknown_fault_key(double):
    r = double.req("POST", "/_double/faults", {"explode": True}, auth=None)
    assert r.status == 400


# ---------------------------------------------------------------- auth
def test_basic_auth_on_every_path(make_double):
    d = make_double("--auth", "alice:se:cret")        # a password may contain ':'
    for path, hdrs in [("/ping", {}), ("/v2/apps", {}), ("/v2/info", {}),
                       ("/v2/events", {"Accept": "text/event-stream"}), ("/v2/tasks", {})]:
        for auth in (None, "alice:wrong", "bob:se:cret"):
            r = d.req("GET", path, headers=hdrs, auth=auth)
            assert r.status == 401, (path, auth)
            assert r.header("WWW-Authenticate") == 'basic realm="Mesosphere"'
    assert d.req("GET", "/ping").text == "pong"
    assert d.req("GET", "/v2/apps").json == {"apps": []}
    assert d.client().ping() == b"pong"
    from marathon import MarathonClient
    with pytest.raises(MarathonError):
        MarathonClient(d.url, username="alice", password="nope").list_apps()
    s = d.sse()
    assert s.status == 200
    s.wait("event_stream_attached")
    s.close()
    s = Sse(d.url)
    assert s.status == 401
    s.close()
    assert d.req("GET", "/_double/state", auth=None).status == 200   # the double's own path


# ---------------------------------------------------------------- modes
def test_legacy_mode(make_double):
    d = make_double("--legacy", "--task-delay", "0.1")
    assert d.req("GET", "/v2/info").json["version"] == "0.7.0"
    r = d.req("GET", "/v2/events", headers={"Accept": "text/event-stream"})
    assert r.status == 404                                       # no SSE before 0.9
    aid = uid("legacy")
    d.create(app_def(aid))
    r = d.req("DELETE", "/v2/apps" + aid)
    assert r.status == 204 and r.body == b""                     # 0.7: 204 No Content
    wait_for(lambda: not d.tasks(aid) and not d.deployments(), 20)


def test_no_http_callbacks_and_no_task_killing(make_double):
    d = make_double("--no-http-callbacks", "--no-task-killing", "--task-delay", "0.1")
    r = d.req("POST", "/v2/eventSubscriptions?callbackUrl=http://127.0.0.1:1/x")
    assert r.status == 400 and "--event_subscriber http_callback" in r.json["message"]
    assert d.req("GET", "/v2/info").json["marathon_config"]["features"] == []
    aid = uid("nokilling")
    s = d.sse(["status_update_event"])
    d.create(app_def(aid))
    tid = d.tasks(aid)[0]["id"]
    d.req("DELETE", "/v2/apps%s/tasks/%s" % (aid, tid))
    s.wait("status_update_event", lambda e: e["taskId"] == tid and e["taskStatus"] == "TASK_KILLED")
    assert "TASK_KILLING" not in [e["taskStatus"] for e in s.of("status_update_event")]
    d.delete(aid)
    s.close()


def test_default_image_and_env_prefix(make_double, gw):
    d = make_double("--default-image", "marathon-double-test:latest", "--env-prefix", "APP_",
                    "--task-delay", "0.1", "--port-range", "31500-31599")
    aid = uid("plain")
    # a plain command app (no container): host networking, one default port
    d.create({"id": aid, "cmd": "mkdir -p /www && env > /www/env.txt && exec httpd -f -p $APP_PORT0 -h /www",
              "cpus": 0.1, "mem": 32})
    t = d.wait_running(aid, 1)[0]
    assert 31500 <= t["ports"][0] <= 31599

    def get():
        try:
            c = http.client.HTTPConnection(gw, t["ports"][0], timeout=2)
            c.request("GET", "/env.txt")
            r = c.getresponse()
            return r.read().decode() if r.status == 200 else None
        except OSError:
            return None
    env = dict(ln.split("=", 1) for ln in wait_for(get, 10).splitlines() if "=" in ln)
    assert env["APP_PORT0"] == str(t["ports"][0]) and env["APP_HOST"] == gw
    assert "PORT0" not in env and env["MESOS_TASK_ID"] == t["id"]
    d.delete(aid)


def test_docker_unreachable_fails_cleanly(tmp_path):
    import subprocess
    from conftest import START
    p = subprocess.run([START, "--docker-socket", str(tmp_path / "none.sock")],
                       capture_output=True, text=True, timeout=20)
    assert p.returncode == 1 and "docker engine not reachable" in p.stderr
