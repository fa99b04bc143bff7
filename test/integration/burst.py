#!/usr/bin/python3
"""burst.py - posts N canned Marathon status_update_events (TASK_RUNNING of an app's running
tasks, round robin, their own fields) to a subscriber's /marathon/callback on one keep-alive
connection, as Marathon's http_callback would; prints "<events> <seconds>".

usage: burst.py MARATHON_URL APP_ID SUBSCRIBER_HOST:PORT N [PATH]
PATH: the callback route with its secret segment (default /marathon/callback)
"""
import http.client
import json
import sys
import time
import urllib.request

mar, app, sub, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
path = sys.argv[5] if len(sys.argv) > 5 else "/marathon/callback"
tasks = json.load(urllib.request.urlopen("%s/v2/apps%s/tasks" % (mar, app)))["tasks"]
tasks = [t for t in tasks if t.get("state") == "TASK_RUNNING"]
if not tasks:
    sys.exit("no running task of %s" % app)
bodies = []
for t in tasks:
    # timestamp = the task's startedAt: the record made from the event is then the reconcile's
    ev = {"eventType": "status_update_event", "timestamp": t["startedAt"],
          "slaveId": t.get("slaveId", ""), "taskId": t["id"], "taskStatus": "TASK_RUNNING",
          "message": "", "appId": app, "host": t["host"], "ipAddresses": t.get("ipAddresses", []),
          "ports": t["ports"], "version": t["version"]}
    bodies.append(json.dumps(ev).encode())
host, port = sub.rsplit(":", 1)
c = http.client.HTTPConnection(host, int(port), timeout=30)
t0 = time.monotonic()
for i in range(n):
    c.request("POST", path, body=bodies[i % len(bodies)],
              headers={"Content-Type": "application/json"})
    r = c.getresponse()
    r.read()
    if r.status != 200:
        sys.exit("HTTP %d on event %d" % (r.status, i))
print(n, "%.3f" % (time.monotonic() - t0))
