/* cbwatch.c - the callbacks' dispatcher: membership diffs per service (from the watch's changes,
 * cbview.h), deliveries queued per registration, and the sweep of registrations whose owner
 * container is gone */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "cbpolicy.h"
#include "cbreg.h"
#include "cbsend.h"
#include "cbview.h"
#include "cbwatch.h"
#include "clock.h"
#include "http.h"
#include "log.h"
#include "metrics.h"
#include "names.h"
#include "registry.h"
#include "strset.h"
#include "url.h"
#include "watch.h"

#define CB_SWEEP_S 10 /* how often registrations of vanished owners are looked for */
#define CB_OWNER_GRACE                                                                             \
    60                   /* a registration's owner may be unregistered this long (it               \
                          * registers its callback before the subscriber registers it) */
#define CB_RETRY_MS 1000 /* a change that could not be read is retried after this */

struct callbacks {
    const struct cfg *cfg;
    struct etcd *etcd;
    const char *prefix; /* cfg->etcd.prefix, normalised by the loader */
    struct cbsend *send;
    struct cbpolicy *policy; /* for registrations (cbsend has its own for deliveries) */
    pthread_mutex_t lock;    /* guards the fields below up to `members` */
    pthread_cond_t cond;     /* the dispatcher's wake-up */
    int stop;
    struct strset pending; /* services waiting for the dispatcher */
    unsigned long owner_removed, changes;
    long registered; /* -1 until first counted */
    int leading;     /* callbacks_lead(): only the leader delivers and sweeps */
    int rebase;      /* promoted: the dispatcher takes a fresh baseline, then sets rebased */
    int rebased;
    pthread_cond_t acked; /* rebased was set */
    /* the feeder: a watch on <prefix>/<env>/services/ while leading (its thread is watch_run's) */
    struct cbview_in *inbox, **inbox_tail; /* guarded by lock: parsed batches, in order */
    unsigned gen;                          /* guarded by lock: the batches to apply are ... */
    unsigned feed_gen;                     /* guarded by lock: ... the running feeder's if equal */
    int feed_done;                         /* guarded by lock: the feeder's thread ended */
    volatile int feed_stop;                /* the feeder ends (watch_run's stop) */
    /* the dispatcher's own (written by callbacks_start before the thread, then only by it): */
    char *wprefix; /* what the feeder watches */
    int have_baseline;
    struct cbview view; /* the membership delivered, and the changes since */
    pthread_t feeder;
    int have_feeder;
    int64_t feed_retry_at;
    pthread_t dispatcher;
    int have_dispatcher;
    unsigned registering; /* guarded by lock: callbacks_register() calls in flight */
};

/* ---- the feeder: the watch's batches, parsed, queued for the dispatcher ---- */

static int feed_sink(void *ctx, struct watch_batch *b)
{
    struct callbacks *cb = ctx;
    struct cbview_in *in = cbview_in_parse(b, cb->wprefix);

    if (!in) { /* a batch lost: end this watch; the next one starts with a listing */
        log_warn("callbacks", "out of memory, reading the registry again", "%s", "");
        return 1;
    }
    pthread_mutex_lock(&cb->lock);
    in->gen = cb->feed_gen;
    *cb->inbox_tail = in;
    cb->inbox_tail = &in->next;
    pthread_cond_signal(&cb->cond);
    pthread_mutex_unlock(&cb->lock);
    return cb->feed_stop;
}

static void *feeder_main(void *arg)
{
    struct callbacks *cb = arg;
    struct mdo_err err = MDO_ERR_INIT;

    if (watch_run(cb->etcd, cb->wprefix, feed_sink, cb, &cb->feed_stop, &err))
        log_warn("callbacks", "cannot watch the registry", "err=\"%s\"", err.msg);
    pthread_mutex_lock(&cb->lock);
    cb->feed_done = 1;
    pthread_cond_signal(&cb->cond);
    pthread_mutex_unlock(&cb->lock);
    http_thread_cleanup();
    return NULL;
}

/* Called with cb->lock held. Drops the queued batches. */
static void inbox_clear(struct callbacks *cb)
{
    struct cbview_in *in;

    while ((in = cb->inbox)) {
        cb->inbox = in->next;
        cbview_in_free(in);
    }
    cb->inbox_tail = &cb->inbox;
}

