/* docker_deploy.c - the docker backend's changes to what runs: pull, create, start, replace
 * (new before old, unless fixed host ports force old first), remove, and the waits between */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "buf.h"
#include "clock.h"
#include "docker.h"
#include "http.h"
#include "json.h"
#include "spec.h"

#define STOP_TIMEOUT_S 10
#define POLL_MS        200

/* The image is there, or is pulled as docker.pull says. */
static int ensure_image(struct dk_sched *d, const char *image, struct mdo_err *err)
{
    struct buf path = BUF_INIT(0);
    enum cfg_pull pull = d->cfg->docker.pull;
    int ret = 0, present;

    buf_adds(&path, "/images/");
    http_escape(&path, image);
    buf_adds(&path, "/json");
    ret = dk_call(d, "GET", path.ptr, NULL, 200, 200, NULL, err);
    present = !ret;
    if (ret == -MDO_ENOTFOUND) {
        err_clear(err);
        ret = 0;
    }
    if (!ret && !present && pull == CFG_PULL_NEVER)
        ret = err_set(err, MDO_ENOTFOUND,
                      "image '%s' is not on this Docker engine and "
                      "docker.pull is 'never': build or load it first",
                      image);
    if (!ret && (pull == CFG_PULL_ALWAYS || (!present && pull == CFG_PULL_MISSING))) {
        /* POST /images/create streams progress; a failure arrives as {"error": ...} in it */
        struct http_resp resp = HTTP_RESP_INIT;
        struct buf why = BUF_INIT(4096);
        struct http_conn c = d->conn;
        char url[2048];
        buf_reset(&path);
        buf_adds(&path, "/images/create?fromImage=");
        http_escape(&path, image);
        snprintf(url, sizeof(url), "%s%s", DK_API, path.ptr);
        c.timeout_ms = 600000;
        ret = http_request(&c, "POST", url, "", 0, NULL, &resp, err);
        if (!ret && (resp.status != 200 || dkr_pull_failed(resp.body.ptr, resp.body.len, &why))) {
            if (resp.status != 200 && !why.len)
                dkr_pull_failed(resp.body.ptr, resp.body.len, &why); /* {"message": ...} */
            ret = err_set(err, MDO_EFAIL, "cannot pull image '%s': %.300s", image,
                          why.len ? buf_str(&why) : buf_str(&resp.body));
            err_why(err, "%.300s", why.len ? buf_str(&why) : buf_str(&resp.body));
        }
        if (ret)
            err_from(err, MDO_SRC_DOCKER);
        buf_release(&why);
        http_resp_release(&resp);
    }
    buf_release(&path);
    return ret;
}

static int remove_container(struct dk_sched *d, const char *id, struct mdo_err *err)
{
    struct buf path = BUF_INIT(0);
    int ret;

    dk_path(&path, "/containers/", id, "/stop?t=");
    buf_addf(&path, "%d", STOP_TIMEOUT_S);
    ret = dk_call(d, "POST", path.ptr, NULL, 204, 304, NULL, err);
    if (ret == -MDO_ENOTFOUND) {
        err_clear(err);
        ret = 0;
        goto out;
    }
    dk_path(&path, "/containers/", id, "?force=true");
    ret = dk_call(d, "DELETE", path.ptr, NULL, 204, 204, NULL, err);
    if (ret == -MDO_ENOTFOUND || ret == -MDO_ECONFLICT) { /* gone, or removal under way */
        err_clear(err);
        ret = 0;
    }
out:
    buf_release(&path);
    return ret;
}

static int start_container(struct dk_sched *d, const char *id, struct mdo_err *err)
{
    struct buf path = BUF_INIT(0);
    int ret;

    dk_path(&path, "/containers/", id, "/start");
    ret = dk_call(d, "POST", path.ptr, NULL, 204, 304, NULL, err);
    buf_release(&path);
    return ret;
}

static int create_instance(struct dk_sched *d, const struct cfg_service *svc, const char *name,
                           const char *version, const struct sched_opts *o, struct mdo_err *err)
{
    cJSON *body = dkr_create_body(d->cfg, svc, d->host_address, name, version), *ans = NULL;
    char *s = body ? json_print(body) : NULL;
    struct buf path = BUF_INIT(0);
    int ret = 0;

    if (!s) {
        cJSON_Delete(body);
        return err_set(err, MDO_ENOMEM, "out of memory");
    }
    buf_adds(&path, "/containers/create?name=");
    http_escape(&path, name);
    if (o->dry_run) {
        char *out = spec_redacted(body);
        printf("POST %s\n%s\n", path.ptr, out ? out : "(body not shown: out of memory)");
        free(out);
    } else {
        ret = dk_call(d, "POST", path.ptr, s, 201, 201, &ans, err);
        if (!ret && json_str(ans, "Id"))
            ret = start_container(d, json_str(ans, "Id"), err);
        if (!ret && o->progress)
            fprintf(o->progress, "%s: started %s\n", svc->name, name);
    }
    cJSON_Delete(body);
    cJSON_Delete(ans);
    buf_release(&path);
    free(s);
    return ret;
}

