"""REST endpoints, status codes and bodies (raml/v2/*.raml, raml/traits.raml, examples/)."""
import time

import pytest
from marathon import MarathonApp
from marathon.exceptions import ConflictError, MarathonHttpError, NotFoundError
from marathon.models.container import MarathonContainer

from conftest import IMAGE, app_def, uid, wait_for


def test_ping_info_leader(double):
    r = double.req("GET", "/ping")
    assert r.status == 200 and r.text == "pong"
    c = double.client()
    assert c.ping() == b"pong"
    info = c.get_info()
    assert info.name == "marathon-double" and info.version
    assert info.marathon_config.features == []      # task_killing is off by default
    assert info.event_subscriber.type == "http_callback"
    r = double.req("GET", "/v2/info")
    assert r.status == 200 and r.json["http_config"]["http_port"] == int(double.url.rsplit(":", 1)[1])
    assert double.req("GET", "/v2/leader").json["leader"] == double.url.split("//")[1]


def test_create_with_client_and_201_shape(double, apps, gw):
    aid = uid("create")
    apps.append(aid)
    c = double.client()
    app = MarathonApp(cmd="sleep 1000", instances=2, cpus=0.1, mem=32,
                      container=MarathonContainer(docker={"image": IMAGE},
                                                  port_mappings=[{"containerPort": 80,
                                                                  "name": "web"}]),
                      networks=[{"mode": "container/bridge"}], labels={"tier": "x"})
    created = c.create_app(aid, app)
    assert created.id == aid and created.instances == 2
    assert created.tasks_running == 0 and created.tasks_staged == 0
    assert len(created.deployments) == 1
    dep_id = created.deployments[0].id
    assert any(d.id == dep_id for d in c.list_deployments())
    double.wait_deployed(dep_id)
    got = c.get_app(aid, embed_tasks=True)
    assert got.tasks_running == 2 and got.deployments == []
    for t in got.tasks:
        assert t.state == "TASK_RUNNING" and t.host == gw
        assert 31000 <= t.ports[0] <= 31499
        assert t.id.startswith(aid.strip("/") + ".")
        assert t.started_at is not None and t.staged_at is not None
        assert t.service_ports and t.service_ports[0] >= 10000
    assert got.container.port_mappings[0].service_port >= 10000


def test_create_raw_headers_and_body(double, apps):
    aid = uid("raw")
    apps.append(aid)
    r = double.req("POST", "/v2/apps", app_def(aid.lstrip("/")))   # relative id -> /id
    assert r.status == 201
    assert r.header("Location").endswith("/v2/apps" + aid)
    dep = r.header("Marathon-Deployment-Id")
    body = r.json
    assert body["id"] == aid and body["version"]
    assert body["deployments"] == [{"id": dep}]
    for k in ("tasksStaged", "tasksRunning", "tasksHealthy", "tasksUnhealthy"):
        assert body[k] == 0
    assert body["versionInfo"]["lastConfigChangeAt"] == body["version"]
    double.wait_deployed(dep)
    r = double.req("POST", "/v2/apps", app_def(aid))
    assert r.status == 409
    assert r.json == {"message": "An app with id [%s] already exists." % aid}
    with pytest.raises(ConflictError):
        double.client().create_app(aid, MarathonApp(cmd="sleep 1"))


def test_400_invalid_json(double):
    r = double.req("POST", "/v2/apps", b'{"id": "/x", ')
    assert r.status == 400 and r.json["message"] == "Invalid JSON"
    assert isinstance(r.json["details"], list)
    r = double.req("POST", "/v2/apps", {"id": 5, "cmd": "sleep 1"})
    assert r.status == 400
    assert r.json == {"message": "Invalid JSON",
                      "details": [{"path": "/id", "errors": ["error.expected.jsstring"]}]}
    r = double.req("PUT", "/v2/apps/x", b"not json")
    assert r.status == 400 and r.json["message"] == "Invalid JSON"


