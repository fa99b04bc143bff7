/* marathon_deploy.c - the marathon backend's changes: launch (create or replace the app), scale,
 * restart and stop, each a Marathon deployment, followed to its end with progress lines; a
 * locked app (409) is waited for (--wait) or overridden (--force) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "buf.h"
#include "clock.h"
#include "json.h"
#include "marathon.h"
#include "redact.h"
#include "spec.h"

#define WAIT_DEFAULT_S 300
#define POLL_MS        500
#define FAILURES_FATAL 3 /* distinct failed tasks of the new version before --wait gives up */

/* Seconds since t0 (clock_now_ms) for progress lines. */
static double since_s(int64_t t0)
{
    return (double)(clock_now_ms() - t0) / 1000.0;
}

/* Whether deployment id is still listed (a deployment is done when it leaves the list). */
static int deployment_listed(struct mar_sched *m, const char *id, int *listed, struct mdo_err *err)
{
    cJSON *ans = NULL, *d;
    long st;
    int ret = mar_call(m, "GET", "/v2/deployments", NULL, &st, &ans, err);

    *listed = 0;
    if (!ret && st != 200)
        ret = mar_fail(m, "GET /v2/deployments", st, ans, err);
    if (ret) {
        cJSON_Delete(ans);
        ans = NULL;
    }
    cJSON_ArrayForEach(d, ans)
    {
        if (json_str(d, "id") && !strcmp(json_str(d, "id"), id))
            *listed = 1;
    }
    cJSON_Delete(ans);
    return ret;
}

/* The app's running and healthy tasks: Marathon's counts where it has them, else counted from
 * its tasks (no tasksRunning in 0.7, no tasksHealthy before 0.9). */
static void count_tasks(const cJSON *app, long *run, long *healthy)
{
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(app, "tasksRunning");
    const cJSON *h = cJSON_GetObjectItemCaseSensitive(app, "tasksHealthy"), *t;
    long nr = 0, nh = 0;

    cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(app, "tasks"))
    {
        if (!mar_task_running(t))
            continue;
        nr++;
        nh += mar_task_healthy(app, t);
    }
    *run = cJSON_IsNumber(r) ? (long)r->valuedouble : nr;
    *healthy = cJSON_IsNumber(h) ? (long)h->valuedouble : nh;
}

/* What a follow waits for. */
struct goal {
    const char *service, *app_id;
    const char *deployment; /* id, or NULL */
    const char *version;    /* the app version the change made (task failures of it count) */
    unsigned instances;
    int gone; /* stop: done when the deployment is gone (the app already is) */
};

/* Follows a change until its deployment left /v2/deployments and the app runs g->instances tasks
 * (healthy ones, when it has health checks), with a progress line on every change; fails when
 * the deployment is replaced by another, when new tasks keep failing, or after wait_s. */
static int follow(struct mar_sched *m, const struct goal *g, const struct sched_opts *o,
                  struct mdo_err *err)
{
    unsigned limit = o->wait_s ? o->wait_s : WAIT_DEFAULT_S;
    int64_t t0 = clock_now_ms(), deadline = clock_deadline_ms((int64_t)limit * 1000);
    struct buf path = BUF_INIT(0), last_fail = BUF_INIT(4096);
    long lrun = -1, lhealthy = -1;
    unsigned failures = 0;
    int ret = 0;

