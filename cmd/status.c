/* status.c - `mdo status`: what the scheduler runs and what the registry says, side by side */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cmd.h"
#include "json.h"
#include "registry.h"

const char usage_status[] =
    "usage: mdo status [SERVICE] [--json] [-c FILE]\n"
    "\n"
    "Shows, for each service, the instances wanted (what the scheduler was last asked to keep:\n"
    "Marathon's app instances; on Docker the numbered instances that exist), those it runs\n"
    "and those the registry lists, with the config's count where it differs (after `mdo\n"
    "scale`), then one line per instance with its host:ports and its state on both sides.\n"
    "Lines where the two sides differ are marked with '!'. Differences last only until the\n"
    "subscriber's next event or resync; if they persist, is it running?\n"
    "Exit status 0 whatever the differences; 1 when the scheduler or etcd cannot be read.\n"
    "\n"
    "  --json    one JSON document instead of the table\n"
    "  -c FILE   config file (default: $MDO_CONFIG, ./mdo.yaml, ./config.yaml)\n";

static const struct reg_record *find(const struct reg_record *r, unsigned n, const char *svc,
                                     const char *ctr)
{
    for (unsigned i = 0; i < n; i++)
        if (!strcmp(r[i].service, svc) && !strcmp(r[i].container, ctr))
            return &r[i];
    return NULL;
}

static void ports_text(struct buf *b, const struct reg_record *r)
{
    buf_adds(b, r->host);
    for (unsigned i = 0; i < r->nports; i++)
        buf_addf(b, "%s%s=%d", i ? "," : ":", r->ports[i].name, r->ports[i].external);
}

static cJSON *record_obj(const struct reg_record *r)
{
    char *s = r ? reg_record_json(r) : NULL;
    cJSON *o = s ? cJSON_Parse(s) : cJSON_CreateNull();

    free(s);
    return o;
}

/* Every service to show: the config's, then any other the scheduler or registry has. */
static unsigned service_names(const struct cfg *cfg, const char *only, const struct reg_record *a,
                              unsigned na, const struct reg_record *b, unsigned nb,
                              const char **out)
{
    unsigned n = 0;

    if (only) {
        out[n++] = only;
        return n;
    }
    for (unsigned i = 0; i < cfg->nservices; i++)
        out[n++] = cfg->services[i].name;
    for (unsigned pass = 0; pass < 2; pass++) {
        const struct reg_record *r = pass ? b : a;
        for (unsigned i = 0; i < (pass ? nb : na); i++) {
            int seen = 0;
            for (unsigned j = 0; j < n && !seen; j++)
                seen = !strcmp(out[j], r[i].service);
            if (!seen)
                out[n++] = r[i].service;
        }
    }
    return n;
}

const struct cli_opt options_status[] = {
    CMD_OPT_CONFIG,             /* -c FILE */
    CMD_OPT_BOOL("json", json), /* --json */
    {0},
};

int args_status(const struct cmd *c, const struct cmd_args *a)
{
    return a->npos > 1 ? cmd_usage_error(c->name, c->usage, "takes at most one SERVICE") : 0;
}

