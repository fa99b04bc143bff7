/* docker.c - the docker backend: one container per instance on the local engine, over the Engine
 * API on its unix socket (API v1.41, Docker 20.10+). Here: the client, opening, listing what
 * runs, and the ops table (names, bodies, records: docker_ctr.c; creating, replacing and
 * removing: docker_deploy.c; the event stream: docker_events.c).
 */
#include <ifaddrs.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "buf.h"
#include "clock.h"
#include "docker.h"
#include "http.h"
#include "json.h"
#include "log.h"
#include "scheduler.h"
#include "spec.h"
#include "url.h"

/* ---- the client ---- */

int dk_call(struct dk_sched *d, const char *method, const char *path, const char *body, long lo,
            long hi, cJSON **out, struct mdo_err *err)
{
    struct http_resp resp = HTTP_RESP_INIT;
    struct buf url = BUF_INIT(0);
    int ret;

    if (out)
        *out = NULL;
    if (buf_addf(&url, "%s%s", DK_API, path)) {
        err_set(err, MDO_ENOMEM, "out of memory");
        return err_from(err, MDO_SRC_DOCKER);
    }
    ret = http_request(&d->conn, method, url.ptr, body, body ? strlen(body) : 0,
                       body ? "application/json" : NULL, &resp, err);
    if (ret == -MDO_ENET) {
        /* the http layer's reason (its why, or its whole message: this URL holds no secret) */
        char cause[1024];
        snprintf(cause, sizeof(cause), "%.1000s", err->why[0] ? err->why : err->msg);
        err_set(err, MDO_ENET,
                "cannot reach Docker at %s: %s (is dockerd running? start it, or "
                "set docker.socket)",
                d->conn.unix_socket, cause);
        err_why(err, "%s", cause);
    } else if (!ret && (resp.status < lo || resp.status > hi)) {
        cJSON *e = cJSON_ParseWithLength(buf_str(&resp.body), resp.body.len);
        const char *m = json_str(e, "message");
        const char *why = m ? m : resp.body.len ? buf_str(&resp.body) : "error";
        ret = err_set(err,
                      resp.status == 404   ? MDO_ENOTFOUND
                      : resp.status == 409 ? MDO_ECONFLICT
                                           : MDO_EHTTP,
                      "docker: %s %s: %s", method, path, why);
        err_why(err, "%s", why);
        err->http_status = resp.status;
        cJSON_Delete(e);
    } else if (!ret && out && resp.body.len) {
        *out = cJSON_ParseWithLength(resp.body.ptr, resp.body.len);
        if (!*out)
            ret = err_set(err, MDO_EPROTO, "docker: %s %s: answer is not JSON", method, path);
    }
    http_resp_release(&resp);
    buf_release(&url);
    err_from(err, MDO_SRC_DOCKER);
    return ret;
}

int dk_path(struct buf *b, const char *head, const char *segment, const char *tail)
{
    buf_reset(b);
    buf_adds(b, head);
    url_add_segment(b, segment);
    return buf_adds(b, tail);
}

int dk_inspect(struct dk_sched *d, const char *id, cJSON **out, struct mdo_err *err)
{
    struct buf path = BUF_INIT(0);
    int ret = dk_path(&path, "/containers/", id, "/json");

    ret = ret ? err_set(err, MDO_ENOMEM, "out of memory")
              : dk_call(d, "GET", path.ptr, NULL, 200, 200, out, err);
    buf_release(&path);
    return ret;
}

int dk_record(struct dk_sched *d, const cJSON *in, struct reg_record *rec, struct mdo_err *err)
{
    struct mdo_err why = MDO_ERR_INIT;
    const char *name = json_str(in, "Name");
    int ret = dkr_record(d->cfg->environment, d->host_address, in, rec, &why), first;

    if (ret != -MDO_EPROTO) {
        if (ret < 0)
            err_set(err, why.code, "%s", why.msg);
        return ret;
    }
    /* refused: said once per container, not on every pass */
    pthread_mutex_lock(&d->lock);
    first = !strset_has(&d->refused, name ? name : "");
    if (first)
        strset_add(&d->refused, name ? name : "");
    pthread_mutex_unlock(&d->lock);
    if (first)
        log_warn("docker", "container skipped, not registered", "id=%.12s err=\"%s\"",
                 json_str(in, "Id") ? json_str(in, "Id") : "?", why.msg);
    return 1;
}

static int iface_addr(const char *name, char *out, size_t n)
{
    struct ifaddrs *ifs, *i;
    int ret = -1;

    if (getifaddrs(&ifs))
        return -1;
    for (i = ifs; i && ret; i = i->ifa_next)
        if (i->ifa_addr && i->ifa_addr->sa_family == AF_INET && !strcmp(i->ifa_name, name) &&
            inet_ntop(AF_INET, &((struct sockaddr_in *)(void *)i->ifa_addr)->sin_addr, out,
                      (socklen_t)n))
            ret = 0;
    freeifaddrs(ifs);
    return ret;
}

