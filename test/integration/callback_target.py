#!/usr/bin/python3
"""callback_target.py - a callback receiver for the integration tests.

usage: callback_target.py ADDR PORT LOG MODE
  MODE ok      answer 200 and append {"t","path","signature","body"} as one JSON line to LOG
  MODE hang    accept, read the request, never answer (until killed)
  MODE flaky   answer 500 to the first 2 requests, then as ok
"""
import http.server
import json
import sys
import threading
import time

addr, port, log, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
lock = threading.Lock()
seen = [0]


class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n).decode()
        with lock:
            seen[0] += 1
            k = seen[0]
        if mode == "hang":
            time.sleep(3600)
            return
        if mode == "flaky" and k <= 2:
            self.send_response(500)
            self.end_headers()
            return
        with lock, open(log, "a") as f:
            f.write(json.dumps({"t": time.time(), "path": self.path,
                                "signature": self.headers.get("X-Mdo-Signature"),
                                "content_type": self.headers.get("Content-Type"),
                                "body": body}) + "\n")
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *a):
        pass


srv = http.server.ThreadingHTTPServer((addr, port), H)
srv.daemon_threads = True
srv.serve_forever()
