/* stop.c - `mdo stop`: remove services and all their instances */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cmd.h"
#include "names.h"
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

const struct cli_opt options_stop[] = {
    CMD_OPT_CONFIG,           /* -c FILE */
    CMD_OPT_BOOL("all", all), /* --all */
    CMD_OPT_WAIT,             /* --wait[=SECS] */
    CMD_OPT_FORCE,            /* --force */
    {0},
};

/* A name that breaks the rule can be neither a service nor a key: refused before the
 * scheduler hears of it. */
int args_stop(const struct cmd *c, const struct cmd_args *a)
{
    struct mdo_err err = MDO_ERR_INIT;

    if (!a->all == !a->npos)
        return cmd_usage_error(c->name, c->usage, "name services, or --all");
    for (int i = 0; i < a->npos && !err.code; i++)
        name_check("service", a->pos[i], &err);
    return err_report(c->name, &err);
}

/* The services to stop under --all: the config's, plus any the registry still knows. The
 * names are borrowed from the config and from *recs (the caller frees both arrays). A record's
 * service is checked as the config's are: a bad one is skipped, with a line on stderr. */
static int all_services(struct cmd_env *ce, struct reg_record **recs, unsigned *nrecs,
                        const char ***out, unsigned *n, struct mdo_err *err)
{
    unsigned nrec = 0, m = 0;
    const char **names;
    int ret = reg_list(&ce->etcd, ce->cfg->etcd.prefix, ce->cfg->environment, NULL, recs, &nrec,
                       NULL, NULL, err);

    *nrecs = nrec;
    if (ret)
        return ret;
    names = calloc((size_t)ce->cfg->nservices + nrec + 1, sizeof(*names));
    if (!names)
        return err_set(err, MDO_ENOMEM, "out of memory");
    for (unsigned i = 0; i < ce->cfg->nservices; i++)
        names[m++] = ce->cfg->services[i].name;
    for (unsigned i = 0; i < nrec; i++) {
        struct mdo_err nerr = MDO_ERR_INIT;
        int seen = 0;
        for (unsigned j = 0; j < m && !seen; j++)
            seen = !strcmp(names[j], (*recs)[i].service);
        if (seen)
            continue;
        if (name_check("service", (*recs)[i].service, &nerr))
            fprintf(stderr, "mdo stop: a registry record skipped: %s\n", nerr.msg); /* escaped */
        else
            names[m++] = (*recs)[i].service;
    }
    *out = names;
    *n = m;
    return 0;
}

int cmd_stop(struct cmd_env *ce, const struct cmd_args *a)
{
    struct mdo_err err = MDO_ERR_INIT;
    struct sched_opts o = {
        .wait = a->wait, .wait_s = a->wait_s, .force = a->force, .progress = stderr};
    struct reg_record *recs = NULL;
    const char **names = NULL;
    unsigned n = 0, nrecs = 0;
    int ret = 0;

    if (a->all) {
        ret = all_services(ce, &recs, &nrecs, &names, &n, &err);
    } else {
        /* a service gone from the config may still run: stop it too, but say so */
        for (int i = 0; i < a->npos; i++)
            if (!cfg_service(ce->cfg, a->pos[i]))
                fprintf(stderr,
                        "mdo stop: '%s' is not in %s; stopping what runs under that "
                        "name\n",
                        a->pos[i], ce->cfg->path);
    }
    for (unsigned i = 0; !ret && i < (a->all ? n : (unsigned)a->npos); i++) {
        const char *svc = a->all ? names[i] : a->pos[i];
        ret = ce->ops->stop(ce->sched, svc, &o, &err);
        if (!ret)
            cmd_drop_old_spec(ce, svc, "stop");
    }
    free(names);
    reg_records_free(recs, nrecs);
    return err_report("stop", &err);
}
