"""The start script: first stdout line, loopback binding, SIGTERM cleanup of containers."""
import signal
import socket
import subprocess
import time

from conftest import START, Double, app_def, docker_containers, raw_request, uid, wait_for


def _free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def test_start_prints_url_first_and_binds_loopback(test_image, gw):
    port = _free_port()
    p = subprocess.Popen([START, "--port", str(port)], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline() == "http://127.0.0.1:%d\n" % port
        assert raw_request("http://127.0.0.1:%d" % port, "GET", "/ping").text == "pong"
        s = socket.socket()
        s.settimeout(2)
        try:
            assert s.connect_ex((gw, port)) != 0          # not reachable on other addresses
        finally:
            s.close()
    finally:
        p.send_signal(signal.SIGTERM)
        assert p.wait(20) == 0
        p.stdout.close()
        p.stderr.close()


def test_sigterm_removes_every_container(test_image):
    d = Double("--task-delay", "0.3", "--port-range", "31600-31699")
    aid = uid("term")
    d.create(app_def(aid, instances=3, ports=[{"containerPort": 80}]))
    d.create(app_def(uid("term2"), instances=2), wait=False)   # some still staging
    time.sleep(0.35)
    assert len(docker_containers(d.label)) >= 3
    t0 = time.time()
    assert d.stop() == 0
    assert time.time() - t0 < 20
    assert docker_containers(d.label) == []
    assert "stopped" in d.stderr


def test_sigterm_while_killing_and_health_checks(test_image):
    d = Double("--task-delay", "0.1", "--port-range", "31700-31799")
    hc = {"protocol": "COMMAND", "command": {"value": "true"}, "intervalSeconds": 1,
          "gracePeriodSeconds": 0}
    aid = uid("term3")
    d.create(app_def(aid, instances=2, healthChecks=[hc], taskKillGracePeriodSeconds=2),
             wait=False)
    wait_for(lambda: len(docker_containers(d.label)) == 2, 10)
    tid = d.wait_running(aid, 2)[0]["id"]
    d.req("DELETE", "/v2/apps%s/tasks/%s" % (aid, tid))     # a kill in progress (2 s grace)
    assert d.stop() == 0
    assert docker_containers(d.label) == []
