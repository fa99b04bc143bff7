/* register_callback.c - register_callback: have the subscriber POST a service's membership
 * changes to a URL
 *
 * usage: register_callback SERVICE URL [--secret S] [--owner NAME] [--remove]
 */
#include <stdio.h>
#include <string.h>
#include "applet.h"
#include "cbreg.h"
#include "names.h"

const char guest_usage_register_callback[] =
    "usage: register_callback SERVICE URL [--secret S] [--owner NAME] [--remove]\n"
    "\n"
    "Registers URL in the registry: each time the membership of SERVICE changes, the\n"
    "subscriber POSTs {\"environment\",\"service\",\"revision\",\"instances\",\"added\",\n"
    "\"removed\",\"changed\"} to it (with X-Mdo-Signature: sha256=<hex HMAC-SHA256 of the\n"
    "body, keyed with S> when --secret is given), retrying with backoff. Prints the\n"
    "registration's id. Registering the same SERVICE, URL and owner again rewrites the same\n"
    "registration (a start script may run it at every start).\n"
    "\n"
    "The owner is this container ($MDO_CONTAINER_NAME, else $MESOS_TASK_ID): when it leaves\n"
    "the registry, the subscriber removes its registrations.\n"
    "\n"
    "  --secret S    sign the deliveries (S is kept apart from the record, see guest/README.md)\n"
    "  --owner NAME  another owner ('' for none: the registration then stays until removed)\n"
    "  --remove      remove the registration instead\n"
    "\n"
    "Exit 0 done, 1 no such registration (--remove), 2 usage, 3 registry unreachable.\n";

struct rc_opts {
    const char *secret, *owner;
    int remove;
};

static const struct cli_opt options[] = {
    {.type = CLI_STRING, .long_name = "secret", .off = offsetof(struct rc_opts, secret)},
    {.type = CLI_STRING, .long_name = "owner", .off = offsetof(struct rc_opts, owner)},
    {.type = CLI_BOOL, .long_name = "remove", .off = offsetof(struct rc_opts, remove)},
    {0},
};

int guest_register_callback(int argc, char **argv)
{
    struct guest_reg g = GUEST_REG_INIT;
    struct mdo_err err = MDO_ERR_INIT;
    const char *name = argv[0], *usage = guest_usage_register_callback;
    const struct cli c = {name, usage, options, 0, "%s wants a value"};
    struct rc_opts o = {.owner = guest_env("MDO_CONTAINER_NAME", "MESOS_TASK_ID")};
    struct cli_args args;
    const char *svc, *url, *secret, *owner;
    char id[CBREG_ID_LEN + 1];
    int remove, too_many, ret;

    if (cli_wants_help(argc, argv, usage))
        return GUEST_FOUND;
    ret = cli_parse(&c, argc, argv, &o, &args);
    if (ret)
        return ret;
    svc = args.n > 0 ? args.v[0] : NULL; /* argv's strings: they outlive the array */
    url = args.n > 1 ? args.v[1] : NULL;
    too_many = args.n > 2;
    cli_args_release(&args);
    secret = o.secret;
    owner = o.owner;
    remove = o.remove;
    if (too_many)
        return guest_usage_error(name, usage, "too many arguments");
    if (!svc || !url)
        return guest_usage_error(name, usage, "expected SERVICE URL");
    if (guest_check_name("service", svc, &err) || name_check("service", svc, &err))
        return guest_usage_error(name, usage, "%s", err.msg);
    if ((strncmp(url, "http://", 7) && strncmp(url, "https://", 8)) || strpbrk(url, " \t\r\n"))
        return guest_usage_error(name, usage, "URL must be http:// or https://, not '%s'", url);
    if (secret && !*secret)
        return guest_usage_error(name, usage, "--secret is empty");
    if (owner && !*owner)
        owner = NULL;
    if (owner && (guest_check_name("owner", owner, &err) || segment_check("owner", owner, &err)))
        return guest_usage_error(name, usage, "%s", err.msg);
    ret = guest_reg_open(&g, &err);
    if (!ret && remove) {
        cbreg_id(svc, url, owner, id);
        ret = cbreg_unregister(&g.etcd, g.prefix, g.env, id, &err);
    } else if (!ret) {
        ret = cbreg_register(&g.etcd, g.prefix, g.env, svc, url, secret, owner, id, &err);
    }
    if (!ret)
        guest_print(id);
    guest_reg_close(&g);
    return guest_report(name, &err);
}
