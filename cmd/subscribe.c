/* subscribe.c - `mdo subscribe`: the registry keeper daemon (events + periodic reconcile + HTTP).
 *
 * This file is the daemon: its threads, signals and the reconcile schedule, all timed on the
 * monotonic clock. Threads: the events thread (the backend's stream; it only queues), the
 * keeper's writer (owns every registry write), the lease thread (leader.c: renews every
 * ttl/3), the reconcile thread (listings, rechecks, diffs: hands the changes to the writer),
 * civetweb's workers (read snapshots only) and the callbacks dispatcher (leader only). The main
 * thread follows leadership (promotion: a fresh callbacks baseline, then a reconcile) and, on
 * SIGTERM, stops them in order within a bound: a thread stuck in a peer's call is abandoned.
 * Its HTTP face is subscribe_http.c, which reads what struct sub_face (subscribe.h) lends it.
 */
#include <errno.h>
#include <malloc.h>
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
#include "redact.h"
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
    "SIGTERM or SIGINT: stop taking events, finish (or abandon) the current write, give up\n"
    "leadership, exit 0 within 5 s, also when the scheduler hangs.\n"
    "\n"
    "Several subscribers may run: one leads (an etcd lease on /mdo/<env>/leader) and writes;\n"
    "the others serve reads and take over within the lease time when the leader goes. Every\n"
    "registry write is fenced by the leader key, and a leader that could not renew its lease\n"
    "in time stops writing before the lease runs out.\n"
    "\n"
    "HTTP (default subscriber.listen, 127.0.0.1:5000):\n"
    "  GET /health          200 or 503, with the reasons as JSON\n"
    "  GET /info            the registry as a page\n"
    "  GET /v1/services[/S] the registry as JSON\n"
    "  GET /metrics         Prometheus text: events, lag, reconcile diffs, etcd errors,\n"
    "                       callbacks sent and failed\n"
    "  POST /v1/callbacks, DELETE /v1/callbacks/ID   register/remove a membership callback\n"
    "Other methods are answered 405 (with Allow). Off loopback every route but /health (and\n"
    "the Marathon receiver, whose URL holds a secret) wants \"Authorization: Bearer\n"
    "<subscriber.token>\"; such a listen without a token is refused at start, unless\n"
    "subscriber.insecure: true.\n"
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

struct sub;
/* A thread that may be abandoned: joined only when it has returned within a bound. */
struct bthread {
    pthread_t t;
    pthread_mutex_t m;
    pthread_cond_t c;
    int started, done;
    void (*fn)(struct sub *s);
    struct sub *s;
};

struct sub {
    struct cmd_env ce;
    struct keeper k;
    struct callbacks *cb;
    struct leader lead;
    struct sched_sink sink;
    struct sub_face face;    /* what the HTTP routes read */
    struct buf callback_url; /* subscriber.mode: callback: <public_url>/marathon/callback, then
                              * /<secret> once the secret is loaded (face.secret_ready) */
    size_t callback_base;    /* the length without /<secret>: what the log shows */
    int subscribed;
    pthread_mutex_t lock; /* guards want_reconcile */
    pthread_cond_t wake;  /* want_reconcile was set */
    int want_reconcile;
    struct server *srv;
    struct bthread *events;  /* started by the reconcile thread once the scheduler is open */
    struct mdo_err open_err; /* the scheduler cannot be opened, not for a passing reason */
    int open_failed;
};

static void *bthread_main(void *arg)
{
    struct bthread *b = arg;

    b->fn(b->s);
    http_thread_cleanup();
    pthread_mutex_lock(&b->m);
    b->done = 1;
    pthread_cond_broadcast(&b->c);
    pthread_mutex_unlock(&b->m);
    return NULL;
}

static int bthread_start(struct bthread *b, void (*fn)(struct sub *), struct sub *s)
{
    int e;

    memset(b, 0, sizeof(*b));
    pthread_mutex_init(&b->m, NULL);
    clock_cond_init(&b->c);
    b->fn = fn;
    b->s = s;
    e = pthread_create(&b->t, NULL, bthread_main, b);
    b->started = !e;
    return e;
}

