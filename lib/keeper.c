/* keeper.c - keeps the etcd registry equal to what the scheduler runs: events + reconcile */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "clock.h"
#include "keeper.h"
#include "log.h"
#include "names.h"
#include "redact.h"

void keeper_init(struct keeper *k, const struct cfg *cfg, struct etcd *etcd,
                 const struct sched_ops *ops, struct sched *sched)
{
    memset(k, 0, sizeof(*k));
    k->cfg = cfg;
    k->etcd = etcd;
    k->ops = ops;
    k->sched = sched;
    pthread_mutex_init(&k->lock, NULL);
    pthread_mutex_init(&k->qlock, NULL);
    clock_cond_init(&k->work);
    clock_cond_init(&k->idle);
    k->held = (struct strset)STRSET_INIT;
    k->refused = (struct strset)STRSET_INIT;
    k->st.started_ms = clock_now_ms();
    k->st.etcd_ok = 1;
    k->st.sched_ok = 1;
    k->st.sched_src =
        ops && ops->name && !strcmp(ops->name, "marathon") ? MDO_SRC_MARATHON : MDO_SRC_DOCKER;
    k->writer = 1;
}

void keeper_set_writer(struct keeper *k, int writer)
{
    k->writer = writer;
}

void keeper_set_fence(struct keeper *k, const char *key, int64_t (*fence)(void *ctx), void *ctx)
{
    k->fence_key = key;
    k->fence_ctx = ctx;
    k->fence = fence;
    pthread_mutex_lock(&k->lock);
    k->st.lease_pending = key != NULL;
    pthread_mutex_unlock(&k->lock);
}

void keeper_lease_decided(struct keeper *k)
{
    pthread_mutex_lock(&k->lock);
    k->st.lease_pending = 0;
    pthread_mutex_unlock(&k->lock);
}

int64_t keeper_leading(struct keeper *k)
{
    int64_t f;

    if (!k->fence)
        return k->writer ? -1 : 0;
    f = k->fence(k->fence_ctx);
    return f > 0 && f != k->deposed ? f : 0;
}

void keeper_release(struct keeper *k)
{
    for (unsigned i = 0; i < k->qn; i++) {
        free(k->q[i].key);
        free(k->q[i].val);
        free(k->q[i].service);
        free(k->q[i].container);
    }
    free(k->q);
    free(k->qh);
    free(k->seen);
    strset_release(&k->held);
    strset_release(&k->refused);
    pthread_cond_destroy(&k->work);
    pthread_cond_destroy(&k->idle);
    pthread_mutex_destroy(&k->qlock);
    pthread_mutex_destroy(&k->lock);
}

void keeper_note_error(struct keeper_stats *st, const struct mdo_err *err)
{
    snprintf(st->last_error, sizeof(st->last_error), "%.255s", err->msg);
    redact_fixed(st->last_error, sizeof(st->last_error)); /* /health shows it */
    if (err->origin == MDO_SRC_ETCD) {
        st->etcd_ok = 0;
        st->etcd_errors++;
    } else if ((err->origin == MDO_SRC_DOCKER || err->origin == MDO_SRC_MARATHON) &&
               err->code == MDO_ENET) {
        st->sched_ok = 0;
        st->sched_src = err->origin;
    }
}

void keeper_note(struct keeper *k, int ret, const struct mdo_err *err)
{
    pthread_mutex_lock(&k->lock);
    if (ret)
        keeper_note_error(&k->st, err);
    else if (err->origin == MDO_SRC_ETCD || err->origin == MDO_SRC_NONE)
        k->st.etcd_ok = 1;
    pthread_mutex_unlock(&k->lock);
}

void keeper_waiting(struct keeper *k, int on)
{
    pthread_mutex_lock(&k->lock);
    k->st.listing_since_ms = on ? clock_now_ms() : 0;
    pthread_mutex_unlock(&k->lock);
}

/* "<peer> <text>", or text alone when peer is NULL. */
static void reason(struct keeper_reasons *r, const char *peer, const char *text)
{
    if (r->n < KEEPER_REASONS_MAX)
        snprintf(r->text[r->n++], sizeof(r->text[0]), "%s%s%s", peer ? peer : "", peer ? " " : "",
                 text);
}