    mar_app_path(&path, m->cfg->environment, g->service);
    buf_adds(&path, "?embed=app.counts&embed=app.deployments&embed=app.lastTaskFailure"
                    "&embed=app.tasks");
    for (;;) {
        cJSON *ans = NULL;
        const cJSON *app, *f, *d;
        const char *other = NULL;
        long st, run = 0, healthy = 0;
        int listed = 0, checks = 0, done = 0;

        if (g->deployment)
            ret = deployment_listed(m, g->deployment, &listed, err);
        if (!ret)
            ret = mar_call(m, "GET", path.ptr, NULL, &st, &ans, err);
        if (ret)
            break;
        app = cJSON_GetObjectItemCaseSensitive(ans, "app");
        if (st == 404 && g->gone) {
            done = !listed;
        } else if (st == 404) {
            ret = err_set(err, MDO_ENOTFOUND,
                          "%s: app '%s' was removed while waiting (mdo stop "
                          "elsewhere?)",
                          g->service, g->app_id);
        } else if (st != 200) {
            ret = mar_fail(m, path.ptr, st, ans, err);
        } else if (g->gone) {
            done = !listed;
        } else {
            checks = cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(app, "healthChecks"));
            count_tasks(app, &run, &healthy);
            cJSON_ArrayForEach(d, cJSON_GetObjectItemCaseSensitive(app, "deployments"))
            {
                if (json_str(d, "id") &&
                    (!g->deployment || strcmp(json_str(d, "id"), g->deployment)))
                    other = json_str(d, "id");
            }
            f = cJSON_GetObjectItemCaseSensitive(app, "lastTaskFailure");
            if (f && g->version && json_str(f, "version") && json_str(f, "taskId") &&
                !strcmp(json_str(f, "version"), g->version) &&
                strcmp(json_str(f, "taskId"), buf_str(&last_fail))) {
                buf_reset(&last_fail);
                buf_adds(&last_fail, json_str(f, "taskId"));
                failures++;
                if (o->progress) { /* Mesos' message may quote the command (redact.h) */
                    char *msg = redact_dup(json_str(f, "message") ? json_str(f, "message") : "");
                    fprintf(o->progress, "%s: task %s failed (%s): %s\n", g->service,
                            json_str(f, "taskId"),
                            json_str(f, "state") ? json_str(f, "state") : "?", msg ? msg : "");
                    free(msg);
                }
            }
            if (!listed && g->deployment && other)
                ret = err_set(err, MDO_ECONFLICT,
                              "%s: deployment %s was cancelled or overridden: "
                              "app '%s' is now in deployment %s",
                              g->service, g->deployment, g->app_id, other);
            else if (failures >= FAILURES_FATAL && run < (long)g->instances)
                ret = err_set(err, MDO_EFAIL,
                              "%s: %u tasks of the new version failed, the last "
                              "one: %s (Marathon keeps retrying; see its UI or the task's "
                              "stderr, fix the config and launch again)",
                              g->service, failures,
                              json_str(f, "message") ? json_str(f, "message") : "no message");
            done = !listed && !other && run == (long)g->instances &&
                   (!checks || healthy == (long)g->instances);
        }
        if (!ret && o->progress && !g->gone && (run != lrun || healthy != lhealthy || done)) {
            if (checks)
                fprintf(o->progress, "%s: %ld/%u running, %ld healthy, %.1fs\n", g->service, run,
                        g->instances, healthy, since_s(t0));
            else
                fprintf(o->progress, "%s: %ld/%u running, %.1fs\n", g->service, run, g->instances,
                        since_s(t0));
            lrun = run;
            lhealthy = healthy;
        }
        cJSON_Delete(ans);
        if (ret || done)
            break;
        if (!clock_left_ms(deadline)) {
            ret = err_set(err, MDO_EFAIL,
                          "%s: %s not done after %us: %ld/%u running%s (see "
                          "GET %s/v2/deployments)",
                          g->service, g->deployment ? "deployment" : "app", limit, run,
                          g->instances, checks ? " (healthy ones counted)" : "", m->shown);
            break;
        }
        clock_nap_ms(POLL_MS, NULL);
    }
    if (!ret && o->progress && g->gone)
        fprintf(o->progress, "%s: stopped, %.1fs\n", g->service, since_s(t0));
    buf_release(&path);
    buf_release(&last_fail);
    return ret;
}

/* The first deployment id in a 409 "locked" answer (or in an app's deployments), or NULL. */
static const char *first_deployment(const cJSON *o)
{
    return json_str(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(o, "deployments"), 0),
                    "id");
}

static int locked_error(struct mar_sched *m, const char *service, const char *app_id,
                        const cJSON *ans, struct mdo_err *err)
{
    const char *dep = first_deployment(ans);

    err_set(err, MDO_ECONFLICT,
            "%s: app '%s' is locked by deployment %s, still in progress "
            "(see GET %s/v2/deployments): wait for it to finish (--wait), or run again with "
            "--force to override it",
            service, app_id, dep ? dep : "(unknown)", m->shown);
    err->http_status = 409;
    return -MDO_ECONFLICT;
}

/* Sends a deploying request (PUT/POST/DELETE); on 409 "locked": with o->force sends it again
 * with force=true; with o->wait waits for the blocking deployment and sends it once more;
 * else fails naming the deployment. *ans is the answer of the request that succeeded. */
