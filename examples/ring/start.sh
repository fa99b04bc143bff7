#!/bin/sh
# start.sh - a ring member: wait for MIN_NODES peers (cluster bootstrap), serve the peer list,
# keep it current with `watch` (busybox sh runs its own `watch`: hence `mdo guest watch`).
set -u
mkdir -p /www
echo "$MDO_CONTAINER_NAME: waiting for ${MIN_NODES:-1} ring members" >&2
# --wait is an etcd watch: it returns as soon as MIN_NODES members are registered
if ! get_node_list ring peer --minimum "${MIN_NODES:-1}" --wait 300 >/www/peers.new; then
    echo "$MDO_CONTAINER_NAME: the ring did not form" >&2
    exit 1
fi
mv /www/peers.new /www/peers
echo "$MDO_CONTAINER_NAME: joined a ring of $(grep -c . /www/peers)" >&2
: >/www/cleanups
httpd -p "$(get_port http 8080)" -h /www
# --initial: a change between the wait above and the watch's start is not lost
exec mdo guest watch ring --initial --settle 300 -- /opt/ring/on-change.sh
