/* subscribe_http.c - `mdo subscribe`'s HTTP face: /health, /info, /v1/services, /metrics and the
 * Marathon event receiver, over struct sub_face (subscribe.h).
 *
 * Every JSON answer is built with cJSON. Names read back from the registry are checked with the
 * config's own rules (names.h) before they reach an answer or the page: a record whose service
 * or container breaks them is left out (and logged), not repaired. The page is HTML-escaped.
 * A 5xx names the peer at fault by its kind ("etcd unavailable"), never its address: the
 * details go to the log. Off loopback every route but /health and the Marathon receiver wants
 * subscriber.token (lib/server.c checks it); the receiver wants its secret path segment.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cjson/cJSON.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include "clock.h"
#include "log.h"
#include "metrics.h"
#include "names.h"
#include "registry.h"
#include "strset.h"
#include "subscribe.h"
#include "timefmt.h"

/* "service/container" as the keeper names a held-back removal: both parts by their rules. */
static int held_name_ok(const char *s)
{
    char svc[NAME_MAX_LEN + 2];
    const char *slash = strchr(s, '/');
    size_t len = slash ? (size_t)(slash - s) : 0;

    if (!slash || len >= sizeof(svc))
        return 0;
    memcpy(svc, s, len);
    svc[len] = '\0';
    return name_ok(svc) && segment_ok(slash + 1);
}

static void route_health(void *ctx, const struct server_req *req, struct server_resp *resp)
{
    struct sub_face *f = ctx;
    struct keeper_stats st;
    struct keeper_reasons why;
    struct strset held = STRSET_INIT;
    cJSON *o = cJSON_CreateObject(), *reasons = cJSON_AddArrayToObject(o, "reasons");
    int64_t now = clock_now_ms();

    keeper_snapshot(f->k, &st, &held);
    keeper_reasons(&st, held.n, &why);
    for (unsigned i = 0; i < why.n; i++)
        cJSON_AddItemToArray(reasons, cJSON_CreateString(why.text[i]));
    cJSON_AddStringToObject(o, "status", why.n ? "unhealthy" : "ok");
    cJSON_AddStringToObject(o, "environment", f->cfg->environment);
    cJSON_AddStringToObject(o, "scheduler", f->ops->name);
    cJSON_AddStringToObject(o, "role", st.writer ? "leader" : "follower");
    cJSON_AddNumberToObject(o, "uptime_s", (double)((now - st.started_ms) / 1000));
    /* both on the monotonic clock: never negative; null until a pass has succeeded */
    if (st.last_reconcile_ok_ms)
        cJSON_AddNumberToObject(
            o, "last_reconcile_age_s",
            (double)((now > st.last_reconcile_ok_ms ? now - st.last_reconcile_ok_ms : 0) / 1000));
    else
        cJSON_AddNullToObject(o, "last_reconcile_age_s");
    cJSON_AddNumberToObject(o, "queued", (double)st.queued);
    if (held.n) {
        cJSON *h = cJSON_AddArrayToObject(o, "held");
        for (size_t i = 0; i < held.n; i++)
            if (held_name_ok(held.v[i]))
                cJSON_AddItemToArray(h, cJSON_CreateString(held.v[i]));
    }
    /* the last error may name an endpoint: off loopback only for a caller with the token */
    if (st.last_error[0] && (!f->public_face || server_bearer_ok(req->authorization, f->token)))
        cJSON_AddStringToObject(o, "last_error", st.last_error);
    server_json(resp, why.n ? 503 : 200, o);
    cJSON_Delete(o);
    strset_release(&held);
}

/* Reads the registry for a request (service NULL: all) and drops the records whose names break
 * their rules. On failure answers 503 and returns nonzero. */
