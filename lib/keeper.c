/* keeper.c - keeps the etcd registry equal to what the scheduler runs: events + reconcile */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "clock.h"
#include "keeper.h"
#include "log.h"
#include "names.h"

void keeper_init(struct keeper *k, const struct cfg *cfg, struct etcd *etcd,
                 const struct sched_ops *ops, struct sched *sched)
{
    memset(k, 0, sizeof(*k));
    k->cfg = cfg;
    k->etcd = etcd;
    k->ops = ops;
    k->sched = sched;
    pthread_mutex_init(&k->lock, NULL);
    k->held = (struct strset)STRSET_INIT;
    k->refused = (struct strset)STRSET_INIT;
    k->st.started_ms = clock_now_ms();
    k->st.etcd_ok = 1;
    k->st.sched_ok = 1;
    k->st.writer = 1;
}

void keeper_set_writer(struct keeper *k, int writer)
{
    pthread_mutex_lock(&k->lock);
    k->st.writer = writer;
    pthread_mutex_unlock(&k->lock);
}

void keeper_release(struct keeper *k)
{
    strset_release(&k->held);
    strset_release(&k->refused);
    pthread_mutex_destroy(&k->lock);
}

void keeper_note_error(struct keeper_stats *st, const struct mdo_err *err)
{
    snprintf(st->last_error, sizeof(st->last_error), "%.255s", err->msg);
    if (err->origin == MDO_SRC_ETCD) {
        st->etcd_ok = 0;
        st->etcd_errors++;
    } else if ((err->origin == MDO_SRC_DOCKER || err->origin == MDO_SRC_MARATHON) &&
               err->code == MDO_ENET) {
        st->sched_ok = 0;
        st->sched_src = err->origin;
    }
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
    if (!st->stream_connected)
        reason(r, NULL, "scheduler event stream disconnected");
    if (st->writer && !st->last_reconcile_ok_ms)
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

    buf_reset(&key);
    if (bad &&
        !buf_addf(&key, "%s/%s", rec->service ? rec->service : "",
                  rec->container ? rec->container : "") &&
        !strset_has(&k->refused, key.ptr) && !strset_add(&k->refused, key.ptr))
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

int keeper_reconcile(struct keeper *k, struct mdo_err *err)
{
    const struct cfg *cfg = k->cfg;
    struct reg_record *have = NULL, *want = NULL;
    struct reg_change *c = NULL;
    unsigned nhave = 0, nwant = 0, n = 0, failed = 0, bad = 0, held, puts = 0, dels = 0;
    struct strset newheld = STRSET_INIT;
    int ret;

    pthread_mutex_lock(&k->lock);
    if (!k->st.writer) {
        pthread_mutex_unlock(&k->lock);
        return 0;
    }
    /* registry first, scheduler second: whatever starts after the scheduler's listing is not in
     * this registry listing either, so the pass cannot remove it */
    ret = reg_list_all(k->etcd, cfg->etcd.prefix, cfg->environment, &have, &nhave, &bad, err);
    if (!ret) {
        k->st.etcd_ok = 1;
        ret = k->ops->list(k->sched, NULL, &want, &nwant, err);
        if (!ret)
            k->st.sched_ok = 1;
        if (!ret)
            nwant = drop_refused(k, want, nwant);
    }
    if (!ret && reg_diff(want, nwant, have, nhave, &c, &n))
        ret = err_set(err, MDO_ENOMEM, "out of memory");
    if (!ret) {
        held = reg_hold_mass_removals(c, &n, have, nhave, &k->held, &newheld);
        if (held) {
            log_warn("keeper", "mass removal held back until a second listing agrees",
                     "instances=%u", held);
            k->st.held_back += held;
        }
        strset_swap(&k->held, &newheld);
        n = recheck(k, c, n);
        for (unsigned i = 0; i < n; i++) {
            puts += c[i].type == REG_PUT;
            dels += c[i].type == REG_DEL;
            log_info("keeper",
                     c[i].type == REG_PUT ? "reconcile: register" : "reconcile: deregister",
                     "service=%s container=%s", c[i].rec->service, c[i].rec->container);
        }
        ret = reg_apply(k->etcd, cfg->etcd.prefix, c, n, &failed, err);
    }
    k->st.reconciles++;
    k->st.bad_records = bad;
    if (ret) {
        k->st.reconcile_errors++;
        keeper_note_error(&k->st, err);
    } else {
        k->st.reconcile_puts += puts;
        k->st.reconcile_dels += dels;
        k->st.last_reconcile_ok_ms = clock_now_ms();
        k->st.dirty = failed > 0;
        k->st.etcd_ok = 1;
        log_debug("keeper", "reconciled", "scheduler=%u registry=%u puts=%u dels=%u failed=%u",
                  nwant, nhave, puts, dels, failed);
    }
    pthread_mutex_unlock(&k->lock);
    for (unsigned i = 0; !ret && k->changed && i < n; i++) {
        int seen = 0; /* once per service: c is sorted by service */
        for (unsigned j = 0; j < i && !seen; j++)
            seen = !strcmp(c[j].rec->service, c[i].rec->service);
        if (!seen)
            k->changed(k->changed_ctx, c[i].rec->service);
    }
    free(c);
    reg_records_free(have, nhave);
    reg_records_free(want, nwant);
    strset_release(&newheld);
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

/* Writes rec unless the registry already holds exactly it; guarded so a concurrent writer (a
 * second subscriber) is not silently overwritten: on a lost race it reads and tries once more. */
static int put_record(struct keeper *k, const struct reg_record *rec, int *wrote,
                      struct mdo_err *err)
{
    struct buf key = BUF_INIT(0);
    char *val = reg_record_json(rec);
    int ret = val ? reg_key(&key, k->cfg->etcd.prefix, rec) : -MDO_ENOMEM;

    *wrote = 0;
    for (int tries = 0; !ret && tries < 2; tries++) {
        struct etcd_kvs cur = ETCD_KVS_INIT;
        struct etcd_op op = {ETCD_PUT, key.ptr, val, 0, 0};
        int applied = 0;
        ret = etcd_get(k->etcd, key.ptr, &cur, err);
        if (!ret && cur.n && !strcmp(cur.kv[0].value, val)) {
            etcd_kvs_release(&cur);
            break; /* already so */
        }
        op.mod_revision = cur.n ? cur.kv[0].mod_revision : 0;
        etcd_kvs_release(&cur);
        if (!ret)
            ret = etcd_txn(k->etcd, &op, 1, &applied, err);
        if (!ret && applied) {
            *wrote = 1;
            break;
        }
    }
    if (ret == -MDO_EUSAGE || ret == -MDO_ENOMEM)
        key_error(ret, rec, err);
    free(val);
    buf_release(&key);
    return ret;
}

void keeper_up(void *ctx, struct reg_record *rec)
{
    struct keeper *k = ctx;
    struct mdo_err err = MDO_ERR_INIT;
    int ret, wrote = 0;

    pthread_mutex_lock(&k->lock);
    if (!k->st.writer) {
        pthread_mutex_unlock(&k->lock);
        reg_record_release(rec);
        return;
    }
    if (refused(k, rec)) {
        pthread_mutex_unlock(&k->lock);
        reg_record_release(rec);
        return;
    }
    ret = put_record(k, rec, &wrote, &err);
    k->st.events_up++;
    k->st.last_event_ms = clock_now_ms();
    if (ret) {
        k->st.event_errors++;
        k->st.dirty = 1; /* the next reconcile (retried until etcd answers) heals it */
        keeper_note_error(&k->st, &err);
        log_warn("keeper", "register failed", "service=%s container=%s err=\"%s\"", rec->service,
                 rec->container, err.msg);
    } else {
        k->st.etcd_ok = 1;
        log_info("keeper", "registered", "service=%s container=%s state=%s", rec->service,
                 rec->container, rec->state ? rec->state : "");
    }
    pthread_mutex_unlock(&k->lock);
    if (wrote && k->changed)
        k->changed(k->changed_ctx, rec->service);
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

    pthread_mutex_lock(&k->lock);
    if (!k->st.writer) {
        pthread_mutex_unlock(&k->lock);
        return;
    }
    ret = reg_key(&key, k->cfg->etcd.prefix, &r);
    if (ret) {
        key_error(ret, &r, &err);
    } else {
        ret = etcd_delete(k->etcd, key.ptr, &err);
    }
    k->st.events_down++;
    k->st.last_event_ms = clock_now_ms();
    if (ret) {
        k->st.event_errors++;
        k->st.dirty = 1;
        keeper_note_error(&k->st, &err);
        log_warn("keeper", "deregister failed", "service=%s container=%s err=\"%s\"", service,
                 container, err.msg);
    } else {
        k->st.etcd_ok = 1;
        log_info("keeper", "deregistered", "service=%s container=%s", service, container);
    }
    pthread_mutex_unlock(&k->lock);
    if (!ret && k->changed)
        k->changed(k->changed_ctx, service);
    buf_release(&key);
}

void keeper_snapshot(struct keeper *k, struct keeper_stats *st, struct strset *held)
{
    pthread_mutex_lock(&k->lock);
    *st = k->st;
    if (held && strset_copy(held, &k->held))
        log_warn("keeper", "out of memory copying the held-back removals", "n=%zu", k->held.n);
    pthread_mutex_unlock(&k->lock);
}
