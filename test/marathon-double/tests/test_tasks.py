"""Tasks as real containers: ports, environment, exits, relaunch, rolling upgrades, health."""
import time

from conftest import (IMAGE, MISSING_IMAGE, WEB_CMD, app_def, docker_inspect, http_get_task, uid,
                      wait_for)


def _env_of(gw, port):
    st, body = wait_for(lambda: _try_get(gw, port, "/env.txt"), 15, what="task http")
    return dict(ln.split("=", 1) for ln in body.splitlines() if "=" in ln)


def _try_get(host, port, path):
    try:
        r = http_get_task(host, port, path)
        return r if r[0] == 200 else None
    except OSError:
        return None


def test_bridge_ports_env_and_container(double, apps, gw):
    """1.5+ form: networks container/bridge + container.portMappings."""
    aid = "/grp/" + uid("env").strip("/")
    apps.append(aid)
    double.create(app_def(aid, cmd=WEB_CMD, ports=[
        {"containerPort": 0, "name": "http"},
        {"containerPort": 7000, "name": "storage"},
        {"containerPort": 9000, "hostPort": 31777, "protocol": "udp"}],
        env={"FOO": "bar", "PORT_HTTP": "user-wins"}, labels={"tier": "web", "a.b": "c"}))
    t = double.wait_running(aid, 1)[0]
    p0, p1, p2 = t["ports"]
    assert p2 == 31777 and 31000 <= p0 <= 31499 and 31000 <= p1 <= 31499
    assert t["host"] == gw
    env = _env_of(gw, p0)           # served by busybox httpd in the task, via the gateway
    assert env["HOST"] == gw
    assert env["PORT0"] == str(p0) and env["PORT1"] == str(p1) and env["PORT2"] == "31777"
    assert env["PORT"] == str(p0) and env["PORTS"] == "%d,%d,31777" % (p0, p1)
    assert env["PORT_STORAGE"] == str(p1)
    assert env["PORT_%d" % p0] == str(p0)          # containerPort 0 -> PORT_<assigned>
    assert env["PORT_7000"] == str(p1) and env["PORT_9000"] == "31777"
    assert env["PORT_HTTP"] == "user-wins"          # the app's env is passed through as given
    assert env["FOO"] == "bar"
    assert env["MESOS_TASK_ID"] == t["id"]
    assert t["id"].startswith("grp_" + aid.split("/")[2] + ".instance-")
    assert t["id"].endswith("._app.1")
    assert env["MARATHON_APP_ID"] == aid
    assert env["MARATHON_APP_VERSION"] == t["version"]
    assert env["MARATHON_APP_DOCKER_IMAGE"] == IMAGE
    assert env["MARATHON_APP_LABEL_TIER"] == "web" and env["MARATHON_APP_LABEL_A_B"] == "c"
    assert env["MARATHON_APP_RESOURCE_MEM"] == "32.0"
    cid = double.req("GET", "/_double/state").json["containers"][t["id"]]
    info = docker_inspect(cid)
    assert info["Name"] == "/marathon-double-%s-%s" % (double.run_id, t["id"])
    assert info["Config"]["Labels"]["marathon-double.instance"] == double.run_id
    assert info["Config"]["Labels"]["marathon-double.task"] == t["id"]
    assert info["HostConfig"]["NanoCpus"] == 100000000
    assert info["HostConfig"]["Memory"] == 32 * 1024 * 1024
    b = info["HostConfig"]["PortBindings"]
    assert b["%d/tcp" % p0] == [{"HostIp": gw, "HostPort": str(p0)}]
    assert b["7000/tcp"] == [{"HostIp": gw, "HostPort": str(p1)}]
    assert b["9000/udp"] == [{"HostIp": gw, "HostPort": "31777"}]


def test_legacy_docker_network_form(double, apps, gw):
    """<=1.4 form: container.docker.network BRIDGE + container.docker.portMappings; args."""
    aid = uid("legacyform")
    apps.append(aid)
    d = {"id": aid, "instances": 1, "cpus": 0.1, "mem": 32,
         "args": ["sh", "-c", "mkdir -p /www && env > /www/env.txt && exec httpd -f -p 8080 -h /www"],
         "container": {"type": "DOCKER", "docker": {
             "image": IMAGE, "network": "BRIDGE",
             "portMappings": [{"containerPort": 8080, "hostPort": 0, "name": "web"}]}}}
    double.create(d)
    t = double.wait_running(aid, 1)[0]
    env = _env_of(gw, t["ports"][0])
    assert env["PORT0"] == str(t["ports"][0]) and env["PORT_WEB"] == str(t["ports"][0])
    assert env["PORT_8080"] == str(t["ports"][0])
    assert double.app(aid)["container"]["docker"]["portMappings"][0]["servicePort"] >= 10000


