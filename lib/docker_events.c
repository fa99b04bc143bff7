/* docker_events.c - the docker backend's event stream: GET /events (newline-delimited JSON) of
 * this environment's containers, each start/stop turned into the sink's up/down.
 *
 * Honest health: the stream counts as connected when the engine has answered the request (its
 * response headers arrived), not when it was sent. Docker sends nothing on a quiet stream, not
 * even heartbeats, so silence cannot tell a stalled engine from an idle one: a second thread
 * asks GET /_ping on its own handle every PING_EVERY_MS, and an engine that does not answer it
 * within PING_TIMEOUT_MS ends the stream (tagged MDO_SRC_DOCKER) so the caller reconnects.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "buf.h"
#include "clock.h"
#include "docker.h"
#include "http.h"
#include "json.h"
#include "log.h"
#include "names.h"

#define EVENT_LINE_CAP  (1u << 20)
#define PING_EVERY_MS   5000
#define PING_TIMEOUT_MS 3000

struct dk_evstate {
    struct dk_sched *d;
    const struct sched_sink *sink;
    struct buf line;
};

/* The watchdog beside one stream. stop_stream is what the stream watches: set when the
 * caller's stop is, or when a ping fails. stalled and err are read after the join. */
struct dk_ping {
    struct dk_sched *d;
    const volatile int *outer;
    volatile int stop_stream;
    volatile int done; /* the stream ended: the thread ends */
    int stalled;
    struct mdo_err err;
};

static int ping(struct dk_ping *p)
{
    struct http_conn c = p->d->conn;
    struct http_resp resp = HTTP_RESP_INIT;
    int ret;

    c.timeout_ms = PING_TIMEOUT_MS;
    c.connect_timeout_ms = PING_TIMEOUT_MS;
    ret = http_request(&c, "GET", DK_API "/_ping", NULL, 0, NULL, &resp, &p->err);
    if (!ret)
        ret = http_check(&resp, 200, 299, "GET", DK_API "/_ping", &p->err);
    http_resp_release(&resp);
    return ret;
}

static void *ping_main(void *arg)
{
    struct dk_ping *p = arg;
    int64_t next = clock_deadline_ms(PING_EVERY_MS);

    while (!p->done) {
        if (p->outer && *p->outer) {
            p->stop_stream = 1;
            break;
        }
        if (!clock_left_ms(next)) {
            if (ping(p)) {
                p->stalled = 1;
                p->stop_stream = 1;
                break;
            }
            next = clock_deadline_ms(PING_EVERY_MS);
        }
        clock_nap_ms(100, &p->done);
    }
    http_thread_cleanup();
    return NULL;
}

static void on_open(void *ctx, long status)
{
    struct dk_evstate *st = ctx;

    log_info("docker", "event stream connected", "socket=%s status=%ld", st->d->conn.unix_socket,
             status);
    st->sink->connected(st->sink->ctx);
}

static int is_action(const char *action, const char *const *list)
{
    for (; *list; list++)
        if (!strcmp(action, *list))
            return 1;
    return 0;
}

/* A container whose mdo.service label or name cannot be a key (mdo.service=a/b): said once per
 * container (the set and key the listing uses: one line in all), then its events are skipped. Only
 * the engine's hex id is shown: the names are what is not to be trusted in a log line. */
static void refuse_once(struct dk_sched *d, const char *id, const char *name)
{
    struct buf key = BUF_INIT(0); /* "/<name>", as inspect's Name: dk_record's key */
    int first;

    if (buf_addf(&key, "/%s", name))
        return;
    pthread_mutex_lock(&d->lock);
    first = !strset_has(&d->refused, key.ptr);
    if (first)
        strset_add(&d->refused, key.ptr);
    pthread_mutex_unlock(&d->lock);
    buf_release(&key);
    if (first)
        log_warn("docker",
                 "events of a container skipped, its service label or name breaks "
                 "the name rule",
                 "id=%.12s", segment_ok(id) ? id : "(not shown)");
}

