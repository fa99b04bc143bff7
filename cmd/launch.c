/* launch.c - `mdo launch`: create or update services so they match the config (idempotent) */
#include <stdio.h>
#include <stdlib.h>
#include "cmd.h"
#include "spec.h"

const char usage_launch[] =
    "usage: mdo launch SERVICE... | --all [--wait[=SECS]] [--dry-run] [--force] [-c FILE]\n"
    "\n"
    "Creates each service's instances, or updates them to match the config. Launching twice\n"
    "with the same config changes nothing; a changed image, environment, ports or limits\n"
    "replaces the instances one at a time (the new one runs before the old one goes).\n"
    "\n"
    "  --all          every service in the config\n"
    "  --wait[=SECS]  wait until all instances run (and are healthy); default 300 s\n"
    "  --dry-run      print the requests that would be sent (secrets redacted), send nothing\n"
    "  --force        Marathon: override a deployment that holds the app (HTTP 409)\n"
    "  -c FILE        config file (default: $MDO_CONFIG, ./mdo.yaml, ./config.yaml)\n";

/* The spec is not stored: it holds the environment's values (secrets among them) and nothing
 * read it; what an older mdo stored is removed (cmd_drop_old_spec). */
const struct cli_opt options_launch[] = {
    CMD_OPT_CONFIG,                   /* -c FILE */
    CMD_OPT_BOOL("all", all),         /* --all */
    CMD_OPT_WAIT,                     /* --wait[=SECS] */
    CMD_OPT_BOOL("dry-run", dry_run), /* --dry-run */
    CMD_OPT_FORCE,                    /* --force */
    {0},
};

int args_launch(const struct cmd *c, const struct cmd_args *a)
{
    return !a->all && !a->npos ? cmd_usage_error(c->name, c->usage, "name a service, or --all") : 0;
}

/* run() has checked the names and opened etcd and the scheduler, also for --dry-run: its
 * requests name the engine's bridge address */
int cmd_launch(struct cmd_env *ce, const struct cmd_args *a)
{
    struct mdo_err err = MDO_ERR_INIT;
    struct sched_opts o = {.wait = a->wait,
                           .wait_s = a->wait_s,
                           .dry_run = a->dry_run,
                           .force = a->force,
                           .progress = stderr};
    const char *unreachable =
        spec_subscriber_unreachable(ce->cfg, ce->cfg->scheduler == CFG_SCHED_DOCKER);
    int ret = 0;

    if (unreachable) /* once per launch, not per container */
        fprintf(stderr, "warning: %s\n", unreachable);
    for (unsigned i = 0; !ret && i < (a->all ? ce->cfg->nservices : (unsigned)a->npos); i++) {
        const struct cfg_service *svc =
            a->all ? &ce->cfg->services[i] : cfg_service(ce->cfg, a->pos[i]);
        ret = ce->ops->launch(ce->sched, svc, &o, &err);
        if (!ret && !a->dry_run)
            cmd_drop_old_spec(ce, svc->name, "launch");
    }
    return err_report("launch", &err);
}