static int deploy(struct mar_sched *m, const char *service, const char *app_id, const char *method,
                  const char *path, const char *body, long lo, long hi, const struct sched_opts *o,
                  cJSON **ans, long *status, struct mdo_err *err)
{
    struct buf p = BUF_INIT(0), what = BUF_INIT(0);
    int ret, tries = 0;

    buf_adds(&p, path);
    for (;;) {
        ret = mar_call(m, method, p.ptr, body, status, ans, err);
        if (ret || (*status >= lo && *status <= hi))
            break;
        buf_reset(&what);
        buf_addf(&what, "%s %s", method, p.ptr);
        if (*status != 409 || !first_deployment(*ans) || tries++) {
            ret = mar_fail(m, what.ptr, *status, *ans, err);
            break;
        }
        if (o->force) {
            if (o->progress)
                fprintf(o->progress, "%s: overriding deployment %s (--force)\n", service,
                        first_deployment(*ans));
            buf_adds(&p, strchr(p.ptr, '?') ? "&force=true" : "?force=true");
        } else if (o->wait) {
            struct goal g = {service, app_id, first_deployment(*ans), NULL, 0, 1};
            if (o->progress)
                fprintf(o->progress, "%s: waiting for deployment %s to finish first\n", service,
                        g.deployment);
            ret = follow(m, &g, o, err); /* gone = 1: only the deployment's end matters */
        } else {
            ret = locked_error(m, service, app_id, *ans, err);
        }
        if (ret)
            break;
        cJSON_Delete(*ans);
        *ans = NULL;
    }
    buf_release(&p);
    buf_release(&what);
    return ret;
}

static void dry_print(const char *method, const char *path, const cJSON *body)
{
    char *s = body ? spec_redacted(body) : NULL;

    printf("%s %s\n", method, path);
    if (s)
        printf("%s\n", s);
    free(s);
}

static int launch(struct mar_sched *m, const struct cfg_service *svc, const struct sched_opts *o,
                  struct mdo_err *err)
{
    cJSON *want = mar_app_json(m->cfg, svc, m->legacy), *ans = NULL, *res = NULL;
    struct buf id = BUF_INIT(0), path = BUF_INIT(0);
    const cJSON *have = NULL;
    char *body = NULL;
    long st = 0;
    int ret = 0, update;

    if (!want || mar_app_id(&id, m->cfg->environment, svc->name) || !(body = json_print(want))) {
        ret = err_set(err, MDO_ENOMEM, "out of memory");
        goto out;
    }
    mar_app_path(&path, m->cfg->environment, svc->name);
    ret = mar_call(m, "GET", path.ptr, NULL, &st, &ans, err);
    if (ret == -MDO_ENET && o->dry_run) { /* still show what would be sent */
        redact_fixed(err->msg, sizeof(err->msg));
        fprintf(stderr, "warning: %s; showing the create request\n", err->msg);
        err_clear(err);
        ret = 0;
        st = 404;
    }
    if (ret)
        goto out;
    if (st == 200)
        have = cJSON_GetObjectItemCaseSensitive(ans, "app");
    else if (st != 404) {
        ret = mar_fail(m, "GET /v2/apps", st, ans, err);
        goto out;
    }
    if (have && mar_app_same(want, have)) {
        if (o->dry_run)
            printf("# %s: up to date\n", id.ptr);
        else if (o->progress)
            fprintf(o->progress, "%s: up to date (%u instance%s)\n", svc->name, svc->instances,
                    svc->instances == 1 ? "" : "s");
        if (o->wait && !o->dry_run) {
            struct goal g = {svc->name, id.ptr, first_deployment(have), NULL, svc->instances, 0};
            ret = follow(m, &g, o, err);
        }
        goto out;
    }
    if (o->dry_run) {
        buf_reset(&path);
        if (have) {
            mar_app_path(&path, m->cfg->environment, svc->name);
            buf_adds(&path, "?partialUpdate=false");
        }
        dry_print(have ? "PUT" : "POST", have ? path.ptr : "/v2/apps", want);
        goto out;
    }
    update = have != NULL;
    if (!update) {
        ret = deploy(m, svc->name, id.ptr, "POST", "/v2/apps", body, 201, 201, o, &res, &st, err);
        if (ret == -MDO_ECONFLICT && !first_deployment(res)) { /* created meanwhile: update */
            err_clear(err);
            ret = 0;
            update = 1;
        }
    }
    if (!ret && update) {
        cJSON_Delete(res);
        res = NULL;
        /* the whole definition: partialUpdate=false so that what the config no longer has
         * (args, a health check) goes too (older Marathons ignore the parameter and replace
         * the fields sent, which are all of mdo's) */
        buf_reset(&path);
        mar_app_path(&path, m->cfg->environment, svc->name);
        buf_adds(&path, m->legacy ? "" : "?partialUpdate=false");
        ret = deploy(m, svc->name, id.ptr, "PUT", path.ptr, body, 200, 201, o, &res, &st, err);
    }
    if (!ret) {
        const char *dep = update ? json_str(res, "deploymentId") : first_deployment(res);
        const char *was =
            json_str(cJSON_GetObjectItemCaseSensitive(have, "labels"), "mdo.app_version");
        struct goal g = {svc->name, id.ptr, dep, json_str(res, "version"), svc->instances, 0};
        if (o->progress && update)
            fprintf(o->progress, "%s: updated app %s (version %s -> %s), deployment %s\n",
                    svc->name, id.ptr, was ? was : "?",
                    json_str(cJSON_GetObjectItemCaseSensitive(want, "labels"), "mdo.app_version"),
                    dep ? dep : "?");
        else if (o->progress)
            fprintf(o->progress, "%s: created app %s, deployment %s\n", svc->name, id.ptr,
                    dep ? dep : "?");
        if (o->wait)
            ret = follow(m, &g, o, err);
    }
out:
    cJSON_Delete(want);
    cJSON_Delete(ans);
    cJSON_Delete(res);
    free(body);
    buf_release(&id);
    buf_release(&path);
    return ret;
}

