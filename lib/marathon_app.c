/* marathon_app.c - the marathon backend's pure parts: app ids and paths, the app definition mdo
 * sends, its comparison with what Marathon stores, and the records of Marathon's tasks */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "buf.h"
#include "json.h"
#include "marathon.h"
#include "names.h"
#include "spec.h"
#include "timefmt.h"
#include "url.h"

int mar_app_id(struct buf *b, const char *env, const char *service)
{
    return buf_addf(b, "/%s/%s", env, service);
}

int mar_app_path(struct buf *b, const char *env, const char *service)
{
    buf_adds(b, "/v2/apps/");
    url_add_segment(b, env);
    buf_addc(b, '/');
    return url_add_segment(b, service);
}

const char *mar_service_of(const char *env, const char *app_id, char *out, size_t n)
{
    size_t le = strlen(env);
    const char *s;

    if (!app_id || app_id[0] != '/' || strncmp(app_id + 1, env, le) || app_id[le + 1] != '/')
        return NULL;
    s = app_id + le + 2;
    if (!*s || strchr(s, '/') || strlen(s) >= n)
        return NULL;
    memcpy(out, s, strlen(s) + 1);
    return out;
}

static cJSON *health_json(const struct cfg_service *svc)
{
    const struct cfg_health *h = &svc->health;
    cJSON *o = cJSON_CreateObject();

    if (h->cmd) {
        cJSON_AddStringToObject(o, "protocol", "COMMAND");
        cJSON_AddStringToObject(cJSON_AddObjectToObject(o, "command"), "value", h->cmd);
    } else {
        cJSON_AddStringToObject(o, "protocol", "HTTP");
        cJSON_AddStringToObject(o, "path", h->http ? h->http : "/");
        cJSON_AddNumberToObject(o, "portIndex",
                                cfg_health_port(svc) ? cfg_health_port(svc) - svc->ports : 0);
    }
    cJSON_AddNumberToObject(o, "gracePeriodSeconds", h->grace);
    cJSON_AddNumberToObject(o, "intervalSeconds", h->interval);
    cJSON_AddNumberToObject(o, "timeoutSeconds", h->timeout);
    cJSON_AddNumberToObject(o, "maxConsecutiveFailures", 3);
    return o;
}

/* How Marathon replaces instances on a config change or restart. Marathon has no pause between
 * instances; the closest it offers to upgrade.pause is one at a time: minimumHealthCapacity 1
 * with maximumOverCapacity 0 makes it kill one old instance, start one new one and wait until
 * that one is healthy (its health check's grace period is the pause) before the next. Without a
 * pause: at least half the instances stay up and half as many again may start alongside, as
 * fast as the cluster allows. A fixed host port cannot run old and new side by side on one
 * agent, so no over-capacity then. */
static cJSON *upgrade_json(const struct cfg_service *svc)
{
    cJSON *o = cJSON_CreateObject();
    int fixed = cfg_service_fixed_ports(svc) != NULL;

    cJSON_AddNumberToObject(o, "minimumHealthCapacity", svc->upgrade_pause ? 1.0 : 0.5);
    cJSON_AddNumberToObject(o, "maximumOverCapacity", svc->upgrade_pause || fixed ? 0.0 : 0.5);
    return o;
}