static void on_event(struct dk_evstate *st, const cJSON *ev)
{
    static const char *const gone[] = {"die", "destroy", "stop", "pause", NULL};
    static const char *const runs[] = {"start", "unpause", "rename", NULL};
    const char *action = json_str(ev, "Action"), *id = json_str(ev, "id");
    const cJSON *attrs = cJSON_GetObjectItem(cJSON_GetObjectItem(ev, "Actor"), "Attributes");
    const char *name = json_str(attrs, "name"), *service = json_str(attrs, "mdo.service");
    int health = action && !strncmp(action, "health_status", 13);
    struct mdo_err err = MDO_ERR_INIT;

    if (!action || !id || !name || !service)
        return;
    /* names from the engine become registry keys: checked first (a refused container is
     * logged by the listing, which sees it too) */
    if (!name_ok(service) || !segment_ok(name)) {
        refuse_once(st->d, id, name);
        return;
    }
    log_debug("docker", "event", "action=\"%s\" container=%s", action, name);
    if (is_action(action, gone)) {
        st->sink->down(st->sink->ctx, service, name);
    } else if (!strcmp(action, "rename")) {
        const char *old = json_str(attrs, "oldName");
        if (old && *old == '/')
            old++;
        if (old && segment_ok(old))
            st->sink->down(st->sink->ctx, service, old);
    }
    if (is_action(action, runs) || health) {
        cJSON *in = NULL;
        struct reg_record rec;
        int r = dk_inspect(st->d, id, &in, &err);
        if (!r)
            r = dk_record(st->d, in, &rec, &err);
        if (!r)
            st->sink->up(st->sink->ctx, &rec);
        else if (r == 1 && !health)
            st->sink->down(st->sink->ctx, service, name); /* died again already */
        else if (r < 0 && r != -MDO_ENOTFOUND)
            log_warn("docker", "inspect failed", "container=%s err=\"%s\"", name, err.msg);
        cJSON_Delete(in);
    }
}

static int on_data(void *ctx, const char *p, size_t n)
{
    struct dk_evstate *st = ctx;
    size_t off = 0;
    char *nl;

    if (buf_add(&st->line, p, n)) {
        log_warn("docker", "event line over 1 MiB dropped", "%s", "");
        buf_reset(&st->line);
        return 0;
    }
    /* every whole line of the chunk, then what they took dropped at once (a consume per line
     * moved the chunk's rest each time) */
    while ((nl = memchr(st->line.ptr + off, '\n', st->line.len - off))) {
        const char *line = st->line.ptr + off;
        cJSON *ev = cJSON_ParseWithLength(line, (size_t)(nl - line));
        if (ev)
            on_event(st, ev);
        else if (nl > line)
            log_warn("docker", "event is not JSON, skipped", "len=%zu", (size_t)(nl - line));
        cJSON_Delete(ev);
        off = (size_t)(nl - st->line.ptr) + 1;
    }
    buf_consume(&st->line, off);
    return 0;
}

int dk_events(struct sched *s, const struct sched_sink *sink, const volatile int *stop,
              struct mdo_err *err)
{
    struct dk_sched *d = dk_of(s);
    struct dk_evstate st = {d, sink, BUF_INIT(EVENT_LINE_CAP)};
    struct buf url = BUF_INIT(0);
    struct http_conn c = d->conn;
    struct dk_ping p;
    pthread_t th;
    int ret, watched;

    /* since: replays what happened while (re)connecting, so the reconcile that connected()
     * starts and the stream overlap instead of leaving a gap */
    buf_addf(&url, "%s/events?since=%lld&filters=", DK_API, (long long)time(NULL) - 2);
    if (dkr_filters(&url, "container", d->cfg->environment, NULL)) {
        buf_release(&url);
        err_set(err, MDO_ENOMEM, "out of memory");
        return err_from(err, MDO_SRC_DOCKER);
    }
    c.timeout_ms = 0;
    memset(&p, 0, sizeof(p));
    p.d = d;
    p.outer = stop;
    watched = !pthread_create(&th, NULL, ping_main, &p);
    if (!watched)
        log_warn("docker", "cannot start the stream's watchdog, a stalled engine goes unnoticed",
                 "%s", "");
    /* connected() comes from on_open, once the engine has answered */
    ret = http_stream_open(&c, "GET", url.ptr, NULL, NULL, on_open, on_data, &st,
                           watched ? &p.stop_stream : stop, 0, err);
    if (watched) {
        p.done = 1;
        pthread_join(th, NULL);
    }
    if (watched && p.stalled && !(stop && *stop)) {
        char cause[1024]; /* a copy: the ping's error text */
        snprintf(cause, sizeof(cause), "%.1000s", p.err.why[0] ? p.err.why : p.err.msg);
        err_set(err, MDO_ENET,
                "Docker engine at %s did not answer GET /_ping within %d ms, reconnecting "
                "its event stream: %s",
                c.unix_socket, PING_TIMEOUT_MS, cause);
        err_why(err, "%s", cause);
        /* said here too: the caller may be slow to log what it gets back */
        log_warn("docker", "engine did not answer GET /_ping, its event stream ends",
                 "socket=%s timeout_ms=%d err=\"%s\"", c.unix_socket, PING_TIMEOUT_MS, cause);
        ret = -MDO_ENET;
    } else if (ret == -MDO_ENET) {
        char cause[1024]; /* a copy: err's own text cannot be an argument of err_set on it */
        snprintf(cause, sizeof(cause), "%.1000s", err->why[0] ? err->why : err->msg);
        err_set(err, MDO_ENET, "lost Docker's event stream at %s: %s", c.unix_socket, cause);
        err_why(err, "%s", cause);
    }
    if (ret < 0)
        err_from(err, MDO_SRC_DOCKER);
    buf_release(&st.line);
    buf_release(&url);
    return ret;
}