static int not_launched(const char *service, const char *app_id, struct mdo_err *err)
{
    return err_set(err, MDO_ENOTFOUND,
                   "%s: service not launched (Marathon has no app '%s'): "
                   "run `mdo launch %s` first",
                   service, app_id, service);
}

static int scale(struct mar_sched *m, const struct cfg_service *svc, unsigned n,
                 const struct sched_opts *o, struct mdo_err *err)
{
    struct buf id = BUF_INIT(0), path = BUF_INIT(0);
    cJSON *res = NULL, *one = cJSON_CreateObject();
    char *body = NULL;
    long st = 0;
    int ret;

    mar_app_id(&id, m->cfg->environment, svc->name);
    mar_app_path(&path, m->cfg->environment, svc->name);
    cJSON_AddNumberToObject(one, "instances", n);
    body = json_print(one);
    cJSON_Delete(one);
    if (!body) {
        ret = err_set(err, MDO_ENOMEM, "out of memory");
        goto out;
    }
    if (o->dry_run) {
        printf("PUT %s\n%s\n", path.ptr, body);
        ret = 0;
        goto out;
    }
    /* a PUT would create a missing app from this fragment (and fail validation): ask first */
    ret = mar_call(m, "GET", path.ptr, NULL, &st, &res, err);
    if (!ret && st == 404)
        ret = not_launched(svc->name, id.ptr, err);
    else if (!ret && st != 200)
        ret = mar_fail(m, "GET /v2/apps", st, res, err);
    cJSON_Delete(res);
    res = NULL;
    if (!ret)
        ret = deploy(m, svc->name, id.ptr, "PUT", path.ptr, body, 200, 200, o, &res, &st, err);
    if (ret == -MDO_ENOTFOUND)
        ret = not_launched(svc->name, id.ptr, err);
    if (!ret) {
        struct goal g = {svc->name, id.ptr, json_str(res, "deploymentId"), json_str(res, "version"),
                         n,         0};
        if (o->progress)
            fprintf(o->progress, "%s: scaling to %u, deployment %s\n", svc->name, n,
                    g.deployment ? g.deployment : "?");
        if (o->wait)
            ret = follow(m, &g, o, err);
    }
out:
    cJSON_Delete(res);
    buf_release(&id);
    buf_release(&path);
    free(body);
    return ret;
}

/* Marathon's restart replaces every task following the app's upgradeStrategy, which mdo derived
 * from upgrade.pause at launch (one at a time when a pause is set). Marathon has no per-restart
 * pause: pause_s only decides whether to say so. */
