/* marathon_events.c - the marathon backend's event feeds: the /v2/events SSE stream (Marathon
 * 0.9+) and http callbacks (Marathon up to 1.4: --event_subscriber http_callback), each event
 * turned into the sink's up/down.
 *
 * An event costs O(1) (marathon_cache.h): a TASK_RUNNING is registered from the event's own
 * fields and the app's definition cached by (app id, version); a miss, a health event and the
 * confirmation of what an event registered queue the app, which a worker thread reads at most
 * once per READ_WINDOW_MS and registers from exactly as list() would (same bytes, so the
 * periodic reconcile never rewrites it). Nothing reads Marathon inside curl's write callback.
 * Marathon does not order events and has no replay (ref README "Events"): the reconcile stays
 * the safety net. Removals (TASK_KILLING first: d2iq-archive/marathon#4609) need no read on
 * the stream; a removal that came by http callback (anyone who reaches the port could have sent
 * it) is a hint: the worker reads the app and removes the record only when Marathon no longer
 * lists the task (a down check, queued like a read, DOWN_TRIES times at most).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "buf.h"
#include "clock.h"
#include "http.h"
#include "json.h"
#include "log.h"
#include "marathon.h"
#include "names.h"
#include "sse.h"
#include "url.h"

#define STREAM_IDLE_S   30 /* Marathon (Jetty) sends a heartbeat every ~10 s */
#define EVENT_FRAME_CAP (4u << 20)

struct mar_evstate {
    struct mar_sched *m;
    const struct sched_sink *sink;
    struct sse sse;
    int connected;
    int callback; /* the event came by http callback: a down is checked first */
};

#define READ_WINDOW_MS  200  /* an app is read at most once per window */
#define READ_TIMEOUT_MS 3000 /* a shutdown waits for the read under way: SIGTERM within 5 s */

/* A down check rides the app's read queue as "!<try><task id>": '!' is in no task id
 * (segment_ok), so a queued read never registers it. A task Marathon still lists is checked
 * again a window later, DOWN_TRIES times in all (a TASK_KILLED may come before Marathon's own
 * task list drops it); then the reconcile decides. */
#define DOWN_MARK  '!'
#define DOWN_TRIES 3

static void down_queue(struct mar_sched *m, const char *app, const char *task, int try)
{
    struct buf b = BUF_INIT(0);

    if (buf_addf(&b, "%c%d%s", DOWN_MARK, try, task) ||
        mar_cache_want(&m->cache, app, b.ptr, clock_now_ms()))
        log_warn("marathon", "out of memory queueing a down check", "task=%s", task);
    buf_release(&b);
}

/* The down checks among an app's queued ids, after its read: a task the app no longer lists
 * (or an app that is gone) is removed; one it still lists is checked again, or left to the
 * reconcile. A failed read (app NULL, gone 0) is retried like a listed one. */
static void down_checks(struct mar_sched *m, const char *app_id, const char *service,
                        const cJSON *app, int gone, const struct strset *tasks)
{
    for (size_t i = 0; i < tasks->n; i++) {
        const char *id = tasks->v[i], *tid = id + 2;
        const cJSON *task;
        int listed = !gone && !app;
        if (id[0] != DOWN_MARK || id[1] < '0' || id[1] > '9')
            continue;
        cJSON_ArrayForEach(task, cJSON_GetObjectItemCaseSensitive(app, "tasks"))
        {
            const char *t = json_str(task, "id");
            if (t && !strcmp(t, tid))
                listed = 1;
        }
        if (!listed) {
            log_debug("marathon", "callback down event confirmed", "service=%s task=%s", service,
                      tid);
            m->sink->down(m->sink->ctx, service, tid);
        } else if (id[1] - '0' + 1 < DOWN_TRIES) {
            down_queue(m, app_id, tid, id[1] - '0' + 1);
        } else {
            log_info("marathon", "callback down event not confirmed: Marathon lists the task",
                     "service=%s task=%s", service, tid);
        }
    }
}

