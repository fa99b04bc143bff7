#!/bin/sh
# proxy.sh - the proxy: busybox httpd + the forwarding CGI; `watch` regenerates the backend
# list (the proxy's config) on every change of web, and the CGI reads it at each request
# (that is its reload: no process to signal).
mkdir -p /www/cgi-bin /etc/proxy
cp /opt/web-proxy/proxy.cgi /www/cgi-bin/proxy
httpd -p "$(get_port http 8080)" -h /www
exec mdo guest watch web --initial --settle 300 -- /opt/web-proxy/regen.sh
