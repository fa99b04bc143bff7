/* common.c - what the guest applets share: help and usage errors, exit codes, the registry as
 * seen from inside a container */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <curl/curl.h>
#include "applet.h"

/* Applets run in start scripts, often in a loop: a dead etcd must not hold one for long. The
 * connect timeout is etcd.c's own (2 s); this bounds the whole request. */
#define GUEST_ETCD_TIMEOUT_MS 3000

int guest_usage_error(const char *name, const char *usage, const char *fmt, ...)
{
    va_list ap;
    int ret;

    va_start(ap, fmt);
    ret = cmd_usage_verror(name, usage, fmt, ap);
    va_end(ap);
    return ret; /* GUEST_USAGE: 2, as for commands */
}

int guest_report(const char *name, const struct mdo_err *err)
{
    if (!err->code)
        return GUEST_FOUND;
    if (err->msg[0])
        fprintf(stderr, "%s: %s\n", name, err->msg);
    switch (err->code) {
    case MDO_ENOTFOUND:
        return GUEST_NOT_FOUND;
    case MDO_EUSAGE:
        return GUEST_USAGE;
    case MDO_ENET:
    case MDO_EHTTP:
    case MDO_EPROTO:
    case MDO_ECONFIG:
        /* whatever the cause, the registry could not answer: a caller may retry, unlike a
         * lookup that got a clear "no" */
        return GUEST_UNREACHABLE;
    case MDO_ETOOFEW:
        return GUEST_TOO_FEW;
    default:
        return GUEST_NOT_FOUND;
    }
}

const char *guest_env(const char *name, const char *fallback)
{
    const char *v = getenv(name);

    if (v && *v)
        return v;
    v = fallback ? getenv(fallback) : NULL;
    return v && *v ? v : NULL;
}

int guest_print(const char *s)
{
    puts(s);
    return GUEST_FOUND;
}

int guest_check_name(const char *what, const char *s, struct mdo_err *err)
{
    if (!*s)
        return err_set(err, MDO_EUSAGE, "%s name is empty", what);
    if (strchr(s, '/'))
        return err_set(err, MDO_EUSAGE, "%s name '%s' has a '/'", what, s);
    return 0;
}

int guest_reg_open(struct guest_reg *g, struct mdo_err *err)
{
    const char *ep = guest_env("MDO_ETCD", "ETCD_HOST_ADDRESS");
    char *eps[1];
    int ret;

    g->open = 0;
    g->prefix = guest_env("MDO_ETCD_PREFIX", NULL);
    if (!g->prefix)
        g->prefix = "/mdo";
    /* "local" is the config's default environment, so a container launched from a config without
     * `environment:` and one that lost its variable agree */
    g->env = guest_env("MDO_ENVIRONMENT", NULL);
    if (!g->env)
        g->env = "local";
    if (!ep)
        return err_set(err, MDO_ECONFIG,
                       "no registry: neither MDO_ETCD nor ETCD_HOST_ADDRESS is set");
    eps[0] = (char *)ep; /* etcd_open copies; it only wants a non-const array type */
    if (curl_global_init(CURL_GLOBAL_DEFAULT))
        return err_set(err, MDO_ENET, "cannot initialise libcurl");
    ret = etcd_open(&g->etcd, eps, 1, NULL, NULL, NULL, NULL, NULL, err);
    if (ret) {
        curl_global_cleanup();
        return ret;
    }
    g->etcd.timeout_ms = GUEST_ETCD_TIMEOUT_MS;
    g->open = 1;
    return 0;
}

void guest_reg_close(struct guest_reg *g)
{
    if (!g->open)
        return;
    etcd_close(&g->etcd);
    http_thread_cleanup();
    curl_global_cleanup();
    g->open = 0;
}

/* A trailing '/' in MDO_ETCD_PREFIX would make "//" keys the subscriber never writes. */
static int prefix_key(struct buf *b, const struct guest_reg *g, const char *service)
{
    size_t n = strlen(g->prefix);

    while (n > 1 && g->prefix[n - 1] == '/')
        n--;
    return buf_addf(b, "%.*s/%s/services/%s/instances/", (int)n, g->prefix, g->env, service);
}

