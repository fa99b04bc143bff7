#!/usr/bin/python3
"""guestutils_test.py - guest/guestutils.py used the way a maestro-ng start script uses it.

Run by guestutils.sh with MDO_ETCD/MDO_ENVIRONMENT/MDO_* set and records in etcd:
  zk:    zk-1 (10.0.0.1, client 32181, peer 32888, election 33888), zk-2, zk-3 (rack r2)
  kafka: kafka-1 (this container, broker 9092 -> 39092)
Prints "ok - ..." / "not ok - ..." lines.
"""
import os
import sys

sys.path.insert(0, os.environ['GUESTUTILS_DIR'])

# -- what a maestro-ng kafka start script does ---------------------------------------------
from guestutils import *  # noqa: E402,F403

failed = 0


def check(desc, got, want):
    global failed
    if got == want:
        print('ok - ' + desc)
    else:
        failed += 1
        print('not ok - {}\n  got:      {!r}\n  expected: {!r}'.format(desc, got, want))


def raises(desc, exc, fn, *a, **kw):
    global failed
    try:
        v = fn(*a, **kw)
    except exc as e:
        print('ok - {} ({}: {})'.format(desc, type(e).__name__, str(e)[:80]))
        return
    except Exception as e:  # noqa: BLE001
        v = e
    failed += 1
    print('not ok - {}\n  got:      {!r}\n  expected: {}'.format(desc, v, exc.__name__))


# the classic: ZooKeeper connect string from the zk service's client ports
zk_connect = ','.join(get_node_list('zookeeper', ports=['client']))
check('zookeeper.connect', zk_connect, '10.0.0.1:32181,10.0.0.2:32182,10.0.0.3:32183')

# a zoo.cfg server list from peer and election ports, keyed by instance number
servers = ['server.{}={}'.format(i + 1, n)
           for i, n in enumerate(get_node_list('zookeeper', ports=['peer', 'election']))]
check('zoo.cfg servers', servers, ['server.1=10.0.0.1:32888:33888',
                                   'server.2=10.0.0.2:32889:33889',
                                   'server.3=10.0.0.3:32890:33890'])

check('get_environment_name', get_environment_name(), os.environ['MDO_ENVIRONMENT'])
check('get_service_name', get_service_name(), 'kafka')
check('get_container_name', get_container_name(), 'kafka-1')
check('get_container_host_address', get_container_host_address(), '10.0.0.9')
check('get_container_internal_address is a str', type(get_container_internal_address()), str)
check('get_port is an int', get_port('broker'), 9092)
check('get_port default', get_port('jmx', 7199), 7199)
raises('get_port without default raises', MaestroEnvironmentError, get_port, 'jmx')

check('get_node_list hosts only', get_node_list('zookeeper'), ['10.0.0.1', '10.0.0.2', '10.0.0.3'])
check('get_node_list minimum met', len(get_node_list('zookeeper', minimum=3)), 3)
raises('get_node_list fewer than minimum raises', MaestroEnvironmentError,
       get_node_list, 'zookeeper', minimum=4)
raises('get_node_list of a service with no instance raises (maestro: minimum=1)',
       MaestroEnvironmentError, get_node_list, 'cassandra')
check('get_node_list minimum=0 of nothing', get_node_list('cassandra', minimum=0), [])
check('get_node_list labels', get_node_list('zookeeper', ['client'], labels={'rack': 'r2'}),
      ['10.0.0.3:32183'])
raises('get_node_list unknown port raises', MaestroEnvironmentError,
       get_node_list, 'zookeeper', ['nope'])

check('get_specific_host', get_specific_host('zookeeper', 'zk-2'), '10.0.0.2')
raises('get_specific_host unknown raises', MaestroEnvironmentError,
       get_specific_host, 'zookeeper', 'zk-9')
check('get_specific_port', get_specific_port('zookeeper', 'zk-2', 'client'), 32182)
check('get_specific_port default', get_specific_port('zookeeper', 'zk-9', 'client', 2181), 2181)
raises('get_specific_port without default raises', MaestroEnvironmentError,
       get_specific_port, 'zookeeper', 'zk-9', 'client')
check('get_specific_exposed_port', get_specific_exposed_port('zookeeper', 'zk-3', 'client'), 2181)
check('get_specific_exposed_port default',
      get_specific_exposed_port('zookeeper', 'zk-3', 'nope', default=1), 1)
raises('get_specific_exposed_port without default raises', MaestroEnvironmentError,
       get_specific_exposed_port, 'zookeeper', 'zk-3', 'nope')

# the registry down: a subclass of maestro's error, and never a default
os.environ['MDO_ETCD'] = 'http://127.0.0.1:1'
raises('registry down raises RegistryUnreachableError', RegistryUnreachableError,
       get_node_list, 'zookeeper')
raises('registry down: a default is not taken', RegistryUnreachableError,
       get_specific_port, 'zookeeper', 'zk-1', 'client', 2181)
raises('registry down is a MaestroEnvironmentError too', MaestroEnvironmentError,
       get_specific_host, 'zookeeper', 'zk-1')
os.environ['MDO_BINARY'] = '/nonexistent/mdo'
raises('no mdo binary raises', MaestroEnvironmentError, get_service_name)
sys.exit(1 if failed else 0)
