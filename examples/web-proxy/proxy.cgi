#!/bin/sh
# proxy.cgi - forwards GET /cgi-bin/proxy[/PATH] to the next backend, round robin
set -f
path=${PATH_INFO:-/}
n=$(grep -c . /etc/proxy/backends 2>/dev/null)
if [ -z "$n" ] || [ "$n" = 0 ]; then
    printf 'Status: 503\r\nContent-Type: text/plain\r\n\r\nno backend\n'
    exit 0
fi
i=$(cat /tmp/rr 2>/dev/null || echo 0)
echo $((i + 1)) >/tmp/rr
b=$(sed -n "$((i % n + 1))p" /etc/proxy/backends)
# timeout(1), not wget -T: Debian's static busybox wget crashes with -T
if body=$(timeout 5 wget -q -O - "http://$b$path"); then
    printf 'Content-Type: text/plain\r\nX-Backend: %s\r\n\r\n%s\n' "$b" "$body"
else
    printf 'Status: 502\r\nContent-Type: text/plain\r\nX-Backend: %s\r\n\r\nbackend failed\n' "$b"
fi
