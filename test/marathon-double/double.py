#!/usr/bin/python3
"""marathon-double: a TEST DOUBLE of Marathon's REST API v2 (it is not Marathon).

Runs every task as a real Docker container on the local engine. Behaviour follows
/work/shared/reference/marathon (see README.md next to this file for the map of
what comes from where and what is not implemented).

Python 3 stdlib + Debian's python3-jsonschema only.
"""
import argparse
import base64
import copy
import http.client
import http.server
import json
import math
import os
import queue
import re
import signal
import socket
import ssl
import sys
import threading
import time
import traceback
import urllib.parse
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import docker_api  # noqa: E402

TERMINAL = ("TASK_FINISHED", "TASK_FAILED", "TASK_KILLED", "TASK_LOST", "TASK_ERROR",
            "TASK_GONE", "TASK_DROPPED")
CONDITION = {"TASK_STAGING": "Staging", "TASK_STARTING": "Starting", "TASK_RUNNING": "Running",
             "TASK_KILLING": "Killing", "TASK_KILLED": "Killed", "TASK_FAILED": "Failed",
             "TASK_FINISHED": "Finished", "TASK_LOST": "Unreachable", "TASK_ERROR": "Error"}
AGENT_RUN_CHECKS = ("COMMAND", "MESOS_HTTP", "MESOS_HTTPS", "MESOS_TCP")


def log(*a):
    print("[marathon-double %s]" % time.strftime("%H:%M:%S"), *a, file=sys.stderr, flush=True)


def now_iso(t=None):
    t = time.time() if t is None else t
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".%03dZ" % int((t % 1) * 1000)


# ---------------------------------------------------------------------------
# Which Marathon the double imitates (--marathon-version; README "Versions")
# ---------------------------------------------------------------------------
DEFAULT_VERSION = (1, 10, 0)
FAILURE_STATES = ("TASK_FAILED", "TASK_ERROR", "TASK_LOST", "TASK_DROPPED", "TASK_GONE",
                  "TASK_GONE_BY_OPERATOR", "TASK_UNKNOWN")   # state/TaskFailure.scala:127-131


def parse_version(s):
    m = re.match(r"^(\d+)\.(\d+)(?:\.(\d+))?$", s or "")
    if not m:
        raise ValueError("want MAJOR.MINOR[.PATCH], e.g. 1.4 or 1.1.2")
    return (int(m.group(1)), int(m.group(2)), int(m.group(3) or 0))


def vge(*t):
    """True when the imitated Marathon is at least version t."""
    return S.ver >= t


def has_task_state():
    # api/v2/json/Formats.scala:124 @v1.1.2 (absent @v1.1.1); :113 @v0.15.4 (absent @v0.16.0-RC1)
    return vge(1, 1, 2) or (0, 15, 4) <= S.ver < (0, 16, 0)


def callbacks_served():
    # /v2/eventSubscriptions: up to 1.4 (removed in 1.5). The default mode keeps them: today's
    # callback-mode tests run against it (README "Versions").
    return S.default_mode or S.args.legacy or not vge(1, 5)


class Version:
    """Monotonic Marathon-style version timestamps (unique per call)."""
    _last = 0.0
    _lock = threading.Lock()

    @classmethod
    def new(cls):
        with cls._lock:
            t = max(time.time(), cls._last + 0.001)
            cls._last = t
            return now_iso(t)


# ---------------------------------------------------------------------------
# Validation (schema/AppDefinition.json + a few of Marathon's own rules)
# ---------------------------------------------------------------------------
class ApiError(Exception):
    def __init__(self, status, body, headers=None):
        super().__init__(status)
        self.status = status
        self.body = body
        self.headers = headers or {}


def _find_schema(path):
    for p in (path, os.path.join(HERE, "schema", "AppDefinition.json"),
              "/work/shared/reference/marathon/schema/AppDefinition.json"):
        if p and os.path.exists(p):
            return p
    raise SystemExit("marathon-double: cannot find AppDefinition.json (use --schema)")


class Validator:
    def __init__(self, schema_path):
        import jsonschema
        with open(schema_path) as f:
            self.schema = json.load(f)
        # The file says "$schema": "http://json-schema.org/schema#"; it is draft 4.
        self.v = jsonschema.Draft4Validator(self.schema)

    @staticmethod
    def _path(err):
        return "/" + "/".join(str(p) for p in err.absolute_path)

    @staticmethod
    def _fmt_num(n):
        return str(int(n)) if isinstance(n, float) and n.is_integer() else str(n)

    def check(self, defn, semantic=True):
        """Raise ApiError 400/422 the way Marathon shapes them."""
        if not isinstance(defn, dict):
            raise ApiError(400, {"message": "Invalid JSON", "details": [
                {"path": "/", "errors": ["error.expected.jsobject"]}]})
        type_errs, errs = [], []
        for e in self.v.iter_errors(defn):
            # descend into oneOf/anyOf context for better messages
            if e.validator == "type":
                t = e.validator_value
                t = t[0] if isinstance(t, list) else t
                t = {"integer": "number"}.get(t, t)
                type_errs.append((self._path(e), "error.expected.js" + t))
                continue
            v = e.validator
            if v == "maximum":
                msg = "is greater than %s" % self._fmt_num(e.validator_value)
            elif v == "minimum":
                msg = "is less than %s" % self._fmt_num(e.validator_value)
            elif v == "pattern":
                msg = "must fully match regular expression '%s'" % e.validator_value
            elif v == "enum":
                msg = "is not one of (%s)" % ",".join(str(x) for x in e.validator_value)
            elif v == "minLength" and e.validator_value == 1:
                msg = "must not be empty"
            elif v == "required":
                m = re.match(r"'([^']+)' is a required property", e.message)
                if m:
                    errs.append((self._path(e).rstrip("/") + "/" + m.group(1), "error.path.missing"))
                    continue
                msg = e.message
            elif v == "not" and list(e.absolute_path) == []:
                msg = "AppDefinition must either contain one of 'cmd' or 'args', and/or a 'container'."
            else:
                msg = e.message
            errs.append((self._path(e), msg))
        if type_errs:
            raise ApiError(400, {"message": "Invalid JSON", "details": _group(type_errs)})
        if semantic:
            errs += self._semantic(defn)
        if errs:
            raise ApiError(422, {"message": "Object is not valid", "details": _group(errs)})

    @staticmethod
    def _semantic(d):
        errs = []
        c = d.get("container") or {}
        if not d.get("cmd") and not d.get("args") and not c:
            errs.append(("/", "AppDefinition must either contain one of 'cmd' or 'args', "
                              "and/or a 'container'."))
        mode, maps = network_of(d)
        names = [m.get("name") for m in maps if m.get("name")]
        if len(names) != len(set(names)):
            errs.append(("/", "Port names must be unique."))
        nports = len(maps)
        if mode == "HOST" and "portDefinitions" not in d and "ports" not in d:
            nports = 1   # Marathon's default: one portDefinition {port: 0}
        for i, hc in enumerate(d.get("healthChecks") or []):
            proto = hc.get("protocol", "HTTP")
            if proto != "COMMAND" and "port" not in hc and hc.get("portIndex", 0) >= max(nports, 0) \
                    and not (nports == 0 and proto == "COMMAND"):
                errs.append(("/healthChecks(%d)" % i,
                             "Health check port indices must address an element of the ports "
                             "array or container port mappings."))
            if proto == "COMMAND" and not ((hc.get("command") or {}).get("value")):
                errs.append(("/healthChecks(%d)/command" % i, "error.path.missing"))
        return errs


def _group(pairs):
    out = {}
    for p, m in pairs:
        out.setdefault(p, [])
        if m not in out[p]:
            out[p].append(m)
    return [{"path": p, "errors": ms} for p, ms in out.items()]


def network_of(d):
    """(mode, mappings) where mode in BRIDGE/HOST/USER and mappings is a list of dicts
    with keys containerPort/hostPort/servicePort/name/protocol (host mode: derived from
    portDefinitions/ports)."""
    c = d.get("container") or {}
    dk = c.get("docker") or {}
    nets = d.get("networks")
    if nets:
        m = nets[0].get("mode", "container")
        mode = {"container/bridge": "BRIDGE", "host": "HOST", "container": "USER"}.get(m, "HOST")
    elif dk.get("network"):
        mode = {"BRIDGE": "BRIDGE", "HOST": "HOST", "USER": "USER", "NONE": "NONE"}[dk["network"]]
    else:
        mode = "HOST"
    if mode in ("BRIDGE", "USER"):
        maps = c.get("portMappings")
        if maps is None:
            maps = dk.get("portMappings")
        return mode, [dict(m) for m in (maps or [])]
    if mode == "NONE":
        return mode, []
    if d.get("portDefinitions") is not None:
        pd = d["portDefinitions"]
    elif d.get("ports") is not None:
        pd = [{"port": p} for p in d["ports"]]
    else:
        pd = []
    out = []
    for p in pd:
        m = {"name": p.get("name"), "protocol": p.get("protocol", "tcp"),
             "servicePort": p.get("port", 0), "containerPort": None}
        m["hostPort"] = p.get("port", 0) if d.get("requirePorts") else 0
        out.append(m)
    return mode, out


def norm_id(raw, base="/"):
    if raw is None:
        return None
    raw = str(raw)
    parts = [] if raw.startswith("/") else [p for p in base.split("/") if p]
    for seg in raw.split("/"):
        if seg in ("", "."):
            continue
        if seg == "..":
            if parts:
                parts.pop()
            continue
        parts.append(seg)
    return "/" + "/".join(parts)


ID_SEG = re.compile(r"^(([a-z0-9]|[a-z0-9][a-z0-9\-]*[a-z0-9])\.)*([a-z0-9]|[a-z0-9][a-z0-9\-]*[a-z0-9])$")


APP_DEFAULTS = {
    "cmd": None, "args": None, "user": None, "env": {}, "instances": 1, "cpus": 1.0,
    "mem": 128.0, "disk": 0.0, "gpus": 0, "executor": "", "constraints": [], "uris": [],
    "fetch": [], "backoffSeconds": 1, "backoffFactor": 1.15,
    "maxLaunchDelaySeconds": 3600, "container": None, "healthChecks": [],
    "readinessChecks": [], "dependencies": [],
    "upgradeStrategy": {"minimumHealthCapacity": 1, "maximumOverCapacity": 1},
    "labels": {}, "acceptedResourceRoles": None, "ipAddress": None, "residency": None,
    "secrets": {}, "taskKillGracePeriodSeconds": None, "requirePorts": False,
    "killSelection": "YOUNGEST_FIRST",
    "unreachableStrategy": {"inactiveAfterSeconds": 0, "expungeAfterSeconds": 0},
}
RUNTIME_KEYS = ("version", "versionInfo", "tasks", "tasksStaged", "tasksRunning", "tasksHealthy",
                "tasksUnhealthy", "deployments", "lastTaskFailure", "taskStats")


# ---------------------------------------------------------------------------
# State
# ---------------------------------------------------------------------------
class Task:
    def __init__(self, tid, app, mappings, instance_id=None):
        self.id = tid
        self.instance_id = instance_id or tid
        self.app_id = app.id
        self.version = app.version
        self.config_version = app.version_info["lastConfigChangeAt"]
        self.defn = copy.deepcopy(app.defn)
        self.mappings = mappings          # list of {hostPort|None, containerPort, effective, name,..}
        self.state = "TASK_STAGING"
        self.staged_at = now_iso()
        self.started_at = None
        self.started_t = None
        self.container_id = None
        self.ip = None
        self.killing = False
        self.terminal = False
        self.health = []                  # one dict per health check
        self.health_meta = []             # {"ever_ok": bool}
        self.stage_t = time.time()

    @property
    def ports(self):
        return [m["hostPort"] for m in self.mappings if m.get("hostPort") is not None]

    def alive(self):
        return not self.terminal and not self.killing

    def listed_unhealthy(self):
        """Some listed result is alive:false (a probe in the grace period counts: it is stored)."""
        return any(h.get("reported") and h.get("alive") is not True for h in self.health)

    def healthy(self):
        """True: every check alive; False: some check not alive; None: no result/no checks."""
        if not self.health:
            return None
        vals = [h.get("alive") for h in self.health]
        if any(v is False for v in vals):
            return False
        if all(v is True for v in vals):
            return True
        return None

    def ready(self):
        if self.state != "TASK_RUNNING" or self.killing:
            return False
        if self.defn.get("healthChecks"):
            return self.healthy() is True
        return True


