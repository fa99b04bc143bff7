/* spec.c - a service's spec JSON, its app_version hash, and the environment mdo injects */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <openssl/evp.h>
#include "buf.h"
#include "envname.h"
#include "json.h"
#include "spec.h"

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

static int is_loopback(const char *host, size_t n)
{
    return (n == 9 && !strncasecmp(host, "localhost", 9)) ||
           (n >= 4 && !strncmp(host, "127.", 4)) || (n == 5 && !strncmp(host, "[::1]", 5));
}

/* Appends url with a loopback host replaced by host_address. */
static int add_endpoint(struct buf *b, const char *url, const char *host_address)
{
    const char *host = strstr(url, "://"), *end;

    host = host ? host + 3 : url;
    end = host[0] == '[' ? strchr(host, ']') : NULL;
    end = end ? end + 1 : host + strcspn(host, ":/");
    if (host_address && is_loopback(host, (size_t)(end - host)))
        return buf_addf(b, "%.*s%s%s", (int)(host - url), url, host_address, end);
    return buf_adds(b, url);
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

    if (l->oom)
        return;
    if (l->n + 2 > l->alloc) {
        size_t na = l->alloc ? 2 * l->alloc : 32;
        p = realloc(l->v, na * sizeof(*p));
        if (!p) {
            l->oom = 1;
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

char **spec_env(const struct cfg *cfg, const struct cfg_service *svc, const char *host_address,
                const char *container)
{
    struct envlist l = {NULL, 0, 0, 0};
    struct buf b = BUF_INIT(0);
    char *etcd = spec_etcd_for_guests(cfg, host_address);
    const char *hostport;

    for (unsigned i = 0; i < svc->nenv; i++)
        env_addf(&l, svc->env[i].key, svc->env[i].value);
    env_addf(&l, "MDO_ENVIRONMENT", cfg->environment);
    env_addf(&l, "MDO_SERVICE", svc->name);
    env_addf(&l, "MDO_ETCD", etcd ? etcd : "");
    env_addf(&l, "MDO_ETCD_PREFIX", cfg->etcd.prefix);
    for (unsigned i = 0; i < svc->nports; i++) {
        envname(&b, "MDO_PORT_", svc->ports[i].name);
        buf_addf(&b, "=%u", svc->ports[i].port);
        env_add(&l, &b);
    }
    /* the seed's images read these two */
    env_addf(&l, "SERVICE_NAME", svc->name);
    hostport = etcd ? strstr(etcd, "://") : NULL;
    hostport = hostport ? hostport + 3 : (etcd ? etcd : "");
    buf_addf(&b, "ETCD_HOST_ADDRESS=%.*s", (int)strcspn(hostport, "/,"), hostport);
    env_add(&l, &b);
    if (container)
        env_addf(&l, "MDO_CONTAINER_NAME", container);
    if (host_address)
        env_addf(&l, "MDO_HOST_ADDRESS", host_address);
    free(etcd);
    buf_release(&b);
    if (l.oom) {
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