/* host_address auto: the bridge network's gateway. Docker's default bridge may not report one
 * in its IPAM config; the bridge interface's own address is the same thing. */
static int resolve_host_address(struct dk_sched *d, struct mdo_err *err)
{
    const char *cfgd = d->cfg->docker.host_address;
    cJSON *net = NULL, *c;
    const char *gw = NULL, *ifname;
    int ret;

    if (strcmp(cfgd, "auto")) {
        snprintf(d->host_address, sizeof(d->host_address), "%s", cfgd);
        return 0;
    }
    ret = dk_call(d, "GET", "/networks/bridge", NULL, 200, 200, &net, err);
    if (ret)
        return ret;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(cJSON_GetObjectItem(net, "IPAM"), "Config"))
    {
        if (!gw)
            gw = json_str(c, "Gateway");
    }
    ifname = json_str(cJSON_GetObjectItem(net, "Options"), "com.docker.network.bridge.name");
    if (gw && *gw)
        snprintf(d->host_address, sizeof(d->host_address), "%s", gw);
    else if (iface_addr(ifname ? ifname : "docker0", d->host_address, sizeof(d->host_address)))
        ret = err_set(err, MDO_EFAIL,
                      "cannot find the Docker bridge address (no gateway on "
                      "network 'bridge', no IPv4 on '%s'): set docker.host_address",
                      ifname ? ifname : "docker0");
    cJSON_Delete(net);
    err_from(err, MDO_SRC_DOCKER);
    return ret;
}

static int dk_open(struct sched **out, const struct cfg *cfg, struct mdo_err *err)
{
    struct dk_sched *d = calloc(1, sizeof(*d));
    int ret;

    *out = NULL;
    if (!d)
        return err_set(err, MDO_ENOMEM, "out of memory");
    d->cfg = cfg;
    d->conn.unix_socket = cfg->docker.socket;
    d->conn.timeout_ms = 60000; /* create/stop can take a while on a busy engine */
    pthread_mutex_init(&d->lock, NULL);
    ret = resolve_host_address(d, err);
    if (ret) {
        pthread_mutex_destroy(&d->lock);
        free(d);
        return ret;
    }
    *out = (struct sched *)(void *)d;
    return 0;
}

static void dk_close(struct sched *s)
{
    struct dk_sched *d = dk_of(s);

    if (!d)
        return;
    strset_release(&d->refused);
    pthread_mutex_destroy(&d->lock);
    free(d);
}

/* ---- reading containers back ---- */

void dk_ctrs_free(struct dk_ctr *c, unsigned n)
{
    for (unsigned i = 0; c && i < n; i++) {
        free(c[i].id);
        free(c[i].name);
        free(c[i].version);
        free(c[i].state);
    }
    free(c);
}

int dk_ctrs_list(struct dk_sched *d, const char *service, int all, struct dk_ctr **out, unsigned *n,
                 struct mdo_err *err)
{
    struct buf path = BUF_INIT(0);
    cJSON *arr = NULL, *it;
    struct dk_ctr *c = NULL;
    unsigned m = 0;
    int ret;

    *out = NULL;
    *n = 0;
    buf_addf(&path, "/containers/json?all=%d&filters=", all);
    ret = dkr_filters(&path, NULL, d->cfg->environment, service);
    ret = ret ? err_set(err, MDO_ENOMEM, "out of memory")
              : dk_call(d, "GET", path.ptr, NULL, 200, 200, &arr, err);
    buf_release(&path);
    if (ret)
        return ret;
    if (cJSON_GetArraySize(arr) && !(c = calloc((size_t)cJSON_GetArraySize(arr), sizeof(*c)))) {
        cJSON_Delete(arr);
        return err_set(err, MDO_ENOMEM, "out of memory");
    }
    cJSON_ArrayForEach(it, arr)
    {
        const cJSON *labels = cJSON_GetObjectItem(it, "Labels");
        const cJSON *first = cJSON_GetArrayItem(cJSON_GetObjectItem(it, "Names"), 0);
        const char *name = cJSON_IsString(first) ? first->valuestring : NULL;
        const char *ver = json_str(labels, "mdo.app_version"), *st = json_str(it, "State");
        if (!name || !json_str(it, "Id"))
            continue;
        if (*name == '/')
            name++;
        c[m].id = strdup(json_str(it, "Id"));
        c[m].name = strdup(name);
        c[m].version = strdup(ver ? ver : "");
        c[m].state = strdup(st ? st : "");
        c[m].index = service ? dkr_name_index(name, d->cfg->environment, service) : 0;
        if (!c[m].id || !c[m].name || !c[m].version || !c[m].state) {
            dk_ctrs_free(c, m + 1);
            cJSON_Delete(arr);
            return err_set(err, MDO_ENOMEM, "out of memory");
        }
        m++;
    }
    cJSON_Delete(arr);
    *out = c;
    *n = m;
    return 0;
}