cJSON *mar_app_json(const struct cfg *cfg, const struct cfg_service *svc, int legacy)
{
    cJSON *o = cJSON_CreateObject(), *c, *dk, *pm, *env, *a;
    struct buf b = BUF_INIT(0);
    char version[13] = "";
    char **vars = spec_env(cfg, svc, NULL, NULL); /* Mesos sets MESOS_TASK_ID and HOST */

    if (!o || !vars || spec_version(cfg, svc, version) ||
        mar_app_id(&b, cfg->environment, svc->name)) {
        cJSON_Delete(o);
        spec_env_free(vars);
        buf_release(&b);
        return NULL;
    }
    cJSON_AddStringToObject(o, "id", b.ptr);
    c = cJSON_AddObjectToObject(o, "container");
    cJSON_AddStringToObject(c, "type", "DOCKER");
    dk = cJSON_AddObjectToObject(c, "docker");
    cJSON_AddStringToObject(dk, "image", svc->image);
    cJSON_AddBoolToObject(dk, "forcePullImage", cfg->docker.pull == CFG_PULL_ALWAYS);
    if (legacy)
        cJSON_AddStringToObject(dk, "network", "BRIDGE");
    pm = cJSON_AddArrayToObject(legacy ? dk : c, "portMappings");
    for (unsigned i = 0; i < svc->nports; i++) {
        cJSON *p = cJSON_CreateObject();
        cJSON_AddStringToObject(p, "name", svc->ports[i].name);
        cJSON_AddNumberToObject(p, "containerPort", svc->ports[i].port);
        cJSON_AddNumberToObject(p, "hostPort", svc->ports[i].host_port); /* 0: Mesos picks */
        cJSON_AddStringToObject(p, "protocol", svc->ports[i].proto);
        cJSON_AddItemToArray(pm, p);
    }
    if (!legacy) {
        cJSON *n = cJSON_CreateObject();
        cJSON_AddStringToObject(n, "mode", "container/bridge");
        cJSON_AddItemToArray(cJSON_AddArrayToObject(o, "networks"), n);
    }
    cJSON_AddNumberToObject(o, "cpus", svc->cpus);
    cJSON_AddNumberToObject(o, "mem", svc->mem);
    cJSON_AddNumberToObject(o, "instances", svc->instances);
    if (svc->nargs) {
        a = cJSON_AddArrayToObject(o, "args");
        for (unsigned i = 0; i < svc->nargs; i++)
            cJSON_AddItemToArray(a, cJSON_CreateString(svc->args[i]));
    }
    env = cJSON_AddObjectToObject(o, "env");
    for (size_t i = 0; vars[i]; i++) {
        size_t k = strcspn(vars[i], "=");
        buf_reset(&b);
        buf_add(&b, vars[i], k);
        cJSON_DeleteItemFromObjectCaseSensitive(env, b.ptr); /* (spec_env repeats none) */
        cJSON_AddStringToObject(env, b.ptr, vars[i][k] ? vars[i] + k + 1 : "");
    }
    cJSON_AddItemToObject(o, "labels", spec_labels(cfg, svc, version));
    a = cJSON_AddArrayToObject(o, "constraints");
    for (unsigned i = 0; i < svc->nconstraints; i++) {
        cJSON *one = cJSON_CreateArray();
        cJSON_AddItemToArray(one, cJSON_CreateString(svc->constraints[i].field));
        cJSON_AddItemToArray(one, cJSON_CreateString(svc->constraints[i].op));
        if (svc->constraints[i].value)
            cJSON_AddItemToArray(one, cJSON_CreateString(svc->constraints[i].value));
        cJSON_AddItemToArray(a, one);
    }
    a = cJSON_AddArrayToObject(o, "healthChecks");
    if (svc->has_health)
        cJSON_AddItemToArray(a, health_json(svc));
    cJSON_AddItemToObject(o, "upgradeStrategy", upgrade_json(svc));
    spec_env_free(vars);
    buf_release(&b);
    return o;
}

/* want's value is in have: objects key by key (exact: the same keys, no more), arrays element by
 * element, numbers within rounding (Marathon stores 0.3 cpus as a double). */
static int covers(const cJSON *want, const cJSON *have, int exact)
{
    const cJSON *w;

    if (cJSON_IsObject(want)) {
        if (!cJSON_IsObject(have))
            return 0;
        if (exact && cJSON_GetArraySize(want) != cJSON_GetArraySize(have))
            return 0;
        cJSON_ArrayForEach(w, want)
        {
            if (!covers(w, cJSON_GetObjectItemCaseSensitive(have, w->string), 0))
                return 0;
        }
        return 1;
    }
    if (cJSON_IsArray(want)) {
        int i = 0;
        if (!cJSON_IsArray(have) || cJSON_GetArraySize(want) != cJSON_GetArraySize(have))
            return 0;
        cJSON_ArrayForEach(w, want)
        {
            if (!covers(w, cJSON_GetArrayItem(have, i++), 0))
                return 0;
        }
        return 1;
    }
    if (cJSON_IsNumber(want)) { /* (no libm: the build links none) */
        double d = cJSON_IsNumber(have) ? want->valuedouble - have->valuedouble : 1;
        double scale = want->valuedouble < 0 ? -want->valuedouble : want->valuedouble;
        return cJSON_IsNumber(have) && (d < 0 ? -d : d) <= 1e-9 * (scale > 1 ? scale : 1);
    }
    if (cJSON_IsString(want))
        return cJSON_IsString(have) && !strcmp(want->valuestring, have->valuestring);
    if (cJSON_IsBool(want))
        return cJSON_IsBool(have) && cJSON_IsTrue(want) == cJSON_IsTrue(have);
    return cJSON_IsNull(want) ? !have || cJSON_IsNull(have) : 0;
}

int mar_app_same(const cJSON *want, const cJSON *have)
{
    const cJSON *w;

    if (!cJSON_IsObject(have))
        return 0;
    cJSON_ArrayForEach(w, want)
    {
        int exact = !strcmp(w->string, "env") || !strcmp(w->string, "labels");
        if (!covers(w, cJSON_GetObjectItemCaseSensitive(have, w->string), exact))
            return 0;
    }
    return 1;
}