/* Running, and healthy when the service has a health check: 1 yes, 0 not yet, <0 error/failed */
static int instance_ready(struct dk_sched *d, const char *name, int healthy, struct mdo_err *err)
{
    cJSON *in = NULL;
    const cJSON *st;
    const char *h;
    int ret = dk_inspect(d, name, &in, err);

    if (ret)
        return ret;
    st = cJSON_GetObjectItem(in, "State");
    h = json_str(cJSON_GetObjectItem(st, "Health"), "Status");
    if (json_bool(st, "Running", 0) && !json_bool(st, "Restarting", 0))
        ret = !healthy || !h || !strcmp(h, "healthy");
    if (h && !strcmp(h, "unhealthy"))
        ret = err_set(err, MDO_EFAIL, "instance '%s' is unhealthy", name);
    cJSON_Delete(in);
    return ret;
}

/* Seconds since t0 (clock_now_ms) for progress lines. */
static double since_s(int64_t t0)
{
    return (double)(clock_now_ms() - t0) / 1000.0;
}

/* Waits until every <env>-<svc>-1..n runs (and is healthy, with a health check). */
static int wait_ready(struct dk_sched *d, const struct cfg_service *svc, unsigned n,
                      const struct sched_opts *o, struct mdo_err *err)
{
    unsigned limit = o->wait_s ? o->wait_s : 300;
    int64_t t0 = clock_now_ms(), deadline = clock_deadline_ms((int64_t)limit * 1000);
    struct buf name = BUF_INIT(0);
    unsigned ready = 0, last = (unsigned)-1;
    int ret = 0;

    for (;;) {
        ready = 0;
        for (unsigned i = 1; !ret && i <= n; i++) {
            int r;
            dkr_instance_name(&name, d->cfg->environment, svc->name, i);
            r = instance_ready(d, name.ptr, svc->has_health, err);
            if (r < 0 && r != -MDO_ENOTFOUND)
                ret = r;
            else if (r == 1)
                ready++;
            else
                err_clear(err);
        }
        if (ret)
            break;
        if (o->progress && ready != last)
            fprintf(o->progress, "%s: %u/%u running%s, %.1fs\n", svc->name, ready, n,
                    svc->has_health ? " and healthy" : "", since_s(t0));
        last = ready;
        if (ready == n)
            break;
        if (!clock_left_ms(deadline)) {
            ret = err_set(err, MDO_EFAIL,
                          "%s: only %u of %u instances ready after %us "
                          "(see `docker logs %s-%s-N`)",
                          svc->name, ready, n, limit, d->cfg->environment, svc->name);
            break;
        }
        clock_nap_ms(POLL_MS, NULL);
    }
    buf_release(&name);
    return ret;
}

/* Replaces one instance running an old version: the new one is created, runs (and is healthy)
 * before the old one is removed. With fixed host ports the two cannot run side by side, so the
 * old one goes first. */
static int replace_instance(struct dk_sched *d, const struct cfg_service *svc,
                            const struct dk_ctr *old, const char *version,
                            const struct sched_opts *o, struct mdo_err *err)
{
    struct buf tmp = BUF_INIT(0), path = BUF_INIT(0);
    int64_t deadline = clock_deadline_ms((int64_t)(o->wait_s ? o->wait_s : 300) * 1000);
    int ret;

    if (o->progress && strcmp(old->version, version))
        fprintf(o->progress, "%s: replacing %s (version %s -> %s)\n", svc->name, old->name,
                old->version, version);
    else if (o->progress)
        fprintf(o->progress, "%s: restarting %s\n", svc->name, old->name);
    if (cfg_service_fixed_ports(svc)) {
        ret = remove_container(d, old->id, err);
        if (!ret)
            ret = create_instance(d, svc, old->name, version, o, err);
        goto out;
    }
    buf_addf(&tmp, "%s-old-%.12s", old->name, old->id);
    dk_path(&path, "/containers/", old->id, "/rename?name=");
    http_escape(&path, tmp.ptr);
    ret = dk_call(d, "POST", path.ptr, NULL, 204, 204, NULL, err);
    if (!ret)
        ret = create_instance(d, svc, old->name, version, o, err);
    while (!ret) {
        int r = instance_ready(d, old->name, svc->has_health, err);
        if (r < 0) {
            ret = r;
            break;
        }
        if (r == 1)
            break;
        if (!clock_left_ms(deadline)) {
            ret = err_set(err, MDO_EFAIL,
                          "new instance %s did not become ready; the old one is "
                          "kept as %s",
                          old->name, tmp.ptr);
            break;
        }
        clock_nap_ms(POLL_MS, NULL);
    }
    if (!ret)
        ret = remove_container(d, old->id, err);
out:
    buf_release(&tmp);
    buf_release(&path);
    if (!ret && svc->upgrade_pause)
        sleep(svc->upgrade_pause);
    return ret;
}

