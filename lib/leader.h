/* leader.h - one writer among several subscribers: an etcd lease on <prefix>/<env>/leader.
 *
 * The key is created only if absent (a txn guarded by mod_revision 0) and bound to this
 * process's lease, so it disappears when the leader stops renewing it (crash, partition) and
 * another subscriber's next tick takes it. leader_tick() is called every ttl/3 seconds.
 * struct leader borrows the etcd client; it owns its strings.
 */
#ifndef MDO_LEADER_H
#define MDO_LEADER_H

#include <stdint.h>
#include "err.h"
#include "etcd.h"

struct leader {
    struct etcd *etcd;
    char *key;
    char *value; /* {"id":"host:pid","listen":...} */
    int64_t lease;
    long ttl;
    int is_leader;
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
/* Gives the lease back (the key goes with it), so a follower takes over at once. */
void leader_resign(struct leader *l);
void leader_release(struct leader *l);

#endif
