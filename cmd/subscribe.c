/* subscribe.c - `mdo subscribe`: the registry keeper daemon (events + periodic reconcile + HTTP) */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "callback.h"
#include "cmd.h"
#include "http.h"
#include "json.h"
#include "keeper.h"
#include "leader.h"
#include "log.h"
#include "server.h"

const char usage_subscribe[] =
    "usage: mdo subscribe [--listen ADDR:PORT] [--lease SECS] [-c FILE]\n"
    "\n"
    "Keeps the etcd registry equal to what the scheduler runs: follows the scheduler's events\n"
    "(Docker's /events, Marathon's /v2/events) and registers or deregisters one instance per\n"
    "event, and reconciles the whole registry at start, after every reconnect and every\n"
    "subscriber.resync seconds. It never exits on bad input; it reconnects with backoff when\n"
    "the scheduler or etcd go away.\n"
    "SIGTERM or SIGINT: finish the current write, give up leadership, exit 0.\n"
    "\n"
    "Several subscribers may run: one leads (an etcd lease on /mdo/<env>/leader) and writes;\n"
    "the others serve reads and take over within the lease time when the leader goes.\n"
    "\n"
    "HTTP (default subscriber.listen, 127.0.0.1:5000):\n"
    "  GET /health          200 or 503, with the reasons as JSON\n"
    "  GET /info            the registry as a page\n"
    "  GET /v1/services[/S] the registry as JSON\n"
    "  GET /metrics         Prometheus text: events, lag, reconcile diffs, etcd errors,\n"
    "                       callbacks sent and failed\n"
    "  POST /v1/callbacks, DELETE /v1/callbacks/ID   register/remove a membership callback\n"
    "\n"
    "  --listen ADDR:PORT  where to serve HTTP (overrides subscriber.listen)\n"
    "  --lease SECS        leader lease time, 2..3600 (default 10)\n"
    "  -c FILE             config file (default: $MDO_CONFIG, ./mdo.yaml, ./config.yaml)\n";

static volatile sig_atomic_t got_signal;
static volatile int stopping; /* read by curl's progress callback in the events thread */

static void on_signal(int sig)
{
    got_signal = sig;
    stopping = 1;
}

struct sub {
    struct cmd_env ce;
    struct keeper k;
    struct callbacks *cb;
    struct leader lead;
    struct sched_sink sink;
    struct buf callback_url; /* subscriber.mode: callback: <public_url>/marathon/callback */
    int subscribed;
    pthread_mutex_t lock; /* guards want_reconcile */
    int want_reconcile;
};

static void on_connected(void *ctx)
{
    struct sub *s = ctx;

    pthread_mutex_lock(&s->lock);
    s->want_reconcile = 1;
    pthread_mutex_unlock(&s->lock);
    pthread_mutex_lock(&s->k.lock);
    s->k.st.stream_connected = 1;
    pthread_mutex_unlock(&s->k.lock);
}

/* Sleeps up to ms, waking early when stopping. */
static void nap(long ms)
{
    while (ms > 0 && !stopping) {
        long step = ms < 100 ? ms : 100;
        struct timespec ts = {0, step * 1000000L};
        nanosleep(&ts, NULL);
        ms -= step;
    }
}

/* Capped exponential backoff with jitter: 0.5 s, 1 s, 2 s ... 30 s, each +-25%. */
static long backoff_ms(unsigned attempt)
{
    long ms = 500L << (attempt < 6 ? attempt : 6);

    if (ms > 30000)
        ms = 30000;
    return ms * 3 / 4 + (long)(random() % (ms / 2 + 1));
}

static void sink_up(void *ctx, struct reg_record *rec)
{
    keeper_up(&((struct sub *)ctx)->k, rec);
}

static void sink_down(void *ctx, const char *service, const char *container)
{
    keeper_down(&((struct sub *)ctx)->k, service, container);
}

