/* cbwatch.c - the callbacks' dispatcher: membership diffs per service, deliveries queued per
 * registration, and the sweep of registrations whose owner container is gone */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "cbpolicy.h"
#include "cbreg.h"
#include "cbsend.h"
#include "cbwatch.h"
#include "clock.h"
#include "http.h"
#include "log.h"
#include "metrics.h"
#include "names.h"
#include "registry.h"
#include "strset.h"
#include "url.h"

#define CB_SWEEP_S 10 /* how often registrations of vanished owners are looked for */
#define CB_OWNER_GRACE                                                                             \
    60                   /* a registration's owner may be unregistered this long (it               \
                          * registers its callback before the subscriber registers it) */
#define CB_RETRY_MS 1000 /* a change that could not be read is retried after this */

/* The membership of one service as last delivered: records sorted by container. */
struct cb_members {
    char *service;
    struct reg_record *recs;
    unsigned n;
    struct cb_members *next;
};

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
    /* the dispatcher's own (written by callbacks_start before the thread, then only by it): */
    int have_baseline;
    struct cb_members *members;
    pthread_t dispatcher;
    int have_dispatcher;
    unsigned registering; /* guarded by lock: callbacks_register() calls in flight */
};

static struct cb_members *members_of(struct callbacks *cb, const char *service, int create)
{
    struct cb_members *m;

    for (m = cb->members; m && strcmp(m->service, service); m = m->next)
        ;
    if (!m && create && (m = calloc(1, sizeof(*m)))) {
        if (!(m->service = strdup(service))) {
            free(m);
            return NULL;
        }
        m->next = cb->members;
        cb->members = m;
    }
    return m;
}

/* m's membership becomes recs[0, n) (taken). */
static void members_set(struct cb_members *m, struct reg_record *recs, unsigned n)
{
    reg_records_free(m->recs, m->n);
    m->recs = recs;
    m->n = n;
}

