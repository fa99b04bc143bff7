/* test_marathon_events.c - what makes a Marathon event O(1) (lib/marathon_cache.c): a record made
 * from a status_update_event and the cached app is byte-identical to the one a reconcile makes
 * from Marathon's task; a burst of 1,000 canned events of one app costs a bounded number of app
 * reads (the worker simulated on a made-up clock); misses, versions, health events, removals
 * and the cache's bound. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "check.h"
#include "json.h"
#include "marathon.h"
#include "marathon_cache.h"

/* the environment the events belong to; no service config (as mar_task_record(NULL conf)) */
static char prod_env[] = "prod";
static const struct cfg prod = {.environment = prod_env};

/* an app as GET /v2/apps/prod/web?embed=app.tasks answers it, one running task */
static const char app_json[] =
    "{\"id\":\"/prod/web\",\"version\":\"2026-12-01T10:00:00.000Z\",\"instances\":2,"
    "\"container\":{\"type\":\"DOCKER\",\"portMappings\":["
    "{\"name\":\"http\",\"containerPort\":80,\"hostPort\":0,\"protocol\":\"tcp\"},"
    "{\"name\":\"admin\",\"containerPort\":0,\"hostPort\":0,\"protocol\":\"udp\"}]},"
    "\"labels\":{\"mdo.environment\":\"prod\",\"mdo.service\":\"web\","
    "\"mdo.app_version\":\"0123456789ab\",\"mdo.label.tier\":\"front\"},"
    "\"tasks\":[{\"id\":\"prod_web.instance-1._app.1\",\"appId\":\"/prod/web\","
    "\"host\":\"10.0.0.7\",\"ports\":[31001,31002],\"ipAddresses\":[{\"ipAddress\":"
    "\"172.17.0.9\",\"protocol\":\"IPv4\"}],\"state\":\"TASK_RUNNING\","
    "\"stagedAt\":\"2026-12-01T10:00:01.000Z\",\"startedAt\":\"2026-12-01T10:00:01.500Z\","
    "\"version\":\"2026-12-01T10:00:00.000Z\",\"slaveId\":\"agent0\"}]}";

/* the status_update_event Marathon sends for that task (timestamp = its startedAt here) */
static cJSON *event(const char *task, const char *version, const char *ts, int port)
{
    char s[1024];

    snprintf(s, sizeof(s),
             "{\"eventType\":\"status_update_event\",\"timestamp\":\"%s\",\"slaveId\":"
             "\"agent0\",\"taskId\":\"%s\",\"taskStatus\":\"TASK_RUNNING\",\"message\":\"\","
             "\"appId\":\"/prod/web\",\"host\":\"10.0.0.7\",\"ipAddresses\":[{\"ipAddress\":"
             "\"172.17.0.9\",\"protocol\":\"IPv4\"}],\"ports\":[%d,31002],\"version\":\"%s\"}",
             ts, task, port, version);
    return cJSON_Parse(s);
}

static void test_same_bytes(void)
{
    struct mar_cache c;
    cJSON *app = cJSON_Parse(app_json),
          *ev = event("prod_web.instance-1._app.1", "2026-12-01T10:00:00.000Z",
                      "2026-12-01T10:00:01.500Z", 31001);
    const cJSON *task = cJSON_GetArrayItem(cJSON_GetObjectItem(app, "tasks"), 0);
    struct reg_record from_list, from_event;
    char *a = NULL, *b = NULL;

    mar_cache_init(&c);
    CHECK_INT(mar_task_record("prod", NULL, app, task, &from_list), 0);
    /* not cached yet: a miss, the app queued */
    CHECK_INT(mar_cache_event_record(&c, &prod, ev, 1000, &from_event), 1);
    CHECK_INT(c.misses, 1);
    CHECK_INT(mar_cache_put(&c, "/prod/web", app, 1100), 0);
    CHECK_INT(mar_cache_event_record(&c, &prod, ev, 1200, &from_event), 0);
    a = reg_record_json(&from_list);
    b = reg_record_json(&from_event);
    CHECK_STR(b, a); /* the registry diff relies on these bytes */
    CHECK_INT(reg_record_equal(&from_list, &from_event), 1);
    free(a);
    free(b);
    reg_record_release(&from_event);
    reg_record_release(&from_list);
    cJSON_Delete(ev);
    cJSON_Delete(app);
    mar_cache_release(&c);
}

/* Where the event cannot know what Marathon knows (a health result, its own startedAt), the
 * record differs: which is why every event also queues a confirming read. */