static void *events_main(void *arg)
{
    struct sub *s = arg;
    unsigned attempt = 0;

    while (!stopping) {
        struct mdo_err err = MDO_ERR_INIT;
        time_t t0 = time(NULL);
        int ret = s->ce.ops->events(s->ce.sched, &s->sink, &stopping, &err);

        pthread_mutex_lock(&s->k.lock);
        s->k.st.stream_connected = 0;
        if (ret)
            snprintf(s->k.st.last_error, sizeof(s->k.st.last_error), "%.255s", err.msg);
        pthread_mutex_unlock(&s->k.lock);
        if (stopping)
            break;
        if (time(NULL) - t0 > 30)
            attempt = 0;
        log_warn("subscribe", "event stream ended, reconnecting", "err=\"%s\" attempt=%u",
                 ret ? err.msg : "closed by peer", attempt + 1);
        nap(backoff_ms(attempt++));
    }
    http_thread_cleanup();
    return NULL;
}

/* ---- HTTP ---- */

static void route_health(void *ctx, const struct server_req *req, struct server_resp *resp)
{
    struct sub *s = ctx;
    struct keeper_stats st;
    struct buf held = BUF_INIT(0);
    cJSON *o = cJSON_CreateObject(), *reasons = cJSON_AddArrayToObject(o, "reasons");
    time_t now = time(NULL);
    char *out;

    (void)req;
    keeper_snapshot(&s->k, &st, &held);
    if (!st.etcd_ok)
        cJSON_AddItemToArray(reasons, cJSON_CreateString("etcd unreachable"));
    if (!st.stream_connected)
        cJSON_AddItemToArray(reasons, cJSON_CreateString("scheduler event stream disconnected"));
    if (st.writer && !st.last_reconcile_ok)
        cJSON_AddItemToArray(reasons, cJSON_CreateString("no reconcile has succeeded yet"));
    if (held.len)
        cJSON_AddItemToArray(
            reasons, cJSON_CreateString("mass removal held back until a second listing agrees"));
    cJSON_AddStringToObject(o, "status", cJSON_GetArraySize(reasons) ? "unhealthy" : "ok");
    cJSON_AddStringToObject(o, "environment", s->ce.cfg->environment);
    cJSON_AddStringToObject(o, "scheduler", s->ce.ops->name);
    cJSON_AddStringToObject(o, "role", st.writer ? "leader" : "follower");
    cJSON_AddNumberToObject(o, "uptime_s", (double)(now - st.started));
    cJSON_AddNumberToObject(o, "last_reconcile_age_s",
                            st.last_reconcile_ok ? (double)(now - st.last_reconcile_ok) : -1);
    if (held.len) {
        cJSON *h = cJSON_AddArrayToObject(o, "held");
        for (char *p = held.ptr, *nl; (nl = strchr(p, '\n')); p = nl + 1) {
            *nl = '\0';
            cJSON_AddItemToArray(h, cJSON_CreateString(p));
        }
    }
    if (st.last_error[0])
        cJSON_AddStringToObject(o, "last_error", st.last_error);
    resp->status = cJSON_GetArraySize(reasons) ? 503 : 200;
    out = json_print(o);
    buf_adds(&resp->body, out ? out : "{}");
    buf_addc(&resp->body, '\n');
    free(out);
    cJSON_Delete(o);
    buf_release(&held);
}

/* Reads the registry for a request; on failure answers 503 and returns nonzero. */
static int read_registry(struct sub *s, const char *service, struct reg_record **recs, unsigned *n,
                         struct server_resp *resp)
{
    struct mdo_err err = MDO_ERR_INIT;
    const struct cfg *cfg = s->ce.cfg;

    if (!reg_list(&s->ce.etcd, cfg->etcd.prefix, cfg->environment, service, recs, n, NULL, NULL,
                  &err))
        return 0;
    resp->status = 503;
    buf_adds(&resp->body, "{\"error\":\"");
    buf_add_json_escaped(&resp->body, err.msg);
    buf_adds(&resp->body, "\"}\n");
    return -1;
}

