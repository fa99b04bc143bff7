/* restart.c - `mdo restart SERVICE`: rolling restart, one instance at a time */
#include <stdio.h>
#include <stdlib.h>
#include "cmd.h"

const char usage_restart[] =
    "usage: mdo restart SERVICE [--pause SECS] [--wait[=SECS]] [--force] [-c FILE]\n"
    "\n"
    "Replaces every instance of SERVICE by a fresh one, one at a time: on Docker the new\n"
    "container runs (and is healthy, with a health check) before the old one is removed; on\n"
    "Marathon it is Marathon's restart, following the service's upgrade strategy.\n"
    "\n"
    "  --pause SECS   wait between instances (default: the service's upgrade.pause)\n"
    "  --wait[=SECS]  Marathon: wait until the restart's deployment is done (Docker: always)\n"
    "  --force        Marathon: override a deployment that holds the app (HTTP 409)\n"
    "  -c FILE        config file (default: $MDO_CONFIG, ./mdo.yaml, ./config.yaml)\n";

int cmd_restart(int argc, char **argv)
{
    struct mdo_err err = MDO_ERR_INIT;
    struct cmd_args a;
    struct cmd_env ce = {0};
    struct sched_opts o = {0};
    const struct cfg_service *svc;
    unsigned pause_s = 0;
    int ret;

    if (cmd_wants_help(argc, argv, usage_restart))
        return 0;
    if (cmd_parse("restart", usage_restart, argc, argv, ARG_PAUSE | ARG_FORCE | ARG_WAIT, &a))
        return 2;
    if (a.npos != 1) {
        free(a.pos);
        return cmd_usage_error("restart", usage_restart, "needs one SERVICE");
    }
    ret = cmd_env_open(&ce, a.config, NEED_SCHED, &err);
    if (!ret)
        ret = cmd_check_services(ce.cfg, a.pos, 1, &err);
    if (!ret) {
        svc = cfg_service(ce.cfg, a.pos[0]);
        pause_s = a.pause_set ? a.pause_s : svc->upgrade_pause;
        o.force = a.force;
        o.wait = a.wait;
        o.wait_s = a.wait_s;
        o.progress = stderr;
        ret = ce.ops->restart(ce.sched, svc, pause_s, &o, &err);
    }
    if (ce.cfg)
        cmd_env_close(&ce);
    free(a.pos);
    return err_report("restart", &err);
}
