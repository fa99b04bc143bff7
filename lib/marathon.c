/* marathon.c - the marathon backend: one Marathon app per service, over Marathon's REST API v2
 * (Marathon 1.5+; `marathon.api: legacy` sends the 1.4-and-earlier app shape).
 *
 * The app is /<env>/<service>, a Docker container on the bridge network with named portMappings,
 * labelled mdo.environment, mdo.service, mdo.app_version (spec_version) and mdo.label.<k>. Every
 * record the subscriber registers is read back from Marathon's tasks (never from the config): the
 * task id is the container (Mesos' MESOS_TASK_ID), the agent is the host, task.ports[i] is the
 * host port of portMappings[i] (Marathon keeps that order).
 *
 * Events come from /v2/events (SSE). Marathon does not order events and has no replay
 * (ref README "Events"), so an event is only a hint of which task changed: the task is re-read
 * from GET /v2/apps/<id> and registered exactly as list() would register it (same bytes, so the
 * periodic reconcile never rewrites it). Removals (TASK_KILLING first: d2iq-archive/marathon#4609)
 * need no read.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "buf.h"
#include "http.h"
#include "json.h"
#include "log.h"
#include "marathon.h"
#include "scheduler.h"
#include "spec.h"
#include "sse.h"

#define WAIT_DEFAULT_S  300
#define POLL_MS         500
#define STREAM_IDLE_S   30 /* Marathon (Jetty) sends a heartbeat every ~10 s */
#define FAILURES_FATAL  3  /* distinct failed tasks of the new version before --wait gives up */
#define EVENT_FRAME_CAP (4u << 20)

struct sched {
    const struct cfg *cfg;
    struct http_conn conn;
    char *base;  /* marathon.url without a trailing '/' */
    char *shown; /* the same without user:password@, for messages */
    int legacy;
};

/* ---- the pure parts (marathon.h) ---- */

int mar_app_id(struct buf *b, const char *env, const char *service)
{
    return buf_addf(b, "/%s/%s", env, service);
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
        unsigned idx = 0;
        for (unsigned i = 0; h->port && i < svc->nports; i++)
            if (!strcmp(svc->ports[i].name, h->port))
                idx = i;
        cJSON_AddStringToObject(o, "protocol", "HTTP");
        cJSON_AddStringToObject(o, "path", h->http ? h->http : "/");
        cJSON_AddNumberToObject(o, "portIndex", idx);
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
    int fixed = 0;

    for (unsigned i = 0; i < svc->nports; i++)
        fixed |= svc->ports[i].host_port != 0;
    cJSON_AddNumberToObject(o, "minimumHealthCapacity", svc->upgrade_pause ? 1.0 : 0.5);
    cJSON_AddNumberToObject(o, "maximumOverCapacity", svc->upgrade_pause || fixed ? 0.0 : 0.5);
    return o;
}

cJSON *mar_app_json(const struct cfg *cfg, const struct cfg_service *svc, int legacy)
{
    cJSON *o = cJSON_CreateObject(), *c, *dk, *pm, *env, *labels, *a;
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
        /* spec_env lists mdo's own variables last: a repeated name takes the later value */
        cJSON_DeleteItemFromObjectCaseSensitive(env, b.ptr);
        cJSON_AddStringToObject(env, b.ptr, vars[i][k] ? vars[i] + k + 1 : "");
    }
    labels = cJSON_AddObjectToObject(o, "labels");
    cJSON_AddStringToObject(labels, "mdo.environment", cfg->environment);
    cJSON_AddStringToObject(labels, "mdo.service", svc->name);
    cJSON_AddStringToObject(labels, "mdo.app_version", version);
    for (unsigned i = 0; i < svc->nlabels; i++) {
        buf_reset(&b);
        buf_addf(&b, "mdo.label.%s", svc->labels[i].key);
        cJSON_AddStringToObject(labels, b.ptr, svc->labels[i].value);
    }
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

char *mar_app_redacted(const cJSON *app)
{
    cJSON *copy = cJSON_Duplicate(app, 1), *e;
    char *s;

    cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(copy, "env"))
    {
        if (spec_env_secret(e->string) && cJSON_IsString(e))
            cJSON_SetValuestring(e, "<redacted>");
    }
    s = copy ? cJSON_Print(copy) : NULL;
    cJSON_Delete(copy);
    return s;
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
    const cJSON *labels = cJSON_GetObjectItemCaseSensitive(app, "labels"), *maps, *m, *l;
    const cJSON *ports = cJSON_GetObjectItemCaseSensitive(task, "ports");
    const cJSON *ip = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(task, "ipAddresses"), 0);
    const char *lenv = json_str(labels, "mdo.environment"), *svc = json_str(labels, "mdo.service");
    const char *state = json_str(task, "state"), *id = json_str(task, "id");
    const char *host = json_str(task, "host"), *ver = json_str(labels, "mdo.app_version");
    unsigned nl = 0, i = 0;
    int oom = 0;

    memset(rec, 0, sizeof(*rec));
    if (!lenv || strcmp(lenv, env) || !svc || !*svc || !id || !host || !state ||
        strcmp(state, "TASK_RUNNING"))
        return 1;
    rec->service = xstrdup(svc, &oom);
    rec->container = xstrdup(id, &oom);
    rec->environment = xstrdup(env, &oom);
    rec->host = xstrdup(host, &oom);
    rec->address = xstrdup(json_str(ip, "ipAddress"), &oom);
    rec->state = xstrdup(task_state(app, task), &oom);
    rec->started_at = xstrdup(json_str(task, "startedAt"), &oom);
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
    cJSON_ArrayForEach(l, labels) nl += !strncmp(l->string, "mdo.label.", 10) && cJSON_IsString(l);
    if (nl && !(rec->labels = calloc(nl, sizeof(*rec->labels))))
        oom = 1;
    if (!rec->labels)
        labels = NULL;
    cJSON_ArrayForEach(l, labels)
    {
        if (strncmp(l->string, "mdo.label.", 10) || !cJSON_IsString(l))
            continue;
        rec->labels[rec->nlabels].key = xstrdup(l->string + 10, &oom);
        rec->labels[rec->nlabels++].value = xstrdup(l->valuestring, &oom);
    }
    if (oom) {
        reg_record_release(rec);
        return -MDO_ENOMEM;
    }
    return 0;
}

