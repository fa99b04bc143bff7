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
 * instances; the closest it offers to upgrade.pause is one at a time. With minimumHealthCapacity
 * 1 and maximumOverCapacity 0 Marathon's TaskReplaceActor starts one EXTRA instance first
 * ("temporary over-capacity of one instance", upgrade/TaskReplaceActor.scala @v0.8.0 to
 * core/deployment/impl/TaskReplaceActor.scala:351-366 @v1.10.26), waits until it is healthy,
 * then kills an old one. That needs room for n+1 instances; with a fixed host port (or a UNIQUE
 * constraint, one instance per agent) there may be none, and the deployment waits forever.
 * There mdo sends minimumHealthCapacity (n-1)/n (a little less, so that ceil(n x it) is n-1)
 * with no over-capacity: Marathon kills one old instance first, starts one new one and waits
 * until it is healthy (the health check's grace period is the pause) before the next. The
 * ratio is for the config's instance count: an app scaled far beyond it by `mdo scale` may
 * again ask for the extra instance (scale sends only the count, so as not to restart it).
 * Without a pause: at least half the instances stay up and half as many again may start
 * alongside, as fast as the cluster allows; no over-capacity with a fixed host port. */
static int has_unique(const struct cfg_service *svc)
{
    for (unsigned i = 0; i < svc->nconstraints; i++)
        if (svc->constraints[i].op && !strcmp(svc->constraints[i].op, "UNIQUE"))
            return 1;
    return 0;
}

double mar_min_health(const struct cfg_service *svc)
{
    unsigned n = svc->instances;

    if (!svc->upgrade_pause)
        return 0.5;
    if (!cfg_service_fixed_ports(svc) && !has_unique(svc))
        return 1.0;
    if (n <= 1)
        return 0.0;
    /* ceil(n * r) == n - 1: r just under (n-1)/n, rounded down to 1e-4 */
    return (double)((unsigned long)((double)(n - 1) / n * 10000.0) - 1) / 10000.0;
}

static cJSON *upgrade_json(const struct cfg_service *svc)
{
    cJSON *o = cJSON_CreateObject();
    int fixed = cfg_service_fixed_ports(svc) != NULL;

    cJSON_AddNumberToObject(o, "minimumHealthCapacity", mar_min_health(svc));
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
    if (svc->nvolumes) { /* AppHostVolume (raml/v2/types/volumes.raml): host paths on the agent */
        a = cJSON_AddArrayToObject(c, "volumes");
        for (unsigned i = 0; i < svc->nvolumes; i++) {
            cJSON *v = cJSON_CreateObject();
            cJSON_AddStringToObject(v, "containerPath", svc->volumes[i].path);
            cJSON_AddStringToObject(v, "hostPath", svc->volumes[i].host);
            cJSON_AddStringToObject(v, "mode", svc->volumes[i].ro ? "RO" : "RW");
            cJSON_AddItemToArray(a, v);
        }
    }
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
    /* legacy: Marathon before 1.4 merges a PUT into what it stores (and mdo sends no
     * partialUpdate there), so an empty args list clears the args the config no longer has */
    if (svc->nargs || legacy) {
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
    /* legacy: Marathon before 0.8 keeps no labels; the env carries the version there too */
    if (legacy)
        cJSON_AddStringToObject(env, "MDO_APP_VERSION", version);
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
            const cJSON *h = cJSON_GetObjectItemCaseSensitive(have, w->string);
            /* a portMapping's name, which Marathon before 0.16 does not keep (the only "name"
             * mdo sends) */
            if (!h && !exact && !strcmp(w->string, "name"))
                continue;
            if (!covers(w, h, 0))
                return 0;
        }
        return 1;
    }
    if (cJSON_IsArray(want)) {
        int i = 0;
        if (!cJSON_GetArraySize(want) && (!have || cJSON_IsNull(have)))
            return 1; /* an empty list (legacy args) that the Marathon stores as none */
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
        /* Marathon before 0.8 keeps no labels (its answers have none at all); the legacy shape
         * has mdo.app_version in the env as well, which is compared */
        if (!strcmp(w->string, "labels") && !cJSON_GetObjectItemCaseSensitive(have, "labels"))
            continue;
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

/* running, or healthy/unhealthy from the task's health check results when the app has checks.
 * No result yet, or a result that has never seen a success nor a failure that counts (alive
 * false, consecutiveFailures 0, no firstSuccess, no lastFailure: a probe failed within the
 * grace period, which Marathon lists but does not count, core/health/impl/HealthCheckActor.scala
 * :145-186 @v1.10.26): running, as the docker backend says for "starting". */
static int in_grace(const cJSON *r)
{
    const cJSON *fs = cJSON_GetObjectItemCaseSensitive(r, "firstSuccess");
    const cJSON *lf = cJSON_GetObjectItemCaseSensitive(r, "lastFailure");

    return !json_bool(r, "alive", 0) && json_int(r, "consecutiveFailures", 0) == 0 &&
           (!fs || cJSON_IsNull(fs)) && (!lf || cJSON_IsNull(lf));
}

static const char *task_state(const cJSON *app, const cJSON *task)
{
    const cJSON *res = cJSON_GetObjectItemCaseSensitive(task, "healthCheckResults"), *r;
    int n = 0, alive = 0;

    if (!cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(app, "healthChecks")))
        return "running";
    cJSON_ArrayForEach(r, res)
    {
        if (in_grace(r))
            continue;
        n++;
        if (!json_bool(r, "alive", 0))
            return "unhealthy";
        alive++;
    }
    return n && alive >= cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(app, "healthChecks"))
               ? "healthy"
               : "running";
}

