"""Fixtures for the marathon-double test suite (the double is a test double, not Marathon).

Everything here talks only to loopback (the double, local callback receivers) and to the
docker0 gateway address where the double publishes task ports.
"""
import base64
import http.client
import http.server
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.parse
import uuid

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
DOUBLE_DIR = os.path.dirname(HERE)
START = os.path.join(DOUBLE_DIR, "start")
IMAGE = "marathon-double-test:latest"
MISSING_IMAGE = "marathon-double-no-such-image:never"


# ---------------------------------------------------------------------------
# generic helpers
# ---------------------------------------------------------------------------
def wait_for(cond, timeout=20.0, interval=0.1, what="condition"):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        last = cond()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError("timed out after %.1fs waiting for %s (last: %r)" % (timeout, what, last))


class Resp:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def header(self, name):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    @property
    def json(self):
        return json.loads(self.body)

    @property
    def text(self):
        return self.body.decode()

    def __repr__(self):
        return "<Resp %s %r>" % (self.status, self.body[:300])


def raw_request(base, method, path, body=None, headers=None, auth=None, timeout=20):
    u = urllib.parse.urlsplit(base)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    h = dict(headers or {})
    if auth:
        h["Authorization"] = "Basic " + base64.b64encode(auth.encode()).decode()
    data = None
    if body is not None:
        data = body if isinstance(body, (bytes, str)) else json.dumps(body)
        if isinstance(data, str):
            data = data.encode()
        h.setdefault("Content-Type", "application/json")
    try:
        conn.request(method, path, body=data, headers=h)
        r = conn.getresponse()
        return Resp(r.status, r.getheaders(), r.read())
    finally:
        conn.close()


def gateway():
    out = subprocess.run(["ip", "-4", "-o", "addr", "show", "docker0"], capture_output=True,
                         text=True).stdout.split()
    for i, w in enumerate(out):
        if w == "inet":
            return out[i + 1].split("/")[0]
    return "172.17.0.1"


def http_get_task(host, port, path="/", timeout=3):
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        return r.status, r.read().decode(errors="replace")
    finally:
        conn.close()


def docker_containers(label):
    out = subprocess.run(["docker", "ps", "-a", "-q", "--filter", "label=" + label],
                         capture_output=True, text=True, check=True).stdout
    return out.split()


def docker_inspect(cid):
    out = subprocess.run(["docker", "inspect", cid], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)[0]


# ---------------------------------------------------------------------------
# SSE reader (raw, so the wire format can be checked)
# ---------------------------------------------------------------------------
class Sse:
    def __init__(self, base, types=None, auth=None, accept="text/event-stream", rcvbuf=None):
        u = urllib.parse.urlsplit(base)
        q = "&".join("event_type=" + urllib.parse.quote(t) for t in (types or []))
        self.sock = socket.create_connection((u.hostname, u.port), timeout=30)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        req = "GET /v2/events%s HTTP/1.1\r\nHost: %s:%d\r\n" % ("?" + q if q else "", u.hostname,
                                                                u.port)
        if accept is not None:
            req += "Accept: %s\r\n" % accept
        if auth:
            req += "Authorization: Basic %s\r\n" % base64.b64encode(auth.encode()).decode()
        self.sock.sendall((req + "\r\n").encode())
        self.raw = b""
        self.events = []           # (type, dict)
        self.closed = threading.Event()
        self.status = None
        self.headers = {}
        self._lock = threading.Lock()
        self._head_done = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()
        self._head_done.wait(10)

    def _run(self):
        buf = b""
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    break
                with self._lock:
                    self.raw += chunk
                buf += chunk
                if self.status is None and b"\r\n\r\n" in buf:
                    head, buf = buf.split(b"\r\n\r\n", 1)
                    lines = head.decode().split("\r\n")
                    self.status = int(lines[0].split()[1])
                    for ln in lines[1:]:
                        k, _, v = ln.partition(":")
                        self.headers[k.strip().lower()] = v.strip()
                    self._head_done.set()
                if self.status is not None:
                    while b"\r\n\r\n" in buf:
                        frame, buf = buf.split(b"\r\n\r\n", 1)
                        frame = frame.lstrip(b"\r\n")
                        et, data = None, None
                        for ln in frame.split(b"\r\n"):
                            if ln.startswith(b"event: "):
                                et = ln[7:].decode()
                            elif ln.startswith(b"data: "):
                                data = json.loads(ln[6:].decode())
                        if et and data is not None:
                            with self._lock:
                                self.events.append((et, data))
        except OSError:
            pass
        finally:
            self._head_done.set()
            self.closed.set()

    def of(self, etype):
        with self._lock:
            return [d for t, d in self.events if t == etype]

    def wait(self, etype, pred=lambda d: True, timeout=20, count=1):
        def f():
            m = [d for d in self.of(etype) if pred(d)]
            return m if len(m) >= count else None
        return wait_for(f, timeout, what="event %s" % etype)

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