/* The tasks of app whose id, or whose instance's id (a health event's instanceId: 1.4-1.7's
 * "<p>.marathon-<u>" for task "<p>.<u>", 1.8+'s prefix form; mar_task_of), was queued. */
static int wanted_task(const struct strset *tasks, const char *tid)
{
    size_t len = strlen(tid);
    const char *dot = strrchr(tid, '.');
    char id[512];

    if (strset_has(tasks, tid))
        return 1;
    if (len + 10 > sizeof(id)) { /* longer than any id seen: the plain scan */
        for (size_t i = 0; i < tasks->n; i++)
            if (mar_task_of(tid, tasks->v[i]))
                return 1;
        return 0;
    }
    /* the ids mar_task_of(tid, id) accepts, each looked up (the set is sorted): a queued app
     * of thousands of tasks costs O(tasks log queued), not O(tasks x queued) */
    for (const char *p = strchr(tid, '.'); p; p = strchr(p + 1, '.')) {
        memcpy(id, tid, (size_t)(p - tid)); /* 1.8+: instance "<p>", task "<p>.<rest>" */
        id[p - tid] = 0;
        if (strset_has(tasks, id))
            return 1;
    }
    if (dot) { /* 1.4-1.7: instance "<p>.marathon-<u>" of task "<p>.<u>" */
        snprintf(id, sizeof(id), "%.*smarathon-%s", (int)(dot + 1 - tid), tid, dot + 1);
        if (strset_has(tasks, id))
            return 1;
    }
    return 0;
}

/* Reads one queued app (on the worker thread) and registers its queued tasks as list() would:
 * the same function on Marathon's own task, so the same bytes as a reconcile. */
static void read_app(struct mar_sched *m, const char *app_id, const struct strset *tasks)
{
    struct buf path = BUF_INIT(0);
    struct mdo_err err = MDO_ERR_INIT;
    const cJSON *app = NULL, *task;
    char service[NAME_MAX_LEN + 1];
    cJSON *ans = NULL;
    long status = 0;
    int ret;

    if (!mar_service_of(m->cfg->environment, app_id, service, sizeof(service)))
        return; /* checked when queued */
    mar_app_path(&path, m->cfg->environment, service);
    buf_adds(&path, "?embed=app.tasks");
    ret = mar_call_within(m, READ_TIMEOUT_MS, "GET", path.ptr, NULL, &status, &ans, &err);
    if (!ret && status != 200 && status != 404)
        ret = mar_fail(m, path.ptr, status, ans, &err);
    if (ret)
        log_warn("marathon", "cannot read the app of an event", "service=%s err=\"%s\"", service,
                 err.msg);
    if (!ret && status == 200)
        app = cJSON_GetObjectItemCaseSensitive(ans, "app");
    if (mar_cache_put(&m->cache, app_id, cJSON_IsObject(app) ? app : NULL, clock_now_ms()))
        log_warn("marathon", "out of memory caching an app", "service=%s", service);
    cJSON_ArrayForEach(task, cJSON_GetObjectItemCaseSensitive(app, "tasks"))
    {
        const char *tid = json_str(task, "id");
        struct reg_record rec;
        if (tid && wanted_task(tasks, tid) && mar_record(m, app, task, &rec) == 0)
            m->sink->up(m->sink->ctx, &rec);
    }
    down_checks(m, app_id, service, cJSON_IsObject(app) ? app : NULL, !ret && status == 404, tasks);
    cJSON_Delete(ans);
    buf_release(&path);
}