static int read_registry(struct sub_face *f, const char *service, struct reg_record **recs,
                         unsigned *n, struct server_resp *resp)
{
    struct mdo_err err = MDO_ERR_INIT;
    unsigned kept = 0;

    if (reg_list(f->etcd, f->cfg->etcd.prefix, f->cfg->environment, service, recs, n, NULL, NULL,
                 &err)) {
        /* the message names etcd's endpoint: the log has it, the answer only the peer's kind */
        log_warn("subscribe", "registry read failed", "err=\"%s\"", err.msg);
        server_error(resp, 503,
                     err.origin == MDO_SRC_ETCD || !err.origin ? "etcd unavailable"
                                                               : "registry unavailable");
        return -1;
    }
    for (unsigned i = 0; i < *n; i++) {
        struct reg_record *r = &(*recs)[i];
        if (name_ok(r->service) && segment_ok(r->container)) {
            if (kept != i)
                (*recs)[kept] = *r;
            kept++;
            continue;
        }
        log_warn("subscribe", "registry record with a bad name left out of the answer",
                 "mod_revision=%lld", (long long)r->mod_revision);
        reg_record_release(r);
    }
    *n = kept;
    return 0;
}

/* The record as a cJSON tree: its canonical JSON (reg_record_json) parsed back. */
static cJSON *record_tree(const struct reg_record *r)
{
    char *j = reg_record_json(r);
    cJSON *t = j ? cJSON_Parse(j) : NULL;

    free(j);
    return t ? t : cJSON_CreateNull();
}

static void route_services(void *ctx, const struct server_req *req, struct server_resp *resp)
{
    struct sub_face *f = ctx;
    const char *svc = NULL;
    struct reg_record *recs = NULL;
    unsigned n = 0;
    cJSON *o, *services, *list = NULL;

    if (!strncmp(req->path, "/v1/services/", 13) && req->path[13])
        svc = req->path + 13;
    if ((svc && !name_ok(svc)) ||
        (!svc && strcmp(req->path, "/v1/services") && strcmp(req->path, "/v1/services/"))) {
        server_error(resp, 404, "no such resource");
        return;
    }
    if (read_registry(f, svc, &recs, &n, resp))
        return;
    o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "environment", f->cfg->environment);
    services = cJSON_AddObjectToObject(o, "services");
    for (unsigned i = 0; i < n; i++) { /* sorted by service: one array per run */
        if (!i || strcmp(recs[i].service, recs[i - 1].service))
            list = cJSON_AddArrayToObject(services, recs[i].service);
        cJSON_AddItemToArray(list, record_tree(&recs[i]));
    }
    server_json(resp, svc && !n ? 404 : 200, o);
    cJSON_Delete(o);
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
    struct sub_face *f = ctx;
    struct reg_record *recs = NULL;
    unsigned n = 0;
    struct buf *b = &resp->body;
    time_t now = time(NULL); /* wall clock: ages of the records' RFC 3339 start times */

    (void)req;
    if (read_registry(f, NULL, &recs, &n, resp)) {
        buf_reset(b);
        resp->content_type = "text/html; charset=utf-8";
        buf_adds(b, "<!doctype html><p>etcd unavailable: the registry cannot be read</p>\n");
        return;
    }
    resp->content_type = "text/html; charset=utf-8";
    buf_adds(b, "<!doctype html><html><head><meta charset=\"utf-8\"><title>mdo: ");
    html(b, f->cfg->environment);
    buf_adds(b, "</title><style>body{font-family:sans-serif;margin:2em}table{border-collapse:"
                "collapse}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left}"
                "</style></head><body><h1>mdo registry: ");
    html(b, f->cfg->environment);
    buf_adds(b, "</h1>");
    buf_addf(b,
             "<p>%u instance%s</p><table><tr><th>service</th><th>container</th><th>host"
             "</th><th>ports</th><th>state</th><th>age</th></tr>",
             n, n == 1 ? "" : "s");
    for (unsigned i = 0; i < n; i++) {
        time_t t;
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
        if (recs[i].started_at && !rfc3339_parse(recs[i].started_at, &t))
            age = (long)(now - t);
        if (age >= 0)
            buf_addf(b, "</td><td>%ldm%02lds</td></tr>", age / 60, age % 60);
        else
            buf_adds(b, "</td><td>?</td></tr>");
    }
    buf_adds(b, "</table></body></html>\n");
    reg_records_free(recs, n);
}

/* Seconds since a clock_now_ms() time as /metrics has always shown them; -1 for never. */
static double age_s(int64_t now, int64_t then)
{
    return then ? (double)((now - then) / 1000) : -1;
}

