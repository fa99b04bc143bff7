/* scale.c - `mdo scale SERVICE N`: set a service's instance count */
#include <stdio.h>
#include <stdlib.h>
#include "cmd.h"

const char usage_scale[] =
    "usage: mdo scale SERVICE N [--wait[=SECS]] [--force] [-c FILE]\n"
    "\n"
    "Sets the number of running instances of SERVICE to N (0..1000). Instances are added with\n"
    "the next free numbers and removed from the highest number down. The config's `instances`\n"
    "is not changed: the next `mdo launch` brings the count back to it.\n"
    "\n"
    "  --wait[=SECS]  wait until N instances run (and are healthy); default 300 s\n"
    "  --force        Marathon: override a deployment that holds the app (HTTP 409)\n"
    "  -c FILE        config file (default: $MDO_CONFIG, ./mdo.yaml, ./config.yaml)\n";

int cmd_scale(int argc, char **argv)
{
    struct mdo_err err = MDO_ERR_INIT;
    struct cmd_args a;
    struct cmd_env ce = {0};
    struct sched_opts o = {0};
    unsigned n = 0;
    int ret;

    if (cmd_wants_help(argc, argv, usage_scale))
        return 0;
    if (cmd_parse("scale", usage_scale, argc, argv, ARG_WAIT | ARG_FORCE, &a))
        return 2;
    if (a.npos != 2) {
        free(a.pos);
        return cmd_usage_error("scale", usage_scale, "needs SERVICE and N");
    }
    if (cmd_parse_uint(a.pos[1], CFG_MAX_INSTANCES, &n)) {
        err_set(&err, MDO_EFAIL, "instance count must be a whole number from 0 to %d, got '%s'",
                CFG_MAX_INSTANCES, a.pos[1]);
        free(a.pos);
        return err_report("scale", &err);
    }
    ret = cmd_env_open(&ce, a.config, 0, &err);
    if (!ret)
        ret = cmd_check_services(ce.cfg, a.pos, 1, &err);
    if (!ret)
        ret = sched_for(ce.cfg, &ce.ops, &err);
    if (!ret)
        ret = ce.ops->open(&ce.sched, ce.cfg, &err);
    o.wait = a.wait;
    o.wait_s = a.wait_s;
    o.force = a.force;
    o.progress = stderr;
    if (!ret)
        ret = ce.ops->scale(ce.sched, cfg_service(ce.cfg, a.pos[0]), n, &o, &err);
    if (ce.cfg)
        cmd_env_close(&ce);
    free(a.pos);
    return err_report("scale", &err);
}
