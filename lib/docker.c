/* docker.c - the docker backend: one container per instance on the local engine, over the Engine
 * API on its unix socket (API v1.41, Docker 20.10+).
 *
 * Containers are named <env>-<service>-<n> and carry the labels mdo.environment, mdo.service,
 * mdo.app_version, mdo.ports ("name:port/proto,..." in config order: the engine keeps no port
 * names) and mdo.label.<k> for the service's labels. Everything the subscriber registers is read
 * back from the engine (inspect), never from the config, so the registry shows what runs.
 */
#include <ifaddrs.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "buf.h"
#include "http.h"
#include "json.h"
#include "log.h"
#include "scheduler.h"
#include "spec.h"

#define API            "http://docker/v1.41"
#define STOP_TIMEOUT_S 10

struct sched {
    const struct cfg *cfg;
    struct http_conn conn;
    char host_address[64];
};

/* One call to the engine; on success *out is the parsed JSON answer (or NULL for an empty one). */
static int dk(struct sched *d, const char *method, const char *path, const char *body, long lo,
              long hi, cJSON **out, struct mdo_err *err)
{
    struct http_resp resp = HTTP_RESP_INIT;
    char url[2048];
    int ret;

    if (out)
        *out = NULL;
    snprintf(url, sizeof(url), "%s%s", API, path);
    ret = http_request(&d->conn, method, url, body, body ? strlen(body) : 0,
                       body ? "application/json" : NULL, &resp, err);
    if (ret == -MDO_ENET) {
        err_set(err, MDO_ENET,
                "cannot reach Docker at %s: %s (is dockerd running? start it, or "
                "set docker.socket)",
                d->conn.unix_socket,
                strstr(err->msg, ": ") ? strstr(err->msg, ": ") + 2 : err->msg);
    } else if (!ret && (resp.status < lo || resp.status > hi)) {
        cJSON *e = cJSON_ParseWithLength(buf_str(&resp.body), resp.body.len);
        const char *m = json_str(e, "message");
        ret = err_set(err,
                      resp.status == 404   ? MDO_ENOTFOUND
                      : resp.status == 409 ? MDO_ECONFLICT
                                           : MDO_EHTTP,
                      "docker: %s %s: %s", method, path,
                      m               ? m
                      : resp.body.len ? buf_str(&resp.body)
                                      : "error");
        err->http_status = resp.status;
        cJSON_Delete(e);
    } else if (!ret && out && resp.body.len) {
        *out = cJSON_ParseWithLength(resp.body.ptr, resp.body.len);
        if (!*out)
            ret = err_set(err, MDO_EPROTO, "docker: %s %s: answer is not JSON", method, path);
    }
    http_resp_release(&resp);
    return ret;
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
static int resolve_host_address(struct sched *d, struct mdo_err *err)
{
    const char *cfgd = d->cfg->docker.host_address;
    cJSON *net = NULL, *c;
    const char *gw = NULL, *ifname;
    int ret;

    if (strcmp(cfgd, "auto")) {
        snprintf(d->host_address, sizeof(d->host_address), "%s", cfgd);
        return 0;
    }
    ret = dk(d, "GET", "/networks/bridge", NULL, 200, 200, &net, err);
    if (ret)
        return ret;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(cJSON_GetObjectItem(net, "IPAM"), "Config")) if (!gw)
        gw = json_str(c, "Gateway");
    ifname = json_str(cJSON_GetObjectItem(net, "Options"), "com.docker.network.bridge.name");
    if (gw && *gw)
        snprintf(d->host_address, sizeof(d->host_address), "%s", gw);
    else if (iface_addr(ifname ? ifname : "docker0", d->host_address, sizeof(d->host_address)))
        ret = err_set(err, MDO_EFAIL,
                      "cannot find the Docker bridge address (no gateway on "
                      "network 'bridge', no IPv4 on '%s'): set docker.host_address",
                      ifname ? ifname : "docker0");
    cJSON_Delete(net);
    return ret;
}

