/* leader.c - leader election on an etcd lease: renew, or create the key if it is free */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include "clock.h"
#include "http.h"
#include "leader.h"
#include "log.h"
#include "registry.h"

int leader_init(struct leader *l, struct etcd *e, const char *prefix, const char *env,
                const char *value, long ttl)
{
    struct buf key = BUF_INIT(0);
    int ret = reg_leader_key(&key, prefix, env);

    memset(l, 0, sizeof(*l));
    pthread_mutex_init(&l->lock, NULL);
    clock_cond_init(&l->cond);
    l->etcd = e;
    l->ttl = ttl < 2 ? 2 : ttl;
    if (!ret && !(l->key = buf_detach(&key)))
        ret = -MDO_ENOMEM;
    if (!ret && !(l->value = strdup(value)))
        ret = -MDO_ENOMEM;
    if (ret)
        leader_release(l);
    buf_release(&key);
    return ret;
}

char *leader_value(const char *host, long pid, const char *listen)
{
    cJSON *o = cJSON_CreateObject();
    char id[300], *out = NULL;
    int n = snprintf(id, sizeof(id), "%s:%ld", host, pid);

    if (o && n > 0 && (size_t)n < sizeof(id) && cJSON_AddStringToObject(o, "id", id) &&
        cJSON_AddStringToObject(o, "listen", listen))
        out = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return out;
}

/* How long a renewal that started at t0 is trusted: ttl - margin. */
static int64_t trusted_until(const struct leader *l, int64_t t0)
{
    int64_t ttl = (int64_t)l->ttl * 1000, margin = ttl / 4 < 500 ? 500 : ttl / 4;

    return t0 + ttl - margin;
}

int leader_tick(struct leader *l, struct mdo_err *err)
{
    struct etcd_kvs cur = ETCD_KVS_INIT;
    int ret = 0, applied = 0, was = l->is_leader;
    int64_t t0 = clock_now_ms(); /* the lease runs from before the request, not after it */

    if (l->lease) {
        ret = etcd_lease_keepalive(l->etcd, l->lease, err);
        if (ret == -MDO_ENOTFOUND) { /* expired: whatever it held is gone */
            l->lease = 0;
            l->is_leader = 0;
            l->rev = 0;
            ret = 0;
        }
        if (ret)
            return ret;
    }
    if (!l->lease)
        ret = etcd_lease_grant(l->etcd, l->ttl, &l->lease, err);
    if (!ret)
        ret = etcd_get(l->etcd, l->key, &cur, err);
    if (!ret && !cur.n) { /* free: campaign, then read back the revision it was created at */
        struct etcd_op op = {ETCD_PUT, l->key, l->value, 0, l->lease};
        ret = etcd_txn(l->etcd, &op, 1, &applied, err);
        etcd_kvs_release(&cur);
        if (!ret)
            ret = etcd_get(l->etcd, l->key, &cur, err);
    }
    if (!ret) {
        /* held: by us when it is bound to our lease */
        int ours = cur.n && cur.kv[0].lease == l->lease;
        l->rev = ours ? cur.kv[0].create_revision : 0;
        if (ours)
            l->valid_until = trusted_until(l, t0);
        l->is_leader = ours;
    }
    etcd_kvs_release(&cur);
    if (!ret && was != l->is_leader)
        log_info("leader",
                 l->is_leader ? "leading: this subscriber writes the registry"
                              : "following: another subscriber writes the registry",
                 "key=%s", l->key);
    return ret;
}

int64_t leader_fence(void *ctx)
{
    struct leader *l = ctx;
    int64_t rev = l->rev;

    return l->is_leader && rev > 0 && clock_now_ms() < l->valid_until ? rev : 0;
}

static void *lease_main(void *arg)
{
    struct leader *l = arg;
    int64_t period = (int64_t)l->ttl * 1000 / 3;

    pthread_mutex_lock(&l->lock);
    while (!l->stop) {
        struct mdo_err err = MDO_ERR_INIT;
        int64_t next = clock_deadline_ms(period);
        pthread_mutex_unlock(&l->lock);
        int ret = leader_tick(l, &err);
        if (ret)
            log_warn("leader", "leader lease not renewed", "err=\"%s\"", err.msg);
        if (l->ticked)
            l->ticked(l->ticked_ctx, ret, &err);
        pthread_mutex_lock(&l->lock);
        while (!l->stop && clock_left_ms(next) > 0) {
            struct timespec until = clock_timespec(next);
            pthread_cond_timedwait(&l->cond, &l->lock, &until);
        }
    }
    l->exited = 1;
    pthread_cond_broadcast(&l->cond);
    pthread_mutex_unlock(&l->lock);
    http_thread_cleanup();
    return NULL;
}

int leader_start(struct leader *l)
{
    int e = pthread_create(&l->thread, NULL, lease_main, l);

    l->running = !e;
    return e;
}

int leader_stop(struct leader *l, long wait_ms)
{
    int64_t deadline = clock_deadline_ms(wait_ms);
    int gone;

    if (!l->running)
        return 0;
    pthread_mutex_lock(&l->lock);
    l->stop = 1;
    pthread_cond_broadcast(&l->cond);
    while (!l->exited && clock_left_ms(deadline) > 0) {
        struct timespec until = clock_timespec(deadline);
        pthread_cond_timedwait(&l->cond, &l->lock, &until);
    }
    gone = l->exited;
    pthread_mutex_unlock(&l->lock);
    if (!gone) {
        log_warn("leader", "the lease thread is stuck in an etcd call; abandoned", "%s", "");
        pthread_detach(l->thread);
        return -1;
    }
    pthread_join(l->thread, NULL);
    l->running = 0;
    return 0;
}

void leader_resign(struct leader *l)
{
    struct mdo_err err = MDO_ERR_INIT;

    if (l->lease && etcd_lease_revoke(l->etcd, l->lease, &err))
        log_warn("leader", "could not give the lease back; it expires by itself",
                 "ttl=%ld err=\"%s\"", l->ttl, err.msg);
    l->lease = 0;
    l->is_leader = 0;
    l->rev = 0;
}

void leader_release(struct leader *l)
{
    free(l->key);
    free(l->value);
    l->key = l->value = NULL;
    if (l->etcd) { /* once: leader_init's failure path releases too */
        pthread_cond_destroy(&l->cond);
        pthread_mutex_destroy(&l->lock);
        l->etcd = NULL;
    }
}