/* ---- talking to Marathon ---- */

/* Copies the URL without "user:password@" (a URL may carry credentials: never print them). */
static char *shown_url(const char *url)
{
    const char *scheme = strstr(url, "://"), *host = scheme ? scheme + 3 : url;
    const char *at = strchr(host, '@'), *slash = strchr(host, '/');
    struct buf b = BUF_INIT(0);

    if (at && (!slash || at < slash)) {
        buf_add(&b, url, (size_t)(host - url));
        buf_adds(&b, at + 1);
    } else {
        buf_adds(&b, url);
    }
    return buf_detach(&b);
}

static int mar_open(struct sched **out, const struct cfg *cfg, struct mdo_err *err)
{
    const struct cfg_marathon *mc = &cfg->marathon;
    struct sched *m;
    size_t n;

    *out = NULL;
    if (!mc->url || !*mc->url)
        return err_set(err, MDO_ECONFIG,
                       "%s: scheduler is 'marathon' but marathon.url (or "
                       "marathon.host and port) is not set",
                       cfg->path);
    m = calloc(1, sizeof(*m));
    if (!m || !(m->base = strdup(mc->url)) || !(m->shown = shown_url(mc->url))) {
        if (m)
            free(m->base);
        free(m);
        return err_set(err, MDO_ENOMEM, "out of memory");
    }
    n = strlen(m->base);
    while (n && m->base[n - 1] == '/')
        m->base[--n] = '\0';
    n = strlen(m->shown);
    while (n && m->shown[n - 1] == '/')
        m->shown[--n] = '\0';
    m->cfg = cfg;
    m->legacy = mc->api && !strcmp(mc->api, "legacy");
    m->conn.user = mc->username;
    m->conn.password = mc->password;
    m->conn.token = mc->token;
    m->conn.ca = mc->ca;
    m->conn.insecure = mc->insecure;
    m->conn.connect_timeout_ms = 5000;
    m->conn.timeout_ms = 30000;
    *out = m;
    return 0;
}

static void mar_close(struct sched *m)
{
    if (!m)
        return;
    free(m->base);
    free(m->shown);
    free(m);
}

/* err holds the http layer's "METHOD URL: why": keep the why, name Marathon and the safe URL. */
static int net_error(struct sched *m, const char *method, const char *url, struct mdo_err *err)
{
    char why[1024];
    size_t skip = strlen(method) + 1 + strlen(url) + 2;

    snprintf(why, sizeof(why), "%.1000s", strlen(err->msg) > skip ? err->msg + skip : err->msg);
    return err_set(err, MDO_ENET,
                   "cannot reach Marathon at %s: %s (is it running? check "
                   "marathon.url%s)",
                   m->shown, why,
                   !strncmp(m->base, "https:", 6) ? ", marathon.ca and marathon.insecure" : "");
}

/* One request. Any HTTP status is success here: *status and *out (the JSON answer, or NULL) are
 * the caller's to judge (mar_fail). Transport failures name Marathon's URL and the cause. */
static int mr(struct sched *m, const char *method, const char *path, const char *body, long *status,
              cJSON **out, struct mdo_err *err)
{
    struct http_resp resp = HTTP_RESP_INIT;
    struct buf url = BUF_INIT(0);
    int ret;

    *out = NULL;
    *status = 0;
    if (buf_addf(&url, "%s%s", m->base, path))
        return err_set(err, MDO_ENOMEM, "out of memory");
    ret = http_request(&m->conn, method, url.ptr, body, body ? strlen(body) : 0,
                       body ? "application/json" : NULL, &resp, err);
    if (ret == -MDO_ENET)
        ret = net_error(m, method, url.ptr, err);
    if (!ret) {
        *status = resp.status;
        if (resp.body.len)
            *out = cJSON_ParseWithLength(resp.body.ptr, resp.body.len);
        log_debug("marathon", "request", "method=%s path=%s status=%ld", method, path, resp.status);
    }
    http_resp_release(&resp);
    buf_release(&url);
    return ret;
}

/* The auth failure in words: which credential is missing or refused (never its value). */
static int auth_error(struct sched *m, long status, struct mdo_err *err)
{
    const struct cfg_marathon *mc = &m->cfg->marathon;
    int ret;

    if (status == 401 && !mc->username && !mc->token)
        ret = err_set(err, MDO_EHTTP,
                      "Marathon at %s wants credentials (HTTP 401): set "
                      "marathon.username and marathon.password (or marathon.token) in %s",
                      m->shown, m->cfg->path);
    else if (status == 401)
        ret = err_set(
            err, MDO_EHTTP, "Marathon at %s refused %s (HTTP 401): check it in %s", m->shown,
            mc->username ? "marathon.username/marathon.password" : "marathon.token", m->cfg->path);
    else
        ret = err_set(err, MDO_EHTTP,
                      "Marathon at %s: access denied (HTTP 403) for %s: that "
                      "identity may not do this",
                      m->shown,
                      mc->username ? "marathon.username"
                      : mc->token  ? "marathon.token"
                                   : "anonymous requests");
    err->http_status = status;
    return ret;
}

