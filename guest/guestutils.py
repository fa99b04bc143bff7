"""guestutils.py - maestro-ng's guest helpers on top of mdo's registry (stdlib only, Python 3).

Start scripts written for maestro-ng (or for mdo's 2014 ancestor) keep working:

    from guestutils import *
    seeds = get_node_list('cassandra', ports=['storage'])       # ['10.0.0.5:31005', ...]
    me = get_container_name()
    port = get_port('native', 9042)

Every function calls the mdo binary's guest applets (`mdo guest NAME ...`), which read the
environment mdo injects into containers (MDO_ETCD, MDO_ENVIRONMENT, MDO_SERVICE, ...) and the
etcd registry. The binary is $MDO_BINARY, else `mdo` on $PATH, else /usr/local/bin/mdo.

Errors raise MaestroEnvironmentError, as maestro-ng does, when a value is missing and no default
was given; RegistryUnreachableError (a subclass) when etcd did not answer, so a script may retry.
"""
import os
import shutil
import subprocess

__all__ = [
    'MaestroEnvironmentError', 'RegistryUnreachableError',
    'get_environment_name', 'get_service_name', 'get_container_name',
    'get_container_host_address', 'get_container_internal_address',
    'get_port', 'get_node_list', 'get_specific_host', 'get_specific_port',
    'get_specific_exposed_port',
]

# DESIGN §7's exit codes
_FOUND, _NOT_FOUND, _USAGE, _UNREACHABLE, _TOO_FEW = 0, 1, 2, 3, 4


class MaestroEnvironmentError(Exception):
    """A value the container needs is not there (maestro-ng's name)."""


class RegistryUnreachableError(MaestroEnvironmentError):
    """The registry (etcd) did not answer: worth a retry."""


def _binary():
    b = os.environ.get('MDO_BINARY')
    if b:
        return b
    return shutil.which('mdo') or '/usr/local/bin/mdo'


def _run(applet, *args):
    """Runs `mdo guest APPLET ARGS`; returns (exit code, stdout, stderr)."""
    try:
        p = subprocess.run([_binary(), 'guest', applet] + [str(a) for a in args],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           universal_newlines=True)
    except OSError as e:
        raise MaestroEnvironmentError('cannot run the mdo binary ({}): {}'.format(_binary(), e))
    return p.returncode, p.stdout, p.stderr.strip()


def _value(applet, *args):
    """The applet's one-line answer; raises on anything but "found"."""
    rc, out, err = _run(applet, *args)
    if rc == _FOUND:
        return out.rstrip('\n')
    _raise(rc, err)


def _raise(rc, err):
    if rc == _UNREACHABLE:
        raise RegistryUnreachableError(err)
    if rc == _USAGE:
        raise ValueError(err)
    raise MaestroEnvironmentError(err or 'not found (exit {})'.format(rc))


def _lookup_or_default(applet, default, *args):
    """For lookups with maestro's default: the default answers "not found", never "the
    registry is down" (a start script must not take a fallback port for a peer that exists)."""
    rc, out, err = _run(applet, *args)
    if rc == _FOUND:
        return out.rstrip('\n')
    if rc == _NOT_FOUND and default is not None:
        return default
    _raise(rc, err)


def get_environment_name():
    """The environment this container runs in ('local' when unset)."""
    return _value('get_environment_name')


def get_service_name():
    """This container's service."""
    return _value('get_service_name')


def get_container_name():
    """This container's instance name (its key in the registry)."""
    return _value('get_container_name')


def get_container_host_address():
    """The address of the host this container runs on (peers reach it there)."""
    return _value('get_container_host_address')


def get_container_internal_address():
    """This container's own address."""
    return _value('get_container_internal_address')


def get_port(name, default=None):
    """This container's internal (exposed) port named `name`, as an int, or `default`."""
    v = _lookup_or_default('get_port', default, name)
    return v if v is default else int(v)


def get_node_list(service, ports=None, minimum=1, labels=None, wait=None):
    """The instances of `service` as 'host[:port1[:port2...]]' strings sorted by container
    name, each port the external port of the named ports in `ports`. Raises when fewer than
    `minimum` instances exist. mdo's additions: `labels` ({key: value}) keeps only the
    instances with those labels; `wait` (seconds) waits for `minimum` to be reached."""
    args = [service] + list(ports or []) + ['--minimum', str(int(minimum))]
    for k, v in sorted((labels or {}).items()):
        args += ['--label', '{}={}'.format(k, v)]
    if wait:
        args += ['--wait', str(int(wait))]
    rc, out, err = _run('get_node_list', *args)
    if rc == _FOUND:
        return [line for line in out.split('\n') if line]
    if rc == _TOO_FEW:
        raise MaestroEnvironmentError(
            'No or not enough {} nodes configured ({})'.format(service, err))
    _raise(rc, err)


def get_specific_host(service, container):
    """The host address of instance `container` of `service`."""
    return _value('get_specific_host', service, container)


def get_specific_port(service, container, port, default=None):
    """The external (published) port named `port` of instance `container` of `service`, as
    an int, or `default` when that instance or port does not exist."""
    v = _lookup_or_default('get_specific_port', default, service, container, port)
    return v if v is default else int(v)


def get_specific_exposed_port(service, container, port, default=None):
    """The internal (container side) port named `port` of instance `container` of `service`,
    as an int, or `default` when that instance or port does not exist."""
    v = _lookup_or_default('get_specific_exposed_port', default, service, container, port)
    return v if v is default else int(v)
