/* keeper_writer.c - the keeper's one writer: a bounded queue coalesced by key, drained into
 * fenced etcd transactions of at most KEEPER_BATCH writes (keeper.h) */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "clock.h"
#include "http.h"
#include "keeper.h"
#include "log.h"

#define SEEN_MAX (4u * KEEPER_QUEUE_MAX) /* keys in the seen map: 4 MiB at most */

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

/* 64-bit FNV-1a with a final mix (splitmix64's): the seen map's hash of keys and values, never
 * 0 (0 marks an empty slot) */
static uint64_t hash64(const char *s)
{
    uint64_t h = 14695981039346656037ull;

    while (*s)
        h = (h ^ (unsigned char)*s++) * 1099511628211ull;
    h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ull;
    h = (h ^ (h >> 27)) * 0x94d049bb133111ebull;
    h ^= h >> 31;
    return h ? h : 1;
}

/* The slot of key hash h in the seen map (qlock held, seen_cap > 0): its own, or the empty
 * one where it would go. */
static unsigned seen_slot(const struct keeper *k, uint64_t h)
{
    unsigned i = (unsigned)(h & (k->seen_cap - 1));

    while (k->seen[i].key && k->seen[i].key != h)
        i = (i + 1) & (k->seen_cap - 1);
    return i;
}

/* Forgets key hash h (qlock held): backward-shift deletion keeps every probe chain whole. */
static void seen_forget(struct keeper *k, uint64_t h)
{
    unsigned i, j, m = k->seen_cap - 1;

    if (!k->seen_cap || !k->seen[i = seen_slot(k, h)].key)
        return;
    k->seen_n--;
    for (j = (i + 1) & m; k->seen[j].key; j = (j + 1) & m) {
        unsigned home = (unsigned)(k->seen[j].key & m);
        /* j's entry may move to the hole at i unless its home lies cyclically in (i, j] */
        if (i <= j ? (home <= i || home > j) : (home <= i && home > j)) {
            k->seen[i] = k->seen[j];
            i = j;
        }
    }
    k->seen[i] = (struct keeper_seen){0, 0};
}

/* Remembers val hash v for key hash h (qlock held); out of memory, it is not remembered (the
 * key is then written again next time, which is only slower). */
static void seen_set(struct keeper *k, uint64_t h, uint64_t v)
{
    unsigned i;

    if (k->seen_n >= SEEN_MAX) { /* keys deleted behind its back are never forgotten: a bound */
        memset(k->seen, 0, k->seen_cap * sizeof(*k->seen));
        k->seen_n = 0;
    }
    if (2 * (k->seen_n + 1) > k->seen_cap) {
        unsigned cap = k->seen_cap ? 2 * k->seen_cap : 1024;
        struct keeper_seen *old = k->seen, *t = calloc(cap, sizeof(*t));
        unsigned ocap = k->seen_cap;
        if (!t) {
            seen_forget(k, h);
            return;
        }
        k->seen = t;
        k->seen_cap = cap;
        for (unsigned o = 0; o < ocap; o++)
            if (old[o].key)
                k->seen[seen_slot(k, old[o].key)] = old[o];
        free(old);
    }
    i = seen_slot(k, h);
    if (!k->seen[i].key)
        k->seen_n++;
    k->seen[i] = (struct keeper_seen){h, v};
}

/* Drops from b[0, n) (freed, the rest kept in order) the events whose value is the one this
 * writer last handed etcd under this fence, and remembers the others' as handed now (a delete
 * forgets its key). A reconcile's entries are always written: they come from a diff against
 * what etcd holds, which may differ from what this writer wrote. Returns how many are left. */
static unsigned skip_unchanged(struct keeper *k, struct keeper_entry *b, unsigned n, int64_t fence)
{
    unsigned m = 0, same = 0;

    pthread_mutex_lock(&k->qlock);
    if (k->seen_fence != fence) { /* another term: what an earlier one wrote proves nothing */
        if (k->seen_cap)
            memset(k->seen, 0, k->seen_cap * sizeof(*k->seen));
        k->seen_n = 0;
        k->seen_fence = fence;
    }
    for (unsigned i = 0; i < n; i++) {
        uint64_t h = hash64(b[i].key), v = b[i].val ? hash64(b[i].val) : 0;
        if (b[i].event && v && k->seen_cap) {
            unsigned at = seen_slot(k, h);
            if (k->seen[at].key && k->seen[at].val == v) {
                entry_free(&b[i]);
                same++;
                continue;
            }
        }
        if (v)
            seen_set(k, h, v);
        else
            seen_forget(k, h);
        if (m != i)
            b[m] = b[i];
        m++;
    }
    pthread_mutex_unlock(&k->qlock);
    if (same) {
        pthread_mutex_lock(&k->lock);
        k->st.unchanged += same;
        pthread_mutex_unlock(&k->lock);
    }
    return m;
}

/* Forgets the keys of b[0, n) whose write did not land for sure (ok[i] 0; ok NULL: none did). */
static void seen_failed(struct keeper *k, const struct keeper_entry *b, unsigned n, const char *ok)
{
    pthread_mutex_lock(&k->qlock);
    for (unsigned i = 0; i < n; i++)
        if (!ok || !ok[i])
            seen_forget(k, hash64(b[i].key));
    pthread_mutex_unlock(&k->qlock);
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
        unsigned h = k->q[i].h % k->qhcap;
        while (k->qh[h])
            h = (h + 1) % k->qhcap;
        k->qh[h] = i + 1;
    }
    return 0;
}

/* Position of key in q, or -1 (qlock held). */
static long find(struct keeper *k, const char *key, unsigned kh)
{
    if (!k->qhcap) {
        for (unsigned i = 0; i < k->qn; i++)
            if (!strcmp(k->q[i].key, key))
                return i;
        return -1;
    }
    for (unsigned h = kh % k->qhcap; k->qh[h]; h = (h + 1) % k->qhcap)
        if (k->q[k->qh[h] - 1].h == kh && !strcmp(k->q[k->qh[h] - 1].key, key))
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
        strdup(key), val ? strdup(val) : NULL, strdup(service), strdup(container), guard, event,
        hash(key)};
    long at;
    int ret = 0;

    if (!e.key || (val && !e.val) || !e.service || !e.container) {
        entry_free(&e);
        dropped(k, 1);
        return -1;
    }
    pthread_mutex_lock(&k->qlock);
    at = find(k, key, e.h);
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
                unsigned h = e.h % k->qhcap;
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
    if (!(n = skip_unchanged(k, b, n, fence)))
        goto out;
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
        seen_failed(k, b, n, NULL);
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
    if (ret || failed)
        seen_failed(k, b, n, ret ? NULL : ok);
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