static int inst_cmp(const void *a, const void *b)
{
    const struct guest_inst *x = a, *y = b;

    return strcmp(x->rec.container, y->rec.container);
}

void guest_insts_free(struct guest_inst *v, unsigned n)
{
    for (unsigned i = 0; v && i < n; i++) {
        reg_record_release(&v[i].rec);
        free(v[i].json);
    }
    free(v);
}

/* Not reg_list(): --json prints records as stored, which reg_list does not keep. */
int guest_list(struct guest_reg *g, const char *prog, const char *service, struct guest_inst **out,
               unsigned *n, struct mdo_err *err)
{
    struct buf p = BUF_INIT(4096); /* cap: keys are short */
    struct etcd_kvs kvs = ETCD_KVS_INIT;
    struct guest_inst *v = NULL;
    unsigned m = 0;
    int ret = prefix_key(&p, g, service);

    *out = NULL;
    *n = 0;
    if (ret)
        ret = err_set(err, MDO_EUSAGE, "service name '%.100s...' is too long", service);
    if (!ret)
        ret = etcd_get_prefix(&g->etcd, p.ptr, &kvs, err);
    if (!ret)
        err_clear(err); /* etcd.c leaves a failed endpoint's error in err after failing over */
    if (!ret && kvs.n && !(v = calloc(kvs.n, sizeof(*v))))
        ret = err_set(err, MDO_ENOMEM, "out of memory");
    for (size_t i = 0; !ret && i < kvs.n; i++) {
        struct mdo_err perr = MDO_ERR_INIT;

        if (strchr(kvs.kv[i].key + p.len, '/'))
            continue; /* not <prefix>/<container>: someone else's key below ours */
        if (reg_record_parse(kvs.kv[i].value, kvs.kv[i].len, &v[m].rec, &perr)) {
            fprintf(stderr, "%s: bad record '%s' skipped: %s\n", prog, kvs.kv[i].key, perr.msg);
            continue;
        }
        v[m].json = strdup(kvs.kv[i].value);
        if (!v[m].json) {
            reg_record_release(&v[m].rec);
            ret = err_set(err, MDO_ENOMEM, "out of memory");
            break;
        }
        m++;
    }
    if (!ret) {
        if (m) /* qsort's base must not be NULL, even for no element */
            qsort(v, m, sizeof(*v), inst_cmp);
        *out = v;
        *n = m;
    } else {
        guest_insts_free(v, m);
    }
    etcd_kvs_release(&kvs);
    buf_release(&p);
    return ret;
}

int guest_get(struct guest_reg *g, const char *service, const char *container,
              struct reg_record *out, struct mdo_err *err)
{
    struct buf key = BUF_INIT(4096); /* cap: keys are short */
    struct etcd_kvs kvs = ETCD_KVS_INIT;
    int ret = prefix_key(&key, g, service);

    memset(out, 0, sizeof(*out));
    if (!ret)
        ret = buf_adds(&key, container);
    if (ret)
        ret = err_set(err, MDO_EUSAGE, "service or container name is too long");
    if (!ret)
        ret = etcd_get(&g->etcd, key.ptr, &kvs, err);
    if (!ret)
        err_clear(err); /* as in guest_list: a failover leaves the first endpoint's error */
    if (!ret && !kvs.n)
        ret = err_set(err, MDO_ENOTFOUND, "service '%s' has no instance '%s' in environment '%s'",
                      service, container, g->env);
    if (!ret) {
        struct mdo_err perr = MDO_ERR_INIT;
        /* not found rather than "unreachable": get_node_list skips such a record too, and the
         * subscriber's next pass rewrites it */
        if (reg_record_parse(kvs.kv[0].value, kvs.kv[0].len, out, &perr))
            ret = err_set(err, MDO_ENOTFOUND, "record '%s' is unreadable: %s", key.ptr, perr.msg);
    }
    etcd_kvs_release(&kvs);
    buf_release(&key);
    return ret;
}