/* 0 when it returned within wait_ms (joined), -1 when it was abandoned (detached; b stays). */
static int bthread_join(struct bthread *b, long wait_ms, const char *what)
{
    int64_t deadline = clock_deadline_ms(wait_ms);
    int done;

    if (!b->started)
        return 0;
    pthread_mutex_lock(&b->m);
    while (!b->done && clock_left_ms(deadline) > 0) {
        struct timespec until = clock_timespec(deadline);
        pthread_cond_timedwait(&b->c, &b->m, &until);
    }
    done = b->done;
    pthread_mutex_unlock(&b->m);
    b->started = 0;
    if (!done) {
        log_warn("subscribe", "thread stuck in a peer's call, abandoned", "thread=%s", what);
        pthread_detach(b->t);
        return -1;
    }
    pthread_join(b->t, NULL);
    pthread_cond_destroy(&b->c);
    pthread_mutex_destroy(&b->m);
    return 0;
}

/* One step of the way out, on a thread of its own, given wait_ms. 0, or -1 abandoned. */
static int bounded(void (*fn)(struct sub *), struct sub *s, long wait_ms, const char *what)
{
    static struct bthread b[6]; /* an abandoned one must outlive this call */
    static unsigned used;
    struct bthread *t = used < 6 ? &b[used++] : NULL;

    if (!t || bthread_start(t, fn, s)) {
        fn(s);
        return 0;
    }
    return bthread_join(t, wait_ms, what);
}

static void want_reconcile(struct sub *s)
{
    pthread_mutex_lock(&s->lock);
    s->want_reconcile = 1;
    pthread_cond_signal(&s->wake);
    pthread_mutex_unlock(&s->lock);
}