/* Called with cb->lock held, by the dispatcher. Joins an ended feeder; with wait, a running
 * one is told to stop and joined (its stream sees the stop within about a second). */
static void feeder_reap(struct callbacks *cb, int wait)
{
    if (!cb->have_feeder || (!cb->feed_done && !wait))
        return;
    cb->feed_stop = 1;
    pthread_mutex_unlock(&cb->lock);
    pthread_join(cb->feeder, NULL);
    pthread_mutex_lock(&cb->lock);
    cb->have_feeder = 0;
}

/* Called with cb->lock held, by the dispatcher, with no feeder. */
static void feeder_start(struct callbacks *cb)
{
    int e;

    cb->feed_stop = 0;
    cb->feed_done = 0;
    cb->feed_gen = cb->gen;
    if ((e = pthread_create(&cb->feeder, NULL, feeder_main, cb))) {
        log_warn("callbacks", "cannot start the watch thread, will retry", "err=%s", strerror(e));
        cb->feed_retry_at = clock_deadline_ms(CB_RETRY_MS);
        return;
    }
    cb->have_feeder = 1;
}

static void count_registered(struct callbacks *cb, long n)
{
    pthread_mutex_lock(&cb->lock);
    cb->registered = n;
    pthread_mutex_unlock(&cb->lock);
}

/* Deletes the registrations owned by the containers in owners. */
static void remove_owned(struct callbacks *cb, const struct strset *owners)
{
    struct mdo_err err = MDO_ERR_INIT;
    struct cbreg *r = NULL;
    size_t n = 0;
    char *shown;

    if (!owners->n || cbreg_list(cb->etcd, cb->prefix, cb->cfg->environment, NULL, &r, &n, &err))
        return;
    count_registered(cb, (long)n);
    for (size_t i = 0; i < n; i++) {
        if (!r[i].owner || !strset_has(owners, r[i].owner))
            continue;
        if (cbreg_delete(cb->etcd, cb->prefix, cb->cfg->environment, &r[i], &err)) {
            log_warn("callbacks", "cannot remove a vanished owner's callback", "id=%s err=\"%s\"",
                     r[i].id, err.msg);
            continue;
        }
        shown = url_shown(r[i].url, URL_NO_QUERY);
        log_info("callbacks", "removed: its owner is gone", "id=%s owner=%s url=%s", r[i].id,
                 r[i].owner, shown ? shown : "");
        free(shown);
        pthread_mutex_lock(&cb->lock);
        cb->owner_removed++;
        if (cb->registered > 0)
            cb->registered--;
        pthread_mutex_unlock(&cb->lock);
    }
    cbreg_free(r, n);
}

/* Registrations whose owner is in no service (for longer than the grace): removed. Catches
 * owners that went away while no subscriber watched. */
static void sweep(struct callbacks *cb)
{
    struct mdo_err err = MDO_ERR_INIT;
    struct reg_record *recs = NULL;
    struct cbreg *r = NULL;
    struct strset running = STRSET_INIT, gone = STRSET_INIT;
    unsigned nrec = 0;
    size_t n = 0, old = 0;
    time_t now = time(NULL); /* the wall clock: `created` is a date */
    int ret;

    if (cbreg_list(cb->etcd, cb->prefix, cb->cfg->environment, NULL, &r, &n, &err))
        return;
    count_registered(cb, (long)n); /* /metrics' count, kept fresh */
    for (size_t i = 0; i < n; i++)
        old += r[i].owner && now - r[i].created >= CB_OWNER_GRACE;
    ret = old ? reg_list(cb->etcd, cb->prefix, cb->cfg->environment, NULL, &recs, &nrec, NULL, NULL,
                         &err)
              : -1;
    for (unsigned k = 0; !ret && k < nrec; k++)
        ret = strset_add(&running, recs[k].container);
    for (size_t i = 0; !ret && i < n; i++)
        if (r[i].owner && now - r[i].created >= CB_OWNER_GRACE && !strset_has(&running, r[i].owner))
            ret = strset_add(&gone, r[i].owner);
    cbreg_free(r, n);
    reg_records_free(recs, nrec);
    if (!ret)
        remove_owned(cb, &gone);
    strset_release(&running);
    strset_release(&gone);
}