void keeper_reasons(const struct keeper_stats *st, size_t nheld, struct keeper_reasons *r)
{
    r->n = 0;
    if (!st->etcd_ok)
        reason(r, err_src_name(MDO_SRC_ETCD), "unreachable");
    if (!st->sched_ok)
        reason(r, err_src_name(st->sched_src), "unreachable");
    else if (st->listing_since_ms && clock_now_ms() - st->listing_since_ms > KEEPER_SLOW_MS)
        reason(r, err_src_name(st->sched_src), "not answering");
    if (!st->stream_connected)
        reason(r, NULL, "scheduler event stream disconnected");
    if (st->lease_pending)
        reason(r, NULL, "leadership not decided yet");
    else if (!st->ready && st->writer && !st->last_reconcile_ok_ms)
        reason(r, NULL, "no reconcile has succeeded yet");
    if (nheld)
        reason(r, NULL, "mass removal held back until a second listing agrees");
}

/* Asks the scheduler once more about each instance a pass would remove: one that runs now
 * (it started after the listing, or the listing missed it) is kept. Returns the new count. */
static unsigned recheck(struct keeper *k, struct reg_change *c, unsigned n)
{
    unsigned kept = 0;

    for (unsigned i = 0; i < n; i++) {
        struct mdo_err err = MDO_ERR_INIT;
        int alive = 0;
        if (k->stop) /* stopping: what is not rechecked is not removed */
            continue;
        if (c[i].type == REG_DEL && c[i].rec->host && k->ops->alive)
            alive = k->ops->alive(k->sched, c[i].rec, &err);
        if (alive != 0) {
            log_info("keeper",
                     alive > 0 ? "recheck: still running, kept"
                               : "recheck failed, removal left for the next pass",
                     "service=%s container=%s", c[i].rec->service, c[i].rec->container);
            continue;
        }
        c[kept++] = c[i];
    }
    return kept;
}

/* 1 (logged the first time only) when rec's names cannot be a registry key (names.h): such a
 * record is never written, and never fails a pass or makes it loop. */
static int refused(struct keeper *k, const struct reg_record *rec)
{
    struct buf key = BUF_INIT(4096);
    int bad = reg_key(&key, k->cfg->etcd.prefix, rec) == -MDO_EUSAGE;

    int first = 0;

    buf_reset(&key);
    pthread_mutex_lock(&k->qlock);
    if (bad &&
        !buf_addf(&key, "%s/%s", rec->service ? rec->service : "",
                  rec->container ? rec->container : "") &&
        !strset_has(&k->refused, key.ptr) && !strset_add(&k->refused, key.ptr))
        first = 1;
    pthread_mutex_unlock(&k->qlock);
    if (first)
        log_warn("keeper", "instance skipped: its names cannot be a registry key",
                 "service=%s container=%s", rec->service ? rec->service : "",
                 rec->container ? rec->container : "");
    buf_release(&key);
    return bad;
}

/* Drops the records refused() refuses; returns how many are left (v keeps them in order). */
static unsigned drop_refused(struct keeper *k, struct reg_record *v, unsigned n)
{
    unsigned m = 0;

    for (unsigned i = 0; i < n; i++) {
        if (refused(k, &v[i])) {
            reg_record_release(&v[i]);
            continue;
        }
        if (m != i)
            v[m] = v[i];
        m++;
    }
    return m;
}

/* Hands c[0, n) to the writer; returns how many could not be queued. */
static unsigned hand_over(struct keeper *k, const struct reg_change *c, unsigned n)
{
    struct buf key = BUF_INIT(0);
    unsigned lost = 0;

    for (unsigned i = 0; i < n; i++) {
        char *val = c[i].type == REG_PUT ? reg_record_json(c[i].rec) : NULL;
        buf_reset(&key);
        if ((c[i].type == REG_PUT && !val) || reg_key(&key, k->cfg->etcd.prefix, c[i].rec) ||
            keeper_enqueue(k, key.ptr, val, c[i].rec->service, c[i].rec->container, c[i].guard, 0))
            lost++;
        free(val);
    }
    buf_release(&key);
    return lost;
}

