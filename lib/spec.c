/* spec.c - what both backends make of a service: its spec JSON, app_version hash, the environment
 * and labels mdo gives its containers, and the --dry-run redaction */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <openssl/evp.h>
#include "buf.h"
#include "envname.h"
#include "json.h"
#include "redact.h"
#include "spec.h"
#include "url.h"

static cJSON *kv_object(const struct cfg_kv *kv, unsigned n)
{
    cJSON *o = cJSON_CreateObject();

    for (unsigned i = 0; i < n; i++)
        cJSON_AddStringToObject(o, kv[i].key, kv[i].value);
    return o;
}

static cJSON *spec_build(const struct cfg *cfg, const struct cfg_service *svc, int with_count)
{
    cJSON *o = cJSON_CreateObject(), *ports, *a;

    cJSON_AddStringToObject(o, "environment", cfg->environment);
    cJSON_AddStringToObject(o, "service", svc->name);
    cJSON_AddStringToObject(o, "image", svc->image);
    ports = cJSON_AddArrayToObject(o, "ports");
    for (unsigned i = 0; i < svc->nports; i++) {
        cJSON *p = cJSON_CreateObject();
        cJSON_AddStringToObject(p, "name", svc->ports[i].name);
        cJSON_AddNumberToObject(p, "port", svc->ports[i].port);
        cJSON_AddStringToObject(p, "protocol", svc->ports[i].proto);
        if (svc->ports[i].host_port)
            cJSON_AddNumberToObject(p, "host_port", svc->ports[i].host_port);
        cJSON_AddItemToArray(ports, p);
    }
    if (with_count)
        cJSON_AddNumberToObject(o, "instances", svc->instances);
    cJSON_AddNumberToObject(o, "cpus", svc->cpus);
    cJSON_AddNumberToObject(o, "mem", svc->mem);
    cJSON_AddItemToObject(o, "environment_vars", kv_object(svc->env, svc->nenv));
    cJSON_AddItemToObject(o, "labels", kv_object(svc->labels, svc->nlabels));
    a = cJSON_AddArrayToObject(o, "constraints");
    for (unsigned i = 0; i < svc->nconstraints; i++) {
        cJSON *c = cJSON_CreateArray();
        cJSON_AddItemToArray(c, cJSON_CreateString(svc->constraints[i].field));
        cJSON_AddItemToArray(c, cJSON_CreateString(svc->constraints[i].op));
        if (svc->constraints[i].value)
            cJSON_AddItemToArray(c, cJSON_CreateString(svc->constraints[i].value));
        cJSON_AddItemToArray(a, c);
    }
    if (svc->has_health) {
        cJSON *h = cJSON_AddObjectToObject(o, "health");
        if (svc->health.cmd)
            cJSON_AddStringToObject(h, "cmd", svc->health.cmd);
        if (svc->health.http)
            cJSON_AddStringToObject(h, "http", svc->health.http);
        if (svc->health.port)
            cJSON_AddStringToObject(h, "port", svc->health.port);
        cJSON_AddNumberToObject(h, "interval", svc->health.interval);
        cJSON_AddNumberToObject(h, "timeout", svc->health.timeout);
        cJSON_AddNumberToObject(h, "grace", svc->health.grace);
    }
    a = cJSON_AddArrayToObject(o, "args");
    for (unsigned i = 0; i < svc->nargs; i++)
        cJSON_AddItemToArray(a, cJSON_CreateString(svc->args[i]));
    cJSON_AddItemToObject(o, "upgrade", cJSON_CreateObject());
    cJSON_AddNumberToObject(cJSON_GetObjectItem(o, "upgrade"), "pause", svc->upgrade_pause);
    if (svc->nvolumes) { /* only when there are some: older specs keep their version */
        a = cJSON_AddArrayToObject(o, "volumes");
        for (unsigned i = 0; i < svc->nvolumes; i++) {
            cJSON *v = cJSON_CreateObject();
            cJSON_AddStringToObject(v, "host", svc->volumes[i].host);
            cJSON_AddStringToObject(v, "path", svc->volumes[i].path);
            cJSON_AddBoolToObject(v, "ro", svc->volumes[i].ro);
            cJSON_AddItemToArray(a, v);
        }
    }
    return o;
}

cJSON *spec_json(const struct cfg *cfg, const struct cfg_service *svc)
{
    return spec_build(cfg, svc, 1);
}