def test_422_validation(double):
    r = double.req("POST", "/v2/apps", {"id": "/v", "cmd": "sleep 1",
                                        "upgradeStrategy": {"minimumHealthCapacity": 1.5}})
    assert r.status == 422
    assert r.json == {"message": "Object is not valid", "details": [
        {"path": "/upgradeStrategy/minimumHealthCapacity", "errors": ["is greater than 1"]}]}
    r = double.req("POST", "/v2/apps", {"id": "/v", "cmd": "sleep 1", "args": ["x"]})
    assert r.status == 422 and r.json["message"] == "Object is not valid"
    r = double.req("POST", "/v2/apps", {"id": "/Bad_Id", "cmd": "sleep 1"})
    assert r.status == 422 and r.json["details"][0]["path"] == "/id"
    r = double.req("POST", "/v2/apps", {"id": "/v", "cmd": "x", "instances": -1})
    assert r.status == 422 and r.json["details"][0]["path"] == "/instances"
    r = double.req("POST", "/v2/apps", {"id": "/v", "cmd": "x", "unknownField": 1})
    assert r.status == 422
    r = double.req("POST", "/v2/apps", {"id": "/v"})   # neither cmd, args nor container
    assert r.status == 422
    r = double.req("POST", "/v2/apps", {"cmd": "x"})
    assert r.status == 422 and r.json["details"][0] == {"path": "/id",
                                                        "errors": ["error.path.missing"]}
    with pytest.raises(MarathonHttpError) as ei:
        double.client().create_app("/v", MarathonApp(cmd="x", instances=-3))
    assert ei.value.status_code == 422
    assert double.req("GET", "/v2/apps/v").status == 404


def test_404s(double):
    for method, path in [("GET", "/v2/apps/nope"), ("PATCH", "/v2/apps/nope"),
                         ("DELETE", "/v2/apps/nope"), ("POST", "/v2/apps/nope/restart"),
                         ("GET", "/v2/apps/nope/tasks"), ("GET", "/v2/apps/a/b/nope")]:
        body = {"instances": 1} if method == "PATCH" else None
        r = double.req(method, path, body)
        assert r.status == 404, (method, path, r)
        assert r.json["message"] == "App '/%s' does not exist" % path.split("/v2/apps/")[1] \
            .replace("/restart", "").replace("/tasks", "")
    with pytest.raises(NotFoundError):
        double.client().get_app("/nope")
    r = double.req("GET", "/v2/nothing-here")
    assert r.status == 404 and r.json == {"message": "HTTP 404 Not Found"}
    r = double.req("DELETE", "/v2/deployments/nope")
    assert r.status == 404 and r.json == {"message": "DeploymentPlan nope does not exist"}
    r = double.req("DELETE", "/ping")
    assert r.status == 405
    # an unread request body: the double closes the connection instead of misparsing it
    r = double.req("POST", "/v2/nothing-here", {"a": 1})
    assert r.status == 404 and r.header("Connection") == "close"


def test_unknown_task_404(double, apps):
    aid = uid("t404")
    apps.append(aid)
    double.create(app_def(aid))
    r = double.req("DELETE", "/v2/apps%s/tasks/nope.123" % aid)
    assert r.status == 404 and r.json == {"message": "Task 'nope.123' does not exist"}


def test_list_filters_and_embed(double, apps):
    a1, a2 = uid("flt-alpha"), uid("flt-beta")
    apps.extend([a1, a2])
    double.create(app_def(a1, labels={"env": "prod", "tier": "db", "weird key": "v,1"}),
                  wait=False)
    double.create(app_def(a2, cmd="sleep 999", labels={"env": "dev"}))
    double.wait_running(a1, 1)

    def ids(qs):
        r = double.req("GET", "/v2/apps" + qs)
        assert r.status == 200
        return sorted(a["id"] for a in r.json["apps"] if a["id"] in (a1, a2))
    assert ids("") == sorted([a1, a2])
    assert ids("?id=" + a1[1:]) == [a1]
    assert ids("?id=flt-beta") == [a2]
    assert ids("?cmd=999") == [a2]
    assert ids("?label=env==prod") == [a1]
    assert ids("?label=env!=prod") == [a2]
    assert ids("?label=tier") == [a1]
    assert ids("?label=env%20in%20(dev,%20stage)") == [a2]
    assert ids("?label=env%20notin%20(dev)") == [a1]
    assert ids("?label=env==prod,tier==db") == [a1]
    assert ids("?label=env==prod,tier==web") == []
    assert ids("?label=weird\\%20key==v\\,1") == [a1]
    r = double.req("GET", "/v2/apps?embed=apps.tasks&id=" + a1[1:])
    app = r.json["apps"][0]
    assert len(app["tasks"]) == 1 and app["tasks"][0]["appId"] == a1
    r = double.req("GET", "/v2/apps?id=" + a1[1:])
    assert "tasks" not in r.json["apps"][0]
    c = double.client()
    lst = [a for a in c.list_apps(embed_tasks=True, label="env==dev") if a.id == a2]
    assert lst and lst[0].tasks[0].app_id == a2
    assert double.req("GET", "/v2/apps" + a1).json["app"]["tasks"]


