/* keeper.h - the registry keeper behind `mdo subscribe`: applies scheduler events to etcd, and
 * reconciles the whole registry against the scheduler's listing.
 *
 * One writer (keeper_writer.c) owns every registry write. Producers (the events thread, the
 * HTTP workers in callback mode, the reconcile thread) only queue the wanted state of a key:
 * the queue is bounded and coalesces by key (the newest wanted state wins; a reconcile's change
 * never replaces an event's, which is newer than the listing it was computed from). Nothing
 * that queues waits for network I/O. The writer takes up to KEEPER_BATCH entries at a time
 * and writes them in one etcd txn.
 *
 * Fencing: with keeper_set_fence(), every txn also compares the leader key's create_revision
 * (etcd's election recipe), so a deposed leader's writes fail in etcd instead of landing; the
 * writer writes nothing while the fence function answers 0 (not leading, or the lease was not
 * renewed in time). A reconcile pass (registry first, then scheduler, rechecks, diff) runs on
 * its caller's thread with no lock held across I/O and hands its changes to the writer.
 *
 * k->lock guards st and held and is never held across I/O: /health and /metrics copy them.
 * k->qlock guards the queue and refused, likewise. The keeper borrows cfg, etcd and the
 * backend.
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
    unsigned long txns, fenced_out, dropped; /* writer txns; batches etcd's fence refused;
                                              * entries dropped (queue full, not leading) */
    unsigned long queued;                    /* entries waiting for the writer now */
    unsigned long unchanged; /* events not written: the value this writer last wrote */
    int64_t started_ms, last_event_ms, last_reconcile_ok_ms; /* clock_now_ms(); 0 = never */
    int64_t listing_since_ms; /* a pass has been waiting for the scheduler since; 0 = not */
    int stream_connected;     /* the scheduler's event stream is up */
    int etcd_ok;              /* the last etcd request succeeded */
    int sched_ok;             /* the scheduler was reachable at the last request */
    int sched_src;            /* enum mdo_src of the scheduler that was not (docker, marathon) */
    int dirty;                /* an event could not be applied: a reconcile must follow */
    int writer;               /* this subscriber leads: it writes; a follower only serves reads */
    char last_error[256];
    /* the start gate of /health, monotonic: lease_pending until the lease thread's first answer
     * (keeper_set_fence sets it, keeper_lease_decided clears it); ready latches, in
     * keeper_snapshot, once leadership is decided and, for a leader, a pass has succeeded.
     * After that only a peer at fault (etcd, the scheduler, the stream) makes /health 503. */
    int lease_pending, ready;
};

/* One queued write: the key's wanted value (val NULL: delete). */
struct keeper_entry {
    char *key, *val, *service, *container; /* owned */
    int64_t guard;                         /* ETCD_ANY, 0 (absent) or a mod_revision */
    int event;                             /* from an event (1) or a reconcile (0) */
    unsigned h;                            /* hash of key: the queue's index */
};

#define KEEPER_QUEUE_MAX 65536
#define KEEPER_BATCH     (ETCD_TXN_MAX - 1) /* + the fence compare: within etcd's compare limit */

struct keeper {
    const struct cfg *cfg;
    struct etcd *etcd;
    const struct sched_ops *ops;
    struct sched *sched;
    pthread_mutex_t lock; /* guards st and held; never held across I/O */
    struct keeper_stats st;
    struct strset held; /* removals held back by the last pass ("service/container") */
    /* Called after a write changed a service's instances, outside every lock, from the writer;
     * may be called when nothing visible changed. Set before the threads start; NULL = none. */
    void (*changed)(void *ctx, const char *service);
    void *changed_ctx;
    /* leadership: fence() answers the leader key's create_revision while this subscriber may
     * write, else 0 (keeper_set_fence); without it, `writer` says (keeper_set_writer) */
    int64_t (*fence)(void *ctx);
    void *fence_ctx;
    const char *fence_key;
    _Atomic int writer;
    _Atomic int64_t deposed; /* a fence etcd refused: not written with again */
    _Atomic int stop;        /* keeper_stop(): rechecks and waits give up */
    /* the queue (keeper_writer.c), under qlock */
    pthread_mutex_t qlock;
    pthread_cond_t work, idle;
    struct keeper_entry *q;
    unsigned qn, qcap;
    unsigned *qh; /* open-addressed index of q by key: slot = position + 1, 0 = empty */
    unsigned qhcap;
    int busy;              /* the writer holds a batch */
    int threaded, wexit;   /* the writer thread runs; it has returned */
    unsigned long werrors; /* batches that failed on an etcd error */
    struct mdo_err werr;   /* the last of them */
    struct strset refused; /* "service/container" names that cannot be keys, logged once */
    pthread_t wthread;
    /* what the writer last handed etcd per key (keeper_writer.c, under qlock), for this fence
     * only: an event whose value equals it is not written again. 64-bit hashes of key and
     * value, open-addressed (key hash 0 = empty slot); a failed or unknown write forgets the
     * key, a delete removes it, so it holds at most the keys this writer put. */
    struct keeper_seen {
        uint64_t key, val;
    } * seen;
    unsigned seen_n, seen_cap;
    int64_t seen_fence;
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
/* Fenced leadership: fence(ctx) is called before every txn; key is the leader key (borrowed). */
void keeper_set_fence(struct keeper *k, const char *key, int64_t (*fence)(void *ctx), void *ctx);
/* The lease thread has answered once (led or not): /health's start gate may pass. */
void keeper_lease_decided(struct keeper *k);
/* The fence to write with now: > 0 fenced, -1 unfenced writer, 0 not leading. */
int64_t keeper_leading(struct keeper *k);

/* ---- the writer (keeper_writer.c) ---- */
/* Queues a write (key, val and names are copied; val NULL = delete). 0, or -1 when the queue is
 * full or memory ran out (counted in dropped; the keeper is marked dirty). */
int keeper_enqueue(struct keeper *k, const char *key, const char *val, const char *service,
                   const char *container, int64_t guard, int event);
/* Writes everything queued now on the calling thread (tests, and no writer thread). */
void keeper_drain(struct keeper *k);
/* Waits until the queue is empty and the writer idle, or deadline/keeper_stop. 0 if drained. */
int keeper_wait_idle(struct keeper *k, int64_t deadline_ms);
/* Starts the writer thread. 0, or an errno. */
int keeper_start(struct keeper *k);
/* Stops producers' and rechecks' waits and the writer: it finishes the txn in flight within
 * wait_ms or is abandoned (returns -1: the keeper must then not be released). */
int keeper_stop(struct keeper *k, int64_t wait_ms);
/* Copy of the stats and of the held-back removals (held may be NULL; else the caller releases
 * it with strset_release(); it is left empty when the copy runs out of memory). */
void keeper_snapshot(struct keeper *k, struct keeper_stats *st, struct strset *held);

/* An etcd or scheduler request made outside the keeper (the lease): ret 0 marks etcd up, else
 * err is noted as below. Takes k->lock. */
void keeper_note(struct keeper *k, int ret, const struct mdo_err *err);
/* A request to the scheduler made outside a pass (opening it) starts (on) or ends: /health
 * names the scheduler as not answering after KEEPER_SLOW_MS. */
void keeper_waiting(struct keeper *k, int on);
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
 * the number of held-back removals. A scheduler listing that has not answered for
 * KEEPER_SLOW_MS names the scheduler (st->sched_src) as not answering. */
#define KEEPER_SLOW_MS 3000
void keeper_reasons(const struct keeper_stats *st, size_t nheld, struct keeper_reasons *r);

#endif