static int dk_open(struct sched **out, const struct cfg *cfg, struct mdo_err *err)
{
    struct sched *d = calloc(1, sizeof(*d));
    int ret;

    *out = NULL;
    if (!d)
        return err_set(err, MDO_ENOMEM, "out of memory");
    d->cfg = cfg;
    d->conn.unix_socket = cfg->docker.socket;
    d->conn.timeout_ms = 60000; /* create/stop can take a while on a busy engine */
    ret = resolve_host_address(d, err);
    if (ret) {
        free(d);
        return ret;
    }
    *out = d;
    return 0;
}

static void dk_close(struct sched *d)
{
    free(d);
}

/* ---- reading containers back ---- */

struct ctr {
    char *id, *name, *version, *state;
    unsigned index; /* n of <env>-<service>-<n>, 0 if the name is not ours */
};

static void ctrs_free(struct ctr *c, unsigned n)
{
    for (unsigned i = 0; c && i < n; i++) {
        free(c[i].id);
        free(c[i].name);
        free(c[i].version);
        free(c[i].state);
    }
    free(c);
}

/* filters={"label":["mdo.environment=E"(,"mdo.service=S")]} percent-encoded */
static int label_filter(struct buf *b, const char *env, const char *service)
{
    struct buf f = BUF_INIT(0);
    int ret;

    buf_adds(&f, "{\"label\":[\"mdo.environment=");
    buf_add_json_escaped(&f, env);
    if (service) {
        buf_adds(&f, "\",\"mdo.service=");
        buf_add_json_escaped(&f, service);
    }
    ret = buf_adds(&f, "\"]}");
    if (!ret)
        ret = http_escape(b, f.ptr);
    buf_release(&f);
    return ret;
}

static unsigned name_index(const char *name, const char *env, const char *service)
{
    size_t le = strlen(env), ls = strlen(service);
    unsigned n = 0;
    const char *p;

    if (strncmp(name, env, le) || name[le] != '-' || strncmp(name + le + 1, service, ls) ||
        name[le + 1 + ls] != '-')
        return 0;
    for (p = name + le + ls + 2; *p >= '0' && *p <= '9' && n < 100000; p++)
        n = n * 10 + (unsigned)(*p - '0');
    return *p ? 0 : n;
}

/* Every container of the service, running or not. */
static int ctrs_list(struct sched *d, const char *service, int all, struct ctr **out, unsigned *n,
                     struct mdo_err *err)
{
    struct buf path = BUF_INIT(0);
    cJSON *arr = NULL, *it;
    struct ctr *c = NULL;
    unsigned m = 0;
    int ret;

    *out = NULL;
    *n = 0;
    buf_addf(&path, "/containers/json?all=%d&filters=", all);
    ret = label_filter(&path, d->cfg->environment, service);
    if (!ret)
        ret = dk(d, "GET", path.ptr, NULL, 200, 200, &arr, err);
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
        const char *name =
            cJSON_GetArrayItem(cJSON_GetObjectItem(it, "Names"), 0)
                ? cJSON_GetArrayItem(cJSON_GetObjectItem(it, "Names"), 0)->valuestring
                : NULL;
        const char *ver = json_str(labels, "mdo.app_version"), *st = json_str(it, "State");
        if (!name || !json_str(it, "Id"))
            continue;
        if (*name == '/')
            name++;
        c[m].id = strdup(json_str(it, "Id"));
        c[m].name = strdup(name);
        c[m].version = strdup(ver ? ver : "");
        c[m].state = strdup(st ? st : "");
        c[m].index = service ? name_index(name, d->cfg->environment, service) : 0;
        m++;
    }
    cJSON_Delete(arr);
    *out = c;
    *n = m;
    return 0;
}

/* Builds the record of a running container from its inspect JSON; 1 if it is not running or not
 * one of ours (nothing to register), 0 when rec is filled, <0 on error. */
static int record_from_inspect(struct sched *d, const cJSON *in, struct reg_record *rec,
                               struct mdo_err *err)
{
    const cJSON *config = cJSON_GetObjectItem(in, "Config"), *labels, *state, *bindings, *l;
    const char *service, *env, *ports, *name = json_str(in, "Name"), *health;
    struct buf key = BUF_INIT(0);
    unsigned np = 0, nl = 0;