class App:
    def __init__(self, aid, defn, version):
        self.id = aid
        self.defn = defn
        self.version = version
        self.version_info = {"lastScalingAt": version, "lastConfigChangeAt": version}
        self.tasks = {}
        self.deployment = None
        self.deleting = False
        self.failures = 0
        self.next_launch_at = 0.0
        self.last_task_failure = None
        self.versions = [(version, copy.deepcopy(defn))]
        self.launch_seq = 0


class Deployment:
    def __init__(self, app_id, action, original, target, version, steps):
        self.id = str(uuid.uuid4())
        self.app_id = app_id
        self.action = action
        self.original = original
        self.target = target
        self.version = version
        self.steps = steps              # list of action names, one per step
        self.current_step = 1
        self.done = False

    def steps_json(self):
        return [{"actions": [{"action": a, "app": self.app_id}]} for a in self.steps]

    def to_json(self):
        return {"id": self.id, "version": self.version, "affectedApps": [self.app_id],
                "affectedPods": [], "steps": self.steps_json(),
                "currentActions": [{"action": self.steps[self.current_step - 1],
                                    "app": self.app_id, "readinessCheckResults": []}],
                "currentStep": self.current_step, "totalSteps": len(self.steps)}

    def plan(self):
        def group(defn):
            return {"id": "/", "apps": [defn] if defn else [], "groups": [], "pods": [],
                    "dependencies": [], "version": self.version}
        return {"id": self.id, "version": self.version, "original": group(self.original),
                "target": group(self.target), "steps": self.steps_json()}


class SseStream:
    def __init__(self, types, maxq, remote, sock):
        self.types = set(types)
        self.q = queue.Queue()
        self.maxq = maxq
        self.closed = threading.Event()
        self.remote = remote
        self.sock = sock

    def close(self):
        """Close now, even if the writer is blocked on a full socket."""
        self.closed.set()
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def offer(self, etype, data):
        if self.closed.is_set() or (self.types and etype not in self.types):
            return
        if self.q.qsize() >= self.maxq:
            # Marathon closes slow consumers instead of dropping single events.
            log("closing slow SSE consumer %s (%d events outstanding)" % (self.remote, self.maxq))
            self.close()
            return
        self.q.put((etype, data))


class Callback:
    """One subscriber. Like Marathon's HttpEventActor (core/event/impl/callback/
    HttpEventActor.scala:32-39,99-144 @v1.4.0): a non-2xx answer, a failed POST, or an answer slower
    than --callback-slow-timeout (Marathon's --http_event_callback_slow_consumer_timeout, 10 s,
    core/event/EventConf.scala:28-32 @v1.4.0) puts the URL into backoff for 2^n s (n = failures in
    a row); events published meanwhile are skipped, not queued. A timely 2xx resets n."""

    def __init__(self, url):
        self.url = url
        self.q = queue.Queue()
        self.stop = threading.Event()
        self.failures = 0
        self.backoff_until = 0.0
        self.skipped = 0
        threading.Thread(target=self._run, daemon=True, name="callback").start()

    def offer(self, body, etype):
        """S.lock held."""
        if time.time() < self.backoff_until:
            self.skipped += 1
            log("callback %s in backoff: %s skipped" % (self.url, etype))
            return
        self.q.put(body)

    def _done(self, ok):
        with S.lock:
            if ok:
                self.failures = 0
                self.backoff_until = 0.0
            else:
                self.failures += 1
                self.backoff_until = time.time() + 2.0 ** self.failures

    def _run(self):
        slow = S.args.callback_slow_timeout
        while not self.stop.is_set():
            try:
                body = self.q.get(timeout=0.5)
            except queue.Empty:
                continue
            t0 = time.time()
            ok = False
            try:
                u = urllib.parse.urlsplit(self.url if "://" in self.url else "http://" + self.url)
                conn_cls = http.client.HTTPSConnection if u.scheme == "https" else http.client.HTTPConnection
                kw = {"context": ssl._create_unverified_context()} if u.scheme == "https" else {}
                conn = conn_cls(u.hostname, u.port, timeout=slow + 5, **kw)
                path = u.path or "/"
                if u.query:
                    path += "?" + u.query
                conn.request("POST", path, body=body,
                             headers={"Content-Type": "application/json",
                                      "Accept": "application/json"})
                r = conn.getresponse()
                r.read()
                conn.close()
                ok = 200 <= r.status < 300 and time.time() - t0 < slow
                if not ok:
                    log("callback %s: HTTP %d after %.1f s: backoff" % (self.url, r.status,
                                                                       time.time() - t0))
            except Exception as e:  # a dead callback never blocks others
                log("callback %s failed: %s" % (self.url, e))
            self._done(ok)


class State:
    def __init__(self, args):
        self.args = args
        self.lock = threading.RLock()
        self.apps = {}
        self.deployments = {}
        self.streams = []
        self.callbacks = {}
        self.lose = {}                    # eventType -> count to drop
        self.faults = {"delay_ms": 0, "delay_path": None, "fail_next": 0, "fail_status": 503,
                       "fail_path": None, "down_until": 0.0, "empty_apps": 0,
                       "max_running_deployments": None, "fail_until": 0.0,
                       "lose_until": 0.0}
        self.conns = set()                # every open client connection (the restart fault)
        self.urls = []                    # listener base URLs: [primary] or [primary, standby]
        self.leader = 0                   # which listener leads (the failover fault swaps it)
        self.stopping = False
        self.inflight = 0                 # docker creates in flight
        self.used_ports = set()
        self.used_service_ports = set()
        self.next_port = args.port_lo
        self.next_service_port = 10000
        self.run_id = uuid.uuid4().hex[:8]
        self.slave_id = "marathon-double-%s-S0" % self.run_id
        self.docker = docker_api.Docker(args.docker_socket)
        self.host = args.host_address or docker_api.interface_ipv4("docker0") \
            or self.docker.bridge_gateway() or "172.17.0.1"
        self.validator = Validator(_find_schema(args.schema))
        self.base_url = None
        self.ver = args.ver
        self.default_mode = args.default_mode

    def leader_url(self):
        return self.urls[self.leader] if self.urls else self.base_url

    # -- events ----------------------------------------------------------
    def emit(self, etype, fields):
        ev = dict(fields)
        ev["eventType"] = etype
        ev["timestamp"] = now_iso()
        with self.lock:
            n = self.lose.get(etype, 0)
            if n > 0:
                self.lose[etype] = n - 1
                log("fault: lost event", etype)
                return
            if time.time() < self.faults["lose_until"]:
                log("fault: lost event (lose_events_ms)", etype)
                return
            data = json.dumps(ev, separators=(",", ":"))
            for s in list(self.streams):
                s.offer(etype, data)
            for cb in self.callbacks.values():
                cb.offer(data.encode(), etype)

    def status_event(self, t, msg=""):
        ev = {"slaveId": self.slave_id, "taskId": t.id, "taskStatus": t.state, "message": msg,
              "appId": t.app_id, "host": self.host,
              "ipAddresses": [{"ipAddress": t.ip or self.host, "protocol": "IPv4"}],
              "ports": t.ports, "version": t.version}
        self.emit("status_update_event", ev)
        if vge(1, 4):  # instances arrived in 1.4 (core/instance/Instance.scala @v1.4.0)
            self.emit("instance_changed_event", {
                "instanceId": t.instance_id, "condition": CONDITION.get(t.state, "Unknown"),
                "runSpecId": t.app_id, "agentId": self.slave_id, "host": self.host,
                "runSpecVersion": t.version})

    # -- ports -----------------------------------------------------------
    def _port_free(self, p):
        if p in self.used_ports:
            return False
        s = socket.socket()
        try:
            s.bind((self.host, p))
            return True
        except OSError:
            return False
        finally:
            s.close()

    def alloc_ports(self, reqs):
        """reqs: list of hostPort requests (0 dynamic, n fixed, None none). Returns list or None."""
        out, taken = [], set()
        for r in reqs:
            if r is None:
                out.append(None)
                continue
            if r:
                if r in taken or not self._port_free(r):
                    return None
                out.append(r)
                taken.add(r)
                continue
            lo, hi = self.args.port_lo, self.args.port_hi
            span = hi - lo + 1
            got = None
            for i in range(span):
                p = lo + (self.next_port - lo + i) % span
                if p not in taken and self._port_free(p):
                    got = p
                    self.next_port = lo + (p - lo + 1) % span
                    break
            if got is None:
                return None
            out.append(got)
            taken.add(got)
        self.used_ports |= taken
        return out

    def service_port(self):
        while self.next_service_port in self.used_service_ports:
            self.next_service_port += 1
        p = self.next_service_port
        self.used_service_ports.add(p)
        self.next_service_port += 1
        return p


S = None  # the State


# ---------------------------------------------------------------------------
# Task runtime (real containers)
# ---------------------------------------------------------------------------
def app_json(app, embed_tasks=False, embed_failure=False):
    d = copy.deepcopy(app.defn)
    d["id"] = app.id
    d["version"] = app.version
    d["versionInfo"] = dict(app.version_info)
    tasks = [t for t in app.tasks.values() if not t.terminal]
    if vge(0, 8):  # api/v2/AppsResource.scala:269 @v0.8.0; none @v0.7.0
        d["tasksStaged"] = sum(1 for t in tasks if t.state in ("TASK_STAGING", "TASK_STARTING"))
        d["tasksRunning"] = sum(1 for t in tasks if t.state == "TASK_RUNNING")
    if vge(0, 9):  # api/v2/AppsResource.scala:324 @v0.9.0
        d["tasksHealthy"] = sum(1 for t in tasks
                                if t.state == "TASK_RUNNING" and t.healthy() is True)
        d["tasksUnhealthy"] = sum(1 for t in tasks if t.listed_unhealthy())
    d["deployments"] = [{"id": app.deployment.id}] if app.deployment else []
    if embed_tasks:
        d["tasks"] = [task_json(t) for t in sorted(tasks, key=lambda t: t.stage_t)]
    if embed_failure and app.last_task_failure:
        d["lastTaskFailure"] = app.last_task_failure
    return d


def task_json(t):
    """The task as the imitated version wrote it: appId, id, host, ports, startedAt, stagedAt,
    version, healthCheckResults (api/v2/json/MarathonModule.scala:138-145,157-165 @v0.7.0)
    + servicePorts (Formats.scala:68-95 @v0.8.0); slaveId from 0.11 (Formats.scala:78 @v0.11.0); ipAddresses from
    0.14 (Formats.scala:108 @v0.14.0); state from 1.1.2 (Formats.scala:124 @v1.1.2)."""
    j = {"id": t.id, "host": S.host, "ports": t.ports, "startedAt": t.started_at,
         "stagedAt": t.staged_at, "version": t.version, "appId": t.app_id}
    if vge(0, 8):
        j["servicePorts"] = [m.get("servicePort") for m in t.mappings if m.get("servicePort")]
    if vge(0, 11):
        j["slaveId"] = S.slave_id
    if vge(0, 14):
        j["ipAddresses"] = [{"ipAddress": t.ip or S.host, "protocol": "IPv4"}]
    if has_task_state():
        j["state"] = t.state
    if vge(1, 1):
        j["localVolumes"] = []
    if t.defn.get("healthChecks"):
        # a probe that failed in the grace period is stored unchanged: alive false until the first
        # success (core/health/impl/HealthCheckActor.scala:145-186, core/health/Health.scala:16-19
        # @v1.10.26)
        idk = "instanceId" if vge(1, 4) else "taskId"
        res = []
        for h in t.health:
            if h.get("reported"):
                r = {k: v for k, v in h.items() if k not in ("reported", "instanceId")}
                r["alive"] = h.get("alive") is True
                r[idk] = t.instance_id if vge(1, 4) else t.id
                res.append(r)
        j["healthCheckResults"] = res
    return j