/* The error for an unexpected answer to `what` (e.g. "PUT /v2/apps/x"). */
static int mar_fail(struct sched *m, const char *what, long status, const cJSON *ans,
                    struct mdo_err *err)
{
    const char *msg = json_str(ans, "message");
    struct buf d = BUF_INIT(2048);
    const cJSON *det, *e;
    int ret;

    if (status == 401 || status == 403)
        return auth_error(m, status, err);
    cJSON_ArrayForEach(det, cJSON_GetObjectItemCaseSensitive(ans, "details"))
    {
        buf_addf(&d, "; %s:", json_str(det, "path") ? json_str(det, "path") : "?");
        cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(det, "errors"))
        {
            if (cJSON_IsString(e))
                buf_addf(&d, " %s", e->valuestring);
        }
    }
    if (status == 400 || status == 422)
        ret = err_set(err, MDO_EHTTP, "Marathon at %s rejected %s (HTTP %ld): %s%s", m->shown, what,
                      status, msg ? msg : "invalid", buf_str(&d));
    else
        ret = err_set(err,
                      status == 404   ? MDO_ENOTFOUND
                      : status == 409 ? MDO_ECONFLICT
                                      : MDO_EHTTP,
                      "Marathon at %s: %s: HTTP %ld%s%s%s", m->shown, what, status, msg ? ": " : "",
                      msg ? msg : "", buf_str(&d));
    err->http_status = status;
    buf_release(&d);
    return ret;
}

static double now_s(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Whether deployment id is still listed (a deployment is done when it leaves the list). */
static int deployment_listed(struct sched *m, const char *id, int *listed, struct mdo_err *err)
{
    cJSON *ans = NULL, *d;
    long st;
    int ret = mr(m, "GET", "/v2/deployments", NULL, &st, &ans, err);

    *listed = 0;
    if (!ret && st != 200)
        ret = mar_fail(m, "GET /v2/deployments", st, ans, err);
    if (ret)
        cJSON_Delete(ans), ans = NULL;
    cJSON_ArrayForEach(d, ans)
    {
        if (json_str(d, "id") && !strcmp(json_str(d, "id"), id))
            *listed = 1;
    }
    cJSON_Delete(ans);
    return ret;
}

/* What a follow waits for. */
struct goal {
    const char *service, *app_id;
    const char *deployment; /* id, or NULL */
    const char *version;    /* the app version the change made (task failures of it count) */
    unsigned instances;
    int gone; /* stop: done when the deployment is gone (the app already is) */
};

/* Follows a change until its deployment left /v2/deployments and the app runs g->instances tasks
 * (healthy ones, when it has health checks), with a progress line on every change; fails when
 * the deployment is replaced by another, when new tasks keep failing, or after wait_s. */
static int follow(struct sched *m, const struct goal *g, const struct sched_opts *o,
                  struct mdo_err *err)
{
    double t0 = now_s(), limit = o->wait_s ? o->wait_s : WAIT_DEFAULT_S;
    struct buf path = BUF_INIT(0), last_fail = BUF_INIT(4096);
    long lrun = -1, lhealthy = -1;
    unsigned failures = 0;
    int ret = 0;

    buf_addf(&path, "/v2/apps%s?embed=app.counts&embed=app.deployments&embed=app.lastTaskFailure",
             g->app_id);
    for (;;) {
        cJSON *ans = NULL;
        const cJSON *app, *f, *d;
        const char *other = NULL;
        long st, run = 0, healthy = 0;
        int listed = 0, checks = 0, done = 0;

        if (g->deployment)
            ret = deployment_listed(m, g->deployment, &listed, err);
        if (!ret)
            ret = mr(m, "GET", path.ptr, NULL, &st, &ans, err);
        if (ret)
            break;
        app = cJSON_GetObjectItemCaseSensitive(ans, "app");
        if (st == 404 && g->gone) {
            done = !listed;
        } else if (st == 404) {
            ret = err_set(err, MDO_ENOTFOUND,
                          "%s: app '%s' was removed while waiting (mdo stop "
                          "elsewhere?)",
                          g->service, g->app_id);
        } else if (st != 200) {
            ret = mar_fail(m, path.ptr, st, ans, err);
        } else if (g->gone) {
            done = !listed;
        } else {
            run = (long)json_int(app, "tasksRunning", 0);
            healthy = (long)json_int(app, "tasksHealthy", 0);
            checks = cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(app, "healthChecks"));
            cJSON_ArrayForEach(d, cJSON_GetObjectItemCaseSensitive(app, "deployments"))
            {
                if (json_str(d, "id") &&
                    (!g->deployment || strcmp(json_str(d, "id"), g->deployment)))
                    other = json_str(d, "id");
            }
            f = cJSON_GetObjectItemCaseSensitive(app, "lastTaskFailure");
            if (f && g->version && json_str(f, "version") && json_str(f, "taskId") &&
                !strcmp(json_str(f, "version"), g->version) &&
                strcmp(json_str(f, "taskId"), buf_str(&last_fail))) {
                buf_reset(&last_fail);
                buf_adds(&last_fail, json_str(f, "taskId"));
                failures++;
                if (o->progress)
                    fprintf(o->progress, "%s: task %s failed (%s): %s\n", g->service,
                            json_str(f, "taskId"),
                            json_str(f, "state") ? json_str(f, "state") : "?",
                            json_str(f, "message") ? json_str(f, "message") : "");
            }
            if (!listed && g->deployment && other)
                ret = err_set(err, MDO_ECONFLICT,
                              "%s: deployment %s was cancelled or overridden: "
                              "app '%s' is now in deployment %s",
                              g->service, g->deployment, g->app_id, other);
            else if (failures >= FAILURES_FATAL && run < (long)g->instances)
                ret = err_set(err, MDO_EFAIL,
                              "%s: %u tasks of the new version failed, the last "
                              "one: %s (Marathon keeps retrying; see its UI or the task's "
                              "stderr, fix the config and launch again)",
                              g->service, failures,
                              json_str(f, "message") ? json_str(f, "message") : "no message");
            done = !listed && !other && run == (long)g->instances &&
                   (!checks || healthy == (long)g->instances);
        }
        if (!ret && o->progress && !g->gone && (run != lrun || healthy != lhealthy || done)) {
            if (checks)
                fprintf(o->progress, "%s: %ld/%u running, %ld healthy, %.1fs\n", g->service, run,
                        g->instances, healthy, now_s() - t0);
            else
                fprintf(o->progress, "%s: %ld/%u running, %.1fs\n", g->service, run, g->instances,
                        now_s() - t0);
            lrun = run;
            lhealthy = healthy;
        }
        cJSON_Delete(ans);
        if (ret || done)
            break;
        if (now_s() - t0 > limit) {
            ret = err_set(err, MDO_EFAIL,
                          "%s: %s not done after %.0fs: %ld/%u running%s (see "
                          "GET %s/v2/deployments)",
                          g->service, g->deployment ? "deployment" : "app", limit, run,
                          g->instances, checks ? " (healthy ones counted)" : "", m->shown);
            break;
        }
        usleep(POLL_MS * 1000);
    }
    if (!ret && o->progress && g->gone)
        fprintf(o->progress, "%s: stopped, %.1fs\n", g->service, now_s() - t0);
    buf_release(&path);
    buf_release(&last_fail);
    return ret;
}

