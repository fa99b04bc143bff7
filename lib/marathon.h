/* marathon.h - inside the Marathon backend: its pure parts (lib/marathon_app.c), which unit tests
 * reach — the app definition mdo sends (DESIGN §8), its comparison with what Marathon stores, and
 * the mapping of Marathon's tasks to registry records — and what its files share: the state
 * behind the opaque struct sched, the client (marathon.c), the deploying ops
 * (marathon_deploy.c) and the event feeds (marathon_events.c).
 *
 * cJSON trees returned are the caller's (cJSON_Delete); records filled are the caller's
 * (reg_record_release). Nothing in the pure part does I/O.
 */
#ifndef MDO_MARATHON_H
#define MDO_MARATHON_H

#include <pthread.h>
#include <stddef.h>
#include <cjson/cJSON.h>
#include "buf.h"
#include "config.h"
#include "http.h"
#include "marathon_cache.h"
#include "registry.h"
#include "scheduler.h"
#include "strset.h"

/* ---- pure (marathon_app.c) ---- */

/* "/<env>/<service>" */
int mar_app_id(struct buf *b, const char *env, const char *service);
/* "/v2/apps/<env>/<service>" appended to b, each segment percent-encoded. */
int mar_app_path(struct buf *b, const char *env, const char *service);
/* The service of an app id "/<env>/<service>" of this environment, copied into out; NULL when
 * the id is not of that form (another environment, a deeper group, too long). */
const char *mar_service_of(const char *env, const char *app_id, char *out, size_t n);

/* The app definition of svc with the config's instance count. legacy: Marathon 1.4 and earlier
 * (container.docker.network BRIDGE + container.docker.portMappings, no networks). NULL on ENOMEM.
 * --dry-run shows it with spec_redacted(). */
cJSON *mar_app_json(const struct cfg *cfg, const struct cfg_service *svc, int legacy);
/* 1 when the stored app `have` (GET /v2/apps/<id> "app") already is what `want` asks: every field
 * of want is in have with the same value (Marathon adds defaults and servicePorts, so have may
 * hold more), and env and labels (with mdo.app_version) are exactly equal. */
int mar_app_same(const cJSON *want, const cJSON *have);

/* The registry record of one task of app (as GET /v2/apps?embed=apps.tasks gives them): 0 and
 * rec filled; 1 when there is nothing to register (not running, or an app without mdo's
 * identity or of another environment); 2 when the app carries this environment's identity but
 * is refused: its id is not /<env>/<its service>, that service is not a valid name, or the task
 * id is no valid key segment (names.h); -MDO_ENOMEM. mdo's identity is its labels, or on a
 * Marathon before 0.8 (no labels at all) the MDO_ENVIRONMENT/MDO_SERVICE of the app's env.
 * conf: the config's service of that name, or NULL: names the ports that Marathon before 0.16
 * lists without names (by index, the order mdo sends them in). */
int mar_task_record(const char *env, const struct cfg_service *conf, const cJSON *app,
                    const cJSON *task, struct reg_record *rec);
/* The service of an app by mdo's identity (labels, or the env before 0.8), or NULL. */
const char *mar_app_service(const cJSON *app);
/* 1 when a task runs: state TASK_RUNNING, or, on Marathons that list no state (before 1.1.2),
 * a startedAt. */
int mar_task_running(const cJSON *task);
/* 1 when every health check of app has a result for task and each is alive. */
int mar_task_healthy(const cJSON *app, const cJSON *task);
/* 1 when task_id is the task named by id: the task id itself, or an instance id of it
 * (1.8+ "<path>.instance-<u>" of "<path>.instance-<u>._app.N"; 1.4-1.7 "<path>.marathon-<u>"
 * of "<path>.<u>"). */
int mar_task_of(const char *task_id, const char *id);
/* The upgradeStrategy's minimumHealthCapacity for svc (see marathon_app.c). */
double mar_min_health(const struct cfg_service *svc);

/* ---- the backend's state and client (marathon.c) ---- */

