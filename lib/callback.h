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
#include "watch.h"

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

/* ---- registrations, shared with the register_callback applet ----
 * A registration is <prefix>/<env>/callbacks/<service>/<id> -> {"id","service","url",
 * "secret_ref","created","owner"}. The id is a hash of service, url and owner: registering the
 * same thing again (a container's start script after a restart) rewrites one key.
 * The secret itself is never in the record: --secret stores it at
 * <prefix>/<env>/secrets/callbacks/<id> and secret_ref is "etcd:<that key>" (so listings, logs
 * and GET /v1/callbacks never show it, and etcd RBAC can guard the secrets/ prefix); an
 * operator may instead write secret_ref "env:NAME": the subscriber's $NAME. */
#define CALLBACKS_ID_LEN 16
void callbacks_id(const char *service, const char *url, const char *owner,
                  char id[CALLBACKS_ID_LEN + 1]);
/* Writes the record (and the secret, when not NULL) in one transaction. owner may be NULL. */
int callbacks_register(struct etcd *e, const char *prefix, const char *env, const char *service,
                       const char *url, const char *secret, const char *owner,
                       char id[CALLBACKS_ID_LEN + 1], struct mdo_err *err);
/* Removes registration id (of any service) and its secret; -MDO_ENOTFOUND when none. */
int callbacks_unregister(struct etcd *e, const char *prefix, const char *env, const char *id,
                         struct mdo_err *err);

/* ---- pure parts, exposed for the unit tests ---- */
/* hex = lowercase hex HMAC-SHA256 of body keyed with secret. */
int callbacks_sign(const char *secret, const char *body, size_t len, char hex[65]);
/* The POST body of DESIGN §6 (plus "changed": instances whose record changed in place);
 * recs sorted by container. Caller frees; NULL on ENOMEM. */
char *callbacks_body(const char *env, const char *service, int64_t revision,
                     const struct reg_record *recs, unsigned n, const struct watch_diff *d);

#endif
