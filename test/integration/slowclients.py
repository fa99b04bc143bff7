#!/usr/bin/python3
"""slowclients.py - idle and slowloris clients against an HTTP server, and /health timed meanwhile.

usage: slowclients.py HOST PORT IDLE SLOW [HOLD_S [SLOWBODY]]

Opens IDLE connections that send nothing, SLOW connections that send a request head one byte a
second (never finishing it) and SLOWBODY (default 0) that send a whole head and then their body
one byte a second, then times GET /health on fresh connections while they are held, and prints
one "key=value" line per fact:
  opened_idle=N opened_slow=N      connections that were accepted (connect() succeeded)
  health_n=N health_ok=N health_max_ms=F health_p50_ms=F
  open_idle_at_health=N open_slow_at_health=N   still open when /health was timed
  shed_idle=N shed_slow=N shed_max_s=F          closed by the server within HOLD_S (default 8)
  shed_body=N shed_body_max_s=F                 the same for the slow bodies
"""
import select
import socket
import sys
import time


def health(host, port):
    t0 = time.monotonic()
    try:
        s = socket.create_connection((host, port), timeout=5)
        s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        s.close()
        code = int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/") else 0
    except (OSError, ValueError, IndexError):
        code = 0
    return code, (time.monotonic() - t0) * 1000


def closed(s):
    """1 when the peer closed s (or it failed), without blocking; what it sent is read"""
    try:
        while True:
            if s.recv(65536) == b"":
                return 1
    except BlockingIOError:
        return 0
    except OSError:
        return 1


def main():
    host, port, nidle, nslow = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    hold = float(sys.argv[5]) if len(sys.argv) > 5 else 8.0
    nbody = int(sys.argv[6]) if len(sys.argv) > 6 else 0
    idle, slow, body = [], [], []
    for i in range(nidle + nslow + nbody):
        try:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            s.connect_ex((host, port))
            (idle if i < nidle else slow if i < nidle + nslow else body).append(s)
        except OSError:
            pass
    time.sleep(0.3)  # the handshakes: the kernel accepts them into the backlog
    ok = []
    for s in idle + slow + body:
        try:
            s.getpeername()
            ok.append(s)
        except OSError:
            pass
    print("opened_idle=%d opened_slow=%d" % (sum(1 for s in idle if s in ok),
                                              sum(1 for s in slow if s in ok)))
    head = b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 4096
    for s in body:
        try:
            s.send(b"POST /health HTTP/1.1\r\nHost: x\r\nContent-Length: 4096\r\n\r\n")
        except OSError:
            pass
    t_start = time.monotonic()
    pos = 0
    times, codes = [], []
    open_idle = open_slow = -1
    shed_at = {}
    while time.monotonic() - t_start < hold:
        for s in slow + body:  # one byte a second each
            if s not in shed_at:
                try:
                    s.send(head[pos:pos + 1] if s in slow else b"x")
                except OSError:
                    pass
        pos += 1
        tick = time.monotonic()
        if len(times) < 5 and tick - t_start >= 1.0:  # timed while all are held
            for _ in range(5):
                c, ms = health(host, port)
                codes.append(c)
                times.append(ms)
            open_idle = sum(1 for s in idle if not closed(s))
            open_slow = sum(1 for s in slow if not closed(s))
        for s in idle + slow + body:
            if s not in shed_at and closed(s):
                shed_at[s] = time.monotonic() - t_start
        time.sleep(max(0.0, 1.0 - (time.monotonic() - tick)))
    times.sort()
    print("health_n=%d health_ok=%d health_max_ms=%.1f health_p50_ms=%.1f" %
          (len(times), codes.count(200) + codes.count(503), times[-1] if times else -1,
           times[len(times) // 2] if times else -1))
    print("open_idle_at_health=%d open_slow_at_health=%d" % (open_idle, open_slow))
    print("shed_idle=%d shed_slow=%d shed_max_s=%.1f" %
          (sum(1 for s in idle if s in shed_at), sum(1 for s in slow if s in shed_at),
           max([shed_at[s] for s in idle + slow if s in shed_at] or [-1])))
    print("shed_body=%d shed_body_max_s=%.1f" %
          (sum(1 for s in body if s in shed_at), max([shed_at[s] for s in body if s in shed_at] or [-1])))
    for s in idle + slow + body:
        s.close()


if __name__ == "__main__":
    main()
