/* common.c - what the subcommands share: the environment run() opens, service checks, usage
 * errors, and the subscriber's option table */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "buf.h"
#include "cmd.h"
#include "registry.h"

int cmd_usage_error(const char *name, const char *usage, const char *fmt, ...)
{
    char who[64];
    va_list ap;
    int ret;

    snprintf(who, sizeof(who), "mdo %s", name);
    va_start(ap, fmt);
    ret = cli_usage_verror(who, usage, fmt, ap);
    va_end(ap);
    return ret;
}

int cmd_args_none(const struct cmd *c, const struct cmd_args *a)
{
    return a->npos ? cmd_usage_error(c->name, c->usage, "takes no arguments") : 0;
}

/* The subscriber's options. Here and not in subscribe.c only while that file is being split:
 * its place is beside usage_subscribe. */
const struct cli_opt options_subscribe[] = {
    CMD_OPT_CONFIG,
    {.type = CLI_STRING, .long_name = "listen", .off = offsetof(struct cmd_args, listen)},
    {.type = CLI_UINT,
     .long_name = "lease",
     .off = offsetof(struct cmd_args, lease_s),
     .min = 2,
     .max = 3600,
     .bad = "--lease takes seconds 2..3600, got '%s'"},
    {0},
};

int cmd_config(const char *path, struct cfg **out, struct mdo_err *err)
{
    return cfg_load(cfg_default_path(path), out, err);
}

int cmd_env_open(struct cmd_env *ce, const struct cmd_args *a, unsigned need, struct mdo_err *err)
{
    int ret;

    memset(ce, 0, sizeof(*ce));
    if (!(need & (NEED_CONFIG | NEED_ETCD | NEED_SCHED | ARGS_SERVICES | ARG1_SERVICE)))
        return 0;
    ret = cmd_config(a->config, &ce->cfg, err);
    /* before etcd and the scheduler: a typo is reported as one, whatever else is down */
    if (!ret && (need & (ARGS_SERVICES | ARG1_SERVICE)))
        ret = cmd_check_services(ce->cfg, a->pos,
                                 (need & ARGS_SERVICES) ? a->npos
                                 : a->npos > 0          ? 1
                                                        : 0,
                                 err);
    if (!ret && (need & NEED_ETCD)) {
        const struct cfg_etcd *e = &ce->cfg->etcd;
        ret = etcd_open(&ce->etcd, e->endpoints, e->nendpoints, e->username, e->password, e->ca,
                        e->cert, e->key, err);
        ce->has_etcd = !ret;
    }
    if (!ret && (need & NEED_SCHED))
        ret = sched_for(ce->cfg, &ce->ops, err);
    if (!ret && (need & NEED_SCHED))
        ret = ce->ops->open(&ce->sched, ce->cfg, err);
    if (ret)
        cmd_env_close(ce);
    return ret;
}

void cmd_env_close(struct cmd_env *ce)
{
    if (ce->sched)
        ce->ops->close(ce->sched);
    if (ce->has_etcd)
        etcd_close(&ce->etcd);
    cfg_free(ce->cfg);
    memset(ce, 0, sizeof(*ce));
}

int cmd_check_services(const struct cfg *cfg, char *const *names, int n, struct mdo_err *err)
{
    for (int i = 0; i < n; i++) {
        struct buf known = BUF_INIT(0);
        if (cfg_service(cfg, names[i]))
            continue;
        for (unsigned j = 0; j < cfg->nservices; j++)
            buf_addf(&known, "%s%s", j ? ", " : "", cfg->services[j].name);
        err_set(err, MDO_ENOTFOUND, "unknown service '%s' (%s has: %s)", names[i], cfg->path,
                buf_str(&known));
        buf_release(&known);
        return -MDO_ENOTFOUND;
    }
    return 0;
}

void cmd_drop_old_spec(struct cmd_env *ce, const char *svc, const char *cmd)
{
    struct mdo_err err = MDO_ERR_INIT;
    struct buf key = BUF_INIT(0);
    long timeout = ce->etcd.timeout_ms; /* best effort: a paused etcd delays a launch 1 s at most */

    ce->etcd.timeout_ms = timeout > 1000 ? 1000 : timeout;
    if (!reg_spec_key(&key, ce->cfg->etcd.prefix, ce->cfg->environment, svc) &&
        etcd_delete(&ce->etcd, key.ptr, &err) && err.code != MDO_ENET)
        fprintf(stderr, "mdo %s: warning: the old spec key of %s stays: %s\n", cmd, svc, err.msg);
    ce->etcd.timeout_ms = timeout;
    buf_release(&key);
}