# ---------------------------------------------------------------------------
# loopback HTTP receiver for /v2/eventSubscriptions callbacks
# ---------------------------------------------------------------------------
class CallbackReceiver:
    def __init__(self):
        received = self.received = []

        class H(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n)
                received.append((self.path, self.headers.get("Content-Type"), json.loads(body)))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a):
                pass

        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = "http://127.0.0.1:%d/callback" % self.srv.server_address[1]
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def of(self, etype):
        return [b for _, _, b in list(self.received) if b.get("eventType") == etype]

    def close(self):
        self.srv.shutdown()
        self.srv.server_close()


# ---------------------------------------------------------------------------
# the double as a subprocess
# ---------------------------------------------------------------------------
class Double:
    def __init__(self, *args):
        env = {k: v for k, v in os.environ.items() if k != "MARATHON_DOUBLE_VERSION"}
        self.proc = subprocess.Popen([START] + list(args), stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, env=env)
        self.url = self.proc.stdout.readline().strip()
        if not self.url.startswith("http://127.0.0.1:"):
            err = self.proc.stderr.read() if self.proc.poll() is not None else ""
            raise RuntimeError("double did not start: %r %s" % (self.url, err))
        self.auth = None
        for i, a in enumerate(args):
            if a == "--auth":
                self.auth = args[i + 1]
        self.run_id = self.req("GET", "/_double/state").json["run_id"]
        self.label = "marathon-double.instance=" + self.run_id

    def req(self, method, path, body=None, headers=None, auth="default", timeout=20):
        return raw_request(self.url, method, path, body, headers,
                           self.auth if auth == "default" else auth, timeout)

    def client(self):
        from marathon import MarathonClient
        if self.auth:
            u, p = self.auth.split(":", 1)
            return MarathonClient(self.url, username=u, password=p, timeout=20)
        return MarathonClient(self.url, timeout=20)

    def sse(self, types=None, **kw):
        kw.setdefault("auth", self.auth)
        return Sse(self.url, types, **kw)

    def faults(self, **body):
        r = self.req("POST", "/_double/faults", body, auth=None)
        assert r.status == 200, r
        return r.json

    def deployments(self):
        return self.req("GET", "/v2/deployments").json

    def app(self, aid):
        r = self.req("GET", "/v2/apps" + aid)
        return r.json["app"] if r.status == 200 else None

    def tasks(self, aid):
        r = self.req("GET", "/v2/apps%s/tasks" % aid)
        return r.json["tasks"] if r.status == 200 else []

    def wait_deployed(self, dep_id, timeout=30):
        wait_for(lambda: all(d["id"] != dep_id for d in self.deployments()), timeout,
                 what="deployment %s to finish" % dep_id)

    def wait_running(self, aid, n, timeout=30, healthy=False):
        def ok():
            ts = [t for t in self.tasks(aid) if t["state"] == "TASK_RUNNING"]
            if healthy:
                ts = [t for t in ts if t.get("healthCheckResults")
                      and all(h["alive"] for h in t["healthCheckResults"])]
            return ts if len(ts) == n else None
        return wait_for(ok, timeout, what="%d running tasks of %s" % (n, aid))

    def create(self, defn, wait=True):
        r = self.req("POST", "/v2/apps", defn)
        assert r.status == 201, r
        if wait:
            self.wait_deployed(r.header("Marathon-Deployment-Id"))
        return r

    def delete(self, aid, wait=True):
        r = self.req("DELETE", "/v2/apps%s?force=true" % aid)
        if r.status == 200 and wait:
            self.wait_deployed(r.json["deploymentId"])
        return r

    def stop(self):
        if getattr(self, "_stopped", False):
            return self.proc.returncode
        self._stopped = True
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()
        self.stderr = self.proc.stderr.read()
        self.proc.stderr.close()
        return self.proc.returncode


