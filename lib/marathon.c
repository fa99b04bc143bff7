/* marathon.c - the marathon backend: one Marathon app per service, over Marathon's REST API v2
 * (Marathon 1.5+; `marathon.api: legacy`, or a version before 1.5, sends the 1.4-and-earlier app
 * shape and lists apps by id, as Marathon before 0.8 has no labels). Here: the client,
 * opening, listing what runs, and the ops table (app definitions and task records:
 * marathon_app.c; launch/scale/restart/stop and following deployments: marathon_deploy.c; the
 * event stream and http callbacks: marathon_events.c).
 *
 * The app is /<env>/<service>, a Docker container on the bridge network with named portMappings,
 * labelled with mdo's labels (spec_labels). Every record the subscriber registers is read back
 * from Marathon's tasks (never from the config): the task id is the container (Mesos'
 * MESOS_TASK_ID), the agent is the host, task.ports[i] is the host port of portMappings[i]
 * (Marathon keeps that order).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <curl/curl.h>
#include "buf.h"
#include "http.h"
#include "json.h"
#include "log.h"
#include "marathon.h"
#include "names.h"
#include "scheduler.h"
#include "url.h"

static int mar_open(struct sched **out, const struct cfg *cfg, struct mdo_err *err)
{
    const struct cfg_marathon *mc = &cfg->marathon;
    struct mar_sched *m;
    unsigned maj, min;
    size_t n;

    *out = NULL;
    if (!mc->url || !*mc->url) {
        err_set(err, MDO_ECONFIG,
                "%s: scheduler is 'marathon' but marathon.url (or "
                "marathon.host and port) is not set",
                cfg->path);
        return err_from(err, MDO_SRC_CONFIG);
    }
    m = calloc(1, sizeof(*m));
    if (!m || !(m->base = strdup(mc->url)) || !(m->shown = url_shown(mc->url, 0))) {
        if (m)
            free(m->base);
        free(m);
        err_set(err, MDO_ENOMEM, "out of memory");
        return err_from(err, MDO_SRC_MARATHON);
    }
    n = strlen(m->base);
    while (n && m->base[n - 1] == '/')
        m->base[--n] = '\0';
    n = strlen(m->shown);
    while (n && m->shown[n - 1] == '/')
        m->shown[--n] = '\0';
    m->cfg = cfg;
    m->url_secrets = url_has_credentials(mc->url);
    m->legacy = mc->api && !strcmp(mc->api, "legacy");
    if (mc->api && sscanf(mc->api, "%u.%u", &maj, &min) == 2)
        m->legacy = maj < 1 || (maj == 1 && min < 5); /* the 1.4-and-earlier app shape */
    m->conn.user = mc->username;
    m->conn.password = mc->password;
    m->conn.token = mc->token;
    m->conn.ca = mc->ca;
    m->conn.insecure = mc->insecure;
    m->conn.connect_timeout_ms = 5000;
    m->conn.timeout_ms = 30000;
    pthread_mutex_init(&m->lock, NULL);
    mar_cache_init(&m->cache);
    *out = (struct sched *)(void *)m;
    return 0;
}

static void mar_close(struct sched *s)
{
    struct mar_sched *m = mar_of(s);

    if (!m)
        return;
    mar_events_stop(m);
    mar_cache_release(&m->cache);
    strset_release(&m->refused);
    pthread_mutex_destroy(&m->lock);
    free(m->base);
    free(m->shown);
    buf_release(&m->events_base);
    free(m);
}

int mar_net_error(struct mar_sched *m, struct mdo_err *err)
{
    /* the http layer's reason: its why, or else its message when that quotes no secret */
    char cause[1024];

    snprintf(cause, sizeof(cause), "%.1000s",
             err->why[0]       ? err->why
             : !m->url_secrets ? err->msg
                               : "connection failed");
    err_set(err, MDO_ENET, "cannot reach Marathon at %s: %s (is it running? check marathon.url%s)",
            m->shown, cause,
            !strncmp(m->base, "https:", 6) ? ", marathon.ca and marathon.insecure" : "");
    err_why(err, "%s", cause);
    return err_from(err, MDO_SRC_MARATHON);
}