def test_put_patch_update_and_create(double, apps):
    aid = uid("upd")
    apps.append(aid)
    r = double.req("PUT", "/v2/apps" + aid, app_def(aid))
    assert r.status == 201, r        # PUT created it
    assert set(r.json) == {"version", "deploymentId"}
    assert r.header("Marathon-Deployment-Id") == r.json["deploymentId"]
    double.wait_deployed(r.json["deploymentId"])
    v1 = double.app(aid)["version"]
    r = double.req("PUT", "/v2/apps" + aid, {"instances": 2})   # partial update (default)
    assert r.status == 200 and set(r.json) == {"version", "deploymentId"}
    assert r.json["version"] > v1
    double.wait_deployed(r.json["deploymentId"])
    app = double.app(aid)
    assert app["instances"] == 2 and app["cmd"] == "sleep 1000" and app["tasksRunning"] == 2
    assert app["versionInfo"]["lastConfigChangeAt"] == v1        # scaling only
    r = double.req("PATCH", "/v2/apps" + aid, {"labels": {"a": "b"}})
    assert r.status == 200
    double.wait_deployed(r.json["deploymentId"])
    app = double.app(aid)
    assert app["labels"] == {"a": "b"} and app["instances"] == 2
    assert app["versionInfo"]["lastConfigChangeAt"] == app["version"]
    vs = double.client().list_versions(aid)
    assert len(vs) == 3 and vs[0] == app["version"] and vs[-1] == v1
    assert double.req("GET", "/v2/apps%s/versions/%s" % (aid, v1)).json["instances"] == 1
    # full replace: partialUpdate=false resets what is not given
    r = double.req("PUT", "/v2/apps%s?partialUpdate=false" % aid, app_def(aid))
    assert r.status == 200
    double.wait_deployed(r.json["deploymentId"])
    assert double.app(aid)["labels"] == {} and double.app(aid)["instances"] == 1
    # invalid update -> 422, app unchanged
    r = double.req("PUT", "/v2/apps" + aid, {"instances": -1})
    assert r.status == 422
    r = double.req("PATCH", "/v2/apps" + aid, {"instances": "x"})
    assert r.status == 400


def test_locked_409_and_force(double, apps):
    aid = uid("lock")
    apps.append(aid)
    sse = double.sse(["deployment_failed", "deployment_success"])
    # a deployment that cannot finish: its image does not exist
    r = double.req("POST", "/v2/apps", app_def(aid, container={
        "type": "DOCKER", "docker": {"image": "marathon-double-no-such-image:never"}}))
    assert r.status == 201
    dep1 = r.header("Marathon-Deployment-Id")
    time.sleep(0.3)
    assert any(d["id"] == dep1 for d in double.deployments())
    for method, path, body in [("PUT", "/v2/apps" + aid, {"instances": 2}),
                               ("PATCH", "/v2/apps" + aid, {"instances": 2}),
                               ("POST", "/v2/apps%s/restart" % aid, None),
                               ("DELETE", "/v2/apps%s?force=false" % aid, None)]:
        r = double.req(method, path, body)
        assert r.status == 409, (method, r)
        assert r.json == {
            "message": "App is locked by one or more deployments. Override with the option "
                       "'?force=true'. View details at '/v2/deployments/%s'." % dep1,
            "deployments": [{"id": dep1}]}
    with pytest.raises(ConflictError):
        double.client().scale_app(aid, 3)
    r = double.req("PUT", "/v2/apps%s?force=true" % aid, app_def(aid))
    assert r.status == 200
    dep2 = r.json["deploymentId"]
    sse.wait("deployment_failed", lambda d: d["id"] == dep1)
    double.wait_deployed(dep2)
    sse.wait("deployment_success", lambda d: d["id"] == dep2)
    assert [d for d in double.deployments() if d["id"] in (dep1, dep2)] == []
    sse.close()


