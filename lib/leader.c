/* leader.c - leader election on an etcd lease: renew, or create the key if it is free */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include "leader.h"
#include "log.h"
#include "registry.h"

int leader_init(struct leader *l, struct etcd *e, const char *prefix, const char *env,
                const char *value, long ttl)
{
    struct buf key = BUF_INIT(0);
    int ret = reg_leader_key(&key, prefix, env);

    memset(l, 0, sizeof(*l));
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