/* Queues the change to every registration of service. */
static int deliver(struct callbacks *cb, const char *service, int64_t rev,
                   const struct reg_record *recs, unsigned n, const struct reg_members_diff *d)
{
    struct mdo_err err = MDO_ERR_INIT;
    struct cbreg *r = NULL;
    size_t nr = 0;
    char *body = NULL;
    int ret = cbreg_list(cb->etcd, cb->prefix, cb->cfg->environment, service, &r, &nr, &err);

    if (ret) {
        log_warn("callbacks", "cannot read registrations, will retry", "service=%s err=\"%s\"",
                 service, err.msg);
        return ret;
    }
    /* no registration: nothing to send, so no body (10,000 instances are a 3 MB one) */
    body = nr ? cbsend_body(cb->cfg->environment, service, rev, recs, n, d) : NULL;
    if (nr && !body) {
        cbreg_free(r, nr);
        return -MDO_ENOMEM;
    }
    log_info("callbacks", "membership changed",
             "service=%s instances=%u added=%u removed=%u "
             "changed=%u targets=%zu revision=%lld",
             service, d->count, d->added, d->removed, d->changed, nr, (long long)rev);
    for (size_t i = 0; !ret && i < nr; i++)
        ret =
            cbsend_queue(cb->send, r[i].url, r[i].id, service, body, cbreg_secret(cb->etcd, &r[i]));
    free(body);
    cbreg_free(r, nr);
    return ret;
}

/* One service that may have changed: its changes since the last delivery against what was
 * delivered (cbview.h). 0 when handled (delivered, or nothing to do); else its changes stay. */
static int process(struct callbacks *cb, const char *service)
{
    struct cbview_change c;
    struct strset left = STRSET_INIT;
    int differs = cbview_take(&cb->view, service, &c), ret = 0;

    if (differs < 0)
        return differs;
    /* the owners that left lose their registrations before anything is sent to them */
    for (unsigned i = 0; differs && !ret && i < c.d.removed; i++)
        ret = strset_add(&left, c.d.names_removed[i]);
    if (differs && !ret) {
        remove_owned(cb, &left);
        ret = deliver(cb, service, cb->view.rev, c.cur, c.ncur, &c.d);
    }
    strset_release(&left);
    if (ret) {
        cbview_abandon(&c);
        return ret;
    }
    if (differs) {
        pthread_mutex_lock(&cb->lock);
        cb->changes++;
        pthread_mutex_unlock(&cb->lock);
    }
    cbview_commit(&c);
    return 0;
}

/* Adds every member of from to to; 0 or -MDO_ENOMEM. */
static int merge(struct strset *to, const struct strset *from)
{
    int ret = 0;

    for (size_t i = 0; !ret && i < from->n; i++)
        ret = strset_add(to, from->v[i]);
    return ret;
}

/* Applies the feeder's batches in order; every service they change is added to todo. */
static void apply_inbox(struct callbacks *cb, struct cbview_in *in, unsigned gen,
                        struct strset *todo)
{
    while (in) {
        struct cbview_in *next = in->next;
        int base = !cb->have_baseline;
        in->next = NULL;
        if (in->gen != gen || (base && !in->reset)) { /* an older watch's, or before a listing */
            cbview_in_free(in);
        } else if (cbview_apply(&cb->view, in, base, todo)) {
            /* the copy is not what etcd holds: a new watch lists again (what was delivered
             * stays, so its listing is diffed against that) */
            log_warn("callbacks", "out of memory, reading the registry again", "%s", "");
            pthread_mutex_lock(&cb->lock);
            cb->gen++;
            cb->feed_stop = 1;
            pthread_mutex_unlock(&cb->lock);
            gen = (unsigned)-1;
        } else if (base) { /* the watch's first listing: the baseline (callbacks_lead waits) */
            cb->have_baseline = 1;
            pthread_mutex_lock(&cb->lock);
            cb->rebased = 1;
            pthread_cond_broadcast(&cb->acked);
            pthread_mutex_unlock(&cb->lock);
        }
        in = next;
    }
}