def new_task_id(app):
    """(task id, instance id). The app path is joined with '_' (state/PathId.scala:51-54
    @v0.7.0, :85-88 @v1.10.26). Before 1.4 a task id is <path>.<uuid> (tasks/TaskIDUtil.scala:17-18
    @v0.7.0). 1.4-1.7 keep that task id for apps and derive the instance id <path>.marathon-<uuid>
    (core/task/Task.scala:145-151,158-161 @v1.4.0). From 1.8 an app task belongs to an instance
    <path>.instance-<uuid> and is <instance>._app.<incarnation> (core/launcher/impl/
    InstanceOpFactoryImpl.scala:134-135 @v1.8.222; core/task/Task.scala:297-309,370-371 @v1.10.26;
    core/instance/Instance.scala:359 @v1.10.26)."""
    safe = app.id.strip("/").replace("/", "_")
    u = str(uuid.uuid1())
    if vge(1, 8):
        iid = "%s.instance-%s" % (safe, u)
        return iid + "._app.1", iid
    if vge(1, 4):
        return "%s.%s" % (safe, u), "%s.marathon-%s" % (safe, u)
    return "%s.%s" % (safe, u), None


def build_env(t, app_defn, mode):
    env = {}
    prefix = S.args.env_prefix or ""
    eff = [m["effective"] for m in t.mappings]
    penv = {}
    for i, m in enumerate(t.mappings):
        penv["PORT%d" % i] = str(m["effective"])
        req = m.get("containerPort") if mode in ("BRIDGE", "USER") else m.get("servicePort")
        penv["PORT_%d" % (req if req else m["effective"])] = str(m["effective"])
        if m.get("name"):
            penv["PORT_" + m["name"].upper()] = str(m["effective"])
    if eff:
        penv["PORT"] = str(eff[0])
        penv["PORTS"] = ",".join(str(p) for p in eff)
    penv["HOST"] = S.host
    for k, v in penv.items():
        env[prefix + k] = v
    env["MESOS_TASK_ID"] = t.id
    env["MESOS_SANDBOX"] = "/mnt/mesos/sandbox"
    env["MARATHON_APP_ID"] = t.app_id
    env["MARATHON_APP_VERSION"] = t.version
    img = ((app_defn.get("container") or {}).get("docker") or {}).get("image")
    if img:
        env["MARATHON_APP_DOCKER_IMAGE"] = img
    env["MARATHON_APP_RESOURCE_CPUS"] = str(float(app_defn.get("cpus", 1)))
    env["MARATHON_APP_RESOURCE_MEM"] = str(float(app_defn.get("mem", 128)))
    env["MARATHON_APP_RESOURCE_DISK"] = str(float(app_defn.get("disk", 0)))
    env["MARATHON_APP_RESOURCE_GPUS"] = str(int(app_defn.get("gpus", 0)))
    labels = {k: v for k, v in (app_defn.get("labels") or {}).items()
              if len(k) <= 512 and len(v) <= 512}
    env["MARATHON_APP_LABELS"] = " ".join(re.sub(r"[^A-Za-z0-9_]", "_", k) for k in labels)
    for k, v in labels.items():
        env["MARATHON_APP_LABEL_" + re.sub(r"[^A-Za-z0-9_]", "_", k).upper()] = v
    for k, v in (app_defn.get("env") or {}).items():
        if isinstance(v, str):
            env[k] = v
    return env


def plan_mappings(app):
    """Port requests for a new task of app: list of mapping dicts + hostPort request."""
    mode, maps = network_of(app.defn)
    reqs, out = [], []
    for m in maps:
        hp = m.get("hostPort")
        if mode == "BRIDGE":
            hp = hp or 0
        elif mode == "USER":
            hp = hp if "hostPort" in m and m.get("hostPort") is not None else None
        reqs.append(hp)
        out.append({"name": m.get("name"), "containerPort": m.get("containerPort", 0),
                     "protocol": m.get("protocol") or "tcp",
                     "servicePort": m.get("servicePort")})
    return mode, out, reqs


def launch(app):
    """Stage one new task of app (called with S.lock held). Returns Task or None."""
    mode, maps, reqs = plan_mappings(app)
    ports = S.alloc_ports(reqs)
    if ports is None:
        return None  # no "offer" with those ports: stay queued, as Marathon does
    for m, hp in zip(maps, ports):
        m["hostPort"] = hp
        if mode in ("BRIDGE", "USER"):
            cp = m["containerPort"] or 0
            if not cp and hp:
                cp = hp
            elif not cp:
                cp = S.alloc_ports([0])[0]  # "random" port for USER mode without hostPort
            m["containerPort"] = cp
            m["effective"] = hp if hp is not None else cp
        else:
            m["effective"] = hp
    tid, iid = new_task_id(app)
    t = Task(tid, app, maps, iid)
    t.mode = mode
    if app.defn.get("healthChecks"):
        t.health = [{"alive": None, "consecutiveFailures": 0, "firstSuccess": None,
                     "lastSuccess": None, "lastFailure": None, "lastFailureCause": None,
                     "reported": False} for _ in app.defn["healthChecks"]]
        t.health_meta = [{"ever_ok": False} for _ in app.defn["healthChecks"]]
    app.tasks[t.id] = t
    app.launch_seq += 1
    S.status_event(t)
    S.inflight += 1
    threading.Thread(target=_start_task, args=(t,), daemon=True, name="start-" + t.id).start()
    return t


def _container_config(t):
    d = t.defn
    c = d.get("container") or {}
    dk = c.get("docker") or {}
    image = dk.get("image") or S.args.default_image
    if not image:
        raise RuntimeError("app has no container.docker.image and the double has no "
                           "--default-image to run a plain command in")
    env = build_env(t, d, t.mode)
    cfg = {"Image": image, "Env": ["%s=%s" % kv for kv in env.items()],
           "Labels": {"marathon-double.instance": S.run_id, "marathon-double.task": t.id,
                      "marathon-double.app": t.app_id},
           "HostConfig": {}}
    hc = cfg["HostConfig"]
    if d.get("cmd"):
        cfg["Entrypoint"] = ["/bin/sh", "-c"]
        cfg["Cmd"] = [d["cmd"]]
    elif d.get("args"):
        cfg["Cmd"] = list(d["args"])
    if not S.args.no_limits:
        if d.get("cpus"):
            hc["NanoCpus"] = int(float(d["cpus"]) * 1e9)
        if d.get("mem"):
            hc["Memory"] = max(int(float(d["mem"]) * 1024 * 1024), 8 * 1024 * 1024)
    if t.mode == "HOST" or not dk.get("image"):
        hc["NetworkMode"] = "host"
    elif t.mode == "NONE":
        hc["NetworkMode"] = "none"
    else:
        hc["NetworkMode"] = "bridge"
        exposed, bindings = {}, {}
        for m in t.mappings:
            for proto in (m.get("protocol") or "tcp").split(","):
                key = "%d/%s" % (m["containerPort"], proto.strip())
                exposed[key] = {}
                if m.get("hostPort") is not None:
                    bindings.setdefault(key, []).append(
                        {"HostIp": S.host, "HostPort": str(m["hostPort"])})
        cfg["ExposedPorts"] = exposed
        hc["PortBindings"] = bindings
    if dk.get("privileged"):
        hc["Privileged"] = True
    return image, cfg


def _start_task(t):
    err = None
    cid = None
    try:
        time.sleep(S.args.task_delay)
        with S.lock:
            abort = t.killing or S.stopping
        if not abort:
            image, cfg = _container_config(t)
            if not S.docker.image_exists(image):
                raise RuntimeError("Failed to launch container: image '%s' is not present on the "
                                   "local engine (marathon-double never pulls)" % image)
            name = "marathon-double-%s-%s" % (S.run_id, t.id)
            cid = S.docker.create(name, cfg)
            with S.lock:
                t.container_id = cid
            S.docker.start(cid)
            info = S.docker.inspect(cid)
            t.ip = (info.get("NetworkSettings") or {}).get("IPAddress") or S.host
    except Exception as e:
        err = str(e) if isinstance(e, RuntimeError) else "Failed to launch container: %s" % e
    with S.lock:
        S.inflight -= 1
        killed = t.killing or S.stopping
        if killed:
            pass  # killed while staging (or being killed right now): finish as KILLED below
        elif err is not None:
            _finish(t, "TASK_FAILED", err, failure=True)
        else:
            t.state = "TASK_RUNNING"
            t.started_at = now_iso()
            t.started_t = time.time()
            S.status_event(t)
            threading.Thread(target=_wait_task, args=(t,), daemon=True).start()
            for i, hc in enumerate(t.defn.get("healthChecks") or []):
                threading.Thread(target=_health_loop, args=(t, i, hc), daemon=True).start()
            return
    if cid:
        _rm(cid)
    if killed:
        with S.lock:
            _finish(t, "TASK_KILLED", "")


def _rm(cid):
    try:
        S.docker.remove(cid, force=True)
    except Exception as e:
        log("remove %s: %s" % (cid[:12], e))


def _finish(t, state, msg, failure=False):
    """Terminal transition (S.lock held). Idempotent."""
    if t.terminal:
        return
    t.terminal = True
    t.state = state
    S.status_event(t, msg)
    app = S.apps.get(t.app_id)
    for m in t.mappings:
        S.used_ports.discard(m.get("hostPort"))
        if t.mode == "USER" and m.get("hostPort") is None:
            S.used_ports.discard(m.get("containerPort"))
    if app is None:
        return
    app.tasks.pop(t.id, None)
    if failure:
        # lastTaskFailure records FAILED, ERROR, LOST, ... but never FINISHED
        # (state/TaskFailure.scala:127-131 @v1.10.26; :82-86 @v0.8.0); the launch backoff does
        # apply to FINISHED (core/task/update/impl/steps/NotifyRateLimiterStepImpl.scala:87-89)
        if state in FAILURE_STATES:
            app.last_task_failure = {"appId": t.app_id, "host": S.host, "message": msg,
                                     "state": state, "taskId": t.id, "slaveId": S.slave_id,
                                     "timestamp": now_iso(), "version": t.version}
            if vge(1, 4):
                app.last_task_failure["instanceId"] = t.instance_id
        app.failures += 1
        d = app.defn
        delay = min(float(d.get("backoffSeconds", 1)) *
                    float(d.get("backoffFactor", 1.15)) ** (app.failures - 1),
                    float(d.get("maxLaunchDelaySeconds", 3600)))
        app.next_launch_at = time.time() + delay


def _wait_task(t):
    try:
        code = S.docker.wait(t.container_id)
    except Exception as e:
        code = None
        log("wait %s: %s" % (t.id, e))
    with S.lock:
        if t.killing or t.terminal or S.stopping:
            return
        if code == 0:
            _finish(t, "TASK_FINISHED", "Container exited with status 0", failure=True)
        else:
            _finish(t, "TASK_FAILED", "Container exited with status %s" % code, failure=True)
    _rm(t.container_id)