int mar_task_running(const cJSON *task)
{
    const char *state = json_str(task, "state");

    if (state)
        return !strcmp(state, "TASK_RUNNING");
    /* Marathon before 1.1.2 (and 0.16-1.1.1) lists no state: a task that has started and is
     * still listed runs (its startedAt is set on TASK_RUNNING, api/v2/json/Formats.scala:68-77
     * @v0.8.0); a staged one has none */
    return json_str(task, "startedAt") && *json_str(task, "startedAt");
}

int mar_task_healthy(const cJSON *app, const cJSON *task)
{
    return !strcmp(task_state(app, task), "healthy");
}

int mar_task_of(const char *task_id, const char *id)
{
    size_t len = strlen(id);
    const char *dot = strrchr(id, '.');

    if (!strcmp(task_id, id) || (!strncmp(task_id, id, len) && task_id[len] == '.'))
        return 1; /* the task itself, or 1.8+: instance "<p>.instance-<u>", task "<inst>._app.N" */
    /* 1.4-1.7: instance "<p>.marathon-<u>", task "<p>.<u>" (core/task/Task.scala:145-161 @v1.4.0)
     */
    if (dot && !strncmp(dot + 1, "marathon-", 9)) {
        size_t pl = (size_t)(dot - id) + 1;
        return !strncmp(task_id, id, pl) && !strcmp(task_id + pl, dot + 10);
    }
    return 0;
}

/* mdo's identity of an app: env and service from its labels; on a Marathon before 0.8, whose
 * apps have no labels at all, from the MDO_ENVIRONMENT and MDO_SERVICE mdo puts in the env (an
 * app mdo did not make has neither). */
static const cJSON *identity(const cJSON *app, const char **lenv, const char **svc)
{
    const cJSON *labels = cJSON_GetObjectItemCaseSensitive(app, "labels");
    const cJSON *env = cJSON_GetObjectItemCaseSensitive(app, "env");

    if (labels) {
        *lenv = json_str(labels, "mdo.environment");
        *svc = json_str(labels, "mdo.service");
    } else {
        *lenv = json_str(env, "MDO_ENVIRONMENT");
        *svc = json_str(env, "MDO_SERVICE");
    }
    return labels;
}

const char *mar_app_service(const cJSON *app)
{
    const char *lenv, *svc;

    identity(app, &lenv, &svc);
    return lenv ? svc : NULL;
}

int mar_task_record(const char *env, const struct cfg_service *conf, const cJSON *app,
                    const cJSON *task, struct reg_record *rec)
{
    const cJSON *labels, *maps, *m;
    const cJSON *ports = cJSON_GetObjectItemCaseSensitive(task, "ports");
    const cJSON *ip = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(task, "ipAddresses"), 0);
    const cJSON *appenv = cJSON_GetObjectItemCaseSensitive(app, "env");
    const char *lenv, *svc, *id = json_str(task, "id");
    const char *host = json_str(task, "host"), *ver;
    const char *started = json_str(task, "startedAt");
    char of_id[NAME_MAX_LEN + 1];
    unsigned i = 0;
    time_t t;
    int oom = 0;

    memset(rec, 0, sizeof(*rec));
    labels = identity(app, &lenv, &svc);
    ver = json_str(labels, "mdo.app_version");
    if (!ver) /* Marathon before 0.8: the legacy shape's env copy */
        ver = json_str(appenv, "MDO_APP_VERSION");
    if (!lenv || strcmp(lenv, env) || !svc || !*svc || !id || !host || !mar_task_running(task))
        return 1;
    /* The service is the app's: its id must be /<env>/<label's service>, or any app carrying
     * mdo's labels could register its tasks as another service's instances. */
    if (!name_ok(svc) || !mar_service_of(env, json_str(app, "id"), of_id, sizeof(of_id)) ||
        strcmp(of_id, svc) || !segment_ok(id))
        return 2;
    if (conf && strcmp(conf->name, svc))
        conf = NULL;
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

        /* a mapping without a name (Marathon before 0.16 keeps none): the config's name of the
         * port at that index (mdo sends them in config order), else port<i> */
        snprintf(dflt, sizeof(dflt), "port%u", i);
        if (!name && conf && i < conf->nports && conf->ports[i].name)
            name = conf->ports[i].name;
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
