/* marathon_cache.c - app definitions cached by (app id, version) and the queue of apps to read,
 * each at most once per window (see marathon_cache.h) */
#include <stdlib.h>
#include <string.h>
#include "clock.h"
#include "err.h"
#include "json.h"
#include "marathon.h"
#include "marathon_cache.h"

void mar_cache_init(struct mar_cache *c)
{
    memset(c, 0, sizeof(*c));
    pthread_mutex_init(&c->lock, NULL);
    clock_cond_init(&c->wake);
}

static void entry_release(struct mar_cached *e)
{
    free(e->id);
    free(e->version);
    cJSON_Delete(e->app);
    strset_release(&e->tasks);
}

void mar_cache_release(struct mar_cache *c)
{
    for (unsigned i = 0; i < c->n; i++)
        entry_release(&c->a[i]);
    free(c->a);
    pthread_cond_destroy(&c->wake);
    pthread_mutex_destroy(&c->lock);
    memset(c, 0, sizeof(*c));
}

/* The entry of id, made when create is set (evicting the least recently used one that waits for
 * nothing when full). NULL when absent, or on ENOMEM. Called locked. */
static struct mar_cached *entry(struct mar_cache *c, const char *id, int create, int64_t now)
{
    struct mar_cached *e;
    unsigned victim = c->n;

    for (unsigned i = 0; i < c->n; i++)
        if (!strcmp(c->a[i].id, id)) {
            if (now)
                c->a[i].used_ms = now;
            return &c->a[i];
        }
    if (!create)
        return NULL;
    if (c->n >= MAR_CACHE_MAX) {
        for (unsigned i = 0; i < c->n; i++)
            if (!c->a[i].tasks.n && (victim == c->n || c->a[i].used_ms < c->a[victim].used_ms))
                victim = i;
        if (victim == c->n)
            return NULL; /* every app waits for a read: the reconcile covers the rest */
        entry_release(&c->a[victim]);
        c->a[victim] = c->a[--c->n];
    }
    if (!(c->n % 16)) {
        struct mar_cached *p = realloc(c->a, (c->n + 16) * sizeof(*p));
        if (!p)
            return NULL;
        c->a = p;
    }
    e = &c->a[c->n];
    memset(e, 0, sizeof(*e));
    if (!(e->id = strdup(id)))
        return NULL;
    e->used_ms = now;
    c->n++;
    return e;
}

/* Queues e with task (may be NULL); urgent: a read is needed, not only a confirmation. Called
 * locked. */
static int enqueue(struct mar_cache *c, struct mar_cached *e, const char *task, int urgent)
{
    if (urgent)
        e->urgent = 1;
    /* an app queued without a task still needs a non-empty set to count as queued */
    if (strset_add(&e->tasks, task ? task : ""))
        return -MDO_ENOMEM;
    c->queued++;
    pthread_cond_signal(&c->wake);
    return 0;
}

cJSON *mar_event_task(const cJSON *ev)
{
    const char *id = json_str(ev, "taskId"), *host = json_str(ev, "host");
    const char *ts = json_str(ev, "timestamp");
    const cJSON *ports = cJSON_GetObjectItemCaseSensitive(ev, "ports");
    const cJSON *ips = cJSON_GetObjectItemCaseSensitive(ev, "ipAddresses");
    cJSON *t;
    int ok = 1;

    if (!id || !host || !cJSON_IsArray(ports))
        return NULL;
    t = cJSON_CreateObject();
    if (!t)
        return NULL;
    ok &= cJSON_AddStringToObject(t, "id", id) != NULL;
    ok &= cJSON_AddStringToObject(t, "host", host) != NULL;
    ok &= cJSON_AddStringToObject(t, "state", "TASK_RUNNING") != NULL;
    ok &= cJSON_AddItemToObject(t, "ports", cJSON_Duplicate(ports, 1));
    if (cJSON_IsArray(ips))
        ok &= cJSON_AddItemToObject(t, "ipAddresses", cJSON_Duplicate(ips, 1));
    if (ts)
        ok &= cJSON_AddStringToObject(t, "startedAt", ts) != NULL;
    if (!ok) {
        cJSON_Delete(t);
        return NULL;
    }
    return t;
}

int mar_cache_event_record(struct mar_cache *c, const struct cfg *cfg, const cJSON *ev, int64_t now,
                           struct reg_record *rec)
{
    const char *app = json_str(ev, "appId"), *ver = json_str(ev, "version");
    const char *task = json_str(ev, "taskId");
    cJSON *t = mar_event_task(ev);
    struct mar_cached *e;
    int ret;

