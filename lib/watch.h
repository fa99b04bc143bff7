/* watch.h - an etcd v3 watch over a key prefix, through the gateway's streaming POST /v3/watch,
 * that survives broken streams and etcd restarts (what "a service changed" means is
 * registry.h's reg_members_diff).
 *
 * The gateway answers one JSON object per line:
 *   {"result":{"header":{"revision":"7"},"created":true}}
 *   {"result":{"header":{...},"events":[{"type":"DELETE","kv":{"key":"<b64>",...}}, {"kv":...}]}}
 *   {"result":{"header":{...},"canceled":true,"compact_revision":"5"}}
 * (a PUT has no "type": it is the enum's zero value, which the gateway omits).
 *
 * struct watch runs one background thread. It first lists the prefix (one "reset" batch: the
 * whole prefix at a revision), then streams events from that revision + 1. When the stream
 * breaks (etcd restarted, network), it re-watches from the revision after the last event it
 * delivered, so no change is missed or delivered twice. When that revision has been compacted
 * away, it lists the prefix again and delivers another reset batch. Consumers apply batches in
 * order to a copy of the prefix (reset: replace the copy).
 *
 * The watch borrows the struct etcd (which must outlive it); everything else it owns.
 */
#ifndef MDO_WATCH_H
#define MDO_WATCH_H

#include <stddef.h>
#include <stdint.h>
#include "buf.h"
#include "err.h"
#include "etcd.h"
#include "registry.h"

struct watch_event {
    int del;     /* 1: the key was deleted; 0: put (value holds the new value) */
    char *key;   /* owned */
    char *value; /* owned, NUL-terminated ("" for a delete); len excludes the NUL */
    size_t len;
    int64_t mod_revision;
};

struct watch_batch {
    int reset;        /* 1: ev is the whole prefix as listed at revision (all puts) */
    int64_t revision; /* reset: the listing's revision; else the last event's mod_revision */
    struct watch_event *ev;
    size_t n;
};

void watch_batch_release(struct watch_batch *b);

/* One parsed response line of the gateway (the pure part, for tests). */
struct watch_resp {
    int64_t header_revision;
    int created, canceled;
    int64_t compact_revision; /* > 0: the start revision was compacted away */
    int progress;             /* no events, not created, not canceled: a progress notice */
    char *error;              /* {"error":{...}} or cancel_reason; owned, or NULL */
    struct watch_event *ev;
    size_t n;
};

int watch_resp_parse(const char *json, size_t len, struct watch_resp *r, struct mdo_err *err);
void watch_resp_release(struct watch_resp *r);

struct watch;

/* Starts watching every key under prefix. Returns at once: the first batch (a reset) comes
 * when etcd answers. Caller stops it with watch_stop(). */
int watch_start(struct watch **w, struct etcd *e, const char *prefix, struct mdo_err *err);
/* Waits up to timeout_ms (< 0: no limit) for the next batch. 1: *out filled (caller releases
 * it with watch_batch_release()); 0: nothing came in time. */
int watch_next(struct watch *w, long timeout_ms, struct watch_batch *out);
/* 1 while the stream is up. msg (size n) gets the last error, "" if none. */
int watch_status(struct watch *w, char *msg, size_t n);
/* Stops the thread and frees everything, undelivered batches too. NULL ok. Takes up to about
 * a second: a quiet stream notices the stop only at curl's next progress call. */
void watch_stop(struct watch *w);

/* The same watch in the calling thread: fn gets each batch (it may take the contents; the rest
 * is released after it returns) and returns nonzero to end the watch at once, which is how a
 * caller that got what it waited for leaves without watch_stop()'s delay. *stop also ends it
 * (checked about every second, and between reconnects). Returns 0 when ended. */
int watch_run(struct etcd *e, const char *prefix, int (*fn)(void *ctx, struct watch_batch *b),
              void *ctx, const volatile int *stop, struct mdo_err *err);

/* Debounce: milliseconds left before a burst counts as settled, i.e. settle_ms passed with no
 * new event, or max_ms passed since its first event (a steady trickle must not starve the
 * command). <= 0: settled now. */
long watch_settle_left(long long first_ms, long long last_ms, long long now_ms, long settle_ms,
                       long max_ms);

#endif
