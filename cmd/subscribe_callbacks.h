/* subscribe_callbacks.h - the subscriber's /v1/callbacks routes (register, list, remove) */
#ifndef MDO_SUBSCRIBE_CALLBACKS_H
#define MDO_SUBSCRIBE_CALLBACKS_H

#include "cbwatch.h"
#include "server.h"

/* Adds POST/GET /v1/callbacks and DELETE /v1/callbacks/<id> to srv (a bearer token when
 * subscriber.token is set), served with cb's config and etcd; cb must outlive srv's handlers
 * (server_stop before callbacks_stop). Returns 0. */
int subscribe_callbacks_routes(struct server *srv, struct callbacks *cb);

#endif