    memset(rec, 0, sizeof(*rec));
    if (!app || !task || !t) {
        cJSON_Delete(t);
        return 2;
    }
    pthread_mutex_lock(&c->lock);
    e = entry(c, app, 1, now);
    if (!e) {
        ret = -MDO_ENOMEM;
    } else if (e->app && ver && e->version && !strcmp(ver, e->version)) {
        c->hits++;
        const char *svc = mar_app_service(e->app);
        ret = mar_task_record(cfg->environment, svc ? cfg_service(cfg, svc) : NULL, e->app, t, rec);
        if (ret == 1)
            ret = 2;
        if (ret >= 0 && enqueue(c, e, task, 0)) /* the confirming read */
            ret = -MDO_ENOMEM;
    } else {
        c->misses++;
        ret = enqueue(c, e, task, 1) ? -MDO_ENOMEM : 1;
    }
    pthread_mutex_unlock(&c->lock);
    if (ret == -MDO_ENOMEM)
        reg_record_release(rec);
    cJSON_Delete(t);
    return ret;
}

int mar_cache_want(struct mar_cache *c, const char *app_id, const char *task_id, int64_t now)
{
    struct mar_cached *e;
    int ret;

    pthread_mutex_lock(&c->lock);
    e = entry(c, app_id, 1, now);
    ret = e ? enqueue(c, e, task_id, 1) : -MDO_ENOMEM;
    pthread_mutex_unlock(&c->lock);
    return ret;
}

void mar_cache_forget(struct mar_cache *c, const char *app_id, const char *task_id)
{
    struct mar_cached *e;

    pthread_mutex_lock(&c->lock);
    e = entry(c, app_id, 0, 0);
    if (e)
        strset_del(&e->tasks, task_id);
    pthread_mutex_unlock(&c->lock);
}

int mar_cache_next(struct mar_cache *c, int64_t now, int64_t window_ms, char **app_id,
                   struct strset *tasks, int64_t *wait_ms)
{
    int64_t wait = -1;
    int ret = 0;

    *app_id = NULL;
    strset_clear(tasks);
    pthread_mutex_lock(&c->lock);
    for (unsigned i = 0; i < c->n && !ret; i++) {
        struct mar_cached *e = &c->a[i];
        /* a miss or a health event is read after one window; a mere confirmation of what an
         * event registered already can wait MAR_CONFIRM_WINDOWS of them */
        int64_t w = e->urgent ? window_ms : MAR_CONFIRM_WINDOWS * window_ms;
        int64_t due = e->read_ms ? e->read_ms + w : now;
        if (!e->tasks.n)
            continue;
        if (due > now) {
            if (wait < 0 || due - now < wait)
                wait = due - now;
            continue;
        }
        if (!(*app_id = strdup(e->id)))
            break;
        strset_swap(tasks, &e->tasks);
        strset_clear(&e->tasks);
        e->urgent = 0;
        e->read_ms = now; /* also stamps a read that fails: its retry waits a window */
        c->reads++;
        ret = 1;
    }
    pthread_mutex_unlock(&c->lock);
    *wait_ms = ret ? 0 : wait;
    return ret;
}

int mar_cache_put(struct mar_cache *c, const char *app_id, const cJSON *app, int64_t now)
{
    const char *ver = json_str(app, "version");
    struct mar_cached *e;
    cJSON *copy = NULL;
    char *v = NULL;
    int ret = 0;

    if (app && ver) {
        copy = cJSON_Duplicate(app, 1);
        v = strdup(ver);
        if (!copy || !v) {
            cJSON_Delete(copy);
            free(v);
            return -MDO_ENOMEM;
        }
        cJSON_DeleteItemFromObjectCaseSensitive(copy, "tasks"); /* O(app) to keep otherwise */
    }
    pthread_mutex_lock(&c->lock);
    e = entry(c, app_id, 1, now);
    if (!e) {
        ret = -MDO_ENOMEM;
    } else {
        cJSON_Delete(e->app);
        free(e->version);
        e->app = copy;
        e->version = v;
        e->read_ms = now;
        copy = NULL;
        v = NULL;
    }
    pthread_mutex_unlock(&c->lock);
    cJSON_Delete(copy);
    free(v);
    return ret;
}
