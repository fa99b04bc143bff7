/* launch.c - `mdo launch`: create or update services so they match the config (idempotent) */
#include <stdio.h>
#include <stdlib.h>
#include "cmd.h"
#include "json.h"
#include "registry.h"
#include "spec.h"

const char usage_launch[] =
    "usage: mdo launch SERVICE... | --all [--wait[=SECS]] [--dry-run] [--force] [-c FILE]\n"
    "\n"
    "Creates each service's instances, or updates them to match the config. Launching twice\n"
    "with the same config changes nothing; a changed image, environment, ports or limits\n"
    "replaces the instances one at a time (the new one runs before the old one goes).\n"
    "The service's spec is recorded in etcd at /mdo/<env>/specs/<service>.\n"
    "\n"
    "  --all          every service in the config\n"
    "  --wait[=SECS]  wait until all instances run (and are healthy); default 300 s\n"
    "  --dry-run      print the requests that would be sent (secrets redacted), send nothing\n"
    "  --force        Marathon: override a deployment that holds the app (HTTP 409)\n"
    "  -c FILE        config file (default: $MDO_CONFIG, ./mdo.yaml, ./config.yaml)\n";

/* Records the spec first: when etcd is down nothing is started that the registry cannot see. */
static int put_spec(struct cmd_env *ce, const struct cfg_service *svc, struct mdo_err *err)
{
    struct buf key = BUF_INIT(0);
    cJSON *spec = spec_json(ce->cfg, svc);
    char *s = json_print(spec);
    int ret = s ? reg_spec_key(&key, ce->cfg->etcd.prefix, ce->cfg->environment, svc->name)
                : err_set(err, MDO_ENOMEM, "out of memory");

    if (!ret)
        ret = etcd_put(&ce->etcd, key.ptr, s, 0, err);
    cJSON_Delete(spec);
    free(s);
    buf_release(&key);
    return ret;
}

int cmd_launch(int argc, char **argv)
{
    struct mdo_err err = MDO_ERR_INIT;
    struct cmd_args a;
    struct cmd_env ce;
    struct sched_opts o = {0};
    int ret;

    if (cmd_wants_help(argc, argv, usage_launch))
        return 0;
    if (cmd_parse("launch", usage_launch, argc, argv, ARG_ALL | ARG_WAIT | ARG_DRY_RUN | ARG_FORCE,
                  &a))
        return 2;
    if (!a.all && !a.npos) {
        free(a.pos);
        return cmd_usage_error("launch", usage_launch, "name a service, or --all");
    }
    ret = cmd_env_open(&ce, a.config, a.dry_run ? 0 : NEED_ETCD, &err);
    if (!ret)
        ret = cmd_check_services(ce.cfg, a.pos, a.npos, &err);
    if (!ret)
        ret = sched_for(ce.cfg, &ce.ops, &err);
    if (!ret) /* also for --dry-run: the requests name the engine's bridge address */
        ret = ce.ops->open(&ce.sched, ce.cfg, &err);
    o.wait = a.wait;
    o.wait_s = a.wait_s;
    o.dry_run = a.dry_run;
    o.force = a.force;
    o.progress = stderr;
    for (unsigned i = 0; !ret && i < (a.all ? ce.cfg->nservices : (unsigned)a.npos); i++) {
        const struct cfg_service *svc =
            a.all ? &ce.cfg->services[i] : cfg_service(ce.cfg, a.pos[i]);
        if (!a.dry_run)
            ret = put_spec(&ce, svc, &err);
        if (!ret)
            ret = ce.ops->launch(ce.sched, svc, &o, &err);
    }
    if (ce.cfg)
        cmd_env_close(&ce);
    free(a.pos);
    return err_report("launch", &err);
}