static char *xstrdup(const char *s, int *oom)
{
    char *d;

    if (!s)
        return NULL;
    d = strdup(s);
    if (!d)
        *oom = 1;
    return d;
}

/* The app's port mappings, wherever its shape keeps them. */
static const cJSON *app_mappings(const cJSON *app)
{
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(app, "container"), *m;

    m = cJSON_GetObjectItemCaseSensitive(c, "portMappings");
    if (!cJSON_IsArray(m))
        m = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(c, "docker"),
                                             "portMappings");
    return cJSON_IsArray(m) ? m : NULL;
}

/* running, or healthy/unhealthy from the task's health check results when the app has checks
 * (no result yet, in the grace period: running, as the docker backend says for "starting") */
static const char *task_state(const cJSON *app, const cJSON *task)
{
    const cJSON *res = cJSON_GetObjectItemCaseSensitive(task, "healthCheckResults"), *r;
    int n = 0, alive = 0;

    if (!cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(app, "healthChecks")))
        return "running";
    cJSON_ArrayForEach(r, res)
    {
        n++;
        if (!json_bool(r, "alive", 0))
            return "unhealthy";
        alive++;
    }
    return n && alive >= cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(app, "healthChecks"))
               ? "healthy"
               : "running";
}

int mar_task_record(const char *env, const cJSON *app, const cJSON *task, struct reg_record *rec)
{
    const cJSON *labels = cJSON_GetObjectItemCaseSensitive(app, "labels"), *maps, *m;
    const cJSON *ports = cJSON_GetObjectItemCaseSensitive(task, "ports");
    const cJSON *ip = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(task, "ipAddresses"), 0);
    const char *lenv = json_str(labels, "mdo.environment"), *svc = json_str(labels, "mdo.service");
    const char *state = json_str(task, "state"), *id = json_str(task, "id");
    const char *host = json_str(task, "host"), *ver = json_str(labels, "mdo.app_version");
    const char *started = json_str(task, "startedAt");
    char of_id[NAME_MAX_LEN + 1];
    unsigned i = 0;
    time_t t;
    int oom = 0;

    memset(rec, 0, sizeof(*rec));
    if (!lenv || strcmp(lenv, env) || !svc || !*svc || !id || !host || !state ||
        strcmp(state, "TASK_RUNNING"))
        return 1;
    /* The service is the app's: its id must be /<env>/<label's service>, or any app carrying
     * mdo's labels could register its tasks as another service's instances. */
    if (!name_ok(svc) || !mar_service_of(env, json_str(app, "id"), of_id, sizeof(of_id)) ||
        strcmp(of_id, svc) || !segment_ok(id))
        return 2;
    if (started && rfc3339_parse(started, &t))
        started = NULL; /* not a time: left out rather than passed on */
    rec->service = xstrdup(svc, &oom);
    rec->container = xstrdup(id, &oom);
    rec->environment = xstrdup(env, &oom);
    rec->host = xstrdup(host, &oom);
    rec->address = xstrdup(json_str(ip, "ipAddress"), &oom);
    rec->state = xstrdup(task_state(app, task), &oom);
    rec->started_at = xstrdup(started, &oom);
    rec->app_version = xstrdup(ver ? ver : "", &oom);
    rec->backend = xstrdup("marathon", &oom);
    maps = app_mappings(app);
    if (cJSON_GetArraySize(maps) &&
        !(rec->ports = calloc((size_t)cJSON_GetArraySize(maps), sizeof(*rec->ports))))
        oom = 1;
    if (!rec->ports)
        maps = NULL;
    cJSON_ArrayForEach(m, maps)
    {
        struct reg_port *p = &rec->ports[rec->nports];
        const char *name = json_str(m, "name"), *proto = json_str(m, "protocol");
        const cJSON *ext = cJSON_GetArrayItem(ports, (int)i);
        char dflt[16];

        snprintf(dflt, sizeof(dflt), "port%u", i); /* a mapping mdo did not name */
        p->name = xstrdup(name ? name : dflt, &oom);
        p->external = cJSON_IsNumber(ext) ? ext->valueint : 0;
        p->internal = (int)json_int(m, "containerPort", 0);
        if (!p->internal) /* containerPort 0: Marathon makes it the host port */
            p->internal = p->external;
        snprintf(p->proto, sizeof(p->proto), "%.3s", proto && *proto ? proto : "tcp");
        rec->nports++;
        i++;
    }
    if (spec_record_labels(rec, labels))
        oom = 1;
    if (oom) {
        reg_record_release(rec);
        return -MDO_ENOMEM;
    }
    return 0;
}