static void route_metrics(void *ctx, const struct server_req *req, struct server_resp *resp)
{
    struct sub_face *f = ctx;
    struct keeper_stats st;
    struct buf *b = &resp->body;
    int64_t now = clock_now_ms();

    (void)req;
    keeper_snapshot(f->k, &st, NULL);
    resp->content_type = "text/plain; version=0.0.4";
    metrics_add(b, "mdo_events_total", "counter", "Scheduler events applied (up and down).",
                (double)(st.events_up + st.events_down));
    metrics_add(b, "mdo_event_errors_total", "counter", "Events that could not be applied.",
                (double)st.event_errors);
    metrics_add(b, "mdo_reconciles_total", "counter", "Reconcile passes.", (double)st.reconciles);
    metrics_add(b, "mdo_reconcile_errors_total", "counter", "Reconcile passes that failed.",
                (double)st.reconcile_errors);
    metrics_add(b, "mdo_reconcile_puts_total", "counter", "Records a reconcile wrote.",
                (double)st.reconcile_puts);
    metrics_add(b, "mdo_reconcile_deletes_total", "counter", "Records a reconcile removed.",
                (double)st.reconcile_dels);
    metrics_add(b, "mdo_reconcile_held_back_total", "counter",
                "Removals held back until a second listing agreed.", (double)st.held_back);
    metrics_add(b, "mdo_etcd_errors_total", "counter", "Failed etcd requests.",
                (double)st.etcd_errors);
    metrics_add(b, "mdo_registry_txns_total", "counter", "Registry transactions the writer sent.",
                (double)st.txns);
    metrics_add(b, "mdo_registry_fenced_out_total", "counter",
                "Writer batches etcd refused because the leader key was not ours.",
                (double)st.fenced_out);
    metrics_add(b, "mdo_registry_dropped_total", "counter",
                "Queued writes dropped (queue full, or not leading); a reconcile heals them.",
                (double)st.dropped);
    metrics_add(b, "mdo_registry_unchanged_total", "counter",
                "Events not written: their value is the one this writer last wrote.",
                (double)st.unchanged);
    metrics_add(b, "mdo_registry_queue", "gauge", "Writes waiting for the writer.",
                (double)st.queued);
    metrics_add(b, "mdo_registry_bad_records", "gauge", "Registry values that do not parse.",
                (double)st.bad_records);
    metrics_add(b, "mdo_event_stream_up", "gauge",
                "1 when the scheduler's event stream is connected.", st.stream_connected);
    metrics_add(b, "mdo_last_event_age_seconds", "gauge", "Seconds since the last event (lag).",
                age_s(now, st.last_event_ms));
    metrics_add(b, "mdo_last_reconcile_age_seconds", "gauge", "Seconds since the last good pass.",
                age_s(now, st.last_reconcile_ok_ms));
    callbacks_metrics(f->cb, b);
}

/* 1 when path is "<base>/<secret>" (base "/marathon/callback" or "/callback"), the segment
 * compared in constant time */
static int secret_path_ok(struct sub_face *f, const char *path)
{
    const char *seg = NULL;

    if (!strncmp(path, "/marathon/callback/", 19))
        seg = path + 19;
    else if (!strncmp(path, "/callback/", 10))
        seg = path + 10;
    return seg && strlen(seg) == SUB_SECRET_LEN && !CRYPTO_memcmp(seg, f->secret, SUB_SECRET_LEN);
}

/* POST /marathon/callback/<secret> (and the seed's POST /callback/<secret>): Marathon's
 * http_callback events. Without the secret: 404, as for any other unknown path. */
static void route_marathon_callback(void *ctx, const struct server_req *req,
                                    struct server_resp *resp)
{
    struct sub_face *f = ctx;
    struct mdo_err err = MDO_ERR_INIT;
    struct sched *sc = f->sched;
    cJSON *o;

    if (!f->secret_ready) { /* Marathon retries a callback that failed */
        server_error(resp, 503, "not ready");
        return;
    }
    if (!secret_path_ok(f, req->path)) {
        server_error(resp, 404, "no such resource");
        return;
    }
    if (!sc) { /* not open yet: Marathon retries a callback that failed */
        server_error(resp, 503, "the scheduler is not open yet");
        return;
    }
    if (req->too_large) { /* a deployment's whole plan: nothing mdo registers from; a non-2xx
                           * would make Marathon back off and skip the events after it */
        log_debug("subscribe", "callback body over the cap read and dropped", "cap=%u",
                  SERVER_BODY_CAP);
        o = cJSON_CreateObject();
        if (o)
            cJSON_AddBoolToObject(o, "ok", 1);
        server_json(resp, 200, o);
        cJSON_Delete(o);
        return;
    }
    if (f->ops->feed(sc, f->sink, req->body, req->body_len, &err)) {
        log_warn("subscribe", "callback body rejected", "err=\"%s\" len=%zu", err.msg,
                 req->body_len);
        server_error(resp, 400, err.msg);
        return;
    }
    o = cJSON_CreateObject();
    if (o)
        cJSON_AddBoolToObject(o, "ok", 1);
    server_json(resp, 200, o);
    cJSON_Delete(o);
}

