/* keeper_writer.c - the keeper's one writer: a bounded queue coalesced by key, drained into
 * fenced etcd transactions of at most KEEPER_BATCH writes (keeper.h) */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "clock.h"
#include "http.h"
#include "keeper.h"
#include "log.h"

static unsigned hash(const char *s)
{
    unsigned h = 2166136261u; /* FNV-1a */

    while (*s)
        h = (h ^ (unsigned char)*s++) * 16777619u;
    return h;
}

static void entry_free(struct keeper_entry *e)
{
    free(e->key);
    free(e->val);
    free(e->service);
    free(e->container);
    memset(e, 0, sizeof(*e));
}

/* The index rebuilt from q (qlock held). 0, or -1 out of memory (then no index: lookups scan). */
static int reindex(struct keeper *k)
{
    if (k->qhcap < 2 * k->qcap) {
        free(k->qh);
        k->qhcap = 0;
        if (!(k->qh = calloc(2 * (size_t)k->qcap, sizeof(*k->qh))))
            return -1;
        k->qhcap = 2 * k->qcap;
    } else {
        memset(k->qh, 0, k->qhcap * sizeof(*k->qh));
    }
    for (unsigned i = 0; i < k->qn; i++) {
        unsigned h = hash(k->q[i].key) % k->qhcap;
        while (k->qh[h])
            h = (h + 1) % k->qhcap;
        k->qh[h] = i + 1;
    }
    return 0;
}

/* Position of key in q, or -1 (qlock held). */
static long find(struct keeper *k, const char *key)
{
    if (!k->qhcap) {
        for (unsigned i = 0; i < k->qn; i++)
            if (!strcmp(k->q[i].key, key))
                return i;
        return -1;
    }
    for (unsigned h = hash(key) % k->qhcap; k->qh[h]; h = (h + 1) % k->qhcap)
        if (!strcmp(k->q[k->qh[h] - 1].key, key))
            return k->qh[h] - 1;
    return -1;
}

static void dropped(struct keeper *k, unsigned n)
{
    pthread_mutex_lock(&k->lock);
    k->st.dropped += n;
    k->st.dirty = 1; /* a reconcile heals what was not written */
    pthread_mutex_unlock(&k->lock);
}

int keeper_enqueue(struct keeper *k, const char *key, const char *val, const char *service,
                   const char *container, int64_t guard, int event)
{
    struct keeper_entry e = {
        strdup(key), val ? strdup(val) : NULL, strdup(service), strdup(container), guard, event};
    long at;
    int ret = 0;

    if (!e.key || (val && !e.val) || !e.service || !e.container) {
        entry_free(&e);
        dropped(k, 1);
        return -1;
    }
    pthread_mutex_lock(&k->qlock);
    at = find(k, key);
    if (at >= 0) { /* the newest wanted state wins, but a listing never overrides an event */
        if (event || !k->q[at].event) {
            entry_free(&k->q[at]);
            k->q[at] = e;
        } else {
            entry_free(&e);
        }
    } else if (k->qn >= KEEPER_QUEUE_MAX) {
        ret = -1;
    } else {
        if (k->qn == k->qcap) {
            unsigned cap = k->qcap ? 2 * k->qcap : 256;
            struct keeper_entry *q = realloc(k->q, cap * sizeof(*q));
            if (q) {
                k->q = q;
                k->qcap = cap;
            }
        }
        if (k->qn < k->qcap) {
            k->q[k->qn++] = e;
            if (k->qhcap < 2 * k->qcap || k->qn == 1) {
                reindex(k);
            } else {
                unsigned h = hash(key) % k->qhcap;
                while (k->qh[h])
                    h = (h + 1) % k->qhcap;
                k->qh[h] = k->qn;
            }
        } else {
            ret = -1;
        }
    }
    if (!ret)
        pthread_cond_signal(&k->work);
    pthread_mutex_unlock(&k->qlock);
    if (ret) {
        log_warn("keeper", "write queue full, left for the next reconcile", "key=%s", key);
        entry_free(&e);
        dropped(k, 1);
    }
    return ret;
}

