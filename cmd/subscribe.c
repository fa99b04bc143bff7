/* subscribe.c - `mdo subscribe`: the registry keeper daemon (events + periodic reconcile + HTTP).
 *
 * This file is the daemon: its threads, signals, the leader lease's ticks and the reconcile
 * schedule, all timed on the monotonic clock. Its HTTP face is subscribe_http.c, which reads
 * what struct sub_face (subscribe.h) lends it.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "cbwatch.h"
#include "clock.h"
#include "subscribe_callbacks.h"
#include "cmd.h"
#include "http.h"
#include "keeper.h"
#include "leader.h"
#include "log.h"
#include "server.h"
#include "strset.h"
#include "subscribe.h"

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
/* Set by the handler; read by the main loop, every nap and the events thread (the backends'
 * events() and clock_nap_ms() take it as const volatile int *, which sig_atomic_t is here). */
static volatile sig_atomic_t stopping;
_Static_assert(_Generic(&stopping, volatile int * : 1, default : 0), "sig_atomic_t is not int");

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
    struct sub_face face;    /* what the HTTP routes read */
    struct buf callback_url; /* subscriber.mode: callback: <public_url>/marathon/callback */
    int subscribed;
    pthread_mutex_t lock; /* guards want_reconcile */
    int want_reconcile;
};

static void want_reconcile(struct sub *s)
{
    pthread_mutex_lock(&s->lock);
    s->want_reconcile = 1;
    pthread_mutex_unlock(&s->lock);
}

static void on_connected(void *ctx)
{
    struct sub *s = ctx;

    want_reconcile(s);
    pthread_mutex_lock(&s->k.lock);
    s->k.st.stream_connected = 1;
    pthread_mutex_unlock(&s->k.lock);
}

/* Reconnects: 0.5 s, 1 s, 2 s ... 30 s with jitter; back to the start after a long stream. */
#define BACKOFF_BASE_MS 500
#define BACKOFF_CAP_MS  30000

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
        int64_t t0 = clock_now_ms();
        int ret = s->ce.ops->events(s->ce.sched, &s->sink, &stopping, &err);

        pthread_mutex_lock(&s->k.lock);
        s->k.st.stream_connected = 0;
        if (ret)
            snprintf(s->k.st.last_error, sizeof(s->k.st.last_error), "%.255s", err.msg);
        pthread_mutex_unlock(&s->k.lock);
        if (stopping)
            break;
        if (clock_now_ms() - t0 > 30000)
            attempt = 0;
        log_warn("subscribe", "event stream ended, reconnecting", "err=\"%s\" attempt=%u",
                 ret ? err.msg : "closed by peer", attempt + 1);
        clock_nap_ms(clock_backoff_ms(attempt++, BACKOFF_BASE_MS, BACKOFF_CAP_MS), &stopping);
    }
    http_thread_cleanup();
    return NULL;
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

/* The daemon's loop until a signal: the leader lease ticks every ttl/3 seconds; a reconcile
 * pass runs at start, after a reconnect or a takeover, every subscriber.resync seconds, soon
 * after a failed write, 3 s after removals were held back, and with backoff after a failure. */
static void run(struct sub *s)
{
    const int64_t resync_ms = (int64_t)s->ce.cfg->subscriber.resync * 1000;
    int64_t next_pass = 0, next_tick = 0;
    unsigned attempt = 0;

    want_reconcile(s);
    while (!stopping) {
        int64_t now = clock_now_ms();
        int due;

        if (now >= next_tick) {
            struct mdo_err lerr = MDO_ERR_INIT;
            int was = s->lead.is_leader;
            if (leader_tick(&s->lead, &lerr))
                log_warn("subscribe", "leader lease not renewed", "err=\"%s\"", lerr.msg);
            if (was != s->lead.is_leader) {
                keeper_set_writer(&s->k, s->lead.is_leader);
                if (s->lead.is_leader) /* take over: make the registry true first */
                    want_reconcile(s);
            }
            next_tick = now + (s->lead.ttl / 3 ? s->lead.ttl / 3 : 1) * 1000;
        }

        pthread_mutex_lock(&s->lock);
        due = s->want_reconcile || now >= next_pass;
        s->want_reconcile = 0;
        pthread_mutex_unlock(&s->lock);
        if (!due) {
            struct keeper_stats st;
            keeper_snapshot(&s->k, &st, NULL);
            if (st.dirty && now >= next_pass - resync_ms + 1000)
                due = 1; /* a write failed: heal soon, not at the next resync */
        }
        if (due && s->callback_url.len)
            callback_ensure(s);
        if (due) {
            struct mdo_err rerr = MDO_ERR_INIT;
            struct keeper_stats st;
            struct strset held = STRSET_INIT;
            if (keeper_reconcile(&s->k, &rerr)) {
                log_warn("subscribe", "reconcile failed, retrying", "err=\"%s\" attempt=%u",
                         rerr.msg, attempt + 1);
                next_pass = clock_now_ms() +
                            clock_backoff_ms(attempt++, BACKOFF_BASE_MS, BACKOFF_CAP_MS) + 1000;
            } else {
                attempt = 0;
                keeper_snapshot(&s->k, &st, &held);
                /* removals held back are re-checked soon, by a second listing */
                next_pass = clock_now_ms() + (held.n ? 3000 : resync_ms);
            }
            strset_release(&held);
        }
        clock_nap_ms(200, &stopping);
    }
}

/* Everything between opening the environment and closing it: the keeper, the lease, the HTTP
 * face, the callbacks, the events thread; the loop; then the way back, in reverse. */