def test_deployments_listing_and_cancel(double, apps):
    aid = uid("dep")
    apps.append(aid)
    sse = double.sse(["deployment_failed", "deployment_success", "deployment_info"])
    r = double.req("POST", "/v2/apps", app_def(aid, container={
        "type": "DOCKER", "docker": {"image": "marathon-double-no-such-image:never"}}))
    dep = r.header("Marathon-Deployment-Id")
    deps = {d["id"]: d for d in double.deployments()}
    assert dep in deps
    d = deps[dep]
    assert d["affectedApps"] == [aid] and d["totalSteps"] == 2 and d["currentStep"] >= 1
    assert d["steps"][0]["actions"][0] == {"action": "StartApplication", "app": aid}
    assert d["currentActions"][0]["app"] == aid
    assert double.req("GET", "/v2/deployments/" + dep).json["id"] == dep
    # step 1 (StartApplication) is done at once; step 2 (ScaleApplication) never finishes here
    wait_for(lambda: double.req("GET", "/v2/deployments/" + dep).json["currentStep"] == 2, 5)
    lst = double.client().list_deployments()
    assert any(x.id == dep and x.affected_apps == [aid] for x in lst)
    sse.wait("deployment_info", lambda e: e["plan"]["id"] == dep)
    # cancel without force: a rollback deployment (the app did not exist -> it is removed)
    r = double.req("DELETE", "/v2/deployments/" + dep)
    assert r.status == 200 and set(r.json) == {"version", "deploymentId"}
    sse.wait("deployment_failed", lambda e: e["id"] == dep)
    double.wait_deployed(r.json["deploymentId"])
    wait_for(lambda: double.req("GET", "/v2/apps" + aid).status == 404)
    # force cancel: 202, no body, app keeps its state
    aid2 = uid("dep2")
    apps.append(aid2)
    r = double.req("POST", "/v2/apps", app_def(aid2, container={
        "type": "DOCKER", "docker": {"image": "marathon-double-no-such-image:never"}}))
    dep2 = r.header("Marathon-Deployment-Id")
    assert double.client().delete_deployment(dep2, force=True) == {}
    r = double.req("DELETE", "/v2/deployments/" + dep2 + "?force=true")
    assert r.status == 404
    sse.wait("deployment_failed", lambda e: e["id"] == dep2)
    assert double.app(aid2) is not None and double.app(aid2)["deployments"] == []
    sse.close()


def test_rollback_restores_previous_definition(double, apps):
    aid = uid("rb")
    apps.append(aid)
    double.create(app_def(aid, labels={"v": "1"}))
    r = double.req("PUT", "/v2/apps" + aid, {"labels": {"v": "2"}, "container": {
        "type": "DOCKER", "docker": {"image": "marathon-double-no-such-image:never"}}})
    dep = r.json["deploymentId"]
    r = double.req("DELETE", "/v2/deployments/" + dep)
    assert r.status == 200
    double.wait_deployed(r.json["deploymentId"])
    app = double.app(aid)
    assert app["labels"] == {"v": "1"} and app["container"]["docker"]["image"] == IMAGE
    double.wait_running(aid, 1)


def test_delete_app(double, gw):
    aid = uid("del")
    sse = double.sse(["app_terminated_event", "status_update_event", "deployment_success"])
    double.create(app_def(aid, instances=2))
    tids = {t["id"] for t in double.tasks(aid)}
    c = double.client()
    res = c.delete_app(aid)
    assert set(res) == {"version", "deploymentId"}
    r = double.req("GET", "/v2/apps" + aid)
    assert r.status == 404
    sse.wait("deployment_success", lambda e: e["id"] == res["deploymentId"])
    sse.wait("app_terminated_event", lambda e: e["appId"] == aid)
    killed = {e["taskId"] for e in sse.of("status_update_event") if e["taskStatus"] == "TASK_KILLED"}
    assert tids <= killed
    st = double.req("GET", "/_double/state").json["containers"]
    assert not (tids & set(st))
    sse.close()


def test_restart_endpoint(double, apps):
    aid = uid("rst")
    apps.append(aid)
    double.create(app_def(aid, instances=2))
    before = {t["id"] for t in double.tasks(aid)}
    v = double.app(aid)["version"]
    res = double.client().restart_app(aid)
    assert set(res) == {"version", "deploymentId"}
    double.wait_deployed(res["deploymentId"])
    after = double.wait_running(aid, 2)
    assert not (before & {t["id"] for t in after})
    assert double.app(aid)["version"] > v