/* Takes up to KEEPER_BATCH entries off the head of q into b (qlock held); returns how many. */
static unsigned take(struct keeper *k, struct keeper_entry *b)
{
    unsigned n = k->qn < KEEPER_BATCH ? k->qn : KEEPER_BATCH;

    k->busy = n > 0;
    if (!n)
        return 0;
    memcpy(b, k->q, n * sizeof(*b));
    memmove(k->q, k->q + n, (k->qn - n) * sizeof(*b));
    k->qn -= n;
    if (k->qhcap)
        reindex(k);
    return n;
}

/* One txn of b[0, n), fenced by fence (> 0). Returns 0 (applied set) or etcd's error. */
static int txn(struct keeper *k, const struct keeper_entry *b, unsigned n, int64_t fence,
               int *applied, struct mdo_err *err)
{
    struct etcd_op ops[KEEPER_BATCH + 1];
    unsigned m = 0;
    int ret;

    if (fence > 0)
        ops[m++] = (struct etcd_op){ETCD_CMP_CREATE, k->fence_key, NULL, fence, 0};
    for (unsigned i = 0; i < n; i++)
        ops[m++] =
            (struct etcd_op){b[i].val ? ETCD_PUT : ETCD_DEL, b[i].key, b[i].val, b[i].guard, 0};
    ret = etcd_txn(k->etcd, ops, m, applied, err);
    pthread_mutex_lock(&k->lock);
    k->st.txns++;
    pthread_mutex_unlock(&k->lock);
    return ret;
}

/* 1 when the leader key is no longer the one fence names (read again after a refused txn). */
static int fence_lost(struct keeper *k, int64_t fence)
{
    struct etcd_kvs cur = ETCD_KVS_INIT;
    struct mdo_err err = MDO_ERR_INIT;
    int lost = 0;

    if (fence > 0 && !etcd_get(k->etcd, k->fence_key, &cur, &err))
        lost = !cur.n || cur.kv[0].create_revision != fence;
    etcd_kvs_release(&cur);
    return lost;
}

static void done(struct keeper *k, const struct keeper_entry *b, unsigned n, const char *ok)
{
    for (unsigned i = 0; i < n; i++) {
        if (ok[i] && b[i].event) /* a reconcile's were logged by the pass ("reconcile: ...") */
            log_info("keeper", b[i].val ? "registered" : "deregistered", "service=%s container=%s",
                     b[i].service, b[i].container);
        if (!ok[i] || !k->changed)
            continue;
        int seen = 0; /* once per service and batch */
        for (unsigned j = 0; j < i && !seen; j++)
            seen = ok[j] && !strcmp(b[j].service, b[i].service);
        if (!seen)
            k->changed(k->changed_ctx, b[i].service);
    }
}

/* Writes b[0, n) (then frees it): one txn; when a guard fails, one txn per entry so that one
 * stale key does not hold back the rest; when the fence fails, nothing (this one is deposed). */
static void write_batch(struct keeper *k, struct keeper_entry *b, unsigned n)
{
    struct mdo_err err = MDO_ERR_INIT;
    int64_t fence = keeper_leading(k);
    char ok[KEEPER_BATCH];
    unsigned failed = 0;
    int applied = 0, ret = 0;

    memset(ok, 0, sizeof(ok));
    if (!fence) {
        dropped(k, n); /* a follower writes nothing; the next leader's baseline covers it */
        goto out;
    }
    ret = txn(k, b, n, fence, &applied, &err);
    if (!ret && applied)
        memset(ok, 1, n);
    if (!ret && !applied && fence_lost(k, fence)) {
        k->deposed = fence;
        log_warn("keeper", "deposed: etcd refused the write, the leader key is not ours",
                 "writes=%u", n);
        pthread_mutex_lock(&k->lock);
        k->st.fenced_out++;
        k->st.dropped += n;
        pthread_mutex_unlock(&k->lock);
        goto out;
    }
    for (unsigned i = 0; !ret && !applied && i < n; i++) {
        int one = 0;
        ret = n > 1 ? txn(k, b + i, 1, fence, &one, &err) : 0;
        ok[i] = (char)one;
        if (!ret && !one) {
            log_info("keeper", "guarded write lost a race, left for the next pass",
                     "service=%s container=%s", b[i].service, b[i].container);
            failed++;
        }
    }
    pthread_mutex_lock(&k->lock);
    if (ret) {
        keeper_note_error(&k->st, &err);
        k->st.dirty = 1; /* the next reconcile (retried until etcd answers) heals it */
        for (unsigned i = 0; i < n; i++)
            k->st.event_errors += b[i].event;
    } else {
        k->st.etcd_ok = 1;
        k->st.dirty |= failed > 0;
    }
    pthread_mutex_unlock(&k->lock);
    if (ret) {
        log_warn("keeper", "registry write failed, left for the next reconcile",
                 "writes=%u err=\"%s\"", n, err.msg);
        pthread_mutex_lock(&k->qlock);
        k->werrors++;
        k->werr = err;
        pthread_mutex_unlock(&k->qlock);
    }
    done(k, b, n, ok);
out:
    for (unsigned i = 0; i < n; i++)
        entry_free(&b[i]);
}