static int restart(struct mar_sched *m, const struct cfg_service *svc, unsigned pause_s,
                   const struct sched_opts *o, struct mdo_err *err)
{
    struct buf id = BUF_INIT(0), path = BUF_INIT(0);
    cJSON *res = NULL;
    long st = 0;
    int ret = 0;

    mar_app_id(&id, m->cfg->environment, svc->name);
    mar_app_path(&path, m->cfg->environment, svc->name);
    buf_adds(&path, "/restart");
    if (o->dry_run) {
        printf("POST %s\n", path.ptr);
        goto out;
    }
    if (pause_s && o->progress)
        fprintf(o->progress,
                "%s: note: Marathon does not pause between instances; it replaces "
                "them %s\n",
                svc->name,
                svc->upgrade_pause ? "one at a time (upgrade.pause)"
                                   : "by the app's upgradeStrategy");
    ret = deploy(m, svc->name, id.ptr, "POST", path.ptr, NULL, 200, 200, o, &res, &st, err);
    if (ret == -MDO_ENOTFOUND)
        ret = not_launched(svc->name, id.ptr, err);
    if (!ret) {
        struct goal g = {svc->name, id.ptr, json_str(res, "deploymentId"), json_str(res, "version"),
                         0,         0};
        cJSON *app = NULL;
        if (o->progress)
            fprintf(o->progress, "%s: restarting, deployment %s\n", svc->name,
                    g.deployment ? g.deployment : "?");
        if (o->wait) { /* the count to wait for is the app's, not the config's */
            buf_reset(&path);
            mar_app_path(&path, m->cfg->environment, svc->name);
            buf_adds(&path, "?embed=app.counts");
            ret = mar_call(m, "GET", path.ptr, NULL, &st, &app, err);
            g.instances = (unsigned)json_int(cJSON_GetObjectItemCaseSensitive(app, "app"),
                                             "instances", svc->instances);
            if (!ret)
                ret = follow(m, &g, o, err);
            cJSON_Delete(app);
        }
    }
out:
    cJSON_Delete(res);
    buf_release(&id);
    buf_release(&path);
    return ret;
}

static int stop(struct mar_sched *m, const char *service, const struct sched_opts *o,
                struct mdo_err *err)
{
    struct buf id = BUF_INIT(0), path = BUF_INIT(0);
    cJSON *res = NULL;
    long st = 0;
    int ret = 0;

    mar_app_id(&id, m->cfg->environment, service);
    mar_app_path(&path, m->cfg->environment, service);
    if (o->dry_run) {
        printf("DELETE %s\n", path.ptr);
        goto out;
    }
    /* 200 with a deployment; 204 from Marathon 0.x */
    ret = deploy(m, service, id.ptr, "DELETE", path.ptr, NULL, 200, 204, o, &res, &st, err);
    if (ret == -MDO_ENOTFOUND) {
        err_clear(err);
        ret = 0;
        if (o->progress)
            fprintf(o->progress, "%s: nothing to stop\n", service);
        goto out;
    }
    if (!ret) {
        struct goal g = {service, id.ptr, json_str(res, "deploymentId"), NULL, 0, 1};
        if (o->progress)
            fprintf(o->progress, "%s: removing app %s, deployment %s\n", service, id.ptr,
                    g.deployment ? g.deployment : "-");
        if (o->wait)
            ret = follow(m, &g, o, err);
    }
out:
    cJSON_Delete(res);
    buf_release(&id);
    buf_release(&path);
    return ret;
}

/* ---- the ops: struct sched is a struct mar_sched; errors leave tagged with their origin ---- */

int mar_launch(struct sched *s, const struct cfg_service *svc, const struct sched_opts *o,
               struct mdo_err *err)
{
    return err_tag(launch(mar_of(s), svc, o, err), err, MDO_SRC_MARATHON);
}

int mar_scale(struct sched *s, const struct cfg_service *svc, unsigned n,
              const struct sched_opts *o, struct mdo_err *err)
{
    return err_tag(scale(mar_of(s), svc, n, o, err), err, MDO_SRC_MARATHON);
}

int mar_restart(struct sched *s, const struct cfg_service *svc, unsigned pause_s,
                const struct sched_opts *o, struct mdo_err *err)
{
    return err_tag(restart(mar_of(s), svc, pause_s, o, err), err, MDO_SRC_MARATHON);
}

int mar_stop(struct sched *s, const char *service, const struct sched_opts *o, struct mdo_err *err)
{
    return err_tag(stop(mar_of(s), service, o, err), err, MDO_SRC_MARATHON);
}