int keeper_reconcile(struct keeper *k, struct mdo_err *err)
{
    const struct cfg *cfg = k->cfg;
    struct reg_record *have = NULL, *want = NULL;
    struct reg_change *c = NULL;
    unsigned nhave = 0, nwant = 0, n = 0, bad = 0, held, puts = 0, dels = 0, lost = 0;
    unsigned long werrors;
    struct strset newheld = STRSET_INIT;
    int ret;

    if (!keeper_leading(k))
        return 0;
    pthread_mutex_lock(&k->qlock);
    werrors = k->werrors;
    pthread_mutex_unlock(&k->qlock);
    /* registry first, scheduler second: whatever starts after the scheduler's listing is not in
     * this registry listing either, so the pass cannot remove it. No lock is held: the writer
     * and the HTTP side go on meanwhile. */
    ret = reg_list_all(k->etcd, cfg->etcd.prefix, cfg->environment, &have, &nhave, &bad, err);
    if (!ret) {
        pthread_mutex_lock(&k->lock);
        k->st.listing_since_ms = clock_now_ms();
        pthread_mutex_unlock(&k->lock);
        ret = k->ops->list(k->sched, NULL, &want, &nwant, err);
        pthread_mutex_lock(&k->lock);
        k->st.listing_since_ms = 0;
        k->st.etcd_ok = 1;
        if (!ret)
            k->st.sched_ok = 1;
        pthread_mutex_unlock(&k->lock);
        if (!ret)
            nwant = drop_refused(k, want, nwant);
    }
    if (!ret && reg_diff(want, nwant, have, nhave, &c, &n))
        ret = err_set(err, MDO_ENOMEM, "out of memory");
    if (!ret) {
        held = reg_hold_mass_removals(c, &n, have, nhave, &k->held, &newheld);
        if (held)
            log_warn("keeper", "mass removal held back until a second listing agrees",
                     "instances=%u", held);
        pthread_mutex_lock(&k->lock);
        k->st.held_back += held;
        strset_swap(&k->held, &newheld);
        pthread_mutex_unlock(&k->lock);
        n = recheck(k, c, n);
        for (unsigned i = 0; i < n; i++) {
            puts += c[i].type == REG_PUT;
            dels += c[i].type == REG_DEL;
            log_info("keeper",
                     c[i].type == REG_PUT ? "reconcile: register" : "reconcile: deregister",
                     "service=%s container=%s", c[i].rec->service, c[i].rec->container);
        }
        lost = hand_over(k, c, n);
        /* the pass counts as done when the writer has written it (or the keeper stops) */
        keeper_wait_idle(k, clock_deadline_ms(30000));
        pthread_mutex_lock(&k->qlock);
        if (k->werrors != werrors) { /* the writer failed on etcd meanwhile */
            *err = k->werr;
            ret = -k->werr.code;
        }
        pthread_mutex_unlock(&k->qlock);
    }
    pthread_mutex_lock(&k->lock);
    k->st.reconciles++;
    k->st.bad_records = bad;
    if (ret) {
        k->st.reconcile_errors++;
        keeper_note_error(&k->st, err);
    } else {
        k->st.reconcile_puts += puts;
        k->st.reconcile_dels += dels;
        k->st.last_reconcile_ok_ms = clock_now_ms();
        k->st.dirty = lost > 0 || k->st.dirty;
        k->st.etcd_ok = 1;
    }
    pthread_mutex_unlock(&k->lock);
    if (!ret)
        log_debug("keeper", "reconciled", "scheduler=%u registry=%u puts=%u dels=%u lost=%u", nwant,
                  nhave, puts, dels, lost);
    free(c);
    reg_records_free(have, nhave);
    reg_records_free(want, nwant);
    strset_release(&newheld);
    /* a pass's listings (two copies of the registry, every inspect's JSON) are its peak: give
     * the freed pages back, or glibc keeps them in this thread's arena for good */
    malloc_trim(0);
    return ret;
}

