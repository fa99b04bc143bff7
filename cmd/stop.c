/* stop.c - `mdo stop`: remove services and all their instances */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cmd.h"
#include "registry.h"

const char usage_stop[] =
    "usage: mdo stop SERVICE... | --all [--wait[=SECS]] [--force] [-c FILE]\n"
    "\n"
    "Stops and removes every instance of each service and forgets its spec. The subscriber\n"
    "removes the instances from the registry as they go. A service that is not running is\n"
    "not an error. --all stops every service of the config's environment, also services\n"
    "that the config no longer names but the registry still lists.\n"
    "\n"
    "  --all          every service\n"
    "  --wait[=SECS]  Marathon: wait until the removal's deployment is done (Docker: always)\n"
    "  --force        Marathon: override a deployment that holds the app (HTTP 409)\n"
    "  -c FILE        config file (default: $MDO_CONFIG, ./mdo.yaml, ./config.yaml)\n";

/* The services to stop under --all: the config's, plus any the registry still knows. */
static int all_services(struct cmd_env *ce, char ***out, unsigned *n, struct mdo_err *err)
{
    struct reg_record *recs = NULL;
    unsigned nrec = 0, m = 0;
    char **names;
    int ret = reg_list(&ce->etcd, ce->cfg->etcd.prefix, ce->cfg->environment, NULL, &recs, &nrec,
                       NULL, NULL, err);

    if (ret)
        return ret;
    names = calloc((size_t)ce->cfg->nservices + nrec + 1, sizeof(*names));
    if (!names) {
        reg_records_free(recs, nrec);
        return err_set(err, MDO_ENOMEM, "out of memory");
    }
    for (unsigned i = 0; i < ce->cfg->nservices; i++)
        names[m++] = strdup(ce->cfg->services[i].name);
    for (unsigned i = 0; i < nrec; i++) {
        int seen = 0;
        for (unsigned j = 0; j < m && !seen; j++)
            seen = !strcmp(names[j], recs[i].service);
        if (!seen)
            names[m++] = strdup(recs[i].service);
    }
    reg_records_free(recs, nrec);
    *out = names;
    *n = m;
    return 0;
}

int cmd_stop(int argc, char **argv)
{
    struct mdo_err err = MDO_ERR_INIT;
    struct cmd_args a;
    struct cmd_env ce = {0};
    struct sched_opts o = {0};
    char **names = NULL;
    unsigned n = 0;
    int ret;

    if (cmd_wants_help(argc, argv, usage_stop))
        return 0;
    if (cmd_parse("stop", usage_stop, argc, argv, ARG_ALL | ARG_WAIT | ARG_FORCE, &a))
        return 2;
    if (!a.all == !a.npos) {
        free(a.pos);
        return cmd_usage_error("stop", usage_stop, "name services, or --all");
    }
    o.progress = stderr;
    o.wait = a.wait;
    o.wait_s = a.wait_s;
    o.force = a.force;
    ret = cmd_env_open(&ce, a.config, NEED_ETCD | NEED_SCHED, &err);
    if (!ret && a.all) {
        ret = all_services(&ce, &names, &n, &err);
    } else if (!ret) {
        /* a service gone from the config may still run: stop it too, but say so */
        for (int i = 0; i < a.npos; i++)
            if (!cfg_service(ce.cfg, a.pos[i]))
                fprintf(stderr,
                        "mdo stop: '%s' is not in %s; stopping what runs under that "
                        "name\n",
                        a.pos[i], ce.cfg->path);
    }
    for (unsigned i = 0; !ret && i < (a.all ? n : (unsigned)a.npos); i++) {
        const char *svc = a.all ? names[i] : a.pos[i];
        struct buf key = BUF_INIT(0);
        ret = ce.ops->stop(ce.sched, svc, &o, &err);
        if (!ret)
            ret = reg_spec_key(&key, ce.cfg->etcd.prefix, ce.cfg->environment, svc);
        if (!ret)
            ret = etcd_delete(&ce.etcd, key.ptr, &err);
        buf_release(&key);
    }
    for (unsigned i = 0; i < n; i++)
        free(names[i]);
    free(names);
    if (ce.cfg)
        cmd_env_close(&ce);
    free(a.pos);
    return err_report("stop", &err);
}