static void *worker_main(void *arg)
{
    struct mar_sched *m = arg;
    struct strset tasks = STRSET_INIT;

    while (!m->worker_stop) {
        char *id = NULL;
        int64_t wait = -1;
        unsigned long gen;

        pthread_mutex_lock(&m->cache.lock);
        gen = m->cache.queued;
        pthread_mutex_unlock(&m->cache.lock);
        if (mar_cache_next(&m->cache, clock_now_ms(), READ_WINDOW_MS, &id, &tasks, &wait)) {
            read_app(m, id, &tasks);
            free(id);
            continue;
        }
        pthread_mutex_lock(&m->cache.lock);
        if (!m->worker_stop && gen == m->cache.queued) {
            struct timespec ts = clock_timespec(clock_deadline_ms(wait < 0 ? 1000 : wait));
            pthread_cond_timedwait(&m->cache.wake, &m->cache.lock, &ts);
        }
        pthread_mutex_unlock(&m->cache.lock);
    }
    strset_release(&tasks);
    http_thread_cleanup();
    return NULL;
}

/* The worker runs from the first event feed on, delivering to that feed's sink. */
static void worker_start(struct mar_sched *m, const struct sched_sink *sink)
{
    pthread_mutex_lock(&m->lock);
    if (!m->worker_on) {
        m->sink = sink;
        m->worker_stop = 0;
        m->worker_on = !pthread_create(&m->worker, NULL, worker_main, m);
        if (!m->worker_on)
            log_warn("marathon", "cannot start the events worker, events wait for a reconcile",
                     "%s", "");
    }
    pthread_mutex_unlock(&m->lock);
}

void mar_events_stop(struct mar_sched *m)
{
    int on;

    pthread_mutex_lock(&m->lock);
    on = m->worker_on;
    m->worker_on = 0;
    pthread_mutex_unlock(&m->lock);
    if (!on)
        return;
    pthread_mutex_lock(&m->cache.lock);
    m->worker_stop = 1;
    pthread_cond_broadcast(&m->cache.wake);
    pthread_mutex_unlock(&m->cache.lock);
    pthread_join(m->worker, NULL);
}

