/* marathon_events.c - the marathon backend's event feeds: the /v2/events SSE stream (Marathon
 * 0.9+) and http callbacks (Marathon up to 1.4: --event_subscriber http_callback), each event
 * turned into the sink's up/down.
 *
 * Marathon does not order events and has no replay (ref README "Events"), so an event is only a
 * hint of which task changed: the task is re-read from GET /v2/apps/<id> and registered exactly
 * as list() would register it (same bytes, so the periodic reconcile never rewrites it).
 * Removals (TASK_KILLING first: d2iq-archive/marathon#4609) need no read.
 */
#include <stdlib.h>
#include <string.h>
#include "buf.h"
#include "http.h"
#include "json.h"
#include "log.h"
#include "marathon.h"
#include "names.h"
#include "sse.h"

#define STREAM_IDLE_S   30 /* Marathon (Jetty) sends a heartbeat every ~10 s */
#define EVENT_FRAME_CAP (4u << 20)

struct mar_evstate {
    struct mar_sched *m;
    const struct sched_sink *sink;
    struct sse sse;
    int connected;
};

/* Re-reads the app of a changed task and registers the task(s) whose id is `id` (or, for a
 * Marathon 1.4+ instance id, starts with "<id>.") as list() would. */
static void refresh(struct mar_evstate *st, const char *service, const char *id)
{
    struct buf path = BUF_INIT(0);
    struct mdo_err err = MDO_ERR_INIT;
    const cJSON *app, *task;
    cJSON *ans = NULL;
    size_t len = strlen(id);
    long status;
    int ret;

    mar_app_path(&path, st->m->cfg->environment, service);
    buf_adds(&path, "?embed=app.tasks");
    ret = mar_call(st->m, "GET", path.ptr, NULL, &status, &ans, &err);
    if (!ret && status != 200 && status != 404)
        ret = mar_fail(st->m, path.ptr, status, ans, &err);
    if (ret)
        log_warn("marathon", "cannot read the app of an event", "service=%s task=%s err=\"%s\"",
                 service, id, err.msg);
    app = ret ? NULL : cJSON_GetObjectItemCaseSensitive(ans, "app");
    cJSON_ArrayForEach(task, cJSON_GetObjectItemCaseSensitive(app, "tasks"))
    {
        const char *tid = json_str(task, "id");
        struct reg_record rec;
        if (!tid || (strcmp(tid, id) && (strncmp(tid, id, len) || tid[len] != '.')))
            continue;
        if (mar_record(st->m, app, task, &rec) == 0)
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
        cJSON_Delete(ev); /* another environment's app, not an app event, or not a name */
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
            refresh(st, service, id);
        else if (id && is_down_state(status))
            st->sink->down(st->sink->ctx, service, id);
    } else if (!strcmp(type, "health_status_changed_event")) {
        id = json_str(ev, "instanceId") ? json_str(ev, "instanceId") : json_str(ev, "taskId");
        log_debug("marathon", "event", "type=%s app=%s id=%s alive=%d", type, app, id ? id : "",
                  json_bool(ev, "alive", -1));
        if (id && segment_ok(id))
            refresh(st, service, id);
    } else if (!strcmp(type, "unhealthy_task_kill_event") ||
               !strcmp(type, "unhealthy_instance_kill_event")) {
        /* a TASK_KILLED follows (allegro/marathon-consul#131): deregistering twice is fine */
        id = json_str(ev, "taskId") ? json_str(ev, "taskId") : json_str(ev, "instanceId");
        if (id && segment_ok(id))
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
    ret = mar_call(m, method, path.ptr, action == SCHED_SUB_ADD ? "" : NULL, &status, &ans, err);
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
    if (ret < 0)
        err_from(err, MDO_SRC_MARATHON);
    cJSON_Delete(ans);
    buf_release(&path);
    return ret;
}