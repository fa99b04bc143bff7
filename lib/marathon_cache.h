/* marathon_cache.h - what makes a Marathon event cost O(1): app definitions cached by (app id,
 * version), and the apps that need a read, each read at most once per window.
 *
 * A status_update_event carries everything of a task's record but the app's definition (labels,
 * portMappings, healthChecks) and Marathon's startedAt: with the definition cached for the
 * event's version, the record is made from the event at once (mar_cache_event_record), with the
 * event's timestamp for started_at. Marathon stamps startedAt and the event with two clock reads
 * (PostToEventStreamStepImpl: postEvent(clock.now(), ...)), so the two may differ by a few ms;
 * and a task in a health check's grace period may already have a result the event does not
 * show. So every task an event named is also queued for a confirming read of its app, which
 * registers it from Marathon's own task, exactly as a reconcile does (same function, same
 * input, same bytes). A cache miss, a health event and a confirmation all queue the app; the
 * reader (marathon_events.c's worker, never curl's write callback) takes each queued app at
 * most once per window (a queue of confirmations only: once per MAR_CONFIRM_WINDOWS windows):
 * a burst of N events of one app over D ms costs at most D/window + 1 reads of it, whatever N.
 *
 * Thread-safe: one mutex guards everything (the SSE thread, the callback receiver's threads and
 * the worker share it); no call does I/O, and time comes in as a clock_now_ms() value.
 */
#ifndef MDO_MARATHON_CACHE_H
#define MDO_MARATHON_CACHE_H

#include <pthread.h>
#include <stdint.h>
#include <cjson/cJSON.h>
#include "registry.h"
#include "strset.h"

#define MAR_CACHE_MAX       512 /* apps kept; the least recently used clean one goes first */
#define MAR_CONFIRM_WINDOWS 5   /* a confirmation only waits this many windows */

struct mar_cached {
    char *id;            /* "/<env>/<service>" */
    char *version;       /* the app's version when read, or NULL: never read */
    cJSON *app;          /* its definition without tasks, or NULL */
    int64_t read_ms;     /* when it was last read (or a read failed), 0 never */
    int64_t used_ms;     /* last lookup, for eviction */
    struct strset tasks; /* task/instance ids waiting for the next read; non-empty = queued */
    int urgent;          /* a miss or health event is queued, not only confirmations */
};

struct mar_cache {
    pthread_mutex_t lock;
    pthread_cond_t wake; /* signalled when an app is queued (on the monotonic clock) */
    struct mar_cached *a;
    unsigned n;
    unsigned long queued;              /* bumped by every queueing: a waiter misses none */
    unsigned long hits, misses, reads; /* counters, for tests and the debug log */
};

void mar_cache_init(struct mar_cache *c);
void mar_cache_release(struct mar_cache *c);

/* The record of the TASK_RUNNING status_update_event ev (appId and taskId already checked by
 * the caller) when the app's definition is cached for the event's version: 0, rec filled (the
 * caller owns it). Either way the task is queued for a confirming read. 1: a miss, nothing
 * filled; 2: the cached app is refused (mar_task_record's 2) or the event lacks fields;
 * -MDO_ENOMEM. */
int mar_cache_event_record(struct mar_cache *c, const struct cfg *cfg, const cJSON *ev, int64_t now,
                           struct reg_record *rec);
/* Queues app_id for a read that registers task_id (a health event; task_id may be NULL). */
int mar_cache_want(struct mar_cache *c, const char *app_id, const char *task_id, int64_t now);
/* A task that went down: a queued read no longer registers it. */
void mar_cache_forget(struct mar_cache *c, const char *app_id, const char *task_id);
/* The queued app that is due (not read within window_ms before now): 1, *app_id (caller frees)
 * and its waiting task ids moved into *tasks (emptied first). 0 when none is due; then
 * *wait_ms is how long until one is (-1: none queued). */
int mar_cache_next(struct mar_cache *c, int64_t now, int64_t window_ms, char **app_id,
                   struct strset *tasks, int64_t *wait_ms);
/* Stores the definition of the app read at now (GET /v2/apps/<id> "app"; its tasks are not
 * kept). app NULL: the read failed or found no app; the entry is only stamped, so the next try
 * waits a window. */
int mar_cache_put(struct mar_cache *c, const char *app_id, const cJSON *app, int64_t now);

/* The synthetic task of a status_update_event, in GET /v2/apps' task shape: id, host, state,
 * ports, ipAddresses, startedAt (the event's timestamp). Caller cJSON_Deletes it; NULL when the
 * event lacks a field or on ENOMEM. */
cJSON *mar_event_task(const cJSON *ev);

#endif
