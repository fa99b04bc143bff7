/* self.c - what a container knows about itself: environment, service, container name, host and
 * own address, its ports. No registry: these read only what mdo injects (DESIGN §4).
 *
 * usage: get_environment_name
 * usage: get_service_name
 * usage: get_container_name
 * usage: get_container_host_address
 * usage: get_container_internal_address
 * usage: get_port NAME [DEFAULT]
 */
#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "applet.h"
#include "envname.h"

const char guest_usage_get_environment_name[] =
    "usage: get_environment_name\n"
    "\n"
    "Prints the environment this container runs in ($MDO_ENVIRONMENT; \"local\", the config's\n"
    "default, when unset: the registry applets look there too).\n";

const char guest_usage_get_service_name[] =
    "usage: get_service_name\n"
    "\n"
    "Prints this container's service ($MDO_SERVICE, else the seed's $SERVICE_NAME).\n"
    "Exit 1 when neither is set.\n";

const char guest_usage_get_container_name[] =
    "usage: get_container_name\n"
    "\n"
    "Prints this container's instance name, its key in the registry ($MDO_CONTAINER_NAME, else\n"
    "Mesos' $MESOS_TASK_ID under Marathon). Exit 1 when neither is set.\n";

const char guest_usage_get_container_host_address[] =
    "usage: get_container_host_address\n"
    "\n"
    "Prints the address peers reach this container's published ports at ($MDO_HOST_ADDRESS,\n"
    "else $HOST under Marathon, else $<P>HOST when Marathon runs with --env_vars_prefix <P>).\n"
    "Exit 1 when none is set.\n";

const char guest_usage_get_container_internal_address[] =
    "usage: get_container_internal_address\n"
    "\n"
    "Prints this container's own IPv4 address: the first non-loopback interface that is up.\n"
    "Exit 1 when there is none.\n";

const char guest_usage_get_port[] =
    "usage: get_port NAME [DEFAULT]\n"
    "\n"
    "Prints this container's internal port named NAME ($MDO_PORT_<NAME>, NAME upper-cased with\n"
    "every non-alphanumeric turned into '_'), or DEFAULT when there is no such port.\n"
    "Exit 1 when there is none and no DEFAULT.\n";

/* The applets without arguments that print one variable (or its seed/Marathon fallback). */
static int print_var(int argc, char **argv, const char *usage, const char *var,
                     const char *fallback, const char *def)
{
    const char *v;

    if (cli_wants_help(argc, argv, usage))
        return GUEST_FOUND;
    if (argc > 1)
        return guest_usage_error(argv[0], usage, "no argument expected, got '%s'", argv[1]);
    v = guest_env(var, fallback);
    if (v || def)
        return guest_print(v ? v : def);
    if (fallback)
        fprintf(stderr, "%s: neither %s nor %s is set\n", argv[0], var, fallback);
    else
        fprintf(stderr, "%s: %s is not set\n", argv[0], var);
    return GUEST_NOT_FOUND;
}

int guest_get_environment_name(int argc, char **argv)
{
    return print_var(argc, argv, guest_usage_get_environment_name, "MDO_ENVIRONMENT", NULL,
                     "local");
}

int guest_get_service_name(int argc, char **argv)
{
    return print_var(argc, argv, guest_usage_get_service_name, "MDO_SERVICE", "SERVICE_NAME", NULL);
}

int guest_get_container_name(int argc, char **argv)
{
    return print_var(argc, argv, guest_usage_get_container_name, "MDO_CONTAINER_NAME",
                     "MESOS_TASK_ID", NULL);
}

/* Marathon started with --env_vars_prefix P gives tasks PHOST, PPORT0, PPORTS ... instead of
 * HOST, PORT0, PORTS (its EnvironmentHelper prefixes them all; Mesos' MESOS_TASK_ID is not
 * prefixed), and mdo cannot know P when it builds the app (Marathon does not expand env values).
 * So the host address is MDO_HOST_ADDRESS, else HOST, else the one PHOST whose PPORT0 or PPORTS
 * is set beside it. NULL when there is none, or more than one. */