/* The first deployment id in a 409 "locked" answer (or in an app's deployments), or NULL. */
static const char *first_deployment(const cJSON *o)
{
    return json_str(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(o, "deployments"), 0),
                    "id");
}

static int locked_error(struct sched *m, const char *service, const char *app_id, const cJSON *ans,
                        struct mdo_err *err)
{
    const char *dep = first_deployment(ans);

    err_set(err, MDO_ECONFLICT,
            "%s: app '%s' is locked by deployment %s, still in progress "
            "(see GET %s/v2/deployments/%s): wait for it to finish (--wait), or run again with "
            "--force to override it",
            service, app_id, dep ? dep : "(unknown)", m->shown, dep ? dep : "");
    err->http_status = 409;
    return -MDO_ECONFLICT;
}

/* Sends a deploying request (PUT/POST/DELETE); on 409 "locked": with o->force sends it again
 * with force=true; with o->wait waits for the blocking deployment and sends it once more;
 * else fails naming the deployment. *ans is the answer of the request that succeeded. */
static int deploy(struct sched *m, const char *service, const char *app_id, const char *method,
                  const char *path, const char *body, long lo, long hi, const struct sched_opts *o,
                  cJSON **ans, long *status, struct mdo_err *err)
{
    struct buf p = BUF_INIT(0), what = BUF_INIT(0);
    int ret, tries = 0;

    buf_adds(&p, path);
    for (;;) {
        ret = mr(m, method, p.ptr, body, status, ans, err);
        if (ret || (*status >= lo && *status <= hi))
            break;
        buf_reset(&what);
        buf_addf(&what, "%s %s", method, p.ptr);
        if (*status != 409 || !first_deployment(*ans) || tries++) {
            ret = mar_fail(m, what.ptr, *status, *ans, err);
            break;
        }
        if (o->force) {
            if (o->progress)
                fprintf(o->progress, "%s: overriding deployment %s (--force)\n", service,
                        first_deployment(*ans));
            buf_adds(&p, strchr(p.ptr, '?') ? "&force=true" : "?force=true");
        } else if (o->wait) {
            struct goal g = {service, app_id, first_deployment(*ans), NULL, 0, 1};
            if (o->progress)
                fprintf(o->progress, "%s: waiting for deployment %s to finish first\n", service,
                        g.deployment);
            ret = follow(m, &g, o, err); /* gone = 1: only the deployment's end matters */
        } else {
            ret = locked_error(m, service, app_id, *ans, err);
        }
        if (ret)
            break;
        cJSON_Delete(*ans);
        *ans = NULL;
    }
    buf_release(&p);
    buf_release(&what);
    return ret;
}

static void dry_print(const char *method, const char *path, const cJSON *body)
{
    char *s = body ? mar_app_redacted(body) : NULL;

    printf("%s %s\n", method, path);
    if (s)
        printf("%s\n", s);
    free(s);
}

static int mar_launch(struct sched *m, const struct cfg_service *svc, const struct sched_opts *o,
                      struct mdo_err *err)
{
    cJSON *want = mar_app_json(m->cfg, svc, m->legacy), *ans = NULL, *res = NULL;
    struct buf id = BUF_INIT(0), path = BUF_INIT(0);
    const cJSON *have = NULL;
    char *body = NULL;
    long st = 0;
    int ret = 0, update;