int mar_call(struct mar_sched *m, const char *method, const char *path, const char *body,
             long *status, cJSON **out, struct mdo_err *err)
{
    return mar_call_within(m, 0, method, path, body, status, out, err);
}

int mar_call_within(struct mar_sched *m, long timeout_ms, const char *method, const char *path,
                    const char *body, long *status, cJSON **out, struct mdo_err *err)
{
    struct http_resp resp = HTTP_RESP_INIT;
    struct buf url = BUF_INIT(0);
    struct http_conn c = m->conn;
    int ret;

    *out = NULL;
    *status = 0;
    if (buf_addf(&url, "%s%s", m->base, path)) {
        err_set(err, MDO_ENOMEM, "out of memory");
        return err_from(err, MDO_SRC_MARATHON);
    }
    if (timeout_ms) {
        c.timeout_ms = timeout_ms;
        c.connect_timeout_ms =
            timeout_ms < c.connect_timeout_ms ? timeout_ms : c.connect_timeout_ms;
    }
    ret = http_request(&c, method, url.ptr, body, body ? strlen(body) : 0,
                       body ? "application/json" : NULL, &resp, err);
    if (ret == -MDO_ENET)
        ret = mar_net_error(m, err);
    if (!ret) {
        *status = resp.status;
        if (resp.body.len)
            *out = cJSON_ParseWithLength(resp.body.ptr, resp.body.len);
        log_debug("marathon", "request", "method=%s path=%s status=%ld", method, path, resp.status);
    }
    http_resp_release(&resp);
    buf_release(&url);
    err_from(err, MDO_SRC_MARATHON);
    return ret;
}

/* The auth failure in words: which credential is missing or refused (never its value). */
int mar_auth_error(struct mar_sched *m, long status, struct mdo_err *err)
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
    err_from(err, MDO_SRC_MARATHON);
    return ret;
}

/* The error for an unexpected answer to `what` (e.g. "PUT /v2/apps/x"). */
int mar_fail(struct mar_sched *m, const char *what, long status, const cJSON *ans,
             struct mdo_err *err)
{
    const char *msg = json_str(ans, "message");
    struct buf d = BUF_INIT(2048);
    const cJSON *det, *e;
    int ret;

    /* Marathon's own message wins: a 403 is also "Max number (N) of running deployments"
     * (api/MarathonExceptionMapper.scala:113 @v1.10.26), not only an identity refused */
    if (status == 401 || (status == 403 && !msg))
        return mar_auth_error(m, status, err);
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
                                      : MDO_EHTTP, /* 403 with Marathon's message too */
                      "Marathon at %s: %s: HTTP %ld%s%s%s", m->shown, what, status, msg ? ": " : "",
                      msg ? msg : "", buf_str(&d));
    err->http_status = status;
    if (msg)
        err_why(err, "%s", msg);
    err_from(err, MDO_SRC_MARATHON);
    buf_release(&d);
    return ret;
}

/* An app id from Marathon as a log line may show it: only when each of its segments is a plain
 * key segment (nothing that could forge the line), else a placeholder. */
const char *mar_id_shown(const char *id)
{
    char seg[SEGMENT_MAX_LEN + 1];

    if (!id || id[0] != '/' || strlen(id) > 200)
        return "(not shown)";
    for (const char *p = id + 1; *p;) {
        size_t n = strcspn(p, "/");
        if (!n || n > SEGMENT_MAX_LEN)
            return "(not shown)";
        memcpy(seg, p, n);
        seg[n] = '\0';
        if (!segment_ok(seg))
            return "(not shown)";
        p += n;
        if (*p == '/')
            p++;
    }
    return id;
}