def kill(t, reason=""):
    """Start killing a task (S.lock held)."""
    if t.killing or t.terminal:
        return
    t.killing = True
    if t.container_id is None:
        return  # staging: _start_task finishes the kill
    # TASK_KILLING only with --enable_features task_killing (Features.scala:9 and
    # MarathonSchedulerDriver.scala:68-69 @v1.1.0; :70-71 @v1.10.26); off by default
    if S.args.task_killing and vge(1, 1):
        t.state = "TASK_KILLING"
        S.status_event(t, reason)
    threading.Thread(target=_kill_thread, args=(t, reason), daemon=True).start()


def _kill_thread(t, reason):
    grace = t.defn.get("taskKillGracePeriodSeconds")
    if grace is None:
        grace = S.args.kill_grace
    try:
        S.docker.stop(t.container_id, t=grace)
    except Exception as e:
        log("stop %s: %s" % (t.id, e))
    _rm(t.container_id)
    with S.lock:
        _finish(t, "TASK_KILLED", reason)


# -- health checks ------------------------------------------------------------
def _probe(t, hc):
    proto = hc.get("protocol", "HTTP")
    timeout = max(float(hc.get("timeoutSeconds", 20)), 0.2)
    if proto == "COMMAND":
        code, out = S.docker.exec_run(t.container_id, ["/bin/sh", "-c", hc["command"]["value"]],
                                      timeout=timeout + 5)
        return (code == 0), "Command exited with status %s" % code
    if "port" in hc and hc["port"]:
        host, port = S.host, hc["port"]
    else:
        m = t.mappings[hc.get("portIndex", 0)]
        if m.get("hostPort") is not None:
            host, port = S.host, m["hostPort"]
        else:
            host, port = t.ip, m["containerPort"]
    if proto in ("TCP", "MESOS_TCP"):
        try:
            socket.create_connection((host, port), timeout=timeout).close()
            return True, ""
        except OSError as e:
            return False, "ConnectException: %s" % e
    try:
        if proto in ("HTTPS", "MESOS_HTTPS"):
            conn = http.client.HTTPSConnection(host, port, timeout=timeout,
                                               context=ssl._create_unverified_context())
        else:
            conn = http.client.HTTPConnection(host, port, timeout=timeout)
        conn.request("GET", hc.get("path") or "/")
        r = conn.getresponse()
        r.read()
        conn.close()
        ok = 200 <= r.status < 400 or (hc.get("ignoreHttp1xx") and 100 <= r.status < 200)
        return ok, "" if ok else "%d %s" % (r.status, r.reason)
    except Exception as e:
        return False, "%s: %s" % (type(e).__name__, e)


def _health_loop(t, i, hc):
    interval = float(hc.get("intervalSeconds", 60)) or 0.5
    grace = float(hc.get("gracePeriodSeconds", 300))
    maxf = int(hc.get("maxConsecutiveFailures", 3))
    proto = hc.get("protocol", "HTTP")
    time.sleep(min(0.2, interval))
    while True:
        with S.lock:
            if not t.alive() or S.stopping:
                return
        try:
            ok, cause = _probe(t, hc)
        except Exception as e:
            ok, cause = False, str(e)
        with S.lock:
            if not t.alive() or S.stopping:
                return
            h, meta = t.health[i], t.health_meta[i]
            now = now_iso()
            app_ver = t.version
            h["reported"] = True   # stored even when ignored (HealthCheckActor.scala:179-186)
            was_alive = h["alive"] is True
            if ok:
                h["consecutiveFailures"] = 0
                h["lastSuccess"] = now
                if not h["firstSuccess"]:
                    h["firstSuccess"] = now
                meta["ever_ok"] = True
                h["alive"] = True
                if not was_alive:
                    _health_changed(t, True)
            else:
                in_grace = not meta["ever_ok"] and time.time() - t.started_t < grace
                if not in_grace:
                    h["consecutiveFailures"] += 1
                    h["lastFailure"] = now
                    h["lastFailureCause"] = cause
                    S.emit("failed_health_check_event", {
                        "appId": t.app_id, "taskId": t.instance_id if vge(1, 4) else t.id,
                        "healthCheck": hc})
                    h["alive"] = False
                    if was_alive:   # Health.alive was false before the first success
                        _health_changed(t, False)
                    limit = maxf if maxf > 0 else (1 if proto in AGENT_RUN_CHECKS else 0)
                    if limit and h["consecutiveFailures"] >= limit:
                        _unhealthy_kill_event(t, app_ver, cause)
                        kill(t, "Task was killed since health check failed. Reason: %s" % cause)
                        return
        time.sleep(interval)


def _health_changed(t, alive):
    # taskId up to 1.3 (core/event/Events.scala:103-107 @v1.3.0; event/Events.scala:105-107
    # @v0.7.0), instanceId from 1.4 (core/event/Events.scala:129-131 @v1.4.0)
    ev = {"appId": t.app_id, "version": t.version, "alive": alive}
    if S.args.legacy or not vge(1, 4):
        ev["taskId"] = t.id
    else:
        ev["instanceId"] = t.instance_id
    S.emit("health_status_changed_event", ev)


def _unhealthy_kill_event(t, version, cause):
    # unhealthy_instance_kill_event from 1.4 (core/event/Events.scala:143-151 @v1.4.0);
    # unhealthy_task_kill_event in 1.0-1.3 (event/Events.scala:162 @v1.0.0-RC1,
    # core/event/Events.scala:112-119 @v1.3.0); none before 1.0 (absent @v0.16.0-RC1)
    ev = {"appId": t.app_id, "taskId": t.id, "version": version,
          "reason": cause or "health check failed", "host": S.host, "slaveId": S.slave_id}
    if vge(1, 4):
        ev["instanceId"] = t.instance_id
        S.emit("unhealthy_instance_kill_event", ev)
    elif vge(1, 0):
        S.emit("unhealthy_task_kill_event", ev)


# ---------------------------------------------------------------------------
# Supervisor: deployments, scaling, relaunch
# ---------------------------------------------------------------------------
def supervisor():
    while True:
        time.sleep(0.1)
        with S.lock:
            if S.stopping:
                return
            for app in list(S.apps.values()):
                try:
                    _tick(app)
                except Exception:
                    log("supervisor error\n" + traceback.format_exc())


def _can_launch(app):
    return time.time() >= app.next_launch_at


def _youngest_first(tasks, app):
    key = (lambda t: t.stage_t)
    rev = app.defn.get("killSelection", "YOUNGEST_FIRST") != "OLDEST_FIRST"
    # not-yet-running tasks go first either way
    return sorted(tasks, key=lambda t: (t.state == "TASK_RUNNING", -key(t) if rev else key(t)))


def _tick(app):
    dep = app.deployment
    alive = [t for t in app.tasks.values() if t.alive()]
    n = int(app.defn.get("instances", 1))
    if dep is None:
        if not app.deleting and len(alive) < n and _can_launch(app):
            for _ in range(n - len(alive)):
                if launch(app) is None:
                    break
        return
    if dep.action == "StopApplication":
        for t in alive:
            kill(t, "Task was killed since its app was deleted")
        if not app.tasks:
            S.apps.pop(app.id, None)
            for hc in app.defn.get("healthChecks") or []:
                S.emit("remove_health_check_event", {"appId": app.id, "healthCheck": hc})
            _complete(dep)
            S.emit("app_terminated_event", {"appId": app.id})
        return
    if dep.steps[0] == "StartApplication" and dep.current_step == 1:
        _step_done(dep, 0)          # the app is "started" (stored); scaling is step 2
        dep.current_step = 2
    cur = app.version_info["lastConfigChangeAt"]
    old = [t for t in alive if t.config_version != cur]
    new = [t for t in alive if t.config_version == cur]
    killing = [t for t in app.tasks.values() if t.killing and not t.terminal]
    if old:
        us = app.defn.get("upgradeStrategy") or {}
        mhc = float(us.get("minimumHealthCapacity", 1))
        moc = float(us.get("maximumOverCapacity", 1))
        min_healthy = math.ceil(n * mhc)
        max_total = n + math.floor(n * moc)
        if min_healthy == max_total and max_total <= len(old) + len(new):
            # "Allow temporary over-capacity of one instance to allow restarting": start one
            # extra instance first (core/deployment/impl/TaskReplaceActor.scala:351-366
            # @v1.10.26; upgrade/TaskReplaceActor.scala:193-208 @v1.4.0, :30-41 @v0.8.0)
            max_total += 1
        ready_new = sum(1 for t in new if t.ready())
        ready_old = sum(1 for t in old if t.ready())
        for t in _youngest_first(old, app):
            r = 1 if t.ready() else 0
            if ready_old + ready_new - r >= min_healthy or len(old) + len(new) > max_total:
                kill(t, "Task was killed since its app was upgraded")
                ready_old -= r
                old.remove(t)
        while len(new) < n and len(old) + len(new) < max_total and _can_launch(app):
            t = launch(app)
            if t is None:
                break
            new.append(t)
        # no "make room" kill: when the extra instance cannot start (a fixed host port, a
        # UNIQUE constraint), the deployment waits, as Marathon's does
        return
    # scaling (or finishing an upgrade)
    if len(new) > n:
        for t in _youngest_first(new, app)[:len(new) - n]:
            kill(t, "Task was killed since its app was scaled down")
        return
    if len(new) < n and _can_launch(app):
        for _ in range(n - len(new)):
            if launch(app) is None:
                break
        return
    if len(new) == n and all(t.ready() for t in new) and not killing:
        _complete(dep)


def _complete(dep, failed=False, reason=None):
    app = S.apps.get(dep.app_id)
    if app is not None and app.deployment is dep:
        app.deployment = None
    S.deployments.pop(dep.id, None)
    if dep.done:
        return
    dep.done = True
    if failed:
        ev = {"id": dep.id, "plan": dep.plan()}
        if reason:
            ev["reason"] = reason
        S.emit("deployment_failed", ev)
        return
    for i in range(dep.current_step - 1, len(dep.steps)):
        _step_done(dep, i)
    S.emit("deployment_success", {"id": dep.id, "plan": dep.plan()})


def _step_done(dep, i):
    a = dep.steps[i]
    dep.current_step = i + 1
    S.emit("deployment_step_success", {"plan": dep.plan(), "currentStep": {
        "actions": [{"action": a, "type": a, "app": dep.app_id}]}})


def start_deployment(app, action, original, steps):
    """S.lock held. Cancels nothing: callers check locks/force first."""
    dep = Deployment(app.id, action, original, None if action == "StopApplication"
                     else _public_defn(app), app.version, steps)
    S.deployments[dep.id] = dep
    app.deployment = dep
    S.emit("deployment_info", {"plan": dep.plan(), "currentStep": {
        "actions": [{"action": steps[0], "type": steps[0], "app": app.id}]}})
    return dep


def _public_defn(app):
    d = copy.deepcopy(app.defn)
    d["id"] = app.id
    d["version"] = app.version
    return d


# ---------------------------------------------------------------------------
# App create / update logic
# ---------------------------------------------------------------------------
def fill_defaults(d):
    out = copy.deepcopy(APP_DEFAULTS)
    out.update(copy.deepcopy(d))
    us = dict(APP_DEFAULTS["upgradeStrategy"])
    us.update(d.get("upgradeStrategy") or {})
    out["upgradeStrategy"] = us
    mode, _ = network_of(out)
    if mode == "HOST" and "portDefinitions" not in d and "ports" not in d:
        out["portDefinitions"] = [{"port": 0, "protocol": "tcp"}]
    return out