static void *dispatcher_main(void *arg)
{
    struct callbacks *cb = arg;
    int64_t next_sweep = clock_deadline_ms(2000), retry_at = 0;
    struct strset retry = STRSET_INIT; /* services whose change could not be handled yet */

    pthread_mutex_lock(&cb->lock);
    while (!cb->stop) {
        struct strset todo = STRSET_INIT;
        struct cbview_in *in;
        int64_t now = clock_now_ms(), wait_until = next_sweep;
        unsigned gen;

        if (cb->rebase) { /* promoted: what was delivered before is no baseline now; the listing
                           * of a new watch is (rebased is set when it is applied) */
            cb->rebase = 0;
            feeder_reap(cb, 1);
            cb->gen++;
            inbox_clear(cb);
            pthread_mutex_unlock(&cb->lock);
            cbview_release(&cb->view);
            cb->have_baseline = 0;
            strset_clear(&retry);
            next_sweep = clock_deadline_ms(2000);
            pthread_mutex_lock(&cb->lock);
            cb->feed_retry_at = 0;
            continue;
        }
        if (!cb->leading) { /* a follower delivers nothing, sweeps nothing, watches nothing */
            struct timespec until = clock_timespec(clock_deadline_ms(1000));
            strset_clear(&cb->pending);
            strset_clear(&retry);
            cb->feed_stop = 1;
            feeder_reap(cb, 0);
            inbox_clear(cb);
            pthread_cond_timedwait(&cb->cond, &cb->lock, &until);
            continue;
        }
        if (cb->have_feeder && cb->feed_done) { /* ended on its own: another one lists again */
            feeder_reap(cb, 0);
            cb->feed_retry_at = clock_deadline_ms(CB_RETRY_MS);
        }
        if (!cb->have_feeder && now >= cb->feed_retry_at)
            feeder_start(cb);
        if (!cb->have_feeder && cb->feed_retry_at < wait_until)
            wait_until = cb->feed_retry_at;
        if (retry.n && retry_at < wait_until)
            wait_until = retry_at;
        if (!cb->pending.n && !cb->inbox && now < wait_until) {
            struct timespec until = clock_timespec(wait_until);
            pthread_cond_timedwait(&cb->cond, &cb->lock, &until);
            continue;
        }
        in = cb->inbox;
        cb->inbox = NULL;
        cb->inbox_tail = &cb->inbox;
        gen = cb->gen;
        strset_swap(&todo, &cb->pending);
        pthread_mutex_unlock(&cb->lock);
        apply_inbox(cb, in, gen, &todo);
        if (retry.n && now >= retry_at) { /* merged: a name may be in both */
            if (merge(&todo, &retry))
                log_warn("callbacks", "out of memory, changes may be late", "%s", "");
            strset_clear(&retry);
        }
        for (size_t i = 0; cb->have_baseline && i < todo.n; i++) {
            /* one waiting for its retry waits on: its changes are taken when its turn comes */
            if (!strset_has(&retry, todo.v[i]) && process(cb, todo.v[i])) {
                strset_add(&retry, todo.v[i]);
                retry_at = clock_deadline_ms(CB_RETRY_MS);
            }
        }
        strset_release(&todo);
        if (clock_now_ms() >= next_sweep) {
            sweep(cb);
            next_sweep = clock_deadline_ms(CB_SWEEP_S * 1000L);
        }
        pthread_mutex_lock(&cb->lock);
    }
    feeder_reap(cb, 1);
    inbox_clear(cb);
    pthread_mutex_unlock(&cb->lock);
    strset_release(&retry);
    http_thread_cleanup();
    return NULL;
}

/* ---- the interface ---- */

int callbacks_start(struct callbacks **out, const struct cfg *cfg, struct etcd *etcd,
                    struct mdo_err *err)
{
    struct callbacks *cb = calloc(1, sizeof(*cb));
    struct cbpolicy *sendp = NULL;
    int e;