    if (!want || mar_app_id(&id, m->cfg->environment, svc->name) || !(body = json_print(want))) {
        ret = err_set(err, MDO_ENOMEM, "out of memory");
        goto out;
    }
    buf_addf(&path, "/v2/apps%s", id.ptr);
    ret = mr(m, "GET", path.ptr, NULL, &st, &ans, err);
    if (ret == -MDO_ENET && o->dry_run) { /* still show what would be sent */
        fprintf(stderr, "warning: %s; showing the create request\n", err->msg);
        err_clear(err);
        ret = 0;
        st = 404;
    }
    if (ret)
        goto out;
    if (st == 200)
        have = cJSON_GetObjectItemCaseSensitive(ans, "app");
    else if (st != 404) {
        ret = mar_fail(m, "GET /v2/apps", st, ans, err);
        goto out;
    }
    if (have && mar_app_same(want, have)) {
        if (o->dry_run)
            printf("# %s: up to date\n", id.ptr);
        else if (o->progress)
            fprintf(o->progress, "%s: up to date (%u instance%s)\n", svc->name, svc->instances,
                    svc->instances == 1 ? "" : "s");
        if (o->wait && !o->dry_run) {
            struct goal g = {svc->name, id.ptr, first_deployment(have), NULL, svc->instances, 0};
            ret = follow(m, &g, o, err);
        }
        goto out;
    }
    if (o->dry_run) {
        buf_reset(&path);
        if (have)
            buf_addf(&path, "/v2/apps%s?partialUpdate=false", id.ptr);
        dry_print(have ? "PUT" : "POST", have ? path.ptr : "/v2/apps", want);
        goto out;
    }
    update = have != NULL;
    if (!update) {
        ret = deploy(m, svc->name, id.ptr, "POST", "/v2/apps", body, 201, 201, o, &res, &st, err);
        if (ret == -MDO_ECONFLICT && !first_deployment(res)) { /* created meanwhile: update */
            err_clear(err);
            ret = 0;
            update = 1;
        }
    }
    if (!ret && update) {
        cJSON_Delete(res);
        res = NULL;
        /* the whole definition: partialUpdate=false so that what the config no longer has
         * (args, a health check) goes too (older Marathons ignore the parameter and replace
         * the fields sent, which are all of mdo's) */
        buf_reset(&path);
        buf_addf(&path, "/v2/apps%s%s", id.ptr, m->legacy ? "" : "?partialUpdate=false");
        ret = deploy(m, svc->name, id.ptr, "PUT", path.ptr, body, 200, 201, o, &res, &st, err);
    }
    if (!ret) {
        const char *dep = update ? json_str(res, "deploymentId") : first_deployment(res);
        const char *was =
            json_str(cJSON_GetObjectItemCaseSensitive(have, "labels"), "mdo.app_version");
        struct goal g = {svc->name, id.ptr, dep, json_str(res, "version"), svc->instances, 0};
        if (o->progress && update)
            fprintf(o->progress, "%s: updated app %s (version %s -> %s), deployment %s\n",
                    svc->name, id.ptr, was ? was : "?",
                    json_str(cJSON_GetObjectItemCaseSensitive(want, "labels"), "mdo.app_version"),
                    dep ? dep : "?");
        else if (o->progress)
            fprintf(o->progress, "%s: created app %s, deployment %s\n", svc->name, id.ptr,
                    dep ? dep : "?");
        if (o->wait)
            ret = follow(m, &g, o, err);
    }
out:
    cJSON_Delete(want);
    cJSON_Delete(ans);
    cJSON_Delete(res);
    free(body);
    buf_release(&id);
    buf_release(&path);
    return ret;
}

static int not_launched(const char *service, const char *app_id, struct mdo_err *err)
{
    return err_set(err, MDO_ENOTFOUND,
                   "%s: service not launched (Marathon has no app '%s'): "
                   "run `mdo launch %s` first",
                   service, app_id, service);
}

static int mar_scale(struct sched *m, const struct cfg_service *svc, unsigned n,
                     const struct sched_opts *o, struct mdo_err *err)
{
    struct buf id = BUF_INIT(0), path = BUF_INIT(0), body = BUF_INIT(0);
    cJSON *res = NULL;
    long st = 0;
    int ret;

    mar_app_id(&id, m->cfg->environment, svc->name);
    buf_addf(&path, "/v2/apps%s", id.ptr);
    buf_addf(&body, "{\"instances\":%u}", n);
    if (o->dry_run) {
        printf("PUT %s\n%s\n", path.ptr, body.ptr);
        ret = 0;
        goto out;
    }
    /* a PUT would create a missing app from this fragment (and fail validation): ask first */
    ret = mr(m, "GET", path.ptr, NULL, &st, &res, err);
    if (!ret && st == 404)
        ret = not_launched(svc->name, id.ptr, err);
    else if (!ret && st != 200)
        ret = mar_fail(m, "GET /v2/apps", st, res, err);
    cJSON_Delete(res);
    res = NULL;
    if (!ret)
        ret = deploy(m, svc->name, id.ptr, "PUT", path.ptr, body.ptr, 200, 200, o, &res, &st, err);
    if (ret == -MDO_ENOTFOUND)
        ret = not_launched(svc->name, id.ptr, err);
    if (!ret) {
        struct goal g = {svc->name, id.ptr, json_str(res, "deploymentId"), json_str(res, "version"),
                         n,         0};
        if (o->progress)
            fprintf(o->progress, "%s: scaling to %u, deployment %s\n", svc->name, n,
                    g.deployment ? g.deployment : "?");
        if (o->wait)
            ret = follow(m, &g, o, err);
    }
out:
    cJSON_Delete(res);
    buf_release(&id);
    buf_release(&path);
    buf_release(&body);
    return ret;
}

/* Marathon's restart replaces every task following the app's upgradeStrategy, which mdo derived
 * from upgrade.pause at launch (one at a time when a pause is set). Marathon has no per-restart
 * pause: pause_s only decides whether to say so. */