def shape_defn(d):
    """Drop what the imitated version did not know; its JSON readers ignore unknown fields
    (@JsonIgnoreProperties(ignoreUnknown = true), state/AppDefinition.scala:22 @v0.7.0)."""
    if not vge(0, 8):  # labels arrived in 0.8 (state/AppDefinition.scala:73 @v0.8.0)
        d.pop("labels", None)
    if not vge(0, 16):
        # PortMapping had containerPort, hostPort, servicePort, protocol only
        # (state/Container.scala:169-173 @v0.15.0); name and labels from 0.16
        # (state/Container.scala:42-48 @v0.16.0-RC1)
        c = d.get("container") or {}
        for lst in (c.get("portMappings"), (c.get("docker") or {}).get("portMappings")):
            for m in lst or []:
                m.pop("name", None)
                m.pop("labels", None)
    return d


def assign_service_ports(d):
    c = d.get("container") or {}
    for lst in (c.get("portMappings"), (c.get("docker") or {}).get("portMappings")):
        for m in lst or []:
            if not m.get("servicePort"):
                m["servicePort"] = S.service_port()
            else:
                S.used_service_ports.add(m["servicePort"])
    for p in d.get("portDefinitions") or []:
        if not p.get("port") and not d.get("requirePorts"):
            p["port"] = S.service_port()
    if d.get("ports"):
        d["ports"] = [p or S.service_port() for p in d["ports"]]


def _lock_error(app):
    dep = app.deployment
    return ApiError(409, {
        "message": "App is locked by one or more deployments. Override with the option "
                   "'?force=true'. View details at '/v2/deployments/%s'." % dep.id,
        "deployments": [{"id": dep.id}]})


def _check_lock(app, force):
    if app.deployment is None:
        return
    if not force:
        raise _lock_error(app)
    _complete(app.deployment, failed=True, reason="canceled by a forced change")


def _diff_health_events(app_id, old, new, version):
    olds = old.get("healthChecks") or [] if old else []
    news = new.get("healthChecks") or []
    for hc in olds:
        if hc not in news:
            S.emit("remove_health_check_event", {"appId": app_id, "healthCheck": hc})
    for hc in news:
        if hc not in olds:
            S.emit("add_health_check_event", {"appId": app_id, "healthCheck": hc,
                                              "version": version})


def create_app(body, client_ip, uri):
    S.validator.check(body)
    aid = norm_id(body.get("id"))
    body = dict(body)
    body["id"] = aid
    for seg in aid.strip("/").split("/"):
        if not ID_SEG.match(seg):
            raise ApiError(422, {"message": "Object is not valid", "details": [
                {"path": "/id", "errors": ["must fully match regular expression '%s'"
                                           % ID_SEG.pattern]}]})
    with S.lock:
        if aid in S.apps and S.apps[aid].deleting and S.apps[aid].deployment:
            raise _lock_error(S.apps[aid])
        if aid in S.apps:
            raise ApiError(409, {"message": "An app with id [%s] already exists." % aid})
        defn = shape_defn(fill_defaults({k: v for k, v in body.items() if k not in RUNTIME_KEYS}))
        defn.pop("id", None)
        assign_service_ports(defn)
        app = App(aid, defn, Version.new())
        S.apps[aid] = app
        dep = start_deployment(app, "StartApplication", None,
                               ["StartApplication", "ScaleApplication"])
        S.emit("api_post_event", {"clientIp": client_ip, "uri": uri,
                                  "appDefinition": _public_defn(app)})
        _diff_health_events(aid, None, defn, app.version)
        return app, dep


def update_app(aid, body, force, partial, client_ip, uri, create_ok=True):
    """PUT/PATCH. Returns (status, dep, app)."""
    with S.lock:
        app = S.apps.get(aid)
        if app is None:
            if not create_ok:
                raise ApiError(404, {"message": "App '%s' does not exist" % aid})
            b = dict(body)
            b["id"] = aid
            a, dep = create_app(b, client_ip, uri)
            return 201, dep, a
        if app.deleting:
            if not force:
                raise _lock_error(app)
            # forced: give up the running delete and create the app anew
            if app.deployment is not None:
                _complete(app.deployment, failed=True, reason="canceled by a forced change")
            S.apps.pop(aid, None)
            b = dict(body)
            b["id"] = aid
            a, dep = create_app(b, client_ip, uri)
            return 201, dep, a
        b = {k: v for k, v in body.items() if k not in RUNTIME_KEYS}
        b["id"] = aid
        S.validator.check(b, semantic=not partial)
        b.pop("id")
        if partial:
            merged = copy.deepcopy(app.defn)
            if "cmd" in b and b["cmd"]:
                merged["args"] = None
            if "args" in b and b["args"]:
                merged["cmd"] = None
            merged.update(b)
        else:
            merged = fill_defaults(b)
        chk = {k: v for k, v in merged.items() if v is not None}
        chk["id"] = aid
        S.validator.check(chk)
        _check_lock(app, force)
        shape_defn(merged)
        assign_service_ports(merged)
        old = app.defn
        only_scale = {k: v for k, v in old.items() if k != "instances"} == \
                     {k: v for k, v in merged.items() if k != "instances"}
        version = Version.new()
        app.defn = merged
        app.version = version
        app.versions.append((version, copy.deepcopy(merged)))
        if only_scale:
            app.version_info["lastScalingAt"] = version
            action = "ScaleApplication"
        else:
            app.version_info = {"lastScalingAt": version, "lastConfigChangeAt": version}
            app.failures = 0
            app.next_launch_at = 0
            action = "RestartApplication"
        dep = start_deployment(app, action, dict(old, id=aid), [action])
        S.emit("api_post_event", {"clientIp": client_ip, "uri": uri,
                                  "appDefinition": _public_defn(app)})
        _diff_health_events(aid, old, merged, version)
        return 200, dep, app


def delete_app(aid, force):
    with S.lock:
        app = S.apps.get(aid)
        if app is None or app.deleting:
            raise ApiError(404, {"message": "App '%s' does not exist" % aid})
        _check_lock(app, force)
        app.deleting = True
        version = Version.new()
        app.version = version
        return start_deployment(app, "StopApplication", _public_defn(app), ["StopApplication"])


def restart_app(aid, force):
    with S.lock:
        app = S.apps.get(aid)
        if app is None or app.deleting:
            raise ApiError(404, {"message": "App '%s' does not exist" % aid})
        _check_lock(app, force)
        old = _public_defn(app)
        version = Version.new()
        app.version = version
        app.version_info = {"lastScalingAt": version, "lastConfigChangeAt": version}
        app.versions.append((version, copy.deepcopy(app.defn)))
        return start_deployment(app, "RestartApplication", old, ["RestartApplication"])


def scale_by_kill(app, tids, force):
    """DELETE task(s) with scale=true (S.lock held)."""
    _check_lock(app, force)
    tasks = [app.tasks[i] for i in tids]
    old = _public_defn(app)
    version = Version.new()
    app.defn["instances"] = max(0, int(app.defn.get("instances", 1)) - len(tasks))
    app.version = version
    app.version_info["lastScalingAt"] = version
    app.versions.append((version, copy.deepcopy(app.defn)))
    for t in tasks:
        kill(t, "Task was killed and its app scaled down")
    return start_deployment(app, "ScaleApplication", old, ["ScaleApplication"])


def cancel_deployment(did, force):
    with S.lock:
        dep = S.deployments.get(did)
        if dep is None:
            raise ApiError(404, {"message": "DeploymentPlan %s does not exist" % did})
        _complete(dep, failed=True, reason="canceled")
        if force:
            return None
        app = S.apps.get(dep.app_id)
        if app is None:
            return None
        version = Version.new()
        if dep.original is None:
            app.deleting = True
            app.version = version
            return start_deployment(app, "StopApplication", _public_defn(app),
                                    ["StopApplication"])
        old = _public_defn(app)
        orig = {k: v for k, v in dep.original.items() if k not in ("id", "version")}
        app.deleting = False
        app.defn = orig
        app.version = version
        app.version_info = {"lastScalingAt": version, "lastConfigChangeAt": version}
        app.versions.append((version, copy.deepcopy(orig)))
        return start_deployment(app, "RestartApplication", old, ["RestartApplication"])


# ---------------------------------------------------------------------------
# Label selector (GET /v2/apps?label=)
# ---------------------------------------------------------------------------
def _split_unescaped(s, sep):
    out, cur, i = [], "", 0
    depth = 0
    while i < len(s):
        ch = s[i]
        if ch == "\\" and i + 1 < len(s):
            cur += s[i:i + 2]
            i += 2
            continue
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == sep and depth == 0:
            out.append(cur)
            cur = ""
        else:
            cur += ch
        i += 1
    out.append(cur)
    return out


def _unesc(s):
    return re.sub(r"\\(.)", r"\1", s.strip())


def label_match(labels, selector):
    for sel in _split_unescaped(selector, ","):
        sel = sel.strip()
        if not sel:
            continue
        m = re.match(r"^((?:\\.|[^\s!=])+)\s*(==|!=)\s*(.*)$", sel)
        if m:
            k, op, v = _unesc(m.group(1)), m.group(2), _unesc(m.group(3))
            if op == "==" and labels.get(k) != v:
                return False
            if op == "!=" and (k not in labels or labels.get(k) == v):
                return False
            continue
        m = re.match(r"^((?:\\.|[^\s])+)\s+(in|notin)\s*\((.*)\)$", sel)
        if m:
            k, op = _unesc(m.group(1)), m.group(2)
            vals = [_unesc(v) for v in _split_unescaped(m.group(3), ",")]
            if k not in labels:
                return False
            if op == "in" and labels[k] not in vals:
                return False
            if op == "notin" and labels[k] in vals:
                return False
            continue
        if _unesc(sel) not in labels:
            return False
    return True


# ---------------------------------------------------------------------------
# HTTP
# ---------------------------------------------------------------------------
MAX_DEPLOYMENTS_MSG = (  # Exception.scala:39-43 @v1.10.26, verbatim (the missing space is Marathon's)
    "Max number (%d) of running deployments is achieved. Wait for existing deployments to complete "
    "or cancel oneusing force=true parameter. You can increase max deployment number by using "
    "--max_running_deployments parameter but be advised that this can have negative effects on "
    "the performance.")
JETTY_401 = ("<html>\n<head>\n<meta http-equiv=\"Content-Type\" content=\"text/html;charset=utf-8\"/>\n"
             "<title>Error 401 Unauthorized</title>\n</head>\n<body><h2>HTTP ERROR 401</h2>\n"
             "<p>Problem accessing %s. Reason:\n<pre>    Unauthorized</pre></p>"
             "<hr>marathon-double (test double)<hr/>\n</body>\n</html>\n")
JETTY_405 = ("<html>\n<head>\n<meta http-equiv=\"Content-Type\" content=\"text/html;charset=ISO-8859-1\"/>\n"
             "<title>Error 405 </title>\n</head>\n<body>\n<h2>HTTP ERROR: 405</h2>\n"
             "<p>Problem accessing /v2/events. Reason:\n<pre>    HTTP method GET is not supported by "
             "this URL</pre></p>\n<hr />marathon-double (test double)<hr/>\n</body>\n</html>\n")


