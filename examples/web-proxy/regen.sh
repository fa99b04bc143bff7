#!/bin/sh
# regen.sh - run by `watch`: the backend list from the registry, replaced atomically
get_node_list web http >/etc/proxy/backends.new || exit 1
mv /etc/proxy/backends.new /etc/proxy/backends
echo "proxy: web changed ($MDO_DELTA): $(grep -c . /etc/proxy/backends) backends" >&2