/* An app id of this environment that cannot be a service: said once, then skipped. */
static void refuse_once(struct mar_sched *m, const char *app)
{
    int first;

    pthread_mutex_lock(&m->lock);
    first = !strset_has(&m->refused, app);
    if (first)
        strset_add(&m->refused, app);
    pthread_mutex_unlock(&m->lock);
    if (first)
        log_warn("marathon", "events of an app skipped, its id is not /<env>/<service>",
                 "app=\"%.100s\" env=%s", mar_id_shown(app), m->cfg->environment);
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

/* TASK_RUNNING: registered now when the app is cached for the event's version; queued either
 * way (a miss waits for the read, a hit is confirmed by it). */
static void running(struct mar_evstate *st, const cJSON *ev)
{
    struct reg_record rec;
    int r = mar_cache_event_record(&st->m->cache, st->m->cfg, ev, clock_now_ms(), &rec);

    if (r == 0)
        st->sink->up(st->sink->ctx, &rec);
    else if (r < 0)
        log_warn("marathon", "out of memory on an event", "%s", "");
}

static int on_event(void *ctx, const char *type, const char *data, size_t len)
{
    struct mar_evstate *st = ctx;
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
    if (!mar_service_of(st->m->cfg->environment, app, service, sizeof(service)) ||
        !name_ok(service)) {
        size_t el = strlen(st->m->cfg->environment);
        /* an app of this environment whose id makes no service: said once; another
         * environment's app, or an event of no app, is not ours to mention */
        if (app && app[0] == '/' && !strncmp(app + 1, st->m->cfg->environment, el) &&
            app[el + 1] == '/')
            refuse_once(st->m, app);
        cJSON_Delete(ev);
        return 0;
    }
    if (!strcmp(type, "status_update_event")) {
        const char *status = json_str(ev, "taskStatus");
        id = json_str(ev, "taskId");
        log_debug("marathon", "event", "type=%s app=%s task=%s status=%s", type, app, id ? id : "",
                  status ? status : "");
        if (id && !segment_ok(id))
            id = NULL; /* a task id that can be no key segment is nobody's instance */
        if (id && status && !strcmp(status, "TASK_RUNNING"))
            running(st, ev);
        else if (id && is_down_state(status)) {
            mar_cache_forget(&st->m->cache, app, id);
            if (st->callback)
                down_queue(st->m, app, id, 0);
            else
                st->sink->down(st->sink->ctx, service, id);
        }
    } else if (!strcmp(type, "health_status_changed_event")) {
        id = json_str(ev, "instanceId") ? json_str(ev, "instanceId") : json_str(ev, "taskId");
        log_debug("marathon", "event", "type=%s app=%s id=%s alive=%d", type, app, id ? id : "",
                  json_bool(ev, "alive", -1));
        if (id && segment_ok(id) && mar_cache_want(&st->m->cache, app, id, clock_now_ms()))
            log_warn("marathon", "out of memory queueing an app read", "service=%s", service);
    } else if (!strcmp(type, "unhealthy_task_kill_event") ||
               !strcmp(type, "unhealthy_instance_kill_event")) {
        /* a TASK_KILLED follows (allegro/marathon-consul#131): deregistering twice is fine */
        id = json_str(ev, "taskId") ? json_str(ev, "taskId") : json_str(ev, "instanceId");
        if (id && segment_ok(id) && st->callback)
            down_queue(st->m, app, id, 0);
        else if (id && segment_ok(id))
            st->sink->down(st->sink->ctx, service, id);
    }
    cJSON_Delete(ev);
    return 0;
}

static int on_data(void *ctx, const char *p, size_t n)
{
    struct mar_evstate *st = ctx;

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

int mar_events(struct sched *s, const struct sched_sink *sink, const volatile int *stop,
               struct mdo_err *err)
{
    struct mar_sched *m = mar_of(s);
    static const char *const types[] = {"event_stream_attached", "status_update_event",
                                        "health_status_changed_event", "unhealthy_task_kill_event",
                                        "unhealthy_instance_kill_event"};
    struct mar_evstate st;
    struct buf url = BUF_INIT(0);
    struct http_conn c = m->conn;
    int ret;

    memset(&st, 0, sizeof(st));
    st.m = m;
    st.sink = sink;
    worker_start(m, sink);
    sse_init(&st.sse, EVENT_FRAME_CAP, on_event, &st);
    /* behind a standby (1.7+ answers /v2/events with a 302 to the leader: LeaderProxyFilter
     * .scala:103-108 @v1.7.174) the stream goes to the leader GET /v2/leader names, with the
     * configured scheme and credentials; re-resolved after the leader's stream fails */
    buf_addf(&url, "%s/v2/events", m->events_base.len ? m->events_base.ptr : m->base);
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
        buf_addf(&url, "%cevent_type=%s", i ? '&' : '?', types[i]);
    c.timeout_ms = 0;
    /* Accept exactly text/event-stream: Jetty's EventSourceServlet answers 405 to anything
     * else. A stream silent for STREAM_IDLE_S, not even heartbeats, is ended and reconnected
     * (d2iq-archive/marathon#4159: a silent stream after a Marathon restart). */
    ret = http_stream(&c, "GET", url.ptr, NULL, "text/event-stream", on_data, &st, stop,
                      STREAM_IDLE_S, err);
    if (ret && m->events_base.len) {
        buf_release(&m->events_base); /* the leader may have changed: resolve again */
    } else if (ret == -MDO_EHTTP && err->http_status >= 301 && err->http_status <= 308) {
        struct mdo_err lerr = MDO_ERR_INIT;
        long status = err->http_status;
        if (!mar_leader_url(m, &m->events_base, &lerr)) {
            char *shown = url_shown(m->events_base.ptr, 0);
            log_info("marathon", "a standby redirected the event stream: following the leader",
                     "status=%ld leader=%s", status, shown ? shown : "?");
            free(shown);
        } else {
            log_warn("marathon", "a standby redirected the event stream, no leader found",
                     "err=\"%s\"", lerr.msg);
        }
    }
    if (ret == -MDO_ENET) {
        mar_net_error(m, err);
    } else if (ret == -MDO_EHTTP && (err->http_status == 401 || err->http_status == 403)) {
        mar_auth_error(m, err->http_status, err);
    } else if (ret == -MDO_EHTTP && (err->http_status == 404 || err->http_status == 405)) {
        long status = err->http_status;
        err_set(err, MDO_EHTTP,
                "Marathon at %s has no event stream (GET /v2/events: HTTP %ld): "
                "Marathon before 0.9, or a proxy that changes the Accept header",
                m->shown, status);
        err->http_status = status;
    }
    if (ret < 0)
        err_from(err, MDO_SRC_MARATHON);
    mar_events_stop(m); /* its sink is not to be used after this returns */
    if (st.sse.dropped)
        log_warn("marathon", "events over the size cap dropped", "count=%lu", st.sse.dropped);
    sse_release(&st.sse);
    buf_release(&url);
    return ret;
}

/* ---- http callbacks (Marathon up to 1.4: --event_subscriber http_callback) ---- */

int mar_feed(struct sched *s, const struct sched_sink *sink, const char *body, size_t len,
             struct mdo_err *err)
{
    struct mar_sched *m = mar_of(s);
    struct mar_evstate st;
    cJSON *ev = cJSON_ParseWithLength(body, len);
    int ok = cJSON_IsObject(ev) && json_str(ev, "eventType");

    cJSON_Delete(ev);
    if (!ok) {
        err_set(err, MDO_EPROTO, "not a Marathon event (a JSON object with eventType)");
        return err_from(err, MDO_SRC_MARATHON);
    }
    memset(&st, 0, sizeof(st));
    st.m = m;
    st.sink = sink;
    st.connected = 1;
    st.callback = 1;
    worker_start(m, sink);
    on_event(&st, "message", body, len); /* the type is the body's eventType */
    return 0;
}

int mar_subscription(struct sched *s, const char *url, int action, struct mdo_err *err)
{
    struct mar_sched *m = mar_of(s);
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
    /* DEL is made while stopping: within the step's bound, not the connection's timeout */
    ret = mar_call_within(m, action == SCHED_SUB_DEL ? 600 : 0, method, path.ptr,
                          action == SCHED_SUB_ADD ? "" : NULL, &status, &ans, err);
    if (!ret && status == 400 && json_str(ans, "message") &&
        strstr(json_str(ans, "message"), "callback system is not running"))
        ret = err_set(err, MDO_EFAIL,
                      "Marathon at %s has no http callbacks: start it with --event_subscriber "
                      "http_callback, or use subscriber.mode: events (Marathon 0.9+)",
                      m->shown);
    else if (!ret && mar_callbacks_removed(status, ans) && action != SCHED_SUB_DEL)
        ret = err_set(err, MDO_EFAIL,
                      "Marathon at %s has no /v2/eventSubscriptions (http callbacks were "
                      "removed in Marathon 1.5): use subscriber.mode: events",
                      m->shown);
    else if (!ret && status != 200 &&
             !(action == SCHED_SUB_DEL && mar_callbacks_removed(status, ans)))
        ret = mar_fail(m, "/v2/eventSubscriptions", status, ans, err); /* the URL holds a secret */
    if (action == SCHED_SUB_DEL)
        mar_events_stop(m); /* the callbacks end here: the worker's sink may go */
    if (!ret && action == SCHED_SUB_CHECK) {
        cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(ans, "callbackUrls"))
        {
            if (cJSON_IsString(it) && !strcmp(it->valuestring, url))
                ret = 1;
        }
    }
    if (ret < 0)
        err_from(err, MDO_SRC_MARATHON);
    cJSON_Delete(ans);
    buf_release(&path);
    return ret;
}