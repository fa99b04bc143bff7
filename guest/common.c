/* common.c - what the guest applets share: help and usage errors, exit codes, the registry as
 * seen from inside a container */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <curl/curl.h>
#include <cjson/cJSON.h>
#include "applet.h"
#include "names.h"
#include "url.h"

/* Applets run in start scripts, often in a loop: a dead etcd must not hold one for long. The
 * connect timeout is etcd.c's own (2 s); this bounds the whole request. */
#define GUEST_ETCD_TIMEOUT_MS 3000
/* The same for the subscriber's API: it answers from its own etcd writes (a transaction). */
#define GUEST_API_CONNECT_MS 2000
#define GUEST_API_TIMEOUT_MS 5000

int guest_usage_error(const char *name, const char *usage, const char *fmt, ...)
{
    va_list ap;
    int ret;

    va_start(ap, fmt);
    ret = cli_usage_verror(name, usage, fmt, ap);
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
    const char *prefix = guest_env("MDO_ETCD_PREFIX", NULL);
    char *eps[1];
    int ret;

    g->open = 0;
    g->prefix = NULL;
    /* "local" is the config's default environment, so a container launched from a config without
     * `environment:` and one that lost its variable agree */
    g->env = guest_env("MDO_ENVIRONMENT", NULL);
    if (!g->env)
        g->env = "local";
    if (!ep)
        return err_set(err, MDO_ECONFIG,
                       "no registry: neither MDO_ETCD nor ETCD_HOST_ADDRESS is set");
    ret = reg_prefix_norm(prefix ? prefix : "/mdo", &g->prefix);
    if (ret == -MDO_EUSAGE)
        return err_set(err, MDO_ECONFIG, "MDO_ETCD_PREFIX '%s' does not start with '/'", prefix);
    if (ret)
        return err_set(err, MDO_ENOMEM, "out of memory");
    if (!name_ok(g->env)) { /* mdo sets it from the config, whose rule this is */
        struct mdo_err nerr = MDO_ERR_INIT;
        name_check("MDO_ENVIRONMENT", g->env, &nerr);
        ret = err_set(err, MDO_ECONFIG, "%s", nerr.msg);
        goto fail;
    }
    eps[0] = (char *)ep; /* etcd_open copies; it only wants a non-const array type */
    if (curl_global_init(CURL_GLOBAL_DEFAULT)) {
        ret = err_set(err, MDO_ENET, "cannot initialise libcurl");
        goto fail;
    }
    /* the read-only guest identity, etcd's CA and the guest's client certificate that the
     * backends inject (DESIGN §4); none of them set means an open registry, as before */
    ret = etcd_open(&g->etcd, eps, 1, guest_env("MDO_ETCD_USERNAME", NULL),
                    guest_env("MDO_ETCD_PASSWORD", NULL), guest_env("MDO_ETCD_CA", NULL),
                    guest_env("MDO_ETCD_CERT", NULL), guest_env("MDO_ETCD_KEY", NULL), err);
    if (ret) {
        curl_global_cleanup();
        goto fail;
    }
    g->etcd.timeout_ms = GUEST_ETCD_TIMEOUT_MS;
    g->open = 1;
    return 0;
fail:
    free(g->prefix);
    g->prefix = NULL;
    return ret;
}

void guest_reg_close(struct guest_reg *g)
{
    free(g->prefix);
    g->prefix = NULL;
    if (!g->open)
        return;
    etcd_close(&g->etcd);
    http_thread_cleanup();
    curl_global_cleanup();
    g->open = 0;
}

int guest_get(struct guest_reg *g, const char *service, const char *container,
              struct reg_record *out, struct mdo_err *err)
{
    struct buf key = BUF_INIT(4096); /* cap: keys are short */
    struct etcd_kvs kvs = ETCD_KVS_INIT;
    /* only read by reg_key(), which checks each name against its rule */
    struct reg_record want = {
        .service = (char *)service, .container = (char *)container, .environment = (char *)g->env};
    int ret = reg_key(&key, g->prefix, &want);