void keeper_drain(struct keeper *k)
{
    struct keeper_entry b[KEEPER_BATCH];
    unsigned n;

    for (;;) {
        pthread_mutex_lock(&k->qlock);
        n = take(k, b);
        pthread_mutex_unlock(&k->qlock);
        if (!n)
            break;
        write_batch(k, b, n);
        pthread_mutex_lock(&k->qlock);
        k->busy = 0;
        pthread_cond_broadcast(&k->idle);
        pthread_mutex_unlock(&k->qlock);
    }
}

static void *writer_main(void *arg)
{
    struct keeper *k = arg;
    struct keeper_entry b[KEEPER_BATCH];

    pthread_mutex_lock(&k->qlock);
    while (!k->stop) {
        unsigned n = take(k, b);
        if (!n) {
            pthread_cond_broadcast(&k->idle);
            pthread_cond_wait(&k->work, &k->qlock);
            continue;
        }
        pthread_mutex_unlock(&k->qlock);
        write_batch(k, b, n);
        pthread_mutex_lock(&k->qlock);
        k->busy = 0;
    }
    k->wexit = 1;
    pthread_cond_broadcast(&k->idle);
    pthread_mutex_unlock(&k->qlock);
    http_thread_cleanup();
    return NULL;
}

int keeper_wait_idle(struct keeper *k, int64_t deadline_ms)
{
    int ret;

    if (!k->threaded) {
        keeper_drain(k);
        return 0;
    }
    pthread_mutex_lock(&k->qlock);
    while ((k->qn || k->busy) && !k->stop && !k->wexit && clock_left_ms(deadline_ms) > 0) {
        struct timespec until = clock_timespec(deadline_ms);
        pthread_cond_timedwait(&k->idle, &k->qlock, &until);
    }
    ret = k->qn || k->busy ? -1 : 0;
    pthread_mutex_unlock(&k->qlock);
    return ret;
}

int keeper_start(struct keeper *k)
{
    int e = pthread_create(&k->wthread, NULL, writer_main, k);

    if (!e)
        k->threaded = 1;
    return e;
}

int keeper_stop(struct keeper *k, int64_t wait_ms)
{
    int64_t deadline = clock_deadline_ms(wait_ms);
    int gone;

    pthread_mutex_lock(&k->qlock);
    k->stop = 1;
    pthread_cond_broadcast(&k->work);
    pthread_cond_broadcast(&k->idle);
    while (k->threaded && !k->wexit && clock_left_ms(deadline) > 0) {
        struct timespec until = clock_timespec(deadline);
        pthread_cond_timedwait(&k->idle, &k->qlock, &until);
    }
    gone = !k->threaded || k->wexit;
    pthread_mutex_unlock(&k->qlock);
    if (!k->threaded)
        return 0;
    if (!gone) {
        log_warn("keeper", "the writer is stuck in a registry write; abandoned", "wait_ms=%lld",
                 (long long)wait_ms);
        pthread_detach(k->wthread);
        return -1;
    }
    pthread_join(k->wthread, NULL);
    k->threaded = 0;
    return 0;
}