def app_def(aid, cmd="sleep 1000", instances=1, ports=None, **extra):
    """A 1.5+-style Docker bridge app on the test image."""
    d = {"id": aid, "instances": instances, "cpus": 0.1, "mem": 32, "cmd": cmd,
         "container": {"type": "DOCKER", "docker": {"image": IMAGE},
                       "portMappings": ports if ports is not None else []},
         "networks": [{"mode": "container/bridge"}]}
    if cmd is None:
        del d["cmd"]
    d.update(extra)
    return d


WEB_CMD = "mkdir -p /www && echo ok > /www/index.html && env > /www/env.txt && exec httpd -f -p $PORT0 -h /www"


def uid(prefix="t"):
    return "/%s-%s" % (prefix, uuid.uuid4().hex[:8])


# ---------------------------------------------------------------------------
# session fixtures
# ---------------------------------------------------------------------------
@pytest.fixture(scope="session")
def test_image():
    """marathon-double-test:latest: FROM scratch + Debian's static busybox. Never pulls."""
    tmp = tempfile.mkdtemp(prefix="marathon-double-img-")
    try:
        shutil.copy("/bin/busybox", os.path.join(tmp, "busybox"))
        with open(os.path.join(tmp, "Dockerfile"), "w") as f:
            f.write('FROM scratch\nCOPY busybox /bin/busybox\n'
                    'RUN ["/bin/busybox","--install","-s","/bin"]\n'
                    'RUN mkdir -m 1777 /tmp\n')
        env = dict(os.environ, DOCKER_BUILDKIT="0")
        subprocess.run(["docker", "build", "-q", "--rm", "--force-rm", "-t", IMAGE, tmp],
                       check=True, env=env, capture_output=True)
        subprocess.run(["docker", "rmi", MISSING_IMAGE], capture_output=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return IMAGE


@pytest.fixture(scope="session")
def gw():
    return gateway()


@pytest.fixture(scope="session")
def double(test_image):
    d = Double("--task-delay", "0.2", "--sse-heartbeat", "0.5", "--port-range", "31000-31499")
    yield d
    rc = d.stop()
    assert rc == 0, d.stderr
    assert docker_containers(d.label) == [], "containers left behind by the double"


@pytest.fixture
def make_double(test_image):
    """Start extra doubles with their own flags; each is stopped and verified clean."""
    started = []

    def make(*args):
        d = Double(*args)
        started.append(d)
        return d
    yield make
    for d in started:
        rc = d.stop()
        assert rc == 0, d.stderr
        assert docker_containers(d.label) == []


@pytest.fixture
def apps(double):
    """Tracks app ids created by a test and force-deletes them afterwards."""
    created = []
    yield created
    for aid in created:
        double.delete(aid, wait=False)
    for aid in created:
        wait_for(lambda: double.app(aid) is None and not double.tasks(aid), 30,
                 what="cleanup of %s" % aid)