int cmd_status(struct cmd_env *ce, const struct cmd_args *a)
{
    struct mdo_err err = MDO_ERR_INIT;
    struct reg_record *run = NULL, *reg = NULL;
    unsigned nrun = 0, nreg = 0, nsvc = 0;
    const char **svcs = NULL, *only = a->npos ? a->pos[0] : NULL;
    cJSON *doc = NULL;
    int ret = ce->ops->list(ce->sched, only, &run, &nrun, &err);

    if (!ret)
        ret = reg_list(&ce->etcd, ce->cfg->etcd.prefix, ce->cfg->environment, only, &reg, &nreg,
                       NULL, NULL, &err);
    if (!ret && !(svcs = calloc((size_t)ce->cfg->nservices + nrun + nreg + 1, sizeof(*svcs))))
        ret = err_set(&err, MDO_ENOMEM, "out of memory");
    if (!ret)
        nsvc = service_names(ce->cfg, only, run, nrun, reg, nreg, svcs);
    if (!ret && a->json)
        doc = cJSON_CreateObject();
    if (doc) {
        cJSON_AddStringToObject(doc, "environment", ce->cfg->environment);
        cJSON_AddStringToObject(doc, "scheduler", ce->ops->name);
        cJSON_AddArrayToObject(doc, "services");
    } else if (!ret) {
        printf("environment %s, scheduler %s\n", ce->cfg->environment, ce->ops->name);
    }
    for (unsigned s = 0; !ret && s < nsvc; s++) {
        const struct cfg_service *cs = cfg_service(ce->cfg, svcs[s]);
        unsigned nr = 0, ng = 0, in_sync = 1, want = 0;
        int known = 0; /* the scheduler said what it keeps */
        cJSON *so = NULL, *insts = NULL;
        if (ce->ops->wanted) {
            int w = ce->ops->wanted(ce->sched, svcs[s], &want, &err);
            if (w < 0) {
                ret = w;
                break;
            }
            known = 1; /* 1: no such service there, it keeps 0 */
        }
        if (!known)
            want = cs ? cs->instances : 0; /* a backend that cannot say: the config's */
        for (unsigned i = 0; i < nrun; i++)
            nr += !strcmp(run[i].service, svcs[s]);
        for (unsigned i = 0; i < nreg; i++)
            ng += !strcmp(reg[i].service, svcs[s]);
        if (doc) {
            so = cJSON_CreateObject();
            cJSON_AddStringToObject(so, "service", svcs[s]);
            if (known || cs)
                cJSON_AddNumberToObject(so, "wanted", want);
            else
                cJSON_AddNullToObject(so, "wanted");
            if (cs)
                cJSON_AddNumberToObject(so, "config_instances", cs->instances);
            else
                cJSON_AddNullToObject(so, "config_instances");
            cJSON_AddNumberToObject(so, "running", nr);
            cJSON_AddNumberToObject(so, "registered", ng);
            insts = cJSON_AddArrayToObject(so, "instances");
            cJSON_AddItemToArray(cJSON_GetObjectItem(doc, "services"), so);
        } else {
            char note[48] = "";
            if (cs && cs->instances != want)
                snprintf(note, sizeof(note), " (config: %u)", cs->instances);
            printf("\n%s: %s%u wanted, %u running, %u registered%s\n", svcs[s],
                   cs ? "" : "(not in config) ", want, nr, ng, note);
        }
        /* one row per container seen on either side; both lists are sorted by container */
        for (unsigned pass = 0; pass < 2; pass++) {
            const struct reg_record *list = pass ? reg : run;
            for (unsigned i = 0; i < (pass ? nreg : nrun); i++) {
                const struct reg_record *r = &list[i], *sr, *gr;
                struct buf line = BUF_INIT(0);
                int ok;
                if (strcmp(r->service, svcs[s]) ||
                    (pass && find(run, nrun, r->service, r->container)))
                    continue;
                sr = find(run, nrun, r->service, r->container);
                gr = find(reg, nreg, r->service, r->container);
                ok = sr && gr && reg_record_equal(sr, gr);
                in_sync &= ok;
                if (doc) {
                    cJSON *io = cJSON_CreateObject();
                    cJSON_AddStringToObject(io, "container", r->container);
                    cJSON_AddItemToObject(io, "scheduler", record_obj(sr));
                    cJSON_AddItemToObject(io, "registry", record_obj(gr));
                    cJSON_AddBoolToObject(io, "in_sync", ok);
                    cJSON_AddItemToArray(insts, io);
                } else {
                    ports_text(&line, r);
                    printf("%s %-28s %-40s scheduler:%-9s registry:%s\n", ok ? " " : "!",
                           r->container, buf_str(&line), sr ? sr->state : "-",
                           !gr  ? "missing"
                           : ok ? gr->state
                                : "differs");
                }
                buf_release(&line);
            }
        }
        if (so)
            cJSON_AddBoolToObject(so, "in_sync", in_sync && want == nr);
    }
    if (doc) {
        char *s = cJSON_Print(doc);
        if (s)
            puts(s);
        free(s);
        cJSON_Delete(doc);
    }
    free(svcs);
    reg_records_free(run, nrun);
    reg_records_free(reg, nreg);
    return err_report("status", &err);
}