def _bool(q, name):
    v = q.get(name, ["false"])[-1].lower()
    return v in ("true", "1", "yes")


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "marathon-double"
    sys_version = ""

    def log_message(self, fmt, *a):
        if S.args.verbose:
            log(self.address_string(), fmt % a)

    def setup(self):
        super().setup()
        with S.lock:
            S.conns.add(self.connection)

    def finish(self):
        with S.lock:
            S.conns.discard(self.connection)
        try:
            super().finish()
        except OSError:
            pass

    # -- plumbing --------------------------------------------------------
    def _body(self):
        self._consumed = True
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = b""
            while True:
                line = self.rfile.readline()
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                data += self.rfile.read(size)
                self.rfile.readline()
            return data
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def _json_body(self):
        raw = self._body()
        try:
            return json.loads(raw.decode("utf-8") if raw else "")
        except (ValueError, UnicodeDecodeError):
            raise ApiError(400, {"message": "Invalid JSON", "details": [
                {"path": "/", "errors": ["error.expected.jsobject"]}]})

    def send(self, status, body=None, headers=None, ctype="application/json"):
        if body is None:
            data = b""
        elif isinstance(body, (bytes, str)):
            data = body.encode() if isinstance(body, str) else body
        else:
            data = json.dumps(body).encode()
        self.send_response(status)
        if not getattr(self, "_consumed", True) and (
                self.headers.get("Content-Length", "0") not in ("", "0")
                or self.headers.get("Transfer-Encoding")):
            # an unread request body would corrupt the next request on this connection
            self.send_header("Connection", "close")
            self.close_connection = True
        if data or status not in (204, 202):
            self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def do_GET(self): self.dispatch("GET")        # noqa: E704
    def do_POST(self): self.dispatch("POST")      # noqa: E704
    def do_PUT(self): self.dispatch("PUT")        # noqa: E704
    def do_PATCH(self): self.dispatch("PATCH")    # noqa: E704
    def do_DELETE(self): self.dispatch("DELETE")  # noqa: E704

    def _authorized(self):
        if not S.args.auth:
            return True
        h = self.headers.get("Authorization", "")
        if not h.lower().startswith("basic "):
            return False
        try:
            return base64.b64decode(h[6:].strip()).decode("utf-8") == S.args.auth
        except Exception:
            return False

    def dispatch(self, method):
        self._consumed = False
        u = urllib.parse.urlsplit(self.path)
        path = urllib.parse.unquote(u.path)
        q = urllib.parse.parse_qs(u.query, keep_blank_values=True)
        try:
            if path.startswith("/_double/"):
                return self.double_api(method, path, q)
            with S.lock:
                f = dict(S.faults)
            if time.time() < f["down_until"]:
                self.close_connection = True   # "restarting": no answer at all
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            if f["delay_ms"] and (not f["delay_path"] or re.search(f["delay_path"], path)):
                time.sleep(f["delay_ms"] / 1000.0)
            if not self._authorized():
                self._body()
                return self.send(401, JETTY_401 % path,
                                 {"WWW-Authenticate": 'basic realm="%s"' % S.args.realm},
                                 ctype="text/html;charset=iso-8859-1")
            with S.lock:
                fail = False
                on_path = not S.faults["fail_path"] or re.search(S.faults["fail_path"], path)
                if S.faults["fail_next"] != 0 and on_path:
                    fail = True
                    if S.faults["fail_next"] > 0:
                        S.faults["fail_next"] -= 1
                if time.time() < S.faults["fail_until"] and on_path:
                    fail = True
                status = S.faults["fail_status"]
            if fail:
                self._body()
                return self.send(status, {"message": "injected fault (marathon-double): HTTP %d"
                                          % status})
            with S.lock:
                empty = method == "GET" and path.rstrip("/") == "/v2/apps" and \
                    S.faults["empty_apps"] != 0
                if empty and S.faults["empty_apps"] > 0:
                    S.faults["empty_apps"] -= 1
            if empty:  # a Marathon between leaders may list nothing (DESIGN §6)
                self._body()
                return self.send(200, {"apps": []})
            leader = standby_target(self.server)
            if leader:
                return self.standby(method, path, u.query, leader)
            with S.lock:
                mrd = S.faults["max_running_deployments"]
                full = mrd is not None and method in ("POST", "PUT", "PATCH", "DELETE") and \
                    path.startswith("/v2/apps") and len(S.deployments) >= int(mrd)
            if full:
                # every app change passes GroupManagerImpl's checkMaxRunningDeployments, force or
                # not (core/group/impl/GroupManagerImpl.scala:133-135 @v1.10.26), mapped to 403
                # (api/MarathonExceptionMapper.scala:113; Exception.scala:39-43 @v1.10.26)
                self._body()
                return self.send(403, {"message": MAX_DEPLOYMENTS_MSG % int(mrd)})
            self.route(method, path, q)
        except ApiError as e:
            self.send(e.status, e.body, e.headers)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as e:
            log("internal error\n" + traceback.format_exc())
            try:
                self.send(500, {"message": "marathon-double internal error: %s" % e})
            except Exception:
                pass

    def _client_ip(self):
        return self.client_address[0]

    # -- a standby (--standby-of URL) ------------------------------------
    def standby(self, method, path, query, leader):
        """A non-leader: from 1.7, GET /v2/events is answered with a redirect to the leader
        (api/LeaderProxyFilter.scala:103-108,120-126 @v1.7.174: response.sendRedirect, which Jetty
        sends as 302 with Location), everything else is forwarded to the leader; up to 1.6 the
        stream is forwarded too (LeaderProxyFilter.scala @v1.6.322 has no redirect)."""
        leader = leader.rstrip("/")
        body = self._body()
        is_events = path.rstrip("/") == "/v2/events"
        if is_events and vge(1, 7):
            loc = leader + "/v2/events" + ("?" + query if query else "")
            return self.send(302, None, {"Location": loc})
        lu = urllib.parse.urlsplit(leader)
        if lu.scheme == "https":
            conn = http.client.HTTPSConnection(lu.hostname, lu.port, timeout=30,
                                               context=ssl._create_unverified_context())
        else:
            conn = http.client.HTTPConnection(lu.hostname, lu.port, timeout=30)
        hdrs = {}
        for k in ("Authorization", "Content-Type", "Accept"):
            for v in self.headers.get_all(k) or []:
                hdrs[k] = v
        try:
            conn.request(method, self.path, body=body if body else None, headers=hdrs)
            r = conn.getresponse()
        except OSError as e:
            # our choice of text; Marathon answers 502 when it cannot reach a leader
            return self.send(502, {"message": "marathon-double standby: leader %s unreachable: %s"
                                              % (leader, e)})
        keep = ("Content-Type", "Location", "Marathon-Deployment-Id", "WWW-Authenticate")
        if is_events and r.status == 200:
            self.send_response(200)
            for k in keep:
                if r.getheader(k):
                    self.send_header(k, r.getheader(k))
            self.send_header("Connection", "close")
            self.end_headers()
            self.close_connection = True
            try:
                while not S.stopping:
                    chunk = r.read1(65536)
                    if not chunk:
                        break
                    self.wfile.write(chunk)
                    self.wfile.flush()
            except OSError:
                pass
            conn.close()
            return
        data = r.read()
        conn.close()
        self.send_response(r.status)
        for k in keep:
            if r.getheader(k):
                self.send_header(k, r.getheader(k))
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _deploy_result(self, status, dep, extra_headers=None):
        h = {"Marathon-Deployment-Id": dep.id}
        h.update(extra_headers or {})
        self.send(status, {"version": dep.version, "deploymentId": dep.id}, h)

    def _wants_text(self):
        acc = self.headers.get("Accept", "")
        return "text/plain" in acc and "application/json" not in acc

    # -- routes ----------------------------------------------------------
    def route(self, method, path, q):
        if path == "/ping":
            return self._only(method, "GET") or self.send(200, "pong", ctype="text/plain")
        if path == "/v2/info":
            return self._only(method, "GET") or self.send(200, self._info())
        if path == "/v2/leader":
            return self._only(method, "GET") or self.send(
                200, {"leader": urllib.parse.urlsplit(S.leader_url()).netloc})
        if path in ("/v2/events", "/v2/events/"):
            return self.events(method, q)
        if path in ("/v2/eventSubscriptions", "/v2/eventSubscriptions/"):
            return self.subscriptions(method, q)
        if path in ("/v2/tasks", "/v2/tasks/"):
            return self._only(method, "GET") or self.list_tasks(q)
        if path == "/v2/tasks/delete":
            return self._only(method, "POST") or self.delete_tasks(q)
        if path in ("/v2/deployments", "/v2/deployments/"):
            if self._only(method, "GET"):
                return
            with S.lock:
                return self.send(200, [d.to_json() for d in S.deployments.values()])
        m = re.match(r"^/v2/deployments/([^/]+)$", path)
        if m:
            return self.deployment(method, m.group(1), q)
        m = re.match(r"^/v2/apps(/.*)?$", path)
        if m:
            return self.apps(method, (m.group(1) or "").rstrip("/"), q)
        raise ApiError(404, {"message": "HTTP 404 Not Found"})

    def _only(self, method, *allowed):
        if method in allowed:
            return False
        self._body()
        self.send(405, {"message": "HTTP 405 Method Not Allowed"})
        return True

    def _info(self):
        info = {
            "name": "marathon-double", "version": S.args.version_string,
            "buildref": "marathon-double (a test double, not Marathon)", "elected": True,
            "leader": urllib.parse.urlsplit(S.leader_url()).netloc,
            "frameworkId": "marathon-double-%s-0000" % S.run_id,
            "marathon_config": {
                "features": ["task_killing"] if S.args.task_killing and vge(1, 1) else [],
                "env_vars_prefix": S.args.env_prefix,
                "framework_name": "marathon", "hostname": S.host,
                "local_port_min": 10000, "local_port_max": 20000,
                "master": "none (marathon-double runs tasks on the local docker engine)",
                "checkpoint": False, "ha": False, "mesos_role": None, "mesos_user": "root",
                "webui_url": None, "failover_timeout": 604800,
            },
            "zookeeper_config": {},
            "http_config": {"http_port": urllib.parse.urlsplit(S.base_url).port,
                            "https_port": None},
        }
        if callbacks_served():  # the key existed up to 1.4 (api/v2/InfoResource.scala @v1.4.0)
            info["event_subscriber"] = None if S.args.no_http_callbacks else \
                {"type": "http_callback"}
        return info

    # /v2/apps ...........................................................
    def apps(self, method, rest, q):
        force = _bool(q, "force")
        if rest == "":
            if method == "GET":
                return self.list_apps(q)
            if method == "POST":
                body = self._json_body()
                if not isinstance(body, dict):
                    raise ApiError(400, {"message": "Invalid JSON", "details": [
                        {"path": "/", "errors": ["error.expected.jsobject"]}]})
                app, dep = create_app(body, self._client_ip(), self.path)
                with S.lock:
                    # 0.7 answered the bare definition (api/v2/AppsResource.scala:59 @v0.7.0)
                    j = app_json(app) if vge(0, 8) else _public_defn(app)
                return self.send(201, j, {"Location": "%s/v2/apps%s" % (S.base_url, app.id),
                                          "Marathon-Deployment-Id": dep.id})
            return self._only(method, "GET", "POST")
        m = re.match(r"^(.+)/restart$", rest)
        if m and method == "POST":
            self._body()
            dep = restart_app(norm_id(m.group(1)), force)
            return self._deploy_result(200, dep)
        m = re.match(r"^(.+)/tasks/([^/]+)$", rest)
        if m:
            return self.app_task(method, norm_id(m.group(1)), m.group(2), q)
        m = re.match(r"^(.+)/tasks$", rest)
        if m:
            return self.app_tasks(method, norm_id(m.group(1)), q)
        m = re.match(r"^(.+)/versions(?:/([^/]+))?$", rest)
        if m and method == "GET":
            return self.versions(norm_id(m.group(1)), m.group(2))
        aid = norm_id(rest)
        if method == "GET":
            embed = q.get("embed", [])
            with S.lock:
                app = S.apps.get(aid)
                if app is None or app.deleting:
                    raise ApiError(404, {"message": "App '%s' does not exist" % aid})
                tasks = not embed or any(e.endswith(".tasks") or e.endswith(".failures")
                                         for e in embed)
                return self.send(200, {"app": app_json(app, embed_tasks=tasks, embed_failure=True)})
        if method in ("PUT", "PATCH"):
            body = self._json_body()
            if not isinstance(body, dict):
                raise ApiError(400, {"message": "Invalid JSON", "details": [
                    {"path": "/", "errors": ["error.expected.jsobject"]}]})
            partial = method == "PATCH" or q.get("partialUpdate", ["true"])[-1].lower() != "false"
            if not vge(1, 4):
                # up to 1.3 a PUT is always an AppUpdate merge (api/v2/AppsResource.scala:145-154,
                # 241-242 @v1.3.13); partialUpdate arrived in 1.4 (:197 @v1.4.0)
                partial = True
            status, dep, app = update_app(aid, body, force, partial, self._client_ip(), self.path,
                                          create_ok=(method == "PUT"))
            if S.args.legacy:
                return self._deploy_result(200, dep)
            return self._deploy_result(status, dep)
        if method == "DELETE":
            # force defaults to true: a DELETE is never refused with 409 "locked"
            # (api/v2/AppsResource.scala:336 @v1.10.26, :267 @v1.4.0, :141 @v0.7.0)
            self._body()
            dep = delete_app(aid, q.get("force", ["true"])[-1].lower() in ("true", "1", "yes"))
            # 0.7 answers the deployment result (AppsResource.scala:141-148 @v0.7.0); 0.6 answered
            # 204 (api/v2/AppsResource.scala:88-95 @marathon-0.6.1)
            if S.args.legacy or not vge(0, 7):
                return self.send(204, None, {"Marathon-Deployment-Id": dep.id})
            return self._deploy_result(200, dep)
        return self._only(method, "GET", "PUT", "PATCH", "DELETE")

    def list_apps(self, q):
        embed = q.get("embed", [])
        # Marathon's embed resolver takes the "apps." and the "app." prefix alike.
        embed = [e.split(".", 1)[-1] for e in embed if e.startswith(("apps.", "app."))]
        want_tasks = any(e in ("tasks", "failures") for e in embed)
        want_fail = any(e in ("lastTaskFailure", "failures") for e in embed)
        idf = q.get("id", [None])[-1]
        cmdf = q.get("cmd", [None])[-1]
        labelf = q.get("label", [None])[-1]
        out = []
        with S.lock:
            for app in sorted(S.apps.values(), key=lambda a: a.id):
                if app.deleting:
                    continue
                if idf and idf.strip("/") not in app.id:
                    continue
                if cmdf and cmdf not in (app.defn.get("cmd") or ""):
                    continue
                if labelf and not label_match(app.defn.get("labels") or {}, labelf):
                    continue
                out.append(app_json(app, embed_tasks=want_tasks, embed_failure=want_fail))
        self.send(200, {"apps": out})

    def versions(self, aid, ver):
        with S.lock:
            app = S.apps.get(aid)
            if app is None:
                raise ApiError(404, {"message": "App '%s' does not exist" % aid})
            if ver is None:
                return self.send(200, {"versions": [v for v, _ in reversed(app.versions)]})
            for v, d in app.versions:
                if v == ver:
                    d = copy.deepcopy(d)
                    d["id"] = aid
                    d["version"] = v
                    return self.send(200, d)
            raise ApiError(404, {"message": "Version '%s' does not exist" % ver})

    def _tasks_text(self, apps):
        lines = []
        for app in apps:
            tasks = [t for t in app.tasks.values() if not t.terminal]
            if not tasks:
                continue
            nports = max(len(t.ports) for t in tasks)
            safe = app.id.strip("/").replace("/", "_")
            for i in range(nports):
                sps = [t.mappings[i].get("servicePort") for t in tasks if i < len(t.mappings)]
                sp = sps[0] if sps and sps[0] else " "
                hosts = ["%s:%d" % (S.host, t.ports[i]) for t in tasks if i < len(t.ports)]
                lines.append("%s\t%s\t%s\t" % (safe, sp, "\t".join(hosts)))
        return "".join(x + "\n" for x in lines)

    def list_tasks(self, q):
        st = [s.lower() for s in q.get("status", []) + q.get("status[]", [])]
        with S.lock:
            apps = sorted(S.apps.values(), key=lambda a: a.id)
            if self._wants_text():
                return self.send(200, self._tasks_text(apps), ctype="text/plain")
            out = []
            for app in apps:
                for t in sorted(app.tasks.values(), key=lambda t: t.stage_t):
                    if t.terminal:
                        continue
                    if st and t.state.replace("TASK_", "").lower() not in st:
                        continue
                    out.append(task_json(t))
        self.send(200, {"tasks": out})

    def app_tasks(self, method, aid, q):
        with S.lock:
            app = S.apps.get(aid)
            if app is None:
                self._body()
                raise ApiError(404, {"message": "App '%s' does not exist" % aid})
            if method == "GET":
                if self._wants_text():
                    return self.send(200, self._tasks_text([app]), ctype="text/plain")
                return self.send(200, {"tasks": [task_json(t) for t in sorted(
                    app.tasks.values(), key=lambda t: t.stage_t) if not t.terminal]})
            if method == "DELETE":
                self._body()
                host = q.get("host", [None])[-1]
                tasks = [t for t in app.tasks.values() if t.alive()
                         and (not host or host == S.host)]
                if _bool(q, "scale"):
                    dep = scale_by_kill(app, [t.id for t in tasks], _bool(q, "force"))
                    return self._deploy_result(200, dep)
                js = [task_json(t) for t in tasks]
                for t in tasks:
                    kill(t, "Task was killed by request")
                return self.send(200, {"tasks": js})
        return self._only(method, "GET", "DELETE")

    def app_task(self, method, aid, tid, q):
        if self._only(method, "DELETE", "GET"):
            return
        self._body()
        with S.lock:
            app = S.apps.get(aid)
            if app is None:
                raise ApiError(404, {"message": "App '%s' does not exist" % aid})
            t = app.tasks.get(tid)
            if t is None or t.terminal:
                raise ApiError(404, {"message": "Task '%s' does not exist" % tid})
            if method == "GET":
                return self.send(200, {"task": task_json(t)})
            if _bool(q, "scale"):
                dep = scale_by_kill(app, [tid], _bool(q, "force"))
                return self._deploy_result(200, dep)
            j = task_json(t)
            kill(t, "Task was killed by request")
            return self.send(200, {"task": j})

    def delete_tasks(self, q):
        body = self._json_body()
        ids = body.get("ids") if isinstance(body, dict) else None
        if not isinstance(ids, list):
            raise ApiError(400, {"message": "Invalid JSON", "details": [
                {"path": "/ids", "errors": ["error.path.missing"]}]})
        with S.lock:
            found = {}
            for tid in ids:
                for app in S.apps.values():
                    if tid in app.tasks and not app.tasks[tid].terminal:
                        found[tid] = app
                        break
                else:
                    raise ApiError(400, {"message": "Invalid task id %s" % tid})
            if _bool(q, "scale"):
                byapp = {}
                for tid, app in found.items():
                    byapp.setdefault(app.id, []).append(tid)
                dep = None
                for aid, tids in byapp.items():
                    dep = scale_by_kill(S.apps[aid], tids, _bool(q, "force"))
                if dep is None:
                    raise ApiError(400, {"message": "no tasks"})
                return self._deploy_result(200, dep)
            js = []
            for tid, app in found.items():
                js.append(task_json(app.tasks[tid]))
                kill(app.tasks[tid], "Task was killed by request")
        self.send(200, {"tasks": js})

    # /v2/deployments/{id} ..................................................
    def deployment(self, method, did, q):
        if method == "GET":   # extension: not in the RAML, handy for tests
            with S.lock:
                d = S.deployments.get(did)
                if d is None:
                    raise ApiError(404, {"message": "DeploymentPlan %s does not exist" % did})
                return self.send(200, d.to_json())
        if self._only(method, "DELETE"):
            return
        self._body()
        force = _bool(q, "force")
        dep = cancel_deployment(did, force)
        if force or dep is None:
            return self.send(202, None)
        return self._deploy_result(200, dep)

    # /v2/eventSubscriptions ...............................................
    def subscriptions(self, method, q):
        self._body()
        if not callbacks_served():
            # removed in 1.5: no such route. 1.5/1.6 answer 404 for it; 1.7+ map Jersey's
            # NotFoundException to 500 {"message":"URI not found"}
            # (api/MarathonExceptionMapper.scala:75-76 @v1.10.26)
            if vge(1, 7):
                raise ApiError(500, {"message": "URI not found"})
            raise ApiError(404, {"message": "URI not found: /v2/eventSubscriptions"})
        if S.args.no_http_callbacks:
            raise ApiError(400, {"message": "http event callback system is not running on this "
                                            "Marathon instance. Please re-start this instance with "
                                            "\"--event_subscriber http_callback\"."})
        if method == "GET":
            with S.lock:
                return self.send(200, {"callbackUrls": list(S.callbacks)})
        if method not in ("POST", "DELETE"):
            return self._only(method, "GET", "POST", "DELETE")
        url = q.get("callbackUrl", [None])[-1]
        if not url:
            raise ApiError(400, {"message": "callbackUrl is required"})
        etype = "subscribe_event" if method == "POST" else "unsubscribe_event"
        with S.lock:
            if method == "POST" and url not in S.callbacks:
                S.callbacks[url] = Callback(url)
            ev = {"callbackUrl": url, "clientIp": self._client_ip()}
            S.emit(etype, ev)
            if method == "DELETE":
                cb = S.callbacks.pop(url, None)
                if cb:
                    cb.stop.set()
        ev = dict(ev, eventType=etype, timestamp=now_iso())
        self.send(200, ev)

    # /v2/events (SSE) ......................................................
    def events(self, method, q):
        # /v2/events arrived in 0.9 (event/http/HttpEventStreamServlet.scala @v0.9.0, absent
        # @v0.8.0)
        if S.args.legacy or not vge(0, 9):
            raise ApiError(404, {"message": "HTTP 404 Not Found"})
        if method != "GET":
            return self._only(method, "GET")
        accepts = [a.strip() for a in self.headers.get_all("Accept") or []]
        if "text/event-stream" not in accepts:
            return self.send(405, JETTY_405, ctype="text/html;charset=ISO-8859-1")
        types = [t for t in q.get("event_type", []) if t]
        if not vge(1, 3, 10):
            # the event_type filter arrived in 1.3.10 (core/event/impl/stream/
            # HttpEventStreamServlet.scala:27 @v1.3.10, absent @v1.3.5): older ones send all
            types = []
        stream = SseStream(types, S.args.sse_max_outstanding, self._client_ip(), self.connection)
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream;charset=utf-8")
        self.send_header("Connection", "close")
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        self.close_connection = True
        self.wfile.flush()
        with S.lock:
            S.streams.append(stream)
            S.emit("event_stream_attached", {"remoteAddress": stream.remote})
        hb = S.args.sse_heartbeat
        next_hb = time.time() + hb
        try:
            while not stream.closed.is_set() and not S.stopping:
                try:
                    etype, data = stream.q.get(timeout=min(0.25, max(0.01, next_hb - time.time())))
                    self.wfile.write(("event: %s\r\ndata: %s\r\n\r\n" % (etype, data)).encode())
                except queue.Empty:
                    pass
                if time.time() >= next_hb:
                    # Jetty's heartbeat: a lone CRLF, written in two flushes
                    self.wfile.write(b"\r")
                    self.wfile.flush()
                    self.wfile.write(b"\n")
                    self.wfile.flush()
                    next_hb = time.time() + hb
        except (BrokenPipeError, ConnectionResetError, OSError):
            pass
        finally:
            with S.lock:
                if stream in S.streams:
                    S.streams.remove(stream)
                S.emit("event_stream_detached", {"remoteAddress": stream.remote})
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    # /_double/* (fault switches; never authenticated) .......................
    def double_api(self, method, path, q):
        if path == "/_double/faults" and method == "GET":
            with S.lock:
                return self.send(200, {"faults": dict(S.faults), "lose_events": dict(S.lose),
                                       "streams": len(S.streams)})
        if path == "/_double/faults" and method == "POST":
            body = self._json_body()
            if not isinstance(body, dict):
                raise ApiError(400, {"message": "expected a JSON object"})
            return self.send(200, apply_faults(body, self.connection))
        if path == "/_double/emit" and method == "POST":
            body = self._json_body()   # {"eventType": .., "count": N, "fields": {..}}
            for _ in range(int(body.get("count", 1))):
                S.emit(body["eventType"], body.get("fields") or {})
            return self.send(200, {"emitted": int(body.get("count", 1))})
        if path == "/_double/state" and method == "GET":
            with S.lock:
                return self.send(200, {
                    "run_id": S.run_id, "host": S.host, "streams": len(S.streams),
                    "listeners": list(S.urls), "leader": S.leader_url(),
                    "callbacks": list(S.callbacks), "deployments": list(S.deployments),
                    "containers": {t.id: t.container_id for a in S.apps.values()
                                   for t in a.tasks.values()}})
        raise ApiError(404, {"message": "unknown double path %s" % path})


