/* common.c - what the subcommands share: --help, usage errors, config loading, number parsing */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "buf.h"
#include "cmd.h"

int cmd_wants_help(int argc, char **argv, const char *usage)
{
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--"))
            break;
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            fputs(usage, stdout);
            return 1;
        }
    }
    return 0;
}

int cmd_usage_verror(const char *who, const char *usage, const char *fmt, va_list ap)
{
    const char *nl = strchr(usage, '\n');

    fprintf(stderr, "%s: ", who);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n%.*s\n", nl ? (int)(nl - usage) : (int)strlen(usage), usage);
    return 2;
}

int cmd_usage_error(const char *name, const char *usage, const char *fmt, ...)
{
    char who[64];
    va_list ap;
    int ret;

    snprintf(who, sizeof(who), "mdo %s", name);
    va_start(ap, fmt);
    ret = cmd_usage_verror(who, usage, fmt, ap);
    va_end(ap);
    return ret;
}

int cmd_config(const char *path, struct cfg **out, struct mdo_err *err)
{
    return cfg_load(cfg_default_path(path), out, err);
}

int cmd_parse_uint(const char *s, unsigned max, unsigned *out)
{
    char *end;
    long v;

    if (!s || *s < '0' || *s > '9') /* no sign, no leading space: strtol would take them */
        return -1;
    errno = 0;
    v = strtol(s, &end, 10);
    if (errno || *end || v < 0 || (unsigned long)v > max)
        return -1;
    *out = (unsigned)v;
    return 0;
}

static int opt_value(int argc, char **argv, int *i, const char *opt, const char **val)
{
    size_t n = strlen(opt);

    if (strncmp(argv[*i], opt, n))
        return 0;
    if (argv[*i][n] == '=') {
        *val = argv[*i] + n + 1;
        return 1;
    }
    if (argv[*i][n])
        return 0;
    if (*i + 1 >= argc)
        return -1;
    *val = argv[++*i];
    return 1;
}

int cmd_parse(const char *name, const char *usage, int argc, char **argv, unsigned allowed,
              struct cmd_args *a)
{
    int dashdash = 0;

    memset(a, 0, sizeof(*a));
    a->pos = calloc((size_t)argc + 1, sizeof(*a->pos));
    if (!a->pos)
        return cmd_usage_error(name, usage, "out of memory");
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i], *val = NULL;
        int r;

        if (dashdash || arg[0] != '-' || !arg[1] || (arg[1] >= '0' && arg[1] <= '9')) {
            a->pos[a->npos++] = argv[i];
            continue;
        }
        if (!strcmp(arg, "--")) {
            dashdash = 1;
        } else if ((r = opt_value(argc, argv, &i, "-c", &val)) ||
                   (r = opt_value(argc, argv, &i, "--config", &val))) {
            if (r < 0)
                goto missing;
            a->config = val;
        } else if ((allowed & ARG_LISTEN) && (r = opt_value(argc, argv, &i, "--listen", &val))) {
            if (r < 0)
                goto missing;
            a->listen = val;
        } else if ((allowed & ARG_PAUSE) && (r = opt_value(argc, argv, &i, "--pause", &val))) {
            if (r < 0)
                goto missing;
            if (cmd_parse_uint(val, 86400, &a->pause_s)) {
                free(a->pos);
                a->pos = NULL;
                return cmd_usage_error(name, usage, "--pause takes seconds 0..86400, got '%s'",
                                       val);
            }
            a->pause_set = 1;
        } else if ((allowed & ARG_LEASE) && (r = opt_value(argc, argv, &i, "--lease", &val))) {
            if (r < 0)
                goto missing;
            if (cmd_parse_uint(val, 3600, &a->lease_s) || a->lease_s < 2) {
                free(a->pos);
                a->pos = NULL;
                return cmd_usage_error(name, usage, "--lease takes seconds 2..3600, got '%s'", val);
            }
        } else if ((allowed & ARG_ALL) && !strcmp(arg, "--all")) {
            a->all = 1;
        } else if ((allowed & ARG_DRY_RUN) && !strcmp(arg, "--dry-run")) {
            a->dry_run = 1;
        } else if ((allowed & ARG_JSON) && !strcmp(arg, "--json")) {
            a->json = 1;
        } else if ((allowed & ARG_FORCE) && !strcmp(arg, "--force")) {
            a->force = 1;
        } else if ((allowed & ARG_WAIT) && !strcmp(arg, "--wait")) {
            a->wait = 1;
        } else if ((allowed & ARG_WAIT) && !strncmp(arg, "--wait=", 7)) {
            a->wait = 1;
            if (cmd_parse_uint(arg + 7, 86400, &a->wait_s) || !a->wait_s) {
                free(a->pos);
                a->pos = NULL;
                return cmd_usage_error(name, usage, "--wait takes seconds 1..86400, got '%s'",
                                       arg + 7);
            }
        } else {
            free(a->pos);
            a->pos = NULL;
            return cmd_usage_error(name, usage, "unknown option '%s'", arg);
        }
        continue;
    missing:
        free(a->pos);
        a->pos = NULL;
        return cmd_usage_error(name, usage, "option '%s' needs a value", arg);
    }
    return 0;
}

int cmd_env_open(struct cmd_env *ce, const char *config, unsigned need, struct mdo_err *err)
{
    int ret;

    memset(ce, 0, sizeof(*ce));
    ret = cmd_config(config, &ce->cfg, err);
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