    memset(rec, 0, sizeof(*rec));
    labels = cJSON_GetObjectItem(config, "Labels");
    state = cJSON_GetObjectItem(in, "State");
    service = json_str(labels, "mdo.service");
    env = json_str(labels, "mdo.environment");
    if (!service || !env || !name || strcmp(env, d->cfg->environment))
        return 1;
    if (!json_bool(state, "Running", 0) || json_bool(state, "Restarting", 0))
        return 1;
    if (*name == '/')
        name++;
    rec->service = strdup(service);
    rec->container = strdup(name);
    rec->environment = strdup(env);
    rec->host = strdup(d->host_address);
    {
        const char *ip = json_str(cJSON_GetObjectItem(in, "NetworkSettings"), "IPAddress");
        rec->address = ip && *ip ? strdup(ip) : NULL;
    }
    health = json_str(cJSON_GetObjectItem(state, "Health"), "Status");
    rec->state = strdup(!health || !strcmp(health, "starting") ? "running"
                        : !strcmp(health, "healthy")           ? "healthy"
                                                               : "unhealthy");
    rec->started_at = json_str(state, "StartedAt") ? strdup(json_str(state, "StartedAt")) : NULL;
    rec->app_version =
        strdup(json_str(labels, "mdo.app_version") ? json_str(labels, "mdo.app_version") : "");
    rec->backend = strdup("docker");
    bindings = cJSON_GetObjectItem(cJSON_GetObjectItem(in, "NetworkSettings"), "Ports");
    ports = json_str(labels, "mdo.ports");
    if (ports && *ports) {
        unsigned cap = 1;
        for (const char *p = ports; *p; p++)
            cap += *p == ',';
        rec->ports = calloc(cap, sizeof(*rec->ports));
        for (const char *p = ports; rec->ports && *p;) {
            size_t len = strcspn(p, ",");
            const char *colon = memchr(p, ':', len), *slash = memchr(p, '/', len);
            if (colon && slash && slash > colon) {
                struct reg_port *rp = &rec->ports[np++];
                const cJSON *b;
                rp->name = strndup(p, (size_t)(colon - p));
                rp->internal = (int)strtol(colon + 1, NULL, 10);
                snprintf(rp->proto, sizeof(rp->proto), "%.*s", (int)(p + len - slash - 1),
                         slash + 1);
                buf_reset(&key);
                buf_add(&key, colon + 1, (size_t)(p + len - colon - 1));
                b = cJSON_GetArrayItem(cJSON_GetObjectItem(bindings, key.ptr), 0);
                rp->external =
                    b ? (int)strtol(json_str(b, "HostPort") ? json_str(b, "HostPort") : "0", NULL,
                                    10)
                      : 0;
            }
            p += len;
            if (*p == ',')
                p++;
        }
        rec->nports = np;
    }
    cJSON_ArrayForEach(l, labels) nl += !strncmp(l->string, "mdo.label.", 10);
    if (nl && (rec->labels = calloc(nl, sizeof(*rec->labels)))) {
        cJSON_ArrayForEach(l, labels)
        {
            if (strncmp(l->string, "mdo.label.", 10) || !cJSON_IsString(l))
                continue;
            rec->labels[rec->nlabels].key = strdup(l->string + 10);
            rec->labels[rec->nlabels++].value = strdup(l->valuestring);
        }
    }
    buf_release(&key);
    if (!rec->service || !rec->container || !rec->host || !rec->state || !rec->backend) {
        reg_record_release(rec);
        return err_set(err, MDO_ENOMEM, "out of memory");
    }
    return 0;
}

static int inspect(struct sched *d, const char *id, cJSON **out, struct mdo_err *err)
{
    char path[512];

    snprintf(path, sizeof(path), "/containers/%s/json", id);
    return dk(d, "GET", path, NULL, 200, 200, out, err);
}

static int dk_list(struct sched *d, const char *service, struct reg_record **out, unsigned *n,
                   struct mdo_err *err)
{
    struct ctr *c = NULL;
    struct reg_record *recs = NULL;
    unsigned nc = 0, m = 0;
    int ret = ctrs_list(d, service, 0, &c, &nc, err);