def standby_target(server):
    """The leader a request on this listener goes to, or None when this listener leads:
    --standby-of URL, or the other listener of --standby-port while this one stands by."""
    if S.args.standby_of:
        return S.args.standby_of
    with S.lock:
        if len(S.urls) > 1 and S.leader != server.idx:
            return S.urls[S.leader]
    return None


def apply_faults(body, own_conn=None):
    unknown = set(body) - {"clear", "drop_streams", "delay_ms", "delay_path", "fail_next",
                           "fail_status", "fail_path", "lose_events", "restart", "empty_apps",
                           "max_running_deployments", "fail_for_ms", "lose_events_ms",
                           "failover"}
    if unknown:
        raise ApiError(400, {"message": "unknown fault keys: %s" % sorted(unknown)})
    if body.get("failover") and len(S.urls) < 2:
        raise ApiError(400, {"message": "the failover fault needs --standby-port"})
    with S.lock:
        if body.get("clear"):
            S.faults.update({"delay_ms": 0, "delay_path": None, "fail_next": 0,
                             "fail_status": 503, "fail_path": None, "down_until": 0.0,
                             "empty_apps": 0, "max_running_deployments": None,
                             "fail_until": 0.0, "lose_until": 0.0})
            S.lose.clear()
        now = time.time()
        if "fail_for_ms" in body:
            S.faults["fail_until"] = now + float(body["fail_for_ms"]) / 1000.0
        if "lose_events_ms" in body:
            S.faults["lose_until"] = now + float(body["lose_events_ms"]) / 1000.0
        for k in ("delay_ms", "delay_path", "fail_next", "fail_status", "fail_path", "empty_apps",
                  "max_running_deployments"):
            if k in body:
                S.faults[k] = body[k]
        for etype, n in (body.get("lose_events") or {}).items():
            S.lose[etype] = int(n)
        streams = []
        if body.get("drop_streams") or body.get("restart") or body.get("failover"):
            streams = list(S.streams)
            for s in streams:
                s.close()
        r = body.get("restart")
        dropped = 0
        if r:
            r = r if isinstance(r, dict) else {}
            if r.get("drop_subscriptions", True):
                for cb in S.callbacks.values():
                    cb.stop.set()
                S.callbacks.clear()
            S.faults["down_until"] = time.time() + float(r.get("downtime_ms", 0)) / 1000.0
            # a restarted process has no connections: every open one (keep-alive, standby
            # forwards, SSE) is cut, except the one asking for the restart
            for c in list(S.conns):
                if c is not own_conn:
                    try:
                        c.shutdown(socket.SHUT_RDWR)
                        dropped += 1
                    except OSError:
                        pass
        f = body.get("failover")
        if f:
            # the leader abdicates, the standby leads: the old leader closes every event
            # stream (core/event/impl/stream/HttpEventStreamActor.scala:98-103 @v1.10.26,
            # LeadershipTransition.Standby: "Closing existing handles"), then acts as a standby
            # (302 for /v2/events, the rest forwarded). Apps, tasks and subscriptions are kept:
            # Marathon keeps them in its state store, shared by every instance.
            f = f if isinstance(f, dict) else {}
            S.leader = 1 - S.leader
            S.faults["down_until"] = time.time() + float(f.get("downtime_ms", 0)) / 1000.0
            log("fault: failover, the leader is now", S.urls[S.leader])
        return {"faults": dict(S.faults), "lose_events": dict(S.lose),
                "dropped_streams": len(streams), "dropped_connections": dropped,
                "leader": S.leader_url()}


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64
    idx = 0            # 0: the primary listener, 1: the --standby-port one


