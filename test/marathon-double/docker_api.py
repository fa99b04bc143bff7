"""Minimal Docker Engine API client over the unix socket (stdlib only).

Part of the Marathon API v2 *test double*. It never pulls images: it only
creates containers from images that are already present on the local engine.
"""
import fcntl
import http.client
import json
import socket
import struct
import urllib.parse


class DockerError(Exception):
    def __init__(self, status, message):
        super().__init__("docker API %s: %s" % (status, message))
        self.status = status
        self.message = message


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout):
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self._path)
        self.sock = s


class Docker:
    def __init__(self, sock="/var/run/docker.sock"):
        self.sock = sock

    def request(self, method, path, body=None, query=None, timeout=60, want_raw=False):
        if query:
            path = path + "?" + urllib.parse.urlencode(query)
        conn = _UnixConnection(self.sock, timeout)
        try:
            headers = {"Host": "docker"}
            data = None
            if body is not None:
                data = json.dumps(body).encode()
                headers["Content-Type"] = "application/json"
            conn.request(method, path, body=data, headers=headers)
            resp = conn.getresponse()
            raw = resp.read()
            status = resp.status
        finally:
            conn.close()
        if status >= 400:
            try:
                msg = json.loads(raw).get("message", raw.decode(errors="replace"))
            except Exception:
                msg = raw.decode(errors="replace")
            raise DockerError(status, msg)
        if want_raw:
            return raw
        if not raw:
            return None
        try:
            return json.loads(raw)
        except ValueError:
            return raw.decode(errors="replace")

    # -- helpers ---------------------------------------------------------
    def ping(self):
        return self.request("GET", "/_ping", timeout=5)

    def image_exists(self, image):
        try:
            self.request("GET", "/images/%s/json" % urllib.parse.quote(image, safe=":/@"))
            return True
        except DockerError as e:
            if e.status == 404:
                return False
            raise

    def create(self, name, config):
        r = self.request("POST", "/containers/create", body=config, query={"name": name})
        return r["Id"]

    def start(self, cid):
        self.request("POST", "/containers/%s/start" % cid)

    def inspect(self, cid):
        return self.request("GET", "/containers/%s/json" % cid)

    def wait(self, cid):
        """Blocks until the container exits; returns its exit code."""
        r = self.request("POST", "/containers/%s/wait" % cid, timeout=None)
        return int(r.get("StatusCode", -1))

    def stop(self, cid, t=1):
        try:
            self.request("POST", "/containers/%s/stop" % cid, query={"t": str(int(t))},
                         timeout=int(t) + 30)
        except DockerError as e:
            if e.status not in (304, 404):
                raise

    def remove(self, cid, force=True):
        try:
            self.request("DELETE", "/containers/%s" % cid,
                         query={"force": "1" if force else "0", "v": "1"})
        except DockerError as e:
            if e.status not in (404, 409):
                raise

    def list_by_label(self, label):
        flt = json.dumps({"label": [label]})
        return self.request("GET", "/containers/json", query={"all": "1", "filters": flt})

    def exec_run(self, cid, cmd, timeout):
        """Runs cmd in the container; returns (exit_code, output)."""
        r = self.request("POST", "/containers/%s/exec" % cid,
                         body={"Cmd": cmd, "AttachStdout": True, "AttachStderr": True})
        eid = r["Id"]
        raw = self.request("POST", "/exec/%s/start" % eid, body={"Detach": False, "Tty": False},
                           timeout=timeout, want_raw=True) or b""
        out = b""
        while len(raw) >= 8:   # demultiplex docker's stdout/stderr frames
            n = struct.unpack(">I", raw[4:8])[0]
            out += raw[8:8 + n]
            raw = raw[8 + n:]
        info = self.request("GET", "/exec/%s/json" % eid)
        return info.get("ExitCode"), out.decode(errors="replace")

    def bridge_gateway(self):
        try:
            net = self.request("GET", "/networks/bridge")
            for cfg in (net.get("IPAM") or {}).get("Config") or []:
                if cfg.get("Gateway"):
                    return cfg["Gateway"]
        except Exception:
            pass
        return None


def interface_ipv4(ifname):
    """IPv4 address of a network interface (SIOCGIFADDR), or None."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        packed = fcntl.ioctl(s.fileno(), 0x8915, struct.pack("256s", ifname.encode()[:15]))
        return socket.inet_ntoa(packed[20:24])
    except OSError:
        return None
    finally:
        s.close()
