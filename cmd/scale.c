/* scale.c - `mdo scale SERVICE N`: set a service's instance count */
#include <stdio.h>
#include <stdlib.h>
#include "cmd.h"

const char usage_scale[] =
    "usage: mdo scale SERVICE N [--wait[=SECS]] [--force] [-c FILE]\n"
    "\n"
    "Sets the number of running instances of SERVICE to N (0..1000). Instances are added with\n"
    "the next free numbers and removed from the highest number down. The config's `instances`\n"
    "is not changed, and a later `mdo launch` of the service (or `--all`) sets the count back\n"
    "to it: put the new count in the config to keep it. Until then `mdo status` shows the\n"
    "scaled count as wanted and the config's beside it.\n"
    "\n"
    "  --wait[=SECS]  wait until N instances run (and are healthy); default 300 s\n"
    "  --force        Marathon: override a deployment that holds the app (HTTP 409)\n"
    "  -c FILE        config file (default: $MDO_CONFIG, ./mdo.yaml, ./config.yaml)\n";

const struct cli_opt options_scale[] = {
    CMD_OPT_CONFIG, /* -c FILE */
    CMD_OPT_WAIT,   /* --wait[=SECS] */
    CMD_OPT_FORCE,  /* --force */
    {0},
};

/* N is checked before the config is read (exit 1, not a usage error: as ever) */
int args_scale(const struct cmd *c, const struct cmd_args *a)
{
    struct mdo_err err = MDO_ERR_INIT;
    unsigned n;

    if (a->npos != 2)
        return cmd_usage_error(c->name, c->usage, "needs SERVICE and N");
    if (cli_parse_uint(a->pos[1], CFG_MAX_INSTANCES, &n))
        err_set(&err, MDO_EFAIL, "instance count must be a whole number from 0 to %d, got '%s'",
                CFG_MAX_INSTANCES, a->pos[1]);
    return err_report(c->name, &err);
}

int cmd_scale(struct cmd_env *ce, const struct cmd_args *a)
{
    struct mdo_err err = MDO_ERR_INIT;
    struct sched_opts o = {
        .wait = a->wait, .wait_s = a->wait_s, .force = a->force, .progress = stderr};
    unsigned n = 0;

    cli_parse_uint(a->pos[1], CFG_MAX_INSTANCES, &n); /* args_scale() accepted it */
    ce->ops->scale(ce->sched, cfg_service(ce->cfg, a->pos[0]), n, &o, &err);
    return err_report("scale", &err);
}