static void route_services(void *ctx, const struct server_req *req, struct server_resp *resp)
{
    struct sub *s = ctx;
    const char *svc = NULL;
    struct reg_record *recs = NULL;
    unsigned n = 0;

    if (strcmp(req->method, "GET")) {
        resp->status = 405;
        buf_adds(&resp->body, "{\"error\":\"method not allowed\"}\n");
        return;
    }
    if (!strncmp(req->path, "/v1/services/", 13) && req->path[13])
        svc = req->path + 13;
    if ((svc && strchr(svc, '/')) ||
        (!svc && strcmp(req->path, "/v1/services") && strcmp(req->path, "/v1/services/"))) {
        resp->status = 404;
        buf_adds(&resp->body, "{\"error\":\"no such resource\"}\n");
        return;
    }
    if (read_registry(s, svc, &recs, &n, resp))
        return;
    buf_adds(&resp->body, "{\"environment\":\"");
    buf_add_json_escaped(&resp->body, s->ce.cfg->environment);
    buf_adds(&resp->body, "\",\"services\":{");
    for (unsigned i = 0; i < n; i++) {
        char *j = reg_record_json(&recs[i]);
        if (!i || strcmp(recs[i].service, recs[i - 1].service)) {
            buf_adds(&resp->body, i ? "]," : "");
            buf_addc(&resp->body, '"');
            buf_add_json_escaped(&resp->body, recs[i].service);
            buf_adds(&resp->body, "\":[");
        } else {
            buf_addc(&resp->body, ',');
        }
        buf_adds(&resp->body, j ? j : "null");
        free(j);
    }
    buf_adds(&resp->body, n ? "]}}\n" : "}}\n");
    if (svc && !n)
        resp->status = 404;
    reg_records_free(recs, n);
}

static void html(struct buf *b, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '<':
            buf_adds(b, "&lt;");
            break;
        case '>':
            buf_adds(b, "&gt;");
            break;
        case '&':
            buf_adds(b, "&amp;");
            break;
        case '"':
            buf_adds(b, "&quot;");
            break;
        default:
            buf_addc(b, *s);
        }
    }
}

static void route_info(void *ctx, const struct server_req *req, struct server_resp *resp)
{
    struct sub *s = ctx;
    struct reg_record *recs = NULL;
    unsigned n = 0;
    struct buf *b = &resp->body;
    time_t now = time(NULL);

    (void)req;
    resp->content_type = "text/html; charset=utf-8";
    buf_adds(b, "<!doctype html><html><head><meta charset=\"utf-8\"><title>mdo: ");
    html(b, s->ce.cfg->environment);
    buf_adds(b, "</title><style>body{font-family:sans-serif;margin:2em}table{border-collapse:"
                "collapse}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left}"
                "</style></head><body><h1>mdo registry: ");
    html(b, s->ce.cfg->environment);
    buf_adds(b, "</h1>");
    if (read_registry(s, NULL, &recs, &n, resp)) {
        buf_reset(b);
        resp->content_type = "text/html; charset=utf-8";
        buf_adds(b, "<!doctype html><p>registry unreachable</p>\n");
        return;
    }
    buf_addf(b,
             "<p>%u instance%s</p><table><tr><th>service</th><th>container</th><th>host"
             "</th><th>ports</th><th>state</th><th>age</th></tr>",
             n, n == 1 ? "" : "s");
    for (unsigned i = 0; i < n; i++) {
        struct tm tm = {0};
        long age = -1;
        buf_adds(b, "<tr><td>");
        html(b, recs[i].service);
        buf_adds(b, "</td><td>");
        html(b, recs[i].container);
        buf_adds(b, "</td><td>");
        html(b, recs[i].host);
        buf_adds(b, "</td><td>");
        for (unsigned p = 0; p < recs[i].nports; p++) {
            buf_adds(b, p ? ", " : "");
            html(b, recs[i].ports[p].name);
            buf_addf(b, " %d&rarr;", recs[i].ports[p].internal);
            html(b, recs[i].host);
            buf_addf(b, ":%d", recs[i].ports[p].external);
        }
        buf_adds(b, "</td><td>");
        html(b, recs[i].state);
        if (recs[i].started_at && strptime(recs[i].started_at, "%Y-%m-%dT%H:%M:%S", &tm))
            age = (long)(now - timegm(&tm));
        if (age >= 0)
            buf_addf(b, "</td><td>%ldm%02lds</td></tr>", age / 60, age % 60);
        else
            buf_adds(b, "</td><td>?</td></tr>");
    }
    buf_adds(b, "</table></body></html>\n");
    reg_records_free(recs, n);
}

