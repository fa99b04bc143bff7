/* keeper.h - the registry keeper behind `mdo subscribe`: applies scheduler events to etcd one
 * key at a time, and reconciles the whole registry against the scheduler's listing.
 *
 * All registry writes go through one mutex, so an event never interleaves with a reconcile pass
 * (a pass reads the registry, then the scheduler, then writes guarded by mod_revision: an
 * instance that starts after the listing is not removed, a key rewritten meanwhile is not
 * overwritten). The counters and health fields are read under the same mutex by the HTTP side.
 * The keeper borrows cfg, etcd and the backend; it owns only its set of held-back removals.
 *
 * What failed is decided from the error's origin (err.h), never from its text: an etcd error
 * marks etcd down and counts in etcd_errors, a scheduler that cannot be reached marks the
 * scheduler down. Times are on the monotonic clock (clock.h), in milliseconds.
 */
#ifndef MDO_KEEPER_H
#define MDO_KEEPER_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include "buf.h"
#include "config.h"
#include "etcd.h"
#include "registry.h"
#include "scheduler.h"
#include "strset.h"

struct keeper_stats {
    unsigned long events_up, events_down, event_errors;
    unsigned long reconciles, reconcile_errors, reconcile_puts, reconcile_dels, held_back;
    unsigned long etcd_errors, bad_records;
    int64_t started_ms, last_event_ms, last_reconcile_ok_ms; /* clock_now_ms(); 0 = never */
    int stream_connected; /* the scheduler's event stream is up */
    int etcd_ok;          /* the last etcd request succeeded */
    int sched_ok;         /* the scheduler was reachable at the last request */
    int sched_src;        /* enum mdo_src of the scheduler that was not (docker, marathon) */
    int dirty;            /* an event could not be applied: a reconcile must follow */
    int writer;           /* this subscriber leads: it writes; a follower only serves reads */
    char last_error[256];
};

struct keeper {
    const struct cfg *cfg;
    struct etcd *etcd;
    const struct sched_ops *ops;
    struct sched *sched;
    pthread_mutex_t lock;
    struct keeper_stats st;
    struct strset held;    /* removals held back by the last pass ("service/container") */
    struct strset refused; /* "service/container" names that cannot be keys, logged once */
    /* Called after a write changed a service's instances (an event, or a reconcile pass), outside
     * the lock, from the thread that wrote; may be called when nothing visible changed. Set
     * before the threads start; NULL = nobody listens. */
    void (*changed)(void *ctx, const char *service);
    void *changed_ctx;
};

void keeper_init(struct keeper *k, const struct cfg *cfg, struct etcd *etcd,
                 const struct sched_ops *ops, struct sched *sched);
void keeper_release(struct keeper *k);
/* One full pass. Returns 0, or the error that stopped it (etcd or scheduler unreachable). */
int keeper_reconcile(struct keeper *k, struct mdo_err *err);
/* Event sink for the backend (sched_sink callbacks; ctx is the keeper). */
void keeper_up(void *k, struct reg_record *rec);
void keeper_down(void *k, const char *service, const char *container);
/* Leader or follower (keeper_init: writer). A follower's events and passes write nothing. */
void keeper_set_writer(struct keeper *k, int writer);
/* Copy of the stats and of the held-back removals (held may be NULL; else the caller releases
 * it with strset_release(); it is left empty when the copy runs out of memory). */
void keeper_snapshot(struct keeper *k, struct keeper_stats *st, struct strset *held);

/* Records a failed request in st (the caller holds the lock that guards st): the message in
 * last_error; by err->origin, etcd down (and counted), or the scheduler down when it could not
 * be reached. An error of no origin changes neither. */
void keeper_note_error(struct keeper_stats *st, const struct mdo_err *err);

#define KEEPER_REASONS_MAX 5
struct keeper_reasons {
    unsigned n;
    char text[KEEPER_REASONS_MAX][80];
};
/* Why the subscriber is unhealthy (r->n == 0: it is not), naming the peer at fault; nheld is
 * the number of held-back removals. */
void keeper_reasons(const struct keeper_stats *st, size_t nheld, struct keeper_reasons *r);

#endif
