/* watch.c - etcd v3 watch over the JSON gateway: a background thread that lists, streams,
 * re-watches from the last revision after a break, and re-lists after a compaction */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cjson/cJSON.h>
#include "json.h"
#include "log.h"
#include "watch.h"

#define LINE_CAP (64u << 20) /* one response line: a burst of events in one revision */

/* ---- pure parts ---- */

void watch_batch_release(struct watch_batch *b)
{
    for (size_t i = 0; b && i < b->n; i++) {
        free(b->ev[i].key);
        free(b->ev[i].value);
    }
    if (b) {
        free(b->ev);
        memset(b, 0, sizeof(*b));
    }
}

void watch_resp_release(struct watch_resp *r)
{
    struct watch_batch b = {0, 0, r->ev, r->n};

    watch_batch_release(&b);
    free(r->error);
    memset(r, 0, sizeof(*r));
}

static int parse_event(const cJSON *e, struct watch_event *ev, struct mdo_err *err)
{
    const cJSON *kv = cJSON_GetObjectItemCaseSensitive(e, "kv");
    const char *type = json_str(e, "type"), *k = json_str(kv, "key"), *v = json_str(kv, "value");
    size_t klen;

    memset(ev, 0, sizeof(*ev));
    if (!k)
        return err_set(err, MDO_EPROTO, "etcd watch event without a key");
    if (type && strcmp(type, "PUT") && strcmp(type, "DELETE"))
        return err_set(err, MDO_EPROTO, "etcd watch event of unknown type '%s'", type);
    ev->del = type && !strcmp(type, "DELETE");
    ev->key = etcd_unb64(k, &klen);
    ev->value = etcd_unb64(ev->del || !v ? "" : v, &ev->len);
    if (!ev->key || !ev->value) {
        free(ev->key);
        free(ev->value);
        memset(ev, 0, sizeof(*ev));
        return err_set(err, MDO_EPROTO, "etcd watch event with a key or value that is not base64");
    }
    ev->mod_revision = json_int(kv, "mod_revision", 0);
    return 0;
}

int watch_resp_parse(const char *json, size_t len, struct watch_resp *r, struct mdo_err *err)
{
    cJSON *o = cJSON_ParseWithLength(json, len);
    const cJSON *res, *events, *e, *error;
    int ret = 0;

    memset(r, 0, sizeof(*r));
    if (!o || !cJSON_IsObject(o)) {
        cJSON_Delete(o);
        return err_set(err, MDO_EPROTO, "etcd watch answer is not a JSON object");
    }
    error = cJSON_GetObjectItemCaseSensitive(o, "error");
    res = cJSON_GetObjectItemCaseSensitive(o, "result");
    if (error) {
        const char *m = json_str(error, "message");
        r->error = strdup(m ? m : "unknown error");
        r->canceled = 1;
        cJSON_Delete(o);
        return r->error ? 0 : err_set(err, MDO_ENOMEM, "out of memory");
    }
    if (!cJSON_IsObject(res)) {
        cJSON_Delete(o);
        return err_set(err, MDO_EPROTO, "etcd watch answer has no result");
    }
    r->header_revision = json_int(cJSON_GetObjectItemCaseSensitive(res, "header"), "revision", 0);
    r->created = json_bool(res, "created", 0);
    r->canceled = json_bool(res, "canceled", 0);
    r->compact_revision = json_int(res, "compact_revision", 0);
    if (r->canceled && json_str(res, "cancel_reason"))
        r->error = strdup(json_str(res, "cancel_reason"));
    events = cJSON_GetObjectItemCaseSensitive(res, "events");
    if (cJSON_GetArraySize(events) > 0) {
        r->ev = calloc((size_t)cJSON_GetArraySize(events), sizeof(*r->ev));
        if (!r->ev)
            ret = err_set(err, MDO_ENOMEM, "out of memory");
        cJSON_ArrayForEach(e, events)
        {
            if (ret || (ret = parse_event(e, &r->ev[r->n], err)))
                break;
            r->n++;
        }
    }
    r->progress = !ret && !r->n && !r->created && !r->canceled;
    cJSON_Delete(o);
    if (ret)
        watch_resp_release(r);
    return ret;
}

long watch_settle_left(long long first_ms, long long last_ms, long long now_ms, long settle_ms,
                       long max_ms)
{
    long long quiet = last_ms + settle_ms - now_ms, cap = first_ms + max_ms - now_ms;

    return (long)(quiet < cap ? quiet : cap);
}

/* ---- the watch thread ---- */

struct wnode {
    struct watch_batch b;
    struct wnode *next;
};