/* Fills err for reg_key()'s own failures: a name that breaks its rule (names.h), or ENOMEM. */
static void key_error(int ret, const struct reg_record *r, struct mdo_err *err)
{
    if (ret == -MDO_ENOMEM)
        err_set(err, MDO_ENOMEM, "out of memory");
    else if (!name_check("service", r->service, err) &&
             !segment_check("container", r->container, err))
        err_set(err, MDO_EUSAGE, "environment '%s' makes no registry key", r->environment);
}

/* An event could not be queued: counted, logged, and healed by the next reconcile. */
static void event_failed(struct keeper *k, const char *what, const char *service,
                         const char *container, const struct mdo_err *err)
{
    pthread_mutex_lock(&k->lock);
    k->st.event_errors++;
    k->st.dirty = 1;
    keeper_note_error(&k->st, err);
    pthread_mutex_unlock(&k->lock);
    log_warn("keeper", what, "service=%s container=%s err=\"%s\"", service, container, err->msg);
}

static void event_seen(struct keeper *k, int up)
{
    pthread_mutex_lock(&k->lock);
    if (up)
        k->st.events_up++;
    else
        k->st.events_down++;
    k->st.last_event_ms = clock_now_ms();
    pthread_mutex_unlock(&k->lock);
}

void keeper_up(void *ctx, struct reg_record *rec)
{
    struct keeper *k = ctx;
    struct mdo_err err = MDO_ERR_INIT;
    struct buf key = BUF_INIT(0);
    char *val = NULL;
    int ret;

    if (k->stop || !keeper_leading(k) || refused(k, rec)) {
        reg_record_release(rec);
        return;
    }
    event_seen(k, 1);
    ret = reg_key(&key, k->cfg->etcd.prefix, rec);
    if (!ret && !(val = reg_record_json(rec)))
        ret = -MDO_ENOMEM;
    if (ret)
        key_error(ret, rec, &err);
    else if (keeper_enqueue(k, key.ptr, val, rec->service, rec->container, ETCD_ANY, 1))
        ret = err_set(&err, MDO_ENOMEM, "write queue full");
    if (ret)
        event_failed(k, "register failed", rec->service, rec->container, &err);
    else if (!k->threaded)
        keeper_drain(k);
    free(val);
    buf_release(&key);
    reg_record_release(rec);
}

void keeper_down(void *ctx, const char *service, const char *container)
{
    struct keeper *k = ctx;
    struct mdo_err err = MDO_ERR_INIT;
    struct buf key = BUF_INIT(0);
    /* only read by reg_key(): the casts lend the names, nothing writes through them */
    struct reg_record r = {.service = (char *)service,
                           .container = (char *)container,
                           .environment = (char *)k->cfg->environment};
    int ret;

    if (k->stop || !keeper_leading(k))
        return;
    event_seen(k, 0);
    ret = reg_key(&key, k->cfg->etcd.prefix, &r);
    if (ret)
        key_error(ret, &r, &err);
    else if (keeper_enqueue(k, key.ptr, NULL, service, container, ETCD_ANY, 1))
        ret = err_set(&err, MDO_ENOMEM, "write queue full");
    if (ret)
        event_failed(k, "deregister failed", service, container, &err);
    else if (!k->threaded)
        keeper_drain(k);
    buf_release(&key);
}

void keeper_snapshot(struct keeper *k, struct keeper_stats *st, struct strset *held)
{
    int64_t f = keeper_leading(k);
    unsigned long queued;

    pthread_mutex_lock(&k->qlock);
    queued = k->qn;
    pthread_mutex_unlock(&k->qlock);
    pthread_mutex_lock(&k->lock);
    if (!k->st.ready && !k->st.lease_pending && (!f || k->st.last_reconcile_ok_ms))
        k->st.ready = 1; /* decided, and a leader has reconciled: the start gate is passed */
    *st = k->st;
    st->writer = f != 0;
    st->queued = queued;
    if (held && strset_copy(held, &k->held))
        log_warn("keeper", "out of memory copying the held-back removals", "n=%zu", k->held.n);
    pthread_mutex_unlock(&k->lock);
}