    memset(out, 0, sizeof(*out));
    if (ret == -MDO_ENOMEM)
        ret = err_set(err, MDO_EUSAGE, "service or container name is too long");
    else if (ret) /* a name that breaks the rule: no such key was ever written */
        ret = -MDO_ENOTFOUND;
    if (!ret)
        ret = etcd_get(&g->etcd, key.ptr, &kvs, err);
    if (!ret)
        err_clear(err); /* a failover leaves the first endpoint's error */
    if (ret == -MDO_ENOTFOUND || (!ret && !kvs.n))
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

int guest_api_open(struct guest_api *a, struct mdo_err *err)
{
    const char *url = guest_env("MDO_SUBSCRIBER_URL", NULL);
    struct mdo_err uerr = MDO_ERR_INIT;
    size_t n;

    a->open = 0;
    a->base = NULL;
    a->token = guest_env("MDO_SUBSCRIBER_TOKEN", NULL);
    if (!url)
        return err_set(err, MDO_ECONFIG,
                       "MDO_SUBSCRIBER_URL is not set: mdo gives it to containers when "
                       "subscriber.public_url is set, or (Docker) when subscriber.listen is an "
                       "address containers reach, not loopback");
    if (url_check("MDO_SUBSCRIBER_URL", url, &uerr))
        return err_set(err, MDO_ECONFIG, "%s", uerr.msg);
    n = strlen(url);
    while (n && url[n - 1] == '/')
        n--;
    a->base = strndup(url, n);
    if (!a->base)
        return err_set(err, MDO_ENOMEM, "out of memory");
    if (curl_global_init(CURL_GLOBAL_DEFAULT)) {
        free(a->base);
        a->base = NULL;
        return err_set(err, MDO_ENET, "cannot initialise libcurl");
    }
    a->open = 1;
    return 0;
}

void guest_api_close(struct guest_api *a)
{
    free(a->base);
    a->base = NULL;
    if (!a->open)
        return;
    http_thread_cleanup();
    curl_global_cleanup();
    a->open = 0;
}

/* What the subscriber said: its {"error": "..."}, else the start of the body; control
 * characters as '?', cut at 200 bytes. Into dst (always terminated). */
static void api_message(const struct http_resp *resp, char *dst, size_t len)
{
    cJSON *o = cJSON_ParseWithLength(resp->body.ptr ? resp->body.ptr : "", resp->body.len);
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(o, "error");
    const char *s = cJSON_IsString(e) ? e->valuestring : resp->body.ptr ? resp->body.ptr : "";
    size_t n = 0, cap = len < 201 ? len - 1 : 200;

    for (; s[n] && s[n] != '\n' && n < cap; n++)
        dst[n] = (unsigned char)s[n] < 0x20 || s[n] == 0x7f ? '?' : s[n];
    dst[n] = '\0';
    if (!n)
        snprintf(dst, len, "no message");
    cJSON_Delete(o);
}

int guest_api_request(struct guest_api *a, const char *method, const char *path, const char *body,
                      struct http_resp *resp, struct mdo_err *err)
{
    struct http_conn c = {.token = a->token,
                          .connect_timeout_ms = GUEST_API_CONNECT_MS,
                          .timeout_ms = GUEST_API_TIMEOUT_MS};
    struct mdo_err herr = MDO_ERR_INIT;
    struct buf url = BUF_INIT(0);
    char *shown = NULL, msg[256];
    long st;
    int ret;

    buf_adds(&url, a->base);
    buf_adds(&url, path);
    if (!url.ptr)
        return err_set(err, MDO_ENOMEM, "out of memory");
    ret = http_request(&c, method, url.ptr, body, body ? strlen(body) : 0,
                       body ? "application/json" : NULL, resp, &herr);
    shown = url_shown(url.ptr, URL_NO_QUERY);
    if (ret) {
        ret = err_set(err, MDO_ENET, "the subscriber does not answer at %s: %s",
                      shown ? shown : "MDO_SUBSCRIBER_URL", herr.why[0] ? herr.why : herr.msg);
        goto out;
    }
    st = resp->status;
    if (st >= 200 && st < 300)
        goto out;
    api_message(resp, msg, sizeof(msg));
    if (st == 401)
        ret = err_set(err, MDO_ECONFIG,
                      "the subscriber refused MDO_SUBSCRIBER_TOKEN (HTTP 401: %s): %s", msg,
                      a->token ? "it is not the subscriber's guest_token"
                               : "it is unset, and the subscriber wants subscriber.guest_token");
    else if (st == 403)
        ret = err_set(err, MDO_ECONFIG,
                      "the subscriber does not allow this with MDO_SUBSCRIBER_TOKEN (HTTP 403): %s",
                      msg);
    else if (st == 404)
        ret = err_set(err, MDO_ENOTFOUND, "%s", msg);
    else if (st >= 400 && st < 500)
        ret = err_set(err, MDO_EUSAGE, "the subscriber refused it (HTTP %ld): %s", st, msg);
    else
        ret = err_set(err, MDO_EHTTP, "the subscriber failed (HTTP %ld): %s", st, msg);
out:
    free(shown);
    buf_release(&url);
    return ret;
}
