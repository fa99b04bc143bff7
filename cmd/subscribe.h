/* subscribe.h - between `mdo subscribe`'s daemon loop (subscribe.c) and its HTTP face
 * (subscribe_http.c): what the routes read.
 *
 * struct sub_face only borrows: the daemon owns everything it points to, fills it before the
 * routes are added and keeps it alive until server_stop() has returned. The routes take the
 * keeper's and the callbacks' own locks through their functions; nothing here is written by
 * the routes.
 */
#ifndef MDO_SUBSCRIBE_H
#define MDO_SUBSCRIBE_H

#include "cbwatch.h"
#include "config.h"
#include "etcd.h"
#include "keeper.h"
#include "scheduler.h"
#include "server.h"

struct sub_face {
    const struct cfg *cfg;       /* environment and registry prefix */
    struct etcd *etcd;           /* registry reads for /info and /v1/services */
    struct keeper *k;            /* stats for /health and /metrics */
    struct callbacks *cb;        /* its counters on /metrics */
    const struct sched_ops *ops; /* the scheduler's name; feed() in callback mode */
    struct sched *_Atomic sched; /* NULL until the reconcile thread has opened it */
    struct sched_sink *sink;     /* where the Marathon events POSTed to us go */
};

/* Adds "/" (404), /health, /info, /v1/services[/S] and /metrics; with callback set also the
 * Marathon event receiver, POST /marathon/callback (and the seed's POST /callback). */
void sub_http_routes(struct server *srv, struct sub_face *f, int callback);

#endif