static int list(struct dk_sched *d, const char *service, struct reg_record **out, unsigned *n,
                struct mdo_err *err)
{
    struct dk_ctr *c = NULL;
    struct reg_record *recs = NULL;
    unsigned char *filled = NULL;
    unsigned nc = 0, m = 0;
    int ret = dk_ctrs_list(d, service, 0, &c, &nc, err);

    *out = NULL;
    *n = 0;
    if (!ret && nc && (!(recs = calloc(nc, sizeof(*recs))) || !(filled = malloc(nc))))
        ret = err_set(err, MDO_ENOMEM, "out of memory");
    if (!ret && nc) /* a few at a time (docker_inspect.c) */
        ret = dk_inspect_all(d, c, nc, recs, filled, err);
    for (unsigned i = 0; filled && i < nc; i++) /* the records, in listing order, at the front */
        if (filled[i])
            recs[m++] = recs[i];
    dk_ctrs_free(c, nc);
    free(filled);
    if (ret) {
        reg_records_free(recs, m);
        return ret;
    }
    if (m)
        qsort(recs, m, sizeof(*recs), reg_record_cmp);
    *out = recs;
    *n = m;
    return 0;
}

static int alive(struct dk_sched *d, const struct reg_record *rec, struct mdo_err *err)
{
    struct reg_record now;
    cJSON *in = NULL;
    int ret = dk_inspect(d, rec->container, &in, err);

    if (ret == -MDO_ENOTFOUND) {
        err_clear(err);
        return 0;
    }
    if (!ret) {
        ret = dk_record(d, in, &now, err);
        if (!ret) {
            ret = !strcmp(now.service, rec->service); /* same name, still the same service */
            reg_record_release(&now);
        } else if (ret == 1) {
            ret = 0; /* not running */
        }
    }
    cJSON_Delete(in);
    return ret;
}

/* ---- the ops: struct sched is a struct dk_sched; every error leaves tagged with its origin
 * (docker, unless a step named another, e.g. the config) ---- */

static int dk_launch(struct sched *s, const struct cfg_service *svc, const struct sched_opts *o,
                     struct mdo_err *err)
{
    return err_tag(dk_converge(dk_of(s), svc, svc->instances, o, err), err, MDO_SRC_DOCKER);
}

static int dk_scale(struct sched *s, const struct cfg_service *svc, unsigned n,
                    const struct sched_opts *o, struct mdo_err *err)
{
    return err_tag(dk_converge(dk_of(s), svc, n, o, err), err, MDO_SRC_DOCKER);
}

static int dk_restart(struct sched *s, const struct cfg_service *svc, unsigned pause_s,
                      const struct sched_opts *o, struct mdo_err *err)
{
    return err_tag(dk_restart_all(dk_of(s), svc, pause_s, o, err), err, MDO_SRC_DOCKER);
}

static int dk_stop(struct sched *s, const char *service, const struct sched_opts *o,
                   struct mdo_err *err)
{
    return err_tag(dk_stop_all(dk_of(s), service, o, err), err, MDO_SRC_DOCKER);
}

/* Docker keeps no count: its containers are the service's desired state (restart policy
 * unless-stopped keeps each one alive, and a converge leaves exactly instances 1..n). So the count
 * the last scale or launch set is read back from the numbered instances that exist, running or
 * not; leftovers of an interrupted replacement (<name>-old-<id>) are not instances. A label
 * could not say it: labels are fixed when a container is made, and a scale-down makes none. */
static int dk_wanted(struct sched *s, const char *service, unsigned *n, struct mdo_err *err)
{
    struct dk_ctr *c = NULL;
    unsigned nc = 0;
    int ret = dk_ctrs_list(dk_of(s), service, 1, &c, &nc, err);

    *n = 0;
    for (unsigned i = 0; !ret && i < nc; i++)
        *n += c[i].index >= 1;
    dk_ctrs_free(c, nc);
    if (ret)
        return err_tag(ret, err, MDO_SRC_DOCKER);
    return *n ? 0 : 1;
}

static int dk_list(struct sched *s, const char *service, struct reg_record **out, unsigned *n,
                   struct mdo_err *err)
{
    return err_tag(list(dk_of(s), service, out, n, err), err, MDO_SRC_DOCKER);
}

static int dk_alive(struct sched *s, const struct reg_record *rec, struct mdo_err *err)
{
    return err_tag(alive(dk_of(s), rec, err), err, MDO_SRC_DOCKER);
}

static int dk_open_op(struct sched **out, const struct cfg *cfg, struct mdo_err *err)
{
    return err_tag(dk_open(out, cfg, err), err, MDO_SRC_DOCKER);
}

const struct sched_ops sched_docker = {
    .name = "docker",
    .open = dk_open_op,
    .close = dk_close,
    .launch = dk_launch,
    .scale = dk_scale,
    .restart = dk_restart,
    .stop = dk_stop,
    .list = dk_list,
    .alive = dk_alive,
    .events = dk_events,
    .wanted = dk_wanted,
};
