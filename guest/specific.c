/* specific.c - one named instance of a service: its host, its published and its exposed ports
 *
 * usage: get_specific_host SERVICE CONTAINER
 * usage: get_specific_port SERVICE CONTAINER PORT [DEFAULT]
 * usage: get_specific_exposed_port SERVICE CONTAINER PORT [DEFAULT]
 */
#include <stdio.h>
#include "applet.h"

const char guest_usage_get_specific_host[] =
    "usage: get_specific_host SERVICE CONTAINER\n"
    "\n"
    "Prints the host address of instance CONTAINER of SERVICE, as registered.\n"
    "Exit 1 when there is no such instance.\n";

const char guest_usage_get_specific_port[] =
    "usage: get_specific_port SERVICE CONTAINER PORT [DEFAULT]\n"
    "\n"
    "Prints the external (published, host side) port named PORT of instance CONTAINER of\n"
    "SERVICE, or DEFAULT when the instance or the port does not exist. Exit 1 when neither.\n";

const char guest_usage_get_specific_exposed_port[] =
    "usage: get_specific_exposed_port SERVICE CONTAINER PORT [DEFAULT]\n"
    "\n"
    "Prints the internal (container side) port named PORT of instance CONTAINER of SERVICE,\n"
    "or DEFAULT when the instance or the port does not exist. Exit 1 when neither.\n";

enum what { HOST, EXTERNAL, INTERNAL };

static int lookup(int argc, char **argv, const char *usage, enum what what)
{
    struct guest_reg g = GUEST_REG_INIT;
    struct mdo_err err = MDO_ERR_INIT;
    struct reg_record r = {0};
    const char *def = what != HOST && argc == 5 ? argv[4] : NULL;
    const struct reg_port *p;

    if (cli_wants_help(argc, argv, usage))
        return GUEST_FOUND;
    if (what == HOST && argc != 3)
        return guest_usage_error(argv[0], usage, "expected SERVICE CONTAINER");
    if (what != HOST && (argc < 4 || argc > 5))
        return guest_usage_error(argv[0], usage, "expected SERVICE CONTAINER PORT [DEFAULT]");
    if (guest_check_name("service", argv[1], &err) || guest_check_name("container", argv[2], &err))
        return guest_usage_error(argv[0], usage, "%s", err.msg);
    if (guest_reg_open(&g, &err) || guest_get(&g, argv[1], argv[2], &r, &err))
        goto out;
    if (what == HOST) {
        guest_print(r.host);
        goto out;
    }
    p = reg_record_port(&r, argv[3]);
    if (p)
        printf("%d\n", what == EXTERNAL ? p->external : p->internal);
    else
        err_set(&err, MDO_ENOTFOUND, "service '%s' has no port '%s' (instance '%s')", argv[1],
                argv[3], argv[2]);
out:
    /* a default answers "no such instance or port", never "the registry is down": a start
     * script must not take a fallback port for a peer that exists */
    if (def && err.code == MDO_ENOTFOUND) {
        err_clear(&err);
        guest_print(def);
    }
    reg_record_release(&r);
    guest_reg_close(&g);
    return guest_report(argv[0], &err);
}

int guest_get_specific_host(int argc, char **argv)
{
    return lookup(argc, argv, guest_usage_get_specific_host, HOST);
}

int guest_get_specific_port(int argc, char **argv)
{
    return lookup(argc, argv, guest_usage_get_specific_port, EXTERNAL);
}

int guest_get_specific_exposed_port(int argc, char **argv)
{
    return lookup(argc, argv, guest_usage_get_specific_exposed_port, INTERNAL);
}