# ---------------------------------------------------------------------------
# main
# ---------------------------------------------------------------------------
def cleanup():
    """Remove every container this run created, and verify none is left."""
    with S.lock:
        S.stopping = True
        for s in S.streams:
            s.close()
        for cb in S.callbacks.values():
            cb.stop.set()
    deadline = time.time() + 30
    while time.time() < deadline:
        with S.lock:
            inflight = S.inflight
        left = []
        try:
            left = S.docker.list_by_label("marathon-double.instance=%s" % S.run_id) or []
        except Exception as e:
            log("cleanup list failed: %s" % e)
        for c in left:
            _rm(c["Id"])
        if not left and inflight <= 0:
            try:
                if not S.docker.list_by_label("marathon-double.instance=%s" % S.run_id):
                    return True
            except Exception:
                pass
        time.sleep(0.2)
    log("cleanup: containers may be left behind (label marathon-double.instance=%s)" % S.run_id)
    return False


def parse_args(argv):
    p = argparse.ArgumentParser(prog="marathon-double",
                                description="A test double of Marathon's REST API v2 "
                                            "(not Marathon). Tasks are real Docker containers.")
    p.add_argument("--port", type=int, default=0, help="listen port on 127.0.0.1 (0 = free port)")
    p.add_argument("--bind", default="127.0.0.1", help=argparse.SUPPRESS)
    p.add_argument("--auth", default=os.environ.get("MESOSPHERE_HTTP_CREDENTIALS"),
                   help="USER:PASS enables HTTP basic auth on every path")
    p.add_argument("--realm", default="Mesosphere")
    p.add_argument("--task-delay", type=float, default=0.5,
                   help="seconds from TASK_STAGING to container start (default 0.5)")
    p.add_argument("--port-range", default="31000-31999")
    p.add_argument("--host-address", default=None,
                   help="address tasks publish on (default: docker0's IPv4)")
    p.add_argument("--docker-socket", default="/var/run/docker.sock")
    p.add_argument("--schema", default=None, help="path to AppDefinition.json")
    p.add_argument("--sse-heartbeat", type=float, default=10.0)
    p.add_argument("--sse-max-outstanding", type=int, default=1024)
    p.add_argument("--kill-grace", type=float, default=0,
                   help="docker stop timeout when the app has no taskKillGracePeriodSeconds")
    p.add_argument("--task-killing", dest="task_killing", action="store_true", default=False,
                   help="emit TASK_KILLING before TASK_KILLED (Marathon's task_killing feature, "
                        "off by default, 1.1+)")
    p.add_argument("--no-task-killing", dest="task_killing", action="store_false",
                   help="the default; kept for old command lines")
    p.add_argument("--marathon-version", default=None, metavar="X.Y[.Z]",
                   help="the Marathon version whose API shape to imitate (0.6 .. 1.10); default: "
                        "1.10 with http callbacks kept (see README 'Versions')")
    p.add_argument("--standby-of", default=None, metavar="URL",
                   help="act as a standby of the leader at URL: 302 for /v2/events (1.7+), "
                        "everything else forwarded")
    p.add_argument("--standby-port", type=int, default=None, metavar="N",
                   help="a second listener (0 = a free port) that shares this double's state and "
                        "stands by for the first; the failover fault swaps their roles "
                        "(test-only)")
    p.add_argument("--callback-slow-timeout", type=float, default=10.0,
                   help="a callback answer slower than this puts its URL into backoff "
                        "(Marathon's --http_event_callback_slow_consumer_timeout)")
    p.add_argument("--no-http-callbacks", action="store_true",
                   help="answer /v2/eventSubscriptions with Marathon's 400 'not running' error")
    p.add_argument("--env-prefix", default="", help="like Marathon's --env_vars_prefix")
    p.add_argument("--default-image", default=None,
                   help="image for apps without container.docker (their cmd runs in it, host net)")
    p.add_argument("--no-limits", action="store_true", help="do not pass cpus/mem to docker")
    p.add_argument("--legacy", action="store_true",
                   help="today's 'old Marathon' shape: DELETE app -> 204, no /v2/events, health "
                        "events with taskId, version 0.7.0 (README 'Versions')")
    p.add_argument("--version-string", default=None)
    p.add_argument("--verbose", action="store_true")
    p.add_argument("--tls-cert", default=None,
                   help="serve https with this PEM certificate (Marathon: --ssl_keystore_path)")
    p.add_argument("--tls-key", default=None, help="the certificate's PEM key")
    a = p.parse_args(argv)
    lo, _, hi = a.port_range.partition("-")
    a.port_lo, a.port_hi = int(lo), int(hi or lo)
    env_ver = os.environ.get("MARATHON_DOUBLE_VERSION")
    if env_ver and a.marathon_version is None and not a.legacy:
        a.marathon_version = env_ver   # run a whole test script against one version
    a.default_mode = a.marathon_version is None and not a.legacy
    try:
        a.ver = parse_version(a.marathon_version) if a.marathon_version else DEFAULT_VERSION
    except ValueError as e:
        p.error("--marathon-version: %s" % e)
    if a.legacy and a.marathon_version:
        p.error("--legacy and --marathon-version exclude each other")
    if a.version_string is None:
        a.version_string = "0.7.0" if a.legacy else "%d.%d.%d" % a.ver
    if a.standby_of and a.standby_port is not None:
        p.error("--standby-of and --standby-port exclude each other")
    if a.auth and ":" not in a.auth:
        p.error("--auth wants USER:PASS")
    return a


def main(argv=None):
    global S
    args = parse_args(argv if argv is not None else sys.argv[1:])
    S = State(args)
    try:
        S.docker.ping()
    except Exception as e:
        print("marathon-double: docker engine not reachable at %s: %s" % (args.docker_socket, e),
              file=sys.stderr)
        return 1
    srvs = [Server((args.bind, args.port), Handler)]
    if args.standby_port is not None:
        srvs.append(Server((args.bind, args.standby_port), Handler))
        srvs[1].idx = 1
    scheme = "http"
    for srv in srvs:
        if args.tls_cert:
            import ssl
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(args.tls_cert, args.tls_key)
            srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
            scheme = "https"
        S.urls.append("%s://%s:%d" % (scheme, args.bind, srv.server_address[1]))
    S.base_url = S.urls[0]
    stop = threading.Event()

    def on_signal(signum, frame):
        stop.set()
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    for srv in srvs:
        threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.2},
                         daemon=True).start()
    threading.Thread(target=supervisor, daemon=True).start()
    sys.stdout.write(S.base_url + "\n")
    sys.stdout.flush()
    log("listening on %s; tasks publish on %s ports %d-%d; run id %s"
        % (S.base_url, S.host, args.port_lo, args.port_hi, S.run_id))
    while not stop.wait(0.5):
        pass
    log("stopping: removing containers")
    ok = cleanup()
    for srv in srvs:
        srv.shutdown()
        srv.server_close()
    log("stopped" + ("" if ok else " (cleanup incomplete)"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
