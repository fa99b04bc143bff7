#!/usr/bin/env python3
"""zk-config.py - writes ZooKeeper's zoo.cfg and myid from the registry, maestro-ng style.

usage: zk-config.py [CONF_DIR]   (default /conf; prints zoo.cfg on stdout with '-')
"""
import os
import re
import sys

from guestutils import get_container_name, get_node_list, get_port, get_service_name


def myid(container):
    """The instance number: <env>-<service>-<n> on docker; 1 elsewhere."""
    m = re.search(r'-(\d+)$', container)
    return int(m.group(1)) if m else 1


def main():
    service = get_service_name()
    me = get_container_name()
    # the ensemble: every member's peer and election ports, in container order; wait for it
    members = get_node_list(service, ports=['peer', 'election'], minimum=1, wait=120)
    lines = ['tickTime=2000', 'initLimit=10', 'syncLimit=5', 'dataDir=/data',
             'clientPort={}'.format(get_port('client', 2181))]
    for i, m in enumerate(members):
        lines.append('server.{}={}'.format(i + 1, m))
    cfg = '\n'.join(lines) + '\n'
    out = sys.argv[1] if len(sys.argv) > 1 else '/conf'
    if out == '-':
        sys.stdout.write(cfg)
        sys.stdout.write('# myid={}\n'.format(myid(me)))
        return
    with open(os.path.join(out, 'zoo.cfg'), 'w') as f:
        f.write(cfg)
    with open('/data/myid', 'w') as f:
        f.write('{}\n'.format(myid(me)))


if __name__ == '__main__':
    main()