struct watch {
    struct etcd *e;
    char *prefix, *end; /* the range [prefix, end) */
    /* where batches go: the queue below (watch_start) or the caller's function (watch_run);
     * nonzero from it ends the watch */
    int (*sink)(void *ctx, struct watch_batch *b);
    void *sink_ctx;
    const volatile int *stopp;
    int done; /* the sink said: enough */
    pthread_t th;
    pthread_mutex_t lock; /* guards the queue, connected, error */
    pthread_cond_t cond;
    struct wnode *head, *tail;
    volatile int stop;
    int connected;
    char error[256];
    /* the watching thread's own: */
    int64_t next_rev;  /* 0: list first */
    struct buf line;   /* a response line being received */
    int relist;        /* the stream said: compacted, list again */
    int stream_failed; /* the stream said: canceled for another reason */
};

static void set_error(struct watch *w, const char *msg)
{
    pthread_mutex_lock(&w->lock);
    snprintf(w->error, sizeof(w->error), "%.*s", (int)sizeof(w->error) - 1, msg);
    pthread_mutex_unlock(&w->lock);
}

static void set_connected(struct watch *w, int up)
{
    pthread_mutex_lock(&w->lock);
    w->connected = up;
    if (up)
        w->error[0] = '\0';
    pthread_mutex_unlock(&w->lock);
}

/* watch_start's sink: queues b (taking its contents). A batch that cannot be queued is lost:
 * the consumer's copy would be wrong, so the next stream starts with a fresh listing. */
static int queue_sink(void *ctx, struct watch_batch *b)
{
    struct watch *w = ctx;
    struct wnode *n = calloc(1, sizeof(*n));

    if (!n) {
        w->relist = 1;
        return 0;
    }
    n->b = *b;
    memset(b, 0, sizeof(*b));
    pthread_mutex_lock(&w->lock);
    if (w->tail)
        w->tail->next = n;
    else
        w->head = n;
    w->tail = n;
    pthread_cond_broadcast(&w->cond);
    pthread_mutex_unlock(&w->lock);
    return 0;
}

/* Hands b to the sink, then releases what the sink left in it. Nonzero: stop watching. */
static int emit(struct watch *w, struct watch_batch *b)
{
    int stop = w->sink(w->sink_ctx, b);

    watch_batch_release(b);
    if (stop)
        w->done = 1;
    return stop;
}

