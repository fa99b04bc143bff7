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
    /* subscriber.token when the face listens off loopback (server_require_token): /health then
     * shows last_error only to a caller that sends it; NULL on loopback */
    const char *token;
    int public_face; /* listening off loopback: details stay out of unauthenticated answers */
    /* callback mode: the secret path segment (SUB_SECRET_LEN hex digits); the route answers
     * 404 without it and 503 until it is loaded (sub_callback_secret) */
    char secret[33];
    _Atomic int secret_ready;
};

#define SUB_SECRET_LEN 32

/* Adds "/" (404), /health, /info, /v1/services[/S] and /metrics, each with its methods (405 and
 * Allow for others); off loopback every route but /health wants f->token; with callback set
 * also the Marathon event receiver, POST /marathon/callback/<secret> (and the seed's POST
 * /callback/<secret>). */
void sub_http_routes(struct server *srv, struct sub_face *f, int callback);

/* Callback mode: f->secret from etcd (reg_callback_path_key), made with RAND_bytes and stored
 * create-only when there is none (two subscribers agree on one), reused across restarts; then
 * f->secret_ready. 0, or an etcd error (the caller retries). */
int sub_callback_secret(struct sub_face *f, struct mdo_err *err);

#endif