int spec_version(const struct cfg *cfg, const struct cfg_service *svc, char out[13])
{
    cJSON *o = spec_build(cfg, svc, 0);
    char *s = json_print(o);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;

    cJSON_Delete(o);
    if (!s || !EVP_Digest(s, strlen(s), md, &mdlen, EVP_sha256(), NULL)) {
        free(s);
        return -MDO_ENOMEM;
    }
    free(s);
    for (int i = 0; i < 6; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
    return 0;
}

int spec_env_secret(const char *name)
{
    static const char *const words[] = {"PASSWORD", "PASSWD", "SECRET",
                                        "TOKEN",    "KEY",    "CREDENTIAL"};

    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
        if (strcasestr(name, words[i]))
            return 1;
    return 0;
}

/* Appends url with a loopback host replaced by host_address (an endpoint that is not a URL is
 * passed on as it is: the loader checked them). */
static int add_endpoint(struct buf *b, const char *url, const char *host_address)
{
    char *host = NULL, *rehosted = NULL;
    unsigned port;
    int ret;

    if (host_address && !url_host_port(url, &host, &port) && url_host_is_loopback(host))
        rehosted = url_rehost(url, host_address);
    ret = buf_adds(b, rehosted ? rehosted : url);
    free(rehosted);
    free(host);
    return ret;
}

const char *spec_etcd_ca(const struct cfg *cfg)
{
    if (!cfg->etcd.ca)
        return NULL;
    for (unsigned i = 0; i < cfg->etcd.nendpoints; i++)
        if (!strncasecmp(cfg->etcd.endpoints[i], "https://", 8))
            return cfg->etcd.ca;
    return NULL;
}

int spec_etcd_guest_cert(const struct cfg *cfg)
{
    if (!cfg->etcd.guest.cert || !cfg->etcd.guest.key)
        return 0;
    for (unsigned i = 0; i < cfg->etcd.nendpoints; i++)
        if (!strncasecmp(cfg->etcd.endpoints[i], "https://", 8))
            return 1;
    return 0;
}

/* subscriber.listen's address (IPv6 without brackets) and port; the loader checked the port.
 * 0, or -1 (ENOMEM, or not ADDR:PORT). *host is the caller's. */
static int listen_parts(const char *listen, char **host, unsigned *port)
{
    const char *colon = listen ? strrchr(listen, ':') : NULL;
    const char *h = listen;
    size_t n;
    char *end;
    long p;

    if (!colon)
        return -1;
    n = (size_t)(colon - listen);
    if (n >= 2 && h[0] == '[' && h[n - 1] == ']') {
        h++;
        n -= 2;
    }
    p = strtol(colon + 1, &end, 10);
    if (*end || p < 1 || p > 65535)
        return -1;
    *host = strndup(h, n);
    *port = (unsigned)p;
    return *host ? 0 : -1;
}

static int is_wildcard(const char *host)
{
    return !*host || !strcmp(host, "0.0.0.0") || !strcmp(host, "::") || !strcmp(host, "*");
}

char *spec_subscriber_url(const struct cfg *cfg, const char *host_address)
{
    char *host = NULL, *url = NULL;
    unsigned port;

    if (cfg->subscriber.public_url)
        return strdup(cfg->subscriber.public_url);
    if (!host_address || listen_parts(cfg->subscriber.listen, &host, &port))
        return NULL;
    if (!url_host_is_loopback(host))
        url = url_make("http", is_wildcard(host) ? host_address : host, port);
    free(host);
    return url;
}

const char *spec_subscriber_unreachable(const struct cfg *cfg, int docker)
{
    char *host = NULL;
    unsigned port;
    int loopback;

    if (!cfg->subscriber.guest_token || cfg->subscriber.public_url)
        return NULL;
    if (!docker)
        return "subscriber.guest_token is set but containers get no MDO_SUBSCRIBER_URL: "
               "set subscriber.public_url (register_callback cannot reach the subscriber)";
    if (listen_parts(cfg->subscriber.listen, &host, &port))
        return NULL;
    loopback = url_host_is_loopback(host);
    free(host);
    return loopback ? "subscriber.listen is a loopback address, which containers cannot reach: "
                      "they get no MDO_SUBSCRIBER_URL (register_callback fails); listen on the "
                      "Docker bridge address or set subscriber.public_url"
                    : NULL;
}

char *spec_etcd_for_guests(const struct cfg *cfg, const char *host_address)
{
    struct buf b = BUF_INIT(0);

    for (unsigned i = 0; i < cfg->etcd.nendpoints; i++) {
        if (i)
            buf_addc(&b, ',');
        add_endpoint(&b, cfg->etcd.endpoints[i], host_address);
    }
    return buf_detach(&b);
}

struct envlist {
    char **v;
    size_t n, alloc;
    int oom;
};

static void env_add(struct envlist *l, struct buf *b)
{
    char **p;

    if (l->oom || !b->ptr) {
        l->oom = 1;
        buf_release(b);
        return;
    }
    if (l->n + 2 > l->alloc) {
        size_t na = l->alloc ? 2 * l->alloc : 32;
        p = realloc(l->v, na * sizeof(*p));
        if (!p) {
            l->oom = 1;
            buf_release(b);
            return;
        }
        l->v = p;
        l->alloc = na;
    }
    l->v[l->n++] = buf_detach(b);
    l->v[l->n] = NULL;
}

static void env_addf(struct envlist *l, const char *name, const char *value)
{
    struct buf b = BUF_INIT(0);

    buf_addf(&b, "%s=%s", name, value);
    env_add(l, &b);
}

/* Whether l sets name ("NAME=..."). */
static int env_has(const struct envlist *l, const char *name)
{
    size_t n = strlen(name);

    for (size_t i = 0; i < l->n; i++)
        if (!strncmp(l->v[i], name, n) && l->v[i][n] == '=')
            return 1;
    return 0;
}

/* ETCD_HOST_ADDRESS: host:port of the first endpoint as guests see it. */
static void add_etcd_host(struct envlist *l, const char *etcd)
{
    struct buf b = BUF_INIT(0), first = BUF_INIT(0);
    char *host = NULL;
    unsigned port;

    buf_add(&first, etcd, strcspn(etcd, ","));
    if (!url_host_port(buf_str(&first), &host, &port))
        buf_addf(&b, "ETCD_HOST_ADDRESS=%s%s%s:%u", strchr(host, ':') ? "[" : "", host,
                 strchr(host, ':') ? "]" : "", port);
    else
        buf_adds(&b, "ETCD_HOST_ADDRESS=");
    env_add(l, &b);
    free(host);
    buf_release(&first);
}

char **spec_env(const struct cfg *cfg, const struct cfg_service *svc, const char *host_address,
                const char *container)
{
    struct envlist mdo = {NULL, 0, 0, 0}, l = {NULL, 0, 0, 0};
    struct buf b = BUF_INIT(0);
    char *etcd = spec_etcd_for_guests(cfg, host_address);
    char *sub_url = spec_subscriber_url(cfg, host_address);

    env_addf(&mdo, "MDO_ENVIRONMENT", cfg->environment);
    env_addf(&mdo, "MDO_SERVICE", svc->name);
    env_addf(&mdo, "MDO_ETCD", etcd ? etcd : "");
    env_addf(&mdo, "MDO_ETCD_PREFIX", cfg->etcd.prefix);
    /* the read-only guest identity (DESIGN §4, §10); the subscriber's never leaves the host */
    if (cfg->etcd.guest.username) {
        env_addf(&mdo, "MDO_ETCD_USERNAME", cfg->etcd.guest.username);
        env_addf(&mdo, "MDO_ETCD_PASSWORD",
                 cfg->etcd.guest.password ? cfg->etcd.guest.password : "");
    }
    if (spec_etcd_ca(cfg))
        env_addf(&mdo, "MDO_ETCD_CA", SPEC_ETCD_CA);
    if (spec_etcd_guest_cert(cfg)) {
        env_addf(&mdo, "MDO_ETCD_CERT", SPEC_ETCD_CERT);
        env_addf(&mdo, "MDO_ETCD_KEY", SPEC_ETCD_KEY);
    }
    /* register_callback's way to the subscriber (DESIGN §4, §10): the guest token only */
    if (sub_url)
        env_addf(&mdo, "MDO_SUBSCRIBER_URL", sub_url);
    if (cfg->subscriber.guest_token)
        env_addf(&mdo, "MDO_SUBSCRIBER_TOKEN", cfg->subscriber.guest_token);
    for (unsigned i = 0; i < svc->nports; i++) {
        envname(&b, "MDO_PORT_", svc->ports[i].name);
        buf_addf(&b, "=%u", svc->ports[i].port);
        env_add(&mdo, &b);
    }
    /* the seed's images read these two */
    env_addf(&mdo, "SERVICE_NAME", svc->name);
    add_etcd_host(&mdo, etcd ? etcd : "");
    if (container)
        env_addf(&mdo, "MDO_CONTAINER_NAME", container);
    if (host_address)
        env_addf(&mdo, "MDO_HOST_ADDRESS", host_address);
    /* The user's variables first, then mdo's. A user variable mdo also sets is dropped: Docker
     * keeps both of a repeated name and getenv() returns the first, so it would win. */
    for (unsigned i = 0; i < svc->nenv; i++)
        if (!env_has(&mdo, svc->env[i].key))
            env_addf(&l, svc->env[i].key, svc->env[i].value);
    for (size_t i = 0; i < mdo.n; i++) {
        buf_reset(&b);
        buf_adds(&b, mdo.v[i]);
        env_add(&l, &b);
    }
    free(etcd);
    free(sub_url);
    buf_release(&b);
    spec_env_free(mdo.v);
    if (l.oom || mdo.oom) {
        spec_env_free(l.v);
        return NULL;
    }
    return l.v;
}

void spec_env_free(char **env)
{
    for (size_t i = 0; env && env[i]; i++)
        free(env[i]);
    free(env);
}

cJSON *spec_labels(const struct cfg *cfg, const struct cfg_service *svc, const char *version)
{
    cJSON *o = cJSON_CreateObject();
    struct buf b = BUF_INIT(0);

    cJSON_AddStringToObject(o, "mdo.environment", cfg->environment);
    cJSON_AddStringToObject(o, "mdo.service", svc->name);
    cJSON_AddStringToObject(o, "mdo.app_version", version);
    for (unsigned i = 0; i < svc->nlabels; i++) {
        buf_reset(&b);
        buf_addf(&b, "mdo.label.%s", svc->labels[i].key);
        cJSON_AddStringToObject(o, buf_str(&b), svc->labels[i].value);
    }
    buf_release(&b);
    return o;
}

int spec_record_labels(struct reg_record *rec, const cJSON *labels)
{
    const cJSON *l;
    unsigned n = 0;

    cJSON_ArrayForEach(l, labels)
    {
        if (l->string && !strncmp(l->string, SPEC_LABEL, strlen(SPEC_LABEL)) && cJSON_IsString(l))
            n++;
    }
    if (!n)
        return 0;
    rec->labels = calloc(n, sizeof(*rec->labels));
    if (!rec->labels)
        return -MDO_ENOMEM;
    cJSON_ArrayForEach(l, labels)
    {
        struct cfg_kv *kv = &rec->labels[rec->nlabels];
        if (!l->string || strncmp(l->string, SPEC_LABEL, strlen(SPEC_LABEL)) || !cJSON_IsString(l))
            continue;
        kv->key = strdup(l->string + strlen(SPEC_LABEL));
        kv->value = redact_dup(l->valuestring); /* records, /v1, /info and logs show no secret */
        rec->nlabels++;
        if (!kv->key || !kv->value)
            return -MDO_ENOMEM;
    }
    return 0;
}

char *spec_redacted(const cJSON *body)
{
    cJSON *copy = cJSON_Duplicate(body, 1), *e;
    struct buf r = BUF_INIT(0);
    char *s;

    /* Docker: "Env": ["NAME=value", ...] */
    cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(copy, "Env"))
    {
        size_t k;
        if (!cJSON_IsString(e))
            continue;
        k = strcspn(e->valuestring, "=");
        buf_reset(&r);
        buf_add(&r, e->valuestring, k < 255 ? k : 255);
        if (spec_env_secret(buf_str(&r))) {
            buf_adds(&r, "=<redacted>");
            cJSON_SetValuestring(e, buf_str(&r));
        }
    }
    /* Marathon: "env": {"NAME": "value", ...} */
    cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(copy, "env"))
    {
        if (spec_env_secret(e->string) && cJSON_IsString(e))
            cJSON_SetValuestring(e, "<redacted>");
    }
    /* and every secret wherever it sits: args, health command, labels, image (redact.h) */
    s = copy && redact_json(copy) >= 0 ? cJSON_Print(copy) : NULL;
    cJSON_Delete(copy);
    buf_release(&r);
    return s;
}