/* Brings the service to n instances of the current version. */
int dk_converge(struct dk_sched *d, const struct cfg_service *svc, unsigned n,
                const struct sched_opts *o, struct mdo_err *err)
{
    const struct cfg_port *fixed = cfg_service_fixed_ports(svc);
    struct dk_ctr *c = NULL;
    unsigned nc = 0, changed = 0;
    char version[13];
    struct buf name = BUF_INIT(0);
    int ret;

    if (spec_version(d->cfg, svc, version))
        return err_set(err, MDO_ENOMEM, "out of memory");
    /* one engine is one host: a fixed host port fits one instance (Marathon spreads them) */
    if (fixed && n > 1 && o->dry_run) {
        fprintf(stderr,
                "warning: %s: fixed host ports (%s: %u): one Docker host runs only "
                "one instance, not %u\n",
                svc->name, fixed->name, fixed->host_port, n);
    } else if (fixed && n > 1) {
        err_set(err, MDO_ECONFIG,
                "%s: fixed host ports (%s: %u) and %u instances: one "
                "Docker host runs only one instance; use instances: 1, or drop host_ports",
                svc->name, fixed->name, fixed->host_port, n);
        return err_from(err, MDO_SRC_CONFIG);
    }
    ret = o->dry_run ? 0 : ensure_image(d, svc->image, err);
    if (!ret)
        ret = dk_ctrs_list(d, svc->name, 1, &c, &nc, err);
    for (unsigned i = 1; !ret && i <= n; i++) {
        const struct dk_ctr *have = NULL;
        dkr_instance_name(&name, d->cfg->environment, svc->name, i);
        for (unsigned j = 0; j < nc; j++)
            if (!strcmp(c[j].name, name.ptr))
                have = &c[j];
        if (o->dry_run && have && !strcmp(have->version, version))
            printf("# %s: up to date\n", name.ptr);
        if (!have) {
            ret = create_instance(d, svc, name.ptr, version, o, err);
            changed++;
        } else if (strcmp(have->version, version)) {
            if (o->dry_run)
                printf("# %s: would be replaced (version %s -> %s)\n", name.ptr, have->version,
                       version);
            ret = o->dry_run ? create_instance(d, svc, name.ptr, version, o, err)
                             : replace_instance(d, svc, have, version, o, err);
            changed++;
        } else if (strcmp(have->state, "running") && strcmp(have->state, "restarting")) {
            if (!o->dry_run)
                ret = start_container(d, have->id, err);
            changed++;
        }
    }
    /* instances past n, and leftovers of interrupted replacements */
    for (unsigned j = 0; !ret && j < nc; j++) {
        if (c[j].index >= 1 && c[j].index <= n)
            continue;
        if (o->dry_run) {
            printf("# %s: would be removed\n", c[j].name);
        } else {
            ret = remove_container(d, c[j].id, err);
            if (!ret && o->progress)
                fprintf(o->progress, "%s: removed %s\n", svc->name, c[j].name);
        }
        changed++;
    }
    if (!ret && !changed && o->progress && !o->dry_run)
        fprintf(o->progress, "%s: up to date (%u instance%s)\n", svc->name, n, n == 1 ? "" : "s");
    if (!ret && o->wait && !o->dry_run)
        ret = wait_ready(d, svc, n, o, err);
    dk_ctrs_free(c, nc);
    buf_release(&name);
    return ret;
}

/* Replaces every instance with a fresh container, one at a time, in instance order. */
int dk_restart_all(struct dk_sched *d, const struct cfg_service *svc, unsigned pause_s,
                   const struct sched_opts *o, struct mdo_err *err)
{
    struct dk_ctr *c = NULL;
    unsigned nc = 0, done = 0;
    char version[13];
    int ret = spec_version(d->cfg, svc, version);

    if (ret)
        return err_set(err, MDO_ENOMEM, "out of memory");
    ret = dk_ctrs_list(d, svc->name, 0, &c, &nc, err);
    for (unsigned i = 1; !ret && i <= CFG_MAX_INSTANCES && done < nc; i++) {
        for (unsigned j = 0; !ret && j < nc; j++) {
            if (c[j].index != i)
                continue;
            if (done && pause_s)
                sleep(pause_s);
            ret = replace_instance(d, svc, &c[j], version, o, err); /* with the config as it is */
            done++;
        }
    }
    if (!ret && !done)
        ret = err_set(err, MDO_ENOTFOUND, "%s: no running instance to restart (launch it first)",
                      svc->name);
    dk_ctrs_free(c, nc);
    return ret;
}

int dk_stop_all(struct dk_sched *d, const char *service, const struct sched_opts *o,
                struct mdo_err *err)
{
    struct dk_ctr *c = NULL;
    unsigned nc = 0;
    int ret = dk_ctrs_list(d, service, 1, &c, &nc, err);

    for (unsigned i = 0; !ret && i < nc; i++) {
        if (o->dry_run) {
            printf("DELETE /containers/%s?force=true\n", c[i].name);
            continue;
        }
        ret = remove_container(d, c[i].id, err);
        if (!ret && o->progress)
            fprintf(o->progress, "%s: removed %s\n", service, c[i].name);
    }
    if (!ret && !nc && o->progress)
        fprintf(o->progress, "%s: nothing to stop\n", service);
    dk_ctrs_free(c, nc);
    return ret;
}