/* The reconcile thread's nap: up to ms, or until a pass is wanted (or a signal). */
static void nap_until_wanted(struct sub *s, int64_t ms)
{
    int64_t deadline = clock_deadline_ms(ms);

    pthread_mutex_lock(&s->lock);
    while (!s->want_reconcile && !stopping && clock_left_ms(deadline) > 0) {
        int64_t step = clock_left_ms(deadline) < 100 ? clock_left_ms(deadline) : 100;
        struct timespec until = clock_timespec(clock_deadline_ms(step)); /* sees `stopping` */
        pthread_cond_timedwait(&s->wake, &s->lock, &until);
    }
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

static void events_main(struct sub *s)
{
    unsigned attempt = 0;

    while (!stopping) {
        struct mdo_err err = MDO_ERR_INIT;
        int64_t t0 = clock_now_ms();
        int ret = s->ce.ops->events(s->ce.sched, &s->sink, &stopping, &err), was_connected;

        pthread_mutex_lock(&s->k.lock);
        was_connected = s->k.st.stream_connected;
        s->k.st.stream_connected = 0;
        if (ret)
            snprintf(s->k.st.last_error, sizeof(s->k.st.last_error), "%.255s", err.msg);
        if (ret) /* /health shows it */
            redact_fixed(s->k.st.last_error, sizeof(s->k.st.last_error));
        pthread_mutex_unlock(&s->k.lock);
        if (stopping)
            break;
        /* a stream the peer answered starts the backoff over: separate outages do not add up
         * (one that keeps answering and dropping at once still waits the base delay) */
        if (was_connected || clock_now_ms() - t0 > 30000)
            attempt = 0;
        log_warn("subscribe", "event stream ended, reconnecting", "err=\"%s\" attempt=%u",
                 ret ? err.msg : "closed by peer", attempt + 1);
        clock_nap_ms(clock_backoff_ms(attempt++, BACKOFF_BASE_MS, BACKOFF_CAP_MS), &stopping);
    }
}

/* Callback mode: our URL must stay registered with the scheduler (a restarted Marathon may
 * have lost it); registering again means events were missed, so a reconcile follows. */
static void callback_ensure(struct sub *s)
{
    struct mdo_err err = MDO_ERR_INIT;
    char *old;
    int r;

    if (!s->face.secret_ready) { /* the URL's secret segment, from etcd (or made there) */
        if (sub_callback_secret(&s->face, &err)) {
            log_warn("subscribe", "cannot read the callback path secret, retrying", "err=\"%s\"",
                     err.msg);
            keeper_note(&s->k, -err.code, &err);
            return;
        }
        old = strndup(s->callback_url.ptr, s->callback_base);
        buf_addf(&s->callback_url, "/%s", s->face.secret);
        /* an older mdo registered the bare URL: Marathon would keep posting to a 404 */
        if (old && s->ce.ops->subscription(s->ce.sched, old, SCHED_SUB_CHECK, &err) == 1) {
            if (s->ce.ops->subscription(s->ce.sched, old, SCHED_SUB_DEL, &err))
                log_warn("subscribe", "cannot remove the old callback URL", "url=%s err=\"%s\"",
                         old, err.msg);
            else
                log_info("subscribe", "old callback URL (no secret) removed", "url=%s", old);
        }
        free(old);
        err_clear(&err);
    }
    r = s->ce.ops->subscription(s->ce.sched, s->callback_url.ptr, SCHED_SUB_CHECK, &err);

    if (r == 0)
        r = s->ce.ops->subscription(s->ce.sched, s->callback_url.ptr, SCHED_SUB_ADD, &err);
    else if (r == 1)
        r = 0;
    if (r) {
        log_warn("subscribe", "cannot register the event callback", "url=%.*s/<secret> err=\"%s\"",
                 (int)s->callback_base, s->callback_url.ptr, err.msg);
        pthread_mutex_lock(&s->k.lock);
        s->k.st.stream_connected = 0;
        pthread_mutex_unlock(&s->k.lock);
        s->subscribed = 0;
        return;
    }
    if (!s->subscribed)
        log_info("subscribe", "event callback registered", "url=%.*s/<secret>",
                 (int)s->callback_base, s->callback_url.ptr);
    if (!s->subscribed)
        on_connected(s);
    s->subscribed = 1;
}

/* The reconcile thread: a pass at start, after a reconnect or a takeover, every
 * subscriber.resync seconds, soon after a failed write, 3 s after removals were held back, and
 * with backoff after a failure. A follower's passes write nothing (keeper_reconcile). */
static void reconcile_main(struct sub *s)
{
    const int64_t resync_ms = (int64_t)s->ce.cfg->subscriber.resync * 1000;
    int64_t next_pass = 0;
    unsigned attempt = 0;

    /* the scheduler is opened here, not before the HTTP face: opening may ask the engine,
     * which may hang; meanwhile /health answers and names it */
    while (!stopping && !s->ce.sched) {
        struct mdo_err oerr = MDO_ERR_INIT;
        struct sched *sc = NULL;
        int ret;
        keeper_waiting(&s->k, 1);
        ret = s->ce.ops->open(&sc, s->ce.cfg, &oerr);
        keeper_waiting(&s->k, 0);
        if (!ret) {
            s->ce.sched = sc;
            s->k.sched = sc;
            s->face.sched = sc;
            break;
        }
        keeper_note(&s->k, ret, &oerr);
        if (oerr.code != MDO_ENET) { /* not a peer that is away: say it and stop */
            s->open_err = oerr;
            s->open_failed = 1;
            stopping = 1;
            return;
        }
        log_warn("subscribe", "cannot open the scheduler, retrying", "err=\"%s\" attempt=%u",
                 oerr.msg, attempt + 1);
        clock_nap_ms(clock_backoff_ms(attempt++, BACKOFF_BASE_MS, BACKOFF_CAP_MS), &stopping);
    }
    attempt = 0;
    /* in callback mode, events come to the HTTP server; callback_ensure() keeps them coming */
    if (!stopping && !s->callback_url.len && bthread_start(s->events, events_main, s))
        log_error("subscribe", "cannot start the events thread", "err=%s", strerror(errno));

    while (!stopping) {
        int64_t now = clock_now_ms();
        int due;

        pthread_mutex_lock(&s->lock);
        due = s->want_reconcile || now >= next_pass;
        s->want_reconcile = 0;
        pthread_mutex_unlock(&s->lock);
        if (!due) {
            struct keeper_stats st;
            keeper_snapshot(&s->k, &st, NULL);
            if (st.dirty && st.writer && now >= next_pass - resync_ms + 1000)
                due = 1; /* a write failed: heal soon, not at the next resync */
        }
        if (due && s->callback_url.len)
            callback_ensure(s);
        if (due && !stopping) {
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
        nap_until_wanted(s, 200);
    }
}

/* The main thread until a signal: follows leadership. A promoted subscriber takes a fresh
 * baseline (the callbacks', then a reconcile); a demoted one stops delivering and sweeping. */
static void run(struct sub *s)
{
    int led = 0;

    while (!stopping) {
        int leads = keeper_leading(&s->k) != 0;
        if (leads && !led) {
            log_info("subscribe", "promoted: baseline, then a reconcile", "key=%s", s->lead.key);
            if (callbacks_lead(s->cb, 1, 2000))
                log_warn("subscribe", "callbacks baseline not read yet; taken later", "%s", "");
            want_reconcile(s);
        } else if (!leads && led) {
            log_warn("subscribe", "stepped down: this subscriber writes nothing now", "key=%s",
                     s->lead.key);
            callbacks_lead(s->cb, 0, 0);
        }
        led = leads;
        clock_nap_ms(50, &stopping);
    }
}

static void lease_ticked(void *ctx, int ret, const struct mdo_err *err)
{
    keeper_note(&((struct sub *)ctx)->k, ret, err);
    if (!ret)
        keeper_lease_decided(&((struct sub *)ctx)->k); /* /health's start gate: led or not */
}

static void resign(struct sub *s)
{
    leader_resign(&s->lead); /* a follower takes over now, not after the lease runs out */
}

static void stop_http(struct sub *s)
{
    server_stop(s->srv); /* waits for the handlers in flight (a POST /v1/callbacks writes etcd) */
    s->srv = NULL;
}

static void stop_callbacks(struct sub *s)
{
    callbacks_stop(s->cb); /* joins the dispatcher, which may be in a callback's POST */
    s->cb = NULL;
}

/* The last resort of the way out: whatever is still stuck when the bound is reached, the
 * process ends (every step before is bounded on its own; this bounds their sum). */
#define STOP_BOUND_MS 4800
static int stop_exit_code;
static volatile int stop_done; /* the way out ended in time: the deadline thread ends, joined */

static void *stop_deadline(void *arg)
{
    (void)arg;
    if (clock_nap_ms(STOP_BOUND_MS, &stop_done))
        return NULL;
    log_warn("subscribe", "still stopping at the bound: exiting now", "ms=%d", STOP_BOUND_MS);
    _exit(stop_exit_code);
    return NULL;
}

static void unsubscribe(struct sub *s)
{
    struct mdo_err cerr = MDO_ERR_INIT;

    if (s->ce.ops->subscription(s->ce.sched, s->callback_url.ptr, SCHED_SUB_DEL, &cerr))
        log_warn("subscribe", "cannot unregister the event callback", "err=\"%s\"", cerr.msg);
    else
        log_info("subscribe", "event callback unregistered", "url=%.*s/<secret>",
                 (int)s->callback_base, s->callback_url.ptr);
}

/* Everything between opening the environment and closing it: the keeper, the lease, the HTTP
 * face, the callbacks, the events thread; the loop; then the way back, in reverse. */
static void serve(struct sub *s, const char *listen, long lease_s, struct mdo_err *err)
{
    const struct cfg *cfg = s->ce.cfg;
    struct server *srv = NULL;
    struct sigaction sa;
    struct bthread events = {0}, recon = {0};
    int64_t t0;
    pthread_t deadline;
    int ret, stuck = 0, have_deadline;
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
        s->callback_base = s->callback_url.len;
    }
    /* DESIGN §10: off loopback the face wants subscriber.token (all but /health and the
     * Marathon receiver), unless the operator said subscriber.insecure */
    if (!server_listen_loopback(listen) && !(cfg->subscriber.token && *cfg->subscriber.token) &&
        !cfg->subscriber.insecure) {
        err_set(err, MDO_ECONFIG,
                "%s: subscriber.listen '%s' is not a loopback address and subscriber.token is "
                "not set: anyone who reaches the port could read the registry; set "
                "subscriber.token, or subscriber.insecure: true to serve it without one",
                cfg->path, listen);
        return;
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
    s->face.cfg = cfg;
    s->face.etcd = &s->ce.etcd;
    s->face.k = &s->k;
    s->face.cb = s->cb;
    s->face.ops = s->ce.ops;
    s->face.sched = s->ce.sched;
    s->face.sink = &s->sink;
    if (!server_listen_loopback(listen)) {
        s->face.public_face = 1;
        s->face.token = cfg->subscriber.token;
        server_require_token(srv, cfg->subscriber.token);
        if (!cfg->subscriber.token || !*cfg->subscriber.token)
            log_warn("subscribe", "listening off loopback without a token (subscriber.insecure)",
                     "listen=%s", listen);
    }
    sub_http_routes(srv, &s->face, s->callback_url.len > 0);
    subscribe_callbacks_routes(srv, s->cb);
    s->k.changed = callbacks_changed;
    s->k.changed_ctx = s->cb;
    srandom((unsigned)time(NULL) ^ (unsigned)getpid());
    keeper_set_fence(&s->k, s->lead.key, leader_fence, &s->lead);
    s->lead.ticked = lease_ticked;
    s->lead.ticked_ctx = s;
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
    if ((ret = keeper_start(&s->k)) || (ret = leader_start(&s->lead))) {
        err_set(err, MDO_EFAIL, "cannot start the subscriber's threads: %s", strerror(ret));
        stopping = 1;
    }
    want_reconcile(s);
    s->events = &events;
    if (!stopping && bthread_start(&recon, reconcile_main, s))
        log_error("subscribe", "cannot start the reconcile thread", "err=%s", strerror(errno));
    run(s);
    /* the way out, each step bounded: < 5 s in all whatever the peers do */
    log_info("subscribe", "stopping", "signal=%d", (int)got_signal);
    t0 = clock_now_ms();
    stop_exit_code = s->open_failed ? 1 : 0;
    have_deadline = !pthread_create(&deadline, NULL, stop_deadline, NULL);
    stuck |= bthread_join(&recon, 300, "reconcile"); /* a pass stuck in the scheduler: left */
    stuck |= bthread_join(&events, 800, "events");   /* no more events taken */
    stuck |= keeper_stop(&s->k, 800);                /* the txn in flight, or abandoned */
    stuck |= leader_stop(&s->lead, 500);
    callbacks_lead(s->cb, 0, 0);
    /* the calls made from here on are each given less than their step's bound, so a peer that
     * hangs costs that step, not the connection's 5 s or 10 s (an abandoned one is in flight
     * with the timeout it started with) */
    s->ce.etcd.timeout_ms = 600;
    stuck |= bounded(resign, s, 700, "resign");
    if (s->callback_url.len && s->ce.sched && s->face.secret_ready)
        stuck |= bounded(unsubscribe, s, 700, "unsubscribe");
    if (s->open_failed)
        *err = s->open_err;
    s->srv = srv;
    srv = NULL;
    /* the front and civetweb stop in ~20 ms (server_stop wakes civetweb's 2 s poll); a handler
     * still running (a slow peer) is what the bound is for */
    if (bounded(stop_http, s, 1500, "http")) {
        stuck = 1; /* a handler still runs: it may use the callbacks, which must stay */
    } else if (bounded(stop_callbacks, s, 600, "callbacks")) {
        stuck = 1;
    }
    log_info("subscribe", "stopped", "ms=%lld abandoned=%d", (long long)(clock_now_ms() - t0),
             stuck ? 1 : 0);
    if (stuck) /* a thread still uses the keeper, the lease or the backend: nothing is freed */
        _exit(err->code ? 1 : 0);
    if (have_deadline) { /* joined: left running, valgrind calls its stack "possibly lost" */
        stop_done = 1;
        pthread_join(deadline, NULL);
    }
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
    /* A fixed mmap threshold: glibc's own rises to the largest block freed (the first pass's
     * 3 MB listing), after which every MB-sized read is carved from the arenas and fragments
     * them: RSS rose 20 -> 34 MiB over 1,000,000 events, 18 -> 28 MiB with this (flat after the
     * first 100,000: test/bench/README.md, "Valgrind and RSS"). */
    mallopt(M_MMAP_THRESHOLD, 128 * 1024);
    pthread_mutex_init(&s.lock, NULL);
    clock_cond_init(&s.wake);
    s.sink = (struct sched_sink){&s, on_connected, sink_up, sink_down};
    s.callback_url = (struct buf)BUF_INIT(0);
    /* the scheduler is only chosen here; the reconcile thread opens it (reconcile_main) */
    ret = cmd_env_open(&s.ce, &a, NEED_ETCD, &err);
    if (!ret && (ret = sched_for(s.ce.cfg, &s.ce.ops, &err)))
        cmd_env_close(&s.ce);
    if (ret)
        goto out;
    serve(&s, a.listen ? a.listen : s.ce.cfg->subscriber.listen, a.lease_s ? (long)a.lease_s : 10,
          &err);
    cmd_env_close(&s.ce);
out:
    buf_release(&s.callback_url);
    pthread_cond_destroy(&s.wake);
    pthread_mutex_destroy(&s.lock);
    http_thread_cleanup();
    free(a.pos);
    return err_report("subscribe", &err);
}
