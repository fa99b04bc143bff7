/* leader.h - one writer among several subscribers: an etcd lease on <prefix>/<env>/leader.
 *
 * The key is created only if absent (a txn guarded by mod_revision 0) and bound to this
 * process's lease, so it disappears when the leader stops renewing it (crash, partition) and
 * another subscriber's next tick takes it. leader_tick() is called every ttl/3 seconds, by the
 * lease's own thread (leader_start), so no slow work can delay a renewal.
 *
 * A leader that has not renewed within ttl - margin (margin: a quarter of the ttl, at least
 * 500 ms) is no leader for leader_fence(), before etcd lets the lease run out: the fence is
 * the leader key's create_revision, which every registry write compares (keeper.h).
 * struct leader borrows the etcd client; it owns its strings.
 */
#ifndef MDO_LEADER_H
#define MDO_LEADER_H

#include <pthread.h>
#include <stdint.h>
#include "err.h"
#include "etcd.h"

struct leader {
    struct etcd *etcd;
    char *key;
    char *value; /* {"id":"host:pid","listen":...} */
    int64_t lease;
    long ttl;
    _Atomic int is_leader;
    _Atomic int64_t rev;         /* the leader key's create_revision while is_leader */
    _Atomic int64_t valid_until; /* clock_now_ms() after which is_leader is not trusted */
    /* the lease thread (leader_start) */
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int running, stop, exited;
    /* called by the lease thread after every tick (ret: its result); NULL = nobody */
    void (*ticked)(void *ctx, int ret, const struct mdo_err *err);
    void *ticked_ctx;
};

/* The key is reg_leader_key()'s. 0, -MDO_EUSAGE (env makes no key) or -MDO_ENOMEM. */
int leader_init(struct leader *l, struct etcd *e, const char *prefix, const char *env,
                const char *value, long ttl);
/* The key's value, {"id":"<host>:<pid>","listen":"<listen>"}, as JSON; caller frees. NULL on
 * ENOMEM (or a host name too long to be one). */
char *leader_value(const char *host, long pid, const char *listen);
/* Renews or campaigns. Returns 0 and sets l->is_leader; on an etcd error returns it and keeps
 * is_leader as it was (nobody can write while etcd is away). */
int leader_tick(struct leader *l, struct mdo_err *err);
/* The fence to write with: the key's create_revision while this one leads and its last renewal
 * is recent enough; 0 otherwise. Thread-safe; ctx is the struct leader (keeper_set_fence). */
int64_t leader_fence(void *l);
/* Runs leader_tick() every ttl/3 on a thread of its own. 0, or an errno. */
int leader_start(struct leader *l);
/* Stops that thread within wait_ms; -1 when it is stuck in an etcd call and was abandoned (the
 * struct must then not be released). */
int leader_stop(struct leader *l, long wait_ms);
/* Gives the lease back (the key goes with it), so a follower takes over at once. */
void leader_resign(struct leader *l);
void leader_release(struct leader *l);

#endif
