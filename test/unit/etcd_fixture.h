/* etcd_fixture.h - a real etcd of the test's own, for unit tests that need a registry: etcd-server
 * on free loopback ports with its data in a temp dir, as test/integration/lib.sh starts one.
 *
 * A test that cannot start one fails (etcd is installed wherever the suite runs); it does not skip.
 * #include "etcd_fixture.c" from the test (the CMake glob links only the test's own file).
 */
#ifndef MDO_ETCD_FIXTURE_H
#define MDO_ETCD_FIXTURE_H

#include <sys/types.h>
#include "etcd.h"

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

#endif
