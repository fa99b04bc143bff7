/* leader.c - leader election on an etcd lease: renew, or create the key if it is free */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "leader.h"
#include "log.h"

int leader_init(struct leader *l, struct etcd *e, const char *prefix, const char *env,
                const char *value, long ttl)
{
    size_t n = strlen(prefix) + strlen(env) + 16;

    memset(l, 0, sizeof(*l));
    l->etcd = e;
    l->ttl = ttl < 2 ? 2 : ttl;
    l->key = malloc(n);
    l->value = strdup(value);
    if (!l->key || !l->value) {
        leader_release(l);
        return -MDO_ENOMEM;
    }
    snprintf(l->key, n, "%s/%s/leader", prefix, env);
    return 0;
}

int leader_tick(struct leader *l, struct mdo_err *err)
{
    struct etcd_kvs cur = ETCD_KVS_INIT;
    int ret = 0, applied = 0, was = l->is_leader;

    if (l->lease) {
        ret = etcd_lease_keepalive(l->etcd, l->lease, err);
        if (ret == -MDO_ENOTFOUND) { /* expired: whatever it held is gone */
            l->lease = 0;
            l->is_leader = 0;
            ret = 0;
        }
        if (ret)
            return ret;
    }
    if (!l->lease)
        ret = etcd_lease_grant(l->etcd, l->ttl, &l->lease, err);
    if (!ret)
        ret = etcd_get(l->etcd, l->key, &cur, err);
    if (!ret && cur.n) {
        /* held: by us when it is bound to our lease */
        l->is_leader = cur.kv[0].lease == l->lease;
    } else if (!ret) {
        struct etcd_op op = {ETCD_PUT, l->key, l->value, 0, l->lease};
        ret = etcd_txn(l->etcd, &op, 1, &applied, err);
        if (!ret)
            l->is_leader = applied;
    }
    etcd_kvs_release(&cur);
    if (!ret && was != l->is_leader)
        log_info("leader",
                 l->is_leader ? "leading: this subscriber writes the registry"
                              : "following: another subscriber writes the registry",
                 "key=%s", l->key);
    return ret;
}

void leader_resign(struct leader *l)
{
    struct mdo_err err = MDO_ERR_INIT;

    if (l->lease && etcd_lease_revoke(l->etcd, l->lease, &err))
        log_warn("leader", "could not give the lease back; it expires by itself",
                 "ttl=%ld err=\"%s\"", l->ttl, err.msg);
    l->lease = 0;
    l->is_leader = 0;
}

void leader_release(struct leader *l)
{
    free(l->key);
    free(l->value);
    l->key = l->value = NULL;
}