static void serve(struct sub *s, const char *listen, long lease_s, struct mdo_err *err)
{
    const struct cfg *cfg = s->ce.cfg;
    struct server *srv = NULL;
    struct sigaction sa;
    pthread_t events;
    int ret, have_thread = 0;
    char host[128] = "?", *val;

    if (!strcmp(cfg->subscriber.mode, "callback")) {
        const char *pub = cfg->subscriber.public_url;
        if (!s->ce.ops->subscription || !s->ce.ops->feed) {
            err_set(err, MDO_ECONFIG,
                    "%s: subscriber.mode 'callback' needs scheduler: marathon (the %s "
                    "backend has no http callbacks): use mode: events",
                    cfg->path, s->ce.ops->name);
            return;
        }
        if (!pub) {
            err_set(err, MDO_ECONFIG,
                    "%s: subscriber.mode 'callback' needs subscriber.public_url, the URL "
                    "at which Marathon reaches this subscriber",
                    cfg->path);
            return;
        }
        buf_addf(&s->callback_url, "%.*s/marathon/callback",
                 (int)(strlen(pub) - (pub[0] && pub[strlen(pub) - 1] == '/')), pub);
    }
    keeper_init(&s->k, cfg, &s->ce.etcd, s->ce.ops, s->ce.sched);
    keeper_set_writer(&s->k, 0); /* until the lease is ours */
    gethostname(host, sizeof(host) - 1);
    val = leader_value(host, (long)getpid(), listen);
    ret = val ? leader_init(&s->lead, &s->ce.etcd, cfg->etcd.prefix, cfg->environment, val, lease_s)
              : -MDO_ENOMEM;
    free(val);
    if (ret) {
        if (ret == -MDO_ENOMEM)
            err_set(err, MDO_ENOMEM, "out of memory");
        else
            err_set(err, MDO_ECONFIG, "environment '%s' makes no leader key", cfg->environment);
        goto out_keeper;
    }
    /* before any thread exists: a signal from now on stops the daemon cleanly */
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    ret = server_start(&srv, listen, err);
    if (ret)
        goto out_keeper;
    ret = callbacks_start(&s->cb, cfg, &s->ce.etcd, err);
    if (ret)
        goto out_server;
    s->face = (struct sub_face){cfg, &s->ce.etcd, &s->k, s->cb, s->ce.ops, s->ce.sched, &s->sink};
    sub_http_routes(srv, &s->face, s->callback_url.len > 0);
    subscribe_callbacks_routes(srv, s->cb);
    s->k.changed = callbacks_changed;
    s->k.changed_ctx = s->cb;
    srandom((unsigned)time(NULL) ^ (unsigned)getpid());
    log_info("subscribe", "started", "environment=%s scheduler=%s listen=%s port=%d resync=%u",
             cfg->environment, s->ce.ops->name, listen, server_port(srv), cfg->subscriber.resync);
    /* DESIGN §10: without credentials etcd must run without auth, and anything that reaches it
     * may write the registry; said once, at start */
    if (!cfg->etcd.username)
        log_warn("subscribe", "the registry is open: etcd.username is not set", "hint=\"%s\"",
                 "run ops/etcd-auth ENV and set etcd.username/password and etcd.guest");
    else if (!cfg->etcd.guest.username)
        log_warn("subscribe",
                 "etcd.guest is not set: applets in containers cannot read the registry",
                 "hint=\"%s\"", "set etcd.guest {username, password} (ops/etcd-auth ENV makes it)");
    /* in callback mode, events come to the HTTP server; callback_ensure() keeps them coming */
    if (!s->callback_url.len && pthread_create(&events, NULL, events_main, s) == 0)
        have_thread = 1;
    else if (!s->callback_url.len)
        log_error("subscribe", "cannot start the events thread", "err=%s", strerror(errno));
    run(s);
    log_info("subscribe", "stopping", "signal=%d", (int)got_signal);
    if (have_thread)
        pthread_join(events, NULL);
    keeper_set_writer(&s->k, 0);
    leader_resign(&s->lead); /* a follower takes over now, not after the lease runs out */
    if (s->callback_url.len) {
        struct mdo_err cerr = MDO_ERR_INIT;
        if (s->ce.ops->subscription(s->ce.sched, s->callback_url.ptr, SCHED_SUB_DEL, &cerr))
            log_warn("subscribe", "cannot unregister the event callback", "err=\"%s\"", cerr.msg);
        else
            log_info("subscribe", "event callback unregistered", "url=%s", s->callback_url.ptr);
    }
    server_stop(srv); /* no handler runs past here: the callbacks can go */
    srv = NULL;
    callbacks_stop(s->cb);
out_server:
    server_stop(srv);
out_keeper:
    leader_release(&s->lead);
    keeper_release(&s->k);
}

int cmd_subscribe(struct cmd_env *env, const struct cmd_args *args)
{
    struct mdo_err err = MDO_ERR_INIT;
    struct cmd_args a = *args; /* parsed and checked by run(), which owns a.pos */
    struct sub s;
    int ret;

    (void)env;    /* the daemon opens its own into struct sub, its threads' context */
    a.pos = NULL; /* run() frees the array: the free() at the end must not */
    memset(&s, 0, sizeof(s));
    pthread_mutex_init(&s.lock, NULL);
    s.sink = (struct sched_sink){&s, on_connected, sink_up, sink_down};
    s.callback_url = (struct buf)BUF_INIT(0);
    ret = cmd_env_open(&s.ce, &a, NEED_ETCD | NEED_SCHED, &err);
    if (ret)
        goto out;
    serve(&s, a.listen ? a.listen : s.ce.cfg->subscriber.listen, a.lease_s ? (long)a.lease_s : 10,
          &err);
    cmd_env_close(&s.ce);
out:
    buf_release(&s.callback_url);
    pthread_mutex_destroy(&s.lock);
    http_thread_cleanup();
    free(a.pos);
    return err_report("subscribe", &err);
}