/* The baseline: every service's membership as the registry holds it now. */
static int baseline(struct callbacks *cb, struct mdo_err *err)
{
    struct reg_record *recs = NULL;
    unsigned n = 0, i = 0;
    int ret =
        reg_list(cb->etcd, cb->prefix, cb->cfg->environment, NULL, &recs, &n, NULL, NULL, err);

    if (ret)
        return ret;
    while (i < n) {
        unsigned j = i, k;
        struct cb_members *m = members_of(cb, recs[i].service, 1);
        struct reg_record *part;
        while (j < n && !strcmp(recs[j].service, recs[i].service))
            j++;
        part = m ? calloc(j - i, sizeof(*part)) : NULL;
        if (part) { /* moved out of recs: their fields now belong to part */
            memcpy(part, &recs[i], (j - i) * sizeof(*part));
            for (k = i; k < j; k++)
                memset(&recs[k], 0, sizeof(recs[k]));
            members_set(m, part, j - i);
        }
        i = j;
    }
    cb->have_baseline = 1;
    reg_records_free(recs, n);
    return 0;
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

/* One service that may have changed. 0 when handled (delivered or nothing to do). */
static int process(struct callbacks *cb, const char *service)
{
    struct mdo_err err = MDO_ERR_INIT;
    struct reg_record *recs = NULL;
    struct reg_members_diff d = REG_MEMBERS_DIFF_INIT;
    struct strset left = STRSET_INIT;
    struct cb_members *m = members_of(cb, service, 1);
    unsigned n = 0;
    int64_t rev = 0;
    int ret, differs;

    if (!m)
        return -MDO_ENOMEM;
    ret =
        reg_list(cb->etcd, cb->prefix, cb->cfg->environment, service, &recs, &n, &rev, NULL, &err);
    if (ret) {
        log_warn("callbacks", "cannot read the service, will retry", "service=%s err=\"%s\"",
                 service, err.msg);
        return ret;
    }
    differs = reg_members_diff(m->recs, m->n, recs, n, &d);
    if (differs <= 0) {
        ret = differs;
        goto out;
    }
    /* the owners that left lose their registrations before anything is sent to them */
    for (unsigned i = 0; !ret && i < d.removed; i++)
        ret = strset_add(&left, d.names_removed[i]);
    if (!ret) {
        remove_owned(cb, &left);
        ret = deliver(cb, service, rev, recs, n, &d);
    }
    if (ret)
        goto out;
    pthread_mutex_lock(&cb->lock);
    cb->changes++;
    pthread_mutex_unlock(&cb->lock);
    reg_members_diff_release(&d); /* it borrows from both memberships */
    members_set(m, recs, n);
    recs = NULL;
    n = 0;
out:
    strset_release(&left);
    reg_members_diff_release(&d);
    reg_records_free(recs, n);
    return ret;
}

/* Adds every member of from to to; 0 or -MDO_ENOMEM. */
static int merge(struct strset *to, const struct strset *from)
{
    int ret = 0;

    for (size_t i = 0; !ret && i < from->n; i++)
        ret = strset_add(to, from->v[i]);
    return ret;
}

static void *dispatcher_main(void *arg)
{
    struct callbacks *cb = arg;
    int64_t next_sweep = clock_deadline_ms(2000), retry_at = 0;
    struct strset retry = STRSET_INIT; /* services whose change could not be read yet */

    pthread_mutex_lock(&cb->lock);
    while (!cb->stop) {
        struct strset todo = STRSET_INIT;
        int64_t now = clock_now_ms(), wait_until = next_sweep;

        if (cb->rebase) { /* promoted: what was delivered before is no baseline now */
            struct mdo_err err = MDO_ERR_INIT;
            struct cb_members *m;
            cb->rebase = 0;
            pthread_mutex_unlock(&cb->lock);
            while ((m = cb->members)) {
                cb->members = m->next;
                free(m->service);
                reg_records_free(m->recs, m->n);
                free(m);
            }
            cb->have_baseline = 0;
            strset_clear(&retry);
            if (baseline(cb, &err))
                log_warn("callbacks", "cannot read the registry yet, will retry", "err=\"%s\"",
                         err.msg);
            next_sweep = clock_deadline_ms(2000);
            pthread_mutex_lock(&cb->lock);
            cb->rebased = 1;
            pthread_cond_broadcast(&cb->acked);
            continue;
        }
        if (!cb->leading) { /* a follower delivers nothing and sweeps nothing */
            struct timespec until = clock_timespec(clock_deadline_ms(1000));
            strset_clear(&cb->pending);
            strset_clear(&retry);
            pthread_cond_timedwait(&cb->cond, &cb->lock, &until);
            continue;
        }

        if (retry.n && retry_at < wait_until)
            wait_until = retry_at;
        if (!cb->pending.n && now < wait_until) {
            struct timespec until = clock_timespec(wait_until);
            pthread_cond_timedwait(&cb->cond, &cb->lock, &until);
            continue;
        }
        strset_swap(&todo, &cb->pending);
        pthread_mutex_unlock(&cb->lock);
        if (retry.n && now >= retry_at) { /* merged: a name may be in both */
            if (merge(&todo, &retry))
                log_warn("callbacks", "out of memory, changes may be late", "%s", "");
            strset_clear(&retry);
        }
        if (!cb->have_baseline) {
            struct mdo_err err = MDO_ERR_INIT;
            if (baseline(cb, &err))
                log_warn("callbacks", "cannot read the registry yet", "err=\"%s\"", err.msg);
        }
        for (size_t i = 0; cb->have_baseline && i < todo.n; i++) {
            /* one waiting for its retry waits on: it is read when its turn comes */
            if (!strset_has(&retry, todo.v[i]) && process(cb, todo.v[i])) {
                strset_add(&retry, todo.v[i]);
                retry_at = clock_deadline_ms(CB_RETRY_MS);
            }
        }
        if (!cb->have_baseline && todo.n) { /* keep them for when the registry answers */
            merge(&retry, &todo);
            retry_at = clock_deadline_ms(CB_RETRY_MS);
        }
        strset_release(&todo);
        if (clock_now_ms() >= next_sweep) {
            sweep(cb);
            next_sweep = clock_deadline_ms(CB_SWEEP_S * 1000L);
        }
        pthread_mutex_lock(&cb->lock);
    }
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
    struct cb_members *m;

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
    while ((m = cb->members)) {
        cb->members = m->next;
        free(m->service);
        reg_records_free(m->recs, m->n);
        free(m);
    }
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