static void test_confirmed(void)
{
    struct mar_cache c;
    struct strset tasks = STRSET_INIT;
    cJSON *app = cJSON_Parse(app_json);
    cJSON *ev = event("prod_web.instance-1._app.1", "2026-12-01T10:00:00.000Z",
                      "2026-12-01T10:00:01.503Z", 31001);
    struct reg_record r;
    char *id = NULL;
    int64_t wait;

    mar_cache_init(&c);
    mar_cache_put(&c, "/prod/web", app, 0 + 1);
    CHECK_INT(mar_cache_event_record(&c, &prod, ev, 50, &r), 0);
    CHECK_STR(r.started_at, "2026-12-01T10:00:01.503Z"); /* the event's, until the read */
    reg_record_release(&r);
    /* queued for confirmation only, the app read at 1: due MAR_CONFIRM_WINDOWS windows on */
    CHECK_INT(mar_cache_next(&c, 100, 200, &id, &tasks, &wait), 0);
    CHECK_INT(wait, 1 + MAR_CONFIRM_WINDOWS * 200 - 100);
    /* a health event makes it urgent: due one window after the last read */
    CHECK_INT(mar_cache_want(&c, "/prod/web", NULL, 150), 0);
    CHECK_INT(mar_cache_next(&c, 150, 200, &id, &tasks, &wait), 0);
    CHECK_INT(wait, 51);
    CHECK_INT(mar_cache_next(&c, 201, 200, &id, &tasks, &wait), 1);
    CHECK_STR(id, "/prod/web");
    CHECK_INT(strset_has(&tasks, "prod_web.instance-1._app.1"), 1);
    free(id);
    /* nothing left */
    CHECK_INT(mar_cache_next(&c, 5000, 200, &id, &tasks, &wait), 0);
    CHECK_INT(wait, -1);
    strset_release(&tasks);
    cJSON_Delete(ev);
    cJSON_Delete(app);
    mar_cache_release(&c);
}

/* 1,000 TASK_RUNNING events of one app (a scale-up) over 2 s of made-up time, the worker
 * taking what is due after each: the reads are bounded by time / window, not by events. */
static void test_burst(void)
{
    struct mar_cache c;
    struct strset tasks = STRSET_INIT;
    cJSON *app = cJSON_Parse(app_json);
    unsigned reads = 0, up = 0, confirmed = 0;
    int64_t now = 10000, wait;
    char *id;

    mar_cache_init(&c);
    for (int i = 0; i < 1000; i++, now += 2) {
        char tid[64];
        struct reg_record r;
        cJSON *ev;
        snprintf(tid, sizeof(tid), "prod_web.instance-%d._app.1", i);
        ev = event(tid, "2026-12-01T10:00:00.000Z", "2026-12-01T10:00:01.500Z", 31000 + i);
        if (mar_cache_event_record(&c, &prod, ev, now, &r) == 0) {
            up++;
            reg_record_release(&r);
        }
        cJSON_Delete(ev);
        while (mar_cache_next(&c, now, 200, &id, &tasks, &wait)) {
            reads++;
            confirmed += (unsigned)tasks.n;
            mar_cache_put(&c, id, app, now);
            free(id);
        }
    }
    now += 200; /* the last window closes */
    while (mar_cache_next(&c, now, 200, &id, &tasks, &wait)) {
        reads++;
        confirmed += (unsigned)tasks.n;
        free(id);
    }
    printf("# figure: burst of 1000 events over 2000 ms: %u app reads, %u registered from the "
           "event at once, %u confirmed by a read\n",
           reads, up, confirmed);
    CHECK(reads <= 2000 / 200 + 2);
    CHECK(reads >= 2);
    CHECK_INT(up, 999); /* only the first missed */
    CHECK_INT(confirmed, 1000);
    CHECK_INT(c.hits, 999);
    strset_release(&tasks);
    cJSON_Delete(app);
    mar_cache_release(&c);
}

static void test_versions_health_forget(void)
{
    struct mar_cache c;
    struct strset tasks = STRSET_INIT;
    cJSON *app = cJSON_Parse(app_json);
    cJSON *newer =
        event("prod_web.x", "2026-12-01T11:00:00.000Z", "2026-12-01T11:00:01.000Z", 31009);
    struct reg_record r;
    char *id;
    int64_t wait;

    mar_cache_init(&c);
    mar_cache_put(&c, "/prod/web", app, 1);
    /* a task of another version than the cached app's: a miss, never the old definition */
    CHECK_INT(mar_cache_event_record(&c, &prod, newer, 10, &r), 1);
    mar_cache_forget(&c, "/prod/web", "prod_web.x"); /* it went down before the read */
    CHECK_INT(mar_cache_next(&c, 1000, 200, &id, &tasks, &wait), 0);
    /* a health event queues a read of the task */
    CHECK_INT(mar_cache_want(&c, "/prod/web", "prod_web.instance-1", 1000), 0);
    CHECK_INT(mar_cache_next(&c, 1000, 200, &id, &tasks, &wait), 1);
    CHECK_INT(strset_has(&tasks, "prod_web.instance-1"), 1);
    free(id);
    /* an event without its fields makes no record */
    cJSON_DeleteItemFromObject(newer, "ports");
    CHECK(mar_event_task(newer) == NULL);
    CHECK_INT(mar_cache_event_record(&c, &prod, newer, 2000, &r), 2);
    /* the cache is bounded: the oldest clean app goes */
    for (int i = 0; i < MAR_CACHE_MAX + 10; i++) {
        char aid[64];
        snprintf(aid, sizeof(aid), "/prod/s%d", i);
        mar_cache_put(&c, aid, NULL, 3000 + i);
    }
    CHECK_INT(c.n, MAR_CACHE_MAX);
    strset_release(&tasks);
    cJSON_Delete(newer);
    cJSON_Delete(app);
    mar_cache_release(&c);
}

int main(void)
{
    test_same_bytes();
    test_confirmed();
    test_burst();
    test_versions_health_forget();
    return check_done("test_marathon_events");
}
