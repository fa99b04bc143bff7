/* scheduler.h - the one scheduler interface: every backend (docker, later marathon and swarm) fills
 * a struct sched_ops; commands and the subscriber never ask which one they drive.
 *
 * A backend's state (struct sched) is opened from the config, which must outlive it. Records a
 * backend hands out are owned by the receiver (list: the caller frees with reg_records_free();
 * events: the sink takes the record and must reg_record_release() it).
 */
#ifndef MDO_SCHEDULER_H
#define MDO_SCHEDULER_H

#include <stdio.h>
#include "config.h"
#include "err.h"
#include "registry.h"

struct sched;

struct sched_opts {
    int wait;        /* follow until done */
    unsigned wait_s; /* give up after (0 = 300) */
    int dry_run;     /* print what would be sent, send nothing */
    int force;
    FILE *progress; /* where progress lines go (stderr), or NULL */
};

/* Where a backend's event stream delivers. Called from the events thread. */
struct sched_sink {
    void *ctx;
    /* The stream is (re)connected: everything before may have been missed. */
    void (*connected)(void *ctx);
    /* An instance runs (or changed state): rec is handed over. */
    void (*up)(void *ctx, struct reg_record *rec);
    /* An instance is gone (or going). */
    void (*down)(void *ctx, const char *service, const char *container);
};

enum { SCHED_SUB_ADD, SCHED_SUB_DEL, SCHED_SUB_CHECK };

struct sched_ops {
    const char *name;
    int (*open)(struct sched **s, const struct cfg *cfg, struct mdo_err *err);
    void (*close)(struct sched *s);
    /* Create or update the service to match its config (idempotent). */
    int (*launch)(struct sched *s, const struct cfg_service *svc, const struct sched_opts *o,
                  struct mdo_err *err);
    int (*scale)(struct sched *s, const struct cfg_service *svc, unsigned n,
                 const struct sched_opts *o, struct mdo_err *err);
    /* Rolling restart: each instance replaced by a fresh one, one at a time, pause_s between. */
    int (*restart)(struct sched *s, const struct cfg_service *svc, unsigned pause_s,
                   const struct sched_opts *o, struct mdo_err *err);
    /* Remove the service and all its instances; a service that is not there is not an error. */
    int (*stop)(struct sched *s, const char *service, const struct sched_opts *o,
                struct mdo_err *err);
    /* The running instances of the environment (service NULL = all) as registry records, sorted
     * by reg_record_cmp. */
    int (*list)(struct sched *s, const char *service, struct reg_record **out, unsigned *n,
                struct mdo_err *err);
    /* Is this registered instance still running? 1 yes, 0 no, <0 cannot tell. A reconcile asks
     * before removing one, so an instance that started after the listing is not removed. */
    int (*alive)(struct sched *s, const struct reg_record *rec, struct mdo_err *err);
    /* Event delivery by HTTP callbacks (old Marathons, subscriber.mode: callback). Optional.
     * subscription(): SCHED_SUB_ADD / SCHED_SUB_DEL registers or removes url with the scheduler;
     * SCHED_SUB_CHECK returns 1 when url is registered, 0 when not. feed() applies one event
     * body received at that url (-MDO_EPROTO when it is not an event). */
    int (*subscription)(struct sched *s, const char *url, int action, struct mdo_err *err);
    int (*feed)(struct sched *s, const struct sched_sink *sink, const char *body, size_t len,
                struct mdo_err *err);
    /* How many instances of service the scheduler was last asked to keep (what `mdo scale` or
     * `mdo launch` set, not the config's count): 0 and *n; 1 when the scheduler has no such
     * service. Optional: NULL means unknown. */
    int (*wanted)(struct sched *s, const char *service, unsigned *n, struct mdo_err *err);
    /* Follows the backend's event stream until it ends, fails or *stop is set. */
    int (*events)(struct sched *s, const struct sched_sink *sink, const volatile int *stop,
                  struct mdo_err *err);
};

extern const struct sched_ops sched_docker;
extern const struct sched_ops sched_marathon;

/* The backend the config names; -MDO_ECONFIG when it is not built yet. */
int sched_for(const struct cfg *cfg, const struct sched_ops **ops, struct mdo_err *err);

#endif