def test_host_networking_port_definitions(double, apps, gw):
    aid = uid("hostnet")
    apps.append(aid)
    d = {"id": aid, "cmd": WEB_CMD, "cpus": 0.1, "mem": 32,
         "container": {"type": "DOCKER", "docker": {"image": IMAGE}},
         "networks": [{"mode": "host"}],
         "portDefinitions": [{"port": 0, "name": "http"}]}
    double.create(d)
    t = double.wait_running(aid, 1)[0]
    env = _env_of(gw, t["ports"][0])
    assert env["PORT0"] == env["PORT_HTTP"] == str(t["ports"][0])
    sp = double.app(aid)["portDefinitions"][0]["port"]
    assert sp >= 10000 and env["PORT_%d" % sp] == str(t["ports"][0])


def test_fixed_host_port_waits_for_free_port(double, apps):
    """A fixed hostPort already in use: the second instance waits (no matching offer)."""
    aid = uid("fixed")
    apps.append(aid)
    r = double.create(app_def(aid, instances=2, ports=[{"containerPort": 80, "hostPort": 31490}]),
                      wait=False)
    dep = r.header("Marathon-Deployment-Id")
    t = double.wait_running(aid, 1)
    assert t[0]["ports"] == [31490]
    time.sleep(0.8)
    assert len(double.tasks(aid)) == 1 and any(d["id"] == dep for d in double.deployments())


def test_missing_image_task_failed(double, apps):
    aid = uid("noimg")
    apps.append(aid)
    sse = double.sse(["status_update_event"])
    r = double.create(app_def(aid, container={"type": "DOCKER",
                                              "docker": {"image": MISSING_IMAGE}}), wait=False)
    ev = sse.wait("status_update_event", lambda e: e["appId"] == aid and
                  e["taskStatus"] == "TASK_FAILED")[0]
    assert MISSING_IMAGE in ev["message"] and "never pulls" in ev["message"]
    assert any(d["id"] == r.header("Marathon-Deployment-Id") for d in double.deployments())
    app = double.req("GET", "/v2/apps%s?embed=app.lastTaskFailure" % aid).json["app"]
    assert app["lastTaskFailure"]["state"] == "TASK_FAILED"
    sse.close()


def test_exit_codes_and_relaunch(double, apps):
    aid_f, aid_ok = uid("crash"), uid("finish")
    apps.extend([aid_f, aid_ok])
    sse = double.sse(["status_update_event"])
    double.create(app_def(aid_f, cmd="sleep 0.5; exit 3", backoffSeconds=0), wait=False)
    double.create(app_def(aid_ok, cmd="sleep 0.5; exit 0", backoffSeconds=0), wait=False)
    f = sse.wait("status_update_event", lambda e: e["appId"] == aid_f and
                 e["taskStatus"] == "TASK_FAILED", count=2)
    assert f[0]["message"] == "Container exited with status 3"
    assert f[0]["taskId"] != f[1]["taskId"]                     # relaunched: a new task id
    ok = sse.wait("status_update_event", lambda e: e["appId"] == aid_ok and
                  e["taskStatus"] == "TASK_FINISHED", count=1)
    assert ok[0]["message"] == "Container exited with status 0"
    seq = [e["taskStatus"] for e in sse.of("status_update_event") if e["taskId"] == f[0]["taskId"]]
    assert seq == ["TASK_STAGING", "TASK_RUNNING", "TASK_FAILED"]
    double.delete(aid_f, wait=False)
    double.delete(aid_ok, wait=False)
    sse.close()