    *out = NULL;
    if (!cb || (e = cbpolicy_new(&cb->policy, cfg, err)) || (e = cbpolicy_new(&sendp, cfg, err)) ||
        !(cb->send = cbsend_new(sendp, 0))) {
        if (cb && cb->policy && sendp && !cb->send)
            e = err_set(err, MDO_EFAIL, "cannot start the callback delivery workers");
        if (cb)
            cbpolicy_free(cb->policy);
        free(cb);
        return cb ? e : err_set(err, MDO_ENOMEM, "out of memory");
    }
    cb->cfg = cfg;
    cb->etcd = etcd;
    cb->prefix = cfg->etcd.prefix ? cfg->etcd.prefix : "/mdo";
    cb->registered = -1;
    cb->pending = (struct strset)STRSET_INIT;
    cb->inbox_tail = &cb->inbox;
    cb->view = (struct cbview)CBVIEW_INIT;
    {
        struct buf p = BUF_INIT(0);
        if (reg_prefix(&p, cb->prefix, cfg->environment, NULL) || !(cb->wprefix = strdup(p.ptr))) {
            buf_release(&p);
            cbsend_free(cb->send);
            cbpolicy_free(cb->policy);
            free(cb);
            return err_set(err, MDO_ENOMEM, "out of memory");
        }
        buf_release(&p);
    }
    pthread_mutex_init(&cb->lock, NULL);
    clock_cond_init(&cb->cond);
    clock_cond_init(&cb->acked);
    /* the baseline is taken on promotion (callbacks_lead): a follower delivers nothing */
    e = pthread_create(&cb->dispatcher, NULL, dispatcher_main, cb);
    if (e) {
        callbacks_stop(cb);
        return err_set(err, MDO_EFAIL, "cannot start the callbacks thread: %s", strerror(e));
    }
    cb->have_dispatcher = 1;
    *out = cb;
    return 0;
}

void callbacks_stop(struct callbacks *cb)
{
    if (!cb)
        return;
    pthread_mutex_lock(&cb->lock);
    cb->stop = 1;
    pthread_cond_broadcast(&cb->cond);
    pthread_mutex_unlock(&cb->lock);
    if (cb->have_dispatcher)
        pthread_join(cb->dispatcher, NULL);
    cbsend_free(cb->send);
    cbpolicy_free(cb->policy);
    cbview_release(&cb->view);
    inbox_clear(cb); /* empty unless the dispatcher never ran */
    free(cb->wprefix);
    strset_release(&cb->pending);
    pthread_cond_destroy(&cb->acked);
    pthread_cond_destroy(&cb->cond);
    pthread_mutex_destroy(&cb->lock);
    free(cb);
}

int callbacks_lead(struct callbacks *cb, int leading, long wait_ms)
{
    int64_t deadline = clock_deadline_ms(wait_ms);
    int ret = 0;

    if (!cb)
        return 0;
    pthread_mutex_lock(&cb->lock);
    if (leading && !cb->leading) {
        cb->rebase = 1;
        cb->rebased = 0;
    }
    cb->leading = leading;
    if (!leading)
        cb->feed_stop = 1; /* the watch ends now (the dispatcher joins it) */
    pthread_cond_broadcast(&cb->cond);
    while (leading && !cb->rebased && !cb->stop && clock_left_ms(deadline) > 0) {
        struct timespec until = clock_timespec(deadline);
        pthread_cond_timedwait(&cb->acked, &cb->lock, &until);
    }
    ret = leading && !cb->rebased ? -1 : 0;
    pthread_mutex_unlock(&cb->lock);
    return ret;
}

void callbacks_changed(void *ctx, const char *service)
{
    struct callbacks *cb = ctx;

    if (!cb || !name_ok(service)) /* no key could be built for it: nothing to read */
        return;
    pthread_mutex_lock(&cb->lock);
    if (strset_add(&cb->pending, service))
        log_warn("callbacks", "out of memory, change not queued", "service=%s", service);
    pthread_cond_signal(&cb->cond);
    pthread_mutex_unlock(&cb->lock);
}

const struct cfg *callbacks_cfg(const struct callbacks *cb)
{
    return cb->cfg;
}

struct etcd *callbacks_etcd(const struct callbacks *cb)
{
    return cb->etcd;
}