int mar_record(struct mar_sched *m, const cJSON *app, const cJSON *task, struct reg_record *rec)
{
    const char *id = json_str(app, "id"), *svc = mar_app_service(app);
    const struct cfg_service *conf = svc ? cfg_service(m->cfg, svc) : NULL;
    int ret = mar_task_record(m->cfg->environment, conf, app, task, rec), first;

    if (ret != 2)
        return ret;
    /* refused: said once per app, not on every pass */
    pthread_mutex_lock(&m->lock);
    first = !strset_has(&m->refused, id ? id : "");
    if (first)
        strset_add(&m->refused, id ? id : "");
    pthread_mutex_unlock(&m->lock);
    if (first)
        log_warn("marathon", "app skipped, its tasks not registered",
                 "app=\"%.100s\" why=\"app id is not /%s/<its mdo.service>, or a name breaks the "
                 "name rule\"",
                 mar_id_shown(id), m->cfg->environment);
    return 1;
}

/* Records of every running task of the apps in `apps` (an array of app JSON) of service (or
 * all), appended to *recs. */
static int add_records(struct mar_sched *m, const cJSON *apps, const char *service,
                       struct reg_record **recs, unsigned *n, unsigned *alloc, struct mdo_err *err)
{
    const cJSON *app, *task;

    cJSON_ArrayForEach(app, apps)
    {
        const char *svc = mar_app_service(app);
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
            r = mar_record(m, app, task, &(*recs)[*n]);
            if (r < 0)
                return err_set(err, MDO_ENOMEM, "out of memory");
            if (!r)
                (*n)++;
        }
    }
    return 0;
}

static int list(struct mar_sched *m, const char *service, struct reg_record **out, unsigned *n,
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
    if (m->legacy) {
        /* Marathon 1.4 and older: no label selector before 0.8 (nor labels; unknown query
         * parameters are ignored), so ask for the environment's group by id (a substring
         * filter) and pick mdo's apps by their identity (mar_task_record) */
        buf_addf(&sel, "/%s/", m->cfg->environment);
        buf_adds(&path, "/v2/apps?embed=apps.tasks&id=");
        ret = http_escape(&path, sel.ptr);
    } else {
        /* Marathon's label selector: key==value (backslash escapes; env names need none) */
        buf_addf(&sel, "mdo.environment==%s", m->cfg->environment);
        if (service)
            buf_addf(&sel, ",mdo.service==%s", service);
        buf_adds(&path, "/v2/apps?embed=apps.tasks&label=");
        ret = http_escape(&path, sel.ptr);
    }
    if (ret)
        ret = err_set(err, MDO_ENOMEM, "out of memory");
    if (!ret)
        ret = mar_call(m, "GET", path.ptr, NULL, &st, &ans, err);
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

/* A registered task that a listing no longer shows: asked about by itself before it is removed
 * (GET /v2/apps/<env>/<service>?embed=app.tasks is not what a failover empties). */
static int alive(struct mar_sched *m, const struct reg_record *rec, struct mdo_err *err)
{
    struct buf path = BUF_INIT(0);
    const cJSON *app, *task;
    cJSON *ans = NULL;
    long st = 0;
    int ret;

    if (!name_ok(rec->service)) {
        err_set(err, MDO_EPROTO, "registered service is not a valid name");
        return err_from(err, MDO_SRC_MARATHON);
    }
    mar_app_path(&path, m->cfg->environment, rec->service);
    buf_adds(&path, "?embed=app.tasks");
    ret = mar_call(m, "GET", path.ptr, NULL, &st, &ans, err);
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
            if (mar_record(m, app, task, &now) == 0) {
                ret = 1;
                reg_record_release(&now);
            }
        }
    }
    cJSON_Delete(ans);
    buf_release(&path);
    return ret;
}