static int mar_restart(struct sched *m, const struct cfg_service *svc, unsigned pause_s,
                       const struct sched_opts *o, struct mdo_err *err)
{
    struct buf id = BUF_INIT(0), path = BUF_INIT(0);
    cJSON *res = NULL;
    long st = 0;
    int ret = 0;

    mar_app_id(&id, m->cfg->environment, svc->name);
    buf_addf(&path, "/v2/apps%s/restart", id.ptr);
    if (o->dry_run) {
        printf("POST %s\n", path.ptr);
        goto out;
    }
    if (pause_s && o->progress)
        fprintf(o->progress,
                "%s: note: Marathon does not pause between instances; it replaces "
                "them %s\n",
                svc->name,
                svc->upgrade_pause ? "one at a time (upgrade.pause)"
                                   : "by the app's upgradeStrategy");
    ret = deploy(m, svc->name, id.ptr, "POST", path.ptr, NULL, 200, 200, o, &res, &st, err);
    if (ret == -MDO_ENOTFOUND)
        ret = not_launched(svc->name, id.ptr, err);
    if (!ret) {
        struct goal g = {svc->name, id.ptr, json_str(res, "deploymentId"), json_str(res, "version"),
                         0,         0};
        cJSON *app = NULL;
        if (o->progress)
            fprintf(o->progress, "%s: restarting, deployment %s\n", svc->name,
                    g.deployment ? g.deployment : "?");
        if (o->wait) { /* the count to wait for is the app's, not the config's */
            buf_reset(&path);
            buf_addf(&path, "/v2/apps%s?embed=app.counts", id.ptr);
            ret = mr(m, "GET", path.ptr, NULL, &st, &app, err);
            g.instances = (unsigned)json_int(cJSON_GetObjectItemCaseSensitive(app, "app"),
                                             "instances", svc->instances);
            if (!ret)
                ret = follow(m, &g, o, err);
            cJSON_Delete(app);
        }
    }
out:
    cJSON_Delete(res);
    buf_release(&id);
    buf_release(&path);
    return ret;
}

static int mar_stop(struct sched *m, const char *service, const struct sched_opts *o,
                    struct mdo_err *err)
{
    struct buf id = BUF_INIT(0), path = BUF_INIT(0);
    cJSON *res = NULL;
    long st = 0;
    int ret = 0;

    mar_app_id(&id, m->cfg->environment, service);
    buf_addf(&path, "/v2/apps%s", id.ptr);
    if (o->dry_run) {
        printf("DELETE %s\n", path.ptr);
        goto out;
    }
    /* 200 with a deployment; 204 from Marathon 0.x */
    ret = deploy(m, service, id.ptr, "DELETE", path.ptr, NULL, 200, 204, o, &res, &st, err);
    if (ret == -MDO_ENOTFOUND) {
        err_clear(err);
        ret = 0;
        if (o->progress)
            fprintf(o->progress, "%s: nothing to stop\n", service);
        goto out;
    }
    if (!ret) {
        struct goal g = {service, id.ptr, json_str(res, "deploymentId"), NULL, 0, 1};
        if (o->progress)
            fprintf(o->progress, "%s: removing app %s, deployment %s\n", service, id.ptr,
                    g.deployment ? g.deployment : "-");
        if (o->wait)
            ret = follow(m, &g, o, err);
    }
out:
    cJSON_Delete(res);
    buf_release(&id);
    buf_release(&path);
    return ret;
}

/* Records of every running task of the apps in `apps` (an array of app JSON) of service (or
 * all), appended to *recs. */
static int add_records(struct sched *m, const cJSON *apps, const char *service,
                       struct reg_record **recs, unsigned *n, unsigned *alloc, struct mdo_err *err)
{
    const cJSON *app, *task;

    cJSON_ArrayForEach(app, apps)
    {
        const char *svc = json_str(cJSON_GetObjectItemCaseSensitive(app, "labels"), "mdo.service");
        if (service && (!svc || strcmp(svc, service)))
            continue;
        cJSON_ArrayForEach(task, cJSON_GetObjectItemCaseSensitive(app, "tasks"))
        {
            int r;
            if (*n == *alloc) {
                unsigned na = *alloc ? 2 * *alloc : 16;
                struct reg_record *p = realloc(*recs, na * sizeof(*p));
                if (!p)
                    return err_set(err, MDO_ENOMEM, "out of memory");
                *recs = p;
                *alloc = na;
            }
            r = mar_task_record(m->cfg->environment, app, task, &(*recs)[*n]);
            if (r < 0)
                return err_set(err, MDO_ENOMEM, "out of memory");
            if (!r)
                (*n)++;
        }
    }
    return 0;
}

static int mar_list(struct sched *m, const char *service, struct reg_record **out, unsigned *n,
                    struct mdo_err *err)
{
    struct buf path = BUF_INIT(0), sel = BUF_INIT(0);
    struct reg_record *recs = NULL;
    unsigned nrec = 0, alloc = 0;
    cJSON *ans = NULL;
    long st;
    int ret;

    *out = NULL;
    *n = 0;
    /* Marathon's label selector: key==value (backslash escapes; env names need none) */
    buf_addf(&sel, "mdo.environment==%s", m->cfg->environment);
    buf_adds(&path, "/v2/apps?embed=apps.tasks&label=");
    ret = http_escape(&path, sel.ptr);
    if (!ret && service) {
        buf_adds(&sel, ",mdo.service==");
        buf_adds(&sel, service);
        buf_reset(&path);
        buf_adds(&path, "/v2/apps?embed=apps.tasks&label=");
        ret = http_escape(&path, sel.ptr);
    }
    if (ret)
        ret = err_set(err, MDO_ENOMEM, "out of memory");
    if (!ret)
        ret = mr(m, "GET", path.ptr, NULL, &st, &ans, err);
    if (!ret && st != 200)
        ret = mar_fail(m, "GET /v2/apps", st, ans, err);
    if (!ret && !cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(ans, "apps")))
        ret = err_set(err, MDO_EPROTO, "Marathon at %s: GET /v2/apps: answer has no apps list",
                      m->shown);
    if (!ret)
        ret = add_records(m, cJSON_GetObjectItemCaseSensitive(ans, "apps"), service, &recs, &nrec,
                          &alloc, err);
    cJSON_Delete(ans);
    buf_release(&path);
    buf_release(&sel);
    if (ret) {
        reg_records_free(recs, nrec);
        return ret;
    }
    if (nrec)
        qsort(recs, nrec, sizeof(*recs), reg_record_cmp);
    *out = recs;
    *n = nrec;
    return 0;
}

