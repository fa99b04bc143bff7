#!/bin/sh
# web.sh - a web instance: says who it is
mkdir -p /www
echo "hello from $MDO_CONTAINER_NAME" >/www/index.html
exec httpd -f -p "$(get_port http 8080)" -h /www