    *out = NULL;
    *n = 0;
    if (!ret && nc && !(recs = calloc(nc, sizeof(*recs))))
        ret = err_set(err, MDO_ENOMEM, "out of memory");
    for (unsigned i = 0; !ret && i < nc; i++) {
        cJSON *in = NULL;
        int r = inspect(d, c[i].id, &in, err);
        if (r == -MDO_ENOTFOUND) { /* removed since the listing */
            err_clear(err);
            continue;
        }
        ret = r;
        if (!ret && !(r = record_from_inspect(d, in, &recs[m], err)))
            m++;
        else if (r < 0)
            ret = r;
        cJSON_Delete(in);
    }
    ctrs_free(c, nc);
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

static int dk_alive(struct sched *d, const struct reg_record *rec, struct mdo_err *err)
{
    struct reg_record now;
    cJSON *in = NULL;
    int ret = inspect(d, rec->container, &in, err);

    if (ret == -MDO_ENOTFOUND) {
        err_clear(err);
        return 0;
    }
    if (!ret) {
        ret = record_from_inspect(d, in, &now, err);
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

/* ---- creating and removing ---- */

static cJSON *create_body(struct sched *d, const struct cfg_service *svc, const char *name,
                          const char *version)
{
    const struct cfg *cfg = d->cfg;
    cJSON *o = cJSON_CreateObject(), *env, *labels, *exposed, *hc, *bind, *a;
    char **vars = spec_env(cfg, svc, d->host_address, name);
    struct buf b = BUF_INIT(0);

    cJSON_AddStringToObject(o, "Image", svc->image);
    env = cJSON_AddArrayToObject(o, "Env");
    for (size_t i = 0; vars && vars[i]; i++)
        cJSON_AddItemToArray(env, cJSON_CreateString(vars[i]));
    spec_env_free(vars);
    if (svc->nargs) {
        a = cJSON_AddArrayToObject(o, "Cmd");
        for (unsigned i = 0; i < svc->nargs; i++)
            cJSON_AddItemToArray(a, cJSON_CreateString(svc->args[i]));
    }
    labels = cJSON_AddObjectToObject(o, "Labels");
    cJSON_AddStringToObject(labels, "mdo.environment", cfg->environment);
    cJSON_AddStringToObject(labels, "mdo.service", svc->name);
    cJSON_AddStringToObject(labels, "mdo.app_version", version);
    for (unsigned i = 0; i < svc->nports; i++)
        buf_addf(&b, "%s%s:%u/%s", i ? "," : "", svc->ports[i].name, svc->ports[i].port,
                 svc->ports[i].proto);
    cJSON_AddStringToObject(labels, "mdo.ports", buf_str(&b));
    for (unsigned i = 0; i < svc->nlabels; i++) {
        buf_reset(&b);
        buf_addf(&b, "mdo.label.%s", svc->labels[i].key);
        cJSON_AddStringToObject(labels, b.ptr, svc->labels[i].value);
    }
    exposed = cJSON_AddObjectToObject(o, "ExposedPorts");
    hc = cJSON_CreateObject();
    bind = cJSON_AddObjectToObject(hc, "PortBindings");
    for (unsigned i = 0; i < svc->nports; i++) {
        cJSON *one = cJSON_CreateObject(), *list = cJSON_CreateArray();
        char hp[12] = "";
        buf_reset(&b);
        buf_addf(&b, "%u/%s", svc->ports[i].port, svc->ports[i].proto);
        cJSON_AddItemToObject(exposed, b.ptr, cJSON_CreateObject());
        if (svc->ports[i].host_port)
            snprintf(hp, sizeof(hp), "%u", svc->ports[i].host_port);
        cJSON_AddStringToObject(one, "HostIp", d->host_address);
        cJSON_AddStringToObject(one, "HostPort", hp); /* "" = Docker picks */
        cJSON_AddItemToArray(list, one);
        cJSON_AddItemToObject(bind, b.ptr, list);
    }
    cJSON_AddItemToObject(cJSON_AddObjectToObject(hc, "RestartPolicy"), "Name",
                          cJSON_CreateString("unless-stopped"));
    cJSON_AddNumberToObject(hc, "NanoCpus", (double)(long long)(svc->cpus * 1e9));
    cJSON_AddNumberToObject(hc, "Memory", (double)svc->mem * 1024 * 1024);
    cJSON_AddBoolToObject(hc, "Init", 1); /* signals reach the service; zombies are reaped */
    cJSON_AddItemToObject(o, "HostConfig", hc);
    if (svc->has_health) {
        cJSON *h = cJSON_AddObjectToObject(o, "Healthcheck"),
              *t = cJSON_AddArrayToObject(h, "Test");
        cJSON_AddItemToArray(t, cJSON_CreateString("CMD-SHELL"));
        buf_reset(&b);
        if (svc->health.cmd) {
            buf_adds(&b, svc->health.cmd);
        } else {
            const struct cfg_port *p = svc->nports ? &svc->ports[0] : NULL;
            for (unsigned i = 0; svc->health.port && i < svc->nports; i++)
                if (!strcmp(svc->ports[i].name, svc->health.port))
                    p = &svc->ports[i];
            buf_addf(&b, "wget -q -O /dev/null http://127.0.0.1:%u%s || exit 1", p ? p->port : 80,
                     svc->health.http);
        }
        cJSON_AddItemToArray(t, cJSON_CreateString(buf_str(&b)));
        cJSON_AddNumberToObject(h, "Interval", svc->health.interval * 1e9);
        cJSON_AddNumberToObject(h, "Timeout", svc->health.timeout * 1e9);
        cJSON_AddNumberToObject(h, "StartPeriod", svc->health.grace * 1e9);
        cJSON_AddNumberToObject(h, "Retries", 3);
    }
    buf_release(&b);
    return o;
}

static void instance_name(struct buf *b, const struct cfg *cfg, const char *service, unsigned n)
{
    buf_reset(b);
    buf_addf(b, "%s-%s-%u", cfg->environment, service, n);
}

/* The image is there, or is pulled as docker.pull says. */
static int ensure_image(struct sched *d, const char *image, struct mdo_err *err)
{
    struct buf path = BUF_INIT(0);
    enum cfg_pull pull = d->cfg->docker.pull;
    int ret = 0, present;

    buf_adds(&path, "/images/");
    http_escape(&path, image);
    buf_adds(&path, "/json");
    ret = dk(d, "GET", path.ptr, NULL, 200, 200, NULL, err);
    present = !ret;
    if (ret == -MDO_ENOTFOUND)
        ret = 0, err_clear(err);
    if (!ret && !present && pull == CFG_PULL_NEVER)
        ret = err_set(err, MDO_ENOTFOUND,
                      "image '%s' is not on this Docker engine and "
                      "docker.pull is 'never': build or load it first",
                      image);
    if (!ret && (pull == CFG_PULL_ALWAYS || (!present && pull == CFG_PULL_MISSING))) {
        /* POST /images/create streams progress; a failure arrives as {"error": ...} in it */
        struct http_resp resp = HTTP_RESP_INIT;
        struct http_conn c = d->conn;
        char url[2048];
        buf_reset(&path);
        buf_adds(&path, "/images/create?fromImage=");
        http_escape(&path, image);
        snprintf(url, sizeof(url), "%s%s", API, path.ptr);
        c.timeout_ms = 600000;
        ret = http_request(&c, "POST", url, "", 0, NULL, &resp, err);
        if (!ret && (resp.status != 200 || strstr(buf_str(&resp.body), "\"error\"")))
            ret = err_set(err, MDO_EFAIL, "cannot pull image '%s': %.300s", image,
                          buf_str(&resp.body));
        http_resp_release(&resp);
    }
    buf_release(&path);
    return ret;
}

static int remove_container(struct sched *d, const char *id, struct mdo_err *err)
{
    char path[512];
    int ret;

    snprintf(path, sizeof(path), "/containers/%s/stop?t=%d", id, STOP_TIMEOUT_S);
    ret = dk(d, "POST", path, NULL, 204, 304, NULL, err);
    if (ret == -MDO_ENOTFOUND)
        return err_clear(err), 0;
    snprintf(path, sizeof(path), "/containers/%s?force=true", id);
    ret = dk(d, "DELETE", path, NULL, 204, 204, NULL, err);
    if (ret == -MDO_ENOTFOUND || ret == -MDO_ECONFLICT) /* gone, or removal already under way */
        return err_clear(err), 0;
    return ret;
}

static int start_container(struct sched *d, const char *id, struct mdo_err *err)
{
    char path[512];

    snprintf(path, sizeof(path), "/containers/%s/start", id);
    return dk(d, "POST", path, NULL, 204, 304, NULL, err);
}

static int create_instance(struct sched *d, const struct cfg_service *svc, const char *name,
                           const char *version, const struct sched_opts *o, struct mdo_err *err)
{
    cJSON *body = create_body(d, svc, name, version), *ans = NULL;
    char *s = json_print(body);
    struct buf path = BUF_INIT(0);
    int ret = 0;

    cJSON_Delete(body);
    if (!s)
        return err_set(err, MDO_ENOMEM, "out of memory");
    buf_addf(&path, "/containers/create?name=%s", name);
    if (o->dry_run) {
        cJSON *pretty = cJSON_Parse(s), *envs = cJSON_GetObjectItem(pretty, "Env"), *e;
        char *out;
        cJSON_ArrayForEach(e, envs)
        {
            size_t k = strcspn(e->valuestring, "=");
            char nm[256];
            snprintf(nm, sizeof(nm), "%.*s", (int)k, e->valuestring);
            if (spec_env_secret(nm)) {
                struct buf r = BUF_INIT(0);
                buf_addf(&r, "%s=<redacted>", nm);
                cJSON_SetValuestring(e, buf_str(&r));
                buf_release(&r);
            }
        }
        out = cJSON_Print(pretty);
        printf("POST %s\n%s\n", path.ptr, out ? out : s);
        free(out);
        cJSON_Delete(pretty);
    } else {
        ret = dk(d, "POST", path.ptr, s, 201, 201, &ans, err);
        if (!ret && json_str(ans, "Id"))
            ret = start_container(d, json_str(ans, "Id"), err);
        if (!ret && o->progress)
            fprintf(o->progress, "%s: started %s\n", svc->name, name);
    }
    cJSON_Delete(ans);
    buf_release(&path);
    free(s);
    return ret;
}

/* Running, and healthy when the service has a health check: 1 yes, 0 not yet, <0 error/failed */
static int instance_ready(struct sched *d, const char *name, int healthy, struct mdo_err *err)
{
    cJSON *in = NULL;
    const cJSON *st;
    const char *h;
    int ret = inspect(d, name, &in, err);

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

static double now_s(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Waits until every <env>-<svc>-1..n runs (and is healthy, with a health check). */
static int wait_ready(struct sched *d, const struct cfg_service *svc, unsigned n,
                      const struct sched_opts *o, struct mdo_err *err)
{
    double t0 = now_s(), limit = o->wait_s ? o->wait_s : 300;
    struct buf name = BUF_INIT(0);
    unsigned ready = 0, last = (unsigned)-1;
    int ret = 0;

    for (;;) {
        ready = 0;
        for (unsigned i = 1; !ret && i <= n; i++) {
            int r;
            instance_name(&name, d->cfg, svc->name, i);
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
                    svc->has_health ? " and healthy" : "", now_s() - t0);
        last = ready;
        if (ready == n)
            break;
        if (now_s() - t0 > limit) {
            ret = err_set(err, MDO_EFAIL,
                          "%s: only %u of %u instances ready after %.0fs "
                          "(see `docker logs %s-%s-N`)",
                          svc->name, ready, n, limit, d->cfg->environment, svc->name);
            break;
        }
        usleep(200 * 1000);
    }
    buf_release(&name);
    return ret;
}

/* Replaces one instance running an old version: the new one is created, runs (and is healthy)
 * before the old one is removed. With fixed host ports the two cannot run side by side, so the
 * old one goes first. */
static int replace_instance(struct sched *d, const struct cfg_service *svc, const struct ctr *old,
                            const char *version, const struct sched_opts *o, struct mdo_err *err)
{
    struct buf tmp = BUF_INIT(0), path = BUF_INIT(0);
    int fixed = 0, ret;
    double t0 = now_s();

    for (unsigned i = 0; i < svc->nports; i++)
        fixed |= svc->ports[i].host_port != 0;
    if (o->progress && strcmp(old->version, version))
        fprintf(o->progress, "%s: replacing %s (version %s -> %s)\n", svc->name, old->name,
                old->version, version);
    else if (o->progress)
        fprintf(o->progress, "%s: restarting %s\n", svc->name, old->name);
    if (fixed) {
        ret = remove_container(d, old->id, err);
        if (!ret)
            ret = create_instance(d, svc, old->name, version, o, err);
        goto out;
    }
    buf_addf(&tmp, "%s-old-%.12s", old->name, old->id);
    buf_addf(&path, "/containers/%s/rename?name=%s", old->id, tmp.ptr);
    ret = dk(d, "POST", path.ptr, NULL, 204, 204, NULL, err);
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
        if (now_s() - t0 > (o->wait_s ? o->wait_s : 300)) {
            ret = err_set(err, MDO_EFAIL,
                          "new instance %s did not become ready; the old one is "
                          "kept as %s",
                          old->name, tmp.ptr);
            break;
        }
        usleep(200 * 1000);
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
static int converge(struct sched *d, const struct cfg_service *svc, unsigned n,
                    const struct sched_opts *o, struct mdo_err *err)
{
    struct ctr *c = NULL;
    unsigned nc = 0, changed = 0;
    char version[13];
    struct buf name = BUF_INIT(0);
    int ret;

    ret = spec_version(d->cfg, svc, version);
    if (ret)
        return err_set(err, MDO_ENOMEM, "out of memory");
    for (unsigned i = 0; n > 1 && i < svc->nports; i++) {
        if (!svc->ports[i].host_port)
            continue;
        /* one engine is one host: a fixed host port fits one instance (Marathon spreads them) */
        if (o->dry_run) {
            fprintf(stderr,
                    "warning: %s: fixed host ports (%s: %u): one Docker host runs only "
                    "one instance, not %u\n",
                    svc->name, svc->ports[i].name, svc->ports[i].host_port, n);
            break;
        }
        return err_set(err, MDO_ECONFIG,
                       "%s: fixed host ports (%s: %u) and %u instances: one "
                       "Docker host runs only one instance; use instances: 1, or drop host_ports",
                       svc->name, svc->ports[i].name, svc->ports[i].host_port, n);
    }
    if (!o->dry_run)
        ret = ensure_image(d, svc->image, err);
    if (!ret)
        ret = ctrs_list(d, svc->name, 1, &c, &nc, err);
    for (unsigned i = 1; !ret && i <= n; i++) {
        const struct ctr *have = NULL;
        instance_name(&name, d->cfg, svc->name, i);
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
    ctrs_free(c, nc);
    buf_release(&name);
    return ret;
}

static int dk_launch(struct sched *d, const struct cfg_service *svc, const struct sched_opts *o,
                     struct mdo_err *err)
{
    return converge(d, svc, svc->instances, o, err);
}

static int dk_scale(struct sched *d, const struct cfg_service *svc, unsigned n,
                    const struct sched_opts *o, struct mdo_err *err)
{
    return converge(d, svc, n, o, err);
}

/* Replaces every instance with a fresh container, one at a time, in instance order. */
static int dk_restart(struct sched *d, const struct cfg_service *svc, unsigned pause_s,
                      const struct sched_opts *o, struct mdo_err *err)
{
    struct ctr *c = NULL;
    unsigned nc = 0, done = 0;
    char version[13];
    int ret = spec_version(d->cfg, svc, version);

    if (ret)
        return err_set(err, MDO_ENOMEM, "out of memory");
    ret = ctrs_list(d, svc->name, 0, &c, &nc, err);
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
    ctrs_free(c, nc);
    return ret;
}

static int dk_stop(struct sched *d, const char *service, const struct sched_opts *o,
                   struct mdo_err *err)
{
    struct ctr *c = NULL;
    unsigned nc = 0;
    int ret = ctrs_list(d, service, 1, &c, &nc, err);

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
    ctrs_free(c, nc);
    return ret;
}

/* ---- events ---- */

struct evstate {
    struct sched *d;
    const struct sched_sink *sink;
    struct buf line;
};

static void on_event(struct evstate *st, const cJSON *ev)
{
    const char *action = json_str(ev, "Action"), *id = json_str(ev, "id");
    const cJSON *attrs = cJSON_GetObjectItem(cJSON_GetObjectItem(ev, "Actor"), "Attributes");
    const char *name = json_str(attrs, "name"), *service = json_str(attrs, "mdo.service");
    struct mdo_err err = MDO_ERR_INIT;

    if (!action || !id || !name || !service)
        return;
    log_debug("docker", "event", "action=\"%s\" container=%s", action, name);
    if (!strcmp(action, "die") || !strcmp(action, "destroy") || !strcmp(action, "stop") ||
        !strcmp(action, "pause")) {
        st->sink->down(st->sink->ctx, service, name);
    } else if (!strcmp(action, "rename")) {
        const char *old = json_str(attrs, "oldName");
        if (old)
            st->sink->down(st->sink->ctx, service, *old == '/' ? old + 1 : old);
    }
    if (!strcmp(action, "start") || !strcmp(action, "unpause") || !strcmp(action, "rename") ||
        !strncmp(action, "health_status", 13)) {
        cJSON *in = NULL;
        struct reg_record rec;
        int r = inspect(st->d, id, &in, &err);
        if (!r && !(r = record_from_inspect(st->d, in, &rec, &err)))
            st->sink->up(st->sink->ctx, &rec);
        else if (r == 1 && strncmp(action, "health_status", 13))
            st->sink->down(st->sink->ctx, service, name); /* died again already */
        else if (r < 0 && r != -MDO_ENOTFOUND)
            log_warn("docker", "inspect failed", "container=%s err=\"%s\"", name, err.msg);
        cJSON_Delete(in);
    }
}

static int on_data(void *ctx, const char *p, size_t n)
{
    struct evstate *st = ctx;
    char *nl;

    if (buf_add(&st->line, p, n)) {
        log_warn("docker", "event line over 1 MiB dropped", "%s", "");
        buf_reset(&st->line);
        return 0;
    }
    while ((nl = memchr(st->line.ptr, '\n', st->line.len))) {
        cJSON *ev = cJSON_ParseWithLength(st->line.ptr, (size_t)(nl - st->line.ptr));
        if (ev)
            on_event(st, ev);
        else if (nl > st->line.ptr)
            log_warn("docker", "event is not JSON, skipped", "len=%zu",
                     (size_t)(nl - st->line.ptr));
        cJSON_Delete(ev);
        buf_consume(&st->line, (size_t)(nl - st->line.ptr) + 1);
    }
    return 0;
}

static int dk_events(struct sched *d, const struct sched_sink *sink, const volatile int *stop,
                     struct mdo_err *err)
{
    struct evstate st = {d, sink, BUF_INIT(1u << 20)};
    struct buf url = BUF_INIT(0);
    struct http_conn c = d->conn;
    int ret;

    /* since: replays what happened while (re)connecting, so the reconcile that connected()
     * starts and the stream overlap instead of leaving a gap */
    buf_addf(&url, "%s/events?since=%lld&filters=", API, (long long)time(NULL) - 2);
    {
        struct buf f = BUF_INIT(0);
        buf_adds(&f, "{\"type\":[\"container\"],\"label\":[\"mdo.environment=");
        buf_add_json_escaped(&f, d->cfg->environment);
        buf_adds(&f, "\"]}");
        http_escape(&url, f.ptr);
        buf_release(&f);
    }
    c.timeout_ms = 0;
    sink->connected(sink->ctx);
    ret = http_stream(&c, "GET", url.ptr, NULL, NULL, on_data, &st, stop, 0, err);
    if (ret == -MDO_ENET)
        err_set(err, MDO_ENET, "lost Docker's event stream at %s: %s", c.unix_socket, err->msg);
    buf_release(&st.line);
    buf_release(&url);
    return ret;
}

const struct sched_ops sched_docker = {
    .name = "docker",
    .open = dk_open,
    .close = dk_close,
    .launch = dk_launch,
    .scale = dk_scale,
    .restart = dk_restart,
    .stop = dk_stop,
    .list = dk_list,
    .alive = dk_alive,
    .events = dk_events,
};
