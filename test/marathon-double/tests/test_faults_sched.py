"""Scheduler-side fault modes (test controls, not Marathon behaviour): 5xx for a time, events
lost for a time, a restart that cuts every open connection, a failover to the standby listener
(--standby-port). drop_streams, delay_ms, fail_next and lose_events by count are in
test_faults_auth_modes.py."""
import http.client
import time
import urllib.parse

import pytest

from conftest import CallbackReceiver, Double, app_def, uid, wait_for


class Listener(Double):
    """The second listener of a double started with --standby-port (same process)."""

    def __init__(self, url):
        self.url, self.auth = url, None


def test_fail_for_ms_answers_5xx_for_a_time(double):
    double.faults(fail_for_ms=800, fail_status=502, fail_path="^/v2/")
    try:
        r = double.req("GET", "/v2/apps")
        assert r.status == 502 and "injected fault" in r.json["message"]
        assert double.req("GET", "/v2/tasks").status == 502          # every request, not N
        assert double.req("GET", "/ping").status == 200               # outside fail_path
        f = double.req("GET", "/_double/faults").json["faults"]
        assert f["fail_until"] > time.time()
        wait_for(lambda: double.req("GET", "/v2/apps").status == 200, 5,
                 what="the 5xx window to end")
    finally:
        double.faults(clear=True)
    double.faults(fail_for_ms=60000)
    double.faults(clear=True)                                         # clear ends it early
    assert double.req("GET", "/v2/apps").status == 200


def test_delay_applies_to_v2_paths(double):
    double.faults(delay_ms=300, delay_path="^/v2/")
    try:
        t0 = time.time()
        assert double.req("GET", "/v2/apps").status == 200
        assert time.time() - t0 >= 0.3
    finally:
        double.faults(clear=True)


def test_lose_events_ms_accepts_changes_emits_nothing(double, apps):
    aid = uid("losems")
    apps.append(aid)
    s = double.sse(["status_update_event", "deployment_success"])
    double.faults(lose_events_ms=60000)
    try:
        r = double.create(app_def(aid))                    # waits for the deployment
        tid = double.wait_running(aid, 1)[0]["id"]
        time.sleep(0.5)
        assert [e for e in s.of("status_update_event") if e["taskId"] == tid] == []
        assert s.of("deployment_success") == [] or all(
            e["id"] != r.header("Marathon-Deployment-Id") for e in s.of("deployment_success"))
        assert not s.closed.is_set()                       # the stream itself stays up
    finally:
        double.faults(clear=True)
    # after the window events flow again: a kill is seen
    double.req("DELETE", "/v2/apps%s/tasks/%s" % (aid, tid))
    s.wait("status_update_event", lambda e: e["taskId"] == tid and e["taskStatus"] == "TASK_KILLED")
    s.close()


def test_restart_cuts_every_open_connection(double, apps):
    aid = uid("rcut")
    apps.append(aid)
    double.create(app_def(aid))
    u = urllib.parse.urlsplit(double.url)
    keep = http.client.HTTPConnection(u.hostname, u.port, timeout=5)
    keep.request("GET", "/v2/apps")
    r = keep.getresponse()
    r.read()
    assert r.status == 200 and not r.will_close               # a keep-alive connection
    res = double.faults(restart={"downtime_ms": 300, "drop_subscriptions": False})
    assert res["dropped_connections"] >= 1
    with pytest.raises((ConnectionError, http.client.HTTPException, OSError)):
        keep.request("GET", "/v2/apps")
        keep.getresponse().read()
    keep.close()
    time.sleep(0.4)
    t = double.tasks(aid)
    assert len(t) == 1 and t[0]["state"] == "TASK_RUNNING"  # state kept


def test_failover_needs_standby_port(double):
    r = double.req("POST", "/_double/faults", {"failover": True}, auth=None)
    assert r.status == 400 and "standby-port" in r.json["message"]


def test_failover_to_the_standby_and_back(make_double):
    d = make_double("--task-delay", "0.2", "--standby-port", "0", "--port-range", "31600-31699")
    st = d.req("GET", "/_double/state").json
    primary, standby = st["listeners"]
    assert primary == d.url and st["leader"] == primary
    pnet, snet = (urllib.parse.urlsplit(x).netloc for x in (primary, standby))
    assert d.req("GET", "/v2/leader").json == {"leader": pnet}
    # the standby listener acts as --standby-of the primary
    sb = Listener(standby)
    r = sb.req("GET", "/v2/events?event_type=status_update_event",
               headers={"Accept": "text/event-stream"})
    assert r.status == 302
    assert r.header("Location") == primary + "/v2/events?event_type=status_update_event"
    aid = uid("fo")
    d.create(app_def(aid))
    tid = d.wait_running(aid, 1)[0]["id"]
    rx = CallbackReceiver()
    try:
        d.client().create_event_subscription(rx.url)
        s = d.sse()
        s.wait("event_stream_attached")
        res = d.faults(failover=True)
        assert res["leader"] == standby and res["dropped_streams"] >= 1
        assert s.closed.wait(5)                          # the old leader closed its streams
        # the old leader now stands by: 302 for the stream, the rest forwarded
        r = d.req("GET", "/v2/events", headers={"Accept": "text/event-stream"})
        assert r.status == 302 and r.header("Location") == standby + "/v2/events"
        assert d.req("GET", "/v2/leader").json == {"leader": snet}
        assert sb.req("GET", "/v2/leader").json == {"leader": snet}
        # state and subscriptions survive (Marathon's state store is shared)
        assert [t["id"] for t in sb.tasks(aid)] == [tid]
        assert [t["id"] for t in d.tasks(aid)] == [tid]
        assert rx.url in sb.req("GET", "/v2/eventSubscriptions").json["callbackUrls"]
        # the new leader streams and takes changes
        s2 = sb.sse(["status_update_event"])
        assert s2.status == 200
        r = sb.req("PUT", "/v2/apps%s" % aid, {"instances": 2})
        assert r.status == 200
        s2.wait("status_update_event", lambda e: e["appId"] == aid
                and e["taskStatus"] == "TASK_RUNNING")
        d.wait_running(aid, 2)
        # and back
        res = d.faults(failover=True)
        assert res["leader"] == primary
        assert s2.closed.wait(5)
        r = sb.req("GET", "/v2/events", headers={"Accept": "text/event-stream"})
        assert r.status == 302 and r.header("Location") == primary + "/v2/events"
        # a failover with a gap: nobody answers for downtime_ms
        d.faults(failover={"downtime_ms": 500})
        with pytest.raises((ConnectionError, http.client.HTTPException, OSError)):
            sb.req("GET", "/ping", timeout=3)
        wait_for(lambda: _ok(sb, "/v2/apps"), 5, what="the new leader to answer")
        assert d.req("GET", "/_double/state").json["leader"] == standby
    finally:
        rx.close()
        d.delete(aid, wait=False)
        wait_for(lambda: not d.tasks(aid), 30, what="cleanup")


def _ok(d, path):
    try:
        return d.req("GET", path, timeout=2).status == 200
    except (OSError, http.client.HTTPException):
        return False


def test_standby_port_and_standby_of_exclude_each_other(make_double):
    with pytest.raises(RuntimeError):
        make_double("--standby-port", "0", "--standby-of", "http://127.0.0.1:1")