int mar_leader_url(struct mar_sched *m, struct buf *out, struct mdo_err *err)
{
    cJSON *ans = NULL;
    const char *leader;
    struct buf lu = BUF_INIT(0);
    char *host = NULL, *url = NULL, port[8];
    unsigned p = 0;
    CURLU *u = NULL;
    long st = 0;
    int ret = mar_call(m, "GET", "/v2/leader", NULL, &st, &ans, err);

    if (!ret && st != 200)
        ret = mar_fail(m, "GET /v2/leader", st, ans, err);
    leader = ret ? NULL : json_str(ans, "leader");
    /* "host:port", checked as the authority of a URL before it becomes one */
    if (!ret && (!leader || strlen(leader) > 300 || strpbrk(leader, "/?#@ \t\r\n") ||
                 buf_addf(&lu, "http://%s", leader) || url_host_port(lu.ptr, &host, &p)))
        ret = err_set(err, MDO_EPROTO, "Marathon at %s: GET /v2/leader: no leader host:port",
                      m->shown);
    snprintf(port, sizeof(port), "%u", p);
    if (!ret &&
        (!(u = curl_url()) || curl_url_set(u, CURLUPART_URL, m->base, 0) ||
         curl_url_set(u, CURLUPART_HOST, host, 0) || curl_url_set(u, CURLUPART_PORT, port, 0) ||
         curl_url_get(u, CURLUPART_URL, &url, 0)))
        ret = err_set(err, MDO_EPROTO, "Marathon at %s: GET /v2/leader: no leader host:port",
                      m->shown);
    if (!ret) {
        size_t n = strlen(url);
        while (n && url[n - 1] == '/')
            n--;
        buf_reset(out);
        if (buf_add(out, url, n))
            ret = err_set(err, MDO_ENOMEM, "out of memory");
    }
    curl_free(url);
    curl_url_cleanup(u);
    free(host);
    buf_release(&lu);
    cJSON_Delete(ans);
    if (ret < 0)
        err_from(err, MDO_SRC_MARATHON);
    return ret;
}

int mar_callbacks_removed(long status, const cJSON *ans)
{
    const char *msg = json_str(ans, "message");

    /* 1.5 and 1.6: 404 "URI not found: ..." (api/MarathonExceptionMapper.scala:29-31 @v1.5.0);
     * 1.7+: javax's NotFoundException mapped to 500 {"message":"URI not found"}
     * (:75-76 @v1.10.26), the only field that tells it from another 500 */
    return status == 404 || (status == 500 && msg && !strcmp(msg, "URI not found"));
}

static int mar_list(struct sched *s, const char *service, struct reg_record **out, unsigned *n,
                    struct mdo_err *err)
{
    return err_tag(list(mar_of(s), service, out, n, err), err, MDO_SRC_MARATHON);
}

static int mar_alive(struct sched *s, const struct reg_record *rec, struct mdo_err *err)
{
    return err_tag(alive(mar_of(s), rec, err), err, MDO_SRC_MARATHON);
}

/* The app's instances: what the last PUT asked Marathon to keep. */
static int mar_wanted(struct sched *s, const char *service, unsigned *n, struct mdo_err *err)
{
    struct mar_sched *m = mar_of(s);
    struct buf path = BUF_INIT(0);
    cJSON *ans = NULL;
    long long v;
    long st = 0;
    int ret;

    *n = 0;
    if (!name_ok(service))
        return 1;
    mar_app_path(&path, m->cfg->environment, service);
    buf_adds(&path, "?embed=app.counts");
    ret = mar_call(m, "GET", path.ptr, NULL, &st, &ans, err);
    if (!ret && st == 404)
        ret = 1;
    else if (!ret && st != 200)
        ret = mar_fail(m, path.ptr, st, ans, err);
    if (!ret) {
        v = json_int(cJSON_GetObjectItemCaseSensitive(ans, "app"), "instances", -1);
        if (v < 0 || v > 1000000)
            ret = err_set(err, MDO_EPROTO, "Marathon at %s: %s: no instances count", m->shown,
                          path.ptr);
        else
            *n = (unsigned)v;
    }
    cJSON_Delete(ans);
    buf_release(&path);
    return err_tag(ret, err, MDO_SRC_MARATHON);
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
    .wanted = mar_wanted,
};