static void metric(struct buf *b, const char *name, const char *type, const char *help, double v)
{
    buf_addf(b, "# HELP %s %s\n# TYPE %s %s\n%s %.17g\n", name, help, name, type, name, v);
}

static void route_metrics(void *ctx, const struct server_req *req, struct server_resp *resp)
{
    struct sub *s = ctx;
    struct keeper_stats st;
    struct buf *b = &resp->body;
    time_t now = time(NULL);

    (void)req;
    keeper_snapshot(&s->k, &st, NULL);
    resp->content_type = "text/plain; version=0.0.4";
    metric(b, "mdo_events_total", "counter", "Scheduler events applied (up and down).",
           (double)(st.events_up + st.events_down));
    metric(b, "mdo_event_errors_total", "counter", "Events that could not be applied.",
           (double)st.event_errors);
    metric(b, "mdo_reconciles_total", "counter", "Reconcile passes.", (double)st.reconciles);
    metric(b, "mdo_reconcile_errors_total", "counter", "Reconcile passes that failed.",
           (double)st.reconcile_errors);
    metric(b, "mdo_reconcile_puts_total", "counter", "Records a reconcile wrote.",
           (double)st.reconcile_puts);
    metric(b, "mdo_reconcile_deletes_total", "counter", "Records a reconcile removed.",
           (double)st.reconcile_dels);
    metric(b, "mdo_reconcile_held_back_total", "counter",
           "Removals held back until a second listing agreed.", (double)st.held_back);
    metric(b, "mdo_etcd_errors_total", "counter", "Failed etcd requests.", (double)st.etcd_errors);
    metric(b, "mdo_registry_bad_records", "gauge", "Registry values that do not parse.",
           (double)st.bad_records);
    metric(b, "mdo_event_stream_up", "gauge", "1 when the scheduler's event stream is connected.",
           st.stream_connected);
    metric(b, "mdo_last_event_age_seconds", "gauge", "Seconds since the last event (lag).",
           st.last_event ? (double)(now - st.last_event) : -1);
    metric(b, "mdo_last_reconcile_age_seconds", "gauge", "Seconds since the last good pass.",
           st.last_reconcile_ok ? (double)(now - st.last_reconcile_ok) : -1);
    callbacks_metrics(s->cb, b);
}

/* POST /marathon/callback (and the seed's POST /callback): Marathon's http_callback events */
static void route_marathon_callback(void *ctx, const struct server_req *req,
                                    struct server_resp *resp)
{
    struct sub *s = ctx;
    struct mdo_err err = MDO_ERR_INIT;

    if (strcmp(req->method, "POST")) {
        resp->status = 405;
        buf_adds(&resp->body, "{\"error\":\"method not allowed\"}\n");
        return;
    }
    if (s->ce.ops->feed(s->ce.sched, &s->sink, req->body, req->body_len, &err)) {
        log_warn("subscribe", "callback body rejected", "err=\"%s\" len=%zu", err.msg,
                 req->body_len);
        resp->status = 400;
        buf_adds(&resp->body, "{\"error\":\"");
        buf_add_json_escaped(&resp->body, err.msg);
        buf_adds(&resp->body, "\"}\n");
        return;
    }
    buf_adds(&resp->body, "{\"ok\":true}\n");
}

/* Callback mode: our URL must stay registered with the scheduler (a restarted Marathon may
 * have lost it); registering again means events were missed, so a reconcile follows. */
static void callback_ensure(struct sub *s)
{
    struct mdo_err err = MDO_ERR_INIT;
    int r = s->ce.ops->subscription(s->ce.sched, s->callback_url.ptr, SCHED_SUB_CHECK, &err);

    if (r == 0)
        r = s->ce.ops->subscription(s->ce.sched, s->callback_url.ptr, SCHED_SUB_ADD, &err);
    else if (r == 1)
        r = 0;
    if (r) {
        log_warn("subscribe", "cannot register the event callback", "url=%s err=\"%s\"",
                 s->callback_url.ptr, err.msg);
        pthread_mutex_lock(&s->k.lock);
        s->k.st.stream_connected = 0;
        pthread_mutex_unlock(&s->k.lock);
        s->subscribed = 0;
        return;
    }
    if (!s->subscribed)
        log_info("subscribe", "event callback registered", "url=%s", s->callback_url.ptr);
    if (!s->subscribed)
        on_connected(s);
    s->subscribed = 1;
}