struct mar_sched {
    const struct cfg *cfg;
    struct http_conn conn;
    char *base;      /* marathon.url without a trailing '/' */
    char *shown;     /* the same without user:password@, for messages */
    int url_secrets; /* base holds credentials: never echo a message that quotes it */
    int legacy;
    pthread_mutex_t lock;  /* guards refused, and the worker fields below */
    struct strset refused; /* app ids already logged as refused: one line each */
    /* events (marathon_events.c): the cache, and the worker that reads queued apps outside
     * curl's callbacks, delivering to sink (the subscriber's, which outlives the backend) */
    struct mar_cache cache;
    const struct sched_sink *sink;
    pthread_t worker;
    int worker_on;
    volatile int worker_stop;
    struct buf events_base; /* the leader's URL when a standby redirected /v2/events, or "" */
};

static inline struct mar_sched *mar_of(struct sched *s)
{
    return (struct mar_sched *)(void *)s;
}

/* One request to base + path. Any HTTP status is success here: *status and *out (the JSON
 * answer, or NULL) are the caller's to judge (mar_fail). Transport failures name Marathon's
 * shown URL and the cause. Errors are tagged MDO_SRC_MARATHON. */
int mar_call(struct mar_sched *m, const char *method, const char *path, const char *body,
             long *status, cJSON **out, struct mdo_err *err);
/* The same within timeout_ms (0: the connection's), for callers that must end soon (the events
 * worker, which a shutdown waits for). */
int mar_call_within(struct mar_sched *m, long timeout_ms, const char *method, const char *path,
                    const char *body, long *status, cJSON **out, struct mdo_err *err);
/* The error for an unexpected answer to `what` (e.g. "PUT /v2/apps/x"); Marathon's message in
 * err->why. */
int mar_fail(struct mar_sched *m, const char *what, long status, const cJSON *ans,
             struct mdo_err *err);
/* The auth failure (401/403) in words: which credential is missing or refused. */
int mar_auth_error(struct mar_sched *m, long status, struct mdo_err *err);
/* err holds a transport failure: restates it as "cannot reach Marathon at <shown>: <cause>". */
int mar_net_error(struct mar_sched *m, struct mdo_err *err);
/* id as a log line may show it: only when each segment is a plain key segment, else a
 * placeholder. */
const char *mar_id_shown(const char *id);
/* mar_task_record() for this backend; a refused app is logged once and reported as 1. */
int mar_record(struct mar_sched *m, const cJSON *app, const cJSON *task, struct reg_record *rec);

/* The base URL of the leading Marathon, as GET /v2/leader names it ({"leader":"host:port"}),
 * in out ("<scheme>://[user:password@]host:port", marathon.url's scheme and credentials; the
 * connection's credentials apply as before): for a standby that answers /v2/events with a 302
 * (Marathon 1.7+). 0, or an error (404: no leader). */
int mar_leader_url(struct mar_sched *m, struct buf *out, struct mdo_err *err);

/* 1 when an answer to /v2/eventSubscriptions says this Marathon has no callbacks at all (they
 * were removed in 1.5): 404 (1.5, 1.6), or 500 {"message":"URI not found"} (1.7+). */
int mar_callbacks_removed(long status, const cJSON *ans);

/* ---- deploying (marathon_deploy.c) ---- */

int mar_launch(struct sched *s, const struct cfg_service *svc, const struct sched_opts *o,
               struct mdo_err *err);
int mar_scale(struct sched *s, const struct cfg_service *svc, unsigned n,
              const struct sched_opts *o, struct mdo_err *err);
int mar_restart(struct sched *s, const struct cfg_service *svc, unsigned pause_s,
                const struct sched_opts *o, struct mdo_err *err);
int mar_stop(struct sched *s, const char *service, const struct sched_opts *o, struct mdo_err *err);

/* ---- events (marathon_events.c) ---- */

int mar_events(struct sched *s, const struct sched_sink *sink, const volatile int *stop,
               struct mdo_err *err);
int mar_feed(struct sched *s, const struct sched_sink *sink, const char *body, size_t len,
             struct mdo_err *err);
int mar_subscription(struct sched *s, const char *url, int action, struct mdo_err *err);
/* Stops the events worker, if it runs (mar_close calls it). */
void mar_events_stop(struct mar_sched *m);

#endif
