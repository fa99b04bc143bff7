#!/usr/bin/env python3
"""kafka-config.py - writes Kafka's server.properties from the registry, maestro-ng style.

usage: kafka-config.py [FILE]   (default /opt/kafka/config/server.properties; '-' = stdout)
"""
import os
import re
import sys

from guestutils import (get_container_host_address, get_container_name, get_node_list,
                        get_port, get_service_name, get_specific_port)


def main():
    me = get_container_name()
    m = re.search(r'-(\d+)$', me)
    broker_id = int(m.group(1)) if m else 1
    # wait for the ensemble, as the seed's start scripts did with MIN_ZK
    zk = get_node_list('zookeeper', ports=['client'],
                       minimum=int(os.environ.get('MIN_ZK', '1')), wait=120)
    host = get_container_host_address()
    # peers reach this broker at the host's published port, not at the container's own
    advertised = get_specific_port(get_service_name(), me, 'broker', get_port('broker', 9092))
    props = [
        'broker.id={}'.format(broker_id),
        'listeners=PLAINTEXT://0.0.0.0:{}'.format(get_port('broker', 9092)),
        'advertised.listeners=PLAINTEXT://{}:{}'.format(host, advertised),
        'zookeeper.connect={}'.format(','.join(zk)),
        'log.dirs=/data/kafka',
    ]
    text = '\n'.join(props) + '\n'
    out = sys.argv[1] if len(sys.argv) > 1 else '/opt/kafka/config/server.properties'
    if out == '-':
        sys.stdout.write(text)
    else:
        with open(out, 'w') as f:
            f.write(text)


if __name__ == '__main__':
    main()