static void route_404(void *ctx, const struct server_req *req, struct server_resp *resp)
{
    (void)ctx, (void)req;
    server_error(resp, 404, "no such resource");
}

void sub_http_routes(struct server *srv, struct sub_face *f, int callback)
{
    server_route_methods(srv, "/", NULL, route_404, f, SERVER_AUTH);
    server_route_methods(srv, "/health", "GET", route_health, f, 0);
    server_route_methods(srv, "/info", "GET", route_info, f, SERVER_AUTH);
    server_route_methods(srv, "/v1/services", "GET", route_services, f, SERVER_AUTH);
    server_route_methods(srv, "/metrics", "GET", route_metrics, f, SERVER_AUTH);
    if (callback) {
        server_route_methods(srv, "/marathon/callback", "POST", route_marathon_callback, f,
                             SERVER_DRAIN_LARGE | SERVER_SECRET_PATH);
        server_route_methods(srv, "/callback", "POST", route_marathon_callback, f,
                             SERVER_DRAIN_LARGE | SERVER_SECRET_PATH); /* the seed's path */
    }
}

int sub_callback_secret(struct sub_face *f, struct mdo_err *err)
{
    struct buf key = BUF_INIT(0);
    struct etcd_kvs kvs = ETCD_KVS_INIT;
    unsigned char raw[SUB_SECRET_LEN / 2];
    char hex[SUB_SECRET_LEN + 1];
    int ret, applied = 0;

    if (f->secret_ready)
        return 0;
    if (reg_callback_path_key(&key, f->cfg->etcd.prefix, f->cfg->environment)) {
        buf_release(&key);
        return err_set(err, MDO_ECONFIG, "environment '%s' makes no key", f->cfg->environment);
    }
    for (int round = 0; round < 2; round++) {
        int64_t guard = 0;
        ret = etcd_get(f->etcd, key.ptr, &kvs, err);
        if (ret)
            break;
        if (kvs.n == 1) {
            const char *v = kvs.kv[0].value;
            size_t len = strspn(v, "0123456789abcdef");
            if (len == SUB_SECRET_LEN && !v[len]) {
                memcpy(f->secret, v, SUB_SECRET_LEN + 1);
                f->secret_ready = 1;
                break;
            }
            guard = kvs.kv[0].mod_revision; /* not ours to keep: replaced */
            log_warn("subscribe", "the callback path secret in etcd is malformed, replaced",
                     "key=%s", key.ptr);
        }
        etcd_kvs_release(&kvs);
        if (RAND_bytes(raw, sizeof(raw)) != 1) {
            ret = err_set(err, MDO_EFAIL, "no random bytes for the callback path (RAND_bytes)");
            break;
        }
        for (size_t i = 0; i < sizeof(raw); i++)
            snprintf(hex + 2 * i, 3, "%02x", raw[i]);
        /* create-only (or over the malformed value read): a subscriber that wrote first wins,
         * the other reads its value in the next round */
        struct etcd_op op = {ETCD_PUT, key.ptr, hex, guard, 0};
        ret = etcd_txn(f->etcd, &op, 1, &applied, err);
        if (ret)
            break;
        if (applied) {
            memcpy(f->secret, hex, sizeof(hex));
            f->secret_ready = 1;
            log_info("subscribe", "callback path secret made", "key=%s", key.ptr);
            break;
        }
    }
    if (!ret && !f->secret_ready)
        ret = err_set(err, MDO_EFAIL, "the callback path secret at %s keeps changing", key.ptr);
    etcd_kvs_release(&kvs);
    OPENSSL_cleanse(raw, sizeof(raw));
    buf_release(&key);
    return ret;
}
