/* callback.h - membership-change callbacks (DESIGN §5, §6): registrations live in etcd at
 * <prefix>/<env>/callbacks/<service>/<id>; when a service's instances change, the subscriber
 * POSTs {"environment","service","revision","instances","added","removed"} to each registered
 * URL, signed with X-Mdo-Signature: sha256=<hex HMAC of the body> when a secret is set; bounded
 * retries with backoff; a slow or dead target never delays the registry or other targets.
 *
 * struct callbacks is owned by whoever started it (callbacks_start/callbacks_stop); it borrows
 * cfg and etcd, which must outlive it. All functions are thread-safe.
 */
#ifndef MDO_CALLBACK_H
#define MDO_CALLBACK_H

#include "buf.h"
#include "config.h"
#include "err.h"
#include "etcd.h"
#include "server.h"

struct callbacks;

int callbacks_start(struct callbacks **cb, const struct cfg *cfg, struct etcd *etcd,
                    struct mdo_err *err);
/* Stops delivery threads (pending deliveries are dropped, counted) and frees everything. */
void callbacks_stop(struct callbacks *cb);
/* The keeper's `changed` hook: ctx is the struct callbacks. Returns at once. */
void callbacks_changed(void *ctx, const char *service);
/* Adds POST /v1/callbacks and DELETE /v1/callbacks/<id> (bearer token when configured). */
void callbacks_routes(struct callbacks *cb, struct server *srv);
/* Appends Prometheus text lines (mdo_callbacks_*). */
void callbacks_metrics(struct callbacks *cb, struct buf *out);

#endif