void callbacks_registered(struct callbacks *cb, long n)
{
    count_registered(cb, n);
}

/* Called from HTTP handlers, whose civetweb threads have a small fixed stack (Debian's build
 * sets it): the 8 KiB error goes on the heap, not beside the handler's own. */
void callbacks_recount(struct callbacks *cb)
{
    struct mdo_err *err = calloc(1, sizeof(*err));
    struct cbreg *r = NULL;
    size_t n = 0;

    if (err && !cbreg_list(cb->etcd, cb->prefix, cb->cfg->environment, NULL, &r, &n, err)) {
        count_registered(cb, (long)n);
        cbreg_free(r, n);
    }
    free(err);
}

void callbacks_metrics(struct callbacks *cb, struct buf *out)
{
    struct cbsend_stats st;
    unsigned long removed, changes;
    long registered;

    if (!cb)
        return;
    cbsend_stats(cb->send, &st);
    pthread_mutex_lock(&cb->lock);
    removed = cb->owner_removed;
    changes = cb->changes;
    registered = cb->registered;
    pthread_mutex_unlock(&cb->lock);
    metrics_add(out, "mdo_callbacks_sent_total", "counter", "Callback deliveries answered 2xx.",
                (double)st.sent);
    metrics_add(out, "mdo_callbacks_failed_total", "counter",
                "Callback deliveries given up after every retry (or dropped).",
                (double)(st.failed + st.dropped));
    metrics_add(out, "mdo_callbacks_retries_total", "counter", "Callback delivery retries.",
                (double)st.retries);
    metrics_add(out, "mdo_callbacks_dropped_total", "counter",
                "Deliveries dropped unsent (queue full, or stopping).", (double)st.dropped);
    metrics_add(out, "mdo_callbacks_registered", "gauge",
                "Callback registrations in etcd (-1 until counted).", (double)registered);
    metrics_add(out, "mdo_callbacks_pending", "gauge", "Deliveries queued or in flight.",
                (double)st.pending);
    metrics_add(out, "mdo_callbacks_owner_removed_total", "counter",
                "Registrations removed because their owner container is gone.", (double)removed);
    metrics_add(out, "mdo_membership_changes_total", "counter",
                "Service membership changes seen by the callbacks.", (double)changes);
    metrics_add(out, "mdo_callbacks_denied_total", "counter",
                "Callback deliveries refused by the target policy (subscriber.callback_allow).",
                (double)st.denied);
    metrics_add(out, "mdo_callbacks_coalesced_total", "counter",
                "Undelivered callbacks replaced by a newer one for the same registration.",
                (double)st.coalesced);
}

int callbacks_register(struct callbacks *cb, const char *service, const char *url,
                       const char *secret, const char *owner, char id[CBREG_ID_LEN + 1],
                       struct mdo_err *err)
{
    const struct cfg_subscriber *sc = &cb->cfg->subscriber;
    unsigned extra;
    int ret = cbpolicy_check_url(cb->policy, url, CBPOLICY_LOOKUP_MS, NULL, err);

    if (ret)
        return ret == -MDO_EUSAGE || ret == -MDO_ENOTFOUND ? 400 : 503;
    /* The check and the write are two etcd calls; registrations in flight count against the
     * caps too, so concurrent ones cannot pass a cap together (no lock is held across them). */
    pthread_mutex_lock(&cb->lock);
    extra = cb->registering++;
    pthread_mutex_unlock(&cb->lock);
    ret = cbreg_admit(cb->etcd, cb->prefix, cb->cfg->environment, service, url, owner,
                      sc->callback_max_per_service ? sc->callback_max_per_service : 16,
                      sc->callback_max_per_owner ? sc->callback_max_per_owner : 64, extra, err);
    if (!ret)
        ret = cbreg_register(cb->etcd, cb->prefix, cb->cfg->environment, service, url, secret,
                             owner, id, err);
    pthread_mutex_lock(&cb->lock);
    cb->registering--;
    pthread_mutex_unlock(&cb->lock);
    if (!ret)
        return 0;
    return ret == -MDO_ECONFLICT ? 429 : ret == -MDO_EUSAGE ? 400 : 503;
}