/* ---- events ---- */

struct evstate {
    struct sched *m;
    const struct sched_sink *sink;
    struct sse sse;
    int connected;
};

/* Re-reads the app of a changed task and registers the task(s) whose id is `id` (or, for a
 * Marathon 1.4+ instance id, starts with "<id>.") as list() would. */
static void refresh(struct evstate *st, const char *app_id, const char *id)
{
    struct buf path = BUF_INIT(0);
    struct mdo_err err = MDO_ERR_INIT;
    const cJSON *app, *task;
    cJSON *ans = NULL;
    size_t len = strlen(id);
    long status;
    int ret;

    buf_addf(&path, "/v2/apps%s?embed=app.tasks", app_id);
    ret = mr(st->m, "GET", path.ptr, NULL, &status, &ans, &err);
    if (!ret && status != 200 && status != 404)
        ret = mar_fail(st->m, path.ptr, status, ans, &err);
    if (ret)
        log_warn("marathon", "cannot read the app of an event", "app=%s task=%s err=\"%s\"", app_id,
                 id, err.msg);
    app = ret ? NULL : cJSON_GetObjectItemCaseSensitive(ans, "app");
    cJSON_ArrayForEach(task, cJSON_GetObjectItemCaseSensitive(app, "tasks"))
    {
        const char *tid = json_str(task, "id");
        struct reg_record rec;
        if (!tid || (strcmp(tid, id) && (strncmp(tid, id, len) || tid[len] != '.')))
            continue;
        if (mar_task_record(st->m->cfg->environment, app, task, &rec) == 0)
            st->sink->up(st->sink->ctx, &rec);
    }
    cJSON_Delete(ans);
    buf_release(&path);
}

static int is_down_state(const char *s)
{
    static const char *const down[] = {
        "TASK_KILLING",         "TASK_KILLED", "TASK_FAILED",  "TASK_FINISHED",    "TASK_LOST",
        "TASK_ERROR",           "TASK_GONE",   "TASK_DROPPED", "TASK_UNREACHABLE", "TASK_UNKNOWN",
        "TASK_GONE_BY_OPERATOR"};

    for (size_t i = 0; s && i < sizeof(down) / sizeof(down[0]); i++)
        if (!strcmp(s, down[i]))
            return 1;
    return 0;
}

static int on_event(void *ctx, const char *type, const char *data, size_t len)
{
    struct evstate *st = ctx;
    char service[256];
    const char *app, *id;
    cJSON *ev;

    if (!strcmp(type, "event_stream_attached"))
        return 0;
    ev = cJSON_ParseWithLength(data, len);
    if (!cJSON_IsObject(ev)) {
        log_warn("marathon", "event is not JSON, skipped", "type=%.64s len=%zu", type, len);
        cJSON_Delete(ev);
        return 0;
    }
    if (!strcmp(type, "message") && json_str(ev, "eventType"))
        type = json_str(ev, "eventType");
    app = json_str(ev, "appId");
    if (!mar_service_of(st->m->cfg->environment, app, service, sizeof(service))) {
        cJSON_Delete(ev); /* another environment's app, or not an app event */
        return 0;
    }
    if (!strcmp(type, "status_update_event")) {
        const char *status = json_str(ev, "taskStatus");
        id = json_str(ev, "taskId");
        log_debug("marathon", "event", "type=%s app=%s task=%s status=%s", type, app, id ? id : "",
                  status ? status : "");
        if (id && status && !strcmp(status, "TASK_RUNNING"))
            refresh(st, app, id);
        else if (id && is_down_state(status))
            st->sink->down(st->sink->ctx, service, id);
    } else if (!strcmp(type, "health_status_changed_event")) {
        id = json_str(ev, "instanceId") ? json_str(ev, "instanceId") : json_str(ev, "taskId");
        log_debug("marathon", "event", "type=%s app=%s id=%s alive=%d", type, app, id ? id : "",
                  json_bool(ev, "alive", -1));
        if (id)
            refresh(st, app, id);
    } else if (!strcmp(type, "unhealthy_task_kill_event") ||
               !strcmp(type, "unhealthy_instance_kill_event")) {
        /* a TASK_KILLED follows (allegro/marathon-consul#131): deregistering twice is fine */
        id = json_str(ev, "taskId") ? json_str(ev, "taskId") : json_str(ev, "instanceId");
        if (id)
            st->sink->down(st->sink->ctx, service, id);
    }
    cJSON_Delete(ev);
    return 0;
}

static int on_data(void *ctx, const char *p, size_t n)
{
    struct evstate *st = ctx;

    if (!st->connected) {
        /* the first bytes (event_stream_attached, or a heartbeat) say the stream is attached:
         * a reconcile from now on overlaps with the events instead of leaving a gap */
        st->connected = 1;
        log_info("marathon", "event stream connected", "url=%s/v2/events", st->m->shown);
        st->sink->connected(st->sink->ctx);
    }
    sse_feed(&st->sse, p, n);
    return 0;
}

static int mar_events(struct sched *m, const struct sched_sink *sink, const volatile int *stop,
                      struct mdo_err *err)
{
    static const char *const types[] = {"event_stream_attached", "status_update_event",
                                        "health_status_changed_event", "unhealthy_task_kill_event",
                                        "unhealthy_instance_kill_event"};
    struct evstate st;
    struct buf url = BUF_INIT(0);
    struct http_conn c = m->conn;
    int ret;