/* Lists the prefix and hands it on as a reset batch; the stream then starts after it. */
static int relist(struct watch *w, struct mdo_err *err)
{
    struct etcd_kvs kvs = ETCD_KVS_INIT;
    struct watch_batch b = {1, 0, NULL, 0};
    int ret = etcd_get_prefix(w->e, w->prefix, &kvs, err);

    if (ret)
        return ret;
    b.revision = kvs.revision;
    if (kvs.n && !(b.ev = calloc(kvs.n, sizeof(*b.ev)))) {
        etcd_kvs_release(&kvs);
        return err_set(err, MDO_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < kvs.n; i++) { /* the listing's strings move into the batch */
        b.ev[i].key = kvs.kv[i].key;
        b.ev[i].value = kvs.kv[i].value;
        b.ev[i].len = kvs.kv[i].len;
        b.ev[i].mod_revision = kvs.kv[i].mod_revision;
        kvs.kv[i].key = kvs.kv[i].value = NULL;
    }
    b.n = kvs.n;
    etcd_kvs_release(&kvs);
    w->next_rev = b.revision + 1;
    w->relist = 0;
    emit(w, &b);
    return 0;
}

/* One complete response line from the stream. Returns nonzero to end the stream. */
static int on_line(struct watch *w, const char *p, size_t n)
{
    struct mdo_err err = MDO_ERR_INIT;
    struct watch_resp r;
    struct watch_batch b = {0, 0, NULL, 0};

    if (!n)
        return 0;
    if (watch_resp_parse(p, n, &r, &err)) {
        log_warn("watch", "bad answer from etcd, re-watching", "err=\"%s\"", err.msg);
        set_error(w, err.msg);
        return 1;
    }
    if (r.created)
        set_connected(w, 1);
    if (r.canceled) {
        if (r.compact_revision > 0) {
            log_info("watch", "revision compacted, listing again", "from=%lld compacted=%lld",
                     (long long)w->next_rev, (long long)r.compact_revision);
            w->relist = 1;
        } else {
            char msg[256];
            snprintf(msg, sizeof(msg), "etcd canceled the watch: %s",
                     r.error ? r.error : "no reason given");
            set_error(w, msg);
            w->stream_failed = 1;
        }
        watch_resp_release(&r);
        return 1;
    }
    if (r.progress && r.header_revision >= w->next_rev) {
        /* a progress notice: every event up to header_revision has been sent */
        w->next_rev = r.header_revision + 1;
    }
    if (r.n) {
        b.ev = r.ev;
        b.n = r.n;
        for (size_t i = 0; i < r.n; i++)
            if (r.ev[i].mod_revision > b.revision)
                b.revision = r.ev[i].mod_revision;
        r.ev = NULL;
        r.n = 0;
        /* never from the header: a created answer's header is "now", ahead of events still
         * to come from the start revision */
        if (b.revision >= w->next_rev)
            w->next_rev = b.revision + 1;
        if (emit(w, &b)) {
            watch_resp_release(&r);
            return 1;
        }
    }
    watch_resp_release(&r);
    return 0;
}

static int on_data(void *ctx, const char *p, size_t n)
{
    struct watch *w = ctx;
    char *nl;

    if (buf_add(&w->line, p, n)) {
        set_error(w, "etcd watch answer line over the cap");
        return 1;
    }
    while (w->line.len && (nl = memchr(w->line.ptr, '\n', w->line.len))) {
        size_t len = (size_t)(nl - w->line.ptr);
        int stop = on_line(w, w->line.ptr, len);
        buf_consume(&w->line, len + 1);
        if (stop)
            return 1;
    }
    return 0;
}

/* One stream from w->next_rev until it breaks. */
static int stream(struct watch *w, struct mdo_err *err)
{
    struct http_conn c = {0};
    cJSON *req = cJSON_CreateObject(), *cr = cJSON_AddObjectToObject(req, "create_request");
    char url[1024], rev[24], *k = etcd_b64(w->prefix, strlen(w->prefix)),
                             *e = etcd_b64(w->end, strlen(w->end) ? strlen(w->end) : 1), *body;
    char *token = NULL;
    unsigned cur;
    int ret;

    snprintf(rev, sizeof(rev), "%lld", (long long)w->next_rev);
    if (k && e) {
        cJSON_AddStringToObject(cr, "key", k);
        cJSON_AddStringToObject(cr, "range_end", e);
        cJSON_AddStringToObject(cr, "start_revision", rev);
        cJSON_AddBoolToObject(cr, "progress_notify", 1);
    }
    body = k && e ? json_print(req) : NULL;
    free(k);
    free(e);
    cJSON_Delete(req);
    if (!body)
        return err_set(err, MDO_ENOMEM, "out of memory");
    pthread_mutex_lock(&w->e->lock);
    cur = w->e->cur % w->e->nendpoints;
    snprintf(url, sizeof(url), "%s/v3/watch", w->e->endpoints[cur]);
    token = w->e->token && *w->e->token ? strdup(w->e->token) : NULL; /* "": auth is off */
    c.ca = w->e->ca;
    c.cert = w->e->cert;
    c.key = w->e->key;
    pthread_mutex_unlock(&w->e->lock);
    c.auth_header = token;
    c.connect_timeout_ms = 2000;
    buf_reset(&w->line);
    w->relist = w->stream_failed = 0;
    /* No idle timeout: a quiet prefix is a quiet stream. A dead etcd closes the connection
     * (and curl's TCP keepalive finds a vanished peer). */
    ret = http_stream(&c, "POST", url, body, "application/json", on_data, w, w->stopp, 0, err);
    if (ret == -MDO_ENET) {
        pthread_mutex_lock(&w->e->lock);
        if (w->e->cur % w->e->nendpoints == cur)
            w->e->cur = cur + 1; /* as etcd.c does: the next endpoint next time */
        pthread_mutex_unlock(&w->e->lock);
    }
    if (ret == -MDO_EHTTP && err->http_status == 401 && w->e->user) {
        pthread_mutex_lock(&w->e->lock); /* expired token: the next listing authenticates */
        free(w->e->token);
        w->e->token = NULL;
        pthread_mutex_unlock(&w->e->lock);
        w->relist = 1;
    }
    free(token);
    free(body);
    return ret;
}

static int stopping(const struct watch *w)
{
    return *w->stopp || w->done;
}

static void nap(struct watch *w, long ms)
{
    while (ms > 0 && !stopping(w)) {
        long step = ms < 100 ? ms : 100;
        struct timespec ts = {0, step * 1000000L};
        nanosleep(&ts, NULL);
        ms -= step;
    }
}

/* List, stream, re-watch, until stopped. */
static void run_loop(struct watch *w)
{
    unsigned attempt = 0;

    while (!stopping(w)) {
        struct mdo_err err = MDO_ERR_INIT;
        time_t t0 = time(NULL);
        int ret = 0;

        if (!w->next_rev || w->relist || (w->e->user && !w->e->token))
            ret = relist(w, &err);
        if (!ret && !stopping(w))
            ret = stream(w, &err);
        set_connected(w, 0);
        if (stopping(w))
            break;
        if (ret)
            set_error(w, err.msg);
        if (w->relist && !ret) /* compacted: list again at once */
            continue;
        if (time(NULL) - t0 > 10)
            attempt = 0;
        {
            long ms = 200L << (attempt < 5 ? attempt : 5);
            if (ms > 5000)
                ms = 5000;
            ms = ms * 3 / 4 + (long)(random() % (ms / 2 + 1));
            log_debug("watch", "stream ended, re-watching", "from=%lld err=\"%s\" in_ms=%ld",
                      (long long)w->next_rev, ret ? err.msg : "closed by etcd", ms);
            attempt++;
            nap(w, ms);
        }
    }
    buf_release(&w->line);
}

static void *watch_main(void *arg)
{
    struct watch *w = arg;

    run_loop(w);
    http_thread_cleanup();
    return NULL;
}

static int watch_init(struct watch *w, struct etcd *e, const char *prefix)
{
    pthread_condattr_t ca;

    memset(w, 0, sizeof(*w));
    w->e = e;
    w->prefix = strdup(prefix);
    w->end = etcd_prefix_end(prefix);
    w->line = (struct buf)BUF_INIT(LINE_CAP);
    w->stopp = &w->stop;
    if (!w->prefix || !w->end) {
        free(w->prefix);
        free(w->end);
        return -MDO_ENOMEM;
    }
    pthread_mutex_init(&w->lock, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&w->cond, &ca);
    pthread_condattr_destroy(&ca);
    return 0;
}

static void watch_release(struct watch *w)
{
    struct wnode *n;

    while ((n = w->head)) {
        w->head = n->next;
        watch_batch_release(&n->b);
        free(n);
    }
    pthread_cond_destroy(&w->cond);
    pthread_mutex_destroy(&w->lock);
    free(w->prefix);
    free(w->end);
}

int watch_run(struct etcd *e, const char *prefix, int (*fn)(void *ctx, struct watch_batch *b),
              void *ctx, const volatile int *stop, struct mdo_err *err)
{
    struct watch w;

    if (watch_init(&w, e, prefix))
        return err_set(err, MDO_ENOMEM, "out of memory");
    w.sink = fn;
    w.sink_ctx = ctx;
    w.stopp = stop;
    run_loop(&w);
    watch_release(&w);
    return 0;
}

int watch_start(struct watch **out, struct etcd *e, const char *prefix, struct mdo_err *err)
{
    struct watch *w = malloc(sizeof(*w));

    *out = NULL;
    if (!w || watch_init(w, e, prefix)) {
        free(w);
        return err_set(err, MDO_ENOMEM, "out of memory");
    }
    w->sink = queue_sink;
    w->sink_ctx = w;
    if (pthread_create(&w->th, NULL, watch_main, w)) {
        int e2 = errno;
        watch_release(w);
        free(w);
        return err_set(err, MDO_EFAIL, "cannot start the watch thread: %s", strerror(e2));
    }
    *out = w;
    return 0;
}

int watch_next(struct watch *w, long timeout_ms, struct watch_batch *out)
{
    struct timespec until;
    struct wnode *n;

    clock_gettime(CLOCK_MONOTONIC, &until);
    if (timeout_ms > 0) {
        until.tv_sec += timeout_ms / 1000;
        until.tv_nsec += (timeout_ms % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
    }
    pthread_mutex_lock(&w->lock);
    while (!w->head && timeout_ms != 0) {
        int rc = timeout_ms < 0 ? pthread_cond_wait(&w->cond, &w->lock)
                                : pthread_cond_timedwait(&w->cond, &w->lock, &until);
        if (rc == ETIMEDOUT)
            break;
    }
    n = w->head;
    if (n) {
        w->head = n->next;
        if (!w->head)
            w->tail = NULL;
    }
    pthread_mutex_unlock(&w->lock);
    if (!n)
        return 0;
    *out = n->b;
    free(n);
    return 1;
}

int watch_status(struct watch *w, char *msg, size_t n)
{
    int up;

    pthread_mutex_lock(&w->lock);
    up = w->connected;
    if (msg && n)
        snprintf(msg, n, "%s", w->error);
    pthread_mutex_unlock(&w->lock);
    return up;
}

void watch_stop(struct watch *w)
{
    if (!w)
        return;
    w->stop = 1;
    pthread_join(w->th, NULL);
    watch_release(w);
    free(w);
}