static const char *marathon_host(void)
{
    extern char **environ;
    const char *found = NULL;

    for (char **e = environ; e && *e; e++) {
        const char *eq = strchr(*e, '=');
        size_t n = eq ? (size_t)(eq - *e) : 0;
        char port0[256], ports[256];

        if (n <= 4 || n >= 200 || strncmp(eq - 4, "HOST", 4) || !eq[1])
            continue;
        snprintf(port0, sizeof(port0), "%.*sPORT0", (int)(n - 4), *e);
        snprintf(ports, sizeof(ports), "%.*sPORTS", (int)(n - 4), *e);
        if (!getenv(port0) && !getenv(ports))
            continue;
        if (found)
            return NULL; /* two candidates: not ours to choose */
        found = eq + 1;
    }
    return found;
}

int guest_get_container_host_address(int argc, char **argv)
{
    const char *usage = guest_usage_get_container_host_address, *v;

    if (cli_wants_help(argc, argv, usage))
        return GUEST_FOUND;
    if (argc > 1)
        return guest_usage_error(argv[0], usage, "no argument expected, got '%s'", argv[1]);
    v = guest_env("MDO_HOST_ADDRESS", "HOST");
    if (!v)
        v = marathon_host();
    if (v)
        return guest_print(v);
    fprintf(stderr, "%s: neither MDO_HOST_ADDRESS nor HOST is set\n", argv[0]);
    return GUEST_NOT_FOUND;
}

int guest_get_container_internal_address(int argc, char **argv)
{
    const char *usage = guest_usage_get_container_internal_address;
    struct ifaddrs *ifs, *i;
    char addr[INET_ADDRSTRLEN] = "";

    if (cli_wants_help(argc, argv, usage))
        return GUEST_FOUND;
    if (argc > 1)
        return guest_usage_error(argv[0], usage, "no argument expected, got '%s'", argv[1]);
    if (getifaddrs(&ifs)) {
        perror(argv[0]);
        return GUEST_NOT_FOUND;
    }
    /* getifaddrs lists interfaces in kernel index order: lo, then eth0 in a bridge container */
    for (i = ifs; i && !addr[0]; i = i->ifa_next) {
        if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET)
            continue;
        if ((i->ifa_flags & IFF_LOOPBACK) || !(i->ifa_flags & IFF_UP))
            continue;
        inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)i->ifa_addr)->sin_addr, addr,
                  sizeof(addr));
    }
    freeifaddrs(ifs);
    if (!addr[0]) {
        fprintf(stderr, "%s: no non-loopback IPv4 address\n", argv[0]);
        return GUEST_NOT_FOUND;
    }
    return guest_print(addr);
}

int guest_get_port(int argc, char **argv)
{
    const char *usage = guest_usage_get_port, *v;
    struct buf var = BUF_INIT(1024); /* cap: an env key, not a document */
    unsigned port;
    int ret;

    if (cli_wants_help(argc, argv, usage))
        return GUEST_FOUND;
    if (argc < 2 || argc > 3)
        return guest_usage_error(argv[0], usage, "expected NAME [DEFAULT]");
    if (!argv[1][0])
        return guest_usage_error(argv[0], usage, "port name is empty");
    if (envname(&var, "MDO_PORT_", argv[1])) {
        buf_release(&var);
        return guest_usage_error(argv[0], usage, "port name is too long");
    }
    v = guest_env(var.ptr, NULL);
    if (v && cli_parse_uint(v, 65535, &port)) {
        fprintf(stderr, "%s: %s is '%s', not a port number\n", argv[0], var.ptr, v);
        ret = GUEST_NOT_FOUND;
    } else if (v || argc == 3) {
        ret = guest_print(v ? v : argv[2]);
    } else {
        fprintf(stderr, "%s: this container has no port '%s' (%s is not set)\n", argv[0], argv[1],
                var.ptr);
        ret = GUEST_NOT_FOUND;
    }
    buf_release(&var);
    return ret;
}