    memset(&st, 0, sizeof(st));
    st.m = m;
    st.sink = sink;
    sse_init(&st.sse, EVENT_FRAME_CAP, on_event, &st);
    buf_addf(&url, "%s/v2/events", m->base);
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
        buf_addf(&url, "%cevent_type=%s", i ? '&' : '?', types[i]);
    c.timeout_ms = 0;
    /* Accept exactly text/event-stream: Jetty's EventSourceServlet answers 405 to anything
     * else. A stream silent for STREAM_IDLE_S, not even heartbeats, is ended and reconnected
     * (d2iq-archive/marathon#4159: a silent stream after a Marathon restart). */
    ret = http_stream(&c, "GET", url.ptr, NULL, "text/event-stream", on_data, &st, stop,
                      STREAM_IDLE_S, err);
    if (ret == -MDO_ENET) {
        net_error(m, "GET", url.ptr, err);
    } else if (ret == -MDO_EHTTP && (err->http_status == 401 || err->http_status == 403)) {
        auth_error(m, err->http_status, err);
    } else if (ret == -MDO_EHTTP && (err->http_status == 404 || err->http_status == 405)) {
        long s = err->http_status;
        err_set(err, MDO_EHTTP,
                "Marathon at %s has no event stream (GET /v2/events: HTTP %ld): "
                "Marathon before 0.9, or a proxy that changes the Accept header",
                m->shown, s);
        err->http_status = s;
    }
    if (st.sse.dropped)
        log_warn("marathon", "events over the size cap dropped", "count=%lu", st.sse.dropped);
    sse_release(&st.sse);
    buf_release(&url);
    return ret;
}

/* A registered task that a listing no longer shows: asked about by itself before it is removed
 * (GET /v2/apps/<env>/<service>?embed=app.tasks is not what a failover empties). */
static int mar_alive(struct sched *m, const struct reg_record *rec, struct mdo_err *err)
{
    struct buf path = BUF_INIT(0);
    const cJSON *app, *task;
    cJSON *ans = NULL;
    long st = 0;
    int ret;

    buf_addf(&path, "/v2/apps/%s/%s?embed=app.tasks", m->cfg->environment, rec->service);
    ret = mr(m, "GET", path.ptr, NULL, &st, &ans, err);
    if (!ret && st == 404)
        ret = 0; /* no such app: not alive */
    else if (!ret && st != 200)
        ret = mar_fail(m, path.ptr, st, ans, err);
    else if (!ret) {
        app = cJSON_GetObjectItemCaseSensitive(ans, "app");
        cJSON_ArrayForEach(task, cJSON_GetObjectItemCaseSensitive(app, "tasks"))
        {
            struct reg_record now;
            const char *id = json_str(task, "id");
            if (ret || !id || strcmp(id, rec->container))
                continue;
            if (mar_task_record(m->cfg->environment, app, task, &now) == 0) {
                ret = 1;
                reg_record_release(&now);
            }
        }
    }
    cJSON_Delete(ans);
    buf_release(&path);
    return ret;
}

/* ---- http callbacks (Marathon up to 1.4: --event_subscriber http_callback) ---- */

static int mar_feed(struct sched *m, const struct sched_sink *sink, const char *body, size_t len,
                    struct mdo_err *err)
{
    struct evstate st;
    cJSON *ev = cJSON_ParseWithLength(body, len);
    int ok = cJSON_IsObject(ev) && json_str(ev, "eventType");

    cJSON_Delete(ev);
    if (!ok)
        return err_set(err, MDO_EPROTO, "not a Marathon event (a JSON object with eventType)");
    memset(&st, 0, sizeof(st));
    st.m = m;
    st.sink = sink;
    st.connected = 1;
    on_event(&st, "message", body, len); /* the type is the body's eventType */
    return 0;
}

static int mar_subscription(struct sched *m, const char *url, int action, struct mdo_err *err)
{
    struct buf path = BUF_INIT(0);
    const char *method = action == SCHED_SUB_ADD   ? "POST"
                         : action == SCHED_SUB_DEL ? "DELETE"
                                                   : "GET";
    cJSON *ans = NULL, *it;
    long status = 0;
    int ret;

    buf_adds(&path, "/v2/eventSubscriptions");
    if (action != SCHED_SUB_CHECK) {
        buf_adds(&path, "?callbackUrl=");
        http_escape(&path, url);
    }
    ret = mr(m, method, path.ptr, action == SCHED_SUB_ADD ? "" : NULL, &status, &ans, err);
    if (!ret && status == 400 && json_str(ans, "message") &&
        strstr(json_str(ans, "message"), "callback system is not running"))
        ret = err_set(err, MDO_EFAIL,
                      "Marathon at %s has no http callbacks: start it with --event_subscriber "
                      "http_callback, or use subscriber.mode: events (Marathon 0.9+)",
                      m->shown);
    else if (!ret && status == 404 && action != SCHED_SUB_DEL)
        ret = err_set(err, MDO_EFAIL,
                      "Marathon at %s has no /v2/eventSubscriptions (removed in 1.5): use "
                      "subscriber.mode: events",
                      m->shown);
    else if (!ret && status != 200 && !(action == SCHED_SUB_DEL && status == 404))
        ret = mar_fail(m, path.ptr, status, ans, err);
    if (!ret && action == SCHED_SUB_CHECK) {
        cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(ans, "callbackUrls"))
        {
            if (cJSON_IsString(it) && !strcmp(it->valuestring, url))
                ret = 1;
        }
    }
    cJSON_Delete(ans);
    buf_release(&path);
    return ret;
}

const struct sched_ops sched_marathon = {
    .name = "marathon",
    .open = mar_open,
    .close = mar_close,
    .launch = mar_launch,
    .scale = mar_scale,
    .restart = mar_restart,
    .stop = mar_stop,
    .list = mar_list,
    .alive = mar_alive,
    .events = mar_events,
    .subscription = mar_subscription,
    .feed = mar_feed,
};
