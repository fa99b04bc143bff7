/* cbwatch.h - membership-change callbacks (DESIGN §5, §6): the dispatcher that turns "a
 * service may have changed" into deliveries, and the sweeper of registrations whose owner left.
 *
 * Threads: while leading, a feeder thread watches <prefix>/<env>/services/ (watch.h) and
 * queues each batch of changed keys, parsed (cbview.h). One dispatcher thread applies them to
 * its copy and, per service changed, diffs the changed instances (reg_members_diff) against
 * the membership it delivered last (kept in memory as records; the watch's first listing is the
 * baseline on promotion: callbacks_lead), so a batch costs what it changed, not the service's
 * size; a listing after a gap (compaction, a lost batch) is diffed whole against what was
 * delivered. It removes the registrations of owners that left, reads the service's
 * registrations (cbreg.h) and queues one delivery per registration (cbsend.h). Every CB_SWEEP_S
 * it also removes registrations whose owner is in no service. callbacks_changed() (the keeper's
 * hook) only wakes the dispatcher: the watch says what changed.
 *
 * struct callbacks is owned by whoever started it (callbacks_start/callbacks_stop); it borrows
 * cfg and etcd, which must outlive it. All functions are thread-safe.
 */
#ifndef MDO_CBWATCH_H
#define MDO_CBWATCH_H

#include "buf.h"
#include "cbreg.h"
#include "config.h"
#include "err.h"
#include "etcd.h"

struct callbacks;

int callbacks_start(struct callbacks **cb, const struct cfg *cfg, struct etcd *etcd,
                    struct mdo_err *err);
/* Stops delivery threads (pending deliveries are dropped, counted) and frees everything. */
void callbacks_stop(struct callbacks *cb);
/* Leadership (F16): only the leader delivers and sweeps; callbacks_start() starts a follower.
 * On promotion the dispatcher drops what it delivered before and takes a fresh baseline of the
 * registry; this waits up to wait_ms for it (call before the new leader's first reconcile, so
 * the changes that pass makes are seen as changes). -1 when the baseline was not taken in time
 * (the dispatcher takes it later). Demotion drops pending changes and returns at once. */
int callbacks_lead(struct callbacks *cb, int leading, long wait_ms);
/* The keeper's `changed` hook: ctx is the struct callbacks. Returns at once. */
void callbacks_changed(void *ctx, const char *service);
/* Appends Prometheus text lines (mdo_callbacks_*, mdo_membership_changes_total). */
void callbacks_metrics(struct callbacks *cb, struct buf *out);

/* For the HTTP routes (cmd/subscribe_callbacks.c): what the callbacks were started with, and
 * the registration count /metrics shows (n: as just listed; callbacks_recount lists again). */
const struct cfg *callbacks_cfg(const struct callbacks *cb);
struct etcd *callbacks_etcd(const struct callbacks *cb);
void callbacks_registered(struct callbacks *cb, long n);
void callbacks_recount(struct callbacks *cb);
/* POST /v1/callbacks' write: url's target must pass the policy (cbpolicy.h: resolved, every
 * address judged) and the registration the caps (subscriber.callback_max_per_service/_per_owner;
 * registering the same service, url and owner again rewrites, so is always within). 0 and id,
 * or the HTTP status to answer with err->msg: 400 (a rule denies the target, or its name does not
 * resolve; the message names the rule), 429 (a cap), 503 (lookup or registry failed). */
int callbacks_register(struct callbacks *cb, const char *service, const char *url,
                       const char *secret, const char *owner, char id[CBREG_ID_LEN + 1],
                       struct mdo_err *err);

#endif
