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

const struct cli_opt options_restart[] = {
    CMD_OPT_CONFIG,
    {.type = CLI_UINT,
     .long_name = "pause",
     .off = offsetof(struct cmd_args, pause_s),
     .seen = CLI_SEEN(struct cmd_args, pause_set),
     .max = 86400,
     .bad = "--pause takes seconds 0..86400, got '%s'"},
    CMD_OPT_WAIT,
    CMD_OPT_FORCE,
    {0},
};

int args_restart(const struct cmd *c, const struct cmd_args *a)
{
    return a->npos != 1 ? cmd_usage_error(c->name, c->usage, "needs one SERVICE") : 0;
}

int cmd_restart(struct cmd_env *ce, const struct cmd_args *a)
{
    struct mdo_err err = MDO_ERR_INIT;
    const struct cfg_service *svc = cfg_service(ce->cfg, a->pos[0]);
    struct sched_opts o = {
        .wait = a->wait, .wait_s = a->wait_s, .force = a->force, .progress = stderr};

    ce->ops->restart(ce->sched, svc, a->pause_set ? a->pause_s : svc->upgrade_pause, &o, &err);
    return err_report("restart", &err);
}