def test_tasks_endpoints(double, apps, gw):
    aid = uid("tasks")
    apps.append(aid)
    double.create(app_def(aid, instances=2, ports=[{"containerPort": 80}]))
    r = double.req("GET", "/v2/tasks")
    mine = [t for t in r.json["tasks"] if t["appId"] == aid]
    assert len(mine) == 2
    t = mine[0]
    assert set(t) >= {"id", "appId", "host", "ports", "servicePorts", "ipAddresses", "slaveId",
                      "state", "stagedAt", "startedAt", "version"}
    assert t["ipAddresses"][0]["protocol"] == "IPv4"
    assert t["ipAddresses"][0]["ipAddress"] != gw   # the container's bridge address
    r = double.req("GET", "/v2/tasks?status=running")
    assert len([t for t in r.json["tasks"] if t["appId"] == aid]) == 2
    r = double.req("GET", "/v2/tasks?status=staging")
    assert [t for t in r.json["tasks"] if t["appId"] == aid] == []
    c = double.client()
    assert len(c.list_tasks(aid)) == 2
    r = double.req("GET", "/v2/tasks", headers={"Accept": "text/plain"})
    line = [ln for ln in r.text.splitlines() if ln.startswith(aid.strip("/") + "\t")][0]
    parts = line.rstrip("\t").split("\t")
    assert int(parts[1]) >= 10000
    assert sorted(parts[2:]) == sorted("%s:%d" % (gw, t["ports"][0]) for t in mine)
    r = double.req("GET", "/v2/apps%s/tasks" % aid, headers={"Accept": "text/plain"})
    assert r.text.startswith(aid.strip("/") + "\t")
    r = double.req("GET", "/v2/apps%s/tasks/%s" % (aid, t["id"]))
    assert r.json["task"]["id"] == t["id"]


def test_kill_task_relaunch_and_scale(double, apps):
    aid = uid("kill")
    apps.append(aid)
    sse = double.sse(["status_update_event"])
    double.create(app_def(aid, instances=2))
    tasks = double.tasks(aid)
    victim = tasks[0]["id"]
    c = double.client()
    killed = c.kill_task(aid, victim)
    assert killed.id == victim
    sse.wait("status_update_event", lambda e: e["taskId"] == victim and
             e["taskStatus"] == "TASK_KILLED")
    states = [e["taskStatus"] for e in sse.of("status_update_event") if e["taskId"] == victim]
    assert states[-1] == "TASK_KILLED" and "TASK_KILLING" not in states  # feature off
    after = double.wait_running(aid, 2)
    assert victim not in {t["id"] for t in after}          # relaunched with a new id
    assert double.app(aid)["instances"] == 2
    # scale=true: the app is scaled down by one (a deployment)
    victim = after[0]["id"]
    r = double.req("DELETE", "/v2/apps%s/tasks/%s?scale=true" % (aid, victim))
    assert r.status == 200 and set(r.json) == {"version", "deploymentId"}
    double.wait_deployed(r.json["deploymentId"])
    assert double.app(aid)["instances"] == 1
    assert [t["id"] for t in double.tasks(aid)] == [after[1]["id"]]
    # POST /v2/tasks/delete
    r = double.req("POST", "/v2/tasks/delete", {"ids": ["nope"]})
    assert r.status == 400 and r.json == {"message": "Invalid task id nope"}
    assert c.kill_given_tasks([after[1]["id"]]) is True
    sse.wait("status_update_event", lambda e: e["taskId"] == after[1]["id"] and
             e["taskStatus"] == "TASK_KILLED")
    double.wait_running(aid, 1)
    # DELETE /v2/apps/{id}/tasks kills all
    r = double.req("DELETE", "/v2/apps%s/tasks" % aid)
    assert r.status == 200 and len(r.json["tasks"]) == 1
    sse.close()


def test_scale_with_client(double, apps):
    aid = uid("scale")
    apps.append(aid)
    sse = double.sse(["status_update_event"])
    double.create(app_def(aid, instances=1))
    first = double.tasks(aid)[0]["id"]
    c = double.client()
    res = c.scale_app(aid, 3)
    double.wait_deployed(res["deploymentId"])
    assert len(double.wait_running(aid, 3)) == 3
    res = c.scale_app(aid, delta=-2)
    double.wait_deployed(res["deploymentId"])
    left = double.tasks(aid)
    assert [t["id"] for t in left] == [first]      # YOUNGEST_FIRST kill selection
    killed = [e for e in sse.of("status_update_event") if e["taskStatus"] == "TASK_KILLED"]
    assert len(killed) == 2
    res = c.scale_app(aid, 0)
    double.wait_deployed(res["deploymentId"])
    assert double.tasks(aid) == [] and double.app(aid)["tasksRunning"] == 0
    sse.close()
