#!/bin/sh
# on-change.sh - run by `watch` once per settled membership change of the ring
# (MDO_CHANGED, MDO_DELTA, MDO_ADDED, MDO_REMOVED, MDO_NODES are set by watch).
get_node_list ring peer >/www/peers.new || exit 1
mv /www/peers.new /www/peers # atomic: the HTTP side never serves half a list
# a node joined (not this member's own first look at the ring, MDO_INITIAL=1): the data the
# newcomer now owns can go here (Cassandra's "nodetool cleanup")
if [ "$MDO_INITIAL" = 0 ] && [ -n "$MDO_ADDED" ]; then
    echo "cleanup after $MDO_ADDED joined" >>/www/cleanups
fi
echo "$MDO_CONTAINER_NAME: ring changed ($MDO_DELTA): $(grep -c . /www/peers) members" >&2
