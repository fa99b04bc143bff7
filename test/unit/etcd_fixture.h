/* etcd_fixture.h - a real etcd of the test's own, for unit tests that need a registry: etcd-server
 * on free loopback ports with its data in a temp dir, as test/integration/lib.sh starts one.
 *
 * A test that cannot start one fails (etcd is installed wherever the suite runs); it does not skip.
 * #include "etcd_fixture.c" from the test (the CMake glob links only the test's own file).
 * Also the keeper fixture test_keeper and test_keeper_seen share: a keeper writing to that etcd.
 * Fixture I/O that fails (a read or write of etcd that is not what the test checks) stops the
 * test (exit 2) instead of counting a check.
 */
#ifndef MDO_ETCD_FIXTURE_H
#define MDO_ETCD_FIXTURE_H

#include <sys/types.h>
#include <stdint.h>
#include "etcd.h"
#include "keeper.h"

struct etcd_fixture {
    pid_t pid;
    char dir[64];  /* the temp dir: data and etcd.log */
    char url[64];  /* http://127.0.0.1:<client port> */
    struct etcd e; /* a client, open on url */
};

/* Starts etcd and waits (up to 20 s) until it answers. 0, or -1 with why on stderr. */
int etcd_fixture_start(struct etcd_fixture *f);
/* Stops it (SIGTERM, then waits) and removes its dir. */
void etcd_fixture_stop(struct etcd_fixture *f);
/* key's value (malloc'ed; NULL when absent) and, when mod_revision is not NULL, its mod_revision
 * (0 when absent) */
char *etcd_fixture_get(struct etcd_fixture *f, const char *key, int64_t *mod_revision);
/* puts key = value (under lease, 0: none) and returns the key's create_revision */
int64_t etcd_fixture_put(struct etcd_fixture *f, const char *key, const char *value, int64_t lease);

/* ---- a keeper writing to the fixture's etcd (no writer thread unless the test starts one) ---- */
struct keeper_fixture {
    struct etcd_fixture fx;
    struct cfg cfg; /* environment env, prefix /mdo: all the keeper reads */
    char env[32], prefix[8];
    struct keeper k;
};

/* etcd started, and a keeper for environment env over it and the scheduler (ops, s: the test's,
 * e.g. sched_fake.c's). 0, or -1 with why on stderr. */
int keeper_fixture_start(struct keeper_fixture *kf, const char *env, const struct sched_ops *ops,
                         struct sched *s);
/* the keeper released, etcd stopped (the scheduler stays the test's) */
void keeper_fixture_stop(struct keeper_fixture *kf);
/* an up event of service/container on host 127.0.0.1 (started at started_at, when not NULL):
 * keeper_up() takes it; with no writer thread it is written before this returns */
void keeper_fixture_up(struct keeper_fixture *kf, const char *service, const char *container,
                       const char *started_at);

#endif