def test_status_update_event_fields(double, apps, gw):
    aid = uid("sue")
    apps.append(aid)
    sse = double.sse(["status_update_event", "instance_changed_event"])
    double.create(app_def(aid, ports=[{"containerPort": 80}]))
    ev = sse.wait("status_update_event", lambda e: e["appId"] == aid and
                  e["taskStatus"] == "TASK_RUNNING")[0]
    assert set(ev) == {"slaveId", "taskId", "taskStatus", "message", "appId", "host",
                       "ipAddresses", "ports", "version", "eventType", "timestamp"}
    t = double.tasks(aid)[0]
    assert ev["taskId"] == t["id"] and ev["ports"] == t["ports"] and ev["host"] == gw
    assert ev["version"] == double.app(aid)["version"] and ev["slaveId"] == t["slaveId"]
    assert ev["ipAddresses"] == t["ipAddresses"]
    iid = t["id"][:-len("._app.1")]
    ic = sse.wait("instance_changed_event", lambda e: e["instanceId"] == iid and
                  e["condition"] == "Running")[0]
    assert ic["runSpecId"] == aid and ic["host"] == gw and ic["agentId"] == t["slaveId"]
    sse.close()


def _rolling(double, aid, sse, strategy, n=2):
    double.create(app_def(aid, instances=n, upgradeStrategy=strategy))
    old = {t["id"] for t in double.tasks(aid)}
    r = double.req("PUT", "/v2/apps" + aid, {"env": {"V": "2"}})
    assert r.status == 200
    double.wait_deployed(r.json["deploymentId"])
    new = {t["id"] for t in double.wait_running(aid, n)}
    assert not (old & new)
    evs = [e for e in sse.of("status_update_event") if e["appId"] == aid]
    return old, new, evs


def test_rolling_upgrade_keeps_capacity(make_double):
    # TASK_KILLING shows when a kill is decided (the feature is off by default)
    double = make_double("--task-killing", "--task-delay", "0.2")
    aid = uid("roll")
    sse = double.sse(["status_update_event"])
    old, new, evs = _rolling(double, aid, sse, {"minimumHealthCapacity": 1,
                                                "maximumOverCapacity": 0.5})
    # at every point at least 2 tasks are running and never more than 3 are alive
    running, alive = set(), set()
    first_kill = None
    for i, e in enumerate(evs):
        s, tid = e["taskStatus"], e["taskId"]
        if s == "TASK_STAGING":
            alive.add(tid)
        elif s == "TASK_RUNNING":
            running.add(tid)
        elif s in ("TASK_KILLING", "TASK_KILLED"):
            if s == "TASK_KILLING" and tid in old:
                # minimumHealthCapacity 1: 2 others stay running while one old goes away
                assert len(running - {tid}) >= 2, evs[:i + 1]
                if first_kill is None:
                    first_kill = i
            running.discard(tid)
            alive.discard(tid)          # a task being killed no longer counts (as Marathon)
        assert len(alive) <= 3      # maximumOverCapacity 0.5 of 2 -> at most 1 extra
    started_new = [i for i, e in enumerate(evs) if e["taskId"] in new and
                   e["taskStatus"] == "TASK_RUNNING"]
    assert started_new[0] < first_kill       # a new one ran before any old one was killed
    sse.close()


def test_rolling_upgrade_kill_first(make_double):
    double = make_double("--task-killing", "--task-delay", "0.2")
    aid = uid("rollkf")
    sse = double.sse(["status_update_event"])
    old, new, evs = _rolling(double, aid, sse, {"minimumHealthCapacity": 0,
                                                "maximumOverCapacity": 0})
    # Marathon kills first and launches without waiting for the kill to be confirmed
    kills = [i for i, e in enumerate(evs) if e["taskId"] in old and
             e["taskStatus"] == "TASK_KILLING"]
    stages = [i for i, e in enumerate(evs) if e["taskId"] in new and
              e["taskStatus"] == "TASK_STAGING"]
    assert len(kills) == 2 and min(kills) < min(stages)
    sse.close()