static void route_404(void *ctx, const struct server_req *req, struct server_resp *resp)
{
    (void)ctx, (void)req;
    resp->status = 404;
    buf_adds(&resp->body, "{\"error\":\"no such resource\"}\n");
}

int cmd_subscribe(struct cmd_env *env, const struct cmd_args *args)
{
    struct mdo_err err = MDO_ERR_INIT;
    struct cmd_args a = *args; /* parsed and checked by run(), which owns a.pos */
    struct sub s;
    struct server *srv = NULL;
    pthread_t events;
    struct sigaction sa;
    int ret, have_thread = 0;
    unsigned attempt = 0;
    time_t next_pass = 0, next_tick = 0;

    (void)env;    /* the daemon opens its own into struct sub, its threads' context */
    a.pos = NULL; /* run() frees the array: the free() at the end must not */
    memset(&s, 0, sizeof(s));
    pthread_mutex_init(&s.lock, NULL);
    s.sink = (struct sched_sink){&s, on_connected, sink_up, sink_down};
    s.callback_url = (struct buf)BUF_INIT(0);
    ret = cmd_env_open(&s.ce, &a, NEED_ETCD | NEED_SCHED, &err);
    if (ret)
        goto out;
    if (!strcmp(s.ce.cfg->subscriber.mode, "callback")) {
        const char *pub = s.ce.cfg->subscriber.public_url;
        if (!s.ce.ops->subscription || !s.ce.ops->feed) {
            ret = err_set(&err, MDO_ECONFIG,
                          "%s: subscriber.mode 'callback' needs scheduler: marathon (the %s "
                          "backend has no http callbacks): use mode: events",
                          s.ce.cfg->path, s.ce.ops->name);
            goto out_env;
        }
        if (!pub) {
            ret = err_set(&err, MDO_ECONFIG,
                          "%s: subscriber.mode 'callback' needs subscriber.public_url, the URL "
                          "at which Marathon reaches this subscriber",
                          s.ce.cfg->path);
            goto out_env;
        }
        buf_addf(&s.callback_url, "%.*s/marathon/callback",
                 (int)(strlen(pub) - (pub[0] && pub[strlen(pub) - 1] == '/')), pub);
    }
    keeper_init(&s.k, s.ce.cfg, &s.ce.etcd, s.ce.ops, s.ce.sched);
    keeper_set_writer(&s.k, 0); /* until the lease is ours */
    {
        char host[128] = "?", val[512];
        gethostname(host, sizeof(host) - 1);
        snprintf(val, sizeof(val), "{\"id\":\"%s:%d\",\"listen\":\"%s\"}", host, (int)getpid(),
                 a.listen ? a.listen : s.ce.cfg->subscriber.listen);
        if (leader_init(&s.lead, &s.ce.etcd, s.ce.cfg->etcd.prefix, s.ce.cfg->environment, val,
                        a.lease_s ? (long)a.lease_s : 10)) {
            ret = err_set(&err, MDO_ENOMEM, "out of memory");
            goto out_keeper;
        }
    }
    ret = server_start(&srv, a.listen ? a.listen : s.ce.cfg->subscriber.listen, &err);
    if (ret)
        goto out_keeper;
    server_route(srv, "/", route_404, &s);
    server_route(srv, "/health", route_health, &s);
    server_route(srv, "/info", route_info, &s);
    server_route(srv, "/v1/services", route_services, &s);
    server_route(srv, "/metrics", route_metrics, &s);
    if (s.callback_url.len) {
        server_route(srv, "/marathon/callback", route_marathon_callback, &s);
        server_route(srv, "/callback", route_marathon_callback, &s); /* the seed's path */
    }
    ret = callbacks_start(&s.cb, s.ce.cfg, &s.ce.etcd, &err);
    if (ret)
        goto out_server;
    callbacks_routes(s.cb, srv);
    s.k.changed = callbacks_changed;
    s.k.changed_ctx = s.cb;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    srandom((unsigned)time(NULL) ^ (unsigned)getpid());
    log_info("subscribe", "started", "environment=%s scheduler=%s listen=%s port=%d resync=%u",
             s.ce.cfg->environment, s.ce.ops->name,
             a.listen ? a.listen : s.ce.cfg->subscriber.listen, server_port(srv),
             s.ce.cfg->subscriber.resync);
    if (s.callback_url.len)
        ; /* events come to the HTTP server; callback_ensure() keeps them coming */
    else if (pthread_create(&events, NULL, events_main, &s) == 0)
        have_thread = 1;
    else
        log_error("subscribe", "cannot start the events thread", "err=%s", strerror(errno));
    s.want_reconcile = 1;
    while (!stopping) {
        time_t now = time(NULL);
        int due;

        if (now >= next_tick) {
            struct mdo_err lerr = MDO_ERR_INIT;
            int was = s.lead.is_leader;
            if (leader_tick(&s.lead, &lerr))
                log_warn("subscribe", "leader lease not renewed", "err=\"%s\"", lerr.msg);
            if (was != s.lead.is_leader) {
                keeper_set_writer(&s.k, s.lead.is_leader);
                if (s.lead.is_leader) { /* take over: make the registry true first */
                    pthread_mutex_lock(&s.lock);
                    s.want_reconcile = 1;
                    pthread_mutex_unlock(&s.lock);
                }
            }
            next_tick = now + (s.lead.ttl / 3 ? s.lead.ttl / 3 : 1);
        }

        pthread_mutex_lock(&s.lock);
        due = s.want_reconcile || now >= next_pass;
        s.want_reconcile = 0;
        pthread_mutex_unlock(&s.lock);
        if (!due) {
            struct keeper_stats st;
            keeper_snapshot(&s.k, &st, NULL);
            if (st.dirty && now >= next_pass - (time_t)s.ce.cfg->subscriber.resync + 1)
                due = 1; /* a write failed: heal soon, not at the next resync */
        }
        if (due && s.callback_url.len)
            callback_ensure(&s);
        if (due) {
            struct mdo_err rerr = MDO_ERR_INIT;
            struct keeper_stats st;
            struct buf held = BUF_INIT(0);
            if (keeper_reconcile(&s.k, &rerr)) {
                log_warn("subscribe", "reconcile failed, retrying", "err=\"%s\" attempt=%u",
                         rerr.msg, attempt + 1);
                next_pass = time(NULL) + backoff_ms(attempt++) / 1000 + 1;
            } else {
                attempt = 0;
                keeper_snapshot(&s.k, &st, &held);
                /* removals held back are re-checked soon, by a second listing */
                next_pass = time(NULL) + (held.len ? 3 : (time_t)s.ce.cfg->subscriber.resync);
            }
            buf_release(&held);
        }
        nap(200);
    }
    log_info("subscribe", "stopping", "signal=%d", (int)got_signal);
    if (have_thread)
        pthread_join(events, NULL);
    keeper_set_writer(&s.k, 0);
    leader_resign(&s.lead); /* a follower takes over now, not after the lease runs out */
    if (s.callback_url.len) {
        struct mdo_err cerr = MDO_ERR_INIT;
        if (s.ce.ops->subscription(s.ce.sched, s.callback_url.ptr, SCHED_SUB_DEL, &cerr))
            log_warn("subscribe", "cannot unregister the event callback", "err=\"%s\"", cerr.msg);
        else
            log_info("subscribe", "event callback unregistered", "url=%s", s.callback_url.ptr);
    }
    server_stop(srv); /* no handler runs past here: the callbacks can go */
    srv = NULL;
    callbacks_stop(s.cb);
out_server:
    server_stop(srv);
out_keeper:
    leader_release(&s.lead);
    keeper_release(&s.k);
out_env:
    cmd_env_close(&s.ce);
out:
    buf_release(&s.callback_url);
    pthread_mutex_destroy(&s.lock);
    http_thread_cleanup();
    free(a.pos);
    return err_report("subscribe", &err);
}