def test_health_http_tcp_and_counts(double, apps, gw):
    aid = uid("hhttp")
    apps.append(aid)
    sse = double.sse(["health_status_changed_event", "add_health_check_event",
                      "deployment_success"])
    hcs = [{"protocol": "HTTP", "path": "/index.html", "portIndex": 0, "intervalSeconds": 1,
            "gracePeriodSeconds": 10, "timeoutSeconds": 1, "maxConsecutiveFailures": 3},
           {"protocol": "TCP", "portIndex": 0, "intervalSeconds": 1, "gracePeriodSeconds": 10}]
    r = double.create(app_def(aid, cmd="sleep 1.5; " + WEB_CMD, ports=[{"containerPort": 0}],
                              healthChecks=hcs), wait=False)
    dep = r.header("Marathon-Deployment-Id")
    # the deployment waits for health, not just TASK_RUNNING
    double.wait_running(aid, 1)
    assert any(d["id"] == dep for d in double.deployments())
    sse.wait("deployment_success", lambda e: e["id"] == dep)
    t = double.tasks(aid)[0]
    res = t["healthCheckResults"]
    assert len(res) == 2 and all(h["alive"] for h in res)
    iid = t["id"][:-len("._app.1")]
    assert res[0]["instanceId"] == iid and res[0]["consecutiveFailures"] == 0
    assert res[0]["firstSuccess"] and res[0]["lastSuccess"]
    ev = sse.wait("health_status_changed_event", lambda e: e["appId"] == aid)[0]
    assert ev["alive"] is True and ev["instanceId"] == iid and ev["version"] == t["version"]
    assert "taskId" not in ev
    app = double.app(aid)
    assert app["tasksHealthy"] == 1 and app["tasksUnhealthy"] == 0 and app["tasksRunning"] == 1
    assert len(sse.wait("add_health_check_event", lambda e: e["appId"] == aid, count=2)) == 2
    got = double.client().get_app(aid, embed_tasks=True)
    assert got.tasks[0].health_check_results[0].alive is True
    sse.close()


def test_health_command_failure_kills(double, apps):
    aid = uid("hcmd")
    apps.append(aid)
    sse = double.sse(["health_status_changed_event", "failed_health_check_event",
                      "unhealthy_instance_kill_event", "status_update_event"])
    # healthy while /tmp/ok exists; the task removes it after ~1.5 s
    hc = {"protocol": "COMMAND", "command": {"value": "test -f /tmp/ok"}, "intervalSeconds": 1,
          "gracePeriodSeconds": 0, "maxConsecutiveFailures": 2, "timeoutSeconds": 2}
    double.create(app_def(aid, cmd="touch /tmp/ok; sleep 1.5; rm /tmp/ok; sleep 1000",
                          healthChecks=[hc]), wait=False)
    first = sse.wait("health_status_changed_event", lambda e: e["appId"] == aid and e["alive"])[0]
    iid = first["instanceId"]
    tid = iid + "._app.1"
    down = sse.wait("health_status_changed_event", lambda e: e["instanceId"] == iid and
                    e["alive"] is False, timeout=15)[0]
    assert down["appId"] == aid
    # failed_health_check_event's taskId holds the instance id (api/v2/json/Formats.scala)
    fails = sse.wait("failed_health_check_event", lambda e: e["taskId"] == iid, count=2)
    assert fails[0]["healthCheck"]["protocol"] == "COMMAND" and fails[0]["appId"] == aid
    kill = sse.wait("unhealthy_instance_kill_event", lambda e: e["taskId"] == tid and
                    e["instanceId"] == iid)[0]
    assert kill["appId"] == aid and kill["reason"] and kill["host"] and kill["slaveId"]
    killed = sse.wait("status_update_event", lambda e: e["taskId"] == tid and
                      e["taskStatus"] == "TASK_KILLED")[0]
    order = [(t, d) for t, d in sse.events if d.get("taskId") in (tid, iid) or
             d.get("instanceId") == iid]
    kinds = [t for t, _ in order]
    assert kinds.index("unhealthy_instance_kill_event") < len(kinds) - 1
    assert killed["taskStatus"] == "TASK_KILLED"
    # replaced by a new task
    wait_for(lambda: [t for t in double.tasks(aid) if t["id"] != tid], 10)
    sse.close()


def test_health_unhealthy_counts(double, apps):
    aid = uid("hunh")
    apps.append(aid)
    hc = {"protocol": "HTTP", "path": "/missing", "portIndex": 0, "intervalSeconds": 1,
          "gracePeriodSeconds": 0, "maxConsecutiveFailures": 0, "timeoutSeconds": 1}
    double.create(app_def(aid, cmd=WEB_CMD, ports=[{"containerPort": 0}], healthChecks=[hc]),
                  wait=False)
    wait_for(lambda: (double.app(aid) or {}).get("tasksUnhealthy") == 1, 15)
    t = double.tasks(aid)[0]
    h = t["healthCheckResults"][0]
    assert h["alive"] is False and h["consecutiveFailures"] >= 1
    assert "404" in h["lastFailureCause"] and h["lastFailure"]
    time.sleep(1.5)   # maxConsecutiveFailures 0 on an HTTP check: never killed
    assert double.tasks(aid)[0]["id"] == t["id"]
